#include "threads.h"

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax() { _mm_pause(); }
#elif defined(__aarch64__)
static inline void cpu_relax() { __asm__ __volatile__("yield"); }
#else
static inline void cpu_relax() {}
#endif

// The current job is one 64-bit word: | generation:16 | n_tasks:24 | next:24 |.
// Claiming a task is one fetch_add on it, which also tells the claimer which
// job and how many tasks it has, so a worker that wakes up late can never run
// a task of a job that has already finished (its claim lands past n_tasks of
// that job, or on a newer job it then genuinely helps with). The caller waits
// for the tasks to be done, not for the workers to check in: a worker the OS
// has not scheduled costs nothing, the caller just runs its tasks itself.
static const int NEXT_BITS = 24, N_BITS = 24;
static const uint64_t FIELD = (1ull << NEXT_BITS) - 1;
static const int64_t MAX_TASKS = (1 << 23);  // next may run past n_tasks by a few claims

// How long an idle worker spins (pause instructions: about 10 to 140 cycles
// each, by CPU), then yields, before it sleeps on the condition variable. A
// forward pass issues jobs microseconds apart, and a sleeper costs a futex
// wake-up (tens of microseconds) per job; 50000 pauses keep a worker awake
// across a token's gaps and let it sleep within milliseconds once generation
// stops, so an idle pool does not hold cores.
static const int WORKER_SPINS = 50000, WORKER_YIELDS = 100;
// The caller waits for the tasks other threads claimed by spinning, then by
// yielding: the last tasks end within microseconds unless their thread was
// descheduled, and then yielding gives it the core.
static const int CALLER_SPINS = 20000;

struct ThreadPool {
    int n_threads;
    std::vector<std::thread> workers;

    TaskFn fn = nullptr;  // valid while the current job has unfinished tasks
    void* ctx = nullptr;
    std::atomic<uint64_t> job{0};
    std::atomic<int64_t> done{0};
    std::atomic<bool> stop{false};

    std::mutex mu;
    std::condition_variable cv;
    std::atomic<int> sleeping{0};
};

static inline uint64_t job_gen(uint64_t v) { return v >> (NEXT_BITS + N_BITS); }
static inline int64_t job_n(uint64_t v) { return (int64_t)((v >> NEXT_BITS) & FIELD); }
static inline int64_t job_next(uint64_t v) { return (int64_t)(v & FIELD); }

// Claim and run tasks of the current job until none are left.
static void take_tasks(ThreadPool* p) {
    for (;;) {
        const uint64_t v = p->job.fetch_add(1, std::memory_order_acq_rel);
        if (job_next(v) >= job_n(v)) return;
        p->fn(p->ctx, job_next(v));
        p->done.fetch_add(1, std::memory_order_acq_rel);
    }
}

static bool has_work(const ThreadPool* p) {
    const uint64_t v = p->job.load(std::memory_order_acquire);
    return job_next(v) < job_n(v);
}

static void worker_main(ThreadPool* p) {
    int idle = 0;
    while (!p->stop.load(std::memory_order_relaxed)) {
        if (has_work(p)) {
            take_tasks(p);
            idle = 0;
            continue;
        }
        // Spin a while for the next job, then yield, then sleep (WORKER_SPINS).
        if (++idle < WORKER_SPINS) {
            cpu_relax();
        } else if (idle < WORKER_SPINS + WORKER_YIELDS) {
            std::this_thread::yield();
        } else {
            std::unique_lock<std::mutex> lock(p->mu);
            p->sleeping++;
            p->cv.wait(lock, [&] { return has_work(p) || p->stop.load(); });
            p->sleeping--;
            idle = 0;
        }
    }
}

ThreadPool* pool_create(int n_threads) {
    ThreadPool* p = new ThreadPool;
    p->n_threads = n_threads < 1 ? 1 : n_threads;
    for (int i = 1; i < p->n_threads; i++) p->workers.emplace_back(worker_main, p);
    return p;
}

void pool_destroy(ThreadPool* p) {
    if (!p) return;
    {
        std::lock_guard<std::mutex> lock(p->mu);
        p->stop.store(true);
    }
    p->cv.notify_all();
    for (std::thread& t : p->workers) t.join();
    delete p;
}

int pool_size(const ThreadPool* p) { return p ? p->n_threads : 1; }

void pool_run(ThreadPool* p, int64_t n_tasks, TaskFn fn, void* ctx) {
    if (n_tasks <= 0) return;
    if (!p || p->n_threads == 1 || n_tasks == 1 || n_tasks > MAX_TASKS) {
        for (int64_t t = 0; t < n_tasks; t++) fn(ctx, t);
        return;
    }
    // Publish: the job word is stored last (release), after fn and ctx.
    p->fn = fn;
    p->ctx = ctx;
    p->done.store(0, std::memory_order_relaxed);
    const uint64_t gen = (job_gen(p->job.load(std::memory_order_relaxed)) + 1) & 0xffff;
    {
        std::lock_guard<std::mutex> lock(p->mu);  // pairs with the sleepers' predicate check
        p->job.store(gen << (NEXT_BITS + N_BITS) | (uint64_t)n_tasks << NEXT_BITS, std::memory_order_release);
    }
    if (p->sleeping.load() > 0) p->cv.notify_all();
    take_tasks(p);
    // Wait for tasks other threads claimed and are still running.
    for (int spins = 0; p->done.load(std::memory_order_acquire) < n_tasks; spins++) {
        if (spins < CALLER_SPINS)
            cpu_relax();
        else
            std::this_thread::yield();
    }
}

int physical_cores() {
    // Count distinct (package, core) pairs; fall back to the online CPUs.
    std::set<std::string> cores;
    for (int cpu = 0; cpu < 1024; cpu++) {
        std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
        FILE* a = fopen((base + "physical_package_id").c_str(), "r");
        FILE* b = fopen((base + "core_id").c_str(), "r");
        if (!a || !b) {
            if (a) fclose(a);
            if (b) fclose(b);
            if (cpu > 0) break;
            continue;
        }
        int pkg = 0, core = 0;
        if (fscanf(a, "%d", &pkg) == 1 && fscanf(b, "%d", &core) == 1)
            cores.insert(std::to_string(pkg) + ":" + std::to_string(core));
        fclose(a);
        fclose(b);
    }
    if (!cores.empty()) return (int)cores.size();
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
