"""`POST /gradient/{name}`: the vector-Jacobian product dx = dy^T J(x) of an activation, or of a custom expression.

The body is the one of `POST /activate/{name}` plus an optional upstream gradient `dy` (the shape
of the activation's result, or broadcastable to it; default ones); the response carries `dx`
(the shape of x) beside `activation`, `params`, `dtype` and `shape`. `name` may be `custom`,
with the expression in the `expression` field (or query parameter).

npy requests carry x as the body and their parameters in the query string, as for
`/activate`; `dy` is then a query parameter in JSON syntax (`?dy=0.5`, `?dy=[[1,0,2]]`) that
broadcasts to the result, so a large upstream gradient is sent as JSON. Decoding, limits and
error locations are the ones of `app.api.routes.activate`. Not yet in the OpenAPI document.
"""

from __future__ import annotations

import numpy as np
import orjson
from starlette.requests import Request

from app.api.admission import run_off_loop
from app.api.body import JSON_TYPE, NPY_TYPE, BodyFormat, read_body, request_format, response_format
from app.api.responses import BytesResponse, tensor_headers
from app.api.routes.activate import (
    INLINE_BODY_BYTES,
    ActivationRequest,
    _dtype_name,
    decode_npy_request,
)
from app.codecs.json_tensor import check_json_element_budget, decode_json_tensor, encode_json_tensor, parse_json_body
from app.codecs.npy_tensor import encode_npy
from app.core.config import Settings
from app.errors import ErrorItem, InvalidBody, InvalidTensor, ServiceError
from app.numerics import DTYPES, REGISTRY, evaluate_gradient
from app.numerics.dtypes import DEFAULT_DTYPE
from app.numerics.expressions import CUSTOM, custom_expression, evaluate_expression_gradient


async def compute_gradient(request: Request) -> BytesResponse:
    """The gradient of an activation at x for an upstream gradient dy (JSON or .npy in, JSON or .npy out)."""
    settings: Settings = request.app.state.settings
    name = request.path_params["name"]
    if name != CUSTOM:
        name = REGISTRY.get(name).name
    in_format = request_format(request.headers.get("content-type"))
    accept = request.headers.get("accept")
    response_format(accept)
    body = await read_body(request, settings.max_body_bytes)
    query = list(request.query_params.multi_items()) if in_format == "npy" else []
    if len(body) <= INLINE_BODY_BYTES:
        return gradient_response(name, body, in_format, accept, query, settings)
    return await run_off_loop(gradient_response, name, body, in_format, accept, query, settings)


def gradient_response(
    name: str, body: bytes, in_format: BodyFormat, accept: str | None, query: list[tuple[str, str]], settings: Settings
) -> BytesResponse:
    if in_format == "json":
        decoded, dy = _decode_json(body, settings)
    else:
        decoded = decode_npy_request(body, query, settings)
        dy = _query_dy(decoded.params.pop("dy", None), decoded.dtype, settings)
    del body
    dtype = decoded.dtype
    out_format = response_format(accept, npy=dtype != "bfloat16")
    try:
        activation, params, dx = _compute(name, decoded, dy)
    except ServiceError as exc:
        raise _located(exc, decoded) from None
    headers = tensor_headers(dx, dtype)
    if out_format == "npy":
        return BytesResponse(encode_npy(dx), NPY_TYPE.encode(), headers)
    head = orjson.dumps({"activation": activation, "params": params, "dtype": dtype, "shape": list(dx.shape)})
    return BytesResponse(head[:-1] + b',"dx":' + encode_json_tensor(dx) + b"}", JSON_TYPE.encode(), headers)


def _compute(name: str, decoded: ActivationRequest, dy: np.ndarray | None) -> tuple[str, dict[str, object], np.ndarray]:
    if name != CUSTOM:
        result = evaluate_gradient(name, decoded.x, dy, decoded.params, decoded.dtype)
        return result.spec.name, result.params, result.dx
    expression = custom_expression(decoded.params)
    found = evaluate_expression_gradient(expression, decoded.x, dy, decoded.dtype)
    return CUSTOM, {"expression": expression}, found.values


def _decode_json(body: bytes, settings: Settings) -> tuple[ActivationRequest, np.ndarray | None]:
    check_json_element_budget(body, settings.max_elements)
    document = parse_json_body(body)
    if "x" not in document:
        msg = "The body must carry the tensor as 'x'"
        raise InvalidBody(msg, [ErrorItem(("body", "x"), "field required")])
    params = {key: value for key, value in document.items() if key not in ("x", "dy", "dtype")}
    dtype = _dtype_name(document.get("dtype", DEFAULT_DTYPE), "body")

    def tensor(field: str) -> np.ndarray:
        return decode_json_tensor(
            document[field],
            dtype=DTYPES[dtype],
            max_elements=settings.max_elements,
            max_rank=settings.max_rank,
            loc=("body", field),
            body=body,
            document=document,
        )

    x = tensor("x")
    dy = tensor("dy") if document.get("dy") is not None else None
    return ActivationRequest(x=x, dtype=dtype, params=params, source="body"), dy


def _query_dy(value: object, dtype: str, settings: Settings) -> np.ndarray | None:
    """dy of an npy request, from the query string (JSON syntax): a number or a small nested array.

    The tensor limits are the settings' (a query string is small anyway: the server bounds it).
    """
    if value is None:
        return None
    try:
        return decode_json_tensor(
            value,
            dtype=DTYPES[dtype],
            max_elements=settings.max_elements,
            max_rank=settings.max_rank,
            loc=("query", "dy"),
        )
    except ServiceError as exc:
        exc.errors = tuple(ErrorItem(("query", "dy", *item.loc[2:]), item.msg) for item in exc.errors)
        raise


def _located(exc: ServiceError, request: ActivationRequest) -> ServiceError:
    """Error locations as /activate gives them (`body.x`, `query.alpha`), and dy where it was sent."""

    def locate(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
        if loc[:1] == ("dy",):
            return (request.source, *loc)
        if request.source == "query" and isinstance(exc, InvalidTensor):
            return ("body", *loc[1:])
        return (request.source, *loc)

    exc.errors = tuple(ErrorItem(locate(item.loc), item.msg) for item in exc.errors)
    return exc
