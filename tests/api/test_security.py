"""Access control (SPEC section 7), CORS and the security headers.

With `ACTIVATIONS_API_KEY` set, every endpoint but the probes, the metrics and the documentation
pages answers 401 with `WWW-Authenticate: Bearer` to a request without the key or with a wrong
one (problem+json on the native API, `{"error"}` under /v2), and serves it with the key in
`X-API-Key` or `Authorization: Bearer`. Unset or empty: no key anywhere. CORS headers appear only
for configured origins. Every response, errors included, carries the security headers.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

KEY = "s3cret-key-0123456789"
BODY = orjson.dumps({"x": [[-1.0, 2.0]]})
V2_BODY = orjson.dumps({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [-1, 2]}]})

# (method, path, body, status with the key): every kind of protected route, unknown ones included.
PROTECTED = [
    ("POST", "/activate/relu", BODY, 200),
    ("POST", "/activate/custom", orjson.dumps({"x": [1.0], "expression": "x * 2"}), 200),
    ("POST", "/gradient/relu", BODY, 200),
    ("GET", "/activations", None, 200),
    ("GET", "/activations/relu", None, 200),
    ("GET", "/v2", None, 200),
    ("GET", "/v2/models/relu", None, 200),
    ("GET", "/v2/models/relu/ready", None, 200),
    ("POST", "/v2/models/relu/infer", V2_BODY, 200),
    ("POST", "/v2/models/relu/versions/1/infer", V2_BODY, 200),
    ("GET", "/no/such/route", None, 404),
    ("GET", "/activate/relu", None, 405),
    ("POST", "/docs", BODY, 405),  # the docs are public to read, not to post to
]
PUBLIC = [
    ("GET", "/healthz"),
    ("HEAD", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/v2/health/live"),
    ("GET", "/v2/health/ready"),
    ("GET", "/metrics"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
    ("GET", "/openapi.json"),
    ("GET", "/problems/unauthorized"),
]


@pytest.fixture(scope="module")
def keyed() -> Any:
    from app.core.config import Settings
    from app.main import create_app

    with TestClient(create_app(Settings(api_key=KEY)), raise_server_exceptions=False) as client:  # type: ignore[arg-type]
        yield client


def _call(client: TestClient, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Any:
    return client.request(method, path, content=body, headers=headers)


def _assert_unauthorized(response: Any, path: str, detail_part: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    if path.startswith("/v2"):
        assert response.headers["content-type"] == "application/json"
        assert detail_part in response.json()["error"]
    else:
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"] == "/problems/unauthorized" and problem["status"] == 401
        assert detail_part in problem["detail"]
    assert KEY not in response.text


@pytest.mark.parametrize(("method", "path", "body", "status"), PROTECTED, ids=[f"{m} {p}" for m, p, _, _ in PROTECTED])
def test_protected_routes_need_the_key(
    keyed: TestClient, method: str, path: str, body: bytes | None, status: int
) -> None:
    _assert_unauthorized(_call(keyed, method, path, body, {}), path, "X-API-Key")
    for wrong in ({"x-api-key": KEY + "x"}, {"x-api-key": ""}, {"authorization": f"Bearer {KEY[:-1]}"}):
        _assert_unauthorized(_call(keyed, method, path, body, wrong), path, "wrong")
    # Other schemes are no key at all.
    _assert_unauthorized(_call(keyed, method, path, body, {"authorization": f"Basic {KEY}"}), path, "X-API-Key")
    for right in ({"x-api-key": KEY}, {"authorization": f"Bearer {KEY}"}, {"authorization": f"bearer {KEY}"}):
        response = _call(keyed, method, path, body, right)
        assert response.status_code == status, (right, response.text)


def test_a_right_key_beside_a_wrong_one_is_accepted(keyed: TestClient) -> None:
    headers = {"x-api-key": "wrong", "authorization": f"Bearer {KEY}"}
    assert keyed.post("/activate/relu", content=BODY, headers=headers).json()["y"] == [[0.0, 2.0]]


@pytest.mark.parametrize(("method", "path"), PUBLIC, ids=[f"{m} {p}" for m, p in PUBLIC])
def test_probes_metrics_and_docs_are_public(keyed: TestClient, method: str, path: str) -> None:
    response = keyed.request(method, path)
    assert response.status_code == 200, response.text
    assert "www-authenticate" not in response.headers


@pytest.mark.parametrize("key", [None, "", " \n"], ids=["unset", "empty", "blank"])
def test_no_key_configured_means_no_authentication(make_client: Any, key: str | None) -> None:
    client = make_client(api_key=key)
    for method, path, body, status in PROTECTED:
        response = _call(client, method, path, body, {})
        assert response.status_code == status, (path, response.text)
        assert "www-authenticate" not in response.headers


def test_a_configured_key_ending_in_a_newline_still_matches(make_client: Any) -> None:
    """A key from a secret file often ends in a newline; the client sends it without."""
    client = make_client(api_key=f"{KEY}\n")
    assert client.post("/activate/relu", json={"x": [1.0]}, headers={"X-API-Key": KEY}).status_code == 200
    assert client.post("/activate/relu", json={"x": [1.0]}, headers={"X-API-Key": "nope"}).status_code == 401


def test_every_401_carries_its_own_headers_once(keyed: TestClient) -> None:
    """The 401 is precomputed: answering it again must not pile up earlier answers' headers."""
    ids = set()
    for path in ["/activate/relu"] * 3 + ["/v2/models/relu/infer"] * 3:
        response = keyed.post(path, json={"x": [1.0]})
        assert response.status_code == 401
        assert len(response.headers.get_list("x-request-id")) == 1
        assert len(response.headers.get_list("www-authenticate")) == 1
        assert len(response.headers.get_list("x-frame-options")) == 1
        ids.add(response.headers["x-request-id"])
    assert len(ids) == 6


