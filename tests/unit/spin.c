// SPDX-License-Identifier: MIT
/*
 * The adaptive spin budget's policy (src/spin.c), fed made-up waits: what
 * each observation does to the budget, with run-queue pressure stubbed.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

#define US 1000u

static bool pressured;

static bool stub_probe(struct clcp__spin *s, uint64_t now)
{
	(void)s;
	(void)now;
	return pressured;
}

static struct clcp__spin adaptive(int32_t max_us)
{
	struct clcp_endpt_attr a;
	struct clcp__spin s = { .pressure_probe = stub_probe };

	clcp_endpt_attr_init(&a);
	a.spin_us = CLCP_SPIN_ADAPTIVE;
	a.spin_max_us = max_us;
	clcp__spin_init(&s, &a);
	pressured = false;
	return s;
}

Test(spin, starts_at_a_quarter_of_the_largest_budget)
{
	struct clcp__spin s = adaptive(100);

	cr_assert_eq(s.budget_ns, 25 * US);
	cr_assert(s.adaptive);
}

Test(spin, caught_waits_bring_the_budget_near_four_gaps)
{
	struct clcp__spin s = adaptive(100);

	for (int i = 0; i < 200; i++)
		clcp__spin_done(&s, 3 * US, true);
	cr_assert_eq(s.hits, 200);
	cr_assert_geq(s.budget_ns, 11 * US, "budget %lu", (unsigned long)s.budget_ns);
	cr_assert_leq(s.budget_ns, 12100, "budget %lu", (unsigned long)s.budget_ns);
	for (int i = 0; i < 200; i++)
		clcp__spin_done(&s, 100, true);
	cr_assert_eq(s.budget_ns, 10 * US, "never below 10 us (a wake-up) while spinning pays");
}

Test(spin, a_hit_the_fast_path_owes_is_told_once_at_the_next_wait)
{
	struct clcp__spin s = adaptive(100);

	s.budget_ns = 50 * US;
	s.hit_ns = 3 * US;
	s.hit_owed = true;
	cr_assert_eq(s.hits, 0, "not told while the frame goes to its caller");
	clcp__spin_begin(&s);
	cr_assert_eq(s.hits, 1);
	cr_assert_not(s.hit_owed);
	cr_assert_lt(s.budget_ns, 50 * US, "the hit decays the budget toward four gaps");
	clcp__spin_settle(&s);
	cr_assert_eq(s.hits, 1, "told once");
}

Test(spin, long_blocked_waits_stop_the_spinning)
{
	struct clcp__spin s = adaptive(100);

	for (int i = 0; i < 7; i++)
		clcp__spin_done(&s, 5000 * US, false);
	cr_assert_eq(s.budget_ns, 0);
	cr_assert_eq(s.misses, 7);
}

Test(spin, a_wait_more_spin_would_have_caught_grows_it)
{
	struct clcp__spin s = adaptive(100);

	clcp__spin_done(&s, 60 * US, false); /* spun 25, slept 35 */
	cr_assert_eq(s.budget_ns, 50 * US);
	clcp__spin_done(&s, 90 * US, false);
	cr_assert_eq(s.budget_ns, 100 * US, "capped at spin_max_us");
	for (int i = 0; i < 20; i++)
		clcp__spin_done(&s, 5000 * US, false);
	cr_assert_eq(s.budget_ns, 0);
	clcp__spin_done(&s, 40 * US, false);
	cr_assert_eq(s.budget_ns, 2 * US, "from 0 it starts again at 2 us");
}

Test(spin, a_frame_right_after_blocking_is_not_pressure_by_itself)
{
	struct clcp__spin s = adaptive(100);

	clcp__spin_done(&s, 28 * US, false); /* spun 25, came 3 us after */
	cr_assert_eq(s.pressured, 0, "only the run-queue probe tells pressure");
	cr_assert_eq(s.budget_ns, 50 * US, "grows: more spin would have caught it");
}

