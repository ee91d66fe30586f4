"""Our activations against the values TensorFlow itself returned, element by element.

`tests/fixtures/tf_keras_reference.json` holds what TensorFlow 2.21 / tf_keras 2.21 / Keras 3.15
computed (see `tools/generate_tf_fixtures.py`). A user porting a Keras model must get TensorFlow's
values, except where SPEC section 2 makes us more correct than TensorFlow, and then only in the
documented ways:

1. the result has TensorFlow's shape and dtype;
2. where TensorFlow gives NaN for a NaN input (the element, the glu pair, the softmax slice), so do we;
3. where TensorFlow gives a number, we agree within TensorFlow's own error: 2 ulp of the dtype at its
   value, TensorFlow's 0 where it flushed a result at or below the smallest normal to zero, and the
   wider bounds of `TF_DIFFERENCES` where TensorFlow is known to be inaccurate; where it gives
   +-inf, so do we (squareplus, whose x^2 overflows, is compared with the exact value instead);
4. where TensorFlow gives NaN for a non-NaN input (inf*0, inf/inf), we give the limit of the formula,
   computed here; glu with a = +-inf and b = -inf has none, and NaN is right;
5. where Keras maps NaN to 0 or to a default (soft_shrink, hard_shrink, threshold), we give NaN;
6. sparsemax is compared with the published algorithm (Martins and Astudillo, 2016), computed here
   in exact rational arithmetic, and with TensorFlow only on slices where both it and Keras 3.15 have
   at most one non-zero entry: Keras sums every running total, which is wrong whenever the support
   has two or more entries, whatever its own output looks like ([0.5] * 4 gives zeros, [-0.42, -1.04,
   0.3, -3.58] one non-zero where there are two), and overflows to inf on +-inf and on 1e4 in float16;
7. a fully masked slice of the Softmax layer is the plain softmax of that slice (TensorFlow's float32,
   float16 and bfloat16 give a uniform one; its float64 agrees with us and is compared as usual).
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import ml_dtypes
import mpmath
import numpy as np
import pytest

from app.numerics import evaluate


@dataclass(frozen=True)
class Difference:
    """A documented way in which TensorFlow is less accurate than we are, and where it applies.

    `slack` widens the tolerance (absolute, added to the default) at the points `where` selects.
    `exact` instead replaces TensorFlow's value by the exact one, where TensorFlow has none to compare.
    """

    why: str
    where: Callable[[Point], bool]
    slack: Callable[[Point], float] | None = None
    exact: Callable[[Point], float] | None = None


# The documented differences, keyed by (activation, reason). Each one is needed by at least one fixture
# value (`test_every_documented_difference_is_needed`), and each is confined to the activation and the
# region where TensorFlow's formula loses the accuracy, with a slack of the size of TensorFlow's error.
_EXP_MINUS_ONE = (
    "TensorFlow's Elu and Selu kernels compute exp(x) - 1, which cancels for x < 0 near 0: an absolute error "
    "of about half an ulp of 1 times the negative-branch factor (thousands of ulp at x = -1e-5); we use expm1."
)
_ELU_EXP_MINUS_ONE = Difference(_EXP_MINUS_ONE, lambda p: p.x < 0, lambda p: abs(_alpha(p)) * _eps(p.dtype) / 2)
_FLOAT32_ALPHA = Difference(
    "tf_keras stores relu's alpha and the layers' parameters as float32, so float64 results carry the "
    "float32 rounding of alpha (0.1 is 0.10000000149...): below the threshold they agree to float32 precision.",
    lambda p: p.dtype == "float64" and p.x < _param(p, "threshold", 0.0),
    lambda p: _ulp32(p.tf),
)
_FLOAT32_LOGISTIC = Difference(
    "TensorFlow's float32 logistic (Eigen's rational approximation) is a few ulp off (3 at x = -5); swish "
    "and glu multiply it by x or a (4 ulp).",
    lambda p: p.dtype == "float32",
    lambda p: 3 * _ulp(p.tf, p.dtype),
)
_COMPOSED_SOFTMAX = Difference(
    "Off the last axis, and over several axes, TensorFlow composes exp(x - max) / sum(...) in the dtype: "
    "the rounding of x - max is amplified by exp, about |x - max| ulp.",
    lambda p: not p.last_axis,
    lambda p: _row_range(p) * _ulp(p.tf, p.dtype),
)
TF_DIFFERENCES: dict[tuple[str, str], Difference] = {
    ("elu", "exp(x) - 1"): _ELU_EXP_MINUS_ONE,
    ("ELU", "exp(x) - 1"): _ELU_EXP_MINUS_ONE,
    ("selu", "exp(x) - 1"): Difference(
        _EXP_MINUS_ONE, lambda p: p.x < 0, lambda p: SELU_SCALE_ALPHA * _eps(p.dtype) / 2
    ),
    ("gelu", "float32 constants in float64"): Difference(
        "In float64 TensorFlow's gelu uses float32 constants: 1/sqrt(2) in erfc(-x / sqrt 2), 0.044715 in the "
        "tanh form. Their rounding (< 2^-24 relative) moves the result by erfc's or tanh's slope times it "
        "(~1e8 ulp in float64).",
        lambda p: p.dtype == "float64",
        lambda p: _gelu_constant_slack(p, 2.0**-24),
    ),
    ("gelu", "erfc argument rounded"): Difference(
        "TensorFlow rounds -x / sqrt(2) to the dtype before erfc, whose relative condition number is about x^2 "
        "in the tail (25 bfloat16 ulp at x = -10).",
        lambda p: p.dtype != "float64" and not _approximate(p),
        lambda p: _gelu_constant_slack(p, _eps(p.dtype)),
    ),
    ("gelu", "1 + tanh(u) cancels"): Difference(
        "The tanh form 0.5 x (1 + tanh(u)) cancels for negative x: TensorFlow's 1 + tanh(u) has an absolute error "
        "of about one ulp of 1 (float32 gives -0 at x = -5); we use x * sigmoid(2u).",
        lambda p: _approximate(p) and p.x < 0 and 1 + math.tanh(_gelu_u(p.x)) < 0.5,
        lambda p: abs(p.x) * _eps(p.dtype),
    ),
    ("relu", "alpha as float32"): _FLOAT32_ALPHA,
    ("ReLU", "alpha as float32"): _FLOAT32_ALPHA,
    ("leaky_relu", "alpha as float32"): _FLOAT32_ALPHA,
    ("LeakyReLU", "alpha as float32"): _FLOAT32_ALPHA,
    ("sigmoid", "float32 logistic"): _FLOAT32_LOGISTIC,
    ("swish", "float32 logistic"): _FLOAT32_LOGISTIC,
    ("silu", "float32 logistic"): _FLOAT32_LOGISTIC,
    ("glu", "float32 logistic"): _FLOAT32_LOGISTIC,
    ("hard_sigmoid", "0.2 rounded to the dtype"): Difference(
        "TensorFlow computes 0.2 x + 0.5 with 0.2 rounded to float16 or bfloat16 (0.19995, 0.2002), which "
        "cancels towards x = -2.5: an absolute error of up to half an ulp of 1 (10 bfloat16 ulp at x = -2.4).",
        lambda p: p.dtype in ("float16", "bfloat16") and abs(p.x) < 2.5,
        lambda p: _eps(p.dtype) / 2,
    ),
    ("log_softmax", "log(sum(exp)) rounded"): Difference(
        "TensorFlow's x - max - log(sum(exp(x - max))) carries the rounding of the sum and its log, an absolute "
        "error of about one ulp of 1, which is hundreds of ulp of a result near 0 (the slice's maximum).",
        lambda p: abs(p.tf) < 1,
        lambda p: _eps(p.dtype),
    ),
    ("softmax", "composed off the last axis"): _COMPOSED_SOFTMAX,
    ("Softmax", "composed off the last axis"): _COMPOSED_SOFTMAX,
    ("tanh_shrink", "x - tanh(x) cancels"): Difference(
        "TensorFlow's x - tanh(x) cancels for |x| < 1: an absolute error of about one ulp of x (hundreds of "
        "ulp at x = 0.1, 0 for 3e-13 at x = 1e-4); we sum the Taylor series there.",
        lambda p: abs(p.x) < 1,
        lambda p: 2 * _ulp(p.x, p.dtype),
    ),
    ("squareplus", "x + sqrt(x^2 + b) cancels"): Difference(
        "For x < 0 TensorFlow's x + sqrt(x^2 + b) cancels: an absolute error of up to half an ulp of x (0 for "
        "1e-4 at x = -1e4 in float32); we use b / (sqrt(x^2 + b) - x).",
        lambda p: p.x < 0,
        lambda p: _ulp(p.x, p.dtype) / 2,
    ),
    ("squareplus", "x^2 overflows"): Difference(
        "Where x^2 overflows the dtype TensorFlow returns inf, for either sign of x; the value is finite "
        "(about x for x > 0, b / (4|x|) for x < 0), and ours is compared with it.",
        lambda p: math.isinf(p.tf) and math.isfinite(p.x) and p.x * p.x > float(_finfo(p.dtype).max),
        exact=lambda p: _squareplus_exact(p.x, _param(p, "b", 4.0)),
    ),
}

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "tf_keras_reference.json"
NP_DTYPES: dict[str, np.dtype] = {
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
}
DEFAULT_ULP = 2
SELU_SCALE_ALPHA = 1.0507009873554804934193349852946 * 1.6732632423543772848170429916717
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
AXISWISE = {"softmax", "log_softmax", "Softmax", "sparsemax", "glu"}
SOFTMAX_FAMILY = {"softmax", "log_softmax", "Softmax"}
KERAS_NAN_TO_NUMBER = {"soft_shrink", "hard_shrink", "threshold"}
# JSON nested lists drop every dimension after a zero-length one; these are the generator's empty inputs.
EMPTY_SHAPES = {
    ("empty", False): (0,),
    ("empty", True): (0, 4),
    ("empty-3d", False): (2, 0, 3),
    ("empty-axis", True): (2, 0),
}


# --------------------------------------------------------------------------------------------------
# Numbers: ulps, machine epsilon, parameters.
# --------------------------------------------------------------------------------------------------


@functools.cache
def _finfo(dtype: str) -> Any:
    return ml_dtypes.finfo(NP_DTYPES[dtype])


def _eps(dtype: str) -> float:
    """One ulp of 1 in `dtype`."""
    return float(_finfo(dtype).eps)


def _ulp(value: float, dtype: str) -> float:
    """The spacing of `dtype` at |value| (the subnormal spacing below the normal range)."""
    info = _finfo(dtype)
    exponent = info.minexp if value == 0 else max(math.frexp(abs(value))[1] - 1, info.minexp)
    return math.ldexp(1.0, exponent - info.nmant)


def _ulp32(value: float) -> float:
    return math.ldexp(1.0, math.frexp(abs(value))[1] - 1 - 23) if value else 0.0


def _round(value: float, dtype: str) -> float:
    with np.errstate(over="ignore"):
        return float(np.asarray(value, dtype=np.float64).astype(NP_DTYPES[dtype]).astype(np.float64))


def _param(p: Point, name: str, default: Any) -> Any:
    return p.params.get(name, default)


def _alpha(p: Point) -> float:
    """alpha as the activation reads it: Keras defaults, and the alias negative_slope."""
    defaults = {"leaky_relu": 0.2, "LeakyReLU": 0.3, "elu": 1.0, "ELU": 1.0}
    value = p.params.get("alpha", p.params.get("negative_slope", defaults.get(p.activation, 0.0)))
    return float(value)


def _approximate(p: Point) -> bool:
    return bool(p.params.get("approximate", False))


def _gelu_u(x: float) -> float:
    """The tanh form's argument sqrt(2/pi) (x + 0.044715 x^3)."""
    return math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)


