"""RFC 9457 problem details: the one place where errors become HTTP responses.

Every error of the native API, including unknown routes and wrong methods, is answered as
`application/problem+json` with a relative `type` URI that the service itself documents at
`/problems/{kind}`. Under `/v2` (KServe v2 / Open Inference Protocol) errors are that protocol's
`{"error": "..."}` instead, with Triton's statuses: 400 for every client error but unknown models
and versions (404), bodies or tensors over the limits (413) and wrong methods (405); an unknown
route is a 400 as in Triton. Unexpected faults answer 500 without internals; the traceback goes
to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.errors import ErrorItem, ServiceError

logger = logging.getLogger("app.errors")

PROBLEM_JSON = "application/problem+json"

# kind -> (status, title, explanation served at /problems/{kind})
PROBLEM_TYPES: dict[str, tuple[int, str, str]] = {
    "malformed-body": (400, "Malformed request body", "The body is not valid JSON, or not a readable .npy file."),
    "unauthorized": (401, "Missing or wrong API key", "Send the key as `X-API-Key` or `Authorization: Bearer`."),
    "unknown-activation": (404, "Unknown activation", "The name is not in the catalogue; `GET /activations` lists it."),
    "not-found": (404, "Not found", "No route has this path."),
    "method-not-allowed": (405, "Method not allowed", "The route exists; the `Allow` header lists its methods."),
    "not-acceptable": (406, "Not acceptable", "`Accept` asks for a type the service cannot produce."),
    "request-timeout": (
        408,
        "Request body too slow",
        "The body did not arrive within ACTIVATIONS_BODY_TIMEOUT_S seconds; the connection is closed.",
    ),
    "payload-too-large": (
        413,
        "Payload too large",
        "The body or the tensor exceeds the service limits (ACTIVATIONS_MAX_BODY_BYTES, ACTIVATIONS_MAX_ELEMENTS).",
    ),
    "unsupported-media-type": (
        415,
        "Unsupported media type",
        "Send `application/json` or `application/x-npy` (gzip or deflate Content-Encoding allowed).",
    ),
    "invalid-tensor": (
        422,
        "Invalid tensor",
        "The tensor is ragged, holds a non-numeric element, exceeds the maximum rank, or does not suit the "
        "activation (e.g. softmax on rank <= 1). `errors[].loc` points at the offending element.",
    ),
    "invalid-parameter": (
        422,
        "Invalid parameter",
        "A parameter is unknown, missing, of the wrong type or outside its constraints; `errors[].loc` names it.",
    ),
    "invalid-body": (422, "Invalid request body", "The body is JSON but not an object with a tensor `x`."),
    "internal-error": (500, "Internal error", "An unexpected fault; it was logged. Please report it."),
    "overloaded": (
        503,
        "Too much work in flight",
        "The worker already has ACTIVATIONS_MAX_IN_FLIGHT requests or ACTIVATIONS_MAX_IN_FLIGHT_BYTES body bytes "
        "in work; retry after the `Retry-After` seconds.",
    ),
    "deadline-exceeded": (
        503,
        "Compute deadline exceeded",
        "Decoding and computing took longer than ACTIVATIONS_COMPUTE_DEADLINE_S seconds; send a smaller tensor.",
    ),
}

# Seconds a client refused for load should wait (503 `Retry-After`).
RETRY_AFTER_S = 1

# Headers that go with a status wherever it is answered (native and v2 alike).
STATUS_HEADERS: dict[int, dict[str, str]] = {
    401: {"WWW-Authenticate": "Bearer"},
    # The rest of a slow body may still come: the connection cannot be reused.
    408: {"Connection": "close"},
    503: {"Retry-After": str(RETRY_AFTER_S)},
}


def problem_response(
    status: int,
    kind: str,
    detail: str,
    errors: Sequence[ErrorItem] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A problem+json response."""
    body: dict[str, object] = {
        "type": f"/problems/{kind}",
        "title": PROBLEM_TYPES[kind][1] if kind in PROBLEM_TYPES else "Error",
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = [{"loc": list(item.loc), "msg": item.msg} for item in errors]
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def is_v2_path(path: str) -> bool:
    """Whether `path` belongs to the KServe v2 API, whose errors are `{"error": ...}`."""
    return path == "/v2" or path.startswith("/v2/")


# ServiceError statuses the v2 API keeps; every other client error is a 400 there.
_V2_STATUSES = frozenset({401, 404, 405, 408, 413, 503})


def v2_error_response(exc: ServiceError) -> Response:
    """A KServe v2 error: `{"error": "..."}`, the detail followed by where the problems are."""
    message = exc.detail
    places = [f"{'.'.join(map(str, item.loc))}: {item.msg}" for item in exc.errors[:3] if item.msg not in message]
    if places:
        message = f"{message} ({'; '.join(places)})"
    status = exc.status if exc.status in _V2_STATUSES else 400
    return v2_error(status, message, STATUS_HEADERS.get(status))


def v2_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps({"error": message}), status_code=status, media_type="application/json", headers=headers
    )


def service_error_response(exc: ServiceError, headers: Mapping[str, str] | None = None) -> Response:
    extra = {**STATUS_HEADERS.get(exc.status, {}), **(headers or {})}
    return problem_response(exc.status, exc.kind, exc.detail, exc.errors, extra or None)


_HTTP_KINDS = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large", 415: "unsupported-media-type"}


async def _on_service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    if is_v2_path(request.url.path):
        return v2_error_response(exc)
    return service_error_response(exc)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if is_v2_path(request.url.path):
        return _v2_http_error(request, exc)
    kind = _HTTP_KINDS.get(exc.status_code, "malformed-body")
    if exc.status_code == 404:
        detail = f"No route for {request.method} {request.url.path}; see /docs or GET /activations."
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}."
    else:
        detail = str(exc.detail)
    return problem_response(exc.status_code, kind, detail, headers=exc.headers)


def _v2_http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """Triton's answers: an unknown route is a 400 "Not Found", a wrong method a 405."""
    if exc.status_code == 404:
        return v2_error(400, f"Not Found: no KServe v2 route for {request.method} {request.url.path[:200]}.")
    if exc.status_code == 405:
        message = f"Method Not Allowed: {request.method} on {request.url.path[:200]}."
        return v2_error(405, message, exc.headers)
    return v2_error(exc.status_code if exc.status_code in _V2_STATUSES else 400, str(exc.detail))


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [ErrorItem(tuple(err.get("loc", ())), str(err.get("msg", ""))) for err in exc.errors()]
    return problem_response(422, "invalid-parameter", "The request does not match the endpoint.", errors)


def internal_error_response(request: Request) -> Response:
    """The 500 for an unexpected fault: logged with its traceback, answered without internals."""
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    if is_v2_path(request.url.path):
        return v2_error(500, "An unexpected error occurred; it has been logged.")
    return problem_response(500, "internal-error", "An unexpected error occurred; it has been logged.")


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    return internal_error_response(request)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _on_service_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)
