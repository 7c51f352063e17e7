// state_cache.cpp - the prefix-keyed state cache (state_cache.h).
#include "state_cache.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "../common.h"
#include "../state_file.h"

static const char TOKENS_MAGIC[8] = {'R', 'W', 'K', 'V', 'T', 'O', 'K', 'S'};

// FNV-1a over each token's four bytes: incremental, so every prefix's key
// comes from one pass.
static inline uint64_t hash_step(uint64_t h, int32_t t) {
    for (int b = 0; b < 4; b++) h = (h ^ ((uint32_t)t >> (8 * b) & 0xff)) * 0x100000001b3ull;
    return h;
}
static const uint64_t HASH_SEED = 0xcbf29ce484222325ull;

void state_cache_prefix_hashes(const int32_t* tokens, int64_t n, std::vector<uint64_t>* h) {
    h->resize((size_t)n);
    uint64_t x = HASH_SEED;
    for (int64_t i = 0; i < n; i++) (*h)[(size_t)i] = x = hash_step(x, tokens[i]);
}

static uint64_t hash_tokens(const int32_t* t, int64_t n) {
    uint64_t x = HASH_SEED;
    for (int64_t i = 0; i < n; i++) x = hash_step(x, t[i]);
    return x;
}

static std::string entry_path(const StateCache* c, uint64_t h, const char* ext) {
    return strprintf("%s/%016llx.%s", c->dir.c_str(), (unsigned long long)h, ext);
}

static size_t entry_bytes(const CacheEntry& e) {
    return e.state.size() * sizeof(float) + e.tokens.size() * sizeof(int32_t) + 128;
}

// HASH.tokens: "RWKVTOKS", u64 count, count x i32 (little-endian, as the
// state files). Returns false on anything else.
static bool read_tokens(const std::string& path, std::vector<int32_t>* out) {
    FILE* f = fopen(path.c_str(), "rb");
    if (!f) return false;
    char magic[8];
    uint64_t n = 0;
    bool ok = fread(magic, 1, 8, f) == 8 && memcmp(magic, TOKENS_MAGIC, 8) == 0 && fread(&n, 8, 1, f) == 1 &&
              n > 0 && n < (1ull << 28);
    if (ok) {
        out->resize((size_t)n);
        ok = fread(out->data(), 4, (size_t)n, f) == (size_t)n && fgetc(f) == EOF;
    }
    fclose(f);
    return ok;
}

// Write to PATH.tmp, then rename: a reader sees the old file or the new one.
static void write_tokens(const std::string& path, const std::vector<int32_t>& t) {
    const std::string tmp = path + ".tmp";
    FILE* f = fopen(tmp.c_str(), "wb");
    if (!f) rwkv_fail("%s: cannot write: %s", tmp.c_str(), strerror(errno));
    const uint64_t n = t.size();
    bool ok = fwrite(TOKENS_MAGIC, 1, 8, f) == 8 && fwrite(&n, 8, 1, f) == 1 &&
              fwrite(t.data(), 4, t.size(), f) == t.size();
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
        unlink(tmp.c_str());
        rwkv_fail("%s: cannot write: %s", path.c_str(), strerror(errno));
    }
}

// The tokens first, then the state: an entry counts only once its state file
// exists, and the state file appears (by rename) only when complete.
static void spill(StateCache* c, uint64_t h, CacheEntry* e) {
    if (c->dir.empty() || e->on_disk) return;
    try {
        write_tokens(entry_path(c, h, "tokens"), e->tokens);
        RwkvState s;
        rwkv_state_init(&s, c->model);
        s.data = e->state;
        const std::string path = entry_path(c, h, "state"), tmp = path + ".tmp";
        state_save(tmp.c_str(), c->model, &s);
        if (rename(tmp.c_str(), path.c_str()) != 0) {
            unlink(tmp.c_str());
            rwkv_fail("%s: cannot rename: %s", path.c_str(), strerror(errno));
        }
        e->on_disk = true;
        c->disk[h] = e->tokens;
        c->disk_entries = c->disk.size();
        c->disk_writes++;
    } catch (const RwkvError& err) {
        fprintf(stderr, "rwkv-cli serve: state cache: %s\n", err.what());  // the RAM copy was the cache; go on
    }
}

static void evict_to_budget(StateCache* c) {
    while (c->bytes > c->budget_bytes && !c->lru.empty()) {
        const uint64_t h = c->lru.back();
        auto it = c->ram.find(h);
        spill(c, h, &it->second);
        c->bytes -= entry_bytes(it->second);
        c->lru.pop_back();
        c->ram.erase(it);
        c->entries = c->ram.size();
        c->evictions++;
    }
}

