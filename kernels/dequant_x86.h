// dequant_x86.h - ggml_blocks.h's dequantizers with x86 vectors, for
// matmul_dequant.h: included by matmul_avx2.cpp and matmul_avx512.cpp.
//
// The bit work (nibbles, high bits, the IQ4 grid via pshufb) is done on
// 16-byte SSE vectors, which both paths have; each 16 values then go to
// float32 in the path's output policy O, values [j, j + 16) of the block:
//   o.mul(q, s, j)        q * s
//   o.mul_add(q, s, m, j) q * s + m
//   o.mul_sub(q, s, m, j) q * s - m
// with q 16 signed bytes, in increasing j. These are
// the float32 operations dequant_block does, one rounding each (products
// commute), so every value is bit for bit the scalar one; test_matmul checks
// it through the products.
#pragma once

#include <immintrin.h>

#include "ggml_blocks.h"

namespace dqx86 {

#define DQ_INLINE inline __attribute__((always_inline))

static DQ_INLINE float half(uint16_t h) { return _cvtsh_ss(h); }  // exact, as f16_to_f32
static DQ_INLINE __m128i load16(const uint8_t* p) { return _mm_loadu_si128((const __m128i*)p); }
static DQ_INLINE __m128i lo4(__m128i v) { return _mm_and_si128(v, _mm_set1_epi8(15)); }
static DQ_INLINE __m128i hi4(__m128i v) { return _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(15)); }
// bits (v >> k) & mask of each byte
static DQ_INLINE __m128i bits(__m128i v, int k, int mask) {
    return _mm_and_si128(_mm_srl_epi16(v, _mm_cvtsi32_si128(k)), _mm_set1_epi8((char)mask));
}
// 16 bits of m (bit j for byte j) as bytes of 0x10 or 0
static DQ_INLINE __m128i bit4_of(uint32_t m16) {
    const __m128i v = _mm_shuffle_epi8(_mm_cvtsi32_si128((int)m16), _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
    const __m128i sel = _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
    return _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(v, sel), sel), _mm_set1_epi8(0x10));
}
static DQ_INLINE __m128i iq4_grid(__m128i nibbles) {
    return _mm_shuffle_epi8(_mm_loadu_si128((const __m128i*)kIq4nl), nibbles);
}

// out[i] = d * (float)q[i] for 16 signed bytes q. The scales are gathered
// in general registers and moved to a vector whole: bytes stored one by one
// and loaded as a vector would stall on the failed store-to-load forward.
static DQ_INLINE void scale16(__m128i q, float d, float* out) {
    const __m128 vd = _mm_set1_ps(d);
    for (int i = 0; i < 4; i++) {
        const __m128i w = _mm_cvtepi8_epi32(_mm_srli_si128(q, 0));
        _mm_storeu_ps(out + 4 * i, _mm_mul_ps(_mm_cvtepi32_ps(w), vd));
        q = _mm_srli_si128(q, 4);
    }
}

// Q4_K / Q5_K: the eight 6-bit scales and offsets (kquant_scale_min), as
// bytes: scales in the low 8 bytes, offsets in the high 8.
static DQ_INLINE __m128i kquant_scales(const uint8_t* packed) {
    uint32_t a[3];
    memcpy(a, packed, 12);
    const uint32_t six = 0x3f3f3f3f, four = 0x0f0f0f0f, two = 0x03030303;
    const uint32_t sc_lo = a[0] & six;                                           // j < 4
    const uint32_t sc_hi = (a[2] & four) | (((a[0] >> 6) & two) << 4);           // j >= 4
    const uint32_t m_lo = a[1] & six;
    const uint32_t m_hi = ((a[2] >> 4) & four) | (((a[1] >> 6) & two) << 4);
    return _mm_setr_epi32((int)sc_lo, (int)sc_hi, (int)m_lo, (int)m_hi);
}

struct Decode {

    template <class O>
    static DQ_INLINE void block(const block_q8_0* b, O& o) {
        const float d = half(b->d);
        o.mul(load16((const uint8_t*)b->qs), d, 0);
        o.mul(load16((const uint8_t*)b->qs + 16), d, 16);
    }

    template <class O>
    static DQ_INLINE void block(const block_q4_0* b, O& o) {
        const float d = half(b->d);
        const __m128i q = load16(b->qs), eight = _mm_set1_epi8(8);
        o.mul(_mm_sub_epi8(lo4(q), eight), d, 0);
        o.mul(_mm_sub_epi8(hi4(q), eight), d, 16);
    }

    template <class O>
    static DQ_INLINE void block(const block_q4_1* b, O& o) {
        const float d = half(b->d), m = half(b->m);
        const __m128i q = load16(b->qs);
        o.mul_add(lo4(q), d, m, 0);
        o.mul_add(hi4(q), d, m, 16);
    }

