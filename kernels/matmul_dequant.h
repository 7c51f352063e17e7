// matmul_dequant.h - the matrix product for GGML's block types of
// ggml_blocks.h (Q4_1, Q5_0, Q5_1, IQ4_NL, the K-quants, IQ4_XS; and Q8_0,
// Q4_0 when asked for float32 activations) with float32 activations, written once for every SIMD path: included by
// matmul_avx2.cpp, matmul_avx512.cpp and matmul_neon.cpp with their vector
// traits V, float loader L (matmul_tiles.h) and dequantizer D (below).
//
// Each weight is first dequantized exactly (dequant_block: a function of the
// stored bits alone, the same float32 operations on every path), then
// multiplied in float32 with the per-lane sequence of matmul_tiles.h. So on
// any path, Y for a block type is bit for bit what matmul[F32] of the same
// path gives on the dequantized matrix, and it inherits the float kernels'
// contract: the bits depend on neither the row range, nor T, nor the thread
// count. Keeping the activations in float32 makes the product the exact
// function of the stored weights (the reference logits of
// ../shared/data/llamacpp-quants) rather than of weights times activations
// rounded to 8 bits, as ggml's Q8_K path computes.
//
//   T = 1 (GEMV): eight rows at a time, an eighth of the range apart, block
//         by block: the eight blocks are decoded into an L1 buffer, then
//         multiplied in one pass, eight independent FMA chains (with four,
//         the FMA latency bounds the loop). Decoding, not memory, is the
//         limit: bench_matmul's matmul/<isa>/<type>/768x3072/T:1.
//   T > 1 (GEMM): a panel of rows is dequantized into a per-thread buffer
//         that fits L2 (kPanelFloats), then gemm_float runs every activation
//         row over it, so each weight is dequantized once per product.
#pragma once

#include <cstdint>
#include <vector>

#include "ggml_blocks.h"
#include "kernels.h"
#include "matmul_tiles.h"

namespace dequant {

// The GEMM's panel: 512 KiB of float32 weights beside the activation tiles
// keeps both in a 1 MiB L2 (Zen 4/5; Intel's client cores have 1.25-2 MiB).
constexpr int64_t kPanelFloats = 128 * 1024;

// S weight rows (rows[s], each nb blocks) times one activation row: y[s].
// A dequantizer D gives, per block type, D::store(block, y): the block's
// values to y[0..QB) (x86: dequant_x86.h's decoders; Generic: ggml_blocks.h's
// scalar ones).
struct Generic {
    template <class B>
    static void store(const B* b, float* y) {
        dequant_block(b, y);
    }
};

template <class V, class D, class B, int S>
static void gemv_rows(const B* const* rows, int64_t nb, const float* X, float* const* y) {
    typedef typename V::vec vec;
    constexpr int64_t QB = BlockSize<B>::n;
    static_assert(QB % V::lanes == 0, "a block is whole vectors");
    alignas(64) float w[S][QB];
    vec acc[S];
#pragma GCC unroll 8
    for (int s = 0; s < S; s++) acc[s] = V::zero();
    for (int64_t b = 0; b < nb; b++) {
#pragma GCC unroll 8
        for (int s = 0; s < S; s++) D::store(rows[s] + b, w[s]);
        const float* x = X + b * QB;
#pragma GCC unroll 16
        for (int64_t j = 0; j < QB; j += V::lanes) {
            const vec xv = V::loadx(x + j);
#pragma GCC unroll 8
            for (int s = 0; s < S; s++) acc[s] = V::fmadd(V::loadx(w[s] + j), xv, acc[s]);
        }
    }
#pragma GCC unroll 8
    for (int s = 0; s < S; s++) *y[s] = V::hsum(acc[s]);
}

template <class V, class L, class D, class B>
static void matmul(const void* Wv, int64_t n, int64_t n_out, int64_t row0, int64_t row1, const void* Xv, int64_t T,
                   float* Y) {
    constexpr int64_t QB = BlockSize<B>::n;
    const B* W = (const B*)Wv;
    const float* X = (const float*)Xv;
    const int64_t nb = n / QB;
    if (T == 1) {  // a row from each eighth of the range at a time
        constexpr int S = 8;
        const int64_t q = (row1 - row0 + S - 1) / S;
        for (int64_t o = row0; o < row0 + q; o++) {
            if (o + (S - 1) * q < row1) {
                const B* rows[S];
                float* y[S];
                for (int s = 0; s < S; s++) rows[s] = W + (o + s * q) * nb, y[s] = Y + o + s * q;
                gemv_rows<V, D, B, S>(rows, nb, X, y);
            } else {
                for (int64_t r = o; r < row1; r += q) {
                    const B* row = W + r * nb;
                    float* y = Y + r;
                    gemv_rows<V, D, B, 1>(&row, nb, X, &y);
                }
            }
        }
        return;
    }
    int64_t P = n > 0 ? kPanelFloats / n : V::OB;
    P = P < V::RM ? V::RM : P > 4 * V::OB ? 4 * V::OB : P / V::RM * V::RM;
    thread_local std::vector<float> panel;
    if (panel.size() < (size_t)(P * n)) panel.resize((size_t)(P * n));
    for (int64_t o = row0; o < row1; o += P) {
        const int64_t rows = row1 - o < P ? row1 - o : P;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t b = 0; b < nb; b++) D::store(W + (o + r) * nb + b, panel.data() + r * n + b * QB);
        tiles::gemm_float<V, L>(panel.data(), n, n_out, rows, X, T, Y + o);
    }
}

