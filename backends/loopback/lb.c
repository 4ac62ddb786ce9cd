/* SPDX-License-Identifier: MIT */
/* Loopback backend: endpoints, channels, and the NIC (kick). */
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lb.h"

static struct lb_dev *LB(struct clcp_dev *dev)
{
	return dev->bpriv;
}

static struct lb_ep *LBE(struct clcp_endpt *ep)
{
	return ep->priv->bpriv;
}

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

struct lb_opts {
	uint32_t max_endpts;
	bool no_pull;
};

/* One "name=value" option of the URI, up to '&' or the end. */
static int parse_opt(const char *opt, struct lb_opts *o)
{
	unsigned long v;
	char *end;

	errno = 0;
	if (strncmp(opt, "max_endpts=", 11) == 0) {
		v = strtoul(opt + 11, &end, 10);
		if (errno || (*end && *end != '&') || v < 1 || v > LB_MAX_ENDPTS)
			return clcp__err(EINVAL, "loopback URI: max_endpts must be 1..%u",
					 LB_MAX_ENDPTS);
		o->max_endpts = (uint32_t)v;
		return 0;
	}
	if (strncmp(opt, "pull=", 5) == 0) {
		size_t n = strcspn(opt + 5, "&");

		o->no_pull = n == 3 && strncmp(opt + 5, "off", 3) == 0;
		if (o->no_pull || (n == 2 && strncmp(opt + 5, "on", 2) == 0))
			return 0;
		return clcp__err(EINVAL, "loopback URI: pull must be on or off");
	}
	return clcp__err(EINVAL, "loopback URI: unknown option \"%s\"", opt);
}

/* "" | "NODE" | then "?opt=v&opt=v": max_endpts=N, pull=on|off */
static int parse_args(struct clcp_dev *dev, const char *args, struct lb_opts *o)
{
	unsigned long v;
	char *end;
	int rc;

	o->max_endpts = LB_DEFAULT_ENDPTS;
	o->no_pull = false;
	if (*args && *args != '?') {
		errno = 0;
		v = strtoul(args, &end, 10);
		if (errno || end == args || v > UINT32_MAX || (*end && *end != '?'))
			return clcp__err(EINVAL, "loopback URI: bad node id in \"%s\"", args);
		dev->node = (uint32_t)v;
		args = end;
	}
	while (*args) {
		rc = parse_opt(args + 1, o);
		if (rc < 0)
			return rc;
		args += 1 + strcspn(args + 1, "&");
	}
	return 0;
}

static int lb_open(struct clcp_dev *dev, const char *args)
{
	const char *dir = getenv("CLCP_SHM_DIR");
	struct lb_opts o;
	struct lb_dev *lb;
	int rc = parse_args(dev, args, &o);

	if (rc < 0)
		return rc;
	lb = calloc(1, sizeof(*lb));
	if (!lb)
		return clcp__err(ENOMEM, "loopback: out of memory");
	pthread_mutex_init(&lb->lock, NULL);
	snprintf(lb->dir, sizeof(lb->dir), "%s", dir && *dir ? dir : "/dev/shm");
	lb->uid = (uint32_t)getuid();
	lb->dir_hash = fnv1a(lb->dir);
	lb->no_pull = o.no_pull;
	lb->wake_sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lb->wake_sock < 0) {
		free(lb);
		return clcp__err(errno, "loopback: socket: %s", strerror(errno));
	}
	dev->bpriv = lb;
	rc = lb_node_attach(dev, lb, o.max_endpts);
	if (rc < 0) {
		close(lb->wake_sock);
		free(lb);
		dev->bpriv = NULL;
	}
	return rc;
}

static void remote_put(struct lb_remote *r)
{
	if (--r->refs > 0)
		return;
	munmap(r->base, r->size);
	r->base = NULL;
}

/* Forgets the channel's peer (the device lock held). */
static void chan_unresolve(struct lb_dev *lb, struct lb_chan *lc)
{
	if (lc->rem)
		remote_put(lc->rem);
	if (lc->seg)
		lb_node_ref(lb, lc->seg, -1);
	lc->rem = NULL;
	lc->rq = NULL;
	lc->seg = NULL;
}

static void lb_close(struct clcp_dev *dev)
{
	struct lb_dev *lb = LB(dev);
	uint32_t i;

	lb_node_detach(dev, lb);
	for (i = 0; i < LB_MAX_NODES; i++)
		if (lb->others[i].seg)
			munmap(lb->others[i].seg, lb->others[i].size);
	for (i = 0; i < LB_MAX_REMOTES; i++)
		if (lb->rem[i].base)
			munmap(lb->rem[i].base, lb->rem[i].size);
	close(lb->wake_sock);
	pthread_mutex_destroy(&lb->lock);
	free(lb);
}

static int slot_take(struct clcp_dev *dev, struct lb_ep *le)
{
	struct lb_node *n = LB(dev)->node;
	uint32_t i;

	lb_node_lock(n);
	for (i = 0; i < n->max_endpts; i++)
		if (n->slots[i].state == LB_SLOT_FREE)
			break;
	if (i == n->max_endpts) {
		lb_node_unlock(n);
		return clcp__err(EBUSY, "all %u endpoints of node %u are in use",
				 n->max_endpts, dev->node);
	}
	n->slots[i].state = LB_SLOT_RESERVED;
	n->slots[i].gen++;
	n->slots[i].pid = getpid();
	le->idx = i;
	le->gen = n->slots[i].gen;
	lb_node_unlock(n);
	return 0;
}

static void slot_give(struct clcp_dev *dev, struct lb_ep *le)
{
	struct lb_node *n = LB(dev)->node;

	lb_node_lock(n);
	n->slots[le->idx].state = LB_SLOT_FREE;
	lb_node_unlock(n);
}

static int wake_sock_open(struct clcp_endpt *ep)
{
	struct clcp_dev *dev = ep->priv->dev;
	struct lb_ep *le = LBE(ep);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return clcp__err(errno, "loopback: socket: %s", strerror(errno));
	lb_wake_name(LB(dev), sa.sun_path, sizeof(sa.sun_path), dev->node, le->idx, le->gen);
	if (bind(fd, (struct sockaddr *)&sa,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			     strlen(sa.sun_path + 1))) < 0) {
		close(fd);
		return clcp__err(errno, "loopback: bind wake socket: %s", strerror(errno));
	}
	ep->priv->fd = fd;
	return 0;
}

