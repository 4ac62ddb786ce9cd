// SPDX-License-Identifier: MIT
/*
 * Every bad argument gets its documented error, and outputs stay
 * untouched on failure. Nothing here may crash or hang.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 200
#define LATE_MS 5000 /* a timeout returning later than this is a hang */

#define SENTINEL_DEV ((clcp_dev_t *)(uintptr_t)0x5151)

CONF_TEST(badargs, null_pointers, conf_params_backends)
{
	struct conf_pair pr;
	struct clcp_frame f;
	char buf[16] = { 0 };
	int c = CLCP_ANY;

	conf_assert_rc(p, clcp_open(p->backend, NULL), -EINVAL, "open NULL devp");
	conf_assert_rc(p, clcp_close(NULL), -EINVAL, "close NULL");
	conf_assert_rc(p, clcp_alloc_endpt(NULL, NULL, NULL), -EINVAL, "alloc_endpt");
	conf_assert_rc(p, clcp_alloc_chan(NULL, 1, 0, 1), -EINVAL, "alloc_chan");
	conf_assert_rc(p, clcp_release_endpt(NULL), -EINVAL, "release_endpt");
	conf_assert_rc(p, clcp_release_chan(NULL, 0), -EINVAL, "release_chan");
	conf_assert_rc(p, clcp_send_frame(NULL, 0, buf, 1, 0), -EINVAL, "send_frame");
	conf_assert_rc(p, clcp_rcv_frame(NULL, 0, &f, 0), -EINVAL, "rcv_frame");
	conf_assert_rc(p, clcp_snd_message(NULL, 0, buf, 1, 0), -EINVAL, "snd_message");
	conf_assert_rc(p, clcp_rcv_message(NULL, &c, buf, 1, 0), -EINVAL, "rcv_message");
	conf_assert_rc(p, clcp_release_frames(NULL, &f, 1), -EINVAL, "release_frames");
	conf_assert_rc(p, clcp_peek_message(NULL, &c, 0), -EINVAL, "peek_message");
	conf_assert_rc(p, clcp_endpt_fd(NULL), -EINVAL, "endpt_fd");
	conf_assert_rc(p, clcp_endpt_arm(NULL), -EINVAL, "endpt_arm");
	/* NULL out pointers on a live endpoint. */
	conf_pair_open(p, NULL, &pr);
	conf_assert_rc(p, clcp_rcv_frame(pr.b, pr.cb, NULL, CLCP_NONBLOCK), -EINVAL,
		       "rcv_frame NULL frame");
	conf_assert_rc(p, clcp_rcv_message(pr.b, NULL, buf, sizeof(buf), 0), -EINVAL,
		       "rcv_message NULL chan");
	conf_assert_rc(p, clcp_poll_rx_msg(pr.b, NULL, buf, sizeof(buf), 0), -EINVAL,
		       "poll_rx_msg NULL chan");
	conf_assert_rc(p, clcp_peek_message(pr.b, NULL, 0), -EINVAL, "peek_message NULL chan");
	conf_assert_rc(p, clcp_release_frames(pr.b, NULL, 1), -EINVAL,
		       "release_frames NULL frames");
	conf_pair_close(&pr);
}

/* The polling calls are inline; a NULL endpoint must not crash them. */
CONF_TEST(badargs, null_endpoint_to_poll_calls, conf_params_backends)
{
	char buf[16] = { 0 };
	int c = CLCP_ANY;

	conf_assert_rc(p, clcp_poll_tx_msg(NULL, 0, buf, 1, 0), -EINVAL, "poll_tx_msg NULL ep");
	conf_assert_rc(p, clcp_poll_rx_msg(NULL, &c, buf, 1, 0), -EINVAL, "poll_rx_msg NULL ep");
}

