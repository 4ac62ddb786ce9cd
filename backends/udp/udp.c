/* SPDX-License-Identifier: MIT */
/* UDP backend: device, endpoints, channels, and the send side of the NIC. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "udp.h"
#include "udp_boot.h"

#define HANDSHAKE_US 100000u

static uint64_t now_ms(void)
{
	return udp_now_us() / 1000u;
}

/* The local node: the bootstrap's, given (URI, CLCP_NODE), or the first table entry we can bind. */
static int sock_open(struct clcp_dev *dev, struct udp_dev *u)
{
	struct udp_conf *c = &u->conf;
	struct udp_node n;
	char what[64];
	uint32_t i;
	int rc;

	if (c->boot)
		return udp_boot_open(dev, u);
	if (c->node_set || c->local_family) {
		if (udp_node_addr(c, c->node, &n) < 0)
			return clcp__err(EHOSTUNREACH, "udp: node %u has no address", c->node);
		rc = udp_sock_open(u, &n);
		snprintf(what, sizeof(what), "node %u", c->node);
		if (rc < 0)
			return clcp__err(-rc, "udp: bind %s: %s", what, strerror(-rc));
		dev->node = c->node;
		return 0;
	}
	for (i = 0; i < c->nnodes; i++)
		if (udp_sock_open(u, &c->nodes[i]) == 0) {
			dev->node = u->self.node;
			return 0;
		}
	return clcp__err(EADDRNOTAVAIL, "udp: no node of the table has a free local address");
}

static void dev_free(struct udp_dev *u)
{
	udp_xsk_close(u);
	udp_sock_close(u);
	udp_conf_free(&u->conf);
	pthread_mutex_destroy(&u->lock);
	pthread_cond_destroy(&u->cond);
	free(u->eps);
	free(u->rxbufs);
	free(u);
}

/* CLCP_UDP_TEST_LOSS=PERMILLE[:SEED]: a lossy wire for tests (not for production). */
static void loss_hook(struct udp_dev *u)
{
	const char *e = getenv("CLCP_UDP_TEST_LOSS");
	unsigned long pm, seed = 1;
	char *end;

	if (!e || !*e)
		return;
	pm = strtoul(e, &end, 10);
	if (*end == ':')
		seed = strtoul(end + 1, NULL, 10);
	u->loss_pm = pm > 1000 ? 1000 : (uint32_t)pm;
	u->loss_seed = seed ^ (uint64_t)getpid() << 20;
}

/* The first channel's incarnation: random, so a process that restarts on the same ports differs. */
static void inc_seed(struct udp_dev *u)
{
	struct timespec ts;

	if (getrandom(&u->inc_next, sizeof(u->inc_next), GRND_NONBLOCK) == sizeof(u->inc_next))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	u->inc_next = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
		      (uint64_t)getpid() << 40;
}

/* A channel's incarnation: never 0, and no two alike in a device (an odd step over 2^64). */
static uint64_t inc_take(struct udp_dev *u)
{
	uint64_t inc;

	do
		inc = u->inc_next += 0x9e3779b97f4a7c15ull;
	while (inc == 0);
	return inc;
}

/* AF_XDP cannot run (clcp_errmsg says why): the node uses its sockets, said once. */
void udp_xdp_fallback(struct udp_dev *u)
{
	fprintf(stderr, "clcp udp: node %u: AF_XDP mode not available (%s); using sockets\n",
		u->dev->node, clcp_errmsg());
}

/* mode=xdp: the XDP program on the node's interface, the AF_XDP socket with the first endpoint. */
static void xdp_open(struct udp_dev *u)
{
	if (u->conf.xdp && udp_xsk_open(u) < 0)
		udp_xdp_fallback(u);
}

static int udp_open(struct clcp_dev *dev, const char *args)
{
	struct udp_dev *u = calloc(1, sizeof(*u));
	int rc;

	if (!u)
		return clcp__err(ENOMEM, "udp: out of memory");
	udp_sock_init(u);
	u->dev = dev;
	u->next_port = 1024;
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->cond, NULL);
	u->neps = dev->max_endpts;
	u->eps = calloc(u->neps, sizeof(*u->eps));
	u->rxbufs = malloc((size_t)UDP_BATCH * UDP_DGRAM_MAX);
	if (!u->eps || !u->rxbufs) {
		dev_free(u);
		return clcp__err(ENOMEM, "udp: out of memory");
	}
	loss_hook(u);
	inc_seed(u);
	rc = udp_conf_parse(dev, args, &u->conf);
	if (rc == 0)
		rc = sock_open(dev, u);
	if (rc == 0)
		xdp_open(u);
	if (rc == 0)
		rc = udp_thread_start(u);
	if (rc < 0) {
		dev_free(u);
		return rc;
	}
	if (u->conf.mtu)
		dev->mtu_default = u->conf.mtu;
	dev->bpriv = u;
	return 0;
}

