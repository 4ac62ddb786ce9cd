/* SPDX-License-Identifier: MIT */
/*
 * clcp_pingpong: latency and bandwidth of CLCP, OSU style.
 *
 * By default one command runs both ends on the loopback backend: the
 * parent is the client (port 4000, CPU 0), a forked child the server (port
 * 4001, CPU 1), each on a node of its own. With --role the two ends run as
 * separate processes, for other backends or hosts.
 *
 * The client drives: before each batch it sends a control message (what to
 * do, size, count); the server obeys until told CTRL_DONE. Latency is half
 * a round trip, every sample kept; bandwidth streams a window of messages
 * one way and waits for a short ack. --floor measures what two processes
 * sharing memory can do at best, in the same run, and prints the ratios.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <clcp/clcp.h>

#define PROG "clcp_pingpong"

#define MAX_SIZES 32
#define MAX_REPEAT 1000
#define DEFAULT_MIN 8
#define DEFAULT_MAX (4u << 20)
#define DEFAULT_ITERS 10000
#define DEFAULT_WARMUP 100
#define DEFAULT_POINT_MS 100
#define DEFAULT_TIMEOUT_S 60
#define SCALE_FROM (16u << 10) /* fewer iterations above this size */
#define LAT_MIN_ITERS 100      /* for p99 to mean something */
#define WARM_MIN 5
#define CHECK_EVERY 16 /* --check verifies iterations i % 16 == 0 */
#define BW_WINDOW 64   /* messages in flight per round (OSU) */
#define BW_WINDOW_BYTES (8u << 20)
#define BW_WARM_ROUNDS 2
#define BW_MIN_ROUNDS 2
#define POINT_CHUNKS 8	/* a size runs in chunks, to stop when time is up */
#define POINT_OVERRUN 2 /* stop a size past this many times its budget */
#define MIN_KEPT 20	/* ... once it has this many samples */
#define BW_MAX_ROUNDS 20000
#define RATIO_BW_FROM (64u << 10) /* bandwidth ratio from this size up */
#define FLOOR_CL_ITERS 20000
#define NODE_A 0
#define NODE_B 1
#define PORT_A 4000
#define PORT_B 4001

enum mode { MODE_POLL, MODE_INTR, NMODES };
enum api { API_MSG, API_FRAME };
enum role { ROLE_BOTH, ROLE_SERVER, ROLE_CLIENT };

static const char *const mode_names[NMODES] = { "poll", "intr" };
static const char *const api_names[] = { "msg", "frame" };

struct opts {
	enum role role;
	unsigned modes; /* bit (1 << enum mode) */
	bool mode_set;
	int floor; /* 1 on, 0 off, -1 default */
	enum api api;
	const char *backend;
	long node, peer_node; /* -1: default for the role */
	long port, peer_port;
	uint64_t min_size, max_size;
	unsigned iters, warmup, repeat, point_ms, timeout_s;
	bool iters_set;
	uint32_t mtu, rxq, txq;
	bool check;
	const char *csv;
	int cpu; /* --cpu, -1: none */
};

/* --- failing: a clear message, and never leave the peer behind --- */

static volatile pid_t peer_pid; /* forked peer to reap on failure (0: none) */
static const char *side = "";	/* " (client)" / " (server)" when forked */

static void report_peer_status(int status)
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

static _Noreturn void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static _Noreturn void fail(const char *fmt, ...)
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

static _Noreturn void fail_clcp(const char *call, long err)
{
	const char *detail = clcp_errmsg();

	fail("%s: %s%s%s%s", call, clcp_strerror((int)err), *detail ? " (" : "", detail,
	     *detail ? ")" : "");
}

/* The CLCP call a timeout interrupts, for the message. */
static const char *volatile in_call = "";

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

static void install_alarm(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
}

/* --- timer: the TSC where there is one, else CLOCK_MONOTONIC --- */

static double ns_per_tick = 1.0;

static uint64_t clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__) || defined(__i386__)
#define TIMER_NAME "tsc"
static uint64_t ticks(void)
{
	return __builtin_ia32_rdtsc();
}
#else
#define TIMER_NAME "clock_gettime"
static uint64_t ticks(void)
{
	return clock_ns();
}
#endif

static double ticks_ns(uint64_t t)
{
	return (double)t * ns_per_tick;
}

/* Calibrates ticks against CLOCK_MONOTONIC over 20 ms. */
static void timer_calibrate(void)
{
	uint64_t n0 = clock_ns(), t0 = ticks(), n1, t1;

	do
		n1 = clock_ns();
	while (n1 - n0 < 20 * 1000 * 1000);
	t1 = ticks();
	ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
}

/* Cost of one timer read, which every sample includes once. */
static double timer_read_ns(void)
{
	uint64_t t0 = ticks(), t = 0;

	for (int i = 0; i < 1000; i++)
		t += ticks();
	__asm__ __volatile__("" : : "r"(t));
	return ticks_ns(ticks() - t0) / 1001.0;
}

/* --- statistics --- */

struct lat {
	double p50, p99, mean; /* one-way ns */
	unsigned n;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile (pct of 100) of n sorted samples. */
static uint64_t percentile(const uint64_t *sorted, unsigned n, unsigned pct)
{
	uint64_t rank = ((uint64_t)n * pct + 99) / 100;

	return sorted[rank == 0 ? 0 : rank - 1];
}

/* One-way latency from round-trip samples (in ticks); sorts them. */
static struct lat lat_from_rtt(uint64_t *rtt, unsigned n)
{
	struct lat l = { 0, 0, 0, n };
	double sum = 0;

	if (n == 0)
		return l;
	qsort(rtt, n, sizeof *rtt, cmp_u64);
	for (unsigned i = 0; i < n; i++)
		sum += (double)rtt[i];
	l.p50 = ticks_ns(percentile(rtt, n, 50)) / 2;
	l.p99 = ticks_ns(percentile(rtt, n, 99)) / 2;
	l.mean = ticks_ns(1) * sum / n / 2;
	return l;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median over n runs of the double at offset off of struct lat. */
static double median_field(const struct lat *runs, unsigned n, size_t off)
{
	double v[MAX_REPEAT];

	for (unsigned i = 0; i < n; i++)
		memcpy(&v[i], (const char *)&runs[i] + off, sizeof v[i]);
	return median(v, n);
}

/* Median of each figure over n repeated runs. */
static struct lat lat_median(const struct lat *runs, unsigned n)
{
	struct lat m = { 0, 0, 0, runs[0].n };

