/* SPDX-License-Identifier: MIT */
/*
 * The simulated Myrinet NIC under the same firmware (host build): SRAM is
 * plain (or shared) memory, host DMA copies into a window of host memory
 * (bus address = offset into the window), the wire is a unix datagram
 * socket per link, and a crossbar switch consumes one route byte per hop.
 * Each link frame is the packet followed by a CRC-32 that every hop checks
 * and recomputes (a bad packet stays bad, as Myrinet switches do with CRC-8).
 */
#ifndef CLCP_FW_SIM_H
#define CLCP_FW_SIM_H

#include <stddef.h>
#include <stdint.h>

struct hal;
struct sim_switch;

/* A NIC with fresh SRAM; host DMA reaches [host, host + host_size). */
struct hal *hal_sim_create(void *host, uint64_t host_size);
/* A NIC over SRAM it does not own (MCP_SRAM_SIZE bytes: a board's shared memory). */
struct hal *hal_sim_create_at(void *sram, void *host, uint64_t host_size);
void hal_sim_destroy(struct hal *hw);
/* The link to the switch (one end of a socket from sim_switch_port_fd). */
void hal_sim_attach(struct hal *hw, int link_fd);
/* Called from hal_host_intr (the driver's interrupt routine). */
void hal_sim_on_intr(struct hal *hw, void (*fn)(void *arg), void *arg);
uint32_t hal_sim_intr_count(const struct hal *hw);
/* Wakes the NIC from hal_idle (after a doorbell, a command, posted buffers). */
void hal_sim_kick(struct hal *hw);
/* The eventfd hal_idle sleeps on: a kick is a write of 1 to it (from any process). */
int hal_sim_wake_fd(const struct hal *hw);
/* Test hook: flip a byte of the next packet after its CRC is computed. */
void hal_sim_corrupt_next(struct hal *hw);

/* A crossbar switch with nports ports (at most 32). */
struct sim_switch *sim_switch_create(unsigned nports);
void sim_switch_destroy(struct sim_switch *sw);
/* A new link on port p; returns the far end's fd for a NIC (or a test). */
int sim_switch_port_fd(struct sim_switch *sw, unsigned p);
/* Cables port pa of a to port pb of b (a may be b). */
int sim_switch_link(struct sim_switch *a, unsigned pa, struct sim_switch *b, unsigned pb);
/* Forwards what waits on the ports; returns packets moved. */
int sim_switch_pump(struct sim_switch *sw);
/* Sleeps until a port has a packet, at most ms. */
void sim_switch_wait(struct sim_switch *sw, int ms);
uint32_t sim_switch_drops(const struct sim_switch *sw);

/*
 * A crossbar between processes: port p is a unix datagram socket bound at
 * <dir>/clcp-<uid>-mxsw-<p>; the sending NIC does the switch's work (takes
 * the route byte, strips it, re-computes the CRC) and sends to that port.
 * One hop: routes are one byte, the node's port. A stale socket file of a
 * port is replaced; a port a live NIC holds gives -EADDRINUSE.
 */
int sim_fabric_open(const char *dir, unsigned port);
/* 1 if a NIC holds the port now, 0 if not (no file, or one left by a dead process). */
int sim_fabric_alive(const char *dir, unsigned port);
/* Removes the socket files of ports 0..nports-1 that dead processes left. */
void sim_fabric_sweep(const char *dir, unsigned nports);
/* Closes fd (if >= 0) and removes the port's socket file. */
void sim_fabric_close(int fd, const char *dir, unsigned port);
int sim_fabric_send(int fd, const char *dir, const void *pkt, size_t len, int bad_crc);
/* The NIC's link is a fabric port: hal_send_start goes through sim_fabric_send. */
void hal_sim_attach_fabric(struct hal *hw, int fd, const char *dir);

/* Raw link I/O with the simulated CRC (for tests that forge packets). */
int sim_link_send(int fd, const void *pkt, size_t len, int bad_crc);
uint32_t sim_crc32(const void *p, size_t len);

#endif /* CLCP_FW_SIM_H */
