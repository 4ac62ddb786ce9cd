// SPDX-License-Identifier: MIT
/*
 * An unrelated peer process for the conformance suite: started by exec,
 * it shares nothing with its parent but the backend. It echoes COUNT
 * messages back on its one channel, then exits 0 (1 on any error).
 *
 *   clcp_test_peer URI MY_PORT PEER_NODE PEER_PORT COUNT
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <clcp/clcp.h>

#define PEER_CAP (1u << 20)
#define PEER_ALARM_S 40

static unsigned long arg_num(const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v > max) {
		fprintf(stderr, "clcp_test_peer: bad number \"%s\"\n", s);
		exit(2);
	}
	return v;
}

static int echo(clcp_endpt_t *ep, int chan, unsigned long count)
{
	char *buf = malloc(PEER_CAP);
	ssize_t n;

	if (buf == NULL)
		return 1;
	for (unsigned long i = 0; i < count; i++) {
		int c = chan;

		n = clcp_rcv_message(ep, &c, buf, PEER_CAP, 0);
		if (n < 0) {
			fprintf(stderr, "peer: receive %lu: %s (%s)\n", i, clcp_strerror((int)n),
				clcp_errmsg());
			return 1;
		}
		n = clcp_snd_message(ep, chan, buf, (size_t)n, 0);
		if (n < 0) {
			fprintf(stderr, "peer: send %lu: %s (%s)\n", i, clcp_strerror((int)n),
				clcp_errmsg());
			return 1;
		}
	}
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	clcp_endpt_t *ep;
	clcp_dev_t *dev;
	int rc, chan;

	if (argc != 6) {
		fprintf(stderr, "usage: %s URI MY_PORT PEER_NODE PEER_PORT COUNT\n", argv[0]);
		return 2;
	}
	alarm(PEER_ALARM_S);
	rc = clcp_open(argv[1], &dev);
	if (rc == 0)
		rc = clcp_alloc_endpt(dev, NULL, &ep);
	if (rc < 0) {
		fprintf(stderr, "peer: %s: %s (%s)\n", argv[1], clcp_strerror(rc), clcp_errmsg());
		return 1;
	}
	chan = clcp_alloc_chan(ep, (uint16_t)arg_num(argv[2], 65535),
			       (uint32_t)arg_num(argv[3], UINT32_MAX),
			       (uint16_t)arg_num(argv[4], 65535));
	if (chan < 0) {
		fprintf(stderr, "peer: channel: %s\n", clcp_strerror(chan));
		return 1;
	}
	rc = echo(ep, chan, arg_num(argv[5], 1000000));
	if (clcp_close(dev) != 0)
		rc = 1;
	return rc;
}
