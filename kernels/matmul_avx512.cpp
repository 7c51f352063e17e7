// matmul_avx512.cpp - matrix products with AVX-512 (F, BW, VL, DQ, VNNI, BF16).
//
// Float weights (F32, F16, BF16): matmul_tiles.h with 16-lane vectors,
// 4 x 6 GEMM tiles and a GEMV over four row streams; tails come in through
// masked (zero-filling) loads, 16-bit weights become float32 in registers
// and activations stay float32. The other block types (matmul_dequant.h)
// decode through dequant_x86.h, the 4-bit ones of 32 by table (Lut512).
//
// Quantized weights (Q8_0, Q4_0) times Q8_0 activations: 16 weight rows at a
// time, one row per int32 lane. A block of 16 rows is transposed so that
// vector j holds bytes 4j..4j+3 of each row's block (as unsigned bytes: Q8_0
// is biased by +128, Q4_0 keeps its 0..15 nibbles); 8 vpdpbusd with the
// activation's 4 bytes broadcast then give, in each lane, the exact int32
// block dot (the bias times the activation block's sum is subtracted first).
// Blocks are summed exactly as the scalar reference does - sum += (float)isum
// * (d_w * d_x), no FMA - so for these two types every path gives the scalar
// kernel's bits. The 16 scales of a block come from one 64-byte load per row
// (two blocks at a time) and a tree of word permutes. T > 1 transposes a
// 16-row panel once into a per-thread buffer and runs tiles of 8 (or 6 x 2
// panels) activation rows over it. T = 1 (generation, bound by memory)
// streams 8 rows at a time instead (quant_rows8.h, with 256-bit vpdpbusd;
// why 8 is there), Q4_0 two blocks per 512-bit vector (gemv_q4_0_pairs).
//
// All of that is for weights in the file's layout (a mapped file). A
// --no-mmap copy is rearranged at load time into 16-row groups (quant.h's
// R16 layout, repack_r16 below), where a block's 16 rows are already the
// transposed vpdpbusd operand, so no transpose is left in the loop
// (`build/bench/bench_matmul --benchmark_filter='avx512/q8_0'` shows
// q8_0 against q8_0_repack).

// GCC 12's own AVX-512 headers trip -Wuninitialized once inlined (their
// _mm512_undefined_* idiom, GCC PR 105593); nothing in this file is uninitialised.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
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

struct V512 {  // matmul_tiles.h's vector traits
    typedef __m512 vec;
    static constexpr int lanes = 16;
    static constexpr int RM = 4, RN = 6;  // 24 accumulators + 4 weight vectors + 1 activation vector
    static constexpr int TB = 48, OB = 64, KB = 1024;
    static ALWAYS_INLINE __mmask16 mask(int64_t r) { return (__mmask16)((1u << r) - 1u); }
    static ALWAYS_INLINE vec zero() { return _mm512_setzero_ps(); }
    static ALWAYS_INLINE vec fmadd(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
    static ALWAYS_INLINE vec loadx(const float* p) { return _mm512_loadu_ps(p); }
    static ALWAYS_INLINE vec loadx_part(const float* p, int64_t r) { return _mm512_maskz_loadu_ps(mask(r), p); }
    static ALWAYS_INLINE void prefetch(const void* p) { _mm_prefetch((const char*)p, _MM_HINT_T0); }
    static ALWAYS_INLINE float hsum(vec v) {  // halves, quarters, pairs, lanes
        __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
        __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        b = _mm_add_ps(b, _mm_movehl_ps(b, b));
        b = _mm_add_ss(b, _mm_movehdup_ps(b));
        return _mm_cvtss_f32(b);
    }
    // hsum of four vectors, stored to y[0..3]: the same tree, four at a time.
    static ALWAYS_INLINE void hsum4(vec a, vec b, vec c, vec d, float* y) {
        const vec ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));  // halves
        const vec cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
        vec q = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));  // quarters
        q = _mm512_add_ps(q, _mm512_shuffle_ps(q, q, 0x4E));  // pairs, within each 128-bit lane
        q = _mm512_add_ps(q, _mm512_shuffle_ps(q, q, 0xB1));  // lanes
        _mm_storeu_ps(y, _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), q)));
    }
};

// Weight loaders; the part loads are masked (nothing read past r).
//
// How the GEMV streams each type: every float type reads each thread's rows
// as four streams, a row from each quarter of its range at a time (RM1 = 1,
// matmul_tiles.h), with the hardware's prefetch: this machine reads more
// with a few streams per thread than with one (the bench's read probe tries
// 1, 2, 4 and 8), and four beat two and eight here (`rwkv-cli bench -p 0
// --no-mmap`). Four separate rows are also four FMA chains, so the 4-cycle
// FMA latency no longer bounds a row's pace.
struct GemvRows {
    static constexpr int RM1 = 1, PF = 0;
};

struct LoadF32 : GemvRows {
    typedef float T;
    static ALWAYS_INLINE __m512 load(const float* p) { return _mm512_loadu_ps(p); }
    static ALWAYS_INLINE __m512 load_part(const float* p, int64_t r) { return V512::loadx_part(p, r); }
};

struct LoadF16 : GemvRows {
    typedef uint16_t T;
    static ALWAYS_INLINE __m512 load(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)p)); }
    static ALWAYS_INLINE __m512 load_part(const uint16_t* p, int64_t r) {
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(V512::mask(r), p));
    }
};

struct LoadBF16 : GemvRows {
    typedef uint16_t T;
    static ALWAYS_INLINE __m512 widen(__m256i h) {
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    static ALWAYS_INLINE __m512 load(const uint16_t* p) { return widen(_mm256_loadu_si256((const __m256i*)p)); }
    static ALWAYS_INLINE __m512 load_part(const uint16_t* p, int64_t r) {
        return widen(_mm256_maskz_loadu_epi16(V512::mask(r), p));
    }
};

// dequant_x86.h's float vectors: 16 bytes widen to one vector.
struct F512 {
    typedef __m512 vec;
    static constexpr int lanes = 16;
    static ALWAYS_INLINE vec widen(__m128i q, int) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)); }
    static ALWAYS_INLINE vec set1(float s) { return _mm512_set1_ps(s); }
    static ALWAYS_INLINE vec mul(vec a, vec b) { return _mm512_mul_ps(a, b); }
    static ALWAYS_INLINE vec add(vec a, vec b) { return _mm512_add_ps(a, b); }
    static ALWAYS_INLINE vec sub(vec a, vec b) { return _mm512_sub_ps(a, b); }
    static ALWAYS_INLINE void store(float* p, vec v) { _mm512_storeu_ps(p, v); }
};

