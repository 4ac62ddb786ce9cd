// SPDX-License-Identifier: MIT
/*
 * Loopback's single copy of long messages (docs/loopback.md, "Long
 * messages"): a message longer than the receiver's Rx queue holds is
 * copied between the two processes' buffers (process_vm_readv/_writev),
 * declined into frames for clcp_rcv_frame, and sent as frames when the
 * copy is refused. A child process sends; the test process receives.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <clcp/clcp.h>

#include "lb.h"
#include "testutil.h"

#define LONG_LEN (1048576u + 3u) /* past the 256 KiB Rx queue, not whole chunks */
#define RX_PORT 10
#define TX_PORT 20

static void pull_setup(void)
{
	cr_assert_not_null(tu_shm_setup());
}

TestSuite(lbpull, .init = pull_setup, .fini = tu_shm_teardown, .timeout = 60);

/* Makes the process's process_vm_readv and _writev fail with EPERM. */
static int deny_cross_copy(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_process_vm_readv, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_process_vm_writev, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0 ? -errno : 0;
}

struct end {
	clcp_dev_t *dev;
	clcp_endpt_t *ep;
	int chan;
};

static int end_open(struct end *e, uint32_t node, const char *opts, uint16_t port,
		    uint16_t peer_port)
{
	struct clcp_endpt_attr a;
	char uri[96];
	int rc;

	snprintf(uri, sizeof(uri), "loopback://%u%s", node, opts);
	clcp_endpt_attr_init(&a);
	a.timeout_ms = 10000;
	rc = clcp_open(uri, &e->dev);
	if (rc == 0)
		rc = clcp_alloc_endpt(e->dev, &a, &e->ep);
	if (rc == 0)
		rc = e->chan = clcp_alloc_chan(e->ep, port, node, peer_port);
	return rc < 0 ? rc : 0;
}

/* A counter of the device, or with dev NULL of the endpoint; UINT64_MAX if none. */
static uint64_t counter_of(clcp_dev_t *dev, clcp_endpt_t *ep, const char *name)
{
	struct clcp_stat st[32];
	int n = dev ? clcp_dev_stats(dev, st, 32) : clcp_endpt_stats(ep, st, 32);
	uint64_t v = UINT64_MAX;

	tu_stat_get(st, n, 32, name, &v);
	return v;
}

struct sender_args {
	uint32_t node;
	const char *opts; /* URI options */
	int count;	  /* messages of len bytes, seeds 1.. */
	bool deny;	  /* no cross-process copy in the sender */
	size_t len;	  /* 0: LONG_LEN */
	bool paced;	  /* each message once the receiver says 'W', 20 ms later */
	int flags;	  /* of each send */
};

static size_t msg_len_of(const struct sender_args *s)
{
	return s->len ? s->len : LONG_LEN;
}

/*
 * Child: sends the messages, then reports tx_pulled, tx_declined and
 * pull_grace_vain and waits for 'Q' before it closes.
 */
static int sender(void *arg)
{
	const struct sender_args *s = arg;
	size_t len = msg_len_of(s);
	char *buf = malloc(len);
	struct end e;
	int i;

	TU_CK(buf && end_open(&e, s->node, s->opts, TX_PORT, RX_PORT) == 0, "open: %s",
	      clcp_errmsg());
	TU_CK(!s->deny || deny_cross_copy() == 0, "seccomp: %s", strerror(errno));
	for (i = 1; i <= s->count; i++) {
		ssize_t n;

		if (s->paced) {
			TU_CK(tu_expect(tu_child_sock, 'W', 20000) == 0, "no W");
			tu_msleep(20); /* the receiver polls by now */
		}
		tu_fill(buf, len, (uint32_t)i);
		n = clcp_snd_message(e.ep, e.chan, buf, len, s->flags);
		TU_CK(n == (ssize_t)len, "send %d: %zd %s", i, n, clcp_errmsg());
	}
	TU_CK(tu_put_u64(tu_child_sock, counter_of(NULL, e.ep, "tx_pulled")) == 0, "report");
	TU_CK(tu_put_u64(tu_child_sock, counter_of(NULL, e.ep, "tx_declined")) == 0, "report");
	TU_CK(tu_put_u64(tu_child_sock, counter_of(e.dev, NULL, "pull_grace_vain")) == 0, "report");
	TU_CK(tu_expect(tu_child_sock, 'Q', 20000) == 0, "no Q");
	clcp_close(e.dev);
	free(buf);
	return 0;
}

