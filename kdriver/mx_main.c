// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * /dev/clcp0 .. /dev/clcp15: one endpoint each, one process at a time
 * (clcp/mx_ioctl.h has the user's side). open, release, unlocked_ioctl,
 * mmap and poll only; the endpoint commands go to the firmware.
 */
#include <linux/cdev.h>
#include <linux/dma-mapping.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/uaccess.h>

#include "clcp_mx.h"

atomic_t mxk_dma_live = ATOMIC_INIT(0); /* endpoint buffers not yet freed */

static dev_t mxk_devt;
static struct class *mxk_class;
static struct cdev mxk_cdev;
static struct mxk_board *mxk_boards_open[MX_BOARDS_MAX]; /* set while probed */
static DEFINE_MUTEX(mxk_open_lock);

/* --- endpoint memory --- */

static void endpt_free(struct mxk_endpt *ep)
{
	if (!ep->cpu)
		return;
	dma_free_coherent(&ep->board->pdev->dev, ep->alloc, ep->cpu, ep->bus);
	ep->cpu = NULL;
	ep->alloc = 0;
	atomic_dec(&mxk_dma_live);
}

/* The firmware lets go of the endpoint (no DMA into it after this). */
static int endpt_destroy(struct mxk_endpt *ep)
{
	int rc;

	if (!ep->created)
		return -ENOENT;
	smp_store_release(&ep->live, false);
	rc = mxk_cmd(ep->board, MCP_CMD_DESTROY_ENDPT, ep->index, NULL);
	ep->created = false;
	return rc;
}

/* --- file operations --- */

static int mxk_open(struct inode *inode, struct file *f)
{
	unsigned int minor = iminor(inode);
	struct mxk_board *b;
	struct mxk_endpt *ep;
	int rc = 0;

	if (minor >= MX_DEV_COUNT * MX_BOARDS_MAX)
		return -ENODEV;
	mutex_lock(&mxk_open_lock);
	b = mxk_boards_open[minor / MX_DEV_COUNT];
	if (!b) {
		mutex_unlock(&mxk_open_lock);
		return -ENODEV;
	}
	ep = &b->ep[minor % MX_DEV_COUNT];
	mutex_lock(&ep->lock);
	if (ep->open) {
		rc = -EBUSY;
	} else {
		ep->open = true;
		ep->mapping = f->f_mapping;
		atomic_set(&ep->pending, 0);
		f->private_data = ep;
		kref_get(&b->ref);
	}
	mutex_unlock(&ep->lock);
	mutex_unlock(&mxk_open_lock);
	return rc;
}

/* Last reference gone (close, exit or kill; mappings hold one too). */
static int mxk_release(struct inode *inode, struct file *f)
{
	struct mxk_endpt *ep = f->private_data;
	struct mxk_board *b = ep->board;
	int rc;

	mutex_lock(&ep->lock);
	rc = ep->gone ? 0 : endpt_destroy(ep);
	if ((rc == -ETIMEDOUT || rc == -EIO) && ep->cpu) {
		/* A silent firmware may still own the memory: stop the LANai first. */
		dev_err(&b->pdev->dev, "endpoint %u: destroy failed (%d), board reset\n",
			ep->index, rc);
		b->ops->reset(b);
	}
	endpt_free(ep);
	if (ep->spare)
		__free_page(ep->spare);
	ep->spare = NULL;
	ep->mapping = NULL;
	ep->open = false;
	mutex_unlock(&ep->lock);
	mxk_board_put(b);
	return 0;
}

/* MX_IOC_INFO fails with -ENODEV once the board is gone: the user's check. */
static long ioc_info(struct mxk_endpt *ep, void __user *arg)
{
	struct mx_ioc_info in = {
		.abi_version = MX_IOC_ABI_VERSION,
		.mcp_abi = MCP_ABI_VERSION,
		.node = ep->board->node,
		.index = ep->index,
		.endpt_max = MX_ENDPT_MAX,
		.win_size = MXK_WIN_SIZE,
		.page_off = 0,
		.board = ep->board->slot,
	};

	if (READ_ONCE(ep->gone))
		return -ENODEV;
	return copy_to_user(arg, &in, sizeof(in)) ? -EFAULT : 0;
}

static long ioc_stats(struct mxk_endpt *ep, void __user *arg)
{
	struct mx_ioc_stats st;

	BUILD_BUG_ON(sizeof(st) != sizeof(struct mcp_stats));
	memcpy_fromio(&st, ep->board->sram + MCP_SHARED_OFF + offsetof(struct mcp_shared, stats),
		      sizeof(st));
	return copy_to_user(arg, &st, sizeof(st)) ? -EFAULT : 0;
}

static long ioc_alloc(struct mxk_endpt *ep, void __user *arg)
{
	struct mx_ioc_alloc a;
	u32 alloc;

	if (copy_from_user(&a, arg, sizeof(a)))
		return -EFAULT;
	if (a.abi_version != MX_IOC_ABI_VERSION)
		return -EPROTO;
	if (a.size == 0 || a.size > MX_ENDPT_MAX)
		return -EINVAL;
	if (ep->cpu)
		return -EBUSY;
	alloc = PAGE_ALIGN(a.size);
	ep->cpu = dma_alloc_coherent(&ep->board->pdev->dev, alloc, &ep->bus, GFP_KERNEL);
	if (!ep->cpu)
		return -ENOMEM;
	ep->alloc = alloc;
	atomic_inc(&mxk_dma_live);
	a.map_size = alloc + MXK_WIN_SIZE;
	a.win_off = alloc;
	if (copy_to_user(arg, &a, sizeof(a))) {
		endpt_free(ep);
		return -EFAULT;
	}
	return 0;
}

/* create_endpt: the user has written the header; the firmware reads it. */
static long ioc_create(struct mxk_endpt *ep)
{
	struct mxk_cmd_args a = { .host = ep->bus, .size = ep->alloc };
	struct mxk_board *b = ep->board;
	int rc;

	if (!ep->cpu)
		return -EINVAL;
	if (ep->created)
		return -EBUSY;
	ep->intr_seen =
		mxk_sram_read32(b, MCP_EPAGE(ep->index) + offsetof(struct mcp_endpt_page, intr));
	rc = mxk_cmd(b, MCP_CMD_CREATE_ENDPT, ep->index, &a);
	if (rc)
		return rc;
	ep->created = true;
	smp_store_release(&ep->live, true);
	return 0;
}

/* The arguments of a channel command, each checked before the firmware sees them. */
static long chan_args(unsigned int cmd, const struct mx_ioc_chan *c, struct mxk_cmd_args *a,
		      u32 *op)
{
	if (c->chan >= MCP_MAX_CHANS || c->rsvd[0] || c->rsvd[1] || c->rsvd[2])
		return -EINVAL;
	a->chan = c->chan;
	switch (cmd) {
	case MX_IOC_ACTIVATE:
		if (c->port == 0 || c->port > 0xffff || c->peer_port == 0 ||
		    c->peer_port > 0xffff || c->peer_node >= MCP_MAX_NODES ||
		    (c->flags & ~MCP_CHANF_CREDIT))
			return -EINVAL;
		a->port = c->port;
		a->peer_node = c->peer_node;
		a->peer_port = c->peer_port;
		a->host = c->flags;
		*op = MCP_CMD_ACTIVATE_CHAN;
		return 0;
	case MX_IOC_DEACTIVATE:
		*op = MCP_CMD_DEACTIVATE_CHAN;
		return 0;
	default: /* MX_IOC_FAIL: the errno the channel's sends get */
		if (c->flags == 0 || c->flags > 255)
			return -EINVAL;
		a->port = c->flags;
		*op = MCP_CMD_FAIL_CHAN;
		return 0;
	}
}

static long ioc_chan(struct mxk_endpt *ep, unsigned int cmd, void __user *arg)
{
	struct mxk_cmd_args a = { 0 };
	struct mx_ioc_chan c;
	u32 op = 0;
	long rc;

	if (copy_from_user(&c, arg, sizeof(c)))
		return -EFAULT;
	rc = chan_args(cmd, &c, &a, &op);
	if (rc)
		return rc;
	if (!ep->created)
		return -ENOENT;
	return mxk_cmd(ep->board, op, ep->index, &a);
}

static long mxk_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct mxk_endpt *ep = f->private_data;
	void __user *uarg = (void __user *)arg;
	long rc;

	switch (cmd) {
	case MX_IOC_INFO:
		return ioc_info(ep, uarg);
	case MX_IOC_SIGNAL:
		atomic_set(&ep->pending, 1);
		wake_up_interruptible(&ep->wq);
		return 0;
	case MX_IOC_DRAIN:
		atomic_set(&ep->pending, 0);
		return 0;
	case MX_IOC_STATS:
	case MX_IOC_ALLOC:
	case MX_IOC_CREATE:
	case MX_IOC_DESTROY:
	case MX_IOC_ACTIVATE:
	case MX_IOC_DEACTIVATE:
	case MX_IOC_FAIL:
		break;
	default:
		return -ENOTTY;
	}
	mutex_lock(&ep->lock);
	if (ep->gone)
		rc = -ENODEV;
	else if (cmd == MX_IOC_STATS)
		rc = ioc_stats(ep, uarg);
	else if (cmd == MX_IOC_ALLOC)
		rc = ioc_alloc(ep, uarg);
	else if (cmd == MX_IOC_CREATE)
		rc = ioc_create(ep);
	else if (cmd == MX_IOC_DESTROY)
		rc = endpt_destroy(ep);
	else
		rc = ioc_chan(ep, cmd, uarg);
	mutex_unlock(&ep->lock);
	return rc;
}

