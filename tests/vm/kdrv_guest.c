// SPDX-License-Identifier: MIT
/*
 * The tests that run inside the qemu guest against the kernel driver and
 * the simulated board (tests/vm/run.sh boots them):
 *   kdrv_guest ioctl   the driver's ABI: every bad argument gets an errno,
 *                      a killed process's endpoint is freed, random ioctls
 *   kdrv_guest msg     messages through the myrinet backend over /dev/clcpN
 *                      (poll and interrupt modes), and select() woken by
 *                      the board's interrupt while another process sends
 *   kdrv_guest unplug  board 0 unbound while endpoints are open: their
 *                      calls fail with -ENODEV (a blocked receive wakes),
 *                      their memory stays theirs until close; bound again,
 *                      it works as before
 *   kdrv_guest peer N  node N of two guests (0 sends, 1 echoes), each with
 *                      its own board, joined by the simulated crossbar;
 *                      then node 1's kernel panics, its board running on,
 *                      and node 0's channel must fail (the board misses
 *                      its host's beats)
 * Each check prints "ok" or "FAIL" with its name; the last line is
 * "kdrv_guest: N passed, M failed"; exit status 0 only if none failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <clcp/clcp.h>
#include <clcp/endpt.h>
#include <clcp/mx_ioctl.h>

#include "mcp_abi.h"

static unsigned passed, failed;

static void check(int ok, const char *what, long got)
{
	printf("%s %s (got %ld)\n", ok ? "ok  " : "FAIL", what, got);
	if (ok)
		passed++;
	else
		failed++;
}

/* An ioctl's result as 0 or -errno. */
static long ioc(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

static void expect(int fd, unsigned long cmd, void *arg, long want, const char *what)
{
	long rc = ioc(fd, cmd, arg);

	check(rc == want, what, rc);
}

static int dev_open(unsigned idx)
{
	char path[32];
	int fd;

	snprintf(path, sizeof(path), "/dev/clcp%u", idx);
	fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* --- ioctl: the driver's ABI --- */

/* An alloc whose answer cannot be written back: -EFAULT, and nothing kept. */
static void alloc_readonly(int fd)
{
	struct mx_ioc_alloc a = { .abi_version = MX_IOC_ABI_VERSION, .size = 4096 };
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (page == MAP_FAILED)
		return check(0, "anonymous page", errno);
	memcpy(page, &a, sizeof(a));
	mprotect(page, 4096, PROT_READ);
	expect(fd, MX_IOC_ALLOC, page, -EFAULT, "alloc answered into read-only memory");
	munmap(page, 4096);
}

static void ioctl_before_alloc(int fd)
{
	struct mx_ioc_alloc a = { .abi_version = MX_IOC_ABI_VERSION, .size = 0 };
	struct mx_ioc_chan c = { .chan = 0, .port = 7, .peer_node = 0, .peer_port = 8 };
	struct mx_ioc_info in;
	void *p;

	expect(fd, MX_IOC_INFO, &in, 0, "info");
	check(in.abi_version == MX_IOC_ABI_VERSION && in.mcp_abi == MCP_ABI_VERSION,
	      "info: ABI versions", in.abi_version);
	check(in.index == 0 && in.node == 0, "info: endpoint 0 of node 0", in.index);
	expect(fd, MX_IOC_INFO, NULL, -EFAULT, "info to NULL");
	expect(fd, _IO(MX_IOC_MAGIC, 99), NULL, -ENOTTY, "unknown command");
	expect(fd, _IOW('x', 2, struct mx_ioc_alloc), &a, -ENOTTY, "foreign magic");
	expect(fd, MX_IOC_ALLOC, NULL, -EFAULT, "alloc from NULL");
	expect(fd, MX_IOC_ALLOC, (void *)8, -EFAULT, "alloc from a bad pointer");
	alloc_readonly(fd);
	expect(fd, MX_IOC_ALLOC, &a, -EINVAL, "alloc of 0 bytes");
	a.size = MX_ENDPT_MAX + 1;
	expect(fd, MX_IOC_ALLOC, &a, -EINVAL, "alloc over endpt_max");
	a.size = 4096;
	a.abi_version = 99;
	expect(fd, MX_IOC_ALLOC, &a, -EPROTO, "alloc with a wrong ABI version");
	expect(fd, MX_IOC_CREATE, NULL, -EINVAL, "create before alloc");
	expect(fd, MX_IOC_ACTIVATE, &c, -ENOENT, "activate before create");
	expect(fd, MX_IOC_DESTROY, NULL, -ENOENT, "destroy before create");
	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	check(p == MAP_FAILED && errno == EINVAL, "mmap before alloc", p == MAP_FAILED ? errno : 0);
}

static void ioctl_bad_chans(int fd)
{
	struct mx_ioc_chan ok = { .chan = 0, .port = 7, .peer_node = 0, .peer_port = 8 }, c;

	c = ok, c.chan = 9999;
	expect(fd, MX_IOC_ACTIVATE, &c, -EINVAL, "activate: channel out of range");
	c = ok, c.port = 0;
	expect(fd, MX_IOC_ACTIVATE, &c, -EINVAL, "activate: port 0");
	c = ok, c.peer_port = 70000;
	expect(fd, MX_IOC_ACTIVATE, &c, -EINVAL, "activate: peer port > 65535");
	c = ok, c.peer_node = MCP_MAX_NODES;
	expect(fd, MX_IOC_ACTIVATE, &c, -EINVAL, "activate: node out of range");
	c = ok, c.flags = 0x80;
	expect(fd, MX_IOC_ACTIVATE, &c, -EINVAL, "activate: unknown flag");
	c = ok, c.rsvd[1] = 1;
	expect(fd, MX_IOC_ACTIVATE, &c, -EINVAL, "activate: reserved not zero");
	expect(fd, MX_IOC_ACTIVATE, (void *)16, -EFAULT, "activate from a bad pointer");
	c = ok, c.flags = 0;
	expect(fd, MX_IOC_FAIL, &c, -EINVAL, "fail: errno 0");
	c = ok, c.chan = MCP_MAX_CHANS;
	expect(fd, MX_IOC_DEACTIVATE, &c, -EINVAL, "deactivate: channel out of range");
}

static void ioctl_mapped(int fd)
{
	struct mx_ioc_alloc a = { .abi_version = MX_IOC_ABI_VERSION, .size = 65536 + 100 };
	struct mcp_stats st0, st1;
	const struct mcp_endpt_page *pg;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t *p;

	expect(fd, MX_IOC_ALLOC, &a, 0, "alloc 64 KiB + 100");
	check(a.win_off == 69632 && a.map_size == a.win_off + MCP_EPAGE_SIZE,
	      "alloc: page-rounded memory, then one page of SRAM", a.win_off);
	expect(fd, MX_IOC_ALLOC, &a, -EBUSY, "alloc twice");
	p = mmap(NULL, a.map_size - 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	check(p == MAP_FAILED, "mmap of the wrong length", p == MAP_FAILED ? errno : 0);
	p = mmap(NULL, a.map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 4096);
	check(p == MAP_FAILED, "mmap at an offset", p == MAP_FAILED ? errno : 0);
	p = mmap(NULL, a.map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	check(p == MAP_FAILED, "mmap private", p == MAP_FAILED ? errno : 0);
	p = mmap(NULL, a.map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	check(p != MAP_FAILED, "mmap of endpoint + its SRAM page", p == MAP_FAILED ? errno : 0);
	if (p == MAP_FAILED)
		return;
	check(p[0] == 0 && p[a.size - 1] == 0, "endpoint memory zeroed", p[0]);
	pg = (const struct mcp_endpt_page *)(void *)(p + a.win_off);
	check(pg->enabled == 0, "SRAM page: the endpoint is not enabled yet", (long)pg->enabled);
	expect(fd, MX_IOC_STATS, NULL, -EFAULT, "stats to NULL");
	expect(fd, MX_IOC_STATS, &st0, 0, "stats");
	/* A zeroed header: the firmware refuses it (no magic), the driver says so. */
	expect(fd, MX_IOC_CREATE, NULL, -EPROTO, "create with a bad header");
	expect(fd, MX_IOC_STATS, &st1, 0, "stats again");
	check(__builtin_bswap32(st1.commands) == __builtin_bswap32(st0.commands) + 1,
	      "the firmware ran the create command", (long)__builtin_bswap32(st1.commands));
	check(poll(&pfd, 1, 0) == 0, "poll: nothing pending", pfd.revents);
	expect(fd, MX_IOC_SIGNAL, NULL, 0, "signal");
	check(poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN), "poll: readable after signal",
	      pfd.revents);
	expect(fd, MX_IOC_DRAIN, NULL, 0, "drain");
	check(poll(&pfd, 1, 0) == 0, "poll: drained", pfd.revents);
	munmap(p, a.map_size);
}

/* A process killed while it holds an endpoint: the endpoint is free again. */
static void ioctl_killed(void)
{
	int pipefd[2], fd;
	pid_t pid;
	char c;

	if (pipe(pipefd))
		return check(0, "pipe", errno);
	pid = fork();
	if (pid == 0) {
		struct mx_ioc_alloc a = { .abi_version = MX_IOC_ABI_VERSION, .size = 1 << 20 };

		fd = dev_open(3);
		if (fd >= 0 && ioctl(fd, MX_IOC_ALLOC, &a) == 0 &&
		    mmap(NULL, a.map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) !=
			    MAP_FAILED &&
		    write(pipefd[1], "r", 1) == 1)
			pause();
		_exit(1);
	}
	close(pipefd[1]);
	check(read(pipefd[0], &c, 1) == 1, "child holds /dev/clcp3 with 1 MiB mapped", pid);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(pipefd[0]);
	fd = dev_open(3);
	check(fd >= 0, "/dev/clcp3 free after the kill", fd);
	if (fd >= 0)
		close(fd);
}

/* Random commands of our magic with random arguments: errnos, never an oops. */
static void ioctl_random(void)
{
	uint32_t junk[64];
	unsigned i, bad = 0;
	int fd = dev_open(5);

	srand(5);
	for (i = 0; i < 2000 && fd >= 0; i++) {
		unsigned nr = (unsigned)rand() % 12, size = (unsigned)rand() % 64;
		unsigned long cmd = _IOC((unsigned)rand() % 4, MX_IOC_MAGIC, nr, size);
		void *arg = rand() % 4 ? (void *)junk : (void *)(uintptr_t)rand();

		for (unsigned k = 0; k < 64; k++)
			junk[k] = (uint32_t)rand();
		if (ioctl(fd, cmd, arg) && errno != EINVAL && errno != EFAULT && errno != ENOTTY &&
		    errno != ENOENT && errno != EPROTO && errno != EBUSY && errno != ENOMEM &&
		    errno != EADDRINUSE)
			bad++;
	}
	check(fd >= 0 && bad == 0, "2000 random ioctls: only errnos", bad);
	if (fd >= 0)
		close(fd);
}

static void run_ioctl(void)
{
	int fd = dev_open(0), fd2;

	check(fd >= 0, "open /dev/clcp0", fd);
	if (fd < 0)
		return;
	fd2 = dev_open(0);
	check(fd2 == -EBUSY, "second open of /dev/clcp0", fd2);
	check(dev_open(MX_DEV_COUNT * MX_BOARDS_MAX) == -ENOENT, "no /dev/clcp64", 0);
	ioctl_before_alloc(fd);
	ioctl_bad_chans(fd);
	ioctl_mapped(fd);
	close(fd);
	fd = dev_open(0);
	check(fd >= 0, "reopen after close", fd);
	close(fd);
	ioctl_killed();
	ioctl_random();
}

/* --- msg: the backend through the driver --- */

/* Interrupts the boards raised so far (their lines in /proc/interrupts). */
static long board_irqs(void)
{
	FILE *f = fopen("/proc/interrupts", "r");
	char line[1024];
	long sum = -1;

	while (f && fgets(line, sizeof(line), f)) {
		char *s = strchr(line, ':'), *end;

		if (!s || !strstr(line, "clcp_mx"))
			continue;
		if (sum < 0)
			sum = 0;
		for (s++;; s = end) {
			long v = strtol(s, &end, 10);

			if (end == s)
				break;
			sum += v;
		}
	}
	if (f)
		fclose(f);
	return sum;
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 7 + seed);
}

static int same(const uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != (uint8_t)(i * 7 + seed))
			return 0;
	return 1;
}

/* One message each way round: a -> b in the given mode, checked byte by byte. */
static void msg_sizes(clcp_endpt_t *a, int ca, clcp_endpt_t *b, int cb, int poll_mode)
{
	static uint8_t out[1 << 17], in[1 << 17];
	struct clcp_endpt_attr at;
	uint32_t mtu = clcp_endpt_attr_get(a, &at) == 0 ? at.mtu : 1024;
	size_t sizes[] = { 0, 1, 100, mtu - 1, mtu, 4 * (size_t)mtu + 5 };
	char what[96];

	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		ssize_t s, r;
		int c = CLCP_ANY;

		fill(out, n, i);
		memset(in, 0xee, n + 1);
		s = poll_mode ? clcp_poll_tx_msg(a, ca, out, n, 0) :
				clcp_snd_message(a, ca, out, n, 0);
		r = poll_mode ? clcp_poll_rx_msg(b, &c, in, sizeof(in), 0) :
				clcp_rcv_message(b, &c, in, sizeof(in), 0);
		snprintf(what, sizeof(what), "%s message of %zu bytes", poll_mode ? "poll" : "intr",
			 n);
		check(s == (ssize_t)n && r == (ssize_t)n && c == cb && same(in, n, i), what,
		      r < 0 ? r : s);
	}
}

/* An endpoint whose receives give up after 20 s (a test fails, never hangs). */
static int endpt(clcp_dev_t *dev, clcp_endpt_t **ep)
{
	struct clcp_endpt_attr at;
	int rc = clcp_dev_attr_init(dev, &at);

	at.timeout_ms = 20000;
	return rc ? rc : clcp_alloc_endpt(dev, &at, ep);
}

static int pair(clcp_dev_t *dev, clcp_endpt_t **a, int *ca, clcp_endpt_t **b, int *cb)
{
	if (endpt(dev, a) || endpt(dev, b))
		return -1;
	*ca = clcp_alloc_chan(*a, 100, 0, 200);
	*cb = clcp_alloc_chan(*b, 200, 0, 100);
	return *ca < 0 || *cb < 0 ? -1 : 0;
}

/* The child: its own endpoint and channel, one big message after a nap. */
static void select_child(size_t n)
{
	static uint8_t out[1 << 20];
	clcp_endpt_t *ep;
	clcp_dev_t *dev;
	int c;

	if (clcp_open("myrinet://0", &dev) || endpt(dev, &ep))
		_exit(2);
	c = clcp_alloc_chan(ep, 500, 0, 400);
	fill(out, n, 9);
	usleep(300000);
	_exit(c < 0 || clcp_snd_message(ep, c, out, n, 0) != (ssize_t)n ? 3 : 0);
}

/* select() sleeps until the board interrupts: another process sends 1 MiB. */
static void msg_select(clcp_dev_t *dev)
{
	static uint8_t in[1 << 20];
	size_t n = sizeof(in);
	long irqs = board_irqs();
	int fd, c = CLCP_ANY, st = -1, rc;
	clcp_endpt_t *ep;
	double t0, dt;
	fd_set rd;
	pid_t pid;

	if (endpt(dev, &ep) || clcp_alloc_chan(ep, 400, 0, 500) < 0)
		return check(0, "select: endpoint and channel", -1);
	pid = fork();
	if (pid == 0)
		select_child(n);
	fd = clcp_endpt_fd(ep);
	check(clcp_endpt_arm(ep) == 0, "select: armed with nothing waiting", fd);
	FD_ZERO(&rd);
	FD_SET(fd, &rd);
	struct timeval tv = { .tv_sec = 20 };
	t0 = now_ms();
	rc = select(fd + 1, &rd, NULL, NULL, &tv);
	dt = now_ms() - t0;
	check(rc == 1 && FD_ISSET(fd, &rd), "select: readable", rc);
	check(dt > 100, "select: slept until the message came", (long)dt);
	check(board_irqs() > irqs, "select: woken by the board's interrupt", board_irqs() - irqs);
	rc = (int)clcp_rcv_message(ep, &c, in, n, 0);
	check(rc == (int)n && same(in, n, 9), "select: 1 MiB from the other process", rc);
	waitpid(pid, &st, 0);
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "select: the sender's status", st);
	clcp_release_endpt(ep);
}

