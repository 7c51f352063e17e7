// act_simd.h - the element-wise steps (act_scalar.cpp), vectorised with xsimd,
// including exp/tanh/sigmoid from xsimd's vector math.
#pragma once

#include <cmath>

#include "kernels.h"
#include "simd.h"

template <class A>
static inline vfloat<A> vsigmoid(const vfloat<A>& x) {
    return vsplat<A>(1.0f) / (vsplat<A>(1.0f) + xsimd::exp(-x));
}

// Apply `vec` to whole vectors and `one` to the tail.
#define ACT_LOOP(n, vec, one)                                       \
    do {                                                            \
        constexpr int64_t L = vfloat<A>::size;                      \
        int64_t i = 0;                                              \
        for (; i + L <= (n); i += L) { vec; }                       \
        for (; i < (n); i++) { one; }                               \
    } while (0)

template <class A>
static void mix_simd(const float* xn, const float* dx, const float* mu, int64_t n, float* out) {
    ACT_LOOP(n, vstore<A>(out + i, xsimd::fma(vload<A>(dx + i), vload<A>(mu + i), vload<A>(xn + i))),
             mix_scalar(xn + i, dx + i, mu + i, 1, out + i));
}

template <class A>
static void sigmoid_simd(const float* bias, float* x, int64_t n) {
    if (bias)
        ACT_LOOP(n, vstore<A>(x + i, vsigmoid<A>(vload<A>(bias + i) + vload<A>(x + i))), sigmoid_scalar(bias + i, x + i, 1));
    else
        ACT_LOOP(n, vstore<A>(x + i, vsigmoid<A>(vload<A>(x + i))), sigmoid_scalar(nullptr, x + i, 1));
}

template <class A>
static void tanh_simd(float* x, int64_t n) {
    ACT_LOOP(n, vstore<A>(x + i, xsimd::tanh(vload<A>(x + i))), tanh_scalar(x + i, 1));
}

template <class A>
static void decay7_simd(const float* w0, float* w, int64_t n) {
    ACT_LOOP(n, vstore<A>(w + i, xsimd::exp(vsplat<A>(-DECAY7_SCALE) * vsigmoid<A>(vload<A>(w0 + i) + vload<A>(w + i)))),
             decay7_scalar(w0 + i, w + i, 1));
}

template <class A>
static void decay6_simd(const float* w0, float* w, int64_t n) {
    ACT_LOOP(n, vstore<A>(w + i, xsimd::exp(-xsimd::exp(vload<A>(w0 + i) + vload<A>(w + i)))),
             decay6_scalar(w0 + i, w + i, 1));
}

template <class A>
static void silu_simd(float* x, int64_t n) {
    ACT_LOOP(n,
             {
                 const vfloat<A> v = vload<A>(x + i);
                 vstore<A>(x + i, v * vsigmoid<A>(v));
             },
             silu_scalar(x + i, 1));
}

template <class A>
static void value_residual_simd(const float* v_first, const float* v0, const float* m, int64_t n, float* v) {
    ACT_LOOP(n,
             {
                 const vfloat<A> vv = vload<A>(v + i);
                 vstore<A>(v + i, xsimd::fma(vload<A>(v_first + i) - vv, vsigmoid<A>(vload<A>(v0 + i) + vload<A>(m + i)), vv));
             },
             value_residual_scalar(v_first + i, v0 + i, m + i, 1, v + i));
}

// The two per-head sums (|k k_k|^2, the bonus) in one vector accumulator each;
// heads whose size is not a multiple of the lanes go to the scalar version.
template <class A>
static void key7_simd(const float* k_k, const float* k_a, const float* a, int64_t H, int64_t N, float* k, float* kk) {
    constexpr int64_t L = vfloat<A>::size;
    if (N % L != 0) return key7_scalar(k_k, k_a, a, H, N, k, kk);
    const vfloat<A> one = vsplat<A>(1.0f);
    for (int64_t h = 0; h < H; h++) {
        const int64_t o = h * N;
        vfloat<A> ss = vsplat<A>(0.0f);
        for (int64_t i = o; i < o + N; i += L) {
            const vfloat<A> v = vload<A>(k + i) * vload<A>(k_k + i);
            vstore<A>(kk + i, v);
            ss = xsimd::fma(v, v, ss);
        }
        const vfloat<A> inv = vsplat<A>(1.0f / fmaxf(sqrtf(vsum<A>(ss)), 1e-12f));
        for (int64_t i = o; i < o + N; i += L) vstore<A>(kk + i, vload<A>(kk + i) * inv);
        for (int64_t i = o; i < o + N; i += L)
            vstore<A>(k + i, vload<A>(k + i) * xsimd::fma(vload<A>(a + i) - one, vload<A>(k_a + i), one));
    }
}

