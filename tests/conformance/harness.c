// SPDX-License-Identifier: MIT
/* The conformance harness: backend tables, endpoints, message helpers. */
#include "harness.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#ifndef CONF_DEFAULT_BACKENDS /* set by CMake from CLCP_BACKENDS */
#define CONF_DEFAULT_BACKENDS "loopback"
#endif

/* One table per shape: Criterion may hold several at once. */
static struct conf_param params_b[CONF_MAX_BACKENDS];
static struct conf_param params_m[CONF_MAX_BACKENDS * CONF_NMODES];
static struct conf_param params_s[CONF_MAX_BACKENDS * CONF_NSIZE_MODES * CONF_NSIZES];
static char backends[CONF_MAX_BACKENDS][CONF_NAME_MAX];
static unsigned nbackends;
static const char *shm_dir;
uint32_t conf_node_a;
static struct clcp_backend_desc cur_info;

/* Splits CLCP_TEST_BACKENDS ("a,b, c") into backends[]. */
static void load_backends(void)
{
	const char *env = getenv("CLCP_TEST_BACKENDS");
	char list[256], *save = NULL, *tok;

	if (nbackends != 0)
		return;
	if (env == NULL || env[strspn(env, " ,")] == '\0')
		env = CONF_DEFAULT_BACKENDS;
	snprintf(list, sizeof(list), "%s", env);
	for (tok = strtok_r(list, ", ", &save); tok != NULL; tok = strtok_r(NULL, ", ", &save)) {
		if (nbackends == CONF_MAX_BACKENDS)
			break;
		snprintf(backends[nbackends++], CONF_NAME_MAX, "%s", tok);
	}
}

static struct criterion_test_params make_params(struct conf_param *params, unsigned nmodes,
						unsigned nsizes)
{
	unsigned n = 0;

	load_backends();
	for (unsigned b = 0; b < nbackends; b++)
		for (unsigned m = 0; m < nmodes; m++)
			for (unsigned s = 0; s < nsizes; s++) {
				memcpy(params[n].backend, backends[b], CONF_NAME_MAX);
				params[n].mode = (enum conf_mode)m;
				params[n].size = (enum conf_size)s;
				n++;
			}
	return cr_make_param_array(struct conf_param, params, n);
}

struct criterion_test_params conf_params_backends(void)
{
	return make_params(params_b, 1, 1);
}

struct criterion_test_params conf_params_modes(void)
{
	return make_params(params_m, CONF_NMODES, 1);
}

struct criterion_test_params conf_params_sizes(void)
{
	return make_params(params_s, CONF_NSIZE_MODES, CONF_NSIZES);
}

/* --- per test --- */

static int find_backend(const char *name, struct clcp_backend_desc *info)
{
	for (unsigned i = 0; clcp_backend_info(i, info) == 0; i++)
		if (strcmp(info->name, name) == 0)
			return 0;
	return -ENOENT;
}

/* udp between two network namespaces (netns_setup): sockets, AF_XDP, or one of each. */
static bool netns_instance(const char *name)
{
	return strcmp(name, "udpns") == 0 || strcmp(name, "udpxdp") == 0 ||
	       strcmp(name, "udpmix") == 0;
}

bool conf_lossy(const struct conf_param *p)
{
	return netns_instance(p->backend);
}

/*
 * Instances that run a compiled backend another way: "udp6" is udp over
 * ::1; "udpns" is udp between two network namespaces (see netns_setup),
 * "udpxdp" the same in AF_XDP mode (mode=xdp), "udpmix" with the nodes of
 * the first namespace in AF_XDP mode and those of the second on sockets.
 */
static const char *backend_of(const char *name)
{
	return strcmp(name, "udp6") == 0 || netns_instance(name) ? "udp" : name;
}

static uint32_t udp_base_port(void);

/* udpns: the namespaces and addresses from CLCP_TEST_NETNS="NS_A,NS_B,IP_A,IP_B". */
static char netns[2][64], netns_addr[2][64];

/*
 * Node NODE_A + k lives in namespace k % 2 (so NODE_B in the other one) at
 * port base + k; CLCP_NODES names all 8 nodes of the test, children inherit
 * it. tests/fault/netns.sh makes the namespaces and sets the variable.
 */
