"""The .npy codec: what numpy clients send and read back, and hostile files that must fail cleanly."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.codecs.npy_tensor import decode_npy, encode_npy
from app.errors import InvalidTensor, MalformedBody, NotAcceptable, PayloadTooLarge, ServiceError

LIMITS = {"max_elements": 1_000, "max_rank": 32}
SHAPES = [(), (0,), (3,), (2, 3), (2, 0, 3), (1, 2, 3, 4)]


def saved(array: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def handmade(header: str, data: bytes = b"", version: tuple[int, int] = (1, 0)) -> bytes:
    """A .npy file with any header text, as a hostile client could write it."""
    text = header.encode("latin1")
    size = struct.pack("<H" if version == (1, 0) else "<I", len(text))
    return b"\x93NUMPY" + bytes(version) + size + text + data


def sample(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    values = np.array([-0.0, 1.5, -2.25, np.inf, np.nan, 6.1e-5, 65504.0, 1e-7], dtype=np.float64)
    return np.resize(values, shape).astype(dtype)


# --------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", ["<f2", ">f2", "<f4", ">f4", "<f8", ">f8"])
def test_float_files_are_read_as_native_c_order_arrays(dtype: str, order: str, shape: tuple[int, ...]) -> None:
    original = np.asarray(sample(dtype, shape), order=order)  # type: ignore[call-overload]
    x = decode_npy(saved(original), **LIMITS)
    assert x.dtype == np.dtype(dtype).newbyteorder("=")
    assert x.shape == shape
    assert x.flags.c_contiguous
    np.testing.assert_array_equal(x, original)
    assert np.array_equal(np.signbit(x), np.signbit(original))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_written_files_load_in_numpy_and_in_the_service(dtype: str, shape: tuple[int, ...]) -> None:
    y = sample(dtype, shape)
    body = encode_npy(y)
    assert body[6:8] == b"\x01\x00"  # version 1.0, the one every numpy reads
    assert (len(body) - y.nbytes) % 64 == 0  # data aligned as numpy aligns it
    for back in (np.load(io.BytesIO(body)), decode_npy(body, **LIMITS)):
        assert back.dtype == y.dtype
        assert back.shape == shape
        np.testing.assert_array_equal(back, y)


@pytest.mark.parametrize(
    "y",
    [np.asfortranarray(np.arange(6.0).reshape(2, 3)), np.arange(12, dtype=">f4")[::3], np.arange(4, dtype=">f2")],
    ids=["fortran", "strided-big-endian", "big-endian-f2"],
)
def test_any_layout_is_written_little_endian_in_c_order(y: np.ndarray) -> None:
    body = encode_npy(y)
    back = np.load(io.BytesIO(body))
    assert back.dtype.byteorder in ("<", "=")
    assert not np.isfortran(back)
    np.testing.assert_array_equal(back, y)


@pytest.mark.parametrize("dtype", ["i1", "u1", "<i2", ">u2", "<i4", ">i4", "<u4", "<i8", ">i8", "<u8"])
def test_integer_files_become_float32(dtype: str) -> None:
    info = np.iinfo(dtype)
    original = np.array([info.min, -1 if info.min else 0, 0, 1, 3, info.max], dtype=dtype)
    x = decode_npy(saved(original), **LIMITS)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, original.astype(np.float32))


def test_version_2_and_3_headers_are_read() -> None:
    data = np.arange(3, dtype="<f4").tobytes()
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}\n"
    for version in ((2, 0), (3, 0)):
        np.testing.assert_array_equal(decode_npy(handmade(header, data, version), **LIMITS), [0.0, 1.0, 2.0])


def test_unaligned_data_is_still_read() -> None:
    data = np.arange(3, dtype="<f8").tobytes()
    x = decode_npy(handmade("{'descr': '<f8', 'fortran_order': False, 'shape': (3,)}", data), **LIMITS)
    assert x.flags.aligned
    assert x.tolist() == [0.0, 1.0, 2.0]


def test_bfloat16_cannot_be_written_as_npy() -> None:
    with pytest.raises(NotAcceptable) as raised:
        encode_npy(np.zeros(3, dtype=ml_dtypes.bfloat16))
    assert raised.value.status == 406
    assert "JSON" in raised.value.detail


def test_only_float_arrays_are_written() -> None:
    with pytest.raises(TypeError):
        encode_npy(np.arange(3))


# --------------------------------------------------------------------------------------------
# Refusals


class TouchOnUnpickle:
    """An object whose unpickling creates a file: what a malicious pickle would do instead."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Path.touch, (self.path,))


