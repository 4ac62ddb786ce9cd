// SPDX-License-Identifier: MIT
/*
 * Fault test: node 1 sends a stream of messages of mixed sizes (1 B..1 MiB,
 * each checksummed) to node 0 over udp through the fault-injecting relay
 * (relay.h); node 0 checks that each arrives exactly once, in order and
 * intact, and the whole run ends within a time limit. With --kill, one
 * side dies by SIGKILL halfway and the survivor must get -ECONNRESET within
 * dead_ms and a margin (the relay passes no ICMP: silence is the only sign).
 *
 * Sizes of message i (r: a hash of the seed and i): i % 1000 == 999: 1 MiB;
 * i % 100 == 42: 64..256 KiB; i % 10 == 7: 4..64 KiB; else 1 B..4 KiB.
 * 10,000 messages are about 80 MiB.
 *
 *   fault_stream [--count N] [--seed S] [--limit SEC] [--mtu M] [--dead-ms MS]
 *                [--faults LOSS,REORDER,DUP,CORRUPT (per mille)] [--delay US,JITTER]
 *                [--kill sender|receiver] [--queues Q] [--poll 1]
 *
 * --poll 1: both ends use the polling calls, and messages i % 10 == 7 are
 * 256 KiB..1 MiB: with an mtu of 8 KiB or more they go by offers, the
 * receiver's GRANTs and offers as lossy, late and doubled as the rest. The
 * receiver's calls time out after POLL_RX_MS and are made again, every
 * other time after as long a pause, so that GRANTs go stale (their offers'
 * frames then come as frames) and offers come as a receive's wait ends.
 *
 * With --netns NS_A,NS_B --addr IP_A,IP_B there is no relay: node 0 runs in
 * network namespace NS_A at IP_A:7000, node 1 in NS_B at IP_B:7000, and the
 * faults are the kernel path's (netns.sh puts a BPF program on the veth).
 *
 * --queues Q: both endpoints' Tx and Rx queues of Q entries (a power of two;
 * in AF_XDP mode they size the rings: netns.sh checks the counters).
 *
 * Exit status 0 if every check passed; it prints the relay's counters and,
 * at close, each node's (CLCP_UDP_STATS=1).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clcp/clcp.h>

#include "relay.h"
#include "testutil.h"

#define MIB (1u << 20)
#define KILL_MARGIN_MS 3000 /* scheduling, a probe period, the relay's delay */
#define NETNS_PORT 7000

struct opts {
	uint32_t count, mtu, dead_ms, limit_s;
	uint32_t queues; /* Tx and Rx queue entries; 0: the default */
	uint64_t seed;
	const char *kill; /* NULL, "sender" or "receiver" */
	char netns[2][64], addr[2][64]; /* direct mode: node 0's and node 1's */
	bool direct;
	bool poll; /* polling calls, and more long messages */
	struct relay_conf relay;
};

#define POLL_RX_MS 3 /* --poll: a receive's timeout (then it is made again) */

/* What a child reports to the parent through a pipe. */
struct result {
	int rc;		   /* 0, or the failing call's -errno (or -EPROTO) */
	uint32_t msgs;	   /* messages sent or received intact */
	uint64_t bytes;
	uint64_t start_ms, end_ms; /* CLOCK_MONOTONIC, comparable across processes */
};

/* --- messages --- */

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
		crc_table[i] = c;
	}
}

