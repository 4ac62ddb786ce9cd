// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the udp backend's datagram input (parse, validate,
 * reorder store, delivery into the Rx ring) and the user side's receive
 * and reassembly (clcp_rcv_message, clcp_poll_rx_msg, clcp_rcv_frame).
 *
 * One real udp device (its socket bound on 127.0.0.1 and never sent to);
 * its progress thread is stopped, so a run is deterministic and the target
 * is "the NIC": datagrams go in through udp_dgram_input under the device
 * lock. Nodes 1 and 2 are sockets of ours that only swallow what the device
 * sends. Per input: a fresh endpoint and three channels, then the
 * operations of fuzz_udp.h.
 *
 * Checked besides ASan/UBSan: every datagram the target's own reading of
 * docs/udp.md says is bad is dropped and counted under its reason; each
 * frame the device delivers is the first valid datagram for its sequence
 * number that reached the window (a model of the reorder store); what the
 * user receives is exactly those frames, in order, as messages or frames;
 * spare Rx buffers (not posted) are never written; at the end every
 * delivered frame is received. A failed check aborts.
 */
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <clcp/clcp.h>

#include "fuzz_udp.h"
#include "udp.h"

#define QMAX 128u /* delivered frames not yet received, per channel */
#define LENT_MAX 8u
#define CANARY 0xa5u

