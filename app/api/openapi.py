"""The OpenAPI document: FastAPI's routes plus the tensor endpoints, generated from the registry.

`POST /activate/{name}`, `POST /gradient/{name}` and the KServe v2 infer routes are plain
Starlette endpoints served ahead of FastAPI (SPEC section 6), so FastAPI cannot describe them.
This module adds them: one path per catalogue entry (`/activate/relu`, `/gradient/relu`, ...,
and `custom`), whose JSON request schema lists exactly that entry's parameters with their types,
defaults and constraints, the `.npy` variant (the body is the tensor, the parameters are query
parameters), both response formats with `X-Shape`/`X-Dtype`/`X-Request-ID`, and every error as
RFC 9457 problem details; KServe v2 paths with the protocol's schemas. Aliases are not paths of
their own: each is documented in its canonical entry (they answer identically).

The document does not depend on the settings: 401 (only when an API key is configured) and 503
(admission control) are documented everywhere they can happen, and the security schemes are
optional. Examples are computed by the numeric core when the document is built, never typed in.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app import __version__
from app.api.problems import PROBLEM_JSON, PROBLEM_TYPES
from app.api.routes.v2 import MODEL_VERSION
from app.codecs.json_tensor import encode_json_tensor
from app.codecs.v2_tensor import V2_DATATYPES
from app.errors import ErrorItem, NotFound, ServiceError
from app.numerics import DTYPES, REGISTRY, ActivationSpec, evaluate, evaluate_gradient
from app.numerics.dtypes import DEFAULT_DTYPE
from app.numerics.expressions import (
    CUSTOM,
    CUSTOM_SUMMARY,
    GRAMMAR,
    MAX_LENGTH,
    evaluate_expression,
    evaluate_expression_gradient,
)
from app.numerics.params import ParamSpec

JSON = "application/json"
NPY = "application/x-npy"
OCTET_STREAM = "application/octet-stream"
Schema = dict[str, Any]

TITLE = "Activation service"
DESCRIPTION = """\
Keras-exact activation functions over HTTP: every `tf.keras.activations` function and the Keras
activation layers, in float16, bfloat16, float32 and float64, each result rounded once from a
wider computation.

**One path per activation.** `POST /activate/{name}` and `POST /gradient/{name}` are documented
once per catalogue entry (`/activate/relu`, `/activate/softmax`, ..., `/activate/custom`), so each
request schema lists exactly that activation's parameters. Aliases (`silu` for `swish`,
`hard_swish` for `hard_silu`, and parameter aliases such as `negative_slope` for relu's `alpha`)
are documented in their canonical entry: `POST /activate/silu` answers exactly as
`POST /activate/swish`, naming `swish`. `GET /activations` lists the same catalogue.

**Bodies.** JSON (`application/json`, also assumed without a `Content-Type`): the tensor `x` (a
number or a rectangular nested array; non-finite elements as the strings `"NaN"`, `"Infinity"`,
`"-Infinity"`), `dtype`, and the parameters beside them. Binary (`application/x-npy`): the body is
a `.npy` file (never unpickled) and the parameters are query parameters in JSON syntax (`?alpha=0.1`,
`?axis=0&axis=1` for a list, `?mask=[[1,0,1]]`). `Accept: application/x-npy` returns the result
as `.npy` whatever the request's format (not for bfloat16, which npy cannot carry: 406). Request
bodies may be gzip or deflate compressed; responses are gzip-compressed when accepted. JSON
Schema cannot say that `x` is rectangular, that an `axis` lies within the rank of `x`, that glu's
axis has an even length or that PReLU's `alpha`, Softmax's `mask` and `dy` broadcast to the
tensor: the descriptions say so, and such a request is a 422 naming the offending place.

**Errors** are RFC 9457 problem details (`application/problem+json`) with a relative `type` URI
per kind, explained at that path (`GET /problems/{kind}`), and `errors[].loc`, the full path to
the offending element. Under `/v2` errors are the protocol's `{"error": "..."}` instead. 401 is
only answered when the service has an API key configured (`ACTIVATIONS_API_KEY`); send it as
`X-API-Key` or `Authorization: Bearer`. 503 is admission control (too much work in flight, with
`Retry-After`) or a request past the compute deadline. No client input gives a 500.

`HEAD` works on every `GET` route (not listed separately). Every answer carries `X-Request-ID`.

