#!/usr/bin/env python3
"""State tuning: RWKV-PEFT / RWKV-LM time_state checkpoints converted by
scripts/convert.py into rwkv-cli state files, checked with logits.

For RWKV-7 (the fixture's L2 D256 fp32 and L3 D128 bf16 models) and RWKV-6 /
RWKV-5.2 (seeded L2 D128 models made here):
  - a random time_state checkpoint ({'blocks.N.att.time_state': [H, N, N]},
    randn * 0.5, fp32 and bf16) is converted with --model;
  - rwkv-cli logits --state-in must match the NumPy reference started from
    the state the PEFT semantics define (rwkv{5,6,7}_numpy.state_from_time_state:
    time_state[h][value][key]) to 1.5e-5 x std of each row, at every position,
    and token mode must give the same bits;
  - the same reference started from the transposed state must be clearly off
    (> 0.5): the test tells the two layouts apart;
  - the model id the converter writes equals the one rwkv-cli writes itself.
Then: a "model." prefix and an extra *state* tensor (warned about) give the
same file; a Q8_0 file of the model gives the same file; a state for another
model of the same shape is refused by rwkv-cli; a missing layer, a wrong
shape, an extra layer and a missing --model are one-line converter errors;
progress lines appear on a terminal only, and never with --quiet.
Each check prints PASS/FAIL; the last line is "N passed, M failed".

usage: test_time_state.py --cli build/rwkv-cli --models build/models --work build/test_time_state
"""
import os
import pty
import subprocess
import sys

import numpy as np

import harness
from harness import SCRIPTS, check, rel_diff, run_cli

sys.path.insert(0, SCRIPTS)
import rwkv5_numpy  # noqa: E402
import rwkv6_numpy  # noqa: E402
import rwkv7_numpy  # noqa: E402
import state_file  # noqa: E402
from test_v56 import convert_rc, make_pth  # noqa: E402

BOUND = 1.5e-5      # the right layout: rwkv-cli vs NumPy, max |diff| / std per row (measured 1.9e-6 .. 4.9e-6 on every path; 3.1x)
WRONG = 0.5         # the transposed layout must be at least this far off (measured 1.7 .. 3.7; a third of the least)


def cli_logits(gguf, tokens, state_in, out, *extra):
    """(logits [T, V] or None, stderr) of rwkv-cli logits --all from state_in."""
    rc, _, err = run_cli(["logits", "-m", gguf, "--tokens", ",".join(map(str, tokens)), "--all",
                      "--state-in", state_in, "-o", out, *extra])
    return (np.fromfile(out, "<f4") if rc == 0 else None), err


def save_time_state(path, shapes, seed, dtype, prefix="", extra=None):
    """A state-tuning checkpoint: blocks.i.att.time_state = randn * 0.5 of each shape."""
    import torch
    g = torch.Generator().manual_seed(seed)
    sd = {f"{prefix}blocks.{i}.att.time_state": (torch.randn(*s, generator=g) * 0.5).to(dtype)
          for i, s in enumerate(shapes)}
    sd.update(extra or {})
    torch.save(sd, path)


def convert_state(ts, out, model, *extra):
    return convert_rc(ts, out, "--model", model, *extra)


