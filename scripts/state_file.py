"""state_file.py - rwkv-cli's recurrent-state files (src/state_file.cpp) in
Python, and RWKV state-tuning checkpoints turned into one.

The file (little-endian):

    "RWKVSTAT"  u32 version (1)  u32 arch (5, 6 or 7)
    u64 n_layer, n_embd, n_head, head_size      the shape
    u64 model_id                                model_info() below
    n_layer x { att_shift[C], ffn_shift[C], wkv[H][N][N] }   float32

wkv is S[head][value][key] for RWKV-7 and S[head][key][value] for RWKV-5/6,
as the engine's kernels keep it.  rwkv-cli loads a state only into a model
with the same architecture, shape and model id (or the older, file-order
model id).

State tuning (RWKV-PEFT, RWKV-LM) trains one tensor per layer,
blocks.N.att.time_state [H, N, N], indexed time_state[h][i][j] with i the
value channel and j the key channel (RWKV-PEFT's state kernels: thread i owns
v[i] and reads its state row s0 + (b*H + h)*N*N + i*N, indexed by the key
channel j).  So for RWKV-7 it is rwkv-cli's wkv as is; for RWKV-5/6 it is
transposed (as ChatRWKV and RWKV-Runner load v6 states: .transpose(1, 2)).
docs/state.md has the evidence and the measurements.
"""

from __future__ import annotations

import os
import re
import struct

import numpy as np

from gguf_writer import GGMLType, read_gguf_header

MAGIC = b"RWKVSTAT"
VERSION = 1
HEADER = struct.Struct("<8sII5Q")   # magic, version, arch, n_layer, n_embd, n_head, head_size, model_id
ARCHS = {"rwkv5": 5, "rwkv6": 6, "rwkv7": 7}

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
U64 = (1 << 64) - 1

TIME_STATE = re.compile(r"(?:model\.)?blocks\.(\d+)\.att\.time_state")


class StateError(Exception):
    """A problem with the input, reported as one line."""


def fnv1a(h: int, data: bytes) -> int:
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & U64
    return h


