// gguf.cpp - the GGUF reader. Every read goes through a bounds-checked cursor,
// so a truncated or hostile file fails with a message instead of reading past
// the mapping.
#include "gguf.h"
#include "common.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

// ---------------------------------------------------------------- ggml types

struct TypeInfo {
    const char* name;
    int64_t block;       // elements per block
    uint64_t block_bytes;  // bytes per block (0 = unknown type)
};

static TypeInfo type_info(uint32_t type) {
    switch (type) {
        case GGML_TYPE_F32: return {"F32", 1, 4};
        case GGML_TYPE_F16: return {"F16", 1, 2};
        case GGML_TYPE_BF16: return {"BF16", 1, 2};
        case GGML_TYPE_Q4_0: return {"Q4_0", 32, 18};
        case GGML_TYPE_Q4_1: return {"Q4_1", 32, 20};
        case GGML_TYPE_Q5_0: return {"Q5_0", 32, 22};
        case GGML_TYPE_Q5_1: return {"Q5_1", 32, 24};
        case GGML_TYPE_Q8_0: return {"Q8_0", 32, 34};
        case GGML_TYPE_Q8_1: return {"Q8_1", 32, 36};
        case GGML_TYPE_Q2_K: return {"Q2_K", 256, 84};
        case GGML_TYPE_Q3_K: return {"Q3_K", 256, 110};
        case GGML_TYPE_Q4_K: return {"Q4_K", 256, 144};
        case GGML_TYPE_Q5_K: return {"Q5_K", 256, 176};
        case GGML_TYPE_Q6_K: return {"Q6_K", 256, 210};
        case GGML_TYPE_Q8_K: return {"Q8_K", 256, 292};
        case GGML_TYPE_IQ2_XXS: return {"IQ2_XXS", 256, 66};
        case GGML_TYPE_IQ2_XS: return {"IQ2_XS", 256, 74};
        case GGML_TYPE_IQ3_XXS: return {"IQ3_XXS", 256, 98};
        case GGML_TYPE_IQ1_S: return {"IQ1_S", 256, 50};
        case GGML_TYPE_IQ4_NL: return {"IQ4_NL", 32, 18};
        case GGML_TYPE_IQ3_S: return {"IQ3_S", 256, 110};
        case GGML_TYPE_IQ2_S: return {"IQ2_S", 256, 82};
        case GGML_TYPE_IQ4_XS: return {"IQ4_XS", 256, 136};
        case GGML_TYPE_I8: return {"I8", 1, 1};
        case GGML_TYPE_I16: return {"I16", 1, 2};
        case GGML_TYPE_I32: return {"I32", 1, 4};
        case GGML_TYPE_I64: return {"I64", 1, 8};
        case GGML_TYPE_F64: return {"F64", 1, 8};
        case GGML_TYPE_IQ1_M: return {"IQ1_M", 256, 56};
        case GGML_TYPE_TQ1_0: return {"TQ1_0", 256, 54};
        case GGML_TYPE_TQ2_0: return {"TQ2_0", 256, 66};
        case GGML_TYPE_MXFP4: return {"MXFP4", 32, 17};
        default: return {"unknown", 0, 0};
    }
}

const char* ggml_type_name(uint32_t type) { return type_info(type).name; }

uint64_t ggml_row_size(uint32_t type, int64_t n) {
    TypeInfo t = type_info(type);
    if (t.block_bytes == 0 || n < 0 || n % t.block != 0) return 0;
    return (uint64_t)(n / t.block) * t.block_bytes;
}

// ---------------------------------------------------------------- cursor

namespace {
struct Cursor {
    const GgufFile* f;
    uint64_t pos;

