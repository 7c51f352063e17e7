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

// Sum n floats read as S streams side by side (S slices of n / S). How many
// streams a core reads fastest depends on the machine (its prefetchers, the
// DRAM pages the streams fall in): the bench tries several and keeps the best.
template <class A, int S>
static float read_streams(const float* p, int64_t n) {
    constexpr int64_t L = vfloat<A>::size;
    const int64_t m = n / (S * L) * L;  // floats per stream
    vfloat<A> acc[S];
#pragma GCC unroll 8
    for (int s = 0; s < S; s++) acc[s] = vsplat<A>(0.0f);
    for (int64_t i = 0; i < m; i += L)
#pragma GCC unroll 8
        for (int s = 0; s < S; s++) acc[s] += vload<A>(p + s * m + i);
    vfloat<A> t = acc[0];
#pragma GCC unroll 8
    for (int s = 1; s < S; s++) t += acc[s];
    float sum = vsum<A>(t);
    for (int64_t i = S * m; i < n; i++) sum += p[i];
    return sum;
}

template <class A>
static float read_sum_simd(const float* p, int64_t n, int streams) {
    switch (streams) {
        case 1: return read_streams<A, 1>(p, n);
        case 2: return read_streams<A, 2>(p, n);
        case 4: return read_streams<A, 4>(p, n);
        default: return read_streams<A, 8>(p, n);
    }
}