#define CHECK(c, ...)                                                                \
	do {                                                                         \
		if (!(c)) {                                                          \
			fprintf(stderr, "fuzz_udp_rx: %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                                \
			fputc('\n', stderr);                                         \
			abort();                                                     \
		}                                                                    \
	} while (0)

#define MK_OFFER (UDP_RSVD_OFFER >> 8) /* the header's marks, as in its rsvd's high byte */
#define MK_BULK (UDP_RSVD_BULK >> 8)

/* A frame as the model expects it. */
struct mframe {
	uint32_t seq, len, msg_len;
	uint8_t flags; /* CLCP_QF_FIRST/LAST, and CLCP_QF_PULL once delivered */
	uint8_t marks; /* MK_* */
	uint8_t have;
	unsigned char data[FUZZ_RAW_MAX];
};

/* What the device does with the frames of a message offered on a channel (udp_pull.c). */
enum mbulk {
	MB_NONE,
	MB_FRAMES,   /* an offer went into the ring: its frames follow it there */
	MB_PRIMED,   /* a waiting receive gave its buffer to the offer due next (GRANT) */
	MB_WAIT,     /* that offer came: its frames go into the buffer */
	MB_DONE,     /* all of them are there */
	MB_DECLINED, /* a frame of no offer came where its first was due: withdrawn */
};

struct mchan {
	uint32_t nxt; /* next sequence the device delivers */
	struct mframe win[UDP_WIN];
	struct mframe q[QMAX]; /* delivered, not yet received */
	uint32_t qhead, qlen;
	enum mbulk bstate;
	uint32_t blen, bgot; /* the offered message's length (PRIMED: the room), its bytes in */
	uint32_t seq0;	     /* the offered message's first frame */
};

static const struct {
	uint16_t my_port, peer_port;
	uint32_t peer_node;
} chan_def[FUZZ_NCHAN] = { { 10, 100, 1 }, { 11, 101, 1 }, { 12, 100, 2 } };

static struct {
	clcp_dev_t *dev;
	struct udp_dev *u;
	int peer_sock[2]; /* nodes 1 and 2 */
	struct sockaddr_storage src[8];
	socklen_t srclen[8];
	/* per input */
	clcp_endpt_t *ep;
	int chan[FUZZ_NCHAN];
	struct mchan m[FUZZ_NCHAN];
	struct clcp_frame lent[LENT_MAX];
	unsigned nlent;
	bool armed, want_wake;	/* clcp_endpt_arm gave 0; a last frame came since */
	int take_rc;		/* of frame_take's last clcp_rcv_frame */
	uint32_t met;		/* offers the last receive on one channel met (offers_met) */
	bool offers;		/* FUZZ_CFG_OFFERS */
	/* FOP_WAIT: a receive that waits on channel wchan (-1: none) with wbuf (wroom bytes) */
	int wchan;
	unsigned char *wbuf;
	size_t wroom;
	bool wtake;		   /* its wait ended as an offer took wbuf: it takes that offer */
	const unsigned char *rbuf; /* where the receive being checked copied to */
	unsigned char *painted; /* per Rx buffer: spare and painted */
	unsigned char msg[65536];
} F;

/* --- setup, once --- */

static uint16_t bind_any(int *fd)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	*fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK(*fd >= 0 && bind(*fd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind");
	CHECK(getsockname(*fd, (struct sockaddr *)&a, &len) == 0, "getsockname");
	return ntohs(a.sin_port);
}

static void src_v4(int i, const char *ip, uint16_t port)
{
	struct sockaddr_in *a = (struct sockaddr_in *)&F.src[i];

	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	inet_pton(AF_INET, ip, &a->sin_addr);
	F.srclen[i] = sizeof(*a);
}

static void src_v6(int i, uint16_t port)
{
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)&F.src[i];

	a->sin6_family = AF_INET6;
	a->sin6_port = htons(port);
	a->sin6_addr = in6addr_loopback;
	F.srclen[i] = sizeof(*a);
}

/* The device on a free port (another process may take one meanwhile: retry). */
static void dev_open(uint16_t p1, uint16_t p2)
{
	char nodes[160];
	uint16_t p0;
	int fd, rc = -1, tries;

	for (tries = 0; tries < 20 && rc < 0; tries++) {
		p0 = bind_any(&fd);
		close(fd);
		snprintf(nodes, sizeof(nodes),
			 "0=127.0.0.1:%u,1=127.0.0.1:%u,2=127.0.0.1:%u,3=[::1]:%u", p0, p1, p2, p1);
		setenv("CLCP_NODES", nodes, 1);
		rc = clcp_open("udp://0?key=0x5eed1234&crc=1", &F.dev);
	}
	CHECK(rc == 0, "clcp_open: %s", clcp_errmsg());
	src_v4(FSRC_SELF, "127.0.0.1", p0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint16_t p1 = bind_any(&F.peer_sock[0]), p2 = bind_any(&F.peer_sock[1]);

	(void)argc;
	(void)argv;
	src_v4(FSRC_NODE1, "127.0.0.1", p1);
	src_v4(FSRC_NODE2, "127.0.0.1", p2);
	src_v4(FSRC_PORT, "127.0.0.1", (uint16_t)(p1 ^ 0x5a5a));
	src_v4(FSRC_IP, "127.0.0.2", p1);
	src_v6(FSRC_NODE3, p1);
	F.srclen[FSRC_UNSPEC] = sizeof(F.src[0]);
	dev_open(p1, p2);
	F.u = F.dev->bpriv;
	udp_thread_stop(F.u); /* we are the only one to run the engine */
	return 0;
}

/* --- the model --- */

static struct udp_chan *uchan(int c)
{
	return &UDPE(F.ep)->chans[F.chan[c]];
}

/* Frame f of c's offered message, which a receive's buffer takes: there at its offset. */
static void model_bulk_placed(int c, const struct mframe *f)
{
	struct mchan *m = &F.m[c];

	CHECK(f->msg_len == m->bgot && f->len && f->len <= m->blen - m->bgot,
	      "chan %d: frame %u of an offered message taken out of place", c, f->seq);
	CHECK(memcmp(F.wbuf + f->msg_len, f->data, f->len) == 0,
	      "chan %d: frame %u is not in the receive's buffer at %u", c, f->seq, f->msg_len);
	m->bgot += f->len;
	m->bstate = m->bgot == m->blen ? MB_DONE : MB_WAIT;
}

/* Frame f of c's offered message, which no receive took: a frame of that message. */
static void model_bulk_framed(int c, struct mframe *f)
{
	struct mchan *m = &F.m[c];

	CHECK(m->bstate == MB_FRAMES && f->msg_len == m->bgot && f->len &&
		      f->len <= m->blen - m->bgot,
	      "chan %d: frame %u of an offered message delivered out of place", c, f->seq);
	f->flags = (uint8_t)((m->bgot == 0 ? CLCP_QF_FIRST : 0) |
			     (m->bgot + f->len == m->blen ? CLCP_QF_LAST : 0));
	f->msg_len = m->blen;
	m->bgot += f->len;
	m->bstate = m->bgot == m->blen ? MB_NONE : MB_FRAMES;
}

/*
 * Offer f comes into the ring (CLCP_QF_PULL): the buffer a receive gave
 * for it takes its frames, or they follow it there; unless the offer
 * before is not taken yet (this one then waits for its answer).
 */
static void model_offer_in(int c, struct mframe *f)
{
	struct mchan *m = &F.m[c];

	f->flags |= CLCP_QF_PULL;
	if (m->bstate == MB_PRIMED && f->seq + 1 == m->seq0 && f->msg_len <= m->blen)
		m->bstate = MB_WAIT;
	else if (m->bstate == MB_NONE || m->bstate == MB_PRIMED)
		m->bstate = MB_FRAMES;
	else
		return;
	m->blen = f->msg_len;
	m->bgot = 0;
	m->seq0 = f->seq + 1;
}

/*
 * Frame f of channel c is delivered next in order (docs/udp.md, "Long
 * messages"); false when it went into a waiting receive's buffer, not the
 * Rx ring.
 */
static bool model_in_order(int c, struct mframe *f)
{
	struct mchan *m = &F.m[c];

	if ((f->marks & MK_BULK) && m->bstate == MB_WAIT) {
		model_bulk_placed(c, f);
		return false;
	}
	if (f->marks & MK_BULK) {
		model_bulk_framed(c, f);
		return true;
	}
	if (m->bstate == MB_WAIT && f->seq == m->seq0)
		m->bstate = MB_DECLINED; /* where its first frame was due: withdrawn */
	else if (m->bstate == MB_FRAMES)
		m->bstate = MB_NONE; /* cut short: the next message begins */
	if (f->marks & MK_OFFER)
		model_offer_in(c, f);
	return true;
}

/* Moves what the device delivered since the last look into the queue. */
static void sync_chan(int c)
{
	struct mchan *m = &F.m[c];
	const struct udp_chan *uc = uchan(c);
	uint32_t nxt = uc->rcv_nxt;
	struct mframe *w;

	CHECK(nxt - m->nxt <= UDP_WIN * 4, "chan %d: rcv_nxt %u jumped from %u", c, nxt, m->nxt);
	for (; m->nxt != nxt; m->nxt++) {
		w = &m->win[m->nxt % UDP_WIN];
		CHECK(w->have && w->seq == m->nxt,
		      "chan %d: seq %u delivered, but no valid datagram carried it", c, m->nxt);
		CHECK(m->qlen < QMAX, "chan %d: more frames delivered than Rx buffers", c);
		m->q[(m->qhead + m->qlen) % QMAX] = *w;
		w->have = 0;
		if (!model_in_order(c, &m->q[(m->qhead + m->qlen) % QMAX]))
			continue; /* into the waiting receive's buffer */
		F.want_wake |= F.armed && (m->q[(m->qhead + m->qlen) % QMAX].flags & CLCP_QF_LAST);
		m->qlen++;
	}
	w = &m->win[m->nxt % UDP_WIN];
	if (w->have && w->seq == m->nxt && !(uc->ooo && uc->oslot[m->nxt % UDP_WIN].have)) {
		/* Next in order, neither delivered nor kept: a frame of an offer out of place. */
		CHECK(F.offers && uc->err, "chan %d: frame %u neither delivered nor kept", c, m->nxt);
		w->have = 0;
	}
}

/* A new channel c: nothing delivered, nothing kept (the frame bytes stay). */
static void model_reset(int c)
{
	F.m[c].nxt = F.m[c].qhead = F.m[c].qlen = 0;
	F.m[c].bstate = MB_NONE;
	for (uint32_t i = 0; i < UDP_WIN; i++)
		F.m[c].win[i].have = 0;
}

static void sync_all(void)
{
	for (int c = 0; c < FUZZ_NCHAN; c++)
		sync_chan(c);
}

static struct mframe *qfront(int c, uint32_t i)
{
	return i < F.m[c].qlen ? &F.m[c].q[(F.m[c].qhead + i) % QMAX] : NULL;
}

static void qpop(int c)
{
	F.m[c].qhead = (F.m[c].qhead + 1) % QMAX;
	F.m[c].qlen--;
}

/* A valid data frame for channel c, seq ahead of the next expected: kept (first wins). */
static void model_data(int c, uint32_t seq, uint32_t len, uint32_t msg_len, uint8_t ff,
		       uint8_t marks, const unsigned char *p)
{
	struct mframe *w = &F.m[c].win[seq % UDP_WIN];

	if (seq - F.m[c].nxt >= UDP_WIN || w->have)
		return;
	w->seq = seq;
	w->len = len;
	w->msg_len = msg_len;
	w->flags = (uint8_t)(((ff & CLCP_FF_FIRST) ? CLCP_QF_FIRST : 0) |
			     ((ff & CLCP_FF_LAST) ? CLCP_QF_LAST : 0));
	w->marks = marks & (MK_OFFER | MK_BULK);
	memcpy(w->data, p, len);
	w->have = 1;
}

/* --- datagrams --- */

static uint32_t be32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void put32(unsigned char *b, uint32_t v)
{
	b[0] = (unsigned char)(v >> 24);
	b[1] = (unsigned char)(v >> 16);
	b[2] = (unsigned char)(v >> 8);
	b[3] = (unsigned char)v;
}

static void put16(unsigned char *b, uint16_t v)
{
	b[0] = (unsigned char)(v >> 8);
	b[1] = (unsigned char)v;
}

/* The table's address of a node (nodes 0..3) as a source; FSRC_UNSPEC if none. */
static int node_src(uint32_t node)
{
	static const int sel[4] = { FSRC_SELF, FSRC_NODE1, FSRC_NODE2, FSRC_NODE3 };

	return node < 4 ? sel[node] : FSRC_UNSPEC;
}

/* The channel a header names (ports and node); -1 if none. */
static int chan_named(const unsigned char *b)
{
	uint16_t dst = (uint16_t)(b[2] << 8 | b[3]), srcp = (uint16_t)(b[4] << 8 | b[5]);

	for (int c = 0; c < FUZZ_NCHAN; c++)
		if (dst == chan_def[c].my_port && srcp == chan_def[c].peer_port &&
		    be32(b + 8) == chan_def[c].peer_node)
			return c;
	return -1;
}

/* After the payload, before the CRC: a SACK bitmap in a pure ack that says so, else nothing. */
static bool tail_ok(uint8_t flags, size_t extra)
{
	if (flags & UDP_FF_SACK)
		return extra == UDP_SACK_LEN && !(flags & CLCP_FF_DATA) && (flags & CLCP_FF_ACK);
	return extra == 0;
}

/*
 * A control frame's payload is the incarnations, an answer to an offer's
 * 8 bytes more; a reset for no channel has none.
 */
static bool ctl_len_ok(uint8_t flags, uint32_t len)
{
	return (flags & CLCP_FF_DATA) || len == UDP_CTL_LEN ||
	       (len == UDP_CTL_ANSWER_LEN && !(flags & (UDP_FF_RST | UDP_FF_HELLO))) ||
	       (len == 0 && (flags & UDP_FF_RST));
}

/* A control frame's peer incarnation names an earlier channel of ours than chan. */
static bool stale(const unsigned char *b, uint32_t len, int chan)
{
	uint64_t dst;

	if ((b[1] & CLCP_FF_DATA) || len == 0)
		return false;
	dst = (uint64_t)be32(b + UDP_HDR_LEN + 8) << 32 | be32(b + UDP_HDR_LEN + 12);
	return dst && dst != uchan(chan)->inc;
}

/*
 * What the device must do with a datagram (docs/udp.md, "Wire format"):
 * a drop reason, or -1 (accepted); *chan the channel, *data: a data frame.
 */
static int verdict(const unsigned char *b, size_t n, int src, int *chan, bool *data)
{
	uint32_t len;

	*chan = -1;
	*data = false;
	if (n < UDP_HDR_LEN + UDP_CRC_LEN) /* the CRC itself is not checked in a fuzz build */
		return UDP_DROP_SHORT;
	n -= UDP_CRC_LEN;
	if (b[0] != CLCP_FRAME_VERSION)
		return UDP_DROP_VERSION;
	if (be32(b + 28) != FUZZ_KEY)
		return UDP_DROP_KEY;
	len = be32(b + 12);
	if (len > n - UDP_HDR_LEN || !ctl_len_ok(b[1], len) ||
	    !tail_ok(b[1], n - UDP_HDR_LEN - len))
		return UDP_DROP_LEN;
	if (!(b[1] & CLCP_FF_DATA) && len && (be32(b + UDP_HDR_LEN) | be32(b + UDP_HDR_LEN + 4)) == 0)
		return UDP_DROP_LEN; /* an incarnation is never 0 */
	if (src == FSRC_UNSPEC || node_src(be32(b + 8)) != src)
		return UDP_DROP_SRC;
	*chan = chan_named(b);
	if (*chan < 0)
		return UDP_DROP_PORT;
	if (stale(b, len, *chan))
		return UDP_DROP_STALE; /* for an earlier channel of ours on the port */
	if (b[1] & UDP_FF_RST)
		return -1;
	if ((b[1] & CLCP_FF_DATA) && !uchan(*chan)->peer_inc)
		return UDP_DROP_EARLY; /* no control frame named the peer's incarnation yet */
	/* Longer than our mtu, or an offer or its frame where our mtu is too small for them. */
	if ((b[1] & CLCP_FF_DATA) &&
	    (len > F.ep->mtu || ((b[6] & (MK_OFFER | MK_BULK)) && F.ep->mtu < UDP_DIRECT_MIN)))
		return UDP_DROP_LEN;
	*data = b[1] & CLCP_FF_DATA;
	return -1;
}

static const unsigned char *canary(void)
{
	static unsigned char c[2 * UDP_DIRECT_MIN]; /* a stride (an Rx buffer) at most */

	if (!c[0])
		memset(c, CANARY, sizeof(c));
	return c;
}

/* The mapping's bytes after the endpoint region (to the page end). */
static size_t tail_len(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), size = F.ep->priv->size;
	size_t n = (size + page - 1) / page * page - size;

	return n < UDP_MTU_ETH ? n : UDP_MTU_ETH;
}

/* Spare Rx buffers (neither posted nor held) get the canary. */
static void paint(void)
{
	struct clcp__endpt_priv *p = F.ep->priv;

	memset(F.painted, 0, F.ep->hdr->nrxbuf);
	for (uint32_t i = 0; i < p->nfree; i++) {
		memset(F.ep->base + p->free_bufs[i], CANARY, p->stride);
		F.painted[(p->free_bufs[i] - F.ep->hdr->rxbuf_off) / p->stride] = 1;
	}
}

/* Spare buffers painted before and still spare, and the tail: untouched. */
static void paint_check(void)
{
	struct clcp__endpt_priv *p = F.ep->priv;

	for (uint32_t i = 0; i < p->nfree; i++)
		if (F.painted[(p->free_bufs[i] - F.ep->hdr->rxbuf_off) / p->stride])
			CHECK(memcmp(F.ep->base + p->free_bufs[i], canary(), p->stride) == 0,
			      "spare Rx buffer at %u written", p->free_bufs[i]);
	CHECK(memcmp(F.ep->base + p->size, canary(), tail_len()) == 0,
	      "written after the endpoint region");
}

/*
 * Drop reason why (-1: none) counted once, no other (nobuf is not a
 * verdict). broke: the frames of an offered message, out of place, broke
 * the channel; each counts as a drop for its sequence.
 */
static void drops_check(const struct udp_stats *before, int why, bool broke)
{
	for (int r = 0; r < UDP_NDROPS; r++)
		if (r == UDP_DROP_SEQ && broke)
			CHECK(F.u->st.drops[r] >= before->drops[r] + (r == why), "drops went back");
		else if (r != UDP_DROP_NOBUF)
			CHECK(F.u->st.drops[r] == before->drops[r] + (r == why),
			      "drop reason %d counted %llu times, the verdict is %d", r,
			      (unsigned long long)(F.u->st.drops[r] - before->drops[r]), why);
}

/* Node 1's or node 2's connected socket in the device, or NULL. */
static struct udp_psock *psock_of(int src)
{
	uint32_t node = src == FSRC_NODE1 ? 1 : src == FSRC_NODE2 ? 2 : 0;

	for (unsigned i = 0; node && i < UDP_PEER_SOCKS; i++)
		if (F.u->psock[i].fd >= 0 && F.u->psock[i].peer.node == node)
			return &F.u->psock[i];
	return NULL;
}

/*
 * Bytes read apart from the header and body, as the in-place read does: what
 * follows the payload the header's len names (a SACK bitmap, the CRC), up
 * to the CRC when len is past the end; never into the header or payload.
 */
static size_t split_len(const unsigned char *b, size_t n)
{
	size_t max, len;

	if (n <= UDP_HDR_LEN)
		return 0;
	len = be32(b + 12);
	max = len <= n - UDP_HDR_LEN ? n - UDP_HDR_LEN - len : UDP_CRC_LEN;
	max = max < n - UDP_HDR_LEN ? max : n - UDP_HDR_LEN;
	return n % (max + 1);
}

/*
 * A datagram from node 1 or 2 comes in (two times in three) as from its
 * connected socket, in two pieces (split_len), each in a buffer of its own
 * so ASan sees a read past either; else as from the unconnected one.
 */
static void dgram_feed(const unsigned char *b, size_t n, int src)
{
	struct udp_psock *ps = psock_of(src);
	size_t split = split_len(b, n), head = n - split;
	bool peer = ps && n % 3;
	unsigned char *one = malloc(peer ? (head ? head : 1) : (n ? n : 1)); /* exact sizes */
	unsigned char *two = malloc(split ? split : 1);
	struct udp_rxd d = { .hdr = one, .body = one + UDP_HDR_LEN, .spill = two, .n = n };

	CHECK(one && two, "out of memory");
	memcpy(one, b, peer ? head : n);
	memcpy(two, b + head, split);
	d.body_len = head > UDP_HDR_LEN ? head - UDP_HDR_LEN : 0;
	pthread_mutex_lock(&F.u->lock);
	if (peer)
		udp_dgram_input_peer(F.u, &d, ps);
	else
		udp_dgram_input(F.u, one, n, &F.src[src], F.srclen[src]);
	pthread_mutex_unlock(&F.u->lock);
	free(one);
	free(two);
}

/* One datagram into the device, as from the socket; the verdict is checked. */
static void dgram(const unsigned char *b, size_t n, int src)
{
	struct udp_stats st = F.u->st;
	uint32_t seq = 0, ahead = 0;
	bool data;
	int c, why = verdict(b, n, src, &c, &data);

	if (data) {
		seq = be32(b + 20);
		ahead = seq - uchan(c)->rcv_nxt;
		model_data(c, seq, be32(b + 12), be32(b + 16), b[1], b[6], b + UDP_HDR_LEN);
	}
	dgram_feed(b, n, src);
	if (data && (int32_t)ahead < 0)
		CHECK(F.u->st.dups == st.dups + 1, "duplicate not counted");
	if (data && ahead >= UDP_WIN && (int32_t)ahead > 0)
		why = UDP_DROP_SEQ;
	drops_check(&st, why, F.offers && data && uchan(c)->err);
	sync_all();
	if (why >= 0 || (data && ahead >= UDP_WIN))
		CHECK(F.u->st.rx_data == st.rx_data, "a dropped datagram was delivered");
}

/*
 * FIX_INC: a control frame's payload, the incarnations of c's peer and of
 * c (0 for no channel), an answer's 8 bytes when there is room, then a SACK
 * bitmap if flagged.
 */
static size_t ctl_payload(unsigned char *b, size_t len, int c)
{
	uint64_t inc = c < FUZZ_NCHAN && uchan(c)->peer_inc ? uchan(c)->peer_inc : FUZZ_INC;
	uint64_t dst = c < FUZZ_NCHAN ? uchan(c)->inc : 0;
	size_t sack = (b[1] & UDP_FF_SACK) ? UDP_SACK_LEN : 0;
	/* Room for more: an answer to an offer (READY, ASK, GO, DECLINE; its words as they came). */
	uint32_t ctl = len >= UDP_CTL_ANSWER_LEN + sack && !(b[1] & (UDP_FF_RST | UDP_FF_HELLO))
			       ? UDP_CTL_ANSWER_LEN
			       : UDP_CTL_LEN;
	size_t want = ctl + sack;

	if (len < want)
		memset(b + UDP_HDR_LEN + len, 0, want - len);
	put32(b + 12, ctl);
	put32(b + UDP_HDR_LEN, (uint32_t)(inc >> 32));
	put32(b + UDP_HDR_LEN + 4, (uint32_t)inc);
	put32(b + UDP_HDR_LEN + 8, (uint32_t)(dst >> 32));
	put32(b + UDP_HDR_LEN + 12, (uint32_t)dst);
	return want;
}

/* FOP_DGRAM: a header repaired as asked, then the payload. */
static size_t op_dgram(const unsigned char *in, size_t n)
{
	static unsigned char b[UDP_HDR_LEN + FUZZ_PAYLOAD_MAX + UDP_CRC_LEN];
	size_t len;
	unsigned fix;
	int src, c;

	if (n < 2 + UDP_HDR_LEN + 2)
		return n;
	src = in[0] & 7;
	c = (in[0] >> 3) & 3;
	fix = in[1];
	memcpy(b, in + 2, UDP_HDR_LEN);
	len = (size_t)in[2 + UDP_HDR_LEN] << 8 | in[3 + UDP_HDR_LEN];
	in += 4 + UDP_HDR_LEN;
	n -= 4 + UDP_HDR_LEN;
	len = len < n ? len : n;
	len = len < FUZZ_PAYLOAD_MAX ? len : FUZZ_PAYLOAD_MAX;
	memcpy(b + UDP_HDR_LEN, in, len);
	if (fix & FIX_VK) {
		b[0] = CLCP_FRAME_VERSION;
		put32(b + 28, FUZZ_KEY);
	}
	if ((fix & FIX_INC) && !(b[1] & CLCP_FF_DATA)) {
		len = ctl_payload(b, len, c);
	} else {
		if (fix & FIX_LEN)
			put32(b + 12, (uint32_t)len);
		if (fix & FIX_DATA)
			b[1] = (uint8_t)(len ? b[1] | CLCP_FF_DATA : b[1] & ~CLCP_FF_DATA);
	}
	if ((fix & FIX_ADDR) && c < FUZZ_NCHAN) {
		put16(b + 2, chan_def[c].my_port);
		put16(b + 4, chan_def[c].peer_port);
		put32(b + 8, chan_def[c].peer_node);
	}
	if ((fix & FIX_SEQ) && c < FUZZ_NCHAN)
		put32(b + 20, uchan(c)->rcv_nxt + (uint32_t)(int32_t)(int8_t)b[23]);
	if ((fix & FIX_ACK) && c < FUZZ_NCHAN)
		put32(b + 24, uchan(c)->snd_una + (b[27] & 0x7fu));
	if (src == FSRC_HDR)
		src = node_src(be32(b + 8));
	put32(b + UDP_HDR_LEN + len, 0); /* the CRC trailer (not checked) */
	dgram(b, UDP_HDR_LEN + len + UDP_CRC_LEN, src);
	return 4 + UDP_HDR_LEN + len;
}

static size_t op_raw(const unsigned char *in, size_t n)
{
	size_t len;
	int src;

	if (n < 3)
		return n;
	src = in[0] & 7;
	len = (size_t)in[1] << 8 | in[2];
	len = len < n - 3 ? len : n - 3;
	len = len < FUZZ_RAW_MAX ? len : FUZZ_RAW_MAX;
	if (src == FSRC_HDR)
		src = len >= UDP_HDR_LEN ? node_src(be32(in + 3 + 8)) : FSRC_UNSPEC;
	dgram(in + 3, len, src);
	return 3 + len;
}

/* --- the user side --- */

/* Offers (CLCP_QF_PULL) at the front of c's queue: a receive on c declines them first. */
static uint32_t offers_first(int c)
{
	uint32_t n = 0;

	while (n < F.m[c].qlen && (qfront(c, n)->flags & CLCP_QF_PULL))
		n++;
	return n;
}

/* Some channel's queue begins with an offer. */
static bool offers_any(void)
{
	for (int c = 0; c < FUZZ_NCHAN; c++)
		if (offers_first(c))
			return true;
	return false;
}

/* The device keeps the frame it delivers next on c. */
static bool kept_next(int c)
{
	const struct mframe *w = &F.m[c].win[F.m[c].nxt % UDP_WIN];

	return w->have && w->seq == F.m[c].nxt;
}

/* A frame of c's queue from its first one after the leading offers ends a message. */
static bool has_last(int c)
{
	for (uint32_t i = offers_first(c); i < F.m[c].qlen; i++)
		if (qfront(c, i)->flags & CLCP_QF_LAST)
			return true;
	return false;
}

/*
 * The frames the device keeps for c from the next one it delivers on, in
 * order: the receive's own reposts may deliver them (udp_wake_senders).
 * The first's flags, or 0 if none; *last: one of them ends a message.
 */
static uint8_t kept_run(int c, bool *last)
{
	const struct mchan *m = &F.m[c];
	uint8_t first = 0;

	*last = false;
	for (uint32_t i = 0; i < UDP_WIN; i++) {
		const struct mframe *w = &m->win[(m->nxt + i) % UDP_WIN];

		if (!w->have || w->seq != m->nxt + i)
			break;
		first = i ? first : w->flags;
		*last |= w->flags & CLCP_QF_LAST;
	}
	return first;
}

/*
 * A nonblocking message receive on c cannot wait for frames still to come:
 * the message at the head is whole, or none begins there, counting what
 * the device keeps when nothing is delivered yet.
 */
static bool msg_safe(int c)
{
	const struct mframe *h = qfront(c, offers_first(c));
	bool last;
	uint8_t kept;

	if (h)
		return !(h->flags & CLCP_QF_FIRST) || has_last(c);
	if (F.offers) /* a late wake, no progress: only a decline's answer (its credit) flushes */
		return !offers_first(c) || !kept_next(c);
	kept = kept_run(c, &last);
	return !(kept & CLCP_QF_FIRST) || last;
}

/* A receive from any channel could meet an offer on one and go on with another's frames. */
static bool msg_safe_any(void)
{
	for (int c = 0; c < FUZZ_NCHAN; c++)
		if (!msg_safe(c))
			return false;
	return !offers_any();
}

/* Frames the core holds for channel c: parked, or still in the Rx ring (lent ones are out). */
static uint32_t core_pending(int c)
{
	const struct clcp__endpt_priv *p = F.ep->priv;
	uint32_t n = 0, ch = (uint32_t)F.chan[c];

	for (int32_t i = p->chq[ch].head; i >= 0; i = p->held[i].next)
		n++;
	for (uint32_t t = F.ep->rx_tail; t != F.ep->hdr->rx_head; t++)
		n += F.ep->rxq[t & F.ep->rx_mask].chan == ch;
	return n;
}

/* An offer the core takes as one: its descriptor's 24 bytes name its length (rx.c). */
static bool offer_ok(const struct mframe *f)
{
	struct clcp__pull d;

	if (f->len != sizeof(d))
		return false;
	memcpy(&d, f->data, sizeof(d));
	return d.len == f->msg_len && f->msg_len >= CLCP_MTU_MIN;
}

/*
 * The offers a receive on channel c met at c's head (before it, the core
 * held pend frames of c, the model's queue q0): each declined, its frames
 * follow; or the receive ended at one with its result n: -EPROTO for one it
 * cannot take, the channel's error once it failed. True when the receive
 * went on past them: n is for what follows.
 */
static bool offers_met(int c, uint32_t pend, uint32_t q0, ssize_t n)
{
	uint32_t lead = offers_first(c), i;
	uint32_t taken = pend + (F.m[c].qlen - q0) - core_pending(c); /* with those delivered since */

	F.met = 0;
	for (i = 0; i < lead && i < taken; i++) {
		bool ok = offer_ok(qfront(c, 0));

		qpop(c);
		F.met = i + 1;
		if (!ok) {
			CHECK(n == -EPROTO && i + 1 == taken, "chan %d: a bad offer gave %zd", c, n);
			return false;
		}
		if (uchan(c)->err) {
			CHECK(n == uchan(c)->err && i + 1 == taken,
			      "chan %d: an offer on a failed channel gave %zd", c, n);
			return false;
		}
	}
	if (i < lead) /* it ended before an offer */
		CHECK(n < 0, "chan %d: an offer at the head was passed over", c);
	return i == lead;
}

static int chan_index(int chan)
{
	for (int c = 0; c < FUZZ_NCHAN; c++)
		if (F.chan[c] == chan)
			return c;
	CHECK(0, "unknown channel %d", chan);
	return -1;
}

/* The message at c's head leaves the model; copied: its bytes are checked. Returns its length. */
/*
 * Chan c's head message: its bytes, and whether it ends with a last frame
 * (else the next message's first frame cuts it short, or it goes on).
 */
static size_t msg_scan(int c, bool *ends, bool *cut)
{
	size_t len = 0;

	*ends = *cut = false;
	for (uint32_t i = 0; i < F.m[c].qlen && !*ends && !*cut; i++) {
		const struct mframe *f = qfront(c, i);

		*cut = i > 0 && (f->flags & CLCP_QF_FIRST);
		if (!*cut) {
			len += f->len;
			*ends = f->flags & CLCP_QF_LAST;
		}
	}
	return len;
}

/* Takes chan c's head message from the model: up to its last frame, or the next's first. */
static size_t msg_take(int c, size_t got, bool copied)
{
	size_t off = 0;
	bool last;

	for (uint32_t i = 0;; i++) {
		const struct mframe *f = qfront(c, 0);

		CHECK(f, "chan %d: message longer than what was delivered", c);
		if (i && (f->flags & CLCP_QF_FIRST) && !copied)
			return off; /* cut short: the next message stays */
		CHECK(!(i && (f->flags & CLCP_QF_FIRST)), "chan %d: taken across a first frame", c);
		last = f->flags & CLCP_QF_LAST;
		if (copied)
			CHECK(off + f->len <= got && memcmp(F.rbuf + off, f->data, f->len) == 0,
			      "chan %d: message bytes %zu.. are not what was sent", c, off);
		off += f->len;
		qpop(c);
		if (last)
			break;
	}
	CHECK(!copied || off == got, "chan %d: message of %zu bytes, frames carried %zu", c, got,
	      off);
	return off;
}

/* The frames of chan c's unfinished message, dropped with its failed channel. */
static void msg_take_cut(int c)
{
	while (qfront(c, 0))
		qpop(c);
}

static void msg_result(int c, ssize_t n, size_t cap)
{
	const struct mframe *h = c >= 0 ? qfront(c, 0) : NULL;
	uint32_t msg_len = h ? h->msg_len : 0;
	bool known = msg_len != CLCP_MSG_LEN_UNKNOWN, ends, cut;

	if (n >= 0) {
		CHECK(h && (h->flags & CLCP_QF_FIRST) && (size_t)n <= cap, "chan %d: bad message",
		      c);
		msg_take(c, (size_t)n, true);
		CHECK(!known || msg_len == (size_t)n, "chan %d: message of %u bytes arrived as %zd",
		      c, msg_len, n);
	} else if (n == -EMSGSIZE) {
		CHECK(h && (h->flags & CLCP_QF_FIRST), "chan %d: EMSGSIZE without a message", c);
		if (!known && (msg_scan(c, &ends, &cut), ends)) /* frames, waited for whole: stays */
			CHECK(msg_scan(c, &ends, &cut) > cap, "chan %d: EMSGSIZE, but it fits", c);
		else if (!known || msg_len <= cap) /* taken as it came, too long: consumed */
			CHECK(msg_take(c, 0, false) > cap, "chan %d: EMSGSIZE, but it fit", c);
	} else if (n == -EPROTO) {
		CHECK(h, "chan %d: EPROTO without frames", c);
		if (h->flags & CLCP_QF_FIRST) { /* cut short, or a length mismatch: consumed */
			size_t got;

			msg_scan(c, &ends, &cut);
			got = msg_take(c, 0, false);
			CHECK(cut || (known && got != msg_len), "chan %d: EPROTO, but fine", c);
		}
	} else if (n == -ECONNRESET && h && (h->flags & CLCP_QF_FIRST) && !has_last(c)) {
		msg_take_cut(c); /* its peer is gone: a message cut short is dropped */
	} else {
		CHECK(n == -EAGAIN || n == -ENOBUFS || n == -ECONNRESET, "receive: %zd", n);
	}
}

/*
 * The receiver's next Rx posts do not call wake_senders: as when the NIC
 * (the progress thread) takes the lock first and handles more datagrams
 * with those buffers posted; the kept frames wait for the timers.
 */
static void late_wake(void)
{
	clcp_store_relaxed(&F.ep->hdr->rx_waiters, 0u);
}

/* clcp_peek_message: the head message's length, nothing taken. */
static void op_peek(int chan)
{
	ssize_t n = clcp_peek_message(F.ep, &chan, CLCP_NONBLOCK);
	const struct mframe *h;

	sync_all();
	if (n != -ENODATA && n < 0 && n != -EPROTO)
		return;
	h = qfront(chan_index(chan), 0);
	CHECK(h && (n == -EPROTO) == !(h->flags & CLCP_QF_FIRST), "peek: %zd", n);
	CHECK(n == -EPROTO || (n == -ENODATA) == (h->msg_len == CLCP_MSG_LEN_UNKNOWN), "peek: %zd",
	      n);
	CHECK(n < 0 || (size_t)n == h->msg_len, "peek: %zd, message of %u", n, h->msg_len);
}

static void op_msg(uint8_t a)
{
	int c = a & 3, chan = c == 3 ? CLCP_ANY : F.chan[c];
	size_t cap = fuzz_caps[(a >> 2) & 3];
	uint32_t pend, q0;
	ssize_t n;

	sync_all(); /* what came since (a release's reposts): pend and q0 agree */
	pend = c < 3 ? core_pending(c) : 0;
	q0 = c < 3 ? F.m[c].qlen : 0;
	if (c == 3 ? !msg_safe_any() : !msg_safe(c))
		return;
	if ((a & 0x20) || F.offers)
		late_wake();
	if (a & 0x40)
		return op_peek(chan);
	if (a & 0x10)
		n = clcp_poll_rx_msg(F.ep, &chan, F.msg, cap, CLCP_NONBLOCK);
	else
		n = clcp_rcv_message(F.ep, &chan, F.msg, cap, CLCP_NONBLOCK);
	sync_all();
	if (c < 3 && !offers_met(c, pend, q0, n))
		return;
	if (n >= 0 || n == -EMSGSIZE || n == -EPROTO || (n == -ECONNRESET && chan != CLCP_ANY))
		msg_result(chan_index(chan), n, cap);
	else
		msg_result(-1, n, cap);
}

static void lent_release(void)
{
	CHECK(clcp_release_frames(F.ep, F.lent, F.nlent) == 0, "release: %s", clcp_errmsg());
	F.nlent = 0;
	F.armed = F.want_wake = false;
}

/* One frame received and checked against the model; false if none. */
static bool frame_take(int chan)
{
	struct clcp_frame f;
	const struct mframe *w;
	int c = chan == CLCP_ANY ? -1 : chan_index(chan), rc;
	uint32_t pend, q0;

	sync_all(); /* what came since (a release's reposts): pend and q0 agree */
	pend = c >= 0 ? core_pending(c) : 0;
	q0 = c >= 0 ? F.m[c].qlen : 0;
	if (F.offers)
		late_wake();
	rc = clcp_rcv_frame(F.ep, chan, &f, CLCP_NONBLOCK);
	sync_all();
	F.take_rc = rc;
	if (c >= 0 && !offers_met(c, pend, q0, rc))
		return false;
	if (rc < 0) {
		CHECK(rc == -EAGAIN || rc == -ENOBUFS || rc == -ECONNRESET, "rcv_frame: %d", rc);
		return false;
	}
	c = chan_index(f.chan);
	w = qfront(c, 0);
	CHECK(w && w->len == f.len && w->msg_len == f.msg_len &&
		      w->flags == (f.flags & (CLCP_QF_FIRST | CLCP_QF_LAST)) &&
		      memcmp(w->data, f.data, f.len) == 0,
	      "chan %d: frame is not what was sent", c);
	qpop(c);
	F.lent[F.nlent++] = f;
	return true;
}

static void op_frame(uint8_t a)
{
	int c = a & 3;

	if ((a & 4) || F.nlent == LENT_MAX)
		lent_release();
	if (a & 8)
		late_wake();
	if (c == 3 && offers_any())
		return; /* from any channel it could decline an offer on one, take another's frame */
	frame_take(c == 3 ? CLCP_ANY : F.chan[c]);
}

/* Time passes for the engine: its time stamps move back by ms. */
static void time_warp(uint64_t ms)
{
	for (int c = 0; c < FUZZ_NCHAN; c++) {
		struct udp_chan *uc = uchan(c);

		for (uint32_t s = uc->snd_una; s != uc->snd_nxt; s++)
			uc->slot[s % UDP_WIN].sent_us -= ms * 1000u;
		uc->last_heard_ms -= ms;
		uc->last_sent_ms -= ms;
		uc->next_hello_ms -= ms;
		if (uc->wait_since_ms)
			uc->wait_since_ms -= ms;
	}
	F.u->timers_us -= ms * 1000u;
}

static void op_tick(uint8_t a)
{
	if (a & 0x80)
		F.armed = clcp_endpt_arm(F.ep) == 0;
	pthread_mutex_lock(&F.u->lock);
	time_warp((uint64_t)(a & 0x3f) * ((a & 0x40) ? 100u : 1u));
	udp_timers(F.u);
	udp_acks_flush(F.u);
	pthread_mutex_unlock(&F.u->lock);
	sync_all();
}

static void op_send(uint8_t a, uint8_t len)
{
	static const unsigned char data[256];
	int c = a % 3;
	bool seen;

	pthread_mutex_lock(&F.u->lock);
	seen = udp_seen(uchan(c)) && !uchan(c)->err; /* else a nonblocking send waits for a hello */
	pthread_mutex_unlock(&F.u->lock);
	if (seen)
		(void)clcp_send_frame(F.ep, F.chan[c], data, len,
				      CLCP_NONBLOCK | ((a & 4) ? CLCP_MORE : 0));
	sync_all();
}

/* Channel a % 3 released and allocated again: the new one starts empty. */
static void op_chan(uint8_t a)
{
	int c = a % 3;

	pthread_mutex_lock(&F.u->lock);
	if (uchan(c)->snd_una != uchan(c)->snd_nxt)
		uchan(c)->err = -ECONNRESET; /* released without lingering */
	pthread_mutex_unlock(&F.u->lock);
	CHECK(clcp_release_chan(F.ep, F.chan[c]) == 0, "release_chan: %s", clcp_errmsg());
	F.chan[c] = clcp_alloc_chan(F.ep, chan_def[c].my_port, chan_def[c].peer_node,
				    chan_def[c].peer_port);
	CHECK(F.chan[c] >= 0, "alloc_chan: %s", clcp_errmsg());
	model_reset(c);
	sync_all(); /* the release's reposts may deliver kept frames of the others */
}

/* --- a receive that waits and gives its buffer (FOP_WAIT, offers only) --- */

/* An offer holds a waiting receive's buffer, or is taken into it (the device's bulk_uc). */
static bool bulk_busy(void)
{
	for (int c = 0; c < FUZZ_NCHAN; c++)
		if (F.m[c].bstate >= MB_PRIMED)
			return true;
	return false;
}

static void wait_done(void)
{
	free(F.wbuf);
	F.wbuf = NULL;
	F.wchan = -1;
	F.wtake = false;
}

/*
 * A receive on channel a % 3 begins to wait (polling) with a buffer of
 * fuzz_rooms[(a >> 3) & 3] bytes (a & 4: from any channel, no buffer): it
 * tells the device as the core does (udp_pull_ready), which gives the
 * buffer to the offer due next (GRANT) when nothing is there to take.
 */
static void wait_begin(uint8_t a)
{
	int c = (a & 3) % FUZZ_NCHAN;
	const struct udp_chan *uc = uchan(c);
	struct mchan *m = &F.m[c];
	bool grant;

	F.wroom = fuzz_rooms[(a >> 3) & 3];
	F.wbuf = (a & 4) ? NULL : malloc(F.wroom); /* its exact size: ASan sees a write past it */
	CHECK((a & 4) || F.wbuf, "out of memory");
	F.wchan = c;
	grant = F.wbuf && F.wroom >= UDP_PULL_MIN && m->bstate == MB_NONE && !bulk_busy() &&
		udp_seen(uc) && !uc->err && F.ep->hdr->rx_head == F.ep->rx_tail && F.ep->nheld == 0;
	CHECK(udp_pull_ready(F.ep, F.chan[c], F.wbuf, F.wroom) == 0, "pull_ready");
	CHECK(grant == (uc->bulk.state == UDP_BULK_PRIMED), "chan %d: a GRANT %s", c,
	      grant ? "not given" : "given");
	if (!grant)
		return;
	m->bstate = MB_PRIMED;
	m->blen = (uint32_t)F.wroom;
	m->seq0 = m->nxt + 1;
}

/*
 * After an offer it declines, a receive takes the frames that follow as the
 * message without waiting: none of them an offer, up to a last frame or
 * the next message's first.
 */
static bool frames_follow(int c)
{
	for (uint32_t i = 1; i < F.m[c].qlen; i++) {
		const struct mframe *f = qfront(c, i);

		if (f->flags & CLCP_QF_PULL)
			return false;
		if ((f->flags & CLCP_QF_LAST) || (i > 1 && (f->flags & CLCP_QF_FIRST)))
			return true;
	}
	return false;
}

/* What the receive meets in the offer that took its buffer, at its channel's head. */
enum take_kind {
	TK_NO_MESSAGE, /* it begins no message: -EPROTO, and it stays */
	TK_BAD,	       /* its descriptor is not one: -EPROTO */
	TK_FAILED,     /* its channel failed: the channel's error */
	TK_DONE,       /* all of it is in the buffer: taken */
	TK_COMING,     /* its frames still come into the buffer: the take would wait */
	TK_WITHDRAWN,  /* withdrawn: its frames follow as a message */
	TK_NOT_ITS,    /* not the offer the buffer went to: declined, its frames follow */
};

static enum take_kind take_kind(int c)
{
	const struct mframe *o = qfront(c, 0);

	CHECK(o && (o->flags & CLCP_QF_PULL), "chan %d: the offer that took the buffer is gone", c);
	if (!(o->flags & CLCP_QF_FIRST))
		return TK_NO_MESSAGE;
	if (!offer_ok(o))
		return TK_BAD;
	if (uchan(c)->err)
		return TK_FAILED;
	if (o->seq + 1 != F.m[c].seq0)
		return TK_NOT_ITS;
	return F.m[c].bstate == MB_DONE ? TK_DONE
	       : F.m[c].bstate == MB_WAIT ? TK_COMING
					   : TK_WITHDRAWN;
}

/* The offer that took the waiting receive's buffer can be taken without a wait. */
static bool take_now(int c)
{
	enum take_kind k = take_kind(c);

	return k != TK_COMING && ((k != TK_WITHDRAWN && k != TK_NOT_ITS) || frames_follow(c));
}

/*
 * The receive takes the offer that took its buffer (clcp_poll_rx_msg, as
 * the core's receive goes on to). At its end the device lets the buffer
 * go: taken, or the channel resets (an offer it could not take there).
 */
static void take_run(int c)
{
	struct mchan *m = &F.m[c];
	enum take_kind k = take_kind(c);
	int chan = F.chan[c], err = uchan(c)->err;
	ssize_t n;

	late_wake();
	n = clcp_poll_rx_msg(F.ep, &chan, F.wbuf, F.wroom, 0);
	sync_all();
	m->bstate = MB_NONE;
	if (k != TK_NO_MESSAGE) /* else it stays (clcp_rcv_frame declines it) */
		qpop(c);
	if (k == TK_NO_MESSAGE || k == TK_BAD) {
		CHECK(n == -EPROTO, "chan %d: an offer that is not one taken: %zd", c, n);
	} else if (k == TK_FAILED) {
		CHECK(n == err, "chan %d: an offer on a failed channel taken: %zd", c, n);
	} else if (k == TK_DONE) {
		CHECK(n == (ssize_t)m->blen, "chan %d: an offer of %u bytes taken: %zd", c, m->blen, n);
	} else {
		F.rbuf = F.wbuf;
		msg_result(c, n, F.wroom);
		F.rbuf = F.msg;
	}
	/* Not taken there, the receive's end resets the channel (unprime: owed twice). */
	CHECK((k == TK_DONE || k == TK_WITHDRAWN) == !uchan(c)->err,
	      "chan %d: reset or not after %zd", c, n);
	CHECK(uchan(c)->bulk.state == UDP_BULK_NONE && !UDPE(F.ep)->bulk_uc,
	      "chan %d: the receive returned, its buffer is still the device's", c);
	wait_done(); /* freed: a write into it now is ASan's */
}

/*
 * The waiting receive's take, when it need not wait; force: its channel
 * fails first (as when its peer is found dead), so it need not.
 */
static void take_try(bool force)
{
	int c = F.wchan;

	if (!F.wtake)
		return;
	if (force) {
		pthread_mutex_lock(&F.u->lock);
		if (!uchan(c)->err)
			uchan(c)->err = -ECONNRESET;
		pthread_mutex_unlock(&F.u->lock);
	}
	if (take_now(c))
		take_run(c);
}

/*
 * The waiting receive's wait ends: it takes its READY back as the core
 * does (udp_pull_ready with no room), which says whether an offer took its
 * buffer meanwhile; then it takes that offer.
 */
static void wait_end(void)
{
	int c = F.wchan;
	enum mbulk st;
	bool owed;

	if (c < 0 || F.wtake)
		return;
	st = F.m[c].bstate;
	owed = st == MB_WAIT || st == MB_DONE || st == MB_DECLINED;
	CHECK(udp_pull_ready(F.ep, F.chan[c], NULL, 0) == owed, "chan %d: owed is not %d", c,
	      owed);
	if (st == MB_PRIMED)
		F.m[c].bstate = MB_NONE;
	if (!owed)
		return wait_done();
	F.wtake = true;
	take_try(false);
}

/* FOP_WAIT: a & 0x80 ends the wait, else one begins (the one before ends first). */
static void op_wait(uint8_t a)
{
	wait_end();
	if (!(a & 0x80) && !F.wtake)
		wait_begin(a);
}

/* Before a call of the user's: a receive that waits ends; false while it waits for its take. */
static bool user_turn(void)
{
	wait_end();
	return !F.wtake;
}

/* Armed, then a last frame: the endpoint fd is readable. */
static void wake_check(void)
{
	struct pollfd p = { .fd = clcp_endpt_fd(F.ep), .events = POLLIN };

	if (!F.want_wake)
		return;
	CHECK(poll(&p, 1, 0) == 1, "armed, a last frame came, the fd is not readable");
	F.armed = F.want_wake = false;
}

/* --- one input --- */

static void drain_peers(void)
{
	unsigned char b[64];

	for (int i = 0; i < 2; i++)
		while (recv(F.peer_sock[i], b, sizeof(b), MSG_DONTWAIT) >= 0)
			;
}

static void input_start(uint8_t cfg)
{
	struct clcp_endpt_attr a;

	clcp_endpt_attr_init(&a);
	a.rxq_len = 2u << (cfg & 3);
	a.txq_len = 4;
	F.offers = cfg & FUZZ_CFG_OFFERS;
	/* With offers, the user's calls never run the engine (udp_progress holds back). */
	clcp_store_relaxed(&F.u->thread_waits, F.offers);
	a.mtu = F.offers ? UDP_DIRECT_MIN : fuzz_mtus[(cfg >> 2) & 3];
	a.nchan = 4;
	CHECK(clcp_alloc_endpt(F.dev, &a, &F.ep) == 0, "alloc_endpt: %s", clcp_errmsg());
	for (int c = 0; c < FUZZ_NCHAN; c++) {
		F.chan[c] = clcp_alloc_chan(F.ep, chan_def[c].my_port, chan_def[c].peer_node,
					    chan_def[c].peer_port);
		CHECK(F.chan[c] >= 0, "alloc_chan: %s", clcp_errmsg());
	}
	for (int c = 0; c < FUZZ_NCHAN; c++)
		model_reset(c);
	CHECK(F.ep->priv->stride <= 2 * UDP_DIRECT_MIN, "Rx buffers longer than the canary");
	F.nlent = 0;
	F.wchan = -1;
	F.rbuf = F.msg;
	F.painted = calloc(F.ep->hdr->nrxbuf, 1);
	CHECK(F.painted, "out of memory");
	memset(F.ep->base + F.ep->priv->size, CANARY, tail_len());
	paint();
}

/* Every delivered frame reaches the user; then the endpoint goes. */
static void input_end(void)
{
	wait_end();
	take_try(true);
	lent_release();
	/* A failed channel is reported once (-ECONNRESET); the others' frames still come. */
	for (int c = 0; F.offers && c < FUZZ_NCHAN; c++) /* channel by channel: offers are met */
		for (int failed = 0; frame_take(F.chan[c]) || F.met ||
				     (F.take_rc == -ECONNRESET && ++failed <= 1);)
			if (F.nlent == LENT_MAX)
				lent_release();
	for (int failed = 0; frame_take(CLCP_ANY) ||
			     (F.take_rc == -ECONNRESET && ++failed <= FUZZ_NCHAN);)
		if (F.nlent == LENT_MAX)
			lent_release();
	for (int c = 0; c < FUZZ_NCHAN; c++)
		CHECK(F.m[c].qlen == 0, "chan %d: %u delivered frames never received", c,
		      F.m[c].qlen);
	lent_release();
	pthread_mutex_lock(&F.u->lock);
	for (int c = 0; c < FUZZ_NCHAN; c++)
		if (!uchan(c)->err)
			uchan(c)->err = -ECONNRESET; /* release without lingering */
	pthread_mutex_unlock(&F.u->lock);
	CHECK(clcp_release_endpt(F.ep) == 0, "release_endpt: %s", clcp_errmsg());
	free(F.painted);
	drain_peers();
}

static size_t op_run(const unsigned char *in, size_t n)
{
	uint8_t op = in[0] % FOP_COUNT;

	in++;
	n--;
	switch (op) {
	case FOP_DGRAM2:
		if (F.offers) {
			if (n && user_turn())
				op_wait(in[0]);
			return 1 + (n > 0);
		}
		/* fall through */
	case FOP_DGRAM:
		return 1 + op_dgram(in, n);
	case FOP_CHAN:
		if (n && user_turn())
			op_chan(in[0]);
		return 1 + (n > 0);
	case FOP_RAW:
		return 1 + op_raw(in, n);
	case FOP_MSG:
		if (n && user_turn())
			op_msg(in[0]);
		return 1 + (n > 0);
	case FOP_FRAME:
		if (n && user_turn())
			op_frame(in[0]);
		return 1 + (n > 0);
	case FOP_TICK:
		if (n)
			op_tick(in[0]);
		return 1 + (n > 0);
	default:
		if (n >= 2 && user_turn())
			op_send(in[0], in[1]);
		return 1 + (n < 2 ? n : 2);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
	size_t used;

	if (n == 0)
		return 0;
	input_start(in[0]);
	for (used = 1; used < n;) {
		used += op_run(in + used, n - used);
		take_try(false);
		paint_check();
		paint();
		wake_check();
	}
	input_end();
	return 0;
}
