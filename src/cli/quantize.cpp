// quantize.cpp - rwkv-cli quantize IN.gguf OUT.gguf PRESET: llama.cpp's
// llama-quantize for RWKV models. The same preset names, the same type for
// every tensor, ggml's quantizers (kernels/ggml_quantize.cpp) and llama.cpp's
// metadata: without an importance matrix, every tensor's type, shape and bytes
// and the metadata are the ones llama-quantize writes from the same input
// (tests/test_quantize_llamacpp.py). The tensors stay in the input's order
// (llama.cpp sorts them by layer and name): a state file's model id hashes the
// vectors in file order, so a state made for the input loads with the output.
//
// Which tensor takes which type (llama.cpp's src/llama-quant.cpp:
// tensor_allows_quantization, llama_tensor_get_type, tensor_type_fallback),
// as it applies to RWKV's tensor names:
//   - kept as stored: 1-D tensors, norms, and the small 2-D matrices llama.cpp
//     lists by name (time_mix_w0/w1/w2, a0/a1/a2, v0/v1/v2, g1/g2, first,
//     decay_w1/w2, lerp_fused): the LoRA matrices stay F16 (w1/w2: F32);
//   - output.weight, the head: Q6_K, except Q8_0 in the Q8_0 preset or when
//     its rows are not whole blocks of the preset's type (with no head,
//     token_embd is the head and takes its type);
//   - everything else, token_embd and the projections: the preset's type.
// llama.cpp's other rules raise attn_v, ffn_down and attn_output for the _M
// and _L presets; RWKV has no tensors of those names, so Q3_K_S, Q3_K_M and
// Q3_K_L write the same tensors (as do Q4_K_S/M and Q5_K_S/M) and differ only
// in general.file_type.
//   - a row that is not whole blocks falls back as llama.cpp's does: Q2_K,
//     Q3_K -> Q4_0; Q4_K -> Q5_0; Q5_K -> Q5_1; Q6_K -> Q8_0; IQ4_XS -> IQ4_NL;
//     then F16 if still not whole 32-blocks. The 32-element types have no
//     fallback: such a tensor is an error, as in llama.cpp.
// Quantized inputs are dequantized and quantized again (llama-quantize needs
// --allow-requantize for that).
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "../../kernels/kernels.h"
#include "../common.h"
#include "../threads.h"
#include "cli.h"
#include "options.h"

