"""Property-based fuzzing of the KServe v2 codec, JSON and binary (SPEC section 7).

Random tensors of every datatype and shape decode to their values from a binary request (the
binary tensor data extension) and from a JSON one; responses of random float tensors carry the
bytes and the shape back; corrupted binary bodies, wrong Inference-Header-Content-Length values
and random request documents end in a decoded request or a client error, never another exception.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from app.codecs.v2_tensor import BINARY_ONLY, FLOAT_DATATYPES, V2_DATATYPES, OutputTensor, decode_infer_request
from app.codecs.v2_tensor import encode_infer_response as encode
from app.errors import ServiceError
from tests.mutations import mutated

LIMITS: dict[str, Any] = {"max_elements": 4096, "max_rank": 8}
CLIENT_STATUSES = (400, 404, 413, 422)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)


@st.composite
def tensors(draw: st.DrawFn, datatypes: tuple[str, ...] = tuple(V2_DATATYPES)) -> tuple[str, np.ndarray]:
    datatype = draw(st.sampled_from(datatypes))
    dtype = V2_DATATYPES[datatype]
    shape = draw(shapes)
    if datatype == "BOOL":
        return datatype, draw(hnp.arrays(np.bool_, shape))
    bits = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[dtype.itemsize]
    return datatype, draw(hnp.arrays(bits, shape)).view(dtype)


def binary_request(datatype: str, array: np.ndarray) -> tuple[bytes, str]:
    raw = np.ascontiguousarray(array).tobytes()
    spec = {"name": "x", "datatype": datatype, "shape": list(array.shape), "parameters": {"binary_data_size": len(raw)}}
    header = orjson.dumps({"inputs": [spec]})
    return header + raw, str(len(header))


@given(tensors())
@FUZZ
def test_any_binary_tensor_decodes_to_its_bytes(case: tuple[str, np.ndarray]) -> None:
    datatype, array = case
    body, length = binary_request(datatype, array)
    tensor = decode_infer_request(body, length, **LIMITS).inputs["x"]
    assert tensor.datatype == datatype and tensor.array.shape == array.shape
    assert tensor.array.tobytes() == np.ascontiguousarray(array).tobytes()


@given(tensors(tuple(name for name in V2_DATATYPES if name not in BINARY_ONLY)), st.booleans())
@FUZZ
def test_any_json_tensor_decodes_to_its_values(case: tuple[str, np.ndarray], nested: bool) -> None:
    datatype, array = case
    if array.dtype.kind == "f":
        array = np.where(np.isfinite(array), array, 0).astype(array.dtype)  # orjson writes no NaN
    data = array.tolist() if nested and array.ndim else array.reshape(-1).tolist()
    body = orjson.dumps({"inputs": [{"name": "x", "datatype": datatype, "shape": list(array.shape), "data": data}]})
    tensor = decode_infer_request(body, None, **LIMITS).inputs["x"]
    assert tensor.array.shape == array.shape
    expected = array.astype(np.float32) if array.dtype.kind in "iu" else array
    assert np.array_equal(tensor.array.astype(expected.dtype), expected)


@given(tensors(tuple(FLOAT_DATATYPES)), st.booleans(), st.one_of(st.none(), st.text(max_size=10)))
@FUZZ
def test_any_float_response_carries_its_tensor(
    case: tuple[str, np.ndarray], binary: bool, request_id: str | None
) -> None:
    datatype, y = case
    binary = binary or datatype in BINARY_ONLY
    body, json_length = encode("relu", "1", request_id, [OutputTensor("y", y, binary)])
    header = body[:json_length] if binary else body
    assert (json_length is not None) == binary
    # Triton writes bare NaN/Infinity in JSON data; Python's json reads them.
    document = json.loads(header)
    assert document.get("id") == request_id
    (output,) = document["outputs"]
    assert output["datatype"] == datatype and output["shape"] == list(y.shape)
    if binary:
        assert json_length is not None and body[json_length:] == np.ascontiguousarray(y).tobytes()
    else:
        back = np.array(output["data"], dtype=np.float64).astype(y.dtype).reshape(y.shape)
        assert np.array_equal(back, y, equal_nan=True)


SEED, SEED_LENGTH = binary_request("FP32", np.arange(6, dtype="<f4").reshape(2, 3))
edit_lists = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8)


@given(
    edits=edit_lists,
    cut=st.integers(0, 150),
    length=st.one_of(st.just(SEED_LENGTH), st.integers(-5, 400).map(str), st.text(max_size=6), st.none()),
)
@FUZZ
def test_corrupted_binary_requests_decode_or_are_refused(
    edits: list[tuple[int, int, int]], cut: int, length: str | None
) -> None:
    body = mutated(SEED, edits, min_length=1)
    try:
        request = decode_infer_request(bytes(body[: max(cut, len(body) - cut)]), length, **LIMITS)
    except ServiceError as error:
        assert error.status in CLIENT_STATUSES
        return
    for tensor in request.inputs.values():
        assert tensor.array.size <= LIMITS["max_elements"] and tensor.array.ndim <= LIMITS["max_rank"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=25,
)
input_specs = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["x", "alpha", "mask"]) | json_values,
        "datatype": st.sampled_from(list(V2_DATATYPES)) | json_values,
        "shape": st.lists(st.integers(-1, 5), max_size=4) | json_values,
        "data": json_values,
        "parameters": st.fixed_dictionaries({}, optional={"binary_data_size": st.integers(-1, 64) | json_values}),
    },
)


@given(
    inputs=st.lists(input_specs, max_size=4) | json_values,
    parameters=st.dictionaries(st.sampled_from(["binary_data_output", "alpha", "axis"]), json_values, max_size=2),
    outputs=st.none() | json_values,
    request_id=json_values,
    tail=st.binary(max_size=24),
)
@FUZZ
def test_any_request_document_decodes_or_is_refused(
    inputs: Any, parameters: dict[str, Any], outputs: Any, request_id: Any, tail: bytes
) -> None:
    document: dict[str, Any] = {"inputs": inputs, "parameters": parameters, "id": request_id}
    if outputs is not None:
        document["outputs"] = outputs
    header = orjson.dumps(document)
    try:
        decode_infer_request(header + tail, str(len(header)) if tail else None, **LIMITS)
    except ServiceError as error:
        assert error.status in CLIENT_STATUSES
