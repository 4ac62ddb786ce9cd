/* SPDX-License-Identifier: MIT */
/*
 * UDP backend: the library plays the NIC. One UDP socket per device (node),
 * one CLCP frame per datagram (struct clcp_frame_hdr, network order, then
 * the payload, a SACK bitmap in acks, a CRC32C trailer). Per channel:
 * sequence numbers, cumulative and selective acks carrying the receiver's
 * free Rx slots (credits), every hole repaired within a round trip, an RTO
 * from measured RTT, probed keep-alives. A progress thread per device receives,
 * acks and retransmits; a polling caller receives itself (trylock), so
 * polling adds no thread hop. docs/udp.md has the whole design.
 *
 * Locking: udp_dev.lock is "the NIC": every protocol field below and every
 * write to an Rx slot happen under it, so each Rx slot has one writer.
 */
#ifndef CLCP_UDP_H
#define CLCP_UDP_H

#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

#include "internal.h"

#define UDP_HDR_LEN 32u
#define UDP_SACK_LEN 8u  /* u64 bitmap after the header of a SACK ack */
#define UDP_CRC_LEN 4u	 /* CRC32C trailer of every datagram */
#define UDP_DGRAM_MAX 65507u
#define UDP_MTU_MAX (UDP_DGRAM_MAX - UDP_HDR_LEN - UDP_CRC_LEN)
#define UDP_MTU_ETH (1500u - 20u - 8u - UDP_HDR_LEN - UDP_CRC_LEN) /* 1436: no IP fragments */
#define UDP_WIN 64u	       /* frames in flight per channel */
#define UDP_BATCH 32u	       /* datagrams per recvmmsg */
#define UDP_MAX_NODES 65536u
#define UDP_DEFAULT_ENDPTS 16u
#define UDP_RTO_INIT_US 20000u
#define UDP_RTO_MIN_US 5000u
#define UDP_RTO_MAX_US 200000u
#define UDP_TICK_MS 10
#define UDP_LINGER_MS 2000u
#define UDP_LINGER_QUIET_MS 1000u /* a lingering channel's peer silent this long: gone */
#define UDP_DEAD_MIN_MS 5000u /* default floor of dead_ms: a loaded host stalls for seconds */
#define UDP_POLLER_TIMERS_US 5000u /* a poller's timers this late: the thread runs them */
#define UDP_REO_MIN_US 1000u   /* reordering allowance before a hole counts as lost */
#define UDP_REXMIT_SHIFT_MAX 6u /* a frame resent n times waits 2^n round trips more */
#define UDP_STARVED_MS 50u     /* a gap this long between timer runs: counted (starved) */
#define UDP_PROBES 3u	       /* unanswered probes before a silent peer is dead */
#define UDP_HEARD_SLOTS 64u    /* per-node "last heard" cache */
#define UDP_PEER_SOCKS 8u      /* peer nodes with a connected socket of their own */
#define UDP_DIRECT_MIN 8192u   /* frames this large are read straight into an Rx buffer */
#define UDP_CRC_FUSE_MIN 4096u /* frames this large get their CRC while copied into the store */
#define UDP_XDP_RING_MIN 64u   /* AF_XDP ring entries, sized from the first endpoint's queues */
#define UDP_XDP_RING_MAX 4096u
#define UDP_SMALL_DGRAM 512u   /* a lone datagram this small is gathered and sent with send() */
#define UDP_INC_LEN 8u	       /* a channel's incarnation */
/* A control frame's payload: its channel's incarnation, then the peer channel's as known (0: not yet). */
#define UDP_CTL_LEN (2 * UDP_INC_LEN)
/* An answer to an offer: a control frame whose payload goes on with the offer's seq and verdict. */
#define UDP_CTL_ANSWER_LEN (UDP_CTL_LEN + 8u)
#define UDP_PULL_MIN (256u * 1024u) /* messages this long are offered (mtu >= UDP_DIRECT_MIN) */
#define UDP_PULL_ANSWER_MIN_US 500u /* an offer's answer is waited for this long, or 3 RTTs */
#define UDP_PULL_GRACE_MIN_US 20u    /* an answer waits this long (or 2 RTTs) for the peer's READY */
#define UDP_PULL_GRACE_RECENT_US 10000u /* ... when a message of the peer's came by an offer lately */
#define UDP_BULK_ACK_EVERY 16u	     /* a pulled message's frames get an ack this often */

