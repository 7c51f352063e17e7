// parallel.h - weight matrices times activation rows, on the thread pool.
//
// This is the one place where the forward pass meets the matmul kernels:
// it converts the activations to the format the weight type's kernel wants
// (Q8_0 for quantized weights, once per call, not once per thread), then
// splits the output rows into tasks for the pool. Several independent
// products (r, k and v, say) can go in one call: one wake-up of the pool
// instead of three, which matters when a token's work is a few hundred
// microseconds. Every output element is computed by the same code whatever
// the split, so logits do not depend on the number of threads.
#pragma once

#include <cstdint>
#include <vector>

#include "model.h"
#include "threads.h"

struct MatmulScratch {
    std::vector<uint8_t> act;  // quantized activations (grows to the largest need, then stays)
};

// Y = W X for T rows of X (n_in each) into T rows of Y (n_out each).
struct MatmulOp {
    const Matrix* W;
    const float* X;
    float* Y;
};

// The bytes a product with W reads from its weights (in the file's type, however
// the kernels have rearranged them).
uint64_t matrix_bytes(const Matrix& W);

void parallel_matmul(ThreadPool* pool, MatmulScratch* scratch, const Matrix& W, const float* X, int64_t T, float* Y);
void parallel_matmul_many(ThreadPool* pool, MatmulScratch* scratch, const MatmulOp* ops, int n_ops, int64_t T);
