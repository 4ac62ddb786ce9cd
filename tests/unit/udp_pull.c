// SPDX-License-Identifier: MIT
/*
 * udp's long messages offered to the receiver (docs/udp.md, "Long
 * messages"): with large frames, a message of 256 KiB or more goes from the
 * sender's buffer straight into the receiver's when a receive takes the
 * offer, and as frames when none does in time; loss, a small buffer, the
 * frame API and a receiver that dies change nothing the caller sees.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clcp/clcp.h>
#include <clcp/endpt.h>

#include "testutil.h"

#define MSG (1u << 20)
#define MTU 65000u

static unsigned port0; /* the test's, before any fork */

static unsigned base_port(void)
{
	return port0;
}

static void pull_setup(void)
{
	port0 = 33000u + (unsigned)getpid() % 875u * 8u; /* clear of the other suites' ports */
	unsetenv("CLCP_NODE");
	unsetenv("CLCP_NODES");
	unsetenv("CLCP_HOSTFILE");
	unsetenv("CLCP_JOB_KEY");
	unsetenv("CLCP_UDP_TEST_LOSS");
}

TestSuite(udp_pull, .init = pull_setup, .timeout = 60);

struct end {
	clcp_dev_t *dev;
	clcp_endpt_t *ep;
	int chan;
};

/* A receive of the endpoint waits timeout_ms for a message (0: the default). */
static void end_open_timed(struct end *e, unsigned node, const char *opts, int32_t timeout_ms)
{
	struct clcp_endpt_attr at;
	char uri[160];

	snprintf(uri, sizeof(uri), "udp://%u?local=%u&dead_ms=5000%s", node, base_port(), opts);
	cr_assert_eq(clcp_open(uri, &e->dev), 0, "%s: %s", uri, clcp_errmsg());
	clcp_endpt_attr_init(&at);
	at.mtu = MTU;
	if (timeout_ms)
		at.timeout_ms = timeout_ms;
	cr_assert_eq(clcp_alloc_endpt(e->dev, &at, &e->ep), 0, "%s", clcp_errmsg());
	e->chan = clcp_alloc_chan(e->ep, (uint16_t)(10 + node), 1 - node, (uint16_t)(11 - node));
	cr_assert_geq(e->chan, 0, "%s", clcp_errmsg());
}

static void end_open(struct end *e, unsigned node, const char *opts)
{
	end_open_timed(e, node, opts, 0);
}

static uint64_t dev_stat(clcp_dev_t *dev, const char *name)
{
	struct clcp_stat st[128];
	uint64_t v = 0;

	cr_assert_eq(tu_stat_get(st, clcp_dev_stats(dev, st, 128), 128, name, &v), 0, "%s", name);
	return v;
}

static uint64_t ep_stat(clcp_endpt_t *ep, const char *name)
{
	struct clcp_stat st[64];
	uint64_t v = 0;

	cr_assert_eq(tu_stat_get(st, clcp_endpt_stats(ep, st, 64), 64, name, &v), 0, "%s", name);
	return v;
}

/* A first message each way is not offered (the peer is not known yet): "hi" goes first. */
static void hi_send(struct end *e)
{
	cr_assert_eq(clcp_snd_message(e->ep, e->chan, "hi", 2, 0), 2, "%s", clcp_errmsg());
}

static int hi_take(struct end *e)
{
	char hi[8];
	int c = e->chan;

	return clcp_poll_rx_msg(e->ep, &c, hi, sizeof(hi), 0) == 2 ? 0 : -1;
}

static unsigned char *pattern(size_t n, unsigned seed)
{
	unsigned char *p = malloc(n);

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31u + (i >> 11) + seed);
	return p;
}

/* A receiving thread: n messages of size bytes, each checked against pattern(seed + i). */
struct rx_job {
	struct end *e;
	int n;
	size_t size;
	bool poll;
	unsigned seed;
	int failed; /* the message that was not right + 1; 0: all were */
	ssize_t rc;
	int done; /* messages taken (atomic) */
};

