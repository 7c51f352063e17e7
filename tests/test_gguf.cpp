// test_gguf.cpp - the GGUF reader: a real file parses; every kind of broken
// file fails with an RwkvError naming the problem, never a crash.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "../src/common.h"
#include "../src/gguf.h"
#include "test_data.h"

namespace {

// A tiny GGUF builder, to make exactly the broken files we want.
struct Builder {
    std::vector<uint8_t> b;
    void u32(uint32_t v) { b.insert(b.end(), (uint8_t*)&v, (uint8_t*)&v + 4); }
    void u64(uint64_t v) { b.insert(b.end(), (uint8_t*)&v, (uint8_t*)&v + 8); }
    void str(const std::string& s) {
        u64(s.size());
        b.insert(b.end(), s.begin(), s.end());
    }
    void header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
        b.insert(b.end(), {'G', 'G', 'U', 'F'});
        u32(version);
        u64(n_tensors);
        u64(n_kv);
    }
    void kv_str(const std::string& k, const std::string& v) { str(k); u32(GGUF_STRING); str(v); }
    void kv_u32(const std::string& k, uint32_t v) { str(k); u32(GGUF_UINT32); u32(v); }
    void tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
        str(name);
        u32((uint32_t)ne.size());
        for (uint64_t n : ne) u64(n);
        u32(type);
        u64(offset);
    }
    void pad(size_t align = 32) { while (b.size() % align) b.push_back(0); }
    void data(size_t n) { b.resize(b.size() + n, 0); }
};

std::string write_tmp(const std::vector<uint8_t>& bytes, const char* name) {
    std::string path = ::testing::TempDir() + "rwkv_gguf_" + name + "_" + std::to_string(getpid()) + ".gguf";
    std::ofstream(path, std::ios::binary).write((const char*)bytes.data(), (std::streamsize)bytes.size());
    return path;
}

const GgufLoadMode kModes[] = {GGUF_MAP, GGUF_COPY};
const char* mode_name(GgufLoadMode m) { return m == GGUF_MAP ? "map" : "copy"; }

// Opening must fail, mapped or copied, and the message must contain `needle`.
void expect_fail(const std::vector<uint8_t>& bytes, const char* name, const char* needle) {
    std::string path = write_tmp(bytes, name);
    for (GgufLoadMode mode : kModes) {
        GgufFile f;
        try {
            gguf_open(&f, path.c_str(), mode);
            ADD_FAILURE() << name << " (" << mode_name(mode) << "): opened without error";
            gguf_close(&f);
        } catch (const RwkvError& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
                << name << " (" << mode_name(mode) << "): message '" << e.what() << "' does not mention '" << needle
                << "'";
            EXPECT_NE(std::string(e.what()).find(path), std::string::npos)
                << name << ": message does not name the file";
        }
    }
    unlink(path.c_str());
}

// Whether any mapping of this process is of `path` (/proc/self/maps names them).
bool file_is_mapped(const std::string& path_in) {
    char resolved[PATH_MAX];
    const std::string path = realpath(path_in.c_str(), resolved) ? resolved : path_in;
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line))
        if (line.size() >= path.size() && line.compare(line.size() - path.size(), path.size(), path) == 0) return true;
    return false;
}

Builder valid_file() {
    Builder g;
    g.header(2, 2);
    g.kv_str("general.architecture", "test");
    g.kv_u32("general.alignment", 32);
    g.tensor("a", {4, 2}, GGML_TYPE_F32, 0);
    g.tensor("b", {64}, GGML_TYPE_F16, 32);
    g.pad();
    g.data(32 + 128);
    return g;
}

}  // namespace

