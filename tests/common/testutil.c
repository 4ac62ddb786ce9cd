// SPDX-License-Identifier: MIT
/* Test helpers: patterns, private shm directory, children, tokens. */
#include <clcp/clcp.h>

#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

int tu_child_sock = -1;
static char tu_shm_dir[PATH_MAX];

void tu_fill(void *buf, size_t len, uint32_t seed)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = tu_pat(seed, i);
}

ssize_t tu_check_at(const void *buf, size_t len, uint32_t seed, uint64_t off)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != tu_pat(seed, off + i))
			return (ssize_t)i;
	return -1;
}

uint32_t tu_private_node(void)
{
	return 8u * (uint32_t)getpid() + 8u;
}

uint64_t tu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void tu_msleep(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* --- private shared-memory directory --- */

static int tu_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw);

static int pid_alive(int pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* Removes base/clcptest.<pid>.* directories of dead test processes. */
static void tu_shm_sweep(const char *base)
{
	char path[PATH_MAX];
	struct dirent *d;
	DIR *dp = opendir(base);
	int pid;

	if (dp == NULL)
		return;
	while ((d = readdir(dp)) != NULL) {
		if (sscanf(d->d_name, "clcptest.%d.", &pid) != 1 || pid_alive(pid))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", base, d->d_name) < (int)sizeof(path))
			nftw(path, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	closedir(dp);
}

const char *tu_shm_setup(void)
{
	static const char *const bases[] = { "/dev/shm", "/tmp" };

	for (unsigned i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		tu_shm_sweep(bases[i]);
		snprintf(tu_shm_dir, sizeof(tu_shm_dir), "%s/clcptest.%d.XXXXXX", bases[i],
			 (int)getpid());
		if (mkdtemp(tu_shm_dir) != NULL) {
			setenv("CLCP_SHM_DIR", tu_shm_dir, 1);
			return tu_shm_dir;
		}
	}
	tu_shm_dir[0] = '\0';
	return NULL;
}

int tu_shm_count(const char *dir)
{
	char prefix[64];
	struct dirent *d;
	DIR *dp = opendir(dir);
	int n = 0;

	if (dp == NULL)
		return -1;
	snprintf(prefix, sizeof(prefix), "clcp-%u-", (unsigned)getuid());
	while ((d = readdir(dp)) != NULL)
		if (strncmp(d->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(dp);
	return n;
}

void tu_shm_list(const char *dir, char *buf, size_t len)
{
	char prefix[64];
	struct dirent *d;
	DIR *dp = opendir(dir);
	size_t used = 0;

	buf[0] = '\0';
	if (dp == NULL)
		return;
	snprintf(prefix, sizeof(prefix), "clcp-%u-", (unsigned)getuid());
	while ((d = readdir(dp)) != NULL && used + 1 < len) {
		int n;

		if (strncmp(d->d_name, prefix, strlen(prefix)) != 0)
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", d->d_name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	closedir(dp);
}

#define TU_MAX_LIVE 256

/* Nodes with an endpoint file of a live process other than us. */
static unsigned live_nodes(DIR *dp, const char *prefix, uint32_t *nodes)
{
	struct dirent *d;
	unsigned n = 0;
	unsigned node;
	const char *pp;
	int pid;

	while ((d = readdir(dp)) != NULL && n < TU_MAX_LIVE) {
		if (strncmp(d->d_name, prefix, strlen(prefix)) != 0 ||
		    sscanf(d->d_name + strlen(prefix), "n%u-", &node) != 1)
			continue;
		pp = strstr(d->d_name, "-p");
		if (pp != NULL && sscanf(pp, "-p%d-", &pid) == 1 && pid != getpid() &&
		    pid_alive(pid))
			nodes[n++] = node;
	}
	rewinddir(dp);
	return n;
}

int tu_shm_leftovers(const char *dir, int *live)
{
	uint32_t nodes[TU_MAX_LIVE];
	char prefix[64];
	struct dirent *d;
	DIR *dp = opendir(dir);
	unsigned nlive, node, i;
	int n = 0;

	*live = 0;
	if (dp == NULL)
		return -1;
	snprintf(prefix, sizeof(prefix), "clcp-%u-", (unsigned)getuid());
	nlive = live_nodes(dp, prefix, nodes);
	while ((d = readdir(dp)) != NULL) {
		if (strncmp(d->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if (sscanf(d->d_name + strlen(prefix), "n%u", &node) == 1) {
			for (i = 0; i < nlive && nodes[i] != node; i++)
				;
			if (i < nlive) {
				(*live)++;
				continue;
			}
		}
		n++;
	}
	closedir(dp);
	return n;
}

static int tu_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

void tu_shm_teardown(void)
{
	if (tu_shm_dir[0] == '\0')
		return;
	nftw(tu_shm_dir, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tu_shm_dir[0] = '\0';
}

/* --- children --- */

pid_t tu_fork(int (*fn)(void *arg), void *arg, int *sock)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (pid == 0) {
		close(sv[0]);
		tu_child_sock = sv[1];
		alarm(TU_CHILD_ALARM_S);
		_exit(fn(arg));
	}
	close(sv[1]);
	if (sock != NULL)
		*sock = sv[0];
	else
		close(sv[0]);
	return pid;
}

int tu_wait(pid_t pid, unsigned ms, int *status)
{
	uint64_t end = tu_now_ms() + ms;
	pid_t r;

	for (;;) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (tu_now_ms() >= end)
			break;
		tu_msleep(5);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return -ETIMEDOUT;
}

const char *tu_status_str(int status)
{
	static char buf[48];

	if (WIFEXITED(status))
		snprintf(buf, sizeof(buf), "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, sizeof(buf), "signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, sizeof(buf), "status 0x%x", status);
	return buf;
}

/* --- tokens --- */

int tu_readable(int fd, unsigned ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t end = tu_now_ms() + ms;
	int rc;

	for (;;) {
		rc = poll(&pfd, 1, (int)(end > tu_now_ms() ? end - tu_now_ms() : 0));
		if (rc >= 0)
			return rc > 0;
		if (errno != EINTR)
			return -errno;
	}
}

static int tu_read_all(int sock, void *buf, size_t len, unsigned ms)
{
	uint8_t *p = buf;
	ssize_t n;
	int rc;

	while (len > 0) {
		rc = tu_readable(sock, ms);
		if (rc <= 0)
			return rc < 0 ? rc : -ETIMEDOUT;
		n = read(sock, p, len);
		if (n == 0)
			return -EPIPE;
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		}
	}
	return 0;
}

static int tu_write_all(int sock, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(sock, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		}
	}
	return 0;
}

int tu_put(int sock, char token)
{
	return tu_write_all(sock, &token, 1);
}

int tu_get(int sock, unsigned ms)
{
	unsigned char c;
	int rc = tu_read_all(sock, &c, 1, ms);

	return rc < 0 ? rc : c;
}

int tu_expect(int sock, char token, unsigned ms)
{
	int rc = tu_get(sock, ms);

	if (rc < 0)
		return rc;
	return rc == (unsigned char)token ? 0 : -EPROTO;
}

int tu_put_u64(int sock, uint64_t v)
{
	return tu_write_all(sock, &v, sizeof(v));
}

int tu_get_u64(int sock, unsigned ms, uint64_t *v)
{
	return tu_read_all(sock, v, sizeof(*v), ms);
}

int tu_stat_get(const struct clcp_stat *st, int n, int cap, const char *name, uint64_t *v)
{
	for (int i = 0; i < n && n <= cap; i++) {
		if (strcmp(st[i].name, name) == 0) {
			*v = st[i].value;
			return 0;
		}
	}
	return -1;
}