	m.p50 = median_field(runs, n, offsetof(struct lat, p50));
	m.p99 = median_field(runs, n, offsetof(struct lat, p99));
	m.mean = median_field(runs, n, offsetof(struct lat, mean));
	return m;
}

/* --- option parsing --- */

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " [options]\n"
		   "Measures CLCP latency (half a round trip: p50, p99, mean) and\n"
		   "streaming bandwidth. By default runs both ends (fork: loopback\n"
		   "nodes 2*pid and 2*pid+1, CPUs 0 and 1): --mode poll, --mode\n"
		   "intr, then the shared-memory floor and the ratios ours/floor.\n"
		   "  --mode poll|intr|both  polling or interrupt (blocking) calls\n"
		   "  --api msg|frame        message calls (SAR), or one-frame calls\n"
		   "                         (sizes <= MTU) (msg)\n"
		   "  --min SIZE --max SIZE  sizes, powers of two; K, M, G suffixes\n"
		   "                         (8, 4M)\n"
		   "  --iters N              round trips per size, scaled down above\n"
		   "                         16K (10000); without it each size gets\n"
		   "                         at most --point-ms\n"
		   "  --warmup N             untimed round trips first (100)\n"
		   "  --point-ms MS          time budget per size (100)\n"
		   "  --repeat N             run the latency sweep N times, report\n"
		   "                         medians (1)\n"
		   "  --floor, --no-floor    measure the shared-memory floor and print\n"
		   "                         ratios (on when --mode is not given)\n"
		   "  --check                verify payloads on every 16th iteration\n"
		   "  --csv FILE             write rows mode,api,size,p50_ns,p99_ns,\n"
		   "                         mean_ns,bw_MBps,floor_ns,ratio\n"
		   "                         (ratio: p50 / floor p50 below 64K, MB/s /\n"
		   "                         memcpy MB/s from 64K)\n"
		   "  --mtu N --rxq N --txq N  endpoint attributes (4096, 64, 64)\n"
		   "  --timeout S            give up on a batch after S seconds (60)\n"
		   "Two processes (other backends or hosts); the client drives, the\n"
		   "server needs only the backend, node, port and endpoint options:\n"
		   "  --role server|client   run one end (the client waits up to\n"
		   "                         10 s for the server's port)\n"
		   "  --backend URI          backend name or URI (loopback); a name\n"
		   "                         gets \"://NODE\" appended\n"
		   "  --node N --peer-node M node ids (client 0, server 1)\n"
		   "  --port P --peer-port Q ports (client 4000, server 4001)\n"
		   "  --cpu N                pin this process to CPU N\n");
}

static _Noreturn void bad_option(const char *opt, const char *val, const char *why)
{
	fprintf(stderr, PROG ": --%s %s: %s (see --help)\n", opt, val, why);
	exit(2);
}

static _Noreturn void size_error(const char *why)
{
	fprintf(stderr, PROG ": %s\n", why);
	exit(2);
}

/* A size with an optional K, M or G suffix. */
static uint64_t parse_size(const char *opt, const char *s)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		bad_option(opt, s, "not a number");
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'm' || *end == 'M')
		shift = 20;
	else if (*end == 'g' || *end == 'G')
		shift = 30;
	if (shift)
		end++;
	if (*end || v > (UINT64_MAX >> shift))
		bad_option(opt, s, "not a size");
	return (uint64_t)v << shift;
}

static unsigned long parse_num(const char *opt, const char *s, unsigned long min, unsigned long max)
{
	uint64_t v = parse_size(opt, s);

	if (v < min || v > max)
		bad_option(opt, s, "out of range");
	return (unsigned long)v;
}

enum opt_id {
	OPT_MODE = 256,
	OPT_API,
	OPT_MIN,
	OPT_MAX,
	OPT_ITERS,
	OPT_WARMUP,
	OPT_POINT_MS,
	OPT_REPEAT,
	OPT_FLOOR,
	OPT_NO_FLOOR,
	OPT_CHECK,
	OPT_CSV,
	OPT_MTU,
	OPT_RXQ,
	OPT_TXQ,
	OPT_TIMEOUT,
	OPT_ROLE,
	OPT_BACKEND,
	OPT_NODE,
	OPT_PEER_NODE,
	OPT_PORT,
	OPT_PEER_PORT,
	OPT_CPU,
	OPT_HELP,
};

/* In enum opt_id order: parse_one() finds an option's name by its id. */
static const struct option long_opts[] = {
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "api", required_argument, NULL, OPT_API },
	{ "min", required_argument, NULL, OPT_MIN },
	{ "max", required_argument, NULL, OPT_MAX },
	{ "iters", required_argument, NULL, OPT_ITERS },
	{ "warmup", required_argument, NULL, OPT_WARMUP },
	{ "point-ms", required_argument, NULL, OPT_POINT_MS },
	{ "repeat", required_argument, NULL, OPT_REPEAT },
	{ "floor", no_argument, NULL, OPT_FLOOR },
	{ "no-floor", no_argument, NULL, OPT_NO_FLOOR },
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "csv", required_argument, NULL, OPT_CSV },
	{ "mtu", required_argument, NULL, OPT_MTU },
	{ "rxq", required_argument, NULL, OPT_RXQ },
	{ "txq", required_argument, NULL, OPT_TXQ },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "role", required_argument, NULL, OPT_ROLE },
	{ "backend", required_argument, NULL, OPT_BACKEND },
	{ "node", required_argument, NULL, OPT_NODE },
	{ "peer-node", required_argument, NULL, OPT_PEER_NODE },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "peer-port", required_argument, NULL, OPT_PEER_PORT },
	{ "cpu", required_argument, NULL, OPT_CPU },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static void opts_default(struct opts *o)
{
	memset(o, 0, sizeof *o);
	o->role = ROLE_BOTH;
	o->modes = 1u << MODE_POLL | 1u << MODE_INTR;
	o->floor = -1;
	o->api = API_MSG;
	o->backend = "loopback";
	o->node = o->peer_node = o->port = o->peer_port = -1;
	o->min_size = DEFAULT_MIN;
	o->max_size = DEFAULT_MAX;
	o->iters = DEFAULT_ITERS;
	o->warmup = DEFAULT_WARMUP;
	o->repeat = 1;
	o->point_ms = DEFAULT_POINT_MS;
	o->timeout_s = DEFAULT_TIMEOUT_S;
	o->mtu = CLCP_MTU_DEFAULT;
	o->rxq = CLCP_QLEN_DEFAULT;
	o->txq = CLCP_QLEN_DEFAULT;
	o->cpu = -1;
}

static int pick_word(const char *opt, const char *val, const char *const *words, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(val, words[i]) == 0)
			return i;
	bad_option(opt, val, "unknown value");
}

static void parse_mode(struct opts *o, const char *val)
{
	static const char *const words[] = { "poll", "intr", "both" };
	int m = pick_word("mode", val, words, 3);

	o->modes = m == 2 ? (1u << MODE_POLL | 1u << MODE_INTR) : 1u << m;
	o->mode_set = true;
}

static void parse_role(struct opts *o, const char *val)
{
	static const char *const words[] = { "server", "client" };

	o->role = pick_word("role", val, words, 2) == 0 ? ROLE_SERVER : ROLE_CLIENT;
}

