/* SPDX-License-Identifier: MIT */
/*
 * UDP backend, the AF_XDP mode (docs/udp.md, "AF_XDP mode"). The XDP
 * program (bpf/udp_xdp.bpf.c, built into the library) sends the node's
 * IPv4 UDP packets to an AF_XDP socket on one Rx queue of the node's
 * interface; its UMEM frames are parsed and built here (Ethernet, IPv4,
 * UDP, checksums) and the datagrams inside go through the same engine as
 * the socket mode's (udp_dgram_input_at, the same wire format). What the
 * ring cannot carry goes through the node's UDP socket, which stays bound:
 * packets larger than a UMEM frame or the link MTU, peers whose Ethernet
 * address the kernel's neighbour table does not have yet (sending by the
 * socket makes the kernel resolve it), resets. The program is attached
 * when the device opens; the UMEM and the socket come with the first
 * endpoint, whose queues size the rings and whose Rx buffers, when its mtu
 * fits a UMEM frame, lie in the UMEM: the kernel writes a packet's payload
 * straight into one of them (docs/udp.md, "AF_XDP mode"). Everything here
 * runs with udp_dev.lock held unless it says otherwise.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "udp.h"

static uint32_t ring_clamp(uint32_t n)
{
	return n < UDP_XDP_RING_MIN ? UDP_XDP_RING_MIN :
	       n > UDP_XDP_RING_MAX ? UDP_XDP_RING_MAX :
				      n;
}

/*
 * The rings' entries: the fill and Rx rings twice the Rx queue (credits
 * bound the data frames in flight toward it to the posted slots; acks and
 * other endpoints' frames share the ring), the Tx and completion rings
 * twice the Tx queue (one kick puts the whole queue on the ring, with its
 * acks and resends), each 64..4096; xdp_ring=N (ring) sets them all.
 */
void udp_xdp_rings(uint32_t rxq_len, uint32_t txq_len, uint32_t ring, uint32_t *rx, uint32_t *tx)
{
	*rx = ring ? ring : ring_clamp(2 * rxq_len);
	*tx = ring ? ring : ring_clamp(2 * txq_len);
}

#ifdef CLCP_HAVE_XDP
#include <ifaddrs.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>

#define XSK_FRAME 4096u
#define XSK_HEADROOM 2u /* the UDP payload (CLCP header) 4-aligned in every frame */
#define TX_OFF XSK_HEADROOM
#define STORE_OFF (TX_OFF + PKT_HDRS + UDP_HDR_LEN) /* a store slot's payload in its frame */
#define PKT_HDRS (ETH_HLEN + 20u + 8u)
/* A payload in place: the kernel writes the packet this far before it (fill address to payload). */
#define PLACE_OFF (XDP_PACKET_HEADROOM + XSK_HEADROOM + PKT_HDRS + UDP_HDR_LEN)
#define PLACE_ROOM 384u			   /* an Rx buffer's headroom: PLACE_OFF, 64-aligned */
#define PLACE_SPAN (XSK_FRAME - PLACE_OFF) /* bytes the kernel may write from the payload on */
_Static_assert(PLACE_ROOM >= PLACE_OFF && PLACE_ROOM % 64u == 0, "Rx buffer headroom");
#define NEIGH_SLOTS 64u
#define NEIGH_RETRY_MS 20u

/* The BPF object, embedded by the build (udp_xdp_obj.c). */
extern const unsigned char udp_xdp_obj[];
extern const size_t udp_xdp_obj_len;

/* cfg[0] of the XDP program: what is ours (network order). */
struct udp_xdp_cfg {
	uint32_t addr;
	uint16_t port;
	uint16_t max_len;
};

struct udp_neigh {
	uint32_t ip; /* network order; 0: free */
	uint8_t mac[ETH_ALEN];
	bool ok;
	uint64_t next_ms; /* not resolved: look again then */
};

struct udp_xsk {
	struct xsk_ring_prod fq, tx;
	struct xsk_ring_cons cq, rx;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct udp_xdp_prog prog;
	int link_fd, fd;
	unsigned char *area; /* the UMEM: Tx frames, then Rx frames or the mapped endpoint */
	size_t area_len;
	uint32_t ring_rx, ring_tx; /* entries of the fill and Rx rings; of the Tx and completion
				      rings */
	uint32_t pkt_max; /* largest packet a frame takes (Ethernet header on) */
	uint32_t ifmtu, queue;
	char ifname[IF_NAMESIZE];
	uint8_t mac[ETH_ALEN];
	uint32_t saddr; /* network order */
	uint16_t sport; /* network order */
	uint16_t ip_id;
	uint64_t *tx_free; /* UMEM addresses of free Tx frames (twice the Tx ring's entries) */
	uint32_t ntx_free, tx_out, tx_pending; /* tx_out: descriptors not completed */
	uint8_t *tx_held;		       /* per Tx frame: a retransmit store slot holds it */
	uint16_t *tx_busy;		       /* per Tx frame: its descriptors not completed */
	uint32_t ntx_held; /* at most ring_tx: as many stay for packets built by copy */
	uint64_t cur; /* the frame udp_xsk_tx_get handed out */
	bool zc;      /* bound in zero-copy mode */
	bool native;  /* the program runs in the driver */
	/* The first endpoint's region, in the UMEM: its own Rx buffers are on the fill ring. */
	size_t map_off, map_len;     /* map_len 0: no endpoint in the UMEM */
	struct clcp_endpt *map_ep;   /* started and not released; NULL: payloads copied */
	struct clcp_endpt *map_wait; /* allocated, not started yet */
	uint64_t refill;	     /* the UMEM address the packet being read goes back as */
	const unsigned char *place;  /* its payload when it sits at a buffer of map_ep */
	enum udp_xdp_mode mode;
	struct udp_neigh neigh[NEIGH_SLOTS];
};

