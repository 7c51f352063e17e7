// server.cpp - HTTP routes, streaming, shutdown (server.h).
#include "server.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

#include <httplib.h>

#include "../common.h"
#include "api.h"
#include "chat_page.h"

using nlohmann::json;

namespace {

struct Server {
    const Model* model = nullptr;
    const WorldTokenizer* tok = nullptr;
    ServerOptions opt;
    Engine engine;
    httplib::Server http;
    std::atomic<uint64_t> next_id{1};
    std::atomic<uint64_t> http_chat{0}, http_completions{0}, http_4xx{0}, http_5xx{0}, http_503{0};
    std::mutex seed_mu;
    std::mt19937_64 seeds{std::random_device{}()};
};

void send_error(httplib::Response& res, const ApiError& e) {
    res.status = e.status;
    res.set_content(api_error_json(e), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& type, const std::string& code,
                const std::string& message) {
    ApiError e;
    e.status = status;
    e.type = type;
    e.code = code;
    e.message = message;
    send_error(res, e);
}

json usage_json(const Job& j) {
    return {{"prompt_tokens", j.prompt.size()},
            {"completion_tokens", j.n_generated},
            {"total_tokens", (int64_t)j.prompt.size() + j.n_generated},
            {"prompt_tokens_details", {{"cached_tokens", j.n_cached}}}};
}

// What a request's reply has become: its split (chat) or its text (completion).
struct ReplyView {
    std::string reasoning, content;
};

ReplyView view(const ApiRequest& ar, const std::string& raw, bool final) {
    if (ar.kind == API_COMPLETION) return ReplyView{"", utf8_sanitize(raw)};
    ChatReply r = chat_split_reply(raw, ar.think, final);
    return ReplyView{r.reasoning, r.content};
}

// One SSE event.
std::string sse(const json& j) { return "data: " + api_dump(j) + "\n\n"; }

struct Stream {
    std::shared_ptr<Job> job;
    ApiRequest ar;
    std::string id, model;
    int64_t created = 0;
    ReplyView sent;
    size_t raw_seen = 0;
    bool opened = false;
};

json chunk(const Stream& st, const json& delta_or_text, const json& finish) {
    json c = {{"index", 0}, {"finish_reason", finish}};
    if (st.ar.kind == API_CHAT) {
        c["delta"] = delta_or_text;
    } else {
        c["text"] = delta_or_text;
        c["logprobs"] = nullptr;
    }
    return {{"id", st.id},
            {"object", st.ar.kind == API_CHAT ? "chat.completion.chunk" : "text_completion"},
            {"created", st.created},
            {"model", st.model},
            {"choices", json::array({c})}};
}

// Wait for more of the job's text (or its end), then write it as events.
// False ends the response: the client is gone, and the job is cancelled.
bool stream_step(Stream* st, httplib::DataSink& sink) {
    Job& j = *st->job;
    std::string raw;
    bool done;
    {
        std::unique_lock<std::mutex> lk(j.mu);
        if (st->opened) j.cv.wait_for(lk, std::chrono::seconds(1), [&] { return j.done || j.text.size() > st->raw_seen; });
        raw = j.text;
        st->raw_seen = raw.size();
        done = j.done;
    }
    std::string out;
    const bool chat = st->ar.kind == API_CHAT;
    if (!st->opened && chat) out += sse(chunk(*st, json{{"role", "assistant"}, {"content", ""}}, nullptr));
    st->opened = true;
    const ReplyView now = view(st->ar, raw, done);
    if (now.reasoning.size() > st->sent.reasoning.size())
        out += sse(chunk(*st, json{{"reasoning_content", now.reasoning.substr(st->sent.reasoning.size())}}, nullptr));
    if (now.content.size() > st->sent.content.size()) {
        const std::string d = now.content.substr(st->sent.content.size());
        out += sse(chunk(*st, chat ? json{{"content", d}} : json(d), nullptr));
    }
    st->sent = now;
    if (done) {
        if (j.finish == GEN_ERROR) {
            ApiError e;
            e.status = 500;
            e.type = "server_error";
            e.code = "model_error";
            e.message = j.error;
            out += "data: " + api_error_json(e) + "\n\n";
        } else {
            out += sse(chunk(*st, chat ? json::object() : json(""), gen_finish_name(j.finish)));
            if (st->ar.include_usage) {
                json u = chunk(*st, json::object(), nullptr);
                u["choices"] = json::array();
                u["usage"] = usage_json(j);
                out += sse(u);
            }
        }
        out += "data: [DONE]\n\n";
    }
    if (!out.empty() && !sink.write(out.data(), out.size())) {
        j.cancel = true;
        return false;
    }
    if (done) sink.done();
    return true;
}

void wait_done(Job* j) {
    std::unique_lock<std::mutex> lk(j->mu);
    while (!j->done) j->cv.wait_for(lk, std::chrono::seconds(1));
}

void handle_generate(Server* S, ApiKind kind, const httplib::Request& req, httplib::Response& res) {
    (kind == API_CHAT ? S->http_chat : S->http_completions)++;
    ApiLimits lim;
    lim.max_tokens = S->opt.max_tokens;
    lim.n_vocab = S->model->n_vocab;
    {
        std::lock_guard<std::mutex> lk(S->seed_mu);
        lim.default_seed = S->seeds();
    }
    auto ar = std::make_shared<ApiRequest>();
    ApiError err;
    if (!api_parse_request(req.body, kind, lim, ar.get(), &err)) return send_error(res, err);

    auto job = std::make_shared<Job>();
    world_tokenizer_encode(S->tok, (const uint8_t*)ar->prompt.data(), ar->prompt.size(), &job->prompt);
    if (job->prompt.empty()) job->prompt.push_back(0);  // an empty prompt starts a new document, as generate does
    job->params = ar->gen;
    if (kind == API_CHAT) {
        std::vector<ChatMessage> msgs = ar->messages;
        const ChatThink think = ar->think;
        // where the previous turn ended: everything before the last user message
        size_t last_user = msgs.size();
        while (last_user > 0 && msgs[last_user - 1].role != "user") last_user--;
        if (last_user > 1) {
            const std::string before = chat_render_history(
                std::vector<ChatMessage>(msgs.begin(), msgs.begin() + (std::ptrdiff_t)last_user - 1), THINK_OFF);
            std::vector<int32_t> t;
            world_tokenizer_encode(S->tok, (const uint8_t*)before.data(), before.size(), &t);
            if (!t.empty() && t.size() < job->prompt.size() && std::equal(t.begin(), t.end(), job->prompt.begin()))
                job->checkpoints.push_back((int64_t)t.size());
        }
        // the next turn's prompt starts with this conversation and this reply's answer
        job->continuation = [msgs, think](const std::string& raw) {
            std::vector<ChatMessage> next = msgs;
            next.push_back(ChatMessage{"assistant", chat_split_reply(raw, think, true).content});
            return chat_render_history(next, THINK_OFF);
        };
    }
    switch (engine_submit(&S->engine, job)) {
        case SUBMIT_OK: break;
        case SUBMIT_FULL:
            res.set_header("Retry-After", "1");
            return send_error(res, 503, "server_error", "queue_full",
                              "every slot is busy and the queue is full; retry later");
        case SUBMIT_STOPPING:
            return send_error(res, 503, "server_error", "shutting_down", "the server is shutting down");
    }

    const std::string id = strprintf("%s-%llx", kind == API_CHAT ? "chatcmpl" : "cmpl",
                                     (unsigned long long)S->next_id++);
    const int64_t created = (int64_t)time(nullptr);
    if (ar->stream) {
        auto st = std::make_shared<Stream>();
        st->job = job;
        st->ar = *ar;
        st->id = id;
        st->model = S->opt.model_name;
        st->created = created;
        res.set_header("Cache-Control", "no-cache");
        res.set_chunked_content_provider(
            "text/event-stream", [st](size_t, httplib::DataSink& sink) { return stream_step(st.get(), sink); },
            [job](bool) { job->cancel = true; });  // ended, or the client went away: free the slot
        return;
    }
    wait_done(job.get());
    if (job->finish == GEN_ERROR)
        return send_error(res, 500, "server_error", "model_error", job->error);
    const ReplyView v = view(*ar, job->text, true);
    json choice = {{"index", 0}, {"finish_reason", gen_finish_name(job->finish)}};
    if (kind == API_CHAT) {
        json msg = {{"role", "assistant"}, {"content", v.content}};
        if (ar->think != THINK_OFF) msg["reasoning_content"] = v.reasoning;
        choice["message"] = msg;
    } else {
        choice["text"] = v.content;
        choice["logprobs"] = nullptr;
    }
    json body = {{"id", id},
                 {"object", kind == API_CHAT ? "chat.completion" : "text_completion"},
                 {"created", created},
                 {"model", S->opt.model_name},
                 {"choices", json::array({choice})},
                 {"usage", usage_json(*job)}};
    res.set_content(api_dump(body), "application/json");
}

std::string metrics_text(Server* S) {
    const EngineMetrics& m = S->engine.metrics;
    const StateCache& c = S->engine.cache;
    struct Metric {
        const char *name, *type, *help;
        std::string samples;  // "name{labels} value" lines; empty: "name value"
        double value;
    };
    auto by = [](const char* name, const char* label, const char* v1, uint64_t n1, const char* v2, uint64_t n2) {
        return strprintf("%s{%s=\"%s\"} %llu\n%s{%s=\"%s\"} %llu\n", name, label, v1, (unsigned long long)n1, name,
                         label, v2, (unsigned long long)n2);
    };
    const Metric metrics[] = {
        {"rwkv_requests_total", "counter", "Generation requests received, by endpoint.",
         by("rwkv_requests_total", "endpoint", "chat", S->http_chat, "completions", S->http_completions), 0},
        {"rwkv_requests_rejected_total", "counter", "Requests refused with 503 because the queue was full.", "",
         (double)m.rejected_full},
        {"rwkv_requests_cancelled_total", "counter", "Jobs cancelled (client gone, or shutdown).", "",
         (double)m.jobs_cancelled},
        {"rwkv_prompt_tokens_total", "counter", "Prompt tokens of all jobs.", "", (double)m.prompt_tokens},
        {"rwkv_prompt_tokens_processed_total", "counter", "Prompt tokens fed to the model (not from the cache).", "",
         (double)m.prompt_tokens_fed},
        {"rwkv_prompt_tokens_cached_total", "counter", "Prompt tokens whose state came from the cache.", "",
         (double)m.prompt_tokens_cached},
        {"rwkv_warm_tokens_total", "counter", "Tokens fed to bring a finished reply's state to the next turn's prefix.",
         "", (double)m.warm_tokens},
        {"rwkv_generated_tokens_total", "counter", "Tokens generated.", "", (double)m.generated_tokens},
        {"rwkv_time_to_first_token_seconds", "summary", "From submission to the first generated token.",
         strprintf("rwkv_time_to_first_token_seconds_sum %.6f\nrwkv_time_to_first_token_seconds_count %llu\n",
                   1e-6 * (double)m.ttft_us_sum, (unsigned long long)m.ttft_count),
         0},
        {"rwkv_state_cache_hits_total", "counter", "Lookups (jobs and warmings) that found a cached state.", "",
         (double)c.hits},
        {"rwkv_state_cache_misses_total", "counter", "Lookups that found none.", "", (double)c.misses},
        {"rwkv_state_cache_evictions_total", "counter", "States evicted from RAM (spilled to --state-dir if set).", "",
         (double)c.evictions},
        {"rwkv_state_cache_bytes", "gauge", "RAM held by cached states.", "", (double)c.bytes},
        {"rwkv_state_cache_entries", "gauge", "States in RAM.", "", (double)c.entries},
        {"rwkv_state_cache_disk_entries", "gauge", "States in --state-dir.", "", (double)c.disk_entries},
        {"rwkv_slots", "gauge", "Sequences decoded together.", "", (double)S->opt.engine.slots},
        {"rwkv_slots_busy", "gauge", "Slots in use.", "", (double)m.slots_busy},
        {"rwkv_queue_length", "gauge", "Jobs waiting for a slot.", "", (double)m.queued},
        {"rwkv_http_errors_total", "counter", "Error responses, by class.",
         by("rwkv_http_errors_total", "class", "4xx", S->http_4xx, "5xx", S->http_5xx), 0},
    };
    std::string o;
    for (const Metric& x : metrics) {
        o += strprintf("# HELP %s %s\n# TYPE %s %s\n", x.name, x.help, x.name, x.type);
        o += x.samples.empty() ? strprintf("%s %.17g\n", x.name, x.value) : x.samples;
    }
    return o;
}

// A constant-time comparison, so that the time taken says nothing about the key.
bool same_secret(const std::string& a, const std::string& b) {
    unsigned char d = a.size() != b.size();
    for (size_t i = 0; i < a.size(); i++) d |= (unsigned char)(a[i] ^ b[i % (b.size() ? b.size() : 1)]);
    return d == 0;
}

void setup_routes(Server* S) {
    httplib::Server& h = S->http;
    h.set_payload_max_length(S->opt.max_body_bytes);
    h.set_read_timeout(S->opt.read_timeout_s, 0);
    h.set_write_timeout(S->opt.read_timeout_s, 0);
    h.set_keep_alive_timeout(2);
    const size_t n_threads = std::min<size_t>(512, (size_t)(S->opt.engine.slots + S->opt.engine.max_queue + 16));
    h.new_task_queue = [n_threads] { return new httplib::ThreadPool(n_threads); };

    h.set_pre_routing_handler([S](const httplib::Request& req, httplib::Response& res) {
        const bool protected_path = req.path.rfind("/v1/", 0) == 0 || req.path == "/metrics";
        if (S->opt.api_key.empty() || !protected_path) return httplib::Server::HandlerResponse::Unhandled;
        const std::string auth = req.get_header_value("Authorization");
        if (auth.rfind("Bearer ", 0) == 0 && same_secret(auth.substr(7), S->opt.api_key))
            return httplib::Server::HandlerResponse::Unhandled;
        send_error(res, 401, "authentication_error", "invalid_api_key",
                   auth.empty() ? "missing API key: send 'Authorization: Bearer KEY'" : "invalid API key");
        return httplib::Server::HandlerResponse::Handled;
    });
    // httplib's own refusals (413 body too large, 400 unparsable HTTP, 404)
    // get a body in OpenAI's shape too; and every error is counted.
    h.set_error_handler([S](const httplib::Request& req, httplib::Response& res) {
        (res.status >= 500 ? S->http_5xx : S->http_4xx)++;
        if (!res.body.empty()) return;
        if (res.status == 413)
            send_error(res, 413, "invalid_request_error", "body_too_large",
                       strprintf("the request body is larger than %zu bytes", S->opt.max_body_bytes));
        else if (res.status == 404)
            send_error(res, 404, "invalid_request_error", "not_found", "no route for " + req.method + " " + req.path);
        else
            send_error(res, res.status, res.status >= 500 ? "server_error" : "invalid_request_error", "http_error",
                       strprintf("HTTP error %d", res.status));
    });
    h.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
        }
        send_error(res, 500, "server_error", "internal_error", what);
    });

    h.Post("/v1/chat/completions", [S](const httplib::Request& q, httplib::Response& r) { handle_generate(S, API_CHAT, q, r); });
    h.Post("/v1/completions", [S](const httplib::Request& q, httplib::Response& r) { handle_generate(S, API_COMPLETION, q, r); });
    h.Get("/v1/models", [S](const httplib::Request&, httplib::Response& res) {
        json m = {{"id", S->opt.model_name}, {"object", "model"}, {"created", 0}, {"owned_by", "rwkv-cli"}};
        res.set_content(api_dump(json{{"object", "list"}, {"data", json::array({m})}}), "application/json");
    });
    h.Get("/health", [S](const httplib::Request&, httplib::Response& res) {
        bool stopping;
        {
            std::lock_guard<std::mutex> lk(S->engine.mu);
            stopping = S->engine.stopping;
        }
        json j = {{"status", stopping ? "stopping" : "ok"}, {"slots", S->opt.engine.slots},
                  {"slots_busy", (uint64_t)S->engine.metrics.slots_busy}};
        res.status = stopping ? 503 : 200;  // a load balancer stops sending here
        res.set_content(api_dump(j), "application/json");
    });
    h.Get("/metrics", [S](const httplib::Request&, httplib::Response& res) {
        res.set_content(metrics_text(S), "text/plain; version=0.0.4");
    });
    h.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(CHAT_PAGE_HTML, "text/html; charset=utf-8"); });
}

}  // namespace

