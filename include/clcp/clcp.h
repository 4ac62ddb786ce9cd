/* SPDX-License-Identifier: MIT */
/*
 * CLCP: CROWN Lean Communication Primitives.
 *
 * An application talks to "the NIC" through an endpoint mapped into its
 * address space: Tx and Rx queues of entries with owner flags, and frame
 * buffers. A channel names a peer (node, port). Messages of any length are
 * cut into MTU-sized frames (SAR); the last frame carries the signal flag.
 * Receive by polling (spin) or by interrupt (block until a last frame).
 *
 * Every call that can fail returns a negative errno; clcp_strerror() turns
 * it into text and clcp_errmsg() gives the detail of the last failure of
 * the calling thread. Outputs are written only on success.
 *
 * Threads: an endpoint is used by one thread at a time (the caller locks
 * if it shares one). Different endpoints are independent.
 */
#ifndef CLCP_CLCP_H
#define CLCP_CLCP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "clcp/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CLCP_API __attribute__((visibility("default")))
#else
#define CLCP_API
#endif

#define CLCP_VERSION_MAJOR 0
#define CLCP_VERSION_MINOR 1
#define CLCP_VERSION_PATCH 0

/* Limits and defaults (see docs/api.md). */
#define CLCP_MTU_MIN 256u
#define CLCP_MTU_MAX 65536u
#define CLCP_MTU_DEFAULT 4096u /* backends without a wire limit (loopback) */
#define CLCP_MTU_AUTO 0u       /* attr.mtu: the device's default frame size */
#define CLCP_MSG_MAX (1u << 30) /* largest message: 1 GiB */
#define CLCP_QLEN_DEFAULT 64u
#define CLCP_QLEN_MAX 4096u
#define CLCP_NCHAN_DEFAULT 256u
#define CLCP_NCHAN_MAX 4096u
#define CLCP_PORT_ANY 0u /* clcp_alloc_chan picks a free port */
#define CLCP_ANY (-1)	 /* any channel, for the receive calls */
#define CLCP_SPIN_ADAPTIVE (-1) /* attr.spin_us: the endpoint picks the budget */
#define CLCP_SPIN_MAX_US 1000000 /* attr.spin_us, attr.spin_max_us: at most 1 s */

/* Flags of the send and receive calls. */
#define CLCP_NONBLOCK 0x1 /* -EAGAIN instead of waiting for the first frame */
#define CLCP_MORE 0x2	  /* clcp_send_frame: not the last frame */

typedef struct clcp_dev clcp_dev_t;
typedef struct clcp_endpt clcp_endpt_t;

/*
 * Endpoint settings. Start from clcp_endpt_attr_init() (or clcp_dev_attr_init()
 * for the device's concrete values); attr NULL = defaults.
 */
struct clcp_endpt_attr {
	uint32_t mtu;	       /* frame size, CLCP_MTU_MIN..mtu_max, or CLCP_MTU_AUTO */
	uint32_t txq_len;      /* Tx entries, power of two 2..CLCP_QLEN_MAX (64) */
	uint32_t rxq_len;      /* Rx entries, power of two 2..CLCP_QLEN_MAX (64) */
	uint32_t nchan;	       /* channel slots, 1..CLCP_NCHAN_MAX (256) */
	int32_t timeout_ms;    /* receive wait for a message to begin; -1 forever */
	int32_t peer_check_ms; /* a dead peer is reported within this (100) */
	int32_t connect_ms;    /* wait for an unbound peer port (10000) */
	/*
	 * Interrupt group waits: spin this many us before blocking. 0 blocks at
	 * once (the default); CLCP_SPIN_ADAPTIVE lets the endpoint set the budget
	 * from what it observes, within 0..spin_max_us (docs/api.md, "Adaptive
	 * receive"). The polling group always spins.
	 */
	int32_t spin_us;
	int32_t spin_max_us; /* adaptive: largest budget, 1..CLCP_SPIN_MAX_US (1000) */
};

/* Portable defaults: mtu CLCP_MTU_AUTO, the device decides at allocation. */
CLCP_API void clcp_endpt_attr_init(struct clcp_endpt_attr *attr);

/* A received frame, handed out by clcp_rcv_frame (zero copy). */
struct clcp_frame {
	const void *data;
	uint32_t len;
	uint32_t msg_len; /* length of the message the frame belongs to */
	int32_t chan;
	uint32_t flags; /* CLCP_QF_LAST, CLCP_QF_FIRST */
	uint32_t id;	/* for clcp_release_frames */
};

/* What a backend can do and its limits (clcp_backend_info). */
#define CLCP_CAP_INTERRUPT 0x1 /* endpoint fd wakes on a last frame */
#define CLCP_CAP_MULTINODE 0x2 /* peers on other hosts */
#define CLCP_CAP_KERNEL_BYPASS 0x4
#define CLCP_CAP_SHARED_NODE 0x8 /* several processes may open one node */

struct clcp_backend_desc {
	const char *name;
	const char *uri_help;
	uint32_t caps;
	uint32_t max_endpts; /* per node, default */
	uint32_t mtu_max;
	uint32_t mtu_default; /* what CLCP_MTU_AUTO becomes (a URI may change it) */
};

/* A named counter (clcp_dev_stats, clcp_endpt_stats). */
#define CLCP_STAT_NAME_MAX 32
struct clcp_stat {
	char name[CLCP_STAT_NAME_MAX]; /* e.g. "rexmits", "drop_key" */
	uint64_t value;
};

/* --- init (Table 2) --- */

