// SPDX-License-Identifier: MIT
/* The device layer over the simulated NIC (see mx_dev.h). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "clcp/mx_ioctl.h"
#include "mcp.h"
#include "sim/sim.h"
#include "mx_dev.h"
#include "mx_kdev.h"
#include "thread.h"

#define MX_WINDOW ((uint64_t)MCP_MAX_ENDPTS * MX_SLOT_SIZE)

struct mx_dev {
	struct hal *hw;
	struct mcp mcp;
	struct mcp_shared *sh;
	uint8_t *host; /* the pinned window; bus address = offset */
	pthread_t fw;
	int stop;
	pthread_mutex_t cmd_lock;
	uint32_t cmd_tail;
	uint32_t size[MCP_MAX_ENDPTS];
	int evfd[MCP_MAX_ENDPTS];
	uint32_t intr_seen[MCP_MAX_ENDPTS];
	char *fabric; /* the fabric directory, if the link is a fabric port */
	uint32_t node;
	struct mx_kdev *k; /* the kernel driver's board: none of the above is used */
};

static uint32_t be(uint32_t v)
{
	return hal_be32(v);
}

/* Endpoint idx's page of SRAM words (the kernel driver maps it to its owner). */
static struct mcp_endpt_page *page_of(struct mx_dev *dev, uint32_t idx)
{
	if (idx >= MCP_MAX_ENDPTS)
		return NULL;
	return dev->k ? mx_kdev_page(dev->k, idx) : hal_sram(dev->hw, MCP_EPAGE(idx));
}

/* The simulated LANai may sleep; a card's (and the driver's board) polls. */
static void kick(struct mx_dev *dev)
{
	if (!dev->k)
		hal_sim_kick(dev->hw);
}

/* The driver's interrupt routine: wake every endpoint whose intr word moved. */
static void mx_interrupt(void *arg)
{
	struct mx_dev *dev = arg;
	uint64_t one = 1;

	for (uint32_t i = 0; i < MCP_MAX_ENDPTS; i++) {
		uint32_t n = be(__atomic_load_n(&page_of(dev, i)->intr, __ATOMIC_ACQUIRE));

		if (n != dev->intr_seen[i] && dev->evfd[i] >= 0) {
			dev->intr_seen[i] = n;
			if (write(dev->evfd[i], &one, sizeof(one)) < 0)
				continue; /* the counter is full: already readable */
		}
	}
}

/* The LANai: polls until closed; hal_idle sleeps when there is nothing to do. */
static void *mx_firmware(void *arg)
{
	struct mx_dev *dev = arg;

	while (!__atomic_load_n(&dev->stop, __ATOMIC_ACQUIRE))
		if (!mcp_poll(&dev->mcp))
			hal_idle(dev->hw);
	return NULL;
}

