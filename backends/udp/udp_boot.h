/* SPDX-License-Identifier: MIT */
/*
 * UDP backend, the bootstrap: the node table from a process manager instead
 * of a hostfile. Each process binds its node on a free port, publishes
 * "ADDR:PORT" under its rank, meets the others, and reads theirs; node id =
 * base_node + rank. docs/cluster.md has the whole story.
 */
#ifndef CLCP_UDP_BOOT_H
#define CLCP_UDP_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct clcp_dev;
struct udp_conf;
struct udp_dev;

enum udp_boot_kind {
	UDP_BOOT_NONE,
	UDP_BOOT_PMIX, /* PMIx_Put/Commit, PMIx_Fence (collect), PMIx_Get */
	UDP_BOOT_PMI1, /* the PMI-1 wire protocol on PMI_FD: put, barrier, get */
};

/* udp_boot.c */
/* Sets c->boot from CLCP_BOOTSTRAP and the environment; env_table: CLCP_NODES or CLCP_HOSTFILE set.
 */
int udp_boot_select(struct udp_conf *c, bool env_table);
/* Binds the node, exchanges addresses, fills c->nodes; dev->node becomes base_node + rank. */
int udp_boot_open(struct clcp_dev *dev, struct udp_dev *u);
void udp_boot_close(struct udp_conf *c);

/* udp_pmi1.c: rank and size from PMI_RANK, PMI_SIZE; init on PMI_FD once per process. */
int udp_pmi1_init(struct udp_conf *c, uint32_t *rank, uint32_t *size, char *key, size_t len);
int udp_pmi1_exchange(struct udp_conf *c, const char *key, uint32_t rank, const char *addr,
		      uint32_t size);
void udp_pmi1_fini(void);

/* udp_conf.c: one table entry from "ADDR:PORT" (n bytes). */
int udp_conf_add(struct udp_conf *c, uint32_t node, const char *addr, size_t n);

#endif
