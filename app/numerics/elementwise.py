"""Elementwise activation kernels.

Every kernel takes `x` in a *wide* dtype (float64 for float16/bfloat16/float32 results,
np.longdouble for float64 results) and returns the value of its formula in that dtype; the
registry rounds once to the requested dtype. Working wide is what makes a single rounding
accurate; the kernels add stable forms where the formula itself cancels or overflows, and take
the limit of the formula at +-inf where a naive evaluation would produce inf*0 or inf/inf.
NaN inputs are mapped to NaN by the registry, so kernels need not care about them.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special

Array = np.ndarray

# Exact constants, parsed at the wide precision so no float64 rounding leaks into float64 results.
_SELU_ALPHA = "1.6732632423543772848170429916717"
_SELU_SCALE = "1.0507009873554804934193349852946"
_SQRT_2_OVER_PI = "0.79788456080286535587989211986876373695"
_SQRT_HALF = "0.70710678118654752440084436210484903928"
_TWO_OVER_SQRT_PI = "1.1283791670955125738961589031215451717"
_INV_SQRT_PI = "0.56418958354775628694807945156077258585"


def _c(x: Array, decimal: str) -> np.floating:
    """The constant `decimal` rounded to x's (wide) dtype."""
    return x.dtype.type(decimal)  # type: ignore[no-any-return]


def relu(x: Array, *, alpha: float, max_value: float | None, threshold: float) -> Array:
    """tf.keras 2.x backend.relu: keep x > threshold, clip to [0, max_value], minus alpha*relu(threshold - x)."""
    if threshold == 0:
        # max(x, 0) is the selection without a mask, but which zero it keeps for -0.0 depends on
        # the dtype and numpy's SIMD path; adding +0.0 turns -0.0 into +0.0 (0 is not > -0.0).
        y = np.asarray(np.maximum(x, 0))
        np.add(y, 0, out=y)
    else:
        y = np.where(x > threshold, x, 0)
    if max_value is not None:
        # clip_by_value applies the maximum after the minimum: a negative max_value clips to 0.
        y = np.maximum(np.minimum(y, max_value), 0)
    if alpha != 0:
        y = y - alpha * np.maximum(threshold - x, 0)
    return y


def relu_layer(x: Array, *, max_value: float | None, negative_slope: float, threshold: float) -> Array:
    """The ReLU layer: backend.relu with the layer's parameter names."""
    return relu(x, alpha=negative_slope, max_value=max_value, threshold=threshold)


def leaky_relu(x: Array, *, alpha: float) -> Array:
    """x if x > 0 else alpha * x; with alpha = 0 the limit at -inf is 0, not inf*0."""
    return np.where(x > 0, x, alpha * x if alpha != 0 else 0)


def sigmoid(x: Array) -> Array:
    """1 / (1 + exp(-x)): exp overflow for very negative x yields the correct 0, never NaN."""
    return np.asarray(1 / (1 + np.exp(-x)))


def softplus(x: Array) -> Array:
    """log(exp(x) + 1) as logaddexp(x, 0): no overflow for large x, no loss for very negative x."""
    return np.asarray(np.logaddexp(x, 0))


def softsign(x: Array) -> Array:
    """x / (|x| + 1), with the limits +-1 at +-inf."""
    return np.where(np.isinf(x), np.sign(x), np.asarray(x / (np.abs(x) + 1)))


def tanh(x: Array) -> Array:
    return np.asarray(np.tanh(x))


def _non_positive(x: Array) -> Array:
    """x where x <= 0, else 0: keeps expm1 of the unused branch from overflowing.

    Not np.minimum(x, 0), whose result for x = -0.0 is +0.0 or -0.0 depending on the dtype's
    SIMD loop (elu(-0.0) was +0.0 in float32 and -0.0 in float64); -0.0 must reach expm1 so
    that the odd-at-0 functions give -0.0 in every dtype.
    """
    return np.where(x > 0, 0, x)


