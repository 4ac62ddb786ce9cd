/* SPDX-License-Identifier: MIT */
/* Library internals: the backend ops table, the device, endpoint state. */
#ifndef CLCP_INTERNAL_H
#define CLCP_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include "clcp/clcp.h"
#include "thread.h"

#define CLCP__ARGS_MAX 256
#define CLCP__NAME_MAX 32

/*
 * Room a backend wants around an endpoint's frame buffers (layout in
 * endpt.c): a NIC that writes a packet's headers before the payload and
 * its trailer after it (udp's AF_XDP mode) lands the payload at a buffer's
 * start. All 0: buffers of the mtu rounded up to 64, back to back.
 */
struct clcp__buf_room {
	uint32_t headroom; /* bytes before each buffer, a multiple of 64 */
	uint32_t span;	   /* bytes from a buffer's start the NIC may write (at least mtu) */
	uint32_t nic_bufs; /* Rx buffers beyond 2 x rxq_len, the NIC's own from the start */
};

/* A long message offered for the receiver to copy: a CLCP_QF_PULL frame's payload. */
struct clcp__pull {
	uint64_t addr; /* the message, in the sender's address space */
	uint64_t len;
	uint32_t seq; /* the sending backend's: tells the answer to this offer apart */
	uint32_t frame_seq; /* the receiving core's: the offer frame's own (its Rx entry's seq) */
};

/*
 * A backend plays the NIC. Every slot is filled (no NULLs): unsupported
 * operations point at a stub returning -ENOSYS. The core owns the endpoint
 * layout, the queues' user side, SAR and the receive/send state machines.
 */
struct clcp_backend_ops {
	uint32_t size; /* sizeof(struct clcp_backend_ops) */
	const char *name;
	const char *uri_help;
	uint32_t caps; /* CLCP_CAP_* */
	uint32_t max_endpts;
	uint32_t mtu_max;
	uint32_t mtu_default; /* CLCP_MTU_AUTO; open() may change dev->mtu_default */
	/* args: what follows "name:" or "name://" in the URI ("" if none) */
	int (*open)(struct clcp_dev *dev, const char *args);
	void (*close)(struct clcp_dev *dev);
	/* The room for an endpoint of attributes a (clcp__no_room: none); before endpt_alloc. */
	void (*buf_room)(struct clcp_dev *dev, const struct clcp_endpt_attr *a,
			 struct clcp__buf_room *r);
	/* Provide zeroed memory of `size` bytes at ep->base (and ep->priv->fd). */
	int (*endpt_alloc)(struct clcp_endpt *ep, uint32_t size);
	/* Called once the core has written the header and queues. */
	int (*endpt_start)(struct clcp_endpt *ep);
	void (*endpt_release)(struct clcp_endpt *ep);
	/* The channel's desc is filled; bind its port (-EADDRINUSE). */
	int (*chan_alloc)(struct clcp_endpt *ep, int chan);
	void (*chan_release)(struct clcp_endpt *ep, int chan);
	/* Send posted Tx entries: 0 all sent, -EAGAIN some wait, or error. */
	int (*kick)(struct clcp_endpt *ep);
	/* 1 if chan's peer can take a frame now, 0 if not, or an error. */
	int (*tx_ready)(struct clcp_endpt *ep, int chan);
	/* Send one frame from user memory if nothing is queued: 0, -EAGAIN. */
	int (*tx_direct)(struct clcp_endpt *ep, int chan, const void *buf,
			 uint32_t len, uint32_t msg_len, uint8_t flags);
	/* Sleep (or spin) until chan's peer may take a frame, at most ms. */
	int (*tx_wait)(struct clcp_endpt *ep, int chan, int ms, bool spin);
	/* Peer of chan alive? 0, -ECONNRESET (gone), -ENOTCONN (not yet); -ENODEV: our device is gone. */
	int (*chan_check)(struct clcp_endpt *ep, int chan);
	/* Make the endpoint fd readable now / consume pending wake-ups. */
	void (*fd_signal)(struct clcp_endpt *ep);
	void (*fd_drain)(struct clcp_endpt *ep);
	/* Receiver posted Rx buffers while senders sleep for them. */
	void (*wake_senders)(struct clcp_endpt *ep);
	/* Background work while a caller polls (retransmits...); may be a no-op. */
	void (*progress)(struct clcp_endpt *ep);
	/*
	 * Optional: a blocking receive sleeps here, armed CLCP_ARMED_FD, up to
	 * ms: on the endpoint fd and on what brings the backend its frames,
	 * whose work it then does itself (no hop through a thread). Else the
	 * core sleeps on the armed word or the fd.
	 */
	void (*rx_block)(struct clcp_endpt *ep, int ms);
	/*
	 * The waker (the NIC side) runs on this host in user space: the core's
	 * own blocking waits may sleep on the armed word (CLCP_ARMED_FUTEX);
	 * whoever takes it calls clcp__irq_futex. Else they poll the fd.
	 */
	bool futex_wake;
	/*
	 * Single copy of a long message (docs/api.md, "Long messages"):
	 * pull_offer fills d for a message the peer of chan may copy straight
	 * from buf: 0, or -ENOSYS (send frames); nonblock: a CLCP_NONBLOCK
	 * send, which does not wait for the receiver to start waiting. The
	 * core sends d as one frame flagged CLCP_QF_PULL, then pull_wait waits
	 * for the peer's answer (spinning spin_ns first, then sleeping; it
	 * checks that the peer lives every peer_check_ms): 0 copied, 1
	 * declined (send frames), or an error (-ECONNRESET, the channel
	 * failed). On the receiving side pull_take copies the offered message
	 * into buf, or declines it when buf is NULL: 0, 1 declined (its frames
	 * follow), or an error; nonblock (a CLCP_NONBLOCK receive): it may
	 * decline rather than wait for the message to cross a network.
	 * pull_ready tells the backend that a receive waits for a
	 * message on chan (CLCP_ANY: on any of several channels) with a
	 * buffer of cap bytes (0: no longer): a sender may then offer shorter
	 * messages too (the backend bounds its wait).
	 * With buf (a receive on chan alone) the backend may have the next
	 * message on chan, if offered, written into buf at once; a
	 * pull_ready(0) that returns 1 says that one came (it is in the Rx
	 * queue): the receive must take it (pull_take with buf), though its
	 * time ran out.
	 * CLCP__NO_PULL: a backend without.
	 */
	int (*pull_offer)(struct clcp_endpt *ep, int chan, const void *buf, size_t len,
			  bool nonblock, struct clcp__pull *d);
	int (*pull_wait)(struct clcp_endpt *ep, int chan, const struct clcp__pull *d,
			 uint64_t spin_ns);
	int (*pull_take)(struct clcp_endpt *ep, int chan, const struct clcp__pull *d,
			 void *buf, size_t len, bool spin, bool nonblock);
	int (*pull_ready)(struct clcp_endpt *ep, int chan, void *buf, size_t cap);
	/* The device's counters: clcp__stat_put each, return the count. */
	int (*stats)(struct clcp_dev *dev, struct clcp_stat *st, unsigned n);
};

