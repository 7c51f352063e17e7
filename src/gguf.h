// gguf.h - read a GGUF (version 2 or 3) file: mmap it, validate every count,
// offset and size before use, and expose the key/value metadata and the tensors
// as typed views into the file's bytes, which are either
//   GGUF_MAP:  the file mapped read-only and shared (nothing is copied, the
//              pages come in as they are touched and stay in the page cache), or
//   GGUF_COPY: read once into private memory advised for transparent huge
//              pages. Token generation reads every weight once per token, and
//              on this machine it streams up to 10-25% faster from that copy
//              than from the page cache's scattered 4 KiB pages
//              (docs/performance.md); the copy costs a read of the file and
//              fresh memory.
// Either way resident memory is the file's size, not twice it: the copy is
// made with read(), so no page of the file itself is mapped.
//
// Layout (all little-endian):
//   magic "GGUF", u32 version, u64 n_tensors, u64 n_kv,
//   n_kv x { string key, u32 value_type, value }
//   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
//   padding to general.alignment (default 32), then the tensor data section.
// A string is u64 length + bytes (no terminator).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "huge_pages.h"

// ggml tensor types (the numbering is ggml's; every type ggml defines is
// recognised, so a file loads and an error can name a type the engine cannot
// multiply; 31-33 and 36-38 were removed from ggml and stay unknown).
enum GgmlType : uint32_t {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10,
    GGML_TYPE_Q3_K = 11,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_Q8_K = 15,
    GGML_TYPE_IQ2_XXS = 16,
    GGML_TYPE_IQ2_XS = 17,
    GGML_TYPE_IQ3_XXS = 18,
    GGML_TYPE_IQ1_S = 19,
    GGML_TYPE_IQ4_NL = 20,
    GGML_TYPE_IQ3_S = 21,
    GGML_TYPE_IQ2_S = 22,
    GGML_TYPE_IQ4_XS = 23,
    GGML_TYPE_I8 = 24,
    GGML_TYPE_I16 = 25,
    GGML_TYPE_I32 = 26,
    GGML_TYPE_I64 = 27,
    GGML_TYPE_F64 = 28,
    GGML_TYPE_IQ1_M = 29,
    GGML_TYPE_BF16 = 30,
    GGML_TYPE_TQ1_0 = 34,
    GGML_TYPE_TQ2_0 = 35,
    GGML_TYPE_MXFP4 = 39,
    GGML_TYPE_COUNT = 40,
};

const char* ggml_type_name(uint32_t type);  // "F32", "Q8_0", ... or "unknown"
// Bytes of one row of n elements, or 0 if the type is unknown or n does not
// fit its block size.
uint64_t ggml_row_size(uint32_t type, int64_t n);

enum GgufValueType : uint32_t {
    GGUF_UINT8 = 0, GGUF_INT8 = 1, GGUF_UINT16 = 2, GGUF_INT16 = 3,
    GGUF_UINT32 = 4, GGUF_INT32 = 5, GGUF_FLOAT32 = 6, GGUF_BOOL = 7,
    GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_UINT64 = 10, GGUF_INT64 = 11,
    GGUF_FLOAT64 = 12,
};

// Bytes of one scalar GGUF value (0 for strings, arrays and unknown types).
uint64_t gguf_scalar_size(uint32_t type);

struct GgufKV {
    std::string_view key;
    uint64_t raw_offset, raw_size;  // the whole entry (key, type, value) in the file
    uint32_t type;                 // GgufValueType
    const uint8_t* value;          // scalar: its bytes in the map; array: first element
    std::string_view str;          // type == GGUF_STRING
    uint32_t array_type;           // type == GGUF_ARRAY: element type
    uint64_t array_count;          // type == GGUF_ARRAY: number of elements
    std::vector<std::string_view> strs;  // array of strings, parsed and validated
};

struct GgufTensor {
    std::string_view name;
    uint32_t type;        // GgmlType
    int n_dims;
    int64_t ne[4];        // ggml order: ne[0] is the fastest-varying dimension; unused = 1
    uint64_t offset;      // from the start of the data section
    uint64_t nbytes;
    const void* data;     // into the mapping
};

enum GgufLoadMode { GGUF_MAP, GGUF_COPY };

struct GgufFile {
    std::string path;
    const uint8_t* map = nullptr;  // the file's bytes: the mapping, or (GGUF_COPY) a place in
                                   // `copy` where the data section starts on a 64-byte line
    size_t size = 0;
    HugeRegion copy;               // GGUF_COPY's memory (empty when mapped)
    uint32_t version = 0;
    uint64_t alignment = 32;
    uint64_t data_offset = 0;
    std::vector<GgufKV> kvs;
    std::vector<GgufTensor> tensors;
    // name -> index in kvs / tensors: the lookups, and the duplicate checks
    // while reading, in constant time (a header of 700,000 tensors must not
    // hold the loader for minutes)
    std::unordered_map<std::string_view, size_t> kv_index, tensor_index;
};

// Map (or copy) and validate `path`. Fails (rwkv_fail) with a message naming
// the file and the problem: missing, not a regular file, truncated, bad
// magic/version, a length or count past the end, an unknown type, a tensor
// outside the data section or misaligned, duplicate names; for a copy also
// no memory for it, or a read error.
void gguf_open(GgufFile* f, const char* path, GgufLoadMode mode = GGUF_MAP);
void gguf_close(GgufFile* f);

const GgufKV* gguf_find_kv(const GgufFile* f, std::string_view key);
const GgufTensor* gguf_find_tensor(const GgufFile* f, std::string_view name);

// Typed getters: fail with a message naming the file and key when the key is
// missing or has another type. Integer getters accept any integer type whose
// value fits.
uint64_t gguf_get_u64(const GgufFile* f, std::string_view key);
uint64_t gguf_get_u64_or(const GgufFile* f, std::string_view key, uint64_t fallback);
float gguf_get_f32(const GgufFile* f, std::string_view key);
float gguf_get_f32_or(const GgufFile* f, std::string_view key, float fallback);
std::string_view gguf_get_str(const GgufFile* f, std::string_view key);
const std::vector<std::string_view>& gguf_get_str_array(const GgufFile* f, std::string_view key);

// ---------------------------------------------------------------- writing

struct GgufOutTensor {
    std::string name;
    uint32_t type;  // GgmlType
    int n_dims;
    int64_t ne[4];
    const void* data;  // ggml_row_size(type, ne[0]) * ne[1] * ne[2] * ne[3] bytes
};

// Write a GGUF v3 file: the metadata of `meta` copied entry by entry in its
// order (entries named in `drop` left out), then `extra_u32` entries, then
// the tensors, each aligned to meta's alignment. Fails naming the file.
void gguf_write(const char* path, const GgufFile* meta, const std::vector<std::string>& drop,
                const std::vector<std::pair<std::string, uint32_t>>& extra_u32,
                const std::vector<GgufOutTensor>& tensors);