/* A fault in the SRAM window after the board is gone (endpt_unplug): the spare page. */
static vm_fault_t mxk_fault(struct vm_fault *vmf)
{
	struct mxk_endpt *ep = vmf->vma->vm_private_data;
	struct page *spare = READ_ONCE(ep->spare);

	if (!spare || vmf->pgoff < (READ_ONCE(ep->alloc) >> PAGE_SHIFT))
		return VM_FAULT_SIGBUS;
	return vmf_insert_pfn(vmf->vma, vmf->address, page_to_pfn(spare));
}

static const struct vm_operations_struct mxk_vm_ops = {
	.fault = mxk_fault,
};

/*
 * One mapping at offset 0: the endpoint memory, then the endpoint's page of
 * SRAM words (doorbell, channel words), uncached; no other SRAM.
 * The DMA API gave directly mapped pages (no IOMMU on the boards' hosts).
 */
static int mxk_mmap(struct file *f, struct vm_area_struct *vma)
{
	struct mxk_endpt *ep = f->private_data;
	unsigned long len = vma->vm_end - vma->vm_start;
	phys_addr_t win = ep->board->sram_phys + MCP_EPAGE(ep->index);
	int rc = -EINVAL;

	BUILD_BUG_ON(MCP_EPAGE_SIZE % PAGE_SIZE); /* an endpoint's words alone on their pages */
	mutex_lock(&ep->lock);
	if (ep->gone)
		rc = -ENODEV;
	else if (ep->cpu && vma->vm_pgoff == 0 && len == ep->alloc + MXK_WIN_SIZE &&
	    (vma->vm_flags & VM_SHARED)) {
		vma->vm_flags |= VM_IO | VM_DONTEXPAND | VM_DONTDUMP | VM_DONTCOPY;
		vma->vm_ops = &mxk_vm_ops;
		vma->vm_private_data = ep;
		rc = remap_pfn_range(vma, vma->vm_start, PHYS_PFN(virt_to_phys(ep->cpu)), ep->alloc,
				     vma->vm_page_prot);
		if (!rc)
			rc = io_remap_pfn_range(vma, vma->vm_start + ep->alloc, PHYS_PFN(win),
						MXK_WIN_SIZE, pgprot_noncached(vma->vm_page_prot));
	}
	mutex_unlock(&ep->lock);
	return rc;
}

