// probe_avx2.cpp - the machine-limit probes (probe_simd.h) compiled for AVX2.
#include <immintrin.h>

#include "probe_simd.h"

// int8 dot products as the AVX2 Q8_0 kernels do them: maddubs (u8 x s8 ->
// pairs summed to s16), madd with ones (-> s32), add. 32 multiply-adds each.
static double peak_int8_avx2(int64_t iters, float* sink) {
    __m256i acc[8];
    for (int i = 0; i < 8; i++) acc[i] = _mm256_set1_epi32(i);
    const __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < 8; i++)
            acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones));
    __m256i s = acc[0];
    for (int i = 1; i < 8; i++) s = _mm256_add_epi32(s, acc[i]);
    *sink += (float)_mm256_extract_epi32(s, 0);
    return 2.0 * 32 * 8 * (double)iters;
}

void probe_fill_avx2(Kernels* k) {
    k->peak_fma = peak_fma_simd<xsimd::fma3<xsimd::avx2>>;
    k->peak_int8 = peak_int8_avx2;
    k->read_sum = read_sum_simd<xsimd::fma3<xsimd::avx2>>;
}
