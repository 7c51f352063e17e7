#!/usr/bin/env python3
"""rwkv-cli against bad input: every case with its exact expectation.

Files (missing, not regular, FIFOs, truncated at EVERY section boundary of a
real GGUF, corrupt headers, overflowing counts and sizes, bad offsets,
missing/duplicated tensors, wrong shapes and types, broken vocabularies,
state files for other models), values (NaN/Inf weights), input (invalid
UTF-8, NUL bytes, a 10 MB prompt on stdin in bounded memory, absurd flag
values, empty prompts), output (stdout closed early, SIGINT) and determinism
across thread counts. An error case expects exit code 1 and exactly one line
on stderr containing the given fragments (usually the file and the cause).

Complements tests/test_cli.py (which checks the main error paths once); the
regressions of bugs found by fuzzing and this suite are marked "regression".
Prints PASS/FAIL lines and "N passed, M failed"; exit 1 on any failure.

    test_bad_input.py --cli build/rwkv-cli --shared ../shared/data --models build/models --work DIR
"""
import os
import signal
import struct
import subprocess
import sys
import threading
import time

import harness
from harness import check, run_cli

sys.path.insert(0, os.path.join(harness.ROOT, "fuzz"))
import tinygguf as tg  # noqa: E402

SANITIZED = False


def one_line_error(rc, err, fragments, code=1):
    """(ok, detail): exit `code`, one non-empty stderr line with 'error:' and every fragment."""
    if isinstance(fragments, str):
        fragments = [fragments]
    lines = [l for l in err.splitlines() if l.strip()]
    ok = rc == code and len(lines) == 1 and "error:" in lines[0] and all(f in lines[0] for f in fragments)
    return ok, f"rc={rc}, stderr={err[:600]!r}, wanted one line with {fragments!r}"


def expect_error(name, args, fragments, stdin=b"", timeout=120):
    rc, out, err = run_cli(args, stdin, timeout)
    ok, detail = one_line_error(rc, err, fragments)
    return check(name, ok, detail)


def expect_ok(name, args, stdin=b"", timeout=120):
    rc, out, err = run_cli(args, stdin, timeout)
    check(name, rc == 0, f"rc={rc}, stderr={err[-400:]!r}")
    return out, err


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def patched(data, at, fmt, value):
    b = bytearray(data)
    struct.pack_into(fmt, b, at, value)
    return bytes(b)


def kv_value_at(data, key):
    """Offset of the value of metadata `key` (after its type field), and the type."""
    for name, start, end in tg.sections(data):
        if name == f"metadata '{key}'":
            p = start + 8 + len(key.encode())
            return p + 4, struct.unpack_from("<I", data, p)[0]
    raise KeyError(key)


def info_fields(data, name):
    """Offsets in the tensor info of `name`: (n_dims at, ne at, type at, offset at, ne, type, offset)."""
    start, ne, typ, off, _ = tg.tensor_infos(data)[name]
    p = start + 8 + len(name.encode())
    return p, p + 4, p + 4 + 8 * len(ne), p + 8 + 8 * len(ne), ne, typ, off


# ---------------------------------------------------------------- files

def files_not_regular(work, tiny):
    missing = os.path.join(work, "nope.gguf")
    expect_error("missing file: named, with the system's reason", ["info", "-m", missing],
                 f"{missing}: cannot open: No such file or directory")
    expect_error("a directory", ["info", "-m", work], f"{work}: not a regular file")
    expect_error("a character device (/dev/null)", ["info", "-m", "/dev/null"], "/dev/null: not a regular file")
    fifo = os.path.join(work, "fifo")
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    # regression: opening a FIFO waited forever for a writer
    expect_error("regression: a FIFO as the model is refused at once (no hang)", ["info", "-m", fifo],
                 f"{fifo}: not a regular file", timeout=20)
    loop = os.path.join(work, "loop.gguf")
    if not os.path.lexists(loop):
        os.symlink(loop, loop)
    expect_error("a symlink loop", ["info", "-m", loop], "Too many levels of symbolic links")
    empty = write(os.path.join(work, "empty.gguf"), b"")
    expect_error("an empty file", ["generate", "-m", empty, "x"], f"{empty}: empty file")


