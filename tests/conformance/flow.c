// SPDX-License-Identifier: MIT
/*
 * Flow control: a receiver that does not read makes a CLCP_NONBLOCK sender
 * get -EAGAIN (nothing sent) and a blocking sender wait; once it reads,
 * every message arrives, in order, nothing dropped.
 */
#include "harness.h"

#define SMALL 100
#define NB_LIMIT 100000u /* a sender never stopped by -EAGAIN fails */
#define BLOCKED_CHECK_MS 300

struct flow_args {
	const struct conf_param *p;
	enum conf_mode mode;
};

static size_t big_size(uint32_t mtu)
{
	return 3 * (size_t)mtu + 5;
}

/* A child's last step: waits for the parent's word to quit, closes its end. */
static int child_quit(struct conf_end *e)
{
	TU_CK(tu_expect(tu_child_sock, 'Q', 30000) == 0, "no quit");
	conf_close(e);
	return 0;
}

/* Sends with CLCP_NONBLOCK until -EAGAIN; returns the count sent or < 0. */
static int64_t fill_receiver(enum conf_mode m, struct conf_end *e)
{
	char buf[SMALL];
	uint32_t n;
	ssize_t rc;

	for (n = 0; n < NB_LIMIT; n++) {
		tu_fill(buf, sizeof(buf), n);
		rc = conf_send(m, e->ep, e->chan, buf, sizeof(buf), CLCP_NONBLOCK);
		if (rc == -EAGAIN)
			return n;
		if (rc != SMALL) {
			fprintf(stderr, "nonblocking send %u: %zd %s\n", n, rc, clcp_errmsg());
			return -1;
		}
	}
	fprintf(stderr, "%u nonblocking sends, never -EAGAIN\n", n);
	return -1;
}

/*
 * Child: fills the receiver with nonblocking sends, checks both send calls
 * refuse, then sends a multi-frame and a small message blocking.
 */
static int flow_sender(void *arg)
{
	const struct flow_args *a = arg;
	struct conf_end e;
	char buf[SMALL];
	int64_t n;
	int rc;

	rc = conf_open(a->p, NODE_B, NULL, PORT_B, NODE_A, PORT_A, &e);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	TU_CK(tu_expect(tu_child_sock, 'G', 20000) == 0, "no go");
	n = fill_receiver(a->mode, &e);
	TU_CK(n > 0, "filling the receiver: %lld", (long long)n);
	tu_fill(buf, sizeof(buf), (uint32_t)n);
	rc = (int)clcp_snd_message(e.ep, e.chan, buf, sizeof(buf), CLCP_NONBLOCK);
	TU_CK(rc == -EAGAIN, "[%s, mode %d] snd_message on a receiver full after %lld: %d",
	      a->p->backend, (int)a->mode, (long long)n, rc);
	rc = (int)clcp_poll_tx_msg(e.ep, e.chan, buf, sizeof(buf), CLCP_NONBLOCK);
	TU_CK(rc == -EAGAIN, "[%s, mode %d] poll_tx_msg on a receiver full after %lld: %d",
	      a->p->backend, (int)a->mode, (long long)n, rc);
	rc = (int)clcp_send_frame(e.ep, e.chan, buf, sizeof(buf), CLCP_NONBLOCK);
	TU_CK(rc == -EAGAIN, "[%s, mode %d] send_frame on a receiver full after %lld: %d",
	      a->p->backend, (int)a->mode, (long long)n, rc);
	TU_CK(tu_put_u64(tu_child_sock, (uint64_t)n) == 0, "count");
	TU_CK(tu_put(tu_child_sock, 'B') == 0, "token");
	rc = conf_send_pat(a->mode, e.ep, e.chan, big_size(e.mtu), (uint32_t)n);
	TU_CK(rc == 0, "blocking send: %d %s", rc, clcp_errmsg());
	TU_CK(tu_put(tu_child_sock, 'D') == 0, "token");
	rc = conf_send_pat(a->mode, e.ep, e.chan, SMALL, (uint32_t)n + 1);
	TU_CK(rc == 0, "last send: %d %s", rc, clcp_errmsg());
	return child_quit(&e);
}

CONF_TEST(flow, full_receiver_stops_sender, conf_params_modes)
{
	struct flow_args a = { .p = p, .mode = p->mode };
	struct conf_end e;
	uint64_t n;
	int sock, c;
	pid_t pid;

	pid = tu_fork(flow_sender, &a, &sock);
	cr_assert_gt(pid, 0);
	conf_open_ok(p, NODE_A, NULL, PORT_A, NODE_B, PORT_B, &e);
	cr_assert_eq(tu_put(sock, 'G'), 0);
	cr_assert_eq(tu_get_u64(sock, 20000, &n), 0, "sender did not fill us");
	cr_log_info("%llu messages before -EAGAIN", (unsigned long long)n);
	cr_assert_eq(tu_expect(sock, 'B', 20000), 0);
	/* The blocking sender must still be waiting: we read nothing yet. */
	cr_assert_eq(tu_readable(sock, BLOCKED_CHECK_MS), 0,
		     "[%s] blocking send returned while the receiver was full", p->backend);
	for (uint32_t i = 0; i < n; i++) {
		c = CLCP_ANY;
		conf_assert_rc(p, conf_recv_pat(p->mode, e.ep, &c, SMALL, i), 0,
			       "a message sent before -EAGAIN");
	}
	c = CLCP_ANY;
	conf_assert_rc(p, conf_recv_pat(p->mode, e.ep, &c, big_size(e.mtu), (uint32_t)n), 0,
		       "the blocked message");
	cr_assert_eq(tu_expect(sock, 'D', 20000), 0, "blocked sender never finished");
	c = CLCP_ANY;
	conf_assert_rc(p, conf_recv_pat(p->mode, e.ep, &c, SMALL, (uint32_t)n + 1), 0,
		       "the message after");
	/* Nothing more: nothing was sent twice, nothing from the -EAGAINs. */
	c = CLCP_ANY;
	conf_assert_rc(p, clcp_peek_message(e.ep, &c, CLCP_NONBLOCK), -EAGAIN, "extra message");
	cr_assert_eq(tu_put(sock, 'Q'), 0);
	conf_child_ok(pid, "flow sender");
	conf_close(&e);
	close(sock);
}

