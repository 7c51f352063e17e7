// matmul_scalar.cpp - the reference matrix products, one per weight type.
//
// Every output is a dot product of one weight row with one activation row.
// The weight row is converted to float32 on the fly; the activations and the
// sum stay float32. Sums use 8 interleaved partial accumulators: it keeps the
// rounding error of long rows low (closer to the pairwise sums of BLAS) and it
// is the summation order the SIMD versions (8 float lanes) can reproduce.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "ggml_blocks.h"
#include "ggml_quantize.h"
#include "kernels.h"
#include "half.h"
#include "q16k.h"
#include "quant.h"

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

// ---- Q8_0 and Q4_0 -------------------------------------------------------
//
// Quantized weights are multiplied by activations quantized to Q8_0 rows.
// Each block of 32 gives an exact int32 dot product of the int8 values; the
// blocks are summed in float32, in block order, as
//     sum += (float)isum * (d_w * d_x)
// (a multiply, a multiply and an add: no fused multiply-add). The SIMD
// kernels compute exactly this sequence per output, so for these two types
// every ISA gives the same bits as this reference.

static inline int32_t dot_q8_0_q8_0(const block_q8_0* w, const block_q8_0* x) {
    int32_t s = 0;
    for (int j = 0; j < QK8_0; j++) s += (int32_t)w->qs[j] * (int32_t)x->qs[j];
    return s;
}

static inline int32_t dot_q4_0_q8_0(const block_q4_0* w, const block_q8_0* x) {
    int32_t s = 0;
    for (int j = 0; j < QK4_0 / 2; j++) {
        s += ((int32_t)(w->qs[j] & 15) - 8) * (int32_t)x->qs[j];
        s += ((int32_t)(w->qs[j] >> 4) - 8) * (int32_t)x->qs[j + QK4_0 / 2];
    }
    return s;
}

void matmul_q8_0_scalar(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                        int64_t T, float* Y) {
    matmul_quant_blocks<block_q8_0, dot_q8_0_q8_0>(W, n_in, n_out, row0, row1, X, T, Y);
}

void matmul_q4_0_scalar(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                        int64_t T, float* Y) {
    matmul_quant_blocks<block_q4_0, dot_q4_0_q8_0>(W, n_in, n_out, row0, row1, X, T, Y);
}

// The row-interleaved layouts of the SIMD paths (quant.h, GroupLayout), read
// back block by block: so every table runs every layout, and a model
// rearranged for one path still runs after kernels_init picks another. Rows
// past the last full group are in the file's layout. The same terms in the
// same order: the file layout's bits.
template <int G, class Block, uint32_t XOR, int32_t (*Dot)(const Block*, const block_q8_0*)>
static void matmul_groups_scalar(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1,
                                 const void* Xv, int64_t T, float* Y) {
    constexpr int64_t QS = sizeof(Block) - 2;
    typedef GroupLayout<G, G * QS> L;
    const int64_t nb = n_in / 32, row_bytes = nb * (int64_t)sizeof(Block), full = n_out / G * G;
    const block_q8_0* X = (const block_q8_0*)Xv;
    for (int64_t o = row0; o < row1; o++) {
        const uint8_t* group = (const uint8_t*)W + o / G * G * row_bytes;
        const int64_t i = o % G;
        for (int64_t t = 0; t < T; t++) {
            float sum = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                Block blk;
                if (o < full) {
                    memcpy(&blk.d, group + L::scales(b) + 2 * i, 2);
                    for (int64_t j = 0; j < QS / 4; j++) {
                        uint32_t v;
                        memcpy(&v, group + L::quants(nb, b) + 4 * G * j + 4 * i, 4);
                        v ^= XOR;
                        memcpy((uint8_t*)&blk + 2 + 4 * j, &v, 4);
                    }
                } else {
                    memcpy(&blk, (const uint8_t*)W + o * row_bytes + b * (int64_t)sizeof(Block), sizeof(Block));
                }
                sum += q8_0_term<Block, Dot>(&blk, X + t * nb + b);
            }
            Y[t * n_out + o] = sum;
        }
    }
}

