// rwkv.cpp - state, scratch and the architecture-independent driver.
#include "rwkv.h"

#include <algorithm>

#include "common.h"

// The RWKV-5.2 and RWKV-6 forward passes (rwkv5.cpp, rwkv6.cpp), the same
// signature as rwkv7_forward in rwkv.h.

void rwkv_state_init(RwkvState* s, const Model* m) {
    s->n_layer = m->n_layer;
    s->n_embd = m->n_embd;
    s->n_head = m->n_head;
    s->head_size = m->head_size;
    s->data.assign((size_t)(s->n_layer * rwkv_state_layer_size(s)), 0.0f);
}

void rwkv_state_reset(RwkvState* s) { std::fill(s->data.begin(), s->data.end(), 0.0f); }

int64_t rwkv_state_layer_size(const RwkvState* s) {
    return 2 * s->n_embd + s->n_head * s->head_size * s->head_size;
}

float* rwkv_state_att_shift(RwkvState* s, int64_t layer) { return s->data.data() + layer * rwkv_state_layer_size(s); }
float* rwkv_state_ffn_shift(RwkvState* s, int64_t layer) { return rwkv_state_att_shift(s, layer) + s->n_embd; }
float* rwkv_state_wkv(RwkvState* s, int64_t layer) { return rwkv_state_att_shift(s, layer) + 2 * s->n_embd; }

// the widest LoRA hidden row: RWKV-6 computes its five token-shift LoRAs at once
// (RWKV-7 keeps its four LoRA hidden rows side by side: w, a, g, v)
static int64_t lora_width(const Model* m) {
    return std::max({m->lora_w + m->lora_a + m->lora_v + m->lora_g, 5 * m->lora_mix});
}

static int64_t lines(int64_t n) { return (n + 15) / 16 * 16; }  // each view starts on a cache line

// The scratch views and their widths: scratch_floats sizes the buffer and
// scratch_init lays the views out from this one table.
enum ViewWidth { EMBD, LORA, FFN };
static const struct {
    float* RwkvScratch::*view;
    ViewWidth width;
} kViews[] = {
    {&RwkvScratch::x, EMBD},  {&RwkvScratch::xn, EMBD},    {&RwkvScratch::dx, EMBD},      {&RwkvScratch::xr, EMBD},
    {&RwkvScratch::xw, EMBD}, {&RwkvScratch::xk, EMBD},    {&RwkvScratch::xv, EMBD},      {&RwkvScratch::xa, EMBD},
    {&RwkvScratch::xg, EMBD}, {&RwkvScratch::xx, EMBD},    {&RwkvScratch::r, EMBD},       {&RwkvScratch::w, EMBD},
    {&RwkvScratch::k, EMBD},  {&RwkvScratch::v, EMBD},     {&RwkvScratch::a, EMBD},       {&RwkvScratch::g, EMBD},
    {&RwkvScratch::kk, EMBD}, {&RwkvScratch::v_mix, EMBD}, {&RwkvScratch::y, EMBD},       {&RwkvScratch::v_first, EMBD},
    {&RwkvScratch::proj, EMBD}, {&RwkvScratch::lora, LORA}, {&RwkvScratch::ffn, FFN},
};

static int64_t view_floats(const Model* m, ViewWidth w, int64_t T) {
    switch (w) {
        case EMBD: return lines(T * m->n_embd);
        case LORA: return lines(T * lora_width(m));
        case FFN: return lines(T * m->n_ffn);
    }
    return 0;
}

static int64_t scratch_floats(const Model* m, int64_t T) {
    int64_t n = 0;
    for (const auto& v : kViews) n += view_floats(m, v.width, T);
    return n;
}

int64_t rwkv_default_chunk(const Model* m) {
    int64_t chunk = 64;
    while (chunk < 512 && scratch_floats(m, 2 * chunk) * (int64_t)sizeof(float) <= (32 << 20)) chunk *= 2;
    return chunk;
}

// The head runs over up to this many sequences' last rows at once: a batched
// decoding step reads the head's weights once per kHeadRows sequences, and
// the logits wait in head_out (kHeadRows x n_vocab floats, 8 MiB at 65,536
// tokens) until they are copied to each sequence's buffer.
static const int64_t kHeadRows = 32;

int64_t rwkv_state_bytes(const Model* m) {
    return m->n_layer * (2 * m->n_embd + m->n_head * m->head_size * m->head_size) * (int64_t)sizeof(float);
}

int64_t rwkv_context_bytes(const Model* m, int64_t max_chunk) {
    return (scratch_floats(m, max_chunk) + std::min(max_chunk, kHeadRows) * m->n_vocab) * (int64_t)sizeof(float);
}

