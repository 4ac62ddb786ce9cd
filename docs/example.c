/* SPDX-License-Identifier: MIT */
/* Ping-pong over loopback: two processes, ports 10 and 20 of this node. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clcp/clcp.h>

static int side(uint16_t me, uint16_t peer, const char *say)
{
	clcp_dev_t *dev;
	clcp_endpt_t *ep;
	char buf[64];
	int chan, rc;
	ssize_t n = 0;

	if ((rc = clcp_open("loopback", &dev)) < 0)
		return rc;
	if ((rc = clcp_alloc_endpt(dev, NULL, &ep)) >= 0 &&
	    (rc = chan = clcp_alloc_chan(ep, me, clcp_dev_node(dev), peer)) >= 0) {
		if (me == 10) /* the pinger speaks first */
			n = clcp_snd_message(ep, chan, say, 5, 0);
		if (n >= 0)
			n = clcp_rcv_message(ep, &chan, buf, sizeof(buf), 0);
		if (n >= 0)
			printf("port %u got \"%.*s\"\n", me, (int)n, buf);
		if (n >= 0 && me == 20)
			n = clcp_snd_message(ep, chan, say, 5, 0);
		rc = n < 0 ? (int)n : 0;
	}
	clcp_close(dev); /* releases the endpoint and its channels */
	return rc;
}

int main(void)
{
	pid_t pid = fork();
	int rc, status;

	if (pid == 0)
		exit(side(20, 10, "pong") < 0);
	rc = side(10, 20, "ping");
	if (rc < 0)
		fprintf(stderr, "example: %s\n", clcp_strerror(rc));
	waitpid(pid, &status, 0);
	return rc < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}
