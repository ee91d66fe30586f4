"""KServe v2 / Open Inference Protocol: every catalogue entry (aliases included) is a model, and so is `custom`.

`GET /v2`, `/v2/health/live`, `/v2/health/ready`, `/v2/models/{name}[/versions/{v}]` and its
`/ready` are FastAPI routes; `POST /v2/models/{name}[/versions/{v}]/infer` is a plain Starlette
endpoint (no dependency injection, SPEC section 6) that answers its own errors as
`{"error": ...}`, so it can be served from an ASGI front as it is. The input is `x`; PReLU's
`alpha` and Softmax's `mask` are further inputs; scalar parameters are request `parameters`.
Every model has two outputs: `y`, the activation, and `dx`, the vector-Jacobian product of
`POST /gradient/{name}` with the optional input `dy` as the upstream gradient. A request gets the
outputs it lists in `outputs`; without that list it gets `y`, or `dx` when the request parameter
`gradient` is true. The model `custom` takes its expression as the request parameter
`expression`. Every model has the one version "1". The numbers, the limits and the parameter
validation are the native API's: `evaluate`, `evaluate_gradient`, the expression evaluators,
`Settings`, `receive_body`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive

from app import __version__
from app.api.admission import run_off_loop
from app.api.body import RequestHead, receive_body
from app.api.compression import MIN_COMPRESS_BYTES, accepted_encoding, compress_body
from app.api.problems import v2_error_response
from app.api.responses import BytesResponse, tensor_headers
from app.api.routes.activate import INLINE_BODY_BYTES
from app.api.routes.catalogue import ParamInfo, custom_info, param_info
from app.codecs.v2_tensor import (
    BINARY_ONLY,
    DATATYPE_OF_DTYPE,
    FLOAT_DATATYPES,
    V2_DATATYPES,
    InferRequest,
    OutputTensor,
    decode_infer_request,
    encode_infer_response,
)
from app.core.config import Settings
from app.errors import ErrorItem, InvalidBody, InvalidParameter, InvalidTensor, NotFound, ServiceError
from app.numerics import REGISTRY, ActivationSpec, evaluate, evaluate_gradient
from app.numerics.expressions import (
    CUSTOM,
    CUSTOM_SUMMARY,
    GRAMMAR,
    custom_expression,
    evaluate_expression,
    evaluate_expression_gradient,
)

SERVER_NAME = "activation-service"
MODEL_VERSION = "1"
PLATFORM = "activation-service"
# The protocol extensions implemented (names as Triton lists them in its server metadata).
EXTENSIONS = ("binary_tensor_data", "parameters")
INPUT, OUTPUT = "x", "y"
UPSTREAM, GRADIENT_OUTPUT = "dy", "dx"
OUTPUTS = (OUTPUT, GRADIENT_OUTPUT)
# The request parameter that asks for dx instead of y when the request lists no outputs.
GRADIENT = "gradient"
_TENSOR_PARAM_KINDS = ("tensor", "mask")
_X_DATATYPES = ",".join(name for name in V2_DATATYPES if name != "BOOL")
_Y_DATATYPES = ",".join(FLOAT_DATATYPES)
_JSON_MEDIA, _OCTET_STREAM = b"application/json", b"application/octet-stream"

router = APIRouter(prefix="/v2", tags=["kserve-v2"])


@dataclass(frozen=True, slots=True)
class Model:
    """A v2 model: a catalogue entry (`spec`) or the custom model (`spec` None), with its input names."""

    name: str  # canonical
    spec: ActivationSpec | None
    tensor_params: tuple[str, ...]  # the activation's tensor-valued parameters, which are inputs too
    inputs: tuple[str, ...]  # every input the model accepts


def _model(name: str, spec: ActivationSpec | None) -> Model:
    params = () if spec is None else tuple(p.name for p in spec.params if p.kind in _TENSOR_PARAM_KINDS)
    return Model(name, spec, params, (INPUT, *params, UPSTREAM))


# Every name a request may use (aliases too) -> its model, built once: the infer path only looks up.
MODELS: dict[str, Model] = {
    name: _model(spec.name, spec) for spec in REGISTRY for name in (spec.name, *spec.aliases)
} | {CUSTOM: _model(CUSTOM, None)}


def resolve_model(name: str, version: str | None) -> Model:
    """The model `name` (a canonical name, an alias or `custom`); 404 for other versions than "1"."""
    model = MODELS.get(name)
    if model is None:
        REGISTRY.get(name)  # raises UnknownActivation, whose detail suggests the closest name
        raise AssertionError("MODELS holds every registry name")  # pragma: no cover
    if version is not None and version != MODEL_VERSION:
        msg = f"Model '{name[:100]}' has no version '{version[:40]}'; its only version is '{MODEL_VERSION}'."
        raise NotFound(msg)
    return model


# --------------------------------------------------------------------------------------------
# Health and metadata


@router.get("")
def read_server_metadata() -> dict[str, object]:
    """Server metadata: name, version and the protocol extensions implemented."""
    return {"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)}


@router.get("/health/live")
def read_server_live() -> dict[str, bool]:
    """Liveness: the server answers."""
    return {"live": True}


@router.get("/health/ready")
def read_server_ready() -> dict[str, bool]:
    """Readiness: every model (the whole catalogue) is loaded."""
    return {"ready": len(REGISTRY) > 0}


@router.get("/models/{name}")
def read_model_metadata(name: str, request: Request) -> dict[str, object]:
    """Model metadata: inputs, outputs, datatypes, shapes and the activation's parameters."""
    return model_metadata(resolve_model(name, None), request.app.state.settings.max_rank)


