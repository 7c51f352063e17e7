#!/usr/bin/python3
"""train.py - train a small RWKV-7 ("Goose", x070) language model on the CPU.

usage: train.py [--corpus kjv|FILE] [--vocab byte|world] [--layers 4] [--embd 256]
                [--ctx 256] [--batch 8] [--steps 2000] [--lr 1.5e-3] ...
                [--out-dir runs/NAME] [--resume] [--export OUT.gguf] [--dtype f16]

PyTorch (Debian's python3-torch) on the CPU, no CUDA, no downloads.  The model
is written from the same equations as scripts/rwkv7_numpy.py (the project's
reference), in batch form over a whole sequence:

  token shift      x_m = x + (x_prev - x) * mu_m        for m in r, w, k, v, a, g
  projections      r = W_r xr,  k = W_k xk,  v = W_v xv
  decay            w = exp(-e^-0.5 * sigmoid(w0 + tanh(xw w1) w2))
  value residual   v = v + (v_first - v) * sigmoid(v0 + (xv v1) v2)   (layers > 0)
  in-context lr    a = sigmoid(a0 + (xa a1) a2)
  gate             g = sigmoid(xg g1) g2
  removal key      kk = normalize(k * k_k) per head
  replacement key  k = k * (1 + (a - 1) * k_a)
  WKV              S_t = S_{t-1} diag(w_t) + (S_{t-1} (-kk_t)) (kk_t * a_t)^T + v_t k_t^T,
                   y_t = S_t r_t         (S is [value][key] per head)
  out              W_o ((GroupNorm_eps64e-5(y) + (sum_head r k r_k) v) * g)
  channel mix      W_v relu(W_k (x + (x_prev - x) mu_k))^2
  blocks           x = ln0(emb[token]);  x += TimeMix(ln1 x);  x += ChannelMix(ln2 x)
  logits           head ln_out(x)

The WKV recurrence
------------------
The state update is linear in S, so a sequence can be processed in chunks of
`--chunk` steps (default 32) with matrix products instead of one tiny update
per token.  Inside a chunk starting from state S0, with Lam_t the running
product of the decays (Lam_t = w_1 ... w_t, elementwise over the key index) and
the removal vectors a_t = -kk_t, b_t = kk_t * a_t:

  S_t  = S0 Lam_t + sum_{j<=t} (v_j k_j^T + sa_j b_j^T) diag(Lam_t / Lam_j)
  sa_t = S_{t-1} a_t
       = S0 (Lam_{t-1} a_t) + sum_{j<t} [(a_t Lam_{t-1}) . (k_j / Lam_j)] v_j
                            + sum_{j<t} [(a_t Lam_{t-1}) . (b_j / Lam_j)] sa_j

The last line is a unit lower-triangular linear system in the sa_t of the
chunk (one triangular solve), after which every y_t and the chunk's final
state are plain matrix products.  RWKV-7's decay is bounded below
(w > exp(-0.6065) = 0.545), so 1 / Lam_t stays below 0.545^-L: 2.7e8 for
L = 32, comfortably inside float32's range, and the factored products lose
no relative precision.  Autograd differentiates all of it (the triangular
solve included); no custom kernel is needed.  `--wkv loop` is the plain
token-by-token recurrence (the exact reference; a whole training step is
about 5x slower with it); tests/test_train.py checks that both agree,
values and gradients.

Training
--------
Initialisation follows BlinkDL's RWKV-LM RWKV-v7 trainer (train_temp/src/model.py):
the token-shift mixes ramp with the channel index and the layer depth, the decay
bias w0 spans a wide range of time scales per head, LoRA down-projections start
at zero and up-projections orthogonal with gain 0.1, receptance/value/ffn-key
orthogonal (key 0.1), the output and ffn-value projections zero (every block
starts as the identity), embedding uniform +-1e-4, head orthogonal, ln_x
weights (layer/L)^0.7.  AdamW (weight decay on matrices only, w0 at 2x the
learning rate), linear warmup then cosine decay, gradient clipping, the
official "L2 wrap" nudge that keeps the largest logit from drifting.

Corpus: `--corpus kjv` (default) is the King James Bible from Debian's
bible-kjv-text package, read through its `bible` program (package bible-kjv,
which depends on bible-kjv-text): one verse per line, the references removed.
Any other value is a text file.  The last `--val-frac` (5%) is the validation
slice; validation loss is measured by streaming the slice through the
recurrent state (as `rwkv-cli perplexity` does), in bits per byte.

Checkpoints go to OUT_DIR/ckpt.pt every --save-every steps, on Ctrl-C/SIGTERM
and at the end; `--resume` continues from there (same configuration and data
order).  At the end the model is written as OUT_DIR/<name>.pth (official
BlinkDL layout, float32) and converted with scripts/convert.py to a GGUF in
llama.cpp's RWKV-7 layout (--export), and the loss curve is drawn to
OUT_DIR/loss.png when matplotlib (python3-matplotlib) is installed.

Speed: the matrix products go through the system BLAS.  Debian's default
(reference BLAS, libblas3) is about 10x slower than OpenBLAS; install
libopenblas0-serial (single-threaded) or libopenblas0-pthread before training.
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PROG = "train.py"
# NumPy warns when it inspects float limits while flush-to-zero is on: harmless.
warnings.filterwarnings("ignore", message="The value of the smallest subnormal")
DECAY_SCALE = math.exp(-0.5)        # 0.606531: w = exp(-DECAY_SCALE * sigmoid(.))
LN_EPS = 1e-5
GN_EPS = 64e-5
KJV_RANGE = "gen1:1-rev22:21"


class TrainError(Exception):
    """A problem reported as one line, exit status 1."""


# ---------------------------------------------------------------------------
# Corpus and tokenizers
# ---------------------------------------------------------------------------

def kjv_text() -> bytes:
    """The King James Bible, one verse per line, without the references."""
    exe = shutil.which("bible")
    if exe is None:
        raise TrainError("--corpus kjv needs the King James Bible from Debian: "
                         "apt-get install bible-kjv (its `bible` program reads bible-kjv-text's data)")
    # -f switches pretty-printing off: one verse per line, "Ge1:1 In the beginning ..."
    out = subprocess.run([exe, "-f", KJV_RANGE], capture_output=True, check=True).stdout
    lines = out.decode("utf-8").splitlines()
    verses = [re.sub(r"^\S+?\d+:\d+ ", "", ln) for ln in lines if ln.strip()]
    if len(verses) != 31102:
        raise TrainError(f"bible printed {len(verses)} verses, expected 31102")
    return ("\n".join(verses) + "\n").encode("utf-8")


def kjv_version() -> str:
    try:
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", "bible-kjv-text"],
                              capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        return "?"


class WorldTokenizer:
    """The RWKV world vocabulary (65,536 tokens): greedy longest match over
    bytes, left to right, as the official trie tokenizer does."""

    def __init__(self, path: str):
        self.tokens = {0: b""}
        root: dict = {}
        with open(path, "r", encoding="utf-8") as f:
            for line in f:
                idx, rest = line.rstrip("\r\n").split(" ", 1)
                literal, _ = rest.rsplit(" ", 1)
                tok = ast.literal_eval(literal)
                if isinstance(tok, str):
                    tok = tok.encode("utf-8")
                self.tokens[int(idx)] = tok
                node = root
                for byte in tok:
                    node = node.setdefault(byte, {})
                node[-1] = int(idx)        # key -1: the token ending here
        self.root = root
        self.n_vocab = 65536

    def encode(self, data: bytes) -> list:
        out, i, n, root = [], 0, len(data), self.root
        while i < n:
            node, j, last = root, i, None
            while j < n:
                node = node.get(data[j])
                if node is None:
                    break
                j += 1
                if -1 in node:
                    last = (j, node[-1])
            out.append(last[1])        # every single byte is a token: never None
            i = last[0]
        return out

    def decode(self, ids) -> bytes:
        return b"".join(self.tokens.get(int(i), b"") for i in ids)

    def token_bytes(self) -> np.ndarray:
        lens = np.zeros(self.n_vocab, np.int64)
        for i, t in self.tokens.items():
            lens[i] = len(t)
        return lens


def default_world_vocab() -> Path:
    return HERE.parent.parent / "shared" / "data" / "tokenizer" / "rwkv_vocab_v20230424.txt"


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------

def lora_rank(c: int, factor: float) -> int:
    """The official suggestion: max(32, round(factor * sqrt(C) / 32) * 32)."""
    return max(32, int(round(factor * c ** 0.5 / 32)) * 32)


def shift(x: torch.Tensor, prev: torch.Tensor | None) -> torch.Tensor:
    """(B, T, C) -> the previous token's vector at every position; `prev` (B, C)
    is the last vector of the preceding text (zeros at the start)."""
    first = torch.zeros_like(x[:, :1]) if prev is None else prev[:, None, :]
    return torch.cat([first, x[:, :-1]], dim=1)


def wkv_loop(r, lw, k, v, a, b, S):
    """Reference recurrence, one token at a time.  r, lw (log decay), k, v,
    a (= -kk), b (= kk * a): (B, T, H, N); S: (B, H, N, N) as [value][key].
    Returns y (B, T, H, N) and the final state."""
    w = torch.exp(lw)
    ys = []
    for t in range(r.shape[1]):
        sa = S @ a[:, t, :, :, None]                                  # (B, H, N, 1)
        S = S * w[:, t, :, None, :] + sa * b[:, t, :, None, :] + v[:, t, :, :, None] * k[:, t, :, None, :]
        ys.append((S @ r[:, t, :, :, None])[..., 0])
    return torch.stack(ys, dim=1), S


def wkv_chunked(r, lw, k, v, a, b, S, chunk=32):
    """Same as wkv_loop, with matrix products over chunks of `chunk` tokens
    (see the module docstring).  Everything inside a chunk is computed for
    all chunks at once; only S_c = S_{c-1} G_c + U_c runs chunk by chunk."""
    B, T, H, N = r.shape
    L = min(chunk, T)
    nc = -(-T // L)
    pad = nc * L - T
    # (B, T, H, N) -> (B, H, nc, L, N); padding steps have k = v = a = b = 0
    # and decay 1, so they leave the state as it is.
    r, lw, k, v, a, b = (F.pad(t, (0, 0, 0, 0, 0, pad)).view(B, nc, L, H, N).permute(0, 3, 1, 2, 4)
                         for t in (r, lw, k, v, a, b))
    cum = lw.cumsum(dim=3)                      # log Lam_t, inclusive
    inv = torch.exp(-cum)                       # 1 / Lam_j
    kq, bq = k * inv, b * inv                   # keys brought back to the chunk start
    aq = a * torch.exp(cum - lw)                # a_t Lam_{t-1}
    rq = r * torch.exp(cum)                     # r_t Lam_t
    strict = torch.ones(L, L).tril(-1)
    incl = torch.ones(L, L).tril(0)
    A_ak = (aq @ kq.mT) * strict
    A_ab = (aq @ bq.mT) * strict
    A_rk = (rq @ kq.mT) * incl
    A_rb = (rq @ bq.mT) * incl
    # SA = (I - A_ab)^-1 (aq S0^T + A_ak V) = P S0^T + SAi
    X = torch.linalg.solve_triangular(-A_ab, torch.cat([aq, A_ak @ v], dim=-1),
                                      upper=False, unitriangular=True)
    P, SAi = X[..., :N], X[..., N:]
    # y = rq S0^T + A_rk V + A_rb SA = Q S0^T + Yi
    Q = rq + A_rb @ P
    Yi = A_rk @ v + A_rb @ SAi
    # S_end = S0 diag(Lam_L) + V^T (k Lam_L/Lam_j) + SA^T (b Lam_L/Lam_j) = S0 G + U
    to_end = torch.exp(cum[..., -1:, :] - cum)  # Lam_L / Lam_j  (<= 1)
    bE = b * to_end
    G = torch.diag_embed(torch.exp(cum[..., -1, :])) + P.mT @ bE
    U = v.mT @ (k * to_end) + SAi.mT @ bE
    starts = []
    for Gc, Uc in zip(G.unbind(2), U.unbind(2)):    # unbind: one backward op, not nc
        starts.append(S)
        S = torch.baddbmm(Uc.reshape(-1, N, N), S.reshape(-1, N, N), Gc.reshape(-1, N, N)).view(B, H, N, N)
    S0 = torch.stack(starts, dim=2)             # (B, H, nc, N, N): each chunk's initial state
    y = Q @ S0.mT + Yi                          # (B, H, nc, L, N)
    y = y.permute(0, 2, 3, 1, 4).reshape(B, nc * L, H, N)[:, :T]
    return y, S


class TimeMix(nn.Module):
    def __init__(self, cfg: dict, layer: int):
        super().__init__()
        C, N, L = cfg["embd"], cfg["head_size"], cfg["layers"]
        H = C // N
        self.layer, self.H, self.N = layer, H, N
        r01 = layer / max(L - 1, 1)               # 0 .. 1 over the depth
        r10 = 1.0 - layer / L                      # 1 .. ~0
        ddd = torch.arange(C, dtype=torch.float32).reshape(1, 1, C) / C
        P = lambda t: nn.Parameter(t.float().contiguous())  # noqa: E731

        # Parameters in the official order (the checkpoint and GGUF follow it).
        self.x_r = P(1.0 - ddd ** (0.2 * r10))
        self.x_w = P(1.0 - ddd ** (0.9 * r10))
        self.x_k = P(1.0 - ddd ** (0.7 * r10))
        self.x_v = P(1.0 - ddd ** (0.7 * r10))
        self.x_a = P(1.0 - ddd ** (0.9 * r10))
        self.x_g = P(1.0 - ddd ** (0.2 * r10))

        n = torch.arange(C, dtype=torch.float32)
        linear = n / (C - 1) - 0.5                                   # -0.5 .. 0.5
        zigzag = ((n % N) - (N - 1) / 2) / ((N - 1) / 2)             # -1 .. 1 inside each head
        zigzag = zigzag * zigzag.abs()
        www = -6 + 6 * (n / (C - 1)) ** (1 + 1 * r01 ** 0.3)         # slow .. fast decays

        def ortho(rows, cols, scale):
            t = torch.empty(rows, cols)
            gain = math.sqrt(rows / cols) if rows > cols else 1.0
            nn.init.orthogonal_(t, gain=gain * scale)
            return t

        dw, da, dv, dg = (lora_rank(C, f) for f in (2.5, 2.5, 1.7, 5.0))
        self.w1 = P(torch.zeros(C, dw))
        self.w2 = P(ortho(dw, C, 0.1))
        self.w0 = P((www + 0.5 + zigzag * 2.5).reshape(1, 1, C))
        self.a1 = P(torch.zeros(C, da))
        self.a2 = P(ortho(da, C, 0.1))
        self.a0 = P((-0.19 + zigzag * 0.3 + linear * 0.4).reshape(1, 1, C))
        if layer > 0:                          # layer 0 defines v_first: no value residual
            self.v1 = P(torch.zeros(C, dv))
            self.v2 = P(ortho(dv, C, 0.1))
            self.v0 = P((0.73 - linear * 0.4).reshape(1, 1, C))
        self.g1 = P(torch.zeros(C, dg))
        self.g2 = P(ortho(dg, C, 0.1))
        self.k_k = P((0.71 - linear * 0.1).reshape(1, 1, C))
        self.k_a = P(torch.full((1, 1, C), 1.02))
        self.r_k = P(torch.full((H, N), -0.04))

        self.receptance = nn.Linear(C, C, bias=False)
        self.key = nn.Linear(C, C, bias=False)
        self.value = nn.Linear(C, C, bias=False)
        self.output = nn.Linear(C, C, bias=False)
        self.ln_x = nn.GroupNorm(H, C, eps=GN_EPS)
        with torch.no_grad():
            nn.init.orthogonal_(self.receptance.weight, gain=1.0)
            nn.init.orthogonal_(self.key.weight, gain=0.1)
            nn.init.orthogonal_(self.value.weight, gain=1.0)
            nn.init.zeros_(self.output.weight)
            self.ln_x.weight.fill_(((1 + layer) / L) ** 0.7)
            self.ln_x.bias.zero_()

    def forward(self, x, v_first, prev, S, wkv, chunk):
        B, T, C = x.shape
        H, N = self.H, self.N
        xx = shift(x, prev) - x
        xr, xw, xk, xv, xa, xg = (x + xx * m for m in (self.x_r, self.x_w, self.x_k,
                                                     self.x_v, self.x_a, self.x_g))
        r = self.receptance(xr)
        k = self.key(xk)
        v = self.value(xv)
        # log of the decay: w = exp(lw), lw = -e^-0.5 sigmoid(w0 + tanh(xw w1) w2)
        lw = -DECAY_SCALE * torch.sigmoid(self.w0 + torch.tanh(xw @ self.w1) @ self.w2)
        if self.layer == 0:
            v_first = v
        else:
            v = v + (v_first - v) * torch.sigmoid(self.v0 + (xv @ self.v1) @ self.v2)
        a = torch.sigmoid(self.a0 + (xa @ self.a1) @ self.a2)
        g = torch.sigmoid(xg @ self.g1) @ self.g2
        kk = F.normalize((k * self.k_k).view(B, T, H, N), dim=-1, p=2.0, eps=1e-12)
        k = k * (1 + (a - 1) * self.k_a)

        hv = lambda t: t.view(B, T, H, N)  # noqa: E731
        if S is None:
            S = x.new_zeros(B, H, N, N)
        args = (hv(r), hv(lw), hv(k), hv(v), -kk, kk * hv(a), S)
        y, S = wkv_loop(*args) if wkv == "loop" else wkv_chunked(*args, chunk=chunk)

        y = self.ln_x(y.reshape(B * T, C)).view(B, T, C)
        bonus = (hv(r) * hv(k) * self.r_k).sum(dim=-1, keepdim=True) * hv(v)
        y = y + bonus.view(B, T, C)
        return self.output(y * g), v_first, x[:, -1], S


class ChannelMix(nn.Module):
    def __init__(self, cfg: dict, layer: int):
        super().__init__()
        C, L = cfg["embd"], cfg["layers"]
        r10 = 1.0 - layer / L
        ddd = torch.arange(C, dtype=torch.float32).reshape(1, 1, C) / C
        self.x_k = nn.Parameter(1.0 - ddd ** (r10 ** 4))
        self.key = nn.Linear(C, 4 * C, bias=False)
        self.value = nn.Linear(4 * C, C, bias=False)
        with torch.no_grad():
            nn.init.orthogonal_(self.key.weight, gain=1.0)
            nn.init.zeros_(self.value.weight)

    def forward(self, x, prev):
        xk = x + (shift(x, prev) - x) * self.x_k
        return self.value(torch.relu(self.key(xk)) ** 2), x[:, -1]


class Block(nn.Module):
    def __init__(self, cfg: dict, layer: int):
        super().__init__()
        C = cfg["embd"]
        self.layer = layer
        self.ln1 = nn.LayerNorm(C, eps=LN_EPS)
        self.ln2 = nn.LayerNorm(C, eps=LN_EPS)
        if layer == 0:
            self.ln0 = nn.LayerNorm(C, eps=LN_EPS)
        self.att = TimeMix(cfg, layer)
        self.ffn = ChannelMix(cfg, layer)

    def forward(self, x, v_first, st, wkv, chunk):
        """st: this layer's (att shift, ffn shift, wkv) or Nones; returns the new ones."""
        if self.layer == 0:
            x = self.ln0(x)
        dx, v_first, att_prev, S = self.att(self.ln1(x), v_first, st[0], st[2], wkv, chunk)
        x = x + dx
        dx, ffn_prev = self.ffn(self.ln2(x), st[1])
        return x + dx, v_first, (att_prev, ffn_prev, S)


