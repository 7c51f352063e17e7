// wkv_simd.h - the RWKV-7 WKV update (see wkv_scalar.cpp for the math),
// vectorised along the key index j: each state row S[i][:] is N floats, and
// the per-head vectors w, kk*a, k, r, kk are loaded once per head and reused
// for all N rows. One pass over S per token: read a row, reduce sa, update,
// reduce y, store.
#pragma once

#include "kernels.h"
#include "simd.h"

template <class A>
static void wkv7_simd(int64_t H, int64_t N, float* S, const float* r, const float* w, const float* k, const float* v,
                      const float* kk, const float* a, float* y) {
    constexpr int64_t L = vfloat<A>::size;
    if (N % L != 0 || N > 256) return wkv7_scalar(H, N, S, r, w, k, v, kk, a, y);
    float b[256];  // kk * a for one head
    for (int64_t h = 0; h < H; h++) {
        float* s = S + h * N * N;
        const int64_t o = h * N;
        for (int64_t j = 0; j < N; j++) b[j] = kk[o + j] * a[o + j];
        for (int64_t i = 0; i < N; i++) {
            float* row = s + i * N;
            vfloat<A> acc = vsplat<A>(0.0f);
            for (int64_t j = 0; j < N; j += L) acc = xsimd::fma(vload<A>(row + j), vload<A>(kk + o + j), acc);
            const vfloat<A> sa = vsplat<A>(-vsum<A>(acc));
            const vfloat<A> vi = vsplat<A>(v[o + i]);
            vfloat<A> out = vsplat<A>(0.0f);
            for (int64_t j = 0; j < N; j += L) {
                vfloat<A> x = vload<A>(row + j) * vload<A>(w + o + j);
                x = xsimd::fma(sa, vload<A>(b + j), x);
                x = xsimd::fma(vi, vload<A>(k + o + j), x);
                vstore<A>(row + j, x);
                out = xsimd::fma(x, vload<A>(r + o + j), out);
            }
            y[o + i] = vsum<A>(out);
        }
    }
}
