// test_kernels.cpp - the scalar kernels against independent, plainly written
// double-precision formulas (and, for the 16-bit conversions, the compiler's
// own _Float16). The SIMD kernels of later work are tested against these
// scalar ones; these are tested against the math.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "../kernels/half.h"
#include "../kernels/kernels.h"

namespace {

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 g(seed);
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (float& x : v) x = d(g);
    return v;
}

}  // namespace

TEST(Half, F16ToF32MatchesCompiler) {
    for (uint32_t h = 0; h < 65536; h++) {
        _Float16 c;
        uint16_t bits = (uint16_t)h;
        memcpy(&c, &bits, 2);
        const float want = (float)c, got = f16_to_f32(bits);
        if (std::isnan(want)) {
            EXPECT_TRUE(std::isnan(got)) << "half 0x" << std::hex << h;
        } else {
            ASSERT_EQ(f32_to_bits(want), f32_to_bits(got)) << "half 0x" << std::hex << h << ": got " << got
                                                           << ", expected " << want;
        }
    }
}

TEST(Half, F32ToF16RoundsLikeCompiler) {
    std::mt19937 g(1);
    std::vector<float> xs = {0.0f, -0.0f, 1.0f, 65504.0f, 65520.0f, 1e-8f, 5.96e-8f, 2.98e-8f, 6.1e-5f, INFINITY};
    for (int i = 0; i < 200000; i++) {
        // random bit patterns across the whole float range, and near half's range
        uint32_t u = g();
        xs.push_back(f32_from_bits(u));
        xs.push_back(std::ldexp((float)(g() % 4096) / 4096.0f + 1.0f, (int)(g() % 40) - 26));
    }
    for (float x : xs) {
        if (std::isnan(x)) continue;
        _Float16 c = (_Float16)x;
        uint16_t want;
        memcpy(&want, &c, 2);
        ASSERT_EQ(want, f32_to_f16(x)) << "x = " << x;
    }
}

TEST(Half, Bf16) {
    EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
    EXPECT_EQ(bf16_to_f32(0xc000), -2.0f);
    EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
    // round to nearest even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7
    EXPECT_EQ(f32_to_bf16(1.0f + 1.0f / 256), 0x3f80);
    EXPECT_EQ(f32_to_bf16(1.0f + 3.0f / 256), 0x3f82);
    for (uint32_t h = 0; h < 65536; h++) {
        float f = bf16_to_f32((uint16_t)h);
        if (!std::isnan(f)) {
            ASSERT_EQ(f32_to_bf16(f), h) << "bf16 0x" << std::hex << h;
        }
    }
}

// The reference matmul: each output a double-precision dot product.
static void matmul_ref(const std::vector<float>& W, int64_t n_in, int64_t n_out, const std::vector<float>& X, int64_t T,
                       std::vector<double>* Y) {
    Y->assign((size_t)(T * n_out), 0.0);
    for (int64_t t = 0; t < T; t++)
        for (int64_t o = 0; o < n_out; o++) {
            double s = 0.0;
            for (int64_t i = 0; i < n_in; i++) s += (double)W[o * n_in + i] * X[t * n_in + i];
            (*Y)[t * n_out + o] = s;
        }
}