/* --- the XDP program --- */

int udp_xdp_prog_load(struct udp_xdp_prog *p)
{
	struct bpf_program *prog;
	int rc;

	memset(p, 0, sizeof(*p));
	p->obj = bpf_object__open_mem(udp_xdp_obj, udp_xdp_obj_len, NULL);
	if (!p->obj) {
		rc = -errno;
		return clcp__err(-rc, "udp xdp: BPF object: %s", strerror(-rc));
	}
	rc = bpf_object__load(p->obj);
	prog = bpf_object__find_program_by_name(p->obj, "udp_xdp");
	if (rc < 0 || !prog) {
		rc = rc < 0 ? rc : -ENOENT;
		bpf_object__close(p->obj);
		p->obj = NULL;
		return clcp__err(-rc, "udp xdp: loading the XDP program: %s", strerror(-rc));
	}
	p->prog_fd = bpf_program__fd(prog);
	p->xsks_fd = bpf_object__find_map_fd_by_name(p->obj, "xsks");
	p->cfg_fd = bpf_object__find_map_fd_by_name(p->obj, "cfg");
	return 0;
}

void udp_xdp_prog_free(struct udp_xdp_prog *p)
{
	if (p->obj)
		bpf_object__close(p->obj);
	p->obj = NULL;
}

int udp_xdp_prog_cfg(const struct udp_xdp_prog *p, uint32_t addr, uint16_t port, uint16_t max_len)
{
	struct udp_xdp_cfg c = { .addr = addr, .port = port, .max_len = max_len };
	uint32_t k = 0;

	if (bpf_map_update_elem(p->cfg_fd, &k, &c, BPF_ANY) < 0)
		return clcp__err(errno, "udp xdp: configuring the program: %s", strerror(errno));
	return 0;
}

/* --- the interface --- */