**KServe v2 / Open Inference Protocol** under `/v2`: every catalogue entry (aliases included) is a
model with the one version "1"; the input tensor is `x`, PReLU's `alpha` and Softmax's `mask` are
further inputs, scalar parameters are request `parameters`, the output is `y`; the binary tensor
data extension both ways.
"""

TAGS = [
    {"name": "activate", "description": "Compute an activation: one path per catalogue entry."},
    {"name": "gradient", "description": "The vector-Jacobian product of an activation: one path per entry."},
    {"name": "catalogue", "description": "The catalogue: names, parameters, formulas, differences from TensorFlow."},
    {"name": "kserve-v2", "description": "KServe v2 / Open Inference Protocol: every catalogue entry is a model."},
    {"name": "health", "description": "Liveness and readiness probes."},
    {"name": "problems", "description": "The explanation behind each problem `type` URI."},
    {"name": "operations", "description": "Prometheus metrics."},
]

# Statuses answered by every route of the API that requires the key, and by the compute routes.
_UNAUTHORIZED = "Missing or wrong API key: only when an API key is configured (`WWW-Authenticate: Bearer`)."
_OVERLOADED = (
    "Admission control: too much work in flight (retry after `Retry-After` seconds), "
    "or the request passed the compute deadline."
)
# Routes that never ask for the API key (SPEC section 7).
_PUBLIC_PATHS = ("/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready")

# The example tensor: rank 2 so that every entry takes it (softmax needs a batch dimension), an
# even last axis for glu.
_EXAMPLE_X: list[list[float]] = [[-2.0, -0.5, 0.5, 2.0]]


# --------------------------------------------------------------------------------------------
# Entry point


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` (and so `/openapi.json`, `/docs`, `/redoc`) serve the full document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The whole document for `app`: its FastAPI routes, then the tensor endpoints from the registry."""
    with warnings.catch_warnings():
        # GET+HEAD routes share one operation id; HEAD operations are dropped just below.
        warnings.filterwarnings("ignore", message="Duplicate Operation ID", category=UserWarning)
        document = get_openapi(title=TITLE, version=__version__, description=DESCRIPTION, routes=app.routes, tags=TAGS)
    paths: dict[str, Any] = document.setdefault("paths", {})
    for path, item in paths.items():
        _refine_fastapi_path(path, item)
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    # FastAPI's validation errors never reach a client as such: they are problem+json (422).
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas.update(_shared_schemas())
    document["components"]["responses"] = _shared_responses()
    document["components"]["headers"] = _HEADERS
    for spec in REGISTRY:
        for kind in ("activate", "gradient"):
            schemas[_request_name(kind, spec.name)] = _request_schema(spec, kind)
            schemas[_response_name(kind, spec.name)] = _response_schema(spec, kind)
            paths[f"/{kind}/{spec.name}"] = _tensor_path(spec, kind)
    for kind in ("activate", "gradient"):
        schemas[_request_name(kind, CUSTOM)] = _custom_request_schema(kind)
        schemas[_response_name(kind, CUSTOM)] = _custom_response_schema(kind)
        paths[f"/{kind}/{CUSTOM}"] = _custom_path(kind)
    paths.update(_v2_infer_paths())
    _refine_v2_metadata(paths)
    document["components"]["securitySchemes"] = {
        "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        "BearerAuth": {"type": "http", "scheme": "bearer"},
    }
    # Optional: the empty requirement means "no key", which is how the service runs by default.
    document["security"] = [{}, {"ApiKeyHeader": []}, {"BearerAuth": []}]
    document["paths"] = dict(sorted(paths.items(), key=lambda item: _path_order(item[0])))
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    return document


def _path_order(path: str) -> tuple[int, int, str]:
    """Tensor endpoints first, their entries in catalogue order (functions, layers, custom), then the rest."""
    prefixes = ("/activate/", "/gradient/", "/activations", "/v2", "/healthz", "/readyz", "/problems/", "/metrics")
    catalogue = [*(spec.name for spec in REGISTRY), CUSTOM]
    for rank, prefix in enumerate(prefixes):
        if path.startswith(prefix):
            name = path.removeprefix(prefix)
            return rank, catalogue.index(name) if rank < 2 and name in catalogue else 0, path
    return len(prefixes), 0, path


# --------------------------------------------------------------------------------------------
# Shared schemas and responses


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _shared_schemas() -> dict[str, Schema]:
    nonfinite = {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}
    return {
        "Element": {
            "description": (
                "A tensor element: a JSON number (beyond the float64 range: +-Infinity), or a non-finite value as "
                'one of the strings "NaN", "Infinity", "-Infinity" (also "inf", "-inf", "nan" in any case; the '
                "bare tokens NaN, Infinity, -Infinity are read too)."
            ),
            "anyOf": [{"type": "number"}, nonfinite],
        },
        "Tensor": _nested(
            _ref("Element"),
            "A number (shape []) or a rectangular nested array of numbers: every array at one depth has the "
            "same length (a ragged array is a 422). Rank at most 32 (ACTIVATIONS_MAX_RANK).",
        ),
        "ResultElement": {
            "description": (
                "A result element in the shortest form that reads back to the same value of the dtype; "
                'non-finite values are the strings "NaN", "Infinity", "-Infinity" (strict JSON).'
            ),
            "anyOf": [{"type": "number"}, nonfinite],
        },
        "ResultTensor": _nested(
            _ref("ResultElement"),
            "The result, nested like `shape` (a zero-length axis hides the axes after it).",
            # x may wrap a Tensor in the arrays its activation requires (softmax: two).
            SPELLED_OUT_RANK + max(_rank_floor(spec) for spec in REGISTRY),
        ),
        "NumberTensor": _nested(
            {"type": "number"}, "A finite number or a rectangular nested array of finite numbers (no booleans)."
        ),
        "MaskTensor": _nested(
            {"anyOf": [{"type": "boolean"}, {"type": "integer", "enum": [0, 1]}]},
            "0/1 or booleans, or a rectangular nested array of them; 0 (false) masks a position.",
        ),
        "Dtype": {
            "type": "string",
            "enum": list(DTYPES),
            "default": DEFAULT_DTYPE,
            "description": "The dtype x is rounded to and the result has.",
        },
        "QueryDtype": {
            "type": "string",
            "enum": list(DTYPES),
            "description": "The dtype of an npy request (default: the array's own, float32 for integers).",
        },
        "Shape": {
            "type": "array",
            "items": {"type": "integer", "minimum": 0},
            "description": "The shape of the result.",
        },
        "ProblemError": {
            "type": "object",
            "required": ["loc", "msg"],
            "properties": {
                "loc": {
                    "type": "array",
                    "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    "description": "Full path to the offending place: `body` or `query`, the field, then indices.",
                },
                "msg": {"type": "string"},
            },
        },
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details.",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {
                    "type": "string",
                    "description": "A relative URI, one per kind of error, explained at that path "
                    f"({', '.join(f'/problems/{kind}' for kind in PROBLEM_TYPES)}).",
                    "pattern": "^/problems/[a-z0-9-]+$",
                },
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "errors": {"type": "array", "items": _ref("ProblemError")},
            },
        },
        "V2Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}},
            "description": "A KServe v2 error.",
        },
        **_v2_schemas(),
    }


