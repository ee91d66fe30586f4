"""Gradients of the catalogue: the vector-Jacobian product dx = dy^T J(x) of every registry entry.

`GRADIENTS` maps each canonical name to a kernel `(x, dy, **params) -> dx`, with x and dy in the
wide dtype of `elementwise` and the parameters as the registry binds and checks them.
`evaluate_gradient` is the entry point beside `registry.evaluate`: same name resolution, parameter
binding and tensor checks, dy (default ones) rounded to the dtype and broadcast to the shape of
the activation's result, computed wide, rounded once.

Conventions, checked against tf.GradientTape on the real tf.keras functions and layers:

* at a kink the gradient is the one TensorFlow's registered gradients give: relu'(0) = 0,
  leaky_relu'(0) = alpha (also relu with only alpha set, which tf.keras runs as leaky_relu),
  relu6 and relu(max_value=6) exclusive at 0 and 6, other max_value clips inclusive (clip_by_value),
  hard_sigmoid and hard_tanh inclusive at their corners, elu'(0) = alpha, selu'(0) = scale,
  PReLU'(0) = 0, the shrinks, threshold and ThresholdedReLU 0 at their thresholds;
* where the function is differentiable the gradient is its derivative, also where TensorFlow's
  composition says otherwise (celu'(0) = 1, where TensorFlow adds the tie gradients of its max and
  min and gives 2) or has no number (squareplus with b = 0 at 0: 1/2, the mean of the one-sided
  slopes, where TensorFlow's sqrt gradient gives inf * 0 = NaN);
* the limits of the derivative at +-inf (swish'(-inf) = 0, gelu'(+inf) = 1), where TensorFlow
  meets inf * 0; a NaN x gives a NaN dx for the elementwise functions (TensorFlow's selects give 0);
* dy enters as a factor: a NaN or infinite dy times a zero slope is NaN, as IEEE multiplies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from app.errors import ErrorItem, InvalidTensor
from app.numerics import axiswise, elementwise
from app.numerics.dtypes import BFLOAT16, DTYPES, wide_dtype
from app.numerics.registry import REGISTRY, ActivationSpec, _check_against_tensor

Array = np.ndarray
GradientKernel = Callable[..., Array]


@dataclass(frozen=True)
class GradientResult:
    """What `evaluate_gradient` returns: the canonical spec, the echoed parameters and dx."""

    spec: ActivationSpec
    params: dict[str, object]
    dx: np.ndarray


# --------------------------------------------------------------------------------------------------
# Building blocks, all in the wide dtype.
# --------------------------------------------------------------------------------------------------


def _sigmoid(x: Array) -> Array:
    with np.errstate(over="ignore"):
        return np.asarray(1 / (1 + np.exp(-x)))


def _sigmoid_slope(x: Array) -> Array:
    """sigmoid(x) sigmoid(-x) = e / (1 + e)^2 with e = exp(-|x|): no cancellation, 0 at +-inf."""
    e = np.exp(-np.abs(x))
    return np.asarray(e / ((1 + e) * (1 + e)))


def _sech2(x: Array) -> Array:
    """1 - tanh(x)^2 = 4 e / (1 + e)^2 with e = exp(-2|x|)."""
    e = np.exp(-2 * np.abs(x))
    return np.asarray(4 * e / ((1 + e) * (1 + e)))


def _limits(x: Array, slope: Array, at_minus_inf: float, at_plus_inf: float) -> Array:
    """The slope with its limits at +-inf, where the formula meets inf * 0."""
    return np.where(np.isposinf(x), at_plus_inf, np.where(np.isneginf(x), at_minus_inf, slope))


def _ones(x: Array) -> Array:
    return np.ones_like(x)


def _step(condition: Array, x: Array) -> Array:
    return condition.astype(x.dtype)


# --------------------------------------------------------------------------------------------------
# Elementwise slopes f'(x); the kernel multiplies by dy.
# --------------------------------------------------------------------------------------------------


def relu_slope(x: Array, *, alpha: float, max_value: float | None, threshold: float) -> Array:
    """tf.keras 2.x backend.relu, branch by branch as it builds its graph.

    alpha alone is tf.nn.leaky_relu (alpha at 0); otherwise relu or x * (x > threshold) (0 at the
    threshold), then relu6 (exclusive at 6) when max_value is 6 and threshold 0, or clip_by_value,
    whose minimum and maximum pass the gradient on ties (inclusive at max_value); then plus alpha
    where threshold - x > 0 (the gradient of -alpha * relu(threshold - x)).
    """
    if alpha != 0 and max_value is None and threshold == 0:
        return np.where(x > 0, 1, alpha).astype(x.dtype)
    keep = x > threshold
    if max_value is not None:
        if threshold == 0 and max_value == 6:
            keep &= x < 6
        else:
            kept = np.where(keep, x, 0)
            keep &= (kept <= max_value) & (np.minimum(kept, max_value) >= 0)
    slope = _step(keep, x)
    if alpha != 0:
        slope = slope + alpha * _step(x < threshold, x)
    return slope


def relu_layer_slope(x: Array, *, max_value: float | None, negative_slope: float, threshold: float) -> Array:
    return relu_slope(x, alpha=negative_slope, max_value=max_value, threshold=threshold)


def leaky_relu_slope(x: Array, *, alpha: float) -> Array:
    """tf.nn.leaky_relu's LeakyReluGrad: 1 for x > 0, alpha at and below 0."""
    return np.where(x > 0, 1, alpha).astype(x.dtype)


