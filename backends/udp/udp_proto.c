/* SPDX-License-Identifier: MIT */
/*
 * UDP backend, the protocol engine: datagrams in (validate, deliver into
 * the Rx ring, acks), datagrams out (data, acks, hellos, resets), timers
 * (retransmission, keep-alive, dead peers) and the progress thread.
 * Everything here runs with udp_dev.lock held unless it says otherwise.
 */
#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "udp.h"

#define UDP_GSO_SEGS 64u /* datagrams the kernel cuts one message into, at most */

/* A received header in host order. */
struct udp_frame {
	uint8_t version, flags;
	uint16_t dst_port, src_port;
	uint16_t credit; /* data frames: free Rx slots at the sender (rsvd in the ABI header) */
	uint16_t marks;	 /* data frames: UDP_RSVD_OFFER, UDP_RSVD_BULK (rsvd's other bits) */
	uint32_t src_node, len, msg_len, seq, ack, key;
	/* A control frame's incarnations, its channel's and that channel's peer's (0: none, or not known). */
	uint64_t inc, dst_inc;
};

uint64_t udp_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t now_ms(void)
{
	return udp_now_us() / 1000u;
}

/* --- wire format --- */

static void put_be32(unsigned char *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static uint32_t get_be32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

static void hdr_put(struct clcp_frame_hdr *h, const struct udp_frame *f)
{
	h->version = CLCP_FRAME_VERSION;
	h->flags = f->flags;
	h->dst_port = htons(f->dst_port);
	h->src_port = htons(f->src_port);
	h->rsvd = htons((uint16_t)(f->credit | f->marks));
	h->src_node = htonl(f->src_node);
	h->len = htonl(f->len);
	h->msg_len = htonl(f->msg_len);
	h->seq = htonl(f->seq);
	h->ack = htonl(f->ack);
	h->key = htonl(f->key);
}

/* Bytes after the payload, before the CRC: a SACK bitmap in acks that carry one. */
static bool tail_ok(const struct udp_frame *f, size_t extra)
{
	if (f->flags & UDP_FF_SACK)
		return extra == UDP_SACK_LEN && !(f->flags & CLCP_FF_DATA) &&
		       (f->flags & CLCP_FF_ACK);
	return extra == 0;
}

/*
 * A control frame carries the incarnations (UDP_CTL_LEN), an answer to an
 * offer more (UDP_CTL_ANSWER_LEN); a reset for no channel, nothing.
 */
static bool ctl_len_ok(const struct udp_frame *f)
{
	return (f->flags & CLCP_FF_DATA) || f->len == UDP_CTL_LEN ||
	       (f->len == UDP_CTL_ANSWER_LEN && !(f->flags & (UDP_FF_RST | UDP_FF_HELLO))) ||
	       (f->len == 0 && (f->flags & UDP_FF_RST));
}

/* Copies len bytes from offset off of what follows the header. */
static void rxd_read(const struct udp_rxd *d, size_t off, void *dst, size_t len)
{
	unsigned char *o = dst;

	for (; len; len--, off++)
		*o++ = off < d->body_len ? d->body[off] : d->spill[off - d->body_len];
}

/* The 8 big-endian bytes at offset off after the header. */
static uint64_t rxd_be64(const struct udp_rxd *d, size_t off)
{
	unsigned char b[8];

	rxd_read(d, off, b, sizeof(b));
	return (uint64_t)get_be32(b) << 32 | get_be32(b + 4);
}

#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION /* a fuzzer could not get past the CRC */
/* CRC32C of the header and the first len bytes after it. */
static uint32_t rxd_crc(const struct udp_rxd *d, size_t len)
{
	size_t in_body = len < d->body_len ? len : d->body_len;
	uint32_t crc;

	if (d->body == d->hdr + UDP_HDR_LEN) { /* read in one piece: one pass */
		crc = udp_crc32c(0, d->hdr, UDP_HDR_LEN + in_body);
	} else {
		crc = udp_crc32c(0, d->hdr, UDP_HDR_LEN);
		if (in_body)
			crc = udp_crc32c(crc, d->body, in_body);
	}
	return len > in_body ? udp_crc32c(crc, d->spill, len - in_body) : crc;
}

/*
 * The CRC32C at the end of the datagram (n: bytes before it): 0 right, else
 * the drop reason (a trailer of 0: the sender has crc=0, most likely).
 */
static int rxd_crc_check(const struct udp_rxd *d, size_t n)
{
	unsigned char wire[UDP_CRC_LEN];

	rxd_read(d, n - UDP_HDR_LEN, wire, sizeof(wire));
	if (rxd_crc(d, n - UDP_HDR_LEN) == get_be32(wire))
		return 0;
	return get_be32(wire) ? UDP_DROP_CRC + 1 : UDP_DROP_CRC_OFF + 1;
}
#else
static int rxd_crc_check(const struct udp_rxd *d, size_t n)
{
	(void)d, (void)n;
	return 0;
}
#endif

/* Parses and checks a datagram's header and CRC: 0 or a drop reason (> 0). */
static int hdr_get(const struct udp_rxd *d, const struct udp_conf *c, struct udp_frame *f)
{
	size_t n = d->n;
	struct clcp_frame_hdr h;
	int why;

	if (n < UDP_HDR_LEN + UDP_CRC_LEN)
		return UDP_DROP_SHORT + 1;
	n -= UDP_CRC_LEN;
	why = c->no_crc ? 0 : rxd_crc_check(d, n);
	if (why)
		return why;
	memcpy(&h, d->hdr, sizeof(h));
	if (h.version != CLCP_FRAME_VERSION)
		return UDP_DROP_VERSION + 1;
	f->key = ntohl(h.key);
	if (f->key != c->key)
		return UDP_DROP_KEY + 1;
	f->flags = h.flags;
	f->dst_port = ntohs(h.dst_port);
	f->src_port = ntohs(h.src_port);
	f->credit = ntohs(h.rsvd) & UDP_RSVD_CREDIT;
	f->marks = (f->flags & CLCP_FF_DATA) ? ntohs(h.rsvd) & (UDP_RSVD_OFFER | UDP_RSVD_BULK) : 0;
	f->src_node = ntohl(h.src_node);
	f->len = ntohl(h.len);
	f->msg_len = ntohl(h.msg_len);
	f->seq = ntohl(h.seq);
	f->ack = ntohl(h.ack);
	/* The payload is contiguous in body (a longer one is dropped by data_in anyway). */
	if (f->len > n - UDP_HDR_LEN || f->len > d->body_len || !ctl_len_ok(f) ||
	    !tail_ok(f, n - UDP_HDR_LEN - f->len))
		return UDP_DROP_LEN + 1;
	f->inc = f->dst_inc = 0;
	if ((f->flags & CLCP_FF_DATA) || !f->len)
		return 0;
	f->inc = rxd_be64(d, 0);
	f->dst_inc = rxd_be64(d, UDP_INC_LEN);
	return f->inc ? 0 : UDP_DROP_LEN + 1; /* an incarnation is never 0 */
}

/* Test hook (CLCP_UDP_TEST_LOSS): drops loss_pm per mille of what we send. */
static bool test_lost(struct udp_dev *u)
{
	u->loss_seed = u->loss_seed * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(u->loss_seed >> 33) % 1000u < u->loss_pm;
}

static size_t dgram_len(const struct msghdr *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->msg_iovlen; i++)
		n += m->msg_iov[i].iov_len;
	return n;
}

