// wkv_scalar.cpp - the RWKV-7 state update, the heart of the model.
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
