// wkv_avx2.cpp - wkv_simd.h compiled for AVX2.
#include "wkv_simd.h"

void wkv_fill_avx2(Kernels* k) {
    k->wkv7 = wkv7_simd<xsimd::fma3<xsimd::avx2>>;
    k->wkv6 = wkv6_simd<xsimd::fma3<xsimd::avx2>>;
}
