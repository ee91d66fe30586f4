"""The JSON tensor codec: what a client sends and reads back, and every way a body can be wrong."""

from __future__ import annotations

import json
import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal
from typing import Any, TypedDict
from unittest.mock import patch

import ml_dtypes
import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from app.codecs import json_tensor
from app.codecs.json_tensor import (
    BARE_NONFINITE,
    check_json_element_budget,
    decode_json_tensor,
    encode_json_tensor,
    parse_json_body,
)
from app.errors import InvalidBody, InvalidTensor, MalformedBody, PayloadTooLarge, ServiceError
from app.numerics.dtypes import DTYPES


class Limits(TypedDict):
    max_elements: int
    max_rank: int


LIMITS = Limits(max_elements=1_000, max_rank=32)
SHAPES = [(), (0,), (3,), (2, 3), (2, 0, 3), (1, 2, 3, 4)]
BITS = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def special_values(dtype: np.dtype[Any]) -> np.ndarray:
    """-0.0, the smallest subnormal, the smallest normal, the largest finite value, NaN and the infinities."""
    info = ml_dtypes.finfo(dtype)  # type: ignore[no-untyped-call]
    return np.array(
        [
            -0.0,
            0.0,
            info.smallest_subnormal,
            -info.smallest_subnormal,
            info.smallest_normal,
            info.max,
            -info.max,
            np.nan,
            np.inf,
            -np.inf,
            0.1,
            1.0,
            -2.5,
        ],
        dtype=np.float64,
    ).astype(dtype)


def table_of(dtype: np.dtype[Any], shape: tuple[int, ...]) -> np.ndarray:
    return np.resize(special_values(dtype), shape).astype(dtype)


def decode_body(
    body: bytes, *, strict: bool = False, dtype: str = "float32", max_elements: int = LIMITS["max_elements"]
) -> np.ndarray:
    """What the API does with a JSON body: budget, parse, decode `x`."""
    check_json_element_budget(body, max_elements)
    document = parse_json_body(body)
    return decode_json_tensor(
        document["x"],
        dtype=DTYPES[dtype],
        max_elements=max_elements,
        max_rank=LIMITS["max_rank"],
        body=None if strict else body,
    )


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shape, dtype and bits, any NaN matching any NaN."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    ints_a = a.view(BITS[a.dtype.itemsize])
    ints_b = b.view(BITS[b.dtype.itemsize])
    with np.errstate(invalid="ignore"):  # signalling NaN patterns
        nan_a = np.isnan(a.astype(np.float64))
        nan_b = np.isnan(b.astype(np.float64))
    return bool(np.array_equal(nan_a, nan_b) and np.array_equal(ints_a[~nan_a], ints_b[~nan_b]))


# --------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("strict", [False, True], ids=["with-body", "strict"])
def test_round_trip_through_a_request_body(dtype_name: str, shape: tuple[int, ...], strict: bool) -> None:
    dtype = DTYPES[dtype_name]
    y = table_of(dtype, shape)
    body = b'{"x":' + encode_json_tensor(y) + b', "dtype": "' + dtype_name.encode() + b'"}'
    back = decode_body(body, strict=strict, dtype=dtype_name)
    assert same_bits(back, y.reshape(json_visible(shape)))
    assert back.flags.c_contiguous


