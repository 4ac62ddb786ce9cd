/* SPDX-License-Identifier: MIT */
/*
 * clcp_pingpong: latency and bandwidth of CLCP, OSU style.
 *
 * By default one command runs both ends: the parent is the client (port
 * 4000, CPU 0), a forked child the server (port 4001, CPU 1), each on a node
 * of its own. With --role the two ends run as separate processes, for other
 * hosts. With --role rank a launcher starts them (mpirun -np N): ranks pair
 * up (0 with 1, 2 with 3, ...), the even one the client, each rank on the
 * node the backend's bootstrap gives it; rank 0 reports.
 *
 * The client drives: before each batch it sends a control message (what to
 * do, size, count); the server obeys until told CTRL_DONE. Latency is half
 * a round trip, every sample kept; bandwidth streams a window of messages
 * one way and waits for a short ack. --floor measures, in the same run, what
 * the transport under the backend can do at best (two processes sharing
 * memory for loopback, raw UDP sockets for udp) and prints the ratios.
 *
 * Files: pp_main.c (the run), pp_opts.c (options), pp_sys.c (failing, CPUs,
 * buffers), pp_stats.c (timer, percentiles), pp_link.c (the CLCP link, the
 * control protocol, the server), pp_client.c (measurements), pp_floor_shm.c
 * and pp_floor_udp.c (the floors), pp_report.c (tables, CSV, counters).
 */
#ifndef CLCP_PINGPONG_PP_H
#define CLCP_PINGPONG_PP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <clcp/clcp.h>

#define PROG "clcp_pingpong"

#define MAX_SIZES 32
#define MAX_REPEAT 1000
#define DEFAULT_MIN 8
#define DEFAULT_MAX (4u << 20)
#define DEFAULT_ITERS 10000
#define FILL_ITERS (4u << 20)
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
#define FLOOR_WAKE_ITERS 2000
#define MAX_STATS 64 /* counters kept per device or endpoint */
#define NODE_A 0
#define NODE_B 1
#define PORT_A 4000
#define PORT_B 4001

/* adapt: the interrupt group's calls with an adaptive spin (CLCP_SPIN_ADAPTIVE) */
enum mode { MODE_POLL, MODE_INTR, MODE_ADAPT, NMODES };
enum api { API_MSG, API_FRAME };
enum role { ROLE_BOTH, ROLE_SERVER, ROLE_CLIENT };
/* What --floor measures: AUTO picks UDP for the udp backend, else SHM. */
enum floor_kind { FLOOR_AUTO, FLOOR_SHM, FLOOR_UDP };

extern const char *const mode_names[NMODES];
extern const char *const api_names[2];

struct opts {
	enum role role;
	long rank;	/* --role rank: the launcher's rank; -1 otherwise */
	unsigned modes; /* bit (1 << enum mode) */
	bool mode_set;
	int floor; /* 1 on, 0 off, -1 default */
	enum floor_kind floor_kind;
	enum api api;
	const char *backend;
	bool backend_set;
	long node, peer_node; /* -1: default for the role */
	long port, peer_port;
	uint64_t min_size, max_size;
	unsigned iters, warmup, repeat, point_ms, timeout_s;
	bool iters_set;
	bool fill; /* --fill: round trips up to FILL_ITERS, the budget rules */
	uint32_t mtu, rxq, txq; /* mtu CLCP_MTU_AUTO: the device's */
	bool check;
	bool stats;
	const char *csv;
	int cpu; /* --cpu, -1: none */
	unsigned nulls, null_run_ms, null_block_ms; /* --null N: paper's null processes */
	long any; /* --any N: receive from CLCP_ANY, N idle channels more; -1: on the channel */
};

/* pp_opts.c */
void opts_parse(struct opts *o, int argc, char **argv);
uint64_t opts_max_size(const struct opts *o, uint32_t mtu);
long launcher_rank(const char *what, long *size);
bool uri_has_node(const char *backend);

