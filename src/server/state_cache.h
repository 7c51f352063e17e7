// state_cache.h - recurrent states kept by the token prefix that made them.
//
// An RWKV state after tokens t[0..L) is everything the model needs to go on
// from there, and it is the same size however long L is. So a server that
// keeps the state at the end of each prompt and each reply can start the
// conversation's next turn (or another user's request with the same system
// prompt) from the longest prefix it has, and feed only the rest: turn 20
// costs what turn 1 costs.
//
// Entries are keyed by a 64-bit hash of their tokens and hold the tokens too
// (a lookup compares them exactly, so a hash collision is a miss, never a
// wrong state). RAM holds them in LRU order under a byte budget; with a
// directory, an entry evicted from RAM, and every entry at shutdown, is
// written there as two files, HASH.tokens and HASH.state (the --state-out
// format), each to a temporary name then renamed, so a crash never leaves a
// state file that loads with the wrong tokens. The files are found again at
// start-up. A state is bit for bit what feeding its tokens gives, so a
// cached start changes no logit (the engine's results do not depend on how
// a text is cut into chunks).
//
// Not thread-safe: the engine thread alone uses it; the counters are atomic
// for /metrics.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

#include "../model.h"
#include "../rwkv.h"

struct CacheEntry {
    std::vector<int32_t> tokens;
    LineFloats state;
    std::list<uint64_t>::iterator lru;
    bool on_disk = false;  // the directory has it already
};

struct StateCache {
    const Model* model = nullptr;
    size_t budget_bytes = 0;
    std::string dir;  // "" = RAM only
    std::unordered_map<uint64_t, CacheEntry> ram;
    std::list<uint64_t> lru;  // most recently used first
    std::unordered_map<uint64_t, std::vector<int32_t>> disk;  // entries in dir (tokens), by hash

    std::atomic<uint64_t> bytes{0}, entries{0}, disk_entries{0};
    std::atomic<uint64_t> hits{0}, misses{0}, evictions{0}, disk_writes{0}, disk_loads{0}, cached_tokens{0};
};

// budget_mb: the RAM budget; dir: "" or a directory to spill to and reload
// from (created if missing). Fails (rwkv_fail) on a directory it cannot use.
void state_cache_open(StateCache* c, const Model* m, size_t budget_mb, const std::string& dir);

// The hash of every prefix: h[i] is the key of tokens[0..i+1).
void state_cache_prefix_hashes(const int32_t* tokens, int64_t n, std::vector<uint64_t>* h);

// The longest cached prefix of tokens[0..n) no longer than max_len (a caller
// keeps at least one token to feed, so that there are logits): its state is
// copied into *out and its length returned; 0 if there is none (*out untouched).
int64_t state_cache_lookup(StateCache* c, const int32_t* tokens, int64_t n, int64_t max_len, RwkvState* out);

// Keep the state after tokens (replacing an entry with the same tokens).
void state_cache_put(StateCache* c, const int32_t* tokens, int64_t n, const RwkvState* s);

// Write every RAM entry not yet in the directory (at shutdown). No-op without one.
void state_cache_flush(StateCache* c);