/* One datagram: a small one on a connected socket gathered for send(), else sendmsg. */
static void send_one(const struct udp_txb *b)
{
	const struct msghdr *m = &b->mm[0].msg_hdr;
	unsigned char d[UDP_SMALL_DGRAM];
	size_t n = dgram_len(m);

	if (m->msg_name || n > sizeof(d)) {
		(void)!sendmsg(b->fd, m, MSG_DONTWAIT);
		return;
	}
	n = 0;
	for (size_t i = 0; i < m->msg_iovlen; i++) {
		if (m->msg_iov[i].iov_len)
			memcpy(d + n, m->msg_iov[i].iov_base, m->msg_iov[i].iov_len);
		n += m->msg_iov[i].iov_len;
	}
	(void)!send(b->fd, d, n, MSG_DONTWAIT);
}

/*
 * Datagrams i.. that can go as one segmented message: on the connected
 * socket (no address of their own), equal sizes, the last may be shorter.
 */
static unsigned gso_run(const struct udp_txb *b, unsigned i)
{
	size_t seg = dgram_len(&b->mm[i].msg_hdr), total = seg;
	unsigned j = i + 1;

	if (b->mm[i].msg_hdr.msg_name)
		return 1;
	while (j < b->n && j - i < UDP_GSO_SEGS && !b->mm[j].msg_hdr.msg_name) {
		size_t len = dgram_len(&b->mm[j].msg_hdr);

		if (len > seg || total + len > UDP_DGRAM_MAX)
			break;
		total += len;
		j++;
		if (len < seg)
			break;
	}
	return j - i;
}

/* gm[g]: datagrams i..i+n-1, as one message cut up by the kernel when n > 1. */
static void gso_message(struct udp_txb *b, unsigned g, unsigned i, unsigned n)
{
	struct msghdr *m = &b->gm[g].msg_hdr;
	struct cmsghdr *cm = (struct cmsghdr *)b->gso_cm[g].b;
	uint16_t seg = (uint16_t)dgram_len(&b->mm[i].msg_hdr);

	b->gm[g] = b->mm[i];
	b->gn[g] = n;
	if (n == 1)
		return;
	m->msg_iovlen = 3 * n; /* b->iov[i..]: three each, contiguous */
	m->msg_control = b->gso_cm[g].b;
	m->msg_controllen = sizeof(b->gso_cm[g].b);
	cm->cmsg_level = SOL_UDP;
	cm->cmsg_type = UDP_SEGMENT;
	cm->cmsg_len = CMSG_LEN(sizeof(seg));
	memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
}

/* Whether the batch's datagrams may go segmented: the kernel and the path to their peer allow it. */
static bool gso_allowed(struct udp_dev *u)
{
	const struct udp_psock *ps = udp_psock_of(u, u->txb.fd);

	return !u->no_gso && ps && !ps->no_gso;
}

/*
 * Datagrams first.. of the batch as messages in gm from g on (runs of
 * them when gso): the messages' end.
 */
static unsigned gso_batch(struct udp_txb *b, unsigned g, unsigned first, bool gso)
{
	for (unsigned i = first, n; i < b->n; i += n, g++) {
		n = gso ? gso_run(b, i) : 1;
		gso_message(b, g, i, n);
	}
	return g;
}

/* The first datagram of message g. */
static unsigned gso_first(const struct udp_txb *b, unsigned g)
{
	unsigned i = 0;

	for (unsigned k = 0; k < g; k++)
		i += b->gn[k];
	return i;
}

/*
 * Errors of a segmented send that say the path cannot take one: a device
 * without checksum offload (EIO), segments larger than the path's MTU
 * (EMSGSIZE, EINVAL; plain datagrams are fragmented). A kernel without
 * UDP_SEGMENT is found when the socket opens (udp_sock_open).
 */
static bool gso_refused(int err)
{
	return err == EIO || err == EINVAL || err == EMSGSIZE || err == ENOPROTOOPT ||
	       err == EOPNOTSUPP;
}

/* Sends the batch now, whatever the nesting: one sendmmsg, more if the kernel took only part. */
void udp_tx_send(struct udp_dev *u)
{
	struct udp_txb *b = &u->txb;
	unsigned done = 0, g;

	udp_xsk_kick(u); /* xdp mode: what waits on the AF_XDP ring goes too */
	if (b->n == 1) { /* the ping-pong case: one datagram, the cheapest call */
		u->st.tx_batches++;
		send_one(b);
		b->n = 0;
		return;
	}
	g = gso_batch(b, 0, 0, gso_allowed(u));
	while (done < g) {
		int r = sendmmsg(b->fd, b->gm + done, g - done, MSG_DONTWAIT);

		u->st.tx_batches++;
		if (r < 0 && b->gn[done] > 1 && gso_refused(errno)) {
			udp_psock_of(u, b->fd)->no_gso = true; /* this peer's path: plain from here on */
			g = gso_batch(b, done, gso_first(b, done), false);
			continue;
		}
		if (r <= 0) /* socket buffer full: lost like on a wire, retransmitted */
			break;
		for (unsigned k = done; k < done + (unsigned)r; k++)
			u->st.tx_gso += b->gn[k] > 1 ? b->gn[k] : 0;
		done += (unsigned)r;
	}
	b->n = 0;
}

/* Datagrams sent until the matching udp_tx_flush go out in one sendmmsg. */
void udp_tx_begin(struct udp_dev *u)
{
	u->txb.depth++;
}

/* Ends a udp_tx_begin without sending: the datagrams go with the next send (a message's last frame). */
void udp_tx_hold(struct udp_dev *u)
{
	if (u->txb.depth > 0)
		u->txb.depth--;
}

void udp_tx_flush(struct udp_dev *u)
{
	if (u->txb.depth > 0 && --u->txb.depth > 0)
		return;
	if (u->txb.n)
		udp_tx_send(u);
	else
		udp_xsk_kick(u);
}

/* The CRC32C of header, payload (its own CRC known: pcrc) and tail. */
static uint32_t dgram_crc(const struct clcp_frame_hdr *h, const void *payload, size_t len,
			  const uint32_t *pcrc, const unsigned char *tail, size_t tl)
{
	uint32_t crc = udp_crc32c(0, h, UDP_HDR_LEN);

	if (len && pcrc)
		crc = udp_crc32c_combine(crc, *pcrc, len);
	else if (len)
		crc = udp_crc32c(crc, payload, len);
	return udp_crc32c(crc, tail, tl);
}

/*
 * A small datagram alone on a connected socket (a ping-pong's reply, an
 * ack): built in one piece, so one CRC32C pass over it and a plain send().
 */
static void send_small(struct udp_dev *u, int fd, const struct udp_frame *f,
		       const void *payload, const uint64_t *sack)
{
	union {
		struct clcp_frame_hdr h;
		unsigned char b[UDP_SMALL_DGRAM];
	} d;
	size_t n = UDP_HDR_LEN + f->len;

	hdr_put(&d.h, f);
	if (f->len)
		memcpy(d.b + UDP_HDR_LEN, payload, f->len);
	if (sack) {
		put_be32(d.b + n, (uint32_t)(*sack >> 32));
		put_be32(d.b + n + 4, (uint32_t)*sack);
		n += UDP_SACK_LEN;
	}
	put_be32(d.b + n, u->conf.no_crc ? 0 : udp_crc32c(0, d.b, n));
	u->st.tx_batches++;
	(void)!send(fd, d.b, n + UDP_CRC_LEN, MSG_DONTWAIT);
}

/*
 * One datagram: header, payload, the SACK bitmap if any, the CRC32C of all
 * that; on socket fd, to `to` (NULL: fd is connected).
 */