def layouts(tag, R, weights, gguf, tokens, ts, st, work):
    """rwkv-cli from the converted state vs the reference in both layouts."""
    out = os.path.join(work, tag + ".f32")
    saved = os.path.join(work, tag + "-after.state")
    got, err = cli_logits(gguf, tokens, st, out, "--state-out", saved)
    if not check(f"{tag}: rwkv-cli logits --state-in", got is not None, err.strip()[-300:]):
        return
    ref = R.forward_seq(weights, tokens, R.state_from_time_state(weights, ts))
    d = rel_diff(got, ref)
    check(f"{tag}: sequence mode vs NumPy from time_state: max |diff| / std = {d:.2g} (bound {BOUND:g})",
          d <= BOUND, f"{d:g}")
    tok, err = cli_logits(gguf, tokens, st, out, "--token-mode")
    check(f"{tag}: token mode gives sequence mode's logits bit for bit",
          tok is not None and tok.tobytes() == got.tobytes(), err.strip()[-300:] or "differ")
    wrong = R.state_from_time_state(weights, ts)
    wrong.wkv = np.ascontiguousarray(wrong.wkv.transpose(0, 1, 3, 2))
    dw = rel_diff(got, R.forward_seq(weights, tokens, wrong))
    check(f"{tag}: vs NumPy from the transposed time_state: max |diff| / std = {dw:.2g} (must be > {WRONG:g})",
          dw > WRONG, f"{dw:g}")
    want = state_file.model_info(gguf)["model_id"]
    have = state_file.read_state(saved)[0]["model_id"]
    check(f"{tag}: converter's model id {want:016x} == rwkv-cli's", want == have, f"rwkv-cli wrote {have:016x}")


def model_case(tag, R, pth, gguf, seed, work):
    """fp32 and bf16 time_state checkpoints for one model."""
    import torch
    weights = R.load_pth(pth)
    L, C, H, N, V = R.hparams(weights)
    tokens = list(np.random.default_rng(seed).integers(0, V, 8))
    for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        ts = os.path.join(work, f"{tag}-ts-{name}.pth")
        st = os.path.join(work, f"{tag}-ts-{name}.state")
        save_time_state(ts, [(H, N, N)] * L, seed, dtype)
        rc, err = convert_state(ts, st, gguf)
        if check(f"{tag}: convert.py {name} time_state --model", rc == 0, err.strip()[-300:]):
            layouts(f"{tag} {name} time_state", R, weights, gguf, tokens, ts, st, work)


def make_model(version, work, seed):
    """A seeded L2 D128 byte-vocabulary RWKV-5.2/6 .pth and its GGUF."""
    pth = os.path.join(work, f"v{version}-L2-D128-s{seed}.pth")
    gguf = os.path.join(work, f"v{version}-L2-D128-s{seed}.gguf")
    if not make_pth(version, pth, 2, 128, seed, "fp32", 256):
        return None
    rc, err = convert_rc(pth, gguf, "--quiet")
    return (pth, gguf) if check(f"convert.py {os.path.basename(pth)}", rc == 0, err.strip()[-300:]) else None


def same_file(work, gguf, other_gguf):
    """A "model." prefix plus an extra state tensor, and a Q8_0 file of the
    model, give the same state file."""
    import torch
    H, N = 2, 64
    plain, prefixed = os.path.join(work, "plain.pth"), os.path.join(work, "prefixed.pth")
    save_time_state(plain, [(H, N, N)] * 2, 1, torch.bfloat16)
    save_time_state(prefixed, [(H, N, N)] * 2, 1, torch.bfloat16, "model.",
                    {"model.blocks.0.att.time_state_scale": torch.ones(3)})
    a, b, c = (os.path.join(work, f"{n}.state") for n in ("plain", "prefixed", "q8"))
    rc1, err1 = convert_state(plain, a, gguf)
    rc2, err2 = convert_state(prefixed, b, gguf, "--quiet")
    check("'model.' prefix and an extra *state* tensor: same state file, one warning naming it",
          rc1 == 0 and rc2 == 0 and open(a, "rb").read() == open(b, "rb").read()
          and err2.count("\n") == 1 and "warning" in err2 and "time_state_scale" in err2, err1 + err2)
    q8 = os.path.join(work, "q8_0.gguf")
    rc, _, err = run_cli(["quantize", gguf, q8, "q8_0"])
    rc3, err3 = convert_state(plain, c, q8) if rc == 0 else (rc, err)
    check("--model a Q8_0 file of the model: same state file (same model id)",
          rc3 == 0 and open(a, "rb").read() == open(c, "rb").read(), err3.strip()[-300:])
    rc, _, err = run_cli(["logits", "-m", other_gguf, "--tokens", "1", "--state-in", a,
                      "-o", os.path.join(work, "x.f32")])
    check("rwkv-cli refuses the state for another model of the same shape",
          rc == 1 and "another model of the same shape" in err and err.count("\n") == 1, f"rc {rc}: {err}")


