// SPDX-License-Identifier: MIT
/*
 * The CLCP control program (MCP): the NIC side of the endpoint contract.
 * One loop polls, in turn, the command queue, the network receive DMA and
 * the Tx queue of every enabled endpoint. Endpoints live in pinned host
 * memory (include/clcp/abi.h, little-endian); the firmware reaches them by
 * host DMA only, through the SRAM scratch area. Shared SRAM words are
 * big-endian (mcp_abi.h). Portable C over hal.h, no libc.
 */
#include "mcp.h"

#define SCRATCH_ENTRY MCP_SCRATCH_OFF		/* one queue entry */
#define SCRATCH_PROBE (MCP_SCRATCH_OFF + 0x40u) /* an Rx entry looked at for credits */
#define SCRATCH_HDR (MCP_SCRATCH_OFF + 0x100u)	/* an endpoint header */
#define SCRATCH_WORD (MCP_SCRATCH_OFF + 0x800u) /* one 32-bit word */
#define QE_SIZE ((clcp_u32)sizeof(struct clcp_qentry))
/* Packets sit in their buffer so that the frame header is word aligned. */
#define RX_PKT_OFF (MCP_RXBUF_OFF + 2u)
#define ASK_RETRY_US 5000u   /* an unanswered (or refused) ask goes again */
#define CREDIT_IDLE_US 5000u /* credits unused this long go back to the receiver */
#define GRANT_MAX 64u	     /* credits per grant, at most half the Rx queue */
/* Asks unanswered this long: the peer's NIC is gone (a peer's NIC answers every ask). */
#define PEER_DEAD_US 5000000u

static void tx_ctrl(struct mcp *m, clcp_u32 node, clcp_u16 port, clcp_u16 my_port, clcp_u32 op,
		    clcp_u32 arg);
static void rx_interrupt(struct mcp *m, clcp_u32 i);
static void put_head(struct mcp *m, const struct mcp_endpt *e, clcp_u32 field, clcp_u32 head);

/* --- small helpers --- */

/* Endpoint i's words in SRAM (its page: the user side maps it). */
static struct mcp_endpt_page *epage(const struct mcp *m, clcp_u32 i)
{
	return hal_sram(m->hw, MCP_EPAGE(i));
}

static clcp_u32 rd32(const clcp_u32 *p)
{
	return hal_be32(*(const volatile clcp_u32 *)p);
}

static void wr32(clcp_u32 *p, clcp_u32 v)
{
	*(volatile clcp_u32 *)p = hal_be32(v);
}

static void inc32(clcp_u32 *p)
{
	wr32(p, rd32(p) + 1);
}

static void copy_bytes(void *dst, const void *src, clcp_u32 n)
{
	clcp_u8 *d = dst;
	const clcp_u8 *s = src;

	while (n--)
		*d++ = *s++;
}

static void zero_bytes(void *dst, clcp_u32 n)
{
	clcp_u8 *d = dst;

	while (n--)
		*d++ = 0;
}

static int is_pow2(clcp_u32 v)
{
	return v && !(v & (v - 1));
}

static void mcp_log(struct mcp *m, clcp_u16 code, clcp_u32 ep, clcp_u32 a, clcp_u32 b)
{
	clcp_u32 head = rd32(&m->sh->log_head);
	struct mcp_log_entry *e = &m->sh->log[head & (MCP_LOG_LEN - 1)];

	wr32(&e->time_us, hal_clock_us(m->hw));
	e->code = hal_be16(code);
	e->ep = hal_be16((clcp_u16)ep);
	wr32(&e->a, a);
	wr32(&e->b, b);
	/* RL1: the entry before the head that publishes it; pairs with the driver's AL1. */
	hal_wmb();
	wr32(&m->sh->log_head, head + 1);
}

static void mcp_drop(struct mcp *m, clcp_u32 *counter, clcp_u32 why, clcp_u32 what)
{
	inc32(counter);
	mcp_log(m, MCP_LOG_DROP, 0xffffu, why, what);
}

/* --- port map: open addressing over MCP_PORTMAP_SLOTS --- */

static clcp_u32 port_hash(clcp_u16 port)
{
	return ((clcp_u32)port * 40503u >> 4) & (MCP_PORTMAP_SLOTS - 1);
}

const struct mcp_port_slot *mcp_port_find(const struct mcp *m, clcp_u16 port)
{
	clcp_u32 i = port_hash(port), n;

	for (n = 0; n < MCP_PORTMAP_SLOTS; n++, i = (i + 1) & (MCP_PORTMAP_SLOTS - 1)) {
		const struct mcp_port_slot *s = &m->portmap[i];

		if (s->state == MCP_SLOT_EMPTY)
			return 0;
		if (s->state == MCP_SLOT_USED && s->port == port)
			return s;
	}
	return 0;
}

int mcp_port_bind(struct mcp *m, clcp_u16 port, clcp_u32 ep, clcp_u32 chan)
{
	clcp_u32 i = port_hash(port), n;

	if (port == 0)
		return -MCP_EINVAL;
	if (mcp_port_find(m, port))
		return -MCP_EADDRINUSE;
	for (n = 0; n < MCP_PORTMAP_SLOTS; n++, i = (i + 1) & (MCP_PORTMAP_SLOTS - 1)) {
		struct mcp_port_slot *s = &m->portmap[i];

		if (s->state != MCP_SLOT_USED) {
			s->port = port;
			s->ep = (clcp_u8)ep;
			s->chan = (clcp_u16)chan;
			s->state = MCP_SLOT_USED;
			return 0;
		}
	}
	return -MCP_ENOSPC;
}

void mcp_port_unbind(struct mcp *m, clcp_u16 port)
{
	struct mcp_port_slot *s = (struct mcp_port_slot *)mcp_port_find(m, port);

	if (s)
		s->state = MCP_SLOT_DEAD;
}

/* --- commands --- */

/* The queues lie inside the region the driver pinned (the user wrote the header). */
static int layout_fits(const struct clcp_endpt_hdr *h, clcp_u32 pinned)
{
	clcp_u64 size = hal_le32(h->size);
	clcp_u64 txq_end = hal_le32(h->txq_off) + (clcp_u64)hal_le32(h->txq_len) * QE_SIZE;
	clcp_u64 rxq_end = hal_le32(h->rxq_off) + (clcp_u64)hal_le32(h->rxq_len) * QE_SIZE;

	return size <= pinned && size >= sizeof(*h) && txq_end <= size && rxq_end <= size &&
	       hal_le32(h->txq_off) >= sizeof(*h) && hal_le32(h->rxq_off) >= sizeof(*h);
}

