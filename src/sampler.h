// sampler.h - turn logits into the next token.
//
// The order follows the RWKV pipeline (rwkv pip package / ChatRWKV):
//   1. repetition penalties on the logits, ChatRWKV's rule:
//        logit[t] -= presence_penalty + count[t] * frequency_penalty
//      where count[t] counts how often t was generated, every count decaying
//      by penalty_decay per generated token (so old repeats are forgiven);
//   2. temp == 0: greedy (the largest logit);
//   3. otherwise probabilities p = softmax(logits), restricted to the top_k
//      most likely (top_k > 0) and to the smallest set whose mass reaches
//      top_p (nucleus), then sharpened or flattened as p^(1/temp), then a
//      draw from a seeded generator: the same seed gives the same text.
#pragma once

#include <cstdint>
#include <vector>

struct SamplerParams {
    float temp = 1.0f;
    float top_p = 0.85f;
    int32_t top_k = 0;  // 0 = off
    float presence_penalty = 0.2f;
    float frequency_penalty = 0.2f;
    float penalty_decay = 0.996f;
    uint64_t seed = 42;
};

struct Sampler {
    SamplerParams p;
    int64_t n_vocab = 0;
    uint64_t rng = 0;
    std::vector<float> counts;  // decayed occurrence counts, per token
    std::vector<float> probs;   // working buffers, allocated once
    std::vector<int32_t> order;
};

void sampler_init(Sampler* s, const SamplerParams& p, int64_t n_vocab);
// Pick a token from logits (modified in place by the penalties) and record it.
int32_t sampler_sample(Sampler* s, float* logits);
// Record a token that was chosen outside the sampler (counts for penalties).
void sampler_accept(Sampler* s, int32_t token);

// A uniform float in [0, 1) from the sampler's generator (splitmix64).
float sampler_uniform(Sampler* s);