@router.get("/models/{name}/versions/{version}")
def read_model_version_metadata(name: str, version: str, request: Request) -> dict[str, object]:
    """Model metadata of one version (only "1" exists)."""
    return model_metadata(resolve_model(name, version), request.app.state.settings.max_rank)


@router.get("/models/{name}/ready")
def read_model_ready(name: str) -> dict[str, object]:
    """Model readiness: every model of the catalogue is ready."""
    return {"name": resolve_model(name, None).name, "ready": True}


@router.get("/models/{name}/versions/{version}/ready")
def read_model_version_ready(name: str, version: str) -> dict[str, object]:
    """Readiness of one version of a model (only "1" exists)."""
    return {"name": resolve_model(name, version).name, "ready": True}


_GRADIENT_INFO = ParamInfo(
    name=GRADIENT,
    type="boolean",
    default=False,
    required=False,
    constraints=[],
    description=(
        f"true: the output is '{GRADIENT_OUTPUT}' instead of '{OUTPUT}' when the request lists no outputs "
        f"(listing '{GRADIENT_OUTPUT}' in 'outputs' does the same)."
    ),
)


def model_metadata(model: Model, max_rank: int) -> dict[str, object]:
    """The v2 metadata of a model, from its registry entry (or the custom entry of the catalogue).

    Shapes are -1 per dimension of the smallest rank the model takes (the real rank varies, up
    to `max_rank`); each tensor's `parameters` list the datatypes it accepts. The activation's
    scalar parameters, sent as request `parameters`, are documented in `activation_parameters`,
    the service's own (`gradient`) in `request_parameters`.
    """
    spec = model.spec
    min_rank = 0 if spec is None else spec.min_rank
    shape = [-1] * max(min_rank, 1)
    y_shape = "the shape of x unless the formula changes it (glu halves its axis)"
    inputs: list[dict[str, object]] = [
        {
            "name": INPUT,
            "datatype": "FP32",
            "shape": shape,
            "parameters": {
                "datatypes": _X_DATATYPES,
                "min_rank": min_rank,
                "max_rank": max_rank,
                "description": "The tensor; integers are computed in FP32, BF16 is binary only.",
            },
        }
    ]
    for param in () if spec is None else spec.params:
        if param.kind in _TENSOR_PARAM_KINDS:
            inputs.append(
                {
                    "name": param.name,
                    "datatype": "BOOL" if param.kind == "mask" else "FP32",
                    "shape": [-1],
                    "parameters": {
                        "datatypes": "BOOL," + _X_DATATYPES if param.kind == "mask" else _X_DATATYPES,
                        "optional": True,
                        "description": param.description,
                    },
                }
            )
    inputs.append(
        {
            "name": UPSTREAM,
            "datatype": "FP32",
            "shape": shape,
            "parameters": {
                "datatypes": _X_DATATYPES,
                "optional": True,
                "description": (
                    f"The upstream gradient of '{GRADIENT_OUTPUT}' (default ones): {y_shape}, or broadcastable "
                    f"to it; rounded to the datatype of the result. Only with the output '{GRADIENT_OUTPUT}'."
                ),
            },
        }
    )
    outputs = [
        {
            "name": OUTPUT,
            "datatype": "FP32",
            "shape": shape,
            "parameters": {
                "datatypes": _Y_DATATYPES,
                "description": f"The activation: the datatype of x (FP32 for integer x); {y_shape}.",
            },
        },
        {
            "name": GRADIENT_OUTPUT,
            "datatype": "FP32",
            "shape": shape,
            "parameters": {
                "datatypes": _Y_DATATYPES,
                "description": (
                    f"The vector-Jacobian product dy^T J(x), as POST /gradient/{model.name} gives it: the datatype "
                    f"of {OUTPUT}, the shape of x. Returned when 'outputs' lists it or the request parameter "
                    f"'{GRADIENT}' is true."
                ),
            },
        },
    ]
    if spec is None:
        custom = custom_info()
        summary, formula, aliases, params = CUSTOM_SUMMARY, GRAMMAR, [], [p.model_dump() for p in custom.params]
    else:
        summary, formula, aliases = spec.summary, spec.formula, list(spec.aliases)
        params = [param_info(param).model_dump() for param in spec.params if param.kind not in _TENSOR_PARAM_KINDS]
    return {
        "name": model.name,
        "versions": [MODEL_VERSION],
        "platform": PLATFORM,
        "summary": summary,
        "formula": formula,
        "inputs": inputs,
        "outputs": outputs,
        "aliases": aliases,
        "activation_parameters": params,
        "request_parameters": [_GRADIENT_INFO.model_dump()],
    }


