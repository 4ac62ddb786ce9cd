// SPDX-License-Identifier: MIT
/*
 * clcp_ivshmem_nic: the simulated Myrinet board of one qemu guest.
 *
 * An ivshmem server (QEMU docs/specs/ivshmem-spec) for one client: it owns
 * the board's shared memory (LANai SRAM + board registers, sim/board.h),
 * plays ivshmem peer SIMB_NIC_PEER, and runs the host build of the firmware
 * over it. Host DMA goes into the guest's RAM, which qemu takes from the
 * file named by --ram (guest-physical address = file offset). The link is
 * port --port of the crossbar between processes in --fabric (sim_fabric_*),
 * so two guests with two of these NICs reach each other.
 *
 * It exits when the guest disconnects (qemu ended) or on SIGTERM/SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../mcp.h"
#include "board.h"
#include "sim.h"

#define STATS_WORDS (sizeof(struct mcp_stats) / sizeof(uint32_t))

struct board {
	uint8_t *shm; /* SRAM, then the board registers */
	int shm_fd;
	uint8_t *ram;
	uint64_t ram_size;
	struct hal *hw;
	struct mcp mcp;
	int running;
	int guest_irq; /* the guest's vector 0: written to interrupt it */
	int conn;      /* qemu's connection: EOF when it ends */
	uint32_t boots;
	uint64_t totals[STATS_WORDS]; /* struct mcp_stats summed over the boots */
};

struct opts {
	const char *socket, *ram, *fabric;
	uint64_t ram_size;
	unsigned port;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int fail(const char *what)
{
	fprintf(stderr, "clcp_ivshmem_nic: %s: %s\n", what, strerror(errno));
	return -1;
}

static uint32_t *reg(struct board *b, uint32_t off)
{
	return (uint32_t *)(void *)(b->shm + SIMB_REGS_OFF + off);
}

/* One protocol message: a little-endian int64, maybe with an fd (SCM_RIGHTS). */
static int send_msg(int sock, int64_t v, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &v, .iov_len = sizeof(v) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (fd >= 0) {
		m.msg_control = cbuf;
		m.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &m, 0) == (ssize_t)sizeof(v) ? 0 : fail("sendmsg");
}

/* Version, the guest's id, the memory, the NIC's vectors, the guest's vectors. */
static int greet(struct board *b, int sock)
{
	int wake = hal_sim_wake_fd(b->hw);
	unsigned v;

	if (send_msg(sock, 0, -1) || send_msg(sock, 1, -1) || send_msg(sock, -1, b->shm_fd))
		return -1;
	for (v = 0; v < SIMB_VECTORS; v++)
		if (send_msg(sock, SIMB_NIC_PEER, wake))
			return -1;
	for (v = 0; v < SIMB_VECTORS; v++)
		if (send_msg(sock, 1, b->guest_irq))
			return -1;
	return 0;
}

static int accept_guest(struct board *b, const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (ls < 0)
		return fail("socket");
	if (strlen(path) >= sizeof(a.sun_path)) {
		errno = ENAMETOOLONG;
		close(ls);
		return fail(path);
	}
	strcpy(a.sun_path, path);
	unlink(path);
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 1)) {
		close(ls);
		return fail(path);
	}
	printf("clcp_ivshmem_nic: listening on %s\n", path);
	fflush(stdout);
	b->conn = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	close(ls);
	unlink(path);
	if (b->conn < 0)
		return fail("accept");
	return greet(b, b->conn);
}

/* The NIC's host interrupt: the guest's MSI-X vector 0. */
static void raise_irq(void *arg)
{
	struct board *b = arg;
	uint64_t one = 1;

	if (write(b->guest_irq, &one, sizeof(one)) < 0)
		return; /* the counter is full: the guest is interrupted anyway */
}

static int map_file(const char *path, uint64_t size, uint8_t **p)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0 || ftruncate(fd, (off_t)size))
		return fail(path);
	*p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return *p == MAP_FAILED ? fail("mmap guest RAM") : 0;
}

static int board_init(struct board *b, const struct opts *o)
{
	int link;

	b->shm_fd = memfd_create("clcp-board", MFD_CLOEXEC);
	if (b->shm_fd < 0 || ftruncate(b->shm_fd, SIMB_SHM_SIZE))
		return fail("board memory");
	b->shm = mmap(NULL, SIMB_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, b->shm_fd, 0);
	if (b->shm == MAP_FAILED)
		return fail("mmap board memory");
	if (map_file(o->ram, o->ram_size, &b->ram))
		return -1;
	b->ram_size = o->ram_size;
	b->guest_irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	b->hw = hal_sim_create_at(b->shm, b->ram, b->ram_size);
	if (b->guest_irq < 0 || !b->hw)
		return fail("NIC");
	sim_fabric_sweep(o->fabric, MCP_MAX_NODES);
	link = sim_fabric_open(o->fabric, o->port);
	if (link < 0) {
		errno = -link;
		return fail("fabric port");
	}
	hal_sim_attach_fabric(b->hw, link, o->fabric);
	hal_sim_on_intr(b->hw, raise_irq, b);
	*reg(b, SIMB_REG_STATE) = SIMB_STATE_HALTED;
	return 0;
}

