// perplexity.cpp - rwkv-cli perplexity -m MODEL -f FILE: how well the model
// predicts a text, as perplexity and bits per byte.
//
// The text is read, tokenized and evaluated in pieces, carried through the
// recurrent state: memory does not grow with the file. Every token after the
// first is scored by the log-probability the model gave it after the tokens
// before it (an RNN sees the whole history, so there is no context window to
// slide). bits per byte = total negative log-likelihood / ln 2 / bytes scored,
// which compares models with different tokenizers.
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "../common.h"
#include "../rwkv.h"
#include "../state_file.h"
#include "cli.h"
#include "options.h"

int cmd_perplexity(int argc, char** argv) {
    cxxopts::Options o("rwkv-cli perplexity", "Perplexity and bits per byte of a model on a text file.");
    add_model_options(o);
    add_load_options(o);
    add_thread_option(o);
    add_state_options(o);
    o.add_options()
        ("f,file", "the text ('-' for stdin)", cxxopts::value<std::string>())
        ("chunk", "tokens per sequence-mode pass", cxxopts::value<int64_t>()->default_value("128"))
        ("q,quiet", "no progress bar");
    cxxopts::ParseResult r;
    if (!parse_or_help(o, argc, argv, &r)) return 0;
    if (!r.count("file")) rwkv_fail("missing -f/--file FILE");
    const int64_t chunk = r["chunk"].as<int64_t>();
    if (chunk < 1 || chunk > 4096) rwkv_fail("--chunk must be in 1..4096");
    const std::string path = r["file"].as<std::string>();
    const int n_threads = threads_option(r);

    LoadedModel lm;
    cli_load_model(&lm, r["model"].as<std::string>(), isa_option(r), load_mode_option(r), act_option(r));
    const Model& m = lm.model;
    RwkvContext ctx;
    rwkv_context_init(&ctx, &m, chunk, n_threads);
    RwkvState state;
    rwkv_state_init(&state, &m);
    const std::string state_in = r["state-in"].as<std::string>(), state_out = r["state-out"].as<std::string>();
    if (!state_in.empty()) state_load(state_in.c_str(), &m, &state);

    FILE* f = path == "-" ? stdin : fopen(path.c_str(), "rb");
    if (!f) rwkv_fail("%s: cannot open: %s", path.c_str(), strerror(errno));
    long file_size = -1;
    if (f != stdin && fseek(f, 0, SEEK_END) == 0) {
        file_size = ftell(f);
        fseek(f, 0, SEEK_SET);
    }
    const bool progress = !r.count("quiet") && isatty(2);

    const int64_t V = m.n_vocab;
    std::vector<float> logits((size_t)(chunk * V));
    std::vector<int32_t> pending;   // tokens not yet evaluated
    std::string text;               // bytes not yet tokenized for good
    std::vector<int32_t> ids;
    std::vector<char> buf(1 << 16);
    double nll = 0.0;
    int64_t n_scored = 0, bytes_scored = 0, bytes_read = 0;
    int32_t prev = -1;              // the last token evaluated (its logits are in `last`)
    std::vector<float> last((size_t)V);
    bool eof = false;
    const double t0 = cli_now();

    // log p(token | history) from one row of logits
    auto score = [&](const float* row, int32_t token) {
        nll -= cli_log_prob(row, V, token);
        n_scored++;
        bytes_scored += (int64_t)world_tokenizer_token_bytes(&lm.tok, token).size();
    };

    while (!eof || !pending.empty()) {
        // Tokenize more text. Greedy longest match can still change its mind
        // about the last max_token_len bytes, so those wait for more text.
        if (!eof && (int64_t)pending.size() < chunk) {
            size_t n = fread(buf.data(), 1, buf.size(), f);
            if (n < buf.size()) {
                if (ferror(f)) rwkv_fail("%s: read error", path.c_str());
                eof = true;
            }
            bytes_read += (int64_t)n;
            text.append(buf.data(), n);
            ids.clear();
            world_tokenizer_encode(&lm.tok, (const uint8_t*)text.data(), text.size(), &ids);
            size_t keep_from = text.size(), used = 0, n_final = ids.size();
            if (!eof) {
                // Take tokens while they end before the undecided tail.
                const size_t limit = text.size() > lm.tok.max_token_len ? text.size() - lm.tok.max_token_len : 0;
                n_final = 0;
                for (int32_t id : ids) {
                    const size_t len = world_tokenizer_token_bytes(&lm.tok, id).size();
                    if (used + len > limit) break;
                    used += len;
                    n_final++;
                }
                keep_from = used;
            }
            pending.insert(pending.end(), ids.begin(), ids.begin() + (long)n_final);
            text.erase(0, keep_from);
            continue;
        }
        const int64_t n = std::min<int64_t>(chunk, (int64_t)pending.size());
        if (n == 0) break;
        // The logits before pending[0] score it; each row t scores pending[t+1].
        if (prev >= 0) score(last.data(), pending[0]);
        rwkv_eval(&ctx, &state, pending.data(), n, nullptr, logits.data());
        for (int64_t t = 0; t + 1 < n; t++) score(logits.data() + t * V, pending[(size_t)t + 1]);
        memcpy(last.data(), logits.data() + (n - 1) * V, (size_t)V * sizeof(float));
        prev = pending[(size_t)n - 1];
        pending.erase(pending.begin(), pending.begin() + n);
        if (progress && n_scored > 0) {
            const double done = file_size > 0 ? (double)(bytes_read - (int64_t)text.size()) / (double)file_size : 0.0;
            fprintf(stderr, "\r[%-40s] %5.1f%%  %lld tokens  ppl %.4f  bpb %.4f", std::string((size_t)(40 * done), '#').c_str(),
                    100 * done, (long long)n_scored, std::exp(nll / (double)n_scored), nll / std::log(2.0) / (double)bytes_scored);
        }
    }
    if (f != stdin) fclose(f);
    if (progress) fprintf(stderr, "\n");
    if (n_scored == 0) rwkv_fail("%s: too short: at least two tokens are needed", path.c_str());
    if (!state_out.empty()) state_save(state_out.c_str(), &m, &state);
    const double secs = cli_now() - t0;
    std::string out = strprintf(
        "tokens scored: %lld\nbytes scored: %lld\nnll per token: %.6f nats\nperplexity: %.4f\nbits per byte: %.4f\n"
        "speed: %.1f tokens/s\n",
        (long long)n_scored, (long long)bytes_scored, nll / (double)n_scored, std::exp(nll / (double)n_scored),
        nll / std::log(2.0) / (double)bytes_scored, (double)(n_scored + 1) / secs);
    cli_write(1, out.data(), out.size());
    return 0;
}
