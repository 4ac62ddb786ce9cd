/* SPDX-License-Identifier: MIT */
/*
 * The Myrinet driver's user ABI (kdriver/, /dev/clcp0 .. /dev/clcp15):
 * ioctl numbers and arguments, and the layout of the one mapping of an
 * endpoint. Shared by the driver and the myrinet backend; no libc.
 *
 * /dev/clcpN is endpoint N of the board, opened by one process at a time.
 * The user: MX_IOC_INFO (checks abi_version), MX_IOC_ALLOC (size), mmap of
 * the whole region at offset 0 (endpoint memory, then its page of SRAM words),
 * writes the endpoint header and queues (clcp/abi.h), MX_IOC_CREATE (the
 * firmware reads the header), then channels; poll() says POLLIN after the
 * board's interrupt for this endpoint until MX_IOC_DRAIN. close() (or the
 * death of the process) destroys the endpoint in the firmware and frees it.
 *
 * Bump MX_IOC_ABI_VERSION when a command, an argument or the mapping
 * changes.
 */
#ifndef CLCP_MX_IOCTL_H
#define CLCP_MX_IOCTL_H

#if defined(__KERNEL__)
#include <linux/ioctl.h>
#include <linux/types.h>
#else
#include <stdint.h>
#include <sys/ioctl.h>
#endif

#define MX_IOC_ABI_VERSION 3u
#define MX_DEV_COUNT 16u	/* endpoints of a board: /dev/clcp0 .. /dev/clcp15 */
#define MX_BOARDS_MAX 8u	/* board b's endpoint i is /dev/clcp<16 * b + i> */
#define MX_ENDPT_MAX (4u << 20) /* one physically contiguous DMA buffer */

/* MX_IOC_INFO: what the driver and its board are. */
struct mx_ioc_info {
	uint32_t abi_version; /* MX_IOC_ABI_VERSION */
	uint32_t mcp_abi;     /* the firmware's MCP_ABI_VERSION */
	uint32_t node;	      /* the board's node id */
	uint32_t index;	      /* endpoint number (the minor) */
	uint32_t endpt_max;   /* largest MX_IOC_ALLOC size */
	uint32_t win_size;    /* bytes of SRAM (the endpoint's page) after its memory */
	uint32_t page_off;    /* the endpoint's struct mcp_endpt_page in the window */
	uint32_t board;	      /* b: its endpoints are /dev/clcp<16 * b + i> */
};

/* MX_IOC_ALLOC: zeroed, pinned endpoint memory of size bytes. */
struct mx_ioc_alloc {
	uint32_t abi_version; /* MX_IOC_ABI_VERSION, else -EPROTO */
	uint32_t size;	      /* 1 .. endpt_max */
	uint32_t map_size;    /* out: bytes to mmap (size in pages + win_size) */
	uint32_t win_off;     /* out: where the SRAM window starts in the mapping */
};

/* MX_IOC_ACTIVATE / MX_IOC_DEACTIVATE / MX_IOC_FAIL: one channel. */
struct mx_ioc_chan {
	uint32_t chan;	    /* < MCP_MAX_CHANS and < the endpoint's nchan */
	uint32_t port;	    /* ACTIVATE: my port, 1 .. 65535 */
	uint32_t peer_node; /* ACTIVATE */
	uint32_t peer_port; /* ACTIVATE: 1 .. 65535 */
	uint32_t flags;	    /* ACTIVATE: MCP_CHANF_*; FAIL: the errno (> 0) */
	uint32_t rsvd[3];   /* zero */
};

/* MX_IOC_STATS: the board's struct mcp_stats as in SRAM (big-endian). */
struct mx_ioc_stats {
	uint32_t words[32];
};

#define MX_IOC_MAGIC 0xc1
#define MX_IOC_INFO _IOR(MX_IOC_MAGIC, 1, struct mx_ioc_info)
#define MX_IOC_ALLOC _IOWR(MX_IOC_MAGIC, 2, struct mx_ioc_alloc)
#define MX_IOC_CREATE _IO(MX_IOC_MAGIC, 3)  /* create_endpt: the firmware takes it */
#define MX_IOC_DESTROY _IO(MX_IOC_MAGIC, 4) /* destroy_endpt (close does it too) */
#define MX_IOC_ACTIVATE _IOW(MX_IOC_MAGIC, 5, struct mx_ioc_chan)
#define MX_IOC_DEACTIVATE _IOW(MX_IOC_MAGIC, 6, struct mx_ioc_chan)
#define MX_IOC_FAIL _IOW(MX_IOC_MAGIC, 7, struct mx_ioc_chan) /* give a channel up */
#define MX_IOC_SIGNAL _IO(MX_IOC_MAGIC, 8)		      /* make poll() readable now */
#define MX_IOC_DRAIN _IO(MX_IOC_MAGIC, 9)		      /* consume pending wake-ups */
#define MX_IOC_STATS _IOR(MX_IOC_MAGIC, 10, struct mx_ioc_stats)

#endif /* CLCP_MX_IOCTL_H */
