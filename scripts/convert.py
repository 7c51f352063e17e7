#!/usr/bin/python3
"""convert.py - convert an RWKV-7, RWKV-6 or RWKV-5.2 model to GGUF, laid out
as llama.cpp does.

usage: convert.py INPUT OUTPUT.gguf [--vocab rwkv_vocab_v20230424.txt]
                  [--dtype f32|f16|bf16] [--name NAME] [--quiet]
       convert.py TIME_STATE.pth OUTPUT.state --model MODEL.gguf [--quiet]

INPUT is recognised by its content, not its name:

  * an official BlinkDL checkpoint (.pth, read with torch.load) of RWKV-7
    (x070), RWKV-6 (x060) or RWKV-5.2 (x052), or
  * an rwkv.cpp model file of the same three (magic 0x67676d66): FP32, FP16,
    or quantized by rwkv.cpp to Q4_0, Q4_1, Q5_0, Q5_1 or Q8_0 (file version
    101).  Quantized tensors keep their ggml blocks byte for byte, with the
    ggml type (Q4_0 2, Q4_1 3, Q5_0 6, Q5_1 7, Q8_0 8), wherever the GGUF
    tensor's rows are the stored rows (every matrix rwkv.cpp quantizes, in
    all three generations); what the engine reads element by element (RWKV-7's
    r_k, any vector or fused mix) or would need transposed is dequantized
    and stored as for a float input.  --dtype sets the type of the matrices
    that are float in the input; quantized ones stay as they are.  Refused,
    with the tensor named: the formats rwkv.cpp removed (type ids 4-6:
    Q4_1_O, Q4_2, Q4_3), unknown type ids, quantized tensors in a version-100
    file (ggml's block layouts before May 2023), rows that are not a
    multiple of 32 values.

A state-tuning checkpoint (RWKV-PEFT or RWKV-LM state tuning: only
blocks.N.att.time_state [H, N, N] tensors, optionally prefixed "model.")
becomes an rwkv-cli state file for --state-in, made for the model given with
--model (the GGUF it will run with: the file carries that model's identity).
time_state[h][value][key] is RWKV-7's layout and the transpose of RWKV-5/6's;
token-shift vectors are zero (scripts/state_file.py, docs/state.md).

Progress goes to stderr, one line per tensor, when stderr is a terminal;
--quiet leaves only warnings and errors.

The generation is detected from the tensor names (v7: att.k_k / att.r_k; v6:
att.time_maa_x; v5.2: att.time_faaaa with att.gate and a per-channel
time_decay).  RWKV-6 is written exactly as llama.cpp's rwkv6 architecture
(see the section "RWKV-6 and RWKV-5.2" below); RWKV-5.2, which llama.cpp does
not have, in the same style as architecture "rwkv5" (docs/math.md).

The output is what llama.cpp's converter (convert_hf_to_gguf.py, class
Rwkv7Model) writes for the same weights: general.architecture "rwkv7", the
rwkv7.* hyperparameters, llama.cpp's tensor names and shapes, and the
vocabulary embedded as a token list.  For the same weights, key order, tensor
order, types and padding match, so the file is byte-identical to llama.cpp's
(general.name is derived from the input file name the way llama.cpp derives
it from the model directory name; --name overrides it).

How llama.cpp stores RWKV-7 (and therefore this script):

  official .pth                      GGUF tensor                    GGUF type
  emb.weight [V,C]                   token_embd.weight              dtype
  blocks.0.ln0.{weight,bias}         token_embd_norm.{weight,bias}  F32
  blocks.N.ln1 / ln2                 blk.N.attn_norm / attn_norm_2  F32
  att.x_r,x_w,x_k,x_v,x_a,x_g        blk.N.time_mix_lerp_fused      F32
    each [1,1,C], stacked                                [6,1,1,C]
  att.w0,a0,v0,k_k,k_a [1,1,C]       time_mix_w0 ... squeezed to [C] F32
  att.r_k [H,N]                      time_mix_r_k flattened to [C]  F32
  att.w1 [C,D], att.w2 [D,C]         time_mix_w1 [D,C], w2 [C,D]    F32 (!)
    (the LoRA matrices are transposed)
  att.a1,a2,v1,v2,g1,g2              time_mix_a1 ... transposed     dtype
  att.{receptance,key,value,output}  time_mix_{...}                 dtype
  att.ln_x                           time_mix_ln                    F32
  ffn.x_k [1,1,C]                    channel_mix_lerp_k [C]         F32
  ffn.key / ffn.value                channel_mix_key / _value       dtype
  ln_out / head                      output_norm / output.weight    F32 / dtype

(shapes here are NumPy/PyTorch order; ggml's ne is the reverse.)  Layer 0 has
no value-residual LoRA; llama.cpp still wants v0/v1/v2 tensors there, so it
writes copies of a0/a1/a2 under those names (and ignores any layer-0 v0/v1/v2
in the input).  The copies are never used by the model.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import struct
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np

# gguf_writer.py lives next to this script.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gguf_writer import GGMLType, GGUFFormatError, GGUFWriter, bf16_to_f32, f32_to_bf16  # noqa: E402
import state_file  # noqa: E402

PROG = "convert.py"
VOCAB_FILE_NAME = "rwkv_vocab_v20230424.txt"

# GGUF general.file_type values (llama.cpp's LlamaFileType).
FILE_TYPE = {"f32": 0, "f16": 1, "bf16": 32}
GGML_TYPE_OF_DTYPE = {"f32": GGMLType.F32, "f16": GGMLType.F16, "bf16": GGMLType.BF16}

# llama.cpp token types.
TOKEN_NORMAL, TOKEN_CONTROL, TOKEN_UNUSED = 1, 3, 5

# The chat template llama.cpp embeds for the RWKV world vocabulary (its file
# models/templates/llama-cpp-rwkv-world.jinja); part of the metadata, so it is
# needed for a byte-identical file.
RWKV_WORLD_CHAT_TEMPLATE = r"""{%- if not add_generation_prompt is defined -%}
    {%- set add_generation_prompt = true -%}
{%- endif -%}
{%- set ns = namespace(system_prompt='') -%}
{%- for message in messages -%}
    {%- if message['role'] == 'system' -%}
        {%- set ns.system_prompt = message['content'] -%}
    {%- endif -%}
{%- endfor -%}
{{bos_token}}
{%- if ns.system_prompt != '' -%}
{{- 'System: ' + ns.system_prompt + '\n\n' -}}
{%- endif -%}
{%- for message in messages -%}
    {%- if message['role'] == 'user' -%}
        {{- 'User: ' + message['content']|trim + '\n\n' -}}
    {%- endif -%}
    {%- if message['role'] == 'assistant' and message['content'] is  not none -%}
        {%- set content = message['content'] -%}
        {%- if '</think>' in content -%}
            {%- set content = content.split('</think>')[-1] -%}
        {%- endif -%}
        {{- 'Assistant: ' + content|trim + '\n\n' -}}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- 'Assistant:' -}}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- ' <think>\n</think>' }}
    {%- endif %}
    {%- if enable_thinking is defined and enable_thinking is true %}
        {{- ' <think>' }}
    {%- endif %}
{%- endif -%}"""


class ConvertError(Exception):
    """A problem with the input: reported as one line, exit status 1."""


# ---------------------------------------------------------------------------
# Tensors: a NumPy array plus the format its values are in
# ---------------------------------------------------------------------------

class Tensor:
    """An input tensor.  `kind` is "f32", "f16" or "bf16"; bf16 values are
    kept as their raw uint16 bit patterns (NumPy has no bfloat16).  Shape
    changes (squeeze, transpose, reshape) are cheap views; the conversion to
    the output type is done only when the tensor is written.

    A quantized rwkv.cpp tensor has kind "q" and `quant` (QuantizedData):
    its `arr` is then a view of a value-less placeholder (see there), so that
    the same NumPy shape changes apply to it; they are resolved against the
    blocks when the tensor is written."""

    def __init__(self, arr: np.ndarray, kind: str, quant: "QuantizedData | None" = None):
        self.arr = arr
        self.kind = kind
        self.quant = quant

    def view(self, arr: np.ndarray) -> "Tensor":
        return Tensor(arr, self.kind, self.quant)

    @property
    def shape(self):
        return self.arr.shape

    def as_f32(self) -> np.ndarray:
        if self.quant is not None:
            return self.quant.values_of(self.arr)
        if self.kind == "bf16":
            return bf16_to_f32(self.arr)
        return self.arr.astype(np.float32)

    def encode(self, ggml_type: int) -> np.ndarray:
        """The values in the output type.  Same conversions as llama.cpp:
        bf16 goes through float32 first; float32 -> float16 is NumPy's
        round-to-nearest-even; -> bf16 rounds like ggml.  A quantized tensor
        in its own type gives its blocks unchanged (only where
        QuantizedData.same_layout allows it), in a float type its
        dequantized values."""
        if self.quant is not None and ggml_type == self.quant.ggml_type:
            return self.quant.blocks_of(self.arr)
        if ggml_type == GGMLType.F32:
            return self.as_f32()
        if ggml_type == GGMLType.F16:
            if self.kind == "f16":
                return self.arr
            return self.as_f32().astype(np.float16)
        if ggml_type == GGMLType.BF16:
            if self.kind == "bf16":
                return self.arr
            return f32_to_bf16(self.as_f32())
        raise ValueError(f"unsupported output type {ggml_type}")


# ---------------------------------------------------------------------------
# ggml's quantized blocks (the five types rwkv.cpp writes)
# ---------------------------------------------------------------------------
#
# Each block holds 32 consecutive values of a row (ggml's current layouts,
# those of rwkv.cpp file version 101; every field little-endian):
#
#   Q4_0  18 bytes  f16 d, 16 bytes qs          x = (q - 8) * d
#   Q4_1  20 bytes  f16 d, f16 m, 16 bytes qs   x = q * d + m
#   Q5_0  22 bytes  f16 d, u32 qh, 16 bytes qs  x = (q - 16) * d
#   Q5_1  24 bytes  f16 d, f16 m, u32 qh, qs    x = q * d + m
#   Q8_0  34 bytes  f16 d, 32 x int8 q          x = q * d
#
# In the 4- and 5-bit types byte j of qs holds value j in its low nibble and
# value j + 16 in its high one; bit j of qh is the fifth bit of value j.
# A row's length must be a multiple of 32; rows are stored one after another,
# so a reshape that keeps the row length keeps the blocks (see same_layout).

QK = 32
BLOCK_BYTES = {GGMLType.Q4_0: 18, GGMLType.Q4_1: 20, GGMLType.Q5_0: 22, GGMLType.Q5_1: 24, GGMLType.Q8_0: 34}
# llama.cpp's general.file_type of a file mostly in each type (LlamaFileType MOSTLY_*).
QUANT_FILE_TYPE = {GGMLType.Q4_0: 2, GGMLType.Q4_1: 3, GGMLType.Q8_0: 7, GGMLType.Q5_0: 8, GGMLType.Q5_1: 9}


def dequantize(ggml_type: int, raw: np.ndarray) -> np.ndarray:
    """ggml blocks (uint8, a whole number of blocks) -> float32 values, in
    the order they are stored, computed in float32 as ggml's
    dequantize_row_* do (q * d, then + m)."""
    b = np.asarray(raw, dtype=np.uint8).reshape(-1, BLOCK_BYTES[ggml_type])
    f16 = lambda lo: b[:, lo:lo + 2].copy().view("<f2").astype(np.float32)  # noqa: E731  (n_blocks, 1)

    def nibbles(qs):                       # (n_blocks, 16) bytes -> (n_blocks, 32) values 0..15
        return np.concatenate([qs & 0x0F, qs >> 4], axis=1)

    def fifth_bits(qh):                    # (n_blocks, 4) bytes -> (n_blocks, 32) values 0 or 16
        bits = qh.copy().view("<u4") >> np.arange(QK, dtype=np.uint32)
        return ((bits & 1) << 4).astype(np.uint8)

    if ggml_type == GGMLType.Q4_0:
        q = nibbles(b[:, 2:18]).astype(np.float32) - np.float32(8)
        out = q * f16(0)
    elif ggml_type == GGMLType.Q4_1:
        out = nibbles(b[:, 4:20]).astype(np.float32) * f16(0) + f16(2)
    elif ggml_type == GGMLType.Q5_0:
        q = (nibbles(b[:, 6:22]) | fifth_bits(b[:, 2:6])).astype(np.float32) - np.float32(16)
        out = q * f16(0)
    elif ggml_type == GGMLType.Q5_1:
        out = (nibbles(b[:, 8:24]) | fifth_bits(b[:, 4:8])).astype(np.float32) * f16(0) + f16(2)
    elif ggml_type == GGMLType.Q8_0:
        out = b[:, 2:34].copy().view(np.int8).astype(np.float32) * f16(0)
    else:
        raise ValueError(f"cannot dequantize {GGMLType.name(ggml_type)}")
    return out.reshape(-1)


def _address(arr: np.ndarray) -> int:
    return arr.__array_interface__["data"][0]


class QuantizedData:
    """The blocks of one quantized input tensor (rows of `shape[-1]` values,
    NumPy shape `shape`), and a placeholder array of that shape to take
    views of.

    The placeholder is a read-only float32 array over an anonymous mapping
    of zero pages: it costs neither memory nor time, and NumPy's own shape
    changes (reshape, squeeze, transpose, indexing) work on it as on the
    values.  A view derived from it tells by its data address, shape and
    strides which elements it selects: that is how values_of() gives the
    dequantized values of any view, and same_layout() says whether a view is
    the blocks themselves, row for row.  A copy (a reshape NumPy cannot do as
    a view) has no values behind it: values_of() and same_layout() refuse it
    by its address."""

    def __init__(self, name: str, ggml_type: int, raw: np.ndarray, shape: tuple):
        import mmap
        self.name, self.ggml_type, self.raw, self.shape = name, ggml_type, raw, tuple(shape)
        self.count = int(np.prod(self.shape))
        nbytes = 4 * self.count
        try:
            self._map = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
        except (TypeError, AttributeError):      # no prot/flags (Windows): a zero-filled mapping
            self._map = mmap.mmap(-1, nbytes)
        self.placeholder = np.frombuffer(self._map, dtype=np.float32, count=self.count).reshape(self.shape)
        self.base = _address(self.placeholder)

    def _offset(self, arr: np.ndarray) -> int:
        """Element offset of arr's first element in the placeholder; checks
        that arr is a view of it (a copy would have no values behind it)."""
        start = _address(arr) - self.base
        lo = start + sum((n - 1) * st for n, st in zip(arr.shape, arr.strides) if st < 0)
        hi = start + sum((n - 1) * st for n, st in zip(arr.shape, arr.strides) if st > 0)
        if arr.dtype != np.float32 or start % 4 or lo < 0 or hi >= 4 * self.count:
            raise ConvertError(f"internal error: tensor {self.name} (quantized) was copied "
                               "instead of viewed during conversion")
        return start // 4

    def same_layout(self, arr: np.ndarray) -> bool:
        """Whether the view arr lists the values in stored order with the
        stored row length, so that its GGUF tensor (ne = reversed(arr.shape))
        is exactly these blocks.  A transpose, or a reshape that changes the
        length of a row, is not."""
        return (arr.ndim >= 2 and arr.flags.c_contiguous and arr.size == self.count
                and arr.shape[-1] == self.shape[-1] and self._offset(arr) == 0)

    def blocks_of(self, arr: np.ndarray) -> np.ndarray:
        if not self.same_layout(arr):
            raise ConvertError(f"internal error: tensor {self.name} cannot be written as its blocks")
        return self.raw

    def values_of(self, arr: np.ndarray) -> np.ndarray:
        """The dequantized values of the view arr (a new float32 array)."""
        off = self._offset(arr)
        values = dequantize(self.ggml_type, self.raw)
        return np.lib.stride_tricks.as_strided(values[off:], arr.shape, arr.strides).copy()


class _QuantTensorInfo:
    """GGUFWriter's record of a tensor, for a quantized type (data: the blocks as uint8)."""

    def __init__(self, name: str, shape, ggml_type: int, data):
        self.name = name
        self.shape = tuple(int(d) for d in shape)
        self.ggml_type = ggml_type
        self.data = data
        if not self.shape or self.shape[-1] % QK:
            raise ValueError(f"{name}: rows of {self.shape[-1] if self.shape else 0} values, "
                             f"not a multiple of {QK}")
        self.nbytes = int(np.prod(self.shape)) // QK * BLOCK_BYTES[ggml_type]