# Nested arrays are spelled out to this rank: recursive schemas defeat common tools (the spec
# validator recurses forever, client generators give up, and 32 levels make a client of 77 MB).
# The service takes up to ACTIVATIONS_MAX_RANK (32) levels; the descriptions say so.
SPELLED_OUT_RANK = 8


def _nested(element: Schema, description: str, rank: int = SPELLED_OUT_RANK) -> Schema:
    """`element` or arrays of it nested up to `rank` levels, without a recursive reference."""
    level: Schema = {"type": "array", "items": element}
    for _ in range(rank - 1):
        level = {"type": "array", "items": {"anyOf": [element, level]}}
    return {
        "description": f"{description} The schema spells out ranks up to {rank}.",
        "anyOf": [element, level],
    }


_HEADERS: dict[str, Schema] = {
    "X-Request-ID": {
        "description": "The request's X-Request-ID, echoed, or one generated for it.",
        "schema": {"type": "string"},
    },
    "X-Shape": {
        "description": "The result's shape, comma-separated (`2,3`; empty for a scalar).",
        "schema": {"type": "string", "pattern": "^([0-9]+(,[0-9]+)*)?$"},
    },
    "X-Dtype": {"description": "The result's dtype.", "schema": {"type": "string", "enum": list(DTYPES)}},
    "Allow": {"description": "The methods the route allows.", "schema": {"type": "string"}},
    "WWW-Authenticate": {"description": "`Bearer`.", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}},
}


def _headers(*names: str) -> dict[str, Schema]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in ("X-Request-ID", *names)}


def _status_description(status: int, fallback: str) -> str:
    """The kinds of problem answered with `status`, from the problem table (the one source)."""
    kinds = [(kind, title, text) for kind, (code, title, text) in PROBLEM_TYPES.items() if code == status]
    if not kinds:
        return fallback
    return " ".join(f"`/problems/{kind}`: {title}. {text}" for kind, title, text in kinds)


def _problem(status: int, example: dict[str, Any] | None = None) -> Schema:
    """A problem+json response for `status`; `example` is a whole problem (default: a generic one)."""
    if example is None:
        kind = _GENERIC_KINDS.get(status) or next(k for k, (code, _, _) in PROBLEM_TYPES.items() if code == status)
        example = _problem_example(status, kind, _GENERIC_DETAILS[status])
    extra = {401: ("WWW-Authenticate",), 405: ("Allow",), 503: ("Retry-After",)}.get(status, ())
    return {
        "description": _status_description(status, _FALLBACKS.get(status, "")),
        "headers": _headers(*extra),
        "content": {PROBLEM_JSON: {"schema": _ref("Problem"), "example": example}},
    }


def _problem_example(status: int, kind: str, detail: str, errors: Sequence[ErrorItem] = ()) -> dict[str, Any]:
    """The body the service answers for this problem (as `app.api.problems.problem_response` writes it)."""
    title = PROBLEM_TYPES[kind][1] if kind in PROBLEM_TYPES else _GENERIC_TITLES[status]
    example: dict[str, Any] = {"type": f"/problems/{kind}", "title": title, "status": status, "detail": detail}
    if errors:
        example["errors"] = [{"loc": list(item.loc), "msg": item.msg} for item in errors]
    return example


def _error_responses(statuses: Iterable[int], examples: dict[int, dict[str, Any]]) -> Schema:
    """Problem responses for `statuses`: shared ones by reference, those with an example of their own inline."""
    return {
        str(status): _problem(status, examples[status])
        if status in examples
        else {"$ref": f"#/components/responses/Problem{status}"}
        for status in statuses
    }


def _shared_responses() -> dict[str, Schema]:
    responses = {f"Problem{status}": _problem(status) for status in _GENERIC_DETAILS}
    # uvicorn answers a request it cannot parse (say, a request line over its limit) itself.
    responses["Problem400"]["description"] += " A request the HTTP server cannot parse gets its plain-text 400."
    responses["Problem400"]["content"]["text/plain"] = {"schema": {"type": "string"}}
    for status, text in _V2_ERRORS.items():
        responses[f"V2Error{status}"] = _v2_error(status, text)
    return responses


_FALLBACKS = {401: _UNAUTHORIZED, 503: _OVERLOADED}
# Kinds of the generic examples where a status has several, or none yet in the problem table.
_GENERIC_KINDS = {404: "not-found", 422: "invalid-tensor", 503: "overloaded"}
_GENERIC_TITLES = {503: "Service unavailable"}
_GENERIC_DETAILS = {
    400: "The body is not valid JSON: unexpected character at line 1 column 7.",
    401: "Missing or wrong API key: send it as X-API-Key or Authorization: Bearer.",
    404: "No route for GET /nothing; see /docs or GET /activations.",
    405: "PUT is not allowed on /activate/relu.",
    406: "Accept asks for text/csv; the service answers application/json or application/x-npy.",
    408: "The request body did not arrive within 60 s (ACTIVATIONS_BODY_TIMEOUT_S).",
    413: "The request body exceeds the limit of 268435456 bytes (ACTIVATIONS_MAX_BODY_BYTES).",
    415: "Content-Type text/plain is not supported; send application/json or application/x-npy.",
    422: "'x' must be a number or a rectangular nested array of numbers.",
    500: "An unexpected error occurred; it has been logged.",
    503: "Too much work in flight; retry later.",
}


