// probe_simd.h - what this machine can do at best, measured by the bench in
// the same run as the model (the machine is shared and noisy: a ratio of two
// numbers measured together means more than either alone).
//   peak_fma:   many independent FMA chains, no memory traffic
//   read_sum:   stream a buffer much larger than the caches
#pragma once

#include "kernels.h"
#include "simd.h"

// Runs `iters` rounds of 12 independent vector FMA chains; returns the flops
// done (2 per lane per FMA). The result is folded into *sink so the compiler
// cannot drop the work.
template <class A>
static double peak_fma_simd(int64_t iters, float* sink) {
    constexpr int L = vfloat<A>::size;
    vfloat<A> acc[12];
    for (int i = 0; i < 12; i++) acc[i] = vsplat<A>(0.001f * (float)i);
    const vfloat<A> a = vsplat<A>(0.999999f), b = vsplat<A>(1e-7f);
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) acc[i] = xsimd::fma(acc[i], a, b);
    vfloat<A> s = acc[0];
    for (int i = 1; i < 12; i++) s += acc[i];
    *sink += vsum<A>(s);
    return 2.0 * L * 12.0 * (double)iters;
}

// Sum n floats (n a multiple of 4 vectors) with 4 independent accumulators.
template <class A>
static float read_sum_simd(const float* p, int64_t n) {
    constexpr int64_t L = vfloat<A>::size;
    vfloat<A> a0 = vsplat<A>(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 4 * L <= n; i += 4 * L) {
        a0 += vload<A>(p + i);
        a1 += vload<A>(p + i + L);
        a2 += vload<A>(p + i + 2 * L);
        a3 += vload<A>(p + i + 3 * L);
    }
    float s = vsum<A>((a0 + a1) + (a2 + a3));
    for (; i < n; i++) s += p[i];
    return s;
}