TEST(Matmul, AllTypesMatchDoublePrecision) {
    // Odd sizes on purpose: rows that are not multiples of any vector width.
    for (auto [n_in, n_out, T] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
             {1, 1, 1}, {7, 3, 2}, {64, 65, 5}, {257, 31, 3}, {1000, 17, 1}}) {
        std::vector<float> W = randn((size_t)(n_in * n_out), 3, 1.0f / std::sqrt((float)n_in));
        std::vector<float> X = randn((size_t)(n_in * T), 4);
        // Round the weights to each type first, so the reference sees exactly
        // the values the kernel sees.
        std::vector<uint16_t> wh(W.size()), wb(W.size());
        std::vector<float> Wh(W.size()), Wb(W.size());
        for (size_t i = 0; i < W.size(); i++) {
            wh[i] = f32_to_f16(W[i]);
            Wh[i] = f16_to_f32(wh[i]);
            wb[i] = f32_to_bf16(W[i]);
            Wb[i] = bf16_to_f32(wb[i]);
        }
        struct Case { const char* name; MatmulFn fn; const void* w; const std::vector<float>* wf; } cases[] = {
            {"f32", matmul_f32_scalar, W.data(), &W},
            {"f16", matmul_f16_scalar, wh.data(), &Wh},
            {"bf16", matmul_bf16_scalar, wb.data(), &Wb},
        };
        for (const Case& c : cases) {
            std::vector<double> ref;
            matmul_ref(*c.wf, n_in, n_out, X, T, &ref);
            std::vector<float> Y((size_t)(T * n_out), NAN);
            // two row ranges, as a thread pool would split them
            c.fn(c.w, n_in, n_out, 0, n_out / 2, X.data(), T, Y.data());
            c.fn(c.w, n_in, n_out, n_out / 2, n_out, X.data(), T, Y.data());
            // measured 6.1e-8 x sqrt(n_in); bound = 3.3x
            for (size_t i = 0; i < Y.size(); i++)
                ASSERT_NEAR(Y[i], ref[i], 2e-7 * std::sqrt((double)n_in))
                    << c.name << " n_in=" << n_in << " n_out=" << n_out << " T=" << T << " at " << i;
        }
    }
}

TEST(Norm, LayerAndGroupNormMatchDoublePrecision) {
    for (int64_t n : {1, 5, 64, 256, 1000}) {
        std::vector<float> x = randn((size_t)n, 5, 3.0f), w = randn((size_t)n, 6), b = randn((size_t)n, 7);
        for (float& v : x) v += 10.0f;  // a large mean: the two-pass variance must still be exact
        for (int64_t G : {1, 2, 4}) {
            if (n % G) continue;
            std::vector<float> y((size_t)n);
            const float eps = G == 1 ? 1e-5f : 64e-5f;
            if (G == 1)
                layer_norm_scalar(x.data(), w.data(), b.data(), n, eps, y.data());
            else
                group_norm_scalar(x.data(), w.data(), b.data(), n, G, eps, y.data());
            const int64_t m = n / G;
            for (int64_t g = 0; g < G; g++) {
                double mean = 0, var = 0;
                for (int64_t i = 0; i < m; i++) mean += x[g * m + i];
                mean /= m;
                for (int64_t i = 0; i < m; i++) var += (x[g * m + i] - mean) * (x[g * m + i] - mean);
                var /= m;
                for (int64_t i = 0; i < m; i++) {
                    const int64_t j = g * m + i;
                    const double want = (x[j] - mean) / std::sqrt(var + eps) * w[j] + b[j];
                    // measured 3.5e-6 x (1 + |want|); bound = 3.4x
                    ASSERT_NEAR(y[j], want, 1.2e-5 * (1 + std::fabs(want))) << "n=" << n << " G=" << G << " i=" << j;
                }
            }
        }
    }
}