class Writer(GGUFWriter):
    """gguf_writer's GGUFWriter (same layout, byte for byte), plus tensors of
    the five quantized types, whose data are their blocks (uint8; GGUFWriter's
    write() writes them as they are)."""

    def add_tensor(self, name, data, ggml_type, shape=None) -> None:
        if ggml_type in GGMLType.NUMPY:
            return super().add_tensor(name, data, ggml_type, shape)
        if ggml_type not in BLOCK_BYTES:
            raise ValueError(f"{name}: cannot write type {GGMLType.name(ggml_type)}")
        if any(t.name == name for t in self.tensors):
            raise ValueError(f"duplicated tensor name {name!r}")
        if shape is None:
            raise ValueError(f"{name}: a quantized tensor needs its shape")
        self.tensors.append(_QuantTensorInfo(name, shape, ggml_type, data))


# ---------------------------------------------------------------------------
# Input 1: official BlinkDL .pth checkpoint
# ---------------------------------------------------------------------------

def load_pth(path: str) -> tuple["OrderedDict[str, Tensor]", str]:
    """The checkpoint's tensors in file order, and the model's float format
    (that of its first matrix, the same heuristic llama.cpp uses)."""
    try:
        import torch
    except ImportError:
        raise ConvertError("reading a .pth checkpoint needs PyTorch (Debian package python3-torch)")

    try:
        try:
            # weights_only: never run code from a pickle we did not write.
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except TypeError:   # PyTorch older than 1.13 has no weights_only
            sd = torch.load(path, map_location="cpu")
    except Exception as e:  # torch raises many types for a damaged file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConvertError(f"{path}: cannot read as a PyTorch checkpoint: {first}")

    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ConvertError(f"{path}: not a checkpoint of named tensors (a state dict)")

    kinds = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}
    out: "OrderedDict[str, Tensor]" = OrderedDict()
    model_kind = None
    for name, t in sd.items():
        if t.dtype not in kinds:
            raise ConvertError(f"{path}: tensor {name} has unsupported type {t.dtype}")
        kind = kinds[t.dtype]
        t = t.detach().contiguous()
        if kind == "bf16":
            arr = t.view(torch.int16).numpy().view(np.uint16)
        else:
            arr = t.numpy()
        out[name] = Tensor(arr, kind)
        if model_kind is None and t.dim() >= 2:
            model_kind = kind
    return out, model_kind or "f32"


# ---------------------------------------------------------------------------
# Input 2: rwkv.cpp model file
# ---------------------------------------------------------------------------

