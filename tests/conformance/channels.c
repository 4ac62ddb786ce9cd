// SPDX-License-Identifier: MIT
/*
 * Many channels on one endpoint: 4 sender processes, 8 channels each, feed
 * 32 channels of one receiver with interleaved multi-frame messages. The
 * receiver takes the first part with CLCP_ANY, the rest channel by
 * channel in reverse order (frames of other channels are parked).
 */
#include "harness.h"

#include <stdlib.h>

#define NSENDERS 4
#define CHANS_PER_SENDER 8
#define NCHANS (NSENDERS * CHANS_PER_SENDER)
#define ROUNDS 12
#define ANY_PHASE 256 /* messages received with CLCP_ANY first */
#define CH_MTU 1024u
#define RX_PORT(i) ((uint16_t)(100 + (i)))
#define TX_PORT(i) ((uint16_t)(200 + (i)))
#define TX_NODE(i) (NODE_B + (uint32_t)(i) / CHANS_PER_SENDER)

/* Two or three frames: between MTU + 1 and 3 MTU - 1 bytes. */
static size_t chan_msg_size(unsigned i, unsigned r)
{
	return CH_MTU + 1 + (i * 37u + r * 101u) % (2 * CH_MTU - 1);
}

static uint32_t chan_seed(unsigned i, unsigned r)
{
	return i * 1000u + r;
}

struct chan_sender_args {
	const struct conf_param *p;
	unsigned first; /* first channel index of this sender */
};

static int chan_sender(void *arg)
{
	const struct chan_sender_args *a = arg;
	struct clcp_endpt_attr attr;
	int chans[CHANS_PER_SENDER], rc;
	struct conf_end e;

	clcp_endpt_attr_init(&attr);
	attr.mtu = CH_MTU;
	rc = conf_open(a->p, TX_NODE(a->first), &attr, 0, 0, 0, &e);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	for (unsigned j = 0; j < CHANS_PER_SENDER; j++) {
		unsigned i = a->first + j;

		chans[j] = clcp_alloc_chan(e.ep, TX_PORT(i), NODE_A, RX_PORT(i));
		TU_CK(chans[j] >= 0, "chan %u: %d %s", i, chans[j], clcp_errmsg());
	}
	TU_CK(tu_expect(tu_child_sock, 'G', 20000) == 0, "no go");
	for (unsigned r = 0; r < ROUNDS; r++)
		for (unsigned j = 0; j < CHANS_PER_SENDER; j++) {
			unsigned i = a->first + j;
			/* Mix the two send calls. */
			enum conf_mode m = (r + j) % 2 ? CONF_POLL : CONF_INTR;

			rc = conf_send_pat(m, e.ep, chans[j], chan_msg_size(i, r), chan_seed(i, r));
			TU_CK(rc == 0, "chan %u round %u: %d %s", i, r, rc, clcp_errmsg());
		}
	TU_CK(tu_expect(tu_child_sock, 'Q', 40000) == 0, "no quit");
	conf_close(&e);
	return 0;
}

/* Maps a channel number back to its index, asserting it is one of ours. */
static unsigned chan_index(const int *chans, int c)
{
	for (unsigned i = 0; i < NCHANS; i++)
		if (chans[i] == c)
			return i;
	cr_assert_fail("message on unknown channel %d", c);
	return 0;
}

/* Receives one message on *c and checks it is the next of its channel. */
static void recv_next(const struct conf_param *p, clcp_endpt_t *ep, const int *chans,
		      unsigned *next, int *c, char *buf)
{
	ssize_t n = conf_recv(p->mode, ep, c, buf, 3 * CH_MTU, 0);
	unsigned i, r;
	ssize_t bad;

	cr_assert_geq(n, 0, "[%s] receive: %zd (%s; %s)", p->backend, n, clcp_strerror((int)n),
		      clcp_errmsg());
	i = chan_index(chans, *c);
	r = next[i]++;
	cr_assert_lt(r, ROUNDS, "channel %u: more messages than sent", i);
	cr_assert_eq((size_t)n, chan_msg_size(i, r), "channel %u message %u: %zd bytes, want %zu",
		     i, r, n, chan_msg_size(i, r));
	bad = tu_check(buf, (size_t)n, chan_seed(i, r));
	cr_assert_eq(bad, -1, "channel %u message %u: byte %zd wrong (order?)", i, r, bad);
}

