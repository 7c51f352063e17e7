#!/usr/bin/python3
"""test_convert.py - checks for scripts/convert.py and scripts/gguf_writer.py.

usage: /usr/bin/python3 tests/test_convert.py --shared ../shared/data --work /tmp/scratch

Plain script, no pytest: each check prints "PASS name" or "FAIL name: what
differed", then a final "N passed, M failed"; the exit status is 1 if any
check failed.  Needs NumPy and PyTorch (Debian python3-numpy, python3-torch).

What is checked:
  * a seeded fp16 .pth (make_v7_pth.py) converts to a file byte-identical to
    the llama.cpp-made reference GGUF in shared/data/llamacpp-gguf/;
  * bf16 and fp32 .pth files convert with the right GGUF types, and every
    value read back equals the .pth tensor it came from;
  * rwkv.cpp's tiny FP32 and FP16 models convert with every RWKV-7 tensor
    present, equal to the rwkv.cpp file's values, and the FP32 conversion
    reproduces rwkv.cpp's expected logits (small NumPy RWKV-7 forward pass);
  * rwkv.cpp's quantized files: the tiny RWKV-7 (from FP32, and once from
    FP16) and RWKV-5.2 models and a seeded RWKV-6 (make_v6_pth.py, written
    by test_v56.py's rwkv.cpp writer) are quantized here to Q4_0, Q4_1,
    Q5_0, Q5_1 and Q8_0 as rwkv.cpp's quantizer does (file version 101, its
    type ids, every 2-D tensor but emb and head, ggml's reference rounding:
    quantize_ref below, checked byte for byte against llama.cpp's quantizer
    on shared/data/llamacpp-quants); each converts to a GGUF whose quantized
    tensors are those blocks unchanged with the ggml type, whose other
    tensors equal the float file's conversion (RWKV-7's r_k, read element by
    element, dequantized), and rwkv-cli's logits of it match the NumPy
    reference of the dequantized weights (needs rwkv-cli: --cli, by default
    the one in the directory above --work, the build tree under ctest; under
    CI a missing one fails);
  * the quantized-tensor machinery of convert.py on views (transposed,
    reshaped, sliced) and a hand-made file quantizing tensors rwkv.cpp leaves
    alone (emb, head, the fused mixes, vectors);
  * bad inputs (missing, garbage, truncated, removed or unknown type ids,
    version-100 quantized files, rows not a multiple of 32, incomplete) fail
    with exit status 1 and one "convert.py: error: ..." line.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np

import harness
from harness import case, rel_diff, require

ROOT = Path(harness.ROOT)
CONVERT = ROOT / "scripts" / "convert.py"
sys.path.insert(0, str(ROOT / "scripts"))
from gguf_writer import (GGMLType, GGUFValueType, GGUFWriter, read_gguf,  # noqa: E402
                         read_gguf_full, read_gguf_header, tensor_as_f32)

REF_GGUF = "llamacpp-gguf/v7-L2-D64-s9-llamacpp-f16.gguf"
REF_NAME = "v7 L2 D64 S9 Fp16"   # general.name in the reference file
TINY = "rwkvcpp-tiny/tiny-rwkv-7v0-834K-{}.bin"


def convert(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CONVERT), *map(str, args)],
                          capture_output=True, text=True)


def convert_ok(*args: str) -> None:
    r = convert(*args)
    require(r.returncode == 0, f"convert.py {' '.join(map(str, args))} exited {r.returncode}: "
                             f"{r.stderr.strip()[-300:]}")


def make_pth(tools: Path, out: Path, dtype: str) -> None:
    if out.exists():
        return
    r = subprocess.run([sys.executable, str(tools / "make_v7_pth.py"), str(out), "--layers", "2",
                        "--embd", "64", "--seed", "9", "--dtype", dtype],
                       capture_output=True, text=True)
    require(r.returncode == 0, f"make_v7_pth.py failed: {r.stderr.strip()[-300:]}")


# ---------------------------------------------------------------------------
# ggml's quantized blocks, written here independently of convert.py
# ---------------------------------------------------------------------------

F32 = np.float32
QTYPES = ("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0")
GGML_ID = {"Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8}
RWKVCPP_ID = {"Q4_0": 2, "Q4_1": 3, "Q5_0": 7, "Q5_1": 8, "Q8_0": 9}   # rwkv_file_format.inc
LLAMA_FTYPE = {"Q4_0": 2, "Q4_1": 3, "Q5_0": 8, "Q5_1": 9, "Q8_0": 7}   # general.file_type
QTYPE_OF_GGML = {v: k for k, v in GGML_ID.items()}
BLOCK = {   # one block of 32 values as a NumPy record, fields in file order
    "Q4_0": np.dtype([("d", "<f2"), ("qs", "u1", 16)]),
    "Q4_1": np.dtype([("d", "<f2"), ("m", "<f2"), ("qs", "u1", 16)]),
    "Q5_0": np.dtype([("d", "<f2"), ("qh", "<u4"), ("qs", "u1", 16)]),
    "Q5_1": np.dtype([("d", "<f2"), ("m", "<f2"), ("qh", "<u4"), ("qs", "u1", 16)]),
    "Q8_0": np.dtype([("d", "<f2"), ("qs", "i1", 32)]),
}
KJV_F16 = ROOT / "models" / "rwkv7-kjv-byte.gguf"
KJV_F16_SHA256 = "91e58d969cb24355f5eb343d384639fa57cfd32194da28960cf9f51dd4ea494d"


def _inverse(d: np.ndarray) -> np.ndarray:
    """1.0f / d, and 0 where d is 0 (float32)."""
    return np.divide(F32(1), d, out=np.zeros_like(d), where=d != 0)


def quantize_ref(qtype: str, x: np.ndarray) -> np.ndarray:
    """ggml's quantize_row_<type>_ref (ggml/src/ggml-quants.c) on values whose
    count is a multiple of 32, every step in float32 as the C code computes
    it; returns the blocks as uint8."""
    x = np.ascontiguousarray(x, dtype=F32).reshape(-1, 32)
    nb = len(x)
    out = np.zeros(nb, BLOCK[qtype])
    if qtype in ("Q4_0", "Q5_0"):
        # max: the first value of the largest magnitude (C: if (amax < fabsf(v))), +0 if all are 0
        first = x[np.arange(nb), np.argmax(np.abs(x), axis=1)]
        mx = np.where(np.abs(first) > 0, first, F32(0))
        nmax, offset = (15, F32(8.5)) if qtype == "Q4_0" else (31, F32(16.5))
        d = (mx / F32(-(nmax + 1) // 2)).astype(F32)                  # max / -8, max / -16
        q = np.minimum(nmax, np.trunc(x * _inverse(d)[:, None] + offset)).astype(np.uint8)  # (int8_t), MIN
    elif qtype in ("Q4_1", "Q5_1"):
        lo, hi = x.min(axis=1), x.max(axis=1)
        nmax = 15 if qtype == "Q4_1" else 31
        d = ((hi - lo) / F32(nmax)).astype(F32)
        q = np.trunc((x - lo[:, None]) * _inverse(d)[:, None] + F32(0.5))
        if qtype == "Q4_1":
            q = np.minimum(nmax, q)               # ggml's Q5_1 has no MIN here
        q = q.astype(np.uint8)
        out["m"] = lo.astype(np.float16)
    else:   # Q8_0: roundf (half away from zero), exact in float64
        d = (np.abs(x).max(axis=1) / F32(127)).astype(F32)
        v = x * _inverse(d)[:, None]
        out["d"] = d.astype(np.float16)
        out["qs"] = (np.sign(v) * np.floor(np.abs(v).astype(np.float64) + 0.5)).astype(np.int8)
        return out.view(np.uint8)
    out["d"] = d.astype(np.float16)            # GGML_FP32_TO_FP16: round to nearest even
    out["qs"] = (q[:, :16] & 0x0F) | ((q[:, 16:] & 0x0F) << 4)
    if qtype in ("Q5_0", "Q5_1"):              # bit j of qh: the fifth bit of value j
        bits = ((q >> 4) & 1).astype(np.uint32) << np.arange(32, dtype=np.uint32)
        out["qh"] = bits.sum(axis=1, dtype=np.uint32)
    return out.view(np.uint8)


def dequantize_ref(qtype: str, raw) -> np.ndarray:
    """Blocks -> float32 values as ggml's dequantize_row_*: q * d (+ m)."""
    raw = raw if isinstance(raw, bytes) else np.ascontiguousarray(raw, dtype=np.uint8).tobytes()
    b = np.frombuffer(raw, BLOCK[qtype])
    d = b["d"].astype(F32)[:, None]
    if qtype == "Q8_0":
        return (b["qs"].astype(F32) * d).reshape(-1)
    q = np.empty((len(b), 32), np.int32)
    q[:, :16], q[:, 16:] = b["qs"] & 0x0F, b["qs"] >> 4
    if qtype in ("Q5_0", "Q5_1"):
        q |= (((b["qh"][:, None] >> np.arange(32, dtype=np.uint32)) & 1) << 4).astype(np.int32)
    if qtype in ("Q4_1", "Q5_1"):
        return (q.astype(F32) * d + b["m"].astype(F32)[:, None]).reshape(-1)
    return ((q - (8 if qtype == "Q4_0" else 16)).astype(F32) * d).reshape(-1)


