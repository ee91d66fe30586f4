"""KServe v2 / Open Inference Protocol: every catalogue entry (aliases included) is a model.

`GET /v2`, `/v2/health/live`, `/v2/health/ready`, `/v2/models/{name}[/versions/{v}]` and its
`/ready` are FastAPI routes; `POST /v2/models/{name}[/versions/{v}]/infer` is a plain Starlette
endpoint (no dependency injection, SPEC section 6) that answers its own errors as
`{"error": ...}`, so it can be served from an ASGI front as it is. The input is `x`; PReLU's
`alpha` and Softmax's `mask` are further inputs; scalar parameters are request `parameters`;
the output is `y`. Every model has the one version "1". The numbers, the limits and the
parameter validation are the native API's: `app.numerics.evaluate`, `Settings`, `read_body`.
"""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from app import __version__
from app.api.admission import run_off_loop
from app.api.body import read_body
from app.api.compression import MIN_COMPRESS_BYTES, accepted_encoding, compress_body
from app.api.problems import v2_error_response
from app.api.responses import BytesResponse, tensor_headers
from app.api.routes.activate import INLINE_BODY_BYTES
from app.api.routes.catalogue import param_info
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
from app.numerics import REGISTRY, ActivationSpec, evaluate

SERVER_NAME = "activation-service"
MODEL_VERSION = "1"
PLATFORM = "activation-service"
# The protocol extensions implemented (names as Triton lists them in its server metadata).
EXTENSIONS = ("binary_tensor_data", "parameters")
INPUT, OUTPUT = "x", "y"
_TENSOR_PARAM_KINDS = ("tensor", "mask")
_X_DATATYPES = ",".join(name for name in V2_DATATYPES if name != "BOOL")
_Y_DATATYPES = ",".join(FLOAT_DATATYPES)
_JSON_MEDIA, _OCTET_STREAM = b"application/json", b"application/octet-stream"

router = APIRouter(prefix="/v2", tags=["kserve-v2"])


def resolve_model(name: str, version: str | None) -> ActivationSpec:
    """The spec of model `name` (a canonical name or an alias); 404 for other versions than "1"."""
    spec = REGISTRY.get(name)
    if version is not None and version != MODEL_VERSION:
        msg = f"Model '{name[:100]}' has no version '{version[:40]}'; its only version is '{MODEL_VERSION}'."
        raise NotFound(msg)
    return spec


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


def model_metadata(spec: ActivationSpec, max_rank: int) -> dict[str, object]:
    """The v2 metadata of a model, from its registry entry.

    Shapes are -1 per dimension of the smallest rank the model takes (the real rank varies, up
    to `max_rank`); each tensor's `parameters` list the datatypes it accepts. Scalar activation
    parameters, sent as request `parameters`, are documented in `activation_parameters`.
    """
    shape = [-1] * max(spec.min_rank, 1)
    inputs: list[dict[str, object]] = [
        {
            "name": INPUT,
            "datatype": "FP32",
            "shape": shape,
            "parameters": {
                "datatypes": _X_DATATYPES,
                "min_rank": spec.min_rank,
                "max_rank": max_rank,
                "description": "The tensor; integers are computed in FP32, BF16 is binary only.",
            },
        }
    ]
    for param in spec.params:
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
    outputs = [
        {
            "name": OUTPUT,
            "datatype": "FP32",
            "shape": shape,
            "parameters": {
                "datatypes": _Y_DATATYPES,
                "description": "The datatype of x (FP32 for integer x); the shape of x unless the formula changes it.",
            },
        }
    ]
    return {
        "name": spec.name,
        "versions": [MODEL_VERSION],
        "platform": PLATFORM,
        "summary": spec.summary,
        "formula": spec.formula,
        "inputs": inputs,
        "outputs": outputs,
        "aliases": list(spec.aliases),
        "activation_parameters": [
            param_info(param).model_dump() for param in spec.params if param.kind not in _TENSOR_PARAM_KINDS
        ],
    }


# --------------------------------------------------------------------------------------------
# Inference


