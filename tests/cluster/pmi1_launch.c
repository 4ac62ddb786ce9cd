// SPDX-License-Identifier: MIT
/*
 * pmi1_launch NP PROGRAM [ARGS...]: a launcher that speaks the PMI-1 wire
 * protocol (as MPICH's hydra does), to test the udp backend's pmi1
 * bootstrap without hydra. It starts NP copies of PROGRAM, each with a
 * socket of its own in PMI_FD and PMI_RANK, PMI_SIZE set (and no PMIx
 * variables), and answers init, get_maxes, get_my_kvsname, put, get,
 * barrier_in and finalize. Exit status 0 only if every copy exited 0 and
 * had finalized; 60 s at most (then the copies are killed).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROG "pmi1_launch"
#define MAX_NP 64
#define MAX_KV 4096
#define LINE_LEN 1024
#define LIMIT_S 60

struct rank {
	int fd; /* -1: closed */
	pid_t pid;
	char buf[LINE_LEN];
	size_t len;
	bool in_barrier, finalized;
};

static struct rank ranks[MAX_NP];
static unsigned np;
static char *keys[MAX_KV], *vals[MAX_KV];
static unsigned nkv;

static void reply(struct rank *r, const char *line)
{
	size_t n = strlen(line);

	if (write(r->fd, line, n) != (ssize_t)n)
		fprintf(stderr, PROG ": reply to pid %d: %s\n", (int)r->pid, strerror(errno));
}

/* The value of key in a request ("" if absent), into out. */
static void field(const char *line, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);

	out[0] = '\0';
	for (const char *p = strstr(line, key); p; p = strstr(p + klen, key))
		if ((p == line || p[-1] == ' ') && p[klen] == '=') {
			snprintf(out, cap, "%.*s", (int)strcspn(p + klen + 1, " \n"), p + klen + 1);
			return;
		}
}

static void put(struct rank *r, const char *line)
{
	char k[LINE_LEN], v[LINE_LEN];

	field(line, "key", k, sizeof(k));
	field(line, "value", v, sizeof(v));
	if (nkv == MAX_KV || !k[0]) {
		reply(r, "cmd=put_result rc=-1 msg=full_or_no_key\n");
		return;
	}
	keys[nkv] = strdup(k);
	vals[nkv++] = strdup(v);
	reply(r, "cmd=put_result rc=0 msg=success\n");
}

static void get(struct rank *r, const char *line)
{
	char k[LINE_LEN], out[2 * LINE_LEN];

	field(line, "key", k, sizeof(k));
	for (unsigned i = 0; i < nkv; i++)
		if (strcmp(keys[i], k) == 0) {
			snprintf(out, sizeof(out), "cmd=get_result rc=0 msg=success value=%s\n",
				 vals[i]);
			reply(r, out);
			return;
		}
	reply(r, "cmd=get_result rc=-1 msg=key_not_found\n");
}

/* Everyone still connected is in the barrier: let them all out. */
static void barrier_check(void)
{
	unsigned in = 0, live = 0;

	for (unsigned i = 0; i < np; i++) {
		live += ranks[i].fd >= 0;
		in += ranks[i].fd >= 0 && ranks[i].in_barrier;
	}
	if (live == 0 || in < live)
		return;
	for (unsigned i = 0; i < np; i++)
		if (ranks[i].fd >= 0 && ranks[i].in_barrier) {
			ranks[i].in_barrier = false;
			reply(&ranks[i], "cmd=barrier_out\n");
		}
}