/* pp_sys.c: failing with a clear message, never leaving the peer behind */
extern volatile pid_t peer_pid;	     /* forked peer to reap on failure (0: none) */
extern const char *side;	     /* " (client)" / " (server)" when forked */
extern const char *volatile in_call; /* what a timeout interrupts */
_Noreturn void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fail_clcp(const char *call, long err);
void report_peer_status(int status);
void install_alarm(void);
int pick_cpus(int cpu[2]);
void pin_to(int cpu);
void warn_if_busy(void);
void die_with_parent(pid_t parent);
pid_t fork_peer(int cpu);
void wait_peer(pid_t pid, unsigned timeout_s);
void *xalloc(size_t n);
void fill_pattern(unsigned char *buf, size_t len, unsigned iter);
void verify_pattern(const unsigned char *buf, size_t len, unsigned iter, const char *where);
bool check_iter(bool check, unsigned i);

/* pp_null.c: processes that run, then block, beside the benchmark */
void nulls_start(const struct opts *o);
void nulls_stop(void);

/* pp_stats.c: the TSC where there is one, else CLOCK_MONOTONIC */
uint64_t clock_ns(void);
#if defined(__x86_64__) || defined(__i386__)
#define TIMER_NAME "tsc"
static inline uint64_t ticks(void)
{
	return __builtin_ia32_rdtsc();
}
#else
#define TIMER_NAME "clock_gettime"
static inline uint64_t ticks(void)
{
	return clock_ns();
}
#endif

struct lat {
	double p50, p99, mean; /* one-way ns */
	unsigned n;
};

double ticks_ns(uint64_t t);
void timer_calibrate(void);
double timer_read_ns(void);
int cmp_u64(const void *a, const void *b);
struct lat lat_from_rtt(uint64_t *rtt, unsigned n);
struct lat lat_median(const struct lat *runs, unsigned n);

/* pp_link.c: one end of the benchmark, an endpoint and a channel */
struct link {
	clcp_dev_t *dev;
	clcp_endpt_t *ep;
	int chan;
	enum mode mode;
	enum api api;
	struct clcp_frame frame; /* lent by the last frame receive */
	bool lent;
	bool any; /* receives from CLCP_ANY */
	uint32_t peer_node;
};

struct bufs {
	unsigned char *tx, *rx;
	size_t cap;
};

/* Counters of one end, read before it closes. */
struct counters {
	struct clcp_stat dev[MAX_STATS], ep[MAX_STATS];
	unsigned ndev, nep;
	bool have;
};

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

void link_open(struct link *l, const struct opts *o, long node, long port, long peer_node,
	       long peer_port);
void link_close(struct link *l);
void link_set_mode(struct link *l, enum mode m);
uint32_t link_mtu(struct link *l);
void link_counters(struct link *l, struct counters *c);
void link_send(struct link *l, const void *buf, size_t len);
const void *link_recv_len(struct link *l, void *buf, size_t cap, size_t want);
void link_done(struct link *l);
void send_ctrl(struct link *l, const struct ctrl *c);

/*
 * The message calls of the link's mode, inline: the latency loops call them
 * with nothing between (as an application does, and as the floor's loop
 * does). The caller sets in_call; a failure names the call.
 */
static inline const char *msg_call(const struct link *l, bool tx)
{
	if (l->mode == MODE_POLL)
		return tx ? "clcp_poll_tx_msg" : "clcp_poll_rx_msg";
	return tx ? "clcp_snd_message" : "clcp_rcv_message";
}

static inline ssize_t link_msg_rx(struct link *l, int *chan, void *buf, size_t cap)
{
	return l->mode == MODE_POLL ? clcp_poll_rx_msg(l->ep, chan, buf, cap, 0) :
				      clcp_rcv_message(l->ep, chan, buf, cap, 0);
}

static inline void link_msg_send(struct link *l, const void *buf, size_t len)
{
	ssize_t n = l->mode == MODE_POLL ? clcp_poll_tx_msg(l->ep, l->chan, buf, len, 0) :
					   clcp_snd_message(l->ep, l->chan, buf, len, 0);

	if (n != (ssize_t)len)
		n < 0 ? fail_clcp(msg_call(l, true), n) :
			fail("%s: returned %zd for %zu bytes", msg_call(l, true), n, len);
}

