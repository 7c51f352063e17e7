// kquant_x86.h - the K-quants' integer products on x86, twins of
// matmul_scalar.cpp's scalar kernels (the same exact integers, the same float
// operations in the same order, so the same bits):
//
//   kq8   Q4_K, Q5_K, Q6_K times Q8_K activations (--act int8), 256-bit
//         vectors; the AVX-512 path runs the same code
//   kq16  Q4_K, Q5_K, Q6_K, IQ4_XS times Q16_K activations (q16k.h; the
//         default): 256-bit pmaddwd (AVX2) and 512-bit vpdpwssd (AVX-512)
//
// Included by matmul_avx2.cpp and matmul_avx512.cpp (the 512-bit parts only
// where the file is compiled for AVX-512).
//
// kq8, one super-block at a time: the weights are decoded once into 32-byte
// vectors of quants (each vector one 32-element stretch of the block, the
// values 0..63, unsigned), with a vector of 16-bit sub-block scales beside
// each; then, for every activation row that meets them,
//   pmaddubsw  quant x activation, pairs summed to 16 bits (at most
//              2 * 63 * 127, no saturation)
//   pmaddwd    times the scale, pairs summed to 32 bits
// accumulate S in eight int32 lanes; M comes from the activation's 16-sums
// in one more pmaddwd.
#pragma once

#include <immintrin.h>

#include <cstring>

#include "ggml_blocks.h"
#include "q16k.h"

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

// The loops over rows, activation rows and blocks, for a product P:
//   P::Dec, P::decode(w, &dec)      a weight block decoded into registers
//   P::Acc, P::zero(), P::step(w, dec, x, acc), P::out(acc)
//                                   one output's running sum, block by block
// A GEMV decodes four rows (a quarter of the range apart, four streams)
// block by block; a GEMM decodes a block once for up to kRowsT activation
// rows, four rows at a time. Each output sees its blocks in order, alone:
// the same bits for any T and row range.
constexpr int64_t kRowsT = 32;  // activation rows per decoded block in a GEMM

template <class B, class P>
static void rows(const void* Wv, int64_t n, int64_t n_out, int64_t row0, int64_t row1, const void* Xv, int64_t T,
                 float* Y) {
    typedef typename P::X XB;
    typedef typename P::Acc Acc;
    const int64_t nb = n / QK_K;
    const B* W = (const B*)Wv;
    const XB* X = (const XB*)Xv;
    if (T == 1) {
        constexpr int S4 = 4;
        const int64_t q = (row1 - row0 + S4 - 1) / S4;
        for (int64_t o = row0; o < row0 + q; o++) {
            int64_t r[S4];
            int n_rows = 0;
            for (int64_t i = o; i < row1 && n_rows < S4; i += q) r[n_rows++] = i;
            Acc acc[S4] = {P::zero(), P::zero(), P::zero(), P::zero()};
            for (int64_t b = 0; b < nb; b++)
#pragma GCC unroll 4
                for (int s = 0; s < n_rows; s++) {
                    const B* w = W + r[s] * nb + b;
                    typename P::Dec dw;
                    P::decode(w, &dw);
                    acc[s] = P::step(w, dw, X + b, acc[s]);
                }
            for (int s = 0; s < n_rows; s++) Y[r[s]] = P::out(acc[s]);
        }
        return;
    }
    // four rows at a time, so an activation block read from L2 serves four
    // rows' products from L1
    constexpr int R = 4;
    Acc acc[R][kRowsT];
    for (int64_t t0 = 0; t0 < T; t0 += kRowsT) {
        const int64_t nt = T - t0 < kRowsT ? T - t0 : kRowsT;
        for (int64_t o = row0; o < row1; o += R) {
            const int nr = row1 - o < R ? (int)(row1 - o) : R;
            for (int s = 0; s < nr; s++)
                for (int64_t t = 0; t < nt; t++) acc[s][t] = P::zero();
            for (int64_t b = 0; b < nb; b++) {
                typename P::Dec dw[R];
                for (int s = 0; s < nr; s++) P::decode(W + (o + s) * nb + b, &dw[s]);
                for (int64_t t = 0; t < nt; t++) {
                    const XB* x = X + (t0 + t) * nb + b;
                    for (int s = 0; s < nr; s++) acc[s][t] = P::step(W + (o + s) * nb + b, dw[s], x, acc[s][t]);
                }
            }
            for (int s = 0; s < nr; s++)
                for (int64_t t = 0; t < nt; t++) Y[(t0 + t) * n_out + o + s] = P::out(acc[s][t]);
        }
    }
}