CONF_TEST(badargs, released_endpoint_is_ebadf, conf_params_backends)
{
	struct conf_pair pr;
	struct clcp_endpt_attr attr;
	struct clcp_frame f = { 0 };
	char buf[16] = { 0 };
	int c = CLCP_ANY;

	conf_pair_open(p, NULL, &pr);
	conf_assert_rc(p, clcp_release_endpt(pr.a), 0, "release");
	conf_assert_rc(p, clcp_release_endpt(pr.a), -EBADF, "release twice");
	conf_assert_rc(p, clcp_alloc_chan(pr.a, 99, NODE_A, 98), -EBADF, "alloc_chan");
	conf_assert_rc(p, clcp_release_chan(pr.a, pr.ca), -EBADF, "release_chan");
	conf_assert_rc(p, clcp_send_frame(pr.a, pr.ca, buf, 1, 0), -EBADF, "send_frame");
	conf_assert_rc(p, clcp_snd_message(pr.a, pr.ca, buf, 1, 0), -EBADF, "snd_message");
	conf_assert_rc(p, clcp_poll_tx_msg(pr.a, pr.ca, buf, 1, 0), -EBADF, "poll_tx_msg");
	conf_assert_rc(p, clcp_rcv_message(pr.a, &c, buf, sizeof(buf), 0), -EBADF, "rcv_message");
	conf_assert_rc(p, clcp_poll_rx_msg(pr.a, &c, buf, sizeof(buf), 0), -EBADF, "poll_rx_msg");
	conf_assert_rc(p, clcp_rcv_frame(pr.a, CLCP_ANY, &f, 0), -EBADF, "rcv_frame");
	conf_assert_rc(p, clcp_release_frames(pr.a, &f, 1), -EBADF, "release_frames");
	conf_assert_rc(p, clcp_peek_message(pr.a, &c, 0), -EBADF, "peek_message");
	conf_assert_rc(p, clcp_endpt_fd(pr.a), -EBADF, "endpt_fd");
	conf_assert_rc(p, clcp_endpt_arm(pr.a), -EBADF, "endpt_arm");
	conf_assert_rc(p, clcp_endpt_attr_get(pr.a, &attr), -EBADF, "attr_get");
	cr_assert_eq(c, CLCP_ANY, "*chan written on failure");
	conf_pair_close(&pr);
}

/* Every channel-taking call: out of range -EINVAL, unallocated -ENOTCONN. */
static void check_bad_channel(const struct conf_param *p, clcp_endpt_t *ep, int chan, int want,
			      const char *what)
{
	struct clcp_frame f;
	char buf[16] = { 0 };
	char msg[96];
	int c = chan;

	snprintf(msg, sizeof(msg), "%s channel %d: send_frame", what, chan);
	conf_assert_rc(p, clcp_send_frame(ep, chan, buf, 1, 0), want, msg);
	snprintf(msg, sizeof(msg), "%s channel %d: snd_message", what, chan);
	conf_assert_rc(p, clcp_snd_message(ep, chan, buf, 1, 0), want, msg);
	snprintf(msg, sizeof(msg), "%s channel %d: poll_tx_msg", what, chan);
	conf_assert_rc(p, clcp_poll_tx_msg(ep, chan, buf, 1, 0), want, msg);
	snprintf(msg, sizeof(msg), "%s channel %d: rcv_message", what, chan);
	conf_assert_rc(p, clcp_rcv_message(ep, &c, buf, sizeof(buf), 0), want, msg);
	snprintf(msg, sizeof(msg), "%s channel %d: poll_rx_msg", what, chan);
	conf_assert_rc(p, clcp_poll_rx_msg(ep, &c, buf, sizeof(buf), 0), want, msg);
	snprintf(msg, sizeof(msg), "%s channel %d: rcv_frame", what, chan);
	conf_assert_rc(p, clcp_rcv_frame(ep, chan, &f, 0), want, msg);
	snprintf(msg, sizeof(msg), "%s channel %d: peek_message", what, chan);
	conf_assert_rc(p, clcp_peek_message(ep, &c, 0), want, msg);
	snprintf(msg, sizeof(msg), "%s channel %d: release_chan", what, chan);
	conf_assert_rc(p, clcp_release_chan(ep, chan), want, msg);
	cr_assert_eq(c, chan, "*chan written on failure");
}