// ggml's quantize_row_q8_0_ref: d = amax / 127, q = roundf(x / d) (ties away
// from zero), d stored as half (round to nearest even). For finite inputs the
// bytes are ggml's. ggml casts NaN and out-of-range floats to int8_t, which is
// undefined (a NaN activation, or x * id with id = 1/d = inf when d is a
// float subnormal); here they are defined, and the SIMD twins do the same:
//   - NaN counts as +inf in amax, so a block holding NaN or inf gets d = inf,
//     id = 0, and its products come out non-finite (caught by the logit check)
//   - x * id is NaN -> 0, then clamped to [-127, 127] before rounding.
void quantize_row_q8_0_scalar(const float* src, void* dst, int64_t n) {
    block_q8_0* y = (block_q8_0*)dst;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const float* x = src + b * QK8_0;
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) {
            const float a = x[j] != x[j] ? INFINITY : fabsf(x[j]);
            amax = amax > a ? amax : a;  // ggml's MAX(amax, a)
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_f16(d);
        for (int j = 0; j < QK8_0; j++) {
            float v = x[j] * id;
            v = v != v ? 0.0f : v < -127.0f ? -127.0f : v > 127.0f ? 127.0f : v;
            y[b].qs[j] = (int8_t)roundf(v);
        }
    }
}

// ggml's quantize_row_q4_0_ref: d = (the value of largest magnitude) / -8,
// q = min(15, (int8_t)(x / d + 8.5)). As for Q8_0, the float-to-integer
// conversion is defined for every input: NaN -> 0, clamped to [0, 15] first
// (for finite inputs the same bytes as ggml).
void quantize_row_q4_0_scalar(const float* src, void* dst, int64_t n) {
    block_q4_0* y = (block_q4_0*)dst;
    for (int64_t b = 0; b < n / QK4_0; b++) {
        const float* x = src + b * QK4_0;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK4_0; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = f32_to_f16(d);
        auto nibble = [id](float xj) {
            const float v = xj * id + 8.5f;
            return (uint8_t)(v >= 0.0f ? (v < 15.0f ? v : 15.0f) : 0.0f);  // NaN fails v >= 0
        };
        for (int j = 0; j < QK4_0 / 2; j++)
            y[b].qs[j] = (uint8_t)(nibble(x[j]) | (nibble(x[j + QK4_0 / 2]) << 4));
    }
}

void quantize_row_f16_scalar(const float* src, void* dst, int64_t n) {
    uint16_t* d = (uint16_t*)dst;
    for (int64_t i = 0; i < n; i++) d[i] = f32_to_f16(src[i]);
}

void quantize_row_bf16_scalar(const float* src, void* dst, int64_t n) {
    uint16_t* d = (uint16_t*)dst;
    for (int64_t i = 0; i < n; i++) d[i] = f32_to_bf16(src[i]);
}

void row_q8_0_to_f32(const void* src, float* dst, int64_t n) {
    const block_q8_0* x = (const block_q8_0*)src;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const float d = f16_to_f32(x[b].d);
        for (int j = 0; j < QK8_0; j++) dst[b * QK8_0 + j] = (float)x[b].qs[j] * d;
    }
}