def sigmoid_slope(x: Array) -> Array:
    return _sigmoid_slope(x)


def softplus_slope(x: Array) -> Array:
    return _sigmoid(x)


def softsign_slope(x: Array) -> Array:
    d = 1 + np.abs(x)
    with np.errstate(over="ignore"):
        return np.asarray(1 / (d * d))


def tanh_slope(x: Array) -> Array:
    return _sech2(x)


def selu_slope(x: Array) -> Array:
    """SeluGrad: scale for x >= 0 (the activation is not < 0 at 0), scale * alpha * exp(x) below."""
    scale = x.dtype.type(elementwise._SELU_SCALE)
    alpha = x.dtype.type(elementwise._SELU_ALPHA)
    return np.where(x >= 0, scale, np.asarray((scale * alpha) * np.exp(np.minimum(x, 0))))


def elu_slope(x: Array, *, alpha: float) -> Array:
    """EluGrad, times alpha where tf.keras' elu rescales: 1 for x > 0, alpha * exp(x) at 0 and below."""
    return np.where(x > 0, 1, alpha * np.exp(np.minimum(x, 0)))


def exponential_slope(x: Array) -> Array:
    with np.errstate(over="ignore"):
        return np.asarray(np.exp(x))


def gelu_slope(x: Array, *, approximate: bool) -> Array:
    """Exact: Phi(x) + x phi(x). Approximate: with u = sqrt(2/pi)(x + 0.044715 x^3) and s = sigmoid(2u),
    d/dx x s = s + 2 x s sigmoid(-2u) u'; the identity 1 + tanh(u) = 2 sigmoid(2u) avoids the
    cancellation for negative x, as the value does.
    """
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        if approximate:
            c = x.dtype.type(elementwise._SQRT_2_OVER_PI)
            cubic = x.dtype.type("0.044715")
            u = c * (x + cubic * x**3)
            du = c * (1 + 3 * cubic * x * x)
            slope = _sigmoid(2 * u) + 2 * x * du * _sigmoid_slope(2 * u)
            # Beyond |x| = 1e4 the second term is exp(-1e10)-small and its factors overflow.
            slope = np.where(np.abs(x) > 1e4, x > 0, slope)
        else:
            half = x.dtype.type(elementwise._SQRT_HALF)
            density = x * np.exp(-x * x / 2) * (half * x.dtype.type(elementwise._INV_SQRT_PI))
            slope = 0.5 * elementwise._erfc(-x * half) + np.where(np.isinf(x), 0, density)
    return _limits(x, slope, 0.0, 1.0)


def swish_slope(x: Array) -> Array:
    """sigmoid(x) (1 + x sigmoid(-x))."""
    with np.errstate(invalid="ignore"):
        slope = _sigmoid(x) * (1 + x * _sigmoid(-x))
    return _limits(x, slope, 0.0, 1.0)


def hard_sigmoid_dx(x: Array, dy: Array) -> Array:
    """0.2 dy on the inclusive ramp |x| <= 2.5 (clip_by_value passes ties), as dy / 5: 0.2 exact."""
    return np.where(np.abs(x) <= 2.5, dy / 5, 0 * dy)


