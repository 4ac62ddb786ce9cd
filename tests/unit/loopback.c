// SPDX-License-Identifier: MIT
/*
 * Loopback specifics: its shared memory lives in $CLCP_SHM_DIR as 0600
 * files named clcp-<uid>-*, removed at the last close; two directories
 * are two separate clusters, even with the same node ids and ports.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <clcp/clcp.h>

#include "testutil.h"

static const char *dir;

static void lb_setup(void)
{
	dir = tu_shm_setup();
	cr_assert_not_null(dir);
}

TestSuite(loopback, .init = lb_setup, .fini = tu_shm_teardown, .timeout = 60);

static void open_node(uint32_t node, clcp_dev_t **dev)
{
	char uri[64];

	snprintf(uri, sizeof(uri), "loopback://%u", node);
	cr_assert_eq(clcp_open(uri, dev), 0, "open %s: %s", uri, clcp_errmsg());
}

/* Every clcp file in dir is 0600 and owned by us. */
static void check_modes(const char *d)
{
	char prefix[32], path[4096];
	struct dirent *e;
	struct stat st;
	DIR *dp = opendir(d);

	cr_assert_not_null(dp);
	snprintf(prefix, sizeof(prefix), "clcp-%u-", (unsigned)getuid());
	while ((e = readdir(dp)) != NULL) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", d, e->d_name);
		cr_assert_eq(stat(path, &st), 0);
		cr_assert_eq(st.st_mode & 0777, 0600, "%s: mode %o", path, st.st_mode & 0777);
		cr_assert_eq(st.st_uid, getuid());
	}
	closedir(dp);
}

Test(loopback, files_in_shm_dir_and_gone_at_close)
{
	uint32_t node = tu_private_node();
	clcp_endpt_t *ep;
	clcp_dev_t *dev;

	open_node(node, &dev);
	cr_assert_eq(clcp_alloc_endpt(dev, NULL, &ep), 0);
	cr_assert_geq(clcp_alloc_chan(ep, 10, node, 20), 0);
	cr_assert_gt(tu_shm_count(dir), 0, "nothing in CLCP_SHM_DIR %s", dir);
	check_modes(dir);
	cr_assert_eq(clcp_close(dev), 0);
	cr_assert_eq(tu_shm_count(dir), 0, "files left at the last close");
}

/* Two CLCP_SHM_DIRs, same node id, same port: independent. */
Test(loopback, shm_dirs_are_separate_namespaces)
{
	uint32_t node = tu_private_node();
	char other[4096];
	clcp_endpt_t *a, *b, *b2;
	clcp_dev_t *da, *db;
	char buf[8];
	int ca, cb, cb2, c = CLCP_ANY;

	open_node(node, &da);
	cr_assert_eq(clcp_alloc_endpt(da, NULL, &a), 0);
	ca = clcp_alloc_chan(a, 10, node, 20);
	cr_assert_geq(ca, 0);
	snprintf(other, sizeof(other), "%s/other", dir);
	cr_assert_eq(mkdir(other, 0700), 0);
	setenv("CLCP_SHM_DIR", other, 1);
	open_node(node, &db);
	cr_assert_eq(clcp_alloc_endpt(db, NULL, &b), 0, "same node id in another CLCP_SHM_DIR: %s",
		     clcp_errmsg());
	cb = clcp_alloc_chan(b, 10, node, 20);
	cr_assert_geq(cb, 0, "same port in another CLCP_SHM_DIR: %d", cb);
	cr_assert_eq(clcp_alloc_endpt(db, NULL, &b2), 0, "%s", clcp_errmsg());
	cb2 = clcp_alloc_chan(b2, 20, node, 10);
	cr_assert_geq(cb2, 0);
	/* A message in the second cluster reaches the second cluster only. */
	cr_assert_eq(clcp_snd_message(b2, cb2, "x", 1, 0), 1);
	cr_assert_eq(clcp_rcv_message(b, &c, buf, sizeof(buf), CLCP_NONBLOCK), 1);
	c = CLCP_ANY;
	cr_assert_eq(clcp_rcv_message(a, &c, buf, sizeof(buf), CLCP_NONBLOCK), -EAGAIN);
	cr_assert_eq(clcp_close(db), 0);
	cr_assert_eq(clcp_close(da), 0);
	cr_assert_eq(tu_shm_count(other), 0);
}