static int cmd_create_endpt(struct mcp *m, const struct mcp_cmd *c, clcp_u32 i)
{
	struct mcp_endpt *e = &m->ep[i];
	const struct clcp_endpt_hdr *h = hal_sram(m->hw, SCRATCH_HDR);
	clcp_u64 host = (clcp_u64)rd32(&c->host_addr_hi) << 32 | rd32(&c->host_addr_lo);
	clcp_u32 txq_len, rxq_len;

	if (e->enabled)
		return -MCP_EBUSY;
	hal_dma_from_host(m->hw, SCRATCH_HDR, host, sizeof(*h));
	txq_len = hal_le32(h->txq_len);
	rxq_len = hal_le32(h->rxq_len);
	if (hal_le32(h->magic) != CLCP_ENDPT_MAGIC || hal_le16(h->abi_version) != CLCP_ABI_VERSION)
		return -MCP_EPROTO;
	if (!is_pow2(txq_len) || !is_pow2(rxq_len) || hal_le32(h->mtu) > MCP_MTU_MAX ||
	    !layout_fits(h, rd32(&c->size)))
		return -MCP_EINVAL;
	zero_bytes(e, sizeof(*e));
	e->host = host;
	e->size = hal_le32(h->size);
	e->mtu = hal_le32(h->mtu);
	/* Channels past MCP_MAX_CHANS exist in the region but not here: never activated. */
	e->nchan = hal_le32(h->nchan) < MCP_MAX_CHANS ? hal_le32(h->nchan) : MCP_MAX_CHANS;
	e->txq_off = hal_le32(h->txq_off);
	e->txq_mask = txq_len - 1;
	e->rxq_off = hal_le32(h->rxq_off);
	e->rxq_mask = rxq_len - 1;
	e->doorbell_seen = rd32(&epage(m, i)->doorbell) - 1; /* look once */
	e->enabled = 1;
	wr32(&epage(m, i)->enabled, 1);
	return 0;
}

/* --- channel state the driver reads --- */

static void chan_pub(struct mcp *m, clcp_u32 i, clcp_u32 ch)
{
	const struct mcp_chan *c = &m->ep[i].chans[ch];

	wr32(&epage(m, i)->chan_tx[ch],
	     c->credits | (c->seen ? MCP_CHT_SEEN : 0) | (c->asking ? MCP_CHT_ASKING : 0));
}

/* The channel failed (err > 0): its Tx entries come back with -err from now on. */
static void chan_fail(struct mcp *m, clcp_u32 i, clcp_u32 ch, clcp_u32 err)
{
	epage(m, i)->chan_err[ch] = (clcp_u8)err;
	rx_interrupt(m, i); /* a sender sleeping for credits looks again */
}

/* Credits the peer was promised and will not use: the Rx slots are free again. */
static void credits_drop(struct mcp_endpt *e, struct mcp_chan *c)
{
	e->promised -= c->granted;
	c->granted = 0;
	c->credits = 0;
	if (c->want)
		e->wants--;
	c->want = 0;
}

/* The channel fails as reset (-ECONNRESET): its credits and its ask go, the user side is told. */
static void chan_reset(struct mcp *m, clcp_u32 i, clcp_u32 ch)
{
	struct mcp_chan *c = &m->ep[i].chans[ch];

	credits_drop(&m->ep[i], c);
	c->asking = 0;
	chan_fail(m, i, ch, MCP_ECONNRESET);
	chan_pub(m, i, ch);
}

/*
 * Unbinds a channel's port and tells its peer's NIC (the peer sees a
 * reset), unless another activation took the peer's port: not its peer.
 */
static void chan_close(struct mcp *m, struct mcp_endpt *e, struct mcp_chan *c)
{
	mcp_port_unbind(m, c->my_port);
	c->active = 0;
	e->nactive--;
	credits_drop(e, c);
	if (!c->refusing)
		tx_ctrl(m, c->peer_node, c->peer_port, c->my_port, MCP_CTRL_RESET, 0);
}

static void unbind_all(struct mcp *m, struct mcp_endpt *e)
{
	clcp_u32 c;

	for (c = 0; c < e->nchan; c++)
		if (e->chans[c].active)
			chan_close(m, e, &e->chans[c]);
}

static int cmd_destroy_endpt(struct mcp *m, clcp_u32 i)
{
	struct mcp_endpt *e = &m->ep[i];

	if (!e->enabled)
		return -MCP_ENOENT;
	unbind_all(m, e);
	e->enabled = 0;
	wr32(&epage(m, i)->enabled, 0);
	return 0;
}

static int cmd_activate_chan(struct mcp *m, const struct mcp_cmd *c, clcp_u32 i)
{
	struct mcp_endpt *e = &m->ep[i];
	clcp_u32 ch = rd32(&c->chan), port = rd32(&c->port), peer = rd32(&c->peer_node);
	struct mcp_chan *mc;
	int rc;

	if (!e->enabled)
		return -MCP_ENOENT;
	if (ch >= e->nchan || port == 0 || port > 0xffffu || peer >= MCP_MAX_NODES ||
	    e->chans[ch].active)
		return -MCP_EINVAL;
	rc = mcp_port_bind(m, (clcp_u16)port, i, ch);
	if (rc)
		return rc;
	mc = &e->chans[ch];
	mc->peer_node = peer;
	mc->peer_port = (clcp_u16)rd32(&c->peer_port);
	mc->my_port = (clcp_u16)port;
	mc->tx_seq = 0;
	mc->rx_seq = 0;
	mc->credit = (rd32(&c->host_addr_lo) & MCP_CHANF_CREDIT) != 0;
	mc->seen = mc->asking = mc->want = 0;
	mc->credits = mc->granted = 0;
	mc->ask_us = hal_clock_us(m->hw) - ASK_RETRY_US;
	mc->act = ++m->acts ? m->acts : ++m->acts;
	mc->peer_act = 0;
	mc->refusing = 0;
	mc->active = 1;
	e->nactive++;
	epage(m, i)->chan_err[ch] = 0;
	epage(m, i)->chan_ask[ch] = 0;
	chan_pub(m, i, ch);
	if (mc->credit) /* a peer bound first learns that we are here */
		tx_ctrl(m, peer, mc->peer_port, mc->my_port, MCP_CTRL_HELLO, mc->act);
	return 0;
}

