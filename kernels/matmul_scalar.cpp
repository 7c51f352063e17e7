// matmul_scalar.cpp - the reference matrix products, one per weight type.
//
// Every output is a dot product of one weight row with one activation row.
// The weight row is converted to float32 on the fly; the activations and the
// sum stay float32. Sums use 8 interleaved partial accumulators: it keeps the
// rounding error of long rows low (closer to the pairwise sums of BLAS) and it
// is the summation order the SIMD versions (8 float lanes) can reproduce.
#include "kernels.h"
#include "half.h"

template <typename LoadFn>
static inline float dot_row(const LoadFn& load, const float* x, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += load(i + j) * x[i + j];
    for (; i < n; i++) acc[i & 7] += load(i) * x[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

void matmul_f32_scalar(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* Xv,
                       int64_t T, float* Y) {
    const float* X = (const float*)Xv;
    for (int64_t o = row0; o < row1; o++) {
        const float* w = (const float*)W + o * n_in;
        auto load = [w](int64_t i) { return w[i]; };
        for (int64_t t = 0; t < T; t++) Y[t * n_out + o] = dot_row(load, X + t * n_in, n_in);
    }
}

void matmul_f16_scalar(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* Xv,
                       int64_t T, float* Y) {
    const float* X = (const float*)Xv;
    for (int64_t o = row0; o < row1; o++) {
        const uint16_t* w = (const uint16_t*)W + o * n_in;
        auto load = [w](int64_t i) { return f16_to_f32(w[i]); };
        for (int64_t t = 0; t < T; t++) Y[t * n_out + o] = dot_row(load, X + t * n_in, n_in);
    }
}

void matmul_bf16_scalar(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* Xv,
                        int64_t T, float* Y) {
    const float* X = (const float*)Xv;
    for (int64_t o = row0; o < row1; o++) {
        const uint16_t* w = (const uint16_t*)W + o * n_in;
        auto load = [w](int64_t i) { return bf16_to_f32(w[i]); };
        for (int64_t t = 0; t < T; t++) Y[t * n_out + o] = dot_row(load, X + t * n_in, n_in);
    }
}

void row_f32_to_f32(const void* src, float* dst, int64_t n) {
    const float* s = (const float*)src;
    for (int64_t i = 0; i < n; i++) dst[i] = s[i];
}

void row_f16_to_f32(const void* src, float* dst, int64_t n) {
    const uint16_t* s = (const uint16_t*)src;
    for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32(s[i]);
}

void row_bf16_to_f32(const void* src, float* dst, int64_t n) {
    const uint16_t* s = (const uint16_t*)src;
    for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(s[i]);
}

// Placeholder until the Q8_0/Q4_0 reference kernels land.
void matmul_fill_scalar_quant(Kernels*) {}
