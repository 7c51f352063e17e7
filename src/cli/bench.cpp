// bench.cpp - rwkv-cli bench: tokens per second, as llama-bench reports them,
// and how close they come to what this machine can do.
//
//   pp<P>  prompt processing: P tokens in sequence mode from a zero state
//   tg<N>  token generation: N tokens one at a time (with the head), from a zero state
//   gemv<N> (--gemv N) the matrix products alone of N tokens: every weight
//          matrix once per token, layer by layer, each its own product with
//          its rows split over the pool as token mode splits them, and nothing
//          else in between. Rated like tg (its bytes: the matrices'), it is
//          about the most tg can reach with these kernels on this machine (tg
//          wakes the pool once for r, k, v and the LoRAs, this row once per
//          matrix); tg's distance below it is the rest of a token's work
//          (WKV, norms, mixes, hand-offs).
//
// Beside t/s, two efficiencies, each against a limit measured in the same run,
// right after each repetition (the machine is shared: its neighbours take
// memory bandwidth and cores in bursts of seconds, so a repetition is compared
// with the limit of its own moment, and the efficiency is the mean of those
// per-repetition ratios):
//   tg: bytes read per token (every weight but the embedding, one embedding
//       row, the state) x t/s / memory read bandwidth (streaming read of a
//       buffer in 2 MiB pages, -t threads)
//   pp: flops per token (2 per weight multiply-add, 9 or 5 per WKV state element;
//       the head counts once per prompt, as only the last logits are computed)
//       x t/s / peak throughput (independent FMA chains, or int8 dot products
//       for Q8_0/Q4_0 models, -t threads)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "../../kernels/kernels.h"
#include "../common.h"
#include "../huge_pages.h"
#include "../rwkv.h"
#include "bench_batch.h"
#include "cli.h"
#include "options.h"

namespace {

struct Stat {
    double mean = 0, sd = 0;
    std::vector<double> samples;
};

Stat stat_of(const std::vector<double>& v) {
    Stat s;
    s.samples = v;
    for (double x : v) s.mean += x;
    s.mean /= (double)v.size();
    for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
    s.sd = v.size() > 1 ? std::sqrt(s.sd / (double)(v.size() - 1)) : 0.0;
    return s;
}

// ---- machine limits, on the same pool the model runs on

struct ProbeJob {
    PeakProbeFn fn;
    int64_t iters;
    double ops[256];
    float sink[256];
};

void probe_task(void* ctx, int64_t t) {
    ProbeJob* j = (ProbeJob*)ctx;
    j->ops[t] = j->fn(j->iters, &j->sink[t]);
}

// ops/s over all threads, best of 3
double measure_peak(ThreadPool* pool, PeakProbeFn fn) {
    const int n = pool_size(pool);
    ProbeJob job{fn, 2000000, {0}, {0}};
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        const double t0 = cli_now();
        pool_run(pool, n, probe_task, &job);
        const double dt = cli_now() - t0;
        double ops = 0;
        for (int i = 0; i < n; i++) ops += job.ops[i];
        best = std::max(best, ops / dt);
    }
    return best;
}

struct ReadJob {
    const float* buf;
    int64_t per_task;
    int streams;
    float sink[256];
};

void read_task(void* ctx, int64_t t) {
    ReadJob* j = (ReadJob*)ctx;
    j->sink[t] = kern.read_sum(j->buf + t * j->per_task, j->per_task, j->streams);
}

// bytes/s of a streaming read of buf (512 MiB, made on the first call) split
// over the threads, each thread's share read as 1, 2, 4 and 8 streams, twice
// each; the best of these (RWKV_PROBE_DEBUG=1 prints them all; which count
// reads fastest depends on the machine, and the GEMVs read several streams).
// The buffer is in 2 MiB pages (huge_pages.h), as --no-mmap's copy of the
// weights is: in 4 KiB pages the probe read less than a --no-mmap tg128 did
// and rated it above 100%. The limit is the best streaming read the machine
// gives, however the model is held.
double measure_bandwidth(ThreadPool* pool, HugeRegion* buf) {
    const int n = pool_size(pool);
    const int64_t total = (512ll << 20) / 4 / (64 * n) * (64 * n);
    if (!buf->data) {
        huge_region_alloc(buf, (size_t)total * 4, "bench: the read probe's buffer");
        std::fill((float*)buf->data, (float*)buf->data + total, 1.0f);
    }
    ReadJob job{(const float*)buf->data, total / n, 1, {0}};
    double best = 0;
    for (int streams : {1, 2, 4, 8}) {
        job.streams = streams;
        for (int rep = 0; rep < 2; rep++) {
            const double t0 = cli_now();
            pool_run(pool, n, read_task, &job);
            const double bw = (double)total * 4 / (cli_now() - t0);
            if (getenv("RWKV_PROBE_DEBUG")) fprintf(stderr, "probe streams %d: %.1f GB/s\n", streams, bw / 1e9);
            best = std::max(best, bw);
        }
    }
    return best;
}