static void send_dgram(struct udp_dev *u, int fd, const struct sockaddr_storage *to,
		       socklen_t tolen, const struct udp_frame *f, const void *payload,
		       const uint32_t *pcrc, const uint64_t *sack)
{
	struct udp_txb *b = &u->txb;
	unsigned char *tail;
	size_t tl = 0;
	unsigned i;

	if (u->loss_pm && test_lost(u))
		return;
	if (b->depth == 0 && b->n == 0 && !to &&
	    UDP_HDR_LEN + f->len + UDP_SACK_LEN + UDP_CRC_LEN <= UDP_SMALL_DGRAM) {
		send_small(u, fd, f, payload, sack);
		return;
	}
	if (b->n && b->fd != fd)
		udp_tx_send(u); /* one sendmmsg per socket */
	i = b->n;
	tail = b->tail[i];
	b->fd = fd;
	if (!(f->flags & CLCP_FF_DATA) && f->len) /* the caller's, on its stack */
		payload = memcpy(b->ctl[i], payload, f->len);
	hdr_put(&b->hdr[i], f);
	if (sack) {
		put_be32(tail, (uint32_t)(*sack >> 32));
		put_be32(tail + 4, (uint32_t)*sack);
		tl = UDP_SACK_LEN;
	}
	put_be32(tail + tl,
		 u->conf.no_crc ? 0 : dgram_crc(&b->hdr[i], payload, f->len, pcrc, tail, tl));
	b->iov[i][0] = (struct iovec){ &b->hdr[i], UDP_HDR_LEN };
	b->iov[i][1] = (struct iovec){ (void *)payload, f->len };
	b->iov[i][2] = (struct iovec){ tail, tl + UDP_CRC_LEN };
	b->mm[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = b->iov[i], .msg_iovlen = 3 } };
	if (to) {
		memcpy(&b->to[i], to, tolen);
		b->mm[i].msg_hdr.msg_name = &b->to[i];
		b->mm[i].msg_hdr.msg_namelen = tolen;
	}
	b->n++;
	if (b->depth == 0 || b->n == UDP_BATCH)
		udp_tx_send(u);
}

/*
 * The datagram at p in a UMEM frame, its payload there: header, SACK map,
 * CRC32C, then onto the AF_XDP Tx ring (the kernel is told when the batch
 * ends).
 */
static void xsk_seal(struct udp_dev *u, unsigned char *p, const struct udp_frame *f,
		     const uint32_t *pcrc, const uint64_t *sack)
{
	size_t tl = sack ? UDP_SACK_LEN : 0;
	unsigned char *tail = p + UDP_HDR_LEN + f->len;

	hdr_put((struct clcp_frame_hdr *)p, f); /* 4-aligned */
	if (sack) {
		put_be32(tail, (uint32_t)(*sack >> 32));
		put_be32(tail + 4, (uint32_t)*sack);
	}
	put_be32(tail + tl, u->conf.no_crc ? 0 :
					     dgram_crc((const struct clcp_frame_hdr *)p,
						       p + UDP_HDR_LEN, f->len, pcrc, tail, tl));
	udp_xsk_tx_put(u, UDP_HDR_LEN + f->len + tl + UDP_CRC_LEN);
	if (u->txb.depth == 0)
		udp_xsk_kick(u);
}

/*
 * xdp mode: a channel's datagram built in a UMEM frame, its payload copied
 * there. False when the ring cannot take it: the socket sends it.
 */
static bool xsk_dgram(struct udp_dev *u, const struct udp_chan *uc, const struct udp_frame *f,
		      const void *payload, const uint32_t *pcrc, const uint64_t *sack)
{
	size_t n = UDP_HDR_LEN + f->len + (sack ? UDP_SACK_LEN : 0) + UDP_CRC_LEN;
	unsigned char *p;

	if (u->loss_pm && test_lost(u))
		return true;
	p = udp_xsk_tx_get(u, &uc->peer, n);
	if (!p)
		return false;
	if (f->len)
		memcpy(p + UDP_HDR_LEN, payload, f->len);
	xsk_seal(u, p, f, pcrc, sack);
	return true;
}

/*
 * xdp mode: a data frame sent from the UMEM frame its store slot holds
 * (no copy). False when that cannot be (the ring is full, the peer's
 * address unknown, the frame still on the ring): the caller copies.
 */
static bool xsk_dgram_at(struct udp_dev *u, const struct udp_chan *uc, const struct udp_frame *f,
			 const struct udp_slot *s)
{
	unsigned char *p =
		udp_xsk_tx_at(u, &uc->peer, UDP_HDR_LEN + f->len + UDP_CRC_LEN, s->xframe);

	if (!p)
		return false;
	if (u->loss_pm && test_lost(u))
		return true; /* nothing went on the ring */
	u->st.xdp_tx_inplace++;
	xsk_seal(u, p, f, NULL, NULL);
	return true;
}

/* A datagram of a channel: by the AF_XDP ring (xdp mode), else on its peer's socket. */
static void chan_send(struct udp_dev *u, const struct udp_chan *uc, const struct udp_frame *f,
		      const void *payload, const uint32_t *pcrc, const uint64_t *sack)
{
	if (u->xsk && xsk_dgram(u, uc, f, payload, pcrc, sack))
		return;
	send_dgram(u, uc->fd, uc->conn ? NULL : &uc->peer, uc->peer_len, f, payload, pcrc, sack);
}

static void frame_init(struct udp_dev *u, struct udp_chan *uc, struct udp_frame *f,
		       uint8_t flags)
{
	const struct clcp_chan_desc *d = &uc->ep->chans[uc->idx];

	memset(f, 0, sizeof(*f));
	f->flags = flags;
	f->dst_port = d->peer_port;
	f->src_port = d->my_port;
	f->src_node = u->self.node;
	f->key = u->conf.key;
	f->ack = uc->rcv_nxt;
	f->seq = uc->snd_nxt;
}

static uint32_t credit_max(const struct clcp_endpt *ep)
{
	return ep->rx_mask + 1 < UDP_WIN ? ep->rx_mask + 1 : UDP_WIN;
}

/*
 * Free posted Rx slots from rx_head on, at most UDP_WIN: the credit. Slots
 * counted once stay posted until the NIC fills them (only the NIC takes a
 * posted slot back), so each count reads only the slots beyond the last.
 */
uint32_t udp_rx_credit(struct clcp_endpt *ep)
{
	struct udp_ep *ue = UDPE(ep);
	uint32_t head = ep->hdr->rx_head, n = ue->rx_known - head, max = credit_max(ep);

	if (n > max) /* rx_head passed it (or never counted) */
		n = 0;
	for (; n < max; n++)
		/* A4: pairs with the user's R4 that posted the slot. */
		if (clcp_load_acquire(&ep->rxq[(head + n) & ep->rx_mask].owner) != CLCP_OWNER_NIC)
			break;
	ue->rx_known = head + n;
	return n;
}

/*
 * The credit to advertise. F2: rx_waiters is set before the slots are
 * counted, so the user's next post calls wake_senders (F1); cleared at
 * full credit, which no post can raise.
 */
uint32_t udp_rx_credit_f2(struct clcp_endpt *ep)
{
	uint32_t credit;

	clcp_store_relaxed(&ep->hdr->rx_waiters, 1u);
	clcp_fence_full();
	credit = udp_rx_credit(ep);
	if (credit >= credit_max(ep))
		clcp_store_relaxed(&ep->hdr->rx_waiters, 0u);
	return credit;
}

/*
 * The credit a data frame carries (the header's rsvd field): the count
 * alone when it is full, else as for an ack (F2). The sender takes it only
 * when it moves the edge forward, so the receiver's edge only advances too.
 */
static uint32_t data_credit(struct udp_chan *uc)
{
	uint32_t credit = udp_rx_credit(uc->ep);

	if (credit < credit_max(uc->ep))
		credit = udp_rx_credit_f2(uc->ep);
	if ((int32_t)(uc->rcv_nxt + credit - uc->rcv_edge) > 0)
		uc->rcv_edge = uc->rcv_nxt + credit;
	return credit;
}

/* Bit i: frame rcv_nxt + i is kept here (after a hole, or waiting for a buffer). */
static uint64_t sack_map(const struct udp_chan *uc)
{
	uint64_t map = 0;

	if (!uc->kept)
		return 0;
	for (uint32_t i = 0; i < UDP_WIN; i++)
		if (uc->oslot[(uc->rcv_nxt + i) % UDP_WIN].have)
			map |= 1ull << i;
	return map;
}