CONF_TEST(channels, thirty_two_channels_four_senders, conf_params_modes)
{
	struct chan_sender_args args[NSENDERS];
	int chans[NCHANS], socks[NSENDERS];
	unsigned next[NCHANS] = { 0 };
	pid_t pids[NSENDERS];
	struct clcp_endpt_attr attr;
	struct conf_end e;
	char *buf = malloc(3 * CH_MTU);

	cr_assert_not_null(buf);
	for (unsigned k = 0; k < NSENDERS; k++) {
		args[k].p = p;
		args[k].first = k * CHANS_PER_SENDER;
		pids[k] = tu_fork(chan_sender, &args[k], &socks[k]);
		cr_assert_gt(pids[k], 0);
	}
	clcp_endpt_attr_init(&attr);
	attr.mtu = CH_MTU;
	attr.rxq_len = 1024; /* room to park every other channel's frames */
	attr.nchan = 64;
	conf_open_ok(p, NODE_A, &attr, 0, 0, 0, &e);
	for (unsigned i = 0; i < NCHANS; i++) {
		chans[i] = clcp_alloc_chan(e.ep, RX_PORT(i), TX_NODE(i), TX_PORT(i));
		cr_assert_geq(chans[i], 0, "channel %u: %d", i, chans[i]);
	}
	for (unsigned k = 0; k < NSENDERS; k++)
		cr_assert_eq(tu_put(socks[k], 'G'), 0);
	for (unsigned n = 0; n < ANY_PHASE; n++) {
		int c = CLCP_ANY;

		recv_next(p, e.ep, chans, next, &c, buf);
	}
	for (int i = NCHANS - 1; i >= 0; i--)
		while (next[i] < ROUNDS) {
			int c = chans[i];

			recv_next(p, e.ep, chans, next, &c, buf);
			cr_assert_eq(c, chans[i], "asked channel %d, got %d", chans[i], c);
		}
	for (unsigned k = 0; k < NSENDERS; k++) {
		cr_assert_eq(tu_put(socks[k], 'Q'), 0);
		conf_child_ok(pids[k], "channel sender");
		close(socks[k]);
	}
	conf_close(&e);
	free(buf);
}

/* Channels come and go: released numbers are reused, ports freed. */
CONF_TEST(channels, alloc_release_reuse, conf_params_backends)
{
	struct clcp_endpt_attr attr;
	struct conf_end e;
	int c[8];

	clcp_endpt_attr_init(&attr);
	attr.nchan = 8;
	conf_open_ok(p, NODE_A, &attr, 0, 0, 0, &e);
	for (int i = 0; i < 8; i++) {
		c[i] = clcp_alloc_chan(e.ep, (uint16_t)(100 + i), NODE_B, 200);
		cr_assert_geq(c[i], 0, "channel %d: %d", i, c[i]);
		cr_assert_lt(c[i], 8);
	}
	conf_assert_rc(p, clcp_alloc_chan(e.ep, 120, NODE_B, 200), -EBUSY,
		       "ninth channel of 8 slots");
	conf_assert_rc(p, clcp_release_chan(e.ep, c[3]), 0, "release");
	conf_assert_rc(p, clcp_release_chan(e.ep, c[3]), -ENOTCONN, "release twice");
	/* The port is free again, on a new channel. */
	cr_assert_geq(clcp_alloc_chan(e.ep, 103, NODE_B, 200), 0);
	conf_close(&e);
}

