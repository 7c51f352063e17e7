// rwkv7.cpp - the RWKV-7 "Goose" (x070) forward pass.
//
// One layer, for each token t (x is the residual stream, C = n_embd, H heads
// of N = head_size channels):
//
//   time-mix                                   (rwkv7_time_mix)
//     xn     = LN1(x)
//     xx     = xn[t-1] - xn[t]                  token shift (xn[-1] from the state)
//     x*     = xn + xx * mu_*                   for * in r, w, k, v, a, g
//     r      = Wr xr,  k = Wk xk,  v = Wv xv
//     w      = exp(-e^-0.5 * sigmoid(w0 + W2 tanh(W1 xw)))     decay, in (0.545, 1)
//     a      = sigmoid(a0 + A2 (A1 xa))                        in-context learning rate
//     g      = G2 sigmoid(G1 xg)                               output gate
//     v      = v + (v_first - v) * sigmoid(v0 + V2 (V1 xv))    value residual (layers > 0;
//                                                               layer 0 sets v_first = v)
//     kk     = normalize(k * k_k) per head                     removal key, unit length
//     k      = k * (1 + (a - 1) * k_a)
//     S      = S diag(w) + (S (-kk)) (kk a)^T + v k^T          per head (kernels/wkv_scalar.cpp)
//     y      = GroupNorm_H(S r) + (sum_head(r * k * r_k)) v    bonus: the current token's own value
//     x      = x + Wo (y * g)
//   channel-mix                                (rwkv7_channel_mix)
//     xn     = LN2(x);  xk = xn + (xn[t-1] - xn[t]) * mu_k
//     x      = x + Wv relu(Wk xk)^2
//
// Sequence mode runs each layer over T tokens at once, so every projection is
// one matrix product over T rows (the kernels' T argument); only the WKV
// recurrence itself walks the tokens in order. Token mode is T = 1. Both give
// the same numbers: the per-row arithmetic is identical.
#include <cmath>
#include <cstring>

#include "../kernels/kernels.h"
#include "layer_ops.h"
#include "rwkv.h"

static const float GROUP_NORM_EPS = 64e-5f;

// One head's WKV over T tokens (kernels' H = 1 on that head's slices).
struct Wkv7Heads {
    RwkvScratch* sc;
    float* S;
    int64_t T, C, N;
};

static void wkv7_head_task(void* ctx, int64_t h) {
    const Wkv7Heads* j = (const Wkv7Heads*)ctx;
    const RwkvScratch* sc = j->sc;
    float* S = j->S + h * j->N * j->N;
    const float* in[6] = {sc->r, sc->w, sc->k, sc->v, sc->kk, sc->a};
    for (int64_t t = 0; t < j->T; t++) {
        const int64_t o = t * j->C + h * j->N;
        // The inputs of a token two ahead: another thread wrote half of the
        // tokens' rows (the steps before are split by tokens), and a line
        // that comes from the other core's cache takes longer than a token's
        // update.
        if (t + 2 < j->T)
            for (const float* p : in)
                for (int64_t i = 0; i < j->N; i += 16) __builtin_prefetch(p + o + 2 * j->C + i);
        kern.wkv7(1, j->N, S, sc->r + o, sc->w + o, sc->k + o, sc->v + o, sc->kk + o, sc->a + o, sc->y + o);
    }
}

