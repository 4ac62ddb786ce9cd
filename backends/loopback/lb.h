/* SPDX-License-Identifier: MIT */
/*
 * Loopback backend: processes on one host exchange frames through shared
 * memory. The sending process plays the NIC: its kick copies each posted
 * Tx frame straight into the receiver's Rx queue. A node segment per node
 * id holds the endpoint table and the port map; each endpoint is a file of
 * its own. Files live in $CLCP_SHM_DIR (default /dev/shm), mode 0600.
 */
#ifndef CLCP_LB_H
#define CLCP_LB_H

#include <limits.h>
#include <pthread.h>

#include "internal.h"

#define LB_NODE_MAGIC 0x4c424e31u
#define LB_NODE_DEAD 0xdead0deau
#define LB_MAX_USERS 1024u
#define LB_NPORTS 65536u
#define LB_MAX_NODES 64u
#define LB_MAX_REMOTES 256u
#define LB_DEFAULT_ENDPTS 16u
#define LB_MAX_ENDPTS 1024u

/* Port map word: generation (32) | endpoint index + 1 (16) | channel (16). */
#define LB_PORT_EP1(w) ((uint32_t)((w) >> 16) & 0xffffu)
#define LB_PORT_CHAN(w) ((uint32_t)(w)&0xffffu)

/*
 * A binding of a port: its word's binding number and the binder's pid
 * (a node segment made anew counts from 1 again), mixed; never 0 (no
 * sender yet) nor LB_STAMP_NONE (an older library's mark, not checked).
 * A receiver's rx_seq names its sender by it.
 */
#define LB_STAMP_NONE 1u
static inline uint32_t port_stamp(uint64_t w, int32_t pid)
{
	uint32_t x = (uint32_t)(w >> 32) * 0x9e3779b1u ^ (uint32_t)pid * 0x85ebca6bu;

	x ^= x >> 15;
	return x > LB_STAMP_NONE ? x : x + 2u;
}

/* A receiver's rx_seq names a sender, and another binding than stamp. */
static inline bool stamp_other(uint32_t heard, uint32_t stamp)
{
	return heard > LB_STAMP_NONE && heard != stamp;
}

enum lb_slot_state { LB_SLOT_FREE = 0, LB_SLOT_RESERVED = 1, LB_SLOT_LIVE = 2 };

struct lb_slot {
	uint32_t state;
	uint32_t gen;
	int32_t pid;
	uint32_t pad;
};

struct lb_node {
	uint32_t magic;
	uint32_t max_endpts;
	uint32_t port_gen;
	uint32_t pad;
	pthread_mutex_t lock; /* robust, process-shared */
	int32_t users[LB_MAX_USERS]; /* pids of processes that opened the node */
	uint64_t ports[LB_NPORTS];
	struct lb_slot slots[];
};

/* Other nodes' segments; a dead one stays mapped while channels point into it. */
struct lb_nodemap {
	uint32_t node;
	bool dead;
	uint32_t refs; /* channels resolved into it */
	struct lb_node *seg;
	size_t size;
};

/* A peer endpoint mapped into this process. */
struct lb_remote {
	uint32_t node, idx, gen;
	int refs;
	int32_t pid;
	unsigned char *base;
	size_t size;
};


/* The receiver's answer to a pull: seq << 3 | this. */
enum lb_pull_status {
	LB_PULL_READY = 1,    /* copying into addr: the sender may help */
	LB_PULL_DONE = 2,     /* copied: the sender's buffer is its own again */
	LB_PULL_DECLINED = 3, /* send frames */
	LB_PULL_REFUSED = 4,  /* send frames, and no more pulls (permissions) */
	LB_PULL_WITHDRAWN = 5, /* the sender's: not taken in time, frames follow */
};
#define LB_PULL_SEQ_MAX 0x1fffffffu
#define LB_PULL_CHUNK (128u * 1024u) /* what each side claims at a time (the receiver's) */
#define LB_PULL_CHUNK_MIN 4096u /* a sender helps only with chunks this large */
#define LB_PULL_SPIN_NS 100000u /* a receiver spins this long for the sender's last chunk */
#define LB_PULL_READY_MIN 65536u /* shorter messages go as frames, even to a waiting receiver */
#define LB_PULL_WITHDRAW_NS 50000u /* an offer to a waiting receiver waits this long at most */
#define LB_PULL_GRACE_NS 2000u /* a sender waits this long for its receiver to start waiting */
/* struct lb_pull_slot's version: bump on any change to it or to the pull protocol. */
#define LB_PULL_LAYOUT 2u

/*
 * A channel's pull, in the receiver's file: the receiver copies chunks from
 * the sender's buffer (process_vm_readv) while the sender copies others into
 * the receiver's (process_vm_writev); each claims the next chunk from next.
 */
