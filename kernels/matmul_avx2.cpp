// matmul_avx2.cpp - matrix products with AVX2, FMA and F16C.
//
// The same design as matmul_avx512.cpp, at 8 lanes and 16 registers:
//
// Float weights (F32, F16, BF16): matmul_tiles.h with 8-lane vectors, 3 x 4
// GEMM tiles (16 registers) and a GEMV over four row streams.
//
// Quantized weights (Q8_0, Q4_0) times Q8_0 activations: 8 weight rows at a
// time, one row per int32 lane, blocks transposed so vector j holds bytes
// 4j..4j+3 of each row's block. AVX2 has no vpdpbusd, and vpmaddubsw
// saturates to int16, so:
//   Q8_0: |w| (unsigned) times x with w's sign (vpsignb): each int16 pair sum
//         is at most 2 * 128 * 127 < 32768; vpmaddwd then makes int32.
//   Q4_0: the 0..15 nibbles times x: eight pair sums fit int16 (8 * 3840),
//         one vpmaddwd per block, minus 8 * sum(x).
// Either way each lane holds the exact int32 block dot, and blocks are summed
// as the scalar reference does (sum += (float)isum * (d_w * d_x), no FMA), so
// these two types give the scalar kernel's bits. A --no-mmap copy of the
// weights is rearranged at load time into 8-row groups that hold those
// transposed blocks as they are loaded (matmul_r8 below).
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels.h"
#include "dequant_x86.h"
#include "kquant_x86.h"
#include "matmul_dequant.h"
#include "matmul_tiles.h"
#include "quant.h"
#include "quant_rows8.h"

namespace {

#define ALWAYS_INLINE inline __attribute__((always_inline))

// ---------------------------------------------------------------- float weights


struct V256 {  // matmul_tiles.h's vector traits
    typedef __m256 vec;
    static constexpr int lanes = 8;
    static constexpr int RM = 3, RN = 4;  // 12 accumulators + 3 weight vectors + 1 activation vector
    static constexpr int TB = 48, OB = 60, KB = 1024;
    static ALWAYS_INLINE vec zero() { return _mm256_setzero_ps(); }
    static ALWAYS_INLINE vec fmadd(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
    static ALWAYS_INLINE vec loadx(const float* p) { return _mm256_loadu_ps(p); }
    static ALWAYS_INLINE vec loadx_part(const float* p, int64_t r) { return _mm256_maskload_ps(p, tail_mask8(r)); }
    static ALWAYS_INLINE void prefetch(const void* p) { _mm_prefetch((const char*)p, _MM_HINT_T0); }
    static ALWAYS_INLINE float hsum(vec v) {  // halves, pairs, lanes
        __m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        b = _mm_add_ps(b, _mm_movehl_ps(b, b));
        b = _mm_add_ss(b, _mm_movehdup_ps(b));
        return _mm_cvtss_f32(b);
    }
    // hsum of four vectors, stored to y[0..3]: the same tree, four at a time.
    static ALWAYS_INLINE void hsum4(vec a, vec b, vec c, vec d, float* y) {
        const vec ab = _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));  // halves
        const vec cd = _mm256_add_ps(_mm256_permute2f128_ps(c, d, 0x20), _mm256_permute2f128_ps(c, d, 0x31));
        vec p = _mm256_add_ps(_mm256_shuffle_ps(ab, cd, 0x44), _mm256_shuffle_ps(ab, cd, 0xEE));  // pairs
        p = _mm256_add_ps(_mm256_shuffle_ps(p, p, 0x88), _mm256_shuffle_ps(p, p, 0xDD));      // lanes: [a c a c | b d b d]
        _mm_storeu_ps(y, _mm_unpacklo_ps(_mm256_castps256_ps128(p), _mm256_extractf128_ps(p, 1)));
    }
};

// Weight loaders. AVX2 has no masked 16-bit load: a 16-bit tail goes
// through a zeroed buffer.
// The GEMV reads each thread's rows as four streams, a row from each quarter
// of its range at a time (RM1 = 1, matmul_tiles.h), with the hardware's
// prefetch: four streams keep more reads in flight than adjacent rows with
// software prefetch did (`rwkv-cli bench --isa avx2 -p 0 --no-mmap`).
struct GemvRows {
    static constexpr int RM1 = 1, PF = 0;
};

