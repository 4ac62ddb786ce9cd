/* SPDX-License-Identifier: MIT */
/*
 * UDP backend, the bootstrap through a process manager (udp_boot.h,
 * docs/cluster.md). The node binds first, on a port nobody holds (an
 * ephemeral one, or one of CLCP_UDP_PORTS), and only then publishes
 * "ADDR:PORT" under its rank, so the port it publishes is the port it has.
 *
 * PMIx: libpmix is loaded with dlopen the first time a process needs it, so
 * the library (and a static program) depends on it only when the bootstrap
 * runs; the build needs its header. PMIx_Init at open, PMIx_Finalize at
 * close (the process manager takes a process that exits without it for a
 * crash). Every open is a collective: each rank's n-th open publishes under
 * the key "clcp.udp.n" and fences with every rank of the job. The PMI-1
 * wire protocol (hydra's PMI_FD) is in udp_pmi1.c.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "udp.h"
#include "udp_boot.h"

#ifdef CLCP_HAVE_PMIX
#include <pmix.h>
#endif

#define BIND_TRIES 16
#define BOOT_TIMEOUT_S 120 /* the fence: every rank must open within this */
#define ADDR_STR_MAX (INET6_ADDRSTRLEN + 8)

/* This process in the job. */
struct boot_job {
	uint32_t rank, size; /* size: 0 until known (PMIx: after the fence) */
	char key[32]; /* what this open publishes under */
#ifdef CLCP_HAVE_PMIX
	pmix_proc_t me;
#endif
};

static bool env_set(const char *name)
{
	const char *s = getenv(name);

	return s && *s;
}

static const char *const boot_names[] = { "none", "pmix", "pmi1" };

/* CLCP_BOOTSTRAP: a kind, -1 for auto (or unset), -2 if unknown. */
static int boot_wanted(const char *s)
{
	if (!s || !*s || strcmp(s, "auto") == 0)
		return -1;
	for (int i = 0; i < (int)(sizeof(boot_names) / sizeof(boot_names[0])); i++)
		if (strcmp(s, boot_names[i]) == 0)
			return i;
	return -2;
}

/* auto: a PMIx server's environment, else a PMI-1 one; only when no table was given. */
static int boot_auto(bool env_table)
{
	if (env_table)
		return UDP_BOOT_NONE;
	if (env_set("PMIX_RANK") && env_set("PMIX_NAMESPACE"))
		return UDP_BOOT_PMIX;
	if (env_set("PMI_FD") && env_set("PMI_RANK") && env_set("PMI_SIZE"))
		return UDP_BOOT_PMI1;
	return UDP_BOOT_NONE;
}

int udp_boot_select(struct udp_conf *c, bool env_table)
{
	const char *s = getenv("CLCP_BOOTSTRAP");
	int want = boot_wanted(s);

	if (want == -2)
		return clcp__err(EINVAL, "CLCP_BOOTSTRAP=%s: want pmix, pmi1, auto or none", s);
	c->boot = want == -1 ? boot_auto(env_table) : want;
	if (c->boot == UDP_BOOT_NONE)
		return 0;
	if (c->node_set)
		return clcp__err(EINVAL,
				 "udp: the %s bootstrap makes the node id base_node + rank: "
				 "give no node id (URI or CLCP_NODE)",
				 boot_names[c->boot]);
#ifndef CLCP_HAVE_PMIX
	if (c->boot == UDP_BOOT_PMIX)
		return clcp__err(ENOSYS,
				 "udp: pmix bootstrap: this build has no PMIx (libpmix-dev)");
#endif
	return 0;
}

/* --- this node's address and port --- */

static int addr_literal(const char *s, struct udp_node *n)
{
	struct sockaddr_in *a = (struct sockaddr_in *)&n->sa;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&n->sa;

	memset(&n->sa, 0, sizeof(n->sa));
	if (inet_pton(AF_INET, s, &a->sin_addr) == 1) {
		a->sin_family = AF_INET;
		n->len = sizeof(*a);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		n->len = sizeof(*a6);
		return 0;
	}
	return -EINVAL;
}

