// test_tokenizer.cpp - the world tokenizer against the reference vocabulary and
// the official trie tokenizer's outputs (../shared/data/tokenizer), plus the
// UTF-8 stream, byte-level mode and vocabulary errors.
//
// The shared data dir comes from the compile definition RWKV_SHARED_DATA (set
// by CMake to ${CMAKE_SOURCE_DIR}/../shared/data), else from the environment
// variable of the same name. Without it the data tests are skipped loudly, or
// fail when CI=true.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "../src/common.h"
#include "../src/gguf.h"
#include "../tokenizer/world.h"

// ---------------------------------------------------------------------------
// Locating the shared data.

static bool is_dir(const std::string& p) {
    struct stat st;
    return !p.empty() && stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

static std::string shared_data_dir() {
#ifdef RWKV_SHARED_DATA
    if (is_dir(RWKV_SHARED_DATA)) return RWKV_SHARED_DATA;
#endif
    const char* env = getenv("RWKV_SHARED_DATA");
    if (env && is_dir(env)) return env;
    return "";
}

static bool running_in_ci() {
    const char* ci = getenv("CI");
    return ci && strcmp(ci, "true") == 0;
}

static std::string missing_data_message() {
    std::string m = "shared reference data not found (tried";
#ifdef RWKV_SHARED_DATA
    m += " RWKV_SHARED_DATA=\"" RWKV_SHARED_DATA "\" from the build,";
#endif
    const char* env = getenv("RWKV_SHARED_DATA");
    m += strprintf(" env RWKV_SHARED_DATA=\"%s\")", env ? env : "");
    return m;
}

// Skip (loudly) or, under CI=true, fail when the data is missing.
#define REQUIRE_SHARED_DATA(dir)                                                          \
    std::string dir = shared_data_dir();                                                  \
    if (dir.empty()) {                                                                    \
        std::string msg_ = missing_data_message();                                        \
        fprintf(stderr, "\n**********\n*** %s\n**********\n", msg_.c_str());              \
        if (running_in_ci()) FAIL() << msg_ << " and CI=true: the data is required";      \
        GTEST_SKIP() << msg_;                                                             \
    }

// ---------------------------------------------------------------------------
// Helpers.

static std::vector<int32_t> encode(const WorldTokenizer* tok, std::string_view s) {
    std::vector<int32_t> ids;
    world_tokenizer_encode(tok, (const uint8_t*)s.data(), s.size(), &ids);
    return ids;
}

static std::string decode(const WorldTokenizer* tok, const std::vector<int32_t>& ids) {
    std::string s;
    world_tokenizer_decode(tok, ids.data(), ids.size(), &s);
    return s;
}

static std::string ids_str(const std::vector<int32_t>& ids, size_t from, size_t count = 12) {
    std::string s = "[";
    for (size_t i = from; i < ids.size() && i < from + count; i++) s += strprintf("%s%d", i > from ? ", " : "", ids[i]);
    if (from + count < ids.size()) s += ", ...";
    return s + "]";
}

// "" if equal, else where and how they differ.
static std::string diff_ids(const std::vector<int32_t>& want, const std::vector<int32_t>& got) {
    size_t i = 0;
    while (i < want.size() && i < got.size() && want[i] == got[i]) i++;
    if (i == want.size() && i == got.size()) return "";
    size_t from = i >= 3 ? i - 3 : 0;
    return strprintf("first difference at id position %zu (of %zu expected, %zu got); from position %zu: expected %s, got %s",
                     i, want.size(), got.size(), from, ids_str(want, from).c_str(), ids_str(got, from).c_str());
}

static std::string hex_of(std::string_view s, size_t max = 64) {
    std::string r;
    for (size_t i = 0; i < s.size() && i < max; i++) r += strprintf("%02x", (unsigned char)s[i]);
    if (s.size() > max) r += "...";
    return r;
}

static bool valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        unsigned char b = (unsigned char)s[i];
        size_t len;
        unsigned lo = 0x80, hi = 0xBF;
        if (b < 0x80) { i++; continue; }
        else if (b >= 0xC2 && b <= 0xDF) len = 2;
        else if (b >= 0xE0 && b <= 0xEF) { len = 3; if (b == 0xE0) lo = 0xA0; if (b == 0xED) hi = 0x9F; }
        else if (b >= 0xF0 && b <= 0xF4) { len = 4; if (b == 0xF0) lo = 0x90; if (b == 0xF4) hi = 0x8F; }
        else return false;
        if (i + len > s.size()) return false;
        for (size_t k = 1; k < len; k++) {
            unsigned char c = (unsigned char)s[i + k];
            unsigned l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
            if (c < l || c > h) return false;
        }
        i += len;
    }
    return true;
}

