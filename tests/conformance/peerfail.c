// SPDX-License-Identifier: MIT
/*
 * A peer killed with SIGKILL (or releasing its channel) gives
 * -ECONNRESET to a blocked receiver and to a blocked sender within
 * peer_check_ms plus scheduling; frames already delivered come first.
 * Bounds are generous: these are no-hang tests, not timing tests.
 *
 * The dead peer is our own child; it is reaped at once (conf_reap_async)
 * as an unrelated peer would be by its parent, except in the zombie test.
 */
#include "harness.h"

#include <signal.h>
#include <stdlib.h>

#define PEER_CHECK_MS 100
#define RESET_WITHIN_MS 5000
#define WATCH_TIMEOUT_MS 10000 /* a missed reset shows as -ETIMEDOUT */
#define SMALL 100
#define HUGE_LEN (4u << 20)

struct victim_args {
	const struct conf_param *p;
	unsigned nsend;	  /* messages to send before dying */
	unsigned wait_ms; /* delay between the 'S' token and death */
	int release_chan; /* release the channel instead of dying */
	bool until_told;  /* die at the 'K' token instead */
};

/* Child: binds, sends nsend messages, says 'S', then dies (when told) or releases. */
static int victim(void *arg)
{
	const struct victim_args *a = arg;
	struct conf_end e;
	int rc;

	rc = conf_open(a->p, NODE_B, NULL, PORT_B, NODE_A, PORT_A, &e);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	TU_CK(tu_expect(tu_child_sock, 'G', 20000) == 0, "no go");
	for (unsigned i = 0; i < a->nsend; i++) {
		rc = conf_send_pat(CONF_INTR, e.ep, e.chan, SMALL, i);
		TU_CK(rc == 0, "send %u: %d %s", i, rc, clcp_errmsg());
	}
	TU_CK(tu_put(tu_child_sock, 'S') == 0, "token");
	if (a->until_told)
		TU_CK(tu_expect(tu_child_sock, 'K', 20000) == 0, "no kill");
	tu_msleep(a->wait_ms);
	if (a->release_chan) {
		rc = clcp_release_chan(e.ep, e.chan);
		TU_CK(rc == 0, "release_chan: %d", rc);
		TU_CK(tu_expect(tu_child_sock, 'Q', 30000) == 0, "no quit");
		conf_close(&e);
		return 0;
	}
	raise(SIGKILL);
	return 1;
}

/*
 * Opens the watching end and sends the peer one message (it never reads
 * it): the send returns once the peer was heard (udp: seen). On a lossy
 * wire (udpns) every answer of a peer that dies soon may be lost, and a
 * peer never heard is not one that died: the receive would time out.
 */
static void open_watcher(const struct conf_param *p, struct conf_end *e)
{
	struct clcp_endpt_attr attr;

	clcp_endpt_attr_init(&attr);
	attr.peer_check_ms = PEER_CHECK_MS;
	attr.timeout_ms = WATCH_TIMEOUT_MS;
	conf_open_ok(p, NODE_A, &attr, PORT_A, NODE_B, PORT_B, e);
	conf_assert_rc(p, conf_send_pat(CONF_POLL, e->ep, e->chan, SMALL, 0), 0,
		       "a message to the peer");
}

/* Receives once and asserts -ECONNRESET within RESET_WITHIN_MS. */
static void expect_reset_recv(const struct conf_param *p, struct conf_end *e, enum conf_mode m)
{
	char buf[SMALL];
	uint64_t t0 = tu_now_ms(), dt;
	int c = e->chan;

	conf_assert_rc(p, conf_recv(m, e->ep, &c, buf, sizeof(buf), 0), -ECONNRESET,
		       "receive from a dead peer");
	dt = tu_now_ms() - t0;
	cr_assert_lt(dt, RESET_WITHIN_MS, "[%s] reset after %llu ms", p->backend,
		     (unsigned long long)dt);
}

/* Opens and closes the node once: files of dead processes are reclaimed. */
static void reclaim(const struct conf_param *p)
{
	clcp_dev_t *dev;
	char uri[96];

	conf_assert_rc(p, clcp_open(conf_uri(p, NODE_B, uri, sizeof(uri)), &dev), 0,
		       "reopen the dead peer's node");
	conf_assert_rc(p, clcp_close(dev), 0, "close");
}

CONF_TEST(peerfail, blocked_receiver_sees_reset, conf_params_modes)
{
	struct victim_args a = { .p = p, .nsend = 0, .wait_ms = 300 };
	struct conf_end e;
	int sock;
	pid_t pid;

	pid = tu_fork(victim, &a, &sock);
	conf_reap_async(pid);
	open_watcher(p, &e);
	cr_assert_eq(tu_put(sock, 'G'), 0);
	cr_assert_eq(tu_expect(sock, 'S', 20000), 0);
	expect_reset_recv(p, &e, p->mode);
	conf_child_killed(pid, SIGKILL, "victim");
	/* The reset sticks, on both directions of the channel. */
	expect_reset_recv(p, &e, p->mode);
	conf_assert_rc(p, conf_send_pat(p->mode, e.ep, e.chan, SMALL, 0), -ECONNRESET,
		       "send to a dead peer");
	conf_close(&e);
	reclaim(p);
	close(sock);
}

