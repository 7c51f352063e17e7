#include "sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../kernels/kernels.h"

void sampler_init(Sampler* s, const SamplerParams& p, int64_t n_vocab) {
    s->p = p;
    s->n_vocab = n_vocab;
    s->rng = p.seed;
    s->counts.assign((size_t)n_vocab, 0.0f);
    s->probs.assign((size_t)n_vocab, 0.0f);
    s->order.assign((size_t)n_vocab, 0);
}

float sampler_uniform(Sampler* s) {
    // splitmix64: tiny, fast, and the same sequence on every platform.
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

void sampler_accept(Sampler* s, int32_t token) {
    if (s->p.presence_penalty == 0.0f && s->p.frequency_penalty == 0.0f) return;
    for (float& c : s->counts) c *= s->p.penalty_decay;
    s->counts[(size_t)token] += 1.0f;
}

// A superset of the nucleus, cheaply: bucket the probabilities by the top
// bits of their float representation (monotonic for non-negative floats),
// walk the buckets from the most likely down until their mass reaches top_p,
// and return every token in those buckets. The caller sorts only these.
static int64_t nucleus_candidates(const float* p, int64_t V, float top_p, int32_t* idx) {
    const int SHIFT = 19, NB = (0x3f800000 >> SHIFT) + 1;  // probabilities are <= 1.0f
    double mass[NB] = {0};
    for (int64_t i = 0; i < V; i++) {
        uint32_t u;
        memcpy(&u, &p[i], 4);
        mass[std::min<uint32_t>(u >> SHIFT, NB - 1)] += p[i];
    }
    int cut = 0;
    double cum = 0.0;
    for (int b = NB - 1; b >= 0; b--) {
        cum += mass[b];
        if (cum >= top_p) {
            cut = b;
            break;
        }
    }
    int64_t n = 0;
    for (int64_t i = 0; i < V; i++) {
        uint32_t u;
        memcpy(&u, &p[i], 4);
        if ((int)std::min<uint32_t>(u >> SHIFT, NB - 1) >= cut) idx[n++] = (int32_t)i;
    }
    return n;
}

int32_t sampler_sample(Sampler* s, float* logits) {
    const int64_t V = s->n_vocab;
    for (int64_t i = 0; i < V; i++)
        if (s->counts[(size_t)i] > 0.0f)
            logits[i] -= s->p.presence_penalty + s->counts[(size_t)i] * s->p.frequency_penalty;

    int32_t token = 0;
    if (s->p.temp <= 0.0f) {
        token = (int32_t)(std::max_element(logits, logits + V) - logits);
    } else {
        float* p = s->probs.data();
        kern.softmax(logits, V, p);  // stably: the max is subtracted first

        // The candidates, most likely first (ties by id, so the order is
        // deterministic): the top_k, then the shortest prefix whose mass
        // reaches top_p. Sorting all V tokens every step would cost more than
        // a small model's forward pass, so only what can be kept is sorted.
        int32_t* idx = s->order.data();
        auto by_prob = [p](int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); };
        int64_t n = 0;
        if (s->p.top_k > 0 && s->p.top_k < V) {
            for (int64_t i = 0; i < V; i++) idx[i] = (int32_t)i;
            std::nth_element(idx, idx + s->p.top_k, idx + V, by_prob);
            n = s->p.top_k;
        } else if (s->p.top_p < 1.0f) {
            n = nucleus_candidates(p, V, s->p.top_p, idx);
        } else {
            for (int64_t i = 0; i < V; i++) idx[i] = (int32_t)i;
            n = V;
        }
        std::sort(idx, idx + n, by_prob);
        if (s->p.top_p < 1.0f) {
            double mass = 0.0;
            for (int64_t i = 0; i < n; i++) {
                mass += p[idx[i]];
                if (mass >= s->p.top_p) {
                    n = i + 1;
                    break;
                }
            }
        }
        // temperature on the kept candidates: p^(1/temp), renormalised
        double total = 0.0;
        const float inv_t = 1.0f / s->p.temp;
        for (int64_t i = 0; i < n; i++) total += (p[idx[i]] = powf(p[idx[i]], inv_t));
        const double r = sampler_uniform(s) * total;
        double acc = 0.0;
        token = idx[n - 1];
        for (int64_t i = 0; i < n; i++) {
            acc += p[idx[i]];
            if (r < acc) {
                token = idx[i];
                break;
            }
        }
    }
    sampler_accept(s, token);
    return token;
}