// Whether the model's products take int8 activations (its arithmetic limit
// is then the int8 multiply-add rate, not the FMA rate).
bool model_has_int8_products(const Model& m) {
    for (const GgufTensor& t : m.file.tensors)
        if (t.n_dims >= 2 && kern.matmul[t.type] && kern.act_type[t.type] != GGML_TYPE_F32) return true;
    return false;
}

bool is_unused(const GgufTensor& t) {
    return t.name == "blk.0.time_mix_v0.weight" || t.name == "blk.0.time_mix_v1.weight" ||
           t.name == "blk.0.time_mix_v2.weight";
}

// FLOPs per WKV state element and token, as kernels/wkv_scalar.cpp computes them.
// RWKV-7: 2 for sa = S kk, 5 for S w + sa (kk a)^T + v k^T (kk a once per head
// row), 2 for y = S r. RWKV-5/6: 2 for y += r S, 3 for S w + k v^T.
double wkv_flops_per_state_element(Arch arch) { return arch == ARCH_RWKV7 ? 9.0 : 5.0; }

struct Row {
    std::string test;
    int64_t n_prompt, n_gen;
    Stat ts;
    double eff;          // fraction of the limit
    double bytes;        // tg, gemv: bytes read per token (0: pp)
    std::string limit;   // "39.1 GB/s read" / "350 GFLOP/s FMA"
};

}  // namespace