def _gelu_constant_slack(p: Point, rel: float) -> float:
    """What a relative perturbation `rel` of gelu's constant moves the result by.

    Exact form 0.5 x erfc(t), t = -x / sqrt 2: |x| |t| exp(-t^2) / sqrt(pi) * rel. Tanh form
    0.5 x (1 + tanh(u)), where only the cubic coefficient is rounded: 0.5 |x| sech^2(u) * sqrt(2/pi)
    * 0.044715 |x|^3 * rel.
    """
    x = p.x
    if _approximate(p):
        u = _gelu_u(x)
        sech2 = 0.0 if abs(u) > 350 else 1 / math.cosh(u) ** 2
        return 0.5 * abs(x) * sech2 * math.sqrt(2 / math.pi) * 0.044715 * abs(x) ** 3 * rel
    t = x / math.sqrt(2)
    return abs(x) * abs(t) * math.exp(-t * t) / math.sqrt(math.pi) * rel


def _row_range(p: Point) -> float:
    finite = [v for v in p.row if math.isfinite(v)]
    return max(finite) - min(finite) if finite else 0.0


def _squareplus_exact(x: float, b: float) -> float:
    """(x + sqrt(x^2 + b)) / 2, for x < 0 as b / (2 (sqrt(x^2 + b) - x)), which does not cancel."""
    with mpmath.workprec(256):
        xm = mpmath.mpf(x)
        root = mpmath.sqrt(xm * xm + b)
        return float((xm + root) / 2 if x >= 0 else b / (2 * (root - xm)))