// Q8_K activations: one float sum per output, a term per block.
struct Q8Ops {
    typedef block_q8_K X;
    typedef float Acc;
    typedef Decoded Dec;
    template <class B>
    static KQ_INLINE void decode(const B* w, Dec* d) { kq8::decode(w, d); }
    static KQ_INLINE Acc zero() { return 0.0f; }
    template <class B>
    static KQ_INLINE Acc step(const B* w, const Dec& dw, const X* x, Acc sum) {
        int32_t S, M;
        ints(dw, x, &S, &M);
        return sum + term(w, dw, x, S, M);
    }
    static KQ_INLINE float out(Acc sum) { return sum; }
};

template <class B>
static void matmul(const void* W, int64_t n, int64_t n_out, int64_t row0, int64_t row1, const void* X, int64_t T,
                   float* Y) {
    rows<B, Q8Ops>(W, n, n_out, row0, row1, X, T, Y);
}

}  // namespace kq8

// ---- times Q16_K activations (q16k.h) -------------------------------------
//
// The twins of matmul_scalar.cpp's matmul_kq16_scalar. A block's weights are
// decoded to 16-bit integers with the sub-block scales applied (pmullw; at
// most 32 * 128 in magnitude), then meet the 16-bit activations in pmaddwd
// (AVX2, 16 elements an instruction) or vpdpwssd (AVX-512 VNNI, 32): exact
// int32 lanes, a float term per block and lane with FMAs into eight float
// lanes, summed once per output: no horizontal sum per block.
namespace kq16 {

using kq8::load32;

// A block before the scales meet the quants: q[k] the 32 quants of
// elements [32k, 32k + 32) as signed bytes (Q6_K's already less 32), g the
// scale of each 16 (int16), m the offsets of each 32 (int32; zero for Q6_K).
struct Bytes {
    __m256i q[8];
    __m256i g, m;
    float d, dmin;
};

// Q4_K / Q5_K's 12 scale bytes unpacked: sc_0..7 in bytes 0..7, m_0..7 in 8..15
// (kquant_scale_min, four at a time).
static KQ_INLINE __m128i k4_scales(const uint8_t* scales) {
    uint32_t a[3];
    memcpy(a, scales, 12);
    const uint32_t six = 0x3f3f3f3f, nib = 0x0f0f0f0f, top = 0x03030303;
    return _mm_setr_epi32((int)(a[0] & six), (int)((a[2] & nib) | (((a[0] >> 6) & top) << 4)), (int)(a[1] & six),
                          (int)(((a[2] >> 4) & nib) | (((a[1] >> 6) & top) << 4)));
}

template <bool HIGH>
static KQ_INLINE void bytes_k4(uint16_t d, uint16_t dmin, const uint8_t* scales, const uint8_t* qs,
                               const uint8_t* qh, Bytes* o) {
    const __m128i packed = k4_scales(scales);
    o->g = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(packed, packed));  // sc_j for the 16s 2j and 2j + 1
    o->m = _mm256_cvtepu8_epi32(_mm_srli_si128(packed, 8));
    const __m256i h = HIGH ? load32(qh) : _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        const __m256i v = load32(qs + 32 * r);
        o->q[2 * r] = kq8::lo4(v);
        o->q[2 * r + 1] = kq8::hi4(v);
        if (HIGH) {  // the fifth bits: bit planes 2r and 2r + 1 of qh
            o->q[2 * r] = _mm256_or_si256(o->q[2 * r], _mm256_slli_epi16(kq8::bits(h, 2 * r, 1), 4));
            o->q[2 * r + 1] = _mm256_or_si256(o->q[2 * r + 1], _mm256_slli_epi16(kq8::bits(h, 2 * r + 1, 1), 4));
        }
    }
    o->d = _cvtsh_ss(d);
    o->dmin = _cvtsh_ss(dmin);
}

static KQ_INLINE void bytes(const block_q4_K* b, Bytes* o) {
    bytes_k4<false>(b->d, b->dmin, b->scales, b->qs, nullptr, o);
}
static KQ_INLINE void bytes(const block_q5_K* b, Bytes* o) {
    bytes_k4<true>(b->d, b->dmin, b->scales, b->qs, b->qh, o);
}
// Q6_K: stretch 4h + p is quarter p of half h (see dequant_block).
static KQ_INLINE void bytes(const block_q6_K* b, Bytes* o) {
    const __m256i bias = _mm256_set1_epi8(32);
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const __m256i qh = load32(b->qh + 32 * h);
#pragma GCC unroll 4
        for (int p = 0; p < 4; p++) {
            const __m256i v = load32(b->ql + 64 * h + 32 * (p & 1));
            const __m256i q = _mm256_or_si256(p < 2 ? kq8::lo4(v) : kq8::hi4(v), _mm256_slli_epi16(kq8::bits(qh, 2 * p, 3), 4));
            o->q[4 * h + p] = _mm256_sub_epi8(q, bias);
        }
    }
    o->g = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)b->scales));
    o->m = _mm256_setzero_si256();
    o->d = _cvtsh_ss(b->d);
    o->dmin = 0.0f;
}

