// batch.cpp - rwkv-cli batch: many requests, one JSON object a line, through
// one model, up to -b sequences advancing together.
//
// Each request either generates (gen_step, as generate does: the same
// prompt, seed and options give the same text) or scores its prompt (the
// log-probability of every token after the first, as perplexity scores a
// text). A slot freed by a finished request takes the next one before the
// next step (continuous batching). A sequence's result depends on nothing
// but its own request, so the output is the same bytes for any -b, thread
// count or shard split. docs/scale-out.md shows the command under GNU
// parallel, Slurm and Kubernetes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "../common.h"
#include "../generation.h"
#include "../rwkv.h"
#include "cli.h"
#include "options.h"

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;  // records keep "id" first

// ---- input -----------------------------------------------------------------

// Input lines, read with read(2): Ctrl-C interrupts a wait for more input
// (stdio would retry or latch an error).
struct LineReader {
    int fd = 0;
    std::string buf;
    size_t pos = 0;
    bool eof = false;
    int64_t line_no = 0;  // of the line last returned, from 1
};

// The next line without its '\n' (a last line without one counts); false at
// the end of the input or when interrupted.
static bool next_line(LineReader* r, std::string* line, const std::string& name) {
    for (;;) {
        const size_t nl = r->buf.find('\n', r->pos);
        if (nl != std::string::npos || (r->eof && r->pos < r->buf.size())) {
            const size_t end = nl == std::string::npos ? r->buf.size() : nl;
            line->assign(r->buf, r->pos, end - r->pos);
            r->pos = nl == std::string::npos ? end : end + 1;
            r->line_no++;
            return true;
        }
        if (r->eof || cli_interrupted()) return false;
        r->buf.erase(0, r->pos);
        r->pos = 0;
        char chunk[1 << 16];
        const ssize_t n = read(r->fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) rwkv_fail("%s: read error: %s", name.c_str(), strerror(errno));
        if (n == 0) r->eof = true;
        r->buf.append(chunk, (size_t)n);
    }
}

static bool blank(const std::string& s) { return s.find_first_not_of(" \t\r") == std::string::npos; }

