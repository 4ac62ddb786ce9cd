// SPDX-License-Identifier: MIT
/*
 * Endpoints and ports of a node: the endpoint limit holds across
 * processes, ports are unique per node (not per process), node ids are
 * separate port namespaces.
 */
#include "harness.h"

#define MAX_EP 64

struct holder_args {
	const struct conf_param *p;
	unsigned nep;  /* endpoints to take on NODE_A */
	uint16_t port; /* port to bind on the first, if not 0 */
};

/* Child: holds nep endpoints (and a port) of NODE_A until told to quit. */
static int holder(void *arg)
{
	const struct holder_args *a = arg;
	clcp_endpt_t *ep[MAX_EP];
	clcp_dev_t *dev;
	char uri[96];
	int rc;

	rc = clcp_open(conf_uri(a->p, NODE_A, uri, sizeof(uri)), &dev);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	for (unsigned i = 0; i < a->nep; i++) {
		rc = clcp_alloc_endpt(dev, NULL, &ep[i]);
		TU_CK(rc == 0, "endpoint %u: %d %s", i, rc, clcp_errmsg());
	}
	if (a->port != 0) {
		rc = clcp_alloc_chan(ep[0], a->port, NODE_B, PORT_B);
		TU_CK(rc >= 0, "port %u: %d %s", a->port, rc, clcp_errmsg());
	}
	TU_CK(tu_put(tu_child_sock, 'H') == 0, "token");
	TU_CK(tu_expect(tu_child_sock, 'Q', 30000) == 0, "no quit");
	TU_CK(clcp_close(dev) == 0, "close");
	TU_CK(tu_put(tu_child_sock, 'C') == 0, "token");
	return 0;
}

static unsigned max_endpts(const struct conf_param *p)
{
	unsigned n = conf_info(p)->max_endpts;

	cr_assert_geq(n, 2u, "[%s] max_endpts %u", p->backend, n);
	cr_assert_leq(n, MAX_EP, "[%s] max_endpts %u", p->backend, n);
	return n;
}

CONF_TEST(endpoints, all_of_a_node_in_one_process, conf_params_backends)
{
	unsigned n = max_endpts(p);
	clcp_endpt_t *ep[MAX_EP + 1], *extra = NULL;
	clcp_dev_t *dev, *other;
	char uri[96];

	conf_assert_rc(p, clcp_open(conf_uri(p, NODE_A, uri, sizeof(uri)), &dev), 0, "open");
	for (unsigned i = 0; i < n; i++)
		conf_assert_rc(p, clcp_alloc_endpt(dev, NULL, &ep[i]), 0, "allocate endpoint");
	conf_assert_rc(p, clcp_alloc_endpt(dev, NULL, &extra), -EBUSY,
		       "one endpoint more than max_endpts");
	cr_assert_null(extra, "output written on failure");
	/* A released endpoint can be allocated again. */
	conf_assert_rc(p, clcp_release_endpt(ep[n / 2]), 0, "release");
	conf_assert_rc(p, clcp_alloc_endpt(dev, NULL, &ep[n / 2]), 0, "realloc");
	conf_assert_rc(p, clcp_alloc_endpt(dev, NULL, &extra), -EBUSY, "full again");
	/* Another node is not affected. */
	conf_assert_rc(p, clcp_open(conf_uri(p, NODE_B, uri, sizeof(uri)), &other), 0,
		       "open other node");
	conf_assert_rc(p, clcp_alloc_endpt(other, NULL, &extra), 0, "endpoint of another node");
	conf_assert_rc(p, clcp_close(other), 0, "close");
	conf_assert_rc(p, clcp_close(dev), 0, "close");
}

