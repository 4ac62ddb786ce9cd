// SPDX-License-Identifier: MIT
/*
 * An unrelated process: the peer is exec()ed (posix_spawn), so it shares
 * no memory, no inherited descriptors and no library state with the test.
 */
#include "harness.h"

#include <spawn.h>
#include <stdlib.h>

#ifndef CLCP_TEST_PEER
#error "CLCP_TEST_PEER names the clcp_test_peer program"
#endif

extern char **environ;

static const size_t exec_sizes[] = {
	0, 1, 100, CLCP_MTU_DEFAULT - 1, CLCP_MTU_DEFAULT, CLCP_MTU_DEFAULT + 1, 70000, 1u << 20
};
#define NEXEC (sizeof(exec_sizes) / sizeof(exec_sizes[0]))

static pid_t spawn_peer(const struct conf_param *p)
{
	char uri[96], my_port[8], node[16], port[8], count[16];
	char *argv[] = { (char *)CLCP_TEST_PEER, uri, my_port, node, port, count, NULL };
	pid_t pid;
	int rc;

	conf_uri(p, NODE_B, uri, sizeof(uri));
	snprintf(my_port, sizeof(my_port), "%d", PORT_B);
	snprintf(node, sizeof(node), "%u", NODE_A);
	snprintf(port, sizeof(port), "%d", PORT_A);
	snprintf(count, sizeof(count), "%zu", NEXEC);
	rc = posix_spawn(&pid, CLCP_TEST_PEER, NULL, NULL, argv, environ);
	cr_assert_eq(rc, 0, "posix_spawn %s: %s", CLCP_TEST_PEER, strerror(rc));
	return pid;
}

CONF_TEST(exec, echo_through_spawned_peer, conf_params_modes)
{
	struct conf_end e;
	pid_t pid;

	/* The peer finds our private CLCP_SHM_DIR in its environment. */
	pid = spawn_peer(p);
	conf_open_ok(p, NODE_A, NULL, PORT_A, NODE_B, PORT_B, &e);
	for (uint32_t i = 0; i < NEXEC; i++) {
		int c = e.chan;

		conf_assert_rc(p, conf_send_pat(p->mode, e.ep, e.chan, exec_sizes[i], i), 0,
			       "send to peer");
		conf_assert_rc(p, conf_recv_pat(p->mode, e.ep, &c, exec_sizes[i], i), 0,
			       "echo from peer");
	}
	conf_child_ok(pid, "spawned peer");
	conf_close(&e);
}
