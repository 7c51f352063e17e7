// rwkv5.cpp - the RWKV-5.2 "Eagle" (x052) forward pass.
//
// One layer, for each token t (x is the residual stream, C = n_embd, H heads
// of N = head_size channels):
//
//   time-mix                                   (rwkv5_time_mix)
//     xn     = LN1(x)
//     dx     = xn[t-1] - xn[t]                  token shift (xn[-1] from the state)
//     x*     = xn + dx * mu_*                   for * in k, v, r, g; mu = 1 - time_mix
//                                               (the official x*mix + prev*(1-mix))
//     r      = Wr xr,  k = Wk xk,  v = Wv xv
//     g      = silu(Wg xg)                      output gate
//     y      = r^T (S + diag(u) k v^T)          per head: the past, plus the current
//     S      = diag(w) S + k v^T                token through the bonus u = time_faaaa;
//                                               w = exp(-exp(time_decay)), a constant
//                                               per channel, made at load (model.cpp)
//                                               (S[key][value], kernels/wkv_scalar.cpp)
//     x      = x + Wo (GroupNorm_H(y) * g)      group norm eps 64e-5
//   channel-mix                                (rwkv5_channel_mix)
//     xn     = LN2(x);  xk = xn + dx * mu_k;  xr = xn + dx * mu_r
//     x      = x + sigmoid(Wr xr) * (Wv relu(Wk xk)^2)
//   and, in files with rescale_every_n_layers = n > 0, x = x / 2 after every
//   n-th layer (their output and value weights are stored divided to match).
//
// RWKV-6 (rwkv6.cpp) makes the mixes and the decay data dependent. Sequence
// mode runs each layer over T tokens at once, so every projection is one
// matrix product over T rows; only the WKV recurrence walks the tokens in
// order. Token mode is T = 1; both give the same numbers.
#include <cmath>
#include <cstring>

#include "../kernels/kernels.h"
#include "rwkv.h"

static const float GROUP_NORM_EPS = 64e-5f;  // training: GroupNorm(x / 8, eps 1e-5), the same thing

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

// The WKV kernel; the scalar table may not name it yet, the scalar version
// then stands in (it is the reference every SIMD version is tested against).
static inline Wkv6Fn wkv6_kernel() { return kern.wkv6; }

// Y = W X over T rows, split over the context's threads.
static void matmul(RwkvScratch* sc, const Matrix& W, const float* X, int64_t T, float* Y) {
    parallel_matmul(sc->pool, &sc->mm, W, X, T, Y);
}

// xn[t] = LN(x[t]); dx[t] = xn[t-1] - xn[t] with xn[-1] = shift; then shift = xn[T-1].
static void norm_and_shift(const float* x, const float* ln_w, const float* ln_b, float eps, int64_t T, int64_t C,
                           float* shift, float* xn, float* dx) {
    for (int64_t t = 0; t < T; t++) kern.layer_norm(x + t * C, ln_w, ln_b, C, eps, xn + t * C);
    for (int64_t t = 0; t < T; t++) {
        const float* prev = t == 0 ? shift : xn + (t - 1) * C;
        for (int64_t i = 0; i < C; i++) dx[t * C + i] = prev[i] - xn[t * C + i];
    }
    memcpy(shift, xn + (T - 1) * C, (size_t)C * sizeof(float));
}

// out = xn + dx * mu   (a token-shift mix; mu is per channel)
static void lerp(const float* xn, const float* dx, const float* mu, int64_t T, int64_t C, float* out) {
    for (int64_t t = 0; t < T; t++) kern.mix(xn + t * C, dx + t * C, mu, C, out + t * C);
}

// x = silu(x) = x * sigmoid(x)   (the output gate)
static void silu(float* x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] *= sigmoidf(x[i]);
}

