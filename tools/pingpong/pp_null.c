/* SPDX-License-Identifier: MIT */
/*
 * clcp_pingpong --null N: the paper's "null" processes (section 6), each
 * running for run_ms of CPU time, then blocked for block_ms, over and over,
 * beside the benchmark, unpinned. They start at staggered phases and die
 * with the process that forked them.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pp.h"

static pid_t *nulls;
static unsigned nnulls;
static pid_t owner; /* forked ends inherit the list, not the duty to stop them */

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static _Noreturn void null_loop(unsigned run_ms, unsigned block_ms, unsigned idx, unsigned n)
{
	uint64_t period = ((uint64_t)run_ms + block_ms) * 1000000u;

	sleep_ns(period * idx / n); /* phases spread over one period */
	for (;;) {
		uint64_t end = cpu_ns() + (uint64_t)run_ms * 1000000u;

		while (cpu_ns() < end)
			__asm__ __volatile__("" ::: "memory");
		sleep_ns((uint64_t)block_ms * 1000000u);
	}
}

void nulls_start(const struct opts *o)
{
	pid_t parent = getpid();

	if (o->nulls == 0)
		return;
	owner = parent;
	nulls = calloc(o->nulls, sizeof *nulls);
	if (nulls == NULL)
		fail("out of memory");
	fflush(NULL);
	for (nnulls = 0; nnulls < o->nulls; nnulls++) {
		pid_t pid = fork();

		if (pid < 0)
			fail("fork of null process %u: %s", nnulls, strerror(errno));
		if (pid == 0) {
			die_with_parent(parent);
			null_loop(o->null_run_ms, o->null_block_ms, nnulls, o->nulls);
		}
		nulls[nnulls] = pid;
	}
	atexit(nulls_stop);
}

void nulls_stop(void)
{
	if (getpid() != owner)
		return;
	for (unsigned i = 0; i < nnulls; i++)
		kill(nulls[i], SIGKILL);
	for (unsigned i = 0; i < nnulls; i++)
		waitpid(nulls[i], NULL, 0);
	nnulls = 0;
	free(nulls);
	nulls = NULL;
}
