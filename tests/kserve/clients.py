"""tritonclient's tensors, whichever generation of the client is installed, and the native API to compare with.

tritonclient up to 2.69 takes and returns BF16 tensors as float32 arrays (it keeps the upper 16
bits); later versions use ml_dtypes.bfloat16. The bytes on the wire are the same.

`native` and `native_gradient` ask the same server's `POST /activate/{name}` and
`POST /gradient/{name}`: the v2 API shares their core, registry and limits, so every v2 output
must equal theirs bit for bit (`assert_identical`).
"""

from __future__ import annotations

import math
from typing import Any

import httpx
import ml_dtypes
import numpy as np
import orjson
import tritonclient.http as triton

BF16 = np.dtype(ml_dtypes.bfloat16)
NATIVE_BF16 = triton.np_to_triton_dtype(BF16) == "BF16"


def datatype(array: np.ndarray) -> str:
    return "BF16" if array.dtype == BF16 else str(triton.np_to_triton_dtype(array.dtype))


def v2_input(name: str, array: np.ndarray, binary: bool = True) -> triton.InferInput:
    """An input holding `array` (bfloat16 arrays as BF16)."""
    tensor = triton.InferInput(name, list(array.shape), datatype(array))
    data = array.astype(np.float32) if array.dtype == BF16 and not NATIVE_BF16 else array
    return tensor.set_data_from_numpy(data, binary_data=binary)


def output_array(result: triton.InferResult, name: str) -> np.ndarray:
    """The output `name` as an array of its datatype (BF16 as bfloat16)."""
    array = result.as_numpy(name)
    assert array is not None, f"no output {name}"
    if result.get_output(name)["datatype"] == "BF16" and array.dtype != BF16:
        assert array.dtype == np.float32
        array = array.astype(BF16)  # exact: the float32 values are bfloat16 values
    return array


# Limits of the test server: small, so that going over them is cheap.
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_ELEMENTS = 1 << 20
DTYPES = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32, "float64": np.float64}


def strict(array: np.ndarray) -> object:
    """`array` as nested lists for the native API: non-finite values as its strings."""
    cells = array.astype(np.float64).astype(object)
    wide = array.astype(np.float64)
    cells[np.isnan(wide)] = "NaN"
    cells[wide == math.inf] = "Infinity"
    cells[wide == -math.inf] = "-Infinity"
    return cells.tolist()


def _native_tensor(http: httpx.Client, path: str, field: str, body: dict[str, Any], dtype: str) -> np.ndarray:
    response = http.post(path, content=orjson.dumps(body), headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    # JSON: the shortest decimals, which read back to the same values of the dtype.
    return np.array(response.json()[field], dtype=np.float64).astype(DTYPES[dtype])


def native(http: httpx.Client, name: str, x: np.ndarray, dtype: str, **params: Any) -> np.ndarray:
    """y from POST /activate/{name}."""
    return _native_tensor(http, f"/activate/{name}", "y", {"x": strict(x), "dtype": dtype, **params}, dtype)


def native_gradient(
    http: httpx.Client, name: str, x: np.ndarray, dy: np.ndarray | None, dtype: str, **params: Any
) -> np.ndarray:
    """dx from POST /gradient/{name} (dy as the same values, sent as JSON)."""
    body = {"x": strict(x), "dtype": dtype, **params}
    if dy is not None:
        body["dy"] = strict(dy)
    return _native_tensor(http, f"/gradient/{name}", "dx", body, dtype)


def assert_identical(got: np.ndarray, want: np.ndarray) -> None:
    """Same dtype, shape and bits (any NaN equals any NaN: the native JSON has one NaN)."""
    assert got.dtype == want.dtype and got.shape == want.shape
    nan = np.isnan(got.astype(np.float64))
    np.testing.assert_array_equal(nan, np.isnan(want.astype(np.float64)))
    assert got[~nan].tobytes() == want[~nan].tobytes()
