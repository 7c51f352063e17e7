// wkv_simd.h - the WKV updates, vectorised. RWKV-7 (see wkv_scalar.cpp for the math),
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

// RWKV-5/6 (see wkv_scalar.cpp): vectorised along the value index j, with
// the key index i as the inner loop. A block of value columns keeps its y in
// registers while the loop walks down the N rows of S, so y needs no
// horizontal sums and S is read and written once. Four blocks at a time give
// the FMA units four independent accumulation chains (one chain alone waits on
// the FMA latency every row). Per row the scalars r_i, w_i, k_i are broadcast.
template <class A, int B>
static inline void wkv6_cols(int64_t N, float* s, const float* r, const float* w, const float* k, const float* v,
                             float bonus, int64_t j0, float* y) {
    constexpr int64_t L = vfloat<A>::size;
    vfloat<A> acc[B], vj[B];
    for (int b = 0; b < B; b++) {
        vj[b] = vload<A>(v + j0 + b * L);
        acc[b] = vsplat<A>(bonus) * vj[b];
    }
    for (int64_t i = 0; i < N; i++) {
        float* row = s + i * N + j0;
        const vfloat<A> ri = vsplat<A>(r[i]), wi = vsplat<A>(w[i]), ki = vsplat<A>(k[i]);
        for (int b = 0; b < B; b++) {
            const vfloat<A> x = vload<A>(row + b * L);
            acc[b] = xsimd::fma(ri, x, acc[b]);
            vstore<A>(row + b * L, xsimd::fma(x, wi, ki * vj[b]));
        }
    }
    for (int b = 0; b < B; b++) vstore<A>(y + j0 + b * L, acc[b]);
}

template <class A>
static void wkv6_simd(int64_t H, int64_t N, float* S, const float* r, const float* w, const float* k, const float* v,
                      const float* u, float* y) {
    constexpr int64_t L = vfloat<A>::size;
    if (N % L != 0) return wkv6_scalar(H, N, S, r, w, k, v, u, y);
    for (int64_t h = 0; h < H; h++) {
        float* s = S + h * N * N;
        const int64_t o = h * N;
        float bonus = 0.0f;
        for (int64_t i = 0; i < N; i++) bonus += r[o + i] * u[o + i] * k[o + i];
        int64_t j = 0;
        for (; j + 4 * L <= N; j += 4 * L) wkv6_cols<A, 4>(N, s, r + o, w + o, k + o, v + o, bonus, j, y + o);
        for (; j < N; j += L) wkv6_cols<A, 1>(N, s, r + o, w + o, k + o, v + o, bonus, j, y + o);
    }
}
