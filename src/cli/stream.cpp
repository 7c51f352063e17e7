// stream.cpp - the generation loop shared by generate and chat: sample a
// token, print its bytes (UTF-8 safe, holding back a possible --stop match),
// feed it back, repeat.
#include <algorithm>
#include <cmath>

#include "../common.h"
#include "cli.h"

namespace {

// Holds back output that might be the start of the stop string, so the stop
// string itself is never printed.
struct StopFilter {
    const std::string& stop;
    std::string pending;
    bool stopped = false;

    std::string push(const std::string& bytes) {
        if (stop.empty()) return bytes;
        pending += bytes;
        size_t at = pending.find(stop);
        if (at != std::string::npos) {
            stopped = true;
            std::string out = pending.substr(0, at);
            pending.clear();
            return out;
        }
        // keep the longest tail of pending that is a prefix of stop
        size_t keep = std::min(pending.size(), stop.size() - 1);
        while (keep > 0 && pending.compare(pending.size() - keep, keep, stop, 0, keep) != 0) keep--;
        std::string out = pending.substr(0, pending.size() - keep);
        pending.erase(0, pending.size() - keep);
        return out;
    }
};

}  // namespace

GenerateResult cli_generate_stream(RwkvContext* ctx, Sampler* sampler, const WorldTokenizer* tok, float* logits,
                                   int64_t n_predict, const std::string& stop, std::string* text_out) {
    const Model& m = *ctx->model;
    GenerateResult res{0, false, false};
    Utf8Stream utf8;
    StopFilter filter{stop, std::string(), false};
    std::string bytes;
    while (res.n_gen < n_predict && !cli_interrupted()) {
        for (int64_t i = 0; i < m.n_vocab; i++)
            if (!std::isfinite(logits[i]))
                rwkv_fail("the model produced a non-finite logit (token %lld) after %lld generated tokens; "
                          "the weights may be corrupt", (long long)i, (long long)res.n_gen);
        int32_t t = sampler_sample(sampler, logits);
        if (t == 0) {  // end of text: not fed, not printed
            res.hit_eot = true;
            break;
        }
        res.n_gen++;
        // Feed the token now, so the state always holds everything printed.
        rwkv_eval(ctx, &t, 1, logits, nullptr);
        const std::string& tb = world_tokenizer_token_bytes(tok, t);
        bytes.clear();
        utf8_stream_push(&utf8, tb.data(), tb.size(), &bytes);
        std::string out = filter.push(bytes);
        cli_write(1, out.data(), out.size());
        if (text_out) *text_out += out;
        if (filter.stopped) {
            res.hit_stop = true;
            break;
        }
    }
    if (!filter.stopped) {
        bytes.clear();
        utf8_stream_flush(&utf8, &bytes);
        std::string out = filter.push(bytes);
        out += filter.pending;  // a partial stop string at the very end is plain text
        cli_write(1, out.data(), out.size());
        if (text_out) *text_out += out;
    }
    return res;
}