CONF_TEST(peerfail, delivered_messages_come_first, conf_params_modes)
{
	/* The victim lives 300 ms on: on a lossy wire (udpns) its frames get resent. */
	struct victim_args a = { .p = p, .nsend = 2, .wait_ms = 300 };
	struct conf_end e;
	int sock, c;
	pid_t pid;

	pid = tu_fork(victim, &a, &sock);
	cr_assert_gt(pid, 0);
	open_watcher(p, &e);
	cr_assert_eq(tu_put(sock, 'G'), 0);
	conf_child_killed(pid, SIGKILL, "victim");
	for (uint32_t i = 0; i < a.nsend; i++) {
		c = CLCP_ANY;
		conf_assert_rc(p, conf_recv_pat(p->mode, e.ep, &c, SMALL, i), 0,
			       "message delivered before the peer died");
	}
	expect_reset_recv(p, &e, p->mode);
	conf_close(&e);
	reclaim(p);
	close(sock);
}

CONF_TEST(peerfail, released_channel_resets_peer, conf_params_modes)
{
	struct victim_args a = { .p = p, .nsend = 1, .wait_ms = 0, .release_chan = 1 };
	struct conf_end e;
	int sock, c = CLCP_ANY;
	pid_t pid;

	pid = tu_fork(victim, &a, &sock);
	cr_assert_gt(pid, 0);
	open_watcher(p, &e);
	cr_assert_eq(tu_put(sock, 'G'), 0);
	conf_assert_rc(p, conf_recv_pat(p->mode, e.ep, &c, SMALL, 0), 0,
		       "message sent before the release");
	expect_reset_recv(p, &e, p->mode);
	cr_assert_eq(tu_put(sock, 'Q'), 0);
	conf_child_ok(pid, "releasing peer");
	conf_close(&e);
	close(sock);
}

/* Child: a receiver that never reads, then dies wait_ms after the 'G' token. */
static int sleeper(void *arg)
{
	const struct victim_args *a = arg;
	struct conf_end e;
	int rc;

	rc = conf_open(a->p, NODE_B, NULL, PORT_B, NODE_A, PORT_A, &e);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	TU_CK(tu_put(tu_child_sock, 'R') == 0, "token");
	TU_CK(tu_expect(tu_child_sock, 'G', 20000) == 0, "no go");
	tu_msleep(a->wait_ms);
	raise(SIGKILL);
	return 1;
}

CONF_TEST(peerfail, blocked_sender_sees_reset, conf_params_modes)
{
	struct victim_args a = { .p = p, .wait_ms = 300 };
	struct conf_end e;
	uint64_t t0, dt;
	char *buf = malloc(HUGE_LEN);
	int sock;
	pid_t pid;

	cr_assert_not_null(buf);
	tu_fill(buf, HUGE_LEN, 1);
	pid = tu_fork(sleeper, &a, &sock);
	conf_reap_async(pid);
	open_watcher(p, &e);
	cr_assert_eq(tu_expect(sock, 'R', 20000), 0);
	cr_assert_eq(tu_put(sock, 'G'), 0);
	t0 = tu_now_ms();
	/* Far more than the receiver's buffers: the send must block. */
	conf_assert_rc(p, conf_send(p->mode, e.ep, e.chan, buf, HUGE_LEN, 0), -ECONNRESET,
		       "send to a peer that dies");
	dt = tu_now_ms() - t0;
	cr_assert_lt(dt, a.wait_ms + RESET_WITHIN_MS, "[%s] reset after %llu ms", p->backend,
		     (unsigned long long)dt);
	conf_child_killed(pid, SIGKILL, "sleeper");
	conf_assert_rc(p, conf_send(p->mode, e.ep, e.chan, buf, SMALL, 0), -ECONNRESET,
		       "send again");
	conf_close(&e);
	reclaim(p);
	close(sock);
	free(buf);
}

/*
 * The dead peer is a zombie: our child, killed, not yet reaped (we are
 * blocked in the receive). It is dead all the same.
 */
CONF_TEST(peerfail, zombie_peer_is_dead, conf_params_modes)
{
	struct victim_args a = { .p = p, .nsend = 0, .wait_ms = 300 };
	struct conf_end e;
	int sock;
	pid_t pid;

	pid = tu_fork(victim, &a, &sock);
	cr_assert_gt(pid, 0);
	open_watcher(p, &e);
	cr_assert_eq(tu_put(sock, 'G'), 0);
	cr_assert_eq(tu_expect(sock, 'S', 20000), 0);
	expect_reset_recv(p, &e, p->mode);
	conf_child_killed(pid, SIGKILL, "victim");
	conf_close(&e);
	reclaim(p);
	close(sock);
}

