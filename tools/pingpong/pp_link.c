/* SPDX-License-Identifier: MIT */
/* clcp_pingpong: the CLCP link, the control protocol and the server. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pp.h"

/* --- one end of the benchmark: an endpoint and a channel --- */

/*
 * backend NAME becomes "NAME://NODE", a URI without a node ("udp://?local=P")
 * "udp://NODE?local=P"; a URI naming its node (or a hostfile) is taken as is.
 */
static void make_uri(char *uri, size_t cap, const char *backend, long node)
{
	const char *sep = strstr(backend, "://");

	if (sep == NULL)
		snprintf(uri, cap, "%s://%ld", backend, node);
	else if (uri_has_node(backend))
		snprintf(uri, cap, "%s", backend);
	else
		snprintf(uri, cap, "%.*s%ld%s", (int)(sep + 3 - backend), backend, node, sep + 3);
}

static void endpt_open(struct link *l, const struct opts *o, long node)
{
	struct clcp_endpt_attr attr;
	char uri[512];
	int rc;

	if (o->rank >= 0) /* the backend's bootstrap gives the node */
		snprintf(uri, sizeof uri, "%s", o->backend);
	else
		make_uri(uri, sizeof uri, o->backend, node);
	rc = clcp_open(uri, &l->dev);
	if (rc < 0)
		fail_clcp("clcp_open", rc);
	clcp_endpt_attr_init(&attr); /* mtu CLCP_MTU_AUTO unless --mtu */
	attr.mtu = o->mtu;
	attr.rxq_len = o->rxq;
	attr.txq_len = o->txq;
	rc = clcp_alloc_endpt(l->dev, &attr, &l->ep);
	if (rc < 0)
		fail_clcp("clcp_alloc_endpt", rc);
}

#define IDLE_PORT 61000 /* --any: the idle channels' peer ports, which nobody binds */

void link_open(struct link *l, const struct opts *o, long node, long port, long peer_node,
	       long peer_port)
{
	memset(l, 0, sizeof *l);
	l->api = o->api;
	endpt_open(l, o, node);
	/* A URI that names its node: then both forked ends share it. */
	if (uri_has_node(o->backend) && o->role == ROLE_BOTH)
		peer_node = clcp_dev_node(l->dev);
	/* --role rank: the pair's nodes are neighbours, the client's the lower. */
	if (o->rank >= 0)
		peer_node = (long)clcp_dev_node(l->dev) + (o->role == ROLE_SERVER ? -1 : 1);
	l->peer_node = (uint32_t)peer_node;
	l->chan = clcp_alloc_chan(l->ep, (uint16_t)port, l->peer_node, (uint16_t)peer_port);
	if (l->chan < 0)
		fail_clcp("clcp_alloc_chan", l->chan);
	l->any = o->any >= 0;
	for (long i = 0; i < o->any; i++) {
		int rc = clcp_alloc_chan(l->ep, CLCP_PORT_ANY, l->peer_node,
					 (uint16_t)(IDLE_PORT + i));

		if (rc < 0)
			fail_clcp("clcp_alloc_chan (--any)", rc);
	}
}

/* The frame size the endpoint really uses. */
uint32_t link_mtu(struct link *l)
{
	struct clcp_endpt_attr a;
	int rc = clcp_endpt_attr_get(l->ep, &a);

	if (rc < 0)
		fail_clcp("clcp_endpt_attr_get", rc);
	return a.mtu;
}

static unsigned read_stats(int n, const char *call)
{
	if (n < 0)
		fail_clcp(call, n);
	return n > MAX_STATS ? MAX_STATS : (unsigned)n;
}

/* The device's and the endpoint's counters, now. */
void link_counters(struct link *l, struct counters *c)
{
	c->ndev = read_stats(clcp_dev_stats(l->dev, c->dev, MAX_STATS), "clcp_dev_stats");
	c->nep = read_stats(clcp_endpt_stats(l->ep, c->ep, MAX_STATS), "clcp_endpt_stats");
	c->have = true;
}

void link_close(struct link *l)
{
	int rc;

	if ((rc = clcp_release_chan(l->ep, l->chan)) < 0)
		fail_clcp("clcp_release_chan", rc);
	if ((rc = clcp_release_endpt(l->ep)) < 0)
		fail_clcp("clcp_release_endpt", rc);
	if ((rc = clcp_close(l->dev)) < 0)
		fail_clcp("clcp_close", rc);
}

/* Polling, or the interrupt group's calls blocking at once or after a spin. */
void link_set_mode(struct link *l, enum mode m)
{
	struct clcp_endpt_attr a;
	int rc;

	if (m == l->mode)
		return;
	clcp_endpt_attr_init(&a); /* the default largest budget */
	rc = clcp_endpt_set_spin(l->ep, m == MODE_ADAPT ? CLCP_SPIN_ADAPTIVE : 0, a.spin_max_us);
	if (rc < 0)
		fail_clcp("clcp_endpt_set_spin", rc);
	l->mode = m;
}

static ssize_t send_frame(struct link *l, const void *buf, size_t len)
{
	ssize_t n;

	if (l->mode != MODE_POLL)
		return clcp_send_frame(l->ep, l->chan, buf, len, 0);
	do
		n = clcp_send_frame(l->ep, l->chan, buf, len, CLCP_NONBLOCK);
	while (n == -EAGAIN);
	return n;
}

void link_send(struct link *l, const void *buf, size_t len)
{
	ssize_t n;

	if (l->api == API_MSG) {
		in_call = msg_call(l, true);
		link_msg_send(l, buf, len);
		return;
	}
	in_call = "clcp_send_frame";
	n = send_frame(l, buf, len);
	if (n < 0)
		fail_clcp("clcp_send_frame", n);
	if ((size_t)n != len)
		fail("clcp_send_frame: returned %zd for %zu bytes", n, len);
}

