/* SPDX-License-Identifier: MIT */
/* clcp_pingpong: options. */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pp.h"

const char *const mode_names[NMODES] = { "poll", "intr", "adapt" };
const char *const api_names[2] = { "msg", "frame" };

/* --- option parsing --- */

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " [options]\n"
		   "Measures CLCP latency (half a round trip: p50, p99, mean) and\n"
		   "streaming bandwidth. By default runs both ends (fork: loopback\n"
		   "nodes 2*pid and 2*pid+1, CPUs 0 and 1): every mode, then the\n"
		   "floor and the ratios ours/floor.\n"
		   "  --mode poll|intr|adapt|both|all\n"
		   "                         polling calls, interrupt calls that\n"
		   "                         block at once, or that spin an\n"
		   "                         adaptive budget first (adapt); both:\n"
		   "                         poll and intr (all)\n"
		   "  --api msg|frame        message calls (SAR), or one-frame calls\n"
		   "                         (sizes <= MTU) (msg)\n"
		   "  --min SIZE --max SIZE  sizes, powers of two; K, M, G suffixes\n"
		   "                         (8, 4M)\n"
		   "  --iters N              round trips per size, scaled down above\n"
		   "                         16K (10000); without it each size gets\n"
		   "                         at most --point-ms\n"
		   "  --warmup N             untimed round trips first (100)\n"
		   "  --point-ms MS          time budget per size (100)\n"
		   "  --fill                 each size runs its whole --point-ms,\n"
		   "                         however many round trips (up to 4M)\n"
		   "                         that takes: a mean that spans many\n"
		   "                         scheduling periods on a shared CPU\n"
		   "  --repeat N             run the latency sweep N times, report\n"
		   "                         medians (1)\n"
		   "  --floor [shm|udp]      measure the floor in the same run and\n"
		   "                         print ratios (on when --mode is not\n"
		   "                         given): shm, two processes sharing a\n"
		   "                         page; udp, raw UDP sockets (ping-pong\n"
		   "                         and stream in datagrams of mtu + 32\n"
		   "                         bytes). Default: udp for the udp backend.\n"
		   "                         shm with both ends here: each point of\n"
		   "                         ours is followed by the floor's, and the\n"
		   "                         latency ratio is the median over the\n"
		   "                         repeats of each pair's\n"
		   "  --no-floor             no floor\n"
		   "  --stats                print the device and endpoint counters\n"
		   "                         of each end this process runs\n"
		   "  --check                verify payloads on every 16th iteration\n"
		   "  --csv FILE             write rows mode,api,size,p50_ns,p99_ns,\n"
		   "                         mean_ns,bw_MBps,floor_ns,ratio\n"
		   "                         (ratio: p50 / floor p50 below 64K, as\n"
		   "                         printed; MB/s / floor MB/s from 64K)\n"
		   "  --mtu N --rxq N --txq N  endpoint attributes (the device's mtu:\n"
		   "                         loopback 4096, udp 1436; 64, 64); both\n"
		   "                         ends must use the same mtu\n"
		   "  --timeout S            give up on a batch after S seconds (60)\n"
		   "  --null N               run N null processes meanwhile (0): each\n"
		   "                         runs --null-run-ms of CPU (3), then\n"
		   "                         blocks --null-block-ms (50), unpinned\n"
		   "  --any N                receive from CLCP_ANY, each end with N\n"
		   "                         more channels open, to ports nobody\n"
		   "                         binds (off: on the channel)\n"
		   "Two processes (other backends or hosts); the client drives, the\n"
		   "server needs only the backend, node, port and endpoint options:\n"
		   "  --role server|client   run one end (the client waits up to\n"
		   "                         10 s for the server's port)\n"
		   "  --role rank            under a launcher (mpirun -np N): ranks\n"
		   "                         2k and 2k+1 are a pair (client, server),\n"
		   "                         all pairs at once, on the nodes the\n"
		   "                         backend gives (udp: base_node + rank);\n"
		   "                         rank 0 reports, the other clients print\n"
		   "                         one line; --backend udp (default here)\n"
		   "  --backend URI          backend name or URI (loopback); a name\n"
		   "                         gets \"://NODE\" appended, a URI without\n"
		   "                         a node (udp://?local=7000) the node\n"
		   "                         after \"://\": both ends in one command\n"
		   "  --node N --peer-node M node ids (client 0, server 1)\n"
		   "  --port P --peer-port Q ports (client 4000, server 4001)\n"
		   "  --cpu N                pin this process to CPU N\n");
}

