#!/usr/bin/env python3
"""RWKV-7 ("Goose", x070) inference in plain NumPy, one token at a time.

This file is meant to be read top to bottom as a specification of the model
that rwkv-cli implements.  It is the project's reference: slow, simple, and
written directly from the equations, with every step commented.

Conventions
-----------
* Weights use the official BlinkDL names and shapes (``emb.weight`` (V, C),
  ``blocks.N.att.key.weight`` (C_out, C_in), LoRA ``w1`` (C, R) / ``w2`` (R, C),
  per-channel vectors such as ``x_r`` (1, 1, C), ``r_k`` (H, N) ...).
  A matrix ``W`` of shape (out, in) is applied as ``W @ x``; a LoRA factor
  ``w1`` of shape (C, R) is applied as ``x @ w1`` (exactly as in the official code).
* All arithmetic is float32: weights are cast to float32 when loaded and every
  intermediate stays float32 (NumPy keeps float32 when an array meets a Python
  scalar).
* C = embedding size, H = number of heads, N = head size (64), C = H * N,
  V = vocabulary size, L = number of layers.
* The wkv state of one head is an N x N matrix S indexed S[value i][key j].

Usage as a module (``import rwkv7_numpy as R``) and on the command line
(``rwkv7_numpy.py MODEL(.pth|.gguf) --tokens 1,2,3 [--out FILE] ...``): see
numpy_ref_common.py, which the three references share.
"""
import re
import sys

import numpy as np

import numpy_ref_common as common
from numpy_ref_common import F32, State, group_norm, load_pth, norm, sigmoid, vec  # noqa: F401 (load_pth)

# ---------------------------------------------------------------------------
# Constants of the architecture
# ---------------------------------------------------------------------------
# LN_EPS = 1e-5 (every LayerNorm) and GN_EPS = 64e-5 (the per-head GroupNorm
# ln_x, = 1e-5 * head size 64) are in numpy_ref_common.py.
L2_EPS = 1e-12         # F.normalize: x / max(||x||, eps)
DECAY_SCALE = 0.606531  # exp(-0.5): w = exp(-exp(-0.5) * sigmoid(.)), so w in (exp(-0.6065), 1)


# ---------------------------------------------------------------------------
# Loading weights (load_pth, shared: numpy_ref_common.py)
# ---------------------------------------------------------------------------

# llama.cpp GGUF name -> official name (per-layer part, after "blk.N.")
_GGUF_LAYER_NAMES = {
    "attn_norm.weight": "ln1.weight", "attn_norm.bias": "ln1.bias",
    "attn_norm_2.weight": "ln2.weight", "attn_norm_2.bias": "ln2.bias",
    "time_mix_w0.weight": "att.w0", "time_mix_a0.weight": "att.a0",
    "time_mix_v0.weight": "att.v0",
    "time_mix_k_k.weight": "att.k_k", "time_mix_k_a.weight": "att.k_a",
    "time_mix_r_k.weight": "att.r_k",
    "time_mix_w1.weight": "att.w1", "time_mix_w2.weight": "att.w2",
    "time_mix_a1.weight": "att.a1", "time_mix_a2.weight": "att.a2",
    "time_mix_v1.weight": "att.v1", "time_mix_v2.weight": "att.v2",
    "time_mix_g1.weight": "att.g1", "time_mix_g2.weight": "att.g2",
    "time_mix_key.weight": "att.key.weight",
    "time_mix_value.weight": "att.value.weight",
    "time_mix_receptance.weight": "att.receptance.weight",
    "time_mix_output.weight": "att.output.weight",
    "time_mix_ln.weight": "att.ln_x.weight", "time_mix_ln.bias": "att.ln_x.bias",
    "channel_mix_lerp_k.weight": "ffn.x_k",
    "channel_mix_key.weight": "ffn.key.weight",
    "channel_mix_value.weight": "ffn.value.weight",
}


