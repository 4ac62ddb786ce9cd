/* SPDX-License-Identifier: MIT */
/*
 * Myrinet backend: the ops table over the device layer (mx_dev.h): the
 * kernel driver's board when /dev/clcp0 exists (mx_kdev.c), else the node's
 * NIC (the firmware on the simulated LANai) run in this process. The
 * endpoint is the one ABI of clcp/abi.h in memory the NIC reaches by DMA,
 * so the fast paths of clcp/endpt.h work unchanged: Tx = post entries, then
 * ring the doorbell; Rx = the firmware DMAs into posted slots; the endpoint
 * fd is /dev/clcpN (or the device layer's eventfd), readable after the
 * NIC's interrupt.
 * Channels use the firmware's credits: no frame leaves without a posted
 * Rx slot promised to it at the receiver.
 */
#include <limits.h>
#include <stddef.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "hal.h"
#include "internal.h"
#include "mx_dev.h"

#define MX_MAX_NODES 64u    /* nodes open at once in one process */
#define MX_PORT_FIRST 1024u /* CLCP_PORT_ANY picks from here */
#define MX_ASK_WAIT_MS 50   /* a nonblocking send waits this long for an unknown peer's answer */
#define MX_NAP_NS 20000L    /* a sleeping sender's nap while its NIC has credits */

/* One node's NIC, shared by the devices of this process that open it. */
struct mx_node {
	pid_t pid;     /* a forked child does not own its parent's NIC */
	uint32_t port; /* fabric port = node id - base */
	uint32_t refs;
	uint16_t next_port;
	char dir[PATH_MAX];
	struct mx_dev *dev;
	bool used[MCP_MAX_ENDPTS];
};

struct mx_bdev {
	struct mx_node *node;
	uint32_t base; /* node id of fabric port 0 */
	bool mapper;   /* the fabric tells which nodes live (mapper=0: only the NICs' asks) */
};

struct mx_ep {
	uint32_t idx;
	uint32_t errors_seen; /* mx_dev_errors when chan_err was last synced */
	uint64_t last_check;
	uint64_t *unseen_since; /* per channel: a frame waits for a peer never heard from */
	bool gone;		/* the board was removed: every call fails with -ENODEV */
	uint64_t gone_asked_ms; /* when the driver was last asked (once per peer_check_ms) */
};

static pthread_mutex_t nodes_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mx_node *nodes[MX_MAX_NODES];

static struct mx_bdev *MXD(struct clcp_dev *dev)
{
	return dev->bpriv;
}

static struct mx_ep *MXE(struct clcp_endpt *ep)
{
	return ep->priv->bpriv;
}

static struct mx_dev *DEV(struct clcp_endpt *ep)
{
	return MXD(ep->priv->dev)->node->dev;
}

/* --- URI: myrinet[://NODE][?base_node=B&fabric=DIR&mapper=0|1] --- */

struct mx_opts {
	uint32_t base;
	uint32_t mapper;
	char dir[PATH_MAX];
};

static int parse_num(const char *s, uint32_t *v, const char *what)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || end == s || n > UINT32_MAX || (*end && *end != '&' && *end != '?'))
		return clcp__err(EINVAL, "myrinet URI: bad %s in \"%s\"", what, s);
	*v = (uint32_t)n;
	return 0;
}

static int parse_opt(const char *opt, struct mx_opts *o)
{
	size_t n;

	if (strncmp(opt, "base_node=", 10) == 0)
		return parse_num(opt + 10, &o->base, "base_node");
	if (strncmp(opt, "mapper=", 7) == 0) {
		int rc = parse_num(opt + 7, &o->mapper, "mapper");

		if (rc == 0 && o->mapper > 1)
			rc = clcp__err(EINVAL, "myrinet URI: mapper is 0 or 1");
		return rc;
	}
	if (strncmp(opt, "fabric=", 7) == 0) {
		n = strcspn(opt + 7, "&");
		if (n == 0 || n >= sizeof(o->dir) - 32)
			return clcp__err(EINVAL, "myrinet URI: bad fabric directory");
		memcpy(o->dir, opt + 7, n);
		o->dir[n] = '\0';
		return 0;
	}
	return clcp__err(EINVAL, "myrinet URI: unknown option \"%s\"", opt);
}

