// quantize.cpp - rwkv-cli quantize IN.gguf OUT.gguf TYPE: rewrite a model's
// weight matrices in another type (F32, F16, BF16, Q8_0, Q4_0), in GGML's block
// layouts so llama.cpp reads the result too.
//
// What stays in float, and why:
//   - token_embd: one row is read per token, so quantizing it saves file size
//     but no time, and the embedding feeds everything after it;
//   - 1-D tensors (norms, token-shift mixes, w0/a0/v0, k_k, k_a, r_k): tiny,
//     and the decay w0 sits inside exp(-exp(.)) where small errors grow;
//   - the LoRA matrices (w1/w2, a1/a2, v1/v2, g1/g2): small (rank 32-256), and
//     w1/w2 set the decay; llama.cpp also keeps w1/w2 in F32.
//   - for Q4_0, the head (output.weight) becomes Q8_0: it maps the final state
//     to every token's logit and 4 bits cost visible perplexity there.
// Everything else - the r/k/v/output projections and the channel-mix - takes
// the requested type: these are over 90% of the bytes read per token.
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "../../kernels/kernels.h"
#include "../common.h"
#include "cli.h"
#include "options.h"

static bool parse_type(std::string s, uint32_t* type) {
    for (char& c : s) c = (char)toupper((unsigned char)c);
    const uint32_t types[] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0};
    for (uint32_t t : types)
        if (s == ggml_type_name(t)) return *type = t, true;
    return false;
}

// general.file_type values (llama.cpp's LLAMA_FTYPE_*)
static uint32_t file_type_of(uint32_t type) {
    switch (type) {
        case GGML_TYPE_F32: return 0;
        case GGML_TYPE_F16: return 1;
        case GGML_TYPE_Q4_0: return 2;
        case GGML_TYPE_Q8_0: return 7;
        case GGML_TYPE_BF16: return 32;
        default: return 0;
    }
}

static bool is_big_matrix(std::string_view name) {
    const char* suffixes[] = {"time_mix_key.weight", "time_mix_value.weight", "time_mix_receptance.weight",
                              "time_mix_output.weight", "channel_mix_key.weight", "channel_mix_value.weight",
                              "time_mix_gate.weight", "channel_mix_receptance.weight"};  // the last two: v5/v6
    for (const char* s : suffixes) {
        size_t n = strlen(s);
        if (name.size() >= n && name.compare(name.size() - n, n, s) == 0) return true;
    }
    return name == "output.weight";
}

int cmd_quantize(int argc, char** argv) {
    cxxopts::Options o("rwkv-cli quantize", "Rewrite a model's weight matrices as TYPE (f32, f16, bf16, q8_0, q4_0).");
    o.add_options()
        ("h,help", "show this help")
        ("args", "IN.gguf OUT.gguf TYPE", cxxopts::value<std::vector<std::string>>());
    o.parse_positional({"args"});
    o.positional_help("IN.gguf OUT.gguf TYPE");
    cxxopts::ParseResult r;
    if (!parse_or_help(o, argc, argv, &r)) return 0;
    if (!r.count("args") || r["args"].as<std::vector<std::string>>().size() != 3)
        rwkv_fail("expected IN.gguf OUT.gguf TYPE");
    const auto& args = r["args"].as<std::vector<std::string>>();
    uint32_t target = GGML_TYPE_F32;
    if (!parse_type(args[2], &target)) rwkv_fail("unknown TYPE '%s' (f32, f16, bf16, q8_0, q4_0)", args[2].c_str());
    if (args[0] == args[1]) rwkv_fail("%s: output would overwrite the input", args[1].c_str());

    LoadedModel lm;  // loading validates the whole model first
    cli_load_model(&lm, args[0], "auto");
    const GgufFile& in = lm.model.file;

    std::vector<GgufOutTensor> out;
    std::vector<std::vector<uint8_t>> buffers;
    std::vector<float> row;
    uint64_t bytes_in = 0, bytes_out = 0;
    int n_converted = 0;
    for (const GgufTensor& t : in.tensors) {
        GgufOutTensor ot{std::string(t.name), t.type, t.n_dims, {t.ne[0], t.ne[1], t.ne[2], t.ne[3]}, t.data};
        uint32_t want = t.type;
        if (is_big_matrix(t.name)) {
            want = target;
            if (target == GGML_TYPE_Q4_0 && t.name == "output.weight") want = GGML_TYPE_Q8_0;
            if (ggml_row_size(want, t.ne[0]) == 0) want = t.type;  // rows that do not fill whole blocks
        }
        bytes_in += t.nbytes;
        if (want != t.type) {
            if (!kern.row_to_f32[t.type] || (want != GGML_TYPE_F32 && !kern.quantize_row[want]))
                rwkv_fail("tensor '%s': no conversion from %s to %s in this build", ot.name.c_str(),
                          ggml_type_name(t.type), ggml_type_name(want));
            const int64_t n_rows = t.ne[1] * t.ne[2] * t.ne[3];
            const uint64_t in_row = ggml_row_size(t.type, t.ne[0]), out_row = ggml_row_size(want, t.ne[0]);
            buffers.emplace_back((size_t)(out_row * (uint64_t)n_rows));
            row.resize((size_t)t.ne[0]);
            for (int64_t i = 0; i < n_rows; i++) {
                kern.row_to_f32[t.type]((const uint8_t*)t.data + (uint64_t)i * in_row, row.data(), t.ne[0]);
                if (want == GGML_TYPE_F32)
                    memcpy(buffers.back().data() + (uint64_t)i * out_row, row.data(), out_row);
                else
                    kern.quantize_row[want](row.data(), buffers.back().data() + (uint64_t)i * out_row, t.ne[0]);
            }
            ot.type = want;
            ot.data = buffers.back().data();
            n_converted++;
            bytes_out += out_row * (uint64_t)n_rows;
        } else {
            bytes_out += t.nbytes;
        }
        out.push_back(ot);
    }
    std::string tmp = args[1] + ".tmp";
    gguf_write(tmp.c_str(), &in, {"general.file_type"}, {{"general.file_type", file_type_of(target)}}, out);
    if (rename(tmp.c_str(), args[1].c_str()) != 0) {
        remove(tmp.c_str());
        rwkv_fail("%s: cannot rename into place: %s", args[1].c_str(), strerror(errno));
    }
    fprintf(stderr, "rwkv-cli quantize: %s -> %s: %d tensors converted to %s, tensor data %.1f MiB -> %.1f MiB\n",
            args[0].c_str(), args[1].c_str(), n_converted, ggml_type_name(target), (double)bytes_in / (1 << 20),
            (double)bytes_out / (1 << 20));
    return 0;
}