static const void *recv_frame(struct link *l, size_t *len)
{
	int flags = l->mode == MODE_POLL ? CLCP_NONBLOCK : 0;
	int rc;

	in_call = "clcp_rcv_frame";
	do
		rc = clcp_rcv_frame(l->ep, l->any ? CLCP_ANY : l->chan, &l->frame, flags);
	while (rc == -EAGAIN && l->mode == MODE_POLL);
	if (rc < 0)
		fail_clcp("clcp_rcv_frame", rc);
	l->lent = true;
	if (l->frame.chan != l->chan)
		fail("clcp_rcv_frame: a frame of channel %d, expected %d", l->frame.chan, l->chan);
	if (!(l->frame.flags & CLCP_QF_LAST))
		fail("clcp_rcv_frame: a frame without the last-frame flag");
	*len = l->frame.len;
	return l->frame.data;
}

static const void *recv_msg(struct link *l, void *buf, size_t cap, size_t *len)
{
	int chan = l->any ? CLCP_ANY : l->chan;
	ssize_t n;

	in_call = msg_call(l, false);
	n = link_msg_rx(l, &chan, buf, cap);
	if (n < 0)
		fail_clcp(msg_call(l, false), n);
	if (chan != l->chan)
		fail("received on channel %d, expected %d", chan, l->chan);
	*len = (size_t)n;
	return buf;
}

/* Receives one message; the data stays valid until link_done(). */
static const void *link_recv(struct link *l, void *buf, size_t cap, size_t *len)
{
	if (l->api == API_FRAME)
		return recv_frame(l, len);
	return recv_msg(l, buf, cap, len);
}

const void *link_recv_len(struct link *l, void *buf, size_t cap, size_t want)
{
	size_t len;
	const void *data = link_recv(l, buf, cap, &len);

	if (len != want)
		fail("received %zu bytes, expected %zu", len, want);
	return data;
}

/* Gives a lent frame back. */
void link_done(struct link *l)
{
	int rc;

	if (!l->lent)
		return;
	l->lent = false;
	rc = clcp_release_frames(l->ep, &l->frame, 1);
	if (rc < 0)
		fail_clcp("clcp_release_frames", rc);
}

/* --- the control protocol --- */

#define CTRL_MAGIC 0x70696e67u /* "ping" */

void bufs_init(struct bufs *b, uint64_t max_size)
{
	b->cap = max_size < sizeof(struct ctrl) ? sizeof(struct ctrl) : (size_t)max_size;
	b->tx = xalloc(b->cap);
	b->rx = xalloc(b->cap);
}

void bufs_free(struct bufs *b)
{
	free(b->tx);
	free(b->rx);
	b->tx = b->rx = NULL;
}

/* The server follows the client's sizes, whatever its own --max. */
static void bufs_fit(struct bufs *b, size_t size)
{
	if (size <= b->cap)
		return;
	bufs_free(b);
	bufs_init(b, size);
}

void send_ctrl(struct link *l, const struct ctrl *c)
{
	struct ctrl msg = *c;

	msg.magic = CTRL_MAGIC;
	link_send(l, &msg, sizeof msg);
}

static void recv_ctrl(struct link *l, struct bufs *b, struct ctrl *c)
{
	size_t len;
	const void *data = link_recv(l, b->rx, b->cap, &len);

	if (len != sizeof *c)
		fail("expected a control message, got %zu bytes: do both ends "
		     "run with the same options?",
		     len);
	memcpy(c, data, sizeof *c);
	link_done(l);
	if (c->magic != CTRL_MAGIC || c->mode >= NMODES)
		fail("bad control message (magic 0x%08x)", c->magic);
}

/* --- server: echo what the client asks for --- */

/* Messages: the inline calls with nothing between (the floor's server has nothing either). */
static void serve_lat(struct link *l, struct bufs *b, const struct ctrl *c)
{
	bool msg = l->api == API_MSG;

	if (msg) /* a stuck peer shows in the receive */
		in_call = msg_call(l, false);
	for (unsigned i = c->first; i < c->first + c->count; i++) {
		const void *data = b->rx;

		if (msg)
			link_msg_recv(l, b->rx, b->cap, c->size);
		else
			data = link_recv_len(l, b->rx, b->cap, c->size);
		if (c->check && check_iter(true, i))
			verify_pattern(data, c->size, i, "server");
		if (msg)
			link_msg_send(l, data, c->size);
		else
			link_send(l, data, c->size);
		link_done(l);
	}
}

static void serve_bw(struct link *l, struct bufs *b, const struct ctrl *c)
{
	for (unsigned r = 0; r < c->count; r++) {
		for (unsigned w = 0; w < c->window; w++) {
			const void *data = link_recv_len(l, b->rx, b->cap, c->size);

			if (c->check && w == 0)
				verify_pattern(data, c->size, 0, "server");
			link_done(l);
		}
		link_send(l, b->tx, ACK_LEN);
	}
}

void serve(struct link *l, struct bufs *b)
{
	struct ctrl c;

	for (;;) {
		recv_ctrl(l, b, &c);
		link_set_mode(l, (enum mode)c.mode);
		bufs_fit(b, c.size);
		if (c.kind == CTRL_LAT)
			serve_lat(l, b, &c);
		else if (c.kind == CTRL_BW)
			serve_bw(l, b, &c);
		else if (c.kind == CTRL_DONE)
			break;
		else
			fail("unknown control message kind %u", c.kind);
	}
	link_send(l, b->tx, ACK_LEN);
}