static int lb_endpt_alloc(struct clcp_endpt *ep, uint32_t size)
{
	struct clcp_dev *dev = ep->priv->dev;
	char path[PATH_MAX];
	struct lb_ep *le;
	void *map;
	int rc;

	le = calloc(1, sizeof(*le));
	if (le)
		le->chans = calloc(ep->priv->attr.nchan, sizeof(*le->chans));
	if (!le || !le->chans) {
		free(le);
		return clcp__err(ENOMEM, "loopback: out of memory");
	}
	ep->priv->bpriv = le;
	rc = slot_take(dev, le);
	if (rc == 0) {
		lb_ep_path(LB(dev), path, sizeof(path), dev->node, le->idx, getpid(), le->gen);
		le->map_size = LB_FILE_SIZE(size, LB_PULL_SLOTS(ep->priv->attr.nchan));
		rc = lb_file_create(path, le->map_size, &map);
		if (rc < 0)
			slot_give(dev, le);
	}
	if (rc == 0) {
		ep->base = map;
		le->pulls = (struct lb_pull_slot *)((unsigned char *)map + LB_PULLS_OFF(size));
		for (size_t c = 0; c < LB_PULL_SLOTS(ep->priv->attr.nchan); c++)
			le->pulls[c].layout = LB_PULL_LAYOUT; /* before any port is bound */
		rc = wake_sock_open(ep);
		if (rc < 0) {
			munmap(map, le->map_size);
			unlink(path);
			slot_give(dev, le);
		}
	}
	if (rc < 0) {
		free(le->chans);
		free(le);
		ep->priv->bpriv = NULL;
	}
	return rc;
}

static int lb_endpt_start(struct clcp_endpt *ep)
{
	struct lb_node *n = LB(ep->priv->dev)->node;
	struct lb_ep *le = LBE(ep);

	ep->hdr->index = le->idx;
	ep->hdr->owner_pid = (uint32_t)getpid();
	/* R7: the endpoint is complete; pairs with A7 of peers that map it. */
	clcp_store_release(&ep->hdr->magic, CLCP_ENDPT_MAGIC);
	lb_node_lock(n);
	n->slots[le->idx].state = LB_SLOT_LIVE;
	lb_node_unlock(n);
	return 0;
}