/* The interface that holds the node's IPv4 address: name, index, MTU, Ethernet address. */
static int if_find(struct udp_xsk *x)
{
	struct ifaddrs *ifa, *i;
	struct ifreq ifr = { 0 };
	int s, rc = -EADDRNOTAVAIL;

	if (getifaddrs(&ifa) < 0)
		return clcp__err(errno, "getifaddrs: %s", strerror(errno));
	for (i = ifa; i; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == x->saddr) {
			snprintf(x->ifname, sizeof(x->ifname), "%s", i->ifa_name);
			rc = 0;
			break;
		}
	freeifaddrs(ifa);
	if (rc < 0)
		return clcp__err(-rc, "no interface holds the node's address");
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", x->ifname);
	if (s < 0 || ioctl(s, SIOCGIFHWADDR, &ifr) < 0 || ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
		rc = clcp__err(EOPNOTSUPP, "%s is not an Ethernet device", x->ifname);
	memcpy(x->mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	if (rc == 0 && ioctl(s, SIOCGIFMTU, &ifr) < 0)
		rc = clcp__err(errno, "%s: MTU: %s", x->ifname, strerror(errno));
	x->ifmtu = (uint32_t)ifr.ifr_mtu;
	if (s >= 0)
		close(s);
	return rc;
}

static bool mac_parse(const char *s, uint8_t *mac)
{
	unsigned m[ETH_ALEN];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != ETH_ALEN)
		return false;
	for (unsigned i = 0; i < ETH_ALEN; i++)
		mac[i] = (uint8_t)m[i];
	return true;
}

/* The Ethernet address of ip (network order) on our interface, from the kernel's ARP table. */
static bool arp_lookup(const struct udp_xsk *x, uint32_t ip, uint8_t *mac)
{
	char line[256], addr[64], hw[64], dev[IF_NAMESIZE + 1];
	unsigned flags;
	struct in_addr a;
	bool ok = false;
	FILE *f = fopen("/proc/net/arp", "re");

	if (!f)
		return false;
	while (!ok && fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %*s %x %63s %*s %16s", addr, &flags, hw, dev) == 4 &&
		    inet_pton(AF_INET, addr, &a) == 1 && a.s_addr == ip && (flags & ATF_COM) &&
		    strcmp(dev, x->ifname) == 0)
			ok = mac_parse(hw, mac);
	fclose(f);
	return ok;
}

/* The peer's Ethernet address, cached; NULL while the kernel has none (the socket sends then). */
static const uint8_t *neigh_mac(struct udp_xsk *x, uint32_t ip)
{
	struct udp_neigh *n = &x->neigh[(ntohl(ip) * 2654435761u) >> 26];
	uint64_t now = udp_now_us() / 1000u;

	if (n->ip == ip && n->ok)
		return n->mac;
	if (n->ip == ip && now < n->next_ms)
		return NULL;
	n->ip = ip;
	n->ok = arp_lookup(x, ip, n->mac);
	n->next_ms = now + NEIGH_RETRY_MS;
	return n->ok ? n->mac : NULL;
}

/* --- checksums --- */

static uint32_t csum_add(uint32_t sum, const unsigned char *p, size_t n)
{
	uint64_t s = sum;
	size_t i;

	for (i = 0; i + 4 <= n; i += 4) {
		uint32_t w;

		memcpy(&w, p + i, 4);
		s += w;
	}
	for (; i + 2 <= n; i += 2) {
		uint16_t w;

		memcpy(&w, p + i, 2);
		s += w;
	}
	if (i < n)
		s += htons((uint16_t)(p[i] << 8));
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

static uint16_t csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The UDP checksum of ip's datagram (pseudo header, UDP header, payload); 0 is sent as 0xffff. */
static uint16_t udp_csum(const struct iphdr *ip, const unsigned char *udp, size_t n)
{
	uint32_t s = csum_add(0, (const unsigned char *)&ip->saddr, 8);
	uint16_t c;

	s += htons(IPPROTO_UDP) + htons((uint16_t)n);
	c = csum_fold(csum_add(s, udp, n));
	return c ? c : 0xffff;
}

/* --- UMEM and socket --- */

/*
 * The UMEM: 2 x ring_tx Tx frames, then ring_rx Rx frames on the fill ring,
 * or (map_len) the endpoint's region, whose buffers go on the fill ring
 * when it starts. Unaligned chunks: a fill address need not be a frame's.
 */
static int umem_open(struct udp_xsk *x)
{
	struct xsk_umem_config uc = { .fill_size = x->ring_rx,
				      .comp_size = x->ring_tx,
				      .frame_size = XSK_FRAME,
				      .frame_headroom = XSK_HEADROOM,
				      .flags = XDP_UMEM_UNALIGNED_CHUNK_FLAG };
	size_t tx_len = (size_t)2 * x->ring_tx * XSK_FRAME; /* half may hold store slots */
	uint32_t i, idx, nrx = x->map_len ? 0 : x->ring_rx;
	int rc;

	x->map_off = x->map_len ? tx_len : 0;
	x->area_len = tx_len + (x->map_len ? (x->map_len + 4095u) & ~(size_t)4095u :
					     (size_t)nrx * XSK_FRAME);
	x->area =
		mmap(NULL, x->area_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	x->tx_free = calloc(2 * x->ring_tx, sizeof(*x->tx_free));
	x->tx_held = calloc(2 * x->ring_tx, sizeof(*x->tx_held));
	x->tx_busy = calloc(2 * x->ring_tx, sizeof(*x->tx_busy));
	if (x->area == MAP_FAILED)
		x->area = NULL;
	if (!x->area || !x->tx_free || !x->tx_held || !x->tx_busy)
		return clcp__err(ENOMEM, "UMEM of %zu bytes: out of memory", x->area_len);
	rc = xsk_umem__create(&x->umem, x->area, x->area_len, &x->fq, &x->cq, &uc);
	if (rc < 0)
		return clcp__err(-rc, "UMEM: %s", strerror(-rc));
	for (i = 0; i < 2 * x->ring_tx; i++)
		x->tx_free[i] = (uint64_t)i * XSK_FRAME;
	x->ntx_free = 2 * x->ring_tx;
	if (nrx && xsk_ring_prod__reserve(&x->fq, nrx, &idx) != nrx)
		return clcp__err(ENOMEM, "UMEM fill ring");
	for (i = 0; i < nrx; i++)
		*xsk_ring_prod__fill_addr(&x->fq, idx + i) = tx_len + (uint64_t)i * XSK_FRAME;
	xsk_ring_prod__submit(&x->fq, nrx);
	/* The kernel puts a packet XDP_PACKET_HEADROOM + frame_headroom into its frame. */
	x->pkt_max = XSK_FRAME - XDP_PACKET_HEADROOM - XSK_HEADROOM;
	return 0;
}

/* The AF_XDP socket on queue x->queue: zero-copy if the driver can, else copy. */
static int sock_open(struct udp_xsk *x, bool native)
{
	struct xsk_socket_config sc = { .rx_size = x->ring_rx,
					.tx_size = x->ring_tx,
					.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD };
	int rc = -EOPNOTSUPP;

	if (native) {
		sc.bind_flags = XDP_USE_NEED_WAKEUP | XDP_ZEROCOPY;
		rc = xsk_socket__create(&x->xsk, x->ifname, x->queue, x->umem, &x->rx, &x->tx, &sc);
		x->zc = rc == 0;
	}
	if (rc < 0) {
		sc.bind_flags = XDP_USE_NEED_WAKEUP | XDP_COPY;
		rc = xsk_socket__create(&x->xsk, x->ifname, x->queue, x->umem, &x->rx, &x->tx, &sc);
	}
	if (rc < 0)
		return clcp__err(-rc, "AF_XDP socket on %s queue %u: %s", x->ifname, x->queue,
				 strerror(-rc));
	x->fd = xsk_socket__fd(x->xsk);
	return 0;
}

/* The program on the interface through a link (gone with the process): native, else generic. */
static int prog_attach(struct udp_xsk *x, bool skb_only, bool *native)
{
	LIBBPF_OPTS(bpf_link_create_opts, o);
	int ifindex = (int)if_nametoindex(x->ifname), fd = -1;

	*native = false;
	if (!skb_only) {
		o.flags = XDP_FLAGS_DRV_MODE;
		fd = bpf_link_create(x->prog.prog_fd, ifindex, BPF_XDP, &o);
		*native = fd >= 0;
	}
	if (fd < 0) {
		o.flags = XDP_FLAGS_SKB_MODE;
		fd = bpf_link_create(x->prog.prog_fd, ifindex, BPF_XDP, &o);
	}
	if (fd < 0)
		return clcp__err(errno, "attaching the XDP program to %s: %s", x->ifname,
				 strerror(errno));
	x->link_fd = fd;
	return 0;
}

static void xsk_free(struct udp_xsk *x)
{
	if (x->link_fd >= 0)
		close(x->link_fd);
	if (x->xsk)
		xsk_socket__delete(x->xsk);
	if (x->umem)
		xsk_umem__delete(x->umem);
	udp_xdp_prog_free(&x->prog);
	if (x->area)
		munmap(x->area, x->area_len);
	free(x->tx_free);
	free(x->tx_held);
	free(x->tx_busy);
	free(x);
}

/* At open: the interface and the program on it (nothing redirected until a socket binds). */
static int xsk_attach(struct udp_xsk *x, const struct udp_conf *c)
{
	int rc = if_find(x);

	if (rc == 0)
		rc = udp_xdp_prog_load(&x->prog);
	if (rc == 0)
		rc = prog_attach(x, c->xdp_skb, &x->native);
	x->mode = rc < 0 ? UDP_XDP_OFF : x->native ? UDP_XDP_DRV : UDP_XDP_SKB;
	return rc;
}

/* At the first endpoint: the UMEM, the socket, the program's maps; ours only when they all work. */
static int xsk_bind(struct udp_xsk *x)
{
	int rc = umem_open(x);

	if (rc == 0)
		rc = sock_open(x, x->native);
	if (rc == 0 && bpf_map_update_elem(x->prog.xsks_fd, &x->queue, &x->fd, BPF_ANY) < 0)
		rc = clcp__err(errno, "XSK map: %s", strerror(errno));
	if (rc == 0)
		rc = udp_xdp_prog_cfg(&x->prog, x->saddr, x->sport, (uint16_t)x->pkt_max);
	if (rc == 0 && x->zc)
		x->mode = UDP_XDP_DRV_ZC;
	return rc;
}

int udp_xsk_open(struct udp_dev *u)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&u->self.sa;
	struct udp_xsk *x;
	int rc;

	if (u->family != AF_INET)
		return clcp__err(EAFNOSUPPORT, "the node's address is not IPv4");
	x = calloc(1, sizeof(*x));
	if (!x)
		return clcp__err(ENOMEM, "out of memory");
	x->link_fd = x->fd = -1;
	x->saddr = sin->sin_addr.s_addr;
	x->sport = sin->sin_port;
	x->queue = u->conf.xdp_queue;
	rc = xsk_attach(x, &u->conf);
	if (rc < 0) {
		xsk_free(x);
		return rc;
	}
	u->xsk = x;
	u->st.xdp_mode = (uint64_t)x->mode;
	return 0;
}

void udp_xsk_close(struct udp_dev *u)
{
	if (u->xsk)
		xsk_free(u->xsk);
	u->xsk = NULL;
	clcp_store_relaxed(&u->xsk_fd, -1);
}

/* The first endpoint may lie in the UMEM: room round its buffers for a packet's headers, trailer.
 */
void udp_xsk_room(struct udp_dev *u, const struct clcp_endpt_attr *a, struct clcp__buf_room *r)
{
	uint32_t rx, tx;

	*r = (struct clcp__buf_room){ 0 };
	pthread_mutex_lock(&u->lock);
	if (u->xsk && !u->xsk->umem && a->mtu + UDP_CRC_LEN <= PLACE_SPAN) {
		udp_xdp_rings(a->rxq_len, a->txq_len, u->conf.xdp_ring, &rx, &tx);
		*r = (struct clcp__buf_room){ .headroom = PLACE_ROOM,
					      .span = PLACE_SPAN,
					      .nic_bufs = rx };
	}
	pthread_mutex_unlock(&u->lock);
}

/* Binding failed at the first endpoint: the node runs on sockets from here on, said so. */
static void xsk_fail(struct udp_dev *u)
{
	udp_xdp_fallback(u);
	udp_xsk_close(u);
	u->st.xdp_mode = UDP_XDP_OFF;
}

/*
 * The first endpoint binds the socket, its queues sizing the rings: its
 * region in the UMEM when it has the room (udp_xsk_room), else NULL (then
 * and for every later endpoint, the caller maps the region itself).
 */
void *udp_xsk_endpt_alloc(struct udp_dev *u, struct clcp_endpt *ep, uint32_t size)
{
	const struct clcp_endpt_attr *a = &ep->priv->attr;
	struct udp_xsk *x;
	void *base = NULL;

	pthread_mutex_lock(&u->lock);
	x = u->xsk;
	if (x && !x->umem) {
		udp_xdp_rings(a->rxq_len, a->txq_len, u->conf.xdp_ring, &x->ring_rx, &x->ring_tx);
		x->map_len = ep->priv->room.nic_bufs == x->ring_rx ? size : 0;
		if (xsk_bind(x) < 0) {
			xsk_fail(u);
		} else {
			u->st.xdp_mode = (uint64_t)x->mode;
			u->st.xdp_ring_rx = x->ring_rx;
			u->st.xdp_ring_tx = x->ring_tx;
			clcp_store_relaxed(&u->xsk_fd, x->fd);
			x->map_wait = x->map_len ? ep : NULL;
			base = x->map_len ? x->area + x->map_off : NULL;
		}
	}
	pthread_mutex_unlock(&u->lock);
	return base;
}

/* Where the kernel writes the packet whose payload goes to the buffer at offset off. */
static uint64_t place_addr(const struct udp_xsk *x, uint32_t off)
{
	return x->map_off + off - PLACE_OFF;
}

/* The endpoint in the UMEM has started: its own Rx buffers (beyond the user's) to the fill ring. */
void udp_xsk_endpt_start(struct udp_dev *u, struct clcp_endpt *ep)
{
	struct udp_xsk *x = u->xsk;
	const struct clcp_endpt_hdr *h = ep->hdr;
	uint32_t i, idx, first = 2 * h->rxq_len, n = h->nrxbuf - first;

	if (!x || x->map_wait != ep)
		return;
	x->map_wait = NULL;
	if (xsk_ring_prod__reserve(&x->fq, n, &idx) != n)
		return; /* cannot be: the fill ring is empty and this long; payloads are copied */
	for (i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&x->fq, idx + i) =
			place_addr(x, h->rxbuf_off + (first + i) * ep->priv->stride);
	xsk_ring_prod__submit(&x->fq, n);
	x->map_ep = ep;
}

/*
 * The endpoint goes: true when its region lies in the UMEM (it stays
 * there until the device closes, its buffers serving as Rx frames).
 */
bool udp_xsk_endpt_release(struct udp_dev *u, struct clcp_endpt *ep)
{
	struct udp_xsk *x = u->xsk;

	if (!x || !x->map_len || ep->base != x->area + x->map_off)
		return false;
	x->map_ep = x->map_wait = NULL;
	return true;
}

/* off is the start of one of the endpoint's Rx buffers. */
static bool buf_ok(const struct clcp_endpt *ep, uint32_t off)
{
	uint32_t first = ep->hdr->rxbuf_off, stride = ep->priv->stride;

	return off >= first && (off - first) % stride == 0 &&
	       (off - first) / stride < ep->hdr->nrxbuf;
}

/*
 * The payload being delivered into the claimed Rx slot s sits at the start
 * of one of ep's buffers, written there by the kernel: the slot takes that
 * buffer, and the one the user posted in it goes to the fill ring in its
 * place (the NIC owns it now). False when the payload is elsewhere: the
 * caller copies it.
 */
bool udp_xsk_swap(struct udp_dev *u, const struct clcp_endpt *ep, const unsigned char *payload,
		  struct clcp_qentry *s)
{
	struct udp_xsk *x = u->xsk;
	uint32_t off, posted = s->buf_off;

	if (!x || !payload || payload != x->place || ep != x->map_ep)
		return false;
	off = (uint32_t)(payload - ep->base);
	if (!buf_ok(ep, off) || !buf_ok(ep, posted))
		return false;
	s->buf_off = off;
	x->refill = place_addr(x, posted);
	x->place = NULL;
	return true;
}

/* Packets the kernel could not put on the Rx ring (ring full, no fill frame, dropped). */
uint64_t udp_xsk_lost(const struct udp_dev *u)
{
	struct xdp_statistics st = { 0 };
	socklen_t len = sizeof(st);

	if (!u->xsk || u->xsk->fd < 0 ||
	    getsockopt(u->xsk->fd, SOL_XDP, XDP_STATISTICS, &st, &len) < 0)
		return 0;
	return st.rx_dropped + st.rx_ring_full + st.rx_fill_ring_empty_descs;
}

/* --- receive --- */

/*
 * The UDP payload of an IPv4 packet for us (the program checked most of
 * this; a packet is trusted no more for that): its offset, length and
 * source, or false.
 */
static bool pkt_parse(const struct udp_xsk *x, const unsigned char *p, size_t n, size_t *off,
		      size_t *len, struct sockaddr_in *from)
{
	struct iphdr ip;
	struct udphdr uh;
	size_t ihl, tot;

	if (n < PKT_HDRS || p[12] != 0x08 || p[13] != 0x00)
		return false;
	memcpy(&ip, p + ETH_HLEN, sizeof(ip));
	ihl = ip.ihl * 4u;
	tot = ntohs(ip.tot_len);
	if (ip.version != 4 || ihl < 20 || tot > n - ETH_HLEN || tot < ihl + 8 ||
	    ip.protocol != IPPROTO_UDP || (ip.frag_off & htons(0x3fff)) || ip.daddr != x->saddr ||
	    csum_fold(csum_add(0, p + ETH_HLEN, ihl)) != 0)
		return false;
	memcpy(&uh, p + ETH_HLEN + ihl, sizeof(uh));
	/*
	 * The UDP checksum is not checked: a sender with checksum offload
	 * (a socket-mode peer on a veth) leaves only the pseudo header's sum
	 * in it, and the CRC32C trailer checks the datagram anyway.
	 */
	if (uh.dest != x->sport || ntohs(uh.len) != tot - ihl)
		return false;
	*off = ETH_HLEN + ihl + 8;
	*len = tot - ihl - 8;
	*from = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_port = uh.source,
				      .sin_addr.s_addr = ip.saddr };
	return true;
}

/*
 * The first datagram's length in n bytes of UDP payload, by its header:
 * header, payload, SACK map, CRC. n when that is not less than n.
 */
static size_t dgram_first(const unsigned char *b, size_t n)
{
	struct clcp_frame_hdr h;
	size_t k;

	if (n < UDP_HDR_LEN)
		return n;
	memcpy(&h, b, sizeof(h)); /* a datagram after the first may sit anywhere */
	k = (size_t)UDP_HDR_LEN + ntohl(h.len) + UDP_CRC_LEN +
	    (h.flags & UDP_FF_SACK ? UDP_SACK_LEN : 0);
	return k < n ? k : n;
}

/*
 * One packet from the Rx ring into the engine. A segmented send
 * (UDP_SEGMENT) of a socket-mode peer reaches generic XDP as one packet,
 * its datagrams back to back: they are cut apart by their headers (each
 * is checked by its CRC32C, as every datagram).
 */
static void rx_one(struct udp_dev *u, const struct xdp_desc *desc, uint64_t now)
{
	struct udp_xsk *x = u->xsk;
	uint64_t at = xsk_umem__add_offset_to_addr(desc->addr);
	const unsigned char *p = x->area + at;
	/* Written where a fill address of the mapped endpoint's said: the payload at a buffer. */
	bool mapped = x->map_ep && x->refill >= x->map_off && x->refill < x->map_off + x->map_len &&
		      at == x->refill + XDP_PACKET_HEADROOM + XSK_HEADROOM;
	struct sockaddr_storage from;
	size_t off, len, k;

	if (!pkt_parse(x, p, desc->len, &off, &len, (struct sockaddr_in *)&from)) {
		u->st.xdp_bad++;
		return;
	}
	do {
		struct udp_rxd d;

		k = dgram_first(p + off, len);
		d = udp_rxd_whole(p + off, k);
		x->place = mapped && off == PKT_HDRS && k == len ? d.body : NULL;
		u->st.xdp_rx++;
		udp_dgram_input_at(u, &d, &from, sizeof(struct sockaddr_in), NULL, now);
		off += k;
		len -= k;
	} while (len > 0);
	x->place = NULL;
}

/*
 * Up to max packets from the Rx ring (now: their arrival time; 0: read
 * the clock for each), their frames back on the fill ring: how many.
 */
unsigned udp_xsk_rx(struct udp_dev *u, unsigned max, uint64_t now)
{
	struct udp_xsk *x = u->xsk;
	uint32_t idx, fidx, peeked, n;

	if (!x->xsk)
		return 0;
	n = xsk_ring_cons__peek(&x->rx, max, &idx);
	if (n == 0) {
		if (xsk_ring_prod__needs_wakeup(&x->fq))
			(void)!recvfrom(x->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
		return 0;
	}
	/* The fill ring has room for every frame of the Rx ring; should it not, the rest waits. */
	peeked = n;
	while (n && xsk_ring_prod__reserve(&x->fq, n, &fidx) != n)
		n--;
	xsk_ring_cons__cancel(&x->rx, peeked - n);
	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *desc = xsk_ring_cons__rx_desc(&x->rx, idx + i);

		/* Back as it came, or as the buffer a delivery in place swapped it for. */
		x->refill = xsk_umem__extract_addr(desc->addr);
		rx_one(u, desc, now ? now : udp_now_us());
		*xsk_ring_prod__fill_addr(&x->fq, fidx + i) = x->refill;
	}
	xsk_ring_cons__release(&x->rx, n);
	xsk_ring_prod__submit(&x->fq, n);
	return n;
}

/* --- send --- */

/* A Tx frame neither on the ring nor holding a store slot is free. */
static void tx_frame_idle(struct udp_xsk *x, uint32_t k)
{
	if (!x->tx_busy[k] && !x->tx_held[k])
		x->tx_free[x->ntx_free++] = (uint64_t)k * XSK_FRAME;
}

/* Completed Tx descriptors: their frames back to the free list, unless a store slot holds one. */
static void tx_reclaim(struct udp_xsk *x)
{
	uint32_t idx, n = xsk_ring_cons__peek(&x->cq, x->ring_tx, &idx);

	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = (uint32_t)(*xsk_ring_cons__comp_addr(&x->cq, idx + i) / XSK_FRAME);

		x->tx_busy[k]--;
		tx_frame_idle(x, k);
	}
	xsk_ring_cons__release(&x->cq, n);
	x->tx_out -= n;
}