TEST(Wkv7, MatchesExplicitMatrixForm) {
    // The reference forms the matrices the kernel avoids:
    //   S = S diag(w) + S (-kk)(kk*a)^T + v k^T ;  y = S r
    for (auto [H, N] : std::vector<std::pair<int64_t, int64_t>>{{1, 64}, {2, 64}, {3, 8}, {1, 5}}) {
        const int64_t C = H * N, steps = 6;
        std::vector<float> S((size_t)(H * N * N), 0.0f);
        std::vector<double> Sd(S.size(), 0.0);
        std::mt19937 g((uint32_t)(H * 100 + N));
        std::uniform_real_distribution<float> u01(0.0f, 1.0f);
        std::normal_distribution<float> nd(0.0f, 1.0f);
        for (int64_t step = 0; step < steps; step++) {
            std::vector<float> r(C), w(C), k(C), v(C), kk(C), a(C), y(C);
            for (int64_t i = 0; i < C; i++) {
                r[i] = nd(g), k[i] = nd(g), v[i] = nd(g), kk[i] = nd(g);
                w[i] = 0.55f + 0.45f * u01(g), a[i] = u01(g);
            }
            for (int64_t h = 0; h < H; h++) {  // kk has unit length per head
                double ss = 0;
                for (int64_t i = 0; i < N; i++) ss += kk[h * N + i] * kk[h * N + i];
                for (int64_t i = 0; i < N; i++) kk[h * N + i] /= (float)std::sqrt(ss);
            }
            wkv7_scalar(H, N, S.data(), r.data(), w.data(), k.data(), v.data(), kk.data(), a.data(), y.data());
            for (int64_t h = 0; h < H; h++) {
                double* s = Sd.data() + h * N * N;
                const int64_t o = h * N;
                std::vector<double> ab((size_t)(N * N)), next((size_t)(N * N));
                for (int64_t i = 0; i < N; i++)
                    for (int64_t j = 0; j < N; j++) ab[i * N + j] = -(double)kk[o + i] * kk[o + j] * a[o + j];
                for (int64_t i = 0; i < N; i++)
                    for (int64_t j = 0; j < N; j++) {
                        double sab = 0;
                        for (int64_t l = 0; l < N; l++) sab += s[i * N + l] * ab[l * N + j];
                        next[i * N + j] = s[i * N + j] * w[o + j] + sab + (double)v[o + i] * k[o + j];
                    }
                for (int64_t i = 0; i < N * N; i++) s[i] = next[i];
                for (int64_t i = 0; i < N; i++) {
                    double want = 0;
                    for (int64_t j = 0; j < N; j++) want += s[i * N + j] * r[o + j];
                    ASSERT_NEAR(y[o + i], want, 1e-5 * (1 + std::fabs(want)))  // measured 3.0e-6 x; 3.3x
                        << "H=" << H << " N=" << N << " step " << step << " head " << h << " row " << i;
                }
            }
        }
        // measured 4.8e-7 x (1 + |S|); bound = 3.1x
        for (size_t i = 0; i < S.size(); i++) ASSERT_NEAR(S[i], Sd[i], 1.5e-6 * (1 + std::fabs(Sd[i]))) << "state " << i;
    }
}

TEST(Dispatch, ScalarTableIsComplete) {
    kernels_init("scalar");
    EXPECT_STREQ(kern.isa, "scalar");
    for (uint32_t t : {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16}) {
        EXPECT_NE(kern.matmul[t], nullptr) << ggml_type_name(t);
        EXPECT_NE(kern.row_to_f32[t], nullptr) << ggml_type_name(t);
    }
    EXPECT_NE(kern.wkv7, nullptr);
    EXPECT_NE(kern.wkv6, nullptr);
    EXPECT_NE(kern.layer_norm, nullptr);
    EXPECT_NE(kern.group_norm, nullptr);
    EXPECT_THROW(kernels_init("no-such-isa"), std::exception);
}