class RWKV7(nn.Module):
    """state_dict() names and shapes are the official BlinkDL ones."""

    def __init__(self, cfg: dict):
        super().__init__()
        C, V = cfg["embd"], cfg["n_vocab"]
        if C % cfg["head_size"]:
            raise TrainError(f"--embd {C} is not a multiple of --head-size {cfg['head_size']}")
        self.cfg = cfg
        self.emb = nn.Embedding(V, C)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg["layers"]))
        self.ln_out = nn.LayerNorm(C, eps=LN_EPS)
        self.head = nn.Linear(C, V, bias=False)
        with torch.no_grad():
            nn.init.uniform_(self.emb.weight, -1e-4, 1e-4)
            nn.init.orthogonal_(self.head.weight, gain=0.5 * math.sqrt(V / C) if V > C else 0.5)

    def forward(self, idx, state=None, wkv="chunked", chunk=32):
        """idx (B, T) int64 -> logits (B, T, V), new state (a list of
        (att shift (B,C), ffn shift (B,C), wkv (B,H,N,N)) per layer).
        state=None is the zero state (the start of a text)."""
        x = self.emb(idx)
        v_first = None
        new_state = []
        for i, blk in enumerate(self.blocks):
            st = state[i] if state is not None else (None, None, None)
            x, v_first, st = blk(x, v_first, st, wkv, chunk)
            new_state.append(st)
        return self.head(self.ln_out(x)), new_state


