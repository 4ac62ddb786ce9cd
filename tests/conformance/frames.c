// SPDX-License-Identifier: MIT
/*
 * The frames API: clcp_rcv_frame hands out Rx buffers without copying,
 * clcp_release_frames gives them back; ids not on loan are -EINVAL.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#define NFRAMES 4

/* A message of NFRAMES frames: (NFRAMES - 1) full frames and 5 bytes. */
static size_t frames_msg_len(uint32_t mtu)
{
	return (NFRAMES - 1) * (size_t)mtu + 5;
}

/* The endpoint counter `name` (clcp_endpt_stats); fails when it is missing. */
static uint64_t endpt_stat(clcp_endpt_t *ep, const char *name)
{
	struct clcp_stat st[16];
	uint64_t v = 0;

	cr_assert_eq(tu_stat_get(st, clcp_endpt_stats(ep, st, 16), 16, name, &v), 0, "%s", name);
	return v;
}

CONF_TEST(frames, message_as_frames, conf_params_backends)
{
	struct clcp_frame f[NFRAMES], bad;
	struct conf_pair pr;
	size_t len;

	conf_pair_open(p, NULL, &pr);
	len = frames_msg_len(pr.mtu);
	conf_assert_rc(p, conf_send_pat(CONF_INTR, pr.a, pr.ca, len, 3), 0, "send");
	for (uint32_t i = 0; i < NFRAMES; i++) {
		conf_assert_rc(p, clcp_rcv_frame(pr.b, CLCP_ANY, &f[i], 0), 0, "rcv_frame");
		cr_assert_eq(f[i].chan, pr.cb);
		cr_assert_eq(f[i].len, clcp_sar_frame_len(len, pr.mtu, i), "frame %u: len %u", i,
			     f[i].len);
		cr_assert_eq(f[i].msg_len, len, "frame %u: msg_len %u", i, f[i].msg_len);
		cr_assert_eq(f[i].flags & (CLCP_QF_FIRST | CLCP_QF_LAST),
			     clcp_sar_flags(i, NFRAMES), "frame %u: flags 0x%x", i, f[i].flags);
		cr_assert_eq(tu_check_at(f[i].data, f[i].len, 3, (uint64_t)i * pr.mtu), -1,
			     "frame %u: data", i);
		for (uint32_t j = 0; j < i; j++)
			cr_assert_neq(f[i].id, f[j].id, "two frames on loan, one id");
	}
	/* Zero copy: the data stays put while the frames are on loan. */
	for (uint32_t i = 0; i < NFRAMES; i++)
		cr_assert_eq(tu_check_at(f[i].data, f[i].len, 3, (uint64_t)i * pr.mtu), -1);
	conf_assert_rc(p, clcp_release_frames(pr.b, f, NFRAMES), 0, "release all");
	conf_assert_rc(p, clcp_release_frames(pr.b, &f[0], 1), -EINVAL, "release a frame twice");
	bad = f[0];
	bad.id = UINT32_MAX;
	conf_assert_rc(p, clcp_release_frames(pr.b, &bad, 1), -EINVAL, "release an id never lent");
	cr_assert_eq(endpt_stat(pr.a, "tx_frames"), NFRAMES);
	cr_assert_eq(endpt_stat(pr.b, "rx_frames"), NFRAMES);
	cr_assert_eq(endpt_stat(pr.b, "rx_parked"), 0u);
	cr_assert_eq(endpt_stat(pr.b, "rx_spills"), 0u);
	cr_assert_eq(clcp_endpt_stats(pr.b, NULL, 0), 15, "the documented endpoint counters");
	conf_pair_close(&pr);
}