/* An ack, hello or reset; with answer, also the answer to an offer (seq, verdict). */
static void send_ctl(struct udp_dev *u, struct udp_chan *uc, uint8_t flags, const uint32_t *answer)
{
	struct udp_frame f;
	uint32_t credit;
	uint64_t sack = flags & UDP_FF_RST ? 0 : sack_map(uc);
	/* ours, then the peer's as we know it, then the answer (send_dgram copies) */
	unsigned char pl[UDP_CTL_ANSWER_LEN];

	put_be32(pl, (uint32_t)(uc->inc >> 32));
	put_be32(pl + 4, (uint32_t)uc->inc);
	put_be32(pl + 8, (uint32_t)(uc->peer_inc >> 32));
	put_be32(pl + 12, (uint32_t)uc->peer_inc);
	frame_init(u, uc, &f, flags | CLCP_FF_ACK | (sack ? UDP_FF_SACK : 0));
	f.len = UDP_CTL_LEN;
	if (answer) {
		put_be32(pl + UDP_CTL_LEN, answer[0]);
		put_be32(pl + UDP_CTL_LEN + 4, answer[1]);
		f.len = UDP_CTL_ANSWER_LEN;
	}
	if (!udp_seen(uc))
		f.flags |= UDP_FF_HELLO;
	/* F2: a small credit makes the user's next post call wake_senders (F1). */
	credit = udp_rx_credit_f2(uc->ep);
	f.msg_len = credit;
	uc->rcv_edge = uc->rcv_nxt + credit;
	uc->ack_owed = false;
	uc->last_sent_ms = now_ms();
	u->st.tx_acks++;
	u->st.tx_sacks += sack != 0;
	chan_send(u, uc, &f, pl, NULL, sack ? &sack : NULL);
}

void udp_send_ctl(struct udp_dev *u, struct udp_chan *uc, uint8_t flags)
{
	send_ctl(u, uc, flags, NULL);
}

void udp_send_answer(struct udp_dev *u, struct udp_chan *uc, uint32_t seq, enum udp_answer a)
{
	const uint32_t answer[2] = { seq, (uint32_t)a };

	send_ctl(u, uc, 0, answer);
}

/* Where frame seq waits for its ack: a UMEM frame (xdp mode), or the store. */
static const unsigned char *slot_data(const struct udp_dev *u, const struct udp_chan *uc,
				      uint32_t seq)
{
	const struct udp_slot *s = &uc->slot[seq % UDP_WIN];

	if (s->lent)
		return s->lent;
	if (s->umem)
		return udp_xsk_store_data(u, s->xframe);
	return uc->store + (size_t)(seq % UDP_WIN) * uc->ep->mtu;
}

void udp_send_data(struct udp_dev *u, struct udp_chan *uc, uint32_t seq)
{
	struct udp_slot *s = &uc->slot[seq % UDP_WIN];
	struct udp_frame f;

	frame_init(u, uc, &f, CLCP_FF_DATA | CLCP_FF_ACK | s->flags);
	f.seq = seq;
	f.len = s->len;
	f.msg_len = s->msg_len;
	f.credit = (uint16_t)data_credit(uc);
	f.marks = (uint16_t)(s->marks << 8);
	s->sent_us = udp_now_us();
	u->clock_us = s->sent_us; /* a polling pass's datagrams are never older than a send */
	uc->last_sent_ms = s->sent_us / 1000u;
	uc->ack_owed = false; /* piggybacked */
	u->st.tx_data++;
	if (s->umem && xsk_dgram_at(u, uc, &f, s))
		return;
	chan_send(u, uc, &f, slot_data(u, uc, seq), s->has_crc ? &s->crc : NULL, NULL);
}

/* Frames from..to-1 are acked (or the channel goes): their UMEM frames are free again. */
void udp_store_release(struct udp_dev *u, struct udp_chan *uc, uint32_t from, uint32_t to)
{
	for (uint32_t seq = from; seq != to; seq++) {
		struct udp_slot *s = &uc->slot[seq % UDP_WIN];

		if (s->umem)
			udp_xsk_store_put(u, s->xframe);
		s->umem = 0;
		s->lent = NULL;
	}
}

/* A reset for a datagram that names no channel of ours. */
static void send_rst(struct udp_dev *u, const struct udp_frame *in,
		     const struct sockaddr_storage *to, socklen_t tolen)
{
	/* The answer to a hello says so (HELLO kept): the port was not bound then. */
	struct udp_frame f = { .flags = UDP_FF_RST | (in->flags & UDP_FF_HELLO),
			       .dst_port = in->src_port,
			       .src_port = in->dst_port,
			       .src_node = u->self.node,
			       .key = u->conf.key };

	if (in->flags & UDP_FF_RST)
		return; /* never answer a reset */
	send_dgram(u, u->sock, to, tolen, &f, NULL, NULL, NULL);
}

void udp_ack_queue(struct udp_dev *u, struct udp_chan *uc)
{
	if (uc->ack_queued)
		return;
	uc->ack_queued = true;
	uc->ack_next = u->ackq;
	u->ackq = uc;
}

void udp_acks_flush(struct udp_dev *u)
{
	udp_tx_begin(u);
	while (u->ackq) {
		struct udp_chan *uc = u->ackq;

		u->ackq = uc->ack_next;
		uc->ack_queued = false;
		if (uc->active)
			udp_send_ctl(u, uc, 0);
	}
	udp_tx_flush(u);
}

/* --- receive --- */

/* Wakes the user (armed as `how`): on the armed word, or the fd (an eventfd). */
static void udp_wake(struct clcp_endpt *ep, uint32_t how)
{
	uint64_t one = 1;

	if (clcp__irq_futex(ep->hdr, how))
		return;
	(void)!write(ep->priv->fd, &one, sizeof(one));
}

/* Raises the endpoint's "interrupt" if it is armed; the caller fenced (F4). */
void udp_raise_irq(struct clcp_endpt *ep)
{
	uint32_t how = clcp__irq_take(ep->hdr);

	if (how)
		udp_wake(ep, how);
}

static void rtt_sample(struct udp_chan *uc, uint64_t rtt)
{
	uint64_t d;

	if (uc->srtt_us == 0) {
		uc->srtt_us = rtt;
		uc->rttvar_us = rtt / 2;
	} else {
		d = rtt > uc->srtt_us ? rtt - uc->srtt_us : uc->srtt_us - rtt;
		uc->rttvar_us = (3 * uc->rttvar_us + d) / 4;
		uc->srtt_us = (7 * uc->srtt_us + rtt) / 8;
	}
	uc->rto_us = uc->srtt_us + 4 * uc->rttvar_us;
	if (uc->rto_us < UDP_RTO_MIN_US)
		uc->rto_us = UDP_RTO_MIN_US;
	if (uc->rto_us > UDP_RTO_MAX_US)
		uc->rto_us = UDP_RTO_MAX_US;
}

/* Resends frame seq (a hole, or a timeout); Karn: no RTT sample from it. */
static void rexmit(struct udp_dev *u, struct udp_chan *uc, uint32_t seq)
{
	struct udp_slot *sl = &uc->slot[seq % UDP_WIN];

	sl->rexmit += sl->rexmit < UDP_REXMIT_SHIFT_MAX;
	udp_send_data(u, uc, seq);
	u->st.rexmits++;
}

/* How long a frame may be out of order before it counts as lost. */
static uint64_t reo_us(const struct udp_chan *uc)
{
	return uc->srtt_us / 4 > UDP_REO_MIN_US ? uc->srtt_us / 4 : UDP_REO_MIN_US;
}