def official_state_dict(model: RWKV7) -> "dict[str, torch.Tensor]":
    return {k: v.detach().float().contiguous().clone() for k, v in model.state_dict().items()}


class L2Wrap(torch.autograd.Function):
    """Official RWKV trick: the loss is unchanged, but the gradient also pulls
    each position's largest logit towards 0 (factor 1e-4 / tokens), so that
    logits do not drift upwards over a long training."""

    @staticmethod
    def forward(ctx, loss, logits):
        ctx.save_for_backward(logits)
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        (logits,) = ctx.saved_tensors
        factor = 1e-4 / (logits.shape[0] * logits.shape[1])
        maxx, ids = torch.max(logits, -1, keepdim=True)
        gy = torch.zeros_like(logits).scatter_(-1, ids, maxx * factor)
        return grad_output, grad_output * gy


# ---------------------------------------------------------------------------
# Optimiser and schedule
# ---------------------------------------------------------------------------

def make_optimizer(model: RWKV7, cfg: dict) -> torch.optim.Optimizer:
    """Official grouping: weight decay on the 2-D `.weight` matrices, w0 at
    twice the learning rate, everything else plain."""
    decay, plain, fast = [], [], []
    for name, p in model.named_parameters():
        if name.endswith("att.w0"):
            fast.append(p)
        elif p.squeeze().dim() >= 2 and name.endswith(".weight") and cfg["weight_decay"] > 0:
            decay.append(p)
        else:
            plain.append(p)
    groups = [{"params": plain, "weight_decay": 0.0, "lr_scale": 1.0},
              {"params": fast, "weight_decay": 0.0, "lr_scale": 2.0},
              {"params": decay, "weight_decay": cfg["weight_decay"], "lr_scale": 1.0}]
    return torch.optim.AdamW(groups, lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]),
                             eps=cfg["adam_eps"])


