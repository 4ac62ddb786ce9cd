/* SPDX-License-Identifier: MIT */
/* Endpoints and channels: layout, allocation, arming. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define ALIGN64(x) (((x) + 63u) & ~63u)

void clcp_endpt_attr_init(struct clcp_endpt_attr *attr)
{
	if (!attr)
		return;
	attr->mtu = CLCP_MTU_AUTO;
	attr->txq_len = CLCP_QLEN_DEFAULT;
	attr->rxq_len = CLCP_QLEN_DEFAULT;
	attr->nchan = CLCP_NCHAN_DEFAULT;
	attr->timeout_ms = -1;
	attr->peer_check_ms = 100;
	attr->connect_ms = 10000;
	attr->spin_us = 0;
	attr->spin_max_us = 1000;
}

int clcp_dev_attr_init(clcp_dev_t *dev, struct clcp_endpt_attr *attr)
{
	if (!dev || !attr)
		return clcp__err(EINVAL, "clcp_dev_attr_init: NULL argument");
	clcp_endpt_attr_init(attr);
	attr->mtu = dev->mtu_default;
	return 0;
}

static bool qlen_ok(uint32_t n)
{
	return n >= 2 && n <= CLCP_QLEN_MAX && (n & (n - 1)) == 0;
}

static int spin_check(int32_t spin_us, int32_t spin_max_us)
{
	if (spin_us < CLCP_SPIN_ADAPTIVE || spin_us > CLCP_SPIN_MAX_US || spin_max_us < 1 ||
	    spin_max_us > CLCP_SPIN_MAX_US)
		return clcp__err(EINVAL, "spin_us %d: 0..%d or CLCP_SPIN_ADAPTIVE; spin_max_us %d: 1..%d",
				 spin_us, CLCP_SPIN_MAX_US, spin_max_us, CLCP_SPIN_MAX_US);
	return 0;
}

static int attr_check(const struct clcp_endpt_attr *a, uint32_t mtu_max)
{
	if (a->mtu < CLCP_MTU_MIN || a->mtu > mtu_max)
		return clcp__err(EINVAL, "mtu %u outside %u..%u", a->mtu,
				 CLCP_MTU_MIN, mtu_max);
	if (!qlen_ok(a->txq_len) || !qlen_ok(a->rxq_len))
		return clcp__err(EINVAL, "queue lengths %u/%u: powers of two in 2..%u",
				 a->txq_len, a->rxq_len, CLCP_QLEN_MAX);
	if (a->nchan < 1 || a->nchan > CLCP_NCHAN_MAX)
		return clcp__err(EINVAL, "nchan %u outside 1..%u", a->nchan,
				 CLCP_NCHAN_MAX);
	if (a->timeout_ms < -1 || a->peer_check_ms <= 0 || a->connect_ms < 0)
		return clcp__err(EINVAL, "timeouts: timeout_ms >= -1, peer_check_ms > 0, connect_ms >= 0");
	return spin_check(a->spin_us, a->spin_max_us);
}

/* Bytes between frame buffers: the room the backend asked for, the mtu, 64-aligned. */
static uint32_t stride_of(const struct clcp__buf_room *r, uint32_t mtu)
{
	return ALIGN64(r->headroom + (r->span > mtu ? r->span : mtu));
}

/*
 * Writes the region layout into the header; returns the region size. Each
 * buffer sits `headroom` bytes into its slot of `stride` bytes; the NIC's
 * own Rx buffers (room->nic_bufs) follow the 2 x rxq_len of the user.
 */
