/* SPDX-License-Identifier: MIT */
/*
 * CRC32C (Castagnoli, reflected polynomial 0x82f63b78), the integrity check
 * of every datagram (docs/udp.md): UDP's own checksum is 16 bits, optional
 * over IPv4 and never sees what happens to a datagram in user space. The
 * SSE4.2 instruction where the CPU has it, else a table.
 *
 * The instruction takes 3 cycles and can start every cycle, so long
 * buffers go as three interleaved streams of 4096 bytes (then 256), joined
 * by shifting a stream's CRC over the next one's length: a multiplication
 * by x^(8 * stream) mod P, done with four 256-entry tables per length.
 */
#include <pthread.h>
#include <string.h>

#include "udp.h"

#define CRC32C_POLY 0x82f63b78u
#define NSTREAM 2
static const uint32_t stream_len[NSTREAM] = { 4096, 256 };

static uint32_t table[256];
static uint32_t shift[NSTREAM][4][256]; /* c -> c * x^(8 * stream_len) mod P, by bytes of c */
static bool hw;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* a * b mod P, reflected: bit 31 is x^0. */
static uint32_t mul_mod(uint32_t a, uint32_t b)
{
	uint32_t p = 0;

	for (uint32_t m = 1u << 31; m; m >>= 1) {
		if (a & m)
			p ^= b;
		b = (b >> 1) ^ (CRC32C_POLY & (0u - (b & 1u)));
	}
	return p;
}

/* x^(8n) mod P. */
static uint32_t x8n_mod(uint32_t n)
{
	uint32_t r = 1u << 31, sq = 1u << 23; /* x^0, x^8 */

	for (; n; n >>= 1) {
		if (n & 1)
			r = mul_mod(sq, r);
		sq = mul_mod(sq, sq);
	}
	return r;
}

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int j = 0; j < 8; j++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1u)));
		table[i] = c;
	}
	for (int l = 0; l < NSTREAM; l++) {
		uint32_t k = x8n_mod(stream_len[l]);

		for (uint32_t i = 0; i < 256; i++)
			for (int j = 0; j < 4; j++)
				shift[l][j][i] = mul_mod(k, i << (8 * j));
	}
#if defined(__x86_64__)
	hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t shift_stream(int l, uint32_t c)
{
	return shift[l][0][c & 0xffu] ^ shift[l][1][(c >> 8) & 0xffu] ^
	       shift[l][2][(c >> 16) & 0xffu] ^ shift[l][3][c >> 24];
}

static uint32_t crc_table(uint32_t crc, const unsigned char *p, size_t len)
{
	while (len--)
		crc = (crc >> 8) ^ table[(crc ^ *p++) & 0xffu];
	return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint64_t word_hw(uint64_t c, const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	return __builtin_ia32_crc32di(c, w);
}

/* Three streams at a time (4096, then 256 bytes each): register values, no inversion. */
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const unsigned char *p,
							  size_t len)
{
	uint64_t c0 = crc, c1, c2;

	for (int l = 0; l < NSTREAM; l++) {
		const size_t n = stream_len[l];

		for (; len >= 3 * n; len -= 3 * n, p += 3 * n) {
			c1 = c2 = 0;
			for (size_t i = 0; i < n; i += 8) {
				c0 = word_hw(c0, p + i);
				c1 = word_hw(c1, p + n + i);
				c2 = word_hw(c2, p + 2 * n + i);
			}
			c0 = shift_stream(l, shift_stream(l, (uint32_t)c0) ^ (uint32_t)c1) ^ (uint32_t)c2;
		}
	}
	for (; len >= 8; len -= 8, p += 8)
		c0 = word_hw(c0, p);
	crc = (uint32_t)c0;
	while (len--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}

__attribute__((target("sse4.2"))) static uint64_t copy_word_hw(uint64_t c, unsigned char *d,
							       const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	memcpy(d, &w, 8);
	return __builtin_ia32_crc32di(c, w);
}

/* crc_hw while copying: each word is stored as it goes through the crc32 unit. */
__attribute__((target("sse4.2"))) static uint32_t crc_copy_hw(uint32_t crc, unsigned char *d,
							       const unsigned char *p, size_t len)
{
	uint64_t c0 = crc, c1, c2;

	for (int l = 0; l < NSTREAM; l++) {
		const size_t n = stream_len[l];

		for (; len >= 3 * n; len -= 3 * n, p += 3 * n, d += 3 * n) {
			c1 = c2 = 0;
			for (size_t i = 0; i < n; i += 8) {
				c0 = copy_word_hw(c0, d + i, p + i);
				c1 = copy_word_hw(c1, d + n + i, p + n + i);
				c2 = copy_word_hw(c2, d + 2 * n + i, p + 2 * n + i);
			}
			c0 = shift_stream(l, shift_stream(l, (uint32_t)c0) ^ (uint32_t)c1) ^ (uint32_t)c2;
		}
	}
	for (; len >= 8; len -= 8, p += 8, d += 8)
		c0 = copy_word_hw(c0, d, p);
	crc = (uint32_t)c0;
	while (len--) {
		*d++ = *p;
		crc = __builtin_ia32_crc32qi(crc, *p++);
	}
	return crc;
}
#endif

uint32_t udp_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&once, crc_init);
	crc = ~crc;
#if defined(__x86_64__)
	if (hw)
		return ~crc_hw(crc, buf, len);
#endif
	return ~crc_table(crc, buf, len);
}

/* Copies len bytes from src to dst and returns their CRC32C (as udp_crc32c(0, src, len)). */
uint32_t udp_crc32c_copy(void *dst, const void *src, size_t len)
{
	pthread_once(&once, crc_init);
#if defined(__x86_64__)
	if (hw)
		return ~crc_copy_hw(~0u, dst, src, len);
#endif
	memcpy(dst, src, len);
	return ~crc_table(~0u, src, len);
}

/*
 * The CRC32C of A then B from the CRC32C of each: A's shifted by B's length
 * (x^(8 len_b) mod P). The last length's factor is kept per thread: frames
 * of a stream have one length.
 */
uint32_t udp_crc32c_combine(uint32_t crc_a, uint32_t crc_b, size_t len_b)
{
	static __thread size_t last_len = SIZE_MAX;
	static __thread uint32_t last_x;

	pthread_once(&once, crc_init);
	if (len_b != last_len) {
		last_x = x8n_mod((uint32_t)len_b);
		last_len = len_b;
	}
	return mul_mod(last_x, crc_a) ^ crc_b;
}