// The 32-element 4-bit types on AVX-512: a block takes at most 16 values, so
// they are computed once, exactly as dequant_block computes them, into one
// register, and vpermps picks each weight's value by its nibble (it reads the
// index's low 4 bits, so a zero-extended byte serves for the low nibble and
// the same shifted by 4 for the high one): cheaper than widening and
// scaling each weight (`build/bench/bench_matmul
// --benchmark_filter='avx512/(q4_1|iq4_nl)/768x3072/T:1$'`). The K-quants'
// tables (one per sub-block of 32) cost what they save, so those and the
// other types decode through F512.
struct Lut512 {
    template <class B>
    static ALWAYS_INLINE void store(const B* b, float* y) {
        dqx86::Dequant<F512>::store(b, y);
    }
    static ALWAYS_INLINE __m512 iota() { return _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }
    static ALWAYS_INLINE __m512 grid() { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i*)kIq4nl))); }
    // 32 weights from 16 bytes of nibbles: low nibbles take table lo, high nibbles table hi
    static ALWAYS_INLINE void nibbles(const uint8_t* q, __m512 lo, __m512 hi, float* y_lo, float* y_hi) {
        const __m512i idx = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)q));
        _mm512_storeu_ps(y_lo, _mm512_permutexvar_ps(idx, lo));
        _mm512_storeu_ps(y_hi, _mm512_permutexvar_ps(_mm512_srli_epi32(idx, 4), hi));
    }
    static ALWAYS_INLINE void store(const block_q4_0* b, float* y) {
        const __m512 t = _mm512_mul_ps(_mm512_sub_ps(iota(), _mm512_set1_ps(8.0f)), _mm512_set1_ps(_cvtsh_ss(b->d)));
        nibbles(b->qs, t, t, y, y + 16);
    }
    static ALWAYS_INLINE void store(const block_q4_1* b, float* y) {
        const __m512 t = _mm512_add_ps(_mm512_mul_ps(iota(), _mm512_set1_ps(_cvtsh_ss(b->d))), _mm512_set1_ps(_cvtsh_ss(b->m)));
        nibbles(b->qs, t, t, y, y + 16);
    }
    static ALWAYS_INLINE void store(const block_iq4_nl* b, float* y) {
        const __m512 t = _mm512_mul_ps(grid(), _mm512_set1_ps(_cvtsh_ss(b->d)));
        nibbles(b->qs, t, t, y, y + 16);
    }
};

void matmul_f32_avx512(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                       int64_t T, float* Y) {
    tiles::matmul_float<V512, LoadF32>(W, n_in, n_out, row0, row1, X, T, Y);
}
void matmul_f16_avx512(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                       int64_t T, float* Y) {
    tiles::matmul_float<V512, LoadF16>(W, n_in, n_out, row0, row1, X, T, Y);
}
void matmul_bf16_avx512(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                        int64_t T, float* Y) {
    tiles::matmul_float<V512, LoadBF16>(W, n_in, n_out, row0, row1, X, T, Y);
}

// ---------------------------------------------------------------- quantized weights

// An opaque copy: GCC contracts a multiply and an add into an FMA in C++
// (-ffp-contract=fast is its default there), which would round once where
// the scalar reference rounds twice.
static inline __m512 no_fma(__m512 v) {
    __asm__("" : "+v"(v));
    return v;
}

typedef Rows<16> Rows16;  // quant_rows8.h

struct Unpack512 {  // for quant_rows8.h's transpose_4x4_lanes
    typedef __m512i V;
    static ALWAYS_INLINE V lo32(V a, V b) { return _mm512_unpacklo_epi32(a, b); }
    static ALWAYS_INLINE V hi32(V a, V b) { return _mm512_unpackhi_epi32(a, b); }
    static ALWAYS_INLINE V lo64(V a, V b) { return _mm512_unpacklo_epi64(a, b); }
    static ALWAYS_INLINE V hi64(V a, V b) { return _mm512_unpackhi_epi64(a, b); }
};

// The scales of the 16 rows for blocks b and b + 1 (b even) as 32 halves,
// block-major: word 16 k + i = d of row i, block b + k. One 64-byte load per
// row holds both (at words 0 and bb/2; masked, so the last block of the
// matrix reads nothing past it), and a tree of word permutes and blends puts
// the 32 words in place: 15 shuffles per pair of blocks, where a gather or 16
// scalar loads and stores would cost more than the blocks' dot products.
struct DIndex {
    __m512i ix[8];  // word permutes for rows (2j, 2j + 1)
};

static void d_index(DIndex* d, int64_t bb) {
    alignas(64) uint16_t idx[32];
    for (int j = 0; j < 8; j++) {
        for (int pos = 0; pos < 32; pos++) {
            const int k = pos / 16, i = pos % 16;
            idx[pos] = (uint16_t)(i == 2 * j ? k * bb / 2 : i == 2 * j + 1 ? 32 + k * bb / 2 : 0);
        }
        d->ix[j] = _mm512_load_si512(idx);
    }
}

static ALWAYS_INLINE __mmask32 rows_mask(int lo, int hi) {  // the words of rows [lo, hi) in both halves
    const uint32_t h = (1u << hi) - (1u << lo);
    return (__mmask32)(h | (h << 16));
}