void row_q4_0_to_f32(const void* src, float* dst, int64_t n) {
    const block_q4_0* x = (const block_q4_0*)src;
    for (int64_t b = 0; b < n / QK4_0; b++) {
        const float d = f16_to_f32(x[b].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            dst[b * QK4_0 + j] = (float)((int)(x[b].qs[j] & 15) - 8) * d;
            dst[b * QK4_0 + j + QK4_0 / 2] = (float)((int)(x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

// ---- the other GGML block types (ggml_blocks.h) ---------------------------
//
// Float32 activations: each weight row is dequantized exactly, then summed
// as matmul_f32_scalar sums, so Y is the F32 product of the dequantized
// matrix (the SIMD paths, matmul_dequant.h, give their own F32 path's bits).

template <class B>
static void matmul_dequant_scalar(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1,
                                  const void* Xv, int64_t T, float* Y) {
    const float* X = (const float*)Xv;
    const B* blocks = (const B*)W;
    const int64_t nb = n_in / BlockSize<B>::n;
    thread_local std::vector<float> row;  // one dequantized weight row
    if (row.size() < (size_t)n_in) row.resize((size_t)n_in);
    const float* w = row.data();
    auto load = [w](int64_t i) { return w[i]; };
    for (int64_t o = row0; o < row1; o++) {
        dequant_row<B>(blocks + o * nb, row.data(), n_in);
        for (int64_t t = 0; t < T; t++) Y[t * n_out + o] = dot_row(load, X + t * n_in, n_in);
    }
}

// ---- Q4_K, Q5_K, Q6_K times Q8_K activations ------------------------------
//
// The integer products, as ggml computes them for speed: per super-block of
// 256, exact int32 sums of quant x activation products, weighted by the
// sub-block scales (and offsets: the activations' 16-sums), then one float
// term per super-block, summed in block order:
//   Q4_K, Q5_K:  sum += (float)S * (d_x * d) - (float)M * (d_x * dmin)
//                S = sum_j sc_j sum_{l in j} q_l x_l,  M = sum_j m_j sum_{l in j} x_l
//   Q6_K:        sum += (float)(S - 32 M) * (d_x * d)    (q stored + 32; M = sum_j sc_j sum_l x_l)
// No fused multiply-add; the SIMD twins (kquant_x86.h) compute the same
// integers and the same float operations, so every path gives these bits.

// ggml's quantize_row_q8_K_ref: d = (the value of largest magnitude) / -127
// per 256, q = nearest_int(x * -127 / max) (ties to even), at most 127.
void quantize_row_q8_K_scalar(const float* src, void* dst, int64_t n) {
    block_q8_K* y = (block_q8_K*)dst;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float* x = src + b * QK_K;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
        memset(&y[b], 0, sizeof(y[b]));
        if (amax == 0.0f) continue;
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            const int v = nearest_int(iscale * x[j]);
            y[b].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[b].qs[16 * j + l];
            y[b].bsums[j] = (int16_t)sum;
        }
        y[b].d = 1.0f / iscale;
    }
}

void row_q8_K_to_f32(const void* src, float* dst, int64_t n) {
    const block_q8_K* x = (const block_q8_K*)src;
    for (int64_t b = 0; b < n / QK_K; b++)
        for (int j = 0; j < QK_K; j++) dst[b * QK_K + j] = x[b].d * (float)x[b].qs[j];
}

// The integers of one super-block: S and M as above, from the quants q
// (values 0..63) and the sub-block scales (16 sub-blocks of 16 for Q6_K,
// 8 of 32 for Q4_K / Q5_K, whose offsets m are passed too).
static inline void kquant_ints(const uint8_t* q, const int* sc, const int* m, int sub, const block_q8_K* x,
                               int32_t* S, int32_t* M) {
    const int len = QK_K / sub;
    int32_t s = 0, mm = 0;
    for (int j = 0; j < sub; j++) {
        int32_t isum = 0, xsum = 0;
        for (int l = 0; l < len; l++) isum += (int32_t)q[j * len + l] * x->qs[j * len + l], xsum += x->qs[j * len + l];
        s += sc[j] * isum;
        mm += m[j] * xsum;
    }
    *S = s, *M = mm;
}

// Q4_K / Q5_K (qh null for Q4_K): the quants as values 0..31, then the term.
static inline float dot_k4_q8(uint16_t d, uint16_t dmin, const uint8_t* scales, const uint8_t* qs, const uint8_t* qh,
                              const block_q8_K* x) {
    uint8_t q[QK_K];
    int sc[8], m[8];
    for (int j = 0; j < 8; j++) {
        uint8_t a, b;
        kquant_scale_min(j, scales, &a, &b);
        sc[j] = a, m[j] = b;
    }
    for (int r = 0; r < 4; r++)
        for (int l = 0; l < 32; l++) {
            const int h1 = qh ? ((qh[l] >> (2 * r)) & 1) << 4 : 0, h2 = qh ? ((qh[l] >> (2 * r + 1)) & 1) << 4 : 0;
            q[64 * r + l] = (uint8_t)((qs[32 * r + l] & 15) | h1);
            q[64 * r + 32 + l] = (uint8_t)((qs[32 * r + l] >> 4) | h2);
        }
    int32_t S, M;
    kquant_ints(q, sc, m, 8, x, &S, &M);
    return (float)S * (x->d * f16_to_f32(d)) - (float)M * (x->d * f16_to_f32(dmin));
}

static float dot_kq8(const block_q4_K* w, const block_q8_K* x) {
    return dot_k4_q8(w->d, w->dmin, w->scales, w->qs, nullptr, x);
}

static float dot_kq8(const block_q5_K* w, const block_q8_K* x) {
    return dot_k4_q8(w->d, w->dmin, w->scales, w->qs, w->qh, x);
}

static float dot_kq8(const block_q6_K* w, const block_q8_K* x) {
    uint8_t q[QK_K];
    int sc[16];
    for (int j = 0; j < 16; j++) sc[j] = w->scales[j];
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t* ql = w->ql + 64 * h;
            const uint8_t qh = w->qh[32 * h + l];
            q[128 * h + l] = (uint8_t)((ql[l] & 15) | ((qh & 3) << 4));
            q[128 * h + 32 + l] = (uint8_t)((ql[l + 32] & 15) | (((qh >> 2) & 3) << 4));
            q[128 * h + 64 + l] = (uint8_t)((ql[l] >> 4) | (((qh >> 4) & 3) << 4));
            q[128 * h + 96 + l] = (uint8_t)((ql[l + 32] >> 4) | (((qh >> 6) & 3) << 4));
        }
    int32_t S, M;
    kquant_ints(q, sc, sc, 16, x, &S, &M);
    return (float)(S - 32 * M) * (x->d * f16_to_f32(w->d));
}

template <class B>
static void matmul_kq8_scalar(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                              int64_t T, float* Y) {
    matmul_block_terms<B, block_q8_K, QK_K, dot_kq8>(W, n_in, n_out, row0, row1, X, T, Y);
}

// ---- Q4_K, Q5_K, Q6_K times Q16_K activations ----------------------------
//
// The weights of a super-block as 16-bit integers with their sub-block
// scales applied, w_e = sc * q_e (Q4_K, Q5_K), sc * (q_e - 32) (Q6_K) or
// (ls - 32) * kIq4nl[q_e] (IQ4_XS; at most 32 * 127),
// times the 16-bit activations v_e (q16k.h), summed exactly in eight int32
// lanes as the SIMD twins (kquant_x86.h) hold them: lane l sums the elements
// e with (e mod 16) / 2 == l (pmaddwd pairs neighbours; AVX-512's sixteen
// lanes fold onto eight). Q4_K / Q5_K's offsets: lane l also gets
// M_l = m_l * (the sum of v over sub-block l). Per super-block and lane
// (d_x: the activation scale):
//   F_l = fma((float)A_l, d_x * d, F_l)
//   F_l = fma((float)M_l, -(d_x * dmin), F_l)      (Q4_K, Q5_K)
// and at the end Y = ((F0 + F4) + (F2 + F6)) + ((F1 + F5) + (F3 + F7)).

// nearest_int: ties to even, as the SIMD conversions round.
void quantize_row_q16_K_scalar(const float* src, void* dst, int64_t n) {
    block_q16_K* y = (block_q16_K*)dst;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float* x = src + b * QK_K;
        float amax = 0.0f;
        for (int j = 0; j < QK_K; j++) {
            const float a = x[j] != x[j] ? INFINITY : fabsf(x[j]);  // NaN: as Q8_0, the block goes non-finite
            amax = amax > a ? amax : a;
        }
        y[b].d = amax / (float)kQ16Max;
        const float id = amax != 0.0f ? (float)kQ16Max / amax : 0.0f;
        for (int j = 0; j < QK_K; j++) {
            float v = x[j] * id;
            v = v != v ? 0.0f : v < -(float)kQ16Max ? -(float)kQ16Max : v > (float)kQ16Max ? (float)kQ16Max : v;
            y[b].v[j] = (int16_t)nearest_int(v);
        }
        for (int j = 0; j < QK_K / 32; j++) {
            int32_t sum = 0;
            for (int l = 0; l < 32; l++) sum += y[b].v[32 * j + l];
            y[b].sums[j] = sum;
        }
    }
}

void row_q16_K_to_f32(const void* src, float* dst, int64_t n) {
    const block_q16_K* x = (const block_q16_K*)src;
    for (int64_t b = 0; b < n / QK_K; b++)
        for (int j = 0; j < QK_K; j++) dst[b * QK_K + j] = x[b].d * (float)x[b].v[j];
}

// A super-block as the lanes see it: the scaled weights w, the offsets m of
// the eight sub-blocks of 32 (zero for Q6_K), the half scales.
struct KBlock {
    int16_t w[QK_K];
    int32_t m[8];
    float d, dmin;
};

static void kblock_k4(uint16_t d, uint16_t dmin, const uint8_t* scales, const uint8_t* qs, const uint8_t* qh,
                      KBlock* o) {
    for (int r = 0; r < 4; r++) {
        uint8_t sc[2], m[2];
        kquant_scale_min(2 * r, scales, &sc[0], &m[0]);
        kquant_scale_min(2 * r + 1, scales, &sc[1], &m[1]);
        for (int l = 0; l < 32; l++) {
            const int h1 = qh ? ((qh[l] >> (2 * r)) & 1) << 4 : 0, h2 = qh ? ((qh[l] >> (2 * r + 1)) & 1) << 4 : 0;
            o->w[64 * r + l] = (int16_t)(sc[0] * ((qs[32 * r + l] & 15) | h1));
            o->w[64 * r + 32 + l] = (int16_t)(sc[1] * ((qs[32 * r + l] >> 4) | h2));
        }
        o->m[2 * r] = m[0], o->m[2 * r + 1] = m[1];
    }
    o->d = f16_to_f32(d), o->dmin = f16_to_f32(dmin);
}

static void kblock(const block_q4_K* w, KBlock* o) { kblock_k4(w->d, w->dmin, w->scales, w->qs, nullptr, o); }
static void kblock(const block_q5_K* w, KBlock* o) { kblock_k4(w->d, w->dmin, w->scales, w->qs, w->qh, o); }
static void kblock(const block_q6_K* w, KBlock* o) {
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t* ql = w->ql + 64 * h;
            const uint8_t qh = w->qh[32 * h + l];
            const int q[4] = {(ql[l] & 15) | ((qh & 3) << 4), (ql[l + 32] & 15) | (((qh >> 2) & 3) << 4),
                              (ql[l] >> 4) | (((qh >> 4) & 3) << 4), (ql[l + 32] >> 4) | (((qh >> 6) & 3) << 4)};
            for (int p = 0; p < 4; p++) {
                const int e = 128 * h + 32 * p + l;
                o->w[e] = (int16_t)(w->scales[e / 16] * (q[p] - 32));
            }
        }
    for (int j = 0; j < 8; j++) o->m[j] = 0;
    o->d = f16_to_f32(w->d), o->dmin = 0.0f;
}

