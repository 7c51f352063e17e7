// main.cpp - rwkv-cli: pick the subcommand, and turn every error into one line
// on stderr and exit code 1.
#include <cstdio>
#include <cstring>

#include <cxxopts.hpp>

#include "../common.h"
#include "cli.h"

static const char* USAGE =
    "usage: rwkv-cli COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  generate   generate text from a prompt (argument or stdin)\n"
    "  logits     write the logits of a prompt or token list as float32\n"
    "  tokenize   print the token ids of a text\n"
    "  info       describe a model file\n"
    "  quantize   rewrite a model's weights as f32, f16, bf16, q8_0 or q4_0\n"
    "  bench      measure prompt and generation speed against the machine's limits\n"
    "  perplexity perplexity and bits per byte of a model on a text file\n"
    "  batch      many requests (JSON Lines) at once: generate or score each, several sequences per step\n"
    "  chat       an interactive chat that keeps its state between turns\n"
    "  serve      an OpenAI-compatible HTTP server (127.0.0.1 unless --host)\n"
    "  passkey    needle in a haystack: how far back the model recalls a pass key\n"
    "  icl        in-context learning of one WKV head: RWKV-7 delta rule vs RWKV-5/6 (no model)\n"
    "\n"
    "Run 'rwkv-cli COMMAND --help' for a command's options.\n";

int main(int argc, char** argv) {
    if (argc < 2) {
        fputs(USAGE, stderr);
        return 1;
    }
    const char* cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(USAGE, stdout);
        return 0;
    }
    struct { const char* name; int (*fn)(int, char**); } commands[] = {
        {"generate", cmd_generate}, {"logits", cmd_logits}, {"tokenize", cmd_tokenize}, {"info", cmd_info},
        {"quantize", cmd_quantize},
        {"bench", cmd_bench},
        {"perplexity", cmd_perplexity},
        {"chat", cmd_chat},
        {"batch", cmd_batch},
        {"serve", cmd_serve},
        {"passkey", cmd_passkey},
        {"icl", cmd_icl},
    };
    for (auto& c : commands) {
        if (strcmp(cmd, c.name) != 0) continue;
        try {
            return c.fn(argc - 1, argv + 1);
        } catch (const RwkvError& e) {
            fprintf(stderr, "rwkv-cli %s: error: %s\n", c.name, e.what());
        } catch (const cxxopts::exceptions::exception& e) {
            fprintf(stderr, "rwkv-cli %s: error: %s (see 'rwkv-cli %s --help')\n", c.name, e.what(), c.name);
        } catch (const std::bad_alloc&) {
            fprintf(stderr, "rwkv-cli %s: error: out of memory\n", c.name);
        }
        return 1;
    }
    fprintf(stderr, "rwkv-cli: error: unknown command '%s' (see 'rwkv-cli --help')\n", cmd);
    return 1;
}