Test(spin, run_queue_pressure_holds_the_budget_low)
{
	struct clcp__spin s = adaptive(100);

	pressured = true;
	clcp__spin_done(&s, 60 * US, false);
	cr_assert_eq(s.pressured, 1);
	cr_assert_eq(s.budget_ns, 2 * US, "quartered, held at 2 us");
	pressured = false;
	clcp__spin_done(&s, 50 * US, false);
	cr_assert_eq(s.budget_ns, 1 * US, "held low: shrinks instead of growing");
	for (int i = 0; i < 30; i++)
		clcp__spin_done(&s, 1 * US, true);
	cr_assert_leq(s.budget_ns, 2 * US, "at most 2 us for a while");
	for (int i = 0; i < 100; i++)
		clcp__spin_done(&s, 10 * US, true);
	cr_assert_geq(s.budget_ns, 35 * US, "free again: four gaps");
}

Test(spin, a_fixed_budget_stays_put)
{
	struct clcp_endpt_attr a;
	struct clcp__spin s = { .pressure_probe = stub_probe };

	clcp_endpt_attr_init(&a);
	a.spin_us = 70;
	clcp__spin_init(&s, &a);
	pressured = true;
	clcp__spin_done(&s, 5000 * US, false);
	clcp__spin_done(&s, 1 * US, true);
	cr_assert_eq(s.budget_ns, 70 * US);
	cr_assert_eq(s.hits, 1);
	cr_assert_eq(s.misses, 1);
}

/* --- the real probe: this thread's run-queue wait (schedstat) --- */

#define BUSY_MS 60u

static void busy_ms(unsigned ms)
{
	uint64_t end = clcp__now_ns() + (uint64_t)ms * 1000000u;

	while (clcp__now_ns() < end)
		;
}

static void *rival(void *arg)
{
	(void)arg;
	busy_ms(3 * BUSY_MS); /* outlasts the prober's BUSY_MS of CPU */
	return NULL;
}

/* Pressure after busy_ms(BUSY_MS) on one CPU that two busy rival threads share. */
static bool pressure_with_rivals(void)
{
	struct clcp__spin s = { 0 };
	cpu_set_t was, one;
	pthread_t t[2];
	bool p;

	cr_assert_eq(sched_getaffinity(0, sizeof(was), &was), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	cr_assert_not(clcp__spin_pressure(&s, clcp__now_ns()), "the first look is the baseline");
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, rival, NULL), 0);
	busy_ms(BUSY_MS); /* a third of the CPU: waits twice that */
	p = clcp__spin_pressure(&s, clcp__now_ns());
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	sched_setaffinity(0, sizeof(was), &was);
	cr_log_info("run delay %llu ns, pressure %d", (unsigned long long)s.delay_ns, p);
	clcp__spin_fini(&s);
	return p;
}

/* The schedstat file s reads: 1 when it is the calling thread's own. */
static int reads_own_schedstat(struct clcp__spin *s)
{
	char link[64], path[PATH_MAX], want[64];
	ssize_t n;

	clcp__spin_pressure(s, clcp__now_ns());
	snprintf(link, sizeof(link), "/proc/self/fd/%d", s->sched_fd1 - 1);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return 0;
	path[n] = '\0';
	snprintf(want, sizeof(want), "/proc/%d/task/%d/schedstat", (int)getpid(), (int)gettid());
	return strcmp(path, want) == 0;
}

Test(spin, a_forked_child_reads_its_own_run_queue_wait)
{
	struct clcp__spin s = { 0 };
	int status;
	pid_t pid;

	cr_assert(reads_own_schedstat(&s), "the parent reads its own");
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(reads_own_schedstat(&s) ? 0 : 1);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the child read the parent thread's schedstat");
	clcp__spin_fini(&s);
}

Test(spin, a_thread_kept_off_its_cpu_sees_pressure)
{
	cr_assert(pressure_with_rivals(), "two rivals shared the CPU for %u ms", BUSY_MS);
}

/*
 * A thread that slept through the span waited for a CPU once, at its
 * wake-up: far less than an eighth of 200 ms, even on a busy machine.
 */
Test(spin, a_thread_that_slept_sees_none)
{
	struct clcp__spin s = { 0 };
	struct timespec ts = { 0, 200000000L };

	cr_assert_not(clcp__spin_pressure(&s, clcp__now_ns()), "the first look is the baseline");
	nanosleep(&ts, NULL);
	cr_assert_not(clcp__spin_pressure(&s, clcp__now_ns()));
	clcp__spin_fini(&s);
}