static void append_utf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) out->push_back((char)cp);
    else if (cp < 0x800) { out->push_back((char)(0xC0 | cp >> 6)); out->push_back((char)(0x80 | (cp & 63))); }
    else if (cp < 0x10000) {
        out->push_back((char)(0xE0 | cp >> 12));
        out->push_back((char)(0x80 | (cp >> 6 & 63)));
        out->push_back((char)(0x80 | (cp & 63)));
    } else {
        out->push_back((char)(0xF0 | cp >> 18));
        out->push_back((char)(0x80 | (cp >> 12 & 63)));
        out->push_back((char)(0x80 | (cp >> 6 & 63)));
        out->push_back((char)(0x80 | (cp & 63)));
    }
}

// Python's repr(bytes)[2:-1] for a byte string (always the '...' form).
static std::string py_bytes_repr_body(std::string_view s) {
    std::string r;
    for (unsigned char c : s) {
        if (c == '\\') r += "\\\\";
        else if (c == '\'') r += "\\'";
        else if (c == '\n') r += "\\n";
        else if (c == '\t') r += "\\t";
        else if (c == '\r') r += "\\r";
        else if (c >= 0x20 && c < 0x7f) r.push_back((char)c);
        else r += strprintf("\\x%02x", c);
    }
    return r;
}

// Expect f() to throw RwkvError whose message contains every one of `needles`.
static void expect_rwkv_error(const std::function<void()>& f, const std::vector<std::string>& needles) {
    try {
        f();
    } catch (const RwkvError& e) {
        std::string msg = e.what();
        for (const std::string& n : needles)
            EXPECT_NE(msg.find(n), std::string::npos) << "error message \"" << msg << "\" does not mention \"" << n << "\"";
        return;
    }
    ADD_FAILURE() << "expected an RwkvError mentioning \"" << (needles.empty() ? "" : needles[0]) << "\"";
}

// ---------------------------------------------------------------------------
// A Python literal parser for rwkv_vocab_v20230424.txt: LITERAL is a str
// literal ('...' or "...", its UTF-8 encoding is the token) or a bytes literal
// (b'...' / b"...", the raw bytes). Returns false on anything unexpected.

static int hexv(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool parse_py_literal(std::string_view lit, std::string* out) {
    bool is_bytes = false;
    if (!lit.empty() && lit[0] == 'b') { is_bytes = true; lit.remove_prefix(1); }
    if (lit.size() < 2 || (lit[0] != '\'' && lit[0] != '"') || lit.back() != lit[0]) return false;
    const char q = lit[0];
    std::string_view body = lit.substr(1, lit.size() - 2);
    for (size_t i = 0; i < body.size();) {
        char c = body[i];
        if (c == q) return false;  // an unescaped quote inside
        if (c != '\\') {
            if (is_bytes && (unsigned char)c >= 0x80) return false;
            out->push_back(c);  // the file is UTF-8: raw text passes through
            i++;
            continue;
        }
        if (i + 1 >= body.size()) return false;
        char e = body[i + 1];
        i += 2;
        auto hexn = [&](size_t n, uint32_t* v) {
            if (i + n > body.size()) return false;
            *v = 0;
            for (size_t k = 0; k < n; k++) {
                int h = hexv(body[i + k]);
                if (h < 0) return false;
                *v = *v * 16 + (uint32_t)h;
            }
            i += n;
            return true;
        };
        uint32_t v;
        switch (e) {
            case '\\': out->push_back('\\'); break;
            case '\'': out->push_back('\''); break;
            case '"': out->push_back('"'); break;
            case 'n': out->push_back('\n'); break;
            case 'r': out->push_back('\r'); break;
            case 't': out->push_back('\t'); break;
            case 'a': out->push_back('\a'); break;
            case 'b': out->push_back('\b'); break;
            case 'f': out->push_back('\f'); break;
            case 'v': out->push_back('\v'); break;
            case 'x':
                if (!hexn(2, &v)) return false;
                if (is_bytes) out->push_back((char)v);
                else append_utf8(out, v);  // in a str, \xHH is the code point U+00HH
                break;
            case 'u':
            case 'U':
                if (is_bytes) { out->push_back('\\'); out->push_back(e); break; }  // not an escape in bytes
                if (!hexn(e == 'u' ? 4 : 8, &v) || v > 0x10FFFF) return false;
                append_utf8(out, v);
                break;
            default:
                if (e >= '0' && e <= '7') {  // octal, up to 3 digits
                    v = (uint32_t)(e - '0');
                    for (int k = 0; k < 2 && i < body.size() && body[i] >= '0' && body[i] <= '7'; k++) v = v * 8 + (uint32_t)(body[i++] - '0');
                    if (is_bytes) out->push_back((char)v);
                    else append_utf8(out, v);
                } else {
                    return false;  // \N{...} or an unknown escape: not expected in this file
                }
        }
    }
    return true;
}

struct VocabLine {
    int32_t id;
    std::string bytes;
    size_t declared_len;
};

// ---------------------------------------------------------------------------
// cases.jsonl: {"name": "...", "hex": "...", "ids": [1, 2, 3]} one per line.

struct TokCase {
    std::string name;
    std::string bytes;
    std::vector<int32_t> ids;
};

// False if the line is not such an object (bad JSON, a missing field, an odd or non-hex "hex").
static bool parse_case_line(const std::string& line, TokCase* c) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("name") || !j["name"].is_string() || !j.contains("hex") || !j["hex"].is_string() ||
        !j.contains("ids") || !j["ids"].is_array())
        return false;
    c->name = j["name"].get<std::string>();
    const std::string hex = j["hex"].get<std::string>();
    if (hex.size() % 2) return false;
    for (size_t i = 0; i < hex.size(); i += 2) {
        int hi = hexv(hex[i]), lo = hexv(hex[i + 1]);
        if (hi < 0 || lo < 0) return false;
        c->bytes.push_back((char)(hi * 16 + lo));
    }
    for (const nlohmann::json& id : j["ids"]) {
        if (!id.is_number_integer()) return false;
        c->ids.push_back(id.get<int32_t>());
    }
    return true;
}

