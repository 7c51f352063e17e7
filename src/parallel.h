// parallel.h - a weight matrix times T activation rows, on the thread pool.
//
// This is the one place where the forward pass meets the matmul kernels:
// it converts the activations to the format the weight type's kernel wants
// (Q8_0 for quantized weights, once per call, not once per thread), then
// splits the output rows into tasks for the pool. Every output element is
// computed by the same code whatever the split, so logits do not depend on
// the number of threads.
#pragma once

#include <cstdint>
#include <vector>

#include "model.h"
#include "threads.h"

struct MatmulScratch {
    std::vector<uint8_t> act;  // quantized activations (grows to the largest need, then stays)
};

void parallel_matmul(ThreadPool* pool, MatmulScratch* scratch, const Matrix& W, const float* X, int64_t T, float* Y);
