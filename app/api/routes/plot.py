"""`GET /activations/{name}/plot.svg`: an activation's curve as an SVG image, for docs and notebooks.

The plot's own settings are declared query parameters (`x_min`, `x_max`, `points`, `derivative`,
`dtype`, `y_min`, `y_max`, `width`, `height`); every other query parameter is a parameter of the
activation, written as for `.npy` requests (JSON syntax: `alpha=0.1`, `approximate=true`,
`mask=[1,0]`, `expression="x*sigmoid(x)"` or the bare text for `expression`). The points are the
ones `POST /activate` computes (see `app.plots.curves`). The image depends only on the URL and the
service version, so it is cacheable: a strong ETag and a day of `Cache-Control`.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from app import __version__
from app.api.problems import PROBLEM_JSON
from app.errors import ErrorItem, InvalidParameter, ServiceError
from app.numerics.expressions import CUSTOM
from app.plots import activation_svg
from app.plots.curves import DEFAULT_POINTS, MAX_ABS_X, MAX_POINTS, MIN_POINTS, MIN_SPAN

router = APIRouter(tags=["explorer"])

SVG_MEDIA = "image/svg+xml"
PLOT_KEYS = frozenset({"x_min", "x_max", "points", "derivative", "dtype", "y_min", "y_max", "width", "height"})
# An SVG opened directly is a document: nothing in ours runs or loads anything, and this says so.
_HEADERS = {
    "Cache-Control": "public, max-age=86400",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}  # X-Content-Type-Options: nosniff comes with every response (app.api.security)

Bound = Annotated[float, Query(ge=-MAX_ABS_X, le=MAX_ABS_X, allow_inf_nan=False)]
OptionalBound = Annotated[float | None, Query(ge=-MAX_ABS_X, le=MAX_ABS_X, allow_inf_nan=False)]

_PLOT_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {SVG_MEDIA: {"schema": {"type": "string"}}}, "description": "The plot, a standalone SVG."},
    304: {"description": "Not modified (If-None-Match matched the ETag)."},
    404: {"content": {PROBLEM_JSON: {}}, "description": "Unknown activation."},
    422: {"content": {PROBLEM_JSON: {}}, "description": "An invalid plot setting or activation parameter."},
}


@router.api_route(
    "/activations/{name}/plot.svg",
    methods=["GET", "HEAD"],
    response_class=Response,
    responses=_PLOT_RESPONSES,
)
def read_activation_plot(
    request: Request,
    name: str,
    x_min: Bound = -5.0,
    x_max: Bound = 5.0,
    points: Annotated[int, Query(ge=MIN_POINTS, le=MAX_POINTS)] = DEFAULT_POINTS,
    derivative: bool = False,
    dtype: Literal["float16", "bfloat16", "float32", "float64"] = "float32",
    y_min: OptionalBound = None,
    y_max: OptionalBound = None,
    width: Annotated[int, Query(ge=240, le=2000)] = 640,
    height: Annotated[int, Query(ge=160, le=2000)] = 400,
) -> Response:
    """Plot an activation (and its derivative with `derivative=true`) as SVG; other query parameters are its own.

    Activation parameters use JSON syntax (`?alpha=0.1&approximate=true`); `name=custom` takes an
    `expression`. Axis-wise activations are drawn as the first element of the row [x, 0].
    """
    if not x_max - x_min >= MIN_SPAN:
        msg = f"'x_max' must exceed 'x_min' by at least {MIN_SPAN:g}, got x_min={x_min!r}, x_max={x_max!r}"
        raise _invalid("x_max", msg)
    if y_min is not None and y_max is not None and not y_max - y_min >= MIN_SPAN:
        msg = f"'y_max' must exceed 'y_min' by at least {MIN_SPAN:g}, got y_min={y_min!r}, y_max={y_max!r}"
        raise _invalid("y_max", msg)
    params = activation_query_params(request, name)
    y_range = (y_min, y_max)
    try:
        svg = activation_svg(
            name,
            params,
            x_range=(x_min, x_max),
            points=points,
            dtype=dtype,
            derivative=derivative,
            y_range=y_range,
            width=width,
            height=height,
        )
    except ServiceError as exc:
        exc.errors = tuple(ErrorItem(("query", *item.loc), item.msg) for item in exc.errors)
        raise
    body = svg.encode()
    etag = f'"{hashlib.sha256(__version__.encode() + body).hexdigest()[:32]}"'
    headers = {**_HEADERS, "ETag": etag}
    if etag in _if_none_match(request):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=SVG_MEDIA, headers=headers)


def activation_query_params(request: Request, name: str) -> dict[str, object]:
    """The query parameters that are not the plot's, as JSON values (`expression` may be bare text)."""
    grouped: dict[str, list[object]] = {}
    for key, text in request.query_params.multi_items():
        if key in PLOT_KEYS:
            continue
        if name == CUSTOM and key == "expression" and not text.startswith('"'):
            grouped.setdefault(key, []).append(text)  # `?expression=x*sigmoid(x)`, unquoted, as people write it
            continue
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            msg = (
                f"'{key[:40]}' must be written in JSON syntax (a number, true/false, null, an array), got {text[:40]!r}"
            )
            raise _invalid(key, msg) from None
        grouped.setdefault(key, []).append(value)
    # A repeated key is a list, as for .npy requests (`?axis=0&axis=1`).
    params = {key: values[0] if len(values) == 1 else values for key, values in grouped.items()}
    return params


def _if_none_match(request: Request) -> list[str]:
    header = request.headers.get("if-none-match", "")
    return [tag.strip().removeprefix("W/") for tag in header.split(",")]


def _invalid(key: str, msg: str) -> InvalidParameter:
    return InvalidParameter(msg, [ErrorItem(("query", key), msg)])