/* The ABI header's rsvd field in a data frame: the credit, and two marks. */
#define UDP_RSVD_CREDIT 0x3fffu
#define UDP_RSVD_OFFER 0x8000u /* a one-frame message offering a long one (CLCP_QF_PULL) */
#define UDP_RSVD_BULK 0x4000u  /* a frame of an offered message: msg_len is its offset */

/* Flags private to this backend, in the header's flags byte (docs/udp.md). */
#define UDP_FF_PROBE 0x10u /* to a peer seen: answer with an ack at once */
#define UDP_FF_SACK 0x20u  /* an ack followed by a SACK bitmap */
#define UDP_FF_HELLO 0x40u /* not yet connected: answer with an ack */
#define UDP_FF_RST 0x80u   /* no such channel here (any more) */

/* Drop reasons, counted per device. */
enum udp_drop {
	UDP_DROP_SHORT,
	UDP_DROP_VERSION,
	UDP_DROP_KEY,
	UDP_DROP_LEN,
	UDP_DROP_SRC,
	UDP_DROP_PORT,
	UDP_DROP_SEQ,
	UDP_DROP_NOBUF,
	UDP_DROP_CRC,
	UDP_DROP_EARLY, /* data before the peer channel's incarnation is known */
	UDP_DROP_STALE, /* a control frame for an earlier channel of ours on its port */
	UDP_DROP_CRC_OFF, /* a CRC of 0 where one was due: likely a sender with crc=0 */
	UDP_NDROPS,
};

/* How the AF_XDP socket runs (counter xdp_mode). */
enum udp_xdp_mode {
	UDP_XDP_OFF,	/* socket mode */
	UDP_XDP_SKB,	/* generic (SKB) XDP, copy mode */
	UDP_XDP_DRV,	/* native XDP, copy mode */
	UDP_XDP_DRV_ZC, /* native XDP, zero-copy */
};

/* Why a channel's peer was declared gone, counted per device. */
enum udp_gone {
	UDP_GONE_RST,	 /* it said so (released its channel or endpoint) */
	UDP_GONE_ICMP,	 /* port unreachable: its process is gone */
	UDP_GONE_SILENT, /* silent for dead_ms, probes unanswered */
	UDP_GONE_RESTART, /* another incarnation answers: its process (or channel) is new */
	UDP_NGONE,
};

struct udp_stats {
	uint64_t tx_data, rx_data, tx_acks, rx_acks, rexmits, dups, ooo, wnd_stalls;
	uint64_t tx_sacks, rx_sacks; /* acks with a SACK bitmap */
	uint64_t rto_expiries, starved; /* starved: timers UDP_STARVED_MS late */
	uint64_t probes, wnd_probes;	/* to a silent peer; for a lost window update */
	uint64_t tx_batches; /* sendmmsg calls (each sends one or more datagrams) */
	uint64_t tx_gso;     /* datagrams sent within a segmented (UDP_SEGMENT) message */
	uint64_t rx_direct;  /* frames read straight into their Rx buffer */
	uint64_t tx_bulk, rx_bulk; /* frames of offered messages (docs/udp.md, "Long messages") */
	uint64_t rx_bulk_placed;   /* of those, read straight into the receiving call's buffer */
	uint64_t pull_withdrawn;   /* offers not answered in time: sent as frames */
	uint64_t rx_ready;	   /* the peer's receives that said they wait (READY, GRANT) */
	uint64_t tx_granted;	   /* offers whose frames went on a GRANT, not waiting for GO */
	uint64_t bulk_kept;	   /* offers whose frames were not acked in time: into the store */
	uint64_t rx_bulk_framed;   /* frames of offers no receive took: into the Rx ring */
	uint64_t wake_direct;	   /* blocking receives woken by a datagram they read themselves */
	uint64_t wake_direct_vain; /* of those, woken by one that brought them nothing */
	uint64_t xdp_tx, xdp_rx; /* datagrams through the AF_XDP socket (xdp mode) */
	uint64_t xdp_bad;	 /* packets from the AF_XDP socket that were not ours */
	uint64_t xdp_lost; /* packets the kernel could not put on the Rx ring (XDP_STATISTICS) */
	uint64_t xdp_mode; /* enum udp_xdp_mode: how the socket runs; 0: sockets only */
	uint64_t xdp_ring_rx, xdp_ring_tx; /* entries of the fill and Rx, Tx and completion rings */
	uint64_t xdp_rx_inplace;	   /* data frames the kernel wrote into their Rx buffer */
	uint64_t xdp_rx_copied;		   /* data frames copied into their Rx buffer (xdp mode) */
	uint64_t xdp_tx_inplace;	   /* data frames sent from their store slot in the UMEM */
	uint64_t drops[UDP_NDROPS];
	uint64_t gone[UDP_NGONE];
};

