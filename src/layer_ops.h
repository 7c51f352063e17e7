// layer_ops.h - the steps every RWKV generation shares, over the T rows of a
// pass at once (sc->pass: one or more sequences, each a run of rows; token
// mode is one sequence of one row). Each works on RwkvScratch rows of n_embd
// floats and never allocates. Only two steps look across rows, and both stay
// within a sequence: the token shift and the WKV recurrence.
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

// Which of a state's token-shift rows a block uses (rwkv_state_att_shift or
// rwkv_state_ffn_shift).
typedef float* (*StateShiftFn)(RwkvState* s, int64_t layer);

// xn[t] = LN(x[t]); dx[t] = xn[t-1] - xn[t], where a sequence's first row takes
// xn[-1] from its state's shift row; then each state's shift row = the
// sequence's last xn.
void norm_and_shift(RwkvScratch* sc, const float* ln_w, const float* ln_b, float eps, int64_t C, StateShiftFn shift,
                    int64_t layer);

// The WKV recurrence of one layer: one task per (sequence, head), each walking
// its sequence's rows in order; step(ctx, S, row, head) updates head state S
// by one row.
typedef void (*WkvRowFn)(const void* ctx, float* S, int64_t row, int64_t head);
void wkv_rows(RwkvScratch* sc, int64_t layer, int64_t H, int64_t N, WkvRowFn step, const void* ctx);

// out = xn + dx * mu   (mu is per channel)
void lerp(const float* xn, const float* dx, const float* mu, int64_t T, int64_t C, float* out);

// sc->x = LN0(emb[token]) for each row of the pass
void embed(const Model* m, RwkvScratch* sc);

// logits = head LN_out(x) for the rows each sequence asks for (RwkvPass)
void head_logits(const Model* m, RwkvScratch* sc);

// RWKV-5/6: y = r^T (S + diag(u) k v^T), S = diag(w) S + k v^T per row;
// then y = GroupNorm_H(y) * g and x = x + Wo y. Reads sc->r, w, k, v, g.
void rwkv56_wkv_out(const Model* m, const Rwkv56Layer& L, int64_t layer, RwkvScratch* sc);

void rwkv56_channel_mix(const Model* m, const Rwkv56Layer& L, int64_t layer, RwkvScratch* sc);

typedef void (*TimeMix56Fn)(const Model* m, const Rwkv56Layer& L, int64_t layer, RwkvScratch* sc);
void rwkv56_forward(const Model* m, RwkvScratch* sc, TimeMix56Fn time_mix);