def progress_of(step: int, elapsed: float, cfg: dict) -> float:
    """How far the run is, 0 .. 1: by steps, or with --minutes by training time."""
    if cfg.get("minutes"):
        return min(1.0, elapsed / (cfg["minutes"] * 60))
    return min(1.0, step / max(cfg["steps"], 1))


def lr_at(step: int, elapsed: float, cfg: dict) -> float:
    """Linear warmup to --lr over --warmup steps, then cosine down to
    --lr-final at the end of the run (the end of --steps, or of --minutes)."""
    if step < cfg["warmup"]:
        return cfg["lr"] * (step + 1) / cfg["warmup"]
    if cfg.get("minutes"):
        progress = progress_of(step, elapsed, cfg)
    else:
        progress = min(1.0, (step - cfg["warmup"]) / max(1, cfg["steps"] - cfg["warmup"]))
    return cfg["lr_final"] + 0.5 * (cfg["lr"] - cfg["lr_final"]) * (1 + math.cos(math.pi * progress))


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------

class Data:
    def __init__(self, cfg: dict, out_dir: Path):
        corpus = cfg["corpus"]
        raw = kjv_text() if corpus == "kjv" else Path(corpus).read_bytes()
        if cfg["vocab"] == "byte":
            ids = np.frombuffer(raw, dtype=np.uint8).astype(np.int64)
            self.token_bytes = np.ones(256, np.int64)
            self.tokenizer = None
        else:
            tok = WorldTokenizer(cfg["world_vocab"])
            import hashlib
            cache = out_dir / f"corpus-world-{hashlib.sha1(raw).hexdigest()[:12]}.npy"
            if cache.exists():
                ids = np.load(cache)
            else:
                ids = np.asarray(tok.encode(raw), dtype=np.int64)
                np.save(cache, ids)
            self.token_bytes = tok.token_bytes()
            self.tokenizer = tok
        self.n_bytes = len(raw)
        n_val = int(len(ids) * cfg["val_frac"])
        if len(ids) - n_val < cfg["ctx"] + 2 or n_val < 2:
            raise TrainError(f"{corpus}: {len(ids)} tokens are too few for --ctx {cfg['ctx']}")
        self.train = torch.from_numpy(ids[:len(ids) - n_val].copy())
        self.val = torch.from_numpy(ids[len(ids) - n_val:].copy())

    def batch(self, step: int, cfg: dict):
        """Random windows; the generator is seeded by (seed, step), so a resumed
        run sees exactly the batches an uninterrupted one would."""
        rng = np.random.default_rng([cfg["seed"], step])
        starts = rng.integers(0, len(self.train) - cfg["ctx"] - 1, size=cfg["batch"])
        idx = torch.from_numpy(starts)[:, None] + torch.arange(cfg["ctx"] + 1)
        w = self.train[idx]
        return w[:, :-1], w[:, 1:]