def mish_slope(x: Array) -> Array:
    """tanh(sp) + x sech^2(sp) sigmoid(x), sp = softplus(x)."""
    sp = np.logaddexp(x, 0)
    with np.errstate(invalid="ignore"):
        slope = np.tanh(sp) + x * _sech2(sp) * _sigmoid(x)
    return _limits(x, slope, 0.0, 1.0)


def relu6_slope(x: Array) -> Array:
    """Relu6Grad: 1 strictly between 0 and 6."""
    return _step((x > 0) & (x < 6), x)


def hard_silu_slope(x: Array) -> Array:
    """relu6(x + 3) / 6 + x relu6'(x + 3) / 6: (2x + 3) / 6 inside (-3, 3), 1 from 3 on, 0 up to -3."""
    return np.where((x > -3) & (x < 3), (2 * x + 3) / 6, _step(x >= 3, x))


def celu_slope(x: Array, *, alpha: float) -> Array:
    """1 for x >= 0, exp(x / alpha) below: continuous at 0 (TensorFlow gives 2 there, see the module)."""
    with np.errstate(over="ignore"):
        return np.where(x >= 0, 1, np.exp(np.minimum(x, 0) / alpha))


def hard_tanh_slope(x: Array) -> Array:
    """1 on [-1, 1], corners included (clip_by_value passes ties)."""
    return _step((x >= -1) & (x <= 1), x)


def log_sigmoid_slope(x: Array) -> Array:
    return _sigmoid(-x)


def shrink_slope(x: Array, *, threshold: float) -> Array:
    """soft_shrink and hard_shrink: 1 outside the band, 0 inside and at its edges."""
    return _step((x > threshold) | (x < -threshold), x)


def tanh_shrink_slope(x: Array) -> Array:
    """1 - sech^2(x) = tanh(x)^2, which does not cancel near 0."""
    t = np.tanh(x)
    return np.asarray(t * t)


def squareplus_slope(x: Array, *, b: float) -> Array:
    """(1 + x / r) / 2 with r = sqrt(x^2 + b); for x < 0 as b / (2 r (r - x)), which does not cancel.

    b = 0 is (x + |x|) / 2 = relu(x): at x = 0 the slope is 1/2 (Abs's gradient sign(0) = 0).
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        r = np.sqrt(x * x + b)
        positive = (1 + x / r) / 2
        negative = b / (2 * r * (r - x))
        slope = np.where(x < 0, negative, positive)
    slope = np.where(x == 0, 0.5, slope)
    return _limits(x, slope, 0.0, 1.0)


def sparse_plus_slope(x: Array) -> Array:
    """0 up to -1, (x + 1) / 2 between, 1 from 1 on (the selects' branches, ends as the value's)."""
    return np.where(x <= -1, 0, np.where(x >= 1, 1, (x + 1) / 2))


def sparse_sigmoid_dx(x: Array, dy: Array) -> Array:
    """dy / 2 strictly inside (-1, 1), 0 outside and at the corners."""
    return np.where((x > -1) & (x < 1), dy / 2, 0 * dy)


def threshold_slope(x: Array, *, threshold: float, default_value: float) -> Array:
    return _step(x > threshold, x)


def thresholded_relu_slope(x: Array, *, theta: float) -> Array:
    return _step(x > theta, x)


def prelu_slope(x: Array, *, alpha: Array | float) -> Array:
    """The layer's relu(x) - alpha relu(-x): 1 above 0, alpha below, 0 at 0 (both relus are flat there)."""
    a = np.asarray(alpha, dtype=x.dtype)
    return np.where(x > 0, 1, np.where(x < 0, a, 0)).astype(x.dtype)


def _from_slope(slope: Callable[..., Array]) -> GradientKernel:
    def kernel(x: Array, dy: Array, **params: object) -> Array:
        return np.asarray(dy * slope(x, **params))

    kernel.__name__ = kernel.__qualname__ = slope.__name__.removesuffix("_slope") + "_dx"
    kernel.__doc__ = slope.__doc__
    return kernel


# --------------------------------------------------------------------------------------------------
# Axis-wise: vector-Jacobian products along the normalised axes.
# --------------------------------------------------------------------------------------------------


