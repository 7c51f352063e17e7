#include "sampler.h"

#include <algorithm>
#include <cmath>

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

int32_t sampler_sample(Sampler* s, float* logits) {
    const int64_t V = s->n_vocab;
    for (int64_t i = 0; i < V; i++)
        if (s->counts[(size_t)i] > 0.0f)
            logits[i] -= s->p.presence_penalty + s->counts[(size_t)i] * s->p.frequency_penalty;

    int32_t token = 0;
    if (s->p.temp <= 0.0f) {
        token = (int32_t)(std::max_element(logits, logits + V) - logits);
    } else {
        // softmax, stably
        const float mx = *std::max_element(logits, logits + V);
        float* p = s->probs.data();
        double sum = 0.0;
        for (int64_t i = 0; i < V; i++) sum += (p[i] = expf(logits[i] - mx));
        for (int64_t i = 0; i < V; i++) p[i] = (float)(p[i] / sum);

        // Candidates, most likely first. Sorting all V tokens every step would
        // cost more than a small model's forward pass, so sort a prefix and
        // grow it only while the nucleus is not yet covered.
        int32_t* idx = s->order.data();
        for (int64_t i = 0; i < V; i++) idx[i] = (int32_t)i;
        auto by_prob = [p](int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); };
        const int64_t limit = s->p.top_k > 0 ? std::min<int64_t>(s->p.top_k, V) : V;
        int64_t n = 0;
        double mass = 0.0;
        for (int64_t sorted = std::min<int64_t>(64, limit);; sorted = std::min<int64_t>(sorted * 4, limit)) {
            std::partial_sort(idx, idx + sorted, idx + V, by_prob);
            mass = 0.0;
            for (n = 0; n < sorted; n++) {
                mass += p[idx[n]];
                if (mass >= s->p.top_p) {
                    n++;
                    break;
                }
            }
            if (n < sorted || mass >= s->p.top_p || sorted == limit) break;
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
