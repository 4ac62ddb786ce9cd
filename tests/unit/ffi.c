// SPDX-License-Identifier: MIT
/*
 * FFI users (Python ctypes, Rust, ...) cannot call static inlines: the
 * shared library must export every inline fast path as a real symbol.
 * This program does not link libclcp; it dlopen()s the built library.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>

#include <clcp/clcp.h>

#include "testutil.h"

#ifndef CLCP_SHARED_PATH
#error "CLCP_SHARED_PATH names the built shared library"
#endif

static void *lib;

static void ffi_setup(void)
{
	lib = dlopen(CLCP_SHARED_PATH, RTLD_NOW | RTLD_LOCAL);
	cr_assert_not_null(lib, "dlopen %s: %s", CLCP_SHARED_PATH, dlerror());
}

static void ffi_teardown(void)
{
	tu_shm_teardown();
}

TestSuite(ffi, .init = ffi_setup, .fini = ffi_teardown, .timeout = 60);

static void *sym(const char *name)
{
	void *p = dlsym(lib, name);

	cr_assert_not_null(p, "%s not exported: %s", name, dlerror());
	return p;
}

/* A symbol's address, typed like the header's declaration of it. */
#define SYM(name) ((__typeof__(&name))sym(#name))

Test(ffi, inline_fast_paths_are_exported)
{
	static const char *const inlines[] = {
		"clcp_sar_nframes", "clcp_sar_frame_len", "clcp_sar_flags",   "clcp_txq_reserve",
		"clcp_txq_buf",	    "clcp_txq_post",	  "clcp_rxq_peek",    "clcp_rxq_data",
		"clcp_rxq_consume", "clcp_rxq_post",	  "clcp_poll_tx_msg", "clcp_poll_rx_msg",
	};

	for (unsigned i = 0; i < sizeof(inlines) / sizeof(inlines[0]); i++)
		sym(inlines[i]);
}

Test(ffi, table2_calls_are_exported)
{
	static const char *const calls[] = {
		"clcp_open",	       "clcp_alloc_endpt",    "clcp_alloc_chan",
		"clcp_close",	       "clcp_release_endpt",  "clcp_release_chan",
		"clcp_send_frame",     "clcp_rcv_frame",      "clcp_snd_message",
		"clcp_rcv_message",    "clcp_release_frames", "clcp_peek_message",
		"clcp_endpt_fd",       "clcp_endpt_arm",      "clcp_endpt_attr_init",
		"clcp_endpt_attr_get", "clcp_strerror",	      "clcp_errmsg",
		"clcp_backend_info",   "clcp_dev_node",	      "clcp_dev_backend",
		"clcp_chan_port",
	};

	for (unsigned i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		sym(calls[i]);
}

Test(ffi, internals_stay_hidden)
{
	/* -fvisibility=hidden: backend tables are not part of the ABI. */
	cr_assert_null(dlsym(lib, "clcp_loopback_ops"));
	cr_assert_null(dlsym(lib, "clcp__backends"));
}

Test(ffi, sar_through_pointers)
{
	__typeof__(&clcp_sar_nframes) nframes = SYM(clcp_sar_nframes);
	__typeof__(&clcp_sar_frame_len) frame_len = SYM(clcp_sar_frame_len);
	__typeof__(&clcp_sar_flags) flags = SYM(clcp_sar_flags);

	cr_assert_eq(nframes(0, 4096), 1u);
	cr_assert_eq(nframes(4096, 4096), 1u);
	cr_assert_eq(nframes(4097, 4096), 2u);
	cr_assert_eq(nframes(64ull * 4096 + 7, 4096), 65u);
	cr_assert_eq(nframes(4u << 20, 256), 16384u);
	cr_assert_eq(frame_len(4097, 4096, 1), 1u);
	cr_assert_eq(flags(0, 1), CLCP_QF_FIRST | CLCP_QF_LAST);
	cr_assert_eq(flags(1, 3), 0);
}

/* Two endpoints of one process talk through the exported poll calls. */
Test(ffi, message_through_pointers)
{
	__typeof__(&clcp_open) open_dev = SYM(clcp_open);
	__typeof__(&clcp_alloc_endpt) alloc_endpt = SYM(clcp_alloc_endpt);
	__typeof__(&clcp_alloc_chan) alloc_chan = SYM(clcp_alloc_chan);
	__typeof__(&clcp_poll_tx_msg) tx = SYM(clcp_poll_tx_msg);
	__typeof__(&clcp_poll_rx_msg) rx = SYM(clcp_poll_rx_msg);
	__typeof__(&clcp_txq_reserve) reserve = SYM(clcp_txq_reserve);
	__typeof__(&clcp_close) close_dev = SYM(clcp_close);
	clcp_endpt_t *a, *b;
	clcp_dev_t *dev;
	char out[100], in[100];
	uint32_t node = tu_private_node();
	int ca, cb, c = CLCP_ANY;
	char uri[64];

	cr_assert_not_null(tu_shm_setup());
	snprintf(uri, sizeof(uri), "loopback://%u", node);
	cr_assert_eq(open_dev(uri, &dev), 0);
	cr_assert_eq(alloc_endpt(dev, NULL, &a), 0);
	cr_assert_eq(alloc_endpt(dev, NULL, &b), 0);
	ca = alloc_chan(a, 10, node, 20);
	cb = alloc_chan(b, 20, node, 10);
	cr_assert_geq(ca, 0);
	cr_assert_geq(cb, 0);
	cr_assert_not_null(reserve(a), "fresh endpoint has a free Tx entry");
	tu_fill(out, sizeof(out), 42);
	cr_assert_eq(tx(a, ca, out, sizeof(out), 0), (ssize_t)sizeof(out));
	cr_assert_eq(rx(b, &c, in, sizeof(in), 0), (ssize_t)sizeof(in));
	cr_assert_eq(c, cb);
	cr_assert_eq(tu_check(in, sizeof(in), 42), -1);
	cr_assert_eq(close_dev(dev), 0);
}
