/* SPDX-License-Identifier: MIT */
/*
 * CLCP endpoint ABI: the memory contract between the user library, the
 * backends ("the NIC"), the LANai firmware and the kernel driver.
 *
 * Rules: fixed-width fields only; every reference is an offset from the
 * endpoint base, never a pointer; multi-byte fields of the endpoint are in
 * the host's byte order (the firmware swaps), fields of the frame header
 * are in network byte order on every wire. No libc: the firmware and the
 * kernel include this file. Bump CLCP_ABI_VERSION on any change here.
 */
#ifndef CLCP_ABI_H
#define CLCP_ABI_H

#if defined(__KERNEL__)
#include <linux/types.h>
typedef u8 clcp_u8;
typedef u16 clcp_u16;
typedef u32 clcp_u32;
typedef u64 clcp_u64;
typedef s16 clcp_s16;
#else
#include <stdint.h> /* freestanding header: no libc needed */
typedef uint8_t clcp_u8;
typedef uint16_t clcp_u16;
typedef uint32_t clcp_u32;
typedef uint64_t clcp_u64;
typedef int16_t clcp_s16;
#endif

#define CLCP_ABI_VERSION 1u
#define CLCP_ENDPT_MAGIC 0x434c4350u /* "CLCP" */

/* Owner flag of a queue entry: whose turn it is to read the entry. */
enum clcp_owner {
	CLCP_OWNER_FREE = 0, /* nobody's: Tx entry reusable, Rx slot wants a buffer */
	CLCP_OWNER_USER = 1, /* user may read it (a received frame) */
	CLCP_OWNER_NIC = 2,  /* NIC may read it (a frame to send, a buffer to fill) */
};

/* Queue entry flags. */
#define CLCP_QF_LAST 0x01u  /* signal flag: last frame of a message */
#define CLCP_QF_FIRST 0x02u /* first frame of a message: msg_len is valid */

#define CLCP_QF_INLINE 0x04u /* payload (<= CLCP_QE_INLINE_MAX) is in data[] */
/*
 * The frame offers a message for the receiver to copy from the sender's
 * memory (single copy; loopback): the payload is the backend's descriptor,
 * msg_len the message's length. Never handed to the user as a frame.
 */
#define CLCP_QF_PULL 0x08u
#define CLCP_QE_INLINE_MAX 32u
#define CLCP_MSG_LEN_UNKNOWN 0xffffffffu /* msg_len of frames from clcp_send_frame */

/*
 * One Tx or Rx queue entry: one cache line. The side that hands an entry
 * over writes every other field first and the owner byte last, with release
 * ordering (or a write barrier before it, or one DMA whose last byte it
 * is); the side that takes it reads owner first, with acquire ordering.
 * A NIC may put a small payload in data[] (CLCP_QF_INLINE) instead of the
 * buffer, so the receiver finds frame and payload in one line.
 */
struct clcp_qentry {
	clcp_u32 buf_off; /* frame buffer, offset from the endpoint base */
	clcp_u32 len;	  /* payload bytes in the frame, <= mtu */
	clcp_u32 msg_len; /* whole message length (every frame carries it) */
	clcp_u32 seq;	  /* frame sequence number within its channel */
	clcp_u16 chan;	  /* channel index within the endpoint */
	clcp_s16 status;  /* 0, or a negative errno set by the NIC */
	clcp_u8 flags;	  /* CLCP_QF_* (signal flag = CLCP_QF_LAST) */
	clcp_u8 rsvd[3];
	clcp_u8 data[CLCP_QE_INLINE_MAX];
	clcp_u8 rsvd2[7];
	clcp_u8 owner; /* enum clcp_owner; always written last */
};

/* Channel states in the endpoint's channel table. */
enum clcp_chan_state {
	CLCP_CHAN_FREE = 0,
	CLCP_CHAN_ACTIVE = 1,
	CLCP_CHAN_CLOSED = 2, /* released by its owner; peers see a reset */
};

/* One channel: (my port) <-> (peer node, peer port). The NIC reads it. */
struct clcp_chan_desc {
	clcp_u32 peer_node;
	clcp_u16 peer_port;
	clcp_u16 my_port;
	clcp_u32 state;	   /* enum clcp_chan_state */
	clcp_u32 tx_seq;   /* NIC: next sequence number to send (if it keeps it here) */
	clcp_u32 rx_seq;   /* NIC: next sequence number expected; loopback: the first sender's stamp (0: none) */
	clcp_u32 gen;	   /* bumped at every allocation of this slot */
	clcp_u32 rsvd[2];
};

#define CLCP_CACHELINE 64u

/*
 * Endpoint header, at offset 0 of the endpoint region. The region then
 * holds the channel table, the Tx queue, the Rx queue, the Tx buffers and
 * the Rx buffers, each at the offset named here and aligned to 64 bytes.
 * Words written by the NIC side sit on their own cache lines.
 */
/* armed: the library's own blocking waits sleep on the word itself. */
#define CLCP_ARMED_FD 1u
#define CLCP_ARMED_FUTEX 2u

