/* SPDX-License-Identifier: MIT */
/*
 * clcp_pingpong: the udp floor, two processes with raw UDP sockets on the
 * loopback address of the CLCP run's family, pinned like the CLCP ends.
 *
 * A message is sent as datagrams of at most mtu + 32 bytes, the size of the
 * udp backend's datagrams. Receivers busy-poll recv (MSG_DONTWAIT), and
 * yield the CPU once nothing came for 4096 polls: a datagram sent over the
 * loopback device may wait for softirq work on the sender's own CPU, which
 * a process spinning there would starve. The stream keeps a window of 64
 * datagrams in flight (the udp backend's), acknowledged every quarter
 * window over a local socket (the acks are flow control, not the measured
 * path), within half the receive buffer: nothing should overflow it, and
 * whatever does not arrive within a second is counted as lost.
 *
 * The parent drives the child over a control socket (outside the timed
 * loops): a command, the child's batch, the child's report.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pp.h"

#define UF_HDR 32		/* the udp backend's frame header */
#define UF_SOCKBUF (4 << 20)	/* as the udp backend asks; the kernel may give less */
#define UF_OVERHEAD 1024	/* kernel bytes per queued datagram, about */
#define UF_STALL_NS 1000000000u /* nothing for 1 s: lost */
#define UF_SPIN_CHECK 256	/* recv attempts between clock reads */
#define UF_YIELD_AFTER 4096	/* empty recv attempts before yielding */
#define UF_WINDOW 64		/* stream datagrams in flight (udp's window) */
#define UF_ACK_POLL 8		/* stream datagrams sent between ack polls */
#define UF_STREAM_MAX (1u << 22)

enum uf_cmd { UF_PINGPONG = 1, UF_STREAM, UF_QUIT };

struct uf_msg {
	uint32_t cmd;
	uint32_t count;	 /* round trips, or stream datagrams */
	uint64_t size;	 /* message size */
	uint32_t window; /* stream datagrams in flight */
};

/* The child's report of a batch: what it missed. */
struct uf_report {
	uint64_t lost; /* datagrams */
};

struct ufloor {
	int fd;	 /* this side's socket, connected to the other side's */
	int ctl; /* control socket to the other process */
	int ack; /* stream acks, a local socket beside the UDP path */
	size_t dgram;
	unsigned char *tx, *rx; /* message buffers of the largest size */
	uint64_t lost;		/* datagrams this side missed in the batch */
	uint64_t point_lost;	/* both sides, over the batches of a size */
	int rcvbuf;		/* what the kernel gave */
};

/* Datagrams of a stream of messages of one size: lengths and offsets. */
struct dgram_seq {
	size_t size, dgram, off;
};

static size_t seq_next(struct dgram_seq *q, size_t *off)
{
	size_t n = q->size - q->off < q->dgram ? q->size - q->off : q->dgram;

	*off = q->off;
	q->off = q->off + n == q->size ? 0 : q->off + n;
	return n;
}

static size_t dgrams_per_msg(const struct ufloor *u, size_t size)
{
	return size ? (size + u->dgram - 1) / u->dgram : 1;
}

/* --- sockets --- */

/* The CLCP run's address family: IPv6 when its URI or node table says so. */
static int run_family(const char *backend)
{
	const char *nodes = getenv("CLCP_NODES");

	if (strstr(backend, "local6=") || strchr(backend, '['))
		return AF_INET6;
	if (!strstr(backend, "local=") && nodes && strchr(nodes, '['))
		return AF_INET6;
	return AF_INET;
}

static void set_buf(int fd, int opt, int force_opt)
{
	int bytes = UF_SOCKBUF;

	if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) != 0)
		setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
}

static int loopback_socket(int family)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(family, SOCK_DGRAM, 0);

	if (fd < 0)
		fail("raw UDP floor: socket: %s", strerror(errno));
	memset(&ss, 0, sizeof ss);
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof *a;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof *a;
	}
	if (bind(fd, (struct sockaddr *)&ss, len) != 0)
		fail("raw UDP floor: bind: %s", strerror(errno));
	set_buf(fd, SO_RCVBUF, SO_RCVBUFFORCE);
	set_buf(fd, SO_SNDBUF, SO_SNDBUFFORCE);
	return fd;
}