/*
 * Datagrams waiting for one sendmmsg (under the lock): header, payload,
 * tail. Runs of equal-sized datagrams on a connected socket go as one
 * message that the kernel cuts up (UDP_SEGMENT): gm, with gso_cm.
 */
struct udp_txb {
	unsigned depth, n; /* depth: nested udp_tx_begin calls */
	int fd;		   /* the socket they go out on */
	struct mmsghdr mm[UDP_BATCH];
	struct iovec iov[UDP_BATCH][3];
	struct sockaddr_storage to[UDP_BATCH];
	struct clcp_frame_hdr hdr[UDP_BATCH];
	unsigned char tail[UDP_BATCH][UDP_SACK_LEN + UDP_CRC_LEN];
	unsigned char ctl[UDP_BATCH][UDP_CTL_ANSWER_LEN]; /* control frames' payloads (their senders' copies go) */
	struct mmsghdr gm[UDP_BATCH];
	unsigned gn[UDP_BATCH]; /* datagrams in gm[i] */
	union {
		struct cmsghdr align;
		unsigned char b[CMSG_SPACE(sizeof(uint16_t))];
	} gso_cm[UDP_BATCH];
};

struct udp_node {
	uint32_t node;
	socklen_t len;
	struct sockaddr_storage sa;
};

struct udp_conf {
	uint32_t node;
	bool node_set;
	struct udp_node *nodes; /* from CLCP_NODES or the hostfile */
	uint32_t nnodes;
	int local_family; /* local mode: AF_INET or AF_INET6; 0 otherwise */
	uint32_t local_port, base_node;
	uint32_t key;
	uint32_t dead_ms; /* 0: from the endpoint's peer_check_ms */
	uint32_t mtu;	  /* 0: UDP_MTU_ETH */
	bool no_crc; /* trailer 0, not checked: crc=0, or all nodes on loopback (every node alike) */
	bool crc_set; /* crc= given: no_crc is not derived from the table */
	bool xdp;    /* mode=xdp (or CLCP_UDP_MODE): AF_XDP, sockets if it cannot */
	bool xdp_skb; /* mode=xdp-skb: generic XDP even where the driver has native */
	uint32_t xdp_ring;  /* entries per AF_XDP ring; 0: from the first endpoint's queues */
	uint32_t xdp_queue; /* the Rx queue the AF_XDP socket binds */
	int boot;    /* enum udp_boot_kind: the table comes from a process manager */
	bool boot_live; /* the process manager's client is up: closed with the table */
};

/* A socket connected to one peer node, bound to our node's address (udp_sock.c). */
struct udp_psock {
	int fd; /* -1: free */
	uint32_t refs; /* channels sending through it */
	struct udp_node peer;
	struct clcp_endpt *direct_ep; /* large frames stream in for it (UDP_DIRECT_MIN) */
	bool no_gso;		      /* the path to the peer refused a segmented send */
};

/* A datagram as read: the header, then n - UDP_HDR_LEN bytes in body, the rest in spill. */
struct udp_rxd {
	const unsigned char *hdr, *body, *spill;
	size_t n, body_len;
};

