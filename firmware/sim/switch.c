// SPDX-License-Identifier: MIT
/*
 * The simulated crossbar switch and the link framing: a packet crosses a
 * link as [packet][CRC-32]; a switch takes the first byte as its output
 * port, strips it, and recomputes the CRC (inverted if the packet arrived
 * bad, so corruption is seen at the end, as Myrinet does with its CRC-8).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "../mcp_abi.h"
#include "sim.h"

#define SW_PORTS_MAX 32u
#define SW_FRAME_MAX (MCP_PKTBUF_SIZE + 4u)

struct sim_switch {
	unsigned nports;
	int fd[SW_PORTS_MAX];
	uint32_t drops;
	uint8_t frame[SW_FRAME_MAX];
};

uint32_t sim_crc32(const void *p, size_t len)
{
	static uint32_t table[256];
	const uint8_t *b = p;
	uint32_t crc = 0xffffffffu;
	size_t i;

	if (!table[1]) {
		for (uint32_t n = 0; n < 256; n++) {
			uint32_t c = n;

			for (int k = 0; k < 8; k++)
				c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[n] = c;
		}
	}
	for (i = 0; i < len; i++)
		crc = table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

int sim_link_send(int fd, const void *pkt, size_t len, int bad_crc)
{
	uint32_t crc = sim_crc32(pkt, len);
	uint8_t flip;
	struct iovec iov[3] = {
		{ (void *)pkt, len },
		{ &crc, sizeof(crc) },
	};
	int niov = 2;

	if (bad_crc) { /* damage in flight: the CRC no longer matches */
		flip = len ? (uint8_t)(((const uint8_t *)pkt)[len - 1] ^ 0x5a) : 0;
		iov[0].iov_len = len ? len - 1 : 0;
		iov[2] = iov[1];
		iov[1] = (struct iovec){ &flip, len ? 1u : 0u };
		niov = 3;
	}
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)niov };

	return sendmsg(fd, &mh, 0) < 0 ? -errno : 0;
}

struct sim_switch *sim_switch_create(unsigned nports)
{
	struct sim_switch *sw;

	if (nports == 0 || nports > SW_PORTS_MAX)
		return NULL;
	sw = calloc(1, sizeof(*sw));
	if (!sw)
		return NULL;
	sw->nports = nports;
	for (unsigned p = 0; p < SW_PORTS_MAX; p++)
		sw->fd[p] = -1;
	return sw;
}

void sim_switch_destroy(struct sim_switch *sw)
{
	if (!sw)
		return;
	for (unsigned p = 0; p < sw->nports; p++)
		if (sw->fd[p] >= 0)
			close(sw->fd[p]);
	free(sw);
}

static int new_link(int sv[2])
{
	int big = 4 << 20;

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	}
	return 0;
}

int sim_switch_port_fd(struct sim_switch *sw, unsigned p)
{
	int sv[2], rc;

	if (p >= sw->nports || sw->fd[p] >= 0)
		return -EINVAL;
	rc = new_link(sv);
	if (rc)
		return rc;
	sw->fd[p] = sv[0];
	return sv[1];
}

int sim_switch_link(struct sim_switch *a, unsigned pa, struct sim_switch *b, unsigned pb)
{
	int sv[2], rc;

	if (pa >= a->nports || pb >= b->nports || a->fd[pa] >= 0 || b->fd[pb] >= 0)
		return -EINVAL;
	rc = new_link(sv);
	if (rc)
		return rc;
	a->fd[pa] = sv[0];
	b->fd[pb] = sv[1];
	return 0;
}

