"""gguf_writer.py - a small, readable GGUF (version 3) writer and reader.

Only the Python standard library and NumPy are needed (no gguf-py).

The writer lays a file out byte for byte the way llama.cpp's gguf-py
GGUFWriter does, so a converter that adds the same keys and tensors in the
same order produces an identical file:

    magic "GGUF" | u32 version (3) | u64 tensor count | u64 key/value count
    key/value pairs, in the order they were added:
        string key | u32 value type | value
    tensor infos, in the order the tensors were added:
        string name | u32 n_dims | u64 ne[0] .. ne[n_dims-1] | u32 ggml type
        | u64 offset (from the start of the data section)
    zero padding up to a multiple of the alignment (32)
    tensor data, each tensor followed by zero padding to a multiple of 32

A GGUF string is a u64 byte length followed by the UTF-8 bytes (no NUL).
Everything is little-endian.

Shapes: ggml lists dimensions fastest-varying first (ne[0] is the length of
a row), NumPy lists them slowest first.  They are the same tensor, so the
writer stores ne = reversed(array.shape) and the reader gives back arrays of
shape reversed(ne): the row-major bytes are then exactly the file's bytes.

Usage as a library (put scripts/ on sys.path):

    from gguf_writer import GGUFWriter, read_gguf, tensor_as_f32, GGMLType
    w = GGUFWriter("out.gguf", "rwkv7")
    w.add_uint32("rwkv7.block_count", 2)
    w.add_tensor("token_embd.weight", array_f16, GGMLType.F16)
    w.write()
    meta, tensors = read_gguf("out.gguf")
    ggml_type, arr = tensors["token_embd.weight"]
    x = tensor_as_f32(ggml_type, arr)
"""

from __future__ import annotations

import struct
import sys
from typing import Any, Callable, Sequence, Union

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
GGUF_DEFAULT_ALIGNMENT = 32


class GGMLType:
    """ggml tensor type numbers (the subset this project writes, plus the
    quantized ones so that error messages can name them)."""
    F32 = 0
    F16 = 1
    Q4_0 = 2
    Q4_1 = 3
    Q5_0 = 6
    Q5_1 = 7
    Q8_0 = 8
    BF16 = 30

    NAMES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1",
             8: "Q8_0", 30: "BF16"}

    # NumPy dtype used to hold each plain (non-quantized) type.  BF16 has no
    # NumPy dtype, so its raw 16-bit patterns are kept in uint16.
    NUMPY = {0: np.dtype("<f4"), 1: np.dtype("<f2"), 30: np.dtype("<u2")}

    @classmethod
    def name(cls, t: int) -> str:
        return cls.NAMES.get(t, f"type {t}")


class GGUFValueType:
    """Metadata value type numbers, as in the GGUF specification."""
    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


# struct format of each fixed-size value type.
_SCALAR_FORMAT = {
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b",
    GGUFValueType.UINT16: "<H", GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f", GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q", GGUFValueType.INT64: "<q",
    GGUFValueType.FLOAT64: "<d",
}


def _pad_to(n: int, align: int) -> int:
    """Smallest multiple of `align` that is >= n."""
    return (n + align - 1) // align * align


def _guess_value_type(value: Any) -> int:
    """Element type of an array whose type was not given.  Same rules as
    gguf-py: text is STRING, a Python bool is BOOL (tested before int, since
    bool is a subclass of int), other ints INT32, floats FLOAT32."""
    if isinstance(value, (str, bytes, bytearray)):
        return GGUFValueType.STRING
    if isinstance(value, bool):
        return GGUFValueType.BOOL
    if isinstance(value, (int, np.integer)):
        return GGUFValueType.INT32
    if isinstance(value, (float, np.floating)):
        return GGUFValueType.FLOAT32
    raise ValueError(f"cannot store {type(value).__name__} in GGUF metadata")


def _pack_string(s: Union[str, bytes]) -> bytes:
    data = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(data)) + data