RWKVCPP_MAGIC = 0x67676D66   # "ggmf"
# rwkv.cpp's data type ids (enum rwkv_type in rwkv_file_format.inc), in the
# file header and in every tensor header.  4-6 are formats rwkv.cpp removed
# in 2023 (Q4_1_O was its own, Q4_1 with outliers; Q4_2 and Q4_3 were ggml's).
RWKVCPP_TYPES = {0: "FP32", 1: "FP16", 2: "Q4_0", 3: "Q4_1", 4: "Q4_1_O", 5: "Q4_2", 6: "Q4_3",
                 7: "Q5_0", 8: "Q5_1", 9: "Q8_0"}
RWKVCPP_REMOVED = (4, 5, 6)
# rwkv.cpp type id -> ggml type of the same blocks (rwkv_type_to_ggml).
RWKVCPP_QUANT_GGML = {2: GGMLType.Q4_0, 3: GGMLType.Q4_1, 7: GGMLType.Q5_0, 8: GGMLType.Q5_1, 9: GGMLType.Q8_0}
# File version 101 (2023-05-27, ggml commit 00b49ec) marks ggml's change of
# every quantized block layout (nibble order, f16 instead of f32 scales); a
# version-100 file's FP32/FP16 tensors are the same as in 101.
RWKVCPP_VERSION_NEW_QUANTS = 101

# rwkv.cpp's converter (python/convert_pytorch_to_ggml.py) transposes these
# RWKV-7 LoRA matrices (so that ggml_mul_mat can use them directly) ...
RWKVCPP_TRANSPOSED = ("att.w1", "att.w2", "att.a1", "att.a2", "att.v1", "att.v2", "att.g1", "att.g2")
# ... and concatenates the six token-shift mixes, in this order, along the
# first dimension into one [6,1,C] tensor "att.x_rwkvag".
RWKVCPP_FUSED_MIXES = ("x_r", "x_w", "x_k", "x_v", "x_a", "x_g")


def load_rwkvcpp(path: str) -> tuple["OrderedDict[str, Tensor]", str, int]:
    """Read an rwkv.cpp file and undo its RWKV-7 changes, giving the official
    tensors (names, shapes, values) in file order.  Returns (tensors, float
    format of the file, n_vocab).

    Layout: six little-endian uint32 (magic, version, n_vocab, n_embed,
    n_layer, data type), then until EOF per tensor: int32 n_dims, int32 name
    length, int32 data type, n_dims int32 sizes (ggml order), name, data.
    Values are stored as they are in the .pth apart from the transposes and
    the fused mixes (no exp(), scaling or other transformation for v7); small
    tensors are FP32 even in an FP16 file.

    Quantized files (rwkv.cpp's quantize: every 2-D tensor but emb.weight
    and head.weight, from FP32 values, as ggml's reference quantizer rounds)
    hold ggml blocks; those tensors become Tensors of kind "q".  The float
    format returned is then that of emb.weight (FP32 or FP16, as the file
    was quantized from).
    """
    data = np.memmap(path, dtype=np.uint8, mode="r") if os.path.getsize(path) else np.zeros(0, np.uint8)
    size = data.size
    if size < 24:
        raise ConvertError(f"{path}: truncated rwkv.cpp file (no complete header)")
    magic, version, n_vocab, n_embed, n_layer, file_type = struct.unpack("<6I", data[:24].tobytes())
    if magic != RWKVCPP_MAGIC:
        raise ConvertError(f"{path}: not an rwkv.cpp file (bad magic)")
    if version not in (100, 101):
        raise ConvertError(f"{path}: unsupported rwkv.cpp file version {version}")
    if file_type not in RWKVCPP_TYPES:
        raise ConvertError(f"{path}: unknown rwkv.cpp data type {file_type} in the file header "
                           f"(rwkv.cpp's are 0-{max(RWKVCPP_TYPES)})")

    raw: "OrderedDict[str, Tensor]" = OrderedDict()
    pos = 24
    while pos < size:
        if pos + 12 > size:
            raise ConvertError(f"{path}: truncated rwkv.cpp file (tensor header at byte {pos})")
        n_dims, name_len, dtype = struct.unpack("<3i", data[pos:pos + 12].tobytes())
        pos += 12
        if not 1 <= n_dims <= 4 or not 0 < name_len < 4096:
            raise ConvertError(f"{path}: corrupt tensor header at byte {pos - 12}")
        if pos + 4 * n_dims + name_len > size:
            raise ConvertError(f"{path}: truncated rwkv.cpp file (tensor header at byte {pos - 12})")
        ne = struct.unpack(f"<{n_dims}i", data[pos:pos + 4 * n_dims].tobytes())
        pos += 4 * n_dims
        name = data[pos:pos + name_len].tobytes().decode("utf-8", "replace")
        pos += name_len
        if dtype not in RWKVCPP_TYPES:
            raise ConvertError(f"{path}: tensor {name} has unknown data type {dtype} "
                               f"(rwkv.cpp's are 0-{max(RWKVCPP_TYPES)})")
        if dtype in RWKVCPP_REMOVED:
            raise ConvertError(f"{path}: tensor {name} has data type {dtype} ({RWKVCPP_TYPES[dtype]}), "
                               "a format rwkv.cpp removed in 2023; requantize the model from its FP32 "
                               "or FP16 file with a current rwkv.cpp")
        if any(d <= 0 for d in ne):
            raise ConvertError(f"{path}: tensor {name} has an invalid size {list(ne)}")
        count = int(np.prod(ne))
        shape = tuple(reversed(ne))      # ggml sizes are fastest-first: the NumPy shape is the reverse
        if dtype in (0, 1):
            np_dtype = np.dtype("<f4") if dtype == 0 else np.dtype("<f2")
            nbytes = count * np_dtype.itemsize
        else:
            qname, gtype = RWKVCPP_TYPES[dtype], RWKVCPP_QUANT_GGML[dtype]
            if version < RWKVCPP_VERSION_NEW_QUANTS:
                raise ConvertError(
                    f"{path}: tensor {name} is {qname} in an rwkv.cpp file of version {version}: its blocks "
                    "are in ggml's quantization layout from before May 2023 (file version 101 marks the "
                    "change), which neither rwkv.cpp nor this converter reads; requantize the model from "
                    "its FP32 or FP16 file with a current rwkv.cpp")
            if ne[0] % QK:
                raise ConvertError(f"{path}: tensor {name} is {qname} with rows of {ne[0]} values, "
                                   f"not a multiple of the block size {QK}")
            nbytes = count // QK * BLOCK_BYTES[gtype]
        if pos + nbytes > size:
            raise ConvertError(f"{path}: truncated rwkv.cpp file (data of tensor {name} "
                               f"needs {nbytes} bytes at byte {pos}, file has {size})")
        if name in raw:
            raise ConvertError(f"{path}: tensor {name} appears twice")
        if dtype in (0, 1):
            arr = data[pos:pos + nbytes].view(np_dtype).reshape(shape)
            raw[name] = Tensor(arr, "f32" if dtype == 0 else "f16")
        else:
            q = QuantizedData(name, gtype, data[pos:pos + nbytes], shape)
            raw[name] = Tensor(q.placeholder, "q", q)
        pos += nbytes

    # The float format: the file's, or for a quantized file that of its
    # embedding (rwkv.cpp keeps emb and head in the format it quantized from).
    if file_type in (0, 1):
        kind = "f32" if file_type == 0 else "f16"
    else:
        emb = raw.get("emb.weight")
        kind = emb.kind if emb is not None and emb.kind in ("f32", "f16") else "f32"

    if "blocks.0.att.x_rwkvag" not in raw:
        if "blocks.0.att.time_maa_x" in raw:
            out = undo_rwkvcpp_v6(raw, n_embed, path)
        elif "blocks.0.att.time_faaaa" in raw and "blocks.0.att.gate.weight" in raw:
            out = undo_rwkvcpp_v5(raw, n_embed, path)
        else:
            raise ConvertError(f"{path}: not an RWKV-5.2, RWKV-6 or RWKV-7 rwkv.cpp file (no tensor "
                               "blocks.0.att.x_rwkvag, blocks.0.att.time_maa_x or blocks.0.att.time_faaaa); "
                               "RWKV-4 and RWKV-5.0/5.1 are not supported")
        return rwkvcpp_checked(out, n_vocab, n_embed, n_layer, kind, path)

    # Undo rwkv.cpp's changes, keeping the file order (the fused tensor is
    # replaced by the six mixes at its place).
    out: "OrderedDict[str, Tensor]" = OrderedDict()
    for name, t in raw.items():
        m = re.fullmatch(r"(blocks\.\d+\.)(.+)", name)
        rest = m.group(2) if m else ""
        if rest == "att.x_rwkvag":
            if t.arr.size != 6 * n_embed:
                raise ConvertError(f"{path}: tensor {name} has shape {list(t.shape)}, "
                                   f"expected 6 x {n_embed} values")
            rows = t.arr.reshape(6, n_embed)
            for i, mix in enumerate(RWKVCPP_FUSED_MIXES):
                out[m.group(1) + "att." + mix] = t.view(rows[i].reshape(1, 1, n_embed))
        elif rest in RWKVCPP_TRANSPOSED:
            if t.arr.ndim != 2:
                raise ConvertError(f"{path}: tensor {name} should be a matrix, has shape {list(t.shape)}")
            out[name] = t.view(t.arr.T)
        else:
            out[name] = t
    return rwkvcpp_checked(out, n_vocab, n_embed, n_layer, kind, path)


