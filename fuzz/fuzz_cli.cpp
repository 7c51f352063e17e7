// fuzz_cli.cpp - the subcommands' argument handling, called as main() calls them.
//
// Input: byte 0 picks the subcommand (and, with bit 7 clear, puts
// "-m m.gguf" first; "-t 1" also comes first for the commands that have it);
// the rest is argv, split at NUL bytes. Each subcommand runs for real on a
// small model in a scratch directory, with stdin and stdout on /dev/null
// (without -m: $RWKV_MODEL, the same model), and its exceptions are caught
// exactly as main() does: RwkvError, cxxopts' exceptions and std::bad_alloc
// become "exit 1"; anything else escaping (std::out_of_range,
// std::length_error, ...) would terminate the real program, so here it
// aborts: a finding.
//
// The scratch directory holds m.gguf (the model), s.state (a state saved for
// it), t.txt (a text) and r.jsonl (batch requests); they are restored and
// anything else is deleted after every input, so each input sees the same
// files.
//
// Limits, so that one input cannot run for minutes (or write outside the
// scratch directory): inputs with '/' in an argument, whose numbers multiply
// to more than 20000 (or hold a number of more than 5 digits), or that ask
// for more than 3 threads are skipped; bench, passkey and icl get a final
// flag that fails their validation after parsing (they would otherwise
// measure the machine or run thousands of sequences), so their parsing and
// checks are fuzzed, not their work. Absurd values are the bad-input suite's
// job (tests/test_bad_input.py).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include <cxxopts.hpp>

#include "../kernels/kernels.h"
#include "../src/cli/cli.h"
#include "../src/common.h"
#include "../src/state_file.h"
#include "fuzz_util.h"

namespace {

struct Fixture {
    const char* name;
    std::string bytes;
};
std::vector<Fixture> g_fixtures;
std::string g_dir;

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_all(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), (std::streamsize)bytes.size());
}

