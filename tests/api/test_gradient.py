"""POST /gradient/{name}: dx over JSON and npy, dy, custom expressions, and the errors a user sees.

The endpoint has the dtypes, limits, errors and npy support of /activate: every hostile request of
tests/api/test_hostile.py is replayed here, and the limits are checked for dy as well as x.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import time
import zlib
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from starlette.testclient import TestClient

from app.numerics import DTYPES, REGISTRY
from tests.api.test_hostile import PROBLEM_TABLES, Case, assert_problem, send
from tests.numerics.test_expressions import HOSTILE

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


# --- the same dtypes, limits, errors and npy support as /activate ---------------------------------

# Every hostile request of the /activate tables, sent to /gradient instead, gets the same problem:
# one decoder, one set of limits, one error mapping behind both endpoints.
SAME_AS_ACTIVATE = [
    (family, dataclasses.replace(case, path="/gradient/" + case.path.removeprefix("/activate/")))
    for family, cases in PROBLEM_TABLES.items()
    for case in cases
    if case.path.startswith("/activate/")
]


def test_every_hostile_activate_case_is_replayed() -> None:
    assert len(SAME_AS_ACTIVATE) > 500  # the tables of test_hostile, not an empty selection


@pytest.mark.parametrize(("family", "case"), SAME_AS_ACTIVATE, ids=[f"{f}:{c.id}" for f, c in SAME_AS_ACTIVATE])
def test_hostile_request_gets_the_problem_activate_gives(client: TestClient, family: str, case: Case) -> None:
    assert_problem(client, send(client, case), case)


def _tensor(rows: int, cols: int) -> list[list[float]]:
    return [[0.5] * cols for _ in range(rows)]


def test_element_limit_is_exact_for_x_and_dy(make_client: Any) -> None:
    small = make_client(max_elements=6)
    assert post_json(small, "relu", {"x": _tensor(2, 3), "dy": _tensor(2, 3)}).status_code == 200
    x = npy_bytes(np.ones((2, 3), np.float32))
    assert small.post("/gradient/relu?dy=[1,2,3]", content=x, headers={"content-type": NPY}).status_code == 200
    over = [
        Case("x 2x4", orjson.dumps({"x": _tensor(2, 4)}), 413, "payload-too-large", path="/gradient/relu"),
        Case(
            "dy 7",
            orjson.dumps({"x": _tensor(1, 1), "dy": [1.0] * 7}),
            413,
            "payload-too-large",
            path="/gradient/relu",
            detail="'dy'",
        ),
        Case(
            "gzip dy 3x3",
            gzip.compress(orjson.dumps({"x": [0.5], "dy": _tensor(3, 3)})),
            413,
            "payload-too-large",
            path="/gradient/relu",
            headers={"content-encoding": "gzip"},
        ),
        Case(
            "npy x 7",
            npy_bytes(np.ones(7, np.float32)),
            413,
            "payload-too-large",
            path="/gradient/relu",
            headers={"content-type": NPY},
        ),
        Case(
            "query dy 7",
            npy_bytes(np.ones(1, np.float32)),
            413,
            "payload-too-large",
            path="/gradient/relu",
            headers={"content-type": NPY},
            params=[("dy", "[1,1,1,1,1,1,1]")],
        ),
    ]
    for case in over:
        assert_problem(small, send(small, case), case)


def test_rank_limit_applies_to_dy(make_client: Any) -> None:
    small = make_client(max_rank=3)
    deep = [[[[1.0]]]]
    assert post_json(small, "relu", {"x": [[[1.0]]], "dy": [[[2.0]]]}).json()["dx"] == [[[2.0]]]
    for case in [
        Case("dy rank 4", orjson.dumps({"x": [[[1.0]]], "dy": deep}), 422, "invalid-tensor", path="/gradient/relu"),
        Case(
            "query dy rank 4",
            npy_bytes(np.ones((1, 1, 1), np.float32)),
            422,
            "invalid-tensor",
            path="/gradient/relu",
            headers={"content-type": NPY},
            params=[("dy", "[[[[1]]]]")],
            loc=["query", "dy"],
            loc_prefix=True,
        ),
    ]:
        assert_problem(small, send(small, case), case)


def test_body_byte_limit_applies_after_decompression(make_client: Any) -> None:
    limit = 256
    small = make_client(max_body_bytes=limit)
    exact = b'{"x": [1, -2], "dy": [3, 4]' + b" " * (limit - 28) + b"}"
    assert len(exact) == limit
    response = small.post("/gradient/relu", content=gzip.compress(exact), headers={"content-encoding": "gzip"})
    assert response.status_code == 200 and response.json()["dx"] == [3.0, 0.0]
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb_body = bomb.compress(b'{"x": [1], "dy": [' + b"0," * 5_000_000) + bomb.flush()
    for case in [
        Case("one byte over", exact[:-1] + b" }", 413, "payload-too-large", path="/gradient/relu"),
        Case(
            "gzip bomb",
            bomb_body,
            413,
            "payload-too-large",
            path="/gradient/relu",
            headers={"content-encoding": "gzip"},
        ),
    ]:
        assert_problem(small, send(small, case), case)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_dtypes_round_x_and_dy_once(client: TestClient, dtype: str) -> None:
    """x and dy are rounded to the dtype, dx computed wide and rounded once: linear's dx is dy in the dtype."""
    dy = [0.1, 1 / 3, 1e-5, 65519.0]
    response = post_json(client, "linear", {"x": [0.0] * 4, "dy": dy, "dtype": dtype})
    assert response.status_code == 200 and response.json()["dtype"] == dtype
    # The response's shortest decimals read back to the very values of the dtype.
    got = np.asarray(response.json()["dx"]).astype(DTYPES[dtype])
    assert got.tobytes() == np.asarray(dy).astype(DTYPES[dtype]).tobytes()


def test_npy_keeps_the_dtype_and_refuses_what_npy_cannot_carry(client: TestClient) -> None:
    x = np.asarray([[-1.0, 0.5]], dtype=np.float16)
    response = client.post("/gradient/elu", content=npy_bytes(x), headers={"content-type": NPY, "accept": NPY})
    assert response.status_code == 200 and response.headers["x-dtype"] == "float16"
    assert np.load(io.BytesIO(response.content)).dtype == np.float16
    integers = client.post(
        "/gradient/relu", content=npy_bytes(np.asarray([[-1, 2]], np.int32)), headers={"content-type": NPY}
    )
    assert integers.json()["dtype"] == "float32" and integers.json()["dx"] == [[0.0, 1.0]]
    bf16 = post_json(client, "relu", {"x": [1.0], "dtype": "bfloat16"}, accept=NPY)
    assert bf16.status_code == 406


# --- hostile expressions over HTTP ---------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["/activate/custom", "/gradient/custom"])
@pytest.mark.parametrize(("source", "column"), [(s, c) for _, s, c in HOSTILE], ids=[why for why, _, _ in HOSTILE])
def test_hostile_expression_is_a_422_naming_the_column(
    client: TestClient, endpoint: str, source: str, column: int
) -> None:
    started = time.monotonic()
    response = client.post(endpoint, content=orjson.dumps({"x": [1.0, 2.0], "expression": source}))
    assert time.monotonic() - started < 10  # a hang guard, not a speed requirement
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/invalid-parameter"
    assert f"(column {column})" in problem["detail"]
    assert problem["errors"][0]["loc"] == ["body", "expression"]
    assert len(response.content) < 4096  # a 2000-character expression is not echoed back whole
