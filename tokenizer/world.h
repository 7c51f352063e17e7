// world.h - the RWKV "world" tokenizer: greedy longest match over bytes.
//
// The world vocabulary (65,536 ids) is a flat list of byte strings. Encoding
// walks the input left to right and, at each position, takes the LONGEST
// vocabulary entry that is a prefix of the remaining bytes. That is exactly what
// BlinkDL's reference TRIE_TOKENIZER does, and the models were trained on its
// output, so we must reproduce it bit for bit: no merges, no pre-splitting on
// whitespace, no Unicode normalisation. Greedy longest match is not "optimal"
// (it can produce more tokens than the shortest possible segmentation), but any
// other segmentation would feed the model token sequences it never saw.
//
// Every single byte is a token, so every byte string (invalid UTF-8 and NUL
// bytes included) can be encoded, and decode(encode(x)) == x always.
//
// The vocabulary comes from GGUF metadata as llama.cpp writes it:
//   tokenizer.ggml.tokens      strings; id 0 is "<s>" (end-of-text, never
//                              produced by encode), then each token as Python's
//                              repr(bytes)[2:-1] (\n \t \r \\ \' \" \xHH escapes),
//                              then "[PADn]" fillers up to the embedding size.
//   tokenizer.ggml.token_type  int32 per token: 1 normal, 3 control, 5 unused.
//                              Only normal tokens are ever matched.
//
// A byte-level model (rwkv.cpp's tiny test model) has 256 tokens where token i
// IS byte i, including i == 0: that needs the explicit byte_level mode, because
// in a world vocabulary id 0 is end-of-text.
//
// Conventions: plain struct + free functions; every output std::string /
// std::vector is APPENDED to (never cleared), so callers can reuse buffers and
// nothing is allocated once they have grown. Errors go through rwkv_fail().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// One trie node. The trie is over bytes: the path from the root to a node
// spells a byte string; `token` is the id whose bytes are exactly that string
// (or -1). A node's children are the edges [edge_begin, edge_begin + n_edges)
// sorted by label; nodes with many children (the root, and prefixes like " "
// or "\xe4") additionally get a 256-entry direct table so the hot loop does
// not scan or binary-search them.
struct WorldTrieNode {
    int32_t token;        // id ending here, or -1
    int32_t dense;        // index of this node's 256-entry table in `dense`, or -1
    uint32_t edge_begin;  // first edge in edge_label / edge_child
    uint32_t n_edges;     // number of children (0..256)
};

struct WorldTokenizer {
    int32_t n_vocab = 0;      // number of ids (matchable or not)
    bool byte_level = false;  // token i is byte i (vocab of 256), id 0 included
    size_t max_token_len = 0; // longest matchable token, in bytes

    // id -> the token's bytes. Empty for tokens that are never matched (the
    // world vocabulary's "<s>", [PADn], any non-normal type): decoding them
    // prints nothing.
    std::vector<std::string> token_bytes;
    std::vector<uint8_t> matchable;  // id -> 1 if encode can produce it

    // The trie (node 0 is the root, which is never anybody's child, so 0 in
    // `dense` means "no child").
    std::vector<WorldTrieNode> nodes;
    std::vector<uint8_t> edge_label;
    std::vector<int32_t> edge_child;
    std::vector<int32_t> dense;  // 256 child indices per dense node, 0 = none
};

// Build the tokenizer.
//   escaped_texts  the GGUF token strings, index = id.
//   token_types    tokenizer.ggml.token_type (n_types entries, one per id), or
//                  nullptr/0: then every token is normal except id 0 and texts
//                  of the form "[PAD<digits>]".
//   byte_level     a 256-token byte vocabulary: every id 0..255 is normal and
//                  must unescape to the single byte equal to its id; types are
//                  ignored. With byte_level and an EMPTY escaped_texts the
//                  identity byte vocabulary is built directly.
// Fails (rwkv_fail, message naming the token id) on: a malformed escape, an
// empty normal token, two normal tokens with the same bytes, n_types not equal
// to the number of texts, more than INT32_MAX tokens, or a byte value that no
// single-byte normal token covers (then some inputs could not be encoded).
// Any token text bytes that are not a backslash are taken literally.
void world_tokenizer_init(WorldTokenizer* tok, const std::vector<std::string_view>& escaped_texts,
                          const int32_t* token_types, size_t n_types, bool byte_level);

// Append the ids of bytes[0..n) to *out. Never fails, never produces id 0 in
// world mode (it does in byte-level mode, for the byte 0x00).
void world_tokenizer_encode(const WorldTokenizer* tok, const uint8_t* bytes, size_t n, std::vector<int32_t>* out);

// The bytes of one id (empty for "<s>", [PADn] and other non-normal tokens).
// Fails if id is outside [0, n_vocab).
const std::string& world_tokenizer_token_bytes(const WorldTokenizer* tok, int32_t id);

// Append the bytes of ids[0..n) to *out. Fails on an out-of-range id.
void world_tokenizer_decode(const WorldTokenizer* tok, const int32_t* ids, size_t n, std::string* out);

// Unescape one token text (Python repr(bytes)[2:-1] form) into *out (appended).
// Returns false on a malformed escape and sets *err_offset to the offset of
// the offending backslash. Exposed for tests and tools.
bool world_unescape_token(std::string_view text, std::string* out, size_t* err_offset);

// ---------------------------------------------------------------------------
// Utf8Stream: turn a stream of token bytes into printable chunks.
//
// A multibyte UTF-8 character is often split across tokens (the world
// vocabulary has single-byte tokens like 0xE4 for the first byte of a CJK
// character). Printing each token's bytes as they arrive would write half a
// character, which a terminal renders as a replacement glyph, and the next
// write would not repair it. So the stream holds back an incomplete tail until
// it completes. It never drops or replaces bytes: a byte that can never become
// part of valid UTF-8 (a stray continuation byte, C0/C1/F5..FF, a bad
// continuation, an overlong or surrogate or >U+10FFFF prefix) is emitted as
// it is, as soon as it is known to be invalid; flush() emits whatever is still
// held (a truncated tail at the end of generation). Concatenating every push
// output and the flush output gives exactly the input bytes.
struct Utf8Stream {
    char held[4] = {0, 0, 0, 0};  // an incomplete, so-far valid sequence
    uint8_t n_held = 0;
    uint8_t need = 0;             // total length of the held sequence
};

// Append to *out the bytes that are now safe to print.
void utf8_stream_push(Utf8Stream* s, const char* bytes, size_t n, std::string* out);
// Append whatever is held (the stream is then empty and reusable).
void utf8_stream_flush(Utf8Stream* s, std::string* out);
