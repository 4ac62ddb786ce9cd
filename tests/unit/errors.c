// SPDX-License-Identifier: MIT
/* clcp_strerror and clcp_errmsg: every error has text, the detail is per thread. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <clcp/clcp.h>

#include "testutil.h"

/* Every errno the contract documents (docs and clcp.h). */
static const int documented[] = {
	EINVAL, EBADF,	 ENOTCONN,  EMSGSIZE,	EFAULT,	      EADDRINUSE,
	EBUSY,	EAGAIN,	 ETIMEDOUT, ECONNRESET, ECONNREFUSED, ENOENT,
	ENOSPC, ENOBUFS, ENOSYS,    ENOMEM,	EIO,	      EHOSTUNREACH,
	EADDRNOTAVAIL, EAFNOSUPPORT, ENODATA,
};

#define NDOC (sizeof(documented) / sizeof(documented[0]))

static void check_text(int err)
{
	const char *s = clcp_strerror(err);

	cr_assert_not_null(s, "clcp_strerror(%d) is NULL", err);
	cr_assert_gt(strlen(s), 0u, "clcp_strerror(%d) is empty", err);
}

Test(errors, every_documented_error_has_text)
{
	for (unsigned i = 0; i < NDOC; i++)
		check_text(-documented[i]);
}

Test(errors, documented_errors_are_told_apart)
{
	for (unsigned i = 0; i < NDOC; i++)
		for (unsigned j = i + 1; j < NDOC; j++) {
			if (documented[i] == documented[j])
				continue; /* EAGAIN == EWOULDBLOCK style aliases */
			cr_assert_str_neq(clcp_strerror(-documented[i]),
					  clcp_strerror(-documented[j]),
					  "errors %d and %d share a text", documented[i],
					  documented[j]);
		}
}

Test(errors, unknown_codes_have_text)
{
	static const int odd[] = { -99999, -4096, 12345, 1, INT32_MIN, INT32_MAX };

	for (unsigned i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		check_text(odd[i]);
}

Test(errors, success_has_text)
{
	check_text(0);
}

static void *errmsg_in_thread(void *arg)
{
	(void)arg;
	return (void *)clcp_errmsg();
}

Test(errors, errmsg_explains_the_last_failure, .fini = tu_shm_teardown)
{
	clcp_dev_t *dev = NULL;
	const char *msg;

	tu_shm_setup();
	cr_assert_eq(clcp_open("nosuch", &dev), -ENOENT);
	msg = clcp_errmsg();
	cr_assert_not_null(msg);
	cr_assert_gt(strlen(msg), 0u, "no detail after a failed clcp_open");
}

Test(errors, errmsg_is_per_thread, .fini = tu_shm_teardown)
{
	clcp_dev_t *dev = NULL;
	pthread_t t;
	void *res;

	tu_shm_setup();
	cr_assert_eq(clcp_open("nosuch", &dev), -ENOENT);
	cr_assert_eq(pthread_create(&t, NULL, errmsg_in_thread, NULL), 0);
	cr_assert_eq(pthread_join(t, &res), 0);
	cr_assert_not_null(res, "clcp_errmsg() is NULL in a fresh thread");
	cr_assert_str_eq((const char *)res, "", "a fresh thread sees another thread's failure");
	cr_assert_gt(strlen(clcp_errmsg()), 0u);
}

Test(errors, errmsg_before_any_failure_is_empty)
{
	const char *msg = clcp_errmsg();

	cr_assert_not_null(msg);
	cr_assert_str_eq(msg, "");
}
