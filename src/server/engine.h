// engine.h - one thread runs the model for every request (continuous batching).
//
// HTTP handler threads turn requests into Jobs and wait on them; the engine
// thread alone owns the RwkvContext. It keeps `slots` sequences (GenSeq) and,
// between steps, lets queued jobs into free slots and lets finished ones
// go; each step advances every busy slot at once through gen_step (one
// rwkv_eval_batch: decoders one token each, new prompts a chunk). A job's
// text depends only on its own prompt and sampling options, never on what
// shares its steps, so a seeded request gives `rwkv-cli generate`'s text.
//
// A job starts from the longest prefix of its prompt in the state cache
// (state_cache.h) and feeds only the rest. When its prompt is fed, the state
// is kept under the prompt's tokens; when it ends, under the prompt and reply
// tokens as fed, and, if the next request of the conversation will start
// with other tokens (the chat template re-tokenizes the reply, adds "\n\n"),
// those tokens are fed in the slot it leaves ("warming") and kept too, so the next
// turn finds its whole history cached. A request that comes before its
// warming has run keeps the state at that point of its own prompt instead
// (Job.checkpoints).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../generation.h"
#include "state_cache.h"

struct Job {
    // set before engine_submit, read-only afterwards
    std::vector<int32_t> prompt;  // at least one token
    GenParams params;
    // The text the next request of this conversation starts with, given this
    // reply's text; empty (or no function) for none.
    std::function<std::string(const std::string& reply)> continuation;
    // Prompt lengths (0 < p < prompt.size(), ascending) whose states are kept
    // as well as the whole prompt's: where an earlier turn of the conversation
    // ended, so that its state is cached even if that turn's warming (below)
    // has not run yet when this request comes.
    std::vector<int64_t> checkpoints;
    double t_submit = 0;  // seconds (engine_now)

    std::atomic<bool> cancel{false};  // set by the handler when its client is gone

    // written by the engine under mu; handlers wait on cv
    std::mutex mu;
    std::condition_variable cv;
    std::string text;  // the reply so far (grows)
    bool done = false;
    GenFinish finish = GEN_RUNNING;
    std::string error;
    int64_t n_cached = 0;     // prompt tokens that came from the state cache
    int64_t n_generated = 0;  // at the end
};

struct EngineOptions {
    int slots = 4;        // sequences decoded together
    int max_queue = 64;   // jobs waiting for a slot, beyond which submit refuses
    size_t cache_mb = 256;
    std::string state_dir;
    int n_threads = 0;    // the context's pool (0 = one per physical core)
};

// Counters for /metrics (Prometheus counters and gauges).
struct EngineMetrics {
    std::atomic<uint64_t> jobs{0}, jobs_cancelled{0}, rejected_full{0};
    std::atomic<uint64_t> prompt_tokens{0}, prompt_tokens_fed{0}, prompt_tokens_cached{0}, generated_tokens{0}, warm_tokens{0};
    std::atomic<uint64_t> ttft_us_sum{0}, ttft_count{0};
    std::atomic<uint64_t> slots_busy{0}, queued{0}, steps{0};
};

struct EngineSlot {
    GenSeq seq;
    std::shared_ptr<Job> job;  // null: free, or warming
    bool busy = false, warming = false;
    std::vector<int32_t> tokens;  // the whole prompt (seq.prompt is the segment being fed)
    int64_t seg_end = 0;          // the prompt is fed in segments ending at the job's checkpoints
    bool prompt_kept = false, first_token_seen = false;
    size_t sent = 0;  // bytes of seq.text passed to the job
};

struct Engine {
    const Model* model = nullptr;
    const WorldTokenizer* tok = nullptr;
    EngineOptions opt;
    RwkvContext ctx;
    StateCache cache;
    EngineMetrics metrics;

    std::mutex mu;  // guards the fields below
    std::condition_variable cv;
    std::deque<std::shared_ptr<Job>> queue;
    bool stopping = false, cancel_all = false, exited = false;

    std::thread thread;
    std::vector<EngineSlot> slots;  // the engine thread's
};

// Build the context and the cache (state_cache_open may fail: rwkv_fail), start the thread.
void engine_start(Engine* e, const Model* m, const WorldTokenizer* tok, const EngineOptions& opt);

enum EngineSubmit { SUBMIT_OK, SUBMIT_FULL, SUBMIT_STOPPING };
EngineSubmit engine_submit(Engine* e, const std::shared_ptr<Job>& job);

// Stop: refuse new jobs, let the queued and running ones finish for up to
// grace_seconds, cancel what is left, join the thread. The cache is then the
// caller's to flush.
void engine_stop(Engine* e, double grace_seconds);

// Monotonic seconds.
double engine_now();