namespace {

// A preset: its name, general.file_type (llama.cpp's LLAMA_FTYPE_*) and the
// type of the tensors the rules above give "the preset's type".
struct Preset {
    const char* name;
    uint32_t file_type;
    uint32_t type;
};

const Preset kPresets[] = {
    {"F32", 0, GGML_TYPE_F32},       {"F16", 1, GGML_TYPE_F16},       {"BF16", 32, GGML_TYPE_BF16},
    {"Q8_0", 7, GGML_TYPE_Q8_0},     {"Q4_0", 2, GGML_TYPE_Q4_0},     {"Q4_1", 3, GGML_TYPE_Q4_1},
    {"Q5_0", 8, GGML_TYPE_Q5_0},     {"Q5_1", 9, GGML_TYPE_Q5_1},     {"Q2_K", 10, GGML_TYPE_Q2_K},
    {"Q3_K_S", 11, GGML_TYPE_Q3_K},  {"Q3_K_M", 12, GGML_TYPE_Q3_K},  {"Q3_K_L", 13, GGML_TYPE_Q3_K},
    {"Q4_K_S", 14, GGML_TYPE_Q4_K},  {"Q4_K_M", 15, GGML_TYPE_Q4_K},  {"Q5_K_S", 16, GGML_TYPE_Q5_K},
    {"Q5_K_M", 17, GGML_TYPE_Q5_K},  {"Q6_K", 18, GGML_TYPE_Q6_K},    {"IQ4_NL", 25, GGML_TYPE_IQ4_NL},
    {"IQ4_XS", 30, GGML_TYPE_IQ4_XS},
    // llama-quantize's aliases
    {"Q3_K", 12, GGML_TYPE_Q3_K},    {"Q4_K", 15, GGML_TYPE_Q4_K},    {"Q5_K", 17, GGML_TYPE_Q5_K},
};
const char* kPresetList = "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, "
                          "Q4_K_M, Q5_K_S, Q5_K_M, Q6_K, IQ4_NL, IQ4_XS";

const Preset* find_preset(std::string s) {
    for (char& c : s) c = (char)toupper((unsigned char)c);
    for (const Preset& p : kPresets)
        if (s == p.name) return &p;
    return nullptr;
}

bool is_float_type(uint32_t t) { return t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16; }

// Elements per block (1 for the float types).
int64_t block_elems(uint32_t type) {
    for (int64_t n : {1, 32, 256})
        if (ggml_row_size(type, n) != 0) return n;
    return 0;
}

bool contains(std::string_view s, const char* part) { return s.find(part) != std::string_view::npos; }

// ggml_n_dims: trailing dimensions of 1 do not count.
int n_dims_of(const GgufTensor& t) {
    int n = t.n_dims;
    while (n > 1 && t.ne[n - 1] == 1) n--;
    return n;
}

// llama.cpp's tensor_allows_quantization, for the names an RWKV file has.
bool allows_quantization(const GgufTensor& t) {
    if (n_dims_of(t) < 2) return false;
    const std::string_view name = t.name;
    if (name.size() < 6 || name.compare(name.size() - 6, 6, "weight") != 0) return false;
    if (contains(name, "_norm.weight")) return false;
    const char* small[] = {"time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
                           "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight",
                           "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
                           "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight"};
    for (const char* s : small)
        if (contains(name, s)) return false;
    return true;
}

// llama.cpp's tensor_type_fallback: a type whose blocks the rows fill (and
// a line for the user in `notes`).
uint32_t fallback_type(const GgufTensor& t, uint32_t type, std::string* notes) {
    const int64_t ncols = t.ne[0];
    if (ncols % block_elems(type) == 0) return type;
    uint32_t to;
    switch (type) {
        case GGML_TYPE_IQ4_XS: to = GGML_TYPE_IQ4_NL; break;
        case GGML_TYPE_Q2_K:
        case GGML_TYPE_Q3_K: to = GGML_TYPE_Q4_0; break;
        case GGML_TYPE_Q4_K: to = GGML_TYPE_Q5_0; break;
        case GGML_TYPE_Q5_K: to = GGML_TYPE_Q5_1; break;
        case GGML_TYPE_Q6_K: to = GGML_TYPE_Q8_0; break;
        default:
            rwkv_fail("tensor '%.*s': rows of %lld elements are not whole %s blocks of %lld, and %s has no fallback type",
                      (int)t.name.size(), t.name.data(), (long long)ncols, ggml_type_name(type),
                      (long long)block_elems(type), ggml_type_name(type));
    }
    if (ncols % block_elems(to) != 0) to = GGML_TYPE_F16;
    char line[256];
    snprintf(line, sizeof line, "rwkv-cli quantize: %.*s: rows of %lld are not whole %s blocks: %s instead\n",
             (int)t.name.size(), t.name.data(), (long long)ncols, ggml_type_name(type), ggml_type_name(to));
    *notes += line;
    return to;
}

// The type llama-quantize gives tensor t under preset p.
uint32_t target_type(const GgufTensor& t, const Preset& p, bool has_head, std::string* notes) {
    if (!allows_quantization(t)) return t.type;
    if (is_float_type(p.type)) return p.type;
    uint32_t type = p.type;
    const bool is_head = t.name == "output.weight" || (!has_head && t.name == "token_embd.weight");
    if (is_head) {
        if (t.ne[0] % block_elems(type) != 0) type = GGML_TYPE_Q8_0;
        else if (type != GGML_TYPE_Q8_0) type = GGML_TYPE_Q6_K;
    }
    return fallback_type(t, type, notes);
}

// One tensor's rows, float32 in between, split over the pool by rows (each
// row's bytes depend on that row alone, so the thread count changes nothing).
struct ConvertJob {
    const GgufTensor* t;
    uint32_t type;
    uint8_t* out;
    int64_t n_rows, rows_per_task;
};

void convert_rows(void* ctx, int64_t task) {
    const ConvertJob* j = (const ConvertJob*)ctx;
    const int64_t n = j->t->ne[0];
    const uint64_t in_row = ggml_row_size(j->t->type, n), out_row = ggml_row_size(j->type, n);
    std::vector<float> row((size_t)n);
    const int64_t r1 = std::min(j->n_rows, (task + 1) * j->rows_per_task);
    for (int64_t r = task * j->rows_per_task; r < r1; r++) {
        const uint8_t* src = (const uint8_t*)j->t->data + (uint64_t)r * in_row;
        if (j->t->type == GGML_TYPE_F32) memcpy(row.data(), src, (size_t)n * 4);
        else kern.row_to_f32[j->t->type](src, row.data(), n);
        uint8_t* dst = j->out + (uint64_t)r * out_row;
        if (j->type == GGML_TYPE_F32) memcpy(dst, row.data(), (size_t)n * 4);
        else kern.quantize_row[j->type](row.data(), dst, n);
    }
}

}  // namespace

