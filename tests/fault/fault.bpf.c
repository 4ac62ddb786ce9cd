// SPDX-License-Identifier: GPL-2.0
/*
 * tc clsact egress program of the kernel-path fault test (netns.sh): on
 * IPv4 UDP packets it drops LOSS_PM per mille (TC_ACT_SHOT), sends a
 * clone out again for DUP_PM per mille (bpf_clone_redirect; the clone is
 * marked so it is not faulted twice) and flips one byte of the UDP payload
 * for CORRUPT_PM per mille (bpf_skb_store_bytes; the UDP checksum is left
 * as it was). Rates are fixed at compile time (-D). No libbpf headers: the
 * helpers are declared from linux/bpf.h.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>

#ifndef LOSS_PM
#define LOSS_PM 100
#endif
#ifndef DUP_PM
#define DUP_PM 50
#endif
#ifndef CORRUPT_PM
#define CORRUPT_PM 10
#endif

#define SEC(name) __attribute__((section(name), used))
#define CLONE_MARK 0xc1c9u
#define IP_PROTO_OFF (ETH_HLEN + 9)
#define UDP_DATA_OFF (ETH_HLEN + 20 + 8) /* no IP options on our packets */

static __u32 (*bpf_get_prandom_u32)(void) = (void *)BPF_FUNC_get_prandom_u32;
static long (*bpf_clone_redirect)(struct __sk_buff *skb, __u32 ifindex,
				  __u64 flags) = (void *)BPF_FUNC_clone_redirect;
static long (*bpf_skb_load_bytes)(const struct __sk_buff *skb, __u32 off, void *to,
				  __u32 len) = (void *)BPF_FUNC_skb_load_bytes;
static long (*bpf_skb_store_bytes)(struct __sk_buff *skb, __u32 off, const void *from,
				   __u32 len, __u64 flags) = (void *)BPF_FUNC_skb_store_bytes;

static int chance(__u32 pm)
{
	return bpf_get_prandom_u32() % 1000 < pm;
}

static void corrupt(struct __sk_buff *skb)
{
	__u32 len = skb->len, off;
	__u8 b;

	if (len <= UDP_DATA_OFF)
		return;
	off = UDP_DATA_OFF + bpf_get_prandom_u32() % (len - UDP_DATA_OFF);
	if (off > 0xffff || bpf_skb_load_bytes(skb, off, &b, 1) < 0)
		return;
	b ^= 0x5a;
	bpf_skb_store_bytes(skb, off, &b, 1, 0);
}

SEC("tc")
int fault(struct __sk_buff *skb)
{
	__u8 proto;

	if (skb->mark == CLONE_MARK) { /* our duplicate: out as it is */
		skb->mark = 0;
		return TC_ACT_OK;
	}
	if (skb->protocol != __constant_htons(ETH_P_IP) ||
	    bpf_skb_load_bytes(skb, IP_PROTO_OFF, &proto, 1) < 0 || proto != IPPROTO_UDP)
		return TC_ACT_OK;
	if (chance(LOSS_PM))
		return TC_ACT_SHOT;
	if (chance(CORRUPT_PM))
		corrupt(skb);
	if (chance(DUP_PM)) {
		skb->mark = CLONE_MARK;
		bpf_clone_redirect(skb, skb->ifindex, 0);
		skb->mark = 0;
	}
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
