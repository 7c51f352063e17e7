// kernels.h - the engine's math, behind one dispatch table.
//
// The forward pass (src/rwkv7.cpp) never calls a kernel directly: it calls
// through `kern`, a table of function pointers that kernels_init() fills once
// at start-up for the best instruction set the CPU has (or the one forced by
// RWKV_ISA / --isa). Each kernel family lives in its own file, with the plain
// scalar version beside the vectorised ones:
//
//   kernels/matmul_scalar.cpp   matrix products for every weight type
//   kernels/wkv_scalar.cpp      the RWKV-7 WKV state update (generalised delta rule)
//   kernels/norm_scalar.cpp     layer norm, group norm
//
// The scalar versions are the reference that every SIMD version is tested
// against (tests/test_kernels.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "../src/gguf.h"  // GgmlType

// Y[t][o] = sum_i W[o][i] * X[t][i]   for t in [0, T), o in [row0, row1)
//
// W is a matrix of n_out rows, each row n_in elements of the kernel's weight
// type, stored row after row exactly as in the GGUF file (ggml's ne[0] = n_in).
// X is T rows of n_in floats, Y is T rows of n_out floats. The row range lets a
// thread pool split the output rows without any kernel knowing about threads.
// Activations and accumulators stay float32 whatever the weight type.
typedef void (*MatmulFn)(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1,
                         const float* X, int64_t T, float* Y);

// dst[i] = float(src[i]) for one row of n elements of a weight type.
typedef void (*RowToF32Fn)(const void* src, float* dst, int64_t n);

// One token of the RWKV-7 WKV recurrence for all heads (see wkv_scalar.cpp):
//   S_h = S_h diag(w) + (S_h (-kk)) (kk*a)^T + v k^T,   y = S_h r
// S: H states of N x N floats, row = value index, column = key index.
// All vectors have H*N elements.
typedef void (*Wkv7Fn)(int64_t H, int64_t N, float* S, const float* r, const float* w, const float* k,
                       const float* v, const float* kk, const float* a, float* y);

// y = (x - mean) / sqrt(var + eps) * weight + bias over n elements.
typedef void (*LayerNormFn)(const float* x, const float* weight, const float* bias, int64_t n, float eps,
                            float* y);

// The same per group: G groups of n/G elements each, weight/bias over all n.
typedef void (*GroupNormFn)(const float* x, const float* weight, const float* bias, int64_t n, int64_t G,
                            float eps, float* y);

struct Kernels {
    const char* isa;                     // "scalar", later "avx2", "avx512", "neon"
    MatmulFn matmul[GGML_TYPE_COUNT];    // by weight type; null = unsupported
    RowToF32Fn row_to_f32[GGML_TYPE_COUNT];
    Wkv7Fn wkv7;
    LayerNormFn layer_norm;
    GroupNormFn group_norm;
};

extern Kernels kern;

// Fill `kern`. isa = nullptr or "" or "auto": the best the CPU supports;
// otherwise a name from kernels_isa_names(), failing if the CPU lacks it.
void kernels_init(const char* isa);

// The scalar table (always available), used by tests as the reference.
void kernels_fill_scalar(Kernels* k);

// ---- scalar kernels (the reference implementations) ----
void matmul_f32_scalar(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const float* X,
                       int64_t T, float* Y);
void matmul_f16_scalar(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const float* X,
                       int64_t T, float* Y);
void matmul_bf16_scalar(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const float* X,
                        int64_t T, float* Y);
void row_f32_to_f32(const void* src, float* dst, int64_t n);
void row_f16_to_f32(const void* src, float* dst, int64_t n);
void row_bf16_to_f32(const void* src, float* dst, int64_t n);
void wkv7_scalar(int64_t H, int64_t N, float* S, const float* r, const float* w, const float* k, const float* v,
                 const float* kk, const float* a, float* y);
void layer_norm_scalar(const float* x, const float* weight, const float* bias, int64_t n, float eps, float* y);
void group_norm_scalar(const float* x, const float* weight, const float* bias, int64_t n, int64_t G, float eps,
                       float* y);
