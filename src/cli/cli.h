// cli.h - what the subcommands share: loading a model with its tokenizer,
// reading prompts, writing output. One file per subcommand beside this one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../../tokenizer/world.h"
#include "../model.h"
#include "../rwkv.h"
#include "../generation.h"
#include "../sampler.h"

struct LoadedModel {
    Model model;
    WorldTokenizer tok;
};

// Initialise the kernels (isa: "auto" or a forced path), map or copy the
// model file (gguf.h), build its tokenizer. path == "" means cli_default_model().
// act: kernels_init's activation format ("" or "auto", "f32").
void cli_load_model(LoadedModel* lm, const std::string& path, const std::string& isa, GgufLoadMode mode = GGUF_MAP,
                    const std::string& act = "");

// $RWKV_MODEL, else the bundled model (models/rwkv7-kjv-byte.gguf).
std::string cli_default_model();

// The whole of standard input as bytes.
std::string cli_read_stdin();

// "1,2,3" -> ids; fails naming the flag on anything but comma-separated
// non-negative integers.
std::vector<int32_t> cli_parse_token_list(const std::string& s, const char* flag);

// Write everything or fail (a closed pipe ends the process via SIGPIPE,
// quietly, as for any Unix filter).
void cli_write(int fd, const void* data, size_t n);

// Ctrl-C: the first SIGINT sets a flag that the generation and prompt loops
// check between tokens (what was generated is already written); the command
// then exits with 130, as a shell expects of an interrupted program.
// also_sigterm: SIGTERM too (how batch schedulers stop a job: Slurm at its
// time limit, Kubernetes on eviction), so finished results are written.
void cli_catch_sigint(bool also_sigterm = false);
bool cli_interrupted();
void cli_clear_interrupt();
const int EXIT_INTERRUPTED = 130;

// log p(token) under softmax(row) over n_vocab logits, in double precision:
// how perplexity and batch's scoring requests score a token.
double cli_log_prob(const float* row, int64_t n_vocab, int32_t token);

// Seconds from a monotonic clock.
double cli_now();

// Step s (generation.h) until it is done, writing its text to stdout as it
// grows (UTF-8 safe, without the stop strings). Ctrl-C cancels it between
// tokens; a non-finite logit fails (rwkv_fail). Every generated token has
// been fed when it returns, so s->state holds the whole reply.
void cli_generate_stream(RwkvContext* ctx, GenSeq* s);

int cmd_generate(int argc, char** argv);
int cmd_logits(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_info(int argc, char** argv);
int cmd_quantize(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_perplexity(int argc, char** argv);
int cmd_chat(int argc, char** argv);
int cmd_serve(int argc, char** argv);
int cmd_passkey(int argc, char** argv);
int cmd_icl(int argc, char** argv);
int cmd_batch(int argc, char** argv);
