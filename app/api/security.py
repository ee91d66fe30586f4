"""Access control and the headers every response carries.

- `ApiKeyRequired`: with `ACTIVATIONS_API_KEY` set, every request needs the key, as
  `X-API-Key: <key>` or `Authorization: Bearer <key>`, except the probes and metrics (any method)
  and the pages that only document the service (GET and HEAD): the docs, the OpenAPI document, the
  explorer page at `/`, their static assets and the `/problems/{kind}` pages. They carry no data
  and the explorer asks for the key before it calls the API. A missing or wrong key is a 401 with
  `WWW-Authenticate: Bearer` (problem+json, `{"error"}` under /v2), answered before anything else
  of the request is looked at, unknown routes included, so the routes are not disclosed.
  Keys are compared as SHA-256 digests with `hmac.compare_digest`: constant time, also in length.
- `cors`: Starlette's CORS middleware for the configured origins; without any, no CORS headers
  at all, so browsers keep the same-origin policy.
- `SECURITY_HEADERS`: added to every response by the instrumentation layer (precomputed bytes).
"""

from __future__ import annotations

import hashlib
import hmac

import orjson
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.problems import PROBLEM_JSON, PROBLEM_TYPES, is_v2_path
from app.api.responses import BytesResponse

# nosniff: a JSON or npy body is never rendered as HTML; no framing and no referrer leak from the
# docs and explorer pages.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)

# Probes and metrics: open to all and never refused by admission control (app.api.admission), so
# an orchestrator sees a busy or locked-down worker as alive.
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
PROBE_PREFIXES = ("/v2/health/",)
DOC_PATHS = frozenset({"/", "/docs", "/redoc", "/openapi.json", "/favicon.ico"})
_DOC_PREFIXES = ("/docs/", "/redoc/", "/static/", "/assets/", "/explorer/", "/problems/")
_READ_METHODS = frozenset({"GET", "HEAD"})

# Browsers may send these on a cross-origin call; the others are for scripts to read.
CORS_REQUEST_HEADERS = (
    "accept",
    "authorization",
    "content-encoding",
    "content-type",
    "inference-header-content-length",
    "x-api-key",
    "x-request-id",
)
CORS_EXPOSED_HEADERS = (
    "inference-header-content-length",
    "retry-after",
    "www-authenticate",
    "x-dtype",
    "x-request-id",
    "x-shape",
)


def is_public(method: str, path: str) -> bool:
    """Whether a request needs no API key."""
    if path in PROBE_PATHS or path.startswith(PROBE_PREFIXES):
        return True
    return method in _READ_METHODS and (path in DOC_PATHS or path.startswith(_DOC_PREFIXES))


def _digest(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


class ApiKeyRequired:
    """ASGI middleware: 401 for a request without the right key (`X-API-Key` or `Authorization: Bearer`)."""

    def __init__(self, app: ASGIApp, key: bytes) -> None:
        self.app = app
        self.digest = _digest(key)
        self.refusals = {(v2, missing): _unauthorized(v2, missing) for v2 in (False, True) for missing in (False, True)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        presented: list[bytes] = []
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                presented.append(value.strip())
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                presented.append(value[7:].strip())
        # Every key presented is compared, so the time does not tell which one was wrong.
        matches = [hmac.compare_digest(_digest(candidate), self.digest) for candidate in presented]
        if any(matches):
            await self.app(scope, receive, send)
            return
        await self.refusals[(is_v2_path(scope["path"]), not presented)](scope, receive, send)


def _unauthorized(v2: bool, missing: bool) -> BytesResponse:
    detail = (
        "This endpoint needs the API key: send it as 'X-API-Key: <key>' or 'Authorization: Bearer <key>'."
        if missing
        else "The API key is wrong."
    )
    if v2:
        body, media = orjson.dumps({"error": detail}), b"application/json"
    else:
        kind = "unauthorized"
        problem = {"type": f"/problems/{kind}", "title": PROBLEM_TYPES[kind][1], "status": 401, "detail": detail}
        body, media = orjson.dumps(problem), PROBLEM_JSON.encode()
    return BytesResponse(body, media, [(b"www-authenticate", b"Bearer")], status_code=401)


def cors(app: ASGIApp, origins: list[str]) -> ASGIApp:
    """`app` behind CORS for `origins` ("*": any origin); no credentials (the key is a header, not a cookie)."""
    return CORSMiddleware(
        app,
        allow_origins=origins,
        allow_methods=["GET", "HEAD", "POST", "OPTIONS"],
        allow_headers=list(CORS_REQUEST_HEADERS),
        expose_headers=list(CORS_EXPOSED_HEADERS),
        allow_credentials=False,
        max_age=600,
    )
