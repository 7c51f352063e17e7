// state_file.h - save and restore the whole recurrent state.
//
// An RWKV state is everything the model remembers, so saving it saves a
// conversation, a long prompt or a tuned "state prompt" for later. The file:
//
//   "RWKVSTAT"  u32 version (1)  u32 arch (5, 6 or 7: RWKV-5.2, -6, -7)
//   u64 n_layer, n_embd, n_head, head_size     the shape
//   u64 model_id                               model_identity() below
//   n_layer x { att_shift[C], ffn_shift[C], wkv[H][N][N] }   float32, little-endian
//
// The wkv matrices are [head][value][key] for RWKV-7 and [head][key][value]
// for RWKV-5/6, as their kernels use them.
// A state is only loaded into a model of the same architecture, shape and
// identity (or its older, file-order identity); anything else fails with a
// message naming the file.
#pragma once

#include <cstdint>

#include "model.h"
#include "rwkv.h"

// A 64-bit identity of a model's weights that does not change with the type
// of its matrices or the order of its tensors: a hash of the architecture,
// the shape and the 1-D tensors (norms, token-shift mixes, decay and
// learning-rate biases) sorted by name, as the float32 values the engine
// uses, whether stored F32, F16 or BF16. The quantized files of a model keep
// its vectors, so a state made with its F16 file loads into its Q8_0 or
// Q4_K_M file (rwkv-cli's or llama-quantize's), not into another model.
uint64_t model_identity(const Model* m);
// The identity before it sorted by name: the same hash over the tensors in
// file order. state_load still accepts it, so older state files keep loading.
uint64_t model_identity_file_order(const Model* m);

void state_save(const char* path, const Model* m, const RwkvState* s);
void state_load(const char* path, const Model* m, RwkvState* s);
