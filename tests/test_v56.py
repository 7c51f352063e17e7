#!/usr/bin/env python3
"""RWKV-5.2 and RWKV-6 end to end: seeded official-layout models, converted to
GGUF, run by rwkv-cli and compared with the NumPy references.

For each generation (v5 = RWKV-5.2, v6 = RWKV-6):
  - scripts/make_v{5,6}_pth.py makes a model in the official .pth layout:
    L2 D128 fp32 (byte vocabulary) and L3 D256 bf16 (world vocabulary, needs
    ../shared/data/tokenizer; skipped loudly without it, a failure under CI);
  - scripts/convert.py converts it (fp32 -> F32, bf16 -> BF16 GGUF);
  - rwkv-cli logits --all, on every instruction-set path, in sequence mode
    must match scripts/rwkv{5,6}_numpy.py run on the .pth (max |diff| / std of
    each row at every position, bounds below), and chunks of 5 and token by
    token must give sequence mode's logits bit for bit;
  - rwkv.cpp files (written here as rwkv.cpp's converter writes them, FP32 and
    FP16) convert and give the same logits; for v6 FP32 the GGUF is
    byte-identical to the one from the .pth;
  - a file laid out as llama.cpp writes Hugging Face models with
    rescale_every_n_layers (weights divided, x halved) gives the same logits;
  - a state saved after part of the tokens, loaded and continued, gives the
    logits of one run, and holds what the NumPy reference's state holds;
  - Q8_0 (rwkv-cli quantize) loads and stays close.
Then: the converter's errors for a broken v6 and a v5.0/5.1 checkpoint; the
parallel (chunked) WKV form of docs/math.md against the recurrence; and
`rwkv-cli icl`, the in-context-learning demo.
Each check prints PASS/FAIL (with max |diff| / std where it measures); the last
line is "N passed, M failed"; exit status 1 on any failure.

usage: test_v56.py --cli build/rwkv-cli --work build/test_v56 [--shared ../shared/data]
"""
import argparse, json
import contextlib
import io
import os
import random
import struct
import sys

import numpy as np

import harness
from harness import SCRIPTS, check, rel_diff, run_cli

sys.path.insert(0, SCRIPTS)
import convert as convert_py  # noqa: E402
import gguf_writer  # noqa: E402
import make_v5_pth  # noqa: E402
import make_v6_pth  # noqa: E402
import rwkv5_numpy  # noqa: E402
import rwkv6_numpy  # noqa: E402

# Bounds on max |diff| / std, each a small multiple of the worst measured on
# the scalar, AVX2 and AVX-512 paths:
F32_BOUND = 1e-5      # F32 weights, rwkv.cpp's FP32/FP16 files, a continued state: 2.1e-6 .. 3.2e-6; 3.1x
BF16_BOUND = 5e-5     # the L3 D256 BF16 models: 7.4e-6 .. 1.7e-5; 2.9x
RESCALE_BOUND = 1e-3  # rescale_every_n_layers = 1: 2.7e-4 (v5), 1.5e-4 .. 1.6e-4 (v6); 3.7x


def close(name, got, ref, bound):
    if got is None:
        return check(name, False, "no output")
    d = rel_diff(got, ref)
    return check(f"{name}: max |diff| / std = {d:.2g} (bound {bound:g})", d <= bound, f"{d:g} > {bound:g}")


def cli_logits(gguf, tokens, work, tag, *extra):
    out = os.path.join(work, tag + ".f32")
    rc, _, err = run_cli(["logits", "-m", gguf, "--tokens", ",".join(map(str, tokens)), "--all", "-o", out,
                      *extra])
    if rc != 0:
        check(f"rwkv-cli logits {tag}", False, err.strip()[-300:])
        return None
    return np.fromfile(out, dtype="<f4")


# The generators and the converter run in this process (their main entry
# points, as the command line calls them): PyTorch is imported once, not once
# per step, which is most of the time this test would otherwise take.

def make_pth(version, out, layers, embd, seed, dtype, vocab):
    # made afresh every run (a second or two), so a changed generator is always tested
    gen = make_v5_pth if version == 5 else make_v6_pth
    args = argparse.Namespace(out=out + ".tmp", layers=layers, embd=embd, seed=seed, dtype=dtype, vocab=vocab)
    try:
        gen.make_pth(args)
        os.replace(out + ".tmp", out)
        ok, err = True, ""
    except Exception as e:  # report, do not stop the other checks
        ok, err = False, f"{type(e).__name__}: {e}"
    return check(f"make_v{version}_pth.py {os.path.basename(out)}", ok, err)


