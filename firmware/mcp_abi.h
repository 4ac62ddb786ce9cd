/* SPDX-License-Identifier: MIT */
/*
 * The firmware <-> driver contract in NIC SRAM: where things are, the
 * command queue, the statistics, the debug log ring, the route table and
 * the per-endpoint doorbell/interrupt words. The endpoint itself (header,
 * queues, buffers) is the ABI of include/clcp/abi.h, in pinned host memory;
 * the firmware reaches it by host DMA only.
 *
 * Byte order: every multi-byte field in SRAM is big-endian (the LANai's own
 * order); the driver swaps. Fixed-width fields, offsets only, no libc.
 * Bump MCP_ABI_VERSION on any change here.
 */
#ifndef CLCP_MCP_ABI_H
#define CLCP_MCP_ABI_H

#include "clcp/abi.h"

#define MCP_ABI_VERSION 5u
#define MCP_MAGIC 0x4d435031u /* "MCP1" */

/* SRAM map (bytes). The image and its stack live below MCP_SHARED_OFF. */
#define MCP_SRAM_SIZE 0x80000u	 /* 512 KiB budget, queues and buffers included */
#define MCP_IMAGE_MAX 0x18000u	 /* code + data + bss */
#define MCP_STACK_TOP 0x20000u	 /* stack grows down from here */
#define MCP_SHARED_OFF 0x20000u	 /* struct mcp_shared */
#define MCP_EPAGE_OFF 0x28000u	 /* struct mcp_endpt_page of endpoint i, one page each */
#define MCP_EPAGE_SIZE 0x1000u	 /* the driver maps endpoint i's page to its owner only */
#define MCP_EPAGE(i) (MCP_EPAGE_OFF + (clcp_u32)(i) * MCP_EPAGE_SIZE)
#define MCP_SCRATCH_OFF 0x3f000u /* firmware scratch: entries on their way */
#define MCP_TXBUF_OFF 0x40000u	 /* the NIC Tx buffer: one packet */
#define MCP_RXBUF_OFF 0x60000u	 /* the NIC Rx buffer: one packet */
#define MCP_PKTBUF_SIZE 0x20000u /* route + type + header + MTU max + CRC */

#define MCP_MTU_MAX 65536u /* = CLCP_MTU_MAX */
#define MCP_MAX_ENDPTS 16u
#define MCP_MAX_CHANS 64u /* per endpoint */
#define MCP_MAX_NODES 64u
#define MCP_ROUTE_MAX 8u	/* route bytes (switch hops) per node */
#define MCP_PORTMAP_SLOTS 1024u /* power of two; open addressing */
#define MCP_CMDQ_LEN 16u	/* power of two */
#define MCP_LOG_LEN 128u	/* power of two */
#define MCP_HOST_DEAD_MAX_MS 60000u /* the longest host_dead_ms: the microsecond clock wraps in 71 min */

/* Packet type after the route bytes (2 bytes, big-endian). */
#define MCP_PTYPE_CLCP 0x0c1cu
/*
 * A control packet between NICs: the same frame header, len 0, the
 * operation in `ack`; dst_port/src_port name the channel as the receiving
 * NIC knows it (the data packet's ports swapped).
 */
#define MCP_PTYPE_CTRL 0x0c1du
#define MCP_CTRL_REFUSED 1u /* your packet's port is not bound here */
#define MCP_CTRL_RESET 2u   /* the channel was released here */
/*
 * Credits (channels activated with MCP_CHANF_CREDIT): a sender's NIC sends
 * a data frame only with a credit, one posted Rx slot of the receiver that
 * its NIC promised to this channel and to no one else; no frame is ever
 * dropped for want of a buffer. The count travels in `seq`.
 */
#define MCP_CTRL_HELLO 3u  /* I bound my end of this channel (answered once); seq = its activation */
#define MCP_CTRL_ASK 4u	   /* credits please; seq = 1: a frame waits (grant when you can) */
#define MCP_CTRL_GRANT 5u  /* seq = credits granted now (0: none free, may follow later) */
#define MCP_CTRL_RETURN 6u /* seq = credits the sender left unused (idle): slots free again */
/* Bytes on the wire after the route: type, frame header, payload. */
#define MCP_PKT_HDR (2u + (clcp_u32)sizeof(struct clcp_frame_hdr))

/* Results of commands and Tx entries: negative Linux errno values. */
#define MCP_ENOENT 2
#define MCP_EFAULT 14
#define MCP_EBUSY 16
#define MCP_EINVAL 22
#define MCP_ENOSPC 28
#define MCP_EPROTO 71
#define MCP_EMSGSIZE 90
#define MCP_EADDRINUSE 98
#define MCP_EHOSTUNREACH 113
#define MCP_ECONNRESET 104
#define MCP_ECONNREFUSED 111

