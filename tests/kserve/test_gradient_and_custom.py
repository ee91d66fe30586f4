"""Gradients and custom expressions over KServe v2, with the real tritonclient against a real server.

Every model has the outputs `y` and `dx` and the optional input `dy`; `custom` takes its
expression as a request parameter. Each v2 answer is compared bit for bit with the native
`POST /gradient/{name}`, `/activate/custom` and `/gradient/custom` of the same server.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import httpx
import ml_dtypes
import numpy as np
import orjson
import pytest
import tritonclient.http as triton
import tritonclient.http.aio as triton_aio
from tritonclient.utils import InferenceServerException

from app.numerics import REGISTRY, ActivationSpec
from app.numerics.expressions import MAX_DEPTH, MAX_LENGTH
from tests.kserve.clients import DTYPES, assert_identical, native, native_gradient, output_array, v2_input

pytestmark = pytest.mark.e2e

ENCODINGS = [(name, binary) for name in DTYPES for binary in (True, False) if binary or name != "bfloat16"]
ENCODING_IDS = [f"{name}-{'binary' if binary else 'json'}" for name, binary in ENCODINGS]
REQUIRED = {"threshold": 0.25, "default_value": -2.0}
SPECS = list(REGISTRY)
X = np.array([[-2.5, -0.75, -0.0, 0.3], [1.0, math.nan, math.inf, -math.inf]])
# An upstream gradient with a zero, a sign change and values that round differently per dtype.
DY = np.array([[0.5, -2.0, 3.1, 0.0], [1.25, -0.7, 2.0, 1e-3]])


def _required(spec: ActivationSpec) -> dict[str, Any]:
    return {param.name: REQUIRED[param.name] for param in spec.params if param.required}


def _dy_for(spec: ActivationSpec) -> np.ndarray:
    """An upstream gradient of the shape of the activation's result (glu halves its last axis)."""
    return DY[:, :2] if spec.name == "glu" else DY


def _error(call: Any) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as caught:
        call()
    return caught.value


# --------------------------------------------------------------------------------------------
# Gradients of every model


@pytest.mark.parametrize(("dtype", "binary"), ENCODINGS, ids=ENCODING_IDS)
@pytest.mark.parametrize("spec", SPECS, ids=[spec.name for spec in SPECS])
def test_dx_matches_the_native_gradient(
    client: triton.InferenceServerClient, http: httpx.Client, spec: ActivationSpec, dtype: str, binary: bool
) -> None:
    x = X.astype(DTYPES[dtype])
    dy = _dy_for(spec).astype(DTYPES[dtype])
    params = _required(spec)
    result = client.infer(
        spec.name,
        [v2_input("x", x, binary), v2_input("dy", dy, binary)],
        outputs=[triton.InferRequestedOutput("dx", binary_data=binary)],
        parameters=params or None,
        request_id=f"{spec.name}-grad",
    )
    response = result.get_response()
    assert response["id"] == f"{spec.name}-grad" and response["model_name"] == spec.name
    assert [output["name"] for output in response["outputs"]] == ["dx"]
    assert result.get_output("dx")["datatype"] == {"float16": "FP16", "bfloat16": "BF16"}.get(
        dtype, "FP32" if dtype == "float32" else "FP64"
    )
    assert_identical(output_array(result, "dx"), native_gradient(http, spec.name, x, dy, dtype, **params))


@pytest.mark.parametrize("spec", SPECS, ids=[spec.name for spec in SPECS])
def test_gradient_parameter_gives_dx_with_dy_ones(
    client: triton.InferenceServerClient, http: httpx.Client, spec: ActivationSpec
) -> None:
    x = X.astype(np.float32)
    params = _required(spec)
    result = client.infer(spec.name, [v2_input("x", x)], parameters={"gradient": True, **params})
    assert [output["name"] for output in result.get_response()["outputs"]] == ["dx"]
    assert output_array(result, "dx").shape == x.shape  # glu too: dx has the shape of x
    assert_identical(output_array(result, "dx"), native_gradient(http, spec.name, x, None, "float32", **params))


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_y_and_dx_in_one_request(client: triton.InferenceServerClient, http: httpx.Client, binary: bool) -> None:
    x = np.array([[-2.0, -0.5, 0.25, 3.0], [0.75, -1.25, 2.5, 0.0]], dtype=np.float64)
    dy = np.array([2.0, -1.0, 0.5, 3.0])  # broadcast over the rows, as on /gradient
    result = client.infer(
        "gelu",
        [v2_input("x", x, binary), v2_input("dy", dy, binary)],
        outputs=[triton.InferRequestedOutput("y", binary_data=binary), triton.InferRequestedOutput("dx")],
        parameters={"approximate": True},
    )
    assert [output["name"] for output in result.get_response()["outputs"]] == ["y", "dx"]
    assert_identical(output_array(result, "y"), native(http, "gelu", x, "float64", approximate=True))
    want = native_gradient(http, "gelu", x, np.broadcast_to(dy, x.shape), "float64", approximate=True)
    assert_identical(output_array(result, "dx"), want)


