"""``.npy`` tensors (``application/x-npy``): the subset of NumPy's format the service reads and writes.

A file is the magic ``\\x93NUMPY``, a major and minor version byte, the header length (little-endian
uint16 for version 1.0, uint32 for 2.0 and 3.0), the header, then the raw data::

    {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }

Accepted on input:

- versions 1.0, 2.0 and 3.0 (3.0's header is UTF-8), a header of at most 16 KiB that is a Python
  literal dict with exactly the keys ``descr``, ``fortran_order`` (a bool) and ``shape`` (a tuple of
  non-negative ints);
- ``descr`` a float of 2, 4 or 8 bytes (``f2``, ``f4``, ``f8``), kept, or an integer of 1 to 8 bytes
  (``i1`` ... ``u8``), converted to float32; either byte order (``<``, ``>``, ``|``, ``=``);
- C or Fortran order; the data exactly ``prod(shape) * itemsize`` bytes, nothing after it.

Refused with 422: object, structured (a list descr), subarray, bool, complex, string, datetime and
void dtypes, among them ``|V2``, which is how bfloat16 arrays are saved (send those as JSON or KServe
v2 binary); a rank above the limit. More elements than the limit: 413. Anything that is not such a
file (wrong magic, unknown version, truncated, corrupt header, data of the wrong length): 400.

Nothing is ever unpickled or evaluated: the header is read with ``ast.literal_eval``, which builds
literals only, and the dtype from a whitelist. The data length is checked against the header before
any array exists, so no claimed shape can make the service allocate more than the body holds.

Output is always version 1.0, C order, native little-endian, dtype float16, float32 or float64;
bfloat16 has no ``.npy`` spelling, so asking for it is a 406.
"""

from __future__ import annotations

import ast
import math
import re
import struct
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from app.errors import ErrorItem, InvalidTensor, Loc, MalformedBody, NotAcceptable, PayloadTooLarge
from app.numerics.dtypes import BFLOAT16

__all__ = ["decode_npy", "encode_npy"]

MAGIC: Final = b"\x93NUMPY"
# numpy's own reader stops at 10,000 bytes by default; a few KB more leaves room for any honest
# header (rank 64 with 20-digit dims is under 2 KB) and still bounds what literal_eval sees.
MAX_HEADER_BYTES: Final = 16 * 1024
# numpy cannot build arrays of more dimensions, so no setting may allow more.
_NUMPY_MAX_RANK: Final = 64
_LOC: Final[Loc] = ("body",)
_HEADER_KEYS: Final = frozenset({"descr", "fortran_order", "shape"})
# byte order, kind, size: the only descr strings that can become a tensor.
_FLOAT_DESCR: Final = re.compile(r"[<>|=]?f[248]")
_INTEGER_DESCR: Final = re.compile(r"[<>|=]?[iu][1248]")
_DATA_ALIGNMENT: Final = 64  # what numpy pads headers to, so the data can be memory-mapped aligned
_FLOAT32: Final = np.dtype(np.float32)
_LARGEST_ARRAY_BYTES: Final = np.iinfo(np.intp).max


def decode_npy(body: bytes, *, max_elements: int, max_rank: int) -> npt.NDArray[Any]:
    """The array in a ``.npy`` body: C-contiguous, native float16/32/64 (integers become float32).

    A native little-endian C-order float file is returned as a read-only view of `body`, without a
    copy; every other file is converted into a new array.
    """
    header, data_start = _read_header(body)
    dtype, fortran_order, shape = _check_header(header)
    max_rank = min(max_rank, _NUMPY_MAX_RANK)
    if len(shape) > max_rank:
        raise InvalidTensor(
            f"The .npy array has rank {len(shape)}; the maximum is {max_rank}.",
            [ErrorItem(_LOC, f"rank exceeds the maximum of {max_rank}")],
        )
    count = math.prod(shape)  # Python ints: no overflow, however large the claimed dims
    if count > max_elements:
        raise PayloadTooLarge(
            f"The .npy array has shape {list(shape)}, {count:,} elements; "
            f"the limit is {max_elements:,} (ACTIVATIONS_MAX_ELEMENTS)."
        )
    if math.prod(dim for dim in shape if dim) * dtype.itemsize > _LARGEST_ARRAY_BYTES:
        # numpy refuses such a shape even when another axis is 0 and the array is empty.
        raise MalformedBody(f"The .npy shape {_shown(shape)} is larger than any array can be.")
    expected = count * dtype.itemsize
    present = len(body) - data_start
    if present != expected:
        raise MalformedBody(
            f"The .npy data is {present:,} bytes but its header (shape {list(shape)}, {dtype.itemsize}-byte "
            f"elements) needs {expected:,}: the file is truncated or corrupt."
        )
    array = np.frombuffer(body, dtype=dtype, count=count, offset=data_start)
    array = array.reshape(shape[::-1]).T if fortran_order else array.reshape(shape)
    target = _FLOAT32 if dtype.kind in "iu" else dtype.newbyteorder("=")
    # "A": a hand-made header of odd length leaves the data unaligned, which numpy copes with only
    # slowly; "C" makes Fortran-order files C-contiguous. Both copy only when needed.
    return np.require(array, dtype=target, requirements=["C", "A"])


