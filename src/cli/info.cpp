// info.cpp - rwkv-cli info: what is in a model file.
#include <cmath>
#include <cstdio>

#include "../../kernels/kernels.h"
#include "../common.h"
#include "cli.h"
#include "options.h"

int cmd_info(int argc, char** argv) {
    cxxopts::Options o("rwkv-cli info", "Describe a model file: architecture, sizes, tensor types.");
    add_model_options(o);
    o.add_options()("tensors", "also list every tensor with its type and shape")
        ("check", "read every weight and fail if any is NaN or infinite");
    cxxopts::ParseResult r;
    if (!parse_or_help(o, argc, argv, &r)) return 0;
    LoadedModel lm;
    cli_load_model(&lm, r["model"].as<std::string>(), isa_option(r), GGUF_MAP, act_option(r));
    const Model& m = lm.model;
    const GgufFile& f = m.file;

    std::string s;
    s += strprintf("file:          %s\n", f.path.c_str());
    s += strprintf("file size:     %zu bytes (%.2f MiB)\n", f.size, (double)f.size / (1 << 20));
    s += strprintf("format:        GGUF v%u, %zu tensors, %zu metadata keys, alignment %llu\n", f.version,
                   f.tensors.size(), f.kvs.size(), (unsigned long long)f.alignment);
    s += strprintf("architecture:  %s\n", m.arch_name.c_str());
    s += strprintf("parameters:    %lld\n", (long long)model_n_params(&m));
    s += strprintf("weight types:  %s\n", model_type_summary(&m).c_str());
    s += strprintf("layers:        %lld\n", (long long)m.n_layer);
    s += strprintf("embedding:     %lld\n", (long long)m.n_embd);
    s += strprintf("ffn:           %lld\n", (long long)m.n_ffn);
    s += strprintf("heads:         %lld x %lld\n", (long long)m.n_head, (long long)m.head_size);
    if (m.arch == ARCH_RWKV7)
        s += strprintf("lora ranks:    decay %lld, iclr %lld, value %lld, gate %lld\n", (long long)m.lora_w,
                       (long long)m.lora_a, (long long)m.lora_v, (long long)m.lora_g);
    else if (m.arch == ARCH_RWKV6)
        s += strprintf("lora ranks:    token shift %lld, decay %lld\n", (long long)m.lora_mix, (long long)m.lora_w);
    if (m.rescale_every > 0) s += strprintf("rescale every: %lld layers\n", (long long)m.rescale_every);
    s += strprintf("vocabulary:    %lld tokens (%s)\n", (long long)m.n_vocab, m.byte_level ? "bytes" : "world");
    const int64_t chunk = rwkv_default_chunk(&m);
    s += strprintf("state:         %lld floats per sequence (%.1f KiB)\n", (long long)(rwkv_state_bytes(&m) / 4),
                   (double)rwkv_state_bytes(&m) / 1024);
    s += strprintf("working memory: %.1f MiB per context (passes of %lld rows); B sequences at once add B states\n",
                   (double)rwkv_context_bytes(&m, chunk) / (1 << 20), (long long)chunk);
    s += strprintf("kernels:       %s\n", kern.isa);
    if (r.count("tensors")) {
        for (const GgufTensor& t : f.tensors) {
            std::string shape;
            for (int d = 0; d < t.n_dims; d++) shape += strprintf(d ? ", %lld" : "%lld", (long long)t.ne[d]);
            s += strprintf("  %-40.*s %-5s [%s]\n", (int)t.name.size(), t.name.data(), ggml_type_name(t.type),
                           shape.c_str());
        }
    }
    cli_write(1, s.data(), s.size());
    if (r.count("check")) {
        // Every tensor, row by row, through the same conversion the engine uses.
        std::vector<float> row;
        for (const GgufTensor& t : f.tensors) {
            const int64_t n_rows = t.ne[1] * t.ne[2] * t.ne[3];
            const uint64_t row_bytes = ggml_row_size(t.type, t.ne[0]);
            if (!kern.row_to_f32[t.type])
                rwkv_fail("%s: tensor '%.*s' has type %s, which cannot be checked", f.path.c_str(), (int)t.name.size(),
                          t.name.data(), ggml_type_name(t.type));
            row.resize((size_t)t.ne[0]);
            for (int64_t i = 0; i < n_rows; i++) {
                kern.row_to_f32[t.type]((const uint8_t*)t.data + (uint64_t)i * row_bytes, row.data(), t.ne[0]);
                for (int64_t j = 0; j < t.ne[0]; j++)
                    if (!std::isfinite(row[(size_t)j]))
                        rwkv_fail("%s: tensor '%.*s' has a non-finite value (%g) at row %lld, column %lld",
                                  f.path.c_str(), (int)t.name.size(), t.name.data(), (double)row[(size_t)j],
                                  (long long)i, (long long)j);
            }
        }
        cli_write(1, "check:         all weights finite\n", 34);
    }
    return 0;
}
