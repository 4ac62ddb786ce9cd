/* SPDX-License-Identifier: MIT */
/* Counters: the device's (from its backend) and the endpoint's (its header). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

unsigned clcp__stat_put(struct clcp_stat *st, unsigned n, unsigned i, const char *name,
			uint64_t value)
{
	if (i < n) {
		snprintf(st[i].name, sizeof(st[i].name), "%s", name);
		st[i].value = value;
	}
	return i + 1;
}

int clcp__no_stats(struct clcp_dev *dev, struct clcp_stat *st, unsigned n)
{
	(void)dev;
	(void)st;
	(void)n;
	return 0;
}

int clcp_dev_stats(clcp_dev_t *dev, struct clcp_stat *stats, unsigned n)
{
	if (!dev)
		return clcp__err(EINVAL, "clcp_dev_stats: dev is NULL");
	if (!stats && n)
		return clcp__err(EFAULT, "clcp_dev_stats: stats is NULL");
	return dev->ops->stats(dev, stats, n);
}

int clcp_endpt_stats(clcp_endpt_t *ep, struct clcp_stat *stats, unsigned n)
{
	const struct clcp_endpt_hdr *h;
	unsigned i = 0;
	int rc = clcp__endpt_check(ep);

	if (rc < 0)
		return rc;
	if (!stats && n)
		return clcp__err(EFAULT, "clcp_endpt_stats: stats is NULL");
	h = ep->hdr;
	i = clcp__stat_put(stats, n, i, "tx_frames", clcp_load_relaxed(&h->tx_frames));
	i = clcp__stat_put(stats, n, i, "rx_frames", clcp_load_relaxed(&h->rx_frames));
	i = clcp__stat_put(stats, n, i, "wakeups", clcp_load_relaxed(&h->wakeups));
	i = clcp__stat_put(stats, n, i, "rx_drops", clcp_load_relaxed(&h->rx_drops));
	i = clcp__stat_put(stats, n, i, "rx_parked", ep->nheld);
	i = clcp__stat_put(stats, n, i, "rx_spills", ep->priv->rx_spills);
	i = clcp__stat_put(stats, n, i, "spin_hits", ep->priv->spin.hits + ep->priv->spin.hit_owed);
	i = clcp__stat_put(stats, n, i, "spin_misses", ep->priv->spin.misses);
	i = clcp__stat_put(stats, n, i, "spin_pressure", ep->priv->spin.pressured);
	i = clcp__stat_put(stats, n, i, "spin_budget_ns", ep->priv->spin.budget_ns);
	i = clcp__stat_put(stats, n, i, "tx_spins", ep->priv->tx_spins);
	i = clcp__stat_put(stats, n, i, "tx_sleeps", ep->priv->tx_sleeps);
	i = clcp__stat_put(stats, n, i, "tx_pulled", ep->priv->tx_pulled);
	i = clcp__stat_put(stats, n, i, "tx_declined", ep->priv->tx_declined);
	i = clcp__stat_put(stats, n, i, "rx_pulled", ep->priv->rx_pulled);
	return (int)i;
}

void clcp__stats_print(struct clcp_dev *dev, const char *env)
{
	struct clcp_stat st[64];
	const char *e = getenv(env);
	int i, n;

	if (!e || *e != '1')
		return;
	n = dev->ops->stats(dev, st, 64);
	fprintf(stderr, "clcp %s node %u:", dev->ops->name, dev->node);
	for (i = 0; i < n && i < 64; i++)
		fprintf(stderr, " %s %llu", st[i].name, (unsigned long long)st[i].value);
	fputc('\n', stderr);
}
