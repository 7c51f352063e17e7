// fuzz_tokenizer.cpp - the world tokenizer and the UTF-8 output stream.
//
// The first input byte picks a mode; the rest is the payload.
//   0  world vocabulary (65,536 tokens, read once from a GGUF: $RWKV_FUZZ_VOCAB,
//      default the llama.cpp file in ../shared): decode(encode(x)) == x, no id
//      0, every id matchable, and each token is the LONGEST vocabulary entry
//      at its position (checked against a plain hash set, not the trie).
//   1  the payload as token ids (2 bytes each, some out of range on purpose):
//      decode fails exactly when an id is out of range; otherwise streaming
//      the ids' bytes through Utf8Stream (token by token, as generation does)
//      and flushing reproduces decode, and no chunk boundary falls inside a
//      valid UTF-8 character.
//   2  the payload as raw bytes pushed through Utf8Stream in chunks whose
//      sizes come from the payload: same properties.
//   3  a vocabulary made of the payload (lines = escaped token texts, the
//      first byte picks token types / byte-level mode): init either fails with
//      RwkvError or gives a tokenizer with the mode-0 properties on the
//      payload itself.
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "../src/common.h"
#include "../src/gguf.h"
#include "../tokenizer/world.h"
#include "fuzz_util.h"

#ifndef RWKV_SHARED_DATA
#define RWKV_SHARED_DATA "../shared/data"
#endif

static WorldTokenizer g_world;
static std::unordered_set<std::string> g_world_set;

// Length of the valid UTF-8 character starting at s[i] (strict, as RFC 3629),
// or 0 if none starts there.
static size_t utf8_char_len(const std::string& s, size_t i) {
    const uint8_t b = (uint8_t)s[i];
    size_t n;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) n = 2;
    else if (b >= 0xE0 && b <= 0xEF) n = 3;
    else if (b >= 0xF0 && b <= 0xF4) n = 4;
    else return 0;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
    if (i + n > s.size()) return 0;
    for (size_t k = 1; k < n; k++) {
        const uint8_t c = (uint8_t)s[i + k];
        if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return 0;
    }
    return n;
}

// Stream `pieces` through a Utf8Stream; check the concatenation and the cuts.
static void check_stream(const std::vector<std::string>& pieces) {
    std::string full;
    for (const std::string& p : pieces) full += p;
    // positions inside a valid character (where no output may end)
    std::vector<uint8_t> inner(full.size() + 1, 0);
    for (size_t i = 0; i < full.size();) {
        size_t n = utf8_char_len(full, i);
        if (n == 0) n = 1;
        for (size_t k = 1; k < n; k++) inner[i + k] = 1;
        i += n;
    }
    Utf8Stream st;
    std::string out, chunk;
    for (const std::string& p : pieces) {
        chunk.clear();
        utf8_stream_push(&st, p.data(), p.size(), &chunk);
        out += chunk;
        FUZZ_CHECK(!inner[out.size()], "a chunk ends inside a valid UTF-8 character at byte %zu", out.size());
        FUZZ_CHECK(full.compare(0, out.size(), out) == 0, "the stream changed bytes");
    }
    chunk.clear();
    utf8_stream_flush(&st, &chunk);
    out += chunk;
    FUZZ_CHECK(out == full, "stream + flush != input (%zu vs %zu bytes)", out.size(), full.size());
    FUZZ_CHECK(st.n_held == 0, "flush left bytes held");
}

// decode(encode(x)) == x and greedy longest match, against a hash set.
static void check_encode(const WorldTokenizer* tok, const std::unordered_set<std::string>& set, const uint8_t* p,
                         size_t n) {
    std::vector<int32_t> ids;
    world_tokenizer_encode(tok, p, n, &ids);
    std::string back;
    world_tokenizer_decode(tok, ids.data(), ids.size(), &back);
    FUZZ_CHECK(back.size() == n && memcmp(back.data(), p, n) == 0, "decode(encode(x)) != x");
    size_t pos = 0;
    for (int32_t id : ids) {
        FUZZ_CHECK(id >= 0 && id < tok->n_vocab && tok->matchable[(size_t)id], "unmatchable id %d", id);
        FUZZ_CHECK(tok->byte_level || id != 0, "encode produced id 0");
        const size_t len = tok->token_bytes[(size_t)id].size();
        for (size_t l = std::min(tok->max_token_len, n - pos); l > len; l--)
            FUZZ_CHECK(!set.count(std::string((const char*)p + pos, l)),
                       "at byte %zu a token of %zu bytes was skipped for one of %zu", pos, l, len);
        pos += len;
    }
}