def write_quantized_rwkvcpp(src: Path, out: Path, qtype: str, version: int = 101, also=()) -> dict:
    """What rwkv.cpp's quantizer (rwkv_quantize.inc) makes of an FP32/FP16
    file: the header's version and data type set, every 2-D FP32/FP16
    tensor except emb.weight and head.weight quantized from its float32
    values (rows = ggml's ne[0]) and given rwkv.cpp's type id, the rest
    copied.  Tensors named in `also` are quantized as well (a hand-made
    file).  Returns name -> (qtype or float type id, data bytes, NumPy shape)."""
    d = src.read_bytes()
    header = list(struct.unpack_from("<6I", d, 0))
    header[1], header[5] = version, RWKVCPP_ID[qtype]
    parts, info, pos = [struct.pack("<6I", *header)], {}, 24
    while pos < len(d):
        n_dims, name_len, dtype = struct.unpack_from("<3i", d, pos)
        ne = struct.unpack_from(f"<{n_dims}i", d, pos + 12)
        at = pos + 12 + 4 * n_dims
        name = d[at:at + name_len].decode()
        at += name_len
        nbytes = int(np.prod(ne)) * (4 if dtype == 0 else 2)
        data, pos = d[at:at + nbytes], at + nbytes
        if dtype in (0, 1) and ((n_dims == 2 and name not in ("emb.weight", "head.weight")) or name in also):
            data = quantize_ref(qtype, np.frombuffer(data, "<f4" if dtype == 0 else "<f2")).tobytes()
            dtype = RWKVCPP_ID[qtype]
            info[name] = (qtype, data, tuple(reversed(ne)))
        else:
            info[name] = (dtype, data, tuple(reversed(ne)))
        parts += [struct.pack(f"<3i{n_dims}i", n_dims, name_len, dtype, *ne), name.encode(), data]
    out.write_bytes(b"".join(parts))
    return info


def gguf_raw(path: Path) -> tuple:
    """(header contents, name -> (ggml type, NumPy shape, data bytes)) for
    F32, F16, BF16 and the five quantized types (data None for other types),
    in file order."""
    h = read_gguf_header(str(path))
    data = path.read_bytes()
    out = {}
    for name, ne, gtype, offset in h.tensor_infos:
        n = int(np.prod(ne))
        if gtype in QTYPE_OF_GGML:
            nbytes = n // 32 * BLOCK[QTYPE_OF_GGML[gtype]].itemsize
        elif gtype in GGMLType.NUMPY:
            nbytes = n * GGMLType.NUMPY[gtype].itemsize
        else:
            out[name] = (gtype, tuple(reversed(ne)), None)
            continue
        start = h.data_offset + offset
        out[name] = (gtype, tuple(reversed(ne)), data[start:start + nbytes])
    return h, out


def raw_values(gtype: int, shape: tuple, data: bytes) -> np.ndarray:
    if gtype in QTYPE_OF_GGML:
        return dequantize_ref(QTYPE_OF_GGML[gtype], data).reshape(shape)
    return tensor_as_f32(gtype, np.frombuffer(data, GGMLType.NUMPY[gtype]).reshape(shape))


def write_dequantized_gguf(src: Path, dst: Path) -> None:
    """src with every quantized tensor dequantized to F32 (the test's own
    dequantizer): the weights the reference runs on."""
    h, tensors = gguf_raw(src)
    w = GGUFWriter(str(dst), h.meta["general.architecture"])
    for k, v in h.meta.items():
        if k != "general.architecture":
            w.add_key_value(k, v, *h.meta_types[k])
    for name, (gtype, shape, data) in tensors.items():
        if gtype in GGMLType.NUMPY:
            w.add_tensor(name, np.frombuffer(data, GGMLType.NUMPY[gtype]).reshape(shape), gtype)
        else:
            w.add_tensor(name, raw_values(gtype, shape, data), GGMLType.F32)
    w.write()


def quantized_sources(arch: str, n_layer: int) -> tuple:
    """For the matrices rwkv.cpp quantizes: (GGUF name -> rwkv.cpp name of
    the tensors stored as blocks, GGUF name -> rwkv.cpp name of the ones
    dequantized).  From the documented layouts (convert.py's tables),
    written out here independently."""
    blocks, dequantized = {}, {}
    for i in range(n_layer):
        b, g = f"blocks.{i}.", f"blk.{i}."
        att = ("receptance", "key", "value", "output") + (("gate",) if arch != "rwkv7" else ())
        ffn = ("key", "value") + (("receptance",) if arch != "rwkv7" else ())
        for p in att:
            blocks[g + f"time_mix_{p}.weight"] = b + f"att.{p}.weight"
        for p in ffn:
            blocks[g + f"channel_mix_{p}.weight"] = b + f"ffn.{p}.weight"
        if arch == "rwkv7":
            for l in "wavg":
                for j in "12":
                    # layer 0 has no v LoRA: llama.cpp's layout puts copies of a1/a2 there
                    blocks[g + f"time_mix_{l}{j}.weight"] = b + f"att.{'a' if l == 'v' and i == 0 else l}{j}"
            dequantized[g + "time_mix_r_k.weight"] = b + "att.r_k"     # [H,N] -> [C], read per element
        if arch == "rwkv6":     # the LoRA matrices rwkv.cpp stores transposed are llama.cpp's layout
            blocks[g + "time_mix_w1.weight"] = b + "att.time_maa_w1"
            blocks[g + "time_mix_decay_w1.weight"] = b + "att.time_decay_w1"
            blocks[g + "time_mix_decay_w2.weight"] = b + "att.time_decay_w2"
    return blocks, dequantized