def test_the_key_is_not_in_the_settings_repr() -> None:
    from app.core.config import Settings

    settings = Settings(api_key=KEY)  # type: ignore[arg-type]
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())


# --- CORS --------------------------------------------------------------------------------------

ORIGIN = "https://notebook.example"
PREFLIGHT = {
    "origin": ORIGIN,
    "access-control-request-method": "POST",
    "access-control-request-headers": "content-type, x-api-key",
}


def test_cors_is_off_by_default(client: TestClient) -> None:
    response = client.post("/activate/relu", content=BODY, headers={"origin": ORIGIN})
    assert response.status_code == 200
    assert not any(name.startswith("access-control-") for name in response.headers)
    preflight = client.options("/activate/relu", headers=PREFLIGHT)
    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_for_the_configured_origins(make_client: Any) -> None:
    client = make_client(cors_origins=f" {ORIGIN} , https://other.example,", api_key=KEY)
    # A preflight carries no key and must not need one.
    preflight = client.options("/activate/relu", headers=PREFLIGHT)
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
    response = client.post("/activate/relu", content=BODY, headers={"origin": ORIGIN, "x-api-key": KEY})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    exposed = response.headers["access-control-expose-headers"].lower()
    assert {"x-shape", "x-dtype", "x-request-id", "retry-after"} <= set(map(str.strip, exposed.split(",")))
    # A 401 is readable by the page too, so it can ask for the key.
    refused = client.post("/activate/relu", content=BODY, headers={"origin": ORIGIN})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == ORIGIN
    # Other origins get no CORS headers; their preflight is refused.
    stranger = client.post("/activate/relu", content=BODY, headers={"origin": "https://evil.example", "x-api-key": KEY})
    assert "access-control-allow-origin" not in stranger.headers
    assert client.options("/activate/relu", headers={**PREFLIGHT, "origin": "https://evil.example"}).status_code == 400


def test_cors_any_origin(make_client: Any) -> None:
    client = make_client(cors_origins="*")
    response = client.get("/activations/relu", headers={"origin": "https://anywhere.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


# --- security headers and error bodies ---------------------------------------------------------

SECURITY_HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer"}
ANSWERS = [
    ("POST", "/activate/relu", BODY, {}),
    ("POST", "/activate/relu", BODY, {"accept-encoding": "gzip"}),
    ("POST", "/activate/relu", b"{", {}),
    ("POST", "/activate/nope", BODY, {}),
    ("POST", "/v2/models/relu/infer", V2_BODY, {}),
    ("POST", "/v2/models/relu/infer", b"[", {}),
    ("GET", "/docs", None, {}),
    ("GET", "/healthz", None, {}),
    ("GET", "/nowhere", None, {}),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"), ANSWERS, ids=[f"{a[0]} {a[1]} {a[2]!r:.12}" for a in ANSWERS]
)
def test_every_response_has_the_security_headers(
    client: TestClient, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> None:
    response = client.request(method, path, content=body, headers=headers)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.status_code)
    assert "server" not in response.headers or "uvicorn" not in response.headers["server"]


def test_an_unexpected_fault_reveals_nothing(make_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import app.api.routes.activate as activate

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("/work/secret/path.py line 3 password=hunter2")

    monkeypatch.setattr(activate, "evaluate", broken)
    client = make_client()
    response = client.post("/activate/relu", content=BODY)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "hunter2" not in response.text and "/work" not in response.text and "Traceback" not in response.text
    assert response.json()["type"] == "/problems/internal-error"


def test_keys_are_compared_in_constant_time(make_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Timing cannot be asserted here; what can: every presented key goes through hmac.compare_digest,
    as equal-length digests, so neither the content nor the length of the key leaks through timing."""
    import hmac

    import app.api.security as security

    compared: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    client = make_client(api_key=KEY)
    headers = {"x-api-key": "short", "authorization": f"Bearer {KEY * 3}"}
    assert client.get("/activations", headers=headers).status_code == 401
    assert compared == [(32, 32), (32, 32)]
