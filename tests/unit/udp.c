// SPDX-License-Identifier: MIT
/*
 * The udp backend's configuration (URI, CLCP_NODES, hostfile, the local
 * node found by its address), the job key, the wire format spoken by hand
 * (CRC32C both ways, a bad one dropped, a hole SACKed), and hostile datagrams: bad
 * input is refused or dropped, never a crash, and the device keeps working.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <poll.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clcp/clcp.h>

#include "testutil.h"
#include "udp.h" /* the engine's internals: udp_dgram_input */

static unsigned base_port(void)
{
	return 40000u + (unsigned)getpid() % 2000u * 8u % 16000u;
}

static void udp_setup(void)
{
	unsetenv("CLCP_NODE");
	unsetenv("CLCP_NODES");
	unsetenv("CLCP_HOSTFILE");
	unsetenv("CLCP_JOB_KEY");
}

TestSuite(udp, .init = udp_setup, .timeout = 60);

static void expect_fail(const char *uri, int err)
{
	clcp_dev_t *dev = NULL;
	int rc = clcp_open(uri, &dev);

	cr_assert_eq(rc, err, "clcp_open(\"%s\"): %d (%s), want %d", uri, rc, clcp_errmsg(), err);
	cr_assert_null(dev, "output written on failure");
}

Test(udp, bad_uris_are_einval)
{
	expect_fail("udp://x?local=9000", -EINVAL);
	expect_fail("udp://1?local=70000", -EINVAL);
	expect_fail("udp://1?local=", -EINVAL);
	expect_fail("udp://1?nosuch=1", -EINVAL);
	expect_fail("udp://1?local=9000&crc=2", -EINVAL);
	expect_fail("udp://1?local=9000&key=-1", -EINVAL);
	expect_fail("udp://1?local=9000&mode=dpdk", -EINVAL);
	expect_fail("udp://1?local=9000&mode=", -EINVAL);
	expect_fail("udp://1?local=9000&xdp_ring=100", -EINVAL); /* not a power of two */
	expect_fail("udp://1?local=9000&xdp_ring=8192", -EINVAL);
	expect_fail("udp://1?local=9000&xdp_queue=64", -EINVAL);
	setenv("CLCP_UDP_MODE", "fast", 1);
	expect_fail("udp://1?local=9000", -EINVAL);
	unsetenv("CLCP_UDP_MODE");
	expect_fail("udp://1", -EINVAL); /* no node table at all */
	expect_fail("udp:///nonexistent/hostfile", -ENOENT);
	setenv("CLCP_NODES", "0=127.0.0.1", 1);
	expect_fail("udp://0", -EINVAL);
	setenv("CLCP_NODES", "0=127.0.0.1:9,0=127.0.0.1:10", 1);
	expect_fail("udp://0", -EINVAL);
	setenv("CLCP_NODES", "0=[::1:9", 1);
	expect_fail("udp://0", -EINVAL);
	setenv("CLCP_NODES", "0=127.0.0.1:9", 1);
	expect_fail("udp://5", -EHOSTUNREACH);
}

Test(udp, local_mode_and_mtu)
{
	struct clcp_endpt_attr a;
	clcp_dev_t *dev;
	clcp_endpt_t *ep;
	char uri[96];

	snprintf(uri, sizeof(uri), "udp://7?local=%u&base_node=5", base_port());
	cr_assert_eq(clcp_open(uri, &dev), 0, "%s: %s", uri, clcp_errmsg());
	cr_assert_eq(clcp_dev_node(dev), 7u);
	clcp_endpt_attr_init(&a);
	a.mtu = 65471;
	cr_assert_eq(clcp_alloc_endpt(dev, &a, &ep), 0, "largest mtu: %s", clcp_errmsg());
	a.mtu = 65472;
	cr_assert_eq(clcp_alloc_endpt(dev, &a, &ep), -EINVAL, "mtu above a datagram");
	/* Node 4 is below base_node: no address. */
	cr_assert_eq(clcp_alloc_chan(ep, 10, 4, 10), -EHOSTUNREACH);
	cr_assert_eq(clcp_close(dev), 0);
}

static uint32_t auto_mtu(const char *uri)
{
	struct clcp_endpt_attr a, got;
	clcp_dev_t *dev;
	clcp_endpt_t *ep;

	cr_assert_eq(clcp_open(uri, &dev), 0, "%s: %s", uri, clcp_errmsg());
	cr_assert_eq(clcp_dev_attr_init(dev, &a), 0);
	clcp_endpt_attr_init(&got);
	cr_assert_eq(got.mtu, CLCP_MTU_AUTO);
	cr_assert_eq(clcp_alloc_endpt(dev, &got, &ep), 0, "%s", clcp_errmsg());
	cr_assert_eq(clcp_endpt_attr_get(ep, &got), 0);
	cr_assert_eq(got.mtu, a.mtu, "%s: allocated %u, dev_attr_init says %u", uri, got.mtu, a.mtu);
	clcp_close(dev);
	return a.mtu;
}

/* The default frame fits an Ethernet frame; mtu= in the URI changes it. */
Test(udp, default_mtu_fits_ethernet)
{
	char uri[96];

	snprintf(uri, sizeof(uri), "udp://0?local=%u", base_port() + 3);
	cr_assert_eq(auto_mtu(uri), 1500u - 20u - 8u - 32u - 4u); /* headers and CRC */
	snprintf(uri, sizeof(uri), "udp://0?local=%u&mtu=8936", base_port() + 3);
	cr_assert_eq(auto_mtu(uri), 8936u);
	snprintf(uri, sizeof(uri), "udp://0?local=%u&mtu=255", base_port() + 3);
	expect_fail(uri, -EINVAL);
	snprintf(uri, sizeof(uri), "udp://0?local=%u&mtu=65472", base_port() + 3); /* above UDP_MTU_MAX */
	expect_fail(uri, -EINVAL);
}

/* The first table entry whose address is ours becomes the local node. */
Test(udp, local_node_by_address)
{
	char nodes[128];
	clcp_dev_t *dev;

	snprintf(nodes, sizeof(nodes), "3=192.0.2.1:%u,4=127.0.0.1:%u,5=[::1]:%u", base_port(),
		 base_port() + 1, base_port() + 2);
	setenv("CLCP_NODES", nodes, 1);
	cr_assert_eq(clcp_open("udp", &dev), 0, "%s", clcp_errmsg());
	cr_assert_eq(clcp_dev_node(dev), 4u, "node %u", clcp_dev_node(dev));
	cr_assert_eq(clcp_close(dev), 0);
}

Test(udp, hostfile)
{
	char path[] = "/tmp/clcp-hostfile-XXXXXX", uri[96];
	clcp_dev_t *a, *b;
	clcp_endpt_t *ea, *eb;
	int fd = mkstemp(path), ca, cb, c;
	FILE *f;
	char buf[16];

	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	fprintf(f, "# test cluster\n\n  1 127.0.0.1:%u   # first\n2=localhost:%u\n", base_port() + 3,
		base_port() + 4);
	fclose(f);
	snprintf(uri, sizeof(uri), "udp://%s", path);
	setenv("CLCP_NODE", "1", 1);
	cr_assert_eq(clcp_open(uri, &a), 0, "%s: %s", uri, clcp_errmsg());
	setenv("CLCP_NODE", "2", 1);
	cr_assert_eq(clcp_open(uri, &b), 0, "%s: %s", uri, clcp_errmsg());
	unlink(path);
	cr_assert_eq(clcp_alloc_endpt(a, NULL, &ea), 0);
	cr_assert_eq(clcp_alloc_endpt(b, NULL, &eb), 0);
	ca = clcp_alloc_chan(ea, 10, 2, 20);
	cb = clcp_alloc_chan(eb, 20, 1, 10);
	cr_assert(ca >= 0 && cb >= 0);
	cr_assert_eq(clcp_snd_message(ea, ca, "hostfile", 8, 0), 8, "%s", clcp_errmsg());
	c = cb;
	cr_assert_eq(clcp_rcv_message(eb, &c, buf, sizeof(buf), 0), 8, "%s", clcp_errmsg());
	cr_assert_eq(memcmp(buf, "hostfile", 8), 0);
	clcp_close(a);
	clcp_close(b);
}

/* Two nodes with different job keys never connect. */
/* Nodes 0 and 1 on 127.0.0.1, ports from base_port() + off, each with its URI options (or ""). */
static void open_two(unsigned off, const char *qa, const char *qb, clcp_dev_t **a, clcp_dev_t **b)
{
	char ua[96], ub[96];

	snprintf(ua, sizeof(ua), "udp://0?local=%u%s", base_port() + off, qa);
	snprintf(ub, sizeof(ub), "udp://1?local=%u%s", base_port() + off, qb);
	cr_assert_eq(clcp_open(ua, a), 0, "%s: %s", ua, clcp_errmsg());
	cr_assert_eq(clcp_open(ub, b), 0, "%s: %s", ub, clcp_errmsg());
}

/* Two devices, an endpoint each (connect_ms 300: some tests expect a refusal), a channel each way. */
struct two_ends {
	clcp_dev_t *a, *b;
	clcp_endpt_t *ea, *eb;
	int ca, cb;
};

static void open_two_ends(unsigned off, const char *qa, const char *qb, struct two_ends *t)
{
	struct clcp_endpt_attr attr;

	open_two(off, qa, qb, &t->a, &t->b);
	clcp_endpt_attr_init(&attr);
	attr.connect_ms = 300;
	cr_assert_eq(clcp_alloc_endpt(t->a, &attr, &t->ea), 0);
	cr_assert_eq(clcp_alloc_endpt(t->b, &attr, &t->eb), 0);
	t->ca = clcp_alloc_chan(t->ea, 10, 1, 20);
	t->cb = clcp_alloc_chan(t->eb, 20, 0, 10);
	cr_assert(t->ca >= 0 && t->cb >= 0, "%s", clcp_errmsg());
}

Test(udp, wrong_key_is_refused)
{
	struct two_ends t;

	open_two_ends(5, "&key=1", "&key=2", &t);
	cr_assert_eq(clcp_snd_message(t.ea, t.ca, "x", 1, 0), -ECONNREFUSED, "%s", clcp_errmsg());
	clcp_close(t.a);
	clcp_close(t.b);
}

/* The value of the device counter `name`; fails the test when it is missing. */
static uint64_t dev_stat(clcp_dev_t *dev, const char *name)
{
	struct clcp_stat st[64];
	uint64_t v = 0;

	cr_assert_eq(tu_stat_get(st, clcp_dev_stats(dev, st, 64), 64, name, &v), 0, "%s", name);
	return v;
}

