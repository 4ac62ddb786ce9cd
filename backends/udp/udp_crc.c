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
#include <stdint.h>
#include <string.h>

#include "udp.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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

/* x^n mod P. */
static uint32_t xpow_mod(uint64_t n)
{
	uint32_t r = 1u << 31, sq = 1u << 30; /* x^0, x^1 */

	for (; n; n >>= 1) {
		if (n & 1)
			r = mul_mod(sq, r);
		sq = mul_mod(sq, sq);
	}
	return r;
}

#if defined(__x86_64__)
static void fold_init(void);
#endif

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int j = 0; j < 8; j++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1u)));
		table[i] = c;
	}
	for (int l = 0; l < NSTREAM; l++) {
		uint32_t k = xpow_mod(8u * stream_len[l]);

		for (uint32_t i = 0; i < 256; i++)
			for (int j = 0; j < 4; j++)
				shift[l][j][i] = mul_mod(k, i << (8 * j));
	}
#if defined(__x86_64__)
	hw = __builtin_cpu_supports("sse4.2");
	fold_init();
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

/*
 * Folding with carry-less multiplication (AVX2 + VPCLMULQDQ), 128 bytes a
 * round in four 32-byte accumulators. A 16-byte lane H ahead of T more bits
 * is H * x^T: its first 8 bytes (the higher degrees) times x^(64 + D) and
 * its last 8 times x^D, both reduced mod P, give a value congruent to it
 * D bits further on, where it is xored into the data. What is left after
 * the last lane is 16 bytes whose CRC, taken from zero, is the buffer's.
 * fold_k[i]: for D = fold_dist[i], x^(63 + D) and x^(D - 1) mod P shifted
 * up 32 bits (a product of two reflected values comes out one bit short).
 */
#define FOLD_TARGET __attribute__((target("avx2,pclmul,vpclmulqdq,sse4.2")))
#define FOLD_MIN 256u
static const uint32_t fold_dist[3] = { 1024, 256, 128 };
static uint64_t fold_k[3][2];
static bool fold_hw;

static void fold_init(void)
{
	for (int i = 0; i < 3; i++) {
		fold_k[i][0] = (uint64_t)xpow_mod(63u + fold_dist[i]) << 32;
		fold_k[i][1] = (uint64_t)xpow_mod(fold_dist[i] - 1u) << 32;
	}
	fold_hw = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("pclmul") &&
		  __builtin_cpu_supports("vpclmulqdq");
}

FOLD_TARGET static inline __m256i fold256(__m256i x, __m256i k, __m256i next)
{
	return _mm256_xor_si256(_mm256_xor_si256(_mm256_clmulepi64_epi128(x, k, 0x00),
						 _mm256_clmulepi64_epi128(x, k, 0x11)),
				next);
}

FOLD_TARGET static inline __m128i fold128(__m128i x, __m128i k, __m128i next)
{
	return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00),
					   _mm_clmulepi64_si128(x, k, 0x11)),
			     next);
}

FOLD_TARGET static inline __m256i fold_k256(int i)
{
	return _mm256_broadcastsi128_si256(_mm_loadu_si128((const void *)fold_k[i]));
}

/* 32 bytes at p + off, stored at d + off too when copying. */
FOLD_TARGET static inline __attribute__((always_inline)) __m256i
load32(const unsigned char *p, unsigned char *d, size_t off)
{
	__m256i v = _mm256_loadu_si256((const void *)(p + off));

	if (d)
		_mm256_storeu_si256((void *)(d + off), v);
	return v;
}

FOLD_TARGET static inline __attribute__((always_inline)) __m128i
load16(const unsigned char *p, unsigned char *d)
{
	__m128i v = _mm_loadu_si128((const void *)p);

	if (d)
		_mm_storeu_si128((void *)d, v);
	return v;
}

#define STEP(p, d, n) ((p) += (n), (d) = (d) ? (d) + (n) : (d))

