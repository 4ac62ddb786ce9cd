/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * clcp_mx: the CLCP Myrinet driver. One board, sixteen endpoints
 * (/dev/clcp0 .. /dev/clcp15). mx_board.c talks to the board (PCI, the
 * firmware's command queue in SRAM, the interrupt); mx_main.c is the
 * character device (open, release, ioctl, mmap, poll).
 */
#ifndef CLCP_MX_H
#define CLCP_MX_H

#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "clcp/mx_ioctl.h"
#include "mcp_abi.h"

/* The SRAM window of an endpoint's mapping: its own page of words, no other SRAM. */
#define MXK_WIN_SIZE MCP_EPAGE_SIZE

struct mxk_board;

struct mxk_endpt {
	struct mxk_board *board;
	u32 index;
	struct mutex lock; /* open, alloc, created, cpu, gone, the ioctls */
	bool open;
	bool gone; /* the board was removed while open: -ENODEV from now on */
	bool created; /* the firmware has it */
	void *cpu;    /* endpoint memory (DMA API), alloc bytes */
	dma_addr_t bus;
	u32 alloc;
	wait_queue_head_t wq;
	atomic_t pending; /* an interrupt (or MX_IOC_SIGNAL) not yet drained */
	u32 intr_seen;	  /* the firmware's intr word at the last interrupt */
	bool live;	  /* the interrupt handler looks at it */
	struct address_space *mapping; /* the open file's: its SRAM window is unmapped when gone */
	struct page *spare; /* gone: what the window maps instead, until release */
};

/* What differs between a LANai board and the simulated one. */
struct mxk_board_ops {
	const char *name;
	int sram_bar;
	int (*setup)(struct mxk_board *b); /* map the registers */
	int (*reset)(struct mxk_board *b); /* the LANai halts: no more DMA */
	int (*start)(struct mxk_board *b, u32 image_len);
	void (*kick)(struct mxk_board *b);    /* the NIC may be asleep: wake it */
	bool (*irq_ack)(struct mxk_board *b); /* legacy INTx: was it ours? */
};

/* Freed when removed and no file is open: each open file holds a reference. */
struct mxk_board {
	struct kref ref;
	struct pci_dev *pdev; /* held until freed: endpoint memory is freed against it */
	const struct mxk_board_ops *ops;
	void __iomem *sram;
	resource_size_t sram_phys;
	void __iomem *regs;    /* the board's control registers */
	struct mutex cmd_lock; /* the command queue */
	u32 cmd_tail;
	bool dead; /* a command timed out: the firmware is gone */
	struct delayed_work beat; /* bumps host_beat: the firmware watches that we live */
	u32 beats;
	u32 node;
	u32 slot; /* board number: minors 16 * slot .. 16 * slot + 15 */
	int irq;
	struct mxk_endpt ep[MX_DEV_COUNT];
};

/* A command's arguments in host order (struct mcp_cmd without op, ep). */
struct mxk_cmd_args {
	u32 chan, port, peer_node, peer_port;
	u64 host; /* bus address; ACTIVATE_CHAN: flags */
	u32 size;
};

/* mx_board.c */
extern unsigned int mxk_node;
extern char *mxk_fw_name;
int mxk_board_register(void);
void mxk_board_unregister(void);
int mxk_cmd(struct mxk_board *b, u32 op, u32 ep, const struct mxk_cmd_args *args);
u32 mxk_sram_read32(struct mxk_board *b, u32 off);
void mxk_board_put(struct mxk_board *b);

/* mx_main.c */
int mxk_cdev_add(struct mxk_board *b);
void mxk_cdev_del(struct mxk_board *b);
extern atomic_t mxk_dma_live;

#endif /* CLCP_MX_H */
