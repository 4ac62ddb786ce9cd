// SPDX-License-Identifier: MIT
/*
 * Firmware unit tests on the host build: two simulated NICs (nodes 0 and
 * 1) on one crossbar switch, driven step by step from one thread. The test
 * plays the driver (commands, route table) and the user (queue entries).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clcp/endpt.h>

#include "../mcp.h"
#include "../sim/sim.h"

#define HOST_SIZE (1u << 20)
#define EP_MTU 1024u
#define QLEN 8u
#define NCHAN 8u

struct node {
	struct hal *hw;
	struct mcp m;
	uint8_t *host;
	uint32_t cmd_tail;
};

static struct node nd[2];
static struct sim_switch *sw;
static int stop_all;

static struct mcp_shared *sh(int n)
{
	return nd[n].m.sh;
}

static struct mcp_endpt_page *pg(int n, uint32_t ep)
{
	return hal_sram(nd[n].hw, MCP_EPAGE(ep));
}

static uint32_t stat_of(int n, const uint32_t *field)
{
	(void)n;
	return hal_be32(*field);
}

#define STAT(n, f) stat_of(n, &sh(n)->stats.f)

static void step(int rounds)
{
	for (int i = 0; i < rounds; i++) {
		mcp_poll(&nd[0].m);
		sim_switch_pump(sw);
		mcp_poll(&nd[1].m);
		sim_switch_pump(sw);
	}
}

/* The driver's side of one command: fill, publish, wait for DONE. */
static uint32_t pinned = 1u << 17; /* what the "driver" pinned per endpoint */

static int cmd(int n, uint32_t op, uint32_t ep, uint32_t chan, uint32_t port, uint32_t peer_node,
	       uint32_t peer_port, uint64_t host)
{
	struct mcp_cmd *c = &sh(n)->cmdq[nd[n].cmd_tail++ & (MCP_CMDQ_LEN - 1)];
	int rc;

	cr_assert_eq(c->state, MCP_CMDS_FREE);
	c->op = hal_be32(op);
	c->ep = hal_be32(ep);
	c->chan = hal_be32(chan);
	c->port = hal_be32(port);
	c->peer_node = hal_be32(peer_node);
	c->peer_port = hal_be32(peer_port);
	c->host_addr_hi = hal_be32((uint32_t)(host >> 32));
	c->host_addr_lo = hal_be32((uint32_t)host);
	c->size = hal_be32(pinned);
	__atomic_store_n(&c->state, MCP_CMDS_READY, __ATOMIC_RELEASE);
	for (int i = 0; i < 10 && __atomic_load_n(&c->state, __ATOMIC_ACQUIRE) != MCP_CMDS_DONE;
	     i++)
		mcp_poll(&nd[n].m);
	cr_assert_eq(c->state, MCP_CMDS_DONE, "command %u not done", op);
	rc = (int16_t)hal_be16((uint16_t)c->result);
	c->state = MCP_CMDS_FREE;
	return rc;
}

/* Endpoint ep of node n at host offset ep * 128 KiB: the ABI layout. */
static uint64_t ep_host(uint32_t ep)
{
	return (uint64_t)ep << 17;
}

static struct clcp_endpt_hdr *ep_hdr(int n, uint32_t ep)
{
	return (struct clcp_endpt_hdr *)(nd[n].host + ep_host(ep));
}

static void ep_layout(int n, uint32_t ep)
{
	struct clcp_endpt_hdr *h = ep_hdr(n, ep);
	uint32_t off = sizeof(*h);

	memset(h, 0, 1u << 17);
	h->magic = CLCP_ENDPT_MAGIC;
	h->abi_version = CLCP_ABI_VERSION;
	h->hdr_size = sizeof(*h);
	h->mtu = EP_MTU;
	h->node = (uint32_t)n;
	h->index = ep;
	h->chan_off = off;
	h->nchan = NCHAN;
	off += NCHAN * sizeof(struct clcp_chan_desc);
	h->txq_off = off;
	h->txq_len = QLEN;
	off += QLEN * sizeof(struct clcp_qentry);
	h->rxq_off = off;
	h->rxq_len = QLEN;
	off += QLEN * sizeof(struct clcp_qentry);
	h->txbuf_off = off;
	h->ntxbuf = QLEN;
	off += QLEN * EP_MTU;
	h->rxbuf_off = off;
	h->nrxbuf = QLEN;
	off += QLEN * EP_MTU;
	h->size = off;
}

static struct clcp_qentry *txq(int n, uint32_t ep, uint32_t i)
{
	struct clcp_endpt_hdr *h = ep_hdr(n, ep);

	return (struct clcp_qentry *)((uint8_t *)h + h->txq_off) + (i % QLEN);
}

static struct clcp_qentry *rxq(int n, uint32_t ep, uint32_t i)
{
	struct clcp_endpt_hdr *h = ep_hdr(n, ep);

	return (struct clcp_qentry *)((uint8_t *)h + h->rxq_off) + (i % QLEN);
}

static uint8_t *ep_at(int n, uint32_t ep, uint32_t off)
{
	return (uint8_t *)ep_hdr(n, ep) + off;
}

/* The user posts Rx buffer i of endpoint ep into Rx slot i. */
static void post_rx(int n, uint32_t ep, uint32_t i)
{
	struct clcp_qentry *e = rxq(n, ep, i);

	e->buf_off = ep_hdr(n, ep)->rxbuf_off + (i % QLEN) * EP_MTU;
	__atomic_store_n(&e->owner, CLCP_OWNER_NIC, __ATOMIC_RELEASE);
}

/* The user posts a frame of len bytes (pattern seed) in Tx slot i, rings. */
static void post_tx(int n, uint32_t ep, uint32_t i, uint16_t chan, uint32_t len, uint8_t flags)
{
	struct clcp_qentry *e = txq(n, ep, i);
	uint32_t off = ep_hdr(n, ep)->txbuf_off + (i % QLEN) * EP_MTU;
	uint32_t *db = &pg(n, ep)->doorbell;

	for (uint32_t k = 0; k < len; k++)
		ep_at(n, ep, off)[k] = (uint8_t)(k * 7 + i);
	e->buf_off = off;
	e->len = len;
	e->msg_len = len;
	e->chan = chan;
	e->flags = flags;
	__atomic_store_n(&e->owner, CLCP_OWNER_NIC, __ATOMIC_RELEASE);
	*db = hal_be32(hal_be32(*db) + 1);
}

