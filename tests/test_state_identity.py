#!/usr/bin/env python3
"""State files across a model's files: the model identity (docs/state.md)
does not depend on tensor order, so a state carries over between a model and
llama.cpp's quants of it, while older (file-order) identities still load.

With models/rwkv7-kjv-byte.gguf (F16) and the twelve files llama-quantize
made from it (../shared/data/llamacpp-quants/kjv-*.gguf, tensors reordered):
  - every file gets the F16 file's model id, from rwkv-cli and from
    scripts/state_file.py alike (their file-order ids differ: the old
    identity would refuse the quants);
  - a state saved with the F16 file after a King James prefix loads into each
    quant and continues the text: the next byte's argmax equals the F16 file's
    wherever the F16 file's top two logits are not near a tie, and the logits
    are as close to the F16 file's as the quant's own run over prefix and
    continuation (a zero state is about 1 x std off, 3 to 48 times further);
  - a state saved with a quant loads into the F16 file;
  - a state carrying the older file-order id (the id rwkv-cli wrote before,
    pinned here) loads and gives the same logits as the current one; a quant's
    file-order id loads into that quant;
  - refused: a state for another shape, and a state (either id) for a copy of
    the F16 file with one norm weight changed.
Each check prints PASS/FAIL; the last line is "N passed, M failed".

usage: test_state_identity.py --cli build/rwkv-cli --shared ../shared/data --work build/test_state_identity
"""
import glob
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, HERE)
import state_file  # noqa: E402
from gguf_writer import read_gguf_header  # noqa: E402
import harness  # noqa: E402
from harness import check, rel_diff, run  # noqa: E402

F16 = os.path.join(ROOT, "models", "rwkv7-kjv-byte.gguf")
# The id rwkv-cli wrote for the F16 file while the identity hashed tensors in
# file order: existing state files carry it.
F16_FILE_ORDER_ID = 0xE8BF75173408E653
ID_AT = 48   # the model id's offset in a state file: magic, version, arch, four shape fields
MARGIN = 0.2   # logits: where F16's top two are closer, a quant may swap them (measured: 0.036 .. 0.114)
OWN = 1.25     # from the F16 state vs the quant's own run, both against F16 (measured 0.59x .. 1.07x)
CLI = None
WORK = None


def logits(model, tokens, *extra):
    """(logits [T, V] of every position, or None, stderr)."""
    out = os.path.join(WORK, "logits.f32")
    rc, _, err = run([CLI, "logits", "-m", model, "--tokens", ",".join(map(str, tokens)), "--all", "-o", out,
                      *extra])
    return (np.fromfile(out, "<f4").reshape(len(tokens), -1) if rc == 0 else None), err


def state_id(path):
    return state_file.read_state(path)[0]["model_id"]


def with_id(src, dst, model_id):
    """A copy of the state file src carrying model_id."""
    data = bytearray(open(src, "rb").read())
    struct.pack_into("<Q", data, ID_AT, model_id)
    open(dst, "wb").write(bytes(data))
    return dst


def refused(name, model, st, needle):
    _, err = logits(model, [65], "--state-in", st)
    check(f"refused: {name}", needle in err and err.count("\n") == 1, err.strip() or "loaded")