struct LoadF32 : GemvRows {
    typedef float T;
    static ALWAYS_INLINE __m256 load(const float* p) { return _mm256_loadu_ps(p); }
    static ALWAYS_INLINE __m256 load_part(const float* p, int64_t r) { return V256::loadx_part(p, r); }
};

struct LoadF16 : GemvRows {
    typedef uint16_t T;
    static ALWAYS_INLINE __m256 load(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p)); }
    static inline __m256 load_part(const uint16_t* p, int64_t r) {
        uint16_t tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        memcpy(tmp, p, (size_t)r * 2);
        return load(tmp);
    }
};

struct LoadBF16 : GemvRows {
    typedef uint16_t T;
    static ALWAYS_INLINE __m256 load(const uint16_t* p) {
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p)), 16));
    }
    static inline __m256 load_part(const uint16_t* p, int64_t r) {
        uint16_t tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        memcpy(tmp, p, (size_t)r * 2);
        return load(tmp);
    }
};

// dequant_x86.h's float vectors: 16 bytes widen to two vectors.
struct F256 {
    typedef __m256 vec;
    static constexpr int lanes = 8;
    static ALWAYS_INLINE vec widen(__m128i q, int i) {
        return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(i ? _mm_srli_si128(q, 8) : q));
    }
    static ALWAYS_INLINE vec set1(float s) { return _mm256_set1_ps(s); }
    static ALWAYS_INLINE vec mul(vec a, vec b) { return _mm256_mul_ps(a, b); }
    static ALWAYS_INLINE vec add(vec a, vec b) { return _mm256_add_ps(a, b); }
    static ALWAYS_INLINE vec sub(vec a, vec b) { return _mm256_sub_ps(a, b); }
    static ALWAYS_INLINE void store(float* p, vec v) { _mm256_storeu_ps(p, v); }
};

void matmul_f32_avx2(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                     int64_t T, float* Y) {
    tiles::matmul_float<V256, LoadF32>(W, n_in, n_out, row0, row1, X, T, Y);
}
void matmul_f16_avx2(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                     int64_t T, float* Y) {
    tiles::matmul_float<V256, LoadF16>(W, n_in, n_out, row0, row1, X, T, Y);
}
void matmul_bf16_avx2(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                      int64_t T, float* Y) {
    tiles::matmul_float<V256, LoadBF16>(W, n_in, n_out, row0, row1, X, T, Y);
}

// ---------------------------------------------------------------- quantized weights
// (the 8-row loaders and the GEMV loop: quant_rows8.h)

// Exact int32 dots of 8 rows with one activation block: Q8_0 weights (signed).
struct DotQ8 {
    enum { BIAS = 0, BLOCK_BYTES = sizeof(block_q8_0) };
    static constexpr void (*load)(const Rows8*, int64_t, __m256i*, __m256*) = load_q8_0_t;
    static ALWAYS_INLINE __m256i dot(const __m256i w[8], const uint8_t* xq, int32_t negcorr) {
        const __m256i ones = _mm256_set1_epi16(1);
        __m256i s[2] = {_mm256_set1_epi32(negcorr), _mm256_setzero_si256()};  // two chains
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++) {
            const __m256i x = _mm256_set1_epi32((int)load_u32(xq + 4 * q));
            const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(w[q]), _mm256_sign_epi8(x, w[q]));
            s[q & 1] = _mm256_add_epi32(s[q & 1], _mm256_madd_epi16(p, ones));
        }
        return _mm256_add_epi32(s[0], s[1]);
    }
    // T > 1: the panel holds w, |w| and the scales (17 vectors a block); RN
    // activation rows step through it together, the weights loaded once
    enum { PANEL = 17 };
    static ALWAYS_INLINE void pack(const __m256i w[8], __m256 dw, __m256i* p) {
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++) p[q] = w[q], p[8 + q] = _mm256_abs_epi8(w[q]);
        p[16] = _mm256_castps_si256(dw);
    }
    template <int RN>
    static ALWAYS_INLINE void dots(const __m256i* p, const uint8_t* xb, uint64_t xrow, const XInfo*, int64_t,
                                   __m256i s[RN]) {
        const __m256i ones = _mm256_set1_epi16(1);
#pragma GCC unroll 8
        for (int j = 0; j < RN; j++) s[j] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++) {
            const __m256i w = _mm256_load_si256(p + q), aw = _mm256_load_si256(p + 8 + q);
#pragma GCC unroll 8
            for (int j = 0; j < RN; j++) {
                const __m256i x = _mm256_set1_epi32((int)load_u32(xb + j * xrow + 4 * q));
                const __m256i p16 = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(x, w));
                s[j] = _mm256_add_epi32(s[j], _mm256_madd_epi16(p16, ones));
            }
        }
    }
};