static void kblock(const block_iq4_xs* w, KBlock* o) {
    for (int s = 0; s < 8; s++) {
        const int ls = ((w->scales_l[s / 2] >> (4 * (s % 2))) & 15) | (((w->scales_h >> (2 * s)) & 3) << 4);
        for (int j = 0; j < 16; j++) {
            o->w[32 * s + j] = (int16_t)((ls - 32) * kIq4nl[w->qs[16 * s + j] & 15]);
            o->w[32 * s + j + 16] = (int16_t)((ls - 32) * kIq4nl[w->qs[16 * s + j] >> 4]);
        }
        o->m[s] = 0;
    }
    o->d = f16_to_f32(w->d), o->dmin = 0.0f;
}

template <class B>
static void q16_block(const KBlock& w, const block_q16_K* x, float F[8]) {
    const float dd = x->d * w.d, dm = -(x->d * w.dmin);
    for (int l = 0; l < 8; l++) {
        int32_t A = 0;
        for (int e = 2 * l; e < QK_K; e += 16) A += (int32_t)w.w[e] * x->v[e] + (int32_t)w.w[e + 1] * x->v[e + 1];
        F[l] = fmaf((float)A, dd, F[l]);
        if (kHasOffsets<B>) F[l] = fmaf((float)(w.m[l] * x->sums[l]), dm, F[l]);
    }
}