    template <class O>
    static DQ_INLINE void block(const block_q5_0* b, O& o) {
        const float d = half(b->d);
        uint32_t qh;
        memcpy(&qh, b->qh, 4);
        const __m128i q = load16(b->qs), sixteen = _mm_set1_epi8(16);
        o.mul(_mm_sub_epi8(_mm_or_si128(lo4(q), bit4_of(qh & 0xffff)), sixteen), d, 0);
        o.mul(_mm_sub_epi8(_mm_or_si128(hi4(q), bit4_of(qh >> 16)), sixteen), d, 16);
    }

    template <class O>
    static DQ_INLINE void block(const block_q5_1* b, O& o) {
        const float d = half(b->d), m = half(b->m);
        uint32_t qh;
        memcpy(&qh, b->qh, 4);
        const __m128i q = load16(b->qs);
        o.mul_add(_mm_or_si128(lo4(q), bit4_of(qh & 0xffff)), d, m, 0);
        o.mul_add(_mm_or_si128(hi4(q), bit4_of(qh >> 16)), d, m, 16);
    }

    template <class O>
    static DQ_INLINE void block(const block_iq4_nl* b, O& o) {
        const float d = half(b->d);
        const __m128i q = load16(b->qs);
        o.mul(iq4_grid(lo4(q)), d, 0);
        o.mul(iq4_grid(hi4(q)), d, 16);
    }

    template <class O>
    static DQ_INLINE void block(const block_iq4_xs* b, O& o) {
        uint64_t ls = 0;  // the eight 6-bit scales less 32, a byte each
        for (int s = 0; s < 8; s++) {
            const int v = (((b->scales_l[s / 2] >> (4 * (s % 2))) & 15) | (((b->scales_h >> (2 * s)) & 3) << 4)) - 32;
            ls |= (uint64_t)(uint8_t)v << (8 * s);
        }
        alignas(16) float dls[16];
        scale16(_mm_cvtsi64_si128((long long)ls), half(b->d), dls);
        for (int s = 0; s < 8; s++) {
            const float dl = dls[s];
            const __m128i q = load16(b->qs + 16 * s);
            o.mul(iq4_grid(lo4(q)), dl, 32 * s);
            o.mul(iq4_grid(hi4(q)), dl, 32 * s + 16);
        }
    }

    template <class O>
    static DQ_INLINE void block(const block_q2_K* b, O& o) {
        alignas(16) float ds[16], ms[16];
        const __m128i packed = load16(b->scales);
        scale16(lo4(packed), half(b->d), ds);
        scale16(hi4(packed), half(b->dmin), ms);
        for (int h = 0; h < 2; h++) {
            const __m128i q0 = load16(b->qs + h * 32), q1 = load16(b->qs + h * 32 + 16);
            for (int p = 0; p < 4; p++) {
                const int j = h * 8 + p * 2;
                o.mul_sub(bits(q0, 2 * p, 3), ds[j], ms[j], h * 128 + p * 32);
                o.mul_sub(bits(q1, 2 * p, 3), ds[j + 1], ms[j + 1], h * 128 + p * 32 + 16);
            }
        }
    }

    template <class O>
    static DQ_INLINE void block(const block_q3_K* b, O& o) {
        // q3k_scales in 32-bit words: low nibbles of bytes 0..7, then their
        // high nibbles, each with top bits of bytes 8..11 on top
        uint32_t a[3];
        memcpy(a, b->scales, 12);
        const uint32_t nib = 0x0f0f0f0f, top = 0x03030303;
        const __m128i packed = _mm_setr_epi32((int)((a[0] & nib) | ((a[2] & top) << 4)),
                                              (int)((a[1] & nib) | (((a[2] >> 2) & top) << 4)),
                                              (int)(((a[0] >> 4) & nib) | (((a[2] >> 4) & top) << 4)),
                                              (int)(((a[1] >> 4) & nib) | (((a[2] >> 6) & top) << 4)));
        alignas(16) float sc[16];
        scale16(_mm_sub_epi8(packed, _mm_set1_epi8(32)), half(b->d), sc);
        const __m128i hm0 = load16(b->hmask), hm1 = load16(b->hmask + 16), four = _mm_set1_epi8(4);
        for (int h = 0; h < 2; h++) {
            const __m128i q0 = load16(b->qs + h * 32), q1 = load16(b->qs + h * 32 + 16);
            for (int p = 0; p < 4; p++) {
                // the third bit clear: q - 4
                const __m128i bit = _mm_set1_epi8((char)(1u << (h * 4 + p)));
                const __m128i set0 = _mm_cmpeq_epi8(_mm_and_si128(hm0, bit), bit);
                const __m128i set1 = _mm_cmpeq_epi8(_mm_and_si128(hm1, bit), bit);
                const int j = h * 8 + p * 2;
                o.mul(_mm_sub_epi8(bits(q0, 2 * p, 3), _mm_andnot_si128(set0, four)), sc[j], h * 128 + p * 32);
                o.mul(_mm_sub_epi8(bits(q1, 2 * p, 3), _mm_andnot_si128(set1, four)), sc[j + 1], h * 128 + p * 32 + 16);
            }
        }
    }

