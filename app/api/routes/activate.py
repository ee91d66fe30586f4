"""`POST /activate/{name}`: decode, validate, call the core, encode.

A plain Starlette endpoint (no per-route dependency injection), answered by the ASGI front of
`app.api.hot_path`; it is not yet in the OpenAPI document, whose per-activation entries will be
generated from the registry. Large bodies are decoded and computed in a worker thread so the
event loop keeps answering health checks and small requests meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

import numpy as np
import numpy.typing as npt
import orjson
from starlette.requests import Request
from starlette.types import Receive

from app.api.admission import run_off_loop
from app.api.body import (
    JSON_TYPE,
    NPY_TYPE,
    BodyFormat,
    RequestHead,
    receive_body,
    request_format,
    response_format,
)
from app.api.responses import BytesResponse, tensor_headers
from app.codecs.json_tensor import (
    check_json_element_budget,
    decode_json_tensor,
    encode_json_tensor,
    parse_json_body,
    split_numeric_field,
    split_tensor,
)
from app.codecs.npy_tensor import decode_npy, encode_npy
from app.core.config import Settings
from app.errors import ErrorItem, InvalidBody, InvalidParameter, InvalidTensor, ServiceError
from app.numerics import DTYPES, REGISTRY, evaluate
from app.numerics.dtypes import DEFAULT_DTYPE, dtype_name
from app.numerics.expressions import CUSTOM, custom_expression, evaluate_expression

_JSON_MEDIA, _NPY_MEDIA = JSON_TYPE.encode(), NPY_TYPE.encode()
# Bodies above this size are handled off the event loop.
INLINE_BODY_BYTES = 256 * 1024
# Bodies above this size have a numeric 'x' parsed from the raw bytes (split_numeric_field).
_SPLIT_MIN_BYTES = 256 * 1024


@dataclass(frozen=True)
class ActivationRequest:
    """A decoded request: the tensor, its dtype name, the raw parameters and where they came from."""

    x: np.ndarray
    dtype: str
    params: dict[str, object]
    source: str  # "body" or "query": the first element of error locations


async def activate(request: Request) -> BytesResponse:
    """Compute an activation on a tensor (JSON or .npy in, JSON or .npy out)."""
    scope, settings = request.scope, request.app.state.settings
    head = RequestHead.of(scope)
    return await activate_tensor(request.path_params["name"], head, request.receive, scope["query_string"], settings)


async def activate_tensor(
    name: str, head: RequestHead, receive: Receive, query_string: bytes, settings: Settings
) -> BytesResponse:
    """The endpoint's work on the raw ASGI request, as the ASGI front (app.api.hot_path) calls it."""
    name = CUSTOM if name == CUSTOM else REGISTRY.get(name).name
    in_format = request_format(head.content_type)
    response_format(head.accept)  # a 406 before the body is read, whatever the dtype turns out to be
    # The body travels in a list that compute_response empties: no frame keeps it alive, so its
    # memory (which an npy tensor is a view of) is freed as soon as the result is computed.
    bodies = [await receive_body(receive, head, settings.max_body_bytes)]
    # Parsed as Starlette parses query strings.
    query = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True) if in_format == "npy" else []
    if len(bodies[0]) <= INLINE_BODY_BYTES:
        return compute_response(name, bodies, in_format, head.accept, query, settings)
    return await run_off_loop(compute_response, name, bodies, in_format, head.accept, query, settings)


def compute_response(
    name: str,
    bodies: list[bytes],
    in_format: BodyFormat,
    accept: str | None,
    query: list[tuple[str, str]],
    settings: Settings,
) -> BytesResponse:
    """Decode the body taken out of `bodies`, compute, encode; the request's memory goes first."""
    body = bodies.pop()
    decoded = decode_json_request(body, settings) if in_format == "json" else decode_npy_request(body, query, settings)
    del body
    dtype = decoded.dtype
    out_format = response_format(accept, npy=dtype != "bfloat16")
    params: dict[str, object]
    try:
        if name == CUSTOM:
            expression = custom_expression(decoded.params)
            y = evaluate_expression(expression, decoded.x, dtype).values
            activation, params = CUSTOM, {"expression": expression}
        else:
            result = evaluate(name, decoded.x, decoded.params, dtype)
            activation, params, y = result.spec.name, result.params, result.y
    except ServiceError as exc:
        raise _prefixed(exc, decoded) from None
    del decoded
    headers = tensor_headers(y, dtype)
    if out_format == "npy":
        return BytesResponse(encode_npy(y), _NPY_MEDIA, headers)
    head = orjson.dumps({"activation": activation, "params": params, "dtype": dtype, "shape": list(y.shape)})
    return BytesResponse(head[:-1] + b',"y":' + encode_json_tensor(y) + b"}", _JSON_MEDIA, headers)