Test(udp, stats_api)
{
	struct clcp_stat st[64], one;
	char ua[96];
	clcp_dev_t *a;
	int n;

	snprintf(ua, sizeof(ua), "udp://0?local=%u", base_port() + 3);
	cr_assert_eq(clcp_open(ua, &a), 0);
	n = clcp_dev_stats(a, NULL, 0);
	cr_assert_gt(n, 8, "counters: %d", n);
	cr_assert_eq(clcp_dev_stats(a, &one, 1), n, "a short array still tells the count");
	cr_assert_str_eq(one.name, "tx_data");
	cr_assert_eq(clcp_dev_stats(a, st, 64), n);
	for (int i = 0; i < n; i++) {
		cr_assert_neq(st[i].name[0], 0);
		cr_assert_eq(st[i].value, 0u, "%s on a fresh device", st[i].name);
		for (int k = 0; k < i; k++)
			cr_assert_str_neq(st[i].name, st[k].name);
	}
	cr_assert_eq(clcp_dev_stats(a, NULL, 1), -EFAULT);
	cr_assert_eq(clcp_dev_stats(NULL, st, 1), -EINVAL);
	clcp_close(a);
}

static uint32_t w_crc32c(const unsigned char *p, size_t n);

/* Garbage, truncated and forged datagrams: dropped; the channel still works. */
Test(udp, hostile_datagrams)
{
	unsigned char d[2048];
	struct sockaddr_in to = { .sin_family = AF_INET };
	char buf[64];
	clcp_dev_t *a, *b;
	clcp_endpt_t *ea, *eb;
	int s, ca, cb, c;
	uint32_t seed = 12345;

	open_two(6, "&crc=1", "&crc=1", &a, &b); /* on loopback the CRC is off unless asked */
	cr_assert_eq(clcp_alloc_endpt(a, NULL, &ea), 0);
	cr_assert_eq(clcp_alloc_endpt(b, NULL, &eb), 0);
	ca = clcp_alloc_chan(ea, 10, 1, 20);
	cb = clcp_alloc_chan(eb, 20, 0, 10);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	to.sin_port = htons((uint16_t)(base_port() + 7));
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < 3000; i++) {
		size_t n = (size_t)(i % 67) * 3;

		for (size_t k = 0; k < n; k++) {
			seed = seed * 1103515245u + 12345u;
			d[k] = (unsigned char)(seed >> 16);
		}
		if (i % 3 == 0 && n >= 36) { /* a plausible header: version 1, port 20, a good CRC */
			uint32_t crc;

			d[0] = 1;
			d[2] = 0;
			d[3] = 20;
			memset(d + 28, 0, 4); /* the default job key */
			crc = htonl(w_crc32c(d, n - 4));
			memcpy(d + n - 4, &crc, 4);
		}
		sendto(s, d, n, 0, (struct sockaddr *)&to, sizeof(to));
	}
	close(s);
	cr_assert_eq(clcp_snd_message(ea, ca, "still fine", 10, 0), 10, "%s", clcp_errmsg());
	c = cb;
	cr_assert_eq(clcp_rcv_message(eb, &c, buf, sizeof(buf), 0), 10, "%s", clcp_errmsg());
	cr_assert_eq(memcmp(buf, "still fine", 10), 0);
	/* Each drop is counted by its reason (the kernel may lose some of the burst). */
	cr_assert_gt(dev_stat(b, "drop_short"), 0u);
	cr_assert_gt(dev_stat(b, "drop_crc"), 0u);
	/* (drop_port may also count a's hello that came before cb was bound.) */
	cr_assert_leq(dev_stat(b, "drop_short") + dev_stat(b, "drop_crc") + dev_stat(b, "drop_version") +
			      dev_stat(b, "drop_key") + dev_stat(b, "drop_len"),
		      3000u);
	cr_assert_geq(dev_stat(b, "rx_data"), 1u);
	cr_assert_geq(dev_stat(a, "tx_data"), 1u);
	cr_assert_geq(dev_stat(a, "rx_acks"), 1u);
	clcp_close(a);
	clcp_close(b);
}

/* --- liveness: silence is death, a stopped observer is not --- */

static void open_node(unsigned node, const char *opts, clcp_dev_t **dev, clcp_endpt_t **ep, int *chan)
{
	char uri[128];

	snprintf(uri, sizeof(uri), "udp://%u?local=%u&%s", node, base_port(), opts);
	cr_assert_eq(clcp_open(uri, dev), 0, "%s: %s", uri, clcp_errmsg());
	cr_assert_eq(clcp_alloc_endpt(*dev, NULL, ep), 0);
	*chan = clcp_alloc_chan(*ep, (uint16_t)(10 + node), 1 - node, (uint16_t)(11 - node));
	cr_assert_geq(*chan, 0, "%s", clcp_errmsg());
}

static int roundtrip(clcp_endpt_t *from, int cf, clcp_endpt_t *to, int ct)
{
	char buf[16];
	int c = ct;
	ssize_t rc = clcp_snd_message(from, cf, "ping", 4, 0);

	if (rc == 4)
		rc = clcp_rcv_message(to, &c, buf, sizeof(buf), 0);
	return rc == 4 ? 0 : (int)rc;
}

/* Stops the parent for ms, then lets it go on. */
static int stop_parent(void *arg)
{
	unsigned ms = *(unsigned *)arg;

	kill(getppid(), SIGSTOP);
	usleep(ms * 1000u);
	kill(getppid(), SIGCONT);
	return 0;
}

/* Both nodes in this process, stopped 2 s with dead_ms 1 s: no false reset. */
Test(udp, stopped_process_is_not_a_dead_peer)
{
	clcp_dev_t *a, *b;
	clcp_endpt_t *ea, *eb;
	int ca, cb, status, rc;
	unsigned ms = 2000;
	pid_t pid;

	open_node(0, "dead_ms=1000", &a, &ea, &ca);
	open_node(1, "dead_ms=1000", &b, &eb, &cb);
	cr_assert_eq(roundtrip(ea, ca, eb, cb), 0, "%s", clcp_errmsg());
	pid = tu_fork(stop_parent, &ms, NULL);
	cr_assert_gt(pid, 0);
	cr_assert_eq(tu_wait(pid, 10000, &status), 0);
	tu_msleep(50); /* the timers run before anything is sent */
	rc = roundtrip(ea, ca, eb, cb);
	cr_assert_eq(rc, 0, "after the stop: %d (%s) %s", rc, clcp_strerror(rc), clcp_errmsg());
	rc = roundtrip(eb, cb, ea, ca);
	cr_assert_eq(rc, 0, "after the stop: %d (%s) %s", rc, clcp_strerror(rc), clcp_errmsg());
	clcp_close(a);
	clcp_close(b);
}

/* Node 1 in a child that stops itself: bound but silent, so not refused by ICMP. */
static int silent_peer(void *arg)
{
	clcp_dev_t *dev;
	clcp_endpt_t *ep;
	int chan;
	char uri[128];

	snprintf(uri, sizeof(uri), "udp://1?local=%u&dead_ms=60000", *(unsigned *)arg);
	if (clcp_open(uri, &dev) < 0 || clcp_alloc_endpt(dev, NULL, &ep) < 0)
		return 1;
	chan = clcp_alloc_chan(ep, 11, 0, 10);
	if (chan < 0 || clcp_snd_message(ep, chan, "hi", 2, 0) != 2 || tu_put(tu_child_sock, 'R') < 0)
		return 1;
	raise(SIGSTOP);
	return 0;
}

Test(udp, silent_peer_is_dead_within_dead_ms)
{
	clcp_dev_t *a;
	clcp_endpt_t *ea;
	int ca, c, sock, status;
	char buf[16];
	uint64_t t0, dt;
	unsigned port = base_port(); /* the child's pid differs */
	pid_t pid;

	open_node(0, "dead_ms=1000", &a, &ea, &ca);
	pid = tu_fork(silent_peer, &port, &sock);
	cr_assert_gt(pid, 0);
	cr_assert_eq(tu_expect(sock, 'R', 10000), 0, "peer not ready");
	c = ca;
	cr_assert_eq(clcp_rcv_message(ea, &c, buf, sizeof(buf), 0), 2, "%s", clcp_errmsg());
	t0 = tu_now_ms();
	c = ca;
	cr_assert_eq(clcp_rcv_message(ea, &c, buf, sizeof(buf), 0), -ECONNRESET, "%s", clcp_errmsg());
	dt = tu_now_ms() - t0;
	cr_assert(dt >= 500 && dt < 5000, "reset after %llu ms, dead_ms 1000", (unsigned long long)dt);
	kill(pid, SIGKILL);
	cr_assert_eq(tu_wait(pid, 10000, &status), 0);
	close(sock);
	clcp_close(a);
}

#define MUTE_CHANS 6

/* Node 1 in a child: MUTE_CHANS channels to node 0, one message on each, then stopped. */
static int many_then_silent(void *arg)
{
	clcp_dev_t *dev;
	clcp_endpt_t *ep;
	char uri[128];

	snprintf(uri, sizeof(uri), "udp://1?local=%u&dead_ms=60000", *(unsigned *)arg);
	if (clcp_open(uri, &dev) < 0 || clcp_alloc_endpt(dev, NULL, &ep) < 0)
		return 1;
	for (int i = 0; i < MUTE_CHANS; i++) {
		int chan = clcp_alloc_chan(ep, (uint16_t)(100 + i), 0, (uint16_t)(200 + i));

		if (chan < 0 || clcp_snd_message(ep, chan, "hi", 2, 0) != 2)
			return 1;
	}
	if (tu_put(tu_child_sock, 'R') < 0)
		return 1;
	raise(SIGSTOP);
	return 0;
}

/*
 * Closing channels whose sends a dead host never acks: the first waits
 * until the host has been silent for a second, the others not at all (each
 * used to wait its whole 2 s linger, one after the other).
 */
Test(udp, close_to_a_dead_host_lingers_once)
{
	unsigned port = base_port();
	int chan[MUTE_CHANS], sock, status, c;
	clcp_endpt_t *ep;
	clcp_dev_t *dev;
	char uri[128], buf[16];
	uint64_t t0, dt;
	pid_t pid;

	snprintf(uri, sizeof(uri), "udp://0?local=%u&dead_ms=60000", port);
	cr_assert_eq(clcp_open(uri, &dev), 0, "%s: %s", uri, clcp_errmsg());
	cr_assert_eq(clcp_alloc_endpt(dev, NULL, &ep), 0);
	for (int i = 0; i < MUTE_CHANS; i++)
		chan[i] = clcp_alloc_chan(ep, (uint16_t)(200 + i), 1, (uint16_t)(100 + i));
	pid = tu_fork(many_then_silent, &port, &sock);
	cr_assert_gt(pid, 0);
	cr_assert_eq(tu_expect(sock, 'R', 10000), 0, "peer not ready");
	for (int i = 0; i < MUTE_CHANS; i++) {
		c = chan[i];
		cr_assert_eq(clcp_rcv_message(ep, &c, buf, sizeof(buf), 0), 2, "%s", clcp_errmsg());
		cr_assert_eq(clcp_snd_message(ep, chan[i], "unacked", 7, 0), 7);
	}
	t0 = tu_now_ms();
	cr_assert_eq(clcp_close(dev), 0);
	dt = tu_now_ms() - t0;
	cr_log_info("closed in %llu ms", (unsigned long long)dt);
	cr_assert_lt(dt, 2ull * MUTE_CHANS * 1000 / 3, "closed in %llu ms", (unsigned long long)dt);
	kill(pid, SIGKILL);
	cr_assert_eq(tu_wait(pid, 10000, &status), 0);
	close(sock);
}