def load_gguf(path):
    """GGUF in llama.cpp's RWKV-7 layout -> {official name: float32 ndarray}.

    The returned dict has the same names and shapes as load_pth would give for
    the same model, so forward() does not care where the weights came from.
    Layout differences handled here (numpy shape = reversed ggml ne):
      * time_mix_lerp_fused (ne [C,1,1,6], numpy (6,1,1,C)) holds
        x_r, x_w, x_k, x_v, x_a, x_g in that order;
      * the LoRA factors w1/a1/v1/g1 and w2/a2/v2/g2 are stored transposed
        (numpy (R, C) and (C, R)); they are transposed back here;
      * 1-D per-channel vectors are reshaped to the official (1, 1, C), r_k to (H, N);
      * layer 0's v0/v1/v2 are dummies (layer 0 has no value residual): dropped.
    """
    meta, raw, C = common.read_gguf(path)
    head_size = None
    for k in meta:
        if k.endswith(".wkv.head_size"):
            head_size = common.meta_int(meta, k)

    def fix(i, off, a):
        if i == 0 and off in ("att.v0", "att.v1", "att.v2"):
            return None  # dummies
        if re.fullmatch(r"att\.[wavg][12]", off):
            # official: *1 is (C, R) used as x @ w1 and *2 is (R, C);
            # llama.cpp keeps them as ggml mul_mat operands, i.e. transposed.
            a = a.T.copy()
            if off.endswith("1"):
                assert a.shape[0] == C, (off, a.shape)
            else:
                assert a.shape[1] == C, (off, a.shape)
        elif off in ("att.w0", "att.a0", "att.v0", "att.k_k", "att.k_a", "ffn.x_k"):
            a = a.reshape(1, 1, C)
        elif off == "att.r_k":
            # stored flat [C]; the head size comes from rwkv7.wkv.head_size
            # (rwkv7.attention.head_count is written as 0 by llama.cpp: unusable)
            N = head_size or 64
            a = a.reshape(C // N, N)
        return a

    return common.official_weights(raw, C, _GGUF_LAYER_NAMES, fix, fused_lerp=("att.x_", "rwkvag"))


# ---------------------------------------------------------------------------
# Hyperparameters, inferred from the weight shapes
# ---------------------------------------------------------------------------
def hparams(weights):
    """-> (n_layer L, embedding C, heads H, head size N, vocabulary V)."""
    return common.hparams(weights, "blocks.0.att.r_k")   # r_k is (H, N): one row per head


# ---------------------------------------------------------------------------
# Recurrent state (State, shared: numpy_ref_common.py; S is [value][key] here)
# ---------------------------------------------------------------------------
def new_state(weights):
    return State(*hparams(weights)[:4])


def state_from_time_state(weights, path):
    """The state that state tuning (RWKV-PEFT, RWKV-LM) trains, from its
    checkpoint of blocks.N.att.time_state [H, N, N] (optionally prefixed
    "model."): time_state[h][value][key], this file's layout, so S = time_state
    as is; token shifts zero."""
    return common.state_from_time_state(new_state(weights), path, transpose=False)


# ---------------------------------------------------------------------------
# Time mixing (the "attention" of RWKV-7)
# ---------------------------------------------------------------------------
def time_mix(weights, i, x, state, v_first, H, N):
    """x: ln1 output [C] for layer i.  Returns (dx [C], v_first [C])."""
    p = f"blocks.{i}.att."
    W = lambda n: weights[p + n]
    P = lambda n: vec(weights, p + n)

    # -- token shift: lerp between this token and the previous one ----------
    #    x_m = x + (x_prev - x) * mu_m      for m in r, w, k, v, a, g
    xx = state.att_shift[i] - x
    state.att_shift[i] = x
    xr = x + xx * P("x_r")
    xw = x + xx * P("x_w")
    xk = x + xx * P("x_k")
    xv = x + xx * P("x_v")
    xa = x + xx * P("x_a")
    xg = x + xx * P("x_g")

    # -- projections ---------------------------------------------------------
    r = W("receptance.weight") @ xr          # r = W_r xr
    k = W("key.weight") @ xk                 # k = W_k xk
    v = W("value.weight") @ xv               # v = W_v xv

    # -- decay (data dependent, per channel) -----------------------------------
    #    w = exp(-0.606531 * sigmoid(w0 + tanh(xw @ w1) @ w2)),  0.606531 = exp(-0.5)
    w = np.exp(F32(-DECAY_SCALE) * sigmoid(P("w0") + np.tanh(xw @ W("w1")) @ W("w2")))

    # -- value residual: layer 0 defines v_first, later layers pull v towards it
    #    v = v + (v_first - v) * sigmoid(v0 + (xv @ v1) @ v2)       (layers > 0)
    if i == 0:
        v_first = v
    else:
        v = v + (v_first - v) * sigmoid(P("v0") + (xv @ W("v1")) @ W("v2"))

    # -- in-context learning rate ("a"), in (0, 1) per channel ---------------
    #    a = sigmoid(a0 + (xa @ a1) @ a2)
    a = sigmoid(P("a0") + (xa @ W("a1")) @ W("a2"))

    # -- output gate -----------------------------------------------------------
    #    g = sigmoid(xg @ g1) @ g2           (no sigmoid after g2)
    g = sigmoid(xg @ W("g1")) @ W("g2")

    # -- removal key: kk = normalize(k * k_k) per head (L2, F.normalize eps 1e-12)
    #    computed from k BEFORE the k_a modification below
    kk = (k * P("k_k")).reshape(H, N)
    kk = kk / np.maximum(np.sqrt((kk * kk).sum(axis=1, keepdims=True)), F32(L2_EPS))

    # -- replacement key: k = k * (1 + (a - 1) * k_a)
    k = k * (F32(1) + (a - F32(1)) * P("k_a"))

    # -- generalised delta rule, per head h (S is [value i][key j]) -----------
    #    S' = S diag(w) + (S (-kk)) (kk * a)^T + v k^T
    #    Both the decay and the removal term read the OLD S.
    rh, wh, kh, vh, ah = (t.reshape(H, N) for t in (r, w, k, v, a))
    S = state.wkv[i]                                   # [H, N, N]
    sa = S @ (-kk)[:, :, None]                         # [H, N, 1] = S (-kk)
    S = S * wh[:, None, :] + sa * (kk * ah)[:, None, :] + vh[:, :, None] * kh[:, None, :]
    state.wkv[i] = S

    # -- read out: out = S' r per head -----------------------------------------
    out = (S @ rh[:, :, None])[:, :, 0]                # [H, N]

    # -- GroupNorm ln_x: normalise each head separately (eps 64e-5), then the
    #    usual per-channel affine
    out = group_norm(out, P("ln_x.weight"), P("ln_x.bias"))

    # -- "bonus": + (sum_j r_j k_j r_k_j per head) * v   (k is the modified k)
    bonus = (rh * kh * W("r_k").reshape(H, N)).sum(axis=1, keepdims=True) * vh
    out = out + bonus.reshape(-1)

    # -- gated output projection:  dx = W_o (out * g)
    return W("output.weight") @ (out * g), v_first


# ---------------------------------------------------------------------------
# Channel mixing (the feed-forward block)
# ---------------------------------------------------------------------------
def channel_mix(weights, i, x, state):
    """x: ln2 output [C] for layer i.  Returns dx [C]."""
    p = f"blocks.{i}.ffn."
    # token shift: xk = x + (x_prev - x) * mu_k
    xk = x + (state.ffn_shift[i] - x) * vec(weights, p + "x_k")
    state.ffn_shift[i] = x
    # k = relu(W_key xk)^2   (hidden size 4C);   dx = W_value k
    k = np.maximum(weights[p + "key.weight"] @ xk, F32(0)) ** 2
    return weights[p + "value.weight"] @ k


# ---------------------------------------------------------------------------
# The whole model, one token
# ---------------------------------------------------------------------------
def forward(weights, token, state):
    """Feed one token; update `state` in place; return the logits [V] (float32)."""
    L, C, H, N, V = hparams(weights)
    # embedding, then ln0 (a LayerNorm that only block 0 has)
    x = common.embed(weights, token)
    v_first = None
    for i in range(L):
        b = f"blocks.{i}."
        # x = x + TimeMix(LN1(x))
        dx, v_first = time_mix(weights, i, norm(weights, b + "ln1", x), state, v_first, H, N)
        x = x + dx
        # x = x + ChannelMix(LN2(x))
        x = x + channel_mix(weights, i, norm(weights, b + "ln2", x), state)
    # logits = head @ LN_out(x)
    return common.logits(weights, x)


def forward_seq(weights, tokens, state):
    """Feed tokens one at a time; return logits [T, V], row t after token t."""
    return common.forward_seq(forward, weights, tokens, state)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------
def main(argv=None):
    return common.main(argv, sys.modules[__name__], "Plain NumPy RWKV-7 reference forward pass.",
                       "official .pth or llama.cpp-layout .gguf")


if __name__ == "__main__":
    sys.exit(main())
