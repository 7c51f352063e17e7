// norm_avx512.cpp - norm_simd.h compiled for AVX512.
#include "norm_simd.h"

void norm_fill_avx512(Kernels* k) {
    k->layer_norm = layer_norm_simd<xsimd::avx512bw>;
    k->group_norm = group_norm_simd<xsimd::avx512bw>;
}
