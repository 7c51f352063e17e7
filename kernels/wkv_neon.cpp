// wkv_neon.cpp - wkv_simd.h compiled for NEON (AArch64).
#include "wkv_simd.h"

void wkv_fill_neon(Kernels* k) {
    k->wkv7 = wkv7_simd<xsimd::neon64>;
    k->wkv6 = wkv6_simd<xsimd::neon64>;
}
