/* SPDX-License-Identifier: MIT */
/*
 * clcp_pingpong: the loopback floor, two processes sharing one anonymous
 * mapping: a cache-line ping-pong, a ping-pong copying the payload in and
 * out, one core's memcpy bandwidth, and the blocking wake-up floor: a
 * ping-pong where each side sleeps on a futex until the other wakes it.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pp.h"

/* --- the floor: two processes, one shared anonymous mapping --- */

enum shm_cmd { SHM_ROUNDS = 1, SHM_WAKE, SHM_QUIT };

struct floor_shm {
	_Alignas(64) uint64_t ping; /* client: sequence number it sent */
	_Alignas(64) uint64_t pong; /* server: sequence number it answered */
	_Alignas(64) uint32_t kind;
	uint32_t pad;
	uint64_t size; /* payload copied in and out (0: flag only) */
	uint64_t count;
	_Alignas(64) uint32_t wping; /* futex words of the wake-up floor */
	_Alignas(64) uint32_t wpong;
	_Alignas(64) uint32_t wcmd; /* commands given */
	uint32_t awake;		    /* 1: spin for the next command (a point is on), 0: sleep */
};

struct floor {
	struct floor_shm *shm;
	unsigned char *slot_a, *slot_b; /* client -> server, server -> client */
	size_t slot_len, map_len;
	uint64_t seq;
	pid_t pid;	  /* the server */
	struct lat *runs; /* per size, per repeat */
};

static void spin_until(const uint64_t *flag, uint64_t v)
{
	while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) != v)
		clcp_cpu_relax();
}