@torch.no_grad()
def evaluate(model: RWKV7, data: Data, cfg: dict, max_tokens: int | None = None) -> tuple:
    """Stream the validation slice through the recurrent state: it is cut into
    `streams` contiguous parts processed side by side, each in windows of --ctx
    tokens with the state carried from window to window.  Returns (mean loss
    per token in nats, bits per byte)."""
    model.eval()
    streams = 8
    val = data.val
    per = (len(val) - 1) // streams
    if max_tokens is not None:
        per = min(per, max(1, max_tokens // streams))
    xs = torch.stack([val[s * per: s * per + per] for s in range(streams)])
    ys = torch.stack([val[s * per + 1: s * per + per + 1] for s in range(streams)])
    state, nats, nbytes = None, 0.0, 0
    tb = torch.from_numpy(data.token_bytes)
    for t0 in range(0, per, cfg["ctx"]):
        x, y = xs[:, t0:t0 + cfg["ctx"]], ys[:, t0:t0 + cfg["ctx"]]
        logits, state = model(x, state, cfg["wkv"], cfg["chunk"])
        nats += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                reduction="sum").item()
        nbytes += int(tb[y].sum())
    model.train()
    n = streams * per
    return nats / n, nats / math.log(2) / max(nbytes, 1)


# ---------------------------------------------------------------------------
# Checkpoints, export, plot
# ---------------------------------------------------------------------------

def save_checkpoint(path: Path, model, opt, cfg, step, history, elapsed) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"cfg": cfg, "step": step, "model": model.state_dict(), "opt": opt.state_dict(),
                "history": history, "elapsed": elapsed}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu")
    except FileNotFoundError:
        raise TrainError(f"{path}: no checkpoint to resume from")


