"""tinygguf.py - tiny GGUF files, built and taken apart byte by byte.

Used by fuzz/make_seeds.py (seed corpora) and tests/test_bad_input.py (broken
files with exact expectations). Independent of scripts/gguf_writer.py on
purpose: a second, minimal implementation of the format, able to write any
tensor type as raw bytes and to lay out files no sane writer would.

    data = rwkv7_model(C=8, N=4, L=2)          # a valid tiny RWKV-7 GGUF
    for name, start, end in sections(data):    # header fields, each KV, each
        ...                                    # tensor info, padding, data
"""
from __future__ import annotations

import struct

import numpy as np

# ggml tensor types
F32, F16, Q4_0, Q4_1, Q5_0, Q8_0, BF16 = 0, 1, 2, 3, 6, 8, 30
# GGUF metadata value types
U8, I8, U16, I16, U32, I32, F32V, BOOL, STR, ARR, U64, I64, F64 = range(13)
SCALAR_FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32V: "<f", BOOL: "<?",
              U64: "<Q", I64: "<q", F64: "<d"}

TOKEN_NORMAL, TOKEN_CONTROL, TOKEN_UNUSED = 1, 3, 5


def gstr(b) -> bytes:
    if isinstance(b, str):
        b = b.encode()
    return struct.pack("<Q", len(b)) + b


# ---------------------------------------------------------------- metadata values

def kv(key, vtype, value, elem=None) -> bytes:
    """One metadata entry: key, type, value."""
    out = gstr(key) + struct.pack("<I", vtype)
    if vtype == STR:
        return out + gstr(value)
    if vtype == ARR:
        out += struct.pack("<IQ", elem, len(value))
        if elem == STR:
            return out + b"".join(gstr(v) for v in value)
        return out + b"".join(struct.pack(SCALAR_FMT[elem], v) for v in value)
    return out + struct.pack(SCALAR_FMT[vtype], value)


# ---------------------------------------------------------------- tensor data

def f16_bytes(x):
    return np.asarray(x, dtype="<f2").tobytes()


def bf16_bytes(x):
    u = np.asarray(x, dtype="<f4").view("<u4").astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2").tobytes()


def q8_0_bytes(x):
    x = np.asarray(x, dtype=np.float32).reshape(-1, 32)
    out = bytearray()
    for blk in x:
        d = float(np.abs(blk).max()) / 127.0
        q = np.round(blk / d).astype(np.int8) if d else np.zeros(32, np.int8)
        out += np.float16(d).tobytes() + q.tobytes()
    return bytes(out)


def q4_0_bytes(x):
    x = np.asarray(x, dtype=np.float32).reshape(-1, 32)
    out = bytearray()
    for blk in x:
        m = blk[np.argmax(np.abs(blk))]
        d = float(m) / -8.0
        q = np.clip(np.round(blk / d) + 8, 0, 15).astype(np.uint8) if d else np.full(32, 8, np.uint8)
        out += np.float16(d).tobytes() + (q[:16] | (q[16:] << 4)).astype(np.uint8).tobytes()
    return bytes(out)


ENCODE = {F32: lambda x: np.asarray(x, dtype="<f4").tobytes(), F16: f16_bytes, BF16: bf16_bytes,
          Q8_0: q8_0_bytes, Q4_0: q4_0_bytes}
BLOCK = {F32: (1, 4), F16: (1, 2), BF16: (1, 2), Q8_0: (32, 34), Q4_0: (32, 18), Q4_1: (32, 20), Q5_0: (32, 22)}


def nbytes(ggml_type, ne) -> int:
    blk, size = BLOCK[ggml_type]
    n = 1
    for d in ne[1:]:
        n *= d
    return ne[0] // blk * size * n


# ---------------------------------------------------------------- files