@pytest.mark.parametrize(
    ("name", "tensor", "value", "params"),
    [
        ("PReLU", "alpha", np.array([0.5, -0.25, 2.0, 0.125], dtype=np.float32), {}),
        ("Softmax", "mask", np.array([[True, False, True, True], [False, True, True, False]]), {"axis": -1}),
        ("Softmax", "mask", np.array([[1, 0, 1, 1]], dtype=np.int8), {"axis": 0}),
    ],
)
def test_tensor_parameters_with_dy_use_three_inputs(
    client: triton.InferenceServerClient,
    http: httpx.Client,
    name: str,
    tensor: str,
    value: np.ndarray,
    params: dict[str, Any],
) -> None:
    x = np.array([[-2.0, -0.5, 0.25, 3.0], [0.75, -1.25, 2.5, 0.0]], dtype=np.float32)
    dy = DY.astype(np.float32)
    result = client.infer(
        name,
        [v2_input("x", x), v2_input(tensor, value), v2_input("dy", dy)],
        parameters={"gradient": True, **params},
    )
    want = native_gradient(http, name, x, dy, "float32", **{tensor: value.tolist()}, **params)
    assert_identical(output_array(result, "dx"), want)


@pytest.mark.parametrize(
    ("dy", "dtype"),
    [
        (np.array([[1, -2, 0, 3], [4, 5, -6, 7]], dtype=np.int32), "float32"),
        (DY.astype(ml_dtypes.bfloat16), "float32"),
        (DY, "float16"),  # FP64 dy, FP16 x: rounded once to float16
    ],
    ids=["int32", "bf16", "fp64-into-fp16"],
)
def test_dy_of_another_datatype_is_rounded_to_the_result_dtype(
    client: triton.InferenceServerClient, http: httpx.Client, dy: np.ndarray, dtype: str
) -> None:
    x = X.astype(DTYPES[dtype])
    result = client.infer("swish", [v2_input("x", x), v2_input("dy", dy)], parameters={"gradient": True})
    rounded = dy.astype(np.float64).astype(DTYPES[dtype])
    assert_identical(output_array(result, "dx"), native_gradient(http, "swish", x, rounded, dtype))


def test_hand_written_json_gradient_request(http: httpx.Client) -> None:
    # What curl sends: no Content-Type, nested data, bare NaN, the gradient parameter.
    body = (
        b'{"id": "g", "parameters": {"gradient": true, "alpha": 0.1},'
        b' "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [[-1.5, 0, 2, NaN]]},'
        b' {"name": "dy", "shape": [1], "datatype": "FP32", "data": [3]}]}'
    )
    response = http.post("/v2/models/relu/infer", content=body)
    assert response.status_code == 200, response.text
    assert response.headers["x-shape"] == "1,4" and response.headers["x-dtype"] == "float32"
    assert response.content == (
        b'{"model_name":"relu","model_version":"1","id":"g","outputs":'
        b'[{"name":"dx","datatype":"FP32","shape":[1,4],"data":[0.3,0.3,3.0,NaN]}]}'
    )


@pytest.mark.parametrize(
    ("name", "inputs", "kwargs", "fragment"),
    [
        ("relu", {"dy": np.ones((2, 2), np.float32)}, {}, "'dy' is the upstream gradient of the output 'dx'"),
        ("relu", {"dy": np.ones((3, 2), np.float32)}, {"parameters": {"gradient": True}}, "does not broadcast"),
        # glu's result, and so dy, has half the last axis of x: dy of the shape of x is refused.
        ("glu", {"dy": np.ones((2, 4), np.float32)}, {"parameters": {"gradient": True}}, "does not broadcast"),
        ("relu", {"dy": np.ones((2, 2), bool)}, {"parameters": {"gradient": True}}, "'dy' must be numeric"),
        ("relu", {}, {"parameters": {"gradient": "yes"}}, "'gradient' must be true or false"),
        ("relu", {}, {"parameters": {"gradient": 1}}, "'gradient' must be true or false"),
        (
            "relu",
            {},
            {"parameters": {"gradient": True}, "outputs": [triton.InferRequestedOutput("y")]},
            "'gradient' is true, but 'outputs' lists 'y'",
        ),
        (
            "relu",
            {},
            {"parameters": {"gradient": False}, "outputs": [triton.InferRequestedOutput("dx")]},
            "'gradient' is false, but 'outputs' lists 'dx'",
        ),
        ("relu", {}, {"outputs": [triton.InferRequestedOutput("dy")]}, "no output 'dy'"),
        ("relu", {"dx": np.ones((2, 2), np.float32)}, {}, "has no input 'dx'"),
        ("relu", {}, {"parameters": {"expression": "x"}}, "'relu' has no parameter 'expression'"),
        ("softmax", {}, {"parameters": {"gradient": True}}, "Cannot apply softmax to a tensor that is 1D"),
    ],
)
def test_gradient_request_errors_are_400(
    client: triton.InferenceServerClient,
    name: str,
    inputs: dict[str, np.ndarray],
    kwargs: dict[str, Any],
    fragment: str,
) -> None:
    x = np.ones(3 if name == "softmax" else (2, 4), dtype=np.float32)
    tensors = [v2_input("x", x), *(v2_input(key, value) for key, value in inputs.items())]
    error = _error(lambda: client.infer(name, tensors, **kwargs))
    assert error.status() == "400"
    assert fragment in str(error.message())


