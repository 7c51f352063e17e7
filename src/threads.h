// threads.h - one persistent pool of worker threads, created once.
//
// pool_run(pool, n_tasks, fn, ctx) calls fn(ctx, task) for every task in
// [0, n_tasks), spread over the pool's threads (the calling thread is one of
// them), and returns when all are done. Workers spin briefly between jobs
// (a forward pass issues hundreds of small jobs per token, and waking a
// sleeping thread costs more than a small matmul), then sleep.
//
// Which thread runs a task never changes a result: callers give each task
// its own outputs, so the numbers are the same for any thread count.
#pragma once

#include <cstdint>

struct ThreadPool;

ThreadPool* pool_create(int n_threads);  // n_threads >= 1 (1 = no workers)
void pool_destroy(ThreadPool* pool);
int pool_size(const ThreadPool* pool);

typedef void (*TaskFn)(void* ctx, int64_t task);
void pool_run(ThreadPool* pool, int64_t n_tasks, TaskFn fn, void* ctx);

// The number of physical cores (the default for -t).
int physical_cores();
