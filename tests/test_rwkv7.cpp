// test_rwkv7.cpp - the RWKV-7 forward pass against independent references:
//   - llama.cpp-layout GGUF (F16 matrices) vs the official code's logits
//   - the seeded official .pth model (converted by scripts/convert.py) vs the
//     official logits at all 32 positions
//   - rwkv.cpp's tiny trained model (FP32, FP16) vs rwkv.cpp's expected logits
// and the engine against itself: sequence mode == token mode, for any chunking,
// and a state carried across calls == one call.
#include <gtest/gtest.h>

#include "../kernels/kernels.h"
#include "../src/common.h"
#include "../src/parallel.h"
#include "../src/rwkv.h"
#include <cstring>
#include "test_data.h"

namespace {

struct Loaded {
    Model m;
    explicit Loaded(const std::string& path, GgufLoadMode mode = GGUF_MAP) { model_load(&m, path.c_str(), mode); }
    ~Loaded() { model_free(&m); }
};

// Every reference check runs on every kernel path this CPU has.
std::vector<std::string> isa_paths() {
    int n;
    const char* const* names = kernels_isa_available(&n);
    return std::vector<std::string>(names, names + n);
}

// All positions' logits, fed one token at a time (chunk 0) or in sequence
// mode with the given chunk size.
std::vector<float> run(const Model& m, const std::vector<int32_t>& tokens, int64_t chunk) {
    const int64_t T = (int64_t)tokens.size(), V = m.n_vocab;
    std::vector<float> out((size_t)(T * V));
    RwkvContext ctx;
    rwkv_context_init(&ctx, &m, chunk > 0 ? chunk : 1);
    RwkvState state;
    rwkv_state_init(&state, &m);
    if (chunk == 0)
        for (int64_t t = 0; t < T; t++) rwkv_eval(&ctx, &state, &tokens[(size_t)t], 1, out.data() + t * V, nullptr);
    else
        rwkv_eval(&ctx, &state, tokens.data(), T, nullptr, out.data());
    return out;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& ref, int64_t rows, int64_t V,
                  double bound, const char* what) {
    ASSERT_EQ(got.size(), ref.size()) << what;
    std::string where;
    double d = max_rel_diff(got.data(), ref.data(), rows, V, &where);
    printf("[ measure  ] %s: max |diff| / std = %.3g (bound %.2g)\n", what, d, bound);
    EXPECT_LE(d, bound) << what << ": worst at " << where;
}

// Bit for bit: where the engine promises the same logits whatever the chunking.
void expect_identical(const std::vector<float>& got, const std::vector<float>& ref, int64_t V, const char* what) {
    ASSERT_EQ(got.size(), ref.size()) << what;
    size_t i = 0;
    while (i < got.size() && memcmp(&got[i], &ref[i], sizeof(float)) == 0) i++;
    EXPECT_EQ(i, got.size()) << what << ": first difference at position " << (int64_t)i / V << ", logit "
                             << (int64_t)i % V << ": " << got[i] << " vs " << ref[i];
}

}  // namespace

TEST(Rwkv7, LlamacppGgufMatchesOfficialLogits) {
    const std::string dir = shared_data_dir() + "/llamacpp-gguf/";
    REQUIRE_FILE(dir + "v7-L2-D64-s9-llamacpp-f16.gguf");
    Loaded L(dir + "v7-L2-D64-s9-llamacpp-f16.gguf");
    std::vector<int32_t> tokens = read_token_file(dir + "v7-L2-D64-s9.tokens.txt");
    std::vector<float> ref = read_f32_file(dir + "v7-L2-D64-s9.logits.f32");
    ASSERT_EQ(tokens.size(), 26u);
    ASSERT_EQ(ref.size(), tokens.size() * (size_t)L.m.n_vocab);
    for (const std::string& isa : isa_paths()) {
        kernels_init(isa.c_str());
        // measured 3.5e-6 (avx512) .. 4.0e-6 (scalar); bound = 2.5x
        expect_close(run(L.m, tokens, 0), ref, 26, L.m.n_vocab, 1e-5, ("llama.cpp GGUF, token mode, " + isa).c_str());
        expect_close(run(L.m, tokens, 64), ref, 26, L.m.n_vocab, 1e-5, ("llama.cpp GGUF, sequence mode, " + isa).c_str());
    }
}

