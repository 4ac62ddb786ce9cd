// SPDX-License-Identifier: MIT
/*
 * clcp_alltoall: every pair of ranks of a job exchanges messages of several
 * sizes, each checked byte for byte. Started by a process manager (mpirun
 * -np N, srun -n N): the udp backend's bootstrap gives each process its
 * node, base_node + rank (docs/cluster.md).
 *
 * Order: the pairs (a, b), a < b, in one global order, round after round;
 * in each pair a sends, b echoes its own message back, size by size. Every
 * rank meets its pairs in that order, so no send waits in a cycle.
 *
 * With --die D, rank D kills itself (SIGKILL) after the first round; every
 * other rank must then see its calls to D fail (-ECONNRESET within dead_ms,
 * at once when the peer's host answers with ICMP), go on with the others,
 * and say so. Exit status 0 only if every message arrived intact and the
 * only failures were D's.
 *
 *   clcp_alltoall [--backend URI] [--size N] [--base-node B] [--rounds R]
 *                 [--max-size BYTES] [--die D] [--timeout-ms MS]
 *
 * N comes from --size, else the launcher's environment (OMPI_COMM_WORLD_SIZE,
 * SLURM_NTASKS or SLURM_NPROCS, PMI_SIZE). Output: one line per rank, "rank R of N: ok ...".
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <clcp/clcp.h>

#define PROG "clcp_alltoall"
#define PORT 1000 /* rank r talks to rank p from port 1000 + p to port 1000 + r */
#define NSIZES 8
#define MAX_RANKS 4096 /* ports 1000..5095 */

static const uint32_t sizes[NSIZES] = { 1, 100, 1436, 1437, 8191, 65536, 300000, 1u << 20 };

struct opts {
	const char *backend;
	uint32_t size, base, rounds, max_size;
	long die; /* -1: nobody */
	int32_t timeout_ms;
};

struct job {
	struct opts o;
	uint32_t me;
	clcp_dev_t *dev;
	clcp_endpt_t *ep;
	int *chan;  /* by rank */
	bool *lost; /* by rank: failed as --die said */
	unsigned char *buf, *want;
	uint64_t msgs, bytes;
	long lost_ms; /* how long the first failing call to the dead rank took */
};

static _Noreturn void die_usage(const char *why)
{
	fprintf(stderr,
		PROG ": %s\nusage: " PROG " [--backend URI] [--size N] [--base-node B] "
		     "[--rounds R] [--max-size BYTES] [--die RANK] [--timeout-ms MS]\n",
		why);
	exit(2);
}

static uint32_t num(const char *s, uint32_t max, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || !*s || s[0] == '-' || v > max)
		die_usage(what);
	return (uint32_t)v;
}

/* The job size the launcher gave, or 0. */
static uint32_t env_size(void)
{
	static const char *const names[] = { "OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS", "SLURM_NPROCS",
					     "PMI_SIZE" };

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *s = getenv(names[i]);

		if (s && *s)
			return num(s, MAX_RANKS, "job size in the environment out of range");
	}
	return 0;
}

static void opts_parse(struct opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "size", required_argument, NULL, 'n' },
		{ "base-node", required_argument, NULL, 'B' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "max-size", required_argument, NULL, 'm' },
		{ "die", required_argument, NULL, 'd' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct opts){
		.backend = "udp", .rounds = 2, .max_size = 1u << 20, .die = -1, .timeout_ms = 60000
	};
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'b')
			o->backend = optarg;
		else if (c == 'n')
			o->size = num(optarg, MAX_RANKS, "--size: 1..4096");
		else if (c == 'B')
			o->base = num(optarg, UINT32_MAX - MAX_RANKS, "--base-node: out of range");
		else if (c == 'r')
			o->rounds = num(optarg, 1000, "--rounds: 1..1000");
		else if (c == 'm')
			o->max_size = num(optarg, 1u << 30, "--max-size: at most 1 GiB");
		else if (c == 'd')
			o->die = num(optarg, MAX_RANKS, "--die: a rank");
		else if (c == 't')
			o->timeout_ms = (int32_t)num(optarg, 3600000, "--timeout-ms: 1..3600000");
		else
			die_usage("unknown option");
	}
	if (optind < argc)
		die_usage("unexpected argument");
	if (!o->size)
		o->size = env_size();
	if (o->size < 2 || o->rounds == 0 || o->timeout_ms == 0)
		die_usage(
			"want --size (or a launcher's job size) >= 2, --rounds and --timeout-ms >= 1");
	if (o->die >= 0 && (o->die >= (long)o->size || o->rounds < 2))
		die_usage("--die: a rank below the job size, and --rounds >= 2");
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* The bytes of the message from src to dst, of len, in round r. */
static void fill(unsigned char *p, uint32_t len, uint32_t src, uint32_t dst, uint32_t r)
{
	uint64_t x = 0x9e3779b97f4a7c15ull * (1 + src + ((uint64_t)dst << 16) +
					      ((uint64_t)r << 32) + ((uint64_t)len << 44));

	for (uint32_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)x;
	}
}

static int fail(struct job *j, const char *what, uint32_t peer, long rc)
{
	fprintf(stderr, PROG ": rank %u: %s, peer rank %u: %s (%s)\n", j->me, what, peer,
		clcp_strerror((int)rc), clcp_errmsg());
	return (int)rc;
}

/* A failed call to peer: the dead rank's is expected (once), any other fails the run. */
static int peer_error(struct job *j, const char *what, uint32_t peer, long rc, long t0)
{
	if (peer != j->o.die || !(rc == -ECONNRESET || rc == -ECONNREFUSED))
		return fail(j, what, peer, rc);
	j->lost[peer] = true;
	j->lost_ms = now_ms() - t0;
	printf(PROG ": rank %u: lost rank %u as expected: %s: %s after %ld ms\n", j->me, peer, what,
	       clcp_strerror((int)rc), j->lost_ms);
	fflush(stdout);
	return 0;
}