/* CLCP_PORT_ANY picks distinct free ports; clcp_chan_port tells which. */
CONF_TEST(channels, port_any, conf_params_backends)
{
	struct conf_end e;
	int a, b, pa, pb;

	conf_open_ok(p, NODE_A, NULL, 0, 0, 0, &e);
	a = clcp_alloc_chan(e.ep, CLCP_PORT_ANY, NODE_B, PORT_B);
	b = clcp_alloc_chan(e.ep, CLCP_PORT_ANY, NODE_B, PORT_B);
	cr_assert_geq(a, 0, "%d", a);
	cr_assert_geq(b, 0, "%d", b);
	cr_assert_neq(a, b);
	pa = clcp_chan_port(e.ep, a);
	pb = clcp_chan_port(e.ep, b);
	cr_assert(pa > 0 && pa <= 65535, "[%s] picked port %d", p->backend, pa);
	cr_assert(pb > 0 && pb <= 65535, "[%s] picked port %d", p->backend, pb);
	cr_assert_neq(pa, pb, "the same port picked twice");
	conf_assert_rc(p, clcp_alloc_chan(e.ep, (uint16_t)pa, NODE_B, PORT_B), -EADDRINUSE,
		       "explicit bind of a picked port");
	conf_assert_rc(p, clcp_chan_port(e.ep, 100000), -EINVAL, "chan_port out of range");
	conf_close(&e);
}

/* Sends on chan with CLCP_NONBLOCK until -EAGAIN; *n counts (and seeds). */
static ssize_t fill_nonblock(enum conf_mode m, clcp_endpt_t *ep, int chan, uint32_t *n)
{
	char buf[64];
	ssize_t rc;

	do {
		tu_fill(buf, sizeof(buf), *n);
		rc = conf_send(m, ep, chan, buf, sizeof(buf), CLCP_NONBLOCK);
	} while (rc == (ssize_t)sizeof(buf) && ++*n < 100000);
	return rc;
}

/*
 * Waiting on one channel while another fills every Rx buffer: those
 * frames are parked, not lost, and once they hold every buffer the wait
 * fails with -ENOBUFS instead of waiting for ever. Receiving the parked
 * messages frees the buffers.
 */
CONF_TEST(channels, parked_frames_fill_rx_is_enobufs, conf_params_modes)
{
	struct clcp_endpt_attr attr;
	struct conf_end e;
	clcp_endpt_t *tx;
	int t1, t2, r1, r2, c;
	char buf[64];
	uint32_t n = 0;
	ssize_t rc = 0;

	clcp_endpt_attr_init(&attr);
	attr.rxq_len = 4;
	attr.timeout_ms = 5000; /* a missed -ENOBUFS shows as -ETIMEDOUT */
	conf_open_ok(p, NODE_A, &attr, 0, 0, 0, &e);
	conf_assert_rc(p, clcp_alloc_endpt(e.dev, NULL, &tx), 0, "sender endpoint");
	r1 = clcp_alloc_chan(e.ep, 101, NODE_A, 201);
	r2 = clcp_alloc_chan(e.ep, 102, NODE_A, 202);
	t1 = clcp_alloc_chan(tx, 201, NODE_A, 101);
	t2 = clcp_alloc_chan(tx, 202, NODE_A, 102);
	cr_assert(r1 >= 0 && r2 >= 0 && t1 >= 0 && t2 >= 0);
	/* Fill, let a look at channel 2 park the frames, fill again... */
	/* On a lossy wire (udp) frames in flight get resent: up to 200 ms apart. */
	for (uint64_t t0 = tu_now_ms(); tu_now_ms() - t0 < 3000;) {
		conf_assert_rc(p, fill_nonblock(p->mode, tx, t1, &n), -EAGAIN, "filling channel 1");
		c = r2;
		rc = conf_recv(p->mode, e.ep, &c, buf, sizeof(buf), CLCP_NONBLOCK);
		if (rc != -EAGAIN)
			break;
		tu_msleep(2);
	}
	conf_assert_rc(p, rc, -ENOBUFS, "nonblocking look at channel 2");
	cr_assert_gt(n, 0u);
	c = r2;
	conf_assert_rc(p, conf_recv(p->mode, e.ep, &c, buf, sizeof(buf), 0), -ENOBUFS,
		       "blocking wait on channel 2, every buffer parked");
	for (uint32_t i = 0; i < n; i++) {
		c = r1;
		conf_assert_rc(p, conf_recv_pat(p->mode, e.ep, &c, sizeof(buf), i), 0,
			       "parked message of channel 1");
	}
	conf_assert_rc(p, conf_send_pat(p->mode, tx, t2, 10, 77), 0, "send on 2");
	c = r2;
	conf_assert_rc(p, conf_recv_pat(p->mode, e.ep, &c, 10, 77), 0,
		       "channel 2 after the buffers came back");
	conf_close(&e);
}