static void *rx_run(void *arg)
{
	struct rx_job *j = arg;
	unsigned char *got = malloc(j->size);

	for (int i = 0; i < j->n && !j->failed; i++) {
		unsigned char *want = pattern(j->size, j->seed + (unsigned)i);
		int c = j->e->chan;

		memset(got, 0xee, j->size);
		j->rc = j->poll ? clcp_poll_rx_msg(j->e->ep, &c, got, j->size, 0)
				: clcp_rcv_message(j->e->ep, &c, got, j->size, 0);
		if (j->rc != (ssize_t)j->size || memcmp(got, want, j->size) != 0)
			j->failed = i + 1;
		__atomic_store_n(&j->done, i + 1, __ATOMIC_RELEASE);
		free(want);
	}
	free(got);
	return NULL;
}

/*
 * n messages of size bytes from node 0 to a receiving thread on node 1,
 * both polling or both blocking, each sent once the one before was taken
 * and the receive said it waits for the next; some went by an offer
 * (not the first: the peer was not known yet; an offer that a preempted
 * receiver does not answer in time goes as frames, and so do the next 2^n).
 */
static void stream(int n, size_t size, bool poll, bool must_take)
{
	struct end a, b;
	struct rx_job j;
	uint64_t ready = 0, taken, withdrawn, declined;
	pthread_t t;

	end_open(&a, 0, "");
	end_open(&b, 1, "");
	j = (struct rx_job){ &b, n, size, poll, 7, 0, 0, 0 };
	cr_assert_eq(pthread_create(&t, NULL, rx_run, &j), 0);
	for (int i = 0; i < n; i++) {
		unsigned char *m = pattern(size, 7 + (unsigned)i);
		ssize_t rc = poll ? clcp_poll_tx_msg(a.ep, a.chan, m, size, 0)
				  : clcp_snd_message(a.ep, a.chan, m, size, 0);

		cr_assert_eq(rc, (ssize_t)size, "send %d: %zd %s", i, rc, clcp_errmsg());
		free(m);
		while (__atomic_load_n(&j.done, __ATOMIC_ACQUIRE) < i + 1 && !j.failed)
			usleep(100);
		for (int ms = 0; dev_stat(a.dev, "rx_ready") < ready + 1 && ms < 2000; ms++)
			usleep(1000);
		ready = dev_stat(a.dev, "rx_ready");
	}
	pthread_join(t, NULL);
	cr_assert_eq(j.failed, 0, "message %d: %zd %s", j.failed - 1, j.rc, clcp_errmsg());
	taken = ep_stat(a.ep, "tx_pulled");
	withdrawn = dev_stat(a.dev, "pull_withdrawn");
	declined = ep_stat(a.ep, "tx_declined");
	cr_assert_geq(must_take ? taken : taken + withdrawn + declined, 1,
		      "%" PRIu64 " of %d went by an offer (%" PRIu64 " withdrawn, %" PRIu64
		      " declined)", taken, n, withdrawn, declined);
	cr_assert_eq(ep_stat(a.ep, "tx_pulled"), ep_stat(b.ep, "rx_pulled"));
	cr_assert_eq(dev_stat(a.dev, "tx_bulk"), dev_stat(b.dev, "rx_bulk"),
		     "every frame taken once (resends are counted apart)");
	cr_assert_geq(dev_stat(b.dev, "rx_bulk"), ep_stat(b.ep, "rx_pulled") * (size / MTU));
	clcp_close(a.dev);
	clcp_close(b.dev);
}

/*
 * A polling receive says it waits: each message it waits for is offered
 * and goes straight into its buffer, read there from the socket.
 */
Test(udp_pull, polling_receive_takes_the_message_into_its_buffer)
{
	stream(8, MSG, true, true);
}

