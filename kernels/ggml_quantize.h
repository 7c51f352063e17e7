// ggml_quantize.h - float32 rows to GGML's block types, with ggml's own
// rounding choices, so a file rwkv-cli quantizes is byte for byte the file
// llama.cpp's llama-quantize writes from the same input (no importance matrix).
#pragma once

#include <cstdint>
#include <cstring>

// ggml's rounding to an integer (its nearest_int): to nearest, ties to even,
// for |v| < 2^22: adding 1.5 * 2^23 leaves the rounded integer in the low
// mantissa bits. For larger |v| the result is garbage, but the same garbage
// as ggml's. One different rounding can change a block's bytes, so the
// weight quantizers and the Q8_K activation quantizer both use this one.
static inline int nearest_int(float v) {
    const float shifted = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &shifted, 4);
    return (i & 0x007fffff) - 0x00400000;
}

// n is a multiple of the type's block size (32, or 256 for the K-quants and IQ4_XS).
void quantize_row_q4_1_ref(const float* src, void* dst, int64_t n);
void quantize_row_q5_0_ref(const float* src, void* dst, int64_t n);
void quantize_row_q5_1_ref(const float* src, void* dst, int64_t n);
void quantize_row_q2_K_ref(const float* src, void* dst, int64_t n);
void quantize_row_q3_K_ref(const float* src, void* dst, int64_t n);
void quantize_row_q4_K_ref(const float* src, void* dst, int64_t n);
void quantize_row_q5_K_ref(const float* src, void* dst, int64_t n);
void quantize_row_q6_K_ref(const float* src, void* dst, int64_t n);
void quantize_row_iq4_nl_ref(const float* src, void* dst, int64_t n);
void quantize_row_iq4_xs_ref(const float* src, void* dst, int64_t n);