#define DGRAM_MAX (32 + 64 + UDP_CRC_LEN)
#define PEER_INC "peer-inc" /* the forged peer channel's incarnation: 8 bytes */

/* A control frame's payload is its channel's incarnation (docs/udp.md). */
static const char *ctl_payload(uint8_t flags, const char *payload)
{
	return payload || (flags & CLCP_FF_DATA) ? payload : PEER_INC;
}

/*
 * The n payload bytes p at dst, as sent: an incarnation (a control frame's
 * 8 bytes) goes with 8 zero bytes, the forged peer's view of ours (not
 * known yet). The payload's length.
 */
static uint32_t payload_put(unsigned char *dst, uint8_t flags, const void *p, uint32_t n)
{
	memcpy(dst, p ? p : "", n);
	if ((flags & CLCP_FF_DATA) || n != UDP_INC_LEN)
		return n;
	memset(dst + n, 0, UDP_INC_LEN);
	return UDP_CTL_LEN;
}

/*
 * Port 10 + k of node 0 to port 20 + k of node 1 (the header of
 * docs/udp.md), at most 64 payload bytes, the CRC32C trailer: the
 * datagram's length.
 */
static size_t dgram_build_k(unsigned char *d, uint16_t k, uint8_t flags, uint32_t seq,
			    uint32_t msg_len, const char *payload)
{
	const char *p = ctl_payload(flags, payload);
	uint32_t n = p ? (uint32_t)strlen(p) : 0, crc;
	struct clcp_frame_hdr h = { .version = CLCP_FRAME_VERSION, .flags = flags,
				    .dst_port = htons(20 + k), .src_port = htons(10 + k),
				    .len = htonl(n), .msg_len = htonl(msg_len), .seq = htonl(seq) };

	cr_assert_leq(n, 64u);
	n = payload_put(d + sizeof(h), flags, p, n);
	h.len = htonl(n);
	memcpy(d, &h, sizeof(h));
	crc = htonl(udp_crc32c(0, d, sizeof(h) + n));
	memcpy(d + sizeof(h) + n, &crc, sizeof(crc));
	return sizeof(h) + n + UDP_CRC_LEN;
}

static size_t dgram_build(unsigned char *d, uint8_t flags, uint32_t seq, uint32_t msg_len,
			  const char *payload)
{
	return dgram_build_k(d, 0, flags, seq, msg_len, payload);
}

/* A forged peer: a socket on node 0's address of the one-host mode at port. */
static int fake_peer(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	cr_assert_geq(s, 0);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0, "bind port %u", port);
	return s;
}

/* A frame from port 10 of node 0 to port 20 of node 1 (the header of docs/udp.md). */
static void fake_send(int s, unsigned port, uint8_t flags, uint32_t seq, uint32_t msg_len,
		      const char *payload)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)(port + 1)),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	unsigned char d[DGRAM_MAX];
	size_t n = dgram_build(d, flags, seq, msg_len, payload);

	cr_assert_eq(sendto(s, d, n, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)n);
}

/*
 * A one-frame message whose msg_len is not its length: -EPROTO from every
 * receive call (the polling fast path took it as a message of 3 bytes).
 */
Test(udp, one_frame_message_with_wrong_length)
{
	unsigned port = base_port(); /* node 0 here, node 1 at port + 1 */
	clcp_endpt_t *ep;
	clcp_dev_t *dev;
	char uri[96], buf[2048];
	int s = fake_peer(port), c;

	snprintf(uri, sizeof(uri), "udp://1?local=%u", port);
	cr_assert_eq(clcp_open(uri, &dev), 0, "%s", clcp_errmsg());
	cr_assert_eq(clcp_alloc_endpt(dev, NULL, &ep), 0);
	c = clcp_alloc_chan(ep, 20, 0, 10);
	cr_assert_geq(c, 0);
	fake_send(s, port, CLCP_FF_ACK | 0x40 /* hello */, 0, 8, NULL);
	fake_send(s, port, CLCP_FF_DATA | CLCP_FF_FIRST | CLCP_FF_LAST, 0, 1000, "abc");
	fake_send(s, port, CLCP_FF_DATA | CLCP_FF_FIRST | CLCP_FF_LAST, 1, 3, "def");
	cr_assert_eq(clcp_poll_rx_msg(ep, &c, buf, sizeof(buf), 0), -EPROTO, "%s", clcp_errmsg());
	cr_assert_eq(clcp_poll_rx_msg(ep, &c, buf, sizeof(buf), 0), 3, "%s", clcp_errmsg());
	cr_assert_eq(memcmp(buf, "def", 3), 0);
	clcp_close(dev);
	close(s);
}

/* --- the engine driven directly (udp_dgram_input), its progress thread stopped --- */

struct engine {
	clcp_dev_t *dev;
	struct udp_dev *u;
	clcp_endpt_t *ep;
	int chan, peer; /* the peer: node 0, a socket of ours */
	struct sockaddr_storage from;
};

static void engine_open_mtu(struct engine *e, uint32_t rxq_len, uint32_t mtu)
{
	unsigned port = base_port() + 2; /* node 0; the device is node 1 at port + 1 */
	struct clcp_endpt_attr a;
	struct udp_node n;
	char uri[96];

	e->peer = fake_peer(port);
	snprintf(uri, sizeof(uri), "udp://1?local=%u&crc=1", port);
	cr_assert_eq(clcp_open(uri, &e->dev), 0, "%s", clcp_errmsg());
	e->u = e->dev->bpriv;
	udp_thread_stop(e->u);
	clcp_endpt_attr_init(&a);
	a.rxq_len = rxq_len;
	a.mtu = mtu;
	cr_assert_eq(clcp_alloc_endpt(e->dev, &a, &e->ep), 0);
	e->chan = clcp_alloc_chan(e->ep, 20, 0, 10);
	cr_assert_geq(e->chan, 0);
	cr_assert_eq(udp_node_addr(&e->u->conf, 0, &n), 0);
	e->from = n.sa;
}

static void engine_open(struct engine *e, uint32_t rxq_len)
{
	engine_open_mtu(e, rxq_len, CLCP_MTU_AUTO);
}

/* A datagram from port 10 + k of node 0 (to port 20 + k), as the socket would hand it over. */
static void engine_in_k(struct engine *e, uint16_t k, uint8_t flags, uint32_t seq,
			uint32_t msg_len, const char *payload)
{
	unsigned char d[DGRAM_MAX];
	size_t n = dgram_build_k(d, k, flags, seq, msg_len, payload);

	pthread_mutex_lock(&e->u->lock);
	udp_dgram_input(e->u, d, n, &e->from, sizeof(struct sockaddr_in));
	pthread_mutex_unlock(&e->u->lock);
}

/* A datagram from port 10 of node 0; a data frame is a message of its own length. */
static void engine_in(struct engine *e, uint8_t flags, uint32_t seq, const char *payload)
{
	uint32_t len = payload ? (uint32_t)strlen(payload) : 0;

	engine_in_k(e, 0, flags, seq, len ? len : 8, payload);
}

static void engine_close(struct engine *e)
{
	clcp_close(e->dev);
	close(e->peer);
}

static void expect_msg(struct engine *e, const char *want)
{
	char buf[64];
	int c = e->chan;
	ssize_t n = clcp_rcv_message(e->ep, &c, buf, sizeof(buf), CLCP_NONBLOCK);

	cr_assert_eq(n, (ssize_t)strlen(want), "want \"%s\": %zd %s", want, n, clcp_errmsg());
	cr_assert_eq(memcmp(buf, want, (size_t)n), 0, "want \"%s\", got \"%.*s\"", want, (int)n, buf);
}

/*
 * A frame kept for lack of an Rx buffer, and a copy of it (a retransmission)
 * arriving after the user posted a buffer but before wake_senders flushed
 * the kept one: the copy is a duplicate. (It was delivered and the kept
 * one stayed in the reorder store, delivered 64 frames later in place of
 * that frame, whose real copy was then dropped as a duplicate.)
 */
Test(udp, frame_kept_without_buffer_then_resent)
{
	struct engine e;
	struct clcp_frame f;
	char m[16];

	engine_open(&e, 2);
	engine_in(&e, CLCP_FF_ACK | UDP_FF_HELLO, 0, NULL);
	engine_in(&e, CLCP_FF_DATA | CLCP_FF_FIRST | CLCP_FF_LAST, 0, "m0");
	engine_in(&e, CLCP_FF_DATA | CLCP_FF_FIRST | CLCP_FF_LAST, 1, "m1");
	engine_in(&e, CLCP_FF_DATA | CLCP_FF_FIRST | CLCP_FF_LAST, 2, "m2"); /* kept: ring full */
	/* The user's post below does not reach wake_senders before the copy comes. */
	e.ep->hdr->rx_waiters = 0;
	cr_assert_eq(clcp_rcv_frame(e.ep, e.chan, &f, CLCP_NONBLOCK), 0);
	cr_assert_eq(clcp_release_frames(e.ep, &f, 1), 0);
	engine_in(&e, CLCP_FF_DATA | CLCP_FF_FIRST | CLCP_FF_LAST, 2, "m2");
	expect_msg(&e, "m1");
	expect_msg(&e, "m2");
	for (uint32_t seq = 3; seq < 3 + 2 * UDP_WIN; seq++) {
		snprintf(m, sizeof(m), "m%u", seq);
		engine_in(&e, CLCP_FF_DATA | CLCP_FF_FIRST | CLCP_FF_LAST, seq, m);
		expect_msg(&e, m);
	}
	engine_close(&e);
}

/*
 * A reset that answers a hello (RST with HELLO: the port was not bound then)
 * arriving after the peer was seen is stale — a later datagram overtook it,
 * as the AF_XDP ring overtakes the socket — and leaves the channel alone; a
 * plain reset still fails it. (The stale one failed the channel: -ECONNRESET
 * in one run in eight of the conformance messages in AF_XDP mode.)
 */
Test(udp, stale_reset_of_a_hello_is_ignored)
{
	struct engine e;

	engine_open(&e, 8);
	engine_in(&e, CLCP_FF_ACK | UDP_FF_HELLO, 0, NULL); /* seen */
	engine_in(&e, UDP_FF_RST | UDP_FF_HELLO, 0, NULL);
	engine_in(&e, CLCP_FF_DATA | CLCP_FF_FIRST | CLCP_FF_LAST, 0, "m0");
	expect_msg(&e, "m0");
	cr_assert_eq(e.u->st.gone[UDP_GONE_RST], 0);
	cr_assert_eq(UDPE(e.ep)->chans[e.chan].err, 0);
	engine_in(&e, UDP_FF_RST, 0, NULL);
	cr_assert_eq(UDPE(e.ep)->chans[e.chan].err, -ECONNRESET);
	cr_assert_eq(e.u->st.gone[UDP_GONE_RST], 1);
	engine_close(&e);
}

