#!/usr/bin/env python3
"""rwkv-cli end to end: every subcommand, its errors, and its numbers.

Runs the built binary as a user would. Each check prints PASS/FAIL with what
differed; the last line is "N passed, M failed". Needs the make_test_models
fixture (build/models) and ../shared/data.
"""
import json, os, platform, random, signal, struct, subprocess, sys

import numpy as np

import harness
from harness import HERE, check, rel_diff, run_cli

sys.path.insert(0, harness.SCRIPTS)


def expect_error(name, args, needle, stdin=b""):
    """Exit 1, exactly one line on stderr, naming the problem."""
    rc, out, err = run_cli(args, stdin)
    lines = [l for l in err.splitlines() if l.strip()]
    ok = rc == 1 and len(lines) == 1 and needle in err and "error" in err
    check(name, ok, f"rc={rc}, stderr={err!r}, wanted one line containing {needle!r}")


# ---------------------------------------------------------------- broken files

def patch_tensor_info(src, dst, name, new_type=None, new_ne=None):
    """Copy a GGUF, changing one tensor's type or shape in its header entry
    (the data section is left as is: the loader must notice the mismatch)."""
    data = bytearray(open(src, "rb").read())
    key = struct.pack("<Q", len(name)) + name.encode()
    at = data.find(key) + len(key)
    n_dims = struct.unpack_from("<I", data, at)[0]
    if new_ne is not None:
        assert len(new_ne) == n_dims
        struct.pack_into(f"<{n_dims}Q", data, at + 4, *new_ne)
    if new_type is not None:
        struct.pack_into("<I", data, at + 4 + 8 * n_dims, new_type)
    open(dst, "wb").write(data)


def replace_bytes(src, dst, old, new):
    assert len(old) == len(new)
    data = open(src, "rb").read()
    assert old in data, old
    open(dst, "wb").write(data.replace(old, new, 1))