// The requests shard k of n takes from a regular file (for the progress
// bar), or -1 for a pipe.
static int64_t count_requests(const std::string& path, int64_t k, int64_t n) {
    struct stat st;
    if (path == "-" || stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return -1;
    LineReader r;
    r.fd = open(path.c_str(), O_RDONLY);
    if (r.fd < 0) return -1;
    std::string line;
    int64_t all = 0, mine = 0;
    while (next_line(&r, &line, path))
        if (!blank(line)) mine += all++ % n == k;
    close(r.fd);
    return mine;
}

// ---- requests --------------------------------------------------------------

struct Request {
    int64_t line = 0;   // input line, from 1
    int64_t index = 0;  // place among this process's records (output order)
    json id;            // as given, else the line number
    bool score = false;
    std::string prompt;
    GenParams params;
    std::string error;  // not empty: the request is answered by an error record
};

// After a line failed to parse: the field the parser was in (reading its
// value, or "" if between fields) and the id, if it was read before the
// error. nlohmann's message says what and where, not in which field.
struct WhereSax : nlohmann::json_sax<json> {
    int depth = 0;
    std::string field;    // the top-level field being read
    bool in_value = false;
    json id;
    bool has_id = false;
    bool scalar(const json& v) {
        if (depth == 1 && in_value && field == "id") id = v, has_id = true;
        if (depth == 1) in_value = false;
        return true;
    }
    bool null() override { return scalar(json()); }
    bool boolean(bool v) override { return scalar(v); }
    bool number_integer(number_integer_t v) override { return scalar(v); }
    bool number_unsigned(number_unsigned_t v) override { return scalar(v); }
    bool number_float(number_float_t v, const string_t&) override { return scalar(v); }
    bool string(string_t& v) override { return scalar(v); }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override { depth++; return true; }
    bool key(string_t& k) override {
        if (depth == 1) {
            field = k;
            in_value = true;
        }
        return true;
    }
    bool end_object() override {
        if (--depth == 1) in_value = false;
        return true;
    }
    bool start_array(std::size_t) override { depth++; return true; }
    bool end_array() override {
        if (--depth == 1) in_value = false;
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

// nlohmann's message without its "[json.exception.parse_error.101] " tag.
static std::string json_message(const std::exception& e) {
    std::string m = e.what();
    if (!m.empty() && m[0] == '[') {
        const size_t end = m.find("] ");
        if (end != std::string::npos) m.erase(0, end + 2);
    }
    // one line is parsed at a time: its column is what locates the error
    const size_t at = m.find("at line 1, column ");
    if (at != std::string::npos) m.replace(at, 18, "at column ");
    return m;
}

// A field's value, checked: false with *err naming the field otherwise.
static bool get_float(const json& v, const char* field, float* out, std::string* err) {
    if (!v.is_number()) {
        *err = strprintf("field \"%s\": expected a number, got %s", field, v.type_name());
        return false;
    }
    *out = (float)v.get<double>();
    return true;
}

static bool get_int(const json& v, const char* field, int64_t lo, int64_t hi, int64_t* out, std::string* err) {
    bool ok = v.is_number_integer();
    if (ok && v.is_number_unsigned()) ok = v.get<uint64_t>() <= (uint64_t)hi;
    if (ok) ok = v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
    if (!ok) {
        *err = strprintf("field \"%s\": expected an integer in %lld..%lld, got %s", field, (long long)lo,
                         (long long)hi, v.dump().c_str());
        return false;
    }
    *out = v.get<int64_t>();
    return true;
}

// Parse one input line into *q (q->line set): false with q->error set (and
// q->id if known) for a line that is not a valid request.
static bool parse_request(const std::string& line, const GenParams& defaults, Request* q) {
    q->id = q->line;
    q->params = defaults;
    json j;
    try {
        j = json::parse(line);
    } catch (const json::exception& e) {
        WhereSax where;
        json::sax_parse(line, &where);
        if (where.has_id) q->id = where.id;
        q->error = where.in_value ? strprintf("field \"%s\": %s", where.field.c_str(), json_message(e).c_str())
                                  : "not valid JSON: " + json_message(e);
        return false;
    }
    if (!j.is_object()) {
        q->error = strprintf("expected a JSON object, got %s", j.type_name());
        return false;
    }
    if (j.contains("id")) {
        if (!j["id"].is_primitive()) {
            q->error = strprintf("field \"id\": expected a string, number, boolean or null, got %s",
                                 j["id"].type_name());
            return false;
        }
        q->id = j["id"];
    }
    std::string& err = q->error;
    static const char* const kSampling[] = {"temp", "top_p", "top_k", "presence_penalty", "frequency_penalty",
                                            "penalty_decay", "seed", "n_predict", "stop"};
    if (j.contains("mode")) {
        const json& m = j["mode"];
        if (!m.is_string() || (m != "generate" && m != "logprobs" && m != "score")) {
            err = "field \"mode\": expected \"generate\", \"logprobs\" or \"score\", got " + m.dump();
            return false;
        }
        q->score = m != "generate";
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& k = it.key();
        bool known = k == "id" || k == "prompt" || k == "mode";
        bool sampling = false;
        for (const char* s : kSampling) sampling = sampling || k == s;
        if (!known && !sampling) {
            err = strprintf("unknown field \"%s\" (a request has id, prompt, mode, n_predict, temp, top_p, top_k, "
                            "presence_penalty, frequency_penalty, penalty_decay, seed, stop)", k.c_str());
            return false;
        }
        if (sampling && q->score) {
            err = strprintf("field \"%s\": does not apply to mode \"%s\" (a scoring request has id, prompt, mode)",
                            k.c_str(), j["mode"].get<std::string>().c_str());
            return false;
        }
    }
    if (!j.contains("prompt")) {
        err = "missing field \"prompt\"";
        return false;
    }
    if (!j["prompt"].is_string()) {
        err = strprintf("field \"prompt\": expected a string, got %s", j["prompt"].type_name());
        return false;
    }
    q->prompt = j["prompt"].get<std::string>();

    SamplerParams& sp = q->params.sampling;
    int64_t v;
    if (j.contains("temp") && !get_float(j["temp"], "temp", &sp.temp, &err)) return false;
    if (j.contains("top_p") && !get_float(j["top_p"], "top_p", &sp.top_p, &err)) return false;
    if (j.contains("presence_penalty") && !get_float(j["presence_penalty"], "presence_penalty", &sp.presence_penalty, &err))
        return false;
    if (j.contains("frequency_penalty") &&
        !get_float(j["frequency_penalty"], "frequency_penalty", &sp.frequency_penalty, &err))
        return false;
    if (j.contains("penalty_decay") && !get_float(j["penalty_decay"], "penalty_decay", &sp.penalty_decay, &err))
        return false;
    if (j.contains("top_k")) {
        if (!get_int(j["top_k"], "top_k", 0, INT32_MAX, &v, &err)) return false;
        sp.top_k = (int32_t)v;
    }
    if (j.contains("n_predict")) {
        if (!get_int(j["n_predict"], "n_predict", 0, INT64_MAX, &v, &err)) return false;
        q->params.n_predict = v;
    }
    if (j.contains("seed")) {
        if (!j["seed"].is_number_unsigned()) {
            err = "field \"seed\": expected an integer in 0..18446744073709551615, got " + j["seed"].dump();
            return false;
        }
        sp.seed = j["seed"].get<uint64_t>();
    }
    if (j.contains("stop")) {
        const json& s = j["stop"];
        q->params.stop.clear();
        if (s.is_string()) {
            q->params.stop.push_back(s.get<std::string>());
        } else if (s.is_array() && std::all_of(s.begin(), s.end(), [](const json& e) { return e.is_string(); })) {
            for (const json& e : s) q->params.stop.push_back(e.get<std::string>());
        } else {
            err = "field \"stop\": expected a string or a list of strings, got " + s.dump();
            return false;
        }
    }
    const SamplingProblem bad = sampling_problem(sp);
    if (bad.field) {
        err = strprintf("field \"%s\": %s", bad.field, bad.rule);
        return false;
    }
    return true;
}

// ---- output ----------------------------------------------------------------

// Records are written whole, one write(2) each, so a crash leaves at most a
// truncated last line (which --resume drops). In input order, a finished
// record waits for the ones before it.
struct Output {
    int fd = 1;
    bool ordered = true;
    int64_t next = 0;  // the index of the next record in order
    std::map<int64_t, std::string> held;
    int64_t written = 0;
};

static void write_record(Output* o, const std::string& line) {
    cli_write(o->fd, line.data(), line.size());
    o->written++;
}

static void emit(Output* o, int64_t index, const ordered_json& rec) {
    // Generated text can hold invalid UTF-8 (a byte-level model may write any
    // byte); JSON cannot, so such bytes become U+FFFD.
    std::string line = rec.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    if (!o->ordered) {
        write_record(o, line);
        return;
    }
    o->held.emplace(index, std::move(line));
    while (!o->held.empty() && o->held.begin()->first == o->next) {
        write_record(o, o->held.begin()->second);
        o->held.erase(o->held.begin());
        o->next++;
    }
}

static ordered_json error_record(const json& id, const std::string& message, int64_t line) {
    ordered_json r;
    r["id"] = id;
    r["error"] = {{"message", message}, {"line", line}};
    return r;
}

// How many records a previous run wrote for each id (as a JSON dump), for
// --resume (an id given twice has two records: the second an error). A crash
// while writing leaves a last line without its '\n': it is not counted, and
// *complete_len is the length of the lines before it.
static void read_done(const std::string& path, std::unordered_map<std::string, int64_t>* done, off_t* complete_len) {
    *complete_len = 0;
    FILE* f = fopen(path.c_str(), "rb");
    if (!f) {
        if (errno == ENOENT) return;  // a first run
        rwkv_fail("--resume %s: cannot open: %s", path.c_str(), strerror(errno));
    }
    std::unique_ptr<FILE, int (*)(FILE*)> closer(f, fclose);
    char* buf = nullptr;
    size_t cap = 0;
    ssize_t n;
    int64_t line_no = 0;
    while ((n = getline(&buf, &cap, f)) > 0) {
        line_no++;
        if (buf[n - 1] != '\n') {
            fprintf(stderr, "rwkv-cli batch: %s: line %lld has no end (an interrupted write): its request is run again\n",
                    path.c_str(), (long long)line_no);
            break;
        }
        *complete_len += n;
        std::string line(buf, (size_t)n - 1);
        if (blank(line)) continue;
        json r = json::parse(line, nullptr, false);
        if (r.is_discarded() || !r.is_object() || !r.contains("id") || !r["id"].is_primitive()) {
            free(buf);
            rwkv_fail("--resume %s: line %lld is not a batch record (a JSON object with an id)", path.c_str(),
                      (long long)line_no);
        }
        (*done)[r["id"].dump()]++;
    }
    free(buf);
    if (ferror(f)) rwkv_fail("--resume %s: read error", path.c_str());
}

// "K/N" with 0 <= K < N.
static void parse_shard(const std::string& s, int64_t* k, int64_t* n) {
    unsigned long long a, b;
    char tail;
    if (sscanf(s.c_str(), "%llu/%llu%c", &a, &b, &tail) != 2 || s.find_first_of("+- ") != std::string::npos ||
        b < 1 || a >= b || b > (1ull << 40))
        rwkv_fail("--shard: expected K/N with 0 <= K < N (as 0/3, 1/3, 2/3), got '%s'", s.c_str());
    *k = (int64_t)a;
    *n = (int64_t)b;
}

static bool same_file(const std::string& a, const std::string& b) {
    struct stat sa, sb;
    if (stat(a.c_str(), &sa) != 0 || stat(b.c_str(), &sb) != 0) return a == b;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// ---- the run ---------------------------------------------------------------

// One sequence in flight: a generation (gen) or a scoring of `tokens`.
struct Slot {
    bool busy = false;
    Request req;
    std::vector<int32_t> tokens;
    GenSeq gen;
    // scoring: tokens[0..fed) are in `state`; logprobs[i] scores tokens[i + 1]
    RwkvState state;
    int64_t fed = 0;
    std::vector<double> logprobs;
};

static ordered_json score_record(const Request& q, const std::vector<double>& logprobs) {
    double sum = 0.0;
    for (double lp : logprobs) sum += lp;  // in order, as perplexity sums
    ordered_json r;
    r["id"] = q.id;
    r["logprobs"] = logprobs;
    r["sum_logprob"] = sum;
    return r;
}

int cmd_batch(int argc, char** argv) {
    cxxopts::Options o("rwkv-cli batch",
        "Answer many requests, one JSON object a line (stdin, or -f FILE), writing one JSON result a line.\n"
        "  request: {\"id\": ..., \"prompt\": \"...\", \"n_predict\": 64, \"temp\": 1.0, \"top_p\", \"top_k\",\n"
        "            \"presence_penalty\", \"frequency_penalty\", \"penalty_decay\", \"seed\", \"stop\": \"...\" or [...]}\n"
        "           or {\"id\": ..., \"prompt\": \"...\", \"mode\": \"score\"} (or \"logprobs\") to score the text\n"
        "  result:  {\"id\", \"text\", \"n_prompt\", \"n_gen\", \"finish_reason\": \"stop\"|\"length\"},\n"
        "           {\"id\", \"logprobs\", \"sum_logprob\"}, or {\"id\", \"error\": {\"message\", \"line\"}}\n"
        "The flags give the defaults of the fields. See docs/scale-out.md for many processes and machines.");
    add_model_options(o);
    add_load_options(o);
    add_thread_option(o);
    add_sampling_options(o, SamplerParams());
    o.add_options()
        ("f,file", "the requests (default: stdin)", cxxopts::value<std::string>()->default_value("-"))
        ("o,output", "write the results to FILE (default: stdout)", cxxopts::value<std::string>()->default_value(""))
        ("b,batch", "sequences in flight", cxxopts::value<int64_t>()->default_value("8"))
        ("unordered", "write each result when it is finished, not in input order")
        ("resume", "skip the requests whose id is in FILE and append the new results to it (or to -o)", cxxopts::value<std::string>()->default_value(""))
        ("shard", "K/N: take every N-th request from the K-th (0-based), to split the input over N processes", cxxopts::value<std::string>()->default_value("0/1"))
        ("n,n-predict", "tokens to generate", cxxopts::value<int64_t>()->default_value("128"))
        ("stop", "stop when the output contains this string (not included)", cxxopts::value<std::string>()->default_value(""))
        ("q,quiet", "no progress bar and no summary on stderr");
    cxxopts::ParseResult r;
    if (!parse_or_help(o, argc, argv, &r)) return 0;
    if (!r.unmatched().empty()) rwkv_fail("unexpected argument '%s'", r.unmatched()[0].c_str());

    GenParams defaults;
    defaults.sampling = sampling_options(r);
    defaults.n_predict = r["n-predict"].as<int64_t>();
    if (defaults.n_predict < 0) rwkv_fail("--n-predict must be >= 0 (got %lld)", (long long)defaults.n_predict);
    defaults.stop = {r["stop"].as<std::string>()};
    const int64_t n_batch = r["batch"].as<int64_t>();
    if (n_batch < 1 || n_batch > 1024) rwkv_fail("--batch must be in 1..1024 (got %lld)", (long long)n_batch);
    int64_t shard_k, shard_n;
    parse_shard(r["shard"].as<std::string>(), &shard_k, &shard_n);
    const int n_threads = threads_option(r);
    const bool quiet = r.count("quiet") > 0;

    // Input, resume, output: all checked before the model loads.
    const std::string in_path = r["file"].as<std::string>();
    LineReader in;
    if (in_path != "-") {
        in.fd = open(in_path.c_str(), O_RDONLY);
        if (in.fd < 0) rwkv_fail("%s: cannot open: %s", in_path.c_str(), strerror(errno));
    }
    const std::string in_name = in_path == "-" ? "stdin" : in_path;
    const std::string resume = r["resume"].as<std::string>(), out_path = r["output"].as<std::string>();
    // --resume FILE alone appends to FILE, so one command line both starts
    // and resumes a run; with -o elsewhere the new records go there.
    const bool append = !resume.empty() && (out_path.empty() || same_file(out_path, resume));
    const std::string write_path = append ? resume : out_path;
    for (const std::string& p : {write_path, resume})
        if (!p.empty() && in_path != "-" && same_file(p, in_path))
            rwkv_fail("%s is the input file: give the results another file", p.c_str());
    std::unordered_map<std::string, int64_t> done;
    off_t resume_len = 0;
    if (!resume.empty()) read_done(resume, &done, &resume_len);
    Output out;
    out.ordered = r.count("unordered") == 0;
    if (!write_path.empty()) {
        out.fd = open(write_path.c_str(), O_WRONLY | O_CREAT | (append ? 0 : O_TRUNC), 0644);
        if (out.fd < 0) rwkv_fail("%s: cannot open for writing: %s", write_path.c_str(), strerror(errno));
        // drop an interrupted last line, then append after the complete ones
        if (append && (ftruncate(out.fd, resume_len) != 0 || lseek(out.fd, 0, SEEK_END) < 0))
            rwkv_fail("%s: cannot truncate to its complete lines: %s", write_path.c_str(), strerror(errno));
    }

    LoadedModel lm;
    cli_load_model(&lm, r["model"].as<std::string>(), isa_option(r), load_mode_option(r), act_option(r));
    const Model& m = lm.model;
    const int64_t V = m.n_vocab;
    RwkvContext ctx;
    rwkv_context_init(&ctx, &m, rwkv_default_chunk(&m), n_threads);
    // Scoring needs every row's logits: at most max_tokens rows a step, capped
    // so that the buffer stays within 32 MiB for a large vocabulary.
    const int64_t score_rows = std::max<int64_t>(1, std::min<int64_t>(ctx.scratch.max_tokens, (8 << 20) / V));
    std::vector<float> score_logits;  // score_rows x V, allocated at the first scoring request

    std::vector<Slot> slots((size_t)n_batch);
    std::unordered_map<std::string, int64_t> id_line;  // every id seen, over all shards: duplicates are errors
    int64_t n_requests = 0, n_index = 0, n_skipped = 0, n_failed = 0, n_done = 0;
    int64_t tokens_done = 0;  // prompt, generated and scored tokens of finished requests
    bool input_done = false;
    std::string line;

    // The next request of this shard not done before, or false at the end
    // of the input. Lines that are not valid requests are answered at once.
    auto next_request = [&](Request* q) -> bool {
        while (!input_done) {
            if (!next_line(&in, &line, in_name)) {
                input_done = !cli_interrupted();
                break;
            }
            if (blank(line)) continue;
            const int64_t k = n_requests++;
            *q = Request();
            q->line = in.line_no;
            const bool ok = parse_request(line, defaults, q);
            const std::string key = q->id.dump();
            auto seen = id_line.emplace(key, q->line);
            if (k % shard_n != shard_k) continue;
            auto d = done.find(key);
            if (d != done.end() && d->second > 0) {  // answered before
                d->second--;
                n_skipped++;
                continue;
            }
            q->index = n_index++;
            if (ok && !seen.second) {
                q->error = strprintf("field \"id\": %s is also the id of line %lld (a line without an id is known "
                                     "by its line number)", key.c_str(), (long long)seen.first->second);
            }
            if (!q->error.empty()) {
                n_failed++;
                n_done++;
                emit(&out, q->index, error_record(q->id, q->error, q->line));
                continue;
            }
            return true;
        }
        return false;
    };

    // Start a request in a free slot, or answer it at once if it needs no
    // forward pass (a text of fewer than two tokens has nothing to score).
    auto start = [&](Slot* s, Request&& q) {
        s->tokens.clear();
        world_tokenizer_encode(&lm.tok, (const uint8_t*)q.prompt.data(), q.prompt.size(), &s->tokens);
        if (q.score) {
            if (s->tokens.size() < 2) {
                emit(&out, q.index, score_record(q, {}));
                n_done++;
                return;
            }
            if (score_logits.empty()) score_logits.assign((size_t)(score_rows * V), 0.0f);
            rwkv_state_init(&s->state, &m);
            s->fed = 0;
            s->logprobs.clear();
        } else {
            // An empty prompt starts a new document, as in generate.
            if (s->tokens.empty()) s->tokens.push_back(0);
            gen_init(&s->gen, &m, &lm.tok, q.params);
            gen_set_prompt(&s->gen, s->tokens.data(), (int64_t)s->tokens.size());
        }
        s->req = std::move(q);
        s->busy = true;
    };

    auto finish_slot = [&](Slot* s) {
        const Request& q = s->req;
        s->busy = false;
        n_done++;
        if (q.score) {
            tokens_done += s->fed;
            emit(&out, q.index, score_record(q, s->logprobs));
            return;
        }
        const GenSeq& g = s->gen;
        tokens_done += (int64_t)s->tokens.size() + (int64_t)g.generated.size();
        if (g.finish == GEN_ERROR) {
            n_failed++;
            emit(&out, q.index, error_record(q.id, g.error, q.line));
            return;
        }
        ordered_json rec;
        rec["id"] = q.id;
        rec["text"] = g.text;
        rec["n_prompt"] = (int64_t)s->tokens.size();
        rec["n_gen"] = (int64_t)g.generated.size();
        rec["finish_reason"] = gen_finish_name(g.finish);
        emit(&out, q.index, rec);
    };

    // Scoring sequences: their next tokens, up to score_rows rows in all, in
    // one forward pass with every row's logits.
    std::vector<RwkvSeq> score_batch;
    std::vector<Slot*> score_fed;
    auto score_step = [&]() {
        score_batch.clear();
        score_fed.clear();
        int64_t rows = 0;
        for (Slot& s : slots) {
            if (!s.busy || !s.req.score || rows == score_rows) continue;
            // the last token is only scored, never fed
            const int64_t n = std::min(score_rows - rows, (int64_t)s.tokens.size() - 1 - s.fed);
            score_batch.push_back(RwkvSeq{&s.state, s.tokens.data() + s.fed, n, nullptr, score_logits.data() + rows * V});
            score_fed.push_back(&s);
            rows += n;
        }
        if (score_batch.empty()) return;
        rwkv_eval_batch(&ctx, score_batch.data(), (int64_t)score_batch.size());
        for (size_t i = 0; i < score_fed.size(); i++) {
            Slot* s = score_fed[i];
            for (int64_t t = 0; t < score_batch[i].n; t++)
                s->logprobs.push_back(cli_log_prob(score_batch[i].logits_all + t * V, V, s->tokens[(size_t)(s->fed + t + 1)]));
            s->fed += score_batch[i].n;
            if (s->fed + 1 == (int64_t)s->tokens.size()) finish_slot(s);
        }
    };

    // Tokens fed so far, finished or not (for the progress line).
    auto tokens_so_far = [&]() {
        int64_t n = tokens_done;
        for (const Slot& s : slots)
            if (s.busy) n += s.req.score ? s.fed : s.gen.n_prompt_fed + (int64_t)s.gen.generated.size();
        return n;
    };

    cli_catch_sigint(/*also_sigterm=*/true);
    const bool progress = !quiet && isatty(2);
    const int64_t n_total = progress ? count_requests(in_path, shard_k, shard_n) : -1;
    const double t0 = cli_now();
    double shown = t0;
    std::vector<GenSeq*> gens;
    Request q;
    for (;;) {
        for (Slot& s : slots)
            while (!s.busy && !cli_interrupted() && next_request(&q)) start(&s, std::move(q));
        gens.clear();
        bool scoring = false;
        for (Slot& s : slots) {
            if (!s.busy) continue;
            if (s.req.score) scoring = true;
            else gens.push_back(&s.gen);
        }
        if ((gens.empty() && !scoring) || cli_interrupted()) break;
        if (!gens.empty()) gen_step(&ctx, gens.data(), (int64_t)gens.size());
        for (Slot& s : slots)
            if (s.busy && !s.req.score && s.gen.phase == GEN_DONE) finish_slot(&s);
        if (scoring) score_step();
        if (progress && cli_now() - shown > 0.25) {
            shown = cli_now();
            const int64_t finished = n_done + n_skipped;
            std::string count = std::to_string(finished);
            if (n_total > 0) {
                const int64_t filled = 30 * finished / n_total;
                count = "[" + std::string((size_t)filled, '#') + std::string((size_t)(30 - filled), '-') + "] " +
                        count + "/" + std::to_string(n_total);
            }
            fprintf(stderr, "\rrwkv-cli batch: %s done (%lld failed, %lld skipped), %zu in flight, %.0f t/s\033[K",
                    count.c_str(), (long long)n_failed, (long long)n_skipped,
                    (size_t)std::count_if(slots.begin(), slots.end(), [](const Slot& s) { return s.busy; }),
                    (double)tokens_so_far() / (shown - t0));
        }
    }
    if (progress) fprintf(stderr, "\r\033[K");

    // Interrupted: the unfinished requests are dropped (a resumed run does
    // them), the finished ones are all written, in input order but for the gaps.
    int64_t n_unfinished = 0;
    for (const Slot& s : slots) n_unfinished += s.busy;
    for (auto& h : out.held) write_record(&out, h.second);
    out.held.clear();
    if (out.fd != 1 && close(out.fd) != 0) rwkv_fail("%s: write error: %s", write_path.c_str(), strerror(errno));
    if (in.fd != 0) close(in.fd);

    const double secs = std::max(cli_now() - t0, 1e-9);
    if (!quiet)
        fprintf(stderr, "rwkv-cli batch: %lld results written (%lld errors), %lld skipped as done, %lld tokens in %.2f s (%.1f t/s)\n",
                (long long)out.written, (long long)n_failed, (long long)n_skipped, (long long)tokens_done, secs,
                (double)tokens_done / secs);
    if (cli_interrupted()) {
        fprintf(stderr, "rwkv-cli batch: interrupted: %lld requests in flight dropped%s; run again with --resume to finish\n",
                (long long)n_unfinished, input_done ? "" : " and the rest of the input not read");
        return EXIT_INTERRUPTED;
    }
    return n_failed > 0 ? 1 : 0;
}