static void parse_one(struct opts *o, int id, const char *a)
{
	const char *name = long_opts[id - OPT_MODE].name;

	switch (id) {
	case OPT_MODE:
		parse_mode(o, a);
		break;
	case OPT_API:
		o->api = (enum api)pick_word(name, a, api_names, 2);
		break;
	case OPT_MIN:
		o->min_size = parse_num(name, a, 1, CLCP_MSG_MAX);
		break;
	case OPT_MAX:
		o->max_size = parse_num(name, a, 1, CLCP_MSG_MAX);
		break;
	case OPT_ITERS:
		o->iters = (unsigned)parse_num(name, a, 1, 100000000);
		o->iters_set = true;
		break;
	case OPT_WARMUP:
		o->warmup = (unsigned)parse_num(name, a, 0, 1000000);
		break;
	case OPT_POINT_MS:
		o->point_ms = (unsigned)parse_num(name, a, 1, 600000);
		break;
	case OPT_REPEAT:
		o->repeat = (unsigned)parse_num(name, a, 1, MAX_REPEAT);
		break;
	case OPT_FLOOR:
		o->floor = 1;
		break;
	case OPT_NO_FLOOR:
		o->floor = 0;
		break;
	case OPT_CHECK:
		o->check = true;
		break;
	case OPT_CSV:
		o->csv = a;
		break;
	case OPT_MTU:
		o->mtu = (uint32_t)parse_num(name, a, 1, UINT32_MAX);
		break;
	case OPT_RXQ:
		o->rxq = (uint32_t)parse_num(name, a, 1, UINT32_MAX);
		break;
	case OPT_TXQ:
		o->txq = (uint32_t)parse_num(name, a, 1, UINT32_MAX);
		break;
	case OPT_TIMEOUT:
		o->timeout_s = (unsigned)parse_num(name, a, 1, 86400);
		break;
	case OPT_ROLE:
		parse_role(o, a);
		break;
	case OPT_BACKEND:
		o->backend = a;
		break;
	case OPT_NODE:
		o->node = (long)parse_num(name, a, 0, UINT32_MAX);
		break;
	case OPT_PEER_NODE:
		o->peer_node = (long)parse_num(name, a, 0, UINT32_MAX);
		break;
	case OPT_PORT:
		o->port = (long)parse_num(name, a, 1, 65535);
		break;
	case OPT_PEER_PORT:
		o->peer_port = (long)parse_num(name, a, 1, 65535);
		break;
	case OPT_CPU:
		o->cpu = (int)parse_num(name, a, 0, CPU_SETSIZE - 1);
		break;
	}
}

/*
 * Node and port defaults: the client is node 0, the server node 1. Forked
 * ends take node ids of their own (from the pid), so that runs sharing a
 * host never meet in one port namespace.
 */
static void opts_resolve(struct opts *o)
{
	bool server = o->role == ROLE_SERVER;

	if (o->role == ROLE_BOTH && o->node < 0 && o->peer_node < 0) {
		o->node = 2L * getpid();
		o->peer_node = o->node + 1;
	}
	if (o->node < 0)
		o->node = server ? NODE_B : NODE_A;
	if (o->peer_node < 0)
		o->peer_node = server ? NODE_A : NODE_B;
	if (o->port < 0)
		o->port = server ? PORT_B : PORT_A;
	if (o->peer_port < 0)
		o->peer_port = server ? PORT_A : PORT_B;
	if (o->floor < 0)
		o->floor = !o->mode_set && o->role == ROLE_BOTH;
	if (o->min_size > o->max_size)
		size_error("--min is larger than --max");
	if (o->api == API_FRAME && o->max_size > o->mtu) {
		if (o->max_size != DEFAULT_MAX)
			fprintf(stderr,
				PROG ": --api frame: sizes above the "
				     "MTU (%u) left out\n",
				o->mtu);
		o->max_size = o->mtu;
		if (o->min_size > o->max_size)
			size_error("--min is larger than the MTU (--api frame)");
	}
}