static int cmd_deactivate_chan(struct mcp *m, const struct mcp_cmd *c, clcp_u32 i)
{
	struct mcp_endpt *e = &m->ep[i];
	clcp_u32 ch = rd32(&c->chan);

	if (!e->enabled || ch >= e->nchan || !e->chans[ch].active)
		return -MCP_ENOENT;
	chan_close(m, e, &e->chans[ch]);
	return 0;
}

/* Delivers what already waits on the link, so that it comes before the error. */
static int rx_poll(struct mcp *m);

static int cmd_fail_chan(struct mcp *m, const struct mcp_cmd *c, clcp_u32 i)
{
	struct mcp_endpt *e = &m->ep[i];
	clcp_u32 ch = rd32(&c->chan), err = rd32(&c->port), n;

	if (!e->enabled || ch >= e->nchan || !e->chans[ch].active)
		return -MCP_ENOENT;
	if (err == 0 || err > 0xffu)
		return -MCP_EINVAL;
	for (n = 0; n < 64 && rx_poll(m); n++)
		;
	chan_fail(m, i, ch, err);
	return 0;
}

static int cmd_load_routes(struct mcp *m, const struct mcp_cmd *c)
{
	clcp_u32 node = rd32(&c->peer_node), n = rd32(&c->chan), i;

	if (node >= MCP_MAX_NODES || n > MCP_MAX_NODES)
		return -MCP_EINVAL;
	for (i = 0; i < n; i++)
		if (m->sh->routes[i].len > MCP_ROUTE_MAX)
			return -MCP_EINVAL;
	zero_bytes(m->routes, sizeof(m->routes));
	copy_bytes(m->routes, m->sh->routes, n * (clcp_u32)sizeof(struct mcp_route));
	m->acts ^= rd32(&c->port); /* the host's random number: the clock restarts with the board */
	m->node = node;
	wr32(&m->sh->node, node);
	return 0;
}

static int cmd_exec(struct mcp *m, const struct mcp_cmd *c)
{
	clcp_u32 op = rd32(&c->op), ep = rd32(&c->ep);

	if (op == MCP_CMD_NOP)
		return 0;
	if (op == MCP_CMD_LOAD_ROUTES)
		return cmd_load_routes(m, c);
	if (ep >= MCP_MAX_ENDPTS)
		return -MCP_EINVAL;
	switch (op) {
	case MCP_CMD_CREATE_ENDPT:
		return cmd_create_endpt(m, c, ep);
	case MCP_CMD_DESTROY_ENDPT:
		return cmd_destroy_endpt(m, ep);
	case MCP_CMD_ACTIVATE_CHAN:
		return cmd_activate_chan(m, c, ep);
	case MCP_CMD_DEACTIVATE_CHAN:
		return cmd_deactivate_chan(m, c, ep);
	case MCP_CMD_FAIL_CHAN:
		return cmd_fail_chan(m, c, ep);
	}
	return -MCP_EINVAL;
}

/* Executes the next READY command, if any. */
static int cmd_poll(struct mcp *m)
{
	clcp_u32 head = rd32(&m->sh->cmd_head);
	struct mcp_cmd *c = &m->sh->cmdq[head & (MCP_CMDQ_LEN - 1)];
	int rc;

	if (*(volatile clcp_u8 *)&c->state != MCP_CMDS_READY)
		return 0;
	/* AC1: the fields after READY; pairs with the driver's RC1. */
	hal_rmb();
	rc = cmd_exec(m, c);
	c->result = (clcp_s16)hal_be16((clcp_u16)rc);
	/* RC2: the result before DONE; pairs with the driver's AC2. */
	hal_wmb();
	*(volatile clcp_u8 *)&c->state = MCP_CMDS_DONE;
	wr32(&m->sh->cmd_head, head + 1);
	inc32(&m->sh->stats.commands);
	mcp_log(m, MCP_LOG_CMD, rd32(&c->ep), rd32(&c->op), (clcp_u32)rc);
	return 1;
}

/* --- send --- */

static clcp_u64 entry_addr(const struct mcp_endpt *e, clcp_u32 q_off, clcp_u32 slot)
{
	return e->host + q_off + (clcp_u64)slot * QE_SIZE;
}

/* Publishes a queue head in the endpoint header (little-endian, by DMA). */
static void put_head(struct mcp *m, const struct mcp_endpt *e, clcp_u32 field, clcp_u32 head)
{
	clcp_u32 *w = hal_sram(m->hw, SCRATCH_WORD + 4);

	*w = hal_le32(head);
	hal_dma_to_host(m->hw, e->host + field, SCRATCH_WORD + 4, 4);
}

/* Counts a frame in n (low, high) and writes it to the header's u64 at field. */
static void put_count(struct mcp *m, const struct mcp_endpt *e, clcp_u32 field, clcp_u32 *n)
{
	clcp_u32 *w = hal_sram(m->hw, SCRATCH_WORD + 16);

	n[1] += ++n[0] == 0;
	w[0] = hal_le32(n[0]);
	w[1] = hal_le32(n[1]);
	hal_dma_to_host(m->hw, e->host + field, SCRATCH_WORD + 16, 8);
}

/*
 * Waits for the send DMA to let go of the Tx buffer, then writes the route
 * and the packet type where the frame header will be word aligned.
 */
static clcp_u32 pkt_start(struct mcp *m, const struct mcp_route *r, clcp_u16 type)
{
	clcp_u32 start = MCP_TXBUF_OFF + ((2u - r->len) & 3u);
	clcp_u8 *p = hal_sram(m->hw, start);

	while (hal_send_busy(m->hw))
		;
	copy_bytes(p, r->bytes, r->len);
	p[r->len] = (clcp_u8)(type >> 8);
	p[r->len + 1] = (clcp_u8)type;
	return start;
}

/* Tells node's NIC about its channel (its port, my port): MCP_CTRL_*, arg in seq. */
static void tx_ctrl(struct mcp *m, clcp_u32 node, clcp_u16 port, clcp_u16 my_port, clcp_u32 op,
		    clcp_u32 arg)
{
	const struct mcp_route *r = &m->routes[node < MCP_MAX_NODES ? node : 0];
	struct clcp_frame_hdr *f;
	clcp_u32 start;

	if (node >= MCP_MAX_NODES || !r->valid)
		return;
	start = pkt_start(m, r, MCP_PTYPE_CTRL);
	f = (struct clcp_frame_hdr *)((clcp_u8 *)hal_sram(m->hw, start) + r->len + 2);
	zero_bytes(f, sizeof(*f));
	f->version = CLCP_FRAME_VERSION;
	f->dst_port = hal_be16(port);
	f->src_port = hal_be16(my_port);
	f->src_node = hal_be32(m->node);
	f->ack = hal_be32(op);
	f->seq = hal_be32(arg);
	hal_send_start(m->hw, start, r->len + MCP_PKT_HDR);
	inc32(&m->sh->stats.ctrl_tx);
	if (op == MCP_CTRL_REFUSED || op == MCP_CTRL_RESET)
		mcp_log(m, MCP_LOG_CTRL, 0xffffu, op, port);
}

