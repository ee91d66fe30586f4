"""Property-based fuzzing of the JSON tensor codec (SPEC section 7: hypothesis on the codecs).

Random shapes, dtypes and values (subnormals, signed zeros, NaN and infinities included) must
survive encode -> request body -> decode bit for bit; the two decoders of a large numeric `x`
(the raw-bytes splitter and the parsed document) must agree on whatever they both accept; and
random JSON documents and corrupted bodies must end in a tensor or a client error (400, 413,
422), never in any other exception.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from app.api.routes.activate import decode_json_request
from app.codecs.json_tensor import (
    encode_json_tensor,
    parse_json_body,
    split_numeric_field,
)
from app.core.config import Settings
from app.errors import ServiceError
from app.numerics import DTYPES
from tests.mutations import mutated

SETTINGS = Settings(max_elements=4096, max_rank=8)
CLIENT_STATUSES = (400, 413, 422)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

shapes = hnp.array_shapes(min_dims=0, max_dims=5, min_side=1, max_side=5)


@st.composite
def tensors(draw: st.DrawFn) -> tuple[str, np.ndarray]:
    name = draw(st.sampled_from(list(DTYPES)))
    dtype = DTYPES[name]
    # Random bit patterns reach every value of the dtype: subnormals, -0.0, NaN payloads, infinities.
    bits = {2: np.uint16, 4: np.uint32, 8: np.uint64}[dtype.itemsize]
    raw = draw(hnp.arrays(bits, draw(shapes)))
    return name, raw.view(dtype)


def same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shapes and values, NaN equal to NaN (JSON carries no NaN payload), -0.0 apart from 0.0."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    with np.errstate(invalid="ignore"):  # signalling NaN bit patterns warn when widened
        wide_a, wide_b = a.astype(np.float64), b.astype(np.float64)
    nan = np.isnan(wide_a)
    return bool(
        np.array_equal(nan, np.isnan(wide_b))
        and np.array_equal(wide_a[~nan], wide_b[~nan])
        and np.array_equal(np.signbit(wide_a[~nan]), np.signbit(wide_b[~nan]))
    )


@given(tensors())
@FUZZ
def test_any_tensor_survives_a_round_trip(case: tuple[str, np.ndarray]) -> None:
    name, y = case
    body = b'{"dtype": "' + name.encode() + b'", "x": ' + encode_json_tensor(y) + b"}"
    orjson.loads(body)  # strict JSON, whatever the values
    decoded = decode_json_request(body, SETTINGS)
    assert decoded.dtype == name
    assert same_values(decoded.x, y)


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4),
    data=st.data(),
    spacing=st.sampled_from([b",", b", ", b" ,\n", b",\t"]),
)
@FUZZ
def test_the_raw_bytes_splitter_agrees_with_the_parser(
    shape: tuple[int, ...], data: st.DataObject, spacing: bytes
) -> None:
    values = np.array(data.draw(st.lists(finite, min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))))
    nested = values.reshape(shape).tolist()
    body = orjson.dumps({"alpha": 0.5, "x": nested}).replace(b",", spacing)
    split = split_numeric_field(body, max_rank=8)
    assert split is not None  # a clean rectangular numeric array is always split
    envelope, wide = split
    assert orjson.loads(envelope) == {"alpha": 0.5, "x": 0}
    assert np.array_equal(wide, np.asarray(orjson.loads(body)["x"], dtype=np.float64))


SEEDS = [
    b'{"x": [[1.5, -2, 3e-5], [NaN, "Infinity", -0.0]], "alpha": 0.1, "dtype": "float16"}',
    b'{"x": [[[1], [2]], [[3], [4]]], "mask": [[true, false]], "axis": [0, -1]}',
    b'{"dtype": "bfloat16", "x": 1e400, "threshold": -1e-320}',
    b'{"x": [' + b"0.25, " * 60 + b"1]}",
]
edit_lists = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.sampled_from(b'[]{},:"-+.eE0123456789 \\ntuafN\x00\xff')),
    min_size=1,
    max_size=8,
)


@given(seed=st.sampled_from(SEEDS), edits=edit_lists, cut=st.integers(0, 400))
@FUZZ
def test_corrupted_bodies_give_a_tensor_or_a_client_error(
    seed: bytes, edits: list[tuple[int, int, int]], cut: int
) -> None:
    body = mutated(seed, edits)
    body = body[: max(cut, len(body) - cut)]
    try:
        decoded = decode_json_request(body, SETTINGS)
    except ServiceError as error:
        assert error.status in CLIENT_STATUSES
        assert error.detail
        return
    assert decoded.x.dtype == DTYPES[decoded.dtype]
    split = split_numeric_field(body, max_rank=8)
    if split is not None:
        # Where the splitter accepts a body, it reads what the parser reads.
        assert np.array_equal(split[1].astype(decoded.x.dtype), decoded.x, equal_nan=True)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(width=64)
    | st.text(max_size=8)
    | st.sampled_from(["NaN", "-inf", "Infinity", " 1", "1e999"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=30,
)


@given(x=json_values, extra=st.dictionaries(st.sampled_from(["dtype", "alpha", "y", "x "]), json_values, max_size=2))
@FUZZ
def test_any_json_document_gives_a_tensor_or_a_client_error(x: Any, extra: dict[str, Any]) -> None:
    try:
        body = orjson.dumps({**extra, "x": x})
    except (orjson.JSONEncodeError, TypeError):
        return  # not representable in JSON (integers past 64 bits): nothing a client can send
    try:
        decoded = decode_json_request(body, SETTINGS)
    except ServiceError as error:
        assert error.status in CLIENT_STATUSES
        return
    assert decoded.x.size <= SETTINGS.max_elements and decoded.x.ndim <= SETTINGS.max_rank


@given(st.binary(max_size=200))
@FUZZ
def test_random_bytes_are_refused_cleanly(body: bytes) -> None:
    try:
        parse_json_body(body)
        decode_json_request(body, SETTINGS)
    except ServiceError as error:
        assert error.status in CLIENT_STATUSES
