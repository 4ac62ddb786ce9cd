// SPDX-License-Identifier: MIT
/*
 * Interrupt receive: the endpoint fd wakes select() on a last frame only,
 * and arming reports a last frame that is already waiting.
 */
#include "harness.h"

#include <stdlib.h>
#include <sys/select.h>

#define FRAME_LEN 100
#define NMORE 3

/* select() for reading on fd, ms timeout: 1 readable, 0 timed out. */
static int select_read(int fd, unsigned ms)
{
	struct timeval tv = { ms / 1000, (long)(ms % 1000) * 1000 };
	fd_set rd;

	FD_ZERO(&rd);
	FD_SET(fd, &rd);
	return select(fd + 1, &rd, NULL, NULL, &tv);
}

struct frame_sender_args {
	const struct conf_param *p;
};

/* Child: NMORE non-last frames, then (when told) the last one. */
static int frame_sender(void *arg)
{
	const struct frame_sender_args *a = arg;
	char buf[FRAME_LEN];
	struct conf_end e;
	ssize_t n;
	int rc;

	rc = conf_open(a->p, NODE_B, NULL, PORT_B, NODE_A, PORT_A, &e);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	TU_CK(tu_expect(tu_child_sock, 'G', 20000) == 0, "no go");
	for (uint32_t i = 0; i < NMORE; i++) {
		tu_fill(buf, sizeof(buf), i);
		n = clcp_send_frame(e.ep, e.chan, buf, sizeof(buf), CLCP_MORE);
		TU_CK(n == FRAME_LEN, "frame %u: %zd %s", i, n, clcp_errmsg());
	}
	TU_CK(tu_put(tu_child_sock, 'M') == 0, "token");
	TU_CK(tu_expect(tu_child_sock, 'L', 20000) == 0, "no last");
	tu_fill(buf, sizeof(buf), NMORE);
	n = clcp_send_frame(e.ep, e.chan, buf, sizeof(buf), 0);
	TU_CK(n == FRAME_LEN, "last frame: %zd %s", n, clcp_errmsg());
	TU_CK(tu_expect(tu_child_sock, 'Q', 30000) == 0, "no quit");
	conf_close(&e);
	return 0;
}

/* Receives the NMORE + 1 frames and checks that only the last is LAST. */
static void take_frames(const struct conf_param *p, struct conf_end *e)
{
	struct clcp_frame f[NMORE + 1];

	for (uint32_t i = 0; i <= NMORE; i++) {
		int c = CLCP_ANY;

		conf_assert_rc(p, clcp_rcv_frame(e->ep, c, &f[i], CLCP_NONBLOCK), 0,
			       "rcv_frame of a waiting frame");
		cr_assert_eq(f[i].len, FRAME_LEN);
		cr_assert_eq(f[i].chan, e->chan);
		cr_assert_eq(!!(f[i].flags & CLCP_QF_LAST), i == NMORE, "frame %u flags 0x%x", i,
			     f[i].flags);
		cr_assert_eq(tu_check(f[i].data, f[i].len, i), -1, "frame %u data", i);
	}
	conf_assert_rc(p, clcp_release_frames(e->ep, f, NMORE + 1), 0, "release");
}

CONF_TEST(interrupt, select_wakes_on_last_frame_only, conf_params_backends)
{
	struct frame_sender_args a = { .p = p };
	struct conf_end e;
	int sock, fd;
	uint64_t t0;
	pid_t pid;

	conf_require(p, CLCP_CAP_INTERRUPT, "no endpoint fd wake-ups");
	pid = tu_fork(frame_sender, &a, &sock);
	cr_assert_gt(pid, 0);
	conf_open_ok(p, NODE_A, NULL, PORT_A, NODE_B, PORT_B, &e);
	fd = clcp_endpt_fd(e.ep);
	cr_assert_geq(fd, 0, "clcp_endpt_fd: %d", fd);
	conf_assert_rc(p, clcp_endpt_arm(e.ep), 0, "arm with nothing waiting");
	cr_assert_eq(select_read(fd, 0), 0, "fd readable with nothing waiting");
	cr_assert_eq(tu_put(sock, 'G'), 0);
	cr_assert_eq(tu_expect(sock, 'M', 20000), 0, "sender did not send");
	/* Non-last frames are there: arming stays quiet, select times out. */
	conf_assert_rc(p, clcp_endpt_arm(e.ep), 0, "arm with non-last frames waiting");
	cr_assert_eq(select_read(fd, 300), 0, "select woke before the last frame");
	/* The last frame wakes it. */
	cr_assert_eq(tu_put(sock, 'L'), 0);
	t0 = tu_now_ms();
	cr_assert_eq(select_read(fd, 10000), 1, "select did not wake on the last frame");
	cr_log_info("woke after %llu ms", (unsigned long long)(tu_now_ms() - t0));
	take_frames(p, &e);
	/* The wake-up was consumed: armed again with nothing waiting, quiet. */
	conf_assert_rc(p, clcp_endpt_arm(e.ep), 0, "re-arm after receiving");
	cr_assert_eq(select_read(fd, 100), 0, "fd readable after the wake-up was consumed");
	cr_assert_eq(tu_put(sock, 'Q'), 0);
	conf_child_ok(pid, "frame sender");
	conf_close(&e);
	close(sock);
}