/*
 * Opens a backend. uri: "loopback", "loopback://NODE?max_endpts=N", ...;
 * NULL takes $CLCP_BACKEND, else "loopback". The node id comes from the
 * URI, else $CLCP_NODE, else 0.
 */
CLCP_API int clcp_open(const char *uri, clcp_dev_t **devp);
/* Allocates an endpoint (attr may be NULL). -EBUSY when all are taken. */
CLCP_API int clcp_alloc_endpt(clcp_dev_t *dev,
			      const struct clcp_endpt_attr *attr,
			      clcp_endpt_t **epp);
/*
 * Allocates a channel from my_port (unique on this node; CLCP_PORT_ANY
 * picks one) to (peer_node, peer_port). Returns the channel number >= 0.
 * -EADDRINUSE when my_port is taken.
 */
CLCP_API int clcp_alloc_chan(clcp_endpt_t *ep, uint16_t my_port,
			     uint32_t peer_node, uint16_t peer_port);

/* --- release (Table 2) --- */
CLCP_API int clcp_close(clcp_dev_t *dev); /* releases what is left open */
CLCP_API int clcp_release_endpt(clcp_endpt_t *ep);
CLCP_API int clcp_release_chan(clcp_endpt_t *ep, int chan);

/* --- interrupt group (Table 2): waits sleep on the endpoint fd --- */

/* Sends one frame (len <= mtu); the last of a message unless CLCP_MORE. */
CLCP_API ssize_t clcp_send_frame(clcp_endpt_t *ep, int chan, const void *buf,
				 size_t len, int flags);
/* Receives one frame without copying; give it back with release_frames. */
CLCP_API int clcp_rcv_frame(clcp_endpt_t *ep, int chan, struct clcp_frame *f,
			    int flags);
/* Sends a message of any length (<= CLCP_MSG_MAX). Returns len. */
CLCP_API ssize_t clcp_snd_message(clcp_endpt_t *ep, int chan, const void *buf,
				  size_t len, int flags);
/*
 * Receives the next message on *chan (or CLCP_ANY; *chan is set to the
 * channel) into buf. -EMSGSIZE when it is larger than cap: the message
 * stays queued; clcp_peek_message tells its length.
 */
CLCP_API ssize_t clcp_rcv_message(clcp_endpt_t *ep, int *chan, void *buf,
				  size_t cap, int flags);
/* Gives frames from clcp_rcv_frame back (receivable again). */
CLCP_API int clcp_release_frames(clcp_endpt_t *ep, const struct clcp_frame *f,
				 unsigned n);

/*
 * --- polling group (Table 2): waits spin, never enter the kernel ---
 * clcp_poll_tx_msg(ep, chan, buf, len, flags) and
 * clcp_poll_rx_msg(ep, &chan, buf, cap, flags) behave as clcp_snd_message
 * and clcp_rcv_message but spin instead of sleeping; they are inline in
 * clcp/endpt.h (one-frame messages never leave the inline code).
 */

/* --- beyond Table 2 --- */

/* Length of the next message on *chan (CLCP_ANY allowed); waits per flags. */
CLCP_API ssize_t clcp_peek_message(clcp_endpt_t *ep, int *chan, int flags);
/*
 * The endpoint's file descriptor for select/poll/epoll. It becomes readable
 * when a last frame arrives while the endpoint is armed (and when a sender
 * waits for Rx space, so long messages drain). Do not read or close it.
 */
CLCP_API int clcp_endpt_fd(clcp_endpt_t *ep);
/*
 * Arms the endpoint for one wake-up. Returns 1 when a last frame (or a
 * blocked sender) is already waiting: the fd is then readable at once, so
 * no wake-up is lost; 0 when armed.
 */
CLCP_API int clcp_endpt_arm(clcp_endpt_t *ep);
/* The local port of a channel (the one CLCP_PORT_ANY picked), or -errno. */
CLCP_API int clcp_chan_port(clcp_endpt_t *ep, int chan);
/*
 * Changes how the interrupt group waits (attr.spin_us, attr.spin_max_us) on
 * an open endpoint; an adaptive budget starts afresh.
 */
CLCP_API int clcp_endpt_set_spin(clcp_endpt_t *ep, int32_t spin_us, int32_t spin_max_us);
CLCP_API int clcp_endpt_attr_get(clcp_endpt_t *ep,
				 struct clcp_endpt_attr *attr);
/* The defaults of an endpoint of dev, with the device's mtu filled in. */
CLCP_API int clcp_dev_attr_init(clcp_dev_t *dev, struct clcp_endpt_attr *attr);
/*
 * Counters of the device (the backend's: frames, acks, retransmissions,
 * drops by reason...) or of one endpoint (frames, wake-ups, drops). Fills
 * at most n entries and returns how many there are (n = 0 sizes the array),
 * or -errno. Names are stable; docs/api.md lists them per backend.
 */
CLCP_API int clcp_dev_stats(clcp_dev_t *dev, struct clcp_stat *stats, unsigned n);
CLCP_API int clcp_endpt_stats(clcp_endpt_t *ep, struct clcp_stat *stats, unsigned n);
CLCP_API uint32_t clcp_dev_node(clcp_dev_t *dev);
CLCP_API const char *clcp_dev_backend(clcp_dev_t *dev);

CLCP_API const char *clcp_strerror(int err);
/* Detail of the calling thread's last failure ("" if none). */
CLCP_API const char *clcp_errmsg(void);

/* Backends compiled in: index 0.. ; -ENOENT past the last. */
CLCP_API int clcp_backend_info(unsigned idx, struct clcp_backend_desc *info);

#ifdef __cplusplus
}
#endif

#include "clcp/endpt.h"

#endif /* CLCP_CLCP_H */