// IQ4_XS: each 16 bytes of qs is a stretch, low nibbles first; the quants
// are the grid's values (kIq4nl, pshufb), the scale ls - 32 per stretch.
static KQ_INLINE void bytes(const block_iq4_xs* b, Bytes* o) {
    const __m256i grid = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)kIq4nl));
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        const __m256i v = load32(b->qs + 32 * r);
        const __m256i lo = kq8::lo4(v), hi = kq8::hi4(v);
        o->q[2 * r] = _mm256_shuffle_epi8(grid, _mm256_permute2x128_si256(lo, hi, 0x20));
        o->q[2 * r + 1] = _mm256_shuffle_epi8(grid, _mm256_permute2x128_si256(lo, hi, 0x31));
    }
    // the eight 6-bit scales, one per byte: nibble s of scales_l, 2-bit field s of scales_h
    uint32_t sl;
    memcpy(&sl, b->scales_l, 4);
    uint64_t lo = sl;
    lo = (lo | lo << 16) & 0x0000FFFF0000FFFFull;
    lo = (lo | lo << 8) & 0x00FF00FF00FF00FFull;
    lo = (lo | lo << 4) & 0x0F0F0F0F0F0F0F0Full;
    uint64_t hi = b->scales_h;
    hi = (hi | hi << 24) & 0x000000FF000000FFull;
    hi = (hi | hi << 12) & 0x000F000F000F000Full;
    hi = (hi | hi << 6) & 0x0303030303030303ull;
    const __m128i l8 = _mm_sub_epi8(_mm_cvtsi64_si128((long long)(lo | hi << 4)), _mm_set1_epi8(32));
    o->g = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(l8, l8));
    o->m = _mm256_setzero_si256();
    o->d = _cvtsh_ss(b->d);
    o->dmin = 0.0f;
}

// Per lane: F = fma(A, d_x d, F), then Q4_K / Q5_K's fma(m * sums, -(d_x dmin), F).
template <class B>
static KQ_INLINE __m256 term(__m256i A, const __m256i m, float d, float dmin, const block_q16_K* x, __m256 F) {
    F = _mm256_fmadd_ps(_mm256_cvtepi32_ps(A), _mm256_set1_ps(x->d * d), F);
    if (!kHasOffsets<B>) return F;
    const __m256i M = _mm256_mullo_epi32(m, load32(x->sums));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(M), _mm256_set1_ps(-(x->d * dmin)), F);
}

// ((F0 + F4) + (F2 + F6)) + ((F1 + F5) + (F3 + F7))
static KQ_INLINE float hsum(__m256 F) {
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(F), _mm256_extractf128_ps(F, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

// Bit-identical to quantize_row_q16_K_scalar: the same amax (max is exact
// in any order, NaN counted as +inf), the same products x * id, NaN -> 0,
// clamped, and cvtps's ties-to-even rounding (nearest_int's).
static inline void quantize_row(const float* src, void* dst, int64_t n) {
    block_q16_K* y = (block_q16_K*)dst;
    const __m256 sign = _mm256_set1_ps(-0.0f), inf = _mm256_set1_ps(INFINITY);
    const __m256 lo = _mm256_set1_ps(-(float)kQ16Max), hi = _mm256_set1_ps((float)kQ16Max);
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float* x = src + b * QK_K;
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < QK_K; i += 8) {
            const __m256 v = _mm256_loadu_ps(x + i);
            m = _mm256_max_ps(m, _mm256_blendv_ps(inf, _mm256_andnot_ps(sign, v), _mm256_cmp_ps(v, v, _CMP_ORD_Q)));
        }
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        const float amax = _mm_cvtss_f32(h);
        y[b].d = amax / (float)kQ16Max;
        const __m256 id = _mm256_set1_ps(amax != 0.0f ? (float)kQ16Max / amax : 0.0f);
        for (int j = 0; j < QK_K / 32; j++) {
            __m256i q[4];
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + 32 * j + 8 * i), id);
                v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q));
                q[i] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi));
            }
            const __m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
            y[b].sums[j] = kq8::hsum_i32(s);
            const __m256i p01 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), 0xD8);
            const __m256i p23 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[2], q[3]), 0xD8);
            _mm256_storeu_si256((__m256i*)(y[b].v + 32 * j), p01);
            _mm256_storeu_si256((__m256i*)(y[b].v + 32 * j + 16), p23);
        }
    }
}