# --------------------------------------------------------------------------------------------
# Per-activation schemas


def _schema_suffix(name: str) -> str:
    """`relu`, but `ReLULayer`: the layers' class names differ from functions' only in case, which
    generated clients (PascalCase models, snake_case modules: `activate_softmax` for both softmax
    and Softmax) would otherwise merge. Used in schema names and operation ids."""
    return name if name == name.lower() else f"{name}Layer"


def _request_name(kind: str, name: str) -> str:
    return f"{'Activate' if kind == 'activate' else 'Gradient'}Request_{_schema_suffix(name)}"


def _response_name(kind: str, name: str) -> str:
    return f"{'Activate' if kind == 'activate' else 'Gradient'}Response_{_schema_suffix(name)}"


def _rank_floor(spec: ActivationSpec) -> int:
    """The smallest rank of x the entry accepts: its own minimum, at least 1 where it has an axis."""
    has_axis = any(param.kind in ("axis", "axes") for param in spec.params)
    return max(spec.min_rank, 1 if has_axis else 0)


def _x_schema(rank_floor: int) -> Schema:
    """x as a JSON Schema: `rank_floor` levels of arrays (non-empty but the innermost) around a Tensor."""
    schema: Schema = _ref("Tensor")
    for level in range(rank_floor):
        schema = {"type": "array", "items": schema}
        if level > 0:  # every array but the innermost holds one at least, or the rank would be lower
            schema["minItems"] = 1
    if rank_floor:
        schema = {**schema, "description": f"The tensor, rank {rank_floor} or more."}
    else:
        schema = {"allOf": [_ref("Tensor")], "description": "The tensor: a number or a nested array."}
    return schema


def _param_schema(param: ParamSpec) -> Schema:
    """One parameter as a JSON Schema: type, default, constraints, description."""
    schema: Schema
    if param.kind == "number":
        schema = {"type": "number"}
    elif param.kind == "optional_number":
        schema = {"type": ["number", "null"]}
    elif param.kind == "boolean":
        schema = {"type": "boolean"}
    elif param.kind == "axis":
        schema = {"type": "integer"}
    elif param.kind == "axes":
        schema = {
            "anyOf": [
                {"type": "integer"},
                {"type": "array", "items": {"type": "integer"}, "minItems": 1, "uniqueItems": True},
            ]
        }
    elif param.kind == "tensor":
        schema = {"allOf": [_ref("NumberTensor")]}
    else:
        schema = {"anyOf": [_ref("MaskTensor"), {"type": "null"}]}
    if param.ge is not None:
        schema["minimum"] = param.ge
    if param.nonzero:
        schema["not"] = {"const": 0}
    if not param.required:
        schema["default"] = param.default
    constraints = "; ".join(param.constraints)
    schema["description"] = f"{param.description} ({constraints})" if constraints else param.description
    return schema


def _params_properties(spec: ActivationSpec) -> tuple[dict[str, Schema], list[str], list[Schema]]:
    """Properties (aliases included), required names, and `not both` rules for aliased parameters."""
    properties: dict[str, Schema] = {}
    required: list[str] = []
    exclusive: list[Schema] = []
    for param in spec.params:
        properties[param.name] = _param_schema(param)
        if param.required:
            required.append(param.name)
        for alias in param.aliases:
            alias_schema = {**_param_schema(param), "description": f"Alias of `{param.name}`; send one of them."}
            alias_schema.pop("default", None)
            properties[alias] = alias_schema
            exclusive.append({"not": {"required": [param.name, alias]}})
    return properties, required, exclusive


def _request_schema(spec: ActivationSpec, kind: str) -> Schema:
    properties, required, exclusive = _params_properties(spec)
    body: dict[str, Schema] = {"x": _x_schema(_rank_floor(spec)), "dtype": _ref("Dtype")}
    if kind == "gradient":
        body["dy"] = _dy_schema()
    schema: Schema = {
        "type": "object",
        "title": _request_name(kind, spec.name),
        "description": f"The body of `POST /{kind}/{spec.name}`: the tensor and {spec.name}'s parameters.",
        "required": ["x", *required],
        "properties": {**body, **properties},
        # An unknown field is a 422 that names it (it would otherwise be a silent typo).
        "additionalProperties": False,
    }
    if exclusive:
        schema["allOf"] = exclusive
    return schema


def _dy_schema() -> Schema:
    return {
        "anyOf": [_ref("Tensor"), {"type": "null"}],
        "default": None,
        "description": (
            "The upstream gradient: the shape of the activation's result (glu: half the split axis) or "
            "broadcastable to it; null or absent: ones."
        ),
    }


def _echo_schema(spec: ActivationSpec) -> Schema:
    properties = {
        param.name: {k: v for k, v in _param_schema(param).items() if k != "default"} for param in spec.params
    }
    return {
        "type": "object",
        "description": (
            "The effective parameters under their canonical names, defaults filled, axes and tensors as sent."
        ),
        "required": [param.name for param in spec.params],
        "properties": properties,
        "additionalProperties": False,
    }


def _response_schema(spec: ActivationSpec, kind: str) -> Schema:
    return _result_schema(_response_name(kind, spec.name), spec.name, _echo_schema(spec), kind)


