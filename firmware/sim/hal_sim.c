// SPDX-License-Identifier: MIT
/* The simulated NIC: hal.h over memory and unix datagram sockets. */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../hal.h"
#include "sim.h"

#define LINK_MAX (MCP_PKTBUF_SIZE + 4u)
#define IDLE_SPINS 64	/* idle turns before the simulated LANai sleeps */
#define IDLE_SLEEP_MS 1 /* at most, then it looks at SRAM again */

struct hal {
	clcp_u8 *sram;
	int sram_owned; /* calloc'd here (else the board's shared memory) */
	clcp_u8 *host;
	clcp_u64 host_size;
	int link;
	const char *fabric; /* the link is a fabric port in this directory */
	clcp_u32 isr, eimr;
	clcp_u32 rx_off, rx_cap;
	int rx_armed;
	int corrupt_next;
	int wake_fd; /* hal_sim_kick: something changed in SRAM or host memory */
	unsigned idle;
	clcp_u32 intr_count;
	void (*on_intr)(void *arg);
	void *intr_arg;
	clcp_u8 frame[LINK_MAX];
};

struct hal *hal_sim_create(void *host, uint64_t host_size)
{
	void *sram = calloc(1, MCP_SRAM_SIZE);
	struct hal *hw;

	if (!sram)
		return NULL;
	hw = hal_sim_create_at(sram, host, host_size);
	if (!hw)
		free(sram);
	else
		hw->sram_owned = 1;
	return hw;
}

struct hal *hal_sim_create_at(void *sram, void *host, uint64_t host_size)
{
	struct hal *hw = calloc(1, sizeof(*hw));

	if (!hw)
		return NULL;
	hw->sram = sram;
	hw->host = host;
	hw->host_size = host_size;
	hw->link = -1;
	hw->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (hw->wake_fd < 0) {
		free(hw);
		return NULL;
	}
	return hw;
}

void hal_sim_destroy(struct hal *hw)
{
	if (!hw)
		return;
	if (hw->link >= 0)
		close(hw->link);
	close(hw->wake_fd);
	if (hw->sram_owned)
		free(hw->sram);
	free(hw);
}

void hal_sim_attach(struct hal *hw, int link_fd)
{
	hw->link = link_fd;
}

void hal_sim_attach_fabric(struct hal *hw, int fd, const char *dir)
{
	hw->link = fd;
	hw->fabric = dir;
}

void hal_sim_on_intr(struct hal *hw, void (*fn)(void *arg), void *arg)
{
	hw->on_intr = fn;
	hw->intr_arg = arg;
}

uint32_t hal_sim_intr_count(const struct hal *hw)
{
	return __atomic_load_n(&hw->intr_count, __ATOMIC_ACQUIRE);
}

void hal_sim_corrupt_next(struct hal *hw)
{
	hw->corrupt_next = 1;
}

/* A firmware bug, not a condition to survive: stop loudly. */
static void sim_bug(const char *what, clcp_u64 a, clcp_u32 len)
{
	fprintf(stderr, "hal_sim: %s out of range: 0x%llx + %u\n", what, (unsigned long long)a,
		len);
	abort();
}

static void check_sram(clcp_u32 off, clcp_u32 len)
{
	if (off > MCP_SRAM_SIZE || len > MCP_SRAM_SIZE - off)
		sim_bug("SRAM", off, len);
}

static void check_host(const struct hal *hw, clcp_u64 a, clcp_u32 len)
{
	if (a > hw->host_size || len > hw->host_size - a)
		sim_bug("host DMA", a, len);
}

void *hal_sram(struct hal *hw, clcp_u32 off)
{
	check_sram(off, 0);
	return hw->sram + off;
}

clcp_u32 hal_isr(struct hal *hw)
{
	return hw->isr;
}

void hal_isr_clear(struct hal *hw, clcp_u32 bits)
{
	hw->isr &= ~bits;
}

void hal_eimr_set(struct hal *hw, clcp_u32 bits)
{
	hw->eimr = bits;
}

void hal_send_start(struct hal *hw, clcp_u32 off, clcp_u32 len)
{
	check_sram(off, len);
	if (hw->link < 0)
		return; /* no cable: the packet is lost */
	memcpy(hw->frame, hw->sram + off, len);
	if (hw->fabric)
		sim_fabric_send(hw->link, hw->fabric, hw->frame, len, hw->corrupt_next);
	else
		sim_link_send(hw->link, hw->frame, len, hw->corrupt_next);
	hw->isr |= HAL_ISR_SEND_INT; /* sent, or lost on the way */
	hw->corrupt_next = 0;
}

int hal_send_busy(struct hal *hw)
{
	(void)hw;
	return 0; /* the datagram is gone when send() returns */
}

void hal_recv_start(struct hal *hw, clcp_u32 off, clcp_u32 cap)
{
	check_sram(off, cap);
	hw->rx_off = off;
	hw->rx_cap = cap;
	hw->rx_armed = 1;
}

int hal_recv_done(struct hal *hw, clcp_u32 *len, int *status)
{
	ssize_t n;
	clcp_u32 crc;

	if (!hw->rx_armed || hw->link < 0)
		return 0;
	n = recv(hw->link, hw->frame, sizeof(hw->frame), MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0)
		return 0;
	hw->rx_armed = 0;
	hw->isr |= HAL_ISR_RECV_INT;
	if (n < 4 || (size_t)n > sizeof(hw->frame) || (clcp_u32)n - 4 > hw->rx_cap) {
		*len = n < 4 ? 0 : (clcp_u32)n - 4;
		*status = HAL_RX_TRUNC;
		return 1;
	}
	*len = (clcp_u32)n - 4;
	memcpy(&crc, hw->frame + *len, 4);
	*status = crc == sim_crc32(hw->frame, *len) ? HAL_RX_OK : HAL_RX_BAD_CRC;
	memcpy(hw->sram + hw->rx_off, hw->frame, *len);
	return 1;
}