def model_info(path: str) -> dict:
    """The header fields rwkv-cli writes for the model in GGUF `path`:
    arch, n_layer, n_embd, n_head, head_size and model_id, exactly as
    model_identity() in src/state_file.cpp computes it: FNV-1a 64 over
    int64 {arch, n_layer, n_embd, n_head, head_size, n_vocab, n_ffn}, then,
    sorted by name, for each F32, F16 or BF16 tensor that is a vector
    (ne1*ne2*ne3 == 1) or whose name contains "lerp_fused": its name bytes,
    then its values as little-endian float32 (F32: the stored bytes).
    Also model_id_file_order: the same hash with the tensors in file order,
    the identity older state files carry (rwkv-cli still loads them)."""
    c = read_gguf_header(path)
    arch_name = c.meta.get("general.architecture")
    if arch_name not in ARCHS:
        raise StateError(f"{path}: architecture {arch_name!r}, expected rwkv5, rwkv6 or rwkv7")

    def hparam(key: str) -> int:
        if f"{arch_name}.{key}" not in c.meta:
            raise StateError(f"{path}: missing metadata '{arch_name}.{key}'")
        return int(c.meta[f"{arch_name}.{key}"])

    L, C, F, N = (hparam(k) for k in ("block_count", "embedding_length", "feed_forward_length", "wkv.head_size"))
    emb = [ne for name, ne, _, _ in c.tensor_infos if name == "token_embd.weight"]
    if len(emb) != 1 or len(emb[0]) != 2 or N <= 0 or C % N:
        raise StateError(f"{path}: not a model rwkv-cli loads (token_embd.weight, embedding {C}, head size {N})")
    info = {"arch": ARCHS[arch_name], "n_layer": L, "n_embd": C, "n_head": C // N, "head_size": N}
    vectors = []   # (name bytes, float32 bytes), in file order
    with open(path, "rb") as f:
        for name, ne, ggml_type, offset in c.tensor_infos:
            ne4 = tuple(ne) + (1,) * (4 - len(ne))
            if ggml_type not in (GGMLType.F32, GGMLType.F16, GGMLType.BF16) or \
                    not (ne4[1] * ne4[2] * ne4[3] == 1 or "lerp_fused" in name):
                continue
            f.seek(c.data_offset + offset)
            count = ne4[0] * ne4[1] * ne4[2] * ne4[3]
            n = (4 if ggml_type == GGMLType.F32 else 2) * count
            data = f.read(n)
            if len(data) != n:
                raise StateError(f"{path}: tensor {name} extends past the end of the file")
            if ggml_type == GGMLType.F16:  # the float32 values, as rwkv-cli widens them
                data = np.frombuffer(data, "<f2").astype("<f4").tobytes()
            elif ggml_type == GGMLType.BF16:
                data = (np.frombuffer(data, "<u2").astype("<u4") << 16).astype("<u4").tobytes()
            vectors.append((name.encode("utf-8"), data))
    shape = fnv1a(FNV_OFFSET, struct.pack("<7q", info["arch"], L, C, C // N, N, emb[0][1], F))

    def identity(tensors) -> int:
        h = shape
        for name, data in tensors:
            h = fnv1a(fnv1a(h, name), data)
        return h
    # sorted by the name's bytes, as C++ compares std::string_view
    info["model_id"] = identity(sorted(vectors, key=lambda v: v[0]))
    info["model_id_file_order"] = identity(vectors)
    return info


def is_time_state(names) -> bool:
    return any(TIME_STATE.fullmatch(n) for n in names)


def wkv_from_time_state(tensors: dict, info: dict, source: str, warn) -> np.ndarray:
    """rwkv-cli's wkv [L, H, N, N] from a state-tuning checkpoint's tensors
    (name -> float32 array).  Other tensors are ignored, named in one call
    of warn(message); a missing layer or a wrong shape raises StateError."""
    L, H, N = info["n_layer"], info["n_head"], info["head_size"]
    wkv = np.zeros((L, H, N, N), np.float32)
    seen = {}
    ignored = [name for name in tensors if not TIME_STATE.fullmatch(name)]
    if ignored:
        more = f" and {len(ignored) - 3} more" if len(ignored) > 3 else ""
        warn(f"{source}: ignoring {len(ignored)} tensor(s) other than blocks.N.att.time_state: "
             f"{', '.join(ignored[:3])}{more}")
    for name, arr in tensors.items():
        m = TIME_STATE.fullmatch(name)
        if not m:
            continue
        i = int(m.group(1))
        if i >= L:
            raise StateError(f"{source}: tensor {name}: layer {i}, but the model has {L} layers")
        if i in seen:
            raise StateError(f"{source}: tensors {seen[i]} and {name} are the same layer")
        if tuple(arr.shape) != (H, N, N):
            raise StateError(f"{source}: tensor {name} has shape {list(arr.shape)}, expected [{H}, {N}, {N}] "
                             f"(heads, head size, head size) for this model")
        if not np.isfinite(arr).all():
            raise StateError(f"{source}: tensor {name} contains non-finite values")
        seen[i] = name
        # time_state[h][value][key]: rwkv-cli's RWKV-7 layout; RWKV-5/6 keep [key][value]
        wkv[i] = arr if info["arch"] == 7 else arr.transpose(0, 2, 1)
    missing = [i for i in range(L) if i not in seen]
    if missing:
        raise StateError(f"{source}: missing tensor blocks.{missing[0]}.att.time_state "
                         f"(the model has {L} layers; {len(missing)} missing)")
    return wkv


def write_state(path: str, info: dict, wkv: np.ndarray) -> None:
    """A state file for the model `info` holding `wkv` [L, H, N, N] (rwkv-cli's
    layout) and zero token-shift vectors; written to path.tmp, then renamed."""
    C = info["n_embd"]
    zeros = np.zeros(2 * C, "<f4").tobytes()
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(HEADER.pack(MAGIC, VERSION, info["arch"], info["n_layer"], C, info["n_head"],
                                info["head_size"], info["model_id"]))
            for layer in wkv:
                f.write(zeros)
                f.write(np.ascontiguousarray(layer, "<f4").tobytes())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_state(path: str) -> tuple[dict, np.ndarray]:
    """(header fields, the floats after the header) of a state file."""
    data = open(path, "rb").read()
    if len(data) < HEADER.size or data[:8] != MAGIC:
        raise StateError(f"{path}: not an rwkv-cli state file")
    fields = HEADER.unpack_from(data)
    keys = ("version", "arch", "n_layer", "n_embd", "n_head", "head_size", "model_id")
    return dict(zip(keys, fields[1:])), np.frombuffer(data, "<f4", offset=HEADER.size)
