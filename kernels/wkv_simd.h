// wkv_simd.h - the WKV updates, vectorised. RWKV-7 (see wkv_scalar.cpp for the math),
// vectorised along the key index j: each state row S[i][:] is N floats.
#pragma once

#include "kernels.h"
#include "simd.h"

// RWKV-7, one head whose size N is known at compile time (NV vectors per
// row; RWKV-7 models use N = 64): the head's vectors w, kk*a, k, r, kk are
// loaded once for all N rows (on AVX-512 their 20 registers stay put; on AVX2
// the 40 they would need do not fit, and they are reread from L1), and the
// row loops unroll.
//
// sa_i and y_i are dot products along a row, i.e. horizontal sums, and one
// horizontal sum per row costs as much as the row's update. So the rows go
// in groups of L (the lanes): the group's L partial-sum vectors are folded
// by one transpose-and-add tree (vsum_each, simd.h) into one vector of the L
// sums. A group takes two passes over its L rows, which stay in L1 between
// them: sa first (the update needs it), then the update and y.
template <class A, int NV>
static void wkv7_head(float* s, const float* r, const float* w, const float* k, const float* v, const float* kk,
                      const float* a, float* y) {
    constexpr int L = (int)vfloat<A>::size, N = NV * L;
    vfloat<A> kkv[NV], wv[NV], bv[NV], kv[NV], rv[NV];
    for (int q = 0; q < NV; q++) {
        kkv[q] = vload<A>(kk + q * L);
        bv[q] = kkv[q] * vload<A>(a + q * L);
        wv[q] = vload<A>(w + q * L);
        kv[q] = vload<A>(k + q * L);
        rv[q] = vload<A>(r + q * L);
    }
    alignas(64) float sa[L];
    vfloat<A> acc[L];
    for (int i0 = 0; i0 < N; i0 += L) {
        float* group = s + i0 * N;
        // sa_i = sum_j S[i][j] * (-kk[j])
#pragma GCC unroll 16
        for (int g = 0; g < L; g++) {
            const float* row = group + g * N;
            vfloat<A> d = vload<A>(row) * kkv[0];
#pragma GCC unroll 16
            for (int q = 1; q < NV; q++) d = xsimd::fma(vload<A>(row + q * L), kkv[q], d);
            acc[g] = d;
        }
        vstore<A>(sa, -vsum_each<A>(acc));
        // The compiler would otherwise keep the L x NV row vectors of the
        // pass above for the pass below: more than the registers, so they go
        // through the stack. Reloading them from L1 is cheaper.
        asm volatile("" ::: "memory");
        // S[i][j] = S[i][j] w[j] + sa_i (kk a)[j] + v_i k[j];   y_i = sum_j S[i][j] r[j]
#pragma GCC unroll 16
        for (int g = 0; g < L; g++) {
            float* row = group + g * N;
            const vfloat<A> sai = vsplat<A>(sa[g]), vi = vsplat<A>(v[i0 + g]);
            vfloat<A> d;
#pragma GCC unroll 16
            for (int q = 0; q < NV; q++) {
                vfloat<A> x = vload<A>(row + q * L) * wv[q];
                x = xsimd::fma(sai, bv[q], x);
                x = xsimd::fma(vi, kv[q], x);
                vstore<A>(row + q * L, x);
                d = q == 0 ? x * rv[0] : xsimd::fma(x, rv[q], d);
            }
            acc[g] = d;
        }
        vstore<A>(y + i0, vsum_each<A>(acc));
    }
}

// Any other head size that is a multiple of the lanes: row by row, two
// horizontal sums per row.
template <class A>
static void wkv7_head_any(int64_t N, float* s, const float* r, const float* w, const float* k, const float* v,
                          const float* kk, const float* a, float* y) {
    constexpr int64_t L = vfloat<A>::size;
    float b[256];  // kk * a
    for (int64_t j = 0; j < N; j++) b[j] = kk[j] * a[j];
    for (int64_t i = 0; i < N; i++) {
        float* row = s + i * N;
        vfloat<A> acc = vsplat<A>(0.0f);
        for (int64_t j = 0; j < N; j += L) acc = xsimd::fma(vload<A>(row + j), vload<A>(kk + j), acc);
        const vfloat<A> sa = vsplat<A>(-vsum<A>(acc));
        const vfloat<A> vi = vsplat<A>(v[i]);
        vfloat<A> out = vsplat<A>(0.0f);
        for (int64_t j = 0; j < N; j += L) {
            vfloat<A> x = vload<A>(row + j) * vload<A>(w + j);
            x = xsimd::fma(sa, vload<A>(b + j), x);
            x = xsimd::fma(vi, vload<A>(k + j), x);
            vstore<A>(row + j, x);
            out = xsimd::fma(x, vload<A>(r + j), out);
        }
        y[i] = vsum<A>(out);
    }
}

template <class A>
static void wkv7_simd(int64_t H, int64_t N, float* S, const float* r, const float* w, const float* k, const float* v,
                      const float* kk, const float* a, float* y) {
    constexpr int64_t L = vfloat<A>::size;
    if (N % L != 0 || N > 256) return wkv7_scalar(H, N, S, r, w, k, v, kk, a, y);
    for (int64_t h = 0; h < H; h++) {
        float* s = S + h * N * N;
        const int64_t o = h * N;
        if (N == 64)
            wkv7_head<A, 64 / L>(s, r + o, w + o, k + o, v + o, kk + o, a + o, y + o);
        else if (N == 32)
            wkv7_head<A, 32 / L>(s, r + o, w + o, k + o, v + o, kk + o, a + o, y + o);
        else
            wkv7_head_any<A>(N, s, r + o, w + o, k + o, v + o, kk + o, a + o, y + o);
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