TEST(Gguf, ParsesBuiltFile) {
    Builder g = valid_file();
    std::string path = write_tmp(g.b, "valid");
    for (GgufLoadMode mode : kModes) {
        SCOPED_TRACE(mode_name(mode));
        GgufFile f;
        gguf_open(&f, path.c_str(), mode);
        EXPECT_EQ(f.version, 3u);
        ASSERT_EQ(f.tensors.size(), 2u);
        EXPECT_EQ(gguf_get_str(&f, "general.architecture"), "test");
        EXPECT_EQ(gguf_get_u64(&f, "general.alignment"), 32u);
        const GgufTensor* b = gguf_find_tensor(&f, "b");
        ASSERT_NE(b, nullptr);
        EXPECT_EQ(b->nbytes, 128u);
        EXPECT_EQ((const uint8_t*)b->data - f.map, (ptrdiff_t)(f.data_offset + 32));
        EXPECT_THROW(gguf_get_u64(&f, "general.architecture"), RwkvError);
        EXPECT_THROW(gguf_get_str(&f, "missing.key"), RwkvError);
        gguf_close(&f);
    }
    unlink(path.c_str());
}

// GGUF_COPY holds the same bytes as the mapping, in its own 2 MiB-aligned
// memory (so transparent huge pages can back it), with no page of the file
// mapped: resident memory is one copy of the file, not two.
TEST(Gguf, CopyHoldsTheFileBytesInItsOwnMemory) {
    const std::string path = shared_data_dir() + "/llamacpp-gguf/v7-L2-D64-s9-llamacpp-f16.gguf";
    REQUIRE_FILE(path);
    GgufFile m, c;
    gguf_open(&m, path.c_str(), GGUF_MAP);
    EXPECT_TRUE(file_is_mapped(path)) << "the check below could not see a mapping of " << path;
    gguf_open(&c, path.c_str(), GGUF_COPY);
    ASSERT_EQ(c.size, m.size);
    EXPECT_EQ(memcmp(c.map, m.map, m.size), 0) << "the copy differs from the file";
    EXPECT_EQ((uintptr_t)c.copy.data % (2u << 20), 0u) << "the copy's memory does not start on a 2 MiB boundary";
    EXPECT_LT(c.map - c.copy.data, 64) << "the copy starts further into its memory than a cache line needs";
    EXPECT_EQ((uintptr_t)(c.map + c.data_offset) % 64, 0u) << "the copy's data section is not on a cache line";
    EXPECT_EQ(c.data_offset, m.data_offset);
    ASSERT_EQ(c.tensors.size(), m.tensors.size());
    for (size_t i = 0; i < m.tensors.size(); i++) {
        EXPECT_EQ(c.tensors[i].name, m.tensors[i].name);
        EXPECT_EQ((const uint8_t*)c.tensors[i].data - c.map, (const uint8_t*)m.tensors[i].data - m.map)
            << c.tensors[i].name;
    }
    gguf_close(&m);
    EXPECT_FALSE(file_is_mapped(path)) << "GGUF_COPY left " << path << " mapped";
    gguf_close(&c);
}