def load_model(path: str) -> RWKV7:
    """A model from a checkpoint written by this script (for tests and tools)."""
    ck = load_checkpoint(Path(path))
    model = RWKV7(ck["cfg"])
    model.load_state_dict(ck["model"])
    model.eval()
    return model


def export(model: RWKV7, cfg: dict, out_dir: Path, gguf: str, dtype: str, name: str | None) -> None:
    """OUT_DIR/<stem>.pth (official layout, float32), then scripts/convert.py
    turns it into a GGUF laid out as llama.cpp writes RWKV-7."""
    import convert   # scripts/convert.py, imported as it is
    stem = Path(gguf).stem
    pth = out_dir / f"{stem}.pth"
    torch.save(official_state_dict(model), pth)
    argv = [str(pth), gguf, "--dtype", dtype]
    if cfg["vocab"] == "world":
        argv += ["--vocab", cfg["world_vocab"]]
    if name:
        argv += ["--name", name]
    if convert.main(argv) != 0:
        raise TrainError(f"{gguf}: conversion failed")


def plot(history: list, cfg: dict, path: Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"{PROG}: matplotlib not installed (apt-get install python3-matplotlib): "
              f"no {path.name}", file=sys.stderr)
        return False
    unit = "bits per byte" if cfg["vocab"] == "byte" else "nats per token"
    conv = (1 / math.log(2)) if cfg["vocab"] == "byte" else 1.0
    tr = [(h["tokens"] / 1e6, h["train_loss"] * conv) for h in history if "train_loss" in h]
    va = [(h["tokens"] / 1e6, h["val_bpb"] if cfg["vocab"] == "byte" else h["val_loss"])
          for h in history if "val_loss" in h]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    if tr:
        ax.plot(*zip(*tr), lw=1, alpha=0.8, label="train")
    if va:
        ax.plot(*zip(*va), "o-", ms=3, label="validation (streamed)")
    ax.set_xlabel("tokens seen (millions)")
    ax.set_ylabel(unit)
    ax.set_title(f"RWKV-7 L{cfg['layers']} D{cfg['embd']} ctx {cfg['ctx']} "
                 f"batch {cfg['batch']} ({cfg['vocab']} vocab)")
    if tr or va:
        lo = min(v for _, v in tr + va)
        ax.set_ylim(max(0.0, lo - 0.2), min(8.5 if cfg["vocab"] == "byte" else 12, lo + 3))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


# ---------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------

def fmt_time(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class Progress:
    """A one-line bar on stderr when it is a terminal; otherwise (or with
    --quiet) nothing: the log lines on stdout tell the story."""

    def __init__(self, cfg: dict, quiet: bool):
        self.cfg = cfg
        self.on = sys.stderr.isatty() and not quiet

    def update(self, step: int, elapsed: float, loss: float, lr: float, tps: float) -> None:
        if not self.on:
            return
        width = 24
        frac = progress_of(step, elapsed, self.cfg)
        fill = int(width * frac)
        where = (f"step {step} {fmt_time(elapsed)}/{fmt_time(self.cfg['minutes'] * 60)}"
                 if self.cfg.get("minutes") else f"{step}/{self.cfg['steps']}")
        eta = elapsed / max(frac, 1e-9) - elapsed
        sys.stderr.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {where} "
                         f"loss {loss:.3f} lr {lr:.2e} {tps:,.0f} tok/s ETA {fmt_time(eta)}  ")
        sys.stderr.flush()

    def clear(self) -> None:
        if self.on:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()


# ---------------------------------------------------------------------------
# Main loop
# ---------------------------------------------------------------------------

CFG_KEYS = ("corpus", "vocab", "world_vocab", "layers", "embd", "head_size", "ctx", "batch", "steps",
            "lr", "lr_final", "warmup", "weight_decay", "beta1", "beta2", "adam_eps", "clip",
            "l2wrap", "wkv", "chunk", "seed", "val_frac", "eval_every", "eval_tokens",
            "save_every", "log_every", "minutes")