static void handle(struct rank *r, const char *line)
{
	char cmd[64];

	field(line, "cmd", cmd, sizeof(cmd));
	if (strcmp(cmd, "init") == 0)
		reply(r, "cmd=response_to_init pmi_version=1 pmi_subversion=1 rc=0\n");
	else if (strcmp(cmd, "get_maxes") == 0)
		reply(r, "cmd=maxes kvsname_max=256 keylen_max=256 vallen_max=1024\n");
	else if (strcmp(cmd, "get_my_kvsname") == 0)
		reply(r, "cmd=my_kvsname kvsname=pmi1_launch_kvs\n");
	else if (strcmp(cmd, "put") == 0)
		put(r, line);
	else if (strcmp(cmd, "get") == 0)
		get(r, line);
	else if (strcmp(cmd, "barrier_in") == 0)
		r->in_barrier = true;
	else if (strcmp(cmd, "finalize") == 0 && (r->finalized = true))
		reply(r, "cmd=finalize_ack\n");
	else
		fprintf(stderr, PROG ": unknown request \"%s\"\n", line);
}

/* Reads what rank r sent; handles each whole line. */
static void input(struct rank *r)
{
	ssize_t n = read(r->fd, r->buf + r->len, sizeof(r->buf) - 1 - r->len);
	char *nl;

	if (n <= 0) {
		close(r->fd);
		r->fd = -1;
		return;
	}
	r->len += (size_t)n;
	r->buf[r->len] = '\0';
	while ((nl = strchr(r->buf, '\n')) != NULL) {
		*nl = '\0';
		handle(r, r->buf);
		r->len -= (size_t)(nl + 1 - r->buf);
		memmove(r->buf, nl + 1, r->len + 1);
	}
}

static void start(unsigned i, char **argv)
{
	int sv[2];
	char v[16];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		perror(PROG ": socketpair");
		exit(1);
	}
	ranks[i].pid = fork();
	if (ranks[i].pid == 0) {
		close(sv[0]);
		snprintf(v, sizeof(v), "%d", sv[1]);
		setenv("PMI_FD", v, 1);
		snprintf(v, sizeof(v), "%u", i);
		setenv("PMI_RANK", v, 1);
		snprintf(v, sizeof(v), "%u", np);
		setenv("PMI_SIZE", v, 1);
		unsetenv("PMIX_RANK");
		unsetenv("PMIX_NAMESPACE");
		execvp(argv[0], argv);
		perror(PROG ": exec");
		_exit(127);
	}
	close(sv[1]);
	ranks[i].fd = sv[0];
}

static void serve(void)
{
	struct pollfd pfd[MAX_NP];
	unsigned live;

	do {
		live = 0;
		for (unsigned i = 0; i < np; i++) {
			pfd[i].fd = ranks[i].fd;
			pfd[i].events = POLLIN;
			live += ranks[i].fd >= 0;
		}
		if (live && poll(pfd, np, -1) > 0)
			for (unsigned i = 0; i < np; i++)
				if (ranks[i].fd >= 0 && pfd[i].revents)
					input(&ranks[i]);
		barrier_check();
	} while (live);
}

static void on_alarm(int sig)
{
	(void)sig;
	for (unsigned i = 0; i < np; i++)
		kill(ranks[i].pid, SIGKILL);
	_exit(3);
}

int main(int argc, char **argv)
{
	int bad = 0;

	if (argc < 3 || atoi(argv[1]) < 1 || atoi(argv[1]) > MAX_NP) {
		fprintf(stderr, "usage: " PROG " NP(1..%d) PROGRAM [ARGS...]\n", MAX_NP);
		return 2;
	}
	np = (unsigned)atoi(argv[1]);
	signal(SIGALRM, on_alarm);
	alarm(LIMIT_S);
	for (unsigned i = 0; i < np; i++)
		start(i, argv + 2);
	serve();
	for (unsigned i = 0; i < np; i++) {
		int st = 0;

		waitpid(ranks[i].pid, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !ranks[i].finalized) {
			fprintf(stderr, PROG ": rank %u: status 0x%x%s\n", i, st,
				ranks[i].finalized ? "" : ", never finalized");
			bad = 1;
		}
	}
	printf(PROG ": %u ranks, %u keys put: %s\n", np, nkv, bad ? "FAILED" : "all ok");
	return bad;
}