static int mx_open(struct mx_dev **devp, int link_fd, const char *dir)
{
	struct mx_dev *dev = calloc(1, sizeof(*dev));

	if (!dev)
		return -ENOMEM;
	dev->host = mmap(NULL, MX_WINDOW, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (dev->host == MAP_FAILED) {
		free(dev);
		return -ENOMEM;
	}
	dev->hw = hal_sim_create(dev->host, MX_WINDOW);
	if (!dev->hw) {
		munmap(dev->host, MX_WINDOW);
		free(dev);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < MCP_MAX_ENDPTS; i++)
		dev->evfd[i] = -1;
	pthread_mutex_init(&dev->cmd_lock, NULL);
	if (dir)
		hal_sim_attach_fabric(dev->hw, link_fd, dir);
	else if (link_fd >= 0)
		hal_sim_attach(dev->hw, link_fd);
	hal_sim_on_intr(dev->hw, mx_interrupt, dev);
	mcp_init(&dev->mcp, dev->hw); /* the "firmware load": magic published */
	dev->sh = dev->mcp.sh;
	if (clcp__thread_start(&dev->fw, mx_firmware, dev)) {
		mx_dev_close(dev);
		return -EAGAIN;
	}
	*devp = dev;
	return 0;
}

int mx_dev_open(struct mx_dev **devp, int link_fd)
{
	return mx_open(devp, link_fd, NULL);
}

/* The board of the kernel driver: it loaded the firmware and the routes. */
static int mx_open_kernel(struct mx_dev **devp, uint32_t node)
{
	struct mx_dev *dev = calloc(1, sizeof(*dev));
	int rc;

	if (!dev)
		return -ENOMEM;
	for (uint32_t i = 0; i < MCP_MAX_ENDPTS; i++)
		dev->evfd[i] = -1;
	rc = mx_kdev_open(&dev->k, node);
	if (rc < 0) {
		free(dev);
		return rc;
	}
	dev->node = node;
	*devp = dev;
	return 0;
}

int mx_dev_open_node(struct mx_dev **devp, const char *dir, uint32_t node)
{
	uint8_t bytes[MCP_MAX_NODES * MCP_ROUTE_MAX] = { 0 }, lens[MCP_MAX_NODES];
	char *d;
	int fd, rc;

	if (mx_kdev_present())
		return mx_open_kernel(devp, node);
	d = strdup(dir);
	if (!d)
		return -ENOMEM;
	if (node >= MCP_MAX_NODES) {
		free(d);
		return -EINVAL;
	}
	sim_fabric_sweep(d, MCP_MAX_NODES); /* what killed nodes left */
	fd = sim_fabric_open(d, node);
	if (fd < 0) {
		free(d);
		return fd;
	}
	rc = mx_open(devp, fd, d);
	if (rc) { /* -EAGAIN: attached, so already closed with the NIC */
		sim_fabric_close(rc == -EAGAIN ? -1 : fd, d, node);
		free(d);
		return rc;
	}
	(*devp)->fabric = d;
	(*devp)->node = node;
	for (uint32_t k = 0; k < MCP_MAX_NODES; k++) {
		bytes[k * MCP_ROUTE_MAX] = (uint8_t)k;
		lens[k] = 1;
	}
	rc = mx_dev_load_routes(*devp, node, bytes, lens, MCP_MAX_NODES);
	if (rc)
		mx_dev_close(*devp);
	return rc;
}

void mx_dev_close(struct mx_dev *dev)
{
	if (!dev)
		return;
	if (dev->k) {
		mx_kdev_close(dev->k);
		free(dev);
		return;
	}
	if (dev->fw) {
		__atomic_store_n(&dev->stop, 1, __ATOMIC_RELEASE);
		pthread_join(dev->fw, NULL);
	}
	for (uint32_t i = 0; i < MCP_MAX_ENDPTS; i++)
		if (dev->evfd[i] >= 0)
			close(dev->evfd[i]);
	hal_sim_destroy(dev->hw); /* closes the link */
	if (dev->fabric) {
		sim_fabric_close(-1, dev->fabric, dev->node);
		free(dev->fabric);
	}
	munmap(dev->host, MX_WINDOW);
	pthread_mutex_destroy(&dev->cmd_lock);
	free(dev);
}

/* One command through the SRAM queue: fill, READY; wait for DONE; result. */
static int mx_cmd(struct mx_dev *dev, const struct mcp_cmd *in)
{
	struct mcp_cmd *c;
	int rc;

	pthread_mutex_lock(&dev->cmd_lock);
	c = &dev->sh->cmdq[dev->cmd_tail++ & (MCP_CMDQ_LEN - 1)];
	memcpy(c, in, offsetof(struct mcp_cmd, result));
	/* RC1: the fields before READY; pairs with the firmware's AC1. */
	__atomic_store_n(&c->state, MCP_CMDS_READY, __ATOMIC_RELEASE);
	hal_sim_kick(dev->hw);
	/* AC2: result after DONE; pairs with the firmware's RC2. */
	while (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) != MCP_CMDS_DONE)
		sched_yield();
	rc = (int16_t)hal_be16((uint16_t)c->result);
	__atomic_store_n(&c->state, MCP_CMDS_FREE, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&dev->cmd_lock);
	return rc;
}

static struct mcp_cmd cmd_of(uint32_t op, uint32_t idx)
{
	return (struct mcp_cmd){ .op = be(op), .ep = be(idx) };
}

