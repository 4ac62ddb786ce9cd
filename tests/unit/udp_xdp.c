// SPDX-License-Identifier: MIT
/*
 * The udp backend's XDP program (backends/udp/bpf/udp_xdp.bpf.c), loaded by
 * the backend's own loader, run by the kernel on crafted packets with
 * BPF_PROG_TEST_RUN: the node's UDP packets go to the AF_XDP socket
 * (XDP_REDIRECT), every other packet, malformed or not, to the kernel
 * (XDP_PASS). An AF_XDP socket bound to lo in a network namespace of the
 * test's own stands in the XSK map (the kernel redirects only to a socket
 * that is there). Needs root (BPF, unshare): without it the tests fail.
 * Also the URI options of the mode.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>

#include <clcp/clcp.h>

#include "udp.h"

#define ADDR "10.77.9.1"
#define PORT 7790
#define MAX_LEN 1600
#define FRAME 4096u
#define NFRAMES 64u

static struct udp_xdp_prog prog;
static struct xsk_umem *umem;
static struct xsk_socket *xsk;
static struct xsk_ring_prod fq, tx;
static struct xsk_ring_cons cq, rx;

/* An AF_XDP socket on lo, queue 0, in xsks[0]; lo of a namespace of our own. */
static void xsk_on_lo(void)
{
	struct xsk_socket_config sc = { .rx_size = 64,
					.tx_size = 64,
					.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
					.bind_flags = XDP_COPY };
	void *area = mmap(NULL, FRAME * NFRAMES, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint32_t k = 0;
	int fd, rc;

	cr_assert_neq(area, MAP_FAILED);
	rc = xsk_umem__create(&umem, area, FRAME * NFRAMES, &fq, &cq, NULL);
	cr_assert_eq(rc, 0, "UMEM: %s", strerror(-rc));
	rc = xsk_socket__create(&xsk, "lo", 0, umem, &rx, &tx, &sc);
	cr_assert_eq(rc, 0, "AF_XDP socket on lo: %s", strerror(-rc));
	fd = xsk_socket__fd(xsk);
	cr_assert_eq(bpf_map_update_elem(prog.xsks_fd, &k, &fd, BPF_ANY), 0, "XSK map: %s",
		     strerror(errno));
}

static void setup(void)
{
	int rc;

	cr_assert_eq(geteuid(), 0, "needs root (BPF programs, network namespaces)");
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
	rc = udp_xdp_prog_load(&prog);
	cr_assert_eq(rc, 0, "the XDP program does not load: %s (%s)", strerror(-rc), clcp_errmsg());
	cr_assert_eq(udp_xdp_prog_cfg(&prog, inet_addr(ADDR), htons(PORT), MAX_LEN), 0);
	xsk_on_lo();
}

static void teardown(void)
{
	if (xsk)
		xsk_socket__delete(xsk);
	if (umem)
		xsk_umem__delete(umem);
	udp_xdp_prog_free(&prog);
}

TestSuite(udp_xdp, .init = setup, .fini = teardown, .timeout = 30);

/* A packet: Ethernet, IPv4 (20 bytes), UDP, n bytes of payload; checksums left 0. */
struct pkt {
	_Alignas(4) unsigned char raw[2050];
	unsigned char *b; /* raw + 2: the IP header 4-aligned, as in a NIC's buffer */
	size_t len;
	struct ethhdr *eth;
	struct iphdr *ip;
	struct udphdr *udp;
};

static void pkt_make(struct pkt *p, const char *dst, uint16_t dport, size_t n)
{
	memset(p, 0, sizeof(*p));
	p->b = p->raw + 2;
	p->eth = (struct ethhdr *)p->b;
	p->ip = (struct iphdr *)(p->b + ETH_HLEN);
	p->udp = (struct udphdr *)(p->b + ETH_HLEN + 20);
	p->eth->h_proto = htons(ETH_P_IP);
	p->ip->version = 4;
	p->ip->ihl = 5;
	p->ip->ttl = 64;
	p->ip->protocol = IPPROTO_UDP;
	p->ip->tot_len = htons((uint16_t)(28 + n));
	p->ip->saddr = inet_addr("10.77.9.2");
	p->ip->daddr = inet_addr(dst);
	p->udp->source = htons(7791);
	p->udp->dest = htons(dport);
	p->udp->len = htons((uint16_t)(8 + n));
	memset(p->b + ETH_HLEN + 28, 0xab, n);
	p->len = ETH_HLEN + 28 + n;
}

/* The program's verdict on len bytes of p. */
static int run(const struct pkt *p, size_t len)
{
	unsigned char out[2048];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);
	int rc = bpf_prog_test_run_opts(prog.prog_fd, &o);

	cr_assert_eq(rc, 0, "BPF_PROG_TEST_RUN: %s", strerror(errno));
	return (int)o.retval;
}

