"""Generate ``tests/fixtures/tf_keras_reference.json`` (and ``tf_keras_gradients.json``) from the real TensorFlow.

The fixture holds reference values computed by TensorFlow itself, so that the test suite can compare
the service with TensorFlow without installing it. Run this script by hand, in a throwaway
virtual environment outside the repository, from the repository root::

    python -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu tf-keras \
        && /tmp/tfvenv/bin/python tools/generate_tf_fixtures.py

(``python tools/generate_tf_fixtures.py --output PATH`` writes elsewhere.) It imports nothing
from the project. Commit the script and its output together.

Where each value comes from (the ``source`` field of every case):

* the Keras 2 functions: ``tf_keras.activations.<fn>`` (``tf_keras.activations.get(name)``);
* ``silu``, ``relu6``, ``leaky_relu`` and ``log_softmax`` with an int axis: what
  ``tf_keras.activations.get(name)`` resolves to, which is the ``tf.nn`` op of that name;
* the Keras 3-only functions and ``log_softmax`` with a list of axes: ``keras.activations.<fn>``
  (Keras 3, TensorFlow backend);
* the layers: ``tf_keras.layers.<Name>(**params, dtype=<dtype>)(x)``. The layer gets the dtype of
  the case: with the default layer dtype, tf_keras would cast a float16, bfloat16 or float64 input to
  float32 and return float32.

Format: ``{"generator", "versions", "skipped", "cases"}``. Each case has ``id``, ``kind``
(``"value"``, or ``"gradient"`` with ``--kinds gradient``: those cases go to
``tests/fixtures/tf_keras_gradients.json`` (``--gradient-output``) and hold ``dy``, a seeded upstream
gradient of the result's shape, and ``dx`` = ``tape.gradient(y, x, output_gradients=dy)`` instead of
``y``; ``--kinds value,gradient`` writes both files), ``activation`` (the name a client of the service
sends), ``params`` (under the service's parameter names), ``dtype``, ``x`` (float64 values; the
tensor is ``tf.constant(x, dtype)``, and the script checks that this is the correctly rounded value
of each element, so a reader may round ``x`` to the dtype directly), ``y`` (what TensorFlow
returned, converted exactly to float64), ``source``. Numbers are written so that they read back
exactly; non-finite values are the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.
``skipped`` lists the combinations TensorFlow refused, with its error message.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # Keras 3: reads KERAS_BACKEND, set above
import ml_dtypes
import numpy as np
import tensorflow as tf
import tf_keras

GENERATOR = "tools/generate_tf_fixtures.py"
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
DEFAULT_OUTPUT = FIXTURES / "tf_keras_reference.json"
DEFAULT_GRADIENT_OUTPUT = FIXTURES / "tf_keras_gradients.json"

Json = Any
TfFn = Callable[[Any], Any]

DTYPES: tuple[str, ...] = ("float16", "bfloat16", "float32", "float64")
TF_DTYPES: dict[str, Any] = {
    "float16": tf.float16,
    "bfloat16": tf.bfloat16,
    "float32": tf.float32,
    "float64": tf.float64,
}
NP_DTYPES: dict[str, Any] = {
    "float16": np.float16,
    "bfloat16": ml_dtypes.bfloat16,
    "float32": np.float32,
    "float64": np.float64,
}

NAN = math.nan
INF = math.inf


def _finfo(dtype: str) -> Any:
    return ml_dtypes.finfo(NP_DTYPES[dtype])  # type: ignore[no-untyped-call]


def special_values(dtype: str) -> list[float]:
    """NaN, +-inf, signed zeros, the smallest subnormal and normal, large values, the largest finite."""
    info = _finfo(dtype)
    sub = float(info.smallest_subnormal)
    tiny = float(info.smallest_normal)
    big = float(info.max)
    return [NAN, INF, -INF, 0.0, -0.0, sub, -sub, tiny, -tiny, 100.0, -100.0, 1e4, -1e4, big, -big]


def special_rows(dtype: str) -> list[list[float]]:
    """Rows of four for the functions that reduce over an axis (softmax family, sparsemax, glu)."""
    info = _finfo(dtype)
    sub = float(info.smallest_subnormal)
    big = float(info.max)
    return [
        [0.0, INF, 1.0, 2.0],
        [INF, INF, 0.0, -1.0],
        [-INF, 0.0, 1.0, 2.0],
        [-INF, -INF, -INF, -INF],
        [NAN, 0.0, 1.0, 2.0],
        [1e4, -1e4, 0.0, 1.0],
        [big, big, -big, 0.0],
        [0.0, -0.0, sub, -sub],
    ]


# Hand-picked grids: values at and next to each branch point of each function, plus the ranges where
# exp, x**2 or 1 - tanh over- or underflow. Each is a multiple of four long (rows of four).
NEAR_ZERO = [-1e-8, -0.0, 0.0, 1e-8]
# fmt: off
GRIDS: dict[str, list[float]] = {
    "relu": [-10.0, -3.0, -2.0, -1.0, -0.5, *NEAR_ZERO, 0.5, 1.0, 1.5, 2.5, 3.0, 4.0, 5.0, 6.0, 6.5, 10.0, 100.0],
    "sigmoid": [-1e4, -100.0, -88.0, -40.0, -20.0, -5.0, -1.0, *NEAR_ZERO,
                1.0, 5.0, 16.0, 17.0, 20.0, 40.0, 88.0, 100.0, 1e4],
    "softplus": [-1e4, -100.0, -40.0, -20.0, -15.0, -1.0, *NEAR_ZERO,
                 0.5, 1.0, 10.0, 15.0, 20.0, 30.0, 40.0, 100.0, 1e3, 1e4],
    "softsign": [-3e4, -1e4, -100.0, -2.0, -1.0, -0.5, *NEAR_ZERO, 0.5, 1.0, 2.0, 100.0, 1e4, 3e4],
    "tanh": [-100.0, -20.0, -10.0, -1.0, -0.5, -1e-4, *NEAR_ZERO, 1e-4, 0.5, 1.0, 10.0, 20.0, 100.0],
    "elu": [-100.0, -20.0, -5.0, -1.0, -0.1, -1e-3, -1e-5, *NEAR_ZERO, 1e-5, 1e-3, 0.1, 1.0, 5.0],
    "exponential": [-1e4, -745.0, -104.0, -100.0, -88.0, -20.0, -1.0, *NEAR_ZERO,
                    1.0, 10.0, 11.0, 11.5, 88.0, 89.0, 709.0, 710.0, 1e4],
    "linear": [-1e4, -1.0, -0.5, *NEAR_ZERO, 0.1, 1.0, 3.0, 1e4, 6e4],
    "gelu": [-100.0, -38.0, -20.0, -10.0, -5.0, -3.0, -1.0, -0.5, *NEAR_ZERO,
             0.5, 1.0, 3.0, 5.0, 10.0, 100.0, -1e4, 1e4],
    "swish": [-1e4, -100.0, -40.0, -20.0, -5.0, -1.0, *NEAR_ZERO, 1.0, 5.0, 20.0, 40.0, 100.0, 1e4],
    "hard_sigmoid": [-10.0, -3.0, -2.6, -2.5, -2.4, -1.0, *NEAR_ZERO, 1.0, 2.4, 2.5, 2.6, 3.0, 10.0],
    "relu6": [-10.0, -1.0, *NEAR_ZERO, 1.0, 5.5, 6.0, 6.5, 10.0, 100.0],
    "leaky_relu": [-100.0, -10.0, -1.0, -0.5, *NEAR_ZERO, 0.5, 1.0, 10.0, 100.0],
    "hard_silu": [-10.0, -3.5, -3.0, -2.5, -1.5, -1.0, *NEAR_ZERO, 1.0, 1.5, 2.5, 3.0, 3.5, 10.0],
    "hard_tanh": [-10.0, -1.5, -1.0, -0.5, *NEAR_ZERO, 0.5, 1.0, 1.5, 10.0],
    "log_sigmoid": [-1e4, -100.0, -40.0, -20.0, -5.0, -1.0, *NEAR_ZERO, 1.0, 5.0, 20.0, 40.0, 100.0, 1e4],
    "shrink": [-2.0, -1.5, -1.0, -0.75, -0.5, -0.25, *NEAR_ZERO, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0],
    "tanh_shrink": [-100.0, -10.0, -1.0, -0.1, -1e-2, -1e-4, *NEAR_ZERO, 1e-4, 1e-2, 0.1, 1.0, 10.0, 100.0],
    "squareplus": [-1e20, -1e4, -100.0, -10.0, -2.0, -1.0, *NEAR_ZERO, 1.0, 2.0, 10.0, 100.0, 1e4, 1e20],
    "sparse": [-10.0, -1.5, -1.0, -0.75, -0.5, -0.25, *NEAR_ZERO, 0.25, 0.5, 0.75, 1.0, 1.5, 10.0],
    "threshold": [-3.0, -2.5, -1.5, -1.0, -0.75, -0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 7.0, 100.0],
    "thresholded_relu": [-2.0, -1.0, -0.5, *NEAR_ZERO, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 100.0],
    "prelu": [-100.0, -10.0, -1.0, -0.5, *NEAR_ZERO, 0.5, 1.0, 10.0, 100.0],
}
# fmt: on

# Rows of four for the reducing functions (3 x 4), and a seeded 2 x 3 x 4 grid for the axis cases.
REDUCE_GRID = [
    [-1.0, 0.0, 1.0, 2.0],
    [0.5, 0.5, 0.5, 0.5],
    [10.0, -10.0, 3.0, 2.75],
]
SEED = 20240611


def seeded_grid(shape: tuple[int, ...], scale: float = 2.0) -> np.ndarray:
    """Deterministic values with two decimals (exactly reproducible from the seed)."""
    rng = np.random.default_rng(SEED)
    return np.round(rng.normal(0.0, scale, size=shape), 2)


@dataclass(frozen=True)
class Entry:
    """One catalogue name as a client sends it, with the inputs and parameters to exercise."""

    name: str
    grid: Sequence[Any]
    variants: Sequence[dict[str, Any]] = ()
    default: dict[str, Any] = field(default_factory=dict)
    reducing: bool = False  # reduces over an axis: rank >= 1 (softmax: >= 2), rows of four
    min_rank: int = 0


def _relu_variants() -> list[dict[str, Any]]:
    return [
        {"alpha": 0.1},
        {"negative_slope": 0.1},
        {"alpha": -0.5},
        {"alpha": 2.0},
        {"max_value": 6.0},
        {"max_value": 2.5},
        {"max_value": 0.0},
        {"max_value": -1.0},
        {"threshold": 1.0},
        {"threshold": -1.0},
        {"max_value": 6.0, "threshold": 1.0},
        {"alpha": 0.1, "max_value": 6.0},
        {"alpha": 0.1, "threshold": 1.0},
        {"alpha": 0.1, "max_value": 4.0, "threshold": 1.0},
        {"alpha": 0.1, "max_value": -1.0, "threshold": -2.0},
    ]


# Row 0 of REDUCE_GRID fully masked: TF's float32 gives a uniform row, the exact computation does not.
MASK_ROWS = [[0, 0, 0, 0], [1, 0, 1, 1], [1, 1, 0, 1]]
MASK_BOOL = [[False, False, False, False], [True, False, True, False], [True, True, True, True]]

CATALOGUE: list[Entry] = [
    Entry("relu", GRIDS["relu"], _relu_variants()),
    Entry("sigmoid", GRIDS["sigmoid"]),
    Entry(
        "softmax",
        REDUCE_GRID,
        [{"axis": -1}, {"axis": 0}, {"axis": 1}, {"axis": -2}, {"axis": [1, 2]}, {"axis": [0, 2]}, {"axis": [-1]}],
        reducing=True,
        min_rank=2,
    ),
    Entry("softplus", GRIDS["softplus"]),
    Entry("softsign", GRIDS["softsign"]),
    Entry("tanh", GRIDS["tanh"]),
    Entry("selu", GRIDS["elu"]),
    Entry("elu", GRIDS["elu"], [{"alpha": 0.5}, {"alpha": 2.0}, {"alpha": -1.0}]),
    Entry("exponential", GRIDS["exponential"]),
    Entry("linear", GRIDS["linear"]),
    Entry("gelu", GRIDS["gelu"], [{"approximate": False}, {"approximate": True}]),
    Entry("swish", GRIDS["swish"]),
    Entry("silu", GRIDS["swish"]),
    Entry("hard_sigmoid", GRIDS["hard_sigmoid"]),
    Entry("mish", GRIDS["swish"]),
    Entry("relu6", GRIDS["relu6"]),
    Entry(
        "leaky_relu",
        GRIDS["leaky_relu"],
        [{"alpha": 0.1}, {"negative_slope": 0.1}, {"alpha": -0.5}, {"alpha": 2.0}, {"alpha": 0.0}],
    ),
    Entry(
        "log_softmax",
        REDUCE_GRID,
        [{"axis": -1}, {"axis": 0}, {"axis": 1}, {"axis": [1, 2]}, {"axis": [0, 2]}],
        reducing=True,
        min_rank=1,
    ),
    Entry("hard_silu", GRIDS["hard_silu"]),
    Entry("hard_swish", GRIDS["hard_silu"]),
    Entry("celu", GRIDS["elu"], [{"alpha": 0.5}, {"alpha": 2.0}, {"alpha": -1.0}]),
    Entry("glu", REDUCE_GRID, [{"axis": -1}, {"axis": 0}, {"axis": 1}, {"axis": -2}], reducing=True, min_rank=1),
    Entry("hard_tanh", GRIDS["hard_tanh"]),
    Entry("log_sigmoid", GRIDS["log_sigmoid"]),
    Entry("soft_shrink", GRIDS["shrink"], [{"threshold": 1.0}, {"threshold": 0.0}, {"threshold": 0.25}]),
    Entry("hard_shrink", GRIDS["shrink"], [{"threshold": 1.0}, {"threshold": 0.0}, {"threshold": 0.25}]),
    Entry("tanh_shrink", GRIDS["tanh_shrink"]),
    Entry("squareplus", GRIDS["squareplus"], [{"b": 0.0}, {"b": 1.0}, {"b": 10.0}]),
    Entry("sparse_plus", GRIDS["sparse"]),
    Entry("sparsemax", REDUCE_GRID, [{"axis": -1}, {"axis": 0}, {"axis": 1}], reducing=True, min_rank=1),
    Entry("sparse_sigmoid", GRIDS["sparse"]),
    Entry(
        "threshold",
        GRIDS["threshold"],
        [
            {"threshold": -1.0, "default_value": -2.5},
            {"threshold": 1.0, "default_value": 7.0},
            {"threshold": 0.0, "default_value": 0.0},
        ],
        default={"threshold": 0.5, "default_value": 0.0},
    ),
    Entry("LeakyReLU", GRIDS["leaky_relu"], [{"alpha": 0.1}, {"alpha": 0.2}, {"alpha": -0.5}, {"alpha": 0.0}]),
    Entry(
        "ReLU",
        GRIDS["relu"],
        [
            {"max_value": 6.0},
            {"max_value": 2.5},
            {"max_value": 0.0},
            {"negative_slope": 0.1},
            {"threshold": 1.0},
            {"max_value": 4.0, "negative_slope": 0.1, "threshold": 1.0},
        ],
    ),
    Entry("ELU", GRIDS["elu"], [{"alpha": 0.5}, {"alpha": 2.0}]),
    Entry("ThresholdedReLU", GRIDS["thresholded_relu"], [{"theta": 0.0}, {"theta": 0.5}, {"theta": 2.0}]),
    Entry(
        "PReLU",
        GRIDS["prelu"],
        [{"alpha": 0.25}, {"alpha": -0.5}, {"alpha": [0.1, 0.2, -0.5, 2.0]}, {"alpha": [[0.1], [0.2], [0.3]]}],
    ),
    Entry(
        "Softmax",
        REDUCE_GRID,
        [
            {"axis": 0},
            {"axis": 1},
            {"axis": [1, 2]},
            {"axis": [-1]},
            {"mask": MASK_ROWS},
            {"mask": MASK_BOOL},
            {"mask": [[1, 1, 0, 1]]},
            {"axis": 0, "mask": MASK_ROWS},
            {"axis": [1, 2], "mask": [[[1, 0, 1, 0]]]},
        ],
        reducing=True,
        min_rank=2,
    ),
]

# --------------------------------------------------------------------------------------------------
# Mapping from the service's names and parameters to the TensorFlow call.
# --------------------------------------------------------------------------------------------------

K2_FUNCTIONS = {
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
    "softsign",
    "tanh",
    "selu",
    "elu",
    "exponential",
    "linear",
    "gelu",
    "swish",
    "hard_sigmoid",
    "mish",
}
# tf_keras.activations.get() resolves these names to the tf.nn ops of the same name.
K2_TF_NN = {"silu", "relu6", "leaky_relu", "log_softmax"}
K3_FUNCTIONS = {
    "hard_silu",
    "hard_swish",
    "celu",
    "glu",
    "hard_tanh",
    "log_sigmoid",
    "soft_shrink",
    "hard_shrink",
    "tanh_shrink",
    "squareplus",
    "sparse_plus",
    "sparsemax",
    "sparse_sigmoid",
    "threshold",
}
LAYERS = {"LeakyReLU", "ReLU", "ELU", "ThresholdedReLU", "PReLU", "Softmax"}


def _slope(params: dict[str, Any]) -> dict[str, Any]:
    """The service's ``negative_slope`` alias of ``alpha`` (relu, leaky_relu) as TF's ``alpha``."""
    out = dict(params)
    if "negative_slope" in out:
        out["alpha"] = out.pop("negative_slope")
    return out


def resolve(name: str, params: dict[str, Any], dtype: str, x_shape: tuple[int, ...]) -> tuple[TfFn, str]:
    """Return the TensorFlow callable for a case and a description of where it comes from."""
    if name in K2_FUNCTIONS:
        fn = tf_keras.activations.get(name)
        kwargs = _slope(params) if name == "relu" else dict(params)
        return (lambda x: fn(x, **kwargs)), f"tf_keras.activations.{fn.__name__}"
    if name in K2_TF_NN:
        axis = params.get("axis")
        if name == "log_softmax" and isinstance(axis, list):
            k3 = keras.activations.log_softmax
            return (lambda x: k3(x, axis=tuple(axis))), "keras.activations.log_softmax"
        fn = tf_keras.activations.get(name)
        kwargs = _slope(params)
        return (lambda x: fn(x, **kwargs)), f"tf_keras.activations.get('{name}') -> tf.nn.{fn.__name__}"
    if name in K3_FUNCTIONS:
        fn = getattr(keras.activations, name)
        kwargs = dict(params)
        return (lambda x: fn(x, **kwargs)), f"keras.activations.{name}"
    if name in LAYERS:
        return _layer(name, params, dtype, x_shape)
    raise KeyError(name)


def _layer(name: str, params: dict[str, Any], dtype: str, x_shape: tuple[int, ...]) -> tuple[TfFn, str]:
    cls = getattr(tf_keras.layers, name)
    source = f"tf_keras.layers.{name}(dtype='{dtype}')"
    if name == "PReLU":
        alpha = params.get("alpha", 0.0)
        if isinstance(alpha, list):
            layer = cls(dtype=dtype)
            layer.build(x_shape)
            weight = np.broadcast_to(np.asarray(alpha, dtype=np.float64), tuple(layer.alpha.shape))
            layer.set_weights([weight.astype(NP_DTYPES[dtype])])
            return layer, source + ".set_weights([alpha])"
        layer = cls(alpha_initializer=tf_keras.initializers.Constant(alpha), dtype=dtype)
        return layer, f"tf_keras.layers.PReLU(alpha_initializer=Constant(alpha), dtype='{dtype}')"
    if name == "Softmax":
        axis = params.get("axis", -1)
        layer = cls(axis=axis, dtype=dtype)
        mask = params.get("mask")
        if mask is None:
            return layer, source
        mask_np = np.asarray(mask)
        mask_t = tf.constant(mask_np, tf.bool) if mask_np.dtype == np.bool_ else tf.constant(mask_np, TF_DTYPES[dtype])
        return (lambda x: layer(x, mask=mask_t)), source + "(x, mask=mask)"
    return cls(**params, dtype=dtype), source


# --------------------------------------------------------------------------------------------------
# Cases.
# --------------------------------------------------------------------------------------------------


@dataclass
class Case:
    activation: str
    params: dict[str, Any]
    dtype: str
    x: np.ndarray  # float64
    tag: str
    kind: str = "value"

    @property
    def case_id(self) -> str:
        return f"{self.activation}/{_params_tag(self.params)}/{self.dtype}/{self.tag}"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return json.dumps(value, separators=(",", ":"))


def _params_tag(params: dict[str, Any]) -> str:
    if not params:
        return "default"
    return ",".join(f"{key}={_fmt(value)}" for key, value in params.items())


def _as_rows(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """A flat grid (a multiple of four long) as a 2D array with rows of four."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size % 4:
        raise AssertionError(f"grid of {arr.size} values is not a multiple of four long")
    return arr.reshape(-1, 4)