CONF_TEST(badargs, unknown_channels, conf_params_backends)
{
	struct clcp_endpt_attr attr;
	struct conf_pair pr;
	char buf[16] = { 0 };

	clcp_endpt_attr_init(&attr);
	attr.nchan = 8;
	conf_pair_open(p, &attr, &pr);
	check_bad_channel(p, pr.a, 8, -EINVAL, "out of range");
	check_bad_channel(p, pr.a, 1000000, -EINVAL, "out of range");
	check_bad_channel(p, pr.a, -2, -EINVAL, "negative");
	check_bad_channel(p, pr.a, pr.ca == 5 ? 6 : 5, -ENOTCONN, "never allocated");
	/* CLCP_ANY is not a channel to send on. */
	conf_assert_rc(p, clcp_snd_message(pr.a, CLCP_ANY, buf, 1, 0), -EINVAL,
		       "snd_message on CLCP_ANY");
	conf_assert_rc(p, clcp_send_frame(pr.a, CLCP_ANY, buf, 1, 0), -EINVAL,
		       "send_frame on CLCP_ANY");
	conf_assert_rc(p, clcp_poll_tx_msg(pr.a, CLCP_ANY, buf, 1, 0), -EINVAL,
		       "poll_tx_msg on CLCP_ANY");
	conf_assert_rc(p, clcp_release_chan(pr.a, pr.ca), 0, "release");
	check_bad_channel(p, pr.a, pr.ca, -ENOTCONN, "released");
	conf_pair_close(&pr);
}

CONF_TEST(badargs, oversize_and_null_buffers, conf_params_backends)
{
	struct conf_pair pr;
	struct clcp_frame f;
	char *buf;
	int c = CLCP_ANY;

	conf_pair_open(p, NULL, &pr);
	buf = calloc(1, pr.mtu + 1);
	cr_assert_not_null(buf);
	conf_assert_rc(p, clcp_send_frame(pr.a, pr.ca, buf, pr.mtu + 1, 0), -EMSGSIZE,
		       "send_frame of mtu + 1");
	conf_assert_rc(p, clcp_send_frame(pr.a, pr.ca, buf, pr.mtu + 1, CLCP_MORE), -EMSGSIZE,
		       "send_frame of mtu + 1, more");
	/* Checked before the buffer is touched: buf is only mtu + 1 long. */
	conf_assert_rc(p, clcp_snd_message(pr.a, pr.ca, buf, (size_t)CLCP_MSG_MAX + 1, 0),
		       -EMSGSIZE, "snd_message beyond CLCP_MSG_MAX");
	conf_assert_rc(p, clcp_poll_tx_msg(pr.a, pr.ca, buf, (size_t)CLCP_MSG_MAX + 1, 0),
		       -EMSGSIZE, "poll_tx_msg beyond CLCP_MSG_MAX");
	conf_assert_rc(p, clcp_send_frame(pr.a, pr.ca, NULL, 1, 0), -EFAULT,
		       "send_frame NULL buffer");
	conf_assert_rc(p, clcp_snd_message(pr.a, pr.ca, NULL, 10, 0), -EFAULT,
		       "snd_message NULL buffer");
	conf_assert_rc(p, clcp_poll_tx_msg(pr.a, pr.ca, NULL, 10, 0), -EFAULT,
		       "poll_tx_msg NULL buffer");
	/* Nothing was sent by any of these. */
	conf_assert_rc(p, clcp_rcv_frame(pr.b, CLCP_ANY, &f, CLCP_NONBLOCK), -EAGAIN,
		       "a failed send left a frame");
	/* NULL with length 0 is a valid empty message. */
	conf_assert_rc(p, clcp_snd_message(pr.a, pr.ca, NULL, 0, 0), 0, "snd_message NULL, 0");
	conf_assert_rc(p, clcp_poll_tx_msg(pr.a, pr.ca, NULL, 0, 0), 0, "poll_tx_msg NULL, 0");
	conf_assert_rc(p, clcp_rcv_message(pr.b, &c, NULL, 0, 0), 0, "rcv_message NULL, 0");
	c = CLCP_ANY;
	conf_assert_rc(p, clcp_poll_rx_msg(pr.b, &c, NULL, 0, 0), 0, "poll_rx_msg NULL, 0");
	free(buf);
	conf_pair_close(&pr);
}