static const char *const drop_names[UDP_NDROPS] = {
	"drop_short", "drop_version", "drop_key",   "drop_len", "drop_src",
	"drop_port",  "drop_seq",     "drop_nobuf", "drop_crc", "drop_early",
	"drop_stale", "drop_crc_off",
};

static const char *const gone_names[UDP_NGONE] = { "gone_rst", "gone_icmp", "gone_silence",
						   "gone_restart" };

/* The device's counters, by name (docs/api.md, "Counters"). */
static int udp_stats(struct clcp_dev *dev, struct clcp_stat *out, unsigned n)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
		{ "tx_data", offsetof(struct udp_stats, tx_data) },
		{ "rx_data", offsetof(struct udp_stats, rx_data) },
		{ "tx_acks", offsetof(struct udp_stats, tx_acks) },
		{ "rx_acks", offsetof(struct udp_stats, rx_acks) },
		{ "tx_sacks", offsetof(struct udp_stats, tx_sacks) },
		{ "rx_sacks", offsetof(struct udp_stats, rx_sacks) },
		{ "rexmits", offsetof(struct udp_stats, rexmits) },
		{ "rto_expiries", offsetof(struct udp_stats, rto_expiries) },
		{ "dups", offsetof(struct udp_stats, dups) },
		{ "out_of_order", offsetof(struct udp_stats, ooo) },
		{ "window_stalls", offsetof(struct udp_stats, wnd_stalls) },
		{ "probes", offsetof(struct udp_stats, probes) },
		{ "window_probes", offsetof(struct udp_stats, wnd_probes) },
		{ "starved", offsetof(struct udp_stats, starved) },
		{ "tx_batches", offsetof(struct udp_stats, tx_batches) },
		{ "rx_direct", offsetof(struct udp_stats, rx_direct) },
		{ "tx_bulk", offsetof(struct udp_stats, tx_bulk) },
		{ "rx_bulk", offsetof(struct udp_stats, rx_bulk) },
		{ "rx_bulk_placed", offsetof(struct udp_stats, rx_bulk_placed) },
		{ "pull_withdrawn", offsetof(struct udp_stats, pull_withdrawn) },
		{ "rx_ready", offsetof(struct udp_stats, rx_ready) },
		{ "tx_granted", offsetof(struct udp_stats, tx_granted) },
		{ "bulk_kept", offsetof(struct udp_stats, bulk_kept) },
		{ "rx_bulk_framed", offsetof(struct udp_stats, rx_bulk_framed) },
		{ "wake_direct", offsetof(struct udp_stats, wake_direct) },
		{ "wake_direct_vain", offsetof(struct udp_stats, wake_direct_vain) },
		{ "tx_gso", offsetof(struct udp_stats, tx_gso) },
		{ "xdp_tx", offsetof(struct udp_stats, xdp_tx) },
		{ "xdp_rx", offsetof(struct udp_stats, xdp_rx) },
		{ "xdp_bad", offsetof(struct udp_stats, xdp_bad) },
		{ "xdp_lost", offsetof(struct udp_stats, xdp_lost) },
		{ "xdp_mode", offsetof(struct udp_stats, xdp_mode) },
		{ "xdp_ring_rx", offsetof(struct udp_stats, xdp_ring_rx) },
		{ "xdp_ring_tx", offsetof(struct udp_stats, xdp_ring_tx) },
		{ "xdp_rx_inplace", offsetof(struct udp_stats, xdp_rx_inplace) },
		{ "xdp_rx_copied", offsetof(struct udp_stats, xdp_rx_copied) },
		{ "xdp_tx_inplace", offsetof(struct udp_stats, xdp_tx_inplace) },
	};
	struct udp_dev *u = UDP(dev);
	struct udp_stats st;
	unsigned i = 0, k;

	pthread_mutex_lock(&u->lock);
	st = u->st;
	st.xdp_lost = udp_xsk_lost(u);
	pthread_mutex_unlock(&u->lock);
	for (k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
		i = clcp__stat_put(out, n, i, fields[k].name,
				   *(const uint64_t *)((const char *)&st + fields[k].off));
	for (k = 0; k < UDP_NDROPS; k++)
		i = clcp__stat_put(out, n, i, drop_names[k], st.drops[k]);
	for (k = 0; k < UDP_NGONE; k++)
		i = clcp__stat_put(out, n, i, gone_names[k], st.gone[k]);
	return (int)i;
}