/*
 * A blocking receive says it waits too, and is offered the message: on a
 * GRANT it goes into its buffer while it sleeps (the progress thread reads
 * the frames), and wakes it once whole; as frames, its copy would only
 * begin then. An offer not granted waits for the receive to wake and
 * answer; under a sanitizer that can outlast the 500 us bound, and the
 * offer is withdrawn: offered is what each run must show.
 */
Test(udp_pull, blocking_receive_is_offered_the_message)
{
	stream(4, MSG, false, false);
}

/* One that frames would not fit: offered whatever the receive said. */
Test(udp_pull, blocking_receive_takes_a_message_frames_would_not_fit)
{
	stream(3, 8u << 20, false, true);
}

/* 3 % of each side's datagrams lost: offered frames are resent from the sender's buffer. */
Test(udp_pull, lost_frames_are_resent_from_the_callers_buffer)
{
	setenv("CLCP_UDP_TEST_LOSS", "30:7", 1);
	stream(6, 8u << 20, true, true);
}

/*
 * The receiver says it waits, then stops (SIGSTOP) before the offer comes.
 * A receive for any channel gives no buffer (READY): the offer is withdrawn
 * in time and the message goes as frames (it fits the receiver's credit).
 * A receive for its channel gives its buffer (GRANT): the offer's frames go
 * at once, wait in the sender's store when they are not acked in time, and
 * go into the buffer once the receiver runs again. Either way the send
 * returns while the receiver is stopped.
 */
struct stopped_rx {
	unsigned seed;
	bool any; /* the receive is for CLCP_ANY */
};

static int ping_then_receive(void *arg)
{
	const struct stopped_rx *r = arg;
	unsigned char *got = malloc(MSG), *want = pattern(MSG, r->seed);
	struct end b;
	int c;

	end_open(&b, 1, "");
	TU_CK(hi_take(&b) == 0, "hi: %s", clcp_errmsg());
	c = r->any ? CLCP_ANY : b.chan;
	TU_CK(clcp_poll_rx_msg(b.ep, &c, got, MSG, 0) == (ssize_t)MSG, "%s", clcp_errmsg());
	TU_CK(memcmp(got, want, MSG) == 0, "the message");
	TU_CK(ep_stat(b.ep, "rx_pulled") == (r->any ? 0 : 1), "into the buffer: %" PRIu64,
	      ep_stat(b.ep, "rx_pulled"));
	clcp_close(b.dev);
	return 0;
}

/* Sends the message while the receiver (which said it waits) is stopped. */
static void send_to_stopped(struct end *a, const struct stopped_rx *r)
{
	unsigned char *m = pattern(MSG, r->seed);
	int sock, st;
	pid_t pid = tu_fork(ping_then_receive, (void *)r, &sock);

	end_open(a, 0, "");
	hi_send(a);
	for (int ms = 0; dev_stat(a->dev, "rx_ready") == 0 && ms < 5000; ms++)
		tu_msleep(1); /* it waits for the message now, and said so */
	cr_assert_eq(dev_stat(a->dev, "rx_ready"), 1);
	cr_assert_eq(kill(pid, SIGSTOP), 0);
	/* It stops some time after kill returns, and could take the frames meanwhile: wait. */
	cr_assert_eq(waitpid(pid, &st, WUNTRACED), pid);
	cr_assert(WIFSTOPPED(st), "receiver: %s", tu_status_str(st));
	cr_assert_eq(clcp_snd_message(a->ep, a->chan, m, MSG, 0), (ssize_t)MSG, "%s",
		     clcp_errmsg());
	cr_assert_eq(kill(pid, SIGCONT), 0);
	cr_assert_eq(tu_wait(pid, 10000, &st), 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "receiver: %s", tu_status_str(st));
	close(sock);
	free(m);
}

