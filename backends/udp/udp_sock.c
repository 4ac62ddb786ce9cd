/* SPDX-License-Identifier: MIT */
/*
 * UDP backend, the sockets. One unconnected socket per device, bound to the
 * node's address, takes whatever comes. Beside it, for up to
 * UDP_PEER_SOCKS peer nodes, a socket bound to the same address
 * (SO_REUSEPORT) and connected to the peer: the kernel keeps its route (no
 * lookup per datagram sent) and delivers that peer's datagrams to it
 * (early demux), so a polling caller reads with one plain recv the socket
 * its peer writes to. SO_REUSEPORT would let a second process bind the
 * node too: an abstract unix socket named after the address is the node's
 * lock. Everything here runs with udp_dev.lock held unless it says otherwise.
 */
#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "udp.h"

#define SOCK_BUF_BYTES (4 << 20)
#define MAIN_POLL_EVERY 16u /* a poller reads the unconnected socket every 16 passes */

/* A socket bound to the node's address, options set: fd or -errno. */
static int sock_new(const struct udp_node *self)
{
	int family = self->sa.ss_family, sz = SOCK_BUF_BYTES;
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &(int){ 1 }, sizeof(int));
	/* ICMP port unreachable from a peer tells us its process is gone. */
	if (family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){ 1 }, sizeof(int));
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &(int){ 1 }, sizeof(int));
	} else {
		setsockopt(fd, IPPROTO_IP, IP_RECVERR, &(int){ 1 }, sizeof(int));
	}
	if (bind(fd, (const struct sockaddr *)&self->sa, self->len) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	/* FORCE works for root; otherwise net.core.[rw]mem_max caps it. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	return fd;
}

/* The node's lock: an abstract unix socket named after its address (per network namespace). */
static int node_lock(const struct udp_node *n)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char ip[INET6_ADDRSTRLEN] = "?";
	const void *a;
	unsigned port;
	int fd, len;

	if (n->sa.ss_family == AF_INET6) {
		a = &((const struct sockaddr_in6 *)&n->sa)->sin6_addr;
		port = ntohs(((const struct sockaddr_in6 *)&n->sa)->sin6_port);
	} else {
		a = &((const struct sockaddr_in *)&n->sa)->sin_addr;
		port = ntohs(((const struct sockaddr_in *)&n->sa)->sin_port);
	}
	inet_ntop(n->sa.ss_family, a, ip, sizeof(ip));
	len = snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1, "clcp-udp %s %u", ip, port);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
							  1 + (size_t)len)) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

int udp_sock_open(struct udp_dev *u, const struct udp_node *n)
{
	int lock = node_lock(n), fd;

	if (lock < 0)
		return lock;
	fd = sock_new(n);
	if (fd < 0) {
		close(lock);
		return fd;
	}
	u->lock_fd = lock;
	u->sock = fd;
	u->self = *n;
	u->family = n->sa.ss_family;
	/* A kernel without UDP_SEGMENT (before 4.18) would ignore the control message and send a run as one datagram. */
	u->no_gso = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &(int){ 0 }, sizeof(int)) < 0;
	return 0;
}

void udp_sock_close(struct udp_dev *u)
{
	for (unsigned i = 0; i < UDP_PEER_SOCKS; i++)
		if (u->psock[i].fd >= 0)
			close(u->psock[i].fd);
	if (u->sock >= 0)
		close(u->sock);
	if (u->lock_fd >= 0)
		close(u->lock_fd);
	u->sock = u->lock_fd = -1;
}

void udp_sock_init(struct udp_dev *u)
{
	u->sock = u->lock_fd = u->xsk_fd = -1;
	for (unsigned i = 0; i < UDP_PEER_SOCKS; i++)
		u->psock[i].fd = -1;
}

