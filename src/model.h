// model.h - a model is a mapped GGUF file plus plain pointers laid over it.
//
// model_load() maps the file, detects the architecture from
// `general.architecture`, checks that every tensor the architecture needs is
// present with the right shape and a supported type, and binds them into the
// weights struct below. No weight is copied (1-D F32 vectors and matrices are
// used in place); only 1-D vectors stored in 16 bits are widened into a small
// owned buffer, because the element-wise code reads them as float32.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf.h"

enum Arch { ARCH_RWKV7 = 7 };

// A matrix of n_out rows of n_in elements, in the file's weight type.
// y = W x is the matmul kernel for `type` (kernels/kernels.h).
struct Matrix {
    const void* data;
    uint32_t type;  // GgmlType
    int64_t n_in, n_out;
};

struct Rwkv7Layer {
    // layer norms before time-mix (ln1) and channel-mix (ln2)
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    // time-mix: token-shift mixes, one per projection input
    const float *x_r, *x_w, *x_k, *x_v, *x_a, *x_g;
    // decay, in-context learning rate, value residual: bias + LoRA (down, up)
    const float *w0, *a0, *v0;
    Matrix w1, w2, a1, a2, v1, v2, g1, g2;
    // removal key scale, key scale by a, bonus per head
    const float *k_k, *k_a, *r_k;
    Matrix receptance, key, value, output;
    const float *lnx_w, *lnx_b;  // group norm of the WKV output
    // channel-mix
    const float* ffn_x_k;
    Matrix ffn_key, ffn_value;
};

struct Model {
    GgufFile file;
    Arch arch;
    std::string arch_name;
    int64_t n_vocab, n_embd, n_layer, n_ffn;
    int64_t head_size, n_head;
    int64_t lora_w, lora_a, lora_v, lora_g;  // LoRA ranks (decay, iclr, value residual, gate)
    float ln_eps;                           // layer norm epsilon (group norm uses 64e-5)

    Matrix token_embd;  // n_vocab rows of n_embd
    const float *ln0_w, *ln0_b;
    const float *ln_out_w, *ln_out_b;
    Matrix head;  // n_vocab rows of n_embd
    std::vector<Rwkv7Layer> layers;

    // tokenizer metadata, as stored in the file
    std::vector<std::string_view> token_texts;
    std::vector<int32_t> token_types;
    bool byte_level;  // 256 tokens, token id = byte value

    std::vector<std::vector<float>> owned;  // 1-D vectors widened from F16/BF16
};

// Load and validate; on any problem fails (rwkv_fail) with a message naming
// the file and the tensor or key at fault.
void model_load(Model* m, const char* path);
void model_free(Model* m);

// Number of parameters, and a short type summary such as "F16" or "F32+F16".
int64_t model_n_params(const Model* m);
std::string model_type_summary(const Model* m);