template <class B>
static void matmul_kq16_scalar(const void* Wv, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1,
                               const void* Xv, int64_t T, float* Y) {
    const int64_t nb = n_in / QK_K;
    const B* W = (const B*)Wv;
    const block_q16_K* X = (const block_q16_K*)Xv;
    KBlock w;
    thread_local std::vector<float> lanes;  // eight per activation row: a block is decoded once for all T
    if (lanes.size() < (size_t)(8 * T)) lanes.resize((size_t)(8 * T));
    for (int64_t o = row0; o < row1; o++) {
        std::fill(lanes.begin(), lanes.begin() + 8 * T, 0.0f);
        for (int64_t b = 0; b < nb; b++) {
            kblock(W + o * nb + b, &w);
            for (int64_t t = 0; t < T; t++) q16_block<B>(w, X + t * nb + b, lanes.data() + 8 * t);
        }
        for (int64_t t = 0; t < T; t++) {
            const float* F = lanes.data() + 8 * t;
            Y[t * n_out + o] = ((F[0] + F[4]) + (F[2] + F[6])) + ((F[1] + F[5]) + (F[3] + F[7]));
        }
    }
}

template <class B>
static void fill_block_type(Kernels* k, uint32_t type, RowQuantizeFn quantize) {
    k->matmul[type] = k->matmul_f32_act[type] = matmul_dequant_scalar<B>;
    k->act_type[type] = GGML_TYPE_F32;
    k->row_to_f32[type] = dequant_row<B>;
    k->quantize_row[type] = quantize;
}

