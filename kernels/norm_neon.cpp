// norm_neon.cpp - norm_simd.h compiled for NEON (AArch64).
#include "norm_simd.h"

void norm_fill_neon(Kernels* k) {
    k->layer_norm = layer_norm_simd<xsimd::neon64>;
    k->group_norm = group_norm_simd<xsimd::neon64>;
}
