// SPDX-License-Identifier: MIT
/*
 * Threads sharing one device: pairs of threads, one endpoint each,
 * exchange messages of mixed sizes in both receive groups while another
 * thread allocates and releases channels. Plain C (no Criterion), so it
 * runs under ThreadSanitizer; exit status 0 = pass.
 *
 *   stress_threads [loopback|udp]   (udp: one node on 127.0.0.1, a pid-derived port)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <clcp/clcp.h>

#define PAIRS 2
#define ROUNDS 2000
#define MAXLEN 20000
#define CHURN 500

struct side {
	clcp_endpt_t *ep;
	int chan;
	int pinger;
	int polling;
	int failed;
};

static clcp_dev_t *dev;

static size_t msg_len(unsigned i)
{
	static const size_t lens[] = { 0, 1, 8, 33, 4095, 4096, 4097, MAXLEN };

	return lens[i % (sizeof(lens) / sizeof(lens[0]))];
}

static void fill(unsigned char *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(seed * 31u + i);
}

static int check(const unsigned char *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != (unsigned char)(seed * 31u + i))
			return -1;
	return 0;
}

static ssize_t send_one(struct side *s, const void *buf, size_t n)
{
	return s->polling ? clcp_poll_tx_msg(s->ep, s->chan, buf, n, 0)
			  : clcp_snd_message(s->ep, s->chan, buf, n, 0);
}

static ssize_t recv_one(struct side *s, void *buf, size_t cap)
{
	int c = s->chan;

	return s->polling ? clcp_poll_rx_msg(s->ep, &c, buf, cap, 0)
			  : clcp_rcv_message(s->ep, &c, buf, cap, 0);
}

/* One round: the pinger sends then receives the echo; the other echoes. */
static int round_trip(struct side *s, unsigned char *buf, unsigned i)
{
	size_t n = msg_len(i);
	ssize_t got;

	if (s->pinger) {
		fill(buf, n, i);
		if (send_one(s, buf, n) != (ssize_t)n)
			return -1;
		memset(buf, 0, MAXLEN);
		got = recv_one(s, buf, MAXLEN);
		return got == (ssize_t)n ? check(buf, n, i) : -1;
	}
	got = recv_one(s, buf, MAXLEN);
	if (got != (ssize_t)n || check(buf, n, i) < 0)
		return -1;
	return send_one(s, buf, n) == (ssize_t)n ? 0 : -1;
}

static void *side_main(void *arg)
{
	struct side *s = arg;
	unsigned char *buf = malloc(MAXLEN);

	for (unsigned i = 0; buf && i < ROUNDS && !s->failed; i++)
		if (round_trip(s, buf, i) < 0) {
			fprintf(stderr, "round %u: %s (%s)\n", i, clcp_strerror(-EPROTO),
				clcp_errmsg());
			s->failed = 1;
		}
	free(buf);
	return NULL;
}

static void *churn_main(void *arg)
{
	clcp_endpt_t *ep = arg;

	for (unsigned i = 0; i < CHURN; i++) {
		int c = clcp_alloc_chan(ep, CLCP_PORT_ANY, clcp_dev_node(dev), 9);

		if (c < 0 || clcp_release_chan(ep, c) < 0)
			return (void *)1;
	}
	return NULL;
}

static int open_pair(struct side *a, struct side *b, unsigned pair)
{
	uint16_t pa = (uint16_t)(100 + 2 * pair), pb = (uint16_t)(101 + 2 * pair);
	uint32_t node = clcp_dev_node(dev);

	if (clcp_alloc_endpt(dev, NULL, &a->ep) < 0 || clcp_alloc_endpt(dev, NULL, &b->ep) < 0)
		return -1;
	a->chan = clcp_alloc_chan(a->ep, pa, node, pb);
	b->chan = clcp_alloc_chan(b->ep, pb, node, pa);
	a->pinger = 1;
	a->polling = b->polling = (int)(pair & 1);
	return a->chan < 0 || b->chan < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	const char *backend = argc > 1 ? argv[1] : "loopback";
	char uri[64];
	struct side sides[2 * PAIRS] = { 0 };
	pthread_t th[2 * PAIRS], churn;
	clcp_endpt_t *cep;
	void *churn_rc;
	int failed = 0;

	if (strcmp(backend, "udp") == 0)
		snprintf(uri, sizeof(uri), "udp://0?local=%u", 10000u + (unsigned)getpid() % 20000u);
	else
		snprintf(uri, sizeof(uri), "%s", backend);
	if (clcp_open(uri, &dev) < 0 || clcp_alloc_endpt(dev, NULL, &cep) < 0) {
		fprintf(stderr, "open: %s\n", clcp_errmsg());
		return 1;
	}
	for (unsigned p = 0; p < PAIRS; p++)
		if (open_pair(&sides[2 * p], &sides[2 * p + 1], p) < 0) {
			fprintf(stderr, "pair %u: %s\n", p, clcp_errmsg());
			return 1;
		}
	pthread_create(&churn, NULL, churn_main, cep);
	for (unsigned i = 0; i < 2 * PAIRS; i++)
		pthread_create(&th[i], NULL, side_main, &sides[i]);
	for (unsigned i = 0; i < 2 * PAIRS; i++) {
		pthread_join(th[i], NULL);
		failed |= sides[i].failed;
	}
	pthread_join(churn, &churn_rc);
	failed |= churn_rc != NULL;
	clcp_close(dev);
	printf("stress_threads %s: %s\n", backend, failed ? "FAILED" : "ok");
	return failed;
}