def main():
    global CLI, WORK
    a = harness.arguments(__doc__, required=("cli", "shared", "work"))
    CLI, WORK = a.cli, a.work
    quants = sorted(glob.glob(os.path.join(a.shared, "llamacpp-quants", "kjv-*.gguf")))
    other_shape = os.path.join(a.shared, "llamacpp-gguf", "v7-L2-D64-s9-llamacpp-f16.gguf")
    if len(quants) != 12:
        harness.missing(f"{a.shared}/llamacpp-quants (12 kjv-*.gguf)")
        harness.finish()
    harness.require_files(other_shape)

    text = open(os.path.join(a.shared, "llamacpp-quants", "text.txt"), "rb").read()
    prefix, cont = list(text[:96]), list(text[96:128])   # byte vocabulary: token id = byte
    st = os.path.join(WORK, "f16.state")
    _, err = logits(F16, prefix, "--state-out", st)
    want, err2 = logits(F16, cont, "--state-in", st)
    if not check("F16: save the state after the prefix, continue from it", want is not None, err + err2):
        harness.finish()
    f16_id = state_id(st)
    top2 = np.sort(want, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    info = state_file.model_info(F16)
    check(f"F16: rwkv-cli's model id {f16_id:016x} == state_file.py's", info["model_id"] == f16_id,
          f"{info['model_id']:016x}")
    check(f"F16: file-order id {info['model_id_file_order']:016x} is the one rwkv-cli wrote before",
          info["model_id_file_order"] == F16_FILE_ORDER_ID, f"{F16_FILE_ORDER_ID:016x}")

    for q in quants:
        tag = os.path.basename(q)[len("kjv-"):-len(".gguf")]
        qi = state_file.model_info(q)
        check(f"{tag}: state_file.py's model id is the F16 file's (file-order id {qi['model_id_file_order']:016x} "
              f"is not)", qi["model_id"] == f16_id and qi["model_id_file_order"] != info["model_id_file_order"],
              f"{qi['model_id']:016x}")
        qst = os.path.join(WORK, f"{tag}.state")
        got, err = logits(q, cont, "--state-in", st, "--state-out", qst)
        if not check(f"{tag}: loads the F16 file's state", got is not None, err.strip()):
            continue
        check(f"{tag}: rwkv-cli saves its states with the F16 file's model id", state_id(qst) == f16_id,
              f"{state_id(qst):016x}")
        own, _ = logits(q, prefix + cont)   # the quant's own state after the prefix
        own = own[len(prefix):]
        sure = margin >= MARGIN
        match = int((got.argmax(axis=1) == want.argmax(axis=1))[sure].sum())
        d, d_own = rel_diff(got, want), rel_diff(own, want)
        check(f"{tag}: from the F16 state, next-byte argmax == F16's at {match}/{sure.sum()} positions where "
              f"F16's top two are >= {MARGIN} apart; max |diff| / std vs F16 {d:.2g}, the quant's own run "
              f"{d_own:.2g} (bound {OWN:g}x)", match == sure.sum() and d <= OWN * d_own, f"{match} {d:g} {d_own:g}")

    # the other way round: a quant's state into the F16 file
    q4 = os.path.join(WORK, "Q4_K_M.state")
    back, err = logits(F16, cont, "--state-in", q4)
    check("F16 loads a state saved with Q4_K_M", back is not None, err.strip())

    # older state files: the file-order identity
    old = with_id(st, os.path.join(WORK, "file-order.state"), F16_FILE_ORDER_ID)
    got, err = logits(F16, cont, "--state-in", old)
    check("F16 loads a state with its file-order id: the same logits, bit for bit",
          got is not None and np.array_equal(got, want), err.strip())
    resaved = os.path.join(WORK, "resaved.state")
    logits(F16, [65], "--state-in", old, "--state-out", resaved)
    check("re-saving it writes the current id", os.path.exists(resaved) and state_id(resaved) == f16_id)
    q8 = [q for q in quants if q.endswith("kjv-Q8_0.gguf")][0]
    q8_old = with_id(st, os.path.join(WORK, "q8-file-order.state"), state_file.model_info(q8)["model_id_file_order"])
    got, err = logits(q8, cont, "--state-in", q8_old)
    check("Q8_0 loads a state with its own file-order id", got is not None, err.strip())

    # another model: another shape; one changed norm weight (same shape and order)
    small = os.path.join(WORK, "other-shape.state")
    _, err = logits(other_shape, [65], "--state-out", small)
    refused("a state for another shape", F16, small, "the state is for another model shape")
    changed = os.path.join(WORK, "changed-norm.gguf")
    data = bytearray(open(F16, "rb").read())
    c = read_gguf_header(F16)
    off = [o for name, _, _, o in c.tensor_infos if name == "blk.0.attn_norm.weight"][0]
    struct.pack_into("<f", data, c.data_offset + off, struct.unpack_from("<f", data, c.data_offset + off)[0] * 1.5)
    open(changed, "wb").write(bytes(data))
    refused("the F16 state, for a copy with one norm weight changed", changed, st,
            "the state was made with another model of the same shape")
    refused("the F16 state with its file-order id, for that copy", changed, old,
            "the state was made with another model of the same shape")
    harness.finish()


if __name__ == "__main__":
    main()
