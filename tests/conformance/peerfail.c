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
};

/* Child: binds, sends nsend messages, says 'S', then dies or releases. */
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

static void open_watcher(const struct conf_param *p, struct conf_end *e)
{
	struct clcp_endpt_attr attr;

	clcp_endpt_attr_init(&attr);
	attr.peer_check_ms = PEER_CHECK_MS;
	attr.timeout_ms = WATCH_TIMEOUT_MS;
	conf_open_ok(p, NODE_A, &attr, PORT_A, NODE_B, PORT_B, e);
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

/* Child: a receiver that never reads, then dies. */
static int sleeper(void *arg)
{
	const struct victim_args *a = arg;
	struct conf_end e;
	int rc;

	rc = conf_open(a->p, NODE_B, NULL, PORT_B, NODE_A, PORT_A, &e);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	TU_CK(tu_put(tu_child_sock, 'R') == 0, "token");
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