CONF_TEST(endpoints, limit_holds_across_processes, conf_params_backends)
{
	unsigned n = max_endpts(p);
	struct holder_args a = { .p = p, .nep = n / 2 };
	clcp_endpt_t *ep[MAX_EP + 1], *extra = NULL;
	clcp_dev_t *dev;
	char uri[96];
	int sock;
	pid_t pid;

	conf_require(p, CLCP_CAP_SHARED_NODE, "the test opens one node in two processes");
	pid = tu_fork(holder, &a, &sock);
	cr_assert_gt(pid, 0);
	cr_assert_eq(tu_expect(sock, 'H', 20000), 0, "holder did not start");
	conf_assert_rc(p, clcp_open(conf_uri(p, NODE_A, uri, sizeof(uri)), &dev), 0, "open");
	for (unsigned i = 0; i < n - a.nep; i++)
		conf_assert_rc(p, clcp_alloc_endpt(dev, NULL, &ep[i]), 0, "allocate endpoint");
	conf_assert_rc(p, clcp_alloc_endpt(dev, NULL, &extra), -EBUSY,
		       "endpoint beyond the node's limit (others in another process)");
	/* The holder leaves: its endpoints become free for us. */
	cr_assert_eq(tu_put(sock, 'Q'), 0);
	cr_assert_eq(tu_expect(sock, 'C', 20000), 0);
	conf_child_ok(pid, "holder");
	for (unsigned i = n - a.nep; i < n; i++)
		conf_assert_rc(p, clcp_alloc_endpt(dev, NULL, &ep[i]), 0,
			       "endpoint freed by the other process");
	conf_assert_rc(p, clcp_alloc_endpt(dev, NULL, &extra), -EBUSY, "full");
	conf_assert_rc(p, clcp_close(dev), 0, "close");
	close(sock);
}

CONF_TEST(endpoints, port_in_use, conf_params_backends)
{
	struct holder_args a = { .p = p, .nep = 1, .port = 77 };
	struct conf_end e, f, other;
	int sock;
	pid_t pid;

	conf_require(p, CLCP_CAP_SHARED_NODE, "the test binds one node's ports in two processes");
	conf_open_ok(p, NODE_A, NULL, PORT_A, NODE_B, PORT_B, &e);
	/* Same endpoint, same port. */
	conf_assert_rc(p, clcp_alloc_chan(e.ep, PORT_A, NODE_B, PORT_B + 1), -EADDRINUSE,
		       "port bound twice on one endpoint");
	/* Another endpoint of the node. */
	conf_assert_rc(p, conf_open(p, NODE_A, NULL, PORT_A, NODE_B, PORT_B, &f), -EADDRINUSE,
		       "port bound by another endpoint of the node");
	/* Another process on the node. */
	pid = tu_fork(holder, &a, &sock);
	cr_assert_gt(pid, 0);
	cr_assert_eq(tu_expect(sock, 'H', 20000), 0, "holder did not start");
	conf_assert_rc(p, clcp_alloc_chan(e.ep, 77, NODE_B, PORT_B), -EADDRINUSE,
		       "port bound by another process");
	cr_assert_eq(tu_put(sock, 'Q'), 0);
	cr_assert_eq(tu_expect(sock, 'C', 20000), 0);
	conf_child_ok(pid, "holder");
	/* Its owner is gone: the port is free. */
	cr_assert_geq(clcp_alloc_chan(e.ep, 77, NODE_B, PORT_B), 0);
	/* Another node has its own ports. */
	conf_open_ok(p, NODE_B, NULL, PORT_A, NODE_A, PORT_B, &other);
	/* A released channel frees its port. */
	conf_assert_rc(p, clcp_release_chan(e.ep, e.chan), 0, "release");
	cr_assert_geq(clcp_alloc_chan(e.ep, PORT_A, NODE_B, PORT_B), 0);
	conf_close(&other);
	conf_close(&e);
	close(sock);
}

/* A released endpoint's ports are free again. */
CONF_TEST(endpoints, release_frees_ports, conf_params_backends)
{
	struct conf_end e;
	clcp_endpt_t *ep;

	conf_open_ok(p, NODE_A, NULL, PORT_A, NODE_B, PORT_B, &e);
	conf_assert_rc(p, clcp_release_endpt(e.ep), 0, "release");
	conf_assert_rc(p, clcp_alloc_endpt(e.dev, NULL, &ep), 0, "alloc");
	cr_assert_geq(clcp_alloc_chan(ep, PORT_A, NODE_B, PORT_B), 0);
	conf_close(&e);
}