// Put the scratch directory back as it was.
void restore() {
    if (DIR* d = opendir(".")) {
        while (dirent* e = readdir(d)) {
            const std::string name = e->d_name;
            if (name == "." || name == "..") continue;
            bool fixture = false;
            for (const Fixture& f : g_fixtures) fixture |= name == f.name;
            if (!fixture) unlink(name.c_str());
        }
        closedir(d);
    }
    for (const Fixture& f : g_fixtures) {
        struct stat st;
        if (stat(f.name, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != f.bytes.size() ||
            read_all(f.name) != f.bytes)
            write_all(f.name, f.bytes);
    }
}

typedef int (*CmdFn)(int, char**);
struct Command {
    const char* name;
    CmdFn fn;
    const char* const* guard;  // appended to argv: fails validation after parsing
};
const char* const BENCH_GUARD[] = {"--repetitions=0", nullptr};
const char* const TRIALS_GUARD[] = {"--trials=0", nullptr};
const Command COMMANDS[] = {
    {"generate", cmd_generate, nullptr}, {"logits", cmd_logits, nullptr},   {"tokenize", cmd_tokenize, nullptr},
    {"info", cmd_info, nullptr},         {"quantize", cmd_quantize, nullptr}, {"perplexity", cmd_perplexity, nullptr},
    {"chat", cmd_chat, nullptr},         {"bench", cmd_bench, BENCH_GUARD},  {"passkey", cmd_passkey, TRIALS_GUARD},
    {"icl", cmd_icl, TRIALS_GUARD},      {"batch", cmd_batch, nullptr},
};
const int N_COMMANDS = (int)(sizeof COMMANDS / sizeof COMMANDS[0]);

// The product of the numbers in the arguments (decimal runs, 0x hex), capped.
bool too_costly(const std::vector<std::string>& args) {
    double cost = 1;
    for (const std::string& a : args) {
        for (size_t i = 0; i < a.size();) {
            const bool hex = a.compare(i, 2, "0x") == 0 && i + 2 < a.size() && isxdigit((unsigned char)a[i + 2]);
            const int base = hex ? 16 : 10;
            if (hex) i += 2;
            if (!(base == 16 ? isxdigit((unsigned char)a[i]) : isdigit((unsigned char)a[i]))) {
                i++;
                continue;
            }
            while (i < a.size() && a[i] == '0') i++;
            size_t j = i;
            while (j < a.size() && (base == 16 ? isxdigit((unsigned char)a[j]) : isdigit((unsigned char)a[j]))) j++;
            if (j - i > 5) return true;
            const double v = j > i ? (double)std::stoll(a.substr(i, j - i), nullptr, base) : 0;
            cost *= v > 1 ? v : 1;
            i = j;
        }
    }
    if (cost > 20000) return true;
    // More threads than cores: the pool's workers then take turns on the CPU
    // and a few tokens can take seconds; keep -t small.
    for (size_t i = 0; i < args.size(); i++) {
        const std::string& a = args[i];
        std::string v;
        if ((a == "-t" || a == "--threads") && i + 1 < args.size()) v = args[i + 1];
        else if (a.compare(0, 10, "--threads=") == 0) v = a.substr(10);
        else if (a.size() > 2 && a.compare(0, 2, "-t") == 0) v = a.substr(2);
        if (!v.empty() && strtol(v.c_str(), nullptr, 0) > 3) return true;
    }
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const std::string model = fuzz_env("RWKV_FUZZ_CLI_MODEL", fuzz_env("RWKV_FUZZ_MODEL", ""));
    if (model.empty()) {
        fprintf(stderr, "fuzz_cli: set RWKV_FUZZ_CLI_MODEL to a small model file (scripts/fuzz.sh does)\n");
        exit(2);
    }
    // Without -m: $RWKV_MODEL, the same small model (the bundled one is too
    // slow for fuzzing). RWKV_ISA is kept: it picks the kernels when --isa is not given.
    setenv("RWKV_MODEL", "m.gguf", 1);
    std::string tmpl = fuzz_env("TMPDIR", "/tmp") + "/rwkv-fuzz-cli-XXXXXX";
    char* dir = &tmpl[0];
    if (!mkdtemp(dir) || chdir(dir) != 0) abort();
    g_dir = dir;
    g_fixtures.push_back({"m.gguf", read_all(model)});
    if (g_fixtures[0].bytes.empty()) {
        fprintf(stderr, "fuzz_cli: cannot read %s\n", model.c_str());
        exit(2);
    }
    g_fixtures.push_back({"t.txt", "In the beginning was the Word.\nThe end. \xe4\xb8\xad\xff\n"});
    // requests for batch -f r.jsonl (t.txt gives it lines that are not JSON)
    g_fixtures.push_back({"r.jsonl", "{\"id\": 1, \"prompt\": \"In the\", \"n_predict\": 3}\n"
                                     "{\"id\": 2, \"prompt\": \"The end\", \"mode\": \"score\"}\n"});
    write_all("m.gguf", g_fixtures[0].bytes);
    // A state saved after one token, for --state-in s.state.
    try {
        LoadedModel lm;
        cli_load_model(&lm, "m.gguf", "auto");
        RwkvContext ctx;
        rwkv_context_init(&ctx, &lm.model, 1, 1);
        RwkvState state;
        rwkv_state_init(&state, &lm.model);
        std::vector<float> logits((size_t)lm.model.n_vocab);
        const int32_t tok = 1;
        rwkv_eval(&ctx, &state, &tok, 1, logits.data(), nullptr);
        state_save("s.state", &lm.model, &state);
        model_free(&lm.model);
    } catch (const RwkvError& e) {
        fprintf(stderr, "fuzz_cli: the model does not load: %s\n", e.what());
        exit(2);
    }
    g_fixtures.push_back({"s.state", read_all("s.state")});
    restore();
    // stdin and stdout: /dev/null (the subcommands read prompts and write text)
    const int null_fd = open("/dev/null", O_RDWR);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0) abort();
    close(null_fd);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const Command& cmd = COMMANDS[(data[0] & 0x7f) % N_COMMANDS];
    std::vector<std::string> args;
    args.push_back(cmd.name);
    if (!(data[0] & 0x80) && cmd.fn != cmd_quantize && cmd.fn != cmd_icl) {
        args.push_back("-m");
        args.push_back("m.gguf");
    }
    if (cmd.fn != cmd_quantize && cmd.fn != cmd_icl && cmd.fn != cmd_tokenize && cmd.fn != cmd_info) {
        args.push_back("-t");  // one thread unless the input says otherwise: spinning
        args.push_back("1");   // workers on a shared machine slow the fuzzing down
    }
    std::string cur;
    for (size_t i = 1; i < size; i++) {
        if (data[i] == 0) {
            args.push_back(cur);
            cur.clear();
        } else {
            cur.push_back((char)data[i]);
        }
    }
    if (size > 1) args.push_back(cur);
    if (args.size() > 40) return 0;
    for (const std::string& a : args) {
        if (a.find('/') != std::string::npos) return 0;  // nothing outside the scratch directory
        if (cmd.guard && a == "--") return 0;            // would turn the guard into positionals
    }
    // an option still waiting for its value would take the guard as it
    if (cmd.guard && args.size() > 1 && args.back().size() > 1 && args.back()[0] == '-') return 0;
    if (too_costly(args)) return 0;
    if (cmd.guard)
        for (const char* const* g = cmd.guard; *g; g++) args.push_back(*g);

    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(&a[0]);
    argv.push_back(nullptr);
    // As main(): these become one error line and exit 1; anything else escapes.
    try {
        cmd.fn((int)args.size(), argv.data());
    } catch (const RwkvError&) {
    } catch (const cxxopts::exceptions::exception&) {
    } catch (const std::bad_alloc&) {
    }
    cli_clear_interrupt();
    restore();
    return 0;
}