// Q4_0 weights (unsigned nibbles): the int16 pair sums of all 8 steps fit.
struct DotQ4 {
    enum { BIAS = 8, BLOCK_BYTES = sizeof(block_q4_0) };
    static constexpr void (*load)(const Rows8*, int64_t, __m256i*, __m256*) = load_q4_0_t;
    static ALWAYS_INLINE __m256i dot(const __m256i w[8], const uint8_t* xq, int32_t negcorr) {
        __m256i p = _mm256_maddubs_epi16(w[0], _mm256_set1_epi32((int)load_u32(xq)));
#pragma GCC unroll 8
        for (int q = 1; q < 8; q++)
            p = _mm256_add_epi16(p, _mm256_maddubs_epi16(w[q], _mm256_set1_epi32((int)load_u32(xq + 4 * q))));
        return _mm256_add_epi32(_mm256_madd_epi16(p, _mm256_set1_epi16(1)), _mm256_set1_epi32(negcorr));
    }
    enum { PANEL = 9 };  // T > 1: w and the scales
    static ALWAYS_INLINE void pack(const __m256i w[8], __m256 dw, __m256i* p) {
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++) p[q] = w[q];
        p[8] = _mm256_castps_si256(dw);
    }
    template <int RN>
    static ALWAYS_INLINE void dots(const __m256i* p, const uint8_t* xb, uint64_t xrow, const XInfo* xi, int64_t nb,
                                   __m256i s[RN]) {
        __m256i h[RN];
#pragma GCC unroll 8
        for (int j = 0; j < RN; j++) h[j] = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++) {
            const __m256i w = _mm256_load_si256(p + q);
#pragma GCC unroll 8
            for (int j = 0; j < RN; j++) {
                const __m256i x = _mm256_set1_epi32((int)load_u32(xb + j * xrow + 4 * q));
                h[j] = _mm256_add_epi16(h[j], _mm256_maddubs_epi16(w, x));
            }
        }
        const __m256i ones = _mm256_set1_epi16(1);
#pragma GCC unroll 8
        for (int j = 0; j < RN; j++)
            s[j] = _mm256_add_epi32(_mm256_madd_epi16(h[j], ones), _mm256_set1_epi32(xi[j * nb].negcorr));
    }
};

constexpr int Q_RN = 4;   // activation rows per tile (T > 1)

template <class D, int RN>
static void qtile(const __m256i* panel, int64_t nb, const uint8_t* X, uint64_t xrow, const XInfo* xi, float* Y,
                  int64_t n_out, __m256i m) {
    __m256 acc[RN];
#pragma GCC unroll 8
    for (int j = 0; j < RN; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const __m256i* p = panel + b * D::PANEL;
        __m256i s[RN];
        D::template dots<RN>(p, X + b * (int64_t)sizeof(block_q8_0) + 2, xrow, xi + b, nb, s);
        const __m256 dw = _mm256_castsi256_ps(_mm256_load_si256(p + D::PANEL - 1));
#pragma GCC unroll 8
        for (int j = 0; j < RN; j++) acc[j] = finish_block(s[j], dw, xi[j * nb + b].d, acc[j]);
    }
#pragma GCC unroll 8
    for (int j = 0; j < RN; j++) _mm256_maskstore_ps(Y + j * n_out, m, acc[j]);
}

template <class D>
static void qtile_any(int rn, const __m256i* panel, int64_t nb, const uint8_t* X, uint64_t xrow, const XInfo* xi,
                      float* Y, int64_t n_out, __m256i m) {
    switch (rn) {
        case 1: return qtile<D, 1>(panel, nb, X, xrow, xi, Y, n_out, m);
        case 2: return qtile<D, 2>(panel, nb, X, xrow, xi, Y, n_out, m);
        case 3: return qtile<D, 3>(panel, nb, X, xrow, xi, Y, n_out, m);
        default: return qtile<D, 4>(panel, nb, X, xrow, xi, Y, n_out, m);
    }
}

