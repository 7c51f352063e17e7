"""What the three NumPy references (rwkv5_numpy.py, rwkv6_numpy.py,
rwkv7_numpy.py) share: reading weights (official .pth, GGUF), the recurrent
state, the norms and activations, the frame of the forward pass and the
command line.  The equations of each generation (time mixing, channel mixing)
stay in its own file, to be read top to bottom there.

All arithmetic is float32; weights are cast to float32 when loaded and every
intermediate stays float32 (NumPy keeps float32 when an array meets a Python
scalar).

Usage of a reference R (rwkv5_numpy, rwkv6_numpy or rwkv7_numpy) as a module
(with scripts/ on sys.path)::

    import rwkv7_numpy as R
    w = R.load_pth("model.pth")            # or R.load_gguf("model.gguf")
    st = R.new_state(w)
    logits = R.forward(w, token, st)       # one token, updates st in place
    all_logits = R.forward_seq(w, tokens, st)   # (T, V)

Command line (main)::

    rwkv7_numpy.py MODEL(.pth|.gguf) --tokens 1,2,3 [--out FILE] [--dump-state FILE]
                   [--time-state TIME_STATE.pth]

(likewise rwkv5_numpy.py, rwkv6_numpy.py).  ``--out`` writes the logits of
every position as little-endian float32 [T, V] (row t = logits after feeding
token t, starting from a zero state); ``--dump-state`` writes the final
state, layer by layer: att shift [C], ffn shift [C], wkv [H][N][N] in the
model's order (RWKV-5/6: [key][value], RWKV-7: [value][key]), all
little-endian float32.  ``--time-state`` starts from the state a
state-tuning checkpoint holds (state_from_time_state) instead of a zero
state.  Without --out, the five most likely tokens of each position are
printed.
"""
import argparse
import re
import sys

import numpy as np

F32 = np.float32

LN_EPS = 1e-5    # every LayerNorm (ln0, ln1, ln2, ln_out)
GN_EPS = 64e-5   # the per-head GroupNorm ln_x: training computes GroupNorm(x / 8, eps 1e-5),
#                  which is GroupNorm(x, eps 1e-5 * 8**2) (8 = head_size_divisor)


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


# GGUF name -> official name, for the tensors outside the layers (the same
# in every generation).  The per-layer names are in each generation's file.
GGUF_GLOBAL_NAMES = {
    "token_embd.weight": "emb.weight",
    "token_embd_norm.weight": "blocks.0.ln0.weight",
    "token_embd_norm.bias": "blocks.0.ln0.bias",
    "output_norm.weight": "ln_out.weight", "output_norm.bias": "ln_out.bias",
    "output.weight": "head.weight",
}


def read_gguf(path):
    """A GGUF file -> (metadata, {GGUF name: float32 ndarray}, embedding size C)."""
    import gguf_writer  # lazily: only needed for GGUF input (it lives next to this file)
    meta, tensors = gguf_writer.read_gguf(path)
    raw = {name: np.ascontiguousarray(gguf_writer.tensor_as_f32(t, a), dtype=F32)
           for name, (t, a) in tensors.items()}
    return meta, raw, raw["token_embd.weight"].shape[1]


def meta_int(meta, key, default=0):
    """An integer metadata value (a one-element array too)."""
    return int(np.asarray(meta.get(key, default)).reshape(-1)[0])


def official_weights(raw, C, layer_names, fix, fused_lerp=None):
    """{GGUF name: array} -> {official name: array}, in the file's order.

    layer_names maps the part after "blk.N." to the part after "blocks.N.";
    fix(i, official part, array) undoes the generation's layout changes for
    one tensor of layer i and returns the official array (None: drop it).
    fused_lerp = (official prefix, letters): time_mix_lerp_fused stacks the
    mixes prefix + letter, in the order of the letters, as (n, 1, 1, C).
    Tensors outside the layers are renamed (GGUF_GLOBAL_NAMES); others, such
    as vocabulary tensors, are skipped.
    """
    out = {}
    for name, a in raw.items():
        if name in GGUF_GLOBAL_NAMES:
            out[GGUF_GLOBAL_NAMES[name]] = a
            continue
        m = re.match(r"blk\.(\d+)\.(.+)$", name)
        if not m:
            continue
        i, rest = int(m.group(1)), m.group(2)
        b = f"blocks.{i}."
        if fused_lerp and rest == "time_mix_lerp_fused.weight":
            prefix, letters = fused_lerp
            rows = a.reshape(len(letters), C)
            for j, c in enumerate(letters):
                out[b + prefix + c] = rows[j].reshape(1, 1, C).copy()
            continue
        if rest not in layer_names:
            raise KeyError(f"unexpected GGUF tensor {name} {a.shape}")
        off = layer_names[rest]
        a = fix(i, off, a)
        if a is not None:
            out[b + off] = a
    return out


