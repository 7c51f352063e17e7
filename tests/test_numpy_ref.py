#!/usr/bin/env python3
"""Checks scripts/rwkv7_numpy.py (the NumPy RWKV-7 reference) against the
official reference logits in ../shared/data.

usage: test_numpy_ref.py --shared SHARED/data --work SCRATCH_DIR

Standalone (no pytest); /usr/bin/python3 with numpy and torch.  Prints one
`PASS name (...)` or `FAIL name: ...` line per check and ends with
`N passed, M failed`; exit status 1 if anything failed.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

import harness
from harness import SCRIPTS, rel_diff

sys.path.insert(0, SCRIPTS)

import rwkv7_numpy as R  # noqa: E402

REF5_HASH = "8616ed98d776fd36"
TOL_PTH = 1e-5    # measured 6.1e-6 (the official codes agree with each other to 1e-5 of the logits' std); 1.6x
TOL_GGUF = 1.5e-5  # fp16 weights, float32 activations: measured 4.2e-6; 3.6x

def read_tokens(path):
    with open(path) as f:
        return [int(t) for t in f.read().replace("\n", ",").split(",") if t.strip()]


def main():
    a = harness.arguments(__doc__, required=("shared", "work"))
    data = a.shared
    tools = os.path.join(os.path.dirname(data), "tools")
    harness.require_files(os.path.join(data, "v7-ref"), os.path.join(data, "llamacpp-gguf"), tools)
    model = os.path.join(a.work, "v7-L2-D256-s5.pth")

    # -- the seed-5 official-layout model -------------------------------------
    def make_model():
        gen = os.path.join(tools, "make_v7_pth.py")
        if not os.path.exists(model):
            tmp = model + ".tmp"
            out = subprocess.run([sys.executable, gen, tmp, "--layers", "2", "--embd", "256", "--seed", "5"],
                                 capture_output=True, text=True, check=True).stdout.split()
            if REF5_HASH not in out:
                return False, f"generated model hash {out[-1:]} != {REF5_HASH}"
            os.replace(tmp, model)
            return True, f"generated, hash {REF5_HASH}"
        h = subprocess.run([sys.executable, gen, "--hash", model], capture_output=True, text=True,
                           check=True).stdout.strip()
        return h == REF5_HASH, f"existing model hash {h}" + ("" if h == REF5_HASH else f" != {REF5_HASH}")

    harness.case("model-seed5", make_model)
    state = {}

    # -- official logits, seed-5 model, 32 tokens --------------------------------
    def check_pth():
        w = R.load_pth(model)
        L, C, H, N, V = R.hparams(w)
        if (L, C, H, N, V) != (2, 256, 4, 64, 65536):
            return False, f"hparams {(L, C, H, N, V)}"
        toks = read_tokens(os.path.join(data, "v7-ref", "v7-L2-D256-s5.tokens.txt"))
        ref = np.fromfile(os.path.join(data, "v7-ref", "v7-L2-D256-s5.logits.f32"), "<f4").reshape(len(toks), V)
        st = R.new_state(w)
        got = R.forward_seq(w, toks, st)
        if got.dtype != np.float32 or got.shape != ref.shape:
            return False, f"logits {got.dtype} {got.shape}"
        state.update(w=w, toks=toks, got=got, st=st)
        d = rel_diff(got, ref)
        return d <= TOL_PTH, f"max rel diff {d:.3g}, tol {TOL_PTH:g}"

    if os.path.exists(model):
        harness.case("official-logits-seed5", check_pth)

    # -- the CLI writes the same logits and a state of the documented size ------
    def check_cli():
        if "got" not in state:
            return False, "needs official-logits-seed5"
        w, toks = state["w"], state["toks"][:5]
        L, C, H, N, V = R.hparams(w)
        with tempfile.TemporaryDirectory(dir=a.work) as d:
            lo, so = os.path.join(d, "logits.f32"), os.path.join(d, "state.f32")
            subprocess.run([sys.executable, os.path.join(SCRIPTS, "rwkv7_numpy.py"), model,
                            "--tokens", ",".join(map(str, toks)), "--out", lo, "--dump-state", so],
                           check=True, capture_output=True)
            lg = np.fromfile(lo, "<f4")
            sb = np.fromfile(so, "<f4")
        if lg.size != len(toks) * V:
            return False, f"logits file has {lg.size} floats"
        lg = lg.reshape(len(toks), V)
        d = float(np.abs(lg - state["got"][:5]).max())
        want = L * (2 * C + H * N * N)
        if sb.size != want:
            return False, f"state file has {sb.size} floats, want {want}"
        # the dumped state must be what forward() leaves after those tokens
        st = R.new_state(w)
        for t in toks:
            R.forward(w, t, st)
        ds = float(np.abs(sb - np.frombuffer(st.to_bytes(), "<f4")).max())
        return d == 0 and ds == 0, f"max abs diff to in-process: logits {d:.3g}, state {ds:.3g}"

    if "got" in state:
        harness.case("cli-out-and-state", check_cli)

    # -- llama.cpp-layout GGUF (fp16 matrices), 26 tokens ----------------------
    def check_gguf():
        w = R.load_gguf(os.path.join(data, "llamacpp-gguf", "v7-L2-D64-s9-llamacpp-f16.gguf"))
        L, C, H, N, V = R.hparams(w)
        if (L, C, H, N, V) != (2, 64, 1, 64, 65536):
            return False, f"hparams {(L, C, H, N, V)}"
        toks = read_tokens(os.path.join(data, "llamacpp-gguf", "v7-L2-D64-s9.tokens.txt"))
        ref = np.fromfile(os.path.join(data, "llamacpp-gguf", "v7-L2-D64-s9.logits.f32"), "<f4").reshape(len(toks), V)
        got = R.forward_seq(w, toks, R.new_state(w))
        d = rel_diff(got, ref)
        return d <= TOL_GGUF, f"max rel diff {d:.3g}, tol {TOL_GGUF:g}"

    harness.case("llamacpp-gguf-seed9", check_gguf)
    harness.finish()


if __name__ == "__main__":
    main()
