// kernels.h - the engine's math, behind one dispatch table.
//
// The forward pass (src/rwkv7.cpp) never calls a kernel directly: it calls
// through `kern`, a table of function pointers that kernels_init() fills once
// at start-up for the best instruction set the CPU has (or the one forced by
// RWKV_ISA / --isa). Each kernel family lives in its own file, with the plain
// scalar version beside the vectorised ones:
//
//   kernels/matmul_scalar.cpp   matrix products for every weight type
//   kernels/wkv_scalar.cpp      the WKV state updates: RWKV-7 (generalised delta
//                               rule) and RWKV-5/6 (decayed sum of outer products)
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
// X is T rows of n_in activations in the format act_type[weight type] names:
// float32 rows (the float types and, by default, the other block types), or
// rows quantized on the fly by quantize_row[act_type]: Q8_0 for Q8_0/Q4_0
// weights, Q16_K or Q8_K for the K-quants' integer products (--act). Y is T rows
// of n_out floats. The row range lets a thread pool split the output rows
// without any kernel knowing about threads; Y[t][o] must not depend on it (nor
// on how rows are grouped), so results do not depend on the thread count.
// Accumulation is float32 (or exact int32 per block for quantized types).
typedef void (*MatmulFn)(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1,
                         const void* X, int64_t T, float* Y);

// Weight layouts of the engine's own (quant.h), never found in a file: a path
// whose kernel runs faster on them rearranges a private copy of the weights
// at load time (repack[type], --no-mmap), and the matrix's layout (Matrix,
// src/model.h) becomes the new one; its type stays the file's. They continue
// GGUF's type numbers so one table indexes both.
enum KernelType : uint32_t {
    KTYPE_Q8_0_R16 = GGML_TYPE_COUNT,  // Q8_0, 16 rows interleaved, biased (AVX-512)
    KTYPE_Q4_0_R16,                    // Q4_0, 16 rows interleaved (AVX-512)
    KTYPE_Q8_0_R8,                     // Q8_0, 8 rows interleaved, signed (AVX2)
    KTYPE_Q4_0_R8,                     // Q4_0, 8 rows interleaved (AVX2)
    KTYPE_LAYOUTS_END,                 // the weight layouts end here; activation formats follow
    KTYPE_Q16_K = KTYPE_LAYOUTS_END,   // 16-bit activations of the K-quants (q16k.h, --act int16)
    KTYPE_COUNT
};

// Bytes of a row of n elements of a GGUF type or of an activation format of
// the engine's own (KTYPE_Q16_K); 0 where n does not fill whole blocks.
uint64_t kernels_row_bytes(uint32_t type, int64_t n);

// Rearrange an n_out x n_in matrix of a GGUF type in place into a layout of
// the path's own; returns that layout's KernelType. The bytes stay within
// the matrix and matmul[returned type] gives the bits matmul[type] gave.
typedef uint32_t (*RepackFn)(void* W, int64_t n_in, int64_t n_out);

// Convert one row of n floats to a weight/activation type (F16, BF16, Q8_0,
// Q4_0). Used for activations (Q8_0) and by `rwkv-cli quantize`.
typedef void (*RowQuantizeFn)(const float* src, void* dst, int64_t n);

// dst[i] = float(src[i]) for one row of n elements of a weight type.
typedef void (*RowToF32Fn)(const void* src, float* dst, int64_t n);

// One token of the RWKV-7 WKV recurrence for all heads (see wkv_scalar.cpp):
//   S_h = S_h diag(w) + (S_h (-kk)) (kk*a)^T + v k^T,   y = S_h r
// S: H states of N x N floats, row = value index, column = key index.
// All vectors have H*N elements.
typedef void (*Wkv7Fn)(int64_t H, int64_t N, float* S, const float* r, const float* w, const float* k,
                       const float* v, const float* kk, const float* a, float* y);

