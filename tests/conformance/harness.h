/* SPDX-License-Identifier: MIT */
/*
 * The conformance harness: every test is written once, takes a backend
 * (and maybe a receive mode and a message size), and is registered once
 * per backend named in CLCP_TEST_BACKENDS (comma list, default
 * "loopback"). A test skips only for a missing capability, saying so.
 *
 * Each test runs in its own Criterion worker with a private shared-memory
 * directory (CLCP_SHM_DIR); at its end the directory must be empty.
 * Children are forked (tu_fork) and open their own devices; they report
 * by exit status, checked by the parent.
 */
#ifndef CLCP_CONF_HARNESS_H
#define CLCP_CONF_HARNESS_H

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>

#include <clcp/clcp.h>

#include "testutil.h"

#define CONF_MAX_BACKENDS 8
#define CONF_NAME_MAX 48

/* How a test sends and receives messages. */
enum conf_mode {
	CONF_POLL, /* clcp_poll_tx_msg / clcp_poll_rx_msg (polling group) */
	CONF_INTR, /* clcp_snd_message / clcp_rcv_message (interrupt group) */
	CONF_ADAPT, /* the interrupt group spinning an adaptive budget first */
	CONF_NMODES,
	CONF_NSIZE_MODES = CONF_ADAPT, /* the size-class tables: poll and intr */
};

/* Message size classes, resolved against the endpoint's MTU. */
enum conf_size {
	CONF_SZ_0,
	CONF_SZ_1,
	CONF_SZ_MTU_LESS_1,
	CONF_SZ_MTU,
	CONF_SZ_MTU_PLUS_1,
	CONF_SZ_64MTU_PLUS_7,
	CONF_SZ_4MIB,
	CONF_NSIZES,
};

/* One instance of a test: Criterion copies it into the worker. */
struct conf_param {
	char backend[CONF_NAME_MAX];
	enum conf_mode mode;
	enum conf_size size;
};

/*
 * The instance's path loses, duplicates and corrupts frames (the fault
 * namespaces, tests/fault/netns.sh): a frame resent comes late, the next
 * one right after it, whatever the sender's pace.
 */
bool conf_lossy(const struct conf_param *p);

/* Parameter tables: backends, backends x modes, backends x modes x sizes. */
struct criterion_test_params conf_params_backends(void);
struct criterion_test_params conf_params_modes(void);
struct criterion_test_params conf_params_sizes(void);

/*
 * Defines a test body run once per parameter of the table gen; the body
 * sees `p` (const struct conf_param *). Extra Criterion options follow.
 */
#define CONF_TEST(suite, name, gen)                                                             \
	static void suite##_##name(const struct conf_param *p);                                 \
	ParameterizedTestParameters(suite, name)                                                \
	{                                                                                       \
		return gen();                                                                   \
	}                                                                                       \
	ParameterizedTest(struct conf_param *cp, suite, name, .timeout = 60, .fini = conf_fini) \
	{                                                                                       \
		conf_begin(cp);                                                                 \
		suite##_##name(cp);                                                             \
		conf_end(cp);                                                                   \
	}                                                                                       \
	static void suite##_##name(const struct conf_param *p)

void conf_begin(const struct conf_param *p);
void conf_end(const struct conf_param *p);
void conf_fini(void);