#define FLOOD 12 /* one-frame messages on the second channel: more than the 8 Rx buffers */

/* The rest of the first channel's message (frames 1 and 2), a while later. */
static void *late_rest(void *arg)
{
	struct engine *e = arg;

	tu_msleep(200);
	engine_in_k(e, 0, CLCP_FF_DATA, 1, 6, "b2");
	engine_in_k(e, 0, CLCP_FF_DATA | CLCP_FF_LAST, 2, 6, "c3");
	return NULL;
}

/*
 * A message begun on one channel while another channel's frames take
 * every Rx buffer: those parked frames move to the spill, the rest of the
 * message lands, and the other channel's messages all follow in order.
 * The receive used to end with -ENOBUFS, the message dropped.
 */
Test(udp, begun_message_completes_while_another_channel_takes_every_buffer)
{
	struct clcp_stat st[32];
	uint64_t spills = 0;
	struct engine e;
	char buf[16], want[8];
	pthread_t t;
	ssize_t n;
	int c, y;

	engine_open(&e, 4); /* 8 Rx buffers */
	y = clcp_alloc_chan(e.ep, 21, 0, 11);
	cr_assert_geq(y, 0);
	engine_in_k(&e, 0, CLCP_FF_ACK | UDP_FF_HELLO, 0, 8, NULL);
	engine_in_k(&e, 1, CLCP_FF_ACK | UDP_FF_HELLO, 0, 8, NULL);
	engine_in_k(&e, 0, CLCP_FF_DATA | CLCP_FF_FIRST, 0, 6, "a1");
	for (uint32_t i = 0; i < FLOOD; i++) {
		snprintf(want, sizeof(want), "y%02u", i);
		engine_in_k(&e, 1, CLCP_FF_DATA | CLCP_FF_FIRST | CLCP_FF_LAST, i, 3, want);
	}
	cr_assert_eq(pthread_create(&t, NULL, late_rest, &e), 0);
	c = e.chan;
	n = clcp_rcv_message(e.ep, &c, buf, sizeof(buf), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(n, 6, "%zd %s", n, clcp_errmsg());
	cr_assert_eq(memcmp(buf, "a1b2c3", 6), 0);
	for (uint32_t i = 0; i < FLOOD; i++) {
		snprintf(want, sizeof(want), "y%02u", i);
		c = y;
		n = clcp_rcv_message(e.ep, &c, buf, sizeof(buf), CLCP_NONBLOCK);
		cr_assert(n == 3 && memcmp(buf, want, 3) == 0, "message %u: %zd %s", i, n,
			  clcp_errmsg());
	}
	n = clcp_endpt_stats(e.ep, st, 32);
	cr_assert_eq(tu_stat_get(st, (int)n, 32, "rx_spills", &spills), 0);
	cr_assert_gt(spills, 0);
	engine_close(&e);
}

/*
 * Channel 1's message begun (its rest comes 200 ms later), then channel 2's
 * whole one; parked first when `park` (a look at a third channel parks
 * both). CLCP_ANY takes channel 2's message first, then channel 1's.
 */
static void any_whole_first(bool park)
{
	struct engine e;
	char buf[16];
	pthread_t t;
	ssize_t n;
	int c, y, z;

	engine_open(&e, 8);
	y = clcp_alloc_chan(e.ep, 21, 0, 11);
	z = clcp_alloc_chan(e.ep, 22, 0, 12);
	cr_assert(y >= 0 && z >= 0);
	engine_in_k(&e, 0, CLCP_FF_ACK | UDP_FF_HELLO, 0, 8, NULL);
	engine_in_k(&e, 1, CLCP_FF_ACK | UDP_FF_HELLO, 0, 8, NULL);
	engine_in_k(&e, 0, CLCP_FF_DATA | CLCP_FF_FIRST, 0, 6, "a1");
	engine_in_k(&e, 1, CLCP_FF_DATA | CLCP_FF_FIRST | CLCP_FF_LAST, 0, 3, "y00");
	c = z;
	if (park)
		cr_assert_eq(clcp_rcv_message(e.ep, &c, buf, sizeof(buf), CLCP_NONBLOCK), -EAGAIN);
	cr_assert_eq(pthread_create(&t, NULL, late_rest, &e), 0);
	c = CLCP_ANY;
	n = clcp_rcv_message(e.ep, &c, buf, sizeof(buf), 0);
	cr_assert(n == 3 && c == y && memcmp(buf, "y00", 3) == 0,
		  "first: %zd bytes on channel %d", n, c);
	c = CLCP_ANY;
	n = clcp_rcv_message(e.ep, &c, buf, sizeof(buf), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert(n == 6 && c == e.chan && memcmp(buf, "a1b2c3", 6) == 0,
		  "then: %zd bytes on channel %d", n, c);
	engine_close(&e);
}

/*
 * CLCP_ANY takes a message that is all here before one whose rest is still
 * to come: parked, or next in the Rx queue (it used to take the first
 * channel's, and wait for its rest).
 */
Test(udp, any_takes_a_whole_message_before_an_open_one)
{
	any_whole_first(true);
}

Test(udp, any_looks_down_the_queue_for_a_whole_message)
{
	any_whole_first(false);
}

/*
 * A channel's reset that carries another incarnation than the peer's (a
 * late one of the process before it on that port) leaves the channel
 * alone; one of the peer's own fails it, as does a reset with none (no
 * channel there).
 */
Test(udp, reset_of_another_incarnation_is_ignored)
{
	struct engine e;

	engine_open(&e, 8);
	engine_in(&e, CLCP_FF_ACK | UDP_FF_HELLO, 0, NULL); /* seen, incarnation PEER_INC */
	engine_in(&e, UDP_FF_RST, 0, "old-inc!");
	engine_in(&e, CLCP_FF_DATA | CLCP_FF_FIRST | CLCP_FF_LAST, 0, "m0");
	expect_msg(&e, "m0");
	cr_assert_eq(UDPE(e.ep)->chans[e.chan].err, 0);
	engine_in(&e, UDP_FF_RST, 0, NULL); /* the peer's own */
	cr_assert_eq(UDPE(e.ep)->chans[e.chan].err, -ECONNRESET);
	cr_assert_eq(e.u->st.gone[UDP_GONE_RST], 1);
	engine_close(&e);
}

/*
 * A control frame whose peer is an earlier channel of ours on the port (a
 * restart here, the peer not told yet) is not taken: the channel neither
 * learns that peer's incarnation from it nor fails later for it. It used to
 * take the first, and then fail (-ECONNRESET) when the peer's new channel
 * said hello, so a fresh channel had to be allocated twice.
 */
Test(udp, frames_for_an_earlier_channel_of_ours_are_not_taken)
{
	struct udp_chan *uc;
	struct engine e;

	engine_open(&e, 8);
	uc = &UDPE(e.ep)->chans[e.chan];
	engine_in(&e, CLCP_FF_ACK | UDP_FF_PROBE, 0, "old-peerold-self");
	cr_assert_eq(e.u->st.drops[UDP_DROP_STALE], 1);
	cr_assert_not(udp_seen(uc), "took the old peer's incarnation");
	engine_in(&e, CLCP_FF_ACK | UDP_FF_HELLO, 0, NULL); /* the peer's new channel */
	engine_in(&e, CLCP_FF_DATA | CLCP_FF_FIRST | CLCP_FF_LAST, 0, "m0");
	expect_msg(&e, "m0");
	engine_in(&e, CLCP_FF_ACK, 0, "old-peerold-self");
	engine_in(&e, UDP_FF_RST, 0, "old-peerold-self");
	cr_assert_eq(e.u->st.drops[UDP_DROP_STALE], 3);
	cr_assert_eq(uc->err, 0);
	cr_assert_eq(e.u->st.gone[UDP_GONE_RESTART], 0);
	engine_close(&e);
}

/* A datagram from port 10 of node 0 with every header field given: ack, credit (rsvd). */
static void engine_in_ack(struct engine *e, uint8_t flags, uint32_t seq, uint32_t ack,
			  uint16_t credit, const char *payload)
{
	const char *p = ctl_payload(flags, payload);
	uint32_t n = p ? (uint32_t)strlen(p) : 0, crc;
	struct clcp_frame_hdr h = { .version = CLCP_FRAME_VERSION, .flags = flags,
				    .dst_port = htons(20), .src_port = htons(10),
				    .rsvd = htons(credit), .len = htonl(n),
				    .msg_len = htonl(flags & CLCP_FF_DATA ? n : credit),
				    .seq = htonl(seq), .ack = htonl(ack) };
	unsigned char d[DGRAM_MAX];

	cr_assert_leq(n, 64u);
	n = payload_put(d + sizeof(h), flags, p, n);
	h.len = htonl(n);
	memcpy(d, &h, sizeof(h));
	crc = htonl(udp_crc32c(0, d, sizeof(h) + n));
	memcpy(d + sizeof(h) + n, &crc, sizeof(crc));
	pthread_mutex_lock(&e->u->lock);
	udp_dgram_input(e->u, d, sizeof(h) + n + UDP_CRC_LEN, &e->from, sizeof(struct sockaddr_in));
	pthread_mutex_unlock(&e->u->lock);
}

/* The next data frame the device sent to node 0 (the peer socket): its header. */
static struct clcp_frame_hdr engine_out_data(struct engine *e)
{
	struct pollfd p = { e->peer, POLLIN, 0 };
	struct clcp_frame_hdr h;
	unsigned char d[256];

	while (poll(&p, 1, 2000) == 1) {
		ssize_t n = recv(e->peer, d, sizeof(d), 0);

		cr_assert_geq(n, (ssize_t)sizeof(h));
		memcpy(&h, d, sizeof(h));
		if (h.flags & CLCP_FF_DATA)
			return h;
	}
	cr_assert_fail("no data frame from the device");
	return h;
}

/*
 * A control frame queued in a batch goes out as it was when queued, its
 * CRC right, though the channel learns its peer's incarnation before the
 * batch is sent (a batch that kept a pointer to the payload sent other
 * bytes than its CRC was of, and the peer dropped the frame).
 */
Test(udp, control_frame_in_a_batch_is_sent_as_queued)
{
	unsigned char d[256];
	struct engine e;
	struct udp_chan *uc;
	uint32_t crc;
	ssize_t n;

	engine_open(&e, 8);
	uc = &UDPE(e.ep)->chans[e.chan];
	while (recv(e.peer, d, sizeof(d), MSG_DONTWAIT) > 0)
		; /* the hellos sent so far */
	pthread_mutex_lock(&e.u->lock);
	udp_tx_begin(e.u);
	udp_send_ctl(e.u, uc, 0); /* a hello: the peer's incarnation not known */
	uc->peer_inc = 0x1122334455667788ull;
	udp_tx_flush(e.u);
	pthread_mutex_unlock(&e.u->lock);
	n = recv(e.peer, d, sizeof(d), 0);
	cr_assert_eq(n, (ssize_t)(UDP_HDR_LEN + UDP_CTL_LEN + UDP_CRC_LEN));
	memcpy(&crc, d + n - UDP_CRC_LEN, sizeof(crc));
	cr_assert_eq(ntohl(crc), udp_crc32c(0, d, (size_t)n - UDP_CRC_LEN), "the CRC of what went");
	for (unsigned i = 0; i < UDP_INC_LEN; i++)
		cr_assert_eq(d[UDP_HDR_LEN + UDP_INC_LEN + i], 0, "the peer's as queued: not known");
	engine_close(&e);
}

/* What the engine's queued acks would do at the end of a polling pass. */
static void engine_acks(struct engine *e)
{
	pthread_mutex_lock(&e->u->lock);
	udp_acks_flush(e->u);
	pthread_mutex_unlock(&e->u->lock);
}

/*
 * A data frame carries the sender's credit (free Rx slots, in the header's
 * rsvd field) and a data frame's credit opens the window: a ping-pong
 * needs no pure ack to go on.
 */
Test(udp, data_frames_carry_the_credit)
{
	struct clcp_frame_hdr h;
	struct engine e;

	engine_open(&e, 8);
	engine_in_ack(&e, CLCP_FF_ACK | UDP_FF_HELLO, 0, 0, 8, NULL); /* credit 8 */
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(clcp_snd_message(e.ep, e.chan, "x", 1, CLCP_NONBLOCK), 1, "message %d: %s",
			     i, clcp_errmsg());
		h = engine_out_data(&e);
		cr_assert_eq(ntohl(h.seq), (uint32_t)i);
		cr_assert_eq(ntohs(h.rsvd), 8u, "the credit in data frame %d: %u", i, ntohs(h.rsvd));
	}
	cr_assert_eq(clcp_snd_message(e.ep, e.chan, "x", 1, CLCP_NONBLOCK), -EAGAIN,
		     "credit 8 used up");
	/* Node 0 answers with data that acks all 8 and has room for 8 more. */
	engine_in_ack(&e, CLCP_FF_DATA | CLCP_FF_ACK | CLCP_FF_FIRST | CLCP_FF_LAST, 0, 8, 8, "pong");
	cr_assert_eq(clcp_snd_message(e.ep, e.chan, "y", 1, CLCP_NONBLOCK), 1,
		     "the data frame's credit did not open the window: %s", clcp_errmsg());
	h = engine_out_data(&e);
	cr_assert_eq(ntohl(h.seq), 8u);
	cr_assert_eq(ntohl(h.ack), 1u, "the reply acks node 0's frame");
	cr_assert_eq(ntohs(h.rsvd), 7u, "one Rx slot holds \"pong\"");
	expect_msg(&e, "pong");
	/* A credit of 0 (a peer that does not count) never shrinks the window. */
	engine_in_ack(&e, CLCP_FF_DATA | CLCP_FF_ACK | CLCP_FF_FIRST | CLCP_FF_LAST, 1, 9, 0, "p1");
	cr_assert_eq(clcp_snd_message(e.ep, e.chan, "z", 1, CLCP_NONBLOCK), 1, "%s", clcp_errmsg());
	engine_close(&e);
}

/*
 * A ping-pong of one-frame messages: every reply carries the credit, so no
 * pure ack goes (one went every 32 messages, and one more from the user's
 * posts, which also called wake_senders on every post after it).
 */
Test(udp, ping_pong_sends_no_pure_acks)
{
	struct clcp_frame f;
	struct engine e;
	uint64_t acks;
	char m[16];

	engine_open(&e, 64);
	engine_in_ack(&e, CLCP_FF_ACK | UDP_FF_HELLO, 0, 0, 64, NULL);
	engine_acks(&e); /* the answer to the hello */
	acks = e.u->st.tx_acks;
	for (uint32_t i = 0; i < 4 * UDP_WIN; i++) {
		snprintf(m, sizeof(m), "p%u", i);
		engine_in_ack(&e, CLCP_FF_DATA | CLCP_FF_ACK | CLCP_FF_FIRST | CLCP_FF_LAST, i, i, 64,
			      m);
		engine_acks(&e);
		expect_msg(&e, m);
		cr_assert_eq(clcp_snd_message(e.ep, e.chan, "r", 1, 0), 1, "%s", clcp_errmsg());
		engine_acks(&e);
	}
	cr_assert_eq(e.u->st.tx_acks, acks, "pure acks in a ping-pong: %llu",
		     (unsigned long long)(e.u->st.tx_acks - acks));
	cr_assert_eq(e.ep->hdr->rx_waiters, 0u, "the user's posts would call wake_senders");
	/* An ack while the user holds a slot (credit 63) sets rx_waiters; the post clears it. */
	engine_in_ack(&e, CLCP_FF_DATA | CLCP_FF_ACK | CLCP_FF_FIRST, 4 * UDP_WIN, 4 * UDP_WIN, 64,
		      "a");
	engine_in_ack(&e, CLCP_FF_DATA | CLCP_FF_ACK | CLCP_FF_FIRST, 4 * UDP_WIN, 4 * UDP_WIN, 64,
		      "a"); /* a duplicate: acked at once */
	engine_acks(&e);
	cr_assert_eq(e.u->st.tx_acks, acks + 1);
	cr_assert_eq(e.ep->hdr->rx_waiters, 1u, "credit 63 went out");
	cr_assert_eq(clcp_rcv_frame(e.ep, e.chan, &f, CLCP_NONBLOCK), 0, "%s", clcp_errmsg());
	cr_assert_eq(clcp_release_frames(e.ep, &f, 1), 0);
	cr_assert_eq(e.ep->hdr->rx_waiters, 0u, "full credit again: nothing more to tell");
	engine_close(&e);
}

/* --- the wire format of docs/udp.md, spoken by hand --- */

#include <clcp/abi.h>
#include <poll.h>

#define W_FF_SACK 0x20u
#define W_FF_HELLO 0x40u

/* CRC32C by the book (bitwise), independent of the backend's. */
static uint32_t w_crc32c(const unsigned char *p, size_t n)
{
	uint32_t c = ~0u;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
	}
	return ~c;
}