    // Q4_K and Q5_K (qh null for Q4_K): as ggml_blocks.h's dequant_k4.
    template <bool HIGH, class O>
    static DQ_INLINE void k4(uint16_t d, uint16_t dmin, const uint8_t* scales, const uint8_t* qs, const uint8_t* qh,
                             O& o) {
        alignas(16) float ds[16], ms[16];  // ds[0..8): scales x d; ms[8..16): offsets x dmin
        const __m128i packed = kquant_scales(scales);
        scale16(packed, half(d), ds);
        scale16(packed, half(dmin), ms);
        __m128i qh0 = _mm_setzero_si128(), qh1 = qh0;
        if (HIGH) qh0 = load16(qh), qh1 = load16(qh + 16);
        // the fifth bit of bit plane k, at 0x10
        auto high = [](__m128i h, int k) { return HIGH ? _mm_slli_epi16(bits(h, k, 1), 4) : _mm_setzero_si128(); };
        for (int r = 0; r < 4; r++) {  // 32 bytes: their low nibbles, then their high nibbles
            const __m128i q0 = load16(qs + 32 * r), q1 = load16(qs + 32 * r + 16);
            const int lo = 2 * r, hi = 2 * r + 1;
            o.mul_sub(_mm_or_si128(lo4(q0), high(qh0, lo)), ds[lo], ms[8 + lo], 64 * r);
            o.mul_sub(_mm_or_si128(lo4(q1), high(qh1, lo)), ds[lo], ms[8 + lo], 64 * r + 16);
            o.mul_sub(_mm_or_si128(hi4(q0), high(qh0, hi)), ds[hi], ms[8 + hi], 64 * r + 32);
            o.mul_sub(_mm_or_si128(hi4(q1), high(qh1, hi)), ds[hi], ms[8 + hi], 64 * r + 48);
        }
    }
    template <class O>
    static DQ_INLINE void block(const block_q4_K* b, O& o) {
        k4<false>(b->d, b->dmin, b->scales, b->qs, nullptr, o);
    }
    template <class O>
    static DQ_INLINE void block(const block_q5_K* b, O& o) {
        k4<true>(b->d, b->dmin, b->scales, b->qs, b->qh, o);
    }

    template <class O>
    static DQ_INLINE void block(const block_q6_K* b, O& o) {
        alignas(16) float ds[16];
        scale16(load16((const uint8_t*)b->scales), half(b->d), ds);
        const __m128i k32 = _mm_set1_epi8(32);
        for (int h = 0; h < 2; h++) {  // 128-element halves; quarter k: 32 values, 16 scale 2k, 16 scale 2k + 1
            const uint8_t* ql = b->ql + 64 * h;
            const __m128i qh[2] = {load16(b->qh + 32 * h), load16(b->qh + 32 * h + 16)};
            for (int k = 0; k < 4; k++)
                for (int c = 0; c < 2; c++) {
                    const __m128i q = load16(ql + 32 * (k & 1) + 16 * c);
                    const __m128i low = k < 2 ? lo4(q) : hi4(q);
                    const __m128i v = _mm_sub_epi8(_mm_or_si128(low, _mm_slli_epi16(bits(qh[c], 2 * k, 3), 4)), k32);
                    o.mul(v, ds[8 * h + 2 * k + c], 128 * h + 32 * k + 16 * c);
                }
        }
    }
};

// The output policies, over a path's float vectors E: vec, lanes (16 or 8),
// widen(q, i) (bytes [lanes i, lanes (i + 1)) of q as floats), set1, mul,
// add, sub, store. Out hands each vector of values to a sink.
template <class E, class Sink>
struct Out {
    typedef typename E::vec vec;
    Sink k;
    template <class Op>
    DQ_INLINE void each(__m128i q, int j, Op op) {
        for (int i = 0; i < 16 / E::lanes; i++) k(j + i * E::lanes, op(E::widen(q, i)));
    }
    DQ_INLINE void mul(__m128i q, float s, int j) {
        const vec vs = E::set1(s);
        each(q, j, [vs](vec v) { return E::mul(v, vs); });
    }
    DQ_INLINE void mul_add(__m128i q, float s, float m, int j) {
        const vec vs = E::set1(s), vm = E::set1(m);
        each(q, j, [vs, vm](vec v) { return E::add(E::mul(v, vs), vm); });
    }
    DQ_INLINE void mul_sub(__m128i q, float s, float m, int j) {
        const vec vs = E::set1(s), vm = E::set1(m);
        each(q, j, [vs, vm](vec v) { return E::sub(E::mul(v, vs), vm); });
    }
};

template <class E>
struct StoreSink {
    float* y;
    DQ_INLINE void operator()(int j, typename E::vec v) { E::store(y + j, v); }
};

// matmul_dequant.h's dequantizer D for a path.
template <class E>
struct Dequant {
    template <class B>
    static DQ_INLINE void store(const B* b, float* y) {
        Out<E, StoreSink<E>> o{{y}};
        Decode::block(b, o);
    }
};

}  // namespace dqx86
