// fuzz_gguf.cpp - the GGUF reader, the writer and the model loader on any bytes.
//
// Properties (a violation aborts, which libFuzzer reports as a crash):
//   1. gguf_open either throws RwkvError or returns a file in which every
//      key, string, array and tensor lies inside the mapping, tensors are
//      aligned, do not overlap, have unique names and nbytes equal to their
//      shape times their type's row size; then every tensor byte is read.
//   2. gguf_write of an opened file gives a file that opens again with the
//      same metadata (byte for byte) and the same tensors (shape, type, data).
//   3. model_load either throws RwkvError or gives a model whose hyper-
//      parameters agree with each other; its tokenizer either builds or throws
//      RwkvError; then a few tokens go through the forward pass (sequence and
//      token mode) and every weight row through the type conversion that
//      `info --check` uses, on one of the CPU's kernel paths (scalar, AVX2,
//      AVX-512) picked by the input size. Sanitizers watch all of it.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../kernels/kernels.h"
#include "../src/common.h"
#include "../src/gguf.h"
#include "../src/model.h"
#include "../src/rwkv.h"
#include "../tokenizer/world.h"
#include "fuzz_util.h"

static bool inside(const GgufFile& f, const void* p, uint64_t n) {
    const uint8_t* b = (const uint8_t*)p;
    return b >= f.map && b <= f.map + f.size && n <= (uint64_t)(f.map + f.size - b);
}

static volatile uint8_t g_sink;

static void check_file(const GgufFile& f) {
    FUZZ_CHECK(f.map && f.size > 0, "no mapping");
    FUZZ_CHECK(f.version == 2 || f.version == 3, "version %u", f.version);
    const uint64_t a = f.alignment;
    FUZZ_CHECK(a > 0 && (a & (a - 1)) == 0, "alignment %llu", (unsigned long long)a);
    FUZZ_CHECK(f.data_offset % a == 0, "data offset %llu", (unsigned long long)f.data_offset);
    for (size_t i = 0; i < f.kvs.size(); i++) {
        const GgufKV& kv = f.kvs[i];
        FUZZ_CHECK(inside(f, kv.key.data(), kv.key.size()), "key %zu outside", i);
        FUZZ_CHECK(kv.raw_offset <= f.size && kv.raw_size <= f.size - kv.raw_offset, "kv %zu raw range", i);
        for (size_t j = 0; j < i; j++) FUZZ_CHECK(f.kvs[j].key != kv.key, "duplicate key accepted");
        if (kv.type == GGUF_STRING) {
            FUZZ_CHECK(inside(f, kv.str.data(), kv.str.size()), "string value outside");
        } else if (kv.type == GGUF_ARRAY) {
            if (kv.array_type == GGUF_STRING) {
                FUZZ_CHECK(kv.strs.size() == kv.array_count, "string array count");
                for (std::string_view s : kv.strs) FUZZ_CHECK(inside(f, s.data(), s.size()), "array string outside");
            } else {
                const uint64_t es = gguf_scalar_size(kv.array_type);
                FUZZ_CHECK(es > 0, "array of unknown type %u accepted", kv.array_type);
                FUZZ_CHECK(kv.array_count <= f.size / es && inside(f, kv.value, kv.array_count * es), "array outside");
            }
        } else {
            const uint64_t n = gguf_scalar_size(kv.type);
            FUZZ_CHECK(n > 0, "unknown value type %u accepted", kv.type);
            FUZZ_CHECK(inside(f, kv.value, n), "scalar outside");
        }
    }
    for (size_t i = 0; i < f.tensors.size(); i++) {
        const GgufTensor& t = f.tensors[i];
        FUZZ_CHECK(t.n_dims >= 1 && t.n_dims <= 4, "n_dims %d", t.n_dims);
        uint64_t rows = 1;
        for (int d = 0; d < 4; d++) {
            FUZZ_CHECK(t.ne[d] >= 1, "ne[%d] = %lld", d, (long long)t.ne[d]);
            if (d >= t.n_dims) FUZZ_CHECK(t.ne[d] == 1, "unused dimension %d is %lld", d, (long long)t.ne[d]);
            if (d > 0) rows *= (uint64_t)t.ne[d];
        }
        const uint64_t row = ggml_row_size(t.type, t.ne[0]);
        FUZZ_CHECK(row > 0, "tensor with unusable type %u / row %lld accepted", t.type, (long long)t.ne[0]);
        FUZZ_CHECK(rows <= f.size && t.nbytes == row * rows, "nbytes %llu", (unsigned long long)t.nbytes);
        FUZZ_CHECK(t.offset % a == 0, "misaligned tensor accepted");
        FUZZ_CHECK(t.data == f.map + f.data_offset + t.offset, "data pointer");
        FUZZ_CHECK(inside(f, t.data, t.nbytes), "tensor data outside the file");
        FUZZ_CHECK(inside(f, t.name.data(), t.name.size()), "tensor name outside");
        for (size_t j = 0; j < i; j++) {
            const GgufTensor& u = f.tensors[j];
            FUZZ_CHECK(u.name != t.name, "duplicate tensor accepted");
            const bool disjoint = u.offset + u.nbytes <= t.offset || t.offset + t.nbytes <= u.offset;
            FUZZ_CHECK(disjoint || u.nbytes == 0 || t.nbytes == 0, "overlapping tensors accepted");
        }
        uint8_t s = 0;
        const uint8_t* p = (const uint8_t*)t.data;
        for (uint64_t k = 0; k < t.nbytes; k++) s ^= p[k];
        g_sink = s;
    }
}

