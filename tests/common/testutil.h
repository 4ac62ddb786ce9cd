/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the unit and conformance tests: data patterns, a
 * private shared-memory directory per test process, child processes with
 * alarm guards, and one-byte tokens between a parent and its children.
 * Nothing here uses Criterion, so helper programs can link it too.
 */
#ifndef CLCP_TESTUTIL_H
#define CLCP_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>

#define TU_CHILD_ALARM_S 40 /* a stuck child dies by SIGALRM */
#define TU_CHILD_WAIT_MS 45000

/* Byte i of the pattern seeded by seed: not periodic in 256. */
static inline uint8_t tu_pat(uint32_t seed, uint64_t i)
{
	return (uint8_t)((i ^ (i >> 8) ^ (i >> 16) ^ (i >> 24)) * 31u + seed * 7u + (seed >> 8));
}

void tu_fill(void *buf, size_t len, uint32_t seed);
/* Checks bytes [off, off + len) of the pattern: -1 if intact, else index. */
ssize_t tu_check_at(const void *buf, size_t len, uint32_t seed, uint64_t off);
static inline ssize_t tu_check(const void *buf, size_t len, uint32_t seed)
{
	return tu_check_at(buf, len, seed, 0);
}

/*
 * A loopback node id no other test process uses at the same time (8 ids
 * from it on are ours): tests running in parallel must not share a node.
 */
uint32_t tu_private_node(void);

uint64_t tu_now_ms(void);
void tu_msleep(unsigned ms);

/*
 * Makes a private directory for the library's shared memory and points
 * CLCP_SHM_DIR at it. Returns its path (static storage) or NULL. Private
 * directories of test processes that died (killed at a timeout) go first.
 */
const char *tu_shm_setup(void);
/* Files named clcp-<uid>-* in dir (-1 if dir cannot be read). */
int tu_shm_count(const char *dir);
/* Names of those files, comma separated, cut to fit buf. */
void tu_shm_list(const char *dir, char *buf, size_t len);
/*
 * Like tu_shm_count, but leaves out the nodes that a live process other
 * than us still uses (an endpoint file clcp-<uid>-n<node>-...-p<pid>-...
 * of a running pid): on a shared host those are not leftovers. *live
 * gets the number of files left out.
 */
int tu_shm_leftovers(const char *dir, int *live);
/* Removes the private directory and whatever is left in it. */
void tu_shm_teardown(void);

/*
 * Forks a child that runs fn(arg) under an alarm guard and _exit()s with
 * its return value (0 = success). *sock gets the parent's end of a
 * socketpair whose other end fn finds in tu_child_sock. Returns the pid.
 */
extern int tu_child_sock;
pid_t tu_fork(int (*fn)(void *arg), void *arg, int *sock);
/* Waits up to ms for pid; kills it when late. 0, or -ETIMEDOUT. */
int tu_wait(pid_t pid, unsigned ms, int *status);
/* Text for a wait status ("exit 0", "signal 9"...), static storage. */
const char *tu_status_str(int status);

/* One-byte tokens over a socket. tu_get returns the byte or -errno. */
int tu_put(int sock, char token);
int tu_get(int sock, unsigned ms);
/* 0 if token arrives within ms, else -EPROTO/-ETIMEDOUT. */
int tu_expect(int sock, char token, unsigned ms);
int tu_put_u64(int sock, uint64_t v);
int tu_get_u64(int sock, unsigned ms, uint64_t *v);
/* 1 if something is readable on fd within ms, 0 if not, -errno. */
int tu_readable(int fd, unsigned ms);

/*
 * The counter `name` among the n that clcp_dev_stats/clcp_endpt_stats
 * returned into st[cap]: 0 and *v, or -1 (an error, too many, no such name).
 */
struct clcp_stat;
int tu_stat_get(const struct clcp_stat *st, int n, int cap, const char *name, uint64_t *v);

/* In a child: report a failed check with its location and fail. */
#define TU_CK(cond, ...)                                                                        \
	do {                                                                                    \
		if (!(cond)) {                                                                  \
			fprintf(stderr, "child %d %s:%d: ", (int)getpid(), __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                                           \
			fputc('\n', stderr);                                                    \
			return 1;                                                               \
		}                                                                               \
	} while (0)

#endif /* CLCP_TESTUTIL_H */
