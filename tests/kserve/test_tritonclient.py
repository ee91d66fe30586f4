"""End to end: the real tritonclient (sync and async) against a real uvicorn process.

Every value is checked against the native `POST /activate/{name}` of the same server: the two
APIs share one core, one registry and one set of limits, so they must agree bit for bit. The
gradient and custom models are in test_gradient_and_custom.py.
"""

from __future__ import annotations

import asyncio
import gzip
import math
import zlib
from typing import Any

import httpx
import ml_dtypes
import numpy as np
import orjson
import pytest
import tritonclient.http as triton
import tritonclient.http.aio as triton_aio
from tritonclient.utils import InferenceServerException

from app import __version__
from app.numerics import REGISTRY, ActivationSpec
from tests.kserve.clients import (
    DTYPES,
    MAX_BODY_BYTES,
    MAX_ELEMENTS,
    assert_identical,
    native,
    output_array,
    v2_input,
)

pytestmark = pytest.mark.e2e

# (dtype, binary): BF16 is binary only (tritonclient refuses it in JSON).
ENCODINGS = [(name, binary) for name in DTYPES for binary in (True, False) if binary or name != "bfloat16"]
ENCODING_IDS = [f"{name}-{'binary' if binary else 'json'}" for name, binary in ENCODINGS]
# Values for the parameters an entry requires (threshold: threshold and default_value).
REQUIRED = {"threshold": 0.25, "default_value": -2.0}
SPECS = list(REGISTRY)
X = [[-2.5, -0.75, -0.0, 0.3], [1.0, math.nan, math.inf, -math.inf]]


def _required(spec: ActivationSpec) -> dict[str, Any]:
    return {param.name: REQUIRED[param.name] for param in spec.params if param.required}


# --------------------------------------------------------------------------------------------
# Health and metadata


def test_server_liveness_readiness_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    metadata = client.get_server_metadata()
    assert metadata["version"] == __version__
    assert {"binary_tensor_data", "parameters"} <= set(metadata["extensions"])


@pytest.mark.parametrize("name", REGISTRY.names)
def test_every_name_is_a_ready_model_with_registry_metadata(client: triton.InferenceServerClient, name: str) -> None:
    spec = REGISTRY.get(name)
    assert client.is_model_ready(name)
    assert client.is_model_ready(name, "1")
    assert not client.is_model_ready(name, "2")
    for metadata in (client.get_model_metadata(name), client.get_model_metadata(name, "1")):
        assert metadata["name"] == spec.name
        assert metadata["versions"] == ["1"]
        tensor_params = [param.name for param in spec.params if param.kind in ("tensor", "mask")]
        assert [tensor["name"] for tensor in metadata["inputs"]] == ["x", *tensor_params, "dy"]
        assert [tensor["name"] for tensor in metadata["outputs"]] == ["y", "dx"]
        assert [param["name"] for param in metadata["request_parameters"]] == ["gradient"]
        x = metadata["inputs"][0]
        assert x["datatype"] == "FP32" and set(x["parameters"]["datatypes"].split(",")) >= {"FP16", "BF16", "FP64"}
        assert all(size == -1 for size in x["shape"]) and len(x["shape"]) == max(spec.min_rank, 1)
        documented = [param["name"] for param in metadata["activation_parameters"]]
        assert documented == [param.name for param in spec.params if param.name not in tensor_params]


def test_unknown_model_and_version_are_404(client: triton.InferenceServerClient) -> None:
    x = v2_input("x", np.zeros(2, np.float32))
    for call in (
        lambda: client.get_model_metadata("Relu"),
        lambda: client.get_model_metadata("relu", "2"),
        lambda: client.infer("Relu", [x]),
        lambda: client.infer("relu", [x], model_version="2"),
    ):
        with pytest.raises(InferenceServerException) as caught:
            call()
        assert caught.value.status() == "404"
    with pytest.raises(InferenceServerException, match="Did you mean 'relu'"):
        client.infer("Relu", [x])
    assert not client.is_model_ready("Relu")


# --------------------------------------------------------------------------------------------
# Inference: every model, every datatype, binary and JSON, against the native API