// ---------------------------------------------------------------------------
// The shared fixture: the GGUF's vocabulary, loaded once.

struct WorldFixture {
    bool loaded = false;
    std::string error;
    GgufFile gguf;
    std::vector<std::string_view> texts;
    std::vector<int32_t> types;
    WorldTokenizer tok;
    std::vector<TokCase> cases;
};

static const WorldFixture& world_fixture(const std::string& dir) {
    static WorldFixture fx;
    static bool tried = false;
    if (tried) return fx;
    tried = true;
    try {
        std::string path = dir + "/llamacpp-gguf/v7-L2-D64-s9-llamacpp-f16.gguf";
        gguf_open(&fx.gguf, path.c_str());
        fx.texts = gguf_get_str_array(&fx.gguf, "tokenizer.ggml.tokens");
        const GgufKV* tt = gguf_find_kv(&fx.gguf, "tokenizer.ggml.token_type");
        if (!tt || tt->type != GGUF_ARRAY || tt->array_type != GGUF_INT32 || tt->array_count != fx.texts.size()) {
            fx.error = "tokenizer.ggml.token_type is missing or not an int32 array of one entry per token";
            return fx;
        }
        fx.types.resize(tt->array_count);
        memcpy(fx.types.data(), tt->value, tt->array_count * 4);  // little-endian host assumed
        world_tokenizer_init(&fx.tok, fx.texts, fx.types.data(), fx.types.size(), false);

        std::ifstream in(dir + "/tokenizer/cases.jsonl");
        if (!in) { fx.error = "cannot open cases.jsonl"; return fx; }
        std::string line;
        int lineno = 0;
        while (std::getline(in, line)) {
            lineno++;
            if (line.empty()) continue;
            TokCase c;
            if (!parse_case_line(line, &c)) { fx.error = strprintf("cases.jsonl line %d does not parse", lineno); return fx; }
            fx.cases.push_back(std::move(c));
        }
        fx.loaded = true;
    } catch (const RwkvError& e) {
        fx.error = e.what();
    }
    return fx;
}

#define LOAD_WORLD(fx)                                                \
    REQUIRE_SHARED_DATA(dir_);                                        \
    const WorldFixture& fx = world_fixture(dir_);                     \
    ASSERT_TRUE(fx.loaded) << "loading the fixture failed: " << fx.error; \
    const WorldTokenizer* tok = &fx.tok;                              \
    (void)tok;

// ---------------------------------------------------------------------------
// Vocabulary.