// The path decision, from feature masks: a path needs every feature its
// files are compiled for, so an AVX-512 CPU without BF16 (Skylake-X,
// Cascade Lake, Ice Lake) or VNNI runs AVX2, not an illegal instruction.
TEST(Dispatch, PathsNeedEveryFeatureTheyAreCompiledFor) {
#if defined(__x86_64__)
    const uint32_t avx2 = CPU_AVX2 | CPU_FMA | CPU_F16C;
    const uint32_t avx512 = avx2 | CPU_AVX512F | CPU_AVX512BW | CPU_AVX512VL | CPU_AVX512DQ | CPU_AVX512VNNI |
                            CPU_AVX512BF16;
    EXPECT_TRUE(kernels_isa_runs("scalar", 0));
    EXPECT_TRUE(kernels_isa_runs("avx2", avx2));
    EXPECT_TRUE(kernels_isa_runs("avx512", avx512));
    for (uint32_t bit = 1; bit <= CPU_AVX512BF16; bit <<= 1) {
        if (avx2 & bit) {
            EXPECT_FALSE(kernels_isa_runs("avx2", avx2 & ~bit)) << "without feature bit " << bit;
        }
        EXPECT_FALSE(kernels_isa_runs("avx512", avx512 & ~bit)) << "without feature bit " << bit;
    }
    EXPECT_FALSE(kernels_isa_runs("avx512", avx512 & ~CPU_AVX512BF16)) << "Cascade Lake: AVX-512 and VNNI, no BF16";
    EXPECT_TRUE(kernels_isa_runs("avx2", avx512 & ~CPU_AVX512BF16)) << "... runs AVX2";
    EXPECT_FALSE(kernels_isa_runs("neon", ~0u));
#elif defined(__aarch64__)
    EXPECT_TRUE(kernels_isa_runs("neon", CPU_NEON));
    EXPECT_FALSE(kernels_isa_runs("avx2", ~0u));
#endif
    EXPECT_FALSE(kernels_isa_runs("no-such-isa", ~0u));
    // and this CPU's list is the decision on its own features
    int n = 0;
    const char* const* names = kernels_isa_available(&n);
    for (int i = 0; i < n; i++) EXPECT_TRUE(kernels_isa_runs(names[i], kernels_cpu_features())) << names[i];
}

// Every SIMD path against the scalar reference, on sizes that exercise the
// vector tails.
static std::vector<std::string> simd_paths() {
    int n;
    const char* const* names = kernels_isa_available(&n);
    std::vector<std::string> v;
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], "scalar") != 0) v.push_back(names[i]);
    return v;
}

TEST(Simd, NormsMatchScalar) {
    for (const std::string& isa : simd_paths()) {
        kernels_init(isa.c_str());
        for (int64_t n : {1, 7, 16, 33, 64, 100, 768, 1023}) {
            std::vector<float> x = randn((size_t)n + 1, 11, 2.0f), w = randn((size_t)n, 12), b = randn((size_t)n, 13);
            std::vector<float> want((size_t)n), got((size_t)n + 1);
            const float* xu = x.data() + 1;  // unaligned on purpose
            layer_norm_scalar(xu, w.data(), b.data(), n, 1e-5f, want.data());
            kern.layer_norm(xu, w.data(), b.data(), n, 1e-5f, got.data() + 1);
            // measured 4.8e-7 x (1 + |want|) (layer), 2.4e-7 (group); bound = 3.1x, 3.3x
            for (int64_t i = 0; i < n; i++)
                ASSERT_NEAR(got[i + 1], want[i], 1.5e-6f * (1 + std::fabs(want[i]))) << isa << " layer_norm n=" << n << " i=" << i;
            if (n % 4 == 0) {
                group_norm_scalar(xu, w.data(), b.data(), n, 4, 64e-5f, want.data());
                kern.group_norm(xu, w.data(), b.data(), n, 4, 64e-5f, got.data());
                for (int64_t i = 0; i < n; i++)
                    ASSERT_NEAR(got[i], want[i], 8e-7f * (1 + std::fabs(want[i]))) << isa << " group_norm n=" << n << " i=" << i;
            }
        }
    }
    kernels_init("scalar");
}