static uint32_t crc32c(const unsigned char *p, size_t len)
{
	uint32_t c = ~0u;

	while (len--)
		c = (c >> 8) ^ crc_table[(c ^ *p++) & 0xffu];
	return ~c;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static size_t msg_size(const struct opts *o, uint32_t i)
{
	uint64_t r = mix(o->seed * 1000003u + i);

	if (i % 1000 == 999)
		return MIB;
	if (i % 100 == 42)
		return 64 * 1024 + r % (192 * 1024 + 1);
	if (i % 10 == 7 && o->poll)
		return 256 * 1024 + r % (768 * 1024 + 1);
	if (i % 10 == 7)
		return 4096 + r % (60 * 1024 + 1);
	return 1 + r % 4096;
}

/* Pattern of message i; from 8 bytes on: its index first, a CRC32C last. */
static void msg_make(unsigned char *b, size_t len, uint32_t i)
{
	tu_fill(b, len, i);
	if (len < 8)
		return;
	memcpy(b, &i, 4);
	uint32_t c = crc32c(b, len - 4);
	memcpy(b + len - 4, &c, 4);
}

static int msg_check(const unsigned char *b, size_t len, size_t want, uint32_t i)
{
	uint32_t idx, c;

	if (len != want) {
		fprintf(stderr, "message %u: %zu bytes, want %zu\n", i, len, want);
		return -EPROTO;
	}
	if (len < 8)
		return tu_check(b, len, i) < 0 ? 0 : -EPROTO;
	memcpy(&idx, b, 4);
	memcpy(&c, b + len - 4, 4);
	if (idx != i || c != crc32c(b, len - 4) || tu_check_at(b + 4, len - 8, i, 4) >= 0) {
		fprintf(stderr, "message %u (%zu bytes): index %u, crc %s\n", i, len, idx,
			c == crc32c(b, len - 4) ? "ok" : "wrong");
		return -EPROTO;
	}
	return 0;
}

/* --- the two nodes --- */

struct node_args {
	const struct opts *o;
	uint32_t node, peer;
	uint16_t port, relay_port; /* our real port; the relay's, facing us */
	int out;		   /* result pipe */
};

/* Direct mode: into the node's network namespace (/var/run/netns/NAME). */
static int netns_enter(const char *name)
{
	char path[128];
	int fd, rc;

	snprintf(path, sizeof(path), "/var/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		rc = -errno;
		fprintf(stderr, "netns %s: %s\n", name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	close(fd);
	return 0;
}

/*
 * This node's table: itself at its real port, the peer at the relay (or,
 * in direct mode, both at their namespace's address).
 */
static int node_open(const struct node_args *a, clcp_dev_t **dev, clcp_endpt_t **ep)
{
	const struct opts *o = a->o;
	struct clcp_endpt_attr attr;
	char nodes[192], uri[64];
	int rc;

	if (o->direct) {
		rc = netns_enter(o->netns[a->node]);
		if (rc < 0)
			return rc;
		snprintf(nodes, sizeof(nodes), "0=%s:%u,1=%s:%u", o->addr[0], NETNS_PORT,
			 o->addr[1], NETNS_PORT);
	} else {
		snprintf(nodes, sizeof(nodes), "%u=127.0.0.1:%u,%u=127.0.0.1:%u", a->node,
			 a->port, a->peer, a->relay_port);
	}
	setenv("CLCP_NODES", nodes, 1);
	setenv("CLCP_UDP_STATS", "1", 1);
	/* crc=1: the relay corrupts datagrams, and on loopback the CRC is off unless asked. */
	snprintf(uri, sizeof(uri), "udp://%u?dead_ms=%u&crc=1", a->node, a->o->dead_ms);
	rc = clcp_open(uri, dev);
	if (rc < 0)
		return rc;
	clcp_endpt_attr_init(&attr);
	attr.mtu = a->o->mtu;
	if (a->o->poll && a->node == 0)
		attr.timeout_ms = POLL_RX_MS;
	if (a->o->queues)
		attr.txq_len = attr.rxq_len = a->o->queues;
	rc = clcp_alloc_endpt(*dev, &attr, ep);
	if (rc == 0)
		rc = clcp_alloc_chan(*ep, 10, a->peer, 10);
	if (rc < 0)
		fprintf(stderr, "node %u: %s: %s\n", a->node, clcp_strerror(rc), clcp_errmsg());
	return rc;
}

static bool victim(const struct node_args *a, const char *who, uint32_t i)
{
	return a->o->kill && strcmp(a->o->kill, who) == 0 && i == a->o->count / 2;
}

/* Reports r to the parent; a victim dies right after. */
static int report(const struct node_args *a, struct result *r, bool die)
{
	r->end_ms = tu_now_ms();
	if (write(a->out, r, sizeof(*r)) != (ssize_t)sizeof(*r))
		return 1;
	if (die)
		raise(SIGKILL);
	return r->rc != 0;
}

static int sender(const struct node_args *a)
{
	const struct opts *o = a->o;
	struct result r = { 0 };
	unsigned char *buf = malloc(MIB);
	clcp_dev_t *dev = NULL;
	clcp_endpt_t *ep;
	int chan;

	chan = buf ? node_open(a, &dev, &ep) : -ENOMEM;
	r.start_ms = tu_now_ms();
	for (uint32_t i = 0; chan >= 0 && i < o->count; i++) {
		size_t len = msg_size(o, i);
		ssize_t n;

		if (victim(a, "sender", i))
			return report(a, &r, true);
		msg_make(buf, len, i);
		n = o->poll ? clcp_poll_tx_msg(ep, chan, buf, len, 0)
			    : clcp_snd_message(ep, chan, buf, len, 0);
		if (n < 0) {
			r.rc = (int)n;
			fprintf(stderr, "sender: message %u: %s: %s\n", i, clcp_strerror(r.rc),
				clcp_errmsg());
			break;
		}
		r.msgs++;
		r.bytes += len;
	}
	if (chan < 0)
		r.rc = chan;
	report(a, &r, false);
	if (dev)
		clcp_close(dev);
	free(buf);
	return r.rc != 0;
}

/*
 * Exactly once: after the last message nothing more comes (a duplicate
 * would); the sender may have closed meanwhile (-ECONNRESET).
 */
static int nothing_more(clcp_endpt_t *ep, int chan, unsigned char *buf)
{
	ssize_t n;

	tu_msleep(200);
	n = clcp_rcv_message(ep, &chan, buf, MIB, CLCP_NONBLOCK);
	if (n == -EAGAIN || n == -ECONNRESET)
		return 0;
	fprintf(stderr, "receiver: after the last message: %zd (%s)\n", n, clcp_strerror((int)n));
	return -EPROTO;
}

/* Frames of 8 KiB and more are read straight into the Rx buffers (udp's rx_direct). */
static int direct_used(clcp_dev_t *dev, uint32_t mtu)
{
	struct clcp_stat st[64];
	int n = clcp_dev_stats(dev, st, 64);
	uint64_t direct = 0;

	if (mtu < 8192)
		return 0;
	if (tu_stat_get(st, n, 64, "rx_direct", &direct) < 0 || direct == 0) {
		fprintf(stderr, "receiver: mtu %u, but no frame was read in place (rx_direct 0)\n",
			mtu);
		return -EPROTO;
	}
	printf("receiver: %llu frames read in place\n", (unsigned long long)direct);
	return 0;
}

/* Polling with frames of 8 KiB and more: long messages came by offers (udp's rx_bulk). */
static int offers_used(clcp_dev_t *dev, const struct opts *o)
{
	struct clcp_stat st[64];
	int n = clcp_dev_stats(dev, st, 64);
	uint64_t bulk = 0;

	if (!o->poll || o->mtu < 8192)
		return 0;
	if (tu_stat_get(st, n, 64, "rx_bulk", &bulk) < 0 || bulk == 0) {
		fprintf(stderr, "receiver: polling, mtu %u, but no offered message (rx_bulk 0)\n",
			o->mtu);
		return -EPROTO;
	}
	printf("receiver: %llu frames of offered messages\n", (unsigned long long)bulk);
	return 0;
}

static int receiver(const struct node_args *a)
{
	const struct opts *o = a->o;
	struct result r = { 0 };
	unsigned char *buf = malloc(MIB);
	clcp_dev_t *dev = NULL;
	clcp_endpt_t *ep;
	int chan;

	chan = buf ? node_open(a, &dev, &ep) : -ENOMEM;
	r.start_ms = tu_now_ms();
	for (uint32_t i = 0; chan >= 0 && i < o->count; i++) {
		int c = chan;
		ssize_t n;

		if (victim(a, "receiver", i))
			return report(a, &r, true);
		for (unsigned t = 0;; t++) {
			n = o->poll ? clcp_poll_rx_msg(ep, &c, buf, MIB, 0)
				    : clcp_rcv_message(ep, &c, buf, MIB, 0);
			if (n != -ETIMEDOUT || !o->poll)
				break;
			if (t % 2)
				tu_msleep(POLL_RX_MS); /* no receive waits: an offer may come now */
		}
		if (n < 0) {
			r.rc = (int)n;
			fprintf(stderr, "receiver: message %u: %s: %s\n", i, clcp_strerror(r.rc),
				clcp_errmsg());
			break;
		}
		r.rc = msg_check(buf, (size_t)n, msg_size(o, i), i);
		if (r.rc)
			break;
		r.msgs++;
		r.bytes += (uint64_t)n;
	}
	if (chan < 0)
		r.rc = chan;
	if (r.rc == 0)
		r.rc = nothing_more(ep, chan, buf);
	if (r.rc == 0)
		r.rc = direct_used(dev, o->mtu);
	if (r.rc == 0)
		r.rc = offers_used(dev, o);
	report(a, &r, false);
	if (dev)
		clcp_close(dev);
	free(buf);
	return r.rc != 0;
}

static pid_t spawn(int (*fn)(const struct node_args *), struct node_args *a, int *rd,
		   unsigned limit_s)
{
	int p[2];
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		a->out = p[1];
		alarm(limit_s + 30); /* a stuck child dies */
		_exit(fn(a));
	}
	close(p[1]);
	*rd = p[0];
	return pid;
}

/* --- the relay --- */

static pid_t spawn_relay(struct relay_conf *rc, int *stop_wr, int *stats_rd)
{
	int stop[2], st[2];
	pid_t pid;

	if (pipe(stop) < 0 || pipe(st) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct relay_stats s;

		close(stop[1]);
		close(st[0]);
		if (relay_run(rc, stop[0], &s) < 0)
			_exit(1);
		_exit(write(st[1], &s, sizeof(s)) != (ssize_t)sizeof(s));
	}
	close(stop[0]);
	close(st[1]);
	*stop_wr = stop[1];
	*stats_rd = st[0];
	return pid;
}

/* A free UDP port on 127.0.0.1 (bound for a moment, then released). */
/*
 * A port for a node, free now: from a block derived from the pid, below
 * the conformance suite's ports and the kernel's ephemeral range, so that
 * tests running side by side do not pick the same one between this check
 * and the node's bind (an ephemeral port is anyone's next).
 */
static uint16_t free_port(void)
{
	static unsigned next;
	unsigned base = 5000u + (unsigned)getpid() % 1200u * 4u;

	for (; next < 4; next++) {
		uint16_t port = (uint16_t)(base + next);
		int fd = relay_socket(port, NULL);

		if (fd >= 0) {
			close(fd);
			next++;
			return port;
		}
	}
	return 0;
}

/* --- the parent --- */

static int get_result(int fd, struct result *r)
{
	struct pollfd p = { fd, POLLIN, 0 };

	memset(r, 0, sizeof(*r));
	r->rc = -ENODATA;
	if (poll(&p, 1, 0) == 1 && read(fd, r, sizeof(*r)) != (ssize_t)sizeof(*r))
		r->rc = -ENODATA;
	close(fd);
	return r->rc;
}

/* Waits for both children until the deadline; kills what is left then. */
static bool wait_children(pid_t *pids, int *status, uint64_t deadline_ms)
{
	int left = 2;

	while (left > 0 && tu_now_ms() < deadline_ms) {
		for (int i = 0; i < 2; i++)
			if (pids[i] > 0 && waitpid(pids[i], &status[i], WNOHANG) == pids[i]) {
				pids[i] = 0;
				left--;
			}
		tu_msleep(5);
	}
	for (int i = 0; i < 2; i++)
		if (pids[i] > 0) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], &status[i], 0);
		}
	return left == 0;
}