/*
 * An endpoint in a slot released before: its receive side starts empty
 * (the count of parked frames was left at its "released" mark, so CLCP_ANY
 * never found a parked frame again and waited until the timeout).
 */
Test(loopback, reused_endpoint_slot_receives)
{
	uint32_t node = tu_private_node();
	struct clcp_endpt_attr a;
	clcp_endpt_t *rx, *tx;
	clcp_dev_t *dev;
	char buf[16];
	int chan = CLCP_ANY, c;

	clcp_endpt_attr_init(&a);
	a.timeout_ms = 2000;
	open_node(node, &dev);
	cr_assert_eq(clcp_alloc_endpt(dev, &a, &rx), 0);
	cr_assert_eq(clcp_release_endpt(rx), 0);
	cr_assert_eq(clcp_alloc_endpt(dev, &a, &rx), 0); /* the same slot */
	cr_assert_eq(clcp_alloc_endpt(dev, &a, &tx), 0);
	cr_assert_geq(clcp_alloc_chan(rx, 10, node, 20), 0);
	c = clcp_alloc_chan(tx, 20, node, 10);
	cr_assert_geq(c, 0);
	cr_assert_eq(clcp_snd_message(tx, c, "hello", 5, 0), 5);
	cr_assert_eq(clcp_rcv_message(rx, &chan, buf, sizeof(buf), 0), 5, "%s", clcp_errmsg());
	cr_assert_eq(memcmp(buf, "hello", 5), 0);
	cr_assert_eq(clcp_close(dev), 0);
}

/*
 * Frames of a released channel still in the Rx queue go with it: a channel
 * allocated next in the same slot does not receive them.
 */
Test(loopback, released_channel_frames_do_not_reach_the_next)
{
	uint32_t node = tu_private_node();
	struct clcp_endpt_attr a;
	clcp_endpt_t *rx, *tx;
	clcp_dev_t *dev;
	char buf[16];
	int c, t1, t2;

	clcp_endpt_attr_init(&a);
	a.timeout_ms = 2000;
	open_node(node, &dev);
	cr_assert_eq(clcp_alloc_endpt(dev, &a, &rx), 0);
	cr_assert_eq(clcp_alloc_endpt(dev, &a, &tx), 0);
	c = clcp_alloc_chan(rx, 10, node, 20);
	t1 = clcp_alloc_chan(tx, 20, node, 10);
	t2 = clcp_alloc_chan(tx, 21, node, 10);
	cr_assert(c >= 0 && t1 >= 0 && t2 >= 0);
	cr_assert_eq(clcp_snd_message(tx, t1, "old", 3, 0), 3);
	cr_assert_eq(clcp_release_chan(rx, c), 0);
	cr_assert_eq(clcp_alloc_chan(rx, 10, node, 21), c, "not the same slot");
	cr_assert_eq(clcp_snd_message(tx, t2, "new", 3, 0), 3);
	cr_assert_eq(clcp_rcv_message(rx, &c, buf, sizeof(buf), 0), 3, "%s", clcp_errmsg());
	cr_assert_eq(memcmp(buf, "new", 3), 0, "got \"%.3s\"", buf);
	cr_assert_eq(clcp_close(dev), 0);
}

/*
 * CLCP_ANY finds parked messages on channels in every word of the map it
 * scans (channel numbers 0, 63, 64, 130, 149 of 150), each channel's in
 * order; messages of three frames, so that the library parks them.
 */