def _result_schema(title: str, name: str, params: Schema, kind: str) -> Schema:
    field = "y" if kind == "activate" else "dx"
    what = "The result." if kind == "activate" else "The gradient dx = dy^T J(x), the shape of x."
    return {
        "type": "object",
        "title": title,
        "required": ["activation", "params", "dtype", "shape", field],
        "properties": {
            "activation": {"type": "string", "const": name, "description": "The canonical name."},
            "params": params,
            "dtype": _ref("Dtype"),
            "shape": _ref("Shape"),
            field: {"allOf": [_ref("ResultTensor")], "description": what},
        },
    }


def _custom_request_schema(kind: str) -> Schema:
    schema = _request_schema(_CUSTOM_SPEC, kind)
    schema["properties"]["expression"] = _expression_schema()
    schema["required"] = ["x", "expression"]
    return schema


def _custom_response_schema(kind: str) -> Schema:
    params = {
        "type": "object",
        "required": ["expression"],
        "properties": {"expression": {"type": "string"}},
        "additionalProperties": False,
    }
    return _result_schema(_response_name(kind, CUSTOM), CUSTOM, params, kind)


def _expression_schema() -> Schema:
    return {
        "type": "string",
        "maxLength": MAX_LENGTH,
        "description": f"The activation as an expression in x. Grammar: {GRAMMAR}",
        "examples": ["x * sigmoid(1.702 * x)"],
    }


# A stand-in entry for the schema helpers: custom takes x and its `expression` only.
_CUSTOM_SPEC = ActivationSpec(CUSTOM, lambda x: x, CUSTOM_SUMMARY, "expression", "")


# --------------------------------------------------------------------------------------------
# Per-activation paths


def _example_params(spec: ActivationSpec) -> dict[str, object]:
    """Parameters other than the defaults, each within its constraints, for the second example."""
    out: dict[str, object] = {}
    for param in spec.params:
        if param.kind in ("number", "optional_number"):
            default = param.default
            out[param.name] = 6.0 if default is None else (0.1 if default == 0 else float(default) / 2)  # type: ignore[arg-type]
        elif param.kind == "boolean":
            out[param.name] = not param.default
        elif param.kind == "axes":
            out[param.name] = [0, 1]
        elif param.kind == "tensor":
            out[param.name] = [[0.1, 0.2, 0.3, 0.4]]
        elif param.kind == "mask":
            out[param.name] = [[1, 1, 0, 1]]
    return out


def _required_params(spec: ActivationSpec) -> dict[str, object]:
    return {param.name: 0.0 for param in spec.params if param.required}


def _computed(kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """The response the service gives for `body`, computed by the numeric core now."""
    x = body["x"]
    params = {key: value for key, value in body.items() if key not in ("x", "dy", "dtype")}
    array = np.asarray(x, dtype=np.float64)
    if name == CUSTOM:
        expression = str(params["expression"])
        values = (
            evaluate_expression(expression, array, DEFAULT_DTYPE).values
            if kind == "activate"
            else evaluate_expression_gradient(expression, array, None, DEFAULT_DTYPE).values
        )
        activation, echo = CUSTOM, dict[str, object](expression=expression)
    elif kind == "activate":
        result = evaluate(name, array, params, DEFAULT_DTYPE)
        activation, echo, values = result.spec.name, result.params, result.y
    else:
        found = evaluate_gradient(name, array, None, params, DEFAULT_DTYPE)
        activation, echo, values = found.spec.name, found.params, found.dx
    return {
        "activation": activation,
        "params": echo,
        "dtype": DEFAULT_DTYPE,
        "shape": list(values.shape),
        "y" if kind == "activate" else "dx": orjson.loads(encode_json_tensor(values)),
    }


def _request_examples(spec: ActivationSpec, kind: str) -> dict[str, Any]:
    base = {"x": copy.deepcopy(_EXAMPLE_X), **_required_params(spec)}
    examples = {"defaults": {"summary": "The parameters' defaults", "value": base}}
    tuned = _example_params(spec)
    if tuned:
        examples["parameters"] = {"summary": "With parameters", "value": {**base, **tuned}}
    return examples


def _tensor_path(spec: ActivationSpec, kind: str) -> dict[str, Any]:
    examples = _request_examples(spec, kind)
    response_examples = {
        key: {"summary": example["summary"], "value": _computed(kind, spec.name, example["value"])}
        for key, example in examples.items()
    }
    verb = "Compute" if kind == "activate" else "The gradient of"
    aliases = ", ".join(f"`{alias}`" for alias in spec.aliases)
    lines = [
        f"**{spec.summary}** `{spec.formula}`",
        "",
        f"Keras: `{spec.keras_reference}`.",
    ]
    if kind == "gradient":
        lines += [
            "",
            "Returns `dx`, the vector-Jacobian product for the upstream gradient `dy` (default ones), "
            "with TensorFlow's registered gradients at kinks.",
        ]
    if aliases:
        lines += ["", f"Aliases: {aliases} (`POST /{kind}/{spec.aliases[0]}` answers the same, naming `{spec.name}`)."]
    param_aliases = [(alias, param.name) for param in spec.params for alias in param.aliases]
    if param_aliases:
        pairs = ", ".join(f"`{alias}` for `{name}`" for alias, name in param_aliases)
        lines += ["", f"Parameter aliases: {pairs} (both given: 422)."]
    if _rank_floor(spec):
        lines += ["", f"x must have rank {_rank_floor(spec)} or more; every axis must lie within its rank."]
    if spec.precondition is not None:
        lines += ["", "glu: the split axis must have an even length."]
    if spec.tf_differences:
        lines += ["", "Differences from TensorFlow:", *(f"- {text}" for text in spec.tf_differences)]
    return {
        "post": _operation(
            kind,
            spec.name,
            f"{verb} {spec.name}",
            "\n".join(lines),
            [_query_param(param) for param in spec.params] + _npy_query_params(spec.params, kind),
            examples,
            response_examples,
        )
    }


def _custom_path(kind: str) -> dict[str, Any]:
    examples: dict[str, dict[str, Any]] = {
        "gelu-like": {
            "summary": "A sigmoid-gated unit",
            "value": {"x": copy.deepcopy(_EXAMPLE_X), "expression": "x * sigmoid(1.702 * x)"},
        },
        "leaky": {
            "summary": "A catalogue entry with a parameter, composed",
            "value": {"x": copy.deepcopy(_EXAMPLE_X), "expression": "where(x > 0, x, relu(x, alpha=0.1) * 2)"},
        },
    }
    response_examples = {
        key: {"summary": example["summary"], "value": _computed(kind, CUSTOM, example["value"])}
        for key, example in examples.items()
    }
    text = (
        f"**{CUSTOM_SUMMARY}** The expression is parsed into a whitelisted tree (never `eval`), at most "
        f"{MAX_LENGTH} characters; anything else is a 422 pointing at the offending position.\n\nGrammar: {GRAMMAR}"
    )
    expression = {
        "name": "expression",
        "in": "query",
        "required": False,
        "description": "The expression, for `application/x-npy` bodies (required then; JSON bodies carry it).",
        "schema": {"type": "string", "maxLength": MAX_LENGTH},
    }
    verb = "Compute" if kind == "activate" else "The gradient of"
    return {
        "post": _operation(
            kind,
            CUSTOM,
            f"{verb} a custom expression",
            text,
            [expression, *_npy_query_params((), kind)],
            examples,
            response_examples,
        )
    }


def _query_param(param: ParamSpec) -> dict[str, Any]:
    """A parameter of an npy request: JSON syntax in the query string, lists as repeated keys."""
    description = f"For `application/x-npy` bodies (JSON bodies carry it in the body): {param.description}"
    if param.kind in ("tensor", "mask"):
        # JSON text in the query string (`mask=[[1,0,1]]`): a parameter with a JSON media type.
        schema = _param_schema(param)
        schema.pop("description", None)
        return {
            "name": param.name,
            "in": "query",
            "required": False,
            "description": description,
            "content": {JSON: {"schema": schema}},
        }
    schema = _param_schema(param)
    schema.pop("description", None)
    if param.kind == "optional_number":
        schema["type"] = "number"  # null has no query form: leave the parameter out
        schema.pop("default", None)
    query: dict[str, Any] = {
        "name": param.name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }
    if param.kind == "axes":
        query["style"], query["explode"] = "form", True
    return query


def _npy_query_params(params: Iterable[ParamSpec], kind: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "name": "dtype",
            "in": "query",
            "required": False,
            "description": "For `application/x-npy` bodies: the dtype to compute in (default: the array's own; "
            "integer arrays give float32).",
            "schema": _ref("QueryDtype"),
        }
    ]
    if kind == "gradient":
        out.append(
            {
                "name": "dy",
                "in": "query",
                "required": False,
                "description": "For `application/x-npy` bodies: the upstream gradient as JSON text (`0.5`, "
                "`[[1,0,2]]`), broadcastable to the result; send a large one as JSON.",
                "content": {JSON: {"schema": _ref("NumberTensor")}},
            }
        )
    return out


