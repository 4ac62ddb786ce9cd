// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The board: PCI probe, reset / firmware load / start, the route table,
 * the firmware's command queue in SRAM and the interrupt.
 *
 * Two kinds of boards: Myricom's LANai boards (vendor 0x14c1) and qemu's
 * ivshmem-doorbell device (1af4:1110) whose NIC is the host build of the
 * same firmware (firmware/sim/board.h). SRAM is big-endian.
 */
#include <linux/delay.h>
#include <linux/firmware.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/random.h>
#include <linux/slab.h>

#include "clcp_mx.h"
#include "sim/board.h"

#define MXK_CMD_TIMEOUT_MS 5000 /* the simulated NIC under TCG is slow */
#define MXK_BOOT_TIMEOUT_MS 5000

unsigned int mxk_node;
module_param_named(node, mxk_node, uint, 0444);
MODULE_PARM_DESC(node, "node id of the first board (0..63); the next boards take the next ids");

char *mxk_fw_name = "clcp/clcp_mcp.bin";
module_param_named(firmware, mxk_fw_name, charp, 0444);
MODULE_PARM_DESC(firmware, "firmware image, under /lib/firmware");

static unsigned int mxk_host_dead_ms = 10000;
module_param_named(host_dead_ms, mxk_host_dead_ms, uint, 0444);
MODULE_PARM_DESC(host_dead_ms, "the board fails every channel when this host misses its beats "
		 "that long, ms (0: never; at most 60000)");

static bool mxk_lanai_unverified;
module_param_named(lanai_unverified, mxk_lanai_unverified, bool, 0444);
MODULE_PARM_DESC(lanai_unverified, "drive Myricom LANai boards with the unverified register map");

#define SH(field) (MCP_SHARED_OFF + offsetof(struct mcp_shared, field))

u32 mxk_sram_read32(struct mxk_board *b, u32 off)
{
	return ioread32be(b->sram + off);
}

static void sram_write32(struct mxk_board *b, u32 off, u32 v)
{
	iowrite32be(v, b->sram + off);
}

/* Waits until the register at off (read by rd) equals want, at most ms. */
static int wait_reg(struct mxk_board *b, u32 (*rd)(struct mxk_board *, u32), u32 off, u32 want,
		    unsigned int ms)
{
	unsigned long end = jiffies + msecs_to_jiffies(ms);

	while (rd(b, off) != want) {
		if (time_after(jiffies, end))
			return -ETIMEDOUT;
		usleep_range(50, 200);
	}
	return 0;
}

/* --- the simulated board (qemu ivshmem-doorbell) --- */

static u32 simb_reg(struct mxk_board *b, u32 off)
{
	return ioread32(b->sram + SIMB_REGS_OFF + off);
}

static int simb_setup(struct mxk_board *b)
{
	if (pci_resource_len(b->pdev, 2) < SIMB_SHM_SIZE) {
		dev_err(&b->pdev->dev, "ivshmem memory of %llu bytes, want %u\n",
			(unsigned long long)pci_resource_len(b->pdev, 2), SIMB_SHM_SIZE);
		return -ENODEV;
	}
	b->regs = pcim_iomap(b->pdev, 0, 0);
	return b->regs ? 0 : -ENOMEM;
}

static void simb_kick(struct mxk_board *b)
{
	iowrite32(SIMB_NIC_PEER << 16 | 0, b->regs + SIMB_BAR0_DOORBELL);
}

static int simb_ctrl(struct mxk_board *b, u32 ctrl, u32 state)
{
	iowrite32(ctrl, b->sram + SIMB_REGS_OFF + SIMB_REG_CTRL);
	simb_kick(b);
	return wait_reg(b, simb_reg, SIMB_REG_STATE, state, MXK_BOOT_TIMEOUT_MS);
}

static int simb_reset(struct mxk_board *b)
{
	return simb_ctrl(b, SIMB_CTRL_RESET, SIMB_STATE_HALTED);
}

