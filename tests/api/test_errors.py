"""Every row of the status table of SPEC section 3, answered as RFC 9457 problem+json."""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass, field

import numpy as np
import orjson
import pytest
from starlette.testclient import TestClient

NPY = "application/x-npy"


def npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


@dataclass(frozen=True)
class Case:
    id: str
    path: str
    body: bytes | None
    status: int
    kind: str
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    loc: list[object] | None = None
    detail_contains: str = ""


def j(value: object) -> bytes:
    return orjson.dumps(value)


CASES = [
    # 400: not JSON, not npy
    Case("garbage", "/activate/relu", b"{x: 1", 400, "malformed-body"),
    Case("empty body", "/activate/relu", b"", 400, "malformed-body"),
    Case("truncated json", "/activate/relu", b'{"x": [1, 2', 400, "malformed-body"),
    Case("not utf8", "/activate/relu", b'{"x": [1, \xff]}', 400, "malformed-body"),
    Case("npy garbage", "/activate/relu", b"\x93NUMPY garbage", 400, "malformed-body", headers={"content-type": NPY}),
    Case(
        "npy truncated", "/activate/relu", npy(np.ones(10))[:-8], 400, "malformed-body", headers={"content-type": NPY}
    ),
    Case("bad gzip", "/activate/relu", b"not gzip", 400, "malformed-body", headers={"content-encoding": "gzip"}),
    # 404
    Case("unknown activation", "/activate/rleu", j({"x": [1]}), 404, "unknown-activation", detail_contains="'relu'"),
    Case("unknown case", "/activate/Relu", j({"x": [1]}), 404, "unknown-activation", detail_contains="did you mean"),
    Case("unknown route", "/nope", None, 404, "not-found", method="GET"),
    Case("unknown listing", "/activations/nope", None, 404, "unknown-activation", method="GET"),
    Case("unknown problem", "/problems/nope", None, 404, "not-found", method="GET"),
    # 405
    Case("get on activate", "/activate/relu", None, 405, "method-not-allowed", method="GET"),
    Case("post on listing", "/activations", b"{}", 405, "method-not-allowed"),
    Case("delete on healthz", "/healthz", None, 405, "method-not-allowed", method="DELETE"),
    # 406
    Case("accept html", "/activate/relu", j({"x": [1]}), 406, "not-acceptable", headers={"accept": "text/html"}),
    Case(
        "npy bfloat16",
        "/activate/relu",
        j({"x": [1], "dtype": "bfloat16"}),
        406,
        "not-acceptable",
        headers={"accept": NPY},
    ),
    # 413
    Case("content-length", "/activate/relu", b"{}", 413, "payload-too-large", headers={"content-length": str(2**40)}),
    # 415
    Case(
        "text/plain",
        "/activate/relu",
        j({"x": [1]}),
        415,
        "unsupported-media-type",
        headers={"content-type": "text/plain"},
    ),
    Case(
        "form",
        "/activate/relu",
        b"x=1",
        415,
        "unsupported-media-type",
        headers={"content-type": "application/x-www-form-urlencoded"},
        detail_contains="add -H 'content-type: application/json'",
    ),
    Case("brotli", "/activate/relu", j({"x": [1]}), 415, "unsupported-media-type", headers={"content-encoding": "br"}),
    # 422: tensor
    Case("top-level list", "/activate/relu", j([1, 2]), 422, "invalid-body"),
    Case("top-level number", "/activate/relu", j(3), 422, "invalid-body"),
    Case("missing x", "/activate/relu", j({"alpha": 0.1}), 422, "invalid-body", loc=["body", "x"]),
    Case("ragged", "/activate/relu", j({"x": [[1, 2], [3]]}), 422, "invalid-tensor", loc=["body", "x", 1]),
    Case(
        "bool element", "/activate/relu", j({"x": [[1, 2], [3, True]]}), 422, "invalid-tensor", loc=["body", "x", 1, 1]
    ),
    Case("null element", "/activate/relu", j({"x": [1, None]}), 422, "invalid-tensor", loc=["body", "x", 1]),
    Case("string element", "/activate/relu", j({"x": [1, "abc"]}), 422, "invalid-tensor", loc=["body", "x", 1]),
    Case("numeric string", "/activate/relu", j({"x": ["1.5"]}), 422, "invalid-tensor", loc=["body", "x", 0]),
    Case("object element", "/activate/relu", j({"x": [{"a": 1}]}), 422, "invalid-tensor", loc=["body", "x", 0]),
    Case("x is a string", "/activate/relu", j({"x": "abc"}), 422, "invalid-tensor", loc=["body", "x"]),
    Case("x is a bool", "/activate/relu", j({"x": True}), 422, "invalid-tensor", loc=["body", "x"]),
    Case(
        "rank 33",
        "/activate/relu",
        j({"x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}),
        422,
        "invalid-tensor",
    ),
    Case("nesting 5000", "/activate/relu", b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}", 422, "invalid-tensor"),
    Case("softmax 1d", "/activate/softmax", j({"x": [1, 2]}), 422, "invalid-tensor", detail_contains="1D"),
    Case("softmax scalar", "/activate/softmax", j({"x": 1}), 422, "invalid-tensor"),
    Case("Softmax layer 1d", "/activate/Softmax", j({"x": [1, 2]}), 422, "invalid-tensor", detail_contains="batch"),
    Case("glu odd", "/activate/glu", j({"x": [[1, 2, 3]]}), 422, "invalid-tensor"),
    Case("npy bool", "/activate/relu", npy(np.array([True])), 422, "invalid-tensor", headers={"content-type": NPY}),
    Case(
        "npy object",
        "/activate/relu",
        npy(np.array([1, "a"], dtype=object), True),
        422,
        "invalid-tensor",
        headers={"content-type": NPY},
    ),
    Case(
        "npy structured",
        "/activate/relu",
        npy(np.zeros(2, dtype=[("a", "<f4")])),
        422,
        "invalid-tensor",
        headers={"content-type": NPY},
    ),
    # 422: parameters
    Case(
        "alpha string", "/activate/relu", j({"x": [1], "alpha": "0.1"}), 422, "invalid-parameter", loc=["body", "alpha"]
    ),
    Case("alpha bool", "/activate/relu", j({"x": [1], "alpha": True}), 422, "invalid-parameter", loc=["body", "alpha"]),
    Case("alpha null", "/activate/relu", j({"x": [1], "alpha": None}), 422, "invalid-parameter", loc=["body", "alpha"]),
    Case("alpha NaN", "/activate/relu", b'{"x": [1], "alpha": NaN}', 422, "invalid-parameter", loc=["body", "alpha"]),
    Case("alpha inf", "/activate/relu", b'{"x": [1], "alpha": 1e400}', 422, "invalid-parameter", loc=["body", "alpha"]),
    Case(
        "alias conflict", "/activate/relu", j({"x": [1], "alpha": 0.1, "negative_slope": 0.2}), 422, "invalid-parameter"
    ),
    Case(
        "leaky alias conflict",
        "/activate/leaky_relu",
        j({"x": [1], "alpha": 0.1, "negative_slope": 0.2}),
        422,
        "invalid-parameter",
    ),
    Case("unknown param", "/activate/relu", j({"x": [1], "beta": 1}), 422, "invalid-parameter", loc=["body", "beta"]),
    Case(
        "axis float", "/activate/softmax", j({"x": [[1]], "axis": 1.0}), 422, "invalid-parameter", loc=["body", "axis"]
    ),
    Case(
        "axis string", "/activate/softmax", j({"x": [[1]], "axis": "1"}), 422, "invalid-parameter", loc=["body", "axis"]
    ),
    Case(
        "axis bool", "/activate/softmax", j({"x": [[1]], "axis": True}), 422, "invalid-parameter", loc=["body", "axis"]
    ),
    Case(
        "axis out of range",
        "/activate/softmax",
        j({"x": [[1]], "axis": 2}),
        422,
        "invalid-parameter",
        loc=["body", "axis"],
    ),
    Case("axis list repeat", "/activate/softmax", j({"x": [[1]], "axis": [1, -1]}), 422, "invalid-parameter"),
    Case("sparsemax axis list", "/activate/sparsemax", j({"x": [[1]], "axis": [0]}), 422, "invalid-parameter"),
    Case(
        "threshold missing",
        "/activate/threshold",
        j({"x": [1], "threshold": 0.5}),
        422,
        "invalid-parameter",
        loc=["body", "default_value"],
    ),
    Case(
        "ReLU negative",
        "/activate/ReLU",
        j({"x": [1], "negative_slope": -0.1}),
        422,
        "invalid-parameter",
        loc=["body", "negative_slope"],
    ),
    Case(
        "ReLU max negative",
        "/activate/ReLU",
        j({"x": [1], "max_value": -1}),
        422,
        "invalid-parameter",
        loc=["body", "max_value"],
    ),
    Case(
        "theta negative",
        "/activate/ThresholdedReLU",
        j({"x": [1], "theta": -1}),
        422,
        "invalid-parameter",
        loc=["body", "theta"],
    ),
    Case("celu zero", "/activate/celu", j({"x": [1], "alpha": 0}), 422, "invalid-parameter", loc=["body", "alpha"]),
    Case(
        "squareplus negative",
        "/activate/squareplus",
        j({"x": [1], "b": -1}),
        422,
        "invalid-parameter",
        loc=["body", "b"],
    ),
    Case(
        "approximate int",
        "/activate/gelu",
        j({"x": [1], "approximate": 1}),
        422,
        "invalid-parameter",
        loc=["body", "approximate"],
    ),
    Case(
        "PReLU not broadcastable",
        "/activate/PReLU",
        j({"x": [[1, 2]], "alpha": [1, 2, 3]}),
        422,
        "invalid-parameter",
        loc=["body", "alpha"],
    ),
    Case(
        "mask not broadcastable",
        "/activate/Softmax",
        j({"x": [[1, 2]], "mask": [1, 0, 1]}),
        422,
        "invalid-parameter",
        loc=["body", "mask"],
    ),
    Case(
        "mask not 0/1",
        "/activate/Softmax",
        j({"x": [[1, 2]], "mask": [2, 0]}),
        422,
        "invalid-parameter",
        loc=["body", "mask"],
    ),
    Case(
        "dtype unknown",
        "/activate/relu",
        j({"x": [1], "dtype": "int8"}),
        422,
        "invalid-parameter",
        loc=["body", "dtype"],
    ),
    Case(
        "query not json",
        "/activate/relu?alpha=abc",
        npy(np.ones(2)),
        422,
        "invalid-parameter",
        loc=["query", "alpha"],
        headers={"content-type": NPY},
    ),
    Case(
        "query nan",
        "/activate/relu?alpha=NaN",
        npy(np.ones(2)),
        422,
        "invalid-parameter",
        loc=["query", "alpha"],
        headers={"content-type": NPY},
    ),
    Case(
        "query unknown",
        "/activate/relu?beta=1",
        npy(np.ones(2)),
        422,
        "invalid-parameter",
        loc=["query", "beta"],
        headers={"content-type": NPY},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_error_answers_with_problem_details(client: TestClient, case: Case) -> None:
    response = client.request(case.method, case.path, content=case.body, headers=case.headers)
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == case.status
    assert problem["type"] == f"/problems/{case.kind}"
    assert problem["title"] and problem["detail"]
    assert "Traceback" not in response.text
    if case.loc is not None:
        assert problem["errors"][0]["loc"] == case.loc
    if case.detail_contains:
        assert case.detail_contains.lower() in problem["detail"].lower()
    if case.status == 405:
        assert response.headers["allow"]


def test_problem_type_is_documented(client: TestClient) -> None:
    kind = client.post("/activate/relu", content=b"[1]").json()["type"]
    page = client.get(kind)
    assert page.status_code == 200 and "Invalid request body" in page.text


def test_limits_from_settings(make_client: object) -> None:
    small = make_client(max_body_bytes=100, max_elements=4, max_rank=2)  # type: ignore[operator]
    too_long = small.post("/activate/relu", content=orjson.dumps({"x": [0.5] * 60}))
    assert too_long.status_code == 413
    too_many = small.post("/activate/relu", content=orjson.dumps({"x": [1, 2, 3, 4, 5]}))
    assert too_many.status_code == 413
    assert small.post("/activate/relu", content=orjson.dumps({"x": [1, 2, 3, 4]})).status_code == 200
    too_deep = small.post("/activate/relu", content=orjson.dumps({"x": [[[1]]]}))
    assert too_deep.status_code == 422
    npy_many = small.post("/activate/relu", content=npy(np.ones(5, dtype=np.float32)), headers={"content-type": NPY})
    assert npy_many.status_code == 413


def test_chunked_body_is_cut_off_at_the_limit(make_client: object) -> None:
    small = make_client(max_body_bytes=1000)  # type: ignore[operator]

    def chunks() -> object:
        yield b'{"x": ['
        for _ in range(10_000):
            yield b"1.0," * 100

    response = small.post("/activate/relu", content=chunks())
    assert response.status_code == 413


def test_gzip_bomb_is_refused_without_inflating(make_client: object) -> None:
    import zlib

    small = make_client(max_body_bytes=10_000)  # type: ignore[operator]
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = compressor.compress(b"[" + b"0," * 50_000_000) + compressor.flush()
    assert len(bomb) < 200_000
    response = small.post("/activate/relu", content=bomb, headers={"content-encoding": "gzip"})
    assert response.status_code == 413


def test_pickle_payload_is_never_unpickled(client: TestClient, tmp_path: object) -> None:
    marker = tmp_path / "pwned"  # type: ignore[operator]

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (open, (str(marker), "w"))

    payload = npy(np.array([Exploit()], dtype=object), allow_pickle=True)
    assert pickle.dumps is not None
    response = client.post("/activate/relu", content=payload, headers={"content-type": NPY})
    assert response.status_code == 422
    assert not marker.exists()


@pytest.mark.parametrize("path", ["/activate/relu", "/activations/relu"])
def test_unexpected_fault_is_a_500_problem_without_internals(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """Both the hot path and the FastAPI routes answer a bug with a bare problem, never a traceback."""

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("secret internal detail /srv/app.py")

    monkeypatch.setattr("app.api.routes.activate.evaluate", broken)
    monkeypatch.setattr("app.api.routes.catalogue.activation_info", broken)
    method = "POST" if path.startswith("/activate") else "GET"
    response = client.request(method, path, content=orjson.dumps({"x": [1.0]}) if method == "POST" else None)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/internal-error"
    assert "secret" not in response.text and "Traceback" not in response.text
    assert client.get("/healthz").status_code == 200