// The table entries of one path: the product of every type here, and the
// float32-activation product of Q8_0 and Q4_0 (kernels_init's "f32").
template <class V, class L, class D>
static void fill(Kernels* k) {
    k->matmul_f32_act[GGML_TYPE_Q8_0] = matmul<V, L, D, block_q8_0>;
    k->matmul_f32_act[GGML_TYPE_Q4_0] = matmul<V, L, D, block_q4_0>;
    k->matmul[GGML_TYPE_Q4_1] = k->matmul_f32_act[GGML_TYPE_Q4_1] = matmul<V, L, D, block_q4_1>;
    k->matmul[GGML_TYPE_Q5_0] = k->matmul_f32_act[GGML_TYPE_Q5_0] = matmul<V, L, D, block_q5_0>;
    k->matmul[GGML_TYPE_Q5_1] = k->matmul_f32_act[GGML_TYPE_Q5_1] = matmul<V, L, D, block_q5_1>;
    k->matmul[GGML_TYPE_IQ4_NL] = k->matmul_f32_act[GGML_TYPE_IQ4_NL] = matmul<V, L, D, block_iq4_nl>;
    k->matmul[GGML_TYPE_Q2_K] = k->matmul_f32_act[GGML_TYPE_Q2_K] = matmul<V, L, D, block_q2_K>;
    k->matmul[GGML_TYPE_Q3_K] = k->matmul_f32_act[GGML_TYPE_Q3_K] = matmul<V, L, D, block_q3_K>;
    k->matmul[GGML_TYPE_Q4_K] = k->matmul_f32_act[GGML_TYPE_Q4_K] = matmul<V, L, D, block_q4_K>;
    k->matmul[GGML_TYPE_Q5_K] = k->matmul_f32_act[GGML_TYPE_Q5_K] = matmul<V, L, D, block_q5_K>;
    k->matmul[GGML_TYPE_Q6_K] = k->matmul_f32_act[GGML_TYPE_Q6_K] = matmul<V, L, D, block_q6_K>;
    k->matmul[GGML_TYPE_IQ4_XS] = k->matmul_f32_act[GGML_TYPE_IQ4_XS] = matmul<V, L, D, block_iq4_xs>;
}

}  // namespace dequant
