// generate.cpp - rwkv-cli generate: stream a continuation of a prompt.
#include <cmath>
#include <cstdio>
#include <cstring>

#include "../../kernels/kernels.h"
#include "../common.h"
#include "../rwkv.h"
#include "../sampler.h"
#include "cli.h"
#include "options.h"

// Output filter for --stop: holds back text that might be the start of the
// stop string, so the stop string itself is never printed.
struct StopFilter {
    std::string stop;
    std::string pending;
    bool stopped = false;
};

// Feed bytes; returns the bytes that are safe to print.
static std::string stop_filter_push(StopFilter* f, const std::string& bytes) {
    if (f->stop.empty()) return bytes;
    f->pending += bytes;
    size_t at = f->pending.find(f->stop);
    if (at != std::string::npos) {
        f->stopped = true;
        std::string out = f->pending.substr(0, at);
        f->pending.clear();
        return out;
    }
    // Keep the longest tail of pending that is a prefix of stop.
    size_t keep = std::min(f->pending.size(), f->stop.size() - 1);
    while (keep > 0 && f->pending.compare(f->pending.size() - keep, keep, f->stop, 0, keep) != 0) keep--;
    std::string out = f->pending.substr(0, f->pending.size() - keep);
    f->pending.erase(0, f->pending.size() - keep);
    return out;
}

int cmd_generate(int argc, char** argv) {
    cxxopts::Options o("rwkv-cli generate", "Generate text from a prompt (the argument, or stdin if none or '-').");
    add_model_options(o);
    add_thread_option(o);
    o.add_options()
        ("n,n-predict", "tokens to generate", cxxopts::value<int64_t>()->default_value("128"))
        ("temp", "temperature; 0 = greedy", cxxopts::value<float>()->default_value("1.0"))
        ("top-p", "nucleus sampling mass", cxxopts::value<float>()->default_value("0.85"))
        ("top-k", "keep only the k most likely tokens (0 = off)", cxxopts::value<int32_t>()->default_value("0"))
        ("presence-penalty", "subtracted from a generated token's logit", cxxopts::value<float>()->default_value("0.2"))
        ("frequency-penalty", "subtracted per (decayed) occurrence", cxxopts::value<float>()->default_value("0.2"))
        ("penalty-decay", "occurrence counts decay by this per token", cxxopts::value<float>()->default_value("0.996"))
        ("seed", "random seed (same seed, same text)", cxxopts::value<uint64_t>()->default_value("42"))
        ("stop", "stop when the output contains this string (not printed)", cxxopts::value<std::string>()->default_value(""))
        ("no-display-prompt", "do not echo the prompt")
        ("prompt", "prompt", cxxopts::value<std::vector<std::string>>());
    o.parse_positional({"prompt"});
    o.positional_help("[PROMPT]");
    cxxopts::ParseResult r;
    if (!parse_or_help(o, argc, argv, &r)) return 0;

    SamplerParams sp;
    const int64_t n_predict = r["n-predict"].as<int64_t>();
    sp.temp = r["temp"].as<float>();
    sp.top_p = r["top-p"].as<float>();
    sp.top_k = r["top-k"].as<int32_t>();
    sp.presence_penalty = r["presence-penalty"].as<float>();
    sp.frequency_penalty = r["frequency-penalty"].as<float>();
    sp.penalty_decay = r["penalty-decay"].as<float>();
    sp.seed = r["seed"].as<uint64_t>();
    if (n_predict < 0) rwkv_fail("--n-predict must be >= 0 (got %lld)", (long long)n_predict);
    if (!(sp.temp >= 0.0f && std::isfinite(sp.temp))) rwkv_fail("--temp must be a finite number >= 0");
    if (!(sp.top_p > 0.0f && sp.top_p <= 1.0f)) rwkv_fail("--top-p must be in (0, 1]");
    if (sp.top_k < 0) rwkv_fail("--top-k must be >= 0");
    if (!std::isfinite(sp.presence_penalty) || !std::isfinite(sp.frequency_penalty))
        rwkv_fail("--presence-penalty and --frequency-penalty must be finite");
    if (!(sp.penalty_decay >= 0.0f && sp.penalty_decay <= 1.0f)) rwkv_fail("--penalty-decay must be in [0, 1]");
    const int n_threads = threads_option(r);

    std::string prompt;
    if (r.count("prompt")) {
        const auto& parts = r["prompt"].as<std::vector<std::string>>();
        if (parts.size() > 1) rwkv_fail("expected one PROMPT argument, got %zu (quote the prompt)", parts.size());
        prompt = parts[0];
        if (prompt == "-") prompt = cli_read_stdin();
    } else {
        prompt = cli_read_stdin();
    }

    LoadedModel lm;
    cli_load_model(&lm, r["model"].as<std::string>(), isa_option(r));
    const Model& m = lm.model;

    std::vector<int32_t> tokens;
    world_tokenizer_encode(&lm.tok, (const uint8_t*)prompt.data(), prompt.size(), &tokens);
    // An empty prompt starts a new document: token 0 separates documents in training.
    if (tokens.empty()) tokens.push_back(0);

    if (!r.count("no-display-prompt")) cli_write(1, prompt.data(), prompt.size());

    RwkvContext ctx;
    rwkv_context_init(&ctx, &m, 64, n_threads);
    Sampler sampler;
    sampler_init(&sampler, sp, m.n_vocab);
    std::vector<float> logits((size_t)m.n_vocab);

    const double t0 = cli_now();
    rwkv_eval(&ctx, tokens.data(), (int64_t)tokens.size(), logits.data(), nullptr);
    const double t1 = cli_now();

    Utf8Stream utf8;
    StopFilter stop;
    stop.stop = r["stop"].as<std::string>();
    std::string text;
    int64_t n_gen = 0;
    while (n_gen < n_predict) {
        for (int64_t i = 0; i < m.n_vocab; i++)
            if (!std::isfinite(logits[(size_t)i]))
                rwkv_fail("the model produced a non-finite logit (token %lld) after %lld generated tokens; "
                          "the weights may be corrupt", (long long)i, (long long)n_gen);
        int32_t tok = sampler_sample(&sampler, logits.data());
        if (tok == 0) break;  // end of text
        n_gen++;
        const std::string& bytes = world_tokenizer_token_bytes(&lm.tok, tok);
        text.clear();
        utf8_stream_push(&utf8, bytes.data(), bytes.size(), &text);
        std::string out = stop_filter_push(&stop, text);
        cli_write(1, out.data(), out.size());
        if (stop.stopped) break;
        if (n_gen < n_predict) rwkv_eval(&ctx, &tok, 1, logits.data(), nullptr);
    }
    if (!stop.stopped) {
        text.clear();
        utf8_stream_flush(&utf8, &text);
        std::string out = stop_filter_push(&stop, text);
        out += stop.pending;  // a partial stop string at the very end is plain text
        cli_write(1, out.data(), out.size());
    }
    const double t2 = cli_now();

    fprintf(stderr, "\nrwkv-cli: prompt %zu tokens in %.3f s (%.1f t/s), generated %lld tokens in %.3f s (%.1f t/s), kernels %s, %d threads\n",
            tokens.size(), t1 - t0, (double)tokens.size() / std::max(t1 - t0, 1e-9), (long long)n_gen, t2 - t1,
            (double)n_gen / std::max(t2 - t1, 1e-9), kern.isa, pool_size(ctx.pool));
    return 0;
}