def rwkvcpp_checked(out: "OrderedDict[str, Tensor]", n_vocab: int, n_embed: int, n_layer: int,
                    kind: str, path: str) -> tuple["OrderedDict[str, Tensor]", str, int]:
    """The header's sizes against the tensors; the result of load_rwkvcpp."""
    if "emb.weight" in out and out["emb.weight"].shape != (n_vocab, n_embed):
        raise ConvertError(f"{path}: emb.weight has shape {list(out['emb.weight'].shape)} but the "
                           f"header says n_vocab {n_vocab}, n_embed {n_embed}")
    n_found = sum(1 for k in out if re.fullmatch(r"blocks\.\d+\.ln1\.weight", k))
    if n_found != n_layer:
        raise ConvertError(f"{path}: header says {n_layer} layers, file has {n_found}")
    return out, kind, n_vocab


# rwkv.cpp's RWKV-5.2 and RWKV-6 files (python/convert_pytorch_to_ggml.py):
# every tensor whose name contains ".time_" is squeezed (and kept FP32 in an
# FP16 file); then
#   v6:   time_faaaa [H,N] -> [H,N,1]; time_maa_w1 [C,5D] and time_decay_w1
#         [C,E], time_decay_w2 [E,C] transposed; time_maa_w2 [5,D,C] ->
#         [5,C,D]; time_decay stored as it is (exp(-exp()) at run time);
#   v5.2: time_decay [H,N] stored as the decay itself, exp(-exp(time_decay)),
#         [H,N,1]; time_faaaa [H,N] -> [H,N,1].
# (With one head, squeezing [1,N] gives [N] and the unsqueeze [N,1].)

def _rwkvcpp_heads(t: Tensor, name: str, path: str) -> tuple:
    """(H, N) of a per-head tensor stored as [H,N,1], or [N,1] for one head."""
    shape = t.shape
    if len(shape) == 3 and shape[2] == 1:
        return shape[0], shape[1]
    if len(shape) == 2 and shape[1] == 1:
        return 1, shape[0]
    raise ConvertError(f"{path}: tensor {name} has shape {list(shape)}, expected [heads, head_size, 1]")


def _rwkvcpp_vector(t: Tensor, name: str, n_embed: int, path: str) -> Tensor:
    if t.arr.size != n_embed:
        raise ConvertError(f"{path}: tensor {name} has shape {list(t.shape)}, expected {n_embed} values")
    return t.view(t.arr.reshape(1, 1, n_embed))


def undo_rwkvcpp_v6(raw: "OrderedDict[str, Tensor]", n_embed: int, path: str) -> "OrderedDict[str, Tensor]":
    out: "OrderedDict[str, Tensor]" = OrderedDict()
    for name, t in raw.items():
        m = re.fullmatch(r"blocks\.\d+\.(.+)", name)
        rest = m.group(1) if m else ""
        if re.fullmatch(r"(att|ffn)\.time_maa_[xwkvrg]|att\.time_decay", rest):
            out[name] = _rwkvcpp_vector(t, name, n_embed, path)
        elif rest in ("att.time_maa_w1", "att.time_decay_w1", "att.time_decay_w2"):
            if t.arr.ndim != 2:
                raise ConvertError(f"{path}: tensor {name} should be a matrix, has shape {list(t.shape)}")
            out[name] = t.view(t.arr.T)
        elif rest == "att.time_maa_w2":
            if t.arr.ndim != 3:
                raise ConvertError(f"{path}: tensor {name} has shape {list(t.shape)}, expected [5, C, D]")
            out[name] = t.view(t.arr.transpose(0, 2, 1))
        elif rest == "att.time_faaaa":
            h, n = _rwkvcpp_heads(t, name, path)
            out[name] = t.view(t.arr.reshape(h, n))
        else:
            out[name] = t
    return out


def undo_rwkvcpp_v5(raw: "OrderedDict[str, Tensor]", n_embed: int, path: str) -> "OrderedDict[str, Tensor]":
    out: "OrderedDict[str, Tensor]" = OrderedDict()
    for name, t in raw.items():
        m = re.fullmatch(r"blocks\.\d+\.(.+)", name)
        rest = m.group(1) if m else ""
        if re.fullmatch(r"(att\.time_mix_[kvrg])|(ffn\.time_mix_[kr])", rest):
            out[name] = _rwkvcpp_vector(t, name, n_embed, path)
        elif rest == "att.time_faaaa":
            h, n = _rwkvcpp_heads(t, name, path)
            out[name] = t.view(t.arr.reshape(h, n))
        elif rest == "att.time_decay":
            h, n = _rwkvcpp_heads(t, name, path)
            if h * n != n_embed:
                raise ConvertError(f"{path}: tensor {name} has shape {list(t.shape)}: one decay per head "
                                   "(RWKV-5.0/5.1) is not supported, only RWKV-5.2")
            # Back from the decay w to the official time_decay = log(-log(w)),
            # in float64. w is float32, and w -> log(-log(w)) -> exp(-exp(.))
            # gives w back to within one float32 rounding. A w of exactly 1
            # or 0 (time_decay beyond about -17 or +4.5) maps to -88 / +88,
            # which give 1 and 0 again.
            w = t.as_f32().astype(np.float64).reshape(h, n)
            with np.errstate(divide="ignore", invalid="ignore"):
                d = np.log(-np.log(np.clip(w, 0.0, 1.0)))
            d = np.nan_to_num(d, nan=88.0, posinf=88.0, neginf=-88.0)
            out[name] = Tensor(np.clip(d, -88.0, 88.0).astype(np.float32), "f32")
        else:
            out[name] = t
    return out


def detect_format(path: str) -> str:
    """'rwkvcpp' or 'pth', from the first bytes of the file."""
    if not os.path.exists(path):
        raise ConvertError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise ConvertError(f"{path}: not a regular file")
    with open(path, "rb") as f:
        head = f.read(4)
    if len(head) == 4 and struct.unpack("<I", head)[0] == RWKVCPP_MAGIC:
        return "rwkvcpp"
    # torch.save writes a zip archive (PyTorch >= 1.6) or, in the legacy
    # format, a pickle starting with the PROTO opcode 0x80.
    if head.startswith(b"PK\x03\x04") or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5):
        return "pth"
    if head == b"GGUF":
        raise ConvertError(f"{path}: already a GGUF file")
    raise ConvertError(f"{path}: unknown format (neither a PyTorch .pth checkpoint nor an rwkv.cpp model)")


# ---------------------------------------------------------------------------
# Checking the official tensors and deriving the hyperparameters
# ---------------------------------------------------------------------------

LAYER_VECTORS = ("att.x_r", "att.x_w", "att.x_k", "att.x_v", "att.x_a", "att.x_g",
                 "att.w0", "att.a0", "att.k_k", "att.k_a", "ffn.x_k")
LAYER_NORMS = ("ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias", "att.ln_x.weight", "att.ln_x.bias")
LAYER_SQUARE = ("att.receptance.weight", "att.key.weight", "att.value.weight", "att.output.weight")
LORAS = (("w", "decay"), ("a", "iclr"), ("v", "value_residual_mix"), ("g", "gate"))


class TensorChecks:
    """Presence and shape checks on the official tensors of one model, shared
    by check_model (RWKV-7) and check_model_v56.  Errors name the tensor."""

    def __init__(self, sd: "OrderedDict[str, Tensor]", source: str):
        self.sd, self.source = sd, source

    def get(self, name: str) -> Tensor:
        if name not in self.sd:
            raise ConvertError(f"{self.source}: missing tensor {name}")
        return self.sd[name]

    def expect(self, name: str, shape: tuple) -> None:
        if self.get(name).shape != shape:
            raise ConvertError(f"{self.source}: tensor {name} has shape {list(self.get(name).shape)}, "
                               f"expected {list(shape)}")

    def expect_vector(self, name: str, n: int) -> None:
        # Mixes are [1,1,C] in the .pth; accept any shape holding C values.
        t = self.get(name)
        if t.arr.size != n or sum(1 for d in t.shape if d != 1) > 1:
            raise ConvertError(f"{self.source}: tensor {name} has shape {list(t.shape)}, expected {n} values")

    def sizes(self, per_head: str) -> tuple:
        """(n_vocab, n_embd) from emb.weight, the number of layers, the shape
        [heads, head_size] of layer 0's tensor per_head (RWKV-7: att.r_k,
        RWKV-5/6: att.time_faaaa) and the channel-mix size n_ffn."""
        emb = self.get("emb.weight")
        if len(emb.shape) != 2:
            raise ConvertError(f"{self.source}: tensor emb.weight has shape {list(emb.shape)}, "
                               "expected [vocab, embd]")
        n_vocab, c = emb.shape
        n_layer = 0
        while f"blocks.{n_layer}.ln1.weight" in self.sd:
            n_layer += 1
        if n_layer == 0:
            raise ConvertError(f"{self.source}: missing tensor blocks.0.ln1.weight")
        heads = self.get(f"blocks.0.{per_head}").shape
        if len(heads) != 2 or heads[0] * heads[1] != c:
            raise ConvertError(f"{self.source}: tensor blocks.0.{per_head} has shape {list(heads)}, "
                               f"expected [heads, head_size] with heads x head_size = {c}")
        n_ffn = self.get("blocks.0.ffn.key.weight").shape[0]
        return n_vocab, c, n_layer, heads, n_ffn

    def outside_layers(self, n_vocab: int, c: int) -> set:
        """Check the head, ln0 and ln_out; the names of the tensors outside the layers."""
        self.expect("head.weight", (n_vocab, c))
        for name in ("blocks.0.ln0.weight", "blocks.0.ln0.bias", "ln_out.weight", "ln_out.bias"):
            self.expect(name, (c,))
        return {"emb.weight", "head.weight", "blocks.0.ln0.weight", "blocks.0.ln0.bias",
                "ln_out.weight", "ln_out.bias"}