def _operation(
    kind: str,
    name: str,
    summary: str,
    description: str,
    parameters: list[dict[str, Any]],
    examples: dict[str, Any],
    response_examples: dict[str, Any],
) -> dict[str, Any]:
    field = "y" if kind == "activate" else "dx"
    return {
        "tags": [kind],
        "summary": summary,
        "description": description,
        "operationId": f"{kind}_{_schema_suffix(name)}",
        "parameters": parameters,
        "requestBody": {
            "required": True,
            "content": {
                JSON: {"schema": _ref(_request_name(kind, name)), "examples": examples},
                NPY: {
                    "schema": {
                        "type": "string",
                        "format": "binary",
                        "description": "A .npy file (versions 1 to 3; never unpickled): x itself, parameters "
                        "in the query.",
                    }
                },
            },
        },
        "responses": {
            "200": {
                "description": f"The result: JSON, or with `Accept: {NPY}` a .npy file holding `{field}`.",
                "headers": _headers("X-Shape", "X-Dtype"),
                "content": {
                    JSON: {"schema": _ref(_response_name(kind, name)), "examples": response_examples},
                    NPY: {"schema": {"type": "string", "format": "binary"}},
                },
            },
            **_error_responses((400, 401, 406, 408, 413, 415, 422, 500, 503), _tensor_error_examples(name)),
        },
    }


def _tensor_error_examples(name: str) -> dict[int, dict[str, Any]]:
    """The 422 the core gives for a typical mistake with this entry: rank 1 where it needs a batch,
    else a string for its first parameter, else a parameter it does not have."""
    spec = REGISTRY.find(name)
    if spec is None:
        return {}
    if spec.min_rank >= 2:
        x, params = np.array([1.0, 2.0]), {}
    elif spec.params:
        x, params = np.array([1.0]), _required_params(spec) | {spec.params[0].name: "a"}
    else:
        x, params = np.array([1.0]), {"alpha": 0.1}
    try:
        evaluate(name, x, params)
    except ServiceError as exc:
        errors = [ErrorItem(("body", *item.loc), item.msg) for item in exc.errors]
        return {422: _problem_example(exc.status, exc.kind, exc.detail, errors)}
    raise AssertionError(f"{name}: the example mistake was accepted")


# --------------------------------------------------------------------------------------------
# FastAPI's own routes


