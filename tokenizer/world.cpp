// world.cpp - the RWKV "world" tokenizer (see world.h for the why).
#include "world.h"

#include <algorithm>
#include <cstring>

#include "../src/common.h"

// A node with at least this many children gets a 256-entry direct table
// (1 KiB). For the world vocabulary that is about 600 of its ~116,000 nodes
// (the root, " ", "\xe4", ...): the wide nodes are exactly the ones the encoder
// visits most, and the narrow ones are scanned in a few compares.
static const uint32_t DENSE_MIN_CHILDREN = 16;

// ---------------------------------------------------------------------------
// Unescaping: llama.cpp's converter stores each token as repr(bytes)[2:-1],
// e.g. b'\n\xe4' -> "\\n\\xe4". Python emits only \t \n \r \\ \' and \xHH
// (plus \" is accepted for safety); anything else after a backslash means the
// vocabulary is not what we think it is, so it is an error rather than a guess.

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool world_unescape_token(std::string_view text, std::string* out, size_t* err_offset) {
    size_t i = 0;
    const size_t n = text.size();
    while (i < n) {
        char c = text[i];
        if (c != '\\') {
            out->push_back(c);
            i++;
            continue;
        }
        if (i + 1 >= n) {
            *err_offset = i;
            return false;
        }
        char e = text[i + 1];
        switch (e) {
            case 'n': out->push_back('\n'); i += 2; break;
            case 't': out->push_back('\t'); i += 2; break;
            case 'r': out->push_back('\r'); i += 2; break;
            case '\\': out->push_back('\\'); i += 2; break;
            case '\'': out->push_back('\''); i += 2; break;
            case '"': out->push_back('"'); i += 2; break;
            case 'x': {
                int hi = i + 2 < n ? hex_value(text[i + 2]) : -1;
                int lo = i + 3 < n ? hex_value(text[i + 3]) : -1;
                if (hi < 0 || lo < 0) {
                    *err_offset = i;
                    return false;
                }
                out->push_back((char)(hi * 16 + lo));
                i += 4;
                break;
            }
            default:
                *err_offset = i;
                return false;
        }
    }
    return true;
}

// A token text made printable for an error message (at most ~60 characters).
static std::string printable(std::string_view s) {
    std::string r;
    for (size_t i = 0; i < s.size() && r.size() < 60; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f) r.push_back((char)c);
        else r += strprintf("\\x%02x", c);
    }
    if (r.size() >= 60) r += "...";
    return r;
}

static bool is_pad_text(std::string_view t) {
    // "[PAD<digits>]", as llama.cpp pads the vocabulary to the embedding size.
    if (t.size() < 6 || t.compare(0, 4, "[PAD") != 0 || t.back() != ']') return false;
    for (size_t i = 4; i + 1 < t.size(); i++)
        if (t[i] < '0' || t[i] > '9') return false;
    return true;
}

// ---------------------------------------------------------------------------
// Trie construction. The matchable ids are sorted by their bytes; then all
// tokens below a node form one contiguous run that shares the node's prefix,
// and the run splits into one sub-run per child byte. Building recursively
// from the sorted runs gives every node's edges in one contiguous, sorted
// block without any per-node containers. Depth is bounded by the longest
// token (128 bytes for the world vocabulary).

static int32_t build_node(WorldTokenizer* tok, const std::vector<int32_t>& ids, size_t lo, size_t hi, size_t depth) {
    const int32_t node = (int32_t)tok->nodes.size();
    tok->nodes.push_back(WorldTrieNode{-1, -1, 0, 0});

    // The token equal to the prefix itself sorts first in its run.
    if (lo < hi && tok->token_bytes[ids[lo]].size() == depth) {
        tok->nodes[node].token = ids[lo];
        lo++;
    }

    // Count the distinct next bytes and reserve this node's edge block.
    uint32_t n_children = 0;
    for (size_t k = lo; k < hi; k++)
        if (k == lo || tok->token_bytes[ids[k]][depth] != tok->token_bytes[ids[k - 1]][depth]) n_children++;
    const uint32_t edge_begin = (uint32_t)tok->edge_label.size();
    tok->nodes[node].edge_begin = edge_begin;
    tok->nodes[node].n_edges = n_children;
    tok->edge_label.resize(edge_begin + n_children);
    tok->edge_child.resize(edge_begin + n_children);

    uint32_t e = edge_begin;
    size_t k = lo;
    while (k < hi) {
        const char b = tok->token_bytes[ids[k]][depth];
        size_t end = k + 1;
        while (end < hi && tok->token_bytes[ids[end]][depth] == b) end++;
        tok->edge_label[e] = (uint8_t)b;
        int32_t child = build_node(tok, ids, k, end, depth + 1);
        tok->edge_child[e] = child;
        e++;
        k = end;
    }

    if (n_children >= DENSE_MIN_CHILDREN) {
        const size_t d = tok->dense.size() / 256;
        tok->dense.resize(tok->dense.size() + 256, 0);
        for (uint32_t j = edge_begin; j < edge_begin + n_children; j++)
            tok->dense[d * 256 + tok->edge_label[j]] = tok->edge_child[j];
        tok->nodes[node].dense = (int32_t)d;
    }
    return node;
}

