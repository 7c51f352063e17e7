// model.cpp - architecture detection and binding tensors to the weights struct.
#include "model.h"

#include <cmath>
#include <cstring>
#include <set>

#include "../kernels/kernels.h"
#include "common.h"

namespace {

// Tensor lookup with shape checks; every message names the file and tensor.
// Which types are supported is read from the scalar kernel table: every
// faster path supports the same types, so loading never depends on which
// path is active (or whether one has been chosen yet).
struct Binder {
    Model* m;
    Kernels scalar;
    explicit Binder(Model* model) : m(model) { kernels_fill_scalar(&scalar); }

    std::string supported_types() const {  // the weight types the kernels multiply, by name
        std::string s;
        for (uint32_t t = 0; t < GGML_TYPE_COUNT; t++)
            if (scalar.matmul[t]) s += std::string(s.empty() ? "" : ", ") + ggml_type_name(t);
        return s;
    }
    const char* path() const { return m->file.path.c_str(); }

    const GgufTensor* need(const std::string& name) {
        const GgufTensor* t = gguf_find_tensor(&m->file, name);
        if (!t) rwkv_fail("%s: missing tensor '%s' (required by %s)", path(), name.c_str(), m->arch_name.c_str());
        return t;
    }

    static int64_t nel(const GgufTensor* t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }

    std::string shape_str(const GgufTensor* t) {
        std::string s = "[";
        for (int d = 0; d < t->n_dims; d++) s += strprintf(d ? ", %lld" : "%lld", (long long)t->ne[d]);
        return s + "]";
    }

    // A vector of n floats (any shape with n elements, as llama.cpp stores
    // some of them as [n,1,1]). F16/BF16 are widened into an owned buffer.
    const float* vec(const std::string& name, int64_t n) {
        const GgufTensor* t = need(name);
        if (nel(t) != n)
            rwkv_fail("%s: tensor '%s' has shape %s, expected %lld elements", path(), name.c_str(),
                      shape_str(t).c_str(), (long long)n);
        if (t->type == GGML_TYPE_F32) return (const float*)t->data;
        RowToF32Fn conv = scalar.row_to_f32[t->type];
        if (!conv || (t->type != GGML_TYPE_F16 && t->type != GGML_TYPE_BF16))
            rwkv_fail("%s: tensor '%s' has type %s; 1-D tensors must be F32, F16 or BF16", path(), name.c_str(),
                      ggml_type_name(t->type));
        m->owned.emplace_back((size_t)n);
        conv(t->data, m->owned.back().data(), n);
        return m->owned.back().data();
    }

    // A matrix of n_out rows of n_in (ggml shape [n_in, n_out]).
    Matrix mat(const std::string& name, int64_t n_in, int64_t n_out) {
        const GgufTensor* t = need(name);
        if (t->ne[0] != n_in || t->ne[1] != n_out || t->ne[2] != 1 || t->ne[3] != 1)
            rwkv_fail("%s: tensor '%s' has shape %s, expected [%lld, %lld]", path(), name.c_str(),
                      shape_str(t).c_str(), (long long)n_in, (long long)n_out);
        if (!scalar.matmul[t->type])
            rwkv_fail("%s: tensor '%s' has type %s, which this build cannot multiply (supported: %s)", path(),
                      name.c_str(), ggml_type_name(t->type), supported_types().c_str());
        return matrix_in_file(t->data, t->type, n_in, n_out);
    }