static void udp_close(struct clcp_dev *dev)
{
	struct udp_dev *u = UDP(dev);

	udp_thread_stop(u);
	clcp__stats_print(dev, "CLCP_UDP_STATS"); /* =1: counters on stderr at close */
	dev_free(u);
	dev->bpriv = NULL;
}

/* --- endpoints --- */

static void udp_buf_room(struct clcp_dev *dev, const struct clcp_endpt_attr *a,
			 struct clcp__buf_room *r)
{
	udp_xsk_room(UDP(dev), a, r);
}

/* The endpoint's region: in the UMEM (the first endpoint in xdp mode), else mapped here. */
static void *region_alloc(struct clcp_endpt *ep, uint32_t size)
{
	void *map = udp_xsk_endpt_alloc(UDP(ep->priv->dev), ep, size);

	if (map)
		return map;
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		   -1, 0);
	if (map == MAP_FAILED)
		clcp__err(ENOMEM, "udp: mmap %u bytes: %s", size, strerror(errno));
	return map == MAP_FAILED ? NULL : map;
}

static int udp_endpt_alloc(struct clcp_endpt *ep, uint32_t size)
{
	struct udp_ep *ue = calloc(1, sizeof(*ue));

	if (ue)
		ue->chans = calloc(ep->priv->attr.nchan, sizeof(*ue->chans));
	if (!ue || !ue->chans) {
		free(ue);
		return clcp__err(ENOMEM, "udp: out of memory");
	}
	ep->priv->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ep->priv->fd < 0) {
		free(ue->chans);
		free(ue);
		return clcp__err(errno, "udp: eventfd: %s", strerror(errno));
	}
	ep->base = region_alloc(ep, size);
	if (!ep->base) {
		close(ep->priv->fd);
		free(ue->chans);
		free(ue);
		return -ENOMEM;
	}
	ep->priv->bpriv = ue;
	return 0;
}

static uint32_t dead_ms(struct udp_dev *u, const struct clcp_endpt_attr *a)
{
	uint64_t ms = 20ull * (uint64_t)a->peer_check_ms;

	if (u->conf.dead_ms)
		return u->conf.dead_ms;
	return ms < UDP_DEAD_MIN_MS ? UDP_DEAD_MIN_MS : ms > 600000 ? 600000 : (uint32_t)ms;
}

