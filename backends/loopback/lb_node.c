/* SPDX-License-Identifier: MIT */
/* Loopback node segment: endpoint table, port map, users, reclaiming. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lb.h"

size_t lb_node_size(uint32_t max_endpts)
{
	return sizeof(struct lb_node) + max_endpts * sizeof(struct lb_slot);
}

/* A zombie (killed, not yet reaped) counts as dead. */
bool lb_pid_dead(int32_t pid)
{
	char path[64], buf[128];
	const char *state;
	ssize_t n;
	int fd;

	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	state = strrchr(buf, ')'); /* "pid (comm) S ..." */
	return state && (state[2] == 'Z' || state[2] == 'X');
}

void lb_node_lock(struct lb_node *n)
{
	if (pthread_mutex_lock(&n->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&n->lock);
}

void lb_node_unlock(struct lb_node *n)
{
	pthread_mutex_unlock(&n->lock);
}

static void node_path(struct lb_dev *lb, char *buf, size_t len, uint32_t node)
{
	snprintf(buf, len, "%s/clcp-%u-n%u", lb->dir, lb->uid, node);
}

void lb_ep_path(struct lb_dev *lb, char *buf, size_t len, uint32_t node,
		uint32_t idx, int32_t pid, uint32_t gen)
{
	snprintf(buf, len, "%s/clcp-%u-n%u-e%u-p%d-g%u", lb->dir, lb->uid, node,
		 idx, pid, gen);
}

void lb_wake_name(struct lb_dev *lb, char *name, size_t len, uint32_t node,
		  uint32_t idx, uint32_t gen)
{
	/* Abstract socket name (leading NUL): gone with its socket. */
	name[0] = '\0';
	snprintf(name + 1, len - 1, "clcp-%u-%08x-n%u-e%u-g%u", lb->uid,
		 lb->dir_hash, node, idx, gen);
}

/* Creates a 0600 file of size bytes, backed now (ENOSPC up front), mapped. */
int lb_file_create(const char *path, size_t size, void **map)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int rc;

	if (fd < 0)
		return clcp__err(errno, "cannot create %s: %s", path, strerror(errno));
	rc = posix_fallocate(fd, 0, (off_t)size);
	if (rc != 0) {
		close(fd);
		unlink(path);
		if (rc == ENOSPC)
			return clcp__err(ENOSPC, "%s: shared memory too small for %zu bytes (grow /dev/shm or set CLCP_SHM_DIR)",
					 path, size);
		return clcp__err(rc, "cannot size %s: %s", path, strerror(rc));
	}
	*map = mmap(NULL, size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_POPULATE, fd, 0);
	close(fd);
	if (*map == MAP_FAILED) {
		unlink(path);
		return clcp__err(ENOMEM, "cannot map %s", path);
	}
	return 0;
}

static int node_create(struct lb_dev *lb, const char *path, uint32_t max_endpts)
{
	pthread_mutexattr_t ma;
	struct lb_node *n;
	void *map;
	int rc = lb_file_create(path, lb_node_size(max_endpts), &map);

	if (rc < 0)
		return rc;
	n = map;
	n->max_endpts = max_endpts;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&n->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	/* R6: the segment is ready; pairs with the A6 of openers. */
	clcp_store_release(&n->magic, LB_NODE_MAGIC);
	lb->node = n;
	lb->node_size = lb_node_size(max_endpts);
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { 0, (long)ms * 1000000L };

	nanosleep(&ts, NULL);
}