    const uint8_t* take(uint64_t n, const char* what) {
        if (n > f->size || pos > f->size - n)
            rwkv_fail("%s: truncated or corrupt GGUF: %s at byte %llu needs %llu bytes, file has %zu",
                      f->path.c_str(), what, (unsigned long long)pos, (unsigned long long)n, f->size);
        const uint8_t* p = f->map + pos;
        pos += n;
        return p;
    }
    uint32_t u32(const char* what) { uint32_t v; memcpy(&v, take(4, what), 4); return v; }
    uint64_t u64(const char* what) { uint64_t v; memcpy(&v, take(8, what), 8); return v; }
    std::string_view str(const char* what) {
        uint64_t n = u64(what);
        const uint8_t* p = take(n, what);
        return std::string_view((const char*)p, (size_t)n);
    }
};
}  // namespace

uint64_t gguf_scalar_size(uint32_t t) {
    switch (t) {
        case GGUF_UINT8: case GGUF_INT8: case GGUF_BOOL: return 1;
        case GGUF_UINT16: case GGUF_INT16: return 2;
        case GGUF_UINT32: case GGUF_INT32: case GGUF_FLOAT32: return 4;
        case GGUF_UINT64: case GGUF_INT64: case GGUF_FLOAT64: return 8;
        default: return 0;
    }
}

static void read_kv(Cursor* c, GgufKV* kv) {
    const GgufFile* f = c->f;
    kv->raw_offset = c->pos;
    kv->key = c->str("metadata key");
    kv->type = c->u32("metadata value type");
    std::string what = strprintf("value of '%.*s'", (int)kv->key.size(), kv->key.data());
    if (kv->type == GGUF_STRING) {
        kv->value = f->map + c->pos;
        kv->str = c->str(what.c_str());
    } else if (kv->type == GGUF_ARRAY) {
        kv->array_type = c->u32(what.c_str());
        kv->array_count = c->u64(what.c_str());
        kv->value = f->map + c->pos;
        if (kv->array_type == GGUF_STRING) {
            // Each string is at least its 8-byte length: reject absurd counts
            // before reserving memory for them.
            if (kv->array_count > (f->size - c->pos) / 8)
                rwkv_fail("%s: truncated or corrupt GGUF: %s claims %llu strings, more than the file can hold",
                          f->path.c_str(), what.c_str(), (unsigned long long)kv->array_count);
            kv->strs.reserve((size_t)kv->array_count);
            for (uint64_t i = 0; i < kv->array_count; i++) kv->strs.push_back(c->str(what.c_str()));
        } else {
            uint64_t es = gguf_scalar_size(kv->array_type);
            if (es == 0)
                rwkv_fail("%s: corrupt GGUF: %s is an array of unsupported type %u",
                          f->path.c_str(), what.c_str(), kv->array_type);
            if (kv->array_count > f->size / es)
                rwkv_fail("%s: truncated or corrupt GGUF: %s claims %llu elements",
                          f->path.c_str(), what.c_str(), (unsigned long long)kv->array_count);
            c->take(kv->array_count * es, what.c_str());
        }
    } else {
        uint64_t n = gguf_scalar_size(kv->type);
        if (n == 0)
            rwkv_fail("%s: corrupt GGUF: %s has unknown type %u", f->path.c_str(), what.c_str(), kv->type);
        kv->value = c->take(n, what.c_str());
    }
    kv->raw_size = c->pos - kv->raw_offset;
}

// ---------------------------------------------------------------- open / close