TEST(Rwkv7, SequenceModeEqualsTokenMode) {
    const std::string path = shared_data_dir() + "/llamacpp-gguf/v7-L2-D64-s9-llamacpp-f16.gguf";
    REQUIRE_FILE(path);
    Loaded L(path);
    std::vector<int32_t> tokens = read_token_file(shared_data_dir() + "/llamacpp-gguf/v7-L2-D64-s9.tokens.txt");
    for (const std::string& isa : isa_paths()) {
        kernels_init(isa.c_str());
        const std::vector<float> tok = run(L.m, tokens, 0);
        for (int64_t chunk : {1, 3, 7, 26, 64}) {
            std::string what = "sequence mode, chunk " + std::to_string(chunk) + " vs token mode, " + isa;
            expect_identical(run(L.m, tokens, chunk), tok, L.m.n_vocab, what.c_str());
        }
    }
}

TEST(Rwkv7, ThreadCountDoesNotChangeLogits) {
    const std::string path = shared_data_dir() + "/llamacpp-gguf/v7-L2-D64-s9-llamacpp-f16.gguf";
    REQUIRE_FILE(path);
    Loaded L(path);
    std::vector<int32_t> tokens = read_token_file(shared_data_dir() + "/llamacpp-gguf/v7-L2-D64-s9.tokens.txt");
    const int64_t T = (int64_t)tokens.size(), V = L.m.n_vocab;
    for (const std::string& isa : isa_paths()) {
        kernels_init(isa.c_str());
        // sequence mode (chunks of 8) and token mode (one token per call,
        // where the rows are cut differently: one range per thread, or one
        // per 2 MiB of a larger matrix - this file's 8 MiB head is cut in
        // four at 2 threads, in three at 3)
        for (const bool token_mode : {false, true}) {
            std::vector<float> base;
            for (int threads : {1, 2, 3}) {
                RwkvContext ctx;
                rwkv_context_init(&ctx, &L.m, 8, threads);
                RwkvState state;
                rwkv_state_init(&state, &L.m);
                std::vector<float> out((size_t)(T * V));
                if (token_mode)
                    for (int64_t t = 0; t < T; t++)
                        rwkv_eval(&ctx, &state, &tokens[(size_t)t], 1, out.data() + t * V, nullptr);
                else
                    rwkv_eval(&ctx, &state, tokens.data(), T, nullptr, out.data());
                if (base.empty()) base = out;
                EXPECT_EQ(0, memcmp(base.data(), out.data(), out.size() * sizeof(float)))
                    << isa << (token_mode ? ", token mode: " : ", sequence mode: ") << threads
                    << " threads changed the logits";
            }
        }
    }
}

TEST(Rwkv7, StateCarriesAcrossCalls) {
    // Feeding A then B through one context equals feeding A+B at once: the
    // state is the only memory.
    const std::string path = shared_data_dir() + "/llamacpp-gguf/v7-L2-D64-s9-llamacpp-f16.gguf";
    REQUIRE_FILE(path);
    Loaded L(path);
    std::vector<int32_t> tokens = read_token_file(shared_data_dir() + "/llamacpp-gguf/v7-L2-D64-s9.tokens.txt");
    const int64_t V = L.m.n_vocab;
    std::vector<float> whole(V), split(V);
    RwkvContext ctx;
    rwkv_context_init(&ctx, &L.m, 64);
    RwkvState a, b;
    rwkv_state_init(&a, &L.m);
    rwkv_state_init(&b, &L.m);
    rwkv_eval(&ctx, &a, tokens.data(), (int64_t)tokens.size(), whole.data(), nullptr);
    rwkv_eval(&ctx, &b, tokens.data(), 10, split.data(), nullptr);
    rwkv_eval(&ctx, &b, tokens.data() + 10, (int64_t)tokens.size() - 10, split.data(), nullptr);
    EXPECT_EQ(0, memcmp(whole.data(), split.data(), V * sizeof(float)))
        << "splitting a prompt at a chunk boundary changed the logits";
    // and a reset state gives the first token's logits again
    std::vector<float> first(V), again(V);
    rwkv_state_reset(&b);
    rwkv_eval(&ctx, &a, tokens.data(), 1, first.data(), nullptr);  // a continues: different
    rwkv_eval(&ctx, &b, tokens.data(), 1, again.data(), nullptr);
    RwkvContext c;
    rwkv_context_init(&c, &L.m, 64);
    RwkvState cs;
    rwkv_state_init(&cs, &L.m);
    std::vector<float> fresh(V);
    rwkv_eval(&c, &cs, tokens.data(), 1, fresh.data(), nullptr);
    EXPECT_EQ(0, memcmp(fresh.data(), again.data(), V * sizeof(float))) << "reset did not restore the zero state";
    EXPECT_NE(0, memcmp(fresh.data(), first.data(), V * sizeof(float))) << "the state had no effect";
}