/* Writes the frame header (big-endian) of a data frame. */
static void put_frame_hdr(struct mcp *m, struct clcp_frame_hdr *f, const struct mcp_chan *c,
			  const struct clcp_qentry *q, clcp_u32 len)
{
	clcp_u8 qf = q->flags;

	f->version = CLCP_FRAME_VERSION;
	f->flags = (clcp_u8)(CLCP_FF_DATA | ((qf & CLCP_QF_LAST) ? CLCP_FF_LAST : 0) |
			     ((qf & CLCP_QF_FIRST) ? CLCP_FF_FIRST : 0));
	f->dst_port = hal_be16(c->peer_port);
	f->src_port = hal_be16(c->my_port);
	f->rsvd = 0;
	f->src_node = hal_be32(m->node);
	f->len = hal_be32(len);
	f->msg_len = hal_be32(hal_le32(q->msg_len));
	f->seq = hal_be32(c->tx_seq);
	f->ack = 0;
	f->key = 0;
}

/* Checks a Tx entry against the endpoint; 0 or a negative errno. */
static int tx_check(const struct mcp *m, const struct mcp_endpt *e, const struct clcp_qentry *q)
{
	clcp_u32 ch = hal_le16(q->chan), len = hal_le32(q->len), off = hal_le32(q->buf_off);
	const struct mcp_chan *c = &e->chans[ch < MCP_MAX_CHANS ? ch : 0];
	clcp_u8 err;

	if (ch >= e->nchan || !c->active)
		return -MCP_EINVAL;
	err = epage(m, (clcp_u32)(e - m->ep))->chan_err[ch];
	if (err)
		return -(int)err;
	if (len > e->mtu)
		return -MCP_EMSGSIZE;
	if (!(q->flags & CLCP_QF_INLINE) && (off > e->size || len > e->size - off))
		return -MCP_EFAULT;
	if ((q->flags & CLCP_QF_INLINE) && len > CLCP_QE_INLINE_MAX)
		return -MCP_EMSGSIZE;
	if (!m->routes[c->peer_node].valid)
		return -MCP_EHOSTUNREACH;
	return 0;
}

/* Builds [route][type][frame header][payload] in the Tx buffer and sends it. */
static void tx_packet(struct mcp *m, struct mcp_endpt *e, const struct clcp_qentry *q)
{
	struct mcp_chan *c = &e->chans[hal_le16(q->chan)];
	const struct mcp_route *r = &m->routes[c->peer_node];
	clcp_u32 len = hal_le32(q->len);
	clcp_u32 start = pkt_start(m, r, MCP_PTYPE_CLCP), at = start;
	clcp_u8 *p = hal_sram(m->hw, at);

	put_frame_hdr(m, (struct clcp_frame_hdr *)(p + r->len + 2), c, q, len);
	at += r->len + MCP_PKT_HDR;
	if (q->flags & CLCP_QF_INLINE)
		copy_bytes(hal_sram(m->hw, at), q->data, len);
	else if (len)
		hal_dma_from_host(m->hw, at, e->host + hal_le32(q->buf_off), len);
	hal_send_start(m->hw, start, r->len + MCP_PKT_HDR + len);
	c->tx_seq++;
	inc32(&m->sh->stats.tx_packets);
}

/* --- credits, sender side --- */

static void ask(struct mcp *m, clcp_u32 i, struct mcp_chan *c, clcp_u32 waiting)
{
	c->ask_us = hal_clock_us(m->hw);
	if (!c->asking)
		c->ask0_us = c->ask_us;
	c->asking = 1;
	tx_ctrl(m, c->peer_node, c->peer_port, c->my_port, MCP_CTRL_ASK, waiting);
	chan_pub(m, i, (clcp_u32)(c - m->ep[i].chans));
}

/*
 * A credit channel may send the entry at the Tx head only with a credit:
 * 1 go (one taken), 0 wait (asked for credits, again after ASK_RETRY_US).
 */
static int credit_take(struct mcp *m, clcp_u32 i, struct mcp_chan *c)
{
	if (!c->credit)
		return 1;
	if (c->credits) {
		c->credits--;
		c->used_us = hal_clock_us(m->hw); /* idle credits go back later */
		chan_pub(m, i, (clcp_u32)(c - m->ep[i].chans));
		return 1;
	}
	if (hal_clock_us(m->hw) - c->ask_us >= ASK_RETRY_US) {
		inc32(&m->sh->stats.credit_stalls);
		ask(m, i, c, 1);
	}
	return 0;
}

/* The last credit went to a frame whose message goes on: ask for the next ones now. */
static void credit_ahead(struct mcp *m, clcp_u32 i, struct mcp_chan *c, const struct clcp_qentry *q)
{
	if (c->credit && !c->credits && !c->asking && !(q->flags & CLCP_QF_LAST))
		ask(m, i, c, 1);
}

/* The driver asked for a credit on a channel (chan_ask) before a nonblocking send. */
static void asks_scan(struct mcp *m, clcp_u32 i, clcp_u32 db)
{
	struct mcp_endpt *e = &m->ep[i];
	clcp_u32 ch;

	if (db == e->ask_seen)
		return;
	e->ask_seen = db;
	for (ch = 0; ch < e->nchan; ch++) {
		struct mcp_chan *c = &e->chans[ch];

		if (!epage(m, i)->chan_ask[ch])
			continue;
		if (c->active && c->credit && !c->credits && !c->asking)
			ask(m, i, c, 0);
		else
			chan_pub(m, i, ch);
		/* The answer (or ASKING) before the ask is taken: the driver reads the other way.
		 */
		hal_wmb();
		*(volatile clcp_u8 *)&epage(m, i)->chan_ask[ch] = 0;
	}
}

/*
 * A channel whose asks went unanswered for PEER_DEAD_US: its peer's node
 * (host or board) is gone; the channel fails as if reset, its queued
 * frames are handed back.
 */
static void peer_dead(struct mcp *m, clcp_u32 i, clcp_u32 ch)
{
	chan_reset(m, i, ch);
	mcp_log(m, MCP_LOG_CTRL, i, MCP_CTRL_RESET, m->ep[i].chans[ch].peer_port);
}