/* A datagram read in one piece. */
static inline struct udp_rxd udp_rxd_whole(const unsigned char *b, size_t n)
{
	return (struct udp_rxd){ .hdr = b, .n = n, .body = b + UDP_HDR_LEN,
				 .body_len = n > UDP_HDR_LEN ? n - UDP_HDR_LEN : 0 };
}

/* A frame kept for retransmission until acked. */
struct udp_slot {
	uint32_t len, msg_len;
	uint8_t flags; /* CLCP_FF_FIRST/LAST */
	uint8_t rexmit; /* times resent, at most UDP_REXMIT_SHIFT_MAX (0: an RTT sample) */
	uint8_t have; /* receive side: a kept frame is in the slot */
	uint8_t sacked; /* send side: the receiver holds it (SACK) */
	uint8_t has_crc; /* send side: crc is the payload's CRC32C */
	uint8_t umem;	 /* send side: kept in Tx frame xframe of the UMEM, and sent from there */
	uint8_t marks;	 /* UDP_RSVD_OFFER, UDP_RSVD_BULK >> 8 */
	uint32_t xframe;
	uint32_t crc;
	uint64_t sent_us;
	const unsigned char *lent; /* send side, a bulk frame: the sending call's bytes */
};

/*
 * An answer frame's word after the offer's seq (READY, GRANT: the
 * receive's room instead). GRANT is a READY whose receive has given its
 * buffer: an offer next in sequence may send its frames at once. ASK goes
 * the other way: an offer's answer was lost, or is late.
 */
enum udp_answer {
	UDP_ANSWER_DECLINE,
	UDP_ANSWER_GO,
	UDP_ANSWER_READY,
	UDP_ANSWER_ASK,
	UDP_ANSWER_GRANT
};

/* A long message offered to the receiver (udp_pull.c): the sending side. */
enum udp_offer_state { UDP_OFFER_NONE, UDP_OFFER_MADE, UDP_OFFER_GO, UDP_OFFER_DECLINED };

struct udp_offer {
	enum udp_offer_state state;
	uint32_t seq; /* the offering frame's */
	const unsigned char *buf;
	uint32_t len;
	uint32_t ready;	     /* the peer's receive waits with this much room (READY, GRANT); 0: not */
	uint32_t grant_seq;  /* GRANT: the seq an offer must have to send its frames at once */
	bool grant, granted; /* the last READY was a GRANT; this offer's frames go at once */
	struct clcp__backoff withdrawn, graced; /* offers and graces in vain (udp_pull.c) */
};

/*
 * The receiving side. PRIMED: a receive gave its buffer (GRANT) for an
 * offer due as seq0 - 1. WAIT: a receive takes the offer's frames (owed:
 * its wait ended before it took the offer, the core takes it now). FRAMES:
 * no receive took the offer yet; its frames, if they come first, go into
 * the Rx ring as frames.
 */
enum udp_bulk_state {
	UDP_BULK_NONE,
	UDP_BULK_PRIMED,
	UDP_BULK_WAIT,
	UDP_BULK_DONE,
	UDP_BULK_DECLINED,
	UDP_BULK_FRAMES
};

struct udp_bulk {
	enum udp_bulk_state state;
	unsigned char *buf;
	uint32_t len, got; /* bytes in all, bytes in buf */
	uint32_t seq0;	   /* the first frame's (the offer's + 1) */
	uint32_t answered_seq; /* the last offer answered, and how (+ 1; 0: none yet), for ASK */
	uint32_t answered;
	bool owed;	  /* WAIT: the receive's wait ended before it took the offer */
	uint64_t done_us; /* when the last offered message was all in */
};

