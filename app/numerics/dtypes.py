"""The dtypes a request may ask for, and the wider dtype each is computed in.

float64 results are computed in np.longdouble (x87 extended precision on x86-64, 64-bit
significand; IEEE quad elsewhere) and every narrower dtype in float64, so that one final
rounding gives a result within 1 ulp (float64: a few ulp) of the exact value.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

# ml_dtypes' bfloat16; npy has no way to express it (it would read back as `|V2`).
BFLOAT16 = np.dtype(ml_dtypes.bfloat16)

# Wire name -> numpy dtype: the single source of truth for validation, codecs and listings.
DTYPES: dict[str, np.dtype] = {
    "float16": np.dtype(np.float16),
    "bfloat16": BFLOAT16,
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
}

DEFAULT_DTYPE = "float32"


def wide_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype a result of `dtype` is computed in."""
    return np.dtype(np.longdouble) if dtype == np.float64 else np.dtype(np.float64)


def dtype_name(dtype: np.dtype) -> str:
    """The API name of a numpy dtype from DTYPES."""
    for name, candidate in DTYPES.items():
        if candidate == dtype:
            return name
    raise ValueError(f"{dtype} is not one of the service's dtypes")