static void connect_to(int fd, int peer)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getsockname(peer, (struct sockaddr *)&ss, &len) != 0 ||
	    connect(fd, (struct sockaddr *)&ss, len) != 0)
		fail("raw UDP floor: connect: %s", strerror(errno));
}

static int rcvbuf_of(int fd)
{
	int v = 0;
	socklen_t len = sizeof v;

	getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len);
	return v;
}

/* --- datagrams: send a message, busy-poll one in --- */

static void send_dgram(int fd, const void *buf, size_t len)
{
	while (send(fd, buf, len, 0) < 0)
		if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR)
			fail("raw UDP floor: send: %s", strerror(errno));
}

static void send_msg(struct ufloor *u, const unsigned char *buf, size_t size)
{
	struct dgram_seq q = { size, u->dgram, 0 };
	size_t n = dgrams_per_msg(u, size), off;

	for (size_t k = 0; k < n; k++) {
		size_t len = seq_next(&q, &off);

		send_dgram(u->fd, buf + off, len);
	}
}

/* One datagram into buf (cap bytes); -1 when none came for UF_STALL_NS. */
static ssize_t recv_dgram(int fd, void *buf, size_t cap)
{
	uint64_t since = 0;

	for (unsigned spins = 1;; spins++) {
		ssize_t n = recv(fd, buf, cap, MSG_DONTWAIT);

		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			fail("raw UDP floor: recv: %s", strerror(errno));
		if (spins % UF_SPIN_CHECK)
			continue;
		if (spins >= UF_YIELD_AFTER)
			sched_yield(); /* let softirq work queued on this CPU run */
		if (since == 0)
			since = clock_ns();
		else if (clock_ns() - since > UF_STALL_NS)
			return -1;
	}
}

/* A message of size bytes into u->rx; counts what it misses. */
static void recv_msg(struct ufloor *u, size_t size)
{
	size_t want = dgrams_per_msg(u, size), got = 0;
	struct dgram_seq q = { size, u->dgram, 0 };

	while (got < want) {
		size_t off, len = seq_next(&q, &off);

		if (recv_dgram(u->fd, u->rx + off, len) < 0)
			break;
		got++;
	}
	u->lost += want - got;
}

/* Empties the socket after a batch: leftovers of a loss. */
static void drain(int fd)
{
	while (recv(fd, NULL, 0, MSG_DONTWAIT | MSG_TRUNC) >= 0)
		;
}

/* --- the child: obeys commands until UF_QUIT --- */

static void child_pingpong(struct ufloor *u, const struct uf_msg *m)
{
	for (uint32_t i = 0; i < m->count; i++) {
		recv_msg(u, m->size);
		send_msg(u, u->rx, m->size);
	}
}

/* Counts the stream's datagrams, acking every quarter window and the last. */
static void child_stream(struct ufloor *u, const struct uf_msg *m)
{
	uint32_t every = m->window / 4, got = 0;

	while (got < m->count && recv_dgram(u->fd, u->rx, u->dgram) >= 0)
		if (++got % every == 0 || got == m->count)
			send_dgram(u->ack, &got, sizeof got);
	if (got < m->count) {
		u->lost += m->count - got;
		send_dgram(u->ack, &got, sizeof got);
	}
}

static _Noreturn void uf_child(struct ufloor *u)
{
	struct uf_msg m;

	while (read(u->ctl, &m, sizeof m) == (ssize_t)sizeof m && m.cmd != UF_QUIT) {
		struct uf_report rep;

		u->lost = 0;
		if (m.cmd == UF_PINGPONG)
			child_pingpong(u, &m);
		else
			child_stream(u, &m);
		drain(u->fd);
		rep.lost = u->lost;
		if (write(u->ctl, &rep, sizeof rep) != (ssize_t)sizeof rep)
			_exit(1);
	}
	_exit(0);
}

/* --- the parent: commands, timed loops --- */