def elu(x: Array, *, alpha: float) -> Array:
    """x if x > 0 else alpha * expm1(x): expm1 keeps full precision near 0, where exp(x) - 1 cancels."""
    return np.where(x > 0, x, alpha * np.expm1(_non_positive(x)))


def selu(x: Array) -> Array:
    """scale * elu(x, alpha) with the exact SELU constants."""
    scale, alpha = _c(x, _SELU_SCALE), _c(x, _SELU_ALPHA)
    return np.where(x > 0, scale * x, np.asarray((scale * alpha) * np.expm1(_non_positive(x))))


def exponential(x: Array) -> Array:
    return np.asarray(np.exp(x))


def linear(x: Array) -> Array:
    return x


def gelu(x: Array, *, approximate: bool) -> Array:
    """Exact: x * Phi(x) = 0.5 x erfc(-x / sqrt 2). Approximate: x * sigmoid(2 sqrt(2/pi)(x + 0.044715 x^3)).

    The tanh form is rewritten with 1 + tanh(u) = 2 sigmoid(2u), which does not cancel for
    negative x. Both forms tend to 0 at -inf (x times a vanishing factor).
    """
    if approximate:
        u = _c(x, _SQRT_2_OVER_PI) * (x + _c(x, "0.044715") * x**3)
        with np.errstate(over="ignore"):
            y = x / (1 + np.exp(-2 * u))
    else:
        y = 0.5 * x * _erfc(-x * _c(x, _SQRT_HALF))
    return np.where(np.isneginf(x), 0, y)


def _erfc(t: Array) -> Array:
    """erfc at the wide precision of t.

    float64: scipy's erfc is accurate enough for float32 results (its worst tail error, some
    hundreds of float64 ulp, is far below a float32 ulp). longdouble (float64 results) needs
    better: glibc's erfc (math.erfc, within 1 ulp) on the float64 head of t, corrected to first
    order for the tail t - head, and an asymptotic series where erfc(t) is subnormal in float64.
    """
    if t.dtype != np.longdouble:
        return scipy.special.erfc(t)  # type: ignore[no-any-return]
    out = np.empty_like(t)
    tail = t > 26
    head_t = t[~tail]
    hi = head_t.astype(np.float64)
    # t = -inf (gelu(+inf)) has no tail: -inf - -inf would be NaN, and gelu(+inf) NaN with it.
    lo = np.where(np.isfinite(head_t), head_t - hi, 0)
    erfc_hi = np.asarray(np.frompyfunc(math.erfc, 1, 1)(hi)).astype(np.longdouble)
    # d/dt erfc(t) = -(2/sqrt pi) exp(-t^2) = -(2/sqrt pi) erfc(t) / erfcx(t)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = _c(t, _TWO_OVER_SQRT_PI) / scipy.special.erfcx(hi).astype(np.longdouble)
    out[~tail] = erfc_hi * (1 - lo * np.where(np.isfinite(slope), slope, 0))
    big = t[tail]
    inv2 = 1 / (2 * big * big)
    series = np.ones_like(big)
    term = np.ones_like(big)
    for k in range(1, 12):
        term = term * (-(2 * k - 1)) * inv2
        series = series + term
    with np.errstate(under="ignore"):
        out[tail] = np.exp(-big * big) * _c(t, _INV_SQRT_PI) / big * series
    return out


def swish(x: Array) -> Array:
    """x * sigmoid(x), with the limit 0 at -inf."""
    with np.errstate(over="ignore"):
        y = x / (1 + np.exp(-x))
    return np.where(np.isneginf(x), 0, y)


def hard_sigmoid(x: Array) -> Array:
    """tf.keras 2.x: clip(0.2 x + 0.5, 0, 1), evaluated as (x + 2.5) / 5 so it never cancels near -2.5."""
    return np.clip((x + 2.5) / 5, 0, 1)


def mish(x: Array) -> Array:
    """x * tanh(softplus(x)), with the limit 0 at -inf."""
    return np.where(np.isneginf(x), 0, x * np.tanh(np.logaddexp(x, 0)))