/* Does ifa qualify: the interface named, else any up, running, not loopback; family v4 or v6. */
static bool iface_fits(const struct ifaddrs *ifa, const char *name, int family)
{
	if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != family)
		return false;
	if (family == AF_INET6 &&
	    IN6_IS_ADDR_LINKLOCAL(&((const struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr))
		return false; /* would need a scope id on every peer */
	if (name)
		return strcmp(ifa->ifa_name, name) == 0;
	return (ifa->ifa_flags & (IFF_UP | IFF_RUNNING)) == (IFF_UP | IFF_RUNNING) &&
	       !(ifa->ifa_flags & IFF_LOOPBACK);
}

/* The first address of the interface named (IPv4 before IPv6), or of the first one up (IPv4). */
static int iface_addr(const char *name, struct udp_node *n)
{
	struct ifaddrs *all, *ifa;
	int rc = -ENODEV;

	if (getifaddrs(&all) < 0)
		return -errno;
	for (int pass = 0; pass < (name ? 2 : 1) && rc < 0; pass++) {
		int family = pass == 0 ? AF_INET : AF_INET6;

		for (ifa = all; ifa && rc < 0; ifa = ifa->ifa_next) {
			if (!iface_fits(ifa, name, family))
				continue;
			memset(&n->sa, 0, sizeof(n->sa));
			n->len = family == AF_INET ? sizeof(struct sockaddr_in) :
						     sizeof(struct sockaddr_in6);
			memcpy(&n->sa, ifa->ifa_addr, n->len);
			rc = 0;
		}
	}
	freeifaddrs(all);
	return rc;
}

/* CLCP_UDP_ADDR (an address or an interface), else the first interface up, else 127.0.0.1. */
static int boot_addr(struct udp_node *n)
{
	const char *want = getenv("CLCP_UDP_ADDR");

	if (want && *want) {
		if (addr_literal(want, n) == 0 || iface_addr(want, n) == 0)
			return 0;
		return clcp__err(EINVAL,
				 "CLCP_UDP_ADDR=%s: neither an IP address nor an interface "
				 "with one",
				 want);
	}
	if (iface_addr(NULL, n) == 0)
		return 0;
	return addr_literal("127.0.0.1", n);
}

static void set_port(struct udp_node *n, uint16_t port)
{
	if (n->sa.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&n->sa)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)&n->sa)->sin_port = htons(port);
}

