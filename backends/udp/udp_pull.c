/* SPDX-License-Identifier: MIT */
/*
 * UDP backend, long messages offered to the receiver (docs/udp.md, "Long
 * messages"): the core's pull (docs/api.md). A receive that waits with a
 * large buffer tells its peer so (READY). The sender then offers its next
 * long message in a one-frame message marked UDP_RSVD_OFFER (one that
 * frames would not fit, always); a receive that takes it answers GO and
 * waits; the sender then sends the message's frames, marked UDP_RSVD_BULK,
 * from its caller's buffer (no copy into the store: the call waits until
 * they are acked), and the receiver takes each straight into its caller's
 * buffer, read there from the socket when it comes in order (no copy out of
 * an Rx buffer). The frames are the channel's, in its sequence, acked and
 * resent as any; they take no Rx buffer and no credit. An offer that frames
 * would fit, not answered in time, is withdrawn: the message goes as frames.
 *
 * A receive on one channel gives its buffer with its READY (a GRANT): the
 * offer next in sequence after it sends its frames at once (or as soon as
 * the GRANT comes, when the offer went first), without waiting for GO. The
 * receiver's engine takes an offer for such a buffer as it comes in; the
 * receive takes it even if its wait ended meanwhile. The frames of an offer
 * that no receive took go into the Rx ring as its message's frames. The
 * sender returns once its frames are acked, or copies those still unacked
 * after a bound into the store (the receiver did not run).
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "udp.h"

/* How long an offer waits for its answer: a few round trips, and a receive's turnaround. */
static uint64_t answer_wait_us(const struct udp_chan *uc)
{
	uint64_t rtts = 3 * uc->srtt_us;

	return rtts > UDP_PULL_ANSWER_MIN_US ? rtts : UDP_PULL_ANSWER_MIN_US;
}

/*
 * One wait of a pull's loops, the lock held: spinning (the caller's pass
 * reads the sockets) until spin_until, then asleep on the engine's
 * condition for up to 1 ms (the thread reads them).
 */
static void pull_nap(struct udp_dev *u, struct clcp_endpt *ep, uint64_t spin_until)
{
	struct timespec ts;

	if (udp_now_us() < spin_until) {
		pthread_mutex_unlock(&u->lock);
		udp_progress(ep);
		clcp_cpu_relax();
		pthread_mutex_lock(&u->lock);
		return;
	}
	udp_thread_unpoll(u);
	udp_deadline_in(&ts, 1);
	pthread_cond_timedwait(&u->cond, &u->lock, &ts);
}

/* Frames of len bytes would not wait for the receiver (its credit holds them). */
static bool frames_fit(const struct clcp_endpt *ep, size_t len)
{
	return len <= (size_t)UDP_WIN * ep->mtu;
}

/*
 * The answer in a ping-pong (a message of the peer's came by an offer
 * lately): its receive is about to start, once its send has seen our last
 * ack. Waits up to a grace (two round trips) for its READY; a grace in vain
 * makes the next 2^n such sends go as frames at once.
 */
static void ready_grace(struct udp_dev *u, struct clcp_endpt *ep, struct udp_chan *uc,
			size_t len)
{
	struct udp_offer *o = &uc->offer;
	uint64_t now = udp_now_us(), end = now + 2 * uc->srtt_us;

	if (now - uc->bulk.done_us > UDP_PULL_GRACE_RECENT_US || o->ready >= len ||
	    clcp__backoff_skips(&o->graced))
		return;
	if (end < now + UDP_PULL_GRACE_MIN_US)
		end = now + UDP_PULL_GRACE_MIN_US;
	while (o->ready < len && !uc->err && udp_now_us() < end)
		pull_nap(u, ep, UINT64_MAX);
	if (o->ready >= len)
		clcp__backoff_paid(&o->graced);
	else
		clcp__backoff_vain(&o->graced);
}