/* Node 0 to node 1 and back: two boards, two simulated NICs, the crossbar. */
static void msg_two_nodes(clcp_dev_t *dev0)
{
	clcp_endpt_t *a, *b;
	clcp_dev_t *dev1;
	int ca, cb, rc = clcp_open("myrinet://1", &dev1);

	check(rc == 0, "open myrinet://1 (the second board)", rc);
	if (rc)
		return (void)printf("  %s\n", clcp_errmsg());
	rc = endpt(dev0, &a) || endpt(dev1, &b) ? -1 : 0;
	ca = rc ? -1 : clcp_alloc_chan(a, 600, 1, 700);
	cb = rc ? -1 : clcp_alloc_chan(b, 700, 0, 600);
	check(ca >= 0 && cb >= 0, "node 0 <-> node 1: endpoints and channels", ca < 0 ? ca : cb);
	if (ca >= 0 && cb >= 0) {
		msg_sizes(a, ca, b, cb, 0);
		msg_sizes(b, cb, a, ca, 1);
	}
	clcp_close(dev1);
}

static void run_msg(void)
{
	clcp_endpt_t *a, *b;
	clcp_dev_t *dev;
	int ca, cb, rc = clcp_open("myrinet://0", &dev);
	long irqs = board_irqs();

	check(rc == 0, "open myrinet://0 over /dev/clcpN", rc);
	if (rc)
		return (void)printf("  %s\n", clcp_errmsg());
	check(irqs >= 0, "the board's interrupt is in /proc/interrupts", irqs);
	rc = pair(dev, &a, &ca, &b, &cb);
	check(rc == 0, "two endpoints, one channel", rc);
	if (rc == 0) {
		msg_sizes(a, ca, b, cb, 1);
		msg_sizes(a, ca, b, cb, 0);
		msg_sizes(b, cb, a, ca, 0);
		clcp_release_endpt(a);
		clcp_release_endpt(b);
	} else {
		printf("  %s\n", clcp_errmsg());
	}
	msg_select(dev);
	msg_two_nodes(dev);
	clcp_close(dev);
}