static int simb_start(struct mxk_board *b, u32 image_len)
{
	iowrite32(image_len, b->sram + SIMB_REGS_OFF + SIMB_REG_IMAGE);
	wmb(); /* the image and its length before RUN */
	return simb_ctrl(b, SIMB_CTRL_RUN, SIMB_STATE_RUNNING);
}

static bool simb_irq_ack(struct mxk_board *b)
{
	return ioread32(b->regs + 4) != 0; /* Interrupt Status: reading clears it */
}

static const struct mxk_board_ops simb_ops = {
	.name = "ivshmem simulated board",
	.sram_bar = 2,
	.setup = simb_setup,
	.reset = simb_reset,
	.start = simb_start,
	.kick = simb_kick,
	.irq_ack = simb_irq_ack,
};

/*
 * --- Myricom LANai boards ---
 *
 * UNVERIFIED: no card was at hand. SRAM at BAR0 offset 0; the board
 * control word (LANai reset bit) after the SRAM, as on the LANai 4..9
 * PCI boards' register block. Check the offsets against the board's
 * documentation (GM's lanai*_def.h) before enabling lanai_unverified.
 */
#define LXB_CTRL_OFF 0x800000u /* board control register (unverified) */
#define LXB_CTRL_RESET 0x1u    /* LANai held in reset (unverified) */

static int lxb_setup(struct mxk_board *b)
{
	if (!mxk_lanai_unverified) {
		dev_err(&b->pdev->dev,
			"LANai register map unverified: load with lanai_unverified=1 to try\n");
		return -ENODEV;
	}
	b->regs = b->sram;
	return 0;
}

static int lxb_reset(struct mxk_board *b)
{
	iowrite32be(LXB_CTRL_RESET, b->regs + LXB_CTRL_OFF);
	ioread32be(b->regs + LXB_CTRL_OFF); /* flush the posted write */
	udelay(10);
	return 0;
}

static int lxb_start(struct mxk_board *b, u32 image_len)
{
	wmb(); /* the image before the LANai runs it */
	iowrite32be(0, b->regs + LXB_CTRL_OFF);
	return 0;
}

static void lxb_kick(struct mxk_board *b)
{
	/* The LANai polls its SRAM: nothing to ring. */
}

static bool lxb_irq_ack(struct mxk_board *b)
{
	return true;
}

static const struct mxk_board_ops lxb_ops = {
	.name = "Myricom LANai board",
	.sram_bar = 0,
	.setup = lxb_setup,
	.reset = lxb_reset,
	.start = lxb_start,
	.kick = lxb_kick,
	.irq_ack = lxb_irq_ack,
};

/* --- the command queue (mcp_abi.h) --- */

static u32 cmd_off(u32 slot)
{
	return SH(cmdq) + slot * sizeof(struct mcp_cmd);
}

static void cmd_fill(struct mxk_board *b, u32 off, u32 op, u32 ep, const struct mxk_cmd_args *a)
{
	sram_write32(b, off + offsetof(struct mcp_cmd, op), op);
	sram_write32(b, off + offsetof(struct mcp_cmd, ep), ep);
	sram_write32(b, off + offsetof(struct mcp_cmd, chan), a->chan);
	sram_write32(b, off + offsetof(struct mcp_cmd, port), a->port);
	sram_write32(b, off + offsetof(struct mcp_cmd, peer_node), a->peer_node);
	sram_write32(b, off + offsetof(struct mcp_cmd, peer_port), a->peer_port);
	sram_write32(b, off + offsetof(struct mcp_cmd, host_addr_hi), upper_32_bits(a->host));
	sram_write32(b, off + offsetof(struct mcp_cmd, host_addr_lo), lower_32_bits(a->host));
	sram_write32(b, off + offsetof(struct mcp_cmd, size), a->size);
}

static u32 cmd_state(struct mxk_board *b, u32 off)
{
	return ioread8(b->sram + off + offsetof(struct mcp_cmd, state));
}

