/* SPDX-License-Identifier: MIT */
/* Devices, the backend registry, errors. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static __thread char errmsg_buf[256];

int clcp__err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg_buf, sizeof(errmsg_buf), fmt, ap);
	va_end(ap);
	return -err;
}

const char *clcp_errmsg(void)
{
	return errmsg_buf;
}

const char *clcp_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -EINVAL:
		return "invalid argument";
	case -EBADF:
		return "endpoint released or not open";
	case -ENOTCONN:
		return "channel not allocated";
	case -EMSGSIZE:
		return "message or frame too large";
	case -EFAULT:
		return "NULL buffer";
	case -EADDRINUSE:
		return "port already in use on this node";
	case -EBUSY:
		return "all endpoints of the node are in use";
	case -EAGAIN:
		return "would block: nothing to receive or peer full";
	case -ETIMEDOUT:
		return "timed out";
	case -ECONNRESET:
		return "peer gone: died or released its channel";
	case -ECONNREFUSED:
		return "peer port not bound";
	case -ENOENT:
		return "no such backend";
	case -ENOSPC:
		return "shared memory too small";
	case -ENOBUFS:
		return "parked frames of other channels hold every Rx buffer";
	case -ENOMEM:
		return "out of memory";
	case -ENOSYS:
		return "not supported by this backend";
	case -EPROTO:
		return "protocol error: inconsistent frames";
	case -EIO:
		return "the process manager failed the bootstrap";
	case -EHOSTUNREACH:
		return "peer node unknown or not reachable";
	case -EADDRNOTAVAIL:
		return "no local address or board for this node";
	case -EAFNOSUPPORT:
		return "peer's address family differs from ours";
	case -ENODATA:
		return "message length unknown (built from frames)";
	case -EPERM:
	case -EACCES:
		return "permission denied";
	default:
		return err < 0 ? "unknown error" : "not an error code";
	}
}

uint64_t clcp__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t clcp__deadline(int32_t timeout_ms)
{
	return timeout_ms < 0 ? UINT64_MAX : clcp__now_ms() + (uint64_t)timeout_ms;
}

void clcp__noop(struct clcp_endpt *ep)
{
	(void)ep;
}

int clcp__no_pull_offer(struct clcp_endpt *ep, int chan, const void *buf, size_t len,
			bool nonblock, struct clcp__pull *d)
{
	(void)ep, (void)chan, (void)buf, (void)len, (void)nonblock, (void)d;
	return -ENOSYS;
}

int clcp__no_pull_wait(struct clcp_endpt *ep, int chan, const struct clcp__pull *d,
		       uint64_t spin_ns)
{
	(void)ep, (void)chan, (void)d, (void)spin_ns;
	return clcp__err(EPROTO, "no offer to wait for");
}

int clcp__no_pull_take(struct clcp_endpt *ep, int chan, const struct clcp__pull *d,
		       void *buf, size_t len, bool spin, bool nonblock)
{
	(void)ep, (void)d, (void)buf, (void)len, (void)spin, (void)nonblock;
	return clcp__err(EPROTO, "channel %d: a pull frame on a backend without pulls", chan);
}

int clcp__no_pull_ready(struct clcp_endpt *ep, int chan, void *buf, size_t cap)
{
	(void)ep, (void)chan, (void)buf, (void)cap;
	return 0;
}

void clcp__no_room(struct clcp_dev *dev, const struct clcp_endpt_attr *a, struct clcp__buf_room *r)
{
	(void)dev, (void)a;
	*r = (struct clcp__buf_room){ 0 };
}

static const struct clcp_backend_ops *backend_find(const char *uri,
						   const char **args)
{
	size_t n = strcspn(uri, ":");
	unsigned i;

	for (i = 0; clcp__backends[i]; i++) {
		const char *name = clcp__backends[i]->name;

		if (strlen(name) == n && strncmp(name, uri, n) == 0)
			break;
	}
	if (!clcp__backends[i])
		return NULL;
	*args = uri + n;
	if (**args == ':')
		(*args)++;
	if (strncmp(*args, "//", 2) == 0)
		*args += 2;
	return clcp__backends[i];
}

static int node_from_env(uint32_t *node)
{
	const char *s = getenv("CLCP_NODE");
	char *end;
	unsigned long v;

	*node = 0;
	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return clcp__err(EINVAL, "CLCP_NODE=%s is not a node id", s);
	*node = (uint32_t)v;
	return 0;
}

int clcp_open(const char *uri, clcp_dev_t **devp)
{
	const struct clcp_backend_ops *ops;
	struct clcp_dev *dev;
	const char *args;
	int rc;

	if (!devp)
		return clcp__err(EINVAL, "clcp_open: devp is NULL");
	if (!uri)
		uri = getenv("CLCP_BACKEND");
	if (!uri || !*uri)
		uri = "loopback";
	ops = backend_find(uri, &args);
	if (!ops)
		return clcp__err(ENOENT, "no backend for \"%s\" (clcp_info lists them)", uri);
	if (strlen(args) >= CLCP__ARGS_MAX)
		return clcp__err(EINVAL, "URI too long");
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return clcp__err(ENOMEM, "clcp_open: out of memory");
	dev->ops = ops;
	dev->max_endpts = ops->max_endpts;
	dev->mtu_default = ops->mtu_default;
	strcpy(dev->args, args);
	rc = node_from_env(&dev->node);
	if (rc == 0)
		rc = ops->open(dev, dev->args);
	if (rc == 0) {
		dev->endpts = calloc(dev->max_endpts, sizeof(*dev->endpts));
		if (!dev->endpts) {
			ops->close(dev);
			rc = clcp__err(ENOMEM, "clcp_open: out of memory");
		}
	}
	if (rc < 0) {
		free(dev);
		return rc;
	}
	*devp = dev;
	return 0;
}

int clcp_close(clcp_dev_t *dev)
{
	uint32_t i;

	if (!dev)
		return clcp__err(EINVAL, "clcp_close: dev is NULL");
	for (i = 0; i < dev->max_endpts; i++)
		if (dev->endpts[i].magic == CLCP_ENDPT_MAGIC)
			clcp_release_endpt(&dev->endpts[i]);
	dev->ops->close(dev);
	free(dev->endpts);
	free(dev);
	return 0;
}

uint32_t clcp_dev_node(clcp_dev_t *dev)
{
	return dev ? dev->node : UINT32_MAX;
}

const char *clcp_dev_backend(clcp_dev_t *dev)
{
	return dev ? dev->ops->name : NULL;
}

int clcp_backend_info(unsigned idx, struct clcp_backend_desc *info)
{
	unsigned i;

	if (!info)
		return clcp__err(EINVAL, "clcp_backend_info: info is NULL");
	for (i = 0; i < idx && clcp__backends[i]; i++)
		;
	if (!clcp__backends[i])
		return -ENOENT;
	info->name = clcp__backends[i]->name;
	info->uri_help = clcp__backends[i]->uri_help;
	info->caps = clcp__backends[i]->caps;
	info->max_endpts = clcp__backends[i]->max_endpts;
	info->mtu_max = clcp__backends[i]->mtu_max;
	info->mtu_default = clcp__backends[i]->mtu_default;
	return 0;
}
