// SPDX-License-Identifier: MIT
/*
 * The endpoint ABI as seen through the header: sizes, offsets and
 * constants that the library, the backends, the firmware and the driver
 * must agree on. A change here is an ABI change (bump CLCP_ABI_VERSION).
 */
#include <criterion/criterion.h>
#include <stddef.h>

#include <clcp/abi.h>

#define OFF(t, f) offsetof(struct t, f)

Test(abi, version_and_magic)
{
	cr_assert_eq(CLCP_ABI_VERSION, 1u);
	cr_assert_eq(CLCP_ENDPT_MAGIC, 0x434c4350u);
	cr_assert_eq(CLCP_FRAME_VERSION, 1u);
}

Test(abi, owner_states)
{
	cr_assert_eq(CLCP_OWNER_FREE, 0);
	cr_assert_eq(CLCP_OWNER_USER, 1);
	cr_assert_eq(CLCP_OWNER_NIC, 2);
}

Test(abi, qentry_layout)
{
	cr_assert_eq(sizeof(struct clcp_qentry), CLCP_CACHELINE);
	cr_assert_eq(OFF(clcp_qentry, data), 24u);
	cr_assert_eq(sizeof(((struct clcp_qentry *)0)->data), CLCP_QE_INLINE_MAX);
	cr_assert_eq(OFF(clcp_qentry, buf_off), 0u);
	cr_assert_eq(OFF(clcp_qentry, len), 4u);
	cr_assert_eq(OFF(clcp_qentry, msg_len), 8u);
	cr_assert_eq(OFF(clcp_qentry, seq), 12u);
	cr_assert_eq(OFF(clcp_qentry, chan), 16u);
	cr_assert_eq(OFF(clcp_qentry, status), 18u);
	cr_assert_eq(OFF(clcp_qentry, flags), 20u);
	/* The owner flag is the entry's last byte: written last, one DMA. */
	cr_assert_eq(OFF(clcp_qentry, owner), sizeof(struct clcp_qentry) - 1);
	cr_assert_eq(sizeof(((struct clcp_qentry *)0)->owner), 1u);
}

Test(abi, qentry_flags_distinct)
{
	const unsigned flags[] = { CLCP_QF_LAST, CLCP_QF_FIRST, CLCP_QF_INLINE };
	unsigned seen = 0;

	for (unsigned i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		cr_assert_neq(flags[i], 0u);
		cr_assert_eq(flags[i] & (flags[i] - 1), 0u, "one bit: %#x", flags[i]);
		cr_assert_eq(seen & flags[i], 0u, "distinct: %#x", flags[i]);
		seen |= flags[i];
	}
}

Test(abi, chan_desc_layout)
{
	cr_assert_eq(sizeof(struct clcp_chan_desc), 32u);
	cr_assert_eq(OFF(clcp_chan_desc, peer_node), 0u);
	cr_assert_eq(OFF(clcp_chan_desc, peer_port), 4u);
	cr_assert_eq(OFF(clcp_chan_desc, my_port), 6u);
	cr_assert_eq(OFF(clcp_chan_desc, state), 8u);
	cr_assert_eq(OFF(clcp_chan_desc, tx_seq), 12u);
	cr_assert_eq(OFF(clcp_chan_desc, rx_seq), 16u);
	cr_assert_eq(OFF(clcp_chan_desc, gen), 20u);
	cr_assert_eq(CLCP_CHAN_FREE, 0);
	cr_assert_eq(CLCP_CHAN_ACTIVE, 1);
	cr_assert_eq(CLCP_CHAN_CLOSED, 2);
}

Test(abi, endpt_hdr_layout)
{
	cr_assert_eq(CLCP_CACHELINE, 64u);
	cr_assert_eq(sizeof(struct clcp_endpt_hdr), 5 * CLCP_CACHELINE);
	cr_assert_eq(OFF(clcp_endpt_hdr, magic), 0u);
	cr_assert_eq(OFF(clcp_endpt_hdr, abi_version), 4u);
	cr_assert_eq(OFF(clcp_endpt_hdr, hdr_size), 6u);
	cr_assert_eq(OFF(clcp_endpt_hdr, size), 8u);
	cr_assert_eq(OFF(clcp_endpt_hdr, mtu), 12u);
	cr_assert_eq(OFF(clcp_endpt_hdr, node), 16u);
	cr_assert_eq(OFF(clcp_endpt_hdr, index), 20u);
	cr_assert_eq(OFF(clcp_endpt_hdr, chan_off), 24u);
	cr_assert_eq(OFF(clcp_endpt_hdr, nrxbuf), 60u);
	/* Words of different writers live on different cache lines. */
	cr_assert_eq(OFF(clcp_endpt_hdr, armed), 1 * CLCP_CACHELINE);
	cr_assert_eq(OFF(clcp_endpt_hdr, rx_posted), 2 * CLCP_CACHELINE);
	cr_assert_eq(OFF(clcp_endpt_hdr, doorbell), 2 * CLCP_CACHELINE + 4);
	cr_assert_eq(OFF(clcp_endpt_hdr, rx_head), 3 * CLCP_CACHELINE);
	/* Written by peers vs by the endpoint's own NIC: apart, no false sharing. */
	cr_assert_eq(OFF(clcp_endpt_hdr, tx_head), 4 * CLCP_CACHELINE);
	cr_assert_eq(OFF(clcp_endpt_hdr, tx_frames) % 8, 0u);
	cr_assert_eq(OFF(clcp_endpt_hdr, rx_drops) % 8, 0u);
}

Test(abi, frame_hdr_layout)
{
	cr_assert_eq(sizeof(struct clcp_frame_hdr), 32u);
	cr_assert_eq(OFF(clcp_frame_hdr, version), 0u);
	cr_assert_eq(OFF(clcp_frame_hdr, flags), 1u);
	cr_assert_eq(OFF(clcp_frame_hdr, dst_port), 2u);
	cr_assert_eq(OFF(clcp_frame_hdr, src_port), 4u);
	cr_assert_eq(OFF(clcp_frame_hdr, src_node), 8u);
	cr_assert_eq(OFF(clcp_frame_hdr, len), 12u);
	cr_assert_eq(OFF(clcp_frame_hdr, msg_len), 16u);
	cr_assert_eq(OFF(clcp_frame_hdr, seq), 20u);
	cr_assert_eq(OFF(clcp_frame_hdr, ack), 24u);
	cr_assert_eq(OFF(clcp_frame_hdr, key), 28u);
	/* Distinct single bits: their sum equals their union. */
	cr_assert_eq(CLCP_FF_LAST | CLCP_FF_FIRST | CLCP_FF_ACK | CLCP_FF_DATA,
		     CLCP_FF_LAST + CLCP_FF_FIRST + CLCP_FF_ACK + CLCP_FF_DATA);
}

Test(abi, fixed_width_types)
{
	cr_assert_eq(sizeof(clcp_u8), 1u);
	cr_assert_eq(sizeof(clcp_u16), 2u);
	cr_assert_eq(sizeof(clcp_u32), 4u);
	cr_assert_eq(sizeof(clcp_u64), 8u);
	cr_assert_eq(sizeof(clcp_s16), 2u);
	cr_assert_lt((clcp_s16)-1, 0);
}