/*
 * One command: fill the entry, state = READY last; wait for DONE; take
 * the result; FREE. A timeout means the firmware is gone: the board is
 * dead until the module is loaded again.
 */
int mxk_cmd(struct mxk_board *b, u32 op, u32 ep, const struct mxk_cmd_args *args)
{
	static const struct mxk_cmd_args none;
	u32 off;
	int rc;

	mutex_lock(&b->cmd_lock);
	if (b->dead) {
		mutex_unlock(&b->cmd_lock);
		return -EIO;
	}
	off = cmd_off(b->cmd_tail++ & (MCP_CMDQ_LEN - 1));
	cmd_fill(b, off, op, ep, args ? args : &none);
	wmb(); /* RC1: the fields before READY; pairs with the firmware's AC1 */
	iowrite8(MCP_CMDS_READY, b->sram + off + offsetof(struct mcp_cmd, state));
	b->ops->kick(b);
	rc = wait_reg(b, cmd_state, off, MCP_CMDS_DONE, MXK_CMD_TIMEOUT_MS);
	if (rc) {
		b->dead = true;
		dev_err(&b->pdev->dev, "firmware does not answer command %u\n", op);
	} else {
		rmb(); /* AC2: the result after DONE; pairs with the firmware's RC2 */
		rc = (s16)ioread16be(b->sram + off + offsetof(struct mcp_cmd, result));
		iowrite8(MCP_CMDS_FREE, b->sram + off + offsetof(struct mcp_cmd, state));
	}
	mutex_unlock(&b->cmd_lock);
	return rc;
}

/* --- boot: reset, load, start, routes --- */

static int load_image(struct mxk_board *b, u32 *len)
{
	const struct firmware *fw;
	int rc = request_firmware(&fw, mxk_fw_name, &b->pdev->dev);

	if (rc) {
		dev_err(&b->pdev->dev, "firmware %s: %d\n", mxk_fw_name, rc);
		return rc;
	}
	if (fw->size == 0 || fw->size > MCP_IMAGE_MAX) {
		dev_err(&b->pdev->dev, "firmware %s: %zu bytes, at most %u\n", mxk_fw_name,
			fw->size, MCP_IMAGE_MAX);
		rc = -EINVAL;
	} else {
		memset_io(b->sram, 0, MCP_SHARED_OFF);
		memcpy_toio(b->sram, fw->data, fw->size);
		*len = fw->size;
	}
	release_firmware(fw);
	return rc;
}

/* The default routes: one crossbar, node k on switch port k (one route byte). */
static void write_routes(struct mxk_board *b)
{
	u32 k, off;

	for (k = 0; k < MCP_MAX_NODES; k++) {
		off = SH(routes) + k * sizeof(struct mcp_route);
		memset_io(b->sram + off, 0, sizeof(struct mcp_route));
		iowrite8(1, b->sram + off + offsetof(struct mcp_route, len));
		iowrite8(k, b->sram + off + offsetof(struct mcp_route, bytes));
		iowrite8(1, b->sram + off + offsetof(struct mcp_route, valid));
	}
}

/* What the firmware is told: 0 (no watch) or at most MCP_HOST_DEAD_MAX_MS. */
static u32 host_dead_ms(void)
{
	return min(mxk_host_dead_ms, MCP_HOST_DEAD_MAX_MS);
}

/* A beat four times per host_dead_ms: a late one or two are no death. */
static unsigned long beat_period(void)
{
	return msecs_to_jiffies(max(host_dead_ms() / 4, 10u));
}

static void beat(struct work_struct *w)
{
	struct mxk_board *b = container_of(to_delayed_work(w), struct mxk_board, beat);

	sram_write32(b, SH(host_beat), ++b->beats);
	schedule_delayed_work(&b->beat, beat_period());
}

/* The firmware watches our beats from now on (host_dead_ms 0: it does not). */
static void beat_start(struct mxk_board *b)
{
	sram_write32(b, SH(host_dead_ms), host_dead_ms());
	if (host_dead_ms())
		schedule_delayed_work(&b->beat, beat_period());
}