static void netns_setup(void)
{
	const char *env = getenv("CLCP_TEST_NETNS");
	char nodes[512];
	size_t n = 0;

	cr_assert(env && sscanf(env, "%63[^,],%63[^,],%63[^,],%63s", netns[0], netns[1],
				netns_addr[0], netns_addr[1]) == 4,
		  "instance udpns needs CLCP_TEST_NETNS=NS_A,NS_B,IP_A,IP_B (tests/fault/netns.sh)");
	for (uint32_t k = 0; k < 8; k++)
		n += (size_t)snprintf(nodes + n, sizeof(nodes) - n, "%s%u=%s:%u", k ? "," : "",
				      conf_node_a + k, netns_addr[k % 2], udp_base_port() + k);
	setenv("CLCP_NODES", nodes, 1);
}

/* Moves the calling thread into node's namespace: its next clcp_open binds there. */
static void netns_enter(uint32_t node)
{
	char path[96];
	int fd;

	snprintf(path, sizeof(path), "/var/run/netns/%s", netns[(node - conf_node_a) % 2]);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
		fprintf(stderr, "udpns: %s: %s\n", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

void conf_begin(const struct conf_param *p)
{
	unsetenv("CLCP_BACKEND");
	unsetenv("CLCP_NODE");
	cr_assert_eq(find_backend(backend_of(p->backend), &cur_info), 0,
		     "CLCP_TEST_BACKENDS names \"%s\", which is not compiled in", p->backend);
	conf_node_a = tu_private_node();
	if (netns_instance(p->backend))
		netns_setup();
	shm_dir = tu_shm_setup();
	cr_assert_not_null(shm_dir, "no private shared-memory directory");
	cr_log_info("backend %s, mode %s, size class %d", p->backend, conf_mode_name(p->mode),
		    (int)p->size);
}

void conf_end(const struct conf_param *p)
{
	int n = tu_shm_count(shm_dir);

	cr_assert_eq(n, 0, "[%s] %d clcp-* file(s) left in %s after close", p->backend, n, shm_dir);
}

void conf_fini(void)
{
	tu_shm_teardown();
}

uint32_t conf_caps(const struct conf_param *p)
{
	return conf_info(p)->caps;
}

const struct clcp_backend_desc *conf_info(const struct conf_param *p)
{
	(void)p; /* looked up by conf_begin */
	return &cur_info;
}

const char *conf_mode_name(enum conf_mode m)
{
	static const char *const names[CONF_NMODES] = { "poll", "interrupt", "adaptive" };

	return (unsigned)m < CONF_NMODES ? names[m] : "?";
}

uint64_t conf_size_bytes(enum conf_size s, uint32_t mtu)
{
	switch (s) {
	case CONF_SZ_0:
		return 0;
	case CONF_SZ_1:
		return 1;
	case CONF_SZ_MTU_LESS_1:
		return mtu - 1;
	case CONF_SZ_MTU:
		return mtu;
	case CONF_SZ_MTU_PLUS_1:
		return mtu + 1ull;
	case CONF_SZ_64MTU_PLUS_7:
		return 64ull * mtu + 7;
	case CONF_SZ_4MIB:
	default:
		return 4ull << 20;
	}
}

/*
 * UDP maps the test's private node ids onto loopback UDP ports (127.0.0.1;
 * ::1 for the instance named "udp6"): NODE_A
 * (and the ids after it, up to 8 per test process) get ports from a base
 * derived from the pid, below the kernel's ephemeral range. Myrinet maps
 * them onto ports 0.. of a fabric in the test's private directory.
 */
static uint32_t udp_base_port(void)
{
	return 10000u + (conf_node_a / 8u % 2800u) * 8u;
}

const char *conf_uri(const struct conf_param *p, uint32_t node, char *buf, size_t len)
{
	if (netns_instance(p->backend)) {
		bool xdp = strcmp(p->backend, "udpxdp") == 0 ||
			   (strcmp(p->backend, "udpmix") == 0 && (node - conf_node_a) % 2 == 0);

		netns_enter(node);
		snprintf(buf, len, "udp://%u?mode=%s", node, xdp ? "xdp" : "sock");
	} else if (strcmp(backend_of(p->backend), "udp") == 0)
		snprintf(buf, len, "udp://%u?local%s=%u&base_node=%u", node,
			 strcmp(p->backend, "udp6") == 0 ? "6" : "", udp_base_port(), conf_node_a);
	else if (strcmp(p->backend, "myrinet") == 0) /* fabric ports 0.. in CLCP_SHM_DIR */
		snprintf(buf, len, "myrinet://%u?base_node=%u", node, conf_node_a);
	else
		snprintf(buf, len, "%s://%u", p->backend, node);
	return buf;
}

/* --- endpoints --- */

int conf_open(const struct conf_param *p, uint32_t node, const struct clcp_endpt_attr *attr,
	      uint16_t my_port, uint32_t peer_node, uint16_t peer_port, struct conf_end *e)
{
	struct clcp_endpt_attr a;
	char uri[96];
	int rc;

	memset(e, 0, sizeof(*e));
	e->chan = -1;
	rc = clcp_open(conf_uri(p, node, uri, sizeof(uri)), &e->dev);
	if (rc < 0)
		return rc;
	rc = clcp_alloc_endpt(e->dev, attr, &e->ep);
	if (rc == 0)
		rc = clcp_endpt_attr_get(e->ep, &a);
	if (rc == 0 && my_port != 0)
		rc = clcp_alloc_chan(e->ep, my_port, peer_node, peer_port);
	if (rc < 0) {
		clcp_close(e->dev);
		memset(e, 0, sizeof(*e));
		return rc;
	}
	e->mtu = a.mtu;
	if (my_port != 0)
		e->chan = rc;
	return 0;
}

void conf_close(struct conf_end *e)
{
	if (e->dev != NULL)
		clcp_close(e->dev);
	memset(e, 0, sizeof(*e));
}

void conf_open_ok(const struct conf_param *p, uint32_t node, const struct clcp_endpt_attr *attr,
		  uint16_t my_port, uint32_t peer_node, uint16_t peer_port, struct conf_end *e)
{
	int rc = conf_open(p, node, attr, my_port, peer_node, peer_port, e);

	conf_assert_rc(p, rc, 0, "open node, endpoint and channel");
}

/* --- messages --- */

ssize_t conf_send(enum conf_mode m, clcp_endpt_t *ep, int chan, const void *buf, size_t len,
		  int flags)
{
	if (m == CONF_POLL)
		return clcp_poll_tx_msg(ep, chan, buf, len, flags);
	return clcp_snd_message(ep, chan, buf, len, flags);
}

ssize_t conf_recv(enum conf_mode m, clcp_endpt_t *ep, int *chan, void *buf, size_t cap, int flags)
{
	struct clcp_endpt_attr a;

	if (m == CONF_POLL)
		return clcp_poll_rx_msg(ep, chan, buf, cap, flags);
	if (m == CONF_ADAPT && clcp_endpt_attr_get(ep, &a) == 0 && a.spin_us != CLCP_SPIN_ADAPTIVE)
		cr_assert_eq(clcp_endpt_set_spin(ep, CLCP_SPIN_ADAPTIVE, a.spin_max_us), 0);
	return clcp_rcv_message(ep, chan, buf, cap, flags);
}

int conf_send_pat(enum conf_mode m, clcp_endpt_t *ep, int chan, size_t len, uint32_t seed)
{
	void *buf = malloc(len ? len : 1);
	ssize_t rc;

	if (buf == NULL)
		return -ENOMEM;
	tu_fill(buf, len, seed);
	rc = conf_send(m, ep, chan, buf, len, 0);
	free(buf);
	if (rc < 0)
		return (int)rc;
	return (size_t)rc == len ? 0 : -EPROTO;
}

int conf_recv_pat(enum conf_mode m, clcp_endpt_t *ep, int *chan, size_t len, uint32_t seed)
{
	void *buf = malloc(len ? len : 1);
	ssize_t rc, bad;

	if (buf == NULL)
		return -ENOMEM;
	rc = conf_recv(m, ep, chan, buf, len, 0);
	if (rc >= 0 && (size_t)rc != len) {
		fprintf(stderr, "[%d] received %zd bytes, want %zu\n", (int)getpid(), rc, len);
		rc = -EPROTO;
	}
	if (rc >= 0 && (bad = tu_check(buf, len, seed)) >= 0) {
		fprintf(stderr, "[%d] message seed %u: byte %zd of %zu wrong\n", (int)getpid(),
			seed, bad, len);
		rc = -EPROTO;
	}
	free(buf);
	return rc < 0 ? (int)rc : 0;
}

/* --- children --- */

static volatile pid_t reap_pid;
static volatile sig_atomic_t reaped;
static volatile int reaped_status;

static void on_sigchld(int sig)
{
	int saved = errno, st;

	(void)sig;
	if (reap_pid > 0 && waitpid(reap_pid, &st, WNOHANG) == reap_pid) {
		reaped_status = st;
		reaped = 1;
	}
	errno = saved;
}

void conf_reap_async(pid_t pid)
{
	struct sigaction sa = { .sa_handler = on_sigchld };

	cr_assert_gt(pid, 0, "fork failed");
	reaped = 0;
	reap_pid = pid;
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGCHLD, &sa, NULL), 0);
	on_sigchld(SIGCHLD); /* it may be dead already */
}