def converter_errors(work, gguf):
    """One "convert.py: error: ..." line naming the problem, exit 1, no output left."""
    import torch
    H, N = 2, 64
    bad = os.path.join(work, "bad.pth")
    out = os.path.join(work, "bad.state")
    cases = (("missing layer", [(H, N, N)], (), "blocks.1.att.time_state"),
             ("wrong shape", [(H, N, N), (H, N, N - 1)], (), "blocks.1.att.time_state has shape [2, 64, 63]"),
             ("heads x head size swapped", [(H, N, N), (N, H, N)], (), "blocks.1.att.time_state has shape"),
             ("layer beyond the model", [(H, N, N)] * 3, (), "blocks.2.att.time_state: layer 2"),
             ("no --model", [(H, N, N)] * 2, None, "--model"))
    for name, shapes, model, needle in cases:
        save_time_state(bad, shapes, 2, torch.float32)
        for f in (out, out + ".tmp"):
            if os.path.exists(f):
                os.unlink(f)
        rc, err = convert_rc(bad, out) if model is None else convert_state(bad, out, gguf)
        lines = err.strip().splitlines()
        check(f"convert.py error, {name}: {lines[0] if lines else ''}",
              rc == 1 and len(lines) == 1 and lines[0].startswith("convert.py: error: ") and needle in lines[0]
              and not os.path.exists(out) and not os.path.exists(out + ".tmp"), f"rc {rc}: {err!r}")


def stderr_on_tty(args):
    """What convert.py writes to stderr when stderr is a terminal."""
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, os.path.join(SCRIPTS, "convert.py"), *args],
                         stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:   # EIO: the other side is closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    p.wait()
    return p.returncode, b"".join(chunks).decode("utf-8", "replace")


def progress(work, pth):
    out = os.path.join(work, "progress.gguf")
    rc, err = stderr_on_tty([pth, out])
    check("convert.py on a terminal: one progress line per tensor, then the summary",
          rc == 0 and "[   1/" in err and "wrote" in err, err[-300:])
    rc, err = stderr_on_tty([pth, out, "--quiet"])
    check("convert.py --quiet on a terminal: nothing on stderr", rc == 0 and err.strip() == "", err[-300:])
    rc, err = convert_rc(pth, out)
    check("convert.py to a pipe: the summary line only", rc == 0 and err.count("\n") == 1 and "wrote" in err
          and "[" not in err, err[-300:])


def main():
    a = harness.arguments(__doc__, required=("cli", "models", "work"))
    for name in ("v7-L2-D256-s5", "v7-L3-D128-s11-bf16"):
        pth = os.path.join(a.models, name + ".pth")
        gguf = os.path.join(a.models, name + ("-f32.gguf" if name.endswith("s5") else ".gguf"))
        if os.path.exists(pth) and os.path.exists(gguf):
            model_case(name, rwkv7_numpy, pth, gguf, 7, a.work)
        else:
            harness.missing(f"{gguf} (made by make_test_models)")
    v5, v6, v6b = make_model(5, a.work, 5), make_model(6, a.work, 6), make_model(6, a.work, 16)
    for version, R, m in ((5, rwkv5_numpy, v5), (6, rwkv6_numpy, v6)):
        if m:
            model_case(f"v{version}-L2-D128", R, m[0], m[1], version, a.work)
    if v6 and v6b:
        same_file(a.work, v6[1], v6b[1])
        converter_errors(a.work, v6[1])
        progress(a.work, v6[0])
    harness.finish()


if __name__ == "__main__":
    main()
