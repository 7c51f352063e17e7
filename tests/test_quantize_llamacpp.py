#!/usr/bin/env python3
"""rwkv-cli quantize against llama.cpp's llama-quantize.

  * the twelve files of ../shared/data/llamacpp-quants (llama-quantize on the
    bundled F16 model, no importance matrix): `rwkv-cli quantize` with the
    same preset writes the same metadata (keys in order, values) and every
    tensor with the same type, shape and bytes; the tensors stay in the
    input's order (llama.cpp sorts them; in llama.cpp's order the files are
    identical, which the test also checks). On a difference it lists the
    metadata keys and the tensors that differ (type, shape, count of
    differing bytes);
  * the presets llama.cpp names but the directory has no file for (Q3_K_S,
    Q3_K_L, Q4_K_S, Q5_K_S): RWKV has none of the tensors their rules raise
    (attn_v, ffn_down, attn_output), so each writes the tensors of its _M
    sibling, with its own general.file_type (llama.cpp's LLAMA_FTYPE_*);
  * the per-tensor rules where shapes force them, on tiny generated models
    (n_embd 64, feed-forward 256: some rows fill 256-blocks, some only
    32-blocks): the fallbacks and the head's type as llama.cpp's
    src/llama-quant.cpp picks them, listed here by hand; an RWKV-6 model
    keeps its decay LoRA, token-shift LoRA and time_mix_first as stored; a
    model whose rows are not whole 32-blocks is refused naming the tensor;
  * every written file parses with scripts/gguf_writer.py's reader (a second
    GGUF implementation): tensors packed in order, each aligned, each of the
    size its type and shape give, the data ending at the end of the file;
    rwkv-cli runs each;
  * the thread count does not change a byte.

Each check prints PASS/FAIL; the last line is "N passed, M failed".
"""
import os, struct, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
sys.path.insert(0, os.path.join(HERE, "..", "fuzz"))
from gguf_writer import read_gguf_header  # noqa: E402
import tinygguf as tg  # noqa: E402

PRESETS = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS"]
# llama.cpp's LLAMA_FTYPE_* of the presets without a reference file, and their _M sibling
SIBLINGS = {"Q3_K_S": (11, "Q3_K_M"), "Q3_K_L": (13, "Q3_K_M"), "Q4_K_S": (14, "Q4_K_M"), "Q5_K_S": (16, "Q5_K_M")}

# ggml type numbers -> (name, elements per block, bytes per block)
TYPES = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
         7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
         12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 20: ("IQ4_NL", 32, 18),
         23: ("IQ4_XS", 256, 136), 30: ("BF16", 1, 2)}

import harness  # noqa: E402
from harness import check  # noqa: E402


def type_name(t):
    return TYPES[t][0] if t in TYPES else f"type {t}"


def quantize(cli, src, dst, preset, *flags):
    return subprocess.run([cli, "quantize", src, dst, preset, *flags], capture_output=True, text=True, timeout=300)


