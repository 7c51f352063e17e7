// logits.cpp - rwkv-cli logits: the raw numbers, for checking the engine
// against a reference. Output: little-endian float32, n_vocab per row; one row
// (the last position) or, with --all, one row per input token.
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "../common.h"
#include "../rwkv.h"
#include "../state_file.h"
#include "cli.h"
#include "options.h"

int cmd_logits(int argc, char** argv) {
    cxxopts::Options o("rwkv-cli logits", "Write float32 logits of a prompt or a token list to a file.");
    add_model_options(o);
    add_load_options(o);
    add_thread_option(o);
    add_state_options(o);
    o.add_options()
        ("prompt", "text to tokenize and evaluate", cxxopts::value<std::string>())
        ("tokens", "comma-separated token ids to evaluate", cxxopts::value<std::string>())
        ("all", "write a row per position (row t after token t), not just the last")
        ("token-mode", "evaluate one token at a time instead of in sequence mode")
        ("chunk", "tokens per sequence-mode chunk", cxxopts::value<int64_t>()->default_value("128"))
        ("o,output", "output file ('-' for stdout)", cxxopts::value<std::string>());
    cxxopts::ParseResult r;
    if (!parse_or_help(o, argc, argv, &r)) return 0;
    if (r.count("prompt") + r.count("tokens") != 1) rwkv_fail("give exactly one of --prompt TEXT and --tokens IDS");
    if (!r.count("output")) rwkv_fail("missing -o/--output FILE");
    const int64_t chunk = r["chunk"].as<int64_t>();
    const int n_threads = threads_option(r);
    if (chunk < 1 || chunk > 4096) rwkv_fail("--chunk must be in 1..4096 (got %lld)", (long long)chunk);

    LoadedModel lm;
    cli_load_model(&lm, r["model"].as<std::string>(), isa_option(r), load_mode_option(r), act_option(r));
    const Model& m = lm.model;

    std::vector<int32_t> tokens;
    if (r.count("tokens")) {
        tokens = cli_parse_token_list(r["tokens"].as<std::string>(), "--tokens");
    } else {
        const std::string& p = r["prompt"].as<std::string>();
        world_tokenizer_encode(&lm.tok, (const uint8_t*)p.data(), p.size(), &tokens);
        if (tokens.empty()) rwkv_fail("--prompt: the prompt is empty");
    }
    const int64_t T = (int64_t)tokens.size(), V = m.n_vocab;
    const bool all = r.count("all") > 0;

    RwkvContext ctx;
    rwkv_context_init(&ctx, &m, chunk, n_threads);
    RwkvState state;
    rwkv_state_init(&state, &m);
    const std::string state_in = r["state-in"].as<std::string>(), state_out = r["state-out"].as<std::string>();
    if (!state_in.empty()) state_load(state_in.c_str(), &m, &state);
    std::vector<float> out((size_t)(all ? T * V : V));
    if (r.count("token-mode")) {
        for (int64_t t = 0; t < T; t++)
            rwkv_eval(&ctx, &state, &tokens[(size_t)t], 1, all ? out.data() + t * V : out.data(), nullptr);
    } else {
        rwkv_eval(&ctx, &state, tokens.data(), T, all ? nullptr : out.data(), all ? out.data() : nullptr);
    }

    if (!state_out.empty()) state_save(state_out.c_str(), &m, &state);
    const std::string& path = r["output"].as<std::string>();
    if (path == "-") {
        cli_write(1, out.data(), out.size() * sizeof(float));
        return 0;
    }
    FILE* f = fopen(path.c_str(), "wb");
    if (!f) rwkv_fail("%s: cannot create: %s", path.c_str(), strerror(errno));
    size_t w = fwrite(out.data(), sizeof(float), out.size(), f);
    if (fclose(f) != 0 || w != out.size()) rwkv_fail("%s: write failed", path.c_str());
    return 0;
}
