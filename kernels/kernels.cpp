// kernels.cpp - fill the dispatch table.
#include "kernels.h"

#include <cstring>

#include "../src/common.h"

Kernels kern;

void kernels_fill_scalar(Kernels* k) {
    memset(k, 0, sizeof(*k));
    k->isa = "scalar";
    k->matmul[GGML_TYPE_F32] = matmul_f32_scalar;
    k->matmul[GGML_TYPE_F16] = matmul_f16_scalar;
    k->matmul[GGML_TYPE_BF16] = matmul_bf16_scalar;
    k->row_to_f32[GGML_TYPE_F32] = row_f32_to_f32;
    k->row_to_f32[GGML_TYPE_F16] = row_f16_to_f32;
    k->row_to_f32[GGML_TYPE_BF16] = row_bf16_to_f32;
    k->wkv7 = wkv7_scalar;
    k->layer_norm = layer_norm_scalar;
    k->group_norm = group_norm_scalar;
}

void kernels_init(const char* isa) {
    // Only the scalar path exists so far; the SIMD paths plug in here by
    // overwriting the entries they implement, after a cpuid check.
    kernels_fill_scalar(&kern);
    if (isa && *isa && strcmp(isa, "auto") != 0 && strcmp(isa, "scalar") != 0)
        rwkv_fail("unknown or unavailable instruction set '%s' (available: scalar)", isa);
}
