// test_rwkv56.cpp - the RWKV-5/6 WKV kernel: the scalar version against the
// update written out with explicit N x N matrices in double precision, and
// every SIMD version this CPU runs against the scalar one, over many tokens
// (so the state carries errors forward), with head sizes that fill whole
// vector blocks, partial groups of blocks, and sizes no vector width divides.
// The model-level checks (logits against the NumPy references) are in
// test_v56.py.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "../kernels/kernels.h"

namespace {

struct Inputs {
    std::vector<float> r, w, k, v, u;
};

// One token's inputs for H heads of N: decays in (0, 1) spread as RWKV-6
// makes them (exp(-exp(d)), d in [-6, 1]), a bonus of either sign.
Inputs make_inputs(int64_t H, int64_t N, uint32_t seed) {
    std::mt19937 g(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::uniform_real_distribution<float> ud(-6.0f, 1.0f);
    Inputs in;
    const size_t n = (size_t)(H * N);
    in.r.resize(n), in.w.resize(n), in.k.resize(n), in.v.resize(n), in.u.resize(n);
    for (size_t i = 0; i < n; i++) {
        in.r[i] = nd(g);
        in.k[i] = nd(g) * 0.3f;
        in.v[i] = nd(g);
        in.u[i] = nd(g) * 0.5f;
        in.w[i] = expf(-expf(ud(g)));
    }
    return in;
}

// The definition, with the matrices formed: per head
//   y = r^T (S + diag(u) k v^T),   S = diag(w) S + k v^T     (S[key][value])
void wkv6_reference(int64_t H, int64_t N, std::vector<double>* S, const Inputs& in, std::vector<double>* y) {
    y->assign((size_t)(H * N), 0.0);
    std::vector<double> kv((size_t)(N * N));
    for (int64_t h = 0; h < H; h++) {
        double* s = S->data() + h * N * N;
        const int64_t o = h * N;
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < N; j++) kv[(size_t)(i * N + j)] = (double)in.k[o + i] * in.v[o + j];
        for (int64_t j = 0; j < N; j++) {
            double acc = 0.0;
            for (int64_t i = 0; i < N; i++) acc += in.r[o + i] * (s[i * N + j] + in.u[o + i] * kv[(size_t)(i * N + j)]);
            (*y)[(size_t)(o + j)] = acc;
        }
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < N; j++) s[i * N + j] = in.w[o + i] * s[i * N + j] + kv[(size_t)(i * N + j)];
    }
}

double max_abs(const std::vector<float>& a) {
    double m = 0.0;
    for (float x : a) m = std::fmax(m, std::fabs((double)x));
    return m;
}

// 64: the real head; 16/32/48/80/128: whole vector blocks, with and without a
// full group of four (AVX2 8 floats, AVX-512 16); 7, 40, 1: the scalar fallback.
const int64_t kSizes[][2] = {{1, 64}, {3, 64}, {2, 16}, {1, 48}, {2, 32}, {1, 80}, {1, 128}, {1, 8}, {2, 7}, {1, 40}, {1, 1}};
const int kTokens = 24;

}  // namespace

TEST(Wkv6, ScalarMatchesExplicitMatrixForm) {
    for (auto& hn : kSizes) {
        const int64_t H = hn[0], N = hn[1];
        std::vector<float> S((size_t)(H * N * N), 0.0f), y((size_t)(H * N));
        std::vector<double> Sd((size_t)(H * N * N), 0.0), yd;
        for (int t = 0; t < kTokens; t++) {
            const Inputs in = make_inputs(H, N, 1000u + (uint32_t)t);
            wkv6_scalar(H, N, S.data(), in.r.data(), in.w.data(), in.k.data(), in.v.data(), in.u.data(), y.data());
            wkv6_reference(H, N, &Sd, in, &yd);
            double scale = 0.0;
            for (double x : yd) scale = std::fmax(scale, std::fabs(x));
            // measured 5.9e-7 x (max |y| + 1), 2.5e-7 x (|S| + 1); bound = 3.4x, 3.2x
            for (size_t i = 0; i < y.size(); i++)
                ASSERT_NEAR(y[i], yd[i], 2e-6 * (scale + 1.0)) << "H " << H << " N " << N << " token " << t << " y[" << i << "]";
            for (size_t i = 0; i < S.size(); i++)
                ASSERT_NEAR(S[i], Sd[i], 8e-7 * (std::fabs(Sd[i]) + 1.0)) << "H " << H << " N " << N << " S[" << i << "]";
        }
    }
}