/*
 * Per endpoint, now and then: credits unused for CREDIT_IDLE_US go back
 * (their channel has nothing to send, or its frames wait behind another
 * channel's at the Tx head); channels whose peer is dead fail.
 */
static void credits_idle(struct mcp *m, clcp_u32 i)
{
	struct mcp_endpt *e = &m->ep[i];
	clcp_u32 ch, now = hal_clock_us(m->hw);

	if (!e->enabled)
		return;
	for (ch = 0; ch < e->nchan; ch++) {
		struct mcp_chan *c = &e->chans[ch];

		if (c->active && c->asking && now - c->ask0_us >= PEER_DEAD_US) {
			peer_dead(m, i, ch);
			continue;
		}
		if (!c->active || !c->credits || now - c->used_us < CREDIT_IDLE_US)
			continue;
		tx_ctrl(m, c->peer_node, c->peer_port, c->my_port, MCP_CTRL_RETURN, c->credits);
		c->credits = 0;
		chan_pub(m, i, ch);
	}
}

/*
 * Our host died (host_watch): each channel fails here and tells its peer,
 * whose NIC would otherwise grant and deliver into a dead host for ever;
 * the peer's hellos and asks are refused from now on (it waits, as for a
 * port not bound).
 */
static void chan_orphan(struct mcp *m, clcp_u32 i, clcp_u32 ch)
{
	struct mcp_chan *c = &m->ep[i].chans[ch];

	tx_ctrl(m, c->peer_node, c->peer_port, c->my_port, MCP_CTRL_RESET, 0);
	c->refusing = 1;
	chan_reset(m, i, ch);
}

/*
 * The host's driver bumps host_beat. Silent for host_dead_ms, the host is
 * gone though its board runs (a kernel crash): every channel is orphaned.
 * A beat again (the host was only stopped) lets channels be activated
 * anew; the failed ones stay failed. The silence is counted from the last
 * beat, or from when host_dead_ms was first seen as it is.
 */
static void host_watch(struct mcp *m)
{
	clcp_u32 ms = rd32(&m->sh->host_dead_ms), beat = rd32(&m->sh->host_beat);
	clcp_u32 now = hal_clock_us(m->hw), i, ch;

	if (ms > MCP_HOST_DEAD_MAX_MS)
		ms = MCP_HOST_DEAD_MAX_MS;
	if (!ms || ms != m->dead_ms || beat != m->beat_seen) {
		m->dead_ms = ms;
		m->beat_seen = beat;
		m->beat_us = now;
		m->host_gone = 0;
		return;
	}
	if (m->host_gone || now - m->beat_us < ms * 1000u)
		return;
	m->host_gone = 1;
	inc32(&m->sh->stats.host_gone);
	mcp_log(m, MCP_LOG_HOST, 0xffffu, ms, beat);
	for (i = 0; i < MCP_MAX_ENDPTS; i++)
		for (ch = 0; m->ep[i].enabled && ch < m->ep[i].nchan; ch++)
			if (m->ep[i].chans[ch].active && !m->ep[i].chans[ch].refusing)
				chan_orphan(m, i, ch);
}

/* Sends the next Tx entry of endpoint i if the user posted one. */
static int tx_endpt(struct mcp *m, clcp_u32 i)
{
	struct mcp_endpt *e = &m->ep[i];
	struct clcp_qentry *q = hal_sram(m->hw, SCRATCH_ENTRY);
	clcp_u64 at;
	clcp_u32 db;
	int rc;

	if (!e->enabled)
		return 0;
	db = rd32(&epage(m, i)->doorbell);
	asks_scan(m, i, db);
	if (db == e->doorbell_seen)
		return 0;
	at = entry_addr(e, e->txq_off, e->tx_head & e->txq_mask);
	/* A1: one DMA read; the owner byte is its last (the user's R1). */
	hal_dma_from_host(m->hw, SCRATCH_ENTRY, at, QE_SIZE);
	if (q->owner != CLCP_OWNER_NIC) {
		e->doorbell_seen = db; /* drained up to this ring */
		return 0;
	}
	rc = tx_check(m, e, q);
	if (rc == 0 && !credit_take(m, i, &e->chans[hal_le16(q->chan)]))
		return 0; /* the head waits for a credit: the queue keeps its order */
	if (rc == 0) {
		tx_packet(m, e, q);
		credit_ahead(m, i, &e->chans[hal_le16(q->chan)], q);
		put_count(m, e, CLCP_OFFSETOF(struct clcp_endpt_hdr, tx_frames), e->tx_frames);
	} else {
		inc32(&m->sh->stats.tx_errors);
		inc32(&epage(m, i)->errors);
		mcp_log(m, MCP_LOG_TX_ERR, i, (clcp_u32)-rc, hal_le16(q->chan));
	}
	q->status = (clcp_s16)hal_le16((clcp_u16)rc);
	q->owner = CLCP_OWNER_FREE;
	/* R2: the entry back in one DMA, owner last (the user's A2). */
	hal_dma_to_host(m->hw, at, SCRATCH_ENTRY, QE_SIZE);
	e->tx_head++;
	put_head(m, e, CLCP_OFFSETOF(struct clcp_endpt_hdr, tx_head), e->tx_head);
	rx_interrupt(m, i); /* a sender sleeping until its entries come back (if armed) */
	return 1;
}

/* --- receive --- */

static const struct clcp_frame_hdr *rx_hdr(struct mcp *m)
{
	return (const struct clcp_frame_hdr *)((const clcp_u8 *)hal_sram(m->hw, RX_PKT_OFF) + 2);
}

/* The channel a packet is for, or NULL (unknown port, or not its peer). */
static struct mcp_chan *rx_chan(struct mcp *m, const struct clcp_frame_hdr *f, clcp_u32 *ep)
{
	const struct mcp_port_slot *s = mcp_port_find(m, hal_be16(f->dst_port));
	struct mcp_chan *c;

	if (!s)
		return 0;
	c = &m->ep[s->ep].chans[s->chan];
	if (c->peer_port != hal_be16(f->src_port) || c->peer_node != hal_be32(f->src_node))
		return 0;
	*ep = s->ep;
	return c;
}

/* --- credits, receiver side --- */