static int parse_args(struct clcp_dev *dev, const char *args, struct mx_opts *o)
{
	const char *shm = getenv("CLCP_SHM_DIR");
	int rc;

	o->base = 0;
	o->mapper = 1;
	snprintf(o->dir, sizeof(o->dir), "%s", shm && *shm ? shm : "/dev/shm");
	if (*args && *args != '?') {
		rc = parse_num(args, &dev->node, "node id");
		if (rc < 0)
			return rc;
		args += strcspn(args, "?");
	}
	while (*args) {
		rc = parse_opt(args + 1, o);
		if (rc < 0)
			return rc;
		args += 1 + strcspn(args + 1, "&");
	}
	if (dev->node < o->base || dev->node - o->base >= MCP_MAX_NODES)
		return clcp__err(EINVAL, "myrinet: node %u outside the fabric's %u..%u", dev->node,
				 o->base, o->base + MCP_MAX_NODES - 1);
	return 0;
}

/* --- nodes --- */

static struct mx_node *node_find(const char *dir, uint32_t port)
{
	for (uint32_t i = 0; i < MX_MAX_NODES; i++) {
		struct mx_node *n = nodes[i];

		if (n && n->pid == getpid() && n->port == port && strcmp(n->dir, dir) == 0)
			return n;
	}
	return NULL;
}

static int node_new(const struct mx_opts *o, uint32_t port, struct mx_node **np)
{
	struct mx_node *n;
	uint32_t i;
	int rc;

	for (i = 0; i < MX_MAX_NODES && nodes[i] && nodes[i]->pid == getpid(); i++)
		;
	if (i == MX_MAX_NODES)
		return clcp__err(EMFILE, "myrinet: %u nodes open in this process", MX_MAX_NODES);
	n = calloc(1, sizeof(*n));
	if (!n)
		return clcp__err(ENOMEM, "myrinet: out of memory");
	rc = mx_dev_open_node(&n->dev, o->dir, port);
	if (rc < 0) {
		free(n);
		if (rc == -EADDRINUSE)
			return clcp__err(EADDRINUSE, "myrinet: node %u is open in another process",
					 o->base + port);
		return clcp__err(-rc, "myrinet: NIC of node %u: %s", o->base + port, strerror(-rc));
	}
	n->pid = getpid();
	n->port = port;
	n->refs = 1;
	n->next_port = MX_PORT_FIRST;
	snprintf(n->dir, sizeof(n->dir), "%s", o->dir);
	nodes[i] = n; /* a slot of a forked parent's node is dropped, not freed */
	*np = n;
	return 0;
}

static int mx_open(struct clcp_dev *dev, const char *args)
{
	struct mx_bdev *b = calloc(1, sizeof(*b));
	struct mx_opts o;
	int rc;

	if (!b)
		return clcp__err(ENOMEM, "myrinet: out of memory");
	rc = parse_args(dev, args, &o);
	if (rc == 0) {
		pthread_mutex_lock(&nodes_lock);
		b->node = node_find(o.dir, dev->node - o.base);
		if (b->node)
			b->node->refs++;
		else
			rc = node_new(&o, dev->node - o.base, &b->node);
		pthread_mutex_unlock(&nodes_lock);
	}
	if (rc < 0) {
		free(b);
		return rc;
	}
	b->base = o.base;
	b->mapper = o.mapper;
	dev->bpriv = b;
	return 0;
}

