// act_neon.cpp - act_simd.h compiled for NEON (AArch64).
#include "act_simd.h"

void act_fill_neon(Kernels* k) { act_fill<xsimd::neon64>(k); }