/* The firmware's counters (struct mcp_stats, big-endian) added to the totals of all boots. */
static void stats_add(struct board *b)
{
	const uint32_t *st = (const uint32_t *)(const void *)&b->mcp.sh->stats;

	for (unsigned i = 0; i < STATS_WORDS; i++)
		b->totals[i] += hal_be32(st[i]);
}

/* A loaded image is what the driver wrote below the stack: not all zero. */
static int image_loaded(struct board *b)
{
	uint32_t len = __atomic_load_n(reg(b, SIMB_REG_IMAGE), __ATOMIC_ACQUIRE), i;

	if (len == 0 || len > MCP_IMAGE_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (b->shm[i])
			return 1;
	return 0;
}

/* The reset and run controls, looked at every turn. */
static void board_ctrl(struct board *b)
{
	uint32_t ctrl = __atomic_load_n(reg(b, SIMB_REG_CTRL), __ATOMIC_ACQUIRE);

	if (ctrl == SIMB_CTRL_RESET && b->running) {
		b->running = 0;
		__atomic_store_n(reg(b, SIMB_REG_STATE), SIMB_STATE_HALTED, __ATOMIC_RELEASE);
	} else if (ctrl == SIMB_CTRL_RUN && !b->running && image_loaded(b)) {
		if (b->boots)
			stats_add(b);	  /* the counters of the boot before */
		mcp_init(&b->mcp, b->hw); /* the host build of the image the driver loaded */
		b->running = 1;
		b->boots++;
		__atomic_store_n(reg(b, SIMB_REG_STATE), SIMB_STATE_RUNNING, __ATOMIC_RELEASE);
	}
}

/* qemu never writes to us: readable means it hung up. */
static int guest_gone(struct board *b)
{
	struct pollfd p = { .fd = b->conn, .events = POLLIN };
	char c;

	return poll(&p, 1, 0) > 0 && recv(b->conn, &c, 1, MSG_DONTWAIT) <= 0;
}

static void halted_wait(struct board *b)
{
	struct pollfd p = { .fd = hal_sim_wake_fd(b->hw), .events = POLLIN };
	uint64_t n;

	if (poll(&p, 1, 10) > 0 && read(p.fd, &n, sizeof(n)) < 0)
		return; /* drained by someone else */
}

static void board_run(struct board *b)
{
	unsigned idle = 0;

	while (!stop) {
		board_ctrl(b);
		if (b->running && mcp_poll(&b->mcp))
			continue;
		if (b->running)
			hal_idle(b->hw);
		else
			halted_wait(b);
		if ((++idle & 63) == 0 && guest_gone(b))
			break;
	}
}

static void stats_print(struct board *b, unsigned port)
{
	static const struct {
		const char *name;
		size_t off;
	} f[] = {
		{ "commands", offsetof(struct mcp_stats, commands) },
		{ "tx", offsetof(struct mcp_stats, tx_packets) },
		{ "rx", offsetof(struct mcp_stats, rx_packets) },
		{ "ctrl_tx", offsetof(struct mcp_stats, ctrl_tx) },
		{ "ctrl_rx", offsetof(struct mcp_stats, ctrl_rx) },
		{ "grants", offsetof(struct mcp_stats, grants) },
		{ "drop_port", offsetof(struct mcp_stats, drop_port) },
		{ "drop_len", offsetof(struct mcp_stats, drop_len) },
		{ "drop_crc", offsetof(struct mcp_stats, drop_crc) },
		{ "drop_full", offsetof(struct mcp_stats, drop_full) },
		{ "tx_errors", offsetof(struct mcp_stats, tx_errors) },
		{ "host_gone", offsetof(struct mcp_stats, host_gone) },
	};

	fprintf(stderr, "clcp_ivshmem_nic: port %u: %u boots, %u interrupts; all boots:", port,
		b->boots, hal_sim_intr_count(b->hw));
	for (unsigned i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		fprintf(stderr, " %s=%llu", f[i].name,
			(unsigned long long)b->totals[f[i].off / sizeof(uint32_t)]);
	fputc('\n', stderr);
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "ram", required_argument, NULL, 'r' },
		{ "ram-size", required_argument, NULL, 'z' },
		{ "fabric", required_argument, NULL, 'f' },
		{ "port", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			o->socket = optarg;
			break;
		case 'r':
			o->ram = optarg;
			break;
		case 'z':
			o->ram_size = strtoull(optarg, NULL, 0) << 20;
			break;
		case 'f':
			o->fabric = optarg;
			break;
		case 'p':
			o->port = (unsigned)strtoul(optarg, NULL, 0);
			break;
		default:
			return -1;
		}
	}
	if (!o->socket || !o->ram || !o->fabric || !o->ram_size || o->port >= MCP_MAX_NODES) {
		fprintf(stderr,
			"usage: clcp_ivshmem_nic --socket PATH --ram FILE --ram-size MIB "
			"--fabric DIR [--port 0..%u]\n",
			MCP_MAX_NODES - 1);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct board b; /* struct mcp is large */
	struct opts o = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };

	if (parse(argc, argv, &o))
		return 2;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (board_init(&b, &o) || accept_guest(&b, o.socket))
		return 1;
	board_run(&b);
	if (b.boots)
		stats_add(&b);
	stats_print(&b, o.port);
	sim_fabric_close(-1, o.fabric, o.port);
	hal_sim_destroy(b.hw);
	return 0;
}
