// norm_avx2.cpp - norm_simd.h compiled for AVX2.
#include "norm_simd.h"

void norm_fill_avx2(Kernels* k) {
    k->layer_norm = layer_norm_simd<xsimd::fma3<xsimd::avx2>>;
    k->group_norm = group_norm_simd<xsimd::fma3<xsimd::avx2>>;
}