struct udp_chan {
	struct clcp_endpt *ep;
	uint16_t idx;
	bool active, ack_queued;
	uint64_t inc;	   /* this channel's incarnation, never 0 */
	uint64_t peer_inc; /* the peer channel's, from its first control frame (0: not seen yet) */
	bool ack_owed; /* frames received since the last ack went out */
	int err; /* set by the NIC; copied into chan_err by the user thread */
	struct sockaddr_storage peer;
	socklen_t peer_len;
	int fd;	   /* the socket to the peer: connected (conn) or the device's */
	bool conn;
	/* send side */
	uint32_t snd_una, snd_nxt, snd_edge; /* may send seq < snd_edge */
	uint32_t sack_hi; /* seq after the highest frame the receiver SACKed */
	bool wnd_wait; /* a frame waits for credit: probe if the update was lost */
	uint64_t wnd_probe_us, wnd_gap_us; /* next window probe; gap, doubling */
	uint64_t srtt_us, rttvar_us, rto_us;
	unsigned char *store; /* UDP_WIN frames of mtu bytes (xdp mode: UMEM frames first) */
	struct udp_slot slot[UDP_WIN];
	uint64_t wait_since_ms; /* waiting for an unseen peer */
	uint32_t hello_tries;
	struct udp_offer offer;
	/* receive side */
	uint32_t rcv_nxt, rcv_edge; /* rcv_edge: last advertised credit */
	unsigned char *ooo; /* frames kept out of order: UDP_WIN of mtu bytes */
	uint32_t kept;	    /* frames in ooo */
	struct udp_slot oslot[UDP_WIN];
	struct udp_bulk bulk;
	uint64_t last_heard_ms, last_sent_ms, next_hello_ms, next_probe_ms;
	uint32_t probes; /* sent since the peer was last heard */
	struct udp_chan *ack_next;		/* ack queue */
	struct udp_chan *act_prev, *act_next; /* active channels */
};

/* The peer channel was heard from: its incarnation is known. */
static inline bool udp_seen(const struct udp_chan *uc)
{
	return uc->peer_inc != 0;
}

struct udp_ep {
	uint32_t slot;
	uint32_t dead_ms;
	/* Rx slots from rx_head up to here were seen posted: they stay so until the NIC fills them. */
	uint32_t rx_known;
	struct udp_chan *chans;
	struct udp_chan *bulk_uc; /* its receive waits for an offered message's frames, or NULL */
	bool primed; /* the user's: its receive gave its buffer (GRANT); checked when it ends */
	struct clcp__backoff direct; /* the user's: blocking receives that watch the sockets */
};

struct udp_dev {
	struct udp_conf conf;
	struct clcp_dev *dev;
	int sock, stop_fd, family; /* sock: unconnected, takes what comes; stop_fd: wakes the thread */
	int lock_fd;		   /* holds the node (udp_sock.c) */
	struct udp_psock psock[UDP_PEER_SOCKS];
	uint32_t main_chans; /* channels sending through sock (no psock free) */
	unsigned main_skips; /* polling passes since sock was last read */
	struct udp_node self;
	pthread_t thread;
	bool thread_ok;
	pthread_mutex_t lock; /* the NIC: everything below */
	pthread_cond_t cond;  /* acks, credits, errors, connections */
	uint64_t poll_us;     /* last polling progress (atomic) */
	struct clcp_endpt **eps;
	uint32_t neps;
	uint32_t ports[65536]; /* endpoint slot + 1 << 16 | channel */
	uint16_t next_port;
	struct udp_chan *ackq, *active;
	bool busy; /* frames unacked or acks owed: timers at 1 ms */
	bool thread_waits;  /* the progress thread wants the lock: pollers hold back (atomic) */
	bool stopping;	    /* the progress thread must end (atomic; stop_fd wakes it) */
	uint64_t timers_us; /* last run of the timers */
	uint64_t clock_us;  /* newest clock read under the lock: a polling pass's, or a send's */
	struct udp_heard { uint32_t node; uint64_t ms; } heard[UDP_HEARD_SLOTS];
	struct udp_heard mute; /* a node that let a linger go unanswered; heard last at ms */
	struct udp_txb txb; /* datagrams batched for one sendmmsg */
	bool no_gso;	    /* the kernel has no UDP_SEGMENT: plain datagrams to every peer */
	struct udp_stats st;
	unsigned char *rxbufs; /* UDP_BATCH datagrams */
	uint32_t loss_pm;      /* test hook: outgoing datagrams dropped per mille */
	uint64_t loss_seed;
	uint64_t inc_next; /* the next channel's incarnation: random at open, then stepped */
	struct udp_xsk *xsk; /* xdp mode: the AF_XDP socket (udp_xdp.c); NULL: sockets */
	int xsk_fd;	     /* its fd once bound (atomic: the thread polls it unlocked); -1 */
};