/* A receive tells pull_ready only with a buffer this large. */
#define CLCP__PULL_READY_MIN 65536u

extern const struct clcp_backend_ops *const clcp__backends[];

struct clcp_dev {
	const struct clcp_backend_ops *ops;
	uint32_t node;
	uint32_t max_endpts;
	uint32_t mtu_default;
	void *bpriv; /* the backend's */
	struct clcp_endpt *endpts; /* max_endpts slots (stay valid until close) */
	char args[CLCP__ARGS_MAX];
};

/* A parked received frame, indexed by its Rx buffer number. */
struct clcp__held {
	uint32_t len;
	uint32_t msg_len;
	uint32_t seq; /* the frame's sequence number within its channel */
	int32_t next; /* next held frame of the same channel, or -1 */
	uint16_t chan;
	uint8_t flags;
	uint8_t lent; /* handed out by clcp_rcv_frame */
};

struct clcp__chanq {
	int32_t head, tail; /* held frames, in arrival order; -1 if none */
	bool cut; /* a message receive failed halfway: the rest of that message is dropped */
};

/* Spin-then-block state of the interrupt group's waits (spin.c). */
struct clcp__spin {
	uint64_t budget_ns; /* spin this long before blocking; 0: block at once */
	uint64_t max_ns;    /* adaptive: largest budget */
	uint64_t gap_ns;    /* adaptive: average wait that spinning caught */
	uint64_t hits, misses, pressured;
	uint64_t delay_ns;  /* the thread's run-queue wait seen last (schedstat) */
	uint64_t delay_seen; /* when it was read (ns) */
	int sched_fd1;	    /* the reading thread's schedstat fd + 1; 0: none */
	pthread_t sched_thread; /* the thread sched_fd1 is of */
	pid_t sched_pid;	/* and its process */
	/* Run-queue pressure since the last look (clcp__spin_pressure; tests stub it). */
	bool (*pressure_probe)(struct clcp__spin *s, uint64_t now);
	uint32_t calm;	    /* waits left with the budget held low */
	bool adaptive;
	bool jumped; /* the clock jumped while spinning: preempted */
	bool blocked; /* this wait has blocked */
	bool carried; /* this wait began spinning on the fast path */
	bool hit_owed; /* the fast path caught a frame after hit_ns: not told yet */
	uint64_t hit_ns;
	uint64_t wait_t0; /* when this wait began to idle (0: not yet) */
};

