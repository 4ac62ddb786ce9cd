// SPDX-License-Identifier: MIT
/*
 * Writes the seed corpus of fuzz_udp_rx into a directory: valid hellos,
 * one-frame and multi-frame messages, frames out of order, duplicates, an
 * ack of a sent frame, a reset, data before a hello, a peer's new
 * incarnation, and bad datagrams of each kind.
 *
 *   fuzz_udp_corpus DIR
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <clcp/abi.h>

#include "fuzz_udp.h"

#define PROBE 0x10u
#define HELLO 0x40u
#define RST 0x80u

static unsigned char buf[16384];
static size_t len;

static void put(const void *p, size_t n)
{
	if (n)
		memcpy(buf + len, p, n);
	len += n;
}

static void byte(unsigned v)
{
	buf[len++] = (unsigned char)v;
}

/*
 * A datagram for channel c (0..2; 3: none) from source src, repaired as fix
 * says; n bytes of payload; the header's rsvd field as given.
 */
static void dgr(unsigned c, unsigned src, unsigned fix, unsigned version, unsigned flags,
		uint32_t seq, uint32_t ack, uint32_t msg_len, const void *payload, uint32_t n,
		uint16_t rsvd)
{
	struct clcp_frame_hdr h = { .version = (clcp_u8)version, .flags = (clcp_u8)flags,
				    .rsvd = htons(rsvd) };
	static const unsigned char incs[16];

	if ((fix & FIX_INC) && !(flags & CLCP_FF_DATA) && n < sizeof(incs)) {
		payload = incs; /* FIX_INC takes as many bytes as the control frame's payload */
		n = sizeof(incs);
	}

	h.seq = htonl(seq);
	h.ack = htonl(ack);
	h.msg_len = htonl(msg_len);
	h.key = htonl(FUZZ_KEY);
	byte(FOP_DGRAM);
	byte(src | c << 3);
	byte(fix);
	put(&h, sizeof(h));
	byte(n >> 8);
	byte(n & 0xff);
	put(payload, n);
}

static void dgn(unsigned c, unsigned src, unsigned fix, unsigned version, unsigned flags,
		uint32_t seq, uint32_t ack, uint32_t msg_len, const void *payload, uint32_t n)
{
	dgr(c, src, fix, version, flags, seq, ack, msg_len, payload, n, 0);
}

/* The same with a string payload. */
static void dg(unsigned c, unsigned src, unsigned fix, unsigned version, unsigned flags,
	       uint32_t seq, uint32_t ack, uint32_t msg_len, const char *payload)
{
	dgn(c, src, fix, version, flags, seq, ack, msg_len, payload,
	    payload ? (uint32_t)strlen(payload) : 0);
}

/* A datagram for channel c from its peer. */
static void dgram(unsigned c, unsigned flags, uint32_t seq, uint32_t ack, uint32_t msg_len,
		  const char *payload, unsigned fix)
{
	if (!(flags & (CLCP_FF_DATA | RST)))
		fix |= FIX_INC; /* a control frame carries its channel's incarnation */
	dg(c, FSRC_HDR, FIX_VK | FIX_LEN | FIX_ADDR | fix, CLCP_FRAME_VERSION, flags, seq, ack,
	   msg_len, payload);
}

static void hello(unsigned c, uint32_t credit)
{
	dgram(c, CLCP_FF_ACK | HELLO, 0, 0, credit, NULL, 0);
}

static void data(unsigned c, unsigned ff, uint32_t seq, uint32_t msg_len, const char *p)
{
	dgram(c, CLCP_FF_DATA | CLCP_FF_ACK | ff, seq, 0, msg_len, p, 0);
}

static void op(unsigned o, unsigned a)
{
	byte(o);
	byte(a);
}

static int save(const char *dir, const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		return 1;
	}
	len = 0;
	return 0;
}

static void raw(unsigned src, const void *p, unsigned n)
{
	byte(FOP_RAW);
	byte(src);
	byte(n >> 8);
	byte(n & 0xff);
	put(p, n);
}