static void futex_wake_all(uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

static void lb_endpt_release(struct clcp_endpt *ep)
{
	struct clcp_dev *dev = ep->priv->dev;
	struct lb_ep *le = LBE(ep);
	char path[PATH_MAX];
	uint32_t c;

	clcp_store_release(&ep->hdr->closed, 1u);
	clcp_fetch_add(&ep->hdr->rx_posted, 1u); /* sleeping senders: look again */
	futex_wake_all(&ep->hdr->rx_posted);
	pthread_mutex_lock(&LB(dev)->lock);
	for (c = 0; c < ep->nchan; c++)
		if (le->chans[c].rem)
			remote_put(le->chans[c].rem);
	pthread_mutex_unlock(&LB(dev)->lock);
	slot_give(dev, le);
	lb_ep_path(LB(dev), path, sizeof(path), dev->node, le->idx, getpid(), le->gen);
	unlink(path);
	munmap(ep->base, le->map_size);
	close(ep->priv->fd);
	free(le->chans);
	free(le);
}

static int resolve(struct clcp_endpt *ep, int chan);

static uint16_t port_pick(struct lb_node *n)
{
	static uint32_t next;
	uint32_t i, p;

	for (i = 0; i < LB_NPORTS - 1024; i++) {
		p = 1024 + (next++ % (LB_NPORTS - 1024));
		if (n->ports[p] == 0)
			return (uint16_t)p;
	}
	return 0;
}

static int lb_chan_alloc(struct clcp_endpt *ep, int chan)
{
	struct lb_node *n = LB(ep->priv->dev)->node;
	struct clcp_chan_desc *d = &ep->chans[chan];
	uint64_t w;
	uint32_t ep1 = LB_PORT_EP1(0);

	lb_node_lock(n);
	if (d->my_port == CLCP_PORT_ANY)
		d->my_port = port_pick(n);
	if (d->my_port == 0 || n->ports[d->my_port] != 0) {
		ep1 = LB_PORT_EP1(n->ports[d->my_port]);
		lb_node_unlock(n);
		return d->my_port == 0 ? clcp__err(EADDRINUSE, "no free port")
				       : clcp__err(EADDRINUSE, "port %u is in use on node %u (endpoint %u)",
						   d->my_port, ep->hdr->node, ep1 - 1);
	}
	w = ((uint64_t)++n->port_gen << 32) | ((uint64_t)(LBE(ep)->idx + 1) << 16) |
	    (uint32_t)chan;
	clcp_store_release(&n->ports[d->my_port], w);
	lb_node_unlock(n);
	memset(&LBE(ep)->chans[chan], 0, sizeof(struct lb_chan));
	LBE(ep)->chans[chan].stamp = port_stamp(w, getpid());
	resolve(ep, chan); /* a peer already bound is seen from now on */
	return 0;
}

static void lb_chan_release(struct clcp_endpt *ep, int chan)
{
	struct lb_node *n = LB(ep->priv->dev)->node;
	struct lb_chan *lc = &LBE(ep)->chans[chan];
	uint16_t port = ep->chans[chan].my_port;
	uint64_t w;

	lb_node_lock(n);
	w = n->ports[port];
	if (LB_PORT_EP1(w) == LBE(ep)->idx + 1 && LB_PORT_CHAN(w) == (uint32_t)chan)
		clcp_store_release(&n->ports[port], (uint64_t)0);
	lb_node_unlock(n);
	pthread_mutex_lock(&LB(ep->priv->dev)->lock);
	chan_unresolve(LB(ep->priv->dev), lc);
	pthread_mutex_unlock(&LB(ep->priv->dev)->lock);
	memset(lc, 0, sizeof(*lc));
}

/* Maps peer endpoint idx of node (shared between channels). */
static struct lb_remote *remote_get(struct clcp_dev *dev, struct lb_node *n,
				    uint32_t node, uint32_t idx)
{
	struct lb_dev *lb = LB(dev);
	struct lb_remote *r, *free_r = NULL;
	struct clcp_endpt_hdr *h;
	char path[PATH_MAX];
	struct stat st;
	uint32_t i, gen = n->slots[idx].gen;
	int32_t pid = n->slots[idx].pid;
	void *map;
	int fd;

	for (i = 0; i < LB_MAX_REMOTES; i++) {
		r = &lb->rem[i];
		if (r->base && r->node == node && r->idx == idx && r->gen == gen) {
			r->refs++;
			return r;
		}
		if (!r->base && !free_r)
			free_r = r;
	}
	if (!free_r)
		return NULL;
	lb_ep_path(lb, path, sizeof(path), node, idx, pid, gen);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || st.st_uid != lb->uid ||
	    st.st_size < (off_t)sizeof(*h)) {
		close(fd);
		return NULL;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_POPULATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return NULL;
	h = map;
	/* A7: pairs with R7 of the endpoint's owner. */
	if (clcp_load_acquire(&h->magic) != CLCP_ENDPT_MAGIC ||
	    h->abi_version != CLCP_ABI_VERSION || h->size > (uint64_t)st.st_size) {
		munmap(map, (size_t)st.st_size);
		return NULL;
	}
	*free_r = (struct lb_remote){ node, idx, gen, 1, pid, map, (size_t)st.st_size };
	return free_r;
}

static struct clcp_endpt_hdr *RH(struct lb_remote *r)
{
	return (struct clcp_endpt_hdr *)r->base;
}

/* The endpoint r was released, or its process died. */
static bool owner_gone(struct lb_remote *r)
{
	return clcp_load_relaxed(&RH(r)->closed) || lb_pid_dead(r->pid);
}

/* The peer's channel (from the port word), or NULL if the word names none. */
static const struct clcp_chan_desc *peer_desc(struct lb_remote *r, uint64_t w)
{
	uint32_t pc = LB_PORT_CHAN(w);

	if (pc >= RH(r)->nchan)
		return NULL;
	return (const struct clcp_chan_desc *)(r->base + RH(r)->chan_off) + pc;
}

/* The peer's channel (from the port word) points back at us? */
static bool peer_matches(struct clcp_endpt *ep, int chan, struct lb_remote *r,
			 uint64_t w)
{
	const struct clcp_chan_desc *me = &ep->chans[chan], *pd = peer_desc(r, w);

	return pd && pd->peer_node == ep->hdr->node && pd->peer_port == me->my_port;
}

/*
 * For a channel that never reached its peer: the peer is not there for it
 * yet when the port's owner is gone (it died without unbinding), or when
 * the peer's channel was reached by another sender before (an earlier
 * process or channel on our port: the peer's channel belongs to it, and
 * fails; a channel the peer allocates anew is ours).
 */
static bool peer_not_yet(const struct lb_chan *lc, struct lb_remote *r, uint64_t w)
{
	uint32_t heard = clcp_load_relaxed(&peer_desc(r, w)->rx_seq);

	return owner_gone(r) || stamp_other(heard, lc->stamp);
}

/* The peer's queues and buffers lie inside its mapping: checked once, at resolve. */
static bool peer_layout_ok(const struct lb_remote *r)
{
	const struct clcp_endpt_hdr *h = (const struct clcp_endpt_hdr *)r->base;
	uint64_t size = h->size;

	return h->rxq_len != 0 && (h->rxq_len & (h->rxq_len - 1)) == 0 &&
	       h->rxq_off % CLCP_CACHELINE == 0 &&
	       h->rxq_off + (uint64_t)h->rxq_len * sizeof(struct clcp_qentry) <= size &&
	       h->chan_off + (uint64_t)h->nchan * sizeof(struct clcp_chan_desc) <= size &&
	       h->mtu != 0 && h->rxbuf_off + (uint64_t)h->mtu <= size;
}

/*
 * The peer's pull slot for its channel chan, if its file has slots of our
 * layout: an older library's file has none, a newer one's may differ.
 */
static struct lb_pull_slot *pull_slot_of(const struct lb_remote *r,
					 const struct clcp_endpt_hdr *h, uint16_t chan)
{
	struct lb_pull_slot *s;

	if (r->size < LB_FILE_SIZE(h->size, h->nchan))
		return NULL;
	s = (struct lb_pull_slot *)(r->base + LB_PULLS_OFF(h->size)) + chan;
	return clcp_load_relaxed(&s->layout) == LB_PULL_LAYOUT ? s : NULL;
}

/* The ready word of the peer's receives from any channel, if its file has one. */
static const uint32_t *any_ready_of(const struct lb_remote *r, const struct clcp_endpt_hdr *h)
{
	uint32_t size = clcp_load_relaxed(&h->size), nchan = clcp_load_relaxed(&h->nchan);
	struct lb_pull_slot *s;

	if (r->size < LB_FILE_SIZE(size, LB_PULL_SLOTS(nchan)))
		return NULL;
	s = (struct lb_pull_slot *)(r->base + LB_PULLS_OFF(size)) + nchan;
	return clcp_load_relaxed(&s->layout) == LB_PULL_LAYOUT ? &s->ready : NULL;
}

/* Takes r as the channel's peer and keeps what every frame needs of it. */
static void chan_resolved(struct lb_chan *lc, struct lb_remote *r, struct lb_node *n,
			  uint16_t peer_port, uint64_t w)
{
	struct clcp_endpt_hdr *h = RH(r);

	lc->rem = r;
	lc->seg = n;
	lc->rh = h;
	lc->rq = (struct clcp_qentry *)(r->base + h->rxq_off);
	lc->rmask = h->rxq_len - 1;
	lc->rmtu = h->mtu;
	lc->buf_lo = h->rxbuf_off;
	lc->buf_hi = h->size - h->mtu;
	lc->port_slot = &n->ports[peer_port];
	lc->seg_magic = &n->magic;
	lc->port_word = w;
	lc->peer_chan = (uint16_t)LB_PORT_CHAN(w);
	lc->marked = false;
	lc->seen = true;
	lc->pull_refused = false;
	lc->pull_slot = pull_slot_of(r, h, lc->peer_chan);
	lc->any_ready = lc->pull_slot ? any_ready_of(r, h) : NULL;
}

static int resolve_locked(struct clcp_endpt *ep, int chan)
{
	struct clcp_dev *dev = ep->priv->dev;
	const struct clcp_chan_desc *d = &ep->chans[chan];
	struct lb_chan *lc = &LBE(ep)->chans[chan];
	struct lb_node *n = lb_node_peek(dev, LB(dev), d->peer_node);
	struct lb_remote *r;
	uint64_t w = n ? clcp_load_acquire(&n->ports[d->peer_port]) : 0;
	uint32_t ep1 = LB_PORT_EP1(w), heard;

	if (lc->rem && w == lc->port_word && n == lc->seg)
		return 0;
	if (lc->port_word) /* resolved before: a port bound anew is another peer */
		return -ECONNRESET;
	chan_unresolve(LB(dev), lc);
	heard = clcp_load_relaxed(&ep->chans[chan].rx_seq);
	if (heard) /* a peer sent: it was there */
		lc->seen = true;
	if (ep1 == 0 || ep1 > n->max_endpts)
		return lc->seen ? -ECONNRESET : -ENOTCONN;
	r = remote_get(dev, n, d->peer_node, ep1 - 1);
	if (!r)
		return lc->seen ? -ECONNRESET : -ENOTCONN;
	if (stamp_other(heard, port_stamp(w, r->pid))) {
		remote_put(r); /* another than the peer that sent binds its port now */
		return -ECONNRESET;
	}
	if (!peer_layout_ok(r)) {
		remote_put(r);
		return clcp__err(EPROTO, "peer endpoint of channel %d has a bad layout", chan);
	}
	if (!peer_matches(ep, chan, r, w) || (!lc->seen && peer_not_yet(lc, r, w))) {
		remote_put(r);
		return lc->seen ? -ECONNRESET : -ENOTCONN;
	}
	chan_resolved(lc, r, n, d->peer_port, w);
	lb_node_ref(LB(dev), n, 1);
	return 0;
}

/* The peer is as resolved: its node lives and its port is bound to the same channel. */
static bool still_resolved(const struct lb_chan *lc)
{
	return lc->rq && clcp_load_acquire(lc->seg_magic) == LB_NODE_MAGIC &&
	       clcp_load_acquire(lc->port_slot) == lc->port_word;
}

/*
 * Finds the peer of chan: 0, -ENOTCONN (not bound yet), -ECONNRESET.
 * Fast when nothing changed: one load of the peer's port map word.
 */
static int resolve(struct clcp_endpt *ep, int chan)
{
	struct lb_dev *lb = LB(ep->priv->dev);
	int rc;

	if (still_resolved(&LBE(ep)->chans[chan]))
		return 0;
	pthread_mutex_lock(&lb->lock);
	rc = resolve_locked(ep, chan);
	pthread_mutex_unlock(&lb->lock);
	return rc;
}

/* Wakes the endpoint r (armed as `how`): on its armed word, or its socket. */
static void wake_remote(struct clcp_endpt *ep, struct lb_remote *r, uint32_t how)
{
	struct lb_dev *lb = LB(ep->priv->dev);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char b = 1;

	if (clcp__irq_futex(RH(r), how))
		return;
	lb_wake_name(lb, sa.sun_path, sizeof(sa.sun_path), r->node, r->idx, r->gen);
	sendto(lb->wake_sock, &b, 1, MSG_DONTWAIT, (struct sockaddr *)&sa,
	       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			   strlen(sa.sun_path + 1)));
}

