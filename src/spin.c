/* SPDX-License-Identifier: MIT */
/*
 * Spin-then-block for the interrupt group's waits: a fixed budget, or an
 * adaptive one. Adaptive: spinning that catches arrivals keeps the budget
 * near a few times the usual gap; a wait that blocked and was woken within
 * the largest budget says more spinning would have paid (grow); a longer one
 * says it was waste (halve). Run-queue pressure (this thread preempted, or
 * more runnable threads than CPUs) cuts it and holds it low for a while:
 * then spinning takes the CPU from the very peer it waits for.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define SPIN_MIN_NS 500u     /* smallest budget that still spins */
#define SPIN_GROW_NS 2000u   /* first step up from 0 */
#define SPIN_JUMP_NS 50000u  /* a clock jump this large while spinning: preempted */
#define SPIN_CALM_WAITS 64u  /* waits held low after pressure */
#define LOAD_EVERY_NS 10000000u /* the run queue is looked at every 10 ms */

uint64_t clcp__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long involuntary_switches(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_nivcsw : 0;
}

/* Runnable threads beyond the CPUs, from /proc/loadavg ("0.1 0.2 0.3 R/T P"). */
static bool runqueue_full(void)
{
	static int fd = -2;
	static long ncpu;
	char buf[128], *slash;
	long running, cpus;
	ssize_t n;
	int f = __atomic_load_n(&fd, __ATOMIC_ACQUIRE);

	if (f == -2) {
		int expect = -2;

		__atomic_store_n(&ncpu, sysconf(_SC_NPROCESSORS_ONLN), __ATOMIC_RELEASE);
		f = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
		if (!__atomic_compare_exchange_n(&fd, &expect, f, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE)) {
			if (f >= 0)
				close(f);
			f = expect;
		}
	}
	if (f < 0 || (n = pread(f, buf, sizeof(buf) - 1, 0)) <= 0)
		return false;
	buf[n] = '\0';
	slash = strchr(buf, '/');
	if (!slash)
		return false;
	while (slash > buf && slash[-1] != ' ')
		slash--;
	running = strtol(slash, NULL, 10);
	cpus = __atomic_load_n(&ncpu, __ATOMIC_ACQUIRE);
	return cpus > 0 && running > cpus;
}

/* Preempted since the last look, or a full run queue (at most every 10 ms). */
bool clcp__spin_pressure(struct clcp__spin *s, uint64_t now)
{
	long sw = involuntary_switches();
	bool preempted = sw != s->nivcsw;

	s->nivcsw = sw;
	if (preempted)
		return true;
	if (now - s->load_seen < LOAD_EVERY_NS)
		return false;
	s->load_seen = now;
	return runqueue_full();
}

/* No wait under way. */
static void wait_reset(struct clcp__spin *s)
{
	s->wait_t0 = 0;
	s->blocked = false;
	s->jumped = false;
	s->carried = false;
}

void clcp__spin_init(struct clcp__spin *s, const struct clcp_endpt_attr *a)
{
	s->gap_ns = 0; /* the counters go on */
	s->calm = 0;
	wait_reset(s);
	s->adaptive = a->spin_us == CLCP_SPIN_ADAPTIVE;
	s->max_ns = (uint64_t)a->spin_max_us * 1000u;
	s->budget_ns = s->adaptive ? s->max_ns / 4 : (uint64_t)a->spin_us * 1000u;
	if (s->adaptive)
		s->nivcsw = involuntary_switches();
	if (!s->pressure_probe)
		s->pressure_probe = clcp__spin_pressure;
}

/*
 * Held low: a spinner that stays runnable on a full CPU is preempted and
 * waits a whole scheduling period, where a woken sleeper runs at once.
 */
static uint64_t cap_ns(const struct clcp__spin *s)
{
	uint64_t low = s->max_ns / 16 < SPIN_GROW_NS ? s->max_ns / 16 : SPIN_GROW_NS;

	return s->calm ? low : s->max_ns;
}

static void set_budget(struct clcp__spin *s, uint64_t ns)
{
	uint64_t cap = cap_ns(s);

	ns = ns > cap ? cap : ns;
	s->budget_ns = ns < SPIN_MIN_NS ? 0 : ns;
}

static void pressure(struct clcp__spin *s)
{
	s->pressured++;
	s->calm = SPIN_CALM_WAITS;
	set_budget(s, s->budget_ns / 4);
}

bool clcp__spin_for(struct clcp_endpt *ep, uint64_t ns, uint64_t t0, uint64_t *seen)
{
	const struct clcp_backend_ops *ops = ep->priv->dev->ops;
	uint64_t now, prev = t0;
	unsigned n;

	for (n = 1;; n++) {
		ops->progress(ep);
		if (clcp_rxq_peek(ep))
			break;
		clcp_cpu_relax();
		if (n % 16)
			continue;
		now = clcp__now_ns();
		if (now - prev > SPIN_JUMP_NS)
			ep->priv->spin.jumped = true;
		prev = now;
		if (now - t0 >= ns) {
			*seen = now;
			return false;
		}
	}
	*seen = clcp__now_ns();
	return true;
}

void clcp__spin_carry(struct clcp__spin *s, uint64_t t0)
{
	s->wait_t0 = t0;
	s->blocked = false;
	s->carried = true;
}

void clcp__spin_begin(struct clcp__spin *s)
{
	if (s->carried) /* the fast path spun for this wait */
		s->carried = false;
	else
		wait_reset(s);
}

static void after_hit(struct clcp__spin *s, uint64_t waited_ns)
{
	uint64_t decayed = s->budget_ns - s->budget_ns / 8;

	s->gap_ns = s->gap_ns - s->gap_ns / 8 + waited_ns / 8;
	decayed = decayed > 4 * s->gap_ns ? decayed : 4 * s->gap_ns;
	set_budget(s, decayed > SPIN_GROW_NS ? decayed : SPIN_GROW_NS);
}

/*
 * A frame that comes as soon as we stop spinning was waiting for our CPU
 * (its sender shares it): spinning delayed it. Otherwise grow if more spin
 * would have caught it, shrink if not, and shrink while held low.
 */
static void after_block(struct clcp__spin *s, uint64_t waited_ns, uint64_t blocked_ns)
{
	if (blocked_ns < (waited_ns - blocked_ns) / 2)
		pressure(s);
	else if (s->calm || waited_ns > s->max_ns)
		set_budget(s, s->budget_ns / 2);
	else
		set_budget(s, s->budget_ns ? 2 * s->budget_ns : SPIN_GROW_NS);
}

void clcp__spin_done(struct clcp__spin *s, uint64_t waited_ns, uint64_t blocked_ns, bool hit)
{
	bool jumped = s->jumped;

	wait_reset(s);
	hit ? s->hits++ : s->misses++;
	if (!s->adaptive)
		return;
	if (s->calm)
		s->calm--;
	if (!hit)
		jumped |= s->pressure_probe(s, clcp__now_ns());
	if (jumped)
		pressure(s);
	else if (hit)
		after_hit(s, waited_ns);
	else
		after_block(s, waited_ns, blocked_ns);
}
