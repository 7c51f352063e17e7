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

static int64_t scratch_floats(const Model* m, int64_t T) {
    return 17 * lines(T * m->n_embd) + lines(T * lora_width(m)) + lines(T * m->n_ffn);
}

int64_t rwkv_default_chunk(const Model* m) {
    int64_t chunk = 64;
    while (chunk < 512 && scratch_floats(m, 2 * chunk) * (int64_t)sizeof(float) <= (32 << 20)) chunk *= 2;
    return chunk;
}

static void scratch_init(RwkvScratch* sc, const Model* m, int64_t max_tokens) {
    const int64_t C = m->n_embd;
    const int64_t R = lora_width(m);
    const int64_t T = max_tokens;
    sc->max_tokens = T;
    sc->buf.assign((size_t)scratch_floats(m, T), 0.0f);
    float* p = sc->buf.data();
    float** c_rows[] = {&sc->x, &sc->xn, &sc->xr, &sc->xw, &sc->xk, &sc->xv, &sc->xa, &sc->xg, &sc->r,
                        &sc->w, &sc->k,  &sc->v,  &sc->a,  &sc->g,  &sc->kk, &sc->y,  &sc->v_first};
    for (float** v : c_rows) {
        *v = p;
        p += lines(T * C);
    }
    sc->lora = p;
    p += lines(T * R);
    sc->ffn = p;
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
    const Model* m = ctx->model;
    if (n <= 0) rwkv_fail("rwkv_eval: no tokens to evaluate");
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->n_vocab)
            rwkv_fail("token id %d at position %lld is outside the vocabulary (0..%lld)", tokens[i], (long long)i,
                      (long long)m->n_vocab - 1);
    const int64_t chunk = ctx->scratch.max_tokens;
    for (int64_t i = 0; i < n; i += chunk) {
        const int64_t len = std::min(chunk, n - i);
        const bool last = i + len == n;
        float* ll = last ? logits_last : nullptr;
        float* la = logits_all ? logits_all + i * m->n_vocab : nullptr;
        switch (m->arch) {
            case ARCH_RWKV5: rwkv5_forward(m, state, &ctx->scratch, tokens + i, len, ll, la); break;
            case ARCH_RWKV6: rwkv6_forward(m, state, &ctx->scratch, tokens + i, len, ll, la); break;
            case ARCH_RWKV7: rwkv7_forward(m, state, &ctx->scratch, tokens + i, len, ll, la); break;
        }
    }
}

void rwkv_eval_batch(RwkvContext* ctx, const RwkvSeq* seqs, int64_t n_seq) {
    for (int64_t b = 0; b < n_seq; b++)
        rwkv_eval(ctx, seqs[b].state, seqs[b].tokens, seqs[b].n, seqs[b].logits_last, seqs[b].logits_all);
}
