// cli.h - what the subcommands share: loading a model with its tokenizer,
// reading prompts, writing output. One file per subcommand beside this one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../../tokenizer/world.h"
#include "../model.h"

struct LoadedModel {
    Model model;
    WorldTokenizer tok;
};

// Initialise the kernels (isa: "auto" or a forced path), map the model file,
// build its tokenizer. path == "" means: $RWKV_MODEL, else fail with a hint.
void cli_load_model(LoadedModel* lm, const std::string& path, const std::string& isa);

// The whole of standard input as bytes.
std::string cli_read_stdin();

// "1,2,3" -> ids; fails naming the flag on anything but comma-separated
// non-negative integers.
std::vector<int32_t> cli_parse_token_list(const std::string& s, const char* flag);

// Write everything or fail (a closed pipe ends the process via SIGPIPE,
// quietly, as for any Unix filter).
void cli_write(int fd, const void* data, size_t n);

// Seconds from a monotonic clock.
double cli_now();

int cmd_generate(int argc, char** argv);
int cmd_logits(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_info(int argc, char** argv);