struct run {
	struct end rx;
	struct sender_args args;
	pid_t pid;
	int sock;
	bool reported;
	bool from_any; /* receive from CLCP_ANY, not the channel */
	uint64_t tx_pulled, tx_declined, grace_vain;
};

/* What the receiver's pull slot for the channel says before the sender looks (0: as made). */
struct slot_poke {
	uint32_t layout; /* as a library of another version would have made it */
	uint32_t ready;	 /* as a receiver polling for a message this large would */
};

static void slot_set(struct end *e, const struct slot_poke *k)
{
	struct lb_pull_slot *s =
		(struct lb_pull_slot *)(e->ep->base + LB_PULLS_OFF(e->ep->hdr->size)) + e->chan;

	cr_assert_eq(s->layout, LB_PULL_LAYOUT, "the slot as made");
	cr_assert_eq(s->ready, 0u, "no receive waits yet");
	if (k->layout)
		s->layout = k->layout;
	s->ready = k->ready;
}

/* The receiving end, and the sender forked with r->args (node and options filled in here). */
static void run_launch(struct run *r, const char *opts, const struct slot_poke *k)
{
	r->args.node = tu_private_node();
	r->args.opts = opts;
	r->reported = false;
	cr_assert_eq(end_open(&r->rx, r->args.node, opts, RX_PORT, TX_PORT), 0, "%s",
		     clcp_errmsg());
	slot_set(&r->rx, k);
	r->pid = tu_fork(sender, &r->args, &r->sock);
	cr_assert_gt(r->pid, 0);
}

static void run_start(struct run *r, const char *opts, int count, bool deny_sender,
		      uint32_t layout)
{
	*r = (struct run){ .args = { .count = count, .deny = deny_sender } };
	run_launch(r, opts, &(struct slot_poke){ .layout = layout });
}

/* The sender's counters, sent once all its messages are sent. */
static void run_report(struct run *r)
{
	cr_assert_eq(tu_get_u64(r->sock, 20000, &r->tx_pulled), 0, "no report");
	cr_assert_eq(tu_get_u64(r->sock, 20000, &r->tx_declined), 0, "no report");
	cr_assert_eq(tu_get_u64(r->sock, 20000, &r->grace_vain), 0, "no report");
	r->reported = true;
}

/* Collects the sender's counters and its exit. */
static void run_end(struct run *r)
{
	int status;

	if (!r->reported)
		run_report(r);
	cr_assert_eq(tu_put(r->sock, 'Q'), 0);
	cr_assert_eq(tu_wait(r->pid, 20000, &status), 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sender: %s",
		  tu_status_str(status));
	close(r->sock);
	cr_assert_eq(clcp_close(r->rx.dev), 0);
}

static void recv_intact(struct run *r, int seed, bool poll)
{
	size_t len = msg_len_of(&r->args);
	char *buf = malloc(len);
	int c = r->from_any ? CLCP_ANY : r->rx.chan;
	ssize_t n, bad;

	cr_assert_not_null(buf);
	if (r->args.paced)
		cr_assert_eq(tu_put(r->sock, 'W'), 0);
	n = poll ? clcp_poll_rx_msg(r->rx.ep, &c, buf, len, 0)
		 : clcp_rcv_message(r->rx.ep, &c, buf, len, 0);
	cr_assert_eq(n, (ssize_t)len, "message %d: %zd %s", seed, n, clcp_errmsg());
	cr_assert_eq(c, r->rx.chan);
	bad = tu_check(buf, len, (uint32_t)seed);
	cr_assert_eq(bad, -1, "message %d differs at byte %zd", seed, bad);
	free(buf);
}

/* Messages 1..count, intact, by the interrupt and polling calls in turn. */
static void recv_all(struct run *r, int count)
{
	for (int i = 1; i <= count; i++)
		recv_intact(r, i, i % 2 == 0);
}

/* A run of count messages, then what the counters of each end should say. */
struct expect {
	const char *opts;
	int count;
	bool deny_sender, deny_receiver; /* no cross-process copy there */
	uint64_t rx_pulled, tx_pulled, tx_declined;
	uint32_t layout; /* of the receiver's pull slot (0: ours) */
};

