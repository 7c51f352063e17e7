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
//     x      = x + Wo (GroupNorm_H(y) * g)      group norm eps 64e-5 (rwkv56_wkv_out)
//   channel-mix                                (rwkv56_channel_mix, layer_ops.cpp)
//     xn     = LN2(x);  xk = xn + dx * mu_k;  xr = xn + dx * mu_r
//     x      = x + sigmoid(Wr xr) * (Wv relu(Wk xk)^2)
//   and, in files with rescale_every_n_layers = n > 0, x = x / 2 after every
//   n-th layer (their output and value weights are stored divided to match).
//
// RWKV-6 (rwkv6.cpp) makes the mixes and the decay data dependent. Sequence
// mode runs each layer over T tokens at once, so every projection is one
// matrix product over T rows; only the WKV recurrence walks the tokens in
// order. Token mode is T = 1; both give the same numbers.
#include "layer_ops.h"

static void rwkv5_time_mix(const Model* m, const Rwkv56Layer& L, int64_t layer, RwkvState* s, RwkvScratch* sc,
                           int64_t T) {
    const int64_t C = m->n_embd;
    float* dx = sc->y;  // y is free until the WKV step

    norm_and_shift(sc->pool, sc->x, L.ln1_w, L.ln1_b, m->ln_eps, T, C, rwkv_state_att_shift(s, layer), sc->xn, dx);
    lerp(sc->xn, dx, L.x_k, T, C, sc->xk);
    lerp(sc->xn, dx, L.x_v, T, C, sc->xv);
    lerp(sc->xn, dx, L.x_r, T, C, sc->xr);
    lerp(sc->xn, dx, L.x_g, T, C, sc->xg);

    // r, k, v and the gate g = silu(Wg xg): four independent products, one
    // wake-up of the thread pool.
    const MatmulOp proj[] = {
        {&L.receptance, sc->xr, sc->r}, {&L.key, sc->xk, sc->k}, {&L.value, sc->xv, sc->v}, {&L.gate, sc->xg, sc->g}};
    parallel_matmul_many(sc->pool, &sc->mm, proj, 4, T);
    silu(sc->g, T * C);

    // The decay is the same vector for every token (stride 0).
    rwkv56_wkv_out(m, L, layer, s, sc, T, L.decay, 0);
}

void rwkv5_forward(const Model* m, RwkvState* s, RwkvScratch* sc, const int32_t* tokens, int64_t T,
                   float* logits_last, float* logits_all) {
    rwkv56_forward(m, s, sc, tokens, T, logits_last, logits_all, rwkv5_time_mix);
}