CONF_TEST(badargs, mtu_limits, conf_params_backends)
{
	struct clcp_endpt_attr attr, got;
	clcp_endpt_t *ep = NULL;
	clcp_dev_t *dev = SENTINEL_DEV;
	char uri[96];

	conf_assert_rc(p, clcp_open(conf_uri(p, NODE_A, uri, sizeof(uri)), &dev), 0, "open");
	clcp_endpt_attr_init(&attr);
	attr.mtu = CLCP_MTU_MIN - 1;
	conf_assert_rc(p, clcp_alloc_endpt(dev, &attr, &ep), -EINVAL, "mtu below the minimum");
	cr_assert_null(ep, "output written on failure");
	attr.mtu = CLCP_MTU_AUTO;
	conf_assert_rc(p, clcp_alloc_endpt(dev, &attr, &ep), 0, "the device's mtu");
	conf_assert_rc(p, clcp_endpt_attr_get(ep, &got), 0, "attr_get");
	cr_assert(got.mtu >= CLCP_MTU_MIN && got.mtu <= conf_info(p)->mtu_max, "auto mtu %u", got.mtu);
	conf_assert_rc(p, clcp_dev_attr_init(dev, &attr), 0, "dev_attr_init");
	cr_assert_eq(attr.mtu, got.mtu, "dev_attr_init and allocation agree");
	conf_assert_rc(p, clcp_release_endpt(ep), 0, "release");
	ep = NULL;
	attr.mtu = conf_info(p)->mtu_max + 1;
	conf_assert_rc(p, clcp_alloc_endpt(dev, &attr, &ep), -EINVAL,
		       "mtu above the backend's mtu_max");
	conf_assert_rc(p, clcp_close(dev), 0, "close");
}

CONF_TEST(badargs, nonblock_with_nothing_is_eagain, conf_params_backends)
{
	struct conf_pair pr;
	struct clcp_frame f;
	char buf[16];
	int c = CLCP_ANY;

	conf_pair_open(p, NULL, &pr);
	conf_assert_rc(p, clcp_rcv_message(pr.b, &c, buf, sizeof(buf), CLCP_NONBLOCK), -EAGAIN,
		       "rcv_message");
	conf_assert_rc(p, clcp_poll_rx_msg(pr.b, &c, buf, sizeof(buf), CLCP_NONBLOCK), -EAGAIN,
		       "poll_rx_msg");
	conf_assert_rc(p, clcp_rcv_frame(pr.b, CLCP_ANY, &f, CLCP_NONBLOCK), -EAGAIN, "rcv_frame");
	conf_assert_rc(p, clcp_peek_message(pr.b, &c, CLCP_NONBLOCK), -EAGAIN, "peek_message");
	cr_assert_eq(c, CLCP_ANY, "*chan written on failure");
	c = pr.cb;
	conf_assert_rc(p, clcp_rcv_message(pr.b, &c, buf, sizeof(buf), CLCP_NONBLOCK), -EAGAIN,
		       "rcv_message on a channel");
	cr_assert_eq(c, pr.cb, "*chan written on failure");
	conf_pair_close(&pr);
}

/* Runs call once and asserts -ETIMEDOUT after about TIMEOUT_MS. */
#define EXPECT_TIMEOUT(p, call, what)                                                           \
	do {                                                                                    \
		uint64_t t0_ = tu_now_ms(), dt_;                                                \
		conf_assert_rc(p, (call), -ETIMEDOUT, what);                                    \
		dt_ = tu_now_ms() - t0_;                                                        \
		cr_assert_geq(dt_, TIMEOUT_MS / 2, "%s: after %llu ms", what,                   \
			      (unsigned long long)dt_);                                         \
		cr_assert_lt(dt_, LATE_MS, "%s: after %llu ms", what, (unsigned long long)dt_); \
	} while (0)

