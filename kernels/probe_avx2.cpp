// probe_avx2.cpp - the machine-limit probes (probe_simd.h) compiled for AVX2.
#include <immintrin.h>

#include "probe_simd.h"

// int8 dot products as the AVX2 Q8_0 kernels do them: maddubs (u8 x s8 ->
// pairs summed to s16), madd with ones (-> s32), add. 32 multiply-adds each.
static double peak_int8_avx2(int64_t iters, float* sink) {
    // Distinct starting values, so the compiler cannot merge identical chains.
    __m256i c0 = _mm256_set1_epi32(0), c1 = _mm256_set1_epi32(1), c2 = _mm256_set1_epi32(2), c3 = _mm256_set1_epi32(3);
    __m256i c4 = _mm256_set1_epi32(4), c5 = _mm256_set1_epi32(5), c6 = _mm256_set1_epi32(6), c7 = _mm256_set1_epi32(7);
    const __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
#define STEP(c) c = _mm256_add_epi32(c, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones))
    for (int64_t it = 0; it < iters; it++) {
        STEP(c0), STEP(c1), STEP(c2), STEP(c3), STEP(c4), STEP(c5), STEP(c6), STEP(c7);
        // keep the compiler from hoisting the loop-invariant products out
        __asm__ volatile("" : "+x"(c0), "+x"(c1), "+x"(c2), "+x"(c3), "+x"(c4), "+x"(c5), "+x"(c6), "+x"(c7));
    }
#undef STEP
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)),
                                 _mm256_add_epi32(_mm256_add_epi32(c4, c5), _mm256_add_epi32(c6, c7)));
    *sink += (float)_mm256_extract_epi32(s, 0);
    return 2.0 * 32 * 8 * (double)iters;
}

void probe_fill_avx2(Kernels* k) {
    k->peak_fma = peak_fma_simd<xsimd::fma3<xsimd::avx2>>;
    k->peak_int8 = peak_int8_avx2;
    k->read_sum = read_sum_simd<xsimd::fma3<xsimd::avx2>>;
}