static ALWAYS_INLINE __m512i load_d_pair(const Rows16* r, int64_t boff, __mmask32 m, const DIndex* di) {
    __m512i u[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++)
        u[j] = _mm512_permutex2var_epi16(_mm512_maskz_loadu_epi16(m, at(r, 2 * j, boff)), di->ix[j],
                                         _mm512_maskz_loadu_epi16(m, at(r, 2 * j + 1, boff)));
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) u[j] = _mm512_mask_blend_epi16(rows_mask(4 * j + 2, 4 * j + 4), u[2 * j], u[2 * j + 1]);
#pragma GCC unroll 2
    for (int j = 0; j < 2; j++) u[j] = _mm512_mask_blend_epi16(rows_mask(8 * j + 4, 8 * j + 8), u[2 * j], u[2 * j + 1]);
    return _mm512_mask_blend_epi16(rows_mask(8, 16), u[0], u[1]);
}

// Mask of the words a 64-byte load at boff may read within a row of row_bytes.
static ALWAYS_INLINE __mmask32 d_mask(int64_t row_bytes, int64_t boff) {
    const int64_t avail = (row_bytes - boff) / 2;
    return avail >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << avail) - 1u);
}

static ALWAYS_INLINE __m512 d_lo(__m512i d) { return _mm512_cvtph_ps(_mm512_castsi512_si256(d)); }
static ALWAYS_INLINE __m512 d_hi(__m512i d) { return _mm512_cvtph_ps(_mm512_extracti64x4_epi64(d, 1)); }

// Block b of 16 Q8_0 rows, transposed: w[j] lane i = bytes 4j..4j+3 of row i,
// biased to unsigned (+128).
static ALWAYS_INLINE void load_q8_0_t(const Rows16* r, int64_t b, __m512i w[8]) {
    const int64_t boff = b * (int64_t)sizeof(block_q8_0);
    // z[i] = rows i, i + 4 (i < 4) and rows 8 + i, 12 + i (i >= 4), 32 bytes each
    __m512i z[8], u[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        const int lo = i < 4 ? i : i + 4;
        z[i] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i*)at(r, lo, boff + 2))),
                                  _mm256_loadu_si256((const __m256i*)at(r, lo + 4, boff + 2)), 1);
    }
    transpose_4x4_lanes<Unpack512>(z, u);
    transpose_4x4_lanes<Unpack512>(z + 4, u + 4);
    // u[j]: 128-bit lanes = rows 0-3 dword j, rows 0-3 dword j + 4, rows 4-7
    // dword j, rows 4-7 dword j + 4; u[j + 4] the same for rows 8-15.
    const __m512i bias = _mm512_set1_epi8((char)0x80);
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        w[j] = _mm512_xor_si512(_mm512_shuffle_i64x2(u[j], u[j + 4], 0x88), bias);
        w[j + 4] = _mm512_xor_si512(_mm512_shuffle_i64x2(u[j], u[j + 4], 0xdd), bias);
    }
}

// Block b of 16 Q4_0 rows, transposed: w[j] lane i = elements 4j..4j+3 of row
// i as unsigned nibbles (j < 4: low nibbles of qs[4j..], j >= 4: high ones).
static ALWAYS_INLINE void load_q4_0_t(const Rows16* r, int64_t b, __m512i w[8]) {
    const int64_t boff = b * (int64_t)sizeof(block_q4_0);
    __m512i a[4];
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i*)at(r, k, boff + 2)));
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i*)at(r, k + 4, boff + 2)), 1);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i*)at(r, k + 8, boff + 2)), 2);
        a[k] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i*)at(r, k + 12, boff + 2)), 3);
    }
    // a[k] lane q = row k + 4q; a 4 x 4 transpose per lane puts row 4q + p at dword 4q + p.
    __m512i u[4];
    transpose_4x4_lanes<Unpack512>(a, u);
    const __m512i b0 = u[0], b1 = u[1], b2 = u[2], b3 = u[3];
    const __m512i m4 = _mm512_set1_epi8(15);
    w[0] = _mm512_and_si512(b0, m4);
    w[1] = _mm512_and_si512(b1, m4);
    w[2] = _mm512_and_si512(b2, m4);
    w[3] = _mm512_and_si512(b3, m4);
    w[4] = _mm512_and_si512(_mm512_srli_epi16(b0, 4), m4);
    w[5] = _mm512_and_si512(_mm512_srli_epi16(b1, 4), m4);
    w[6] = _mm512_and_si512(_mm512_srli_epi16(b2, 4), m4);
    w[7] = _mm512_and_si512(_mm512_srli_epi16(b3, 4), m4);
}

// acc += (float)(exact block dot) * (dw * dx) for 16 rows and one activation block.
static ALWAYS_INLINE __m512 qblock(const __m512i w[8], __m512 dw, const uint8_t* xq, const XInfo& xi, __m512 acc) {
    // two independent chains of vpdpbusd (exact int32 either way)
    __m512i s0 = _mm512_set1_epi32(xi.negcorr), s1 = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int q = 0; q < 8; q += 2) {
        s0 = _mm512_dpbusd_epi32(s0, w[q], _mm512_set1_epi32((int)load_u32(xq + 4 * q)));
        s1 = _mm512_dpbusd_epi32(s1, w[q + 1], _mm512_set1_epi32((int)load_u32(xq + 4 * q + 4)));
    }
    const __m512i s = _mm512_add_epi32(s0, s1);
    const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(xi.d));
    return _mm512_add_ps(acc, no_fma(_mm512_mul_ps(_mm512_cvtepi32_ps(s), scale)));
}

constexpr int Q_RN = 8;   // GEMM: activation rows per tile

// RN activation rows against a transposed 16-row panel (9 vectors per block).
template <int RN>
static void qtile(const __m512i* panel, int64_t nb, const uint8_t* X, uint64_t xrow, const XInfo* xi, float* Y,
                  int64_t n_out, __mmask16 m) {
    __m512 acc[RN];
#pragma GCC unroll 16
    for (int j = 0; j < RN; j++) acc[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const __m512i* p = panel + b * 9;
        __m512i w[8];
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++) w[q] = _mm512_load_si512(p + q);
        const __m512 dw = _mm512_castsi512_ps(_mm512_load_si512(p + 8));
        const uint8_t* xb = X + b * (int64_t)sizeof(block_q8_0) + 2;
#pragma GCC unroll 16
        for (int j = 0; j < RN; j++) acc[j] = qblock(w, dw, xb + j * xrow, xi[j * nb + b], acc[j]);
    }
