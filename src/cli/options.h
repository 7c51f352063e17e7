// options.h - the flags several subcommands share, declared once.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <typeinfo>

#include <cxxopts.hpp>

#include "../common.h"
#include "../gguf.h"
#include "../sampler.h"

static inline void add_model_options(cxxopts::Options& o) {
    o.add_options()
        ("m,model", "model file (GGUF); default: $RWKV_MODEL, else the bundled models/rwkv7-kjv-byte.gguf", cxxopts::value<std::string>()->default_value(""))
        ("isa", "kernel path: auto, scalar, avx2, avx512 (also $RWKV_ISA)", cxxopts::value<std::string>()->default_value(""))
        ("act", "activations of the quantized products: auto (int8 for Q8_0/Q4_0 weights, 15-bit integers for Q4_K/Q5_K/Q6_K, float32 for the other types), f32 (float32 for every type: the exact product of the stored weights), int16 (as auto) or int8 (int8 wherever a type has an integer product: also Q4_K, Q5_K, Q6_K, as llama.cpp)", cxxopts::value<std::string>()->default_value("auto"))
        ("h,help", "show this help");
}

// The --isa flag, else $RWKV_ISA, else auto.
static inline std::string isa_option(const cxxopts::ParseResult& r) {
    std::string isa = r["isa"].as<std::string>();
    if (isa.empty()) {
        const char* env = getenv("RWKV_ISA");
        isa = env && *env ? env : "auto";
    }
    return isa;
}

// The --act flag (validated by kernels_init).
static inline std::string act_option(const cxxopts::ParseResult& r) { return r["act"].as<std::string>(); }

// The value an integer option stored (false for any other type).
static inline bool stored_integer(const cxxopts::OptionValue& v, long double* out) {
    try { *out = (long double)v.as<int32_t>(); return true; } catch (const std::bad_cast&) {}
    try { *out = (long double)v.as<int64_t>(); return true; } catch (const std::bad_cast&) {}
    try { *out = (long double)v.as<uint64_t>(); return true; } catch (const std::bad_cast&) {}
    return false;
}

// cxxopts' integer parser misses some overflows: "--top-k 9999999999" became
// 1410065407 and "-t 4294967297" 1, silently. Every integer given is read
// again exactly (decimal or 0x hex, as cxxopts reads them) and must equal what
// was stored.
static inline void check_integer_flags(const cxxopts::ParseResult& r) {
    for (const cxxopts::KeyValue& kv : r.arguments()) {
        const std::string& s = kv.value();
        const char* p = s.c_str();
        const bool neg = *p == '-';
        if (neg) p++;
        const bool hex = p[0] == '0' && p[1] == 'x';
        if (hex) p += 2;
        const char* digits = hex ? "0123456789abcdefABCDEF" : "0123456789";
        long double got;
        if (!*p || strspn(p, digits) != strlen(p) || !stored_integer(r[kv.key()], &got)) continue;
        errno = 0;
        const unsigned long long mag = strtoull(p, nullptr, hex ? 16 : 10);
        const long double want = neg ? -(long double)mag : (long double)mag;
        if (errno == ERANGE || got != want) rwkv_fail("--%s: %s is out of range", kv.key().c_str(), s.c_str());
    }
}

// Parse, print help when asked. Returns false if help was printed.
static inline bool parse_or_help(cxxopts::Options& o, int argc, char** argv, cxxopts::ParseResult* r) {
    *r = o.parse(argc, argv);
    check_integer_flags(*r);
    if (r->count("help")) {
        fputs(o.help().c_str(), stdout);
        return false;
    }
    return true;
}

// How the commands that run a model hold its weights (gguf.h): the shared
// file mapping by default (as llama.cpp), a private copy in huge pages with
// --no-mmap. The copy costs start-up time (this VM: 0.4-3.6 s for 1.2 GB,
// against 0.3 s mapped) and pays back per token (tg128 up to 10-25% faster),
// so it is for long generations and benchmarks.
static inline void add_load_options(cxxopts::Options& o) {
    o.add_options()
        ("mmap", "map the model file (the default): starts at once, shares the page cache")
        ("no-mmap", "copy the model into memory in 2 MiB pages: slower to start, token generation up to 10-25% faster");
}

