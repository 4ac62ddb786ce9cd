// SPDX-License-Identifier: MIT
/*
 * The myrinet device layer (backends/myrinet/mx_dev.c) on two simulated
 * nodes and a switch: the driver's calls, and the user side of the
 * library (clcp/endpt.h) sending and receiving through them, polling and
 * blocking on the endpoint's wait fd.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clcp/endpt.h>

#include "../sim/sim.h"
#include "hal.h"
#include "mx_dev.h"

#define MTU 2048u
#define QLEN 16u
#define NMSG 500u

static struct mx_dev *dev[2];
static struct sim_switch *sw;
static pthread_t pump;
static int stop;

static void *pump_thread(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
		if (!sim_switch_pump(sw))
			sim_switch_wait(sw, 1);
	return NULL;
}

static void setup(void)
{
	uint8_t bytes[2 * MCP_ROUTE_MAX] = { 0 }, lens[2] = { 1, 1 };

	bytes[MCP_ROUTE_MAX] = 1;
	sw = sim_switch_create(2);
	for (int n = 0; n < 2; n++) {
		cr_assert_eq(mx_dev_open(&dev[n], sim_switch_port_fd(sw, (unsigned)n)), 0);
		cr_assert_eq(mx_dev_load_routes(dev[n], (uint32_t)n, bytes, lens, 2), 0);
	}
	cr_assert_eq(pthread_create(&pump, NULL, pump_thread, NULL), 0);
}

static void teardown(void)
{
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(pump, NULL);
	mx_dev_close(dev[0]);
	mx_dev_close(dev[1]);
	sim_switch_destroy(sw);
}

TestSuite(mx_dev, .init = setup, .fini = teardown, .timeout = 30);

/* What the library's endpoint setup does: the ABI layout, then the user view. */
static void endpt_open(int n, uint32_t idx, struct clcp_endpt *u)
{
	uint32_t off = sizeof(struct clcp_endpt_hdr), size;
	struct clcp_endpt_hdr *h;
	void *base;

	size = off + 4 * 32 + 2 * QLEN * 64 + 2 * QLEN * MTU;
	cr_assert_eq(mx_dev_endpt_alloc(dev[n], idx, size, &base), 0);
	h = base;
	*h = (struct clcp_endpt_hdr){ .magic = CLCP_ENDPT_MAGIC,
				      .abi_version = CLCP_ABI_VERSION,
				      .hdr_size = sizeof(*h),
				      .size = size,
				      .mtu = MTU,
				      .node = (uint32_t)n,
				      .index = idx,
				      .chan_off = off,
				      .nchan = 4,
				      .txq_off = off + 4 * 32,
				      .txq_len = QLEN,
				      .rxq_off = off + 4 * 32 + QLEN * 64,
				      .rxq_len = QLEN,
				      .txbuf_off = off + 4 * 32 + 2 * QLEN * 64,
				      .ntxbuf = QLEN,
				      .rxbuf_off = off + 4 * 32 + 2 * QLEN * 64 + QLEN * MTU,
				      .nrxbuf = QLEN };
	memset(u, 0, sizeof(*u));
	u->base = base;
	u->hdr = h;
	u->txq = (struct clcp_qentry *)(u->base + h->txq_off);
	u->rxq = (struct clcp_qentry *)(u->base + h->rxq_off);
	u->tx_mask = u->rx_mask = QLEN - 1;
	u->mtu = MTU;
	for (uint32_t i = 0; i < QLEN; i++) {
		u->txq[i].buf_off = h->txbuf_off + i * MTU;
		clcp_rxq_post_quiet(u, h->rxbuf_off + i * MTU);
	}
	cr_assert_eq(mx_dev_endpt_start(dev[n], idx), 0);
}

static void send_msg(int n, uint32_t idx, struct clcp_endpt *u, uint32_t len, uint8_t seed)
{
	struct clcp_qentry *e;

	while ((e = clcp_txq_reserve(u)) == NULL)
		sched_yield();
	memset(clcp_txq_buf(u, e), seed, len);
	clcp_txq_post(u, e, 0, len, len, CLCP_QF_FIRST | CLCP_QF_LAST);
	mx_dev_doorbell(dev[n], idx);
}

/* Blocks on the wait fd (armed) until a frame is there; returns its length. */
static uint32_t recv_msg(int n, uint32_t idx, struct clcp_endpt *u, uint8_t seed, int block)
{
	const struct clcp_qentry *e;
	uint32_t len, off;
	uint64_t cnt;

	while ((e = clcp_rxq_peek(u)) == NULL) {
		if (!block) {
			sched_yield();
			continue;
		}
		struct pollfd p = { .fd = mx_dev_wait_fd(dev[n], idx), .events = POLLIN };

		clcp_store_relaxed(&u->hdr->armed, 1u);
		clcp_fence_full();
		if (clcp_rxq_peek(u))
			break;
		cr_assert_eq(poll(&p, 1, 5000), 1, "no interrupt within 5 s");
		cr_assert_eq(read(p.fd, &cnt, sizeof(cnt)), (ssize_t)sizeof(cnt));
	}
	e = clcp_rxq_peek(u);
	len = e->len;
	for (uint32_t k = 0; k < len; k++)
		cr_assert_eq(((const uint8_t *)clcp_rxq_data(u, e))[k], seed);
	off = e->buf_off;
	clcp_rxq_consume(u);
	clcp_rxq_post_quiet(u, off);
	return len;
}