#define W_BIG 4000 /* long enough for the CRC's interleaved streams */

/* A frame from node 1 port 20 to node 0 port 10; `bad` breaks its CRC. */
static void w_sendn(int s, unsigned port, uint8_t flags, uint32_t seq, const void *data,
		    size_t len, bool bad)
{
	unsigned char d[W_BIG + 64];
	struct clcp_frame_hdr h = { .version = CLCP_FRAME_VERSION, .flags = flags,
				    .dst_port = htons(10), .src_port = htons(20),
				    .src_node = htonl(1) };
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint32_t crc;

	if (!(flags & CLCP_FF_DATA) && !data) /* a control frame: the incarnation */
		data = PEER_INC, len = UDP_INC_LEN;
	h.msg_len = htonl(flags & CLCP_FF_DATA ? (uint32_t)len : 64u); /* message length; credit */
	len = payload_put(d + sizeof(h), flags, data, (uint32_t)len);
	h.len = htonl((uint32_t)len);
	h.seq = htonl(seq);
	memcpy(d, &h, sizeof(h));
	crc = htonl(w_crc32c(d, sizeof(h) + len) ^ (bad ? 1u : 0u));
	memcpy(d + sizeof(h) + len, &crc, 4);
	sendto(s, d, sizeof(h) + len + 4, 0, (struct sockaddr *)&to, sizeof(to));
}

static void w_send(int s, unsigned port, uint8_t flags, uint32_t seq, const char *data, bool bad)
{
	w_sendn(s, port, flags, seq, data, data ? strlen(data) : 0, bad);
}

/* Reads datagrams from node 0 until one has all of `flags`: its header, and the SACK map. */
static bool w_recv(int s, uint8_t flags, struct clcp_frame_hdr *h, uint64_t *sack)
{
	unsigned char d[256];
	struct pollfd p = { s, POLLIN, 0 };

	while (poll(&p, 1, 2000) == 1) {
		ssize_t n = recv(s, d, sizeof(d), 0);
		uint32_t crc, hi, lo;

		cr_assert_geq(n, 36, "a datagram of %zd bytes", n);
		memcpy(&crc, d + n - 4, 4);
		cr_assert_eq(ntohl(crc), w_crc32c(d, (size_t)n - 4), "CRC32C of a %zd-byte datagram", n);
		memcpy(h, d, sizeof(*h));
		if ((h->flags & flags) != flags)
			continue;
		if (h->flags & W_FF_SACK) {
			cr_assert_eq(n, 32 + 16 + 8 + 4, "a SACK ack is header, incarnations, map, CRC");
			cr_assert_eq(memcmp(d + 40, PEER_INC, 8), 0, "the second incarnation is ours");
			memcpy(&hi, d + 48, 4);
			memcpy(&lo, d + 52, 4);
			*sack = (uint64_t)ntohl(hi) << 32 | ntohl(lo);
		}
		return true;
	}
	return false;
}

static void w_expect(clcp_endpt_t *ep, const char *want)
{
	char buf[64];
	int c = CLCP_ANY;
	ssize_t n = clcp_rcv_message(ep, &c, buf, sizeof(buf), 0);

	cr_assert_eq(n, (ssize_t)strlen(want), "receive \"%s\": %zd (%s)", want, n, clcp_errmsg());
	cr_assert_eq(memcmp(buf, want, (size_t)n), 0);
}

/* A frame of W_BIG bytes with the CRC computed here is taken and intact. */
static void big_frame(int s, unsigned base, clcp_endpt_t *ep)
{
	static unsigned char out[W_BIG], in[W_BIG];
	int c = CLCP_ANY;

	tu_fill(out, sizeof(out), 77);
	w_sendn(s, base, CLCP_FF_DATA | CLCP_FF_ACK | CLCP_FF_FIRST | CLCP_FF_LAST, 3, out,
		sizeof(out), false);
	cr_assert_eq(clcp_rcv_message(ep, &c, in, sizeof(in), 0), (ssize_t)sizeof(in), "%s",
		     clcp_errmsg());
	cr_assert_eq(memcmp(in, out, sizeof(in)), 0);
}

