// act_avx512.cpp - act_simd.h compiled for AVX512.

// GCC 12's own AVX-512 headers trip -Wmaybe-uninitialized once xsimd's exp
// and tanh inline them (their _mm512_undefined_* idiom, GCC PR 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "act_simd.h"

void act_fill_avx512(Kernels* k) { act_fill<xsimd::avx512bw>(k); }