/*
 * Every hole below the highest SACKed frame that has been out for a round
 * trip plus the reordering allowance is lost (a later frame arrived): all
 * are resent at once. A resent frame lost again goes again after twice as
 * long each time (a receiver or path that is slow, not lossy, is not
 * flooded), without waiting for the channel's RTO.
 */
static void repair_holes(struct udp_dev *u, struct udp_chan *uc, uint64_t now)
{
	uint64_t wait = (uc->srtt_us ? uc->srtt_us : uc->rto_us) + reo_us(uc);

	for (uint32_t s = uc->snd_una; (int32_t)(uc->sack_hi - s) > 0; s++) {
		const struct udp_slot *sl = &uc->slot[s % UDP_WIN];
		uint64_t w = wait << sl->rexmit;

		if (!sl->sacked && now - sl->sent_us >= (w < UDP_RTO_MAX_US ? w : UDP_RTO_MAX_US))
			rexmit(u, uc, s);
	}
}

/* The receiver holds frame ack + i for every bit i of map: never resent. */
static void sack_in(struct udp_dev *u, struct udp_chan *uc, uint32_t ack, uint64_t map,
		    uint64_t now)
{
	u->st.rx_sacks++;
	for (uint32_t i = 0; i < UDP_WIN && (map >> i); i++) {
		uint32_t s = ack + i;
		struct udp_slot *sl = &uc->slot[s % UDP_WIN];

		if (!((map >> i) & 1u) || s - uc->snd_una >= uc->snd_nxt - uc->snd_una)
			continue;
		if (!sl->sacked && !sl->rexmit)
			rtt_sample(uc, now - sl->sent_us);
		sl->sacked = 1;
		if ((int32_t)(s + 1 - uc->sack_hi) > 0)
			uc->sack_hi = s + 1;
	}
}

static void ack_in(struct udp_dev *u, struct udp_chan *uc, const struct udp_frame *f,
		   uint64_t sack, uint64_t now)
{
	uint32_t acked = f->ack - uc->snd_una, edge, credit;
	const struct udp_slot *last = &uc->slot[(f->ack - 1) % UDP_WIN];

	u->st.rx_acks++;
	if (acked > uc->snd_nxt - uc->snd_una)
		return; /* old or impossible */
	if (acked && !last->rexmit && !last->sacked)
		rtt_sample(uc, now - last->sent_us);
	udp_store_release(u, uc, uc->snd_una, f->ack);
	uc->snd_una = f->ack;
	if ((int32_t)(uc->sack_hi - uc->snd_una) < 0)
		uc->sack_hi = uc->snd_una;
	/* The credit: a pure ack's msg_len, a data frame's rsvd field (0 from an older peer). */
	credit = (f->flags & CLCP_FF_DATA) ? f->credit : f->msg_len;
	edge = f->ack + (credit < UDP_WIN ? credit : UDP_WIN);
	/* One overtaken by a newer one never shrinks it. */
	if ((int32_t)(edge - uc->snd_edge) > 0) {
		uc->snd_edge = edge;
		uc->wnd_wait = false; /* the window opened: a sender still stalled says so again */
		uc->wnd_probe_us = 0;
	}
	if (f->flags & UDP_FF_SACK)
		sack_in(u, uc, f->ack, sack, now);
	repair_holes(u, uc, now);
	pthread_cond_broadcast(&u->cond);
}

/* Claims the next posted Rx slot, or NULL (no buffer: the sender waits). */
static struct clcp_qentry *rx_claim(struct clcp_endpt *ep)
{
	struct clcp_qentry *s = &ep->rxq[ep->hdr->rx_head & ep->rx_mask];

	/* A4: pairs with the user's R4 that posted the slot. */
	if (clcp_load_acquire(&s->owner) != CLCP_OWNER_NIC)
		return NULL;
	if (s->buf_off < ep->hdr->rxbuf_off || s->buf_off > ep->priv->size - ep->mtu)
		return NULL; /* a corrupt post: never write outside the buffers */
	return s;
}

/* The frame into slot s; the user is woken for a last frame or to drain. */
static void rx_publish(struct clcp_endpt *ep, struct udp_chan *uc, struct clcp_qentry *s,
		       const struct clcp__rx_frame *f)
{
	bool stalled;
	uint32_t how;

	ep->hdr->rx_head++;
	/* The sender has no credit left, or the ring is full: the user must drain it. */
	stalled = uc->rcv_nxt == uc->rcv_edge ||
		  clcp_load_relaxed(&ep->rxq[ep->hdr->rx_head & ep->rx_mask].owner) != CLCP_OWNER_NIC;
	if (stalled)
		clcp_store_relaxed(&ep->hdr->tx_blocked, 1u);
	how = clcp__rx_fill(ep->base, ep->hdr, s, f, stalled || (f->flags & CLCP_QF_LAST));
	if (how)
		udp_wake(ep, how);
}

static bool credit_low(const struct udp_chan *uc)
{
	uint32_t cap = uc->ep->rx_mask + 1 < UDP_WIN ? uc->ep->rx_mask + 1 : UDP_WIN;

	return uc->rcv_edge - uc->rcv_nxt <= cap / 2;
}

static void xsk_count(struct udp_dev *u, bool in_place)
{
	u->st.xdp_rx_inplace += in_place;
	u->st.xdp_rx_copied += !in_place;
}

/* Into the next posted Rx slot; false when none is posted. */
static bool deliver(struct udp_dev *u, struct udp_chan *uc, const struct udp_frame *f,
		    const unsigned char *payload)
{
	struct clcp_endpt *ep = uc->ep;
	struct clcp_qentry *s = rx_claim(ep);
	struct clcp__rx_frame rf;

	if (!s)
		return false;
	rf = (struct clcp__rx_frame){ payload, f->len, f->msg_len, f->seq, uc->idx,
				      (uint8_t)(((f->flags & CLCP_FF_LAST) ? CLCP_QF_LAST : 0) |
						((f->flags & CLCP_FF_FIRST) ? CLCP_QF_FIRST : 0) |
						((f->marks & UDP_RSVD_OFFER) ? CLCP_QF_PULL : 0)) };
	uc->rcv_nxt++;
	u->st.rx_data++;
	u->st.rx_direct += payload == ep->base + s->buf_off;
	if (u->xsk && f->len > CLCP_QE_INLINE_MAX) /* where the kernel wrote it, or copied */
		xsk_count(u, udp_xsk_swap(u, ep, payload, s));
	rx_publish(ep, uc, s, &rf);
	return true;
}

/* Keeps a frame for later: ahead of a hole, or no Rx buffer posted yet. */
static void ooo_keep(struct udp_dev *u, struct udp_chan *uc, const struct udp_frame *f,
		     const unsigned char *payload)
{
	struct udp_slot *o = &uc->oslot[f->seq % UDP_WIN];

	if (o->have) {
		u->st.dups++;
		return;
	}
	if (!uc->ooo) {
		uc->ooo = malloc((size_t)UDP_WIN * uc->ep->mtu);
		if (!uc->ooo)
			return; /* as if lost: resent */
	}
	memcpy(uc->ooo + (size_t)(f->seq % UDP_WIN) * uc->ep->mtu, payload, f->len);
	uc->kept++;
	o->len = f->len;
	o->msg_len = f->msg_len;
	o->flags = f->flags;
	o->marks = (uint8_t)(f->marks >> 8);
	o->have = 1;
}

/*
 * A frame of an offer that no receive took (FRAMES: its sender went on the
 * GRANT of a receive that has ended since): into the Rx ring as a frame of
 * its message, which follows the offer there; false when no Rx buffer is
 * posted. A frame out of place resets the channel.
 */
