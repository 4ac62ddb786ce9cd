/* SPDX-License-Identifier: MIT */
/*
 * Input format of the fuzz_udp_rx target, shared with its seed generator.
 *
 * Byte 0 configures the endpoint: Rx queue 2 << (b & 3) entries, mtu
 * fuzz_mtus[(b >> 2) & 3], or with b & FUZZ_CFG_OFFERS UDP_DIRECT_MIN:
 * frames that large take offers of long messages and their frames (the
 * header's rsvd marks), and every receive runs with a late wake and no
 * engine work of its own (udp_progress holds back). Then
 * operations until the input ends, each an opcode byte (op % FOP_COUNT)
 * and its arguments:
 *
 *   FOP_DGRAM  a, fix, 32 header bytes, u16 len (big-endian), len payload
 *              bytes: one datagram; a & 7 picks the source address (FSRC_*),
 *              (a >> 3) & 3 the channel (3: none); fix bits (FIX_*) repair
 *              parts of the header so that deeper checks are reached.
 *   FOP_RAW    a, u16 len, len bytes: a datagram as is, source a & 7.
 *   FOP_MSG    a: receive a message (nonblocking) on channel a & 3 (3: any),
 *              cap fuzz_caps[(a >> 2) & 3], clcp_poll_rx_msg if a & 0x10,
 *              else clcp_rcv_message; a & 0x40: clcp_peek_message instead.
 *   FOP_FRAME  a: receive a frame on channel a & 3 (3: any) and keep it
 *              lent; a & 4 releases every lent frame first.
 *              "Late wake" (FOP_MSG a & 0x20, FOP_FRAME a & 8): the Rx
 *              posts of this call do not run wake_senders, as when the
 *              progress thread takes the device lock first.
 *   FOP_TICK   a: (a & 0x3f) ms pass (x 100 if a & 0x40: the engine's time
 *              stamps move back), then the timers run and owed acks go;
 *              a & 0x80 arms the endpoint first (clcp_endpt_arm).
 *   FOP_CHAN   a: channel a % 3 released and allocated again.
 *   FOP_SEND   a, b: send a frame of b bytes on channel a % 3 (nonblocking;
 *              only once its peer was seen); a & 4: CLCP_MORE.
 *   FOP_WAIT   a (FOP_DGRAM2 with offers): a polling receive begins to
 *              wait on channel (a & 3) % 3 with a buffer of fuzz_rooms[(a >>
 *              3) & 3] bytes, none if a & 4 (from any channel); the wait
 *              ends (a & 0x80, or any operation of the user's) and takes
 *              the offer that took its buffer meanwhile, once it need not
 *              wait for it (until then the user's operations are skipped).
 *
 * Channels: 0 is port 10 to node 1 port 100, 1 is port 11 to node 1 port
 * 101, 2 is port 12 to node 2 port 100. Node 0 is the device itself; node 3
 * is in the table with an IPv6 address.
 */
#ifndef CLCP_FUZZ_UDP_H
#define CLCP_FUZZ_UDP_H

#define FUZZ_KEY 0x5eed1234u
#define FUZZ_NCHAN 3
#define FUZZ_INC 0x1ec0ffee5eed0001ull /* the peers' incarnation of a fresh channel */
#define FUZZ_CFG_OFFERS 0x10u

enum {
	FOP_DGRAM,
	FOP_DGRAM2,
	FOP_CHAN,
	FOP_RAW,
	FOP_MSG,
	FOP_FRAME,
	FOP_TICK,
	FOP_SEND,
	FOP_COUNT,
	FOP_WAIT = FOP_DGRAM2 /* with FUZZ_CFG_OFFERS */
};

/* Source address of a datagram. */
enum {
	FSRC_HDR, /* the table's address of the header's src_node (correct) */
	FSRC_NODE1,
	FSRC_NODE2,
	FSRC_SELF,   /* node 0: the device's own address */
	FSRC_PORT,   /* node 1's IP, a port outside the table */
	FSRC_IP,     /* 127.0.0.2, node 1's port */
	FSRC_NODE3,  /* [::1]: node 3's address */
	FSRC_UNSPEC, /* no address family */
};

/* Header repairs of FOP_DGRAM. */
#define FIX_VK 0x01u   /* version and job key */
#define FIX_LEN 0x02u  /* len = the payload's length */
#define FIX_ADDR 0x04u /* ports and src_node of the channel */
#define FIX_SEQ 0x08u  /* seq = next expected + (int8_t)low byte of seq */
#define FIX_ACK 0x10u  /* ack = oldest unacked + low 7 bits of ack */
#define FIX_DATA 0x20u /* DATA flag set iff there is payload */
#define FIX_INC 0x40u  /* a control frame: len 16, the channel's peer incarnation (else FUZZ_INC) and
			* the channel's own (no channel: 0), then, when the payload has room, an
			* answer's 8 bytes (len 24; not with RST or HELLO), then the SACK bitmap if
			* flagged; FIX_LEN and FIX_DATA do not apply. The operation takes as many
			* bytes of input as that payload has, whatever its u16 says */

#define FUZZ_PAYLOAD_MAX 2048u /* of FOP_DGRAM; FOP_RAW up to 4096 bytes in all */
#define FUZZ_RAW_MAX 4096u

static const unsigned fuzz_mtus[4] = { 256, 300, 1024, 1440 };
static const unsigned fuzz_caps[4] = { 0, 100, 2048, 65536 };
static const unsigned fuzz_rooms[4] = { 64u << 10, 256u << 10 /* UDP_PULL_MIN */, 640u << 10,
					1u << 20 };

#endif /* CLCP_FUZZ_UDP_H */
