// SPDX-License-Identifier: MIT
/*
 * The udp bootstrap's choice of node table (docs/cluster.md): CLCP_BOOTSTRAP,
 * a PMIx server's environment, and the explicit tables that win over it.
 * The exchange itself runs under mpirun (tests/cluster/mpirun.sh).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clcp/clcp.h>

#include "testutil.h"

#define PORT_BASE 7990 /* nodes here: 7990 + pid % 100 */

static void clean_env(void)
{
	static const char *const vars[] = { "CLCP_BOOTSTRAP", "CLCP_NODES",	"CLCP_HOSTFILE",
					    "CLCP_NODE",      "PMIX_RANK",	"PMIX_NAMESPACE",
					    "CLCP_UDP_ADDR",  "CLCP_UDP_PORTS", "PMI_FD",
					    "PMI_RANK",	      "PMI_SIZE" };

	for (unsigned i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

TestSuite(udp_boot, .init = clean_env);

/* clcp_open(uri) must fail with err, its detail naming what. */
static void open_fails(const char *uri, int err, const char *what)
{
	clcp_dev_t *dev = NULL;
	uint64_t t0 = tu_now_ms();
	int rc = clcp_open(uri, &dev);

	cr_assert_eq(rc, -err, "clcp_open(%s) = %d (%s), want %d", uri, rc, clcp_errmsg(), -err);
	cr_assert_null(dev);
	cr_assert(strstr(clcp_errmsg(), what), "detail \"%s\" lacks \"%s\"", clcp_errmsg(), what);
	cr_assert_lt(tu_now_ms() - t0, 10000u, "clcp_open took %llu ms to fail",
		     (unsigned long long)(tu_now_ms() - t0));
}

Test(udp_boot, bad_bootstrap_name_is_einval)
{
	setenv("CLCP_BOOTSTRAP", "slurmish", 1);
	open_fails("udp", EINVAL, "CLCP_BOOTSTRAP=slurmish");
}

Test(udp_boot, node_id_and_bootstrap_conflict)
{
	setenv("CLCP_BOOTSTRAP", "pmix", 1);
	open_fails("udp://3", EINVAL, "base_node + rank");
	clean_env();
	setenv("CLCP_NODE", "3", 1);
	setenv("PMIX_RANK", "0", 1);
	setenv("PMIX_NAMESPACE", "nowhere", 1);
	open_fails("udp", EINVAL, "base_node + rank");
}

/* Asked for, but no server: PMIx_Init fails at once (or the build has no PMIx). */
Test(udp_boot, pmix_without_a_server_fails_fast)
{
	clcp_dev_t *dev = NULL;
	int rc;

	setenv("CLCP_BOOTSTRAP", "pmix", 1);
	rc = clcp_open("udp", &dev);
	cr_assert(rc == -EIO || rc == -ENOSYS, "clcp_open = %d (%s), want -EIO or -ENOSYS", rc,
		  clcp_errmsg());
	cr_assert(strstr(clcp_errmsg(), "pmix"), "detail \"%s\" does not say pmix", clcp_errmsg());
}

/* Under a PMIx server's environment, CLCP_NODES still wins: it was given on purpose. */
Test(udp_boot, explicit_table_wins_over_pmix_environment)
{
	unsigned port = PORT_BASE + (unsigned)getpid() % 100;
	clcp_dev_t *dev = NULL;
	char nodes[64];
	int rc;

	snprintf(nodes, sizeof(nodes), "4=127.0.0.1:%u", port);
	setenv("CLCP_NODES", nodes, 1);
	setenv("PMIX_RANK", "0", 1);
	setenv("PMIX_NAMESPACE", "nowhere", 1);
	rc = clcp_open("udp", &dev);
	cr_assert_eq(rc, 0, "clcp_open = %d (%s)", rc, clcp_errmsg());
	cr_assert_eq(clcp_dev_node(dev), 4u);
	clcp_close(dev);
}

Test(udp_boot, bootstrap_none_ignores_pmix_environment)
{
	setenv("CLCP_BOOTSTRAP", "none", 1);
	setenv("PMIX_RANK", "0", 1);
	setenv("PMIX_NAMESPACE", "nowhere", 1);
	open_fails("udp", EINVAL, "no node table");
}

/* A PMIx environment without a server behind it: the bootstrap runs and fails, no hang. */
Test(udp_boot, pmix_environment_is_detected)
{
	clcp_dev_t *dev = NULL;
	int rc;

	setenv("PMIX_RANK", "0", 1);
	setenv("PMIX_NAMESPACE", "nowhere", 1);
	rc = clcp_open("udp", &dev);
	cr_assert(rc == -EIO || rc == -ENOSYS, "clcp_open = %d (%s), want the bootstrap's failure",
		  rc, clcp_errmsg());
	cr_assert(strstr(clcp_errmsg(), "pmix"), "detail \"%s\" does not say pmix", clcp_errmsg());
}

Test(udp_boot, pmi1_without_its_environment_is_einval)
{
	setenv("CLCP_BOOTSTRAP", "pmi1", 1);
	open_fails("udp", EINVAL, "PMI_RANK is not set");
	setenv("PMI_RANK", "0", 1);
	setenv("PMI_SIZE", "2", 1);
	open_fails("udp", EINVAL, "PMI_FD is not set");
	setenv("PMI_RANK", "2", 1);
	open_fails("udp", EINVAL, "rank 2 of 2");
}

/* PMI_FD names a descriptor nobody answers on: the bootstrap fails, no hang. */
Test(udp_boot, pmi1_with_a_dead_server_fails)
{
	int fd[2];
	char s[16];

	cr_assert_eq(pipe(fd), 0);
	close(fd[1]); /* reads see EOF at once */
	snprintf(s, sizeof(s), "%d", fd[0]);
	setenv("PMI_FD", s, 1);
	setenv("PMI_RANK", "0", 1);
	setenv("PMI_SIZE", "2", 1);
	open_fails("udp", EIO, "pmi1 bootstrap");
}