/* The NIC's counters (struct mcp_stats in SRAM, big-endian), by name. */
static const struct {
	const char *name;
	size_t off;
} mx_stat_fields[] = {
	{ "tx_packets", offsetof(struct mcp_stats, tx_packets) },
	{ "rx_packets", offsetof(struct mcp_stats, rx_packets) },
	{ "ctrl_tx", offsetof(struct mcp_stats, ctrl_tx) },
	{ "ctrl_rx", offsetof(struct mcp_stats, ctrl_rx) },
	{ "credit_stalls", offsetof(struct mcp_stats, credit_stalls) },
	{ "grants", offsetof(struct mcp_stats, grants) },
	{ "replaced", offsetof(struct mcp_stats, replaced) },
	{ "host_gone", offsetof(struct mcp_stats, host_gone) },
	{ "rx_stalls", offsetof(struct mcp_stats, rx_stalls) },
	{ "seq_errors", offsetof(struct mcp_stats, seq_errors) },
	{ "tx_errors", offsetof(struct mcp_stats, tx_errors) },
	{ "interrupts", offsetof(struct mcp_stats, interrupts) },
	{ "commands", offsetof(struct mcp_stats, commands) },
	{ "drop_port", offsetof(struct mcp_stats, drop_port) },
	{ "drop_len", offsetof(struct mcp_stats, drop_len) },
	{ "drop_crc", offsetof(struct mcp_stats, drop_crc) },
	{ "drop_full", offsetof(struct mcp_stats, drop_full) },
};

static int mx_stats(struct clcp_dev *dev, struct clcp_stat *out, unsigned n)
{
	struct mcp_stats stats;
	const unsigned char *st = (const unsigned char *)&stats;
	unsigned i;

	mx_dev_stats(MXD(dev)->node->dev, &stats);
	for (i = 0; i < sizeof(mx_stat_fields) / sizeof(mx_stat_fields[0]); i++) {
		clcp_u32 v;

		memcpy(&v, st + mx_stat_fields[i].off, sizeof(v));
		clcp__stat_put(out, n, i, mx_stat_fields[i].name, hal_be32(v));
	}
	return (int)i;
}

static void mx_close(struct clcp_dev *dev)
{
	struct mx_node *n = MXD(dev)->node;

	pthread_mutex_lock(&nodes_lock);
	if (n->pid != getpid()) { /* a forked child: the NIC runs in its parent */
		pthread_mutex_unlock(&nodes_lock);
		free(dev->bpriv);
		dev->bpriv = NULL;
		return;
	}
	if (--n->refs == 0) {
		clcp__stats_print(dev, "CLCP_MX_STATS"); /* =1: counters on stderr at close */
		for (uint32_t i = 0; i < MX_MAX_NODES; i++)
			if (nodes[i] == n)
				nodes[i] = NULL;
		mx_dev_close(n->dev);
		free(n);
	}
	pthread_mutex_unlock(&nodes_lock);
	free(dev->bpriv);
	dev->bpriv = NULL;
}

/* --- endpoints --- */

static int idx_take(struct mx_node *n, uint32_t *idx)
{
	uint32_t i;

	pthread_mutex_lock(&nodes_lock);
	for (i = 0; i < MCP_MAX_ENDPTS && n->used[i]; i++)
		;
	if (i < MCP_MAX_ENDPTS)
		n->used[i] = true;
	pthread_mutex_unlock(&nodes_lock);
	*idx = i;
	if (i == MCP_MAX_ENDPTS)
		return clcp__err(EBUSY, "all %u endpoints of the NIC are in use", MCP_MAX_ENDPTS);
	return 0;
}

static void idx_give(struct mx_node *n, uint32_t idx)
{
	pthread_mutex_lock(&nodes_lock);
	n->used[idx] = false;
	pthread_mutex_unlock(&nodes_lock);
}

/*
 * The first endpoint of the NIC free in this process and, with the kernel
 * driver, in every other one (its /dev/clcpN is not open elsewhere).
 */
static int endpt_claim(struct mx_node *n, uint32_t size, uint32_t *idx, void **base)
{
	bool elsewhere[MCP_MAX_ENDPTS] = { false };
	int rc;

	while ((rc = idx_take(n, idx)) == 0) {
		rc = mx_dev_endpt_alloc(n->dev, *idx, size, base);
		if (rc != -EBUSY)
			break;
		elsewhere[*idx] = true;
	}
	for (uint32_t i = 0; i < MCP_MAX_ENDPTS; i++)
		if (elsewhere[i])
			idx_give(n, i);
	if (rc < 0 && *idx < MCP_MAX_ENDPTS && !elsewhere[*idx]) {
		idx_give(n, *idx);
		rc = clcp__err(-rc, "myrinet: endpoint memory: %s", strerror(-rc));
	}
	return rc;
}