async def infer(request: Request) -> Response | BytesResponse:
    """Run a model on the request's inputs; every client error is answered `{"error": ...}`."""
    try:
        settings: Settings = request.app.state.settings
        path = request.path_params
        spec = resolve_model(path["name"], path.get("version"))
        # The body travels in a list that compute_infer_response empties (see activate.py).
        bodies = [await read_body(request, settings.max_body_bytes)]
        header_length = request.headers.get("inference-header-content-length")
        encoding = accepted_encoding(request.headers.get("accept-encoding"))
        if len(bodies[0]) <= INLINE_BODY_BYTES:
            return compute_infer_response(spec, bodies, header_length, encoding, settings)
        return await run_off_loop(compute_infer_response, spec, bodies, header_length, encoding, settings)
    except ServiceError as exc:
        return v2_error_response(exc)


def compute_infer_response(
    spec: ActivationSpec, bodies: list[bytes], header_length: str | None, encoding: str | None, settings: Settings
) -> BytesResponse:
    """Decode the body taken out of `bodies`, compute, encode (and compress when asked)."""
    decoded = decode_infer_request(
        bodies.pop(), header_length, max_elements=settings.max_elements, max_rank=settings.max_rank
    )
    x, dtype, params = _model_arguments(spec, decoded)
    binary = _output_is_binary(decoded)
    if not binary and DATATYPE_OF_DTYPE[dtype] in BINARY_ONLY:
        msg = f"A {DATATYPE_OF_DTYPE[dtype]} output has no JSON form: ask for binary_data (tritonclient does)."
        raise InvalidBody(msg)
    request_id = decoded.id
    y = evaluate(spec.name, x, params, dtype).y
    del decoded, x, params
    body, json_length = encode_infer_response(spec.name, MODEL_VERSION, request_id, [OutputTensor(OUTPUT, y, binary)])
    # X-Shape and X-Dtype as on /activate (they also feed the elements-computed metric).
    headers = [(b"vary", b"Accept-Encoding"), *tensor_headers(y, dtype)]
    if json_length is not None:
        headers.append((b"inference-header-content-length", str(json_length).encode()))
    if encoding is not None and len(body) >= MIN_COMPRESS_BYTES:
        body = compress_body(body, encoding)
        headers.append((b"content-encoding", encoding.encode()))
    return BytesResponse(body, _JSON_MEDIA if json_length is None else _OCTET_STREAM, headers)


def _model_arguments(spec: ActivationSpec, request: InferRequest) -> tuple[np.ndarray, str, dict[str, object]]:
    """x, the dtype name of the result, and the raw parameters (tensor inputs among them)."""
    tensor_params = [param.name for param in spec.params if param.kind in _TENSOR_PARAM_KINDS]
    known = (INPUT, *tensor_params)
    unknown = [name for name in request.inputs if name not in known]
    if unknown:
        msg = f"Model '{spec.name}' has no input '{unknown[0][:40]}'; its inputs: {', '.join(known)}."
        raise InvalidTensor(msg, [ErrorItem(("inputs", unknown[0][:40]), "unknown input")])
    x = request.inputs.get(INPUT)
    if x is None:
        raise InvalidTensor(f"Model '{spec.name}' needs the input '{INPUT}'.")
    if x.datatype == "BOOL":
        raise InvalidTensor(f"The input '{INPUT}' must be numeric, not BOOL.")
    params = dict(request.parameters)
    for name in tensor_params:
        if name in request.inputs:
            if name in params:
                msg = f"'{name}' is given both as an input and as a request parameter; send one of them."
                raise InvalidParameter(msg, [ErrorItem((name,), msg)])
            params[name] = request.inputs[name].array
    return x.array, FLOAT_DATATYPES.get(x.datatype, "float32"), params


def _output_is_binary(request: InferRequest) -> bool:
    """Whether `y` goes out as binary data: its own binary_data, else the request's binary_data_output."""
    if request.outputs is None:
        return request.binary_data_output
    unknown = [name for name in request.outputs if name != OUTPUT]
    if unknown:
        raise InvalidBody(f"There is no output '{unknown[0][:40]}'; the only output is '{OUTPUT}'.")
    binary = request.outputs.get(OUTPUT)
    return request.binary_data_output if binary is None else binary
