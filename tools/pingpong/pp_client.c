/* SPDX-License-Identifier: MIT */
/* clcp_pingpong: the client's measurements, latency and bandwidth. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pp.h"

/* --- client: measurements --- */

/* Powers of two from --min up to max_size. */
void sizes_init(struct bench *bn, uint64_t max_size)
{
	uint64_t s = bn->o->min_size;

	for (bn->nsizes = 0; s <= max_size && bn->nsizes < MAX_SIZES; s *= 2)
		bn->sizes[bn->nsizes++] = (size_t)s;
}

/* Round trips for a size before scaling: --iters, or FILL_ITERS under --fill. */
unsigned base_iters(const struct opts *o)
{
	return o->fill ? FILL_ITERS : o->iters;
}

/* Round trips for a size: base_iters, fewer for large sizes. */
unsigned lat_iters(const struct opts *o, size_t size)
{
	uint64_t n = base_iters(o);
	unsigned floor_n = o->iters < LAT_MIN_ITERS ? o->iters : LAT_MIN_ITERS;

	if (size > SCALE_FROM)
		n = n * SCALE_FROM / size;
	return n < floor_n ? floor_n : (unsigned)n;
}

static unsigned warm_iters(const struct opts *o, unsigned n)
{
	unsigned w = n / 10 < WARM_MIN ? WARM_MIN : n / 10;

	return o->warmup < w ? o->warmup : w;
}

/* Lowers n to fit budget_ms at per_ns each, keeping LAT_MIN_ITERS. */
static unsigned cap_by_time(unsigned n, double per_ns, unsigned budget_ms)
{
	double fit = budget_ms * 1e6 / (per_ns > 1 ? per_ns : 1);
	unsigned lo = n < LAT_MIN_ITERS ? n : LAT_MIN_ITERS;

	if (fit >= n)
		return n;
	return fit < lo ? lo : (unsigned)fit;
}

static unsigned run_lat(struct bench *bn, void *arg, size_t size, unsigned first, uint64_t *out,
			unsigned n)
{
	struct link *l = &bn->link;
	struct bufs *b = &bn->bufs;
	struct ctrl c = { .kind = CTRL_LAT,
			  .mode = l->mode,
			  .size = (uint32_t)size,
			  .count = n,
			  .check = bn->o->check,
			  .first = first };
	bool msg = l->api == API_MSG;
	unsigned kept = 0;

	(void)arg;
	alarm(bn->o->timeout_s);
	send_ctrl(l, &c);
	if (msg) /* a stuck peer shows in the receive */
		in_call = msg_call(l, false);
	for (unsigned i = first; i < first + n; i++) {
		bool chk = check_iter(bn->o->check, i);
		const void *data = b->rx;
		uint64_t t0, t1;

		if (chk)
			fill_pattern(b->tx, size, i);
		t0 = ticks();
		if (msg) { /* the inline calls with nothing between, as the floor's loop */
			link_msg_send(l, b->tx, size);
			link_msg_recv(l, b->rx, b->cap, size);
		} else {
			link_send(l, b->tx, size);
			data = link_recv_len(l, b->rx, b->cap, size);
		}
		t1 = ticks();
		if (chk)
			verify_pattern(data, size, i, "client");
		else
			out[kept++] = t1 - t0;
		link_done(l);
	}
	alarm(0);
	return kept;
}

/* Round-trip cost from warmup samples: the mean of the fastest 90%. */
static double warm_rtt_ns(struct bench *bn, unsigned kept)
{
	unsigned n = kept - kept / 10;
	double sum = 0;

	if (kept == 0)
		return 0;
	qsort(bn->rtt, kept, sizeof *bn->rtt, cmp_u64);
	for (unsigned i = 0; i < n; i++)
		sum += (double)bn->rtt[i];
	return ticks_ns(1) * sum / n;
}

static bool over_budget(uint64_t t0, unsigned budget_ms)
{
	return ticks_ns(ticks() - t0) > POINT_OVERRUN * 1e6 * budget_ms;
}

/* Units of per_ns each that fit an eighth of budget_ms: at least 1, at most cap. */
static unsigned chunk_fit(double per_ns, unsigned budget_ms, unsigned cap)
{
	double fit = budget_ms * 1e6 / POINT_CHUNKS / (per_ns > 1 ? per_ns : 1);

	return fit < 1 ? 1 : fit < cap ? (unsigned)fit : cap;
}

/*
 * Round trips of one size: a warmup sizes the run to budget_ms, then
 * chunks run until n samples are kept, each sized by what the last took
 * (a machine that gets busy meanwhile does not stretch a chunk). On a busy
 * machine it stops past POINT_OVERRUN budgets, with at least MIN_KEPT.
 * --iters is obeyed.
 */
struct lat sample_point(struct bench *bn, batch_fn *run, void *arg, size_t size, unsigned n,
			unsigned budget_ms)
{
	bool timed = !bn->o->iters_set;
	unsigned w = warm_iters(bn->o, n), kept = 0, done = 0, chunk;
	double per = w ? warm_rtt_ns(bn, run(bn, arg, size, 0, bn->rtt, w)) : 0;
	uint64_t t0;

	if (per > 0 && timed)
		n = cap_by_time(n, per, budget_ms);
	chunk = n / POINT_CHUNKS + 1;
	t0 = ticks();
	while (kept < n) {
		unsigned c = n - kept < chunk ? n - kept : chunk;
		uint64_t t = ticks();

		kept += run(bn, arg, size, done, bn->rtt + kept, c);
		done += c;
		if (!timed)
			continue;
		if (kept >= MIN_KEPT && over_budget(t0, budget_ms))
			break;
		chunk = chunk_fit(ticks_ns(ticks() - t) / c, budget_ms, n / POINT_CHUNKS + 1);
	}
	return lat_from_rtt(bn->rtt, kept);
}