int udp_pull_offer(struct clcp_endpt *ep, int chan, const void *buf, size_t len, bool nonblock,
		   struct clcp__pull *d)
{
	struct udp_dev *u = UDP(ep->priv->dev);
	struct udp_chan *uc = &UDPE(ep)->chans[chan];
	struct udp_offer *o = &uc->offer;
	int rc = -ENOSYS;
	bool fits = frames_fit(ep, len), skip;

	/* Large frames only: with small ones the copies are not what costs. */
	if (nonblock || u->xsk || ep->mtu < UDP_DIRECT_MIN || len < UDP_PULL_MIN ||
	    len > UINT32_MAX)
		return -ENOSYS;
	pthread_mutex_lock(&u->lock);
	skip = fits && clcp__backoff_skips(&o->withdrawn); /* offers in vain lately */
	if (fits && !skip && o->ready < len) {
		udp_rx_drain(u); /* a READY that came meanwhile counts */
		udp_acks_flush(u);
		ready_grace(u, ep, uc, len);
	}
	if (!skip && udp_seen(uc) && !uc->err && (!fits || o->ready >= len)) {
		o->state = UDP_OFFER_NONE;
		o->seq = uc->snd_nxt;
		o->buf = buf;
		o->len = (uint32_t)len;
		o->granted = o->grant && o->ready >= len && o->grant_seq == uc->snd_nxt;
		/* The receiver learns nothing of our address space: addr stays 0. */
		*d = (struct clcp__pull){ 0, len, uc->snd_nxt, 0 };
		rc = 0;
	}
	pthread_mutex_unlock(&u->lock);
	return rc;
}

/* The receive gives buf (room bytes) to an offer due next on uc. */
static void prime(struct clcp_endpt *ep, struct udp_chan *uc, void *buf, uint32_t room)
{
	struct udp_bulk *b = &uc->bulk;

	b->state = UDP_BULK_PRIMED;
	b->buf = buf;
	b->len = room;
	b->got = 0;
	b->owed = false;
	b->seq0 = uc->rcv_nxt + 1;
	UDPE(ep)->bulk_uc = uc;
	UDPE(ep)->primed = true;
}

/*
 * The receive that gave its buffer no longer waits: 1 when an offer came
 * and took the buffer (the receive must take that offer), else 0. Owed
 * twice, the core did not take it: the channel resets, so that nothing is
 * written into a buffer no call waits on.
 */
static int unprime(struct udp_dev *u, struct clcp_endpt *ep, struct udp_chan *uc)
{
	struct udp_bulk *b = &uc->bulk;
	int owed = 0;

	pthread_mutex_lock(&u->lock);
	if (b->state == UDP_BULK_PRIMED) {
		udp_pull_forget(uc);
	} else if (b->state == UDP_BULK_NONE || b->state == UDP_BULK_FRAMES) {
		/* nothing came for it */
	} else if (!b->owed) {
		b->owed = true;
		owed = 1;
	} else {
		udp_chan_break(u, uc);
		udp_pull_forget(uc);
	}
	UDPE(ep)->primed = owed;
	pthread_mutex_unlock(&u->lock);
	return owed;
}

/*
 * A receive waits on chan with cap bytes of room (0: no longer): with
 * nothing delivered that it could take, the peer hears of it (READY), so
 * that its next long message is offered; with buf (a receive on chan
 * alone), a GRANT: the offer's frames may come at once, into buf. A
 * receive from any of several channels is not told: a datagram to each
 * peer at each receive would cost more than it saves.
 */