/* The CRC (register value) of len >= FOLD_MIN bytes at p, copied to d unless d is NULL. */
FOLD_TARGET static inline __attribute__((always_inline)) uint32_t
crc_fold(uint32_t crc, unsigned char *d, const unsigned char *p, size_t len)
{
	__m256i k = fold_k256(0), x0, x1, x2, x3;
	__m128i r, k128 = _mm_loadu_si128((const void *)fold_k[2]);
	uint64_t c;

	x0 = _mm256_xor_si256(load32(p, d, 0), _mm256_set_epi64x(0, 0, 0, crc));
	x1 = load32(p, d, 32);
	x2 = load32(p, d, 64);
	x3 = load32(p, d, 96);
	for (STEP(p, d, 128), len -= 128; len >= 128; STEP(p, d, 128), len -= 128) {
		x0 = fold256(x0, k, load32(p, d, 0));
		x1 = fold256(x1, k, load32(p, d, 32));
		x2 = fold256(x2, k, load32(p, d, 64));
		x3 = fold256(x3, k, load32(p, d, 96));
	}
	k = fold_k256(1);
	x3 = fold256(fold256(fold256(x0, k, x1), k, x2), k, x3);
	for (; len >= 32; STEP(p, d, 32), len -= 32)
		x3 = fold256(x3, k, load32(p, d, 0));
	r = fold128(_mm256_castsi256_si128(x3), k128, _mm256_extracti128_si256(x3, 1));
	for (; len >= 16; STEP(p, d, 16), len -= 16)
		r = fold128(r, k128, load16(p, d));
	c = __builtin_ia32_crc32di(0, (uint64_t)_mm_cvtsi128_si64(r));
	c = __builtin_ia32_crc32di(c, (uint64_t)_mm_extract_epi64(r, 1));
	crc = (uint32_t)c;
	for (; len; len--) {
		if (d)
			*d++ = *p;
		crc = __builtin_ia32_crc32qi(crc, *p++);
	}
	return crc;
}

FOLD_TARGET static uint32_t crc_fold_only(uint32_t crc, const unsigned char *p, size_t len)
{
	return crc_fold(crc, NULL, p, len);
}

FOLD_TARGET static uint32_t crc_fold_copy(uint32_t crc, unsigned char *d, const unsigned char *p,
					  size_t len)
{
	return crc_fold(crc, d, p, len);
}
#endif

/* Tests: use nothing above level (0 table, 1 crc32 instruction, 2 folding); the level in use. */
int udp_crc_cap(int level)
{
	pthread_once(&once, crc_init);
	hw = hw && level >= 1;
#if defined(__x86_64__)
	fold_hw = fold_hw && level >= 2;
	if (fold_hw)
		return 2;
#endif
	return hw ? 1 : 0;
}

uint32_t udp_crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&once, crc_init);
	crc = ~crc;
#if defined(__x86_64__)
	if (fold_hw && len >= FOLD_MIN)
		return ~crc_fold_only(crc, buf, len);
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
	if (fold_hw && len >= FOLD_MIN)
		return ~crc_fold_copy(~0u, dst, src, len);
	if (hw)
		return ~crc_copy_hw(~0u, dst, src, len);
#endif
	memcpy(dst, src, len);
	return ~crc_table(~0u, src, len);
}

/*
 * The CRC32C of A then B from the CRC32C of each: A's shifted by B's length
 * (x^(8 len_b) mod P). The factors of the last two lengths are kept per
 * thread: a stream of messages has full frames and one last-frame length.
 */
uint32_t udp_crc32c_combine(uint32_t crc_a, uint32_t crc_b, size_t len_b)
{
	static __thread struct crc_factor { size_t len; uint32_t x; } kept[2] = {
		{ SIZE_MAX, 0 }, { SIZE_MAX, 0 }
	};

	pthread_once(&once, crc_init);
	if (kept[0].len != len_b) {
		struct crc_factor older = kept[1];

		kept[1] = kept[0];
		kept[0] = older.len == len_b ? older :
			  (struct crc_factor){ len_b, xpow_mod(8u * (uint64_t)len_b) };
	}
	return mul_mod(kept[0].x, crc_a) ^ crc_b;
}
