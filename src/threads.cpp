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

struct ThreadPool {
    int n_threads;
    std::vector<std::thread> workers;

    // The current job. A new job bumps `generation`; workers that see it take
    // tasks from `next` until none are left, then count themselves done.
    TaskFn fn = nullptr;
    void* ctx = nullptr;
    int64_t n_tasks = 0;
    std::atomic<int64_t> next{0};
    std::atomic<int> busy{0};
    std::atomic<uint64_t> generation{0};
    std::atomic<bool> stop{false};

    std::mutex mu;
    std::condition_variable cv;
    std::atomic<int> sleeping{0};
};

static void take_tasks(ThreadPool* p) {
    for (;;) {
        int64_t t = p->next.fetch_add(1, std::memory_order_relaxed);
        if (t >= p->n_tasks) break;
        p->fn(p->ctx, t);
    }
}

static void worker_main(ThreadPool* p) {
    uint64_t seen = 0;
    for (;;) {
        // Spin a while for the next job, then sleep on the condition variable.
        int spins = 0;
        uint64_t g;
        while ((g = p->generation.load(std::memory_order_acquire)) == seen && !p->stop.load()) {
            if (++spins < 100000) {
                cpu_relax();
                continue;
            }
            if (spins < 100100) {  // let other processes run before sleeping
                std::this_thread::yield();
                continue;
            }
            std::unique_lock<std::mutex> lock(p->mu);
            p->sleeping++;
            p->cv.wait(lock, [&] { return p->generation.load() != seen || p->stop.load(); });
            p->sleeping--;
            spins = 0;
        }
        if (p->stop.load()) return;
        seen = g;
        take_tasks(p);
        p->busy.fetch_sub(1, std::memory_order_acq_rel);
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
    if (!p || p->n_threads == 1 || n_tasks == 1) {
        for (int64_t t = 0; t < n_tasks; t++) fn(ctx, t);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    p->next.store(0, std::memory_order_relaxed);
    p->busy.store((int)p->workers.size(), std::memory_order_relaxed);
    {
        // Publishing under the mutex pairs with the sleepers' predicate check.
        std::lock_guard<std::mutex> lock(p->mu);
        p->generation.fetch_add(1, std::memory_order_acq_rel);
    }
    if (p->sleeping.load() > 0) p->cv.notify_all();
    take_tasks(p);
    // Wait for the workers. On an oversubscribed machine a worker may not be
    // running at all: after a short spin, give the core away while waiting.
    for (int spins = 0; p->busy.load(std::memory_order_acquire) > 0; spins++) {
        if (spins < 20000)
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