int udp_pull_ready(struct clcp_endpt *ep, int chan, void *buf, size_t cap)
{
	struct udp_dev *u = UDP(ep->priv->dev);
	struct udp_chan *uc;
	uint32_t room = cap < UINT32_MAX ? (uint32_t)cap : UINT32_MAX;
	bool grant;

	if (chan == CLCP_ANY)
		return 0;
	uc = &UDPE(ep)->chans[chan];
	if (cap == 0)
		return UDPE(ep)->primed ? unprime(u, ep, uc) : 0;
	if (cap < UDP_PULL_MIN || u->xsk || ep->mtu < UDP_DIRECT_MIN)
		return 0;
	pthread_mutex_lock(&u->lock);
	if (udp_seen(uc) && !uc->err && ep->hdr->rx_head == ep->rx_tail && ep->nheld == 0) {
		grant = buf && uc->bulk.state == UDP_BULK_NONE && !UDPE(ep)->bulk_uc;
		if (grant)
			prime(ep, uc, buf, room);
		udp_send_answer(u, uc, room, grant ? UDP_ANSWER_GRANT : UDP_ANSWER_READY);
	}
	pthread_mutex_unlock(&u->lock);
	return 0;
}

/* An offering frame goes out as frame seq (take): its answer is awaited from now on. */
void udp_offer_taken(struct udp_chan *uc, uint32_t seq)
{
	if (uc->offer.state == UDP_OFFER_NONE && uc->offer.seq == seq && uc->offer.buf)
		uc->offer.state = UDP_OFFER_MADE;
}

/* The answer to offer seq of uc's peer, should it be asked for (ASK). */
static void answer_keep(struct udp_chan *uc, uint32_t seq, enum udp_answer a)
{
	uc->bulk.answered_seq = seq;
	uc->bulk.answered = (uint32_t)a + 1;
}

/* Answers offer seq of uc's peer (a verdict), and remembers how. */
static void answer(struct udp_dev *u, struct udp_chan *uc, uint32_t seq, enum udp_answer a)
{
	answer_keep(uc, seq, a);
	udp_send_answer(u, uc, seq, a);
}

/*
 * An answer frame: to the offer made as frame seq, the peer's READY or
 * GRANT (its room in seq; ack: the next frame it expects), or its ASK for
 * our answer to its offer seq (given again). A GRANT for the offer that
 * waits for its answer (it went first) lets its frames go.
 */
void udp_offer_answered(struct udp_dev *u, struct udp_chan *uc, uint32_t seq, uint32_t a,
			uint32_t ack)
{
	struct udp_offer *o = &uc->offer;

	if (a == UDP_ANSWER_READY || a == UDP_ANSWER_GRANT) {
		o->ready = seq;
		o->grant = a == UDP_ANSWER_GRANT;
		o->grant_seq = ack;
		u->st.rx_ready++;
		if (o->grant && o->state == UDP_OFFER_MADE && ack == o->seq && seq >= o->len) {
			o->state = UDP_OFFER_GO;
			o->granted = true;
			pthread_cond_broadcast(&u->cond);
		}
		return;
	}
	if (a == UDP_ANSWER_ASK) {
		if (uc->bulk.answered && uc->bulk.answered_seq == seq)
			udp_send_answer(u, uc, seq, (enum udp_answer)(uc->bulk.answered - 1));
		return;
	}
	if (uc->offer.state != UDP_OFFER_MADE || uc->offer.seq != seq || a > UDP_ANSWER_GO)
		return; /* withdrawn meanwhile, or not ours */
	uc->offer.state = a == UDP_ANSWER_GO ? UDP_OFFER_GO : UDP_OFFER_DECLINED;
	pthread_cond_broadcast(&u->cond);
}

/* One frame of the offered message, sent from the caller's buffer. */
static void bulk_send_one(struct udp_dev *u, struct udp_chan *uc, uint32_t off, uint32_t len)
{
	struct udp_slot *s = &uc->slot[uc->snd_nxt % UDP_WIN];

	*s = (struct udp_slot){ .len = len, .msg_len = off, .marks = UDP_RSVD_BULK >> 8 };
	s->lent = uc->offer.buf + off;
	s->has_crc = len >= UDP_CRC_FUSE_MIN && !u->conf.no_crc;
	if (s->has_crc)
		s->crc = udp_crc32c(0, s->lent, len);
	u->st.tx_bulk++;
	udp_send_data(u, uc, uc->snd_nxt++);
}

