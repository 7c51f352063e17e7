// matmul_neon.cpp - matrix products with NEON (AArch64 Advanced SIMD, which
// every 64-bit ARM CPU has).
//
// Float weights (F32, F16, BF16): matmul_tiles.h with 4-lane vectors. 32
// registers allow 4 x 5 GEMM tiles (20 accumulators + 4 weight vectors + 1
// activation vector) and 8-row GEMV groups. F16 widens with fcvtl, BF16 with a
// 16-bit shift; activations stay float32.
//
// Quantized weights (Q8_0, Q4_0) times Q8_0 activations: quant.h's block loop
// (the scalar reference's) with the block's integer dot in NEON: int8 x int8
// products widened to int16 (smull), pairs added into int32 (sadalp), exact.
// The float steps are the reference's, compiled without contraction (see
// CMakeLists.txt), so these two types give the scalar kernel's bits.
#include <arm_neon.h>

#include <cstring>

#include "kernels.h"
#include "matmul_dequant.h"
#include "matmul_tiles.h"
#include "quant.h"

namespace {

#define ALWAYS_INLINE inline __attribute__((always_inline))

// ---------------------------------------------------------------- float weights

struct V128 {  // matmul_tiles.h's vector traits
    typedef float32x4_t vec;
    static constexpr int lanes = 4;
    static constexpr int RM = 4, RN = 5;
    static constexpr int TB = 40, OB = 64, KB = 1024;
    static ALWAYS_INLINE vec zero() { return vdupq_n_f32(0.0f); }
    static ALWAYS_INLINE vec fmadd(vec a, vec b, vec c) { return vfmaq_f32(c, a, b); }
    static ALWAYS_INLINE vec loadx(const float* p) { return vld1q_f32(p); }
    static ALWAYS_INLINE vec loadx_part(const float* p, int64_t r) {
        float tmp[4] = {0, 0, 0, 0};
        memcpy(tmp, p, (size_t)r * sizeof(float));
        return vld1q_f32(tmp);
    }
    static ALWAYS_INLINE void prefetch(const void* p) { __builtin_prefetch(p, 0, 3); }
    static ALWAYS_INLINE float hsum(vec v) {  // pairs, then lanes
        const float32x2_t h = vadd_f32(vget_low_f32(v), vget_high_f32(v));
        return vget_lane_f32(vpadd_f32(h, h), 0);
    }
    // hsum of four vectors, stored to y[0..3]: the same tree, four at a time.
    static ALWAYS_INLINE void hsum4(vec a, vec b, vec c, vec d, float* y) {
        const vec ab = vaddq_f32(vcombine_f32(vget_low_f32(a), vget_low_f32(b)), vcombine_f32(vget_high_f32(a), vget_high_f32(b)));
        const vec cd = vaddq_f32(vcombine_f32(vget_low_f32(c), vget_low_f32(d)), vcombine_f32(vget_high_f32(c), vget_high_f32(d)));
        vst1q_f32(y, vpaddq_f32(ab, cd));
    }
};

// The GEMV streams 8 rows at a time, the rows two groups ahead prefetched.
struct GemvRows {
    static constexpr int RM1 = 8, PF = 16;
};

struct LoadF32 : GemvRows {
    typedef float T;
    static ALWAYS_INLINE float32x4_t load(const float* p) { return vld1q_f32(p); }
    static ALWAYS_INLINE float32x4_t load_part(const float* p, int64_t r) { return V128::loadx_part(p, r); }
};

struct LoadF16 : GemvRows {
    typedef uint16_t T;
    static ALWAYS_INLINE float32x4_t load(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
    static inline float32x4_t load_part(const uint16_t* p, int64_t r) {
        uint16_t tmp[4] = {0, 0, 0, 0};
        memcpy(tmp, p, (size_t)r * 2);
        return load(tmp);
    }
};

struct LoadBF16 : GemvRows {
    typedef uint16_t T;
    static ALWAYS_INLINE float32x4_t load(const uint16_t* p) {
        return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
    }
    static inline float32x4_t load_part(const uint16_t* p, int64_t r) {
        uint16_t tmp[4] = {0, 0, 0, 0};
        memcpy(tmp, p, (size_t)r * 2);
        return load(tmp);
    }
};

void matmul_f32_neon(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                     int64_t T, float* Y) {
    tiles::matmul_float<V128, LoadF32>(W, n_in, n_out, row0, row1, X, T, Y);
}
void matmul_f16_neon(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                     int64_t T, float* Y) {
    tiles::matmul_float<V128, LoadF16>(W, n_in, n_out, row0, row1, X, T, Y);
}
void matmul_bf16_neon(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                      int64_t T, float* Y) {
    tiles::matmul_float<V128, LoadBF16>(W, n_in, n_out, row0, row1, X, T, Y);
}

// ---------------------------------------------------------------- quantized weights

// sum of a[j] * b[j] over 16 int8 pairs, added to acc as 4 int32 lanes. A
// product is at most 128 * 128, so each int16 holds one product and the pairs
// are summed in int32 (sadalp): exact for any bytes.
static ALWAYS_INLINE int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}

static int32_t dot_q8_0_q8_0_neon(const block_q8_0* w, const block_q8_0* x) {
    int32x4_t acc = vdupq_n_s32(0);
    acc = dot16(acc, vld1q_s8(w->qs), vld1q_s8(x->qs));
    acc = dot16(acc, vld1q_s8(w->qs + 16), vld1q_s8(x->qs + 16));
    return vaddvq_s32(acc);
}

static int32_t dot_q4_0_q8_0_neon(const block_q4_0* w, const block_q8_0* x) {
    const uint8x16_t q = vld1q_u8(w->qs);
    const int8x16_t eight = vdupq_n_s8(8);
    const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(15))), eight);  // elements 0..15
    const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);             // elements 16..31
    int32x4_t acc = vdupq_n_s32(0);
    acc = dot16(acc, lo, vld1q_s8(x->qs));
    acc = dot16(acc, hi, vld1q_s8(x->qs + 16));
    return vaddvq_s32(acc);
}

void matmul_q8_0_neon(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                      int64_t T, float* Y) {
    matmul_quant_blocks<block_q8_0, dot_q8_0_q8_0_neon>(W, n_in, n_out, row0, row1, X, T, Y);
}

void matmul_q4_0_neon(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                      int64_t T, float* Y) {
    matmul_quant_blocks<block_q4_0, dot_q4_0_q8_0_neon>(W, n_in, n_out, row0, row1, X, T, Y);
}

}  // namespace

void matmul_fill_neon(Kernels* k) {
    dequant::fill<V128, LoadF32, dequant::Generic>(k);  // Q4_1 ... IQ4_XS (matmul_dequant.h)
    k->matmul[GGML_TYPE_F32] = matmul_f32_neon;
    k->matmul[GGML_TYPE_F16] = matmul_f16_neon;
    k->matmul[GGML_TYPE_BF16] = matmul_bf16_neon;
    k->matmul[GGML_TYPE_Q8_0] = matmul_q8_0_neon;
    k->matmul[GGML_TYPE_Q4_0] = matmul_q4_0_neon;
}
