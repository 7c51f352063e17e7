// norm_scalar.cpp - layer norm and group norm (two-pass: mean, then variance of
// the centred values, which stays accurate when the mean is large).
#include <cmath>

#include "kernels.h"

static void normalize(const float* x, const float* weight, const float* bias, int64_t n, float eps, float* y) {
    float mean = 0.0f;
    for (int64_t i = 0; i < n; i++) mean += x[i];
    mean /= (float)n;
    float var = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float d = x[i] - mean;
        var += d * d;
    }
    var /= (float)n;
    const float inv = 1.0f / sqrtf(var + eps);
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * inv * weight[i] + bias[i];
}

void layer_norm_scalar(const float* x, const float* weight, const float* bias, int64_t n, float eps, float* y) {
    normalize(x, weight, bias, n, eps, y);
}

void group_norm_scalar(const float* x, const float* weight, const float* bias, int64_t n, int64_t G, float eps,
                       float* y) {
    const int64_t m = n / G;
    for (int64_t g = 0; g < G; g++) normalize(x + g * m, weight + g * m, bias + g * m, m, eps, y + g * m);
}
