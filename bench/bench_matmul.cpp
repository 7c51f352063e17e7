// bench_matmul.cpp - the matmul kernels, single thread, every weight type on
// every instruction-set path this CPU runs, beside the machine's limits
// measured in the same run (the machine is shared: compare ratios).
//
//   ./build/bench/bench_matmul                                    # everything (minutes)
//   ./build/bench/bench_matmul --benchmark_filter='avx512/q8_0'   # one path, one type
//   ./build/bench/bench_matmul --benchmark_filter='T:1$|peak'     # GEMV and the limits
//
// Types: every one the engine multiplies; <type>_repack is a path's --no-mmap
// layout, <type>_int8 the product with int8 activations where the default
// takes others (--act int8), <type>_f32 the one with float32 activations where
// the default is quantized (--act f32; Q4_K/Q5_K/Q6_K take Q16_K by default).
//
// Names: matmul/<isa>/<type>/<n_in>x<n_out>/T:<T>. Counters:
//   T = 1 (token generation, memory bound): W = bytes of weights read per second
//   T > 1 (prompt, compute bound):          FLOP = 2 n_in n_out T per second
//   peak/<isa>/fma, peak/<isa>/int8:         the best FLOP (int8 multiply-adds x 2) per second
//   peak/read_256MB/streams:<S>:             a streaming read much larger than the caches, as S streams
// The weights and the read probe's buffer sit in 2 MiB pages where the kernel
// gives them (as `rwkv-cli --no-mmap` holds a model and `rwkv-cli bench`
// probes): on this VM a stream from 4 KiB pages reads 30-40% slower.
// The Q8_0 activations are quantized outside the timed loop (once per call in
// the engine, see quantize_q8_0/<isa> for its cost).
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../kernels/half.h"
#include "../kernels/kernels.h"
#include "../src/huge_pages.h"
#include "bench_isa.h"

namespace {

typedef BenchIsa Isa;

const uint32_t kTypes[] = {GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q8_0,   GGML_TYPE_Q4_0,
                           GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_IQ4_NL, GGML_TYPE_Q2_K,
                           GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,   GGML_TYPE_IQ4_XS};

// How a type's product runs: the file's layout with the default activations,
// the path's repacked layout (--no-mmap), the int8-activation product (--act int8),
// or the float32-activation one (--act f32).
enum Variant { FILE_LAYOUT, REPACKED, INT8_ACT, F32_ACT };

std::string lower(const char* s) {
    std::string r(s);
    for (char& c : r) c = (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
    return r;
}

// Fast deterministic values, roughly N(0, 1) (sum of 4 uniforms).
void fill_random(float* v, size_t n, uint64_t seed) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        float acc = 0;
        for (int k = 0; k < 4; k++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            acc += (float)(s >> 40) * (1.0f / 16777216.0f) - 0.5f;
        }
        v[i] = acc * 1.7f;
    }
}

// Rows of floats in `type`, converted with the scalar quantizers.
std::vector<uint8_t> convert(uint32_t type, const float* f, int64_t rows, int64_t n) {
    Kernels s;
    kernels_fill_scalar(&s);
    const uint64_t rb = kernels_row_bytes(type, n);
    std::vector<uint8_t> out((size_t)(rb * (uint64_t)rows));
    for (int64_t r = 0; r < rows; r++) {
        if (type == GGML_TYPE_F32)
            memcpy(out.data() + r * rb, f + r * n, rb);
        else
            s.quantize_row[type](f + r * n, out.data() + r * rb, n);
    }
    return out;
}

// The weights of the last shape and type asked for (benchmarks of one shape
// and type run back to back over the paths, so one slot is enough).
struct Weights {
    uint32_t type = ~0u;
    uint32_t kernel_type = ~0u;  // type, or the layout repack made of it
    int64_t n_in = 0, n_out = 0;
    HugeRegion data;  // huge_pages.h
    size_t size = 0;
};

const Weights& weights(uint32_t type, int64_t n_in, int64_t n_out, RepackFn repack = nullptr) {
    static Weights w;
    const bool want_repacked = repack != nullptr;
    if (w.type != type || w.n_in != n_in || w.n_out != n_out || (w.kernel_type != type) != want_repacked) {
        std::vector<float> f((size_t)(n_in * n_out));
        fill_random(f.data(), f.size(), 1);
        for (float& x : f) x *= 0.04f;
        const std::vector<uint8_t> bytes = convert(type, f.data(), n_out, n_in);
        huge_region_free(&w.data);
        huge_region_alloc(&w.data, bytes.size(), "bench_matmul: weights");
        memcpy(w.data.data, bytes.data(), bytes.size());
        w.size = bytes.size();
        w.type = type, w.n_in = n_in, w.n_out = n_out;
        w.kernel_type = repack ? repack(w.data.data, n_in, n_out) : type;
    }
    return w;
}