static void rwkv5_time_mix(const Model* m, const Rwkv56Layer& L, int64_t layer, RwkvState* s, RwkvScratch* sc,
                           int64_t T) {
    const int64_t C = m->n_embd, H = m->n_head, N = m->head_size;
    const int64_t n = T * C;
    float* dx = sc->y;  // y is free until the WKV step

    norm_and_shift(sc->x, L.ln1_w, L.ln1_b, m->ln_eps, T, C, rwkv_state_att_shift(s, layer), sc->xn, dx);
    lerp(sc->xn, dx, L.x_k, T, C, sc->xk);
    lerp(sc->xn, dx, L.x_v, T, C, sc->xv);
    lerp(sc->xn, dx, L.x_r, T, C, sc->xr);
    lerp(sc->xn, dx, L.x_g, T, C, sc->xg);

    // r, k, v and the gate g = silu(Wg xg): four independent products, one
    // wake-up of the thread pool.
    const MatmulOp proj[] = {
        {&L.receptance, sc->xr, sc->r}, {&L.key, sc->xk, sc->k}, {&L.value, sc->xv, sc->v}, {&L.gate, sc->xg, sc->g}};
    parallel_matmul_many(sc->pool, &sc->mm, proj, 4, T);
    silu(sc->g, n);

    // The recurrence: the only step that must walk the tokens in order. The
    // decay is the same vector for every token.
    const Wkv6Fn wkv6 = wkv6_kernel();
    float* S = rwkv_state_wkv(s, layer);
    for (int64_t t = 0; t < T; t++) {
        const int64_t o = t * C;
        wkv6(H, N, S, sc->r + o, L.decay, sc->k + o, sc->v + o, L.first, sc->y + o);
    }

    // y = GroupNorm(y) * g;  x = x + Wo y   (xr is free now: the product goes there)
    for (int64_t t = 0; t < T; t++) {
        float* y = sc->y + t * C;
        kern.group_norm(y, L.lnx_w, L.lnx_b, C, H, GROUP_NORM_EPS, y);
        for (int64_t i = 0; i < C; i++) y[i] *= sc->g[t * C + i];
    }
    matmul(sc, L.output, sc->y, T, sc->xr);
    kern.add(sc->xr, n, sc->x);
}

static void rwkv5_channel_mix(const Model* m, const Rwkv56Layer& L, int64_t layer, RwkvState* s, RwkvScratch* sc,
                              int64_t T) {
    const int64_t C = m->n_embd, F = m->n_ffn;
    norm_and_shift(sc->x, L.ln2_w, L.ln2_b, m->ln_eps, T, C, rwkv_state_ffn_shift(s, layer), sc->xn, sc->y);
    lerp(sc->xn, sc->y, L.ffn_x_k, T, C, sc->xk);
    lerp(sc->xn, sc->y, L.ffn_x_r, T, C, sc->xr);
    const MatmulOp in[] = {{&L.ffn_key, sc->xk, sc->ffn}, {&L.ffn_receptance, sc->xr, sc->r}};
    parallel_matmul_many(sc->pool, &sc->mm, in, 2, T);
    kern.relu_sq(sc->ffn, T * F);
    matmul(sc, L.ffn_value, sc->ffn, T, sc->xv);
    kern.sigmoid(nullptr, sc->r, T * C);
    for (int64_t i = 0; i < T * C; i++) sc->x[i] += sc->r[i] * sc->xv[i];
}

void rwkv5_forward(const Model* m, RwkvState* s, RwkvScratch* sc, const int32_t* tokens, int64_t T,
                   float* logits_last, float* logits_all) {
    const int64_t C = m->n_embd;
    const size_t row_bytes = (size_t)ggml_row_size(m->token_embd.type, C);

    // x = LN0(emb[token])
    for (int64_t t = 0; t < T; t++) {
        const uint8_t* row = (const uint8_t*)m->token_embd.data + (size_t)tokens[t] * row_bytes;
        kern.row_to_f32[m->token_embd.type](row, sc->xn + t * C, C);
        kern.layer_norm(sc->xn + t * C, m->ln0_w, m->ln0_b, C, m->ln_eps, sc->x + t * C);
    }

    for (int64_t l = 0; l < m->n_layer; l++) {
        rwkv5_time_mix(m, m->v56_layers[(size_t)l], l, s, sc, T);
        rwkv5_channel_mix(m, m->v56_layers[(size_t)l], l, s, sc, T);
        if (m->rescale_every > 0 && (l + 1) % m->rescale_every == 0)
            for (int64_t i = 0; i < T * C; i++) sc->x[i] *= 0.5f;
    }

    // logits = head LN_out(x), for the rows asked for
    if (logits_all) {
        for (int64_t t = 0; t < T; t++) kern.layer_norm(sc->x + t * C, m->ln_out_w, m->ln_out_b, C, m->ln_eps, sc->xn + t * C);
        matmul(sc, m->head, sc->xn, T, logits_all);
        if (logits_last) memcpy(logits_last, logits_all + (T - 1) * m->n_vocab, (size_t)m->n_vocab * sizeof(float));
    } else if (logits_last) {
        kern.layer_norm(sc->x + (T - 1) * C, m->ln_out_w, m->ln_out_b, C, m->ln_eps, sc->xn);
        matmul(sc, m->head, sc->xn, 1, logits_last);
    }
}