static int mx_endpt_alloc(struct clcp_endpt *ep, uint32_t size)
{
	struct mx_node *n = MXD(ep->priv->dev)->node;
	struct mx_ep *me = calloc(1, sizeof(*me));
	uint32_t max = mx_dev_endpt_max(n->dev);
	void *base;
	int rc;

	if (me)
		me->unseen_since = calloc(ep->priv->attr.nchan, sizeof(*me->unseen_since));
	if (!me || !me->unseen_since) {
		free(me);
		return clcp__err(ENOMEM, "myrinet: out of memory");
	}
	if (size > max)
		rc = clcp__err(ENOMEM,
			       "myrinet: endpoint of %u bytes > the %u the driver pins: "
			       "smaller mtu or queues",
			       size, max);
	else
		rc = endpt_claim(n, size, &me->idx, &base);
	if (rc < 0) {
		free(me->unseen_since);
		free(me);
		return rc;
	}
	ep->base = base;
	ep->priv->fd = mx_dev_wait_fd(n->dev, me->idx);
	ep->priv->bpriv = me;
	return 0;
}

static int mx_endpt_start(struct clcp_endpt *ep)
{
	int rc;

	ep->hdr->index = MXE(ep)->idx;
	ep->hdr->owner_pid = (uint32_t)getpid();
	/* The firmware reads the header once, at CREATE_ENDPT: complete it first. */
	clcp_store_release(&ep->hdr->magic, CLCP_ENDPT_MAGIC);
	rc = mx_dev_endpt_start(DEV(ep), MXE(ep)->idx);
	if (rc < 0)
		return clcp__err(-rc, "myrinet: the NIC refused the endpoint: %s", strerror(-rc));
	return 0;
}

static void mx_endpt_release(struct clcp_endpt *ep)
{
	struct mx_node *n = MXD(ep->priv->dev)->node;
	struct mx_ep *me = MXE(ep);

	clcp_store_release(&ep->hdr->closed, 1u);
	mx_dev_endpt_destroy(n->dev, me->idx); /* resets the peers; closes the fd */
	idx_give(n, me->idx);
	free(me->unseen_since);
	free(me);
	ep->priv->bpriv = NULL;
}

/* --- channels --- */

static int activate(struct clcp_endpt *ep, int chan, uint16_t port)
{
	const struct clcp_chan_desc *d = &ep->chans[chan];

	return mx_dev_chan_activate(DEV(ep), MXE(ep)->idx, (uint32_t)chan, port,
				    d->peer_node - MXD(ep->priv->dev)->base, d->peer_port,
				    MCP_CHANF_CREDIT);
}

/* CLCP_PORT_ANY: the next port the NIC accepts. */
static int activate_any(struct clcp_endpt *ep, int chan)
{
	struct mx_node *n = MXD(ep->priv->dev)->node;
	int rc = -EADDRINUSE;

	for (uint32_t i = 0; i < 65536 - MX_PORT_FIRST && rc == -EADDRINUSE; i++) {
		uint16_t p;

		pthread_mutex_lock(&nodes_lock); /* devices of the node may be in other threads */
		p = n->next_port;
		n->next_port = p == 65535 ? MX_PORT_FIRST : (uint16_t)(p + 1);
		pthread_mutex_unlock(&nodes_lock);
		rc = activate(ep, chan, p);
		if (rc == 0)
			ep->chans[chan].my_port = p;
	}
	return rc;
}

static int mx_chan_alloc(struct clcp_endpt *ep, int chan)
{
	struct clcp_chan_desc *d = &ep->chans[chan];
	uint32_t base = MXD(ep->priv->dev)->base;
	int rc;

	if (chan >= (int)MCP_MAX_CHANS)
		return clcp__err(EBUSY, "myrinet: the NIC has %u channels per endpoint",
				 MCP_MAX_CHANS);
	if (d->peer_node < base || d->peer_node - base >= MCP_MAX_NODES)
		return clcp__err(EHOSTUNREACH, "myrinet: node %u is not on the fabric (%u..%u)",
				 d->peer_node, base, base + MCP_MAX_NODES - 1);
	MXE(ep)->unseen_since[chan] = 0;
	rc = d->my_port == CLCP_PORT_ANY ? activate_any(ep, chan) : activate(ep, chan, d->my_port);
	if (rc == -EADDRINUSE)
		return clcp__err(EADDRINUSE, "port %u is in use on node %u", d->my_port,
				 ep->hdr->node);
	return rc < 0 ? clcp__err(-rc, "myrinet: activate channel: %s", strerror(-rc)) : 0;
}

