"""POST /activate/{name}: the happy paths a user sees, JSON and npy."""

from __future__ import annotations

import gzip
import io
import math

import numpy as np
import orjson
import pytest
from starlette.testclient import TestClient

from app.numerics import REGISTRY

NPY = "application/x-npy"


def post_json(client: TestClient, name: str, body: object, **headers: str) -> object:
    return client.post(
        f"/activate/{name}", content=orjson.dumps(body), headers={"content-type": "application/json", **headers}
    )


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def test_readme_example(client: TestClient) -> None:
    response = post_json(client, "relu", {"x": [[-1.5, 0.0, 2.0]], "alpha": 0.1, "dtype": "float32"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "activation": "relu",
        "params": {"alpha": 0.1, "max_value": None, "threshold": 0.0},
        "dtype": "float32",
        "shape": [1, 3],
        "y": [[-0.15, 0.0, 2.0]],
    }
    assert response.headers["x-shape"] == "1,3"
    assert response.headers["x-dtype"] == "float32"


def test_shortest_float_form_for_the_dtype(client: TestClient) -> None:
    response = post_json(client, "linear", {"x": [0.1, 1e-45, 3.4028234663852886e38]})
    assert b'"y":[0.1,1e-45,3.4028235e+38]' in response.content.replace(b"3.4028235e38", b"3.4028235e+38")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_dtype_is_echoed_and_kept(client: TestClient, dtype: str) -> None:
    response = post_json(client, "linear", {"x": [0.1, -2.5], "dtype": dtype})
    assert response.status_code == 200
    assert response.json()["dtype"] == dtype
    assert response.headers["x-dtype"] == dtype
    assert response.json()["y"] == [0.1, -2.5]


def test_alias_answers_with_canonical_name(client: TestClient) -> None:
    response = post_json(client, "silu", {"x": [1.0]})
    assert response.status_code == 200
    assert response.json()["activation"] == "swish"


def test_scalar_and_empty_tensors(client: TestClient) -> None:
    scalar = post_json(client, "relu", {"x": -3})
    assert scalar.status_code == 200
    assert scalar.json()["shape"] == [] and scalar.json()["y"] == 0.0
    assert scalar.headers["x-shape"] == ""
    empty = post_json(client, "softmax", {"x": [[], []]})
    assert empty.status_code == 200
    assert empty.json()["shape"] == [2, 0] and empty.json()["y"] == [[], []]


def test_non_finite_in_and_out(client: TestClient) -> None:
    body = b'{"x": [NaN, Infinity, -Infinity, "nan", "-inf", "INFINITY", 1e400]}'
    response = client.post("/activate/linear", content=body)
    assert response.status_code == 200
    assert response.json()["y"] == ["NaN", "Infinity", "-Infinity", "NaN", "-Infinity", "Infinity", "Infinity"]
    orjson.loads(response.content)  # strict JSON: no bare NaN tokens


def test_request_without_content_type_is_json(client: TestClient) -> None:
    response = client.post("/activate/relu", content=b'{"x": [-1, 2]}')
    assert response.status_code == 200
    assert response.json()["y"] == [0.0, 2.0]


def test_softmax_axis_list_is_echoed(client: TestClient) -> None:
    x = np.arange(12, dtype=np.float64).reshape(2, 2, 3) / 7
    response = post_json(client, "softmax", {"x": x.tolist(), "axis": [1, -1], "dtype": "float64"})
    assert response.status_code == 200
    assert response.json()["params"] == {"axis": [1, -1]}
    y = np.array(response.json()["y"])
    expected = np.exp(x) / np.exp(x).sum(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(y, expected, rtol=1e-14)


def test_npy_in_npy_out_is_bit_identical_to_json(client: TestClient) -> None:
    x = np.linspace(-5, 5, 24, dtype=np.float32).reshape(2, 3, 4)
    as_json = post_json(client, "gelu", {"x": x.tolist(), "approximate": True})
    as_npy = client.post(
        "/activate/gelu?approximate=true", content=npy_bytes(x), headers={"content-type": NPY, "accept": NPY}
    )
    assert as_npy.status_code == 200
    assert as_npy.headers["content-type"] == NPY
    assert as_npy.headers["x-shape"] == "2,3,4" and as_npy.headers["x-dtype"] == "float32"
    y = np.load(io.BytesIO(as_npy.content), allow_pickle=False)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, np.array(as_json.json()["y"], dtype=np.float32))


def test_npy_query_parameters(client: TestClient) -> None:
    x = np.arange(8, dtype=np.float64).reshape(2, 4)
    response = client.post(
        "/activate/Softmax?axis=-1&mask=[[1,0,1,0]]", content=npy_bytes(x), headers={"content-type": NPY}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["dtype"] == "float64"
    assert body["params"] == {"axis": -1, "mask": [[1, 0, 1, 0]]}
    assert body["y"][0][1] == 0.0 and math.isclose(body["y"][0][2], 1 / (1 + math.exp(-2)), rel_tol=1e-15)


def test_npy_integers_become_float32(client: TestClient) -> None:
    response = client.post(
        "/activate/relu", content=npy_bytes(np.array([-2, 3], dtype=np.int64)), headers={"content-type": NPY}
    )
    assert response.status_code == 200
    assert response.json()["dtype"] == "float32" and response.json()["y"] == [0.0, 3.0]


def test_json_in_npy_out(client: TestClient) -> None:
    response = post_json(client, "relu", {"x": [[-1.0, 2.0]], "dtype": "float64"}, accept=NPY)
    assert response.status_code == 200
    y = np.load(io.BytesIO(response.content), allow_pickle=False)
    assert y.dtype == np.float64 and y.tolist() == [[0.0, 2.0]]


def test_gzip_request_and_response(client: TestClient) -> None:
    body = gzip.compress(orjson.dumps({"x": list(range(-500, 500))}))
    response = client.post(
        "/activate/relu", content=body, headers={"content-encoding": "gzip", "accept-encoding": "gzip"}
    )
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.json()["y"][-1] == 499.0


@pytest.mark.parametrize("spec", list(REGISTRY), ids=lambda spec: spec.name)
def test_every_activation_answers(client: TestClient, spec: object) -> None:
    """Each catalogue entry serves a 2x4 request with its defaults (required params filled in)."""
    name = spec.name  # type: ignore[attr-defined]
    body: dict[str, object] = {"x": [[-2.0, -0.5, 0.5, 2.0], [0.0, 1.0, -1.0, 3.0]]}
    if name == "threshold":
        body.update(threshold=0.5, default_value=-1.0)
    response = post_json(client, name, body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["activation"] == name
    assert payload["shape"] == ([2, 2] if name == "glu" else [2, 4])
    assert set(payload["params"]) == {param.name for param in spec.params}  # type: ignore[attr-defined]


# --- custom expressions -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize(
    ("expression", "builtin", "params"),
    [
        ("relu(x)", "relu", {}),
        ("x * sigmoid(x)", "swish", {}),
        ("relu(x, alpha=0.1, max_value=6)", "relu", {"alpha": 0.1, "max_value": 6}),
        ("where(x > 0, x, 0.3 * x)", "LeakyReLU", {}),
    ],
)
def test_custom_expressions_equal_the_builtins(
    client: TestClient, expression: str, builtin: str, params: dict[str, object], dtype: str
) -> None:
    x = [[-3.5, -1.0, -0.25, 0.0, 0.5, 2.0, 7.0, 1e3]]
    custom = client.post("/activate/custom", json={"x": x, "expression": expression, "dtype": dtype})
    assert custom.status_code == 200, custom.text
    reference = client.post(f"/activate/{builtin}", json={"x": x, "dtype": dtype, **params})
    body = custom.json()
    assert (body["activation"], body["params"]) == ("custom", {"expression": expression})
    assert body["y"] == reference.json()["y"]
    assert custom.headers["x-shape"] == "1,8"


def test_custom_over_npy_takes_the_expression_from_the_query(client: TestClient) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([-2.0, 3.0], dtype=np.float32))
    response = client.post(
        "/activate/custom",
        params={"expression": '"maximum(x, 0) * 2"'},
        content=buffer.getvalue(),
        headers={"content-type": "application/x-npy", "accept": "application/x-npy"},
    )
    assert response.status_code == 200, response.text
    assert np.load(io.BytesIO(response.content)).tolist() == [0.0, 6.0]


@pytest.mark.parametrize(
    ("body", "loc", "needle"),
    [
        ({"x": [1.0]}, ["body", "expression"], "requires the parameter 'expression'"),
        ({"x": [1.0], "expression": 3}, ["body", "expression"], "must be a string"),
        ({"x": [1.0], "expression": "x.__class__"}, ["body", "expression"], "column"),
        ({"x": [1.0], "expression": "x", "alpha": 1}, ["body", "alpha"], "no parameter 'alpha'"),
    ],
)
def test_custom_errors_name_the_parameter(
    client: TestClient, body: dict[str, object], loc: list[object], needle: str
) -> None:
    response = client.post("/activate/custom", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["loc"] == loc
    assert needle in problem["detail"]
