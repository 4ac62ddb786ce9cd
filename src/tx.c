/* SPDX-License-Identifier: MIT */
/*
 * Send side: SAR into Tx entries, kick the NIC, wait while the peer has no
 * Rx space. A call returns once its frames are handed over; only a peer
 * failure (sticky per channel in chan_err) stops a message once begun.
 */
#include <string.h>

#include "internal.h"

#define KICK_BATCH 16u

/* A send's wait for Rx space: when it began, and its spin rounds. */
struct space_wait {
	uint64_t t0;
	unsigned rounds;
};

/*
 * Waits for Rx space at chan's peer; 0: try again. The interrupt group with
 * a spin budget spins it first (from w->t0, the wait's start; the clock is
 * read every 16th round, as its receives do), then sleeps in the backend.
 */
static int space_wait(struct clcp_endpt *ep, int chan, bool spin, struct space_wait *w)
{
	const struct clcp_backend_ops *ops = ep->priv->dev->ops;
	uint64_t budget;

	clcp__rx_flush(ep); /* our peer may be waiting for the same */
	clcp__spin_settle(&ep->priv->spin);
	budget = ep->priv->spin.budget_ns;
	if (!spin && budget) {
		if (!w->t0) {
			w->t0 = clcp__now_ns();
			ep->priv->tx_spins++;
		}
		if (++w->rounds % 16 || clcp__now_ns() - w->t0 < budget) {
			ops->progress(ep);
			clcp_cpu_relax();
			return 0;
		}
	}
	ep->priv->tx_sleeps += !spin;
	return ops->tx_wait(ep, chan, ep->priv->attr.peer_check_ms, spin);
}

/* Kicks until every posted entry is sent; waits while the NIC is blocked. */
static int tx_flush(struct clcp_endpt *ep, int rc, bool spin)
{
	struct space_wait w = { 0, 0 };

	while (rc == -EAGAIN) {
		rc = space_wait(ep, ep->txq[ep->hdr->tx_head & ep->tx_mask].chan, spin, &w);
		if (rc == 0)
			rc = ep->kick(ep);
	}
	return rc;
}

ssize_t clcp__tx_finish(struct clcp_endpt *ep, int chan, size_t len, int rc,
			int spin)
{
	rc = tx_flush(ep, rc, spin);
	if (rc < 0)
		return rc;
	if (ep->chan_err[chan])
		return ep->chan_err[chan];
	return (ssize_t)len;
}

/* A free Tx entry, kicking and waiting for one if needed. */
static struct clcp_qentry *tx_entry(struct clcp_endpt *ep, int chan, bool spin,
				    int *rc)
{
	struct clcp_qentry *e;

	while ((e = clcp_txq_reserve(ep)) == NULL) {
		*rc = tx_flush(ep, ep->kick(ep), spin);
		if (*rc < 0)
			return NULL;
		if (ep->chan_err[chan]) {
			*rc = ep->chan_err[chan];
			return NULL;
		}
	}
	return e;
}

/*
 * One frame straight from user memory, waiting while the peer is full:
 * 0 sent, -ENOSYS (backend has no direct path: use the queue), or error.
 */
static int tx_direct(struct clcp_endpt *ep, int chan, const void *data,
		     uint32_t len, uint32_t msg_len, uint8_t flags, bool spin)
{
	const struct clcp_backend_ops *ops = ep->priv->dev->ops;
	struct space_wait w = { 0, 0 };
	int rc;

	for (;;) {
		if (ep->hdr->tx_head != ep->tx_tail)
			return -ENOSYS; /* keep order behind queued frames */
		rc = ops->tx_direct(ep, chan, data, len, msg_len, flags);
		if (rc != -EAGAIN)
			break;
		rc = space_wait(ep, chan, spin, &w);
		if (rc < 0)
			break;
		if (ep->chan_err[chan])
			return ep->chan_err[chan];
	}
	return rc == 0 && ep->chan_err[chan] ? ep->chan_err[chan] : rc;
}