int cmd_bench(int argc, char** argv) {
    cxxopts::Options o("rwkv-cli bench", "Measure prompt processing (pp) and generation (tg) speed.");
    add_model_options(o);
    add_load_options(o);
    add_thread_option(o);
    o.add_options()
        ("p,n-prompt", "prompt tokens for the pp test (0 = skip)", cxxopts::value<int64_t>()->default_value("512"))
        ("n,n-gen", "generated tokens for the tg test (0 = skip)", cxxopts::value<int64_t>()->default_value("128"))
        ("r,repetitions", "repetitions of each test", cxxopts::value<int>()->default_value("5"))
        ("gemv", "token-mode products alone for this many tokens (0 = skip): tg's ceiling with these kernels",
         cxxopts::value<int64_t>()->default_value("0"))
        ("chunk", "tokens per sequence-mode chunk (default: generate's, 64..512 by the model's size)",
         cxxopts::value<int64_t>())
        ("b,batch", "batch sizes, e.g. 1,2,4,8,16,32: many sequences at once (llama-batched-bench's table: "
         "-p prompt and -n generated tokens per sequence)", cxxopts::value<std::string>())
        ("o,output", "md, json or csv (with -b: md or jsonl)", cxxopts::value<std::string>()->default_value("md"));
    cxxopts::ParseResult r;
    if (!parse_or_help(o, argc, argv, &r)) return 0;
    const int64_t n_prompt = r["n-prompt"].as<int64_t>(), n_gen = r["n-gen"].as<int64_t>();
    const int64_t n_gemv = r["gemv"].as<int64_t>();
    const int reps = r["repetitions"].as<int>();
    const int64_t chunk_opt = r.count("chunk") ? r["chunk"].as<int64_t>() : 0;
    const std::string fmt = r["output"].as<std::string>();
    if (n_prompt < 0 || n_prompt > 1000000) rwkv_fail("--n-prompt must be in 0..1000000");
    if (n_gen < 0 || n_gen > 1000000) rwkv_fail("--n-gen must be in 0..1000000");
    if (n_gemv < 0 || n_gemv > 1000000) rwkv_fail("--gemv must be in 0..1000000");
    if (reps < 1 || reps > 1000) rwkv_fail("--repetitions must be in 1..1000");
    if (r.count("chunk") && (chunk_opt < 1 || chunk_opt > 4096)) rwkv_fail("--chunk must be in 1..4096");
    std::vector<int64_t> batch_sizes;
    if (r.count("batch")) {
        for (int32_t b : cli_parse_token_list(r["batch"].as<std::string>(), "--batch")) {
            if (b < 1 || b > 4096) rwkv_fail("--batch sizes must be in 1..4096 (got %d)", b);
            batch_sizes.push_back(b);
        }
        if (batch_sizes.empty()) rwkv_fail("--batch needs at least one size");
        if (fmt != "md" && fmt != "jsonl") rwkv_fail("--output with --batch must be md or jsonl (got '%s')", fmt.c_str());
    } else if (fmt != "md" && fmt != "json" && fmt != "csv") {
        rwkv_fail("--output must be md, json or csv (got '%s')", fmt.c_str());
    }
    const int n_threads_opt = threads_option(r);

    LoadedModel lm;
    const bool use_mmap = load_mode_option(r) == GGUF_MAP;
    cli_load_model(&lm, r["model"].as<std::string>(), isa_option(r), use_mmap ? GGUF_MAP : GGUF_COPY, act_option(r));
    const Model& m = lm.model;
    const int64_t chunk = chunk_opt ? chunk_opt : rwkv_default_chunk(&m);
    RwkvContext ctx;
    rwkv_context_init(&ctx, &m, chunk, n_threads_opt);
    RwkvState state;
    rwkv_state_init(&state, &m);
    const int n_threads = pool_size(ctx.pool);
    if (!batch_sizes.empty()) {
        const std::string out = bench_batched(&ctx, batch_sizes, n_prompt, n_gen, reps, fmt);
        cli_write(1, out.data(), out.size());
        return 0;
    }

    // What one token costs.
    double weight_bytes = 0, macs = 0, head_macs = 0;
    for (const GgufTensor& t : m.file.tensors) {
        if (is_unused(t)) continue;
        if (t.name == "token_embd.weight") {
            weight_bytes += (double)ggml_row_size(t.type, t.ne[0]);
            continue;
        }
        weight_bytes += (double)t.nbytes;
    }
    // multiply-adds: the matrices the forward pass multiplies by (RWKV-6's
    // time_mix_w2 [D, C, 5] is five; 2-D tensors read element-wise are none)
    for (const Matrix* W : model_matrices(&lm.model)) macs += (double)W->n_in * (double)W->n_out;
    head_macs = (double)m.head.n_in * (double)m.head.n_out;
    const double state_bytes = (double)state.data.size() * 4;
    const double bytes_per_token = weight_bytes + state_bytes;
    // In pp the head runs once per prompt (only the last logits are needed).
    const double flops_per_token = 2 * (macs - head_macs) +
                                   wkv_flops_per_state_element(m.arch) * (double)(m.n_layer * m.n_embd * m.head_size) +
                                   2 * head_macs / (double)std::max<int64_t>(n_prompt, 1);
    const bool quant = model_has_int8_products(m);

    fprintf(stderr, "rwkv-cli bench: measuring this machine's limits with %d threads after each repetition...\n",
            n_threads);
    const char* peak_unit = quant ? "GOP/s int8" : "GFLOP/s FMA";
    auto peak_now = [&] { return measure_peak(ctx.pool, quant ? kern.peak_int8 : kern.peak_fma); };
    HugeRegion read_buf;  // the read probe's buffer, allocated once
    auto bandwidth_now = [&] { return measure_bandwidth(ctx.pool, &read_buf); };

    // Deterministic pseudo-random tokens (never 0, the end-of-text token).
    std::vector<int32_t> tokens((size_t)std::max<int64_t>(n_prompt, 1));
    uint64_t rng = 12345;
    for (int32_t& t : tokens) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        t = (int32_t)(1 + (rng >> 33) % (uint64_t)(m.n_vocab - 1));
    }
    std::vector<float> logits((size_t)m.n_vocab);

    // Each test's rows: the efficiency of a repetition against the limit
    // measured right after it; the row shows their means. Returns the mean limit.
    std::vector<Row> rows;
    double bandwidth = 0, peak = 0;  // the limits' means (JSON), 0 where the test was skipped
    auto add_row = [&](const std::string& test, int64_t np, int64_t ng, const std::vector<double>& ts,
                       const std::vector<double>& limits, double cost, const char* unit_name, double bytes) -> double {
        double eff = 0, limit = 0;
        for (size_t i = 0; i < ts.size(); i++) {
            eff += cost * ts[i] / limits[i];
            limit += limits[i];
        }
        eff /= (double)ts.size();
        limit /= (double)ts.size();
        rows.push_back(
            Row{test, np, ng, stat_of(ts), eff, bytes, strprintf("%.*f %s", ng > 0 ? 1 : 0, limit / 1e9, unit_name)});
        return limit;
    };
    if (n_prompt > 0) {
        std::vector<double> ts, limits;
        for (int rep = -1; rep < reps; rep++) {  // rep -1 warms the caches and the pool up
            rwkv_state_reset(&state);
            const double t0 = cli_now();
            rwkv_eval(&ctx, &state, tokens.data(), n_prompt, logits.data(), nullptr);
            if (rep < 0) continue;
            ts.push_back((double)n_prompt / (cli_now() - t0));
            limits.push_back(peak_now());
        }
        peak = add_row("pp" + std::to_string(n_prompt), n_prompt, 0, ts, limits, flops_per_token, peak_unit, 0);
    }
    if (n_gen > 0) {
        std::vector<double> ts, limits;
        for (int rep = -1; rep < reps; rep++) {
            rwkv_state_reset(&state);
            int32_t tok = tokens[0];
            const double t0 = cli_now();
            for (int64_t i = 0; i < n_gen; i++) {
                rwkv_eval(&ctx, &state, &tok, 1, logits.data(), nullptr);
                tok = tokens[(size_t)(i + 1) % tokens.size()];
            }
            if (rep < 0) continue;
            ts.push_back((double)n_gen / (cli_now() - t0));
            limits.push_back(bandwidth_now());
        }
        bandwidth = add_row("tg" + std::to_string(n_gen), 0, n_gen, ts, limits, bytes_per_token, "GB/s read",
                            bytes_per_token);
    }
    if (n_gemv > 0) {
        const std::vector<Matrix*> mats = model_matrices(&lm.model);
        double gemv_bytes = 0;
        int64_t max_in = 0, max_out = 0;
        for (const Matrix* W : mats) {
            gemv_bytes += (double)matrix_bytes(*W);
            max_in = std::max(max_in, W->n_in);
            max_out = std::max(max_out, W->n_out);
        }
        std::vector<float> x((size_t)max_in, 0.01f), y((size_t)max_out);
        std::vector<double> ts, limits;
        for (int rep = -1; rep < reps; rep++) {
            const double t0 = cli_now();
            for (int64_t i = 0; i < n_gemv; i++)
                for (const Matrix* W : mats) parallel_matmul(ctx.pool, &ctx.scratch.mm, *W, x.data(), 1, y.data());
            if (rep < 0) continue;
            ts.push_back((double)n_gemv / (cli_now() - t0));
            limits.push_back(bandwidth_now());
        }
        const double limit = add_row("gemv" + std::to_string(n_gemv), 0, n_gemv, ts, limits, gemv_bytes, "GB/s read",
                                     gemv_bytes);
        if (bandwidth == 0) bandwidth = limit;
    }

    const std::string type = model_type_summary(&m);
    const int64_t n_params = model_n_params(&m);
    const double size = (double)m.file.size;
    const std::string name = strprintf("%s %.0fM %s", m.arch_name.c_str(), (double)n_params / 1e6, type.c_str());
    std::string out;
    if (fmt == "md") {
        out += "| model | size | params | isa | threads | test | t/s | efficiency |\n";
        out += "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n";
        for (const Row& row : rows)
            out += strprintf("| %s | %.2f MiB | %.2f M | %s | %d | %s | %.2f ± %.2f | %.1f%% of %s |\n", name.c_str(),
                             size / (1 << 20), (double)n_params / 1e6, kern.isa, n_threads, row.test.c_str(),
                             row.ts.mean, row.ts.sd, 100 * row.eff, row.limit.c_str());
    } else if (fmt == "csv") {
        out += "model_type,model_size,model_n_params,isa,n_threads,n_prompt,n_gen,test,avg_ts,stddev_ts,efficiency,limit,use_mmap\n";
        for (const Row& row : rows)
            out += strprintf("\"%s\",%.0f,%lld,%s,%d,%lld,%lld,%s,%.6f,%.6f,%.4f,\"%s\",%d\n", name.c_str(), size,
                             (long long)n_params, kern.isa, n_threads, (long long)row.n_prompt, (long long)row.n_gen,
                             row.test.c_str(), row.ts.mean, row.ts.sd, row.eff, row.limit.c_str(), use_mmap ? 1 : 0);
    } else {
        // llama-bench's field names where it has them; the byte, flop and limit figures are whole numbers.
        nlohmann::ordered_json list = nlohmann::ordered_json::array();  // fields in this order
        for (const Row& row : rows)
            list.push_back({{"model_type", name},
                            {"model_size", (int64_t)size},
                            {"model_n_params", n_params},
                            {"isa", kern.isa},
                            {"n_threads", n_threads},
                            {"n_prompt", row.n_prompt},
                            {"n_gen", row.n_gen},
                            {"test", row.test},
                            {"avg_ts", row.ts.mean},
                            {"stddev_ts", row.ts.sd},
                            {"samples_ts", row.ts.samples},
                            {"efficiency", row.eff},
                            {"limit", row.limit},
                            {"bytes_per_token", std::llround(row.bytes > 0 ? row.bytes : bytes_per_token)},
                            {"flops_per_token", std::llround(flops_per_token)},
                            {"bandwidth_bytes_per_s", std::llround(bandwidth)},
                            {"peak_ops_per_s", std::llround(peak)},
                            {"use_mmap", use_mmap}});
        out = list.dump(2) + "\n";
    }
    huge_region_free(&read_buf);
    cli_write(1, out.data(), out.size());
    return 0;
}
