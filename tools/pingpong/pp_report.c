/* SPDX-License-Identifier: MIT */
/* clcp_pingpong: the header, tables, ratios, CSV and counters. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pp.h"

/* --- tables and ratios --- */

void print_table(const struct bench *bn, enum mode m)
{
	const struct opts *o = bn->o;

	printf("\n== mode %s, api %s", mode_names[m], api_names[o->api]);
	if (o->repeat > 1)
		printf(", latency: median of %u runs", o->repeat);
	printf(" ==\n%9s %10s %10s %10s %7s %10s %8s\n", "size", "p50 us", "p99 us", "mean us",
	       "iters", "MB/s", "GB/s");
	for (unsigned i = 0; i < bn->nsizes; i++) {
		const struct point *p = &bn->pt[m][i];

		printf("%9zu %10.3f %10.3f %10.3f %7u %10.1f %8.2f\n", p->size, p->lat.p50 / 1e3,
		       p->lat.p99 / 1e3, p->lat.mean / 1e3, p->lat.n, p->mbps, p->mbps / 1e3);
	}
	fflush(stdout);
}

static void print_cpus(const struct bench *bn)
{
	if (bn->cpu[0] < 0)
		printf("not pinned");
	else if (bn->cpu[1] < 0)
		printf("CPU %d", bn->cpu[0]);
	else
		printf("CPUs %d,%d", bn->cpu[0], bn->cpu[1]);
}