static int board_boot(struct mxk_board *b)
{
	struct mxk_cmd_args a = { .peer_node = b->node, .chan = MCP_MAX_NODES,
				  .port = get_random_u32() };
	u32 len = 0;
	int rc = b->ops->reset(b);

	if (!rc)
		rc = load_image(b, &len);
	if (!rc)
		rc = b->ops->start(b, len);
	if (!rc) /* AB1: the firmware publishes magic last (RB1) */
		rc = wait_reg(b, mxk_sram_read32, SH(magic), MCP_MAGIC, MXK_BOOT_TIMEOUT_MS);
	if (rc) {
		dev_err(&b->pdev->dev, "firmware did not start: %d\n", rc);
		return rc;
	}
	rmb();
	if (mxk_sram_read32(b, SH(version)) != MCP_ABI_VERSION) {
		dev_err(&b->pdev->dev, "firmware ABI %u, driver wants %u\n",
			mxk_sram_read32(b, SH(version)), MCP_ABI_VERSION);
		return -EPROTO;
	}
	b->cmd_tail = 0;
	b->dead = false;
	write_routes(b);
	rc = mxk_cmd(b, MCP_CMD_LOAD_ROUTES, 0, &a);
	if (rc)
		dev_err(&b->pdev->dev, "route table refused: %d\n", rc);
	else
		beat_start(b);
	return rc;
}

/* --- the interrupt: the cause is in SRAM (each endpoint's intr word) --- */

static irqreturn_t mxk_irq(int irq, void *arg)
{
	struct mxk_board *b = arg;
	u32 i, n;

	if (!b->pdev->msix_enabled && !b->pdev->msi_enabled && !b->ops->irq_ack(b))
		return IRQ_NONE;
	for (i = 0; i < MX_DEV_COUNT; i++) {
		struct mxk_endpt *ep = &b->ep[i];

		if (!smp_load_acquire(&ep->live))
			continue;
		n = mxk_sram_read32(b, MCP_EPAGE(i) + offsetof(struct mcp_endpt_page, intr));
		if (n == ep->intr_seen)
			continue;
		ep->intr_seen = n;
		atomic_set(&ep->pending, 1);
		wake_up_interruptible(&ep->wq);
	}
	return IRQ_HANDLED;
}

static int irq_setup(struct mxk_board *b)
{
	struct pci_dev *pdev = b->pdev;
	int rc = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSIX | PCI_IRQ_MSI | PCI_IRQ_LEGACY);

	if (rc < 0)
		return rc;
	b->irq = pci_irq_vector(pdev, 0);
	if (b->ops == &simb_ops && !pdev->msix_enabled)
		iowrite32(1, b->regs); /* ivshmem Interrupt Mask: INTx on */
	rc = request_irq(b->irq, mxk_irq, IRQF_SHARED, "clcp_mx", b);
	if (rc)
		pci_free_irq_vectors(pdev);
	return rc;
}

/* --- PCI --- */

static struct mxk_board *mxk_boards[MX_BOARDS_MAX];
static DEFINE_MUTEX(mxk_boards_lock);

/* A free board number, taken; MX_BOARDS_MAX if none. */
static u32 slot_take(struct mxk_board *b)
{
	u32 s;

	mutex_lock(&mxk_boards_lock);
	for (s = 0; s < MX_BOARDS_MAX && mxk_boards[s]; s++)
		;
	if (s < MX_BOARDS_MAX)
		mxk_boards[s] = b;
	mutex_unlock(&mxk_boards_lock);
	return s;
}

static void slot_give(u32 s)
{
	mutex_lock(&mxk_boards_lock);
	mxk_boards[s] = NULL;
	mutex_unlock(&mxk_boards_lock);
}

