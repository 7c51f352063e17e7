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
    for (int64_t i = 0; i < n; i++) w[i] = expf(-0.606531f * sigmoidf(w0[i] + w[i]));
}

void value_residual_scalar(const float* v_first, const float* v0, const float* m, int64_t n, float* v) {
    for (int64_t i = 0; i < n; i++) v[i] += (v_first[i] - v[i]) * sigmoidf(v0[i] + m[i]);
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