static struct lat lat_point(struct bench *bn, size_t size)
{
	return sample_point(bn, run_lat, NULL, size, lat_iters(bn->o, size), bn->o->point_ms);
}

/* Rounds of window messages, each answered by an ack; returns ns. */
static double run_bw(struct bench *bn, size_t size, unsigned window, unsigned rounds)
{
	struct link *l = &bn->link;
	struct bufs *b = &bn->bufs;
	struct ctrl c = { .kind = CTRL_BW,
			  .mode = l->mode,
			  .size = (uint32_t)size,
			  .count = rounds,
			  .window = window,
			  .check = bn->o->check };
	uint64_t t0;

	if (bn->o->check)
		fill_pattern(b->tx, size, 0);
	alarm(bn->o->timeout_s);
	send_ctrl(l, &c);
	t0 = ticks();
	for (unsigned r = 0; r < rounds; r++) {
		for (unsigned w = 0; w < window; w++)
			link_send(l, b->tx, size);
		link_recv_len(l, b->rx, b->cap, ACK_LEN);
		link_done(l);
	}
	alarm(0);
	return ticks_ns(ticks() - t0);
}

/* Messages per bandwidth round: BW_WINDOW, at most BW_WINDOW_BYTES. */
unsigned bw_window(size_t size)
{
	unsigned window = BW_WINDOW_BYTES / size;

	return window < 2 ? 2 : window > BW_WINDOW ? BW_WINDOW : window;
}

/* Streaming bandwidth in MB/s (1e6 bytes per second). */
static double bw_point(struct bench *bn, size_t size)
{
	unsigned window = bw_window(size), budget = bn->o->point_ms;
	unsigned rounds, chunk, done = 0;
	double per, fit, ns = 0;

	per = run_bw(bn, size, window, BW_WARM_ROUNDS) / BW_WARM_ROUNDS;
	fit = budget * 1e6 / (per > 1 ? per : 1);
	rounds = fit < BW_MIN_ROUNDS ? BW_MIN_ROUNDS :
		 fit > BW_MAX_ROUNDS ? BW_MAX_ROUNDS :
				       (unsigned)fit;
	chunk = rounds / POINT_CHUNKS + 1;
	while (done < rounds && ns <= POINT_OVERRUN * 1e6 * budget) {
		unsigned c = rounds - done < chunk ? rounds - done : chunk;
		double took = run_bw(bn, size, window, c);

		ns += took;
		done += c;
		chunk = chunk_fit(took / c, budget, rounds / POINT_CHUNKS + 1);
	}
	return (double)size * window * done / ns * 1e3;
}

static bool mode_on(const struct bench *bn, int m)
{
	return bn->o->modes & (1u << m);
}

/* The server waits for the next command asleep: the floor has its CPU. */
static void server_sleep(struct bench *bn)
{
	link_set_mode(&bn->link, MODE_INTR);
	run_lat(bn, NULL, bn->sizes[0], 0, bn->rtt, 0);
}

/*
 * Every size in every mode asked for, the modes taken in turn at each
 * point, and the live floor's point right after: the machine's slow
 * spells (seconds long) then hit them alike.
 */
static void measure_modes(struct bench *bn)
{
	unsigned reps = bn->o->repeat, ns = bn->nsizes;
	struct lat *runs = calloc((size_t)NMODES * ns * reps, sizeof *runs);

	if (runs == NULL)
		fail("out of memory");
	for (unsigned r = 0; r < reps; r++)
		for (unsigned i = 0; i < ns; i++) {
			for (int m = 0; m < NMODES; m++)
				if (mode_on(bn, m)) {
					link_set_mode(&bn->link, (enum mode)m);
					runs[((size_t)m * ns + i) * reps + r] = lat_point(bn, bn->sizes[i]);
				}
			if (bn->live) {
				server_sleep(bn);
				floor_shm_point(bn, bn->live, i, r);
			}
		}
	for (unsigned i = 0; i < ns; i++)
		for (int m = 0; m < NMODES; m++)
			if (mode_on(bn, m)) {
				link_set_mode(&bn->link, (enum mode)m);
				bn->pt[m][i].size = bn->sizes[i];
				bn->pt[m][i].lat = lat_median(&runs[((size_t)m * ns + i) * reps], reps);
				bn->pt[m][i].mbps = bw_point(bn, bn->sizes[i]);
			}
	bn->lat_runs = runs;
	for (int m = 0; m < NMODES; m++)
		if (mode_on(bn, m)) {
			bn->have[m] = true;
			print_table(bn, (enum mode)m);
		}
}

static void client_finish(struct bench *bn)
{
	struct ctrl c = { .kind = CTRL_DONE, .mode = bn->link.mode };

	alarm(bn->o->timeout_s);
	send_ctrl(&bn->link, &c);
	link_recv_len(&bn->link, bn->bufs.rx, bn->bufs.cap, ACK_LEN);
	link_done(&bn->link);
	alarm(0);
}

/*
 * Untimed: the first send waits for the server to bind its port, and the
 * first pass over each queue entry and its buffer pages is slow.
 */
static void client_connect(struct bench *bn)
{
	const struct opts *o = bn->o;
	unsigned qlen = o->rxq > o->txq ? o->rxq : o->txq;
	size_t size = o->max_size < bn->mtu ? (size_t)o->max_size : bn->mtu;

	/* Blocking: spinning ends crawl when --null processes fill the CPUs. */
	link_set_mode(&bn->link, MODE_INTR);
	run_lat(bn, NULL, size, 0, bn->rtt, 2 * qlen + WARM_MIN);
}

void client(struct bench *bn)
{
	client_connect(bn);
	measure_modes(bn);
	client_finish(bn);
}