static void print_relay(const struct relay_stats *s)
{
	printf("relay: %llu datagrams in, %llu out; lost %llu, duplicated %llu, corrupted %llu, "
	       "held back %llu, delivered out of order %llu, overflow %llu\n",
	       (unsigned long long)s->rx, (unsigned long long)s->tx, (unsigned long long)s->lost,
	       (unsigned long long)s->dups, (unsigned long long)s->corrupted,
	       (unsigned long long)s->delayed, (unsigned long long)s->reordered,
	       (unsigned long long)s->overflow);
}

/* Every fault configured must have happened, or the run proved nothing. */
static int check_relay(const struct opts *o, const struct relay_stats *s)
{
	const struct relay_conf *c = &o->relay;
	int bad = 0;

	if (c->loss_pm && !s->lost)
		bad = fprintf(stderr, "FAIL: the relay lost nothing\n");
	if (c->dup_pm && !s->dups)
		bad = fprintf(stderr, "FAIL: the relay duplicated nothing\n");
	if (c->corrupt_pm && !s->corrupted)
		bad = fprintf(stderr, "FAIL: the relay corrupted nothing\n");
	if (c->reorder_pm && !s->reordered)
		bad = fprintf(stderr, "FAIL: the relay reordered nothing\n");
	return bad ? 1 : 0;
}