/* Node 1 is this raw socket: CRCs checked both ways, a bad one dropped, a hole SACKed. */
Test(udp, wire_format_by_hand)
{
	struct clcp_endpt_attr a;
	struct clcp_frame_hdr h;
	unsigned base = base_port() + 4;
	uint64_t sack = 0;
	clcp_dev_t *dev;
	clcp_endpt_t *ep;
	char uri[96], buf[8];
	int s, c = CLCP_ANY;
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons((uint16_t)(base + 1)),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	s = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_eq(bind(s, (struct sockaddr *)&me, sizeof(me)), 0, "bind node 1's address");
	snprintf(uri, sizeof(uri), "udp://0?local=%u&crc=1", base);
	cr_assert_eq(clcp_open(uri, &dev), 0, "%s", clcp_errmsg());
	clcp_endpt_attr_init(&a);
	a.timeout_ms = 2000;
	a.mtu = W_BIG; /* above the Ethernet default */
	cr_assert_eq(clcp_alloc_endpt(dev, &a, &ep), 0);
	cr_assert_geq(clcp_alloc_chan(ep, 10, 1, 20), 0);
	cr_assert(w_recv(s, CLCP_FF_ACK | W_FF_HELLO, &h, &sack), "no hello from node 0");
	cr_assert_eq(ntohs(h.dst_port), 20);
	w_send(s, base, CLCP_FF_ACK, 0, NULL, false);
	w_send(s, base, CLCP_FF_DATA | CLCP_FF_ACK | CLCP_FF_FIRST | CLCP_FF_LAST, 0, "hello", false);
	w_expect(ep, "hello");
	w_send(s, base, CLCP_FF_DATA | CLCP_FF_ACK | CLCP_FF_FIRST | CLCP_FF_LAST, 1, "world", true);
	tu_msleep(50);
	cr_assert_eq(clcp_rcv_message(ep, &c, buf, sizeof(buf), CLCP_NONBLOCK), -EAGAIN,
		     "a frame with a bad CRC was delivered");
	w_send(s, base, CLCP_FF_DATA | CLCP_FF_ACK | CLCP_FF_FIRST | CLCP_FF_LAST, 2, "again", false);
	cr_assert(w_recv(s, CLCP_FF_ACK | W_FF_SACK, &h, &sack), "no SACK for the hole");
	cr_assert_eq(ntohl(h.ack), 1u, "cumulative ack");
	cr_assert_eq(sack, 1ull << 1, "SACK map: frame ack + 1 held, got %#llx",
		     (unsigned long long)sack);
	w_send(s, base, CLCP_FF_DATA | CLCP_FF_ACK | CLCP_FF_FIRST | CLCP_FF_LAST, 1, "world", false);
	w_expect(ep, "world");
	w_expect(ep, "again");
	big_frame(s, base, ep);
	cr_assert_eq(clcp_close(dev), 0);
	close(s);
}

#define ECHOES 50

/* The far end of a ping-pong: ECHOES blocking receives, each answered. */
static void *echo_run(void *arg)
{
	struct two_ends *t = arg;
	char buf[64];

	for (int i = 0; i < ECHOES; i++) {
		int c = t->cb;
		ssize_t n = clcp_rcv_message(t->eb, &c, buf, sizeof(buf), 0);

		if (n != 8 || clcp_snd_message(t->eb, t->cb, buf, 8, 0) != 8)
			return "echo failed";
	}
	return NULL;
}

/*
 * A blocking receive sleeps on the sockets too: the reply's datagram wakes
 * it, and it reads it itself, not through the progress thread (counters
 * wake_direct, wake_direct_vain). Each ping-pong reply and request: most
 * of the wakes of each end bring their message (the first may not: the
 * thread may still watch the sockets then, and take the datagram first).
 */
Test(udp, blocking_receive_is_woken_by_its_datagram)
{
	struct two_ends t;
	char buf[64];
	void *why;
	pthread_t th;

	open_two_ends(6, "", "", &t);
	cr_assert_eq(pthread_create(&th, NULL, echo_run, &t), 0);
	for (uint64_t i = 0; i < ECHOES; i++) {
		int c = t.ca;

		cr_assert_eq(clcp_snd_message(t.ea, t.ca, &i, 8, 0), 8, "%s", clcp_errmsg());
		cr_assert_eq(clcp_rcv_message(t.ea, &c, buf, sizeof(buf), 0), 8, "%s", clcp_errmsg());
		cr_assert_eq(memcmp(buf, &i, 8), 0);
	}
	cr_assert_eq(pthread_join(th, &why), 0);
	cr_assert_null(why, "%s", (const char *)why);
	for (int k = 0; k < 2; k++) {
		clcp_dev_t *d = k ? t.b : t.a;
		uint64_t woke = dev_stat(d, "wake_direct"), vain = dev_stat(d, "wake_direct_vain");

		cr_assert(woke - vain >= ECHOES / 5 && woke - vain > vain,
			  "end %d: %llu direct wakes, %llu in vain", k, (unsigned long long)woke,
			  (unsigned long long)vain);
	}
	clcp_close(t.a);
	clcp_close(t.b);
}

/* crc=0 on both ends (a trusted path): messages flow without the check. */
Test(udp, crc_off_both_ends)
{
	struct two_ends t;
	char buf[64];
	int c;

	open_two_ends(2, "&crc=0", "&crc=0", &t);
	cr_assert_eq(clcp_snd_message(t.ea, t.ca, "no crc", 6, 0), 6, "%s", clcp_errmsg());
	c = t.cb;
	cr_assert_eq(clcp_rcv_message(t.eb, &c, buf, sizeof(buf), 0), 6, "%s", clcp_errmsg());
	cr_assert_eq(memcmp(buf, "no crc", 6), 0);
	clcp_close(t.a);
	clcp_close(t.b);
}

/*
 * crc=0 on one end only: the end that checks drops what the other sends
 * (drop_crc_off, not drop_crc), and its send is refused, saying why.
 */
Test(udp, crc_on_one_end_only_is_told)
{
	struct two_ends t;

	open_two_ends(2, "&crc=0", "&crc=1", &t);
	cr_assert_eq(clcp_snd_message(t.eb, t.cb, "x", 1, 0), -ECONNREFUSED, "%s", clcp_errmsg());
	cr_assert(strstr(clcp_errmsg(), "crc") != NULL, "%s", clcp_errmsg());
	cr_assert_gt(dev_stat(t.b, "drop_crc_off"), 0u);
	cr_assert_eq(dev_stat(t.b, "drop_crc"), 0u);
	clcp_close(t.a);
	clcp_close(t.b);
}

/* The trailer of node 0's first datagram to node 1, a raw socket on 127.0.0.1:port1. */
static uint32_t hello_trailer(const char *uri, unsigned port1)
{
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port1),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	unsigned char d[256];
	struct pollfd p;
	clcp_dev_t *dev;
	clcp_endpt_t *ep;
	uint32_t crc;
	ssize_t n;
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	cr_assert_eq(bind(s, (struct sockaddr *)&me, sizeof(me)), 0, "bind node 1's address");
	cr_assert_eq(clcp_open(uri, &dev), 0, "%s: %s", uri, clcp_errmsg());
	cr_assert_eq(clcp_alloc_endpt(dev, NULL, &ep), 0);
	cr_assert_geq(clcp_alloc_chan(ep, 10, 1, 20), 0);
	p = (struct pollfd){ s, POLLIN, 0 };
	cr_assert_eq(poll(&p, 1, 2000), 1, "no hello from node 0 (%s)", uri);
	n = recv(s, d, sizeof(d), 0);
	cr_assert_geq(n, UDP_HDR_LEN + UDP_CRC_LEN);
	memcpy(&crc, d + n - UDP_CRC_LEN, sizeof(crc));
	cr_assert_eq(clcp_close(dev), 0);
	close(s);
	return ntohl(crc) == udp_crc32c(0, d, (size_t)n - UDP_CRC_LEN) ? 1 : crc == 0 ? 0 : 2;
}

/*
 * The CRC's default follows the node table: off when every node is on the
 * loopback (local mode, or only loopback addresses), on when any is not;
 * crc=1 and crc=0 win over it.
 */
Test(udp, crc_default_follows_the_node_table)
{
	unsigned base = base_port() + 2;
	char uri[96], nodes[128];

	snprintf(uri, sizeof(uri), "udp://0?local=%u", base);
	cr_assert_eq(hello_trailer(uri, base + 1), 0, "local mode: no CRC");
	snprintf(uri, sizeof(uri), "udp://0?local=%u&crc=1", base);
	cr_assert_eq(hello_trailer(uri, base + 1), 1, "local mode, crc=1: the CRC");
	snprintf(nodes, sizeof(nodes), "0=127.0.0.1:%u,1=127.0.0.1:%u,2=[::1]:%u", base, base + 1,
		 base);
	setenv("CLCP_NODES", nodes, 1);
	cr_assert_eq(hello_trailer("udp://0", base + 1), 0, "loopback addresses only: no CRC");
	snprintf(nodes, sizeof(nodes), "0=127.0.0.1:%u,1=127.0.0.1:%u,2=192.0.2.1:%u", base,
		 base + 1, base);
	setenv("CLCP_NODES", nodes, 1);
	cr_assert_eq(hello_trailer("udp://0", base + 1), 1, "a node off this host: the CRC");
	cr_assert_eq(hello_trailer("udp://0?crc=0", base + 1), 0, "crc=0 wins");
	unsetenv("CLCP_NODES");
}

/* The fused copy + CRC and the CRC of a concatenation agree with the book. */
/* Every length and alignment at one implementation level (udp_crc_cap). */
static void crc_check_all(unsigned char *src, unsigned char *dst, int level)
{
	static const size_t lens[] = { 0,    1,	   7,	 8,    9,     255,   256,  257,
				       271,  272,  287,	 288,  383,   384,   385,  767,
				       768,  769,  2311, 3967, 3968,  3969,  4096, 7936,
				       7953, 8000, 9000, 11921, 65000, 65507 };

	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		for (size_t off = 0; off < 4; off += 3) {
			size_t len = lens[k];
			uint32_t want = w_crc32c(src + off, len);

			cr_assert_eq(udp_crc32c(0, src + off, len), want,
				     "level %d: CRC of %zu bytes at offset %zu", level, len, off);
			cr_assert_eq(udp_crc32c(udp_crc32c(0, src + off, len / 3), src + off + len / 3,
						len - len / 3),
				     want, "level %d: %zu bytes from the CRC of the first third", level,
				     len);
			memset(dst, 0xa5, 65536 + 8);
			cr_assert_eq(udp_crc32c_copy(dst + off, src + off, len), want,
				     "level %d: CRC of the copy, %zu bytes at offset %zu", level, len, off);
			cr_assert_eq(memcmp(dst + off, src + off, len), 0, "the copy, %zu bytes", len);
			cr_assert_eq(dst[off + len], 0xa5, "nothing written past %zu bytes", len);
			for (size_t a = 0; a <= len; a += len / 3 + 1)
				cr_assert_eq(udp_crc32c_combine(w_crc32c(src + off, a),
								w_crc32c(src + off + a, len - a),
								len - a),
					     want, "combine at %zu of %zu", a, len);
		}
	}
}

