/* SPDX-License-Identifier: MIT */
/*
 * The device layer over the kernel driver (kdriver/, clcp/mx_ioctl.h):
 * endpoint idx of board b is /dev/clcp<16 * b + idx>, opened, allocated, mapped (endpoint
 * memory + SRAM window) and created through ioctls; its fd is the one the
 * board's interrupt makes readable. mx_dev.c uses it when the device exists.
 */
#ifndef CLCP_MX_KDEV_H
#define CLCP_MX_KDEV_H

#include <stdbool.h>
#include <stdint.h>

struct mx_kdev;
struct mcp_endpt_page;
struct mcp_stats;

/* 1 if the driver's devices exist ($CLCP_MX_DEV, default /dev/clcp, then 0). */
int mx_kdev_present(void);
/* The board that is node `node` (else -EADDRNOTAVAIL), speaking our ABI (else -EPROTO). */
int mx_kdev_open(struct mx_kdev **kp, uint32_t node);
void mx_kdev_close(struct mx_kdev *k);

/* -EBUSY if another process holds /dev/clcp<idx>. */
int mx_kdev_endpt_alloc(struct mx_kdev *k, uint32_t idx, uint32_t size, void **base);
int mx_kdev_endpt_start(struct mx_kdev *k, uint32_t idx);
int mx_kdev_endpt_destroy(struct mx_kdev *k, uint32_t idx);
/* MX_IOC_ACTIVATE / _DEACTIVATE / _FAIL (flags: MCP_CHANF_*, or the errno). */
int mx_kdev_chan(struct mx_kdev *k, uint32_t idx, unsigned long cmd, uint32_t chan, uint32_t port,
		 uint32_t peer_node, uint32_t peer_port, uint32_t flags);

/* Endpoint idx's page of SRAM words, mapped with it (NULL if it has none). */
struct mcp_endpt_page *mx_kdev_page(struct mx_kdev *k, uint32_t idx);
/* The board's counters (struct mcp_stats, big-endian), through an endpoint device. */
int mx_kdev_stats(struct mx_kdev *k, struct mcp_stats *st);
/* True once endpoint idx's board was removed (its calls then fail with -ENODEV). */
bool mx_kdev_gone(struct mx_kdev *k, uint32_t idx);
int mx_kdev_wait_fd(struct mx_kdev *k, uint32_t idx);
void mx_kdev_signal(struct mx_kdev *k, uint32_t idx);
void mx_kdev_drain(struct mx_kdev *k, uint32_t idx);

#endif /* CLCP_MX_KDEV_H */
