"""KServe v2 / Open Inference Protocol tensors: inference requests in, inference responses out.

Wire contract (SPEC section 4, the protocol's REST API and its binary tensor data extension):

- A request is a JSON object ``{"id"?, "parameters"?, "inputs": [...], "outputs"?: [...]}``. With
  the header ``Inference-Header-Content-Length: n`` the JSON is the first n bytes of the body and
  the raw tensors follow it, in the order of the inputs whose ``parameters.binary_data_size``
  gives their byte count (little-endian, C order; BOOL one byte per element).
- An input is ``{"name", "shape", "datatype", "parameters"?, "data"?}``. ``data`` is flat (row
  major) or nested; its element count must equal the shape's. Numbers are read as in
  `app.codecs.json_tensor` (nearest float64, rounded once; the bare tokens NaN, Infinity,
  -Infinity and the strings "NaN", "Infinity", "-Infinity" are non-finite values).
- Datatypes: BOOL, INT8 to INT64, UINT8 to UINT64, FP16, BF16, FP32, FP64. BF16 has no JSON form
  (tritonclient refuses it): binary only, both ways. BYTES is refused.
- A response is ``{"model_name", "model_version", "id"?, "outputs": [...]}``; an output carries
  its ``data`` flat in JSON, non-finite values as the bare tokens Triton writes, or
  ``parameters.binary_data_size`` and its bytes after the JSON (the response then carries
  ``Inference-Header-Content-Length``).

Everything wrong in a request is a `ServiceError` (the API answers 400, 413 over the limits).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson

from app.codecs.json_tensor import (
    BARE_NONFINITE,
    check_json_element_budget,
    decode_json_tensor,
    encode_json_tensor,
    parse_json_body,
)
from app.errors import ErrorItem, InvalidBody, InvalidTensor, MalformedBody, PayloadTooLarge
from app.numerics.dtypes import BFLOAT16

__all__ = [
    "BINARY_ONLY",
    "DATATYPE_OF_DTYPE",
    "FLOAT_DATATYPES",
    "V2_DATATYPES",
    "InferRequest",
    "InputTensor",
    "OutputTensor",
    "datatype_of",
    "decode_infer_request",
    "encode_infer_response",
]

#: Datatype name -> numpy dtype (little-endian, as the binary extension sends it).
V2_DATATYPES: Final[dict[str, np.dtype[Any]]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "BF16": BFLOAT16,
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}

#: Float datatypes <-> the service's dtype names (app.numerics.dtypes.DTYPES).
FLOAT_DATATYPES: Final[dict[str, str]] = {"FP16": "float16", "BF16": "bfloat16", "FP32": "float32", "FP64": "float64"}
#: The service's dtype names -> float datatypes.
DATATYPE_OF_DTYPE: Final = {name: datatype for datatype, name in FLOAT_DATATYPES.items()}

#: Datatypes that have no JSON form.
BINARY_ONLY: Final = frozenset({"BF16"})

# Request parameters that belong to the protocol (tritonclient reserves them), never to a model.
PROTOCOL_PARAMETERS: Final = frozenset(
    {"binary_data_output", "sequence_id", "sequence_start", "sequence_end", "priority", "timeout", "headers"}
)
# A request names each input once; a model here has at most three (x; PReLU's alpha or Softmax's
# mask; the upstream gradient dy), so no valid JSON request holds more than this many tensors'
# worth of values in its "inputs".
_MAX_TENSORS: Final = 3
# The widest dtype any tensor is decoded or computed in (np.longdouble), and numpy's largest array.
_WIDEST_ITEMSIZE: Final = 16
_LARGEST_ARRAY_BYTES: Final = int(np.iinfo(np.intp).max)
_MAX_SHAPE_VALUES: Final = 64 * _MAX_TENSORS


@dataclass(frozen=True)
class InputTensor:
    """One decoded input: its name, datatype and array (of the datatype's dtype, in its shape)."""

    name: str
    datatype: str
    array: np.ndarray


@dataclass(frozen=True)
class InferRequest:
    """A decoded inference request."""

    id: str | None
    inputs: dict[str, InputTensor]
    parameters: dict[str, object]  # the model's parameters: protocol parameters taken out
    # Requested outputs: name -> its binary_data (None: not said); None when the request lists none.
    outputs: dict[str, bool | None] | None
    binary_data_output: bool


@dataclass(frozen=True)
class OutputTensor:
    """One output to write: the array's dtype must be a float dtype of FLOAT_DATATYPES."""

    name: str
    array: np.ndarray
    binary: bool


def datatype_of(dtype: np.dtype[Any]) -> str:
    """The v2 datatype name of a numpy dtype of V2_DATATYPES."""
    for name, candidate in V2_DATATYPES.items():
        if candidate == dtype:
            return name
    raise ValueError(f"{dtype} has no v2 datatype")


# --------------------------------------------------------------------------------------------
# Requests


def decode_infer_request(body: bytes, header_length: str | None, *, max_elements: int, max_rank: int) -> InferRequest:
    """The request in `body`; `header_length` is the Inference-Header-Content-Length header, if any."""
    header, binary = _split_body(body, header_length)
    check_json_element_budget(header, _MAX_TENSORS * max_elements + _MAX_SHAPE_VALUES)
    document = parse_json_body(header)
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidBody("'id' must be a string.", [ErrorItem(("id",), "expected a string")])
    parameters = _object(document.get("parameters", {}), ("parameters",))
    binary_data_output = parameters.get("binary_data_output", False)
    if not isinstance(binary_data_output, bool):
        raise InvalidBody("The request parameter 'binary_data_output' must be true or false.")
    raw_inputs = document.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidBody("The request must carry 'inputs', a non-empty list of tensors.")
    if len(raw_inputs) > _MAX_TENSORS:
        raise InvalidBody(f"The request has {len(raw_inputs)} inputs; a model here takes at most {_MAX_TENSORS}.")
    inputs: dict[str, InputTensor] = {}
    offset = 0
    for index, raw in enumerate(raw_inputs):
        tensor, offset = _decode_input(raw, index, header, document, binary, offset, max_elements, max_rank)
        if tensor.name in inputs:
            raise InvalidBody(f"The input '{tensor.name}' is given twice.")
        inputs[tensor.name] = tensor
    if offset != len(binary):
        raise MalformedBody(
            f"The body has {len(binary) - offset} bytes after the JSON header that no input's binary_data_size claims."
        )
    return InferRequest(
        id=request_id,
        inputs=inputs,
        parameters={key: value for key, value in parameters.items() if key not in PROTOCOL_PARAMETERS},
        outputs=_requested_outputs(document.get("outputs")),
        binary_data_output=binary_data_output,
    )


def _split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    text = header_length.strip()
    if not text.isdigit() or int(text) > len(body):
        raise MalformedBody(
            f"Inference-Header-Content-Length must be a byte count within the body's {len(body)} bytes, "
            f"got {header_length[:40]!r}."
        )
    length = int(text)
    return body[:length], body[length:]


def _object(value: object, where: tuple[str | int, ...]) -> dict[str, object]:
    if not isinstance(value, dict):
        raise InvalidBody(f"'{_path(where)}' must be a JSON object.", [ErrorItem(where, "expected an object")])
    return value


def _requested_outputs(value: object) -> dict[str, bool | None] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidBody("'outputs' must be a list of {\"name\": ...} objects.")
    requested: dict[str, bool | None] = {}
    for index, raw in enumerate(value):
        output = _object(raw, ("outputs", index))
        name = output.get("name")
        if not isinstance(name, str):
            raise InvalidBody(f"'outputs[{index}].name' must be a string.")
        parameters = _object(output.get("parameters", {}), ("outputs", index, "parameters"))
        binary = parameters.get("binary_data", None)
        if binary is not None and not isinstance(binary, bool):
            raise InvalidBody(f"'outputs[{index}].parameters.binary_data' must be true or false.")
        requested[name] = binary
    return requested or None


def _decode_input(
    raw: object,
    index: int,
    header: bytes,
    document: Mapping[str, object],
    binary: bytes,
    offset: int,
    max_elements: int,
    max_rank: int,
) -> tuple[InputTensor, int]:
    """The input `raw` (the `index`-th), and the offset in `binary` after its bytes."""
    spec = _object(raw, ("inputs", index))
    name = spec.get("name")
    if not isinstance(name, str):
        raise InvalidBody(f"'inputs[{index}].name' must be a string.")
    where = f"input '{name[:40]}'"
    datatype = spec.get("datatype")
    if not isinstance(datatype, str) or datatype not in V2_DATATYPES:
        raise InvalidTensor(
            f"The {where} has datatype {datatype!r:.40}; supported: {', '.join(V2_DATATYPES)}.",
            [ErrorItem(("inputs", name, "datatype"), "unsupported datatype")],
        )
    assert isinstance(datatype, str)
    shape = _shape(spec.get("shape"), where, max_rank)
    count = math.prod(shape)
    if count > max_elements:
        raise PayloadTooLarge(
            f"The {where} has shape {list(shape)}, {count:,} elements; "
            f"the limit is {max_elements:,} (ACTIVATIONS_MAX_ELEMENTS)."
        )
    parameters = _object(spec.get("parameters", {}), ("inputs", index, "parameters"))
    size = parameters.get("binary_data_size")
    dtype = V2_DATATYPES[datatype]
    if size is not None:
        if "data" in spec:
            raise InvalidBody(f"The {where} has both 'data' and binary_data_size; send one of them.")
        if not isinstance(size, int) or isinstance(size, bool) or size != count * dtype.itemsize:
            raise InvalidTensor(
                f"The {where} of shape {list(shape)} and datatype {datatype} takes "
                f"{count * dtype.itemsize} bytes, but its binary_data_size is {size!r:.40}."
            )
        if offset + size > len(binary):
            raise MalformedBody(
                f"The binary data of the {where} ends at byte {offset + size} after the JSON header, "
                f"but only {len(binary)} bytes follow it."
            )
        array = _from_bytes(binary, offset, dtype, shape, where)
        return InputTensor(name, datatype, array), offset + size
    if "data" not in spec:
        raise InvalidBody(f"The {where} has neither 'data' nor parameters.binary_data_size.")
    if datatype in BINARY_ONLY:
        raise InvalidTensor(
            f"The {where} is {datatype}, which has no JSON form: send it as binary data "
            "(the binary tensor data extension, as tritonclient does)."
        )
    array = _from_json(spec["data"], datatype, shape, name, header, document, max_elements, max_rank)
    return InputTensor(name, datatype, array), offset


def _shape(value: object, where: str, max_rank: int) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(size, int) and not isinstance(size, bool) and size >= 0 for size in value
    ):
        raise InvalidTensor(f"The {where} needs a 'shape': a list of non-negative integers.")
    if len(value) > max_rank:
        raise InvalidTensor(f"The {where} has rank {len(value)}; the maximum rank is {max_rank}.")
    if math.prod(size for size in value if size) * _WIDEST_ITEMSIZE > _LARGEST_ARRAY_BYTES:
        # numpy refuses such a shape even when another axis is 0 and the tensor is empty (as the npy codec).
        raise InvalidTensor(f"The {where} has shape {_shown(value)}, larger than any array can be.")
    return tuple(value)


