// ggml_blocks.h - the rest of GGML's weight blocks (Q8_0 and Q4_0 are in
// quant.h; their dequantizers are here too), byte for byte as ggml-common.h lays them out in a GGUF file, and
// each one's dequantization: the exact float32 value of every weight.
//
// 32-element blocks (d, m: IEEE half scale and offset; nibble j of qs[j] is
// element j, the high nibble element j + 16):
//   Q4_1    d, m, qs[16]              x = d * q + m,         q in 0..15
//   Q5_0    d, qh[4], qs[16]          x = d * (q - 16),      q in 0..31, bit 4 of
//   Q5_1    d, m, qh[4], qs[16]       x = d * q + m           element j is bit j of qh
//   IQ4_NL  d, qs[16]                 x = d * kIq4nl[q],     a 16-value non-linear grid
//
// 256-element super-blocks of sub-blocks, each sub-block with a small
// integer scale (and offset) of its own, applied to the super-block's half d:
//   Q2_K  scales[16], qs[64], d, dmin        16 x 16: x = d*(sc&15)*q - dmin*(sc>>4), q 2 bits
//   Q3_K  hmask[32], qs[64], scales[12], d   16 x 16: x = d*(sc-32)*(q - 4*!hbit), 6-bit sc
//   Q4_K  d, dmin, scales[12], qs[128]       8 x 32:  x = d*sc*q - dmin*m, 6-bit sc and m
//   Q5_K  d, dmin, scales[12], qh[32], qs[128]  as Q4_K with a fifth bit from qh
//   Q6_K  ql[128], qh[64], scales[16] (int8), d  16 x 16: x = d*sc*(q - 32), q 6 bits
//   IQ4_XS d, scales_h, scales_l[4], qs[128]    8 x 32:  x = d*(ls-32)*kIq4nl[q], 6-bit ls
//
// Where a quant's bits sit inside a super-block follows ggml's SIMD-friendly
// order (e.g. Q4_K's 64-element runs: 32 low nibbles, then the same bytes'
// high nibbles); the dequant_block functions below are the definition. They
// compute each value as ggml's dequantize_row_* does, in the same float32
// operations, so the weights the kernels see are the ones llama.cpp's
// reference conversion sees.
#pragma once

#include <cstdint>
#include <cstring>

#include "half.h"
#include "quant.h"

#define QK_K 256

struct block_q4_1 {
    uint16_t d, m;
    uint8_t qs[16];
};
struct block_q5_0 {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[16];
};
struct block_q5_1 {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[16];
};
struct block_iq4_nl {
    uint16_t d;
    uint8_t qs[16];
};
struct block_q2_K {
    uint8_t scales[QK_K / 16];  // low nibble scale, high nibble offset, per 16
    uint8_t qs[QK_K / 4];
    uint16_t d, dmin;
};
struct block_q3_K {
    uint8_t hmask[QK_K / 8];  // the third bit (set: q as stored; clear: q - 4)
    uint8_t qs[QK_K / 4];     // the low two bits
    uint8_t scales[12];       // sixteen 6-bit scales, biased by 32
    uint16_t d;
};
struct block_q4_K {
    uint16_t d, dmin;
    uint8_t scales[12];  // eight 6-bit scales and eight 6-bit offsets (get_scale_min_k4)
    uint8_t qs[QK_K / 2];
};
struct block_q5_K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
};
struct block_q6_K {
    uint8_t ql[QK_K / 2];  // the low four bits
    uint8_t qh[QK_K / 4];  // the high two bits
    int8_t scales[QK_K / 16];
    uint16_t d;
};
struct block_iq4_xs {
    uint16_t d;
    uint16_t scales_h;           // the high two bits of the eight scales
    uint8_t scales_l[QK_K / 64];  // their low four bits
    uint8_t qs[QK_K / 2];
};

// The activations of the K-quants' integer products (ggml's Q8_K): one float
// scale per 256 values, and the sums of each 16 quants (for the offsets).
struct block_q8_K {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
};

static_assert(sizeof(block_q8_K) == 292, "ggml layout");
static_assert(sizeof(block_q4_1) == 20, "ggml layout");
static_assert(sizeof(block_q5_0) == 22, "ggml layout");
static_assert(sizeof(block_q5_1) == 24, "ggml layout");
static_assert(sizeof(block_iq4_nl) == 18, "ggml layout");
static_assert(sizeof(block_q2_K) == 84, "ggml layout");
static_assert(sizeof(block_q3_K) == 110, "ggml layout");
static_assert(sizeof(block_q4_K) == 144, "ggml layout");
static_assert(sizeof(block_q5_K) == 176, "ggml layout");
static_assert(sizeof(block_q6_K) == 210, "ggml layout");
static_assert(sizeof(block_iq4_xs) == 136, "ggml layout");