static void parse(GgufFile* f) {
    Cursor c{f, 0};
    const uint8_t* magic = c.take(4, "magic");
    if (memcmp(magic, "GGUF", 4) != 0)
        rwkv_fail("%s: not a GGUF file (bad magic; expected \"GGUF\")", f->path.c_str());
    f->version = c.u32("version");
    if (f->version != 2 && f->version != 3)
        rwkv_fail("%s: unsupported GGUF version %u (supported: 2, 3)", f->path.c_str(), f->version);
    uint64_t n_tensors = c.u64("tensor count");
    uint64_t n_kv = c.u64("metadata count");
    // Every KV takes at least 8+4 bytes and every tensor info at least 8+4+4+8.
    if (n_kv > f->size / 12 || n_tensors > f->size / 24)
        rwkv_fail("%s: truncated or corrupt GGUF: %llu tensors and %llu metadata entries cannot fit in %zu bytes",
                  f->path.c_str(), (unsigned long long)n_tensors, (unsigned long long)n_kv, f->size);

    f->kvs.resize((size_t)n_kv);
    f->kv_index.reserve((size_t)n_kv);
    for (uint64_t i = 0; i < n_kv; i++) {
        read_kv(&c, &f->kvs[i]);
        if (!f->kv_index.emplace(f->kvs[i].key, (size_t)i).second)
            rwkv_fail("%s: corrupt GGUF: duplicate metadata key '%.*s'", f->path.c_str(),
                      (int)f->kvs[i].key.size(), f->kvs[i].key.data());
    }
    if (const GgufKV* a = gguf_find_kv(f, "general.alignment")) {
        if (a->type != GGUF_UINT32)
            rwkv_fail("%s: general.alignment must be a uint32", f->path.c_str());
        uint32_t v;
        memcpy(&v, a->value, 4);
        if (v == 0 || (v & (v - 1)) != 0 || v > 1u << 20)
            rwkv_fail("%s: general.alignment %u is not a power of two", f->path.c_str(), v);
        f->alignment = v;
    }

    f->tensors.resize((size_t)n_tensors);
    f->tensor_index.reserve((size_t)n_tensors);
    for (uint64_t i = 0; i < n_tensors; i++) {
        GgufTensor* t = &f->tensors[i];
        t->name = c.str("tensor name");
        std::string tn(t->name);
        t->n_dims = (int)c.u32("tensor dimension count");
        if (t->n_dims < 1 || t->n_dims > 4)
            rwkv_fail("%s: tensor '%s' has %d dimensions (1..4 allowed)", f->path.c_str(), tn.c_str(), t->n_dims);
        uint64_t nel = 1;
        for (int d = 0; d < 4; d++) {
            t->ne[d] = 1;
            if (d >= t->n_dims) continue;
            uint64_t n = c.u64("tensor dimension");
            if (n == 0 || n > (1ull << 40) || nel > (1ull << 48) / n)
                rwkv_fail("%s: tensor '%s' has an invalid size %llu in dimension %d", f->path.c_str(),
                          tn.c_str(), (unsigned long long)n, d);
            t->ne[d] = (int64_t)n;
            nel *= n;
        }
        t->type = c.u32("tensor type");
        if (type_info(t->type).block_bytes == 0)
            rwkv_fail("%s: tensor '%s' has unknown type %u", f->path.c_str(), tn.c_str(), t->type);
        uint64_t row = ggml_row_size(t->type, t->ne[0]);
        if (row == 0)
            rwkv_fail("%s: tensor '%s': row of %lld elements does not fit %s blocks", f->path.c_str(),
                      tn.c_str(), (long long)t->ne[0], ggml_type_name(t->type));
        t->nbytes = row * (nel / (uint64_t)t->ne[0]);
        t->offset = c.u64("tensor offset");
        if (!f->tensor_index.emplace(t->name, (size_t)i).second)
            rwkv_fail("%s: corrupt GGUF: duplicate tensor '%s'", f->path.c_str(), tn.c_str());
    }

    uint64_t a = f->alignment;
    f->data_offset = (c.pos + a - 1) / a * a;
    if (n_tensors > 0 && f->data_offset > f->size)
        rwkv_fail("%s: truncated GGUF: the data section starts at byte %llu, past the end (%zu bytes)",
                  f->path.c_str(), (unsigned long long)f->data_offset, f->size);
    uint64_t data_size = f->size - std::min<uint64_t>(f->data_offset, f->size);
    for (GgufTensor& t : f->tensors) {
        std::string tn(t.name);
        if (t.offset % a != 0)
            rwkv_fail("%s: tensor '%s' offset %llu is not aligned to %llu", f->path.c_str(), tn.c_str(),
                      (unsigned long long)t.offset, (unsigned long long)a);
        if (t.offset > data_size || t.nbytes > data_size - t.offset)
            rwkv_fail("%s: truncated GGUF: tensor '%s' (%llu bytes at data offset %llu) ends past the end of the file",
                      f->path.c_str(), tn.c_str(), (unsigned long long)t.nbytes, (unsigned long long)t.offset);
        t.data = f->map + f->data_offset + t.offset;
    }
    // Overlapping tensors mean a corrupt file (a writer never emits them).
    std::vector<const GgufTensor*> order;
    for (const GgufTensor& t : f->tensors) order.push_back(&t);
    std::sort(order.begin(), order.end(), [](const GgufTensor* x, const GgufTensor* y) { return x->offset < y->offset; });
    for (size_t i = 1; i < order.size(); i++)
        if (order[i - 1]->offset + order[i - 1]->nbytes > order[i]->offset)
            rwkv_fail("%s: corrupt GGUF: tensors '%.*s' and '%.*s' overlap", f->path.c_str(),
                      (int)order[i - 1]->name.size(), order[i - 1]->name.data(), (int)order[i]->name.size(),
                      order[i]->name.data());
}

