/* SPDX-License-Identifier: MIT */
/*
 * Memory ordering for the endpoint contract, in one place. User space uses
 * the compiler's __atomic builtins on plain ABI fields (so the ABI structs
 * stay plain C for the kernel and the firmware); the kernel maps them onto
 * its own primitives. Every use names its partner in a comment (R1/A1).
 */
#ifndef CLCP_BARRIER_H
#define CLCP_BARRIER_H

#if defined(__KERNEL__)
#include <asm/barrier.h>
#define clcp_load_acquire(p) smp_load_acquire(p)
#define clcp_store_release(p, v) smp_store_release(p, v)
#define clcp_load_relaxed(p) READ_ONCE(*(p))
#define clcp_store_relaxed(p, v) WRITE_ONCE(*(p), v)
#define clcp_fence_full() smp_mb()
#else
#define clcp_load_acquire(p) __atomic_load_n(p, __ATOMIC_ACQUIRE)
#define clcp_store_release(p, v) __atomic_store_n(p, v, __ATOMIC_RELEASE)
#define clcp_load_relaxed(p) __atomic_load_n(p, __ATOMIC_RELAXED)
#define clcp_load_seqcst(p) __atomic_load_n(p, __ATOMIC_SEQ_CST)
#define clcp_store_relaxed(p, v) __atomic_store_n(p, v, __ATOMIC_RELAXED)
#define clcp_fence_full() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define clcp_fetch_add(p, v) __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST)
#define clcp_exchange(p, v) __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST)
#define clcp_cas(p, expp, v)                                                  \
	__atomic_compare_exchange_n(p, expp, v, 0, __ATOMIC_ACQ_REL,         \
				    __ATOMIC_ACQUIRE)
#if defined(__x86_64__) || defined(__i386__)
#define clcp_cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define clcp_cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define clcp_cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif
#endif

#endif /* CLCP_BARRIER_H */