static int udp_endpt_start(struct clcp_endpt *ep)
{
	struct udp_dev *u = UDP(ep->priv->dev);
	struct udp_ep *ue = UDPE(ep);
	uint32_t i;

	ue->dead_ms = dead_ms(u, &ep->priv->attr);
	ep->hdr->owner_pid = (uint32_t)getpid();
	pthread_mutex_lock(&u->lock);
	for (i = 0; i < u->neps && u->eps[i]; i++)
		;
	if (i == u->neps) {
		pthread_mutex_unlock(&u->lock);
		return clcp__err(EBUSY, "udp: all %u endpoints in use", u->neps);
	}
	ue->slot = i;
	ep->hdr->index = i;
	u->eps[i] = ep; /* the progress thread sees it from now on */
	udp_xsk_endpt_start(u, ep);
	clcp_store_release(&ep->hdr->magic, CLCP_ENDPT_MAGIC);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

static void udp_endpt_release(struct clcp_endpt *ep)
{
	struct udp_dev *u = UDP(ep->priv->dev);
	struct udp_ep *ue = UDPE(ep);
	bool in_umem;

	pthread_mutex_lock(&u->lock);
	if (ue->slot < u->neps && u->eps[ue->slot] == ep)
		u->eps[ue->slot] = NULL;
	udp_psock_forget(u, ep);
	in_umem = udp_xsk_endpt_release(u, ep);
	pthread_mutex_unlock(&u->lock);
	clcp_store_release(&ep->hdr->closed, 1u);
	if (!in_umem) /* the UMEM's goes with the device */
		munmap(ep->base, ep->priv->size);
	close(ep->priv->fd);
	free(ue->chans);
	free(ue);
	ep->priv->bpriv = NULL;
}

/* --- channels --- */

static uint16_t port_pick(struct udp_dev *u)
{
	uint32_t i;

	for (i = 0; i < 65536 - 1024; i++) {
		uint16_t p = u->next_port;

		u->next_port = p == 65535 ? 1024 : p + 1;
		if (u->ports[p] == 0)
			return p;
	}
	return 0;
}

static void active_link(struct udp_dev *u, struct udp_chan *uc)
{
	uc->act_prev = NULL;
	uc->act_next = u->active;
	if (u->active)
		u->active->act_prev = uc;
	u->active = uc;
}

static void active_unlink(struct udp_dev *u, struct udp_chan *uc)
{
	struct udp_chan **pp;

	if (uc->act_prev)
		uc->act_prev->act_next = uc->act_next;
	else
		u->active = uc->act_next;
	if (uc->act_next)
		uc->act_next->act_prev = uc->act_prev;
	for (pp = &u->ackq; *pp; pp = &(*pp)->ack_next)
		if (*pp == uc) {
			*pp = uc->ack_next;
			break;
		}
	uc->ack_queued = false;
}

static void chan_init(struct clcp_endpt *ep, int chan, const struct udp_node *peer)
{
	struct udp_chan *uc = &UDPE(ep)->chans[chan];

	memset(uc, 0, sizeof(*uc));
	uc->ep = ep;
	uc->idx = (uint16_t)chan;
	uc->inc = inc_take(UDP(ep->priv->dev));
	uc->peer = peer->sa;
	uc->peer_len = peer->len;
	uc->fd = udp_psock_get(UDP(ep->priv->dev), peer);
	uc->conn = uc->fd != UDP(ep->priv->dev)->sock;
	uc->rto_us = UDP_RTO_INIT_US;
	uc->last_heard_ms = now_ms();
	uc->active = true;
}

static int udp_chan_alloc(struct clcp_endpt *ep, int chan)
{
	struct udp_dev *u = UDP(ep->priv->dev);
	struct clcp_chan_desc *d = &ep->chans[chan];
	struct udp_node peer;
	uint32_t w;

	if (udp_node_addr(&u->conf, d->peer_node, &peer) < 0)
		return clcp__err(EHOSTUNREACH, "udp: node %u is not in the node table",
				 d->peer_node);
	if (peer.sa.ss_family != u->family)
		return clcp__err(EAFNOSUPPORT, "udp: node %u: other address family than ours",
				 d->peer_node);
	pthread_mutex_lock(&u->lock);
	if (d->my_port == CLCP_PORT_ANY)
		d->my_port = port_pick(u);
	if (d->my_port == 0 || u->ports[d->my_port] != 0) {
		w = d->my_port ? u->ports[d->my_port] : 0;
		pthread_mutex_unlock(&u->lock);
		return d->my_port == 0 ? clcp__err(EADDRINUSE, "udp: no free port")
				       : clcp__err(EADDRINUSE, "port %u is in use on node %u (endpoint %u)",
						   d->my_port, ep->hdr->node, (w >> 16) - 1);
	}
	chan_init(ep, chan, &peer);
	u->ports[d->my_port] = ((UDPE(ep)->slot + 1) << 16) | (uint32_t)chan;
	active_link(u, &UDPE(ep)->chans[chan]);
	udp_send_ctl(u, &UDPE(ep)->chans[chan], 0); /* hello */
	pthread_mutex_unlock(&u->lock);
	return 0;
}

/* ts: ms from now on the clock of the engine's condition (CLOCK_REALTIME). */
void udp_deadline_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/*
 * Waits (bounded) until what was sent on uc is acked, so it is not lost.
 * Unacked frames are resent at most every UDP_RTO_MAX_US, which a live
 * peer answers: a peer node not heard for UDP_LINGER_QUIET_MS since the
 * wait began is taken for gone, and the next channels to it do not wait
 * while it stays silent (a dead host's channels: one wait, not one each).
 */
static void linger(struct udp_dev *u, struct udp_chan *uc)
{
	uint32_t node = uc->ep->chans[uc->idx].peer_node;
	uint64_t t0 = now_ms(), end = t0 + UDP_LINGER_MS;
	struct timespec ts;

	if (u->mute.node == node && u->mute.ms == udp_heard_ms(u, uc))
		return;
	while (uc->snd_una != uc->snd_nxt && !uc->err && udp_seen(uc) && now_ms() < end) {
		uint64_t heard = udp_heard_ms(u, uc);

		if (now_ms() - (heard > t0 ? heard : t0) >= UDP_LINGER_QUIET_MS) {
			u->mute = (struct udp_heard){ node, heard };
			return;
		}
		udp_deadline_in(&ts, 10);
		pthread_cond_timedwait(&u->cond, &u->lock, &ts);
	}
}

static void udp_chan_release(struct clcp_endpt *ep, int chan)
{
	struct udp_dev *u = UDP(ep->priv->dev);
	struct udp_chan *uc = &UDPE(ep)->chans[chan];
	uint16_t port = ep->chans[chan].my_port;

	pthread_mutex_lock(&u->lock);
	if (!uc->active) {
		pthread_mutex_unlock(&u->lock);
		return;
	}
	linger(u, uc);
	if (udp_seen(uc) && !uc->err)
		udp_send_ctl(u, uc, UDP_FF_RST);
	if (u->ports[port] == (((UDPE(ep)->slot + 1) << 16) | (uint32_t)chan))
		u->ports[port] = 0;
	active_unlink(u, uc);
	udp_pull_forget(uc);
	udp_psock_put(u, uc->fd);
	uc->active = false;
	udp_store_release(u, uc, uc->snd_una, uc->snd_nxt);
	free(uc->store);
	uc->store = NULL;
	free(uc->ooo);
	uc->ooo = NULL;
	pthread_mutex_unlock(&u->lock);
}

/* --- send side --- */

static bool can_send(const struct udp_chan *uc)
{
	return udp_seen(uc) && (int32_t)(uc->snd_edge - uc->snd_nxt) > 0 &&
	       uc->snd_nxt - uc->snd_una < UDP_WIN;
}

/* A large frame's CRC32C comes with its copy into the store: one pass. */
static void store_frame(struct udp_dev *u, struct udp_slot *s, unsigned char *dst,
			const void *data, uint32_t len)
{
	s->has_crc = len >= UDP_CRC_FUSE_MIN && !u->conf.no_crc;
	if (s->has_crc)
		s->crc = udp_crc32c_copy(dst, data, len);
	else if (len)
		memcpy(dst, data, len);
}

/*
 * Where frame seq waits for its ack: in xdp mode a UMEM frame with room for
 * the headers before it (it is sent from there), else the store; NULL: out
 * of memory.
 */
static unsigned char *slot_place(struct udp_dev *u, struct udp_chan *uc, struct udp_slot *s,
				 uint32_t seq, uint32_t len)
{
	unsigned char *p = udp_xsk_store_get(u, len, &s->xframe);

	s->umem = p != NULL;
	return p ? p : udp_store_at(uc, seq);
}

unsigned char *udp_store_at(struct udp_chan *uc, uint32_t seq)
{
	if (!uc->store)
		uc->store = malloc((size_t)UDP_WIN * uc->ep->mtu);
	return uc->store ? uc->store + (size_t)(seq % UDP_WIN) * uc->ep->mtu : NULL;
}

/* Takes one frame into the retransmit store and sends it: 0, -EAGAIN, error. */
static int take(struct udp_dev *u, struct udp_chan *uc, const void *data, uint32_t len,
		uint32_t msg_len, uint8_t qflags)
{
	struct udp_slot *s;
	unsigned char *dst;

	if (uc->err)
		return uc->err;
	if (!can_send(uc)) {
		u->st.wnd_stalls++;
		uc->wnd_wait = udp_seen(uc);
		return -EAGAIN;
	}
	uc->wnd_wait = false;
	s = &uc->slot[uc->snd_nxt % UDP_WIN];
	dst = slot_place(u, uc, s, uc->snd_nxt, len);
	if (!dst)
		return -ENOMEM;
	s->len = len;
	s->msg_len = msg_len;
	s->flags = (uint8_t)(((qflags & CLCP_QF_LAST) ? CLCP_FF_LAST : 0) |
			     ((qflags & CLCP_QF_FIRST) ? CLCP_FF_FIRST : 0));
	s->rexmit = 0;
	s->sacked = 0;
	s->lent = NULL;
	s->marks = (qflags & CLCP_QF_PULL) ? UDP_RSVD_OFFER >> 8 : 0;
	if (qflags & CLCP_QF_FIRST)
		uc->offer.ready = 0; /* a message: the peer's READY is spent on it */
	if (qflags & CLCP_QF_PULL)
		udp_offer_taken(uc, uc->snd_nxt);
	store_frame(u, s, dst, data, len);
	udp_send_data(u, uc, uc->snd_nxt++);
	return 0;
}

static int send_queued(struct clcp_endpt *ep, const struct clcp_qentry *e, void *arg)
{
	return take(arg, &UDPE(ep)->chans[e->chan], ep->base + e->buf_off, e->len,
		    e->msg_len, e->flags);
}

static int udp_kick(struct clcp_endpt *ep)
{
	struct udp_dev *u = UDP(ep->priv->dev);
	int rc;

	pthread_mutex_lock(&u->lock);
	udp_tx_begin(u); /* a window of frames: one sendmmsg per UDP_BATCH */
	rc = clcp__txq_drain(ep, send_queued, u);
	udp_tx_flush(u);
	pthread_mutex_unlock(&u->lock);
	return rc;
}

static int udp_tx_direct(struct clcp_endpt *ep, int chan, const void *buf, uint32_t len,
			 uint32_t msg_len, uint8_t flags)
{
	struct udp_dev *u = UDP(ep->priv->dev);
	bool whole = (flags & (CLCP_QF_FIRST | CLCP_QF_LAST)) == (CLCP_QF_FIRST | CLCP_QF_LAST);
	int rc;

	if (ep->hdr->tx_head != ep->tx_tail)
		return -EAGAIN;
	pthread_mutex_lock(&u->lock);
	/*
	 * A message's frames wait for its last one: one segmented send
	 * (UDP_SEGMENT). A one-frame message has nothing to segment: it goes
	 * at once (a small one built in one piece, send_small).
	 */
	if (whole) {
		rc = take(u, &UDPE(ep)->chans[chan], buf, len, msg_len, flags);
	} else {
		udp_tx_begin(u);
		rc = take(u, &UDPE(ep)->chans[chan], buf, len, msg_len, flags);
		if (rc != 0 || (flags & CLCP_QF_LAST))
			udp_tx_flush(u);
		else
			udp_tx_hold(u);
	}
	pthread_mutex_unlock(&u->lock);
	if (rc < 0 && rc != -EAGAIN)
		ep->chan_err[chan] = clcp__err(-rc, "udp: channel %d: %s", chan, clcp_strerror(rc));
	ep->hdr->tx_frames += rc == 0;
	return rc;
}

/*
 * A nonblocking send to a peer not heard from yet: one hello and a short
 * wait for its answer, so that a bound peer is not reported full.
 */
static void handshake(struct udp_dev *u, struct udp_chan *uc)
{
	uint64_t now = udp_now_us(), end = now + HANDSHAKE_US, hello = 0;

	while (!udp_seen(uc) && !uc->err && now < end) {
		if (now >= hello) { /* the first may have met a port not bound yet */
			udp_send_ctl(u, uc, 0);
			hello = now + HANDSHAKE_US / 20;
		}
		pthread_mutex_unlock(&u->lock);
		usleep(100);
		pthread_mutex_lock(&u->lock);
		udp_rx_drain(u);
		udp_acks_flush(u);
		now = udp_now_us();
	}
}

static int udp_tx_ready(struct clcp_endpt *ep, int chan)
{
	struct udp_dev *u = UDP(ep->priv->dev);
	struct udp_chan *uc = &UDPE(ep)->chans[chan];
	int rc;

	if (ep->hdr->tx_head != ep->tx_tail)
		return 0;
	pthread_mutex_lock(&u->lock);
	udp_rx_drain(u); /* credits and hellos waiting in the socket count */
	udp_acks_flush(u);
	if (!udp_seen(uc) && !uc->err)
		handshake(u, uc);
	rc = uc->err ? uc->err : can_send(uc);
	pthread_mutex_unlock(&u->lock);
	return rc;
}


/* Why a peer may not be seen though it is there: what the device dropped says so. */
static const char *unseen_hint(const struct udp_dev *u)
{
	return u->st.drops[UDP_DROP_CRC_OFF] ? " (datagrams without a CRC came: a node with crc=0? "
					       "every node needs the same crc setting)"
					     : "";
}

/* Unseen peer for connect_ms: refused. Called with the lock held. */
static bool connect_expired(struct clcp_endpt *ep, int chan, struct udp_chan *uc, uint64_t now)
{
	if (udp_seen(uc)) {
		uc->wait_since_ms = 0;
		return false;
	}
	if (uc->wait_since_ms == 0)
		uc->wait_since_ms = now;
	if (now - uc->wait_since_ms < (uint64_t)ep->priv->attr.connect_ms)
		return false;
	ep->chan_err[chan] = clcp__err(ECONNREFUSED,
				       "udp: peer port %u of node %u not bound within %d ms%s",
				       ep->chans[chan].peer_port, ep->chans[chan].peer_node,
				       ep->priv->attr.connect_ms, unseen_hint(UDP(ep->priv->dev)));
	return true;
}

static int udp_tx_wait(struct clcp_endpt *ep, int chan, int ms, bool spin)
{
	struct udp_dev *u = UDP(ep->priv->dev);
	struct udp_chan *uc = &UDPE(ep)->chans[chan];
	uint64_t end = now_ms() + (uint64_t)(ms > 0 ? ms : 1);
	struct timespec ts;

	if (!spin) /* the acks we wait for come through the thread: it must watch for them */
		udp_thread_unpoll(u);
	pthread_mutex_lock(&u->lock);
	if (u->txb.depth == 0 && u->txb.n)
		udp_tx_send(u); /* frames held for the rest of their message go now */
	for (;;) {
		uint64_t now = now_ms();

		if (uc->err) {
			ep->chan_err[chan] = clcp__err(-uc->err, "peer of channel %d is gone", chan);
			break;
		}
		if (can_send(uc) || connect_expired(ep, chan, uc, now) || now >= end)
			break;
		if (spin) {
			pthread_mutex_unlock(&u->lock);
			udp_progress(ep);
			clcp_cpu_relax();
			pthread_mutex_lock(&u->lock);
		} else {
			udp_deadline_in(&ts, (int)(end - now < 10 ? end - now : 10));
			pthread_cond_timedwait(&u->cond, &u->lock, &ts);
		}
	}
	pthread_mutex_unlock(&u->lock);
	return 0;
}

static int udp_chan_check(struct clcp_endpt *ep, int chan)
{
	struct udp_dev *u = UDP(ep->priv->dev);
	struct udp_chan *uc = &UDPE(ep)->chans[chan];
	int rc;

	pthread_mutex_lock(&u->lock);
	rc = uc->err ? -ECONNRESET : udp_seen(uc) ? 0 : -ENOTCONN;
	pthread_mutex_unlock(&u->lock);
	return rc;
}

static void udp_fd_signal(struct clcp_endpt *ep)
{
	uint64_t one = 1;

	(void)!write(ep->priv->fd, &one, sizeof(one));
}

static void udp_fd_drain(struct clcp_endpt *ep)
{
	uint64_t v;

	(void)!read(ep->priv->fd, &v, sizeof(v));
}

/*
 * The receiver posted Rx buffers after a small credit went out (F1 saw
 * rx_waiters): tell those peers the new credit.
 */
static void udp_wake_senders(struct clcp_endpt *ep)
{
	struct udp_dev *u = UDP(ep->priv->dev);
	uint32_t credit, step = (ep->rx_mask + 1) / 4;
	struct udp_chan *uc;

	if (step == 0 || step > UDP_WIN / 4)
		step = step ? UDP_WIN / 4 : 1;
	pthread_mutex_lock(&u->lock);
	/* F2 again: at full credit the flag goes, or every later post would come here. */
	credit = udp_rx_credit_f2(ep);
	for (uc = u->active; uc; uc = uc->act_next) {
		if (uc->ep != ep)
			continue;
		if (uc->ooo)
			udp_ooo_flush(u, uc);
		if (udp_seen(uc) && (int32_t)(uc->rcv_nxt + credit - uc->rcv_edge) >= (int32_t)step)
			udp_send_ctl(u, uc, 0);
	}
	pthread_mutex_unlock(&u->lock);
}

/*
 * A blocking receive that waits for a message to begin sleeps on the
 * device's sockets beside its fd: the datagram wakes it, and it reads it
 * itself as a polling caller does (the progress thread stays off the
 * sockets meanwhile), instead of the thread waking first and then waking
 * it. A wake that brought it nothing (acks of what it sent, another
 * endpoint's frames) was in vain: the next 2^n sleeps leave the sockets to
 * the thread. So do those with frames parked (a message partly in): the
 * thread takes the rest in batches and wakes it at the last frame.
 */
static void udp_rx_block(struct clcp_endpt *ep, int ms)
{
	struct udp_dev *u = UDP(ep->priv->dev);
	struct udp_ep *ue = UDPE(ep);
	struct pollfd pfd[3 + UDP_PEER_SOCKS];
	unsigned n;
	bool direct = !ep->nheld && !clcp__backoff_skips(&ue->direct), paid;

	if (!direct)
		udp_thread_unpoll(u);
	n = udp_sock_pollfds(u, pfd, ep->priv->fd, direct);
	if (poll(pfd, n, ms) <= 0 || pfd[0].revents || !direct)
		return;
	udp_progress(ep);
	paid = clcp_rxq_peek(ep) != NULL;
	if (paid)
		clcp__backoff_paid(&ue->direct);
	else
		clcp__backoff_vain(&ue->direct);
	pthread_mutex_lock(&u->lock);
	u->st.wake_direct++;
	u->st.wake_direct_vain += !paid;
	pthread_mutex_unlock(&u->lock);
}

/* A polling caller does the NIC's receive work itself: no thread hop. */
void udp_progress(struct clcp_endpt *ep)
{
	struct udp_dev *u = UDP(ep->priv->dev);
	uint64_t now;

	/* The thread wants the lock (timers, acks): let it have it, it does our work too. */
	if (clcp_load_relaxed(&u->thread_waits))
		return;
	/* The progress thread stays off the socket meanwhile; it takes the lock only briefly. */
	pthread_mutex_lock(&u->lock);
	now = udp_now_us(); /* under the lock: no frame out was sent after it */
	clcp_store_relaxed(&u->poll_us, now);
	udp_rx_poll(u, now);
	/* The thread may starve on the lock while we spin: run its timers too. */
	if (now - u->timers_us >= 1000u)
		udp_timers(u);
	udp_acks_flush(u);
	pthread_mutex_unlock(&u->lock);
}

const struct clcp_backend_ops clcp_udp_ops = {
	.size = sizeof(struct clcp_backend_ops),
	.name = "udp",
	.uri_help =
		"udp://[NODE][?local=PORT|local6=PORT&base_node=N&key=K&dead_ms=MS&mtu=N&crc=0|1&mode=sock|xdp|xdp-skb&xdp_ring=N&xdp_queue=Q] or "
		"udp:///path/hostfile[?...]; else CLCP_NODES / CLCP_HOSTFILE (docs/udp.md)",
	.caps = CLCP_CAP_INTERRUPT | CLCP_CAP_MULTINODE,
	.max_endpts = UDP_DEFAULT_ENDPTS,
	.mtu_max = UDP_MTU_MAX,
	.mtu_default = UDP_MTU_ETH,
	.open = udp_open,
	.close = udp_close,
	.buf_room = udp_buf_room,
	.endpt_alloc = udp_endpt_alloc,
	.endpt_start = udp_endpt_start,
	.endpt_release = udp_endpt_release,
	.chan_alloc = udp_chan_alloc,
	.chan_release = udp_chan_release,
	.kick = udp_kick,
	.tx_ready = udp_tx_ready,
	.tx_direct = udp_tx_direct,
	.tx_wait = udp_tx_wait,
	.chan_check = udp_chan_check,
	.fd_signal = udp_fd_signal,
	.fd_drain = udp_fd_drain,
	.wake_senders = udp_wake_senders,
	.progress = udp_progress,
	.rx_block = udp_rx_block,
	.futex_wake = true,
	.pull_offer = udp_pull_offer,
	.pull_wait = udp_pull_wait,
	.pull_take = udp_pull_take,
	.pull_ready = udp_pull_ready,
	.stats = udp_stats,
};