def undo_rescale(a, i, off, every):
    """rescale_every_n_layers = every > 0 (llama.cpp's files converted from
    Hugging Face checkpoints): att.output and ffn.value of layer i are stored
    divided by 2^(i // every) and the engine halves x after every n-th layer.
    Multiplied back here (exactly: powers of two), giving the official model."""
    if every > 0 and off in ("att.output.weight", "ffn.value.weight"):
        return a * F32(2.0 ** (i // every))
    return a


def load(path, load_gguf):
    """Weights from a .pth or (with load_gguf) a .gguf file, chosen by extension."""
    return load_gguf(path) if path.endswith(".gguf") else load_pth(path)


# ---------------------------------------------------------------------------
# Hyperparameters, inferred from the weight shapes
# ---------------------------------------------------------------------------
def hparams(weights, per_head):
    """-> (n_layer L, embedding C, heads H, head size N, vocabulary V); H and
    N are the shape of the (H, N) tensor named per_head."""
    V, C = weights["emb.weight"].shape
    L = 0
    while f"blocks.{L}.ln1.weight" in weights:
        L += 1
    H, N = weights[per_head].shape
    assert H * N == C, (H, N, C)
    return L, C, H, N, V


# ---------------------------------------------------------------------------
# Recurrent state
# ---------------------------------------------------------------------------
class State:
    """Everything an RWKV-5/6/7 model carries from one token to the next, per layer i:
      att_shift[i]  [C]        the ln1 output of the previous token (time-mix token shift)
      ffn_shift[i]  [C]        the ln2 output of the previous token (channel-mix token shift)
      wkv[i]        [H, N, N]  the per-head matrix state: S[key][value] in
                               RWKV-5/6, S[value][key] in RWKV-7
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


def state_from_time_state(state, path, transpose):
    """`state` (zero) with the wkv state that state tuning (RWKV-PEFT,
    RWKV-LM) trains, from its checkpoint of blocks.N.att.time_state [H, N, N]
    (optionally prefixed "model."), time_state[h][value][key]: transposed
    when the model's S is [key][value].  Token shifts stay zero."""
    z = {k.removeprefix("model."): v for k, v in load_pth(path).items()}
    for i in range(state.wkv.shape[0]):
        ts = z[f"blocks.{i}.att.time_state"]
        state.wkv[i] = ts.transpose(0, 2, 1) if transpose else ts
    return state


# ---------------------------------------------------------------------------
# Elementary functions (float32 in, float32 out)
# ---------------------------------------------------------------------------
def sigmoid(x):
    return F32(1) / (F32(1) + np.exp(-x))


def silu(x):
    return x * sigmoid(x)


def layer_norm(x, w, b, eps=LN_EPS):
    # y = (x - mean(x)) / sqrt(var(x) + eps) * w + b, var biased (divide by C)
    mu = x.mean()
    var = ((x - mu) ** 2).mean()
    return (x - mu) / np.sqrt(var + F32(eps)) * w + b


def group_norm(x, w, b, eps=GN_EPS):
    """ln_x: x [H, N] normalised per head (row) separately, flattened to [C],
    then the usual per-channel affine."""
    mu = x.mean(axis=1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=1, keepdims=True)
    return ((x - mu) / np.sqrt(var + F32(eps))).reshape(-1) * w + b


def norm(weights, name, x):
    """The LayerNorm `name` (e.g. "blocks.3.ln1") applied to x."""
    return layer_norm(x, weights[name + ".weight"], weights[name + ".bias"])


def vec(weights, name):
    """A per-channel parameter as a flat [C] float32 vector."""
    return weights[name].reshape(-1)


# ---------------------------------------------------------------------------
# The frame of the forward pass
# ---------------------------------------------------------------------------
def embed(weights, token):
    """The embedding of one token, then ln0 (a LayerNorm that only block 0 has)."""
    x = weights["emb.weight"][int(token)].astype(F32)
    return norm(weights, "blocks.0.ln0", x)


def logits(weights, x):
    """logits = head @ LN_out(x)."""
    return weights["head.weight"] @ norm(weights, "ln_out", x)


def forward(weights, token, state, time_mix, channel_mix):
    """One token through a model whose layers are x = x + time_mix(LN1(x)),
    x = x + channel_mix(LN2(x)) (RWKV-5.2, RWKV-6; RWKV-7's time mix also
    carries v_first from layer 0, see rwkv7_numpy.forward).  Updates `state`
    in place; returns the logits [V]."""
    L, H, N = state.wkv.shape[:3]
    x = embed(weights, token)
    for i in range(L):
        b = f"blocks.{i}."
        x = x + time_mix(weights, i, norm(weights, b + "ln1", x), state, H, N)
        x = x + channel_mix(weights, i, norm(weights, b + "ln2", x), state)
    return logits(weights, x)


def forward_seq(forward, weights, tokens, state):
    """forward() over tokens one at a time; logits [T, V], row t after token t."""
    rows = [forward(weights, t, state) for t in tokens]
    return np.stack(rows).astype(F32) if rows else np.zeros((0, weights["emb.weight"].shape[0]), F32)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------
def main(argv, ref, description, model_help):
    """The command line of the reference module `ref` (see any of the three
    files' docstring): logits and final state of a token sequence."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("model", help=model_help)
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    ap.add_argument("--out", help="write logits [T, V] as little-endian float32")
    ap.add_argument("--dump-state", help="write the final state as little-endian float32")
    ap.add_argument("--time-state", help="start from a state-tuning checkpoint (blocks.N.att.time_state .pth) "
                                         "instead of a zero state")
    a = ap.parse_args(argv)

    tokens = [int(t) for t in a.tokens.replace(" ", "").split(",") if t != ""]
    weights = load(a.model, ref.load_gguf)
    L, C, H, N, V = ref.hparams(weights)
    state = ref.state_from_time_state(weights, a.time_state) if a.time_state else ref.new_state(weights)
    rows = ref.forward_seq(weights, tokens, state)
    if a.out:
        with open(a.out, "wb") as f:
            f.write(np.ascontiguousarray(rows, "<f4").tobytes())
    if a.dump_state:
        with open(a.dump_state, "wb") as f:
            f.write(state.to_bytes())
    print(f"layers {L} embd {C} heads {H} head_size {N} vocab {V} tokens {len(tokens)}", file=sys.stderr)
    if not a.out:
        for t, row in enumerate(rows):
            top = np.argsort(-row)[:5]
            print(t, tokens[t], " ".join(f"{j}:{row[j]:.4f}" for j in top))
    return 0