@pytest.mark.parametrize(("dtype", "binary"), ENCODINGS, ids=ENCODING_IDS)
@pytest.mark.parametrize("spec", SPECS, ids=[spec.name for spec in SPECS])
def test_infer_matches_the_native_api(
    client: triton.InferenceServerClient, http: httpx.Client, spec: ActivationSpec, dtype: str, binary: bool
) -> None:
    x = np.array(X, dtype=np.float64).astype(DTYPES[dtype])
    params = _required(spec)
    result = client.infer(
        spec.name,
        [v2_input("x", x, binary)],
        outputs=[triton.InferRequestedOutput("y", binary_data=binary)],
        parameters=params or None,
        request_id=f"{spec.name}-{dtype}",
    )
    response = result.get_response()
    assert response["id"] == f"{spec.name}-{dtype}"
    assert response["model_name"] == spec.name and response["model_version"] == "1"
    assert ("binary_data_size" in response["outputs"][0].get("parameters", {})) == binary
    assert_identical(output_array(result, "y"), native(http, spec.name, x, dtype, **params))


@pytest.mark.parametrize("name", [name for name in REGISTRY.names if REGISTRY.get(name).name != name])
def test_aliases_are_models_answering_as_their_entry(
    client: triton.InferenceServerClient, http: httpx.Client, name: str
) -> None:
    spec = REGISTRY.get(name)
    x = np.array(X, dtype=np.float32)
    result = client.infer(name, [v2_input("x", x)], model_version="1", parameters=_required(spec) or None)
    assert result.get_response()["model_name"] == spec.name and result.get_response()["model_version"] == "1"
    assert_identical(output_array(result, "y"), native(http, spec.name, x, "float32", **_required(spec)))


def test_versioned_infer_path(client: triton.InferenceServerClient, http: httpx.Client) -> None:
    x = np.array(X, dtype=np.float64)
    for version in ("", "1"):
        result = client.infer("elu", [v2_input("x", x)], model_version=version, parameters={"alpha": 0.5})
        assert_identical(output_array(result, "y"), native(http, "elu", x, "float64", alpha=0.5))


def test_rank_limit_is_the_native_one(client: triton.InferenceServerClient, http: httpx.Client) -> None:
    # The server runs with the default ACTIVATIONS_MAX_RANK of 32, as the native API.
    at_limit = np.full((1,) * 32, -2.0, dtype=np.float32)
    result = client.infer("relu", [v2_input("x", at_limit)])
    assert output_array(result, "y").shape == (1,) * 32
    over = np.zeros((1,) * 33, dtype=np.float32)
    for binary in (True, False):
        with pytest.raises(InferenceServerException, match="the maximum rank is 32") as caught:
            client.infer("relu", [v2_input("x", over, binary)])
        assert caught.value.status() == "400"
    native_over = http.post("/activate/relu", content=orjson.dumps({"x": over.tolist()}))
    assert native_over.status_code == 422  # the same limit; each API answers with its own status


@pytest.mark.parametrize(
    "content_type", [None, "application/x-www-form-urlencoded", "application/octet-stream", "application/json"]
)
def test_any_content_type_is_read_as_the_v2_body(http: httpx.Client, content_type: str | None) -> None:
    # curl -d sends application/x-www-form-urlencoded: the README's curl example must work as it is.
    body = b'{"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [-1.5, 2]}]}'
    headers = {} if content_type is None else {"content-type": content_type}
    response = http.post("/v2/models/relu/infer", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == [0.0, 2.0]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize(("name", "shape"), [("relu", (0,)), ("softmax", (2, 0)), ("glu", (0, 4))])
def test_empty_tensors_keep_their_shape(
    client: triton.InferenceServerClient, name: str, shape: tuple[int, ...], binary: bool
) -> None:
    x = np.zeros(shape, dtype=np.float32)
    outputs = [triton.InferRequestedOutput("y", binary_data=binary), triton.InferRequestedOutput("dx", binary)]
    result = client.infer(name, [v2_input("x", x, binary)], outputs=outputs)
    assert output_array(result, "dx").shape == shape
    assert output_array(result, "y").shape == ((0, 2) if name == "glu" else shape)


def test_an_empty_shape_too_large_for_any_array_is_400(http: httpx.Client) -> None:
    for parameters in ({"binary_data_size": 0}, None):
        tensor: dict[str, Any] = {"name": "x", "shape": [0, 2**62], "datatype": "FP32"}
        if parameters is None:
            tensor["data"] = []
        else:
            tensor["parameters"] = parameters
        header = orjson.dumps({"inputs": [tensor]})
        extra = {"inference-header-content-length": str(len(header))} if parameters else {}
        response = http.post("/v2/models/relu/infer", content=header, headers=extra)
        assert response.status_code == 400, response.text
        assert "larger than any array can be" in response.json()["error"]


def test_bf16_input_has_no_json_form(http: httpx.Client) -> None:
    body = b'{"inputs": [{"name": "x", "shape": [1], "datatype": "BF16", "data": [1.0]}]}'
    response = http.post("/v2/models/relu/infer", content=body)
    assert response.status_code == 400
    assert "no JSON form" in response.json()["error"]


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("relu", {"alpha": 0.1, "max_value": 1.5, "threshold": -0.5}),
        ("relu", {"negative_slope": 0.25}),
        ("leaky_relu", {"alpha": -0.5}),
        ("elu", {"alpha": 0.5}),
        ("gelu", {"approximate": True}),
        ("softmax", {"axis": [0, 1]}),
        ("log_softmax", {"axis": 0}),
        ("sparsemax", {"axis": -2}),
        ("squareplus", {"b": 1}),
        ("ReLU", {"max_value": 2.0, "negative_slope": 0.5, "threshold": 0.25}),
        ("ThresholdedReLU", {"theta": 0.5}),
        ("Softmax", {"axis": 0}),
    ],
)
def test_scalar_parameters_come_from_request_parameters(
    client: triton.InferenceServerClient, http: httpx.Client, name: str, params: dict[str, Any]
) -> None:
    x = np.array([[-2.0, -0.5, 0.25, 3.0], [0.75, -1.25, 2.5, 0.0]], dtype=np.float32)
    result = client.infer(name, [v2_input("x", x)], parameters=params)
    assert_identical(output_array(result, "y"), native(http, name, x, "float32", **params))