CONF_TEST(badargs, receive_timeout, conf_params_backends)
{
	struct clcp_endpt_attr attr;
	struct conf_pair pr;
	struct clcp_frame f;
	char buf[16];
	int c = CLCP_ANY;

	clcp_endpt_attr_init(&attr);
	attr.timeout_ms = TIMEOUT_MS;
	conf_pair_open(p, &attr, &pr);
	EXPECT_TIMEOUT(p, clcp_rcv_message(pr.b, &c, buf, sizeof(buf), 0), "rcv_message");
	EXPECT_TIMEOUT(p, clcp_poll_rx_msg(pr.b, &c, buf, sizeof(buf), 0), "poll_rx_msg");
	EXPECT_TIMEOUT(p, clcp_rcv_frame(pr.b, CLCP_ANY, &f, 0), "rcv_frame");
	cr_assert_eq(c, CLCP_ANY, "*chan written on failure");
	/* timeout_ms 0: do not wait at all. */
	conf_pair_close(&pr);
	attr.timeout_ms = 0;
	conf_pair_open(p, &attr, &pr);
	conf_assert_rc(p, clcp_rcv_message(pr.b, &c, buf, sizeof(buf), 0), -ETIMEDOUT,
		       "rcv_message, timeout 0");
	conf_pair_close(&pr);
}

/*
 * Child: on 'S' waits FIRST_LATE_MS and sends the first frame of a message
 * of two; on 'L' its last frame; then waits to quit.
 */
#define FIRST_LATE_MS (3 * TIMEOUT_MS / 4)

static int first_frame_late(void *arg)
{
	const struct conf_param *p = arg;
	struct conf_end e;
	int rc;

	rc = conf_open(p, NODE_B, NULL, PORT_B, NODE_A, PORT_A, &e);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	TU_CK(tu_expect(tu_child_sock, 'S', 30000) == 0, "no start");
	usleep(FIRST_LATE_MS * 1000);
	rc = clcp_send_frame(e.ep, e.chan, "first fr", 8, CLCP_MORE);
	TU_CK(rc == 8, "first frame: %d %s", rc, clcp_errmsg());
	TU_CK(tu_expect(tu_child_sock, 'L', 30000) == 0, "no last");
	rc = clcp_send_frame(e.ep, e.chan, "last fra", 8, 0);
	TU_CK(rc == 8, "last frame: %d %s", rc, clcp_errmsg());
	TU_CK(tu_expect(tu_child_sock, 'Q', 30000) == 0, "no quit");
	conf_close(&e);
	return 0;
}

/*
 * attr.timeout_ms bounds the whole receive: a message whose first frame
 * comes late in the wait, and its last never, times out when the call's
 * time is up (not a timeout after the first frame); it stays queued.
 */
CONF_TEST(badargs, receive_timeout_bounds_the_whole_call, conf_params_modes)
{
	struct clcp_endpt_attr attr;
	struct conf_end e;
	char buf[32];
	uint64_t t0, dt;
	int sock, c = CLCP_ANY;
	ssize_t n;
	pid_t pid;

	pid = tu_fork(first_frame_late, (void *)p, &sock);
	cr_assert_gt(pid, 0);
	clcp_endpt_attr_init(&attr);
	attr.timeout_ms = TIMEOUT_MS;
	conf_open_ok(p, NODE_A, &attr, PORT_A, NODE_B, PORT_B, &e);
	cr_assert_eq(tu_put(sock, 'S'), 0);
	t0 = tu_now_ms();
	conf_assert_rc(p, conf_recv(p->mode, e.ep, &c, buf, sizeof(buf), 0), -ETIMEDOUT,
		       "receive of a message not whole");
	dt = tu_now_ms() - t0;
	cr_assert_lt(dt, TIMEOUT_MS + FIRST_LATE_MS / 2, "timed out after %llu ms, timeout %d",
		     (unsigned long long)dt, TIMEOUT_MS);
	cr_assert_eq(tu_put(sock, 'L'), 0);
	do {
		c = CLCP_ANY;
		n = conf_recv(p->mode, e.ep, &c, buf, sizeof(buf), 0);
	} while (n == -ETIMEDOUT && tu_now_ms() - t0 < LATE_MS);
	conf_assert_rc(p, n, 16, "the message, once whole");
	cr_assert_eq(memcmp(buf, "first frlast fra", 16), 0, "message %.16s", buf);
	cr_assert_eq(tu_put(sock, 'Q'), 0);
	conf_child_ok(pid, "sender");
	conf_close(&e);
	close(sock);
}

