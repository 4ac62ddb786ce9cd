/* SPDX-License-Identifier: MIT */
/*
 * The user side of an endpoint and its fast paths, inline (liburing
 * style): posting a Tx entry, polling an Rx entry, SAR, and the polling
 * message calls for the common case. Rules for everything in this file:
 * no malloc, no lock, no system call. Whatever needs one goes through an
 * out-of-line clcp__ function. The library also exports each inline under
 * the same name for FFI users (src/ffi.c).
 *
 * Fields of struct clcp_endpt are private to the library: read them only
 * through the functions below.
 */
#ifndef CLCP_ENDPT_H
#define CLCP_ENDPT_H

#include <errno.h>
#include <string.h>

#include "clcp/clcp.h" /* types and constants; it includes this file last */

#include "clcp/abi.h"
#include "clcp/barrier.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef CLCP_INLINE
#define CLCP_INLINE static inline
#endif

struct clcp__endpt_priv;

struct clcp_endpt {
	uint32_t magic;	     /* CLCP_ENDPT_MAGIC while allocated */
	unsigned char *base; /* the mapped endpoint region */
	struct clcp_endpt_hdr *hdr;
	struct clcp_qentry *txq;
	struct clcp_qentry *rxq;
	struct clcp_chan_desc *chans;
	uint32_t tx_mask, rx_mask;
	uint32_t mtu;
	uint32_t nchan;
	uint32_t tx_tail; /* next Tx entry the user fills */
	uint32_t rx_tail; /* next Rx slot the user reads */
	uint32_t rx_post; /* next Rx slot the user gives a buffer */
	uint32_t rx_lazy; /* slots from rx_post taken by the inline path, not reposted yet */
	uint32_t nheld;	  /* frames parked per channel (slow path owns them) */
	int32_t *chan_err; /* sticky error per channel (0 = fine) */
	int (*kick)(struct clcp_endpt *ep); /* the NIC: send what is posted */
	/* The NIC: one frame from user memory, nothing queued (-ENOSYS: none). */
	int (*tx_direct)(struct clcp_endpt *ep, int chan, const void *buf,
			 uint32_t len, uint32_t msg_len, uint8_t flags);
	struct clcp__endpt_priv *priv;
	uint32_t tx_open; /* channels inside a message begun by clcp_send_frame(CLCP_MORE) */
};

/* Out-of-line halves of the fast paths (src/). */
CLCP_API ssize_t clcp__tx_msg(struct clcp_endpt *ep, int chan, const void *buf,
			      size_t len, int flags, int spin);
CLCP_API ssize_t clcp__tx_finish(struct clcp_endpt *ep, int chan, size_t len,
				 int rc, int spin);
CLCP_API ssize_t clcp__rx_msg(struct clcp_endpt *ep, int *chan, void *buf,
			      size_t cap, int flags, int spin);
CLCP_API void clcp__wake_senders(struct clcp_endpt *ep);

/* memcpy; up to 32 bytes (an inline payload) without a call: overlapping moves. */
CLCP_INLINE void clcp__copy(void *d, const void *s, size_t n)
{
	unsigned char *dp = (unsigned char *)d;
	const unsigned char *sp = (const unsigned char *)s;
	uint64_t a, b, c, e;
	uint32_t x, y;

	if (n > 32) {
		memcpy(d, s, n);
	} else if (n >= 16) {
		memcpy(&a, sp, 8);
		memcpy(&b, sp + 8, 8);
		memcpy(&c, sp + n - 16, 8);
		memcpy(&e, sp + n - 8, 8);
		memcpy(dp, &a, 8);
		memcpy(dp + 8, &b, 8);
		memcpy(dp + n - 16, &c, 8);
		memcpy(dp + n - 8, &e, 8);
	} else if (n >= 8) {
		memcpy(&a, sp, 8);
		memcpy(&b, sp + n - 8, 8);
		memcpy(dp, &a, 8);
		memcpy(dp + n - 8, &b, 8);
	} else if (n >= 4) {
		memcpy(&x, sp, 4);
		memcpy(&y, sp + n - 4, 4);
		memcpy(dp, &x, 4);
		memcpy(dp + n - 4, &y, 4);
	} else if (n != 0) {
		unsigned char first = sp[0], mid = sp[n / 2], last = sp[n - 1];

		dp[0] = first;
		dp[n / 2] = mid;
		dp[n - 1] = last;
	}
}

/* --- SAR --- */

/* Frames a message of len bytes needs (a 0-byte message is one frame). */
CLCP_INLINE uint32_t clcp_sar_nframes(uint64_t len, uint32_t mtu)
{
	return len == 0 ? 1u : (uint32_t)((len + mtu - 1) / mtu);
}

/* Length of frame i of a message of len bytes. */
CLCP_INLINE uint32_t clcp_sar_frame_len(uint64_t len, uint32_t mtu, uint32_t i)
{
	uint64_t off = (uint64_t)i * mtu;

	return len - off < mtu ? (uint32_t)(len - off) : mtu;
}

