// kquant_x86.h - Q4_K, Q5_K and Q6_K times Q8_K activations with 256-bit
// integer vectors (AVX2; the AVX-512 path runs the same code), the twins of
// matmul_scalar.cpp's matmul_kq8_scalar: the same exact integers per
// super-block, the same float term, summed in the same order, so the same
// bits. Included by matmul_avx2.cpp.
//
// One super-block at a time: the weights are decoded once into 32-byte
// vectors of quants (each vector one 32-element stretch of the block, the
// values 0..63, unsigned), with a vector of 16-bit sub-block scales beside
// each; then, for every activation row that meets them,
//   pmaddubsw  quant x activation, pairs summed to 16 bits (at most
//              2 * 63 * 127, no saturation)
//   pmaddwd    times the scale, pairs summed to 32 bits
// accumulate S in eight int32 lanes; M comes from the activation's 16-sums
// in one more pmaddwd. A GEMV decodes four rows (a quarter of the range
// apart, four streams) block by block; a GEMM decodes a block once for up
// to kRowsT activation rows.
#pragma once

#include <immintrin.h>

#include <cstring>

#include "ggml_blocks.h"

namespace kq8 {

#define KQ_INLINE inline __attribute__((always_inline))

static KQ_INLINE int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}
static KQ_INLINE __m256i load32(const void* p) { return _mm256_loadu_si256((const __m256i*)p); }
static KQ_INLINE __m256i lo4(__m256i v) { return _mm256_and_si256(v, _mm256_set1_epi8(15)); }
static KQ_INLINE __m256i hi4(__m256i v) { return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(15)); }
// (v >> k) & mask, per byte
static KQ_INLINE __m256i bits(__m256i v, int k, int mask) {
    return _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(k)), _mm256_set1_epi8((char)mask));
}

// A decoded super-block: q[k] holds elements [32k, 32k + 32), sc[k] their
// scales (16-bit lanes 0..7 for elements 32k..32k+15, 8..15 for the rest);
// mw the weights of the activation's sixteen 16-sums in M.
struct Decoded {
    __m256i q[8], sc[8], mw;
    float d, dmin;
};

// Lane k of 8 16-bit values (in both 128-bit halves of v) to all 16 lanes.
static KQ_INLINE __m256i word(__m256i v, int k) { return _mm256_shuffle_epi8(v, _mm256_set1_epi16((short)(0x0100 + 0x0202 * k))); }

// Q4_K / Q5_K (qh null for Q4_K): sub-block j is stretch j, scale sc_j, offset m_j.
template <bool HIGH>
static KQ_INLINE void decode_k4(uint16_t d, uint16_t dmin, const uint8_t* scales, const uint8_t* qs,
                                const uint8_t* qh, Decoded* o) {
    uint32_t a[3];
    memcpy(a, scales, 12);
    const uint32_t six = 0x3f3f3f3f, nib = 0x0f0f0f0f, top = 0x03030303;  // kquant_scale_min, four at a time
    const __m128i packed = _mm_setr_epi32((int)(a[0] & six), (int)((a[2] & nib) | (((a[0] >> 6) & top) << 4)),
                                          (int)(a[1] & six), (int)(((a[2] >> 4) & nib) | (((a[1] >> 6) & top) << 4)));
    const __m128i sc16 = _mm_cvtepu8_epi16(packed);  // sc_0..7; the offsets m_0..7 in packed's high half
    const __m256i sc = _mm256_set_m128i(sc16, sc16);
    const __m256i h = HIGH ? load32(qh) : _mm256_setzero_si256();
    for (int r = 0; r < 4; r++) {
        const __m256i v = load32(qs + 32 * r);
        o->q[2 * r] = lo4(v);
        o->q[2 * r + 1] = hi4(v);
        if (HIGH) {  // the fifth bits: bit planes 2r and 2r + 1 of qh
            o->q[2 * r] = _mm256_or_si256(o->q[2 * r], _mm256_slli_epi16(bits(h, 2 * r, 1), 4));
            o->q[2 * r + 1] = _mm256_or_si256(o->q[2 * r + 1], _mm256_slli_epi16(bits(h, 2 * r + 1, 1), 4));
        }
        o->sc[2 * r] = word(sc, 2 * r);
        o->sc[2 * r + 1] = word(sc, 2 * r + 1);
    }
    const __m128i m8 = _mm_srli_si128(packed, 8);
    o->mw = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));  // m_j weighs 16-sums 2j and 2j + 1
    o->d = _cvtsh_ss(d);
    o->dmin = _cvtsh_ss(dmin);
}

static KQ_INLINE void decode(const block_q4_K* b, Decoded* o) {
    decode_k4<false>(b->d, b->dmin, b->scales, b->qs, nullptr, o);
}
static KQ_INLINE void decode(const block_q5_K* b, Decoded* o) { decode_k4<true>(b->d, b->dmin, b->scales, b->qs, b->qh, o); }