static int send_one(struct job *j, uint32_t peer, uint32_t len, uint32_t r)
{
	long t0 = now_ms();
	ssize_t n;

	fill(j->buf, len, j->me, peer, r);
	n = clcp_snd_message(j->ep, j->chan[peer], j->buf, len, 0);
	if (n < 0)
		return peer_error(j, "clcp_snd_message", peer, n, t0);
	j->msgs++;
	return 0;
}

static int recv_one(struct job *j, uint32_t peer, uint32_t len, uint32_t r)
{
	long t0 = now_ms();
	int chan = j->chan[peer];
	ssize_t n = clcp_rcv_message(j->ep, &chan, j->buf, len, 0);

	if (n < 0)
		return peer_error(j, "clcp_rcv_message", peer, n, t0);
	fill(j->want, len, peer, j->me, r);
	if ((uint32_t)n != len || memcmp(j->buf, j->want, len) != 0) {
		fprintf(stderr,
			PROG ": rank %u: from rank %u, round %u: got %zd bytes, want %u%s\n", j->me,
			peer, r, n, len, (uint32_t)n == len ? ", contents differ" : "");
		return -EPROTO;
	}
	j->msgs++;
	j->bytes += len;
	return 0;
}

/* One pair, every size: the lower rank sends first, the higher echoes. */
static int pair(struct job *j, uint32_t peer, uint32_t r)
{
	int rc = 0;

	for (unsigned s = 0; s < NSIZES && rc == 0 && !j->lost[peer]; s++) {
		if (sizes[s] > j->o.max_size)
			break;
		if (j->me < peer) {
			rc = send_one(j, peer, sizes[s], r);
			if (rc == 0 && !j->lost[peer])
				rc = recv_one(j, peer, sizes[s], r);
		} else {
			rc = recv_one(j, peer, sizes[s], r);
			if (rc == 0 && !j->lost[peer])
				rc = send_one(j, peer, sizes[s], r);
		}
	}
	return rc;
}

static int round_run(struct job *j, uint32_t r)
{
	uint32_t n = j->o.size;
	int rc = 0;

	for (uint32_t a = 0; a < n && rc == 0; a++)
		for (uint32_t b = a + 1; b < n && rc == 0; b++)
			if (a == j->me || b == j->me)
				rc = pair(j, a == j->me ? b : a, r);
	return rc;
}

static int job_open(struct job *j)
{
	struct clcp_endpt_attr attr;
	int rc = clcp_open(j->o.backend, &j->dev);

	if (rc < 0) {
		fprintf(stderr, PROG ": clcp_open(%s): %s (%s)\n", j->o.backend, clcp_strerror(rc),
			clcp_errmsg());
		return rc;
	}
	j->me = clcp_dev_node(j->dev) - j->o.base;
	if (clcp_dev_node(j->dev) < j->o.base || j->me >= j->o.size) {
		fprintf(stderr, PROG ": node %u is not base %u + a rank below %u\n",
			clcp_dev_node(j->dev), j->o.base, j->o.size);
		return -EINVAL;
	}
	clcp_endpt_attr_init(&attr);
	attr.timeout_ms = j->o.timeout_ms;
	rc = clcp_alloc_endpt(j->dev, &attr, &j->ep);
	if (rc < 0)
		return fail(j, "clcp_alloc_endpt", j->me, rc);
	for (uint32_t p = 0; p < j->o.size; p++) {
		if (p == j->me)
			continue;
		j->chan[p] = clcp_alloc_chan(j->ep, (uint16_t)(PORT + p), j->o.base + p,
					     (uint16_t)(PORT + j->me));
		if (j->chan[p] < 0)
			return fail(j, "clcp_alloc_chan", p, j->chan[p]);
	}
	return 0;
}

static int report(struct job *j, int rc, long t0)
{
	if (rc == 0 && j->o.die >= 0 && j->me != j->o.die && !j->lost[j->o.die]) {
		fprintf(stderr, PROG ": rank %u: rank %ld was to die but never failed a call\n",
			j->me, j->o.die);
		rc = -EPROTO;
	}
	if (rc < 0)
		return 1;
	printf(PROG ": rank %u of %u: ok: %llu messages, %llu bytes checked, %u rounds, "
		    "%ld ms%s\n",
	       j->me, j->o.size, (unsigned long long)j->msgs, (unsigned long long)j->bytes,
	       j->o.rounds, now_ms() - t0, j->o.die >= 0 ? ", one rank lost as expected" : "");
	return 0;
}

int main(int argc, char **argv)
{
	struct job j = { .lost_ms = 0 };
	long t0 = now_ms();
	int rc;

	opts_parse(&j.o, argc, argv);
	j.chan = calloc(j.o.size, sizeof(*j.chan));
	j.lost = calloc(j.o.size, sizeof(*j.lost));
	j.buf = malloc(j.o.max_size ? j.o.max_size : 1);
	j.want = malloc(j.o.max_size ? j.o.max_size : 1);
	if (!j.chan || !j.lost || !j.buf || !j.want) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	rc = job_open(&j);
	for (uint32_t r = 0; r < j.o.rounds && rc == 0; r++) {
		rc = round_run(&j, r);
		if (rc == 0 && r == 0 && (long)j.me == j.o.die) {
			printf(PROG ": rank %u: dying now (--die)\n", j.me);
			fflush(stdout);
			raise(SIGKILL);
		}
	}
	rc = report(&j, rc, t0);
	if (j.dev)
		clcp_close(j.dev);
	free(j.chan);
	free(j.lost);
	free(j.buf);
	free(j.want);
	return rc;
}
