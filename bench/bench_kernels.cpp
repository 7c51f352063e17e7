// bench_kernels.cpp - how fast each kernel runs, per weight type and shape.
//   ./build/bench/bench_kernels --benchmark_filter=Matmul
// Shapes are those of RWKV-7 0.1B (C = 768, F = 3072, 12 heads of 64).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "../kernels/half.h"
#include "../kernels/kernels.h"

static std::vector<float> random_floats(size_t n) {
    std::mt19937 g(1);
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> v(n);
    for (float& x : v) x = d(g);
    return v;
}

// Matrix-vector (T = 1, token generation) and matrix-matrix (T > 1, prompt).
static void BM_Matmul(benchmark::State& st, uint32_t type) {
    kernels_init("scalar");
    const int64_t n_in = st.range(0), n_out = st.range(1), T = st.range(2);
    std::vector<float> wf = random_floats((size_t)(n_in * n_out));
    std::vector<uint16_t> w16(wf.size());
    for (size_t i = 0; i < wf.size(); i++) w16[i] = type == GGML_TYPE_F16 ? f32_to_f16(wf[i]) : f32_to_bf16(wf[i]);
    const void* W = type == GGML_TYPE_F32 ? (const void*)wf.data() : (const void*)w16.data();
    std::vector<float> X = random_floats((size_t)(n_in * T)), Y((size_t)(n_out * T));
    for (auto _ : st) {
        kern.matmul[type](W, n_in, n_out, 0, n_out, X.data(), T, Y.data());
        benchmark::DoNotOptimize(Y.data());
    }
    st.counters["GFLOP/s"] =
        benchmark::Counter(2.0 * (double)(n_in * n_out * T), benchmark::Counter::kIsIterationInvariantRate,
                           benchmark::Counter::kIs1000);
}
BENCHMARK_CAPTURE(BM_Matmul, f32, GGML_TYPE_F32)->Args({768, 768, 1})->Args({768, 768, 16});
BENCHMARK_CAPTURE(BM_Matmul, f16, GGML_TYPE_F16)->Args({768, 768, 1})->Args({768, 768, 16});
BENCHMARK_CAPTURE(BM_Matmul, bf16, GGML_TYPE_BF16)->Args({768, 768, 1})->Args({768, 768, 16});

static void BM_Wkv7(benchmark::State& st) {
    kernels_init("scalar");
    const int64_t H = 12, N = 64, C = H * N;
    std::vector<float> S((size_t)(H * N * N), 0.0f), r = random_floats(C), k = random_floats(C), v = random_floats(C),
                                                kk = random_floats(C), w(C, 0.9f), a(C, 0.5f), y(C);
    for (auto _ : st) {
        kern.wkv7(H, N, S.data(), r.data(), w.data(), k.data(), v.data(), kk.data(), a.data(), y.data());
        benchmark::DoNotOptimize(y.data());
    }
}
BENCHMARK(BM_Wkv7);

static void BM_LayerNorm(benchmark::State& st) {
    kernels_init("scalar");
    const int64_t C = st.range(0);
    std::vector<float> x = random_floats(C), w(C, 1.0f), b(C, 0.0f), y(C);
    for (auto _ : st) {
        kern.layer_norm(x.data(), w.data(), b.data(), C, 1e-5f, y.data());
        benchmark::DoNotOptimize(y.data());
    }
}
BENCHMARK(BM_LayerNorm)->Arg(768)->Arg(2048);

BENCHMARK_MAIN();