Test(loopback, any_receive_finds_channels_in_every_word)
{
	static const int used[] = { 130, 0, 149, 64, 63 };
	enum { NCHAN = 150, NUSED = sizeof(used) / sizeof(used[0]), LEN = 700 };
	uint32_t node = tu_private_node();
	int tx_chan[NCHAN], next[NCHAN] = { 0 };
	struct clcp_endpt_attr a;
	clcp_endpt_t *rx, *tx;
	clcp_dev_t *dev;
	char buf[LEN];

	clcp_endpt_attr_init(&a);
	a.timeout_ms = 2000;
	a.mtu = 256;
	a.nchan = 200;
	open_node(node, &dev);
	cr_assert_eq(clcp_alloc_endpt(dev, &a, &rx), 0, "%s", clcp_errmsg());
	cr_assert_eq(clcp_alloc_endpt(dev, &a, &tx), 0, "%s", clcp_errmsg());
	for (int i = 0; i < NCHAN; i++)
		cr_assert_eq(clcp_alloc_chan(rx, (uint16_t)(1000 + i), node, (uint16_t)(2000 + i)), i);
	for (int k = 0; k < NUSED; k++) {
		tx_chan[used[k]] = clcp_alloc_chan(tx, (uint16_t)(2000 + used[k]), node,
						   (uint16_t)(1000 + used[k]));
		cr_assert_geq(tx_chan[used[k]], 0, "%s", clcp_errmsg());
	}
	for (int r = 0; r < 2; r++)
		for (int k = 0; k < NUSED; k++) {
			tu_fill(buf, LEN, (uint32_t)(used[k] * 10 + r));
			cr_assert_eq(clcp_snd_message(tx, tx_chan[used[k]], buf, LEN, 0), LEN, "%s",
				     clcp_errmsg());
		}
	for (int n = 0; n < 2 * NUSED; n++) {
		int c = CLCP_ANY;

		cr_assert_eq(clcp_rcv_message(rx, &c, buf, LEN, 0), LEN, "message %d: %s", n,
			     clcp_errmsg());
		cr_assert(c >= 0 && c < NCHAN && next[c] < 2, "channel %d", c);
		cr_assert_eq(tu_check(buf, LEN, (uint32_t)(c * 10 + next[c]++)), -1, "channel %d", c);
	}
	for (int k = 0; k < NUSED; k++)
		cr_assert_eq(next[used[k]], 2, "channel %d", used[k]);
	cr_assert_eq(clcp_rcv_message(rx, &(int){ CLCP_ANY }, buf, LEN, CLCP_NONBLOCK), -EAGAIN);
	cr_assert_eq(clcp_close(dev), 0);
}

/* No buffer room on loopback: the layout of docs/endpoint-abi.md, buffers back to back. */
Test(loopback, layout_as_documented)
{
	struct clcp_endpt_attr a;
	clcp_dev_t *dev;
	clcp_endpt_t *ep;

	open_node(tu_private_node(), &dev);
	clcp_endpt_attr_init(&a);
	a.mtu = 4096;
	a.txq_len = a.rxq_len = 64;
	a.nchan = 256;
	cr_assert_eq(clcp_alloc_endpt(dev, &a, &ep), 0, "%s", clcp_errmsg());
	cr_assert_eq(ep->hdr->chan_off, 320u);
	cr_assert_eq(ep->hdr->txq_off, 8512u);
	cr_assert_eq(ep->hdr->rxq_off, 12608u);
	cr_assert_eq(ep->hdr->txbuf_off, 20480u);
	cr_assert_eq(ep->hdr->rxbuf_off, 282624u);
	cr_assert_eq(ep->hdr->nrxbuf, 128u);
	cr_assert_eq(ep->hdr->size, 806912u);
	cr_assert_eq(ep->rxq[0].buf_off, 282624u, "posted first: buffer 0");
	clcp_close(dev);
}

/*
 * A peer whose header puts its Rx queue outside its mapping is refused
 * when its channel resolves (EPROTO), before any frame is written.
 */