CONF_TEST(badargs, unbound_peer_port_is_refused, conf_params_modes)
{
	struct clcp_endpt_attr attr;
	struct conf_end e;
	char buf[16] = { 0 };
	uint64_t t0, dt;

	clcp_endpt_attr_init(&attr);
	attr.connect_ms = TIMEOUT_MS;
	conf_open_ok(p, NODE_A, &attr, PORT_A, NODE_B, 999, &e);
	t0 = tu_now_ms();
	conf_assert_rc(p, conf_send(p->mode, e.ep, e.chan, buf, sizeof(buf), 0), -ECONNREFUSED,
		       "send to a port nobody binds");
	dt = tu_now_ms() - t0;
	cr_assert_lt(dt, LATE_MS, "refused after %llu ms", (unsigned long long)dt);
	conf_close(&e);
}

/* Child: sends one message of len bytes (seed 7), waits to quit. */
struct big_sender_args {
	const struct conf_param *p;
	size_t len;
};

static int big_sender(void *arg)
{
	const struct big_sender_args *a = arg;
	struct conf_end e;
	int rc;

	rc = conf_open(a->p, NODE_B, NULL, PORT_B, NODE_A, PORT_A, &e);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	rc = conf_send_pat(CONF_INTR, e.ep, e.chan, a->len, 7);
	TU_CK(rc == 0, "send: %d %s", rc, clcp_errmsg());
	TU_CK(tu_expect(tu_child_sock, 'Q', 30000) == 0, "no quit");
	conf_close(&e);
	return 0;
}

/* A too small buffer: -EMSGSIZE, *chan set, message kept for a retry. */
static void small_buffer(const struct conf_param *p, size_t len)
{
	struct big_sender_args a = { .p = p, .len = len };
	struct conf_end e;
	char *buf = malloc(len);
	int sock, c = CLCP_ANY;
	pid_t pid;

	cr_assert_not_null(buf);
	pid = tu_fork(big_sender, &a, &sock);
	cr_assert_gt(pid, 0);
	conf_open_ok(p, NODE_A, NULL, PORT_A, NODE_B, PORT_B, &e);
	conf_assert_rc(p, conf_recv(p->mode, e.ep, &c, buf, len - 1, 0), -EMSGSIZE,
		       "receive into a buffer one byte short");
	cr_assert_eq(c, e.chan, "*chan not set to the message's channel");
	c = CLCP_ANY;
	conf_assert_rc(p, clcp_peek_message(e.ep, &c, 0), (ssize_t)len, "peek the kept message");
	conf_assert_rc(p, conf_recv(p->mode, e.ep, &c, buf, 0, 0), -EMSGSIZE,
		       "receive into no buffer");
	c = CLCP_ANY;
	conf_assert_rc(p, conf_recv_pat(p->mode, e.ep, &c, len, 7), 0,
		       "receive with a big enough buffer");
	cr_assert_eq(tu_put(sock, 'Q'), 0);
	conf_child_ok(pid, "sender");
	conf_close(&e);
	close(sock);
	free(buf);
}

CONF_TEST(badargs, small_buffer_one_frame, conf_params_modes)
{
	small_buffer(p, 1000);
}

CONF_TEST(badargs, small_buffer_many_frames, conf_params_modes)
{
	small_buffer(p, 3 * CLCP_MTU_DEFAULT + 11);
}