/* Maps an existing node file: 1 mapped, 0 gone or dying (retry), <0 error. */
static int node_map(struct lb_dev *lb, const char *path, struct lb_node **np,
		    size_t *sizep)
{
	struct lb_node *n;
	struct stat st;
	int fd, tries;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : clcp__err(errno, "cannot open %s", path);
	for (tries = 0; tries < 1000; tries++) {
		if (fstat(fd, &st) < 0 || st.st_size >= (off_t)sizeof(*n))
			break;
		sleep_ms(1); /* its creator is still sizing it */
	}
	if (st.st_uid != lb->uid || (st.st_mode & 077)) {
		close(fd);
		return clcp__err(EACCES, "%s is not private to this user", path);
	}
	n = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_POPULATE, fd, 0);
	close(fd);
	if (n == MAP_FAILED)
		return clcp__err(ENOMEM, "cannot map %s", path);
	/* A6: pairs with R6 of the creator. */
	for (tries = 0; tries < 1000 && clcp_load_acquire(&n->magic) == 0; tries++)
		sleep_ms(1);
	if (clcp_load_acquire(&n->magic) != LB_NODE_MAGIC) {
		munmap(n, (size_t)st.st_size);
		return 0;
	}
	*np = n;
	*sizep = (size_t)st.st_size;
	return 1;
}

static void slot_reclaim(struct lb_dev *lb, uint32_t node, uint32_t idx)
{
	struct lb_slot *s = &lb->node->slots[idx];
	char path[PATH_MAX];
	uint32_t p;

	lb_ep_path(lb, path, sizeof(path), node, idx, s->pid, s->gen);
	unlink(path);
	for (p = 1; p < LB_NPORTS; p++)
		if (LB_PORT_EP1(lb->node->ports[p]) == idx + 1)
			clcp_store_release(&lb->node->ports[p], (uint64_t)0);
	s->state = LB_SLOT_FREE;
}

/* Under the lock: forget users and endpoints of dead processes. */
static void node_reap(struct lb_dev *lb, uint32_t node)
{
	struct lb_node *n = lb->node;
	uint32_t i;

	for (i = 0; i < LB_MAX_USERS; i++)
		if (n->users[i] && lb_pid_dead(n->users[i]))
			n->users[i] = 0;
	for (i = 0; i < n->max_endpts; i++)
		if (n->slots[i].state != LB_SLOT_FREE && lb_pid_dead(n->slots[i].pid))
			slot_reclaim(lb, node, i);
}

/* Removes a node file whose users and endpoints are all dead processes. */
static void node_file_reap(struct lb_dev *lb, const char *name)
{
	struct lb_dev tmp = *lb;
	char path[PATH_MAX + 256];
	unsigned node;
	bool empty = true;
	uint32_t i;

	if (sscanf(name + strlen("clcp-"), "%*u-n%u", &node) != 1 ||
	    snprintf(path, sizeof(path), "%s/%s", lb->dir, name) >= (int)sizeof(path) ||
	    node_map(lb, path, &tmp.node, &tmp.node_size) <= 0)
		return;
	lb_node_lock(tmp.node);
	node_reap(&tmp, node);
	for (i = 0; i < LB_MAX_USERS && empty; i++)
		empty = tmp.node->users[i] == 0;
	for (i = 0; i < tmp.node->max_endpts && empty; i++)
		empty = tmp.node->slots[i].state == LB_SLOT_FREE;
	if (empty) {
		clcp_store_release(&tmp.node->magic, LB_NODE_DEAD);
		unlink(path);
	}
	lb_node_unlock(tmp.node);
	munmap(tmp.node, tmp.node_size);
}

/* Removes endpoint files whose process is dead (their node file is gone). */
static void dir_reap(struct lb_dev *lb)
{
	char prefix[64], path[PATH_MAX + 256];
	struct dirent *d;
	const char *p;
	DIR *dir = opendir(lb->dir);
	int pid;

	if (!dir)
		return;
	snprintf(prefix, sizeof(prefix), "clcp-%u-n", lb->uid);
	while ((d = readdir(dir)) != NULL) {
		if (strncmp(d->d_name, prefix, strlen(prefix)) != 0)
			continue;
		p = strstr(d->d_name, "-p");
		if (!p) {
			node_file_reap(lb, d->d_name);
			continue;
		}
		if (sscanf(p, "-p%d-", &pid) != 1 || !lb_pid_dead(pid))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", lb->dir, d->d_name) <
		    (int)sizeof(path))
			unlink(path);
	}
	closedir(dir);
}

