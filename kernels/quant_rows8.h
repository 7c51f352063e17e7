// quant_rows8.h - Q8_0 / Q4_0 weights 8 rows at a time, in 256-bit vectors:
// the loaders and the GEMV (T = 1) loop shared by matmul_avx2.cpp and
// matmul_avx512.cpp. Everything here is in an anonymous namespace, so each
// file gets its own copy, compiled with its own flags; each supplies the dot
// product D:
//   D::BLOCK_BYTES, D::BIAS (what prepare_x subtracts), D::load (a loader
//   below), D::dot(w, xq, negcorr) -> the 8 rows' exact int32 block dots.
// AVX2 forms them with vpmaddubsw/vpmaddwd, AVX-512 with 256-bit vpdpbusd.
//
// Why 8 rows for the GEMV of the file's layout, even on AVX-512: there a
// 16-row group is 16 separate row streams, two blocks per step, which reads
// slower than 8 (`rwkv-cli bench -p 0 -t 2`, 0.1B Q8_0). (A --no-mmap copy's
// 16-row groups, quant.h's GroupLayout, are one stream each: the AVX-512
// kernel runs those 16 rows at a time.) Which 8 rows: see gemv8.
#pragma once

#include <immintrin.h>

#include <cstring>
#include <vector>

#include "quant.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

namespace {

static ALWAYS_INLINE __m256i tail_mask8(int64_t r) {  // lanes < r all ones
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint16_t load_u16(const uint8_t* p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

// An opaque copy: GCC contracts a multiply and an add into an FMA in C++
// (-ffp-contract=fast is its default there), which would round once where
// the scalar reference rounds twice.
static inline __m256 no_fma(__m256 v) {
    __asm__("" : "+v"(v));
    return v;
}

// Per activation block: -bias * sum(qs), which turns the dot with weights
// stored biased (unsigned) into the exact signed dot - bias 8 for Q4_0's
// nibbles, 128 for the AVX-512 Q8_0 dots, 0 for AVX2's sign trick on Q8_0 -
// and the scale as float.
struct XInfo {
    int32_t negcorr;
    float d;
};

static const XInfo* prepare_x(const block_q8_0* X, int64_t T, int64_t nb, int32_t bias) {
    thread_local std::vector<XInfo> buf;
    if (buf.size() < (size_t)(T * nb)) buf.resize((size_t)(T * nb));
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < T * nb; i++) {
        int32_t sum = 0;
        if (bias) {
            const __m256i q = _mm256_loadu_si256((const __m256i*)X[i].qs);
            const __m256i s8 = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q), ones16);
            __m128i s = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
            s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
            s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
            sum = _mm_cvtsi128_si32(s);
        }
        buf[(size_t)i].negcorr = -bias * sum;
        buf[(size_t)i].d = _cvtsh_ss(X[i].d);
    }
    return buf.data();
}

// The GEMVs on row-interleaved weights (quant.h; matmul_r8, matmul_r16) walk
// their groups [g0, g1) four at a time, one from each quarter of the range -
// four sequential streams for the hardware prefetcher, as the float GEMV
// reads its rows (matmul_tiles.h), and four independent accumulator chains -
// then the groups left over one by one: quad(g, stride) takes groups g,
// g + stride, g + 2 stride, g + 3 stride; one(g) takes group g.
template <class Quad, class One>
static ALWAYS_INLINE void for_group_quads(int64_t g0, int64_t g1, Quad quad, One one) {
    const int64_t q = (g1 - g0) / 4;
    for (int64_t i = 0; i < q; i++) quad(g0 + i, q);
    for (int64_t g = g0 + 4 * q; g < g1; g++) one(g);
}

// Their software prefetch: block b of each of S groups (quant.h's
// GroupLayout<G, QB>) - its quants and, at the start of a span, the span's
// line of scales. Past a group's last block it reads into the next group,
// which is where the stream goes next.
template <int S, int G, int QB>
static ALWAYS_INLINE void prefetch_group_blocks(const uint8_t* const grp[S], int64_t nb, int64_t b) {
    typedef GroupLayout<G, QB> L;
#pragma GCC unroll 4
    for (int s = 0; s < S; s++) {
        const uint8_t* q = grp[s] + L::quants(nb, b);
#pragma GCC unroll 8
        for (int l = 0; l < QB; l += 64) _mm_prefetch((const char*)(q + l), _MM_HINT_T0);
        if (b % L::P == 0) _mm_prefetch((const char*)(grp[s] + L::span(b)), _MM_HINT_T0);
    }
}

// N weight rows in pairs: row 2j + k starts at p + j * rb + k * rb1 (rows_from:
// N adjacent rows, rb = 2 * rb1; rows_far, the GEMV's: pairs from far-apart
// parts of the matrix). A last, partial group is copied to a buffer first,
// its last row repeated; the repeated lanes are computed and never stored.
// N = 8 here, 16 for the AVX-512 GEMM panels.
template <int N>
struct Rows {
    const uint8_t* p;
    int64_t rb;   // from row 2j to row 2j + 2
    int64_t rb1;  // from row 2j to row 2j + 1
};
typedef Rows<8> Rows8;

