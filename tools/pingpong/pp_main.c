/* SPDX-License-Identifier: MIT */
/* clcp_pingpong: the run, both ends or one. See pp.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pp.h"

/* --- running the ends --- */

static void bench_init(struct bench *bn, const struct opts *o)
{
	memset(bn, 0, sizeof *bn);
	bn->o = o;
	bufs_init(&bn->bufs, o->max_size);
	bn->rtt_cap = base_iters(o) > FLOOR_CL_ITERS ? base_iters(o) : FLOOR_CL_ITERS;
	bn->rtt = calloc(bn->rtt_cap, sizeof *bn->rtt);
	if (bn->rtt == NULL)
		fail("out of memory");
	bn->cpu[0] = bn->cpu[1] = -1;
}

static enum floor_kind floor_kind(const struct bench *bn)
{
	enum floor_kind k = bn->o->floor_kind;

	if (k == FLOOR_AUTO)
		k = strcmp(bn->backend, "udp") == 0 ? FLOOR_UDP : FLOOR_SHM;
	return k;
}

static void floor_run(struct bench *bn)
{
	if (bn->live)
		floor_shm_close(bn, bn->live);
	else if (floor_kind(bn) == FLOOR_UDP)
		floor_run_udp(bn);
	else
		floor_run_shm(bn);
	bn->live = NULL;
}

/* Counters, floor, ratios and CSV as asked; then frees the buffers. */
static void bench_finish(struct bench *bn)
{
	if (bn->counters.have)
		print_counters("client", &bn->counters);
	if (bn->o->floor) {
		floor_run(bn);
		print_floor(bn);
		print_ratios(bn);
	}
	if (bn->o->csv)
		write_csv(bn);
	bufs_free(&bn->bufs);
	free(bn->rtt);
	free(bn->lat_runs);
	free(bn->floor.pp_runs);
}

static void run_server(const struct opts *o, long node, long port, long peer_node, long peer_port)
{
	struct link l;
	struct bufs b;
	struct counters c;

	link_open(&l, o, node, port, peer_node, peer_port);
	bufs_init(&b, o->max_size);
	link_set_mode(&l, MODE_INTR); /* wait for the client asleep */
	serve(&l, &b);
	if (o->stats) {
		link_counters(&l, &c);
		print_counters("server", &c);
	}
	link_close(&l);
	bufs_free(&b);
}

static void run_client(struct bench *bn)
{
	const struct opts *o = bn->o;

	link_open(&bn->link, o, o->node, o->port, o->peer_node, o->peer_port);
	bn->mtu = link_mtu(&bn->link);
	snprintf(bn->backend, sizeof bn->backend, "%s", clcp_dev_backend(bn->link.dev));
	sizes_init(bn, opts_max_size(o, bn->mtu));
	print_header(bn);
	/* Both ends here: the shm floor beside each point, on the same CPUs. */
	if (o->floor && o->role == ROLE_BOTH && floor_kind(bn) == FLOOR_SHM)
		bn->live = floor_shm_open(bn);
	client(bn);
	if (o->stats)
		link_counters(&bn->link, &bn->counters);
	link_close(&bn->link);
}

/* Both ends: the parent is the client, a forked child the server. */
static int run_both(struct bench *bn)
{
	const struct opts *o = bn->o;
	pid_t pid = fork_peer(bn->cpu[1]);

	if (pid == 0) {
		side = " (server)";
		run_server(o, o->peer_node, o->peer_port, o->node, o->port);
		exit(0);
	}
	side = " (client)";
	pin_to(bn->cpu[0]);
	run_client(bn);
	wait_peer(pid, o->timeout_s);
	side = "";
	bench_finish(bn);
	return 0;
}

/* Client role: --cpu for the client, another CPU for the floor's peer. */
static void client_cpus(struct bench *bn, int cpu)
{
	int avail[2];
	int n = pick_cpus(avail);

	bn->cpu[0] = cpu >= 0 ? cpu : n >= 2 ? avail[0] : -1;
	bn->cpu[1] = n < 2 ? -1 : avail[0] == bn->cpu[0] ? avail[1] : avail[0];
	if (bn->cpu[0] < 0)
		bn->cpu[1] = -1;
}

static int server_main(const struct opts *o)
{
	pin_to(o->cpu);
	printf(PROG " server: node %ld port %ld, peer node %ld port %ld\n", o->node, o->port,
	       o->peer_node, o->peer_port);
	fflush(stdout);
	run_server(o, o->node, o->port, o->peer_node, o->peer_port);
	return 0;
}

/* --role rank: rank 0 reports; the others keep stdout for one line at the end (fd, or -1). */
static int rank_quiet(const struct opts *o)
{
	int fd;

	if (o->rank <= 0)
		return -1;
	fflush(stdout);
	fd = dup(STDOUT_FILENO);
	if (fd < 0 || freopen("/dev/null", "w", stdout) == NULL)
		fail("--role rank: stdout: %s", strerror(errno));
	return fd;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct bench bn;
	int say;

	opts_parse(&o, argc, argv);
	install_alarm();
	say = rank_quiet(&o);
	if (o.role == ROLE_SERVER)
		return server_main(&o);
	warn_if_busy();
	timer_calibrate();
	nulls_start(&o);
	bench_init(&bn, &o);
	if (o.role == ROLE_BOTH && pick_cpus(bn.cpu) < 2)
		bn.cpu[0] = bn.cpu[1] = -1;
	if (o.role == ROLE_BOTH)
		return run_both(&bn);
	if (o.rank < 0 || o.cpu >= 0) /* ranks share the CPUs as the launcher placed them */
		client_cpus(&bn, o.cpu);
	pin_to(bn.cpu[0]);
	run_client(&bn);
	bench_finish(&bn);
	if (say >= 0)
		dprintf(say, PROG ": rank %ld: the pair with rank %ld is done\n", o.rank,
			o.rank + 1);
	return 0;
}