/* One CRC level against the book; skipped, with the reason, where the CPU lacks it. */
static void crc_level_matches_the_book(int level)
{
	unsigned char *src, *dst;
	int in_use = udp_crc_cap(level);

	if (in_use < level)
		cr_skip_test("CRC level %d not checked: this CPU lacks it (level %d runs)", level,
			     in_use);
	src = malloc(65536 + 8);
	dst = malloc(65536 + 8);
	cr_assert(src && dst);
	for (size_t i = 0; i < 65536 + 8; i++)
		src[i] = (unsigned char)(i * 131u + (i >> 8));
	crc_check_all(src, dst, level);
	free(src);
	free(dst);
}

/* Folding (AVX2 and VPCLMULQDQ), the crc32 instruction, the table. */
Test(udp, crc_folding_matches_the_book)
{
	crc_level_matches_the_book(2);
}

Test(udp, crc_instruction_matches_the_book)
{
	crc_level_matches_the_book(1);
}

Test(udp, crc_table_matches_the_book)
{
	crc_level_matches_the_book(0);
}

/*
 * Frames read in place go into the Rx buffer of the endpoint that had the
 * last large frame: a larger frame for another endpoint with a larger mtu
 * (same peer node, same socket) still arrives whole.
 */
Test(udp, larger_frame_for_another_endpoint_arrives)
{
	static unsigned char msg[60000], got[60000];
	struct clcp_endpt_attr small, big;
	clcp_endpt_t *a1, *a2, *b1, *b2;
	clcp_dev_t *a, *b;
	int ca1, ca2, cb1, cb2, c;

	open_two(6, "&crc=1", "&crc=1", &a, &b); /* on loopback the CRC is off unless asked */
	clcp_endpt_attr_init(&small);
	small.mtu = 16384;
	small.timeout_ms = 3000;
	big = small;
	big.mtu = 65000;
	cr_assert(clcp_alloc_endpt(a, &small, &a1) == 0 && clcp_alloc_endpt(a, &big, &a2) == 0);
	cr_assert(clcp_alloc_endpt(b, &small, &b1) == 0 && clcp_alloc_endpt(b, &big, &b2) == 0);
	ca1 = clcp_alloc_chan(a1, 10, 1, 20);
	ca2 = clcp_alloc_chan(a2, 11, 1, 21);
	cb1 = clcp_alloc_chan(b1, 20, 0, 10);
	cb2 = clcp_alloc_chan(b2, 21, 0, 11);
	cr_assert(ca1 >= 0 && ca2 >= 0 && cb1 >= 0 && cb2 >= 0);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)(i * 7u);
	for (int i = 0; i < 3; i++) { /* large frames for b1: read in place from now on */
		cr_assert_eq(clcp_snd_message(a1, ca1, msg, 16384, 0), 16384, "%s", clcp_errmsg());
		c = cb1;
		cr_assert_eq(clcp_rcv_message(b1, &c, got, sizeof(got), 0), 16384, "%s",
			     clcp_errmsg());
	}
	cr_assert_gt(dev_stat(b, "rx_direct"), 0);
	cr_assert_eq(clcp_snd_message(a2, ca2, msg, sizeof(msg), 0), (ssize_t)sizeof(msg), "%s",
		     clcp_errmsg());
	c = cb2;
	cr_assert_eq(clcp_rcv_message(b2, &c, got, sizeof(got), 0), (ssize_t)sizeof(msg),
		     "one 60000-byte frame for the other endpoint: %s", clcp_errmsg());
	cr_assert_eq(memcmp(got, msg, sizeof(msg)), 0);
	clcp_close(a);
	clcp_close(b);
}

/*
 * A message of many frames goes out in segmented sends (UDP_SEGMENT, the
 * kernel cuts them into datagrams): tx_gso counts them. Where the path
 * refuses (ctest udp_gso_refused: lo's MTU below the frames' size,
 * CLCP_TEST_GSO_REFUSED=1) they go as plain datagrams, which the kernel
 * fragments, and arrive all the same.
 */
Test(udp, many_frames_go_segmented)
{
	static unsigned char msg[65536], got[65536];
	bool refused = getenv("CLCP_TEST_GSO_REFUSED") != NULL;
	clcp_endpt_t *ea, *eb;
	clcp_dev_t *a, *b;
	int ca, cb, c;

	open_node(0, "dead_ms=5000", &a, &ea, &ca);
	open_node(1, "dead_ms=5000", &b, &eb, &cb);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)(i * 13u + (i >> 9));
	for (int r = 0; r < 3; r++) {
		cr_assert_eq(clcp_snd_message(ea, ca, msg, sizeof(msg), 0), (ssize_t)sizeof(msg),
			     "%s", clcp_errmsg());
		c = cb;
		cr_assert_eq(clcp_rcv_message(eb, &c, got, sizeof(got), 0), (ssize_t)sizeof(msg),
			     "%s", clcp_errmsg());
		cr_assert_eq(memcmp(got, msg, sizeof(msg)), 0, "message %d intact", r);
	}
	if (refused)
		cr_assert_eq(dev_stat(a, "tx_gso"), 0, "the path refused segmented sends");
	else /* 46 frames a message, some may go before the first segmented send */
		cr_assert_geq(dev_stat(a, "tx_gso"), 3 * 32, "frames sent segmented");
	clcp_close(a);
	clcp_close(b);
}

/*
 * The two ends' mtus differ (a mistake the docs warn of): a frame longer
 * than the receiver's mtu resets the channel at both ends at once, where
 * it used to be resent for ever while the sender blocked.
 */
Test(udp, mtu_mismatch_resets_the_channel)
{
	struct clcp_endpt_attr at;
	clcp_endpt_t *a, *b;
	clcp_dev_t *d0, *d1;
	char uri[96], buf[1000] = { 0 };
	int ca, cb, c;

	snprintf(uri, sizeof(uri), "udp://0?local=%u", base_port() + 6);
	cr_assert_eq(clcp_open(uri, &d0), 0, "%s: %s", uri, clcp_errmsg());
	snprintf(uri, sizeof(uri), "udp://1?local=%u", base_port() + 6);
	cr_assert_eq(clcp_open(uri, &d1), 0, "%s: %s", uri, clcp_errmsg());
	clcp_endpt_attr_init(&at);
	at.timeout_ms = 20000;
	cr_assert_eq(clcp_alloc_endpt(d0, &at, &a), 0);
	at.mtu = 256;
	cr_assert_eq(clcp_alloc_endpt(d1, &at, &b), 0);
	ca = clcp_alloc_chan(a, 10, 1, 20);
	cb = clcp_alloc_chan(b, 20, 0, 10);
	cr_assert(ca >= 0 && cb >= 0);
	cr_assert_eq(clcp_snd_message(a, ca, "hi", 2, 0), 2, "a message within both mtus");
	c = cb;
	cr_assert_eq(clcp_rcv_message(b, &c, buf, sizeof(buf), 0), 2);
	cr_assert_eq(clcp_snd_message(a, ca, buf, sizeof(buf), 0), (ssize_t)sizeof(buf),
		     "handed over");
	c = cb;
	cr_assert_eq(clcp_rcv_message(b, &c, buf, sizeof(buf), 0), -ECONNRESET, "receiver: %s",
		     clcp_errmsg());
	for (int i = 0; i < 100; i++) { /* within its window, until the reset is in */
		ssize_t n = clcp_snd_message(a, ca, buf, sizeof(buf), 0);

		if (n < 0) {
			cr_assert_eq(n, -ECONNRESET, "sender: %s", clcp_errmsg());
			break;
		}
		cr_assert_lt(i, 99, "the sender never learnt of the reset");
	}
	clcp_close(d1);
	clcp_close(d0);
}

/*
 * Marks of the long-message protocol (docs/udp.md, "Long messages") where
 * they cannot be: a frame of an offered message that no receive waits for,
 * or an offer to an endpoint of small frames, resets the channel (it would
 * be resent for ever); a bad offer fails the receive that meets it.
 */
static void engine_in_marked(struct engine *e, uint8_t flags, uint32_t seq, uint32_t msg_len,
			     const char *payload, uint16_t rsvd)
{
	unsigned char d[DGRAM_MAX];
	size_t n = dgram_build_k(d, 0, flags, seq, msg_len, payload);
	uint32_t crc;

	d[6] = (unsigned char)(rsvd >> 8);
	d[7] = (unsigned char)rsvd;
	crc = htonl(udp_crc32c(0, d, n - UDP_CRC_LEN));
	memcpy(d + n - UDP_CRC_LEN, &crc, sizeof(crc));
	pthread_mutex_lock(&e->u->lock);
	udp_dgram_input(e->u, d, n, &e->from, sizeof(struct sockaddr_in));
	pthread_mutex_unlock(&e->u->lock);
}

static void marked_frame_resets(uint32_t mtu, uint16_t mark, int drop)
{
	struct engine e;
	char buf[64];
	int c;

	engine_open_mtu(&e, 8, mtu);
	engine_in(&e, CLCP_FF_ACK | UDP_FF_HELLO, 0, NULL);
	engine_in_marked(&e, CLCP_FF_DATA | CLCP_FF_ACK, 0, 0, "bulk", mark);
	cr_assert_eq(e.u->st.drops[drop], 1, "dropped as %d", drop);
	cr_assert_eq(e.u->st.rx_bulk, 0);
	c = e.chan; /* a blocking receive checks the channel: it failed */
	cr_assert_eq(clcp_rcv_message(e.ep, &c, buf, sizeof(buf), 0), -ECONNRESET, "%s",
		     clcp_errmsg());
	engine_close(&e);
}

Test(udp, frame_of_an_offer_nobody_took_resets_the_channel)
{
	marked_frame_resets(65000, UDP_RSVD_BULK, UDP_DROP_SEQ);
}

Test(udp, offer_to_small_frames_resets_the_channel)
{
	marked_frame_resets(CLCP_MTU_AUTO, UDP_RSVD_OFFER, UDP_DROP_LEN);
}

/* A data frame of n (<= 256) bytes from port 10 of node 0, marked rsvd. */
static void engine_in_bytes(struct engine *e, uint8_t flags, uint32_t seq, uint32_t msg_len,
			    const void *data, uint32_t n, uint16_t rsvd)
{
	unsigned char d[32 + 256 + UDP_CRC_LEN];
	struct clcp_frame_hdr h = { .version = CLCP_FRAME_VERSION, .flags = flags,
				    .dst_port = htons(20), .src_port = htons(10), .rsvd = htons(rsvd),
				    .len = htonl(n), .msg_len = htonl(msg_len), .seq = htonl(seq) };
	uint32_t crc;

	cr_assert_leq(n, 256u);
	memcpy(d, &h, sizeof(h));
	memcpy(d + sizeof(h), data, n);
	crc = htonl(udp_crc32c(0, d, sizeof(h) + n));
	memcpy(d + sizeof(h) + n, &crc, sizeof(crc));
	pthread_mutex_lock(&e->u->lock);
	udp_dgram_input(e->u, d, sizeof(h) + n + UDP_CRC_LEN, &e->from, sizeof(struct sockaddr_in));
	pthread_mutex_unlock(&e->u->lock);
}