/* An offer of a message of msg_len bytes as frame seq of channel c; its descriptor names desc_len. */
static void offer(unsigned c, uint32_t seq, uint32_t msg_len, uint64_t desc_len)
{
	struct {
		uint64_t addr, len;
		uint32_t seq, pad;
	} desc = { 0x10000, desc_len, seq, 0 }; /* the core's, as the sender's core writes it */

	dgr(c, FSRC_HDR, FIX_VK | FIX_LEN | FIX_ADDR, CLCP_FRAME_VERSION,
	    CLCP_FF_DATA | CLCP_FF_ACK | CLCP_FF_FIRST | CLCP_FF_LAST, seq, 0, msg_len, &desc,
	    sizeof(desc), 0x8000 | 16); /* the offer mark, a credit of 16 */
}

/* A frame of an offered message: n bytes at offset off, as frame seq. */
static void bulk(unsigned c, uint32_t seq, uint32_t off, uint32_t n)
{
	static unsigned char b[1024];

	memset(b, 'a' + (int)(seq % 26), sizeof(b));
	dgr(c, FSRC_HDR, FIX_VK | FIX_LEN | FIX_ADDR, CLCP_FRAME_VERSION,
	    CLCP_FF_DATA | CLCP_FF_ACK, seq, 0, off, b, n, 0x4000 | 16); /* the frame mark */
}

static void bad_datagrams(void)
{
	static const unsigned char junk[40] = { 1, 0x0c, 0, 10, 0, 100 };

	byte(0x05);
	raw(FSRC_NODE1, "short", 5);
	raw(FSRC_NODE1, junk, sizeof(junk));				    /* wrong key and len */
	dg(0, FSRC_HDR, FIX_LEN | FIX_ADDR | FIX_INC, 2, CLCP_FF_ACK, 0, 0, 4, NULL); /* version */
	dg(0, FSRC_IP, FIX_VK | FIX_LEN | FIX_ADDR | FIX_INC, 1, CLCP_FF_ACK, 0, 0, 4, NULL); /* source */
	dg(0, FSRC_NODE2, FIX_VK | FIX_LEN | FIX_ADDR | FIX_INC, 1, CLCP_FF_ACK, 0, 0, 4, NULL);
	dg(0, FSRC_HDR, FIX_VK | FIX_ADDR, 1, CLCP_FF_DATA, 0, 0, 4, "abcd"); /* len 0 */
	dg(0, FSRC_HDR, FIX_VK | FIX_LEN | FIX_ADDR, 1, 0, 0, 0, 4, "abcd");  /* no DATA */
	dg(3, FSRC_HDR, FIX_VK | FIX_INC, 1, CLCP_FF_ACK, 0, 0, 0, NULL);     /* no port: RST */
	dg(0, FSRC_HDR, FIX_VK | FIX_LEN | FIX_ADDR | FIX_SEQ, 1, CLCP_FF_DATA | CLCP_FF_FIRST,
	   0x7f, 0, 1, "x"); /* ahead of a hole */
}

