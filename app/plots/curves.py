"""Curves of catalogue entries and custom expressions, sampled through the numeric core.

The points are the core's own answers: `evaluate` and `evaluate_gradient` (or the expression
evaluators for `custom`), in the requested dtype, so a plot shows exactly what `POST /activate`
and `POST /gradient` return for the same x.

Axis-wise activations (softmax, log_softmax, sparsemax, glu, the Softmax layer) need a batch: the
curve of x is the first element of the row [x, 0], every plotted point one row of an [n, 2] tensor
normalised along its last axis (glu: the value x gated by sigmoid(0)). The axis must therefore
address that last axis (-1 or 1, the default); the derivative is d y[0] / d x[0] along the row,
the gradient with the upstream one-hot on the plotted element.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.errors import ErrorItem, InvalidParameter
from app.numerics import DTYPES, REGISTRY, evaluate, evaluate_gradient
from app.numerics.expressions import CUSTOM, custom_expression, evaluate_expression, evaluate_expression_gradient

FloatArray = npt.NDArray[np.float64]

MIN_POINTS, MAX_POINTS, DEFAULT_POINTS = 2, 2001, 201
MAX_ABS_X = 1e6  # the plotted range stays within [-MAX_ABS_X, MAX_ABS_X]
MIN_SPAN = 1e-9  # x_max - x_min (and y_max - y_min) at least this: distinct points and readable ticks
ROW_OTHER = 0.0  # the fixed other element of the row [x, 0] of axis-wise activations
_ROW_AXES = (-1, 1, [-1], [1])


@dataclass(frozen=True)
class SampledCurve:
    """A sampled activation: its canonical name, effective parameters, x, y and (on request) dy/dx."""

    name: str
    params: dict[str, object]
    x: FloatArray
    y: FloatArray
    dydx: FloatArray | None


def sample_x(x_min: float, x_max: float, points: int) -> FloatArray:
    """`points` evenly spaced values from x_min to x_max, each as lo + (hi - lo) * i / (n - 1).

    The explorer page and its request snippets compute the same expression in IEEE doubles, so
    the three agree bit for bit.
    """
    return x_min + (x_max - x_min) * np.arange(points, dtype=np.float64) / (points - 1)


def sample_curve(
    name: str, params: Mapping[str, object], x: FloatArray, dtype: str = "float32", derivative: bool = False
) -> SampledCurve:
    """Activation `name` (or `custom` with an `expression`) and optionally its derivative at x."""
    if name == CUSTOM:
        expression = custom_expression(params)
        y = evaluate_expression(expression, x, dtype).values
        dx = evaluate_expression_gradient(expression, x, None, dtype).values if derivative else None
        return _curve(CUSTOM, {"expression": expression}, x, dtype, y, dx)
    spec = REGISTRY.get(name)
    if spec.elementwise:
        result = evaluate(spec.name, x, params, dtype)
        dx = evaluate_gradient(spec.name, x, None, params, dtype).dx if derivative else None
        return _curve(spec.name, result.params, x, dtype, result.y, dx)
    echo = spec.bind(params).echo
    if "axis" in echo and echo["axis"] not in _ROW_AXES:
        msg = (
            f"plots of {spec.name} evaluate rows [x, {ROW_OTHER:g}] along the last axis of an [n, 2] tensor: "
            f"'axis' must be -1 or 1, got {echo['axis']!r}"
        )
        raise InvalidParameter(msg, [ErrorItem(("axis",), msg)])
    rows = np.stack([x, np.full_like(x, ROW_OTHER)], axis=1)
    result = evaluate(spec.name, rows, params, dtype)
    dx = None
    if derivative:
        upstream = np.zeros(result.y.shape)
        upstream[:, 0] = 1.0
        dx = evaluate_gradient(spec.name, rows, upstream, params, dtype).dx[:, 0]
    return _curve(spec.name, result.params, x, dtype, result.y[:, 0], dx)


def _curve(
    name: str, params: dict[str, object], x: FloatArray, dtype: str, y: np.ndarray, dx: np.ndarray | None
) -> SampledCurve:
    # x as the service saw it: rounded to the dtype (float16 moves the points a little).
    with np.errstate(over="ignore"):
        seen = np.asarray(x).astype(DTYPES[dtype]).astype(np.float64)
    return SampledCurve(
        name=name,
        params=params,
        x=seen,
        y=np.asarray(y).astype(np.float64),
        dydx=None if dx is None else np.asarray(dx).astype(np.float64),
    )


def plot_title(curve: SampledCurve) -> str:
    """`relu(alpha=0.1)`: the name and the parameters that differ from their defaults (`relu`: none)."""
    if curve.name == CUSTOM:
        return f"custom: {curve.params['expression']}"
    spec = REGISTRY.get(curve.name)
    shown = [
        f"{param.name}={_text(curve.params[param.name])}"
        for param in spec.params
        if curve.params.get(param.name) != param.default
    ]
    return f"{curve.name}({', '.join(shown)})" if shown else curve.name


def _text(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
