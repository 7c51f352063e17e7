// quant.h - ggml's Q8_0 and Q4_0 blocks, byte for byte as in a GGUF file.
//
// A row of n elements (n a multiple of 32) is n/32 blocks stored back to back,
// with no padding between them (the structs are 2-byte aligned, so an array of
// them is exactly the file's layout).
//
//   Q8_0: d (IEEE half), qs[32] int8        value[j] = d * qs[j]
//   Q4_0: d (IEEE half), qs[16] two nibbles value[j] = d * ((qs[j] & 15) - 8)
//                                           value[j + 16] = d * ((qs[j] >> 4) - 8)
//
// The quantizers (matmul_scalar.cpp) follow ggml's reference rounding exactly
// (quantize_row_q8_0_ref / quantize_row_q4_0_ref), so a file we quantize is the
// one llama.cpp's quantizer writes for the same float32 input.
#pragma once

#include <cstdint>

#define QK8_0 32
#define QK4_0 32

struct block_q8_0 {
    uint16_t d;        // scale, IEEE half
    int8_t qs[QK8_0];  // quants
};

struct block_q4_0 {
    uint16_t d;            // scale, IEEE half
    uint8_t qs[QK4_0 / 2];  // element j in the low nibble of qs[j], j + 16 in the high one
};

static_assert(sizeof(block_q8_0) == 34, "block_q8_0 must be 34 bytes (ggml layout)");
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 must be 18 bytes (ggml layout)");
