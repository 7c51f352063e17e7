// ggml_quantize.cpp - see ggml_quantize.h.
#include "ggml_quantize.h"

#include <cstring>

#include "ggml_blocks.h"

// NOT IMPLEMENTED YET: these write zero blocks (bench_matmul uses them for
// speed only; `rwkv-cli quantize` does not offer these types).
static void zero_rows(void* dst, int64_t n, int64_t block, int64_t bytes) { memset(dst, 0, (size_t)(n / block * bytes)); }
void quantize_row_q4_1_ref(const float*, void* dst, int64_t n) { zero_rows(dst, n, 32, sizeof(block_q4_1)); }
void quantize_row_q5_0_ref(const float*, void* dst, int64_t n) { zero_rows(dst, n, 32, sizeof(block_q5_0)); }
void quantize_row_q5_1_ref(const float*, void* dst, int64_t n) { zero_rows(dst, n, 32, sizeof(block_q5_1)); }
void quantize_row_q2_K_ref(const float*, void* dst, int64_t n) { zero_rows(dst, n, QK_K, sizeof(block_q2_K)); }
void quantize_row_q3_K_ref(const float*, void* dst, int64_t n) { zero_rows(dst, n, QK_K, sizeof(block_q3_K)); }
void quantize_row_q4_K_ref(const float*, void* dst, int64_t n) { zero_rows(dst, n, QK_K, sizeof(block_q4_K)); }
void quantize_row_q5_K_ref(const float*, void* dst, int64_t n) { zero_rows(dst, n, QK_K, sizeof(block_q5_K)); }
void quantize_row_q6_K_ref(const float*, void* dst, int64_t n) { zero_rows(dst, n, QK_K, sizeof(block_q6_K)); }
void quantize_row_iq4_nl_ref(const float*, void* dst, int64_t n) { zero_rows(dst, n, 32, sizeof(block_iq4_nl)); }
void quantize_row_iq4_xs_ref(const float*, void* dst, int64_t n) { zero_rows(dst, n, QK_K, sizeof(block_iq4_xs)); }