struct clcp__endpt_priv {
	struct clcp_dev *dev;
	struct clcp_endpt_attr attr;
	uint32_t size;
	int fd;
	void *bpriv; /* the backend's */
	uint32_t *free_bufs; /* Rx buffer offsets not posted nor held */
	uint32_t nfree;
	struct clcp__held *held; /* by Rx buffer, then by spill slot (rx.c, spill_one) */
	unsigned char *spill;	  /* nrxbuf frames of mtu bytes, made at the first need */
	uint32_t *spill_free;	  /* free spill slots, as held indexes */
	uint32_t nspill_free;
	struct clcp__chanq *chq;
	uint64_t *parked; /* bit c: chq[c] holds frames (CLCP_ANY looks at those alone; rx.c) */
	uint32_t rr; /* round robin start for CLCP_ANY */
	uint32_t stride; /* bytes between frame buffers */
	struct clcp__buf_room room; /* the backend's, around each buffer */
	uint64_t next_check; /* next peer liveness check (ms), while waiting */
	uint8_t *tx_midmsg; /* per channel: send_frame is inside a message */
	struct clcp__spin spin;
	uint64_t tx_spins, tx_sleeps; /* interrupt group: waits for Rx space that spun, slept */
	uint64_t rx_spills; /* parked frames moved to the spill for a begun message (rx.c) */
	uint64_t tx_pulled, tx_declined, rx_pulled; /* long messages offered to be copied */
	bool ready_told; /* a receive told pull_ready it waits on ready_chan (or CLCP_ANY) */
	int ready_chan;
};

/*
 * Tries that can be in vain (offers, graces of a pull): after one in vain,
 * the next 2^n do not try (n: tries in vain since one paid, at most 6).
 */
struct clcp__backoff {
	uint32_t skip;
	uint8_t strikes;
};

/* True if this one should not try (a try was in vain lately); counts it. */
static inline bool clcp__backoff_skips(struct clcp__backoff *b)
{
	if (!b->skip)
		return false;
	b->skip--;
	return true;
}

static inline void clcp__backoff_vain(struct clcp__backoff *b)
{
	b->strikes += b->strikes < 6;
	b->skip = 1u << b->strikes;
}

static inline void clcp__backoff_paid(struct clcp__backoff *b)
{
	b->strikes = 0;
}