/* The checks before a send; `message`: a message call, refused inside a message of frames. */
static int tx_args_check(struct clcp_endpt *ep, int chan, const void *buf,
			 size_t len, int flags, bool message)
{
	int rc = clcp__endpt_check(ep);

	if (rc == 0)
		rc = clcp__chan_check(ep, chan);
	if (rc < 0)
		return rc;
	if (ep->chan_err[chan])
		return clcp__err(-ep->chan_err[chan], "channel %d failed earlier: %s",
				 chan, clcp_strerror(ep->chan_err[chan]));
	if (message && ep->priv->tx_midmsg[chan])
		return clcp__err(EINVAL, "channel %d: a message begun by clcp_send_frame(CLCP_MORE) "
				 "is open; end it with a frame without CLCP_MORE first", chan);
	if (len && !buf)
		return clcp__err(EFAULT, "buffer is NULL");
	if (flags & CLCP_NONBLOCK) {
		rc = ep->priv->dev->ops->tx_ready(ep, chan);
		if (rc == 0)
			return clcp__err(EAGAIN, "peer of channel %d cannot take a frame now", chan);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* SAR: the message as frames, each straight from buf when nothing is queued. */
static ssize_t send_frames(struct clcp_endpt *ep, int chan, const void *buf,
			   size_t len, uint32_t msg_len, uint8_t extra, bool spin)
{
	uint32_t i, n = clcp_sar_nframes(len, ep->mtu), flen;
	struct clcp_qentry *e;
	uint8_t qflags;
	int rc;

	for (i = 0; i < n; i++) {
		const char *data = (const char *)buf + (size_t)i * ep->mtu;

		flen = clcp_sar_frame_len(len, ep->mtu, i);
		qflags = clcp_sar_flags(i, n) | extra;
		rc = tx_direct(ep, chan, data, flen, msg_len, qflags, spin);
		if (rc == 0)
			continue;
		if (rc != -ENOSYS)
			return rc;
		e = tx_entry(ep, chan, spin, &rc);
		if (!e)
			return rc;
		if (flen)
			memcpy(clcp_txq_buf(ep, e), data, flen);
		clcp_txq_post(ep, e, (uint16_t)chan, flen, msg_len, qflags);
		if (i % KICK_BATCH == KICK_BATCH - 1)
			ep->kick(ep);
	}
	return clcp__tx_finish(ep, chan, len, ep->kick(ep), spin);
}

/*
 * Offers the message for the peer to copy and waits as a send waits for Rx
 * space (the interrupt group spins its budget first, then sleeps): 0
 * copied, 1 declined (send frames), or an error.
 */
static int send_pulled(struct clcp_endpt *ep, int chan, const struct clcp__pull *d,
		       bool spin)
{
	int rc = tx_direct(ep, chan, d, sizeof(*d), (uint32_t)d->len,
			   CLCP_QF_FIRST | CLCP_QF_LAST | CLCP_QF_PULL, spin);

	if (rc < 0) /* the queue is empty (send_long's caller): never -ENOSYS */
		return rc;
	return ep->priv->dev->ops->pull_wait(ep, chan, d,
					     spin ? UINT64_MAX : ep->priv->spin.budget_ns);
}

/*
 * A message longer than the mtu: offered for the peer to copy from buf (one
 * copy instead of two: docs/api.md, "Long messages") when the backend can,
 * else, or when the peer declines, as frames.
 */
static ssize_t send_long(struct clcp_endpt *ep, int chan, const void *buf, size_t len,
			 int flags, bool spin)
{
	struct clcp__pull d;
	int rc = ep->priv->dev->ops->pull_offer(ep, chan, buf, len, flags & CLCP_NONBLOCK, &d);

	if (rc == 0) {
		rc = send_pulled(ep, chan, &d, spin);
		if (rc < 0)
			return rc;
		ep->priv->tx_pulled += rc == 0;
		ep->priv->tx_declined += rc == 1;
		if (rc == 0)
			return (ssize_t)len;
	} else if (rc != -ENOSYS) {
		return rc;
	}
	return send_frames(ep, chan, buf, len, (uint32_t)len, 0, spin);
}

ssize_t clcp__tx_msg(struct clcp_endpt *ep, int chan, const void *buf,
		     size_t len, int flags, int spin)
{
	ssize_t rc;

	if (len > CLCP_MSG_MAX)
		return clcp__err(EMSGSIZE, "message of %zu bytes > CLCP_MSG_MAX", len);
	rc = tx_args_check(ep, chan, buf, len, flags, true);
	if (rc < 0)
		return rc;
	if (len > ep->mtu && ep->hdr->tx_head == ep->tx_tail)
		return send_long(ep, chan, buf, len, flags, spin);
	return send_frames(ep, chan, buf, len, (uint32_t)len, 0, spin);
}

ssize_t clcp_snd_message(clcp_endpt_t *ep, int chan, const void *buf, size_t len,
			 int flags)
{
	return clcp__tx_one(ep, chan, buf, len, flags, 0);
}

/* Chan is inside a message begun by clcp_send_frame(CLCP_MORE), or no longer. */
void clcp__tx_open(struct clcp_endpt *ep, int chan, bool open)
{
	if (ep->priv->tx_midmsg[chan] == open)
		return;
	ep->priv->tx_midmsg[chan] = open;
	ep->tx_open += open ? 1u : UINT32_MAX;
}

ssize_t clcp_send_frame(clcp_endpt_t *ep, int chan, const void *buf, size_t len,
			int flags)
{
	struct clcp_qentry *e;
	uint8_t qflags;
	int rc = tx_args_check(ep, chan, buf, len, flags, false);

	if (rc < 0)
		return rc;
	if (len > ep->mtu)
		return clcp__err(EMSGSIZE, "frame of %zu bytes > mtu %u", len, ep->mtu);
	e = tx_entry(ep, chan, false, &rc);
	if (!e)
		return rc;
	qflags = ep->priv->tx_midmsg[chan] ? 0 : CLCP_QF_FIRST;
	if (!(flags & CLCP_MORE))
		qflags |= CLCP_QF_LAST;
	clcp__tx_open(ep, chan, !(qflags & CLCP_QF_LAST));
	if (len)
		memcpy(clcp_txq_buf(ep, e), buf, len);
	clcp_txq_post(ep, e, (uint16_t)chan, (uint32_t)len, CLCP_MSG_LEN_UNKNOWN, qflags);
	return clcp__tx_finish(ep, chan, len, ep->kick(ep), false);
}

int clcp__txq_drain(struct clcp_endpt *ep, clcp__send_fn send, void *arg)
{
	uint32_t head = ep->hdr->tx_head;
	int rc = 0;

	while (head != ep->tx_tail) {
		struct clcp_qentry *e = &ep->txq[head & ep->tx_mask];

		/* A1: pairs with the user's R1 that posted the entry. */
		if (clcp_load_acquire(&e->owner) != CLCP_OWNER_NIC)
			break;
		rc = e->chan >= ep->nchan ? -EINVAL : ep->chan_err[e->chan];
		if (rc == 0 && e->len > ep->mtu)
			rc = -EMSGSIZE;
		if (rc == 0) {
			rc = send(ep, e, arg);
			if (rc == -EAGAIN)
				break;
			if (rc < 0)
				ep->chan_err[e->chan] = rc;
		}
		e->status = (int16_t)rc;
		/* R2: hands the entry back; pairs with A2 of the reserver. */
		clcp_store_release(&e->owner, (clcp_u8)CLCP_OWNER_FREE);
		head++;
		ep->hdr->tx_frames++;
		rc = 0;
	}
	ep->hdr->tx_head = head;
	return rc;
}

void clcp__wake_senders(struct clcp_endpt *ep)
{
	ep->priv->dev->ops->wake_senders(ep);
}
