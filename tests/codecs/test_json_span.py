"""split_numeric_field: the large-body fast path gives orjson's values bit for bit, or gives up."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from app.codecs.json_tensor import split_numeric_field


def _reference(body: bytes) -> np.ndarray:
    return np.array(orjson.loads(body)["x"], dtype=np.float64)


def _assert_split(body: bytes) -> None:
    split = split_numeric_field(body, max_rank=32)
    assert split is not None
    envelope, values = split
    expected = _reference(body)
    assert values.shape == expected.shape
    assert values.dtype == np.float64
    assert np.array_equal(values.view(np.int64), expected.view(np.int64))
    document = orjson.loads(body)
    document["x"] = 0
    assert orjson.loads(envelope) == document


_RNG = np.random.default_rng(7)
_A300 = _RNG.standard_normal((300, 300)).astype(np.float32)
_A3D = (_RNG.standard_normal((2, 200, 200)) * 1e30).astype(np.float32)
_INTS = _RNG.integers(-(10**6), 10**6, 70000)
_MIXED = np.concatenate([_RNG.standard_normal(69990) * 1e-300, [-0.0, 0.0, 1e308, -1e-320, 5e-324] * 2])


def _dump(x: object, **extra: object) -> bytes:
    return orjson.dumps({"x": x, **extra}, option=orjson.OPT_SERIALIZE_NUMPY)


VALID = {
    "2d": _dump(_A300),
    "3d-exponents": _dump(_A3D),
    "ints": _dump(_INTS),
    "negzero-subnormal": _dump(_MIXED),
    "x-last": orjson.dumps({"dtype": "float64", "alpha": 1.5, "x": _A300}, option=orjson.OPT_SERIALIZE_NUMPY),
    "x-middle": orjson.dumps({"a": "s", "x": _A300, "b": {"c": True}}, option=orjson.OPT_SERIALIZE_NUMPY),
    "pretty": json.dumps({"x": _A300.tolist(), "dtype": "float32"}, indent=2).encode(),
    "spaces": json.dumps({"x": _A3D.tolist()}, separators=(" , ", " : ")).encode(),
    "crlf-tabs": _dump(_A300).replace(b",", b",\r\n\t"),
    "int-like-floats": b'{"x": [' + b",".join([b"1", b"-2", b"3.0", b"-0.0", b"1E5", b"2e-3", b"4E+2"] * 20000) + b"]}",
}


@pytest.mark.parametrize("name", list(VALID))
def test_valid_bodies_match_orjson(name: str) -> None:
    body = VALID[name]
    assert len(body) > 256 * 1024
    _assert_split(body)


def _row_body(rows: list[bytes], prefix: bytes = b'{"x": ', suffix: bytes = b"}") -> bytes:
    return prefix + b"[" + b",".join(rows) + b"]" + suffix


_ROW = b"[" + b",".join([b"1.5"] * 1000) + b"]"
_ROWS = [_ROW] * 100


def _with_row(row: bytes, index: int = 50) -> bytes:
    rows = list(_ROWS)
    rows[index] = row
    return _row_body(rows)


INVALID = {
    "ragged": _with_row(b"[" + b",".join([b"1.5"] * 999) + b"]"),
    "bool": _with_row(_ROW.replace(b"1.5", b"true", 1)),
    "null": _with_row(_ROW.replace(b"1.5", b"null", 1)),
    "string-nan": _with_row(_ROW.replace(b"1.5", b'"NaN"', 1)),
    "nested-object-first": _row_body(_ROWS, prefix=b'{"p": {"x": 1}, "x": '),
    "x-in-string": _row_body(_ROWS, prefix=b'{"p": "\\"x\\": [", "x": '),
    "leading-zero": _with_row(_ROW.replace(b"1.5", b"01", 1)),
    "plus": _with_row(_ROW.replace(b"1.5", b"+1", 1)),
    "dot-first": _with_row(_ROW.replace(b"1.5", b".5", 1)),
    "dot-last": _with_row(_ROW.replace(b"1.5", b"1.", 1)),
    "overflow": _with_row(_ROW.replace(b"1.5", b"1e400", 1)),
    "bare-exponent": _with_row(_ROW.replace(b"1.5", b"1e", 1)),
    "double-minus": _with_row(_ROW.replace(b"1.5", b"--1", 1)),
    "two-dots": _with_row(_ROW.replace(b"1.5", b"1.2.3", 1)),
    "empty-row": _with_row(b"[]"),
    "empty-then-number": _with_row(b"[]" + b"1"),
    "number-before-row": _with_row(b"1[" + b",".join([b"1.5"] * 1000) + b"]"),
    "split-number": _with_row(_ROW.replace(b"1.5", b"1 5", 1)),
    "trailing-junk": _row_body(_ROWS, suffix=b"]}"),
    "trailing-comma": _row_body(_ROWS, suffix=b",}"),
    "duplicate-key": _row_body(_ROWS, suffix=b', "x": 0}'),
    "escaped-duplicate": _row_body(_ROWS, suffix=b', "\\u0078": 0}'),
    "deep": _row_body([b"[" * 40 + b"1" + b"]" * 40] * 40000),
    "bare-nan": _with_row(_ROW.replace(b"1.5", b"NaN", 1)),
}


@pytest.mark.parametrize("name", list(INVALID))
def test_unusual_bodies_are_left_to_the_full_parser(name: str) -> None:
    body = INVALID[name]
    assert len(body) > 256 * 1024
    split = split_numeric_field(body, max_rank=32)
    if split is None:
        return
    # Only acceptable if orjson reads the body the same way, or if the envelope is as invalid as
    # the body (the caller then parses the whole body, for the precise error).
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(split[0])
        return
    _assert_split(body)


def test_rank_above_the_limit_is_left_to_the_full_parser() -> None:
    body = _dump(np.zeros((2, 2, 20000)))
    assert split_numeric_field(body, max_rank=2) is None
    assert split_numeric_field(body, max_rank=3) is not None


_SHAPES = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=12)


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(np.float32, _SHAPES, elements=st.floats(width=32, allow_nan=False, allow_infinity=False)),
    st.booleans(),
)
def test_random_float32_arrays_round_trip(array: np.ndarray, pretty: bool) -> None:
    # Padded with a large second field so the body is of the size the fast path is for.
    padding = "p" * (300 * 1024)
    if pretty:
        body = json.dumps({"x": array.tolist(), "pad": padding}, indent=1).encode()
    else:
        body = orjson.dumps({"x": array, "pad": padding}, option=orjson.OPT_SERIALIZE_NUMPY)
    split = split_numeric_field(body, max_rank=32)
    assert split is not None
    _, values = split
    assert values.shape == array.shape
    assert np.array_equal(values.astype(np.float32).view(np.int32), array.view(np.int32))
    expected = _reference(body)
    assert np.array_equal(values.view(np.int64), expected.view(np.int64))
