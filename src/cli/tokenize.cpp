// tokenize.cpp - rwkv-cli tokenize: token ids of a text, space-separated.
#include <cstdio>

#include "../common.h"
#include "cli.h"
#include "options.h"

int cmd_tokenize(int argc, char** argv) {
    cxxopts::Options o("rwkv-cli tokenize", "Print the token ids of TEXT (or of all of stdin), space-separated.");
    add_model_options(o);
    o.add_options()("text", "text", cxxopts::value<std::vector<std::string>>());
    o.parse_positional({"text"});
    o.positional_help("[TEXT]");
    cxxopts::ParseResult r;
    if (!parse_or_help(o, argc, argv, &r)) return 0;

    std::string text;
    if (r.count("text")) {
        const auto& parts = r["text"].as<std::vector<std::string>>();
        if (parts.size() > 1) rwkv_fail("expected one TEXT argument, got %zu (quote the text)", parts.size());
        text = parts[0] == "-" ? cli_read_stdin() : parts[0];
    } else {
        text = cli_read_stdin();
    }
    LoadedModel lm;
    cli_load_model(&lm, r["model"].as<std::string>(), isa_option(r), GGUF_MAP, act_option(r));
    std::vector<int32_t> ids;
    world_tokenizer_encode(&lm.tok, (const uint8_t*)text.data(), text.size(), &ids);
    std::string out;
    for (size_t i = 0; i < ids.size(); i++) out += strprintf(i ? " %d" : "%d", ids[i]);
    out += "\n";
    cli_write(1, out.data(), out.size());
    return 0;
}