CONF_TEST(frames, send_frame_more_and_last, conf_params_backends)
{
	static const uint32_t lens[] = { 10, 0, 200, 20 };
	struct clcp_frame f;
	struct conf_pair pr;
	char buf[256];

	conf_pair_open(p, NULL, &pr);
	for (uint32_t i = 0; i < 4; i++) {
		int more = i < 3 ? CLCP_MORE : 0;

		tu_fill(buf, lens[i], i);
		conf_assert_rc(p, clcp_send_frame(pr.a, pr.ca, buf, lens[i], more), lens[i],
			       "send_frame");
	}
	for (uint32_t i = 0; i < 4; i++) {
		conf_assert_rc(p, clcp_rcv_frame(pr.b, pr.cb, &f, 0), 0, "rcv_frame");
		cr_assert_eq(f.len, lens[i]);
		cr_assert_eq(!!(f.flags & CLCP_QF_LAST), i == 3, "frame %u flags 0x%x", i, f.flags);
		cr_assert_eq(tu_check(f.data, f.len, i), -1, "frame %u data", i);
		conf_assert_rc(p, clcp_release_frames(pr.b, &f, 1), 0, "release");
	}
	conf_pair_close(&pr);
}

CONF_TEST(frames, full_mtu_frame, conf_params_backends)
{
	struct clcp_frame f;
	struct conf_pair pr;
	char *buf;

	conf_pair_open(p, NULL, &pr);
	buf = malloc(pr.mtu);
	cr_assert_not_null(buf);
	tu_fill(buf, pr.mtu, 5);
	conf_assert_rc(p, clcp_send_frame(pr.a, pr.ca, buf, pr.mtu, 0), pr.mtu,
		       "send_frame of exactly mtu");
	conf_assert_rc(p, clcp_rcv_frame(pr.b, CLCP_ANY, &f, 0), 0, "rcv_frame");
	cr_assert_eq(f.len, pr.mtu);
	cr_assert_eq(tu_check(f.data, f.len, 5), -1);
	conf_assert_rc(p, clcp_release_frames(pr.b, &f, 1), 0, "release");
	free(buf);
	conf_pair_close(&pr);
}

/* Frames on loan are not handed out twice; released ones are reusable. */
CONF_TEST(frames, loans_then_messages, conf_params_backends)
{
	struct clcp_frame f[2];
	struct conf_pair pr;
	int c = CLCP_ANY;

	conf_pair_open(p, NULL, &pr);
	for (uint32_t i = 0; i < 2; i++)
		conf_assert_rc(p, conf_send_pat(CONF_INTR, pr.a, pr.ca, 50, i), 0, "send");
	conf_assert_rc(p, clcp_rcv_frame(pr.b, CLCP_ANY, &f[0], 0), 0, "rcv_frame");
	conf_assert_rc(p, clcp_rcv_frame(pr.b, CLCP_ANY, &f[1], 0), 0, "rcv_frame");
	cr_assert_eq(tu_check(f[0].data, 50, 0), -1, "first frame first");
	cr_assert_eq(tu_check(f[1].data, 50, 1), -1);
	conf_assert_rc(p, clcp_rcv_frame(pr.b, CLCP_ANY, &f[1], CLCP_NONBLOCK), -EAGAIN,
		       "nothing left");
	conf_assert_rc(p, clcp_release_frames(pr.b, f, 2), 0, "release");
	/* The buffers go round again, many times the Rx queue length. */
	for (uint32_t i = 0; i < 4 * CLCP_QLEN_DEFAULT; i++) {
		conf_assert_rc(p, conf_send_pat(CONF_POLL, pr.a, pr.ca, 50, i), 0, "send");
		conf_assert_rc(p, clcp_rcv_frame(pr.b, CLCP_ANY, &f[0], 0), 0, "rcv_frame");
		cr_assert_eq(tu_check(f[0].data, 50, i), -1);
		conf_assert_rc(p, clcp_release_frames(pr.b, f, 1), 0, "release");
	}
	conf_assert_rc(p, conf_send_pat(CONF_POLL, pr.a, pr.ca, 50, 9), 0, "send");
	conf_assert_rc(p, conf_recv_pat(CONF_POLL, pr.b, &c, 50, 9), 0, "message after frames");
	conf_pair_close(&pr);
}