@pytest.mark.parametrize(
    ("name", "params", "status", "fragment"),
    [
        ("relu", {"alpha": "big"}, "400", "'alpha' must be a finite number"),
        ("relu", {"alpha": 0.1, "negative_slope": 0.2}, "400", "same parameter"),
        ("elu", {"beta": 1}, "400", "has no parameter 'beta'"),
        ("softmax", {"axis": 2}, "400", "axis 2 is out of range"),
        ("ReLU", {"threshold": -1}, "400", "'threshold' must be >= 0"),
    ],
)
def test_bad_parameters_are_400_with_the_native_message(
    client: triton.InferenceServerClient, name: str, params: dict[str, Any], status: str, fragment: str
) -> None:
    with pytest.raises(InferenceServerException) as caught:
        client.infer(name, [v2_input("x", np.ones((2, 2), np.float32))], parameters=params)
    assert caught.value.status() == status
    assert fragment in str(caught.value.message())


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize(
    ("name", "tensor", "value"),
    [
        ("PReLU", "alpha", np.array([0.5, -0.25, 2.0, 0.125], dtype=np.float32)),
        ("PReLU", "alpha", np.array([[0.5], [0.25]], dtype=np.float16)),
        ("PReLU", "alpha", np.array(0.3, dtype=np.float64)),
        ("Softmax", "mask", np.array([[True, False, True, True], [False, True, True, False]])),
        ("Softmax", "mask", np.array([[1, 0, 1, 1]], dtype=np.int8)),
        ("Softmax", "mask", np.array([1.0, 1.0, 0.0, 1.0], dtype=np.float32)),
    ],
)
def test_prelu_alpha_and_softmax_mask_are_inputs(
    client: triton.InferenceServerClient, http: httpx.Client, name: str, tensor: str, value: np.ndarray, binary: bool
) -> None:
    x = np.array([[-2.0, -0.5, 0.25, 3.0], [0.75, -1.25, 2.5, 0.0]], dtype=np.float32)
    result = client.infer(name, [v2_input("x", x, binary), v2_input(tensor, value, binary)])
    assert_identical(output_array(result, "y"), native(http, name, x, "float32", **{tensor: value.tolist()}))