# ---------------------------------------------------------------------------
# Expected values: official .pth tensors -> llama.cpp GGUF tensors
# ---------------------------------------------------------------------------

def pth_as_f32(path: Path) -> dict:
    import torch
    sd = torch.load(str(path), map_location="cpu")
    return {k: v.float().numpy() for k, v in sd.items()}


def expected_from_official(sd: dict, n_layer: int) -> dict:
    """GGUF name -> float32 array in NumPy order, written out directly from
    the documented llama.cpp layout (independently of convert.py's code)."""
    e = {"token_embd.weight": sd["emb.weight"],
         "token_embd_norm.weight": sd["blocks.0.ln0.weight"],
         "token_embd_norm.bias": sd["blocks.0.ln0.bias"],
         "output_norm.weight": sd["ln_out.weight"], "output_norm.bias": sd["ln_out.bias"],
         "output.weight": sd["head.weight"]}
    for i in range(n_layer):
        b, g = f"blocks.{i}.", f"blk.{i}."
        for o, n in (("ln1", "attn_norm"), ("ln2", "attn_norm_2"), ("att.ln_x", "time_mix_ln")):
            e[g + n + ".weight"] = sd[b + o + ".weight"]
            e[g + n + ".bias"] = sd[b + o + ".bias"]
        e[g + "time_mix_lerp_fused.weight"] = np.stack(
            [sd[b + "att.x_" + m].reshape(1, 1, -1) for m in "rwkvag"])
        src = "a" if i == 0 else "v"     # layer 0: v0/v1/v2 are copies of a0/a1/a2
        for p, s in (("w", "w"), ("a", "a"), ("v", src), ("g", "g")):
            if p != "g":
                e[g + f"time_mix_{p}0.weight"] = sd[b + f"att.{s}0"].reshape(-1)
            e[g + f"time_mix_{p}1.weight"] = sd[b + f"att.{s}1"].T
            e[g + f"time_mix_{p}2.weight"] = sd[b + f"att.{s}2"].T
        for p in ("k_k", "k_a", "r_k"):
            e[g + f"time_mix_{p}.weight"] = sd[b + "att." + p].reshape(-1)
        for p in ("receptance", "key", "value", "output"):
            e[g + f"time_mix_{p}.weight"] = sd[b + f"att.{p}.weight"]
        e[g + "channel_mix_lerp_k.weight"] = sd[b + "ffn.x_k"].reshape(-1)
        e[g + "channel_mix_key.weight"] = sd[b + "ffn.key.weight"]
        e[g + "channel_mix_value.weight"] = sd[b + "ffn.value.weight"]
    return e


def expected_type(name: str, ndim: int, matrix_type: int) -> int:
    if ndim == 1 or name.endswith(("time_mix_w1.weight", "time_mix_w2.weight",
                                   "time_mix_lerp_fused.weight")):
        return GGMLType.F32
    return matrix_type


def compare_tensors(tensors: dict, expected: dict, matrix_type: int, rounding=None) -> None:
    """Names, types, shapes and values.  `rounding(name, arr)` gives the
    values expected after conversion to the output type (default: exact)."""
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    require(not missing and not extra, f"missing tensors {missing[:5]}, unexpected {extra[:5]}")
    for name, want in expected.items():
        gtype, arr = tensors[name]
        etype = expected_type(name, want.ndim, matrix_type)
        require(gtype == etype, f"{name}: type {GGMLType.name(gtype)}, expected {GGMLType.name(etype)}")
        require(arr.shape == want.shape, f"{name}: shape {arr.shape}, expected {want.shape}")
        if rounding is not None and gtype != GGMLType.F32:
            want = rounding(want)
        got = tensor_as_f32(gtype, arr)
        if not np.array_equal(got, want.astype(np.float32)):
            bad = np.abs(got - want).max()
            raise harness.CheckFailed(f"{name}: values differ (max abs diff {bad:g})")


# ---------------------------------------------------------------------------
# rwkv.cpp files, read independently of convert.py
# ---------------------------------------------------------------------------

def read_rwkvcpp(path: Path) -> tuple[tuple, dict]:
    d = path.read_bytes()
    header = struct.unpack_from("<6I", d, 0)
    pos, out = 24, {}
    while pos < len(d):
        n_dims, name_len, dtype = struct.unpack_from("<3i", d, pos)
        pos += 12
        ne = struct.unpack_from(f"<{n_dims}i", d, pos)
        pos += 4 * n_dims
        name = d[pos:pos + name_len].decode()
        pos += name_len
        dt = np.dtype("<f4") if dtype == 0 else np.dtype("<f2")
        n = int(np.prod(ne))
        out[name] = np.frombuffer(d, dt, n, pos).reshape(tuple(reversed(ne))).astype(np.float32)
        pos += n * dt.itemsize
    return header, out


def expected_from_rwkvcpp(rc: dict, n_layer: int) -> dict:
    """rwkv.cpp stores the LoRA matrices already transposed the way llama.cpp
    does, and x_rwkvag as [6,1,C]; everything else is the .pth tensor."""
    sd = {}
    for name, arr in rc.items():
        if name.endswith("att.x_rwkvag"):
            for i, m in enumerate("rwkvag"):
                sd[name.replace("x_rwkvag", "x_" + m)] = arr[i].reshape(1, 1, -1)
        elif name.split(".")[-1] in ("w1", "w2", "a1", "a2", "v1", "v2", "g1", "g2"):
            sd[name] = arr.T
        else:
            sd[name] = arr
    return expected_from_official(sd, n_layer)