TEST(Rwkv7, RejectsOutOfRangeTokens) {
    const std::string path = shared_data_dir() + "/llamacpp-gguf/v7-L2-D64-s9-llamacpp-f16.gguf";
    REQUIRE_FILE(path);
    Loaded L(path);
    RwkvContext ctx;
    rwkv_context_init(&ctx, &L.m, 4);
    RwkvState state;
    rwkv_state_init(&state, &L.m);
    std::vector<float> logits(L.m.n_vocab);
    int32_t bad[2] = {5, (int32_t)L.m.n_vocab};
    EXPECT_THROW(rwkv_eval(&ctx, &state, bad, 2, logits.data(), nullptr), RwkvError);
    int32_t neg = -1;
    EXPECT_THROW(rwkv_eval(&ctx, &state, &neg, 1, logits.data(), nullptr), RwkvError);
}

// The kernels rely on rows, head slices and head states starting on 64-byte
// cache lines (LineFloats): none straddles two lines, and threads writing
// neighbouring heads share none. Odd chunk sizes included.
TEST(Rwkv7, StateAndScratchStartOnCacheLines) {
    const std::string path = shared_data_dir() + "/llamacpp-gguf/v7-L2-D64-s9-llamacpp-f16.gguf";
    REQUIRE_FILE(path);
    Loaded L(path);
    for (int64_t chunk : {1, 3, 7, 64}) {
        RwkvContext ctx;
        rwkv_context_init(&ctx, &L.m, chunk);
        RwkvState state;
        rwkv_state_init(&state, &L.m);
        auto line = [](const float* p) { return (uintptr_t)p % 64; };
        for (int64_t l = 0; l < L.m.n_layer; l++) {
            EXPECT_EQ(0u, line(rwkv_state_att_shift(&state, l))) << "layer " << l;
            EXPECT_EQ(0u, line(rwkv_state_ffn_shift(&state, l))) << "layer " << l;
            for (int64_t h = 0; h < L.m.n_head; h++)
                EXPECT_EQ(0u, line(rwkv_state_wkv(&state, l) + h * L.m.head_size * L.m.head_size))
                    << "layer " << l << " head " << h;
        }
        const RwkvScratch& sc = ctx.scratch;
        const float* views[] = {sc.x,  sc.xn, sc.dx, sc.xr, sc.xw,    sc.xk,   sc.xv,   sc.xa,
                                sc.xg, sc.xx, sc.r,  sc.w,  sc.k,     sc.v,    sc.a,    sc.g,
                                sc.kk, sc.v_mix, sc.y, sc.v_first, sc.proj, sc.lora, sc.ffn, sc.head_out.data()};
        for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++)
            EXPECT_EQ(0u, line(views[i])) << "scratch view " << i << ", chunk " << chunk;
    }
}

// generate's chunk: the largest power of two in [64, 512] whose scratch fits
// in 32 MiB (peak memory stays within the file + 64 MB).
TEST(Rwkv7, DefaultChunkKeepsScratchWithin32MiB) {
    struct Shape {
        const char* name;
        int64_t C, ffn, lw, la, lv, lg, expect;
    } shapes[] = {{"0.1B", 768, 3072, 64, 64, 32, 128, 256},
                  {"0.4B", 1024, 4096, 64, 64, 32, 128, 256},
                  {"1.5B", 2048, 8192, 96, 96, 64, 256, 128},
                  {"tiny", 64, 256, 32, 32, 32, 32, 512}};
    for (const Shape& s : shapes) {
        Model m;
        m.arch = ARCH_RWKV7;
        m.n_vocab = 256, m.n_layer = 1, m.n_embd = s.C, m.n_ffn = s.ffn, m.head_size = 64, m.n_head = s.C / 64;
        m.lora_w = s.lw, m.lora_a = s.la, m.lora_v = s.lv, m.lora_g = s.lg, m.lora_mix = 0;
        const int64_t chunk = rwkv_default_chunk(&m);
        EXPECT_EQ(chunk, s.expect) << s.name;
        auto scratch_bytes = [&](int64_t T) {
            RwkvContext ctx;
            rwkv_context_init(&ctx, &m, T);
            return ctx.scratch.buf.size() * sizeof(float);
        };
        EXPECT_LE(scratch_bytes(chunk), 32u << 20) << s.name << ": chunk " << chunk;
        if (chunk < 512) {
            EXPECT_GT(scratch_bytes(2 * chunk), 32u << 20) << s.name << ": chunk " << chunk << " could double";
        }
    }
}