def test_bf16_dx_has_no_json_form(client: triton.InferenceServerClient) -> None:
    x = np.ones(3, dtype=ml_dtypes.bfloat16)
    outputs = [triton.InferRequestedOutput("y"), triton.InferRequestedOutput("dx", binary_data=False)]
    error = _error(lambda: client.infer("relu", [v2_input("x", x)], outputs=outputs))
    assert error.status() == "400" and "BF16 output has no JSON form" in str(error.message())


def test_gradient_limits_are_the_native_ones(client: triton.InferenceServerClient) -> None:
    from tests.kserve.clients import MAX_ELEMENTS

    x = np.zeros(4, dtype=np.float32)
    dy = np.zeros(MAX_ELEMENTS + 1, dtype=np.uint8)
    error = _error(lambda: client.infer("relu", [v2_input("x", x), v2_input("dy", dy)], parameters={"gradient": True}))
    assert error.status() == "413" and "ACTIVATIONS_MAX_ELEMENTS" in str(error.message())


# --------------------------------------------------------------------------------------------
# The custom model


EXPRESSIONS = [
    "x * sigmoid(1.702 * x)",
    "where(x > 0, x, 0.1 * x)",
    "relu(x, alpha=0.1, max_value=2) + softplus(x) ** 2",
    "clip(x, -1, 1) * exp(-abs(x))",
    "gelu(x, approximate=true) - tanh(x) / 3",
    "maximum(x, 0.5) * minimum(x, 2) + erf(x) + log1p(abs(x))",
]


def test_custom_is_a_ready_model_with_its_grammar(client: triton.InferenceServerClient) -> None:
    assert client.is_model_ready("custom") and client.is_model_ready("custom", "1")
    assert not client.is_model_ready("custom", "2")
    metadata = client.get_model_metadata("custom")
    assert metadata["name"] == "custom" and metadata["versions"] == ["1"]
    assert [tensor["name"] for tensor in metadata["inputs"]] == ["x", "dy"]
    assert [tensor["name"] for tensor in metadata["outputs"]] == ["y", "dx"]
    (expression,) = metadata["activation_parameters"]
    assert expression["name"] == "expression" and expression["required"] and expression["type"] == "string"
    assert "where(condition, expression, expression)" in metadata["formula"]
    assert [param["name"] for param in metadata["request_parameters"]] == ["gradient"]


@pytest.mark.parametrize(("dtype", "binary"), ENCODINGS, ids=ENCODING_IDS)
@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_custom_y_and_dx_match_the_native_endpoints(
    client: triton.InferenceServerClient, http: httpx.Client, expression: str, dtype: str, binary: bool
) -> None:
    x = X.astype(DTYPES[dtype])
    dy = DY.astype(DTYPES[dtype])
    result = client.infer(
        "custom",
        [v2_input("x", x, binary), v2_input("dy", dy, binary)],
        outputs=[triton.InferRequestedOutput("y", binary_data=binary), triton.InferRequestedOutput("dx")],
        parameters={"expression": expression},
    )
    assert result.get_response()["model_name"] == "custom"
    assert_identical(output_array(result, "y"), native(http, "custom", x, dtype, expression=expression))
    want = native_gradient(http, "custom", x, dy, dtype, expression=expression)
    assert_identical(output_array(result, "dx"), want)


@pytest.mark.parametrize(
    ("expression", "builtin"),
    [("relu(x)", "relu"), ("x * sigmoid(x)", "swish"), ("silu(x)", "swish"), ("tanh(x)", "tanh")],
)
def test_custom_equals_the_builtin_model(client: triton.InferenceServerClient, expression: str, builtin: str) -> None:
    # Finite x: the arithmetic of an expression meets inf * 0 where a built-in takes the limit.
    x = np.linspace(-6, 6, 97, dtype=np.float32)
    for gradient in (False, True):
        parameters = {"gradient": gradient}
        name = "dx" if gradient else "y"
        custom = client.infer("custom", [v2_input("x", x)], parameters={"expression": expression, **parameters})
        model = client.infer(builtin, [v2_input("x", x)], parameters=parameters)
        assert_identical(output_array(custom, name), output_array(model, name))