#pragma GCC unroll 16
    for (int j = 0; j < RN; j++) _mm512_mask_storeu_ps(Y + j * n_out, m, acc[j]);
}

static void qtile_any(int rn, const __m512i* panel, int64_t nb, const uint8_t* X, uint64_t xrow, const XInfo* xi,
                      float* Y, int64_t n_out, __mmask16 m) {
    switch (rn) {
        case 1: return qtile<1>(panel, nb, X, xrow, xi, Y, n_out, m);
        case 2: return qtile<2>(panel, nb, X, xrow, xi, Y, n_out, m);
        case 3: return qtile<3>(panel, nb, X, xrow, xi, Y, n_out, m);
        case 4: return qtile<4>(panel, nb, X, xrow, xi, Y, n_out, m);
        case 5: return qtile<5>(panel, nb, X, xrow, xi, Y, n_out, m);
        case 6: return qtile<6>(panel, nb, X, xrow, xi, Y, n_out, m);
        case 7: return qtile<7>(panel, nb, X, xrow, xi, Y, n_out, m);
        default: return qtile<8>(panel, nb, X, xrow, xi, Y, n_out, m);
    }
}

// The same for 32 weight rows (two panels): each activation broadcast then
// feeds two vpdpbusd, which halves the loads per multiply-add. Integer sums
// are exact in any order, and the float steps are qblock's, so an output
// gets the same bits from qtile and qtile2.
constexpr int Q_RN2 = 6;  // 12 int32 + 12 float accumulators

template <int RN>
static void qtile2(const __m512i* pa, const __m512i* pb, int64_t nb, const uint8_t* X, uint64_t xrow, const XInfo* xi,
                   float* Y, int64_t n_out, __mmask16 ma, __mmask16 mb) {
    __m512 acca[RN], accb[RN];
#pragma GCC unroll 8
    for (int j = 0; j < RN; j++) acca[j] = accb[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const __m512i* qa = pa + b * 9;
        const __m512i* qb = pb + b * 9;
        const uint8_t* xb = X + b * (int64_t)sizeof(block_q8_0) + 2;
        __m512i sa[RN], sb[RN];
#pragma GCC unroll 8
        for (int j = 0; j < RN; j++) sa[j] = sb[j] = _mm512_set1_epi32(xi[j * nb + b].negcorr);
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++) {
            const __m512i wa = _mm512_load_si512(qa + q), wb = _mm512_load_si512(qb + q);
#pragma GCC unroll 8
            for (int j = 0; j < RN; j++) {
                const __m512i x = _mm512_set1_epi32((int)load_u32(xb + j * xrow + 4 * q));
                sa[j] = _mm512_dpbusd_epi32(sa[j], wa, x);
                sb[j] = _mm512_dpbusd_epi32(sb[j], wb, x);
            }
        }
        const __m512 dwa = _mm512_castsi512_ps(_mm512_load_si512(qa + 8));
        const __m512 dwb = _mm512_castsi512_ps(_mm512_load_si512(qb + 8));
#pragma GCC unroll 8
        for (int j = 0; j < RN; j++) {
            const __m512 dx = _mm512_set1_ps(xi[j * nb + b].d);
            acca[j] = _mm512_add_ps(acca[j], no_fma(_mm512_mul_ps(_mm512_cvtepi32_ps(sa[j]), _mm512_mul_ps(dwa, dx))));
            accb[j] = _mm512_add_ps(accb[j], no_fma(_mm512_mul_ps(_mm512_cvtepi32_ps(sb[j]), _mm512_mul_ps(dwb, dx))));
        }
    }
#pragma GCC unroll 8
    for (int j = 0; j < RN; j++) {
        _mm512_mask_storeu_ps(Y + j * n_out, ma, acca[j]);
        _mm512_mask_storeu_ps(Y + j * n_out + 16, mb, accb[j]);
    }
}

static void qtile2_any(int rn, const __m512i* pa, const __m512i* pb, int64_t nb, const uint8_t* X, uint64_t xrow,
                       const XInfo* xi, float* Y, int64_t n_out, __mmask16 ma, __mmask16 mb) {
    switch (rn) {
        case 1: return qtile2<1>(pa, pb, nb, X, xrow, xi, Y, n_out, ma, mb);
        case 2: return qtile2<2>(pa, pb, nb, X, xrow, xi, Y, n_out, ma, mb);
        case 3: return qtile2<3>(pa, pb, nb, X, xrow, xi, Y, n_out, ma, mb);
        case 4: return qtile2<4>(pa, pb, nb, X, xrow, xi, Y, n_out, ma, mb);
        case 5: return qtile2<5>(pa, pb, nb, X, xrow, xi, Y, n_out, ma, mb);
        default: return qtile2<6>(pa, pb, nb, X, xrow, xi, Y, n_out, ma, mb);
    }
}

// Transpose 16 rows [o, o + nr) into a panel: per block, 8 weight vectors and the scales.
template <void (*LOAD)(const Rows16*, int64_t, __m512i*), int BLOCK_BYTES>
static void pack_panel(const uint8_t* W, int64_t nb, int64_t o, int nr, const DIndex* di, __m512i* panel) {
    const int64_t row_bytes = nb * BLOCK_BYTES;
    Rows16 r;
    rows_from(&r, W, row_bytes, o, nr);
    for (int64_t b = 0; b < nb; b += 2) {
        const __m512i d = load_d_pair(&r, b * BLOCK_BYTES, d_mask(row_bytes, b * BLOCK_BYTES), di);
        LOAD(&r, b, panel + b * 9);
        panel[b * 9 + 8] = _mm512_castps_si512(d_lo(d));
        if (b + 1 < nb) {
            LOAD(&r, b + 1, panel + (b + 1) * 9);
            panel[(b + 1) * 9 + 8] = _mm512_castps_si512(d_hi(d));
        }
    }
}