static void opts_parse(struct opts *o, int argc, char **argv)
{
	int id;

	opts_default(o);
	while ((id = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (id == OPT_HELP || id == 'h') {
			usage(stdout);
			exit(0);
		}
		if (id < OPT_MODE) {
			usage(stderr);
			exit(2);
		}
		parse_one(o, id, optarg);
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
		exit(2);
	}
	opts_resolve(o);
}

/* --- CPUs --- */

/* The first two CPUs this process may run on; returns how many found. */
static int pick_cpus(int cpu[2])
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

static void pin_to(int cpu)
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
static void warn_if_busy(void)
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
static void die_with_parent(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
}

/* --- buffers and payload checks --- */

static void *xalloc(size_t n)
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

static void fill_pattern(unsigned char *buf, size_t len, unsigned iter)
{
	for (size_t k = 0; k < len; k++)
		buf[k] = pattern_byte(k, iter);
}

static void verify_pattern(const unsigned char *buf, size_t len, unsigned iter, const char *where)
{
	for (size_t k = 0; k < len; k++)
		if (buf[k] != pattern_byte(k, iter))
			fail("%s: payload corrupted at byte %zu of %zu "
			     "(iteration %u): got 0x%02x, expected 0x%02x",
			     where, k, len, iter, buf[k], pattern_byte(k, iter));
}

static bool check_iter(bool check, unsigned i)
{
	return check && i % CHECK_EVERY == 0;
}

/* --- one end of the benchmark: an endpoint and a channel --- */

struct link {
	clcp_dev_t *dev;
	clcp_endpt_t *ep;
	int chan;
	enum mode mode;
	enum api api;
	struct clcp_frame frame; /* lent by the last frame receive */
	bool lent;
	uint32_t peer_node;
};

/* backend NAME becomes "NAME://NODE"; a URI is taken as it is. */
static void make_uri(char *uri, size_t cap, const char *backend, long node)
{
	if (strstr(backend, "://"))
		snprintf(uri, cap, "%s", backend);
	else
		snprintf(uri, cap, "%s://%ld", backend, node);
}

static void link_open(struct link *l, const struct opts *o, long node, long port, long peer_node,
		      long peer_port)
{
	struct clcp_endpt_attr attr;
	char uri[512];
	int rc;

	memset(l, 0, sizeof *l);
	l->api = o->api;
	make_uri(uri, sizeof uri, o->backend, node);
	rc = clcp_open(uri, &l->dev);
	if (rc < 0)
		fail_clcp("clcp_open", rc);
	clcp_endpt_attr_init(&attr);
	attr.mtu = o->mtu;
	attr.rxq_len = o->rxq;
	attr.txq_len = o->txq;
	rc = clcp_alloc_endpt(l->dev, &attr, &l->ep);
	if (rc < 0)
		fail_clcp("clcp_alloc_endpt", rc);
	/* A URI names its own node: then both forked ends share it. */
	if (strstr(o->backend, "://") && o->role == ROLE_BOTH)
		peer_node = clcp_dev_node(l->dev);
	l->peer_node = (uint32_t)peer_node;
	l->chan = clcp_alloc_chan(l->ep, (uint16_t)port, l->peer_node, (uint16_t)peer_port);
	if (l->chan < 0)
		fail_clcp("clcp_alloc_chan", l->chan);
}

static void link_close(struct link *l)
{
	int rc;

	if ((rc = clcp_release_chan(l->ep, l->chan)) < 0)
		fail_clcp("clcp_release_chan", rc);
	if ((rc = clcp_release_endpt(l->ep)) < 0)
		fail_clcp("clcp_release_endpt", rc);
	if ((rc = clcp_close(l->dev)) < 0)
		fail_clcp("clcp_close", rc);
}

static ssize_t send_frame(struct link *l, const void *buf, size_t len)
{
	ssize_t n;

	if (l->mode == MODE_INTR)
		return clcp_send_frame(l->ep, l->chan, buf, len, 0);
	do
		n = clcp_send_frame(l->ep, l->chan, buf, len, CLCP_NONBLOCK);
	while (n == -EAGAIN);
	return n;
}

static const char *send_call(const struct link *l)
{
	if (l->api == API_FRAME)
		return "clcp_send_frame";
	return l->mode == MODE_POLL ? "clcp_poll_tx_msg" : "clcp_snd_message";
}

static void link_send(struct link *l, const void *buf, size_t len)
{
	ssize_t n;

	in_call = send_call(l);
	if (l->api == API_FRAME)
		n = send_frame(l, buf, len);
	else if (l->mode == MODE_POLL)
		n = clcp_poll_tx_msg(l->ep, l->chan, buf, len, 0);
	else
		n = clcp_snd_message(l->ep, l->chan, buf, len, 0);
	if (n < 0)
		fail_clcp(send_call(l), n);
	if ((size_t)n != len)
		fail("%s: returned %zd for %zu bytes", send_call(l), n, len);
}

static const void *recv_frame(struct link *l, size_t *len)
{
	int flags = l->mode == MODE_POLL ? CLCP_NONBLOCK : 0;
	int rc;

	in_call = "clcp_rcv_frame";
	do
		rc = clcp_rcv_frame(l->ep, l->chan, &l->frame, flags);
	while (rc == -EAGAIN && l->mode == MODE_POLL);
	if (rc < 0)
		fail_clcp("clcp_rcv_frame", rc);
	l->lent = true;
	if (!(l->frame.flags & CLCP_QF_LAST))
		fail("clcp_rcv_frame: a frame without the last-frame flag");
	*len = l->frame.len;
	return l->frame.data;
}

static const void *recv_msg(struct link *l, void *buf, size_t cap, size_t *len)
{
	int chan = l->chan;
	ssize_t n;

	in_call = l->mode == MODE_POLL ? "clcp_poll_rx_msg" : "clcp_rcv_message";
	if (l->mode == MODE_POLL)
		n = clcp_poll_rx_msg(l->ep, &chan, buf, cap, 0);
	else
		n = clcp_rcv_message(l->ep, &chan, buf, cap, 0);
	if (n < 0)
		fail_clcp(l->mode == MODE_POLL ? "clcp_poll_rx_msg" : "clcp_rcv_message", n);
	if (chan != l->chan)
		fail("received on channel %d, expected %d", chan, l->chan);
	*len = (size_t)n;
	return buf;
}

/* Receives one message; the data stays valid until link_done(). */
static const void *link_recv(struct link *l, void *buf, size_t cap, size_t *len)
{
	if (l->api == API_FRAME)
		return recv_frame(l, len);
	return recv_msg(l, buf, cap, len);
}

static const void *link_recv_len(struct link *l, void *buf, size_t cap, size_t want)
{
	size_t len;
	const void *data = link_recv(l, buf, cap, &len);

	if (len != want)
		fail("received %zu bytes, expected %zu", len, want);
	return data;
}

/* Gives a lent frame back. */
static void link_done(struct link *l)
{
	int rc;

	if (!l->lent)
		return;
	l->lent = false;
	rc = clcp_release_frames(l->ep, &l->frame, 1);
	if (rc < 0)
		fail_clcp("clcp_release_frames", rc);
}

/* --- the control protocol --- */

#define CTRL_MAGIC 0x70696e67u /* "ping" */
#define ACK_LEN 4

enum ctrl_kind { CTRL_LAT = 1, CTRL_BW, CTRL_DONE };

struct ctrl {
	uint32_t magic;
	uint32_t kind;
	uint32_t mode;
	uint32_t size;
	uint32_t count;	 /* round trips, or rounds of a window */
	uint32_t window; /* messages per bandwidth round */
	uint32_t check;
	uint32_t first; /* iteration number of the first round trip */
};

struct bufs {
	unsigned char *tx, *rx;
	size_t cap;
};

static void bufs_init(struct bufs *b, uint64_t max_size)
{
	b->cap = max_size < sizeof(struct ctrl) ? sizeof(struct ctrl) : (size_t)max_size;
	b->tx = xalloc(b->cap);
	b->rx = xalloc(b->cap);
}

/* The server follows the client's sizes, whatever its own --max. */
static void bufs_free(struct bufs *b)
{
	free(b->tx);
	free(b->rx);
	b->tx = b->rx = NULL;
}

static void bufs_fit(struct bufs *b, size_t size)
{
	if (size <= b->cap)
		return;
	bufs_free(b);
	bufs_init(b, size);
}

static void send_ctrl(struct link *l, const struct ctrl *c)
{
	struct ctrl msg = *c;

	msg.magic = CTRL_MAGIC;
	link_send(l, &msg, sizeof msg);
}

static void recv_ctrl(struct link *l, struct bufs *b, struct ctrl *c)
{
	size_t len;
	const void *data = link_recv(l, b->rx, b->cap, &len);

	if (len != sizeof *c)
		fail("expected a control message, got %zu bytes: do both ends "
		     "run with the same options?",
		     len);
	memcpy(c, data, sizeof *c);
	link_done(l);
	if (c->magic != CTRL_MAGIC || c->mode >= NMODES)
		fail("bad control message (magic 0x%08x)", c->magic);
}

/* --- server: echo what the client asks for --- */

static void serve_lat(struct link *l, struct bufs *b, const struct ctrl *c)
{
	for (unsigned i = c->first; i < c->first + c->count; i++) {
		const void *data = link_recv_len(l, b->rx, b->cap, c->size);

		if (check_iter(c->check, i))
			verify_pattern(data, c->size, i, "server");
		link_send(l, data, c->size);
		link_done(l);
	}
}

static void serve_bw(struct link *l, struct bufs *b, const struct ctrl *c)
{
	for (unsigned r = 0; r < c->count; r++) {
		for (unsigned w = 0; w < c->window; w++) {
			const void *data = link_recv_len(l, b->rx, b->cap, c->size);

			if (c->check && w == 0)
				verify_pattern(data, c->size, 0, "server");
			link_done(l);
		}
		link_send(l, b->tx, ACK_LEN);
	}
}

static void serve(struct link *l, struct bufs *b)
{
	struct ctrl c;

	for (;;) {
		recv_ctrl(l, b, &c);
		l->mode = (enum mode)c.mode;
		bufs_fit(b, c.size);
		if (c.kind == CTRL_LAT)
			serve_lat(l, b, &c);
		else if (c.kind == CTRL_BW)
			serve_bw(l, b, &c);
		else if (c.kind == CTRL_DONE)
			break;
		else
			fail("unknown control message kind %u", c.kind);
	}
	link_send(l, b->tx, ACK_LEN);
}

/* --- client: measurements --- */

struct point {
	size_t size;
	struct lat lat;
	double mbps; /* streaming, 1e6 bytes per second */
};

struct floor_res {
	struct lat cl;		  /* cache-line ping-pong */
	struct lat pp[MAX_SIZES]; /* memcpy ping-pong */
	double memcpy_mbps[MAX_SIZES];
};

struct bench {
	const struct opts *o;
	struct link link;
	struct bufs bufs;
	size_t sizes[MAX_SIZES];
	unsigned nsizes;
	uint64_t *rtt; /* samples, o->iters (or more for floors) */
	unsigned rtt_cap;
	struct point pt[NMODES][MAX_SIZES];
	bool have[NMODES];
	struct floor_res floor;
	bool have_floor;
	int cpu[2];
};

static void sizes_init(struct bench *bn)
{
	uint64_t s = bn->o->min_size;

	for (bn->nsizes = 0; s <= bn->o->max_size && bn->nsizes < MAX_SIZES; s *= 2)
		bn->sizes[bn->nsizes++] = (size_t)s;
}

/* Round trips for a size: --iters, fewer for large sizes. */
static unsigned lat_iters(const struct opts *o, size_t size)
{
	uint64_t n = o->iters;
	unsigned floor_n = o->iters < LAT_MIN_ITERS ? o->iters : LAT_MIN_ITERS;

	if (size > SCALE_FROM)
		n = n * SCALE_FROM / size;
	return n < floor_n ? floor_n : (unsigned)n;
}

static unsigned warm_iters(const struct opts *o, unsigned n)
{
	unsigned w = n / 10 < WARM_MIN ? WARM_MIN : n / 10;

	return o->warmup < w ? o->warmup : w;
}

/* Lowers n to fit budget_ms at per_ns each, keeping LAT_MIN_ITERS. */
static unsigned cap_by_time(unsigned n, double per_ns, unsigned budget_ms)
{
	double fit = budget_ms * 1e6 / (per_ns > 1 ? per_ns : 1);
	unsigned lo = n < LAT_MIN_ITERS ? n : LAT_MIN_ITERS;

	if (fit >= n)
		return n;
	return fit < lo ? lo : (unsigned)fit;
}

/*
 * A batch of n round trips, numbered from first (for --check); samples go
 * to out. Returns how many it kept: checked round trips are not timed.
 */
typedef unsigned batch_fn(struct bench *bn, void *arg, size_t size, unsigned first, uint64_t *out,
			  unsigned n);

static unsigned run_lat(struct bench *bn, void *arg, size_t size, unsigned first, uint64_t *out,
			unsigned n)
{
	struct link *l = &bn->link;
	struct bufs *b = &bn->bufs;
	struct ctrl c = { .kind = CTRL_LAT,
			  .mode = l->mode,
			  .size = (uint32_t)size,
			  .count = n,
			  .check = bn->o->check,
			  .first = first };
	unsigned kept = 0;

	(void)arg;
	alarm(bn->o->timeout_s);
	send_ctrl(l, &c);
	for (unsigned i = first; i < first + n; i++) {
		bool chk = check_iter(bn->o->check, i);
		const void *data;
		uint64_t t0, t1;

		if (chk)
			fill_pattern(b->tx, size, i);
		t0 = ticks();
		link_send(l, b->tx, size);
		data = link_recv_len(l, b->rx, b->cap, size);
		t1 = ticks();
		if (chk)
			verify_pattern(data, size, i, "client");
		else
			out[kept++] = t1 - t0;
		link_done(l);
	}
	alarm(0);
	return kept;
}

/* Round-trip cost from warmup samples: the mean of the fastest 90%. */
static double warm_rtt_ns(struct bench *bn, unsigned kept)
{
	unsigned n = kept - kept / 10;
	double sum = 0;

	if (kept == 0)
		return 0;
	qsort(bn->rtt, kept, sizeof *bn->rtt, cmp_u64);
	for (unsigned i = 0; i < n; i++)
		sum += (double)bn->rtt[i];
	return ticks_ns(1) * sum / n;
}

static bool over_budget(uint64_t t0, unsigned budget_ms)
{
	return ticks_ns(ticks() - t0) > POINT_OVERRUN * 1e6 * budget_ms;
}

/*
 * Round trips of one size: a warmup sizes the run to budget_ms, then
 * chunks run until n samples are kept. On a busy machine it stops past
 * POINT_OVERRUN budgets, with at least MIN_KEPT. --iters is obeyed.
 */
static struct lat sample_point(struct bench *bn, batch_fn *run, void *arg, size_t size, unsigned n,
			       unsigned budget_ms)
{
	bool timed = !bn->o->iters_set;
	unsigned w = warm_iters(bn->o, n), kept = 0, done = 0, chunk;
	double per = w ? warm_rtt_ns(bn, run(bn, arg, size, 0, bn->rtt, w)) : 0;
	uint64_t t0;

	if (per > 0 && timed)
		n = cap_by_time(n, per, budget_ms);
	chunk = n / POINT_CHUNKS + 1;
	t0 = ticks();
	while (kept < n) {
		unsigned c = n - kept < chunk ? n - kept : chunk;

		kept += run(bn, arg, size, done, bn->rtt + kept, c);
		done += c;
		if (timed && kept >= MIN_KEPT && over_budget(t0, budget_ms))
			break;
	}
	return lat_from_rtt(bn->rtt, kept);
}

static struct lat lat_point(struct bench *bn, size_t size)
{
	return sample_point(bn, run_lat, NULL, size, lat_iters(bn->o, size), bn->o->point_ms);
}

/* Rounds of window messages, each answered by an ack; returns ns. */
static double run_bw(struct bench *bn, size_t size, unsigned window, unsigned rounds)
{
	struct link *l = &bn->link;
	struct bufs *b = &bn->bufs;
	struct ctrl c = { .kind = CTRL_BW,
			  .mode = l->mode,
			  .size = (uint32_t)size,
			  .count = rounds,
			  .window = window,
			  .check = bn->o->check };
	uint64_t t0;

	if (bn->o->check)
		fill_pattern(b->tx, size, 0);
	alarm(bn->o->timeout_s);
	send_ctrl(l, &c);
	t0 = ticks();
	for (unsigned r = 0; r < rounds; r++) {
		for (unsigned w = 0; w < window; w++)
			link_send(l, b->tx, size);
		link_recv_len(l, b->rx, b->cap, ACK_LEN);
		link_done(l);
	}
	alarm(0);
	return ticks_ns(ticks() - t0);
}

/* Streaming bandwidth in MB/s (1e6 bytes per second). */
static double bw_point(struct bench *bn, size_t size)
{
	unsigned window = BW_WINDOW_BYTES / size, budget = bn->o->point_ms;
	unsigned rounds, chunk, done = 0;
	double per, fit, ns = 0;

	window = window < 2 ? 2 : window > BW_WINDOW ? BW_WINDOW : window;
	per = run_bw(bn, size, window, BW_WARM_ROUNDS) / BW_WARM_ROUNDS;
	fit = budget * 1e6 / (per > 1 ? per : 1);
	rounds = fit < BW_MIN_ROUNDS ? BW_MIN_ROUNDS :
		 fit > BW_MAX_ROUNDS ? BW_MAX_ROUNDS :
				       (unsigned)fit;
	chunk = rounds / POINT_CHUNKS + 1;
	while (done < rounds && ns <= POINT_OVERRUN * 1e6 * budget) {
		unsigned c = rounds - done < chunk ? rounds - done : chunk;

		ns += run_bw(bn, size, window, c);
		done += c;
	}
	return (double)size * window * done / ns * 1e3;
}

static void print_table(const struct bench *bn, enum mode m)
{
	const struct opts *o = bn->o;

	printf("\n== mode %s, api %s", mode_names[m], api_names[o->api]);
	if (o->repeat > 1)
		printf(", latency: median of %u runs", o->repeat);
	printf(" ==\n%9s %10s %10s %10s %7s %10s %8s\n", "size", "p50 us", "p99 us", "mean us",
	       "iters", "MB/s", "GB/s");
	for (unsigned i = 0; i < bn->nsizes; i++) {
		const struct point *p = &bn->pt[m][i];

		printf("%9zu %10.3f %10.3f %10.3f %7u %10.1f %8.2f\n", p->size, p->lat.p50 / 1e3,
		       p->lat.p99 / 1e3, p->lat.mean / 1e3, p->lat.n, p->mbps, p->mbps / 1e3);
	}
	fflush(stdout);
}

static void measure_mode(struct bench *bn, enum mode m)
{
	unsigned reps = bn->o->repeat, ns = bn->nsizes;
	struct lat *runs = calloc((size_t)ns * reps, sizeof *runs);

	if (runs == NULL)
		fail("out of memory");
	bn->link.mode = m;
	for (unsigned r = 0; r < reps; r++)
		for (unsigned i = 0; i < ns; i++)
			runs[i * reps + r] = lat_point(bn, bn->sizes[i]);
	for (unsigned i = 0; i < ns; i++) {
		bn->pt[m][i].size = bn->sizes[i];
		bn->pt[m][i].lat = lat_median(&runs[i * reps], reps);
		bn->pt[m][i].mbps = bw_point(bn, bn->sizes[i]);
	}
	free(runs);
	bn->have[m] = true;
	print_table(bn, m);
}

static void client_finish(struct bench *bn)
{
	struct ctrl c = { .kind = CTRL_DONE, .mode = bn->link.mode };

	alarm(bn->o->timeout_s);
	send_ctrl(&bn->link, &c);
	link_recv_len(&bn->link, bn->bufs.rx, bn->bufs.cap, ACK_LEN);
	link_done(&bn->link);
	alarm(0);
}

/*
 * Untimed: the first send waits for the server to bind its port, and the
 * first pass over each queue entry and its buffer pages is slow.
 */
static void client_connect(struct bench *bn)
{
	const struct opts *o = bn->o;
	unsigned qlen = o->rxq > o->txq ? o->rxq : o->txq;
	size_t size = o->max_size < o->mtu ? (size_t)o->max_size : o->mtu;

	bn->link.mode = MODE_POLL;
	run_lat(bn, NULL, size, 0, bn->rtt, 2 * qlen + WARM_MIN);
}

static void client(struct bench *bn)
{
	client_connect(bn);
	for (int m = 0; m < NMODES; m++)
		if (bn->o->modes & (1u << m))
			measure_mode(bn, (enum mode)m);
	client_finish(bn);
}

/* --- the floor: two processes, one shared anonymous mapping --- */

enum floor_kind { FLOOR_ROUNDS = 1, FLOOR_QUIT };

struct floor_shm {
	_Alignas(64) uint64_t ping; /* client: sequence number it sent */
	_Alignas(64) uint64_t pong; /* server: sequence number it answered */
	_Alignas(64) uint32_t kind;
	uint32_t pad;
	uint64_t size; /* payload copied in and out (0: flag only) */
	uint64_t count;
};

struct floor {
	struct floor_shm *shm;
	unsigned char *slot_a, *slot_b; /* client -> server, server -> client */
	size_t slot_len, map_len;
	uint64_t seq;
};

static void spin_until(const uint64_t *flag, uint64_t v)
{
	while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) != v)
		clcp_cpu_relax();
}