/* Waits for pid, or takes the status the SIGCHLD handler collected. */
static void child_status(pid_t pid, int *status, const char *what)
{
	if (pid == reap_pid) {
		uint64_t end = tu_now_ms() + TU_CHILD_WAIT_MS;

		while (!reaped && tu_now_ms() < end)
			tu_msleep(5);
		if (!reaped)
			kill(pid, SIGKILL);
		cr_assert(reaped, "%s: child %d did not finish", what, (int)pid);
		*status = reaped_status;
		reap_pid = 0;
		return;
	}
	cr_assert_eq(tu_wait(pid, TU_CHILD_WAIT_MS, status), 0, "%s: child %d did not finish", what,
		     (int)pid);
}

void conf_child_ok(pid_t pid, const char *what)
{
	int status = 0;

	cr_assert_gt(pid, 0, "%s: fork failed", what);
	child_status(pid, &status, what);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: child %d ended with %s", what,
		  (int)pid, tu_status_str(status));
}

void conf_child_killed(pid_t pid, int sig, const char *what)
{
	int status = 0;

	cr_assert_gt(pid, 0, "%s: fork failed", what);
	child_status(pid, &status, what);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == sig,
		  "%s: child %d ended with %s, want signal %d", what, (int)pid,
		  tu_status_str(status), sig);
}