/* --- command queue: the driver produces, the firmware consumes --- */

enum mcp_cmd_op {
	MCP_CMD_NOP = 0,
	MCP_CMD_CREATE_ENDPT = 1,    /* ep, host_addr = endpoint base, size */
	MCP_CMD_DESTROY_ENDPT = 2,   /* ep */
	MCP_CMD_ACTIVATE_CHAN = 3,   /* ep, chan, port, peer_node, peer_port */
	MCP_CMD_DEACTIVATE_CHAN = 4, /* ep, chan */
	MCP_CMD_LOAD_ROUTES = 5,     /* peer_node = my node id, chan = nodes in routes[], port = a
				      * random number of the host's (activation numbers, mcp.c) */
	MCP_CMD_FAIL_CHAN = 6,	     /* ep, chan, port = errno: the driver gives the channel up */
};

/* ACTIVATE_CHAN: host_addr_lo carries these flags. */
#define MCP_CHANF_CREDIT 1u /* credit flow control (else frames go at once: raw) */

/* Owner states of a command entry; `state` is written last by each side. */
enum mcp_cmd_state {
	MCP_CMDS_FREE = 0,  /* the driver may fill it */
	MCP_CMDS_READY = 1, /* filled: the firmware's */
	MCP_CMDS_DONE = 2,  /* result valid: the driver's, then FREE */
};

/*
 * One command. The driver fills every field, then writes state = READY
 * last (after a write barrier); the firmware executes it, writes result,
 * then state = DONE. The driver reads result after seeing DONE.
 */
struct mcp_cmd {
	clcp_u32 op; /* enum mcp_cmd_op */
	clcp_u32 ep;
	clcp_u32 chan;
	clcp_u32 port;
	clcp_u32 peer_node;
	clcp_u32 peer_port;
	clcp_u32 host_addr_hi; /* bus address of the endpoint region */
	clcp_u32 host_addr_lo;
	clcp_u32 size;	 /* CREATE_ENDPT: bytes the driver pinned there */
	clcp_s16 result; /* 0 or a negative errno */
	clcp_u8 rsvd;
	clcp_u8 state; /* enum mcp_cmd_state; written last */
};

/*
 * --- per-endpoint words in SRAM: endpoint i's page at MCP_EPAGE(i) ---
 * All the user side of an endpoint reads or writes in SRAM, and nothing
 * else: the driver maps this page (and no other SRAM) to the endpoint's
 * process.
 */
struct mcp_endpt_page {
	clcp_u32 doorbell; /* user/driver: bumped after posting Tx entries */
	clcp_u32 intr;	   /* firmware: bumped at each interrupt raised */
	clcp_u32 enabled;  /* firmware: 1 while the endpoint exists */
	clcp_u32 errors;   /* firmware: Tx entries handed back with an error */
	/* Per channel: 0, or a positive errno the peer's NIC reported (cleared by ACTIVATE). */
	clcp_u8 chan_err[MCP_MAX_CHANS];
	/* Per channel, driver: 1 = ask the peer for a credit now (then ring the doorbell). */
	clcp_u8 chan_ask[MCP_MAX_CHANS];
	/* Per channel, firmware: credits (low 16 bits) | MCP_CHT_* (credit channels). */
	clcp_u32 chan_tx[MCP_MAX_CHANS];
};

/* --- route table: written by the driver, adopted by LOAD_ROUTES --- */

struct mcp_route {
	clcp_u8 len; /* route bytes; 0 = unreachable (or myself: loopback) */
	clcp_u8 bytes[MCP_ROUTE_MAX];
	clcp_u8 valid; /* 1 if the node exists */
	clcp_u8 rsvd[2];
};

/* --- statistics (firmware writes, anyone reads) --- */

struct mcp_stats {
	clcp_u32 tx_packets;
	clcp_u32 rx_packets;
	clcp_u32 drop_port;  /* unknown destination port */
	clcp_u32 drop_len;   /* bad length or packet type */
	clcp_u32 drop_crc;   /* bad CRC */
	clcp_u32 drop_full;  /* Rx queue full past the stall budget */
	clcp_u32 rx_stalls;  /* packets that waited for an Rx buffer */
	clcp_u32 tx_errors;  /* Tx entries handed back with an error */
	clcp_u32 seq_errors; /* a channel's frame out of sequence */
	clcp_u32 commands;
	clcp_u32 interrupts;
	clcp_u32 ctrl_tx; /* control packets sent (refusals, resets) */
	clcp_u32 ctrl_rx;
	clcp_u32 credit_stalls; /* Tx entries that waited for a credit */
	clcp_u32 grants;	/* credits granted to peers */
	clcp_u32 replaced; /* channels failed by a new activation on the peer's port */
	clcp_u32 host_gone; /* times the host missed its beats for host_dead_ms */
	clcp_u32 rsvd[15];  /* counters to come */
};