# --------------------------------------------------------------------------------------------
# Inference


async def infer(request: Request) -> Response | BytesResponse:
    """Run a model on the request's inputs; every client error is answered `{"error": ...}`."""
    settings: Settings = request.app.state.settings
    return await infer_tensor(request.path_params, RequestHead.of(request.scope), request.receive, settings)


async def infer_tensor(
    path: dict[str, str], head: RequestHead, receive: Receive, settings: Settings
) -> Response | BytesResponse:
    """The endpoint's work on the raw ASGI request, as the ASGI front (app.api.hot_path) calls it."""
    try:
        model = resolve_model(path["name"], path.get("version"))
        # The body travels in a list that compute_infer_response empties (see activate.py).
        bodies = [await receive_body(receive, head, settings.max_body_bytes)]
        header_length = head.inference_header_length
        encoding = accepted_encoding(head.accept_encoding)
        if len(bodies[0]) <= INLINE_BODY_BYTES:
            return compute_infer_response(model, bodies, header_length, encoding, settings)
        return await run_off_loop(compute_infer_response, model, bodies, header_length, encoding, settings)
    except ServiceError as exc:
        return v2_error_response(exc)


def compute_infer_response(
    model: Model, bodies: list[bytes], header_length: str | None, encoding: str | None, settings: Settings
) -> BytesResponse:
    """Decode the body taken out of `bodies`, compute, encode (and compress when asked)."""
    decoded = decode_infer_request(
        bodies.pop(), header_length, max_elements=settings.max_elements, max_rank=settings.max_rank
    )
    outputs = _requested_outputs(decoded)
    arguments = _model_arguments(model, decoded, any(name == GRADIENT_OUTPUT for name, _ in outputs))
    dtype = arguments.dtype
    datatype = DATATYPE_OF_DTYPE[dtype]
    if datatype in BINARY_ONLY and not all(binary for _, binary in outputs):
        msg = f"A {datatype} output has no JSON form: ask for binary_data (tritonclient does)."
        raise InvalidBody(msg)
    request_id = decoded.id
    del decoded
    tensors = [OutputTensor(name, _compute(model, name, arguments), binary) for name, binary in outputs]
    del arguments
    body, json_length = encode_infer_response(model.name, MODEL_VERSION, request_id, tensors)
    # X-Shape and X-Dtype of the first output, as on /activate (they also feed the elements-computed metric).
    headers = [(b"vary", b"Accept-Encoding"), *tensor_headers(tensors[0].array, dtype)]
    if json_length is not None:
        headers.append((b"inference-header-content-length", str(json_length).encode()))
    if encoding is not None and len(body) >= MIN_COMPRESS_BYTES:
        body = compress_body(body, encoding)
        headers.append((b"content-encoding", encoding.encode()))
    return BytesResponse(body, _JSON_MEDIA if json_length is None else _OCTET_STREAM, headers)