static uint32_t layout(struct clcp_endpt_hdr *h, const struct clcp_endpt_attr *a,
		       const struct clcp__buf_room *room)
{
	uint32_t stride = stride_of(room, a->mtu), off = sizeof(*h);

	h->mtu = a->mtu;
	h->chan_off = off;
	h->nchan = a->nchan;
	off = ALIGN64(off + a->nchan * (uint32_t)sizeof(struct clcp_chan_desc));
	h->txq_off = off;
	h->txq_len = a->txq_len;
	off += a->txq_len * (uint32_t)sizeof(struct clcp_qentry);
	h->rxq_off = off;
	h->rxq_len = a->rxq_len;
	off += a->rxq_len * (uint32_t)sizeof(struct clcp_qentry);
	off = (off + 4095u) & ~4095u;
	h->txbuf_off = off + room->headroom;
	h->ntxbuf = a->txq_len;
	off += a->txq_len * stride;
	h->rxbuf_off = off + room->headroom;
	h->nrxbuf = 2 * a->rxq_len + room->nic_bufs; /* half posted, half spare for parking */
	off += h->nrxbuf * stride;
	h->size = off;
	return off;
}

static int priv_alloc(struct clcp_endpt *ep, const struct clcp_endpt_attr *a, uint32_t nrxbuf)
{
	struct clcp__endpt_priv *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	ep->priv = p;
	p->attr = *a;
	p->fd = -1;
	clcp__spin_init(&p->spin, a);
	p->free_bufs = calloc(2 * a->rxq_len, sizeof(*p->free_bufs));
	/* The NIC's buffers circulate too; as many again for spilled frames. */
	p->held = calloc(2 * (size_t)nrxbuf, sizeof(*p->held));
	p->chq = calloc(a->nchan, sizeof(*p->chq));
	p->parked = calloc((a->nchan + 63) / 64, sizeof(*p->parked));
	p->tx_midmsg = calloc(a->nchan, 1);
	ep->chan_err = calloc(a->nchan, sizeof(*ep->chan_err));
	if (!p->free_bufs || !p->held || !p->chq || !p->parked || !p->tx_midmsg ||
	    !ep->chan_err)
		return -ENOMEM;
	return 0;
}

static void priv_free(struct clcp_endpt *ep)
{
	struct clcp__endpt_priv *p = ep->priv;

	free(ep->chan_err);
	ep->chan_err = NULL;
	if (!p)
		return;
	free(p->free_bufs);
	free(p->held);
	free(p->spill);
	free(p->spill_free);
	free(p->chq);
	free(p->parked);
	free(p->tx_midmsg);
	clcp__spin_fini(&p->spin);
	free(p);
	ep->priv = NULL;
}

/* Fills the user side from the header: queue pointers, posted Rx buffers. */
static void queues_init(struct clcp_endpt *ep)
{
	struct clcp_endpt_hdr *h = ep->hdr;
	struct clcp__endpt_priv *p = ep->priv;
	uint32_t i, stride = p->stride;

	ep->txq = (struct clcp_qentry *)(ep->base + h->txq_off);
	ep->rxq = (struct clcp_qentry *)(ep->base + h->rxq_off);
	ep->chans = (struct clcp_chan_desc *)(ep->base + h->chan_off);
	ep->tx_mask = h->txq_len - 1;
	ep->rx_mask = h->rxq_len - 1;
	ep->mtu = h->mtu;
	ep->nheld = 0; /* a reused slot holds UINT32_MAX from its release */
	for (i = 0; i < h->txq_len; i++)
		ep->txq[i].buf_off = h->txbuf_off + i * stride;
	for (i = 0; i < h->nchan; i++)
		p->chq[i].head = p->chq[i].tail = -1;
	for (i = 2 * h->rxq_len; i-- > 0;) /* the rest are the NIC's */
		p->free_bufs[p->nfree++] = h->rxbuf_off + i * stride;
	clcp__rx_refill(ep);
}

static struct clcp_endpt *slot_find(struct clcp_dev *dev)
{
	uint32_t i;

	for (i = 0; i < dev->max_endpts; i++)
		if (dev->endpts[i].magic != CLCP_ENDPT_MAGIC)
			return &dev->endpts[i];
	return NULL;
}