def test_prelu_alpha_as_a_number_parameter_but_not_both(
    client: triton.InferenceServerClient, http: httpx.Client
) -> None:
    x = np.array([[-2.0, -0.5, 0.25, 3.0]], dtype=np.float32)
    result = client.infer("PReLU", [v2_input("x", x)], parameters={"alpha": 0.3})
    assert_identical(output_array(result, "y"), native(http, "PReLU", x, "float32", alpha=0.3))
    alpha = v2_input("alpha", np.array(0.3, dtype=np.float32))
    with pytest.raises(InferenceServerException, match="both as an input and as a request parameter") as caught:
        client.infer("PReLU", [v2_input("x", x), alpha], parameters={"alpha": 0.3})
    assert caught.value.status() == "400"


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize(
    "x",
    [
        np.array([[-128, 0, 5, 127]], dtype=np.int8),
        np.array([[-70000, 0, 5, 16777217]], dtype=np.int32),  # 2**24 + 1 rounds in FP32
        np.array([[-(2**62), 0, 2**53 + 1]], dtype=np.int64),
        np.array([[0, 5, 65535]], dtype=np.uint16),
    ],
    ids=lambda x: x.dtype.name,
)
def test_integer_inputs_are_computed_in_fp32(
    client: triton.InferenceServerClient, http: httpx.Client, x: np.ndarray, binary: bool
) -> None:
    result = client.infer("softsign", [v2_input("x", x, binary)])
    assert result.get_output("y")["datatype"] == "FP32"
    assert_identical(output_array(result, "y"), native(http, "softsign", x, "float32"))


def test_bf16_output_has_no_json_form(client: triton.InferenceServerClient) -> None:
    x = np.ones(3, dtype=ml_dtypes.bfloat16)
    with pytest.raises(InferenceServerException, match="BF16 output has no JSON form") as caught:
        client.infer("relu", [v2_input("x", x)], outputs=[triton.InferRequestedOutput("y", binary_data=False)])
    assert caught.value.status() == "400"


def test_unknown_output_is_400(client: triton.InferenceServerClient) -> None:
    with pytest.raises(
        InferenceServerException, match="no output 'output0'; the outputs are 'y' \\(the activation\\) and 'dx'"
    ) as caught:
        client.infer("relu", [v2_input("x", np.ones(2, np.float32))], outputs=[triton.InferRequestedOutput("output0")])
    assert caught.value.status() == "400"


def test_model_input_errors_are_400(client: triton.InferenceServerClient) -> None:
    x = np.ones((2, 2), dtype=np.float32)
    cases = [
        ("softmax", [v2_input("input0", x)], "has no input 'input0'"),
        ("softmax", [v2_input("x", x), v2_input("mask", x)], "has no input 'mask'"),
        ("PReLU", [v2_input("alpha", x)], "needs the input 'x'"),
        ("relu", [v2_input("x", np.ones(2, dtype=bool))], "must be numeric, not BOOL"),
        ("softmax", [v2_input("x", np.ones(3, dtype=np.float32))], "Cannot apply softmax to a tensor that is 1D"),
        ("Softmax", [v2_input("x", x), v2_input("mask", np.ones((3, 3), dtype=bool))], "does not broadcast"),
        ("Softmax", [v2_input("x", x), v2_input("mask", x * 2)], "only 0/1 or booleans"),
        ("PReLU", [v2_input("x", x), v2_input("alpha", np.full(2, np.nan, np.float32))], "finite numbers"),
    ]
    for name, inputs, fragment in cases:
        with pytest.raises(InferenceServerException, match=fragment) as caught:
            client.infer(name, inputs)
        assert caught.value.status() == "400"


# --------------------------------------------------------------------------------------------
# Non-finite values, compression, limits, routes