/* A message far larger than the receiver's buffers streams through. */
struct stream_args {
	const struct conf_param *p;
	enum conf_mode mode;
	size_t len;
	unsigned count;
};

static int stream_sender(void *arg)
{
	const struct stream_args *a = arg;
	struct clcp_endpt_attr attr;
	struct conf_end e;
	int rc;

	clcp_endpt_attr_init(&attr);
	attr.mtu = CLCP_MTU_MIN;
	attr.txq_len = 2;
	rc = conf_open(a->p, NODE_B, &attr, PORT_B, NODE_A, PORT_A, &e);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	for (unsigned i = 0; i < a->count; i++) {
		rc = conf_send_pat(a->mode, e.ep, e.chan, a->len, i);
		TU_CK(rc == 0, "send %u: %d %s", i, rc, clcp_errmsg());
	}
	return child_quit(&e);
}

CONF_TEST(flow, tiny_queues_stream, conf_params_modes)
{
	struct stream_args a = { .p = p, .mode = p->mode, .len = 100000, .count = 20 };
	struct clcp_endpt_attr attr;
	struct conf_end e;
	int sock, c;
	pid_t pid;

	pid = tu_fork(stream_sender, &a, &sock);
	cr_assert_gt(pid, 0);
	clcp_endpt_attr_init(&attr);
	attr.mtu = CLCP_MTU_MIN;
	attr.rxq_len = 2;
	conf_open_ok(p, NODE_A, &attr, PORT_A, NODE_B, PORT_B, &e);
	for (unsigned i = 0; i < a.count; i++) {
		c = e.chan;
		conf_assert_rc(p, conf_recv_pat(p->mode, e.ep, &c, a.len, i), 0,
			       "message through 2-entry queues");
	}
	cr_assert_eq(tu_put(sock, 'Q'), 0);
	conf_child_ok(pid, "stream sender");
	conf_close(&e);
	close(sock);
}

/*
 * Both ends send a whole Rx queue of messages before either reads, right
 * after each took a few messages with its polling calls: every send
 * completes. The inline receive may give its slots back late, but a send
 * that waits for space gives its own endpoint's back first, so two ends
 * that write before they read never wait on each other.
 */
#define WARM 7u /* fewer than an eighth of the default queue */

static int both_send(const struct conf_param *p, struct conf_end *e, int sock, bool first)
{
	uint32_t n = e->ep->rx_mask + 1, i;
	int rc, c;

	for (i = 0; i < 2 * WARM; i++) {
		if ((i < WARM) == first) {
			rc = conf_send_pat(p->mode, e->ep, e->chan, SMALL, i);
			if (rc == 0 && i % WARM == WARM - 1)
				rc = tu_put(sock, 'W');
		} else {
			if (i % WARM == 0 && tu_expect(sock, 'W', 20000) != 0)
				return -ETIMEDOUT;
			c = e->chan;
			rc = conf_recv_pat(p->mode, e->ep, &c, SMALL, i);
		}
		if (rc != 0)
			return rc;
	}
	for (i = 0; i < n; i++)
		if ((rc = conf_send_pat(p->mode, e->ep, e->chan, SMALL, 100 + i)) != 0)
			return rc;
	for (i = 0; i < n; i++) {
		c = e->chan;
		if ((rc = conf_recv_pat(p->mode, e->ep, &c, SMALL, 100 + i)) != 0)
			return rc;
	}
	return 0;
}

static int both_send_child(void *arg)
{
	const struct flow_args *a = arg;
	struct conf_end e;
	int rc;

	rc = conf_open(a->p, NODE_B, NULL, PORT_B, NODE_A, PORT_A, &e);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	TU_CK(tu_put(tu_child_sock, 'O') == 0, "token");
	rc = both_send(a->p, &e, tu_child_sock, false);
	TU_CK(rc == 0, "child: %d %s", rc, clcp_errmsg());
	return child_quit(&e);
}

CONF_TEST(flow, both_ends_send_a_full_queue_before_reading, conf_params_modes)
{
	struct flow_args a = { .p = p, .mode = p->mode };
	struct conf_end e;
	int sock;
	pid_t pid;

	pid = tu_fork(both_send_child, &a, &sock);
	cr_assert_gt(pid, 0);
	conf_open_ok(p, NODE_A, NULL, PORT_A, NODE_B, PORT_B, &e);
	cr_assert_eq(tu_expect(sock, 'O', 20000), 0, "child did not open");
	conf_assert_rc(p, both_send(p, &e, sock, true), 0, "send a queue, then read one");
	cr_assert_eq(tu_put(sock, 'Q'), 0);
	conf_child_ok(pid, "other end");
	conf_close(&e);
	close(sock);
}