static void mx_chan_release(struct clcp_endpt *ep, int chan)
{
	mx_dev_chan_deactivate(DEV(ep), MXE(ep)->idx, (uint32_t)chan);
}

/* --- send --- */

/*
 * The NIC's channel errors into chan_err once it failed a Tx entry: a reset
 * that comes after a call's frames went out is that call's success.
 */
static void errors_sync(struct clcp_endpt *ep)
{
	struct mx_ep *me = MXE(ep);
	uint32_t n = mx_dev_errors(DEV(ep), me->idx), c;

	if (n == me->errors_seen)
		return;
	me->errors_seen = n;
	for (c = 0; c < ep->nchan && c < MCP_MAX_CHANS; c++)
		if (ep->chans[c].state == CLCP_CHAN_ACTIVE && !ep->chan_err[c])
			ep->chan_err[c] = mx_dev_chan_error(DEV(ep), me->idx, c);
}

/*
 * -ENODEV once the board is gone. The driver is asked (ask) at most once
 * per peer_check_ms, not once per channel checked, and only until it is.
 */
static int board_gone(struct clcp_endpt *ep, bool ask)
{
	struct mx_ep *me = MXE(ep);
	uint64_t now = ask && !me->gone ? clcp__now_ms() : 0;

	if (now && now - me->gone_asked_ms >= (uint64_t)ep->priv->attr.peer_check_ms) {
		me->gone_asked_ms = now;
		me->gone = mx_dev_gone(DEV(ep), me->idx);
	}
	if (!me->gone)
		return 0;
	return clcp__err(ENODEV, "the board of endpoint %u is gone (unplugged or unbound)",
			 me->idx);
}

/* The doorbell; 0 once the NIC has handed every posted entry back. */
static int mx_kick(struct clcp_endpt *ep)
{
	if (board_gone(ep, false))
		return -ENODEV; /* no NIC will hand the entries back */
	mx_dev_doorbell(DEV(ep), MXE(ep)->idx);
	errors_sync(ep);
	/* A2 of the hand-back is the reserver's; tx_head is only a count here. */
	return clcp_load_acquire(&ep->hdr->tx_head) == ep->tx_tail ? 0 : -EAGAIN;
}

static uint32_t chan_tx(struct clcp_endpt *ep, int chan)
{
	return mx_dev_chan_tx(DEV(ep), MXE(ep)->idx, (uint32_t)chan);
}

static void nap(long ns)
{
	struct timespec ts = { 0, ns };

	nanosleep(&ts, NULL);
}

/*
 * Is the peer node's NIC on the fabric? 1, 0; -EINVAL when nobody can tell
 * (no mapper: over the driver, or mapper=0). The NIC then fails a channel
 * whose asks go unanswered for 5 s (firmware PEER_DEAD_US).
 */
static int node_alive(struct clcp_endpt *ep, uint32_t peer)
{
	return MXD(ep->priv->dev)->mapper ? mx_dev_node_alive(DEV(ep), peer) : -EINVAL;
}

/*
 * Waits for the answer to a credit ask: a peer heard from answers unless
 * it died (looked at every peer_check_ms), an unknown one for a short while.
 */
static uint32_t ask_answer(struct clcp_endpt *ep, int chan)
{
	uint32_t peer = ep->chans[chan].peer_node - MXD(ep->priv->dev)->base, w;
	uint64_t now = clcp__now_ms(), end = now + MX_ASK_WAIT_MS;
	uint64_t check = now + (uint64_t)ep->priv->attr.peer_check_ms;

	while ((w = chan_tx(ep, chan)) & MCP_CHT_ASKING) {
		now = clcp__now_ms();
		if (!(w & MCP_CHT_SEEN) && now >= end)
			break;
		if (now >= check) {
			if (node_alive(ep, peer) == 0 || board_gone(ep, true))
				break;
			check = now + (uint64_t)ep->priv->attr.peer_check_ms;
		}
		nap(MX_NAP_NS);
	}
	return w;
}