def train(args) -> int:
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)   # tiny gradients must not hit the slow denormal path
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "ckpt.pt"

    if args.resume:
        ck = load_checkpoint(ckpt_path)
        cfg = ck["cfg"]
        if args.steps is not None and args.steps != cfg["steps"]:
            cfg["steps"] = args.steps     # extend (or shorten) the schedule
        if args.minutes is not None:
            cfg["minutes"] = args.minutes
        torch.manual_seed(cfg["seed"])
        model = RWKV7(cfg)
        model.load_state_dict(ck["model"])
        opt = make_optimizer(model, cfg)
        opt.load_state_dict(ck["opt"])
        step, history, elapsed = ck["step"], ck["history"], ck["elapsed"]
        print(f"{PROG}: resumed {ckpt_path} at step {step}/{cfg['steps']}", flush=True)
    else:
        cfg = {k: getattr(args, k) for k in CFG_KEYS}
        if cfg["steps"] is None:
            cfg["steps"] = 2000
        if cfg["vocab"] == "world":
            cfg["world_vocab"] = str(Path(cfg["world_vocab"] or default_world_vocab()))
            if not Path(cfg["world_vocab"]).is_file():
                raise TrainError(f"{cfg['world_vocab']}: no such vocabulary file (--world-vocab)")
        torch.manual_seed(cfg["seed"])
        step, history, elapsed = 0, [], 0.0
        model = None

    data = Data(cfg, out_dir)
    cfg["n_vocab"] = 256 if cfg["vocab"] == "byte" else 65536
    if model is None:
        model = RWKV7(cfg)
        opt = make_optimizer(model, cfg)
    n_params = sum(p.numel() for p in model.parameters())
    tokens_per_step = cfg["batch"] * cfg["ctx"]
    length = f"{cfg['minutes']:g} minutes" if cfg.get("minutes") else f"{cfg['steps']} steps"
    print(f"{PROG}: RWKV-7 L{cfg['layers']} D{cfg['embd']} head {cfg['head_size']} vocab {cfg['n_vocab']}"
          f" ({n_params / 1e6:.2f}M parameters); corpus {cfg['corpus']}: {data.n_bytes:,} bytes,"
          f" {len(data.train):,} train / {len(data.val):,} val tokens; {tokens_per_step} tokens/step,"
          f" {length}; {args.threads} thread(s)", flush=True)

    def log(entry: dict) -> None:
        history.append(entry)
        with open(out_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")

    def do_eval(final=False):
        t = time.time()
        vl, vb = evaluate(model, data, cfg, None if final else cfg["eval_tokens"])
        e = {"step": step, "tokens": step * tokens_per_step, "val_loss": vl, "val_bpb": vb,
             "time": elapsed}
        if final:
            e["final"] = True
        log(e)
        prog.clear()
        print(f"step {step:6d}  val loss {vl:.4f}  val {vb:.4f} bits/byte"
              f"{' (whole validation slice)' if final else ''}  [{time.time() - t:.1f}s]", flush=True)

    prog = Progress(cfg, args.quiet)
    stop = {"signal": False}

    def on_term(signum, frame):
        stop["signal"] = True
    signal.signal(signal.SIGTERM, on_term)

    if step == 0 and cfg["eval_every"] > 0:
        do_eval()

    model.train()
    acc_loss, acc_n = 0.0, 0
    try:
        while progress_of(step, elapsed, cfg) < 1.0 and not stop["signal"]:
            if args.stop_after is not None and step >= args.stop_after:
                stop["signal"] = True
                break
            t0 = time.time()
            lr = lr_at(step, elapsed, cfg)
            for g in opt.param_groups:
                g["lr"] = lr * g["lr_scale"]
            x, y = data.batch(step, cfg)
            logits, _ = model(x, None, cfg["wkv"], cfg["chunk"])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            if not math.isfinite(loss.item()):
                raise TrainError(f"step {step}: loss is {loss.item()} (try a lower --lr)")
            (L2Wrap.apply(loss, logits) if cfg["l2wrap"] else loss).backward()
            gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            dt = time.time() - t0
            elapsed += dt
            acc_loss += loss.item()
            acc_n += 1
            tps = tokens_per_step / dt
            prog.update(step, elapsed, loss.item(), lr, tps)
            last = progress_of(step, elapsed, cfg) >= 1.0
            if step % cfg["log_every"] == 0 or last:
                e = {"step": step, "tokens": step * tokens_per_step, "train_loss": acc_loss / acc_n,
                     "lr": lr, "grad_norm": float(gnorm), "time": elapsed}
                log(e)
                if not prog.on and not args.quiet:
                    print(f"step {step:6d}  loss {acc_loss / acc_n:.4f}  lr {lr:.2e}  "
                          f"|g| {float(gnorm):.2f}  {tps:,.0f} tok/s  {fmt_time(elapsed)}", flush=True)
                acc_loss, acc_n = 0.0, 0
            if cfg["eval_every"] > 0 and step % cfg["eval_every"] == 0 and not last:
                do_eval()
            if step % cfg["save_every"] == 0:
                save_checkpoint(ckpt_path, model, opt, cfg, step, history, elapsed)
    except KeyboardInterrupt:
        stop["signal"] = True
    save_checkpoint(ckpt_path, model, opt, cfg, step, history, elapsed)
    prog.clear()
    if stop["signal"]:
        print(f"{PROG}: stopped at step {step}; checkpoint {ckpt_path} (continue with --resume)",
              flush=True)
        return 0 if args.stop_after is not None and step >= args.stop_after else 130

    if not any(h.get("final") and h["step"] == step for h in history):
        do_eval(final=True)
        save_checkpoint(ckpt_path, model, opt, cfg, step, history, elapsed)
    torch.set_flush_denormal(False)   # NumPy (export, plot) checks float limits at import
    finish(model, cfg, history, out_dir, args, step, elapsed)
    return 0


def finish(model, cfg, history, out_dir: Path, args, step, elapsed) -> None:
    if not args.no_plot and plot(history, cfg, out_dir / "loss.png"):
        print(f"{PROG}: wrote {out_dir / 'loss.png'}", flush=True)
    final = [h for h in history if h.get("final")]
    summary = {"steps": step, "tokens_seen": step * cfg["batch"] * cfg["ctx"],
               "train_seconds": round(elapsed, 1),
               "parameters": sum(p.numel() for p in model.parameters()),
               "val_loss": final[-1]["val_loss"] if final else None,
               "val_bpb": final[-1]["val_bpb"] if final else None,
               "corpus": cfg["corpus"],
               "corpus_version": kjv_version() if cfg["corpus"] == "kjv" else None,
               "cfg": cfg, "torch": torch.__version__, "threads": args.threads}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{PROG}: {step} steps, {summary['tokens_seen']:,} tokens, {fmt_time(elapsed)} training; "
          f"validation {summary['val_bpb']:.4f} bits/byte" if final else "", flush=True)
    if args.export:
        export(model, cfg, out_dir, args.export, args.dtype, args.name)


