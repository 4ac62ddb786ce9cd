/* SPDX-License-Identifier: MIT */
/*
 * Spin-then-block for the interrupt group's waits: a fixed budget, or an
 * adaptive one. Adaptive: spinning that catches arrivals keeps the budget
 * near a few times the usual gap; a wait that blocked and was woken within
 * the largest budget says more spinning would have paid (grow); a longer one
 * says it was waste (halve). Run-queue pressure (this thread kept waiting
 * for a CPU while runnable: preempted, or woken and not run) cuts it and
 * holds it low for a while: then spinning takes the CPU from the very peer
 * it waits for.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define SPIN_MIN_NS 500u     /* smallest budget that still spins */
#define SPIN_GROW_NS 2000u   /* first step up from 0 */
#define SPIN_HIT_MIN_NS 10000u /* while spinning pays: about a wake-up across CPUs */
#define SPIN_JUMP_NS 50000u  /* a clock jump this large while spinning: preempted */
#define SPIN_CALM_WAITS 64u  /* waits held low after pressure */

uint64_t clcp__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * This thread's schedstat (/proc/thread-self), opened once per thread that
 * asks; a forked child has the parent's thread handle, so the pid counts too.
 */
static int sched_fd(struct clcp__spin *s)
{
	pthread_t self = pthread_self();
	pid_t pid = getpid();

	if (s->sched_fd1 && pthread_equal(s->sched_thread, self) && s->sched_pid == pid)
		return s->sched_fd1 - 1;
	clcp__spin_fini(s);
	s->sched_fd1 = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC) + 1;
	s->sched_thread = self;
	s->sched_pid = pid;
	return s->sched_fd1 - 1;
}

/* Time this thread has waited on a run queue, runnable (ns; 0 when unknown). */
static uint64_t run_delay_ns(struct clcp__spin *s)
{
	char buf[96], *end;
	int fd = sched_fd(s);
	ssize_t n;

	if (fd < 0 || (n = pread(fd, buf, sizeof(buf) - 1, 0)) <= 0)
		return 0;
	buf[n] = '\0';
	strtoull(buf, &end, 10); /* time on the CPU; the run-queue wait follows */
	return strtoull(end, NULL, 10);
}

/*
 * Kept off the CPU while runnable for half the time since the last look,
 * and 50 us at least: a crowded machine, not a peer thread's turns (udp's
 * progress threads alone make a quarter when they stream).
 */
bool clcp__spin_pressure(struct clcp__spin *s, uint64_t now)
{
	uint64_t delay = run_delay_ns(s), waited = delay - s->delay_ns;
	uint64_t span = now - s->delay_seen;
	bool known = s->delay_seen != 0 && delay >= s->delay_ns;

	s->delay_ns = delay;
	s->delay_seen = now;
	return known && waited >= SPIN_JUMP_NS && waited * 2 >= span;
}

void clcp__spin_fini(struct clcp__spin *s)
{
	if (s->sched_fd1 > 0)
		close(s->sched_fd1 - 1);
	s->sched_fd1 = 0;
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
	clcp__spin_settle(s); /* a hit still owed counts, under the old settings */
	s->gap_ns = 0; /* the counters go on */
	s->calm = 0;
	wait_reset(s);
	s->adaptive = a->spin_us == CLCP_SPIN_ADAPTIVE;
	s->max_ns = (uint64_t)a->spin_max_us * 1000u;
	s->budget_ns = s->adaptive ? s->max_ns / 4 : (uint64_t)a->spin_us * 1000u;
	if (!s->pressure_probe)
		s->pressure_probe = clcp__spin_pressure;
	if (s->adaptive)
		s->pressure_probe(s, clcp__now_ns()); /* the baseline */
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

/* Tells the policy a hit the fast path owed it (off the frame's way to its caller). */
void clcp__spin_settle(struct clcp__spin *s)
{
	if (!s->hit_owed)
		return;
	s->hit_owed = false;
	clcp__spin_done(s, s->hit_ns, true);
}

void clcp__spin_begin(struct clcp__spin *s)
{
	clcp__spin_settle(s);
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
	set_budget(s, decayed > SPIN_HIT_MIN_NS ? decayed : SPIN_HIT_MIN_NS);
}

/*
 * Grow if more spin would have caught it, shrink if not, and shrink while
 * held low. Whether our spinning kept the sender off our CPU is the
 * run-queue probe's to say: a frame that comes right after we block may
 * just as well be one the wake-up path brought (udp: its progress thread).
 */
static void after_block(struct clcp__spin *s, uint64_t waited_ns)
{
	if (s->calm || waited_ns > s->max_ns)
		set_budget(s, s->budget_ns / 2);
	else
		set_budget(s, s->budget_ns ? 2 * s->budget_ns : SPIN_GROW_NS);
}

void clcp__spin_done(struct clcp__spin *s, uint64_t waited_ns, bool hit)
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
		after_block(s, waited_ns);
}