/* Raises the peer's "interrupt" after a store of ours that it must see. */
static void interrupt(struct clcp_endpt *ep, struct lb_remote *r)
{
	/* F4: orders our store before reading armed; pairs with F3. */
	uint32_t how;

	clcp_fence_full();
	if ((how = clcp__irq_take(RH(r))))
		wake_remote(ep, r, how);
}

static inline void prefetch_for_write(const void *p)
{
#if defined(__x86_64__)
	__asm__ __volatile__("prefetchw %0" : : "m"(*(const char *)p));
#else
	__builtin_prefetch(p, 1, 3);
#endif
}

/* Claims the peer's next posted Rx slot, or NULL when none is posted. */
static struct clcp_qentry *rx_claim(const struct lb_chan *lc)
{
	uint32_t head = clcp_load_relaxed(&lc->rh->rx_head);

	for (;;) {
		struct clcp_qentry *s = &lc->rq[head & lc->rmask];

		prefetch_for_write(s); /* one transfer: we write it next */
		/* A4: pairs with the receiver's R4 that posted the slot. */
		if (clcp_load_acquire(&s->owner) != CLCP_OWNER_NIC)
			return NULL;
		if (clcp_cas(&lc->rh->rx_head, &head, head + 1))
			return s;
	}
}

/*
 * Tells the peer's channel that we were there (its resets need it), once
 * per resolution: descriptors are read on every frame, so they must stay
 * unwritten.
 */
static void mark_seen(struct lb_chan *lc)
{
	struct clcp_chan_desc *d =
		(struct clcp_chan_desc *)((unsigned char *)lc->rh + lc->rh->chan_off) +
		lc->peer_chan;

	if (!clcp_load_relaxed(&d->rx_seq))
		clcp_store_relaxed(&d->rx_seq, lc->stamp);
	lc->marked = true;
}

/* The NIC's work for one frame: into the peer's next posted Rx buffer. */
static int deliver(struct clcp_endpt *ep, int chan, const void *data, uint32_t len,
		   uint32_t msg_len, uint8_t flags)
{
	struct lb_chan *lc = &LBE(ep)->chans[chan];
	struct clcp__rx_frame f;
	struct clcp_qentry *s;
	uint32_t how;
	int rc = still_resolved(lc) ? 0 : resolve(ep, chan);

	if (rc == -ENOTCONN)
		return -EAGAIN;
	if (rc == -ECONNRESET || (rc == 0 && clcp_load_relaxed(&lc->rh->closed)))
		return clcp__err(ECONNRESET, "peer of channel %d is gone", chan);
	if (rc < 0)
		return rc;
	if (len > lc->rmtu)
		return clcp__err(EMSGSIZE, "frame of %u bytes > peer mtu %u", len, lc->rmtu);
	s = rx_claim(lc);
	if (!s)
		return -EAGAIN;
	if (s->buf_off < lc->buf_lo || s->buf_off > lc->buf_hi)
		return clcp__err(EPROTO, "peer posted a bad buffer");
	if (!lc->marked)
		mark_seen(lc);
	f = (struct clcp__rx_frame){ data, len, msg_len, lc->tx_seq++, lc->peer_chan, flags };
	how = clcp__rx_fill((unsigned char *)lc->rh, lc->rh, s, &f, flags & CLCP_QF_LAST);
	/* The next frame's slot, while the peer is busy with this one. */
	prefetch_for_write(&lc->rq[(uint32_t)(s - lc->rq + 1) & lc->rmask]);
	if (how)
		wake_remote(ep, lc->rem, how);
	return 0;
}

