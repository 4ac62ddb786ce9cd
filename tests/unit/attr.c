// SPDX-License-Identifier: MIT
/* Endpoint attributes: defaults, accepted limits, and every bad value. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include <clcp/clcp.h>

#include "testutil.h"

static clcp_dev_t *dev;

static void attr_setup(void)
{
	char uri[64];

	cr_assert_not_null(tu_shm_setup());
	snprintf(uri, sizeof(uri), "loopback://%u", tu_private_node());
	cr_assert_eq(clcp_open(uri, &dev), 0);
}

static void attr_teardown(void)
{
	if (dev != NULL)
		clcp_close(dev);
	tu_shm_teardown();
}

TestSuite(attr, .init = attr_setup, .fini = attr_teardown, .timeout = 60);

/* Allocating with attr fails with -EINVAL and leaves *epp alone. */
static void expect_einval(const struct clcp_endpt_attr *attr, const char *what)
{
	clcp_endpt_t *sentinel = (clcp_endpt_t *)(uintptr_t)0x1234;
	clcp_endpt_t *ep = sentinel;
	int rc = clcp_alloc_endpt(dev, attr, &ep);

	cr_assert_eq(rc, -EINVAL, "%s: got %d (%s), want -EINVAL", what, rc, clcp_strerror(rc));
	cr_assert_eq(ep, sentinel, "%s: *epp written on failure", what);
}

/* Allocating with attr succeeds and the endpoint reports the same values. */
static void expect_ok(const struct clcp_endpt_attr *attr, const char *what)
{
	struct clcp_endpt_attr got;
	clcp_endpt_t *ep = NULL;
	int rc = clcp_alloc_endpt(dev, attr, &ep);

	cr_assert_eq(rc, 0, "%s: got %d (%s)", what, rc, clcp_strerror(rc));
	cr_assert_not_null(ep);
	cr_assert_eq(clcp_endpt_attr_get(ep, &got), 0);
	cr_assert_eq(got.mtu, attr->mtu == CLCP_MTU_AUTO ? CLCP_MTU_DEFAULT : attr->mtu, "%s: mtu",
		     what);
	cr_assert_eq(got.txq_len, attr->txq_len, "%s: txq_len", what);
	cr_assert_eq(got.rxq_len, attr->rxq_len, "%s: rxq_len", what);
	cr_assert_eq(got.nchan, attr->nchan, "%s: nchan", what);
	cr_assert_eq(got.timeout_ms, attr->timeout_ms, "%s: timeout_ms", what);
	cr_assert_eq(got.peer_check_ms, attr->peer_check_ms, "%s", what);
	cr_assert_eq(got.connect_ms, attr->connect_ms, "%s", what);
	cr_assert_eq(got.spin_us, attr->spin_us, "%s", what);
	cr_assert_eq(got.spin_max_us, attr->spin_max_us, "%s", what);
	cr_assert_eq(clcp_release_endpt(ep), 0);
}

Test(attr, init_gives_the_documented_defaults)
{
	struct clcp_endpt_attr a;

	memset(&a, 0xa5, sizeof(a));
	clcp_endpt_attr_init(&a);
	cr_assert_eq(a.mtu, CLCP_MTU_AUTO, "the device picks the frame size");
	cr_assert_eq(a.txq_len, CLCP_QLEN_DEFAULT);
	cr_assert_eq(a.rxq_len, CLCP_QLEN_DEFAULT);
	cr_assert_eq(a.nchan, CLCP_NCHAN_DEFAULT);
	cr_assert_eq(a.timeout_ms, -1);
	cr_assert_eq(a.peer_check_ms, 100);
	cr_assert_eq(a.connect_ms, 10000);
	cr_assert_eq(a.spin_us, 0, "the interrupt group blocks at once");
	cr_assert_eq(a.spin_max_us, 1000);
}

Test(attr, null_attr_means_defaults)
{
	struct clcp_endpt_attr def, got;
	clcp_endpt_t *ep = NULL;

	cr_assert_eq(clcp_dev_attr_init(dev, &def), 0);
	cr_assert_eq(def.mtu, CLCP_MTU_DEFAULT, "loopback's default frame");
	cr_assert_eq(clcp_alloc_endpt(dev, NULL, &ep), 0);
	cr_assert_eq(clcp_endpt_attr_get(ep, &got), 0);
	cr_assert_eq(memcmp(&def, &got, sizeof(def)), 0);
	cr_assert_eq(clcp_release_endpt(ep), 0);
}

Test(attr, defaults_are_accepted)
{
	struct clcp_endpt_attr a;

	cr_assert_eq(clcp_dev_attr_init(dev, &a), 0);
	expect_ok(&a, "defaults");
}

Test(attr, auto_mtu_is_the_devices)
{
	struct clcp_endpt_attr a, got;
	clcp_endpt_t *ep = NULL;

	clcp_endpt_attr_init(&a);
	cr_assert_eq(clcp_alloc_endpt(dev, &a, &ep), 0);
	cr_assert_eq(clcp_endpt_attr_get(ep, &got), 0);
	cr_assert_eq(got.mtu, CLCP_MTU_DEFAULT);
	cr_assert_eq(clcp_release_endpt(ep), 0);
	cr_assert_eq(clcp_dev_attr_init(NULL, &a), -EINVAL);
	cr_assert_eq(clcp_dev_attr_init(dev, NULL), -EINVAL);
}

