// kernels.cpp - fill the dispatch table for the best path this CPU runs.
//
// The scalar table comes first and every SIMD path overwrites only what it
// implements, so a path can be added one kernel at a time and anything it
// lacks falls back to the scalar reference.
#include "kernels.h"

#include <cstring>
#include <string>

#include "../src/common.h"
#include "q16k.h"

Kernels kern;

uint64_t kernels_row_bytes(uint32_t type, int64_t n) {
    if (type != KTYPE_Q16_K) return ggml_row_size(type, n);
    return n >= 0 && n % QK_K == 0 ? (uint64_t)(n / QK_K) * sizeof(block_q16_K) : 0;
}

enum Act { ACT_AUTO, ACT_F32, ACT_INT8, ACT_INT16 };
static void choose_activations(Kernels* k, Act act);

double peak_fma_scalar(int64_t iters, float* sink);
double peak_int8_scalar(int64_t iters, float* sink);
float read_sum_scalar(const float* p, int64_t n, int streams);

void kernels_fill_scalar(Kernels* k) {
    memset(k, 0, sizeof(*k));
    k->isa = "scalar";
    for (uint32_t t = 0; t < KTYPE_COUNT; t++) k->act_type[t] = GGML_TYPE_F32;
    k->matmul[GGML_TYPE_F32] = matmul_f32_scalar;
    k->matmul[GGML_TYPE_F16] = matmul_f16_scalar;
    k->matmul[GGML_TYPE_BF16] = matmul_bf16_scalar;
    k->row_to_f32[GGML_TYPE_F32] = row_f32_to_f32;
    k->row_to_f32[GGML_TYPE_F16] = row_f16_to_f32;
    k->row_to_f32[GGML_TYPE_BF16] = row_bf16_to_f32;
    matmul_fill_scalar_quant(k);
    k->wkv7 = wkv7_scalar;
    k->wkv6 = wkv6_scalar;
    k->layer_norm = layer_norm_scalar;
    k->group_norm = group_norm_scalar;
    k->mix = mix_scalar;
    k->sigmoid = sigmoid_scalar;
    k->tanh = tanh_scalar;
    k->decay7 = decay7_scalar;
    k->decay6 = decay6_scalar;
    k->silu = silu_scalar;
    k->value_residual = value_residual_scalar;
    k->key7 = key7_scalar;
    k->bonus_gate7 = bonus_gate7_scalar;
    k->relu_sq = relu_sq_scalar;
    k->add = add_scalar;
    k->softmax = softmax_scalar;
    k->peak_fma = peak_fma_scalar;
    k->peak_int8 = peak_int8_scalar;
    k->read_sum = read_sum_scalar;
    choose_activations(k, ACT_AUTO);
}

// Scalar probes: what the scalar kernels can reach.
double peak_fma_scalar(int64_t iters, float* sink) {
    float acc[8];
    for (int i = 0; i < 8; i++) acc[i] = 0.001f * (float)i;
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < 8; i++) acc[i] = acc[i] * 0.999999f + 1e-7f;
    for (int i = 0; i < 8; i++) *sink += acc[i];
    return 2.0 * 8 * (double)iters;
}

double peak_int8_scalar(int64_t iters, float* sink) {
    int32_t acc[8];
    for (int i = 0; i < 8; i++) acc[i] = i;
    volatile int8_t va = 3, vb = -2;
    const int8_t a = va, b = vb;
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < 8; i++) acc[i] += a * b;
    for (int i = 0; i < 8; i++) *sink += (float)acc[i];
    return 2.0 * 8 * (double)iters;
}

float read_sum_scalar(const float* p, int64_t n, int streams) {
    const int S = streams == 1 || streams == 2 || streams == 4 ? streams : 8;
    const int64_t m = n / S;  // floats per stream
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t i = 0; i < m; i++)
        for (int j = 0; j < S; j++) s[j] += p[j * m + i];
    float sum = 0;
    for (int j = 0; j < S; j++) sum += s[j];
    for (int64_t i = S * m; i < n; i++) sum += p[i];
    return sum;
}

// Best last within an architecture: "auto" takes the last one the CPU runs.
enum Isa { ISA_SCALAR, ISA_AVX2, ISA_AVX512, ISA_NEON, ISA_COUNT };
static const char* const ISA_NAMES[ISA_COUNT] = {"scalar", "avx2", "avx512", "neon"};

// What each path's files are compiled to use (CMakeLists.txt's -m flags):
// a path runs only where the CPU has every one of them.
static const uint32_t ISA_NEEDS[ISA_COUNT] = {
    0,                                                         // scalar
    CPU_AVX2 | CPU_FMA | CPU_F16C,                             // avx2
    CPU_AVX2 | CPU_FMA | CPU_F16C | CPU_AVX512F | CPU_AVX512BW | CPU_AVX512VL | CPU_AVX512DQ | CPU_AVX512VNNI |
        CPU_AVX512BF16,                                        // avx512
    CPU_NEON,                                                  // neon
};

uint32_t kernels_cpu_features() {
    uint32_t f = 0;
#if defined(__x86_64__)
    __builtin_cpu_init();
    // (the builtin takes string literals only)
    if (__builtin_cpu_supports("avx2")) f |= CPU_AVX2;
    if (__builtin_cpu_supports("fma")) f |= CPU_FMA;
    if (__builtin_cpu_supports("f16c")) f |= CPU_F16C;
    if (__builtin_cpu_supports("avx512f")) f |= CPU_AVX512F;
    if (__builtin_cpu_supports("avx512bw")) f |= CPU_AVX512BW;
    if (__builtin_cpu_supports("avx512vl")) f |= CPU_AVX512VL;
    if (__builtin_cpu_supports("avx512dq")) f |= CPU_AVX512DQ;
    if (__builtin_cpu_supports("avx512vnni")) f |= CPU_AVX512VNNI;
    if (__builtin_cpu_supports("avx512bf16")) f |= CPU_AVX512BF16;
#elif defined(__aarch64__)
    // Advanced SIMD is part of the AArch64 base architecture (HWCAP_ASIMD is
    // always set on Linux), so the NEON path needs no run-time check.
    f |= CPU_NEON;
#endif
    return f;
}