static int dword_aligned(clcp_u64 host, clcp_u32 sram_off, clcp_u32 len)
{
	return len && ((host | sram_off | len) & 3u) == 0;
}

/*
 * Whole dwords, as PCI moves them: a 32-bit word never tears. A lone word
 * (a header word: tx_head, rx_head, armed) is one release store; a longer
 * DMA ends with the release of its last byte, the owner flag of an entry.
 */
static void dma_words_to_host(struct hal *hw, clcp_u64 host, clcp_u32 sram_off, clcp_u32 len)
{
	clcp_u32 *dst = (clcp_u32 *)(void *)(hw->host + host), n = len / 4, i;
	const clcp_u32 *src = (const clcp_u32 *)(const void *)(hw->sram + sram_off);

	if (n == 1) {
		__atomic_store_n(dst, *src, __ATOMIC_RELEASE);
		return;
	}
	for (i = 0; i + 1 < n; i++)
		__atomic_store_n(&dst[i], src[i], __ATOMIC_RELAXED);
	memcpy(hw->host + host + len - 4, hw->sram + sram_off + len - 4, 3);
	__atomic_store_n(hw->host + host + len - 1, hw->sram[sram_off + len - 1], __ATOMIC_RELEASE);
}

static void dma_words_from_host(struct hal *hw, clcp_u32 sram_off, clcp_u64 host, clcp_u32 len)
{
	const clcp_u32 *src = (const clcp_u32 *)(const void *)(hw->host + host);
	clcp_u32 *dst = (clcp_u32 *)(void *)(hw->sram + sram_off), n = len / 4, i;

	if (n == 1) {
		*dst = __atomic_load_n(src, __ATOMIC_ACQUIRE);
		return;
	}
	hw->sram[sram_off + len - 1] = __atomic_load_n(hw->host + host + len - 1, __ATOMIC_ACQUIRE);
	for (i = 0; i + 1 < n; i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	memcpy(hw->sram + sram_off + len - 4, hw->host + host + len - 4, 3);
}

void hal_dma_to_host(struct hal *hw, clcp_u64 host, clcp_u32 sram_off, clcp_u32 len)
{
	check_sram(sram_off, len);
	check_host(hw, host, len);
	if (dword_aligned(host, sram_off, len)) {
		dma_words_to_host(hw, host, sram_off, len);
		hw->isr |= HAL_ISR_DMA_INT;
		return;
	}
	/* In order, byte after byte as PCI writes land: the last byte last. */
	if (len > 1)
		memcpy(hw->host + host, hw->sram + sram_off, len - 1);
	if (len)
		__atomic_store_n(hw->host + host + len - 1, hw->sram[sram_off + len - 1],
				 __ATOMIC_RELEASE);
	hw->isr |= HAL_ISR_DMA_INT;
}

void hal_dma_from_host(struct hal *hw, clcp_u32 sram_off, clcp_u64 host, clcp_u32 len)
{
	check_sram(sram_off, len);
	check_host(hw, host, len);
	/* PCI: a read does not pass the NIC's earlier writes (F4 before reading armed). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (dword_aligned(host, sram_off, len)) {
		dma_words_from_host(hw, sram_off, host, len);
		hw->isr |= HAL_ISR_DMA_INT;
		return;
	}
	/* The last byte first (an owner flag), then what it publishes. */
	if (len)
		hw->sram[sram_off + len - 1] =
			__atomic_load_n(hw->host + host + len - 1, __ATOMIC_ACQUIRE);
	if (len > 1)
		memcpy(hw->sram + sram_off, hw->host + host, len - 1);
	hw->isr |= HAL_ISR_DMA_INT;
}

void hal_host_intr(struct hal *hw)
{
	__atomic_fetch_add(&hw->intr_count, 1, __ATOMIC_RELEASE);
	if (hw->on_intr)
		hw->on_intr(hw->intr_arg);
}

clcp_u32 hal_clock_us(struct hal *hw)
{
	struct timespec ts;

	(void)hw;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (clcp_u32)((clcp_u64)ts.tv_sec * 1000000u + (clcp_u64)ts.tv_nsec / 1000u);
}

/*
 * Nothing to do: yield for a few turns, then sleep until a packet arrives,
 * a kick comes, or IDLE_SLEEP_MS passes (SRAM words nobody kicked for).
 * The LANai spins instead; a simulator must not burn a CPU per NIC.
 */
void hal_idle(struct hal *hw)
{
	struct pollfd p[2] = { { .fd = hw->wake_fd, .events = POLLIN },
			       { .fd = hw->link, .events = POLLIN } };
	uint64_t n;

	if (++hw->idle < IDLE_SPINS) {
		sched_yield();
		return;
	}
	if (poll(p, hw->link >= 0 ? 2 : 1, IDLE_SLEEP_MS) > 0) {
		hw->idle = 0;
		if (read(hw->wake_fd, &n, sizeof(n)) < 0)
			return; /* nothing to drain */
	}
}

int hal_sim_wake_fd(const struct hal *hw)
{
	return hw->wake_fd;
}

void hal_sim_kick(struct hal *hw)
{
	uint64_t one = 1;

	if (write(hw->wake_fd, &one, sizeof(one)) < 0)
		return; /* the counter is full: the NIC wakes anyway */
}
