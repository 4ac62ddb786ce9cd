// SPDX-License-Identifier: MIT
/*
 * The udp backend's configuration (URI, CLCP_NODES, hostfile, the local
 * node found by its address), the job key, the wire format spoken by hand
 * (CRC32C both ways, a bad one dropped, a hole SACKed), and hostile datagrams: bad
 * input is refused or dropped, never a crash, and the device keeps working.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <clcp/clcp.h>

#include "testutil.h"

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
Test(udp, wrong_key_is_refused)
{
	struct clcp_endpt_attr attr;
	char ua[96], ub[96];
	clcp_dev_t *a, *b;
	clcp_endpt_t *ea, *eb;
	int ca;

	snprintf(ua, sizeof(ua), "udp://0?local=%u&key=1", base_port() + 5);
	snprintf(ub, sizeof(ub), "udp://1?local=%u&key=2", base_port() + 5);
	cr_assert_eq(clcp_open(ua, &a), 0, "%s", clcp_errmsg());
	cr_assert_eq(clcp_open(ub, &b), 0, "%s", clcp_errmsg());
	clcp_endpt_attr_init(&attr);
	attr.connect_ms = 300;
	cr_assert_eq(clcp_alloc_endpt(a, &attr, &ea), 0);
	cr_assert_eq(clcp_alloc_endpt(b, &attr, &eb), 0);
	ca = clcp_alloc_chan(ea, 10, 1, 20);
	cr_assert_geq(clcp_alloc_chan(eb, 20, 0, 10), 0);
	cr_assert_eq(clcp_snd_message(ea, ca, "x", 1, 0), -ECONNREFUSED, "%s", clcp_errmsg());
	clcp_close(a);
	clcp_close(b);
}

static uint32_t w_crc32c(const unsigned char *p, size_t n);

/* Garbage, truncated and forged datagrams: dropped; the channel still works. */
Test(udp, hostile_datagrams)
{
	unsigned char d[2048];
	struct sockaddr_in to = { .sin_family = AF_INET };
	char ua[96], ub[96], buf[64];
	clcp_dev_t *a, *b;
	clcp_endpt_t *ea, *eb;
	int s, ca, cb, c;
	uint32_t seed = 12345;

	snprintf(ua, sizeof(ua), "udp://0?local=%u", base_port() + 6);
	snprintf(ub, sizeof(ub), "udp://1?local=%u", base_port() + 6);
	cr_assert_eq(clcp_open(ua, &a), 0);
	cr_assert_eq(clcp_open(ub, &b), 0);
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
	clcp_close(a);
	clcp_close(b);
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

	h.len = htonl((uint32_t)len);
	h.msg_len = htonl(data ? (uint32_t)len : 64u); /* data: message length; ack: credit */
	h.seq = htonl(seq);
	memcpy(d, &h, sizeof(h));
	memcpy(d + sizeof(h), data ? data : "", len);
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
			cr_assert_eq(n, 32 + 8 + 4, "a SACK ack is header, map, CRC");
			memcpy(&hi, d + 32, 4);
			memcpy(&lo, d + 36, 4);
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
	snprintf(uri, sizeof(uri), "udp://0?local=%u", base);
	cr_assert_eq(clcp_open(uri, &dev), 0, "%s", clcp_errmsg());
	clcp_endpt_attr_init(&a);
	a.timeout_ms = 2000;
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

/* crc=0 on both ends (a trusted path): messages flow without the check. */
Test(udp, crc_off_both_ends)
{
	char ua[96], ub[96], buf[64];
	clcp_dev_t *a, *b;
	clcp_endpt_t *ea, *eb;
	int ca, cb, c;

	snprintf(ua, sizeof(ua), "udp://0?local=%u&crc=0", base_port() + 2);
	snprintf(ub, sizeof(ub), "udp://1?local=%u&crc=0", base_port() + 2);
	cr_assert_eq(clcp_open(ua, &a), 0, "%s", clcp_errmsg());
	cr_assert_eq(clcp_open(ub, &b), 0, "%s", clcp_errmsg());
	cr_assert_eq(clcp_alloc_endpt(a, NULL, &ea), 0);
	cr_assert_eq(clcp_alloc_endpt(b, NULL, &eb), 0);
	ca = clcp_alloc_chan(ea, 10, 1, 20);
	cb = clcp_alloc_chan(eb, 20, 0, 10);
	cr_assert(ca >= 0 && cb >= 0);
	cr_assert_eq(clcp_snd_message(ea, ca, "no crc", 6, 0), 6, "%s", clcp_errmsg());
	c = cb;
	cr_assert_eq(clcp_rcv_message(eb, &c, buf, sizeof(buf), 0), 6, "%s", clcp_errmsg());
	cr_assert_eq(memcmp(buf, "no crc", 6), 0);
	clcp_close(a);
	clcp_close(b);
}