static const char *verdict(int v)
{
	return v == XDP_PASS	 ? "XDP_PASS" :
	       v == XDP_REDIRECT ? "XDP_REDIRECT" :
	       v == XDP_DROP	 ? "XDP_DROP" :
				   "other";
}

#define expect(p, len, want, why)                                                           \
	do {                                                                                \
		int v_ = run(p, len);                                                       \
		cr_expect_eq(v_, want, "%s: %s, want %s", why, verdict(v_), verdict(want)); \
	} while (0)

Test(udp_xdp, node_port_is_redirected)
{
	struct pkt p;

	pkt_make(&p, ADDR, PORT, 100);
	expect(&p, p.len, XDP_REDIRECT, "our address and port");
	pkt_make(&p, ADDR, PORT, MAX_LEN - 42);
	expect(&p, p.len, XDP_REDIRECT, "the largest packet a frame takes");
	pkt_make(&p, ADDR, PORT, 0);
	expect(&p, p.len, XDP_REDIRECT, "an empty datagram (the engine drops it as short)");
	pkt_make(&p, ADDR, PORT, 4);
	expect(&p, p.len + 20, XDP_REDIRECT, "Ethernet padding after the IP packet");
}

Test(udp_xdp, other_traffic_is_passed)
{
	struct pkt p;

	pkt_make(&p, ADDR, PORT + 1, 100);
	expect(&p, p.len, XDP_PASS, "another port");
	pkt_make(&p, "10.77.9.3", PORT, 100);
	expect(&p, p.len, XDP_PASS, "another address");
	pkt_make(&p, ADDR, PORT, 100);
	p.ip->protocol = IPPROTO_TCP;
	expect(&p, p.len, XDP_PASS, "TCP");
	pkt_make(&p, ADDR, PORT, 100);
	p.eth->h_proto = htons(ETH_P_ARP);
	expect(&p, p.len, XDP_PASS, "ARP");
	pkt_make(&p, ADDR, PORT, 100);
	p.eth->h_proto = htons(ETH_P_IPV6);
	expect(&p, p.len, XDP_PASS, "IPv6");
	pkt_make(&p, ADDR, PORT, MAX_LEN - 41);
	expect(&p, p.len, XDP_PASS, "larger than a frame: the socket takes it");
	pkt_make(&p, ADDR, PORT, 100);
	p.ip->frag_off = htons(0x2000); /* more fragments */
	expect(&p, p.len, XDP_PASS, "a first fragment: the kernel reassembles");
	p.ip->frag_off = htons(10);
	expect(&p, p.len, XDP_PASS, "a later fragment");
}

Test(udp_xdp, malformed_is_passed)
{
	struct pkt p;

	pkt_make(&p, ADDR, PORT, 100);
	for (size_t n = ETH_HLEN; n < ETH_HLEN + 28; n++) /* the kernel runs none shorter */
		expect(&p, n, XDP_PASS, "truncated headers");
	pkt_make(&p, ADDR, PORT, 100);
	p.ip->version = 6;
	expect(&p, p.len, XDP_PASS, "IP version 6 in an IPv4 frame");
	pkt_make(&p, ADDR, PORT, 100);
	p.ip->ihl = 4;
	expect(&p, p.len, XDP_PASS, "IP header length 16");
	pkt_make(&p, ADDR, PORT, 100);
	p.ip->ihl = 15;
	expect(&p, p.len, XDP_PASS, "IP options beyond the packet");
	pkt_make(&p, ADDR, PORT, 100);
	p.ip->tot_len = htons(2000);
	expect(&p, p.len, XDP_PASS, "IP length beyond the packet");
	pkt_make(&p, ADDR, PORT, 100);
	p.ip->tot_len = htons(27);
	expect(&p, p.len, XDP_PASS, "IP length shorter than the headers");
	pkt_make(&p, ADDR, PORT, 100);
	p.udp->len = htons(50);
	expect(&p, p.len, XDP_PASS, "UDP length not the IP payload's");
}

Test(udp_xdp, unconfigured_or_unbound_passes)
{
	struct pkt p;
	uint32_t k = 0;
	int fd = xsk_socket__fd(xsk);

	pkt_make(&p, ADDR, PORT, 100);
	cr_assert_eq(bpf_map_delete_elem(prog.xsks_fd, &k), 0);
	expect(&p, p.len, XDP_PASS, "no AF_XDP socket at the queue");
	cr_assert_eq(bpf_map_update_elem(prog.xsks_fd, &k, &fd, BPF_ANY), 0);
	expect(&p, p.len, XDP_REDIRECT, "the socket back");
	cr_assert_eq(udp_xdp_prog_cfg(&prog, 0, 0, 0), 0);
	expect(&p, p.len, XDP_PASS, "port 0: nothing is ours yet");
}

/* --- the mode where AF_XDP cannot run: sockets, and a message that says why --- */