TEST(Rwkv7, OfficialPthModelMatchesOfficialLogits) {
    // The .pth comes from ../shared/tools/make_v7_pth.py and is converted by
    // scripts/convert.py in the make_test_models fixture.
    const std::string model = test_models_dir() + "/v7-L2-D256-s5-f32.gguf";
    const std::string dir = shared_data_dir() + "/v7-ref/";
    REQUIRE_FILE(dir + "v7-L2-D256-s5.logits.f32");
    REQUIRE_FILE(model);
    Loaded L(model);
    std::vector<int32_t> tokens = read_token_file(dir + "v7-L2-D256-s5.tokens.txt");
    std::vector<float> ref = read_f32_file(dir + "v7-L2-D256-s5.logits.f32");
    ASSERT_EQ(tokens.size(), 32u);
    ASSERT_EQ(ref.size(), tokens.size() * (size_t)L.m.n_vocab);
    for (const std::string& isa : isa_paths()) {
        kernels_init(isa.c_str());
        // measured 5.9e-6 (avx2) .. 8.0e-6 (avx512); bound = 2.5x
        expect_close(run(L.m, tokens, 0), ref, 32, L.m.n_vocab, 2e-5, ("official .pth (fp32), token mode, " + isa).c_str());
        expect_close(run(L.m, tokens, 16), ref, 32, L.m.n_vocab, 2e-5, ("official .pth (fp32), sequence mode, " + isa).c_str());
    }
}

static void check_tiny(const char* gguf_name, double bound) {
    const std::string model = test_models_dir() + "/" + gguf_name;
    const std::string ref_path = shared_data_dir() + "/rwkvcpp-tiny/expected-logits-7v0-834K.bin";
    REQUIRE_FILE(ref_path);
    REQUIRE_FILE(model);
    Loaded L(model);
    ASSERT_EQ(L.m.n_vocab, 256);
    std::vector<float> ref = read_f32_file(ref_path);
    ASSERT_EQ(ref.size(), 256u);
    // rwkv.cpp's test feeds the bytes '"', 'i', 'n' one at a time.
    std::vector<int32_t> tokens = {'"', 'i', 'n'};
    for (const std::string& isa : isa_paths()) {
        kernels_init(isa.c_str());
        for (int64_t chunk : {0, 3}) {
            std::vector<float> all = run(L.m, tokens, chunk);
            std::vector<float> last(all.end() - 256, all.end());
            std::string what = std::string("rwkv.cpp tiny ") + gguf_name + (chunk ? ", sequence mode, " : ", token mode, ") + isa;
            expect_close(last, ref, 1, 256, bound, what.c_str());
        }
    }
}

// measured 3.9e-7 .. 4.8e-7 (fp32), 3.9e-7 .. 7.7e-7 (fp16, scalar the largest); bound = 3x
TEST(Rwkv7, RwkvcppTinyFp32) { check_tiny("tiny-rwkv-7v0-834K-f32.gguf", 1.5e-6); }
TEST(Rwkv7, RwkvcppTinyFp16) { check_tiny("tiny-rwkv-7v0-834K-f16.gguf", 2.5e-6); }

// A --no-mmap copy rearranged for the best path: each matrix keeps the type
// the file stores (and its byte count) while its layout names the kernel;
// and kernels_init for another path afterwards still runs it (every table
// has every layout), with that path's logits of the mapped file, bit for bit.
TEST(Rwkv7, RepackedModelKeepsItsTypesAndRunsOnEveryPath) {
    const std::string path = shared_data_dir() + "/llamacpp-quants/kjv-Q8_0.gguf";
    REQUIRE_FILE(path);
    kernels_init(nullptr);
    Loaded copy(path, GGUF_COPY);
    int repacked = 0;
    for (Matrix* W : model_matrices(&copy.m)) {
        ASSERT_LT(W->type, (uint32_t)GGML_TYPE_COUNT);
        const GgufTensor* t = nullptr;
        for (const GgufTensor& x : copy.m.file.tensors)
            if ((const uint8_t*)x.data <= (const uint8_t*)W->data &&
                (const uint8_t*)W->data < (const uint8_t*)x.data + x.nbytes)
                t = &x;
        ASSERT_NE(t, nullptr);
        EXPECT_EQ(W->type, t->type) << t->name;
        if (W->layout != W->type) {
            EXPECT_GE(W->layout, (uint32_t)GGML_TYPE_COUNT) << t->name;
            repacked++;
        }
        if (W->n_in * W->n_out == t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]) {
            EXPECT_EQ(matrix_bytes(*W), t->nbytes) << t->name;
        }
    }
    const std::vector<int32_t> tokens = {65, 110, 100, 32, 71, 111, 100};
    for (const std::string& isa : isa_paths()) {
        kernels_init(isa.c_str());
        Loaded mapped(path);
        const std::vector<float> a = run(copy.m, tokens, 0), b = run(mapped.m, tokens, 0);
        EXPECT_EQ(memcmp(a.data(), b.data(), a.size() * 4), 0) << isa << ": the repacked copy's logits differ";
    }
    kernels_init(nullptr);
    if (repacked == 0) GTEST_SKIP() << "no path here rearranges Q8_0";
}
