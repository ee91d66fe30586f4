"""High-precision reference values of the catalogue, written from SPEC section 1, not from the kernels.

Every function takes its inputs as Python floats (the float64 values the service actually
computes with, so the dtype rounding of x has already happened) and returns mpmath numbers
at 256 bits (77 digits). The formulas are the documented ones; where a formula cancels
catastrophically even at 256 bits (x - tanh(x) near 0, x + sqrt(x^2 + b) for very negative x,
1 + tanh(u) for very negative u, log(1 + tiny)) the reference either raises the working
precision by the number of bits the cancellation costs or uses an exact identity of the
formula. sparsemax is computed in exact rational arithmetic.

Nothing here imports the code under test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction

import mpmath

MP = mpmath.MPContext()
MP.prec = 256

Real = mpmath.mpf

# The exact constants of the spec (the SELU pair as decimals; 0.2 and 0.044715 are exact decimals).
SELU_ALPHA = MP.mpf("1.6732632423543772848170429916717")
SELU_SCALE = MP.mpf("1.0507009873554804934193349852946")
GELU_CUBIC = MP.mpf("0.044715")
SQRT_2_OVER_PI = MP.sqrt(2 / MP.pi)


def exact(value: float) -> Real:
    """A float as an mpmath number: exact, since 256 bits hold any float64."""
    return MP.mpf(value)


def _clip(v: Real, lo: Real | int, hi: Real | int) -> Real:
    return min(max(v, lo), hi)


def _extra_bits(x: Real) -> int:
    """Bits of cancellation in a difference of two terms of size |x| whose result is ~|x|^3."""
    if x == 0:
        return 0
    return max(0, -2 * int(MP.floor(MP.log(abs(x), 2)))) + 32


def relu(x: float, *, alpha: float, max_value: float | None, threshold: float) -> Real:
    """tf.keras 2.x backend.relu: keep x > threshold, clip_by_value(., 0, max_value), less alpha relu(threshold - x)."""
    v = exact(x)
    t = exact(threshold)
    y = v if v > t else MP.zero
    if max_value is not None:
        # clip_by_value takes the minimum first, then the maximum: a negative max_value gives 0.
        y = max(min(y, exact(max_value)), MP.zero)
    return y - exact(alpha) * max(t - v, MP.zero)


def relu_layer(x: float, *, max_value: float | None, negative_slope: float, threshold: float) -> Real:
    return relu(x, alpha=negative_slope, max_value=max_value, threshold=threshold)


def sigmoid(x: float) -> Real:
    return 1 / (1 + MP.exp(-exact(x)))


def softplus(x: float) -> Real:
    """log(exp(x) + 1); log1p keeps exp(x) when it is far below 2^-256."""
    v = exact(x)
    if v > 0:
        return v + MP.log1p(MP.exp(-v))
    return MP.log1p(MP.exp(v))


def softsign(x: float) -> Real:
    v = exact(x)
    return v / (abs(v) + 1)


def tanh(x: float) -> Real:
    return MP.tanh(exact(x))


def elu(x: float, *, alpha: float) -> Real:
    v = exact(x)
    return v if v > 0 else exact(alpha) * MP.expm1(v)


def selu(x: float) -> Real:
    v = exact(x)
    return SELU_SCALE * (v if v > 0 else SELU_ALPHA * MP.expm1(v))


def exponential(x: float) -> Real:
    return MP.exp(exact(x))


def linear(x: float) -> Real:
    return exact(x)


def gelu(x: float, *, approximate: bool) -> Real:
    """Exact: 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2); approximate: the tanh form."""
    v = exact(x)
    if not approximate:
        t = -v / MP.sqrt(2)
        if t > 1e100:
            # mpmath's erfc overflows near t = 1e155; erfc(t) = exp(-t^2) / (t sqrt pi) (1 - 1/(2t^2) + ...)
            # and the first term alone is exact to 2^-600 here.
            return v / 2 * MP.exp(-t * t) / (t * MP.sqrt(MP.pi))
        return v / 2 * MP.erfc(t)
    u = SQRT_2_OVER_PI * (v + GELU_CUBIC * v**3)
    # 1 + tanh(u) = 2 / (1 + exp(-2u)): equal, and free of the cancellation at very negative u.
    return v / (1 + MP.exp(-2 * u))


def swish(x: float) -> Real:
    v = exact(x)
    return v / (1 + MP.exp(-v))


def hard_sigmoid(x: float) -> Real:
    """clip(0.2 x + 0.5, 0, 1) with 0.2 exact (x / 5)."""
    return _clip(exact(x) / 5 + MP.mpf(1) / 2, 0, 1)


def mish(x: float) -> Real:
    return exact(x) * MP.tanh(softplus(x))


def relu6(x: float) -> Real:
    return _clip(exact(x), 0, 6)


def leaky_relu(x: float, *, alpha: float) -> Real:
    v = exact(x)
    return v if v > 0 else exact(alpha) * v


def hard_silu(x: float) -> Real:
    v = exact(x)
    return v * _clip(v + 3, 0, 6) / 6


def celu(x: float, *, alpha: float) -> Real:
    v, a = exact(x), exact(alpha)
    return max(v, MP.zero) + min(MP.zero, a * MP.expm1(v / a))


def hard_tanh(x: float) -> Real:
    return _clip(exact(x), -1, 1)


def log_sigmoid(x: float) -> Real:
    return -softplus(-x)


def soft_shrink(x: float, *, threshold: float) -> Real:
    v, t = exact(x), exact(threshold)
    if v > t:
        return v - t
    if v < -t:
        return v + t
    return MP.zero


def hard_shrink(x: float, *, threshold: float) -> Real:
    v = exact(x)
    return v if abs(v) > exact(threshold) else MP.zero


def tanh_shrink(x: float) -> Real:
    """x - tanh(x), at a precision raised by the bits the difference cancels (about 2 log2(1/|x|))."""
    v = exact(x)
    with MP.extraprec(_extra_bits(v)):
        y = v - MP.tanh(v)
    return +y


def squareplus(x: float, *, b: float) -> Real:
    """(x + sqrt(x^2 + b)) / 2; for x < 0 the sum cancels by about log2(4 x^2 / b) bits, added here."""
    v, bb = exact(x), exact(b)
    extra = 0
    if v < 0 and bb > 0:
        extra = max(0, int(MP.log(4 * v * v / bb, 2))) + 32
    with MP.extraprec(extra):
        y = (v + MP.sqrt(v * v + bb)) / 2
    return +y


def sparse_plus(x: float) -> Real:
    v = exact(x)
    if v <= -1:
        return MP.zero
    if v >= 1:
        return v
    return (v + 1) ** 2 / 4


def sparse_sigmoid(x: float) -> Real:
    v = exact(x)
    if v <= -1:
        return MP.zero
    if v >= 1:
        return MP.one
    return (v + 1) / 2


def threshold(x: float, *, threshold: float, default_value: float) -> Real:
    v = exact(x)
    return v if v > exact(threshold) else exact(default_value)


def thresholded_relu(x: float, *, theta: float) -> Real:
    v = exact(x)
    return v if v > exact(theta) else MP.zero


def prelu(x: float, *, alpha: float) -> Real:
    v = exact(x)
    return v if v >= 0 else exact(alpha) * v


# Canonical registry name -> reference; the table the accuracy tests are driven by.
ELEMENTWISE: dict[str, Callable[..., Real]] = {
    "relu": relu,
    "sigmoid": sigmoid,
    "softplus": softplus,
    "softsign": softsign,
    "tanh": tanh,
    "selu": selu,
    "elu": elu,
    "exponential": exponential,
    "linear": linear,
    "gelu": gelu,
    "swish": swish,
    "hard_sigmoid": hard_sigmoid,
    "mish": mish,
    "relu6": relu6,
    "leaky_relu": leaky_relu,
    "hard_silu": hard_silu,
    "celu": celu,
    "hard_tanh": hard_tanh,
    "log_sigmoid": log_sigmoid,
    "soft_shrink": soft_shrink,
    "hard_shrink": hard_shrink,
    "tanh_shrink": tanh_shrink,
    "squareplus": squareplus,
    "sparse_plus": sparse_plus,
    "sparse_sigmoid": sparse_sigmoid,
    "threshold": threshold,
    "LeakyReLU": leaky_relu,
    "ReLU": relu_layer,
    "ELU": elu,
    "ThresholdedReLU": thresholded_relu,
    "PReLU": prelu,
}


def glu(a: float, b: float) -> Real:
    """a * sigmoid(b) for one pair of the two halves."""
    return exact(a) * sigmoid(b)


def softmax(values: Sequence[float], adders: Sequence[float] | None = None) -> list[Real]:
    """exp(z - max z) / sum exp(z - max z) with z = x (+ the Softmax layer's mask adder), exactly."""
    z = [exact(v) for v in values]
    if adders is not None:
        z = [v + exact(a) for v, a in zip(z, adders, strict=True)]
    top = max(z)
    e = [MP.exp(v - top) for v in z]
    total = MP.fsum(e)
    return [v / total for v in e]


def log_softmax(values: Sequence[float]) -> list[Real]:
    """x - max - log(sum exp(x - max)); the sum is 1 + the other terms, taken with log1p."""
    z = [exact(v) for v in values]
    k = max(range(len(z)), key=lambda i: z[i])
    others = MP.fsum(MP.exp(v - z[k]) for i, v in enumerate(z) if i != k)
    log_sum = MP.log1p(others)
    return [(v - z[k]) - log_sum for v in z]


def sparsemax(values: Sequence[float]) -> list[Real]:
    """Martins and Astudillo (2016), Algorithm 1, in exact rationals."""
    z = [Fraction(v) for v in values]
    ordered = sorted(z, reverse=True)
    running = Fraction(0)
    support, support_sum = 0, Fraction(0)
    for k, value in enumerate(ordered, start=1):
        running += value
        if 1 + k * value > running:
            support, support_sum = k, running
    tau = (support_sum - 1) / support
    y = [max(v - tau, Fraction(0)) for v in z]
    return [MP.mpf(v.numerator) / v.denominator for v in y]


# The Keras defaults of SPEC section 1, and the aliases of a parameter, for filling a request's
# parameters in as the formulas above take them (written here, not read from the registry).
KERAS_DEFAULTS: dict[str, dict[str, object]] = {
    "relu": {"alpha": 0.0, "max_value": None, "threshold": 0.0},
    "elu": {"alpha": 1.0},
    "gelu": {"approximate": False},
    "leaky_relu": {"alpha": 0.2},
    "celu": {"alpha": 1.0},
    "soft_shrink": {"threshold": 0.5},
    "hard_shrink": {"threshold": 0.5},
    "squareplus": {"b": 4.0},
    "LeakyReLU": {"alpha": 0.3},
    "ReLU": {"max_value": None, "negative_slope": 0.0, "threshold": 0.0},
    "ELU": {"alpha": 1.0},
    "ThresholdedReLU": {"theta": 1.0},
    "PReLU": {"alpha": 0.0},
}
PARAM_ALIASES = {"negative_slope": "alpha"}


def effective_params(name: str, sent: dict[str, object]) -> dict[str, object]:
    """The parameters a reference takes: Keras defaults, overridden by what was sent (aliases resolved)."""
    out = dict(KERAS_DEFAULTS.get(name, {}))
    for key, value in sent.items():
        out[key if key in out else PARAM_ALIASES.get(key, key)] = value
    return out