template <class D>
static void matmul_quant(const void* Wv, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* Xv,
                         int64_t T, float* Y) {
    const uint8_t* W = (const uint8_t*)Wv;
    const int64_t nb = n_in / 32;
    const int64_t row_bytes = nb * D::BLOCK_BYTES;
    const uint64_t xrow = (uint64_t)nb * sizeof(block_q8_0);
    const uint8_t* X = (const uint8_t*)Xv;
    const XInfo* xi = prepare_x((const block_q8_0*)Xv, T, nb, D::BIAS);
    if (T == 1) return gemv8<D, false>(W, nb, row0, row1, X, xi, Y);
    Rows8 r;
    thread_local std::vector<tiles::Slot> panel_buf;  // 64-byte slots: two __m256i each
    if (panel_buf.size() < (size_t)(nb * D::PANEL + 1) / 2) panel_buf.resize((size_t)(nb * D::PANEL + 1) / 2);
    __m256i* panel = (__m256i*)panel_buf.data();
    for (int64_t o = row0; o < row1; o += 8) {
        const int nr = (int)(row1 - o < 8 ? row1 - o : 8);
        rows_from(&r, W, row_bytes, o, nr);
        for (int64_t b = 0; b < nb; b++) {
            __m256i w[8];
            __m256 dw;
            D::load(&r, b, w, &dw);
            D::pack(w, dw, panel + b * D::PANEL);
        }
        for (int64_t t = 0; t < T; t += Q_RN) {
            const int rn = (int)(T - t < Q_RN ? T - t : Q_RN);
            qtile_any<D>(rn, panel, nb, X + (uint64_t)t * xrow, xrow, xi + t * nb, Y + t * n_out + o, n_out,
                         tail_mask8(nr));
        }
    }
}

void matmul_q8_0_avx2(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                      int64_t T, float* Y) {
    matmul_quant<DotQ8>(W, n_in, n_out, row0, row1, X, T, Y);
}
void matmul_q4_0_avx2(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                      int64_t T, float* Y) {
    matmul_quant<DotQ4>(W, n_in, n_out, row0, row1, X, T, Y);
}

// ---------------------------------------------------------------- 8-row interleaved weights

// --no-mmap: as matmul_avx512.cpp does at 16 rows, the model's private copy
// of a Q8_0 / Q4_0 matrix is rearranged once at load time into quant.h's
// row-interleaved layout, G = 8 (Q8_0 keeps its sign, for vpsignb): a block
// of a group's 8 rows is D::load's transposed operand as stored, 8 (Q8_0) or
// 4 (Q4_0) plain 32-byte loads where the file's layout takes 8 row loads, a
// transpose and 8 scalar scale loads. Rows past the last full group keep the
// file's layout and its kernels. The dots and the float steps are D's and
// finish_block's, so every output has the scalar kernel's bits.
template <class D>
static uint32_t repack_r8(void* W, int64_t n_in, int64_t n_out) {
    repack_groups<8, D::BLOCK_BYTES, 0>(W, n_in, n_out);
    return D::BLOCK_BYTES == sizeof(block_q8_0) ? KTYPE_Q8_0_R8 : KTYPE_Q4_0_R8;
}

// Block b of a group: D::load's w[8] and scales.
template <class D>
static ALWAYS_INLINE void load_r8(const uint8_t* group, int64_t nb, int64_t b, __m256i w[8], __m256* dw) {
    typedef GroupLayout<8, 8 * (D::BLOCK_BYTES - 2)> L;
    const uint8_t* q = group + L::quants(nb, b);
    if (D::BLOCK_BYTES == sizeof(block_q8_0)) {
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) w[j] = _mm256_loadu_si256((const __m256i*)(q + 32 * j));
    } else {
        const __m256i m4 = _mm256_set1_epi8(15);
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {  // low nibbles are elements 4j.., high ones 16 + 4j..
            const __m256i v = _mm256_loadu_si256((const __m256i*)(q + 32 * j));
            w[j] = _mm256_and_si256(v, m4);
            w[j + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        }
    }
    *dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(group + L::scales(b))));
}

static ALWAYS_INLINE __m256i rows_in8(int64_t o, int64_t row0, int64_t row1) {  // rows [o, o + 8) within [row0, row1)
    const int64_t lo = row0 > o ? row0 - o : 0, hi = row1 < o + 8 ? row1 - o : 8;
    const __m256i i = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_and_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)hi), i),
                            _mm256_cmpgt_epi32(i, _mm256_set1_epi32((int)lo - 1)));
}

// Software prefetch distance of the 8-row GEMV, in blocks: the hardware's
// prefetch alone leaves its streams far behind. Nearer comes too late, farther
// is evicted before use; 16 was the fastest for Q4_0 and Q8_0 (`rwkv-cli bench
// -p 0 -n 128 -t 2 --isa avx2`, alternating builds with other distances).
constexpr int R8_PF_BLOCKS = 16;