def _pack_value(value: Any, vtype: int, elem_type: int | None = None) -> bytes:
    """The bytes of one value (without its leading type field)."""
    if vtype in _SCALAR_FORMAT:
        return struct.pack(_SCALAR_FORMAT[vtype], value)
    if vtype == GGUFValueType.STRING:
        return _pack_string(value)
    if vtype == GGUFValueType.ARRAY:
        if elem_type is None:
            elem_type = _guess_value_type(value[0])
        if elem_type == GGUFValueType.ARRAY:
            raise ValueError("nested GGUF arrays are not supported")
        parts = [struct.pack("<IQ", elem_type, len(value))]
        if elem_type == GGUFValueType.STRING:
            parts.extend(_pack_string(v) for v in value)
        else:
            # One numpy conversion is much faster than 65,536 struct.pack calls
            # and gives the same little-endian bytes.
            fmt = _SCALAR_FORMAT[elem_type]
            parts.append(np.asarray(value, dtype=np.dtype(fmt)).tobytes())
        return b"".join(parts)
    raise ValueError(f"unknown GGUF value type {vtype}")


# A tensor's data may be given as an array, or as a function returning the
# array, so that a converter can produce (and free) one tensor at a time
# while the file is written instead of holding every converted tensor.
TensorData = Union[np.ndarray, Callable[[], np.ndarray]]


class _TensorInfo:
    def __init__(self, name: str, shape: Sequence[int], ggml_type: int, data: TensorData):
        self.name = name
        self.shape = tuple(int(d) for d in shape)   # NumPy order
        self.ggml_type = ggml_type
        self.data = data
        itemsize = GGMLType.NUMPY[ggml_type].itemsize
        n = 1
        for d in self.shape:
            n *= d
        self.nbytes = n * itemsize


