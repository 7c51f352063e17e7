// wkv_scalar.cpp - the WKV state updates, the heart of the models: RWKV-7 first,
// then RWKV-5/6 at the end of the file.
//
// Each head keeps a matrix S (N x N; row i = value channel, column j = key
// channel) that maps keys to values. One token updates it with the
// "generalised delta rule":
//
//   S' = S diag(w)  +  (S (-kk)) (kk * a)^T  +  v k^T
//        decay          remove the old value     write the new
//                       stored under kk, at
//                       in-context rate a
//   y  = S' r
//
// The reference code forms the N x N matrices (-kk)(kk*a)^T and v k^T; here
// they are never formed: for each row i,
//   sa_i   = sum_j S[i][j] * (-kk[j])                 (uses S before the update)
//   S[i][j] = S[i][j] * w[j] + sa_i * kk[j] * a[j] + v[i] * k[j]
//   y_i    = sum_j S[i][j] * r[j]
// which is O(N^2) per head, touching S once, with no temporaries.
#include "kernels.h"

void wkv7_scalar(int64_t H, int64_t N, float* S, const float* r, const float* w, const float* k, const float* v,
                 const float* kk, const float* a, float* y) {
    for (int64_t h = 0; h < H; h++) {
        float* s = S + h * N * N;
        const int64_t o = h * N;
        for (int64_t i = 0; i < N; i++) {
            float* row = s + i * N;
            float sa = 0.0f;
            for (int64_t j = 0; j < N; j++) sa -= row[j] * kk[o + j];
            const float vi = v[o + i];
            float acc = 0.0f;
            for (int64_t j = 0; j < N; j++) {
                row[j] = row[j] * w[o + j] + sa * (kk[o + j] * a[o + j]) + vi * k[o + j];
                acc += row[j] * r[o + j];
            }
            y[o + i] = acc;
        }
    }
}

// ---- RWKV-5 / RWKV-6 -------------------------------------------------------
//
// Each head keeps S (N x N; row i = key channel, column j = value channel, the
// official v5/v6 order) that only ever adds: one token does
//
//   y_j  = sum_i r_i (S_ij + u_i k_i v_j)      read: the past, plus the current
//                                              token through the bonus u
//   S_ij = w_i S_ij + k_i v_j                  decay each key row, add k v^T
//
// The outer product k v^T is never formed: the bonus is the scalar
// b = sum_i r_i u_i k_i times v, and the update is one pass over S, row by
// row, reading each row once for both y and the new S. The decay w is per key
// channel, so it scales whole rows: RWKV-6 gives a new w every token (data
// dependent), RWKV-5 the same constant w every token.
void wkv6_scalar(int64_t H, int64_t N, float* S, const float* r, const float* w, const float* k, const float* v,
                 const float* u, float* y) {
    for (int64_t h = 0; h < H; h++) {
        float* s = S + h * N * N;
        const int64_t o = h * N;
        float bonus = 0.0f;
        for (int64_t i = 0; i < N; i++) bonus += r[o + i] * u[o + i] * k[o + i];
        for (int64_t j = 0; j < N; j++) y[o + j] = bonus * v[o + j];
        for (int64_t i = 0; i < N; i++) {
            float* row = s + i * N;
            const float ri = r[o + i], wi = w[o + i], ki = k[o + i];
            for (int64_t j = 0; j < N; j++) {
                y[o + j] += ri * row[j];
                row[j] = row[j] * wi + ki * v[o + j];
            }
        }
    }
}
