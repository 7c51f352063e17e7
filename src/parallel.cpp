#include "parallel.h"

#include <algorithm>

#include "../kernels/kernels.h"

namespace {

const int MAX_OPS = 8;
const double TASK_BYTES = 2 << 20;  // token mode: a split matrix's tasks hold at least this many weight bytes
const int64_t kSeqTasksPerThread = 4;  // sequence mode: tasks per thread and matrix, to even out uneven progress

struct Job {
    const MatmulOp* ops;
    const void* x[MAX_OPS];        // each op's activations in its kernel's format
    int64_t rows[MAX_OPS];         // rows per task, per op
    int64_t first_task[MAX_OPS + 1];
    int n_ops;
    int64_t T;
};

void matmul_task(void* ctx, int64_t task) {
    const Job* j = (const Job*)ctx;
    int k = 0;
    while (task >= j->first_task[k + 1]) k++;
    const Matrix& W = *j->ops[k].W;
    const int64_t row0 = (task - j->first_task[k]) * j->rows[k];
    const int64_t row1 = std::min(W.n_out, row0 + j->rows[k]);
    kern.matmul[W.layout](W.data, W.n_in, W.n_out, row0, row1, j->x[k], j->T, j->ops[k].Y);
}

// The activations the quantized kernels take (Q8_0 rows), made per row.
struct QuantJob {
    const float* src[MAX_OPS];
    uint8_t* dst[MAX_OPS];
    const Matrix* W[MAX_OPS];
    int n;
    int64_t T;
};

void quantize_task(void* ctx, int64_t t) {
    const QuantJob* j = (const QuantJob*)ctx;
    for (int k = 0; k < j->n; k++) {
        const uint32_t act = kern.act_type[j->W[k]->layout];
        const int64_t n_in = j->W[k]->n_in;
        kern.quantize_row[act](j->src[k] + t * n_in, j->dst[k] + (uint64_t)t * kernels_row_bytes(act, n_in), n_in);
    }
}

}  // namespace

uint64_t matrix_bytes(const Matrix& W) {
    return ggml_row_size(W.type, W.n_in) * (uint64_t)W.n_out;
}

void parallel_matmul_many(ThreadPool* pool, MatmulScratch* scratch, const MatmulOp* ops, int n_ops, int64_t T) {
    for (int start = 0; start < n_ops; start += MAX_OPS) {  // in groups, if ever more than MAX_OPS
        const int n = std::min(MAX_OPS, n_ops - start);
        const MatmulOp* op = ops + start;
        Job job;
        job.ops = op;
        job.n_ops = n;
        job.T = T;
        // Quantize activations where the kernels want Q8_0, into one buffer.
        uint64_t need = 0;
        for (int k = 0; k < n; k++)
            if (kern.act_type[op[k].W->layout] != GGML_TYPE_F32)
                need += kernels_row_bytes(kern.act_type[op[k].W->layout], op[k].W->n_in) * (uint64_t)T;
        if (scratch->act.size() < need) scratch->act.resize(need);
        uint64_t at = 0;
        QuantJob qj = {{}, {}, {}, 0, T};
        for (int k = 0; k < n; k++) {
            const Matrix& W = *op[k].W;
            const uint32_t act = kern.act_type[W.layout];
            job.x[k] = op[k].X;
            if (act == GGML_TYPE_F32) continue;
            const uint64_t row_bytes = kernels_row_bytes(act, W.n_in);
            qj.src[qj.n] = op[k].X;
            qj.dst[qj.n] = scratch->act.data() + at;
            qj.W[qj.n++] = &W;
            job.x[k] = scratch->act.data() + at;
            at += row_bytes * (uint64_t)T;
        }
        // one task per activation row (a row is quantized whole: same bits
        // on any thread); token mode quantizes inline
        if (qj.n > 0) pool_run(T > 1 ? pool : nullptr, T, quantize_task, &qj);
        // Rows come in multiples of 16 so every task starts on a whole
        // register tile. Sequence mode is bound by arithmetic: a few tasks
        // per thread (kSeqTasksPerThread) balance uneven progress. Token mode
        // is bound by memory, and a task's first rows arrive unprefetched, so
        // a matrix gets one task per thread unless its share is over
        // TASK_BYTES: the head is, and in 2 MiB tasks no thread waits long for
        // the other at its end (`rwkv-cli bench -n 256 -t 2` shows both).
        const int n_threads = pool_size(pool);
        job.first_task[0] = 0;
        for (int k = 0; k < n; k++) {
            const Matrix& W = *op[k].W;
            const int64_t n_out = W.n_out;
            int64_t per_thread = kSeqTasksPerThread;
            if (T == 1) {
                const double share = (double)matrix_bytes(W) / n_threads;
                per_thread = std::clamp<int64_t>((int64_t)(share / TASK_BYTES), 1, 16);
            }
            const int64_t n_tasks = per_thread * n_threads;
            int64_t rows = n_threads == 1 ? n_out : (n_out + n_tasks - 1) / n_tasks;
            rows = std::max<int64_t>(16, (rows + 15) / 16 * 16);
            job.rows[k] = rows;
            job.first_task[k + 1] = job.first_task[k] + (n_out + rows - 1) / rows;
        }
        pool_run(pool, job.first_task[n], matmul_task, &job);
    }
}

void parallel_matmul(ThreadPool* pool, MatmulScratch* scratch, const Matrix& W, const float* X, int64_t T, float* Y) {
    MatmulOp op{&W, X, Y};
    parallel_matmul_many(pool, scratch, &op, 1, T);
}
