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
  * bad inputs (missing, garbage, truncated, quantized, incomplete) fail
    with exit status 1 and one "convert.py: error: ..." line.
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CONVERT = ROOT / "scripts" / "convert.py"
sys.path.insert(0, str(ROOT / "scripts"))
from gguf_writer import (GGMLType, GGUFValueType, GGUFWriter, read_gguf,  # noqa: E402
                         read_gguf_full, tensor_as_f32)

REF_GGUF = "llamacpp-gguf/v7-L2-D64-s9-llamacpp-f16.gguf"
REF_NAME = "v7 L2 D64 S9 Fp16"   # general.name in the reference file
TINY = "rwkvcpp-tiny/tiny-rwkv-7v0-834K-{}.bin"


class CheckFailed(Exception):
    pass


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise CheckFailed(msg)


RESULTS = {"passed": 0, "failed": 0}


def run_check(name: str, fn) -> None:
    try:
        fn()
    except CheckFailed as e:
        print(f"FAIL {name}: {e}")
        RESULTS["failed"] += 1
    except Exception as e:   # a crash in a check is a failure, not an abort
        last = traceback.format_exc().strip().splitlines()[-1]
        print(f"FAIL {name}: unexpected {type(e).__name__}: {last}")
        RESULTS["failed"] += 1
    else:
        print(f"PASS {name}")
        RESULTS["passed"] += 1
    sys.stdout.flush()


def convert(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CONVERT), *map(str, args)],
                          capture_output=True, text=True)


def convert_ok(*args: str) -> None:
    r = convert(*args)
    check(r.returncode == 0, f"convert.py {' '.join(map(str, args))} exited {r.returncode}: "
                             f"{r.stderr.strip()[-300:]}")


def make_pth(tools: Path, out: Path, dtype: str) -> None:
    if out.exists():
        return
    r = subprocess.run([sys.executable, str(tools / "make_v7_pth.py"), str(out), "--layers", "2",
                        "--embd", "64", "--seed", "9", "--dtype", dtype],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"make_v7_pth.py failed: {r.stderr.strip()[-300:]}")


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
    check(not missing and not extra, f"missing tensors {missing[:5]}, unexpected {extra[:5]}")
    for name, want in expected.items():
        gtype, arr = tensors[name]
        etype = expected_type(name, want.ndim, matrix_type)
        check(gtype == etype, f"{name}: type {GGMLType.name(gtype)}, expected {GGMLType.name(etype)}")
        check(arr.shape == want.shape, f"{name}: shape {arr.shape}, expected {want.shape}")
        if rounding is not None and gtype != GGMLType.F32:
            want = rounding(want)
        got = tensor_as_f32(gtype, arr)
        if not np.array_equal(got, want.astype(np.float32)):
            bad = np.abs(got - want).max()
            raise CheckFailed(f"{name}: values differ (max abs diff {bad:g})")


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