// T = 1: quant_rows8.h's 8-row GEMV, its dot products as 256-bit vpdpbusd
// (Q8_0 biased to unsigned on the fly; prepare_x subtracts 128 * sum(x)).
struct Dot8Q8 {
    enum { BIAS = 128, BLOCK_BYTES = sizeof(block_q8_0) };
    static constexpr void (*load)(const Rows8*, int64_t, __m256i*, __m256*) = load_q8_0_t;
    static ALWAYS_INLINE __m256i dot(const __m256i w[8], const uint8_t* xq, int32_t negcorr) {
        const __m256i bias = _mm256_set1_epi8((char)0x80);
        __m256i s0 = _mm256_set1_epi32(negcorr), s1 = _mm256_setzero_si256();  // two chains
#pragma GCC unroll 4
        for (int q = 0; q < 8; q += 2) {
            s0 = _mm256_dpbusd_epi32(s0, _mm256_xor_si256(w[q], bias), _mm256_set1_epi32((int)load_u32(xq + 4 * q)));
            s1 = _mm256_dpbusd_epi32(s1, _mm256_xor_si256(w[q + 1], bias),
                                     _mm256_set1_epi32((int)load_u32(xq + 4 * q + 4)));
        }
        return _mm256_add_epi32(s0, s1);
    }
};

struct Dot8Q4 {  // unsigned nibbles: no bias to add, prepare_x subtracts 8 * sum(x)
    enum { BIAS = 8, BLOCK_BYTES = sizeof(block_q4_0) };
    static constexpr void (*load)(const Rows8*, int64_t, __m256i*, __m256*) = load_q4_0_t;
    static ALWAYS_INLINE __m256i dot(const __m256i w[8], const uint8_t* xq, int32_t negcorr) {
        __m256i s0 = _mm256_set1_epi32(negcorr), s1 = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int q = 0; q < 8; q += 2) {
            s0 = _mm256_dpbusd_epi32(s0, w[q], _mm256_set1_epi32((int)load_u32(xq + 4 * q)));
            s1 = _mm256_dpbusd_epi32(s1, w[q + 1], _mm256_set1_epi32((int)load_u32(xq + 4 * q + 4)));
        }
        return _mm256_add_epi32(s0, s1);
    }
};

typedef void (*LoadBlockT)(const Rows16*, int64_t, __m512i*);

// T = 1 for Q4_0: 8 rows x 2 blocks per 512-bit vector (lanes 0-7: block b
// of rows 0-7 of a FAR group, see gemv8; lanes 8-15: block b + 1), so each transpose, nibble split,
// vpdpbusd and scale step does two blocks' work. The GEMV at 256 bits is
// bound by these instructions, not by memory, for Q4_0's 18-byte blocks.
// The activations come pre-broadcast per block pair (XPair, made once per
// call), and the two blocks' products are added to the row sums in block
// order, so the bits are gemv8's (and the scalar kernel's).
struct XPair {
    __m512i x[8];     // x[q] = activation dword q of block b (x8) | of block b + 1 (x8)
    __m512i negcorr;  // the blocks' -bias * sum(x), likewise
    __m512 d;         // the blocks' scales, likewise
};

static const XPair* prepare_x_pairs(const uint8_t* X, const XInfo* xi, int64_t nb) {
    thread_local std::vector<tiles::Slot> buf;
    const size_t need = (size_t)(nb / 2) * (sizeof(XPair) / sizeof(tiles::Slot));
    if (buf.size() < need) buf.resize(need);
    XPair* xp = (XPair*)buf.data();
    for (int64_t p = 0; p < nb / 2; p++) {
        const uint8_t* x0 = X + 2 * p * (int64_t)sizeof(block_q8_0) + 2;
        const uint8_t* x1 = x0 + sizeof(block_q8_0);
        for (int q = 0; q < 8; q++)
            xp[p].x[q] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32((int)load_u32(x0 + 4 * q))),
                                            _mm256_set1_epi32((int)load_u32(x1 + 4 * q)), 1);
        xp[p].negcorr = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(xi[2 * p].negcorr)),
                                           _mm256_set1_epi32(xi[2 * p + 1].negcorr), 1);
        xp[p].d = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(xi[2 * p].d)),
                                     _mm256_set1_ps(xi[2 * p + 1].d), 1);
    }
    return xp;
}

// The 16 scales of blocks b and b + 1 of 8 Q4_0 rows (lane i: row i, block b;
// lane 8 + i: row i, block b + 1): one 32-byte load per row holds both (words
// 0 and 9), and four masked word permutes put two rows each in place.
static ALWAYS_INLINE __m512 load_d_q4_pair(const Rows8* r, int64_t boff) {
    const __m512i idx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  //
                                         25, 9, 25, 9, 25, 9, 25, 9, 16, 0, 16, 0, 16, 0, 16, 0);
    __m512i d = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        const __m512i v = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i*)at(r, 2 * j, boff))),
            _mm256_loadu_si256((const __m256i*)at(r, 2 * j + 1, boff)), 1);
        const __mmask32 m = (__mmask32)((3u << (2 * j)) | (3u << (8 + 2 * j)));
        d = _mm512_mask_permutexvar_epi16(d, m, idx, v);
    }
    return _mm512_cvtph_ps(_mm512_castsi512_si256(d));
}