static void set_route(int n, uint32_t node, const uint8_t *bytes, uint8_t len)
{
	struct mcp_route *r = &sh(n)->routes[node];

	memset(r, 0, sizeof(*r));
	memcpy(r->bytes, bytes, len);
	r->len = len;
	r->valid = 1;
}

/* Node n's NIC boots: its state, the routes. */
static void node_boot(int n)
{
	mcp_init(&nd[n].m, nd[n].hw);
	nd[n].cmd_tail = 0;
	for (uint8_t k = 0; k < 2; k++)
		set_route(n, k, &k, 1);
	cr_assert_eq(cmd(n, MCP_CMD_LOAD_ROUTES, 0, 2, 0, (uint32_t)n, 0, 0), 0);
}

/* Node n on switch port n; the route to node k is the one byte k. */
static void setup(void)
{
	sw = sim_switch_create(4);
	cr_assert_not_null(sw);
	for (int n = 0; n < 2; n++) {
		nd[n].host = calloc(1, HOST_SIZE);
		nd[n].hw = hal_sim_create(nd[n].host, HOST_SIZE);
		cr_assert_not_null(nd[n].hw);
		hal_sim_attach(nd[n].hw, sim_switch_port_fd(sw, (unsigned)n));
		node_boot(n);
	}
}

static void teardown(void)
{
	for (int n = 0; n < 2; n++) {
		hal_sim_destroy(nd[n].hw);
		free(nd[n].host);
	}
	sim_switch_destroy(sw);
}

TestSuite(firmware, .init = setup, .fini = teardown, .timeout = 30);

/* Endpoint 0 on both nodes, channel 0: node0 port 100 <-> node1 port 200. */
static void open_pair(void)
{
	for (int n = 0; n < 2; n++) {
		ep_layout(n, 0);
		cr_assert_eq(cmd(n, MCP_CMD_CREATE_ENDPT, 0, 0, 0, 0, 0, ep_host(0)), 0);
	}
	cr_assert_eq(cmd(0, MCP_CMD_ACTIVATE_CHAN, 0, 0, 100, 1, 200, 0), 0);
	cr_assert_eq(cmd(1, MCP_CMD_ACTIVATE_CHAN, 0, 0, 200, 0, 100, 0), 0);
}

static void check_payload(int n, uint32_t ep, const struct clcp_qentry *e, uint32_t len,
			  uint32_t seed)
{
	const uint8_t *p = (e->flags & CLCP_QF_INLINE) ? e->data : ep_at(n, ep, e->buf_off);

	for (uint32_t k = 0; k < len; k++)
		cr_assert_eq(p[k], (uint8_t)(k * 7 + seed), "byte %u", k);
}

Test(firmware, boot_publishes_magic_and_log)
{
	cr_assert_eq(hal_be32(sh(0)->magic), MCP_MAGIC);
	cr_assert_eq(hal_be32(sh(0)->version), MCP_ABI_VERSION);
	cr_assert_geq(hal_be32(sh(0)->log_head), 2); /* boot + the route load */
	cr_assert_eq(hal_be16(sh(0)->log[0].code), MCP_LOG_BOOT);
	cr_assert_eq(hal_be16(sh(0)->log[1].code), MCP_LOG_CMD);
	cr_assert_eq(hal_be32(sh(1)->node), 1);
}

Test(firmware, command_queue)
{
	uint32_t head = hal_be32(sh(0)->cmd_head);

	cr_assert_eq(cmd(0, MCP_CMD_NOP, 0, 0, 0, 0, 0, 0), 0);
	cr_assert_eq(cmd(0, 99, 0, 0, 0, 0, 0, 0), -MCP_EINVAL);
	cr_assert_eq(cmd(0, MCP_CMD_DESTROY_ENDPT, 3, 0, 0, 0, 0, 0), -MCP_ENOENT);
	cr_assert_eq(cmd(0, MCP_CMD_CREATE_ENDPT, MCP_MAX_ENDPTS, 0, 0, 0, 0, 0), -MCP_EINVAL);
	ep_layout(0, 1);
	ep_hdr(0, 1)->magic = 0;
	cr_assert_eq(cmd(0, MCP_CMD_CREATE_ENDPT, 1, 0, 0, 0, 0, ep_host(1)), -MCP_EPROTO);
	ep_layout(0, 1);
	ep_hdr(0, 1)->txq_len = 6;
	cr_assert_eq(cmd(0, MCP_CMD_CREATE_ENDPT, 1, 0, 0, 0, 0, ep_host(1)), -MCP_EINVAL);
	ep_layout(0, 1);
	ep_hdr(0, 1)->rxq_off = ep_hdr(0, 1)->size - 64; /* a queue past the end */
	cr_assert_eq(cmd(0, MCP_CMD_CREATE_ENDPT, 1, 0, 0, 0, 0, ep_host(1)), -MCP_EINVAL);
	ep_layout(0, 1);
	pinned = ep_hdr(0, 1)->size - 1; /* a header claiming more than was pinned */
	cr_assert_eq(cmd(0, MCP_CMD_CREATE_ENDPT, 1, 0, 0, 0, 0, ep_host(1)), -MCP_EINVAL);
	pinned = 1u << 17;
	cr_assert_eq(cmd(0, MCP_CMD_CREATE_ENDPT, 1, 0, 0, 0, 0, ep_host(1)), 0);
	cr_assert_eq(hal_be32(pg(0, 1)->enabled), 1);
	cr_assert_eq(cmd(0, MCP_CMD_CREATE_ENDPT, 1, 0, 0, 0, 0, ep_host(1)), -MCP_EBUSY);
	cr_assert_eq(cmd(0, MCP_CMD_DESTROY_ENDPT, 1, 0, 0, 0, 0, 0), 0);
	cr_assert_eq(hal_be32(pg(0, 1)->enabled), 0);
	/* More commands than the ring holds: it wraps. */
	for (int i = 0; i < 2 * (int)MCP_CMDQ_LEN; i++)
		cr_assert_eq(cmd(0, MCP_CMD_NOP, 0, 0, 0, 0, 0, 0), 0);
	cr_assert_eq(hal_be32(sh(0)->cmd_head), head + 11 + 2 * MCP_CMDQ_LEN);
	cr_assert_eq(STAT(0, commands), hal_be32(sh(0)->cmd_head));
}

