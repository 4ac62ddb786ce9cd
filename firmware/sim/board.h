/* SPDX-License-Identifier: MIT */
/*
 * The simulated board behind qemu's ivshmem-doorbell device (PCI 1af4:1110):
 * what the kernel driver (kdriver/) and the host process that runs the
 * simulated NIC (sim/ivshmem_nic.c) agree on.
 *
 * BAR2 (the shared memory) holds the LANai SRAM (MCP_SRAM_SIZE bytes) and,
 * after it, a page of board registers that stand in for a LANai board's
 * reset and run controls. The NIC is ivshmem peer SIMB_NIC_PEER; the
 * driver rings its vector 0 (BAR0 doorbell) after a command or a register
 * write; the NIC raises the guest's vector 0 (MSI-X) as the host interrupt.
 * Registers are little-endian; SRAM stays big-endian (mcp_abi.h).
 */
#ifndef CLCP_FW_SIM_BOARD_H
#define CLCP_FW_SIM_BOARD_H

#define SIMB_SHM_SIZE 0x100000u /* BAR2: a power of two, as PCI wants */
#define SIMB_REGS_OFF 0x80000u	/* = MCP_SRAM_SIZE */
#define SIMB_NIC_PEER 0u	/* the NIC's ivshmem peer id; the guest is 1 */
#define SIMB_VECTORS 1u		/* per side: 0 = doorbell / host interrupt */

/* Board registers at SIMB_REGS_OFF, 32-bit each. */
#define SIMB_REG_CTRL 0x0u  /* driver: SIMB_CTRL_* */
#define SIMB_REG_STATE 0x4u /* board: SIMB_STATE_* */
#define SIMB_REG_IMAGE 0x8u /* board: bytes of the image the driver loaded (at RUN) */

#define SIMB_CTRL_RESET 1u /* hold the LANai in reset: it stops all DMA */
#define SIMB_CTRL_RUN 2u   /* release it: the loaded image starts at 0 */

#define SIMB_STATE_HALTED 1u
#define SIMB_STATE_RUNNING 2u

/* ivshmem BAR0 registers. */
#define SIMB_BAR0_IVPOSITION 8u
#define SIMB_BAR0_DOORBELL 12u

#endif /* CLCP_FW_SIM_BOARD_H */