// Write f back out (as `rwkv-cli quantize` does) and read it again.
static void check_roundtrip(const GgufFile& f) {
    std::vector<GgufOutTensor> out;
    for (const GgufTensor& t : f.tensors)
        out.push_back(GgufOutTensor{std::string(t.name), t.type, t.n_dims, {t.ne[0], t.ne[1], t.ne[2], t.ne[3]}, t.data});
    const char* path = fuzz_memfile(nullptr, 0, 1);
    gguf_write(path, &f, {}, {}, out);
    GgufFile g;
    try {
        gguf_open(&g, path);
    } catch (const RwkvError& e) {
        FUZZ_CHECK(false, "the written file does not open: %s", e.what());
    }
    FUZZ_CHECK(g.kvs.size() == f.kvs.size() && g.tensors.size() == f.tensors.size(), "counts differ");
    for (size_t i = 0; i < f.kvs.size(); i++)
        FUZZ_CHECK(g.kvs[i].raw_size == f.kvs[i].raw_size &&
                       memcmp(g.map + g.kvs[i].raw_offset, f.map + f.kvs[i].raw_offset, f.kvs[i].raw_size) == 0,
                   "metadata %zu differs", i);
    for (size_t i = 0; i < f.tensors.size(); i++) {
        const GgufTensor &x = f.tensors[i], &y = g.tensors[i];
        FUZZ_CHECK(x.name == y.name && x.type == y.type && x.n_dims == y.n_dims && x.nbytes == y.nbytes &&
                       memcmp(x.ne, y.ne, sizeof x.ne) == 0 && memcmp(x.data, y.data, x.nbytes) == 0,
                   "tensor %zu differs", i);
    }
    gguf_close(&g);
}

static void check_model(Model* m) {
    FUZZ_CHECK(m->n_embd > 0 && m->head_size > 0 && m->n_head * m->head_size == m->n_embd, "heads");
    FUZZ_CHECK(m->n_layer > 0 && m->n_vocab > 0 && (int64_t)m->token_texts.size() == m->n_vocab, "sizes");
    FUZZ_CHECK(m->arch == ARCH_RWKV7 ? (int64_t)m->layers.size() == m->n_layer
                                     : (int64_t)m->v56_layers.size() == m->n_layer, "layers");

    // `info --check`: every row of every tensor through the engine's conversion.
    std::vector<float> row;
    bool tame = true;  // every weight finite and within +-1000
    for (const GgufTensor& t : m->file.tensors) {
        RowToF32Fn conv = kern.row_to_f32[t.type];
        if (!conv) continue;
        const uint64_t rb = ggml_row_size(t.type, t.ne[0]);
        row.resize((size_t)t.ne[0]);
        for (int64_t i = 0; i < t.ne[1] * t.ne[2] * t.ne[3]; i++) {
            conv((const uint8_t*)t.data + (uint64_t)i * rb, row.data(), t.ne[0]);
            for (float x : row) tame &= std::fabs(x) <= 1000.0f;  // false for NaN too
        }
    }

    WorldTokenizer tok;
    try {
        world_tokenizer_init(&tok, m->token_texts, m->token_types.empty() ? nullptr : m->token_types.data(),
                             m->token_types.size(), m->byte_level);
    } catch (const RwkvError&) {
        return;
    }
    FUZZ_CHECK(tok.n_vocab == m->n_vocab, "tokenizer size");
    // Non-finite or huge weights make non-finite activations, which the Q8_0
    // activation quantizer (kernels/matmul_scalar.cpp) casts to int8: undefined
    // behaviour that UBSan reports (as in ggml). Such a file is what
    // `info --check` and the non-finite logit check are for; until the
    // quantizer guards against NaN, the forward pass is fuzzed on tame weights.
    if (!tame) return;

    // A few tokens: sequence mode in chunks of 3 with every row, then token mode.
    const int32_t V = (int32_t)m->n_vocab;
    const int32_t tokens[5] = {1 % V, 0, V - 1, 7 % V, (V / 2)};
    RwkvContext ctx;
    rwkv_context_init(&ctx, m, 3, 1);
    RwkvState state;
    rwkv_state_init(&state, m);
    std::vector<float> all((size_t)(5 * V)), last((size_t)V);
    rwkv_eval(&ctx, &state, tokens, 5, last.data(), all.data());
    rwkv_eval(&ctx, &state, tokens + 2, 1, last.data(), nullptr);
    // An out-of-range id is an error, not a read past the embedding.
    const int32_t bad = V;
    try {
        rwkv_eval(&ctx, &state, &bad, 1, last.data(), nullptr);
        FUZZ_CHECK(false, "token %d accepted by a model of %d tokens", bad, V);
    } catch (const RwkvError&) {
    }
}

static std::string g_isa;  // $RWKV_FUZZ_ISA: one kernel path for every input

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    g_isa = fuzz_env("RWKV_FUZZ_ISA", "");
    kernels_init(g_isa.empty() ? "auto" : g_isa.c_str());
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // Every kernel path this CPU has, chosen by the input's size (the same
    // input always runs the same path).
    if (g_isa.empty()) {
        int n = 0;
        const char* const* isas = kernels_isa_available(&n);
        kernels_init(isas[size % (size_t)n]);
    }
    const char* path = fuzz_memfile(data, size);
    GgufFile f;
    try {
        gguf_open(&f, path);
    } catch (const RwkvError&) {
        return 0;
    }
    check_file(f);
    check_roundtrip(f);
    gguf_close(&f);

    Model m;
    try {
        model_load(&m, path);
    } catch (const RwkvError&) {
        return 0;
    }
    try {
        check_model(&m);
    } catch (const RwkvError& e) {
        FUZZ_CHECK(false, "a loaded model failed to run: %s", e.what());
    }
    model_free(&m);
    return 0;
}
