/* SPDX-License-Identifier: MIT */
/*
 * UDP backend configuration: the URI, CLCP_NODES, the hostfile, the job
 * key, and the node id <-> (address, port) table. Grammar in docs/udp.md.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "udp.h"
#include "udp_boot.h"

#define LINE_MAX_LEN 512

static int parse_u32(const char *s, size_t n, uint32_t max, uint32_t *out)
{
	char buf[16], *end;
	unsigned long v;

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	v = strtoul(buf, &end, 0);
	if (errno || *end || buf[0] == '-' || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* "ADDR:PORT" or "[V6ADDR]:PORT"; ADDR may be a host name. */
static int addr_parse(const char *s, size_t n, struct udp_node *out)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM,
				  .ai_flags = AI_NUMERICSERV };
	char host[256], port[8];
	struct addrinfo *res;
	const char *colon;
	size_t hlen;

	if (n > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', n);

		if (!rb || rb + 1 >= s + n || rb[1] != ':')
			return -EINVAL;
		hlen = (size_t)(rb - s - 1);
		memcpy(host, s + 1, hlen < sizeof(host) ? hlen : 0);
		colon = rb + 1;
	} else {
		colon = memrchr(s, ':', n);
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - s);
		memcpy(host, s, hlen < sizeof(host) ? hlen : 0);
	}
	if (hlen == 0 || hlen >= sizeof(host) ||
	    (size_t)(s + n - colon - 1) >= sizeof(port) || colon + 1 == s + n)
		return -EINVAL;
	host[hlen] = '\0';
	memcpy(port, colon + 1, (size_t)(s + n - colon - 1));
	port[s + n - colon - 1] = '\0';
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -EINVAL;
	memcpy(&out->sa, res->ai_addr, res->ai_addrlen);
	out->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int table_add(struct udp_conf *c, uint32_t node, const struct udp_node *a)
{
	struct udp_node *n;
	uint32_t i;

	for (i = 0; i < c->nnodes; i++)
		if (c->nodes[i].node == node)
			return clcp__err(EINVAL, "udp: node %u listed twice", node);
	if (c->nnodes == UDP_MAX_NODES)
		return clcp__err(EINVAL, "udp: more than %u nodes", UDP_MAX_NODES);
	n = realloc(c->nodes, (c->nnodes + 1) * sizeof(*n));
	if (!n)
		return clcp__err(ENOMEM, "udp: out of memory");
	c->nodes = n;
	n[c->nnodes] = *a;
	n[c->nnodes].node = node;
	c->nnodes++;
	return 0;
}

int udp_conf_add(struct udp_conf *c, uint32_t node, const char *addr, size_t n)
{
	struct udp_node a;

	if (addr_parse(addr, n, &a) < 0)
		return clcp__err(EINVAL, "udp: node %u: bad address \"%.*s\"", node, (int)n, addr);
	return table_add(c, node, &a);
}

/* One entry "NODE=ADDR:PORT" (or "NODE ADDR:PORT" in a hostfile). */
static int entry_parse(struct udp_conf *c, const char *s, size_t n, const char *where)
{
	size_t k = strcspn(s, "= \t");
	struct udp_node a;
	uint32_t node;

	if (k >= n || parse_u32(s, k, UINT32_MAX - 1, &node) < 0)
		return clcp__err(EINVAL, "udp: %s: bad node id in \"%.*s\"", where, (int)n, s);
	while (k < n && strchr("= \t", s[k]))
		k++;
	if (addr_parse(s + k, n - k, &a) < 0)
		return clcp__err(EINVAL, "udp: %s: bad address in \"%.*s\"", where, (int)n, s);
	return table_add(c, node, &a);
}

/* CLCP_NODES: comma-separated entries. */
static int nodes_parse(struct udp_conf *c, const char *s)
{
	int rc;

	while (*s) {
		size_t n = strcspn(s, ",");

		if (n) {
			rc = entry_parse(c, s, n, "CLCP_NODES");
			if (rc < 0)
				return rc;
		}
		s += n + (s[n] == ',');
	}
	return 0;
}