static void uf_command(struct ufloor *u, const struct uf_msg *m)
{
	u->lost = 0;
	if (write(u->ctl, m, sizeof *m) != (ssize_t)sizeof *m)
		fail("raw UDP floor: the child is gone");
}

/* Waits for the child's report; returns the datagrams both sides missed. */
static uint64_t uf_report(struct ufloor *u)
{
	struct uf_report rep;

	if (read(u->ctl, &rep, sizeof rep) != (ssize_t)sizeof rep)
		fail("raw UDP floor: the child is gone");
	drain(u->fd);
	return rep.lost + u->lost;
}

/* A batch_fn: n timed round trips of the raw ping-pong. */
static unsigned uf_rounds(struct bench *bn, void *arg, size_t size, unsigned first, uint64_t *out,
			  unsigned n)
{
	struct ufloor *u = arg;
	struct uf_msg m = { UF_PINGPONG, n, size, 0 };

	(void)first;
	alarm(bn->o->timeout_s);
	uf_command(u, &m);
	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = ticks();

		send_msg(u, u->tx, size);
		recv_msg(u, size);
		out[i] = ticks() - t0;
	}
	u->point_lost += uf_report(u);
	alarm(0);
	return n;
}

/* One size's ping-pong; counts the losses of all its batches. */
static struct lat uf_lat(struct bench *bn, struct ufloor *u, unsigned i)
{
	size_t size = bn->sizes[i];
	struct lat l;

	u->point_lost = 0;
	l = sample_point(bn, uf_rounds, u, size, lat_iters(bn->o, size), bn->o->point_ms / 2 + 1);
	bn->floor.lost[i] += u->point_lost;
	return l;
}

static void uf_sweeps(struct bench *bn, struct ufloor *u)
{
	unsigned reps = bn->o->repeat, ns = bn->nsizes;
	struct lat *runs = calloc((size_t)ns * reps, sizeof *runs);

	if (runs == NULL)
		fail("out of memory");
	for (unsigned r = 0; r < reps; r++)
		for (unsigned i = 0; i < ns; i++)
			runs[i * reps + r] = uf_lat(bn, u, i);
	for (unsigned i = 0; i < ns; i++)
		bn->floor.pp[i] = lat_median(&runs[i * reps], reps);
	free(runs);
}

/* --- the stream --- */

struct stream_res {
	double ns, bytes;
	uint64_t dgrams, lost;
};

/* Datagrams in flight: the udp backend's window, or what half the receive buffer holds. */
static unsigned stream_window(const struct ufloor *u, size_t size)
{
	size_t len = size < u->dgram ? size : u->dgram;
	uint64_t fits = (uint64_t)u->rcvbuf / 2 / (len + UF_OVERHEAD);

	return fits < 4 ? 4 : fits > UF_WINDOW ? UF_WINDOW : (unsigned)fits;
}

/*
 * Takes the acks that came, busy-polling for the first one when wait is
 * set; false when waiting saw nothing for UF_STALL_NS.
 */
static bool take_acks(struct ufloor *u, uint32_t *acked, bool wait)
{
	uint32_t got;
	ssize_t n;

	for (;; wait = false) {
		if (wait)
			n = recv_dgram(u->ack, &got, sizeof got);
		else
			n = recv(u->ack, &got, sizeof got, MSG_DONTWAIT);
		if (n < 0)
			return !wait;
		if (n == (ssize_t)sizeof got && got > *acked)
			*acked = got;
	}
}

static void send_next(struct ufloor *u, struct dgram_seq *q, struct stream_res *res)
{
	size_t off, len = seq_next(q, &off);

	send_dgram(u->fd, u->tx + off, len);
	res->bytes += (double)len;
	res->dgrams++;
}