TEST(WorldVocab, GgufShape) {
    LOAD_WORLD(fx);
    ASSERT_EQ(tok->n_vocab, 65536);
    EXPECT_FALSE(tok->byte_level);
    EXPECT_EQ(fx.texts[0], "<s>");
    EXPECT_EQ(fx.types[0], 3);
    EXPECT_FALSE(tok->matchable[0]);
    EXPECT_EQ(world_tokenizer_token_bytes(tok, 0), "");  // end-of-text prints nothing
    for (int32_t id = 1; id <= 65529; id++) ASSERT_TRUE(tok->matchable[id]) << "token " << id;
    for (int32_t id = 65530; id < 65536; id++) {
        EXPECT_FALSE(tok->matchable[id]) << "padding token " << id;
        EXPECT_EQ(world_tokenizer_token_bytes(tok, id), "") << "padding token " << id;
        EXPECT_EQ(fx.texts[id], "[PAD" + std::to_string(id) + "]");
    }
    EXPECT_EQ(tok->max_token_len, 128u);
}

// Every token's bytes, unescaped from the GGUF, equal the official vocabulary
// file's (parsed independently from its Python literals), and its length.
TEST(WorldVocab, UnescapingMatchesVocabFile) {
    LOAD_WORLD(fx);
    std::ifstream in(dir_ + "/tokenizer/rwkv_vocab_v20230424.txt", std::ios::binary);
    ASSERT_TRUE(in) << "cannot open rwkv_vocab_v20230424.txt";
    std::string line;
    int32_t expect_id = 1;
    int n_bytes_literals = 0;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
        ASSERT_TRUE(sp1 != std::string::npos && sp2 > sp1) << "bad line: " << line;
        VocabLine v;
        v.id = (int32_t)atol(line.substr(0, sp1).c_str());
        v.declared_len = (size_t)atol(line.substr(sp2 + 1).c_str());
        std::string lit = line.substr(sp1 + 1, sp2 - sp1 - 1);
        if (lit[0] == 'b') n_bytes_literals++;
        ASSERT_TRUE(parse_py_literal(lit, &v.bytes)) << "vocab line for id " << v.id << " does not parse: " << lit;
        ASSERT_EQ(v.id, expect_id) << "ids in the vocabulary file are not consecutive";
        expect_id++;
        ASSERT_EQ(v.bytes.size(), v.declared_len) << "vocab file id " << v.id << ": literal " << lit;
        ASSERT_LT(v.id, tok->n_vocab);
        const std::string& got = world_tokenizer_token_bytes(tok, v.id);
        ASSERT_EQ(hex_of(got, 1000), hex_of(v.bytes, 1000))
            << "token " << v.id << ": GGUF text \"" << fx.texts[v.id] << "\" vs vocab file " << lit;
    }
    EXPECT_EQ(expect_id, 65530);  // ids 1..65529
    EXPECT_GT(n_bytes_literals, 100);
}

// Without token types, "<s>" and the [PADn] entries are recognised by text.
TEST(WorldVocab, NoTypesSameResult) {
    LOAD_WORLD(fx);
    WorldTokenizer t2;
    world_tokenizer_init(&t2, fx.texts, nullptr, 0, false);
    ASSERT_EQ(t2.n_vocab, tok->n_vocab);
    EXPECT_TRUE(t2.matchable == tok->matchable);
    EXPECT_TRUE(t2.token_bytes == tok->token_bytes);
    EXPECT_EQ(t2.nodes.size(), tok->nodes.size());
}

TEST(WorldVocab, UnescapeForms) {
    struct { const char* text; std::string bytes; } ok[] = {
        {"abc", "abc"},
        {"\\n\\t\\r", "\n\t\r"},
        {"\\\\", "\\"},
        {"\\'", "'"},
        {"\\\"", "\""},
        {"\"\\'", "\"'"},
        {"\\x00\\xff\\xE4", std::string("\0\xff\xe4", 3)},
        {"a\\x41b", "aAb"},
    };
    for (const auto& c : ok) {
        std::string out;
        size_t off = 99;
        EXPECT_TRUE(world_unescape_token(c.text, &out, &off)) << c.text;
        EXPECT_EQ(out, c.bytes) << c.text;
    }
    struct { const char* text; size_t off; } bad[] = {
        {"\\x4", 0}, {"ab\\x4g", 2}, {"\\", 0}, {"a\\q", 1}, {"\\x", 0}, {"\\u0041", 0},
    };
    for (const auto& c : bad) {
        std::string out;
        size_t off = 99;
        EXPECT_FALSE(world_unescape_token(c.text, &out, &off)) << c.text;
        EXPECT_EQ(off, c.off) << c.text;
    }
}

