// SPDX-License-Identifier: MIT
/* SAR helpers: how a message of any length is cut into frames. */
#include <criterion/criterion.h>

#include <clcp/clcp.h>

static const uint32_t mtus[] = { CLCP_MTU_MIN, 1000, CLCP_MTU_DEFAULT, CLCP_MTU_MAX };

/* Walks every frame of a message: lengths add up, flags mark the ends. */
static void check_message(uint64_t len, uint32_t mtu)
{
	uint32_t n = clcp_sar_nframes(len, mtu);
	uint64_t sum = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t flen = clcp_sar_frame_len(len, mtu, i);
		uint8_t fl = clcp_sar_flags(i, n);

		cr_assert(flen <= mtu, "len %llu mtu %u frame %u: %u > mtu",
			  (unsigned long long)len, mtu, i, flen);
		if (i + 1 < n)
			cr_assert_eq(flen, mtu, "len %llu mtu %u: frame %u short",
				     (unsigned long long)len, mtu, i);
		cr_assert_eq(!!(fl & CLCP_QF_FIRST), i == 0, "len %llu mtu %u frame %u: FIRST",
			     (unsigned long long)len, mtu, i);
		cr_assert_eq(!!(fl & CLCP_QF_LAST), i + 1 == n, "len %llu mtu %u frame %u: LAST",
			     (unsigned long long)len, mtu, i);
		sum += flen;
	}
	cr_assert_eq(sum, len, "len %llu mtu %u: frames add up to %llu", (unsigned long long)len,
		     mtu, (unsigned long long)sum);
}

Test(sar, zero_byte_message_is_one_frame)
{
	for (unsigned i = 0; i < sizeof(mtus) / sizeof(mtus[0]); i++) {
		cr_assert_eq(clcp_sar_nframes(0, mtus[i]), 1u);
		cr_assert_eq(clcp_sar_frame_len(0, mtus[i], 0), 0u);
		cr_assert_eq(clcp_sar_flags(0, 1), CLCP_QF_FIRST | CLCP_QF_LAST);
	}
}

Test(sar, one_byte)
{
	for (unsigned i = 0; i < sizeof(mtus) / sizeof(mtus[0]); i++) {
		cr_assert_eq(clcp_sar_nframes(1, mtus[i]), 1u);
		cr_assert_eq(clcp_sar_frame_len(1, mtus[i], 0), 1u);
	}
}

Test(sar, exact_multiples)
{
	for (unsigned i = 0; i < sizeof(mtus) / sizeof(mtus[0]); i++) {
		uint32_t m = mtus[i];

		cr_assert_eq(clcp_sar_nframes(m, m), 1u, "mtu %u", m);
		cr_assert_eq(clcp_sar_frame_len(m, m, 0), m);
		cr_assert_eq(clcp_sar_nframes(2ull * m, m), 2u, "mtu %u", m);
		cr_assert_eq(clcp_sar_frame_len(2ull * m, m, 1), m);
		cr_assert_eq(clcp_sar_nframes(64ull * m, m), 64u, "mtu %u", m);
		cr_assert_eq(clcp_sar_frame_len(64ull * m, m, 63), m);
	}
}

Test(sar, around_the_mtu)
{
	for (unsigned i = 0; i < sizeof(mtus) / sizeof(mtus[0]); i++) {
		uint32_t m = mtus[i];

		cr_assert_eq(clcp_sar_nframes(m - 1, m), 1u, "mtu %u", m);
		cr_assert_eq(clcp_sar_frame_len(m - 1, m, 0), m - 1);
		cr_assert_eq(clcp_sar_nframes(m + 1ull, m), 2u, "mtu %u", m);
		cr_assert_eq(clcp_sar_frame_len(m + 1ull, m, 0), m);
		cr_assert_eq(clcp_sar_frame_len(m + 1ull, m, 1), 1u);
		cr_assert_eq(clcp_sar_nframes(64ull * m + 7, m), 65u, "mtu %u", m);
		cr_assert_eq(clcp_sar_frame_len(64ull * m + 7, m, 64), 7u);
	}
}

Test(sar, mtu_256_and_65536)
{
	cr_assert_eq(clcp_sar_nframes(4u << 20, 256), 16384u);
	cr_assert_eq(clcp_sar_nframes(4u << 20, 65536), 64u);
	cr_assert_eq(clcp_sar_nframes((4u << 20) + 1, 65536), 65u);
	cr_assert_eq(clcp_sar_frame_len((4u << 20) + 1, 65536, 64), 1u);
	cr_assert_eq(clcp_sar_nframes(CLCP_MSG_MAX, 256), CLCP_MSG_MAX / 256);
	cr_assert_eq(clcp_sar_nframes(CLCP_MSG_MAX, 65536), CLCP_MSG_MAX / 65536);
}

Test(sar, flags_of_middle_frames_are_clear)
{
	cr_assert_eq(clcp_sar_flags(0, 3), CLCP_QF_FIRST);
	cr_assert_eq(clcp_sar_flags(1, 3), 0);
	cr_assert_eq(clcp_sar_flags(2, 3), CLCP_QF_LAST);
}

Test(sar, frames_add_up)
{
	static const uint64_t lens[] = { 0,    1,     255,   256,   257,    4095,	   4096,
					 4097, 65535, 65536, 65537, 100000, (4u << 20) + 3 };

	for (unsigned i = 0; i < sizeof(mtus) / sizeof(mtus[0]); i++)
		for (unsigned j = 0; j < sizeof(lens) / sizeof(lens[0]); j++)
			check_message(lens[j], mtus[i]);
}

Test(sar, large_lengths_do_not_wrap)
{
	/* A 64-bit length beyond 4 GiB: frame count and last frame exact. */
	uint64_t len = (5ull << 30) + 5;

	cr_assert_eq(clcp_sar_nframes(len, 65536), (uint32_t)((5ull << 14) + 1));
	cr_assert_eq(clcp_sar_frame_len(len, 65536, (uint32_t)(5ull << 14)), 5u);
}
