#!/usr/bin/env python3
"""RWKV-5.2 ("Eagle", x052) inference in plain NumPy, one token at a time.

Like rwkv7_numpy.py, this file is meant to be read top to bottom as a
specification of the model that rwkv-cli implements (src/rwkv5.cpp): slow,
simple, written directly from the equations of the official RNN-mode code,
every step commented.

RWKV-5 replaced RWKV-4's vector state by a matrix per head: each head of N
channels keeps an N x N state S that accumulates the outer products k v^T of
the tokens seen, decayed per key channel by a constant w = exp(-exp(time_decay)),
and is read with the receptance r.  The current token enters the output
through the "bonus" u = time_faaaa.  v5.2 adds a SiLU output gate and makes the
decay per channel (v5.0/5.1 had one per head).  See docs/math.md.

Conventions
-----------
* Weights use the official BlinkDL names and shapes: ``emb.weight`` (V, C),
  ``blocks.N.att.key.weight`` (C_out, C_in), per-channel mixes (1, 1, C),
  ``time_decay`` and ``time_faaaa`` (H, N).  ``W @ x`` applies a matrix.
* All arithmetic is float32.
* C = embedding size, H = heads, N = head size (64), V = vocabulary size.
* The wkv state of one head is an N x N matrix S indexed S[key i][value j],
  the official RWKV-5/6 order (RWKV-7 uses [value][key]).
* v5 mixes weigh the current token: x_k = x * mix_k + x_prev * (1 - mix_k).

Usage as a module (``import rwkv5_numpy as R``) and on the command line
(``rwkv5_numpy.py MODEL(.pth|.gguf) --tokens 1,2,3 [--out FILE] ...``): see
numpy_ref_common.py, which the three references share.
"""
import re
import sys

import numpy as np

import numpy_ref_common as common
from numpy_ref_common import F32, State, group_norm, load_pth, sigmoid, silu, vec  # noqa: F401 (load_pth)


# ---------------------------------------------------------------------------
# Loading weights (load_pth, shared: numpy_ref_common.py)
# ---------------------------------------------------------------------------

# rwkv-cli's "rwkv5" GGUF name -> official name (per-layer part, after "blk.N.")
# (docs/math.md, "GGUF layout of RWKV-5.2").  The lerps are stored in
# llama.cpp's convention x + (x_prev - x) * lerp, i.e. lerp = 1 - time_mix.
_GGUF_LAYER_NAMES = {
    "attn_norm.weight": "ln1.weight", "attn_norm.bias": "ln1.bias",
    "attn_norm_2.weight": "ln2.weight", "attn_norm_2.bias": "ln2.bias",
    "time_mix_lerp_k.weight": "att.time_mix_k", "time_mix_lerp_v.weight": "att.time_mix_v",
    "time_mix_lerp_r.weight": "att.time_mix_r", "time_mix_lerp_g.weight": "att.time_mix_g",
    "time_mix_decay.weight": "att.time_decay",
    "time_mix_first.weight": "att.time_faaaa",
    "time_mix_receptance.weight": "att.receptance.weight",
    "time_mix_key.weight": "att.key.weight",
    "time_mix_value.weight": "att.value.weight",
    "time_mix_gate.weight": "att.gate.weight",
    "time_mix_output.weight": "att.output.weight",
    "time_mix_ln.weight": "att.ln_x.weight", "time_mix_ln.bias": "att.ln_x.bias",
    "channel_mix_lerp_k.weight": "ffn.time_mix_k", "channel_mix_lerp_r.weight": "ffn.time_mix_r",
    "channel_mix_key.weight": "ffn.key.weight",
    "channel_mix_receptance.weight": "ffn.receptance.weight",
    "channel_mix_value.weight": "ffn.value.weight",
}


def load_gguf(path):
    """GGUF in rwkv-cli's RWKV-5.2 layout -> {official name: float32 ndarray}.

    Undone here: lerps back to mixes (time_mix = 1 - lerp); time_mix_decay
    flat [C] back to (H, N); 1-D vectors back to (1, 1, C); a
    rescale_every_n_layers n > 0 (output and ffn value of layer i stored
    divided by 2^(i // n)) multiplied back.
    """
    meta, raw, C = common.read_gguf(path)
    rescale = common.meta_int(meta, "rwkv5.rescale_every_n_layers")

    def fix(i, off, a):
        if re.search(r"time_mix_[kvrg]$", off):
            a = (F32(1) - a).reshape(1, 1, C)
        return common.undo_rescale(a, i, off, rescale)

    out = common.official_weights(raw, C, _GGUF_LAYER_NAMES, fix)
    H, N = out["blocks.0.att.time_faaaa"].shape
    for k in list(out):
        if k.endswith("att.time_decay"):
            out[k] = out[k].reshape(H, N)
    return out