/* A credit now? If none, the NIC asks the peer and we wait for its answer. */
static int mx_tx_ready(struct clcp_endpt *ep, int chan)
{
	uint32_t w;

	if (clcp_load_acquire(&ep->hdr->tx_head) != ep->tx_tail)
		return 0; /* earlier frames still wait */
	errors_sync(ep);
	if (ep->chan_err[chan])
		return ep->chan_err[chan];
	w = chan_tx(ep, chan);
	if (w & MCP_CHT_CREDITS)
		return 1;
	mx_dev_chan_ask(DEV(ep), MXE(ep)->idx, (uint32_t)chan);
	return (ask_answer(ep, chan) & MCP_CHT_CREDITS) != 0;
}

static int mx_tx_direct(struct clcp_endpt *ep, int chan, const void *buf, uint32_t len,
			uint32_t msg_len, uint8_t flags)
{
	(void)ep, (void)chan, (void)buf, (void)len, (void)msg_len, (void)flags;
	return -ENOSYS; /* the NIC reaches only the pinned window: frames go through Tx entries */
}

static int mx_chan_check(struct clcp_endpt *ep, int chan);

/* A peer never heard from within connect_ms: refused (the NIC gives the entries back). */
static void connect_check(struct clcp_endpt *ep, int chan)
{
	struct mx_ep *me = MXE(ep);
	const struct clcp_chan_desc *d = &ep->chans[chan];
	uint64_t now = clcp__now_ms();

	if (chan_tx(ep, chan) & MCP_CHT_SEEN) {
		me->unseen_since[chan] = 0;
		return;
	}
	if (me->unseen_since[chan] == 0)
		me->unseen_since[chan] = now;
	if (now - me->unseen_since[chan] < (uint64_t)ep->priv->attr.connect_ms)
		return;
	mx_dev_chan_fail(DEV(ep), me->idx, (uint32_t)chan, ECONNREFUSED);
	ep->chan_err[chan] = clcp__err(ECONNREFUSED,
				       "peer port %u of node %u not bound within %d ms",
				       d->peer_port, d->peer_node, ep->priv->attr.connect_ms);
}

/* A peer gone (or our board) fails chan for good. */
static void chan_check_sticky(struct clcp_endpt *ep, int chan)
{
	int rc = mx_chan_check(ep, chan);

	if (ep->chan_err[chan] || (rc != -ECONNRESET && rc != -ENODEV))
		return;
	ep->chan_err[chan] =
		rc == -ENODEV ? rc : clcp__err(ECONNRESET, "peer of channel %d is gone", chan);
}

/* Sleeps on the endpoint fd until the NIC raises it (a credit, an error, a last frame). */
static void sleep_fd(struct clcp_endpt *ep, int chan, uint32_t head, int ms)
{
	struct pollfd pfd = { .fd = ep->priv->fd, .events = POLLIN };

	clcp_store_relaxed(&ep->hdr->armed, 1u);
	/* F3: arming before looking; pairs with the NIC's F4 (a DMA read after its writes). */
	clcp_fence_full();
	if (clcp_load_acquire(&ep->hdr->tx_head) == head &&
	    !mx_dev_chan_error(DEV(ep), MXE(ep)->idx, (uint32_t)chan))
		poll(&pfd, 1, ms);
	clcp_store_relaxed(&ep->hdr->armed, 0u);
}

/* The Tx head (on chan) waits: for a credit, for the NIC, or for a failure. */
static int mx_tx_wait(struct clcp_endpt *ep, int chan, int ms, bool spin)
{
	struct mx_ep *me = MXE(ep);
	uint32_t head = clcp_load_acquire(&ep->hdr->tx_head);
	uint64_t now = clcp__now_ms(), end = now + (uint64_t)ms;
	unsigned n;

	errors_sync(ep);
	if (ep->chan_err[chan])
		return 0;
	if (now - me->last_check >= (uint64_t)ep->priv->attr.peer_check_ms) {
		me->last_check = now;
		chan_check_sticky(ep, chan);
		connect_check(ep, chan);
		if (ep->chan_err[chan])
			return 0;
	}
	if (!spin && !(chan_tx(ep, chan) & MCP_CHT_CREDITS)) {
		sleep_fd(ep, chan, head, ms);
		return 0;
	}
	for (n = 1; clcp_load_acquire(&ep->hdr->tx_head) == head; n++) {
		if (spin)
			sched_yield(); /* the simulated NIC needs this CPU */
		else
			nap(MX_NAP_NS);
		if ((n & 255) == 0 &&
		    (clcp__now_ms() >= end || mx_dev_errors(DEV(ep), me->idx) != me->errors_seen))
			break;
	}
	return 0;
}

