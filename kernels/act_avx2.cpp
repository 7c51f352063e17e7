// act_avx2.cpp - act_simd.h compiled for AVX2.
#include "act_simd.h"

void act_fill_avx2(Kernels* k) { act_fill<xsimd::fma3<xsimd::avx2>>(k); }