# --------------------------------------------------------------------------------------------------
# Independent references: limits at infinity (rule 4), sparsemax (rule 6), softmax (rule 7).
# --------------------------------------------------------------------------------------------------


def _relu_limit(x: float, params: Mapping[str, Any], alpha: float) -> float:
    """tf.keras 2.x relu evaluated without inf * 0: keep x > threshold, clip, minus alpha * relu(threshold - x)."""
    threshold = float(params.get("threshold", 0.0))
    max_value = params.get("max_value")
    y = x if x > threshold else 0.0
    if max_value is not None:
        y = max(min(y, float(max_value)), 0.0)
    leak = max(threshold - x, 0.0)
    return y - alpha * leak if alpha and leak else y


def _leak_limit(x: float, alpha: float, *, keep_zero: bool) -> float:
    keep = x >= 0 if keep_zero else x > 0
    return x if keep else (alpha * x if alpha else 0.0)


def _vanishing_at_minus_inf(x: float) -> float:
    """x times a factor tending to 0 at -inf and to 1 at +inf (gelu, swish, mish, hard_silu, squareplus)."""
    return 0.0 if x == -math.inf else x


ELEMENTWISE_LIMITS: dict[str, Callable[[Point], float]] = {
    "relu": lambda p: _relu_limit(p.x, p.params, _alpha(p)),
    "ReLU": lambda p: _relu_limit(p.x, p.params, _alpha(p)),
    "leaky_relu": lambda p: _leak_limit(p.x, _alpha(p), keep_zero=False),
    "LeakyReLU": lambda p: _leak_limit(p.x, _alpha(p), keep_zero=False),
    "PReLU": lambda p: _leak_limit(p.x, p.gate, keep_zero=True),
    "ThresholdedReLU": lambda p: p.x if p.x > float(p.params.get("theta", 1.0)) else 0.0,
    "softsign": lambda p: math.copysign(1.0, p.x),
    **{
        name: lambda p: _vanishing_at_minus_inf(p.x)
        for name in ("gelu", "swish", "silu", "mish", "hard_silu", "hard_swish", "squareplus")
    },
}


