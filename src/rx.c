/* SPDX-License-Identifier: MIT */
/*
 * Receive side: the Rx ring is read in order; frames are parked per channel
 * (no copy, the buffer stays held) until a call takes them. Slots are
 * reposted in ring order from a pool of spare buffers, so a parked frame
 * does not stop the ring. Messages are copied out once.
 */
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"


static uint32_t buf_index(struct clcp_endpt *ep, uint32_t off)
{
	return (off - ep->hdr->rxbuf_off) / ep->priv->stride;
}

static uint32_t buf_off(struct clcp_endpt *ep, uint32_t idx)
{
	return ep->hdr->rxbuf_off + idx * ep->priv->stride;
}

uint32_t clcp__irq_claim(struct clcp_endpt_hdr *h)
{
	uint32_t how = clcp_exchange(&h->armed, 0u);

	if (how)
		clcp_fetch_add(&h->wakeups, 1u);
	return how;
}

bool clcp__irq_futex(struct clcp_endpt_hdr *h, uint32_t how)
{
	if (how != CLCP_ARMED_FUTEX)
		return false;
	syscall(SYS_futex, &h->armed, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	return true;
}

void clcp__rx_refill(struct clcp_endpt *ep)
{
	struct clcp__endpt_priv *p = ep->priv;
	uint32_t posted;

	clcp__rx_flush(ep); /* the slots the inline path took come first */
	posted = ep->rx_post;

	while (ep->rx_post - ep->rx_tail < ep->rx_mask + 1 && p->nfree)
		clcp_rxq_post_quiet(ep, p->free_bufs[--p->nfree]);
	if (ep->rx_post != posted)
		clcp_rxq_notify(ep);
}

static void buf_free(struct clcp_endpt *ep, uint32_t idx)
{
	struct clcp__endpt_priv *p = ep->priv;

	p->free_bufs[p->nfree++] = buf_off(ep, idx);
	clcp__rx_refill(ep);
}

/* Frame idx's bytes: in its Rx buffer, or in the spill (spill_one). */
static unsigned char *frame_data(struct clcp_endpt *ep, uint32_t idx)
{
	uint32_t n = ep->hdr->nrxbuf;

	return idx < n ? ep->base + buf_off(ep, idx) : ep->priv->spill + (size_t)(idx - n) * ep->mtu;
}

static void frame_free(struct clcp_endpt *ep, uint32_t idx)
{
	struct clcp__endpt_priv *p = ep->priv;

	if (idx < ep->hdr->nrxbuf)
		buf_free(ep, idx);
	else
		p->spill_free[p->nspill_free++] = idx;
}

static bool entry_sane(struct clcp_endpt *ep, const struct clcp_qentry *e)
{
	uint32_t off = e->buf_off, h_off = ep->hdr->rxbuf_off;

	return off >= h_off && (off - h_off) % ep->priv->stride == 0 &&
	       (off - h_off) / ep->priv->stride < ep->hdr->nrxbuf &&
	       e->len <= ep->mtu && e->chan < ep->nchan &&
	       (!(e->flags & CLCP_QF_INLINE) || e->len <= CLCP_QE_INLINE_MAX);
}

/* Chan's queue begins with frame idx now: it holds frames. */
static void parked_head(struct clcp_endpt *ep, uint32_t chan, int32_t idx)
{
	ep->priv->chq[chan].head = idx;
	ep->priv->parked[chan / 64] |= 1ull << (chan % 64);
}

/* Chan's queue is empty now. */
static void parked_none(struct clcp_endpt *ep, uint32_t chan)
{
	ep->priv->chq[chan].tail = -1;
	ep->priv->parked[chan / 64] &= ~(1ull << (chan % 64));
}

/* The first channel from c on whose queue holds frames; -1: none. */
static int parked_from(const struct clcp_endpt *ep, uint32_t c)
{
	const uint64_t *map = ep->priv->parked;
	uint32_t w = c / 64, words = (ep->nchan + 63) / 64;
	uint64_t bits;

	if (c >= ep->nchan)
		return -1;
	for (bits = map[w] & (~0ull << (c % 64)); !bits; bits = map[w])
		if (++w == words)
			return -1;
	return (int)(w * 64 + (uint32_t)__builtin_ctzll(bits));
}

/* Each channel c from 0 on whose queue holds frames. */
#define for_each_parked(ep, c) \
	for ((c) = parked_from((ep), 0); (c) >= 0; (c) = parked_from((ep), (uint32_t)(c) + 1))

/* Moves the frame at the ring's tail to its channel's parked list. */
static void park_one(struct clcp_endpt *ep, const struct clcp_qentry *e)
{
	struct clcp__endpt_priv *p = ep->priv;
	struct clcp__chanq *q;
	struct clcp__held *h;
	uint32_t idx;

	if (!entry_sane(ep, e)) {
		ep->hdr->rx_drops++;
		clcp_rxq_consume(ep);
		clcp__rx_refill(ep);
		return;
	}
	idx = buf_index(ep, e->buf_off);
	if ((e->flags & CLCP_QF_INLINE) && e->len) /* park it in its buffer */
		memcpy(ep->base + e->buf_off, e->data, e->len);
	h = &p->held[idx];
	h->len = e->len;
	h->msg_len = e->msg_len;
	h->seq = e->seq;
	h->chan = e->chan;
	h->flags = e->flags;
	h->next = -1;
	h->lent = 0;
	clcp_rxq_consume(ep);
	if (ep->chans[h->chan].state != CLCP_CHAN_ACTIVE) {
		buf_free(ep, idx); /* channel released: nobody to take it */
		return;
	}
	q = &p->chq[h->chan];
	if (q->cut && !(h->flags & CLCP_QF_FIRST)) {
		buf_free(ep, idx); /* the rest of a message whose receive failed */
		return;
	}
	q->cut = false;
	if (q->tail >= 0)
		p->held[q->tail].next = (int32_t)idx;
	else
		parked_head(ep, h->chan, (int32_t)idx);
	q->tail = (int32_t)idx;
	ep->nheld++;
	clcp__rx_refill(ep);
}

static bool park_from_ring(struct clcp_endpt *ep)
{
	const struct clcp_qentry *e = clcp_rxq_peek(ep);

	if (!e)
		return false;
	park_one(ep, e);
	return true;
}

/* Takes the head frame of chan's parked list; returns its buffer index. */
static int32_t unpark(struct clcp_endpt *ep, int chan)
{
	struct clcp__chanq *q = &ep->priv->chq[chan];
	int32_t idx = q->head;

	q->head = ep->priv->held[idx].next;
	if (q->head < 0)
		parked_none(ep, (uint32_t)chan);
	ep->nheld--;
	return idx;
}

void clcp__rx_drop_chan(struct clcp_endpt *ep, int chan)
{
	/* Its frames still in the Rx queue go too (freed: chan is not active). */
	while (park_from_ring(ep))
		;
	while (ep->priv->chq[chan].head >= 0)
		frame_free(ep, (uint32_t)unpark(ep, chan));
}

bool clcp__rx_has_last(struct clcp_endpt *ep)
{
	struct clcp__endpt_priv *p = ep->priv;
	uint32_t i;
	int c;

	for (i = ep->rx_tail; i != ep->rx_post; i++) {
		const struct clcp_qentry *e = &ep->rxq[i & ep->rx_mask];

		if (clcp_load_acquire(&e->owner) != CLCP_OWNER_USER)
			break;
		if (e->flags & CLCP_QF_LAST)
			return true;
	}
	if (ep->nheld == 0)
		return false;
	for_each_parked(ep, c) {
		int32_t idx;

		for (idx = p->chq[c].head; idx >= 0; idx = p->held[idx].next)
			if (p->held[idx].flags & CLCP_QF_LAST)
				return true;
	}
	return false;
}

/* Sleeps on the armed word until a waker clears it, or ms. */
static void futex_sleep(uint32_t *word, int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	syscall(SYS_futex, word, FUTEX_WAIT, CLCP_ARMED_FUTEX, &ts, NULL, 0);
}

/*
 * Arms the endpoint and sleeps until a wake-up or ms: on the armed word
 * when the waker is a process or thread of this host (the backend says
 * so), else on the endpoint fd.
 */
static void block_wait(struct clcp_endpt *ep, int ms)
{
	const struct clcp_backend_ops *ops = ep->priv->dev->ops;
	bool futex = ops->futex_wake && !ops->rx_block;
	uint32_t how = futex ? CLCP_ARMED_FUTEX : CLCP_ARMED_FD;
	struct pollfd pfd = { .fd = ep->priv->fd, .events = POLLIN };

	if (!futex)
		ops->fd_drain(ep);
	if (clcp_load_relaxed(&ep->hdr->tx_blocked))
		clcp_store_relaxed(&ep->hdr->tx_blocked, 0u); /* senders set it again */
	clcp_store_relaxed(&ep->hdr->armed, how);
	/* F3: orders arming before looking at the ring; pairs with F4. */
	clcp_fence_full();
	if (!clcp_rxq_peek(ep)) {
		if (ops->rx_block)
			ops->rx_block(ep, ms);
		else if (futex)
			futex_sleep(&ep->hdr->armed, ms);
		else
			poll(&pfd, 1, ms);
	}
	clcp_store_relaxed(&ep->hdr->armed, 0u);
}

/*
 * The receive no longer waits on the channel it told pull_ready. True when
 * an offered message took its buffer meanwhile: it is in the Rx queue, and
 * the receive takes it.
 */
static bool pull_unready(struct clcp_endpt *ep)
{
	bool told = ep->priv->ready_told;

	ep->priv->ready_told = false;
	return told && ep->priv->dev->ops->pull_ready(ep, ep->priv->ready_chan, NULL, 0) > 0;
}

/*
 * Interrupt group with a spin budget: spins while the wait (from its first
 * idle round) is within the budget, then blocks; a wait that ends is told
 * to the budget's policy. Returns early when ms (a check) is due first.
 */
static void spin_then_block(struct clcp_endpt *ep, int ms)
{
	struct clcp__spin *s = &ep->priv->spin;
	uint64_t now = clcp__now_ns(), seen, left, lim;

	if (!s->wait_t0)
		s->wait_t0 = now;
	if (!s->blocked && now - s->wait_t0 < s->budget_ns) {
		left = s->budget_ns - (now - s->wait_t0);
		lim = left < (uint64_t)ms * 1000000u ? left : (uint64_t)ms * 1000000u;
		if (clcp__spin_for(ep, lim, now, &seen)) {
			clcp__spin_done(s, seen - s->wait_t0, true);
			return;
		}
		if (lim < left)
			return;
		now = seen;
	}
	s->blocked = true;
	block_wait(ep, ms);
	if (clcp_rxq_peek(ep))
		clcp__spin_done(s, clcp__now_ns() - s->wait_t0, false);
}

int clcp__rx_wait(struct clcp_endpt *ep, int ms, bool spin)
{
	const struct clcp__spin *s = &ep->priv->spin;
	uint64_t now;

	if (spin)
		clcp__spin_for(ep, (uint64_t)ms * 1000000u, clcp__now_ns(), &now);
	else if (!s->budget_ns && !s->adaptive)
		block_wait(ep, ms);
	else
		spin_then_block(ep, ms);
	return 0;
}

static bool rx_starved(struct clcp_endpt *ep)
{
	return ep->rx_post == ep->rx_tail && ep->priv->nfree == 0;
}

/* Spill room, made at the first need: as many frames as Rx buffers. */
static bool spill_ready(struct clcp_endpt *ep)
{
	struct clcp__endpt_priv *p = ep->priv;
	uint32_t n = ep->hdr->nrxbuf;

	if (p->spill)
		return true;
	p->spill = malloc((size_t)n * ep->mtu);
	p->spill_free = malloc(n * sizeof(*p->spill_free));
	if (!p->spill || !p->spill_free) {
		free(p->spill);
		free(p->spill_free);
		p->spill = NULL;
		p->spill_free = NULL;
		return false;
	}
	for (p->nspill_free = 0; p->nspill_free < n; p->nspill_free++)
		p->spill_free[p->nspill_free] = 2 * n - 1 - p->nspill_free;
	return true;
}

/* Moves the parked frame that *link names into a spill slot, its Rx buffer freed. */
static void spill_move(struct clcp_endpt *ep, struct clcp__chanq *q, int32_t *link)
{
	struct clcp__endpt_priv *p = ep->priv;
	uint32_t idx = (uint32_t)*link, to = p->spill_free[--p->nspill_free];

	p->held[to] = p->held[idx];
	if (p->held[idx].len)
		memcpy(frame_data(ep, to), frame_data(ep, idx), p->held[idx].len);
	*link = (int32_t)to;
	if (q->tail == (int32_t)idx)
		q->tail = (int32_t)to;
	buf_free(ep, idx);
}

/*
 * A message of chan is begun and other channels' parked frames hold every
 * Rx buffer: one of them moves to the spill (heap memory, as many frames
 * as Rx buffers), so that the rest of the message can land. False when
 * none can (the spill is full, or could not be made): -ENOBUFS then.
 */
static bool spill_one(struct clcp_endpt *ep, int chan)
{
	struct clcp__endpt_priv *p = ep->priv;
	uint32_t n = ep->hdr->nrxbuf;
	int32_t *link;
	int c;

	if (!spill_ready(ep) || p->nspill_free == 0)
		return false;
	for_each_parked(ep, c) {
		if (c == chan)
			continue;
		for (link = &p->chq[c].head; *link >= 0; link = &p->held[*link].next)
			if ((uint32_t)*link < n) {
				spill_move(ep, &p->chq[c], link);
				p->rx_spills++;
				return true;
			}
	}
	return false;
}

/* What a wait needs at a channel's head. */
enum head_need {
	HEAD_FRAME,   /* any frame (clcp_rcv_frame) */
	HEAD_FIRST,   /* a message's first frame (clcp_peek_message) */
	HEAD_MESSAGE, /* a message to take; under CLCP_NONBLOCK, a whole one */
	HEAD_WHOLE,   /* a whole message (head_whole) */
};

/* How chan's parked head message ends, so far. */
enum head_end {
	HEAD_OPEN, /* its last frame is still to come */
	HEAD_LAST, /* with its last frame */
	HEAD_CUT,  /* cut short by the next message's first frame */
};

/* Walks chan's parked head message: how it ends; its bytes and frames (*n) so far. */
static enum head_end head_scan(const struct clcp_endpt *ep, int c, size_t *len, uint32_t *n)
{
	const struct clcp__endpt_priv *p = ep->priv;
	int32_t head = p->chq[c].head, idx;

	*len = 0;
	*n = 0;
	for (idx = head; idx >= 0; idx = p->held[idx].next, ++*n) {
		if (idx != head && (p->held[idx].flags & CLCP_QF_FIRST))
			return HEAD_CUT;
		*len += p->held[idx].len;
		if (p->held[idx].flags & CLCP_QF_LAST)
			return HEAD_LAST;
	}
	return HEAD_OPEN;
}

/*
 * Chan's head message can be taken without waiting for its sender: its
 * last frame is parked, or its frames hold every Rx buffer (the rest then
 * comes only as it is taken: it begins, the call waits for the rest). When
 * other channels' frames hold some, the wait ends with -ENOBUFS instead,
 * the message still whole in the queue. A head that is not a first frame
 * is the caller's to report.
 */
static bool head_whole(struct clcp_endpt *ep, int c)
{
	uint32_t n;
	size_t len;

	if (!(ep->priv->held[ep->priv->chq[c].head].flags & CLCP_QF_FIRST))
		return true;
	return head_scan(ep, c, &len, &n) != HEAD_OPEN || (rx_starved(ep) && n == ep->nheld);
}

/* Chan has a parked head that will do for `need` (whole: see head_whole). */
static bool head_fits(struct clcp_endpt *ep, int c, enum head_need need, bool whole)
{
	int32_t idx = ep->priv->chq[c].head;

	return idx >= 0 && (need == HEAD_FRAME || (ep->priv->held[idx].flags & CLCP_QF_FIRST)) &&
	       (!whole || head_whole(ep, c));
}

/* Chan's parked head message has all its frames here (or was cut short: told at once). */
static bool head_done(const struct clcp_endpt *ep, int c)
{
	uint32_t n;
	size_t len;

	return head_scan(ep, c, &len, &n) != HEAD_OPEN;
}

/* The first channel with frames in [from, to) whose head fits (and is done, if asked). */
static int pick_in(struct clcp_endpt *ep, uint32_t from, uint32_t to, enum head_need need,
		   bool whole, bool done)
{
	int c;

	for (c = parked_from(ep, from); c >= 0 && (uint32_t)c < to;
	     c = parked_from(ep, (uint32_t)c + 1))
		if (head_fits(ep, c, need, whole) && (!done || head_done(ep, c)))
			return c;
	return -1;
}

/* The first channel from the round robin's place whose head fits (and is done, if asked). */
static int pick_round(struct clcp_endpt *ep, enum head_need need, bool whole, bool done)
{
	struct clcp__endpt_priv *p = ep->priv;
	uint32_t start = p->rr < ep->nchan ? p->rr : 0;
	int c = pick_in(ep, start, ep->nchan, need, whole, done);

	if (c < 0)
		c = pick_in(ep, 0, start, need, whole, done);
	if (c >= 0)
		p->rr = (uint32_t)c + 1;
	return c;
}

/*
 * A channel that can start a message (or give a frame), from CLCP_ANY:
 * one whose message is all here first, so that copying it gives buffers
 * back at once instead of waiting for the rest of an open one.
 */
static int pick_parked(struct clcp_endpt *ep, enum head_need need, bool whole)
{
	int c;

	if (ep->nheld == 0)
		return -1;
	c = need == HEAD_FRAME ? -1 : pick_round(ep, need, whole, true);
	return c >= 0 ? c : pick_round(ep, need, whole, false);
}

/*
 * Peer checks: the named channel, or every channel not yet reported. A
 * CLCP_ANY wait with no channel left to receive from (none open, or all
 * failed and reported) fails with -ENOTCONN.
 */
static int peers_check(struct clcp_endpt *ep, int *chan)
{
	const struct clcp_backend_ops *ops = ep->priv->dev->ops;
	uint32_t c, first = *chan == CLCP_ANY ? 0 : (uint32_t)*chan;
	uint32_t last = *chan == CLCP_ANY ? ep->nchan : first + 1;
	bool live = false;

	for (c = first; c < last; c++) {
		int rc;

		if (ep->chans[c].state != CLCP_CHAN_ACTIVE)
			continue;
		if (ep->chan_err[c]) {
			if (*chan == CLCP_ANY && ep->chan_err[c] != -ENODEV)
				continue; /* reported once already; a device gone, every time */
			*chan = (int)c;
			return ep->chan_err[c];
		}
		rc = ops->chan_check(ep, (int)c);
		live = true;
		if (rc != -ECONNRESET && rc != -ENODEV)
			continue;
		ep->chan_err[c] = rc;
		*chan = (int)c;
		return rc == -ENODEV ? rc : clcp__err(ECONNRESET, "peer of channel %u is gone", c);
	}
	if (*chan == CLCP_ANY && !live)
		return clcp__err(ENOTCONN, "no channel to receive from: none open, or all failed");
	return 0;
}

/*
 * One receive call: its flags, its group (spin: polling), and its deadline,
 * shared by its waits (0 until the first sets it from attr.timeout_ms;
 * UINT64_MAX: not timed).
 */
struct rx_call {
	int flags;
	bool spin;
	uint64_t deadline;
};

struct rx_wait_ctx {
	uint64_t deadline;
	int32_t check_ms;
	bool spin;
	bool nonblock;
	bool progressed; /* nonblocking: the backend had its one chance */
	int spill_for;	 /* a message of this channel is begun: starving, spill (-1: no) */
};

static void wait_ctx_init(struct clcp_endpt *ep, struct rx_wait_ctx *w, struct rx_call *call)
{
	const struct clcp_endpt_attr *a = &ep->priv->attr;

	clcp__rx_flush(ep); /* a wait gives the inline path's slots back first */
	w->nonblock = call->flags & CLCP_NONBLOCK;
	w->progressed = false;
	w->spill_for = -1;
	w->spin = call->spin;
	w->check_ms = a->peer_check_ms;
	clcp__spin_begin(&ep->priv->spin);
	if (!call->deadline)
		call->deadline = clcp__deadline(a->timeout_ms);
	w->deadline = call->deadline;
	if (ep->priv->next_check == 0)
		ep->priv->next_check = clcp__now_ms() + (uint64_t)w->check_ms;
}

/* One idle round: errors for starvation, timeout, dead peers; else waits. */
static int idle(struct clcp_endpt *ep, struct rx_wait_ctx *w, int *chan)
{
	struct clcp__endpt_priv *p = ep->priv;
	uint64_t now, until;
	int rc;

	if (rx_starved(ep)) {
		if (w->spill_for >= 0 && spill_one(ep, w->spill_for))
			return 0; /* a buffer came free: the message's rest may land in it */
		return clcp__err(ENOBUFS, "parked frames of other channels hold every Rx buffer");
	}
	now = clcp__now_ms();
	if (now >= p->next_check) { /* per endpoint: short calls check too */
		rc = peers_check(ep, chan);
		if (rc < 0)
			return rc;
		p->next_check = now + (uint64_t)w->check_ms;
	}
	if (w->nonblock && !w->progressed) {
		/* An engine backend (udp) may hold frames not yet delivered. */
		w->progressed = true;
		p->dev->ops->progress(ep);
		return 0;
	}
	if (w->nonblock)
		return clcp__err(EAGAIN, "nothing to receive");
	if (now >= w->deadline) {
		if (pull_unready(ep)) /* an offer took the receive's buffer as time ran out */
			return 0;
		return clcp__err(ETIMEDOUT, "no message within %d ms",
				 ep->priv->attr.timeout_ms);
	}
	until = w->deadline < p->next_check ? w->deadline : p->next_check;
	return clcp__rx_wait(ep, (int)(until > now ? until - now : 0), w->spin);
}

/*
 * The next frame in the Rx queue is another channel's than c, whose open
 * message CLCP_ANY would take: it may end a message that is all here,
 * better taken first. (One of c's own: c's message streams on, taken as
 * it comes.)
 */
static bool other_next(struct clcp_endpt *ep, int c)
{
	const struct clcp_qentry *e = clcp_rxq_peek(ep);

	return e && e->chan != (uint32_t)c;
}

/* Waits until *chan (or some channel, for CLCP_ANY) has a parked frame. */
static int wait_parked(struct clcp_endpt *ep, int *chan, struct rx_call *call,
		       enum head_need need)
{
	bool whole = need == HEAD_WHOLE || (need == HEAD_MESSAGE && (call->flags & CLCP_NONBLOCK));
	struct rx_wait_ctx w;
	int rc, c;

	wait_ctx_init(ep, &w, call);
	for (;;) {
		c = *chan == CLCP_ANY ? pick_parked(ep, need, whole) : *chan;
		if (c >= 0 && ep->priv->chq[c].head >= 0 && (!whole || head_whole(ep, c))) {
			if (*chan == CLCP_ANY && need != HEAD_FRAME && !head_done(ep, c) &&
			    other_next(ep, c) && park_from_ring(ep))
				continue;
			*chan = c;
			return 0;
		}
		if (park_from_ring(ep))
			continue;
		if (*chan != CLCP_ANY && ep->chan_err[*chan])
			return ep->chan_err[*chan];
		rc = idle(ep, &w, chan);
		if (rc < 0)
			return rc;
	}
}

/* Puts frame idx back at the head of chan's parked list (it was not taken). */
static void repark_front(struct clcp_endpt *ep, int chan, int32_t idx)
{
	struct clcp__chanq *q = &ep->priv->chq[chan];

	ep->priv->held[idx].next = q->head;
	if (q->tail < 0)
		q->tail = idx;
	parked_head(ep, (uint32_t)chan, idx);
	ep->nheld++;
}

/*
 * A message receive failed halfway (err): the frames of that message still
 * to come are dropped, parked ones now, the others as they are parked; the
 * channel goes on with the next message.
 */
static int drop_rest(struct clcp_endpt *ep, int chan, int err)
{
	struct clcp__chanq *q = &ep->priv->chq[chan];

	while (q->head >= 0 && !(ep->priv->held[q->head].flags & CLCP_QF_FIRST))
		frame_free(ep, (uint32_t)unpark(ep, chan));
	q->cut = q->head < 0;
	return err;
}

/* Next frame of chan inside a message: parked, or waited for. */
static int32_t next_frame(struct clcp_endpt *ep, int chan, struct rx_wait_ctx *w)
{
	int rc, c = chan;

	for (;;) {
		if (ep->priv->chq[chan].head >= 0)
			return unpark(ep, chan);
		if (park_from_ring(ep))
			continue;
		if (ep->chan_err[chan])
			return ep->chan_err[chan];
		rc = idle(ep, w, &c);
		if (rc < 0)
			return rc;
	}
}

/*
 * A message offered to be copied from the sender's memory (CLCP_QF_PULL),
 * parked at idx: copied into buf, or declined when buf is NULL (its frames
 * follow). Returns its length, 1 when declined, or an error.
 */
static ssize_t take_pulled(struct clcp_endpt *ep, int chan, int32_t idx, void *buf,
			   bool spin, bool nonblock)
{
	const struct clcp__held *h = &ep->priv->held[idx];
	uint32_t msg_len = h->msg_len, len = h->len;
	struct clcp__pull d;
	int rc;

	if (len == sizeof(d))
		memcpy(&d, frame_data(ep, (uint32_t)idx), sizeof(d));
	d.frame_seq = h->seq; /* the wire's, not what the sender wrote */
	frame_free(ep, (uint32_t)idx);
	if (len != sizeof(d) || d.len != msg_len || msg_len < CLCP_MTU_MIN)
		return clcp__err(EPROTO, "channel %d: a bad offer of a message to copy", chan);
	rc = ep->priv->dev->ops->pull_take(ep, chan, &d, buf, msg_len, spin, nonblock);
	ep->priv->rx_pulled += rc == 0;
	return rc == 0 ? (ssize_t)msg_len : rc;
}

/* copy_message: an offer declined; its frames follow as a message. */
#define RX_DECLINED (-EALREADY)

/*
 * The message at chan's head into buf. An offered one is taken, or
 * declined (RX_DECLINED: its frames follow, and the receive looks for the
 * message they make as for any other; a nonblocking one does not wait for
 * them to cross the network).
 */
static ssize_t copy_message(struct clcp_endpt *ep, int chan, void *buf,
			    size_t cap, const struct rx_call *call)
{
	struct rx_call begun_msg = { 0, call->spin, UINT64_MAX }; /* its rest: not timed */
	bool nonblock = call->flags & CLCP_NONBLOCK;
	struct clcp__held *h;
	struct rx_wait_ctx w;
	uint32_t msg_len;
	size_t off = 0;
	bool last, begun = false, overflow = false;
	int32_t idx;

	wait_ctx_init(ep, &w, &begun_msg);
	msg_len = ep->priv->held[ep->priv->chq[chan].head].msg_len;
	do {
		idx = next_frame(ep, chan, &w);
		if (idx < 0)
			return begun && idx == -ENOBUFS ? drop_rest(ep, chan, idx) : idx;
		h = &ep->priv->held[idx];
		if ((h->flags & CLCP_QF_PULL) && !begun) { /* cap holds msg_len */
			ssize_t n = take_pulled(ep, chan, idx, buf, call->spin, nonblock);

			return n != 1 ? n : RX_DECLINED;
		}
		if (begun && (h->flags & CLCP_QF_FIRST)) { /* its sender began another */
			repark_front(ep, chan, idx);
			return clcp__err(EPROTO, "channel %d: a message of frames cut short by the "
					 "next message (dropped)", chan);
		}
		begun = true;
		w.spill_for = chan; /* from now on, starving, other channels' frames make room */
		last = h->flags & CLCP_QF_LAST;
		if (off + h->len > cap)
			overflow = true;
		else if (h->len)
			memcpy((char *)buf + off, frame_data(ep, (uint32_t)idx), h->len);
		off += h->len;
		frame_free(ep, (uint32_t)idx);
	} while (!last);
	if (overflow)
		return clcp__err(EMSGSIZE, "frame-built message of %zu bytes did not fit in %zu",
				 off, cap);
	if (msg_len != CLCP_MSG_LEN_UNKNOWN && off != msg_len)
		return clcp__err(EPROTO, "message of %u bytes arrived as %zu", msg_len, off);
	return (ssize_t)off;
}

static int rx_args_check(struct clcp_endpt *ep, const int *chan)
{
	int rc = clcp__endpt_check(ep);

	if (rc < 0)
		return rc;
	if (!chan)
		return clcp__err(EINVAL, "chan pointer is NULL");
	if (*chan == CLCP_ANY)
		return 0;
	return clcp__chan_check(ep, *chan);
}

/* Waits for a message to begin on *chan (need: HEAD_FIRST or HEAD_MESSAGE); its length. */
static int message_head(struct clcp_endpt *ep, int *chan, struct rx_call *call,
			enum head_need need, uint32_t *msg_len)
{
	struct clcp__held *h;
	int rc;

	rc = rx_args_check(ep, chan);
	if (rc == 0)
		rc = wait_parked(ep, chan, call, need);
	if (rc < 0)
		return rc;
	h = &ep->priv->held[ep->priv->chq[*chan].head];
	if (!(h->flags & CLCP_QF_FIRST))
		return clcp__err(EPROTO, "channel %d holds the rest of a message begun with clcp_rcv_frame", *chan);
	*msg_len = h->msg_len;
	return 0;
}

/*
 * Spins until a frame is at the Rx tail: the rounds it took, or -1 after
 * 4096 rounds (polling group, s NULL) or when the interrupt group's spin
 * budget runs out. The clock is read from the 32nd round on, every 16th (a
 * frame that comes sooner counts as a wait of 0; a caught wait is told as
 * of the last reading: no clock between the frame and the caller, and the
 * policy hears of it only at the next wait: clcp__spin_settle). A budget
 * that runs out leaves the wait begun (the spin counts), so the slow path
 * that follows blocks at once. A backend without progress work spins on
 * the owner byte alone: the frame is seen the soonest. The slots the
 * inline path took are reposted before (clcp__rx_flush), while nothing
 * better is to be done.
 */
static int spin_for_frame(struct clcp_endpt *ep, struct clcp__spin *s, uint64_t *t0,
			  uint64_t *now)
{
	void (*progress)(struct clcp_endpt *ep) = ep->priv->dev->ops->progress;
	int n;

	if (progress == clcp__noop) /* nothing to drive: the tightest loop */
		progress = NULL;
	for (n = 0;; n++) {
		if (clcp_rxq_peek(ep))
			return n;
		if (progress) {
			progress(ep);
			if (clcp_rxq_peek(ep)) /* a frame came: take it without the pause */
				return n;
		}
		clcp_cpu_relax();
		if (!s && n == 4095)
			return -1;
		if (!s || n < 32 || n % 16)
			continue;
		*now = clcp__now_ns();
		if (!*t0) {
			*t0 = *now;
		} else if (*now - *t0 >= s->budget_ns) {
			clcp__spin_carry(s, *t0);
			return -1;
		}
	}
}

/* One-frame messages taken as the inline polling calls take them, after a spin. */
static ssize_t spin_fast(struct clcp_endpt *ep, int *chan, void *buf, size_t cap,
			 struct clcp__spin *s)
{
	uint64_t t0 = 0, now = 0;
	ssize_t len;
	int n;

	if (ep->nheld != 0 || (*chan != CLCP_ANY && clcp__chan_check(ep, *chan) < 0))
		return -EAGAIN;
	clcp__rx_flush(ep);
	if (s)
		clcp__spin_settle(s);
	n = spin_for_frame(ep, s, &t0, &now);
	if (n < 0)
		return -EAGAIN;
	len = clcp__rx_try_fast(ep, chan, buf, cap);
	if (s && len >= 0 && n > 0) {
		s->hit_ns = now - t0;
		s->hit_owed = true;
	}
	return len;
}

/*
 * A message sent as frames (length unknown) is waited for whole before it
 * is taken (or until no Rx buffer is left for its rest: then it is taken
 * as it comes), so that one too long for cap stays queued (-EMSGSIZE).
 */
static int frames_fit(struct clcp_endpt *ep, int *chan, struct rx_call *call, size_t cap)
{
	int rc = wait_parked(ep, chan, call, HEAD_WHOLE);
	uint32_t n;
	size_t len;

	if (rc < 0)
		return rc;
	/* Cut short: copy_message says so; still open: taken as it comes. */
	if (head_scan(ep, *chan, &len, &n) == HEAD_LAST && len > cap)
		return clcp__err(EMSGSIZE, "message of frames of %zu bytes, buffer of %zu", len,
				 cap);
	return 0;
}

/* The message that begins next on *chan (or any channel) into buf, once it may be taken. */
static ssize_t rx_head_msg(struct clcp_endpt *ep, int *chan, void *buf, size_t cap,
			   struct rx_call *call)
{
	uint32_t msg_len = 0;
	int c = *chan, rc;

	rc = message_head(ep, &c, call, HEAD_MESSAGE, &msg_len);
	if (rc == -ECONNRESET || rc == -EPROTO || rc == -EMSGSIZE || rc == 0)
		*chan = c;
	if (rc < 0)
		return rc;
	if (msg_len == CLCP_MSG_LEN_UNKNOWN)
		rc = frames_fit(ep, &c, call, cap);
	if (rc < 0)
		return rc;
	if (msg_len != CLCP_MSG_LEN_UNKNOWN && msg_len > cap)
		return clcp__err(EMSGSIZE, "message of %u bytes, buffer of %zu", msg_len, cap);
	if (cap && !buf)
		return clcp__err(EFAULT, "buffer is NULL");
	return copy_message(ep, c, buf, cap, call);
}

/* attr.timeout_ms bounds the whole call: the waits before and after a decline share it. */
static ssize_t rx_msg(struct clcp_endpt *ep, int *chan, void *buf, size_t cap, int flags,
		      int spin)
{
	struct rx_call call = { flags, spin, 0 };
	ssize_t n;

	if (!(flags & CLCP_NONBLOCK) && clcp__endpt_check(ep) == 0 &&
	    (spin || ep->priv->spin.budget_ns)) {
		n = spin_fast(ep, chan, buf, cap, spin ? NULL : &ep->priv->spin);
		if (n != -EAGAIN)
			return n;
	}
	for (int want = *chan;; *chan = want) {
		n = rx_head_msg(ep, chan, buf, cap, &call);
		if (n != RX_DECLINED)
			return n;
	}
}

/*
 * The channel a receive on chan waits on (*waited): chan, or for CLCP_ANY
 * the only one open, or CLCP_ANY when several are. False: none.
 */
static bool waited_chan(struct clcp_endpt *ep, int chan, int *waited)
{
	int one = -1;

	if (chan != CLCP_ANY) {
		*waited = chan;
		return clcp__chan_check(ep, chan) == 0;
	}
	for (uint32_t c = 0; c < ep->nchan; c++) {
		if (ep->chans[c].state != CLCP_CHAN_ACTIVE)
			continue;
		if (one >= 0) {
			*waited = CLCP_ANY;
			return true;
		}
		one = (int)c;
	}
	*waited = one;
	return one >= 0;
}

/*
 * A receive into a buffer of 64 KiB or more says it waits (pull_ready),
 * spinning or blocked: the sender may then offer a message its Rx queue
 * would hold (docs/api.md, "Long messages"). An offer wakes a blocked
 * receive as a message's last frame does; as frames, the receive would
 * copy them only once the last had come, after the sender's copy, where
 * both copy at once in a pull. It waits on its channel, or from CLCP_ANY
 * on the only one open, or on any of several (the backend decides
 * whether their senders hear of it).
 * A receive for one channel gives its buffer too: an offered message that
 * the backend began to write there as the receive's time ran out is taken
 * all the same.
 */
ssize_t clcp__rx_msg(struct clcp_endpt *ep, int *chan, void *buf, size_t cap,
		     int flags, int spin)
{
	bool told = false;
	ssize_t n;
	int c;

	if (!chan)
		return clcp__err(EINVAL, "chan pointer is NULL");
	if (!(flags & CLCP_NONBLOCK) && buf && cap >= CLCP__PULL_READY_MIN &&
	    clcp__endpt_check(ep) == 0)
		told = waited_chan(ep, *chan, &c);
	if (told) {
		ep->priv->dev->ops->pull_ready(ep, c, *chan == CLCP_ANY ? NULL : buf, cap);
		ep->priv->ready_told = true;
		ep->priv->ready_chan = c;
	}
	n = rx_msg(ep, chan, buf, cap, flags, spin);
	if (told)
		pull_unready(ep);
	return n;
}

ssize_t clcp_rcv_message(clcp_endpt_t *ep, int *chan, void *buf, size_t cap,
			 int flags)
{
	return clcp__rx_msg(ep, chan, buf, cap, flags, 0);
}

ssize_t clcp_peek_message(clcp_endpt_t *ep, int *chan, int flags)
{
	struct rx_call call = { flags, false, 0 };
	uint32_t msg_len = 0;
	int c, rc;

	if (!chan)
		return clcp__err(EINVAL, "chan pointer is NULL");
	c = *chan;
	rc = message_head(ep, &c, &call, HEAD_FIRST, &msg_len);
	if (rc < 0)
		return rc;
	*chan = c;
	if (msg_len == CLCP_MSG_LEN_UNKNOWN)
		return clcp__err(ENODATA, "message built from frames: length unknown");
	return msg_len;
}

int clcp_rcv_frame(clcp_endpt_t *ep, int chan, struct clcp_frame *f, int flags)
{
	struct rx_call call = { flags, false, 0 };
	struct clcp__held *h;
	int c = chan, rc;
	int32_t idx;

	rc = rx_args_check(ep, &c);
	if (rc < 0)
		return rc;
	if (!f)
		return clcp__err(EINVAL, "frame pointer is NULL");
	for (;;) {
		rc = wait_parked(ep, &c, &call, HEAD_FRAME);
		if (rc < 0)
			return rc;
		idx = unpark(ep, c);
		if (!(ep->priv->held[idx].flags & CLCP_QF_PULL))
			break;
		rc = (int)take_pulled(ep, c, idx, NULL, false, false); /* frames wanted: they follow */
		if (rc < 0)
			return rc;
	}
	h = &ep->priv->held[idx];
	h->lent = 1;
	f->data = frame_data(ep, (uint32_t)idx);
	f->len = h->len;
	f->msg_len = h->msg_len;
	f->chan = c;
	f->flags = h->flags;
	f->id = (uint32_t)idx;
	return 0;
}

int clcp_release_frames(clcp_endpt_t *ep, const struct clcp_frame *f, unsigned n)
{
	int rc = clcp__endpt_check(ep);
	unsigned i;

	if (rc < 0)
		return rc;
	if (!f && n)
		return clcp__err(EINVAL, "frames pointer is NULL");
	for (i = 0; i < n; i++) {
		if (f[i].id >= 2 * ep->hdr->nrxbuf || !ep->priv->held[f[i].id].lent)
			return clcp__err(EINVAL, "frame id %u is not lent out", f[i].id);
		ep->priv->held[f[i].id].lent = 0;
		frame_free(ep, f[i].id);
	}
	return 0;
}