static inline void link_msg_recv(struct link *l, void *buf, size_t cap, size_t want)
{
	int chan = l->any ? CLCP_ANY : l->chan;
	ssize_t n = link_msg_rx(l, &chan, buf, cap);

	if (n != (ssize_t)want || chan != l->chan)
		n < 0 ? fail_clcp(msg_call(l, false), n) :
			fail("%s: %zd bytes on channel %d, expected %zu on %d", msg_call(l, false), n,
			     chan, want, l->chan);
}

void bufs_init(struct bufs *b, uint64_t max_size);
void bufs_free(struct bufs *b);
void serve(struct link *l, struct bufs *b);

/* pp_client.c: measurements */
struct point {
	size_t size;
	struct lat lat;
	double mbps; /* streaming, 1e6 bytes per second */
};

/* What the floor measured, per size (same sizes as the run). */
struct floor_res {
	enum floor_kind kind;
	struct lat cl;		  /* shm: cache-line ping-pong */
	struct lat wake;	  /* shm: futex ping-pong, each side asleep */
	struct lat pp[MAX_SIZES]; /* ping-pong carrying the payload */
	double mbps[MAX_SIZES];	  /* shm: one-core memcpy; udp: raw stream */
	uint64_t lost[MAX_SIZES]; /* udp: datagrams lost */
	size_t dgram;		  /* udp: largest datagram */
	int rcvbuf;		  /* udp: socket buffer got */
	const char *family;	  /* udp: the loopback address used */
	struct lat *pp_runs;	  /* shm beside each point: per size, per repeat */
};

struct bench {
	const struct opts *o;
	struct link link;
	struct bufs bufs;
	uint32_t mtu; /* the endpoint's real frame size */
	char backend[32];
	size_t sizes[MAX_SIZES];
	unsigned nsizes;
	uint64_t *rtt; /* samples, o->iters (or more for floors) */
	unsigned rtt_cap;
	struct point pt[NMODES][MAX_SIZES];
	bool have[NMODES];
	struct lat *lat_runs; /* per mode, size and repeat (for the paired ratios) */
	struct floor_res floor;
	bool have_floor;
	struct floor *live; /* the shm floor, measured beside each point */
	struct counters counters;
	int cpu[2];
};

/*
 * A batch of n round trips, numbered from first (for --check); samples go
 * to out. Returns how many it kept: checked round trips are not timed.
 */
typedef unsigned batch_fn(struct bench *bn, void *arg, size_t size, unsigned first, uint64_t *out,
			  unsigned n);

void sizes_init(struct bench *bn, uint64_t max_size);
unsigned base_iters(const struct opts *o);
unsigned lat_iters(const struct opts *o, size_t size);
unsigned bw_window(size_t size);
struct lat sample_point(struct bench *bn, batch_fn *run, void *arg, size_t size, unsigned n,
			unsigned budget_ms);
void client(struct bench *bn);

/*
 * pp_floor_shm.c, pp_floor_udp.c. The shm floor can also run beside the
 * measurements: opened first, a point of it after each of ours (its peer
 * asleep meanwhile), closed at the end.
 */
struct floor;
struct floor *floor_shm_open(struct bench *bn);
void floor_shm_point(struct bench *bn, struct floor *f, unsigned i, unsigned r);
void floor_shm_close(struct bench *bn, struct floor *f);
void floor_run_shm(struct bench *bn);
void floor_run_udp(struct bench *bn);

/* pp_report.c */
void print_header(const struct bench *bn);
void print_table(const struct bench *bn, enum mode m);
void print_floor(const struct bench *bn);
void print_ratios(const struct bench *bn);
void print_counters(const char *who, const struct counters *c);
void write_csv(const struct bench *bn);

#endif /* CLCP_PINGPONG_PP_H */