static void floor_map(struct floor *f, size_t max_size)
{
	size_t page = 4096;
	unsigned char *p;

	f->slot_len = (max_size + page - 1) / page * page;
	f->map_len = page + 2 * f->slot_len;
	p = mmap(NULL, f->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		fail("mmap %zu bytes: %s", f->map_len, strerror(errno));
	memset(p, 0, f->map_len);
	f->shm = (struct floor_shm *)p;
	f->slot_a = p + page;
	f->slot_b = p + page + f->slot_len;
	f->seq = 0;
}

/* The floor's server: answers each ping, copying out and back in. */
static _Noreturn void floor_child(struct floor *f)
{
	struct floor_shm *s = f->shm;
	unsigned char *priv = xalloc(f->slot_len);
	uint64_t seq = 0;

	for (;;) {
		spin_until(&s->ping, ++seq);
		uint32_t kind = s->kind;
		size_t size = (size_t)s->size;
		uint64_t count = s->count;

		__atomic_store_n(&s->pong, seq, __ATOMIC_RELEASE);
		if (kind == FLOOR_QUIT)
			_exit(0);
		for (uint64_t i = 0; i < count; i++) {
			spin_until(&s->ping, ++seq);
			memcpy(priv, f->slot_a, size);
			memcpy(f->slot_b, priv, size);
			__atomic_store_n(&s->pong, seq, __ATOMIC_RELEASE);
		}
	}
}

static void floor_ping(struct floor *f)
{
	f->seq++;
	__atomic_store_n(&f->shm->ping, f->seq, __ATOMIC_RELEASE);
	spin_until(&f->shm->pong, f->seq);
}

static void floor_cmd(struct floor *f, uint32_t kind, size_t size, unsigned count)
{
	f->shm->kind = kind;
	f->shm->size = size;
	f->shm->count = count;
	floor_ping(f);
}

/* A batch_fn: n round trips of the floor. */
static unsigned floor_rounds(struct bench *bn, void *arg, size_t size, unsigned first,
			     uint64_t *out, unsigned n)
{
	struct floor *f = arg;
	const unsigned char *src = bn->bufs.tx;
	unsigned char *dst = bn->bufs.rx;

	(void)first;
	alarm(bn->o->timeout_s);
	floor_cmd(f, FLOOR_ROUNDS, size, n);
	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = ticks();

		memcpy(f->slot_a, src, size);
		floor_ping(f);
		memcpy(dst, f->slot_b, size);
		out[i] = ticks() - t0;
	}
	alarm(0);
	return n;
}