static uint16_t get_port(const struct sockaddr_storage *sa)
{
	if (sa->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

/* A port free on n's address now: the kernel's ephemeral pick, then let go. */
static int port_probe(const struct udp_node *n)
{
	struct udp_node any = *n;
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	int fd = socket(n->sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

	if (fd < 0)
		return -errno;
	set_port(&any, 0);
	if (bind(fd, (const struct sockaddr *)&any.sa, any.len) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		rc = -errno;
	else
		rc = get_port(&sa);
	close(fd);
	return rc;
}

/* CLCP_UDP_PORTS=LO-HI: 0 and *lo = 0 when unset. */
static int port_range(uint32_t *lo, uint32_t *hi)
{
	const char *s = getenv("CLCP_UDP_PORTS");
	char *end;

	*lo = *hi = 0;
	if (!s || !*s)
		return 0;
	*lo = (uint32_t)strtoul(s, &end, 10);
	if (*end == '-')
		*hi = (uint32_t)strtoul(end + 1, &end, 10);
	if (*end || *lo == 0 || *hi < *lo || *hi > 65535)
		return clcp__err(EINVAL, "CLCP_UDP_PORTS=%s: want LO-HI, 1 <= LO <= HI <= 65535",
				 s);
	return 0;
}

/* The port for try i: from the range (starting at rank's place in it), else ephemeral. */
static int port_pick(const struct udp_node *n, uint32_t lo, uint32_t hi, uint32_t rank, uint32_t i)
{
	if (lo)
		return (int)(lo + (rank + i) % (hi - lo + 1));
	return port_probe(n);
}

/* Binds the node on a port nobody holds: -EADDRINUSE (someone took it meanwhile) tries another. */
static int boot_bind(struct udp_dev *u, struct udp_node *n, uint32_t rank)
{
	uint32_t lo, hi, tries, i;
	int rc = port_range(&lo, &hi), port;

	if (rc < 0)
		return rc;
	tries = lo ? hi - lo + 1 : BIND_TRIES;
	for (i = 0, rc = -EADDRINUSE; i < tries && rc == -EADDRINUSE; i++) {
		port = port_pick(n, lo, hi, rank, i);
		if (port < 0)
			return clcp__err(-port, "udp: bootstrap: no port on the node's address: %s",
					 strerror(-port));
		set_port(n, (uint16_t)port);
		rc = udp_sock_open(u, n);
	}
	if (rc < 0)
		return clcp__err(-rc, "udp: bootstrap: bind node %u%s: %s", n->node,
				 lo ? " in CLCP_UDP_PORTS" : "", strerror(-rc));
	return 0;
}

static void addr_str(const struct udp_node *n, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (n->sa.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&n->sa)->sin6_addr, ip,
			  sizeof(ip));
		snprintf(out, len, "[%s]:%u", ip, get_port(&n->sa));
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&n->sa)->sin_addr, ip, sizeof(ip));
		snprintf(out, len, "%s:%u", ip, get_port(&n->sa));
	}
}

#ifdef CLCP_HAVE_PMIX

/* --- PMIx, loaded when first needed --- */

#ifndef CLCP_PMIX_LIB
#define CLCP_PMIX_LIB "libpmix.so.2"
#endif

struct pmix_api {
	pmix_status_t (*init)(pmix_proc_t *proc, pmix_info_t info[], size_t ninfo);
	pmix_status_t (*finalize)(const pmix_info_t info[], size_t ninfo);
	pmix_status_t (*put)(pmix_scope_t scope, const char key[], pmix_value_t *val);
	pmix_status_t (*commit)(void);
	pmix_status_t (*fence)(const pmix_proc_t procs[], size_t nprocs, const pmix_info_t info[],
			       size_t ninfo);
	pmix_status_t (*get)(const pmix_proc_t *proc, const char key[], const pmix_info_t info[],
			     size_t ninfo, pmix_value_t **val);
	void (*value_destruct)(pmix_value_t *val);
	const char *(*error_string)(pmix_status_t status);
};

static struct pmix_api px;
static bool px_loaded;
static unsigned px_opens; /* this process's opens so far: the key of the next */
static pthread_mutex_t px_lock = PTHREAD_MUTEX_INITIALIZER;

static int px_load_locked(void)
{
	static const struct {
		const char *name;
		size_t off;
	} fns[] = {
		{ "PMIx_Init", offsetof(struct pmix_api, init) },
		{ "PMIx_Finalize", offsetof(struct pmix_api, finalize) },
		{ "PMIx_Put", offsetof(struct pmix_api, put) },
		{ "PMIx_Commit", offsetof(struct pmix_api, commit) },
		{ "PMIx_Fence", offsetof(struct pmix_api, fence) },
		{ "PMIx_Get", offsetof(struct pmix_api, get) },
		{ "PMIx_Value_destruct", offsetof(struct pmix_api, value_destruct) },
		{ "PMIx_Error_string", offsetof(struct pmix_api, error_string) },
	};
	void *h = dlopen(CLCP_PMIX_LIB, RTLD_NOW | RTLD_GLOBAL);

	if (!h)
		h = dlopen("libpmix.so.2", RTLD_NOW | RTLD_GLOBAL);
	if (!h)
		return clcp__err(ENOSYS, "udp: pmix bootstrap: cannot load %s: %s", CLCP_PMIX_LIB,
				 dlerror());
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		void *p = dlsym(h, fns[i].name);

		if (!p)
			return clcp__err(ENOSYS, "udp: pmix bootstrap: %s lacks %s", CLCP_PMIX_LIB,
					 fns[i].name);
		memcpy((char *)&px + fns[i].off, &p, sizeof(p));
	}
	px_loaded = true; /* the library stays: PMIx has threads of its own */
	return 0;
}