static inline struct udp_dev *UDP(struct clcp_dev *dev)
{
	return dev->bpriv;
}

static inline struct udp_ep *UDPE(struct clcp_endpt *ep)
{
	return ep->priv->bpriv;
}

/* udp.c */
void udp_xdp_fallback(struct udp_dev *u);

/* udp_conf.c */
int udp_conf_parse(struct clcp_dev *dev, const char *args, struct udp_conf *c);
void udp_conf_free(struct udp_conf *c);
int udp_node_addr(const struct udp_conf *c, uint32_t node, struct udp_node *out);
bool udp_addr_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

/* udp_crc.c: CRC32C (Castagnoli), hardware-assisted where the CPU has it. */
uint32_t udp_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t udp_crc32c_copy(void *dst, const void *src, size_t len);
uint32_t udp_crc32c_combine(uint32_t crc_a, uint32_t crc_b, size_t len_b);
int udp_crc_cap(int level);

/* udp_sock.c */
void udp_sock_init(struct udp_dev *u);
int udp_sock_open(struct udp_dev *u, const struct udp_node *n);
void udp_sock_close(struct udp_dev *u);
int udp_psock_get(struct udp_dev *u, const struct udp_node *peer);
void udp_psock_put(struct udp_dev *u, int fd);
struct udp_psock *udp_psock_of(struct udp_dev *u, int fd);
void udp_psock_forget(struct udp_dev *u, const struct clcp_endpt *ep);
void udp_rx_drain(struct udp_dev *u);
void udp_rx_poll(struct udp_dev *u, uint64_t now);
void udp_errq_drain(struct udp_dev *u, int fd);
unsigned udp_sock_pollfds(struct udp_dev *u, struct pollfd *pfd, int first, bool with_socks);

/* udp_xdp.c: the AF_XDP mode; the program's loader is also the unit test's. */
struct bpf_object;
struct udp_xdp_prog {
	struct bpf_object *obj;
	int prog_fd, xsks_fd, cfg_fd;
};
int udp_xdp_prog_load(struct udp_xdp_prog *p);
void udp_xdp_prog_free(struct udp_xdp_prog *p);
int udp_xdp_prog_cfg(const struct udp_xdp_prog *p, uint32_t addr, uint16_t port, uint16_t max_len);
void udp_xdp_rings(uint32_t rxq_len, uint32_t txq_len, uint32_t ring, uint32_t *rx, uint32_t *tx);
int udp_xsk_open(struct udp_dev *u);
void udp_xsk_room(struct udp_dev *u, const struct clcp_endpt_attr *a, struct clcp__buf_room *r);
void *udp_xsk_endpt_alloc(struct udp_dev *u, struct clcp_endpt *ep, uint32_t size);
void udp_xsk_endpt_start(struct udp_dev *u, struct clcp_endpt *ep);
bool udp_xsk_endpt_release(struct udp_dev *u, struct clcp_endpt *ep);
bool udp_xsk_swap(struct udp_dev *u, const struct clcp_endpt *ep, const unsigned char *payload,
		  struct clcp_qentry *s);
void udp_xsk_close(struct udp_dev *u);
uint64_t udp_xsk_lost(const struct udp_dev *u);
unsigned udp_xsk_rx(struct udp_dev *u, unsigned max, uint64_t now);
void udp_xsk_kick(struct udp_dev *u);
unsigned char *udp_xsk_tx_get(struct udp_dev *u, const struct sockaddr_storage *to, size_t n);
void udp_xsk_tx_put(struct udp_dev *u, size_t n);
unsigned char *udp_xsk_tx_at(struct udp_dev *u, const struct sockaddr_storage *to, size_t n,
			     uint32_t frame);
unsigned char *udp_xsk_store_get(struct udp_dev *u, uint32_t len, uint32_t *frame);
unsigned char *udp_xsk_store_data(const struct udp_dev *u, uint32_t frame);
void udp_xsk_store_put(struct udp_dev *u, uint32_t frame);