def encode_npy(y: npt.NDArray[Any]) -> bytes:
    """A version 1.0 ``.npy`` file of `y`: C order, native little-endian float16/32/64."""
    if y.dtype == BFLOAT16:
        raise NotAcceptable("npy has no bfloat16: ask for JSON (Accept: application/json) or use KServe v2 binary.")
    if y.dtype.kind != "f" or y.dtype.itemsize not in (2, 4, 8):
        raise TypeError(f"encode_npy writes float16, float32 and float64 arrays, not {y.dtype}")
    data = np.require(y, dtype=y.dtype.newbyteorder("<"), requirements="C")
    header = repr({"descr": data.dtype.str, "fortran_order": False, "shape": data.shape}).encode("latin1")
    # numpy's layout: pad with spaces and end with a newline so the data starts on a 64-byte boundary.
    padding = -(len(MAGIC) + 4 + len(header) + 1) % _DATA_ALIGNMENT
    head = MAGIC + b"\x01\x00" + struct.pack("<H", len(header) + padding + 1) + header + b" " * padding + b"\n"
    # join copies the array's buffer once, straight into the result (tobytes() would copy twice).
    return b"".join([head, data.reshape(-1).view(np.uint8).data])


def _read_header(body: bytes) -> tuple[str, int]:
    """The header text and the offset of the data."""
    if body[: len(MAGIC)] != MAGIC:
        raise MalformedBody("The body is not a .npy file: it does not start with the magic bytes \\x93NUMPY.")
    version = body[len(MAGIC) : len(MAGIC) + 2]
    if len(version) < 2:
        raise MalformedBody("The .npy file is truncated inside its preamble.")
    if version == b"\x01\x00":
        size_format, encoding = "<H", "latin1"
    elif version in (b"\x02\x00", b"\x03\x00"):
        size_format, encoding = "<I", "latin1" if version == b"\x02\x00" else "utf-8"
    else:
        raise MalformedBody(f"The .npy format version {version[0]}.{version[1]} is not supported (1.0 to 3.0 are).")
    size_at = len(MAGIC) + 2
    header_at = size_at + struct.calcsize(size_format)
    if len(body) < header_at:
        raise MalformedBody("The .npy file is truncated inside its preamble.")
    (header_size,) = struct.unpack_from(size_format, body, size_at)
    if header_size > MAX_HEADER_BYTES:
        raise MalformedBody(f"The .npy header claims {header_size:,} bytes; at most {MAX_HEADER_BYTES:,} are accepted.")
    data_start = header_at + header_size
    if len(body) < data_start:
        raise MalformedBody("The .npy file is truncated inside its header.")
    try:
        header = body[header_at:data_start].decode(encoding)
    except UnicodeDecodeError:
        raise MalformedBody("The .npy header is not valid UTF-8.") from None
    return header, data_start


def _check_header(text: str) -> tuple[np.dtype[Any], bool, tuple[int, ...]]:
    try:
        # literal_eval builds literals and nothing else: no names, calls or attribute access.
        header = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise MalformedBody("The .npy header is not a Python literal dict.") from None
    if not isinstance(header, dict) or set(header) != _HEADER_KEYS:
        raise MalformedBody("The .npy header must be a dict with exactly the keys descr, fortran_order and shape.")
    shape, fortran_order, descr = header["shape"], header["fortran_order"], header["descr"]
    if not isinstance(fortran_order, bool):
        raise MalformedBody("The .npy header's fortran_order must be True or False.")
    if not isinstance(shape, tuple) or not all(type(dim) is int and dim >= 0 for dim in shape):
        raise MalformedBody("The .npy header's shape must be a tuple of non-negative integers.")
    return _dtype_of(descr), fortran_order, shape


def _dtype_of(descr: object) -> np.dtype[Any]:
    if isinstance(descr, str) and (_FLOAT_DESCR.fullmatch(descr) or _INTEGER_DESCR.fullmatch(descr)):
        return np.dtype(descr)
    raise InvalidTensor(f"The .npy dtype {_shown(descr)} is not supported.", [ErrorItem(_LOC, _refusal(descr))])


def _refusal(descr: object) -> str:
    """Why a dtype is refused, in the words of someone who sent it."""
    if isinstance(descr, list):
        return "structured dtypes are not supported; send a plain float array"
    if not isinstance(descr, str):
        return "subarray and other compound dtypes are not supported; send a plain float array"
    kind = descr.lstrip("<>|=")[:1]
    if descr.lstrip("<>|=") == "V2":
        return "this looks like bfloat16, which .npy cannot express; send it as JSON or KServe v2 binary"
    reasons = {
        "O": "object arrays are never read (they would need unpickling); send a float array",
        "b": "bool arrays are not tensors; send 0.0 and 1.0 as floats",
        "?": "bool arrays are not tensors; send 0.0 and 1.0 as floats",
        "c": "complex arrays are not supported; send a float array",
        "V": "void and structured dtypes are not supported; send a plain float array",
        "U": "string arrays are not supported; send a float array",
        "S": "byte-string arrays are not supported; send a float array",
        "M": "datetime arrays are not supported; send a float array",
        "m": "timedelta arrays are not supported; send a float array",
    }
    return reasons.get(kind, "send float16, float32 or float64 (integers become float32)")


def _shown(descr: object) -> str:
    text = repr(descr)
    return text if len(text) <= 40 else text[:40] + "..."