/* Loads PMIx if needed; the key of this open in key. */
static int px_load(char *key, size_t len)
{
	int rc;

	pthread_mutex_lock(&px_lock);
	rc = px_loaded ? 0 : px_load_locked();
	if (rc == 0)
		snprintf(key, len, "clcp.udp.%u", px_opens++);
	pthread_mutex_unlock(&px_lock);
	return rc;
}

static int px_err(const char *call, pmix_status_t st)
{
	return clcp__err(st == PMIX_ERR_TIMEOUT ? ETIMEDOUT : EIO, "udp: pmix bootstrap: %s: %s",
			 call, px.error_string(st));
}

static void px_release(pmix_value_t *v)
{
	px.value_destruct(v);
	free(v);
}

static int px_publish(const char *key, const char *val)
{
	pmix_value_t v = { .type = PMIX_STRING, .data.string = (char *)val };
	pmix_status_t st = px.put(PMIX_GLOBAL, key, &v);

	if (st != PMIX_SUCCESS)
		return px_err("PMIx_Put", st);
	st = px.commit();
	return st == PMIX_SUCCESS ? 0 : px_err("PMIx_Commit", st);
}

/* Every rank of the job, the data of all collected here. */
static int px_fence(void)
{
	pmix_info_t info[2];
	pmix_status_t st;

	memset(info, 0, sizeof(info));
	snprintf(info[0].key, sizeof(info[0].key), "%s", PMIX_COLLECT_DATA);
	info[0].value.type = PMIX_BOOL;
	info[0].value.data.flag = true;
	snprintf(info[1].key, sizeof(info[1].key), "%s", PMIX_TIMEOUT);
	info[1].value.type = PMIX_INT;
	info[1].value.data.integer = BOOT_TIMEOUT_S;
	st = px.fence(NULL, 0, info, 2);
	return st == PMIX_SUCCESS ? 0 : px_err("PMIx_Fence", st);
}

/* PMIx_Get of key for rank of me's namespace; release *v with px_release. */
static int px_get(const pmix_proc_t *me, pmix_rank_t rank, const char *key, pmix_value_t **v)
{
	pmix_proc_t p = *me;
	pmix_status_t st;
	char call[96];

	p.rank = rank;
	*v = NULL;
	st = px.get(&p, key, NULL, 0, v);
	if (st == PMIX_SUCCESS)
		return 0;
	snprintf(call, sizeof(call), "PMIx_Get(%s)", key);
	return px_err(call, st);
}

static int px_job_size(const pmix_proc_t *me, uint32_t *n)
{
	pmix_value_t *v;
	int rc = px_get(me, PMIX_RANK_WILDCARD, PMIX_JOB_SIZE, &v);

	if (rc < 0)
		return rc;
	*n = v->type == PMIX_UINT32 ? v->data.uint32 : 0;
	px_release(v);
	if (*n == 0 || *n > UDP_MAX_NODES || *n <= me->rank)
		return clcp__err(EIO, "udp: pmix bootstrap: job size %u: want %u..%u", *n,
				 me->rank + 1, UDP_MAX_NODES);
	return 0;
}

