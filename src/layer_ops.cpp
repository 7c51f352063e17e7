// layer_ops.cpp - the steps the RWKV generations share (layer_ops.h).
#include "layer_ops.h"

#include <cmath>
#include <cstring>

#include "../kernels/kernels.h"

void layer_matmul(RwkvScratch* sc, const Matrix& W, const float* X, int64_t T, float* Y) {
    parallel_matmul(sc->pool, &sc->mm, W, X, T, Y);
}

void norm_and_shift(RwkvScratch* sc, const float* ln_w, const float* ln_b, float eps, int64_t C, StateShiftFn shift,
                    int64_t layer) {
    const RwkvPass& ps = sc->pass;
    const float* x = sc->x;
    float *xn = sc->xn, *dx = sc->dx;
    // every xn first: dx[t] needs xn[t - 1], which another range may make
    for_tokens(sc->pool, ps.T, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; t++) kern.layer_norm(x + t * C, ln_w, ln_b, C, eps, xn + t * C);
    });
    for_tokens(sc->pool, ps.T, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; t++) {
            const int32_t b = ps.seq_of_row[(size_t)t];
            const float* prev = t == ps.row0[(size_t)b] ? shift(ps.state[(size_t)b], layer) : xn + (t - 1) * C;
            for (int64_t i = 0; i < C; i++) dx[t * C + i] = prev[i] - xn[t * C + i];
        }
    });
    for (int64_t b = 0; b < ps.n_seq; b++)
        memcpy(shift(ps.state[(size_t)b], layer), xn + (ps.row0[(size_t)b + 1] - 1) * C, (size_t)C * sizeof(float));
}

namespace {
struct WkvJob {
    const RwkvPass* ps;
    int64_t layer, H, N;
    WkvRowFn step;
    const void* ctx;
};

void wkv_task(void* c, int64_t task) {
    const WkvJob* j = (const WkvJob*)c;
    const int64_t b = task / j->H, h = task % j->H;
    float* S = rwkv_state_wkv(j->ps->state[(size_t)b], j->layer) + h * j->N * j->N;
    for (int64_t t = j->ps->row0[(size_t)b]; t < j->ps->row0[(size_t)b + 1]; t++) j->step(j->ctx, S, t, h);
}
}  // namespace

void wkv_rows(RwkvScratch* sc, int64_t layer, int64_t H, int64_t N, WkvRowFn step, const void* ctx) {
    WkvJob job = {&sc->pass, layer, H, N, step, ctx};
    pool_run(sc->pool, sc->pass.n_seq * H, wkv_task, &job);
}

void lerp(const float* xn, const float* dx, const float* mu, int64_t T, int64_t C, float* out) {
    for (int64_t t = 0; t < T; t++) kern.mix(xn + t * C, dx + t * C, mu, C, out + t * C);
}

void embed(const Model* m, RwkvScratch* sc) {
    const int64_t C = m->n_embd;
    const size_t row_bytes = (size_t)ggml_row_size(m->token_embd.type, C);
    const int32_t* tokens = sc->pass.tokens.data();
    for_tokens(sc->pool, sc->pass.T, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; t++) {
            const uint8_t* row = (const uint8_t*)m->token_embd.data + (size_t)tokens[t] * row_bytes;
            kern.row_to_f32[m->token_embd.type](row, sc->xn + t * C, C);
            kern.layer_norm(sc->xn + t * C, m->ln0_w, m->ln0_b, C, m->ln_eps, sc->x + t * C);
        }
    });
}

void head_logits(const Model* m, RwkvScratch* sc) {
    const RwkvPass& ps = sc->pass;
    const int64_t C = m->n_embd, V = m->n_vocab;
    auto ln_out = [&](int64_t from, int64_t to, int64_t n) {  // xn rows to.. = LN_out(x rows from..)
        for_tokens(sc->pool, n, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; t++)
                kern.layer_norm(sc->x + (from + t) * C, m->ln_out_w, m->ln_out_b, C, m->ln_eps, sc->xn + (to + t) * C);
        });
    };
    // Sequences that want every row's logits get them straight into their buffer.
    for (int64_t b = 0; b < ps.n_seq; b++) {
        float* all = ps.logits_all[(size_t)b];
        if (!all) continue;
        const int64_t r0 = ps.row0[(size_t)b], n = ps.row0[(size_t)b + 1] - r0;
        ln_out(r0, 0, n);
        layer_matmul(sc, m->head, sc->xn, n, all);
        if (float* last = ps.logits_last[(size_t)b]) memcpy(last, all + (n - 1) * V, (size_t)V * sizeof(float));
    }
    // The others' last rows go through the head together, head_rows at a
    // time; one sequence alone writes straight into its buffer.
    const int64_t head_rows = (int64_t)sc->head_out.size() / V;
    int64_t b = 0;
    while (b < ps.n_seq) {
        int64_t n = 0, first = b;
        for (; b < ps.n_seq && n < head_rows; b++) {
            if (ps.logits_all[(size_t)b] || !ps.logits_last[(size_t)b]) continue;
            ln_out(ps.row0[(size_t)b + 1] - 1, n, 1);
            n++;
        }
        if (n == 0) continue;
        if (n == 1) {
            for (; !ps.logits_last[(size_t)first] || ps.logits_all[(size_t)first]; first++) {
            }
            layer_matmul(sc, m->head, sc->xn, 1, ps.logits_last[(size_t)first]);
            continue;
        }
        layer_matmul(sc, m->head, sc->xn, n, sc->head_out.data());
        int64_t i = 0;
        for (int64_t c = first; c < b; c++) {
            if (ps.logits_all[(size_t)c] || !ps.logits_last[(size_t)c]) continue;
            memcpy(ps.logits_last[(size_t)c], sc->head_out.data() + i * V, (size_t)V * sizeof(float));
            i++;
        }
    }
}