// ---------------------------------------------------------------------------
// Encoding against the official trie tokenizer.

TEST(WorldEncode, Cases) {
    LOAD_WORLD(fx);
    ASSERT_EQ(fx.cases.size(), 103u);
    for (const TokCase& c : fx.cases) {
        std::vector<int32_t> got = encode(tok, c.bytes);
        std::string d = diff_ids(c.ids, got);
        EXPECT_EQ(d, "") << "case '" << c.name << "' (" << c.bytes.size() << " bytes, hex " << hex_of(c.bytes) << "): " << d;
        std::string back = decode(tok, c.ids);
        EXPECT_TRUE(back == c.bytes) << "case '" << c.name << "': decode(ids) gives hex " << hex_of(back)
                                     << ", expected " << hex_of(c.bytes);
    }
}

TEST(WorldEncode, AppendsToOutput) {
    LOAD_WORLD(fx);
    std::vector<int32_t> ids = {7};
    world_tokenizer_encode(tok, (const uint8_t*)"Hello world", 11, &ids);
    EXPECT_EQ(ids, (std::vector<int32_t>{7, 33155, 40213}));
    std::string s = ">";
    world_tokenizer_decode(tok, ids.data() + 1, 2, &s);
    EXPECT_EQ(s, ">Hello world");
    std::vector<int32_t> none;
    world_tokenizer_encode(tok, nullptr, 0, &none);
    EXPECT_TRUE(none.empty());
}

TEST(WorldEncode, DecodeRejectsOutOfRangeIds) {
    LOAD_WORLD(fx);
    std::string s;
    int32_t bad[] = {65, 65536};
    expect_rwkv_error([&] { world_tokenizer_decode(tok, bad, 2, &s); }, {"65536"});
    expect_rwkv_error([&] { world_tokenizer_token_bytes(tok, -1); }, {"-1"});
}

// A slow, obviously-correct greedy longest match to compare the trie with.
static std::vector<int32_t> reference_encode(const std::unordered_map<std::string_view, int32_t>& map, size_t max_len,
                                             std::string_view s) {
    std::vector<int32_t> ids;
    size_t pos = 0;
    while (pos < s.size()) {
        size_t len = std::min(max_len, s.size() - pos);
        for (; len > 0; len--) {
            auto it = map.find(s.substr(pos, len));
            if (it != map.end()) { ids.push_back(it->second); break; }
        }
        if (len == 0) { ids.push_back(-1); len = 1; }  // cannot happen with a full byte vocabulary
        pos += len;
    }
    return ids;
}

// Random byte strings (fixed seed): invalid UTF-8, NUL bytes, valid
// multibyte characters, and concatenated vocabulary tokens (to exercise long
// matches and walks that overshoot them). decode(encode(x)) == x and the
// trie agrees with the brute-force reference.
TEST(WorldEncode, RandomRoundTrip) {
    LOAD_WORLD(fx);
    std::unordered_map<std::string_view, int32_t> map;
    for (int32_t id = 0; id < tok->n_vocab; id++)
        if (tok->matchable[id]) map.emplace(tok->token_bytes[id], id);

    std::mt19937 rng(12345);
    auto uni = [&](uint32_t n) { return (uint32_t)(rng() % n); };
    for (int iter = 0; iter < 1500; iter++) {
        std::string x;
        const uint32_t pieces = uni(40);
        for (uint32_t p = 0; p < pieces; p++) {
            switch (uni(8)) {
                case 0: x.push_back((char)uni(256)); break;                                 // any byte
                case 1: x.append(1 + uni(3), '\0'); break;                                  // NULs
                case 2: x.push_back((char)(0x80 + uni(128))); break;                        // stray high byte
                case 3: append_utf8(&x, 0x80 + uni(0x10FFFF - 0x80)); break;               // any code point (surrogates too)
                case 4: append_utf8(&x, 0x4E00 + uni(0x5000)); break;                      // CJK
                case 5: x.append(uni(12), ' '); break;                                      // space runs
                default: {                                                                  // a vocabulary token
                    int32_t id = 1 + (int32_t)uni(65529);
                    const std::string& t = tok->token_bytes[id];
                    // sometimes only a prefix of it, so the trie walk overshoots
                    x.append(uni(3) == 0 ? t.substr(0, uni((uint32_t)t.size()) + 1) : t);
                }
            }
        }
        std::vector<int32_t> ids = encode(tok, x);
        for (int32_t id : ids) {
            ASSERT_TRUE(id > 0 && id < tok->n_vocab && tok->matchable[id]) << "iteration " << iter << ": id " << id;
        }
        std::string back = decode(tok, ids);
        ASSERT_TRUE(back == x) << "iteration " << iter << ": round trip of hex " << hex_of(x) << " gave " << hex_of(back);
        std::vector<int32_t> want = reference_encode(map, tok->max_token_len, x);
        std::string d = diff_ids(want, ids);
        ASSERT_EQ(d, "") << "iteration " << iter << " (hex " << hex_of(x) << "): " << d;
    }
}

