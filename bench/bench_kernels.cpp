// bench_kernels.cpp - the WKV updates, norms and element-wise kernels on
// every ISA path this CPU runs, each next to its scalar twin (the matrix
// products are in bench_matmul.cpp).
//
//   ./build/bench/bench_kernels [--benchmark_filter=wkv7]
//
// Names: <kernel>/<isa>. Shapes are those of RWKV-7 0.1B (C = 768 = 12 heads
// of 64, F = 3072), one token per call. Counter: floats/s, the floats of the
// kernel's main operand (the N x N states for the WKV updates, 65536 logits
// for softmax, C or F for the rest) processed per second, so paths compare directly.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "../kernels/kernels.h"
#include "bench_isa.h"

namespace {

typedef BenchIsa Isa;

const int64_t H = 12, N = 64, C = H * N, F = 4 * C;

std::vector<float> random_floats(size_t n, float lo, float hi, uint32_t seed) {
    std::mt19937 g(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (float& x : v) x = d(g);
    return v;
}

void set_counter(benchmark::State& st, int64_t floats) {
    st.counters["floats"] = benchmark::Counter((double)floats, benchmark::Counter::kIsIterationInvariantRate,
                                               benchmark::Counter::kIs1000);
}

// The WKV updates: the state stays bounded (decays < 1, unit-length kk), so
// timing many calls in a row measures steady-state arithmetic.
void bm_wkv7(benchmark::State& st, const Isa* isa) {
    std::vector<float> S((size_t)(H * N * N), 0.0f), y((size_t)C);
    const std::vector<float> r = random_floats(C, -1, 1, 1), k = random_floats(C, -1, 1, 2),
                             v = random_floats(C, -1, 1, 3), w = random_floats(C, 0.6f, 0.99f, 4),
                             a = random_floats(C, 0, 1, 5);
    std::vector<float> kk(C, 1.0f / 8.0f);  // unit length per head of 64
    for (auto _ : st) {
        isa->k.wkv7(H, N, S.data(), r.data(), w.data(), k.data(), v.data(), kk.data(), a.data(), y.data());
        benchmark::DoNotOptimize(y.data());
    }
    set_counter(st, H * N * N);
}

// Sequence mode: one head walks T tokens (src/rwkv7.cpp's per-head tasks), so
// its N x N state stays in L1; the test above has all 12 states (192 KiB)
// stream through L2 per token, as token mode does.
void bm_wkv7_seq(benchmark::State& st, const Isa* isa) {
    const int64_t T = 64;
    std::vector<float> S((size_t)(N * N), 0.0f), y((size_t)(T * N));
    const std::vector<float> r = random_floats(T * N, -1, 1, 1), k = random_floats(T * N, -1, 1, 2),
                             v = random_floats(T * N, -1, 1, 3), w = random_floats(T * N, 0.6f, 0.99f, 4),
                             a = random_floats(T * N, 0, 1, 5);
    std::vector<float> kk(T * N, 1.0f / 8.0f);
    for (auto _ : st) {
        for (int64_t t = 0; t < T; t++) {
            const int64_t o = t * N;
            isa->k.wkv7(1, N, S.data(), r.data() + o, w.data() + o, k.data() + o, v.data() + o, kk.data() + o,
                        a.data() + o, y.data() + o);
        }
        benchmark::DoNotOptimize(y.data());
    }
    set_counter(st, T * N * N);
}

void bm_wkv6(benchmark::State& st, const Isa* isa) {
    std::vector<float> S((size_t)(H * N * N), 0.0f), y((size_t)C);
    const std::vector<float> r = random_floats(C, -1, 1, 1), k = random_floats(C, -1, 1, 2),
                             v = random_floats(C, -1, 1, 3), w = random_floats(C, 0.6f, 0.99f, 4),
                             u = random_floats(C, -1, 1, 5);
    for (auto _ : st) {
        isa->k.wkv6(H, N, S.data(), r.data(), w.data(), k.data(), v.data(), u.data(), y.data());
        benchmark::DoNotOptimize(y.data());
    }
    set_counter(st, H * N * N);
}

void bm_layer_norm(benchmark::State& st, const Isa* isa) {
    const std::vector<float> x = random_floats(C, -2, 2, 1), w = random_floats(C, 0.5f, 1.5f, 2),
                             b = random_floats(C, -1, 1, 3);
    std::vector<float> y((size_t)C);
    for (auto _ : st) {
        isa->k.layer_norm(x.data(), w.data(), b.data(), C, 1e-5f, y.data());
        benchmark::DoNotOptimize(y.data());
    }
    set_counter(st, C);
}

void bm_group_norm(benchmark::State& st, const Isa* isa) {
    const std::vector<float> x = random_floats(C, -2, 2, 1), w = random_floats(C, 0.5f, 1.5f, 2),
                             b = random_floats(C, -1, 1, 3);
    std::vector<float> y((size_t)C);
    for (auto _ : st) {
        isa->k.group_norm(x.data(), w.data(), b.data(), C, H, 64e-5f, y.data());
        benchmark::DoNotOptimize(y.data());
    }
    set_counter(st, C);
}

void bm_mix(benchmark::State& st, const Isa* isa) {
    const std::vector<float> xn = random_floats(C, -2, 2, 1), dx = random_floats(C, -1, 1, 2),
                             mu = random_floats(C, 0, 1, 3);
    std::vector<float> out((size_t)C);
    for (auto _ : st) {
        isa->k.mix(xn.data(), dx.data(), mu.data(), C, out.data());
        benchmark::DoNotOptimize(out.data());
    }
    set_counter(st, C);
}

// In-place kernels restart from the same input each time (the copy is part
// of the time on every path alike). `op` applies the kernel to x (n floats).
template <class Op>
void bench_inplace(benchmark::State& st, int64_t n, Op op) {
    const std::vector<float> in = random_floats((size_t)n, -4, 4, 2);
    std::vector<float> x((size_t)n);
    for (auto _ : st) {
        x = in;
        op(x.data());
        benchmark::DoNotOptimize(x.data());
    }
    set_counter(st, n);
}

void bm_decay7(benchmark::State& st, const Isa* isa) {
    const std::vector<float> w0 = random_floats(C, -2, 2, 1);
    bench_inplace(st, C, [&](float* x) { isa->k.decay7(w0.data(), x, C); });
}

void bm_sigmoid(benchmark::State& st, const Isa* isa) {
    const std::vector<float> bias = random_floats(C, -2, 2, 1);
    bench_inplace(st, C, [&](float* x) { isa->k.sigmoid(bias.data(), x, C); });
}

void bm_tanh(benchmark::State& st, const Isa* isa) {
    bench_inplace(st, F, [&](float* x) { isa->k.tanh(x, F); });
}

void bm_relu_sq(benchmark::State& st, const Isa* isa) {
    bench_inplace(st, F, [&](float* x) { isa->k.relu_sq(x, F); });
}

// The sampler's softmax over a world-vocabulary row of logits.
void bm_softmax(benchmark::State& st, const Isa* isa) {
    const int64_t V = 65536;
    const std::vector<float> x = random_floats(V, -10, 10, 1);
    std::vector<float> p((size_t)V);
    for (auto _ : st) {
        benchmark::DoNotOptimize(isa->k.softmax(x.data(), V, p.data()));
    }
    set_counter(st, V);
}

}  // namespace

int main(int argc, char** argv) {
    struct Bench {
        const char* name;
        void (*fn)(benchmark::State&, const Isa*);
    };
    const Bench benches[] = {{"wkv7", bm_wkv7},     {"wkv7_seq", bm_wkv7_seq}, {"wkv6", bm_wkv6},       {"layer_norm", bm_layer_norm},
                             {"group_norm", bm_group_norm}, {"mix", bm_mix}, {"decay7", bm_decay7},
                             {"sigmoid", bm_sigmoid}, {"tanh", bm_tanh},     {"relu_sq", bm_relu_sq}, {"softmax", bm_softmax}};
    for (const Bench& b : benches)
        for (const Isa& isa : bench_isas()) benchmark::RegisterBenchmark((std::string(b.name) + "/" + isa.name).c_str(), b.fn, &isa);

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