static bool ratio_is_bw(size_t size)
{
	return size >= RATIO_BW_FROM;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median over the repeats of ours / the floor measured right after it. */
static double paired_ratio(const struct bench *bn, enum mode m, unsigned i)
{
	unsigned reps = bn->o->repeat, ns = bn->nsizes;
	const struct lat *ours = &bn->lat_runs[((size_t)m * ns + i) * reps];
	const struct lat *fl = &bn->floor.pp_runs[(size_t)i * reps];
	double r[MAX_REPEAT];

	for (unsigned k = 0; k < reps; k++)
		r[k] = ours[k].p50 / fl[k].p50;
	qsort(r, reps, sizeof *r, cmp_double);
	return reps % 2 ? r[reps / 2] : (r[reps / 2 - 1] + r[reps / 2]) / 2;
}

static bool paired(const struct bench *bn)
{
	return bn->lat_runs && bn->floor.pp_runs && bn->floor.kind == FLOOR_SHM;
}

/* ours/floor: latency for small sizes, bandwidth for large ones. */
static double ratio(const struct bench *bn, enum mode m, unsigned i)
{
	const struct point *p = &bn->pt[m][i];

	if (ratio_is_bw(p->size))
		return p->mbps / bn->floor.mbps[i];
	if (paired(bn))
		return paired_ratio(bn, m, i);
	return p->lat.p50 / bn->floor.pp[i].p50;
}

static double pp_mbps(size_t size, const struct lat *pp)
{
	return size / pp->p50 * 1e3;
}

static void print_floor_shm(const struct bench *bn)
{
	const struct lat *cl = &bn->floor.cl;

	printf("\n== floor: two processes (");
	print_cpus(bn);
	printf(") through a shared page ==\ncache-line ping-pong, one-way: p50 %.1f ns, p99 %.1f ns, "
	       "mean %.1f ns (%u samples)\n",
	       cl->p50, cl->p99, cl->mean, cl->n);
	printf("wake-up ping-pong (each side asleep on a futex until the other wakes it), "
	       "one-way: p50 %.2f us, p99 %.2f us (%u samples)\n",
	       bn->floor.wake.p50 / 1e3, bn->floor.wake.p99 / 1e3, bn->floor.wake.n);
	printf("memcpy-pp: ping-pong copying the payload in and out; memcpy: "
	       "one core\n%9s %10s %10s %10s %12s\n",
	       "size", "pp p50 us", "pp p99 us", "pp MB/s", "memcpy MB/s");
	for (unsigned i = 0; i < bn->nsizes; i++) {
		const struct lat *pp = &bn->floor.pp[i];

		printf("%9zu %10.3f %10.3f %10.1f %12.1f\n", bn->sizes[i], pp->p50 / 1e3,
		       pp->p99 / 1e3, pp_mbps(bn->sizes[i], pp), bn->floor.mbps[i]);
	}
}

static void print_floor_udp(const struct bench *bn)
{
	const struct floor_res *f = &bn->floor;

	printf("\n== floor: raw UDP sockets over %s, two processes (", f->family);
	print_cpus(bn);
	printf(") ==\ndatagrams of at most %zu bytes (mtu + 32), socket buffers %d KiB; "
	       "ping-pong busy-polls recv;\nstream: up to 64 datagrams in flight, acked every 16; lost: "
	       "not there after 1 s\n"
	       "%9s %10s %10s %10s %12s %9s\n",
	       f->dgram, f->rcvbuf >> 10, "size", "pp p50 us", "pp p99 us", "pp MB/s",
	       "stream MB/s", "lost");
	for (unsigned i = 0; i < bn->nsizes; i++) {
		const struct lat *pp = &f->pp[i];

		printf("%9zu %10.3f %10.3f %10.1f %12.1f %9llu\n", bn->sizes[i], pp->p50 / 1e3,
		       pp->p99 / 1e3, pp_mbps(bn->sizes[i], pp), f->mbps[i],
		       (unsigned long long)f->lost[i]);
	}
}

void print_floor(const struct bench *bn)
{
	if (bn->floor.kind == FLOOR_UDP)
		print_floor_udp(bn);
	else
		print_floor_shm(bn);
}

/* The blocking modes' smallest size against the wake-up floor: a difference. */
static void print_wake_gap(const struct bench *bn)
{
	if (bn->floor.kind != FLOOR_SHM)
		return;
	for (int m = MODE_INTR; m < NMODES; m++)
		if (bn->have[m])
			printf("%s, %zu B: p50 %.2f us one-way, wake-up floor %.2f us: %+.2f us\n",
			       mode_names[m], bn->sizes[0], bn->pt[m][0].lat.p50 / 1e3,
			       bn->floor.wake.p50 / 1e3,
			       (bn->pt[m][0].lat.p50 - bn->floor.wake.p50) / 1e3);
}

void print_ratios(const struct bench *bn)
{
	bool udp = bn->floor.kind == FLOOR_UDP;

	printf("\n== ours / floor, same run (lat: p50 / %s p50%s; bw: streaming / %s, from %u "
	       "KiB) ==\n%9s %5s",
	       udp ? "raw UDP ping-pong" : "memcpy-pp",
	       paired(bn) ? " taken right after, median over the repeats" : "",
	       udp ? "raw UDP stream" : "memcpy", RATIO_BW_FROM >> 10, "size", "kind");
	for (int m = 0; m < NMODES; m++)
		if (bn->have[m])
			printf(" %10s", mode_names[m]);
	printf("\n");
	for (unsigned i = 0; i < bn->nsizes; i++) {
		printf("%9zu %5s", bn->sizes[i], ratio_is_bw(bn->sizes[i]) ? "bw" : "lat");
		for (int m = 0; m < NMODES; m++)
			if (bn->have[m])
				printf(" %10.2f", ratio(bn, (enum mode)m, i));
		printf("\n");
	}
	print_wake_gap(bn);
	fflush(stdout);
}

/* --- counters --- */

static void print_stat_list(const char *what, const struct clcp_stat *s, unsigned n)
{
	printf("%-8s", what);
	if (n == 0)
		printf(" (none)");
	for (unsigned i = 0; i < n; i++)
		printf("%s %s=%llu", i && i % 6 == 0 ? "\n        " : "", s[i].name,
		       (unsigned long long)s[i].value);
	printf("\n");
}

void print_counters(const char *who, const struct counters *c)
{
	printf("\n== counters: %s ==\n", who);
	print_stat_list("device", c->dev, c->ndev);
	print_stat_list("endpoint", c->ep, c->nep);
	fflush(stdout);
}

/* --- CSV --- */

static void csv_mode_rows(FILE *f, const struct bench *bn, enum mode m)
{
	for (unsigned i = 0; i < bn->nsizes; i++) {
		const struct point *p = &bn->pt[m][i];

		fprintf(f, "%s,%s,%zu,%.1f,%.1f,%.1f,%.1f,", mode_names[m], api_names[bn->o->api],
			p->size, p->lat.p50, p->lat.p99, p->lat.mean, p->mbps);
		if (bn->have_floor)
			fprintf(f, "%.1f,%.4f\n", bn->floor.pp[i].p50, ratio(bn, m, i));
		else
			fprintf(f, ",\n");
	}
}

static void csv_floor_shm(FILE *f, const struct bench *bn)
{
	const struct lat *cl = &bn->floor.cl;

	fprintf(f, "floor,cacheline,0,%.1f,%.1f,%.1f,,,\n", cl->p50, cl->p99, cl->mean);
	fprintf(f, "floor,futex_wake,0,%.1f,%.1f,%.1f,,,\n", bn->floor.wake.p50, bn->floor.wake.p99,
		bn->floor.wake.mean);
	for (unsigned i = 0; i < bn->nsizes; i++) {
		const struct lat *pp = &bn->floor.pp[i];

		fprintf(f, "floor,memcpy_pingpong,%zu,%.1f,%.1f,%.1f,%.1f,,\n", bn->sizes[i],
			pp->p50, pp->p99, pp->mean, pp_mbps(bn->sizes[i], pp));
	}
	for (unsigned i = 0; i < bn->nsizes; i++)
		fprintf(f, "floor,memcpy,%zu,,,,%.1f,,\n", bn->sizes[i], bn->floor.mbps[i]);
}

static void csv_floor_udp(FILE *f, const struct bench *bn)
{
	for (unsigned i = 0; i < bn->nsizes; i++) {
		const struct lat *pp = &bn->floor.pp[i];

		fprintf(f, "floor,udp_pingpong,%zu,%.1f,%.1f,%.1f,%.1f,,\n", bn->sizes[i], pp->p50,
			pp->p99, pp->mean, pp_mbps(bn->sizes[i], pp));
	}
	for (unsigned i = 0; i < bn->nsizes; i++)
		fprintf(f, "floor,udp_stream,%zu,,,,%.1f,,\n", bn->sizes[i], bn->floor.mbps[i]);
}

void write_csv(const struct bench *bn)
{
	FILE *f = fopen(bn->o->csv, "w");

	if (f == NULL)
		fail("%s: %s", bn->o->csv, strerror(errno));
	fprintf(f, "mode,api,size,p50_ns,p99_ns,mean_ns,bw_MBps,floor_ns,"
		   "ratio\n");
	for (int m = 0; m < NMODES; m++)
		if (bn->have[m])
			csv_mode_rows(f, bn, (enum mode)m);
	if (bn->have_floor && bn->floor.kind == FLOOR_UDP)
		csv_floor_udp(f, bn);
	else if (bn->have_floor)
		csv_floor_shm(f, bn);
	if (fclose(f) != 0)
		fail("%s: %s", bn->o->csv, strerror(errno));
}

/* --- the header --- */

void print_header(const struct bench *bn)
{
	const struct opts *o = bn->o;
	struct clcp_endpt_attr a;
	int rc = clcp_endpt_attr_get(bn->link.ep, &a);

	if (rc < 0)
		fail_clcp("clcp_endpt_attr_get", rc);
	printf(PROG ": backend %s, node %u port %ld <-> node %u port %ld, "
		    "mtu %u, rxq %u, txq %u\n",
	       clcp_dev_backend(bn->link.dev), clcp_dev_node(bn->link.dev), o->port,
	       bn->link.peer_node, o->peer_port, a.mtu, a.rxq_len, a.txq_len);
	print_cpus(bn);
	printf("; timer %s, %.1f ns per read (in every sample); "
	       "latency = round trip / 2\n",
	       TIMER_NAME, timer_read_ns());
	if (o->nulls)
		printf("%u null processes meanwhile: %u ms running, %u ms blocked\n", o->nulls,
		       o->null_run_ms, o->null_block_ms);
	if (o->any >= 0)
		printf("receives from CLCP_ANY, %ld idle channels more at each end\n", o->any);
	fflush(stdout);
}