static int hostfile_read(struct udp_conf *c, const char *path)
{
	char line[LINE_MAX_LEN], where[64];
	unsigned lineno = 0;
	FILE *f = fopen(path, "re");
	int rc = 0;

	if (!f)
		return clcp__err(errno, "udp: hostfile %s: %s", path, strerror(errno));
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		char *s = line, *hash = strchr(line, '#');
		size_t n;

		lineno++;
		if (hash)
			*hash = '\0';
		s += strspn(s, " \t\r\n");
		n = strcspn(s, "\r\n");
		while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		if (n == 0)
			continue;
		snprintf(where, sizeof(where), "hostfile line %u", lineno);
		rc = entry_parse(c, s, n, where);
	}
	fclose(f);
	return rc;
}

/* The transport: "sock", "xdp" or "xdp-skb" (generic XDP only), n bytes of s. */
static int mode_parse(struct udp_conf *c, const char *s, size_t n, const char *what)
{
	if (n == 4 && strncmp(s, "sock", 4) == 0)
		c->xdp = c->xdp_skb = false;
	else if (n == 3 && strncmp(s, "xdp", 3) == 0)
		c->xdp = true, c->xdp_skb = false;
	else if (n == 7 && strncmp(s, "xdp-skb", 7) == 0)
		c->xdp = c->xdp_skb = true;
	else
		return clcp__err(EINVAL, "udp %s: mode \"%.*s\" is not sock, xdp or xdp-skb", what,
				 (int)n, s);
	return 0;
}

/* xdp_ring (a power of two 64..4096) and xdp_queue. */
static int xdp_opt(struct udp_conf *c, unsigned i, uint32_t v)
{
	if (i == 7 && (v < 64 || (v & (v - 1))))
		return clcp__err(EINVAL, "udp URI: xdp_ring %u is not a power of two 64..4096", v);
	if (i == 7)
		c->xdp_ring = v;
	else
		c->xdp_queue = v;
	return 0;
}

/* One "name=value" option of the URI. */
static int opt_parse(struct udp_conf *c, const char *o, size_t n)
{
	static const char *const names[] = { "local", "local6", "base_node", "key",	 "dead_ms",
					     "crc",   "mtu",	"xdp_ring",  "xdp_queue" };
	uint32_t v, max[] = { 65535, 65535,	  UINT32_MAX - 1, UINT32_MAX, 3600000,
			      1,     UDP_MTU_MAX, 4096,		  63 };
	size_t k = strcspn(o, "=");
	unsigned i;

	if (k == 4 && k < n && strncmp(o, "mode", 4) == 0)
		return mode_parse(c, o + 5, n - 5, "URI");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (k < n && strlen(names[i]) == k && strncmp(o, names[i], k) == 0)
			break;
	if (i == sizeof(names) / sizeof(names[0]))
		return clcp__err(EINVAL, "udp URI: unknown option \"%.*s\"", (int)n, o);
	if (parse_u32(o + k + 1, n - k - 1, max[i], &v) < 0)
		return clcp__err(EINVAL, "udp URI: bad value in \"%.*s\"", (int)n, o);
	if (i <= 1) {
		c->local_family = i == 0 ? AF_INET : AF_INET6;
		c->local_port = v;
	} else if (i == 2) {
		c->base_node = v;
	} else if (i == 3) {
		c->key = v;
	} else if (i == 4) {
		c->dead_ms = v;
	} else if (i == 5) {
		c->no_crc = v == 0;
		c->crc_set = true;
	} else if (i >= 7) {
		return xdp_opt(c, i, v);
	} else if (v < CLCP_MTU_MIN) {
		return clcp__err(EINVAL, "udp URI: mtu %u below %u", v, CLCP_MTU_MIN);
	} else {
		c->mtu = v;
	}
	return 0;
}

static int opts_parse(struct udp_conf *c, const char *s)
{
	int rc;

	while (*s) {
		size_t n = strcspn(s, "&");

		rc = opt_parse(c, s, n);
		if (rc < 0)
			return rc;
		s += n + (s[n] == '&');
	}
	return 0;
}

static int key_from_env(struct udp_conf *c)
{
	const char *s = getenv("CLCP_JOB_KEY");

	if (!s || !*s)
		return 0;
	if (parse_u32(s, strlen(s), UINT32_MAX, &c->key) < 0)
		return clcp__err(EINVAL, "CLCP_JOB_KEY=%s is not a 32-bit number", s);
	return 0;
}

