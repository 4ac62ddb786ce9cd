// SPDX-License-Identifier: MIT
/*
 * Run last (ctest orders it after every other test): the real default
 * directory, /dev/shm, holds nothing named clcp-<uid>-* once all users,
 * including a killed one, are gone.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#define REAL_SHM "/dev/shm"

struct final_args {
	const struct conf_param *p;
	int die; /* end by SIGKILL while holding the endpoint */
};

static int final_peer(void *arg)
{
	const struct final_args *a = arg;
	struct conf_end e;
	int rc;

	rc = conf_open(a->p, NODE_B, NULL, PORT_B, NODE_A, PORT_A, &e);
	TU_CK(rc == 0, "open: %d %s", rc, clcp_errmsg());
	rc = conf_send_pat(CONF_INTR, e.ep, e.chan, 5000, 1);
	TU_CK(rc == 0, "send: %d %s", rc, clcp_errmsg());
	if (a->die)
		raise(SIGKILL);
	conf_close(&e);
	return 0;
}

static void exchange(const struct conf_param *p, int die)
{
	struct final_args a = { .p = p, .die = die };
	struct conf_end e;
	int c = CLCP_ANY;
	pid_t pid;

	pid = tu_fork(final_peer, &a, NULL);
	cr_assert_gt(pid, 0);
	conf_open_ok(p, NODE_A, NULL, PORT_A, NODE_B, PORT_B, &e);
	conf_assert_rc(p, conf_recv_pat(CONF_INTR, e.ep, &c, 5000, 1), 0, "receive");
	if (die)
		conf_child_killed(pid, SIGKILL, "peer");
	else
		conf_child_ok(pid, "peer");
	conf_close(&e);
}

/* Opens and closes a node: reclaims what dead processes left. */
static void reclaim_node(const struct conf_param *p, uint32_t node)
{
	clcp_dev_t *dev;
	char uri[96];

	conf_assert_rc(p, clcp_open(conf_uri(p, node, uri, sizeof(uri)), &dev), 0, "open");
	conf_assert_rc(p, clcp_close(dev), 0, "close");
}

/*
 * Asserts that REAL_SHM holds no clcp-<uid>-* file, naming them if not.
 * Nodes that live processes of other programs use right now are not
 * leftovers (a shared host); they are logged, not counted.
 */
static void expect_clean(const char *when)
{
	char names[512];
	int live, n = tu_shm_leftovers(REAL_SHM, &live);

	if (live > 0) /* said, not counted: Criterion's warnings fail the run */
		fprintf(stderr, "final: %d file(s) in %s belong to live processes\n", live,
			REAL_SHM);
	tu_shm_list(REAL_SHM, names, sizeof(names));
	cr_assert_eq(n, 0, "%d clcp-%u-* file(s) in %s %s: %s", n, (unsigned)getuid(), REAL_SHM,
		     when, names);
}

CONF_TEST(final, nothing_left_in_dev_shm, conf_params_backends)
{
	if (tu_shm_count(REAL_SHM) < 0)
		cr_skip_test("no %s on this host", REAL_SHM);
	unsetenv("CLCP_SHM_DIR"); /* the library's default directory */
	/* Whatever dead processes left is reclaimed by the next open. */
	reclaim_node(p, NODE_A);
	expect_clean("after a reclaiming open");
	exchange(p, 0);
	expect_clean("after a clean exchange");
	exchange(p, 1);
	/* Files of the killed process are reclaimed at the next open. */
	reclaim_node(p, NODE_A);
	expect_clean("after a killed peer and a reclaiming open");
}
