#!/usr/bin/env python3
"""make_seeds.py - seed corpora for the libFuzzer targets (nothing committed).

    make_seeds.py --out DIR [--shared ../shared/data]

writes
    DIR/models/state.gguf   the model fuzz_state loads ($RWKV_FUZZ_MODEL)
    DIR/models/cli.gguf     the model fuzz_cli runs ($RWKV_FUZZ_CLI_MODEL)
    DIR/gguf/        valid tiny models (RWKV-7/6/5; F32, F16, BF16, Q8_0, Q4_0;
                     byte and world vocabularies), the same truncated at every
                     section boundary, and hand-broken headers
    DIR/state/       valid and broken state files for state.gguf
    DIR/tokenizer/   texts (the official tokenizer cases), token id streams,
                     UTF-8 edge cases, small vocabularies
    DIR/cli/         typical command lines of every subcommand
    DIR/server/      OpenAI request bodies and replies (fuzz_server's input layout)
"""
import argparse
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tinygguf as tg  # noqa: E402


def write(d, name, data):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def broken_headers(valid):
    """Hand-made corruptions of a valid file's header (name, bytes)."""
    out = []
    secs = tg.sections(valid)
    infos = tg.tensor_infos(valid)
    b = bytearray(valid)
    out.append(("bad-magic", b"GGUG" + valid[4:]))
    for v in (1, 4, 0xFFFFFFFF):
        x = bytearray(valid)
        struct.pack_into("<I", x, 4, v)
        out.append((f"version-{v}", bytes(x)))
    for field, at in (("tensors", 8), ("kvs", 16)):
        for v in (2 ** 63, 2 ** 64 - 1, 10 ** 6):
            x = bytearray(valid)
            struct.pack_into("<Q", x, at, v)
            out.append((f"count-{field}-{v}", bytes(x)))
    # a string length past the end, in the first key
    x = bytearray(valid)
    struct.pack_into("<Q", x, 24, 2 ** 64 - 8)
    out.append(("key-length-huge", bytes(x)))
    # the first tensor: dims overflow, offset past the end, misaligned, n_dims 5, unknown type
    name = next(iter(infos))
    start, ne, typ, off, _ = infos[name]
    p = start + 8 + len(name)
    for tag, patch in (("dim-overflow", lambda x: struct.pack_into("<Q", x, p + 4, 2 ** 62)),
                       ("dim-zero", lambda x: struct.pack_into("<Q", x, p + 4, 0)),
                       ("ndims-5", lambda x: struct.pack_into("<I", x, p, 5)),
                       ("offset-past-end", lambda x: struct.pack_into("<Q", x, p + 4 + 8 * len(ne) + 4, 2 ** 40)),
                       ("offset-misaligned", lambda x: struct.pack_into("<Q", x, p + 4 + 8 * len(ne) + 4, off + 4)),
                       ("type-unknown", lambda x: struct.pack_into("<I", x, p + 4 + 8 * len(ne), 99)),
                       ("type-q4_1", lambda x: struct.pack_into("<I", x, p + 4 + 8 * len(ne), tg.Q4_1))):
        x = bytearray(valid)
        patch(x)
        out.append((tag, bytes(x)))
    # overlapping: the second tensor at the first one's offset
    names = list(infos)
    s2, ne2, _, _, _ = infos[names[1]]
    x = bytearray(valid)
    struct.pack_into("<Q", x, s2 + 8 + len(names[1]) + 4 + 8 * len(ne2) + 4, off)
    out.append(("overlap", bytes(x)))
    # duplicated tensor name (same length: rename the second to the first)
    if len(names[0]) == len(names[1]):
        x = bytearray(valid)
        x[s2 + 8:s2 + 8 + len(names[1])] = names[0].encode()
        out.append(("duplicate-tensor", bytes(x)))
    del b, secs
    return out


