// SPDX-License-Identifier: MIT
/*
 * Spin-then-block waits of the interrupt group (attr.spin_us): an adaptive
 * budget spins while arrivals are close and stops spinning when they are
 * far apart; a fixed budget spins that long and does not block; 0 blocks.
 * What the waits did shows in the endpoint's spin_* counters and in the CPU
 * time the receiving thread used.
 *
 * Spinning pays only when the peer runs meanwhile, on another CPU: the echo
 * test pins the two ends apart and wants the two CPUs to itself (ctest runs
 * one test at a time).
 */
#include "harness.h"

#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#define ECHO_ROUNDS 300u
#define GAP_MSGS 16u
#define GAP_MS 20u
#define MSG_LEN 64u

#define STREAM_MSGS 400u
#define SINK_RXQ 4u
#define SINK_LATE_MS 20u

struct peer_args {
	const struct conf_param *p;
	unsigned count;
	unsigned gap_ms; /* 0: echo each message back; else send one per gap */
	int cpu;	 /* pin to this CPU (-1: not) */
	bool sink;	 /* only receive count messages (rxq SINK_RXQ), polling */
};

/* Pins the calling thread to the idx-th CPU it may use; -1 if there is none. */
static int pin_nth(cpu_set_t *was, int idx)
{
	cpu_set_t one;
	int cpu, n = 0;

	if (sched_getaffinity(0, sizeof(*was), was) != 0 || CPU_COUNT(was) < 2)
		return -1;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, was) || n++ != idx)
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		return sched_setaffinity(0, sizeof(one), &one) == 0 ? cpu : -1;
	}
	return -1;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Child on node B: echoes count messages, or sends count one gap apart. */
static int peer(void *arg)
{
	const struct peer_args *a = arg;
	struct conf_end e;
	cpu_set_t was;
	int rc;

	struct clcp_endpt_attr attr;

	if (a->cpu >= 0)
		pin_nth(&was, 1);
	clcp_endpt_attr_init(&attr);
	if (a->sink)
		attr.rxq_len = SINK_RXQ;
	rc = conf_open(a->p, NODE_B, &attr, PORT_B, NODE_A, PORT_A, &e);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	TU_CK(tu_put(tu_child_sock, 'R') == 0, "token");
	TU_CK(tu_expect(tu_child_sock, 'G', 20000) == 0, "no go");
	if (a->sink)
		sleep_ms(SINK_LATE_MS); /* the sender finds the queue full at least once */
	for (uint32_t i = 0; i < a->count; i++) {
		int c = e.chan;

		if (a->sink) {
			rc = conf_recv_pat(CONF_POLL, e.ep, &c, MSG_LEN, i);
			TU_CK(rc == 0, "receive %u: %d %s", i, rc, clcp_errmsg());
			continue;
		}
		if (a->gap_ms == 0) {
			rc = conf_recv_pat(CONF_POLL, e.ep, &c, MSG_LEN, i);
			TU_CK(rc == 0, "receive %u: %d %s", i, rc, clcp_errmsg());
		} else {
			sleep_ms(a->gap_ms);
		}
		rc = conf_send_pat(CONF_POLL, e.ep, e.chan, MSG_LEN, i);
		TU_CK(rc == 0, "send %u: %d %s", i, rc, clcp_errmsg());
	}
	TU_CK(tu_expect(tu_child_sock, 'Q', 30000) == 0, "no quit");
	conf_close(&e);
	return 0;
}

static uint64_t ep_stat(clcp_endpt_t *ep, const char *name)
{
	struct clcp_stat st[32];
	uint64_t v = 0;

	cr_assert_eq(tu_stat_get(st, clcp_endpt_stats(ep, st, 32), 32, name, &v), 0, "%s", name);
	return v;
}

struct spin_counts {
	uint64_t hits, misses, budget_ns, pressure;
	double cpu_ms; /* the receiving thread's, while it received */
};

