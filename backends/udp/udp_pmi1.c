/* SPDX-License-Identifier: MIT */
/*
 * UDP backend, the bootstrap over the PMI-1 wire protocol (the "simple PMI"
 * of MPICH's hydra; Slurm's pmi2 plugin answers it too): text lines
 * "cmd=NAME key=value ..." on the descriptor PMI_FD, rank and size in
 * PMI_RANK and PMI_SIZE. One conversation per process: init at the first
 * open, finalize when the last device that used it closes (after that the
 * process cannot bootstrap again: the server has let it go).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "udp.h"
#include "udp_boot.h"

#define LINE_MAX_LEN 1024

static pthread_mutex_t pmi_lock = PTHREAD_MUTEX_INITIALIZER;
static int pmi_fd = -1;
static unsigned pmi_users; /* devices open through it */
static unsigned pmi_opens; /* opens so far: the key of the next */
static bool pmi_done;	   /* finalized */
static char pmi_kvs[256];

static int pmi_write(const char *line)
{
	size_t n = strlen(line), off = 0;

	while (off < n) {
		ssize_t w = write(pmi_fd, line + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return clcp__err(EIO, "udp: pmi1 bootstrap: write to PMI_FD: %s",
					 w < 0 ? strerror(errno) : "closed");
		off += (size_t)w;
	}
	return 0;
}

/* One line from the server, without its '\n'. */
static int pmi_read(char *line, size_t cap)
{
	size_t n = 0;

	while (n + 1 < cap) {
		ssize_t r = read(pmi_fd, line + n, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return clcp__err(EIO, "udp: pmi1 bootstrap: read from PMI_FD: %s",
					 r < 0 ? strerror(errno) : "closed by the server");
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	return 0;
}

/* The value of key in a reply line ("" if absent), into out. */
static void pmi_field(const char *line, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);
	const char *p = line;

	out[0] = '\0';
	while ((p = strstr(p, key)) != NULL) {
		if ((p == line || p[-1] == ' ') && p[klen] == '=') {
			size_t n = strcspn(p + klen + 1, " ");

			snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p + klen + 1);
			return;
		}
		p += klen;
	}
}

/* Sends req, reads the reply, which must be cmd=want (and rc=0 if it has an rc). */
static int pmi_call(const char *req, const char *want, char *reply, size_t cap)
{
	char cmd[64], rc[16];
	int err = pmi_write(req);

	if (err == 0)
		err = pmi_read(reply, cap);
	if (err < 0)
		return err;
	pmi_field(reply, "cmd", cmd, sizeof(cmd));
	pmi_field(reply, "rc", rc, sizeof(rc));
	if (strcmp(cmd, want) != 0 || (rc[0] && strcmp(rc, "0") != 0))
		return clcp__err(EIO, "udp: pmi1 bootstrap: asked \"%.*s\", got \"%s\"",
				 (int)strcspn(req, "\n"), req, reply);
	return 0;
}

static int env_u32(const char *name, uint32_t max, uint32_t *out)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return clcp__err(EINVAL, "udp: pmi1 bootstrap: %s is not set", name);
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return clcp__err(EINVAL, "udp: pmi1 bootstrap: %s=%s is out of range", name, s);
	*out = (uint32_t)v;
	return 0;
}

/* init and the kvs name, once per process; pmi_lock held. */
static int pmi_start(void)
{
	char reply[LINE_MAX_LEN];
	uint32_t fd;
	int rc;

	if (pmi_done)
		return clcp__err(EIO, "udp: pmi1 bootstrap: finalized already (the last device "
				      "that used it was closed)");
	if (pmi_fd >= 0)
		return 0;
	rc = env_u32("PMI_FD", 1u << 20, &fd);
	if (rc < 0)
		return rc;
	pmi_fd = (int)fd;
	rc = pmi_call("cmd=init pmi_version=1 pmi_subversion=1\n", "response_to_init", reply,
		      sizeof(reply));
	if (rc == 0)
		rc = pmi_call("cmd=get_my_kvsname\n", "my_kvsname", reply, sizeof(reply));
	if (rc == 0)
		pmi_field(reply, "kvsname", pmi_kvs, sizeof(pmi_kvs));
	if (rc == 0 && !pmi_kvs[0])
		rc = clcp__err(EIO, "udp: pmi1 bootstrap: no kvsname in \"%s\"", reply);
	if (rc < 0)
		pmi_fd = -1;
	return rc;
}

int udp_pmi1_init(struct udp_conf *c, uint32_t *rank, uint32_t *size, char *key, size_t len)
{
	int rc = env_u32("PMI_RANK", UINT32_MAX - 1, rank);

	if (rc == 0)
		rc = env_u32("PMI_SIZE", UDP_MAX_NODES, size);
	if (rc == 0 && (*size == 0 || *rank >= *size))
		rc = clcp__err(EINVAL, "udp: pmi1 bootstrap: rank %u of %u", *rank, *size);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&pmi_lock);
	rc = pmi_start();
	if (rc == 0) {
		snprintf(key, len, "clcp.udp.%u", pmi_opens++);
		pmi_users++;
		c->boot_live = true;
	}
	pthread_mutex_unlock(&pmi_lock);
	return rc;
}

static int pmi_exchange_locked(struct udp_conf *c, const char *key, uint32_t rank, const char *addr,
			       uint32_t size)
{
	char req[LINE_MAX_LEN], reply[LINE_MAX_LEN], val[LINE_MAX_LEN];
	int rc;

	snprintf(req, sizeof(req), "cmd=put kvsname=%s key=%s.%u value=%s\n", pmi_kvs, key, rank,
		 addr);
	rc = pmi_call(req, "put_result", reply, sizeof(reply));
	if (rc == 0)
		rc = pmi_call("cmd=barrier_in\n", "barrier_out", reply, sizeof(reply));
	for (uint32_t r = 0; r < size && rc == 0; r++) {
		snprintf(req, sizeof(req), "cmd=get kvsname=%s key=%s.%u\n", pmi_kvs, key, r);
		rc = pmi_call(req, "get_result", reply, sizeof(reply));
		if (rc == 0)
			pmi_field(reply, "value", val, sizeof(val));
		if (rc == 0)
			rc = udp_conf_add(c, c->base_node + r, val, strlen(val));
	}
	return rc;
}

/* Publishes addr under key.RANK, meets the others (barrier), reads every rank's. */
int udp_pmi1_exchange(struct udp_conf *c, const char *key, uint32_t rank, const char *addr,
		      uint32_t size)
{
	int rc;

	pthread_mutex_lock(&pmi_lock);
	rc = pmi_exchange_locked(c, key, rank, addr, size);
	pthread_mutex_unlock(&pmi_lock);
	return rc;
}

void udp_pmi1_fini(void)
{
	char reply[LINE_MAX_LEN];

	pthread_mutex_lock(&pmi_lock);
	if (pmi_users > 0 && --pmi_users == 0 && pmi_fd >= 0) {
		pmi_call("cmd=finalize\n", "finalize_ack", reply, sizeof(reply));
		pmi_fd = -1;
		pmi_done = true;
	}
	pthread_mutex_unlock(&pmi_lock);
}