/* What precedes '?': "", "NODE", or "/path/hostfile". */
static int head_parse(struct udp_conf *c, const char *s, size_t n)
{
	char path[CLCP__ARGS_MAX];

	if (n == 0)
		return 0;
	if (s[0] == '/') {
		memcpy(path, s, n);
		path[n] = '\0';
		return hostfile_read(c, path);
	}
	if (parse_u32(s, n, UINT32_MAX - 1, &c->node) < 0)
		return clcp__err(EINVAL, "udp URI: bad node id \"%.*s\"", (int)n, s);
	c->node_set = true;
	return 0;
}

/* No table in the URI: a process manager's (udp_boot.c), CLCP_NODES, CLCP_HOSTFILE. */
static int table_from_env(struct udp_conf *c)
{
	const char *nodes = getenv("CLCP_NODES"), *hf = getenv("CLCP_HOSTFILE");
	bool have_nodes = nodes && *nodes, have_hf = hf && *hf;
	int rc = udp_boot_select(c, have_nodes || have_hf);

	if (rc < 0 || c->boot)
		return rc;
	if (have_nodes)
		return nodes_parse(c, nodes);
	if (have_hf)
		return hostfile_read(c, hf);
	return clcp__err(EINVAL, "udp: no node table: give ?local=PORT, a hostfile, CLCP_NODES or "
				 "CLCP_HOSTFILE, or run under a PMIx server (docs/cluster.md)");
}

static bool addr_loopback(const struct sockaddr_storage *sa)
{
	if (sa->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	return sa->ss_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

/*
 * Every node is on this host's loopback (local mode, or a table of
 * loopback addresses): datagrams never leave memory, so the CRC is off
 * unless crc=1. A process manager's table is learned later: CRC on.
 */
static bool table_on_loopback(const struct udp_conf *c)
{
	uint32_t i;

	if (c->local_family)
		return true;
	if (c->boot || c->nnodes == 0)
		return false;
	for (i = 0; i < c->nnodes; i++)
		if (!addr_loopback(&c->nodes[i].sa))
			return false;
	return true;
}

int udp_conf_parse(struct clcp_dev *dev, const char *args, struct udp_conf *c)
{
	const char *env = getenv("CLCP_NODE"), *q = strchr(args, '?');
	size_t hn = q ? (size_t)(q - args) : strlen(args);
	int rc;

	memset(c, 0, sizeof(*c));
	c->node = dev->node;
	c->node_set = env && *env;
	env = getenv("CLCP_UDP_MODE");
	rc = env && *env ? mode_parse(c, env, strlen(env), "CLCP_UDP_MODE") : 0;
	if (rc == 0)
		rc = key_from_env(c);
	if (rc == 0)
		rc = head_parse(c, args, hn);
	if (rc == 0 && q)
		rc = opts_parse(c, q + 1);
	if (rc == 0 && !c->local_family && c->nnodes == 0)
		rc = table_from_env(c);
	if (rc == 0 && !c->crc_set)
		c->no_crc = table_on_loopback(c);
	if (rc < 0)
		udp_conf_free(c);
	return rc;
}

void udp_conf_free(struct udp_conf *c)
{
	udp_boot_close(c);
	free(c->nodes);
	c->nodes = NULL;
	c->nnodes = 0;
}

static void local_addr(const struct udp_conf *c, uint32_t port, struct udp_node *out)
{
	memset(&out->sa, 0, sizeof(out->sa));
	if (c->local_family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&out->sa;

		s->sin_family = AF_INET;
		s->sin_port = htons((uint16_t)port);
		s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		out->len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->sa;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons((uint16_t)port);
		s->sin6_addr = in6addr_loopback;
		out->len = sizeof(*s);
	}
}

/* The address of node: 0, or -EHOSTUNREACH when the node is unknown. */
int udp_node_addr(const struct udp_conf *c, uint32_t node, struct udp_node *out)
{
	uint32_t i;

	if (c->local_family) {
		uint64_t port = (uint64_t)c->local_port + node - c->base_node;

		if (node < c->base_node || port > 65535 || port == 0)
			return -EHOSTUNREACH;
		local_addr(c, (uint32_t)port, out);
		out->node = node;
		return 0;
	}
	for (i = 0; i < c->nnodes; i++)
		if (c->nodes[i].node == node) {
			*out = c->nodes[i];
			return 0;
		}
	return -EHOSTUNREACH;
}

bool udp_addr_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}
