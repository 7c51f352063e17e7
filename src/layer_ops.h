// layer_ops.h - the steps every RWKV generation shares, over T tokens at once
// (sequence mode; token mode is T = 1). Each works on RwkvScratch rows of
// n_embd floats and never allocates.
//
//   embed:           x = LN0(emb[token])
//   norm_and_shift:  xn = LN(x), dx = xn[t-1] - xn[t] (the token shift)
//   lerp:            x* = xn + dx * mu            (a token-shift mix)
//   head_logits:     logits = head LN_out(x)
// and, for RWKV-5.2 and RWKV-6, whose layers differ only in how time-mix
// makes r, k, v, g and the decay:
//   rwkv56_wkv_out:      the recurrence, GroupNorm(y) * g, x += Wo y
//   rwkv56_channel_mix:  x += sigmoid(Wr xr) * (Wv relu(Wk xk)^2)
//   rwkv56_forward:      embedding, layers (with the x / 2 rescale), head
#pragma once

#include <algorithm>
#include <cstdint>

#include "rwkv.h"
#include "threads.h"

// f(t0, t1) for token ranges covering [0, T), spread over the pool: the
// per-token steps of sequence mode (norms, mixes, activations) run on every
// thread instead of one while the others wait. Each token's arithmetic is
// the same whichever thread runs it. T = 1 (token mode) runs inline.
template <class F>
void for_tokens(ThreadPool* pool, int64_t T, const F& f) {
    const int64_t n_tasks = std::min<int64_t>(T, 2 * (int64_t)pool_size(pool));
    if (n_tasks <= 1) return f((int64_t)0, T);
    struct Ctx {
        const F* f;
        int64_t T, per;
    } ctx = {&f, T, (T + n_tasks - 1) / n_tasks};
    pool_run(pool, (T + ctx.per - 1) / ctx.per, [](void* c, int64_t i) {
        const Ctx* x = (const Ctx*)c;
        const int64_t t0 = i * x->per;
        (*x->f)(t0, std::min(x->T, t0 + x->per));
    }, &ctx);
}

// Y = W X over T rows, split over the context's threads.
void layer_matmul(RwkvScratch* sc, const Matrix& W, const float* X, int64_t T, float* Y);

// xn[t] = LN(x[t]); dx[t] = xn[t-1] - xn[t] with xn[-1] = shift; then shift = xn[T-1].
void norm_and_shift(ThreadPool* pool, const float* x, const float* ln_w, const float* ln_b, float eps, int64_t T,
                    int64_t C, float* shift, float* xn, float* dx);

// out = xn + dx * mu   (mu is per channel)
void lerp(const float* xn, const float* dx, const float* mu, int64_t T, int64_t C, float* out);

// sc->x = LN0(emb[tokens[t]]) for t < T
void embed(const Model* m, RwkvScratch* sc, const int32_t* tokens, int64_t T);

// logits = head LN_out(x) for the rows asked for (see rwkv_eval)
void head_logits(const Model* m, RwkvScratch* sc, int64_t T, float* logits_last, float* logits_all);

// RWKV-5/6: y = r^T (S + diag(u) k v^T), S = diag(w) S + k v^T per token
// (decay: T rows of C, or one row for every token when decay_stride = 0);
// then y = GroupNorm_H(y) * g and x = x + Wo y. Reads sc->r, k, v, g.
void rwkv56_wkv_out(const Model* m, const Rwkv56Layer& L, int64_t layer, RwkvState* s, RwkvScratch* sc, int64_t T,
                    const float* decay, int64_t decay_stride);

void rwkv56_channel_mix(const Model* m, const Rwkv56Layer& L, int64_t layer, RwkvState* s, RwkvScratch* sc,
                        int64_t T);

typedef void (*TimeMix56Fn)(const Model* m, const Rwkv56Layer& L, int64_t layer, RwkvState* s, RwkvScratch* sc,
                            int64_t T);
void rwkv56_forward(const Model* m, RwkvState* s, RwkvScratch* sc, const int32_t* tokens, int64_t T,
                    float* logits_last, float* logits_all, TimeMix56Fn time_mix);

// x = silu(x) = x * sigmoid(x)   (the RWKV-5/6 output gate)
void silu(float* x, int64_t n);