    // Infer a LoRA rank from the down-projection's shape [C, R].
    int64_t rank_of(const std::string& name, int64_t C) {
        const GgufTensor* t = need(name);
        if (t->n_dims != 2 || t->ne[0] != C)
            rwkv_fail("%s: tensor '%s' has shape %s, expected [%lld, rank]", path(), name.c_str(),
                      shape_str(t).c_str(), (long long)C);
        return t->ne[1];
    }
};

int64_t hparam(Model* m, const char* key) {
    uint64_t v = gguf_get_u64(&m->file, m->arch_name + "." + key);
    if (v == 0 || v > (1u << 24))
        rwkv_fail("%s: metadata '%s.%s' = %llu is out of range", m->file.path.c_str(), m->arch_name.c_str(), key,
                  (unsigned long long)v);
    return (int64_t)v;
}

// What every generation has: the shape (hyperparameters), the embedding with
// its layer norm, the final layer norm and the head.
void bind_shape_and_ends(Model* m, Binder* bp) {
    Binder& b = *bp;
    const char* path = m->file.path.c_str();
    m->n_embd = hparam(m, "embedding_length");
    m->n_layer = hparam(m, "block_count");
    // Every layer has tensors of its own: a count beyond the file's tensors is
    // corrupt, and would otherwise size the per-layer tables before any
    // layer's tensors are looked up.
    if (m->n_layer > (int64_t)m->file.tensors.size())
        rwkv_fail("%s: metadata '%s.block_count' = %lld is more layers than the file has tensors (%zu)", path,
                  m->arch_name.c_str(), (long long)m->n_layer, m->file.tensors.size());
    m->n_ffn = hparam(m, "feed_forward_length");
    m->head_size = hparam(m, "wkv.head_size");
    m->ln_eps = gguf_get_f32_or(&m->file, m->arch_name + ".attention.layer_norm_epsilon", 1e-5f);
    if (!(m->ln_eps > 0.0f && m->ln_eps < 1.0f))
        rwkv_fail("%s: layer_norm_epsilon %g is out of range", path, (double)m->ln_eps);
    m->gn_eps = gguf_get_f32_or(&m->file, m->arch_name + ".attention.group_norm_epsilon", 64e-5f);
    if (!(m->gn_eps > 0.0f && m->gn_eps < 1.0f))
        rwkv_fail("%s: group_norm_epsilon %g is out of range", path, (double)m->gn_eps);
    const int64_t C = m->n_embd;
    if (C % m->head_size != 0)
        rwkv_fail("%s: embedding_length %lld is not a multiple of head_size %lld", path, (long long)C,
                  (long long)m->head_size);
    m->n_head = C / m->head_size;

    const GgufTensor* emb = b.need("token_embd.weight");
    if (emb->n_dims != 2 || emb->ne[0] != C)
        rwkv_fail("%s: tensor 'token_embd.weight' has shape %s, expected [%lld, n_vocab]", path,
                  b.shape_str(emb).c_str(), (long long)C);
    m->n_vocab = emb->ne[1];
    m->token_embd = b.mat("token_embd.weight", C, m->n_vocab);
    m->ln0_w = b.vec("token_embd_norm.weight", C);
    m->ln0_b = b.vec("token_embd_norm.bias", C);
    m->ln_out_w = b.vec("output_norm.weight", C);
    m->ln_out_b = b.vec("output_norm.bias", C);
    m->head = b.mat("output.weight", C, m->n_vocab);
}

// LoRA ranks in the metadata (optional) must agree with the tensors' shapes.
struct RankKey {
    const char* key;  // after "<arch>."
    int64_t rank;
};

void check_rank_metadata(Model* m, const RankKey* ranks, int n) {
    for (int i = 0; i < n; i++) {
        const std::string key = m->arch_name + "." + ranks[i].key;
        if (!gguf_find_kv(&m->file, key)) continue;
        const uint64_t v = gguf_get_u64(&m->file, key);
        if ((int64_t)v != ranks[i].rank)
            rwkv_fail("%s: metadata '%s' = %llu disagrees with the tensors (rank %lld)", m->file.path.c_str(),
                      key.c_str(), (unsigned long long)v, (long long)ranks[i].rank);
    }
}

void load_rwkv7(Model* m) {
    Binder b(m);
    bind_shape_and_ends(m, &b);
    const int64_t C = m->n_embd;

    // LoRA ranks: from the metadata when present, checked against the shapes.
    m->lora_w = b.rank_of("blk.0.time_mix_w1.weight", C);
    m->lora_a = b.rank_of("blk.0.time_mix_a1.weight", C);
    m->lora_g = b.rank_of("blk.0.time_mix_g1.weight", C);
    m->lora_v = m->n_layer > 1 ? b.rank_of("blk.1.time_mix_v1.weight", C) : m->lora_a;
    const RankKey ranks[] = {
        {"attention.decay_lora_rank", m->lora_w},
        {"attention.iclr_lora_rank", m->lora_a},
        {"attention.value_residual_mix_lora_rank", m->lora_v},
        {"attention.gate_lora_rank", m->lora_g},
    };
    check_rank_metadata(m, ranks, 4);

    m->layers.resize((size_t)m->n_layer);
    for (int64_t l = 0; l < m->n_layer; l++) {
        Rwkv7Layer& L = m->layers[(size_t)l];
        std::string p = strprintf("blk.%lld.", (long long)l);
        L.ln1_w = b.vec(p + "attn_norm.weight", C);
        L.ln1_b = b.vec(p + "attn_norm.bias", C);
        L.ln2_w = b.vec(p + "attn_norm_2.weight", C);
        L.ln2_b = b.vec(p + "attn_norm_2.bias", C);
        // The six token-shift mixes are fused as [C, 1, 1, 6] in the order r, w, k, v, a, g.
        const float* lerp = b.vec(p + "time_mix_lerp_fused.weight", 6 * C);
        L.x_r = lerp + 0 * C;
        L.x_w = lerp + 1 * C;
        L.x_k = lerp + 2 * C;
        L.x_v = lerp + 3 * C;
        L.x_a = lerp + 4 * C;
        L.x_g = lerp + 5 * C;
        L.w0 = b.vec(p + "time_mix_w0.weight", C);
        L.a0 = b.vec(p + "time_mix_a0.weight", C);
        L.k_k = b.vec(p + "time_mix_k_k.weight", C);
        L.k_a = b.vec(p + "time_mix_k_a.weight", C);
        L.r_k = b.vec(p + "time_mix_r_k.weight", C);
        // LoRA down-projections are [C, R] (R rows of C), up-projections [R, C].
        L.w1 = b.mat(p + "time_mix_w1.weight", C, m->lora_w);
        L.w2 = b.mat(p + "time_mix_w2.weight", m->lora_w, C);
        L.a1 = b.mat(p + "time_mix_a1.weight", C, m->lora_a);
        L.a2 = b.mat(p + "time_mix_a2.weight", m->lora_a, C);
        L.g1 = b.mat(p + "time_mix_g1.weight", C, m->lora_g);
        L.g2 = b.mat(p + "time_mix_g2.weight", m->lora_g, C);
        if (l > 0) {  // layer 0 has no value residual; llama.cpp's dummies there are ignored
            L.v0 = b.vec(p + "time_mix_v0.weight", C);
            L.v1 = b.mat(p + "time_mix_v1.weight", C, m->lora_v);
            L.v2 = b.mat(p + "time_mix_v2.weight", m->lora_v, C);
        } else {
            L.v0 = nullptr;
            L.v1 = L.v2 = matrix_in_file(nullptr, 0, 0, 0);
        }
        L.receptance = b.mat(p + "time_mix_receptance.weight", C, C);
        L.key = b.mat(p + "time_mix_key.weight", C, C);
        L.value = b.mat(p + "time_mix_value.weight", C, C);
        L.output = b.mat(p + "time_mix_output.weight", C, C);
        L.lnx_w = b.vec(p + "time_mix_ln.weight", C);
        L.lnx_b = b.vec(p + "time_mix_ln.bias", C);
        L.ffn_x_k = b.vec(p + "channel_mix_lerp_k.weight", C);
        L.ffn_key = b.mat(p + "channel_mix_key.weight", C, m->n_ffn);
        L.ffn_value = b.mat(p + "channel_mix_value.weight", m->n_ffn, C);
    }
}

// RWKV-5.2 and RWKV-6, laid out as llama.cpp's rwkv6 (scripts/convert.py has
// the table; rwkv5 uses the same names where the tensor exists).
void load_rwkv56(Model* m) {
    Binder b(m);
    const char* path = m->file.path.c_str();
    const bool v6 = m->arch == ARCH_RWKV6;
    bind_shape_and_ends(m, &b);
    // llama.cpp's files made from Hugging Face checkpoints have the output and
    // channel-mix value weights of layer i divided by 2^(i / n), and x is
    // halved after every n-th layer (rwkv6.cpp): a float16 overflow guard.
    m->rescale_every = (int64_t)gguf_get_u64_or(&m->file, m->arch_name + ".rescale_every_n_layers", 0);
    if (m->rescale_every < 0 || m->rescale_every > 4096)
        rwkv_fail("%s: metadata '%s.rescale_every_n_layers' = %lld is out of range", path, m->arch_name.c_str(),
                  (long long)m->rescale_every);
    const int64_t C = m->n_embd;

    m->lora_a = m->lora_v = m->lora_g = 0;
    m->lora_w = m->lora_mix = 0;
    if (v6) {
        // Ranks from the shapes (llama.cpp's time_mix_extra_dim and
        // time_decay_extra_dim must agree with them).
        const int64_t r5 = b.rank_of("blk.0.time_mix_w1.weight", C);
        if (r5 % 5 != 0)
            rwkv_fail("%s: tensor 'blk.0.time_mix_w1.weight' has %lld rows, not 5 x rank", path, (long long)r5);
        m->lora_mix = r5 / 5;
        m->lora_w = b.rank_of("blk.0.time_mix_decay_w1.weight", C);
        const RankKey ranks[] = {{"time_mix_extra_dim", m->lora_mix}, {"time_decay_extra_dim", m->lora_w}};
        check_rank_metadata(m, ranks, 2);
    }

    m->v56_layers.resize((size_t)m->n_layer);
    for (int64_t l = 0; l < m->n_layer; l++) {
        Rwkv56Layer& L = m->v56_layers[(size_t)l];
        std::string p = strprintf("blk.%lld.", (long long)l);
        L.ln1_w = b.vec(p + "attn_norm.weight", C);
        L.ln1_b = b.vec(p + "attn_norm.bias", C);
        L.ln2_w = b.vec(p + "attn_norm_2.weight", C);
        L.ln2_b = b.vec(p + "attn_norm_2.bias", C);
        if (v6) {
            L.x_x = b.vec(p + "time_mix_lerp_x.weight", C);
            // The five mixes fused as [C, 1, 1, 5] in the order w, k, v, r, g
            // (older llama.cpp files have them as separate lerp_* tensors).
            if (gguf_find_tensor(&m->file, p + "time_mix_lerp_fused.weight")) {
                const float* f = b.vec(p + "time_mix_lerp_fused.weight", 5 * C);
                L.x_w = f + 0 * C;
                L.x_k = f + 1 * C;
                L.x_v = f + 2 * C;
                L.x_r = f + 3 * C;
                L.x_g = f + 4 * C;
            } else {
                L.x_w = b.vec(p + "time_mix_lerp_w.weight", C);
                L.x_k = b.vec(p + "time_mix_lerp_k.weight", C);
                L.x_v = b.vec(p + "time_mix_lerp_v.weight", C);
                L.x_r = b.vec(p + "time_mix_lerp_r.weight", C);
                L.x_g = b.vec(p + "time_mix_lerp_g.weight", C);
            }
            const int64_t D = m->lora_mix;
            L.mix_w1 = b.mat(p + "time_mix_w1.weight", C, 5 * D);
            // time_mix_w2 is [D, C, 5]: five matrices of C rows of D, one after another.
            const std::string w2 = p + "time_mix_w2.weight";
            const GgufTensor* t = b.need(w2);
            if (t->ne[0] != D || t->ne[1] != C || t->ne[2] != 5 || t->ne[3] != 1)
                rwkv_fail("%s: tensor '%s' has shape %s, expected [%lld, %lld, 5]", path, w2.c_str(),
                          b.shape_str(t).c_str(), (long long)D, (long long)C);
            if (!b.scalar.matmul[t->type])
                rwkv_fail("%s: tensor '%s' has type %s, which this build cannot multiply (supported: %s)", path,
                          w2.c_str(), ggml_type_name(t->type), b.supported_types().c_str());
            const uint64_t one = ggml_row_size(t->type, D) * (uint64_t)C;
            for (int i = 0; i < 5; i++) L.mix_w2[i] = matrix_in_file((const uint8_t*)t->data + i * one, t->type, D, C);
            L.decay = b.vec(p + "time_mix_decay.weight", C);
            L.decay_w1 = b.mat(p + "time_mix_decay_w1.weight", C, m->lora_w);
            L.decay_w2 = b.mat(p + "time_mix_decay_w2.weight", m->lora_w, C);
        } else {
            L.x_x = L.x_w = nullptr;
            L.x_k = b.vec(p + "time_mix_lerp_k.weight", C);
            L.x_v = b.vec(p + "time_mix_lerp_v.weight", C);
            L.x_r = b.vec(p + "time_mix_lerp_r.weight", C);
            L.x_g = b.vec(p + "time_mix_lerp_g.weight", C);
            L.mix_w1 = L.decay_w1 = L.decay_w2 = matrix_in_file(nullptr, 0, 0, 0);
            for (int i = 0; i < 5; i++) L.mix_w2[i] = matrix_in_file(nullptr, 0, 0, 0);
            L.decay = b.vec(p + "time_mix_decay.weight", C);  // w = exp(-exp(time_decay)), made per pass
        }
        L.first = b.vec(p + "time_mix_first.weight", C);
        L.receptance = b.mat(p + "time_mix_receptance.weight", C, C);
        L.key = b.mat(p + "time_mix_key.weight", C, C);
        L.value = b.mat(p + "time_mix_value.weight", C, C);
        L.gate = b.mat(p + "time_mix_gate.weight", C, C);
        L.output = b.mat(p + "time_mix_output.weight", C, C);
        L.lnx_w = b.vec(p + "time_mix_ln.weight", C);
        L.lnx_b = b.vec(p + "time_mix_ln.bias", C);
        L.ffn_x_k = b.vec(p + "channel_mix_lerp_k.weight", C);
        L.ffn_x_r = b.vec(p + "channel_mix_lerp_r.weight", C);
        L.ffn_key = b.mat(p + "channel_mix_key.weight", C, m->n_ffn);
        L.ffn_receptance = b.mat(p + "channel_mix_receptance.weight", C, C);
        L.ffn_value = b.mat(p + "channel_mix_value.weight", m->n_ffn, C);
    }
}

void load_vocab(Model* m) {
    const char* path = m->file.path.c_str();
    std::string_view model = gguf_get_str(&m->file, "tokenizer.ggml.model");
    if (model != "rwkv")
        rwkv_fail("%s: tokenizer.ggml.model is '%.*s'; only the RWKV world tokenizer ('rwkv') is supported", path,
                  (int)model.size(), model.data());
    m->token_texts = gguf_get_str_array(&m->file, "tokenizer.ggml.tokens");
    if ((int64_t)m->token_texts.size() != m->n_vocab)
        rwkv_fail("%s: the vocabulary has %zu tokens but token_embd.weight has %lld rows", path,
                  m->token_texts.size(), (long long)m->n_vocab);
    m->token_types.clear();
    if (const GgufKV* kv = gguf_find_kv(&m->file, "tokenizer.ggml.token_type")) {
        if (kv->type != GGUF_ARRAY || (kv->array_type != GGUF_INT32 && kv->array_type != GGUF_UINT32) ||
            kv->array_count != m->token_texts.size())
            rwkv_fail("%s: tokenizer.ggml.token_type must be an int32 array of %zu entries", path,
                      m->token_texts.size());
        m->token_types.resize(m->token_texts.size());
        memcpy(m->token_types.data(), kv->value, m->token_types.size() * 4);
    }
    m->byte_level = m->n_vocab == 256;
}

// A private copy of the weights (GGUF_COPY) can be rearranged for the
// kernels: where the active path has a layout of its own for a matrix's type
// (kernels.h, repack), the matrix is rewritten in place and takes that layout.
// Every matrix the forward passes multiply by, except RWKV-6's mix_w1, which
// rwkv6.cpp cuts into five by rows at run time (the five mix_w2 are bound as
// five matrices, each rearranged on its own).
void repack_for_kernels(Model* m) {
    std::vector<Matrix*> todo;
    for (Matrix* W : model_matrices(m)) {
        bool mix_w1 = false;
        for (const Rwkv56Layer& L : m->v56_layers) mix_w1 = mix_w1 || W == &L.mix_w1;
        if (!mix_w1) todo.push_back(W);
    }
    bool any = false;
    for (const Matrix* W : todo) any = any || (W->data && kern.repack[W->type]);
    if (!any) return;
    // Each matrix owns its bytes: gguf_open refuses files whose tensors overlap.
    huge_region_unprotect(&m->file.copy);
    for (Matrix* W : todo) {
        if (!W->data || !kern.repack[W->type]) continue;
        W->layout = kern.repack[W->type]((void*)W->data, W->n_in, W->n_out);
    }
    huge_region_protect(&m->file.copy);
}

}  // namespace