// ---------------------------------------------------------------------------
// Utf8Stream.

static std::string push(Utf8Stream* s, std::string_view b) {
    std::string out;
    utf8_stream_push(s, b.data(), b.size(), &out);
    return out;
}

TEST(Utf8StreamTest, CasesTokenByToken) {
    LOAD_WORLD(fx);
    int n_valid = 0, n_held_back = 0;
    for (const TokCase& c : fx.cases) {
        Utf8Stream s;
        std::string all;
        const bool input_valid = valid_utf8(c.bytes);
        n_valid += input_valid;
        for (size_t i = 0; i < c.ids.size(); i++) {
            const std::string& tb = world_tokenizer_token_bytes(tok, c.ids[i]);
            std::string chunk = push(&s, tb);
            if (chunk != tb) n_held_back++;
            if (input_valid) {
                ASSERT_TRUE(valid_utf8(chunk)) << "case '" << c.name << "': push of token " << i << " (id " << c.ids[i]
                                               << ") returned hex " << hex_of(chunk) << ", not whole characters";
            }
            all += chunk;
        }
        std::string tail;
        utf8_stream_flush(&s, &tail);
        if (input_valid) {
            EXPECT_EQ(tail, "") << "case '" << c.name << "': valid input left bytes held";
        }
        all += tail;
        EXPECT_TRUE(all == c.bytes) << "case '" << c.name << "': stream gave hex " << hex_of(all) << ", expected "
                                    << hex_of(c.bytes);
    }
    EXPECT_GT(n_valid, 50);
    EXPECT_GT(n_held_back, 0);  // some case splits a character across tokens
}

TEST(Utf8StreamTest, EmojiByteByByte) {
    const std::string emoji = "\xF0\x9F\x98\x80";  // U+1F600
    Utf8Stream s;
    EXPECT_EQ(push(&s, "a"), "a");
    EXPECT_EQ(push(&s, emoji.substr(0, 1)), "");
    EXPECT_EQ(push(&s, emoji.substr(1, 1)), "");
    EXPECT_EQ(push(&s, emoji.substr(2, 1)), "");
    EXPECT_EQ(push(&s, emoji.substr(3, 1)), emoji);
    EXPECT_EQ(push(&s, emoji.substr(0, 2)), "");
    EXPECT_EQ(push(&s, emoji.substr(2, 2) + "b" + emoji.substr(0, 3)), emoji + "b");
    std::string tail;
    utf8_stream_flush(&s, &tail);
    EXPECT_EQ(tail, emoji.substr(0, 3));  // flush gives back the truncated tail
    tail.clear();
    utf8_stream_flush(&s, &tail);
    EXPECT_EQ(tail, "");
}