def convert_rc(src, dst, *extra):
    """(exit status, stderr) of convert.py SRC DST EXTRA..."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            rc = convert_py.main([src, dst, *extra])
        except SystemExit as e:  # argparse
            rc = e.code
    return rc, err.getvalue()


def convert(src, dst, *extra):
    rc, err = convert_rc(src, dst, *extra)
    return check(f"convert.py {os.path.basename(src)} -> {os.path.basename(dst)}", rc == 0, err.strip()[-300:])


# ---------------------------------------------------------------- rwkv.cpp files

def write_rwkvcpp(pth, out, fp16):
    """An rwkv.cpp model file of a v5.2 / v6 checkpoint, as rwkv.cpp's
    python/convert_pytorch_to_ggml.py writes it: '.time_' tensors squeezed and
    kept FP32; v6: time_faaaa [H,N,1], time_maa_w1 / time_decay_w1 / _w2
    transposed, time_maa_w2 [5,C,D]; v5.2: time_decay stored as
    exp(-exp(time_decay)) [H,N,1], time_faaaa [H,N,1]."""
    import torch
    sd = torch.load(pth, map_location="cpu")
    v6 = "blocks.0.att.time_maa_x" in sd
    n_layer = 0
    while f"blocks.{n_layer}.ln1.weight" in sd:
        n_layer += 1
    n_vocab, n_embed = sd["emb.weight"].shape
    with open(out, "wb") as f:
        f.write(struct.pack("=iiiiii", 0x67676D66, 101, n_vocab, n_embed, n_layer, 1 if fp16 else 0))
        for k, t in sd.items():
            t = t.float()
            if ".time_" in k:
                t = t.squeeze()
            if v6:
                if ".time_faaaa" in k:
                    t = t.unsqueeze(-1)
                if ".time_maa_w1" in k or ".time_decay_w" in k:
                    t = t.transpose(0, 1)
                if ".time_maa_w2" in k:
                    t = t.permute(0, 2, 1)
            else:
                if ".time_decay" in k:
                    t = torch.exp(-torch.exp(t)).unsqueeze(-1)
                if ".time_faaaa" in k:
                    t = t.unsqueeze(-1)
            if fp16 and len(t.shape) > 1 and ".time_" not in k:
                t = t.half()
            t = t.contiguous()
            name = k.encode()
            f.write(struct.pack("=iii", len(t.shape), len(name), 1 if t.dtype == torch.float16 else 0))
            for d in reversed(t.shape):
                f.write(struct.pack("=i", d))
            f.write(name)
            f.write(t.numpy().tobytes())


# ---------------------------------------------------------------- llama.cpp's rescaled layout

def write_rescaled(src, dst, arch, every):
    """The GGUF `src` with rescale_every_n_layers = every, and each layer i's
    time_mix_output / channel_mix_value divided by 2^(i // every), as
    llama.cpp's converter writes Hugging Face RWKV-6 checkpoints."""
    c = gguf_writer.read_gguf_full(src)
    w = gguf_writer.GGUFWriter(dst, arch)
    for key, value in c.meta.items():
        if key == "general.architecture":
            continue
        vtype, elem = c.meta_types[key]
        if key == f"{arch}.rescale_every_n_layers":
            value = every
        w.add_key_value(key, value, vtype, elem)
    for name, ne, gtype, _ in c.tensor_infos:
        arr = c.tensors[name][1]
        parts = name.split(".")
        if name.endswith(("time_mix_output.weight", "channel_mix_value.weight")):
            assert gtype == gguf_writer.GGMLType.F32
            arr = np.asarray(arr, np.float32) / np.float32(2 ** (int(parts[1]) // every))
        w.add_tensor(name, np.ascontiguousarray(arr), gtype)
    w.write()


# ---------------------------------------------------------------- the checks

def check_model(version, R, pth, gguf, tokens, work, tag, isas, bound):
    """rwkv-cli on `gguf` against the NumPy reference on `pth`, on every path;
    the chunking does not change a bit."""
    weights = R.load_pth(pth)
    state = R.new_state(weights)
    ref = R.forward_seq(weights, tokens, state)
    for isa in isas:
        seq = cli_logits(gguf, tokens, work, f"{tag}-seq-{isa}", "--isa", isa)
        close(f"v{version} {tag}: sequence mode ({isa}) vs NumPy", seq, ref, bound)
        for name, extra in (("chunks of 5", ("--chunk", "5")), ("token mode", ("--token-mode",))):
            other = cli_logits(gguf, tokens, work, f"{tag}-{extra[0][2:]}-{isa}", "--isa", isa, *extra)
            check(f"v{version} {tag}: {name} ({isa}) gives sequence mode's logits bit for bit",
                  seq is not None and other is not None and seq.tobytes() == other.tobytes(),
                  "differ" if seq is not None and other is not None else "no logits")
    return ref, state


def check_state(version, R, gguf, pth, tokens, ref, work, tag):
    """Save the state after the first half, continue from it: the second
    half's logits equal the full run's rows; the saved state holds the NumPy
    reference's state (same layout: att_shift, ffn_shift, wkv[H][key][value])."""
    h = len(tokens) // 2
    st = os.path.join(work, tag + ".state")
    first = cli_logits(gguf, tokens[:h], work, tag + "-first", "--state-out", st)
    second = cli_logits(gguf, tokens[h:], work, tag + "-second", "--state-in", st)
    if first is None or second is None:
        return
    close(f"v{version} {tag}: state saved and continued vs NumPy", second, ref[h:], F32_BOUND)
    weights = R.load_pth(pth)
    s = R.new_state(weights)
    R.forward_seq(weights, tokens[:h], s)
    want = np.frombuffer(s.to_bytes(), dtype="<f4")
    data = open(st, "rb").read()
    arch = struct.unpack_from("<I", data, 12)[0]
    got = np.frombuffer(data[56:], dtype="<f4")
    ok = arch == version and got.size == want.size
    d = float(np.abs(got - want).max() / (np.abs(want).max() + 1e-30)) if ok else float("inf")
    # measured 4.3e-7 .. 5.1e-7 (v5), 7.0e-7 .. 7.7e-7 (v6); bound = 2.6x
    check(f"v{version} {tag}: state file (arch {arch}) holds the NumPy state: max |diff| / max = {d:.2g} (bound 2e-6)",
          ok and d <= 2e-6, f"arch {arch}, {got.size} vs {want.size} floats, diff {d:g}")


def bench_flops(version, gguf):
    """rwkv-cli bench's FLOPs per prompt token, counted here from the model's
    shape: every layer's matrices (RWKV-6 adds the token-shift LoRA, whose
    time_mix_w2 [D, C, 5] is five D -> C matrices, and the decay LoRA), 5 per
    WKV state element (y += r S: 2, S = w S + k v^T: 3), the head once per prompt."""
    meta, tensors = gguf_writer.read_gguf(gguf)
    arch = f"rwkv{version}"
    L, C = meta[f"{arch}.block_count"], meta[f"{arch}.embedding_length"]
    F, N = meta[f"{arch}.feed_forward_length"], meta[f"{arch}.wkv.head_size"]
    V = tensors["output.weight"][1].shape[0]
    per_layer = 5 * C * C + 2 * C * F + C * C  # r, k, v, gate, output; channel-mix key, value, receptance
    if version == 6:
        D = tensors["blk.0.time_mix_w1.weight"][1].shape[0] // 5
        Dw = tensors["blk.0.time_mix_decay_w1.weight"][1].shape[0]
        per_layer += 5 * C * D + 5 * D * C + 2 * C * Dw
    P = 4
    want = 2 * L * per_layer + 5 * L * C * N + 2 * C * V / P
    rc, out, err = run_cli(["bench", "-m", gguf, "-p", str(P), "-n", "0", "-r", "1", "-o", "json"])
    try:
        got = json.loads(out)[0]["flops_per_token"]
    except (ValueError, IndexError, KeyError, TypeError):
        got = None
    check(f"v{version} bench counts {want:.0f} FLOPs per prompt token", got is not None and abs(got - want) <= 1,
          f"got {got}, rc={rc} {err.strip()[-200:]}")


def rwkvcpp_v52_epsilon(shared, work):
    """rwkv.cpp's tiny RWKV-5.2 model (8 heads of 8) with rwkv.cpp's expected
    logits after '"in': rwkv-cli is the official function (the ln_x GroupNorm
    with eps 64e-5 = 1e-5 x head_size_divisor^2, as RWKV-LM trains it), rwkv.cpp
    computes it with eps 1e-5, and that epsilon is the whole difference: the
    NumPy reference with eps 64e-5 gives rwkv-cli's logits, with eps 1e-5
    rwkv.cpp's (both to float32 rounding), and the two differ by 0.57 x std on
    this model."""
    d = os.path.join(shared, "rwkvcpp-tiny")
    src, exp = os.path.join(d, "tiny-rwkv-5v2-730K-FP32.bin"), os.path.join(d, "expected-logits-5v2-730K.bin")
    if not os.path.exists(src):
        harness.missing(src)
        return
    gguf = os.path.join(work, "tiny-rwkv-5v2-730K-f32.gguf")
    if not convert(src, gguf):
        return
    tokens = [ord(c) for c in '"in']
    got = cli_logits(gguf, tokens, work, "tiny5")
    if got is None:
        check("rwkv-cli runs rwkv.cpp's tiny v5.2 model", False)
        return
    got = got.reshape(len(tokens), -1)[-1:]
    rwkvcpp = np.fromfile(exp, dtype=np.float32).reshape(1, -1)
    w = rwkv5_numpy.load_gguf(gguf)
    orig = rwkv5_numpy.group_norm
    refs = {}
    for eps in (64e-5, 1e-5):
        rwkv5_numpy.group_norm = lambda x, wt, b, eps=eps: orig(x, wt, b, eps=eps)
        try:
            refs[eps] = rwkv5_numpy.forward_seq(w, tokens, rwkv5_numpy.new_state(w))[-1:]
        finally:
            rwkv5_numpy.group_norm = orig
    # measured 1.5e-6 .. 1.9e-6 (by path), 1.6e-6; bound = 2.6x
    close("tiny v5.2: rwkv-cli vs NumPy, ln_x eps 64e-5 (official)", got, refs[64e-5], 5e-6)
    close("tiny v5.2: rwkv.cpp's expected logits vs NumPy, ln_x eps 1e-5", rwkvcpp, refs[1e-5], 5e-6)
    d_cpp = rel_diff(got, rwkvcpp)
    check(f"tiny v5.2: rwkv-cli is {d_cpp:.2f} x std from rwkv.cpp, the epsilon's effect (0.5 .. 0.65)",
          0.5 <= d_cpp <= 0.65)


def generation(version, R, work, vocab_file, isas):
    rng = random.Random(100 + version)
    # -- L2 D128 fp32, byte-level vocabulary ------------------------------------
    pth = os.path.join(work, f"v{version}-L2-D128-s{version}.pth")
    if not make_pth(version, pth, 2, 128, version, "fp32", 256):
        return
    gguf = os.path.join(work, f"v{version}-L2-D128-f32.gguf")
    if not convert(pth, gguf):
        return
    tokens = [rng.randrange(256) for _ in range(19)]
    ref, _ = check_model(version, R, pth, gguf, tokens, work, "L2 D128 F32", isas, F32_BOUND)
    check_state(version, R, gguf, pth, tokens, ref, work, f"v{version}-f32")

    rc, out, err = run_cli(["info", "-m", gguf])
    check(f"v{version} rwkv-cli info names rwkv{version}", rc == 0 and f"rwkv{version}".encode() in out,
          err.strip()[-200:])
    bench_flops(version, gguf)

    # rwkv.cpp files of the same model
    for fp16 in (False, True):
        kind = "FP16" if fp16 else "FP32"
        rc_file = os.path.join(work, f"v{version}-L2-D128-rwkvcpp-{kind}.bin")
        write_rwkvcpp(pth, rc_file, fp16)
        out = os.path.join(work, f"v{version}-L2-D128-rwkvcpp-{kind}.gguf")
        if not convert(rc_file, out, "--name", os.path.splitext(os.path.basename(pth))[0].title()):
            continue
        if not fp16:
            if version == 6:  # v5's decay goes through exp(-exp()) and back: equal values, not bytes
                same = convert(pth, os.path.join(work, "named.gguf"), "--name",
                               os.path.splitext(os.path.basename(pth))[0].title())
                identical = same and open(out, "rb").read() == open(os.path.join(work, "named.gguf"), "rb").read()
                check("v6 rwkv.cpp FP32 file converts to the same GGUF bytes as the .pth", identical)
            close(f"v{version} rwkv.cpp FP32 file: rwkv-cli vs NumPy on the .pth",
                  cli_logits(out, tokens, work, f"v{version}-rwkvcpp32"), ref, F32_BOUND)
        else:
            # FP16 matrices: the reference is the NumPy model read from the converted GGUF
            w16 = R.load_gguf(out)
            ref16 = R.forward_seq(w16, tokens, R.new_state(w16))
            close(f"v{version} rwkv.cpp FP16 file: rwkv-cli vs NumPy on the same weights",
                  cli_logits(out, tokens, work, f"v{version}-rwkvcpp16"), ref16, F32_BOUND)

    # llama.cpp's rescaled layout (rescale_every_n_layers = 1: every layer halves x)
    resc = os.path.join(work, f"v{version}-L2-D128-rescaled.gguf")
    write_rescaled(gguf, resc, f"rwkv{version}", 1)
    close(f"v{version} rescale_every_n_layers = 1 file vs NumPy",
          cli_logits(resc, tokens, work, f"v{version}-rescaled", "--token-mode"), ref, RESCALE_BOUND)
    wr = R.load_gguf(resc)
    # the rescaling is by powers of two: undone exactly
    close(f"v{version} NumPy load_gguf undoes the rescaling", R.forward_seq(wr, tokens, R.new_state(wr)), ref, 0.0)

    # Q8_0: loads and runs (a smoke test; the bound is Q8_0's, not the engine's)
    q8 = os.path.join(work, f"v{version}-L2-D128-q8_0.gguf")
    rc, _, err = run_cli(["quantize", gguf, q8, "q8_0"])
    if check(f"v{version} rwkv-cli quantize q8_0", rc == 0, err.strip()[-300:]):
        a = cli_logits(q8, tokens, work, f"v{version}-q8")
        close(f"v{version} Q8_0 vs NumPy (F32 weights)", a, ref, 0.15)
        # --no-mmap rearranges the copy's Q8_0 matrices for the best path (kernels.h, repack): same bits
        for mode in ([], ["--token-mode"]):
            b = cli_logits(q8, tokens, work, f"v{version}-q8-copy", "--no-mmap", "--chunk", "5", *mode)
            check(f"v{version} Q8_0 --no-mmap {' '.join(mode) or 'sequence mode'}: the mapped file's logits, bit for bit",
                  a is not None and b is not None and np.array_equal(a.view(np.uint32), b.view(np.uint32)),
                  "differ" if a is not None and b is not None else "no logits")

    # -- L3 D256 bf16, world vocabulary -------------------------------------------
    if vocab_file is None:
        return
    pth = os.path.join(work, f"v{version}-L3-D256-s{10 + version}-bf16.pth")
    if not make_pth(version, pth, 3, 256, 10 + version, "bf16", 65536):
        return
    gguf = os.path.join(work, f"v{version}-L3-D256-bf16.gguf")
    if not convert(pth, gguf, "--vocab", vocab_file):
        return
    meta, tensors = gguf_writer.read_gguf(gguf)
    check(f"v{version} bf16 .pth -> BF16 matrices",
          tensors["blk.0.time_mix_key.weight"][0] == gguf_writer.GGMLType.BF16)
    tokens = [rng.randrange(65536) for _ in range(19)]
    check_model(version, R, pth, gguf, tokens, work, "L3 D256 BF16", isas, BF16_BOUND)


def chunked_form():
    """rwkv6_numpy.wkv_chunk (the parallel form docs/math.md derives) equals the
    token-by-token recurrence, with decays strong enough that products of w
    underflow float32 within a chunk (so log space is needed)."""
    rng = np.random.default_rng(4)
    N = 64
    worst = 0.0
    for L, dmax in ((1, 1.0), (7, 1.0), (16, 3.0), (64, 4.0)):
        S0 = rng.standard_normal((N, N)).astype(np.float32)
        r, k, v = (rng.standard_normal((L, N)).astype(np.float32) for _ in range(3))
        u = rng.standard_normal(N).astype(np.float32)
        d = rng.uniform(-6.0, dmax, (L, N)).astype(np.float32)
        logw = -np.exp(d.astype(np.float64))
        S = S0.astype(np.float64)
        y_rec = np.zeros((L, N))
        for t in range(L):  # the recurrence, as time_mix runs it (in float64 here)
            kv = np.outer(k[t], v[t])
            y_rec[t] = r[t] @ (S + u[:, None] * kv)
            S = np.exp(logw[t])[:, None] * S + kv
        y, S_new = rwkv6_numpy.wkv_chunk(S0, r, logw, k, v, u)
        worst = max(worst, float(np.abs(y - y_rec).max() / np.abs(y_rec).max()),
                    float(np.abs(S_new - S).max() / np.abs(S).max()))
    # measured 2.1e-7 (float32 inputs, float64 recurrence); bound = 2.9x
    check(f"parallel (chunked) WKV form equals the recurrence: max |diff| / max = {worst:.2g} (bound 6e-7)",
          worst <= 6e-7)


def icl_demo(work):
    """rwkv-cli icl runs, and shows what docs/math.md says it shows: the
    additive state's error passes 1 at n = N and keeps growing; the delta rule
    fed the stream repeatedly tracks the least-squares limit."""
    out = os.path.join(work, "icl.csv")
    rc, text, err = run_cli(["icl", "--trials", "4", "--csv", out])
    if not check("rwkv-cli icl runs", rc == 0 and b"(a)" in text and os.path.exists(out), err.strip()[-300:]):
        return
    vals = {}
    for line in open(out).read().splitlines()[2:]:
        section, x, series, e = line.split(",")
        vals[(section, float(x), series)] = float(e)
    add64, add256 = vals[("capacity", 64.0, "v5/v6 add")], vals[("capacity", 256.0, "v5/v6 add")]
    rep256, ls256 = vals[("capacity", 256.0, "v7 a=.2 x20")], vals[("capacity", 256.0, "LS limit")]
    check(f"icl: additive error {add64:.2f} at n = N, {add256:.2f} at n = 4N; delta rule x20 {rep256:.2f} "
          f"vs least-squares limit {ls256:.2f} at n = 4N",
          add64 > 0.8 and add256 > 3.0 and abs(rep256 - ls256) < 0.1)


def conversion_errors(work):
    """A v5.0/5.1 checkpoint (no gate) and a v6 checkpoint missing a tensor are
    refused with one line naming the problem."""
    import torch
    src = os.path.join(work, "v6-L2-D128-s6.pth")
    if not os.path.exists(src):
        return
    sd = torch.load(src, map_location="cpu")
    del sd["blocks.1.att.time_decay_w2"]
    bad = os.path.join(work, "bad-v6.pth")
    torch.save(sd, bad)
    rc, err = convert_rc(bad, os.path.join(work, "bad.gguf"))
    check("convert.py names a missing v6 tensor", rc == 1 and "blocks.1.att.time_decay_w2" in err, err.strip())
    sd = torch.load(os.path.join(work, "v5-L2-D128-s5.pth"), map_location="cpu")
    for k in [k for k in sd if k.endswith("att.gate.weight")]:
        del sd[k]
    torch.save(sd, bad)
    rc, err = convert_rc(bad, os.path.join(work, "bad.gguf"))
    check("convert.py refuses RWKV-5.0/5.1", rc == 1 and "5.0/5.1" in err, err.strip())


def cpu_isas():
    """The instruction-set paths this CPU runs, as kernels/kernels.cpp decides."""
    flags = set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    isas = ["scalar"]
    if {"avx2", "fma", "f16c"} <= flags:
        isas.append("avx2")
        if {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"} <= flags:
            isas.append("avx512")
    return isas


def main():
    a = harness.arguments(__doc__, required=("cli", "work"),
                          optional={"shared": os.path.join(harness.ROOT, "..", "shared", "data")})
    vocab = os.path.join(a.shared, "tokenizer", "rwkv_vocab_v20230424.txt")
    if not os.path.exists(vocab):
        harness.missing(f"{vocab} (the world-vocabulary L3 D256 bf16 models are not tested)")
        vocab = None
    isas = cpu_isas()
    for version, R in ((5, rwkv5_numpy), (6, rwkv6_numpy)):
        generation(version, R, a.work, vocab, isas)
    conversion_errors(a.work)
    rwkvcpp_v52_epsilon(a.shared, a.work)
    chunked_form()
    icl_demo(a.work)
    harness.finish()


if __name__ == "__main__":
    main()