/* Descriptors on the Tx ring the kernel has not taken yet. */
static uint32_t tx_queued(const struct udp_xsk *x)
{
	return x->tx.cached_prod - __atomic_load_n(x->tx.consumer, __ATOMIC_ACQUIRE);
}

/* The packets on the Tx ring go: the kernel is told (a system call in copy mode). */
void udp_xsk_kick(struct udp_dev *u)
{
	struct udp_xsk *x = u->xsk;

	if (!x || !x->xsk || !x->tx_pending)
		return;
	x->tx_pending = 0;
	/* Copy mode sends a bounded batch per call: again while descriptors wait. */
	for (unsigned k = 0; k <= x->ring_tx / 16u && xsk_ring_prod__needs_wakeup(&x->tx); k++)
		if ((sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN &&
		     errno != EBUSY && errno != ENOBUFS) ||
		    !tx_queued(x))
			break;
	tx_reclaim(x);
}

/* The ring takes one more descriptor (completions reclaimed, the kernel kicked if need be). */
static bool tx_room(struct udp_dev *u)
{
	struct udp_xsk *x = u->xsk;

	if (x->tx_out >= x->ring_tx || !x->ntx_free)
		tx_reclaim(x);
	if (x->tx_out >= x->ring_tx || !x->ntx_free) {
		x->tx_pending = 1;
		udp_xsk_kick(u);
	}
	return x->tx_out < x->ring_tx;
}