/* Like lat_point, for the floor: half the time budget per size. */
static struct lat floor_lat(struct bench *bn, struct floor *f, size_t size, unsigned n)
{
	return sample_point(bn, floor_rounds, f, size, n, bn->o->point_ms / 2 + 1);
}

static void floor_sweeps(struct bench *bn, struct floor *f)
{
	unsigned reps = bn->o->repeat, ns = bn->nsizes;
	struct lat *runs = calloc((size_t)(ns + 1) * reps, sizeof *runs);

	if (runs == NULL)
		fail("out of memory");
	for (unsigned r = 0; r < reps; r++) {
		runs[ns * reps + r] = floor_lat(bn, f, 0, FLOOR_CL_ITERS);
		for (unsigned i = 0; i < ns; i++)
			runs[i * reps + r] =
				floor_lat(bn, f, bn->sizes[i], lat_iters(bn->o, bn->sizes[i]));
	}
	bn->floor.cl = lat_median(&runs[ns * reps], reps);
	for (unsigned i = 0; i < ns; i++)
		bn->floor.pp[i] = lat_median(&runs[i * reps], reps);
	free(runs);
}

/* Single-core memcpy bandwidth for a size, over about ms. */
static double memcpy_mbps(unsigned char *dst, const unsigned char *src, size_t size, unsigned ms)
{
	unsigned batch = size >= (1u << 20) ? 1 : (unsigned)((1u << 20) / size);
	uint64_t bytes = 0, t0, t;

	memcpy(dst, src, size);
	t0 = ticks();
	do {
		for (unsigned k = 0; k < batch; k++) {
			memcpy(dst, src, size);
			__asm__ __volatile__("" : : "r"(dst) : "memory");
		}
		bytes += (uint64_t)batch * size;
		t = ticks();
	} while (ticks_ns(t - t0) < ms * 1e6);
	return (double)bytes / ticks_ns(t - t0) * 1e3;
}

