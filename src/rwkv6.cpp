// rwkv6.cpp - the RWKV-6 "Finch" (x060) forward pass.
//
// One layer, for each token t (x is the residual stream, C = n_embd, H heads
// of N = head_size channels, D = lora_mix, E = lora_w):
//
//   time-mix                                   (rwkv6_time_mix)
//     xn     = LN1(x)
//     dx     = xn[t-1] - xn[t]                  token shift (xn[-1] from the state)
//     xx     = xn + dx * mu_x                   a first, static mix
//     m_*    = W2_* tanh(W1_* xx)               data-dependent mix corrections,
//                                               one LoRA (D) per * in w, k, v, r, g
//     x*     = xn + dx * (mu_* + m_*)           "ddlerp"
//     r      = Wr xr,  k = Wk xk,  v = Wv xv
//     g      = silu(Wg xg)                      output gate
//     w      = exp(-exp(d0 + Wd2 tanh(Wd1 xw)))   data-dependent decay, per channel
//                                               and per token, in (0, 1), float32
//     y      = r^T (S + diag(u) k v^T)          per head: the past, plus the current
//     S      = diag(w) S + k v^T                token through the bonus u = time_faaaa
//                                               (S[key][value], kernels/wkv_scalar.cpp)
//     x      = x + Wo (GroupNorm_H(y) * g)      group norm eps 64e-5 (rwkv56_wkv_out)
//   channel-mix                                (rwkv56_channel_mix, layer_ops.cpp)
//     xn     = LN2(x);  xk = xn + dx * mu_k;  xr = xn + dx * mu_r
//     x      = x + sigmoid(Wr xr) * (Wv relu(Wk xk)^2)
//   and, in files with rescale_every_n_layers = n > 0, x = x / 2 after every
//   n-th layer (their output and value weights are stored divided to match).
//
// RWKV-5.2 (rwkv5.cpp) is this without the two LoRAs: constant mixes and a
// constant decay. Sequence mode runs each layer over T tokens at once, so
// every projection is one matrix product over T rows; only the WKV recurrence
// walks the tokens in order. Token mode is T = 1; both give the same numbers.
//
// Scratch use per layer pass (RwkvScratch, T rows each): xx = the static mix,
// xw/xk/xv/xr/xg = the five mixes, r/k/v/g/w as named, lora = the LoRA hidden
// rows (5 blocks of T x D, then T x E).
#include <cmath>

#include "../kernels/kernels.h"
#include "layer_ops.h"

static void rwkv6_time_mix(const Model* m, const Rwkv56Layer& L, int64_t layer, RwkvScratch* sc) {
    const int64_t C = m->n_embd, D = m->lora_mix, T = sc->pass.T;
    norm_and_shift(sc, L.ln1_w, L.ln1_b, m->ln_eps, C, rwkv_state_att_shift, layer);
    const float *xn = sc->xn, *dx = sc->dx;

    // ddlerp: xx = xn + dx * mu_x; h_* = tanh(W1_* xx) (W1's rows are the
    // five LoRAs' down-projections one after another: five products, one
    // wake-up of the pool, each into its own T x D block of lora); then
    // m_* = W2_* h_* and x_* = xn + dx * (mu_* + m_*).
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) {
        lerp(xn + t0 * C, dx + t0 * C, L.x_x, t1 - t0, C, sc->xx + t0 * C);
    });
    const uint64_t w1_rows = ggml_row_size(L.mix_w1.type, C) * (uint64_t)D;
    Matrix w1[5];
    for (int j = 0; j < 5; j++) w1[j] = matrix_in_file((const uint8_t*)L.mix_w1.data + j * w1_rows, L.mix_w1.type, C, D);
    float* const dst[5] = {sc->xw, sc->xk, sc->xv, sc->xr, sc->xg};
    const float* const mu[5] = {L.x_w, L.x_k, L.x_v, L.x_r, L.x_g};
    MatmulOp down[5], up[5];
    for (int j = 0; j < 5; j++) {
        down[j] = MatmulOp{&w1[j], sc->xx, sc->lora + j * T * D};
        up[j] = MatmulOp{&L.mix_w2[j], sc->lora + j * T * D, dst[j]};
    }
    parallel_matmul_many(sc->pool, &sc->mm, down, 5, T);
    kern.tanh(sc->lora, 5 * T * D);
    parallel_matmul_many(sc->pool, &sc->mm, up, 5, T);
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) {
        for (int j = 0; j < 5; j++)
            for (int64_t t = t0; t < t1; t++) {
                float* o = dst[j] + t * C;
                kern.add(mu[j], C, o);                      // mu_* + m_*
                kern.mix(xn + t * C, dx + t * C, o, C, o);  // xn + dx * (mu_* + m_*)
            }
    });

    // r, k, v, the gate g = silu(Wg xg), and the decay LoRA's down-projection:
    // five independent products in one round.
    const MatmulOp proj[] = {{&L.receptance, sc->xr, sc->r}, {&L.key, sc->xk, sc->k},
                             {&L.value, sc->xv, sc->v},      {&L.gate, sc->xg, sc->g},
                             {&L.decay_w1, sc->xw, sc->lora}};
    parallel_matmul_many(sc->pool, &sc->mm, proj, 5, T);
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) { kern.silu(sc->g + t0 * C, (t1 - t0) * C); });

    // w = exp(-exp(d0 + Wd2 tanh(Wd1 xw))): float32 throughout, the exponent
    // of an exponent amplifies any rounding of its argument.
    kern.tanh(sc->lora, T * L.decay_w1.n_out);
    layer_matmul(sc, L.decay_w2, sc->lora, T, sc->w);
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; t++) kern.decay6(L.decay, sc->w + t * C, C);
    });

    rwkv56_wkv_out(m, L, layer, sc);
}

void rwkv6_forward(const Model* m, RwkvScratch* sc) { rwkv56_forward(m, sc, rwkv6_time_mix); }