def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", required=True, help="the shared/data directory")
    ap.add_argument("--work", required=True, help="scratch directory")
    a = ap.parse_args()
    shared = Path(a.shared).resolve()
    tools = shared.parent / "tools"
    work = Path(a.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    vocab = ("--vocab", str(shared / "tokenizer" / "rwkv_vocab_v20230424.txt"))
    t0 = time.time()

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
        check(list(meta) == list(want), f"keys {list(meta)}")
        for k, v in want.items():
            check(meta[k] == v, f"{k} = {meta[k]!r}, expected {v!r}")
        check(info.meta_types["ints"] == (GGUFValueType.ARRAY, GGUFValueType.INT32), "ints not INT32")
        check(info.meta_types["u32s"] == (GGUFValueType.ARRAY, GGUFValueType.UINT32), "u32s not UINT32")
        check([t[1] for t in info.tensor_infos] == [(3, 2), (3,), (2, 1)], "ggml ne not reversed")
        check([t[3] for t in info.tensor_infos] == [0, 32, 64], "offsets not 32-aligned")
        check(info.data_offset % 32 == 0 and path.stat().st_size == info.data_offset + 96, "padding")
        check(np.array_equal(tensors["a"][1], f16), "F16 tensor")
        check(np.array_equal(tensor_as_f32(*tensors["c"]), np.array([[1.0, -2.0]], np.float32)), "BF16")
    run_check("gguf_writer_roundtrip", writer_roundtrip)

    def pth_f16_identical():
        make_pth(tools, pth16, "fp16")
        out = work / "s9-f16.gguf"
        convert_ok(pth16, out, *vocab)
        ref = (shared / REF_GGUF).read_bytes()
        got = out.read_bytes()
        if got != ref:
            at = next((i for i, (x, y) in enumerate(zip(got, ref)) if x != y), min(len(got), len(ref)))
            raise CheckFailed(f"differs from {REF_GGUF} at byte {at} (sizes {len(got)} / {len(ref)})")
    run_check("pth_f16_byte_identical", pth_f16_identical)

    def pth_f16_name_flag():
        # Any file name: --name gives the reference's general.name, hence the
        # same bytes; without it only general.name differs.
        other = work / "s9.pth"
        if not other.exists():
            os.link(pth16, other) if hasattr(os, "link") else other.write_bytes(pth16.read_bytes())
        out = work / "s9-named.gguf"
        convert_ok(other, out, "--name", REF_NAME, *vocab)
        check(out.read_bytes() == (shared / REF_GGUF).read_bytes(), "--name output not identical")
        out2 = work / "s9-unnamed.gguf"
        convert_ok(other, out2, *vocab)
        m1, t1 = read_gguf(str(out))
        m2, t2 = read_gguf(str(out2))
        check(m2["general.name"] == "S9", f"general.name {m2['general.name']!r}, expected 'S9'")
        diff = [k for k in m1 if m1[k] != m2.get(k)]
        check(diff == ["general.name"] and list(m1) == list(m2), f"keys differing: {diff}")
        check(all(np.array_equal(t1[k][1], t2[k][1]) for k in t1), "tensors differ")
    run_check("pth_f16_name_flag", pth_f16_name_flag)

    def pth_typed(dtype: str, pth: Path, args: tuple, file_type: int, matrix_type: int, rounding=None):
        def run():
            make_pth(tools, pth, dtype)
            out = work / f"{pth.stem}{'-' + '-'.join(args).strip('-') if args else ''}.gguf"
            convert_ok(pth, out, *args, *vocab)
            meta, tensors = read_gguf(str(out))
            check(meta["general.file_type"] == file_type,
                  f"general.file_type {meta['general.file_type']}, expected {file_type}")
            compare_tensors(tensors, expected_from_official(pth_as_f32(pth), 2), matrix_type, rounding)
        return run

    def to_f16(x):
        return x.astype(np.float16).astype(np.float32)

    def to_bf16(x):
        import torch   # independent rounding: PyTorch's float32 -> bfloat16
        return torch.from_numpy(np.ascontiguousarray(x)).to(torch.bfloat16).float().numpy()

    run_check("pth_bf16_types_values", pth_typed("bf16", pth_bf16, (), 32, GGMLType.BF16))
    run_check("pth_fp32_types_values", pth_typed("fp32", pth32, (), 0, GGMLType.F32))
    run_check("pth_fp32_to_f16", pth_typed("fp32", pth32, ("--dtype", "f16"), 1, GGMLType.F16, to_f16))
    run_check("pth_fp32_to_bf16", pth_typed("fp32", pth32, ("--dtype", "bf16"), 32, GGMLType.BF16, to_bf16))

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
                check(meta.get(k) == v, f"{k} = {meta.get(k)!r}, expected {v!r}")
            toks = meta["tokenizer.ggml.tokens"]
            check(len(toks) == 256 and toks[65] == "A" and toks[10] == "\\n" and toks[255] == "\\xff",
                  "byte-level token texts")
            check(header[2:5] == (256, 64, 12), f"rwkv.cpp header {header}")
            compare_tensors(tensors, expected_from_rwkvcpp(rc, 12),
                            GGMLType.F32 if kind == "FP32" else GGMLType.F16)
            mix = tensor_as_f32(*tensors["blk.5.time_mix_lerp_fused.weight"])
            check(-0.5 < mix.min() and mix.max() < 1.5, f"token-shift mixes out of range: {mix.min()}..{mix.max()}")
        return run

    run_check("rwkvcpp_fp32_tensors", tiny("FP32"))
    run_check("rwkvcpp_fp16_tensors", tiny("FP16"))

    def tiny_logits():
        out = work / "tiny-FP32.gguf"
        if not out.exists():
            convert_ok(shared / TINY.format("FP32"), out)
        meta, tensors = read_gguf(str(out))
        logits = rwkv7_logits(tensors, meta, b'"in')
        ref = np.fromfile(shared / "rwkvcpp-tiny/expected-logits-7v0-834K.bin", dtype="<f4")
        err = np.abs(logits - ref).max()
        check(err < 1e-4 * max(1.0, float(ref.std())), f"max abs logit error {err:g}")
    run_check("rwkvcpp_fp32_logits", tiny_logits)

    def fails(name: str, args: tuple, must_mention: str):
        def run():
            out = work / "bad.gguf"
            for leftover in (out, Path(str(out) + ".tmp")):   # from an earlier failure
                if leftover.exists():
                    leftover.unlink()
            r = convert(*args, out)
            lines = r.stderr.strip().splitlines()
            check(r.returncode == 1, f"exit status {r.returncode}, expected 1 ({r.stderr.strip()[-200:]})")
            check(len(lines) == 1 and lines[0].startswith("convert.py: error: "),
                  f"stderr is not one error line: {r.stderr.strip()[-300:]!r}")
            check(must_mention in lines[0], f"message does not mention {must_mention!r}: {lines[0]}")
            check(not out.exists() and not Path(str(out) + ".tmp").exists(), "output file left behind")
        run_check(name, run)

    garbage = work / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 20)
    fp32 = (shared / TINY.format("FP32")).read_bytes()
    truncated = work / "truncated.bin"
    truncated.write_bytes(fp32[:100000])
    quantized = work / "quantized.bin"
    q = bytearray(fp32)
    struct.pack_into("<i", q, 24 + 8, 9)          # first tensor's type -> Q8_0
    quantized.write_bytes(bytes(q))

    fails("error_missing_input", (work / "does-not-exist.pth",), "does-not-exist.pth")
    fails("error_garbage_input", (garbage,), "garbage.bin")
    fails("error_truncated_rwkvcpp", (truncated,), "truncated")
    fails("error_quantized_rwkvcpp", (quantized,), "quantized")

    def incomplete_pth():
        import torch
        sd = torch.load(str(pth32), map_location="cpu")
        del sd["blocks.1.att.k_k"]
        torch.save(sd, str(work / "incomplete.pth"))
    run_check("make_incomplete_pth", incomplete_pth)
    fails("error_missing_tensor", (work / "incomplete.pth",), "blocks.1.att.k_k")

    print(f"# {time.time() - t0:.1f} s")
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
