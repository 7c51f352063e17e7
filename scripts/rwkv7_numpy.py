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

Usage as a module (with scripts/ on sys.path)::

    import rwkv7_numpy as R
    w = R.load_pth("model.pth")            # or R.load_gguf("model.gguf")
    st = R.new_state(w)
    logits = R.forward(w, token, st)       # one token, updates st in place
    all_logits = R.forward_seq(w, tokens, st)   # (T, V)

Command line::

    rwkv7_numpy.py MODEL(.pth|.gguf) --tokens 1,2,3 [--out FILE] [--dump-state FILE]
                   [--time-state TIME_STATE.pth]

``--out`` writes the logits of every position as little-endian float32 [T, V]
(row t = logits after feeding token t, starting from a zero state);
``--dump-state`` writes the final state, layer by layer: att shift [C],
ffn shift [C], wkv [H][N][N], all little-endian float32.
``--time-state`` starts from the state a state-tuning checkpoint holds
(state_from_time_state) instead of a zero state.
"""
import argparse
import os
import re
import sys

import numpy as np

F32 = np.float32

# ---------------------------------------------------------------------------
# Constants of the architecture
# ---------------------------------------------------------------------------
LN_EPS = 1e-5          # every LayerNorm (ln0, ln1, ln2, ln_out)
GN_EPS = 64e-5         # the per-head GroupNorm ln_x (= 1e-5 * head size 64)
L2_EPS = 1e-12         # F.normalize: x / max(||x||, eps)
DECAY_SCALE = 0.606531  # exp(-0.5): w = exp(-exp(-0.5) * sigmoid(.)), so w in (exp(-0.6065), 1)


# ---------------------------------------------------------------------------
# Loading weights
# ---------------------------------------------------------------------------
def load_pth(path):
    """Official .pth -> {name: float32 ndarray} (official names and shapes)."""
    import torch  # only used to read the file
    try:
        z = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # very old torch without weights_only
        z = torch.load(path, map_location="cpu")
    # .float() handles fp16 and bf16 (numpy has no bfloat16)
    return {k: v.float().numpy().astype(F32, copy=False) for k, v in z.items()}


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
_GGUF_GLOBAL_NAMES = {
    "token_embd.weight": "emb.weight",
    "token_embd_norm.weight": "blocks.0.ln0.weight",
    "token_embd_norm.bias": "blocks.0.ln0.bias",
    "output_norm.weight": "ln_out.weight", "output_norm.bias": "ln_out.bias",
    "output.weight": "head.weight",
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
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    import gguf_writer  # lazily: only needed for GGUF input
    meta, tensors = gguf_writer.read_gguf(path)
    raw = {name: np.ascontiguousarray(gguf_writer.tensor_as_f32(t, a), dtype=F32)
           for name, (t, a) in tensors.items()}

    C = raw["token_embd.weight"].shape[1]
    head_size = None
    for k, v in meta.items():
        if k.endswith(".wkv.head_size"):
            head_size = int(v if np.isscalar(v) else np.asarray(v).reshape(-1)[0])
    out = {}
    for name, a in raw.items():
        if name in _GGUF_GLOBAL_NAMES:
            out[_GGUF_GLOBAL_NAMES[name]] = a
            continue
        m = re.match(r"blk\.(\d+)\.(.+)$", name)
        if not m:
            continue  # e.g. vocabulary tensors, if any
        i, rest = int(m.group(1)), m.group(2)
        b = f"blocks.{i}."
        if rest == "time_mix_lerp_fused.weight":
            six = a.reshape(6, C)
            for j, c in enumerate("rwkvag"):
                out[b + f"att.x_{c}"] = six[j].reshape(1, 1, C).copy()
            continue
        if rest not in _GGUF_LAYER_NAMES:
            raise KeyError(f"unexpected GGUF tensor {name} {a.shape}")
        off = _GGUF_LAYER_NAMES[rest]
        if i == 0 and off in ("att.v0", "att.v1", "att.v2"):
            continue  # dummies
        if re.fullmatch(r"att\.[wavg][12]", off):
            # official: *1 is (C, R) used as x @ w1 and *2 is (R, C);
            # llama.cpp keeps them as ggml mul_mat operands, i.e. transposed.
            a = a.T.copy()
            if off.endswith("1"):
                assert a.shape[0] == C, (name, a.shape)
            else:
                assert a.shape[1] == C, (name, a.shape)
        elif off in ("att.w0", "att.a0", "att.v0", "att.k_k", "att.k_a", "ffn.x_k"):
            a = a.reshape(1, 1, C)
        elif off == "att.r_k":
            # stored flat [C]; the head size comes from rwkv7.wkv.head_size
            # (rwkv7.attention.head_count is written as 0 by llama.cpp: unusable)
            N = head_size or 64
            a = a.reshape(C // N, N)
        out[b + off] = a
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
    H, N = weights["blocks.0.att.r_k"].shape   # r_k is (H, N): one row per head
    assert H * N == C, (H, N, C)
    return L, C, H, N, V


# ---------------------------------------------------------------------------
# Recurrent state
# ---------------------------------------------------------------------------
class State:
    """Everything RWKV-7 carries from one token to the next, per layer i:
      att_shift[i]  [C]        the ln1 output of the previous token (time-mix token shift)
      ffn_shift[i]  [C]        the ln2 output of the previous token (channel-mix token shift)
      wkv[i]        [H, N, N]  the per-head matrix state S[value][key]
    A zero state is the start of a sequence."""

    def __init__(self, n_layer, C, H, N):
        self.att_shift = np.zeros((n_layer, C), F32)
        self.ffn_shift = np.zeros((n_layer, C), F32)
        self.wkv = np.zeros((n_layer, H, N, N), F32)

    def copy(self):
        s = State.__new__(State)
        s.att_shift, s.ffn_shift, s.wkv = self.att_shift.copy(), self.ffn_shift.copy(), self.wkv.copy()
        return s

    def to_bytes(self):
        """Layer by layer: att shift, ffn shift, wkv [H][N][N]; little-endian float32."""
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
    "model."): time_state[h][value][key], this file's layout, so S = time_state
    as is; token shifts zero."""
    z = {k.removeprefix("model."): v for k, v in load_pth(path).items()}
    state = new_state(weights)
    for i in range(state.wkv.shape[0]):
        state.wkv[i] = z[f"blocks.{i}.att.time_state"]
    return state