int mx_dev_load_routes(struct mx_dev *dev, uint32_t my_node, const uint8_t *route_bytes,
		       const uint8_t *route_lens, uint32_t nnodes)
{
	struct mcp_cmd c = cmd_of(MCP_CMD_LOAD_ROUTES, 0);
	uint32_t nonce = 0; /* for the NIC's activation numbers; a simulated clock differs anyway */

	if (dev->k)
		return -EOPNOTSUPP; /* the driver loads the route table */
	if (nnodes > MCP_MAX_NODES)
		return -EINVAL;
	for (uint32_t k = 0; k < nnodes; k++) {
		struct mcp_route *r = &dev->sh->routes[k];

		if (route_lens[k] > MCP_ROUTE_MAX)
			return -EINVAL;
		memset(r, 0, sizeof(*r));
		memcpy(r->bytes, route_bytes + k * MCP_ROUTE_MAX, route_lens[k]);
		r->len = route_lens[k];
		r->valid = 1;
	}
	(void)!getrandom(&nonce, sizeof(nonce), GRND_NONBLOCK);
	c.peer_node = be(my_node);
	c.chan = be(nnodes);
	c.port = be(nonce);
	return mx_cmd(dev, &c);
}

int mx_dev_endpt_alloc(struct mx_dev *dev, uint32_t idx, uint32_t size, void **base)
{
	uint8_t *p;

	if (dev->k)
		return mx_kdev_endpt_alloc(dev->k, idx, size, base);
	if (idx >= MCP_MAX_ENDPTS || size == 0 || size > MX_SLOT_SIZE)
		return -EINVAL;
	if (dev->size[idx])
		return -EBUSY;
	p = dev->host + (uint64_t)idx * MX_SLOT_SIZE;
	memset(p, 0, size);
	dev->evfd[idx] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (dev->evfd[idx] < 0)
		return -errno;
	dev->intr_seen[idx] = be(page_of(dev, idx)->intr);
	dev->size[idx] = size;
	*base = p;
	return 0;
}

int mx_dev_endpt_start(struct mx_dev *dev, uint32_t idx)
{
	struct mcp_cmd c = cmd_of(MCP_CMD_CREATE_ENDPT, idx);
	uint64_t bus = (uint64_t)idx * MX_SLOT_SIZE;

	if (dev->k)
		return mx_kdev_endpt_start(dev->k, idx);
	if (idx >= MCP_MAX_ENDPTS || !dev->size[idx])
		return -EINVAL;
	c.host_addr_hi = be((uint32_t)(bus >> 32));
	c.host_addr_lo = be((uint32_t)bus);
	c.size = be(dev->size[idx]);
	return mx_cmd(dev, &c);
}

int mx_dev_endpt_destroy(struct mx_dev *dev, uint32_t idx)
{
	struct mcp_cmd c = cmd_of(MCP_CMD_DESTROY_ENDPT, idx);
	int rc;

	if (dev->k)
		return mx_kdev_endpt_destroy(dev->k, idx);
	if (idx >= MCP_MAX_ENDPTS || !dev->size[idx])
		return -EINVAL;
	rc = mx_cmd(dev, &c); /* -ENOENT if it never started: fine */
	close(dev->evfd[idx]);
	dev->evfd[idx] = -1;
	dev->size[idx] = 0;
	return rc == -MCP_ENOENT ? 0 : rc;
}

int mx_dev_chan_activate(struct mx_dev *dev, uint32_t idx, uint32_t chan, uint16_t port,
			 uint32_t peer_node, uint16_t peer_port, uint32_t flags)
{
	struct mcp_cmd c = cmd_of(MCP_CMD_ACTIVATE_CHAN, idx);

	if (dev->k)
		return mx_kdev_chan(dev->k, idx, MX_IOC_ACTIVATE, chan, port, peer_node, peer_port,
				    flags);
	c.host_addr_lo = be(flags);
	c.chan = be(chan);
	c.port = be(port);
	c.peer_node = be(peer_node);
	c.peer_port = be(peer_port);
	return mx_cmd(dev, &c);
}

int mx_dev_chan_deactivate(struct mx_dev *dev, uint32_t idx, uint32_t chan)
{
	struct mcp_cmd c = cmd_of(MCP_CMD_DEACTIVATE_CHAN, idx);

	if (dev->k)
		return mx_kdev_chan(dev->k, idx, MX_IOC_DEACTIVATE, chan, 0, 0, 0, 0);
	c.chan = be(chan);
	return mx_cmd(dev, &c);
}

int mx_dev_chan_fail(struct mx_dev *dev, uint32_t idx, uint32_t chan, int err)
{
	struct mcp_cmd c = cmd_of(MCP_CMD_FAIL_CHAN, idx);

	if (dev->k)
		return mx_kdev_chan(dev->k, idx, MX_IOC_FAIL, chan, 0, 0, 0, (uint32_t)err);
	c.chan = be(chan);
	c.port = be((uint32_t)err);
	return mx_cmd(dev, &c);
}