static __poll_t mxk_poll(struct file *f, struct poll_table_struct *wait)
{
	struct mxk_endpt *ep = f->private_data;

	poll_wait(f, &ep->wq, wait);
	if (READ_ONCE(ep->gone))
		return EPOLLIN | EPOLLRDNORM | EPOLLERR | EPOLLHUP;
	return atomic_read(&ep->pending) ? EPOLLIN | EPOLLRDNORM : 0;
}

static const struct file_operations mxk_fops = {
	.owner = THIS_MODULE,
	.open = mxk_open,
	.release = mxk_release,
	.unlocked_ioctl = mxk_ioctl,
	.mmap = mxk_mmap,
	.poll = mxk_poll,
	.llseek = noop_llseek,
};

/* --- device nodes --- */

static dev_t minor_of(const struct mxk_board *b, u32 i)
{
	return MKDEV(MAJOR(mxk_devt), b->slot * MX_DEV_COUNT + i);
}

int mxk_cdev_add(struct mxk_board *b)
{
	u32 i;

	for (i = 0; i < MX_DEV_COUNT; i++) {
		struct mxk_endpt *ep = &b->ep[i];

		ep->board = b;
		ep->index = i;
		mutex_init(&ep->lock);
		init_waitqueue_head(&ep->wq);
		device_create(mxk_class, &b->pdev->dev, minor_of(b, i), NULL, "clcp%u",
			      MINOR(minor_of(b, i)));
	}
	mutex_lock(&mxk_open_lock);
	mxk_boards_open[b->slot] = b;
	mutex_unlock(&mxk_open_lock);
	return 0;
}