class GGUFWriter:
    """Collects metadata and tensors, then writes them in one go with write().

    Keys and tensors are written in the order they were added (as gguf-py
    does), so the caller controls the layout completely.  The first key is
    always general.architecture, added by the constructor, again as gguf-py
    does.
    """

    def __init__(self, path: str, arch: str, alignment: int = GGUF_DEFAULT_ALIGNMENT):
        self.path = path
        self.arch = arch
        self.alignment = alignment
        # key -> (value type, value, array element type); a dict keeps the
        # insertion order, and re-adding a key replaces the value in place.
        self.kv: dict[str, tuple[int, Any, int | None]] = {}
        self.tensors: list[_TensorInfo] = []
        self.add_string("general.architecture", arch)

    # -- metadata -----------------------------------------------------------

    def add_key_value(self, key: str, value: Any, vtype: int, elem_type: int | None = None) -> None:
        self.kv[key] = (vtype, value, elem_type)

    def add_uint32(self, key: str, value: int) -> None:
        self.add_key_value(key, value, GGUFValueType.UINT32)

    def add_int32(self, key: str, value: int) -> None:
        self.add_key_value(key, value, GGUFValueType.INT32)

    def add_uint64(self, key: str, value: int) -> None:
        self.add_key_value(key, value, GGUFValueType.UINT64)

    def add_float32(self, key: str, value: float) -> None:
        self.add_key_value(key, value, GGUFValueType.FLOAT32)

    def add_bool(self, key: str, value: bool) -> None:
        self.add_key_value(key, bool(value), GGUFValueType.BOOL)

    def add_string(self, key: str, value: Union[str, bytes]) -> None:
        # gguf-py silently skips empty strings; do the same so that files stay
        # identical when an optional field is empty.
        if not value:
            return
        self.add_key_value(key, value, GGUFValueType.STRING)

    def add_array(self, key: str, values: Sequence[Any], elem_type: int | None = None) -> None:
        """An array of strings (str or bytes) or numbers.  Without elem_type
        the element type is guessed from the first element (ints become INT32,
        as in gguf-py).  Empty arrays are skipped, as gguf-py does."""
        if len(values) == 0:
            return
        self.add_key_value(key, list(values), GGUFValueType.ARRAY, elem_type)

    # -- tensors ------------------------------------------------------------

    def add_tensor(self, name: str, data: TensorData, ggml_type: int,
                   shape: Sequence[int] | None = None) -> None:
        """Add a tensor of type F32, F16 or BF16.

        data is an array (float32 for F32, float16 for F16, uint16 raw bit
        patterns for BF16) in NumPy order, or a zero-argument function that
        returns one; then `shape` (NumPy order) must be given so that the
        header can be laid out before any data is produced.
        """
        if ggml_type not in GGMLType.NUMPY:
            raise ValueError(f"{name}: only F32, F16 and BF16 tensors can be written")
        if any(t.name == name for t in self.tensors):
            raise ValueError(f"duplicated tensor name {name!r}")
        if shape is None:
            if callable(data):
                raise ValueError(f"{name}: a lazily produced tensor needs its shape")
            shape = data.shape
        self.tensors.append(_TensorInfo(name, shape, ggml_type, data))

    def parameter_count(self) -> int:
        """Number of elements over all tensors (what gguf-py calls the total
        parameter count, used for general.size_label)."""
        total = 0
        for t in self.tensors:
            n = 1
            for d in t.shape:
                n *= d
            total += n
        return total

    # -- output -------------------------------------------------------------

    def header_bytes(self) -> bytes:
        """Everything before the tensor data: header, metadata, tensor infos
        and the padding that aligns the data section."""
        out = [GGUF_MAGIC, struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(self.kv))]
        for key, (vtype, value, elem_type) in self.kv.items():
            out.append(_pack_string(key))
            out.append(struct.pack("<I", vtype))
            out.append(_pack_value(value, vtype, elem_type))
        offset = 0
        for t in self.tensors:
            out.append(_pack_string(t.name))
            ne = tuple(reversed(t.shape))   # ggml order: fastest dimension first
            out.append(struct.pack("<I", len(ne)))
            out.append(struct.pack(f"<{len(ne)}Q", *ne))
            out.append(struct.pack("<IQ", t.ggml_type, offset))
            # Each tensor starts aligned because every one before it is
            # followed by padding.
            offset += _pad_to(t.nbytes, self.alignment)
        head = b"".join(out)
        return head + bytes(_pad_to(len(head), self.alignment) - len(head))

    def write(self, progress: Callable[[int, int, "_TensorInfo"], None] | None = None) -> int:
        """Write the file; returns its size in bytes.  `progress(i, n, info)`
        is called after each tensor is written."""
        with open(self.path, "wb") as f:
            f.write(self.header_bytes())
            for i, t in enumerate(self.tensors):
                arr = t.data() if callable(t.data) else t.data
                if t.ggml_type in GGMLType.NUMPY:
                    arr = np.ascontiguousarray(arr, dtype=GGMLType.NUMPY[t.ggml_type])
                    if arr.shape != t.shape:
                        raise ValueError(f"{t.name}: data has shape {arr.shape}, declared {t.shape}")
                else:  # a block type (a subclass's tensor): its blocks, as bytes
                    arr = np.ascontiguousarray(arr, dtype=np.uint8).reshape(-1)
                    if arr.size != t.nbytes:
                        raise ValueError(f"{t.name}: {arr.size} bytes of blocks, expected {t.nbytes}")
                # Write the array's own buffer (no copy); the dtypes above are
                # explicitly little-endian, as GGUF requires.
                f.write(memoryview(arr).cast("B"))
                f.write(bytes(_pad_to(t.nbytes, self.alignment) - t.nbytes))
                del arr
                if progress is not None:
                    progress(i + 1, len(self.tensors), t)
            return f.tell()


# ---------------------------------------------------------------------------
# Reader
# ---------------------------------------------------------------------------

class GGUFFormatError(ValueError):
    pass


