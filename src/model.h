// model.h - a model is a GGUF file's bytes plus plain pointers laid over them.
//
// model_load() maps or copies the file (gguf.h: GGUF_COPY for running it,
// GGUF_MAP for a look at it), detects the architecture from
// `general.architecture`, checks that every tensor the architecture needs is
// present with the right shape and a supported type, and binds them into the
// weights struct below. No weight is converted (1-D F32 vectors and matrices
// are used in place); only 1-D vectors stored in 16 bits are widened into a small
// owned buffer, because the element-wise code reads them as float32.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf.h"

// The value is the generation; it is also what state files store (state_file.h).
enum Arch { ARCH_RWKV5 = 5, ARCH_RWKV6 = 6, ARCH_RWKV7 = 7 };

// A matrix of n_out rows of n_in elements. `type` is how the file stores it
// (its bytes per row); `layout` is how its bytes are arranged now, the index
// of its kernel in kern.matmul (kernels/kernels.h): the same type, or the
// KernelType a --no-mmap copy was rearranged into (repack).
struct Matrix {
    const void* data;
    uint32_t type;    // GgmlType
    uint32_t layout;  // GgmlType or KernelType
    int64_t n_in, n_out;
};

// A matrix in the file's own layout (null data: absent).
inline Matrix matrix_in_file(const void* data, uint32_t type, int64_t n_in, int64_t n_out) {
    return Matrix{data, type, type, n_in, n_out};
}

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

// RWKV-5.2 ("Eagle", architecture "rwkv5") and RWKV-6 ("Finch", "rwkv6"):
// one struct, as v6 is v5.2 plus two LoRAs; the v6-only fields are null
// (Matrix data null) in a v5 model. Names follow the official ones
// (docs/math.md has the GGUF names). Every token-shift mix is a lerp,
// x + (x_prev - x) * mu, as in RWKV-7 (for v5, mu = 1 - time_mix, stored so by
// the converter).
struct Rwkv56Layer {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    // time-mix token shift: v6 first mixes with x_x, then adds a LoRA of that
    // mix to each of x_w .. x_g (v5: x_x and x_w are null)
    const float *x_x, *x_w, *x_k, *x_v, *x_r, *x_g;
    Matrix mix_w1;     // v6 time_maa_w1: C -> 5 * lora_mix (then tanh)
    Matrix mix_w2[5];  // v6 time_maa_w2: lora_mix -> C, one per mix in the order w, k, v, r, g
    // time_decay: the decay is w = exp(-exp(decay + LoRA)) per token (v5: no
    // LoRA, so the same w for every token)
    const float* decay;
    Matrix decay_w1, decay_w2;  // v6 decay LoRA: C -> lora_w (tanh) -> C
    const float* first;         // u = time_faaaa, the bonus of the current token, [H][N]
    Matrix receptance, key, value, gate, output;
    const float *lnx_w, *lnx_b;  // group norm of the WKV output
    // channel-mix: lerps, then sigmoid(Wr xr) * (Wv relu(Wk xk)^2)
    const float *ffn_x_k, *ffn_x_r;
    Matrix ffn_key, ffn_receptance, ffn_value;
};

struct Model {
    GgufFile file;
    Arch arch;
    std::string arch_name;
    int64_t n_vocab, n_embd, n_layer, n_ffn;
    int64_t head_size, n_head;
    int64_t lora_w, lora_a, lora_v, lora_g;  // LoRA ranks (decay, iclr, value residual, gate)
    int64_t lora_mix;                       // v6: token-shift LoRA rank per mix (0 otherwise)
    int64_t rescale_every;                  // v5/v6: x is halved after every n-th layer (0 = never)
    float ln_eps;                           // layer norm epsilon
    // The WKV output's group norm epsilon: 64e-5, as the official models use
    // it (RWKV-5/6 training normalises y / 8 with eps 1e-5, which is y with
    // eps 1e-5 * 8^2; RWKV-7 uses 64e-5 itself).
    float gn_eps;

    Matrix token_embd;  // n_vocab rows of n_embd
    const float *ln0_w, *ln0_b;
    const float *ln_out_w, *ln_out_b;
    Matrix head;  // n_vocab rows of n_embd
    std::vector<Rwkv7Layer> layers;      // RWKV-7
    std::vector<Rwkv56Layer> v56_layers;  // RWKV-5.2, RWKV-6

    // tokenizer metadata, as stored in the file
    std::vector<std::string_view> token_texts;
    std::vector<int32_t> token_types;
    bool byte_level;  // 256 tokens, token id = byte value

    std::vector<std::vector<float>> owned;  // 1-D vectors widened from F16/BF16
};

// Load and validate; on any problem fails (rwkv_fail) with a message naming
// the file and the tensor or key at fault.
void model_load(Model* m, const char* path, GgufLoadMode mode = GGUF_MAP);
void model_free(Model* m);

// Every matrix a token's forward pass multiplies by, layer by layer and then
// the head (RWKV-7's layer-0 value-residual LoRA, which the pass skips, left
// out; so are the absent matrices of a v5 model).
std::vector<Matrix*> model_matrices(Model* m);

// Number of parameters, and a short type summary such as "F16" or "F32+F16".
int64_t model_n_params(const Model* m);
std::string model_type_summary(const Model* m);