Test(udp_pull, offer_not_taken_in_time_goes_as_frames)
{
	struct stopped_rx r = { 2, true };
	struct end a;

	send_to_stopped(&a, &r);
	cr_assert_eq(dev_stat(a.dev, "pull_withdrawn"), 1);
	cr_assert_eq(dev_stat(a.dev, "tx_granted"), 0);
	cr_assert_eq(ep_stat(a.ep, "tx_declined"), 1);
	cr_assert_eq(ep_stat(a.ep, "tx_pulled"), 0);
	clcp_close(a.dev);
}

Test(udp_pull, granted_offer_waits_in_the_store_for_a_stopped_receiver)
{
	struct stopped_rx r = { 3, false };
	struct end a;

	send_to_stopped(&a, &r);
	cr_assert_eq(dev_stat(a.dev, "tx_granted"), 1);
	cr_assert_eq(dev_stat(a.dev, "bulk_kept"), 1, "its frames were copied, not acked");
	cr_assert_eq(dev_stat(a.dev, "pull_withdrawn"), 0);
	cr_assert_eq(ep_stat(a.ep, "tx_pulled"), 1);
	clcp_close(a.dev);
}

/*
 * A receive gave its buffer and timed out before the offer came: the
 * granted offer's frames, sent at once, go into the Rx ring as frames of the
 * message, and the next receive (which gives no buffer: it does not poll)
 * takes them.
 */
Test(udp_pull, granted_offer_after_the_receive_ended_comes_as_frames)
{
	unsigned char *m = pattern(MSG, 4), *got = malloc(MSG);
	struct end a, b;
	int c;

	end_open(&a, 0, "");
	end_open_timed(&b, 1, "", 100);
	hi_send(&a);
	cr_assert_eq(hi_take(&b), 0, "%s", clcp_errmsg());
	c = b.chan;
	cr_assert_eq(clcp_poll_rx_msg(b.ep, &c, got, MSG, 0), -ETIMEDOUT, "%s", clcp_errmsg());
	for (int ms = 0; dev_stat(a.dev, "rx_ready") == 0 && ms < 2000; ms++)
		tu_msleep(1);
	cr_assert_eq(clcp_snd_message(a.ep, a.chan, m, MSG, 0), (ssize_t)MSG, "%s", clcp_errmsg());
	cr_assert_eq(dev_stat(a.dev, "tx_granted"), 1);
	/* All in before the receive (the send may have returned with them in its store). */
	for (int ms = 0; dev_stat(b.dev, "rx_bulk_framed") < (MSG + MTU - 1) / MTU && ms < 5000;
	     ms++)
		tu_msleep(1);
	cr_assert_eq(dev_stat(b.dev, "rx_bulk_framed"), (MSG + MTU - 1) / MTU);
	c = b.chan;
	cr_assert_eq(clcp_rcv_message(b.ep, &c, got, MSG, 0), (ssize_t)MSG, "%s", clcp_errmsg());
	cr_assert_eq(memcmp(got, m, MSG), 0);
	cr_assert_eq(ep_stat(b.ep, "rx_pulled"), 0);
	free(m);
	free(got);
	clcp_close(a.dev);
	clcp_close(b.dev);
}

/* The sender of the frame and small-buffer tests: one message, in a process of its own. */
#define BIG (16u << 20) /* more than frames fit (64 of 65000 bytes): always offered */

static int send_big(void *arg)
{
	struct end a;
	unsigned char *m = pattern(BIG, *(unsigned *)arg);
	ssize_t rc;

	end_open(&a, 0, "");
	hi_send(&a);
	rc = clcp_snd_message(a.ep, a.chan, m, BIG, 0);
	TU_CK(rc == (ssize_t)BIG, "send: %zd %s", rc, clcp_errmsg());
	TU_CK(tu_put(tu_child_sock, 's') == 0, "token");
	/* The offer's outcome, for the parent to check. */
	TU_CK(tu_put_u64(tu_child_sock, ep_stat(a.ep, "tx_pulled")) == 0, "token");
	TU_CK(tu_put_u64(tu_child_sock, ep_stat(a.ep, "tx_declined")) == 0, "token");
	TU_CK(tu_expect(tu_child_sock, 'q', 10000) == 0, "parent done");
	clcp_close(a.dev);
	free(m);
	return 0;
}