def gguf_corpus(d):
    models = {
        "v7-byte-f32": tg.model(),
        "v7-byte-bf16-align64": tg.model(mat_type=tg.BF16, vec_type=tg.BF16, alignment=64, L=1),
        "v7-world-f16": tg.model(C=8, N=4, vocab="world", mat_type=tg.F16, L=1),
        "v7-world-q8_0": tg.model(C=32, N=16, F=32, R=2, L=1, vocab="world", mat_type=tg.Q8_0),
        "v7-byte-q4_0": tg.model(C=32, N=32, F=32, R=1, L=1, mat_type=tg.Q4_0, vec_type=tg.F16),
        "v7-notypes": tg.model(L=1, with_types=False, vocab="world"),
        "v6-byte": tg.model(arch="rwkv6", L=1),
        "v5-world": tg.model(arch="rwkv5", vocab="world", L=1),
    }
    for name, data in models.items():
        write(d, name + ".gguf", data)
    base = models["v7-byte-f32"]
    for i, (sec, start, end) in enumerate(tg.sections(base)):
        write(d, f"trunc-{i:03d}.gguf", base[:start])
    for name, data in broken_headers(base):
        write(d, name + ".gguf", data)
    # small hand-built files: no tensors, only metadata of every type
    kvs = [tg.kv("a", tg.U8, 1), tg.kv("b", tg.I64, -1), tg.kv("c", tg.F64, 1.5), tg.kv("d", tg.BOOL, True),
           tg.kv("e", tg.ARR, [1, 2, 3], tg.U16), tg.kv("f", tg.ARR, [b"x", b""], tg.STR),
           tg.kv("general.alignment", tg.U32, 8)]
    write(d, "meta-only.gguf", tg.build(kvs, []))
    # regressions: findings of earlier runs
    q8 = models["v7-world-q8_0"]
    infos = tg.tensor_infos(q8)
    _, ne, typ, off, ds = infos["blk.0.time_mix_w1.weight"]  # an F32 LoRA matrix: NaN activations follow
    nan = bytearray(q8)
    struct.pack_into("<f", nan, ds + 8, float("nan"))
    write(d, "regression-nan-weight-q8_0.gguf", bytes(nan))  # NaN into the Q8_0 activation quantizer
    inf = bytearray(models["v7-byte-f32"])
    _, ne, typ, off, ds = tg.tensor_infos(base)["output.weight"]
    struct.pack_into("<f", inf, ds, float("inf"))
    write(d, "regression-inf-head.gguf", bytes(inf))
    write(d, "v2-empty.gguf", tg.build([], [], version=2))
    write(d, "empty", b"")