Test(firmware, port_map)
{
	const struct mcp_port_slot *s;
	struct mcp *m = &nd[0].m;

	cr_assert_eq(mcp_port_bind(m, 0, 0, 0), -MCP_EINVAL);
	for (uint32_t p = 1; p <= 600; p++)
		cr_assert_eq(mcp_port_bind(m, (uint16_t)(p * 97), p % 16, p % 64), 0, "port %u", p);
	cr_assert_eq(mcp_port_bind(m, 97, 1, 1), -MCP_EADDRINUSE);
	for (uint32_t p = 1; p <= 600; p++) {
		s = mcp_port_find(m, (uint16_t)(p * 97));
		cr_assert_not_null(s);
		cr_assert_eq(s->ep, p % 16);
		cr_assert_eq(s->chan, p % 64);
	}
	for (uint32_t p = 1; p <= 600; p += 2)
		mcp_port_unbind(m, (uint16_t)(p * 97));
	for (uint32_t p = 1; p <= 600; p++)
		cr_assert_eq(mcp_port_find(m, (uint16_t)(p * 97)) != NULL, p % 2 == 0);
	cr_assert_eq(mcp_port_bind(m, 97, 2, 3), 0); /* a tombstone is reused */
	cr_assert_eq(mcp_port_find(m, 97)->chan, 3);
	cr_assert_null(mcp_port_find(m, 1));
	/* Through the commands: a port is bound once per node. */
	ep_layout(0, 0);
	cr_assert_eq(cmd(0, MCP_CMD_CREATE_ENDPT, 0, 0, 0, 0, 0, ep_host(0)), 0);
	cr_assert_eq(cmd(0, MCP_CMD_ACTIVATE_CHAN, 0, 1, 5, 1, 6, 0), 0);
	cr_assert_eq(cmd(0, MCP_CMD_ACTIVATE_CHAN, 0, 2, 5, 1, 6, 0), -MCP_EADDRINUSE);
	cr_assert_eq(cmd(0, MCP_CMD_ACTIVATE_CHAN, 0, NCHAN, 7, 1, 6, 0), -MCP_EINVAL);
	cr_assert_eq(cmd(0, MCP_CMD_DEACTIVATE_CHAN, 0, 1, 0, 0, 0, 0), 0);
	cr_assert_null(mcp_port_find(m, 5));
	cr_assert_eq(cmd(0, MCP_CMD_DEACTIVATE_CHAN, 0, 1, 0, 0, 0, 0), -MCP_ENOENT);
	cr_assert_eq(cmd(0, MCP_CMD_ACTIVATE_CHAN, 0, 2, 5, 1, 6, 0), 0);
	cr_assert_eq(cmd(0, MCP_CMD_DESTROY_ENDPT, 0, 0, 0, 0, 0, 0), 0);
	cr_assert_null(mcp_port_find(m, 5), "destroy unbinds every port");
}

Test(firmware, frame_owner_flags_and_payload)
{
	open_pair();
	for (uint32_t i = 0; i < QLEN; i++)
		post_rx(1, 0, i);
	post_tx(0, 0, 0, 0, 700, CLCP_QF_FIRST);
	post_tx(0, 0, 1, 0, 20, CLCP_QF_LAST);
	step(4);
	for (uint32_t i = 0; i < 2; i++) {
		cr_assert_eq(txq(0, 0, i)->owner, CLCP_OWNER_FREE, "Tx entry %u handed back", i);
		cr_assert_eq(txq(0, 0, i)->status, 0);
	}
	struct clcp_qentry *a = rxq(1, 0, 0), *b = rxq(1, 0, 1);

	cr_assert_eq(a->owner, CLCP_OWNER_USER);
	cr_assert_eq(a->len, 700);
	cr_assert_eq(a->flags, CLCP_QF_FIRST);
	cr_assert_eq(a->seq, 0);
	check_payload(1, 0, a, 700, 0);
	cr_assert_eq(b->owner, CLCP_OWNER_USER);
	cr_assert_eq(b->len, 20);
	cr_assert_eq(b->flags, CLCP_QF_LAST | CLCP_QF_INLINE);
	cr_assert_eq(b->seq, 1);
	check_payload(1, 0, b, 20, 1);
	cr_assert_eq(rxq(1, 0, 2)->owner, CLCP_OWNER_NIC, "nothing more");
	cr_assert_eq(STAT(0, tx_packets), 2);
	cr_assert_eq(STAT(1, rx_packets), 2);
	cr_assert_eq(STAT(1, seq_errors), 0);
	cr_assert_eq(hal_sim_intr_count(nd[1].hw), 0, "not armed: no interrupt");
}

Test(firmware, interrupt_only_for_last_frame_of_armed_endpoint)
{
	open_pair();
	for (uint32_t i = 0; i < QLEN; i++)
		post_rx(1, 0, i);
	ep_hdr(1, 0)->armed = 1;
	post_tx(0, 0, 0, 0, 64, CLCP_QF_FIRST);
	step(3);
	cr_assert_eq(hal_sim_intr_count(nd[1].hw), 0, "not the last frame");
	post_tx(0, 0, 1, 0, 64, CLCP_QF_LAST);
	step(3);
	cr_assert_eq(hal_sim_intr_count(nd[1].hw), 1);
	cr_assert_eq(hal_be32(pg(1, 0)->intr), 1);
	cr_assert_eq(ep_hdr(1, 0)->armed, 0, "the interrupt disarms");
	post_tx(0, 0, 2, 0, 64, CLCP_QF_LAST);
	step(3);
	cr_assert_eq(hal_sim_intr_count(nd[1].hw), 1, "disarmed: no second interrupt");
}