static inline GgufLoadMode load_mode_option(const cxxopts::ParseResult& r) {
    if (r.count("mmap") && r.count("no-mmap")) rwkv_fail("--mmap and --no-mmap contradict each other: give one");
    return r.count("no-mmap") ? GGUF_COPY : GGUF_MAP;
}

static inline void add_thread_option(cxxopts::Options& o) {
    o.add_options()("t,threads", "threads (default: the number of physical cores)", cxxopts::value<int>()->default_value("0"));
}

// -t: 0 means one per physical core; results do not depend on it.
static inline int threads_option(const cxxopts::ParseResult& r) {
    int n = r["threads"].as<int>();
    if (n < 0 || n > 256) rwkv_fail("--threads must be in 0..256 (got %d)", n);
    return n;
}

static inline void add_state_options(cxxopts::Options& o) {
    o.add_options()
        ("state-in", "start from the recurrent state saved in FILE", cxxopts::value<std::string>()->default_value(""))
        ("state-out", "save the recurrent state to FILE at the end", cxxopts::value<std::string>()->default_value(""));
}

// Sampling flags; `d` gives the defaults (generate and chat differ).
static inline void add_sampling_options(cxxopts::Options& o, const SamplerParams& d) {
    auto f = [](float v) { return strprintf("%g", (double)v); };
    o.add_options()
        ("temp", "temperature; 0 = greedy", cxxopts::value<float>()->default_value(f(d.temp)))
        ("top-p", "nucleus sampling mass", cxxopts::value<float>()->default_value(f(d.top_p)))
        ("top-k", "keep only the k most likely tokens (0 = off)", cxxopts::value<int32_t>()->default_value(std::to_string(d.top_k)))
        ("presence-penalty", "subtracted from a generated token's logit", cxxopts::value<float>()->default_value(f(d.presence_penalty)))
        ("frequency-penalty", "subtracted per (decayed) occurrence", cxxopts::value<float>()->default_value(f(d.frequency_penalty)))
        ("penalty-decay", "occurrence counts decay by this per token", cxxopts::value<float>()->default_value(f(d.penalty_decay)))
        ("seed", "random seed (same seed, same text)", cxxopts::value<uint64_t>()->default_value(std::to_string(d.seed)));
}

// The first sampling value out of range: its name as a request field spells
// it ("top_p"; the flag is "--top-p") and the rule it breaks, or a null field
// if every value is valid. The flags and batch's requests share the rules.
struct SamplingProblem {
    const char* field;
    const char* rule;
};
static inline SamplingProblem sampling_problem(const SamplerParams& sp) {
    if (!(sp.temp >= 0.0f && std::isfinite(sp.temp))) return {"temp", "must be a finite number >= 0"};
    if (!(sp.top_p > 0.0f && sp.top_p <= 1.0f)) return {"top_p", "must be in (0, 1]"};
    if (sp.top_k < 0) return {"top_k", "must be >= 0"};
    if (!std::isfinite(sp.presence_penalty)) return {"presence_penalty", "must be finite"};
    if (!std::isfinite(sp.frequency_penalty)) return {"frequency_penalty", "must be finite"};
    if (!(sp.penalty_decay >= 0.0f && sp.penalty_decay <= 1.0f)) return {"penalty_decay", "must be in [0, 1]"};
    return {nullptr, nullptr};
}

static inline SamplerParams sampling_options(const cxxopts::ParseResult& r) {
    SamplerParams sp;
    sp.temp = r["temp"].as<float>();
    sp.top_p = r["top-p"].as<float>();
    sp.top_k = r["top-k"].as<int32_t>();
    sp.presence_penalty = r["presence-penalty"].as<float>();
    sp.frequency_penalty = r["frequency-penalty"].as<float>();
    sp.penalty_decay = r["penalty-decay"].as<float>();
    sp.seed = r["seed"].as<uint64_t>();
    const SamplingProblem bad = sampling_problem(sp);
    if (bad.field) {
        std::string flag = bad.field;
        std::replace(flag.begin(), flag.end(), '_', '-');
        rwkv_fail("--%s %s", flag.c_str(), bad.rule);
    }
    return sp;
}
