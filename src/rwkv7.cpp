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
// Sequence mode runs each layer over T rows at once, so every projection is
// one matrix product over T rows (the kernels' T argument); only the WKV
// recurrence itself walks the rows in order. The rows may belong to several
// sequences (a batch, RwkvPass): the token shift and the recurrence stay
// within each, everything else is per row. Token mode is T = 1. All give the
// same numbers: the per-row arithmetic is identical.
#include <cmath>
#include <cstring>

#include "../kernels/kernels.h"
#include "layer_ops.h"
#include "rwkv.h"

// One row of one head of the recurrence (the kernel's H = 1 on that head's
// slices).
struct Wkv7Rows {
    const RwkvScratch* sc;
    int64_t T, C, N;
};

static void wkv7_row(const void* ctx, float* S, int64_t t, int64_t h) {
    const Wkv7Rows* j = (const Wkv7Rows*)ctx;
    const RwkvScratch* sc = j->sc;
    const int64_t o = t * j->C + h * j->N;
    // The inputs of a row two ahead: another thread wrote half of the rows
    // (the steps before are split by rows), and a line that comes from the
    // other core's cache takes longer than a row's update.
    if (t + 2 < j->T) {
        const float* in[6] = {sc->r, sc->w, sc->k, sc->v, sc->kk, sc->a};
        for (const float* p : in)
            for (int64_t i = 0; i < j->N; i += 16) __builtin_prefetch(p + o + 2 * j->C + i);
    }
    kern.wkv7(1, j->N, S, sc->r + o, sc->w + o, sc->k + o, sc->v + o, sc->kk + o, sc->a + o, sc->y + o);
}

static void rwkv7_time_mix(const Model* m, const Rwkv7Layer& L, int64_t layer, RwkvScratch* sc) {
    const int64_t C = m->n_embd, H = m->n_head, N = m->head_size, T = sc->pass.T;
    norm_and_shift(sc, L.ln1_w, L.ln1_b, m->ln_eps, C, rwkv_state_att_shift, layer);
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) {
        const int64_t o = t0 * C, nt = t1 - t0;
        const float *xn = sc->xn + o, *dx = sc->dx + o;
        lerp(xn, dx, L.x_r, nt, C, sc->xr + o);
        lerp(xn, dx, L.x_w, nt, C, sc->xw + o);
        lerp(xn, dx, L.x_k, nt, C, sc->xk + o);
        lerp(xn, dx, L.x_v, nt, C, sc->xv + o);
        lerp(xn, dx, L.x_a, nt, C, sc->xa + o);
        lerp(xn, dx, L.x_g, nt, C, sc->xg + o);
    });

    // The projections, in two rounds of independent products (one wake-up
    // of the thread pool each): r, k, v and the LoRA down-projections, then
    // the LoRA up-projections. lora holds the four down-projections side by
    // side: [w | a | g | v], each T rows of its rank.
    float* lw = sc->lora;
    float* la = lw + T * L.w1.n_out;
    float* lg = la + T * L.a1.n_out;
    float* lv = lg + T * L.g1.n_out;
    const bool residual = layer > 0;
    const MatmulOp round1[] = {
        {&L.receptance, sc->xr, sc->r}, {&L.key, sc->xk, sc->k}, {&L.value, sc->xv, sc->v},
        {&L.w1, sc->xw, lw}, {&L.a1, sc->xa, la}, {&L.g1, sc->xg, lg}, {&L.v1, sc->xv, lv},
    };
    parallel_matmul_many(sc->pool, &sc->mm, round1, residual ? 7 : 6, T);
    kern.tanh(lw, T * L.w1.n_out);
    kern.sigmoid(nullptr, lg, T * L.g1.n_out);
    const MatmulOp round2[] = {
        {&L.w2, lw, sc->w}, {&L.a2, la, sc->a}, {&L.g2, lg, sc->g}, {&L.v2, lv, sc->v_mix},
    };
    parallel_matmul_many(sc->pool, &sc->mm, round2, residual ? 4 : 3, T);

    // The per-row steps between the projections and the recurrence, over
    // the threads by row ranges.
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
                kern.value_residual(sc->v_first + t * C, L.v0, sc->v_mix + t * C, C, sc->v + t * C);
        }

        // kk = normalize(k * k_k) per head (F.normalize: divide by max(|x|, 1e-12));
        // then k = k * (1 + (a - 1) * k_a).
        for (int64_t t = t0; t < t1; t++) kern.key7(L.k_k, L.k_a, sc->a + t * C, H, N, sc->k + t * C, sc->kk + t * C);
    });

    // The recurrence: the only step that must walk the rows in order. Heads
    // and sequences are independent: one task per (sequence, head), each
    // walking that sequence's rows.
    const Wkv7Rows job = {sc, T, C, N};
    wkv_rows(sc, layer, H, N, wkv7_row, &job);

    // y = GroupNorm(y) + (sum_head(r * k * r_k)) * v, then gate.
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; t++) {
            float* y = sc->y + t * C;
            kern.group_norm(y, L.lnx_w, L.lnx_b, C, H, m->gn_eps, y);
            const int64_t o = t * C;
            kern.bonus_gate7(sc->r + o, sc->k + o, sc->v + o, L.r_k, sc->g + o, H, N, y);
        }
    });

    // x = x + Wo y
    layer_matmul(sc, L.output, sc->y, T, sc->proj);
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) { kern.add(sc->proj + t0 * C, (t1 - t0) * C, sc->x + t0 * C); });
}

static void rwkv7_channel_mix(const Model* m, const Rwkv7Layer& L, int64_t layer, RwkvScratch* sc) {
    const int64_t C = m->n_embd, F = m->n_ffn, T = sc->pass.T;
    norm_and_shift(sc, L.ln2_w, L.ln2_b, m->ln_eps, C, rwkv_state_ffn_shift, layer);
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) {
        lerp(sc->xn + t0 * C, sc->dx + t0 * C, L.ffn_x_k, t1 - t0, C, sc->xk + t0 * C);
    });
    layer_matmul(sc, L.ffn_key, sc->xk, T, sc->ffn);
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) { kern.relu_sq(sc->ffn + t0 * F, (t1 - t0) * F); });
    layer_matmul(sc, L.ffn_value, sc->ffn, T, sc->proj);
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) { kern.add(sc->proj + t0 * C, (t1 - t0) * C, sc->x + t0 * C); });
}

void rwkv7_forward(const Model* m, RwkvScratch* sc) {
    embed(m, sc);  // x = LN0(emb[token])
    for (int64_t l = 0; l < m->n_layer; l++) {
        rwkv7_time_mix(m, m->layers[(size_t)l], l, sc);
        rwkv7_channel_mix(m, m->layers[(size_t)l], l, sc);
    }
    head_logits(m, sc);  // logits = head LN_out(x)
}