Test(firmware, route_table)
{
	open_pair();
	sh(0)->routes[1].valid = 0;
	cr_assert_eq(cmd(0, MCP_CMD_LOAD_ROUTES, 0, 2, 0, 0, 0, 0), 0);
	post_tx(0, 0, 0, 0, 16, CLCP_QF_LAST);
	step(2);
	cr_assert_eq(txq(0, 0, 0)->owner, CLCP_OWNER_FREE);
	cr_assert_eq(txq(0, 0, 0)->status, -MCP_EHOSTUNREACH);
	cr_assert_eq(STAT(0, tx_errors), 1);
	/* Two hops: port 3 of our switch is cabled to port 0 of a second one,
	 * whose port 1 goes back to our port 2, whose... node 1 is on port 1. */
	struct sim_switch *sw2 = sim_switch_create(2);

	cr_assert_eq(sim_switch_link(sw, 3, sw2, 0), 0);
	cr_assert_eq(sim_switch_link(sw2, 1, sw, 2), 0);
	uint8_t via[3] = { 3, 1, 1 };

	set_route(0, 1, via, 3);
	cr_assert_eq(cmd(0, MCP_CMD_LOAD_ROUTES, 0, 2, 0, 0, 0, 0), 0);
	for (uint32_t i = 0; i < QLEN; i++)
		post_rx(1, 0, i);
	post_tx(0, 0, 1, 0, 16, CLCP_QF_LAST);
	for (int i = 0; i < 4; i++) {
		step(1);
		sim_switch_pump(sw2);
	}
	cr_assert_eq(rxq(1, 0, 0)->owner, CLCP_OWNER_USER, "arrived over three hops");
	check_payload(1, 0, rxq(1, 0, 0), 16, 1);
	/* A route byte naming no port: the switch drops it. */
	uint8_t bad = 9;

	set_route(0, 1, &bad, 1);
	cr_assert_eq(cmd(0, MCP_CMD_LOAD_ROUTES, 0, 2, 0, 0, 0, 0), 0);
	post_tx(0, 0, 2, 0, 16, CLCP_QF_LAST);
	step(3);
	cr_assert_eq(sim_switch_drops(sw), 1);
	cr_assert_eq(STAT(1, rx_packets), 1);
	/* Too long a route is refused. */
	sh(0)->routes[1].len = MCP_ROUTE_MAX + 1;
	cr_assert_eq(cmd(0, MCP_CMD_LOAD_ROUTES, 0, 2, 0, 0, 0, 0), -MCP_EINVAL);
	sim_switch_destroy(sw2);
}

Test(firmware, full_rx_queue_waits_then_delivers)
{
	open_pair();
	post_tx(0, 0, 0, 0, 100, CLCP_QF_LAST);
	post_tx(0, 0, 1, 0, 100, CLCP_QF_LAST);
	step(5);
	cr_assert_eq(STAT(1, rx_stalls), 1, "no Rx buffer: the packet waits");
	cr_assert_eq(STAT(1, rx_packets), 0);
	post_rx(1, 0, 0);
	step(3);
	cr_assert_eq(STAT(1, rx_packets), 1);
	cr_assert_eq(rxq(1, 0, 0)->owner, CLCP_OWNER_USER);
	cr_assert_eq(STAT(1, rx_stalls), 2, "the second waits too");
	post_rx(1, 0, 1);
	step(3);
	cr_assert_eq(STAT(1, rx_packets), 2);
	check_payload(1, 0, rxq(1, 0, 1), 100, 1);
	/* Past the stall budget a packet is dropped and counted. */
	nd[1].m.stall_max_us = 0;
	post_tx(0, 0, 2, 0, 100, CLCP_QF_LAST);
	step(3);
	cr_assert_eq(STAT(1, drop_full), 1);
	cr_assert_eq(STAT(1, drop_full) + STAT(1, rx_packets), 3);
	cr_assert_eq(ep_hdr(1, 0)->rx_drops, 1, "the endpoint counts it too");
}

Test(firmware, unknown_port_dropped_and_counted)
{
	open_pair();
	post_rx(1, 0, 0);
	cr_assert_eq(cmd(0, MCP_CMD_ACTIVATE_CHAN, 0, 1, 101, 1, 999, 0), 0);
	post_tx(0, 0, 0, 1, 16, CLCP_QF_LAST);
	step(3);
	cr_assert_eq(STAT(1, drop_port), 1);
	cr_assert_eq(STAT(1, rx_packets), 0);
	cr_assert_eq(rxq(1, 0, 0)->owner, CLCP_OWNER_NIC);
	uint32_t head = hal_be32(sh(1)->log_head) - 2;
	const struct mcp_log_entry *l = &sh(1)->log[head % MCP_LOG_LEN];

	cr_assert_eq(hal_be16(l->code), MCP_LOG_DROP);
	cr_assert_eq(hal_be32(l->a), MCP_DROP_PORT);
	cr_assert_eq(hal_be32(l->b), 999);
	l = &sh(1)->log[(head + 1) % MCP_LOG_LEN];
	cr_assert_eq(hal_be16(l->code), MCP_LOG_CTRL, "and refused back to the sender");
	/* The sender's NIC marks the channel; its next frame comes back refused. */
	cr_assert_eq(STAT(0, ctrl_rx), 1);
	cr_assert_eq(pg(0, 0)->chan_err[1], MCP_ECONNREFUSED);
	cr_assert_eq(pg(0, 0)->chan_err[0], 0, "other channels are fine");
	post_tx(0, 0, 1, 1, 16, CLCP_QF_LAST);
	step(2);
	cr_assert_eq(txq(0, 0, 1)->status, -MCP_ECONNREFUSED);
	cr_assert_eq(STAT(1, drop_port), 1, "not sent again");
}