static int send_queued(struct clcp_endpt *ep, const struct clcp_qentry *e, void *arg)
{
	(void)arg;
	return deliver(ep, e->chan, ep->base + e->buf_off, e->len, e->msg_len, e->flags);
}

static int lb_kick(struct clcp_endpt *ep)
{
	return clcp__txq_drain(ep, send_queued, NULL);
}

/* Sends a frame straight from user memory when nothing is queued before it. */
static int lb_tx_direct(struct clcp_endpt *ep, int chan, const void *buf,
			uint32_t len, uint32_t msg_len, uint8_t flags)
{
	int rc;

	if (ep->hdr->tx_head != ep->tx_tail)
		return -EAGAIN;
	rc = deliver(ep, chan, buf, len, msg_len, flags);
	if (rc < 0 && rc != -EAGAIN)
		ep->chan_err[chan] = rc;
	ep->hdr->tx_frames += rc == 0;
	return rc;
}

static int lb_chan_check(struct clcp_endpt *ep, int chan)
{
	struct lb_chan *lc = &LBE(ep)->chans[chan];
	int rc = resolve(ep, chan);

	if (rc < 0)
		return rc;
	if (owner_gone(lc->rem))
		return -ECONNRESET;
	return 0;
}

/* The peer has posted the Rx slot the next frame would take. */
static bool rx_slot_posted(struct lb_remote *r)
{
	struct clcp_endpt_hdr *h = RH(r);
	struct clcp_qentry *q = (struct clcp_qentry *)(r->base + h->rxq_off);

	/* A4: pairs with the receiver's R4. */
	return clcp_load_acquire(&q[clcp_load_relaxed(&h->rx_head) & (h->rxq_len - 1)].owner) ==
	       CLCP_OWNER_NIC;
}

static int lb_tx_ready(struct clcp_endpt *ep, int chan)
{
	int rc;

	if (ep->hdr->tx_head != ep->tx_tail) /* earlier frames still wait */
		return 0;
	rc = resolve(ep, chan);
	if (rc < 0)
		return rc == -ENOTCONN ? 0 : rc;
	return rx_slot_posted(LBE(ep)->chans[chan].rem);
}

static int futex_wait(uint32_t *word, uint32_t val, int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	return (int)syscall(SYS_futex, word, FUTEX_WAIT, val, &ts, NULL, 0);
}

/* The Tx head waits for an unbound peer port: refuse after connect_ms. */
static void wait_unbound(struct clcp_endpt *ep, int chan)
{
	struct lb_chan *lc = &LBE(ep)->chans[chan];
	uint64_t now = clcp__now_ms();
	struct timespec ts = { 0, 1000000L };

	if (lc->unbound_since == 0)
		lc->unbound_since = now;
	if (now - lc->unbound_since >= (uint64_t)ep->priv->attr.connect_ms) {
		ep->chan_err[chan] = clcp__err(ECONNREFUSED, "peer port %u of node %u not bound within %d ms",
					       ep->chans[chan].peer_port,
					       ep->chans[chan].peer_node,
					       ep->priv->attr.connect_ms);
		return;
	}
	nanosleep(&ts, NULL);
}

/* The Tx head waits for Rx space at its peer r. */
static void wait_space(struct clcp_endpt *ep, struct lb_remote *r, int ms, bool spin)
{
	struct clcp_endpt_hdr *h = RH(r);
	uint64_t end = clcp__now_ms() + (uint64_t)ms;
	uint32_t posted;
	unsigned n;

	/* The receiver clears tx_blocked before it sleeps; set it once. */
	if (!clcp_load_relaxed(&h->tx_blocked))
		clcp_store_relaxed(&h->tx_blocked, 1u);
	interrupt(ep, r); /* an armed receiver drains its queue */
	if (spin) {
		for (n = 1; !rx_slot_posted(r) && !clcp_load_relaxed(&h->closed); n++) {
			clcp_cpu_relax();
			if ((n & 1023) == 0 && clcp__now_ms() >= end)
				break;
		}
		return;
	}
	posted = clcp_load_acquire(&h->rx_posted);
	clcp_fetch_add(&h->rx_waiters, 1u);
	/* F2: orders rx_waiters before looking at the slot; pairs with F1. */
	clcp_fence_full();
	if (!rx_slot_posted(r) && !clcp_load_relaxed(&h->closed))
		futex_wait(&h->rx_posted, posted, ms);
	clcp_fetch_add(&h->rx_waiters, (uint32_t)-1);
}

static int lb_tx_wait(struct clcp_endpt *ep, int chan, int ms, bool spin)
{
	struct lb_ep *le = LBE(ep);
	struct lb_chan *lc = &le->chans[chan];
	uint64_t now = clcp__now_ms();
	int rc;

	if (now - le->last_check >= (uint64_t)ep->priv->attr.peer_check_ms) {
		le->last_check = now;
		rc = lb_chan_check(ep, chan);
		if (rc == -ECONNRESET) {
			ep->chan_err[chan] = clcp__err(ECONNRESET, "peer of channel %d is gone", chan);
			return 0;
		}
	}
	rc = resolve(ep, chan);
	if (rc == -ENOTCONN) {
		wait_unbound(ep, chan);
		return 0;
	}
	if (rc < 0) {
		ep->chan_err[chan] = rc;
		return 0;
	}
	lc->unbound_since = 0;
	wait_space(ep, lc->rem, ms, spin);
	return 0;
}

