// SPDX-License-Identifier: MIT
/*
 * Messages between processes: every size class intact, 10,000 in order,
 * one 64 MiB message, ping-pong, and two endpoints of one process.
 */
#include "harness.h"

#include <stdlib.h>

#define ORDER_COUNT 10000u
#define PINGPONG_ROUNDS 200u

struct sender_args {
	const struct conf_param *p;
	enum conf_mode mode;
	uint64_t count;
	uint64_t size; /* 0 with count > 0: sizes from order_size() */
	int fixed_size;
};

/* Sizes of the ordered stream: mostly one frame, every 50th three. */
static size_t order_size(uint32_t i, uint32_t mtu)
{
	if (i % 50 == 0)
		return 2 * (size_t)mtu + i % 61;
	return 1 + (i * 7919u) % 300;
}

static size_t msg_size(const struct sender_args *a, uint32_t i, uint32_t mtu)
{
	return a->fixed_size ? (size_t)a->size : order_size(i, mtu);
}

/* Child: node B sends count patterned messages (seed = index) to node A. */
static int sender(void *arg)
{
	const struct sender_args *a = arg;
	struct conf_end e;
	int rc;

	rc = conf_open(a->p, NODE_B, NULL, PORT_B, NODE_A, PORT_A, &e);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	TU_CK(tu_expect(tu_child_sock, 'G', 20000) == 0, "no go");
	for (uint32_t i = 0; i < a->count; i++) {
		rc = conf_send_pat(a->mode, e.ep, e.chan, msg_size(a, i, e.mtu), i);
		TU_CK(rc == 0, "send %u: %d %s", i, rc, clcp_errmsg());
	}
	TU_CK(tu_put(tu_child_sock, 'D') == 0, "token");
	TU_CK(tu_expect(tu_child_sock, 'Q', 30000) == 0, "no quit");
	conf_close(&e);
	return 0;
}

/* Parent: node A receives what sender() sends and checks every message. */
static void receive_from_sender(const struct conf_param *p, const struct sender_args *a)
{
	struct conf_end e;
	int sock, rc;
	pid_t pid;

	pid = tu_fork(sender, (void *)a, &sock);
	cr_assert_gt(pid, 0);
	conf_open_ok(p, NODE_A, NULL, PORT_A, NODE_B, PORT_B, &e);
	cr_assert_eq(tu_put(sock, 'G'), 0);
	for (uint32_t i = 0; i < a->count; i++) {
		int c = CLCP_ANY;

		rc = conf_recv_pat(a->mode, e.ep, &c, msg_size(a, i, e.mtu), i);
		cr_assert_eq(rc, 0, "[%s/%s] message %u of %llu (%zu bytes): %d (%s; %s)",
			     p->backend, conf_mode_name(a->mode), i, (unsigned long long)a->count,
			     msg_size(a, i, e.mtu), rc, clcp_strerror(rc), clcp_errmsg());
		cr_assert_eq(c, e.chan, "message %u on channel %d", i, c);
	}
	cr_assert_eq(tu_expect(sock, 'D', 20000), 0);
	cr_assert_eq(tu_put(sock, 'Q'), 0);
	conf_child_ok(pid, "sender");
	conf_close(&e);
	close(sock);
}

CONF_TEST(messages, every_size_class, conf_params_sizes)
{
	struct sender_args a = { .p = p,
				 .mode = p->mode,
				 .count = 3,
				 .size = conf_size_bytes(p->size, CLCP_MTU_DEFAULT),
				 .fixed_size = 1 };

	cr_log_info("size %llu", (unsigned long long)a.size);
	receive_from_sender(p, &a);
}

CONF_TEST(messages, ten_thousand_in_order, conf_params_modes)
{
	struct sender_args a = { .p = p, .mode = p->mode, .count = ORDER_COUNT };

	receive_from_sender(p, &a);
}

CONF_TEST(messages, one_64mib_message, conf_params_backends)
{
	struct sender_args a = {
		.p = p, .mode = CONF_INTR, .count = 1, .size = 64ull << 20, .fixed_size = 1
	};

	receive_from_sender(p, &a);
}