/*
 * The sender's send returned, its message taken by the offer (pulled) or
 * declined and sent as frames: its counts of offers taken and declined say so.
 */
static void sender_done(pid_t pid, int sock, bool pulled)
{
	uint64_t taken, declined;
	int st;

	cr_assert_eq(tu_expect(sock, 's', 20000), 0, "the sender's send returned");
	cr_assert_eq(tu_get_u64(sock, 10000, &taken), 0);
	cr_assert_eq(tu_get_u64(sock, 10000, &declined), 0);
	cr_assert_eq(tu_put(sock, 'q'), 0);
	cr_assert_eq(tu_wait(pid, 10000, &st), 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "sender: %s", tu_status_str(st));
	close(sock);
	cr_assert_eq(taken, pulled ? 1 : 0);
	cr_assert_eq(declined, pulled ? 0 : 1, "offered, declined, sent as frames");
}

/* A receiver that takes frames one by one declines the offer: the message comes as frames. */
Test(udp_pull, frame_receive_declines_the_offer)
{
	unsigned seed = 5;
	unsigned char *m = pattern(BIG, seed), *got = malloc(BIG);
	struct clcp_frame f;
	struct end b;
	size_t off = 0;
	int sock;
	pid_t pid = tu_fork(send_big, &seed, &sock);

	end_open(&b, 1, "");
	cr_assert_eq(hi_take(&b), 0, "%s", clcp_errmsg());
	for (bool last = false; !last;) {
		cr_assert_eq(clcp_rcv_frame(b.ep, b.chan, &f, 0), 0, "%s", clcp_errmsg());
		cr_assert_leq(off + f.len, BIG);
		memcpy(got + off, f.data, f.len);
		off += f.len;
		last = f.flags & CLCP_QF_LAST;
		cr_assert_eq(clcp_release_frames(b.ep, &f, 1), 0);
	}
	cr_assert_eq(off, BIG);
	cr_assert_eq(memcmp(got, m, BIG), 0);
	sender_done(pid, sock, false);
	cr_assert_eq(dev_stat(b.dev, "rx_bulk"), 0);
	free(m);
	free(got);
	clcp_close(b.dev);
}

/*
 * A nonblocking receive that meets an offer does not wait for the message
 * to cross the network: it declines (-EAGAIN), and the message follows as
 * frames, which a later receive takes.
 */
Test(udp_pull, nonblocking_receive_declines_the_offer)
{
	unsigned seed = 9;
	unsigned char *m = pattern(BIG, seed), *got = malloc(BIG);
	struct end b;
	ssize_t rc = -EAGAIN;
	int sock, c;
	pid_t pid = tu_fork(send_big, &seed, &sock);

	end_open(&b, 1, "");
	cr_assert_eq(hi_take(&b), 0, "%s", clcp_errmsg());
	for (int ms = 0; rc == -EAGAIN && ms < 10000; ms++) {
		c = b.chan;
		rc = clcp_peek_message(b.ep, &c, CLCP_NONBLOCK);
		if (rc == -EAGAIN)
			tu_msleep(1);
	}
	cr_assert_eq(rc, (ssize_t)BIG, "the offer is here: %zd %s", rc, clcp_errmsg());
	c = b.chan;
	rc = clcp_rcv_message(b.ep, &c, got, BIG, CLCP_NONBLOCK);
	cr_assert_eq(rc, -EAGAIN, "%zd %s", rc, clcp_errmsg());
	c = b.chan;
	cr_assert_eq(clcp_rcv_message(b.ep, &c, got, BIG, 0), (ssize_t)BIG, "%s", clcp_errmsg());
	cr_assert_eq(memcmp(got, m, BIG), 0);
	sender_done(pid, sock, false);
	cr_assert_eq(ep_stat(b.ep, "rx_pulled"), 0);
	free(m);
	free(got);
	clcp_close(b.dev);
}