/*
 * A CLCP_ANY receive that nothing can ever satisfy (no channel open, or
 * every open one failed and reported) fails with -ENOTCONN within
 * peer_check_ms instead of waiting for ever.
 */
CONF_TEST(channels, any_receive_with_nothing_to_receive_from_fails, conf_params_modes)
{
	struct conf_pair pr;
	char buf[16];
	int c = CLCP_ANY;

	conf_pair_open(p, NULL, &pr);
	conf_assert_rc(p, conf_send_pat(p->mode, pr.b, pr.cb, 8, 1), 0, "b -> a: a has seen b");
	conf_assert_rc(p, conf_recv_pat(p->mode, pr.a, &c, 8, 1), 0, "a gets it");
	conf_assert_rc(p, clcp_release_chan(pr.b, pr.cb), 0, "release b's only channel");
	c = CLCP_ANY;
	conf_assert_rc(p, conf_recv(p->mode, pr.b, &c, buf, sizeof(buf), 0), -ENOTCONN,
		       "CLCP_ANY with no channel open");
	c = CLCP_ANY;
	conf_assert_rc(p, conf_recv(p->mode, pr.a, &c, buf, sizeof(buf), 0), -ECONNRESET,
		       "a's channel: its peer released it");
	c = CLCP_ANY;
	conf_assert_rc(p, conf_recv(p->mode, pr.a, &c, buf, sizeof(buf), 0), -ENOTCONN,
		       "CLCP_ANY with every channel failed and reported");
	conf_pair_close(&pr);
}

/*
 * The two ends' mtus differ (the docs say they must not): a message whose
 * frames are longer than the receiver's mtu fails the sender's channel
 * (-EMSGSIZE where the sender sees the peer's mtu, -ECONNRESET where the
 * receiver's NIC resets the channel), never a silent loss or a hang.
 */
CONF_TEST(channels, mtu_mismatch_fails_the_senders_channel, conf_params_backends)
{
	struct clcp_endpt_attr big, small;
	struct conf_end a, b;
	char buf[1000] = { 0 };
	ssize_t n = 0;

	clcp_endpt_attr_init(&big);
	big.mtu = 1024;
	small = big;
	small.mtu = CLCP_MTU_MIN;
	conf_open_ok(p, NODE_A, &big, PORT_A, NODE_B, PORT_B, &a);
	conf_open_ok(p, NODE_B, &small, PORT_B, NODE_A, PORT_A, &b);
	for (int i = 0; i < 200 && n >= 0; i++) /* within its window, until the reset is in */
		n = clcp_snd_message(a.ep, a.chan, buf, sizeof(buf), 0);
	cr_assert(n == -EMSGSIZE || n == -ECONNRESET, "[%s] sends over the peer's mtu: %zd (%s)",
		  p->backend, n, clcp_errmsg());
	conf_close(&b);
	conf_close(&a);
}