// One token of the RWKV-5/6 WKV recurrence for all heads (see wkv_scalar.cpp):
//   y = r^T (S + diag(u) k v^T),   S = diag(w) S + k v^T      per head
// S: H states of N x N floats, row = key index, column = value index (the
// official RWKV-5/6 order; RWKV-7's S is the other way round). w is the decay
// per key channel: RWKV-6 makes one per token, RWKV-5 passes the same constant
// vector every token. u is the bonus (time_faaaa). All vectors H*N elements.
typedef void (*Wkv6Fn)(int64_t H, int64_t N, float* S, const float* r, const float* w, const float* k,
                       const float* v, const float* u, float* y);

// y = (x - mean) / sqrt(var + eps) * weight + bias over n elements.
typedef void (*LayerNormFn)(const float* x, const float* weight, const float* bias, int64_t n, float eps,
                            float* y);

// The same per group: G groups of n/G elements each, weight/bias over all n.
typedef void (*GroupNormFn)(const float* x, const float* weight, const float* bias, int64_t n, int64_t G,
                            float eps, float* y);

// Element-wise steps, one row of n floats (kernels/act_*.cpp):
typedef void (*MixFn)(const float* xn, const float* dx, const float* mu, int64_t n, float* out);  // xn + dx*mu
typedef void (*SigmoidFn)(const float* bias, float* x, int64_t n);  // x = sigmoid(bias + x); bias may be null
typedef void (*InplaceFn)(float* x, int64_t n);                     // tanh, relu^2
typedef void (*Decay7Fn)(const float* w0, float* w, int64_t n);     // w = exp(-e^-0.5 sigmoid(w0 + w))
typedef void (*Decay6Fn)(const float* w0, float* w, int64_t n);     // w = exp(-exp(w0 + w))   (RWKV-5/6)
typedef void (*ValueResidualFn)(const float* v_first, const float* v0, const float* m, int64_t n,
                                float* v);                          // v += (v_first - v) sigmoid(v0 + m)
typedef void (*AddFn)(const float* a, int64_t n, float* y);         // y += a
// RWKV-7's keys, H heads of N: kk = normalize(k * k_k) per head (divide by
// max(|.|, 1e-12)), then k = k * (1 + (a - 1) * k_a).
typedef void (*Key7Fn)(const float* k_k, const float* k_a, const float* a, int64_t H, int64_t N, float* k,
                       float* kk);
// RWKV-7's output before Wo: y = (y + sum_head(r * k * r_k) * v) * g, the
// bonus being one scalar per head (the current token's own value).
typedef void (*BonusGate7Fn)(const float* r, const float* k, const float* v, const float* r_k, const float* g,
                             int64_t H, int64_t N, float* y);
// p = softmax(x) over n floats (max subtracted first); returns the sum of
// exp(x - max) the probabilities were divided by. The sampler's hot loop.
typedef float (*SoftmaxFn)(const float* x, int64_t n, float* p);

// Machine-limit probes for the bench (kernels/probe_*.cpp): each returns the
// operations it did; the bench times them.
typedef double (*PeakProbeFn)(int64_t iters, float* sink);
typedef float (*ReadSumFn)(const float* p, int64_t n, int streams);  // streams: 1, 2, 4 or 8