static void pingpong(int block)
{
	struct clcp_endpt a, b;

	endpt_open(0, 3, &a);
	endpt_open(1, 5, &b);
	cr_assert_eq(mx_dev_chan_activate(dev[0], 3, 0, 1000, 1, 2000, 0), 0);
	cr_assert_eq(mx_dev_chan_activate(dev[1], 5, 0, 2000, 0, 1000, 0), 0);
	for (uint32_t i = 0; i < NMSG; i++) {
		uint32_t len = (i * 131u) % (MTU + 1);

		send_msg(0, 3, &a, len, (uint8_t)i);
		cr_assert_eq(recv_msg(1, 5, &b, (uint8_t)i, block), len);
		send_msg(1, 5, &b, len, (uint8_t)~i);
		cr_assert_eq(recv_msg(0, 3, &a, (uint8_t)~i, block), len);
	}
	cr_assert_eq(hal_be32(mx_dev_shared(dev[1])->stats.rx_packets), NMSG);
	cr_assert_eq(hal_be32(mx_dev_shared(dev[0])->stats.drop_port), 0);
}

Test(mx_dev, pingpong_polling)
{
	pingpong(0);
}

Test(mx_dev, pingpong_blocking_on_the_wait_fd)
{
	pingpong(1);
	cr_assert_gt(hal_be32(mx_dev_shared(dev[1])->stats.interrupts), 0);
}

Test(mx_dev, driver_calls)
{
	struct clcp_endpt a;
	void *base;

	cr_assert_eq(mx_dev_endpt_alloc(dev[0], MCP_MAX_ENDPTS, 4096, &base), -EINVAL);
	endpt_open(0, 0, &a);
	cr_assert_eq(mx_dev_endpt_alloc(dev[0], 0, 4096, &base), -EBUSY);
	cr_assert_eq(mx_dev_chan_activate(dev[0], 0, 1, 7, 1, 8, 0), 0);
	cr_assert_eq(mx_dev_chan_activate(dev[0], 0, 2, 7, 1, 8, 0), -EADDRINUSE);
	cr_assert_eq(mx_dev_chan_deactivate(dev[0], 0, 1), 0);
	cr_assert_eq(mx_dev_chan_deactivate(dev[0], 0, 1), -ENOENT);
	cr_assert_eq(mx_dev_endpt_destroy(dev[0], 0), 0);
	cr_assert_eq(hal_be32(mx_dev_page(dev[0], 0)->enabled), 0);
	endpt_open(0, 0, &a); /* the slot is free again */
	cr_assert_eq(mx_dev_chan_activate(dev[0], 0, 1, 7, 1, 8, 0), 0, "the port was unbound");
}

Test(mx_dev, peer_release_is_seen_as_reset)
{
	struct clcp_endpt a, b;

	endpt_open(0, 1, &a);
	endpt_open(1, 1, &b);
	cr_assert_eq(mx_dev_chan_activate(dev[0], 1, 0, 10, 1, 20, 0), 0);
	cr_assert_eq(mx_dev_chan_activate(dev[1], 1, 0, 20, 0, 10, 0), 0);
	cr_assert_eq(mx_dev_chan_error(dev[0], 1, 0), 0);
	cr_assert_eq(mx_dev_endpt_destroy(dev[1], 1), 0);
	for (int i = 0; i < 5000 && mx_dev_chan_error(dev[0], 1, 0) == 0; i++)
		usleep(1000);
	cr_assert_eq(mx_dev_chan_error(dev[0], 1, 0), -ECONNRESET);
}

/* --- nodes in separate processes on the crossbar between processes --- */

TestSuite(mx_fabric, .timeout = 30);

/* Node 1 in a child: echoes NMSG messages back on (port 20 <-> node 0 port 10). */
static int echo_node(const char *dir, int ready_fd)
{
	struct clcp_endpt b;
	uint32_t i;

	if (mx_dev_open_node(&dev[1], dir, 1))
		return 1;
	endpt_open(1, 2, &b);
	if (mx_dev_chan_activate(dev[1], 2, 0, 20, 0, 10, 0))
		return 2;
	if (write(ready_fd, "r", 1) != 1)
		return 3;
	for (i = 0; i < NMSG; i++) {
		uint32_t len = recv_msg(1, 2, &b, (uint8_t)i, 1);

		send_msg(1, 2, &b, len, (uint8_t)~i);
	}
	while (clcp_load_acquire(&b.hdr->tx_head) != b.tx_tail) /* the last reply is out */
		usleep(100);
	mx_dev_close(dev[1]);
	return 0;
}

Test(mx_fabric, two_processes_two_nodes)
{
	char dir[] = "/tmp/clcp-mxfab-XXXXXX", c;
	struct clcp_endpt a;
	int pipefd[2], status;
	pid_t pid;

	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(pipe(pipefd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		alarm(25);
		_exit(echo_node(dir, pipefd[1]));
	}
	cr_assert_eq(mx_dev_open_node(&dev[0], dir, 0), 0);
	endpt_open(0, 2, &a);
	cr_assert_eq(mx_dev_chan_activate(dev[0], 2, 0, 10, 1, 20, 0), 0);
	cr_assert_eq(read(pipefd[0], &c, 1), 1, "the child's node came up");
	for (uint32_t i = 0; i < NMSG; i++) {
		uint32_t len = (i * 131u) % (MTU + 1);

		send_msg(0, 2, &a, len, (uint8_t)i);
		cr_assert_eq(recv_msg(0, 2, &a, (uint8_t)~i, 1), len);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status 0x%x", status);
	cr_assert_eq(hal_be32(mx_dev_shared(dev[0])->stats.rx_packets), NMSG);
	mx_dev_close(dev[0]);
	cr_assert_eq(rmdir(dir), 0, "every socket file is gone");
}