// The child of node `nd` along byte b, or 0 (the root is nobody's child).
static inline int32_t trie_child(const WorldTokenizer* tok, const WorldTrieNode* nd, uint8_t b) {
    if (nd->dense >= 0) return tok->dense[(size_t)nd->dense * 256 + b];
    const uint8_t* lab = tok->edge_label.data() + nd->edge_begin;
    for (uint32_t k = 0; k < nd->n_edges; k++) {
        if (lab[k] == b) return tok->edge_child[nd->edge_begin + k];
        if (lab[k] > b) break;  // labels are sorted
    }
    return 0;
}

void world_tokenizer_init(WorldTokenizer* tok, const std::vector<std::string_view>& escaped_texts,
                          const int32_t* token_types, size_t n_types, bool byte_level) {
    *tok = WorldTokenizer();
    const bool identity = byte_level && escaped_texts.empty();
    const size_t n = identity ? 256 : escaped_texts.size();
    if (n > (size_t)INT32_MAX) rwkv_fail("tokenizer: %zu tokens is more than an int32 id can hold", n);
    if (n == 0) rwkv_fail("tokenizer: the vocabulary is empty");
    if (token_types && n_types != 0 && n_types != n && !identity)
        rwkv_fail("tokenizer: %zu token types for %zu tokens", n_types, n);
    if (byte_level && n != 256)
        rwkv_fail("tokenizer: a byte-level vocabulary has 256 tokens, this one has %zu", n);
    const bool have_types = token_types && n_types != 0 && !byte_level;

    tok->n_vocab = (int32_t)n;
    tok->byte_level = byte_level;
    tok->token_bytes.assign(n, std::string());
    tok->matchable.assign(n, 0);

    std::vector<int32_t> ids;
    ids.reserve(n);
    for (size_t i = 0; i < n; i++) {
        const int32_t id = (int32_t)i;
        std::string* bytes = &tok->token_bytes[i];
        if (identity) {
            bytes->push_back((char)i);
        } else {
            const std::string_view text = escaped_texts[i];
            bool normal;
            if (byte_level) normal = true;                   // token i is byte i, even 0
            else if (id == 0) normal = false;                // "<s>": end-of-text
            else if (have_types) normal = token_types[i] == 1;
            else normal = !is_pad_text(text);
            if (!normal) continue;

            size_t err = 0;
            if (!world_unescape_token(text, bytes, &err))
                rwkv_fail("tokenizer: token %d \"%s\": malformed escape at offset %zu", id,
                          printable(text).c_str(), err);
            if (bytes->empty()) rwkv_fail("tokenizer: token %d is a normal token with empty text", id);
            if (byte_level && (bytes->size() != 1 || (unsigned char)(*bytes)[0] != i))
                rwkv_fail("tokenizer: byte-level token %d \"%s\" is not the single byte 0x%02x", id,
                          printable(text).c_str(), (unsigned)i);
        }
        tok->matchable[i] = 1;
        ids.push_back(id);
        if (bytes->size() > tok->max_token_len) tok->max_token_len = bytes->size();
    }

    // Sort by bytes (std::string compares as unsigned char), ties by id so the
    // duplicate error is deterministic.
    std::sort(ids.begin(), ids.end(), [tok](int32_t a, int32_t b) {
        int c = tok->token_bytes[a].compare(tok->token_bytes[b]);
        return c != 0 ? c < 0 : a < b;
    });
    for (size_t k = 1; k < ids.size(); k++)
        if (tok->token_bytes[ids[k]] == tok->token_bytes[ids[k - 1]])
            rwkv_fail("tokenizer: tokens %d and %d have the same bytes \"%s\"", ids[k - 1], ids[k],
                      printable(tok->token_bytes[ids[k]]).c_str());

    build_node(tok, ids, 0, ids.size(), 0);

    // Every byte must be a token by itself, or some inputs could not be
    // encoded at all; better to refuse the vocabulary now than to fail (or
    // silently skip bytes) in the middle of a prompt.
    for (int b = 0; b < 256; b++) {
        int32_t child = trie_child(tok, &tok->nodes[0], (uint8_t)b);
        if (child == 0 || tok->nodes[child].token < 0)
            rwkv_fail("tokenizer: no token for the single byte 0x%02x, so some text could not be encoded", b);
    }
}

