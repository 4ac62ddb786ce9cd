// SPDX-License-Identifier: MIT
/* The device layer over /dev/clcpN (see mx_kdev.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clcp/mx_ioctl.h"
#include "mcp_abi.h"
#include "mx_kdev.h"

struct mx_kdev_ep {
	int fd;
	uint8_t *map;
	size_t map_len;
	struct mcp_endpt_page *page;
};

struct mx_kdev {
	uint32_t node;
	uint32_t minor0; /* the board's endpoint 0 */
	struct mx_kdev_ep ep[MCP_MAX_ENDPTS];
};

static const char *dev_prefix(void)
{
	const char *p = getenv("CLCP_MX_DEV");

	return p && *p ? p : "/dev/clcp";
}

/* Opens /dev/clcp<minor>: -EBUSY if another process holds it. */
static int dev_open(uint32_t minor)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s%u", dev_prefix(), minor);
	fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int mx_kdev_present(void)
{
	char path[256];

	snprintf(path, sizeof(path), "%s0", dev_prefix());
	return access(path, F_OK) == 0;
}

/* Asks any free endpoint of board b what the driver and the board are. */
static int info_get(uint32_t b, struct mx_ioc_info *in)
{
	int fd = -EBUSY, rc;

	for (uint32_t i = 0; i < MX_DEV_COUNT && fd == -EBUSY; i++)
		fd = dev_open(b * MX_DEV_COUNT + i);
	if (fd < 0)
		return fd;
	rc = ioctl(fd, MX_IOC_INFO, in) ? -errno : 0;
	close(fd);
	return rc;
}

/* The board that is node `node`: its number, or -EADDRNOTAVAIL. */
static int board_find(uint32_t node)
{
	struct mx_ioc_info in;
	int rc = -EADDRNOTAVAIL;

	for (uint32_t b = 0; b < MX_BOARDS_MAX; b++) {
		int r = info_get(b, &in);

		if (r == -EBUSY)
			rc = r; /* all its endpoints taken: it may be ours */
		if (r < 0)
			continue;
		if (in.abi_version != MX_IOC_ABI_VERSION || in.mcp_abi != MCP_ABI_VERSION)
			return -EPROTO;
		if (in.node == node)
			return (int)b;
	}
	return rc;
}

int mx_kdev_open(struct mx_kdev **kp, uint32_t node)
{
	struct mx_kdev *k;
	int b = board_find(node);

	if (b < 0)
		return b;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	for (uint32_t i = 0; i < MCP_MAX_ENDPTS; i++)
		k->ep[i].fd = -1;
	k->node = node;
	k->minor0 = (uint32_t)b * MX_DEV_COUNT;
	*kp = k;
	return 0;
}

static void ep_close(struct mx_kdev_ep *e)
{
	if (e->map)
		munmap(e->map, e->map_len);
	if (e->fd >= 0)
		close(e->fd);
	memset(e, 0, sizeof(*e));
	e->fd = -1;
}

void mx_kdev_close(struct mx_kdev *k)
{
	if (!k)
		return;
	for (uint32_t i = 0; i < MCP_MAX_ENDPTS; i++)
		ep_close(&k->ep[i]);
	free(k);
}

int mx_kdev_endpt_alloc(struct mx_kdev *k, uint32_t idx, uint32_t size, void **base)
{
	struct mx_ioc_alloc a = { .abi_version = MX_IOC_ABI_VERSION, .size = size };
	struct mx_kdev_ep *e;
	int fd;

	if (idx >= MCP_MAX_ENDPTS || size == 0)
		return -EINVAL;
	e = &k->ep[idx];
	if (e->fd >= 0)
		return -EBUSY;
	fd = dev_open(k->minor0 + idx);
	if (fd < 0)
		return fd;
	if (ioctl(fd, MX_IOC_ALLOC, &a)) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	e->fd = fd;
	e->map = mmap(NULL, a.map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (e->map == MAP_FAILED) {
		int rc = -errno;

		e->map = NULL;
		ep_close(e);
		return rc;
	}
	e->map_len = a.map_size;
	e->page = (struct mcp_endpt_page *)(void *)(e->map + a.win_off);
	*base = e->map;
	return 0;
}

static int ep_ioctl(struct mx_kdev *k, uint32_t idx, unsigned long cmd, void *arg)
{
	if (idx >= MCP_MAX_ENDPTS || k->ep[idx].fd < 0)
		return -EINVAL;
	return ioctl(k->ep[idx].fd, cmd, arg) ? -errno : 0;
}

int mx_kdev_endpt_start(struct mx_kdev *k, uint32_t idx)
{
	return ep_ioctl(k, idx, MX_IOC_CREATE, NULL);
}

int mx_kdev_endpt_destroy(struct mx_kdev *k, uint32_t idx)
{
	int rc = ep_ioctl(k, idx, MX_IOC_DESTROY, NULL);

	if (rc == -EINVAL)
		return rc;
	ep_close(&k->ep[idx]); /* frees the memory in the driver */
	return rc == -ENOENT ? 0 : rc;
}

int mx_kdev_chan(struct mx_kdev *k, uint32_t idx, unsigned long cmd, uint32_t chan, uint32_t port,
		 uint32_t peer_node, uint32_t peer_port, uint32_t flags)
{
	struct mx_ioc_chan c = {
		.chan = chan,
		.port = port,
		.peer_node = peer_node,
		.peer_port = peer_port,
		.flags = flags,
	};

	return ep_ioctl(k, idx, cmd, &c);
}

struct mcp_endpt_page *mx_kdev_page(struct mx_kdev *k, uint32_t idx)
{
	return idx < MCP_MAX_ENDPTS ? k->ep[idx].page : NULL;
}

int mx_kdev_stats(struct mx_kdev *k, struct mcp_stats *st)
{
	int fd = -EBUSY, rc;

	for (uint32_t i = 0; i < MCP_MAX_ENDPTS; i++)
		if (k->ep[i].fd >= 0)
			return ioctl(k->ep[i].fd, MX_IOC_STATS, st) ? -errno : 0;
	for (uint32_t i = 0; i < MX_DEV_COUNT && fd == -EBUSY; i++)
		fd = dev_open(k->minor0 + i);
	if (fd < 0)
		return fd;
	rc = ioctl(fd, MX_IOC_STATS, st) ? -errno : 0;
	close(fd);
	return rc;
}

bool mx_kdev_gone(struct mx_kdev *k, uint32_t idx)
{
	struct mx_ioc_info in;

	return ep_ioctl(k, idx, MX_IOC_INFO, &in) == -ENODEV;
}

int mx_kdev_wait_fd(struct mx_kdev *k, uint32_t idx)
{
	return idx < MCP_MAX_ENDPTS && k->ep[idx].fd >= 0 ? k->ep[idx].fd : -EINVAL;
}

void mx_kdev_signal(struct mx_kdev *k, uint32_t idx)
{
	ep_ioctl(k, idx, MX_IOC_SIGNAL, NULL);
}

void mx_kdev_drain(struct mx_kdev *k, uint32_t idx)
{
	ep_ioctl(k, idx, MX_IOC_DRAIN, NULL);
}