// AVX2: w[g] the scaled weights of elements [16g, 16g + 16).
struct Dec {
    __m256i w[16];
    __m256i m;
    float d, dmin;
};

struct Ops {
    typedef block_q16_K X;
    typedef __m256 Acc;
    typedef kq16::Dec Dec;
    template <class B>
    static KQ_INLINE void decode(const B* blk, Dec* o) {
        Bytes b;
        bytes(blk, &b);
        alignas(32) int16_t g[16];
        _mm256_store_si256((__m256i*)g, b.g);
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            o->w[2 * k] = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(b.q[k])), _mm256_set1_epi16(g[2 * k]));
            o->w[2 * k + 1] =
                _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(b.q[k], 1)), _mm256_set1_epi16(g[2 * k + 1]));
        }
        o->m = b.m, o->d = b.d, o->dmin = b.dmin;
    }
    static KQ_INLINE Acc zero() { return _mm256_setzero_ps(); }
    template <class B>
    static KQ_INLINE Acc step(const B*, const Dec& w, const X* x, Acc F) {
        __m256i A = _mm256_setzero_si256();
        __m256i A1 = _mm256_setzero_si256();  // two chains; integer sums are exact in any order
#pragma GCC unroll 8
        for (int g = 0; g < 16; g += 2) {
            A = _mm256_add_epi32(A, _mm256_madd_epi16(w.w[g], load32(x->v + 16 * g)));
            A1 = _mm256_add_epi32(A1, _mm256_madd_epi16(w.w[g + 1], load32(x->v + 16 * g + 16)));
        }
        A = _mm256_add_epi32(A, A1);
        return term<B>(A, w.m, w.d, w.dmin, x, F);
    }
    static KQ_INLINE float out(Acc F) { return hsum(F); }
};

template <class B>
static void matmul(const void* W, int64_t n, int64_t n_out, int64_t row0, int64_t row1, const void* X, int64_t T,
                   float* Y) {
    kq8::rows<B, Ops>(W, n, n_out, row0, row1, X, T, Y);
}

#if defined(__AVX512BW__) && defined(__AVX512VNNI__)
// AVX-512: w[k] the scaled weights of elements [32k, 32k + 32); vpdpwssd's
// sixteen lanes fold onto the eight (lanes l and l + 8, exactly) per block.
struct Dec512 {
    __m512i w[8];
    __m256i m;
    float d, dmin;
};

struct Ops512 {
    typedef block_q16_K X;
    typedef __m256 Acc;
    typedef Dec512 Dec;
    // Q4_K / Q5_K: a 32-byte run widened once to 16-bit lanes holds both
    // its stretches, the low nibbles (stretch 2r) and the high ones (2r + 1).
    // Q5_K: the fifth bit of stretch k is bit k of qh's bytes, widened
    // once too and shifted to bit 4.
    template <bool HIGH>
    static KQ_INLINE void decode_k4(uint16_t d, uint16_t dmin, const uint8_t* scales, const uint8_t* qs,
                                    const uint8_t* qh, Dec* o) {
        const __m128i packed = k4_scales(scales);
        const __m512i sc = _mm512_castsi128_si512(_mm_cvtepu8_epi16(packed));  // sc_0..7 in 16-bit lanes 0..7
        const __m512i low = _mm512_set1_epi16(15), bit4 = _mm512_set1_epi16(16);
        const __m512i h = HIGH ? _mm512_cvtepu8_epi16(load32(qh)) : _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const __m512i v = _mm512_cvtepu8_epi16(load32(qs + 32 * r));
            __m512i q0 = _mm512_and_si512(v, low), q1 = _mm512_srli_epi16(v, 4);
            if (HIGH) {  // q | (h shifted so bit k lands on bit 4) & 16
                const int k0 = 2 * r, k1 = 2 * r + 1;
                const __m512i h0 = k0 <= 4 ? _mm512_slli_epi16(h, 4 - k0) : _mm512_srli_epi16(h, k0 - 4);
                const __m512i h1 = k1 <= 4 ? _mm512_slli_epi16(h, 4 - k1) : _mm512_srli_epi16(h, k1 - 4);
                q0 = _mm512_ternarylogic_epi32(q0, h0, bit4, 0xF8);
                q1 = _mm512_ternarylogic_epi32(q1, h1, bit4, 0xF8);
            }
            o->w[2 * r] = _mm512_mullo_epi16(q0, _mm512_permutexvar_epi16(_mm512_set1_epi16((short)(2 * r)), sc));
            o->w[2 * r + 1] = _mm512_mullo_epi16(q1, _mm512_permutexvar_epi16(_mm512_set1_epi16((short)(2 * r + 1)), sc));
        }
        o->m = _mm256_cvtepu8_epi32(_mm_srli_si128(packed, 8));
        o->d = _cvtsh_ss(d);
        o->dmin = _cvtsh_ss(dmin);
    }
    static KQ_INLINE void decode(const block_q4_K* b, Dec* o) {
        decode_k4<false>(b->d, b->dmin, b->scales, b->qs, nullptr, o);
    }
    static KQ_INLINE void decode(const block_q5_K* b, Dec* o) { decode_k4<true>(b->d, b->dmin, b->scales, b->qs, b->qh, o); }
    // Q6_K: the two 32-byte runs of ql and the 32 bytes of qh of each half,
    // widened once; quarter p takes a nibble of run p & 1 and bits 2p, 2p + 1
    // of qh, moved to bits 4, 5.
    static KQ_INLINE void decode(const block_q6_K* blk, Dec* o) {
        const __m512i g = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)blk->scales)));
        const __m512i low = _mm512_set1_epi16(15), bits45 = _mm512_set1_epi16(0x30), bias = _mm512_set1_epi16(32);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m512i L[2] = {_mm512_cvtepu8_epi16(load32(blk->ql + 64 * h)),
                                  _mm512_cvtepu8_epi16(load32(blk->ql + 64 * h + 32))};
            const __m512i H = _mm512_cvtepu8_epi16(load32(blk->qh + 32 * h));