def operation_id(route: APIRoute) -> str:
    """FastAPI routes' operation ids: the handler's name (`read_activations`), what a generated client calls."""
    return route.name


def _refine_fastapi_path(path: str, item: dict[str, Any]) -> None:
    """Drop HEAD twins of GET operations (HEAD works on every GET route), document auth and errors."""
    if "get" in item:
        item.pop("head", None)
    for operation in item.values():
        responses: dict[str, Any] = operation.setdefault("responses", {})
        if any(parameter["in"] == "query" for parameter in operation.get("parameters", [])):
            responses["422"] = _problem(422)  # a query parameter out of its bounds (as a problem)
        else:
            responses.pop("422", None)  # path parameters are strings: FastAPI's validation never fails here
        for parameter in operation.get("parameters", []):
            _constrain_path_parameter(path, parameter)
        v2 = path == "/v2" or path.startswith("/v2/")
        if "{name}" in path or "{kind}" in path or "{version}" in path:
            responses["404"] = _response_ref("V2Error404") if v2 else _problem(404, _not_found_example(path))
        if path not in _PUBLIC_PATHS:
            responses["401"] = _response_ref("V2Error401" if v2 else "Problem401")
            operation["security"] = [{}, {"ApiKeyHeader": []}, {"BearerAuth": []}]
        else:
            operation["security"] = [{}]
        for response in responses.values():
            if "$ref" not in response:
                response.setdefault("headers", {}).setdefault("X-Request-ID", _headers()["X-Request-ID"])


def _response_ref(name: str) -> Schema:
    return {"$ref": f"#/components/responses/{name}"}


def _not_found_example(path: str) -> dict[str, Any]:
    """The 404 of a GET route with a name in its path, as the service answers it."""
    try:
        if path.startswith("/activations"):
            REGISTRY.get("rleu")
        raise NotFound(f"No problem type 'nope'; known: {', '.join(PROBLEM_TYPES)}.")
    except ServiceError as exc:
        return _problem_example(exc.status, exc.kind, exc.detail)


def _constrain_path_parameter(path: str, parameter: dict[str, Any]) -> None:
    """Path parameters as enums from their sources: the registry, the problem table, version "1"."""
    if parameter.get("in") != "path":
        return
    name = parameter["name"]
    if name == "name":
        names = [*REGISTRY.names, CUSTOM] if path.startswith("/activations") else REGISTRY.names
        parameter["schema"] = {"type": "string", "enum": names, "description": "A catalogue name or alias."}
    elif name == "kind":
        parameter["schema"] = {"type": "string", "enum": list(PROBLEM_TYPES)}
    elif name == "version":
        parameter["schema"] = {"type": "string", "enum": [MODEL_VERSION], "description": "Every model has version 1."}


# --------------------------------------------------------------------------------------------
# KServe v2


_V2_ERRORS = {
    400: "Any client error but those below (malformed body, invalid tensor or parameter), as Triton answers them.",
    401: _UNAUTHORIZED,
    404: "Unknown model or version.",
    408: "The request body did not arrive within ACTIVATIONS_BODY_TIMEOUT_S seconds; the connection is closed.",
    413: "The body or the tensor exceeds the limits.",
    500: "An unexpected fault (logged); never for client input.",
    503: _OVERLOADED,
}


def _v2_error(status: int, description: str) -> Schema:
    extra = {401: ("WWW-Authenticate",), 405: ("Allow",), 503: ("Retry-After",)}.get(status, ())
    return {
        "description": description,
        "headers": _headers(*extra),
        "content": {JSON: {"schema": _ref("V2Error"), "example": {"error": description}}},
    }


def _v2_schemas() -> dict[str, Schema]:
    datatypes = list(V2_DATATYPES)
    parameters = {
        "type": "object",
        "additionalProperties": {
            "anyOf": [
                {"type": "string"},
                {"type": "number"},
                {"type": "boolean"},
                {"type": "array", "items": {"type": "integer"}},
            ]
        },
    }
    return {
        "V2TensorMetadata": {
            "type": "object",
            "required": ["name", "datatype", "shape"],
            "properties": {
                "name": {"type": "string"},
                "datatype": {"type": "string", "enum": datatypes},
                "shape": {"type": "array", "items": {"type": "integer"}},
                "parameters": {"type": "object"},
            },
        },
        "V2ServerMetadata": {
            "type": "object",
            "required": ["name", "version", "extensions"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "extensions": {"type": "array", "items": {"type": "string"}},
            },
        },
        "V2ModelMetadata": {
            "type": "object",
            "required": ["name", "versions", "platform", "inputs", "outputs"],
            "properties": {
                "name": {"type": "string", "description": "The canonical name (`swish` for `silu`)."},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "summary": {"type": "string"},
                "formula": {"type": "string"},
                "inputs": {"type": "array", "items": _ref("V2TensorMetadata")},
                "outputs": {"type": "array", "items": _ref("V2TensorMetadata")},
                "aliases": {"type": "array", "items": {"type": "string"}},
                "activation_parameters": {"type": "array", "items": _ref("ParamInfo")},
            },
        },
        "V2Live": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
        "V2Ready": {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}},
        "V2ModelReady": {
            "type": "object",
            "required": ["name", "ready"],
            "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
        },
        "V2Parameters": {
            **parameters,
            "description": "Request parameters: the activation's scalar parameters "
            "(`axis` an integer or a list), and `binary_data_output`.",
        },
        "V2InputTensor": {
            "type": "object",
            "required": ["name", "shape", "datatype"],
            "properties": {
                "name": {
                    "type": "string",
                    "description": "`x`, or a tensor parameter (`alpha` of PReLU, `mask` of Softmax).",
                },
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                "datatype": {
                    "type": "string",
                    "enum": datatypes,
                    "description": "BF16 is binary only; BYTES is refused.",
                },
                "parameters": {
                    "type": "object",
                    "properties": {"binary_data_size": {"type": "integer", "minimum": 0}},
                    "description": "`binary_data_size`: the tensor's bytes follow the JSON header.",
                },
                "data": {
                    "description": "Row-major elements, flat or nested, as many as the shape says; absent with "
                    "binary data.",
                    "anyOf": [_ref("Tensor"), {"type": "array", "items": {"type": "boolean"}}],
                },
            },
        },
        "V2RequestedOutput": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "enum": ["y"]},
                "parameters": {"type": "object", "properties": {"binary_data": {"type": "boolean"}}},
            },
        },
        "V2InferRequest": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string", "description": "Echoed in the response."},
                "parameters": _ref("V2Parameters"),
                "inputs": {"type": "array", "items": _ref("V2InputTensor"), "minItems": 1},
                "outputs": {"type": "array", "items": _ref("V2RequestedOutput")},
            },
        },
        "V2OutputTensor": {
            "type": "object",
            "required": ["name", "shape", "datatype"],
            "properties": {
                "name": {"type": "string", "enum": ["y"]},
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                "datatype": {"type": "string", "enum": ["FP16", "BF16", "FP32", "FP64"]},
                "parameters": {"type": "object", "properties": {"binary_data_size": {"type": "integer"}}},
                "data": {
                    "type": "array",
                    "items": {"type": "number"},
                    "description": "Flat, row-major; non-finite values are the bare tokens NaN, Infinity, -Infinity.",
                },
            },
        },
        "V2InferResponse": {
            "type": "object",
            "required": ["model_name", "outputs"],
            "properties": {
                "model_name": {"type": "string", "description": "The canonical name."},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "outputs": {"type": "array", "items": _ref("V2OutputTensor")},
            },
        },
    }