/* Child: one whole message, then waits to be told to quit. */
static int one_message_sender(void *arg)
{
	const struct frame_sender_args *a = arg;
	struct conf_end e;
	int rc;

	rc = conf_open(a->p, NODE_B, NULL, PORT_B, NODE_A, PORT_A, &e);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	TU_CK(tu_expect(tu_child_sock, 'G', 20000) == 0, "no go");
	rc = conf_send_pat(CONF_INTR, e.ep, e.chan, FRAME_LEN, 9);
	TU_CK(rc == 0, "send: %d %s", rc, clcp_errmsg());
	TU_CK(tu_put(tu_child_sock, 'S') == 0, "token");
	TU_CK(tu_expect(tu_child_sock, 'Q', 30000) == 0, "no quit");
	conf_close(&e);
	return 0;
}

/* Waits (bounded) until a whole message can be peeked without blocking. */
static void wait_message_there(const struct conf_param *p, clcp_endpt_t *ep)
{
	uint64_t end = tu_now_ms() + 10000;
	ssize_t n;

	do {
		int c = CLCP_ANY;

		n = clcp_peek_message(ep, &c, CLCP_NONBLOCK);
		if (n != -EAGAIN)
			break;
		tu_msleep(1);
	} while (tu_now_ms() < end);
	conf_assert_rc(p, n, FRAME_LEN, "peek the waiting message");
}

CONF_TEST(interrupt, arm_reports_waiting_last_frame, conf_params_backends)
{
	struct frame_sender_args a = { .p = p };
	struct conf_end e;
	int sock, fd, c;
	pid_t pid;

	conf_require(p, CLCP_CAP_INTERRUPT, "no endpoint fd wake-ups");
	pid = tu_fork(one_message_sender, &a, &sock);
	cr_assert_gt(pid, 0);
	conf_open_ok(p, NODE_A, NULL, PORT_A, NODE_B, PORT_B, &e);
	fd = clcp_endpt_fd(e.ep);
	cr_assert_geq(fd, 0);
	cr_assert_eq(tu_put(sock, 'G'), 0);
	cr_assert_eq(tu_expect(sock, 'S', 20000), 0, "sender did not send");
	wait_message_there(p, e.ep);
	conf_assert_rc(p, clcp_endpt_arm(e.ep), 1, "arm with a last frame waiting");
	cr_assert_eq(select_read(fd, 0), 1, "arm returned 1 but fd not readable");
	c = CLCP_ANY;
	conf_assert_rc(p, conf_recv_pat(CONF_INTR, e.ep, &c, FRAME_LEN, 9), 0, "receive");
	conf_assert_rc(p, clcp_endpt_arm(e.ep), 0, "arm with nothing waiting");
	cr_assert_eq(select_read(fd, 100), 0, "fd readable with nothing waiting");
	cr_assert_eq(tu_put(sock, 'Q'), 0);
	conf_child_ok(pid, "sender");
	conf_close(&e);
	close(sock);
}

/* The endpoint fd is one per endpoint and stable. */
CONF_TEST(interrupt, endpoint_fd_is_stable, conf_params_backends)
{
	struct conf_end e;
	clcp_endpt_t *ep2;
	int fd;

	conf_require(p, CLCP_CAP_INTERRUPT, "no endpoint fd");
	conf_open_ok(p, NODE_A, NULL, 0, 0, 0, &e);
	fd = clcp_endpt_fd(e.ep);
	cr_assert_geq(fd, 0);
	cr_assert_eq(clcp_endpt_fd(e.ep), fd);
	conf_assert_rc(p, clcp_alloc_endpt(e.dev, NULL, &ep2), 0, "second endpoint");
	cr_assert_neq(clcp_endpt_fd(ep2), fd, "two endpoints share an fd");
	conf_close(&e);
}

