// generation.h - one sequence being generated, a step at a time.
//
// The loop that generate, chat, batch and serve share: sample a token from
// the logits, append its text (UTF-8 safe, never showing a stop string), feed
// it back so the state holds everything written, repeat. It is cut into steps
// so that many sequences advance together: gen_step runs one step of every
// sequence it is given through one rwkv_eval_batch, prompts (prefill) and
// replies (decode) side by side. A sequence's text depends only on its own
// prompt, state and sampling options, never on what shares its steps: the
// batched forward pass gives each row the bits it gets alone.
//
//   GenSeq s;
//   gen_init(&s, &model, &tok, params);
//   gen_set_prompt(&s, tokens);          // at least one token
//   while (s.phase != GEN_DONE) {
//       GenSeq* one = &s;
//       gen_step(&ctx, &one, 1);
//       print s.text from where the last step ended
//   }
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../tokenizer/world.h"
#include "rwkv.h"
#include "sampler.h"

struct GenParams {
    SamplerParams sampling;
    int64_t n_predict = 128;        // at most this many generated tokens
    std::vector<std::string> stop;  // stop strings (empty ones are ignored); the text ends before the first match
    std::vector<std::pair<int32_t, float>> logit_bias;  // added to these tokens' logits before sampling (OpenAI's logit_bias)
};

enum GenPhase { GEN_PREFILL, GEN_DECODE, GEN_DONE };

enum GenFinish {
    GEN_RUNNING,
    GEN_LENGTH,     // n_predict tokens generated
    GEN_STOP,       // a stop string was generated (not in text)
    GEN_EOT,        // the model chose token 0, end of text (not fed, not in text)
    GEN_CANCELLED,  // gen_cancel
    GEN_ERROR,      // the model produced a non-finite logit; `error` says where
};

// Holds back text that might be the start of a stop string, so that no stop
// string is ever emitted; with one stop string it is what generate always did.
struct StopFilter {
    std::vector<std::string> stops;
    std::string pending;
    bool stopped = false;
};

struct GenSeq {
    const Model* model = nullptr;
    const WorldTokenizer* tok = nullptr;
    GenParams params;
    RwkvState state;
    Sampler sampler;
    std::vector<float> logits;  // n_vocab: the logits after the last token fed (valid in GEN_DECODE)

    std::vector<int32_t> prompt;  // tokens to feed before generating
    int64_t n_prompt_fed = 0;
    std::vector<int32_t> generated;  // every generated token, each fed once sampled
    std::string text;                // the generated text emitted so far (grows; never shrinks)

    GenPhase phase = GEN_DONE;
    GenFinish finish = GEN_RUNNING;
    std::string error;

    // between the sampling and the feeding of a step
    int32_t next = -1;
    Utf8Stream utf8;
    StopFilter filter;
};

// A fresh sequence: zero state, the sampler seeded, nothing to feed yet.
void gen_init(GenSeq* s, const Model* m, const WorldTokenizer* tok, const GenParams& p);
// Queue prompt tokens (at least one) to feed before generating; the state
// continues from wherever it is (a loaded state, an earlier reply).
void gen_set_prompt(GenSeq* s, const int32_t* tokens, int64_t n);
// Stop a sequence between steps: its text so far stays, the rest is dropped.
void gen_cancel(GenSeq* s);

// One step of every sequence not yet done: decoding sequences sample and feed
// one token each; prefilling ones feed up to what is left of a budget of
// ctx->scratch.max_tokens rows (taken in the order given, after the decoding
// ones). Sequences in GEN_DONE are skipped. Text is appended to each
// sequence's `text`.
void gen_step(RwkvContext* ctx, GenSeq* const* seqs, int64_t n_seq);

// "stop" for GEN_STOP and GEN_EOT, "length" for GEN_LENGTH (the OpenAI and
// llama.cpp names), "cancelled", "error".
const char* gen_finish_name(GenFinish f);