// T = 1: S groups, `stride` groups apart, times one activation row.
template <class D, int S>
static ALWAYS_INLINE void gemv_r8_groups(const uint8_t* W, int64_t nb, int64_t g, int64_t stride, int64_t row0,
                                         int64_t row1, const uint8_t* X, const XInfo* xi, float* Y) {
    const int64_t group_bytes = nb * 8 * D::BLOCK_BYTES;
    const uint8_t* grp[S];
    __m256 acc[S];
#pragma GCC unroll 4
    for (int s = 0; s < S; s++) {
        grp[s] = W + (g + s * stride) * group_bytes;
        acc[s] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t* xq = X + b * (int64_t)sizeof(block_q8_0) + 2;
        // Each stream's block R8_PF_BLOCKS ahead (and its scales' line).
        prefetch_group_blocks<S, 8, 8 * (D::BLOCK_BYTES - 2)>(grp, nb, b + R8_PF_BLOCKS);
#pragma GCC unroll 4
        for (int s = 0; s < S; s++) {
            __m256i w[8];
            __m256 dw;
            load_r8<D>(grp[s], nb, b, w, &dw);
            acc[s] = finish_block(D::dot(w, xq, xi[b].negcorr), dw, xi[b].d, acc[s]);
        }
    }
#pragma GCC unroll 4
    for (int s = 0; s < S; s++) {
        const int64_t o = 8 * (g + s * stride);
        _mm256_maskstore_ps(Y + o, rows_in8(o, row0, row1), acc[s]);
    }
}

// T > 1: each group into matmul_quant's panel, then the same tiles.
template <class D>
static void gemm_r8(const uint8_t* W, int64_t nb, int64_t n_out, int64_t row0, int64_t row1, const uint8_t* X,
                    const XInfo* xi, int64_t T, float* Y) {
    const int64_t group_bytes = nb * 8 * D::BLOCK_BYTES;
    const uint64_t xrow = (uint64_t)nb * sizeof(block_q8_0);
    thread_local std::vector<tiles::Slot> panel_buf;  // 64-byte slots: two __m256i each
    if (panel_buf.size() < (size_t)(nb * D::PANEL + 1) / 2) panel_buf.resize((size_t)(nb * D::PANEL + 1) / 2);
    __m256i* panel = (__m256i*)panel_buf.data();
    for (int64_t g = row0 / 8; 8 * g < row1; g++) {
        const uint8_t* group = W + g * group_bytes;
        for (int64_t b = 0; b < nb; b++) {
            __m256i w[8];
            __m256 dw;
            load_r8<D>(group, nb, b, w, &dw);
            D::pack(w, dw, panel + b * D::PANEL);
        }
        const __m256i m = rows_in8(8 * g, row0, row1);
        for (int64_t t = 0; t < T; t += Q_RN) {
            const int rn = (int)(T - t < Q_RN ? T - t : Q_RN);
            qtile_any<D>(rn, panel, nb, X + (uint64_t)t * xrow, xrow, xi + t * nb, Y + t * n_out + 8 * g, n_out, m);
        }
    }
}

template <class D, MatmulFn FILE_LAYOUT>
static void matmul_r8(const void* Wv, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* Xv,
                      int64_t T, float* Y) {
    const int64_t full = n_out / 8 * 8;  // rows from here on are in the file's layout
    if (row1 > full) FILE_LAYOUT(Wv, n_in, n_out, row0 > full ? row0 : full, row1, Xv, T, Y);
    if (row1 > full) row1 = full;
    if (row0 >= row1) return;
    const int64_t nb = n_in / 32;
    const XInfo* xi = prepare_x((const block_q8_0*)Xv, T, nb, D::BIAS);
    const uint8_t* W = (const uint8_t*)Wv;
    const uint8_t* X = (const uint8_t*)Xv;
    if (T == 1)
        return for_group_quads(
            row0 / 8, (row1 + 7) / 8,
            [&](int64_t g, int64_t stride) { gemv_r8_groups<D, 4>(W, nb, g, stride, row0, row1, X, xi, Y); },
            [&](int64_t g) { gemv_r8_groups<D, 1>(W, nb, g, 0, row0, row1, X, xi, Y); });
    gemm_r8<D>(W, nb, n_out, row0, row1, X, xi, T, Y);
}