static void scratch_init(RwkvScratch* sc, const Model* m, int64_t max_tokens) {
    const int64_t T = max_tokens;
    sc->max_tokens = T;
    sc->buf.assign((size_t)scratch_floats(m, T), 0.0f);
    float* p = sc->buf.data();
    for (const auto& v : kViews) {
        sc->*v.view = p;
        p += view_floats(m, v.width, T);
    }
    sc->head_out.assign((size_t)(std::min(T, kHeadRows) * m->n_vocab), 0.0f);
    RwkvPass& ps = sc->pass;
    ps.state.assign((size_t)T, nullptr);
    ps.row0.assign((size_t)T + 1, 0);
    ps.seq_of_row.assign((size_t)T, 0);
    ps.tokens.assign((size_t)T, 0);
    ps.logits_last.assign((size_t)T, nullptr);
    ps.logits_all.assign((size_t)T, nullptr);
}

void rwkv_context_init(RwkvContext* ctx, const Model* m, int64_t max_chunk, int n_threads) {
    ctx->model = m;
    scratch_init(&ctx->scratch, m, std::max<int64_t>(1, max_chunk));
    pool_destroy(ctx->pool);
    ctx->pool = pool_create(n_threads > 0 ? n_threads : physical_cores());
    ctx->scratch.pool = ctx->pool;
}

RwkvContext::~RwkvContext() { pool_destroy(pool); }

void rwkv_eval(RwkvContext* ctx, RwkvState* state, const int32_t* tokens, int64_t n, float* logits_last,
               float* logits_all) {
    const RwkvSeq one = {state, tokens, n, logits_last, logits_all};
    rwkv_eval_batch(ctx, &one, 1);
}

static void forward(const Model* m, RwkvScratch* sc) {
    switch (m->arch) {
        case ARCH_RWKV5: rwkv5_forward(m, sc); break;
        case ARCH_RWKV6: rwkv6_forward(m, sc); break;
        case ARCH_RWKV7: rwkv7_forward(m, sc); break;
    }
}

void rwkv_eval_batch(RwkvContext* ctx, const RwkvSeq* seqs, int64_t n_seq) {
    const Model* m = ctx->model;
    RwkvScratch* sc = &ctx->scratch;
    // Every check first, so that a bad request changes no state.
    for (int64_t b = 0; b < n_seq; b++) {
        const RwkvSeq& q = seqs[b];
        if (q.n <= 0) rwkv_fail("rwkv_eval: no tokens to evaluate (sequence %lld of the batch)", (long long)b);
        const RwkvState* st = q.state;
        if (!st || st->n_layer != m->n_layer || st->n_embd != m->n_embd || st->n_head != m->n_head ||
            st->head_size != m->head_size || st->data.size() != (size_t)(m->n_layer * rwkv_state_layer_size(st)))
            rwkv_fail("rwkv_eval: sequence %lld's state was not made for this model (rwkv_state_init)", (long long)b);
        for (int64_t i = 0; i < q.n; i++)
            if (q.tokens[i] < 0 || q.tokens[i] >= m->n_vocab)
                rwkv_fail("token id %d at position %lld is outside the vocabulary (0..%lld)", q.tokens[i],
                          (long long)i, (long long)m->n_vocab - 1);
        for (int64_t c = 0; c < b; c++)
            if (seqs[c].state == q.state)
                rwkv_fail("rwkv_eval_batch: sequences %lld and %lld share a state", (long long)c, (long long)b);
    }
    // Passes of up to max_tokens rows, filled from the sequences in order; a
    // sequence longer than what is left of a pass continues in the next.
    RwkvPass& ps = sc->pass;
    const int64_t V = m->n_vocab;
    int64_t b = 0, done = 0;  // the next sequence, and how many of its tokens earlier passes fed
    while (b < n_seq) {
        ps.n_seq = 0;
        ps.T = 0;
        while (b < n_seq && ps.T < sc->max_tokens) {
            const RwkvSeq& q = seqs[b];
            const int64_t n = std::min(q.n - done, sc->max_tokens - ps.T);
            const size_t j = (size_t)ps.n_seq++;
            ps.state[j] = q.state;
            ps.row0[j] = ps.T;
            for (int64_t i = 0; i < n; i++) {
                ps.tokens[(size_t)(ps.T + i)] = q.tokens[done + i];
                ps.seq_of_row[(size_t)(ps.T + i)] = (int32_t)j;
            }
            ps.logits_last[j] = done + n == q.n ? q.logits_last : nullptr;
            ps.logits_all[j] = q.logits_all ? q.logits_all + done * V : nullptr;
            ps.T += n;
            done += n;
            if (done == q.n) b++, done = 0;
        }
        ps.row0[(size_t)ps.n_seq] = ps.T;
        forward(m, sc);
    }
}