/* Error reporting: set the thread's detail text, return -err. */
int clcp__err(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Endpoint helpers shared by rx.c and tx.c. */
int clcp__endpt_check(struct clcp_endpt *ep);
int clcp__chan_check(struct clcp_endpt *ep, int chan);
/* Chan is inside a message begun by clcp_send_frame(CLCP_MORE) (ep->tx_open counts them). */
void clcp__tx_open(struct clcp_endpt *ep, int chan, bool open);
uint64_t clcp__now_ms(void);
uint64_t clcp__now_ns(void);
void clcp__spin_init(struct clcp__spin *s, const struct clcp_endpt_attr *a);
void clcp__spin_fini(struct clcp__spin *s);
bool clcp__spin_pressure(struct clcp__spin *s, uint64_t now);
/* A receive call begins to wait (unless the fast path began it: carry). */
void clcp__spin_begin(struct clcp__spin *s);
void clcp__spin_settle(struct clcp__spin *s);
void clcp__spin_carry(struct clcp__spin *s, uint64_t t0);
/* Spins from t0 for ns or until a frame arrives (true); *seen: when it stopped. Both groups. */
bool clcp__spin_for(struct clcp_endpt *ep, uint64_t ns, uint64_t t0, uint64_t *seen);
/* A wait of waited_ns ended: caught by spinning (hit), or after blocking. */
void clcp__spin_done(struct clcp__spin *s, uint64_t waited_ns, bool hit);
uint64_t clcp__deadline(int32_t timeout_ms);
bool clcp__rx_has_last(struct clcp_endpt *ep);
/* Wait on the endpoint fd (interrupt group) or spin, up to ms. */
int clcp__rx_wait(struct clcp_endpt *ep, int ms, bool spin);
void clcp__rx_refill(struct clcp_endpt *ep);
void clcp__rx_drop_chan(struct clcp_endpt *ep, int chan);

/*
 * The NIC's Tx loop, for backends: sends the posted entries in order with
 * send(ep, entry, arg) (0, -EAGAIN: stop here, or an error that fails the
 * entry's channel) and hands each back (owner FREE, status set). Returns 0
 * when the queue is empty, -EAGAIN when its head must wait.
 */
typedef int (*clcp__send_fn)(struct clcp_endpt *ep, const struct clcp_qentry *e, void *arg);
int clcp__txq_drain(struct clcp_endpt *ep, clcp__send_fn send, void *arg);

uint32_t clcp__irq_claim(struct clcp_endpt_hdr *h);

/*
 * After F4: takes the armed flag and counts the wake-up. Returns how the
 * user waits (CLCP_ARMED_FD, CLCP_ARMED_FUTEX), 0 if it does not.
 */
static inline uint32_t clcp__irq_take(struct clcp_endpt_hdr *h)
{
	return clcp_load_seqcst(&h->armed) ? clcp__irq_claim(h) : 0;
}

/*
 * The NIC side of a frame's arrival, for backends: the payload into the
 * claimed Rx slot s of the endpoint at base (inside the entry when small),
 * the fields, then the owner byte. With `fence` (a last frame, or the user
 * must be told to drain) the publish is an atomic exchange, R3+F4 in one,
 * and the result says whether to raise the endpoint's interrupt. Inline:
 * it is most of a send on a backend without a NIC (loopback).
 */
struct clcp__rx_frame {
	const void *data;
	uint32_t len, msg_len, seq;
	uint16_t chan;
	uint8_t flags; /* CLCP_QF_LAST, CLCP_QF_FIRST */
};

static inline uint32_t clcp__rx_fill(unsigned char *base, struct clcp_endpt_hdr *h,
				     struct clcp_qentry *s, const struct clcp__rx_frame *f,
				     bool fence)
{
	uint8_t flags = f->flags;
	unsigned char *dst;

	if (f->len <= CLCP_QE_INLINE_MAX)
		flags |= CLCP_QF_INLINE;
	dst = (flags & CLCP_QF_INLINE) ? s->data : base + s->buf_off;
	if (f->len && dst != f->data) /* a NIC may have put it in place already */
		clcp__copy(dst, f->data, f->len);
	s->len = f->len;
	s->msg_len = f->msg_len;
	s->seq = f->seq;
	s->chan = f->chan;
	s->status = 0;
	s->flags = flags;
	h->rx_frames++;
	if (!fence) {
		/* R3: publishes the frame; pairs with the user's A3. */
		clcp_store_release(&s->owner, (clcp_u8)CLCP_OWNER_USER);
		return 0;
	}
	/* R3+F4 in one: publishes, then orders it before reading armed (F3). */
	clcp_exchange(&s->owner, (clcp_u8)CLCP_OWNER_USER);
	return clcp__irq_take(h);
}

/* Wakes a user that sleeps on the armed word (how: from clcp__irq_take); false if not. */
bool clcp__irq_futex(struct clcp_endpt_hdr *h, uint32_t how);

/* Counter i (of n slots in st): stores it if there is room; returns i + 1. */
unsigned clcp__stat_put(struct clcp_stat *st, unsigned n, unsigned i, const char *name,
			uint64_t value);

/* env=1 (CLCP_UDP_STATS...): the device's counters on stderr, one line. */
void clcp__stats_print(struct clcp_dev *dev, const char *env);

/* Stubs for ops a backend does not support. */
void clcp__noop(struct clcp_endpt *ep);
int clcp__no_pull_offer(struct clcp_endpt *ep, int chan, const void *buf, size_t len,
			bool nonblock, struct clcp__pull *d);
int clcp__no_pull_wait(struct clcp_endpt *ep, int chan, const struct clcp__pull *d,
		       uint64_t spin_ns);
int clcp__no_pull_take(struct clcp_endpt *ep, int chan, const struct clcp__pull *d,
		       void *buf, size_t len, bool spin, bool nonblock);
int clcp__no_pull_ready(struct clcp_endpt *ep, int chan, void *buf, size_t cap);
/* The ops table's entries of a backend without the single-copy path. */
#define CLCP__NO_PULL                                                                \
	.pull_offer = clcp__no_pull_offer, .pull_wait = clcp__no_pull_wait,           \
	.pull_take = clcp__no_pull_take, .pull_ready = clcp__no_pull_ready
void clcp__no_room(struct clcp_dev *dev, const struct clcp_endpt_attr *a, struct clcp__buf_room *r);
int clcp__no_stats(struct clcp_dev *dev, struct clcp_stat *st, unsigned n);

#endif /* CLCP_INTERNAL_H */