TEST(Gguf, RejectsBrokenFiles) {
    {
        Builder g = valid_file();
        g.b[0] = 'X';
        expect_fail(g.b, "magic", "bad magic");
    }
    for (uint32_t v : {1u, 4u, 0xffffffffu}) {
        Builder g;
        g.header(0, 0, v);
        expect_fail(g.b, "version", "unsupported GGUF version");
    }
    {
        Builder g;
        g.header(1ull << 60, 0);
        expect_fail(g.b, "huge_tensor_count", "cannot fit");
    }
    {
        Builder g;
        g.header(0, 1);
        g.str("k");
        g.u32(GGUF_STRING);
        g.u64(1ull << 62);  // string length far past the end
        expect_fail(g.b, "huge_string", "truncated");
    }
    {
        Builder g;
        g.header(0, 1);
        g.str("k");
        g.u32(GGUF_ARRAY);
        g.u32(GGUF_STRING);
        g.u64(1ull << 40);
        expect_fail(g.b, "huge_array", "more than the file can hold");
    }
    {
        Builder g;
        g.header(0, 1);
        g.str("k");
        g.u32(77);
        expect_fail(g.b, "bad_kv_type", "unknown type");
    }
    {
        Builder g;
        g.header(0, 2);
        g.kv_u32("k", 1);
        g.kv_u32("k", 2);
        expect_fail(g.b, "dup_key", "duplicate metadata key");
    }
    {
        Builder g;
        g.header(1, 0);
        g.tensor("t", {4}, 99, 0);
        g.pad();
        g.data(32);
        expect_fail(g.b, "bad_type", "unknown type 99");
    }
    {
        Builder g;
        g.header(1, 0);
        g.tensor("t", {0, 4}, GGML_TYPE_F32, 0);
        expect_fail(g.b, "zero_dim", "invalid size");
    }
    {
        Builder g;  // element count overflows 64 bits
        g.header(1, 0);
        g.tensor("t", {1ull << 32, 1ull << 32, 1ull << 32}, GGML_TYPE_F32, 0);
        expect_fail(g.b, "overflow_dims", "invalid size");
    }
    {
        Builder g;
        g.header(1, 0);
        g.tensor("t", {5, 1, 1, 1, 1}, GGML_TYPE_F32, 0);
        expect_fail(g.b, "five_dims", "dimensions");
    }
    {
        Builder g;  // Q8_0 rows must be multiples of 32 elements
        g.header(1, 0);
        g.tensor("t", {33}, GGML_TYPE_Q8_0, 0);
        expect_fail(g.b, "bad_block", "does not fit");
    }
    {
        Builder g;
        g.header(1, 0);
        g.tensor("t", {4}, GGML_TYPE_F32, 8);
        g.pad();
        g.data(64);
        expect_fail(g.b, "misaligned", "not aligned");
    }
    {
        Builder g;
        g.header(1, 0);
        g.tensor("t", {64}, GGML_TYPE_F32, 0);
        g.pad();
        g.data(100);  // needs 256
        expect_fail(g.b, "data_past_end", "ends past the end");
    }
    {
        Builder g;
        g.header(2, 0);
        g.tensor("t", {16}, GGML_TYPE_F32, 0);
        g.tensor("u", {16}, GGML_TYPE_F32, 32);  // t is 64 bytes: overlaps
        g.pad();
        g.data(128);
        expect_fail(g.b, "overlap", "overlap");
    }
    {
        Builder g;
        g.header(2, 0);
        g.tensor("t", {8}, GGML_TYPE_F32, 0);
        g.tensor("t", {8}, GGML_TYPE_F32, 32);
        g.pad();
        g.data(64);
        expect_fail(g.b, "dup_tensor", "duplicate tensor");
    }
    {
        Builder g;
        g.header(0, 1);
        g.str("general.alignment");
        g.u32(GGUF_UINT32);
        g.u32(24);
        expect_fail(g.b, "bad_alignment", "power of two");
    }
    expect_fail({}, "empty", "empty file");
}