def relu6(x: Array) -> Array:
    """min(max(x, 0), 6), with relu's +0.0 at x = -0.0 (np.maximum's sign of zero varies by dtype)."""
    return np.where(x > 0, np.minimum(x, 6), 0)


def hard_silu(x: Array) -> Array:
    """x * relu6(x + 3) / 6, with the limit 0 at -inf."""
    return np.where(np.isneginf(x), 0, x * np.minimum(np.maximum(x + 3, 0), 6) / 6)


def celu(x: Array, *, alpha: float) -> Array:
    """relu(x) + min(0, alpha * expm1(x / alpha)), computed as x if x > 0 else alpha * expm1(x / alpha).

    alpha * expm1(x / alpha) has the sign of x for either sign of alpha, so the two forms agree;
    the select gives -0.0 at x = -0.0 in every dtype, where the sum of a max and a min gave +0.0
    or -0.0 depending on the dtype's SIMD loop.
    """
    return np.where(x > 0, x, alpha * np.expm1(_non_positive(x) / alpha))


def hard_tanh(x: Array) -> Array:
    return np.asarray(np.clip(x, -1, 1))


def log_sigmoid(x: Array) -> Array:
    """-softplus(-x)."""
    return np.asarray(-np.logaddexp(-x, 0))


def soft_shrink(x: Array, *, threshold: float) -> Array:
    return np.where(x > threshold, x - threshold, np.where(x < -threshold, x + threshold, 0))


def hard_shrink(x: Array, *, threshold: float) -> Array:
    return np.where(np.abs(x) > threshold, x, 0)


# Taylor coefficients of x - tanh(x) = sum c_k x^(2k+3): exact rationals (from the Bernoulli numbers).
_TANH_SHRINK_SERIES = (
    (1, 3),
    (-2, 15),
    (17, 315),
    (-62, 2835),
    (1382, 155925),
    (-21844, 6081075),
    (929569, 638512875),
    (-6404582, 10854718875),
    (443861162, 1856156927625),
    (-18888466084, 194896477400625),
)


def tanh_shrink(x: Array) -> Array:
    """x - tanh(x); near 0 the difference cancels, so there it is summed as its Taylor series."""
    small = np.abs(x) < 0.125
    x2 = x * x
    series = np.zeros_like(x)
    for num, den in reversed(_TANH_SHRINK_SERIES):
        series = series * x2 + (x.dtype.type(num) / x.dtype.type(den))
    with np.errstate(invalid="ignore"):
        direct = x - np.tanh(x)
    return np.where(small, np.asarray(series * x2 * x), direct)


def squareplus(x: Array, *, b: float) -> Array:
    """(x + sqrt(x^2 + b)) / 2; for x < 0 as b / (2 (sqrt(x^2 + b) - x)), which does not cancel."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        root = np.sqrt(x * x + b)
        negative = b / (2 * (root - x))
        y = np.where(x < 0, np.where(np.isneginf(x), 0, negative), (x + root) / 2)
    return y


def sparse_plus(x: Array) -> Array:
    """0 for x <= -1, x for x >= 1, (x + 1)^2 / 4 between."""
    return np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4))


def sparse_sigmoid(x: Array) -> Array:
    """0 for x <= -1, 1 for x >= 1, (x + 1) / 2 between."""
    return np.where(x <= -1, 0, np.where(x >= 1, 1, (x + 1) / 2))


def threshold(x: Array, *, threshold: float, default_value: float) -> Array:
    return np.where(x > threshold, x, default_value)


def thresholded_relu(x: Array, *, theta: float) -> Array:
    """The ThresholdedReLU layer: x if x > theta else 0 (TF's x * (x > theta) gives NaN at -inf)."""
    return np.where(x > theta, x, 0)


def prelu(x: Array, *, alpha: Array | float) -> Array:
    """The PReLU layer with its learned alpha: x if x >= 0 else alpha * x (0 at -inf when alpha is 0)."""
    a = np.asarray(alpha, dtype=x.dtype)
    with np.errstate(invalid="ignore"):
        negative = np.where(a == 0, 0, a * x)
    return np.where(x >= 0, x, negative)
