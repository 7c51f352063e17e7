#include "cli.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <csignal>
#include <unistd.h>

#include "../../kernels/kernels.h"
#include "../common.h"

// The model to use without -m: $RWKV_MODEL, else the bundled model, found
// beside the binary (../models/ from build/) or where the source tree was.
std::string cli_default_model() {
    const char* env = getenv("RWKV_MODEL");
    if (env && *env) return env;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        std::string dir(exe);
        dir = dir.substr(0, dir.rfind('/'));
        for (const char* rel : {"/../models/", "/models/", "/../share/rwkv-cli/"}) {
            std::string p = dir + rel + RWKV_BUNDLED_MODEL_NAME;
            if (access(p.c_str(), R_OK) == 0) return p;
        }
    }
    if (access(RWKV_BUNDLED_MODEL_PATH, R_OK) == 0) return RWKV_BUNDLED_MODEL_PATH;
    rwkv_fail("no model given: pass -m MODEL.gguf or set RWKV_MODEL (the bundled model %s was not found)",
              RWKV_BUNDLED_MODEL_NAME);
}

void cli_load_model(LoadedModel* lm, const std::string& path_in, const std::string& isa, GgufLoadMode mode,
                    const std::string& act) {
    kernels_init(isa.c_str(), act.c_str());
    std::string path = path_in;
    if (path.empty()) path = cli_default_model();
    model_load(&lm->model, path.c_str(), mode);
    const Model& m = lm->model;
    try {
        world_tokenizer_init(&lm->tok, m.token_texts, m.token_types.empty() ? nullptr : m.token_types.data(),
                             m.token_types.size(), m.byte_level);
    } catch (const RwkvError& e) {
        rwkv_fail("%s: bad vocabulary: %s", path.c_str(), e.what());
    }
}

std::string cli_read_stdin() {
    std::string s;
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            rwkv_fail("cannot read standard input: %s", strerror(errno));
        }
        s.append(buf, (size_t)n);
    }
    return s;
}

std::vector<int32_t> cli_parse_token_list(const std::string& s, const char* flag) {
    std::vector<int32_t> ids;
    size_t i = 0;
    while (i < s.size()) {
        size_t j = i;
        int64_t v = 0;
        while (j < s.size() && s[j] >= '0' && s[j] <= '9' && v <= INT32_MAX) v = v * 10 + (s[j++] - '0');
        if (j == i || v > INT32_MAX || (j < s.size() && s[j] != ','))
            rwkv_fail("%s: expected comma-separated token ids, got '%s'", flag, s.c_str());
        ids.push_back((int32_t)v);
        i = j + 1;
        if (j + 1 == s.size()) rwkv_fail("%s: trailing comma in '%s'", flag, s.c_str());
    }
    if (ids.empty()) rwkv_fail("%s: no token ids given", flag);
    return ids;
}

void cli_write(int fd, const void* data, size_t n) {
    const char* p = (const char*)data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            rwkv_fail("write failed: %s", strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
}

double cli_log_prob(const float* row, int64_t n_vocab, int32_t token) {
    float mx = row[0];
    for (int64_t i = 1; i < n_vocab; i++) mx = std::max(mx, row[i]);
    double sum = 0.0;
    for (int64_t i = 0; i < n_vocab; i++) sum += std::exp((double)(row[i] - mx));
    return (double)(row[token] - mx) - std::log(sum);
}

double cli_now() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static volatile sig_atomic_t g_interrupted = 0;

static void on_sigint(int) {
    if (g_interrupted) _exit(EXIT_INTERRUPTED);  // a second Ctrl-C does not wait
    g_interrupted = 1;
}

void cli_catch_sigint(bool also_sigterm) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, nullptr);
    if (also_sigterm) sigaction(SIGTERM, &sa, nullptr);
}

bool cli_interrupted() { return g_interrupted != 0; }

void cli_clear_interrupt() { g_interrupted = 0; }
