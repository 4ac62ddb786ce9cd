/* SPDX-License-Identifier: MIT */
/*
 * A seeded fault-injecting UDP relay between two peers on 127.0.0.1, for
 * the fault tests. Peer A's node table names the relay's port a_side as
 * B, peer B's names b_side as A: what A sends to a_side leaves b_side for
 * B's real port, and back, so each peer sees the other at the address its
 * table gives. Per datagram, by its own seeded generator per direction:
 * loss, duplication, corruption (bytes flipped after receipt, so UDP's
 * checksum cannot catch it), a delay with jitter, and extra delay for a
 * share of the datagrams (reordering). The same seed and the same arrival
 * order give the same decisions.
 */
#ifndef CLCP_TEST_RELAY_H
#define CLCP_TEST_RELAY_H

#include <stdbool.h>
#include <stdint.h>

struct relay_conf {
	uint64_t seed;
	uint32_t loss_pm, reorder_pm, dup_pm, corrupt_pm; /* per mille */
	uint32_t delay_us, jitter_us; /* delay uniform in delay +- jitter */
	uint32_t reorder_us;	      /* reordered: up to this much more */
	uint16_t a_port, b_port;      /* the peers' real ports */
	int a_side, b_side;	      /* bound sockets, faced by A and by B */
};

struct relay_stats {
	uint64_t rx, tx, lost, dups, corrupted, delayed, reordered, overflow;
};

/* Binds a UDP socket to 127.0.0.1:port (0: any), large buffers. fd or -errno. */
int relay_socket(uint16_t port, uint16_t *bound);

/* Runs until stop_fd is readable; then *st has the counters. 0 or -errno. */
int relay_run(const struct relay_conf *c, int stop_fd, struct relay_stats *st);

#endif /* CLCP_TEST_RELAY_H */