template <int N>
static ALWAYS_INLINE void rows_from(Rows<N>* r, const uint8_t* W, int64_t row_bytes, int64_t o, int nr) {
    r->rb = 2 * row_bytes;
    r->rb1 = row_bytes;
    if (nr == N) {
        r->p = W + o * row_bytes;
        return;
    }
    thread_local std::vector<uint8_t> pad;
    pad.resize((size_t)(N * row_bytes));
    for (int i = 0; i < N; i++)
        memcpy(pad.data() + i * row_bytes, W + (o + (i < nr ? i : nr - 1)) * row_bytes, (size_t)row_bytes);
    r->p = pad.data();
}

// Row i of the group, at byte offset off.
template <int N>
static ALWAYS_INLINE const uint8_t* at(const Rows<N>* r, int i, int64_t off) {
    return r->p + off + (i & 1) * r->rb1 + (i >> 1) * r->rb;
}

// The GEMV's group: rows o, o + 1, o + q, o + q + 1, o + 2q, ... (lane i:
// row o + (i & 1) + (i >> 1) * q); returns how many are valid (below row1:
// the first nr lanes). store_far puts the lanes back in those rows. Each of
// the four streams moves on by 2 rows per group, so two groups ahead is 4
// rows.
constexpr int FAR_PF_ROWS = 4;

static ALWAYS_INLINE int rows_far(Rows8* r, const uint8_t* W, int64_t row_bytes, int64_t o, int64_t q, int64_t row1) {
    int nr = 0;
    while (nr < 8 && o + (nr & 1) + (nr >> 1) * q < row1) nr++;
    if (nr == 8) {
        r->p = W + o * row_bytes;
        r->rb = q * row_bytes;
        r->rb1 = row_bytes;
        return nr;
    }
    thread_local std::vector<uint8_t> pad;
    pad.resize((size_t)(8 * row_bytes));
    for (int i = 0; i < 8; i++) {
        const int j = i < nr ? i : nr - 1;
        memcpy(pad.data() + i * row_bytes, W + (o + (j & 1) + (j >> 1) * q) * row_bytes, (size_t)row_bytes);
    }
    r->p = pad.data();
    r->rb = 2 * row_bytes;
    r->rb1 = row_bytes;
    return nr;
}

static ALWAYS_INLINE void store_far(float* y, int64_t q, int nr, __m256 acc) {
    float v[8];
    _mm256_storeu_ps(v, acc);
    for (int i = 0; i < nr; i++) y[(i & 1) + (i >> 1) * q] = v[i];
}

static ALWAYS_INLINE __m256 load_d8(const Rows8* r, int64_t boff) {
    const __m128i h = _mm_setr_epi16((short)load_u16(at(r, 0, boff)), (short)load_u16(at(r, 1, boff)),
                                     (short)load_u16(at(r, 2, boff)), (short)load_u16(at(r, 3, boff)),
                                     (short)load_u16(at(r, 4, boff)), (short)load_u16(at(r, 5, boff)),
                                     (short)load_u16(at(r, 6, boff)), (short)load_u16(at(r, 7, boff)));
    return _mm256_cvtph_ps(h);
}

// The first step of every transposing loader here and in matmul_avx512.cpp,
// at any vector width: a 4 x 4 dword transpose within each 128-bit lane
// (u[j] lane q = dword j of z[0], z[1], z[2], z[3] in that lane). U supplies
// the unpacks of its width.
template <class U>
static ALWAYS_INLINE void transpose_4x4_lanes(const typename U::V z[4], typename U::V u[4]) {
    const typename U::V t0 = U::lo32(z[0], z[1]), t1 = U::hi32(z[0], z[1]);
    const typename U::V t2 = U::lo32(z[2], z[3]), t3 = U::hi32(z[2], z[3]);
    u[0] = U::lo64(t0, t2);
    u[1] = U::hi64(t0, t2);
    u[2] = U::lo64(t1, t3);
    u[3] = U::hi64(t1, t3);
}

struct Unpack256 {
    typedef __m256i V;
    static ALWAYS_INLINE V lo32(V a, V b) { return _mm256_unpacklo_epi32(a, b); }
    static ALWAYS_INLINE V hi32(V a, V b) { return _mm256_unpackhi_epi32(a, b); }
    static ALWAYS_INLINE V lo64(V a, V b) { return _mm256_unpacklo_epi64(a, b); }
    static ALWAYS_INLINE V hi64(V a, V b) { return _mm256_unpackhi_epi64(a, b); }
};