// The kernel's estimate of the memory it can give without swapping
// (/proc/meminfo MemAvailable), in bytes; 0 if unknown.
static uint64_t mem_available() {
    FILE* m = fopen("/proc/meminfo", "r");
    if (!m) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, m))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(m);
    return (uint64_t)kb * 1024;
}

// The file's bytes in a huge-page region (huge_pages.h), filled with pread(),
// `shift` bytes after its start. Fails naming the file: not enough memory, a
// read error, or a file that shrank between fstat and the read.
static void copy_file(GgufFile* f, int fd, size_t size, size_t shift) {
    // Refuse up front rather than be killed by the OOM killer half-way
    // through the copy (a mapping would just page).
    const uint64_t avail = mem_available();
    if (avail && size > avail)
        rwkv_fail("%s: --no-mmap needs %.1f MiB of memory and %.1f MiB are available; map the file instead (--mmap)",
                  f->path.c_str(), (double)size / (1 << 20), (double)avail / (1 << 20));
    huge_region_alloc(&f->copy, size + shift, (f->path + " (--no-mmap; --mmap maps the file instead)").c_str());
    uint8_t* dst = f->copy.data + shift;
    size_t done = 0;
    while (done < size) {
        const size_t n = size - done < (64u << 20) ? size - done : (64u << 20);
        const ssize_t got = pread(fd, dst + done, n, (off_t)done);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) rwkv_fail("%s: read failed at byte %zu: %s", f->path.c_str(), done, strerror(errno));
        if (got == 0) rwkv_fail("%s: the file shrank while it was read (%zu of %zu bytes)", f->path.c_str(), done, size);
        done += (size_t)got;
    }
    huge_region_protect(&f->copy);  // the weights are read-only, as a mapping of the file would be
    f->map = dst;
}

void gguf_open(GgufFile* f, const char* path, GgufLoadMode mode) {
    f->path = path;
    // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then
    // refused below as not a regular file); no effect on regular files.
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) rwkv_fail("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        rwkv_fail("%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        rwkv_fail("%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        rwkv_fail("%s: empty file", path);
    }
    f->size = (size_t)st.st_size;
    if (mode == GGUF_COPY) {
        try {
            // Put the data section on a cache-line boundary. GGUF aligns it
            // to 32 bytes, and where it lands mod 64 depends on the header:
            // in our converted files and the llama.cpp one in ../shared it
            // is 32 mod 64, so every 64-byte load of F32 weights would split
            // two lines (`rwkv-cli bench --no-mmap` on an F32 model shows the
            // cost in pp). Where that is needs the header
            // parsed: map the file, parse it (validating it), unmap.
            GgufFile head;
            gguf_open(&head, path, GGUF_MAP);
            const size_t shift = (size_t)((64 - head.data_offset % 64) % 64);
            gguf_close(&head);
            copy_file(f, fd, f->size, shift);
        } catch (...) {
            close(fd);
            gguf_close(f);
            throw;
        }
        close(fd);
    } else {
        void* p = mmap(nullptr, f->size, PROT_READ, MAP_SHARED, fd, 0);
        int e = errno;
        close(fd);  // the mapping keeps the file alive
        if (p == MAP_FAILED) rwkv_fail("%s: mmap failed: %s", path, strerror(e));
        f->map = (const uint8_t*)p;
    }
    try {
        parse(f);
    } catch (...) {
        gguf_close(f);
        throw;
    }
}

