// SPDX-License-Identifier: MIT
/* clcp_backend_info: the explicit list of compiled-in backends. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include <clcp/clcp.h>

#define MAX_BACKENDS 64

static unsigned count_backends(void)
{
	struct clcp_backend_desc info;
	unsigned n = 0;

	while (n < MAX_BACKENDS && clcp_backend_info(n, &info) == 0)
		n++;
	cr_assert_lt(n, MAX_BACKENDS, "the list never ends");
	return n;
}

Test(backend_info, list_is_well_formed)
{
	const char *names[MAX_BACKENDS];
	unsigned n = count_backends();

	cr_assert_gt(n, 0u, "no backend compiled in");
	for (unsigned i = 0; i < n; i++) {
		struct clcp_backend_desc info;

		cr_assert_eq(clcp_backend_info(i, &info), 0);
		cr_assert_not_null(info.name, "backend %u", i);
		cr_assert_gt(strlen(info.name), 0u, "backend %u", i);
		cr_assert_not_null(info.uri_help, "%s", info.name);
		cr_assert_gt(strlen(info.uri_help), 0u, "%s", info.name);
		cr_assert_geq(info.max_endpts, 1u, "%s", info.name);
		cr_assert_geq(info.mtu_max, CLCP_MTU_MIN, "%s", info.name);
		cr_assert_leq(info.mtu_max, CLCP_MTU_MAX, "%s", info.name);
		cr_assert(info.mtu_default >= CLCP_MTU_MIN && info.mtu_default <= info.mtu_max,
			  "%s: mtu_default %u", info.name, info.mtu_default);
		names[i] = info.name;
		for (unsigned j = 0; j < i; j++)
			cr_assert_str_neq(names[j], info.name, "backend listed twice");
	}
}

Test(backend_info, loopback_is_listed)
{
	unsigned n = count_backends();

	for (unsigned i = 0; i < n; i++) {
		struct clcp_backend_desc info;

		cr_assert_eq(clcp_backend_info(i, &info), 0);
		if (strcmp(info.name, "loopback") != 0)
			continue;
		cr_assert_eq(info.max_endpts, 16u);
		cr_assert(info.caps & CLCP_CAP_INTERRUPT, "loopback wakes its endpoint fd");
		cr_assert_geq(info.mtu_max, CLCP_MTU_DEFAULT);
		return;
	}
	cr_assert_fail("loopback missing from clcp_backend_info");
}

Test(backend_info, past_the_end_is_enoent)
{
	struct clcp_backend_desc info, before;
	unsigned n = count_backends();

	memset(&info, 0x77, sizeof(info));
	before = info;
	cr_assert_eq(clcp_backend_info(n, &info), -ENOENT);
	cr_assert_eq(clcp_backend_info(n + 1000, &info), -ENOENT);
	cr_assert_eq(clcp_backend_info(UINT32_MAX, &info), -ENOENT);
	cr_assert_eq(memcmp(&info, &before, sizeof(info)), 0, "output written on failure");
}

Test(backend_info, null_output)
{
	cr_assert_eq(clcp_backend_info(0, NULL), -EINVAL);
}