static double thread_cpu_ms(void)
{
	struct rusage ru;

	cr_assert_eq(getrusage(RUSAGE_THREAD, &ru), 0);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* Forks peer(a) on node B and opens node A with attr.spin_us = spin_us; both ready. */
static pid_t peer_start(const struct peer_args *a, int32_t spin_us, struct conf_end *e, int *sock)
{
	struct clcp_endpt_attr attr;
	pid_t pid;

	clcp_endpt_attr_init(&attr);
	attr.spin_us = spin_us;
	pid = tu_fork(peer, (void *)a, sock);
	cr_assert_gt(pid, 0);
	conf_open_ok(a->p, NODE_A, &attr, PORT_A, NODE_B, PORT_B, e);
	cr_assert_eq(tu_expect(*sock, 'R', 20000), 0);
	cr_assert_eq(tu_put(*sock, 'G'), 0);
	return pid;
}

static void peer_stop(pid_t pid, struct conf_end *e, int sock)
{
	cr_assert_eq(tu_put(sock, 'Q'), 0);
	conf_child_ok(pid, "peer");
	conf_close(e);
	close(sock);
}

/*
 * Node A with attr.spin_us = spin_us receives what peer() sends (echo:
 * pings first), every message intact; returns the endpoint's counters.
 */
static struct spin_counts run(const struct conf_param *p, int32_t spin_us, unsigned gap_ms,
			      unsigned count)
{
	struct peer_args a = { .p = p, .count = count, .gap_ms = gap_ms, .cpu = -1 };
	struct spin_counts n;
	struct conf_end e;
	cpu_set_t was;
	double cpu0;
	int sock, rc;
	pid_t pid;

	if (gap_ms == 0)
		a.cpu = pin_nth(&was, 0);
	pid = peer_start(&a, spin_us, &e, &sock);
	cpu0 = thread_cpu_ms();
	for (uint32_t i = 0; i < count; i++) {
		int c = e.chan;

		if (gap_ms == 0)
			conf_assert_rc(p, conf_send_pat(CONF_INTR, e.ep, e.chan, MSG_LEN, i), 0, "ping");
		rc = conf_recv_pat(CONF_INTR, e.ep, &c, MSG_LEN, i);
		conf_assert_rc(p, rc, 0, "receive");
	}
	n = (struct spin_counts){ ep_stat(e.ep, "spin_hits"), ep_stat(e.ep, "spin_misses"),
				  ep_stat(e.ep, "spin_budget_ns"), ep_stat(e.ep, "spin_pressure"),
				  thread_cpu_ms() - cpu0 };
	peer_stop(pid, &e, sock);
	if (a.cpu >= 0)
		sched_setaffinity(0, sizeof(was), &was);
	cr_log_info("[%s] spin_us %d: hits %llu misses %llu pressure %llu budget %llu ns cpu %.1f ms",
		    p->backend, spin_us, (unsigned long long)n.hits, (unsigned long long)n.misses,
		    (unsigned long long)n.pressure, (unsigned long long)n.budget_ns, n.cpu_ms);
	return n;
}

static int cpus_allowed(void)
{
	cpu_set_t set;

	return sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
}

/* A busy machine may keep the echoing peer off the CPU: three tries. */
CONF_TEST(adaptive, close_arrivals_are_caught_spinning, conf_params_backends)
{
	struct spin_counts n;

	/* On one CPU the echo cannot come while we spin: nothing to catch (the VM test's guest). */
	if (cpus_allowed() < 2)
		cr_skip_test("[%s] the ends need a CPU each; this process may use 1", p->backend);
	for (int i = 0; i < 3; i++) {
		n = run(p, CLCP_SPIN_ADAPTIVE, 0, ECHO_ROUNDS);
		if (n.hits > n.misses)
			break;
	}
	/*
	 * Most waits end spinning (many receives find the echo already there);
	 * when they did not, the CPUs were wanted elsewhere and the budget
	 * must have seen it (run-queue pressure) and backed off.
	 */
	if (n.hits > n.misses)
		cr_assert_gt(n.budget_ns, 0);
	else
		cr_assert_gt(n.pressure, 0, "[%s] %llu waits ended spinning, %llu blocked, no pressure seen",
			     p->backend, (unsigned long long)n.hits, (unsigned long long)n.misses);
}

CONF_TEST(adaptive, far_arrivals_stop_the_spinning, conf_params_backends)
{
	struct spin_counts n = run(p, CLCP_SPIN_ADAPTIVE, GAP_MS, GAP_MSGS);

	/*
	 * Each wait far beyond spin_max_us at least halves the budget. On a
	 * lossy path a late (resent) frame and the next one make a short wait
	 * now and then, which rightly grows the budget a step or two (2, 4 us)
	 * that the waits after it take back.
	 */
	if (conf_lossy(p))
		cr_assert_leq(n.budget_ns, 4000u, "[%s] budget still %llu ns", p->backend,
			      (unsigned long long)n.budget_ns);
	else
		cr_assert_eq(n.budget_ns, 0, "[%s] budget still %llu ns", p->backend,
			     (unsigned long long)n.budget_ns);
	cr_assert_geq(n.misses, GAP_MSGS / 2);
	cr_assert_lt(n.cpu_ms, GAP_MSGS * GAP_MS / 4.0, "[%s] %.1f ms of CPU in %u ms", p->backend,
		     n.cpu_ms, GAP_MSGS * GAP_MS);
}

CONF_TEST(adaptive, fixed_budget_spins_without_blocking, conf_params_backends)
{
	struct spin_counts n = run(p, 10 * GAP_MS * 1000, GAP_MS, 5);

	/* Never blocked; receives that found the message waiting did not spin. */
	cr_assert_eq(n.misses, 0);
	cr_assert_geq(n.hits, 1, "[%s] no wait spun", p->backend);
	cr_assert_eq(n.budget_ns, 10ull * GAP_MS * 1000000u);
}

CONF_TEST(adaptive, zero_budget_blocks_at_once, conf_params_backends)
{
	struct spin_counts n = run(p, 0, GAP_MS, 5);

	cr_assert_eq(n.hits + n.misses, 0, "no wait spun");
	cr_assert_eq(n.budget_ns, 0);
	cr_assert_lt(n.cpu_ms, 5 * GAP_MS / 4.0, "[%s] %.1f ms of CPU in %u ms", p->backend,
		     n.cpu_ms, 5 * GAP_MS);
}

CONF_TEST(adaptive, bad_settings_are_refused, conf_params_backends)
{
	struct clcp_endpt_attr attr;
	struct conf_end e;

	clcp_endpt_attr_init(&attr);
	cr_assert_eq(attr.spin_us, 0, "blocking at once is the default");
	attr.spin_us = -2;
	conf_assert_rc(p, conf_open(p, NODE_A, &attr, 0, 0, 0, &e), -EINVAL, "spin_us -2");
	attr.spin_us = CLCP_SPIN_MAX_US + 1;
	conf_assert_rc(p, conf_open(p, NODE_A, &attr, 0, 0, 0, &e), -EINVAL, "spin_us too big");
	attr.spin_us = CLCP_SPIN_ADAPTIVE;
	attr.spin_max_us = 0;
	conf_assert_rc(p, conf_open(p, NODE_A, &attr, 0, 0, 0, &e), -EINVAL, "spin_max_us 0");
	conf_open_ok(p, NODE_A, NULL, 0, 0, 0, &e);
	conf_assert_rc(p, clcp_endpt_set_spin(e.ep, -3, 100), -EINVAL, "set_spin -3");
	conf_assert_rc(p, clcp_endpt_set_spin(e.ep, 10, CLCP_SPIN_MAX_US + 1), -EINVAL,
		       "set_spin max too big");
	conf_assert_rc(p, clcp_endpt_set_spin(NULL, 10, 100), -EINVAL, "set_spin NULL");
	conf_assert_rc(p, clcp_endpt_set_spin(e.ep, CLCP_SPIN_ADAPTIVE, 50), 0, "set_spin");
	cr_assert_eq(clcp_endpt_attr_get(e.ep, &attr), 0);
	cr_assert_eq(attr.spin_us, CLCP_SPIN_ADAPTIVE);
	cr_assert_eq(attr.spin_max_us, 50);
	conf_close(&e);
}

/*
 * Node A (spin_us) streams to a polling receiver with a short Rx queue; the
 * counts of its waits for Rx space that spun and that slept.
 */
static void stream_to_sink(const struct conf_param *p, int32_t spin_us, uint64_t *spins,
			   uint64_t *sleeps)
{
	struct peer_args a = { .p = p, .count = STREAM_MSGS, .cpu = -1, .sink = true };
	struct conf_end e;
	int sock;
	pid_t pid = peer_start(&a, spin_us, &e, &sock);

	for (uint32_t i = 0; i < STREAM_MSGS; i++)
		conf_assert_rc(p, conf_send_pat(CONF_INTR, e.ep, e.chan, MSG_LEN, i), 0, "send");
	*spins = ep_stat(e.ep, "tx_spins");
	*sleeps = ep_stat(e.ep, "tx_sleeps");
	peer_stop(pid, &e, sock);
	cr_log_info("[%s] spin_us %d: %llu waits for Rx space spun, %llu slept", p->backend,
		    spin_us, (unsigned long long)*spins, (unsigned long long)*sleeps);
}

/* A sender with a budget spins for Rx space; one without sleeps at once. */
CONF_TEST(adaptive, sender_spins_for_rx_space, conf_params_backends)
{
	uint64_t spins, sleeps;

	stream_to_sink(p, CLCP_SPIN_MAX_US, &spins, &sleeps);
	cr_assert_gt(spins, 0, "[%s] the stream never waited for Rx space", p->backend);
	cr_assert_eq(sleeps, 0, "[%s] slept though the receiver drains within 1 s", p->backend);
	stream_to_sink(p, 0, &spins, &sleeps);
	cr_assert_eq(spins, 0, "[%s] spun without a budget", p->backend);
	cr_assert_gt(sleeps, 0, "[%s] the stream never waited for Rx space", p->backend);
}