def calc_lora_rank(c: int, exponent: float, multiplier: float) -> int:
    """llama.cpp's default LoRA rank when a model does not state one."""
    return max(1, round(c ** exponent * multiplier / 32)) * 32


def check_model(sd: "OrderedDict[str, Tensor]", source: str) -> dict:
    """Check that every official RWKV-7 tensor is present with a consistent
    shape, and return the hyperparameters.  Errors name the tensor."""
    if "blocks.0.att.k_k" not in sd and "blocks.0.att.r_k" not in sd:
        raise ConvertError(f"{source}: not an RWKV-7 model (no tensor blocks.0.att.k_k); "
                           "RWKV-4/5/6 are not supported")

    ck = TensorChecks(sd, source)
    expect, expect_vector = ck.expect, ck.expect_vector
    n_vocab, c, n_layer, heads, n_ffn = ck.sizes("att.r_k")

    ranks = {}
    for letter, what in LORAS:
        # Layer 0 has no value-residual LoRA: take v's rank from layer 1.
        layer = 1 if letter == "v" else 0
        key = f"blocks.{layer}.att.{letter}1"
        if key in sd and len(sd[key].shape) == 2:
            ranks[what] = sd[key].shape[1]
        elif letter == "v" and n_layer == 1:
            ranks[what] = calc_lora_rank(c, 0.5, 1.3)
        else:
            raise ConvertError(f"{source}: missing tensor {key}")

    expected = ck.outside_layers(n_vocab, c)
    for i in range(n_layer):
        b = f"blocks.{i}."
        for n in LAYER_NORMS:
            expect(b + n, (c,))
        for n in LAYER_VECTORS:
            expect_vector(b + n, c)
        expect(b + "att.r_k", heads)
        for n in LAYER_SQUARE:
            expect(b + n, (c, c))
        expect(b + "ffn.key.weight", (n_ffn, c))
        expect(b + "ffn.value.weight", (c, n_ffn))
        for letter, what in LORAS:
            if letter == "v" and i == 0:
                continue
            expect(b + f"att.{letter}1", (c, ranks[what]))
            expect(b + f"att.{letter}2", (ranks[what], c))
        if i > 0:
            expect_vector(b + "att.v0", c)
        names = [b + n for n in LAYER_NORMS + LAYER_VECTORS + LAYER_SQUARE]
        names += [b + "att.r_k", b + "ffn.key.weight", b + "ffn.value.weight"]
        names += [b + f"att.{l}{j}" for l in "wavg" for j in "012" if l != "g" or j != "0"]
        expected.update(names)
    for name in sd:
        # Layer 0's v0/v1/v2, present in some checkpoints, are unused and dropped.
        if name not in expected and not re.fullmatch(r"blocks\.0\.att\.v[012]", name):
            raise ConvertError(f"{source}: unexpected tensor {name} (not part of an RWKV-7 model)")

    lora_ranks = {f"attention.{what}_lora_rank": rank for what, rank in ranks.items()}
    return {"n_vocab": n_vocab, "n_embd": c, "n_layer": n_layer, "n_ffn": n_ffn,
            "head_size": heads[1], "lora_ranks": lora_ranks}


# ---------------------------------------------------------------------------
# The llama.cpp tensor layout
# ---------------------------------------------------------------------------

# Official per-layer name (after "blocks.N.") -> llama.cpp name (after "blk.N.").
LAYER_NAMES = {
    "ln1.weight": "attn_norm.weight", "ln1.bias": "attn_norm.bias",
    "ln2.weight": "attn_norm_2.weight", "ln2.bias": "attn_norm_2.bias",
    "att.receptance.weight": "time_mix_receptance.weight",
    "att.key.weight": "time_mix_key.weight",
    "att.value.weight": "time_mix_value.weight",
    "att.output.weight": "time_mix_output.weight",
    "att.ln_x.weight": "time_mix_ln.weight", "att.ln_x.bias": "time_mix_ln.bias",
    "ffn.x_k": "channel_mix_lerp_k.weight",
    "ffn.key.weight": "channel_mix_key.weight",
    "ffn.value.weight": "channel_mix_value.weight",
}
for _p in ("w0", "w1", "w2", "a0", "a1", "a2", "v0", "v1", "v2", "g1", "g2", "k_k", "k_a", "r_k"):
    LAYER_NAMES["att." + _p] = f"time_mix_{_p}.weight"
TOP_NAMES = {"emb.weight": "token_embd.weight", "ln_out.weight": "output_norm.weight",
             "ln_out.bias": "output_norm.bias", "head.weight": "output.weight"}
LORA_MATRICES = {"att." + l + j for l in "wavg" for j in "12"}
LERP_ORDER = ("r", "w", "k", "v", "a", "g")   # order inside time_mix_lerp_fused

# llama.cpp keeps these in F32 whatever the output type (convert_hf_to_gguf.py
# prepare_tensors: TIME_MIX_W1, TIME_MIX_W2, TIME_MIX_LERP_FUSED).
# RWKV-6 adds its decay LoRA and the bonus (TIME_MIX_DECAY_W1/W2, TIME_MIX_FIRST).
ALWAYS_F32_SUFFIXES = ("time_mix_w1.weight", "time_mix_w2.weight", "time_mix_lerp_fused.weight",
                       "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_first.weight")


def output_type(name: str, ndim: int, dtype: str) -> int:
    """llama.cpp's choice of type for one tensor: vectors and norms F32
    (most of ggml's code only handles those in F32), the decay LoRA and the
    mixes F32, everything else in the requested type."""
    if ndim <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight"):
        return GGMLType.F32
    if name.endswith(ALWAYS_F32_SUFFIXES):
        return GGMLType.F32
    return GGML_TYPE_OF_DTYPE[dtype]


# Tensors of two or more dimensions that the engine reads element by element
# rather than multiplying: with quantized input these are dequantized too.
ELEMENTWISE_SUFFIXES = ("time_mix_lerp_fused.weight", "time_mix_first.weight")


def tensor_type(name: str, t: Tensor, dtype: str) -> int:
    """The GGUF type of one output tensor.  A float input takes llama.cpp's
    choice (output_type).  A quantized one (rwkv.cpp) keeps its type and its
    blocks byte for byte when the GGUF tensor is a matrix whose rows are the
    stored rows (QuantizedData.same_layout: the same tensor, or one reshaped
    along whole rows); a vector, a tensor read element by element, or a
    transposed matrix is dequantized and stored as the float path would store
    it (vectors F32, matrices in the float type).  Quantized matrices that
    llama.cpp keeps in F32 for float input (the decay LoRA time_mix_w1/w2)
    stay quantized: their values are the quantized ones either way."""
    float_type = output_type(name, t.arr.ndim, dtype)
    q = t.quant
    if q is None:
        return float_type
    if (t.arr.ndim <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight")
            or name.endswith(ELEMENTWISE_SUFFIXES)):
        return GGMLType.F32
    return q.ggml_type if q.same_layout(t.arr) else float_type


def v7_layer_tensors(arch: str, bid: int, rest: str, t: Tensor) -> list:
    """One official RWKV-7 layer tensor (blocks.bid.rest; the mixes aside) as
    the GGUF tensors [(name, Tensor)] llama.cpp makes of it: none for layer
    0's unused v0/v1/v2, two for layer 0's a0/a1/a2 (the dummy v copy first)."""
    if bid == 0 and rest in ("att.v0", "att.v1", "att.v2"):
        return []   # unused; replaced by the copies of a0/a1/a2 below
    gname = f"blk.{bid}." + LAYER_NAMES[rest]
    arr = np.squeeze(t.arr)
    if rest in LORA_MATRICES:
        arr = arr.T          # llama.cpp wants [rank, C] and [C, rank] in ggml order
    if rest == "att.r_k":
        arr = arr.reshape(-1)
    t = t.view(arr)
    if bid == 0 and rest in ("att.a0", "att.a1", "att.a2"):
        return [(gname.replace("time_mix_a", "time_mix_v"), t), (gname, t)]
    return [(gname, t)]


