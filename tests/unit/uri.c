// SPDX-License-Identifier: MIT
/* Backend URIs through clcp_open: names, node ids, options, environment. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#include <clcp/clcp.h>

#include "testutil.h"

static void uri_setup(void)
{
	unsetenv("CLCP_BACKEND");
	unsetenv("CLCP_NODE");
	cr_assert_not_null(tu_shm_setup());
}

TestSuite(uri, .init = uri_setup, .fini = tu_shm_teardown, .timeout = 60);

/* Opens uri, checks the backend name and node id, closes. */
static void expect_open(const char *uri, const char *backend, uint32_t node)
{
	clcp_dev_t *dev = NULL;
	int rc = clcp_open(uri, &dev);

	cr_assert_eq(rc, 0, "clcp_open(\"%s\"): %d (%s)", uri ? uri : "NULL", rc,
		     clcp_strerror(rc));
	cr_assert_not_null(dev);
	cr_assert_str_eq(clcp_dev_backend(dev), backend, "uri %s", uri ? uri : "NULL");
	cr_assert_eq(clcp_dev_node(dev), node, "uri %s: node %u, want %u", uri ? uri : "NULL",
		     clcp_dev_node(dev), node);
	cr_assert_eq(clcp_close(dev), 0);
}

/* clcp_open fails with err and leaves *devp alone. */
static void expect_fail(const char *uri, int err)
{
	clcp_dev_t *sentinel = (clcp_dev_t *)(uintptr_t)0x4321;
	clcp_dev_t *dev = sentinel;
	int rc = clcp_open(uri, &dev);

	if (rc == 0 && dev != sentinel)
		clcp_close(dev);
	cr_assert_eq(rc, err, "clcp_open(\"%s\"): got %d (%s), want %d (%s)", uri ? uri : "NULL",
		     rc, clcp_strerror(rc), err, clcp_strerror(err));
	cr_assert_eq(dev, sentinel, "uri %s: *devp written on failure", uri ? uri : "NULL");
}

Test(uri, null_means_loopback_node_0)
{
	expect_open(NULL, "loopback", 0);
}

Test(uri, plain_name)
{
	expect_open("loopback", "loopback", 0);
}

Test(uri, node_in_uri)
{
	expect_open("loopback://3", "loopback", 3);
	expect_open("loopback://0", "loopback", 0);
	expect_open("loopback://65536", "loopback", 65536);
}

Test(uri, unknown_backend_is_enoent)
{
	expect_fail("nosuch", -ENOENT);
	expect_fail("nosuch://1", -ENOENT);
	expect_fail("loopbackx", -ENOENT);
}

Test(uri, malformed_is_einval)
{
	static const char *const bad[] = {
		"loopback://abc",
		"loopback://3x",
		"loopback://-1",
		"loopback://99999999999999999999",
		"loopback://3?max_endpts=abc",
		"loopback://3?max_endpts=0",
		"loopback://3?max_endpts=",
		"loopback://3?nosuchopt=1",
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_fail(bad[i], -EINVAL);
}

Test(uri, null_out_pointer)
{
	cr_assert_eq(clcp_open("loopback", NULL), -EINVAL);
	cr_assert_eq(clcp_close(NULL), -EINVAL);
}

Test(uri, backend_from_environment)
{
	setenv("CLCP_BACKEND", "loopback://5", 1);
	expect_open(NULL, "loopback", 5);
	/* An explicit URI wins over the environment. */
	expect_open("loopback://6", "loopback", 6);
}

Test(uri, unknown_backend_from_environment)
{
	setenv("CLCP_BACKEND", "nosuch", 1);
	expect_fail(NULL, -ENOENT);
}

Test(uri, node_from_environment)
{
	setenv("CLCP_NODE", "7", 1);
	expect_open("loopback", "loopback", 7);
	expect_open(NULL, "loopback", 7);
	/* The URI's node wins over CLCP_NODE. */
	expect_open("loopback://3", "loopback", 3);
}

Test(uri, max_endpts_option)
{
	clcp_endpt_t *ep[5];
	clcp_dev_t *dev = NULL;
	char uri[64];

	snprintf(uri, sizeof(uri), "loopback://%u?max_endpts=4", tu_private_node());
	cr_assert_eq(clcp_open(uri, &dev), 0);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(clcp_alloc_endpt(dev, NULL, &ep[i]), 0, "endpoint %d", i);
	cr_assert_eq(clcp_alloc_endpt(dev, NULL, &ep[4]), -EBUSY);
	cr_assert_eq(clcp_release_endpt(ep[0]), 0);
	cr_assert_eq(clcp_alloc_endpt(dev, NULL, &ep[0]), 0);
	cr_assert_eq(clcp_close(dev), 0);
}

Test(uri, several_devices_in_one_process)
{
	clcp_dev_t *a = NULL, *b = NULL;

	cr_assert_eq(clcp_open("loopback://1", &a), 0);
	cr_assert_eq(clcp_open("loopback://2", &b), 0);
	cr_assert_eq(clcp_dev_node(a), 1u);
	cr_assert_eq(clcp_dev_node(b), 2u);
	cr_assert_eq(clcp_close(a), 0);
	cr_assert_eq(clcp_close(b), 0);
}
