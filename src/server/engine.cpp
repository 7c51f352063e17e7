// engine.cpp - the engine thread (engine.h).
#include "engine.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "../common.h"

double engine_now() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Put a job (or a warming sequence, job == null) into a free slot, starting
// from the longest cached prefix of its tokens (at least one token is left to
// feed: the logits after it are where generation starts).
static void admit(Engine* e, EngineSlot* s, const std::shared_ptr<Job>& job, std::vector<int32_t> tokens) {
    GenParams warm_params;
    warm_params.n_predict = 0;
    gen_init(&s->seq, e->model, e->tok, job ? job->params : warm_params);
    s->job = job;
    s->busy = true;
    e->metrics.slots_busy++;
    s->warming = !job;
    s->tokens = std::move(tokens);
    s->prompt_kept = false;
    s->first_token_seen = false;
    s->sent = 0;
    const int64_t n = (int64_t)s->tokens.size();
    const int64_t cached = state_cache_lookup(&e->cache, s->tokens.data(), n, n - 1, &s->seq.state);
    s->seg_end = n;
    if (job)
        for (int64_t c : job->checkpoints)
            if (c > cached && c < n) {
                s->seg_end = c;
                break;
            }
    gen_set_prompt(&s->seq, s->tokens.data() + cached, s->seg_end - cached);
    if (job) {
        std::lock_guard<std::mutex> lk(job->mu);
        job->n_cached = cached;
        e->metrics.prompt_tokens += (uint64_t)n;
        e->metrics.prompt_tokens_cached += (uint64_t)cached;
    }
    (job ? e->metrics.prompt_tokens_fed : e->metrics.warm_tokens) += (uint64_t)(n - cached);
}

static void release(Engine* e, EngineSlot* s) {
    s->busy = false;
    s->job.reset();
    e->metrics.slots_busy--;
}

static void finish_job(Job* j, GenFinish why, const std::string& error, int64_t n_generated) {
    std::lock_guard<std::mutex> lk(j->mu);
    j->done = true;
    j->finish = why;
    j->error = error;
    j->n_generated = n_generated;
    j->cv.notify_all();
}

// A slot's sequence is done: keep its state, hand the job its end.
static void retire(Engine* e, EngineSlot* s) {
    GenSeq& q = s->seq;
    if (s->warming) {
        release(e, s);  // its state was kept when its last segment was fed
        return;
    }
    std::shared_ptr<Job> job = std::move(s->job);
    Job* j = job.get();
    std::vector<int32_t> warm;
    if (q.finish != GEN_CANCELLED && q.finish != GEN_ERROR) {
        // every generated token has been fed: the state is that of prompt + reply
        std::vector<int32_t> fed = s->tokens;
        fed.insert(fed.end(), q.generated.begin(), q.generated.end());
        state_cache_put(&e->cache, fed.data(), (int64_t)fed.size(), &q.state);
        const std::string next = j->continuation ? j->continuation(q.text) : std::string();
        if (!next.empty()) {
            std::vector<int32_t> want;
            world_tokenizer_encode(e->tok, (const uint8_t*)next.data(), next.size(), &want);
            if (want != fed && want.size() > 1) warm = std::move(want);
        }
    }
    if (q.finish == GEN_CANCELLED) e->metrics.jobs_cancelled++;
    e->metrics.generated_tokens += q.generated.size();
    finish_job(j, q.finish, q.error, (int64_t)q.generated.size());
    release(e, s);
    // Warm in this very slot, before the engine admits anything else: the
    // client cannot send its next turn before the next step has fed it (in
    // one step unless the reply is longer than a chunk; a next turn that
    // comes earlier feeds the same tokens itself, Job.checkpoints).
    if (!warm.empty()) admit(e, s, nullptr, std::move(warm));
}

// A job whose prompt extends a sequence being warmed waits for it (a step,
// unless the warming is longer than a chunk): then it starts from its state.
static bool extends_warming(const Engine* e, const std::vector<int32_t>& prompt) {
    for (const EngineSlot& s : e->slots)
        if (s.busy && s.warming && s.tokens.size() < prompt.size() &&
            std::equal(s.tokens.begin(), s.tokens.end(), prompt.begin()))
            return true;
    return false;
}

