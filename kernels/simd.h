// simd.h - the portable vector layer (xsimd) the element-wise kernels are
// written in once and compiled per ISA. A kernel template takes the xsimd
// architecture as parameter `A`; each ISA file (wkv_avx2.cpp, ...) is compiled
// with its own -m flags and instantiates the template for its architecture.
#pragma once

// GCC 12's own AVX-512 headers trip -Wmaybe-uninitialized once xsimd inlines
// them (their _mm512_undefined_* idiom, GCC PR 105593); nothing here is
// uninitialised.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <type_traits>

#include <xsimd/xsimd.hpp>

template <class A>
using vfloat = xsimd::batch<float, A>;

template <class A>
static inline vfloat<A> vload(const float* p) {
    return vfloat<A>::load_unaligned(p);
}

template <class A>
static inline void vstore(float* p, const vfloat<A>& v) {
    v.store_unaligned(p);
}

template <class A>
static inline vfloat<A> vsplat(float x) {
    return vfloat<A>(x);
}

template <class A>
static inline float vsum(const vfloat<A>& v) {
    return xsimd::hadd(v);
}

// The L horizontal sums of L vectors at once (L = lanes): out[i] = sum of v[i].
// One transpose-and-add tree: each level adds pairs of vectors after a shuffle
// that brings matching halves together, so the L sums take about 2L shuffles
// and L adds, where L separate horizontal sums take L log2(L) of each. The
// tree leaves the sums in a fixed lane order, so the inputs are fed in that
// order's inverse (the `at` tables, each its own inverse). Other paths: one
// vsum per vector.
template <class A>
static inline vfloat<A> vsum_each(const vfloat<A>* v) {
#if defined(__AVX512F__)
    if constexpr (std::is_same<A, xsimd::avx512bw>::value) {
        static constexpr int at[16] = {0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15};
        __m512 h1[8], h2[4], h3[2];
#pragma GCC unroll 8
        for (int p = 0; p < 8; p++) {  // 256-bit halves: [a lo | b lo] + [a hi | b hi]
            const __m512 a = v[at[p]], b = v[at[p + 8]];
            h1[p] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
        }
#pragma GCC unroll 4
        for (int p = 0; p < 4; p++)  // 128-bit quarters
            h2[p] = _mm512_add_ps(_mm512_shuffle_f32x4(h1[p], h1[p + 4], 0x88),
                                  _mm512_shuffle_f32x4(h1[p], h1[p + 4], 0xDD));
#pragma GCC unroll 2
        for (int p = 0; p < 2; p++)  // pairs of floats within each 128-bit lane
            h3[p] = _mm512_add_ps(_mm512_shuffle_ps(h2[p], h2[p + 2], 0x44), _mm512_shuffle_ps(h2[p], h2[p + 2], 0xEE));
        return _mm512_add_ps(_mm512_shuffle_ps(h3[0], h3[1], 0x88), _mm512_shuffle_ps(h3[0], h3[1], 0xDD));
    }
#endif
#if defined(__AVX2__)
    if constexpr (std::is_same<A, xsimd::avx2>::value) {
        static constexpr int at[8] = {0, 2, 1, 3, 4, 6, 5, 7};
        __m256 h1[4], h2[2];
#pragma GCC unroll 4
        for (int p = 0; p < 4; p++) {  // 128-bit halves
            const __m256 a = v[at[p]], b = v[at[p + 4]];
            h1[p] = _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
        }
#pragma GCC unroll 2
        for (int p = 0; p < 2; p++)
            h2[p] = _mm256_add_ps(_mm256_shuffle_ps(h1[p], h1[p + 2], 0x44), _mm256_shuffle_ps(h1[p], h1[p + 2], 0xEE));
        return _mm256_add_ps(_mm256_shuffle_ps(h2[0], h2[1], 0x88), _mm256_shuffle_ps(h2[0], h2[1], 0xDD));
    }
#endif
#if defined(__aarch64__)
    if constexpr (std::is_same<A, xsimd::neon64>::value) {
        const float32x4_t a = v[0], b = v[1], c = v[2], d = v[3];
        return vpaddq_f32(vpaddq_f32(a, b), vpaddq_f32(c, d));
    }
#endif
    alignas(64) float out[vfloat<A>::size];
    for (size_t i = 0; i < vfloat<A>::size; i++) out[i] = vsum<A>(v[i]);
    return vfloat<A>::load_aligned(out);
}