/* Posted Rx slots of e not promised yet, counted up to max (one DMA each). */
static clcp_u32 slots_free(struct mcp *m, const struct mcp_endpt *e, clcp_u32 max)
{
	const struct clcp_qentry *q = hal_sram(m->hw, SCRATCH_PROBE);
	clcp_u32 n = 0, slot;

	while (n < max && e->promised + n <= e->rxq_mask) {
		slot = (e->rx_head + e->promised + n) & e->rxq_mask;
		/* A4: the owner byte is the last of the DMA (the user's R4). */
		hal_dma_from_host(m->hw, SCRATCH_PROBE, entry_addr(e, e->rxq_off, slot), QE_SIZE);
		if (q->owner != CLCP_OWNER_NIC)
			break;
		n++;
	}
	return n;
}

/*
 * A fair share: the Rx queue over the endpoint's channels, so that credits
 * one channel holds never starve another for long (idle ones go back).
 */
static clcp_u32 grant_max(const struct mcp_endpt *e)
{
	clcp_u32 share = (e->rxq_mask + 1) / (e->nactive ? e->nactive : 1);

	return share == 0 ? 1 : share < GRANT_MAX ? share : GRANT_MAX;
}

/* Promises up to max free slots to c's peer and tells it (also none). */
static clcp_u32 grant(struct mcp *m, clcp_u32 i, struct mcp_chan *c, clcp_u32 max)
{
	struct mcp_endpt *e = &m->ep[i];
	clcp_u32 n = slots_free(m, e, max);

	e->promised += n;
	c->granted = (clcp_u16)(c->granted + n);
	wr32(&m->sh->stats.grants, rd32(&m->sh->stats.grants) + n);
	tx_ctrl(m, c->peer_node, c->peer_port, c->my_port, MCP_CTRL_GRANT, n);
	return n;
}

/*
 * The peer asks for credits. None free and a frame waits: remember it,
 * have the user's posting ring us (rx_waiters) and wake an armed
 * receiver so that it drains its queue (tx_blocked), as loopback does.
 */
static void ctrl_ask(struct mcp *m, clcp_u32 i, struct mcp_chan *c, clcp_u32 waiting)
{
	struct mcp_endpt *e = &m->ep[i];

	if (grant(m, i, c, waiting ? grant_max(e) : 1) || !waiting)
		return;
	if (!c->want)
		e->wants++;
	c->want = 1;
	e->waiters = 1;
	put_head(m, e, CLCP_OFFSETOF(struct clcp_endpt_hdr, rx_waiters), 1);
	put_head(m, e, CLCP_OFFSETOF(struct clcp_endpt_hdr, tx_blocked), 1);
	rx_interrupt(m, i);
}

/* Grants to waiting peers once the user posted Rx buffers again. */
static int serve_wants(struct mcp *m, clcp_u32 i)
{
	struct mcp_endpt *e = &m->ep[i];
	clcp_u32 ch;
	int work = 0;

	if (!e->enabled)
		return 0;
	if (!e->wants) { /* the last waiter may have gone with its channel */
		if (e->waiters)
			put_head(m, e, CLCP_OFFSETOF(struct clcp_endpt_hdr, rx_waiters), 0);
		e->waiters = 0;
		return 0;
	}
	for (ch = 0; ch < e->nchan && e->wants; ch++) {
		struct mcp_chan *c = &e->chans[ch];

		if (!c->want)
			continue;
		if (!slots_free(m, e, 1))
			return work;
		grant(m, i, c, grant_max(e));
		c->want = 0;
		e->wants--;
		work = 1;
	}
	if (!e->wants) {
		put_head(m, e, CLCP_OFFSETOF(struct clcp_endpt_hdr, rx_waiters), 0);
		e->waiters = 0;
	}
	return work;
}

/* Credits back from the sender, unused: the slots are free for others. */
static void ctrl_return(struct mcp_endpt *e, struct mcp_chan *c, clcp_u32 n)
{
	n = n < c->granted ? n : c->granted;
	c->granted = (clcp_u16)(c->granted - n);
	e->promised -= n;
}

static void ctrl_grant(struct mcp *m, clcp_u32 i, struct mcp_chan *c, clcp_u32 n)
{
	c->seen = 1;
	c->asking = 0;
	c->credits = (clcp_u16)(c->credits + n);
	if (n) {
		c->ask_us = hal_clock_us(m->hw) - ASK_RETRY_US; /* the next ask may go at once */
		c->used_us = hal_clock_us(m->hw);
	}
	rx_interrupt(m, i); /* a sender sleeping for credits looks again */
}

/*
 * A hello names the peer channel's activation: the first one is kept.
 * Another is a new channel on the peer's port (its process started anew):
 * ours fails (a reset), and the newcomer's hellos and asks are refused, so
 * it waits for a channel allocated anew here. True: refuse this one.
 */
static int replaced(struct mcp *m, clcp_u32 ep, clcp_u32 ch, struct mcp_chan *c, clcp_u32 op,
		    clcp_u32 arg)
{
	if (op == MCP_CTRL_HELLO && arg && !c->peer_act)
		c->peer_act = arg;
	if (op == MCP_CTRL_HELLO && arg && arg != c->peer_act && !c->refusing) {
		c->refusing = 1;
		chan_reset(m, ep, ch);
		inc32(&m->sh->stats.replaced);
	}
	return c->refusing && (op == MCP_CTRL_HELLO || op == MCP_CTRL_ASK);
}

/* A peer's NIC reports on one of our channels: remember it for the user side. */
static void rx_ctrl(struct mcp *m, const struct clcp_frame_hdr *f)
{
	struct mcp_chan *c;
	clcp_u32 ep, ch, op = hal_be32(f->ack), arg = hal_be32(f->seq);

	inc32(&m->sh->stats.ctrl_rx);
	c = rx_chan(m, f, &ep);
	if (!c) {
		if (op == MCP_CTRL_ASK) /* nobody here for it: the asker waits or gives up */
			tx_ctrl(m, hal_be32(f->src_node), hal_be16(f->src_port),
				hal_be16(f->dst_port), MCP_CTRL_REFUSED, 0);
		return;
	}
	ch = (clcp_u32)(c - m->ep[ep].chans);
	if (replaced(m, ep, ch, c, op, arg)) {
		tx_ctrl(m, hal_be32(f->src_node), hal_be16(f->src_port), hal_be16(f->dst_port),
			MCP_CTRL_REFUSED, 0);
		return;
	}
	switch (op) {
	case MCP_CTRL_REFUSED:
		if (c->credit)
			c->asking = 0; /* not bound yet: ask again later */
		else
			chan_fail(m, ep, ch, MCP_ECONNREFUSED);
		break;
	case MCP_CTRL_RESET:
		chan_reset(m, ep, ch);
		break;
	case MCP_CTRL_HELLO:
		if (!c->seen && c->credit) /* answered once: both ends know */
			tx_ctrl(m, c->peer_node, c->peer_port, c->my_port, MCP_CTRL_HELLO, c->act);
		c->seen = 1;
		break;
	case MCP_CTRL_ASK:
		c->seen = 1;
		ctrl_ask(m, ep, c, arg);
		break;
	case MCP_CTRL_GRANT:
		ctrl_grant(m, ep, c, arg);
		break;
	case MCP_CTRL_RETURN:
		ctrl_return(&m->ep[ep], c, arg);
		break;
	}
	chan_pub(m, ep, ch);
	if (op == MCP_CTRL_REFUSED || op == MCP_CTRL_RESET)
		mcp_log(m, MCP_LOG_CTRL, ep, op, hal_be16(f->dst_port));
}

