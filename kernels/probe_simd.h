// probe_simd.h - what this machine can do at best, measured by the bench in
// the same run as the model (the machine is shared and noisy: a ratio of two
// numbers measured together means more than either alone).
//   peak_fma:   many independent FMA chains, no memory traffic
//   read_sum:   stream a buffer much larger than the caches
#pragma once

#include "kernels.h"
#include "simd.h"

// Runs `iters` rounds of 12 independent vector FMA chains; returns the flops
// done (2 per lane per FMA). The chains are named variables, not an array:
// an array would live in memory and measure store-to-load latency instead.
// The result is folded into *sink so the compiler cannot drop the work.
template <class A>
static double peak_fma_simd(int64_t iters, float* sink) {
    constexpr int L = vfloat<A>::size;
    vfloat<A> c0 = vsplat<A>(0.0f), c1 = vsplat<A>(0.1f), c2 = vsplat<A>(0.2f), c3 = vsplat<A>(0.3f);
    vfloat<A> c4 = vsplat<A>(0.4f), c5 = vsplat<A>(0.5f), c6 = vsplat<A>(0.6f), c7 = vsplat<A>(0.7f);
    vfloat<A> c8 = vsplat<A>(0.8f), c9 = vsplat<A>(0.9f), c10 = vsplat<A>(1.0f), c11 = vsplat<A>(1.1f);
    const vfloat<A> a = vsplat<A>(0.999999f), b = vsplat<A>(1e-7f);
    for (int64_t it = 0; it < iters; it++) {
        c0 = xsimd::fma(c0, a, b), c1 = xsimd::fma(c1, a, b), c2 = xsimd::fma(c2, a, b);
        c3 = xsimd::fma(c3, a, b), c4 = xsimd::fma(c4, a, b), c5 = xsimd::fma(c5, a, b);
        c6 = xsimd::fma(c6, a, b), c7 = xsimd::fma(c7, a, b), c8 = xsimd::fma(c8, a, b);
        c9 = xsimd::fma(c9, a, b), c10 = xsimd::fma(c10, a, b), c11 = xsimd::fma(c11, a, b);
    }
    *sink += vsum<A>(((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11)));
    return 2.0 * L * 12.0 * (double)iters;
}

// Sum n floats as 8 interleaved streams (8 slices of n/8, read side by side),
// the access pattern of a GEMV over 8 weight rows: several streams keep more
// cache misses in flight than one, as the matmul kernels do.
template <class A>
static float read_sum_simd(const float* p, int64_t n) {
    constexpr int64_t L = vfloat<A>::size;
    const int64_t m = n / (8 * L) * L;  // floats per stream
    const float* s0 = p;
    vfloat<A> a0 = vsplat<A>(0.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (int64_t i = 0; i < m; i += L) {
        a0 += vload<A>(s0 + i);
        a1 += vload<A>(s0 + m + i);
        a2 += vload<A>(s0 + 2 * m + i);
        a3 += vload<A>(s0 + 3 * m + i);
        a4 += vload<A>(s0 + 4 * m + i);
        a5 += vload<A>(s0 + 5 * m + i);
        a6 += vload<A>(s0 + 6 * m + i);
        a7 += vload<A>(s0 + 7 * m + i);
    }
    float s = vsum<A>(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)));
    for (int64_t i = 8 * m; i < n; i++) s += p[i];
    return s;
}
