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
//                                               per channel (RWKV-6's without its LoRA)
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
#include <cstring>

#include "../kernels/kernels.h"
#include "layer_ops.h"

static void rwkv5_time_mix(const Model* m, const Rwkv56Layer& L, int64_t layer, RwkvScratch* sc) {
    const int64_t C = m->n_embd, T = sc->pass.T;
    norm_and_shift(sc, L.ln1_w, L.ln1_b, m->ln_eps, C, rwkv_state_att_shift, layer);
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) {
        const int64_t o = t0 * C, nt = t1 - t0;
        lerp(sc->xn + o, sc->dx + o, L.x_k, nt, C, sc->xk + o);
        lerp(sc->xn + o, sc->dx + o, L.x_v, nt, C, sc->xv + o);
        lerp(sc->xn + o, sc->dx + o, L.x_r, nt, C, sc->xr + o);
        lerp(sc->xn + o, sc->dx + o, L.x_g, nt, C, sc->xg + o);
    });

    // r, k, v and the gate g = silu(Wg xg): four independent products, one
    // wake-up of the thread pool.
    const MatmulOp proj[] = {
        {&L.receptance, sc->xr, sc->r}, {&L.key, sc->xk, sc->k}, {&L.value, sc->xv, sc->v}, {&L.gate, sc->xg, sc->g}};
    parallel_matmul_many(sc->pool, &sc->mm, proj, 4, T);
    // the decay w = exp(-exp(time_decay)): the same for every token
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) {
        kern.silu(sc->g + t0 * C, (t1 - t0) * C);
        for (int64_t t = t0; t < t1; t++) {
            memset(sc->w + t * C, 0, (size_t)C * sizeof(float));
            kern.decay6(L.decay, sc->w + t * C, C);
        }
    });
    rwkv56_wkv_out(m, L, layer, sc);
}

void rwkv5_forward(const Model* m, RwkvScratch* sc) { rwkv56_forward(m, sc, rwkv5_time_mix); }
