/* SPDX-License-Identifier: MIT */
/* Consumer of an installed CLCP: opens loopback, allocates an endpoint. */
#include <errno.h>
#include <stdio.h>

#include <clcp/clcp.h>

int main(void)
{
	clcp_dev_t *dev;
	clcp_endpt_t *ep;
	int rc;

	rc = clcp_open("loopback", &dev);
	if (rc < 0) {
		fprintf(stderr, "clcp_open: %s (%s)\n", clcp_strerror(rc), clcp_errmsg());
		return 1;
	}
	rc = clcp_alloc_endpt(dev, NULL, &ep);
	if (rc < 0) {
		fprintf(stderr, "clcp_alloc_endpt: %s (%s)\n", clcp_strerror(rc), clcp_errmsg());
		clcp_close(dev);
		return 1;
	}
	printf("consumer: %s node %u, endpoint fd %d, -EINVAL: %s\n", clcp_dev_backend(dev),
	       clcp_dev_node(dev), clcp_endpt_fd(ep), clcp_strerror(-EINVAL));
	rc = clcp_release_endpt(ep);
	if (rc == 0)
		rc = clcp_close(dev);
	return rc < 0;
}