TEST(Utf8StreamTest, InvalidBytesPassThroughImmediately) {
    Utf8Stream s;
    EXPECT_EQ(push(&s, "\xff"), "\xff");                   // never valid
    EXPECT_EQ(push(&s, "\x80"), "\x80");                   // stray continuation
    EXPECT_EQ(push(&s, "\xc0"), "\xc0");                   // overlong lead
    EXPECT_EQ(push(&s, "\xaf"), "\xaf");
    EXPECT_EQ(push(&s, "\xe4"), "");                       // could still complete
    EXPECT_EQ(push(&s, "A"), "\xe4" "A");                  // it did not: out as it is, then A
    // Known invalid at the second byte: out at once, not after the third.
    EXPECT_EQ(push(&s, "\xed"), "");
    EXPECT_EQ(push(&s, "\xa0"), "\xed\xa0");               // surrogate U+D800..
    EXPECT_EQ(push(&s, "\x80"), "\x80");
    EXPECT_EQ(push(&s, "\xf4"), "");
    EXPECT_EQ(push(&s, "\x90"), "\xf4\x90");               // above U+10FFFF
    EXPECT_EQ(push(&s, "\xe0"), "");
    EXPECT_EQ(push(&s, "\x9f"), "\xe0\x9f");               // overlong 3-byte
    EXPECT_EQ(push(&s, "\xf0\x8f"), "\xf0\x8f");           // overlong 4-byte
    EXPECT_EQ(push(&s, "\xed\x9f\xbf"), "\xed\x9f\xbf");   // U+D7FF is fine
    EXPECT_EQ(push(&s, "\xf4\x8f\xbf"), "");               // U+10FFFF is fine...
    EXPECT_EQ(push(&s, "\xbf"), "\xf4\x8f\xbf\xbf");        // ...once complete
    EXPECT_EQ(push(&s, "\xe4\xb8"), "");
    EXPECT_EQ(push(&s, "\xe4"), "\xe4\xb8");               // new lead after an incomplete one
    EXPECT_EQ(push(&s, "\xb8\xad"), "\xe4\xb8\xad");       // U+4E2D completes
    EXPECT_EQ(push(&s, std::string("\0x\0", 3)), std::string("\0x\0", 3));
    std::string tail;
    utf8_stream_flush(&s, &tail);
    EXPECT_EQ(tail, "");
}

// Any byte string cut at random points comes out whole; valid UTF-8 comes
// out in whole characters.
TEST(Utf8StreamTest, RandomSplits) {
    std::mt19937 rng(777);
    for (int iter = 0; iter < 3000; iter++) {
        std::string x;
        const bool valid_only = iter % 2 == 0;
        const int n = (int)(rng() % 30);
        for (int k = 0; k < n; k++) {
            if (valid_only) {
                uint32_t cp;
                do cp = rng() % 0x110000; while (cp >= 0xD800 && cp <= 0xDFFF);
                append_utf8(&x, rng() % 3 == 0 ? cp % 128 : cp);
            } else if (rng() % 2) {
                x.push_back((char)(rng() % 256));
            } else {
                append_utf8(&x, rng() % 0x110000);
            }
        }
        Utf8Stream s;
        std::string all;
        size_t i = 0;
        while (i < x.size()) {
            size_t len = std::min(x.size() - i, (size_t)(rng() % 5));
            std::string chunk = push(&s, std::string_view(x).substr(i, len));
            if (valid_only) {
                ASSERT_TRUE(valid_utf8(chunk)) << "hex " << hex_of(x) << ": chunk " << hex_of(chunk);
            }
            all += chunk;
            i += len;
        }
        utf8_stream_flush(&s, &all);
        ASSERT_TRUE(all == x) << "hex " << hex_of(x) << " came out as " << hex_of(all);
    }
}

// ---------------------------------------------------------------------------
// Byte-level mode.

static std::vector<std::string> byte_vocab_texts() {
    std::vector<std::string> texts;
    for (int b = 0; b < 256; b++) texts.push_back(py_bytes_repr_body(std::string(1, (char)b)));
    return texts;
}

static std::vector<std::string_view> views(const std::vector<std::string>& v) {
    return std::vector<std::string_view>(v.begin(), v.end());
}

TEST(ByteLevel, IdsAreByteValues) {
    std::vector<std::string> texts = byte_vocab_texts();
    EXPECT_EQ(texts[0], "\\x00");
    EXPECT_EQ(texts['\''], "\\'");
    WorldTokenizer bt, it;
    world_tokenizer_init(&bt, views(texts), nullptr, 0, true);
    world_tokenizer_init(&it, {}, nullptr, 0, true);  // identity vocabulary without texts
    EXPECT_EQ(bt.n_vocab, 256);
    std::string all;
    for (int b = 0; b < 256; b++) all.push_back((char)b);
    all += std::string("\0\0ab\0", 5) + "\xe4\xb8\xad";
    for (const WorldTokenizer* t : {&bt, &it}) {
        EXPECT_TRUE(t->byte_level);
        std::vector<int32_t> ids = encode(t, all);
        ASSERT_EQ(ids.size(), all.size());
        for (size_t i = 0; i < all.size(); i++) ASSERT_EQ(ids[i], (int32_t)(unsigned char)all[i]) << "position " << i;
        EXPECT_TRUE(decode(t, ids) == all);
        EXPECT_EQ(world_tokenizer_token_bytes(t, 0), std::string(1, '\0'));
    }
    // Types are ignored in byte-level mode: id 0 stays the byte 0 even if marked control.
    std::vector<int32_t> types(256, 1);
    types[0] = 3;
    WorldTokenizer tt;
    world_tokenizer_init(&tt, views(texts), types.data(), types.size(), true);
    EXPECT_EQ(encode(&tt, std::string(1, '\0')), std::vector<int32_t>{0});
}