/*
 * A drop the endpoint should know about: hdr->rx_drops += 1 (a 64-bit
 * little-endian counter in host memory, read and written by DMA; only the
 * NIC writes it).
 */
static void count_endpt_drop(struct mcp *m, clcp_u32 i)
{
	clcp_u32 *w = hal_sram(m->hw, SCRATCH_WORD + 8);
	clcp_u64 at = m->ep[i].host + CLCP_OFFSETOF(struct clcp_endpt_hdr, rx_drops);
	clcp_u32 lo;

	hal_dma_from_host(m->hw, SCRATCH_WORD + 8, at, 8);
	lo = hal_le32(w[0]) + 1;
	if (lo == 0)
		w[1] = hal_le32(hal_le32(w[1]) + 1);
	w[0] = hal_le32(lo);
	hal_dma_to_host(m->hw, at, SCRATCH_WORD + 8, 8);
}

/*
 * A whole frame longer than the endpoint's mtu: the two ends' mtus differ,
 * and every such frame would be lost. The channel resets at both ends (as
 * on udp; loopback's sender finds it out itself: -EMSGSIZE).
 */
static void mtu_mismatch(struct mcp *m, clcp_u32 ep, struct mcp_chan *c)
{
	clcp_u32 ch = (clcp_u32)(c - m->ep[ep].chans);

	chan_reset(m, ep, ch);
	tx_ctrl(m, c->peer_node, c->peer_port, c->my_port, MCP_CTRL_RESET, 0);
}

/* Validates an arrived packet; 1 to keep it, 0 if dropped (and counted). */
static int rx_check(struct mcp *m, clcp_u32 len, int status)
{
	const clcp_u8 *p = hal_sram(m->hw, RX_PKT_OFF);
	const struct clcp_frame_hdr *f = rx_hdr(m);
	struct mcp_stats *st = &m->sh->stats;
	struct mcp_chan *c;
	clcp_u32 ep, type;

	if (status != HAL_RX_OK) {
		mcp_drop(m, status == HAL_RX_BAD_CRC ? &st->drop_crc : &st->drop_len,
			 status == HAL_RX_BAD_CRC ? MCP_DROP_CRC : MCP_DROP_LEN, len);
		return 0;
	}
	type = len >= 2 ? (clcp_u32)p[0] << 8 | p[1] : 0;
	if (len < MCP_PKT_HDR || (type != MCP_PTYPE_CLCP && type != MCP_PTYPE_CTRL) ||
	    f->version != CLCP_FRAME_VERSION) {
		mcp_drop(m, &st->drop_len, MCP_DROP_TYPE, len);
		return 0;
	}
	if (type == MCP_PTYPE_CTRL) {
		rx_ctrl(m, f);
		return 0;
	}
	c = rx_chan(m, f, &ep);
	if (!c) {
		mcp_drop(m, &st->drop_port, MCP_DROP_PORT, hal_be16(f->dst_port));
		tx_ctrl(m, hal_be32(f->src_node), hal_be16(f->src_port), hal_be16(f->dst_port),
			MCP_CTRL_REFUSED, 0);
		return 0;
	}
	if (hal_be32(f->len) != len - MCP_PKT_HDR || hal_be32(f->len) > m->ep[ep].mtu) {
		mcp_drop(m, &st->drop_len, MCP_DROP_LEN, len);
		count_endpt_drop(m, ep);
		if (hal_be32(f->len) == len - MCP_PKT_HDR)
			mtu_mismatch(m, ep, c);
		return 0;
	}
	return 1;
}

/* Fills the Rx entry in scratch from the frame; the payload inline if small. */
static void rx_fill_entry(struct mcp *m, struct clcp_qentry *q, const struct clcp_frame_hdr *f,
			  clcp_u32 chan)
{
	clcp_u32 len = hal_be32(f->len);
	clcp_u8 flags = (clcp_u8)(((f->flags & CLCP_FF_LAST) ? CLCP_QF_LAST : 0) |
				  ((f->flags & CLCP_FF_FIRST) ? CLCP_QF_FIRST : 0));

	if (len <= CLCP_QE_INLINE_MAX) {
		copy_bytes(q->data, (const clcp_u8 *)(f + 1), len);
		flags |= CLCP_QF_INLINE;
	}
	q->len = hal_le32(len);
	q->msg_len = hal_le32(hal_be32(f->msg_len));
	q->seq = hal_le32(hal_be32(f->seq));
	q->chan = hal_le16((clcp_u16)chan);
	q->status = 0;
	q->flags = flags;
	q->owner = CLCP_OWNER_USER;
	(void)m;
}

/* Raises the host interrupt if endpoint i is armed (and disarms it). */
static void rx_interrupt(struct mcp *m, clcp_u32 i)
{
	struct mcp_endpt *e = &m->ep[i];
	clcp_u32 *w = hal_sram(m->hw, SCRATCH_WORD);
	clcp_u64 armed = e->host + CLCP_OFFSETOF(struct clcp_endpt_hdr, armed);

	hal_dma_from_host(m->hw, SCRATCH_WORD, armed, 4);
	if (!*w)
		return;
	*w = 0;
	hal_dma_to_host(m->hw, armed, SCRATCH_WORD, 4);
	inc32(&epage(m, i)->intr);
	inc32(&m->sh->stats.interrupts);
	hal_host_intr(m->hw);
}

static void rx_seq_check(struct mcp *m, struct mcp_chan *c, clcp_u32 seq)
{
	if (seq != c->rx_seq) {
		inc32(&m->sh->stats.seq_errors);
		mcp_log(m, MCP_LOG_SEQ, 0xffffu, c->rx_seq, seq);
	}
	c->rx_seq = seq + 1;
}

/*
 * A message goes on, its sender has no credit left and the Rx queue no
 * free slot: wake an armed receiver to drain it now, before the sender
 * has to ask (tx_blocked tells clcp_endpt_arm why).
 */