Test(attr, limits_are_accepted)
{
	struct clcp_endpt_attr a;

	clcp_endpt_attr_init(&a);
	a.mtu = CLCP_MTU_MIN;
	a.txq_len = 2;
	a.rxq_len = 2;
	a.nchan = 1;
	a.timeout_ms = 0;
	a.peer_check_ms = 1;
	a.connect_ms = 0;
	a.spin_us = CLCP_SPIN_ADAPTIVE;
	a.spin_max_us = 1;
	expect_ok(&a, "lower limits");
	clcp_endpt_attr_init(&a);
	a.mtu = CLCP_MTU_MAX;
	a.txq_len = 16;
	a.rxq_len = 16;
	a.nchan = CLCP_NCHAN_MAX;
	a.spin_us = CLCP_SPIN_MAX_US;
	a.spin_max_us = CLCP_SPIN_MAX_US;
	expect_ok(&a, "mtu, nchan and spin upper limits");
	clcp_endpt_attr_init(&a);
	a.mtu = CLCP_MTU_MIN;
	a.txq_len = CLCP_QLEN_MAX;
	a.rxq_len = CLCP_QLEN_MAX;
	expect_ok(&a, "queue upper limits");
}

Test(attr, bad_mtu)
{
	static const uint32_t bad[] = { 1, CLCP_MTU_MIN - 1, CLCP_MTU_MAX + 1, UINT32_MAX };
	struct clcp_endpt_attr a;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char what[32];

		clcp_endpt_attr_init(&a);
		a.mtu = bad[i];
		snprintf(what, sizeof(what), "mtu %u", bad[i]);
		expect_einval(&a, what);
	}
}

static const uint32_t bad_qlen[] = { 0,		1, 3, 6, 100, CLCP_QLEN_MAX + 1, CLCP_QLEN_MAX * 2,
				     UINT32_MAX };

Test(attr, bad_txq_len)
{
	struct clcp_endpt_attr a;

	for (unsigned i = 0; i < sizeof(bad_qlen) / sizeof(bad_qlen[0]); i++) {
		char what[32];

		clcp_endpt_attr_init(&a);
		a.txq_len = bad_qlen[i];
		snprintf(what, sizeof(what), "txq_len %u", bad_qlen[i]);
		expect_einval(&a, what);
	}
}

Test(attr, bad_rxq_len)
{
	struct clcp_endpt_attr a;

	for (unsigned i = 0; i < sizeof(bad_qlen) / sizeof(bad_qlen[0]); i++) {
		char what[32];

		clcp_endpt_attr_init(&a);
		a.rxq_len = bad_qlen[i];
		snprintf(what, sizeof(what), "rxq_len %u", bad_qlen[i]);
		expect_einval(&a, what);
	}
}

Test(attr, bad_nchan)
{
	static const uint32_t bad[] = { 0, CLCP_NCHAN_MAX + 1, UINT32_MAX };
	struct clcp_endpt_attr a;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char what[32];

		clcp_endpt_attr_init(&a);
		a.nchan = bad[i];
		snprintf(what, sizeof(what), "nchan %u", bad[i]);
		expect_einval(&a, what);
	}
}

Test(attr, bad_times)
{
	struct clcp_endpt_attr a;

	clcp_endpt_attr_init(&a);
	a.timeout_ms = -2;
	expect_einval(&a, "timeout_ms -2");
	clcp_endpt_attr_init(&a);
	a.timeout_ms = INT32_MIN;
	expect_einval(&a, "timeout_ms INT32_MIN");
	clcp_endpt_attr_init(&a);
	a.peer_check_ms = 0;
	expect_einval(&a, "peer_check_ms 0");
	clcp_endpt_attr_init(&a);
	a.peer_check_ms = -1;
	expect_einval(&a, "peer_check_ms -1");
	clcp_endpt_attr_init(&a);
	a.connect_ms = -1;
	expect_einval(&a, "connect_ms -1");
}

Test(attr, bad_pointers)
{
	struct clcp_endpt_attr a;
	clcp_endpt_t *ep = NULL;

	clcp_endpt_attr_init(&a);
	cr_assert_eq(clcp_alloc_endpt(NULL, &a, &ep), -EINVAL);
	cr_assert_eq(clcp_alloc_endpt(dev, &a, NULL), -EINVAL);
	cr_assert_eq(clcp_alloc_endpt(dev, NULL, NULL), -EINVAL);
	cr_assert_eq(clcp_alloc_endpt(dev, &a, &ep), 0);
	cr_assert_eq(clcp_endpt_attr_get(ep, NULL), -EINVAL);
	cr_assert_eq(clcp_endpt_attr_get(NULL, &a), -EINVAL);
	cr_assert_eq(clcp_release_endpt(ep), 0);
}

Test(attr, attr_get_on_released_endpoint)
{
	struct clcp_endpt_attr a, before;
	clcp_endpt_t *ep = NULL;

	cr_assert_eq(clcp_alloc_endpt(dev, NULL, &ep), 0);
	cr_assert_eq(clcp_release_endpt(ep), 0);
	memset(&a, 0x5a, sizeof(a));
	before = a;
	cr_assert_eq(clcp_endpt_attr_get(ep, &a), -EBADF);
	cr_assert_eq(memcmp(&a, &before, sizeof(a)), 0, "output written on failure");
}