/* --- ping-pong: both directions on one channel --- */

static size_t pp_size(uint32_t i, uint32_t mtu)
{
	return i % 10 == 9 ? 3 * (size_t)mtu + i : (i * 37u) % (mtu + 1);
}

static int echoer(void *arg)
{
	const struct sender_args *a = arg;
	size_t cap = 4 * CLCP_MTU_DEFAULT + PINGPONG_ROUNDS;
	struct conf_end e;
	char *buf = malloc(cap);
	int rc;

	TU_CK(buf != NULL, "malloc");
	rc = conf_open(a->p, NODE_B, NULL, PORT_B, NODE_A, PORT_A, &e);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	TU_CK(tu_put(tu_child_sock, 'R') == 0, "token");
	for (uint32_t i = 0; i < a->count; i++) {
		int c = e.chan;
		ssize_t n = conf_recv(a->mode, e.ep, &c, buf, cap, 0);

		TU_CK(n >= 0, "recv %u: %zd %s", i, n, clcp_errmsg());
		n = conf_send(a->mode, e.ep, e.chan, buf, (size_t)n, 0);
		TU_CK(n >= 0, "send %u: %zd %s", i, n, clcp_errmsg());
	}
	conf_close(&e);
	free(buf);
	return 0;
}

CONF_TEST(messages, ping_pong, conf_params_modes)
{
	struct sender_args a = { .p = p, .mode = p->mode, .count = PINGPONG_ROUNDS };
	struct conf_end e;
	int sock, rc;
	pid_t pid;

	pid = tu_fork(echoer, &a, &sock);
	cr_assert_gt(pid, 0);
	conf_open_ok(p, NODE_A, NULL, PORT_A, NODE_B, PORT_B, &e);
	cr_assert_eq(tu_expect(sock, 'R', 20000), 0);
	for (uint32_t i = 0; i < a.count; i++) {
		int c = e.chan;

		rc = conf_send_pat(p->mode, e.ep, e.chan, pp_size(i, e.mtu), i);
		conf_assert_rc(p, rc, 0, "ping");
		rc = conf_recv_pat(p->mode, e.ep, &c, pp_size(i, e.mtu), i);
		conf_assert_rc(p, rc, 0, "pong");
	}
	conf_child_ok(pid, "echoer");
	conf_close(&e);
	close(sock);
}

/* --- one process, two endpoints on the same node --- */

CONF_TEST(messages, two_endpoints_one_process, conf_params_modes)
{
	static const size_t sizes[] = { 0, 1, 100, CLCP_MTU_DEFAULT, 3 * CLCP_MTU_DEFAULT + 1 };
	clcp_endpt_t *a, *b;
	clcp_dev_t *dev;
	char uri[96];
	int ca, cb, rc;

	rc = clcp_open(conf_uri(p, NODE_A, uri, sizeof(uri)), &dev);
	conf_assert_rc(p, rc, 0, "clcp_open");
	conf_assert_rc(p, clcp_alloc_endpt(dev, NULL, &a), 0, "alloc a");
	conf_assert_rc(p, clcp_alloc_endpt(dev, NULL, &b), 0, "alloc b");
	ca = clcp_alloc_chan(a, PORT_A, NODE_A, PORT_B);
	cb = clcp_alloc_chan(b, PORT_B, NODE_A, PORT_A);
	cr_assert_geq(ca, 0);
	cr_assert_geq(cb, 0);
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int c = CLCP_ANY;

		rc = conf_send_pat(p->mode, a, ca, sizes[i], i);
		conf_assert_rc(p, rc, 0, "send a->b");
		rc = conf_recv_pat(p->mode, b, &c, sizes[i], i);
		conf_assert_rc(p, rc, 0, "receive at b");
		cr_assert_eq(c, cb);
		c = cb;
		rc = conf_send_pat(p->mode, b, cb, sizes[i], i + 100);
		conf_assert_rc(p, rc, 0, "send b->a");
		c = ca;
		rc = conf_recv_pat(p->mode, a, &c, sizes[i], i + 100);
		conf_assert_rc(p, rc, 0, "receive at a");
	}
	conf_assert_rc(p, clcp_close(dev), 0, "clcp_close");
}