struct clcp_endpt_hdr {
	/* line 0: set once at creation, read-only afterwards */
	clcp_u32 magic;
	clcp_u16 abi_version;
	clcp_u16 hdr_size;
	clcp_u32 size; /* whole region in bytes */
	clcp_u32 mtu;  /* frame buffer size */
	clcp_u32 node; /* node id of the endpoint */
	clcp_u32 index; /* endpoint number on its node */
	clcp_u32 chan_off, nchan;
	clcp_u32 txq_off, txq_len; /* entries; power of two */
	clcp_u32 rxq_off, rxq_len; /* entries; power of two */
	clcp_u32 txbuf_off, ntxbuf;
	clcp_u32 rxbuf_off, nrxbuf;
	/* line 1: rarely written, read on every last frame */
	clcp_u32 armed;	     /* user: wake me on the next last frame: 1 by the fd,
			      * CLCP_ARMED_FUTEX by FUTEX_WAKE on this word */
	clcp_u32 closed;     /* user: 1 = the owner has released the endpoint */
	clcp_u32 owner_pid;  /* user: process that owns the endpoint */
	clcp_u32 rx_waiters; /* NIC: senders sleeping until Rx buffers are posted */
	clcp_u32 tx_blocked; /* NIC: a sender waits for Rx space: drain the queue */
	clcp_u32 pad1[11];
	/* line 2: written by the user */
	clcp_u32 rx_posted;  /* bumped when Rx buffers are posted to waiters */
	clcp_u32 doorbell;   /* bumped when Tx entries are posted */
	clcp_u32 pad2[14];
	/* line 3: written by the peers' NICs (frames into this endpoint) */
	clcp_u32 rx_head;    /* next Rx slot the NIC fills (may be shared) */
	clcp_u32 pad3;
	clcp_u64 rx_frames;
	clcp_u64 wakeups;  /* interrupts raised */
	clcp_u64 rx_drops; /* frames dropped (bad port, length, CRC) */
	clcp_u64 pad3b[4];
	/* line 4: written by this endpoint's NIC (frames out of it) */
	clcp_u32 tx_head;    /* next Tx slot the NIC sends */
	clcp_u32 pad4;
	clcp_u64 tx_frames;
	clcp_u64 pad4b[6];
};

/*
 * Frame header: what travels before a frame's payload on a real wire
 * (UDP datagram, Myrinet packet after the route bytes). 32 bytes, all
 * multi-byte fields big-endian (network order).
 */
#define CLCP_FRAME_VERSION 1u
#define CLCP_FF_LAST 0x01u  /* last frame of a message: may raise an interrupt */
#define CLCP_FF_FIRST 0x02u /* first frame: msg_len valid */
#define CLCP_FF_ACK 0x04u   /* carries an acknowledgement */
#define CLCP_FF_DATA 0x08u  /* carries payload */

struct clcp_frame_hdr {
	clcp_u8 version;
	clcp_u8 flags; /* CLCP_FF_* */
	clcp_u16 dst_port;
	clcp_u16 src_port;
	clcp_u16 rsvd; /* 0; udp data frames: the credit (docs/udp.md) */
	clcp_u32 src_node;
	clcp_u32 len;	  /* payload bytes of this frame */
	clcp_u32 msg_len; /* whole message length */
	clcp_u32 seq;	  /* channel sequence number of this frame */
	clcp_u32 ack;	  /* cumulative acknowledgement */
	clcp_u32 key;	  /* job key */
};

#ifdef __cplusplus
#define CLCP_ABI_ASSERT(c, m) static_assert(c, m)
#else
#define CLCP_ABI_ASSERT(c, m) _Static_assert(c, m)
#endif
#define CLCP_OFFSETOF(t, f) __builtin_offsetof(t, f)

CLCP_ABI_ASSERT(sizeof(struct clcp_qentry) == CLCP_CACHELINE, "qentry size");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct clcp_qentry, data) == 24, "data");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct clcp_qentry, buf_off) == 0, "buf_off");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct clcp_qentry, len) == 4, "len");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct clcp_qentry, msg_len) == 8, "msg_len");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct clcp_qentry, seq) == 12, "seq");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct clcp_qentry, chan) == 16, "chan");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct clcp_qentry, status) == 18, "status");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct clcp_qentry, flags) == 20, "flags");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct clcp_qentry, owner) == CLCP_CACHELINE - 1,
		"owner must be the last byte");
CLCP_ABI_ASSERT(sizeof(struct clcp_chan_desc) == 32, "chan_desc size");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct clcp_chan_desc, state) == 8, "state");
CLCP_ABI_ASSERT(sizeof(struct clcp_endpt_hdr) == 5 * CLCP_CACHELINE,
		"endpt_hdr size");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct clcp_endpt_hdr, armed) == CLCP_CACHELINE,
		"shared line");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct clcp_endpt_hdr, rx_posted) ==
			2 * CLCP_CACHELINE,
		"user line");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct clcp_endpt_hdr, rx_head) ==
			3 * CLCP_CACHELINE,
		"peers' NIC line");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct clcp_endpt_hdr, tx_head) ==
			4 * CLCP_CACHELINE,
		"own NIC line");
CLCP_ABI_ASSERT(sizeof(struct clcp_frame_hdr) == 32, "frame_hdr size");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct clcp_frame_hdr, dst_port) == 2, "dst_port");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct clcp_frame_hdr, src_node) == 8, "src_node");
CLCP_ABI_ASSERT(CLCP_OFFSETOF(struct clcp_frame_hdr, key) == 28, "key");

#endif /* CLCP_ABI_H */
