"""Around every request: its id, its metrics and its access-log record.

`X-Request-ID` is echoed when the client sends a usable one (1 to 128 visible ASCII characters,
as proxies generate them) and otherwise generated (32 hex digits); the response carries it and
every log record written while the request is served includes it. The security headers of
`app.api.security` are added to every response here, where the headers are rewritten anyway.
Metrics and the access log label a request by endpoint and activation (a canonical name, or
`unknown`), the elements computed are those of the result (`X-Shape`), and a client that leaves
before any answer counts as status 499, as nginx logs it. With an instance name configured, every
response also carries `X-Served-By: <name>`, so a client behind a load balancer can tell the
replicas apart.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from functools import lru_cache

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.security import SECURITY_HEADERS
from app.numerics import REGISTRY
from app.observability.logs import REQUEST_ID, AccessLog
from app.observability.metrics import RequestMetrics

_USABLE_ID = re.compile(rb"[!-~]{1,128}")
_CLIENT_CLOSED = 499

access_log = AccessLog()

# Path prefix -> endpoint label; the activation name follows the prefix.
_NAMED = (("/activate/", "activate"), ("/gradient/", "gradient"), ("/v2/models/", "v2"))
_FIXED = {
    "/healthz": "health",
    "/readyz": "health",
    "/metrics": "metrics",
    "/activations": "catalogue",
    "/docs": "docs",
    "/redoc": "docs",
    "/openapi.json": "docs",
}


@lru_cache(maxsize=1024)  # bounded: scanners' random paths cannot grow it
def route_labels(path: str) -> tuple[str, str]:
    """(endpoint, activation) of a path; activation is `-` where none applies, `unknown` if not in the catalogue."""
    for prefix, endpoint in _NAMED:
        if path.startswith(prefix):
            name = path[len(prefix) :].split("/", 1)[0]
            if endpoint == "v2" and path.endswith("/infer"):
                endpoint = "v2_infer"
            if name == "custom":
                return endpoint, "custom"
            spec = REGISTRY.find(name)
            return endpoint, spec.name if spec is not None else "unknown"
    if path.startswith("/activations/"):
        return "catalogue", "-"
    if path.startswith("/v2"):
        return "v2", "-"
    return _FIXED.get(path, "other"), "-"


@lru_cache(maxsize=1024)
def _element_count(shape: bytes) -> int:
    """The number of elements of an `X-Shape` value (`2,3` -> 6, `` -> 1)."""
    return math.prod(int(n) for n in shape.split(b",") if n)


class Instrumented:
    """ASGI middleware: request id, metrics (None: off), access log and `X-Served-By` for every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics | None, instance_name: str = "") -> None:
        self.app = app
        self.metrics = metrics
        # Encoded once: each response only appends the ready pair.
        self.served_by = [(b"x-served-by", instance_name.encode("ascii"))] if instance_name else []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value if _USABLE_ID.fullmatch(value) else b""
                break
        request_id = request_id or os.urandom(16).hex().encode()
        token = REQUEST_ID.set(request_id.decode("ascii"))
        status, shape = 0, None
        served_by = self.served_by

        async def send_with_id(message: Message) -> None:
            nonlocal status, shape
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", [])
                for name, value in headers:
                    if name == b"x-shape":
                        shape = value
                # A new message: the app may send the same one again (a precomputed answer).
                message = {
                    **message,
                    "headers": [*headers, *SECURITY_HEADERS, (b"x-request-id", request_id), *served_by],
                }
            await send(message)

        if self.metrics is not None:
            self.metrics.in_flight += 1
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            status = status or 500
            raise
        finally:
            status = status or _CLIENT_CLOSED
            seconds = time.perf_counter() - started
            endpoint, activation = route_labels(scope["path"])
            if self.metrics is not None:
                self.metrics.in_flight -= 1
                elements = 0 if shape is None or status != 200 else _element_count(shape)
                self.metrics.record(endpoint, activation, status, seconds, elements)
            if access_log.logger.isEnabledFor(logging.INFO):
                client = scope.get("client")
                access_log.write(
                    f"{scope['method']} {scope['path']} {status}",
                    {
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                        "endpoint": endpoint,
                        "activation": activation,
                        "client": f"{client[0]}:{client[1]}" if client else None,
                    },
                )
            REQUEST_ID.reset(token)
