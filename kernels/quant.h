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
#include <cstring>

#include "half.h"

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

// The block loop of a product with quantized activations: Y[t][o] = the
// float terms Term(W[o][b], X[t][b]) summed over blocks b in order (QB
// elements per block). The K-quants' Q8_K products use it directly.
template <typename Block, typename XBlock, int64_t QB, float (*Term)(const Block*, const XBlock*)>
static void matmul_block_terms(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1,
                               const void* Xv, int64_t T, float* Y) {
    const int64_t nb = n_in / QB;
    const XBlock* X = (const XBlock*)Xv;
    for (int64_t o = row0; o < row1; o++) {
        const Block* w = (const Block*)W + o * nb;
        for (int64_t t = 0; t < T; t++) {
            float sum = 0.0f;
            for (int64_t b = 0; b < nb; b++) sum += Term(w + b, X + t * nb + b);
            Y[t * n_out + o] = sum;
        }
    }
}

// Q8_0 / Q4_0 times Q8_0: each block's term is (float)Dot(W[o][b], X[t][b])
// * (d_w * d_x) - a multiply, a multiply and an add, no fused multiply-add
// (the files that instantiate this are compiled with -ffp-contract=off where
// the compiler would fuse). The scalar reference instantiates it with plain
// C dots; a SIMD path with a vector Dot (exact integers) gets the same bits.
template <typename Block, int32_t (*Dot)(const Block*, const block_q8_0*)>
static inline float q8_0_term(const Block* w, const block_q8_0* x) {
    const float scale = f16_to_f32(w->d) * f16_to_f32(x->d);
    return (float)Dot(w, x) * scale;
}

template <typename Block, int32_t (*Dot)(const Block*, const block_q8_0*)>
static void matmul_quant_blocks(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* Xv,
                                int64_t T, float* Y) {
    matmul_block_terms<Block, block_q8_0, QK8_0, q8_0_term<Block, Dot>>(W, n_in, n_out, row0, row1, Xv, T, Y);
}

// The row-interleaved layouts (kernels.h: KTYPE_*_R16 for AVX-512, KTYPE_*_R8
// for AVX2): what a path makes of a Q8_0 / Q4_0 matrix in a --no-mmap copy.
// Rows Gg .. Gg + G - 1 (g < n_out / G; G = 16 or 8) become one group of the
// same bytes, in spans of P = 64 / 2G blocks (a cache line of scales):
//
//   d[P][G]          the span's scales, block-major: d[b][i] = row Gg + i, block b
//   q[P][G * QS]     its quants, block-major; within a block, the 4G-byte
//                    vector j holds 4 bytes of each row, row i at 4i .. 4i + 3:
//     Q8_0 (QS = 32, j < 8): qs[4j .. 4j + 3] of row i; AVX-512 adds 128 (its
//                            vpdpbusd wants unsigned weights), AVX2 keeps the sign
//     Q4_0 (QS = 16, j < 4): qs[4j .. 4j + 3] of row i, unchanged (nibbles)
//
// (the last span has the nb % P blocks left over, if any). So one vector load
// gives a block's next 4 quants for G rows, the operand the integer dot
// products want, where the file's layout needs a transpose per block; and a
// group is read front to back as one stream, scales and quants alike (all
// scales first and the quants after them would make a GEMV's four groups
// eight streams, which read slower: `rwkv-cli bench --gemv 128 -t 2
// --no-mmap`). Rows past the last full group keep the file's layout, where
// they were.
template <int G, int64_t QB>
struct GroupLayout {
    static constexpr int64_t DB = 2 * G;            // a block's scales
    static constexpr int64_t P = 64 / DB;           // blocks per span
    static constexpr int64_t SPAN = P * (DB + QB);  // a full span's bytes
    static int64_t span(int64_t b) { return b / P * SPAN; }
    // where block b's scales and quants start, from the group's start
    static int64_t scales(int64_t b) { return span(b) + b % P * DB; }
    static int64_t quants(int64_t nb, int64_t b) {
        const int64_t in_span = b / P < nb / P ? P : nb % P;
        return span(b) + in_span * DB + b % P * QB;
    }
};

template <int G, int BLOCK, uint32_t XOR>
static void repack_groups(void* Wv, int64_t n_in, int64_t n_out) {
    constexpr int64_t QS = BLOCK - 2, QB = G * QS;
    typedef GroupLayout<G, QB> L;
    uint8_t* W = (uint8_t*)Wv;
    const int64_t nb = n_in / 32, row_bytes = nb * BLOCK;
    uint8_t* rows = new uint8_t[(size_t)(G * row_bytes)];
    for (int64_t g = 0; g < n_out / G; g++) {
        uint8_t* group = W + g * G * row_bytes;  // G rows in, the same bytes out
        memcpy(rows, group, (size_t)(G * row_bytes));
        for (int64_t i = 0; i < G; i++)
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t* blk = rows + i * row_bytes + b * BLOCK;
                memcpy(group + L::scales(b) + 2 * i, blk, 2);  // d
                uint8_t* q = group + L::quants(nb, b);
                for (int64_t j = 0; j < QS / 4; j++) {  // quants, 4 at a time
                    uint32_t v;
                    memcpy(&v, blk + 2 + 4 * j, 4);
                    v ^= XOR;
                    memcpy(q + 4 * G * j + 4 * i, &v, 4);
                }
            }
    }
    delete[] rows;
}