/*
 * A buffer too small for the offered message: -EMSGSIZE and the message
 * stays queued (its length told by clcp_peek_message); the next receive
 * with room takes the offer.
 */
Test(udp_pull, small_buffer_leaves_the_offered_message_queued)
{
	unsigned seed = 11;
	unsigned char *m = pattern(BIG, seed), *got = malloc(BIG);
	struct end b;
	ssize_t rc;
	int sock, c;
	pid_t pid = tu_fork(send_big, &seed, &sock);

	end_open(&b, 1, "");
	cr_assert_eq(hi_take(&b), 0, "%s", clcp_errmsg());
	c = b.chan;
	rc = clcp_poll_rx_msg(b.ep, &c, got, 4096, 0);
	cr_assert_eq(rc, -EMSGSIZE, "%zd %s", rc, clcp_errmsg());
	c = b.chan;
	cr_assert_eq(clcp_peek_message(b.ep, &c, 0), (ssize_t)BIG, "%s", clcp_errmsg());
	c = b.chan;
	cr_assert_eq(clcp_poll_rx_msg(b.ep, &c, got, BIG, 0), (ssize_t)BIG, "%s", clcp_errmsg());
	cr_assert_eq(memcmp(got, m, BIG), 0);
	sender_done(pid, sock, true);
	cr_assert_eq(ep_stat(b.ep, "rx_pulled"), 1);
	cr_assert_gt(dev_stat(b.dev, "rx_bulk_placed"), 0, "read straight into the buffer");
	free(m);
	free(got);
	clcp_close(b.dev);
}

/*
 * The receiver dies while an offered message's frames stream in: the
 * sender's call fails with -ECONNRESET, it does not hang. The message is
 * many windows long and the wire lossy, so the death lands mid-stream.
 */
struct rx_big {
	clcp_endpt_t *ep;
	int chan;
	unsigned char *buf;
};

static void *rx_big_run(void *arg)
{
	struct rx_big *j = arg;
	int c = j->chan;

	(void)clcp_rcv_message(j->ep, &c, j->buf, BIG, 0);
	return NULL;
}

static int receive_then_die(void *arg)
{
	struct rx_big j;
	struct end b;
	pthread_t t;

	(void)arg;
	end_open(&b, 1, "");
	TU_CK(hi_take(&b) == 0, "hi: %s", clcp_errmsg());
	j = (struct rx_big){ b.ep, b.chan, calloc(1, BIG) };
	TU_CK(j.buf && pthread_create(&t, NULL, rx_big_run, &j) == 0, "thread");
	/*
	 * Dies at the first offered frame in the buffer (its first byte is 1),
	 * far from the last: the counters would take the device's lock, which
	 * the stream keeps busy, and a late death lets the send end whole.
	 */
	while (__atomic_load_n(&j.buf[0], __ATOMIC_RELAXED) == 0)
		clcp_cpu_relax();
	raise(SIGKILL);
	return 1;
}

Test(udp_pull, receiver_that_dies_fails_the_send)
{
	unsigned char *m = pattern(BIG, 1);
	struct end a;
	ssize_t rc;
	int sock, st;
	pid_t pid = tu_fork(receive_then_die, NULL, &sock);

	setenv("CLCP_UDP_TEST_LOSS", "50:3", 1); /* ours only: the child has opened its own */
	end_open(&a, 0, "");
	hi_send(&a);
	rc = clcp_snd_message(a.ep, a.chan, m, BIG, 0);
	cr_assert_eq(rc, -ECONNRESET, "%zd %s", rc, clcp_errmsg());
	cr_assert_gt(dev_stat(a.dev, "tx_bulk"), 0, "it died during the offered message");
	cr_assert_eq(tu_wait(pid, 10000, &st), 0);
	cr_assert(WIFSIGNALED(st), "receiver: %s", tu_status_str(st));
	close(sock);
	free(m);
	clcp_close(a.dev);
}