void matmul_fill_scalar_quant(Kernels* k) {
    k->matmul[KTYPE_Q8_0_R16] = matmul_groups_scalar<16, block_q8_0, 0x80808080u, dot_q8_0_q8_0>;
    k->matmul[KTYPE_Q4_0_R16] = matmul_groups_scalar<16, block_q4_0, 0, dot_q4_0_q8_0>;
    k->matmul[KTYPE_Q8_0_R8] = matmul_groups_scalar<8, block_q8_0, 0, dot_q8_0_q8_0>;
    k->matmul[KTYPE_Q4_0_R8] = matmul_groups_scalar<8, block_q4_0, 0, dot_q4_0_q8_0>;
    for (uint32_t t = GGML_TYPE_COUNT; t < KTYPE_LAYOUTS_END; t++) k->act_type[t] = GGML_TYPE_Q8_0;
    k->matmul_f32_act[GGML_TYPE_Q8_0] = matmul_dequant_scalar<block_q8_0>;
    k->matmul_f32_act[GGML_TYPE_Q4_0] = matmul_dequant_scalar<block_q4_0>;
    k->matmul_int8_act[GGML_TYPE_Q8_0] = matmul_q8_0_scalar;
    k->matmul_int8_act[GGML_TYPE_Q4_0] = matmul_q4_0_scalar;
    k->int8_act_type[GGML_TYPE_Q8_0] = k->int8_act_type[GGML_TYPE_Q4_0] = GGML_TYPE_Q8_0;
    k->matmul_int8_act[GGML_TYPE_Q4_K] = matmul_kq8_scalar<block_q4_K>;
    k->matmul_int8_act[GGML_TYPE_Q5_K] = matmul_kq8_scalar<block_q5_K>;
    k->matmul_int8_act[GGML_TYPE_Q6_K] = matmul_kq8_scalar<block_q6_K>;
    k->int8_act_type[GGML_TYPE_Q4_K] = k->int8_act_type[GGML_TYPE_Q5_K] = k->int8_act_type[GGML_TYPE_Q6_K] =
        GGML_TYPE_Q8_K;
    k->matmul_int16_act[GGML_TYPE_Q4_K] = matmul_kq16_scalar<block_q4_K>;
    k->matmul_int16_act[GGML_TYPE_Q5_K] = matmul_kq16_scalar<block_q5_K>;
    k->matmul_int16_act[GGML_TYPE_Q6_K] = matmul_kq16_scalar<block_q6_K>;
    k->matmul_int16_act[GGML_TYPE_IQ4_XS] = matmul_kq16_scalar<block_iq4_xs>;
    k->quantize_row[KTYPE_Q16_K] = quantize_row_q16_K_scalar;
    k->row_to_f32[KTYPE_Q16_K] = row_q16_K_to_f32;
    k->quantize_row[GGML_TYPE_Q8_K] = quantize_row_q8_K_scalar;
    k->row_to_f32[GGML_TYPE_Q8_K] = row_q8_K_to_f32;
    fill_block_type<block_q4_1>(k, GGML_TYPE_Q4_1, quantize_row_q4_1_ref);
    fill_block_type<block_q5_0>(k, GGML_TYPE_Q5_0, quantize_row_q5_0_ref);
    fill_block_type<block_q5_1>(k, GGML_TYPE_Q5_1, quantize_row_q5_1_ref);
    fill_block_type<block_iq4_nl>(k, GGML_TYPE_IQ4_NL, quantize_row_iq4_nl_ref);
    fill_block_type<block_q2_K>(k, GGML_TYPE_Q2_K, quantize_row_q2_K_ref);
    fill_block_type<block_q3_K>(k, GGML_TYPE_Q3_K, quantize_row_q3_K_ref);
    fill_block_type<block_q4_K>(k, GGML_TYPE_Q4_K, quantize_row_q4_K_ref);
    fill_block_type<block_q5_K>(k, GGML_TYPE_Q5_K, quantize_row_q5_K_ref);
    fill_block_type<block_q6_K>(k, GGML_TYPE_Q6_K, quantize_row_q6_K_ref);
    fill_block_type<block_iq4_xs>(k, GGML_TYPE_IQ4_XS, quantize_row_iq4_xs_ref);
    k->matmul[GGML_TYPE_Q8_0] = matmul_q8_0_scalar;
    k->matmul[GGML_TYPE_Q4_0] = matmul_q4_0_scalar;
    k->act_type[GGML_TYPE_Q8_0] = GGML_TYPE_Q8_0;
    k->act_type[GGML_TYPE_Q4_0] = GGML_TYPE_Q8_0;
    k->row_to_f32[GGML_TYPE_Q8_0] = row_q8_0_to_f32;
    k->row_to_f32[GGML_TYPE_Q4_0] = row_q4_0_to_f32;
    k->quantize_row[GGML_TYPE_Q8_0] = quantize_row_q8_0_scalar;
    k->quantize_row[GGML_TYPE_Q4_0] = quantize_row_q4_0_scalar;
    k->quantize_row[GGML_TYPE_F16] = quantize_row_f16_scalar;
    k->quantize_row[GGML_TYPE_BF16] = quantize_row_bf16_scalar;
}