#define OFFER_FRAME 200u /* an offered message of 3 frames */

/*
 * Offer seq 0 of a 600-byte message (its descriptor names seq desc_seq),
 * then its frames (seqs 1..3) from msg.
 */
static void offer_and_frames(struct engine *e, const unsigned char *msg, uint32_t desc_seq)
{
	struct clcp__pull d = { 0, 3 * OFFER_FRAME, desc_seq, 0 };

	engine_in_bytes(e, CLCP_FF_DATA | CLCP_FF_ACK | CLCP_FF_FIRST | CLCP_FF_LAST, 0,
			3 * OFFER_FRAME, &d, sizeof(d), UDP_RSVD_OFFER);
	for (uint32_t k = 0; k < 3; k++)
		engine_in_bytes(e, CLCP_FF_DATA | CLCP_FF_ACK, 1 + k, k * OFFER_FRAME,
				msg + k * OFFER_FRAME, OFFER_FRAME, UDP_RSVD_BULK);
}

static void offer_msg(unsigned char *m)
{
	for (uint32_t i = 0; i < 3 * OFFER_FRAME; i++)
		m[i] = (unsigned char)(i * 7u + 3u);
}

/*
 * An offer's frames that come before any receive took it (its sender had
 * a GRANT of a receive that ended since): into the Rx ring as the frames of
 * its message, which the next receive gets whole.
 */
Test(udp, frames_of_an_offer_no_receive_took_come_as_frames)
{
	unsigned char m[3 * OFFER_FRAME], buf[4 * OFFER_FRAME];
	struct engine e;
	int c;

	offer_msg(m);
	engine_open_mtu(&e, 8, 65000);
	engine_in(&e, CLCP_FF_ACK | UDP_FF_HELLO, 0, NULL);
	offer_and_frames(&e, m, 0);
	cr_assert_eq(e.u->st.rx_bulk_framed, 3);
	cr_assert_eq(e.u->st.rx_bulk, 0);
	c = e.chan;
	cr_assert_eq(clcp_rcv_message(e.ep, &c, buf, sizeof(buf), CLCP_NONBLOCK),
		     (ssize_t)sizeof(m), "%s", clcp_errmsg());
	cr_assert_eq(memcmp(buf, m, sizeof(m)), 0);
	engine_close(&e);
}

/* The next answer frame node 0 got: its (seq, what). */
static void answer_got(struct engine *e, uint32_t *seq, uint32_t *what)
{
	unsigned char d[256];
	struct pollfd p = { e->peer, POLLIN, 0 };

	while (poll(&p, 1, 2000) == 1) {
		ssize_t n = recv(e->peer, d, sizeof(d), 0);

		if (n != (ssize_t)(UDP_HDR_LEN + UDP_CTL_ANSWER_LEN + UDP_CRC_LEN) || (d[1] & CLCP_FF_DATA))
			continue;
		memcpy(seq, d + UDP_HDR_LEN + UDP_CTL_LEN, 4);
		memcpy(what, d + UDP_HDR_LEN + UDP_CTL_LEN + 4, 4);
		*seq = ntohl(*seq);
		*what = ntohl(*what);
		return;
	}
	cr_assert_fail("no answer frame from the device");
}

/*
 * A receive that waits gives its buffer (GRANT, its room in seq): the
 * offer next in sequence and its frames go into that buffer as they come,
 * and the receive takes it; a receive whose wait ended as the offer came is
 * told to take it (pull_ready(0) returns 1).
 */
Test(udp, granted_buffer_takes_the_offer_as_it_comes)
{
	unsigned char m[3 * OFFER_FRAME], *buf = calloc(1, UDP_PULL_MIN);
	uint32_t seq, what;
	struct engine e;
	int c;

	offer_msg(m);
	engine_open_mtu(&e, 8, 65000);
	engine_in(&e, CLCP_FF_ACK | UDP_FF_HELLO, 0, NULL);
	while (recv(e.peer, buf, 64, MSG_DONTWAIT) > 0)
		; /* the hellos so far */
	cr_assert_eq(udp_pull_ready(e.ep, e.chan, buf, UDP_PULL_MIN), 0);
	answer_got(&e, &seq, &what);
	cr_assert_eq(what, UDP_ANSWER_GRANT);
	cr_assert_eq(seq, UDP_PULL_MIN, "the room");
	offer_and_frames(&e, m, 0);
	cr_assert_eq(e.u->st.rx_bulk, 3);
	cr_assert_eq(memcmp(buf, m, sizeof(m)), 0, "in the buffer before the receive took it");
	cr_assert_eq(udp_pull_ready(e.ep, e.chan, NULL, 0), 1, "the receive must take it");
	c = e.chan;
	cr_assert_eq(clcp_rcv_message(e.ep, &c, buf, UDP_PULL_MIN, CLCP_NONBLOCK),
		     (ssize_t)sizeof(m), "%s", clcp_errmsg());
	cr_assert_eq(memcmp(buf, m, sizeof(m)), 0);
	cr_assert_eq(e.u->st.rx_bulk_framed, 0);
	cr_assert_eq(udp_pull_ready(e.ep, e.chan, NULL, 0), 0, "nothing owed once taken");
	free(buf);
	engine_close(&e);
}

Test(udp, bad_offer_fails_the_receive)
{
	struct engine e;
	char buf[64];
	int c;

	engine_open_mtu(&e, 8, 65000);
	engine_in(&e, CLCP_FF_ACK | UDP_FF_HELLO, 0, NULL);
	/* An offer's payload is the core's descriptor (24 bytes), its msg_len the message's. */
	engine_in_marked(&e, CLCP_FF_DATA | CLCP_FF_ACK | CLCP_FF_FIRST | CLCP_FF_LAST, 0, 1u << 20,
			 "too short", UDP_RSVD_OFFER);
	c = e.chan;
	cr_assert_eq(clcp_rcv_message(e.ep, &c, buf, sizeof(buf), CLCP_NONBLOCK), -EMSGSIZE,
		     "%s", clcp_errmsg());
	c = e.chan;
	cr_assert_eq(clcp_peek_message(e.ep, &c, CLCP_NONBLOCK), 1 << 20, "%s", clcp_errmsg());
	engine_close(&e);
}

/*
 * An offer whose frame looks like a whole one-frame message (its length
 * its msg_len) is still an offer: the inline receive leaves it to the
 * library, which finds it bad (-EPROTO), never hands it out as a message.
 */
Test(udp, offer_is_never_taken_as_a_message)
{
	struct clcp__pull d = { 0, sizeof(d), 0, 0 };
	struct engine e;
	char buf[64];
	int c;

	engine_open_mtu(&e, 8, 65000);
	engine_in(&e, CLCP_FF_ACK | UDP_FF_HELLO, 0, NULL);
	engine_in_bytes(&e, CLCP_FF_DATA | CLCP_FF_ACK | CLCP_FF_FIRST | CLCP_FF_LAST, 0, 0, buf, 0,
			UDP_RSVD_OFFER);
	engine_in_bytes(&e, CLCP_FF_DATA | CLCP_FF_ACK | CLCP_FF_FIRST | CLCP_FF_LAST, 1, sizeof(d),
			&d, sizeof(d), UDP_RSVD_OFFER);
	for (int i = 0; i < 2; i++) {
		c = e.chan;
		cr_assert_eq(clcp_poll_rx_msg(e.ep, &c, buf, sizeof(buf), CLCP_NONBLOCK), -EPROTO,
			     "offer %d: %s", i, clcp_errmsg());
	}
	c = e.chan;
	cr_assert_eq(clcp_poll_rx_msg(e.ep, &c, buf, sizeof(buf), CLCP_NONBLOCK), -EAGAIN);
	engine_close(&e);
}

/*
 * An offer taken for a receive's buffer, then withdrawn (a frame of no
 * offer where its first was due): the receive that must take it declines
 * it and takes the message that follows as any other, with that
 * message's own length.
 */
Test(udp, receive_after_a_withdrawn_offer_takes_the_next_message)
{
	struct clcp__pull d = { 0, 3 * OFFER_FRAME, 0, 0 };
	unsigned char *buf = calloc(1, UDP_PULL_MIN);
	struct engine e;
	int c;

	engine_open_mtu(&e, 8, 65000);
	engine_in(&e, CLCP_FF_ACK | UDP_FF_HELLO, 0, NULL);
	cr_assert_eq(udp_pull_ready(e.ep, e.chan, buf, UDP_PULL_MIN), 0);
	engine_in_bytes(&e, CLCP_FF_DATA | CLCP_FF_ACK | CLCP_FF_FIRST | CLCP_FF_LAST, 0,
			3 * OFFER_FRAME, &d, sizeof(d), UDP_RSVD_OFFER);
	engine_in_bytes(&e, CLCP_FF_DATA | CLCP_FF_ACK | CLCP_FF_FIRST | CLCP_FF_LAST, 1, 3, "abc", 3,
			0);
	cr_assert_eq(udp_pull_ready(e.ep, e.chan, NULL, 0), 1, "the receive must take the offer");
	c = e.chan;
	cr_assert_eq(clcp_poll_rx_msg(e.ep, &c, buf, UDP_PULL_MIN, 0), 3, "%s", clcp_errmsg());
	cr_assert_eq(memcmp(buf, "abc", 3), 0);
	cr_assert_eq(e.u->st.rx_bulk, 0);
	free(buf);
	engine_close(&e);
}

/*
 * The offer that took a receive's buffer is known by its frame's sequence
 * number as it came, not by what its descriptor says: the receive takes it.
 */
Test(udp, granted_offer_is_known_by_its_frame_not_its_descriptor)
{
	unsigned char m[3 * OFFER_FRAME], *buf = calloc(1, UDP_PULL_MIN);
	struct engine e;
	int c;

	offer_msg(m);
	engine_open_mtu(&e, 8, 65000);
	engine_in(&e, CLCP_FF_ACK | UDP_FF_HELLO, 0, NULL);
	cr_assert_eq(udp_pull_ready(e.ep, e.chan, buf, UDP_PULL_MIN), 0);
	offer_and_frames(&e, m, 77);
	cr_assert_eq(e.u->st.rx_bulk, 3);
	cr_assert_eq(udp_pull_ready(e.ep, e.chan, NULL, 0), 1, "the receive must take it");
	c = e.chan;
	cr_assert_eq(clcp_poll_rx_msg(e.ep, &c, buf, UDP_PULL_MIN, CLCP_NONBLOCK),
		     (ssize_t)sizeof(m), "%s", clcp_errmsg());
	cr_assert_eq(memcmp(buf, m, sizeof(m)), 0);
	cr_assert_eq(UDPE(e.ep)->chans[e.chan].err, 0, "no reset");
	free(buf);
	engine_close(&e);
}