Test(firmware, released_channel_resets_its_peer)
{
	open_pair();
	post_rx(0, 0, 0);
	cr_assert_eq(cmd(1, MCP_CMD_DEACTIVATE_CHAN, 0, 0, 0, 0, 0, 0), 0);
	step(2);
	cr_assert_eq(STAT(1, ctrl_tx), 1);
	cr_assert_eq(pg(0, 0)->chan_err[0], MCP_ECONNRESET);
	post_tx(0, 0, 0, 0, 16, CLCP_QF_LAST);
	step(2);
	cr_assert_eq(txq(0, 0, 0)->status, -MCP_ECONNRESET);
	/* Bound again (node 0 first: its reset finds no channel at node 1 and is
	 * ignored), the errors are gone and frames flow. */
	cr_assert_eq(cmd(0, MCP_CMD_DEACTIVATE_CHAN, 0, 0, 0, 0, 0, 0), 0);
	cr_assert_eq(cmd(0, MCP_CMD_ACTIVATE_CHAN, 0, 0, 100, 1, 200, 0), 0);
	step(2);
	cr_assert_eq(cmd(1, MCP_CMD_ACTIVATE_CHAN, 0, 0, 200, 0, 100, 0), 0);
	step(2);
	cr_assert_eq(pg(1, 0)->chan_err[0], 0);
	cr_assert_eq(pg(0, 0)->chan_err[0], 0);
	for (uint32_t i = 0; i < QLEN; i++)
		post_rx(1, 0, i);
	post_tx(0, 0, 1, 0, 16, CLCP_QF_LAST);
	step(3);
	cr_assert_eq(txq(0, 0, 1)->status, 0);
	cr_assert_eq(rxq(1, 0, 0)->owner, CLCP_OWNER_USER);
	/* Destroying an endpoint resets the peers of all its channels. */
	cr_assert_eq(cmd(1, MCP_CMD_DESTROY_ENDPT, 0, 0, 0, 0, 0, 0), 0);
	step(2);
	cr_assert_eq(pg(0, 0)->chan_err[0], MCP_ECONNRESET);
}

static uint32_t chan_tx(int n, uint32_t ep, uint32_t chan)
{
	return hal_be32(pg(n, ep)->chan_tx[chan]);
}

/* open_pair with credit flow control, the hellos exchanged. */
static void open_credit_pair(void)
{
	for (int n = 0; n < 2; n++) {
		ep_layout(n, 0);
		cr_assert_eq(cmd(n, MCP_CMD_CREATE_ENDPT, 0, 0, 0, 0, 0, ep_host(0)), 0);
	}
	cr_assert_eq(cmd(0, MCP_CMD_ACTIVATE_CHAN, 0, 0, 100, 1, 200, MCP_CHANF_CREDIT), 0);
	cr_assert_eq(cmd(1, MCP_CMD_ACTIVATE_CHAN, 0, 0, 200, 0, 100, MCP_CHANF_CREDIT), 0);
	step(3);
}

/* Credit channels: a frame leaves only for a posted slot promised to it. */
Test(firmware, credit_channel_waits_for_a_posted_slot)
{
	open_credit_pair();
	cr_assert(chan_tx(0, 0, 0) & MCP_CHT_SEEN, "the hellos met");
	cr_assert(chan_tx(1, 0, 0) & MCP_CHT_SEEN);
	post_tx(0, 0, 0, 0, 100, CLCP_QF_LAST);
	step(4);
	cr_assert_eq(STAT(1, rx_packets), 0, "no slot posted: nothing sent");
	cr_assert_eq(STAT(1, rx_stalls), 0);
	cr_assert_eq(txq(0, 0, 0)->owner, CLCP_OWNER_NIC, "the entry waits at the head");
	cr_assert_geq(STAT(0, credit_stalls), 1);
	cr_assert_eq(ep_hdr(1, 0)->rx_waiters, 1, "the receiver's posting must ring its NIC");
	post_rx(1, 0, 0);
	post_rx(1, 0, 1);
	step(4);
	cr_assert_eq(rxq(1, 0, 0)->owner, CLCP_OWNER_USER, "granted, then delivered");
	check_payload(1, 0, rxq(1, 0, 0), 100, 0);
	cr_assert_eq(txq(0, 0, 0)->owner, CLCP_OWNER_FREE);
	cr_assert_eq(txq(0, 0, 0)->status, 0);
	cr_assert_eq(ep_hdr(1, 0)->rx_waiters, 0, "nobody waits any more");
	cr_assert_eq(chan_tx(0, 0, 0) & MCP_CHT_CREDITS, 1, "two granted, one used");
	cr_assert_eq(nd[1].m.ep[0].promised, 1);
	/* Unused past CREDIT_IDLE_US, the credit goes back: the slot is free again. */
	usleep(6000);
	step(MCP_MAX_ENDPTS + 2);
	cr_assert_eq(chan_tx(0, 0, 0) & MCP_CHT_CREDITS, 0);
	cr_assert_eq(nd[1].m.ep[0].promised, 0);
	cr_assert_eq(STAT(1, drop_full) + STAT(1, rx_stalls), 0, "nothing ever waited or dropped");
}

/* Node n's NIC boots anew (its process died with it): the board, routes, endpoint 0. */
static void reboot(int n)
{
	node_boot(n);
	memset(ep_hdr(n, 0), 0, 1u << 17);
	ep_layout(n, 0);
	cr_assert_eq(cmd(n, MCP_CMD_CREATE_ENDPT, 0, 0, 0, 0, 0, ep_host(0)), 0);
}

/*
 * A new activation on the peer's port (its NIC and process started anew)
 * hails a channel that knows the old one: that channel fails with a reset,
 * and the newcomer is refused (it waits) until a channel is activated anew
 * here; then frames flow. The duplicate hello of a normal exchange (the
 * answer to an answer) resets nothing.
 */
Test(firmware, hello_of_a_new_activation_resets_the_old_channel)
{
	open_credit_pair();
	cr_assert(chan_tx(0, 0, 0) & MCP_CHT_SEEN, "the hellos met");
	cr_assert_eq(pg(0, 0)->chan_err[0], 0, "the answer's answer resets nothing");
	reboot(1);
	cr_assert_eq(cmd(1, MCP_CMD_ACTIVATE_CHAN, 0, 0, 200, 0, 100, MCP_CHANF_CREDIT), 0);
	step(3);
	cr_assert_eq(pg(0, 0)->chan_err[0], MCP_ECONNRESET, "the old channel fails");
	cr_assert_eq(STAT(0, replaced), 1);
	cr_assert_eq(pg(1, 0)->chan_err[0], 0, "the newcomer waits");
	post_rx(0, 0, 0);
	post_tx(1, 0, 0, 0, 16, CLCP_QF_LAST);
	step(4);
	cr_assert_eq(rxq(0, 0, 0)->owner, CLCP_OWNER_NIC, "no frame into the old channel");
	cr_assert_eq(txq(1, 0, 0)->owner, CLCP_OWNER_NIC, "refused: the frame waits");
	cr_assert_eq(cmd(0, MCP_CMD_DEACTIVATE_CHAN, 0, 0, 0, 0, 0, 0), 0);
	cr_assert_eq(cmd(0, MCP_CMD_ACTIVATE_CHAN, 0, 0, 100, 1, 200, MCP_CHANF_CREDIT), 0);
	usleep(20000); /* past the newcomer's ask retry */
	step(8);
	cr_assert_eq(pg(0, 0)->chan_err[0], 0);
	cr_assert_eq(rxq(0, 0, 0)->owner, CLCP_OWNER_USER, "the channel anew takes the frame");
	check_payload(0, 0, rxq(0, 0, 0), 16, 0);
	cr_assert_eq(STAT(0, replaced), 1);
}