/* --- a receive waits as long as it takes (timeout_ms -1) --- */

#define LATE_MS 600 /* several peer_check_ms periods */

static int late_sender(void *arg)
{
	const struct sender_args *a = arg;
	struct conf_end e;
	int rc;

	rc = conf_open(a->p, NODE_B, NULL, PORT_B, NODE_A, PORT_A, &e);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	TU_CK(tu_expect(tu_child_sock, 'G', 20000) == 0, "no go");
	tu_msleep(LATE_MS);
	rc = conf_send_pat(a->mode, e.ep, e.chan, 100, 1);
	TU_CK(rc == 0, "send: %d %s", rc, clcp_errmsg());
	TU_CK(tu_expect(tu_child_sock, 'Q', 30000) == 0, "no quit");
	conf_close(&e);
	return 0;
}

CONF_TEST(messages, receive_waits_for_a_late_message, conf_params_modes)
{
	struct sender_args a = { .p = p, .mode = p->mode, .count = 1 };
	struct conf_end e;
	int sock, c = CLCP_ANY;
	pid_t pid;

	pid = tu_fork(late_sender, &a, &sock);
	cr_assert_gt(pid, 0);
	conf_open_ok(p, NODE_A, NULL, PORT_A, NODE_B, PORT_B, &e);
	cr_assert_eq(tu_put(sock, 'G'), 0);
	conf_assert_rc(p, conf_recv_pat(p->mode, e.ep, &c, 100, 1), 0,
		       "blocking receive of a message sent late (timeout_ms -1)");
	cr_assert_eq(tu_put(sock, 'Q'), 0);
	conf_child_ok(pid, "late sender");
	conf_close(&e);
	close(sock);
}

/* --- two threads, one endpoint each, in one process --- */

#include <pthread.h>

#define THREAD_ROUNDS 1000u

struct thread_end {
	const struct conf_param *p;
	clcp_endpt_t *ep;
	int chan;
	int echo; /* 1: receive then send back; 0: send then receive */
	int rc;
};

static void *thread_main(void *arg)
{
	struct thread_end *t = arg;

	for (uint32_t i = 0; i < THREAD_ROUNDS && t->rc == 0; i++) {
		size_t len = (i * 13u) % 2000;
		int c = t->chan;

		if (!t->echo)
			t->rc = conf_send_pat(t->p->mode, t->ep, t->chan, len, i);
		if (t->rc == 0)
			t->rc = conf_recv_pat(t->p->mode, t->ep, &c, len, i);
		if (t->rc == 0 && t->echo)
			t->rc = conf_send_pat(t->p->mode, t->ep, t->chan, len, i);
	}
	return NULL;
}

CONF_TEST(messages, two_threads_two_endpoints, conf_params_modes)
{
	struct thread_end a = { .p = p }, b = { .p = p, .echo = 1 };
	pthread_t ta, tb;
	clcp_dev_t *dev;
	char uri[96];

	conf_assert_rc(p, clcp_open(conf_uri(p, NODE_A, uri, sizeof(uri)), &dev), 0, "open");
	conf_assert_rc(p, clcp_alloc_endpt(dev, NULL, &a.ep), 0, "endpoint a");
	conf_assert_rc(p, clcp_alloc_endpt(dev, NULL, &b.ep), 0, "endpoint b");
	a.chan = clcp_alloc_chan(a.ep, PORT_A, NODE_A, PORT_B);
	b.chan = clcp_alloc_chan(b.ep, PORT_B, NODE_A, PORT_A);
	cr_assert(a.chan >= 0 && b.chan >= 0);
	cr_assert_eq(pthread_create(&tb, NULL, thread_main, &b), 0);
	cr_assert_eq(pthread_create(&ta, NULL, thread_main, &a), 0);
	cr_assert_eq(pthread_join(ta, NULL), 0);
	cr_assert_eq(pthread_join(tb, NULL), 0);
	conf_assert_rc(p, a.rc, 0, "thread a");
	conf_assert_rc(p, b.rc, 0, "thread b");
	conf_assert_rc(p, clcp_close(dev), 0, "close");
}