template <class A>
static void bonus_gate7_simd(const float* r, const float* k, const float* v, const float* r_k, const float* g, int64_t H,
                             int64_t N, float* y) {
    constexpr int64_t L = vfloat<A>::size;
    if (N % L != 0) return bonus_gate7_scalar(r, k, v, r_k, g, H, N, y);
    for (int64_t h = 0; h < H; h++) {
        const int64_t o = h * N;
        vfloat<A> acc = vsplat<A>(0.0f);
        for (int64_t i = o; i < o + N; i += L) acc = xsimd::fma(vload<A>(r + i) * vload<A>(k + i), vload<A>(r_k + i), acc);
        const vfloat<A> bonus = vsplat<A>(vsum<A>(acc));
        for (int64_t i = o; i < o + N; i += L)
            vstore<A>(y + i, xsimd::fma(bonus, vload<A>(v + i), vload<A>(y + i)) * vload<A>(g + i));
    }
}

template <class A>
static void relu_sq_simd(float* x, int64_t n) {
    ACT_LOOP(n,
             {
                 const vfloat<A> h = xsimd::max(vload<A>(x + i), vsplat<A>(0.0f));
                 vstore<A>(x + i, h * h);
             },
             relu_sq_scalar(x + i, 1));
}

template <class A>
static void add_simd(const float* a, int64_t n, float* y) {
    ACT_LOOP(n, vstore<A>(y + i, vload<A>(y + i) + vload<A>(a + i)), add_scalar(a + i, 1, y + i));
}

// Three passes as the scalar version (max, exp and sum, scale); the sum is
// kept in L lanes, so it is rounded in another order: equal to float rounding.
template <class A>
static float softmax_simd(const float* x, int64_t n, float* p) {
    constexpr int64_t L = vfloat<A>::size;
    const int64_t nv = n / L * L;
    vfloat<A> vmx = vsplat<A>(-INFINITY);
    for (int64_t i = 0; i < nv; i += L) vmx = xsimd::max(vmx, vload<A>(x + i));
    float lanes[L];
    vstore<A>(lanes, vmx);
    float mx = -INFINITY;
    for (int64_t j = 0; j < L; j++) mx = fmaxf(mx, lanes[j]);
    for (int64_t i = nv; i < n; i++) mx = fmaxf(mx, x[i]);
    const vfloat<A> vm = vsplat<A>(mx);
    vfloat<A> acc = vsplat<A>(0.0f);
    for (int64_t i = 0; i < nv; i += L) {
        const vfloat<A> e = xsimd::exp(vload<A>(x + i) - vm);
        vstore<A>(p + i, e);
        acc += e;
    }
    float sum = vsum<A>(acc);
    for (int64_t i = nv; i < n; i++) sum += (p[i] = expf(x[i] - mx));
    const float inv = 1.0f / sum;
    const vfloat<A> vinv = vsplat<A>(inv);
    for (int64_t i = 0; i < nv; i += L) vstore<A>(p + i, vload<A>(p + i) * vinv);
    for (int64_t i = nv; i < n; i++) p[i] *= inv;
    return sum;
}

template <class A>
static void act_fill(Kernels* k) {
    k->mix = mix_simd<A>;
    k->sigmoid = sigmoid_simd<A>;
    k->tanh = tanh_simd<A>;
    k->decay7 = decay7_simd<A>;
    k->decay6 = decay6_simd<A>;
    k->silu = silu_simd<A>;
    k->value_residual = value_residual_simd<A>;
    k->key7 = key7_simd<A>;
    k->bonus_gate7 = bonus_gate7_simd<A>;
    k->relu_sq = relu_sq_simd<A>;
    k->add = add_simd<A>;
    k->softmax = softmax_simd<A>;
}