/* The peer polls for a message of len bytes or more: on this channel, or on any. */
static bool peer_ready(const struct lb_chan *lc, size_t len)
{
	return clcp_load_relaxed(&lc->pull_slot->ready) >= len ||
	       (lc->any_ready && clcp_load_relaxed(lc->any_ready) >= len);
}

/*
 * The receiver waits for a message of len bytes, or starts to within
 * LB_PULL_GRACE_NS: in a ping-pong the answer is sent while its receiver
 * returns from the send it made. Waits in vain back off (lc->graced). A
 * nonblocking send does not wait.
 */
static bool ready_soon(struct lb_dev *dev, struct lb_chan *lc, size_t len, bool nonblock)
{
	uint64_t until;
	bool ready;

	if (!peer_ready(lc, len)) {
		if (nonblock || clcp__backoff_skips(&lc->graced))
			return false;
		until = clcp__now_ns() + LB_PULL_GRACE_NS;
		do
			clcp_cpu_relax();
		while (!peer_ready(lc, len) && clcp__now_ns() < until);
		ready = peer_ready(lc, len);
		clcp_fetch_add(ready ? &dev->pull_graced : &dev->pull_grace_vain, 1u);
		if (!ready) {
			clcp__backoff_vain(&lc->graced);
			return false;
		}
	}
	clcp__backoff_paid(&lc->graced);
	return true;
}

/*
 * Single copy of a long message (docs/loopback.md, "Long messages"). The
 * sender offers its buffer in a frame; the receiver answers READY with its
 * own, and both copy chunks across, each claiming the next (the receiver
 * with process_vm_readv, the sender with process_vm_writev), until none is
 * left; the receiver then answers DONE. Only messages longer than the
 * peer's Rx queue holds are offered: the sender waits for the receiver no
 * longer than frames would make it.
 */
static int lb_pull_offer(struct clcp_endpt *ep, int chan, const void *buf, size_t len,
			 bool nonblock, struct clcp__pull *d)
{
	struct lb_chan *lc = &LBE(ep)->chans[chan];
	bool fits;
	uint32_t w;

	if (LB(ep->priv->dev)->no_pull || resolve(ep, chan) < 0 || !lc->pull_slot ||
	    lc->pull_refused)
		return -ENOSYS;
	fits = len <= (size_t)(lc->rmask + 1) * lc->rmtu;
	/* Frames would not make us wait: offered only to a receiver that waits. */
	if (fits && (len < LB_PULL_READY_MIN ||
		     !ready_soon(LB(ep->priv->dev), lc, len, nonblock) ||
		     clcp__backoff_skips(&lc->withdrawn)))
		return -ENOSYS;
	w = clcp_load_acquire(&lc->pull_slot->answer);
	*d = (struct clcp__pull){ (uintptr_t)buf, len, (w >> 3) % LB_PULL_SEQ_MAX + 1, 0 };
	lc->pull_port = lc->port_word;
	lc->pull_withdraw_ns = fits ? clcp__now_ns() + LB_PULL_WITHDRAW_NS : 0;
	return 0;
}

/*
 * The receiver of chan (or of any channel: the slot after the channels')
 * polls for a message of up to cap bytes (0: no longer). The peer of chan
 * is resolved now, off the way of an offer's answer.
 */
static int lb_pull_ready(struct clcp_endpt *ep, int chan, void *buf, size_t cap)
{
	uint32_t slot = chan == CLCP_ANY ? ep->nchan : (uint32_t)chan;

	(void)buf; /* the receive copies from the sender's memory itself */
	if (cap && chan != CLCP_ANY)
		(void)resolve(ep, chan);
	clcp_store_relaxed(&LBE(ep)->pulls[slot].ready,
			   cap > CLCP_MSG_MAX ? (uint32_t)CLCP_MSG_MAX : (uint32_t)cap);
	return 0;
}

/*
 * An offer that frames would not have waited for, not taken in time: the
 * answer word goes from w (no answer yet) to WITHDRAWN, unless the
 * receiver took it meanwhile (its READY wins the same exchange). True if
 * withdrawn: frames follow, and the next 2^n such offers are not made
 * (the receiver was kept off its CPU: more would only cost waits).
 */
static bool pull_withdraw(struct lb_chan *lc, const struct clcp__pull *d, uint32_t w)
{
	if (!lc->pull_withdraw_ns || clcp__now_ns() < lc->pull_withdraw_ns ||
	    !clcp_cas(&lc->pull_slot->answer, &w, d->seq << 3 | LB_PULL_WITHDRAWN))
		return false;
	clcp__backoff_vain(&lc->withdrawn);
	return true;
}

/*
 * A pull's wait on a word of slot s: when the peer is next checked, until
 * when to spin.
 */
struct pull_waiter {
	uint64_t check_ms;
	uint64_t spin_end_ns;
	struct lb_pull_slot *s;
};

static void pull_waiter_init(struct clcp_endpt *ep, struct pull_waiter *pw, uint64_t spin_ns,
			     struct lb_pull_slot *s)
{
	uint64_t now = clcp__now_ns();

	pw->s = s;
	pw->check_ms = clcp__now_ms() + (uint64_t)ep->priv->attr.peer_check_ms;
	pw->spin_end_ns = spin_ns > UINT64_MAX - now ? UINT64_MAX : now + spin_ns;
}

/*
 * One round of waiting for *word to change from w: the peer of chan
 * checked when due (-ECONNRESET when gone), then a short spin, or after
 * the spin a sleep until the next check.
 */
static int pull_nap(struct clcp_endpt *ep, int chan, struct pull_waiter *pw, uint32_t *word,
		    uint32_t w)
{
	uint64_t now = clcp__now_ms();
	unsigned n;

	if (now >= pw->check_ms) {
		if (lb_chan_check(ep, chan) == -ECONNRESET)
			return -ECONNRESET;
		pw->check_ms = now + (uint64_t)ep->priv->attr.peer_check_ms;
	}
	if (clcp__now_ns() < pw->spin_end_ns) {
		for (n = 0; n < 1024 && clcp_load_relaxed(word) == w; n++)
			clcp_cpu_relax();
		return 0;
	}
	/* F5: counted before the kernel's last look at the word; pairs with F6. */
	clcp_fetch_add(&pw->s->sleepers, 1u);
	futex_wait(word, w, (int)(pw->check_ms - now));
	clcp_fetch_add(&pw->s->sleepers, UINT32_MAX);
	return 0;
}