static void rwkv7_time_mix(const Model* m, const Rwkv7Layer& L, int64_t layer, RwkvState* s, RwkvScratch* sc,
                           int64_t T) {
    const int64_t C = m->n_embd, H = m->n_head, N = m->head_size;
    float* dx = sc->y;  // y is free until the WKV step

    norm_and_shift(sc->pool, sc->x, L.ln1_w, L.ln1_b, m->ln_eps, T, C, rwkv_state_att_shift(s, layer), sc->xn, dx);
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) {
        const int64_t o = t0 * C, nt = t1 - t0;
        lerp(sc->xn + o, dx + o, L.x_r, nt, C, sc->xr + o);
        lerp(sc->xn + o, dx + o, L.x_w, nt, C, sc->xw + o);
        lerp(sc->xn + o, dx + o, L.x_k, nt, C, sc->xk + o);
        lerp(sc->xn + o, dx + o, L.x_v, nt, C, sc->xv + o);
        lerp(sc->xn + o, dx + o, L.x_a, nt, C, sc->xa + o);
        lerp(sc->xn + o, dx + o, L.x_g, nt, C, sc->xg + o);
    });

    // The projections, in two rounds of independent products (one wake-up
    // of the thread pool each): r, k, v and the LoRA down-projections, then
    // the LoRA up-projections. lora holds the four down-projections side by
    // side: [w | a | g | v], each T rows of its rank.
    float* lw = sc->lora;
    float* la = lw + T * L.w1.n_out;
    float* lg = la + T * L.a1.n_out;
    float* lv = lg + T * L.g1.n_out;
    float* mix = sc->kk;  // kk is free until below
    const bool residual = layer > 0;
    const MatmulOp round1[] = {
        {&L.receptance, sc->xr, sc->r}, {&L.key, sc->xk, sc->k}, {&L.value, sc->xv, sc->v},
        {&L.w1, sc->xw, lw}, {&L.a1, sc->xa, la}, {&L.g1, sc->xg, lg}, {&L.v1, sc->xv, lv},
    };
    parallel_matmul_many(sc->pool, &sc->mm, round1, residual ? 7 : 6, T);
    kern.tanh(lw, T * L.w1.n_out);
    kern.sigmoid(nullptr, lg, T * L.g1.n_out);
    const MatmulOp round2[] = {
        {&L.w2, lw, sc->w}, {&L.a2, la, sc->a}, {&L.g2, lg, sc->g}, {&L.v2, lv, mix},
    };
    parallel_matmul_many(sc->pool, &sc->mm, round2, residual ? 4 : 3, T);

    // The per-token steps between the projections and the recurrence, over
    // the threads by token ranges.
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) {
        // w = exp(-e^-0.5 * sigmoid(w0 + W2 tanh(W1 xw)))     decay
        for (int64_t t = t0; t < t1; t++) kern.decay7(L.w0, sc->w + t * C, C);
        // a = sigmoid(a0 + A2 A1 xa)                           in-context learning rate
        for (int64_t t = t0; t < t1; t++) kern.sigmoid(L.a0, sc->a + t * C, C);
        // g = G2 sigmoid(G1 xg)                                gate (computed above)

        // Value residual: layer 0's values are remembered; later layers blend
        // towards them by a learned, data-dependent amount.
        if (layer == 0) {
            memcpy(sc->v_first + t0 * C, sc->v + t0 * C, (size_t)((t1 - t0) * C) * sizeof(float));
        } else {
            for (int64_t t = t0; t < t1; t++)
                kern.value_residual(sc->v_first + t * C, L.v0, mix + t * C, C, sc->v + t * C);
        }

        // kk = normalize(k * k_k) per head (F.normalize: divide by max(|x|, 1e-12));
        // then k = k * (1 + (a - 1) * k_a).
        for (int64_t t = t0; t < t1; t++) kern.key7(L.k_k, L.k_a, sc->a + t * C, H, N, sc->k + t * C, sc->kk + t * C);
    });

    // The recurrence: the only step that must walk the tokens in order. The
    // heads are independent, so they are spread over the threads (one task
    // per head, each walking all T tokens).
    Wkv7Heads job = {sc, rwkv_state_wkv(s, layer), T, C, N};
    pool_run(sc->pool, H, wkv7_head_task, &job);

    // y = GroupNorm(y) + (sum_head(r * k * r_k)) * v, then gate.
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; t++) {
            float* y = sc->y + t * C;
            kern.group_norm(y, L.lnx_w, L.lnx_b, C, H, GROUP_NORM_EPS, y);
            const int64_t o = t * C;
            kern.bonus_gate7(sc->r + o, sc->k + o, sc->v + o, L.r_k, sc->g + o, H, N, y);
        }
    });

    // x = x + Wo y   (xr is free now: use it for the projection's output)
    layer_matmul(sc, L.output, sc->y, T, sc->xr);
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) { kern.add(sc->xr + t0 * C, (t1 - t0) * C, sc->x + t0 * C); });
}

static void rwkv7_channel_mix(const Model* m, const Rwkv7Layer& L, int64_t layer, RwkvState* s, RwkvScratch* sc,
                              int64_t T) {
    const int64_t C = m->n_embd, F = m->n_ffn;
    norm_and_shift(sc->pool, sc->x, L.ln2_w, L.ln2_b, m->ln_eps, T, C, rwkv_state_ffn_shift(s, layer), sc->xn, sc->y);
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) {
        lerp(sc->xn + t0 * C, sc->y + t0 * C, L.ffn_x_k, t1 - t0, C, sc->xk + t0 * C);
    });
    layer_matmul(sc, L.ffn_key, sc->xk, T, sc->ffn);
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) { kern.relu_sq(sc->ffn + t0 * F, (t1 - t0) * F); });
    layer_matmul(sc, L.ffn_value, sc->ffn, T, sc->xr);
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) { kern.add(sc->xr + t0 * C, (t1 - t0) * C, sc->x + t0 * C); });
}

void rwkv7_forward(const Model* m, RwkvState* s, RwkvScratch* sc, const int32_t* tokens, int64_t T,
                   float* logits_last, float* logits_all) {
    embed(m, sc, tokens, T);  // x = LN0(emb[token])
    for (int64_t l = 0; l < m->n_layer; l++) {
        rwkv7_time_mix(m, m->layers[(size_t)l], l, s, sc, T);
        rwkv7_channel_mix(m, m->layers[(size_t)l], l, s, sc, T);
    }
    head_logits(m, sc, T, logits_last, logits_all);  // logits = head LN_out(x)
}