class NoLimit(Exception):
    """The formula has no limit at this point (NaN is the right answer)."""


def _limit(p: Point) -> float:
    """The limit of the documented formula where TensorFlow's evaluation meets inf*0 or inf/inf."""
    if p.activation in SOFTMAX_FAMILY:
        log = p.activation == "log_softmax"
        top = sum(v == math.inf for v in p.row)
        if top:
            if p.x == math.inf:
                return -math.log(top) if log else 1 / top
            return -math.inf if log else 0.0
        if all(v == -math.inf for v in p.row):
            return -math.log(len(p.row)) if log else 1 / len(p.row)
        raise KeyError("a softmax slice without +inf and not entirely -inf")
    if p.activation == "glu":
        a, b = p.x, p.gate
        if math.isinf(a) and b == -math.inf:
            raise NoLimit
        if b == math.inf:
            return a
        if b == -math.inf:
            return 0.0
        if math.isinf(a):
            return a  # sigmoid(b) > 0, however small
        raise KeyError("glu with finite halves")
    if not math.isinf(p.x):
        raise KeyError("a finite input")
    return ELEMENTWISE_LIMITS[p.activation](p)


def _sparsemax_reference(row: Sequence[float]) -> list[float]:
    """Martins and Astudillo (2016), Algorithm 1, in exact rationals, with its limits at infinity.

    Sort z descending, k(z) = max{k : 1 + k z_(k) > sum_{j <= k} z_(j)}, tau = (sum_{j <= k(z)} z_(j) - 1) / k(z),
    y = max(z - tau, 0). A slice with k entries at +inf puts 1/k on each; -inf entries get 0; a slice entirely
    -inf is uniform (the limit of equal values); NaN anywhere gives NaN throughout.
    """
    n = len(row)
    if any(math.isnan(v) for v in row):
        return [math.nan] * n
    top = sum(v == math.inf for v in row)
    if top:
        return [1 / top if v == math.inf else 0.0 for v in row]
    finite = [Fraction(v) for v in row if v != -math.inf]
    if not finite:
        return [1 / n] * n
    ordered = sorted(finite, reverse=True)
    running, support, support_sum = Fraction(0), 0, Fraction(0)
    for k, value in enumerate(ordered, start=1):
        running += value
        if 1 + k * value > running:
            support, support_sum = k, running
    tau = (support_sum - 1) / support
    return [float(max(Fraction(v) - tau, Fraction(0))) if v != -math.inf else 0.0 for v in row]