# ---------------------------------------------------------------------------
# Elementary functions (float32 in, float32 out)
# ---------------------------------------------------------------------------
def sigmoid(x):
    return F32(1) / (F32(1) + np.exp(-x))


def layer_norm(x, w, b, eps=LN_EPS):
    # y = (x - mean(x)) / sqrt(var(x) + eps) * w + b, var biased (divide by C)
    mu = x.mean()
    var = ((x - mu) ** 2).mean()
    return (x - mu) / np.sqrt(var + F32(eps)) * w + b


def vec(weights, name):
    """A per-channel parameter as a flat [C] float32 vector."""
    return weights[name].reshape(-1)


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
    mu = out.mean(axis=1, keepdims=True)
    var = ((out - mu) ** 2).mean(axis=1, keepdims=True)
    out = ((out - mu) / np.sqrt(var + F32(GN_EPS))).reshape(-1) * P("ln_x.weight") + P("ln_x.bias")

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
    x = weights["emb.weight"][int(token)].astype(F32)
    x = layer_norm(x, weights["blocks.0.ln0.weight"], weights["blocks.0.ln0.bias"])
    v_first = None
    for i in range(L):
        b = f"blocks.{i}."
        # x = x + TimeMix(LN1(x))
        dx, v_first = time_mix(weights, i, layer_norm(x, weights[b + "ln1.weight"], weights[b + "ln1.bias"]),
                               state, v_first, H, N)
        x = x + dx
        # x = x + ChannelMix(LN2(x))
        x = x + channel_mix(weights, i, layer_norm(x, weights[b + "ln2.weight"], weights[b + "ln2.bias"]), state)
    # logits = head @ LN_out(x)
    x = layer_norm(x, weights["ln_out.weight"], weights["ln_out.bias"])
    return weights["head.weight"] @ x


def forward_seq(weights, tokens, state):
    """Feed tokens one at a time; return logits [T, V], row t after token t."""
    rows = [forward(weights, t, state) for t in tokens]
    return np.stack(rows).astype(F32) if rows else np.zeros((0, hparams(weights)[4]), F32)


def load(path):
    """Weights from a .pth or .gguf file (chosen by extension)."""
    return load_gguf(path) if path.endswith(".gguf") else load_pth(path)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description="Plain NumPy RWKV-7 reference forward pass.")
    ap.add_argument("model", help="official .pth or llama.cpp-layout .gguf")
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