static void gemv_q4_0_pairs(const uint8_t* W, int64_t nb, int64_t row0, int64_t row1, const uint8_t* X,
                            const XInfo* xi, float* Y) {
    const int64_t row_bytes = nb * (int64_t)sizeof(block_q4_0);
    const XPair* xp = prepare_x_pairs(X, xi, nb);
    const __m512i m4 = _mm512_set1_epi8(15);
    Rows8 r;
    const int64_t q = (row1 - row0 + 7) / 8 * 2;
    for (int64_t o = row0; o < row0 + q; o += 2) {
        const int nr = rows_far(&r, W, row_bytes, o, q, row1);
        __m256 acc = _mm256_setzero_ps();
        int64_t b = 0, last_line = -1;
        for (; b + 2 <= nb; b += 2) {
            const int64_t boff = b * (int64_t)sizeof(block_q4_0);
            // each stream's rows two groups ahead, a line per row whenever the pair reaches a new one
            const int64_t line = (boff + 2 * (int64_t)sizeof(block_q4_0) - 1) >> 6;
            if (line != last_line) {
                last_line = line;
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++)
                    _mm_prefetch((const char*)at(&r, i, (line << 6) + FAR_PF_ROWS * row_bytes), _MM_HINT_T0);
            }
            // a[k] 128-bit lanes: rows k and k + 4 of block b, then of block b + 1
            __m512i a[4];
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i*)at(&r, k, boff + 2)));
                v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i*)at(&r, k + 4, boff + 2)), 1);
                v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i*)at(&r, k, boff + 20)), 2);
                a[k] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i*)at(&r, k + 4, boff + 20)), 3);
            }
            __m512i u[4];
            transpose_4x4_lanes<Unpack512>(a, u);  // u[j] lane i (i < 8: block b, else b + 1) = dword j of row i % 8
            const XPair& x = xp[b / 2];
            __m512i s0 = x.negcorr, s1 = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {  // low nibbles are elements 4j.., high ones 16 + 4j..
                s0 = _mm512_dpbusd_epi32(s0, _mm512_and_si512(u[j], m4), x.x[j]);
                s1 = _mm512_dpbusd_epi32(s1, _mm512_and_si512(_mm512_srli_epi16(u[j], 4), m4), x.x[j + 4]);
            }
            const __m512 scale = _mm512_mul_ps(load_d_q4_pair(&r, boff), x.d);
            const __m512 prod = no_fma(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), scale));
            acc = _mm256_add_ps(acc, _mm512_castps512_ps256(prod));  // block b, then block b + 1
            acc = _mm256_add_ps(acc, _mm512_extractf32x8_ps(prod, 1));
        }
        if (b < nb) {  // an odd last block
            __m256i w[8];
            __m256 dw;
            load_q4_0_t(&r, b, w, &dw);
            acc = finish_block(Dot8Q4::dot(w, X + b * (int64_t)sizeof(block_q8_0) + 2, xi[b].negcorr), dw, xi[b].d,
                               acc);
        }
        store_far(Y + o, q, nr, acc);
    }
}

template <LoadBlockT LOAD, int BLOCK_BYTES, int BIAS, class D8>
static void matmul_quant(const void* Wv, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* Xv,
                         int64_t T, float* Y) {
    const uint8_t* W = (const uint8_t*)Wv;
    const int64_t nb = n_in / 32;
    const uint64_t xrow = (uint64_t)nb * sizeof(block_q8_0);
    const uint8_t* X = (const uint8_t*)Xv;
    const XInfo* xi = prepare_x((const block_q8_0*)Xv, T, nb, BIAS);
    if (T == 1) {
        if (BIAS == 8) return gemv_q4_0_pairs(W, nb, row0, row1, X, xi, Y);  // Q4_0
        return gemv8<D8, true>(W, nb, row0, row1, X, xi, Y);
    }
    DIndex di;
    d_index(&di, BLOCK_BYTES);
    thread_local std::vector<tiles::Slot> panel_buf;  // 64-byte slots: one __m512i each
    if (panel_buf.size() < (size_t)(2 * nb * 9)) panel_buf.resize((size_t)(2 * nb * 9));
    __m512i* pa = (__m512i*)panel_buf.data();
    __m512i* pb = pa + nb * 9;
    for (int64_t o = row0; o < row1; o += 32) {
        const int nr = (int)(row1 - o < 32 ? row1 - o : 32);
        pack_panel<LOAD, BLOCK_BYTES>(W, nb, o, nr < 16 ? nr : 16, &di, pa);
        if (nr > 16) {
            pack_panel<LOAD, BLOCK_BYTES>(W, nb, o + 16, nr - 16, &di, pb);
            const __mmask16 mb = (__mmask16)((1u << (nr - 16)) - 1u);
            for (int64_t t = 0; t < T; t += Q_RN2) {
                const int rn = (int)(T - t < Q_RN2 ? T - t : Q_RN2);
                qtile2_any(rn, pa, pb, nb, X + (uint64_t)t * xrow, xrow, xi + t * nb, Y + t * n_out + o, n_out, 0xffff, mb);
            }
        } else {
            const __mmask16 m = (__mmask16)((1u << nr) - 1u);
            for (int64_t t = 0; t < T; t += Q_RN) {
                const int rn = (int)(T - t < Q_RN ? T - t : Q_RN);
                qtile_any(rn, pa, nb, X + (uint64_t)t * xrow, xrow, xi + t * nb, Y + t * n_out + o, n_out, m);
            }
        }
    }
}

void matmul_q8_0_avx512(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                        int64_t T, float* Y) {
    matmul_quant<load_q8_0_t, sizeof(block_q8_0), 128, Dot8Q8>(W, n_in, n_out, row0, row1, X, T, Y);
}
void matmul_q4_0_avx512(const void* W, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* X,
                        int64_t T, float* Y) {
    matmul_quant<load_q4_0_t, sizeof(block_q4_0), 8, Dot8Q4>(W, n_in, n_out, row0, row1, X, T, Y);
}

// ---------------------------------------------------------------- 16-row interleaved weights

// --no-mmap: the model's private copy of a Q8_0 / Q4_0 matrix is rearranged
// once at load time (repack_r16) into quant.h's row-interleaved layout, G = 16, in which a block
// of 16 rows is already the transposed operand that the loaders above build
// per block: 8 (Q8_0) or 4 (Q4_0) plain 64-byte loads where the file's layout
// takes 16 row loads, a transpose and a tree of scale permutes. Rows past the
// last full group of 16 keep the file's layout and its kernels. The integer
// dots and the float steps are qblock's, so every output has the scalar
// kernel's bits.
constexpr int R16_Q8_0_QBYTES = 16 * 32, R16_Q4_0_QBYTES = 16 * 16;  // a block of a group's quants

template <int QB>
static uint32_t repack_r16(void* W, int64_t n_in, int64_t n_out) {
    if (QB == R16_Q8_0_QBYTES) {
        repack_groups<16, sizeof(block_q8_0), 0x80808080u>(W, n_in, n_out);
        return KTYPE_Q8_0_R16;
    }
    repack_groups<16, sizeof(block_q4_0), 0>(W, n_in, n_out);
    return KTYPE_Q4_0_R16;
}