/* After a store to word of slot s: wakes whoever sleeps on it (a system call only then). */
static void pull_wake(struct lb_pull_slot *s, uint32_t *word)
{
	/* F6: orders the store before reading the count; pairs with F5. */
	clcp_fence_full();
	if (clcp_load_relaxed(&s->sleepers))
		futex_wake_all(word);
}

/* Chunk k of d, `chunk` bytes each: copied from the sender (read) or to the receiver. */
static int pull_chunk(pid_t pid, bool to_peer, uint64_t here, uint64_t there,
		      const struct clcp__pull *d, uint32_t chunk, uint32_t k)
{
	uint64_t off = (uint64_t)k * chunk, done = 0;
	uint64_t len = d->len - off < chunk ? d->len - off : chunk;

	while (done < len) {
		struct iovec l = { (void *)(uintptr_t)(here + off + done), len - done };
		struct iovec r = { (void *)(uintptr_t)(there + off + done), len - done };
		ssize_t n = to_peer ? process_vm_writev(pid, &l, 1, &r, 1, 0)
				  : process_vm_readv(pid, &l, 1, &r, 1, 0);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (uint64_t)n;
	}
	return 0;
}

static uint32_t pull_nchunks(const struct clcp__pull *d, uint32_t chunk)
{
	return (uint32_t)((d->len + chunk - 1) / chunk);
}

/*
 * The sender's part: chunks into the receiver's buffer while any is left,
 * cut as the receiver cuts them (none when its size is not one we take).
 */
static void pull_help(struct lb_chan *lc, const struct clcp__pull *d)
{
	struct lb_pull_slot *s = lc->pull_slot;
	uint64_t to = clcp_load_relaxed(&s->addr);
	uint32_t k, n, chunk = clcp_load_relaxed(&s->chunk);

	if (chunk < LB_PULL_CHUNK_MIN || chunk > CLCP_MSG_MAX)
		return;
	n = pull_nchunks(d, chunk);
	while ((k = clcp_fetch_add(&s->next, 1u)) < n) {
		int rc = pull_chunk(lc->rem->pid, true, d->addr, to, d, chunk, k);

		if (rc < 0)
			clcp_store_relaxed(&s->redo, k + 1);
		/* R9: the chunk is in place; pairs with the receiver's A9. */
		clcp_fetch_add(&s->sdone, 1u);
		if (rc < 0)
			break; /* the receiver claims the rest */
	}
	pull_wake(s, &s->sdone);
}

static int lb_pull_wait(struct clcp_endpt *ep, int chan, const struct clcp__pull *d,
			uint64_t spin_ns)
{
	struct lb_chan *lc = &LBE(ep)->chans[chan];
	struct pull_waiter pw;
	bool helped = false;
	uint32_t w;

	/* A withdrawable offer spins until it may be withdrawn: a sleep could outlast that. */
	pull_waiter_init(ep, &pw,
			 lc->pull_withdraw_ns && spin_ns < LB_PULL_WITHDRAW_NS ? LB_PULL_WITHDRAW_NS
									       : spin_ns,
			 lc->pull_slot);
	for (;;) {
		if (!still_resolved(lc) || lc->port_word != lc->pull_port ||
		    clcp_load_relaxed(&lc->rh->closed))
			break;
		/* A8: pairs with the receiver's R8. */
		w = clcp_load_acquire(&lc->pull_slot->answer);
		if (w >> 3 == d->seq && (w & 7) == LB_PULL_READY && !helped) {
			pull_help(lc, d);
			helped = true;
			continue;
		}
		if (w >> 3 == d->seq && (w & 7) != LB_PULL_READY) {
			lc->pull_refused = (w & 7) == LB_PULL_REFUSED;
			if ((w & 7) == LB_PULL_DONE)
				clcp__backoff_paid(&lc->withdrawn);
			return (w & 7) == LB_PULL_DONE ? 0 : 1;
		}
		if (w >> 3 != d->seq && pull_withdraw(lc, d, w))
			return 1;
		if (pull_nap(ep, chan, &pw, &lc->pull_slot->answer, w) < 0)
			break;
	}
	return ep->chan_err[chan] = clcp__err(ECONNRESET, "peer of channel %d is gone", chan);
}

static void pull_answer(struct lb_pull_slot *s, uint32_t seq, enum lb_pull_status st)
{
	/* R8: what the answer tells is done; pairs with the sender's A8. */
	clcp_store_release(&s->answer, seq << 3 | (uint32_t)st);
	pull_wake(s, &s->answer);
}

/*
 * Waits until the sender has finished the chunks it claimed: a chunk's copy
 * at most while it runs, so spun for LB_PULL_SPIN_NS before a sleep.
 */
static int pull_wait_sender(struct clcp_endpt *ep, int chan, struct lb_pull_slot *s,
			    uint32_t claimed, bool spin)
{
	struct pull_waiter pw;
	uint32_t w;

	pull_waiter_init(ep, &pw, spin ? UINT64_MAX : LB_PULL_SPIN_NS, s);
	/* A9: pairs with the sender's R9. */
	while ((w = clcp_load_acquire(&s->sdone)) != claimed)
		if (pull_nap(ep, chan, &pw, &s->sdone, w) < 0)
			return -ECONNRESET;
	return 0;
}

/*
 * Half the message rounded up to LB_PULL_CHUNK_MIN, so both sides copy,
 * and at most LB_PULL_CHUNK (an offer carries CLCP_MTU_MIN bytes or more:
 * take_pulled checks it, so this is never 0).
 */
static uint32_t pull_chunk_size(const struct clcp__pull *d)
{
	uint64_t half = (d->len / 2 + LB_PULL_CHUNK_MIN - 1) / LB_PULL_CHUNK_MIN * LB_PULL_CHUNK_MIN;

	return half < LB_PULL_CHUNK ? (uint32_t)half : LB_PULL_CHUNK;
}

/*
 * Answers st to offer d if it is still the sender's: the answer word is
 * then the one the sender read when it made the offer (the one before
 * seq). A sender may withdraw an offer it made to a waiting receiver, and
 * make others after it, so an offer found in the queue may be stale: one
 * exchange on the word decides, the sender's or ours. False when stale
 * (its frames follow).
 */