static bool bulk_as_frame(struct udp_dev *u, struct udp_chan *uc, const struct udp_frame *f,
			  const unsigned char *payload)
{
	struct udp_bulk *b = &uc->bulk;
	struct udp_frame g = *f;

	if (f->msg_len != b->got || f->len == 0 || f->len > b->len - b->got) {
		u->st.drops[UDP_DROP_SEQ]++;
		udp_chan_break(u, uc);
		return true;
	}
	g.marks = 0;
	g.msg_len = b->len;
	g.flags = (uint8_t)((f->flags & ~(CLCP_FF_FIRST | CLCP_FF_LAST)) |
			    (b->got == 0 ? CLCP_FF_FIRST : 0) |
			    (b->got + f->len == b->len ? CLCP_FF_LAST : 0));
	if (!deliver(u, uc, &g, payload))
		return false;
	u->st.rx_bulk_framed++;
	b->got += f->len;
	if (b->got == b->len) {
		udp_pull_forget(uc);
		udp_ack_queue(u, uc); /* the sender waits for it */
	}
	return true;
}

/*
 * The next frame in order: a pulled message's, or any while a receive
 * waits for one (udp_bulk_in); else into the Rx ring.
 */
static bool take_next(struct udp_dev *u, struct udp_chan *uc, const struct udp_frame *f,
		      const unsigned char *payload)
{
	bool bulk = f->marks & UDP_RSVD_BULK;

	if (bulk && uc->bulk.state == UDP_BULK_FRAMES)
		return bulk_as_frame(u, uc, f, payload);
	if ((bulk || uc->bulk.state == UDP_BULK_WAIT || uc->bulk.state == UDP_BULK_FRAMES) &&
	    udp_bulk_in(u, uc, f->seq, f->len, f->msg_len, bulk, payload))
		return true;
	if (!deliver(u, uc, f, payload))
		return false;
	if (f->marks & UDP_RSVD_OFFER)
		udp_offer_in(uc, f->seq, f->msg_len);
	return true;
}

/* Delivers kept frames that are next in order, while Rx buffers last. */
void udp_ooo_flush(struct udp_dev *u, struct udp_chan *uc)
{
	for (;;) {
		uint32_t i = uc->rcv_nxt % UDP_WIN;
		struct udp_slot *o = &uc->oslot[i];
		struct udp_frame f = { .flags = o->flags, .len = o->len, .msg_len = o->msg_len,
				       .seq = uc->rcv_nxt, .marks = (uint16_t)(o->marks << 8) };

		if (!uc->ooo || !o->have)
			return;
		if (!take_next(u, uc, &f, uc->ooo + (size_t)i * uc->ep->mtu))
			return;
		o->have = 0;
		uc->kept--;
		uc->ack_owed = true;
		if (credit_low(uc))
			udp_ack_queue(u, uc);
	}
}

/* No Rx buffer for the next frame: kept, and the user's next post tells us (F2/F1). */
static void nobuf(struct udp_dev *u, struct udp_chan *uc, const struct udp_frame *f,
		  const unsigned char *payload)
{
	u->st.drops[UDP_DROP_NOBUF]++;
	ooo_keep(u, uc, f, payload);
	clcp_store_relaxed(&uc->ep->hdr->rx_waiters, 1u);
	clcp_fence_full();
	udp_ooo_flush(u, uc);
}

static void peer_failed(struct udp_dev *u, struct udp_chan *uc, enum udp_gone why);

/*
 * A frame we can never take (longer than our mtu: the sender's mtu is
 * larger; of an offered message no receive waits for): it would be resent
 * for ever. The channel resets at both ends (-ECONNRESET); each resend gets
 * a reset again, as the first may be lost.
 */
void udp_chan_break(struct udp_dev *u, struct udp_chan *uc)
{
	udp_send_ctl(u, uc, UDP_FF_RST);
	if (!uc->err)
		peer_failed(u, uc, UDP_GONE_RST);
}

static void data_in(struct udp_dev *u, struct udp_chan *uc, const struct udp_frame *f,
		    const unsigned char *payload)
{
	int32_t ahead = (int32_t)(f->seq - uc->rcv_nxt);

	/*
	 * The two ends' mtus differ: it would come again. (Offers and their
	 * frames come only from a peer of large frames, as ours are.)
	 */
	if (f->len > uc->ep->mtu || (f->marks && uc->ep->mtu < UDP_DIRECT_MIN)) {
		u->st.drops[UDP_DROP_LEN]++;
		udp_chan_break(u, uc);
		return;
	}
	if (ahead != 0) /* a duplicate, or one was lost: tell the sender now */
		udp_ack_queue(u, uc);
	if (ahead < 0) {
		u->st.dups++;
	} else if (ahead >= (int32_t)UDP_WIN) {
		u->st.drops[UDP_DROP_SEQ]++; /* beyond any credit we gave */
	} else if (ahead > 0) {
		u->st.ooo++;
		ooo_keep(u, uc, f, payload);
	} else if (uc->ooo && uc->oslot[f->seq % UDP_WIN].have) {
		u->st.dups++; /* kept for lack of a buffer: that copy goes first */
		udp_ooo_flush(u, uc);
	} else if (!take_next(u, uc, f, payload)) {
		nobuf(u, uc, f, payload);
	} else {
		/* Delayed ack: data going back carries it; an ack now when credit runs low. */
		uc->ack_owed = true;
		if (credit_low(uc))
			udp_ack_queue(u, uc);
		udp_ooo_flush(u, uc);
	}
}

/* The channel a datagram is for, checked against its peer; NULL if none. */
static struct udp_chan *chan_of(struct udp_dev *u, const struct udp_frame *f)
{
	uint32_t w = u->ports[f->dst_port], slot = (w >> 16) - 1, c = w & 0xffffu;
	const struct clcp_chan_desc *d;
	struct udp_chan *uc;

	if (w == 0 || slot >= u->neps || !u->eps[slot])
		return NULL;
	uc = &UDPE(u->eps[slot])->chans[c];
	d = &u->eps[slot]->chans[c];
	if (!uc->active || d->peer_node != f->src_node || d->peer_port != f->src_port)
		return NULL;
	return uc;
}

/* The channel's peer is gone; why: one of the UDP_GONE_* counters. */
static void peer_failed(struct udp_dev *u, struct udp_chan *uc, enum udp_gone why)
{
	u->st.gone[why]++;
	uc->err = -ECONNRESET;
	pthread_cond_broadcast(&u->cond);
	clcp_fence_full(); /* F4: pairs with F3 of an armed receiver */
	udp_raise_irq(uc->ep);
}

/* Any valid datagram from a node is life for every channel to it. */
static void heard(struct udp_dev *u, uint32_t node, uint64_t ms)
{
	struct udp_heard *h = &u->heard[node % UDP_HEARD_SLOTS];

	h->node = node;
	h->ms = ms;
}

/*
 * The datagram comes from its source node's address: from a connected
 * socket (ps) the kernel saw to that; else the node table says.
 */
static bool src_ok(const struct udp_dev *u, const struct udp_frame *f,
		   const struct sockaddr_storage *from, const struct udp_psock *ps)
{
	struct udp_node src;

	if (ps)
		return f->src_node == ps->peer.node;
	return udp_node_addr(&u->conf, f->src_node, &src) == 0 && udp_addr_eq(&src.sa, from);
}

/*
 * Large frames come from ps's peer: read the next ones straight into an Rx
 * buffer, until a small one-frame message says the traffic changed (the
 * small tail of a large message does not).
 */
static void direct_note(struct udp_psock *ps, const struct udp_frame *f, struct udp_chan *uc)
{
	if (!ps || !(f->flags & CLCP_FF_DATA))
		return;
	if (f->len >= UDP_DIRECT_MIN || f->marks) /* an offer's frames follow it */
		ps->direct_ep = uc->ep;
	else if ((f->flags & (CLCP_FF_FIRST | CLCP_FF_LAST)) == (CLCP_FF_FIRST | CLCP_FF_LAST))
		ps->direct_ep = NULL;
}

