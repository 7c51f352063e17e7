// test_rwkv_batch.cpp - many sequences at once give each sequence exactly
// what it gets alone.
//
// rwkv_eval_batch runs the rows of several sequences through every matrix
// product together; gen_step advances several generations through it. The
// claim is bit identity: each sequence's logits, final state and generated
// text are those of the same sequence run alone, whatever shares its passes,
// for every generation (v5.2, v6, v7), weight type (F16, F32, block types,
// --no-mmap layouts, int8 activations), kernel path, thread count and pass
// size, with sequences joining and leaving between steps.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "../kernels/kernels.h"
#include "../src/common.h"
#include "../src/generation.h"
#include "../src/rwkv.h"
#include "test_data.h"

namespace {

struct Loaded {
    Model m;
    Loaded(const std::string& path, GgufLoadMode mode) { model_load(&m, path.c_str(), mode); }
    ~Loaded() { model_free(&m); }
};

std::vector<std::string> isa_paths() {
    int n;
    const char* const* names = kernels_isa_available(&n);
    return std::vector<std::string>(names, names + n);
}

// The models: every generation, and the weight layouts whose kernels differ.
struct ModelCase {
    std::string path;
    GgufLoadMode mode;
    const char* act;  // kernels_init's activation choice
};

std::vector<ModelCase> model_cases() {
    const std::string q = shared_data_dir() + "/llamacpp-quants/";
    return {
        {shared_data_dir() + "/llamacpp-gguf/v7-L2-D64-s9-llamacpp-f16.gguf", GGUF_MAP, "auto"},
        {test_models_dir() + "/v5-L2-D128-s3.gguf", GGUF_MAP, "auto"},
        {test_models_dir() + "/v6-L2-D128-s3.gguf", GGUF_MAP, "auto"},
        {q + "kjv-Q8_0.gguf", GGUF_MAP, "auto"},     // Q8_0 activations
        {q + "kjv-Q8_0.gguf", GGUF_COPY, "auto"},    // rearranged for the kernels (R16/R8 layouts)
        {q + "kjv-Q4_K_M.gguf", GGUF_MAP, "auto"},   // K-quants with float32 activations, a Q6_K head
        {q + "kjv-Q4_K_M.gguf", GGUF_MAP, "int8"},   // ... and with Q8_K activations
        {q + "kjv-IQ4_NL.gguf", GGUF_COPY, "auto"},
    };
}

// Deterministic pseudo-random tokens below V.
std::vector<int32_t> tokens_for(int64_t n, int64_t V, uint32_t seed) {
    std::vector<int32_t> t((size_t)n);
    for (auto& x : t) {
        seed = seed * 1664525u + 1013904223u;
        x = (int32_t)((seed >> 8) % (uint32_t)V);
    }
    return t;
}

// One sequence's inputs and what came out of it.
struct Seq {
    std::vector<int32_t> warm;    // fed before, alone (a state that is not zero)
    std::vector<int32_t> tokens;  // fed in the test
    bool want_all, want_last;
    std::vector<float> all, last;
    RwkvState state;
};

void expect_same_bits(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
    ASSERT_EQ(a.size(), b.size()) << what;
    if (a.empty()) return;  // (memcmp must not see an empty vector's null data)
    EXPECT_EQ(0, memcmp(a.data(), b.data(), a.size() * sizeof(float))) << what << ": not bit for bit the same";
}

// Ragged sequences, some from a warm state, some wanting every row's logits,
// some only the last, one neither.
std::vector<Seq> make_seqs(const Model& m) {
    const int64_t V = m.n_vocab;
    const int64_t lengths[] = {1, 5, 17, 2, 9, 1, 3};
    std::vector<Seq> seqs(sizeof(lengths) / sizeof(lengths[0]));
    for (size_t b = 0; b < seqs.size(); b++) {
        Seq& s = seqs[b];
        if (b % 3 == 1) s.warm = tokens_for(4 + (int64_t)b, V, 100 + (uint32_t)b);
        s.tokens = tokens_for(lengths[b], V, (uint32_t)b);
        s.want_all = b % 2 == 0;
        s.want_last = b != 5;
    }
    return seqs;
}

void prepare(const Model& m, RwkvContext* ctx, Seq* s) {
    rwkv_state_init(&s->state, &m);
    if (!s->warm.empty()) rwkv_eval(ctx, &s->state, s->warm.data(), (int64_t)s->warm.size(), nullptr, nullptr);
    s->all.assign(s->want_all ? s->tokens.size() * (size_t)m.n_vocab : 0, 0.0f);
    s->last.assign(s->want_last ? (size_t)m.n_vocab : 0, 0.0f);
}

RwkvSeq as_batch_seq(Seq* s) {
    return RwkvSeq{&s->state, s->tokens.data(), (int64_t)s->tokens.size(), s->want_last ? s->last.data() : nullptr,
                   s->want_all ? s->all.data() : nullptr};
}

void expect_same_seqs(const std::vector<Seq>& alone, const std::vector<Seq>& batch, const std::string& what) {
    for (size_t b = 0; b < alone.size(); b++) {
        const std::string w = what + ", sequence " + std::to_string(b);
        expect_same_bits(alone[b].all, batch[b].all, w + " (every row)");
        expect_same_bits(alone[b].last, batch[b].last, w + " (last row)");
        EXPECT_EQ(0, memcmp(alone[b].state.data.data(), batch[b].state.data.data(),
                            alone[b].state.data.size() * sizeof(float)))
            << w << ": final state differs";
    }
}

TEST(RwkvBatch, BatchedEqualsAloneBitForBit) {
    for (const ModelCase& mc : model_cases()) {
        REQUIRE_FILE(mc.path);
        const std::string name = mc.path.substr(mc.path.rfind('/') + 1) + (mc.mode == GGUF_COPY ? " (copy)" : "") +
                                 ", act " + mc.act;
        for (const std::string& isa : isa_paths()) {
            kernels_init(isa.c_str(), mc.act);
            Loaded L(mc.path, mc.mode);  // loaded after kernels_init: --no-mmap layouts are per path
            // Alone: each sequence through its own call, in chunks of 8.
            std::vector<Seq> alone = make_seqs(L.m);
            {
                RwkvContext ctx;
                rwkv_context_init(&ctx, &L.m, 8, 1);
                for (Seq& s : alone) {
                    prepare(L.m, &ctx, &s);
                    const RwkvSeq q = as_batch_seq(&s);
                    rwkv_eval(&ctx, q.state, q.tokens, q.n, q.logits_last, q.logits_all);
                }
            }
            // Together: passes of 1 row (every sequence cut across passes), 4
            // rows, and all rows at once; 1 and 2 threads.
            for (int64_t pass_rows : {1, 4, 64})
                for (int threads : {1, 2}) {
                    RwkvContext ctx;
                    rwkv_context_init(&ctx, &L.m, pass_rows, threads);
                    std::vector<Seq> batch = make_seqs(L.m);
                    std::vector<RwkvSeq> qs;
                    for (Seq& s : batch) {
                        prepare(L.m, &ctx, &s);
                        qs.push_back(as_batch_seq(&s));
                    }
                    rwkv_eval_batch(&ctx, qs.data(), (int64_t)qs.size());
                    expect_same_seqs(alone, batch,
                                     name + ", " + isa + ", passes of " + std::to_string(pass_rows) + " rows, " +
                                         std::to_string(threads) + " threads");
                }
        }
    }
}

// Continuous batching: sequences join at different steps, feed a different
// number of tokens per step (one, as decoding does, or prompt chunks), and
// leave when done; the others' steps go on around them.
TEST(RwkvBatch, JoinsAndLeavesBetweenSteps) {
    const std::string path = shared_data_dir() + "/llamacpp-quants/kjv-Q8_0.gguf";
    REQUIRE_FILE(path);
    for (const std::string& isa : isa_paths()) {
        kernels_init(isa.c_str());
        Loaded L(path, GGUF_MAP);
        const int64_t V = L.m.n_vocab;
        struct Plan {
            int64_t join, per_step, n;
        } plans[] = {{0, 1, 12}, {0, 5, 23}, {2, 1, 4}, {3, 7, 7}, {6, 2, 9}, {9, 1, 1}};
        const size_t B = sizeof(plans) / sizeof(plans[0]);
        std::vector<std::vector<int32_t>> toks(B);
        std::vector<std::vector<float>> alone(B), batch(B);
        RwkvContext ctx;
        rwkv_context_init(&ctx, &L.m, 16, 2);
        for (size_t b = 0; b < B; b++) {
            toks[b] = tokens_for(plans[b].n, V, 7 + (uint32_t)b);
            alone[b].assign((size_t)(plans[b].n * V), 0.0f);
            batch[b].assign((size_t)(plans[b].n * V), 0.0f);
            RwkvState s;
            rwkv_state_init(&s, &L.m);
            for (int64_t t = 0; t < plans[b].n; t++)  // token mode, alone
                rwkv_eval(&ctx, &s, &toks[b][(size_t)t], 1, alone[b].data() + t * V, nullptr);
        }
        std::vector<RwkvState> states(B);
        for (auto& s : states) rwkv_state_init(&s, &L.m);
        std::vector<int64_t> fed(B, 0);
        for (int64_t step = 0; step < 40; step++) {
            std::vector<RwkvSeq> qs;
            for (size_t b = 0; b < B; b++) {
                if (step < plans[b].join || fed[b] == plans[b].n) continue;
                const int64_t n = std::min(plans[b].per_step, plans[b].n - fed[b]);
                qs.push_back(RwkvSeq{&states[b], toks[b].data() + fed[b], n, nullptr, batch[b].data() + fed[b] * V});
                fed[b] += n;
            }
            if (!qs.empty()) rwkv_eval_batch(&ctx, qs.data(), (int64_t)qs.size());
        }
        for (size_t b = 0; b < B; b++) {
            ASSERT_EQ(fed[b], plans[b].n);
            expect_same_bits(alone[b], batch[b], isa + ": sequence " + std::to_string(b) + " joining at step " +
                                                      std::to_string(plans[b].join));
        }
    }
}

// gen_step over several generations at once: each one's tokens and text are
// those it makes alone (different prompts, seeds, sampling and stops).
TEST(RwkvBatch, GenerationsTogetherEqualAlone) {
    const std::string path = shared_data_dir() + "/llamacpp-quants/kjv-Q4_K_M.gguf";
    REQUIRE_FILE(path);
    kernels_init("auto");
    Loaded L(path, GGUF_MAP);
    WorldTokenizer tok;
    world_tokenizer_init(&tok, L.m.token_texts, L.m.token_types.empty() ? nullptr : L.m.token_types.data(),
                         L.m.token_types.size(), L.m.byte_level);
    const char* prompts[] = {"And God said", "In the beginning", "The LORD is my shepherd; I shall", "Jesus wept.",
                             "And it came to pass"};
    const size_t B = sizeof(prompts) / sizeof(prompts[0]);
    auto params = [](size_t b) {
        GenParams p;
        p.sampling.seed = 1 + b;
        p.sampling.temp = b == 3 ? 0.0f : 0.6f + 0.2f * (float)b;
        p.sampling.top_k = b == 2 ? 5 : 0;
        p.n_predict = 20 + 7 * (int64_t)b;
        if (b == 1) p.stop = {"\n", "the"};
        return p;
    };
    auto start = [&](GenSeq* s, size_t b) {
        gen_init(s, &L.m, &tok, params(b));
        std::vector<int32_t> ids;
        world_tokenizer_encode(&tok, (const uint8_t*)prompts[b], strlen(prompts[b]), &ids);
        gen_set_prompt(s, ids.data(), (int64_t)ids.size());
    };
    RwkvContext ctx;
    rwkv_context_init(&ctx, &L.m, 8, 2);
    std::vector<std::unique_ptr<GenSeq>> alone, together;
    for (size_t b = 0; b < B; b++) {
        alone.emplace_back(new GenSeq);
        start(alone.back().get(), b);
        GenSeq* one = alone.back().get();
        for (int i = 0; i < 1000 && one->phase != GEN_DONE; i++) gen_step(&ctx, &one, 1);
        ASSERT_EQ(one->phase, GEN_DONE);
    }
    // together, with two of them joining late
    std::vector<GenSeq*> active;
    for (size_t b = 0; b < B; b++) together.emplace_back(new GenSeq);
    for (int step = 0; step < 1000; step++) {
        if (step == 0)
            for (size_t b : {0, 1, 2}) start(together[b].get(), b), active.push_back(together[b].get());
        if (step == 3) start(together[3].get(), 3), active.push_back(together[3].get());
        if (step == 11) start(together[4].get(), 4), active.push_back(together[4].get());
        gen_step(&ctx, active.data(), (int64_t)active.size());
        if (step > 11 && std::all_of(active.begin(), active.end(), [](GenSeq* s) { return s->phase == GEN_DONE; }))
            break;
    }
    for (size_t b = 0; b < B; b++) {
        EXPECT_EQ(together[b]->phase, GEN_DONE) << b;
        EXPECT_EQ(alone[b]->generated, together[b]->generated) << "sequence " << b;
        EXPECT_EQ(alone[b]->text, together[b]->text) << "sequence " << b;
        EXPECT_EQ(alone[b]->finish, together[b]->finish) << "sequence " << b;
        EXPECT_FALSE(together[b]->generated.empty()) << "sequence " << b << " generated nothing";
    }
    // the stop strings end sequence 1's text before them
    EXPECT_EQ(together[1]->finish, GEN_STOP);
    EXPECT_EQ(together[1]->text.find("the"), std::string::npos);
}

// Memory: a context's working memory does not depend on how many sequences
// go through it; B sequences add B states and nothing else.
TEST(RwkvBatch, MemoryGrowsByStatesAlone) {
    const std::string path = shared_data_dir() + "/llamacpp-quants/kjv-Q8_0.gguf";
    REQUIRE_FILE(path);
    kernels_init("auto");
    Loaded L(path, GGUF_MAP);
    RwkvContext ctx;
    rwkv_context_init(&ctx, &L.m, 16, 2);
    auto scratch_bytes = [&] {
        return ctx.scratch.buf.size() * 4 + ctx.scratch.head_out.size() * 4 + ctx.scratch.mm.act.capacity();
    };
    // what `rwkv-cli info` reports is what is allocated
    EXPECT_EQ((size_t)rwkv_context_bytes(&L.m, 16), ctx.scratch.buf.size() * 4 + ctx.scratch.head_out.size() * 4);
    RwkvState one;
    rwkv_state_init(&one, &L.m);
    EXPECT_EQ((size_t)rwkv_state_bytes(&L.m), one.data.size() * 4);
    size_t first = 0;
    for (int64_t B : {16, 64, 200}) {  // 16 sequences of 3 tokens already fill passes of 16 rows
        std::vector<RwkvState> states((size_t)B);
        std::vector<int32_t> toks = tokens_for(B * 3, L.m.n_vocab, 5);
        std::vector<float> logits((size_t)(B * L.m.n_vocab));
        std::vector<RwkvSeq> qs;
        for (int64_t b = 0; b < B; b++) {
            rwkv_state_init(&states[(size_t)b], &L.m);
            qs.push_back(RwkvSeq{&states[(size_t)b], toks.data() + 3 * b, 3, logits.data() + b * L.m.n_vocab, nullptr});
        }
        rwkv_eval_batch(&ctx, qs.data(), B);
        if (B == 16) first = scratch_bytes();
        EXPECT_EQ(scratch_bytes(), first) << B << " sequences grew the scratch";
    }
}

TEST(RwkvBatch, RejectsBadBatchesWithoutTouchingStates) {
    const std::string path = shared_data_dir() + "/llamacpp-quants/kjv-Q8_0.gguf";
    REQUIRE_FILE(path);
    kernels_init("auto");
    Loaded L(path, GGUF_MAP);
    RwkvContext ctx;
    rwkv_context_init(&ctx, &L.m, 16, 1);
    RwkvState a, b;
    rwkv_state_init(&a, &L.m);
    rwkv_state_init(&b, &L.m);
    const int32_t good[2] = {65, 66}, bad[2] = {65, 300};
    std::vector<float> la((size_t)L.m.n_vocab), lb((size_t)L.m.n_vocab);
    // a bad token in the second sequence: the first one's state is not changed either
    RwkvSeq qs[2] = {{&a, good, 2, la.data(), nullptr}, {&b, bad, 2, lb.data(), nullptr}};
    EXPECT_THROW(rwkv_eval_batch(&ctx, qs, 2), RwkvError);
    for (float x : a.data) ASSERT_EQ(x, 0.0f) << "a failed batch changed a state";
    // one state twice
    RwkvSeq twice[2] = {{&a, good, 2, la.data(), nullptr}, {&a, good, 1, lb.data(), nullptr}};
    EXPECT_THROW(rwkv_eval_batch(&ctx, twice, 2), RwkvError);
    // a state made for another shape
    RwkvState other;
    rwkv_state_init(&other, &L.m);
    other.data.resize(other.data.size() - 16);
    RwkvSeq wrong = {&other, good, 2, la.data(), nullptr};
    EXPECT_THROW(rwkv_eval_batch(&ctx, &wrong, 1), RwkvError);
}

}  // namespace
