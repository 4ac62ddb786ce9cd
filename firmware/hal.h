/* SPDX-License-Identifier: MIT */
/*
 * The hardware layer under the control program: what a LANai gives it
 * (hal_lanai.c) or what the simulator pretends to be (sim/hal_sim.c).
 * Everything the firmware does to the outside world goes through here:
 * SRAM, the interrupt status registers (ISR/EIMR), the send DMA (SMP/SMLT),
 * the receive DMA (RMP/RML), the host DMA engine, the host interrupt, the
 * doorbells and the clock. Freestanding: no libc.
 */
#ifndef CLCP_FW_HAL_H
#define CLCP_FW_HAL_H

#include "mcp_abi.h"

/* ISR/EIMR bits (LANai 4..9 numbering). Cleared by writing 1. */
#define HAL_ISR_BYTE_RDY 0x01u /* a packet is arriving */
#define HAL_ISR_RECV_INT 0x02u /* receive DMA done (packet end) */
#define HAL_ISR_BUFF_INT 0x04u /* receive buffer overflow */
#define HAL_ISR_SEND_INT 0x08u /* send DMA done */
#define HAL_ISR_DMA_INT 0x10u  /* host DMA done */

/* Receive status beside the length (hal_rx_done). */
#define HAL_RX_OK 0
#define HAL_RX_BAD_CRC 1
#define HAL_RX_TRUNC 2

struct hal; /* the NIC: opaque; NULL on the LANai (there is one) */

/* SRAM at offset off, as the firmware addresses it. */
void *hal_sram(struct hal *hw, clcp_u32 off);

clcp_u32 hal_isr(struct hal *hw);
void hal_isr_clear(struct hal *hw, clcp_u32 bits);
void hal_eimr_set(struct hal *hw, clcp_u32 bits);

/* Send DMA: the packet at SRAM [off, off + len), route bytes first. */
void hal_send_start(struct hal *hw, clcp_u32 off, clcp_u32 len);
int hal_send_busy(struct hal *hw);

/* Receive DMA into SRAM [off, off + cap); the route bytes are consumed. */
void hal_recv_start(struct hal *hw, clcp_u32 off, clcp_u32 cap);
/* 1 and *len, *status when a packet has ended, else 0. */
int hal_recv_done(struct hal *hw, clcp_u32 *len, int *status);

/* Host DMA between SRAM and a host bus address; returns when done. */
void hal_dma_to_host(struct hal *hw, clcp_u64 host, clcp_u32 sram_off, clcp_u32 len);
void hal_dma_from_host(struct hal *hw, clcp_u32 sram_off, clcp_u64 host, clcp_u32 len);

/* Raises the host interrupt line (the driver reads the endpoints' intr words). */
void hal_host_intr(struct hal *hw);

/* Microseconds, free running. */
clcp_u32 hal_clock_us(struct hal *hw);

/* Nothing to do: the simulator may yield; the LANai spins. */
void hal_idle(struct hal *hw);

/* Write barrier: orders SRAM stores before the next (flag) store. */
#if defined(__lanai__)
#define hal_wmb() __asm__ __volatile__("" ::: "memory")
#define hal_rmb() __asm__ __volatile__("" ::: "memory")
#else
#define hal_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#define hal_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#endif

/* --- byte order: SRAM and wire are big-endian, the endpoint little --- */

static inline clcp_u16 hal_swap16(clcp_u16 v)
{
	return (clcp_u16)((v >> 8) | (v << 8));
}

static inline clcp_u32 hal_swap32(clcp_u32 v)
{
	return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define hal_be16(v) ((clcp_u16)(v))
#define hal_be32(v) ((clcp_u32)(v))
#define hal_le16(v) hal_swap16(v)
#define hal_le32(v) hal_swap32(v)
#else
#define hal_be16(v) hal_swap16(v)
#define hal_be32(v) hal_swap32(v)
#define hal_le16(v) ((clcp_u16)(v))
#define hal_le32(v) ((clcp_u32)(v))
#endif

#endif /* CLCP_FW_HAL_H */