/* LOAD_ROUTES mixes the host's random number into the activation count. */
Test(firmware, routes_load_mixes_the_hosts_number_into_activations)
{
	uint32_t before = nd[1].m.acts;

	cr_assert_eq(cmd(1, MCP_CMD_LOAD_ROUTES, 0, 2, 0x5eed, 1, 0, 0), 0);
	cr_assert_eq(nd[1].m.acts, before ^ 0x5eedu);
}

/* Steps node n only (the other NIC is gone) for at most ms, until chan 0 of endpoint 0 fails. */
static uint64_t step_alone_until_failed(int n, unsigned ms)
{
	struct timespec t0, t;
	uint64_t dt = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!pg(n, 0)->chan_err[0] && dt < ms) {
		mcp_poll(&nd[n].m);
		sim_switch_pump(sw);
		usleep(1000);
		clock_gettime(CLOCK_MONOTONIC, &t);
		dt = (uint64_t)(((int64_t)(t.tv_sec - t0.tv_sec) * 1000000000 + t.tv_nsec -
				 t0.tv_nsec) / 1000000);
	}
	return dt;
}

/*
 * A peer's NIC answers every ask (a grant, maybe of 0): asks unanswered
 * for 5 s mean its node is gone, and the channel fails with ECONNRESET,
 * its waiting frame handed back. A receiver that posts no slot for as
 * long still answers: that channel stays up.
 */
Test(firmware, unanswered_asks_fail_the_channel)
{
	uint64_t ms;

	open_credit_pair();
	post_tx(0, 0, 0, 0, 100, CLCP_QF_LAST); /* no slot posted: it asks, and waits */
	for (int i = 0; i < 6000 && !pg(0, 0)->chan_err[0]; i++) {
		step(1);
		usleep(1000);
	}
	cr_assert_eq(pg(0, 0)->chan_err[0], 0, "a peer that answers with no credit is not dead");
	cr_assert(chan_tx(0, 0, 0) & MCP_CHT_SEEN);
	ms = step_alone_until_failed(0, 20000);
	cr_assert_eq(pg(0, 0)->chan_err[0], MCP_ECONNRESET, "after %llu ms", (unsigned long long)ms);
	cr_assert_geq(ms, 4000, "failed after %llu ms, not after 5 s unanswered",
		      (unsigned long long)ms);
	for (int i = 0; i < 4; i++)
		mcp_poll(&nd[0].m);
	cr_assert_eq(txq(0, 0, 0)->status, -MCP_ECONNRESET, "the waiting frame comes back");
	cr_assert_eq(chan_tx(0, 0, 0) & MCP_CHT_ASKING, 0, "no ask is out any more");
}

/* Steps both nodes for ms, node 0's host beating (beat != 0) or silent. */
static void step_for(unsigned ms, bool beat)
{
	for (unsigned t = 0; t < ms; t++) {
		if (beat)
			sh(0)->host_beat = hal_be32(hal_be32(sh(0)->host_beat) + 1);
		step(1);
		usleep(1000);
	}
}

/*
 * The watch begins when the host says how long it may be silent: a board
 * booted long before is not taken for one whose host died (the first look
 * compared the beat's time with the boot's, and counted a death).
 */
Test(firmware, host_watch_begins_when_the_host_asks)
{
	usleep(60000); /* longer than the host_dead_ms below, since the boot */
	sh(0)->host_dead_ms = hal_be32(50);
	step(32); /* a few ms: no beat due yet */
	cr_assert_eq(STAT(0, host_gone), 0);
}

/*
 * A host that stops beating while its board runs (a kernel crash): past
 * host_dead_ms every channel fails there and at its peer, whose hellos are
 * refused from then on; a host that beats is left alone, and one that
 * beats again can activate channels anew. (The peer's NIC used to go on
 * granting and delivering into the dead host: its process never knew.)
 */
Test(firmware, host_that_stops_beating_fails_every_channel)
{
	open_credit_pair();
	sh(0)->host_dead_ms = hal_be32(50);
	step_for(150, true);
	cr_assert_eq(pg(1, 0)->chan_err[0], 0, "a beating host is alive");
	cr_assert_eq(STAT(0, host_gone), 0);
	step_for(100, false);
	cr_assert_eq(STAT(0, host_gone), 1);
	cr_assert_eq(pg(0, 0)->chan_err[0], MCP_ECONNRESET);
	cr_assert_eq(pg(1, 0)->chan_err[0], MCP_ECONNRESET, "the peer is told");
	cr_assert_eq(cmd(1, MCP_CMD_DEACTIVATE_CHAN, 0, 0, 0, 0, 0, 0), 0);
	cr_assert_eq(cmd(1, MCP_CMD_ACTIVATE_CHAN, 0, 0, 200, 0, 100, MCP_CHANF_CREDIT), 0);
	post_rx(0, 0, 0);
	post_tx(1, 0, 0, 0, 16, CLCP_QF_LAST);
	step_for(20, false);
	cr_assert_eq(txq(1, 0, 0)->owner, CLCP_OWNER_NIC, "refused: the frame waits");
	cr_assert_eq(rxq(0, 0, 0)->owner, CLCP_OWNER_NIC, "nothing into the dead host");
	cr_assert_eq(cmd(0, MCP_CMD_DEACTIVATE_CHAN, 0, 0, 0, 0, 0, 0), 0);
	cr_assert_eq(cmd(0, MCP_CMD_ACTIVATE_CHAN, 0, 0, 100, 1, 200, MCP_CHANF_CREDIT), 0);
	step_for(40, true);
	cr_assert_eq(pg(0, 0)->chan_err[0], 0);
	cr_assert_eq(rxq(0, 0, 0)->owner, CLCP_OWNER_USER, "the host back, frames flow");
	check_payload(0, 0, rxq(0, 0, 0), 16, 0);
	cr_assert_eq(STAT(0, host_gone), 1);
}