/* The peer's Ethernet address when the ring can carry a datagram of n bytes to it, else NULL. */
static const uint8_t *tx_mac(struct udp_xsk *x, const struct sockaddr_storage *to, size_t n)
{
	if (!x->xsk || to->ss_family != AF_INET || PKT_HDRS + n > x->pkt_max || n + 28 > x->ifmtu)
		return NULL;
	return neigh_mac(x, ((const struct sockaddr_in *)to)->sin_addr.s_addr);
}

/* Ethernet, IPv4 and UDP headers for n bytes to sin, in frame x->cur: where the datagram goes. */
static unsigned char *hdrs_put(struct udp_xsk *x, const uint8_t *mac, const struct sockaddr_in *sin,
			       size_t n)
{
	unsigned char *p = x->area + x->cur + TX_OFF;
	struct iphdr ip = { .version = 4, .ihl = 5, .ttl = 64, .protocol = IPPROTO_UDP };
	struct udphdr uh = { .source = x->sport, .len = htons((uint16_t)(n + 8)) };

	memcpy(p, mac, ETH_ALEN);
	memcpy(p + ETH_ALEN, x->mac, ETH_ALEN);
	p[12] = 0x08, p[13] = 0x00;
	ip.tot_len = htons((uint16_t)(n + 28));
	ip.id = htons(x->ip_id++);
	ip.frag_off = htons(0x4000); /* DF: the packet fits the link */
	ip.saddr = x->saddr;
	ip.daddr = sin->sin_addr.s_addr;
	ip.check = csum_fold(csum_add(0, (const unsigned char *)&ip, sizeof(ip)));
	memcpy(p + ETH_HLEN, &ip, sizeof(ip));
	uh.dest = sin->sin_port;
	memcpy(p + ETH_HLEN + 20, &uh, sizeof(uh));
	return p + PKT_HDRS;
}

