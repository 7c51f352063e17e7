// bench_batch.cpp - rwkv-cli bench -b 1,2,4,...: many sequences at once, in
// the image of llama.cpp's llama-batched-bench.
//
// For each batch size B: B sequences of P prompt tokens go through
// rwkv_eval_batch together (prompt processing, S_PP = B P / T_PP), then N
// steps of one token for each of the B sequences (generation, S_TG = B N /
// T_TG: every step reads the weights once for all B). RWKV's state is fixed
// in size, so a step's cost does not grow with the tokens before it, and
// S_TG grows with B until the arithmetic, not the reading of the weights,
// binds: a step over B rows is a matrix product like a prompt chunk, so the
// prompt rate S_PP is the ceiling that S_TG approaches.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "../../kernels/kernels.h"
#include "../common.h"
#include "bench_batch.h"
#include "cli.h"

namespace {

struct BatchRow {
    int64_t pp, tg, pl;
    double t_pp, t_tg;
};

}  // namespace

std::string bench_batched(RwkvContext* ctx, const std::vector<int64_t>& batch_sizes, int64_t n_prompt, int64_t n_gen,
                          int reps, const std::string& fmt) {
    const Model& m = *ctx->model;
    const int64_t V = m.n_vocab;
    std::vector<BatchRow> rows;
    for (int64_t B : batch_sizes) {
        std::vector<RwkvState> states((size_t)B);
        for (RwkvState& s : states) rwkv_state_init(&s, &m);
        // Deterministic pseudo-random tokens, never 0 (end of text), a
        // different prompt per sequence.
        std::vector<int32_t> tokens((size_t)(B * std::max<int64_t>(n_prompt, 1) + n_gen * B));
        uint64_t rng = 12345;
        for (int32_t& t : tokens) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            t = (int32_t)(1 + (rng >> 33) % (uint64_t)(V - 1));
        }
        std::vector<float> logits((size_t)(B * V));
        std::vector<RwkvSeq> seqs((size_t)B);
        double t_pp = 0, t_tg = 0;
        for (int rep = -1; rep < reps; rep++) {  // rep -1 warms the caches and the pool up
            for (RwkvState& s : states) rwkv_state_reset(&s);
            double t0 = cli_now();
            if (n_prompt > 0) {
                for (int64_t b = 0; b < B; b++)
                    seqs[(size_t)b] = RwkvSeq{&states[(size_t)b], tokens.data() + b * n_prompt, n_prompt,
                                              logits.data() + b * V, nullptr};
                rwkv_eval_batch(ctx, seqs.data(), B);
            }
            const double t1 = cli_now();
            const int32_t* gen = tokens.data() + B * n_prompt;
            for (int64_t i = 0; i < n_gen; i++) {
                for (int64_t b = 0; b < B; b++)
                    seqs[(size_t)b] = RwkvSeq{&states[(size_t)b], gen + i * B + b, 1, logits.data() + b * V, nullptr};
                rwkv_eval_batch(ctx, seqs.data(), B);
            }
            const double t2 = cli_now();
            if (rep < 0) continue;
            t_pp += t1 - t0;
            t_tg += t2 - t1;
            (void)t0;
        }
        rows.push_back(BatchRow{n_prompt, n_gen, B, t_pp / reps, t_tg / reps});
        fprintf(stderr, "rwkv-cli bench: B = %lld done\n", (long long)B);
    }

    // The efficiency columns: generation against B = 1 (how much a shared
    // read of the weights buys) and against the prompt rate of one sequence
    // (the ceiling when arithmetic binds).
    const BatchRow* one = nullptr;
    for (const BatchRow& r : rows)
        if (r.pl == 1) one = &r;
    auto rate = [](double tokens, double t) { return t > 0 ? tokens / t : 0.0; };
    const double tg1 = one ? rate((double)one->tg, one->t_tg) : 0.0;
    const double pp1 = one ? rate((double)one->pp, one->t_pp) : 0.0;
    std::string out;
    if (fmt == "jsonl") {
        for (const BatchRow& r : rows) {
            const double n_pp = (double)(r.pl * r.pp), n_tg = (double)(r.pl * r.tg);
            nlohmann::json j = {
                {"pp", r.pp},
                {"tg", r.tg},
                {"pl", r.pl},
                {"n_kv", r.pp + r.tg},
                {"t_pp", r.t_pp},
                {"speed_pp", rate(n_pp, r.t_pp)},
                {"t_tg", r.t_tg},
                {"speed_tg", rate(n_tg, r.t_tg)},
                {"speed_tg_per_seq", rate((double)r.tg, r.t_tg)},
                {"t", r.t_pp + r.t_tg},
                {"speed", rate(n_pp + n_tg, r.t_pp + r.t_tg)},
                {"tg_vs_b1", tg1 > 0 ? rate(n_tg, r.t_tg) / tg1 : 0.0},
                {"tg_vs_pp_b1", pp1 > 0 ? rate(n_tg, r.t_tg) / pp1 : 0.0},
                {"n_threads", pool_size(ctx->pool)},
                {"isa", kern.isa},
            };
            out += j.dump() + "\n";
        }
        return out;
    }
    out += strprintf("%s, %d threads, %s kernels\n\n", model_type_summary(&m).c_str(), pool_size(ctx->pool),
                     kern.isa);
    out += "|    PP |    TG |    B |   T_PP s |  S_PP t/s |   T_TG s |  S_TG t/s | S_TG/seq |      T s |    S t/s | TG x B=1 | TG / PP(B=1) |\n";
    out += "|------:|------:|-----:|---------:|----------:|---------:|----------:|---------:|---------:|---------:|---------:|-------------:|\n";
    for (const BatchRow& r : rows) {
        const double n_pp = (double)(r.pl * r.pp), n_tg = (double)(r.pl * r.tg);
        const double s_tg = rate(n_tg, r.t_tg);
        out += strprintf("| %5lld | %5lld | %4lld | %8.3f | %9.2f | %8.3f | %9.2f | %8.2f | %8.3f | %8.2f | %7.2fx | %11.0f%% |\n",
                         (long long)r.pp, (long long)r.tg, (long long)r.pl, r.t_pp, rate(n_pp, r.t_pp), r.t_tg, s_tg,
                         rate((double)r.tg, r.t_tg), r.t_pp + r.t_tg, rate(n_pp + n_tg, r.t_pp + r.t_tg),
                         tg1 > 0 ? s_tg / tg1 : 0.0, pp1 > 0 ? 100 * s_tg / pp1 : 0.0);
    }
    return out;
}
