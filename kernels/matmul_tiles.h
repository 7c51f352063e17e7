// matmul_tiles.h - the float-weight matrix product, written once for every
// SIMD path (tinyBLAS style): included by matmul_avx2.cpp, matmul_avx512.cpp
// and matmul_neon.cpp, each compiled with its own flags, each supplying
//
//   V, the vector traits of its ISA:
//     typedef vec;  lanes;           one float register and its width
//     zero(), fmadd(a, b, c) = a * b + c, hsum(v) (one fixed tree),
//     hsum4(a, b, c, d, y)           four hsums at once, the same tree, stored to y[0..3]
//     loadx(p), loadx_part(p, r)     activations; the part load reads r <
//                                    lanes floats and zero-fills the rest
//     prefetch(p)
//     RM, RN    GEMM register tile: RM weight rows x RN activation rows
//     TB, OB    GEMM: activation rows per chunk, weight rows per block
//     KB        GEMM: K per pass when K is long (a multiple of lanes)
//   L, a weight loader per type (F32, F16, BF16): T, load(p), load_part(p, r),
//     16-bit weights widened to float32 in registers, and how the GEMV
//     streams that type:
//     RM1       weight rows streamed together, side by side; 1: four rows
//               far apart (one from each quarter of the row range)
//     PF        prefetch distance in rows (0: none, the hardware's prefetch)
//
// Each output (o, t) owns one accumulator vector; lane l sums W[o][k] * X[t][k]
// for k = l mod lanes in increasing k with FMAs, the tail of K comes in
// zero-filled, and V::hsum folds the lanes in one fixed tree. That sequence
// depends on neither the tile shape, nor the row range, nor T, nor the
// passes over K, so an output gets the same bits however the work is cut
// (by tiles here, by threads in parallel.cpp).
//   T = 1 (GEMV, memory bound): RM1 adjacent rows at a time, each row
//         streamed once, the rows PF ahead prefetched; or (RM1 = 1) the row
//         range read as four long streams, a row from each quarter at a time,
//         with the hardware's prefetch;
//   T > 1 (GEMM): RM x RN tiles (smaller at the edges), in chunks of TB
//         activation rows x blocks of OB weight rows, K cut into passes of
//         KB when long (the partial sums wait in a buffer between passes,
//         exactly: a store and a load do not round), so tiles read L1 and
//         L2, not L3.
#pragma once

#include <cstdint>
#include <vector>