def rwkv7_logits(tensors: dict, meta: dict, token_bytes: bytes) -> np.ndarray:
    """A minimal NumPy RWKV-7 (RNN mode, float64) run on the GGUF tensors,
    following BlinkDL's rwkv_v7_demo_rnn.py; returns the last logits."""
    def g(n):
        return tensor_as_f32(*tensors[n]).astype(np.float64)

    def ln(x, p, eps=1e-5):
        m = x.mean()
        return (x - m) / np.sqrt(((x - m) ** 2).mean() + eps) * g(p + ".weight") + g(p + ".bias")

    def sig(x):
        return 1 / (1 + np.exp(-x))

    c = meta["rwkv7.embedding_length"]
    n = meta["rwkv7.wkv.head_size"]
    h = c // n
    layers = meta["rwkv7.block_count"]
    state = [[np.zeros(c), np.zeros(c), np.zeros((h, n, n))] for _ in range(layers)]
    for tok in token_bytes:
        x = ln(g("token_embd.weight")[tok], "token_embd_norm")
        v_first = None
        for i in range(layers):
            p = f"blk.{i}."
            s = state[i]
            w_ = lambda name: g(p + f"time_mix_{name}.weight")  # noqa: E731
            xx = ln(x, p + "attn_norm")
            dx, s[0] = s[0] - xx, xx
            lerp = g(p + "time_mix_lerp_fused.weight").reshape(6, c)
            xr, xw, xk, xv, xa, xg = (xx + dx * lerp[j] for j in range(6))
            r, k, v = w_("receptance") @ xr, w_("key") @ xk, w_("value") @ xv
            w = w_("w0") + w_("w2") @ np.tanh(w_("w1") @ xw)
            a = sig(w_("a0") + w_("a2") @ (w_("a1") @ xa))
            gate = w_("g2") @ sig(w_("g1") @ xg)
            kk = (k * w_("k_k")).reshape(h, n)
            kk = (kk / np.maximum(np.linalg.norm(kk, axis=1, keepdims=True), 1e-12)).reshape(c)
            k = k * (1 + (a - 1) * w_("k_a"))
            if i == 0:
                v_first = v
            else:
                v = v + (v_first - v) * sig(w_("v0") + w_("v2") @ (w_("v1") @ xv))
            decay = np.exp(-np.exp(-0.5) * sig(w))
            S = s[2] * decay.reshape(h, 1, n) \
                + s[2] @ ((-kk).reshape(h, n, 1) @ (kk * a).reshape(h, 1, n)) \
                + v.reshape(h, n, 1) @ k.reshape(h, 1, n)
            s[2] = S
            o = (S @ r.reshape(h, n, 1)).reshape(h, n)
            m = o.mean(1, keepdims=True)
            o = ((o - m) / np.sqrt(((o - m) ** 2).mean(1, keepdims=True) + 64e-5)).reshape(c)
            o = o * w_("ln") + g(p + "time_mix_ln.bias")
            o = o + ((r * k * w_("r_k")).reshape(h, n).sum(1, keepdims=True) * v.reshape(h, n)).reshape(c)
            x = x + w_("output") @ (o * gate)
            xx = ln(x, p + "attn_norm_2")
            dx, s[1] = s[1] - xx, xx
            kx = xx + dx * g(p + "channel_mix_lerp_k.weight")
            x = x + g(p + "channel_mix_value.weight") @ np.maximum(g(p + "channel_mix_key.weight") @ kx, 0) ** 2
    return g("output.weight") @ ln(x, "output_norm")


# ---------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------