def _shown(shape: list[int]) -> str:
    text = str(shape)
    return text if len(text) <= 120 else text[:117] + "..."


def _from_bytes(
    binary: bytes, offset: int, dtype: np.dtype[Any], shape: tuple[int, ...], where: str
) -> npt.NDArray[Any]:
    if dtype == np.bool_:
        raw = np.frombuffer(binary, dtype=np.uint8, count=math.prod(shape), offset=offset)
        if (raw > 1).any():
            raise InvalidTensor(f"The BOOL {where} holds bytes other than 0 and 1.")
        return raw.view(np.bool_).reshape(shape)
    return np.frombuffer(binary, dtype=dtype, count=math.prod(shape), offset=offset).reshape(shape)


def _from_json(
    data: object,
    datatype: str,
    shape: tuple[int, ...],
    name: str,
    header: bytes,
    document: Mapping[str, object],
    max_elements: int,
    max_rank: int,
) -> npt.NDArray[Any]:
    loc = ("inputs", name, "data")
    if not isinstance(data, list):
        raise InvalidTensor(
            f"The input '{name[:40]}' must carry its 'data' as a list (flat or nested), not {type(data).__name__}.",
            [ErrorItem(loc, "expected a list")],
        )
    if datatype == "BOOL":
        return _bool_from_json(data, shape, name)
    target = V2_DATATYPES[datatype]
    # Integers are computed in FP32 (SPEC 4) and read as float64 first, as the native API reads
    # JSON numbers: both APIs round the same JSON number to float32 the same way.
    wide = decode_json_tensor(
        data,
        dtype=target if target.kind == "f" else np.dtype(np.float64),
        max_elements=max_elements,
        max_rank=max(max_rank, 1),  # flat data has rank 1, nested data the rank of the shape
        loc=loc,
        body=header,
        document=document,
    )
    _check_count(wide.size, shape, name)
    wide = wide.reshape(shape)
    return wide if target.kind == "f" else _integral(wide, target, datatype, name)