/* --- unplug: the board unbound while endpoints are open --- */

/* Board 0's PCI address (the parent of /sys/class/clcp/clcp0). */
static int board_addr(char *addr, size_t n)
{
	char link[256];
	ssize_t len = readlink("/sys/class/clcp/clcp0/device", link, sizeof(link) - 1);
	const char *base;

	if (len <= 0)
		return -errno;
	link[len] = 0;
	base = strrchr(link, '/');
	snprintf(addr, n, "%s", base ? base + 1 : link);
	return 0;
}

/* Writes addr to /sys/bus/pci/drivers/clcp_mx/what ("bind", "unbind"). */
static int driver_write(const char *what, const char *addr)
{
	char path[96];
	int fd, rc;

	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/clcp_mx/%s", what);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = write(fd, addr, strlen(addr)) == (ssize_t)strlen(addr) ? 0 : -errno;
	close(fd);
	return rc;
}

/* The child: an interrupt receive that blocks until the board goes; 0 if it got -ENODEV. */
static void unplug_receiver(int ready)
{
	clcp_endpt_t *ep;
	clcp_dev_t *dev;
	char buf[64];
	int c = CLCP_ANY;
	ssize_t r;

	if (clcp_open("myrinet://0", &dev) || endpt(dev, &ep) ||
	    clcp_alloc_chan(ep, 800, 0, 801) < 0 || write(ready, "r", 1) != 1)
		_exit(2);
	r = clcp_rcv_message(ep, &c, buf, sizeof(buf), 0); /* 20 s at most: endpt() */
	printf("unplug: the blocked receive returned %zd (%s)\n", r, clcp_errmsg());
	clcp_close(dev);
	_exit(r == -ENODEV ? 0 : 1);
}

