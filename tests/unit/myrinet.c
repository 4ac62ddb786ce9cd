// SPDX-License-Identifier: MIT
/* The myrinet backend's own rules: URIs, the fabric's nodes, the NIC's limits. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clcp/clcp.h>

#include "testutil.h"

static const char *dir;

static void mx_setup(void)
{
	unsetenv("CLCP_BACKEND");
	unsetenv("CLCP_NODE");
	dir = tu_shm_setup();
	cr_assert_not_null(dir);
}

static void mx_teardown(void)
{
	int n = tu_shm_count(dir);

	tu_shm_teardown();
	cr_assert_eq(n, 0, "%d fabric socket(s) left after close", n);
}

TestSuite(myrinet, .init = mx_setup, .fini = mx_teardown, .timeout = 60);

static clcp_dev_t *open_ok(const char *uri)
{
	clcp_dev_t *dev = NULL;
	int rc = clcp_open(uri, &dev);

	cr_assert_eq(rc, 0, "clcp_open(\"%s\"): %d (%s; %s)", uri, rc, clcp_strerror(rc),
		     clcp_errmsg());
	return dev;
}

static void open_fails(const char *uri, int err)
{
	clcp_dev_t *dev = NULL;
	int rc = clcp_open(uri, &dev);

	if (rc == 0)
		clcp_close(dev);
	cr_assert_eq(rc, err, "clcp_open(\"%s\"): %d (%s), want %s", uri, rc, clcp_strerror(rc),
		     clcp_strerror(err));
	cr_assert_neq(clcp_errmsg()[0], '\0', "no detail for \"%s\"", uri);
}

Test(myrinet, uri_forms)
{
	char uri[256];
	clcp_dev_t *dev = open_ok("myrinet");

	cr_assert_eq(clcp_dev_node(dev), 0);
	clcp_close(dev);
	dev = open_ok("myrinet://63");
	cr_assert_eq(clcp_dev_node(dev), 63);
	clcp_close(dev);
	dev = open_ok("myrinet://1000?base_node=990");
	cr_assert_eq(clcp_dev_node(dev), 1000);
	clcp_close(dev);
	snprintf(uri, sizeof(uri), "myrinet://5?fabric=%s&base_node=2", dir);
	dev = open_ok(uri);
	cr_assert_eq(clcp_dev_node(dev), 5);
	cr_assert_eq(tu_shm_count(dir), 1, "the node's fabric port is a socket in the directory");
	clcp_close(dev);
}

Test(myrinet, bad_uris)
{
	open_fails("myrinet://64", -EINVAL);
	open_fails("myrinet://3?base_node=4", -EINVAL);
	open_fails("myrinet://x", -EINVAL);
	open_fails("myrinet://1?base_node=", -EINVAL);
	open_fails("myrinet://1?speed=fast", -EINVAL);
	open_fails("myrinet://1?fabric=", -EINVAL);
	open_fails("myrinet://1?fabric=/nonexistent/clcp", -ENOENT);
	open_fails("myrinet://1?mapper=2", -EINVAL);
	open_fails("myrinet://1?mapper=", -EINVAL);
}

/* One process: devices of one node share its NIC; another process gets EADDRINUSE. */
Test(myrinet, one_process_per_node)
{
	clcp_dev_t *a = open_ok("myrinet://7"), *b = open_ok("myrinet://7");
	clcp_endpt_t *ea, *eb;
	pid_t pid;
	int status;

	cr_assert_eq(clcp_alloc_endpt(a, NULL, &ea), 0);
	cr_assert_eq(clcp_alloc_endpt(b, NULL, &eb), 0);
	cr_assert_geq(clcp_alloc_chan(ea, 30, 7, 31), 0);
	cr_assert_eq(clcp_alloc_chan(eb, 30, 7, 31), -EADDRINUSE, "one port map per node");
	pid = fork();
	if (pid == 0) {
		clcp_dev_t *c = NULL;

		_exit(clcp_open("myrinet://7", &c) == -EADDRINUSE ? 0 : 1);
	}
	cr_assert_eq(tu_wait(pid, 10000, &status), 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "a second process opened a node held by a live one");
	clcp_close(b);
	clcp_close(a);
}

Test(myrinet, nic_limits)
{
	clcp_dev_t *dev = open_ok("myrinet://1");
	struct clcp_endpt_attr attr;
	clcp_endpt_t *ep[17];
	int c;

	clcp_endpt_attr_init(&attr);
	attr.mtu = 65536;
	attr.rxq_len = 128;
	cr_assert_eq(clcp_alloc_endpt(dev, &attr, &ep[0]), -ENOMEM, "region over the 16 MiB slot");
	cr_assert_eq(clcp_alloc_endpt(dev, NULL, &ep[0]), 0);
	cr_assert_eq(clcp_alloc_chan(ep[0], 10, 64, 10), -EHOSTUNREACH,
		     "node 64 is off the fabric");
	for (int i = 0; i < 64; i++) {
		c = clcp_alloc_chan(ep[0], (uint16_t)(100 + i), 2, 10);
		cr_assert_eq(c, i, "channel %d: %d (%s)", i, c, clcp_errmsg());
	}
	cr_assert_eq(clcp_alloc_chan(ep[0], 200, 2, 10), -EBUSY, "the NIC has 64 per endpoint");
	for (int i = 1; i < 16; i++)
		cr_assert_eq(clcp_alloc_endpt(dev, NULL, &ep[i]), 0, "endpoint %d", i);
	cr_assert_eq(clcp_alloc_endpt(dev, NULL, &ep[16]), -EBUSY, "16 endpoints per NIC");
	cr_assert_eq(clcp_release_endpt(ep[3]), 0);
	cr_assert_eq(clcp_alloc_endpt(dev, NULL, &ep[3]), 0, "a released one is free again");
	clcp_close(dev);
}