Test(loopback, peer_with_a_bad_layout_is_refused)
{
	uint32_t node = tu_private_node();
	struct clcp_endpt_attr a;
	clcp_endpt_t *rx, *tx;
	clcp_dev_t *dev;
	uint32_t rxq_off;
	int c;

	clcp_endpt_attr_init(&a);
	a.timeout_ms = 2000;
	open_node(node, &dev);
	cr_assert_eq(clcp_alloc_endpt(dev, &a, &rx), 0);
	cr_assert_eq(clcp_alloc_endpt(dev, &a, &tx), 0);
	cr_assert_geq(clcp_alloc_chan(rx, 10, node, 20), 0);
	rxq_off = rx->hdr->rxq_off;
	rx->hdr->rxq_off = rx->hdr->size; /* its queue past its end */
	c = clcp_alloc_chan(tx, 20, node, 10);
	cr_assert_geq(c, 0);
	cr_assert_eq(clcp_snd_message(tx, c, "x", 1, 0), -EPROTO, "%s", clcp_errmsg());
	cr_assert(strstr(clcp_errmsg(), "bad layout") != NULL, "the first failure tells why: %s",
		  clcp_errmsg());
	cr_assert_eq(clcp_poll_tx_msg(tx, c, "x", 1, 0), -EPROTO, "the error sticks");
	cr_assert(strstr(clcp_errmsg(), "failed earlier") != NULL, "%s", clcp_errmsg());
	rx->hdr->rxq_off = rxq_off;
	cr_assert_eq(clcp_close(dev), 0);
}

/* Floods channel y of ep with one-byte messages until told to stop. */
struct flood {
	clcp_endpt_t *ep;
	int chan;
	volatile int stop;
};

static void *flood_main(void *arg)
{
	struct flood *f = arg;

	while (!f->stop)
		if (clcp_snd_message(f->ep, f->chan, "Y", 1, CLCP_NONBLOCK) < 0)
			sched_yield();
	return NULL;
}

/*
 * A message receive that fails halfway (-ENOBUFS: another channel's frames
 * took every Rx buffer while the rest was still to come) drops that
 * message, its rest included as it comes; the channel goes on with the
 * next message (it used to answer -EPROTO for good).
 */
Test(loopback, message_cut_by_enobufs_drops_its_rest)
{
	struct clcp_endpt_attr at;
	struct flood fl = { 0 };
	clcp_endpt_t *a, *b;
	clcp_dev_t *dev;
	char buf[4096];
	int ax, bx, by, c;
	pthread_t t;
	ssize_t n;

	open_node(1, &dev);
	cr_assert_eq(clcp_dev_attr_init(dev, &at), 0);
	at.mtu = 256;
	at.timeout_ms = 10000;
	cr_assert_eq(clcp_alloc_endpt(dev, &at, &a), 0);
	at.rxq_len = 4; /* 8 Rx buffers */
	cr_assert_eq(clcp_alloc_endpt(dev, &at, &b), 0);
	ax = clcp_alloc_chan(a, 10, 1, 20);
	bx = clcp_alloc_chan(b, 20, 1, 10);
	fl.ep = a;
	fl.chan = clcp_alloc_chan(a, 11, 1, 21);
	by = clcp_alloc_chan(b, 21, 1, 11);
	cr_assert(ax >= 0 && bx >= 0 && fl.chan >= 0 && by >= 0);
	/* Eight frames of one message hold every buffer of b: it begins. */
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(clcp_send_frame(a, ax, "xxxx", 4, CLCP_MORE | CLCP_NONBLOCK), 4,
			     "frame %d", i);
		if (i == 3) {
			c = bx;
			cr_assert_eq(clcp_rcv_message(b, &c, buf, sizeof(buf), CLCP_NONBLOCK), -EAGAIN);
		}
	}
	cr_assert_eq(pthread_create(&t, NULL, flood_main, &fl), 0);
	c = bx;
	n = clcp_rcv_message(b, &c, buf, sizeof(buf), 0);
	fl.stop = 1;
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(n, -ENOBUFS, "the flood took the buffers halfway: %zd", n);
	c = by;
	while (clcp_rcv_message(b, &c, buf, sizeof(buf), CLCP_NONBLOCK) == 1)
		c = by;
	cr_assert_eq(clcp_send_frame(a, ax, "rest", 4, 0), 4, "the cut message's last frame");
	cr_assert_eq(clcp_snd_message(a, ax, "hello", 5, 0), 5);
	c = bx;
	n = clcp_rcv_message(b, &c, buf, sizeof(buf), 0);
	cr_assert_eq(n, 5, "the next message: %zd (%s)", n, clcp_errmsg());
	cr_assert_eq(memcmp(buf, "hello", 5), 0);
	clcp_close(dev);
}