/* Normal run: both sides complete, every message intact, within the limit. */
static int check_stream(const struct opts *o, const struct result *snd, const struct result *rcv)
{
	if (snd->rc || rcv->rc || rcv->msgs != o->count) {
		fprintf(stderr, "FAIL: sender %d (%u sent), receiver %d (%u of %u intact)\n",
			snd->rc, snd->msgs, rcv->rc, rcv->msgs, o->count);
		return 1;
	}
	printf("%u messages, %.1f MiB, exactly once, in order, intact in %.1f s (%.1f MiB/s)\n",
	       rcv->msgs, (double)rcv->bytes / MIB, (double)(rcv->end_ms - rcv->start_ms) / 1000,
	       (double)rcv->bytes / MIB * 1000 / (double)(rcv->end_ms - rcv->start_ms + 1));
	return 0;
}

/* --kill: the survivor's error is -ECONNRESET, within dead_ms and a margin of the death. */
static int check_kill(const struct opts *o, const struct result *dead, const struct result *surv)
{
	uint64_t after = surv->end_ms > dead->end_ms ? surv->end_ms - dead->end_ms : 0;

	printf("%s killed after %u messages; survivor: %s after %llu ms (dead_ms %u)\n", o->kill,
	       dead->msgs, clcp_strerror(surv->rc), (unsigned long long)after, o->dead_ms);
	if (surv->rc != -ECONNRESET && surv->rc != -ETIMEDOUT) {
		fprintf(stderr, "FAIL: survivor ended with %d (%s), want -ECONNRESET\n", surv->rc,
			clcp_strerror(surv->rc));
		return 1;
	}
	if (after > o->dead_ms + KILL_MARGIN_MS) {
		fprintf(stderr, "FAIL: error %llu ms after the death, bound %u\n",
			(unsigned long long)after, o->dead_ms + KILL_MARGIN_MS);
		return 1;
	}
	return 0;
}