TEST(ByteLevel, WrongVocabularyFails) {
    std::vector<std::string> texts = byte_vocab_texts();
    std::swap(texts[65], texts[66]);
    expect_rwkv_error([&] { WorldTokenizer t; world_tokenizer_init(&t, views(texts), nullptr, 0, true); }, {"token 65"});
    texts = byte_vocab_texts();
    texts.push_back("ab");
    expect_rwkv_error([&] { WorldTokenizer t; world_tokenizer_init(&t, views(texts), nullptr, 0, true); }, {"257"});
}

// ---------------------------------------------------------------------------
// Bad vocabularies: a small world-style vocabulary ("<s>", the 256 bytes at
// ids 1..256, then extra tokens) with one defect each.

static std::vector<std::string> small_world_texts(std::vector<std::string> extra) {
    std::vector<std::string> texts = {"<s>"};
    for (int b = 0; b < 256; b++) texts.push_back(py_bytes_repr_body(std::string(1, (char)b)));
    for (std::string& e : extra) texts.push_back(std::move(e));
    return texts;
}

static void init_small(WorldTokenizer* t, const std::vector<std::string>& texts, const std::vector<int32_t>& types = {}) {
    world_tokenizer_init(t, views(texts), types.empty() ? nullptr : types.data(), types.size(), false);
}

TEST(BadVocab, Errors) {
    // A malformed escape names the token id.
    for (const char* bad : {"\\x4", "ab\\x4g", "ab\\", "\\q", "\\u00e4"}) {
        std::vector<std::string> texts = small_world_texts({"hello", bad});
        expect_rwkv_error([&] { WorldTokenizer t; init_small(&t, texts); }, {"token 258", "malformed escape"});
    }
    // Duplicates name both ids (here the duplicate of a single byte).
    expect_rwkv_error([&] { WorldTokenizer t; init_small(&t, small_world_texts({"ab", "xy", "ab"})); }, {"257", "259"});
    expect_rwkv_error([&] { WorldTokenizer t; init_small(&t, small_world_texts({"ab", "a\\x62"})); }, {"257", "258"});
    // Empty normal token.
    expect_rwkv_error([&] { WorldTokenizer t; init_small(&t, small_world_texts({"ab", ""})); }, {"token 258", "empty"});
    // Types array of the wrong size.
    expect_rwkv_error([&] { WorldTokenizer t; init_small(&t, small_world_texts({}), std::vector<int32_t>(10, 1)); }, {"10"});
    // A byte that no token covers.
    {
        std::vector<std::string> texts = small_world_texts({});
        texts[1 + 0x41] = "[PAD66]";
        expect_rwkv_error([&] { WorldTokenizer t; init_small(&t, texts); }, {"0x41"});
    }
}

TEST(BadVocab, NonNormalTokensNeverMatch) {
    std::vector<std::string> texts = small_world_texts({"ab", "abc", "[PAD259]", "[PAD260]"});
    std::vector<int32_t> types(texts.size(), 1);
    types[0] = 3;
    types[258] = 3;  // "abc" as a control token
    types[259] = types[260] = 5;
    WorldTokenizer t;
    init_small(&t, texts, types);
    // "abc" is not matchable: "ab" + "c"; "[PAD259]" is matched byte by byte.
    EXPECT_EQ(encode(&t, "abc"), (std::vector<int32_t>{257, 1 + 'c'}));
    std::vector<int32_t> ids = encode(&t, "[PAD259]");
    EXPECT_EQ(ids.size(), 8u);
    EXPECT_EQ(world_tokenizer_token_bytes(&t, 258), "");
    // Without types: only "<s>" and the [PADn] texts are excluded.
    WorldTokenizer u;
    init_small(&u, texts);
    EXPECT_EQ(encode(&u, "abcab"), (std::vector<int32_t>{258, 257}));
    EXPECT_EQ(encode(&u, "[PAD259]").size(), 8u);
    EXPECT_EQ(encode(&u, "<s>").size(), 3u);
    // Reinitialising a tokenizer replaces it fully.
    init_small(&u, small_world_texts({}));
    EXPECT_EQ(u.n_vocab, 257);
    EXPECT_EQ(encode(&u, "ab").size(), 2u);
}
