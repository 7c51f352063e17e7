#include "parallel.h"

#include <algorithm>

#include "../kernels/kernels.h"

namespace {
struct MatmulJob {
    const Matrix* W;
    const void* X;
    int64_t T;
    float* Y;
    int64_t rows_per_task;
};

void matmul_task(void* ctx, int64_t task) {
    const MatmulJob* j = (const MatmulJob*)ctx;
    const int64_t row0 = task * j->rows_per_task;
    const int64_t row1 = std::min(j->W->n_out, row0 + j->rows_per_task);
    kern.matmul[j->W->type](j->W->data, j->W->n_in, j->W->n_out, row0, row1, j->X, j->T, j->Y);
}
}  // namespace

void parallel_matmul(ThreadPool* pool, MatmulScratch* scratch, const Matrix& W, const float* X, int64_t T, float* Y) {
    const void* x = X;
    const uint32_t act = kern.act_type[W.type];
    if (act != GGML_TYPE_F32) {
        const uint64_t row_bytes = ggml_row_size(act, W.n_in);
        if (scratch->act.size() < row_bytes * (uint64_t)T) scratch->act.resize(row_bytes * (uint64_t)T);
        for (int64_t t = 0; t < T; t++)
            kern.quantize_row[act](X + t * W.n_in, scratch->act.data() + (uint64_t)t * row_bytes, W.n_in);
        x = scratch->act.data();
    }
    const int n_threads = pool_size(pool);
    if (n_threads == 1 || W.n_out < 64) {
        kern.matmul[W.type](W.data, W.n_in, W.n_out, 0, W.n_out, x, T, Y);
        return;
    }
    // A few tasks per thread balance uneven progress; rows come in multiples
    // of 16 so every task starts on a whole register tile.
    const int64_t tasks_wanted = 4 * n_threads;
    int64_t rows = (W.n_out + tasks_wanted - 1) / tasks_wanted;
    rows = (rows + 15) / 16 * 16;
    MatmulJob job{&W, x, T, Y, rows};
    pool_run(pool, (W.n_out + rows - 1) / rows, matmul_task, &job);
}