static void run_expect(const struct expect *x)
{
	struct run r;

	run_start(&r, x->opts, x->count, x->deny_sender, x->layout);
	if (x->deny_receiver)
		cr_assert_eq(deny_cross_copy(), 0, "seccomp: %s", strerror(errno));
	recv_all(&r, x->count);
	cr_assert_eq(counter_of(NULL, r.rx.ep, "rx_pulled"), x->rx_pulled);
	run_end(&r);
	cr_assert_eq(r.tx_pulled, x->tx_pulled);
	cr_assert_eq(r.tx_declined, x->tx_declined, "declined offers");
}

Test(lbpull, long_messages_are_copied_once)
{
	run_expect(&(struct expect){ "", 4, false, false, 4, 4, 0, 0 });
}

Test(lbpull, pull_off_sends_frames)
{
	run_expect(&(struct expect){ "?pull=off", 2, false, false, 0, 0, 0, 0 });
}

Test(lbpull, bad_pull_option_is_refused)
{
	clcp_dev_t *dev;

	cr_assert_eq(clcp_open("loopback://1?pull=maybe", &dev), -EINVAL);
	cr_assert(strstr(clcp_errmsg(), "pull") != NULL, "%s", clcp_errmsg());
}

/* A pull slot of another layout (another library version): offered nothing, frames. */
Test(lbpull, slot_of_another_layout_gets_frames)
{
	run_expect(&(struct expect){ "", 2, false, false, 0, 0, 0, LB_PULL_LAYOUT + 1 });
}

#define MID_LEN (64u * 1024u) /* the Rx queue holds it: as frames, unless the receiver waits */

/*
 * After n receives that waited when their message came: each was offered
 * it, taken, or withdrawn when the receiver was off its CPU for 50 us (a
 * loaded machine; the next ones are then not offered). Ends the run.
 */
static void run_end_offered(struct run *r, uint64_t n)
{
	run_report(r);
	cr_assert_eq(counter_of(NULL, r->rx.ep, "rx_pulled"), r->tx_pulled);
	run_end(r);
	cr_assert(r->tx_pulled == n || (r->tx_declined >= 1 && r->tx_pulled + r->tx_declined <= n),
		  "%llu waiting receives: %llu offers taken, %llu withdrawn", (unsigned long long)n,
		  (unsigned long long)r->tx_pulled, (unsigned long long)r->tx_declined);
	cr_log_info("waiting receiver: %llu of %llu offers taken", (unsigned long long)r->tx_pulled,
		    (unsigned long long)n);
}

/*
 * 4 messages sent with send_flags, each 20 ms after the receiver said it
 * receives: each is offered, to the polling call and to the interrupt
 * call (asleep: the offer wakes it), and arrives intact.
 */
static void offered_to_waiting_receiver(int send_flags)
{
	struct run r = { .args = { .count = 4, .len = MID_LEN, .paced = true, .flags = send_flags } };

	run_launch(&r, "", &(struct slot_poke){ 0 });
	recv_all(&r, 4);
	run_end_offered(&r, 4);
}

Test(lbpull, waiting_receiver_is_offered_mid_size_messages)
{
	offered_to_waiting_receiver(0);
}

/* A nonblocking send too: the receiver already waits. */
Test(lbpull, nonblocking_send_to_a_waiting_receiver_is_offered)
{
	offered_to_waiting_receiver(CLCP_NONBLOCK);
}

/* A polling receive from CLCP_ANY, with one channel open, waits on that one. */
Test(lbpull, polling_receive_from_any_channel_is_offered_mid_size_messages)
{
	struct run r = { .args = { .count = 2, .len = MID_LEN, .paced = true }, .from_any = true };

	run_launch(&r, "", &(struct slot_poke){ 0 });
	for (int i = 1; i <= 2; i++)
		recv_intact(&r, i, true);
	run_end_offered(&r, 2);
}

/*
 * A polling receive from CLCP_ANY with several channels open waits on all:
 * a sender on any of them is offered (here the second channel's peer never
 * comes).
 */
Test(lbpull, polling_receive_from_any_of_several_channels_is_offered_mid_size_messages)
{
	struct run r = { .args = { .count = 2, .len = MID_LEN, .paced = true }, .from_any = true };
	int other;

	run_launch(&r, "", &(struct slot_poke){ 0 });
	other = clcp_alloc_chan(r.rx.ep, RX_PORT + 1, r.args.node, TX_PORT + 1);
	cr_assert_geq(other, 0, "%s", clcp_errmsg());
	for (int i = 1; i <= 2; i++)
		recv_intact(&r, i, true);
	run_end_offered(&r, 2);
}