/*
 * An offer's frames still unacked a bound after the last went: copied into
 * the retransmit store, so the call can return (the receiver did not run:
 * it takes them when it does, into its buffer or as frames). False if the
 * store cannot be had.
 */
static bool bulk_keep(struct udp_dev *u, struct udp_chan *uc)
{
	for (uint32_t seq = uc->snd_una; seq != uc->snd_nxt; seq++) {
		struct udp_slot *s = &uc->slot[seq % UDP_WIN];
		unsigned char *dst = udp_store_at(uc, seq);

		if (!dst)
			return false;
		if (s->lent)
			memcpy(dst, s->lent, s->len);
		s->lent = NULL;
	}
	u->st.bulk_kept++;
	return true;
}

/*
 * The offered message's frames, as the window lets them go, until all are
 * acked or a bound after the last went (bulk_keep). 0, or an error.
 */
static int bulk_send(struct udp_dev *u, struct clcp_endpt *ep, struct udp_chan *uc,
		     uint64_t spin_until)
{
	struct udp_offer *o = &uc->offer;
	uint32_t off = 0, len = o->len, mtu = ep->mtu;
	uint64_t keep_at = UINT64_MAX;

	while (!uc->err && (off < len || uc->snd_una != uc->snd_nxt)) {
		udp_tx_begin(u);
		while (off < len && uc->snd_nxt - uc->snd_una < UDP_WIN) {
			uint32_t n = len - off < mtu ? len - off : mtu;

			bulk_send_one(u, uc, off, n);
			off += n;
		}
		udp_tx_flush(u);
		if (off == len && keep_at == UINT64_MAX)
			keep_at = udp_now_us() + answer_wait_us(uc);
		if (off == len && udp_now_us() >= keep_at && bulk_keep(u, uc))
			return 0;
		if (off < len || uc->snd_una != uc->snd_nxt)
			pull_nap(u, ep, spin_until);
	}
	/* Failed: nothing may point into the caller's buffer once we return. */
	udp_store_release(u, uc, uc->snd_una, uc->snd_nxt);
	return uc->err;
}

/* Waits for the answer to an offer not granted: until `end`, asking again after each RTO. */
static void answer_wait(struct udp_dev *u, struct clcp_endpt *ep, struct udp_chan *uc,
			uint64_t end, uint64_t spin_until)
{
	uint64_t now = udp_now_us(), ask_gap = uc->rto_us, ask_us = now + ask_gap;

	while (uc->offer.state == UDP_OFFER_MADE && !uc->err && (now = udp_now_us()) < end) {
		if (now >= ask_us) { /* an answer may be lost: the receiver gives it again */
			udp_send_answer(u, uc, uc->offer.seq, UDP_ANSWER_ASK);
			ask_gap = ask_gap * 2 < UDP_RTO_MAX_US ? ask_gap * 2 : UDP_RTO_MAX_US;
			ask_us = now + ask_gap;
		}
		pull_nap(u, ep, spin_until);
	}
}

int udp_pull_wait(struct clcp_endpt *ep, int chan, const struct clcp__pull *d, uint64_t spin_ns)
{
	struct udp_dev *u = UDP(ep->priv->dev);
	struct udp_chan *uc = &UDPE(ep)->chans[chan];
	struct udp_offer *o = &uc->offer;
	uint64_t now = udp_now_us(), spin_until = now + spin_ns / 1000, end;
	bool fits = frames_fit(ep, o->len), go;
	int rc = 1;

	(void)d;
	pthread_mutex_lock(&u->lock);
	/* Frames would wait for the receiver anyway: so does an offer they would not fit. */
	end = fits ? now + answer_wait_us(uc) : UINT64_MAX;
	if (fits && spin_until < end)
		spin_until = end; /* a withdrawable offer spins: a sleep could outlast it */
	if (!o->granted)
		answer_wait(u, ep, uc, end, spin_until);
	go = o->state == UDP_OFFER_GO || o->granted;
	if (uc->err) {
		rc = uc->err;
	} else if (go) {
		clcp__backoff_paid(&o->withdrawn);
		u->st.tx_granted += o->granted;
		rc = bulk_send(u, ep, uc, spin_ns == UINT64_MAX ? UINT64_MAX : spin_until);
	} else if (o->state != UDP_OFFER_DECLINED) { /* not answered in time: frames */
		clcp__backoff_vain(&o->withdrawn);
		u->st.pull_withdrawn++;
	}
	o->state = UDP_OFFER_NONE;
	o->buf = NULL;
	o->granted = false;
	pthread_mutex_unlock(&u->lock);
	if (rc < 0)
		ep->chan_err[chan] = clcp__err(-rc, "udp: channel %d: %s", chan, clcp_strerror(rc));
	return rc;
}