def _needs_3d(entry: Entry, params: dict[str, Any]) -> bool:
    axis = params.get("axis")
    mask = params.get("mask")
    if isinstance(axis, list) and len(axis) > 1:
        return True
    if mask is not None and np.asarray(mask).ndim == 3:
        return True
    return entry.reducing and isinstance(axis, int) and axis in (1, -2) and entry.name != "glu"


def refusals_for(entry: Entry) -> Iterator[Case]:
    """Inputs and parameters that tf.keras refuses: they end up in ``skipped`` with TF's message."""
    name = entry.name
    base = dict(entry.default)
    if entry.reducing:
        yield Case(name, base, "float32", np.asarray(1.5), "scalar")
    if entry.min_rank == 2:
        yield Case(name, base, "float32", np.asarray(REDUCE_GRID[0]), "1d")
    if name == "glu":
        yield Case(name, base, "float32", np.asarray(REDUCE_GRID)[:, :3], "2d-odd")
    if name == "ReLU":
        for key in ("max_value", "negative_slope", "threshold"):
            yield Case(name, {key: -1.0}, "float32", _as_rows(entry.grid), "2d")
    if name == "ThresholdedReLU":
        yield Case(name, {"theta": -1.0}, "float32", _as_rows(entry.grid), "2d")


def cases_for(entry: Entry) -> Iterator[Case]:
    name = entry.name
    base = dict(entry.default)
    if entry.reducing:
        grid2d = np.asarray(entry.grid, dtype=np.float64)
        grid3d = seeded_grid((2, 3, 4))
        for dtype in DTYPES:
            yield Case(name, base, dtype, grid2d, "2d")
            yield Case(name, base, dtype, np.asarray(special_rows(dtype)), "special")
        yield Case(name, base, "float32", grid3d, "3d")
        yield Case(name, base, "float32", np.zeros((0, 4)), "empty")
        yield Case(name, base, "float64", np.zeros((2, 0)), "empty-axis")
        if entry.min_rank <= 1:
            yield Case(name, base, "float32", grid2d[2], "1d")
            yield Case(name, base, "float64", np.asarray(special_rows("float64"))[0], "1d-special")
        for variant in entry.variants:
            params = {**base, **variant}
            x = grid3d if _needs_3d(entry, variant) else grid2d
            if name == "glu" and variant.get("axis") in (0, -2):
                x = np.concatenate([grid2d, grid2d[:1] * -1.0])  # 4 x 4: that axis must be even
            for dtype in DTYPES:
                yield Case(name, params, dtype, x, "3d" if x.ndim == 3 else "2d")
            if x.ndim == 2 and "mask" not in variant:
                yield Case(name, params, "float32", np.asarray(special_rows("float32")), "special")
        return
    grid = np.asarray(entry.grid, dtype=np.float64)
    for dtype in DTYPES:
        yield Case(name, base, dtype, _as_rows(grid), "2d")
        yield Case(name, base, dtype, np.asarray(special_values(dtype)), "special")
    yield Case(name, base, "float32", np.asarray(grid[len(grid) // 2 + 2]), "scalar")
    yield Case(name, base, "float64", np.asarray(-1.5), "scalar")
    yield Case(name, base, "float32", grid, "1d")
    yield Case(name, base, "float64", grid[: len(grid) // 4 * 4].reshape(2, -1, 2), "3d")
    yield Case(name, base, "float32", np.zeros((0,)), "empty")
    yield Case(name, base, "float64", np.zeros((2, 0, 3)), "empty-3d")
    for variant in entry.variants:
        params = {**base, **variant}
        x = _as_rows(grid)
        alpha = variant.get("alpha")
        if name == "PReLU" and isinstance(alpha, list) and np.ndim(alpha) >= x.ndim:
            x = x[None]  # the layer's alpha has no batch axis: a (3, 1) alpha needs a 3D input
        for dtype in DTYPES:
            yield Case(name, params, dtype, x, f"{x.ndim}d")
        if not isinstance(alpha, list):  # an array alpha does not fit the 1D special-value input
            yield Case(name, params, "float32", np.asarray(special_values("float32")), "special")


# --------------------------------------------------------------------------------------------------
# Running TensorFlow and writing numbers.
# --------------------------------------------------------------------------------------------------


def to_float64(tensor: Any) -> np.ndarray:
    """A TF tensor as float64, exactly (half types go through float32, which holds them exactly)."""
    if tensor.dtype in (tf.float16, tf.bfloat16):
        tensor = tf.cast(tensor, tf.float32)
    return np.asarray(tensor.numpy(), dtype=np.float64)


def encode(arr: np.ndarray) -> Json:
    """Nested lists of floats that read back exactly; non-finite values as JSON strings."""

    def one(value: float) -> Json:
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return float(value)

    def walk(item: Any) -> Json:
        return [walk(v) for v in item] if isinstance(item, list) else one(item)

    return walk(np.asarray(arr, dtype=np.float64).tolist())


def build_input(case: Case) -> Any:
    """``tf.constant(x, dtype)``, checked against a direct, correctly rounded conversion."""
    with np.errstate(over="ignore"):  # values beyond the dtype's range become +-inf on purpose
        tensor = tf.constant(case.x, TF_DTYPES[case.dtype])
        direct = case.x.astype(NP_DTYPES[case.dtype]).astype(np.float64)
    built = to_float64(tensor)
    same = (built == direct) | (np.isnan(built) & np.isnan(direct))
    same &= np.signbit(built) == np.signbit(direct)
    if not same.all():
        raise AssertionError(f"{case.case_id}: tf.constant rounds x differently from a direct conversion")
    return tensor


def run_value(case: Case, fn: TfFn, x: Any) -> dict[str, Json]:
    y = fn(x)
    out: dict[str, Json] = {"y": encode(to_float64(y))}
    if y.dtype != x.dtype:
        out["y_dtype"] = y.dtype.name
    return out


def upstream(shape: tuple[int, ...], dtype: str) -> Any:
    """A seeded upstream gradient with two decimals, rounded to the dtype, its last entry 0.

    Not ones: the vector-Jacobian product of an axis-wise function with dy = ones is 0 (softmax)
    or hides how dy is reduced along the axis. The zero sits last, where the grids hold no branch point.
    """
    rng = np.random.default_rng(SEED + 1)
    dy = np.round(rng.normal(0.0, 1.0, size=shape), 2)
    if dy.size:
        dy.flat[-1] = 0.0
    return tf.constant(dy, TF_DTYPES[dtype])


def run_gradient(case: Case, fn: TfFn, x: Any) -> dict[str, Json]:
    """The vector-Jacobian product dx = dy^T J(x) from tf.GradientTape, for a seeded upstream dy."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    dy = upstream(tuple(y.shape), case.dtype)
    dx = tape.gradient(y, x, output_gradients=dy)
    out: dict[str, Json] = {"dy": encode(to_float64(dy)), "dx": encode(to_float64(dx))}
    if dx.dtype != x.dtype:
        out["dx_dtype"] = dx.dtype.name
    return out


KIND_RUNNERS: dict[str, Callable[[Case, TfFn, Any], dict[str, Json]]] = {
    "value": run_value,
    "gradient": run_gradient,
}


def run_case(case: Case) -> dict[str, Json]:
    x = build_input(case)
    fn, source = resolve(case.activation, case.params, case.dtype, tuple(case.x.shape))
    fields = KIND_RUNNERS[case.kind](case, fn, x)
    return {
        "id": case.case_id if case.kind == "value" else f"{case.case_id}/{case.kind}",
        "kind": case.kind,
        "activation": case.activation,
        "params": case.params,
        "dtype": case.dtype,
        "x": encode(case.x),
        **fields,
        "source": source,
    }


def _error_text(exc: Exception) -> str:
    """TF's message without the parts that vary from run to run (layer numbers, op plumbing)."""
    text = str(exc).split("Call arguments received")[0]
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    text = re.sub(r"layer '[a-z_]+?(_\d+)?'", "layer", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text[:300]


def versions() -> dict[str, str]:
    return {
        "tensorflow": tf.__version__,
        "tf_keras": tf_keras.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def _compact(value: Json) -> str:
    return json.dumps(value, separators=(", ", ": "), allow_nan=False)


def dump(document: dict[str, Json]) -> str:
    """Pretty but compact: one case (and one skipped entry) per line."""
    lines = [
        "{",
        f'"generator": {json.dumps(document["generator"])},',
        f'"versions": {_compact(document["versions"])},',
        '"skipped": [',
    ]
    lines.append(",\n".join(_compact(s) for s in document["skipped"]))
    lines.append("],")
    lines.append('"cases": [')
    lines.append(",\n".join(_compact(c) for c in document["cases"]))
    lines.append("]}")
    return "\n".join(line for line in lines if line) + "\n"


def write(output: Path, cases: list[dict[str, Json]], skipped: list[dict[str, Json]]) -> None:
    document = {"generator": GENERATOR, "versions": versions(), "skipped": skipped, "cases": cases}
    text = dump(document)
    json.loads(text)  # must be strict JSON
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")

    per_activation = Counter(c["activation"] for c in cases)
    per_dtype = Counter(c["dtype"] for c in cases)
    print(f"wrote {output} ({len(text)} bytes): {len(cases)} cases, {len(skipped)} skipped")
    print("versions:", json.dumps(document["versions"]))
    print("per dtype:", dict(per_dtype))
    print("per activation:", dict(per_activation))
    for item in skipped:
        print("skipped:", item["id"], "-", item["error"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where the value cases go")
    parser.add_argument(
        "--gradient-output", type=Path, default=DEFAULT_GRADIENT_OUTPUT, help="where the gradient cases go"
    )
    parser.add_argument("--kinds", default="value", help="comma-separated: value, gradient (one file per kind)")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    for kind in kinds:
        if kind not in KIND_RUNNERS:
            parser.error(f"unknown kind {kind!r}")

    cases: list[dict[str, Json]] = []
    skipped: list[dict[str, Json]] = []
    seen: set[str] = set()
    for entry in CATALOGUE:
        for case in [*cases_for(entry), *refusals_for(entry)]:
            for kind in kinds:
                case.kind = kind
                key = f"{case.case_id}/{kind}"
                if key in seen:
                    raise AssertionError(f"duplicate case id {key}")
                seen.add(key)
                try:
                    cases.append(run_case(case))
                except AssertionError:
                    raise
                except Exception as exc:  # TF refusing a combination is data, not a failure
                    skipped.append(
                        {
                            "id": key if kind != "value" else case.case_id,
                            "kind": kind,
                            "error": f"{type(exc).__name__}: {_error_text(exc)}",
                        }
                    )

    outputs = {"value": args.output, "gradient": args.gradient_output}
    for kind in kinds:
        write(
            outputs[kind],
            [c for c in cases if c["kind"] == kind],
            [s for s in skipped if s["kind"] == kind],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