// ---------------------------------------------------------------- Q8_0 activations

// roundf: to nearest, ties away from zero (exact: v - trunc(v) is exact).
static inline __m256 round_away(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    const __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    const __m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, sign));
    return _mm256_add_ps(t, _mm256_and_ps(up, one));
}

// Bit-identical to quantize_row_q8_0_scalar (ggml's reference rounding).
void quantize_row_q8_0_avx2(const float* src, void* dst, int64_t n) {
    block_q8_0* y = (block_q8_0*)dst;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i lowbyte = _mm256_set1_epi32(0xff);
    const __m256 inf = _mm256_set1_ps(INFINITY), lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const float* x = src + b * QK8_0;
        __m256 v[4], a[4];
        // |x|, NaN counted as +inf (see quantize_row_q8_0_scalar)
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(x + 8 * i);
            a[i] = _mm256_blendv_ps(inf, _mm256_andnot_ps(sign, v[i]), _mm256_cmp_ps(v[i], v[i], _CMP_ORD_Q));
        }
        const __m256 m = _mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3]));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        const float amax = _mm_cvtss_f32(h);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);  // as f32_to_f16 (nearest even)
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        // x * id: NaN -> 0, clamped to [-127, 127]; the low byte of each int32
        // (the int8_t) then packs as 0..255 without saturating
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            __m256 s = _mm256_mul_ps(v[i], vid);
            s = _mm256_and_ps(s, _mm256_cmp_ps(s, s, _CMP_ORD_Q));
            s = _mm256_min_ps(_mm256_max_ps(s, lo), hi);
            q[i] = _mm256_and_si256(_mm256_cvttps_epi32(round_away(s)), lowbyte);
        }
        const __m256i p = _mm256_packus_epi16(_mm256_packus_epi32(q[0], q[1]), _mm256_packus_epi32(q[2], q[3]));
        const __m256i r = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i*)y[b].qs, r);
    }
}

}  // namespace

void matmul_fill_avx2(Kernels* k) {
    dequant::fill<V256, LoadF32, dqx86::Dequant<F256>>(k);  // Q4_1 ... IQ4_XS (matmul_dequant.h)
    k->matmul_int8_act[GGML_TYPE_Q4_K] = kq8::matmul<block_q4_K>;  // with Q8_K activations (kquant_x86.h)
    k->matmul_int8_act[GGML_TYPE_Q5_K] = kq8::matmul<block_q5_K>;
    k->matmul_int8_act[GGML_TYPE_Q6_K] = kq8::matmul<block_q6_K>;
    k->matmul_int16_act[GGML_TYPE_Q4_K] = kq16::matmul<block_q4_K>;  // with Q16_K activations
    k->matmul_int16_act[GGML_TYPE_Q5_K] = kq16::matmul<block_q5_K>;
    k->matmul_int16_act[GGML_TYPE_Q6_K] = kq16::matmul<block_q6_K>;
    k->matmul_int16_act[GGML_TYPE_IQ4_XS] = kq16::matmul<block_iq4_xs>;
    k->quantize_row[KTYPE_Q16_K] = kq16::quantize_row;
    k->matmul[GGML_TYPE_F32] = matmul_f32_avx2;
    k->matmul[GGML_TYPE_F16] = matmul_f16_avx2;
    k->matmul[GGML_TYPE_BF16] = matmul_bf16_avx2;
    k->matmul[GGML_TYPE_Q8_0] = matmul_q8_0_avx2;
    k->matmul[GGML_TYPE_Q4_0] = matmul_q4_0_avx2;
    k->matmul[KTYPE_Q8_0_R8] = matmul_r8<DotQ8, matmul_q8_0_avx2>;
    k->matmul[KTYPE_Q4_0_R8] = matmul_r8<DotQ4, matmul_q4_0_avx2>;
    k->act_type[KTYPE_Q8_0_R8] = GGML_TYPE_Q8_0;
    k->act_type[KTYPE_Q4_0_R8] = GGML_TYPE_Q8_0;
    k->repack[GGML_TYPE_Q8_0] = repack_r8<DotQ8>;
    k->repack[GGML_TYPE_Q4_0] = repack_r8<DotQ4>;
    k->act_type[GGML_TYPE_Q8_0] = GGML_TYPE_Q8_0;
    k->act_type[GGML_TYPE_Q4_0] = GGML_TYPE_Q8_0;
    k->quantize_row[GGML_TYPE_Q8_0] = quantize_row_q8_0_avx2;
}