def _check_count(size: int, shape: tuple[int, ...], name: str) -> None:
    if size != math.prod(shape):
        raise InvalidTensor(
            f"The input '{name[:40]}' has {size} values in 'data', but its shape {list(shape)} "
            f"holds {math.prod(shape)}.",
            [ErrorItem(("inputs", name, "data"), "element count does not match the shape")],
        )


def _integral(wide: npt.NDArray[Any], dtype: np.dtype[Any], datatype: str, name: str) -> npt.NDArray[Any]:
    """`wide` itself, once every value is checked to be one of the integer datatype."""
    info = np.iinfo(dtype)
    valid = np.isfinite(wide) & (wide == np.trunc(wide)) & (wide >= info.min) & (wide <= info.max)
    if not valid.all():
        bad = float(wide.reshape(-1)[np.flatnonzero(~valid.reshape(-1))[0]])
        raise InvalidTensor(f"The {datatype} input '{name[:40]}' holds {bad!r}, which is no {datatype} value.")
    return wide


def _bool_from_json(data: list[Any], shape: tuple[int, ...], name: str) -> npt.NDArray[np.bool_]:
    try:
        array = np.array(data, dtype=object)
    except ValueError:
        array = None
    if array is None or array.dtype != object:
        raise InvalidTensor(f"The BOOL input '{name[:40]}' must hold true/false values in a rectangular array.")
    flat = array.reshape(-1)
    if not all(type(value) is bool for value in flat.tolist()):
        raise InvalidTensor(f"The BOOL input '{name[:40]}' must hold only true and false.")
    _check_count(flat.size, shape, name)
    return flat.astype(np.bool_).reshape(shape)