/* A raw endpoint: 64 KiB allocated and mapped, a marker in its memory. */
static uint8_t *unplug_raw_open(int *fd, struct mx_ioc_alloc *a)
{
	uint8_t *p;

	*a = (struct mx_ioc_alloc){ .abi_version = MX_IOC_ABI_VERSION, .size = 1 << 16 };
	*fd = dev_open(6);
	if (*fd < 0 || ioctl(*fd, MX_IOC_ALLOC, a))
		return NULL;
	p = mmap(NULL, a->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	fill(p, 4096, 42);
	return p;
}

/* After the unplug: -ENODEV, the memory intact, the SRAM window a page that takes writes. */
static void unplug_raw_check(int fd, uint8_t *p, const struct mx_ioc_alloc *a)
{
	struct mx_ioc_info in;
	volatile uint32_t *win = (volatile uint32_t *)(void *)(p + a->win_off);

	expect(fd, MX_IOC_INFO, &in, -ENODEV, "unplug: raw INFO after the unplug");
	expect(fd, MX_IOC_ALLOC, (void *)a, -ENODEV, "unplug: raw ALLOC after the unplug");
	check(mmap(NULL, a->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED &&
		      errno == ENODEV,
	      "unplug: a new mapping is refused", errno);
	check(same(p, 4096, 42), "unplug: the endpoint memory is intact until close", 0);
	win[1] = 0x5a5a5a5a;
	check(win[0] == 0 && win[1] == 0x5a5a5a5a, "unplug: the SRAM window is a spare page now",
	      (long)win[0]);
	munmap(p, a->map_size);
	close(fd);
}

/* One 8-byte message a -> b, polling. */
static ssize_t unplug_msg(clcp_endpt_t *a, int ca, clcp_endpt_t *b)
{
	char out[8] = "unplug!", in[64];
	int c = CLCP_ANY;
	ssize_t r = clcp_poll_tx_msg(a, ca, out, sizeof(out), 0);

	if (r < 0)
		return r;
	r = clcp_poll_rx_msg(b, &c, in, sizeof(in), 0);
	return r == (ssize_t)sizeof(out) && memcmp(in, out, sizeof(out)) == 0 ? r : r < 0 ? r : -1;
}

/* The library's endpoints after the unplug: each call fails with -ENODEV, none hangs. */
static void unplug_lib_check(clcp_endpt_t *a, int ca, clcp_endpt_t *b)
{
	struct pollfd pfd = { .fd = clcp_endpt_fd(a), .events = POLLIN };
	char buf[64];
	int c = CLCP_ANY;
	double t0 = now_ms();
	ssize_t r = clcp_snd_message(a, ca, buf, 8, 0);

	check(r == -ENODEV, "unplug: a send fails with -ENODEV", (long)r);
	r = clcp_poll_rx_msg(b, &c, buf, sizeof(buf), 0);
	check(r == -ENODEV, "unplug: a polling receive fails with -ENODEV", (long)r);
	c = CLCP_ANY;
	r = clcp_rcv_message(b, &c, buf, sizeof(buf), 0);
	check(r == -ENODEV, "unplug: and so does the next receive", (long)r);
	check(now_ms() - t0 < 10000, "unplug: all within 10 s (ms)", (long)(now_ms() - t0));
	r = poll(&pfd, 1, 0);
	check(r == 1 && (pfd.revents & POLLHUP), "unplug: the endpoint fd hangs up", pfd.revents);
}

/* Bound again: the devices come back and a message goes through. */
static void unplug_rebind(const char *addr)
{
	clcp_endpt_t *a, *b;
	clcp_dev_t *dev = NULL;
	int ca, cb, rc = driver_write("bind", addr), i;

	for (i = 0; i < 100 && access("/dev/clcp15", F_OK); i++)
		usleep(100000);
	check(rc == 0 && i < 100, "unplug: board 0 bound again", rc);
	rc = clcp_open("myrinet://0", &dev);
	if (rc == 0)
		rc = pair(dev, &a, &ca, &b, &cb);
	check(rc == 0 && unplug_msg(a, ca, b) == 8, "unplug: a message after the rebind", rc);
	if (dev)
		clcp_close(dev);
}

static void run_unplug(void)
{
	struct mx_ioc_alloc ra;
	clcp_endpt_t *a, *b;
	clcp_dev_t *dev = NULL;
	char addr[256], x;
	int ca, cb, rfd = -1, fds[2], st = -1;
	uint8_t *raw = unplug_raw_open(&rfd, &ra);
	pid_t pid;

	check(board_addr(addr, sizeof(addr)) == 0, "unplug: board 0's PCI address", 0);
	check(raw != NULL, "unplug: a raw endpoint mapped", rfd);
	check(clcp_open("myrinet://0", &dev) == 0 && pair(dev, &a, &ca, &b, &cb) == 0 &&
		      unplug_msg(a, ca, b) == 8,
	      "unplug: a message before the unplug", 0);
	if (failed || pipe(fds))
		return;
	pid = fork();
	if (pid == 0)
		unplug_receiver(fds[1]);
	check(read(fds[0], &x, 1) == 1, "unplug: a child waits in an interrupt receive", pid);
	usleep(300000); /* asleep in poll() by now */
	check(driver_write("unbind", addr) == 0, "unplug: board 0 unbound", 0);
	unplug_lib_check(a, ca, b);
	unplug_raw_check(rfd, raw, &ra);
	waitpid(pid, &st, 0);
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "unplug: the blocked receive got -ENODEV", st);
	clcp_close(dev);
	unplug_rebind(addr);
}

/* --- peer: two guests, each with its board, through the crossbar --- */

#define PEER_ROUNDS 200

/* An endpoint and a channel to the other guest; 60 s for it to come up. */
static int peer_open(uint32_t me, clcp_dev_t **dev, clcp_endpt_t **ep)
{
	struct clcp_endpt_attr at;
	char uri[32];
	int rc;

	snprintf(uri, sizeof(uri), "myrinet://%u", me);
	rc = clcp_open(uri, dev);
	if (rc == 0)
		rc = clcp_dev_attr_init(*dev, &at);
	if (rc == 0) {
		at.timeout_ms = 60000;
		at.connect_ms = 60000;
		rc = clcp_alloc_endpt(*dev, &at, ep);
	}
	if (rc == 0)
		rc = clcp_alloc_chan(*ep, (uint16_t)(900 + me), 1 - me, (uint16_t)(901 - me));
	if (rc < 0)
		printf("  %s\n", clcp_errmsg());
	return rc;
}

/*
 * Node 0 after the round trips: node 1's kernel dies, its board running
 * on (answering asks). Node 1's driver loaded with host_dead_ms=5000, so
 * the channel fails within seconds; it used to wait for ever (here: until
 * the 60 s timeout).
 */
static void peer_host_dies(clcp_endpt_t *ep)
{
	double t0 = now_ms(), dt;
	int c = CLCP_ANY;
	ssize_t r;
	char in[16];

	r = clcp_rcv_message(ep, &c, in, sizeof(in), 0);
	dt = now_ms() - t0;
	printf("peer: node 1's host died: %zd (%s) after %.0f ms\n", r, clcp_strerror((int)r), dt);
	check(r == -ECONNRESET, "peer: the channel to a dead host fails", (long)r);
	check(dt < 30000, "peer: within 30 s", (long)dt);
}

/* Node 1 after the round trips: the last echo leaves, then the kernel panics (sysrq c). */
static void host_dies(void)
{
	int fd;

	usleep(500000);
	printf("CLCP-VM: host dies\n");
	fflush(stdout);
	fd = open("/proc/sysrq-trigger", O_WRONLY);
	if (fd < 0 || write(fd, "c", 1) != 1)
		check(0, "peer: sysrq crash", -errno);
}

/* Node 1 echoes every message; node 0 sends sizes 1 B .. 64 KiB and checks the echo. */
static void run_peer(uint32_t me)
{
	static uint8_t out[1 << 16], in[1 << 16];
	clcp_endpt_t *ep;
	clcp_dev_t *dev;
	unsigned i, good = 0;
	double t0 = now_ms();
	int chan = peer_open(me, &dev, &ep);

	check(chan >= 0,
	      me ? "peer: node 1 endpoint and channel" : "peer: node 0 endpoint and channel", chan);
	if (chan < 0)
		return;
	for (i = 0; i < PEER_ROUNDS; i++) {
		size_t n = (size_t)1 << (i % 17);
		int c = CLCP_ANY;
		ssize_t r;

		if (me == 0) {
			fill(out, n, i);
			if (clcp_snd_message(ep, chan, out, n, 0) != (ssize_t)n)
				break;
		}
		r = clcp_rcv_message(ep, &c, in, sizeof(in), 0);
		if (r != (ssize_t)n || (me == 1 && clcp_snd_message(ep, chan, in, n, 0) != r))
			break;
		good += me == 1 || same(in, n, i);
	}
	printf("peer: %u round trips of 1 B .. 64 KiB in %.0f ms\n", good, now_ms() - t0);
	check(good == PEER_ROUNDS, "peer: every round trip intact", good);
	if (me == 1 && !failed)
		host_dies();
	else if (me == 0)
		peer_host_dies(ep);
	clcp_close(dev);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && strcmp(argv[1], "ioctl") == 0)
		run_ioctl();
	else if (argc == 2 && strcmp(argv[1], "msg") == 0)
		run_msg();
	else if (argc == 2 && strcmp(argv[1], "unplug") == 0)
		run_unplug();
	else if (argc == 3 && strcmp(argv[1], "peer") == 0 &&
		 (argv[2][0] == '0' || argv[2][0] == '1'))
		run_peer((uint32_t)(argv[2][0] - '0'));
	else
		return fprintf(stderr, "usage: kdrv_guest ioctl|msg|unplug|peer 0|1\n"), 2;
	printf("kdrv_guest %s: %u passed, %u failed\n", argv[1], passed, failed);
	return failed ? 1 : 0;
}
