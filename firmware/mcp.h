/* SPDX-License-Identifier: MIT */
/*
 * The control program's own state (private to the firmware; the driver
 * sees only struct mcp_shared) and its entry points. On the LANai there
 * is one struct mcp in .bss; the simulator runs one per simulated NIC.
 */
#ifndef CLCP_FW_MCP_H
#define CLCP_FW_MCP_H

#include "hal.h"

struct mcp_chan {
	clcp_u32 peer_node;
	clcp_u16 peer_port;
	clcp_u16 my_port;
	clcp_u32 tx_seq;
	clcp_u32 rx_seq;
	clcp_u8 active;
	clcp_u8 credit;	  /* MCP_CHANF_CREDIT */
	clcp_u8 seen;	  /* heard from the peer's end */
	clcp_u8 asking;	  /* an ask is out since ask_us */
	clcp_u8 want;	  /* receiver: the peer waits for credits */
	clcp_u16 credits; /* sender: frames we may send */
	clcp_u16 granted; /* receiver: promised to the peer, not yet arrived */
	clcp_u32 ask_us;  /* sender: when the last ask went */
	clcp_u32 ask0_us; /* sender: when the asks now unanswered began */
	clcp_u32 used_us; /* sender: when a credit last came or went */
	clcp_u32 act;	  /* this activation's number: our hellos carry it */
	clcp_u32 peer_act; /* the peer channel's, from its first hello (0: none yet) */
	/* Failed here (another activation hailed us on the peer's port, or our host died):
	 * the peer's hellos and asks are refused, and no reset goes at close. */
	clcp_u8 refusing;
};

struct mcp_endpt {
	clcp_u8 enabled;
	clcp_u64 host; /* bus address of the endpoint region */
	clcp_u32 size, mtu, nchan;
	clcp_u32 txq_off, txq_mask, rxq_off, rxq_mask;
	clcp_u32 tx_head, rx_head;
	clcp_u32 tx_frames[2], rx_frames[2]; /* low, high word: the header's u64 counters */
	clcp_u32 doorbell_seen;
	clcp_u32 ask_seen; /* doorbell value at which chan_ask[] was last scanned */
	clcp_u32 promised; /* posted Rx slots promised to peers (credits out) */
	clcp_u32 wants;	   /* channels whose peer waits for credits */
	clcp_u32 nactive;  /* channels active */
	clcp_u32 waiters;  /* rx_waiters is set in the endpoint header */
	struct mcp_chan chans[MCP_MAX_CHANS];
};

/* Port map slot: open addressing, linear probing, tombstones. */
enum { MCP_SLOT_EMPTY = 0, MCP_SLOT_USED = 1, MCP_SLOT_DEAD = 2 };

struct mcp_port_slot {
	clcp_u16 port;
	clcp_u8 state;
	clcp_u8 ep;
	clcp_u16 chan;
};

struct mcp {
	struct hal *hw;
	struct mcp_shared *sh;
	clcp_u32 node;
	clcp_u32 next_ep;   /* round robin over the Tx queues */
	clcp_u32 next_idle; /* round robin of the idle-credit check */
	clcp_u8 rx_pending; /* a packet waits in the Rx buffer for a slot */
	clcp_u8 rx_armed;   /* the receive DMA is started */
	clcp_u32 rx_len;
	clcp_u32 stall_since;  /* when the pending packet began to wait */
	clcp_u32 stall_max_us; /* then it is dropped (a full Rx queue) */
	clcp_u32 acts; /* channel activations: from the clock at boot, so a NIC booted anew differs */
	clcp_u32 beat_seen, beat_us; /* the host's last beat, and when it was seen to change */
	clcp_u32 dead_ms;	     /* host_dead_ms as last seen */
	clcp_u8 host_gone;	     /* the host missed its beats for host_dead_ms */
	struct mcp_route routes[MCP_MAX_NODES];
	struct mcp_endpt ep[MCP_MAX_ENDPTS];
	struct mcp_port_slot portmap[MCP_PORTMAP_SLOTS];
};

/* Resets the state and the shared block, then publishes magic last. */
void mcp_init(struct mcp *m, struct hal *hw);
/* One turn of the main loop: a command, a packet, each endpoint's Tx. Returns 1 if it did work. */
int mcp_poll(struct mcp *m);
/* The main loop, forever. */
void mcp_run(struct mcp *m) __attribute__((noreturn));

/* Port map (exposed for the unit tests). */
int mcp_port_bind(struct mcp *m, clcp_u16 port, clcp_u32 ep, clcp_u32 chan);
const struct mcp_port_slot *mcp_port_find(const struct mcp *m, clcp_u16 port);
void mcp_port_unbind(struct mcp *m, clcp_u16 port);

#endif /* CLCP_FW_MCP_H */