// A header of 500,000 tensors: the duplicate checks and lookups are hash
// sets, so the whole file is read (or refused at a duplicate in its last
// tensor) in well under a second; with pairwise checks it took minutes.
// The header checks (duplicate keys and tensors, lookups) are linear: 500,000
// tensors load, or are refused for a duplicate, in under a second (the
// quadratic checks took minutes). Under emulation (scripts/aarch64.sh sets
// RWKV_EMULATED=1) a second means nothing, so only the results are checked.
TEST(Gguf, HalfAMillionTensorsLoadInUnderASecond) {
    auto load_seconds = [](int n, bool dup) {
        Builder g;
        g.header(n, 1);
        g.kv_u32("general.alignment", 32);
        for (int i = 0; i < n; i++)
            g.tensor(dup && i == n - 1 ? "t0" : "t" + std::to_string(i), {1}, GGML_TYPE_F32, (uint64_t)i * 32);
        g.pad();
        g.data((size_t)n * 32);
        const std::string path = write_tmp(g.b, dup ? "many_dup" : "many");
        GgufFile f;
        const auto t0 = std::chrono::steady_clock::now();
        bool refused = false;
        try {
            gguf_open(&f, path.c_str());
        } catch (const RwkvError& e) {
            refused = true;
            EXPECT_NE(std::string(e.what()).find("duplicate tensor 't0'"), std::string::npos) << e.what();
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        EXPECT_EQ(refused, dup);
        if (!dup) {
            EXPECT_EQ(f.tensors.size(), (size_t)n);
            const GgufTensor* last = gguf_find_tensor(&f, "t" + std::to_string(n - 1));
            EXPECT_NE(last, nullptr);
            if (last) {
                EXPECT_EQ(last->offset, (uint64_t)(n - 1) * 32);
            }
            EXPECT_EQ(gguf_find_tensor(&f, "t" + std::to_string(n)), nullptr);
            gguf_close(&f);
        }
        unlink(path.c_str());
        return s;
    };
    const char* emulated = getenv("RWKV_EMULATED");
    for (bool dup : {false, true}) {
        const double s = load_seconds(500000, dup);
        if (!(emulated && *emulated == '1')) {
            EXPECT_LT(s, 1.0) << (dup ? "refusing" : "loading") << " 500000 tensors took " << s << " s";
        }
    }
}

TEST(Gguf, MissingFileAndDirectory) {
    GgufFile f;
    try {
        gguf_open(&f, "/nonexistent/model.gguf");
        ADD_FAILURE() << "opened a missing file";
    } catch (const RwkvError& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/model.gguf: cannot open"), std::string::npos) << e.what();
    }
    EXPECT_THROW(gguf_open(&f, "/tmp"), RwkvError);
}

TEST(Gguf, TruncatedAnywhereFailsCleanly) {
    // Every prefix of a valid file must fail with an error, never crash.
    Builder g = valid_file();
    for (size_t n = 0; n < g.b.size(); n++) {
        std::vector<uint8_t> cut(g.b.begin(), g.b.begin() + (long)n);
        std::string path = write_tmp(cut, "prefix");
        for (GgufLoadMode mode : kModes) {
            GgufFile f;
            EXPECT_THROW(gguf_open(&f, path.c_str(), mode), RwkvError)
                << "prefix of " << n << " bytes opened (" << mode_name(mode) << ")";
        }
        unlink(path.c_str());
    }
}

TEST(Gguf, LlamacppRwkv7File) {
    const std::string path = shared_data_dir() + "/llamacpp-gguf/v7-L2-D64-s9-llamacpp-f16.gguf";
    REQUIRE_FILE(path);
    GgufFile f;
    gguf_open(&f, path.c_str());
    EXPECT_EQ(f.version, 3u);
    EXPECT_EQ(gguf_get_str(&f, "general.architecture"), "rwkv7");
    EXPECT_EQ(gguf_get_u64(&f, "rwkv7.block_count"), 2u);
    EXPECT_EQ(gguf_get_u64(&f, "rwkv7.embedding_length"), 64u);
    EXPECT_EQ(gguf_get_str_array(&f, "tokenizer.ggml.tokens").size(), 65536u);
    EXPECT_EQ(gguf_get_str_array(&f, "tokenizer.ggml.tokens")[0], "<s>");
    const GgufTensor* emb = gguf_find_tensor(&f, "token_embd.weight");
    ASSERT_NE(emb, nullptr);
    EXPECT_EQ(emb->ne[0], 64);
    EXPECT_EQ(emb->ne[1], 65536);
    EXPECT_EQ(emb->type, (uint32_t)GGML_TYPE_F16);
    for (const GgufTensor& t : f.tensors) {
        EXPECT_GE((const uint8_t*)t.data, f.map + f.data_offset);
        EXPECT_LE((const uint8_t*)t.data + t.nbytes, f.map + f.size);
    }
    // Truncation at a spread of points through the metadata and the data.
    std::vector<uint8_t> all(f.map, f.map + f.size);
    const size_t data_offset = (size_t)f.data_offset;
    gguf_close(&f);
    std::vector<size_t> cuts = {4, 8, 16, 24, data_offset - 1, data_offset, all.size() - 1};
    for (size_t n = 100; n < data_offset; n += data_offset / 37) cuts.push_back(n);
    for (size_t n : cuts) {
        std::vector<uint8_t> cut(all.begin(), all.begin() + (long)n);
        std::string p = write_tmp(cut, "llamacpp_prefix");
        GgufFile g;
        EXPECT_THROW(gguf_open(&g, p.c_str()), RwkvError) << "prefix of " << n << " bytes opened";
        unlink(p.c_str());
    }
}
