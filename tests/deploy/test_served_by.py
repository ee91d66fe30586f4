"""`ACTIVATIONS_INSTANCE_NAME`: each replica names itself in `X-Served-By` on every response."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from app.core.config import Settings

# (method, path, body, expected status): the hot path, FastAPI routes, problems, v2, health.
REQUESTS = [
    ("POST", "/activate/relu", {"x": [[-1.0, 2.0]]}, 200),
    ("POST", "/activate/relu", {"x": [[-1.0], [2.0, 3.0]]}, 422),
    ("POST", "/activate/nope", {"x": [1.0]}, 404),
    ("POST", "/gradient/tanh", {"x": [0.5]}, 200),
    ("POST", "/v2/models/relu/infer", {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}, 200),
    ("GET", "/v2/health/ready", None, 200),
    ("GET", "/healthz", None, 200),
    ("GET", "/activations/relu", None, 200),
    ("DELETE", "/activations", None, 405),
    ("GET", "/no/such/route", None, 404),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), REQUESTS)
def test_every_answer_names_the_replica(
    make_client: Callable[..., TestClient], method: str, path: str, body: object, status: int
) -> None:
    client = make_client(instance_name="activations-7f9c-2")
    content = None if body is None else orjson.dumps(body)
    response = client.request(method, path, content=content, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert response.headers["x-served-by"] == "activations-7f9c-2"


def test_no_name_means_no_header(client: TestClient) -> None:
    response = client.post("/activate/relu", content=b'{"x": [1]}')
    assert response.status_code == 200
    assert "x-served-by" not in response.headers


def test_the_environment_sets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTIVATIONS_INSTANCE_NAME", "4f1d2c3b9a10")
    assert Settings().instance_name == "4f1d2c3b9a10"


@pytest.mark.parametrize("name", ["two words", "répliqua", "tab\tname", "x" * 129])
def test_a_name_that_cannot_be_a_header_value_is_refused_at_start(name: str) -> None:
    with pytest.raises(ValidationError, match="instance_name"):
        Settings(instance_name=name)