TEST(Simd, Wkv7MatchesScalar) {
    for (const std::string& isa : simd_paths()) {
        kernels_init(isa.c_str());
        for (auto [H, N] : std::vector<std::pair<int64_t, int64_t>>{{1, 64}, {3, 64}, {2, 16}, {2, 32}, {1, 5}, {2, 24}}) {
            const int64_t C = H * N;
            std::vector<float> S1((size_t)(H * N * N), 0.0f), S2 = S1;
            for (int step = 0; step < 5; step++) {
                std::vector<float> r = randn(C, 20 + step), k = randn(C, 30 + step), v = randn(C, 40 + step),
                                   kk = randn(C, 50 + step, 0.125f), a = randn(C, 60 + step, 0.2f), w = randn(C, 70 + step, 0.05f);
                for (float& x : w) x = 0.9f + x;
                for (float& x : a) x = 0.5f + x;
                std::vector<float> y1(C), y2(C);
                wkv7_scalar(H, N, S1.data(), r.data(), w.data(), k.data(), v.data(), kk.data(), a.data(), y1.data());
                kern.wkv7(H, N, S2.data(), r.data(), w.data(), k.data(), v.data(), kk.data(), a.data(), y2.data());
                // measured 3.8e-6 x (1 + |y|), 5.2e-7 x (1 + |S|) for the state; bound = 3.2x, 3.1x
                for (int64_t i = 0; i < C; i++)
                    ASSERT_NEAR(y2[i], y1[i], 1.2e-5f * (1 + std::fabs(y1[i]))) << isa << " H=" << H << " N=" << N << " step " << step << " i=" << i;
            }
            for (size_t i = 0; i < S1.size(); i++)
                ASSERT_NEAR(S2[i], S1[i], 1.6e-6f * (1 + std::fabs(S1[i]))) << isa << " state " << i;
        }
    }
    kernels_init("scalar");
}

