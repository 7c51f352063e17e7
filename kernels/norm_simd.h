// norm_simd.h - layer norm and group norm, vectorised (two passes, as the
// scalar version: mean, then the variance of the centred values).
#pragma once

#include <cmath>

#include "kernels.h"
#include "simd.h"

template <class A>
static void normalize_simd(const float* x, const float* weight, const float* bias, int64_t n, float eps, float* y) {
    constexpr int64_t L = vfloat<A>::size;
    const int64_t nv = n / L * L;
    vfloat<A> acc = vsplat<A>(0.0f);
    for (int64_t i = 0; i < nv; i += L) acc += vload<A>(x + i);
    float sum = vsum<A>(acc);
    for (int64_t i = nv; i < n; i++) sum += x[i];
    const float mean = sum / (float)n;
    const vfloat<A> vmean = vsplat<A>(mean);
    acc = vsplat<A>(0.0f);
    for (int64_t i = 0; i < nv; i += L) {
        const vfloat<A> d = vload<A>(x + i) - vmean;
        acc = xsimd::fma(d, d, acc);
    }
    float var = vsum<A>(acc);
    for (int64_t i = nv; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= (float)n;
    const float inv = 1.0f / sqrtf(var + eps);
    const vfloat<A> vinv = vsplat<A>(inv);
    for (int64_t i = 0; i < nv; i += L)
        vstore<A>(y + i, xsimd::fma((vload<A>(x + i) - vmean) * vinv, vload<A>(weight + i), vload<A>(bias + i)));
    for (int64_t i = nv; i < n; i++) y[i] = (x[i] - mean) * inv * weight[i] + bias[i];
}

template <class A>
static void layer_norm_simd(const float* x, const float* weight, const float* bias, int64_t n, float eps, float* y) {
    normalize_simd<A>(x, weight, bias, n, eps, y);
}

template <class A>
static void group_norm_simd(const float* x, const float* weight, const float* bias, int64_t n, int64_t G, float eps,
                            float* y) {
    const int64_t m = n / G;
    for (int64_t g = 0; g < G; g++) normalize_simd<A>(x + g * m, weight + g * m, bias + g * m, m, eps, y + g * m);
}