def _softmax_vjp_slices(y: Array, g: Array) -> Array:
    """y (g - sum(y g)), with g shifted by its value at the largest y first.

    Subtracting g_k, k = argmax y, changes nothing in exact arithmetic (sum y = 1) and keeps
    g_i - sum(y g) from cancelling when one entry takes almost all the mass: then the sum is g_k
    plus small terms, and the dx of the entries are tiny differences.
    """
    k = np.argmax(np.where(np.isnan(y), -np.inf, y), axis=-1)[..., None]
    shifted = g - np.take_along_axis(g, k, -1)
    with np.errstate(invalid="ignore"):
        return np.asarray(y * (shifted - np.sum(y * shifted, axis=-1, keepdims=True)))


def softmax_dx(x: Array, dy: Array, *, axis: tuple[int, ...]) -> Array:
    return axiswise._along_last(x, axis, lambda z, g: _softmax_vjp_slices(axiswise._softmax_slices(z), g), dy)


def softmax_layer_dx(x: Array, dy: Array, *, axis: tuple[int, ...], mask: Array | None, out_dtype: np.dtype) -> Array:
    """The mask adds a constant: the same product, with the masked softmax."""
    if mask is None:
        return softmax_dx(x, dy, axis=axis)
    big = axiswise.MASK_ADDER.get(out_dtype, axiswise.DEFAULT_MASK_ADDER)
    adder = np.where(np.broadcast_to(mask, x.shape), 0, big).astype(x.dtype)

    def slices(z: Array, g: Array, a: Array) -> Array:
        return _softmax_vjp_slices(axiswise._softmax_slices(z, a), g)

    return axiswise._along_last(x, axis, slices, dy, adder)


def _log_softmax_vjp_slices(z: Array, g: Array) -> Array:
    """g - softmax(z) sum(g); at the largest entry k as g_k (1 - y_k) - y_k sum_{j != k} g_j.

    1 - y_k is summed from the other entries' y, so it keeps its precision when y_k is close to 1.
    """
    y = axiswise._softmax_slices(z)
    with np.errstate(invalid="ignore"):
        dx = g - y * np.sum(g, axis=-1, keepdims=True)
        k = np.argmax(np.where(np.isnan(y), -np.inf, y), axis=-1)[..., None]
        y_others = y.copy()
        np.put_along_axis(y_others, k, 0, axis=-1)
        others_y = np.sum(y_others, axis=-1, keepdims=True)
        g_others = g.copy()
        np.put_along_axis(g_others, k, 0, axis=-1)
        g_k, y_k = np.take_along_axis(g, k, -1), np.take_along_axis(y, k, -1)
        top = g_k * others_y - y_k * np.sum(g_others, axis=-1, keepdims=True)
        np.put_along_axis(dx, k, top, axis=-1)
    return np.where(np.isnan(y), np.nan, dx)


def log_softmax_dx(x: Array, dy: Array, *, axis: tuple[int, ...]) -> Array:
    return axiswise._along_last(x, axis, _log_softmax_vjp_slices, dy)


def _sparsemax_vjp_slices(z: Array, g: Array) -> Array:
    """On the support S = {y > 0}: g - mean of g over S; 0 off it (Martins and Astudillo, 2016)."""
    y = axiswise._sparsemax_slices(z)
    support = y > 0
    count = np.maximum(np.sum(support, axis=-1, keepdims=True), 1)
    with np.errstate(invalid="ignore"):
        mean = np.sum(np.where(support, g, 0), axis=-1, keepdims=True) / count
        dx = np.where(support, g - mean, 0 * g)
    return np.where(np.isnan(y), np.nan, dx)


def sparsemax_dx(x: Array, dy: Array, *, axis: int) -> Array:
    return axiswise._along_last(x, (axis,), _sparsemax_vjp_slices, dy)


def glu_dx(x: Array, dy: Array, *, axis: int) -> Array:
    """y = a sigmoid(b): da = dy sigmoid(b), db = dy a sigmoid'(b) (inf * 0 = NaN: no limit there)."""
    a, b = np.split(x, 2, axis=axis)
    with np.errstate(invalid="ignore"):
        da = dy * _sigmoid(b)
        db = dy * (a * _sigmoid_slope(b))
    return np.concatenate([da, db], axis=axis)