/*
 * The two ends' mtus differ: a frame longer than the receiver's mtu is
 * dropped and resets the channel at both ends (it used to be lost, the
 * sender none the wiser).
 */
Test(firmware, frame_over_the_receivers_mtu_resets_both_ends)
{
	for (int n = 0; n < 2; n++) {
		ep_layout(n, 0);
		if (n == 1)
			ep_hdr(1, 0)->mtu = 256;
		cr_assert_eq(cmd(n, MCP_CMD_CREATE_ENDPT, 0, 0, 0, 0, 0, ep_host(0)), 0);
	}
	cr_assert_eq(cmd(0, MCP_CMD_ACTIVATE_CHAN, 0, 0, 100, 1, 200, MCP_CHANF_CREDIT), 0);
	cr_assert_eq(cmd(1, MCP_CMD_ACTIVATE_CHAN, 0, 0, 200, 0, 100, MCP_CHANF_CREDIT), 0);
	step(3);
	post_rx(1, 0, 0);
	post_tx(0, 0, 0, 0, 500, CLCP_QF_LAST);
	step(8);
	cr_assert_geq(STAT(1, drop_len), 1, "dropped");
	cr_assert_eq(rxq(1, 0, 0)->owner, CLCP_OWNER_NIC, "nothing delivered");
	cr_assert_eq(pg(1, 0)->chan_err[0], MCP_ECONNRESET, "the receiver's channel resets");
	cr_assert_eq(pg(0, 0)->chan_err[0], MCP_ECONNRESET, "so does the sender's");
}

/* The driver gives a channel up: its frames come back with the error. */
Test(firmware, failed_channel_hands_entries_back)
{
	open_pair();
	cr_assert_eq(cmd(0, MCP_CMD_FAIL_CHAN, 0, 0, MCP_ECONNRESET, 0, 0, 0), 0);
	cr_assert_eq(pg(0, 0)->chan_err[0], MCP_ECONNRESET);
	cr_assert_eq(cmd(0, MCP_CMD_FAIL_CHAN, 0, 1, MCP_ECONNRESET, 0, 0, 0), -MCP_ENOENT,
		     "channel 1 is not active");
	cr_assert_eq(cmd(0, MCP_CMD_FAIL_CHAN, 0, 0, 0, 0, 0, 0), -MCP_EINVAL, "errno 0");
	post_tx(0, 0, 0, 0, 16, CLCP_QF_LAST);
	step(2);
	cr_assert_eq(txq(0, 0, 0)->status, -MCP_ECONNRESET);
	cr_assert_eq(hal_be32(pg(0, 0)->errors), 1, "the driver learns of it");
	cr_assert_eq(STAT(1, rx_packets), 0);
}

Test(firmware, corrupted_packet_dropped_and_counted)
{
	open_pair();
	post_rx(1, 0, 0);
	hal_sim_corrupt_next(nd[0].hw);
	post_tx(0, 0, 0, 0, 300, CLCP_QF_LAST);
	step(3);
	cr_assert_eq(STAT(1, drop_crc), 1);
	cr_assert_eq(STAT(1, rx_packets), 0);
	post_tx(0, 0, 1, 0, 300, CLCP_QF_LAST);
	step(3);
	cr_assert_eq(STAT(1, rx_packets), 1, "the next one is fine");
	cr_assert_eq(STAT(1, seq_errors), 1, "and the gap is seen");
}

/* A forged packet through a spare switch port. */
static void forge(uint32_t len_field, uint32_t payload, uint16_t type)
{
	uint8_t pkt[1 + MCP_PKT_HDR + 64] = { 1, (uint8_t)(type >> 8), (uint8_t)type };
	struct clcp_frame_hdr f = { 0 };
	static int fd = -1;

	if (fd < 0)
		fd = sim_switch_port_fd(sw, 2);
	f.version = CLCP_FRAME_VERSION;
	f.flags = CLCP_FF_DATA | CLCP_FF_LAST;
	f.dst_port = hal_be16(200);
	f.src_port = hal_be16(100);
	f.src_node = hal_be32(0);
	f.len = hal_be32(len_field);
	memcpy(pkt + 3, &f, sizeof(f));
	cr_assert_eq(sim_link_send(fd, pkt, 1 + MCP_PKT_HDR + payload, 0), 0);
	step(2);
}

Test(firmware, bad_length_or_type_dropped_and_counted)
{
	open_pair();
	post_rx(1, 0, 0);
	forge(64, 10, MCP_PTYPE_CLCP);
	cr_assert_eq(STAT(1, drop_len), 1, "length field disagrees");
	forge(EP_MTU + 1, 64, MCP_PTYPE_CLCP);
	cr_assert_eq(STAT(1, drop_len), 2);
	cr_assert_eq(ep_hdr(1, 0)->rx_drops, 2, "bad lengths for a known port count there");
	forge(8, 8, 0x0008);
	cr_assert_eq(STAT(1, drop_len), 3, "not our packet type");
	forge(8, 8, MCP_PTYPE_CLCP);
	cr_assert_eq(STAT(1, rx_packets), 1, "a good forgery is delivered");
}

/* --- the library's inline fast path against running firmware --- */

#define NFRAMES 3000u

struct run {
	pthread_t fw[2], pump;
};

static void *fw_thread(void *arg)
{
	struct node *n = arg;

	while (!__atomic_load_n(&stop_all, __ATOMIC_ACQUIRE))
		if (!mcp_poll(&n->m))
			sched_yield();
	return NULL;
}

static void *pump_thread(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop_all, __ATOMIC_ACQUIRE))
		if (!sim_switch_pump(sw))
			sched_yield();
	return NULL;
}

