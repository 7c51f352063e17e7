// generation.cpp - one sequence being generated, a step at a time (generation.h).
#include "generation.h"

#include <algorithm>
#include <cmath>

#include "common.h"
#include "threads.h"

// Append to *out what can be shown of `bytes`: everything up to the first
// stop string (then stopped), less the longest tail that could still grow
// into one.
static void stop_filter_push(StopFilter* f, const std::string& bytes, std::string* out) {
    if (f->stopped) return;
    f->pending += bytes;
    size_t first = std::string::npos;
    for (const std::string& s : f->stops)
        if (!s.empty()) first = std::min(first, f->pending.find(s));
    if (first != std::string::npos) {
        f->stopped = true;
        out->append(f->pending, 0, first);
        f->pending.clear();
        return;
    }
    size_t keep = 0;
    for (const std::string& s : f->stops) {
        size_t k = std::min(f->pending.size(), s.empty() ? 0 : s.size() - 1);
        while (k > keep && f->pending.compare(f->pending.size() - k, k, s, 0, k) != 0) k--;
        keep = std::max(keep, k);
    }
    out->append(f->pending, 0, f->pending.size() - keep);
    f->pending.erase(0, f->pending.size() - keep);
}

void gen_init(GenSeq* s, const Model* m, const WorldTokenizer* tok, const GenParams& p) {
    s->model = m;
    s->tok = tok;
    s->params = p;
    rwkv_state_init(&s->state, m);
    sampler_init(&s->sampler, p.sampling, m->n_vocab);
    s->logits.assign((size_t)m->n_vocab, 0.0f);
    s->prompt.clear();
    s->n_prompt_fed = 0;
    s->generated.clear();
    s->text.clear();
    s->phase = GEN_DONE;
    s->finish = GEN_RUNNING;
    s->error.clear();
}

void gen_set_prompt(GenSeq* s, const int32_t* tokens, int64_t n) {
    if (n <= 0) rwkv_fail("gen_set_prompt: a prompt needs at least one token");
    s->prompt.assign(tokens, tokens + n);
    s->n_prompt_fed = 0;
    s->generated.clear();
    s->text.clear();
    s->phase = GEN_PREFILL;
    s->finish = GEN_RUNNING;
    s->error.clear();
    s->next = -1;
    s->utf8 = Utf8Stream();
    s->filter = StopFilter{s->params.stop, std::string(), false};
}

// The end of a sequence: the text held back for a possible stop string or an
// unfinished UTF-8 character is plain text after all, unless a stop was hit.
static void finish(GenSeq* s, GenFinish why) {
    if (s->phase == GEN_DONE) return;
    s->phase = GEN_DONE;
    s->finish = why;
    if (why == GEN_STOP || why == GEN_ERROR) return;
    std::string bytes;
    utf8_stream_flush(&s->utf8, &bytes);
    stop_filter_push(&s->filter, bytes, &s->text);
    if (!s->filter.stopped) s->text += s->filter.pending;
    s->filter.pending.clear();
}

void gen_cancel(GenSeq* s) { finish(s, GEN_CANCELLED); }

// Sample the next token from s->logits and append its text; false if the
// sequence ended instead (end of text, or logits that are not numbers).
static bool sample_next(GenSeq* s) {
    const int64_t V = s->model->n_vocab;
    for (int64_t i = 0; i < V; i++)
        if (!std::isfinite(s->logits[(size_t)i])) {
            s->error = strprintf("the model produced a non-finite logit (token %lld) after %lld generated tokens; "
                                 "the weights may be corrupt", (long long)i, (long long)s->generated.size());
            finish(s, GEN_ERROR);
            return false;
        }
    for (const auto& b : s->params.logit_bias) s->logits[(size_t)b.first] += b.second;
    const int32_t t = sampler_sample(&s->sampler, s->logits.data());
    if (t == 0) {  // end of text: not fed, not shown
        finish(s, GEN_EOT);
        return false;
    }
    s->next = t;
    s->generated.push_back(t);
    const std::string& tb = world_tokenizer_token_bytes(s->tok, t);
    std::string bytes;
    utf8_stream_push(&s->utf8, tb.data(), tb.size(), &bytes);
    stop_filter_push(&s->filter, bytes, &s->text);
    return true;
}

namespace {
struct SampleJob {
    GenSeq* const* seqs;
    char* sampled;
};

void sample_task(void* c, int64_t b) {
    const SampleJob* j = (const SampleJob*)c;
    GenSeq* s = j->seqs[b];
    j->sampled[b] = s->phase == GEN_DECODE && sample_next(s);
}
}  // namespace

void gen_step(RwkvContext* ctx, GenSeq* const* seqs, int64_t n_seq) {
    // The step's rows: one per decoding sequence, then prompt chunks. Reused
    // from step to step, so a step allocates nothing once it has grown.
    static thread_local std::vector<RwkvSeq> batch;
    static thread_local std::vector<GenSeq*> fed;
    static thread_local std::vector<char> sampled;
    batch.clear();
    fed.clear();
    sampled.assign((size_t)n_seq, 0);
    // Each sequence samples with its own sampler, on any thread: a draw over
    // the vocabulary per sequence, which would otherwise keep the pool idle.
    SampleJob job = {seqs, sampled.data()};
    pool_run(n_seq > 1 ? ctx->pool : nullptr, n_seq, sample_task, &job);
    int64_t budget = ctx->scratch.max_tokens;
    for (int64_t b = 0; b < n_seq; b++) {
        GenSeq* s = seqs[b];
        if (!sampled[(size_t)b]) continue;
        batch.push_back(RwkvSeq{&s->state, &s->next, 1, s->logits.data(), nullptr});
        fed.push_back(s);
        budget--;
    }
    for (int64_t b = 0; b < n_seq && budget > 0; b++) {
        GenSeq* s = seqs[b];
        if (s->phase != GEN_PREFILL) continue;
        const int64_t left = (int64_t)s->prompt.size() - s->n_prompt_fed;
        const int64_t n = std::min(budget, left);
        batch.push_back(RwkvSeq{&s->state, s->prompt.data() + s->n_prompt_fed, n,
                                n == left ? s->logits.data() : nullptr, nullptr});
        fed.push_back(s);
        budget -= n;
    }
    if (!batch.empty()) rwkv_eval_batch(ctx, batch.data(), (int64_t)batch.size());

    // Every token generated has now been fed, so the state holds all the text.
    for (size_t i = 0; i < fed.size(); i++) {
        GenSeq* s = fed[i];
        if (s->phase == GEN_PREFILL) {
            s->n_prompt_fed += batch[i].n;
            if (s->n_prompt_fed < (int64_t)s->prompt.size()) continue;
            s->phase = GEN_DECODE;
        }
        if (s->filter.stopped)
            finish(s, GEN_STOP);
        else if ((int64_t)s->generated.size() >= s->params.n_predict)
            finish(s, GEN_LENGTH);
    }
}

const char* gen_finish_name(GenFinish f) {
    switch (f) {
        case GEN_STOP:
        case GEN_EOT: return "stop";
        case GEN_LENGTH: return "length";
        case GEN_CANCELLED: return "cancelled";
        case GEN_ERROR: return "error";
        case GEN_RUNNING: break;
    }
    return "running";
}