/*
 * Every Rx buffer on loan: the receive calls must say so (-EAGAIN or
 * -ENOBUFS), never hand out a frame twice. After the release, the frames
 * that follow arrive, in order.
 */
#define LOAN_MAX 4096
#define LOAN_QUIET_MS 500

CONF_TEST(frames, every_buffer_on_loan, conf_params_backends)
{
	static struct clcp_frame f[LOAN_MAX];
	struct clcp_endpt_attr attr;
	struct conf_pair pr;
	uint32_t sent = 0, got = 0;
	char buf[32];
	int c = CLCP_ANY, rc;

	clcp_endpt_attr_init(&attr);
	attr.rxq_len = 4;
	conf_pair_open(p, &attr, &pr);
	/* Until nothing moves for LOAN_QUIET_MS: a lossy wire (udp) resends within it. */
	for (uint64_t moved = tu_now_ms(); got < LOAN_MAX && tu_now_ms() - moved < LOAN_QUIET_MS;) {
		uint32_t before = got;

		while (sent - got < LOAN_MAX) {
			tu_fill(buf, sizeof(buf), sent);
			if (clcp_snd_message(pr.a, pr.ca, buf, sizeof(buf), CLCP_NONBLOCK) !=
			    (ssize_t)sizeof(buf))
				break;
			sent++;
		}
		while (got < sent && clcp_rcv_frame(pr.b, CLCP_ANY, &f[got], CLCP_NONBLOCK) == 0) {
			cr_assert_eq(tu_check(f[got].data, f[got].len, got), -1,
				     "frame %u: wrong data (a frame handed out twice?)", got);
			got++;
		}
		if (got != before)
			moved = tu_now_ms();
		else
			tu_msleep(2);
	}
	cr_assert_gt(got, 0u);
	cr_assert_lt(got, LOAN_MAX, "[%s] %u frames on loan from a 4-entry queue", p->backend, got);
	rc = (int)clcp_poll_rx_msg(pr.b, &c, buf, sizeof(buf), CLCP_NONBLOCK);
	cr_assert(rc == -EAGAIN || rc == -ENOBUFS, "[%s] poll_rx_msg with every buffer on loan: %d",
		  p->backend, rc);
	rc = (int)clcp_rcv_message(pr.b, &c, buf, sizeof(buf), CLCP_NONBLOCK);
	cr_assert(rc == -EAGAIN || rc == -ENOBUFS, "[%s] rcv_message with every buffer on loan: %d",
		  p->backend, rc);
	conf_assert_rc(p, clcp_release_frames(pr.b, f, got), 0, "release all");
	/* What was sent and not yet taken comes next, then new messages. */
	for (uint32_t i = got; i < sent + 3; i++) {
		if (i >= sent) {
			conf_assert_rc(p, conf_send_pat(CONF_INTR, pr.a, pr.ca, sizeof(buf), i), 0,
				       "send");
		}
		c = CLCP_ANY;
		conf_assert_rc(p, conf_recv_pat(CONF_POLL, pr.b, &c, sizeof(buf), i), 0,
			       "message after the loans came back");
	}
	conf_pair_close(&pr);
}

/* A pair whose a -> b channel is inside a message of frames: its first, 4 bytes. */
static void open_with_first_frame(const struct conf_param *p, struct conf_pair *pr,
				  const char *first)
{
	conf_pair_open(p, NULL, pr);
	conf_assert_rc(p, clcp_send_frame(pr->a, pr->ca, first, 4, CLCP_MORE), 4, "first frame");
}

/*
 * A message begun by clcp_send_frame(CLCP_MORE) is finished by frames: a
 * message call on that channel meanwhile is refused (-EINVAL) rather than
 * merged into it, whatever its size or path (the inline one included).
 */