/*
 * A peer that releases its channel and binds the same port again is a new
 * peer: the old channel's sends fail with -ECONNRESET (they used to go on
 * into the new channel, even the rest of a message begun before).
 */
Test(loopback, port_bound_anew_resets_the_old_channel)
{
	clcp_endpt_t *a, *b;
	clcp_dev_t *dev;
	char buf[64];
	int ca, cb, c;

	open_node(1, &dev);
	cr_assert_eq(clcp_alloc_endpt(dev, NULL, &a), 0);
	cr_assert_eq(clcp_alloc_endpt(dev, NULL, &b), 0);
	ca = clcp_alloc_chan(a, 10, 1, 20);
	cb = clcp_alloc_chan(b, 20, 1, 10);
	cr_assert(ca >= 0 && cb >= 0);
	cr_assert_eq(clcp_send_frame(a, ca, "part1", 5, CLCP_MORE), 5);
	cr_assert_eq(clcp_release_chan(b, cb), 0);
	cb = clcp_alloc_chan(b, 20, 1, 10);
	cr_assert_geq(cb, 0);
	cr_assert_eq(clcp_send_frame(a, ca, "part2", 5, 0), -ECONNRESET, "%s", clcp_errmsg());
	cr_assert_eq(clcp_snd_message(a, ca, "hello", 5, 0), -ECONNRESET, "the reset sticks");
	c = cb;
	cr_assert_eq(clcp_rcv_message(b, &c, buf, sizeof(buf), CLCP_NONBLOCK), -EAGAIN,
		     "nothing of the old channel reaches the new one");
	clcp_close(dev);
}

/*
 * A long-lived node meets peers that come and go, many more of them than
 * it maps at once (64 nodes): each dead one's mapping goes with the last
 * channel into it (the 65th peer used to be refused as never bound).
 */
Test(loopback, peers_that_come_and_go_are_unmapped)
{
	clcp_endpt_t *es, *ec;
	clcp_dev_t *srv, *cli;
	char buf[16];
	int cs, cc, c;

	open_node(50, &srv);
	cr_assert_eq(clcp_alloc_endpt(srv, NULL, &es), 0);
	for (int i = 0; i < 2 * 64 + 8; i++) {
		open_node(51, &cli);
		cr_assert_eq(clcp_alloc_endpt(cli, NULL, &ec), 0);
		cc = clcp_alloc_chan(ec, 10, 50, 20);
		cs = clcp_alloc_chan(es, 20, 51, 10);
		cr_assert(cc >= 0 && cs >= 0, "peer %d: channels", i);
		cr_assert_eq(clcp_snd_message(ec, cc, "hi", 2, 0), 2, "peer %d", i);
		c = cs;
		cr_assert_eq(clcp_rcv_message(es, &c, buf, sizeof(buf), 0), 2, "peer %d", i);
		cr_assert_eq(clcp_snd_message(es, cs, "ho", 2, 0), 2, "peer %d: answer: %s", i,
			     clcp_errmsg());
		cr_assert_eq(clcp_release_chan(es, cs), 0);
		cr_assert_eq(clcp_close(cli), 0);
	}
	cr_assert_eq(clcp_close(srv), 0);
}