// repacked: the weights in the path's own layout (kernels.h, repack), as a
// --no-mmap model holds them.
void bm_matmul(benchmark::State& st, const Isa* isa, uint32_t type, int64_t n_in, int64_t n_out, int64_t T,
               Variant v) {
    const Weights& W = weights(type, n_in, n_out, v == REPACKED ? isa->k.repack[type] : nullptr);
    std::vector<float> xf((size_t)(n_in * T));
    fill_random(xf.data(), xf.size(), 2);
    const uint32_t act = v == INT8_ACT  ? isa->k.int8_act_type[type]
                         : v == F32_ACT ? (uint32_t)GGML_TYPE_F32
                                        : isa->k.act_type[type];
    const std::vector<uint8_t> X = convert(act, xf.data(), T, n_in);
    std::vector<float> Y((size_t)(n_out * T));
    const MatmulFn fn = v == INT8_ACT  ? isa->k.matmul_int8_act[type]
                        : v == F32_ACT ? isa->k.matmul_f32_act[type]
                                       : isa->k.matmul[W.kernel_type];
    for (auto _ : st) {
        fn(W.data.data, n_in, n_out, 0, n_out, X.data(), T, Y.data());
        benchmark::DoNotOptimize(Y.data());
        benchmark::ClobberMemory();
    }
    if (T == 1)
        st.counters["W"] = benchmark::Counter((double)W.size, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
    else
        st.counters["FLOP"] = benchmark::Counter(2.0 * (double)n_in * (double)n_out * (double)T,
                                                 benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

void bm_quantize_q8_0(benchmark::State& st, const Isa* isa, int64_t n, int64_t T) {
    std::vector<float> xf((size_t)(n * T));
    fill_random(xf.data(), xf.size(), 3);
    std::vector<uint8_t> q((size_t)(ggml_row_size(GGML_TYPE_Q8_0, n) * (uint64_t)T));
    const RowQuantizeFn fn = isa->k.quantize_row[GGML_TYPE_Q8_0];
    for (auto _ : st) {
        for (int64_t t = 0; t < T; t++) fn(xf.data() + t * n, q.data() + t * ggml_row_size(GGML_TYPE_Q8_0, n), n);
        benchmark::DoNotOptimize(q.data());
    }
    st.counters["x"] = benchmark::Counter((double)(n * T) * 4.0, benchmark::Counter::kIsIterationInvariantRate,
                                          benchmark::Counter::kIs1000);
}

void bm_peak(benchmark::State& st, const Isa* isa, bool int8) {
    const PeakProbeFn fn = int8 ? isa->k.peak_int8 : isa->k.peak_fma;
    float sink = 0;
    double ops = 0;
    for (auto _ : st) ops += fn(1 << 20, &sink);
    benchmark::DoNotOptimize(sink);
    st.counters[int8 ? "OP" : "FLOP"] =
        benchmark::Counter(ops, benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

void bm_read(benchmark::State& st, const Isa* isa, int streams) {
    const int64_t n = (256 << 20) / 4;
    HugeRegion bytes;
    huge_region_alloc(&bytes, (size_t)n * 4, "bench_matmul: read probe");
    float* buf = (float*)bytes.data;
    for (int64_t i = 0; i < n; i++) buf[i] = (float)(i & 255);
    float s = 0;
    for (auto _ : st) s += isa->k.read_sum(buf, n, streams);
    huge_region_free(&bytes);
    benchmark::DoNotOptimize(s);
    st.counters["bytes"] = benchmark::Counter((double)n * 4.0, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<Isa>& isas = bench_isas();
    const Isa* best = &isas.back();

    for (const Isa& isa : isas) {
        if (isa.k.peak_fma) benchmark::RegisterBenchmark(("peak/" + isa.name + "/fma").c_str(), bm_peak, &isa, false);
        if (isa.k.peak_int8)
            benchmark::RegisterBenchmark(("peak/" + isa.name + "/int8").c_str(), bm_peak, &isa, true);
    }
    if (best->k.read_sum)
        for (int streams : {1, 2, 4, 8})  // rwkv-cli bench keeps the best of these
            benchmark::RegisterBenchmark(("peak/read_256MB/streams:" + std::to_string(streams)).c_str(), bm_read, best,
                                         streams);

    // RWKV-7 0.1B: C = 768, F = 3072; the head is 768 x 65536 (streams from memory).
    struct Shape {
        int64_t n_in, n_out;
    };
    const Shape shapes[] = {{768, 768}, {768, 3072}, {3072, 768}};
    const int64_t Ts[] = {1, 64, 512};
    for (uint32_t type : kTypes) {
        for (Variant v : {FILE_LAYOUT, REPACKED, INT8_ACT, F32_ACT}) {
            const std::string tn = lower(ggml_type_name(type)) + (v == REPACKED   ? "_repack"
                                                                  : v == INT8_ACT ? "_int8"
                                                                  : v == F32_ACT  ? "_f32"
                                                                                  : "");
            auto has = [&](const Isa& isa) {
                const uint32_t act = isa.k.act_type[type];
                return v == FILE_LAYOUT || (v == REPACKED && isa.k.repack[type]) ||
                       (v == INT8_ACT && isa.k.matmul_int8_act[type] && act != isa.k.int8_act_type[type]) ||
                       (v == F32_ACT && isa.k.matmul_f32_act[type] && act == KTYPE_Q16_K);
            };
            for (const Shape& s : shapes)
                for (int64_t T : Ts)
                    for (const Isa& isa : isas) {
                        if (!has(isa) || (isa.name == "scalar" && T == 512)) continue;  // seconds per call
                        const std::string name = "matmul/" + isa.name + "/" + tn + "/" + std::to_string(s.n_in) + "x" +
                                                 std::to_string(s.n_out) + "/T:" + std::to_string(T);
                        benchmark::RegisterBenchmark(name.c_str(), bm_matmul, &isa, type, s.n_in, s.n_out, T, v)
                            ->Unit(benchmark::kMicrosecond);
                    }
            for (const Isa& isa : isas)
                if (has(isa))
                    benchmark::RegisterBenchmark(("matmul/" + isa.name + "/" + tn + "/768x65536/T:1").c_str(),
                                                 bm_matmul, &isa, type, (int64_t)768, (int64_t)65536, (int64_t)1, v)
                        ->Unit(benchmark::kMicrosecond);
        }
    }
    for (const Isa& isa : isas)
        benchmark::RegisterBenchmark(("quantize_q8_0/" + isa.name + "/768x64").c_str(), bm_quantize_q8_0, &isa,
                                     (int64_t)768, (int64_t)64)
            ->Unit(benchmark::kMicrosecond);

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