namespace {
// One row of one head of the RWKV-5/6 recurrence.
struct Wkv6Rows {
    const RwkvScratch* sc;
    const float* bonus;
    int64_t C, N;
};

void wkv6_row(const void* ctx, float* S, int64_t t, int64_t h) {
    const Wkv6Rows* j = (const Wkv6Rows*)ctx;
    const RwkvScratch* sc = j->sc;
    const int64_t o = t * j->C + h * j->N;
    kern.wkv6(1, j->N, S, sc->r + o, sc->w + o, sc->k + o, sc->v + o, j->bonus + h * j->N, sc->y + o);
}
}  // namespace

void rwkv56_wkv_out(const Model* m, const Rwkv56Layer& L, int64_t layer, RwkvScratch* sc) {
    const int64_t C = m->n_embd, H = m->n_head, N = m->head_size, T = sc->pass.T;
    // The recurrence: the only step that walks the rows in order.
    const Wkv6Rows job = {sc, L.first, C, N};
    wkv_rows(sc, layer, H, N, wkv6_row, &job);
    // y = GroupNorm(y) * g;  x = x + Wo y
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; t++) {
            float* y = sc->y + t * C;
            kern.group_norm(y, L.lnx_w, L.lnx_b, C, H, m->gn_eps, y);
            for (int64_t i = 0; i < C; i++) y[i] *= sc->g[t * C + i];
        }
    });
    layer_matmul(sc, L.output, sc->y, T, sc->proj);
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) { kern.add(sc->proj + t0 * C, (t1 - t0) * C, sc->x + t0 * C); });
}

void rwkv56_channel_mix(const Model* m, const Rwkv56Layer& L, int64_t layer, RwkvScratch* sc) {
    const int64_t C = m->n_embd, F = m->n_ffn, T = sc->pass.T;
    norm_and_shift(sc, L.ln2_w, L.ln2_b, m->ln_eps, C, rwkv_state_ffn_shift, layer);
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) {
        lerp(sc->xn + t0 * C, sc->dx + t0 * C, L.ffn_x_k, t1 - t0, C, sc->xk + t0 * C);
        lerp(sc->xn + t0 * C, sc->dx + t0 * C, L.ffn_x_r, t1 - t0, C, sc->xr + t0 * C);
    });
    const MatmulOp in[] = {{&L.ffn_key, sc->xk, sc->ffn}, {&L.ffn_receptance, sc->xr, sc->r}};
    parallel_matmul_many(sc->pool, &sc->mm, in, 2, T);
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) { kern.relu_sq(sc->ffn + t0 * F, (t1 - t0) * F); });
    layer_matmul(sc, L.ffn_value, sc->ffn, T, sc->proj);
    // x = x + sigmoid(Wr xr) * (Wv relu(Wk xk)^2)
    for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) {
        kern.sigmoid(nullptr, sc->r + t0 * C, (t1 - t0) * C);
        for (int64_t i = t0 * C; i < t1 * C; i++) sc->x[i] += sc->r[i] * sc->proj[i];
    });
}

void rwkv56_forward(const Model* m, RwkvScratch* sc, TimeMix56Fn time_mix) {
    const int64_t C = m->n_embd, T = sc->pass.T;
    embed(m, sc);
    for (int64_t l = 0; l < m->n_layer; l++) {
        time_mix(m, m->v56_layers[(size_t)l], l, sc);
        rwkv56_channel_mix(m, m->v56_layers[(size_t)l], l, sc);
        // files with rescale_every_n_layers = n > 0 halve x after every n-th
        // layer (their output and value weights are stored divided to match)
        if (m->rescale_every > 0 && (l + 1) % m->rescale_every == 0)
            for_tokens(sc->pool, T, [&](int64_t t0, int64_t t1) {
                for (int64_t i = t0 * C; i < t1 * C; i++) sc->x[i] *= 0.5f;
            });
    }
    head_logits(m, sc);
}
