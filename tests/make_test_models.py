#!/usr/bin/env python3
"""Make the models the C++ and CLI tests run on, from ../shared, into --out.

- v7-L2-D256-s5.pth: the seeded official-layout model behind data/v7-ref
  (../shared/tools/make_v7_pth.py; its tensor hash is checked), and its
  conversion to GGUF F32 (the official logits are for fp32 weights).
- v7-L3-D128-s11-bf16.pth/.gguf: another shape in bf16, for the NumPy-oracle
  comparison in test_cli.py.
- tiny-rwkv-7v0-834K-{f32,f16}.gguf: rwkv.cpp's tiny trained models, converted.
- v5-L2-D128-s3.gguf, v6-L2-D128-s3.gguf: seeded RWKV-5.2 and RWKV-6 models
  (scripts/make_v5_pth.py, make_v6_pth.py; world vocabulary), F32, for the
  engine's own checks across generations (test_rwkv_batch).

Each output is remade only when missing, so re-running the suite is cheap.
"""
import argparse, os, subprocess, sys

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
CONVERT = os.path.join(HERE, "..", "scripts", "convert.py")
PY = sys.executable or "/usr/bin/python3"


def run(*args):
    print("+", " ".join(args), flush=True)
    subprocess.run(args, check=True)


def make_pth(tools, out, layers, embd, seed, dtype, want_hash=None):
    if not os.path.exists(out):
        run(PY, os.path.join(tools, "make_v7_pth.py"), out + ".tmp", "--layers", str(layers), "--embd", str(embd),
            "--seed", str(seed), "--dtype", dtype)
        os.replace(out + ".tmp", out)
    if want_hash:
        h = subprocess.run([PY, os.path.join(tools, "make_v7_pth.py"), "--hash", out], check=True,
                           capture_output=True, text=True).stdout.strip()
        if h != want_hash:
            sys.exit(f"make_test_models: {out}: tensor hash {h}, expected {want_hash}")


def make_v56(version, out, layers, embd, seed):
    if not os.path.exists(out):
        gen = os.path.join(HERE, "..", "scripts", f"make_v{version}_pth.py")
        run(PY, gen, out + ".tmp", "--layers", str(layers), "--embd", str(embd), "--seed", str(seed), "--dtype", "fp32")
        os.replace(out + ".tmp", out)


def convert(src, dst, *extra):
    if not os.path.exists(dst):
        run(PY, CONVERT, src, dst + ".tmp", *extra)
        os.replace(dst + ".tmp", dst)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shared", required=True)
    p.add_argument("--tools", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    if not os.path.isdir(a.shared) or not os.path.isdir(a.tools):
        msg = f"make_test_models: reference data missing ({a.shared}, {a.tools})"
        if harness.in_ci():
            sys.exit(msg)
        print("\n*** SKIPPING: " + msg + " ***\n")
        return
    os.makedirs(a.out, exist_ok=True)
    vocab = os.path.join(a.shared, "tokenizer", "rwkv_vocab_v20230424.txt")

    s5 = os.path.join(a.out, "v7-L2-D256-s5.pth")
    make_pth(a.tools, s5, 2, 256, 5, "fp32", want_hash="8616ed98d776fd36")
    convert(s5, os.path.join(a.out, "v7-L2-D256-s5-f32.gguf"), "--vocab", vocab)

    s11 = os.path.join(a.out, "v7-L3-D128-s11-bf16.pth")
    make_pth(a.tools, s11, 3, 128, 11, "bf16")
    convert(s11, os.path.join(a.out, "v7-L3-D128-s11-bf16.gguf"), "--vocab", vocab)

    tiny = os.path.join(a.shared, "rwkvcpp-tiny")
    convert(os.path.join(tiny, "tiny-rwkv-7v0-834K-FP32.bin"), os.path.join(a.out, "tiny-rwkv-7v0-834K-f32.gguf"))
    convert(os.path.join(tiny, "tiny-rwkv-7v0-834K-FP16.bin"), os.path.join(a.out, "tiny-rwkv-7v0-834K-f16.gguf"))

    for v in (5, 6):
        pth = os.path.join(a.out, f"v{v}-L2-D128-s3.pth")
        make_v56(v, pth, 2, 128, 3)
        convert(pth, os.path.join(a.out, f"v{v}-L2-D128-s3.gguf"), "--vocab", vocab)


if __name__ == "__main__":
    main()