/* Child: one message far larger than the receiver's Rx buffers. */
#define BIG_LEN (1u << 20)

static int big_sender(void *arg)
{
	const struct frame_sender_args *a = arg;
	struct conf_end e;
	int rc;

	rc = conf_open(a->p, NODE_B, NULL, PORT_B, NODE_A, PORT_A, &e);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	TU_CK(tu_expect(tu_child_sock, 'G', 20000) == 0, "no go");
	rc = conf_send_pat(CONF_INTR, e.ep, e.chan, BIG_LEN, 4);
	TU_CK(rc == 0, "send: %d %s", rc, clcp_errmsg());
	TU_CK(tu_expect(tu_child_sock, 'Q', 30000) == 0, "no quit");
	conf_close(&e);
	return 0;
}

/*
 * A message far larger than the Rx buffers wakes an armed receiver (a
 * sender blocked for Rx space signals the fd, as a last frame does):
 * otherwise a long message could never drain in interrupt mode.
 */
CONF_TEST(interrupt, select_wakes_for_a_blocked_sender, conf_params_backends)
{
	struct frame_sender_args a = { .p = p };
	struct conf_end e;
	int sock, fd, c = CLCP_ANY;
	pid_t pid;

	conf_require(p, CLCP_CAP_INTERRUPT, "no endpoint fd wake-ups");
	pid = tu_fork(big_sender, &a, &sock);
	cr_assert_gt(pid, 0);
	conf_open_ok(p, NODE_A, NULL, PORT_A, NODE_B, PORT_B, &e);
	fd = clcp_endpt_fd(e.ep);
	cr_assert_geq(fd, 0);
	conf_assert_rc(p, clcp_endpt_arm(e.ep), 0, "arm with nothing waiting");
	cr_assert_eq(tu_put(sock, 'G'), 0);
	cr_assert_eq(select_read(fd, 10000), 1, "[%s] a blocked sender did not wake us",
		     p->backend);
	conf_assert_rc(p, conf_recv_pat(CONF_INTR, e.ep, &c, BIG_LEN, 4), 0,
		       "receive the long message");
	cr_assert_eq(tu_put(sock, 'Q'), 0);
	conf_child_ok(pid, "big sender");
	conf_close(&e);
	close(sock);
}

/* Nonblocking receives until one gives a message (an event loop's); bounded by 20 s. */
static ssize_t recv_nonblocking(const struct conf_param *p, struct conf_end *e, void *buf,
				size_t cap)
{
	uint64_t end = tu_now_ms() + 20000;
	ssize_t n;

	do {
		int c = CLCP_ANY;

		n = clcp_rcv_message(e->ep, &c, buf, cap, CLCP_NONBLOCK);
		if (n != -EAGAIN)
			break;
		if (clcp_endpt_arm(e->ep) == 0)
			select_read(clcp_endpt_fd(e->ep), 100);
	} while (tu_now_ms() < end);
	cr_assert_geq(n, 0, "[%s] nonblocking receives: %zd (%s)", p->backend, n,
		      clcp_strerror((int)n));
	return n;
}

/*
 * A nonblocking message receive takes whole messages only: with the first
 * frames of one in and its last still held by the sender, it says -EAGAIN
 * (it used to begin the message and wait for the rest); once the last
 * frame is in, it takes the message.
 */
