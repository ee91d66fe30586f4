"""tritonclient's tensors, whichever generation of the client is installed.

tritonclient up to 2.69 takes and returns BF16 tensors as float32 arrays (it keeps the upper 16
bits); later versions use ml_dtypes.bfloat16. The bytes on the wire are the same.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
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