int mx_dev_chan_error(struct mx_dev *dev, uint32_t idx, uint32_t chan)
{
	struct mcp_endpt_page *pg = page_of(dev, idx);

	if (!pg || chan >= MCP_MAX_CHANS)
		return -EINVAL;
	/* Acquire: what the NIC delivered before the error is visible with it. */
	return -(int)__atomic_load_n(&pg->chan_err[chan], __ATOMIC_ACQUIRE);
}

uint32_t mx_dev_errors(struct mx_dev *dev, uint32_t idx)
{
	struct mcp_endpt_page *pg = page_of(dev, idx);

	return pg ? be(__atomic_load_n(&pg->errors, __ATOMIC_ACQUIRE)) : 0;
}

uint32_t mx_dev_chan_tx(struct mx_dev *dev, uint32_t idx, uint32_t chan)
{
	/* An ask the NIC has not taken yet is an ask out; taken, its state is published. */
	struct mcp_endpt_page *pg = page_of(dev, idx);
	uint8_t asked = __atomic_load_n(&pg->chan_ask[chan], __ATOMIC_ACQUIRE);
	uint32_t w = be(__atomic_load_n(&pg->chan_tx[chan], __ATOMIC_ACQUIRE));

	return asked ? w | MCP_CHT_ASKING : w;
}

void mx_dev_chan_ask(struct mx_dev *dev, uint32_t idx, uint32_t chan)
{
	__atomic_store_n(&page_of(dev, idx)->chan_ask[chan], 1, __ATOMIC_RELAXED);
	mx_dev_doorbell(dev, idx); /* its release orders the ask before the ring */
}

void mx_dev_kick(struct mx_dev *dev)
{
	kick(dev);
}

int mx_dev_node_alive(struct mx_dev *dev, uint32_t node)
{
	if (dev->k || !dev->fabric || node >= MCP_MAX_NODES)
		return -EINVAL;
	return sim_fabric_alive(dev->fabric, node);
}

bool mx_dev_gone(struct mx_dev *dev, uint32_t idx)
{
	return dev->k && mx_kdev_gone(dev->k, idx);
}

void mx_dev_doorbell(struct mx_dev *dev, uint32_t idx)
{
	uint32_t *db = &page_of(dev, idx)->doorbell;

	/* R1 happened on the entries; this publishes the ring after them. */
	__atomic_store_n(db, be(be(__atomic_load_n(db, __ATOMIC_RELAXED)) + 1), __ATOMIC_RELEASE);
	kick(dev);
}

int mx_dev_wait_fd(struct mx_dev *dev, uint32_t idx)
{
	if (dev->k)
		return mx_kdev_wait_fd(dev->k, idx);
	return idx < MCP_MAX_ENDPTS ? dev->evfd[idx] : -EINVAL;
}

uint32_t mx_dev_endpt_max(struct mx_dev *dev)
{
	return dev->k ? MX_ENDPT_MAX : MX_SLOT_SIZE;
}

void mx_dev_signal(struct mx_dev *dev, uint32_t idx)
{
	uint64_t one = 1;

	if (dev->k)
		mx_kdev_signal(dev->k, idx);
	else if (write(dev->evfd[idx], &one, sizeof(one)) < 0)
		return; /* the counter is full: readable already */
}

void mx_dev_drain(struct mx_dev *dev, uint32_t idx)
{
	uint64_t n;

	if (dev->k)
		mx_kdev_drain(dev->k, idx);
	else if (read(dev->evfd[idx], &n, sizeof(n)) < 0)
		return; /* nothing pending */
}

const struct mcp_shared *mx_dev_shared(struct mx_dev *dev)
{
	return dev->sh;
}

const struct mcp_endpt_page *mx_dev_page(struct mx_dev *dev, uint32_t idx)
{
	return page_of(dev, idx);
}

void mx_dev_stats(struct mx_dev *dev, struct mcp_stats *st)
{
	if (!dev->k)
		memcpy(st, &dev->sh->stats, sizeof(*st));
	else if (mx_kdev_stats(dev->k, st) < 0)
		memset(st, 0, sizeof(*st)); /* no endpoint device free to ask */
}
