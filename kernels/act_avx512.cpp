// act_avx512.cpp - act_simd.h compiled for AVX512.
#include "act_simd.h"

void act_fill_avx512(Kernels* k) { act_fill<xsimd::avx512bw>(k); }