int server_run(const Model* m, const WorldTokenizer* tok, const ServerOptions& opt) {
    // SIGINT and SIGTERM go to one thread that shuts down in order; every
    // other thread (httplib's, the engine's, the pool's) inherits the block.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    signal(SIGPIPE, SIG_IGN);  // a client gone mid-write is an error return, not the end of the server

    Server S;
    S.model = m;
    S.tok = tok;
    S.opt = opt;
    engine_start(&S.engine, m, tok, opt.engine);
    setup_routes(&S);

    int port = opt.port;
    if (port == 0) {
        port = S.http.bind_to_any_port(opt.host);
        if (port <= 0) {
            engine_stop(&S.engine, 0);
            rwkv_fail("cannot listen on %s (any port)", opt.host.c_str());
        }
    } else if (!S.http.bind_to_port(opt.host, port)) {
        engine_stop(&S.engine, 0);
        rwkv_fail("cannot listen on %s:%d (in use, or not an address of this machine)", opt.host.c_str(), port);
    }
    fprintf(stderr, "rwkv-cli serve: %s, %d slots, listening on http://%s:%d\n", opt.model_name.c_str(),
            opt.engine.slots, opt.host.c_str(), port);

    std::atomic<bool> listening_done{false};
    std::thread sig_thread([&] {
        int sig = 0;
        sigwait(&sigs, &sig);
        if (listening_done) return;
        fprintf(stderr, "rwkv-cli serve: %s: stopping (in-flight replies get %.3g s)\n", strsignal(sig),
                opt.shutdown_grace_s);
        engine_stop(&S.engine, opt.shutdown_grace_s);
        while (!S.http.is_running() && !listening_done) usleep(10000);
        S.http.stop();
    });
    const bool ok = S.http.listen_after_bind();
    listening_done = true;
    if (!ok) pthread_kill(sig_thread.native_handle(), SIGTERM);  // the listener failed: wake the signal thread
    sig_thread.join();
    engine_stop(&S.engine, 0);
    state_cache_flush(&S.engine.cache);
    if (!opt.engine.state_dir.empty())
        fprintf(stderr, "rwkv-cli serve: %llu states in %s\n", (unsigned long long)S.engine.cache.disk_entries,
                opt.engine.state_dir.c_str());
    fprintf(stderr, "rwkv-cli serve: stopped\n");
    return ok ? 0 : 1;
}