class _Cursor:
    """Sequential little-endian reads from a buffered file, with bounds checks
    that turn a truncated file into a clear error."""

    def __init__(self, f, path: str):
        self.f = f
        self.path = path

    def read(self, n: int) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise GGUFFormatError(f"{self.path}: truncated GGUF file")
        return data

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> bytes:
        n = self.unpack("<Q")
        if n > (1 << 32):
            raise GGUFFormatError(f"{self.path}: implausible string length {n}")
        return self.read(n)


def _decode(b: bytes) -> Union[str, bytes]:
    """Metadata strings are UTF-8; keep the raw bytes if one is not."""
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b


def _read_value(c: _Cursor, vtype: int):
    if vtype in _SCALAR_FORMAT:
        return c.unpack(_SCALAR_FORMAT[vtype])
    if vtype == GGUFValueType.STRING:
        return _decode(c.string())
    if vtype == GGUFValueType.ARRAY:
        elem_type = c.unpack("<I")
        n = c.unpack("<Q")
        if elem_type == GGUFValueType.STRING:
            return [_decode(c.string()) for _ in range(n)]
        if elem_type in _SCALAR_FORMAT:
            dt = np.dtype(_SCALAR_FORMAT[elem_type])
            return np.frombuffer(c.read(n * dt.itemsize), dtype=dt).tolist()
        raise GGUFFormatError(f"{c.path}: unsupported array element type {elem_type}")
    raise GGUFFormatError(f"{c.path}: unknown metadata value type {vtype}")


class GGUFContents:
    """Everything read_gguf_full() finds in a file.

    meta:         key -> value (int, float, bool, str, or list)
    meta_types:   key -> (value type, element type or None)
    tensor_infos: list of (name, ne tuple in ggml order, ggml type, offset)
    tensors:      name -> (ggml type, array of shape reversed(ne))
    """

    def __init__(self):
        self.version = 0
        self.alignment = GGUF_DEFAULT_ALIGNMENT
        self.data_offset = 0
        self.meta: dict[str, Any] = {}
        self.meta_types: dict[str, tuple[int, int | None]] = {}
        self.tensor_infos: list[tuple[str, tuple[int, ...], int, int]] = []
        self.tensors: dict[str, tuple[int, np.ndarray]] = {}


def read_gguf_header(path: str) -> GGUFContents:
    """Parse the metadata and tensor infos of a GGUF v2/v3 file, any tensor
    types (quantized too); `tensors` stays empty."""
    out = GGUFContents()
    with open(path, "rb") as f:
        c = _Cursor(f, path)
        if c.read(4) != GGUF_MAGIC:
            raise GGUFFormatError(f"{path}: not a GGUF file (bad magic)")
        out.version = c.unpack("<I")
        if out.version not in (2, 3):
            raise GGUFFormatError(f"{path}: unsupported GGUF version {out.version}")
        n_tensors = c.unpack("<Q")
        n_kv = c.unpack("<Q")
        for _ in range(n_kv):
            key = c.string().decode("utf-8")
            vtype = c.unpack("<I")
            if vtype == GGUFValueType.ARRAY:
                # Peek the element type for meta_types, then parse the array.
                pos = f.tell()
                elem_type = c.unpack("<I")
                f.seek(pos)
            else:
                elem_type = None
            out.meta[key] = _read_value(c, vtype)
            out.meta_types[key] = (vtype, elem_type)
        for _ in range(n_tensors):
            name = c.string().decode("utf-8")
            n_dims = c.unpack("<I")
            if n_dims > 4:
                raise GGUFFormatError(f"{path}: tensor {name} has {n_dims} dimensions")
            ne = tuple(c.unpack("<Q") for _ in range(n_dims))
            ggml_type = c.unpack("<I")
            offset = c.unpack("<Q")
            out.tensor_infos.append((name, ne, ggml_type, offset))
        out.alignment = int(out.meta.get("general.alignment", GGUF_DEFAULT_ALIGNMENT))
        out.data_offset = _pad_to(f.tell(), out.alignment)
    return out