/*
 * The board goes while ep may be open: no command reaches it from now on,
 * the user's mapping of its SRAM page gives way to a spare page of its own
 * (the endpoint memory stays mapped until release), and a sleeper wakes to
 * find -ENODEV.
 */
static void endpt_unplug(struct mxk_endpt *ep)
{
	mutex_lock(&ep->lock);
	ep->gone = true;
	smp_store_release(&ep->live, false);
	ep->created = false;
	if (ep->open && ep->cpu) {
		WRITE_ONCE(ep->spare, alloc_page(GFP_KERNEL | __GFP_ZERO));
		unmap_mapping_range(ep->mapping, ep->alloc, MXK_WIN_SIZE, 1);
	}
	mutex_unlock(&ep->lock);
	wake_up_interruptible(&ep->wq);
}

/* No new open finds the board; the open ones lose it. */
void mxk_cdev_del(struct mxk_board *b)
{
	u32 i;

	mutex_lock(&mxk_open_lock);
	mxk_boards_open[b->slot] = NULL;
	mutex_unlock(&mxk_open_lock);
	for (i = 0; i < MX_DEV_COUNT; i++) {
		endpt_unplug(&b->ep[i]);
		device_destroy(mxk_class, minor_of(b, i));
	}
}

static int __init mxk_init(void)
{
	int rc = alloc_chrdev_region(&mxk_devt, 0, MX_DEV_COUNT * MX_BOARDS_MAX, "clcp");

	if (rc)
		return rc;
	cdev_init(&mxk_cdev, &mxk_fops);
	rc = cdev_add(&mxk_cdev, mxk_devt, MX_DEV_COUNT * MX_BOARDS_MAX);
	if (rc)
		goto out_region;
	mxk_class = class_create(THIS_MODULE, "clcp");
	if (IS_ERR(mxk_class)) {
		rc = PTR_ERR(mxk_class);
		goto out_cdev;
	}
	rc = mxk_board_register();
	if (!rc)
		return 0;
	class_destroy(mxk_class);
out_cdev:
	cdev_del(&mxk_cdev);
out_region:
	unregister_chrdev_region(mxk_devt, MX_DEV_COUNT * MX_BOARDS_MAX);
	return rc;
}

static void __exit mxk_exit(void)
{
	mxk_board_unregister();
	class_destroy(mxk_class);
	cdev_del(&mxk_cdev);
	unregister_chrdev_region(mxk_devt, MX_DEV_COUNT * MX_BOARDS_MAX);
	if (atomic_read(&mxk_dma_live))
		pr_err("clcp_mx: %d endpoint buffers leaked\n", atomic_read(&mxk_dma_live));
	else
		pr_info("clcp_mx: unloaded, no endpoint buffer left\n");
}

module_init(mxk_init);
module_exit(mxk_exit);
MODULE_DESCRIPTION("CLCP Myrinet driver: user-level endpoints on a LANai board");
MODULE_AUTHOR("CLCP");
MODULE_LICENSE("Dual MIT/GPL");