bool kernels_isa_runs(const char* name, uint32_t features) {
    for (int i = 0; i < ISA_COUNT; i++)
        if (!strcmp(name, ISA_NAMES[i])) {
#if defined(__x86_64__)
            if (i == ISA_NEON) return false;  // each build holds its own architecture's paths
#elif defined(__aarch64__)
            if (i == ISA_AVX2 || i == ISA_AVX512) return false;
#else
            if (i != ISA_SCALAR) return false;
#endif
            return (features & ISA_NEEDS[i]) == ISA_NEEDS[i];
        }
    return false;
}

static bool cpu_has(Isa isa) {
    static const uint32_t features = kernels_cpu_features();
    return kernels_isa_runs(ISA_NAMES[isa], features);
}

const char* const* kernels_isa_available(int* n) {
    static const char* avail[ISA_COUNT];
    int k = 0;
    for (int i = 0; i < ISA_COUNT; i++)
        if (cpu_has((Isa)i)) avail[k++] = ISA_NAMES[i];
    *n = k;
    return avail;
}

static void kernels_init_isa(const char* name);

static void fill(Kernels* k, Isa isa) {
    kernels_fill_scalar(k);
#if defined(__x86_64__)
    if (isa >= ISA_AVX2) {
        matmul_fill_avx2(k);
        wkv_fill_avx2(k);
        norm_fill_avx2(k);
        probe_fill_avx2(k);
        act_fill_avx2(k);
        k->isa = "avx2";
    }
    if (isa >= ISA_AVX512) {
        matmul_fill_avx512(k);
        wkv_fill_avx512(k);
        norm_fill_avx512(k);
        probe_fill_avx512(k);
        act_fill_avx512(k);
        k->isa = "avx512";
    }
#elif defined(__aarch64__)
    if (isa == ISA_NEON) {
        matmul_fill_neon(k);
        wkv_fill_neon(k);
        norm_fill_neon(k);
        probe_fill_neon(k);
        act_fill_neon(k);
        k->isa = "neon";
    }
#endif
    // the default products of Q8_0 / Q4_0 are their int8 ones, on this path
    for (uint32_t t = 0; t < GGML_TYPE_COUNT; t++)
        if (k->matmul[t] && k->act_type[t] == GGML_TYPE_Q8_0) {
            k->matmul_int8_act[t] = k->matmul[t];
            k->int8_act_type[t] = k->act_type[t];
        }
    choose_activations(k, ACT_AUTO);
}

// Point matmul[] at the products the activation choice asks for. A
// repacked layout belongs to its type's int8 product; with float32
// activations the matrices stay as the file has them. The default (auto):
// Q8_0 rows for Q8_0/Q4_0 (the fill's own), Q16_K for the K-quants that have
// that product (faster than float32 at tg and more accurate than llama.cpp's
// Q8_K: docs/quantization.md), float32 for every other type.
static void choose_activations(Kernels* k, Act act) {
    for (uint32_t t = 0; t < GGML_TYPE_COUNT; t++) {
        if (act == ACT_F32 && k->matmul_f32_act[t]) {
            k->matmul[t] = k->matmul_f32_act[t];
            k->act_type[t] = GGML_TYPE_F32;
            k->repack[t] = nullptr;
        } else if (act == ACT_INT8 && k->matmul_int8_act[t]) {
            k->matmul[t] = k->matmul_int8_act[t];
            k->act_type[t] = k->int8_act_type[t];
        } else if ((act == ACT_INT16 || act == ACT_AUTO) && k->matmul_int16_act[t]) {
            k->matmul[t] = k->matmul_int16_act[t];
            k->act_type[t] = KTYPE_Q16_K;
        }
    }
}

void kernels_init(const char* name, const char* act) {
    Act a = ACT_AUTO;
    if (act && *act && strcmp(act, "auto") != 0) {
        if (!strcmp(act, "f32")) a = ACT_F32;
        else if (!strcmp(act, "int8")) a = ACT_INT8;
        else if (!strcmp(act, "int16")) a = ACT_INT16;
        else rwkv_fail("unknown activation format '%s' (auto, f32, int8, int16)", act);
    }
    kernels_init_isa(name);
    if (a != ACT_AUTO) choose_activations(&kern, a);
}

static void kernels_init_isa(const char* name) {
    int n;
    const char* const* avail = kernels_isa_available(&n);
    if (!name || !*name || !strcmp(name, "auto")) {
        for (int i = ISA_COUNT - 1; i >= 0; i--)
            if (cpu_has((Isa)i)) return fill(&kern, (Isa)i);
    }
    for (int i = 0; i < ISA_COUNT; i++) {
        if (strcmp(name, ISA_NAMES[i]) != 0) continue;
        if (!cpu_has((Isa)i)) break;
        return fill(&kern, (Isa)i);
    }
    std::string list;
    for (int i = 0; i < n; i++) list += std::string(i ? ", " : "") + avail[i];
    rwkv_fail("unknown or unavailable instruction set '%s' (this CPU runs: %s)", name, list.c_str());
}