#define ANY_SENDERS 2
#define ANY_COUNT 40
#define ANY_CAP (300u * 1024u + 7u)

/* Message i of sender k: 64 KiB to 300 KiB (the largest beyond the Rx queue: always offered). */
static size_t any_len(int k, int i)
{
	static const size_t lens[] = { 64u * 1024u, 100u * 1024u + 3u, 200u * 1024u + 5u, ANY_CAP };

	return lens[(size_t)(i + k) % 4];
}

struct any_sender_args {
	uint32_t node;
	int k;
};

/* Child k: its messages on port TX_PORT + k; reports tx_pulled, waits for 'Q'. */
static int any_sender(void *arg)
{
	const struct any_sender_args *a = arg;
	char *buf = malloc(ANY_CAP);
	int k = a->k;
	struct end e;

	TU_CK(buf && end_open(&e, a->node, "", (uint16_t)(TX_PORT + k), (uint16_t)(RX_PORT + k)) == 0,
	      "open: %s", clcp_errmsg());
	for (int i = 0; i < ANY_COUNT; i++) {
		ssize_t n;

		tu_fill(buf, any_len(k, i), (uint32_t)(k * 1000 + i));
		n = clcp_snd_message(e.ep, e.chan, buf, any_len(k, i), 0);
		TU_CK(n == (ssize_t)any_len(k, i), "send %d: %zd %s", i, n, clcp_errmsg());
	}
	TU_CK(tu_put_u64(tu_child_sock, counter_of(NULL, e.ep, "tx_pulled")) == 0, "report");
	TU_CK(tu_expect(tu_child_sock, 'Q', 20000) == 0, "no Q");
	clcp_close(e.dev);
	free(buf);
	return 0;
}

/*
 * Two senders at once to one receiver that takes their messages from
 * CLCP_ANY, polling and (every third) by the interrupt call: each
 * channel's arrive intact and in order, offered or as frames, and the two
 * ends count the same offers taken.
 */
Test(lbpull, two_senders_to_one_receive_from_any_channel)
{
	int next[ANY_SENDERS] = { 0 }, sock[ANY_SENDERS];
	struct any_sender_args args[ANY_SENDERS];
	uint32_t node = tu_private_node();
	pid_t pid[ANY_SENDERS];
	char *buf = malloc(ANY_CAP);
	uint64_t pulled = 0, v;
	struct end rx;

	cr_assert_not_null(buf);
	cr_assert_eq(end_open(&rx, node, "", RX_PORT, TX_PORT), 0, "%s", clcp_errmsg());
	cr_assert_eq(clcp_alloc_chan(rx.ep, RX_PORT + 1, node, TX_PORT + 1), 1);
	for (int k = 0; k < ANY_SENDERS; k++) {
		args[k] = (struct any_sender_args){ node, k };
		pid[k] = tu_fork(any_sender, &args[k], &sock[k]);
		cr_assert_gt(pid[k], 0);
	}
	for (int n = 0; n < ANY_SENDERS * ANY_COUNT; n++) {
		int c = CLCP_ANY, i;
		ssize_t got = n % 3 ? clcp_poll_rx_msg(rx.ep, &c, buf, ANY_CAP, 0)
				    : clcp_rcv_message(rx.ep, &c, buf, ANY_CAP, 0);

		cr_assert(c == 0 || c == 1, "receive %d: channel %d (%zd %s)", n, c, got,
			  clcp_errmsg());
		i = next[c]++;
		cr_assert_eq(got, (ssize_t)any_len(c, i), "channel %d message %d: %s", c, i,
			     clcp_errmsg());
		cr_assert_eq(tu_check(buf, (size_t)got, (uint32_t)(c * 1000 + i)), -1,
			     "channel %d message %d", c, i);
	}
	for (int k = 0; k < ANY_SENDERS; k++) {
		int status;

		cr_assert_eq(tu_get_u64(sock[k], 20000, &v), 0, "no report");
		pulled += v;
		cr_assert_eq(tu_put(sock[k], 'Q'), 0);
		cr_assert_eq(tu_wait(pid[k], 20000, &status), 0);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sender %d: %s", k,
			  tu_status_str(status));
		close(sock[k]);
	}
	cr_assert_eq(counter_of(NULL, rx.ep, "rx_pulled"), pulled);
	cr_assert_geq(pulled, ANY_SENDERS * ANY_COUNT / 4, "the 300 KiB ones at least");
	cr_log_info("two senders, CLCP_ANY: %llu of %d offered and taken", (unsigned long long)pulled,
		    ANY_SENDERS * ANY_COUNT);
	cr_assert_eq(clcp_close(rx.dev), 0);
	free(buf);
}