def export_only(args) -> int:
    out_dir = Path(args.out_dir)
    ck = load_checkpoint(out_dir / "ckpt.pt")
    model = RWKV7(ck["cfg"])
    model.load_state_dict(ck["model"])
    finish(model, ck["cfg"], ck["history"], out_dir, args, ck["step"], ck["elapsed"])
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description="Train a small RWKV-7 on the CPU and export a GGUF.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("data")
    g.add_argument("--corpus", default="kjv", help="'kjv' (Debian bible-kjv-text) or a text file")
    g.add_argument("--vocab", choices=("byte", "world"), default="byte",
                   help="byte-level (256 tokens) or the RWKV world vocabulary (65,536)")
    g.add_argument("--world-vocab", help="rwkv_vocab_v20230424.txt; None: ../shared/data/tokenizer/")
    g.add_argument("--val-frac", type=float, default=0.05, help="last fraction held out for validation")
    g = p.add_argument_group("model")
    g.add_argument("--layers", type=int, default=4)
    g.add_argument("--embd", type=int, default=256, help="n_embd (a multiple of the head size)")
    g.add_argument("--head-size", type=int, default=64, help="rwkv-cli needs 64")
    g.add_argument("--wkv", choices=("chunked", "loop"), default="chunked",
                   help="WKV recurrence: chunked matrix form or token by token")
    g.add_argument("--chunk", type=int, default=32, help="chunk length of the chunked WKV")
    g = p.add_argument_group("training")
    g.add_argument("--ctx", type=int, default=256, help="training context length (tokens)")
    g.add_argument("--batch", type=int, default=8)
    g.add_argument("--steps", type=int, default=None, help="optimizer steps (default 2000; with "
                   "--resume, a new total)")
    g.add_argument("--minutes", type=float, default=None,
                   help="train for this many minutes of step time instead of --steps; the "
                        "cosine schedule then follows the elapsed time")
    g.add_argument("--stop-after", type=int, default=None, metavar="N",
                   help="save a checkpoint and exit after step N (split a run; --resume continues)")
    g.add_argument("--lr", type=float, default=1.5e-3, help="peak learning rate")
    g.add_argument("--lr-final", type=float, default=1e-4)
    g.add_argument("--warmup", type=int, default=100, help="linear warmup steps")
    g.add_argument("--weight-decay", type=float, default=0.01)
    g.add_argument("--beta1", type=float, default=0.9)
    g.add_argument("--beta2", type=float, default=0.99)
    g.add_argument("--adam-eps", type=float, default=1e-8)
    g.add_argument("--clip", type=float, default=1.0, help="gradient norm clipping")
    g.add_argument("--no-l2wrap", dest="l2wrap", action="store_false",
                   help="disable the official L2 wrap logit regulariser")
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--threads", type=int, default=1, help="torch threads")
    g = p.add_argument_group("logging and output")
    g.add_argument("--out-dir", default="runs/rwkv7", help="checkpoint, log, plot, .pth")
    g.add_argument("--resume", action="store_true", help="continue from OUT_DIR/ckpt.pt")
    g.add_argument("--export-only", action="store_true",
                   help="do not train: plot and export OUT_DIR/ckpt.pt")
    g.add_argument("--log-every", type=int, default=10)
    g.add_argument("--eval-every", type=int, default=250, help="0: only at the end")
    g.add_argument("--eval-tokens", type=int, default=65536,
                   help="validation tokens of the periodic evaluations (the final one uses all)")
    g.add_argument("--save-every", type=int, default=100)
    g.add_argument("--export", metavar="OUT.gguf", help="write the trained model as GGUF")
    g.add_argument("--dtype", choices=("f32", "f16", "bf16"), default="f16",
                   help="GGUF matrix type (vectors stay F32)")
    g.add_argument("--name", help="general.name in the GGUF")
    g.add_argument("--no-plot", action="store_true", help="do not write loss.png")
    g.add_argument("--quiet", action="store_true", help="no progress bar or step lines")
    args = p.parse_args(argv)
    try:
        return export_only(args) if args.export_only else train(args)
    except TrainError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as e:
        print(f"{PROG}: error: {' '.join(e.cmd)} failed with status {e.returncode}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