void gguf_close(GgufFile* f) {
    if (f->copy.data)
        huge_region_free(&f->copy);
    else if (f->map)
        munmap((void*)f->map, f->size);
    f->map = nullptr;
    f->size = 0;
    f->kvs.clear();
    f->tensors.clear();
    f->kv_index.clear();
    f->tensor_index.clear();
}

// ---------------------------------------------------------------- lookups

const GgufKV* gguf_find_kv(const GgufFile* f, std::string_view key) {
    const auto it = f->kv_index.find(key);
    return it == f->kv_index.end() ? nullptr : &f->kvs[it->second];
}

const GgufTensor* gguf_find_tensor(const GgufFile* f, std::string_view name) {
    const auto it = f->tensor_index.find(name);
    return it == f->tensor_index.end() ? nullptr : &f->tensors[it->second];
}

static const GgufKV* need_kv(const GgufFile* f, std::string_view key) {
    const GgufKV* kv = gguf_find_kv(f, key);
    if (!kv) rwkv_fail("%s: missing metadata key '%.*s'", f->path.c_str(), (int)key.size(), key.data());
    return kv;
}

static bool kv_uint(const GgufKV* kv, uint64_t* out) {
    const uint8_t* p = kv->value;
    switch (kv->type) {
        case GGUF_UINT8: *out = p[0]; return true;
        case GGUF_UINT16: { uint16_t v; memcpy(&v, p, 2); *out = v; return true; }
        case GGUF_UINT32: { uint32_t v; memcpy(&v, p, 4); *out = v; return true; }
        case GGUF_UINT64: { uint64_t v; memcpy(&v, p, 8); *out = v; return true; }
        case GGUF_INT8: { int8_t v; memcpy(&v, p, 1); *out = (uint64_t)v; return v >= 0; }
        case GGUF_INT16: { int16_t v; memcpy(&v, p, 2); *out = (uint64_t)v; return v >= 0; }
        case GGUF_INT32: { int32_t v; memcpy(&v, p, 4); *out = (uint64_t)v; return v >= 0; }
        case GGUF_INT64: { int64_t v; memcpy(&v, p, 8); *out = (uint64_t)v; return v >= 0; }
        default: return false;
    }
}

uint64_t gguf_get_u64(const GgufFile* f, std::string_view key) {
    const GgufKV* kv = need_kv(f, key);
    uint64_t v;
    if (!kv_uint(kv, &v))
        rwkv_fail("%s: metadata '%.*s' is not a non-negative integer", f->path.c_str(), (int)key.size(), key.data());
    return v;
}

uint64_t gguf_get_u64_or(const GgufFile* f, std::string_view key, uint64_t fallback) {
    return gguf_find_kv(f, key) ? gguf_get_u64(f, key) : fallback;
}

float gguf_get_f32(const GgufFile* f, std::string_view key) {
    const GgufKV* kv = need_kv(f, key);
    if (kv->type == GGUF_FLOAT32) { float v; memcpy(&v, kv->value, 4); return v; }
    if (kv->type == GGUF_FLOAT64) { double v; memcpy(&v, kv->value, 8); return (float)v; }
    rwkv_fail("%s: metadata '%.*s' is not a float", f->path.c_str(), (int)key.size(), key.data());
}

