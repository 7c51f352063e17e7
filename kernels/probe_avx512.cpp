// probe_avx512.cpp - the machine-limit probes (probe_simd.h) compiled for AVX512.
#include <immintrin.h>

#include "probe_simd.h"

// int8 dot products with AVX512-VNNI: vpdpbusd does 64 u8 x s8
// multiply-adds into 16 int32 lanes in one instruction.
static double peak_int8_avx512(int64_t iters, float* sink) {
    __m512i acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_epi32(i);
    const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
    __m512i s = acc[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_epi32(s, acc[i]);
    int32_t lanes[16];
    _mm512_storeu_si512(lanes, s);
    *sink += (float)lanes[0];
    return 2.0 * 64 * 12 * (double)iters;
}

void probe_fill_avx512(Kernels* k) {
    k->peak_fma = peak_fma_simd<xsimd::avx512bw>;
    k->peak_int8 = peak_int8_avx512;
    k->read_sum = read_sum_simd<xsimd::avx512bw>;
}