def tensors_of(path):
    """(header, name -> (type, ne, data bytes)), sizes from the types."""
    h = read_gguf_header(path)
    data = open(path, "rb").read()
    out = {}
    for name, ne, t, off in h.tensor_infos:
        n = 1
        for d in ne[1:]:
            n *= d
        blk, size = TYPES[t][1:] if t in TYPES else (1, 0)
        start = h.data_offset + off
        out[name] = (t, tuple(ne), data[start:start + ne[0] // blk * size * n])
    return h, out


def differences(path, ref_path):
    """What differs between two GGUF files, in words (empty: nothing)."""
    ha, ta = tensors_of(path)
    hb, tb = tensors_of(ref_path)
    out = []
    if list(ha.meta) != list(hb.meta):
        out.append(f"metadata keys {list(ha.meta)} vs llama.cpp's {list(hb.meta)}")
    out += [f"metadata {k}: {ha.meta[k]!r:.60} vs {hb.meta[k]!r:.60}" for k in ha.meta
            if k in hb.meta and (ha.meta[k], ha.meta_types[k]) != (hb.meta[k], hb.meta_types[k])]
    for name in sorted(set(ta) | set(tb)):
        if name not in ta or name not in tb:
            out.append(f"{name}: only in {'ours' if name in ta else 'llama.cpp'}")
            continue
        (t1, ne1, d1), (t2, ne2, d2) = ta[name], tb[name]
        if (t1, ne1) != (t2, ne2):
            out.append(f"{name}: {type_name(t1)} {ne1} vs llama.cpp's {type_name(t2)} {ne2}")
        elif d1 != d2:
            n = sum(a != b for a, b in zip(d1, d2))
            out.append(f"{name} ({type_name(t1)}): {n} of {len(d1)} bytes differ")
    return out


def llamacpp_order(names):
    """llama.cpp's tensor order (its loader's map): tensors outside the blocks
    first, then block by block, by name within each."""
    def key(n):
        layer = int(n.split(".")[1]) if n.startswith("blk.") else -1
        return (layer, n)
    return sorted(names, key=key)


def relaid(path, tensors, order):
    """The GGUF at path with its tensors in `order`: the header up to the
    tensor infos as it is, then infos and data packed and aligned as gguf
    writes them."""
    h = read_gguf_header(path)
    data = open(path, "rb").read()
    # the tensor infos start after the metadata: find the first tensor's name
    first = h.tensor_infos[0][0].encode()
    start = data.index(struct.pack("<Q", len(first)) + first)
    infos, blobs, off = b"", b"", 0
    for name in order:
        t, ne, blob = tensors[name]
        infos += struct.pack("<Q", len(name)) + name.encode() + struct.pack(f"<I{len(ne)}QIQ", len(ne), *ne, t, off)
        pad = -len(blob) % h.alignment
        blobs += blob + b"\0" * pad
        off += len(blob) + pad
    head = data[:start] + infos
    return head + b"\0" * (-len(head) % h.alignment) + blobs


def check_layout(label, path):
    """The file as a second GGUF reader sees it: every tensor where its type
    and shape say, packed in order with 32-byte alignment, up to the end."""
    h = read_gguf_header(path)
    size = os.path.getsize(path)
    expect, problems = 0, []
    for name, ne, t, off in h.tensor_infos:
        if t not in TYPES:
            problems.append(f"{name}: unknown type {t}")
            continue
        _, blk, bsize = TYPES[t]
        if ne[0] % blk:
            problems.append(f"{name}: rows of {ne[0]} are not whole {type_name(t)} blocks")
        n = ne[0] // blk * bsize
        for d in ne[1:]:
            n *= d
        if off != expect:
            problems.append(f"{name}: offset {off}, expected {expect}")
        expect = (off + n + h.alignment - 1) // h.alignment * h.alignment
    if h.data_offset + expect != size:
        problems.append(f"data ends at {h.data_offset + expect}, file has {size} bytes")
    return check(f"{label}: GGUF v{h.version} read by scripts/gguf_writer.py: {len(h.tensor_infos)} tensors "
                 "packed and aligned as their types say", h.version == 3 and not problems, "; ".join(problems[:5]))


def runs(cli, label, path):
    p = subprocess.run([cli, "logits", "-m", path, "--tokens", "1,2,3", "-o", os.devnull],
                       capture_output=True, text=True, timeout=120)
    return check(f"{label}: rwkv-cli runs it", p.returncode == 0, p.stderr.strip()[-300:])


def reference_files(a, d):
    src = os.path.join(HERE, "..", "models", "rwkv7-kjv-byte.gguf")
    for preset in PRESETS:
        out = os.path.join(a.work, f"kjv-{preset}.gguf")
        ref = os.path.join(d, f"kjv-{preset}.gguf")
        p = quantize(a.cli, src, out, preset)
        if not check(f"{preset}: rwkv-cli quantize", p.returncode == 0, p.stderr.strip()[-300:]):
            continue
        diff = differences(out, ref)
        h, t = tensors_of(out)
        check(f"{preset}: metadata and all {len(t)} tensors (type, shape, bytes) are llama-quantize's", not diff,
              "; ".join(diff[:20]))
        names = [n for n, *_ in h.tensor_infos]
        check(f"{preset}: tensors in the input's order", names == [n for n, *_ in read_gguf_header(src).tensor_infos])
        check(f"{preset}: laid out in llama.cpp's order, the file is llama-quantize's byte for byte "
              f"({os.path.getsize(ref)} bytes)", relaid(out, t, llamacpp_order(names)) == open(ref, "rb").read(),
              "the bytes differ")
        check_layout(preset, out)
    # the presets with no reference file: their _M sibling's tensors, their own file_type
    for preset, (ftype, sibling) in SIBLINGS.items():
        out = os.path.join(a.work, f"kjv-{preset}.gguf")
        p = quantize(a.cli, src, out, preset)
        if not check(f"{preset}: rwkv-cli quantize", p.returncode == 0, p.stderr.strip()[-300:]):
            continue
        h, t = tensors_of(out)
        hs, ts = tensors_of(os.path.join(d, f"kjv-{sibling}.gguf"))
        check(f"{preset}: {sibling}'s tensors and metadata keys (llama.cpp's file), general.file_type {ftype}",
              t == ts and list(h.meta) == list(hs.meta) and h.meta["general.file_type"] == ftype,
              f"file_type {h.meta.get('general.file_type')}; " + "; ".join(differences(out, os.path.join(d, f"kjv-{sibling}.gguf"))[:10]))
    # threads: the same bytes
    out1 = os.path.join(a.work, "kjv-Q4_K_M-t1.gguf")
    p = quantize(a.cli, src, out1, "q4_k_m", "-t", "1")
    check("Q4_K_M -t 1 (preset name in lower case): the same bytes as with the default threads",
          p.returncode == 0 and open(out1, "rb").read() == open(os.path.join(a.work, "kjv-Q4_K_M.gguf"), "rb").read(),
          p.stderr.strip()[-300:] if p.returncode else "the bytes differ")


def shape_rules(a):
    """Tiny models whose shapes exercise the fallbacks: n_embd 64 (whole
    32-blocks only), feed-forward 256 (whole 256-blocks: channel_mix_value's
    rows). The expected types are read off llama.cpp's llama-quant.cpp."""
    src = os.path.join(a.work, "tiny-C64-F256.gguf")
    tg_bytes = tg.model("rwkv7", C=64, N=32, L=2, F=256, R=8, mat_type=tg.F16, seed=3)
    open(src, "wb").write(tg_bytes)
    F32, F16 = 0, 1
    # preset -> (64-column matrices incl. token_embd, channel_mix_value (256 columns), head)
    want = {
        "Q8_0": ("Q8_0", "Q8_0", "Q8_0"),
        "Q4_0": ("Q4_0", "Q4_0", "Q8_0"),     # head: Q6_K, whose 256-blocks 64 does not fill -> Q8_0
        "IQ4_NL": ("IQ4_NL", "IQ4_NL", "Q8_0"),
        "Q6_K": ("Q8_0", "Q6_K", "Q8_0"),     # tensor_type_fallback: Q6_K -> Q8_0
        "Q5_K_M": ("Q5_1", "Q5_K", "Q8_0"),   # Q5_K -> Q5_1
        "Q4_K_M": ("Q5_0", "Q4_K", "Q8_0"),   # Q4_K -> Q5_0
        "Q3_K_M": ("Q4_0", "Q3_K", "Q8_0"),   # Q3_K -> Q4_0
        "Q2_K": ("Q4_0", "Q2_K", "Q8_0"),     # Q2_K -> Q4_0
        "IQ4_XS": ("IQ4_NL", "IQ4_XS", "Q8_0"),  # IQ4_XS -> IQ4_NL
        "F32": ("F32", "F32", "F32"),
    }
    for preset, (narrow, wide, head) in want.items():
        out = os.path.join(a.work, f"tiny-{preset}.gguf")
        p = quantize(a.cli, src, out, preset)
        if not check(f"C64 F256 {preset}: rwkv-cli quantize", p.returncode == 0, p.stderr.strip()[-300:]):
            continue
        _, t = tensors_of(out)
        got, bad = {}, []
        for name, (typ, ne, _) in t.items():
            if name == "output.weight":
                w = head
            elif name.endswith("channel_mix_value.weight"):
                w = wide
            elif name == "token_embd.weight" or any(name.endswith(s) for s in (
                    "time_mix_receptance.weight", "time_mix_key.weight", "time_mix_value.weight",
                    "time_mix_output.weight", "channel_mix_key.weight")):
                w = narrow
            else:  # LoRA matrices, norms, 1-D: as stored (tinygguf: F32)
                w = "F32"
            got[name] = type_name(typ)
            if type_name(typ) != w:
                bad.append(f"{name} {type_name(typ)} (expected {w})")
        check(f"C64 F256 {preset}: matrices {narrow}, channel_mix_value {wide}, head {head}, the rest as stored",
              not bad, "; ".join(bad[:8]))
        if preset in ("Q4_K_M", "IQ4_XS", "Q2_K"):
            check_layout(f"C64 F256 {preset}", out)
            runs(a.cli, f"C64 F256 {preset}", out)

    # RWKV-6: its small matrices stay as stored (llama.cpp's list: time_mix_first,
    # w1/w2, decay_w1/w2, lerp_fused); gate and receptance take the preset's type
    src6 = os.path.join(a.work, "tiny6.gguf")
    open(src6, "wb").write(tg.model("rwkv6", C=64, N=32, L=1, F=256, R=8, D=4, mat_type=tg.F16, seed=4))
    out6 = os.path.join(a.work, "tiny6-Q8_0.gguf")
    p = quantize(a.cli, src6, out6, "Q8_0")
    if check("RWKV-6 C64 Q8_0: rwkv-cli quantize", p.returncode == 0, p.stderr.strip()[-300:]):
        _, t_in = tensors_of(src6)
        _, t = tensors_of(out6)
        bad = []
        for name, (typ, ne, data) in t.items():
            kept = len(ne) < 2 or any(s in name for s in ("time_mix_first", "time_mix_w1", "time_mix_w2",
                                                           "decay_w1", "decay_w2", "lerp_fused"))
            if kept and (typ, data) != (t_in[name][0], t_in[name][2]):
                bad.append(f"{name} changed to {type_name(typ)}")
            if not kept and type_name(typ) != "Q8_0":
                bad.append(f"{name} {type_name(typ)}")
        check("RWKV-6 C64 Q8_0: LoRA, time_mix_first, lerp_fused and 1-D tensors as stored; the rest Q8_0",
              not bad, "; ".join(bad[:8]))
        runs(a.cli, "RWKV-6 C64 Q8_0", out6)

    # rows that are not whole 32-blocks: llama.cpp has no type for them
    src48 = os.path.join(a.work, "tiny-C48.gguf")
    open(src48, "wb").write(tg.model("rwkv7", C=48, N=16, L=1, F=256, R=8, mat_type=tg.F16, seed=5))
    p = quantize(a.cli, src48, os.path.join(a.work, "tiny-C48-Q4_K_M.gguf"), "Q4_K_M")
    err = p.stderr.strip()
    check("C48 Q4_K_M: refused in one line naming output.weight and its rows",
          p.returncode != 0 and err.count("\n") == 0 and "output.weight" in err and "48" in err, err[-300:])
    p = quantize(a.cli, src48, os.path.join(a.work, "tiny-C48-F16.gguf"), "F16")
    check("C48 F16: the float presets need no blocks", p.returncode == 0, p.stderr.strip()[-300:])
    p = quantize(a.cli, src, os.path.join(a.work, "tiny-t.gguf"), "Q8_0", "-t", "-1")
    check("-t -1: refused naming --threads", p.returncode != 0 and "--threads" in p.stderr, p.stderr.strip()[-300:])


def main():
    a = harness.arguments(__doc__, required=("cli", "shared", "work"))
    d = os.path.join(a.shared, "llamacpp-quants")
    if os.path.isdir(d):
        reference_files(a, d)
    else:
        harness.missing(f"{d} (llama.cpp's files, for the comparisons)")
    shape_rules(a)
    harness.finish()


if __name__ == "__main__":
    main()