/*
 * A UMEM frame for a datagram of n bytes to `to`, its Ethernet, IPv4 and
 * UDP headers written: where the datagram goes (4-aligned), or NULL when
 * the ring cannot take it (the socket sends it then).
 */
unsigned char *udp_xsk_tx_get(struct udp_dev *u, const struct sockaddr_storage *to, size_t n)
{
	struct udp_xsk *x = u->xsk;
	const uint8_t *mac = tx_mac(x, to, n);

	if (!mac || !tx_room(u) || !x->ntx_free)
		return NULL;
	x->cur = x->tx_free[--x->ntx_free];
	return hdrs_put(x, mac, (const struct sockaddr_in *)to, n);
}

/*
 * The same in the Tx frame a store slot holds (udp_xsk_store_get), its
 * payload already in place; NULL also while the frame is still on the
 * ring (a resend that soon): the caller copies it into a frame of its own.
 */
unsigned char *udp_xsk_tx_at(struct udp_dev *u, const struct sockaddr_storage *to, size_t n,
			     uint32_t frame)
{
	struct udp_xsk *x = u->xsk;
	const uint8_t *mac = x->tx_busy[frame] ? NULL : tx_mac(x, to, n);

	if (!mac || !tx_room(u))
		return NULL;
	x->cur = (uint64_t)frame * XSK_FRAME;
	return hdrs_put(x, mac, (const struct sockaddr_in *)to, n);
}