// RWKV-5 calls the kernel with the same decay vector every token: the state
// is then the geometrically weighted sum of the past outer products.
TEST(Wkv6, ConstantDecayIsGeometricSum) {
    const int64_t H = 1, N = 16;
    std::vector<float> S((size_t)(N * N), 0.0f), y((size_t)N);
    Inputs first = make_inputs(H, N, 7);
    std::vector<double> want((size_t)(N * N), 0.0);
    for (int t = 0; t < 10; t++) {
        Inputs in = make_inputs(H, N, 100u + (uint32_t)t);
        in.w = first.w;  // constant
        wkv6_scalar(H, N, S.data(), in.r.data(), in.w.data(), in.k.data(), in.v.data(), in.u.data(), y.data());
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < N; j++)
                want[(size_t)(i * N + j)] = want[(size_t)(i * N + j)] * in.w[(size_t)i] + (double)in.k[(size_t)i] * in.v[(size_t)j];
    }
    // measured 2.1e-7 x (|S| + 1); bound = 3.4x
    for (size_t i = 0; i < S.size(); i++) ASSERT_NEAR(S[i], want[i], 7e-7 * (std::fabs(want[i]) + 1.0));
}

TEST(Wkv6, SimdMatchesScalarOnEveryPath) {
    int n;
    const char* const* names = kernels_isa_available(&n);
    for (int p = 0; p < n; p++) {
        const std::string isa = names[p];
        kernels_init(isa.c_str());
        if (isa != "scalar") {
            ASSERT_NE(kern.wkv6, nullptr) << isa;
        }
        const Wkv6Fn fn = kern.wkv6 ? kern.wkv6 : wkv6_scalar;
        for (auto& hn : kSizes) {
            const int64_t H = hn[0], N = hn[1];
            std::vector<float> S1((size_t)(H * N * N), 0.0f), S2 = S1, y1((size_t)(H * N)), y2 = y1;
            double worst_y = 0.0, worst_s = 0.0;
            for (int t = 0; t < kTokens; t++) {
                const Inputs in = make_inputs(H, N, 5000u + (uint32_t)t);
                wkv6_scalar(H, N, S1.data(), in.r.data(), in.w.data(), in.k.data(), in.v.data(), in.u.data(), y1.data());
                fn(H, N, S2.data(), in.r.data(), in.w.data(), in.k.data(), in.v.data(), in.u.data(), y2.data());
                const double sy = max_abs(y1) + 1e-30, ss = max_abs(S1) + 1e-30;
                for (size_t i = 0; i < y1.size(); i++) worst_y = std::fmax(worst_y, std::fabs(y1[i] - y2[i]) / sy);
                for (size_t i = 0; i < S1.size(); i++) worst_s = std::fmax(worst_s, std::fabs(S1[i] - S2[i]) / ss);
            }
            printf("[ measure  ] wkv6 %s H %lld N %lld, %d tokens: max |diff| / max: y %.2g, S %.2g\n", isa.c_str(),
                   (long long)H, (long long)N, kTokens, worst_y, worst_s);
            // measured y 7.1e-7, S 2.1e-7 (AVX2; AVX-512 6.6e-7, 1.7e-7); bound = 2.8x, 2.9x
            EXPECT_LE(worst_y, 2e-6) << isa << " H " << H << " N " << N;
            EXPECT_LE(worst_s, 6e-7) << isa << " H " << H << " N " << N;
        }
    }
    kernels_init("auto");
}

// Reading without writing (k = 0, w = 1) leaves S exactly as it was and
// gives y = S^T r: what the in-context-learning demo uses for queries.
TEST(Wkv6, QueryWithoutWriteLeavesStateUnchanged) {
    int n;
    const char* const* names = kernels_isa_available(&n);
    for (int p = 0; p < n; p++) {
        kernels_init(names[p]);
        const Wkv6Fn fn = kern.wkv6 ? kern.wkv6 : wkv6_scalar;
        const int64_t H = 2, N = 64;
        std::vector<float> S((size_t)(H * N * N)), y((size_t)(H * N));
        std::mt19937 g(3);
        std::normal_distribution<float> nd;
        for (float& x : S) x = nd(g);
        const std::vector<float> before = S;
        Inputs q = make_inputs(H, N, 9);
        std::fill(q.w.begin(), q.w.end(), 1.0f);
        std::fill(q.k.begin(), q.k.end(), 0.0f);
        fn(H, N, S.data(), q.r.data(), q.w.data(), q.k.data(), q.v.data(), q.u.data(), y.data());
        ASSERT_EQ(S, before) << names[p];
        for (int64_t h = 0; h < H; h++)
            for (int64_t j = 0; j < N; j++) {
                double want = 0.0;
                for (int64_t i = 0; i < N; i++) want += (double)q.r[(size_t)(h * N + i)] * before[(size_t)(h * N * N + i * N + j)];
                ASSERT_NEAR(y[(size_t)(h * N + j)], want, 1.1e-5) << names[p];  // measured 3.4e-6; 3.3x
            }
    }
    kernels_init("auto");
}
