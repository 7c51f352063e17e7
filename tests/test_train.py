#!/usr/bin/env python3
"""Checks scripts/train.py: the chunked WKV, training, checkpoints, and that
the GGUF it exports runs in rwkv-cli with the same logits as PyTorch.

usage: test_train.py --cli PATH/rwkv-cli --work SCRATCH_DIR [--shared SHARED/data]

Standalone (no pytest); /usr/bin/python3 with numpy and torch.  Prints one
`PASS name (...)` or `FAIL name: ...` line per check and ends with
`N passed, M failed`; exit status 1 if anything failed.  Needs neither the
bible-kjv-text package nor the bundled model: it trains a tiny model (2 layers,
n_embd 64) on a small synthetic text for a few seconds.  With --shared, the
world-vocabulary tokenizer is also checked against the official tokenizer's
cases (skipped when the data is missing, a failure under CI=true).
"""
import json
import os
import random
import subprocess
import sys
import time

import numpy as np
import torch

import harness
from harness import SCRIPTS, rel_diff

sys.path.insert(0, SCRIPTS)

import rwkv7_numpy as R  # noqa: E402
import train as T        # noqa: E402

TOL = 7e-6          # rwkv-cli / NumPy vs PyTorch, float32 weights: measured 1.5e-6 .. 2.3e-6 (scalar); 3x
TOL_F16 = 6e-6      # rwkv-cli vs NumPy on the same F16 file: measured 2.0e-6; 3x
F16_VS_F32 = 3e-3   # the F16 file vs float32 PyTorch (the weights' rounding): measured 8.9e-4; 3.4x


def synthetic_text(n_bytes=40000, seed=7):
    """English-looking sentences from a tiny grammar: structure a small model
    picks up within a few dozen steps."""
    rng = random.Random(seed)
    subj = ["the king", "a servant", "the people", "my brother", "the old man", "his daughter",
            "the priest", "a stranger", "the children", "our father"]
    verb = ["went up to", "spake unto", "looked upon", "came into", "sat beside", "gave bread to",
            "called out to", "waited for", "walked with", "remembered"]
    obj = ["the city", "the river", "the mountain", "the house of bread", "the field",
           "the gate", "the temple", "the sea", "the wilderness", "the garden"]
    tail = ["in the morning", "at evening", "and rejoiced", "with a loud voice", "by night",
            "for seven days", "in peace", "and was glad"]
    out = []
    size = 0
    while size < n_bytes:
        s = f"{rng.choice(subj)} {rng.choice(verb)} {rng.choice(obj)}"
        if rng.random() < 0.6:
            s += " " + rng.choice(tail)
        s = s[0].upper() + s[1:] + rng.choice([".", ".", ";", ":"]) + "\n"
        out.append(s)
        size += len(s)
    return "".join(out).encode()