def json_visible(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Nested lists cannot show the axes after a zero-length one: [[], []] is (2, 0) for (2, 0, 3)."""
    return shape[: shape.index(0) + 1] if 0 in shape else shape


@pytest.mark.parametrize("dtype_name", list(DTYPES))
def test_output_is_strict_json_nested_like_the_shape(dtype_name: str) -> None:
    y = table_of(DTYPES[dtype_name], (2, 0, 3))
    assert json.loads(encode_json_tensor(y)) == [[], []]
    y = table_of(DTYPES[dtype_name], (2, 13))
    text = encode_json_tensor(y)
    parsed = json.loads(text, parse_constant=lambda token: pytest.fail(f"bare {token} in strict output"))
    assert np.shape(parsed) == (2, 13)
    assert parsed[0][7:10] == ["NaN", "Infinity", "-Infinity"]


@pytest.mark.parametrize(
    ("dtype_name", "value", "text"),
    [
        ("float32", 0.1, b"0.1"),
        ("float16", 0.1, b"0.1"),
        ("bfloat16", 0.1, b"0.1"),
        ("float64", 0.1, b"0.1"),
        ("float32", -0.0, b"-0.0"),
        ("float16", -0.0, b"-0.0"),
        ("bfloat16", -0.0, b"-0.0"),
        ("float32", 2.0, b"2.0"),
        ("float16", 2.0, b"2.0"),
        ("bfloat16", 256.0, b"256.0"),
        ("float16", 65504.0, b"65500.0"),  # the shortest decimal that rounds to float16's max
        ("bfloat16", 3.3895313892515355e38, b"3.39e+38"),
        ("float16", 2.0**-24, b"6e-8"),
        ("float32", math.nan, b'"NaN"'),
        ("bfloat16", -math.inf, b'"-Infinity"'),
    ],
)
def test_numbers_are_written_in_their_shortest_form(dtype_name: str, value: float, text: bytes) -> None:
    y = np.array(value, dtype=np.float64).astype(DTYPES[dtype_name])
    assert encode_json_tensor(y) == text
    assert encode_json_tensor(y.reshape(1, 1)) == b"[[" + text + b"]]"


def test_non_finite_tokens_are_the_callers_choice() -> None:
    y = np.array([np.nan, np.inf, -np.inf, 1.0], dtype=np.float32)
    assert encode_json_tensor(y, nonfinite=BARE_NONFINITE) == b"[NaN,Infinity,-Infinity,1.0]"
    assert encode_json_tensor(y.astype(np.float16), nonfinite=BARE_NONFINITE) == b"[NaN,Infinity,-Infinity,1.0]"


@pytest.mark.parametrize(
    "y",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2],
        np.arange(6, dtype=">f8").reshape(2, 3),
        np.asfortranarray(np.arange(6, dtype=np.float16).reshape(2, 3)),
    ],
    ids=["strided", "big-endian", "fortran"],
)
def test_any_memory_layout_is_written_in_row_major_order(y: np.ndarray) -> None:
    assert json.loads(encode_json_tensor(y)) == y.astype(np.float64).tolist()


def test_only_the_four_float_dtypes_are_written() -> None:
    with pytest.raises(TypeError):
        encode_json_tensor(np.arange(3))


def significant_digits(text: str) -> int:
    mantissa = text.lower().split("e")[0].lstrip("-").replace(".", "")
    return len(mantissa.strip("0"))


@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16"])
def test_every_16_bit_value_reads_back_from_the_shortest_decimal(dtype_name: str) -> None:
    dtype = DTYPES[dtype_name]
    every = np.arange(1 << 16, dtype=np.uint16).view(dtype)
    texts = json.loads(encode_json_tensor(every), parse_float=str, parse_int=str)
    values = np.array(texts, dtype=np.float64)  # reads numbers and the NaN/Infinity strings alike
    back = decode_json_tensor(values.tolist(), dtype=dtype, max_elements=1 << 16, max_rank=1)
    assert same_bits(back, every)

    # Shortest: neither decimal of one digit fewer around the value (rounded down, rounded up)
    # reads back to it, so no shorter decimal can.
    with np.errstate(invalid="ignore"):
        exact = every.astype(np.float64)
    finite = [(index, text) for index, text in enumerate(texts) if np.isfinite(exact[index]) and exact[index] != 0]
    shorter: list[str] = []
    owners: list[int] = []
    for index, text in finite:
        digits = significant_digits(text) - 1
        if digits == 0:
            continue
        for rounding in (ROUND_FLOOR, ROUND_CEILING):
            shorter.append(str(Context(prec=digits, rounding=rounding).plus(Decimal(float(exact[index])))))
            owners.append(index)
    with np.errstate(over="ignore"):
        reread = np.array(shorter, dtype=np.float64).astype(dtype).view(np.uint16)
    assert not np.any(reread == np.array(owners, dtype=np.uint16))
    assert len(finite) > 60_000


def test_float16_digits_match_numpys_own_shortest_repr() -> None:
    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    ours = json.loads(encode_json_tensor(every), parse_float=str, parse_int=str)
    for value, text in zip(every.tolist(), ours, strict=True):
        if math.isfinite(value) and value != 0:
            reference = np.format_float_scientific(np.float16(value), unique=True)
            assert significant_digits(text) == significant_digits(reference), (value, text, reference)


# --------------------------------------------------------------------------------------------
# Reading numbers


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"x": [NaN, Infinity, -Infinity]}', [math.nan, math.inf, -math.inf]),
        (b'{"x": ["NaN", "Infinity", "-Infinity", "nan", "inf", "-inf"]}', [math.nan, math.inf, -math.inf] * 2),
        (
            b'{"x": ["NAN", "INFINITY", "+Infinity", "-INF", "+inf"]}',
            [math.nan, math.inf, math.inf, -math.inf, math.inf],
        ),
        (b'{"x": [1e400, -1e400, 1e-400]}', [math.inf, -math.inf, 0.0]),
        (b'{"x": [1' + b"0" * 400 + b", -1" + b"0" * 400 + b"]}", [math.inf, -math.inf]),
        (b'{"x": [1' + b"0" * 5000 + b", NaN]}", [math.inf, math.nan]),
        (b'{"x": [18446744073709551617, -9223372036854775809]}', [1.8446744073709552e19, -9.223372036854776e18]),
        (b'{"x": 3}', 3.0),
        (b'{"x": "-Infinity"}', -math.inf),
        (b'{"x": -0.0}', -0.0),
        (b'{"x": [0.0, 1.0, 0.0], "approximate": true}', [0.0, 1.0, 0.0]),
    ],
)
def test_numbers_and_non_finite_spellings_are_read(body: bytes, expected: object) -> None:
    for strict in (False, True):
        x = decode_body(body, strict=strict, dtype="float64")
        assert same_bits(x, np.array(expected, dtype=np.float64))


def test_integers_round_once_from_their_float64_value() -> None:
    # 2**24 + 1 is not a float32; its float64 is exact, and float32 rounds it to even.
    x = decode_body(b'{"x": [16777217, 0.1]}')
    assert x.tolist() == [16777216.0, np.float32(0.1)]


def test_bfloat16_rounds_from_float64_not_through_float32() -> None:
    # Just above the midpoint of two bfloat16s, by less than float32 can see: float32 would land on
    # the midpoint and round to even (down); rounding once goes up.
    value = 1 + 2**-8 + 2**-30
    x = decode_body(b'{"x": [' + repr(value).encode() + b"]}", dtype="bfloat16")
    assert x.astype(np.float64).tolist() == [1 + 2**-7]


@pytest.mark.parametrize(
    ("body", "shape"),
    [(b'{"x": []}', (0,)), (b'{"x": [[]]}', (1, 0)), (b'{"x": [[], [], []]}', (3, 0)), (b'{"x": 1.5}', ())],
)
def test_empty_arrays_and_scalars_have_their_shapes(body: bytes, shape: tuple[int, ...]) -> None:
    assert decode_body(body).shape == shape


def test_a_boolean_elsewhere_in_the_body_does_not_taint_x() -> None:
    body = b'{"x": ' + json.dumps([0.0, 1.0] * 100).encode() + b', "approximate": true}'
    document = parse_json_body(body)
    x = decode_json_tensor(document["x"], dtype=DTYPES["float32"], body=body, document=document, **LIMITS)
    assert x.tolist() == [0.0, 1.0] * 100


# --------------------------------------------------------------------------------------------
# Refusals


RAGGED_DEEP = [[[[1, 2], [3, 4]], [[5, 6], [7, 8]]], [[[1, 2], [3, 4]], [[5, 6], [7]]]]


@pytest.mark.parametrize(
    ("x", "error", "loc"),
    [
        ([[1, 2], [3]], InvalidTensor, ("body", "x", 1)),
        (RAGGED_DEEP, InvalidTensor, ("body", "x", 1, 1, 1)),
        ([[1, 2], 3], InvalidTensor, ("body", "x", 1)),
        ([1, [2]], InvalidTensor, ("body", "x", 1)),
        ([[], [1]], InvalidTensor, ("body", "x", 1)),
        ([1.5, True], InvalidTensor, ("body", "x", 1)),
        ([[0.0] * 100, [0.0] * 99 + [False]], InvalidTensor, ("body", "x", 1, 99)),
        ([1.5, None], InvalidTensor, ("body", "x", 1)),
        ([1.5, "abc"], InvalidTensor, ("body", "x", 1)),
        ([[1.5, "1.5"]], InvalidTensor, ("body", "x", 0, 1)),
        (["NaN"] * 70 + ["1.5"], InvalidTensor, ("body", "x", 70)),
        ([1.5, " 2"], InvalidTensor, ("body", "x", 1)),
        ([1.5, "--inf"], InvalidTensor, ("body", "x", 1)),
        ([1.5, {"a": 1}], InvalidTensor, ("body", "x", 1)),
        (True, InvalidTensor, ("body", "x")),
        (None, InvalidTensor, ("body", "x")),
        ({"a": 1}, InvalidTensor, ("body", "x")),
        ("x", InvalidTensor, ("body", "x")),
        (np.zeros((1,) * 33).tolist(), InvalidTensor, ("body", "x")),
        (np.zeros((40, 40)).tolist(), PayloadTooLarge, None),
    ],
    ids=lambda case: repr(case)[:40],
)
@pytest.mark.parametrize("strict", [False, True], ids=["with-body", "strict"])
def test_invalid_tensors_are_refused_with_the_full_path(
    x: object, error: type[ServiceError], loc: tuple[object, ...] | None, strict: bool
) -> None:
    body = orjson.dumps({"x": x})
    with pytest.raises(error) as raised:
        decode_body(body, strict=strict)
    if loc is not None:
        assert raised.value.errors[0].loc == loc
        assert raised.value.status == 422
    else:
        assert raised.value.status == 413


@pytest.mark.parametrize("shape", [(1001,), (11, 7, 13), (2, 501)], ids=str)
@pytest.mark.parametrize("body_given", [True, False])
def test_too_many_elements_is_413_from_decode_alone(shape: tuple[int, ...], body_given: bool) -> None:
    body = orjson.dumps({"x": np.zeros(shape).tolist()})
    with pytest.raises(PayloadTooLarge) as raised:
        decode_json_tensor(
            parse_json_body(body)["x"], dtype=DTYPES["float32"], body=body if body_given else None, **LIMITS
        )
    assert str(math.prod(shape)) in raised.value.detail.replace(",", "")


@pytest.mark.parametrize(
    ("x", "fragment"),
    [
        ([[1, 2], [3]], "expected 2 entries"),
        ([1.5, True], "boolean"),
        ([1.5, None], "null"),
        ([1.5, "abc"], "'abc'"),
        ([1.5, {}], "object"),
        (np.zeros((1,) * 33).tolist(), "maximum rank is 32"),
    ],
    ids=lambda case: repr(case)[:20],
)
def test_messages_say_what_is_wrong(x: object, fragment: str) -> None:
    with pytest.raises(InvalidTensor) as raised:
        decode_body(orjson.dumps({"x": x}))
    assert fragment in raised.value.detail + raised.value.errors[0].msg


def test_only_the_first_few_problems_are_listed() -> None:
    with pytest.raises(InvalidTensor) as raised:
        decode_body(orjson.dumps({"x": [True] * 50}))
    assert [item.loc for item in raised.value.errors] == [("body", "x", i) for i in range(5)]
    assert "50 problems" in raised.value.detail


def test_a_problem_deep_in_a_large_tensor_is_found_without_a_budget_check() -> None:
    x = np.zeros((300, 300)).tolist()
    x[299][298] = True
    with pytest.raises(InvalidTensor) as raised:
        decode_body(orjson.dumps({"x": x}), max_elements=100_000)
    assert raised.value.errors[0].loc == ("body", "x", 299, 298)


@pytest.mark.parametrize(
    ("body", "error", "loc"),
    [
        (b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}", InvalidTensor, ("body", "x")),
        (b'{"x": [1], "mask": ' + b"[" * 2000 + b"]" * 2000 + b"}", InvalidTensor, ("body", "mask")),
        (b'{"a": NaN, "x": ' + b"[" * 1500 + b"]" * 1500 + b"}", InvalidTensor, ("body", "x")),
        (b"[" * 5000 + b"]" * 5000, InvalidBody, None),
        (b"[1, 2]", InvalidBody, None),
        (b"1.5", InvalidBody, None),
        (b'"x"', InvalidBody, None),
        (b"null", InvalidBody, None),
        (b"NaN", InvalidBody, None),
        (b"", MalformedBody, None),
        (b"  \n", MalformedBody, None),
        (b"garbage", MalformedBody, None),
        (b'{"x": [1, 2]', MalformedBody, None),
        (b'{"x": [1,]}', MalformedBody, None),
        (b'{"x": [NaN, ]}', MalformedBody, None),
        (b'{"x": [nan]}', MalformedBody, None),
        (b'{"x": [1]} trailing', MalformedBody, None),
        (b'\xef\xbb\xbf{"x": [1]}', MalformedBody, None),
        (b'{"x": "\xff"}', MalformedBody, None),
        (b'{"x": [NaN], "y": "\xff"}', MalformedBody, None),
        (b'{"x": [NaN], "dtype": "\\ud800"}', MalformedBody, None),
    ],
    ids=lambda case: repr(case)[:30],
)
def test_bodies_that_are_not_json_objects(
    body: bytes, error: type[ServiceError], loc: tuple[object, ...] | None
) -> None:
    with pytest.raises(error) as raised:
        parse_json_body(body)
    if loc is not None:
        assert raised.value.errors[0].loc == loc
        assert "rank" in raised.value.errors[0].msg
    assert "Traceback" not in raised.value.detail


def test_malformed_json_says_where() -> None:
    with pytest.raises(MalformedBody) as raised:
        parse_json_body(b'{"x": [1, 2],\n "alpha": .5}')
    assert "line 2" in raised.value.detail


def test_a_paired_surrogate_escape_is_fine_after_a_bare_nan() -> None:
    assert parse_json_body(b'{"x": [NaN], "note": "\\ud83d\\ude00"}')["note"] == "\N{GRINNING FACE}"


# --------------------------------------------------------------------------------------------
# The element budget


def fields_body(**fields: object) -> bytes:
    return orjson.dumps(fields)


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        (fields_body(x=list(range(10))), False),
        (fields_body(x=list(range(11))), True),
        (fields_body(x=np.zeros((2, 5)).tolist(), dy=np.zeros((2, 5)).tolist(), alpha=0.1), False),
        (fields_body(x=np.zeros((2, 6)).tolist()), True),
        (fields_body(x=np.zeros((1000, 0)).tolist()), False),
        (fields_body(x=[[[]] * 50] * 20), False),
        (fields_body(expression="," * 500, x=[1, 2]), False),
        (fields_body(x=[1, 2], note="[]" * 500), False),
        (fields_body(x=["NaN"] * 10, names=[",", '\\","'] * 2), False),
        (fields_body(x=["NaN"] * 11), True),
        (fields_body(x=[1, 2], other=list(range(11))), True),
        (orjson.dumps(list(range(11))), True),
        (b'{"x" : [ [ ] , [ ] , [ ] , [ ] , [ ] , [ ] , [ ] , [ ] , [ ] , [ ] , [ ] , [ ] ]}', False),
    ],
    ids=lambda case: repr(case)[:40],
)
@pytest.mark.parametrize("chunk", [1, 3, 64, 1 << 22])
def test_budget_refuses_only_bodies_with_a_field_over_the_limit(
    body: bytes, refused: bool, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(json_tensor, "_SCAN_CHUNK", chunk)  # the count must not depend on the chunking
    if refused:
        with pytest.raises(PayloadTooLarge) as raised:
            check_json_element_budget(body, 10)
        assert "10" in raised.value.detail
    else:
        check_json_element_budget(body, 10)


def test_budget_names_the_field_and_its_size() -> None:
    with pytest.raises(PayloadTooLarge) as raised:
        check_json_element_budget(fields_body(alpha=0.5, dy=list(range(25)), x=[1]), 10)
    assert "'dy'" in raised.value.detail
    assert "25" in raised.value.detail


def test_budget_check_costs_nothing_for_bodies_that_cannot_be_over() -> None:
    # Below twice the limit in bytes no scan is needed; a body of garbage passes untouched.
    check_json_element_budget(b"\x00" * 20, 10)


json_leaf = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**70), 2**70),
    st.sampled_from(["NaN", "Infinity", "-Infinity", ",", "[]", '"', "\\", "[,]", "{}", '\\"', {}, {"a": [1, 2]}]),
    st.booleans(),
    st.none(),
)


@st.composite
def nested_arrays(draw: st.DrawFn) -> list[Any]:
    rank = draw(st.integers(1, 4))
    shape = draw(st.lists(st.integers(0, 4), min_size=rank, max_size=rank))
    leaves = iter(draw(st.lists(json_leaf, min_size=math.prod(shape), max_size=math.prod(shape))))

    def build(depth: int) -> list[Any]:
        if depth == rank - 1:
            return [next(leaves) for _ in range(shape[depth])]
        return [build(depth + 1) for _ in range(shape[depth])]

    return build(0)


def leaf_count(value: object) -> int:
    """Values in `value` that are no list or object."""
    if isinstance(value, dict):
        value = list(value.values())
    return sum(leaf_count(item) for item in value) if isinstance(value, list) else 1


@given(
    fields=st.dictionaries(st.text(max_size=5), st.one_of(json_leaf, nested_arrays()), min_size=1, max_size=4),
    indent=st.sampled_from([None, 1, "\t"]),
    chunk=st.sampled_from([1, 2, 5, 1 << 20]),
)
@settings(max_examples=400, deadline=None)
def test_budget_counts_exactly_the_largest_field(fields: dict[str, object], indent: Any, chunk: int) -> None:
    body = json.dumps(fields, indent=indent).encode()
    largest = max(leaf_count(value) for value in fields.values())
    with patch.object(json_tensor, "_SCAN_CHUNK", chunk):
        check_json_element_budget(body, largest)
        if largest > 0:
            with pytest.raises(PayloadTooLarge):
                check_json_element_budget(body, largest - 1)


# --------------------------------------------------------------------------------------------
# Properties


@st.composite
def tensors(draw: st.DrawFn) -> np.ndarray:
    dtype = DTYPES[draw(st.sampled_from(list(DTYPES)))]
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
    bits = draw(hnp.arrays(BITS[dtype.itemsize], shape))
    return np.asarray(bits.view(dtype))


@given(y=tensors(), parser=st.sampled_from([orjson.loads, json.loads]), strict=st.booleans())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_tensor_round_trips_bit_for_bit(y: np.ndarray, parser: Any, strict: bool) -> None:
    body = b'{"x": ' + encode_json_tensor(y) + b"}"
    document = parser(body)
    back = decode_json_tensor(
        document["x"], dtype=y.dtype, max_elements=10_000, max_rank=8, body=None if strict else body
    )
    assert same_bits(back, y.reshape(json_visible(y.shape)))


VALID_BODIES = [
    b'{"x": [[1.5, -2.0, 3e5], [NaN, "Infinity", 0]], "dtype": "float32", "approximate": true}',
    b'{"x": [[[1, 2]], [[3, 4]]], "alpha": 0.1, "mask": [[1, 0]]}',
    b'{"x": 0.5, "expression": "x * sigmoid(1.702 * x)"}',
]


@given(
    base=st.sampled_from(VALID_BODIES),
    edits=st.lists(
        st.tuples(st.integers(0, 200), st.integers(0, 255), st.sampled_from(["set", "insert", "delete"])), max_size=6
    ),
)
@settings(max_examples=600, deadline=None)
def test_corrupted_bodies_raise_only_service_errors(base: bytes, edits: list[tuple[int, int, str]]) -> None:
    body = bytearray(base)
    for position, byte, how in edits:
        at = position % (len(body) + 1)
        if how == "insert":
            body.insert(at, byte)
        elif body and at < len(body):
            if how == "set":
                body[at] = byte
            else:
                del body[at]
    for strict in (False, True):
        try:
            decode_body(bytes(body), strict=strict, max_elements=20)
        except ServiceError as error:
            assert error.status in (400, 413, 422)
            orjson.dumps({"detail": error.detail, "errors": [[item.loc, item.msg] for item in error.errors]})
        except KeyError:
            pass  # a valid object without "x": the API's business, not the codec's


@pytest.mark.parametrize("token", ["NaN ", " nan", "inf\n", "\tInfinity", "--inf", "nan1", "Infinityy"])
@pytest.mark.parametrize("with_body", [True, False])
def test_padded_or_misspelled_non_finite_strings_are_refused(token: str, with_body: bool) -> None:
    body = orjson.dumps({"x": [1.5, 2.5, token]})
    value = parse_json_body(body)["x"]
    with pytest.raises(InvalidTensor) as raised:
        decode_json_tensor(
            value, dtype=DTYPES["float32"], max_elements=10, max_rank=4, body=body if with_body else None
        )
    assert raised.value.errors[0].loc == ("body", "x", 2)