static bool pull_claim(struct lb_pull_slot *s, const struct clcp__pull *d, enum lb_pull_status st)
{
	/* A8: a withdrawal; pairs with the sender's exchange. */
	uint32_t w = clcp_load_acquire(&s->answer);

	if ((w >> 3) % LB_PULL_SEQ_MAX + 1 != d->seq)
		return false;
	/* R8: what the answer tells is done; pairs with the sender's A8. */
	if (!clcp_cas(&s->answer, &w, d->seq << 3 | (uint32_t)st))
		return false;
	pull_wake(s, &s->answer);
	return true;
}

/*
 * The receiver's part: publishes buf, copies chunks, waits for the
 * sender's. LB_PULL_WITHDRAWN when the offer is stale (nothing copied).
 */
static int pull_read(struct clcp_endpt *ep, int chan, const struct clcp__pull *d, void *buf,
		     bool spin)
{
	struct lb_pull_slot *s = &LBE(ep)->pulls[chan];
	pid_t pid = LBE(ep)->chans[chan].rem->pid;
	uint32_t chunk = pull_chunk_size(d), k, mine = 0, n = pull_nchunks(d, chunk);
	int rc = 0, wrc;

	clcp_store_relaxed(&s->addr, (uint64_t)(uintptr_t)buf);
	clcp_store_relaxed(&s->chunk, chunk);
	clcp_store_relaxed(&s->next, 0u);
	clcp_store_relaxed(&s->sdone, 0u);
	clcp_store_relaxed(&s->redo, 0u);
	if (!pull_claim(s, d, LB_PULL_READY))
		return LB_PULL_WITHDRAWN;
	while ((k = clcp_fetch_add(&s->next, 1u)) < n) {
		mine++;
		if (rc == 0) /* after a failure: only claims, so the sender stops */
			rc = pull_chunk(pid, false, (uintptr_t)buf, d->addr, d, chunk, k);
	}
	wrc = pull_wait_sender(ep, chan, s, n - mine, spin);
	if (wrc < 0)
		return wrc;
	k = clcp_load_relaxed(&s->redo);
	if (rc == 0 && k)
		rc = pull_chunk(pid, false, (uintptr_t)buf, d->addr, d, chunk, k - 1);
	return rc;
}

/* Copies at once, whether the receive may block or not (nonblock): the bytes are in memory. */
static int lb_pull_take(struct clcp_endpt *ep, int chan, const struct clcp__pull *d,
			void *buf, size_t len, bool spin, bool nonblock)
{
	struct lb_pull_slot *s = &LBE(ep)->pulls[chan];
	enum lb_pull_status st = LB_PULL_DECLINED;
	int rc = resolve(ep, chan) < 0 ? -ECONNRESET : 0; /* the sender's pid, from its slot */
	bool taken = false;

	(void)nonblock;
	if (rc == 0 && buf) { /* d->len == len: take_pulled checked it */
		rc = pull_read(ep, chan, d, buf, spin);
		if (rc == LB_PULL_WITHDRAWN)
			return 1; /* stale: its frames follow, nothing to answer */
		taken = true;
	}
	if (taken && rc == 0)
		st = LB_PULL_DONE;
	else if (rc == -EPERM || rc == -ENOSYS || rc == -EACCES)
		st = LB_PULL_REFUSED; /* frames from now on */
	if (taken)
		pull_answer(s, d->seq, st);
	else
		pull_claim(s, d, st); /* unless stale */
	if (rc == -ESRCH || rc == -ECONNRESET)
		return clcp__err(ECONNRESET, "channel %d: the sender of a %zu-byte message is gone",
				 chan, len);
	return taken && rc == 0 ? 0 : 1;
}

static void lb_fd_signal(struct clcp_endpt *ep)
{
	struct lb_remote self = { .node = ep->hdr->node, .idx = LBE(ep)->idx,
				  .gen = LBE(ep)->gen };

	wake_remote(ep, &self, CLCP_ARMED_FD);
}

static void lb_fd_drain(struct clcp_endpt *ep)
{
	char b[64];

	while (recv(ep->priv->fd, b, sizeof(b), MSG_DONTWAIT) > 0)
		;
}

static void lb_wake_senders(struct clcp_endpt *ep)
{
	clcp_fetch_add(&ep->hdr->rx_posted, 1u);
	futex_wake_all(&ep->hdr->rx_posted);
}

static int lb_stats(struct clcp_dev *dev, struct clcp_stat *st, unsigned n)
{
	const struct lb_dev *d = LB(dev);
	unsigned i = clcp__stat_put(st, n, 0, "pull_graced", clcp_load_relaxed(&d->pull_graced));

	i = clcp__stat_put(st, n, i, "pull_grace_vain", clcp_load_relaxed(&d->pull_grace_vain));
	return (int)i;
}

const struct clcp_backend_ops clcp_loopback_ops = {
	.size = sizeof(struct clcp_backend_ops),
	.name = "loopback",
	.uri_help = "loopback[://NODE][?max_endpts=N]: processes on this host, shared memory",
	.caps = CLCP_CAP_INTERRUPT | CLCP_CAP_KERNEL_BYPASS | CLCP_CAP_SHARED_NODE,
	.max_endpts = LB_DEFAULT_ENDPTS,
	.mtu_max = CLCP_MTU_MAX,
	.mtu_default = CLCP_MTU_DEFAULT,
	.open = lb_open,
	.close = lb_close,
	.buf_room = clcp__no_room,
	.endpt_alloc = lb_endpt_alloc,
	.endpt_start = lb_endpt_start,
	.endpt_release = lb_endpt_release,
	.chan_alloc = lb_chan_alloc,
	.chan_release = lb_chan_release,
	.kick = lb_kick,
	.tx_ready = lb_tx_ready,
	.tx_direct = lb_tx_direct,
	.tx_wait = lb_tx_wait,
	.chan_check = lb_chan_check,
	.fd_signal = lb_fd_signal,
	.fd_drain = lb_fd_drain,
	.wake_senders = lb_wake_senders,
	.progress = clcp__noop,
	.futex_wake = true,
	.pull_offer = lb_pull_offer,
	.pull_wait = lb_pull_wait,
	.pull_take = lb_pull_take,
	.pull_ready = lb_pull_ready,
	.stats = lb_stats,
};