namespace tiles {

template <class V>
struct TileArgs {
    int64_t n, n_out;
    int64_t k0, k1;             // this pass: k in [k0, k1), k0 a multiple of lanes
    bool first, last;           // start from zero / finish with hsum into Y
    typename V::vec* acc;       // else: accumulator (i, j) at acc[i * acc_stride + j]
    int64_t acc_stride;
};

// Y[j * n_out + i] = W[i] . X[j] for an RM x RN tile; W, X, Y point at the
// tile's first weight row / first activation row / first output.
template <class V, class L, int RM, int RN>
static void tile(const typename L::T* W, const float* X, const TileArgs<V>& a, float* Y) {
    typedef typename V::vec vec;
    const int64_t n = a.n;
    vec acc[RM][RN];
#pragma GCC unroll 8
    for (int i = 0; i < RM; i++)
#pragma GCC unroll 8
        for (int j = 0; j < RN; j++) acc[i][j] = a.first ? V::zero() : a.acc[i * a.acc_stride + j];
    int64_t k = a.k0;
    for (; k + V::lanes <= a.k1; k += V::lanes) {
        if (RN == 1 && L::PF > 0 && (k & 15) == 0) {  // GEMV: the rows PF ahead, a line (16 floats) per row at a time
#pragma GCC unroll 8
            for (int i = 0; i < RM; i++) V::prefetch(W + (i + L::PF) * n + k);
        }
        vec w[RM];
#pragma GCC unroll 8
        for (int i = 0; i < RM; i++) w[i] = L::load(W + i * n + k);
#pragma GCC unroll 8
        for (int j = 0; j < RN; j++) {
            const vec x = V::loadx(X + j * n + k);
#pragma GCC unroll 8
            for (int i = 0; i < RM; i++) acc[i][j] = V::fmadd(w[i], x, acc[i][j]);
        }
    }
    if (k < a.k1) {  // the end of K: zeros past it on both sides
        const int64_t r = a.k1 - k;
        vec w[RM];
#pragma GCC unroll 8
        for (int i = 0; i < RM; i++) w[i] = L::load_part(W + i * n + k, r);
#pragma GCC unroll 8
        for (int j = 0; j < RN; j++) {
            const vec x = V::loadx_part(X + j * n + k, r);
#pragma GCC unroll 8
            for (int i = 0; i < RM; i++) acc[i][j] = V::fmadd(w[i], x, acc[i][j]);
        }
    }
    if (a.last) {
#pragma GCC unroll 8
        for (int j = 0; j < RN; j++) {
            float* y = Y + j * a.n_out;
            int i = 0;
#pragma GCC unroll 8
            for (; i + 4 <= RM; i += 4) V::hsum4(acc[i][j], acc[i + 1][j], acc[i + 2][j], acc[i + 3][j], y + i);
#pragma GCC unroll 8
            for (; i < RM; i++) y[i] = V::hsum(acc[i][j]);
        }
    } else {
#pragma GCC unroll 8
        for (int i = 0; i < RM; i++)
#pragma GCC unroll 8
            for (int j = 0; j < RN; j++) a.acc[i * a.acc_stride + j] = acc[i][j];
    }
}

// The tile for a run-time shape rm x rn (edges), rm <= RM, rn <= RN.
template <class V, class L, int RM, int RN>
static void tile_n(int rn, const typename L::T* W, const float* X, const TileArgs<V>& a, float* Y) {
    if constexpr (RN > 1) {
        if (rn < RN) return tile_n<V, L, RM, RN - 1>(rn, W, X, a, Y);
    }
    tile<V, L, RM, RN>(W, X, a, Y);
}

template <class V, class L, int RM, int RN>
static void tile_mn(int rm, int rn, const typename L::T* W, const float* X, const TileArgs<V>& a, float* Y) {
    if constexpr (RM > 1) {
        if (rm < RM) return tile_mn<V, L, RM - 1, RN>(rm, rn, W, X, a, Y);
    }
    tile_n<V, L, RM, RN>(rn, W, X, a, Y);
}

// S weight rows, stride apart, times one activation row: y[s * ys] = row s . X,
// each in the sequence tile<V, L, 1, 1> uses (the same bits).
template <class V, class L, int S>
static void gemv_streams(const typename L::T* W, int64_t n, int64_t stride, const float* X, float* y, int64_t ys) {
    typedef typename V::vec vec;
    vec acc[S];
#pragma GCC unroll 8
    for (int s = 0; s < S; s++) acc[s] = V::zero();
    int64_t k = 0;
    for (; k + V::lanes <= n; k += V::lanes) {
        const vec x = V::loadx(X + k);
#pragma GCC unroll 8
        for (int s = 0; s < S; s++) acc[s] = V::fmadd(L::load(W + s * stride + k), x, acc[s]);
    }
    if (k < n) {
        const vec x = V::loadx_part(X + k, n - k);
#pragma GCC unroll 8
        for (int s = 0; s < S; s++) acc[s] = V::fmadd(L::load_part(W + s * stride + k, n - k), x, acc[s]);
    }
#pragma GCC unroll 8
    for (int s = 0; s < S; s++) y[s * ys] = V::hsum(acc[s]);
}

// Storage for spilled accumulators: 64-byte slots keep any vector aligned (a
// std::vector of the vector type would drop its alignment attribute).
struct alignas(64) Slot {
    uint8_t bytes[64];
};

// The GEMM part of matmul_float on `rows` weight rows starting at W (the
// caller's row0), into Y's columns starting at Y (Y[t * n_out + o]): what a
// quantized type runs on a panel of rows it has converted to float32.
template <class V, class L>
static void gemm_float(const typename L::T* W, int64_t n, int64_t n_out, int64_t rows, const float* X, int64_t T,
                       float* Y) {
    typedef typename V::vec vec;
    static_assert(V::TB % V::RN == 0 && V::OB % V::RM == 0 && V::KB % V::lanes == 0, "tile blocking");
    TileArgs<V> a = {n, n_out, 0, n, true, true, nullptr, 0};
    // Chunks of TB activation rows (in L2) x blocks of OB weight rows x
    // passes over K; within a pass an activation tile stays in L1 while the
    // weight tiles of the block stream past it.
    const int64_t kb = 2 * n > 3 * V::KB ? V::KB : n > 0 ? n : 1;
    thread_local std::vector<Slot> acc_buf;
    const size_t slots = (V::OB * V::TB * sizeof(vec) + sizeof(Slot) - 1) / sizeof(Slot);
    if (acc_buf.size() < slots) acc_buf.resize(slots);
    vec* accs = (vec*)acc_buf.data();
    for (int64_t t0 = 0; t0 < T; t0 += V::TB) {
        const int64_t t1 = T - t0 < V::TB ? T : t0 + V::TB;
        for (int64_t o0 = 0; o0 < rows; o0 += V::OB) {
            const int64_t o1 = rows - o0 < V::OB ? rows : o0 + V::OB;
            for (int64_t k0 = 0; k0 == 0 || k0 < n; k0 += kb) {  // one pass at least (n = 0: Y = 0)
                a.k0 = k0;
                a.k1 = n - k0 < kb ? n : k0 + kb;
                a.first = k0 == 0;
                a.last = a.k1 == n;
                a.acc_stride = V::TB;
                for (int64_t t = t0; t < t1; t += V::RN) {
                    const int rn = (int)(t1 - t < V::RN ? t1 - t : V::RN);
                    for (int64_t o = o0; o < o1; o += V::RM) {
                        const int rm = (int)(o1 - o < V::RM ? o1 - o : V::RM);
                        a.acc = accs + (o - o0) * V::TB + (t - t0);
                        tile_mn<V, L, V::RM, V::RN>(rm, rn, W + o * n, X + t * n, a, Y + t * n_out + o);
                    }
                }
            }
        }
    }
}

// Y (T x n_out) rows [row0, row1) = W (n_out x n) times X (T x n).
template <class V, class L>
static void matmul_float(const void* Wv, int64_t n, int64_t n_out, int64_t row0, int64_t row1, const void* Xv,
                         int64_t T, float* Y) {
    const typename L::T* W = (const typename L::T*)Wv;
    const float* X = (const float*)Xv;
    TileArgs<V> a = {n, n_out, 0, n, true, true, nullptr, 0};
    if (T == 1 && L::RM1 == 1) {  // one row from each quarter of the range at a time: 4 streams
        constexpr int S = 4;
        const int64_t q = (row1 - row0 + S - 1) / S;
        for (int64_t o = row0; o < row0 + q; o++) {
            if (o + (S - 1) * q < row1)
                gemv_streams<V, L, S>(W + o * n, n, q * n, X, Y + o, q);
            else
                for (int64_t r = o; r < row1; r += q) tile<V, L, 1, 1>(W + r * n, X, a, Y + r);
        }
        return;
    }
    if (T == 1) {
        for (int64_t o = row0; o < row1; o += L::RM1) {
            const int rm = (int)(row1 - o < L::RM1 ? row1 - o : L::RM1);
            tile_mn<V, L, L::RM1, 1>(rm, 1, W + o * n, X, a, Y + o);
        }
        return;
    }
    gemm_float<V, L>(W + row0 * n, n, n_out, row1 - row0, X, T, Y + row0);
}

}  // namespace tiles