// ---------------------------------------------------------------------------
// Encoding: greedy longest match. From the current position walk down the trie
// byte by byte, remembering the last node that ended a token; when the walk
// falls off the trie (or the input ends) emit that token and restart right
// after it. The walk may go past the best match (e.g. "abc" is a prefix of a
// token "abcd" but the input says "abce"), and the bytes past the match are
// then re-read from the next position: no backtracking search, because
// greedy never reconsiders a choice - that is the reference behaviour.
// Cost: about one trie step per input byte plus the overshoot; ~100 MB/s on
// English text and source code.

void world_tokenizer_encode(const WorldTokenizer* tok, const uint8_t* bytes, size_t n, std::vector<int32_t>* out) {
    const WorldTrieNode* nodes = tok->nodes.data();
    size_t pos = 0;
    while (pos < n) {
        const WorldTrieNode* nd = nodes;
        int32_t best = -1;
        size_t best_end = pos;
        for (size_t i = pos; i < n; i++) {
            int32_t child = trie_child(tok, nd, bytes[i]);
            if (child == 0) break;
            nd = nodes + child;
            if (nd->token >= 0) {
                best = nd->token;
                best_end = i + 1;
            }
        }
        // init guarantees every single byte is a token, so best >= 0 here.
        out->push_back(best);
        pos = best_end;
    }
}

const std::string& world_tokenizer_token_bytes(const WorldTokenizer* tok, int32_t id) {
    if (id < 0 || id >= tok->n_vocab)
        rwkv_fail("tokenizer: token id %d is outside the vocabulary (0..%d)", id, tok->n_vocab - 1);
    return tok->token_bytes[(size_t)id];
}

void world_tokenizer_decode(const WorldTokenizer* tok, const int32_t* ids, size_t n, std::string* out) {
    for (size_t i = 0; i < n; i++) out->append(world_tokenizer_token_bytes(tok, ids[i]));
}

// ---------------------------------------------------------------------------
// UTF-8 streaming. Valid UTF-8 (RFC 3629) lead bytes and the allowed range of
// the byte right after them:
//   00..7F          1 byte
//   C2..DF  80..BF  2 bytes   (C0, C1 would be overlong)
//   E0      A0..BF  3 bytes   (80..9F would be overlong)
//   E1..EC  80..BF  3 bytes
//   ED      80..9F  3 bytes   (A0..BF would be a UTF-16 surrogate)
//   EE..EF  80..BF  3 bytes
//   F0      90..BF  4 bytes   (80..8F would be overlong)
//   F1..F3  80..BF  4 bytes
//   F4      80..8F  4 bytes   (90..BF would be above U+10FFFF)
// Later continuation bytes are always 80..BF. Checking the second byte this
// strictly means a held prefix is always the start of some valid character,
// so holding it back is never a mistake.

static inline uint8_t utf8_len_from_lead(uint8_t b) {
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xF0 && b <= 0xF4) return 4;
    return 0;  // continuation byte or a lead byte that can never be valid
}

static inline bool utf8_continuation_ok(uint8_t lead, uint8_t pos, uint8_t b) {
    uint8_t lo = 0x80, hi = 0xBF;
    if (pos == 1) {
        if (lead == 0xE0) lo = 0xA0;
        else if (lead == 0xED) hi = 0x9F;
        else if (lead == 0xF0) lo = 0x90;
        else if (lead == 0xF4) hi = 0x8F;
    }
    return b >= lo && b <= hi;
}

void utf8_stream_push(Utf8Stream* s, const char* bytes, size_t n, std::string* out) {
    size_t i = 0;
    while (i < n) {
        const uint8_t b = (uint8_t)bytes[i];
        if (s->n_held) {
            if (utf8_continuation_ok((uint8_t)s->held[0], s->n_held, b)) {
                s->held[s->n_held++] = (char)b;
                if (s->n_held == s->need) {
                    out->append(s->held, s->n_held);
                    s->n_held = 0;
                }
                i++;
                continue;
            }
            // The held prefix can never complete: pass it through unchanged
            // and look at b afresh (it may start a new character).
            out->append(s->held, s->n_held);
            s->n_held = 0;
        }
        if (b < 0x80) {  // a run of ASCII goes out in one append
            size_t end = i + 1;
            while (end < n && (uint8_t)bytes[end] < 0x80) end++;
            out->append(bytes + i, end - i);
            i = end;
            continue;
        }
        const uint8_t len = utf8_len_from_lead(b);
        if (len == 0) {
            out->push_back((char)b);  // invalid wherever it stands
        } else {
            s->held[0] = (char)b;
            s->n_held = 1;
            s->need = len;
        }
        i++;
    }
}

void utf8_stream_flush(Utf8Stream* s, std::string* out) {
    out->append(s->held, s->n_held);
    s->n_held = 0;
    s->need = 0;
}