/* --- a connected pair of endpoints in this process --- */

void conf_pair_open(const struct conf_param *p, const struct clcp_endpt_attr *attr,
		    struct conf_pair *pr)
{
	struct clcp_endpt_attr a;
	char uri[96];

	memset(pr, 0, sizeof(*pr));
	conf_assert_rc(p, clcp_open(conf_uri(p, NODE_A, uri, sizeof(uri)), &pr->dev), 0,
		       "clcp_open");
	conf_assert_rc(p, clcp_alloc_endpt(pr->dev, attr, &pr->a), 0, "alloc a");
	conf_assert_rc(p, clcp_alloc_endpt(pr->dev, attr, &pr->b), 0, "alloc b");
	pr->ca = clcp_alloc_chan(pr->a, PORT_A, NODE_A, PORT_B);
	conf_assert_rc(p, pr->ca < 0 ? pr->ca : 0, 0, "channel a");
	pr->cb = clcp_alloc_chan(pr->b, PORT_B, NODE_A, PORT_A);
	conf_assert_rc(p, pr->cb < 0 ? pr->cb : 0, 0, "channel b");
	conf_assert_rc(p, clcp_endpt_attr_get(pr->a, &a), 0, "attr_get");
	pr->mtu = a.mtu;
}

void conf_pair_close(struct conf_pair *pr)
{
	if (pr->dev != NULL)
		clcp_close(pr->dev);
	memset(pr, 0, sizeof(*pr));
}