# ---------------------------------------------------------------------------
# RWKV-6 and RWKV-5.2
# ---------------------------------------------------------------------------
#
# RWKV-6 as llama.cpp stores it (convert_hf_to_gguf.py Rwkv6Model, read by
# src/models/rwkv6*.cpp), from the official .pth (NumPy shapes):
#
#   official .pth                       GGUF tensor (blk.N.)             GGUF type
#   att.time_maa_x [1,1,C]              time_mix_lerp_x [C]              F32
#   att.time_maa_w,k,v,r,g [1,1,C]      time_mix_lerp_fused [5,1,1,C]    F32
#     stacked in the order w, k, v, r, g
#   att.time_maa_w1 [C,5D]              time_mix_w1 [5D,C] (transposed)  F32
#   att.time_maa_w2 [5,D,C]             time_mix_w2 [5,C,D] (each of the F32
#                                         five transposed)
#   att.time_decay [1,1,C]              time_mix_decay [C], as it is     F32
#     (llama.cpp computes exp(-exp(time_decay + LoRA)) at run time)
#   att.time_decay_w1 [C,E], _w2 [E,C]  time_mix_decay_w1 [E,C], _w2 [C,E] F32
#   att.time_faaaa [H,N]                time_mix_first [H,N], as it is   F32
#   att.{receptance,key,value,          time_mix_{receptance,key,value,  dtype
#        output,gate}.weight              output,gate}
#   att.ln_x                            time_mix_ln                      F32
#   ffn.time_maa_k, _r [1,1,C]          channel_mix_lerp_k, _r [C]       F32
#   ffn.{key,receptance,value}.weight   channel_mix_{key,receptance,value} dtype
#   (emb, ln0, ln1, ln2, ln_out, head as for RWKV-7)
#
# plus the keys rwkv6.time_mix_extra_dim (D) and rwkv6.time_decay_extra_dim
# (E), read from the shapes, and rwkv6.rescale_every_n_layers = 0: llama.cpp's
# converter divides att.output / ffn.value of layer i by 2^(i // n) when a
# Hugging Face config asks for rescaling (n = 6) and the engine then halves x
# after every n-th layer, a float16 overflow guard. A .pth has no such
# request, so the weights are kept as they are (rwkv-cli honours n > 0 in
# files that have it).
#
# RWKV-5.2 ("rwkv5", not in llama.cpp) uses the same names where the tensor
# exists, and the lerp convention of llama.cpp throughout:
#
#   att.time_mix_k,v,r,g [1,1,C]        time_mix_lerp_k,v,r,g [C]        F32
#     = 1 - time_mix (v5 weighs the current token, x*mix + prev*(1-mix);
#       the lerp is x + (prev - x) * lerp, as in v6 and v7)
#   att.time_decay [H,N]                time_mix_decay [C], flattened,   F32
#     as it is (constant decay exp(-exp(time_decay)), made at load time)
#   att.time_faaaa [H,N]                time_mix_first [H,N]             F32
#   ffn.time_mix_k, _r [1,1,C]          channel_mix_lerp_k, _r [C] = 1 - mix  F32
#   everything else as RWKV-6 (no LoRA tensors, no time_mix_lerp_x).

V6_LAYER_NAMES = {
    "ln1.weight": "attn_norm.weight", "ln1.bias": "attn_norm.bias",
    "ln2.weight": "attn_norm_2.weight", "ln2.bias": "attn_norm_2.bias",
    "att.time_maa_x": "time_mix_lerp_x.weight",
    "att.time_maa_w1": "time_mix_w1.weight", "att.time_maa_w2": "time_mix_w2.weight",
    "att.time_decay": "time_mix_decay.weight",
    "att.time_decay_w1": "time_mix_decay_w1.weight", "att.time_decay_w2": "time_mix_decay_w2.weight",
    "att.time_faaaa": "time_mix_first.weight",
    "att.receptance.weight": "time_mix_receptance.weight",
    "att.key.weight": "time_mix_key.weight",
    "att.value.weight": "time_mix_value.weight",
    "att.output.weight": "time_mix_output.weight",
    "att.gate.weight": "time_mix_gate.weight",
    "att.ln_x.weight": "time_mix_ln.weight", "att.ln_x.bias": "time_mix_ln.bias",
    "ffn.time_maa_k": "channel_mix_lerp_k.weight", "ffn.time_maa_r": "channel_mix_lerp_r.weight",
    "ffn.key.weight": "channel_mix_key.weight",
    "ffn.receptance.weight": "channel_mix_receptance.weight",
    "ffn.value.weight": "channel_mix_value.weight",
}
V6_LERP_ORDER = ("w", "k", "v", "r", "g")   # order inside time_mix_lerp_fused

V5_LAYER_NAMES = {k: v for k, v in V6_LAYER_NAMES.items() if "time_maa" not in k and "time_decay_w" not in k}
V5_LAYER_NAMES.update({f"att.time_mix_{m}": f"time_mix_lerp_{m}.weight" for m in "kvrg"})
V5_LAYER_NAMES.update({"ffn.time_mix_k": "channel_mix_lerp_k.weight", "ffn.time_mix_r": "channel_mix_lerp_r.weight"})


def detect_arch(sd: "OrderedDict[str, Tensor]", source: str) -> str:
    """'rwkv7', 'rwkv6' or 'rwkv5' from the official tensor names."""
    if "blocks.0.att.k_k" in sd or "blocks.0.att.r_k" in sd:
        return "rwkv7"
    if "blocks.0.att.time_maa_x" in sd:
        return "rwkv6"
    if "blocks.0.att.time_faaaa" in sd and "blocks.0.att.gate.weight" in sd:
        return "rwkv5"
    if "blocks.0.att.ln_x.weight" in sd:
        raise ConvertError(f"{source}: an RWKV-5.0/5.1 model (no att.gate or att.time_faaaa); "
                           "only RWKV-5.2, RWKV-6 and RWKV-7 are supported")
    raise ConvertError(f"{source}: not an RWKV-7, RWKV-6 or RWKV-5.2 model (no tensor blocks.0.att.k_k, "
                       "blocks.0.att.time_maa_x or blocks.0.att.time_faaaa); RWKV-4 is not supported")


def check_model_v56(sd: "OrderedDict[str, Tensor]", source: str, arch: str) -> dict:
    """Check every official RWKV-6 / RWKV-5.2 tensor for presence and shape;
    return the hyperparameters. Errors name the tensor."""
    ck = TensorChecks(sd, source)
    get, expect, expect_vector = ck.get, ck.expect, ck.expect_vector
    n_vocab, c, n_layer, heads, n_ffn = ck.sizes("att.time_faaaa")
    hp = {"n_vocab": n_vocab, "n_embd": c, "n_layer": n_layer, "n_ffn": n_ffn, "head_size": heads[1],
          "lora_ranks": {}}
    D = E = None
    if arch == "rwkv6":
        w1, d1 = get("blocks.0.att.time_maa_w1"), get("blocks.0.att.time_decay_w1")
        if len(w1.shape) != 2 or w1.shape[1] % 5 != 0:
            raise ConvertError(f"{source}: tensor blocks.0.att.time_maa_w1 has shape {list(w1.shape)}, "
                               "expected [embd, 5 x rank]")
        if len(d1.shape) != 2:
            raise ConvertError(f"{source}: tensor blocks.0.att.time_decay_w1 has shape {list(d1.shape)}, "
                               "expected [embd, rank]")
        D, E = w1.shape[1] // 5, d1.shape[1]
        hp["lora_ranks"] = {"time_mix_extra_dim": D, "time_decay_extra_dim": E}
        names = V6_LAYER_NAMES
    else:
        names = V5_LAYER_NAMES

    expected = ck.outside_layers(n_vocab, c)
    for i in range(n_layer):
        b = f"blocks.{i}."
        rests = list(names) + ([f"att.time_maa_{m}" for m in V6_LERP_ORDER] if arch == "rwkv6" else [])
        for rest in rests:
            name = b + rest
            if rest.endswith((".weight", ".bias")) and not rest.startswith(("ln", "att.ln_x")):
                out_dim = n_ffn if rest == "ffn.key.weight" else c
                in_dim = n_ffn if rest == "ffn.value.weight" else c
                expect(name, (out_dim, in_dim))
            elif rest.startswith(("ln", "att.ln_x")):
                expect(name, (c,))
            elif rest in ("att.time_faaaa",) or (arch == "rwkv5" and rest == "att.time_decay"):
                if arch == "rwkv5" and rest == "att.time_decay" and get(name).arr.size != c:
                    raise ConvertError(f"{source}: tensor {name} has shape {list(get(name).shape)}: one decay "
                                       "per head (RWKV-5.0/5.1) is not supported, only RWKV-5.2")
                expect(name, heads)
            elif rest == "att.time_maa_w1":
                expect(name, (c, 5 * D))
            elif rest == "att.time_maa_w2":
                expect(name, (5, D, c))
            elif rest == "att.time_decay_w1":
                expect(name, (c, E))
            elif rest == "att.time_decay_w2":
                expect(name, (E, c))
            else:
                expect_vector(name, c)
            expected.add(name)
    for name in sd:
        if name not in expected:
            what = "RWKV-6" if arch == "rwkv6" else "RWKV-5.2"
            raise ConvertError(f"{source}: unexpected tensor {name} (not part of an {what} model)")
    return hp


def v56_layer_tensors(arch: str, bid: int, rest: str, t: Tensor) -> list:
    """One official RWKV-6 / RWKV-5.2 layer tensor (blocks.bid.rest; RWKV-6's
    five fused mixes aside) as its GGUF tensor [(name, Tensor)]."""
    gname = f"blk.{bid}." + (V6_LAYER_NAMES if arch == "rwkv6" else V5_LAYER_NAMES)[rest]
    if arch == "rwkv5" and re.fullmatch(r"(att|ffn)\.time_mix_[kvrg]", rest):
        return [(gname, Tensor(np.float32(1) - t.as_f32().reshape(-1), "f32"))]   # lerp = 1 - mix
    arr = t.arr
    if rest in ("att.time_maa_w1", "att.time_decay_w1", "att.time_decay_w2"):
        arr = arr.T
    elif rest == "att.time_maa_w2":
        arr = arr.transpose(0, 2, 1)
    elif rest == "att.time_faaaa":
        pass                                  # [H,N] as it is
    elif rest.startswith(("att.time_", "ffn.time_")):
        arr = arr.reshape(-1)                 # vectors (and v5's [H,N] decay) -> [C]
    return [(gname, t.view(arr))]


# ---------------------------------------------------------------------------
# The GGUF tensors, for every generation
# ---------------------------------------------------------------------------

