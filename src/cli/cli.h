// cli.h - what the subcommands share: loading a model with its tokenizer,
// reading prompts, writing output. One file per subcommand beside this one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../../tokenizer/world.h"
#include "../model.h"
#include "../rwkv.h"
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
void cli_catch_sigint();
bool cli_interrupted();
void cli_clear_interrupt();
const int EXIT_INTERRUPTED = 130;

// Seconds from a monotonic clock.
double cli_now();

// Sample, print and feed up to n_predict tokens, starting from `logits` (the
// logits after the last token fed). Stops at token 0 (end of text, not fed),
// at `stop` (not printed; empty = none), or after n_predict tokens. Output is
// UTF-8 safe (see Utf8Stream). On return every printed token has been fed, so
// the state holds the whole reply, and `logits` are the logits after it.
// The printed bytes are also appended to *text_out when it is not null.
struct GenerateResult {
    int64_t n_gen;
    bool hit_stop, hit_eot;
};
GenerateResult cli_generate_stream(RwkvContext* ctx, Sampler* sampler, const WorldTokenizer* tok, float* logits,
                                   int64_t n_predict, const std::string& stop, std::string* text_out);

int cmd_generate(int argc, char** argv);
int cmd_logits(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_info(int argc, char** argv);
int cmd_quantize(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_perplexity(int argc, char** argv);
int cmd_chat(int argc, char** argv);
int cmd_passkey(int argc, char** argv);
int cmd_icl(int argc, char** argv);