/* Queue-entry flags of frame i of an n-frame message. */
CLCP_INLINE uint8_t clcp_sar_flags(uint32_t i, uint32_t n)
{
	return (uint8_t)((i == 0 ? CLCP_QF_FIRST : 0) |
			 (i + 1 == n ? CLCP_QF_LAST : 0));
}

/* --- Tx queue --- */

/*
 * The next Tx entry, if the NIC has handed it back (owner FREE), else
 * NULL. Its buffer is clcp_txq_buf(); fill it, then clcp_txq_post().
 */
CLCP_INLINE struct clcp_qentry *clcp_txq_reserve(struct clcp_endpt *ep)
{
	struct clcp_qentry *e = &ep->txq[ep->tx_tail & ep->tx_mask];

	/* A2: pairs with the NIC's release of a sent entry (R2). */
	if (clcp_load_acquire(&e->owner) != CLCP_OWNER_FREE)
		return NULL;
	return e;
}

CLCP_INLINE void *clcp_txq_buf(struct clcp_endpt *ep,
			       const struct clcp_qentry *e)
{
	return ep->base + e->buf_off;
}

/* Hands a filled Tx entry to the NIC. The NIC sends it after a kick. */
CLCP_INLINE void clcp_txq_post(struct clcp_endpt *ep, struct clcp_qentry *e,
			       uint16_t chan, uint32_t len, uint32_t msg_len,
			       uint8_t flags)
{
	e->len = len;
	e->msg_len = msg_len;
	e->chan = chan;
	e->status = 0;
	e->flags = flags;
	/* R1: publishes the entry and its buffer; pairs with the NIC's A1. */
	clcp_store_release(&e->owner, (clcp_u8)CLCP_OWNER_NIC);
	ep->tx_tail++;
}

/* --- Rx queue --- */

/* The next received frame's entry, or NULL. Read it, then consume it. */
CLCP_INLINE const struct clcp_qentry *clcp_rxq_peek(struct clcp_endpt *ep)
{
	const struct clcp_qentry *e = &ep->rxq[ep->rx_tail & ep->rx_mask];

	/* A3: pairs with the NIC's release of a filled entry (R3). */
	if (clcp_load_acquire(&e->owner) != CLCP_OWNER_USER)
		return NULL;
	return e;
}

CLCP_INLINE const void *clcp_rxq_data(struct clcp_endpt *ep,
				      const struct clcp_qentry *e)
{
	return (e->flags & CLCP_QF_INLINE) ? e->data : ep->base + e->buf_off;
}

/*
 * Done reading the peeked entry (its buffer is still the user's). The slot
 * is FREE until the user posts a buffer into it again.
 */
CLCP_INLINE void clcp_rxq_consume(struct clcp_endpt *ep)
{
	clcp_store_relaxed(&ep->rxq[ep->rx_tail & ep->rx_mask].owner,
			   (clcp_u8)CLCP_OWNER_FREE);
	ep->rx_tail++;
}

/* Gives an Rx buffer (offset) to the NIC in the next free slot, quietly. */
CLCP_INLINE void clcp_rxq_post_quiet(struct clcp_endpt *ep, uint32_t buf_off)
{
	struct clcp_qentry *e = &ep->rxq[ep->rx_post & ep->rx_mask];

	e->buf_off = buf_off;
	/* R4: hands the buffer to the NIC; pairs with the NIC's A4. */
	clcp_store_release(&e->owner, (clcp_u8)CLCP_OWNER_NIC);
	ep->rx_post++;
}

/* After posting: wakes senders that sleep for Rx space (a system call only then). */
CLCP_INLINE void clcp_rxq_notify(struct clcp_endpt *ep)
{
	/* F1: orders the posts before reading rx_waiters; pairs with F2. */
	clcp_fence_full();
	if (clcp_load_relaxed(&ep->hdr->rx_waiters))
		clcp__wake_senders(ep);
}

/*
 * Gives an Rx buffer (offset) to the NIC in the next free slot and wakes
 * sleeping senders. The caller keeps rx_post - rx_tail < queue length.
 */
CLCP_INLINE void clcp_rxq_post(struct clcp_endpt *ep, uint32_t buf_off)
{
	struct clcp_qentry *e = &ep->rxq[ep->rx_post & ep->rx_mask];

	e->buf_off = buf_off;
	/* R4+F1 in one: hands the buffer over and orders it before rx_waiters. */
	clcp_exchange(&e->owner, (clcp_u8)CLCP_OWNER_NIC);
	ep->rx_post++;
	if (clcp_load_seqcst(&ep->hdr->rx_waiters))
		clcp__wake_senders(ep);
}

/*
 * Reposts the slots the inline receive took (clcp__rxq_release), each with
 * the buffer it had, in order, then wakes sleeping senders.
 */
CLCP_INLINE void clcp__rx_flush(struct clcp_endpt *ep)
{
	if (ep->rx_lazy == 0)
		return;
	for (; ep->rx_lazy != 0; ep->rx_lazy--)
		clcp_rxq_post_quiet(ep, ep->rxq[ep->rx_post & ep->rx_mask].buf_off);
	clcp_rxq_notify(ep);
}