# ---------------------------------------------------------------------------
# Hyperparameters, inferred from the weight shapes
# ---------------------------------------------------------------------------
def hparams(weights):
    """-> (n_layer L, embedding C, heads H, head size N, vocabulary V)."""
    return common.hparams(weights, "blocks.0.att.time_faaaa")   # the bonus u, one row per head


# ---------------------------------------------------------------------------
# Recurrent state (State, shared: numpy_ref_common.py)
# ---------------------------------------------------------------------------
def new_state(weights):
    return State(*hparams(weights)[:4])


def state_from_time_state(weights, path):
    """The state that state tuning (RWKV-PEFT, RWKV-LM) trains, from its
    checkpoint of blocks.N.att.time_state [H, N, N] (optionally prefixed
    "model."): time_state[h][value][key], the transpose of this file's
    S[key][value] (as ChatRWKV loads it: .transpose(1, 2)); token shifts zero."""
    return common.state_from_time_state(new_state(weights), path, transpose=True)


# ---------------------------------------------------------------------------
# Time mixing
# ---------------------------------------------------------------------------
def time_mix(weights, i, x, state, H, N):
    """x: ln1 output [C] for layer i.  Returns dx [C]."""
    p = f"blocks.{i}.att."
    W = lambda n: weights[p + n]
    P = lambda n: vec(weights, p + n)

    # -- token shift: x_m = x * mix_m + x_prev * (1 - mix_m), m in k, v, r, g
    prev = state.att_shift[i].copy()   # a copy: the row is overwritten next
    state.att_shift[i] = x
    mix = lambda m: x * P(f"time_mix_{m}") + prev * (F32(1) - P(f"time_mix_{m}"))
    xk, xv, xr, xg = mix("k"), mix("v"), mix("r"), mix("g")

    # -- projections ---------------------------------------------------------
    r = W("receptance.weight") @ xr
    k = W("key.weight") @ xk
    v = W("value.weight") @ xv
    g = silu(W("gate.weight") @ xg)

    # -- constant decay per channel: w = exp(-exp(time_decay)), in (0, 1) ------
    w = np.exp(-np.exp(W("time_decay").astype(F32))).reshape(H, N)
    u = W("time_faaaa").reshape(H, N)

    # -- WKV, per head (S[key i][value j]) ---------------------------------------
    #    out_j = sum_i r_i (S_ij + u_i k_i v_j)
    #    S'_ij = w_i S_ij + k_i v_j
    rh, kh, vh = (t.reshape(H, N) for t in (r, k, v))
    S = state.wkv[i]
    kv = kh[:, :, None] * vh[:, None, :]
    out = np.einsum("hi,hij->hj", rh, S + u[:, :, None] * kv)
    state.wkv[i] = w[:, :, None] * S + kv

    # -- GroupNorm ln_x per head (eps 64e-5), affine, gate, output projection ----
    out = group_norm(out, P("ln_x.weight"), P("ln_x.bias"))
    return W("output.weight") @ (out * g)


# ---------------------------------------------------------------------------
# Channel mixing (the feed-forward block, with a receptance gate)
# ---------------------------------------------------------------------------
def channel_mix(weights, i, x, state):
    """x: ln2 output [C] for layer i.  Returns dx [C]."""
    p = f"blocks.{i}.ffn."
    prev = state.ffn_shift[i].copy()
    state.ffn_shift[i] = x
    mk, mr = vec(weights, p + "time_mix_k"), vec(weights, p + "time_mix_r")
    xk = x * mk + prev * (F32(1) - mk)
    xr = x * mr + prev * (F32(1) - mr)
    k = np.maximum(weights[p + "key.weight"] @ xk, F32(0)) ** 2
    return sigmoid(weights[p + "receptance.weight"] @ xr) * (weights[p + "value.weight"] @ k)


# ---------------------------------------------------------------------------
# The whole model, one token
# ---------------------------------------------------------------------------
def forward(weights, token, state):
    """Feed one token; update `state` in place; return the logits [V] (float32)."""
    # x = LN0(emb[token]); per layer x += TimeMix(LN1(x)), x += ChannelMix(LN2(x));
    # logits = head @ LN_out(x)
    return common.forward(weights, token, state, time_mix, channel_mix)


def forward_seq(weights, tokens, state):
    """Feed tokens one at a time; return logits [T, V], row t after token t."""
    return common.forward_seq(forward, weights, tokens, state)


def main(argv=None):
    return common.main(argv, sys.modules[__name__], "Plain NumPy RWKV-5.2 reference forward pass.",
                       "official .pth or rwkv-cli rwkv5 .gguf")


if __name__ == "__main__":
    sys.exit(main())