static ALWAYS_INLINE __mmask16 rows_in(int64_t o, int64_t row0, int64_t row1) {  // rows [o, o + 16) within [row0, row1)
    const int64_t lo = row0 > o ? row0 - o : 0, hi = row1 < o + 16 ? row1 - o : 16;
    return hi <= lo ? 0 : (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

// Block b of a group: the exact int32 dots of its 16 rows with activation
// block xb (its 8 dwords broadcast), negcorr added.
template <int QB>
static ALWAYS_INLINE __m512i r16_dot(const uint8_t* q, const __m512i xb[8], __m512i negcorr) {
    __m512i s0 = negcorr, s1 = _mm512_setzero_si512();  // two chains
    if (QB == R16_Q8_0_QBYTES) {
#pragma GCC unroll 4
        for (int j = 0; j < 8; j += 2) {
            s0 = _mm512_dpbusd_epi32(s0, _mm512_loadu_si512(q + 64 * j), xb[j]);
            s1 = _mm512_dpbusd_epi32(s1, _mm512_loadu_si512(q + 64 * j + 64), xb[j + 1]);
        }
    } else {
        const __m512i m4 = _mm512_set1_epi8(15);
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {  // low nibbles are elements 4j.., high ones 16 + 4j..
            const __m512i v = _mm512_loadu_si512(q + 64 * j);
            s0 = _mm512_dpbusd_epi32(s0, _mm512_and_si512(v, m4), xb[j]);
            s1 = _mm512_dpbusd_epi32(s1, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4), xb[j + 4]);
        }
    }
    return _mm512_add_epi32(s0, s1);
}

// Software prefetch distance of the 16-row GEMV, in blocks: 4 and 8 were
// equally fast for Q4_0 and well ahead of none, 16 slower; Q8_0 barely cares
// (`rwkv-cli bench -p 0 -n 128 -t 2`, alternating builds with other distances).
constexpr int R16_PF_BLOCKS = 4;

// T = 1: S groups, `stride` groups apart, times one activation row; each
// group's 16 outputs stored where they fall in [row0, row1).
template <int QB, int S>
static ALWAYS_INLINE void gemv_r16_groups(const uint8_t* W, int64_t nb, int64_t g, int64_t stride, int64_t row0,
                                          int64_t row1, const uint8_t* X, const XInfo* xi, float* Y) {
    const int64_t group_bytes = nb * (32 + QB);
    const uint8_t* grp[S];
    __m512 acc[S];
#pragma GCC unroll 4
    for (int s = 0; s < S; s++) {
        grp[s] = W + (g + s * stride) * group_bytes;
        acc[s] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t* xq = X + b * (int64_t)sizeof(block_q8_0) + 2;
        __m512i xb[8];
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) xb[j] = _mm512_set1_epi32((int)load_u32(xq + 4 * j));
        const __m512i negcorr = _mm512_set1_epi32(xi[b].negcorr);
        const __m512 dx = _mm512_set1_ps(xi[b].d);
        // Each stream's block R16_PF_BLOCKS ahead (and its scales' line).
        prefetch_group_blocks<S, 16, QB>(grp, nb, b + R16_PF_BLOCKS);
        const int64_t at_q = GroupLayout<16, QB>::quants(nb, b), at_d = GroupLayout<16, QB>::scales(b);
#pragma GCC unroll 4
        for (int s = 0; s < S; s++) {
            const __m512i dot = r16_dot<QB>(grp[s] + at_q, xb, negcorr);
            const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(grp[s] + at_d)));
            acc[s] = _mm512_add_ps(acc[s], no_fma(_mm512_mul_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw, dx))));
        }
    }
#pragma GCC unroll 4
    for (int s = 0; s < S; s++) {
        const int64_t o = 16 * (g + s * stride);
        _mm512_mask_storeu_ps(Y + o, rows_in(o, row0, row1), acc[s]);
    }
}

// T > 1: a group into the GEMM's panel (pack_panel's format): copies, the
// nibbles split, the scales widened - no transposes.
template <int QB>
static void pack_panel_r16(const uint8_t* group, int64_t nb, __m512i* panel) {
    const __m512i m4 = _mm512_set1_epi8(15);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t* q = group + GroupLayout<16, QB>::quants(nb, b);
        __m512i* p = panel + b * 9;
        if (QB == R16_Q8_0_QBYTES) {
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) p[j] = _mm512_loadu_si512(q + 64 * j);
        } else {
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                const __m512i v = _mm512_loadu_si512(q + 64 * j);
                p[j] = _mm512_and_si512(v, m4);
                p[j + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            }
        }
        p[8] = _mm512_castps_si512(
            _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)(group + GroupLayout<16, QB>::scales(b)))));
    }
}

template <int QB>
static void gemm_r16(const uint8_t* W, int64_t nb, int64_t n_out, int64_t row0, int64_t row1, const uint8_t* X,
                     const XInfo* xi, int64_t T, float* Y) {
    const int64_t group_bytes = nb * (32 + QB);
    const uint64_t xrow = (uint64_t)nb * sizeof(block_q8_0);
    thread_local std::vector<tiles::Slot> panel_buf;
    if (panel_buf.size() < (size_t)(2 * nb * 9)) panel_buf.resize((size_t)(2 * nb * 9));
    __m512i* pa = (__m512i*)panel_buf.data();
    __m512i* pb = pa + nb * 9;
    for (int64_t g = row0 / 16; 16 * g < row1; g += 2) {
        const int64_t o = 16 * g;
        const __mmask16 ma = rows_in(o, row0, row1), mb = rows_in(o + 16, row0, row1);
        pack_panel_r16<QB>(W + g * group_bytes, nb, pa);
        if (mb) {
            pack_panel_r16<QB>(W + (g + 1) * group_bytes, nb, pb);
            for (int64_t t = 0; t < T; t += Q_RN2) {
                const int rn = (int)(T - t < Q_RN2 ? T - t : Q_RN2);
                qtile2_any(rn, pa, pb, nb, X + (uint64_t)t * xrow, xrow, xi + t * nb, Y + t * n_out + o, n_out, ma, mb);
            }
        } else {
            for (int64_t t = 0; t < T; t += Q_RN) {
                const int rn = (int)(T - t < Q_RN ? T - t : Q_RN);
                qtile_any(rn, pa, nb, X + (uint64_t)t * xrow, xrow, xi + t * nb, Y + t * n_out + o, n_out, ma);
            }
        }
    }
}

