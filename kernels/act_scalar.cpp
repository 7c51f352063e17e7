// act_scalar.cpp - the element-wise steps of the forward pass (activations,
// token-shift mixes, the decay), the scalar reference. Each works on one row
// of n floats; the SIMD versions (act_simd.h) must agree to float rounding.
#include <cmath>

#include "kernels.h"

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

void mix_scalar(const float* xn, const float* dx, const float* mu, int64_t n, float* out) {
    for (int64_t i = 0; i < n; i++) out[i] = xn[i] + dx[i] * mu[i];
}

void sigmoid_scalar(const float* bias, float* x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = sigmoidf((bias ? bias[i] : 0.0f) + x[i]);
}

void tanh_scalar(float* x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
}

void decay7_scalar(const float* w0, float* w, int64_t n) {
    for (int64_t i = 0; i < n; i++) w[i] = expf(-DECAY7_SCALE * sigmoidf(w0[i] + w[i]));
}

void decay6_scalar(const float* w0, float* w, int64_t n) {
    for (int64_t i = 0; i < n; i++) w[i] = expf(-expf(w0[i] + w[i]));
}

void silu_scalar(float* x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] *= sigmoidf(x[i]);
}

void value_residual_scalar(const float* v_first, const float* v0, const float* m, int64_t n, float* v) {
    for (int64_t i = 0; i < n; i++) v[i] += (v_first[i] - v[i]) * sigmoidf(v0[i] + m[i]);
}

void key7_scalar(const float* k_k, const float* k_a, const float* a, int64_t H, int64_t N, float* k, float* kk) {
    for (int64_t h = 0; h < H; h++) {
        const int64_t o = h * N;
        float ss = 0.0f;
        for (int64_t i = 0; i < N; i++) {
            const float v = k[o + i] * k_k[o + i];
            kk[o + i] = v;
            ss += v * v;
        }
        const float inv = 1.0f / fmaxf(sqrtf(ss), 1e-12f);
        for (int64_t i = 0; i < N; i++) kk[o + i] *= inv;
    }
    for (int64_t i = 0; i < H * N; i++) k[i] *= 1.0f + (a[i] - 1.0f) * k_a[i];
}

void bonus_gate7_scalar(const float* r, const float* k, const float* v, const float* r_k, const float* g, int64_t H,
                        int64_t N, float* y) {
    for (int64_t h = 0; h < H; h++) {
        const int64_t o = h * N;
        float bonus = 0.0f;
        for (int64_t i = 0; i < N; i++) bonus += r[o + i] * k[o + i] * r_k[o + i];
        for (int64_t i = 0; i < N; i++) y[o + i] += bonus * v[o + i];
    }
    for (int64_t i = 0; i < H * N; i++) y[i] *= g[i];
}

void relu_sq_scalar(float* x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float h = fmaxf(x[i], 0.0f);
        x[i] = h * h;
    }
}

void add_scalar(const float* a, int64_t n, float* y) {
    for (int64_t i = 0; i < n; i++) y[i] += a[i];
}

float softmax_scalar(const float* x, int64_t n, float* p) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) mx = fmaxf(mx, x[i]);
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) sum += (p[i] = expf(x[i] - mx));
    const float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; i++) p[i] *= inv;
    return sum;
}