def decode_json_request(body: bytes, settings: Settings) -> ActivationRequest:
    check_json_element_budget(body, settings.max_elements)
    split = _split_large_body(body, settings) if len(body) > _SPLIT_MIN_BYTES else None
    document, wide = split if split is not None else (parse_json_body(body), None)
    if "x" not in document:
        msg = "The body must carry the tensor as 'x'"
        raise InvalidBody(msg, [ErrorItem(("body", "x"), "field required")])
    params = {key: value for key, value in document.items() if key not in ("x", "dtype")}
    dtype = _dtype_name(document.get("dtype", DEFAULT_DTYPE), "body")
    if wide is not None:
        x = split_tensor(wide, dtype=DTYPES[dtype], max_elements=settings.max_elements, loc=("body", "x"))
    else:
        x = decode_json_tensor(
            document["x"],
            dtype=DTYPES[dtype],
            max_elements=settings.max_elements,
            max_rank=settings.max_rank,
            loc=("body", "x"),
            body=body,
            document=document,
        )
    return ActivationRequest(x=x, dtype=dtype, params=params, source="body")


def _split_large_body(body: bytes, settings: Settings) -> tuple[dict[str, object], npt.NDArray[np.float64]] | None:
    """The envelope and the numeric x of a large body, without a Python float per element.

    None when `split_numeric_field` declines or its envelope is not plain JSON: the whole body is
    then parsed as usual, which also gives the precise error.
    """
    split = split_numeric_field(body, max_rank=settings.max_rank)
    if split is None:
        return None
    envelope, wide = split
    try:
        document = parse_json_body(envelope)
    except ServiceError:
        return None
    return (document, wide) if type(document.get("x")) is int else None


def decode_npy_request(body: bytes, query: list[tuple[str, str]], settings: Settings) -> ActivationRequest:
    x = decode_npy(body, max_elements=settings.max_elements, max_rank=settings.max_rank)
    params = parse_query_params(query)
    sent_dtype = params.pop("dtype", None)
    dtype = dtype_name(x.dtype) if sent_dtype is None else _dtype_name(sent_dtype, "query")
    return ActivationRequest(x=x, dtype=dtype, params=params, source="query")


def parse_query_params(query: list[tuple[str, str]]) -> dict[str, object]:
    """Query parameters in JSON syntax; a repeated key is a list (`?axis=0&axis=1`); `dtype` is a bare name."""
    grouped: dict[str, list[object]] = {}
    for key, text in query:
        if key == "dtype":
            grouped.setdefault(key, []).append(text)
            continue
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            msg = (
                f"'{key}' must be written in JSON syntax (a finite number, true/false, or an array), got {text[:40]!r}"
            )
            raise InvalidParameter(msg, [ErrorItem(("query", key), msg)]) from None
        grouped.setdefault(key, []).append(value)
    return {key: values[0] if len(values) == 1 else values for key, values in grouped.items()}


def _dtype_name(value: object, source: str) -> str:
    if isinstance(value, str) and value in DTYPES:
        return value
    msg = f"'dtype' must be one of {', '.join(DTYPES)}, got {value!r:.40}"
    raise InvalidParameter(msg, [ErrorItem((source, "dtype"), msg)])


def _prefixed(exc: ServiceError, request: ActivationRequest) -> ServiceError:
    """The core reports locations relative to the request fields; the transport adds where they were.

    JSON: everything is in the body (`body.x`, `body.alpha`). npy: the tensor is the body itself and
    the parameters are in the query string (`body`, `query.alpha`).
    """

    def locate(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
        if request.source == "query" and isinstance(exc, InvalidTensor):
            return ("body", *loc[1:])
        return (request.source, *loc)

    exc.errors = tuple(ErrorItem(locate(item.loc), item.msg) for item in exc.errors)
    return exc