template <int QB, MatmulFn FILE_LAYOUT>
static void matmul_r16(const void* Wv, int64_t n_in, int64_t n_out, int64_t row0, int64_t row1, const void* Xv,
                       int64_t T, float* Y) {
    const int64_t full = n_out / 16 * 16;  // rows from here on are in the file's layout
    if (row1 > full) FILE_LAYOUT(Wv, n_in, n_out, row0 > full ? row0 : full, row1, Xv, T, Y);
    if (row1 > full) row1 = full;
    if (row0 >= row1) return;
    const int64_t nb = n_in / 32;
    // what prepare_x subtracts: Q8_0 is stored biased by 128, Q4_0's nibbles by 8
    const XInfo* xi = prepare_x((const block_q8_0*)Xv, T, nb, QB == R16_Q8_0_QBYTES ? 128 : 8);
    const uint8_t* W = (const uint8_t*)Wv;
    const uint8_t* X = (const uint8_t*)Xv;
    if (T == 1)
        return for_group_quads(
            row0 / 16, (row1 + 15) / 16,
            [&](int64_t g, int64_t stride) { gemv_r16_groups<QB, 4>(W, nb, g, stride, row0, row1, X, xi, Y); },
            [&](int64_t g) { gemv_r16_groups<QB, 1>(W, nb, g, 0, row0, row1, X, xi, Y); });
    gemm_r16<QB>(W, nb, n_out, row0, row1, X, xi, T, Y);
}

// ---------------------------------------------------------------- Q8_0 activations

// roundf: to nearest, ties away from zero (exact: v - trunc(v) is exact).
static inline __m512 round_away(__m512 v) {
    const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __mmask16 m = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v, t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    const __m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(v, _mm512_set1_ps(-0.0f)));
    return _mm512_mask_add_ps(t, m, t, one);
}

// Bit-identical to quantize_row_q8_0_scalar (ggml's reference rounding).
void quantize_row_q8_0_avx512(const float* src, void* dst, int64_t n) {
    block_q8_0* y = (block_q8_0*)dst;
    const __m512 inf = _mm512_set1_ps(INFINITY), lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    // x * id: NaN -> 0, clamped to [-127, 127], rounded, kept as int8_t
    auto to_int8 = [&](__m512 x, __m512 vid) {
        const __m512 s = _mm512_mul_ps(x, vid);
        const __m512 c = _mm512_min_ps(_mm512_max_ps(_mm512_maskz_mov_ps(_mm512_cmp_ps_mask(s, s, _CMP_ORD_Q), s), lo), hi);
        return _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(round_away(c)));
    };
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const __m512 v0 = _mm512_loadu_ps(src + b * QK8_0), v1 = _mm512_loadu_ps(src + b * QK8_0 + 16);
        // |x|, NaN counted as +inf (see quantize_row_q8_0_scalar)
        const __m512 a0 = _mm512_mask_mov_ps(inf, _mm512_cmp_ps_mask(v0, v0, _CMP_ORD_Q), _mm512_abs_ps(v0));
        const __m512 a1 = _mm512_mask_mov_ps(inf, _mm512_cmp_ps_mask(v1, v1, _CMP_ORD_Q), _mm512_abs_ps(v1));
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);  // as f32_to_f16 (nearest even)
        const __m512 vid = _mm512_set1_ps(id);
        _mm_storeu_si128((__m128i*)y[b].qs, to_int8(v0, vid));
        _mm_storeu_si128((__m128i*)(y[b].qs + 16), to_int8(v1, vid));
    }
}

}  // namespace

void matmul_fill_avx512(Kernels* k) {
    dequant::fill<V512, LoadF32, Lut512>(k);  // Q4_1 ... IQ4_XS (matmul_dequant.h)
    k->matmul_int16_act[GGML_TYPE_Q4_K] = kq16::matmul512<block_q4_K>;  // with Q16_K activations (kquant_x86.h)
    k->matmul_int16_act[GGML_TYPE_Q5_K] = kq16::matmul512<block_q5_K>;
    k->matmul_int16_act[GGML_TYPE_Q6_K] = kq16::matmul512<block_q6_K>;
    k->matmul_int16_act[GGML_TYPE_IQ4_XS] = kq16::matmul512<block_iq4_xs>;
    k->matmul[GGML_TYPE_F32] = matmul_f32_avx512;
    k->matmul[GGML_TYPE_F16] = matmul_f16_avx512;
    k->matmul[GGML_TYPE_BF16] = matmul_bf16_avx512;
    k->matmul[GGML_TYPE_Q8_0] = matmul_q8_0_avx512;
    k->matmul[GGML_TYPE_Q4_0] = matmul_q4_0_avx512;
    k->matmul[KTYPE_Q8_0_R16] = matmul_r16<R16_Q8_0_QBYTES, matmul_q8_0_avx512>;
    k->matmul[KTYPE_Q4_0_R16] = matmul_r16<R16_Q4_0_QBYTES, matmul_q4_0_avx512>;
    k->act_type[KTYPE_Q8_0_R16] = GGML_TYPE_Q8_0;
    k->act_type[KTYPE_Q4_0_R16] = GGML_TYPE_Q8_0;
    k->repack[GGML_TYPE_Q8_0] = repack_r16<R16_Q8_0_QBYTES>;
    k->repack[GGML_TYPE_Q4_0] = repack_r16<R16_Q4_0_QBYTES>;
    k->act_type[GGML_TYPE_Q8_0] = GGML_TYPE_Q8_0;
    k->act_type[GGML_TYPE_Q4_0] = GGML_TYPE_Q8_0;
    k->quantize_row[GGML_TYPE_Q8_0] = quantize_row_q8_0_avx512;
}
