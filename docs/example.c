/* Ping-pong over loopback: two processes, ports 10 and 20 of one node. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clcp/clcp.h>

/* One side: an endpoint, a channel to the other side's port, one exchange. */
static int side(uint16_t me, uint16_t peer, const char *say)
{
	clcp_dev_t *dev;
	clcp_endpt_t *ep;
	char buf[64];
	int chan = -1;
	ssize_t n = clcp_open("loopback", &dev);

	if (n < 0)
		return (int)n;
	n = clcp_alloc_endpt(dev, NULL, &ep);
	if (n == 0)
		n = chan = clcp_alloc_chan(ep, me, clcp_dev_node(dev), peer);
	if (n >= 0 && me == 10) /* the pinger speaks first */
		n = clcp_snd_message(ep, chan, say, 5, 0);
	if (n >= 0) /* sleeps until a whole message is there */
		n = clcp_rcv_message(ep, &chan, buf, sizeof(buf), 0);
	if (n >= 0)
		printf("port %u got \"%.*s\"\n", me, (int)n, buf);
	if (n >= 0 && me == 20)
		n = clcp_snd_message(ep, chan, say, 5, 0);
	clcp_close(dev); /* releases the endpoint and its channel */
	return n < 0 ? (int)n : 0;
}

int main(void)
{
	pid_t pid = fork();
	int rc, status = 0;

	if (pid == 0)
		exit(side(20, 10, "pong") < 0);
	rc = side(10, 20, "ping");
	if (rc < 0)
		fprintf(stderr, "example: %s\n", clcp_strerror(rc));
	waitpid(pid, &status, 0);
	return rc < 0 || status != 0;
}