_V2_RESPONSES = {
    "/v2": "V2ServerMetadata",
    "/v2/health/live": "V2Live",
    "/v2/health/ready": "V2Ready",
    "/v2/models/{name}": "V2ModelMetadata",
    "/v2/models/{name}/versions/{version}": "V2ModelMetadata",
    "/v2/models/{name}/ready": "V2ModelReady",
    "/v2/models/{name}/versions/{version}/ready": "V2ModelReady",
}


def _refine_v2_metadata(paths: dict[str, Any]) -> None:
    """The protocol's response schemas for the v2 metadata routes (FastAPI sees plain dicts)."""
    for path, schema in _V2_RESPONSES.items():
        if path in paths:
            paths[path]["get"]["responses"]["200"]["content"] = {JSON: {"schema": _ref(schema)}}


def _v2_infer_paths() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"):
        parameters: list[dict[str, Any]] = [
            {
                "name": "name",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "enum": REGISTRY.names, "description": "A catalogue name or alias."},
            }
        ]
        if "{version}" in path:
            parameters.append(
                {
                    "name": "version",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": [MODEL_VERSION]},
                }
            )
        parameters.append(
            {
                "name": "Inference-Header-Content-Length",
                "in": "header",
                "required": False,
                "description": "Binary tensor data extension: the length of the JSON header; raw tensors follow it.",
                "schema": {"type": "integer", "minimum": 0},
            }
        )
        example = {
            "id": "42",
            "parameters": {"alpha": 0.1},
            "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [-2.0, -0.5, 0.5, 2.0]}],
        }
        computed = evaluate("relu", np.array(_EXAMPLE_X), {"alpha": 0.1})
        response_example = {
            "model_name": "relu",
            "model_version": MODEL_VERSION,
            "id": "42",
            "outputs": [
                {
                    "name": "y",
                    "shape": [1, 4],
                    "datatype": "FP32",
                    "data": orjson.loads(encode_json_tensor(computed.y.ravel())),
                }
            ],
        }
        suffix = "_version" if "{version}" in path else ""
        out[path] = {
            "post": {
                "tags": ["kserve-v2"],
                "summary": "Run a model" + (" (one version)" if suffix else ""),
                "description": (
                    "Inference on the model `name`: input `x` (PReLU's `alpha` and Softmax's `mask` as further "
                    "inputs), "
                    "scalar parameters as request `parameters`, output `y`. JSON, or the binary tensor data extension "
                    "(`Inference-Header-Content-Length`). The body is read whatever its Content-Type."
                ),
                "operationId": f"v2_infer{suffix}",
                "parameters": parameters,
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {"schema": _ref("V2InferRequest"), "example": example},
                        OCTET_STREAM: {
                            "schema": {
                                "type": "string",
                                "format": "binary",
                                "description": "The JSON header, then the raw tensors (binary tensor data extension).",
                            }
                        },
                    },
                },
                "responses": {
                    "200": {
                        "description": "The output `y`: JSON, or a JSON header and raw bytes (then with "
                        "`Inference-Header-Content-Length`).",
                        "headers": {
                            **_headers("X-Shape", "X-Dtype"),
                            "Inference-Header-Content-Length": {
                                "description": "With binary output: the length of the JSON header.",
                                "schema": {"type": "integer"},
                            },
                        },
                        "content": {
                            JSON: {"schema": _ref("V2InferResponse"), "example": response_example},
                            OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    **{str(status): {"$ref": f"#/components/responses/V2Error{status}"} for status in _V2_ERRORS},
                },
                "security": [{}, {"ApiKeyHeader": []}, {"BearerAuth": []}],
            }
        }
    return out
