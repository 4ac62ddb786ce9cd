/* SPDX-License-Identifier: MIT */
/* A library thread that has begun to run before its creator goes on. */
#ifndef CLCP_THREAD_H
#define CLCP_THREAD_H

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>

struct clcp__thread_go {
	void *(*fn)(void *);
	void *arg;
	sem_t up;
};

static inline void *clcp__thread_begin(void *p)
{
	struct clcp__thread_go *go = p;
	void *(*fn)(void *) = go->fn;
	void *arg = go->arg;

	sem_post(&go->up);
	return fn(arg);
}

/*
 * pthread_create, returning once the thread runs fn: a fork() right after
 * finds none of ours still starting. A starting thread may hold a lock of
 * the allocator (ASan's does), and the child's first malloc would wait on
 * it for ever. 0, or a negative errno.
 */
static inline int clcp__thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	struct clcp__thread_go go = { .fn = fn, .arg = arg };
	int rc;

	if (sem_init(&go.up, 0, 0) != 0)
		return -errno;
	rc = pthread_create(t, NULL, clcp__thread_begin, &go);
	while (rc == 0 && sem_wait(&go.up) != 0 && errno == EINTR)
		;
	sem_destroy(&go.up);
	return -rc;
}

#endif