/* One packet from port p, if any: route byte off, on to its output. */
static int forward_one(struct sim_switch *sw, unsigned p)
{
	ssize_t n = recv(sw->fd[p], sw->frame, sizeof(sw->frame), MSG_DONTWAIT | MSG_TRUNC);
	uint32_t crc;
	unsigned out;
	size_t len;

	if (n < 0)
		return 0;
	if (n < 5 || (size_t)n > sizeof(sw->frame)) {
		sw->drops++;
		return 1;
	}
	len = (size_t)n - 4;
	memcpy(&crc, sw->frame + len, 4);
	out = sw->frame[0];
	if (out >= sw->nports || sw->fd[out] < 0) {
		sw->drops++;
		return 1;
	}
	int bad = crc != sim_crc32(sw->frame, len);

	crc = sim_crc32(sw->frame + 1, len - 1);
	if (bad)
		crc = ~crc;
	memcpy(sw->frame + len, &crc, 4);
	if (send(sw->fd[out], sw->frame + 1, len + 3, 0) < 0)
		sw->drops++;
	return 1;
}

int sim_switch_pump(struct sim_switch *sw)
{
	int moved = 0;

	for (unsigned p = 0; p < sw->nports; p++)
		if (sw->fd[p] >= 0)
			moved += forward_one(sw, p);
	return moved;
}

void sim_switch_wait(struct sim_switch *sw, int ms)
{
	struct pollfd p[SW_PORTS_MAX];
	nfds_t n = 0;

	for (unsigned i = 0; i < sw->nports; i++)
		if (sw->fd[i] >= 0)
			p[n++] = (struct pollfd){ .fd = sw->fd[i], .events = POLLIN };
	poll(p, n, ms);
}

/* --- the crossbar between processes --- */

static int fabric_addr(struct sockaddr_un *sa, const char *dir, unsigned port)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/clcp-%u-mxsw-%u", dir,
		     (unsigned)getuid(), port);
	return n > 0 && (size_t)n < sizeof(sa->sun_path) ? 0 : -ENAMETOOLONG;
}

int sim_fabric_alive(const char *dir, unsigned port)
{
	struct sockaddr_un sa;
	int fd, alive;

	if (fabric_addr(&sa, dir, port))
		return 0;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 1; /* cannot tell: do not declare it dead */
	alive = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
		(errno != ECONNREFUSED && errno != ENOENT);
	close(fd);
	return alive;
}

void sim_fabric_sweep(const char *dir, unsigned nports)
{
	struct sockaddr_un sa;

	for (unsigned p = 0; p < nports; p++)
		if (fabric_addr(&sa, dir, p) == 0 && access(sa.sun_path, F_OK) == 0 &&
		    !sim_fabric_alive(dir, p))
			unlink(sa.sun_path);
}

int sim_fabric_open(const char *dir, unsigned port)
{
	struct sockaddr_un sa;
	int fd, big = 4 << 20, rc = fabric_addr(&sa, dir, port);

	if (rc)
		return rc;
	if (sim_fabric_alive(dir, port))
		return -EADDRINUSE;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	unlink(sa.sun_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

void sim_fabric_close(int fd, const char *dir, unsigned port)
{
	struct sockaddr_un sa;

	if (fd >= 0)
		close(fd);
	if (fabric_addr(&sa, dir, port) == 0)
		unlink(sa.sun_path);
}

int sim_fabric_send(int fd, const char *dir, const void *pkt, size_t len, int bad_crc)
{
	const uint8_t *p = pkt;
	struct sockaddr_un sa;
	uint32_t crc;
	uint8_t flip;

	if (len < 1 || fabric_addr(&sa, dir, p[0]))
		return -EINVAL;
	crc = sim_crc32(p + 1, len - 1);
	struct iovec iov[3] = { { (void *)(p + 1), len - 1 }, { &crc, sizeof(crc) } };
	int niov = 2;

	if (bad_crc && len > 1) { /* damage in flight, as sim_link_send does */
		flip = p[len - 1] ^ 0x5a;
		iov[0].iov_len = len - 2;
		iov[2] = iov[1];
		iov[1] = (struct iovec){ &flip, 1 };
		niov = 3;
	}
	struct msghdr mh = { .msg_name = &sa,
			     .msg_namelen = sizeof(sa),
			     .msg_iov = iov,
			     .msg_iovlen = (size_t)niov };

	/* No such port (no node there): the switch drops it. */
	return sendmsg(fd, &mh, 0) < 0 ? -errno : 0;
}

uint32_t sim_switch_drops(const struct sim_switch *sw)
{
	return sw->drops;
}