static void floor_run(struct bench *bn)
{
	struct floor f;
	pid_t parent = getpid(), pid;
	int status;

	floor_map(&f, bn->sizes[bn->nsizes - 1]);
	pin_to(bn->cpu[0]);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		die_with_parent(parent);
		pin_to(bn->cpu[1]);
		floor_child(&f);
	}
	peer_pid = pid;
	in_call = "the floor's shared-memory ping-pong";
	/* Untimed: the child starts up and faults its pages in. */
	floor_rounds(bn, &f, bn->sizes[bn->nsizes - 1], 0, bn->rtt, WARM_MIN);
	floor_sweeps(bn, &f);
	alarm(bn->o->timeout_s);
	floor_cmd(&f, FLOOR_QUIT, 0, 0);
	if (waitpid(pid, &status, 0) == pid)
		peer_pid = 0;
	alarm(0);
	munmap(f.shm, f.map_len);
	for (unsigned i = 0; i < bn->nsizes; i++)
		bn->floor.memcpy_mbps[i] = memcpy_mbps(bn->bufs.rx, bn->bufs.tx, bn->sizes[i],
						       bn->o->point_ms / 4 + 1);
	bn->have_floor = true;
}

/* --- ratios, tables and CSV --- */

static void print_cpus(const struct bench *bn)
{
	if (bn->cpu[0] < 0)
		printf("not pinned");
	else if (bn->cpu[1] < 0)
		printf("CPU %d", bn->cpu[0]);
	else
		printf("CPUs %d,%d", bn->cpu[0], bn->cpu[1]);
}

static bool ratio_is_bw(size_t size)
{
	return size >= RATIO_BW_FROM;
}

/* ours/floor: latency for small sizes, bandwidth for large ones. */
static double ratio(const struct bench *bn, enum mode m, unsigned i)
{
	const struct point *p = &bn->pt[m][i];

	if (ratio_is_bw(p->size))
		return p->mbps / bn->floor.memcpy_mbps[i];
	return p->lat.p50 / bn->floor.pp[i].p50;
}

static void print_floor(const struct bench *bn)
{
	const struct lat *cl = &bn->floor.cl;

	printf("\n== floor: two processes (");
	print_cpus(bn);
	printf(") through a shared page ==\ncache-line ping-pong, one-way: p50 %.1f ns, p99 %.1f ns, "
	       "mean %.1f ns (%u samples)\n",
	       cl->p50, cl->p99, cl->mean, cl->n);
	printf("memcpy-pp: ping-pong copying the payload in and out; memcpy: "
	       "one core\n%9s %10s %10s %10s %12s\n",
	       "size", "pp p50 us", "pp p99 us", "pp MB/s", "memcpy MB/s");
	for (unsigned i = 0; i < bn->nsizes; i++) {
		const struct lat *pp = &bn->floor.pp[i];

		printf("%9zu %10.3f %10.3f %10.1f %12.1f\n", bn->sizes[i], pp->p50 / 1e3,
		       pp->p99 / 1e3, bn->sizes[i] / pp->p50 * 1e3, bn->floor.memcpy_mbps[i]);
	}
}

static void print_ratios(const struct bench *bn)
{
	printf("\n== ours / floor, same run (lat: p50 / memcpy-pp p50; "
	       "bw: streaming / memcpy, from %u KiB) ==\n%9s %5s",
	       RATIO_BW_FROM >> 10, "size", "kind");
	for (int m = 0; m < NMODES; m++)
		if (bn->have[m])
			printf(" %10s", mode_names[m]);
	printf("\n");
	for (unsigned i = 0; i < bn->nsizes; i++) {
		printf("%9zu %5s", bn->sizes[i], ratio_is_bw(bn->sizes[i]) ? "bw" : "lat");
		for (int m = 0; m < NMODES; m++)
			if (bn->have[m])
				printf(" %10.2f", ratio(bn, (enum mode)m, i));
		printf("\n");
	}
	fflush(stdout);
}