def expected_truncation(data, secs, cut):
    """The fragments rwkv-cli must print for `data` cut to `cut` bytes (cut at a section boundary)."""
    n_tensors, n_kv = struct.unpack_from("<QQ", data, 8)
    info_end = [s for s in secs if s[0] == "padding"][0][1]
    data_start = [s for s in secs if s[0] == "padding"][0][2]
    if cut == 0:
        return ["empty file"]
    if cut < info_end:
        if cut >= 24 and (n_kv > cut // 12 or n_tensors > cut // 24):
            return [f"tensors and {n_kv} metadata entries cannot fit in {cut} bytes"]
        return ["truncated or corrupt GGUF", f"at byte {cut} needs"]
    if cut < data_start:
        return [f"truncated GGUF: the data section starts at byte {data_start}, past the end ({cut} bytes)"]
    for name, (_, ne, typ, off, ds) in tg.tensor_infos(data).items():  # in file order, as the reader checks
        if ds + tg.nbytes(typ, list(ne)) > cut:
            return [f"truncated GGUF: tensor '{name}'", "ends past the end of the file"]
    raise AssertionError("cut does not truncate")


def truncations(work, tiny):
    """The real GGUF cut at every section boundary: magic, version, counts,
    each metadata entry, each tensor info, the padding, each tensor's data."""
    data = open(tiny, "rb").read()
    secs = tg.sections(data)
    cuts = sorted({s[1] for s in secs} | {len(data) - 1}, reverse=True)
    path = os.path.join(work, "cut.gguf")
    write(path, data)
    bad = []
    for cut in cuts:  # one copy, cut shorter and shorter
        os.truncate(path, cut)
        want = expected_truncation(data, secs, cut)
        rc, out, err = run_cli(["info", "-m", path], timeout=30)
        ok, detail = one_line_error(rc, err, [path] + want)
        if not ok:
            bad.append(f"cut {cut}: {detail}")
    check(f"truncated at each of {len(cuts)} section boundaries: exit 1, the exact position or tensor named",
          not bad, "; ".join(bad[:3]))
    # and inside each metadata entry
    bad = []
    for name, start, end in secs:
        if name.startswith("metadata '") and end - start > 2:
            t = write(path, data[:(start + end) // 2])
            rc, out, err = run_cli(["info", "-m", t])
            ok, detail = one_line_error(rc, err, [t, "truncated"])
            if not ok:
                bad.append(f"{name}: {detail}")
    check("truncated inside each metadata entry", not bad, "; ".join(bad[:3]))


def headers(work, tiny):
    data = open(tiny, "rb").read()
    p = os.path.join(work, "hdr.gguf")
    size = len(data)
    n_tensors, n_kv = struct.unpack_from("<QQ", data, 8)
    expect_error("wrong magic", ["info", "-m", write(p, b"GGUG" + data[4:])],
                 f'{p}: not a GGUF file (bad magic; expected "GGUF")')
    expect_error("magic only", ["info", "-m", write(p, b"GGUF")],
                 "truncated or corrupt GGUF: version at byte 4 needs 4 bytes, file has 4")
    for v in (0, 1, 4, 0xFFFFFFFF):
        expect_error(f"version {v}", ["info", "-m", write(p, patched(data, 4, "<I", v))],
                     f"unsupported GGUF version {v} (supported: 2, 3)")
    rc, out, err = run_cli(["info", "-m", write(p, patched(data, 4, "<I", 2))])
    check("version 2 (same layout) loads", rc == 0 and b"GGUF v2" in out, err)
    for v in (2 ** 64 - 1, 2 ** 63, 10 ** 9):
        expect_error(f"tensor count {v}", ["info", "-m", write(p, patched(data, 8, "<Q", v))],
                     f"{v} tensors and {n_kv} metadata entries cannot fit in {size} bytes")
        expect_error(f"metadata count {v}", ["info", "-m", write(p, patched(data, 16, "<Q", v))],
                     f"{n_tensors} tensors and {v} metadata entries cannot fit in {size} bytes")
    expect_error("a key length past the end (2^64 - 1)", ["info", "-m", write(p, patched(data, 24, "<Q", 2 ** 64 - 1))],
                 "metadata key at byte 32 needs 18446744073709551615 bytes")
    at, _ = kv_value_at(data, "general.architecture")
    expect_error("a string value length past the end", ["info", "-m", write(p, patched(data, at, "<Q", 2 ** 62))],
                 f"value of 'general.architecture' at byte {at + 8} needs {2 ** 62} bytes")
    expect_error("an unknown value type", ["info", "-m", write(p, patched(data, at - 4, "<I", 13))],
                 "value of 'general.architecture' has unknown type 13")
    at, _ = kv_value_at(data, "tokenizer.ggml.tokens")
    expect_error("a string array count that overflows", ["info", "-m", write(p, patched(data, at + 4, "<Q", 2 ** 61))],
                 f"value of 'tokenizer.ggml.tokens' claims {2 ** 61} strings, more than the file can hold")
    expect_error("an array of arrays", ["info", "-m", write(p, patched(data, at, "<I", 9))],
                 "value of 'tokenizer.ggml.tokens' is an array of unsupported type 9")
    at, _ = kv_value_at(data, "tokenizer.ggml.token_type")
    expect_error("an int array count that overflows", ["info", "-m", write(p, patched(data, at + 4, "<Q", 2 ** 62))],
                 f"value of 'tokenizer.ggml.token_type' claims {2 ** 62} elements")


def tensor_infos(work, tiny):
    data = open(tiny, "rb").read()
    p = os.path.join(work, "ti.gguf")
    name = "blk.0.time_mix_key.weight"
    nd_at, ne_at, ty_at, off_at, ne, typ, off = info_fields(data, name)
    nbytes = tg.nbytes(typ, list(ne))
    expect_error("a dimension of 2^40 + 1", ["info", "-m", write(p, patched(data, ne_at, "<Q", 2 ** 40 + 1))],
                 f"tensor '{name}' has an invalid size {2 ** 40 + 1} in dimension 0")
    expect_error("a dimension of 0", ["info", "-m", write(p, patched(data, ne_at, "<Q", 0))],
                 f"tensor '{name}' has an invalid size 0 in dimension 0")
    both = patched(patched(data, ne_at, "<Q", 2 ** 30), ne_at + 8, "<Q", 2 ** 30)
    expect_error("dimensions whose product overflows (2^30 x 2^30)", ["info", "-m", write(p, both)],
                 f"tensor '{name}' has an invalid size {2 ** 30} in dimension 1")
    for nd in (0, 5, 2 ** 32 - 1):
        expect_error(f"{nd} dimensions", ["info", "-m", write(p, patched(data, nd_at, "<I", nd))],
                     f"tensor '{name}' has {nd if nd < 2 ** 31 else nd - 2 ** 32} dimensions (1..4 allowed)")
    for o in (2 ** 40, 2 ** 64 - 32):
        expect_error(f"an offset past the end ({o})", ["info", "-m", write(p, patched(data, off_at, "<Q", o))],
                     f"truncated GGUF: tensor '{name}' ({nbytes} bytes at data offset {o}) ends past the end of the file")
    expect_error("a misaligned offset", ["info", "-m", write(p, patched(data, off_at, "<Q", off + 4))],
                 f"tensor '{name}' offset {off + 4} is not aligned to 32")
    other = "blk.0.time_mix_value.weight"
    _, _, _, off_at2, _, _, _ = info_fields(data, other)
    expect_error("overlapping tensors", ["info", "-m", write(p, patched(data, off_at2, "<Q", off))],
                 ["corrupt GGUF: tensors", name, other, "overlap"])
    expect_error("an unknown tensor type", ["info", "-m", write(p, patched(data, ty_at, "<I", 31))],
                 f"tensor '{name}' has unknown type 31")
    expect_error("a matrix type the engine cannot multiply (MXFP4)", ["info", "-m", write(p, patched(data, ty_at, "<I", 39))],
                 f"tensor '{name}' has type MXFP4, which this build cannot multiply (supported: F32, F16, Q4_0, Q4_1, "
                 "Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, BF16)")
    vname = "blk.0.attn_norm.weight"
    _, _, vty_at, _, _, _, _ = info_fields(data, vname)
    expect_error("a 1-D tensor as Q8_0", ["info", "-m", write(p, patched(data, vty_at, "<I", tg.Q8_0))],
                 f"tensor '{vname}' has type Q8_0; 1-D tensors must be F32, F16 or BF16")
    small = tg.model()  # rows of 8 elements
    _, _, sty_at, _, _, _, _ = info_fields(small, "blk.0.time_mix_key.weight")
    expect_error("rows that do not fill Q8_0 blocks", ["info", "-m", write(p, patched(small, sty_at, "<I", tg.Q8_0))],
                 "tensor 'blk.0.time_mix_key.weight': row of 8 elements does not fit Q8_0 blocks")
    # names: duplicated, missing
    a, b = tg.gstr("blk.0.attn_norm.weight"), tg.gstr("blk.1.attn_norm.weight")
    expect_error("a duplicated tensor", ["info", "-m", write(p, data.replace(b, a, 1))],
                 "corrupt GGUF: duplicate tensor 'blk.0.attn_norm.weight'")
    expect_error("a missing tensor (output.weight)",
                 ["info", "-m", write(p, data.replace(tg.gstr("output.weight"), tg.gstr("output.weighx"), 1))],
                 f"{p}: missing tensor 'output.weight' (required by rwkv7)")
    # shapes: same byte size, another shape
    e_nd, e_ne, _, _, _, _, _ = info_fields(data, "token_embd.weight")
    s = patched(patched(data, e_ne, "<Q", 32), e_ne + 8, "<Q", 512)
    expect_error("token_embd of another width", ["info", "-m", write(p, s)],
                 "tensor 'token_embd.weight' has shape [32, 512], expected [64, n_vocab]")
    _, n_ne, _, _, _, _, _ = info_fields(data, "blk.3.time_mix_ln.bias")
    s = patched(data, n_ne, "<Q", 32)
    expect_error("a vector with the wrong number of elements", ["info", "-m", write(p, s)],
                 "tensor 'blk.3.time_mix_ln.bias' has shape [32], expected 64 elements")
    mix_nd, mix_ne, _, _, mix_shape, _, _ = info_fields(data, "blk.2.channel_mix_value.weight")
    s = patched(patched(data, mix_ne, "<Q", 64), mix_ne + 8, "<Q", 256)
    expect_error("a matrix transposed (channel_mix_value [64, 256])", ["info", "-m", write(p, s)],
                 "tensor 'blk.2.channel_mix_value.weight' has shape [64, 256], expected [256, 64]")


def hyperparameters(work, tiny):
    data = open(tiny, "rb").read()
    p = os.path.join(work, "hp.gguf")
    at, _ = kv_value_at(data, "rwkv7.embedding_length")
    expect_error("embedding_length 0", ["info", "-m", write(p, patched(data, at, "<I", 0))],
                 "metadata 'rwkv7.embedding_length' = 0 is out of range")
    at, _ = kv_value_at(data, "rwkv7.wkv.head_size")
    expect_error("head_size 7", ["info", "-m", write(p, patched(data, at, "<I", 7))],
                 "embedding_length 64 is not a multiple of head_size 7")
    expect_error("head_size 2^25", ["info", "-m", write(p, patched(data, at, "<I", 2 ** 25))],
                 f"metadata 'rwkv7.wkv.head_size' = {2 ** 25} is out of range")
    at, _ = kv_value_at(data, "rwkv7.block_count")
    expect_error("block_count 13 (the file has 12 layers)", ["info", "-m", write(p, patched(data, at, "<I", 13))],
                 "missing tensor 'blk.12.attn_norm.weight' (required by rwkv7)")
    expect_error("block_count 2^24 (before any per-layer table is sized)",
                 ["info", "-m", write(p, patched(data, at, "<I", 2 ** 24))],
                 f"metadata 'rwkv7.block_count' = {2 ** 24} is more layers than the file has tensors")
    expect_error("block_count as a string", ["info", "-m", write(p, patched(data, at - 4, "<I", tg.STR))],
                 "truncated or corrupt GGUF")  # the u32 value read as a string length
    at, _ = kv_value_at(data, "rwkv7.feed_forward_length")
    expect_error("feed_forward_length 100", ["info", "-m", write(p, patched(data, at, "<I", 100))],
                 "tensor 'blk.0.channel_mix_key.weight' has shape [64, 256], expected [64, 100]")
    at, _ = kv_value_at(data, "rwkv7.attention.layer_norm_epsilon")
    expect_error("layer_norm_epsilon NaN", ["info", "-m", write(p, patched(data, at, "<f", float("nan")))],
                 "layer_norm_epsilon nan is out of range")
    expect_error("layer_norm_epsilon -1", ["info", "-m", write(p, patched(data, at, "<f", -1.0))],
                 "layer_norm_epsilon -1 is out of range")
    at, _ = kv_value_at(data, "rwkv7.attention.decay_lora_rank")
    expect_error("a LoRA rank that disagrees with the tensors", ["info", "-m", write(p, patched(data, at, "<I", 999))],
                 "metadata 'rwkv7.attention.decay_lora_rank' = 999 disagrees with the tensors (rank 32)")
    # alignment entries (small files made for the purpose)
    for value, typ, frag in ((3, tg.U32, "general.alignment 3 is not a power of two"),
                             (0, tg.U32, "general.alignment 0 is not a power of two"),
                             (2 ** 21, tg.U32, f"general.alignment {2 ** 21} is not a power of two"),
                             ("32", tg.STR, "general.alignment must be a uint32")):
        m = tg.model(extra_kvs=[tg.kv("general.alignment", typ, value)])
        expect_error(f"general.alignment {value!r}", ["info", "-m", write(p, m)], frag)
    m = tg.model(extra_kvs=[tg.kv("general.architecture", tg.STR, "rwkv7")])
    expect_error("a duplicated metadata key", ["info", "-m", write(p, m)],
                 "corrupt GGUF: duplicate metadata key 'general.architecture'")
    m = tg.model(alignment=64)
    rc, out, err = run_cli(["info", "-m", write(p, m)])
    check("alignment 64 loads", rc == 0 and b"alignment 64" in out, err)


def vocabularies(work, tiny):
    data = open(tiny, "rb").read()
    p = os.path.join(work, "voc.gguf")
    expect_error("no tokenizer.ggml.model",
                 ["info", "-m", write(p, data.replace(b"tokenizer.ggml.model", b"tokenizer.ggml.modex", 1))],
                 f"{p}: missing metadata key 'tokenizer.ggml.model'")
    at, _ = kv_value_at(data, "tokenizer.ggml.model")
    expect_error("tokenizer gpt2", ["info", "-m", write(p, data[:at + 8] + b"gpt2" + data[at + 12:])],
                 "tokenizer.ggml.model is 'gpt2'; only the RWKV world tokenizer ('rwkv') is supported")
    expect_error("no tokenizer.ggml.tokens",
                 ["info", "-m", write(p, data.replace(b"tokenizer.ggml.tokens", b"tokenizer.ggml.tokenz", 1))],
                 f"{p}: missing metadata key 'tokenizer.ggml.tokens'")
    toks, types = tg.world_vocab(280)
    m = tg.model(vocab="world", vocab_kvs=[tg.kv("tokenizer.ggml.model", tg.STR, "rwkv"),
                                          tg.kv("tokenizer.ggml.tokens", tg.ARR, list(range(280)), tg.U32)], rows=280)
    expect_error("tokens that are not strings", ["info", "-m", write(p, m)],
                 "metadata 'tokenizer.ggml.tokens' is not an array of strings")
    expect_error("fewer tokens than embedding rows", ["info", "-m", write(p, tg.model(rows=300))],
                 "the vocabulary has 256 tokens but token_embd.weight has 300 rows")
    m = tg.model(vocab="world", n_vocab=280, types=types[:10])
    expect_error("token types of another length", ["info", "-m", write(p, m)],
                 "tokenizer.ggml.token_type must be an int32 array of 280 entries")

    def bad_world(name, edit, frag):
        t = list(toks)
        edit(t)
        expect_error(f"vocabulary: {name}", ["info", "-m", write(p, tg.model(vocab="world", tokens=t, types=types))],
                     [f"{p}: bad vocabulary: tokenizer:"] + ([frag] if isinstance(frag, str) else frag))

    bad_world("a malformed escape", lambda t: t.__setitem__(260, b"ab\\q"), ["token 260", "malformed escape at offset 2"])
    bad_world("a bad \\x escape", lambda t: t.__setitem__(260, b"\\xZZ"), ["token 260", "malformed escape at offset 0"])
    bad_world("a trailing backslash", lambda t: t.__setitem__(260, b"abc\\"), ["token 260", "malformed escape at offset 3"])
    bad_world("two tokens with the same bytes", lambda t: t.__setitem__(260, b"the"), 'tokens 257 and 260 have the same bytes "the"')
    bad_world("an empty normal token", lambda t: t.__setitem__(260, b""), "token 260 is a normal token with empty text")
    bad_world("no token for the byte 'A'", lambda t: t.__setitem__(66, b"AAA"),
              "no token for the single byte 0x41, so some text could not be encoded")
    bt, btypes = tg.byte_vocab()
    bt[65] = b"\\x42"
    expect_error("byte-level vocabulary: token 65 is not 'A'", ["info", "-m", write(p, tg.model(tokens=bt))],
                 'byte-level token 65 "\\x42" is not the single byte 0x41')


def states(work, tiny):
    """State files: for another model of the same shape, other versions, short, long, NaN, not regular."""
    a = write(os.path.join(work, "sa.gguf"), tg.model(seed=1))
    b = write(os.path.join(work, "sb.gguf"), tg.model(seed=2))
    da = open(a, "rb").read()
    good = write(os.path.join(work, "a.state"), tg.state_file(da, 0.25))
    rc, out, err = run_cli(["logits", "-m", a, "--tokens", "1", "--state-in", good, "-o", os.path.join(work, "o.f32")])
    check("a state file written by the Python twin loads (the model identity agrees)", rc == 0, err)
    expect_error("state: another model of the same shape", ["logits", "-m", b, "--tokens", "1", "--state-in", good,
                                                            "-o", "/dev/null"],
                 f"{good}: the state was made with another model of the same shape")
    s = os.path.join(work, "bad.state")
    st = tg.state_file(da, 0.25)
    cases = [
        ("version 2", patched(st, 8, "<I", 2), "state file version 2 is not supported (expected 1)"),
        ("architecture 6", patched(st, 12, "<I", 6), "the state is for another model shape (arch 6"),
        ("one byte too long", st + b"\0", "state file is longer than the state (corrupt?)"),
        ("a NaN", tg.state_file(da, float("nan")), "the state contains non-finite values"),
        ("an Inf", tg.state_file(da, float("inf")), "the state contains non-finite values"),
        ("truncated data", st[:-4], "truncated state file"),
        ("empty", b"", "not an rwkv-cli state file"),
    ]
    for name, blob, frag in cases:
        expect_error(f"state: {name}", ["logits", "-m", a, "--tokens", "1", "--state-in", write(s, blob), "-o", "/dev/null"],
                     [s, frag])
    # regression: a header cut short was compared with uninitialised memory (a random "version N")
    write(s, b"RWKVSTAT\x01\x00")
    errs = set()
    for _ in range(3):
        rc, out, err = run_cli(["logits", "-m", a, "--tokens", "1", "--state-in", s, "-o", "/dev/null"])
        ok, detail = one_line_error(rc, err, f"{s}: truncated state file (10 bytes, the header alone is 64)")
        errs.add(err if ok else detail)
    check("regression: a state header cut short: the same exact message every time", len(errs) == 1 and
          "truncated state file" in next(iter(errs)), repr(errs))
    expect_error("state: a directory", ["logits", "-m", a, "--tokens", "1", "--state-in", work, "-o", "/dev/null"],
                 f"{work}: not a regular file")
    fifo = os.path.join(work, "fifo")
    expect_error("regression: state: a FIFO is refused at once (no hang)",
                 ["logits", "-m", a, "--tokens", "1", "--state-in", fifo, "-o", "/dev/null"],
                 f"{fifo}: not a regular file", timeout=20)
    rc, out, err = run_cli(["generate", "-m", a, "--state-in", good, "-n", "2", ""])
    ok, detail = one_line_error(rc, err, "--state-in needs a non-empty prompt")
    check("state: --state-in with an empty prompt", ok, detail)


# ---------------------------------------------------------------- values

def nonfinite(work, tiny, tiny16):
    d16 = open(tiny16, "rb").read()
    name = "blk.5.time_mix_value.weight"
    _, ne, typ, off, ds = tg.tensor_infos(d16)[name]
    assert typ == tg.F16
    at = ds + (3 * ne[0] + 7) * 2  # row 3, column 7
    p = write(os.path.join(work, "inf16.gguf"), patched(d16, at, "<H", 0x7C00))
    expect_error("info --check: +Inf in an F16 matrix, row and column named", ["info", "--check", "-m", p],
                 f"{p}: tensor '{name}' has a non-finite value (inf) at row 3, column 7")
    expect_error("generate with an Inf weight: stops on the non-finite logit", ["generate", "-m", p, "-n", "5", "In"],
                 "the model produced a non-finite logit")
    d = open(tiny, "rb").read()
    _, ne, typ, off, ds = tg.tensor_infos(d)["token_embd.weight"]
    p = write(os.path.join(work, "nanemb.gguf"), patched(d, ds + 4 * ne[0] * ord("x"), "<f", float("nan")))
    expect_error("info --check: NaN in the embedding row of 'x'", ["info", "--check", "-m", p],
                 "tensor 'token_embd.weight' has a non-finite value (nan) at row 120, column 0")
    expect_error("generate: a NaN reached through the prompt stops before any output token",
                 ["generate", "-m", p, "-n", "5", "x"], "non-finite logit (token 0) after 0 generated tokens")
    rc, out, err = run_cli(["generate", "-m", p, "-n", "0", "x"])
    check("generate -n 0 with a NaN weight samples nothing and succeeds", rc == 0 and out == b"x", err)
    _, ne, typ, off, ds = tg.tensor_infos(d)["output_norm.bias"]
    p = write(os.path.join(work, "nanvec.gguf"), patched(d, ds + 4 * 9, "<f", float("-inf")))
    expect_error("info --check: -Inf in a 1-D tensor", ["info", "--check", "-m", p],
                 "tensor 'output_norm.bias' has a non-finite value (-inf) at row 0, column 9")
    expect_error("generate: -Inf in the final norm", ["generate", "-m", p, "-n", "3", "hello"],
                 "non-finite logit (token 0) after 0 generated tokens")


# ---------------------------------------------------------------- input

def decode(vocab, ids):
    return b"".join(vocab[i] for i in ids)


def prompts(work, tiny, world, vocab):
    nasty = (b"\x00a\x00\xff\xfe\xc3(\xed\xa0\x80\xf4\x90\x80\x80\xe4\xb8\n\x00\xc0\xaf" * 40) + b"\xf0\x9f\x98"
    rc, out, err = run_cli(["tokenize", "-m", world], stdin=nasty)
    ids = [int(x) for x in out.split()] if rc == 0 else []
    check("world tokenizer: invalid UTF-8 and NUL bytes from stdin decode back exactly",
          rc == 0 and decode(vocab, ids) == nasty and 0 not in ids, f"rc={rc} {err}")
    rc, out, err = run_cli(["tokenize", "-m", tiny], stdin=nasty)
    check("byte tokenizer: one id per byte, NUL included", rc == 0 and [int(x) for x in out.split()] == list(nasty), err)
    arg = b"caf\xc3 \xff\xfe \xe4\xb8\xad\xe6"  # argv cannot hold NUL, but any other byte
    rc, out, err = run_cli(["tokenize", "-m", world, arg.decode("utf-8", "surrogateescape")])
    check("tokenize: invalid UTF-8 in an argument", rc == 0 and decode(vocab, [int(x) for x in out.split()]) == arg, err)
    rc, out, err = run_cli(["generate", "-m", world, "-n", "4", "--seed", "1"], stdin=nasty)
    check("generate: a NUL/invalid UTF-8 prompt is echoed byte for byte and continued",
          rc == 0 and out.startswith(nasty) and "generated" in err, f"rc={rc} {err[-300:]}")
    # empty prompts
    rc, out, err = run_cli(["generate", "-m", tiny, "-n", "3", "--seed", "2", "--no-display-prompt"], stdin=b"")
    check("generate: empty stdin starts a new document (token 0) and generates", rc == 0 and "prompt 1 tokens" in err,
          err[-300:])
    rc, out, err = run_cli(["tokenize", "-m", world, ""])
    check("tokenize: empty text prints an empty line", rc == 0 and out == b"\n", repr(out))
    expect_error("logits --prompt ''", ["logits", "-m", world, "--prompt", "", "-o", "/dev/null"],
                 "--prompt: the prompt is empty")
    empty = write(os.path.join(work, "empty.txt"), b"")
    expect_error("perplexity on an empty file", ["perplexity", "-m", tiny, "-f", empty],
                 f"{empty}: too short: at least two tokens are needed")
    rc, out, err = run_cli(["chat", "-m", tiny, "-n", "3"], stdin=b"")
    check("chat: empty stdin ends the chat quietly", rc == 0 and out == b"", f"rc={rc} {err}")
    rc, out, err = run_cli(["chat", "-m", tiny, "-n", "3"], stdin=b"\n\n   \n/nonsense\n")
    check("chat: blank lines and an unknown command do not start a turn", rc == 0 and b"Assistant" not in out, err)


def large_prompt(work, world, vocab):
    """A 10 MB prompt on stdin: processed, memory bounded (no per-token growth
    with the vocabulary), finished in well under a minute; peak RSS of the
    child from wait4's rusage. Text made of the
    world vocabulary's longest tokens (runs of 128 spaces, 80 dashes) between
    words, so 10 MB is about 110,000 tokens: ~10 s on the 2-layer model on an
    idle 2-core machine (10 MB of English would be ~2.5 million tokens, minutes).
    Under a sanitizer the prompt is 1 MB and the memory bound is not checked."""
    size = (1 if SANITIZED else 10) << 20
    unit = b"In the beginning\n" + b" " * 2048 + b"-" * 160 + b"\n"
    prompt = (unit * (size // len(unit) + 1))[:size]
    t0 = time.time()
    p = subprocess.Popen([harness.CLI, "generate", "-m", world, "-n", "4", "--seed", "3"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # feed and drain in threads, then wait4: the rusage of exactly this child
    # (RUSAGE_CHILDREN would be the maximum over every child waited for so far)
    got = {}

    def feed():
        try:
            p.stdin.write(prompt)
        except BrokenPipeError:
            pass
        p.stdin.close()

    def drain(name, f):
        got[name] = f.read()

    threads = [threading.Thread(target=feed), threading.Thread(target=drain, args=("out", p.stdout)),
               threading.Thread(target=drain, args=("err", p.stderr))]
    for t in threads:
        t.start()
    _, status, usage = os.wait4(p.pid, 0)
    for t in threads:
        t.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    secs = time.time() - t0
    rc = p.returncode
    out, err = got["out"], got["err"].decode("utf-8", "replace")
    rss_mb = usage.ru_maxrss / 1024
    n_tok = None
    for word in err.split("prompt ")[1:]:
        n_tok = int(word.split()[0])
    model_mb = os.path.getsize(world) / 2 ** 20
    prompt_mb = len(prompt) / 2 ** 20
    bound = model_mb + 3 * prompt_mb + 120
    ok = rc == 0 and out.startswith(prompt) and len(out) > len(prompt) and n_tok and n_tok < len(prompt) // 20
    check(f"a {prompt_mb:.0f} MB prompt on stdin: {n_tok} tokens in {secs:.1f} s, peak RSS {rss_mb:.0f} MB",
          ok, f"rc={rc} tokens={n_tok} {err[-300:]}")
    if not SANITIZED:
        check(f"  peak RSS {rss_mb:.0f} MB <= model {model_mb:.0f} + 3 x prompt {prompt_mb:.0f} + 120 MB "
              f"(logits for every token would be {n_tok * 65536 * 4 / 2 ** 30:.0f} GB)", rss_mb <= bound,
              f"{rss_mb:.0f} MB > {bound:.0f} MB")


def flag_values(work, tiny, world):
    g = ["generate", "-m", tiny, "x"]
    cases = [
        (["-n", "-1"], "--n-predict must be >= 0 (got -1)"),
        (["-n", "99999999999999999999"], "failed to parse"),
        (["-n", "1e9"], "failed to parse"),
        (["-n", ""], "failed to parse"),
        (["--temp", "nan"], "nan"),  # cxxopts does not parse nan/inf: either way one error line
        (["--temp", "inf"], "inf"),
        (["--temp", "1e99"], "1e99"),
        (["--temp", "-0.5"], "--temp must be a finite number >= 0"),
        (["--top-p", "0"], "--top-p must be in (0, 1]"),
        (["--top-p", "nan"], "nan"),
        (["--top-k", "-3"], "--top-k must be >= 0"),
        # regression: cxxopts' integer parser misses some overflows (this one became 1410065407)
        (["--top-k", "9999999999"], "--top-k: 9999999999 is out of range"),
        (["-n", "20496382304121724020"], "--n-predict: 20496382304121724020 is out of range"),  # wrapped to 2.0e18
        (["--seed", "20496382304121724020"], "--seed: 20496382304121724020 is out of range"),
        (["-t", "4294967297"], "4294967297"),
        (["--seed", "0x10000000000000001"], "0x10000000000000001"),
        (["--presence-penalty", "inf"], "inf"),
        (["--frequency-penalty", "nan"], "nan"),
        (["--penalty-decay", "1.5"], "--penalty-decay must be in [0, 1]"),
        (["--penalty-decay", "-0.1"], "--penalty-decay must be in [0, 1]"),
        (["--seed", "abc"], "failed to parse"),
        (["--seed", "99999999999999999999999"], "failed to parse"),
        (["-t", "-1"], "--threads must be in 0..256 (got -1)"),
        (["-t", "100000"], "--threads must be in 0..256 (got 100000)"),
        (["--isa", "avx9000"], "avx9000"),
        (["--mmap", "--no-mmap"], "--mmap and --no-mmap contradict each other"),
    ]
    for extra, frag in cases:
        expect_error(f"generate {' '.join(extra)}", g[:3] + extra + g[3:], frag)
    lg = ["logits", "-m", tiny, "-o", "/dev/null"]
    for extra, frag in ((["--tokens", "1", "--chunk", "0"], "--chunk must be in 1..4096 (got 0)"),
                        (["--tokens", "1", "--chunk", "5000"], "--chunk must be in 1..4096 (got 5000)"),
                        (["--tokens", "-1"], "--tokens"), (["--tokens", "4294967296"], "--tokens"),
                        (["--tokens", "1,2,"], "trailing comma"), (["--tokens", ""], "--tokens"),
                        (["--tokens", "256"], "token id 256 at position 0 is outside the vocabulary (0..255)"),
                        (["--tokens", "1", "--prompt", "x"], "exactly one of")):
        expect_error(f"logits {' '.join(extra)}", lg + extra, frag)
    for extra, frag in ((["-p", "-1"], "--n-prompt must be in 0..1000000"),
                        (["-n", "2000000"], "--n-gen must be in 0..1000000"),
                        (["-r", "0"], "--repetitions must be in 1..1000"),
                        (["-o", "xml"], "--output must be md, json or csv (got 'xml')")):
        expect_error(f"bench {' '.join(extra)}", ["bench", "-m", tiny] + extra, frag)
    expect_error("chat -n 0", ["chat", "-m", tiny, "-n", "0"], "--n-predict must be >= 1")
    expect_error("passkey --lengths 0", ["passkey", "-m", tiny, "--lengths", "0"], "--lengths")
    expect_error("passkey --trials 100000", ["passkey", "-m", tiny, "--trials", "100000"], "--trials must be in 1..1000")
    expect_error("quantize to Q7_0", ["quantize", tiny, os.path.join(work, "q.gguf"), "q7_0"], "unknown PRESET 'q7_0'")
    expect_error("quantize onto itself", ["quantize", tiny, tiny, "q8_0"], "output would overwrite the input")
    # regression: cxxopts matched arguments with std::regex, which recursed once
    # per character; one argument of ~50 KB crashed rwkv-cli with SIGSEGV
    rc, out, err = run_cli(["generate", "-m", tiny, "-n", "2", "--stop=" + "a" * 100000, "--seed", "1", "x"])
    check("regression: a 100 KB --stop=... value works (no stack overflow)", rc == 0, f"rc={rc} {err[-200:]}")
    rc, out, err = run_cli(["generate", "-m", tiny, "-n", "1" * 60000, "x"])
    ok, detail = one_line_error(rc, err, "failed to parse")
    check("regression: a 60,000-digit -n is one parse error (no stack overflow)", ok, detail[:300])
    rc, out, err = run_cli(["generate", "-m", tiny, "-" + "a" * 100000])
    ok, detail = one_line_error(rc, err, "does not exist")
    check("regression: a 100 KB argument starting with '-' is one error (no stack overflow)", ok, detail[:300])
    expect_error("logits: the model path is a 100 KB name", ["logits", "-m", "m" * 100000, "--tokens", "1", "-o", "-"],
                 "File name too long")


# ---------------------------------------------------------------- output

def closed_stdout(work, tiny, world):
    big = b"the quick brown fox " * 20000
    cmds = [
        ("generate | head -c 1", ["generate", "-m", tiny, "-n", "100000", "--seed", "3", "hello"], b""),
        ("tokenize (400 KB) | head -c 1", ["tokenize", "-m", world], big),
        ("info --tensors | head -c 1", ["info", "-m", tiny, "--tensors"], b""),
        ("logits --all -o - | head -c 1", ["logits", "-m", world, "--tokens", ",".join(["5"] * 40), "--all", "-o", "-"], b""),
    ]
    for name, args, stdin in cmds:
        for ignore in (False, True):
            # restore_signals=False: the child inherits Python's ignored SIGPIPE, so writes fail with EPIPE
            p = subprocess.Popen([harness.CLI] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 restore_signals=not ignore)
            if stdin:
                try:
                    p.stdin.write(stdin)
                except BrokenPipeError:
                    pass
            p.stdin.close()
            first = p.stdout.read(1)
            p.stdout.close()
            err = p.stderr.read().decode("utf-8", "replace")
            rc = p.wait(timeout=120)
            lines = [l for l in err.splitlines() if l.strip()]
            if not ignore:
                ok = len(first) == 1 and rc in (0, -signal.SIGPIPE) and "error" not in err and len(lines) <= 1
                check(f"{name}: exits quietly (status {rc})", ok, f"rc={rc} stderr={err[-300:]!r}")
            else:
                ok = len(first) == 1 and rc in (0, 1) and (rc == 0 or (len(lines) == 1 and "Broken pipe" in err))
                check(f"{name} with SIGPIPE ignored: at most one line naming the broken pipe (status {rc})", ok,
                      f"rc={rc} stderr={err[-300:]!r}")


def interrupt(work, tiny, world):
    # during generation: 130, everything generated so far is on stdout, exactly
    p = subprocess.Popen([harness.CLI, "generate", "-m", tiny, "-n", "100000000", "--seed", "1", "-t", "1", "x"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = b""
    while len(first) < 40:  # os.read: a buffered read could keep bytes that communicate() then misses
        chunk = os.read(p.stdout.fileno(), 4096)
        if not chunk:
            break
        first += chunk
    t0 = time.time()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    dt = time.time() - t0
    out = first + out
    err = err.decode("utf-8", "replace")
    n_gen = int(err.split("generated ")[1].split()[0]) if "generated " in err else -1
    check(f"SIGINT during generation: exit 130 within {dt:.2f} s, 'interrupted', {n_gen} tokens",
          p.returncode == 130 and "interrupted" in err and dt < 5 and n_gen > 0,
          f"rc={p.returncode} dt={dt:.2f} err={err[-300:]!r}")
    if n_gen > 0:
        rc, again, _ = run_cli(["generate", "-m", tiny, "-n", str(n_gen), "--seed", "1", "-t", "1", "x"])
        check("SIGINT: stdout holds exactly what an uninterrupted run of as many tokens prints (flushed)",
              rc == 0 and again == out, f"{len(out)} vs {len(again)} bytes")
    # during a long prompt: stops before generating anything
    prompt = b"In the beginning" * 200000  # 3.2 MB, many seconds of prompt processing
    p = subprocess.Popen([harness.CLI, "generate", "-m", world, "-n", "50", "-t", "1"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(prompt)
    p.stdin.close()
    p.stdin = None  # (so that communicate() does not flush it)
    echoed = b""
    while len(echoed) < len(prompt):  # the prompt is echoed before it is processed
        chunk = os.read(p.stdout.fileno(), 1 << 20)
        if not chunk:
            break
        echoed += chunk
    time.sleep(0.3)
    t0 = time.time()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    dt = time.time() - t0
    err = err.decode("utf-8", "replace")
    check(f"SIGINT during the prompt: exit 130 within {dt:.2f} s, nothing generated",
          p.returncode == 130 and echoed == prompt and out == b"" and "generated 0 tokens" in err and dt < 5,
          f"rc={p.returncode} dt={dt:.2f} out={out[:80]!r} err={err[-300:]!r}")


# ---------------------------------------------------------------- determinism

def determinism(work, tiny, world):
    for label, model in (("byte model", tiny), ("world model", world)):
        outs = set()
        for t in ("1", "2", "1", "2"):
            rc, out, err = run_cli(["generate", "-m", model, "-n", "32", "--seed", "11", "-t", t, "In the"])
            outs.add(out if rc == 0 else err.encode())
        check(f"generate, {label}: same seed, same text with -t 1, 2 and again 1, 2", len(outs) == 1,
              f"{len(outs)} different outputs")
        files = []
        for t in ("1", "2", "4"):
            o = os.path.join(work, f"det{t}.f32")
            rc, _, err = run_cli(["logits", "-m", model, "--prompt", "In the beginning was the Word", "--all",
                              "--chunk", "3", "-t", t, "-o", o])
            files.append(open(o, "rb").read() if rc == 0 else err.encode())
        check(f"logits --all, {label}: bit-identical for -t 1, 2, 4", len(set(files)) == 1 and len(files[0]) > 1000,
              "differ")
    text = write(os.path.join(work, "det.txt"), b"In the beginning God created the heaven and the earth.\n" * 20)
    outs = set()
    for t in ("1", "2"):
        rc, out, err = run_cli(["perplexity", "-m", tiny, "-f", text, "-t", t, "--chunk", "7", "-q"])
        outs.add(b"\n".join(l for l in out.splitlines() if not l.startswith(b"speed")))
    check("perplexity: the same numbers with -t 1 and 2", len(outs) == 1, repr(outs))


def main():
    global SANITIZED
    a = harness.arguments(__doc__, required=("cli", "shared", "models", "work"), fresh_work=True)
    work = a.work
    tiny = os.path.join(a.models, "tiny-rwkv-7v0-834K-f32.gguf")
    tiny16 = os.path.join(a.models, "tiny-rwkv-7v0-834K-f16.gguf")
    world = os.path.join(a.shared, "llamacpp-gguf", "v7-L2-D64-s9-llamacpp-f16.gguf")
    harness.require_files(tiny, tiny16, world)
    with open(harness.CLI, "rb") as f:
        blob = f.read()
    SANITIZED = b"__asan_init" in blob or b"__tsan_init" in blob
    os.environ.pop("RWKV_ISA", None)
    vocab = [tg.unescape(t) for t in tg.read_kvs(open(world, "rb").read())["tokenizer.ggml.tokens"]]
    vocab[0] = b""
    t0 = time.time()
    times = []
    for section, args in ((files_not_regular, (work, tiny)), (truncations, (work, tiny)), (headers, (work, tiny)),
                          (tensor_infos, (work, tiny)), (hyperparameters, (work, tiny)), (vocabularies, (work, tiny)),
                          (states, (work, tiny)), (nonfinite, (work, tiny, tiny16)),
                          (prompts, (work, tiny, world, vocab)), (large_prompt, (work, world, vocab)),
                          (flag_values, (work, tiny, world)), (closed_stdout, (work, tiny, world)),
                          (interrupt, (work, tiny, world)), (determinism, (work, tiny, world))):
        ts = time.time()
        section(*args)
        times.append(f"{section.__name__} {time.time() - ts:.0f} s")
    print(f"test_bad_input: {time.time() - t0:.0f} s{' (sanitized build)' if SANITIZED else ''}: " + ", ".join(times))
    harness.finish()


if __name__ == "__main__":
    main()