/* PCI resources and the interrupt (devres undoes them on failure). */
static int board_map(struct mxk_board *b)
{
	struct pci_dev *pdev = b->pdev;
	int bar = b->ops->sram_bar;
	int rc = pcim_enable_device(pdev);

	if (rc)
		return rc;
	pci_set_master(pdev); /* DMA, and MSI-X messages */
	rc = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(32));
	if (rc)
		return rc;
	b->sram = pcim_iomap(pdev, bar, 0);
	b->sram_phys = pci_resource_start(pdev, bar);
	if (!b->sram || pci_resource_len(pdev, bar) < MCP_SRAM_SIZE)
		return -ENODEV;
	rc = b->ops->setup(b);
	return rc ? rc : irq_setup(b);
}

static int board_probe(struct mxk_board *b)
{
	int rc = board_map(b);

	if (rc)
		return rc;
	rc = board_boot(b);
	if (!rc)
		rc = mxk_cdev_add(b);
	if (rc) {
		cancel_delayed_work_sync(&b->beat);
		b->ops->reset(b);
		free_irq(b->irq, b);
		pci_free_irq_vectors(b->pdev);
		return rc;
	}
	dev_info(&b->pdev->dev, "%s %u: node %u, firmware %s, irq %d (%s)\n", b->ops->name, b->slot,
		 b->node, mxk_fw_name, b->irq, b->pdev->msix_enabled ? "MSI-X" : "legacy");
	return 0;
}

static void board_free(struct kref *ref)
{
	struct mxk_board *b = container_of(ref, struct mxk_board, ref);

	pci_dev_put(b->pdev);
	kfree(b);
}

void mxk_board_put(struct mxk_board *b)
{
	kref_put(&b->ref, board_free);
}

static int mxk_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct mxk_board *b = kzalloc(sizeof(*b), GFP_KERNEL);
	int rc = -EBUSY;

	if (!b)
		return -ENOMEM;
	kref_init(&b->ref);
	b->pdev = pci_dev_get(pdev);
	b->ops = (const struct mxk_board_ops *)id->driver_data;
	mutex_init(&b->cmd_lock);
	INIT_DELAYED_WORK(&b->beat, beat);
	pci_set_drvdata(pdev, b);
	b->slot = slot_take(b);
	if (b->slot < MX_BOARDS_MAX) {
		b->node = mxk_node + b->slot;
		rc = b->node < MCP_MAX_NODES ? board_probe(b) : -EINVAL;
		if (rc)
			slot_give(b->slot);
	}
	if (rc)
		mxk_board_put(b);
	return rc;
}

/*
 * Unloading waits for every file to close (each holds the module); an
 * unbind or a hot unplug does not: the files left open lose the board
 * first (mxk_cdev_del), then the LANai stops. The board is freed with the
 * last file.
 */
static void mxk_remove(struct pci_dev *pdev)
{
	struct mxk_board *b = pci_get_drvdata(pdev);

	mxk_cdev_del(b);
	cancel_delayed_work_sync(&b->beat);
	b->ops->reset(b);
	free_irq(b->irq, b);
	pci_free_irq_vectors(pdev);
	slot_give(b->slot);
	mxk_board_put(b);
}

static const struct pci_device_id mxk_ids[] = {
	{ PCI_DEVICE(0x14c1, PCI_ANY_ID), .driver_data = (kernel_ulong_t)&lxb_ops },
	{ PCI_DEVICE(0x1af4, 0x1110), .driver_data = (kernel_ulong_t)&simb_ops },
	{ 0 }
};
MODULE_DEVICE_TABLE(pci, mxk_ids);

static struct pci_driver mxk_pci_driver = {
	.name = "clcp_mx",
	.id_table = mxk_ids,
	.probe = mxk_probe,
	.remove = mxk_remove,
};

int mxk_board_register(void)
{
	return pci_register_driver(&mxk_pci_driver);
}

void mxk_board_unregister(void)
{
	pci_unregister_driver(&mxk_pci_driver);
}

MODULE_FIRMWARE("clcp/clcp_mcp.bin");