def read_log(out_dir):
    with open(os.path.join(out_dir, "log.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    a = harness.arguments(__doc__, required=("cli", "work"), optional={"shared": None}, fresh_work=True)
    work = a.work
    torch.set_num_threads(1)

    corpus = os.path.join(work, "corpus.txt")
    with open(corpus, "wb") as f:
        f.write(synthetic_text())
    train_py = os.path.join(SCRIPTS, "train.py")
    tiny = ["--corpus", corpus, "--layers", "2", "--embd", "64", "--ctx", "64", "--batch", "8",
            "--steps", "40", "--lr", "4e-3", "--warmup", "5", "--eval-every", "20",
            "--eval-tokens", "2048", "--save-every", "10", "--log-every", "5", "--no-plot",
            "--threads", "1"]

    def trainer(*extra):
        p = subprocess.run([sys.executable, train_py] + tiny + list(extra), capture_output=True,
                           text=True, timeout=300)
        if p.returncode != 0:
            raise RuntimeError(f"train.py {' '.join(extra)} exited {p.returncode}: "
                               f"{(p.stderr or p.stdout).strip()[-600:]}")
        return p

    # -- 1. the chunked WKV is the recurrence ----------------------------------
    def wkv_chunked_vs_loop():
        g = torch.Generator().manual_seed(1)
        B, L, H, N = 2, 45, 2, 64
        rnd = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
        kk = torch.nn.functional.normalize(rnd(B, L, H, N), dim=-1)
        aa = torch.rand(B, L, H, N, generator=g, dtype=torch.float64)
        ins = [rnd(B, L, H, N), -T.DECAY_SCALE * torch.rand(B, L, H, N, generator=g, dtype=torch.float64),
               rnd(B, L, H, N), rnd(B, L, H, N), -kk, kk * aa, 0.1 * rnd(B, H, N, N)]
        ins = [t.requires_grad_() for t in ins]
        weights = torch.cos(torch.arange(B * L * H * N, dtype=torch.float64)).view(B, L, H, N)
        y0, s0 = T.wkv_loop(*ins)
        g0 = torch.autograd.grad((y0 * weights).sum() + s0.sum(), ins)
        worst = 0.0
        for chunk in (7, 16, 32, 64):   # 45 tokens: partial last chunks, one chunk
            y1, s1 = T.wkv_chunked(*ins, chunk=chunk)
            g1 = torch.autograd.grad((y1 * weights).sum() + s1.sum(), ins)
            errs = [(y1 - y0).abs().max() / y0.std(), (s1 - s0).abs().max() / s0.std()]
            errs += [(b - a).abs().max() / a.abs().max() for a, b in zip(g0, g1)]
            worst = max(worst, max(float(e) for e in errs))
        # measured 9.1e-15 (float64 rounding); bound = 3.3x
        return worst <= 3e-14, f"float64, chunks 7/16/32/64, outputs, state and all gradients within {worst:.1e}"

    harness.case("wkv_chunked_matches_loop", wkv_chunked_vs_loop)

    cfg = {"layers": 2, "embd": 128, "head_size": 64, "n_vocab": 256}

    def model_modes():
        torch.manual_seed(3)
        m = T.RWKV7(cfg)
        with torch.no_grad():   # move every parameter off its init so that all paths matter
            for p in m.parameters():
                p.add_(0.05 * torch.randn_like(p))
        idx = torch.randint(0, 256, (2, 50))
        with torch.no_grad():
            ref, _ = m(idx, None, "loop")
            got, _ = m(idx, None, "chunked", 16)
            # state carried across a split gives the same logits
            a1, st = m(idx[:, :23], None, "chunked", 16)
            a2, _ = m(idx[:, 23:], st, "chunked", 16)
        d1 = rel_diff(got.reshape(-1, 256), ref.reshape(-1, 256))
        d2 = rel_diff(torch.cat([a1, a2], 1).reshape(-1, 256), ref.reshape(-1, 256))
        # measured 2.1e-6 (float32, two summation orders); bound = 4.8x
        return max(d1, d2) < 1e-5, f"chunked vs loop {d1:.1e}, split 23+27 with state {d2:.1e}"

    harness.case("model_chunked_loop_and_state", model_modes)

    def init_matches_official():
        m = T.RWKV7({"layers": 4, "embd": 128, "head_size": 64, "n_vocab": 256})
        sd = m.state_dict()
        checks = [
            sd["blocks.0.att.output.weight"].abs().max() == 0,
            sd["blocks.3.ffn.value.weight"].abs().max() == 0,
            sd["blocks.1.att.w1"].abs().max() == 0 and sd["blocks.1.att.a1"].abs().max() == 0,
            sd["emb.weight"].abs().max() <= 1e-4,
            abs(float(sd["blocks.1.att.ln_x.weight"][0]) - 0.5 ** 0.7) < 1e-6,
            "blocks.0.att.v0" not in sd and "blocks.1.att.v0" in sd,
            tuple(sd["blocks.0.att.w1"].shape) == (128, 32) and tuple(sd["blocks.0.att.g1"].shape) == (128, 64),
            # decay bias spans slow .. fast time scales; mixes in [0, 1]
            float(sd["blocks.0.att.w0"].min()) < -5 and float(sd["blocks.0.att.w0"].max()) > 0,
            all(0 <= float(sd[f"blocks.2.att.x_{c}"].min()) and float(sd[f"blocks.2.att.x_{c}"].max()) <= 1
                for c in "rwkvag"),
        ]
        return all(checks), f"{sum(map(bool, checks))}/{len(checks)} properties of the official init"

    harness.case("official_init", init_matches_official)

    # -- 2. training lowers the loss; checkpoints resume exactly ----------------
    run_a = os.path.join(work, "run_a")
    run_b = os.path.join(work, "run_b")
    f32 = os.path.join(work, "tiny-f32.gguf")

    def training_lowers_loss():
        t = time.time()
        trainer("--out-dir", run_a, "--export", f32, "--dtype", "f32")
        log = read_log(run_a)
        val = [h["val_loss"] for h in log if "val_loss" in h]
        tr = [h["train_loss"] for h in log if "train_loss" in h]
        ok = len(val) >= 2 and val[-1] < val[0] - 1.5 and tr[-1] < tr[0] - 1.0 and os.path.exists(f32)
        return ok, (f"40 steps in {time.time() - t:.1f}s: val loss {val[0]:.3f} -> {val[-1]:.3f} nats, "
                    f"train {tr[0]:.3f} -> {tr[-1]:.3f}")

    harness.case("training_lowers_loss", training_lowers_loss)

    def resume_is_exact():
        trainer("--out-dir", run_b, "--stop-after", "25")
        mid = torch.load(os.path.join(run_b, "ckpt.pt"), map_location="cpu")
        if mid["step"] != 25:
            return False, f"checkpoint after --stop-after 25 is at step {mid['step']}"
        p = trainer("--out-dir", run_b, "--resume")
        if "resumed" not in p.stdout:
            return False, "no 'resumed' message"
        sa = torch.load(os.path.join(run_a, "ckpt.pt"), map_location="cpu")
        sb = torch.load(os.path.join(run_b, "ckpt.pt"), map_location="cpu")
        diff = max(float((sa["model"][k] - sb["model"][k]).abs().max()) for k in sa["model"])
        return sb["step"] == 40 and diff == 0, \
            f"25 steps + resume to 40 vs 40 straight: step {sb['step']}, max weight diff {diff:.1e}"

    harness.case("resume_is_exact", resume_is_exact)

    # -- 3. the exported GGUF: rwkv-cli = PyTorch = NumPy reference ------------
    text = b"The king went up to the city in the morning; the people rejoiced.\n"
    tokens = list(text)

    def torch_logits(ckpt):
        m = T.load_model(ckpt)
        with torch.no_grad():
            out, _ = m(torch.tensor([tokens]), None, "chunked", 32)
        return out[0].numpy()

    def cli_logits(model, name):
        out = os.path.join(work, name + ".f32")
        p = subprocess.run([a.cli, "logits", "-m", model, "--tokens", ",".join(map(str, tokens)),
                            "--all", "-o", out], capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"rwkv-cli logits exited {p.returncode}: {p.stderr.strip()}")
        return np.fromfile(out, "<f4").reshape(len(tokens), 256)

    ref_cache = {}

    def gguf_vs_torch():
        ref = ref_cache["torch"] = torch_logits(os.path.join(run_a, "ckpt.pt"))
        got = ref_cache["cli"] = cli_logits(f32, "cli-f32")
        d = rel_diff(got, ref)
        return d <= TOL, f"{len(tokens)} positions, F32 GGUF, max|diff|/std {d:.1e} (bound {TOL:g})"

    harness.case("gguf_logits_cli_vs_torch", gguf_vs_torch)

    def numpy_vs_torch():
        w = R.load_gguf(f32)
        got = R.forward_seq(w, tokens, R.new_state(w))
        d1 = rel_diff(got, ref_cache["torch"])
        d2 = rel_diff(ref_cache["cli"], got)
        return max(d1, d2) <= TOL, f"NumPy reference vs PyTorch {d1:.1e}, rwkv-cli vs NumPy {d2:.1e}"

    harness.case("gguf_logits_numpy_vs_torch", numpy_vs_torch)

    def f16_export():
        f16 = os.path.join(work, "tiny-f16.gguf")
        p = subprocess.run([sys.executable, train_py, "--out-dir", run_a, "--export-only", "--no-plot",
                            "--export", f16, "--dtype", "f16"], capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            return False, f"--export-only exited {p.returncode}: {p.stderr.strip()[-300:]}"
        w = R.load_gguf(f16)
        ref = R.forward_seq(w, tokens, R.new_state(w))
        got = cli_logits(f16, "cli-f16")
        d = rel_diff(got, ref)
        d_t = rel_diff(got, ref_cache["torch"])
        size = os.path.getsize(f16) / os.path.getsize(f32)
        return d <= TOL_F16 and d_t <= F16_VS_F32 and size < 0.6, \
            (f"F16 file {size:.2f}x the F32 one; rwkv-cli vs NumPy on it {d:.1e}, "
             f"vs float32 PyTorch {d_t:.1e} (rounding of the weights)")

    harness.case("gguf_f16_export", f16_export)

    def byte_vocab_and_generate():
        p = subprocess.run([a.cli, "tokenize", "-m", f32, "And God said"], capture_output=True,
                           text=True, timeout=60)
        ids = [int(t) for t in p.stdout.split()]
        if p.returncode != 0 or ids != list(b"And God said"):
            return False, f"tokenize gave {ids} (status {p.returncode})"
        g = subprocess.run([a.cli, "generate", "-m", f32, "-n", "40", "--seed", "1", "The king"],
                           capture_output=True, timeout=60)
        ok = g.returncode == 0 and g.stdout.startswith(b"The king") and len(g.stdout) > len(b"The king")
        return ok, f"byte tokens = bytes; generate: {g.stdout[:60]!r}"

    harness.case("gguf_byte_vocab_and_generate", byte_vocab_and_generate)

    def plot_written():
        import importlib.util
        if importlib.util.find_spec("matplotlib") is None:
            return True, "matplotlib not installed: PNG skipped by design"
        p = subprocess.run([sys.executable, train_py, "--out-dir", run_a, "--export-only"],
                           capture_output=True, text=True, timeout=120)
        png = os.path.join(run_a, "loss.png")
        ok = p.returncode == 0 and os.path.exists(png) and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
        return ok, f"{png} ({os.path.getsize(png) if os.path.exists(png) else 0} bytes)"

    harness.case("loss_curve_png", plot_written)

    # -- 4. world vocabulary tokenizer (optional reference data) ---------------
    if a.shared:
        data = a.shared
        vocab = os.path.join(data, "tokenizer", "rwkv_vocab_v20230424.txt")
        cases = os.path.join(data, "tokenizer", "cases.jsonl")
        if os.path.exists(vocab) and os.path.exists(cases):
            def world_tokenizer():
                tok = T.WorldTokenizer(vocab)
                bad, n = [], 0
                with open(cases) as f:
                    for line in f:
                        c = json.loads(line)
                        raw = bytes.fromhex(c["hex"])
                        n += 1
                        if tok.encode(raw) != c["ids"] or tok.decode(c["ids"]) != raw:
                            bad.append(c["name"])
                return not bad, f"{n - len(bad)}/{n} official cases" + (f"; wrong: {bad[:5]}" if bad else "")
            harness.case("world_tokenizer_cases", world_tokenizer)
        else:
            harness.missing(f"{vocab} or {cases}")
    harness.finish()


if __name__ == "__main__":
    main()