# Per architecture: the function that maps one layer tensor, and the mixes
# that llama.cpp stacks into time_mix_lerp_fused (official name prefix, then
# the letters in stacking order), if any.
LAYER_TENSORS = {"rwkv7": v7_layer_tensors, "rwkv6": v56_layer_tensors, "rwkv5": v56_layer_tensors}
FUSED_LERPS = {"rwkv7": ("att.x_", LERP_ORDER), "rwkv6": ("att.time_maa_", V6_LERP_ORDER), "rwkv5": None}


def gguf_tensors(sd: "OrderedDict[str, Tensor]", dtype: str, arch: str) -> list:
    """The GGUF tensors as (name, Tensor, ggml type), in the order llama.cpp
    produces them from the input order: one at a time, except that the mixes
    of a layer stacked in time_mix_lerp_fused (six in RWKV-7, five in RWKV-6)
    come out together when the last of them is seen."""
    layer_tensors, fused = LAYER_TENSORS[arch], FUSED_LERPS[arch]
    out = []
    mixes: dict[int, dict[str, Tensor]] = {}
    for name, t in sd.items():
        m = re.fullmatch(r"blocks\.(\d+)\.(.+)", name)
        if m is None:
            tensors = [(TOP_NAMES[name], t.view(np.squeeze(t.arr)))]
        else:
            bid, rest = int(m.group(1)), m.group(2)
            if rest.startswith("ln0."):
                tensors = [("token_embd_norm." + rest[len("ln0."):], t)]
            elif fused and rest.startswith(fused[0]) and rest[len(fused[0]):] in fused[1]:
                tensors = fused_lerp(mixes.setdefault(bid, {}), bid, rest[len(fused[0]):], t, fused[1])
            else:
                tensors = layer_tensors(arch, bid, rest, t)
        out += [(gname, gt, tensor_type(gname, gt, dtype)) for gname, gt in tensors]
    return out


def fused_lerp(mixes: "dict[str, Tensor]", bid: int, letter: str, t: Tensor, order: tuple) -> list:
    """Collect the mix `letter` of layer bid in `mixes`; once all of `order`
    are there, the tensor time_mix_lerp_fused [n,1,1,C] stacking them (F32)."""
    mixes[letter] = t
    if not all(k in mixes for k in order):
        return []
    c = t.arr.size
    stacked = np.stack([mixes[k].as_f32().reshape(1, 1, c) for k in order])
    return [(f"blk.{bid}.time_mix_lerp_fused.weight", Tensor(stacked, "f32"))]


# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------

def token_text(token: bytes) -> bytes:
    """llama.cpp's text for an RWKV token: the bytes as Python shows them
    inside b'...', e.g. b'\\xe4' -> the 4 characters \\xe4.  Its tokenizer
    un-escapes this back to the bytes."""
    return repr(token)[2:-1].encode("utf-8")