static _Noreturn void bad_option(const char *opt, const char *val, const char *why)
{
	fprintf(stderr, PROG ": --%s %s: %s (see --help)\n", opt, val, why);
	exit(2);
}

static _Noreturn void opt_error(const char *why)
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
	OPT_FILL,
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
	OPT_NULL,
	OPT_NULL_RUN,
	OPT_NULL_BLOCK,
	OPT_ANY,
	OPT_STATS,
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
	{ "fill", no_argument, NULL, OPT_FILL },
	{ "repeat", required_argument, NULL, OPT_REPEAT },
	{ "floor", optional_argument, NULL, OPT_FLOOR },
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
	{ "null", required_argument, NULL, OPT_NULL },
	{ "null-run-ms", required_argument, NULL, OPT_NULL_RUN },
	{ "null-block-ms", required_argument, NULL, OPT_NULL_BLOCK },
	{ "any", required_argument, NULL, OPT_ANY },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static void opts_default(struct opts *o)
{
	memset(o, 0, sizeof *o);
	o->role = ROLE_BOTH;
	o->modes = (1u << NMODES) - 1;
	o->floor = -1;
	o->api = API_MSG;
	o->backend = "loopback";
	o->rank = -1;
	o->node = o->peer_node = o->port = o->peer_port = -1;
	o->min_size = DEFAULT_MIN;
	o->max_size = DEFAULT_MAX;
	o->iters = DEFAULT_ITERS;
	o->warmup = DEFAULT_WARMUP;
	o->repeat = 1;
	o->point_ms = DEFAULT_POINT_MS;
	o->timeout_s = DEFAULT_TIMEOUT_S;
	o->mtu = CLCP_MTU_AUTO;
	o->rxq = CLCP_QLEN_DEFAULT;
	o->txq = CLCP_QLEN_DEFAULT;
	o->cpu = -1;
	o->any = -1;
	o->null_run_ms = 3;
	o->null_block_ms = 50;
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
	static const char *const words[] = { "poll", "intr", "adapt", "both", "all" };
	int m = pick_word("mode", val, words, 5);

	if (m == 3)
		o->modes = 1u << MODE_POLL | 1u << MODE_INTR;
	else if (m == 4)
		o->modes = (1u << NMODES) - 1;
	else
		o->modes = 1u << m;
	o->mode_set = true;
}

/* The rank (and job size, 0 if unknown) a launcher gave this process. */
long launcher_rank(const char *what, long *size)
{
	static const char *const ranks[] = { "PMIX_RANK", "OMPI_COMM_WORLD_RANK", "SLURM_PROCID",
					     "PMI_RANK" };
	static const char *const sizes[] = { "OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS", "SLURM_NPROCS",
					     "PMI_SIZE" };
	const char *s = NULL;

	*size = 0;
	for (unsigned i = 0; i < sizeof ranks / sizeof ranks[0] && !s; i++)
		s = getenv(ranks[i]);
	if (s == NULL)
		bad_option("role", what,
			   "no launcher's rank (PMIX_RANK, OMPI_COMM_WORLD_RANK, "
			   "SLURM_PROCID, PMI_RANK)");
	for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0] && !*size; i++)
		if (getenv(sizes[i]))
			*size = (long)parse_num("job size", getenv(sizes[i]), 1, UINT32_MAX);
	return (long)parse_num("rank", s, 0, UINT32_MAX - 1);
}