/*
 * A free Tx frame to keep a frame of len bytes until it is acked, and send
 * it from: where its payload goes, or NULL (then the store takes it). At
 * most half the Tx frames are held so: the rest carry packets built by copy.
 */
unsigned char *udp_xsk_store_get(struct udp_dev *u, uint32_t len, uint32_t *frame)
{
	struct udp_xsk *x = u->xsk;
	uint64_t addr;

	if (!x || !x->xsk || STORE_OFF + len + UDP_CRC_LEN > XSK_FRAME || x->ntx_held >= x->ring_tx)
		return NULL;
	if (!x->ntx_free)
		tx_reclaim(x);
	if (!x->ntx_free)
		return NULL;
	addr = x->tx_free[--x->ntx_free];
	*frame = (uint32_t)(addr / XSK_FRAME);
	x->tx_held[*frame] = 1;
	x->ntx_held++;
	return x->area + addr + STORE_OFF;
}

/* The payload of the store slot in Tx frame `frame`. */
unsigned char *udp_xsk_store_data(const struct udp_dev *u, uint32_t frame)
{
	return u->xsk->area + (uint64_t)frame * XSK_FRAME + STORE_OFF;
}

/* The store slot is acked (or its channel gone): its frame is free once off the ring. */
void udp_xsk_store_put(struct udp_dev *u, uint32_t frame)
{
	struct udp_xsk *x = u->xsk;

	x->tx_held[frame] = 0;
	x->ntx_held--;
	tx_frame_idle(x, frame);
}