int main(int argc, char **argv)
{
	const char *d = argc > 1 ? argv[1] : ".";
	int bad = 0;

	byte(0x05);
	hello(0, 8);
	bad |= save(d, "hello");

	byte(0x05);
	hello(0, 8);
	data(0, CLCP_FF_FIRST | CLCP_FF_LAST, 0, 5, "hello");
	op(FOP_MSG, 0x08);
	data(0, CLCP_FF_FIRST | CLCP_FF_LAST, 1, 3, "abc");
	op(FOP_MSG, 0x18);
	bad |= save(d, "one-frame");

	byte(0x00); /* Rx queue of 2: the third frame waits for a buffer */
	hello(1, 2);
	data(1, CLCP_FF_FIRST, 0, 9, "abc");
	data(1, 0, 1, 9, "def");
	data(1, CLCP_FF_LAST, 2, 9, "ghi");
	op(FOP_MSG, 0x09);
	op(FOP_MSG, 0x0b);
	bad |= save(d, "three-frames");

	byte(0x0a);
	hello(2, 16);
	data(2, CLCP_FF_LAST, 1, 6, "def");
	data(2, CLCP_FF_FIRST, 0, 6, "abc");
	data(2, CLCP_FF_FIRST, 0, 6, "xyz"); /* duplicate */
	op(FOP_FRAME, 0x03);
	op(FOP_MSG, 0x0b);
	data(2, CLCP_FF_FIRST | CLCP_FF_LAST, 200, 1, "z"); /* impossible sequence */
	op(FOP_TICK, 0);
	bad |= save(d, "reorder");

	byte(0x05);
	hello(0, 8);
	op(FOP_SEND, 0);
	byte(16);
	dgram(0, CLCP_FF_ACK, 0, 1, 8, NULL, 0);
	op(FOP_SEND, 4);
	byte(8);
	dgram(0, CLCP_FF_ACK, 0, 1, 8, NULL, 0); /* duplicate ack */
	dgram(0, RST, 0, 0, 0, NULL, 0);
	op(FOP_MSG, 0x03);
	bad |= save(d, "ack-rst");

	byte(0x05); /* frames out, a loss: duplicate acks, timeouts, a silent peer */
	hello(1, 8);
	op(FOP_SEND, 1);
	byte(10);
	op(FOP_SEND, 1);
	byte(20);
	op(FOP_TICK, 5);
	dgram(1, CLCP_FF_ACK, 0, 0, 8, NULL, 0);
	op(FOP_TICK, 30);
	dgram(1, CLCP_FF_ACK, 0, 1, 8, NULL, 0);
	op(FOP_TICK, 0x40 | 30);
	bad |= save(d, "rexmit");

	byte(0x00); /* Rx queue of 2: frame 2 kept; a copy comes while a buffer is posted */
	hello(0, 2);
	data(0, CLCP_FF_FIRST, 0, 9, "abc");
	data(0, 0, 1, 9, "def");
	data(0, CLCP_FF_LAST, 2, 9, "ghi");
	op(FOP_FRAME, 0x08); /* late wake: frame 2 not flushed yet */
	data(0, CLCP_FF_LAST, 2, 9, "GHI");
	op(FOP_TICK, 0);
	op(FOP_FRAME, 0x04);
	op(FOP_FRAME, 0x00);
	bad |= save(d, "late-wake");

	byte(0x05); /* a channel released with frames waiting, then allocated again */
	hello(0, 8);
	data(0, CLCP_FF_FIRST | CLCP_FF_LAST, 0, 3, "old");
	op(FOP_CHAN, 0);
	hello(0, 8);
	data(0, CLCP_FF_FIRST | CLCP_FF_LAST, 0, 3, "new");
	op(FOP_MSG, 0x08);
	bad |= save(d, "chan-again");

	byte(0x05); /* data before the peer's incarnation is known: dropped, sent again */
	data(0, CLCP_FF_FIRST | CLCP_FF_LAST, 0, 5, "early");
	hello(0, 8);
	data(0, CLCP_FF_FIRST | CLCP_FF_LAST, 0, 5, "again");
	op(FOP_MSG, 0x08);
	bad |= save(d, "early");

	byte(0x05); /* another incarnation on the peer's node and port: the channel fails */
	hello(0, 8);
	data(0, CLCP_FF_FIRST | CLCP_FF_LAST, 0, 5, "hello");
	/* Its incarnation, and ours not known yet. */
	dgn(0, FSRC_HDR, FIX_VK | FIX_LEN | FIX_ADDR, 1, CLCP_FF_ACK | HELLO, 0, 0, 8,
	    "reborn!!\0\0\0\0\0\0\0\0", 16);
	data(0, CLCP_FF_FIRST | CLCP_FF_LAST, 0, 3, "new");
	op(FOP_MSG, 0x08);
	op(FOP_MSG, 0x08);
	bad |= save(d, "restart");

	byte(0x05); /* the old peer of an earlier channel of ours on the port: not taken */
	dg(0, FSRC_HDR, FIX_VK | FIX_LEN | FIX_ADDR, 1, CLCP_FF_ACK | PROBE, 0, 0, 8,
	   "old-peerold-self");
	hello(0, 8);
	data(0, CLCP_FF_FIRST | CLCP_FF_LAST, 0, 3, "new");
	dg(0, FSRC_HDR, FIX_VK | FIX_LEN | FIX_ADDR, 1, RST, 0, 0, 8, "old-peerold-self");
	op(FOP_MSG, 0x08);
	bad |= save(d, "stale");

	byte(0x05); /* a long message's offer, answers to ours; our frames are too small for offers */
	hello(0, 8);
	/* READY (room 1 MiB), ASK for an offer of ours, GO and DECLINE for none: the words after the
	 * incarnations (FIX_INC keeps them). */
	dgn(0, FSRC_HDR, FIX_VK | FIX_ADDR | FIX_INC, 1, CLCP_FF_ACK, 0, 0, 8,
	    "incarnationsXXXX\0\x10\0\0\0\0\0\2", 24);
	dgn(0, FSRC_HDR, FIX_VK | FIX_ADDR | FIX_INC, 1, CLCP_FF_ACK, 0, 0, 8,
	    "incarnationsXXXX\0\0\0\0\0\0\0\3", 24);
	dgn(0, FSRC_HDR, FIX_VK | FIX_ADDR | FIX_INC, 1, CLCP_FF_ACK, 0, 0, 8,
	    "incarnationsXXXX\0\0\0\0\0\0\0\1", 24);
	dgr(0, FSRC_HDR, FIX_VK | FIX_LEN | FIX_ADDR, 1, CLCP_FF_DATA | CLCP_FF_ACK | CLCP_FF_FIRST |
	    CLCP_FF_LAST, 0, 0, 1u << 20, "offer...offer...offer...", 24, 0x8008); /* a reset */
	op(FOP_MSG, 0x08);
	bad |= save(d, "offer");

	byte(0x02 | FUZZ_CFG_OFFERS); /* offers no receive took: their frames come as frames */
	hello(0, 16);
	offer(0, 0, 600, 600);
	bulk(0, 1, 0, 300);
	bulk(0, 2, 300, 300);
	op(FOP_MSG, 0x0c);
	offer(0, 3, 600, 600);
	bulk(0, 4, 0, 300);
	data(0, CLCP_FF_FIRST | CLCP_FF_LAST, 5, 3, "new"); /* cuts the offered one short */
	op(FOP_MSG, 0x0c);
	op(FOP_MSG, 0x0c);
	offer(0, 6, 600, 599); /* a descriptor of another length */
	op(FOP_FRAME, 0x00);
	offer(0, 7, 600, 600);
	bulk(0, 9, 300, 300); /* ahead, kept */
	bulk(0, 8, 5, 300);   /* out of place: the channel resets */
	op(FOP_MSG, 0x0c);
	bad |= save(d, "offer-frames");

	byte(0x02 | FUZZ_CFG_OFFERS); /* a receive gives its buffer: offers taken into it */
	hello(0, 16);
	op(FOP_WAIT, 0x08); /* channel 0, 256 KiB */
	offer(0, 0, 600, 600);
	bulk(0, 2, 300, 300); /* ahead, kept */
	bulk(0, 1, 0, 300);
	op(FOP_MSG, 0x0c); /* the wait ends: the offer is taken */
	op(FOP_WAIT, 0x18); /* 640 KiB */
	offer(0, 3, 600, 600);
	data(0, CLCP_FF_FIRST, 4, 6, "abc"); /* the offer withdrawn: its message as frames */
	op(FOP_WAIT, 0x80);
	data(0, CLCP_FF_LAST, 5, 6, "def");
	op(FOP_TICK, 0);
	op(FOP_WAIT, 0x08);
	offer(0, 6, 600, 600);
	bulk(0, 7, 0, 300);
	dgram(0, RST, 0, 0, 0, NULL, 0); /* the channel fails with the offer half in */
	op(FOP_WAIT, 0x80);
	bad |= save(d, "offer-granted");

	bad_datagrams();
	bad |= save(d, "bad");
	return bad;
}