/* udp_proto.c */
uint64_t udp_now_us(void);
void udp_tx_begin(struct udp_dev *u);
void udp_tx_flush(struct udp_dev *u);
void udp_tx_send(struct udp_dev *u);
void udp_tx_hold(struct udp_dev *u);
int udp_thread_start(struct udp_dev *u);
void udp_thread_stop(struct udp_dev *u);
void udp_thread_unpoll(struct udp_dev *u);
void udp_dgram_input(struct udp_dev *u, const unsigned char *buf, size_t n,
		     const struct sockaddr_storage *from, socklen_t fromlen);
void udp_dgram_input_peer(struct udp_dev *u, const struct udp_rxd *d, struct udp_psock *ps);
void udp_dgram_input_at(struct udp_dev *u, const struct udp_rxd *d,
			const struct sockaddr_storage *from, socklen_t fromlen,
			struct udp_psock *ps, uint64_t now);
unsigned char *udp_rx_target(struct clcp_endpt *ep, const struct udp_psock *ps, uint32_t *room);
void udp_send_answer(struct udp_dev *u, struct udp_chan *uc, uint32_t seq, enum udp_answer a);

/* udp_pull.c: long messages offered to the receiver (docs/udp.md, "Long messages"). */
int udp_pull_offer(struct clcp_endpt *ep, int chan, const void *buf, size_t len, bool nonblock,
		   struct clcp__pull *d);
int udp_pull_wait(struct clcp_endpt *ep, int chan, const struct clcp__pull *d, uint64_t spin_ns);
int udp_pull_take(struct clcp_endpt *ep, int chan, const struct clcp__pull *d, void *buf,
		  size_t len, bool spin, bool nonblock);
void udp_offer_taken(struct udp_chan *uc, uint32_t seq);
void udp_offer_answered(struct udp_dev *u, struct udp_chan *uc, uint32_t seq, uint32_t a,
			uint32_t ack);
void udp_offer_in(struct udp_chan *uc, uint32_t seq, uint32_t msg_len);
int udp_pull_ready(struct clcp_endpt *ep, int chan, void *buf, size_t cap);
bool udp_bulk_in(struct udp_dev *u, struct udp_chan *uc, uint32_t seq, uint32_t len, uint32_t off,
		 bool bulk, const unsigned char *payload);
unsigned char *udp_bulk_target(struct clcp_endpt *ep, int fd, uint32_t *room);
void udp_pull_forget(struct udp_chan *uc);
/* Where frame seq of uc waits in the retransmit store (made on first use), or NULL. */
unsigned char *udp_store_at(struct udp_chan *uc, uint32_t seq);
void udp_chan_break(struct udp_dev *u, struct udp_chan *uc);
void udp_progress(struct clcp_endpt *ep);
void udp_deadline_in(struct timespec *ts, int ms);
void udp_ooo_flush(struct udp_dev *u, struct udp_chan *uc);
void udp_peer_unreachable(struct udp_dev *u, const struct sockaddr_storage *to,
			  const unsigned char *orig, size_t n);
void udp_timers(struct udp_dev *u);
void udp_acks_flush(struct udp_dev *u);
void udp_send_ctl(struct udp_dev *u, struct udp_chan *uc, uint8_t flags);
/* When uc's peer was last heard (ms, udp_now_us / 1000): on uc, or anything from its node. */
uint64_t udp_heard_ms(const struct udp_dev *u, const struct udp_chan *uc);
void udp_send_data(struct udp_dev *u, struct udp_chan *uc, uint32_t seq);
void udp_store_release(struct udp_dev *u, struct udp_chan *uc, uint32_t from, uint32_t to);
uint32_t udp_rx_credit(struct clcp_endpt *ep);
uint32_t udp_rx_credit_f2(struct clcp_endpt *ep);
void udp_ack_queue(struct udp_dev *u, struct udp_chan *uc);
void udp_raise_irq(struct clcp_endpt *ep);

#endif /* CLCP_UDP_H */