TEST(Simd, ElementwiseMatchScalar) {
    Kernels ref;
    kernels_fill_scalar(&ref);
    for (const std::string& isa : simd_paths()) {
        kernels_init(isa.c_str());
        for (int64_t n : {1, 7, 16, 33, 100, 768}) {
            std::vector<float> a = randn((size_t)n, 81, 3.0f), b = randn((size_t)n, 82, 3.0f), c = randn((size_t)n, 83, 3.0f);
            // measured 1.9e-7 x (1 + |want|), the bonus 2.1e-7 x (1 + scale); bound = 3.2x, 3.4x
            auto same = [&](const char* what, const std::vector<float>& want, const std::vector<float>& got) {
                for (int64_t i = 0; i < n; i++)
                    ASSERT_NEAR(got[i], want[i], 6e-7f * (1 + std::fabs(want[i]))) << isa << " " << what << " n=" << n << " i=" << i;
            };
            std::vector<float> w1((size_t)n), w2((size_t)n);
            ref.mix(a.data(), b.data(), c.data(), n, w1.data());
            kern.mix(a.data(), b.data(), c.data(), n, w2.data());
            same("mix", w1, w2);
            w1 = b, w2 = b;
            ref.sigmoid(a.data(), w1.data(), n);
            kern.sigmoid(a.data(), w2.data(), n);
            same("sigmoid+bias", w1, w2);
            w1 = b, w2 = b;
            ref.sigmoid(nullptr, w1.data(), n);
            kern.sigmoid(nullptr, w2.data(), n);
            same("sigmoid", w1, w2);
            w1 = b, w2 = b;
            ref.tanh(w1.data(), n);
            kern.tanh(w2.data(), n);
            same("tanh", w1, w2);
            w1 = b, w2 = b;
            ref.decay7(a.data(), w1.data(), n);
            kern.decay7(a.data(), w2.data(), n);
            same("decay7", w1, w2);
            w1 = b, w2 = b;
            ref.decay6(a.data(), w1.data(), n);
            kern.decay6(a.data(), w2.data(), n);
            same("decay6", w1, w2);
            w1 = b, w2 = b;
            ref.silu(w1.data(), n);
            kern.silu(w2.data(), n);
            same("silu", w1, w2);
            w1 = b, w2 = b;
            ref.value_residual(a.data(), c.data(), a.data(), n, w1.data());
            kern.value_residual(a.data(), c.data(), a.data(), n, w2.data());
            same("value_residual", w1, w2);
            for (int64_t N : {16, 32, 64, 5}) {  // key7 / bonus_gate7 over heads of N (5: the scalar fallback)
                if (n % N != 0) continue;
                const int64_t H = n / N;
                std::vector<float> k1 = a, k2 = a, kk1((size_t)n), kk2((size_t)n);
                ref.key7(b.data(), c.data(), w1.data(), H, N, k1.data(), kk1.data());
                kern.key7(b.data(), c.data(), w1.data(), H, N, k2.data(), kk2.data());
                same("key7 k", k1, k2);
                same("key7 kk", kk1, kk2);
                std::vector<float> y1 = c, y2 = c;
                ref.bonus_gate7(a.data(), b.data(), c.data(), b.data(), a.data(), H, N, y1.data());
                kern.bonus_gate7(a.data(), b.data(), c.data(), b.data(), a.data(), H, N, y2.data());
                // the bonus is a sum of N terms, added in another order: the bound
                // scales with the sum of their magnitudes
                for (int64_t i = 0; i < n; i++) {
                    const int64_t h0 = i / N * N;
                    float terms = 0.0f;
                    for (int64_t j = h0; j < h0 + N; j++) terms += std::fabs(a[j] * b[j] * b[j]);
                    const float scale = (std::fabs(c[i]) + terms * std::fabs(c[i])) * std::fabs(a[i]);
                    ASSERT_NEAR(y2[i], y1[i], 7e-7f * (1 + scale)) << isa << " bonus_gate7 n=" << n << " N=" << N << " i=" << i;
                }
            }
            w1 = b, w2 = b;
            ref.relu_sq(w1.data(), n);
            kern.relu_sq(w2.data(), n);
            same("relu_sq", w1, w2);
            w1 = b, w2 = b;
            ref.add(a.data(), n, w1.data());
            kern.add(a.data(), n, w2.data());
            same("add", w1, w2);
        }
        // softmax over a vocabulary-sized row with a wide range (probabilities
        // down to underflow): each p within float rounding of the sum's order
        for (int64_t n : {1, 5, 17, 65536 + 3}) {
            std::vector<float> x = randn((size_t)n, 84, 8.0f), p1((size_t)n), p2((size_t)n);
            const float s1 = ref.softmax(x.data(), n, p1.data());
            const float s2 = kern.softmax(x.data(), n, p2.data());
            ASSERT_NEAR(s2, s1, 1e-5f * s1) << isa << " softmax sum n=" << n;
            double total = 0.0;
            for (int64_t i = 0; i < n; i++) {
                ASSERT_NEAR(p2[i], p1[i], 1e-5f * p1[i] + 1e-30f) << isa << " softmax n=" << n << " i=" << i;
                total += p2[i];
            }
            // measured 3.7e-7; bound = 3.2x
            ASSERT_NEAR(total, 1.0, 1.2e-6) << isa << " softmax n=" << n << ": probabilities sum to " << total;
        }
    }
    kernels_init("scalar");
}

// The bench's read probe: every path and stream count sums every float once,
// tails included. Small integers sum exactly in any order, so the expected
// value is exact.
TEST(Simd, ReadProbeSumsEveryFloatOnce) {
    std::vector<std::string> paths = simd_paths();
    paths.push_back("scalar");
    std::vector<float> buf(5000);
    for (size_t i = 0; i < buf.size(); i++) buf[i] = (float)(i % 7) + 1.0f;
    for (const std::string& isa : paths) {
        kernels_init(isa.c_str());
        for (int streams : {1, 2, 4, 8})
            for (int64_t n : {0, 1, 15, 16, 127, 128, 1000, 4099}) {
                double want = 0;
                for (int64_t i = 0; i < n; i++) want += buf[(size_t)(i + 1)];
                EXPECT_EQ(kern.read_sum(buf.data() + 1, n, streams), (float)want)
                    << isa << " streams=" << streams << " n=" << n;
            }
    }
    kernels_init("scalar");
}
