// SPDX-License-Identifier: MIT
/*
 * The udp bootstrap's choice of node table (docs/cluster.md): CLCP_BOOTSTRAP,
 * a PMIx server's environment, and the explicit tables that win over it.
 * The exchange itself runs under mpirun (tests/cluster/mpirun.sh).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <clcp/clcp.h>

#include "testutil.h"

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

/* A UDP port free on 127.0.0.1 now (the kernel's pick); sock: -1, or kept bound there. */
static unsigned free_port(int *sock)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	if (sock)
		*sock = fd;
	else
		close(fd);
	return ntohs(a.sin_port);
}

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

/* What a PMIx server puts in its clients' environment, with no server behind it. */
static void pmix_env_without_server(void)
{
	setenv("PMIX_RANK", "0", 1);
	setenv("PMIX_NAMESPACE", "nowhere", 1);
}

Test(udp_boot, node_id_and_bootstrap_conflict)
{
	setenv("CLCP_BOOTSTRAP", "pmix", 1);
	open_fails("udp://3", EINVAL, "base_node + rank");
	clean_env();
	setenv("CLCP_NODE", "3", 1);
	pmix_env_without_server();
	open_fails("udp", EINVAL, "base_node + rank");
}

/* The PMIx bootstrap runs and fails at once (no server, or no PMIx in the build), no hang. */
static void pmix_open_fails(void)
{
	clcp_dev_t *dev = NULL;
	int rc = clcp_open("udp", &dev);

	cr_assert(rc == -EIO || rc == -ENOSYS, "clcp_open = %d (%s), want -EIO or -ENOSYS", rc,
		  clcp_errmsg());
	cr_assert(strstr(clcp_errmsg(), "pmix"), "detail \"%s\" does not say pmix", clcp_errmsg());
}

/* Asked for, but no server: PMIx_Init fails at once (or the build has no PMIx). */
Test(udp_boot, pmix_without_a_server_fails_fast)
{
	setenv("CLCP_BOOTSTRAP", "pmix", 1);
	pmix_open_fails();
}

/* Under a PMIx server's environment, CLCP_NODES still wins: it was given on purpose. */
Test(udp_boot, explicit_table_wins_over_pmix_environment)
{
	unsigned port = free_port(NULL);
	clcp_dev_t *dev = NULL;
	char nodes[64];
	int rc;

	snprintf(nodes, sizeof(nodes), "4=127.0.0.1:%u", port);
	setenv("CLCP_NODES", nodes, 1);
	pmix_env_without_server();
	rc = clcp_open("udp", &dev);
	cr_assert_eq(rc, 0, "clcp_open = %d (%s)", rc, clcp_errmsg());
	cr_assert_eq(clcp_dev_node(dev), 4u);
	clcp_close(dev);
}

Test(udp_boot, bootstrap_none_ignores_pmix_environment)
{
	setenv("CLCP_BOOTSTRAP", "none", 1);
	pmix_env_without_server();
	open_fails("udp", EINVAL, "no node table");
}

/* A PMIx environment without a server behind it: the bootstrap runs and fails, no hang. */
Test(udp_boot, pmix_environment_is_detected)
{
	pmix_env_without_server();
	pmix_open_fails();
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

/*
 * A PMI-1 server in a thread, on one end of a socket pair: enough of the
 * protocol for the bootstrap to get past init, to the node's address and
 * port (put, barrier and get answered as a job of one).
 */
static unsigned job_port; /* the address get answers: 127.0.0.1:job_port */

static void *pmi1_serve(void *arg)
{
	int fd = *(int *)arg;
	char line[512], out[600];
	size_t n = 0;

	while (n < sizeof(line) - 1 && read(fd, line + n, 1) == 1) {
		if (line[n] != '\n') {
			n++;
			continue;
		}
		line[n] = '\0';
		n = 0;
		if (strstr(line, "cmd=init"))
			snprintf(out, sizeof(out), "cmd=response_to_init rc=0\n");
		else if (strstr(line, "cmd=get_my_kvsname"))
			snprintf(out, sizeof(out), "cmd=my_kvsname kvsname=unit\n");
		else if (strstr(line, "cmd=put"))
			snprintf(out, sizeof(out), "cmd=put_result rc=0\n");
		else if (strstr(line, "cmd=barrier_in"))
			snprintf(out, sizeof(out), "cmd=barrier_out\n");
		else if (strstr(line, "cmd=get"))
			snprintf(out, sizeof(out), "cmd=get_result rc=0 value=127.0.0.1:%u\n",
				 job_port);
		else
			snprintf(out, sizeof(out), "cmd=finalize_ack\n");
		if (write(fd, out, strlen(out)) < 0)
			break;
	}
	return NULL;
}

/* PMI_FD etc. for a job of one served by pmi1_serve, its node at 127.0.0.1:port. */
static void pmi1_job_of_one(unsigned port)
{
	static int sv[2];
	static pthread_t t;
	char s[16];

	job_port = port;
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(pthread_create(&t, NULL, pmi1_serve, &sv[0]), 0);
	snprintf(s, sizeof(s), "%d", sv[1]);
	setenv("PMI_FD", s, 1);
	setenv("PMI_RANK", "0", 1);
	setenv("PMI_SIZE", "1", 1);
}

Test(udp_boot, bad_address_is_einval)
{
	pmi1_job_of_one(1);
	setenv("CLCP_UDP_ADDR", "no-such-interface", 1);
	open_fails("udp", EINVAL, "CLCP_UDP_ADDR=no-such-interface");
}

Test(udp_boot, bad_port_range_is_einval)
{
	pmi1_job_of_one(1);
	setenv("CLCP_UDP_ADDR", "127.0.0.1", 1);
	setenv("CLCP_UDP_PORTS", "7999-7990", 1);
	open_fails("udp", EINVAL, "CLCP_UDP_PORTS=7999-7990");
}

/* Every port of the range held by someone else: -EADDRINUSE, not a wrong node. */
Test(udp_boot, full_port_range_is_eaddrinuse)
{
	int fd;
	unsigned port = free_port(&fd);
	char range[32];

	snprintf(range, sizeof(range), "%u-%u", port, port);
	pmi1_job_of_one(port);
	setenv("CLCP_UDP_ADDR", "127.0.0.1", 1);
	setenv("CLCP_UDP_PORTS", range, 1);
	open_fails("udp", EADDRINUSE, "in CLCP_UDP_PORTS");
	close(fd);
}

/* A job of one: node base_node + 0 on the address and in the range asked for. */
Test(udp_boot, pmi1_job_of_one_opens)
{
	unsigned port = free_port(NULL);
	clcp_dev_t *dev = NULL;
	char range[32];
	int rc;

	snprintf(range, sizeof(range), "%u-%u", port, port);
	pmi1_job_of_one(port);
	setenv("CLCP_UDP_ADDR", "lo", 1);
	setenv("CLCP_UDP_PORTS", range, 1);
	rc = clcp_open("udp://?base_node=5", &dev);
	cr_assert_eq(rc, 0, "clcp_open = %d (%s)", rc, clcp_errmsg());
	cr_assert_eq(clcp_dev_node(dev), 5u, "node %u, want base_node 5 + rank 0",
		     clcp_dev_node(dev));
	clcp_close(dev);
}