int cmd_quantize(int argc, char** argv) {
    cxxopts::Options o("rwkv-cli quantize",
                       std::string("Rewrite a model as llama.cpp's llama-quantize does with PRESET (") + kPresetList +
                           "), byte for byte.");
    o.add_options()
        ("t,threads", "threads (default: the physical cores)", cxxopts::value<int>()->default_value("0"))
        ("h,help", "show this help")
        ("args", "IN.gguf OUT.gguf PRESET", cxxopts::value<std::vector<std::string>>());
    o.parse_positional({"args"});
    o.positional_help("IN.gguf OUT.gguf PRESET");
    cxxopts::ParseResult r;
    if (!parse_or_help(o, argc, argv, &r)) return 0;
    if (!r.count("args") || r["args"].as<std::vector<std::string>>().size() != 3)
        rwkv_fail("expected IN.gguf OUT.gguf PRESET");
    const auto& args = r["args"].as<std::vector<std::string>>();
    const Preset* preset = find_preset(args[2]);
    if (!preset) rwkv_fail("unknown PRESET '%s' (%s)", args[2].c_str(), kPresetList);
    if (args[0] == args[1]) rwkv_fail("%s: output would overwrite the input", args[1].c_str());
    const int n_threads = r["threads"].as<int>();
    if (n_threads < 0 || n_threads > 1024) rwkv_fail("--threads must be in 0..1024 (0: the physical cores)");

    LoadedModel lm;  // loading validates the whole model first
    cli_load_model(&lm, args[0], "auto");
    const GgufFile& in = lm.model.file;

    const bool has_head = gguf_find_tensor(&in, "output.weight") != nullptr;

    // every tensor's type first, as llama.cpp decides them: a model the preset
    // cannot hold fails before any work
    std::vector<uint32_t> types;
    std::string notes;
    for (const GgufTensor& t : in.tensors) types.push_back(target_type(t, *preset, has_head, &notes));
    fputs(notes.c_str(), stderr);

    ThreadPool* pool = pool_create(n_threads > 0 ? n_threads : physical_cores());
    std::vector<GgufOutTensor> out;
    std::vector<std::vector<uint8_t>> buffers;
    buffers.reserve(in.tensors.size());
    uint64_t bytes_in = 0, bytes_out = 0;
    int n_converted = 0;
    for (size_t i = 0; i < in.tensors.size(); i++) {
        const GgufTensor* t = &in.tensors[i];
        GgufOutTensor ot{std::string(t->name), t->type, n_dims_of(*t), {t->ne[0], t->ne[1], t->ne[2], t->ne[3]}, t->data};
        const uint32_t want = types[i];
        bytes_in += t->nbytes;
        if (want != t->type) {
            if ((t->type != GGML_TYPE_F32 && !kern.row_to_f32[t->type]) ||
                (want != GGML_TYPE_F32 && !kern.quantize_row[want]))
                rwkv_fail("tensor '%s': no conversion from %s to %s in this build", ot.name.c_str(),
                          ggml_type_name(t->type), ggml_type_name(want));
            ConvertJob job{t, want, nullptr, t->ne[1] * t->ne[2] * t->ne[3], 0};
            const uint64_t out_row = ggml_row_size(want, t->ne[0]);
            buffers.emplace_back((size_t)(out_row * (uint64_t)job.n_rows));
            job.out = buffers.back().data();
            job.rows_per_task = std::max<int64_t>(1, job.n_rows / (4 * pool_size(pool)));
            pool_run(pool, (job.n_rows + job.rows_per_task - 1) / job.rows_per_task, convert_rows, &job);
            ot.type = want;
            ot.data = job.out;
            n_converted++;
            bytes_out += buffers.back().size();
        } else {
            bytes_out += t->nbytes;
        }
        out.push_back(ot);
    }
    pool_destroy(pool);
    // llama.cpp's metadata: the input's, with these two moved to the end
    const uint32_t kQuantizationVersion = 2;  // GGML_QNT_VERSION
    std::string tmp = args[1] + ".tmp";
    gguf_write(tmp.c_str(), &in, {"general.quantization_version", "general.file_type"},
               {{"general.quantization_version", kQuantizationVersion}, {"general.file_type", preset->file_type}}, out);
    if (rename(tmp.c_str(), args[1].c_str()) != 0) {
        remove(tmp.c_str());
        rwkv_fail("%s: cannot rename into place: %s", args[1].c_str(), strerror(errno));
    }
    fprintf(stderr, "rwkv-cli quantize: %s -> %s: %s, %d tensors converted, tensor data %.1f MiB -> %.1f MiB\n",
            args[0].c_str(), args[1].c_str(), preset->name, n_converted, (double)bytes_in / (1 << 20),
            (double)bytes_out / (1 << 20));
    return 0;
}
