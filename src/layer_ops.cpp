// layer_ops.cpp - the steps the RWKV generations share (layer_ops.h).
#include "layer_ops.h"

#include <cmath>
#include <cstring>

#include "../kernels/kernels.h"

// RWKV-5/6 group norm: training normalises y / head_size_divisor (8) with
// eps 1e-5, the same as y with eps 1e-5 * 8^2.
static const float GROUP_NORM_EPS_56 = 64e-5f;

void layer_matmul(RwkvScratch* sc, const Matrix& W, const float* X, int64_t T, float* Y) {
    parallel_matmul(sc->pool, &sc->mm, W, X, T, Y);
}

void norm_and_shift(ThreadPool* pool, const float* x, const float* ln_w, const float* ln_b, float eps, int64_t T,
                    int64_t C, float* shift, float* xn, float* dx) {
    // every xn first: dx[t] needs xn[t - 1], which another range may make
    for_tokens(pool, T, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; t++) kern.layer_norm(x + t * C, ln_w, ln_b, C, eps, xn + t * C);
    });
    for_tokens(pool, T, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; t++) {
            const float* prev = t == 0 ? shift : xn + (t - 1) * C;
            for (int64_t i = 0; i < C; i++) dx[t * C + i] = prev[i] - xn[t * C + i];
        }
    });
    memcpy(shift, xn + (T - 1) * C, (size_t)C * sizeof(float));
}

void lerp(const float* xn, const float* dx, const float* mu, int64_t T, int64_t C, float* out) {
    for (int64_t t = 0; t < T; t++) kern.mix(xn + t * C, dx + t * C, mu, C, out + t * C);
}

void embed(const Model* m, RwkvScratch* sc, const int32_t* tokens, int64_t T) {
    const int64_t C = m->n_embd;
    const size_t row_bytes = (size_t)ggml_row_size(m->token_embd.type, C);
    for (int64_t t = 0; t < T; t++) {
        const uint8_t* row = (const uint8_t*)m->token_embd.data + (size_t)tokens[t] * row_bytes;
        kern.row_to_f32[m->token_embd.type](row, sc->xn + t * C, C);
        kern.layer_norm(sc->xn + t * C, m->ln0_w, m->ln0_b, C, m->ln_eps, sc->x + t * C);
    }
}

void head_logits(const Model* m, RwkvScratch* sc, int64_t T, float* logits_last, float* logits_all) {
    const int64_t C = m->n_embd;
    if (logits_all) {
        for (int64_t t = 0; t < T; t++)
            kern.layer_norm(sc->x + t * C, m->ln_out_w, m->ln_out_b, C, m->ln_eps, sc->xn + t * C);
        layer_matmul(sc, m->head, sc->xn, T, logits_all);
        if (logits_last) memcpy(logits_last, logits_all + (T - 1) * m->n_vocab, (size_t)m->n_vocab * sizeof(float));
    } else if (logits_last) {
        kern.layer_norm(sc->x + (T - 1) * C, m->ln_out_w, m->ln_out_b, C, m->ln_eps, sc->xn);
        layer_matmul(sc, m->head, sc->xn, 1, logits_last);
    }
}

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

void silu(float* x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] *= sigmoidf(x[i]);
}

// One head's WKV over T tokens (the kernel's H = 1 on that head's slices).
struct Wkv6Heads {
    RwkvScratch* sc;
    float* S;
    const float* decay;
    int64_t decay_stride;
    const float* bonus;
    int64_t T, C, N;
};

static void wkv6_head_task(void* ctx, int64_t h) {
    const Wkv6Heads* j = (const Wkv6Heads*)ctx;
    const RwkvScratch* sc = j->sc;
    float* S = j->S + h * j->N * j->N;
    for (int64_t t = 0; t < j->T; t++) {
        const int64_t o = t * j->C + h * j->N;
        kern.wkv6(1, j->N, S, sc->r + o, j->decay + t * j->decay_stride + h * j->N, sc->k + o, sc->v + o,
                  j->bonus + h * j->N, sc->y + o);
    }
}

void rwkv56_wkv_out(const Model* m, const Rwkv56Layer& L, int64_t layer, RwkvState* s, RwkvScratch* sc, int64_t T,
                    const float* decay, int64_t decay_stride) {
    const int64_t C = m->n_embd, H = m->n_head, N = m->head_size;
    // The recurrence: the only step that must walk the tokens in order; the
    // heads are independent, one task each.
    Wkv6Heads job = {sc, rwkv_state_wkv(s, layer), decay, decay_stride, L.first, T, C, N};
    pool_run(sc->pool, H, wkv6_head_task, &job);
    // y = GroupNorm(y) * g;  x = x + Wo y   (xr is free now: the product goes there)
    for (int64_t t = 0; t < T; t++) {
        float* y = sc->y + t * C;
        kern.group_norm(y, L.lnx_w, L.lnx_b, C, H, GROUP_NORM_EPS_56, y);
        for (int64_t i = 0; i < C; i++) y[i] *= sc->g[t * C + i];
    }
    layer_matmul(sc, L.output, sc->y, T, sc->xr);
    kern.add(sc->xr, T * C, sc->x);
}

void rwkv56_channel_mix(const Model* m, const Rwkv56Layer& L, int64_t layer, RwkvState* s, RwkvScratch* sc,
                        int64_t T) {
    const int64_t C = m->n_embd, F = m->n_ffn;
    norm_and_shift(sc->pool, sc->x, L.ln2_w, L.ln2_b, m->ln_eps, T, C, rwkv_state_ffn_shift(s, layer), sc->xn, sc->y);
    lerp(sc->xn, sc->y, L.ffn_x_k, T, C, sc->xk);
    lerp(sc->xn, sc->y, L.ffn_x_r, T, C, sc->xr);
    const MatmulOp in[] = {{&L.ffn_key, sc->xk, sc->ffn}, {&L.ffn_receptance, sc->xr, sc->r}};
    parallel_matmul_many(sc->pool, &sc->mm, in, 2, T);
    kern.relu_sq(sc->ffn, T * F);
    layer_matmul(sc, L.ffn_value, sc->ffn, T, sc->xv);
    kern.sigmoid(nullptr, sc->r, T * C);
    for (int64_t i = 0; i < T * C; i++) sc->x[i] += sc->r[i] * sc->xv[i];
}

void rwkv56_forward(const Model* m, RwkvState* s, RwkvScratch* sc, const int32_t* tokens, int64_t T,
                    float* logits_last, float* logits_all, TimeMix56Fn time_mix) {
    const int64_t C = m->n_embd;
    embed(m, sc, tokens, T);
    for (int64_t l = 0; l < m->n_layer; l++) {
        time_mix(m, m->v56_layers[(size_t)l], l, s, sc, T);
        rwkv56_channel_mix(m, m->v56_layers[(size_t)l], l, s, sc, T);
        // files with rescale_every_n_layers = n > 0 halve x after every n-th
        // layer (their output and value weights are stored divided to match)
        if (m->rescale_every > 0 && (l + 1) % m->rescale_every == 0)
            for (int64_t i = 0; i < T * C; i++) sc->x[i] *= 0.5f;
    }
    head_logits(m, sc, T, logits_last, logits_all);
}