std::vector<Matrix*> model_matrices(Model* m) {
    std::vector<Matrix*> all;
    for (size_t l = 0; l < m->layers.size(); l++) {
        Rwkv7Layer& L = m->layers[l];
        for (Matrix* W : {&L.receptance, &L.key, &L.value, &L.w1, &L.a1, &L.g1, &L.v1, &L.w2, &L.a2, &L.g2, &L.v2,
                          &L.output, &L.ffn_key, &L.ffn_value})
            if (l > 0 || (W != &L.v1 && W != &L.v2)) all.push_back(W);
    }
    for (Rwkv56Layer& L : m->v56_layers) {
        all.push_back(&L.mix_w1);
        for (Matrix& W : L.mix_w2) all.push_back(&W);
        for (Matrix* W : {&L.decay_w1, &L.decay_w2, &L.receptance, &L.key, &L.value, &L.gate, &L.output, &L.ffn_key,
                          &L.ffn_receptance, &L.ffn_value})
            all.push_back(W);
    }
    all.push_back(&m->head);
    std::vector<Matrix*> present;
    for (Matrix* W : all)
        if (W->data) present.push_back(W);
    return present;
}

void model_load(Model* m, const char* path, GgufLoadMode mode) {
    gguf_open(&m->file, path, mode);
    try {
        std::string_view arch = gguf_get_str(&m->file, "general.architecture");
        m->arch_name = std::string(arch);
        m->lora_mix = 0;
        m->rescale_every = 0;
        if (arch == "rwkv7") {
            m->arch = ARCH_RWKV7;
            load_rwkv7(m);
        } else if (arch == "rwkv6" || arch == "rwkv5") {
            m->arch = arch == "rwkv6" ? ARCH_RWKV6 : ARCH_RWKV5;
            load_rwkv56(m);
        } else {
            rwkv_fail("%s: architecture '%s' is not supported (supported: rwkv7, rwkv6, rwkv5)", path,
                      m->arch_name.c_str());
        }
        load_vocab(m);
        if (mode == GGUF_COPY) repack_for_kernels(m);
    } catch (...) {
        model_free(m);
        throw;
    }
}

void model_free(Model* m) {
    gguf_close(&m->file);
    m->layers.clear();
    m->v56_layers.clear();
    m->owned.clear();
    m->token_texts.clear();
}

int64_t model_n_params(const Model* m) {
    int64_t n = 0;
    for (const GgufTensor& t : m->file.tensors) {
        // llama.cpp's layer-0 value-residual dummies are not parameters of the model
        if (t.name == "blk.0.time_mix_v0.weight" || t.name == "blk.0.time_mix_v1.weight" ||
            t.name == "blk.0.time_mix_v2.weight")
            continue;
        n += t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3];
    }
    return n;
}

std::string model_type_summary(const Model* m) {
    std::set<std::string> types;
    for (const GgufTensor& t : m->file.tensors)
        if (t.n_dims >= 2 && t.ne[1] > 1) types.insert(ggml_type_name(t.type));
    std::string s;
    for (const std::string& t : types) s += (s.empty() ? "" : "+") + t;
    return s.empty() ? "F32" : s;
}