#pragma GCC unroll 4
            for (int p = 0; p < 4; p++) {
                const int k = 4 * h + p;
                const __m512i q4 = p < 2 ? _mm512_and_si512(L[p & 1], low) : _mm512_srli_epi16(L[p & 1], 4);
                const __m512i hs = p < 2 ? _mm512_slli_epi16(H, 4 - 2 * p) : _mm512_srli_epi16(H, 2 * p - 4);
                const __m512i q = _mm512_sub_epi16(_mm512_ternarylogic_epi32(q4, hs, bits45, 0xF8), bias);
                const __m512i idx = _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * k)), _mm256_set1_epi16((short)(2 * k + 1)), 1);
                o->w[k] = _mm512_mullo_epi16(q, _mm512_permutexvar_epi16(idx, g));
            }
        }
        o->m = _mm256_setzero_si256();
        o->d = _cvtsh_ss(blk->d);
        o->dmin = 0.0f;
    }
    template <class B>
    static KQ_INLINE void decode(const B* blk, Dec* o) {
        Bytes b;
        bytes(blk, &b);
        const __m512i g = _mm512_castsi256_si512(b.g);
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            const __m512i idx = _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * k)), _mm256_set1_epi16((short)(2 * k + 1)), 1);
            o->w[k] = _mm512_mullo_epi16(_mm512_cvtepi8_epi16(b.q[k]), _mm512_permutexvar_epi16(idx, g));
        }
        o->m = b.m, o->d = b.d, o->dmin = b.dmin;
    }
    static KQ_INLINE Acc zero() { return _mm256_setzero_ps(); }
    template <class B>
    static KQ_INLINE Acc step(const B*, const Dec& w, const X* x, Acc F) {
        __m512i A = _mm512_setzero_si512();
        __m512i A1 = _mm512_setzero_si512();  // two chains (vpdpwssd's latency)
#pragma GCC unroll 4
        for (int k = 0; k < 8; k += 2) {
            A = _mm512_dpwssd_epi32(A, w.w[k], _mm512_loadu_si512(x->v + 32 * k));
            A1 = _mm512_dpwssd_epi32(A1, w.w[k + 1], _mm512_loadu_si512(x->v + 32 * k + 32));
        }
        A = _mm512_add_epi32(A, A1);
        const __m256i A8 = _mm256_add_epi32(_mm512_castsi512_si256(A), _mm512_extracti64x4_epi64(A, 1));
        return term<B>(A8, w.m, w.d, w.dmin, x, F);
    }
    static KQ_INLINE float out(Acc F) { return hsum(F); }
};

template <class B>
static void matmul512(const void* W, int64_t n, int64_t n_out, int64_t row0, int64_t row1, const void* X, int64_t T,
                      float* Y) {
    kq8::rows<B, Ops512>(W, n, n_out, row0, row1, X, T, Y);
}
#endif

}  // namespace kq16