/* The frame names another incarnation than the peer channel's we know. */
static bool other_incarnation(const struct udp_chan *uc, const struct udp_frame *f)
{
	return f->inc && uc->peer_inc && f->inc != uc->peer_inc;
}

/*
 * The frame is of the peer channel we know: its control frames carry the
 * incarnation, taken from the first (the peer is seen from then on); data
 * before that is dropped (the peer resends it). Another incarnation is a
 * new process (or channel) on the peer's node and port: ours fails
 * (-ECONNRESET) and the new one gets a reset, with HELLO kept for a hello:
 * it waits for a channel of ours allocated anew. False: the frame goes no
 * further.
 */
static bool incarnation_ok(struct udp_dev *u, struct udp_chan *uc, const struct udp_frame *f,
			   const struct sockaddr_storage *from, socklen_t fromlen)
{
	if (other_incarnation(uc, f)) {
		if (!uc->err)
			peer_failed(u, uc, UDP_GONE_RESTART);
		send_rst(u, f, from, fromlen);
		return false;
	}
	if (!uc->peer_inc && f->inc)
		uc->peer_inc = f->inc;
	if (!uc->peer_inc)
		u->st.drops[UDP_DROP_EARLY]++;
	return uc->peer_inc != 0;
}

/* A datagram read at `now` (RTT samples, life of the peer). */
static void dgram_in(struct udp_dev *u, const struct udp_rxd *d,
		     const struct sockaddr_storage *from, socklen_t fromlen,
		     struct udp_psock *ps, uint64_t now)
{
	struct udp_frame f;
	struct udp_chan *uc;
	int why = hdr_get(d, &u->conf, &f);
	bool first;

	if (why) {
		u->st.drops[why - 1]++;
		return;
	}
	if (!src_ok(u, &f, from, ps)) {
		u->st.drops[UDP_DROP_SRC]++;
		return;
	}
	heard(u, f.src_node, now / 1000u);
	uc = chan_of(u, &f);
	if (!uc) {
		u->st.drops[UDP_DROP_PORT]++;
		send_rst(u, &f, from, fromlen);
		return;
	}
	if (f.dst_inc && f.dst_inc != uc->inc) {
		/*
		 * For an earlier channel of ours on this port: the peer has not heard
		 * yet that ours is new (our hello fails its channel). Not ours to take.
		 */
		u->st.drops[UDP_DROP_STALE]++;
		return;
	}
	uc->last_heard_ms = now / 1000u;
	uc->probes = 0;
	if (f.flags & UDP_FF_RST) {
		/*
		 * An answer to our hello is stale once the peer was seen: a
		 * later datagram of its channel overtook it (the AF_XDP ring
		 * and the socket are two paths; a network may reorder too).
		 * So is a channel's reset of another incarnation than our
		 * peer's (a late one of its process before).
		 */
		if (other_incarnation(uc, &f))
			return;
		if (udp_seen(uc) && !uc->err && !(f.flags & UDP_FF_HELLO))
			peer_failed(u, uc, UDP_GONE_RST);
		else if (!udp_seen(uc)) /* its node is up, the port not yet bound */
			uc->hello_tries = 0, uc->next_hello_ms = uc->last_heard_ms + 10;
		return;
	}
	first = !udp_seen(uc);
	if (!incarnation_ok(u, uc, &f, from, fromlen))
		return;
	if (first || (f.flags & (UDP_FF_HELLO | UDP_FF_PROBE))) {
		pthread_cond_broadcast(&u->cond);
		udp_ack_queue(u, uc);
	}
	if (f.flags & CLCP_FF_ACK)
		ack_in(u, uc, &f, (f.flags & UDP_FF_SACK) ? rxd_be64(d, f.len) : 0, now);
	if (!(f.flags & CLCP_FF_DATA) && f.len == UDP_CTL_ANSWER_LEN) {
		uint64_t a = rxd_be64(d, UDP_CTL_LEN);

		udp_offer_answered(u, uc, (uint32_t)(a >> 32), (uint32_t)a, f.ack);
	}
	if (f.flags & CLCP_FF_DATA)
		data_in(u, uc, &f, d->body);
	direct_note(ps, &f, uc);
}

/* One datagram as read from the unconnected socket: the fuzz target's way in. */
void udp_dgram_input(struct udp_dev *u, const unsigned char *buf, size_t n,
		     const struct sockaddr_storage *from, socklen_t fromlen)
{
	struct udp_rxd d = udp_rxd_whole(buf, n);

	dgram_in(u, &d, from, fromlen, NULL, udp_now_us());
}

/* One datagram as read from the socket connected to ps's peer. */
void udp_dgram_input_peer(struct udp_dev *u, const struct udp_rxd *d, struct udp_psock *ps)
{
	dgram_in(u, d, &ps->peer.sa, ps->peer.len, ps, udp_now_us());
}

/*
 * One datagram read by a polling pass, with the pass's clock: read under
 * the lock before the socket, and advanced by every send since (clock_us),
 * so no frame out is newer than `now`. From ps's peer, or from `from`.
 */
void udp_dgram_input_at(struct udp_dev *u, const struct udp_rxd *d,
			const struct sockaddr_storage *from, socklen_t fromlen,
			struct udp_psock *ps, uint64_t now)
{
	if (ps)
		dgram_in(u, d, &ps->peer.sa, ps->peer.len, ps, now);
	else
		dgram_in(u, d, from, fromlen, NULL, now);
}

/* The endpoint's next Rx buffer if one is posted and free (the next frame goes there). */
/*
 * Where the next datagram from ps's peer is read for ep (room payload
 * bytes): where the next frame of a message a receive waits for goes in its
 * buffer (udp_bulk_target), else the next posted Rx buffer; NULL if none.
 */
unsigned char *udp_rx_target(struct clcp_endpt *ep, const struct udp_psock *ps, uint32_t *room)
{
	unsigned char *p = udp_bulk_target(ep, ps->fd, room);
	struct clcp_qentry *s;

	if (p)
		return p;
	s = rx_claim(ep);
	*room = ep->mtu;
	return s ? ep->base + s->buf_off : NULL;
}

/*
 * Port unreachable for a datagram of ours (its header comes back with the
 * error) sent to a peer already seen: the peer's process is gone. Errors
 * for hellos, sent before the peer answered, may arrive late: not counted.
 */
void udp_peer_unreachable(struct udp_dev *u, const struct sockaddr_storage *to,
			  const unsigned char *orig, size_t n)
{
	struct clcp_frame_hdr h;
	struct udp_chan *uc;

	if (n < sizeof(h))
		return;
	memcpy(&h, orig, sizeof(h));
	if (h.flags & (UDP_FF_HELLO | UDP_FF_RST))
		return;
	for (uc = u->active; uc; uc = uc->act_next) {
		const struct clcp_chan_desc *d = &uc->ep->chans[uc->idx];

		if (udp_seen(uc) && !uc->err && udp_addr_eq(&uc->peer, to) &&
		    d->my_port == ntohs(h.src_port) && d->peer_port == ntohs(h.dst_port))
			peer_failed(u, uc, UDP_GONE_ICMP);
	}
}

/* --- timers --- */

/* The RTO expired: every unsacked frame out that long goes again, the RTO doubles. */
static void rto_expired(struct udp_dev *u, struct udp_chan *uc, uint64_t now)
{
	for (uint32_t s = uc->snd_una; s != uc->snd_nxt; s++) {
		const struct udp_slot *sl = &uc->slot[s % UDP_WIN];

		if (!sl->sacked && now - sl->sent_us >= uc->rto_us)
			rexmit(u, uc, s);
	}
	u->st.rto_expiries++;
	uc->rto_us = uc->rto_us * 2 < UDP_RTO_MAX_US ? uc->rto_us * 2 : UDP_RTO_MAX_US;
}

