/* SPDX-License-Identifier: MIT */
/* clcp_pingpong: the timer and the statistics of samples. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pp.h"

/* --- timer: ticks() in pp.h --- */

static double ns_per_tick = 1.0;

uint64_t clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double ticks_ns(uint64_t t)
{
	return (double)t * ns_per_tick;
}

/* Calibrates ticks against CLOCK_MONOTONIC over 20 ms. */
void timer_calibrate(void)
{
	uint64_t n0 = clock_ns(), t0 = ticks(), n1, t1;

	do
		n1 = clock_ns();
	while (n1 - n0 < 20 * 1000 * 1000);
	t1 = ticks();
	ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
}

/* Cost of one timer read, which every sample includes once. */
double timer_read_ns(void)
{
	uint64_t t0 = ticks(), t = 0;

	for (int i = 0; i < 1000; i++)
		t += ticks();
	__asm__ __volatile__("" : : "r"(t));
	return ticks_ns(ticks() - t0) / 1001.0;
}

/* --- statistics --- */

int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile (pct of 100) of n sorted samples. */
static uint64_t percentile(const uint64_t *sorted, unsigned n, unsigned pct)
{
	uint64_t rank = ((uint64_t)n * pct + 99) / 100;

	return sorted[rank == 0 ? 0 : rank - 1];
}

/* One-way latency from round-trip samples (in ticks); sorts them. */
struct lat lat_from_rtt(uint64_t *rtt, unsigned n)
{
	struct lat l = { 0, 0, 0, n };
	double sum = 0;

	if (n == 0)
		return l;
	qsort(rtt, n, sizeof *rtt, cmp_u64);
	for (unsigned i = 0; i < n; i++)
		sum += (double)rtt[i];
	l.p50 = ticks_ns(percentile(rtt, n, 50)) / 2;
	l.p99 = ticks_ns(percentile(rtt, n, 99)) / 2;
	l.mean = ticks_ns(1) * sum / n / 2;
	return l;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median over n runs of the double at offset off of struct lat. */
static double median_field(const struct lat *runs, unsigned n, size_t off)
{
	double v[MAX_REPEAT];

	for (unsigned i = 0; i < n; i++)
		memcpy(&v[i], (const char *)&runs[i] + off, sizeof v[i]);
	return median(v, n);
}

/* Median of each figure over n repeated runs. */
struct lat lat_median(const struct lat *runs, unsigned n)
{
	struct lat m = { 0, 0, 0, runs[0].n };

	m.p50 = median_field(runs, n, offsetof(struct lat, p50));
	m.p99 = median_field(runs, n, offsetof(struct lat, p99));
	m.mean = median_field(runs, n, offsetof(struct lat, mean));
	return m;
}