def test_json_nonfinite_values_are_bare_tokens_both_ways(http: httpx.Client) -> None:
    data = b"[[NaN, Infinity], [-Infinity, -1]]"
    body = b'{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": ' + data + b"}]}"
    response = http.post("/v2/models/linear/infer", content=body, headers={"content-type": "text/plain"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert b'"data":[NaN,Infinity,-Infinity,-1.0]' in response.content
    native_body = http.post("/activate/linear", content=b'{"x": [NaN, Infinity]}').content
    assert orjson.loads(native_body)["y"] == ["NaN", "Infinity"]  # the native API stays strict JSON


@pytest.mark.parametrize(
    ("parameters", "outputs", "binary"),
    [
        ({}, None, False),  # JSON unless asked
        ({"binary_data_output": True}, None, True),
        ({"binary_data_output": True}, [{"name": "y", "parameters": {"binary_data": False}}], False),
        ({"binary_data_output": False}, [{"name": "y", "parameters": {"binary_data": True}}], True),
        ({}, [{"name": "y"}], False),
    ],
)
def test_binary_data_output_and_per_output_binary_data(
    http: httpx.Client, parameters: dict[str, Any], outputs: list[dict[str, Any]] | None, binary: bool
) -> None:
    request: dict[str, Any] = {
        "inputs": [{"name": "x", "shape": [3], "datatype": "FP64", "data": [-1.0, 0.5, 2.0]}],
        "parameters": parameters,
    }
    if outputs is not None:
        request["outputs"] = outputs
    response = http.post("/v2/models/sigmoid/infer", content=orjson.dumps(request))
    assert response.status_code == 200
    header_length = response.headers.get("inference-header-content-length")
    assert (header_length is not None) == binary
    assert response.headers["content-type"] == ("application/octet-stream" if binary else "application/json")
    result = triton.InferenceServerClient.parse_response_body(
        response.content, header_length=None if header_length is None else int(header_length)
    )
    x = np.array([-1.0, 0.5, 2.0])
    assert_identical(output_array(result, "y"), native(http, "sigmoid", x, "float64"))


@pytest.mark.parametrize("request_compression", [None, "gzip", "deflate"])
@pytest.mark.parametrize("response_compression", [None, "gzip", "deflate"])
def test_compressed_requests_and_responses(
    client: triton.InferenceServerClient,
    http: httpx.Client,
    request_compression: str | None,
    response_compression: str | None,
) -> None:
    x = np.linspace(-4, 4, 4096, dtype=np.float32).reshape(64, 64)
    result = client.infer(
        "gelu",
        [v2_input("x", x)],
        request_compression_algorithm=request_compression,
        response_compression_algorithm=response_compression,
    )
    assert_identical(output_array(result, "y"), native(http, "gelu", x, "float32"))


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_responses_are_compressed_when_accepted(http: httpx.Client, encoding: str) -> None:
    x = np.linspace(-4, 4, 4096, dtype=np.float32)
    body, json_size = triton.InferenceServerClient.generate_request_body([v2_input("x", x)])
    response = http.post(
        "/v2/models/tanh/infer",
        content=body,
        headers={"Inference-Header-Content-Length": str(json_size), "Accept-Encoding": encoding},
    )
    assert response.status_code == 200
    assert response.headers["content-encoding"] == encoding
    assert int(response.headers["content-length"]) < x.nbytes  # compressed on the wire
    result = triton.InferenceServerClient.parse_response_body(
        response.content, header_length=int(response.headers["inference-header-content-length"])
    )
    assert_identical(output_array(result, "y"), native(http, "tanh", x, "float32"))


def test_metadata_and_errors_are_never_compressed(http: httpx.Client) -> None:
    # tritonclient's async client asks for gzip but inflates only inference responses.
    for method, path in [("GET", "/v2/models/relu"), ("GET", "/v2"), ("POST", "/v2/models/relu/infer")]:
        response = http.request(method, path, content=b"{" + b" " * 4096, headers={"Accept-Encoding": "gzip, deflate"})
        assert "content-encoding" not in response.headers
        response.json()


def test_large_binary_request_is_computed(client: triton.InferenceServerClient, http: httpx.Client) -> None:
    # Over the inline threshold: decoded and computed in a worker thread.
    x = np.random.default_rng(1).standard_normal((512, 512)).astype(np.float32)
    result = client.infer("selu", [v2_input("x", x)])
    y = output_array(result, "y")
    assert_identical(y, native(http, "selu", x, "float32"))


@pytest.mark.parametrize("compress", [None, gzip.compress, zlib.compress], ids=["plain", "gzip", "deflate"])
def test_limits_are_413(client: triton.InferenceServerClient, http: httpx.Client, compress: Any) -> None:
    too_many = np.zeros(MAX_ELEMENTS + 1, dtype=np.uint8)
    with pytest.raises(InferenceServerException, match="ACTIVATIONS_MAX_ELEMENTS") as caught:
        client.infer("relu", [v2_input("x", too_many)])
    assert caught.value.status() == "413"
    # A body that inflates past the limit (a gzip bomb) is cut off while inflating.
    raw = b'{"inputs": [' + b" " * (MAX_BODY_BYTES + 1) + b"]}"
    headers = {}
    if compress is not None:
        raw = compress(raw)
        headers["content-encoding"] = "gzip" if compress is gzip.compress else "deflate"
        assert len(raw) < MAX_BODY_BYTES // 100
    response = http.post("/v2/models/relu/infer", content=raw, headers=headers)
    assert response.status_code == 413
    assert "ACTIVATIONS_MAX_BODY_BYTES" in response.json()["error"]
    assert client.is_server_live()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v2",
            {"name": "activation-service", "version": __version__, "extensions": ["binary_tensor_data", "parameters"]},
        ),
        ("/v2/health/live", {"live": True}),
        ("/v2/health/ready", {"ready": True}),
        ("/v2/models/silu/ready", {"name": "swish", "ready": True}),
        ("/v2/models/silu/versions/1/ready", {"name": "swish", "ready": True}),
    ],
)
def test_exactly_the_protocol_routes(http: httpx.Client, path: str, body: dict[str, Any]) -> None:
    response = http.get(path)
    assert response.status_code == 200 and response.json() == body
    assert response.headers["content-type"] == "application/json"
    for versioned in ("/v2/models/silu", "/v2/models/silu/versions/1"):
        metadata = http.get(versioned)
        assert metadata.status_code == 200 and metadata.json()["name"] == "swish"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v2/", 400),
        ("GET", "/v2/health/live/", 400),
        ("GET", "/v2/health/ready/", 400),
        ("GET", "/v2/models/relu/", 400),
        ("GET", "/v2/models/relu/ready/", 400),
        ("GET", "/v2/models/relu/versions/1/", 400),
        ("GET", "/v2/models/relu/versions/1/ready/", 400),
        ("GET", "/v2/models/relu/versions/", 400),
        ("POST", "/v2/models/relu/infer/", 400),
        ("POST", "/v2/models/relu/versions/1/infer/", 400),
        ("POST", "/v2/models//infer", 400),
        ("GET", "/v2/models", 400),
        ("GET", "/v2/models/relu/config", 400),
        ("GET", "/v2/repository/index", 400),
        ("GET", "/v2/models/relu/infer", 405),
        ("POST", "/v2/models/relu", 405),
        ("DELETE", "/v2/health/ready", 405),
        ("POST", "/v2/models/relu/versions/3/infer", 404),
        ("GET", "/v2/models/nope/versions/1/ready", 404),
        ("POST", "/v2/models/relu/versions/01/infer", 404),
    ],
)
def test_route_errors_are_triton_like(http: httpx.Client, method: str, path: str, status: int) -> None:
    response = http.request(method, path, content=b"{}")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"error"}
    assert "location" not in response.headers  # never a slash redirect