/* A socket connected to the peer node, shared by its channels; the unconnected one if none is free. */
int udp_psock_get(struct udp_dev *u, const struct udp_node *peer)
{
	struct udp_psock *free_ps = NULL;
	int fd;

	if (u->xsk) { /* xdp mode: datagrams go by the ring; the socket takes the rest */
		u->main_chans++;
		return u->sock;
	}
	for (unsigned i = 0; i < UDP_PEER_SOCKS; i++) {
		struct udp_psock *ps = &u->psock[i];

		if (ps->fd >= 0 && ps->peer.node == peer->node) {
			ps->refs++;
			return ps->fd;
		}
		if (ps->fd < 0 && !free_ps)
			free_ps = ps;
	}
	fd = free_ps ? sock_new(&u->self) : -1;
	if (fd >= 0 && connect(fd, (const struct sockaddr *)&peer->sa, peer->len) < 0) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		u->main_chans++;
		return u->sock;
	}
	clcp_store_relaxed(&free_ps->fd, fd); /* the thread polls it unlocked */
	free_ps->refs = 1;
	free_ps->peer = *peer;
	free_ps->no_gso = false;
	return fd;
}

/* The connected socket to a peer that fd is, if any. */
struct udp_psock *udp_psock_of(struct udp_dev *u, int fd)
{
	for (unsigned i = 0; i < UDP_PEER_SOCKS; i++)
		if (u->psock[i].fd == fd)
			return &u->psock[i];
	return NULL;
}

void udp_psock_put(struct udp_dev *u, int fd)
{
	struct udp_psock *ps;

	if (fd == u->sock) {
		u->main_chans--;
		return;
	}
	ps = udp_psock_of(u, fd);
	if (!ps || --ps->refs > 0)
		return;
	if (u->txb.n && u->txb.fd == fd)
		udp_tx_send(u); /* batched datagrams go before their socket does */
	close(fd);
	ps->direct_ep = NULL;
	clcp_store_relaxed(&ps->fd, -1);
}

/* The endpoint goes: no socket reads into its buffers any more. */
void udp_psock_forget(struct udp_dev *u, const struct clcp_endpt *ep)
{
	for (unsigned i = 0; i < UDP_PEER_SOCKS; i++)
		if (u->psock[i].direct_ep == ep)
			u->psock[i].direct_ep = NULL;
}

/* ICMP errors (IP_RECVERR): the offender's address is the datagram's destination. */
void udp_errq_drain(struct udp_dev *u, int fd)
{
	char ctl[512], data[64];
	struct sockaddr_storage to;
	struct iovec iov = { data, sizeof(data) };
	struct msghdr m;
	struct cmsghdr *c;
	ssize_t n;

	for (;;) {
		memset(&m, 0, sizeof(m));
		m.msg_name = &to;
		m.msg_namelen = sizeof(to);
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		m.msg_control = ctl;
		m.msg_controllen = sizeof(ctl);
		n = recvmsg(fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT);
		if (n < 0)
			return;
		for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			struct sock_extended_err ee;

			if (!((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
			      (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)))
				continue;
			memcpy(&ee, CMSG_DATA(c), sizeof(ee));
			if (ee.ee_errno == ECONNREFUSED)
				udp_peer_unreachable(u, &to, (const unsigned char *)data, (size_t)n);
		}
	}
}

/* A failed receive: a pending ICMP error is reported once. True if it was one. */
static bool rx_failed(struct udp_dev *u, int fd)
{
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return false;
	udp_errq_drain(u, fd);
	return true;
}

/* One datagram read from fd: from the connected peer (ps) or from `from`. */
static void dgram_from(struct udp_dev *u, const unsigned char *b, size_t n,
		       struct udp_psock *ps, const struct sockaddr_storage *from,
		       socklen_t fromlen)
{
	struct udp_rxd d = udp_rxd_whole(b, n);

	if (ps)
		udp_dgram_input_peer(u, &d, ps);
	else
		udp_dgram_input(u, b, n, from, fromlen);
}