static void endpt_teardown(struct clcp_endpt *ep, bool allocated)
{
	if (allocated)
		ep->priv->dev->ops->endpt_release(ep);
	priv_free(ep);
	memset(ep, 0, sizeof(*ep));
	ep->nheld = UINT32_MAX; /* keeps a stale pointer off the fast paths */
}

int clcp_alloc_endpt(clcp_dev_t *dev, const struct clcp_endpt_attr *attr,
		     clcp_endpt_t **epp)
{
	struct clcp_endpt_attr a;
	struct clcp__buf_room room;
	struct clcp_endpt_hdr h;
	struct clcp_endpt *ep;
	int rc;

	if (!dev || !epp)
		return clcp__err(EINVAL, "clcp_alloc_endpt: NULL argument");
	if (attr)
		a = *attr;
	else
		clcp_endpt_attr_init(&a);
	if (a.mtu == CLCP_MTU_AUTO)
		a.mtu = dev->mtu_default;
	rc = attr_check(&a, dev->ops->mtu_max);
	if (rc < 0)
		return rc;
	ep = slot_find(dev);
	if (!ep)
		return clcp__err(EBUSY, "all %u endpoints of this process are in use",
				 dev->max_endpts);
	memset(&h, 0, sizeof(h));
	dev->ops->buf_room(dev, &a, &room);
	layout(&h, &a, &room);
	rc = priv_alloc(ep, &a, h.nrxbuf);
	if (rc < 0) {
		endpt_teardown(ep, false);
		return clcp__err(ENOMEM, "clcp_alloc_endpt: out of memory");
	}
	ep->priv->dev = dev;
	ep->priv->size = h.size;
	ep->priv->room = room;
	ep->priv->stride = stride_of(&room, a.mtu);
	rc = dev->ops->endpt_alloc(ep, h.size);
	if (rc < 0) {
		endpt_teardown(ep, false);
		return rc;
	}
	h.hdr_size = sizeof(h);
	h.abi_version = CLCP_ABI_VERSION;
	h.node = dev->node;
	ep->hdr = (struct clcp_endpt_hdr *)ep->base;
	memcpy(ep->hdr, &h, sizeof(h));
	queues_init(ep);
	ep->nchan = a.nchan;
	ep->kick = dev->ops->kick;
	ep->tx_direct = dev->ops->tx_direct;
	ep->magic = CLCP_ENDPT_MAGIC;
	rc = dev->ops->endpt_start(ep);
	if (rc < 0) {
		endpt_teardown(ep, true);
		return rc;
	}
	*epp = ep;
	return 0;
}

int clcp__endpt_check(struct clcp_endpt *ep)
{
	if (!ep)
		return clcp__err(EINVAL, "endpoint is NULL");
	if (ep->magic != CLCP_ENDPT_MAGIC)
		return clcp__err(EBADF, "endpoint released");
	return 0;
}

int clcp__chan_check(struct clcp_endpt *ep, int chan)
{
	if (chan < 0 || (uint32_t)chan >= ep->nchan)
		return clcp__err(EINVAL, "channel %d outside 0..%u", chan,
				 ep->nchan - 1);
	if (ep->chans[chan].state != CLCP_CHAN_ACTIVE)
		return clcp__err(ENOTCONN, "channel %d not allocated", chan);
	return 0;
}

int clcp_release_endpt(clcp_endpt_t *ep)
{
	int rc = clcp__endpt_check(ep);
	uint32_t c;

	if (rc < 0)
		return rc;
	for (c = 0; c < ep->nchan; c++)
		if (ep->chans[c].state == CLCP_CHAN_ACTIVE)
			clcp_release_chan(ep, (int)c);
	endpt_teardown(ep, true);
	return 0;
}

