// wkv_avx512.cpp - wkv_simd.h compiled for AVX512.
#include "wkv_simd.h"

void wkv_fill_avx512(Kernels* k) {
    k->wkv7 = wkv7_simd<xsimd::avx512bw>;
    k->wkv6 = wkv6_simd<xsimd::avx512bw>;
}
