// bench_batch.h - rwkv-cli bench -b: throughput of many sequences at once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../rwkv.h"

// For each batch size B: B prompts of n_prompt tokens together, then n_gen
// steps of one token for each of the B sequences; means over reps timed
// repetitions after one warm-up. fmt "md" (a table) or "jsonl" (one object
// per B, llama-batched-bench's field names).
std::string bench_batched(RwkvContext* ctx, const std::vector<int64_t>& batch_sizes, int64_t n_prompt, int64_t n_gen,
                          int reps, const std::string& fmt);