/* Waits until the offered message is in (0), its offer withdrawn (1), or the channel fails. */
static int bulk_wait(struct udp_dev *u, struct clcp_endpt *ep, struct udp_chan *uc, bool spin)
{
	struct udp_bulk *b = &uc->bulk;
	int rc;

	while (b->state == UDP_BULK_WAIT && !uc->err)
		pull_nap(u, ep, spin ? UINT64_MAX : 0);
	rc = b->state == UDP_BULK_DONE ? 0 : uc->err ? uc->err : 1;
	udp_pull_forget(uc);
	return rc;
}

/*
 * Takes the offered message into buf (0), declines it when buf is NULL,
 * its frames already follow, or the receive may not wait for them to cross
 * the network (nonblock) (1: frames follow, they are the message), or an
 * error. An offer the engine took for this receive's buffer (GRANT) is
 * waited for: its frames are coming.
 */
int udp_pull_take(struct clcp_endpt *ep, int chan, const struct clcp__pull *d, void *buf,
		  size_t len, bool spin, bool nonblock)
{
	struct udp_dev *u = UDP(ep->priv->dev);
	struct udp_chan *uc = &UDPE(ep)->chans[chan];
	struct udp_bulk *b = &uc->bulk;
	uint32_t seq = d->frame_seq; /* its frame's, as it came: not what the sender wrote */
	int rc = 1;

	pthread_mutex_lock(&u->lock);
	if (b->state == UDP_BULK_PRIMED) /* not for this offer */
		udp_pull_forget(uc);
	if (uc->err) {
		rc = uc->err;
	} else if (b->state != UDP_BULK_NONE && b->state != UDP_BULK_FRAMES &&
		   b->seq0 == seq + 1) {
		rc = b->buf == buf ? bulk_wait(u, ep, uc, spin) : -EPROTO;
	} else if (!buf || nonblock || uc->rcv_nxt != seq + 1 || UDPE(ep)->bulk_uc) {
		answer(u, uc, seq, UDP_ANSWER_DECLINE);
	} else {
		b->state = UDP_BULK_WAIT;
		b->buf = buf;
		b->len = (uint32_t)len;
		b->got = 0;
		b->seq0 = seq + 1;
		UDPE(ep)->bulk_uc = uc;
		answer(u, uc, seq, UDP_ANSWER_GO);
		rc = bulk_wait(u, ep, uc, spin);
	}
	if (rc == -EPROTO) { /* the offer came for another call's buffer */
		udp_chan_break(u, uc);
		udp_pull_forget(uc);
	}
	pthread_mutex_unlock(&u->lock);
	if (rc == -EPROTO)
		return clcp__err(EPROTO, "udp: channel %d: an offered message went into another "
					 "call's buffer (channel reset)", chan);
	if (rc < 0)
		return clcp__err(-rc, "udp: channel %d: the sender of a %zu-byte message is gone",
				 chan, len);
	return rc;
}

/*
 * Offer seq (msg_len bytes) came in order and went into the Rx ring. A
 * receive that gave its buffer for it takes its frames from now on (its
 * GRANT said so: its sender sends them on it).
 * Else its frames, should they come before a receive takes it (the sender
 * had a GRANT of a receive that has ended since), go into the Rx ring as
 * its message's frames (FRAMES).
 */