/* Messages 1..count, intact, all by the interrupt call with a spin budget of spin_us. */
static void recv_spinning(struct run *r, int count, int32_t spin_us)
{
	cr_assert_eq(clcp_endpt_set_spin(r->rx.ep, spin_us, CLCP_SPIN_MAX_US), 0, "%s", clcp_errmsg());
	for (int i = 1; i <= count; i++)
		recv_intact(r, i, false);
}

/* An interrupt receive that spins (1 s budget) when the message comes waits as polling does. */
Test(lbpull, spinning_interrupt_receive_is_offered_mid_size_messages)
{
	struct run r = { .args = { .count = 3, .len = MID_LEN, .paced = true } };

	run_launch(&r, "", &(struct slot_poke){ 0 });
	recv_spinning(&r, 3, 1000000);
	run_end_offered(&r, 3);
}

/* One whose 1 ms budget ran out blocks, still waiting: the offer wakes it. */
Test(lbpull, blocked_interrupt_receive_is_offered_mid_size_messages)
{
	struct run r = { .args = { .count = 3, .len = MID_LEN, .paced = true } };

	run_launch(&r, "", &(struct slot_poke){ 0 });
	recv_spinning(&r, 3, 1000);
	run_end_offered(&r, 3);
}

/*
 * Nobody receives: 3 sends with send_flags return as with frames (the Rx
 * queue holds them), no offer; grace_vain of them waited 2 us in vain for
 * the receiver to start waiting.
 */
static void busy_receiver_gets_frames(int send_flags, uint64_t grace_vain, const char *why)
{
	struct run r = { .args = { .count = 3, .len = MID_LEN, .flags = send_flags } };

	run_launch(&r, "", &(struct slot_poke){ 0 });
	run_report(&r); /* all sent before we receive */
	cr_assert_eq(r.tx_pulled, 0);
	cr_assert_eq(r.tx_declined, 0, "no offer made");
	cr_assert_eq(r.grace_vain, grace_vain, "%s", why);
	recv_all(&r, 3);
	run_end(&r);
}

/* The first waits for the receiver; the next two do not (backed off). */
Test(lbpull, mid_size_messages_to_a_busy_receiver_go_as_frames)
{
	busy_receiver_gets_frames(0, 1, "waits for the receiver: one, then backed off");
}

/* Nonblocking sends: none waits for the receiver. */
Test(lbpull, nonblocking_mid_size_sends_do_not_wait_for_the_receiver)
{
	busy_receiver_gets_frames(CLCP_NONBLOCK, 0, "a nonblocking send waited for the receiver");
}

/*
 * A receiver said to wait that takes no offer: it is withdrawn in 50 us,
 * its frames follow, and the next two messages are not offered at all.
 */
Test(lbpull, offer_not_taken_in_time_is_withdrawn)
{
	struct run r = { .args = { .count = 3, .len = MID_LEN } };

	run_launch(&r, "", &(struct slot_poke){ .ready = MID_LEN });
	run_report(&r); /* all sent before we receive */
	cr_assert_eq(r.tx_pulled, 0);
	cr_assert_eq(r.tx_declined, 1, "the first offer withdrawn, no more made");
	recv_all(&r, 3);
	cr_assert_eq(counter_of(NULL, r.rx.ep, "rx_pulled"), 0);
	run_end(&r);
}