/* Reads every waiting datagram of one socket, batched; nonblocking. */
static void sock_drain(struct udp_dev *u, int fd, struct udp_psock *ps)
{
	struct sockaddr_storage from[UDP_BATCH];
	struct mmsghdr mm[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	int i, n, rounds;

	for (rounds = 0; rounds < 64; rounds++) {
		for (i = 0; i < (int)UDP_BATCH; i++) {
			iov[i].iov_base = u->rxbufs + (size_t)i * UDP_DGRAM_MAX;
			iov[i].iov_len = UDP_DGRAM_MAX;
			memset(&mm[i].msg_hdr, 0, sizeof(mm[i].msg_hdr));
			mm[i].msg_hdr.msg_name = ps ? NULL : &from[i];
			mm[i].msg_hdr.msg_namelen = ps ? 0 : sizeof(from[i]);
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(fd, mm, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0 && rx_failed(u, fd))
			continue;
		if (n <= 0)
			break;
		for (i = 0; i < n; i++)
			if (!(mm[i].msg_hdr.msg_flags & MSG_TRUNC))
				dgram_from(u, iov[i].iov_base, mm[i].msg_len, ps, &from[i],
					   mm[i].msg_hdr.msg_namelen);
		if (n < (int)UDP_BATCH)
			break;
	}
}

/* A data frame with more of its message to come: the rest is worth a batch. */
static bool more_coming(const unsigned char *b, ssize_t n)
{
	const struct clcp_frame_hdr *h = (const void *)b;

	return n >= (ssize_t)UDP_HDR_LEN && (h->flags & (CLCP_FF_DATA | CLCP_FF_LAST)) == CLCP_FF_DATA;
}

/* The payload length a datagram's header claims (0 if it has no header). */
static uint32_t hdr_len_field(const unsigned char *hdr, size_t n)
{
	struct clcp_frame_hdr h;

	if (n < UDP_HDR_LEN)
		return 0;
	memcpy(&h, hdr, sizeof(h));
	return ntohl(h.len);
}

/*
 * One datagram read into slot (room bytes; udp_rx_target): the Rx buffer
 * the next frame takes, or where the next frame of a message a receive
 * waits for goes in its buffer. The frame expected there is then taken in
 * place; anything else is handled as if read into rxbufs. A payload that
 * does not fit the slot (a larger frame for another endpoint or message)
 * spills into rxbufs: then it is gathered whole. False when nothing was
 * waiting.
 */
static bool recv_direct(struct udp_dev *u, struct udp_psock *ps, unsigned char *slot, uint32_t room)
{
	unsigned char hdr[UDP_HDR_LEN], *spill = u->rxbufs, *whole = u->rxbufs + UDP_DGRAM_MAX;
	struct iovec iov[3] = { { hdr, sizeof(hdr) }, { slot, room }, { spill, UDP_DGRAM_MAX } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 3 };
	struct udp_rxd d = { .hdr = hdr, .body = slot, .spill = spill };
	ssize_t n = recvmsg(ps->fd, &m, MSG_DONTWAIT);

	if (n < 0) {
		rx_failed(u, ps->fd);
		return false;
	}
	d.n = (size_t)n;
	d.body_len = d.n < UDP_HDR_LEN ? 0 : d.n - UDP_HDR_LEN < room ? d.n - UDP_HDR_LEN : room;
	if (hdr_len_field(hdr, d.n) > room) { /* a payload beyond the slot */
		memcpy(whole, hdr, UDP_HDR_LEN);
		memcpy(whole + UDP_HDR_LEN, slot, d.body_len);
		memcpy(whole + UDP_HDR_LEN + d.body_len, spill, d.n - UDP_HDR_LEN - d.body_len);
		dgram_from(u, whole, d.n, ps, NULL, 0);
		return true;
	}
	udp_dgram_input_peer(u, &d, ps);
	return true;
}

/*
 * Large frames stream in from ps's peer: each is read into the endpoint's
 * next Rx buffer (one copy less); without a buffer free, the batch way.
 */
static void psock_direct(struct udp_dev *u, struct udp_psock *ps)
{
	for (unsigned i = 0; i < UDP_BATCH && ps->direct_ep; i++) {
		uint32_t room;
		unsigned char *slot = udp_rx_target(ps->direct_ep, ps, &room);

		if (!slot) {
			sock_drain(u, ps->fd, ps);
			return;
		}
		if (!recv_direct(u, ps, slot, room))
			return;
	}
}

/* Every socket, everything waiting; nonblocking. */
void udp_rx_drain(struct udp_dev *u)
{
	udp_tx_begin(u); /* acks, resends and resets it causes: one sendmmsg */
	for (unsigned r = 0; u->xsk && r < 64 && udp_xsk_rx(u, UDP_BATCH, 0) == UDP_BATCH; r++)
		; /* as sock_drain: at most 64 batches a pass, the timers run between */
	sock_drain(u, u->sock, NULL);
	for (unsigned i = 0; i < UDP_PEER_SOCKS; i++) {
		struct udp_psock *ps = &u->psock[i];

		if (ps->fd < 0)
			continue;
		if (ps->direct_ep)
			psock_direct(u, ps);
		sock_drain(u, ps->fd, ps);
	}
	udp_tx_flush(u);
}

/*
 * One datagram with a plain recv, and back to the caller (a ping-pong's
 * reply waits on it); the rest batched while a message streams in.
 */
static void sock_poll(struct udp_dev *u, int fd, struct udp_psock *ps)
{
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	struct udp_rxd d;
	ssize_t n;

	if (ps && ps->direct_ep) {
		psock_direct(u, ps);
		return;
	}
	if (ps)
		n = recv(fd, u->rxbufs, UDP_DGRAM_MAX, MSG_DONTWAIT);
	else
		n = recvfrom(fd, u->rxbufs, UDP_DGRAM_MAX, MSG_DONTWAIT, (struct sockaddr *)&from,
			     &fromlen);
	if (n < 0) {
		rx_failed(u, fd);
		return;
	}
	d = udp_rxd_whole(u->rxbufs, (size_t)n);
	udp_dgram_input_at(u, &d, &from, fromlen, ps, u->clock_us); /* the pass's clock */
	if (more_coming(u->rxbufs, n))
		sock_drain(u, fd, ps);
}

/*
 * A polling caller's pass: the connected sockets every time, the
 * unconnected one every MAIN_POLL_EVERY passes while no channel sends
 * through it (then only hellos of new peers and stragglers arrive there).
 * now: the clock, read under the lock; a datagram read by plain recv takes
 * it as its arrival time (no clock read between recv and the reply).
 */
void udp_rx_poll(struct udp_dev *u, uint64_t now)
{
	u->clock_us = now;
	udp_tx_begin(u);
	if (u->xsk) /* the ring first, without a system call; the socket now and then */
		udp_xsk_rx(u, UDP_BATCH, now);
	for (unsigned i = 0; i < UDP_PEER_SOCKS; i++)
		if (u->psock[i].fd >= 0)
			sock_poll(u, u->psock[i].fd, &u->psock[i]);
	if ((u->main_chans && !u->xsk) || ++u->main_skips >= MAIN_POLL_EVERY) {
		u->main_skips = 0;
		sock_poll(u, u->sock, NULL);
	}
	udp_tx_flush(u);
}

/* A poll set: first (the thread's stop fd, a receive's endpoint fd), then every socket (not locked). */
unsigned udp_sock_pollfds(struct udp_dev *u, struct pollfd *pfd, int first, bool with_socks)
{
	unsigned n = 0;

	pfd[n++] = (struct pollfd){ .fd = first, .events = POLLIN };
	if (!with_socks)
		return n;
	pfd[n++] = (struct pollfd){ .fd = u->sock, .events = POLLIN };
	if (clcp_load_relaxed(&u->xsk_fd) >= 0)
		pfd[n++] = (struct pollfd){ .fd = clcp_load_relaxed(&u->xsk_fd), .events = POLLIN };
	for (unsigned i = 0; i < UDP_PEER_SOCKS; i++) {
		int fd = clcp_load_relaxed(&u->psock[i].fd);

		if (fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
	}
	return n;
}
