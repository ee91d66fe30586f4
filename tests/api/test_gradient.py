"""POST /gradient/{name}: dx over JSON and npy, dy, custom expressions, and the errors a user sees."""

from __future__ import annotations

import io

import httpx
import numpy as np
import orjson
import pytest
from starlette.testclient import TestClient

from app.numerics import REGISTRY

NPY = "application/x-npy"


def post_json(client: TestClient, name: str, body: object, **headers: str) -> object:
    return client.post(
        f"/gradient/{name}", content=orjson.dumps(body), headers={"content-type": "application/json", **headers}
    )


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def test_relu_gradient_with_dy(client: TestClient) -> None:
    response = post_json(client, "relu", {"x": [[-1.5, 0.0, 2.0]], "dy": [[3.0, 4.0, 5.0]], "alpha": 0.1})
    assert response.status_code == 200
    assert response.json() == {
        "activation": "relu",
        "params": {"alpha": 0.1, "max_value": None, "threshold": 0.0},
        "dtype": "float32",
        "shape": [1, 3],
        "dx": [[0.3, 0.4, 5.0]],  # tf.keras runs relu with only alpha as leaky_relu: alpha at 0
    }
    assert response.headers["x-shape"] == "1,3" and response.headers["x-dtype"] == "float32"


def test_dy_defaults_to_ones_and_broadcasts(client: TestClient) -> None:
    ones = post_json(client, "sigmoid", {"x": [0.0, 0.0]}).json()
    assert ones["dx"] == [0.25, 0.25]
    scaled = post_json(client, "sigmoid", {"x": [0.0, 0.0], "dy": 2}).json()
    assert scaled["dx"] == [0.5, 0.5]


def test_glu_dy_has_the_result_shape_and_dx_the_input_shape(client: TestClient) -> None:
    response = post_json(client, "glu", {"x": [[1.0, 2.0, 0.0, 0.0]], "dy": [[1.0, 1.0]]})
    assert response.status_code == 200
    assert response.json()["shape"] == [1, 4]
    assert response.json()["dx"] == [[0.5, 0.5, 0.25, 0.5]]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_dtype_is_kept(client: TestClient, dtype: str) -> None:
    response = post_json(client, "tanh", {"x": [0.0, 1.0], "dtype": dtype})
    assert response.status_code == 200 and response.json()["dtype"] == dtype
    assert response.json()["dx"][0] == 1.0


def test_alias_and_every_activation_answer(client: TestClient) -> None:
    assert post_json(client, "silu", {"x": [0.0]}).json()["activation"] == "swish"
    for spec in REGISTRY:
        body: dict[str, object] = {"x": [[0.5, -1.0]]}
        if spec.name == "threshold":
            body.update(threshold=0.0, default_value=1.0)
        response = post_json(client, spec.name, body)
        assert response.status_code == 200, (spec.name, response.text)
        assert response.json()["shape"] == [1, 2]


def test_npy_in_and_out_with_dy_in_the_query(client: TestClient) -> None:
    x = np.asarray([[-1.0, 0.5], [2.0, -3.0]], dtype=np.float32)
    response = client.post(
        "/gradient/relu?dy=[2,3]", content=npy_bytes(x), headers={"content-type": NPY, "accept": NPY}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == NPY
    dx = np.load(io.BytesIO(response.content), allow_pickle=False)
    assert dx.dtype == np.float32 and dx.tolist() == [[0.0, 3.0], [2.0, 0.0]]


def test_custom_expression(client: TestClient) -> None:
    response = post_json(client, "custom", {"x": [0.0, 1.0], "expression": "x * x + where(x > 0, 3 * x, 0)"})
    assert response.status_code == 200
    assert response.json()["activation"] == "custom"
    assert response.json()["params"] == {"expression": "x * x + where(x > 0, 3 * x, 0)"}
    assert response.json()["dx"] == [0.0, 5.0]


@pytest.mark.parametrize(
    ("name", "body", "status", "loc"),
    [
        ("relu", {"x": [1.0, 2.0], "dy": [1.0, 2.0, 3.0]}, 422, ["body", "dy"]),
        ("relu", {"x": [1.0, 2.0], "dy": [1.0, "a"]}, 422, ["body", "dy", 1]),
        ("relu", {"x": [1.0, 2.0], "dy": [True, 1.0]}, 422, ["body", "dy", 0]),
        ("relu", {"dy": [1.0]}, 422, ["body", "x"]),
        ("softmax", {"x": [1.0, 2.0]}, 422, ["body", "x"]),
        ("nope", {"x": [1.0]}, 404, None),
        ("custom", {"x": [1.0], "expression": "x.__class__"}, 422, ["body", "expression"]),
        ("custom", {"x": [1.0], "expression": "(" * 5000 + "x" + ")" * 5000}, 422, ["body", "expression"]),
        ("custom", {"x": [1.0]}, 422, ["body", "expression"]),
        ("custom", {"x": [1.0], "expression": 3}, 422, ["body", "expression"]),
        ("custom", {"x": [1.0], "expression": "x", "alpha": 1}, 422, ["body", "alpha"]),
    ],
)
def test_errors(client: TestClient, name: str, body: object, status: int, loc: list[object] | None) -> None:
    response = post_json(client, name, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if loc is not None:
        assert response.json()["errors"][0]["loc"] == loc


def test_expression_error_names_the_column(client: TestClient) -> None:
    response = post_json(client, "custom", {"x": [1.0], "expression": "x + y"})
    assert response.status_code == 422
    assert "(column 5)" in response.json()["detail"]


def test_npy_dy_error_is_located_in_the_query(client: TestClient) -> None:
    x = np.zeros((2, 2), dtype=np.float32)
    response = client.post("/gradient/relu?dy=[1,2,3]", content=npy_bytes(x), headers={"content-type": NPY})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "dy"]


def test_wrong_method_is_405(client: TestClient) -> None:
    response = client.get("/gradient/relu")
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]


@pytest.mark.e2e
def test_gradient_over_the_wire(live_server: str) -> None:
    """A real server differentiates, refuses a hostile expression with a 422, and keeps answering."""
    with httpx.Client(base_url=live_server, timeout=10) as http:
        response = http.post("/gradient/swish", json={"x": [[0.0, 1.0]], "dy": [[2.0, 0.0]]})
        assert response.status_code == 200 and response.json()["dx"] == [[1.0, 0.0]]
        hostile = "(" * 10_000 + "x.__class__" + ")" * 10_000
        refused = http.post("/gradient/custom", json={"x": [1.0], "expression": hostile})
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        assert http.get("/healthz").json()["status"] == "ok"