uint64_t udp_heard_ms(const struct udp_dev *u, const struct udp_chan *uc)
{
	uint32_t node = uc->ep->chans[uc->idx].peer_node;
	const struct udp_heard *h = &u->heard[node % UDP_HEARD_SLOTS];

	return h->node == node && h->ms > uc->last_heard_ms ? h->ms : uc->last_heard_ms;
}

/*
 * A seen peer silent for dead_ms / 4 gets probes (acks it must answer)
 * every dead_ms / 8; it is dead once silent for dead_ms with UDP_PROBES
 * probes unanswered, the last one out for a probe period. Our own stalls
 * do not count as its silence: the socket is read before the timers run,
 * and probes are only sent (and counted) while we run. True when dead.
 */
static bool peer_silent(struct udp_dev *u, struct udp_chan *uc, uint64_t ms, uint64_t dead)
{
	uint64_t silent = ms - udp_heard_ms(u, uc);

	if (silent <= dead / 4) {
		uc->probes = 0;
		return false;
	}
	if (ms < uc->next_probe_ms)
		return false;
	if (silent > dead && uc->probes >= UDP_PROBES) {
		peer_failed(u, uc, UDP_GONE_SILENT);
		return true;
	}
	uc->probes++;
	uc->next_probe_ms = ms + (dead / 8 > UDP_TICK_MS ? dead / 8 : UDP_TICK_MS);
	u->st.probes++;
	udp_send_ctl(u, uc, UDP_FF_PROBE);
	return false;
}

/*
 * Everything sent is acked but a frame waits for credit: the ack that
 * opened the window may have been lost. A probe (answered at once with the
 * credit) after an RTO, then at doubling gaps up to the maximum RTO.
 */
static void window_probe(struct udp_dev *u, struct udp_chan *uc, uint64_t now)
{
	if (uc->wnd_probe_us == 0) {
		uc->wnd_gap_us = uc->rto_us;
		uc->wnd_probe_us = now + uc->wnd_gap_us;
		return;
	}
	if (now < uc->wnd_probe_us)
		return;
	uc->wnd_gap_us = uc->wnd_gap_us * 2 < UDP_RTO_MAX_US ? uc->wnd_gap_us * 2 : UDP_RTO_MAX_US;
	uc->wnd_probe_us = now + uc->wnd_gap_us;
	u->st.wnd_probes++;
	udp_send_ctl(u, uc, UDP_FF_PROBE);
}

static void chan_timers(struct udp_dev *u, struct udp_chan *uc, uint64_t now)
{
	uint64_t ms = now / 1000u, dead = UDPE(uc->ep)->dead_ms;

	if (uc->err)
		return;
	if (uc->ooo)
		udp_ooo_flush(u, uc);
	if (udp_seen(uc) && peer_silent(u, uc, ms, dead))
		return;
	if (!udp_seen(uc)) {
		if (ms >= uc->next_hello_ms) {
			uc->hello_tries += uc->hello_tries < 6;
			uc->next_hello_ms = ms + (10u << uc->hello_tries);
			udp_send_ctl(u, uc, 0);
		}
		return;
	}
	if (uc->snd_una != uc->snd_nxt) {
		if (now - uc->slot[uc->snd_una % UDP_WIN].sent_us >= uc->rto_us)
			rto_expired(u, uc, now);
		else
			repair_holes(u, uc, now);
	} else if (uc->wnd_wait) {
		window_probe(u, uc, now);
	}
	if (uc->ack_owed && ms - uc->last_sent_ms >= 1)
		udp_send_ctl(u, uc, 0); /* a delayed ack nothing carried */
	else if ((ms - uc->last_sent_ms >= dead / 4 || uc->rcv_edge == uc->rcv_nxt) &&
		 ms - uc->last_sent_ms >= UDP_TICK_MS)
		udp_send_ctl(u, uc, 0); /* keep-alive, credit refresh */
}

/* Timers that did not run for UDP_STARVED_MS: this process got no CPU (or no lock). */
static void starved(struct udp_dev *u, uint64_t now)
{
	if (u->timers_us && now - u->timers_us >= UDP_STARVED_MS * 1000u)
		u->st.starved++;
}

void udp_timers(struct udp_dev *u)
{
	uint64_t now = udp_now_us();
	struct udp_chan *uc;
	bool busy = false;

	starved(u, now);
	clcp_store_relaxed(&u->timers_us, now); /* the thread reads it unlocked */
	udp_tx_begin(u);
	for (uc = u->active; uc; uc = uc->act_next) {
		chan_timers(u, uc, now);
		busy |= uc->snd_una != uc->snd_nxt || uc->ack_owed || uc->kept || uc->wnd_wait ||
			!udp_seen(uc);
	}
	udp_tx_flush(u);
	clcp_store_relaxed(&u->busy, busy); /* the thread reads it unlocked */
}

/* --- the progress thread --- */

/* A socket reported an error (POLLERR): its ICMP errors are read, on every socket. */
static void errq_all(struct udp_dev *u, const struct pollfd *pfd, unsigned n)
{
	for (unsigned i = 1; i < n; i++)
		if (pfd[i].revents & POLLERR) {
			udp_errq_drain(u, u->sock);
			for (unsigned k = 0; k < UDP_PEER_SOCKS; k++)
				if (u->psock[k].fd >= 0)
					udp_errq_drain(u, u->psock[k].fd);
			return;
		}
}

static void *progress_main(void *arg)
{
	struct udp_dev *u = arg;
	struct pollfd pfd[3 + UDP_PEER_SOCKS]; /* stop, sock, AF_XDP socket, peers */
	uint64_t buf;
	unsigned n;

	for (;;) {
		/* A polling caller reads the sockets itself: stay off them meanwhile. */
		bool poller = udp_now_us() - clcp_load_relaxed(&u->poll_us) < 2000u;

		n = udp_sock_pollfds(u, pfd, u->stop_fd, !poller);
		poll(pfd, n, poller || clcp_load_relaxed(&u->busy) ? 1 : UDP_TICK_MS);
		if (pfd[0].revents && read(u->stop_fd, &buf, sizeof(buf)) > 0 &&
		    clcp_load_relaxed(&u->stopping))
			break;
		/* The poller receives and runs the timers: no lock hand-over on its path. */
		if (poller && udp_now_us() - clcp_load_relaxed(&u->timers_us) < UDP_POLLER_TIMERS_US)
			continue;
		/* Spinning pollers hold back meanwhile: a mutex is not fair. */
		clcp_store_relaxed(&u->thread_waits, true);
		pthread_mutex_lock(&u->lock);
		clcp_store_relaxed(&u->thread_waits, false);
		errq_all(u, pfd, n);
		udp_rx_drain(u);
		udp_timers(u);
		udp_acks_flush(u);
		pthread_mutex_unlock(&u->lock);
	}
	return NULL;
}

int udp_thread_start(struct udp_dev *u)
{
	u->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->stop_fd < 0)
		return clcp__err(errno, "udp: eventfd: %s", strerror(errno));
	if (clcp__thread_start(&u->thread, progress_main, u) != 0) {
		close(u->stop_fd);
		return clcp__err(EAGAIN, "udp: cannot start the progress thread");
	}
	u->thread_ok = true;
	return 0;
}

/* A caller that polled goes to sleep: the thread must watch the sockets again now. */
void udp_thread_unpoll(struct udp_dev *u)
{
	uint64_t one = 1;

	if (!clcp_load_relaxed(&u->poll_us))
		return;
	clcp_store_relaxed(&u->poll_us, 0);
	(void)!write(u->stop_fd, &one, sizeof(one));
}

void udp_thread_stop(struct udp_dev *u)
{
	uint64_t one = 1;

	if (!u->thread_ok)
		return;
	clcp_store_relaxed(&u->stopping, true);
	(void)!write(u->stop_fd, &one, sizeof(one));
	pthread_join(u->thread, NULL);
	close(u->stop_fd);
	u->thread_ok = false;
}