void state_cache_open(StateCache* c, const Model* m, size_t budget_mb, const std::string& dir) {
    c->model = m;
    c->budget_bytes = budget_mb << 20;
    c->dir = dir;
    if (dir.empty()) return;
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
        rwkv_fail("--state-dir %s: cannot create: %s", dir.c_str(), strerror(errno));
    DIR* d = opendir(dir.c_str());
    if (!d) rwkv_fail("--state-dir %s: cannot open: %s", dir.c_str(), strerror(errno));
    while (dirent* de = readdir(d)) {
        const std::string name = de->d_name;
        unsigned long long h = 0;
        char tail[16] = {0};
        if (name.size() != 16 + 6 || sscanf(name.c_str(), "%16llx.%15s", &h, tail) != 2 || strcmp(tail, "state"))
            continue;
        std::vector<int32_t> tokens;
        // an entry whose tokens file is missing, damaged or not of this hash is skipped
        if (!read_tokens(entry_path(c, h, "tokens"), &tokens) || hash_tokens(tokens.data(), (int64_t)tokens.size()) != h)
            continue;
        c->disk.emplace(h, std::move(tokens));
    }
    closedir(d);
    c->disk_entries = c->disk.size();
}

// Copy the state of exactly these tokens into *out (from RAM, else from the
// directory, which brings it into RAM); false if there is none.
static bool find(StateCache* c, uint64_t h, const int32_t* tokens, int64_t n, RwkvState* out) {
    auto it = c->ram.find(h);
    if (it != c->ram.end()) {
        CacheEntry& e = it->second;
        if ((int64_t)e.tokens.size() != n || memcmp(e.tokens.data(), tokens, (size_t)n * 4) != 0) return false;
        c->lru.splice(c->lru.begin(), c->lru, e.lru);
        out->data = e.state;
        return true;
    }
    auto d = c->disk.find(h);
    if (d == c->disk.end() || (int64_t)d->second.size() != n || memcmp(d->second.data(), tokens, (size_t)n * 4) != 0)
        return false;
    RwkvState s;
    rwkv_state_init(&s, c->model);
    try {
        state_load(entry_path(c, h, "state").c_str(), c->model, &s);
    } catch (const RwkvError& err) {
        fprintf(stderr, "rwkv-cli serve: state cache: %s (entry dropped)\n", err.what());
        c->disk.erase(d);
        c->disk_entries = c->disk.size();
        return false;
    }
    c->disk_loads++;
    out->data = s.data;
    CacheEntry& e = c->ram[h];
    e.tokens.assign(tokens, tokens + n);
    e.state = std::move(s.data);
    e.on_disk = true;
    c->lru.push_front(h);
    e.lru = c->lru.begin();
    c->bytes += entry_bytes(e);
    c->entries = c->ram.size();
    evict_to_budget(c);  // (the budget may be smaller than this one entry)
    return true;
}

int64_t state_cache_lookup(StateCache* c, const int32_t* tokens, int64_t n, int64_t max_len, RwkvState* out) {
    static thread_local std::vector<uint64_t> h;
    state_cache_prefix_hashes(tokens, n, &h);
    for (int64_t len = std::min(n, max_len); len > 0; len--) {
        const uint64_t key = h[(size_t)len - 1];
        if (!c->ram.count(key) && !c->disk.count(key)) continue;
        if (!find(c, key, tokens, len, out)) continue;
        c->hits++;
        c->cached_tokens += (uint64_t)len;
        return len;
    }
    c->misses++;
    return 0;
}

void state_cache_put(StateCache* c, const int32_t* tokens, int64_t n, const RwkvState* s) {
    if (n <= 0) return;
    const uint64_t h = hash_tokens(tokens, n);
    auto it = c->ram.find(h);
    if (it != c->ram.end()) {  // same hash: the newer tokens win
        c->bytes -= entry_bytes(it->second);
        c->lru.erase(it->second.lru);
        c->ram.erase(it);
    }
    CacheEntry& e = c->ram[h];
    e.tokens.assign(tokens, tokens + n);
    e.state = s->data;
    auto d = c->disk.find(h);
    e.on_disk = d != c->disk.end() && d->second == e.tokens;  // the same tokens give the same state
    c->lru.push_front(h);
    e.lru = c->lru.begin();
    c->bytes += entry_bytes(e);
    c->entries = c->ram.size();
    evict_to_budget(c);
}

void state_cache_flush(StateCache* c) {
    for (auto& kv : c->ram) spill(c, kv.first, &kv.second);
}