/* clcp_rcv_frame declines the copy: the message comes as its frames. */
Test(lbpull, frame_receiver_gets_frames)
{
	char *buf = malloc(LONG_LEN);
	struct clcp_frame f;
	struct run r;
	size_t off = 0;
	int frames = 0;

	cr_assert_not_null(buf);
	run_start(&r, "", 1, false, 0);
	do {
		cr_assert_eq(clcp_rcv_frame(r.rx.ep, r.rx.chan, &f, 0), 0, "%s", clcp_errmsg());
		cr_assert_eq(f.msg_len, LONG_LEN);
		cr_assert_eq(!!(f.flags & CLCP_QF_FIRST), off == 0, "FIRST on frame %d", frames);
		cr_assert_leq(off + f.len, LONG_LEN);
		memcpy(buf + off, f.data, f.len);
		off += f.len;
		frames++;
		cr_assert_eq(clcp_release_frames(r.rx.ep, &f, 1), 0);
	} while (!(f.flags & CLCP_QF_LAST));
	cr_assert_eq(off, LONG_LEN);
	cr_assert_eq(tu_check(buf, LONG_LEN, 1), -1);
	cr_assert_eq(frames, (int)((LONG_LEN + 4095) / 4096));
	run_end(&r);
	cr_assert_eq(r.tx_pulled, 0u);
	cr_assert_eq(r.tx_declined, 1u);
	free(buf);
}

/* Too small a buffer: -EMSGSIZE, the message stays; a large enough one takes it. */
Test(lbpull, short_buffer_leaves_the_message)
{
	char small[64];
	struct run r;
	int c;

	run_start(&r, "", 1, false, 0);
	c = r.rx.chan;
	cr_assert_eq(clcp_rcv_message(r.rx.ep, &c, small, sizeof(small), 0), -EMSGSIZE);
	c = r.rx.chan;
	cr_assert_eq(clcp_peek_message(r.rx.ep, &c, 0), (ssize_t)LONG_LEN);
	recv_intact(&r, 1, false);
	run_end(&r);
	cr_assert_eq(r.tx_pulled, 1u);
}

/*
 * Processes that may not copy across: the receiver answers so; frames, and
 * no more offers. (The sender denied too: else it may copy every chunk
 * itself before the receiver claims one.)
 */
Test(lbpull, refused_copy_falls_back_to_frames)
{
	run_expect(&(struct expect){ "", 3, true, true, 0, 0, 1, 0 });
}

/* A sender that cannot write its chunks leaves them to the receiver. */
Test(lbpull, receiver_copies_what_the_sender_cannot)
{
	run_expect(&(struct expect){ "", 3, true, false, 3, 3, 0, 0 });
}

/* The sender dies with its offer queued: the receive fails, it does not hang. */
Test(lbpull, dead_sender_fails_the_receive)
{
	char *buf = malloc(LONG_LEN);
	struct run r;
	int c, status;

	cr_assert_not_null(buf);
	run_start(&r, "", 1, false, 0);
	c = r.rx.chan;
	cr_assert_eq(clcp_peek_message(r.rx.ep, &c, 0), (ssize_t)LONG_LEN, "%s", clcp_errmsg());
	kill(r.pid, SIGKILL);
	cr_assert_eq(tu_wait(r.pid, 20000, &status), 0);
	c = r.rx.chan;
	cr_assert_eq(clcp_rcv_message(r.rx.ep, &c, buf, LONG_LEN, 0), -ECONNRESET, "%s",
		     clcp_errmsg());
	close(r.sock);
	clcp_close(r.rx.dev);
	free(buf);
}

/* The receiver goes away while the sender waits for its copy: the send fails. */
Test(lbpull, receiver_gone_fails_the_send)
{
	char *buf = calloc(1, LONG_LEN);
	struct end tx, rx;
	uint32_t node = tu_private_node();
	uint64_t t0;
	pid_t pid;
	int status;

	cr_assert_not_null(buf);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) { /* binds, waits for the offer, leaves without taking it */
		int c;

		if (end_open(&rx, node, "", RX_PORT, TX_PORT) < 0)
			_exit(1);
		c = rx.chan;
		_exit(clcp_peek_message(rx.ep, &c, 0) == (ssize_t)LONG_LEN ? 0 : 2);
	}
	cr_assert_eq(end_open(&tx, node, "", TX_PORT, RX_PORT), 0, "%s", clcp_errmsg());
	t0 = tu_now_ms();
	cr_assert_eq(clcp_snd_message(tx.ep, tx.chan, buf, LONG_LEN, 0), -ECONNRESET, "%s",
		     clcp_errmsg());
	cr_assert_lt(tu_now_ms() - t0, 5000u);
	cr_assert_eq(tu_wait(pid, 20000, &status), 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "receiver: %s",
		  tu_status_str(status));
	clcp_close(tx.dev);
	free(buf);
}