// Block b of 8 Q8_0 rows, transposed: w[j] lane i = bytes 4j..4j+3 of row i (signed).
static ALWAYS_INLINE void load_q8_0_t(const Rows8* r, int64_t b, __m256i w[8], __m256* dw) {
    const int64_t boff = b * (int64_t)sizeof(block_q8_0);
    __m256i z[8], u[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) z[i] = _mm256_loadu_si256((const __m256i*)at(r, i, boff + 2));
    transpose_4x4_lanes<Unpack256>(z, u);
    transpose_4x4_lanes<Unpack256>(z + 4, u + 4);
    // u[j] (rows 0-3), u[j + 4] (rows 4-7): lane 0 holds dword j, lane 1 dword j + 4
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        w[j] = _mm256_permute2x128_si256(u[j], u[j + 4], 0x20);
        w[j + 4] = _mm256_permute2x128_si256(u[j], u[j + 4], 0x31);
    }
    *dw = load_d8(r, boff);
}

// Block b of 8 Q4_0 rows, transposed: w[j] lane i = elements 4j..4j+3 of row i
// as unsigned nibbles.
static ALWAYS_INLINE void load_q4_0_t(const Rows8* r, int64_t b, __m256i w[8], __m256* dw) {
    const int64_t boff = b * (int64_t)sizeof(block_q4_0);
    __m256i a[4];
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++)
        a[k] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i*)at(r, k, boff + 2))),
                                       _mm_loadu_si128((const __m128i*)at(r, k + 4, boff + 2)), 1);
    // a[k] lane q = row k + 4q; a 4 x 4 transpose per lane puts row 4q + p at dword 4q + p.
    __m256i u[4];
    transpose_4x4_lanes<Unpack256>(a, u);
    const __m256i b0 = u[0], b1 = u[1], b2 = u[2], b3 = u[3];
    const __m256i m4 = _mm256_set1_epi8(15);
    w[0] = _mm256_and_si256(b0, m4);
    w[1] = _mm256_and_si256(b1, m4);
    w[2] = _mm256_and_si256(b2, m4);
    w[3] = _mm256_and_si256(b3, m4);
    w[4] = _mm256_and_si256(_mm256_srli_epi16(b0, 4), m4);
    w[5] = _mm256_and_si256(_mm256_srli_epi16(b1, 4), m4);
    w[6] = _mm256_and_si256(_mm256_srli_epi16(b2, 4), m4);
    w[7] = _mm256_and_si256(_mm256_srli_epi16(b3, 4), m4);
    *dw = load_d8(r, boff);
}

static ALWAYS_INLINE __m256 finish_block(__m256i isum, __m256 dw, float dx, __m256 acc) {
    const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(dx));
    return _mm256_add_ps(acc, no_fma(_mm256_mul_ps(_mm256_cvtepi32_ps(isum), scale)));
}

// Y[o] for o in [row0, row1), one activation row (T = 1): 8 rows at a time,
// block by block, the rows two groups ahead prefetched at the same pace (a
// line per row per block). FAR: the 8 rows are two adjacent rows from each
// quarter of the range (four streams, as the float GEMV reads), else 8
// adjacent rows. AVX-512 reads FAR and AVX2 adjacent rows: each the faster
// on its path, and neither without the software prefetch (`rwkv-cli bench
// -p 0 -t 2 --no-mmap`, with --isa avx2 for the other).
template <class D, bool FAR>
static void gemv8(const uint8_t* W, int64_t nb, int64_t row0, int64_t row1, const uint8_t* X, const XInfo* xi,
                  float* Y) {
    const int64_t row_bytes = nb * D::BLOCK_BYTES;
    constexpr int PF_EVERY = 64 / D::BLOCK_BYTES;  // blocks per prefetch: Q8_0 1, Q4_0 3
    constexpr int PF_ROWS = FAR ? FAR_PF_ROWS : 16;  // two groups ahead
    const int64_t q = FAR ? (row1 - row0 + 7) / 8 * 2 : 0;
    Rows8 r;
    for (int64_t o = row0; FAR ? o < row0 + q : o < row1; o += FAR ? 2 : 8) {
        int nr;
        if (FAR) {
            nr = rows_far(&r, W, row_bytes, o, q, row1);
        } else {
            nr = (int)(row1 - o < 8 ? row1 - o : 8);
            rows_from(&r, W, row_bytes, o, nr);
        }
        __m256 acc = _mm256_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            // consecutive prefetches less than a line apart touch every line
            if (b % PF_EVERY == 0) {
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++)
                    _mm_prefetch((const char*)at(&r, i, b * D::BLOCK_BYTES + PF_ROWS * row_bytes), _MM_HINT_T0);
            }
            __m256i w[8];
            __m256 dw;
            D::load(&r, b, w, &dw);
            acc = finish_block(D::dot(w, X + b * (int64_t)sizeof(block_q8_0) + 2, xi[b].negcorr), dw, xi[b].d, acc);
        }
        if (FAR)
            store_far(Y + o, q, nr, acc);
        else
            _mm256_maskstore_ps(Y + o, tail_mask8(nr), acc);
    }
}

}  // namespace
