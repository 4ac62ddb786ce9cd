// SPDX-License-Identifier: MIT
/*
 * The XDP program of the udp backend's xdp mode (docs/udp.md, "AF_XDP
 * mode"): IPv4 UDP packets to the node's address and port, unfragmented,
 * with sane lengths and no larger than the socket's frames, go to the
 * AF_XDP socket of their Rx queue (xsks); everything else goes on to the
 * kernel (XDP_PASS), which drops what is malformed itself. Also when no
 * socket sits at that queue: bpf_redirect_map falls back to XDP_PASS.
 * cfg[0] says what is ours; all zero until the loader writes it, and then
 * nothing is redirected.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Shared with udp_xdp.c: addr and port in network order. */
struct udp_xdp_cfg {
	__u32 addr;    /* the node's IPv4 address */
	__u16 port;    /* the node's UDP port (0: redirect nothing) */
	__u16 max_len; /* largest packet the socket's frames take, Ethernet header on */
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct udp_xdp_cfg);
} cfg SEC(".maps");

/* An IPv4 UDP packet for addr:port, whole, not a fragment, lengths in order. */
static int ours(const struct udp_xdp_cfg *c, void *data, void *end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp;
	__u32 ihl;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	ihl = ip->ihl * 4u;
	if (ip->version != 4 || ihl < sizeof(*ip) || ip->protocol != IPPROTO_UDP ||
	    ip->daddr != c->addr || (ip->frag_off & bpf_htons(0x3fff)))
		return 0;
	udp = (void *)ip + ihl;
	if ((void *)(udp + 1) > end || udp->dest != c->port)
		return 0;
	/* The lengths must agree with the packet (Ethernet may pad a short one). */
	if (bpf_ntohs(ip->tot_len) < ihl + sizeof(*udp) ||
	    (void *)ip + bpf_ntohs(ip->tot_len) > end ||
	    bpf_ntohs(udp->len) != bpf_ntohs(ip->tot_len) - ihl)
		return 0;
	return 1;
}

SEC("xdp")
int udp_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 k = 0;
	struct udp_xdp_cfg *c = bpf_map_lookup_elem(&cfg, &k);

	if (!c || !c->port || end - data > c->max_len || !ours(c, data, end))
		return XDP_PASS;
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