/* Binds the relay's sockets, picks the nodes' ports, forks the relay: pid or -1. */
static pid_t start_relay(struct opts *o, struct node_args *rcv, struct node_args *snd,
			 int *stop, int *stats)
{
	o->relay.a_side = relay_socket(0, &rcv->relay_port);
	o->relay.b_side = relay_socket(0, &snd->relay_port);
	rcv->port = o->relay.a_port = free_port();
	snd->port = o->relay.b_port = free_port();
	if (o->relay.a_side < 0 || o->relay.b_side < 0 || !rcv->port || !snd->port) {
		fprintf(stderr, "FAIL: cannot bind the relay's sockets or find free ports\n");
		return -1;
	}
	return spawn_relay(&o->relay, stop, stats);
}

/* Stops the relay, prints and checks its counters: 0, or 1 on failure. */
static int stop_relay(const struct opts *o, pid_t relay, int stop, int stats)
{
	struct relay_stats rs = { 0 };
	int fail = 0;

	close(stop); /* the relay stops and reports */
	if (read(stats, &rs, sizeof(rs)) != (ssize_t)sizeof(rs))
		fail = fprintf(stderr, "FAIL: no counters from the relay\n");
	close(stats);
	waitpid(relay, NULL, 0);
	print_relay(&rs);
	return fail || check_relay(o, &rs);
}

static int run(struct opts *o)
{
	struct node_args rcv = { .o = o, .node = 0, .peer = 1 }, snd = { .o = o, .node = 1, .peer = 0 };
	struct result rr, sr;
	int rfd[2], status[2] = { 0, 0 }, fail = 0;
	int stop = -1, stats = -1;
	pid_t pids[2], relay = o->direct ? 0 : start_relay(o, &rcv, &snd, &stop, &stats);
	uint64_t t0 = tu_now_ms();
	bool done;

	if (relay < 0)
		return 1;
	pids[0] = spawn(receiver, &rcv, &rfd[0], o->limit_s);
	pids[1] = spawn(sender, &snd, &rfd[1], o->limit_s);
	if (pids[0] < 0 || pids[1] < 0) {
		fprintf(stderr, "FAIL: fork: %s\n", strerror(errno));
		return 1;
	}
	done = wait_children(pids, status, t0 + o->limit_s * 1000ull);
	if (relay > 0)
		fail = stop_relay(o, relay, stop, stats);
	get_result(rfd[0], &rr);
	get_result(rfd[1], &sr);
	if (!done)
		fail = fprintf(stderr, "FAIL: not done within %u s\n", o->limit_s);
	if (!o->kill)
		fail |= check_stream(o, &sr, &rr);
	else if (strcmp(o->kill, "sender") == 0)
		fail |= check_kill(o, &sr, &rr);
	else
		fail |= check_kill(o, &rr, &sr);
	printf("%s in %.1f s\n", fail ? "FAILED" : "passed", (double)(tu_now_ms() - t0) / 1000);
	return fail ? 1 : 0;
}