def read_gguf_full(path: str) -> GGUFContents:
    """Parse a GGUF v2/v3 file.  Tensor arrays are read-only views of a
    memory map of the file (nothing is copied)."""
    out = read_gguf_header(path)
    file_map = np.memmap(path, dtype=np.uint8, mode="r")
    for name, ne, ggml_type, offset in out.tensor_infos:
        if ggml_type not in GGMLType.NUMPY:
            raise GGUFFormatError(f"{path}: tensor {name} has type {GGMLType.name(ggml_type)};"
                                  " only F32, F16 and BF16 can be read")
        dt = GGMLType.NUMPY[ggml_type]
        shape = tuple(reversed(ne))
        count = 1
        for d in shape:
            count *= d
        start = out.data_offset + offset
        end = start + count * dt.itemsize
        if end > file_map.size:
            raise GGUFFormatError(f"{path}: tensor {name} extends past the end of the file")
        arr = file_map[start:end].view(dt).reshape(shape)
        out.tensors[name] = (ggml_type, arr)
    return out


def read_gguf(path: str) -> tuple[dict[str, Any], dict[str, tuple[int, np.ndarray]]]:
    """(metadata, tensors): metadata maps key -> value; tensors maps name ->
    (ggml type, array) with array shape = reversed ggml ne, F32 as float32,
    F16 as float16, BF16 as uint16 raw bit patterns."""
    contents = read_gguf_full(path)
    return contents.meta, contents.tensors


def bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    """bfloat16 is the top half of a float32: shift the bits back up."""
    return (np.asarray(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(x: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 (raw uint16) the way ggml and gguf-py do:
    round to nearest, ties to even; NaNs stay NaN (forced quiet)."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    # Adding 0x7fff plus the lowest kept bit, then truncating, rounds to
    # nearest with ties going to the even result.  uint64 avoids overflow.
    rounded = ((bits.astype(np.uint64) + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    is_nan = (bits & 0x7FFFFFFF) > 0x7F800000
    quiet_nan = ((bits >> 16) | 0x0040).astype(np.uint16)
    return np.where(is_nan, quiet_nan, rounded)


def tensor_as_f32(ggml_type: int, arr: np.ndarray) -> np.ndarray:
    """A float32 copy of a tensor returned by read_gguf."""
    if ggml_type == GGMLType.F32:
        return np.array(arr, dtype=np.float32)
    if ggml_type == GGMLType.F16:
        return np.asarray(arr, dtype=np.float16).astype(np.float32)
    if ggml_type == GGMLType.BF16:
        return bf16_to_f32(arr)
    raise ValueError(f"cannot convert {GGMLType.name(ggml_type)} to float32")


def _dump(path: str) -> None:
    """`python3 gguf_writer.py FILE.gguf`: print the metadata and tensor list."""
    contents = read_gguf_full(path)
    print(f"GGUF v{contents.version}, {len(contents.meta)} keys, "
          f"{len(contents.tensor_infos)} tensors, data at {contents.data_offset}")
    for key, value in contents.meta.items():
        if isinstance(value, list):
            shown = f"[{len(value)} items] {value[:5]!r}{' ...' if len(value) > 5 else ''}"
        elif isinstance(value, str) and len(value) > 60:
            shown = repr(value[:60]) + " ..."
        else:
            shown = repr(value)
        print(f"  {key} = {shown}")
    for name, ne, ggml_type, offset in contents.tensor_infos:
        print(f"  {name:40s} {GGMLType.name(ggml_type):5s} ne={list(ne)} offset={offset}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gguf_writer.py FILE.gguf   (prints metadata and tensors)")
    try:
        _dump(sys.argv[1])
    except BrokenPipeError:      # e.g. piped into head
        sys.stderr.close()
