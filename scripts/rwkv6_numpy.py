#!/usr/bin/env python3
"""RWKV-6 ("Finch", x060) inference in plain NumPy, one token at a time.

Like rwkv7_numpy.py, this file is meant to be read top to bottom as a
specification of the model that rwkv-cli implements (src/rwkv6.cpp): slow,
simple, written directly from the equations of the official RNN-mode code,
every step commented.

What RWKV-6 adds to RWKV-5.2 (see rwkv5_numpy.py and docs/math.md):
* data-dependent token shift ("ddlerp"): the five mixes that feed w, k, v, r, g
  are the learned time_maa_* plus a per-token correction from a small LoRA
  (time_maa_w1 / time_maa_w2) of the shifted input;
* data-dependent decay: w = exp(-exp(time_decay + tanh(xw @ time_decay_w1) @ time_decay_w2)),
  a different decay per channel and per token, computed in float32.

Conventions
-----------
* Weights use the official BlinkDL names and shapes: ``emb.weight`` (V, C),
  ``blocks.N.att.key.weight`` (C_out, C_in), per-channel vectors (1, 1, C),
  ``time_maa_w1`` (C, 5 D), ``time_maa_w2`` (5, D, C), ``time_decay_w1`` (C, E),
  ``time_decay_w2`` (E, C), ``time_faaaa`` (H, N).  A matrix ``W`` (out, in)
  is applied as ``W @ x``; a LoRA factor as ``x @ w1`` (as the official code).
* All arithmetic is float32.
* C = embedding size, H = heads, N = head size (64), V = vocabulary size.
* The wkv state of one head is an N x N matrix S indexed S[key i][value j],
  the official RWKV-5/6 order (RWKV-7 uses [value][key]).

Usage as a module (``import rwkv6_numpy as R``) and on the command line
(``rwkv6_numpy.py MODEL(.pth|.gguf) --tokens 1,2,3 [--out FILE] ...``): see
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

# llama.cpp GGUF name -> official name (per-layer part, after "blk.N.")
_GGUF_LAYER_NAMES = {
    "attn_norm.weight": "ln1.weight", "attn_norm.bias": "ln1.bias",
    "attn_norm_2.weight": "ln2.weight", "attn_norm_2.bias": "ln2.bias",
    "time_mix_lerp_x.weight": "att.time_maa_x",
    "time_mix_lerp_w.weight": "att.time_maa_w", "time_mix_lerp_k.weight": "att.time_maa_k",
    "time_mix_lerp_v.weight": "att.time_maa_v", "time_mix_lerp_r.weight": "att.time_maa_r",
    "time_mix_lerp_g.weight": "att.time_maa_g",
    "time_mix_w1.weight": "att.time_maa_w1", "time_mix_w2.weight": "att.time_maa_w2",
    "time_mix_decay.weight": "att.time_decay",
    "time_mix_decay_w1.weight": "att.time_decay_w1", "time_mix_decay_w2.weight": "att.time_decay_w2",
    "time_mix_first.weight": "att.time_faaaa",
    "time_mix_receptance.weight": "att.receptance.weight",
    "time_mix_key.weight": "att.key.weight",
    "time_mix_value.weight": "att.value.weight",
    "time_mix_gate.weight": "att.gate.weight",
    "time_mix_output.weight": "att.output.weight",
    "time_mix_ln.weight": "att.ln_x.weight", "time_mix_ln.bias": "att.ln_x.bias",
    "channel_mix_lerp_k.weight": "ffn.time_maa_k", "channel_mix_lerp_r.weight": "ffn.time_maa_r",
    "channel_mix_key.weight": "ffn.key.weight",
    "channel_mix_receptance.weight": "ffn.receptance.weight",
    "channel_mix_value.weight": "ffn.value.weight",
}


def load_gguf(path):
    """GGUF in llama.cpp's RWKV-6 layout -> {official name: float32 ndarray}.

    Layout differences undone here (numpy shape = reversed ggml ne):
      * time_mix_lerp_fused (numpy (5,1,1,C)) holds time_maa_w, k, v, r, g in
        that order (older files have them as separate time_mix_lerp_*);
      * time_mix_w1 (5D, C), time_mix_decay_w1 (E, C), time_mix_decay_w2 (C, E)
        are transposes of the official factors; time_mix_w2 (5, C, D) is the
        official (5, D, C) with its last two axes swapped;
      * per-channel vectors are squeezed to [C] (official (1, 1, C));
      * rwkv6.rescale_every_n_layers = n > 0 (files converted from Hugging
        Face checkpoints): att.output and ffn.value of layer i are stored
        divided by 2^(i // n) and the engine halves x after every n-th layer;
        the division is undone here (exactly: powers of two), so the result is
        the official model.
    """
    meta, raw, C = common.read_gguf(path)
    rescale = common.meta_int(meta, "rwkv6.rescale_every_n_layers")

    def fix(i, off, a):
        if off in ("att.time_maa_w1", "att.time_decay_w1", "att.time_decay_w2"):
            a = a.T.copy()
        elif off == "att.time_maa_w2":
            a = a.transpose(0, 2, 1).copy()
        elif re.search(r"time_maa_[xwkvrg]$|time_decay$", off):
            a = a.reshape(1, 1, C)
        return common.undo_rescale(a, i, off, rescale)

    return common.official_weights(raw, C, _GGUF_LAYER_NAMES, fix, fused_lerp=("att.time_maa_", "wkvrg"))


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
    checkpoint of blocks.N.att.time_state [H, N, N]: RWKV-6 keeps RWKV-5.2's
    state, so as in rwkv5_numpy.state_from_time_state, time_state[h][value][key]
    is the transpose of this file's S[key][value]; token shifts zero."""
    return common.state_from_time_state(new_state(weights), path, transpose=True)


# ---------------------------------------------------------------------------
# Time mixing
# ---------------------------------------------------------------------------
def time_mix(weights, i, x, state, H, N):
    """x: ln1 output [C] for layer i.  Returns dx [C]."""
    p = f"blocks.{i}.att."
    W = lambda n: weights[p + n]
    P = lambda n: vec(weights, p + n)

    # -- data-dependent token shift ("ddlerp") --------------------------------
    #    sx = x_prev - x
    #    xxx = x + sx * maa_x                   a first, static mix
    #    (mw, mk, mv, mr, mg) = tanh(xxx @ maa_w1) @ maa_w2   one LoRA per mix
    #    x_m = x + sx * (maa_m + m_m)           for m in w, k, v, r, g
    sx = state.att_shift[i] - x
    state.att_shift[i] = x
    xxx = x + sx * P("time_maa_x")
    D = W("time_maa_w2").shape[1]
    h = np.tanh(xxx @ W("time_maa_w1")).reshape(5, D)          # [5, D]
    mw, mk, mv, mr, mg = np.einsum("id,idc->ic", h, W("time_maa_w2"))   # 5 x [C]
    xw = x + sx * (P("time_maa_w") + mw)
    xk = x + sx * (P("time_maa_k") + mk)
    xv = x + sx * (P("time_maa_v") + mv)
    xr = x + sx * (P("time_maa_r") + mr)
    xg = x + sx * (P("time_maa_g") + mg)

    # -- projections -----------------------------------------------------------
    r = W("receptance.weight") @ xr
    k = W("key.weight") @ xk
    v = W("value.weight") @ xv
    g = silu(W("gate.weight") @ xg)                            # SiLU output gate

    # -- data-dependent decay, float32: w = exp(-exp(d)), d = time_decay + LoRA(xw)
    d = P("time_decay") + np.tanh(xw @ W("time_decay_w1")) @ W("time_decay_w2")
    w = np.exp(-np.exp(d.astype(F32)))                        # in (0, 1) per channel

    # -- WKV, per head h (S[key i][value j]) -------------------------------------
    #    out_j = sum_i r_i (S_ij + u_i k_i v_j)     read before the update, plus the
    #                                               current token through the bonus u
    #    S'_ij = w_i S_ij + k_i v_j                 decay per key channel, add k v^T
    rh, wh, kh, vh = (t.reshape(H, N) for t in (r, w, k, v))
    u = W("time_faaaa").reshape(H, N)
    S = state.wkv[i]
    kv = kh[:, :, None] * vh[:, None, :]                       # [H, N, N] = k v^T
    out = np.einsum("hi,hij->hj", rh, S + u[:, :, None] * kv)
    state.wkv[i] = wh[:, :, None] * S + kv

    # -- GroupNorm ln_x per head (eps 64e-5), affine, gate, output projection ----
    out = group_norm(out, P("ln_x.weight"), P("ln_x.bias"))
    return W("output.weight") @ (out * g)


# ---------------------------------------------------------------------------
# The parallel (chunked) form of the WKV recurrence (docs/math.md)
# ---------------------------------------------------------------------------
def wkv_chunk(S, r, logw, k, v, u):
    """The WKV of L tokens of one head at once, without walking them in order.

    S [N, N] is the state before the chunk (S[key][value]); r, k, v [L, N];
    logw [L, N] = log of the decays, kept in log space (RWKV-6: log w =
    -exp(d) exactly, without ever rounding w); u [N].  Returns (y [L, N], the
    state after the chunk); equal to running time_mix's two lines L times.

    With c_t = sum_{tau <= t} log w_tau (per key channel), token t sees
        y_t = (r_t * e^{c_{t-1}}) S + sum_{s<t} (sum_i r_ti k_si e^{c_{t-1,i} - c_si}) v_s
              + (sum_i r_ti u_i k_ti) v_t
        S'  = e^{c_{L-1}} S + sum_s (k_s * e^{c_{L-1} - c_s}) v_s^T
    Every exponent used is <= 0 (decays multiply, never divide), so nothing
    overflows however strong the decay or long the chunk.  This is the
    O(L^2 N) pairwise form; a fast version factors the pair term into two
    L x N matrices and one GEMM per chunk (see docs/math.md for why that
    needs short chunks)."""
    L, N = r.shape
    c = np.cumsum(logw.astype(np.float64), axis=0)            # [L, N]
    c_prev = np.vstack([np.zeros((1, N)), c[:-1]])              # c_{t-1}
    y = (r * np.exp(c_prev)) @ S
    expo = c_prev[:, None, :] - c[None, :, :]                   # [t, s, i]
    lower = np.tril(np.ones((L, L), dtype=bool), -1)[:, :, None]
    E = np.exp(np.where(lower, expo, -np.inf))                  # 0 where s >= t
    A = np.einsum("ti,si,tsi->ts", r, k, E) + np.diag(np.einsum("ti,i,ti->t", r, u, k))
    y = y + A @ v
    S_new = np.exp(c[-1])[:, None] * S + (k * np.exp(c[-1] - c)).T @ v
    return y.astype(F32), S_new.astype(F32)


# ---------------------------------------------------------------------------
# Channel mixing (the feed-forward block, with a receptance gate)
# ---------------------------------------------------------------------------
def channel_mix(weights, i, x, state):
    """x: ln2 output [C] for layer i.  Returns dx [C]."""
    p = f"blocks.{i}.ffn."
    sx = state.ffn_shift[i] - x
    state.ffn_shift[i] = x
    xk = x + sx * vec(weights, p + "time_maa_k")
    xr = x + sx * vec(weights, p + "time_maa_r")
    # dx = sigmoid(W_r xr) * (W_v relu(W_k xk)^2)
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
    return common.main(argv, sys.modules[__name__], "Plain NumPy RWKV-6 reference forward pass.",
                       "official .pth or llama.cpp-layout .gguf")


if __name__ == "__main__":
    sys.exit(main())
