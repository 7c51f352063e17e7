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

Usage as a module (with scripts/ on sys.path)::

    import rwkv5_numpy as R
    w = R.load_pth("model.pth")            # or R.load_gguf("model.gguf")
    st = R.new_state(w)
    logits = R.forward(w, token, st)       # one token, updates st in place
    all_logits = R.forward_seq(w, tokens, st)   # (T, V)

Command line::

    rwkv5_numpy.py MODEL(.pth|.gguf) --tokens 1,2,3 [--out FILE] [--dump-state FILE]
                   [--time-state TIME_STATE.pth]

``--out`` writes the logits of every position as little-endian float32 [T, V];
``--dump-state`` writes the final state, layer by layer: att shift [C],
ffn shift [C], wkv [H][N(key)][N(value)], little-endian float32.
``--time-state`` starts from the state a state-tuning checkpoint holds
(state_from_time_state) instead of a zero state.
"""
import argparse
import os
import re
import sys

import numpy as np

F32 = np.float32

LN_EPS = 1e-5    # every LayerNorm (ln0, ln1, ln2, ln_out)
GN_EPS = 64e-5   # ln_x: training computes GroupNorm(x / 8, eps 1e-5) = GroupNorm(x, eps 64e-5)


# ---------------------------------------------------------------------------
# Loading weights
# ---------------------------------------------------------------------------
def load_pth(path):
    """Official .pth -> {name: float32 ndarray} (official names and shapes)."""
    import torch
    try:
        z = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:
        z = torch.load(path, map_location="cpu")
    return {k: v.float().numpy().astype(F32, copy=False) for k, v in z.items()}


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
_GGUF_GLOBAL_NAMES = {
    "token_embd.weight": "emb.weight",
    "token_embd_norm.weight": "blocks.0.ln0.weight",
    "token_embd_norm.bias": "blocks.0.ln0.bias",
    "output_norm.weight": "ln_out.weight", "output_norm.bias": "ln_out.bias",
    "output.weight": "head.weight",
}


def load_gguf(path):
    """GGUF in rwkv-cli's RWKV-5.2 layout -> {official name: float32 ndarray}.

    Undone here: lerps back to mixes (time_mix = 1 - lerp); time_mix_decay
    flat [C] back to (H, N); 1-D vectors back to (1, 1, C); a
    rescale_every_n_layers n > 0 (output and ffn value of layer i stored
    divided by 2^(i // n)) multiplied back.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    import gguf_writer
    meta, tensors = gguf_writer.read_gguf(path)
    raw = {name: np.ascontiguousarray(gguf_writer.tensor_as_f32(t, a), dtype=F32)
           for name, (t, a) in tensors.items()}
    C = raw["token_embd.weight"].shape[1]
    rescale = int(np.asarray(meta.get("rwkv5.rescale_every_n_layers", 0)).reshape(-1)[0])
    out = {}
    for name, a in raw.items():
        if name in _GGUF_GLOBAL_NAMES:
            out[_GGUF_GLOBAL_NAMES[name]] = a
            continue
        m = re.match(r"blk\.(\d+)\.(.+)$", name)
        if not m:
            continue
        i, rest = int(m.group(1)), m.group(2)
        if rest not in _GGUF_LAYER_NAMES:
            raise KeyError(f"unexpected GGUF tensor {name} {a.shape}")
        off = _GGUF_LAYER_NAMES[rest]
        if re.search(r"time_mix_[kvrg]$", off):
            a = (F32(1) - a).reshape(1, 1, C)
        if rescale > 0 and off in ("att.output.weight", "ffn.value.weight"):
            a = a * F32(2.0 ** (i // rescale))
        out[f"blocks.{i}." + off] = a
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
    V, C = weights["emb.weight"].shape
    L = 0
    while f"blocks.{L}.ln1.weight" in weights:
        L += 1
    H, N = weights["blocks.0.att.time_faaaa"].shape
    assert H * N == C, (H, N, C)
    return L, C, H, N, V


# ---------------------------------------------------------------------------
# Recurrent state
# ---------------------------------------------------------------------------
class State:
    """Everything RWKV-5 carries from one token to the next, per layer i:
      att_shift[i]  [C]        the ln1 output of the previous token
      ffn_shift[i]  [C]        the ln2 output of the previous token
      wkv[i]        [H, N, N]  the per-head matrix state S[key][value]"""

    def __init__(self, n_layer, C, H, N):
        self.att_shift = np.zeros((n_layer, C), F32)
        self.ffn_shift = np.zeros((n_layer, C), F32)
        self.wkv = np.zeros((n_layer, H, N, N), F32)

    def copy(self):
        s = State.__new__(State)
        s.att_shift, s.ffn_shift, s.wkv = self.att_shift.copy(), self.ffn_shift.copy(), self.wkv.copy()
        return s

    def to_bytes(self):
        parts = []
        for i in range(self.att_shift.shape[0]):
            parts += [self.att_shift[i], self.ffn_shift[i], self.wkv[i]]
        return b"".join(np.ascontiguousarray(p, "<f4").tobytes() for p in parts)


def new_state(weights):
    L, C, H, N, _ = hparams(weights)
    return State(L, C, H, N)


def state_from_time_state(weights, path):
    """The state that state tuning (RWKV-PEFT, RWKV-LM) trains, from its
    checkpoint of blocks.N.att.time_state [H, N, N] (optionally prefixed
    "model."): time_state[h][value][key], the transpose of this file's
    S[key][value] (as ChatRWKV loads it: .transpose(1, 2)); token shifts zero."""
    z = {k.removeprefix("model."): v for k, v in load_pth(path).items()}
    state = new_state(weights)
    for i in range(state.wkv.shape[0]):
        state.wkv[i] = z[f"blocks.{i}.att.time_state"].transpose(0, 2, 1)
    return state


# ---------------------------------------------------------------------------
# Elementary functions (float32 in, float32 out)
# ---------------------------------------------------------------------------
def sigmoid(x):
    return F32(1) / (F32(1) + np.exp(-x))


def silu(x):
    return x * sigmoid(x)


def layer_norm(x, w, b, eps=LN_EPS):
    mu = x.mean()
    var = ((x - mu) ** 2).mean()
    return (x - mu) / np.sqrt(var + F32(eps)) * w + b


def vec(weights, name):
    return weights[name].reshape(-1)


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
    mu = out.mean(axis=1, keepdims=True)
    var = ((out - mu) ** 2).mean(axis=1, keepdims=True)
    out = ((out - mu) / np.sqrt(var + F32(GN_EPS))).reshape(-1) * P("ln_x.weight") + P("ln_x.bias")
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
    L, C, H, N, V = hparams(weights)
    x = weights["emb.weight"][int(token)].astype(F32)
    x = layer_norm(x, weights["blocks.0.ln0.weight"], weights["blocks.0.ln0.bias"])
    for i in range(L):
        b = f"blocks.{i}."
        x = x + time_mix(weights, i, layer_norm(x, weights[b + "ln1.weight"], weights[b + "ln1.bias"]), state, H, N)
        x = x + channel_mix(weights, i, layer_norm(x, weights[b + "ln2.weight"], weights[b + "ln2.bias"]), state)
    x = layer_norm(x, weights["ln_out.weight"], weights["ln_out.bias"])
    return weights["head.weight"] @ x


def forward_seq(weights, tokens, state):
    """Feed tokens one at a time; return logits [T, V], row t after token t."""
    rows = [forward(weights, t, state) for t in tokens]
    return np.stack(rows).astype(F32) if rows else np.zeros((0, hparams(weights)[4]), F32)


def load(path):
    return load_gguf(path) if path.endswith(".gguf") else load_pth(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Plain NumPy RWKV-5.2 reference forward pass.")
    ap.add_argument("model", help="official .pth or rwkv-cli rwkv5 .gguf")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    ap.add_argument("--out", help="write logits [T, V] as little-endian float32")
    ap.add_argument("--dump-state", help="write the final state as little-endian float32")
    ap.add_argument("--time-state", help="start from a state-tuning checkpoint (blocks.N.att.time_state .pth) "
                                         "instead of a zero state")
    a = ap.parse_args(argv)

    tokens = [int(t) for t in a.tokens.replace(" ", "").split(",") if t != ""]
    weights = load(a.model)
    L, C, H, N, V = hparams(weights)
    state = state_from_time_state(weights, a.time_state) if a.time_state else new_state(weights)
    logits = forward_seq(weights, tokens, state)
    if a.out:
        with open(a.out, "wb") as f:
            f.write(np.ascontiguousarray(logits, "<f4").tobytes())
    if a.dump_state:
        with open(a.dump_state, "wb") as f:
            f.write(state.to_bytes())
    print(f"layers {L} embd {C} heads {H} head_size {N} vocab {V} tokens {len(tokens)}", file=sys.stderr)
    if not a.out:
        for t, row in enumerate(logits):
            top = np.argsort(-row)[:5]
            print(t, tokens[t], " ".join(f"{j}:{row[j]:.4f}" for j in top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
