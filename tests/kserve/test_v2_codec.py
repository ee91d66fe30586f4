"""The v2 tensor codec against tritonclient's own request encoder and response parser.

tritonclient is the reference for the wire format: its `generate_request_body` builds what the
codec must decode, its `parse_response_body` reads what the codec encodes, bit for bit. Hypothesis
draws arbitrary tritonclient requests (decoded bit for bit) and arbitrary hostile documents
(refused with a client error by the codec and by the infer endpoint, never a 500).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import ml_dtypes
import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from starlette.testclient import TestClient

from app.codecs.v2_tensor import (
    V2_DATATYPES,
    OutputTensor,
    decode_infer_request,
    encode_infer_response,
)
from app.core.config import Settings
from app.errors import MalformedBody, PayloadTooLarge, ServiceError
from app.main import create_app
from app.numerics.dtypes import BFLOAT16
from tests.kserve.clients import datatype, output_array, v2_input

LIMITS: dict[str, Any] = {"max_elements": 1000, "max_rank": 8}
SPECIAL = [0.0, -0.0, 1.0, -1.5, 0.1, 65504.0, 1e-7, math.nan, math.inf, -math.inf]
JSON_DTYPES = [np.float16, np.float32, np.float64]
FLOAT_DTYPES = [*JSON_DTYPES, ml_dtypes.bfloat16]
INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]


def _sample(dtype: Any) -> np.ndarray:
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return np.array([[info.min, 0, 1], [7, info.max // 3, info.max]], dtype=dtype)
    with np.errstate(over="ignore"):
        return np.array(SPECIAL[:9] + [SPECIAL[9]] * 3, dtype=np.float64).astype(dtype).reshape(3, 4)


def _client_request(arrays: dict[str, np.ndarray], binary: bool, **kwargs: Any) -> tuple[bytes, str | None]:
    inputs = [v2_input(name, array, binary) for name, array in arrays.items()]
    body, json_size = triton.InferenceServerClient.generate_request_body(inputs, **kwargs)
    return body, None if json_size is None else str(json_size)


def _same_bits(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("dtype", [*FLOAT_DTYPES, *INT_DTYPES, np.bool_], ids=lambda d: np.dtype(d).name)
def test_binary_inputs_decode_bit_for_bit(dtype: Any) -> None:
    array = np.array([[True, False, True]]) if dtype is np.bool_ else _sample(dtype)
    body, header_length = _client_request({"x": array, "alpha": array[:1]}, binary=True)
    request = decode_infer_request(body, header_length, **LIMITS)
    assert list(request.inputs) == ["x", "alpha"]
    _same_bits(request.inputs["x"].array, array)
    _same_bits(request.inputs["alpha"].array, array[:1])
    assert request.inputs["x"].datatype == datatype(array)


@pytest.mark.parametrize("dtype", JSON_DTYPES, ids=lambda d: np.dtype(d).name)
def test_json_inputs_with_bare_nonfinite_tokens_decode_bit_for_bit(dtype: Any) -> None:
    array = _sample(dtype)
    body, header_length = _client_request({"x": array}, binary=False)
    assert header_length is None and b"NaN" in body and b"-Infinity" in body  # rapidjson writes bare tokens
    got = decode_infer_request(body, header_length, **LIMITS).inputs["x"].array
    _same_bits(got, array)


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_json_integers_are_read_as_float64_like_the_native_api(dtype: Any) -> None:
    array = _sample(dtype)
    body, _ = _client_request({"x": array}, binary=False)
    got = decode_infer_request(body, None, **LIMITS).inputs["x"].array
    np.testing.assert_array_equal(got, array.astype(np.float64))


@pytest.mark.parametrize(
    ("data", "shape"),
    [
        ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]),  # flat, row major
        ([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [2, 3]),  # nested like the shape
        ([[1, 2], [3, 4], [5, 6]], [2, 3]),  # nested otherwise: only the count must agree
        ([7.5], []),
        ([], [0, 3]),
    ],
)
def test_json_data_flat_or_nested(data: list[Any], shape: list[int]) -> None:
    body = orjson.dumps({"inputs": [{"name": "x", "shape": shape, "datatype": "FP64", "data": data}]})
    got = decode_infer_request(body, None, **LIMITS).inputs["x"].array
    np.testing.assert_array_equal(got, np.array(data, dtype=np.float64).reshape(shape))


def test_json_bool_mask_and_envelope() -> None:
    body = orjson.dumps(
        {
            "id": "req-7",
            "parameters": {"axis": [0, 1], "binary_data_output": True, "priority": 1, "timeout": 5},
            "inputs": [{"name": "mask", "shape": [2], "datatype": "BOOL", "data": [True, False]}],
            "outputs": [{"name": "y", "parameters": {"binary_data": False}}],
        }
    )
    request = decode_infer_request(body, None, **LIMITS)
    assert request.id == "req-7"
    assert request.parameters == {"axis": [0, 1]}  # protocol parameters are not the model's
    assert request.binary_data_output is True
    assert request.outputs == {"y": False}
    np.testing.assert_array_equal(request.inputs["mask"].array, [True, False])


def _json_input(**fields: Any) -> bytes:
    tensor = {"name": "x", "shape": [2], "datatype": "FP32", "data": [1.0, 2.0], **fields}
    return orjson.dumps({"inputs": [tensor]})


def _binary_body(size: int, extra: bytes = b"") -> tuple[bytes, str]:
    header = orjson.dumps(
        {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": size}}]}
    )
    return header + np.array([1, 2], dtype="<f4").tobytes() + extra, str(len(header))


@pytest.mark.parametrize(
    ("body", "header_length", "error", "fragment"),
    [
        (b"{", None, MalformedBody, "not valid JSON"),
        (b"[]", None, ServiceError, "JSON object"),
        (orjson.dumps({"inputs": []}), None, ServiceError, "non-empty list"),
        (_json_input(datatype="BYTES"), None, ServiceError, "supported: BOOL"),
        (_json_input(datatype="BF16"), None, ServiceError, "no JSON form"),
        (_json_input(shape=[3]), None, ServiceError, "has 2 values in 'data'"),
        (_json_input(shape="2"), None, ServiceError, "list of non-negative integers"),
        (_json_input(shape=[-2]), None, ServiceError, "list of non-negative integers"),
        (_json_input(shape=[1] * 9, data=[1.0]), None, ServiceError, "maximum rank is 8"),
        (_json_input(shape=[1001], data=[0.0]), None, PayloadTooLarge, "1,001 elements"),
        (_json_input(shape=[0, 2**62], data=[]), None, ServiceError, "larger than any array can be"),
        (_json_input(shape=[2**40, 0, 2**40], data=[]), None, ServiceError, "larger than any array can be"),
        (_json_input(data=[1.0, "one"]), None, ServiceError, "data.1: expected a number, got the string 'one'"),
        (_json_input(data=[[1.0], [2.0, 3.0]]), None, ServiceError, "inputs.x.data.1: expected 1 entries"),
        (_json_input(data=1.0, shape=[]), None, ServiceError, "as a list"),
        (_json_input(datatype="INT8", data=[1, 300]), None, ServiceError, "no INT8 value"),
        (_json_input(datatype="INT32", data=[1, 2.5]), None, ServiceError, "no INT32 value"),
        (_json_input(datatype="BOOL", data=[True, 1]), None, ServiceError, "only true and false"),
        (_json_input(data=None), None, ServiceError, "as a list"),
        (orjson.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}), None, ServiceError, "neither"),
        (orjson.dumps({"inputs": [{"name": "x", "shape": [], "datatype": "FP32", "data": [1]}] * 2}), None,
         ServiceError, "given twice"),
        (_json_input(parameters={"binary_data_size": 8}), "4", MalformedBody, "not valid JSON"),
        (*_binary_body(8, b"\0"), MalformedBody, "1 bytes after the JSON header"),
        (*_binary_body(12), ServiceError, "takes 8 bytes, but its binary_data_size is 12"),
        (_json_input(), "-1", MalformedBody, "Inference-Header-Content-Length"),
        (_json_input(), "99999", MalformedBody, "Inference-Header-Content-Length"),
        (orjson.dumps({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1, 2]}],
                       "outputs": [{"name": "y", "parameters": {"binary_data": "yes"}}]}), None, ServiceError,
         "true or false"),
        (orjson.dumps({"id": 7, "inputs": []}), None, ServiceError, "'id' must be a string"),
    ],
)  # fmt: skip
def test_bad_requests_are_refused_with_a_clear_message(
    body: bytes, header_length: str | None, error: type[ServiceError], fragment: str
) -> None:
    with pytest.raises(error) as caught:
        decode_infer_request(body, header_length, **LIMITS)
    assert caught.value.status < 500
    places = [f"{'.'.join(map(str, item.loc))}: {item.msg}" for item in caught.value.errors]
    assert fragment in " ".join([caught.value.detail, *places])


def test_binary_data_is_bounded_by_the_declared_shape_not_the_body() -> None:
    header = orjson.dumps(
        {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]}
    )
    with pytest.raises(MalformedBody, match="only 4 bytes follow"):
        decode_infer_request(header + b"\0" * 4, str(len(header)), **LIMITS)


# BF16 has no JSON form: the infer route refuses to write it (test_tritonclient covers that).
ENCODINGS = [(dtype, binary) for dtype in FLOAT_DTYPES for binary in (True, False) if binary or dtype in JSON_DTYPES]


@pytest.mark.parametrize(
    ("dtype", "binary"), ENCODINGS, ids=[f"{np.dtype(d).name}-{'binary' if b else 'json'}" for d, b in ENCODINGS]
)
def test_responses_read_back_bit_for_bit_by_tritonclient(dtype: Any, binary: bool) -> None:
    y = _sample(dtype)
    body, header_length = encode_infer_response("relu", "1", "abc", [OutputTensor("y", y, binary)])
    assert (header_length is not None) == binary
    result = triton.InferenceServerClient.parse_response_body(body, header_length=header_length)
    assert result.get_response()["id"] == "abc"
    assert result.get_response()["model_version"] == "1"
    _same_bits(output_array(result, "y"), y)
    if not binary:
        assert b"NaN" in body and b"-Infinity" in body and b'"NaN"' not in body


def test_json_response_data_is_flat() -> None:
    body, _ = encode_infer_response("relu", "1", None, [OutputTensor("y", np.eye(2, dtype=np.float32), False)])
    assert orjson.loads(body)["outputs"] == [
        {"name": "y", "datatype": "FP32", "shape": [2, 2], "data": [1.0, 0.0, 0.0, 1.0]}
    ]


def test_every_datatype_is_tritonclients() -> None:
    for name, dtype in V2_DATATYPES.items():
        assert datatype(np.zeros(1, dtype=dtype)) == name
        if name != "BF16":  # numpy has no bfloat16: tritonclient's own table maps it to float32 or ml_dtypes
            assert triton.triton_to_np_dtype(name) == dtype


# --------------------------------------------------------------------------------------------
# Property-based: what tritonclient writes decodes bit for bit; anything else is a ServiceError


ROUND_TRIP_DTYPES = [*FLOAT_DTYPES, *INT_DTYPES, np.bool_]


@st.composite
def _arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(ROUND_TRIP_DTYPES)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
    if dtype == BFLOAT16:
        bits = draw(hnp.arrays(np.uint16, shape))
        return bits.view(BFLOAT16)
    return draw(hnp.arrays(dtype, shape))


@settings(max_examples=300, deadline=None)
@given(st.lists(_arrays(), min_size=1, max_size=3), st.booleans())
def test_any_tritonclient_request_decodes_bit_for_bit(arrays: list[np.ndarray], binary: bool) -> None:
    named = {f"t{index}": array for index, array in enumerate(arrays)}
    # tritonclient refuses BF16 in JSON: those go binary whatever the draw.
    inputs = [v2_input(name, array, binary or array.dtype == BFLOAT16) for name, array in named.items()]
    body, json_size = triton.InferenceServerClient.generate_request_body(inputs)
    request = decode_infer_request(body, None if json_size is None else str(json_size), **LIMITS)
    for name, array in named.items():
        got = request.inputs[name]
        assert got.datatype == datatype(array)
        if array.dtype.kind in "iu" and got.array.dtype != array.dtype:
            # JSON integers come back as their float64 values, which the model computes in FP32.
            np.testing.assert_array_equal(got.array, array.astype(np.float64))
        elif binary or array.dtype == BFLOAT16 or array.dtype.kind != "f":
            assert got.array.shape == array.shape and got.array.tobytes() == array.tobytes()
        else:  # JSON has one NaN: its sign and payload are not carried
            nan = np.isnan(array)
            np.testing.assert_array_equal(np.isnan(got.array), nan)
            assert got.array.dtype == array.dtype and got.array[~nan].tobytes() == array[~nan].tobytes()


_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["x", "y", "dx", "FP32", "BF16", "BOOL", "INT8", "NaN", "binary_data_size", ""]),
)
_JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["name", "shape", "datatype", "data", "parameters", "binary_data_size", "binary_data"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)
_TENSORS = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["x", "dy", "alpha", "mask"]) | _JSON_SCALARS,
        "shape": st.lists(st.integers(min_value=-1, max_value=5) | _JSON_SCALARS, max_size=4) | _JSON_VALUES,
        "datatype": st.sampled_from([*V2_DATATYPES, "BYTES", "fp32"]) | _JSON_SCALARS,
        "data": st.lists(st.floats() | st.integers(-300, 300) | st.booleans() | _JSON_VALUES, max_size=30)
        | _JSON_VALUES,
        "parameters": st.fixed_dictionaries({}, optional={"binary_data_size": st.integers(-4, 64) | _JSON_SCALARS})
        | _JSON_VALUES,
    },
)
_REQUESTS = st.fixed_dictionaries(
    {},
    optional={
        "id": _JSON_SCALARS,
        "inputs": st.lists(_TENSORS, max_size=4) | _JSON_VALUES,
        "outputs": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["y", "dx", "z"]) | _JSON_SCALARS}), max_size=3
        )
        | _JSON_VALUES,
        "parameters": st.dictionaries(
            st.sampled_from(["binary_data_output", "gradient", "expression", "alpha", "axis", "priority"]),
            _JSON_VALUES,
            max_size=3,
        )
        | _JSON_VALUES,
    },
)


def _dumps(document: object) -> bytes:
    # Python's json writes NaN, Infinity and integers beyond 64 bits, as hostile clients may.
    return json.dumps(document).encode()


@settings(max_examples=300, deadline=None)
@given(_REQUESTS, st.binary(max_size=64), st.none() | st.integers(-2, 400).map(str) | st.text(max_size=4))
def test_any_request_is_decoded_or_refused_with_a_service_error(
    document: dict[str, Any], tail: bytes, header_length: str | None
) -> None:
    header = _dumps(document)
    try:
        decode_infer_request(header + tail if header_length is not None else header, header_length, **LIMITS)
    except ServiceError as exc:
        assert exc.status < 500


@pytest.fixture(scope="module")
def app_client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(max_elements=1000)), raise_server_exceptions=False) as test_client:
        yield test_client


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["relu", "softmax", "glu", "PReLU", "Softmax", "custom", "threshold"]), _REQUESTS)
def test_the_infer_endpoint_never_answers_500(app_client: TestClient, model: str, document: dict[str, Any]) -> None:
    response = app_client.post(f"/v2/models/{model}/infer", content=_dumps(document))
    assert response.status_code in (200, 400, 404, 413), response.text
    assert response.status_code == 200 or set(response.json()) == {"error"}


# Per model, parameter values a client may send, valid and not.
_MODEL_PARAMS: dict[str, dict[str, list[object]]] = {
    "relu": {"alpha": [0.1, -1, "x"], "max_value": [1.0, -2, None], "threshold": [0.5, True]},
    "softmax": {"axis": [0, -1, 1, [0, 1], 2, [0, 0], 1.0]},
    "glu": {"axis": [0, -1, 1]},
    "sparsemax": {"axis": [0, -1]},
    "PReLU": {},
    "Softmax": {"axis": [0, -1, [0, 1]]},
    "threshold": {"threshold": [0.5, math.nan], "default_value": [-1.0]},
    "squareplus": {"b": [0, 4, -1]},
    "custom": {"expression": ["x * x", "relu(x, alpha=0.1)", "x ** x", "log(x) * sqrt(x)", "1", "x.real", 3]},
}


@st.composite
def _model_requests(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str]]:
    """A request tritonclient could send to a model: x, maybe dy and a tensor parameter, parameters, outputs."""
    model = draw(st.sampled_from(sorted(_MODEL_PARAMS)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    x = draw(_arrays().filter(lambda a: a.dtype != np.bool_).map(lambda a: np.resize(a, shape)))
    tensors = {"x": x}
    gradient = draw(st.booleans())
    if gradient and draw(st.booleans()):
        tensors["dy"] = draw(_arrays())
    if model in ("PReLU", "Softmax") and draw(st.booleans()):
        tensors["alpha" if model == "PReLU" else "mask"] = draw(_arrays())
    params = {key: draw(st.sampled_from(values)) for key, values in _MODEL_PARAMS[model].items() if draw(st.booleans())}
    if gradient and draw(st.booleans()):
        params["gradient"] = True
    outputs = None
    if draw(st.booleans()):
        names = draw(st.sampled_from([["y"], ["dx"], ["y", "dx"]]))
        outputs = [triton.InferRequestedOutput(name, binary_data=draw(st.booleans())) for name in names]
    binary = draw(st.booleans())
    inputs = [v2_input(name, array, binary or array.dtype == BFLOAT16) for name, array in tensors.items()]
    body, json_size = triton.InferenceServerClient.generate_request_body(
        inputs, outputs=outputs, parameters=params or None
    )
    headers = {} if json_size is None else {"Inference-Header-Content-Length": str(json_size)}
    return model, body, headers


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_model_requests())
def test_model_requests_are_answered_or_refused_as_client_errors(
    app_client: TestClient, drawn: tuple[str, bytes, dict[str, str]]
) -> None:
    model, body, headers = drawn
    response = app_client.post(f"/v2/models/{model}/infer", content=body, headers=headers)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        length = response.headers.get("inference-header-content-length")
        result = triton.InferenceServerClient.parse_response_body(
            response.content, header_length=None if length is None else int(length)
        )
        assert result.get_response()["model_name"] == model
    else:
        assert set(response.json()) == {"error"}