struct Kernels {
    const char* isa;                     // "scalar", later "avx2", "avx512", "neon"
    MatmulFn matmul[KTYPE_COUNT];    // by weight type; null = unsupported
    uint32_t act_type[KTYPE_COUNT];  // the X format matmul[type] takes: F32, Q8_0, Q8_K or Q16_K
    // The products a quantized type may have, for kernels_init's choice:
    // float32 activations (weights dequantized in the kernel; every block
    // type), activations quantized to int8_act_type[type] (Q8_0 rows for
    // Q8_0/Q4_0, Q8_K for Q4_K/Q5_K/Q6_K) with exact integer block sums, or
    // (Q4_K/Q5_K/Q6_K) Q16_K activations with exact integer sums per lane.
    MatmulFn matmul_f32_act[GGML_TYPE_COUNT];
    MatmulFn matmul_int8_act[GGML_TYPE_COUNT];
    uint32_t int8_act_type[GGML_TYPE_COUNT];
    MatmulFn matmul_int16_act[GGML_TYPE_COUNT];  // takes KTYPE_Q16_K rows
    RowToF32Fn row_to_f32[KTYPE_COUNT];
    RowQuantizeFn quantize_row[KTYPE_COUNT];
    RepackFn repack[GGML_TYPE_COUNT];  // null: this path runs the file's layout
    Wkv7Fn wkv7;
    Wkv6Fn wkv6;  // RWKV-5 and RWKV-6
    LayerNormFn layer_norm;
    GroupNormFn group_norm;
    MixFn mix;
    SigmoidFn sigmoid;
    InplaceFn tanh;
    Decay7Fn decay7;
    Decay6Fn decay6;
    InplaceFn silu;  // x * sigmoid(x), the RWKV-5/6 gate
    ValueResidualFn value_residual;
    Key7Fn key7;
    BonusGate7Fn bonus_gate7;
    InplaceFn relu_sq;
    AddFn add;
    SoftmaxFn softmax;
    PeakProbeFn peak_fma;   // float32 FMA flops
    PeakProbeFn peak_int8;  // int8 multiply-add ops (x2), as the Q8_0 kernels use them
    ReadSumFn read_sum;     // streaming read
};

extern Kernels kern;

// Fill `kern`. isa = nullptr or "" or "auto": the best the CPU supports;
// otherwise a name from kernels_isa_names(), failing if the CPU lacks it.
// act = nullptr, "" or "auto": each weight type's default activations
// (Q8_0 rows for Q8_0/Q4_0 weights, Q16_K for Q4_K/Q5_K/Q6_K, float32 for
// every other type); "f32": float32 activations for every type (Q8_0/Q4_0
// weights are then multiplied in place, with no --no-mmap repacking);
// "int8": 8-bit activations for every type that has such a product (Q8_K
// for Q4_K, Q5_K, Q6_K); "int16": Q16_K for the K-quants, else as auto.
void kernels_init(const char* isa, const char* act = nullptr);

// The scalar table (always available), used by tests as the reference.
void kernels_fill_scalar(Kernels* k);

// Each ISA file overwrites the entries it implements (kernels.cpp calls them
// after checking the CPU). The x86 ones exist in every x86-64 build and the
// NEON ones in every AArch64 build; on a CPU without the ISA they are never
// called.
void matmul_fill_avx2(Kernels* k);
void matmul_fill_avx512(Kernels* k);
void wkv_fill_avx2(Kernels* k);
void wkv_fill_avx512(Kernels* k);
void norm_fill_avx2(Kernels* k);
void norm_fill_avx512(Kernels* k);
void probe_fill_avx2(Kernels* k);
void act_fill_avx2(Kernels* k);
void act_fill_avx512(Kernels* k);
void probe_fill_avx512(Kernels* k);
void matmul_fill_neon(Kernels* k);  // AArch64 builds only
void wkv_fill_neon(Kernels* k);
void norm_fill_neon(Kernels* k);
void act_fill_neon(Kernels* k);
void probe_fill_neon(Kernels* k);

// The CPU features a path's kernels may use (its files' -m flags), and the
// decision: a path runs only where the CPU has all of them (for AVX-512 that
// includes BF16 and VNNI, which Skylake-X .. Ice Lake lack). Tests pass masks.
enum CpuFeature : uint32_t {
    CPU_AVX2 = 1u << 0, CPU_FMA = 1u << 1, CPU_F16C = 1u << 2, CPU_AVX512F = 1u << 3, CPU_AVX512BW = 1u << 4,
    CPU_AVX512VL = 1u << 5, CPU_AVX512DQ = 1u << 6, CPU_AVX512VNNI = 1u << 7, CPU_AVX512BF16 = 1u << 8,
    CPU_NEON = 1u << 9,
};
uint32_t kernels_cpu_features();                             // this CPU's
bool kernels_isa_runs(const char* isa, uint32_t features);  // false for unknown names