CONF_TEST(interrupt, nonblocking_receive_takes_whole_messages_only, conf_params_backends)
{
	struct frame_sender_args a = { .p = p };
	char buf[(NMORE + 1) * FRAME_LEN];
	uint64_t end;
	struct conf_end e;
	int sock, c;
	pid_t pid;
	ssize_t n;

	pid = tu_fork(frame_sender, &a, &sock);
	cr_assert_gt(pid, 0);
	conf_open_ok(p, NODE_A, NULL, PORT_A, NODE_B, PORT_B, &e);
	cr_assert_eq(tu_put(sock, 'G'), 0);
	cr_assert_eq(tu_expect(sock, 'M', 20000), 0, "sender did not send");
	end = tu_now_ms() + 10000;
	for (;;) { /* until its first frame is in: a frame-built message's length is unknown */
		c = CLCP_ANY;
		n = clcp_peek_message(e.ep, &c, CLCP_NONBLOCK);
		if (n != -EAGAIN || tu_now_ms() >= end)
			break;
		tu_msleep(1);
	}
	conf_assert_rc(p, n, -ENODATA, "peek of the begun message");
	c = CLCP_ANY;
	conf_assert_rc(p, clcp_rcv_message(e.ep, &c, buf, sizeof(buf), CLCP_NONBLOCK), -EAGAIN,
		       "nonblocking receive of a message without its last frame");
	c = e.chan;
	conf_assert_rc(p, clcp_poll_rx_msg(e.ep, &c, buf, sizeof(buf), CLCP_NONBLOCK), -EAGAIN,
		       "nonblocking polling receive of it, on its channel");
	cr_assert_eq(tu_put(sock, 'L'), 0);
	n = recv_nonblocking(p, &e, buf, sizeof(buf));
	conf_assert_rc(p, n, sizeof(buf), "the whole message");
	for (uint32_t i = 0; i <= NMORE; i++)
		cr_assert_eq(tu_check(buf + i * FRAME_LEN, FRAME_LEN, i), -1, "frame %u data", i);
	cr_assert_eq(tu_put(sock, 'Q'), 0);
	conf_child_ok(pid, "frame sender");
	conf_close(&e);
	close(sock);
}

/* Frames of the message below: twice the Rx queue and 3 more, then a short last one. */
static uint32_t long_nframes(clcp_endpt_t *ep)
{
	struct clcp_endpt_attr at;

	return clcp_endpt_attr_get(ep, &at) == 0 ? 2 * at.rxq_len + 3 : 0;
}

/* Child: a frame-built message longer than the receiver's Rx buffers hold. */
static int long_frames_sender(void *arg)
{
	const struct frame_sender_args *a = arg;
	struct conf_end e;
	uint32_t n, i;
	ssize_t r = 0;
	char *buf;
	int rc;

	rc = conf_open(a->p, NODE_B, NULL, PORT_B, NODE_A, PORT_A, &e);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	buf = malloc(e.mtu);
	n = long_nframes(e.ep);
	TU_CK(buf && n, "buffer, attributes");
	TU_CK(tu_expect(tu_child_sock, 'G', 20000) == 0, "no go");
	for (i = 0; i <= n && r >= 0; i++) {
		uint32_t len = i < n ? e.mtu : 7;

		tu_fill(buf, len, i);
		r = clcp_send_frame(e.ep, e.chan, buf, len, i < n ? CLCP_MORE : 0);
		TU_CK(r == (ssize_t)len, "frame %u: %zd %s", i, r, clcp_errmsg());
	}
	TU_CK(tu_expect(tu_child_sock, 'Q', 30000) == 0, "no quit");
	free(buf);
	conf_close(&e);
	return 0;
}

/*
 * A message whose frames fill every Rx buffer before its last one comes
 * is begun by a nonblocking receive all the same (its rest comes only as
 * it is taken), which then waits for the rest: an event loop of
 * nonblocking receives drains it rather than answering -EAGAIN forever.
 */
CONF_TEST(interrupt, nonblocking_receive_begins_a_message_longer_than_the_buffers,
	  conf_params_backends)
{
	struct frame_sender_args a = { .p = p };
	struct conf_end e;
	uint32_t nf, i;
	size_t len;
	char *buf;
	int sock;
	pid_t pid;

	pid = tu_fork(long_frames_sender, &a, &sock);
	cr_assert_gt(pid, 0);
	conf_open_ok(p, NODE_A, NULL, PORT_A, NODE_B, PORT_B, &e);
	nf = long_nframes(e.ep);
	len = (size_t)nf * e.mtu + 7;
	buf = malloc(len);
	cr_assert(buf && nf);
	cr_assert_eq(tu_put(sock, 'G'), 0);
	conf_assert_rc(p, recv_nonblocking(p, &e, buf, len), len, "the long message");
	for (i = 0; i <= nf; i++)
		cr_assert_eq(tu_check(buf + (size_t)i * e.mtu, i < nf ? e.mtu : 7, i), -1,
			     "frame %u data", i);
	cr_assert_eq(tu_put(sock, 'Q'), 0);
	conf_child_ok(pid, "long frames sender");
	free(buf);
	conf_close(&e);
	close(sock);
}