static void engine_loop(Engine* e) {
    std::vector<GenSeq*> step;
    std::vector<bool> prefilling(e->slots.size());
    for (;;) {
        std::vector<std::shared_ptr<Job>> admitted;
        size_t n_free = 0;
        for (const EngineSlot& s : e->slots) n_free += !s.busy;
        {
            std::unique_lock<std::mutex> lk(e->mu);
            e->cv.wait(lk, [&] {
                return e->cancel_all || e->stopping || n_free < e->slots.size() || !e->queue.empty();
            });
            if (e->cancel_all) {
                for (auto& j : e->queue) finish_job(j.get(), GEN_CANCELLED, "", 0);
                e->metrics.jobs_cancelled += e->queue.size();
                e->queue.clear();
                for (EngineSlot& s : e->slots)
                    if (s.busy && s.job) s.job->cancel = true;
                    else if (s.busy) gen_cancel(&s.seq);  // a warming
            }
            while (n_free > admitted.size() && !e->queue.empty()) {
                admitted.push_back(std::move(e->queue.front()));
                e->queue.pop_front();
            }
            e->metrics.queued = e->queue.size();
            if (e->stopping && e->queue.empty() && admitted.empty() && n_free == e->slots.size()) {
                e->exited = true;
                e->cv.notify_all();
                return;
            }
        }
        try {
            std::vector<std::shared_ptr<Job>> deferred;
            for (std::shared_ptr<Job>& j : admitted) {
                EngineSlot* s = nullptr;
                for (EngineSlot& c : e->slots)
                    if (!c.busy) s = &c;
                if (j->cancel) {  // gone while it queued
                    e->metrics.jobs_cancelled++;
                    finish_job(j.get(), GEN_CANCELLED, "", 0);
                } else if (!s || extends_warming(e, j->prompt)) {
                    deferred.push_back(std::move(j));
                } else {
                    std::vector<int32_t> t = j->prompt;
                    admit(e, s, j, std::move(t));
                }
            }
            if (!deferred.empty()) {  // back to the head of the queue, in order
                std::lock_guard<std::mutex> lk(e->mu);
                e->queue.insert(e->queue.begin(), deferred.begin(), deferred.end());
                e->metrics.queued = e->queue.size();
            }
            step.clear();
            for (size_t i = 0; i < e->slots.size(); i++) {
                EngineSlot& s = e->slots[i];
                if (!s.busy) continue;
                if (s.job && s.job->cancel) gen_cancel(&s.seq);  // its client went away: free the slot now
                prefilling[i] = s.seq.phase == GEN_PREFILL;
                step.push_back(&s.seq);
            }
            if (!step.empty()) {
                gen_step(&e->ctx, step.data(), (int64_t)step.size());
                e->metrics.steps++;
            }
            for (size_t i = 0; i < e->slots.size(); i++) {
                EngineSlot& s = e->slots[i];
                if (!s.busy) continue;
                GenSeq& q = s.seq;
                // the step that fed a segment's last token has not sampled yet: the state is the segment end's
                if (prefilling[i] && q.n_prompt_fed == (int64_t)q.prompt.size() && q.finish != GEN_CANCELLED &&
                    !s.prompt_kept) {
                    state_cache_put(&e->cache, s.tokens.data(), s.seg_end, &q.state);
                    const int64_t n = (int64_t)s.tokens.size(), from = s.seg_end;
                    s.seg_end = n;
                    for (int64_t c : s.job ? s.job->checkpoints : std::vector<int64_t>())
                        if (c > from && c < n) {
                            s.seg_end = c;
                            break;
                        }
                    if (from < n)  // nothing was sampled yet: the next segment continues the prompt
                        gen_set_prompt(&q, s.tokens.data() + from, s.seg_end - from);
                    else
                        s.prompt_kept = true;
                }
                if (s.job && !s.first_token_seen && !q.generated.empty()) {
                    s.first_token_seen = true;
                    e->metrics.ttft_us_sum += (uint64_t)(1e6 * (engine_now() - s.job->t_submit));
                    e->metrics.ttft_count++;
                }
                if (s.job && q.text.size() > s.sent) {
                    std::lock_guard<std::mutex> lk(s.job->mu);
                    s.job->text.append(q.text, s.sent, std::string::npos);
                    s.sent = q.text.size();
                    s.job->cv.notify_all();
                }
                if (q.phase == GEN_DONE) retire(e, &s);
            }
        } catch (const std::exception& ex) {  // RwkvError, bad_alloc: fail what is running, keep serving
            fprintf(stderr, "rwkv-cli serve: engine error: %s\n", ex.what());
            for (EngineSlot& s : e->slots) {
                if (!s.busy) continue;
                if (s.job) finish_job(s.job.get(), GEN_ERROR, ex.what(), (int64_t)s.seq.generated.size());
                release(e, &s);
            }
        }
    }
}

void engine_start(Engine* e, const Model* m, const WorldTokenizer* tok, const EngineOptions& opt) {
    e->model = m;
    e->tok = tok;
    e->opt = opt;
    rwkv_context_init(&e->ctx, m, rwkv_default_chunk(m), opt.n_threads);
    state_cache_open(&e->cache, m, opt.cache_mb, opt.state_dir);
    e->slots.resize((size_t)opt.slots);
    e->thread = std::thread(engine_loop, e);
}

EngineSubmit engine_submit(Engine* e, const std::shared_ptr<Job>& job) {
    std::lock_guard<std::mutex> lk(e->mu);
    if (e->stopping) return SUBMIT_STOPPING;
    if (e->queue.size() >= (size_t)e->opt.max_queue) {
        e->metrics.rejected_full++;
        return SUBMIT_FULL;
    }
    job->t_submit = engine_now();
    e->queue.push_back(job);
    e->metrics.jobs++;
    e->metrics.queued = e->queue.size();
    e->cv.notify_all();
    return SUBMIT_OK;
}

void engine_stop(Engine* e, double grace_seconds) {
    std::unique_lock<std::mutex> lk(e->mu);
    e->stopping = true;
    e->cv.notify_all();
    e->cv.wait_for(lk, std::chrono::duration<double>(grace_seconds), [&] { return e->exited; });
    e->cancel_all = true;
    e->cv.notify_all();
    lk.unlock();
    if (e->thread.joinable()) e->thread.join();
}
