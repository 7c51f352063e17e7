// options.h - the flags several subcommands share, declared once.
#pragma once

#include <string>

#include <cxxopts.hpp>

#include "../common.h"

static inline void add_model_options(cxxopts::Options& o) {
    o.add_options()
        ("m,model", "model file (GGUF); default: $RWKV_MODEL", cxxopts::value<std::string>()->default_value(""))
        ("isa", "kernel path: auto, scalar, avx2, avx512 (also $RWKV_ISA)", cxxopts::value<std::string>()->default_value(""))
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

// Parse, print help when asked. Returns false if help was printed.
static inline bool parse_or_help(cxxopts::Options& o, int argc, char** argv, cxxopts::ParseResult* r) {
    *r = o.parse(argc, argv);
    if (r->count("help")) {
        fputs(o.help().c_str(), stdout);
        return false;
    }
    return true;
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
