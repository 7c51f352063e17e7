// rwkv.h - running a model: the recurrent state and the forward pass.
//
// An RWKV model is an RNN: everything it remembers of the text so far is in a
// fixed-size state (per layer: the previous token's normalised input to
// time-mix and to channel-mix, and one N x N WKV matrix per head). Feeding
// tokens updates the state and yields logits; there is no KV cache and the
// cost per token does not grow with the text.
//
//   RwkvContext ctx;                                // working memory and threads
//   rwkv_context_init(&ctx, &model);
//   RwkvState state;                                // one sequence's memory
//   rwkv_state_init(&state, &model);
//   rwkv_eval(&ctx, &state, tokens, n, logits, nullptr);  // prompt, in sequence mode
//   rwkv_eval(&ctx, &state, &next, 1, logits, nullptr);   // then one token at a time
//
// Many sequences share one pass over the weights with rwkv_eval_batch: each
// has its own state, and the rows of all of them go through every matrix
// product together, so B sequences cost little more than one while the
// weights, not the arithmetic, bound the time.
#pragma once

#include <cstdint>
#include <new>
#include <vector>

#include "model.h"
#include "parallel.h"
#include "threads.h"

// float storage on 64-byte boundaries (a cache line, a 512-bit vector). The
// engine's arrays are rows of C floats (C a multiple of 16) laid end to end,
// so every row, every head's slice of a row and every head's N x N state
// starts on a line: vector loads do not straddle two lines, and two threads
// writing neighbouring heads or output columns never share a line. (A plain
// std::vector's large buffers start 16 bytes into a line.)
template <class T>
struct LineAllocator {
    typedef T value_type;
    LineAllocator() = default;
    template <class U>
    LineAllocator(const LineAllocator<U>&) {}
    T* allocate(size_t n) { return (T*)::operator new(n * sizeof(T), std::align_val_t(64)); }
    void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
    template <class U>
    bool operator==(const LineAllocator<U>&) const { return true; }
    template <class U>
    bool operator!=(const LineAllocator<U>&) const { return false; }
};
typedef std::vector<float, LineAllocator<float>> LineFloats;

// The recurrent state, float32, laid out layer after layer:
//   att_shift[C]  ffn_shift[C]  wkv[H][N][N]
// Each head's N x N matrix is S[value][key] for RWKV-7 (a map from keys to
// values, y = S r) and S[key][value] for RWKV-5/6 (the official order there,
// y = r S), so each kernel walks its state row by row.
struct RwkvState {
    int64_t n_layer = 0, n_embd = 0, n_head = 0, head_size = 0;
    LineFloats data;
};

void rwkv_state_init(RwkvState* s, const Model* m);  // zeroed
void rwkv_state_reset(RwkvState* s);                 // back to zeros
int64_t rwkv_state_layer_size(const RwkvState* s);
float* rwkv_state_att_shift(RwkvState* s, int64_t layer);
float* rwkv_state_ffn_shift(RwkvState* s, int64_t layer);
float* rwkv_state_wkv(RwkvState* s, int64_t layer);

// The rows of one pass, grouped by sequence: sequence b owns rows
// [row0[b], row0[b + 1]) and continues from *state[b]. Token mode is one
// sequence of one row; a batched decoding step is n_seq sequences of one row.
struct RwkvPass {
    int64_t n_seq = 0, T = 0;
    std::vector<RwkvState*> state;    // [n_seq]
    std::vector<int64_t> row0;        // [n_seq + 1]
    std::vector<int32_t> seq_of_row;  // [T]
    std::vector<int32_t> tokens;      // [T]
    std::vector<float*> logits_last;  // [n_seq]: n_vocab logits after the sequence's last row, or null
    std::vector<float*> logits_all;   // [n_seq]: a row of logits per row, or null
};