/* The user's view of endpoint 0 of node n, as the library maps it. */
static void user_endpt(int n, struct clcp_endpt *u)
{
	struct clcp_endpt_hdr *h = ep_hdr(n, 0);

	memset(u, 0, sizeof(*u));
	u->base = (unsigned char *)h;
	u->hdr = h;
	u->txq = (struct clcp_qentry *)(u->base + h->txq_off);
	u->rxq = (struct clcp_qentry *)(u->base + h->rxq_off);
	u->tx_mask = QLEN - 1;
	u->rx_mask = QLEN - 1;
	u->mtu = EP_MTU;
	for (uint32_t i = 0; i < QLEN; i++)
		u->txq[i].buf_off = h->txbuf_off + i * EP_MTU;
}

static uint32_t frame_len(uint32_t i)
{
	return (i * 37u) % (EP_MTU + 1);
}

static void ring(int n)
{
	uint32_t *db = &pg(n, 0)->doorbell;

	__atomic_store_n(db, hal_be32(hal_be32(__atomic_load_n(db, __ATOMIC_RELAXED)) + 1),
			 __ATOMIC_RELEASE);
}

static void user_send_all(struct clcp_endpt *u)
{
	for (uint32_t i = 0; i < NFRAMES; i++) {
		struct clcp_qentry *e;
		uint32_t len = frame_len(i);

		while ((e = clcp_txq_reserve(u)) == NULL)
			sched_yield();
		cr_assert_eq(e->status, 0, "frame %u came back with %d", i, e->status);
		for (uint32_t k = 0; k < len; k++)
			((uint8_t *)clcp_txq_buf(u, e))[k] = (uint8_t)(k * 7 + i);
		clcp_txq_post(u, e, 0, len, len, CLCP_QF_FIRST | CLCP_QF_LAST);
		ring(0);
	}
}

/* Receives every frame in order; returns the first bad frame or -1. */
static int64_t user_recv_all(struct clcp_endpt *u)
{
	struct clcp_endpt_hdr *h = u->hdr;

	for (uint32_t i = 0; i < QLEN; i++)
		clcp_rxq_post_quiet(u, h->rxbuf_off + i * EP_MTU);
	for (uint32_t i = 0; i < NFRAMES; i++) {
		const struct clcp_qentry *e;
		const uint8_t *p;
		uint32_t off;

		while ((e = clcp_rxq_peek(u)) == NULL)
			sched_yield();
		p = clcp_rxq_data(u, e);
		if (e->len != frame_len(i) || e->seq != i || e->status != 0 || e->chan != 0)
			return i;
		for (uint32_t k = 0; k < e->len; k++)
			if (p[k] != (uint8_t)(k * 7 + i))
				return i;
		off = e->buf_off;
		clcp_rxq_consume(u);
		clcp_rxq_post_quiet(u, off);
	}
	return -1;
}

static void start_threads(struct run *r, int node_mask)
{
	for (int n = 0; n < 2; n++)
		if (node_mask & (1 << n))
			cr_assert_eq(pthread_create(&r->fw[n], NULL, fw_thread, &nd[n]), 0);
	if (node_mask & 1)
		cr_assert_eq(pthread_create(&r->pump, NULL, pump_thread, NULL), 0);
}

static void stop_threads(struct run *r, int node_mask)
{
	__atomic_store_n(&stop_all, 1, __ATOMIC_RELEASE);
	for (int n = 0; n < 2; n++)
		if (node_mask & (1 << n))
			pthread_join(r->fw[n], NULL);
	if (node_mask & 1)
		pthread_join(r->pump, NULL);
}

Test(firmware, inline_fast_path_over_running_firmware)
{
	struct clcp_endpt u0, u1;
	struct run r;
	int64_t bad;

	open_pair();
	user_endpt(0, &u0);
	user_endpt(1, &u1);
	start_threads(&r, 3);
	user_send_all(&u0);
	bad = user_recv_all(&u1);
	stop_threads(&r, 3);
	cr_assert_eq(bad, -1, "frame %lld wrong", (long long)bad);
	cr_assert_eq(STAT(1, rx_packets), NFRAMES);
	cr_assert_eq(STAT(1, seq_errors), 0);
	cr_assert_eq(u0.hdr->tx_head, NFRAMES, "the NIC publishes its Tx head");
	cr_assert_eq(u1.hdr->rx_head, NFRAMES, "and its Rx head");
}

/* Node 1 in a child process: the link is a socket across processes. */
Test(firmware, two_processes_over_the_switch)
{
	struct clcp_endpt u0, u1;
	struct run r;
	int status;
	pid_t pid;

	open_pair();
	user_endpt(0, &u0);
	user_endpt(1, &u1);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		alarm(25);
		start_threads(&r, 2);
		int64_t bad = user_recv_all(&u1);

		stop_threads(&r, 2);
		_exit(bad == -1 && STAT(1, rx_packets) == NFRAMES ? 0 : 1);
	}
	start_threads(&r, 1);
	user_send_all(&u0);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	stop_threads(&r, 1);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status 0x%x", status);
	cr_assert_eq(STAT(0, tx_packets), NFRAMES);
}

/* Garbage from the wire never crashes the NIC and is always accounted for. */
Test(firmware, random_packets_all_counted)
{
	uint8_t pkt[256];
	uint32_t seed = 12345, n = 3000, got;
	int fd = sim_switch_port_fd(sw, 2);

	open_pair();
	for (uint32_t i = 0; i < QLEN; i++)
		post_rx(1, 0, i);
	for (uint32_t i = 0; i < n; i++) {
		size_t len = 1 + (seed >> 8) % sizeof(pkt);

		for (size_t k = 0; k < len; k++) {
			seed = seed * 1103515245u + 12345u;
			pkt[k] = (uint8_t)(seed >> 16);
		}
		pkt[0] = 1;		     /* to node 1 */
		if (i % 3 == 0 && len > 3) { /* often our type, to get further */
			pkt[1] = MCP_PTYPE_CLCP >> 8;
			pkt[2] = MCP_PTYPE_CLCP & 0xff;
		}
		cr_assert_eq(sim_link_send(fd, pkt, len, (int)(i % 7 == 0)), 0);
		step(1);
	}
	step(10);
	got = STAT(1, rx_packets) + STAT(1, drop_len) + STAT(1, drop_port) + STAT(1, drop_crc) +
	      STAT(1, drop_full);
	cr_assert_eq(got + sim_switch_drops(sw), n, "%u of %u packets accounted for", got, n);
	cr_assert_geq(STAT(1, drop_crc), n / 7);
}