# Canonical registry name -> gradient kernel; every registry entry has one (a test checks it).
GRADIENTS: dict[str, GradientKernel] = {
    "relu": _from_slope(relu_slope),
    "sigmoid": _from_slope(sigmoid_slope),
    "softmax": softmax_dx,
    "softplus": _from_slope(softplus_slope),
    "softsign": _from_slope(softsign_slope),
    "tanh": _from_slope(tanh_slope),
    "selu": _from_slope(selu_slope),
    "elu": _from_slope(elu_slope),
    "exponential": _from_slope(exponential_slope),
    "linear": _from_slope(lambda x: _ones(x)),
    "gelu": _from_slope(gelu_slope),
    "swish": _from_slope(swish_slope),
    "hard_sigmoid": hard_sigmoid_dx,
    "mish": _from_slope(mish_slope),
    "relu6": _from_slope(relu6_slope),
    "leaky_relu": _from_slope(leaky_relu_slope),
    "log_softmax": log_softmax_dx,
    "hard_silu": _from_slope(hard_silu_slope),
    "celu": _from_slope(celu_slope),
    "glu": glu_dx,
    "hard_tanh": _from_slope(hard_tanh_slope),
    "log_sigmoid": _from_slope(log_sigmoid_slope),
    "soft_shrink": _from_slope(shrink_slope),
    "hard_shrink": _from_slope(shrink_slope),
    "tanh_shrink": _from_slope(tanh_shrink_slope),
    "squareplus": _from_slope(squareplus_slope),
    "sparse_plus": _from_slope(sparse_plus_slope),
    "sparsemax": sparsemax_dx,
    "sparse_sigmoid": sparse_sigmoid_dx,
    "threshold": _from_slope(threshold_slope),
    "LeakyReLU": _from_slope(leaky_relu_slope),
    "ReLU": _from_slope(relu_layer_slope),
    "ELU": _from_slope(elu_slope),
    "ThresholdedReLU": _from_slope(thresholded_relu_slope),
    "PReLU": _from_slope(prelu_slope),
    "Softmax": softmax_layer_dx,
}


def result_shape(spec: ActivationSpec, x_shape: tuple[int, ...], values: Mapping[str, object]) -> tuple[int, ...]:
    """The shape of the activation's result (and of dy): x's, with glu's axis halved."""
    if spec.name == "glu":
        axis = values["axis"]
        assert isinstance(axis, int)
        return (*x_shape[:axis], x_shape[axis] // 2, *x_shape[axis + 1 :])
    return x_shape


def evaluate_gradient(
    name: str,
    x: np.ndarray,
    dy: np.ndarray | None = None,
    params: Mapping[str, object] | None = None,
    dtype: str = "float32",
) -> GradientResult:
    """dx = dy^T J(x) of activation `name` at `x`, both rounded to `dtype` first; dy defaults to ones."""
    spec = REGISTRY.get(name)
    bound = spec.bind(params or {})
    out_dtype = DTYPES[dtype]
    with np.errstate(all="ignore"):  # rounding to the dtype may overflow to +-inf: that is the value
        x = np.asarray(x).astype(out_dtype, copy=False)
        values = _check_against_tensor(spec, bound.values, x)
        shape = result_shape(spec, x.shape, values)
        wide = x.astype(wide_dtype(out_dtype))
        g = broadcast_upstream(dy, shape, out_dtype).astype(wide.dtype)
        if spec.wants_dtype:
            values["out_dtype"] = out_dtype
        dx = GRADIENTS[spec.name](wide, g, **values)
        if spec.elementwise:
            nan = np.isnan(wide)
            if nan.any():
                dx = np.where(nan, wide, dx)
        dx = np.asarray(dx).astype(out_dtype, copy=False)
    return GradientResult(spec=spec, params=bound.echo, dx=dx)


def broadcast_upstream(dy: np.ndarray | None, shape: tuple[int, ...], out_dtype: np.dtype) -> np.ndarray:
    """dy (of any integer or float dtype) rounded to the dtype and broadcast to the result's shape; ones when absent."""
    if dy is None:
        return np.ones(shape, dtype=out_dtype)
    dy = np.asarray(dy)
    if dy.dtype.kind not in "iuf" and dy.dtype != BFLOAT16:
        msg = f"dy must hold numbers, got {dy.dtype.name}"
        raise InvalidTensor(msg, [ErrorItem(("dy",), msg)])
    try:
        broadcast = np.broadcast_shapes(dy.shape, shape)
    except ValueError:
        broadcast = None
    if broadcast != shape:
        msg = f"dy of shape {list(dy.shape)} does not broadcast to the result's shape {list(shape)}"
        raise InvalidTensor(msg, [ErrorItem(("dy",), msg)])
    return np.broadcast_to(dy.astype(out_dtype), shape)