def main() -> None:
    # --cli: rwkv-cli, for the logits of converted quantized files (default: the
    # one in the directory above --work, the build tree under ctest)
    a = harness.arguments(__doc__, required=("shared", "work"), optional={"cli": None})
    shared = Path(a.shared)
    tools = shared.parent / "tools"
    work = Path(a.work)
    cli = Path(a.cli) if a.cli else work.parent / "rwkv-cli"
    vocab = ("--vocab", str(shared / "tokenizer" / "rwkv_vocab_v20230424.txt"))

    # The reference GGUF was made from a model directory named like this;
    # llama.cpp derives general.name from that name, convert.py from the
    # input file name, so this name gives the identical file.
    pth16 = work / "v7-L2-D64-s9-fp16.pth"
    pth_bf16 = work / "v7-L2-D64-s9-bf16.pth"
    pth32 = work / "v7-L2-D64-s9-fp32.pth"

    def writer_roundtrip():
        path = work / "roundtrip.gguf"
        w = GGUFWriter(str(path), "test")
        w.add_uint32("u32", 4000000000)
        w.add_int32("i32", -5)
        w.add_float32("f32", 0.25)
        w.add_uint64("u64", 1 << 40)
        w.add_bool("yes", True)
        w.add_string("str", "h\u00e9llo")
        w.add_array("strs", ["a", b"\xff", "\u4e2d"])
        w.add_array("ints", [1, -2, 3])
        w.add_array("u32s", [1, 2], GGUFValueType.UINT32)
        f16 = np.arange(6, dtype=np.float16).reshape(2, 3)
        w.add_tensor("a", f16, GGMLType.F16)
        w.add_tensor("b", np.array([1.5, -2.0, 3.0], np.float32), GGMLType.F32)
        w.add_tensor("c", lambda: np.array([[0x3F80, 0xC000]], np.uint16), GGMLType.BF16, shape=(1, 2))
        w.write()
        info = read_gguf_full(str(path))
        meta, tensors = info.meta, info.tensors
        want = {"general.architecture": "test", "u32": 4000000000, "i32": -5, "f32": 0.25,
                "u64": 1 << 40, "yes": True, "str": "h\u00e9llo", "strs": ["a", b"\xff", "\u4e2d"],
                "ints": [1, -2, 3], "u32s": [1, 2]}
        require(list(meta) == list(want), f"keys {list(meta)}")
        for k, v in want.items():
            require(meta[k] == v, f"{k} = {meta[k]!r}, expected {v!r}")
        require(info.meta_types["ints"] == (GGUFValueType.ARRAY, GGUFValueType.INT32), "ints not INT32")
        require(info.meta_types["u32s"] == (GGUFValueType.ARRAY, GGUFValueType.UINT32), "u32s not UINT32")
        require([t[1] for t in info.tensor_infos] == [(3, 2), (3,), (2, 1)], "ggml ne not reversed")
        require([t[3] for t in info.tensor_infos] == [0, 32, 64], "offsets not 32-aligned")
        require(info.data_offset % 32 == 0 and path.stat().st_size == info.data_offset + 96, "padding")
        require(np.array_equal(tensors["a"][1], f16), "F16 tensor")
        require(np.array_equal(tensor_as_f32(*tensors["c"]), np.array([[1.0, -2.0]], np.float32)), "BF16")
    case("gguf_writer_roundtrip", writer_roundtrip)

    def pth_f16_identical():
        make_pth(tools, pth16, "fp16")
        out = work / "s9-f16.gguf"
        convert_ok(pth16, out, *vocab)
        ref = (shared / REF_GGUF).read_bytes()
        got = out.read_bytes()
        if got != ref:
            at = next((i for i, (x, y) in enumerate(zip(got, ref)) if x != y), min(len(got), len(ref)))
            raise harness.CheckFailed(f"differs from {REF_GGUF} at byte {at} (sizes {len(got)} / {len(ref)})")
    case("pth_f16_byte_identical", pth_f16_identical)

    def pth_f16_name_flag():
        # Any file name: --name gives the reference's general.name, hence the
        # same bytes; without it only general.name differs.
        other = work / "s9.pth"
        if not other.exists():
            os.link(pth16, other) if hasattr(os, "link") else other.write_bytes(pth16.read_bytes())
        out = work / "s9-named.gguf"
        convert_ok(other, out, "--name", REF_NAME, *vocab)
        require(out.read_bytes() == (shared / REF_GGUF).read_bytes(), "--name output not identical")
        out2 = work / "s9-unnamed.gguf"
        convert_ok(other, out2, *vocab)
        m1, t1 = read_gguf(str(out))
        m2, t2 = read_gguf(str(out2))
        require(m2["general.name"] == "S9", f"general.name {m2['general.name']!r}, expected 'S9'")
        diff = [k for k in m1 if m1[k] != m2.get(k)]
        require(diff == ["general.name"] and list(m1) == list(m2), f"keys differing: {diff}")
        require(all(np.array_equal(t1[k][1], t2[k][1]) for k in t1), "tensors differ")
    case("pth_f16_name_flag", pth_f16_name_flag)

    def pth_typed(dtype: str, pth: Path, args: tuple, file_type: int, matrix_type: int, rounding=None):
        def run():
            make_pth(tools, pth, dtype)
            out = work / f"{pth.stem}{'-' + '-'.join(args).strip('-') if args else ''}.gguf"
            convert_ok(pth, out, *args, *vocab)
            meta, tensors = read_gguf(str(out))
            require(meta["general.file_type"] == file_type,
                  f"general.file_type {meta['general.file_type']}, expected {file_type}")
            compare_tensors(tensors, expected_from_official(pth_as_f32(pth), 2), matrix_type, rounding)
        return run

    def to_f16(x):
        return x.astype(np.float16).astype(np.float32)

    def to_bf16(x):
        import torch   # independent rounding: PyTorch's float32 -> bfloat16
        return torch.from_numpy(np.ascontiguousarray(x)).to(torch.bfloat16).float().numpy()

    case("pth_bf16_types_values", pth_typed("bf16", pth_bf16, (), 32, GGMLType.BF16))
    case("pth_fp32_types_values", pth_typed("fp32", pth32, (), 0, GGMLType.F32))
    case("pth_fp32_to_f16", pth_typed("fp32", pth32, ("--dtype", "f16"), 1, GGMLType.F16, to_f16))
    case("pth_fp32_to_bf16", pth_typed("fp32", pth32, ("--dtype", "bf16"), 32, GGMLType.BF16, to_bf16))

    def tiny(kind: str):
        def run():
            src = shared / TINY.format(kind)
            out = work / f"tiny-{kind}.gguf"
            convert_ok(src, out)
            header, rc = read_rwkvcpp(src)
            meta, tensors = read_gguf(str(out))
            want_meta = {"general.architecture": "rwkv7", "rwkv7.embedding_length": 64,
                         "rwkv7.block_count": 12, "rwkv7.feed_forward_length": 256,
                         "rwkv7.wkv.head_size": 64, "rwkv7.attention.decay_lora_rank": 32,
                         "rwkv7.attention.iclr_lora_rank": 32,
                         "rwkv7.attention.value_residual_mix_lora_rank": 32,
                         "rwkv7.attention.gate_lora_rank": 32, "rwkv7.context_length": 1048576,
                         "rwkv7.attention.head_count": 0, "tokenizer.ggml.model": "rwkv",
                         "general.file_type": 0 if kind == "FP32" else 1,
                         "tokenizer.ggml.bos_token_id": 0, "tokenizer.ggml.eos_token_id": 0}
            for k, v in want_meta.items():
                require(meta.get(k) == v, f"{k} = {meta.get(k)!r}, expected {v!r}")
            toks = meta["tokenizer.ggml.tokens"]
            require(len(toks) == 256 and toks[65] == "A" and toks[10] == "\\n" and toks[255] == "\\xff",
                  "byte-level token texts")
            require(header[2:5] == (256, 64, 12), f"rwkv.cpp header {header}")
            compare_tensors(tensors, expected_from_rwkvcpp(rc, 12),
                            GGMLType.F32 if kind == "FP32" else GGMLType.F16)
            mix = tensor_as_f32(*tensors["blk.5.time_mix_lerp_fused.weight"])
            require(-0.5 < mix.min() and mix.max() < 1.5, f"token-shift mixes out of range: {mix.min()}..{mix.max()}")
        return run

    case("rwkvcpp_fp32_tensors", tiny("FP32"))
    case("rwkvcpp_fp16_tensors", tiny("FP16"))

    def tiny_logits():
        out = work / "tiny-FP32.gguf"
        if not out.exists():
            convert_ok(shared / TINY.format("FP32"), out)
        meta, tensors = read_gguf(str(out))
        logits = rwkv7_logits(tensors, meta, b'"in')
        ref = np.fromfile(shared / "rwkvcpp-tiny/expected-logits-7v0-834K.bin", dtype="<f4")
        err = np.abs(logits - ref).max()
        # measured 3.7e-7 (std 0.62); bound = 3.2x
        require(err < 1.2e-6 * max(1.0, float(ref.std())), f"max abs logit error {err:g}")
    case("rwkvcpp_fp32_logits", tiny_logits)

    # -- rwkv.cpp's quantized files -----------------------------------------

    def quantizer_vs_llamacpp(qtype: str):
        # llama.cpp's llama-quantize (no importance matrix) uses ggml's
        # quantize_row_*_ref: the same F16 model quantized here must give the
        # same blocks as shared/data/llamacpp-quants/kjv-TYPE.gguf.
        def run():
            require(hashlib.sha256(KJV_F16.read_bytes()).hexdigest() == KJV_F16_SHA256,
                  f"{KJV_F16} is not the model llamacpp-quants was made from")
            _, f16 = read_gguf(str(KJV_F16))
            _, quants = gguf_raw(shared / f"llamacpp-quants/kjv-{qtype}.gguf")
            import convert as converter
            n = 0
            for name, (gtype, shape, data) in quants.items():
                if gtype != GGML_ID[qtype]:
                    continue
                x = tensor_as_f32(*f16[name])
                mine = quantize_ref(qtype, x).tobytes()
                size = BLOCK[qtype].itemsize
                bad = sum(1 for i in range(0, len(data), size) if mine[i:i + size] != data[i:i + size])
                require(bad == 0, f"{name}: {bad} of {len(data) // size} blocks differ from llama.cpp's")
                # convert.py's dequantizer gives exactly the test's values
                ours = dequantize_ref(qtype, data)
                theirs = converter.dequantize(GGML_ID[qtype], np.frombuffer(data, np.uint8))
                require(np.array_equal(ours, theirs), f"{name}: convert.py's dequantized values differ")
                # and dequantizing undoes quantizing: the mean error is a quarter
                # step (uniform rounding; measured 0.236-0.246 on every tensor)
                d = np.abs(np.frombuffer(data, BLOCK[qtype])["d"].astype(np.float64))
                err = float(np.abs(ours - x.reshape(-1)).mean() / d.mean())
                require(err <= 0.27, f"{name}: mean error {err:.3f} steps after dequantizing")
                n += 1
            require(n >= 24, f"only {n} {qtype} tensors in kjv-{qtype}.gguf")
        return run

    for qt in QTYPES:
        case(f"numpy_quantizer_{qt}_blocks_equal_llamacpp", quantizer_vs_llamacpp(qt))

    qdir = work / "quant"
    qdir.mkdir(exist_ok=True)
    have_cli = cli.is_file() and os.access(cli, os.X_OK)
    if not have_cli:
        harness.missing(f"rwkv-cli at {cli} (give --cli): the rwkv-cli logits checks")

    def cli_logits(model: Path, *extra: str) -> np.ndarray:
        out = qdir / "logits.f32"
        if out.exists():
            out.unlink()
        r = subprocess.run([str(cli), "logits", "-m", str(model), "--tokens", "34,105,110", "-o", str(out),
                            *extra], capture_output=True, text=True)
        require(r.returncode == 0, f"rwkv-cli logits {' '.join(extra)} on {model.name} exited {r.returncode}: "
                                 f"{r.stderr.strip()[-300:]}")
        return np.fromfile(out, dtype="<f4")

    import rwkv5_numpy
    import rwkv6_numpy
    import rwkv7_numpy
    TOKENS = [34, 105, 110]     # the bytes "in, as for rwkv.cpp's expected logits
    # Bounds on max |diff| / std of rwkv-cli against the NumPy reference of
    # the dequantized weights, about 3x what was measured (worst of the five
    # types): --act f32, the exact product of the stored weights: 2.3e-6
    # (RWKV-7, RWKV-5.2), 6.6e-6 (the random RWKV-6, Q4_0); the default
    # activations (Q8_0 rows for Q4_0 and Q8_0 weights, float32 for the
    # others): 1.8e-3 (RWKV-7), 3.1e-2 (the tiny RWKV-5.2, whose 8-wide heads
    # make it far more sensitive: its Q4_0 weights alone are 1.3 std from
    # FP32), 0.117 (the random RWKV-6, Q8_0).
    EXACT_BOUND = 2e-5
    DEFAULT_ACT_BOUND = {"rwkv7": 5e-3, "rwkv5": 1e-1, "rwkv6": 0.3}
    V7_QUANT_ERROR_BOUND = 0.05   # reference of Q4_0..Q8_0 weights vs the FP32 logits: measured 0.001-0.021
    REFERENCE = {"rwkv7": rwkv7_numpy, "rwkv6": rwkv6_numpy, "rwkv5": rwkv5_numpy}
    float_gguf, baseline = {}, {}

    def reference_logits(gguf: Path, arch: str) -> np.ndarray:
        m = REFERENCE[arch]
        w = m.load_gguf(str(gguf))
        return np.asarray(m.forward_seq(w, TOKENS, m.new_state(w)), dtype=np.float32).reshape(len(TOKENS), -1)[-1]

    def quantized_file(src: Path, arch: str, qtype: str, sub: Path, fp32_src: Path):
        # src: the rwkv.cpp file to quantize; every tensor that stays float
        # must equal src's own conversion.  fp32_src: the FP32 file whose
        # logits the quantization error is reported against (rwkv.cpp's
        # expected logits for the tiny RWKV-7, whose ln_x eps is the
        # official one; the NumPy reference elsewhere: rwkv.cpp's v5 eps differs).
        def run():
            sub.mkdir(exist_ok=True)     # file names give general.* keys: the same stem in every directory
            model = src.stem.rsplit("-", 1)[0]
            if src not in float_gguf:
                float_gguf[src] = sub / f"{src.stem}.gguf"
                convert_ok(src, float_gguf[src])
            qbin = sub / f"{model}-{qtype}.bin"
            info = write_quantized_rwkvcpp(src, qbin, qtype)
            out = qbin.with_suffix(".gguf")
            convert_ok(qbin, out)
            h, got = gguf_raw(out)
            hf, want = gguf_raw(float_gguf[src])
            source = src.stem.rsplit("-", 1)[1]
            n_layer = h.meta[f"{arch}.block_count"]
            blocks, dequantized = quantized_sources(arch, n_layer)
            stored = {k for k, v in info.items() if isinstance(v[0], str)}
            mapped = set(blocks.values()) | set(dequantized.values())
            require(stored == mapped, f"rwkv.cpp quantized {sorted(stored ^ mapped)[:4]} unlike the table")
            require(list(got) == list(want), f"tensor names or order differ from the {source} conversion")
            require(h.meta["general.file_type"] == LLAMA_FTYPE[qtype],
                  f"general.file_type {h.meta['general.file_type']}, expected {LLAMA_FTYPE[qtype]}")
            for k in hf.meta:
                if k not in ("general.name", "general.file_type"):
                    require(h.meta.get(k) == hf.meta[k], f"metadata {k} differs from the {source} conversion")
            for name, (gtype, shape, data) in got.items():
                if name in blocks:
                    qt, qdata, qshape = info[blocks[name]]
                    require(gtype == GGML_ID[qtype], f"{name}: type {GGMLType.name(gtype)}, expected {qtype}")
                    require(shape == qshape, f"{name}: shape {shape}, expected {qshape} (rwkv.cpp's)")
                    require(data == qdata, f"{name}: blocks differ from {blocks[name]}'s")
                elif name in dequantized:
                    _, qdata, _ = info[dequantized[name]]
                    require(gtype == GGMLType.F32 and shape == want[name][1],
                          f"{name}: {GGMLType.name(gtype)} {shape}, expected F32 {want[name][1]}")
                    require(np.array_equal(np.frombuffer(data, "<f4"), dequantize_ref(qtype, qdata)),
                          f"{name}: not the dequantized values of {dequantized[name]}")
                else:
                    require(gtype == want[name][0] and data == want[name][2],
                          f"{name}: {GGMLType.name(gtype)}, differs from the {source} conversion")
            # The reference: the NumPy model on the dequantized weights.
            deq = qbin.with_suffix(".dequantized.gguf")
            write_dequantized_gguf(out, deq)
            ref = reference_logits(deq, arch)
            if fp32_src not in baseline:
                if fp32_src == shared / TINY.format("FP32"):
                    baseline[fp32_src] = np.fromfile(shared / "rwkvcpp-tiny/expected-logits-7v0-834K.bin", "<f4")
                else:
                    f32 = sub / f"{fp32_src.stem}.gguf"
                    if not f32.exists():
                        convert_ok(fp32_src, f32)
                    baseline[fp32_src] = reference_logits(f32, arch)
            q_err = rel_diff(ref, baseline[fp32_src])
            line = f"# {model} {qtype}{'' if source == 'FP32' else ' from ' + source}: reference vs FP32 {q_err:.3g}"
            if arch == "rwkv7":
                require(q_err < V7_QUANT_ERROR_BOUND, f"reference {q_err:.3g} x std from the FP32 logits")
            if have_cli:
                exact = cli_logits(out, "--act", "f32")
                exact_tok = cli_logits(out, "--act", "f32", "--token-mode")
                default = cli_logits(out)
                d_exact, d_tok, d_default = (rel_diff(x, ref) for x in (exact, exact_tok, default))
                line += (f"; rwkv-cli vs reference: --act f32 {d_exact:.2g} (token mode {d_tok:.2g}), "
                         f"default {d_default:.2g}; rwkv-cli vs FP32 {rel_diff(default, baseline[fp32_src]):.3g}")
                print(line)
                require(max(d_exact, d_tok) <= EXACT_BOUND,
                      f"rwkv-cli --act f32 is {max(d_exact, d_tok):.3g} x std from the reference (bound {EXACT_BOUND})")
                require(d_default <= DEFAULT_ACT_BOUND[arch],
                      f"rwkv-cli is {d_default:.3g} x std from the reference (bound {DEFAULT_ACT_BOUND[arch]})")
            else:
                print(line)
        return run

    tiny7, tiny5 = shared / TINY.format("FP32"), shared / "rwkvcpp-tiny/tiny-rwkv-5v2-730K-FP32.bin"
    for src, arch in ((tiny7, "rwkv7"), (tiny5, "rwkv5")):
        for qt in QTYPES:
            case(f"rwkvcpp_{arch}_{qt}_converts_and_runs", quantized_file(src, arch, qt, qdir, src))
    case("rwkvcpp_rwkv7_Q5_1_from_FP16_converts_and_runs",
              quantized_file(shared / TINY.format("FP16"), "rwkv7", "Q5_1", qdir / "from-FP16", tiny7))

    # RWKV-6 (no rwkv.cpp file in shared/): a seeded model, written as
    # rwkv.cpp's converter writes it (test_v56.py's writer), then quantized.
    v6_bin = qdir / "v6-L2-D128-s3-FP32.bin"

    def make_v6_rwkvcpp():
        import make_v6_pth
        sys.path.insert(0, str(ROOT / "tests"))
        import test_v56
        pth = qdir / "v6-L2-D128-s3.pth"
        make_v6_pth.make_pth(argparse.Namespace(out=str(pth), layers=2, embd=128, seed=3, dtype="fp32", vocab=256))
        test_v56.write_rwkvcpp(str(pth), str(v6_bin), False)
    case("make_v6_rwkvcpp_file", make_v6_rwkvcpp)
    for qt in QTYPES:
        case(f"rwkvcpp_rwkv6_{qt}_converts_and_runs", quantized_file(v6_bin, "rwkv6", qt, qdir / "v6", v6_bin))


    def handmade_quantized():
        # Tensors rwkv.cpp never quantizes, quantized anyway: emb and head
        # (matrices: kept as blocks), the fused mixes and the vectors
        # (3-D, read element by element: dequantized, the mixes unfused).
        src = shared / TINY.format("FP32")
        qbin = qdir / "handmade-Q8_0.bin"
        also = {"emb.weight", "head.weight"} | {f"blocks.{i}.att.{n}" for i in range(12) for n in ("x_rwkvag", "w0")}
        info = write_quantized_rwkvcpp(src, qbin, "Q8_0", also=also)
        out = qdir / "handmade-Q8_0.gguf"
        convert_ok(qbin, out)
        _, got = gguf_raw(out)
        for gname, name in (("token_embd.weight", "emb.weight"), ("output.weight", "head.weight")):
            gtype, shape, data = got[gname]
            require(gtype == GGMLType.Q8_0 and data == info[name][1], f"{gname}: not the Q8_0 blocks of {name}")
        for i in range(12):
            gtype, shape, data = got[f"blk.{i}.time_mix_lerp_fused.weight"]
            want = dequantize_ref("Q8_0", info[f"blocks.{i}.att.x_rwkvag"][1]).reshape(6, 1, 1, 64)
            require(gtype == GGMLType.F32 and np.array_equal(np.frombuffer(data, "<f4").reshape(shape), want),
                  f"blk.{i}.time_mix_lerp_fused.weight: not the dequantized x_rwkvag as F32 [6,1,1,C]")
            gtype, shape, data = got[f"blk.{i}.time_mix_w0.weight"]
            want = dequantize_ref("Q8_0", info[f"blocks.{i}.att.w0"][1])
            require(gtype == GGMLType.F32 and np.array_equal(np.frombuffer(data, "<f4"), want),
                  f"blk.{i}.time_mix_w0.weight: not the dequantized w0 as F32")
        if have_cli:
            deq = qdir / "handmade-Q8_0-dequantized.gguf"
            write_dequantized_gguf(out, deq)
            w = rwkv7_numpy.load_gguf(str(deq))
            ref = np.asarray(rwkv7_numpy.forward_seq(w, TOKENS, rwkv7_numpy.new_state(w)),
                             dtype=np.float32).reshape(-1, 256)[-1]
            d = rel_diff(cli_logits(out, "--act", "f32"), ref)
            print(f"# hand-made Q8_0 (emb, head, mixes, w0 too): rwkv-cli --act f32 vs reference {d:.2g}")
            require(d <= EXACT_BOUND, f"rwkv-cli --act f32 is {d:.3g} x std from the reference")
    case("rwkvcpp_handmade_quantized_emb_head_mixes", handmade_quantized)

    def quantized_views():
        # convert.py's QuantizedData on the views the layouts make: blocks
        # kept only where the GGUF rows are the stored rows.
        import convert as cv
        # square, so that a transpose keeps the row length and only the order tells
        x = np.random.RandomState(3).standard_normal((64, 64)).astype(F32)
        blocks = quantize_ref("Q5_1", x)
        values = dequantize_ref("Q5_1", blocks).reshape(64, 64)
        q = cv.QuantizedData("t", GGMLType.Q5_1, blocks, (64, 64))
        t = cv.Tensor(q.placeholder, "q", q)
        mat = "blk.0.time_mix_key.weight"
        cases = (  # (description, view, GGUF name, dtype, expected type, expected values)
            ("as stored", t, mat, "f16", GGMLType.Q5_1, values),
            ("leading axis added", t.view(t.arr.reshape(1, 64, 64)), mat, "f16", GGMLType.Q5_1, values[None]),
            ("rows merged in pairs", t.view(t.arr.reshape(32, 128)), mat, "f16", GGMLType.F16, values.reshape(32, 128)),
            ("transposed twice", t.view(t.arr.T.T), mat, "f32", GGMLType.Q5_1, values),
            ("transposed", t.view(t.arr.T), mat, "f16", GGMLType.F16, values.T),
            ("transposed, an F32 LoRA", t.view(t.arr.T), "blk.0.time_mix_w1.weight", "f16", GGMLType.F32, values.T),
            ("rows of 32", t.view(t.arr.reshape(128, 32)), mat, "f32", GGMLType.F32, values.reshape(128, 32)),
            ("every other row", t.view(t.arr[::2]), mat, "f32", GGMLType.F32, values[::2]),
            ("flattened (a vector)", t.view(t.arr.reshape(-1)), "blk.0.time_mix_r_k.weight", "f16", GGMLType.F32,
             values.reshape(-1)),
            ("one row", t.view(t.arr[2]), "blk.0.time_mix_w0.weight", "f16", GGMLType.F32, values[2]),
            ("element-wise matrix", t, "blk.0.time_mix_first.weight", "f16", GGMLType.F32, values),
        )
        for what, v, name, dtype, want_type, want in cases:
            gtype = cv.tensor_type(name, v, dtype)
            require(gtype == want_type, f"{what}: type {GGMLType.name(gtype)}, expected {GGMLType.name(want_type)}")
            enc = v.encode(gtype)
            if gtype == GGMLType.Q5_1:
                require(np.array_equal(np.asarray(enc), blocks), f"{what}: blocks changed")
            else:
                require(np.array_equal(np.asarray(enc, np.float32), want.astype(GGMLType.NUMPY[gtype]).astype(F32)),
                      f"{what}: values differ")
        try:
            t.view(t.arr.T.reshape(-1)).as_f32()     # a reshape NumPy must copy: no values behind it
            raise harness.CheckFailed("a copied placeholder was not refused")
        except cv.ConvertError as e:
            require("internal error" in str(e) and "tensor t" in str(e), f"message: {e}")
    case("convert_quantized_views", quantized_views)

    def fails(name: str, args: tuple, must_mention: str, exact: bool = False):
        def run():
            out = work / "bad.gguf"
            for leftover in (out, Path(str(out) + ".tmp")):   # from an earlier failure
                if leftover.exists():
                    leftover.unlink()
            r = convert(*args, out)
            lines = r.stderr.strip().splitlines()
            require(r.returncode == 1, f"exit status {r.returncode}, expected 1 ({r.stderr.strip()[-200:]})")
            require(len(lines) == 1 and lines[0].startswith("convert.py: error: "),
                  f"stderr is not one error line: {r.stderr.strip()[-300:]!r}")
            if exact:
                require(lines[0] == "convert.py: error: " + must_mention,
                      f"message differs:\n  got      {lines[0]}\n  expected convert.py: error: {must_mention}")
            else:
                require(must_mention in lines[0], f"message does not mention {must_mention!r}: {lines[0]}")
            require(not out.exists() and not Path(str(out) + ".tmp").exists(), "output file left behind")
        case(name, run)

    garbage = work / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 20)
    fp32 = (shared / TINY.format("FP32")).read_bytes()
    truncated = work / "truncated.bin"
    truncated.write_bytes(fp32[:100000])
    mislabelled = work / "mislabelled.bin"
    q = bytearray(fp32)
    struct.pack_into("<i", q, 24 + 8, 9)          # first tensor's type -> Q8_0, its data still FP32
    mislabelled.write_bytes(bytes(q))

    def tensor_header_at(data: bytes, wanted: str) -> int:
        pos = 24
        while True:
            n_dims, name_len, dtype = struct.unpack_from("<3i", data, pos)
            ne = struct.unpack_from(f"<{n_dims}i", data, pos + 12)
            name = data[pos + 12 + 4 * n_dims:pos + 12 + 4 * n_dims + name_len].decode()
            if name == wanted:
                return pos
            size = {0: 4, 1: 2}.get(dtype)
            nbytes = int(np.prod(ne)) * size if size else int(np.prod(ne)) // 32 * {
                2: 18, 3: 20, 7: 22, 8: 24, 9: 34}[dtype]
            pos += 12 + 4 * n_dims + name_len + nbytes

    def retyped(name: str, tensor: str, type_id: int, base: bytes = fp32) -> Path:
        path = work / name
        b = bytearray(base)
        struct.pack_into("<i", b, tensor_header_at(base, tensor) + 8, type_id)
        path.write_bytes(bytes(b))
        return path

    removed = retyped("removed-q4_2.bin", "blocks.0.att.key.weight", 5)
    removed_o = retyped("removed-q4_1_o.bin", "blocks.3.ffn.value.weight", 4)
    unknown = retyped("unknown-type.bin", "blocks.0.att.key.weight", 10)
    bad_header = work / "unknown-header-type.bin"
    bad_header.write_bytes(fp32[:20] + struct.pack("<I", 12) + fp32[24:])
    # Version 100: quantized tensors are refused (naming the first), FP32 ones convert.
    q51 = qdir / "tiny-rwkv-7v0-834K-Q5_1.bin"
    if not q51.exists():
        write_quantized_rwkvcpp(shared / TINY.format("FP32"), q51, "Q5_1")
    old_q = work / "version100-Q5_1.bin"
    old_q.write_bytes(q51.read_bytes()[:4] + struct.pack("<I", 100) + q51.read_bytes()[8:])
    (work / "v100").mkdir(exist_ok=True)
    old_f = work / "v100" / Path(TINY.format("FP32")).name   # the same name: the same general.* keys
    old_f.write_bytes(fp32[:4] + struct.pack("<I", 100) + fp32[8:])
    # Rows of 16: a Q8_0 tensor declared [16, 256] (same block count as [64, 64]).
    q80 = qdir / "tiny-rwkv-7v0-834K-Q8_0.bin"
    if not q80.exists():
        write_quantized_rwkvcpp(shared / TINY.format("FP32"), q80, "Q8_0")
    b = bytearray(q80.read_bytes())
    struct.pack_into("<2i", b, tensor_header_at(bytes(b), "blocks.2.att.value.weight") + 12, 16, 256)
    short_rows = work / "rows-of-16.bin"
    short_rows.write_bytes(bytes(b))

    fails("error_missing_input", (work / "does-not-exist.pth",), "does-not-exist.pth")
    fails("error_garbage_input", (garbage,), "garbage.bin")
    fails("error_truncated_rwkvcpp", (truncated,), "truncated")
    fails("error_mislabelled_quantized_rwkvcpp", (mislabelled,), "corrupt tensor header")
    fails("error_removed_type_q4_2", (removed,),
          f"{removed}: tensor blocks.0.att.key.weight has data type 5 (Q4_2), a format rwkv.cpp removed in "
          "2023; requantize the model from its FP32 or FP16 file with a current rwkv.cpp", exact=True)
    fails("error_removed_type_q4_1_o", (removed_o,),
          f"{removed_o}: tensor blocks.3.ffn.value.weight has data type 4 (Q4_1_O), a format rwkv.cpp removed "
          "in 2023; requantize the model from its FP32 or FP16 file with a current rwkv.cpp", exact=True)
    fails("error_unknown_type", (unknown,),
          f"{unknown}: tensor blocks.0.att.key.weight has unknown data type 10 (rwkv.cpp's are 0-9)", exact=True)
    fails("error_unknown_header_type", (bad_header,),
          f"{bad_header}: unknown rwkv.cpp data type 12 in the file header (rwkv.cpp's are 0-9)", exact=True)
    fails("error_version100_quantized", (old_q,),
          f"{old_q}: tensor blocks.0.att.w1 is Q5_1 in an rwkv.cpp file of version 100: its blocks are in "
          "ggml's quantization layout from before May 2023 (file version 101 marks the change), which "
          "neither rwkv.cpp nor this converter reads; requantize the model from its FP32 or FP16 file with "
          "a current rwkv.cpp", exact=True)
    fails("error_quantized_rows_not_32", (short_rows,),
          f"{short_rows}: tensor blocks.2.att.value.weight is Q8_0 with rows of 16 values, not a multiple "
          "of the block size 32", exact=True)

    def version100_fp32():
        out = work / "version100-FP32.gguf"
        convert_ok(old_f, out)
        ref = work / "version101-FP32.gguf"
        convert_ok(shared / TINY.format("FP32"), ref)
        require(out.read_bytes() == ref.read_bytes(), "a version-100 FP32 file converts differently from version 101")
    case("rwkvcpp_version100_fp32_converts", version100_fp32)

    def incomplete_pth():
        import torch
        sd = torch.load(str(pth32), map_location="cpu")
        del sd["blocks.1.att.k_k"]
        torch.save(sd, str(work / "incomplete.pth"))
    case("make_incomplete_pth", incomplete_pth)
    fails("error_missing_tensor", (work / "incomplete.pth",), "blocks.1.att.k_k")

    harness.finish()


if __name__ == "__main__":
    main()
