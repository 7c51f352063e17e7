#include "state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common.h"
#include "../kernels/half.h"

static const char MAGIC[8] = {'R', 'W', 'K', 'V', 'S', 'T', 'A', 'T'};
static const uint32_t VERSION = 1;

static uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
    const uint8_t* p = (const uint8_t*)data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

// The tensors the identity covers: vectors (one row, or the six fused
// token-shift mixes [C, 1, 1, 6]) in a float type. Every weight type of a
// model stores them unchanged (llama-quantize writes them as F32).
static bool identity_tensor(const GgufTensor& t) {
    const bool vector = t.ne[1] * t.ne[2] * t.ne[3] == 1 || t.name.find("lerp_fused") != std::string_view::npos;
    return vector && (t.type == GGML_TYPE_F32 || t.type == GGML_TYPE_F16 || t.type == GGML_TYPE_BF16);
}

// FNV-1a over the shape, then each identity tensor's name bytes and its
// float32 values as the engine computes with them (F32: the stored bytes).
static uint64_t identity_of(const Model* m, const std::vector<const GgufTensor*>& tensors) {
    uint64_t h = 0xcbf29ce484222325ull;
    const int64_t shape[] = {(int64_t)m->arch, m->n_layer, m->n_embd, m->n_head, m->head_size, m->n_vocab, m->n_ffn};
    h = fnv1a(h, shape, sizeof shape);
    std::vector<float> values;
    for (const GgufTensor* t : tensors) {
        h = fnv1a(h, t->name.data(), t->name.size());
        if (t->type == GGML_TYPE_F32) {
            h = fnv1a(h, t->data, (size_t)t->nbytes);
            continue;
        }
        const int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        values.resize((size_t)n);
        for (int64_t i = 0; i < n; i++) {
            const uint16_t v = ((const uint16_t*)t->data)[i];
            values[(size_t)i] = t->type == GGML_TYPE_F16 ? f16_to_f32(v) : bf16_to_f32(v);
        }
        h = fnv1a(h, values.data(), values.size() * 4);
    }
    return h;
}

static std::vector<const GgufTensor*> identity_tensors(const Model* m) {
    std::vector<const GgufTensor*> out;
    for (const GgufTensor& t : m->file.tensors)
        if (identity_tensor(t)) out.push_back(&t);
    return out;
}

uint64_t model_identity(const Model* m) {
    // By name: llama-quantize reorders tensors, and a model's quants must
    // share its identity. Names are unique (gguf.cpp refuses duplicates).
    std::vector<const GgufTensor*> tensors = identity_tensors(m);
    std::sort(tensors.begin(), tensors.end(),
              [](const GgufTensor* a, const GgufTensor* b) { return a->name < b->name; });
    return identity_of(m, tensors);
}

uint64_t model_identity_file_order(const Model* m) { return identity_of(m, identity_tensors(m)); }

struct StateHeader {
    char magic[8];
    uint32_t version, arch;
    uint64_t n_layer, n_embd, n_head, head_size, model_id;
};

static StateHeader header_of(const Model* m) {
    StateHeader h;
    memcpy(h.magic, MAGIC, 8);
    h.version = VERSION;
    h.arch = (uint32_t)m->arch;
    h.n_layer = (uint64_t)m->n_layer;
    h.n_embd = (uint64_t)m->n_embd;
    h.n_head = (uint64_t)m->n_head;
    h.head_size = (uint64_t)m->head_size;
    h.model_id = model_identity(m);
    return h;
}

void state_save(const char* path, const Model* m, const RwkvState* s) {
    StateHeader h = header_of(m);
    std::string tmp = std::string(path) + ".tmp";
    FILE* f = fopen(tmp.c_str(), "wb");
    if (!f) rwkv_fail("%s: cannot create: %s", path, strerror(errno));
    bool ok = fwrite(&h, sizeof h, 1, f) == 1 &&
              fwrite(s->data.data(), sizeof(float), s->data.size(), f) == s->data.size();
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp.c_str(), path) != 0) {
        remove(tmp.c_str());
        rwkv_fail("%s: cannot write the state: %s", path, strerror(errno));
    }
}

void state_load(const char* path, const Model* m, RwkvState* s) {
    // Not fopen: a FIFO must not block (O_NONBLOCK), and only a regular file
    // is a state file (a directory "opens" too).
    const int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) rwkv_fail("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        rwkv_fail("%s: not a regular file", path);
    }
    FILE* f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        rwkv_fail("%s: cannot open: %s", path, strerror(errno));
    }
    StateHeader h, want = header_of(m);
    memset(&h, 0, sizeof h);  // a short file leaves the rest of the header zero, not garbage
    std::vector<float> data(s->data.size());
    bool read_ok = fread(&h, sizeof h, 1, f) == 1;
    const bool header_ok = read_ok;
    if (read_ok && memcmp(h.magic, MAGIC, 8) == 0 && h.version == VERSION)
        read_ok = fread(data.data(), sizeof(float), data.size(), f) == data.size();
    const bool extra = read_ok && fgetc(f) != EOF;
    fclose(f);
    if (!read_ok && (memcmp(h.magic, MAGIC, 8) != 0)) rwkv_fail("%s: not an rwkv-cli state file", path);
    if (memcmp(h.magic, MAGIC, 8) != 0) rwkv_fail("%s: not an rwkv-cli state file (bad magic)", path);
    if (!header_ok) rwkv_fail("%s: truncated state file (%lld bytes, the header alone is %zu)", path,
                              (long long)st.st_size, sizeof h);
    if (h.version != VERSION) rwkv_fail("%s: state file version %u is not supported (expected %u)", path, h.version, VERSION);
    if (h.arch != want.arch || h.n_layer != want.n_layer || h.n_embd != want.n_embd || h.n_head != want.n_head ||
        h.head_size != want.head_size)
        rwkv_fail("%s: the state is for another model shape (arch %u, %llu layers, embedding %llu, %llu heads of %llu); "
                  "this model: arch %u, %llu layers, embedding %llu, %llu heads of %llu",
                  path, h.arch, (unsigned long long)h.n_layer, (unsigned long long)h.n_embd,
                  (unsigned long long)h.n_head, (unsigned long long)h.head_size, want.arch,
                  (unsigned long long)want.n_layer, (unsigned long long)want.n_embd, (unsigned long long)want.n_head,
                  (unsigned long long)want.head_size);
    // States saved before the identity sorted by name carry the file-order one.
    if (h.model_id != want.model_id && h.model_id != model_identity_file_order(m))
        rwkv_fail("%s: the state was made with another model of the same shape (model id %016llx, this model %016llx)",
                  path, (unsigned long long)h.model_id, (unsigned long long)want.model_id);
    if (!read_ok) rwkv_fail("%s: truncated state file", path);
    if (extra) rwkv_fail("%s: state file is longer than the state (corrupt?)", path);
    for (float x : data)
        if (!std::isfinite(x)) rwkv_fail("%s: the state contains non-finite values", path);
    s->data.assign(data.begin(), data.end());
}