// Q6_K: stretch k = 4h + p is quarter p of half h (see dequant_block), its
// two sub-blocks 8h + 2p and 8h + 2p + 1; M weighs each 16-sum by its scale.
static KQ_INLINE void decode(const block_q6_K* b, Decoded* o) {
    const __m128i s8 = _mm_loadu_si128((const __m128i*)b->scales);
    const __m128i lo = _mm_cvtepi8_epi16(s8), hi = _mm_cvtepi8_epi16(_mm_srli_si128(s8, 8));
    const __m256i half_sc[2] = {_mm256_set_m128i(lo, lo), _mm256_set_m128i(hi, hi)};
    for (int h = 0; h < 2; h++) {
        const __m256i qh = load32(b->qh + 32 * h);
        for (int p = 0; p < 4; p++) {
            const __m256i v = load32(b->ql + 64 * h + 32 * (p & 1));
            o->q[4 * h + p] = _mm256_or_si256(p < 2 ? lo4(v) : hi4(v), _mm256_slli_epi16(bits(qh, 2 * p, 3), 4));
            // 16-bit lanes 0..7: scale 2p of this half, lanes 8..15: scale 2p + 1
            const short w0 = (short)(0x0100 + 0x0202 * (2 * p)), w1 = (short)(0x0100 + 0x0202 * (2 * p + 1));
            o->sc[4 * h + p] = _mm256_shuffle_epi8(half_sc[h], _mm256_setr_epi16(w0, w0, w0, w0, w0, w0, w0, w0, w1, w1,
                                                                                 w1, w1, w1, w1, w1, w1));
        }
    }
    o->mw = _mm256_cvtepi8_epi16(s8);
    o->d = _cvtsh_ss(b->d);
    o->dmin = 0.0f;
}

static KQ_INLINE void ints(const Decoded& w, const block_q8_K* x, int32_t* S, int32_t* M) {
    __m256i acc = _mm256_setzero_si256();
    for (int k = 0; k < 8; k++)
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w.q[k], load32(x->qs + 32 * k)), w.sc[k]));
    *S = hsum_i32(acc);
    *M = hsum_i32(_mm256_madd_epi16(load32(x->bsums), w.mw));
}

// The float term of matmul_kq8_scalar's dot_kq8.
static KQ_INLINE float term(const block_q4_K*, const Decoded& w, const block_q8_K* x, int32_t S, int32_t M) {
    return (float)S * (x->d * w.d) - (float)M * (x->d * w.dmin);
}
static KQ_INLINE float term(const block_q5_K*, const Decoded& w, const block_q8_K* x, int32_t S, int32_t M) {
    return (float)S * (x->d * w.d) - (float)M * (x->d * w.dmin);
}
static KQ_INLINE float term(const block_q6_K*, const Decoded& w, const block_q8_K* x, int32_t S, int32_t M) {
    return (float)(S - 32 * M) * (x->d * w.d);
}

constexpr int64_t kRowsT = 64;  // activation rows per decoded block in a GEMM

template <class B>
static void matmul(const void* Wv, int64_t n, int64_t n_out, int64_t row0, int64_t row1, const void* Xv, int64_t T,
                   float* Y) {
    const int64_t nb = n / QK_K;
    const B* W = (const B*)Wv;
    const block_q8_K* X = (const block_q8_K*)Xv;
    if (T == 1) {  // four rows, a quarter of the range apart, block by block
        constexpr int S4 = 4;
        const int64_t q = (row1 - row0 + S4 - 1) / S4;
        for (int64_t o = row0; o < row0 + q; o++) {
            int64_t rows[S4];
            int n_rows = 0;
            for (int64_t r = o; r < row1 && n_rows < S4; r += q) rows[n_rows++] = r;
            float sum[S4] = {0, 0, 0, 0};
            for (int64_t b = 0; b < nb; b++)
                for (int s = 0; s < n_rows; s++) {
                    const B* w = W + rows[s] * nb + b;
                    Decoded dw;
                    decode(w, &dw);
                    int32_t Si, Mi;
                    ints(dw, X + b, &Si, &Mi);
                    sum[s] += term(w, dw, X + b, Si, Mi);
                }
            for (int s = 0; s < n_rows; s++) Y[rows[s]] = sum[s];
        }
        return;
    }
    float sum[kRowsT];
    for (int64_t t0 = 0; t0 < T; t0 += kRowsT) {
        const int64_t nt = T - t0 < kRowsT ? T - t0 : kRowsT;
        for (int64_t o = row0; o < row1; o++) {
            for (int64_t t = 0; t < nt; t++) sum[t] = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                const B* w = W + o * nb + b;
                Decoded dw;
                decode(w, &dw);
                for (int64_t t = 0; t < nt; t++) {
                    const block_q8_K* x = X + (t0 + t) * nb + b;
                    int32_t Si, Mi;
                    ints(dw, x, &Si, &Mi);
                    sum[t] += term(w, dw, x, Si, Mi);
                }
            }
            for (int64_t t = 0; t < nt; t++) Y[(t0 + t) * n_out + o] = sum[t];
        }
    }
}

}  // namespace kq8