CONF_TEST(frames, message_calls_refused_inside_a_frame_message, conf_params_backends)
{
	char buf[64], big[8192];
	struct conf_pair pr;
	int c;

	open_with_first_frame(p, &pr, "AAAA");
	conf_assert_rc(p, clcp_snd_message(pr.a, pr.ca, "BBBB", 4, 0), -EINVAL, "snd_message");
	conf_assert_rc(p, clcp_poll_tx_msg(pr.a, pr.ca, "BBBB", 4, 0), -EINVAL, "poll_tx_msg");
	conf_assert_rc(p, clcp_snd_message(pr.a, pr.ca, big, pr.mtu + 1, 0), -EINVAL,
		       "a message longer than the mtu");
	conf_assert_rc(p, clcp_snd_message(pr.a, pr.ca, "BBBB", 4, CLCP_NONBLOCK), -EINVAL,
		       "a nonblocking one");
	conf_assert_rc(p, clcp_send_frame(pr.a, pr.ca, "CCCC", 4, 0), 4, "last frame");
	conf_assert_rc(p, clcp_poll_tx_msg(pr.a, pr.ca, "DDDD", 4, 0), 4, "a message after it");
	c = pr.cb;
	conf_assert_rc(p, clcp_rcv_message(pr.b, &c, buf, sizeof(buf), 0), 8, "the frame message");
	cr_assert_eq(memcmp(buf, "AAAACCCC", 8), 0);
	conf_assert_rc(p, clcp_rcv_message(pr.b, &c, buf, sizeof(buf), 0), 4, "the message");
	cr_assert_eq(memcmp(buf, "DDDD", 4), 0);
	conf_pair_close(&pr);
}

/*
 * A sender built against an older header (its inline path does not know
 * the rule above) may begin a message inside a frame message: the
 * receiver drops the cut one (-EPROTO) and takes the next intact.
 */
CONF_TEST(frames, message_cut_short_by_the_next_is_dropped, conf_params_backends)
{
	struct conf_pair pr;
	char buf[64];
	int c;

	open_with_first_frame(p, &pr, "AAAA");
	pr.a->tx_open = 0; /* what the older inline path sees */
	conf_assert_rc(p, clcp_poll_tx_msg(pr.a, pr.ca, "BBBB", 4, 0), 4, "the older inline send");
	pr.a->tx_open = 1;
	c = pr.cb;
	conf_assert_rc(p, clcp_rcv_message(pr.b, &c, buf, sizeof(buf), 0), -EPROTO,
		       "the cut message");
	conf_assert_rc(p, clcp_rcv_message(pr.b, &c, buf, sizeof(buf), 0), 4, "the next");
	cr_assert_eq(memcmp(buf, "BBBB", 4), 0);
	conf_assert_rc(p, clcp_send_frame(pr.a, pr.ca, "", 0, 0), 0, "end the sender's message");
	conf_pair_close(&pr);
}

/* A message of frames longer than the buffer stays queued, as any message does. */
CONF_TEST(frames, frame_message_too_long_stays_queued, conf_params_backends)
{
	struct conf_pair pr;
	char buf[64];
	int c;

	open_with_first_frame(p, &pr, "xxxx");
	conf_assert_rc(p, clcp_send_frame(pr.a, pr.ca, "yyyy", 4, 0), 4, "last frame");
	c = pr.cb;
	conf_assert_rc(p, clcp_rcv_message(pr.b, &c, buf, 6, 0), -EMSGSIZE, "into 6 bytes");
	cr_assert_eq(c, pr.cb, "*chan names the channel");
	c = CLCP_ANY;
	conf_assert_rc(p, clcp_rcv_message(pr.b, &c, buf, sizeof(buf), CLCP_NONBLOCK), 8,
		       "then into 64");
	cr_assert_eq(memcmp(buf, "xxxxyyyy", 8), 0);
	conf_pair_close(&pr);
}