/*
 * Done with the frame at the Rx tail, whose buffer off goes back to the
 * NIC. Not at once if every slot before it is posted: the slot is left as
 * it is (owner USER, its buffer in buf_off) for up to an eighth of the
 * queue, and reposted by the library's next wait or call that needs it
 * (clcp__rx_flush). The line the sender just wrote is then not written
 * back while the caller answers, and the repost's fence is not paid then.
 */
CLCP_INLINE void clcp__rxq_release(struct clcp_endpt *ep, uint32_t off)
{
	uint32_t n = ep->rx_mask + 1;

	if (ep->rx_tail + n != ep->rx_post + ep->rx_lazy) { /* a slot before it waits for a buffer */
		clcp__rx_flush(ep);
		clcp_rxq_consume(ep);
		clcp_rxq_post(ep, off);
		return;
	}
	ep->rx_tail++; /* off stays in the slot's buf_off */
	if (++ep->rx_lazy >= n / 8)
		clcp__rx_flush(ep); /* the whole batch, one fence */
}

/* --- polling message calls: the one-frame case inline --- */

CLCP_INLINE int clcp__chan_ready(struct clcp_endpt *ep, int chan)
{
	return (unsigned)chan < ep->nchan && ep->chan_err[chan] == 0 &&
	       ep->chans[chan].state == CLCP_CHAN_ACTIVE;
}

/*
 * A one-frame message: straight from buf to the peer when nothing is
 * queued (backends with a direct path), else through a Tx entry. Any
 * other case, and any wait, goes out of line (spin: the polling group).
 */
CLCP_INLINE ssize_t clcp__tx_one(struct clcp_endpt *ep, int chan,
				 const void *buf, size_t len, int flags, int spin)
{
	struct clcp_qentry *e;
	int rc;

	if (ep == NULL || len > ep->mtu || (flags & CLCP_NONBLOCK) || buf == NULL ||
	    ep->tx_open || !clcp__chan_ready(ep, chan))
		return clcp__tx_msg(ep, chan, buf, len, flags, spin);
	if (ep->hdr->tx_head == ep->tx_tail) {
		rc = ep->tx_direct(ep, chan, buf, (uint32_t)len, (uint32_t)len,
				   CLCP_QF_FIRST | CLCP_QF_LAST);
		if (rc == 0)
			return (ssize_t)len;
		if (rc == -EAGAIN) /* wait out of line */
			return clcp__tx_msg(ep, chan, buf, len, flags, spin);
		if (rc != -ENOSYS) /* failed: the backend's detail is clcp_errmsg() */
			return rc;
	}
	e = clcp_txq_reserve(ep);
	if (e == NULL)
		return clcp__tx_msg(ep, chan, buf, len, flags, spin);
	memcpy(clcp_txq_buf(ep, e), buf, len);
	clcp_txq_post(ep, e, (uint16_t)chan, (uint32_t)len, (uint32_t)len,
		      CLCP_QF_FIRST | CLCP_QF_LAST);
	rc = ep->kick(ep);
	if (rc == 0)
		return (ssize_t)len;
	return clcp__tx_finish(ep, chan, len, rc, spin);
}

CLCP_INLINE ssize_t clcp_poll_tx_msg(struct clcp_endpt *ep, int chan,
				     const void *buf, size_t len, int flags)
{
	return clcp__tx_one(ep, chan, buf, len, flags, 1);
}

/*
 * Takes a one-frame message for *chan at the Rx queue's tail when nothing
 * is parked: copies it out and gives its buffer back (clcp__rxq_release).
 * -EAGAIN otherwise.
 */
CLCP_INLINE ssize_t clcp__rx_try_fast(struct clcp_endpt *ep, int *chan,
				      void *buf, size_t cap)
{
	const struct clcp_qentry *e;
	uint32_t len, off;
	int c;

	if (ep == NULL || chan == NULL || ep->nheld != 0 ||
	    (e = clcp_rxq_peek(ep)) == NULL)
		return -EAGAIN;
	len = e->len;
	c = e->chan;
	if ((e->flags & (CLCP_QF_FIRST | CLCP_QF_LAST | CLCP_QF_PULL)) !=
		    (CLCP_QF_FIRST | CLCP_QF_LAST) || /* an offer goes out of line */
	    (e->msg_len != len && e->msg_len != CLCP_MSG_LEN_UNKNOWN) || /* EPROTO */
	    len > cap || (*chan != CLCP_ANY && *chan != c) ||
	    (buf == NULL && len != 0))
		return -EAGAIN;
	off = e->buf_off;
	if (buf != NULL && len != 0)
		clcp__copy(buf, (e->flags & CLCP_QF_INLINE) ? e->data : ep->base + off, len);
	clcp__rxq_release(ep, off);
	*chan = c;
	return (ssize_t)len;
}

CLCP_INLINE ssize_t clcp_poll_rx_msg(struct clcp_endpt *ep, int *chan,
				     void *buf, size_t cap, int flags)
{
	ssize_t n = clcp__rx_try_fast(ep, chan, buf, cap);

	return n != -EAGAIN ? n : clcp__rx_msg(ep, chan, buf, cap, flags, 1);
}

#ifdef __cplusplus
}
#endif

#endif /* CLCP_ENDPT_H */