// Working memory for up to max_tokens rows per pass, allocated once so that
// the forward pass itself never allocates. Each view is max_tokens rows,
// named by what it holds; a view holds one thing at a time, within one block
// (time-mix or channel-mix) of one layer, except x and v_first, which carry
// across layers.
struct RwkvScratch {
    int64_t max_tokens = 0;
    LineFloats buf;
    // n_embd per row
    float* x;        // the residual stream
    float* xn;       // the block's layer norm of x
    float* dx;       // token shift: xn[t-1] - xn[t]
    float *xr, *xw, *xk, *xv, *xa, *xg;  // token-shift mixes, the inputs of the projections named
    float* xx;       // RWKV-6: the static mix that feeds the mix LoRAs
    float *r, *w, *k, *v, *a, *g;        // receptance, decay, key, value, in-context rate, gate
    float* kk;       // RWKV-7: the normalised removal key
    float* v_mix;    // RWKV-7: the value-residual LoRA's output, before its sigmoid
    float* y;        // the WKV output, then normed and gated
    float* v_first;  // RWKV-7: layer 0's values, for the value residual of later layers
    float* proj;     // the block's output projection, before it is added to x
    float* lora;     // LoRA hidden rows (the widest any layer needs)
    float* ffn;      // channel-mix hidden rows, n_ffn each
    // The head's logits for a pass's last rows, head_rows at a time
    // (kHeadRows), before they go to each sequence's own buffer.
    LineFloats head_out;
    RwkvPass pass;
    ThreadPool* pool;   // the context's pool (matmul rows are split over it)
    MatmulScratch mm;   // activations quantized for Q8_0/Q4_0 weights
};

// What one sequence's state is not: the scratch and threads a forward pass
// works with. Any number of states can be run through one context.
struct RwkvContext {
    const Model* model = nullptr;
    RwkvScratch scratch;
    ThreadPool* pool = nullptr;  // owned
    ~RwkvContext();
};

// Tokens per sequence-mode pass unless a caller picks another size: the
// largest power of two in [64, 512] whose scratch fits in 32 MiB - 256 at the
// 0.1B and 0.4B shapes, 128 at 1.5B. A longer chunk spreads each matrix
// product's fixed costs (the Q8_0/Q4_0 weight panels are transposed once
// per product, the pool woken once) over more tokens: pp512 -t 2, 256
// against 128, 0.1B Q8_0 +8%, F16 +4%, 0.4B Q4_0 +7%, F32 +3%. The scratch
// grows with it, and generate's peak memory is to stay within the model
// file + 64 MB.
int64_t rwkv_default_chunk(const Model* m);

// Memory: one sequence's state, and a context's working memory (scratch and
// the head's rows) for passes of max_chunk rows. B sequences at once need
// one context and B states: nothing else grows with B.
int64_t rwkv_state_bytes(const Model* m);
int64_t rwkv_context_bytes(const Model* m, int64_t max_chunk);

// max_chunk: rows (tokens, of all sequences together) processed in one pass
// (a longer prompt is cut into chunks of this size). n_threads: the pool's
// size (0 = one per physical core). Logits do not depend on either.
void rwkv_context_init(RwkvContext* ctx, const Model* m, int64_t max_chunk = 64, int n_threads = 1);

// Feed n tokens (n >= 1) to one sequence. If logits_last is not null it
// receives the n_vocab logits after the last token; if logits_all is not null
// it receives n rows of n_vocab logits, row t after token t. Token ids are
// checked against the vocabulary (rwkv_fail on a bad id).
void rwkv_eval(RwkvContext* ctx, RwkvState* state, const int32_t* tokens, int64_t n, float* logits_last,
               float* logits_all);

// One sequence's part of a batched step: its state, the tokens to feed it
// (n >= 1), and where its logits go (as for rwkv_eval; either may be null).
struct RwkvSeq {
    RwkvState* state;
    const int32_t* tokens;
    int64_t n;
    float* logits_last;
    float* logits_all;
};

// Feed every sequence its tokens, together: passes of up to max_chunk rows
// taken from the sequences in order, each layer's products over all of a
// pass's rows at once. Each sequence's logits and state are bit for bit those
// that rwkv_eval gives it alone (every row's arithmetic is the same whatever
// rows share its pass). The states must be distinct.
void rwkv_eval_batch(RwkvContext* ctx, const RwkvSeq* seqs, int64_t n_seq);

// The per-architecture forward passes over one pass (sc->pass, T <=
// scratch.max_tokens), which rwkv_eval_batch dispatches to: rwkv7.cpp,
// rwkv6.cpp, rwkv5.cpp.
void rwkv5_forward(const Model* m, RwkvScratch* sc);
void rwkv6_forward(const Model* m, RwkvScratch* sc);
void rwkv7_forward(const Model* m, RwkvScratch* sc);
