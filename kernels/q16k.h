// q16k.h - Q16_K, the engine's 16-bit activations for the K-quants' integer
// products (never in a file; kernels.h's KTYPE_Q16_K).
//
// A row of n floats (n a multiple of 256) is n/256 blocks. Each block keeps
// one float scale d and the integers v = nearest(x * 16383 / amax), in
// [-16383, 16383]: the value is d * v, rounded to 1/32766 of the block's
// largest magnitude where ggml's Q8_K rounds to 1/254. The weights, decoded
// to 16-bit integers with their sub-block scales applied, meet v in pmaddwd /
// vpdpwssd (pairs of 16-bit products summed to 32 bits). Beside v, the sums
// of each 32 (for the Q4_K / Q5_K offsets m).
//
// 15 bits, not 16, so that eight 32-bit lanes hold any super-block's sum
// exactly: a lane sums 32 products of |w| <= 32 * 128 (Q6_K's (q - 32) * sc)
// and |v| <= 16383, at most 2^17 * 16383 < 2^31.
#pragma once

#include <cstdint>

#include "ggml_blocks.h"

constexpr int kQ16Max = 16383;

struct block_q16_K {
    float d;
    int16_t v[QK_K];
    int32_t sums[QK_K / 32];
};

static_assert(sizeof(block_q16_K) == 548, "Q16_K block");

// The weight types whose products subtract offsets m * (sum of 32 x).
template <class B> inline constexpr bool kHasOffsets = false;
template <> inline constexpr bool kHasOffsets<block_q4_K> = true;
template <> inline constexpr bool kHasOffsets<block_q5_K> = true;