def _softmax_reference(row: Sequence[float]) -> list[float]:
    """exp(x - max) / sum in float64 (finite slices): far below a float32 ulp from the exact value."""
    top = max(row)
    e = [math.exp(v - top) for v in row]
    total = math.fsum(e)
    return [v / total for v in e]


# --------------------------------------------------------------------------------------------------
# Cases and points.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One element of a case: TensorFlow's value, ours, and what they were computed from.

    `x` is the input element (glu: the gated half a), `gate` the glu gate b (PReLU: alpha there),
    `row` the slice of a softmax-family or sparsemax input, `reference` an independent value where
    rules 6 and 7 compare with it instead of TensorFlow.
    """

    case_id: str
    activation: str
    params: Mapping[str, Any]
    dtype: str
    index: tuple[int, ...]
    x: float
    tf: float
    ours: float
    gate: float = math.nan
    row: tuple[float, ...] = ()
    last_axis: bool = True
    reference: float | None = None
    compare_tf: bool = True
    fully_masked: bool = False

    def describe(self) -> str:
        inputs = f"a={self.x!r}, b={self.gate!r}" if self.activation == "glu" else f"x={self.x!r}"
        if self.row:
            inputs += f" in slice {list(self.row)}"
        return f"{self.case_id} at {self.index}: {inputs}, TF {self.tf!r}, ours {self.ours!r}"


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return NON_FINITE[value] if isinstance(value, str) else float(value)


def _tag(case: Mapping[str, Any]) -> str:
    return str(case["id"]).rsplit("/", 1)[1]


def _input(case: Mapping[str, Any]) -> np.ndarray:
    """x as float64, with the shape the generator built (JSON loses the dimensions after a zero)."""
    x = np.asarray(_decode(case["x"]), dtype=np.float64)
    if x.size == 0:
        shape = EMPTY_SHAPES[(_tag(case), case["activation"] in AXISWISE)]
        assert np.zeros(shape).tolist() == case["x"], f"unexpected empty input {case['x']!r}"
        x = np.zeros(shape)
    return x


def _axes(params: Mapping[str, Any], ndim: int) -> tuple[int, ...]:
    axis = params.get("axis", -1)
    return tuple(a % ndim for a in ([axis] if isinstance(axis, int) else axis))


def _rows(arr: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """`arr` as a 2D array whose rows are its slices over `axes`."""
    rest = [i for i in range(arr.ndim) if i not in axes]
    moved = np.transpose(arr, rest + list(axes))
    return moved.reshape(math.prod(arr.shape[i] for i in rest), math.prod(arr.shape[a] for a in axes))


def _points(case: Mapping[str, Any], x: np.ndarray, tf: np.ndarray, ours: np.ndarray) -> Iterator[Point]:
    name, params, dtype = case["activation"], case["params"], case["dtype"]
    base = {"case_id": case["id"], "activation": name, "params": params, "dtype": dtype}
    if name == "glu":
        axis = _axes(params, x.ndim)[0]
        a, b = np.split(x, 2, axis=axis)
        for index in np.ndindex(tf.shape):
            yield Point(
                **base,
                index=index,
                x=float(a[index]),
                tf=float(tf[index]),
                ours=float(ours[index]),
                gate=float(b[index]),
            )
        return
    if name not in AXISWISE:
        gates = np.broadcast_to(np.asarray(params.get("alpha", 0.0), dtype=np.float64), x.shape)
        for index in np.ndindex(x.shape):
            gate = float(gates[index]) if name == "PReLU" else math.nan
            yield Point(**base, index=index, x=float(x[index]), tf=float(tf[index]), ours=float(ours[index]), gate=gate)
        return
    axes = _axes(params, x.ndim)
    where = _rows(np.arange(x.size).reshape(x.shape), axes)
    rows_x, rows_tf, rows_ours = (_rows(arr, axes) for arr in (x, tf, ours))
    mask = params.get("mask")
    rows_mask = _rows(np.broadcast_to(np.asarray(mask, dtype=bool), x.shape), axes) if mask is not None else None
    for r in range(rows_x.shape[0]):
        row = tuple(float(v) for v in rows_x[r])
        reference: list[float] | list[None] = [None] * len(row)
        compare_tf, fully_masked = True, False
        if name == "sparsemax":
            reference = _sparsemax_reference(row)
            # Keras 3.15 is right where the support has one element, unless it overflowed to inf or NaN.
            compare_tf = sum(v != 0 for v in reference) <= 1 and np.count_nonzero(rows_tf[r]) <= 1
        elif rows_mask is not None and not rows_mask[r].any() and dtype != "float64":
            fully_masked = True
            reference = _softmax_reference(row)
        for j in range(len(row)):
            yield Point(
                **base,
                index=tuple(int(i) for i in np.unravel_index(where[r, j], x.shape)),
                x=row[j],
                tf=float(rows_tf[r, j]),
                ours=float(rows_ours[r, j]),
                row=row,
                last_axis=axes == (x.ndim - 1,),
                reference=reference[j],
                compare_tf=compare_tf,
                fully_masked=fully_masked,
            )


# --------------------------------------------------------------------------------------------------
# The rules.
# --------------------------------------------------------------------------------------------------


@dataclass
class Report:
    """What checking one case found: failures, and which rules and differences were needed."""

    failures: list[str]
    fired: Counter[str | tuple[str, str]]


def _close(ours: float, expected: float, dtype: str) -> bool:
    if math.isnan(expected) or math.isinf(expected):
        return ours == expected or (math.isnan(ours) and math.isnan(expected))
    return math.isfinite(ours) and abs(ours - expected) <= DEFAULT_ULP * _ulp(expected, dtype)


def _compare_with_tf(p: Point, report: Report) -> None:
    """Rule 3: TensorFlow's number (or +-inf), within TensorFlow's own error."""
    differences = [(key, d) for key, d in TF_DIFFERENCES.items() if key[0] == p.activation and d.where(p)]
    for key, difference in differences:
        if difference.exact is not None:
            report.fired[key] += 1
            exact = _round(difference.exact(p), p.dtype)
            if not _close(p.ours, exact, p.dtype):
                report.failures.append(f"{p.describe()}: the exact value is {exact!r} ({difference.why})")
            return
    if math.isinf(p.tf):
        report.fired["3: +-inf as TensorFlow"] += 1
        if p.ours != p.tf:
            report.failures.append(f"{p.describe()}: TensorFlow's {p.tf!r} expected")
        return
    if not math.isfinite(p.ours):
        report.failures.append(f"{p.describe()}: TensorFlow's finite value expected")
        return
    error = abs(p.ours - p.tf)
    tolerance = DEFAULT_ULP * _ulp(p.tf, p.dtype)
    if error <= tolerance:
        report.fired["3: within 2 ulp"] += 1
        return
    if p.tf == 0 and abs(p.ours) <= float(_finfo(p.dtype).smallest_normal):
        report.fired["3: TensorFlow flushed to zero"] += 1
        return
    slacks = [(key, d.slack(p)) for key, d in differences if d.slack is not None]
    if slacks and error <= tolerance + sum(slack for _, slack in slacks):
        report.fired.update(key for key, _ in slacks)
        return
    why = "; ".join(f"{key}: {slack:.3g}" for key, slack in slacks) or "no documented difference applies"
    report.failures.append(
        f"{p.describe()}: off by {error:.3g} = {error / _ulp(p.tf, p.dtype):.3g} ulp; tolerance {tolerance:.3g} ({why})"
    )


def _check_point(p: Point, report: Report) -> None:
    nan_input = any(math.isnan(v) for v in (p.row or (p.x, p.gate if p.activation == "glu" else 0.0)))
    if p.activation == "sparsemax":
        assert p.reference is not None
        report.fired["6: sparsemax as published"] += 1
        if not _close(p.ours, _round(p.reference, p.dtype), p.dtype):
            report.failures.append(f"{p.describe()}: sparsemax is {p.reference!r}")
        if p.compare_tf and not nan_input:
            report.fired["6: sparsemax as TensorFlow (at most one non-zero)"] += 1
            _compare_with_tf(p, report)
        return
    if nan_input:
        if not math.isnan(p.tf) and p.activation not in KERAS_NAN_TO_NUMBER:
            report.failures.append(f"{p.describe()}: TensorFlow gave a number for a NaN input, documented nowhere")
            return
        report.fired["2: NaN in, NaN out" if math.isnan(p.tf) else "5: NaN where Keras gives a number"] += 1
        if not math.isnan(p.ours):
            report.failures.append(f"{p.describe()}: NaN expected for a NaN input")
        return
    if p.fully_masked:
        assert p.reference is not None
        report.fired["7: fully masked slice is its softmax"] += 1
        if not _close(p.ours, _round(p.reference, p.dtype), p.dtype):
            report.failures.append(f"{p.describe()}: softmax of the slice is {p.reference!r}")
        return
    if math.isnan(p.tf):
        try:
            limit = _round(_limit(p), p.dtype)
        except NoLimit:
            report.fired["4: no limit, NaN"] += 1
            if not math.isnan(p.ours):
                report.failures.append(f"{p.describe()}: the formula has no limit here, NaN expected")
            return
        except KeyError as exc:
            report.failures.append(f"{p.describe()}: TensorFlow gives NaN and no limit is documented ({exc})")
            return
        report.fired["4: limit where TensorFlow gives NaN"] += 1
        if p.ours != limit:
            report.failures.append(f"{p.describe()}: the limit {limit!r} expected")
        return
    _compare_with_tf(p, report)


@functools.cache
def check(case_id: str) -> Report:
    """Evaluate one fixture case with the service's core and compare it with TensorFlow."""
    case = CASES[case_id]
    report = Report(failures=[], fired=Counter())
    dtype = case["dtype"]
    x = _input(case)
    with np.errstate(over="ignore"):  # inputs beyond the dtype's range are +-inf, as tf.constant makes them
        x_typed = x.astype(NP_DTYPES[dtype])
    tf = np.asarray(_decode(case["y"]), dtype=np.float64)
    try:
        result = evaluate(case["activation"], x_typed, case["params"], dtype).y
    except Exception as exc:  # a failure of this case, not of the whole module
        report.failures.append(f"{case_id}: evaluate raised {type(exc).__name__}: {exc}")
        return report
    report.fired["1: shape and dtype"] += 1
    if result.dtype != NP_DTYPES[dtype] or case.get("y_dtype", dtype) != dtype:
        report.failures.append(f"{case_id}: dtype {result.dtype}, TensorFlow's {case.get('y_dtype', dtype)}")
    if np.asarray(result.astype(np.float64).tolist()).shape != tf.shape:
        report.failures.append(f"{case_id}: shape {list(result.shape)}, TensorFlow's {list(tf.shape)}")
        return report
    if result.size == 0:
        return report
    ours = result.astype(np.float64)
    for point in _points(case, x_typed.astype(np.float64), tf, ours):
        _check_point(point, report)
    return report


CASES: dict[str, dict[str, Any]] = {
    case["id"]: case for case in json.loads(FIXTURE.read_text())["cases"] if case["kind"] == "value"
}


@pytest.mark.parametrize("case_id", list(CASES))
def test_agrees_with_tensorflow(case_id: str) -> None:
    failures = check(case_id).failures
    assert not failures, "\n".join(failures[:20])


def test_every_documented_difference_is_needed() -> None:
    """Each entry of TF_DIFFERENCES rescues at least one fixture value the default tolerance would fail."""
    fired: Counter[str | tuple[str, str]] = Counter()
    for case_id in CASES:
        fired.update(check(case_id).fired)
    unused = [key for key in TF_DIFFERENCES if not fired[key]]
    assert not unused, f"documented differences no fixture value needs: {unused}"