/* The backend's capabilities (clcp_backend_info) and its skip helper. */
uint32_t conf_caps(const struct conf_param *p);
const struct clcp_backend_desc *conf_info(const struct conf_param *p);
#define conf_require(p, cap, why)                                                         \
	do {                                                                              \
		if (!(conf_caps(p) & (cap)))                                              \
			cr_skip_test("backend %s lacks %s: %s", (p)->backend, #cap, why); \
	} while (0)

const char *conf_mode_name(enum conf_mode m);
uint64_t conf_size_bytes(enum conf_size s, uint32_t mtu);

/*
 * URI of node `node` on the test's backend ("name://node"). For the udpns
 * instance it also moves the calling thread into the node's network
 * namespace, so the clcp_open that follows binds there.
 */
const char *conf_uri(const struct conf_param *p, uint32_t node, char *buf, size_t len);

/* An opened device with one endpoint and (maybe) one channel. */
struct conf_end {
	clcp_dev_t *dev;
	clcp_endpt_t *ep;
	int chan;
	uint32_t mtu;
};

/*
 * Opens node's device and one endpoint (attr may be NULL); if my_port is
 * not 0, also a channel my_port -> (peer_node, peer_port). 0 or -errno.
 */
int conf_open(const struct conf_param *p, uint32_t node, const struct clcp_endpt_attr *attr,
	      uint16_t my_port, uint32_t peer_node, uint16_t peer_port, struct conf_end *e);
void conf_close(struct conf_end *e);

/* The same, asserting success (parent side only). */
void conf_open_ok(const struct conf_param *p, uint32_t node, const struct clcp_endpt_attr *attr,
		  uint16_t my_port, uint32_t peer_node, uint16_t peer_port, struct conf_end *e);

/* Sends / receives one message by the mode's calls. */
ssize_t conf_send(enum conf_mode m, clcp_endpt_t *ep, int chan, const void *buf, size_t len,
		  int flags);
ssize_t conf_recv(enum conf_mode m, clcp_endpt_t *ep, int *chan, void *buf, size_t cap, int flags);

/* Sends a message of len bytes of pattern seed (0 or -errno / short). */
int conf_send_pat(enum conf_mode m, clcp_endpt_t *ep, int chan, size_t len, uint32_t seed);
/*
 * Receives one message on *chan and checks it is len bytes of pattern
 * seed. 0, or -errno from the call, or -EPROTO (wrong length or data).
 */
int conf_recv_pat(enum conf_mode m, clcp_endpt_t *ep, int *chan, size_t len, uint32_t seed);

/* Parent side: waits for a child and asserts it exited with status 0. */
void conf_child_ok(pid_t pid, const char *what);
/* Parent side: waits for a child and asserts it died by signal sig. */
void conf_child_killed(pid_t pid, int sig, const char *what);
/*
 * Reaps pid from a SIGCHLD handler as soon as it dies, so that a dead
 * child is gone (not a zombie) while the parent blocks in a CLCP call.
 * conf_child_ok/conf_child_killed then use the status it left.
 */
void conf_reap_async(pid_t pid);

/*
 * Nodes and ports the tests use. Node ids are private to the test process
 * (tu_private_node) and set by conf_begin; children inherit them.
 */
extern uint32_t conf_node_a;
#define NODE_A conf_node_a
#define NODE_B (conf_node_a + 1)
#define PORT_A 10
#define PORT_B 20

/* Asserts that rc is want, naming the call and the backend. */
#define conf_assert_rc(p, rc, want, what)                                                     \
	do {                                                                                  \
		long long rc_ = (long long)(rc);                                              \
		long long want_ = (long long)(want);                                          \
		cr_assert_eq(rc_, want_, "[%s] %s: got %lld (%s; %s), want %lld (%s)",        \
			     (p)->backend, what, rc_, clcp_strerror((int)rc_), clcp_errmsg(), \
			     want_, clcp_strerror((int)want_));                               \
	} while (0)

/*
 * Two endpoints of one process on NODE_A, a channel each, connected to
 * each other: a -> b on ca, b -> a on cb. attr applies to both.
 */
struct conf_pair {
	clcp_dev_t *dev;
	clcp_endpt_t *a, *b;
	int ca, cb;
	uint32_t mtu;
};

void conf_pair_open(const struct conf_param *p, const struct clcp_endpt_attr *attr,
		    struct conf_pair *pr);
void conf_pair_close(struct conf_pair *pr);

#endif /* CLCP_CONF_HARNESS_H */