def build(kvs, tensors, version=3, alignment=32, n_kv=None, n_tensors=None) -> bytes:
    """kvs: encoded entries (kv()); tensors: (name, ne, type, data bytes[, offset]).
    Offsets default to the packed, aligned layout."""
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors) if n_tensors is None else n_tensors,
                                 len(kvs) if n_kv is None else n_kv)
    head += b"".join(kvs)
    offset, infos, blobs = 0, [], []
    for t in tensors:
        name, ne, typ, data = t[:4]
        off = t[4] if len(t) > 4 else offset
        infos.append(gstr(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne) +
                     struct.pack("<IQ", typ, off))
        blobs.append((off, data))
        offset = max(offset, (off + len(data) + alignment - 1) // alignment * alignment)
    head += b"".join(infos)
    head += bytes(-len(head) % alignment)
    body = bytearray(offset)
    for off, data in blobs:
        body[off:off + len(data)] = data
    return head + bytes(body)


def sections(data: bytes):
    """[(name, start, end)] of every part of a GGUF: magic, version, the two
    counts, each metadata entry, each tensor info, the padding, each tensor's
    data. Assumes a valid file."""
    out, pos = [], 0

    def take(name, n):
        nonlocal pos
        out.append((name, pos, pos + n))
        pos += n

    def u32(at):
        return struct.unpack_from("<I", data, at)[0]

    def u64(at):
        return struct.unpack_from("<Q", data, at)[0]

    take("magic", 4)
    take("version", 4)
    n_tensors = u64(pos)
    take("tensor count", 8)
    n_kv = u64(pos)
    take("metadata count", 8)
    alignment = 32
    for _ in range(n_kv):
        start = pos
        key = data[pos + 8:pos + 8 + u64(pos)].decode("utf-8", "replace")
        p = pos + 8 + u64(pos)
        vtype = u32(p)
        p += 4

        def value_end(vt, p):
            if vt == STR:
                return p + 8 + u64(p)
            return p + struct.calcsize(SCALAR_FMT[vt])

        if vtype == ARR:
            elem, count = u32(p), u64(p + 4)
            p += 12
            for _ in range(count):
                p = value_end(elem, p)
        else:
            if key == "general.alignment":
                alignment = u32(p)
            p = value_end(vtype, p)
        pos = start
        take("metadata '%s'" % key, p - start)
    infos = []
    for _ in range(n_tensors):
        start = pos
        name = data[pos + 8:pos + 8 + u64(pos)].decode()
        p = pos + 8 + u64(pos)
        n_dims = u32(p)
        ne = [u64(p + 4 + 8 * d) for d in range(n_dims)]
        p += 4 + 8 * n_dims
        typ, off = u32(p), u64(p + 4)
        p += 12
        infos.append((name, ne, typ, off))
        pos = start
        take("tensor info '%s'" % name, p - start)
    data_start = (pos + alignment - 1) // alignment * alignment
    take("padding", data_start - pos)
    for name, ne, typ, off in sorted(infos, key=lambda t: t[3]):
        pos = data_start + off
        take("data of '%s'" % name, nbytes(typ, ne))
    return out


# ---------------------------------------------------------------- vocabularies

def token_text(b: bytes) -> bytes:
    """llama.cpp's text of a token: repr(bytes)[2:-1]."""
    return repr(b)[2:-1].encode()


def byte_vocab():
    return [token_text(bytes([i])) for i in range(256)], [TOKEN_NORMAL] * 256


EXTRA_WORDS = [b"the", b" the", b"\n\n", b"in", b"In", b" beginning", "\u4e2d\u6587".encode(), b"\xe4\xb8",
               b"ab", b"abc", b"abcd", b"User", b"Assistant", b"User:", b" pass key", b"\"\""]


def world_vocab(n_vocab):
    """A small world-style vocabulary: <s>, the 256 bytes, some words, [PADn]."""
    toks = [b"<s>"] + [token_text(bytes([i])) for i in range(256)] + [token_text(w) for w in EXTRA_WORDS]
    types = [TOKEN_CONTROL] + [TOKEN_NORMAL] * (len(toks) - 1)
    assert n_vocab >= len(toks)
    while len(toks) < n_vocab:
        toks.append(b"[PAD%d]" % len(toks))
        types.append(TOKEN_UNUSED)
    return toks, types


# ---------------------------------------------------------------- models

def _rng(seed):
    return np.random.default_rng(seed)


def model(arch="rwkv7", C=8, N=4, L=2, F=16, R=2, D=2, vocab="byte", n_vocab=None, mat_type=F32, vec_type=F32,
          seed=1, alignment=32, with_types=True, extra_kvs=(), tokens=None, types=None, rows=None,
          vocab_kvs=None) -> bytes:
    """A complete, loadable model of the given architecture with random weights.
    R: RWKV-7 LoRA rank (all four); D, R: RWKV-6 token-shift and decay LoRA ranks.
    tokens/types replace the vocabulary; rows, the embedding rows (default: one per token);
    vocab_kvs, the tokenizer metadata entries."""
    g = _rng(seed)
    if vocab == "byte":
        toks, typs = byte_vocab()
    else:
        toks, typs = world_vocab(n_vocab or 256 + 1 + len(EXTRA_WORDS) + 3)
    toks = toks if tokens is None else tokens
    types = typs if types is None else types
    V = len(toks) if rows is None else rows
    tensors = []

    def add(name, ne, typ=None, scale=0.3, center=0.0):
        typ = mat_type if typ is None else typ
        n = int(np.prod(ne))
        x = (g.standard_normal(n) * scale + center).astype(np.float32)
        if ggml_rowsize_ok(typ, ne[0]) is False:
            typ = F32
        tensors.append((name, tuple(ne), typ, ENCODE[typ](x)))

    def vec(name, n, center=0.0, scale=0.1):
        add(name, (n,), vec_type, scale, center)

    add("token_embd.weight", (C, V), scale=1.0)
    vec("token_embd_norm.weight", C, 1.0)
    vec("token_embd_norm.bias", C)
    for l in range(L):
        p = f"blk.{l}."
        vec(p + "attn_norm.weight", C, 1.0)
        vec(p + "attn_norm.bias", C)
        vec(p + "attn_norm_2.weight", C, 1.0)
        vec(p + "attn_norm_2.bias", C)
        if arch == "rwkv7":
            add(p + "time_mix_lerp_fused.weight", (C, 1, 1, 6), vec_type, 0.2, 0.5)
            vec(p + "time_mix_w0.weight", C, -1.0)
            vec(p + "time_mix_a0.weight", C)
            if l > 0:
                vec(p + "time_mix_v0.weight", C)
            for m in ("w", "a", "g") + (("v",) if l > 0 else ()):
                add(p + f"time_mix_{m}1.weight", (C, R), F32)
                add(p + f"time_mix_{m}2.weight", (R, C), F32)
            vec(p + "time_mix_k_k.weight", C, 0.8)
            vec(p + "time_mix_k_a.weight", C, 1.0)
            vec(p + "time_mix_r_k.weight", C)
        elif arch == "rwkv6":
            vec(p + "time_mix_lerp_x.weight", C, 0.5)
            add(p + "time_mix_lerp_fused.weight", (C, 1, 1, 5), vec_type, 0.2, 0.5)
            add(p + "time_mix_w1.weight", (C, 5 * D), F32)
            add(p + "time_mix_w2.weight", (D, C, 5), F32)
            vec(p + "time_mix_decay.weight", C, -1.0)
            add(p + "time_mix_decay_w1.weight", (C, R), F32)
            add(p + "time_mix_decay_w2.weight", (R, C), F32)
        else:
            for m in "kvrg":
                vec(p + f"time_mix_lerp_{m}.weight", C, 0.5)
            vec(p + "time_mix_decay.weight", C, -1.0)
        if arch != "rwkv7":
            vec(p + "time_mix_first.weight", C)
        for m in ("receptance", "key", "value") + (("gate",) if arch != "rwkv7" else ()) + ("output",):
            add(p + f"time_mix_{m}.weight", (C, C), scale=C ** -0.5)
        vec(p + "time_mix_ln.weight", C, 1.0)
        vec(p + "time_mix_ln.bias", C)
        vec(p + "channel_mix_lerp_k.weight", C, 0.5)
        if arch != "rwkv7":
            vec(p + "channel_mix_lerp_r.weight", C, 0.5)
            add(p + "channel_mix_receptance.weight", (C, C), scale=C ** -0.5)
        add(p + "channel_mix_key.weight", (C, F), scale=C ** -0.5)
        add(p + "channel_mix_value.weight", (F, C), scale=F ** -0.5)
    vec("output_norm.weight", C, 1.0)
    vec("output_norm.bias", C)
    add("output.weight", (C, V), scale=C ** -0.5)

    kvs = [kv("general.architecture", STR, arch),
           kv(f"{arch}.embedding_length", U32, C), kv(f"{arch}.block_count", U32, L),
           kv(f"{arch}.feed_forward_length", U32, F), kv(f"{arch}.wkv.head_size", U32, N),
           kv(f"{arch}.attention.layer_norm_epsilon", F32V, 1e-5)]
    if alignment != 32:
        kvs.append(kv("general.alignment", U32, alignment))
    kvs += list(extra_kvs)
    if vocab_kvs is not None:  # the tokenizer entries, replaced wholesale
        kvs += list(vocab_kvs)
    else:
        kvs += [kv("tokenizer.ggml.model", STR, "rwkv"), kv("tokenizer.ggml.tokens", ARR, toks, STR)]
        if with_types:
            kvs.append(kv("tokenizer.ggml.token_type", ARR, types, I32))
    return build(kvs, tensors, alignment=alignment)


def ggml_rowsize_ok(typ, n):
    blk = BLOCK[typ][0]
    return n % blk == 0


def tensor_infos(data: bytes):
    """{name: (info_start, ne, type, offset, data_start)} of a valid file."""
    secs = sections(data)
    out = {}
    data_start = [s for s in secs if s[0] == "padding"][0][2]
    for name, start, end in secs:
        if name.startswith("tensor info '"):
            tname = name[len("tensor info '"):-1]
            p = start + 8 + len(tname.encode())
            n_dims = struct.unpack_from("<I", data, p)[0]
            ne = struct.unpack_from(f"<{n_dims}Q", data, p + 4)
            typ, off = struct.unpack_from("<IQ", data, p + 4 + 8 * n_dims)
            out[tname] = (start, ne, typ, off, data_start + off)
    return out


# ---------------------------------------------------------------- state files

def fnv1a(h, b: bytes) -> int:
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


ARCH_NUM = {"rwkv5": 5, "rwkv6": 6, "rwkv7": 7}


def state_file(data: bytes, fill=0.0, model_id=None, arch=None, shape=None, file_order=False) -> bytes:
    """A state file for the model `data` (as rwkv-cli writes it), every value
    `fill`; model_id/arch/shape override the header fields; file_order: the
    older model id, over the vectors in file order instead of by name."""
    secs = sections(data)
    infos = tensor_infos(data)
    meta = {}
    for name, start, end in secs:
        if name.startswith("metadata '"):
            key = name[len("metadata '"):-1]
            p = start + 8 + len(key.encode())
            vtype = struct.unpack_from("<I", data, p)[0]
            if vtype == U32:
                meta[key] = struct.unpack_from("<I", data, p + 4)[0]
            elif vtype == STR:
                n = struct.unpack_from("<Q", data, p + 4)[0]
                meta[key] = data[p + 12:p + 12 + n].decode()
    a = meta["general.architecture"]
    C, L, F, N = (meta[f"{a}.{k}"] for k in ("embedding_length", "block_count", "feed_forward_length",
                                                "wkv.head_size"))
    H = C // N
    V = infos["token_embd.weight"][1][1]
    h = fnv1a(0xcbf29ce484222325, struct.pack("<7q", ARCH_NUM[a], L, C, H, N, V, F))
    vectors = []
    for name, start, end in secs:
        if not name.startswith("tensor info '"):
            continue
        tname = name[len("tensor info '"):-1]
        _, ne, typ, off, ds = infos[tname]
        ne4 = list(ne) + [1] * (4 - len(ne))
        vector = ne4[1] * ne4[2] * ne4[3] == 1 or "lerp_fused" in tname
        if typ == F32 and vector:
            vectors.append((tname.encode(), data[ds:ds + nbytes(typ, list(ne))]))
    for tname, values in (vectors if file_order else sorted(vectors)):
        h = fnv1a(fnv1a(h, tname), values)
    if model_id is not None:
        h = model_id
    n_layer, n_embd, n_head, head_size = shape if shape else (L, C, H, N)
    header = b"RWKVSTAT" + struct.pack("<II", 1, ARCH_NUM[a] if arch is None else arch) + \
        struct.pack("<QQQQQ", n_layer, n_embd, n_head, head_size, h)
    n = L * (2 * C + H * N * N)
    return header + np.full(n, fill, dtype="<f4").tobytes()


def read_kvs(data: bytes) -> dict:
    """{key: value} of a valid file's metadata: numbers, strings (bytes) and
    arrays (lists)."""
    out = {}
    pos = 24
    n_kv = struct.unpack_from("<Q", data, 16)[0]

    def value(vt, p):
        if vt == STR:
            n = struct.unpack_from("<Q", data, p)[0]
            return data[p + 8:p + 8 + n], p + 8 + n
        fmt = SCALAR_FMT[vt]
        return struct.unpack_from(fmt, data, p)[0], p + struct.calcsize(fmt)

    for _ in range(n_kv):
        key, pos = value(STR, pos)
        vt = struct.unpack_from("<I", data, pos)[0]
        pos += 4
        if vt == ARR:
            elem, count = struct.unpack_from("<IQ", data, pos)
            pos += 12
            arr = []
            for _ in range(count):
                v, pos = value(elem, pos)
                arr.append(v)
            out[key.decode()] = arr
        else:
            out[key.decode()], pos = value(vt, pos)
    return out


def unescape(text: bytes) -> bytes:
    """A token text (repr(bytes)[2:-1]: \\n \\t \\r \\\\ \\' \\" \\xHH escapes) back to its bytes."""
    out, i = bytearray(), 0
    simple = {ord("n"): 10, ord("t"): 9, ord("r"): 13, ord("\\"): 92, ord("'"): 39, ord('"'): 34}
    while i < len(text):
        c = text[i]
        if c != 92:
            out.append(c)
            i += 1
        elif text[i + 1] in simple:
            out.append(simple[text[i + 1]])
            i += 2
        elif text[i + 1] == ord("x"):
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        else:
            raise ValueError(f"bad escape in {text!r}")
    return bytes(out)