// IQ4_NL / IQ4_XS's grid: 16 levels, denser near zero, where most weights are.
static const int8_t kIq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// Q4_K / Q5_K: the 6-bit scale and offset of sub-block j (0..7) from the
// 12 packed bytes: j < 4 in the low six bits of bytes j and j + 4; j >= 4
// split between a nibble of byte j + 4 and the top two bits of bytes j - 4, j.
static inline void kquant_scale_min(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// Q3_K: the sixteen 6-bit scales (biased by 32), unpacked: the low nibbles
// of bytes 0..7 are scales 0..7, their high nibbles scales 8..15, and the
// two top bits of each come from bytes 8..11.
static inline void q3k_scales(const uint8_t* s, int8_t* out) {
    for (int j = 0; j < 16; j++) {
        const int lo = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
        const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

static inline void dequant_block(const block_q8_0* __restrict b, float* __restrict y) {
    const float d = f16_to_f32(b->d);
    for (int j = 0; j < 32; j++) y[j] = (float)b->qs[j] * d;
}

static inline void dequant_block(const block_q4_0* __restrict b, float* __restrict y) {
    const float d = f16_to_f32(b->d);
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((b->qs[j] & 15) - 8) * d;
        y[j + 16] = (float)((b->qs[j] >> 4) - 8) * d;
    }
}

static inline void dequant_block(const block_q4_1* __restrict b, float* __restrict y) {
    const float d = f16_to_f32(b->d), m = f16_to_f32(b->m);
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(b->qs[j] & 15) * d + m;
        y[j + 16] = (float)(b->qs[j] >> 4) * d + m;
    }
}

static inline void dequant_block(const block_q5_0* __restrict b, float* __restrict y) {
    const float d = f16_to_f32(b->d);
    uint32_t qh;
    memcpy(&qh, b->qh, 4);
    for (int j = 0; j < 16; j++) {
        const int q0 = (b->qs[j] & 15) | (int)(((qh >> j) << 4) & 0x10);
        const int q1 = (b->qs[j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
        y[j] = (float)(q0 - 16) * d;
        y[j + 16] = (float)(q1 - 16) * d;
    }
}

static inline void dequant_block(const block_q5_1* __restrict b, float* __restrict y) {
    const float d = f16_to_f32(b->d), m = f16_to_f32(b->m);
    uint32_t qh;
    memcpy(&qh, b->qh, 4);
    for (int j = 0; j < 16; j++) {
        const int q0 = (b->qs[j] & 15) | (int)(((qh >> j) << 4) & 0x10);
        const int q1 = (b->qs[j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
        y[j] = (float)q0 * d + m;
        y[j + 16] = (float)q1 * d + m;
    }
}

static inline void dequant_block(const block_iq4_nl* __restrict b, float* __restrict y) {
    const float d = f16_to_f32(b->d);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)kIq4nl[b->qs[j] & 15];
        y[j + 16] = d * (float)kIq4nl[b->qs[j] >> 4];
    }
}

static inline void dequant_block(const block_q2_K* __restrict b, float* __restrict y) {
    const float d = f16_to_f32(b->d), dmin = f16_to_f32(b->dmin);
    // 128-element halves; in each, four 2-bit planes of the same 32 bytes
    for (int h = 0; h < 2; h++)
        for (int p = 0; p < 4; p++)
            for (int s = 0; s < 2; s++) {  // two sub-blocks of 16 per plane
                const uint8_t sc = b->scales[h * 8 + p * 2 + s];
                const float dl = d * (float)(sc & 15), ml = dmin * (float)(sc >> 4);
                const uint8_t* q = b->qs + h * 32 + s * 16;
                float* out = y + h * 128 + p * 32 + s * 16;
                for (int l = 0; l < 16; l++) out[l] = dl * (float)((q[l] >> (2 * p)) & 3) - ml;
            }
}

static inline void dequant_block(const block_q3_K* __restrict b, float* __restrict y) {
    const float d = f16_to_f32(b->d);
    int8_t sc[16];
    q3k_scales(b->scales, sc);
    for (int h = 0; h < 2; h++)
        for (int p = 0; p < 4; p++)
            for (int s = 0; s < 2; s++) {
                const float dl = d * (float)sc[h * 8 + p * 2 + s];
                const uint8_t* q = b->qs + h * 32 + s * 16;
                const uint8_t* hm = b->hmask + s * 16;
                const uint8_t bit = (uint8_t)(1u << (h * 4 + p));
                float* out = y + h * 128 + p * 32 + s * 16;
                for (int l = 0; l < 16; l++)
                    out[l] = dl * (float)((int)((q[l] >> (2 * p)) & 3) - ((hm[l] & bit) ? 0 : 4));
            }
}

// Q4_K and Q5_K: 64-element runs, each 32 bytes' low nibbles then their high
// nibbles, with sub-block scales and offsets; Q5_K's fifth bit of element
// l of run r is bit 2r (low nibble) or 2r + 1 (high nibble) of qh[l].
static inline void dequant_k4(uint16_t d16, uint16_t dmin16, const uint8_t* scales, const uint8_t* __restrict qs,
                              const uint8_t* __restrict qh, float* __restrict y) {
    const float d = f16_to_f32(d16), dmin = f16_to_f32(dmin16);
    for (int r = 0; r < 4; r++) {
        uint8_t sc, m;
        kquant_scale_min(2 * r, scales, &sc, &m);
        const float d1 = d * (float)sc, m1 = dmin * (float)m;
        kquant_scale_min(2 * r + 1, scales, &sc, &m);
        const float d2 = d * (float)sc, m2 = dmin * (float)m;
        const uint8_t* q = qs + 32 * r;
        for (int l = 0; l < 32; l++) {
            const int h1 = qh ? ((qh[l] >> (2 * r)) & 1) << 4 : 0, h2 = qh ? ((qh[l] >> (2 * r + 1)) & 1) << 4 : 0;
            y[64 * r + l] = d1 * (float)((q[l] & 15) + h1) - m1;
            y[64 * r + 32 + l] = d2 * (float)((q[l] >> 4) + h2) - m2;
        }
    }
}

static inline void dequant_block(const block_q4_K* __restrict b, float* __restrict y) {
    dequant_k4(b->d, b->dmin, b->scales, b->qs, nullptr, y);
}

static inline void dequant_block(const block_q5_K* __restrict b, float* __restrict y) {
    dequant_k4(b->d, b->dmin, b->scales, b->qs, b->qh, y);
}

static inline void dequant_block(const block_q6_K* __restrict b, float* __restrict y) {
    const float d = f16_to_f32(b->d);
    for (int h = 0; h < 2; h++) {  // 128-element halves: 64 bytes of ql, 32 of qh, 8 scales
        const uint8_t* ql = b->ql + 64 * h;
        const uint8_t* qh = b->qh + 32 * h;
        const int8_t* sc = b->scales + 8 * h;
        float* out = y + 128 * h;
        for (int l = 0; l < 32; l++) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            out[l] = d * (float)sc[is] * (float)q1;
            out[l + 32] = d * (float)sc[is + 2] * (float)q2;
            out[l + 64] = d * (float)sc[is + 4] * (float)q3;
            out[l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
    }
}

static inline void dequant_block(const block_iq4_xs* __restrict b, float* __restrict y) {
    const float d = f16_to_f32(b->d);
    for (int s = 0; s < 8; s++) {
        const int ls = ((b->scales_l[s / 2] >> (4 * (s % 2))) & 15) | (((b->scales_h >> (2 * s)) & 3) << 4);
        const float dl = d * (float)(ls - 32);
        const uint8_t* q = b->qs + 16 * s;
        for (int j = 0; j < 16; j++) {
            y[32 * s + j] = dl * (float)kIq4nl[q[j] & 15];
            y[32 * s + j + 16] = dl * (float)kIq4nl[q[j] >> 4];
        }
    }
}

// Elements per block of each type above.
template <class B> struct BlockSize { static constexpr int64_t n = QK_K; };
template <> struct BlockSize<block_q8_0> { static constexpr int64_t n = 32; };
template <> struct BlockSize<block_q4_0> { static constexpr int64_t n = 32; };
template <> struct BlockSize<block_q4_1> { static constexpr int64_t n = 32; };
template <> struct BlockSize<block_q5_0> { static constexpr int64_t n = 32; };
template <> struct BlockSize<block_q5_1> { static constexpr int64_t n = 32; };
template <> struct BlockSize<block_iq4_nl> { static constexpr int64_t n = 32; };

// One row of n elements (a multiple of the block size) to float32.
template <class B>
static inline void dequant_row(const void* src, float* dst, int64_t n) {
    const B* b = (const B*)src;
    for (int64_t i = 0; i < n / BlockSize<B>::n; i++) dequant_block(b + i, dst + i * BlockSize<B>::n);
}