void udp_offer_in(struct udp_chan *uc, uint32_t seq, uint32_t msg_len)
{
	struct udp_bulk *b = &uc->bulk;

	if (b->state == UDP_BULK_PRIMED && seq + 1 == b->seq0 && msg_len <= b->len) {
		b->state = UDP_BULK_WAIT;
		b->len = msg_len;
		answer_keep(uc, seq, UDP_ANSWER_GO); /* the GRANT for seq was one; ASK if it was lost */
		return;
	}
	if (b->state != UDP_BULK_NONE && b->state != UDP_BULK_PRIMED)
		return; /* the one before is all in, not yet taken: this one waits for its answer */
	udp_pull_forget(uc);
	b->state = UDP_BULK_FRAMES;
	b->len = msg_len;
	b->got = 0;
	b->seq0 = seq + 1;
}

/* No receive waits for uc's offered message any more: nothing is written into its buffer. */
void udp_pull_forget(struct udp_chan *uc)
{
	uc->bulk.state = UDP_BULK_NONE;
	uc->bulk.buf = NULL;
	uc->bulk.owed = false;
	if (UDPE(uc->ep)->bulk_uc == uc)
		UDPE(uc->ep)->bulk_uc = NULL;
}

/*
 * Frame seq of uc, next in order: a frame of the offered message a receive
 * waits for (bulk) is taken into its buffer at its offset; true when it
 * was handled here. A frame that is not, where that message's first was
 * due, means the offer was withdrawn: the receive ends (frames follow).
 * A frame of an offered message no receive waits for breaks the protocol:
 * the channel resets.
 */
bool udp_bulk_in(struct udp_dev *u, struct udp_chan *uc, uint32_t seq, uint32_t len, uint32_t off,
		 bool bulk, const unsigned char *payload)
{
	struct udp_bulk *b = &uc->bulk;

	if (!bulk) {
		if (b->state == UDP_BULK_WAIT && seq == b->seq0) {
			b->state = UDP_BULK_DECLINED;
			pthread_cond_broadcast(&u->cond);
		} else if (b->state == UDP_BULK_FRAMES) {
			udp_pull_forget(uc); /* cut short: the core sees the next message begin */
		}
		return false;
	}
	if (b->state != UDP_BULK_WAIT || off != b->got || len == 0 || len > b->len - b->got) {
		u->st.drops[UDP_DROP_SEQ]++;
		udp_chan_break(u, uc);
		return true;
	}
	if (payload != b->buf + off)
		memcpy(b->buf + off, payload, len);
	else
		u->st.rx_bulk_placed++;
	b->got += len;
	uc->rcv_nxt++;
	uc->rcv_edge++; /* it took no Rx buffer: the credit stands */
	u->st.rx_data++;
	u->st.rx_bulk++;
	if (b->got == b->len) {
		b->state = UDP_BULK_DONE;
		b->done_us = udp_now_us();
		pthread_cond_broadcast(&u->cond);
		udp_ack_queue(u, uc); /* the sender waits for it */
	} else if ((seq - b->seq0) % UDP_BULK_ACK_EVERY == UDP_BULK_ACK_EVERY - 1) {
		udp_ack_queue(u, uc);
	}
	return true;
}

/* Where the next frame from socket fd goes when a receive of ep waits for an offered message. */
unsigned char *udp_bulk_target(struct clcp_endpt *ep, int fd, uint32_t *room)
{
	const struct udp_chan *uc = UDPE(ep)->bulk_uc;
	const struct udp_bulk *b = uc ? &uc->bulk : NULL;

	if (!b || b->state != UDP_BULK_WAIT || uc->fd != fd)
		return NULL;
	*room = b->len - b->got < ep->mtu ? b->len - b->got : ep->mtu;
	return b->buf + b->got;
}