static void csv_mode_rows(FILE *f, const struct bench *bn, enum mode m)
{
	for (unsigned i = 0; i < bn->nsizes; i++) {
		const struct point *p = &bn->pt[m][i];

		fprintf(f, "%s,%s,%zu,%.1f,%.1f,%.1f,%.1f,", mode_names[m], api_names[bn->o->api],
			p->size, p->lat.p50, p->lat.p99, p->lat.mean, p->mbps);
		if (bn->have_floor)
			fprintf(f, "%.1f,%.4f\n", bn->floor.pp[i].p50, ratio(bn, m, i));
		else
			fprintf(f, ",\n");
	}
}

static void csv_floor_rows(FILE *f, const struct bench *bn)
{
	const struct lat *cl = &bn->floor.cl;

	fprintf(f, "floor,cacheline,0,%.1f,%.1f,%.1f,,,\n", cl->p50, cl->p99, cl->mean);
	for (unsigned i = 0; i < bn->nsizes; i++) {
		const struct lat *pp = &bn->floor.pp[i];

		fprintf(f, "floor,memcpy_pingpong,%zu,%.1f,%.1f,%.1f,%.1f,,\n", bn->sizes[i],
			pp->p50, pp->p99, pp->mean, bn->sizes[i] / pp->p50 * 1e3);
	}
	for (unsigned i = 0; i < bn->nsizes; i++)
		fprintf(f, "floor,memcpy,%zu,,,,%.1f,,\n", bn->sizes[i], bn->floor.memcpy_mbps[i]);
}

static void write_csv(const struct bench *bn)
{
	FILE *f = fopen(bn->o->csv, "w");

	if (f == NULL)
		fail("%s: %s", bn->o->csv, strerror(errno));
	fprintf(f, "mode,api,size,p50_ns,p99_ns,mean_ns,bw_MBps,floor_ns,"
		   "ratio\n");
	for (int m = 0; m < NMODES; m++)
		if (bn->have[m])
			csv_mode_rows(f, bn, (enum mode)m);
	if (bn->have_floor)
		csv_floor_rows(f, bn);
	if (fclose(f) != 0)
		fail("%s: %s", bn->o->csv, strerror(errno));
}

/* --- running the ends --- */

static void print_header(const struct bench *bn)
{
	const struct opts *o = bn->o;
	struct clcp_endpt_attr a;
	int rc = clcp_endpt_attr_get(bn->link.ep, &a);

	if (rc < 0)
		fail_clcp("clcp_endpt_attr_get", rc);
	printf(PROG ": backend %s, node %u port %ld <-> node %u port %ld, "
		    "mtu %u, rxq %u, txq %u\n",
	       clcp_dev_backend(bn->link.dev), clcp_dev_node(bn->link.dev), o->port,
	       bn->link.peer_node, o->peer_port, a.mtu, a.rxq_len, a.txq_len);
	print_cpus(bn);
	printf("; timer %s, %.1f ns per read (in every sample); "
	       "latency = round trip / 2\n",
	       TIMER_NAME, timer_read_ns());
	fflush(stdout);
}

static void bench_init(struct bench *bn, const struct opts *o)
{
	memset(bn, 0, sizeof *bn);
	bn->o = o;
	sizes_init(bn);
	bufs_init(&bn->bufs, o->max_size);
	bn->rtt_cap = o->iters > FLOOR_CL_ITERS ? o->iters : FLOOR_CL_ITERS;
	bn->rtt = calloc(bn->rtt_cap, sizeof *bn->rtt);
	if (bn->rtt == NULL)
		fail("out of memory");
	bn->cpu[0] = bn->cpu[1] = -1;
}

/* Floor, ratios and CSV as asked; then frees the buffers. */
static void bench_finish(struct bench *bn)
{
	if (bn->o->floor) {
		floor_run(bn);
		print_floor(bn);
		print_ratios(bn);
	}
	if (bn->o->csv)
		write_csv(bn);
	bufs_free(&bn->bufs);
	free(bn->rtt);
}

static void run_server(const struct opts *o, long node, long port, long peer_node, long peer_port)
{
	struct link l;
	struct bufs b;

	link_open(&l, o, node, port, peer_node, peer_port);
	bufs_init(&b, o->max_size);
	l.mode = MODE_INTR; /* wait for the client asleep */
	serve(&l, &b);
	link_close(&l);
	bufs_free(&b);
}

static void run_client(struct bench *bn)
{
	const struct opts *o = bn->o;

	link_open(&bn->link, o, o->node, o->port, o->peer_node, o->peer_port);
	print_header(bn);
	client(bn);
	link_close(&bn->link);
}

static void wait_server(const struct opts *o, pid_t pid)
{
	int status;

	alarm(o->timeout_s);
	if (waitpid(pid, &status, 0) != pid)
		fail("waitpid: %s", strerror(errno));
	alarm(0);
	peer_pid = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		report_peer_status(status);
		exit(1);
	}
}

/* Both ends: the parent is the client, a forked child the server. */
static int run_both(struct bench *bn)
{
	const struct opts *o = bn->o;
	pid_t parent = getpid(), pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		die_with_parent(parent);
		side = " (server)";
		pin_to(bn->cpu[1]);
		run_server(o, o->peer_node, o->peer_port, o->node, o->port);
		exit(0);
	}
	peer_pid = pid;
	side = " (client)";
	pin_to(bn->cpu[0]);
	run_client(bn);
	wait_server(o, pid);
	side = "";
	bench_finish(bn);
	return 0;
}

/* Client role: --cpu for the client, another CPU for the floor's peer. */
static void client_cpus(struct bench *bn, int cpu)
{
	int avail[2];
	int n = pick_cpus(avail);

	bn->cpu[0] = cpu >= 0 ? cpu : n >= 2 ? avail[0] : -1;
	bn->cpu[1] = n < 2 ? -1 : avail[0] == bn->cpu[0] ? avail[1] : avail[0];
	if (bn->cpu[0] < 0)
		bn->cpu[1] = -1;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct bench bn;

	opts_parse(&o, argc, argv);
	install_alarm();
	if (o.role == ROLE_SERVER) {
		pin_to(o.cpu);
		printf(PROG " server: node %ld port %ld, peer node %ld port "
			    "%ld\n",
		       o.node, o.port, o.peer_node, o.peer_port);
		fflush(stdout);
		run_server(&o, o.node, o.port, o.peer_node, o.peer_port);
		return 0;
	}
	warn_if_busy();
	timer_calibrate();
	bench_init(&bn, &o);
	if (o.role == ROLE_BOTH && pick_cpus(bn.cpu) < 2)
		bn.cpu[0] = bn.cpu[1] = -1;
	if (o.role == ROLE_BOTH)
		return run_both(&bn);
	client_cpus(&bn, o.cpu);
	pin_to(bn.cpu[0]);
	run_client(&bn);
	bench_finish(&bn);
	return 0;
}
