/* SPDX-License-Identifier: MIT */
/* The fault-injecting UDP relay of the fault tests (relay.h). */
#include "relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DGRAM_MAX 65536
#define QUEUE_MAX 65536 /* datagrams held at once; more are dropped (overflow) */
#define SOCK_BUF (8 << 20)

/* A datagram held until its time, for one side. */
struct held {
	uint64_t due_us, order; /* order: arrival number, breaks ties */
	uint64_t arrival;	/* per direction: to count reordering */
	int dir;		/* 0: A to B, 1: B to A */
	uint32_t len;
	unsigned char *data;
};

struct relay {
	const struct relay_conf *c;
	struct relay_stats *st;
	uint64_t rng[2];	 /* one generator per direction */
	uint64_t arrivals[2], last_sent[2];
	struct held *heap;	 /* min-heap on (due_us, order) */
	uint32_t n;
	uint64_t order;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* splitmix64: small, seedable, good enough for fault decisions. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static bool chance(uint64_t *s, uint32_t pm)
{
	return rnd(s) % 1000u < pm;
}

int relay_socket(uint16_t port, uint16_t *bound)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), sz = SOCK_BUF;

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	if (bound)
		*bound = ntohs(sa.sin_port);
	return fd;
}

static bool before(const struct held *a, const struct held *b)
{
	return a->due_us < b->due_us || (a->due_us == b->due_us && a->order < b->order);
}

static void heap_push(struct relay *r, const struct held *h)
{
	uint32_t i = r->n++;

	while (i > 0 && before(h, &r->heap[(i - 1) / 2])) {
		r->heap[i] = r->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	r->heap[i] = *h;
}

static struct held heap_pop(struct relay *r)
{
	struct held top = r->heap[0], last = r->heap[--r->n];
	uint32_t i = 0, k;

	while ((k = 2 * i + 1) < r->n) {
		if (k + 1 < r->n && before(&r->heap[k + 1], &r->heap[k]))
			k++;
		if (!before(&r->heap[k], &last))
			break;
		r->heap[i] = r->heap[k];
		i = k;
	}
	r->heap[i] = last;
	return top;
}

/* Delay of one copy: delay +- jitter, plus up to reorder_us for a share. */
static uint64_t delay_of(struct relay *r, int dir)
{
	const struct relay_conf *c = r->c;
	uint64_t d = c->delay_us - c->jitter_us + rnd(&r->rng[dir]) % (2ull * c->jitter_us + 1);

	if (chance(&r->rng[dir], c->reorder_pm)) {
		r->st->delayed++;
		d += 1 + rnd(&r->rng[dir]) % c->reorder_us;
	}
	return d;
}

/* Flips 1..3 bytes anywhere in the datagram (header, payload or CRC). */
static void corrupt(struct relay *r, int dir, unsigned char *b, uint32_t len)
{
	uint32_t k = 1 + (uint32_t)(rnd(&r->rng[dir]) % 3);

	while (k--)
		b[rnd(&r->rng[dir]) % len] ^= (unsigned char)(1 + rnd(&r->rng[dir]) % 255);
	r->st->corrupted++;
}

static void hold(struct relay *r, int dir, const unsigned char *b, uint32_t len, uint64_t now)
{
	struct held h = { .order = r->order++, .arrival = r->arrivals[dir], .dir = dir,
			  .len = len };

	if (r->n == QUEUE_MAX || !(h.data = malloc(len ? len : 1))) {
		r->st->overflow++;
		return;
	}
	memcpy(h.data, b, len);
	if (len && chance(&r->rng[dir], r->c->corrupt_pm))
		corrupt(r, dir, h.data, len);
	h.due_us = now + delay_of(r, dir);
	heap_push(r, &h);
}

/* One datagram in: lost, or held (once or twice) for its delay. */
static void arrive(struct relay *r, int dir, const unsigned char *b, uint32_t len)
{
	uint64_t now = now_us();

	r->st->rx++;
	r->arrivals[dir]++;
	if (chance(&r->rng[dir], r->c->loss_pm)) {
		r->st->lost++;
		return;
	}
	hold(r, dir, b, len, now);
	if (chance(&r->rng[dir], r->c->dup_pm)) {
		r->st->dups++;
		hold(r, dir, b, len, now);
	}
}

static void send_due(struct relay *r)
{
	uint64_t now = now_us();

	while (r->n && r->heap[0].due_us <= now) {
		struct held h = heap_pop(r);
		int out = h.dir == 0 ? r->c->b_side : r->c->a_side;
		struct sockaddr_in to = {
			.sin_family = AF_INET,
			.sin_port = htons(h.dir == 0 ? r->c->b_port : r->c->a_port),
			.sin_addr.s_addr = htonl(INADDR_LOOPBACK)
		};

		if (h.arrival < r->last_sent[h.dir])
			r->st->reordered++;
		else
			r->last_sent[h.dir] = h.arrival;
		if (sendto(out, h.data, h.len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to)) < 0)
			r->st->overflow++; /* the receiver's socket is full, or it is gone */
		else
			r->st->tx++;
		free(h.data);
	}
}

static void drain(struct relay *r, int fd, int dir, unsigned char *buf)
{
	ssize_t n;

	while ((n = recv(fd, buf, DGRAM_MAX, MSG_DONTWAIT)) >= 0)
		arrive(r, dir, buf, (uint32_t)n);
}

static int next_timeout_ms(const struct relay *r)
{
	uint64_t now = now_us();

	if (!r->n)
		return 100;
	return r->heap[0].due_us <= now ? 0 : (int)((r->heap[0].due_us - now + 999) / 1000);
}

int relay_run(const struct relay_conf *c, int stop_fd, struct relay_stats *st)
{
	struct relay r = { .c = c, .st = st, .rng = { c->seed, c->seed ^ 0x5bd1e995u } };
	unsigned char *buf = malloc(DGRAM_MAX);
	struct pollfd pfd[3] = { { c->a_side, POLLIN, 0 }, { c->b_side, POLLIN, 0 },
				 { stop_fd, POLLIN, 0 } };

	memset(st, 0, sizeof(*st));
	r.heap = calloc(QUEUE_MAX, sizeof(*r.heap));
	if (!buf || !r.heap) {
		free(buf);
		free(r.heap);
		return -ENOMEM;
	}
	while (!(pfd[2].revents & (POLLIN | POLLHUP))) {
		/* The delay has a 1 ms grain: poll() sleeps whole milliseconds. */
		if (poll(pfd, 3, next_timeout_ms(&r)) < 0 && errno != EINTR)
			break;
		drain(&r, c->a_side, 0, buf);
		drain(&r, c->b_side, 1, buf);
		send_due(&r);
	}
	while (r.n)
		free(heap_pop(&r).data);
	free(r.heap);
	free(buf);
	return 0;
}
