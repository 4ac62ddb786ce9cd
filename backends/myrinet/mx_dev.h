/* SPDX-License-Identifier: MIT */
/*
 * The myrinet backend's device layer: what the kernel driver (kdriver/)
 * will do through open/ioctl/mmap/poll of /dev/clcpN, done here in-process
 * against the simulated NIC (firmware/sim/): the firmware runs in a thread
 * of its own, endpoint regions are carved from a pinned host window, the
 * four ioctls of the paper become the four calls below, and each endpoint
 * has an eventfd that the NIC's interrupt makes readable.
 * Keep it small: the kernel driver replaces it.
 */
#ifndef CLCP_MX_DEV_H
#define CLCP_MX_DEV_H

#include <stdbool.h>
#include <stdint.h>

struct mx_dev;
struct mcp_shared;
struct mcp_endpt_page;
struct mcp_stats;

#define MX_SLOT_SIZE (16u << 20) /* the host window the driver pins per endpoint */

/* A node's NIC with the firmware running; link_fd is its cable (or -1). */
int mx_dev_open(struct mx_dev **devp, int link_fd);
void mx_dev_close(struct mx_dev *dev);
/*
 * The NIC of node `node` on the crossbar between processes in directory
 * dir (sim_fabric_*): port `node`, routes to every node loaded (one byte).
 * When the kernel driver's /dev/clcp0 exists, its board instead (it must
 * be node `node`; dir is not used): see mx_kdev.h.
 */
int mx_dev_open_node(struct mx_dev **devp, const char *dir, uint32_t node);
/* The route table: routes[k] (len bytes at routes + k * 8) leads to node k. */
int mx_dev_load_routes(struct mx_dev *dev, uint32_t my_node, const uint8_t *route_bytes,
		       const uint8_t *route_lens, uint32_t nnodes);

/*
 * create_endpt: a zeroed region of size bytes for endpoint idx; the caller
 * writes the ABI header and queues into it, then mx_dev_endpt_start().
 */
int mx_dev_endpt_alloc(struct mx_dev *dev, uint32_t idx, uint32_t size, void **base);
int mx_dev_endpt_start(struct mx_dev *dev, uint32_t idx);
int mx_dev_endpt_destroy(struct mx_dev *dev, uint32_t idx);
/* activate_chan (flags: MCP_CHANF_*) / deactivate_chan */
int mx_dev_chan_activate(struct mx_dev *dev, uint32_t idx, uint32_t chan, uint16_t port,
			 uint32_t peer_node, uint16_t peer_port, uint32_t flags);
int mx_dev_chan_deactivate(struct mx_dev *dev, uint32_t idx, uint32_t chan);
/* The driver gives a channel up (err > 0): what the link holds is delivered first. */
int mx_dev_chan_fail(struct mx_dev *dev, uint32_t idx, uint32_t chan, int err);

/* 0, or -ECONNREFUSED / -ECONNRESET as the peer's NIC reported (for chan_check). */
int mx_dev_chan_error(struct mx_dev *dev, uint32_t idx, uint32_t chan);
/* Bumped whenever the NIC hands a Tx entry of endpoint idx back with an error. */
uint32_t mx_dev_errors(struct mx_dev *dev, uint32_t idx);
/* A credit channel's state: credits (MCP_CHT_CREDITS) | MCP_CHT_SEEN | MCP_CHT_ASKING. */
uint32_t mx_dev_chan_tx(struct mx_dev *dev, uint32_t idx, uint32_t chan);
/* Has the NIC ask the peer for a credit now (before a nonblocking send). */
void mx_dev_chan_ask(struct mx_dev *dev, uint32_t idx, uint32_t chan);

/* Tx entries were posted: ring the endpoint's doorbell in SRAM. */
void mx_dev_doorbell(struct mx_dev *dev, uint32_t idx);
/* Rx buffers were posted while a peer waits for credits (rx_waiters): wake the NIC. */
void mx_dev_kick(struct mx_dev *dev);
/* Is node's NIC on the fabric (the mapper's view)? 1, 0; -EINVAL without a fabric. */
int mx_dev_node_alive(struct mx_dev *dev, uint32_t node);
/* True once endpoint idx's board is gone (the driver's board removed; never in process). */
bool mx_dev_gone(struct mx_dev *dev, uint32_t idx);
/* Readable after an interrupt for endpoint idx (until mx_dev_drain). */
int mx_dev_wait_fd(struct mx_dev *dev, uint32_t idx);
/* Makes the wait fd readable now / consumes its pending wake-ups. */
void mx_dev_signal(struct mx_dev *dev, uint32_t idx);
void mx_dev_drain(struct mx_dev *dev, uint32_t idx);
/* The largest endpoint region (what the driver can pin in one piece). */
uint32_t mx_dev_endpt_max(struct mx_dev *dev);
/* The shared SRAM block, for the log (big-endian); NULL over the kernel driver. */
const struct mcp_shared *mx_dev_shared(struct mx_dev *dev);
/* Endpoint idx's SRAM words (big-endian), NULL if it has none. */
const struct mcp_endpt_page *mx_dev_page(struct mx_dev *dev, uint32_t idx);
/* The NIC's counters as in SRAM (big-endian). */
void mx_dev_stats(struct mx_dev *dev, struct mcp_stats *st);

#endif /* CLCP_MX_DEV_H */