@pytest.mark.parametrize(
    ("expression", "fragment", "column"),
    [
        ("x.__class__", "'__class__' is not allowed (no attribute access)", 3),
        ("x + foo", "name 'foo' is not allowed", 5),
        ("__import__('os')", '"\'" is not allowed', 12),
        ("exp(x) + eval(x)", "function 'eval' is not allowed", 10),
        ("x * ", "the expression ends with '*'", 3),
        ("(" * 100 + "x" + ")" * 100, f"nested more than {MAX_DEPTH} deep", MAX_DEPTH + 1),
        ("(" * 10_000 + "x" + ")" * 10_000, f"more than {MAX_LENGTH}", MAX_LENGTH + 1),
        ("x + " * 1000 + "x", f"more than {MAX_LENGTH}", MAX_LENGTH + 1),
        ("relu(x, alpha=x)", "must be a number literal", 15),
    ],
    ids=["dunder", "unknown-name", "quote", "eval", "trailing-operator", "deep", "10k-deep", "long", "keyword"],
)
def test_expression_errors_are_400_with_the_column(
    client: triton.InferenceServerClient, expression: str, fragment: str, column: int
) -> None:
    x = v2_input("x", np.ones(2, np.float32))
    for parameters in ({"expression": expression}, {"expression": expression, "gradient": True}):
        started = time.monotonic()
        error = _error(lambda parameters=parameters: client.infer("custom", [x], parameters=parameters))
        assert time.monotonic() - started < 10  # a hang guard, not a speed requirement
        assert error.status() == "400"
        message = str(error.message())
        assert fragment in message and f"(column {column})" in message, message


@pytest.mark.parametrize(
    ("parameters", "fragment"),
    [
        ({}, "'custom' requires the parameter 'expression'"),
        ({"expression": 3}, "'expression' must be a string"),
        ({"expression": "x", "alpha": 0.1}, "'custom' has no parameter 'alpha'"),
    ],
)
def test_custom_parameter_errors_are_400(
    client: triton.InferenceServerClient, parameters: dict[str, Any], fragment: str
) -> None:
    error = _error(lambda: client.infer("custom", [v2_input("x", np.ones(2, np.float32))], parameters=parameters))
    assert error.status() == "400" and fragment in str(error.message())


def test_custom_over_hand_written_json(http: httpx.Client) -> None:
    body = {
        "parameters": {"expression": "where(x > 0, x, 0)", "gradient": True},
        "inputs": [{"name": "x", "shape": [3], "datatype": "FP64", "data": [-1.0, 0.0, 2.0]}],
    }
    response = http.post("/v2/models/custom/infer", content=orjson.dumps(body))
    assert response.status_code == 200, response.text
    assert response.json()["outputs"] == [{"name": "dx", "datatype": "FP64", "shape": [3], "data": [0.0, 0.0, 1.0]}]
    assert http.get("/v2/models/custom/versions/1/ready").json() == {"name": "custom", "ready": True}


# --------------------------------------------------------------------------------------------
# The async client


def test_async_client_gradient_and_custom(server: str, http: httpx.Client) -> None:
    async def scenario() -> None:
        async with triton_aio.InferenceServerClient(server) as aio:
            metadata = await aio.get_model_metadata("custom")
            assert [tensor["name"] for tensor in metadata["outputs"]] == ["y", "dx"]
            x = np.linspace(-3, 3, 2048, dtype=np.float32).reshape(32, 64)
            dy = np.cos(x)
            for binary in (True, False):
                result = await aio.infer(
                    "log_softmax",
                    [v2_input("x", x, binary), v2_input("dy", dy, binary)],
                    parameters={"gradient": True, "axis": 0},
                    request_compression_algorithm="gzip",
                    response_compression_algorithm="deflate",
                )
                want = native_gradient(http, "log_softmax", x, dy, "float32", axis=0)
                assert_identical(output_array(result, "dx"), want)
            expression = "x * tanh(softplus(x))"
            result = await aio.infer(
                "custom",
                [v2_input("x", x), v2_input("dy", dy)],
                outputs=[triton_aio.InferRequestedOutput("y"), triton_aio.InferRequestedOutput("dx")],
                parameters={"expression": expression},
            )
            assert_identical(output_array(result, "y"), native(http, "custom", x, "float32", expression=expression))
            want = native_gradient(http, "custom", x, dy, "float32", expression=expression)
            assert_identical(output_array(result, "dx"), want)
            with pytest.raises(InferenceServerException, match=r"column 3\)") as caught:
                await aio.infer("custom", [v2_input("x", x)], parameters={"expression": "x.real"})
            assert caught.value.status() == "400"

    asyncio.run(scenario())
