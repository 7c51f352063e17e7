// generate.cpp - rwkv-cli generate: stream a continuation of a prompt.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include "../../kernels/kernels.h"
#include "../common.h"
#include "../rwkv.h"
#include "../sampler.h"
#include "../state_file.h"
#include "cli.h"
#include "options.h"

int cmd_generate(int argc, char** argv) {
    cxxopts::Options o("rwkv-cli generate", "Generate text from a prompt (the argument, or stdin if none or '-').");
    add_model_options(o);
    add_load_options(o);
    add_thread_option(o);
    add_state_options(o);
    add_sampling_options(o, SamplerParams());
    o.add_options()
        ("n,n-predict", "tokens to generate", cxxopts::value<int64_t>()->default_value("128"))
        ("stop", "stop when the output contains this string (not printed)", cxxopts::value<std::string>()->default_value(""))
        ("no-display-prompt", "do not echo the prompt")
        ("q,quiet", "no progress line and no speed summary on stderr")
        ("prompt", "prompt", cxxopts::value<std::vector<std::string>>());
    o.parse_positional({"prompt"});
    o.positional_help("[PROMPT]");
    cxxopts::ParseResult r;
    if (!parse_or_help(o, argc, argv, &r)) return 0;

    const SamplerParams sp = sampling_options(r);
    const int64_t n_predict = r["n-predict"].as<int64_t>();
    if (n_predict < 0) rwkv_fail("--n-predict must be >= 0 (got %lld)", (long long)n_predict);
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
    cli_load_model(&lm, r["model"].as<std::string>(), isa_option(r), load_mode_option(r), act_option(r));
    const Model& m = lm.model;

    std::vector<int32_t> tokens;
    world_tokenizer_encode(&lm.tok, (const uint8_t*)prompt.data(), prompt.size(), &tokens);
    const std::string state_in = r["state-in"].as<std::string>(), state_out = r["state-out"].as<std::string>();
    // An empty prompt starts a new document: token 0 separates documents in training.
    if (tokens.empty()) {
        if (!state_in.empty()) rwkv_fail("--state-in needs a non-empty prompt to continue from");
        tokens.push_back(0);
    }

    RwkvContext ctx;
    const int64_t chunk = rwkv_default_chunk(&m);
    rwkv_context_init(&ctx, &m, chunk, n_threads);
    GenParams gp;
    gp.sampling = sp;
    gp.n_predict = n_predict;
    gp.stop = {r["stop"].as<std::string>()};
    GenSeq seq;
    gen_init(&seq, &m, &lm.tok, gp);
    if (!state_in.empty()) state_load(state_in.c_str(), &m, &seq.state);
    gen_set_prompt(&seq, tokens.data(), (int64_t)tokens.size());
    GenSeq* const one[1] = {&seq};

    cli_catch_sigint();
    const double t0 = cli_now();
    // The prompt is echoed first (as llama.cpp does), then processed a chunk
    // per step, so Ctrl-C is noticed during a long one too. A long one shows
    // its progress when stderr is a terminal that the echoed prompt is not
    // being written to (the progress line would overwrite its last line).
    const bool echo = !r.count("no-display-prompt");
    if (echo) cli_write(1, prompt.data(), prompt.size());
    const bool quiet = r.count("quiet") > 0;
    const bool progress =
        !quiet && isatty(2) && !(echo && isatty(1)) && tokens.size() > (size_t)(8 * chunk);
    double shown = t0;
    while (seq.phase == GEN_PREFILL && !cli_interrupted()) {
        gen_step(&ctx, one, 1);
        if (progress && cli_now() - shown > 0.2) {
            shown = cli_now();
            fprintf(stderr, "\rrwkv-cli: prompt %lld / %zu tokens (%.0f t/s)", (long long)seq.n_prompt_fed,
                    tokens.size(), (double)seq.n_prompt_fed / (shown - t0));
        }
    }
    if (progress) fprintf(stderr, "\r\033[K");
    const double t1 = cli_now();

    cli_generate_stream(&ctx, &seq);
    const int64_t n_gen = (int64_t)seq.generated.size();
    const double t2 = cli_now();
    if (!state_out.empty()) state_save(state_out.c_str(), &m, &seq.state);

    if (!quiet)
        fprintf(stderr, "\nrwkv-cli: prompt %zu tokens in %.3f s (%.1f t/s), generated %lld tokens in %.3f s (%.1f t/s), kernels %s, %d threads\n",
            tokens.size(), t1 - t0, (double)tokens.size() / std::max(t1 - t0, 1e-9), (long long)n_gen, t2 - t1,
            (double)n_gen / std::max(t2 - t1, 1e-9), kern.isa, pool_size(ctx.pool));
    if (cli_interrupted()) {
        fprintf(stderr, "rwkv-cli: interrupted\n");
        return EXIT_INTERRUPTED;
    }
    return 0;
}