// Names of the instruction-set paths this CPU can run, best last
// ("scalar", "avx2", "avx512" on x86-64; "scalar", "neon" on AArch64).
const char* const* kernels_isa_available(int* n);

// ---- scalar kernels (the reference implementations) ----
void matmul_f32_scalar(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                       int64_t T, float* Y);
void matmul_f16_scalar(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                       int64_t T, float* Y);
void matmul_bf16_scalar(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                        int64_t T, float* Y);
// Q8_0 and Q4_0 (scalar reference): matmul, row conversion, quantization.
void matmul_fill_scalar_quant(Kernels* k);
void row_f32_to_f32(const void* src, float* dst, int64_t n);
void row_f16_to_f32(const void* src, float* dst, int64_t n);
void row_bf16_to_f32(const void* src, float* dst, int64_t n);
void wkv7_scalar(int64_t H, int64_t N, float* S, const float* r, const float* w, const float* k, const float* v,
                 const float* kk, const float* a, float* y);
void wkv6_scalar(int64_t H, int64_t N, float* S, const float* r, const float* w, const float* k, const float* v,
                 const float* u, float* y);
void mix_scalar(const float* xn, const float* dx, const float* mu, int64_t n, float* out);
void sigmoid_scalar(const float* bias, float* x, int64_t n);
void tanh_scalar(float* x, int64_t n);
// RWKV-7's decay w = exp(-e^-0.5 sigmoid(w0 + w)): the official exp(-exp(-softplus(-x) - 0.5))
// with exp(-softplus(-x)) = sigmoid(x), so every channel keeps at least exp(-e^-0.5) = 0.545 of its
// state per token (docs/math.md).
constexpr float DECAY7_SCALE = 0.606531f;  // e^-0.5
void decay7_scalar(const float* w0, float* w, int64_t n);
void decay6_scalar(const float* w0, float* w, int64_t n);
void silu_scalar(float* x, int64_t n);
void value_residual_scalar(const float* v_first, const float* v0, const float* m, int64_t n, float* v);
void key7_scalar(const float* k_k, const float* k_a, const float* a, int64_t H, int64_t N, float* k, float* kk);
void bonus_gate7_scalar(const float* r, const float* k, const float* v, const float* r_k, const float* g, int64_t H,
                        int64_t N, float* y);
void relu_sq_scalar(float* x, int64_t n);
void add_scalar(const float* a, int64_t n, float* y);
float softmax_scalar(const float* x, int64_t n, float* p);
void layer_norm_scalar(const float* x, const float* weight, const float* bias, int64_t n, float eps, float* y);
void group_norm_scalar(const float* x, const float* weight, const float* bias, int64_t n, int64_t G, float eps,
                       float* y);
// Q8_0 / Q4_0 reference kernels (matmul_scalar.cpp; blocks in quant.h).
// X is Q8_0 rows for both; quantize_row_*: ggml's reference rounding.
void matmul_q8_0_scalar(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                        int64_t T, float* Y);
void matmul_q4_0_scalar(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                        int64_t T, float* Y);
void quantize_row_q8_0_scalar(const float* src, void* dst, int64_t n);
void quantize_row_q4_0_scalar(const float* src, void* dst, int64_t n);
void quantize_row_f16_scalar(const float* src, void* dst, int64_t n);
void quantize_row_bf16_scalar(const float* src, void* dst, int64_t n);
void row_q8_0_to_f32(const void* src, float* dst, int64_t n);
void quantize_row_q8_K_scalar(const float* src, void* dst, int64_t n);  // ggml's quantize_row_q8_K_ref
void row_q8_K_to_f32(const void* src, float* dst, int64_t n);
void quantize_row_q16_K_scalar(const float* src, void* dst, int64_t n);
void row_q16_K_to_f32(const void* src, float* dst, int64_t n);
void row_q4_0_to_f32(const void* src, float* dst, int64_t n);