struct lb_pull_slot {
	uint32_t answer; /* the receiver's: seq << 3 | enum lb_pull_status */
	uint32_t next;	 /* the next chunk to claim, by either side */
	uint32_t sdone;	 /* chunks the sender has finished */
	uint32_t redo;	 /* 1 + a chunk the sender could not copy; 0: none */
	uint64_t addr;	 /* the receiver's buffer */
	uint32_t chunk;	 /* the receiver's chunk size: both sides cut by it */
	uint32_t layout; /* LB_PULL_LAYOUT, set when the file is made: a sender uses no other */
	uint32_t ready;	 /* the receiver's: it polls for a message this large or less; 0: not */
	uint32_t sleepers; /* either side asleep on answer or sdone: a store there must wake it */
	uint8_t pad[24];
};

struct lb_dev {
	pthread_mutex_t lock; /* remote and node maps: endpoints may run in threads */
	bool no_pull; /* URI pull=off: long messages as frames */
	char dir[PATH_MAX - 64];
	uint32_t uid;
	uint32_t dir_hash; /* tells wake socket names of two directories apart */
	struct lb_node *node; /* our own node */
	size_t node_size;
	struct lb_nodemap others[LB_MAX_NODES];
	struct lb_remote rem[LB_MAX_REMOTES];
	int wake_sock;
	/* Sends that waited for their receiver to start waiting: it did, it did not. */
	uint64_t pull_graced, pull_grace_vain;
};

/*
 * A channel's peer. The first block is what every frame reads, taken from
 * the peer's header once when it is resolved: one hop from here each.
 */
struct lb_chan {
	struct clcp_qentry *rq;	     /* the peer's Rx queue; NULL until resolved */
	struct clcp_endpt_hdr *rh;   /* the peer's endpoint header */
	const uint64_t *port_slot;   /* the peer's port map word, in its node segment */
	const uint32_t *seg_magic;   /* its node segment's magic */
	uint64_t port_word;	     /* *port_slot when resolved */
	uint32_t rmask, rmtu;	     /* the peer's Rx queue length - 1, its mtu */
	uint32_t buf_lo, buf_hi;     /* where the peer's Rx buffers may start */
	uint32_t tx_seq; /* here, not in the shared descriptor: no false sharing */
	uint16_t peer_chan;	     /* the peer's channel index */
	bool marked; /* the peer's descriptor knows we were there (mark_seen) */
	bool seen; /* the peer was bound once: its loss is a reset */
	uint32_t stamp; /* our port's binding (port_stamp): what mark_seen leaves in the peer's rx_seq */
	bool pull_refused; /* the peer cannot copy from us (permissions) */
	struct lb_pull_slot *pull_slot; /* in the peer's file; NULL: it has none */
	const uint32_t *any_ready; /* the peer's ready for receives from any channel; NULL: none */
	uint64_t pull_port; /* port_word when the pull was offered */
	uint64_t pull_withdraw_ns; /* the offer is withdrawn if not taken by then; 0: never */
	struct clcp__backoff withdrawn; /* offers to a waiting receiver not taken in time */
	struct clcp__backoff graced;	/* waits for a receiver to start waiting, in vain */
	struct lb_remote *rem;	     /* NULL until resolved */
	struct lb_node *seg;	     /* the peer's node segment */
	uint64_t unbound_since;
};

/*
 * The endpoint's file: the core's layout (size bytes), then at
 * LB_PULLS_OFF(size) a pull slot per channel, then one whose ready a
 * receive from any channel sets (a file of an older library lacks it).
 */
#define LB_PULLS_OFF(size) (((size_t)(size) + 63u) & ~(size_t)63u)
#define LB_PULL_SLOTS(nchan) ((size_t)(nchan) + 1u)
#define LB_FILE_SIZE(size, nslots) \
	(LB_PULLS_OFF(size) + (size_t)(nslots) * sizeof(struct lb_pull_slot))

struct lb_ep {
	uint32_t idx, gen;
	uint64_t last_check;
	struct lb_chan *chans;
	struct lb_pull_slot *pulls; /* per channel, for our peers' pulls */
	size_t map_size;
};

/* lb_node.c */
size_t lb_node_size(uint32_t max_endpts);
int lb_node_attach(struct clcp_dev *dev, struct lb_dev *lb, uint32_t max_endpts);
void lb_node_detach(struct clcp_dev *dev, struct lb_dev *lb);
struct lb_node *lb_node_peek(struct clcp_dev *dev, struct lb_dev *lb, uint32_t node);
/* A channel resolves into another node's segment seg (+1) or lets go of it (-1). */
void lb_node_ref(struct lb_dev *lb, const struct lb_node *seg, int delta);
void lb_node_lock(struct lb_node *n);
void lb_node_unlock(struct lb_node *n);
bool lb_pid_dead(int32_t pid);
void lb_ep_path(struct lb_dev *lb, char *buf, size_t len, uint32_t node,
		uint32_t idx, int32_t pid, uint32_t gen);
int lb_file_create(const char *path, size_t size, void **map);
void lb_wake_name(struct lb_dev *lb, char *name, size_t len, uint32_t node,
		  uint32_t idx, uint32_t gen);

#endif /* CLCP_LB_H */
