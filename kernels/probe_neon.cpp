// probe_neon.cpp - the machine-limit probes (probe_simd.h) compiled for NEON.
#include <arm_neon.h>

#include "probe_simd.h"

// int8 dot products as the NEON Q8_0 kernels do them: smull (8 int8 x int8
// -> int16), sadalp (pairs added into int32). 8 multiply-adds per pair of
// instructions.
static double peak_int8_neon(int64_t iters, float* sink) {
    // Distinct starting values, so the compiler cannot merge identical chains.
    int32x4_t c0 = vdupq_n_s32(0), c1 = vdupq_n_s32(1), c2 = vdupq_n_s32(2), c3 = vdupq_n_s32(3);
    int32x4_t c4 = vdupq_n_s32(4), c5 = vdupq_n_s32(5), c6 = vdupq_n_s32(6), c7 = vdupq_n_s32(7);
    const int8x8_t a = vdup_n_s8(3), b = vdup_n_s8(-2);
#define STEP(c) c = vpadalq_s16(c, vmull_s8(a, b))
    for (int64_t it = 0; it < iters; it++) {
        STEP(c0), STEP(c1), STEP(c2), STEP(c3), STEP(c4), STEP(c5), STEP(c6), STEP(c7);
        // keep the compiler from hoisting the loop-invariant products out
        __asm__ volatile("" : "+w"(c0), "+w"(c1), "+w"(c2), "+w"(c3), "+w"(c4), "+w"(c5), "+w"(c6), "+w"(c7));
    }
#undef STEP
    const int32x4_t s = vaddq_s32(vaddq_s32(vaddq_s32(c0, c1), vaddq_s32(c2, c3)),
                                  vaddq_s32(vaddq_s32(c4, c5), vaddq_s32(c6, c7)));
    *sink += (float)vgetq_lane_s32(s, 0);
    return 2.0 * 8 * 8 * (double)iters;
}

void probe_fill_neon(Kernels* k) {
    k->peak_fma = peak_fma_simd<xsimd::neon64>;
    k->peak_int8 = peak_int8_neon;
    k->read_sum = read_sum_simd<xsimd::neon64>;
}