int clcp_alloc_chan(clcp_endpt_t *ep, uint16_t my_port, uint32_t peer_node,
		    uint16_t peer_port)
{
	struct clcp__endpt_priv *p;
	struct clcp_chan_desc *d;
	int rc = clcp__endpt_check(ep);
	uint32_t c;

	if (rc < 0)
		return rc;
	if (peer_port == 0)
		return clcp__err(EINVAL, "peer port 0 is not a port");
	for (c = 0; c < ep->nchan; c++)
		if (ep->chans[c].state == CLCP_CHAN_FREE)
			break;
	if (c == ep->nchan)
		return clcp__err(EBUSY, "all %u channels in use", ep->nchan);
	p = ep->priv;
	d = &ep->chans[c];
	d->my_port = my_port;
	d->peer_node = peer_node;
	d->peer_port = peer_port;
	d->tx_seq = d->rx_seq = 0;
	d->gen++;
	ep->chan_err[c] = 0;
	p->tx_midmsg[c] = 0;
	p->chq[c].head = p->chq[c].tail = -1;
	p->chq[c].cut = false;
	rc = p->dev->ops->chan_alloc(ep, (int)c);
	if (rc < 0)
		return rc;
	/* R5: the NIC sees a filled desc; pairs with its acquire of state. */
	clcp_store_release(&d->state, (clcp_u32)CLCP_CHAN_ACTIVE);
	return (int)c;
}

int clcp_release_chan(clcp_endpt_t *ep, int chan)
{
	int rc = clcp__endpt_check(ep);

	if (rc == 0)
		rc = clcp__chan_check(ep, chan);
	if (rc < 0)
		return rc;
	clcp_store_release(&ep->chans[chan].state, (clcp_u32)CLCP_CHAN_FREE);
	clcp__tx_open(ep, chan, false);
	ep->priv->dev->ops->chan_release(ep, chan);
	clcp__rx_drop_chan(ep, chan);
	return 0;
}

int clcp_chan_port(clcp_endpt_t *ep, int chan)
{
	int rc = clcp__endpt_check(ep);

	if (rc == 0)
		rc = clcp__chan_check(ep, chan);
	return rc < 0 ? rc : ep->chans[chan].my_port;
}

int clcp_endpt_fd(clcp_endpt_t *ep)
{
	int rc = clcp__endpt_check(ep);

	return rc < 0 ? rc : ep->priv->fd;
}

/* A last frame waits, or a sender waits for Rx space while frames wait. */
static bool rx_ready(struct clcp_endpt *ep)
{
	return clcp__rx_has_last(ep) ||
	       (clcp_load_relaxed(&ep->hdr->tx_blocked) && clcp_rxq_peek(ep));
}

int clcp_endpt_arm(clcp_endpt_t *ep)
{
	const struct clcp_backend_ops *ops;
	int rc = clcp__endpt_check(ep);

	if (rc < 0)
		return rc;
	ops = ep->priv->dev->ops;
	ops->fd_drain(ep);
	clcp__rx_flush(ep); /* the caller is about to sleep */
	clcp_store_relaxed(&ep->hdr->armed, 1u);
	/* F3: orders arming before looking at the queue; pairs with F4. */
	clcp_fence_full();
	if (!rx_ready(ep))
		return 0;
	clcp_store_relaxed(&ep->hdr->armed, 0u);
	ops->fd_signal(ep);
	return 1;
}

int clcp_endpt_attr_get(clcp_endpt_t *ep, struct clcp_endpt_attr *attr)
{
	int rc = clcp__endpt_check(ep);

	if (rc < 0)
		return rc;
	if (!attr)
		return clcp__err(EINVAL, "attr is NULL");
	*attr = ep->priv->attr;
	return 0;
}

int clcp_endpt_set_spin(clcp_endpt_t *ep, int32_t spin_us, int32_t spin_max_us)
{
	int rc = clcp__endpt_check(ep);

	if (rc < 0)
		return rc;
	rc = spin_check(spin_us, spin_max_us);
	if (rc < 0)
		return rc;
	ep->priv->attr.spin_us = spin_us;
	ep->priv->attr.spin_max_us = spin_max_us;
	clcp__spin_init(&ep->priv->spin, &ep->priv->attr);
	return 0;
}