@dataclass(frozen=True, slots=True)
class _Arguments:
    """What the model computes on: x, the dtype name of the results, the raw parameters and dy."""

    x: np.ndarray
    dtype: str
    params: dict[str, object]
    dy: np.ndarray | None


def _compute(model: Model, output: str, arguments: _Arguments) -> np.ndarray:
    """The output `y` or `dx`, by the very calls of POST /activate and POST /gradient."""
    x, dtype, params = arguments.x, arguments.dtype, arguments.params
    if model.spec is None:
        expression = custom_expression(params)
        if output == OUTPUT:
            return evaluate_expression(expression, x, dtype).values
        return evaluate_expression_gradient(expression, x, arguments.dy, dtype).values
    if output == OUTPUT:
        return evaluate(model.name, x, params, dtype).y
    return evaluate_gradient(model.name, x, arguments.dy, params, dtype).dx


def _model_arguments(model: Model, request: InferRequest, wants_dx: bool) -> _Arguments:
    """x, the dtype name of the result, the raw parameters (tensor inputs among them) and dy."""
    unknown = [name for name in request.inputs if name not in model.inputs]
    if unknown:
        msg = f"Model '{model.name}' has no input '{unknown[0][:40]}'; its inputs: {', '.join(model.inputs)}."
        raise InvalidTensor(msg, [ErrorItem(("inputs", unknown[0][:40]), "unknown input")])
    x = request.inputs.get(INPUT)
    if x is None:
        raise InvalidTensor(f"Model '{model.name}' needs the input '{INPUT}'.")
    if x.datatype == "BOOL":
        raise InvalidTensor(f"The input '{INPUT}' must be numeric, not BOOL.")
    dy = request.inputs.get(UPSTREAM)
    if dy is not None:
        if not wants_dx:
            msg = (
                f"The input '{UPSTREAM}' is the upstream gradient of the output '{GRADIENT_OUTPUT}', which this "
                f"request does not ask for: set the request parameter '{GRADIENT}' to true or list "
                f"'{GRADIENT_OUTPUT}' in 'outputs'."
            )
            raise InvalidTensor(msg)
        if dy.datatype == "BOOL":
            raise InvalidTensor(f"The input '{UPSTREAM}' must be numeric, not BOOL.")
    params = {key: value for key, value in request.parameters.items() if key != GRADIENT}
    for name in model.tensor_params:
        if name in request.inputs:
            if name in params:
                msg = f"'{name}' is given both as an input and as a request parameter; send one of them."
                raise InvalidParameter(msg, [ErrorItem((name,), msg)])
            params[name] = request.inputs[name].array
    dtype = FLOAT_DATATYPES.get(x.datatype, "float32")
    return _Arguments(x.array, dtype, params, None if dy is None else dy.array)


def _requested_outputs(request: InferRequest) -> list[tuple[str, bool]]:
    """The outputs to compute, in order, each with whether it goes out as binary data.

    The request's `outputs` if it lists any, else `y` (`dx` with `gradient: true`); an output
    is binary by its own binary_data, else by the request's binary_data_output.
    """
    gradient = request.parameters.get(GRADIENT)
    if gradient is not None and not isinstance(gradient, bool):
        msg = f"The request parameter '{GRADIENT}' must be true or false, got {gradient!r:.40}."
        raise InvalidParameter(msg, [ErrorItem(("parameters", GRADIENT), "expected true or false")])
    if request.outputs is None:
        return [(GRADIENT_OUTPUT if gradient else OUTPUT, request.binary_data_output)]
    unknown = [name for name in request.outputs if name not in OUTPUTS]
    if unknown:
        raise InvalidBody(
            f"There is no output '{unknown[0][:40]}'; the outputs are '{OUTPUT}' (the activation) "
            f"and '{GRADIENT_OUTPUT}' (its gradient)."
        )
    if gradient is not None and (GRADIENT_OUTPUT in request.outputs) != gradient:
        listed = " and ".join(f"'{name}'" for name in request.outputs)
        msg = f"The request parameter '{GRADIENT}' is {str(gradient).lower()}, but 'outputs' lists {listed}."
        raise InvalidParameter(msg, [ErrorItem(("parameters", GRADIENT), "contradicts 'outputs'")])
    return [
        (name, request.binary_data_output if binary is None else binary) for name, binary in request.outputs.items()
    ]
