/* SPDX-License-Identifier: MIT */
/* clcp_pingpong: failing cleanly, CPUs and forked peers, buffers. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pp.h"

/* --- failing: a clear message, and never leave the peer behind --- */

volatile pid_t peer_pid;
const char *side = "";

void report_peer_status(int status)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		fprintf(stderr, PROG ": peer process exited with status %d\n", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		fprintf(stderr, PROG ": peer process killed by signal %d (%s)\n", WTERMSIG(status),
			strsignal(WTERMSIG(status)));
}

/* Gives the peer half a second to report its own error, then kills it. */
static void reap_peer(void)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int status;

	if (peer_pid <= 0)
		return;
	for (int i = 0; i < 50; i++) {
		if (waitpid(peer_pid, &status, WNOHANG) == peer_pid)
			goto reaped;
		nanosleep(&tick, NULL);
	}
	kill(peer_pid, SIGKILL);
	if (waitpid(peer_pid, &status, 0) != peer_pid)
		return;
reaped:
	peer_pid = 0;
	report_peer_status(status);
}

_Noreturn void fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, PROG "%s: ", side);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	reap_peer();
	exit(1);
}

_Noreturn void fail_clcp(const char *call, long err)
{
	const char *detail = clcp_errmsg();

	fail("%s: %s%s%s%s", call, clcp_strerror((int)err), *detail ? " (" : "", detail,
	     *detail ? ")" : "");
}

const char *volatile in_call = "";

static void write_err(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	if (write(STDERR_FILENO, s, n) < 0) {
		/* nothing more to do */
	}
}

static void on_alarm(int sig)
{
	(void)sig;
	write_err(PROG ": timed out in ");
	write_err(*in_call ? in_call : "the benchmark");
	write_err(": the other end is stuck or gone\n");
	if (peer_pid > 0)
		kill(peer_pid, SIGKILL);
	_exit(3);
}

void install_alarm(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
}

/* --- CPUs and forked peers --- */

/* The first two CPUs this process may run on; returns how many found. */
int pick_cpus(int cpu[2])
{
	cpu_set_t set;
	int n = 0;

	cpu[0] = cpu[1] = -1;
	if (sched_getaffinity(0, sizeof set, &set) != 0)
		return 0;
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &set))
			cpu[n++] = c;
	return n;
}

void pin_to(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0)
		fprintf(stderr, PROG ": cannot pin to CPU %d: %s\n", cpu, strerror(errno));
}

/*
 * Spinning ends that share a CPU with other runnable tasks wait a whole
 * scheduler slice per round trip: say so before the figures mislead.
 */
void warn_if_busy(void)
{
	FILE *f = fopen("/proc/loadavg", "r");
	int running = 0, total = 0;

	if (f == NULL)
		return;
	if (fscanf(f, "%*f %*f %*f %d/%d", &running, &total) == 2 && running > 1)
		fprintf(stderr,
			PROG ": warning: %d other tasks are runnable; "
			     "figures will be noisy (see /proc/loadavg)\n",
			running - 1);
	fclose(f);
}

/* A forked helper dies with its parent. */
void die_with_parent(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
}

/*
 * Forks a peer pinned to cpu that dies with this process; returns 0 in the
 * child. A failure of this process reaps it.
 */
pid_t fork_peer(int cpu)
{
	pid_t parent = getpid(), pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		die_with_parent(parent);
		pin_to(cpu);
		return 0;
	}
	peer_pid = pid;
	return pid;
}

/* Waits for the peer to exit; fails unless it exited with status 0. */
void wait_peer(pid_t pid, unsigned timeout_s)
{
	int status;

	alarm(timeout_s);
	if (waitpid(pid, &status, 0) != pid)
		fail("waitpid: %s", strerror(errno));
	alarm(0);
	peer_pid = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		report_peer_status(status);
		exit(1);
	}
}

/* --- buffers and payload checks --- */

void *xalloc(size_t n)
{
	size_t page = 4096, len = (n + page - 1) / page * page;
	void *p = aligned_alloc(page, len ? len : page);

	if (p == NULL)
		fail("out of memory (%zu bytes)", n);
	memset(p, 0, len); /* fault the pages in before timing */
	return p;
}

static unsigned char pattern_byte(size_t k, unsigned iter)
{
	return (unsigned char)(k * 131u + iter * 29u + 7u);
}

void fill_pattern(unsigned char *buf, size_t len, unsigned iter)
{
	for (size_t k = 0; k < len; k++)
		buf[k] = pattern_byte(k, iter);
}

void verify_pattern(const unsigned char *buf, size_t len, unsigned iter, const char *where)
{
	for (size_t k = 0; k < len; k++)
		if (buf[k] != pattern_byte(k, iter))
			fail("%s: payload corrupted at byte %zu of %zu "
			     "(iteration %u): got 0x%02x, expected 0x%02x",
			     where, k, len, iter, buf[k], pattern_byte(k, iter));
}

bool check_iter(bool check, unsigned i)
{
	return check && i % CHECK_EVERY == 0;
}