static std::unordered_set<std::string> matchable_set(const WorldTokenizer* tok) {
    std::unordered_set<std::string> s;
    for (int32_t i = 0; i < tok->n_vocab; i++)
        if (tok->matchable[(size_t)i]) s.insert(tok->token_bytes[(size_t)i]);
    return s;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const std::string path =
        fuzz_env("RWKV_FUZZ_VOCAB", std::string(RWKV_SHARED_DATA) + "/llamacpp-gguf/v7-L2-D64-s9-llamacpp-f16.gguf");
    GgufFile f;
    try {
        gguf_open(&f, path.c_str());
        const std::vector<std::string_view>& texts = gguf_get_str_array(&f, "tokenizer.ggml.tokens");
        std::vector<int32_t> types;
        if (const GgufKV* kv = gguf_find_kv(&f, "tokenizer.ggml.token_type")) {
            types.resize(kv->array_count);
            memcpy(types.data(), kv->value, types.size() * 4);
        }
        world_tokenizer_init(&g_world, texts, types.empty() ? nullptr : types.data(), types.size(), false);
    } catch (const RwkvError& e) {
        fprintf(stderr, "fuzz_tokenizer: cannot read the world vocabulary (set RWKV_FUZZ_VOCAB): %s\n", e.what());
        exit(2);
    }
    gguf_close(&f);
    g_world_set = matchable_set(&g_world);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const uint8_t mode = data[0] % 4;
    const uint8_t* p = data + 1;
    const size_t n = size - 1;

    if (mode == 0) {
        check_encode(&g_world, g_world_set, p, n);
    } else if (mode == 1) {
        std::vector<int32_t> ids;
        bool in_range = true;
        for (size_t i = 0; i + 1 < n; i += 2) {
            uint32_t v = (uint32_t)p[i] | (uint32_t)p[i + 1] << 8;
            // 0xFFFF and 0xFFFE stand for ids just outside the vocabulary
            int32_t id = v == 0xFFFF ? g_world.n_vocab : v == 0xFFFE ? -1 : (int32_t)v;
            in_range &= id >= 0 && id < g_world.n_vocab;
            ids.push_back(id);
        }
        std::string all;
        try {
            world_tokenizer_decode(&g_world, ids.data(), ids.size(), &all);
            FUZZ_CHECK(in_range, "decode accepted an out-of-range id");
        } catch (const RwkvError&) {
            FUZZ_CHECK(!in_range, "decode failed on valid ids");
            return 0;
        }
        std::vector<std::string> pieces;
        for (int32_t id : ids) pieces.push_back(world_tokenizer_token_bytes(&g_world, id));
        check_stream(pieces);
    } else if (mode == 2) {
        std::vector<std::string> pieces;
        size_t i = 0;
        while (i < n) {
            size_t len = 1 + p[i] % 7;  // the chunk length comes from the data
            len = std::min(len, n - i);
            pieces.emplace_back((const char*)p + i, len);
            i += len;
        }
        check_stream(pieces);
    } else {
        if (n == 0) return 0;
        const uint8_t flags = p[0];
        std::vector<std::string_view> texts;
        const char* s = (const char*)p + 1;
        const char* end = (const char*)p + n;
        while (s < end && texts.size() < 4096) {
            const char* nl = (const char*)memchr(s, '\n', (size_t)(end - s));
            if (!nl) nl = end;
            texts.emplace_back(s, (size_t)(nl - s));
            s = nl + 1;
        }
        // flags: bit 0 byte-level, bit 1 explicit types (normal unless the
        // text starts with '#': control), bit 2 the identity byte vocabulary,
        // bit 3 one type too few
        const bool byte_level = flags & 1;
        std::vector<int32_t> types;
        if (flags & 2)
            for (std::string_view t : texts) types.push_back(!t.empty() && t[0] == '#' ? 3 : 1);
        if ((flags & 8) && !types.empty()) types.pop_back();
        if (flags & 4) texts.clear();
        WorldTokenizer tok;
        try {
            world_tokenizer_init(&tok, texts, types.empty() ? nullptr : types.data(), types.size(), byte_level);
        } catch (const RwkvError&) {
            return 0;
        }
        check_encode(&tok, matchable_set(&tok), p, n);
    }
    return 0;
}