static void rx_full(struct mcp *m, clcp_u32 i)
{
	put_head(m, &m->ep[i], CLCP_OFFSETOF(struct clcp_endpt_hdr, tx_blocked), 1);
	rx_interrupt(m, i);
}

/* A credited frame took the slot promised to it. */
static void rx_credit_used(struct mcp_endpt *e, struct mcp_chan *c)
{
	c->seen = 1;
	if (!c->granted)
		return;
	c->granted--;
	e->promised--;
}

/*
 * Hands the packet in the Rx buffer to its endpoint: 1 done (or dropped),
 * 0 if the endpoint has no Rx buffer posted yet (try again later).
 */
static int rx_deliver(struct mcp *m)
{
	const struct clcp_frame_hdr *f = rx_hdr(m);
	struct clcp_qentry *q = hal_sram(m->hw, SCRATCH_ENTRY);
	const struct mcp_port_slot *s = mcp_port_find(m, hal_be16(f->dst_port));
	struct mcp_endpt *e;
	clcp_u32 len = hal_be32(f->len), off;
	clcp_u64 at;

	if (!s) { /* unbound while it waited */
		mcp_drop(m, &m->sh->stats.drop_port, MCP_DROP_PORT, hal_be16(f->dst_port));
		return 1;
	}
	e = &m->ep[s->ep];
	at = entry_addr(e, e->rxq_off, e->rx_head & e->rxq_mask);
	/* A4: the posted buffer, owner byte last in one DMA (the user's R4). */
	hal_dma_from_host(m->hw, SCRATCH_ENTRY, at, QE_SIZE);
	if (q->owner != CLCP_OWNER_NIC)
		return 0;
	off = hal_le32(q->buf_off);
	rx_fill_entry(m, q, f, s->chan);
	if (len > CLCP_QE_INLINE_MAX) {
		if (off > e->size || len > e->size - off)
			q->status = (clcp_s16)hal_le16((clcp_u16)-MCP_EFAULT);
		else
			hal_dma_to_host(m->hw, e->host + off, RX_PKT_OFF + MCP_PKT_HDR, len);
	}
	/* R3: payload DMA first, then the entry with its owner byte last (A3). */
	hal_dma_to_host(m->hw, at, SCRATCH_ENTRY, QE_SIZE);
	e->rx_head++;
	put_head(m, e, CLCP_OFFSETOF(struct clcp_endpt_hdr, rx_head), e->rx_head);
	put_count(m, e, CLCP_OFFSETOF(struct clcp_endpt_hdr, rx_frames), e->rx_frames);
	inc32(&m->sh->stats.rx_packets);
	rx_credit_used(e, &e->chans[s->chan]);
	rx_seq_check(m, &e->chans[s->chan], hal_be32(f->seq));
	if (f->flags & CLCP_FF_LAST)
		rx_interrupt(m, s->ep);
	else if (e->chans[s->chan].credit && !e->chans[s->chan].granted && !slots_free(m, e, 1))
		rx_full(m, s->ep);
	return 1;
}

/* A packet waits for an Rx buffer: deliver it, or drop it past the budget. */
static int rx_retry(struct mcp *m)
{
	const struct mcp_port_slot *s;

	if (rx_deliver(m)) {
		m->rx_pending = 0;
		return 1;
	}
	if (hal_clock_us(m->hw) - m->stall_since < m->stall_max_us)
		return 0;
	m->rx_pending = 0;
	mcp_drop(m, &m->sh->stats.drop_full, MCP_DROP_FULL, hal_be16(rx_hdr(m)->dst_port));
	s = mcp_port_find(m, hal_be16(rx_hdr(m)->dst_port));
	if (s)
		count_endpt_drop(m, s->ep);
	return 1;
}

static int rx_poll(struct mcp *m)
{
	clcp_u32 len;
	int status;

	if (m->rx_pending)
		return rx_retry(m);
	if (!m->rx_armed) {
		hal_recv_start(m->hw, RX_PKT_OFF, MCP_PKTBUF_SIZE - 4u);
		m->rx_armed = 1;
	}
	if (!hal_recv_done(m->hw, &len, &status))
		return 0;
	m->rx_armed = 0;
	if (!rx_check(m, len, status))
		return 1;
	if (rx_deliver(m))
		return 1;
	/* Back-pressure: the packet keeps the Rx buffer until a slot is posted. */
	m->rx_pending = 1;
	m->stall_since = hal_clock_us(m->hw);
	inc32(&m->sh->stats.rx_stalls);
	mcp_log(m, MCP_LOG_STALL, 0xffffu, 0, hal_be16(rx_hdr(m)->dst_port));
	return 0;
}

/* --- the loop --- */

void mcp_init(struct mcp *m, struct hal *hw)
{
	zero_bytes(m, sizeof(*m));
	m->hw = hw;
	m->sh = hal_sram(hw, MCP_SHARED_OFF);
	m->stall_max_us = 1000000u;
	m->acts = hal_clock_us(hw);
	zero_bytes(m->sh, sizeof(*m->sh));
	zero_bytes(hal_sram(hw, MCP_EPAGE_OFF), MCP_MAX_ENDPTS * MCP_EPAGE_SIZE);
	hal_eimr_set(hw, 0); /* polled: no LANai interrupts */
	mcp_log(m, MCP_LOG_BOOT, 0xffffu, MCP_ABI_VERSION, CLCP_ABI_VERSION);
	wr32(&m->sh->version, MCP_ABI_VERSION);
	/* RB1: everything before the magic; pairs with the driver's AB1. */
	hal_wmb();
	wr32(&m->sh->magic, MCP_MAGIC);
}

int mcp_poll(struct mcp *m)
{
	int work = cmd_poll(m);
	clcp_u32 n;

	work |= rx_poll(m);
	for (n = 0; n < MCP_MAX_ENDPTS; n++) {
		work |= tx_endpt(m, m->next_ep);
		work |= serve_wants(m, m->next_ep);
		m->next_ep = (m->next_ep + 1) & (MCP_MAX_ENDPTS - 1);
	}
	credits_idle(m, m->next_idle);
	m->next_idle = (m->next_idle + 1) & (MCP_MAX_ENDPTS - 1);
	if (m->next_idle == 0) /* once a round of the endpoints: a clock reading fewer a turn */
		host_watch(m);
	inc32(&m->sh->heartbeat);
	return work;
}

void mcp_run(struct mcp *m)
{
	for (;;)
		if (!mcp_poll(m))
			hal_idle(m->hw);
}