static void parse_role(struct opts *o, const char *val)
{
	static const char *const words[] = { "server", "client", "rank" };
	int w = pick_word("role", val, words, 3);

	o->role = w == 0 ? ROLE_SERVER : ROLE_CLIENT;
	o->rank = w == 2 ? 0 : -1; /* set in opts_resolve */
}

/* --floor, --floor=KIND or --floor KIND. */
static void parse_floor(struct opts *o, const char *val)
{
	static const char *const words[] = { "auto", "shm", "udp" };

	o->floor = 1;
	o->floor_kind = val ? (enum floor_kind)pick_word("floor", val, words, 3) : FLOOR_AUTO;
}

/* The word after a bare --floor, if it is one of its values. */
static const char *floor_word(int argc, char **argv)
{
	const char *w = optind < argc ? argv[optind] : NULL;

	if (w && (!strcmp(w, "auto") || !strcmp(w, "shm") || !strcmp(w, "udp"))) {
		optind++;
		return w;
	}
	return NULL;
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
	case OPT_FILL:
		o->fill = true;
		break;
	case OPT_REPEAT:
		o->repeat = (unsigned)parse_num(name, a, 1, MAX_REPEAT);
		break;
	case OPT_FLOOR:
		parse_floor(o, a);
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
		o->mtu = (uint32_t)parse_num(name, a, 0, UINT32_MAX);
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
		o->backend_set = true;
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
	case OPT_STATS:
		o->stats = true;
		break;
	case OPT_NULL:
		o->nulls = (unsigned)parse_num(name, a, 0, 1000);
		break;
	case OPT_ANY:
		o->any = (long)parse_num(name, a, 0, 64);
		break;
	case OPT_NULL_RUN:
		o->null_run_ms = (unsigned)parse_num(name, a, 1, 60000);
		break;
	case OPT_NULL_BLOCK:
		o->null_block_ms = (unsigned)parse_num(name, a, 0, 60000);
		break;
	}
}

/* A URI with something between "://" and "?": a node id or a hostfile. */
bool uri_has_node(const char *backend)
{
	const char *head = strstr(backend, "://");

	return head && head[3] != '\0' && head[3] != '?';
}

/*
 * Node and port defaults: the client is node 0, the server node 1. Forked
 * ends of a backend given by name take node ids of their own (from the
 * pid), so that runs sharing a host never meet in one port namespace.
 */
static void opts_resolve(struct opts *o)
{
	bool server, named;
	long size;

	if (o->rank >= 0) {
		o->rank = launcher_rank("rank", &size);
		o->role = o->rank % 2 ? ROLE_SERVER : ROLE_CLIENT;
		if (!o->backend_set)
			o->backend = "udp";
		if (o->rank == size - 1 && size % 2) {
			fprintf(stderr, PROG ": rank %ld: odd job size %ld, no peer: idle\n",
				o->rank, size);
			exit(0);
		}
	}
	server = o->role == ROLE_SERVER;
	named = !strstr(o->backend, "://");

	if (o->role == ROLE_BOTH && named && o->node < 0 && o->peer_node < 0) {
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
		opt_error("--min is larger than --max");
	if (o->fill && o->iters_set)
		opt_error("--fill and --iters: choose one");
}

/* The largest size to run: --max, or the endpoint's real mtu for --api frame. */
uint64_t opts_max_size(const struct opts *o, uint32_t mtu)
{
	if (o->api != API_FRAME || o->max_size <= mtu)
		return o->max_size;
	if (o->max_size != DEFAULT_MAX)
		fprintf(stderr, PROG ": --api frame: sizes above the MTU (%u) left out\n", mtu);
	if (o->min_size > mtu)
		opt_error("--min is larger than the MTU (--api frame)");
	return mtu;
}

void opts_parse(struct opts *o, int argc, char **argv)
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
		if (id == OPT_FLOOR && optarg == NULL)
			optarg = (char *)floor_word(argc, argv);
		parse_one(o, id, optarg);
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
		exit(2);
	}
	opts_resolve(o);
}