/* Node 1 (a child): one message to node 0 port 10, then waits to be killed. */
static void doomed_node(int go)
{
	clcp_endpt_t *ep;
	clcp_dev_t *dev;
	char c;
	int ch;

	if (clcp_open("myrinet://1", &dev) || clcp_alloc_endpt(dev, NULL, &ep))
		_exit(2);
	ch = clcp_alloc_chan(ep, 20, 0, 10);
	if (ch < 0 || clcp_snd_message(ep, ch, "hello", 5, 0) != 5 || write(go, "s", 1) != 1)
		_exit(3);
	for (;;)
		if (read(go, &c, 1) <= 0)
			pause();
}

/*
 * Without a mapper (as over the driver) a node that dies whole is found by
 * the NIC: the receiver's peer checks send asks its peer's NIC must
 * answer; unanswered for 5 s, the channel fails with -ECONNRESET.
 */
Test(myrinet, dead_node_found_without_a_mapper)
{
	clcp_dev_t *dev = open_ok("myrinet://0?mapper=0"), *reclaim;
	struct clcp_endpt_attr attr;
	clcp_endpt_t *ep;
	int sv[2], ch, c, status;
	char buf[16];
	uint64_t t0;
	ssize_t r;
	pid_t pid;

	clcp_endpt_attr_init(&attr);
	attr.timeout_ms = 30000;
	cr_assert_eq(clcp_alloc_endpt(dev, &attr, &ep), 0);
	ch = clcp_alloc_chan(ep, 10, 1, 20);
	cr_assert_geq(ch, 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	if (pid == 0)
		doomed_node(sv[1]);
	cr_assert_eq(read(sv[0], buf, 1), 1, "node 1 did not send");
	c = ch;
	cr_assert_eq(clcp_rcv_message(ep, &c, buf, sizeof(buf), 0), 5, "the message from node 1");
	kill(pid, SIGKILL);
	cr_assert_eq(tu_wait(pid, 10000, &status), 0);
	t0 = tu_now_ms();
	c = ch;
	r = clcp_rcv_message(ep, &c, buf, sizeof(buf), 0);
	cr_assert_eq(r, -ECONNRESET, "receive from the dead node: %zd (%s)", r, clcp_errmsg());
	cr_log_info("reset after %llu ms", (unsigned long long)(tu_now_ms() - t0));
	cr_assert_eq(clcp_snd_message(ep, ch, "x", 1, 0), -ECONNRESET, "the reset sticks");
	clcp_close(dev);
	close(sv[0]);
	close(sv[1]);
	reclaim = open_ok("myrinet://1"); /* the dead node's fabric port goes */
	clcp_close(reclaim);
}

/* A port taken by CLCP_PORT_ANY is skipped by the next. */
Test(myrinet, any_port)
{
	clcp_dev_t *dev = open_ok("myrinet://1");
	clcp_endpt_t *ep;
	int a, b;

	cr_assert_eq(clcp_alloc_endpt(dev, NULL, &ep), 0);
	a = clcp_alloc_chan(ep, CLCP_PORT_ANY, 2, 10);
	b = clcp_alloc_chan(ep, CLCP_PORT_ANY, 2, 10);
	cr_assert(a >= 0 && b >= 0);
	cr_assert_geq(clcp_chan_port(ep, a), 1024);
	cr_assert_neq(clcp_chan_port(ep, a), clcp_chan_port(ep, b));
	clcp_close(dev);
}

static uint64_t nic_stat(clcp_dev_t *dev, const char *name)
{
	struct clcp_stat st[32];
	uint64_t v = 0;

	cr_assert_eq(tu_stat_get(st, clcp_dev_stats(dev, st, 32), 32, name, &v), 0, "%s", name);
	return v;
}

/* The NIC's counters through clcp_dev_stats: a message out and back in on one node. */
Test(myrinet, nic_counters)
{
	clcp_dev_t *dev = open_ok("myrinet://1");
	clcp_endpt_t *a, *b;
	char buf[8];
	int ca, cb, c;

	cr_assert_eq(nic_stat(dev, "tx_packets"), 0u);
	cr_assert_eq(clcp_alloc_endpt(dev, NULL, &a), 0);
	cr_assert_eq(clcp_alloc_endpt(dev, NULL, &b), 0);
	ca = clcp_alloc_chan(a, 10, 1, 11);
	cb = clcp_alloc_chan(b, 11, 1, 10);
	cr_assert(ca >= 0 && cb >= 0, "%s", clcp_errmsg());
	cr_assert_eq(clcp_snd_message(a, ca, "hello", 5, 0), 5, "%s", clcp_errmsg());
	c = cb;
	cr_assert_eq(clcp_rcv_message(b, &c, buf, sizeof(buf), 0), 5, "%s", clcp_errmsg());
	cr_assert_geq(nic_stat(dev, "tx_packets"), 1u);
	cr_assert_geq(nic_stat(dev, "rx_packets"), 1u);
	cr_assert_eq(nic_stat(dev, "drop_crc"), 0u);
	clcp_close(dev);
}
