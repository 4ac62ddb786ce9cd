// SPDX-License-Identifier: MIT
/*
 * hal.h on a LANai 7/9 board, and the firmware's entry point. Network
 * DMA and interrupt registers follow the LANai 7/9 map (special registers
 * at 0xFFFFFE00); the host DMA, clock and host-interrupt registers are
 * modelled on the LANai 4 (EAR/LAR/DMA_CTR/DMA_DIR) and are UNVERIFIED on
 * hardware: check them against the board's register map before loading.
 * SRAM is addressed from 0 (the image is linked at 0).
 */
#include "../mcp.h"

#define LANAI_SPECIAL 0xfffffe00u
#define REG(off) (*(volatile clcp_u32 *)(LANAI_SPECIAL + (off)))

#define R_ISR 0x50u
#define R_EIMR 0x58u
#define R_RMP 0xe0u   /* receive DMA pointer */
#define R_RML 0xe8u   /* receive DMA limit */
#define R_SMP 0xf0u   /* send DMA pointer */
#define R_SML 0x100u  /* send DMA limit */
#define R_SMLT 0x108u /* send DMA limit with tail (ends the packet) */
/* Unverified (LANai 4 style): */
#define R_EAR 0x160u	  /* host bus address, low word */
#define R_EAR_HI 0x164u	  /* host bus address, high word */
#define R_LAR 0x168u	  /* SRAM address */
#define R_DMA_CTR 0x16cu  /* byte count; writing starts the DMA */
#define R_DMA_DIR 0x170u  /* 1: host -> SRAM, 0: SRAM -> host */
#define R_RTC 0x178u	  /* free-running clock, 0.5 us ticks */
#define R_HOST_SIG 0x17cu /* writing 1 raises the host interrupt */
#define ISR_CRC_ERR 0x40u /* the packet's CRC was wrong */

static clcp_u32 rx_start;

void *hal_sram(struct hal *hw, clcp_u32 off)
{
	(void)hw;
	return (void *)(unsigned long)off;
}

clcp_u32 hal_isr(struct hal *hw)
{
	(void)hw;
	return REG(R_ISR);
}

void hal_isr_clear(struct hal *hw, clcp_u32 bits)
{
	(void)hw;
	REG(R_ISR) = bits;
}

void hal_eimr_set(struct hal *hw, clcp_u32 bits)
{
	(void)hw;
	REG(R_EIMR) = bits;
}

void hal_send_start(struct hal *hw, clcp_u32 off, clcp_u32 len)
{
	hal_isr_clear(hw, HAL_ISR_SEND_INT);
	REG(R_SMP) = off;
	REG(R_SMLT) = off + len - 4; /* the limit is the last word */
}

int hal_send_busy(struct hal *hw)
{
	return REG(R_SMP) != 0 && !(hal_isr(hw) & HAL_ISR_SEND_INT);
}

void hal_recv_start(struct hal *hw, clcp_u32 off, clcp_u32 cap)
{
	hal_isr_clear(hw, HAL_ISR_RECV_INT | HAL_ISR_BUFF_INT | ISR_CRC_ERR);
	rx_start = off;
	REG(R_RMP) = off;
	REG(R_RML) = off + cap - 4;
}

int hal_recv_done(struct hal *hw, clcp_u32 *len, int *status)
{
	clcp_u32 isr = hal_isr(hw);

	if (!(isr & (HAL_ISR_RECV_INT | HAL_ISR_BUFF_INT)))
		return 0;
	*len = REG(R_RMP) - rx_start;
	*status = (isr & HAL_ISR_BUFF_INT) ? HAL_RX_TRUNC :
		  (isr & ISR_CRC_ERR)	   ? HAL_RX_BAD_CRC :
					     HAL_RX_OK;
	return 1;
}

static void host_dma(struct hal *hw, clcp_u64 host, clcp_u32 sram_off, clcp_u32 len, clcp_u32 dir)
{
	if (!len)
		return;
	hal_isr_clear(hw, HAL_ISR_DMA_INT);
	REG(R_EAR) = (clcp_u32)host;
	REG(R_EAR_HI) = (clcp_u32)(host >> 32);
	REG(R_LAR) = sram_off;
	REG(R_DMA_DIR) = dir;
	REG(R_DMA_CTR) = len;
	while (!(hal_isr(hw) & HAL_ISR_DMA_INT))
		;
}

void hal_dma_to_host(struct hal *hw, clcp_u64 host, clcp_u32 sram_off, clcp_u32 len)
{
	host_dma(hw, host, sram_off, len, 0);
}

void hal_dma_from_host(struct hal *hw, clcp_u32 sram_off, clcp_u64 host, clcp_u32 len)
{
	host_dma(hw, host, sram_off, len, 1);
}

void hal_host_intr(struct hal *hw)
{
	(void)hw;
	REG(R_HOST_SIG) = 1;
}

clcp_u32 hal_clock_us(struct hal *hw)
{
	(void)hw;
	return REG(R_RTC) >> 1;
}

void hal_idle(struct hal *hw)
{
	(void)hw;
}

/* --- entry: the stack below the shared block, then the main loop --- */

static struct mcp the_mcp;

void lanai_main(void) __attribute__((noreturn));

void lanai_main(void)
{
	mcp_init(&the_mcp, 0);
	mcp_run(&the_mcp);
}

/* _start is the first word of the image (section .text.start, linked first). */
__asm__(".section .text.start,\"ax\",@progbits\n"
	".globl _start\n"
	"_start:\n"
	"\tmov 0x20000, %sp\n" /* MCP_STACK_TOP */
	"\tmov %sp, %fp\n"
	"\tadd %pc, 0x10, %rca\n"
	"\tst %rca, [--%sp]\n"
	"\tbt lanai_main\n"
	"\tnop\n"
	"1:\tbt 1b\n"
	"\tnop\n"
	"\t.text\n");
_Static_assert(MCP_STACK_TOP == 0x20000u, "_start sets the stack to MCP_STACK_TOP");