/* Child: the peer's next process on the same node and port: sends message 100. */
static int next_life(void *arg)
{
	const struct victim_args *a = arg;
	struct conf_end e;
	int rc;

	rc = conf_open(a->p, NODE_B, NULL, PORT_B, NODE_A, PORT_A, &e);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	rc = conf_send_pat(CONF_INTR, e.ep, e.chan, SMALL, 100);
	if (rc == -ECONNRESET) { /* it met the old channel first: a channel anew */
		TU_CK(clcp_release_chan(e.ep, e.chan) == 0, "release");
		e.chan = clcp_alloc_chan(e.ep, PORT_B, NODE_A, PORT_A);
		TU_CK(e.chan >= 0, "alloc again: %d %s", e.chan, clcp_errmsg());
		rc = conf_send_pat(CONF_INTR, e.ep, e.chan, SMALL, 100);
	}
	TU_CK(rc == 0, "send: %d %s", rc, clcp_errmsg());
	TU_CK(tu_expect(tu_child_sock, 'Q', 30000) == 0, "no quit");
	conf_close(&e);
	return 0;
}

/* The peer's first process sends nsend messages, we take them, it dies. */
static void first_life_over(const struct conf_param *p, struct victim_args *a, struct conf_end *e)
{
	int sock, c;
	pid_t pid;

	pid = tu_fork(victim, a, &sock);
	cr_assert_gt(pid, 0);
	open_watcher(p, e);
	cr_assert_eq(tu_put(sock, 'G'), 0);
	for (uint32_t i = 0; i < a->nsend; i++) {
		c = e->chan;
		conf_assert_rc(p, conf_recv_pat(CONF_POLL, e->ep, &c, SMALL, i), 0,
			       "message of the first process");
	}
	cr_assert_eq(tu_expect(sock, 'S', 20000), 0);
	tu_msleep(50); /* our acks reach it while it lives */
	cr_assert_eq(tu_put(sock, 'K'), 0);
	conf_child_killed(pid, SIGKILL, "first process");
	close(sock);
}

/* The channel allocated anew gets the next process's message 100; it quits. */
static void next_life_heard(const struct conf_param *p, struct conf_end *e, pid_t pid, int sock)
{
	int c = e->chan;

	conf_assert_rc(p, conf_recv_pat(CONF_POLL, e->ep, &c, SMALL, 100), 0,
		       "the next process's message, on the channel allocated anew");
	cr_assert_eq(tu_put(sock, 'Q'), 0);
	conf_child_ok(pid, "next process");
	conf_close(e);
	close(sock);
}

/*
 * The peer's process dies unnoticed (nothing went to it since) and a new
 * one takes its node and port. The old channel must neither wait for ever
 * nor take the new process's frames as the old one's: it fails with
 * -ECONNRESET (docs/api.md, "Peers that restart"). A channel allocated
 * anew then talks to the new process, which waited for it.
 */
CONF_TEST(peerfail, restarted_peer_is_never_taken_for_the_old, conf_params_backends)
{
	struct victim_args a = { .p = p, .nsend = 3, .until_told = true };
	struct conf_end e;
	char buf[SMALL];
	int sock, c;
	pid_t pid;

	first_life_over(p, &a, &e);
	pid = tu_fork(next_life, &a, &sock);
	cr_assert_gt(pid, 0);
	c = e.chan;
	conf_assert_rc(p, conf_recv(CONF_POLL, e.ep, &c, buf, sizeof(buf), 0), -ECONNRESET,
		       "the old channel, a new process on the peer's port");
	conf_assert_rc(p, clcp_release_chan(e.ep, e.chan), 0, "release the old channel");
	e.chan = clcp_alloc_chan(e.ep, PORT_A, NODE_B, PORT_B);
	cr_assert_geq(e.chan, 0, "[%s] alloc anew: %d", p->backend, e.chan);
	next_life_heard(p, &e, pid, sock);
}

/*
 * The same, the first process's death found first (-ECONNRESET): a channel
 * allocated anew to its port waits for the next process, as for a port
 * not bound yet (it failed at once on loopback, the dead owner still in
 * the port map).
 */
CONF_TEST(peerfail, channel_to_a_dead_peers_port_waits_for_the_next, conf_params_backends)
{
	struct victim_args a = { .p = p, .nsend = 1, .until_told = true };
	struct conf_end e;
	int sock;
	pid_t pid;

	first_life_over(p, &a, &e);
	expect_reset_recv(p, &e, CONF_POLL);
	conf_assert_rc(p, clcp_release_chan(e.ep, e.chan), 0, "release the old channel");
	e.chan = clcp_alloc_chan(e.ep, PORT_A, NODE_B, PORT_B);
	cr_assert_geq(e.chan, 0, "[%s] alloc anew: %d", p->backend, e.chan);
	pid = tu_fork(next_life, &a, &sock);
	cr_assert_gt(pid, 0);
	next_life_heard(p, &e, pid, sock);
}