/* --- debug log ring: firmware writes entry, then bumps head --- */

enum mcp_log_code {
	MCP_LOG_BOOT = 1,
	MCP_LOG_CMD = 2,    /* a = op, b = result */
	MCP_LOG_DROP = 3,   /* a = reason (MCP_DROP_*), b = port or length */
	MCP_LOG_TX_ERR = 4, /* a = errno, b = chan */
	MCP_LOG_SEQ = 5,    /* a = expected, b = got */
	MCP_LOG_STALL = 6,  /* a = endpoint, b = port */
	MCP_LOG_CTRL = 7,   /* a = MCP_CTRL_*, b = port it names; ep = 0xffff when sent */
	MCP_LOG_HOST = 8,   /* the host missed its beats: a = host_dead_ms, b = its last beat */
};

enum mcp_drop {
	MCP_DROP_PORT = 1,
	MCP_DROP_LEN = 2,
	MCP_DROP_CRC = 3,
	MCP_DROP_FULL = 4,
	MCP_DROP_TYPE = 5,
};

struct mcp_log_entry {
	clcp_u32 time_us;
	clcp_u16 code; /* enum mcp_log_code */
	clcp_u16 ep;
	clcp_u32 a, b;
};

/*
 * The shared block at MCP_SHARED_OFF. The firmware writes magic and
 * version last at boot: the driver waits for them before its first
 * command.
 */
struct mcp_shared {
	clcp_u32 magic;
	clcp_u32 version;
	clcp_u32 node;	    /* my node id (LOAD_ROUTES) */
	clcp_u32 heartbeat; /* bumped by the main loop */
	clcp_u32 cmd_head;  /* firmware: next command it reads */
	clcp_u32 log_head;  /* firmware: entries ever written */
	/* The host's driver bumps host_beat; silent for host_dead_ms (0: not watched), the host is
	 * gone though the board runs, and every channel fails. At most MCP_HOST_DEAD_MAX_MS. */
	clcp_u32 host_beat;
	clcp_u32 host_dead_ms;
	clcp_u32 rsvd[8];
	struct mcp_stats stats;
	struct mcp_cmd cmdq[MCP_CMDQ_LEN];
	struct mcp_log_entry log[MCP_LOG_LEN];
	struct mcp_route routes[MCP_MAX_NODES];
};

#define MCP_CHT_CREDITS 0xffffu
#define MCP_CHT_SEEN 0x10000u	/* the peer's end was heard from (hello, ask, grant, data) */
#define MCP_CHT_ASKING 0x20000u /* an ask is out, its answer not yet back */

CLCP_ABI_ASSERT(sizeof(struct mcp_cmd) == 40, "mcp_cmd size");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct mcp_cmd, state) == 39, "state is last");
CLCP_ABI_ASSERT(sizeof(struct mcp_endpt_page) == 16 + 2 * MCP_MAX_CHANS + 4 * MCP_MAX_CHANS,
		"mcp_endpt_page size");
CLCP_ABI_ASSERT(sizeof(struct mcp_endpt_page) <= MCP_EPAGE_SIZE, "an endpoint's words fit its page");
CLCP_ABI_ASSERT(sizeof(struct mcp_route) == 12, "mcp_route size");
CLCP_ABI_ASSERT(sizeof(struct mcp_stats) == 128, "mcp_stats size");
CLCP_ABI_ASSERT(sizeof(struct mcp_log_entry) == 16, "mcp_log_entry size");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct mcp_shared, stats) == 64, "stats");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct mcp_shared, cmdq) == 192, "cmdq");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct mcp_shared, log) == 192 + 40 * MCP_CMDQ_LEN, "log");
CLCP_ABI_ASSERT(MCP_SHARED_OFF + sizeof(struct mcp_shared) <= MCP_EPAGE_OFF, "shared fits");
CLCP_ABI_ASSERT(MCP_EPAGE(MCP_MAX_ENDPTS) <= MCP_SCRATCH_OFF, "endpoint pages fit");
CLCP_ABI_ASSERT(MCP_RXBUF_OFF + MCP_PKTBUF_SIZE <= MCP_SRAM_SIZE, "buffers fit");
CLCP_ABI_ASSERT(MCP_ROUTE_MAX + MCP_PKT_HDR + MCP_MTU_MAX + 4 <= MCP_PKTBUF_SIZE,
		"a packet fits its buffer");

#endif /* CLCP_MCP_ABI_H */
