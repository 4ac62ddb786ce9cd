/* SPDX-License-Identifier: MIT */
/*
 * The inline fast paths of include/clcp/endpt.h, compiled once more as
 * exported functions of the same names, for FFI users (dlsym, ctypes).
 */
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#define CLCP_INLINE __attribute__((visibility("default")))
#include "clcp/clcp.h"