static int user_add(struct lb_node *n)
{
	uint32_t i;

	for (i = 0; i < LB_MAX_USERS; i++)
		if (n->users[i] == 0) {
			n->users[i] = getpid();
			return 0;
		}
	return clcp__err(EBUSY, "node has %u users already", LB_MAX_USERS);
}

int lb_node_attach(struct clcp_dev *dev, struct lb_dev *lb, uint32_t max_endpts)
{
	char path[PATH_MAX];
	int rc, tries;

	dir_reap(lb);
	node_path(lb, path, sizeof(path), dev->node);
	for (tries = 0; tries < 100; tries++) {
		rc = node_map(lb, path, &lb->node, &lb->node_size);
		if (rc == 0) {
			rc = node_create(lb, path, max_endpts);
			if (rc == -EEXIST)
				continue;
		}
		if (rc < 0)
			return rc;
		lb_node_lock(lb->node);
		if (clcp_load_relaxed(&lb->node->magic) == LB_NODE_MAGIC)
			break;
		lb_node_unlock(lb->node); /* closed under us: start again */
		munmap(lb->node, lb->node_size);
		lb->node = NULL;
	}
	if (!lb->node)
		return clcp__err(EAGAIN, "node %u segment keeps changing", dev->node);
	node_reap(lb, dev->node);
	rc = user_add(lb->node);
	dev->max_endpts = lb->node->max_endpts;
	lb_node_unlock(lb->node);
	if (rc < 0)
		lb_node_detach(dev, lb);
	return rc;
}

void lb_node_detach(struct clcp_dev *dev, struct lb_dev *lb)
{
	struct lb_node *n = lb->node;
	char path[PATH_MAX];
	bool last = true;
	uint32_t i;

	if (!n)
		return;
	lb_node_lock(n);
	for (i = 0; i < LB_MAX_USERS; i++)
		if (n->users[i] == getpid()) {
			n->users[i] = 0;
			break;
		}
	node_reap(lb, dev->node);
	for (i = 0; i < LB_MAX_USERS && last; i++)
		last = n->users[i] == 0;
	for (i = 0; i < n->max_endpts && last; i++)
		last = n->slots[i].state == LB_SLOT_FREE;
	if (last) {
		clcp_store_release(&n->magic, LB_NODE_DEAD);
		node_path(lb, path, sizeof(path), dev->node);
		unlink(path);
	}
	lb_node_unlock(n);
	munmap(n, lb->node_size);
	lb->node = NULL;
}

/* A dead node's segment that no channel points into any more: unmapped, its slot free. */
static void nodemap_reclaim(struct lb_nodemap *m)
{
	if (!m->seg || !m->dead || m->refs)
		return;
	munmap(m->seg, m->size);
	memset(m, 0, sizeof(*m));
}

void lb_node_ref(struct lb_dev *lb, const struct lb_node *seg, int delta)
{
	for (uint32_t i = 0; i < LB_MAX_NODES; i++) {
		struct lb_nodemap *m = &lb->others[i];

		if (m->seg != seg)
			continue;
		m->refs += (uint32_t)delta;
		nodemap_reclaim(m);
		return;
	}
}

/* A node segment mapped for reading its port map (ours or another's). */
struct lb_node *lb_node_peek(struct clcp_dev *dev, struct lb_dev *lb, uint32_t node)
{
	struct lb_nodemap *m, *free_m = NULL;
	char path[PATH_MAX];
	uint32_t i;

	if (node == dev->node)
		return lb->node;
	for (i = 0; i < LB_MAX_NODES; i++) {
		m = &lb->others[i];
		if (m->seg && !m->dead && m->node == node) {
			if (clcp_load_acquire(&m->seg->magic) == LB_NODE_MAGIC)
				return m->seg;
			m->dead = true; /* that node closed: look again */
		}
		nodemap_reclaim(m);
		if (!m->seg && !free_m)
			free_m = m;
	}
	if (!free_m)
		return NULL;
	node_path(lb, path, sizeof(path), node);
	if (node_map(lb, path, &free_m->seg, &free_m->size) <= 0)
		return NULL;
	free_m->node = node;
	return free_m->seg;
}