/* Every rank's "ADDR:PORT" under key into the node table. */
static int px_read(struct udp_conf *c, const pmix_proc_t *me, const char *key, uint32_t nranks)
{
	int rc = 0;

	for (uint32_t r = 0; r < nranks && rc == 0; r++) {
		pmix_value_t *v;

		rc = px_get(me, r, key, &v);
		if (rc < 0)
			return rc;
		if (v->type == PMIX_STRING && v->data.string)
			rc = udp_conf_add(c, c->base_node + r, v->data.string,
					  strlen(v->data.string));
		else
			rc = clcp__err(EIO, "udp: pmix bootstrap: rank %u: %s is no string", r,
				       key);
		px_release(v);
	}
	return rc;
}

/* PMIx_Init: this process's rank; the key of this open. */
static int px_init(struct udp_conf *c, struct boot_job *j)
{
	pmix_status_t st;
	int rc = px_load(j->key, sizeof(j->key));

	if (rc < 0)
		return rc;
	memset(&j->me, 0, sizeof(j->me));
	st = px.init(&j->me, NULL, 0);
	if (st != PMIX_SUCCESS)
		return px_err("PMIx_Init (is a PMIx server running this process?)", st);
	c->boot_live = true;
	j->rank = j->me.rank;
	return 0;
}

/* After the node is bound: publish, fence, read the table. */
static int px_exchange(struct udp_conf *c, struct boot_job *j, const char *addr)
{
	int rc = px_publish(j->key, addr);

	if (rc == 0)
		rc = px_fence();
	if (rc == 0)
		rc = px_job_size(&j->me, &j->size);
	if (rc == 0)
		rc = px_read(c, &j->me, j->key, j->size);
	return rc;
}

static void px_fini(void)
{
	px.finalize(NULL, 0);
}

#else /* !CLCP_HAVE_PMIX: udp_boot_select refuses UDP_BOOT_PMIX */

static int px_init(struct udp_conf *c, struct boot_job *j)
{
	(void)c;
	(void)j;
	return clcp__err(ENOSYS, "udp: pmix bootstrap: this build has no PMIx (libpmix-dev)");
}

static int px_exchange(struct udp_conf *c, struct boot_job *j, const char *addr)
{
	(void)c;
	(void)j;
	(void)addr;
	return -ENOSYS;
}

static void px_fini(void)
{
}

#endif

static int boot_init(struct udp_conf *c, struct boot_job *j)
{
	if (c->boot == UDP_BOOT_PMI1)
		return udp_pmi1_init(c, &j->rank, &j->size, j->key, sizeof(j->key));
	return px_init(c, j);
}

static int boot_exchange(struct udp_dev *u, struct boot_job *j)
{
	char addr[ADDR_STR_MAX];

	addr_str(&u->self, addr, sizeof(addr));
	if (u->conf.boot == UDP_BOOT_PMI1)
		return udp_pmi1_exchange(&u->conf, j->key, j->rank, addr, j->size);
	return px_exchange(&u->conf, j, addr);
}

void udp_boot_close(struct udp_conf *c)
{
	if (c->boot_live && c->boot == UDP_BOOT_PMI1)
		udp_pmi1_fini();
	else if (c->boot_live)
		px_fini();
	c->boot_live = false;
}

int udp_boot_open(struct clcp_dev *dev, struct udp_dev *u)
{
	struct udp_conf *c = &u->conf;
	struct boot_job j = { .rank = 0, .size = 0 };
	struct udp_node n;
	int rc = boot_init(c, &j);

	if (rc == 0 && (uint64_t)c->base_node + j.rank >= UINT32_MAX)
		rc = clcp__err(EINVAL, "udp: base_node %u + rank %u is out of range", c->base_node,
			       j.rank);
	if (rc == 0)
		rc = boot_addr(&n);
	if (rc < 0)
		return rc;
	n.node = c->base_node + j.rank;
	rc = boot_bind(u, &n, j.rank);
	if (rc == 0)
		rc = boot_exchange(u, &j);
	if (rc == 0)
		dev->node = n.node;
	return rc;
}