def state_corpus(d, model):
    good = tg.state_file(model, 0.25)
    write(d, "valid.state", good)
    write(d, "zeros.state", tg.state_file(model, 0.0))
    write(d, "truncated.state", good[:len(good) // 2])
    write(d, "header-only.state", good[:64])
    write(d, "extra.state", good + b"\0")
    write(d, "nan.state", tg.state_file(model, float("nan")))
    write(d, "other-id.state", tg.state_file(model, 0.0, model_id=12345))
    write(d, "file-order-id.state", tg.state_file(model, 0.25, file_order=True))
    write(d, "other-arch.state", tg.state_file(model, 0.0, arch=6))
    write(d, "other-shape.state", tg.state_file(model, 0.0, shape=(1, 8, 2, 4)))
    bad = bytearray(good)
    bad[8] = 2
    write(d, "version2.state", bytes(bad))
    write(d, "garbage.state", b"RWKVSTA" + b"\xff" * 60)
    write(d, "regression-short-header.state", b"RWKVSTAT\x01\x00")  # was read as uninitialised memory


def tokenizer_corpus(d, shared):
    cases = os.path.join(shared, "tokenizer", "cases.jsonl")
    texts = []
    if os.path.exists(cases):
        for line in open(cases):
            c = json.loads(line)
            texts.append((c["name"], bytes.fromhex(c["hex"]), c["ids"]))
    else:
        print(f"make_seeds: {cases} missing; tokenizer seeds without the official cases", file=sys.stderr)
    for i, (name, text, ids) in enumerate(texts):
        write(d, f"enc-{i:03d}", b"\x00" + text)
        write(d, f"ids-{i:03d}", b"\x01" + b"".join(struct.pack("<H", x) for x in ids[:2000]))
    edge = ["\u4e2d\u6587 \U0001F600 caf\u00e9".encode(), b"\xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf \xe0\x80\xaf",
            b"\xe4\xb8", b"\xf0\x9f\x98", b"\x00\x00\xff\xfe", b"\x80\x80\xbf"]
    for i, e in enumerate(edge):
        write(d, f"utf8-{i}", b"\x02" + e)
        write(d, f"enc-edge-{i}", b"\x00" + e)
    # mode 3: flags, then one escaped token text per line (+ the bytes to encode)
    bytes_lines = b"\n".join(tg.token_text(bytes([i])) for i in range(256) if i != 10) + b"\n\\n"
    write(d, "vocab-bytes", b"\x03\x00" + bytes_lines + b"\nab\nabc\n\\xe4\\xb8\n")
    write(d, "vocab-typed", b"\x03\x02" + bytes_lines + b"\n#ctl\nthe\n")
    write(d, "vocab-identity", b"\x03\x05hello")
    write(d, "vocab-bad-escape", b"\x03\x00a\\x4\n\\q\n")


CLI_SEEDS = [
    # (command index as in fuzz_cli.cpp, args)
    (0, ["-n", "8", "--temp", "0", "In the"]),
    (0, ["-n", "4", "--seed", "3", "--top-k", "5", "--top-p", "0.5", "--stop", "e", "--no-display-prompt", "ab"]),
    (0, ["-n", "3", "--state-in", "s.state", "--state-out", "o.state", "x"]),
    (0, ["-n", "2", "-t", "2", "--presence-penalty", "1", "--frequency-penalty", "0.5", "--penalty-decay", "0.9", ""]),
    (0, ["--isa", "scalar", "-n", "1", "\xe4\xb8\xad"]),
    (1, ["--tokens", "1,2,3", "--all", "-o", "out.f32"]),
    (1, ["--prompt", "In the", "--token-mode", "--chunk", "2", "-o", "-"]),
    (1, ["--tokens", "5", "--state-in", "s.state", "--state-out", "x.state", "-o", "o"]),
    (2, ["In the beginning"]),
    (2, ["-"]),
    (3, ["--tensors", "--check"]),
    (4, ["m.gguf", "q.gguf", "q8_0"]),
    (4, ["m.gguf", "q.gguf", "Q4_0"]),
    (5, ["-f", "t.txt", "--chunk", "3", "-q"]),
    (5, ["-f", "t.txt", "--state-out", "p.state"]),
    (6, ["--system", "be brief", "-n", "3", "--temp", "0"]),
    (7, ["-p", "8", "-n", "2", "-r", "1", "-o", "json"]),
    (8, ["--lengths", "64,128", "--depths", "0,50,100", "--digits", "3"]),
    (9, ["--head-size", "8", "--seed", "2"]),
    (10, ["-f", "r.jsonl", "-b", "2"]),
    (10, ["-f", "r.jsonl", "--unordered", "-o", "o.jsonl", "--temp", "0"]),
    (10, ["-f", "r.jsonl", "--resume", "o.jsonl", "--shard", "1/2"]),
    (10, ["-f", "t.txt", "-q"]),
    (0, ["--help"]),
    (0x80 | 0, ["-m", "t.txt", "x"]),
    (0x80 | 3, []),
    # regressions: integers that cxxopts wrapped silently
    (0, ["--top-k", "9999999999", "-n", "2", "x"]),
    (0, ["-n", "20496382304121724020", "x"]),
    (8, ["--seed", "20496382304121724020"]),
]


def cli_corpus(d):
    for i, (cmd, args) in enumerate(CLI_SEEDS):
        write(d, f"cli-{i:02d}", bytes([cmd]) + b"\0".join(a.encode("latin-1") for a in args))


SERVER_SEEDS = [
    (0x80, b'{"messages":[{"role":"user","content":"hi"}]}', b" Hello there."),
    (0x60, b'{"messages":[{"role":"system","content":"a\n\nb"},{"role":"user","content":[{"type":"text","text":"x"}]},'
           b'{"role":"assistant","content":"y"},{"role":"user","content":"z"}],"max_tokens":5,"temperature":0.5,'
           b'"top_p":0.9,"top_k":3,"stop":["\n"],"seed":7,"stream":true,"stream_options":{"include_usage":true}}',
     b">\nthinking</think>\n answer"),
    (0x90, b'{"messages":[{"role":"user","content":"q"}],"reasoning_effort":"high","logit_bias":{"0":-100}}',
     b">reason</thi"),
    (0x41, b'{"prompt":"In the beginning","max_tokens":3,"presence_penalty":0.1,"penalty_decay":0.99}', b" \xe4\xb8"),
    (0x41, b'{"prompt":["x"],"think":true,"n":1}', b"\xff\xfe abc</think>"),
]


def server_corpus(d):
    for i, (head, body, reply) in enumerate(SERVER_SEEDS):
        # byte 0: bit 0 the endpoint, bits 1..7 where the body ends (in 127ths of the rest)
        rest = body + reply
        cut = min(127, len(body) * 127 // len(rest))
        write(d, f"server-{i:02d}", bytes([(head & 1) | (cut << 1)]) + rest)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                     "shared", "data"))
    a = ap.parse_args()
    state_model = tg.model()  # RWKV-7, byte vocabulary, C 8, 2 layers
    cli_model = tg.model(C=32, N=16, F=32, R=2, L=2, vocab="world", mat_type=tg.F16)
    write(os.path.join(a.out, "models"), "state.gguf", state_model)
    write(os.path.join(a.out, "models"), "cli.gguf", cli_model)
    gguf_corpus(os.path.join(a.out, "gguf"))
    state_corpus(os.path.join(a.out, "state"), state_model)
    tokenizer_corpus(os.path.join(a.out, "tokenizer"), a.shared)
    cli_corpus(os.path.join(a.out, "cli"))
    server_corpus(os.path.join(a.out, "server"))
    n = sum(len(files) for _, _, files in os.walk(a.out))
    print(f"make_seeds: {n} files in {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
