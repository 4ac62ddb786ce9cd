/* SPDX-License-Identifier: MIT */
/*
 * clcp_info: what this build of CLCP offers. Lists the compiled-in
 * backends, the defaults and limits, the environment variables the library
 * reads and, with --open URI, opens a backend and shows the node id and the
 * attributes of an endpoint allocated with the defaults.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clcp/clcp.h>

#define PROG "clcp_info"

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " [--open URI]\n"
		   "  --open URI  open a backend (\"\" = $CLCP_BACKEND or "
		   "loopback) and\n"
		   "              show an endpoint allocated with the "
		   "defaults\n");
}

static void fail_clcp(const char *call, int err)
{
	const char *detail = clcp_errmsg();

	fprintf(stderr, PROG ": %s: %s%s%s%s\n", call, clcp_strerror(err), *detail ? " (" : "",
		detail, *detail ? ")" : "");
	exit(1);
}

static void print_caps(uint32_t caps)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{ CLCP_CAP_INTERRUPT, "interrupt" },
		{ CLCP_CAP_MULTINODE, "multinode" },
		{ CLCP_CAP_KERNEL_BYPASS, "kernel-bypass" },
		{ CLCP_CAP_SHARED_NODE, "shared-node" },
	};
	const char *sep = "";

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (caps & names[i].bit) {
			printf("%s%s", sep, names[i].name);
			sep = ", ";
			caps &= ~names[i].bit;
		}
	if (caps)
		printf("%s0x%x", sep, caps);
	else if (!*sep)
		printf("none");
	printf("\n");
}

static void print_backends(void)
{
	struct clcp_backend_desc info;
	unsigned i;
	int rc;

	printf("backends compiled in:\n");
	for (i = 0; (rc = clcp_backend_info(i, &info)) == 0; i++) {
		printf("  %s\n", info.name);
		printf("    uri:        %s\n", info.uri_help);
		printf("    caps:       ");
		print_caps(info.caps);
		printf("    endpoints:  %u per node (default)\n", info.max_endpts);
		printf("    mtu max:    %u\n", info.mtu_max);
		printf("    mtu default: %u\n", info.mtu_default);
	}
	if (rc != -ENOENT)
		fail_clcp("clcp_backend_info", rc);
	if (i == 0)
		printf("  (none)\n");
}

static void print_attr(const char *indent, const struct clcp_endpt_attr *a)
{
	printf("%s%-14s %u%s\n", indent, "mtu", a->mtu,
	       a->mtu == CLCP_MTU_AUTO ? " (CLCP_MTU_AUTO: the device's default)" : "");
	printf("%s%-14s %u\n", indent, "txq_len", a->txq_len);
	printf("%s%-14s %u\n", indent, "rxq_len", a->rxq_len);
	printf("%s%-14s %u\n", indent, "nchan", a->nchan);
	printf("%s%-14s %d%s\n", indent, "timeout_ms", a->timeout_ms,
	       a->timeout_ms < 0 ? " (wait forever)" : "");
	printf("%s%-14s %d\n", indent, "peer_check_ms", a->peer_check_ms);
	printf("%s%-14s %d\n", indent, "connect_ms", a->connect_ms);
	printf("%s%-14s %d%s\n", indent, "spin_us", a->spin_us,
	       a->spin_us == CLCP_SPIN_ADAPTIVE ? " (adaptive)" : "");
	printf("%s%-14s %d\n", indent, "spin_max_us", a->spin_max_us);
}

static void print_limits(void)
{
	struct clcp_endpt_attr attr;

	printf("library %d.%d.%d, endpoint ABI %u\n", CLCP_VERSION_MAJOR, CLCP_VERSION_MINOR,
	       CLCP_VERSION_PATCH, CLCP_ABI_VERSION);
	printf("limits:\n");
	printf("  %-14s %u..%u (default: the device's, see each backend)\n", "mtu", CLCP_MTU_MIN,
	       CLCP_MTU_MAX);
	printf("  %-14s power of two, 2..%u (default %u)\n", "queue length", CLCP_QLEN_MAX,
	       CLCP_QLEN_DEFAULT);
	printf("  %-14s 1..%u per endpoint (default %u)\n", "channels", CLCP_NCHAN_MAX,
	       CLCP_NCHAN_DEFAULT);
	printf("  %-14s up to %u bytes (CLCP_MSG_MAX)\n", "message", CLCP_MSG_MAX);
	printf("  %-14s 1..65535 per node (%u = pick a free one)\n", "ports", CLCP_PORT_ANY);
	clcp_endpt_attr_init(&attr);
	printf("endpoint defaults (clcp_endpt_attr_init):\n");
	print_attr("  ", &attr);
}

static void print_env(void)
{
	static const struct {
		const char *name, *use;
	} vars[] = {
		{ "CLCP_BACKEND", "backend URI when clcp_open gets NULL "
				  "(default loopback)" },
		{ "CLCP_NODE", "node id when the URI names none (default 0)" },
		{ "CLCP_SHM_DIR", "loopback shared memory directory "
				  "(default /dev/shm)" },
		{ "CLCP_TEST_BACKENDS", "backends the conformance tests run "
					"on (default all)" },
	};

	printf("environment:\n");
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
		const char *v = getenv(vars[i].name);

		printf("  %-18s %s\n  %-18s   %s\n", vars[i].name, v ? v : "(unset)", "",
		       vars[i].use);
	}
}

static void show_endpoint(clcp_dev_t *dev)
{
	struct clcp_endpt_attr attr;
	clcp_endpt_t *ep;
	int rc;

	if ((rc = clcp_alloc_endpt(dev, NULL, &ep)) < 0)
		fail_clcp("clcp_alloc_endpt", rc);
	if ((rc = clcp_endpt_attr_get(ep, &attr)) < 0)
		fail_clcp("clcp_endpt_attr_get", rc);
	printf("  %-14s %d\n", "endpoint fd", clcp_endpt_fd(ep));
	print_attr("  ", &attr);
	if ((rc = clcp_release_endpt(ep)) < 0)
		fail_clcp("clcp_release_endpt", rc);
}

static void open_backend(const char *uri)
{
	clcp_dev_t *dev;
	int rc;

	if ((rc = clcp_open(*uri ? uri : NULL, &dev)) < 0)
		fail_clcp("clcp_open", rc);
	printf("opened %s:\n", *uri ? uri : "(default)");
	printf("  %-14s %s\n", "backend", clcp_dev_backend(dev));
	printf("  %-14s %u\n", "node", clcp_dev_node(dev));
	show_endpoint(dev);
	if ((rc = clcp_close(dev)) < 0)
		fail_clcp("clcp_close", rc);
}

int main(int argc, char **argv)
{
	const char *uri = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--open") == 0 && i + 1 < argc) {
			uri = argv[++i];
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	print_backends();
	print_limits();
	print_env();
	if (uri)
		open_backend(uri);
	return 0;
}