float gguf_get_f32_or(const GgufFile* f, std::string_view key, float fallback) {
    return gguf_find_kv(f, key) ? gguf_get_f32(f, key) : fallback;
}

std::string_view gguf_get_str(const GgufFile* f, std::string_view key) {
    const GgufKV* kv = need_kv(f, key);
    if (kv->type != GGUF_STRING)
        rwkv_fail("%s: metadata '%.*s' is not a string", f->path.c_str(), (int)key.size(), key.data());
    return kv->str;
}

const std::vector<std::string_view>& gguf_get_str_array(const GgufFile* f, std::string_view key) {
    const GgufKV* kv = need_kv(f, key);
    if (kv->type != GGUF_ARRAY || kv->array_type != GGUF_STRING)
        rwkv_fail("%s: metadata '%.*s' is not an array of strings", f->path.c_str(), (int)key.size(), key.data());
    return kv->strs;
}

// ---------------------------------------------------------------- writing

namespace {
struct Out {
    FILE* f;
    const char* path;
    uint64_t pos = 0;
    void put(const void* p, size_t n) {
        if (n && fwrite(p, 1, n, f) != n) rwkv_fail("%s: write failed: %s", path, strerror(errno));
        pos += n;
    }
    void u32(uint32_t v) { put(&v, 4); }
    void u64(uint64_t v) { put(&v, 8); }
    void str(std::string_view s) { u64(s.size()); put(s.data(), s.size()); }
    void pad(uint64_t a) {
        static const uint8_t zeros[256] = {0};
        while (pos % a) put(zeros, std::min<uint64_t>(a - pos % a, sizeof zeros));
    }
};
}  // namespace

void gguf_write(const char* path, const GgufFile* meta, const std::vector<std::string>& drop,
                const std::vector<std::pair<std::string, uint32_t>>& extra_u32,
                const std::vector<GgufOutTensor>& tensors) {
    std::vector<const GgufKV*> kvs;
    for (const GgufKV& kv : meta->kvs) {
        bool dropped = false;
        for (const std::string& d : drop) dropped |= kv.key == d;
        if (!dropped) kvs.push_back(&kv);
    }
    FILE* f = fopen(path, "wb");
    if (!f) rwkv_fail("%s: cannot create: %s", path, strerror(errno));
    Out o{f, path};
    try {
        o.put("GGUF", 4);
        o.u32(3);
        o.u64(tensors.size());
        o.u64(kvs.size() + extra_u32.size());
        for (const GgufKV* kv : kvs) o.put(meta->map + kv->raw_offset, kv->raw_size);
        for (const auto& e : extra_u32) {
            o.str(e.first);
            o.u32(GGUF_UINT32);
            o.u32(e.second);
        }
        const uint64_t a = meta->alignment;
        uint64_t offset = 0;
        std::vector<uint64_t> sizes;
        for (const GgufOutTensor& t : tensors) {
            uint64_t n = ggml_row_size(t.type, t.ne[0]);
            for (int d = 1; d < t.n_dims; d++) n *= (uint64_t)t.ne[d];
            if (n == 0) rwkv_fail("%s: tensor '%s' cannot be stored as %s", path, t.name.c_str(), ggml_type_name(t.type));
            sizes.push_back(n);
            o.str(t.name);
            o.u32((uint32_t)t.n_dims);
            for (int d = 0; d < t.n_dims; d++) o.u64((uint64_t)t.ne[d]);
            o.u32(t.type);
            o.u64(offset);
            offset = (offset + n + a - 1) / a * a;
        }
        o.pad(a);
        for (size_t i = 0; i < tensors.size(); i++) {
            o.put(tensors[i].data, sizes[i]);
            o.pad(a);
        }
    } catch (...) {
        fclose(f);
        remove(path);
        throw;
    }
    if (fclose(f) != 0) {
        remove(path);
        rwkv_fail("%s: write failed", path);
    }
}