def world_vocab(path: str, vocab_size: int) -> tuple[list, list]:
    """Tokens and token types as llama.cpp's _set_vocab_rwkv_world makes them:
    id 0 is "<s>" (CONTROL), ids 1.. come from the file (NORMAL), then
    "[PADi]" (UNUSED) up to the model's vocabulary size."""
    tokens = [b"<s>"]
    types = [TOKEN_CONTROL]
    try:
        with open(path, "r", encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                try:
                    # "ID LITERAL LENGTH": the literal may contain spaces.
                    idx, rest = line.rstrip("\r\n").split(" ", 1)
                    literal, length = rest.rsplit(" ", 1)
                    token = ast.literal_eval(literal)
                    if isinstance(token, str):
                        token = token.encode("utf-8")
                    ok = isinstance(token, bytes) and len(token) == int(length) and int(idx) == len(tokens)
                except (ValueError, SyntaxError):
                    ok = False
                if not ok:
                    raise ConvertError(f"{path}:{lineno}: not a valid vocabulary line")
                tokens.append(token_text(token))
                types.append(TOKEN_NORMAL)
    except UnicodeDecodeError:
        raise ConvertError(f"{path}: vocabulary file is not UTF-8 text")
    if len(tokens) > vocab_size:
        raise ConvertError(f"{path}: vocabulary has {len(tokens)} tokens but the model has "
                           f"only {vocab_size} embedding rows")
    for i in range(len(tokens), vocab_size):
        tokens.append(f"[PAD{i}]".encode("utf-8"))
        types.append(TOKEN_UNUSED)
    return tokens, types


def byte_vocab() -> tuple[list, list]:
    """Byte-level vocabulary (rwkv.cpp's tiny models): token i is the byte i,
    written the same escaped way as world tokens."""
    return [token_text(bytes([i])) for i in range(256)], [TOKEN_NORMAL] * 256


def default_vocab_path() -> Path:
    """../shared/data/tokenizer/ beside the repository holding this script."""
    repo = Path(__file__).resolve().parent.parent
    return repo.parent / "shared" / "data" / "tokenizer" / VOCAB_FILE_NAME


# ---------------------------------------------------------------------------
# general.* metadata, derived from the input file name as llama.cpp derives it
# from the model directory name (gguf-py metadata.py)
# ---------------------------------------------------------------------------

def id_to_title(s: str) -> str:
    """"rwkv7-g1-fp16" -> "Rwkv7 G1 Fp16": capitalise lowercase words,
    except version numbers like v7 and words starting with a digit."""
    return " ".join(w.title() if w.islower() and not re.match(r"^(v\d+(?:\.\d+)*|\d.*)$", w) else w
                    for w in s.strip().replace("-", " ").split())


def _size_label_value(label: str) -> float:
    return float(label[:-1]) * pow(1000, " KMBT".find(label[-1]))


def _normalize_size_label(label: str) -> str:
    label = label.replace("_", ".")
    if label[-1].isdecimal():                 # bloom-7b1 -> 7.1b
        label = label[:-2] + "." + label[-1] + label[-2]
    if len(label) > 1 and label[-2].isdecimal() and label[-1] in "kmbt":
        label = label[:-1] + label[-1].upper()
    return label


def model_id_components(model_id: str, total_params: int) -> dict:
    """Split a name like "RWKV7-G1-1.5B-fp16" into basename, finetune,
    version and size label, following llama.cpp's heuristics: each '-'
    part is a version (v7, 1.0), a type (fp16, q8_0), a size (1.5B), a known
    finetune word, or plain; the leading plain words form the basename."""
    result = {"basename": None, "finetune": None, "version": None, "size_label": None}
    if " " in model_id:
        return result   # a human-written name: nothing to split
    parts = [p for p in model_id.split("-") if p]
    kinds = [set() for _ in parts]
    for i, part in enumerate(parts):
        if re.fullmatch(r"(v|iter)?\d+([.]\d+)*", part, re.IGNORECASE):
            kinds[i].add("version")
        elif re.fullmatch(r"i?q\d(_\w)*|b?fp?(16|32)", part, re.IGNORECASE):
            kinds[i].add("type")
            parts[i] = part.upper()
        elif i > 0 and re.fullmatch(r"(([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?|small|mini|medium|large|x?xl)",
                                    part, re.IGNORECASE):
            part = _normalize_size_label(part)
            if total_params != 0:
                try:
                    value = _size_label_value(part)
                    nxt = _normalize_size_label(parts[i + 1]) if i + 1 < len(parts) else None
                    active_follows = (nxt is not None
                                      and re.fullmatch(r"A\d+([._]\d+)?[KMBT][\d]?", nxt, re.IGNORECASE)
                                      and abs(_size_label_value(nxt[1:]) - abs(total_params))
                                      <= 7 * abs(total_params) // 8)
                    # A "size" far from the real parameter count is probably
                    # a context length: call it part of the finetune name.
                    if not active_follows and (
                            (total_params < 0 and value < abs(total_params) // 8)
                            or (total_params > 0 and abs(value - total_params) > 7 * total_params // 8)):
                        kinds[i].add("finetune")
                        part = part[:-1] + part[-1].lower()
                except (ValueError, IndexError):
                    pass
            if not kinds[i]:
                kinds[i].add("size_label")
            parts[i] = part
        elif i > 0 and re.fullmatch(r"chat|instruct|vision|lora", part, re.IGNORECASE):
            kinds[i].add("finetune")

    # Word sizes ("small") give way to numeric ones.
    if any(ch.isdecimal() for p, k in zip(parts, kinds) if "size_label" in k for ch in p):
        for p, k in zip(parts, kinds):
            if "size_label" in k and all(ch.isalpha() for ch in p):
                k.remove("size_label")

    at_start = True
    for p, k in zip(parts, kinds):
        if at_start and ((not k and p[0].isalpha()) or "version" in k):
            k.add("basename")
        else:
            at_start = False
            if not k:
                k.add("finetune")
    for p, k in zip(reversed(parts), reversed(kinds)):   # a trailing version is not basename
        if "basename" in k and len(k) > 1:
            k.remove("basename")
        else:
            break

    join = lambda items: "-".join(items) or None  # noqa: E731
    result["basename"] = join(p for p, k in zip(parts, kinds) if "basename" in k)
    result["size_label"] = join(dict.fromkeys(p for p, k in zip(parts, kinds) if "size_label" in k))
    result["finetune"] = join(p for p, k in zip(parts, kinds) if "finetune" in k)
    result["version"] = join(p for p, k in zip(parts, kinds) if "version" in k and "basename" not in k)
    if result["size_label"] is None and result["finetune"] is None and result["version"] is None:
        result["basename"] = None   # too ambiguous
    return result


def size_label(total_params: int) -> str:
    """8_520_000 -> "8.5M": at least two significant digits (gguf-py)."""
    n = abs(total_params)
    for limit, scale, suffix in ((1e12, 1e-12, "T"), (1e9, 1e-9, "B"), (1e6, 1e-6, "M")):
        if n >= limit:
            break
    else:
        scale, suffix = 1e-3, "K"
    scaled = n * scale
    decimals = max(2 - len(str(round(scaled)).lstrip("0")), 0)
    return f"{scaled:.{decimals}f}{suffix}"


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def convert_state(args, sd: "OrderedDict[str, Tensor]") -> None:
    """A state-tuning checkpoint -> an rwkv-cli state file for --model."""
    src = args.input
    if args.vocab or args.dtype or args.name:
        raise ConvertError(f"{src}: a state-tuning checkpoint: --vocab, --dtype and --name are for models")
    if os.path.abspath(args.model) == os.path.abspath(args.output):
        raise ConvertError(f"{args.output}: output would overwrite the model")
    if not os.path.isfile(args.model):
        raise ConvertError(f"{args.model}: no such model file")
    info = state_file.model_info(args.model)
    kinds = sorted({sd[k].kind for k in sd if state_file.TIME_STATE.fullmatch(k)})
    wkv = state_file.wkv_from_time_state({k: t.as_f32() for k, t in sd.items()}, info, src,
                                         lambda msg: print(f"{PROG}: warning: {msg}", file=sys.stderr))
    state_file.write_state(args.output, info, wkv)
    if not args.quiet:
        arch = {5: "RWKV-5.2", 6: "RWKV-6", 7: "RWKV-7"}[info["arch"]]
        print(f"{PROG}: wrote {args.output}: {arch} state, {info['n_layer']} layers x {info['n_head']} heads of "
              f"{info['head_size']} (time_state {'/'.join(kinds)} from {src}) for {args.model} "
              f"(model id {info['model_id']:016x})", file=sys.stderr)


def convert(args) -> None:
    src = args.input
    fmt = detect_format(src)
    if fmt == "pth":
        sd, input_kind = load_pth(src)
        header_vocab = None
        if args.model or (state_file.is_time_state(sd) and "emb.weight" not in sd):
            if not state_file.is_time_state(sd):
                raise ConvertError(f"{src}: no blocks.N.att.time_state tensors: not a state-tuning checkpoint "
                                   "(--model is only for those)")
            if not args.model:
                raise ConvertError(f"{src}: a state-tuning checkpoint (blocks.N.att.time_state): "
                                   "give the model it is for with --model MODEL.gguf")
            return convert_state(args, sd)
    else:
        if args.model:
            raise ConvertError(f"{src}: an rwkv.cpp model file, not a state-tuning checkpoint "
                               "(--model is only for those)")
        sd, input_kind, header_vocab = load_rwkvcpp(src)
    arch = detect_arch(sd, src)
    hp = check_model(sd, src) if arch == "rwkv7" else check_model_v56(sd, src, arch)
    dtype = args.dtype or input_kind

    # Vocabulary: byte-level for a 256-token model unless a vocabulary file
    # is given, otherwise the world vocabulary.
    n_vocab = hp["n_vocab"]
    if args.vocab is None and n_vocab == 256:
        tokens, token_types = byte_vocab()
        world = False
    else:
        vocab_path = Path(args.vocab) if args.vocab else default_vocab_path()
        if not vocab_path.is_file():
            if args.vocab:
                raise ConvertError(f"{vocab_path}: no such vocabulary file")
            raise ConvertError(f"{src}: needs --vocab PATH/{VOCAB_FILE_NAME} "
                               f"(not found at the default {vocab_path})")
        tokens, token_types = world_vocab(str(vocab_path), n_vocab)
        world = True
    if header_vocab is not None and header_vocab != n_vocab:
        raise ConvertError(f"{src}: header n_vocab {header_vocab} differs from emb.weight rows {n_vocab}")

    plan = gguf_tensors(sd, dtype, arch)
    # general.file_type: llama.cpp's "mostly" type: the quantized type with
    # the most values if any tensor is quantized, otherwise the float type.
    quantized = {}
    for _, t, gtype in plan:
        if gtype in QUANT_FILE_TYPE:
            quantized[gtype] = quantized.get(gtype, 0) + t.arr.size
    main_quant = max(quantized, key=quantized.get) if quantized else None
    file_type = QUANT_FILE_TYPE[main_quant] if main_quant is not None else FILE_TYPE[dtype]

    out_tmp = args.output + ".tmp"
    w = Writer(out_tmp, arch)
    for name, t, gtype in plan:
        w.add_tensor(name, (lambda t=t, g=gtype: t.encode(g)), gtype, shape=t.shape)
    total_params = w.parameter_count()

    # general.* (order as llama.cpp: type, name, version, finetune, basename,
    # size_label).  The name comes from the input file name, as llama.cpp
    # takes it from the model directory name.
    model_id = Path(src).stem
    parts = model_id_components(model_id, total_params)
    w.add_string("general.type", "model")
    w.add_string("general.name", args.name if args.name else id_to_title(model_id))
    for key in ("version", "finetune", "basename"):
        if parts[key]:
            w.add_string(f"general.{key}", parts[key])
    w.add_string("general.size_label", parts["size_label"] or size_label(total_params))

    # {arch}.* hyperparameters (Rwkv7Model / Rwkv6Model.set_gguf_parameters
    # order; rwkv5.* as rwkv6.* without the two LoRA ranks).
    w.add_uint32(f"{arch}.context_length", 1048576)   # RWKV has no context limit
    w.add_uint32(f"{arch}.embedding_length", hp["n_embd"])
    w.add_uint32(f"{arch}.block_count", hp["n_layer"])
    w.add_float32(f"{arch}.attention.layer_norm_epsilon", 1e-5)
    if arch != "rwkv7":
        w.add_uint32(f"{arch}.rescale_every_n_layers", 0)   # weights as they are (see RWKV-6 above)
    w.add_uint32(f"{arch}.wkv.head_size", hp["head_size"])
    for key, rank in hp["lora_ranks"].items():
        w.add_uint32(f"{arch}.{key}", rank)
    w.add_uint32(f"{arch}.feed_forward_length", hp["n_ffn"])
    w.add_uint32("general.file_type", file_type)
    w.add_uint32(f"{arch}.attention.head_count", 0)    # required by llama.cpp, unused
    w.add_uint32("general.quantization_version", 2)

    # Tokenizer.
    w.add_string("tokenizer.ggml.model", "rwkv")
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.token_type", token_types)
    w.add_uint32("tokenizer.ggml.bos_token_id", 0)
    w.add_uint32("tokenizer.ggml.eos_token_id", 0)
    if world:
        w.add_uint32("tokenizer.ggml.eot_token_id", 261)   # "\n\n", ends a chat turn
        w.add_string("tokenizer.chat_template", RWKV_WORLD_CHAT_TEMPLATE)

    tty = sys.stderr.isatty() and not args.quiet

    def progress(i: int, n: int, info) -> None:
        if tty:
            shape = "x".join(str(d) for d in reversed(info.shape))
            print(f"[{i:4d}/{n}] {info.name:42s} {GGMLType.name(info.ggml_type):5s} {shape}",
                  file=sys.stderr)

    try:
        nbytes = w.write(progress)
        os.replace(out_tmp, args.output)
    except BaseException:
        if os.path.exists(out_tmp):
            os.unlink(out_tmp)
        raise
    if args.quiet:
        return
    kind = "rwkv.cpp file" if fmt == "rwkvcpp" else ".pth checkpoint"
    types_text = dtype
    if quantized:
        n_q = sum(1 for _, _, g in plan if g in QUANT_FILE_TYPE)
        types_text = (" + ".join(GGMLType.name(g) for g in sorted(quantized, key=quantized.get, reverse=True))
                      + f" ({n_q} tensors), the others {dtype}")
    print(f"{PROG}: wrote {args.output}: {arch}, {hp['n_layer']} layers, n_embd {hp['n_embd']}, "
          f"vocab {n_vocab}, {len(plan)} tensors, {types_text}, {nbytes / 2**20:.1f} MiB "
          f"(from {kind} {src})", file=sys.stderr)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Convert an RWKV-7, RWKV-6 or RWKV-5.2 model (official .pth or rwkv.cpp file) to GGUF "
                    "as llama.cpp lays it out, or a state-tuning checkpoint (blocks.N.att.time_state) "
                    "to an rwkv-cli state file (with --model).")
    p.add_argument("input", help="official BlinkDL RWKV-7/6/5.2 .pth, rwkv.cpp model file (FP32, FP16, "
                                 "Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), or state-tuning .pth")
    p.add_argument("output", help="GGUF file (or state file) to write")
    p.add_argument("--vocab", help=f"path to {VOCAB_FILE_NAME} (default: ../shared/data/tokenizer/ "
                                   "beside the repository; not needed for 256-token byte models)")
    p.add_argument("--dtype", choices=("f32", "f16", "bf16"),
                   help="type of the float matrices (default: the input's; quantized ones keep their "
                        "type); vectors stay F32")
    p.add_argument("--name", help="general.name (default: derived from the input file name)")
    p.add_argument("--model", help="for a state-tuning checkpoint: the GGUF model the state is for")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress (shown when stderr is a terminal) and no summary line")
    args = p.parse_args(argv)
    try:
        if os.path.abspath(args.input) == os.path.abspath(args.output):
            raise ConvertError(f"{args.output}: output would overwrite the input")
        convert(args)
    except (ConvertError, state_file.StateError, GGUFFormatError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        where = e.filename if e.filename else args.output
        if where == args.output + ".tmp":   # name the file the user asked for
            where = args.output
        print(f"{PROG}: error: {where}: {e.strerror or e}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"{PROG}: error: {args.input}: out of memory", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