/* The datagram of n bytes written into the frame from udp_xsk_tx_get: its UDP checksum, onto the
 * ring. */
void udp_xsk_tx_put(struct udp_dev *u, size_t n)
{
	struct udp_xsk *x = u->xsk;
	unsigned char *p = x->area + x->cur + TX_OFF;
	struct iphdr ip;
	uint16_t c;
	uint32_t idx = 0;

	memcpy(&ip, p + ETH_HLEN, sizeof(ip));
	c = udp_csum(&ip, p + ETH_HLEN + 20, n + 8);
	memcpy(p + ETH_HLEN + 26, &c, 2);
	xsk_ring_prod__reserve(&x->tx, 1, &idx); /* tx_out < ring_tx: a free entry */
	*xsk_ring_prod__tx_desc(&x->tx, idx) =
		(struct xdp_desc){ .addr = x->cur + TX_OFF, .len = (uint32_t)(PKT_HDRS + n) };
	xsk_ring_prod__submit(&x->tx, 1);
	x->tx_busy[x->cur / XSK_FRAME]++;
	x->tx_out++;
	x->tx_pending++;
	u->st.xdp_tx++;
}

#else /* !CLCP_HAVE_XDP */

int udp_xsk_open(struct udp_dev *u)
{
	(void)u;
	return clcp__err(EOPNOTSUPP, "this build has no AF_XDP support (libxdp, libbpf)");
}

void udp_xsk_close(struct udp_dev *u)
{
	(void)u;
}

void udp_xsk_room(struct udp_dev *u, const struct clcp_endpt_attr *a, struct clcp__buf_room *r)
{
	(void)u, (void)a;
	*r = (struct clcp__buf_room){ 0 };
}

void *udp_xsk_endpt_alloc(struct udp_dev *u, struct clcp_endpt *ep, uint32_t size)
{
	(void)u, (void)ep, (void)size;
	return NULL;
}

void udp_xsk_endpt_start(struct udp_dev *u, struct clcp_endpt *ep)
{
	(void)u, (void)ep;
}

bool udp_xsk_endpt_release(struct udp_dev *u, struct clcp_endpt *ep)
{
	(void)u, (void)ep;
	return false;
}

bool udp_xsk_swap(struct udp_dev *u, const struct clcp_endpt *ep, const unsigned char *payload,
		  struct clcp_qentry *s)
{
	(void)u, (void)ep, (void)payload, (void)s;
	return false;
}

uint64_t udp_xsk_lost(const struct udp_dev *u)
{
	(void)u;
	return 0;
}

unsigned udp_xsk_rx(struct udp_dev *u, unsigned max, uint64_t now)
{
	(void)u, (void)max, (void)now;
	return 0;
}

void udp_xsk_kick(struct udp_dev *u)
{
	(void)u;
}

unsigned char *udp_xsk_tx_get(struct udp_dev *u, const struct sockaddr_storage *to, size_t n)
{
	(void)u, (void)to, (void)n;
	return NULL;
}

unsigned char *udp_xsk_tx_at(struct udp_dev *u, const struct sockaddr_storage *to, size_t n,
			     uint32_t frame)
{
	(void)u, (void)to, (void)n, (void)frame;
	return NULL;
}

unsigned char *udp_xsk_store_get(struct udp_dev *u, uint32_t len, uint32_t *frame)
{
	(void)u, (void)len, (void)frame;
	return NULL;
}

unsigned char *udp_xsk_store_data(const struct udp_dev *u, uint32_t frame)
{
	(void)u, (void)frame;
	return NULL;
}

void udp_xsk_store_put(struct udp_dev *u, uint32_t frame)
{
	(void)u, (void)frame;
}

void udp_xsk_tx_put(struct udp_dev *u, size_t n)
{
	(void)u, (void)n;
}

#endif /* CLCP_HAVE_XDP */