static void floor_map(struct floor *f, size_t max_size)
{
	size_t page = 4096;
	unsigned char *p;

	f->slot_len = (max_size + page - 1) / page * page;
	f->map_len = page + 2 * f->slot_len;
	p = mmap(NULL, f->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		fail("mmap %zu bytes: %s", f->map_len, strerror(errno));
	memset(p, 0, f->map_len);
	f->shm = (struct floor_shm *)p;
	f->slot_a = p + page;
	f->slot_b = p + page + f->slot_len;
	f->seq = 0;
}

/*
 * Waits until *word is v (shared futex: the two processes share the page):
 * spinning while *awake (if given) is set, else asleep.
 */
static void futex_until(uint32_t *word, uint32_t v, const uint32_t *awake)
{
	uint32_t cur;

	while ((cur = __atomic_load_n(word, __ATOMIC_ACQUIRE)) != v) {
		if (awake && __atomic_load_n(awake, __ATOMIC_RELAXED))
			clcp_cpu_relax();
		else
			syscall(SYS_futex, word, FUTEX_WAIT, cur, NULL, NULL, 0);
	}
}

static void futex_set(uint32_t *word, uint32_t v)
{
	__atomic_store_n(word, v, __ATOMIC_RELEASE);
	syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* The wake-up floor's server: each ping wakes it, it wakes the client back. */
static void wake_serve(struct floor_shm *s, uint64_t count)
{
	for (uint64_t i = 0; i < count; i++) {
		uint32_t want = __atomic_load_n(&s->wpong, __ATOMIC_RELAXED) + 1;

		futex_until(&s->wping, want, NULL);
		futex_set(&s->wpong, want);
	}
}

/* The floor's server: answers each ping, copying out and back in. */
static _Noreturn void floor_child(struct floor *f)
{
	struct floor_shm *s = f->shm;
	unsigned char *priv = xalloc(f->slot_len);
	uint64_t seq = 0;
	uint32_t cmds = 0;

	for (;;) {
		/* spinning while a point is on (batches come back to back, as
		 * ours do), asleep between points (our ends have the CPU then) */
		futex_until(&s->wcmd, ++cmds, &s->awake);
		spin_until(&s->ping, ++seq);
		uint32_t kind = s->kind;
		size_t size = (size_t)s->size;
		uint64_t count = s->count;

		__atomic_store_n(&s->pong, seq, __ATOMIC_RELEASE);
		if (kind == SHM_QUIT)
			_exit(0);
		if (kind == SHM_WAKE) {
			wake_serve(s, count);
			continue;
		}
		for (uint64_t i = 0; i < count; i++) {
			spin_until(&s->ping, ++seq);
			memcpy(priv, f->slot_a, size);
			memcpy(f->slot_b, priv, size);
			__atomic_store_n(&s->pong, seq, __ATOMIC_RELEASE);
		}
	}
}

static void floor_ping(struct floor *f)
{
	f->seq++;
	__atomic_store_n(&f->shm->ping, f->seq, __ATOMIC_RELEASE);
	spin_until(&f->shm->pong, f->seq);
}

static void floor_cmd(struct floor *f, uint32_t kind, size_t size, unsigned count)
{
	f->shm->kind = kind;
	f->shm->size = size;
	f->shm->count = count;
	futex_set(&f->shm->wcmd, f->shm->wcmd + 1);
	floor_ping(f);
}

/* A batch_fn: n round trips of the floor. */
static unsigned floor_rounds(struct bench *bn, void *arg, size_t size, unsigned first,
			     uint64_t *out, unsigned n)
{
	struct floor *f = arg;
	const unsigned char *src = bn->bufs.tx;
	unsigned char *dst = bn->bufs.rx;

	(void)first;
	alarm(bn->o->timeout_s);
	floor_cmd(f, SHM_ROUNDS, size, n);
	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = ticks();

		memcpy(f->slot_a, src, size);
		floor_ping(f);
		memcpy(dst, f->slot_b, size);
		out[i] = ticks() - t0;
	}
	alarm(0);
	return n;
}

/* A batch_fn: n round trips of the wake-up floor. */
static unsigned wake_rounds(struct bench *bn, void *arg, size_t size, unsigned first,
			    uint64_t *out, unsigned n)
{
	struct floor_shm *s = ((struct floor *)arg)->shm;

	(void)size;
	(void)first;
	alarm(bn->o->timeout_s);
	floor_cmd(arg, SHM_WAKE, 0, n);
	for (unsigned i = 0; i < n; i++) {
		uint32_t want = s->wping + 1;
		uint64_t t0 = ticks();

		futex_set(&s->wping, want);
		futex_until(&s->wpong, want, NULL);
		out[i] = ticks() - t0;
	}
	alarm(0);
	return n;
}

/* Like lat_point, for the floor: half the time budget per size. */
static struct lat floor_lat(struct bench *bn, struct floor *f, size_t size, unsigned n)
{
	return sample_point(bn, floor_rounds, f, size, n, bn->o->point_ms / 2 + 1);
}

/* The cache-line and wake-up floors, medians of --repeat runs. */
static void floor_cl_wake(struct bench *bn, struct floor *f)
{
	unsigned reps = bn->o->repeat;
	struct lat *runs = calloc(reps, sizeof *runs);

	if (runs == NULL)
		fail("out of memory");
	__atomic_store_n(&f->shm->awake, 1u, __ATOMIC_RELAXED);
	for (unsigned r = 0; r < reps; r++)
		runs[r] = floor_lat(bn, f, 0, FLOOR_CL_ITERS);
	__atomic_store_n(&f->shm->awake, 0u, __ATOMIC_RELAXED);
	bn->floor.cl = lat_median(runs, reps);
	for (unsigned r = 0; r < reps; r++)
		runs[r] = sample_point(bn, wake_rounds, f, 0, FLOOR_WAKE_ITERS, bn->o->point_ms);
	bn->floor.wake = lat_median(runs, reps);
	free(runs);
}

/* Single-core memcpy bandwidth for a size, over about ms. */
static double memcpy_mbps(unsigned char *dst, const unsigned char *src, size_t size, unsigned ms)
{
	unsigned batch = size >= (1u << 20) ? 1 : (unsigned)((1u << 20) / size);
	uint64_t bytes = 0, t0, t;

	memcpy(dst, src, size);
	t0 = ticks();
	do {
		for (unsigned k = 0; k < batch; k++) {
			memcpy(dst, src, size);
			__asm__ __volatile__("" : : "r"(dst) : "memory");
		}
		bytes += (uint64_t)batch * size;
		t = ticks();
	} while (ticks_ns(t - t0) < ms * 1e6);
	return (double)bytes / ticks_ns(t - t0) * 1e3;
}

/* Starts the floor's server (asleep until the first command) beside ours. */
struct floor *floor_shm_open(struct bench *bn)
{
	struct floor *f = xalloc(sizeof *f);
	pid_t server = peer_pid; /* a failure reports the server's end: it has the news */

	f->runs = calloc((size_t)bn->nsizes * bn->o->repeat, sizeof *f->runs);
	if (f->runs == NULL)
		fail("out of memory");
	floor_map(f, bn->sizes[bn->nsizes - 1]);
	f->pid = fork_peer(bn->cpu[1]);
	if (f->pid == 0)
		floor_child(f);
	if (server > 0)
		peer_pid = server;
	in_call = "the floor's shared-memory ping-pong";
	/* Untimed: the child starts up and faults its pages in. */
	floor_rounds(bn, f, bn->sizes[bn->nsizes - 1], 0, bn->rtt, WARM_MIN);
	return f;
}

/* Size i of repeat r, as ours is measured. */
void floor_shm_point(struct bench *bn, struct floor *f, unsigned i, unsigned r)
{
	in_call = "the floor's shared-memory ping-pong";
	__atomic_store_n(&f->shm->awake, 1u, __ATOMIC_RELAXED);
	f->runs[(size_t)i * bn->o->repeat + r] =
		floor_lat(bn, f, bn->sizes[i], lat_iters(bn->o, bn->sizes[i]));
	__atomic_store_n(&f->shm->awake, 0u, __ATOMIC_RELAXED);
}

/* The other floors, then the medians; the per-repeat points stay for the ratios. */
void floor_shm_close(struct bench *bn, struct floor *f)
{
	in_call = "the floor's shared-memory ping-pong";
	floor_cl_wake(bn, f);
	alarm(bn->o->timeout_s);
	floor_cmd(f, SHM_QUIT, 0, 0);
	alarm(0);
	wait_peer(f->pid, bn->o->timeout_s);
	munmap(f->shm, f->map_len);
	for (unsigned i = 0; i < bn->nsizes; i++) {
		bn->floor.pp[i] = lat_median(&f->runs[(size_t)i * bn->o->repeat], bn->o->repeat);
		bn->floor.mbps[i] = memcpy_mbps(bn->bufs.rx, bn->bufs.tx, bn->sizes[i],
						bn->o->point_ms / 4 + 1);
	}
	bn->floor.pp_runs = f->runs;
	bn->floor.kind = FLOOR_SHM;
	bn->have_floor = true;
	free(f);
}

/* The floor after ours (its ends on the client's CPUs). */
void floor_run_shm(struct bench *bn)
{
	struct floor *f;

	pin_to(bn->cpu[0]);
	f = floor_shm_open(bn);
	for (unsigned r = 0; r < bn->o->repeat; r++)
		for (unsigned i = 0; i < bn->nsizes; i++)
			floor_shm_point(bn, f, i, r);
	floor_shm_close(bn, f);
}