def test_a_pickle_payload_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    body = saved(np.array([TouchOnUnpickle(marker), 1.0], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidTensor) as raised:
        decode_npy(body, **LIMITS)
    assert raised.value.status == 422
    assert not marker.exists()
    np.load(io.BytesIO(body), allow_pickle=True)  # the payload is real: numpy with pickles on runs it
    assert marker.exists()


def test_a_header_is_never_evaluated(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    header = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    with pytest.raises(MalformedBody):
        decode_npy(handmade(header), **LIMITS)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (saved(np.zeros(2, dtype=object), allow_pickle=True), "object"),
        (saved(np.zeros(2, dtype="f4,f4")), "structured"),
        (saved(np.zeros(2, dtype=[("a", "<f4", (2,))])), "structured"),
        (handmade("{'descr': ('<f4', (2,)), 'fortran_order': False, 'shape': (2,)}", b"\0" * 16), "subarray"),
        (saved(np.array([True, False])), "bool"),
        (saved(np.zeros(2, dtype=ml_dtypes.bfloat16)), "bfloat16"),
        (saved(np.zeros(2, dtype="V4")), "void"),
        (saved(np.zeros(2, dtype=np.complex64)), "complex"),
        (saved(np.zeros(2, dtype="U3")), "string"),
        (saved(np.zeros(2, dtype="M8[s]")), "datetime"),
        (saved(np.zeros(2, dtype=np.longdouble)), "float16, float32 or float64"),
        (saved(np.zeros((1,) * 33)), "rank"),
    ],
    ids=[
        "object",
        "structured",
        "structured-subarray",
        "subarray",
        "bool",
        "bfloat16",
        "void",
        "complex",
        "unicode",
        "datetime",
        "longdouble",
        "rank-33",
    ],
)
def test_dtypes_and_ranks_that_are_no_tensor_are_422(body: bytes, fragment: str) -> None:
    with pytest.raises(InvalidTensor) as raised:
        decode_npy(body, **LIMITS)
    assert raised.value.status == 422
    assert raised.value.errors[0].loc == ("body",)
    assert fragment in raised.value.detail + raised.value.errors[0].msg


GOOD = saved(np.arange(6, dtype="<f4").reshape(2, 3))


@pytest.mark.parametrize("cut", [0, 3, 6, 7, 9, 10, 40, len(GOOD) - 24, len(GOOD) - 1])
def test_truncated_files_are_400(cut: int) -> None:
    with pytest.raises(MalformedBody):
        decode_npy(GOOD[:cut], **LIMITS)


@pytest.mark.parametrize(
    "body",
    [
        GOOD + b"\0",
        b"\x93NUMPX" + GOOD[6:],
        b"PK\x03\x04" + GOOD,  # an .npz is a zip, not a .npy
        GOOD[:6] + b"\x09\x00" + GOOD[8:],
        GOOD[:8] + struct.pack("<H", 0xFFFF) + GOOD[10:],
        b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**32 - 1) + b"{}",
        handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (1000,)}", b"\0" * 16),
        handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", b"\0" * 4),
        handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", b"\0" * 4),
        handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (True,)}", b"\0" * 4),
        handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (1.0,)}", b"\0" * 4),
        handmade("{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", b"\0" * 4),
        handmade("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", b"\0" * 4),
        handmade("{'descr': '<f4', 'shape': (1,)}", b"\0" * 4),
        handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", b"\0" * 4),
        handmade("['descr', '<f4']", b"\0" * 4),
        handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (1," + "(" * 5000, b"\0" * 4),
        handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (1" + "0" * 5000 + ",)}"),
        handmade("{\xff: 1}", version=(3, 0)),
    ],
    ids=[
        "trailing-byte",
        "wrong-magic",
        "npz",
        "version-9",
        "header-64k",
        "header-4g",
        "short-data",
        "shape-claims-more",
        "negative-dim",
        "bool-dim",
        "float-dim",
        "list-shape",
        "int-order",
        "missing-key",
        "extra-key",
        "not-a-dict",
        "paren-bomb",
        "huge-int",
        "bad-utf8",
    ],
)
def test_unreadable_files_are_400(body: bytes) -> None:
    with pytest.raises(MalformedBody) as raised:
        decode_npy(body, **LIMITS)
    assert raised.value.status == 400
    assert "Traceback" not in raised.value.detail


def test_the_largest_allowed_rank_is_read() -> None:
    assert decode_npy(saved(np.zeros((1,) * 32)), **LIMITS).shape == (1,) * 32


@pytest.mark.parametrize("shape", [(1001,), (2**62, 2**62), (2**40, 2**40, 2**40)], ids=str)
def test_too_many_elements_is_413_before_any_allocation(shape: tuple[int, ...]) -> None:
    body = handmade(f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape!r}}}", b"\0" * 8)
    with pytest.raises(PayloadTooLarge) as raised:
        decode_npy(body, **LIMITS)
    assert "1,000" in raised.value.detail


@pytest.mark.parametrize(("shape", "readable"), [((1000, 0, 7), True), ((2**62, 0), False), ((0, 2**70), False)])
def test_a_zero_length_axis_is_read_unless_the_other_axes_are_absurd(shape: tuple[int, ...], readable: bool) -> None:
    body = handmade(f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape!r}}}")
    if readable:
        assert decode_npy(body, **LIMITS).shape == shape
    else:
        with pytest.raises(MalformedBody):
            decode_npy(body, **LIMITS)


@given(
    base=st.sampled_from([GOOD, saved(np.zeros((2, 2), dtype=">f8")), saved(np.arange(3, dtype="i2"))]),
    edits=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1, max_size=6),
    cut=st.integers(0, 300),
)
@settings(max_examples=500, deadline=None)
def test_corrupted_files_raise_only_service_errors(base: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    body = bytearray(base)
    for position, byte in edits:
        body[position % len(body)] = byte
    try:
        decode_npy(bytes(body[: max(cut, len(body) - cut)]), **LIMITS)
    except ServiceError as error:
        assert error.status in (400, 413, 422)