static uint64_t stat_of(clcp_dev_t *dev, const char *name)
{
	struct clcp_stat st[64];
	int n = clcp_dev_stats(dev, st, 64);

	for (int i = 0; i < n; i++)
		if (strcmp(st[i].name, name) == 0)
			return st[i].value;
	cr_assert_fail("no counter %s", name);
	return 0;
}

static void quiet_setup(void)
{
	unsetenv("CLCP_UDP_MODE");
	unsetenv("CLCP_NODES");
	cr_redirect_stderr();
}

TestSuite(udp_xdp_fallback, .init = quiet_setup, .timeout = 30);

/* 127.0.0.1 is on lo, not an Ethernet device: the node runs on sockets, and says so. */
Test(udp_xdp_fallback, loopback_falls_back_to_sockets)
{
	unsigned port = 7800u + (unsigned)getpid() % 40u * 2u;
	char ua[96], ub[96], buf[16], err[512] = "";
	clcp_dev_t *a, *b;
	clcp_endpt_t *ea, *eb;
	int ca, cb;
	FILE *f;
	size_t n;

	snprintf(ua, sizeof(ua), "udp://0?local=%u&mode=xdp", port);
	snprintf(ub, sizeof(ub), "udp://1?local=%u", port);
	cr_assert_eq(clcp_open(ua, &a), 0, "%s", clcp_errmsg());
	setenv("CLCP_UDP_MODE", "xdp-skb", 1); /* the variable as well as the URI */
	cr_assert_eq(clcp_open(ub, &b), 0, "%s", clcp_errmsg());
	cr_assert_eq(stat_of(a, "xdp_mode"), 0, "AF_XDP on lo?");
	cr_assert_eq(clcp_alloc_endpt(a, NULL, &ea), 0);
	cr_assert_eq(clcp_alloc_endpt(b, NULL, &eb), 0);
	ca = clcp_alloc_chan(ea, 5, 1, 6);
	cb = clcp_alloc_chan(eb, 6, 0, 5);
	cr_assert(ca >= 0 && cb >= 0);
	cr_assert_eq(clcp_snd_message(ea, ca, "hello", 5, 0), 5);
	cr_assert_eq(clcp_rcv_message(eb, &cb, buf, sizeof(buf), 0), 5);
	cr_assert_eq(stat_of(b, "xdp_rx"), 0);
	clcp_close(a);
	clcp_close(b);
	fflush(stderr);
	f = cr_get_redirected_stderr();
	n = fread(err, 1, sizeof(err) - 1, f);
	err[n] = '\0';
	cr_assert(strstr(err, "node 0: AF_XDP mode not available (lo is not an Ethernet device); "
			      "using sockets"),
		  "stderr: %s", err);
	cr_assert(strstr(err, "node 1: AF_XDP mode not available"), "stderr: %s", err);
}

/* AF_XDP mode is IPv4 only: a node on ::1 runs on sockets, and says so. */
Test(udp_xdp_fallback, ipv6_falls_back_to_sockets)
{
	char ua[96], err[512] = "";
	clcp_dev_t *a;
	FILE *f;
	size_t n;

	snprintf(ua, sizeof(ua), "udp://0?local6=%u&mode=xdp", 7880u + (unsigned)getpid() % 20u);
	cr_assert_eq(clcp_open(ua, &a), 0, "%s", clcp_errmsg());
	cr_assert_eq(stat_of(a, "xdp_mode"), 0);
	clcp_close(a);
	fflush(stderr);
	f = cr_get_redirected_stderr();
	n = fread(err, 1, sizeof(err) - 1, f);
	err[n] = '\0';
	cr_assert(strstr(err, "AF_XDP mode not available (the node's address is not IPv4); using "
			      "sockets"),
		  "stderr: %s", err);
}

/* --- the rings' sizes: from the first endpoint's queues, or xdp_ring --- */

Test(udp_xdp_rings, twice_the_queues_within_64_to_4096)
{
	uint32_t ring_rx, ring_tx;

	udp_xdp_rings(64, 64, 0, &ring_rx, &ring_tx);
	cr_assert_eq(ring_rx, 128);
	cr_assert_eq(ring_tx, 128);
	udp_xdp_rings(512, 8, 0, &ring_rx, &ring_tx);
	cr_assert_eq(ring_rx, 1024, "Rx ring %u: twice the Rx queue", ring_rx);
	cr_assert_eq(ring_tx, 64, "Tx ring %u: at least 64", ring_tx);
	udp_xdp_rings(4096, 2, 0, &ring_rx, &ring_tx);
	cr_assert_eq(ring_rx, 4096, "Rx ring %u: at most 4096", ring_rx);
	cr_assert_eq(ring_tx, 64);
}

Test(udp_xdp_rings, xdp_ring_overrides)
{
	uint32_t ring_rx, ring_tx;

	udp_xdp_rings(512, 1024, 256, &ring_rx, &ring_tx);
	cr_assert_eq(ring_rx, 256);
	cr_assert_eq(ring_tx, 256);
}