def _path(where: Sequence[str | int]) -> str:
    return ".".join(str(part) for part in where)


# --------------------------------------------------------------------------------------------
# Responses


def encode_infer_response(
    model_name: str, model_version: str, request_id: str | None, outputs: Sequence[OutputTensor]
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary data follows it (else None)."""
    head: dict[str, object] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        head["id"] = request_id
    json_outputs: list[bytes] = []
    binary_parts: list[bytes] = []
    for output in outputs:
        array = output.array
        datatype = DATATYPE_OF_DTYPE[_dtype_name(array.dtype)]
        meta: dict[str, object] = {"name": output.name, "datatype": datatype, "shape": list(array.shape)}
        if output.binary:
            raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
            meta["parameters"] = {"binary_data_size": len(raw)}
            binary_parts.append(raw)
        text = orjson.dumps(meta)
        if not output.binary:
            # Flat data, as Triton writes it; bare NaN/Infinity tokens, as Triton writes them.
            text = text[:-1] + b',"data":' + encode_json_tensor(array.reshape(-1), nonfinite=BARE_NONFINITE) + b"}"
        json_outputs.append(text)
    header = orjson.dumps(head)[:-1] + b',"outputs":[' + b",".join(json_outputs) + b"]}"
    if not binary_parts:
        return header, None
    return b"".join([header, *binary_parts]), len(header)


def _dtype_name(dtype: np.dtype[Any]) -> str:
    for datatype, name in FLOAT_DATATYPES.items():
        if V2_DATATYPES[datatype] == dtype:
            return name
    raise ValueError(f"{dtype} is not a float dtype of the v2 protocol")