def test_malformed_bodies_are_400(http: httpx.Client) -> None:
    for body, headers in [
        (b"", {}),
        (b"{", {}),
        (b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}', {"content-encoding": "gzip"}),
        (b"{}", {"Inference-Header-Content-Length": "3"}),
    ]:
        response = http.post("/v2/models/relu/infer", content=body, headers=headers)
        assert response.status_code == 400, body
        assert set(response.json()) == {"error"}


# --------------------------------------------------------------------------------------------
# The async client (aiohttp: octet-stream bodies, `Accept-Encoding: gzip, deflate` by default)


def test_async_client(server: str, http: httpx.Client) -> None:
    async def scenario() -> None:
        async with triton_aio.InferenceServerClient(server) as aio:
            assert await aio.is_server_live()
            assert await aio.is_server_ready()
            assert (await aio.get_server_metadata())["version"] == __version__
            assert await aio.is_model_ready("Softmax")
            assert [tensor["name"] for tensor in (await aio.get_model_metadata("Softmax"))["inputs"]] == [
                "x",
                "mask",
                "dy",
            ]
            x = np.linspace(-3, 3, 2048, dtype=np.float32).reshape(32, 64)
            mask = np.arange(64) % 3 != 0
            for binary in (True, False):
                result = await aio.infer(
                    "Softmax",
                    [v2_input("x", x, binary), v2_input("mask", mask, binary)],
                    outputs=[triton_aio.InferRequestedOutput("y", binary_data=binary)],
                    parameters={"axis": -1},
                    request_id="async",
                )
                assert result.get_response()["id"] == "async"
                want = native(http, "Softmax", x, "float32", mask=mask.tolist(), axis=-1)
                assert_identical(output_array(result, "y"), want)
            bf16 = np.array([[-1.0, 0.5, 3.0]], dtype=ml_dtypes.bfloat16)
            result = await aio.infer("mish", [v2_input("x", bf16)], request_compression_algorithm="gzip")
            assert_identical(output_array(result, "y"), native(http, "mish", bf16, "bfloat16"))
            with pytest.raises(InferenceServerException, match="Unknown activation") as caught:
                await aio.infer("nope", [v2_input("x", x)])
            assert caught.value.status() == "404"

    asyncio.run(scenario())