/* A stream of n datagrams of size-byte messages, window in flight. */
static struct stream_res uf_stream(struct bench *bn, struct ufloor *u, size_t size, unsigned window,
				   uint32_t n)
{
	struct uf_msg m = { UF_STREAM, n, size, window };
	struct dgram_seq q = { size, u->dgram, 0 };
	struct stream_res res = { 0, 0, 0, 0 };
	uint32_t acked = 0;
	uint64_t t0;

	alarm(bn->o->timeout_s);
	uf_command(u, &m);
	t0 = ticks();
	while (res.dgrams < n) {
		if (res.dgrams - acked >= window && !take_acks(u, &acked, true))
			break;
		send_next(u, &q, &res);
		if (res.dgrams % UF_ACK_POLL == 0)
			take_acks(u, &acked, false);
	}
	while (acked < res.dgrams && take_acks(u, &acked, true))
		;
	res.ns = ticks_ns(ticks() - t0);
	uf_report(u);
	res.lost = acked < res.dgrams ? res.dgrams - acked : 0;
	alarm(0);
	return res;
}

/* Stream bandwidth of size-byte messages in MB/s, over about --point-ms. */
static double stream_point(struct bench *bn, struct ufloor *u, unsigned i)
{
	size_t size = bn->sizes[i];
	unsigned window = stream_window(u, size);
	struct stream_res res = uf_stream(bn, u, size, window, 4 * window);
	double per = res.ns / (double)res.dgrams, fit = bn->o->point_ms * 1e6 / (per > 1 ? per : 1);
	uint32_t n = fit < 4 * window	 ? 4 * window :
		     fit > UF_STREAM_MAX ? UF_STREAM_MAX :
					   (uint32_t)fit;

	res = uf_stream(bn, u, size, window, n);
	bn->floor.lost[i] += res.lost;
	return res.bytes * (1.0 - (double)res.lost / (double)res.dgrams) / res.ns * 1e3;
}

/* --- the run --- */

/* Two connected sockets and a control pair: side 0 the parent's. */
static void uf_open(struct ufloor u[2], struct bench *bn, int family)
{
	int ctl[2], ack[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ctl) != 0 ||
	    socketpair(AF_UNIX, SOCK_DGRAM, 0, ack) != 0)
		fail("raw UDP floor: socketpair: %s", strerror(errno));
	for (int k = 0; k < 2; k++) {
		memset(&u[k], 0, sizeof u[k]);
		u[k].fd = loopback_socket(family);
		u[k].ctl = ctl[k];
		u[k].ack = ack[k];
		u[k].dgram = (size_t)bn->mtu + UF_HDR;
		u[k].tx = bn->bufs.tx;
		u[k].rx = bn->bufs.rx;
	}
	connect_to(u[0].fd, u[1].fd);
	connect_to(u[1].fd, u[0].fd);
	u[0].rcvbuf = rcvbuf_of(u[1].fd);
}

static void uf_close(struct ufloor *u)
{
	close(u->fd);
	close(u->ctl);
	close(u->ack);
}

static void uf_measure(struct bench *bn, struct ufloor *u)
{
	size_t max = bn->sizes[bn->nsizes - 1];

	in_call = "the floor's raw UDP ping-pong";
	/* Untimed: the child starts up and faults its pages in. */
	uf_rounds(bn, u, max, 0, bn->rtt, WARM_MIN);
	memset(bn->floor.lost, 0, sizeof bn->floor.lost);
	uf_sweeps(bn, u);
	in_call = "the floor's raw UDP stream";
	for (unsigned i = 0; i < bn->nsizes; i++)
		bn->floor.mbps[i] = stream_point(bn, u, i);
}

void floor_run_udp(struct bench *bn)
{
	int family = run_family(bn->o->backend);
	struct ufloor u[2];
	struct uf_msg quit = { UF_QUIT, 0, 0, 0 };
	pid_t pid;

	uf_open(u, bn, family);
	pin_to(bn->cpu[0]);
	pid = fork_peer(bn->cpu[1]);
	if (pid == 0) {
		uf_close(&u[0]);
		uf_child(&u[1]);
	}
	uf_close(&u[1]);
	uf_measure(bn, &u[0]);
	uf_command(&u[0], &quit);
	wait_peer(pid, bn->o->timeout_s);
	uf_close(&u[0]);
	bn->floor.kind = FLOOR_UDP;
	bn->floor.family = family == AF_INET6 ? "::1" : "127.0.0.1";
	bn->floor.dgram = u[0].dgram;
	bn->floor.rcvbuf = u[0].rcvbuf;
	bn->have_floor = true;
}