def file_errors(work, gguf):
    expect_error("missing model file", ["info", "-m", os.path.join(work, "nope.gguf")], "cannot open")
    expect_error("model is a directory", ["info", "-m", work], "not a regular file")
    empty = os.path.join(work, "empty.gguf")
    open(empty, "wb").close()
    expect_error("empty model file", ["info", "-m", empty], "empty file")
    garbage = os.path.join(work, "garbage.gguf")
    open(garbage, "wb").write(bytes(random.Random(1).randrange(256) for _ in range(4096)))
    expect_error("garbage model file", ["info", "-m", garbage], "not a GGUF file")
    data = open(gguf, "rb").read()
    for cut in (10, 1000, 500_000, len(data) // 2, len(data) - 1):
        t = os.path.join(work, f"trunc{cut}.gguf")
        open(t, "wb").write(data[:cut])
        expect_error(f"truncated at {cut} bytes", ["generate", "-m", t, "-n", "1", "x"], "truncated")
    b = os.path.join(work, "broken.gguf")
    replace_bytes(gguf, b, b"blk.1.time_mix_key.weight", b"blk.1.time_mix_kez.weight")
    expect_error("missing tensor", ["info", "-m", b], "missing tensor 'blk.1.time_mix_key.weight'")
    arch_kv = b"general.architecture" + struct.pack("<IQ", 8, 5)
    replace_bytes(gguf, b, arch_kv + b"rwkv7", arch_kv + b"llama")
    expect_error("wrong architecture", ["info", "-m", b], "architecture 'llama' is not supported")
    patch_tensor_info(gguf, b, "blk.0.time_mix_output.weight", new_ne=(64, 32))
    expect_error("wrong tensor shape", ["info", "-m", b], "'blk.0.time_mix_output.weight' has shape [64, 32]")
    patch_tensor_info(gguf, b, "blk.0.time_mix_key.weight", new_type=39)  # MXFP4: named, not run
    expect_error("unsupported tensor type", ["info", "-m", b], "'blk.0.time_mix_key.weight' has type MXFP4")
    patch_tensor_info(gguf, b, "blk.0.time_mix_key.weight", new_type=1234)
    expect_error("unknown tensor type", ["info", "-m", b], "unknown type 1234")


# ---------------------------------------------------------------- flags

def flag_errors(gguf):
    expect_error("unknown command", ["frobnicate"], "unknown command 'frobnicate'")
    expect_error("unknown flag", ["generate", "-m", gguf, "--bogus", "x"], "bogus")
    expect_error("non-numeric -n", ["generate", "-m", gguf, "-n", "abc", "x"], "abc")
    expect_error("negative -n", ["generate", "-m", gguf, "-n", "-5", "x"], "--n-predict")
    expect_error("negative temp", ["generate", "-m", gguf, "--temp", "-1", "x"], "--temp")
    expect_error("top-p > 1", ["generate", "-m", gguf, "--top-p", "1.5", "x"], "--top-p")
    expect_error("two prompts", ["generate", "-m", gguf, "a", "b"], "one PROMPT")
    expect_error("bad token list", ["logits", "-m", gguf, "--tokens", "1,,2", "-o", "/dev/null"], "--tokens")
    expect_error("token out of range", ["logits", "-m", gguf, "--tokens", "1,70000", "-o", "/dev/null"],
                 "outside the vocabulary")
    expect_error("logits without output", ["logits", "-m", gguf, "--tokens", "1"], "--output")
    os.environ["RWKV_MODEL"] = "/nonexistent/model.gguf"
    expect_error("$RWKV_MODEL names a missing file", ["generate", "x"], "/nonexistent/model.gguf: cannot open")
    del os.environ["RWKV_MODEL"]
    for cmd in ("generate", "logits", "tokenize", "info"):
        rc, out, err = run_cli([cmd, "--help"])
        check(f"{cmd} --help", rc == 0 and b"--model" in out, f"rc={rc} out={out[:200]!r}")
    rc, out, _ = run_cli(["--help"])
    check("top-level --help", rc == 0 and b"generate" in out, f"rc={rc}")


# ---------------------------------------------------------------- tokenize

def tokenize(shared, gguf):
    cases = [json.loads(l) for l in open(os.path.join(shared, "tokenizer", "cases.jsonl"))]
    bad = []
    for c in cases[:40]:
        text = bytes.fromhex(c["hex"])
        rc, out, err = run_cli(["tokenize", "-m", gguf], stdin=text)
        got = [int(x) for x in out.split()]
        if rc != 0 or got != c["ids"]:
            bad.append(f"{c['name']}: rc={rc} got {got[:10]} expected {c['ids'][:10]} {err}")
    check("tokenize (stdin) matches the official tokenizer on 40 cases", not bad, "; ".join(bad[:3]))
    rc, out, _ = run_cli(["tokenize", "-m", gguf, "Hello world"])
    check("tokenize argument", rc == 0 and out.split() == [b"33155", b"40213"], repr(out))


# ---------------------------------------------------------------- generate

def generate(gguf, tiny):
    base = ["generate", "-m", gguf, "-n", "24", "--no-display-prompt"]
    r1 = run_cli(base + ["--seed", "7", "The"])
    r2 = run_cli(base + ["--seed", "7", "The"])
    r3 = run_cli(base + ["--seed", "8", "The"])
    check("generate: same seed, same text", r1[0] == 0 and r1[1] == r2[1] and len(r1[1]) > 0, f"{r1[1]!r} vs {r2[1]!r}")
    check("generate: another seed, other text", r3[0] == 0 and r3[1] != r1[1], f"{r1[1]!r} vs {r3[1]!r}")
    check("generate: speed on stderr", "t/s" in r1[2], r1[2])
    rq = run_cli(base + ["--seed", "7", "--quiet", "The"])
    check("generate: --quiet keeps stderr empty, output the same", rq[0] == 0 and rq[2] == "" and rq[1] == r1[1],
          f"rc={rq[0]} stderr={rq[2]!r}")
    rs = run_cli(base + ["--seed", "7"], stdin=b"The")
    check("generate: prompt from stdin == argument", rs[1] == r1[1], f"{rs[1]!r} vs {r1[1]!r}")
    for flag in ("--mmap", "--no-mmap"):
        rm = run_cli(base + ["--seed", "7", flag, "The"])
        check(f"generate {flag}: the same text as the default", rm[0] == 0 and rm[1] == r1[1], f"{rm[1]!r} {rm[2]}")
    rd = run_cli(base + ["--seed", "7", "-"], stdin=b"The")
    check("generate: '-' reads stdin", rd[1] == r1[1], f"{rd[1]!r}")
    g1 = run_cli(base + ["--temp", "0", "The"])
    g2 = run_cli(base + ["--temp", "0", "--seed", "99", "The"])
    check("generate: --temp 0 is greedy (seed-independent)", g1[0] == 0 and g1[1] == g2[1], f"{g1[1]!r} {g2[1]!r}")
    rp = run_cli(["generate", "-m", gguf, "-n", "0", "Echo me"])
    check("generate: -n 0 prints just the prompt", rp[0] == 0 and rp[1] == b"Echo me", repr(rp[1]))
    # --stop: cut a greedy continuation at a string it contains
    text = g1[1]
    if len(text) >= 8:
        stop = text[4:8]
        rs = run_cli(base + ["--temp", "0", "--stop", stop.decode("utf-8", "replace"), "The"])
        want = text[:text.find(stop)]
        check("generate: --stop ends before the stop string", rs[0] == 0 and rs[1] == want, f"{rs[1]!r} vs {want!r}")
    # invalid UTF-8 and NUL bytes in the prompt are just bytes
    rb = run_cli(["generate", "-m", gguf, "-n", "3", "--seed", "1"], stdin=b"ab\xff\xfe\x00cd\xc3")
    check("generate: invalid UTF-8 prompt accepted", rb[0] == 0 and rb[1].startswith(b"ab\xff\xfe\x00cd\xc3"),
          f"rc={rb[0]} {rb[2]}")
    re_ = run_cli(["generate", "-m", gguf, "-n", "3", "--seed", "1", ""])
    check("generate: empty prompt", re_[0] == 0, re_[2])
    # a closed pipe ends generation quietly
    p = subprocess.Popen(f"'{harness.CLI}' generate -m '{gguf}' -n 2000 --seed 3 hello | head -c 1", shell=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(timeout=120)
    check("generate | head -c 1: quiet", b"error" not in err and len(out) == 1, f"stderr={err!r}")
    # byte-level tiny model: text in, text out
    rt = run_cli(["generate", "-m", tiny, "-n", "40", "--temp", "0", "In the"])
    check("generate on the rwkv.cpp tiny model", rt[0] == 0 and rt[1].startswith(b"In the") and len(rt[1]) > 6,
          f"rc={rt[0]} {rt[1]!r} {rt[2]}")


# ---------------------------------------------------------------- logits

def logits(work, models):
    import rwkv7_numpy as ref
    gguf = os.path.join(models, "v7-L3-D128-s11-bf16.gguf")
    rng = random.Random(5)
    tokens = [rng.randrange(1, 65536) for _ in range(19)]
    tl = ",".join(map(str, tokens))
    out_all = os.path.join(work, "all.f32")
    out_last = os.path.join(work, "last.f32")
    out_tok = os.path.join(work, "tok.f32")
    r1 = run_cli(["logits", "-m", gguf, "--tokens", tl, "--all", "-o", out_all, "--chunk", "8"])
    r2 = run_cli(["logits", "-m", gguf, "--tokens", tl, "-o", out_last])
    r3 = run_cli(["logits", "-m", gguf, "--tokens", tl, "--all", "--token-mode", "-o", out_tok])
    if not check("logits runs", r1[0] == 0 and r2[0] == 0 and r3[0] == 0, r1[2] + r2[2] + r3[2]):
        return
    a = np.fromfile(out_all, dtype="<f4")
    last = np.fromfile(out_last, dtype="<f4")
    tok = np.fromfile(out_tok, dtype="<f4")
    V = 65536
    check("logits --all writes T x V floats", a.size == len(tokens) * V, f"{a.size}")
    check("logits: last row == --all's last row", np.array_equal(last, a[-V:]), "differ")
    check("logits: token mode gives sequence mode's logits bit for bit", tok.tobytes() == a.tobytes(),
          f"max rel diff {rel_diff(tok, a.reshape(-1, V)) if tok.size == a.size else 'size'}")
    w = ref.load_gguf(gguf)
    want = ref.forward_seq(w, tokens, ref.new_state(w))
    d = rel_diff(a, np.asarray(want, dtype=np.float32))
    # measured 6.2e-6 .. 7.3e-6 (AVX2 .. scalar; AVX-512 6.6e-6); bound = 2.7x
    check(f"logits vs NumPy reference, bf16 L3 D128, 19 tokens (max rel diff {d:.2g} <= 2e-5)", d <= 2e-5, f"{d}")
    # --no-mmap's copy of Q8_0/Q4_0 weights is rearranged for the kernels
    # (kernels.h, repack): the same bits as the mapped file, in sequence
    # mode (chunks of 8, then 3) and token mode, on every path this CPU has.
    isas = ["scalar", "neon"] if platform.machine() == "aarch64" else ["scalar", "avx2", "avx512"]
    for qt in ("q8_0", "q4_0"):
        qm = os.path.join(work, f"logits-{qt}.gguf")
        rq = run_cli(["quantize", gguf, qm, qt])
        if not check(f"quantize {qt} for the --no-mmap layout test", rq[0] == 0, rq[2]):
            continue
        for isa in isas:
            outs = {}
            for flag in ("--mmap", "--no-mmap"):
                for mode in ([], ["--token-mode"]):
                    o = os.path.join(work, f"q{flag}{len(mode)}.f32")
                    r = run_cli(["logits", "-m", qm, "--tokens", tl, "--all", "--chunk", "8", "--isa", isa, flag, "-o", o]
                            + mode)
                    if r[0] != 0 and "unavailable instruction set" in r[2]:
                        break  # this CPU lacks the path
                    outs[(flag, len(mode))] = (r[0], open(o, "rb").read() if r[0] == 0 else r[2])
            if len(outs) < 4:
                print(f"  (skipped: this CPU has no {isa} path)")
                continue
            same = all(outs[("--no-mmap", m)] == outs[("--mmap", m)] and outs[("--mmap", m)][0] == 0 for m in (0, 1))
            check(f"logits {qt} --isa {isa}: --no-mmap (weights rearranged) == --mmap, bit for bit, both modes", same,
                  str({k: v[0] for k, v in outs.items()}))
    rp = run_cli(["logits", "-m", gguf, "--prompt", "Hello world", "-o", out_last])
    r4 = run_cli(["logits", "-m", gguf, "--tokens", "33155,40213", "-o", out_tok])
    check("logits --prompt == --tokens of its encoding",
          rp[0] == 0 and r4[0] == 0 and open(out_last, "rb").read() == open(out_tok, "rb").read(), rp[2] + r4[2])


def setup_profiles():
    """The demo's set-up installs what building and running needs, nothing of
    the test toolchain (torch, clang, the cross compiler, qemu)."""
    root = os.path.join(HERE, "..")
    run_pkgs = subprocess.run([os.path.join(root, "scripts", "setup.sh"), "run", "--print"], capture_output=True,
                              text=True).stdout.split()
    test_pkgs = subprocess.run([os.path.join(root, "scripts", "setup.sh"), "test", "--print"], capture_output=True,
                               text=True).stdout.split()
    check("setup.sh run: the compiler and four libraries",
          sorted(run_pkgs) == sorted(["cmake", "g++", "make", "pkg-config", "libcxxopts-dev", "libxsimd-dev",
                                      "libcpp-httplib-dev", "nlohmann-json3-dev"]),
          f"{run_pkgs}")
    check("setup.sh test: those and the test toolchain",
          set(run_pkgs) < set(test_pkgs) and {"python3-torch", "clang-19", "qemu-user"} <= set(test_pkgs), f"{test_pkgs}")
    demo = open(os.path.join(root, "scripts", "demo.sh")).read()
    check("demo.sh sets up with the run profile and builds no tests",
          "scripts/setup.sh run" in demo and "-DRWKV_BUILD_TESTS=OFF" in demo, demo)


def state_files(work, models, tiny):
    gguf = os.path.join(models, "v7-L2-D256-s5-f32.gguf")
    a, b = "11,22,33,44,55", "66,77,88"
    st = os.path.join(work, "a.state")
    outs = [os.path.join(work, f"s{i}.f32") for i in range(3)]
    r1 = run_cli(["logits", "-m", gguf, "--tokens", a, "--state-out", st, "-o", outs[0]])
    r2 = run_cli(["logits", "-m", gguf, "--tokens", b, "--state-in", st, "-o", outs[1]])
    r3 = run_cli(["logits", "-m", gguf, "--tokens", a + "," + b, "-o", outs[2]])
    same = all(x[0] == 0 for x in (r1, r2, r3)) and open(outs[1], "rb").read() == open(outs[2], "rb").read()
    check("state: A, save, load, B == A+B, bit for bit", same, r1[2] + r2[2] + r3[2])
    expect_error("state: for another model", ["logits", "-m", tiny, "--tokens", "1", "--state-in", st, "-o", outs[0]],
                 "another model shape")
    data = open(st, "rb").read()
    bad = os.path.join(work, "bad.state")
    open(bad, "wb").write(data[:len(data) // 2])
    expect_error("state: truncated", ["logits", "-m", gguf, "--tokens", "1", "--state-in", bad, "-o", outs[0]], "truncated")
    open(bad, "wb").write(b"garbage" * 100)
    expect_error("state: not a state file", ["logits", "-m", gguf, "--tokens", "1", "--state-in", bad, "-o", outs[0]],
                 "not an rwkv-cli state file")
    # same weights, other shape of file: the F16 conversion of the tiny model shares the identity
    t16 = os.path.join(models, "tiny-rwkv-7v0-834K-f16.gguf")
    st2 = os.path.join(work, "tiny.state")
    rr = run_cli(["logits", "-m", tiny, "--tokens", "65,66", "--state-out", st2, "-o", outs[0]])
    r16 = run_cli(["logits", "-m", t16, "--tokens", "67", "--state-in", st2, "-o", outs[0]])
    check("state: loads into another weight type of the same model", rr[0] == 0 and r16[0] == 0, rr[2] + r16[2])
    # two models of one shape whose only difference is a 1-D tensor stored as F16
    import gguf_writer
    c = gguf_writer.read_gguf_full(gguf)
    variants = []
    for k, scale in enumerate((1.0, 1.01)):
        path = os.path.join(work, f"f16-vector-{k}.gguf")
        w = gguf_writer.GGUFWriter(path, c.meta["general.architecture"])
        for key, value in c.meta.items():
            if key != "general.architecture":
                w.add_key_value(key, value, *c.meta_types[key])
        for name, ne, gtype, _ in c.tensor_infos:
            arr = c.tensors[name][1]
            if name == "blk.0.attn_norm.weight":
                arr, gtype = (np.asarray(arr, np.float32) * np.float32(scale)).astype(np.float16), gguf_writer.GGMLType.F16
            w.add_tensor(name, np.ascontiguousarray(arr), gtype)
        w.write()
        variants.append(path)
    st3 = os.path.join(work, "f16-vector.state")
    r = run_cli(["logits", "-m", variants[0], "--tokens", a, "--state-out", st3, "-o", outs[0]])
    check("state: saved with F16 vectors", r[0] == 0, r[2])
    expect_error("state: another model whose vectors differ only as F16",
                 ["logits", "-m", variants[1], "--tokens", "1", "--state-in", st3, "-o", outs[0]],
                 "the state was made with another model of the same shape")
    r = run_cli(["logits", "-m", variants[0], "--tokens", "1", "--state-in", st3, "-o", outs[0]])
    check("state: loads into its own F16-vector model", r[0] == 0, r[2])
    # generate: the saved state holds everything printed
    sg = os.path.join(work, "gen.state")
    g1 = run_cli(["generate", "-m", gguf, "-n", "5", "--temp", "0", "--state-out", sg, "--no-display-prompt", "The cat"])
    g2 = run_cli(["generate", "-m", gguf, "-n", "5", "--temp", "0", "--state-in", sg, "--no-display-prompt", " and"])
    check("generate: --state-out then --state-in continues the text", g1[0] == 0 and g2[0] == 0 and len(g2[1]) > 0, g1[2] + g2[2])


def perplexity(work, tiny):
    text = (b"In the beginning God created the heaven and the earth. And the earth was without form, and void; "
            b"and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters.")
    path = os.path.join(work, "ppl.txt")
    open(path, "wb").write(text)
    r1 = run_cli(["perplexity", "-m", tiny, "-f", path])
    r2 = run_cli(["perplexity", "-m", tiny, "-f", path, "--chunk", "7"])
    if not check("perplexity runs", r1[0] == 0 and r2[0] == 0, r1[2] + r2[2]):
        return
    def field(out, name):
        for line in out.decode().splitlines():
            if line.startswith(name + ":"):
                return float(line.split(":")[1].split()[0])
    # the same from the logits of every position, in NumPy
    lo = os.path.join(work, "ppl.f32")
    run_cli(["logits", "-m", tiny, "--tokens", ",".join(str(b) for b in text), "--all", "-o", lo])
    L = np.fromfile(lo, dtype="<f4").reshape(len(text), 256).astype(np.float64)
    logp = L - L.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    nll = -sum(logp[t, text[t + 1]] for t in range(len(text) - 1))
    want_bpb = nll / np.log(2) / (len(text) - 1)
    got_bpb = field(r1[1], "bits per byte")
    # printed to 4 decimals, so off by 5e-5 at most; bound = 2x that
    check(f"perplexity: bits per byte {got_bpb} == NumPy over logits {want_bpb:.4f}", abs(got_bpb - want_bpb) <= 1e-4,
          f"{got_bpb} vs {want_bpb}")
    check("perplexity: independent of the chunk size", field(r1[1], "perplexity") == field(r2[1], "perplexity"),
          f"{r1[1]!r} vs {r2[1]!r}")
    check("perplexity: scores every token but the first", field(r1[1], "tokens scored") == len(text) - 1, r1[1].decode())
    expect_error("perplexity: missing file", ["perplexity", "-m", tiny, "-f", os.path.join(work, "nope.txt")], "cannot open")


def chat(work, tiny):
    st = os.path.join(work, "chat.state")
    lines = b"Hello there\n/save " + st.encode() + b"\nHow are you?\n"
    greedy = ["--temp", "0", "--presence-penalty", "0", "--frequency-penalty", "0"]  # no sampler memory
    rc, out, err = run_cli(["chat", "-m", tiny, "-n", "30"] + greedy, stdin=lines)
    ok = rc == 0 and out.count(b"Assistant:") == 2 and out.startswith(b"User: Hello there\n\nAssistant:") \
        and err.count("[turn ") == 2 and os.path.exists(st)
    check("chat: two turns from a pipe, /save", ok, f"rc={rc} out={out[:200]!r} err={err!r}")
    # the state after a turn continues like the conversation so far
    rc2, out2, err2 = run_cli(["chat", "-m", tiny, "-n", "30", "--state-in", st] + greedy, stdin=b"How are you?\n")
    second = out.split(b"User: How are you?")[1]
    check("chat: --state-in resumes the conversation exactly", rc2 == 0 and out2.endswith(second), f"{out2!r} vs {second!r}")


def bench(tiny):
    rc, out, err = run_cli(["bench", "-m", tiny, "-p", "16", "-n", "4", "-r", "2", "-o", "json"])
    try:
        rows = json.loads(out)
    except Exception as e:
        rows = []
    ok = rc == 0 and [r["test"] for r in rows] == ["pp16", "tg4"] and all(
        r["avg_ts"] > 0 and len(r["samples_ts"]) == 2 and 0 < r["efficiency"] and r["use_mmap"] is True for r in rows)
    check("bench -o json: pp16, tg4 with t/s and efficiencies (model mapped)", ok, f"rc={rc} {out[:300]!r} {err}")
    rc, out, err = run_cli(["bench", "-m", tiny, "-p", "4", "-n", "2", "-r", "1", "-o", "json", "--no-mmap"])
    try:
        rows = json.loads(out)
    except Exception as e:
        rows = []
    check("bench --no-mmap says so", rc == 0 and rows and all(r["use_mmap"] is False for r in rows), f"{out[:300]!r}")
    rc, out, err = run_cli(["bench", "-m", tiny, "-p", "8", "-n", "2", "-r", "1"])
    check("bench -o md", rc == 0 and b"| pp8 |" in out and b"| tg2 |" in out, f"{out!r} {err}")
    # --gemv: the products alone, whose bytes are the matrices' and nothing
    # else - every 2-D F32 tensor of the file but the embedding and layer 0's
    # value-residual LoRA, which the pass skips (counted here from the file)
    import gguf_writer
    want = sum(4 * ne[0] * ne[1] for (n, ne, t, o) in gguf_writer.read_gguf_full(tiny).tensor_infos
               if len(ne) == 2 and n not in ("token_embd.weight", "blk.0.time_mix_v1.weight", "blk.0.time_mix_v2.weight"))
    rc, out, err = run_cli(["bench", "-m", tiny, "-p", "0", "-n", "2", "--gemv", "3", "-r", "2", "-o", "json"])
    try:
        rows = {r["test"]: r for r in json.loads(out)}
    except Exception as e:
        rows = {}
    ok = rc == 0 and sorted(rows) == ["gemv3", "tg2"] and rows["gemv3"]["avg_ts"] > 0 and \
        len(rows["gemv3"]["samples_ts"]) == 2 and rows["gemv3"]["efficiency"] > 0 and \
        rows["gemv3"]["bytes_per_token"] == want < rows["tg2"]["bytes_per_token"]
    got = rows.get("gemv3", {}).get("bytes_per_token")
    check("bench --gemv 3: a gemv3 row, its bytes the matrices' alone", ok,
          f"gemv bytes {got} vs {want} counted from the file; rc={rc} {out[:300]!r} {err[-300:]!r}")
    rc, out, err = run_cli(["bench", "-m", tiny, "--gemv", "-1"])
    check("bench --gemv -1 is refused", rc != 0 and "--gemv" in err, f"rc={rc} {err!r}")


def bad_values(work, tiny):
    """NaN in a weight: `info --check` names the tensor; generation stops with an error instead of garbage."""
    import gguf_writer
    c = gguf_writer.read_gguf_full(tiny)
    name = "blk.3.time_mix_key.weight"
    off = [o for (n, ne, t, o) in c.tensor_infos if n == name][0]
    data = bytearray(open(tiny, "rb").read())
    struct.pack_into("<I", data, c.data_offset + off + 4 * 70, 0x7fc00000)
    bad = os.path.join(work, "nan.gguf")
    open(bad, "wb").write(data)
    expect_error("info --check finds a NaN weight", ["info", "-m", bad, "--check"], f"tensor '{name}' has a non-finite value")
    expect_error("generate stops on non-finite logits", ["generate", "-m", bad, "-n", "5", "hello"], "non-finite logit")
    rc, out, err = run_cli(["info", "-m", tiny, "--check"])
    check("info --check on a clean model", rc == 0 and b"all weights finite" in out, err)


def interrupt(tiny):
    p = subprocess.Popen([harness.CLI, "generate", "-m", tiny, "-n", "100000000", "--seed", "1", "x"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.read(3)  # the prompt and two generated bytes: generation is under way
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    out = first + out
    check("generate: SIGINT stops, keeps the output, exits 130", p.returncode == 130 and len(out) > 1 and b"interrupted" in err,
          f"rc={p.returncode} out={len(out)} bytes err={err[-200:]!r}")


def passkey(work, tiny):
    """The table on stdout, the same numbers in --csv, and scripts/plot_passkey.py draws them."""
    import csv, importlib.util
    path = os.path.join(work, "pk.csv")
    rc, out, err = run_cli(["passkey", "-m", tiny, "--lengths", "64,128", "--depths", "0,100", "--trials", "2", "--csv", path])
    rows = [l for l in out.decode().splitlines() if l.startswith("| 64 |") or l.startswith("| 128 |")]
    check("passkey: table of lengths x depths", rc == 0 and len(rows) == 2 and all(l.count("%") == 2 for l in rows),
          f"rc={rc} {out!r} {err}")
    table = {(int(l.split("|")[1]), d): l.split("|")[2 + k].strip() for l in rows for k, d in enumerate((0, 100))}
    got = {}
    if os.path.exists(path):
        with open(path) as f:
            got = {(int(r["tokens"]), int(r["depth"])): (float(r["accuracy"]), int(r["trials"])) for r in csv.DictReader(f)}
    check("passkey --csv: every cell, the table's accuracy",
          sorted(got) == sorted(table) and all(f"{100 * v:.0f}%" == table[k] and n == 2 for k, (v, n) in got.items()),
          f"csv {got}, table {table}")
    if importlib.util.find_spec("matplotlib") is None:
        harness.missing("matplotlib (python3-matplotlib), which scripts/plot_passkey.py needs")
    else:
        png = os.path.join(work, "pk.png")
        p = subprocess.run([sys.executable, os.path.join(HERE, "..", "scripts", "plot_passkey.py"), path, "--out", png],
                           capture_output=True, text=True, timeout=120)
        ok = p.returncode == 0 and os.path.exists(png) and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
        check("plot_passkey.py draws the CSV as a PNG heat map", ok, p.stderr[-300:])
    expect_error("passkey: bad --depths", ["passkey", "-m", tiny, "--depths", "0,200"], "--depths")
    expect_error("passkey: --csv in a missing directory",
                 ["passkey", "-m", tiny, "--lengths", "64", "--csv", os.path.join(work, "nope", "pk.csv")], "cannot create")


def bundled_model():
    rc, out, err = run_cli(["generate", "-n", "40", "--seed", "1", "And God said"])
    check("generate without -m uses the bundled KJV model", rc == 0 and out.startswith(b"And God said") and len(out) > 30,
          f"rc={rc} {out!r} {err}")
    rc, out, err = run_cli(["info"])
    check("info without -m names the bundled model", rc == 0 and b"rwkv7-kjv-byte.gguf" in out, f"{out[:200]!r} {err}")


def info(gguf):
    rc, out, err = run_cli(["info", "-m", gguf, "--tensors"])
    ok = rc == 0 and b"rwkv7" in out and b"layers:        2" in out and b"blk.1.time_mix_key.weight" in out
    check("info", ok, f"rc={rc} {out[:300]!r} {err}")


def main():
    a = harness.arguments(__doc__, required=("cli", "shared", "models", "work"))
    gguf = os.path.join(a.shared, "llamacpp-gguf", "v7-L2-D64-s9-llamacpp-f16.gguf")
    tiny = os.path.join(a.models, "tiny-rwkv-7v0-834K-f32.gguf")
    harness.require_files(gguf, tiny)
    file_errors(a.work, gguf)
    flag_errors(gguf)
    tokenize(a.shared, gguf)
    generate(gguf, tiny)
    logits(a.work, a.models)
    state_files(a.work, a.models, tiny)
    setup_profiles()
    perplexity(a.work, tiny)
    chat(a.work, tiny)
    bench(tiny)
    bad_values(a.work, tiny)
    interrupt(tiny)
    passkey(a.work, tiny)
    bundled_model()
    info(gguf)
    harness.finish()


if __name__ == "__main__":
    main()