/* One option NAME VALUE: 0, or -1 if unknown or malformed. */
static int parse_opt(struct opts *o, const char *name, const char *v)
{
	struct relay_conf *c = &o->relay;

	if (!strcmp(name, "--count"))
		o->count = (uint32_t)strtoul(v, NULL, 0);
	else if (!strcmp(name, "--seed"))
		o->seed = c->seed = strtoull(v, NULL, 0);
	else if (!strcmp(name, "--limit"))
		o->limit_s = (uint32_t)strtoul(v, NULL, 0);
	else if (!strcmp(name, "--mtu"))
		o->mtu = (uint32_t)strtoul(v, NULL, 0);
	else if (!strcmp(name, "--queues"))
		o->queues = (uint32_t)strtoul(v, NULL, 0);
	else if (!strcmp(name, "--dead-ms"))
		o->dead_ms = (uint32_t)strtoul(v, NULL, 0);
	else if (!strcmp(name, "--kill"))
		o->kill = v;
	else if (!strcmp(name, "--poll"))
		o->poll = strtoul(v, NULL, 0) != 0;
	else if (!strcmp(name, "--netns")) {
		o->direct = true;
		return sscanf(v, "%63[^,],%63s", o->netns[0], o->netns[1]) == 2 ? 0 : -1;
	} else if (!strcmp(name, "--addr")) {
		return sscanf(v, "%63[^,],%63s", o->addr[0], o->addr[1]) == 2 ? 0 : -1;
	} else if (!strcmp(name, "--faults")) {
		return sscanf(v, "%u,%u,%u,%u", &c->loss_pm, &c->reorder_pm, &c->dup_pm,
			      &c->corrupt_pm) == 4 ? 0 : -1;
	} else if (!strcmp(name, "--delay")) {
		return sscanf(v, "%u,%u", &c->delay_us, &c->jitter_us) == 2 ? 0 : -1;
	}
	else
		return -1;
	return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
	if (argc % 2 == 0)
		return -1; /* every option has a value */
	for (int i = 1; i < argc; i += 2)
		if (parse_opt(o, argv[i], argv[i + 1]) < 0)
			return -1;
	if (o->kill && strcmp(o->kill, "sender") && strcmp(o->kill, "receiver"))
		return -1;
	if (o->direct && !o->addr[0][0])
		return -1;
	return o->relay.jitter_us <= o->relay.delay_us && o->count ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct opts o = { .count = 10000, .mtu = CLCP_MTU_DEFAULT, .dead_ms = 2000, .limit_s = 150,
			  .seed = 1,
			  .relay = { .seed = 1, .loss_pm = 100, .reorder_pm = 250, .dup_pm = 50,
				     .corrupt_pm = 10, .delay_us = 5000, .jitter_us = 1000,
				     .reorder_us = 3000 } };

	if (parse(argc, argv, &o) < 0) {
		fprintf(stderr,
			"usage: %s [--count N] [--seed S] [--limit SEC] [--mtu M] "
			"[--dead-ms MS] [--faults LOSS,REORDER,DUP,CORRUPT] [--delay US,JITTER] "
			"[--kill sender|receiver] [--queues Q] [--poll 1] "
			"[--netns NS_A,NS_B --addr IP_A,IP_B]\n",
			argv[0]);
		return 2;
	}
	crc_init();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (o.direct)
		printf("direct: node 0 in %s at %s, node 1 in %s at %s (faults: the kernel path's)\n",
		       o.netns[0], o.addr[0], o.netns[1], o.addr[1]);
	else
		printf("relay: faults per mille: loss %u, reorder %u, dup %u, corrupt %u; "
		       "delay %u us +- %u\n", o.relay.loss_pm, o.relay.reorder_pm, o.relay.dup_pm,
		       o.relay.corrupt_pm, o.relay.delay_us, o.relay.jitter_us);
	printf("seed %llu, %u messages, mtu %u\n", (unsigned long long)o.seed, o.count, o.mtu);
	return run(&o);
}