/* --- liveness, fd, wake-ups --- */

static int mx_chan_check(struct clcp_endpt *ep, int chan)
{
	struct mx_ep *me = MXE(ep);
	uint32_t peer = ep->chans[chan].peer_node - MXD(ep->priv->dev)->base;
	int rc, alive;

	if (chan >= (int)MCP_MAX_CHANS)
		return -ENOTCONN;
	rc = board_gone(ep, true);
	if (rc < 0)
		return rc;
	rc = mx_dev_chan_error(DEV(ep), me->idx, (uint32_t)chan);
	if (rc < 0)
		return rc;
	if (!(chan_tx(ep, chan) & MCP_CHT_SEEN))
		return -ENOTCONN;
	alive = node_alive(ep, peer);
	if (alive < 0) /* no mapper (the driver): an ask probes; unanswered, the NIC fails chan */
		mx_dev_chan_ask(DEV(ep), me->idx, (uint32_t)chan);
	if (alive != 0)
		return 0;
	/* The peer's NIC is gone: what its link delivered comes first, then the reset. */
	mx_dev_chan_fail(DEV(ep), me->idx, (uint32_t)chan, ECONNRESET);
	return clcp_rxq_peek(ep) ? 0 : -ECONNRESET;
}

static void mx_fd_signal(struct clcp_endpt *ep)
{
	mx_dev_signal(DEV(ep), MXE(ep)->idx);
}

static void mx_fd_drain(struct clcp_endpt *ep)
{
	mx_dev_drain(DEV(ep), MXE(ep)->idx);
}

/*
 * A polling caller found nothing: the simulated NIC runs on the same CPUs,
 * so give it one (a card's LANai would not need it).
 */
static void mx_progress(struct clcp_endpt *ep)
{
	(void)ep;
	sched_yield();
}

/* The user posted Rx buffers while a peer's NIC waits for credits (rx_waiters). */
static void mx_wake_senders(struct clcp_endpt *ep)
{
	mx_dev_kick(DEV(ep));
}

const struct clcp_backend_ops clcp_myrinet_ops = {
	.size = sizeof(struct clcp_backend_ops),
	.name = "myrinet",
	.uri_help = "myrinet[://NODE][?base_node=B&fabric=DIR&mapper=0|1]: the board of /dev/clcpN "
		    "that is node NODE-B when the driver is loaded, else the LANai firmware on a "
		    "simulated NIC per process; nodes B..B+63 meet in DIR (default $CLCP_SHM_DIR, "
		    "/dev/shm); mapper=0: dead nodes are found by the NICs alone (5 s)",
	.caps = CLCP_CAP_INTERRUPT,
	.max_endpts = MCP_MAX_ENDPTS,
	.mtu_max = MCP_MTU_MAX,
	.mtu_default = CLCP_MTU_DEFAULT,
	.open = mx_open,
	.close = mx_close,
	.buf_room = clcp__no_room,
	.endpt_alloc = mx_endpt_alloc,
	.endpt_start = mx_endpt_start,
	.endpt_release = mx_endpt_release,
	.chan_alloc = mx_chan_alloc,
	.chan_release = mx_chan_release,
	.kick = mx_kick,
	.tx_ready = mx_tx_ready,
	.tx_direct = mx_tx_direct,
	.tx_wait = mx_tx_wait,
	.chan_check = mx_chan_check,
	.fd_signal = mx_fd_signal,
	.fd_drain = mx_fd_drain,
	.wake_senders = mx_wake_senders,
	.progress = mx_progress,
	CLCP__NO_PULL,
	.stats = mx_stats,
};
