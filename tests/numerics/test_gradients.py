"""Gradients of the catalogue (`evaluate_gradient`): against TensorFlow, against high precision, and their checks.

1. TensorFlow: `tests/fixtures/tf_keras_gradients.json` holds tf.GradientTape's dx for a seeded dy on
   the real tf.keras functions and layers (`tools/generate_tf_fixtures.py --kinds gradient`). Where
   TensorFlow gives a number for a finite or infinite x, ours is within 2 ulp (axis-wise functions: 4)
   of the case's scale, its largest |dx| (TensorFlow's or ours), except for the documented
   differences below; this pins TensorFlow's conventions at every kink and threshold of the grids.
   Where TensorFlow gives NaN or +-inf for a non-NaN x (inf * 0, x^2 overflowing), ours is dy times
   the limit of the derivative. A NaN x gives a NaN dx (TensorFlow's selects give 0). TensorFlow's
   CPU kernels flush subnormal inputs to zero, so it differentiates at 0 there; those points are left
   to the high-precision check.
2. High precision: the elementwise derivatives against a central difference of the mpmath
   reference of each function (`mp_reference`, at a precision raised until the difference settles),
   within the value bounds of SPEC section 2 (1 ulp; float64 4 ulp) at every grid point that is not
   a branch point; the axis-wise vector-Jacobian products against the same difference taken on the
   whole slice, within 4 ulp of the slice's largest |dx|.
3. dy: default ones, broadcasting to the result's shape (glu's halved axis), refusals naming dy.
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest

from app.errors import InvalidParameter, InvalidTensor, UnknownActivation
from app.numerics import REGISTRY, evaluate
from app.numerics.gradients import GRADIENTS, evaluate_gradient

from . import mp_reference as ref
from .mp_reference import MP, Real
from .test_accuracy import ELEMENTWISE_CASES, FORMATS, Format, base_grid, neighbours, ulp_error

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "tf_keras_gradients.json"
VALUE_FIXTURE = FIXTURE.with_name("tf_keras_reference.json")
NP_DTYPES: dict[str, np.dtype] = {
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
}
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
AXISWISE = {"softmax", "log_softmax", "Softmax", "sparsemax", "glu"}
DEFAULT_ULP = 2
AXISWISE_ULP = 4  # the softmax family's bound (SPEC section 2)
EMPTY_SHAPES = {
    ("empty", False): (0,),
    ("empty", True): (0, 4),
    ("empty-3d", False): (2, 0, 3),
    ("empty-axis", True): (2, 0),
}
SELU_SCALE = 1.0507009873554804934193349852946


# --------------------------------------------------------------------------------------------------
# 1. TensorFlow's gradients.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One element of a gradient case: x (glu: the element of x at that index), dy there, both dx."""

    case_id: str
    activation: str
    params: dict[str, Any]
    dtype: str
    index: tuple[int, ...]
    x: float
    dy: float
    tf: float
    ours: float
    scale: float

    def describe(self) -> str:
        return f"{self.case_id} at {self.index}: x={self.x!r}, dy={self.dy!r}, TF {self.tf!r}, ours {self.ours!r}"


@dataclass(frozen=True)
class Difference:
    """A documented way in which TensorFlow's gradient differs from ours, and where it applies."""

    why: str
    where: Callable[[Point], bool]
    slack: Callable[[Point], float]


def _ulp(value: float, dtype: str) -> float:
    info = ml_dtypes.finfo(NP_DTYPES[dtype])
    exponent = int(info.minexp) if value == 0 else max(math.frexp(abs(value))[1] - 1, int(info.minexp))
    return math.ldexp(1.0, exponent - int(info.nmant))


def _eps(dtype: str) -> float:
    return float(ml_dtypes.finfo(NP_DTYPES[dtype]).eps)


def _alpha(p: Point) -> float:
    defaults = {"leaky_relu": 0.2, "LeakyReLU": 0.3}
    return float(p.params.get("alpha", p.params.get("negative_slope", defaults.get(p.activation, 0.0))))


_FLOAT32_ALPHA = Difference(
    "tf_keras stores relu's alpha and the layers' parameters as float32: below the threshold the float64 "
    "gradient is dy times alpha rounded to float32.",
    lambda p: p.dtype == "float64" and p.x <= float(p.params.get("threshold", 0.0)),
    lambda p: abs(p.dy) * abs(_alpha(p)) * 2.0**-24,
)
_CHAIN_IN_DTYPE = Difference(
    "TensorFlow chains the derivative of a composite function through several float32 ops (exp, tanh, "
    "products); each rounds, a few ulp of the result in all.",
    lambda p: p.dtype == "float32",
    lambda p: 6 * _ulp(p.scale, p.dtype),
)


def _slope_from_rounded(why: str) -> Difference:
    """TensorFlow forms the slope in the dtype from rounded intermediates: a few ulp of 1, times dy."""
    return Difference(
        f"TensorFlow forms the slope from intermediates rounded to the dtype ({why}): an absolute error of "
        "a few ulp of 1 times dy, many ulp of a dx much smaller than dy.",
        lambda p: True,
        lambda p: 4 * _eps(p.dtype) * abs(p.dy),
    )


GRADIENT_DIFFERENCES: dict[tuple[str, str], Difference] = {
    **{(name, "alpha as float32"): _FLOAT32_ALPHA for name in ("relu", "ReLU", "leaky_relu", "LeakyReLU")},
    ("selu", "exp(x) - 1 rounds to 0"): Difference(
        "SeluGrad picks the branch from the activation, which TensorFlow computes with exp(x) - 1: for "
        "-eps/2 < x < 0 (and subnormal results) that rounds to 0 and the gradient is scale instead of "
        "scale * alpha * exp(x).",
        lambda p: p.x < 0 and abs(p.tf - p.dy * SELU_SCALE) <= 4 * _ulp(p.dy * SELU_SCALE, p.dtype),
        lambda p: abs(p.dy) * SELU_SCALE * 1.6732632423543772,
    ),
    ("gelu", "float32 constants in float64"): Difference(
        "In float64 TensorFlow's gelu uses float32 constants (1/sqrt 2, 0.044715): its derivative moves by "
        "about 2^-24 relative.",
        lambda p: p.dtype == "float64",
        lambda p: 4 * abs(p.scale) * 2.0**-24,
    ),
    ("gelu", "1 + tanh(u) and sech^2(u) rounded"): Difference(
        "The tanh form's gradient takes 1 + tanh(u), which cancels for negative x (TensorFlow's dx is 0 at "
        "x = -5 for 1.5e-6), and sech^2(u) = 1 - tanh(u)^2 from the rounded tanh, whose error of an ulp of 1 "
        "is multiplied by x u'(x) / 2 (14 float32 ulp at x = 5).",
        lambda p: p.dtype == "float32" and p.params.get("approximate") is True,
        lambda p: 2 * abs(p.dy) * _eps(p.dtype) * (1 + abs(p.x) * (1 + 3 * 0.044715 * p.x * p.x)),
    ),
    ("sigmoid", "y (1 - y) rounded"): _slope_from_rounded("SigmoidGrad: y (1 - y)"),
    ("tanh", "1 - y^2 rounded"): _slope_from_rounded("TanhGrad: 1 - y^2"),
    ("tanh_shrink", "1 - (1 - tanh^2) rounded"): _slope_from_rounded("1 - TanhGrad"),
    ("hard_silu", "relu6(x + 3) / 6 + x / 6 rounded"): _slope_from_rounded("relu6(x + 3) / 6 + x relu6' / 6"),
    ("hard_swish", "relu6(x + 3) / 6 + x / 6 rounded"): _slope_from_rounded("relu6(x + 3) / 6 + x relu6' / 6"),
    ("mish", "chained in float32"): _CHAIN_IN_DTYPE,
    ("celu", "continuous at 0"): Difference(
        "celu is continuously differentiable: celu'(0) = 1. TensorFlow's max(x, 0) + alpha expm1(min(x, 0) / "
        "alpha) passes the gradient through both the maximum and the minimum on the tie at 0 and gives 2.",
        lambda p: p.x == 0 and abs(p.tf - 2 * p.dy) <= _ulp(2 * p.dy, p.dtype),
        lambda p: abs(p.dy),
    ),
    ("exponential", "exp(x) overflows before dy"): Difference(
        "TensorFlow multiplies dy by exp(x) rounded to the dtype, +inf beyond log(max) (709.78 in float64): "
        "dx is +-inf there even where dy exp(x) is finite, and NaN where dy = 0.",
        lambda p: not math.isfinite(p.tf) and p.x > math.log(float(ml_dtypes.finfo(NP_DTYPES[p.dtype]).max)),
        lambda p: math.inf,
    ),
    ("gelu", "x^3 overflows"): Difference(
        "The tanh form cubes x in the dtype: in float16 it overflows from |x| = 40 on and TensorFlow's gradient "
        "is NaN; the derivative there is 1 (x > 0) or 0.",
        lambda p: not math.isfinite(p.tf) and abs(p.x) ** 3 > float(ml_dtypes.finfo(NP_DTYPES[p.dtype]).max),
        lambda p: math.inf,
    ),
    ("squareplus", "b = 0 at 0"): Difference(
        "With b = 0 squareplus is relu written as (x + |x|) / 2; at 0 TensorFlow's sqrt(x^2) has the gradient "
        "inf * 0 = NaN (and inf where x^2 underflows to 0); ours is 1/2 at 0, as Abs's gradient sign(0) = 0 gives.",
        lambda p: (
            float(p.params.get("b", 4.0)) == 0
            and p.x * p.x < float(ml_dtypes.finfo(NP_DTYPES[p.dtype]).smallest_subnormal)
        ),
        lambda p: math.inf,
    ),
    ("squareplus", "x^2 leaves the range"): Difference(
        "TensorFlow squares x in the dtype: beyond sqrt(max) x^2 overflows (float16 at |x| = 1e4, float32 at "
        "1e20) and the gradient is anything, NaN included; the derivative there is 1 (x > 0) or 0.",
        lambda p: p.x * p.x > float(ml_dtypes.finfo(NP_DTYPES[p.dtype]).max),
        lambda p: math.inf,
    ),
}


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return NON_FINITE[value] if isinstance(value, str) else float(value)


def _array(case: dict[str, Any], key: str, reducing: bool) -> np.ndarray:
    arr = np.asarray(_decode(case[key]), dtype=np.float64)
    if arr.size == 0:
        tag = str(case["id"]).split("/")[-2]
        arr = np.zeros(EMPTY_SHAPES[(tag, reducing)])
        if key == "dy" and case["activation"] == "glu":
            arr = np.zeros((*arr.shape[:-1], arr.shape[-1] // 2))
    return arr


# Limits of the derivative at +-inf, where TensorFlow meets inf * 0 (written from the formulas).
_LIMIT_ONE_AT_PLUS_INF = {"gelu", "swish", "silu", "mish", "softplus", "squareplus", "hard_silu", "hard_swish"}


def _derivative_limit(activation: str, x: float) -> float:
    if math.isinf(x):
        if activation in _LIMIT_ONE_AT_PLUS_INF:
            return 1.0 if x > 0 else 0.0
        if activation == "sparse_plus":
            return 1.0 if x > 0 else 0.0
        if activation == "exponential":
            return math.inf if x > 0 else 0.0
        if activation in ("sigmoid", "tanh", "softsign"):
            return 0.0
    raise KeyError(f"no documented limit of {activation}' at x = {x!r}")


def _with_dy(dy: float, slope: float) -> float:
    return 0.0 * dy if slope == 0 else dy * slope


class Checker:
    """Runs one fixture case and records failures and which rules and differences were needed."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.fired: Counter[str | tuple[str, str]] = Counter()

    def point(self, p: Point, x_is_nan: bool, subnormal: bool) -> None:
        if x_is_nan:
            self.fired["NaN x gives NaN dx"] += 1
            if not math.isnan(p.ours):
                self.failures.append(f"{p.describe()}: NaN expected for a NaN x")
            return
        if subnormal and p.activation not in AXISWISE:
            self.fired["TensorFlow flushes subnormal x"] += 1
            return
        if not math.isfinite(p.tf) and not (p.tf == p.ours or (math.isnan(p.tf) and math.isnan(p.ours))):
            try:
                expected = _with_dy(p.dy, _derivative_limit(p.activation, p.x))
            except KeyError:
                if not any(d.where(p) for key, d in GRADIENT_DIFFERENCES.items() if key[0] == p.activation):
                    self.failures.append(f"{p.describe()}: TensorFlow's non-finite dx and no documented limit")
                    return
            else:
                self.fired["limit where TensorFlow meets inf * 0"] += 1
                if not (expected == p.ours or (math.isnan(expected) and math.isnan(p.ours))):
                    self.failures.append(f"{p.describe()}: the limit {expected!r} expected")
                return
        if math.isinf(p.tf) and p.tf == p.ours:
            self.fired["+-inf as TensorFlow"] += 1
            return
        if math.isnan(p.tf) and math.isnan(p.ours):
            self.fired["NaN as TensorFlow"] += 1
            return
        error = abs(p.ours - p.tf) if math.isfinite(p.tf) and math.isfinite(p.ours) else math.inf
        tolerance = (AXISWISE_ULP if p.activation in AXISWISE else DEFAULT_ULP) * _ulp(p.scale, p.dtype)
        if error <= tolerance:
            self.fired["within 2 ulp (axis-wise: 4) of the scale"] += 1
            return
        differences = [(key, d) for key, d in GRADIENT_DIFFERENCES.items() if key[0] == p.activation and d.where(p)]
        slack = sum(d.slack(p) for _, d in differences)
        if differences and error <= tolerance + slack:
            self.fired.update(key for key, _ in differences)
            return
        self.failures.append(
            f"{p.describe()}: off by {error:.3g} = {error / _ulp(p.scale, p.dtype):.3g} ulp of the scale {p.scale:.3g}"
        )


def _sparsemax_vjp_reference(row: Sequence[float], g: Sequence[float]) -> tuple[list[float], bool] | None:
    """Martins and Astudillo's Jacobian on the exact support {y > 0}, or None where it has no limit.

    Also says whether TensorFlow's gradient can be compared: Keras 3.15's sparsemax is right only
    where the support has one entry, and its maximum(z - tau, 0) passes the gradient on to an entry
    that ties with tau (z_i = tau, y_i = 0), which the published Jacobian leaves out.
    """
    if any(math.isnan(v) for v in row):
        return [math.nan] * len(row), False
    if any(math.isinf(v) for v in row):
        return None
    z = [Fraction(v) for v in row]
    ordered = sorted(z, reverse=True)
    running, support, support_sum = Fraction(0), 0, Fraction(0)
    for k, value in enumerate(ordered, start=1):
        running += value
        if 1 + k * value > running:
            support, support_sum = k, running
    tau = (support_sum - 1) / support
    inside = [v > tau for v in z]
    mean = math.fsum(gi for gi, s in zip(g, inside, strict=True) if s) / sum(inside)
    comparable = sum(inside) == 1 and tau not in z
    return [gi - mean if s else 0.0 for gi, s in zip(g, inside, strict=True)], comparable


def _softmax_limit_vjp(name: str, row: Sequence[float], g: Sequence[float]) -> list[float]:
    """The vector-Jacobian product at the limit softmax of a slice with infinities.

    k entries at +inf share the mass (1/k each), a slice entirely -inf is uniform; then
    softmax: y (g - sum(y g)), log_softmax: g - y sum(g).
    """
    top = [v == math.inf for v in row]
    y = [1 / sum(top) if t else 0.0 for t in top] if any(top) else [1 / len(row)] * len(row)
    if name == "log_softmax":
        total = math.fsum(g)
        return [gi - yi * total for gi, yi in zip(g, y, strict=True)]
    mean = math.fsum(yi * gi for yi, gi in zip(y, g, strict=True))
    return [yi * (gi - mean) for yi, gi in zip(y, g, strict=True)]


def _rows(arr: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    rest = [i for i in range(arr.ndim) if i not in axes]
    moved = np.transpose(arr, rest + list(axes))
    return moved.reshape(math.prod(arr.shape[i] for i in rest), math.prod(arr.shape[a] for a in axes))


def _axes(params: dict[str, Any], ndim: int) -> tuple[int, ...]:
    axis = params.get("axis", -1)
    return tuple(a % ndim for a in ([axis] if isinstance(axis, int) else axis))


@functools.cache
def check(case_id: str) -> Checker:
    case = CASES[case_id]
    checker = Checker()
    name, dtype, params = case["activation"], case["dtype"], case["params"]
    reducing = name in AXISWISE
    x = _array(case, "x", reducing)
    dy = _array(case, "dy", reducing)
    tf = _array(case, "dx", reducing)
    with np.errstate(over="ignore"):
        x_typed, dy_typed = x.astype(NP_DTYPES[dtype]), dy.astype(NP_DTYPES[dtype])
    try:
        result = evaluate_gradient(name, x_typed, dy_typed, params, dtype)
    except Exception as exc:  # a failure of this case, not of the module
        checker.failures.append(f"{case_id}: evaluate_gradient raised {type(exc).__name__}: {exc}")
        return checker
    if result.dx.dtype != NP_DTYPES[dtype] or result.dx.shape != tf.shape:
        checker.failures.append(f"{case_id}: {result.dx.dtype} {result.dx.shape}, TF {dtype} {tf.shape}")
        return checker
    ours = result.dx.astype(np.float64)
    if ours.size == 0:
        return checker
    finite = np.concatenate([np.abs(tf[np.isfinite(tf)]), np.abs(ours[np.isfinite(ours)]), [0.0]])
    scale = float(finite.max())
    if name == "sparsemax":
        axes = _axes(params, x.ndim)
        tf_y = _array(VALUE_CASES[case_id.removesuffix("/gradient")], "y", reducing)
        for row, g, o, t, ty in zip(*(_rows(a, axes) for a in (x, dy, ours, tf, tf_y)), strict=True):
            found = _sparsemax_vjp_reference(row.tolist(), g.tolist())
            if found is None:
                continue
            expected, comparable = found
            checker.fired["sparsemax as published"] += 1
            for j, (e, got) in enumerate(zip(expected, o, strict=True)):
                if not (math.isnan(e) and math.isnan(got)) and not abs(got - e) <= DEFAULT_ULP * _ulp(scale, dtype):
                    checker.failures.append(f"{case_id}: row {row.tolist()} entry {j}: {got!r}, published {e!r}")
            if comparable and np.count_nonzero(ty) == 1 and np.isfinite(ty).all():
                checker.fired["sparsemax as TensorFlow (single support)"] += 1
                if not np.allclose(o, t, rtol=0, atol=DEFAULT_ULP * _ulp(scale, dtype)):
                    checker.failures.append(f"{case_id}: row {row.tolist()}: {o.tolist()}, TF {t.tolist()}")
        return checker
    nan_x = np.isnan(x)
    skip = np.zeros(x.shape, dtype=bool)
    if reducing and name != "glu":
        axes = _axes(params, x.ndim)
        index_rows = _rows(np.arange(x.size).reshape(x.shape), axes)
        nan_x.flat[index_rows[_rows(nan_x, axes).any(axis=1)].ravel()] = True
        limits = _rows(np.isposinf(x), axes).any(axis=1) | _rows(np.isneginf(x), axes).all(axis=1)
        for r in np.flatnonzero(limits & ~_rows(np.isnan(x), axes).any(axis=1)):
            at = index_rows[r]
            expected = _softmax_limit_vjp(name, x.flat[at].tolist(), dy.flat[at].tolist())
            checker.fired["softmax slice with +-inf: the limit"] += 1
            for i, e in zip(at, expected, strict=True):
                skip.flat[i] = True
                if not abs(ours.flat[i] - e) <= DEFAULT_ULP * _ulp(scale, dtype):
                    checker.failures.append(
                        f"{case_id}: slice {x.flat[at].tolist()}: {ours.flat[i]!r}, the limit {e!r}"
                    )
        mask = params.get("mask")
        if mask is not None and dtype != "float64":
            # A fully masked slice: TensorFlow's float32 and narrower give a uniform softmax there, we give
            # the plain softmax of the slice (SPEC section 1); its gradient is checked at high precision.
            masked = ~np.broadcast_to(np.asarray(mask, dtype=bool), x.shape)
            full = index_rows[_rows(masked, axes).all(axis=1)].ravel()
            skip.flat[full] = True
            checker.fired["fully masked slice: high precision instead"] += len(full)
    if name == "glu":
        for index in np.ndindex(ours.shape):
            checker.point(
                Point(
                    case_id,
                    name,
                    params,
                    dtype,
                    index,
                    float(x[index]),
                    math.nan,
                    float(tf[index]),
                    float(ours[index]),
                    scale,
                ),
                x_is_nan=False,
                subnormal=False,
            )
        return checker
    smallest_normal = float(ml_dtypes.finfo(NP_DTYPES[dtype]).smallest_normal)
    for index in np.ndindex(x.shape):
        if skip[index]:
            continue
        xi = float(x_typed[index])
        p = Point(
            case_id, name, params, dtype, index, xi, float(dy_typed[index]), float(tf[index]), float(ours[index]), scale
        )
        checker.point(
            p, x_is_nan=bool(nan_x[index]) if reducing else math.isnan(xi), subnormal=0 < abs(xi) < smallest_normal
        )
    return checker


CASES: dict[str, dict[str, Any]] = {case["id"]: case for case in json.loads(FIXTURE.read_text())["cases"]}
VALUE_CASES: dict[str, dict[str, Any]] = {case["id"]: case for case in json.loads(VALUE_FIXTURE.read_text())["cases"]}


def test_every_activation_has_a_gradient() -> None:
    assert set(GRADIENTS) == {spec.name for spec in REGISTRY}


def test_fixture_covers_every_activation() -> None:
    names = {REGISTRY.get(case["activation"]).name for case in CASES.values()}
    assert names == {spec.name for spec in REGISTRY}


@pytest.mark.parametrize("case_id", list(CASES))
def test_agrees_with_tensorflow(case_id: str) -> None:
    failures = check(case_id).failures
    assert not failures, "\n".join(failures[:20])


def test_every_documented_difference_is_needed() -> None:
    fired: Counter[str | tuple[str, str]] = Counter()
    for case_id in CASES:
        fired.update(check(case_id).fired)
    unused = [key for key in GRADIENT_DIFFERENCES if not fired[key]]
    assert not unused, f"documented differences no fixture value needs: {unused}"


# --------------------------------------------------------------------------------------------------
# 2. High precision: central differences of the mpmath references.
# --------------------------------------------------------------------------------------------------

ELEMENTWISE_TOLERANCE = {"float16": 1.0, "bfloat16": 1.0, "float32": 1.0, "float64": 4.0}


def derivative(f: Callable[[Real], Real], x: float) -> Real:
    """(f(x + h) - f(x - h)) / 2h with h = |x| 2^-90, the precision raised until two agree to 2^-80.

    The difference cancels by about 90 bits plus log2(|f| / |x f'|) (elu at -700: 1000 bits more),
    so a fixed precision would give 0; a zero is never taken as agreement.
    """
    previous = None
    d = MP.zero
    for prec in (448, 1536, 3584):
        with MP.workprec(prec):
            v = MP.mpf(x)
            h = abs(v) * MP.ldexp(1, -90) if x != 0 else MP.ldexp(1, -300)
            d = (f(v + h) - f(v - h)) / (2 * h)
        if previous is not None and d != 0 and abs(d - previous) <= abs(d) * MP.ldexp(1, -80):
            break
        previous = d
    return +d


@functools.cache
def _grid(fmt: Format) -> tuple[float, ...]:
    """Every twentieth point of the value grid: the same ranges (tails, subnormals, overflow), fewer points."""
    return base_grid(fmt)[::20]


GRADIENT_CASES = [case for case in ELEMENTWISE_CASES if not any(isinstance(v, list) for v in case.params.values())]


@pytest.mark.parametrize("fmt", FORMATS.values(), ids=FORMATS)
@pytest.mark.parametrize("case", GRADIENT_CASES, ids=[case.id for case in GRADIENT_CASES])
def test_elementwise_gradient_within_tolerance(case: Any, fmt: Format) -> None:
    points = [
        p for p in sorted(set(_grid(fmt)) | set(neighbours(case.branch_points, fmt, 1))) if p not in case.branch_points
    ]
    x = np.asarray(points, dtype=np.float64)
    dx = evaluate_gradient(case.name, x.astype(fmt.dtype), None, case.params, fmt.name).dx
    assert dx.dtype == fmt.dtype and dx.shape == x.shape
    params = ref.effective_params(case.name, case.params)
    f = functools.partial(ref.ELEMENTWISE[case.name], **params)
    errors = [
        (ulp_error(float(d), derivative(f, p), fmt), p, float(d))
        for p, d in zip(points, dx.astype(np.float64), strict=True)
    ]
    worst = max(errors)
    assert worst[0] <= ELEMENTWISE_TOLERANCE[fmt.name], f"{worst[0]:.3g} ulp at x={worst[1]!r}: got {worst[2]!r}"


def _slice_reference(name: str, row: Sequence[Real], mask_row: Sequence[bool] | None) -> list[Real]:
    if name == "log_softmax":
        return ref.log_softmax(row)  # type: ignore[arg-type]
    if name == "glu":
        half = len(row) // 2
        return [a * (1 / (1 + MP.exp(-b))) for a, b in zip(row[:half], row[half:], strict=True)]
    adders = None if mask_row is None else [0.0 if keep else -1e9 for keep in mask_row]
    return ref.softmax(row, adders)  # type: ignore[arg-type]


def vjp_reference(name: str, row: Sequence[float], g: Sequence[float], mask_row: Sequence[bool] | None) -> list[Real]:
    """d/dx_j of sum_i g_i f_i(x) for one slice, by central differences of the mpmath reference."""
    out = []
    for j in range(len(row)):

        def along(t: Real, j: int = j) -> Real:
            values = [MP.mpf(v) for v in row]
            values[j] = t
            return MP.fsum(MP.mpf(gi) * fi for gi, fi in zip(g, _slice_reference(name, values, mask_row), strict=True))

        out.append(derivative(along, row[j]))
    return out


AXISWISE_GRADIENT_CASES = [
    ("softmax", {}, None),
    ("log_softmax", {}, None),
    ("Softmax", {"mask": [[True, False, True, True, False, True]]}, [True, False, True, True, False, True]),
    ("glu", {}, None),
]


@pytest.mark.parametrize("fmt", FORMATS.values(), ids=FORMATS)
@pytest.mark.parametrize(
    ("name", "params", "mask_row"), AXISWISE_GRADIENT_CASES, ids=[c[0] for c in AXISWISE_GRADIENT_CASES]
)
def test_axiswise_gradient_within_tolerance(
    name: str, params: dict[str, Any], mask_row: list[bool] | None, fmt: Format
) -> None:
    """Slices of six (moderate, one entry dominating by up to 40, near-ties), seeded dy: 4 ulp of the largest |dx|."""
    rng = np.random.default_rng(11)
    rows = [rng.uniform(-s, s, 6) for s in (0.5, 3.0, 12.0)]
    rows += [np.concatenate(([0.0], -d - rng.uniform(0, 1, 5))) for d in (5.0, 15.0, 40.0)]
    rows.append(1 + rng.integers(-2, 3, 6) * 2.0**-fmt.mant_bits)
    x = fmt.round(np.asarray(rows))
    dy_shape = (x.shape[0], 3) if name == "glu" else x.shape
    dy = fmt.round(np.round(rng.normal(0, 1, dy_shape), 2))
    dx = evaluate_gradient(name, x.astype(fmt.dtype), dy.astype(fmt.dtype), params, fmt.name).dx.astype(np.float64)
    for row, g, got in zip(x, dy, dx, strict=True):
        exact = vjp_reference(name, row.tolist(), g.tolist(), mask_row)
        scale = max(abs(e) for e in exact)
        for j, (e, d) in enumerate(zip(exact, got, strict=True)):
            error = abs(MP.mpf(float(d)) - e) / fmt.ulp(scale)
            assert error <= 4, f"slice {row.tolist()}, dy {g.tolist()}: entry {j} off by {float(error):.3g} ulp"


# --------------------------------------------------------------------------------------------------
# 3. dy and the checks shared with evaluate.
# --------------------------------------------------------------------------------------------------


def test_default_dy_is_ones() -> None:
    x = np.asarray([[-1.0, 0.5, 2.0]], dtype=np.float32)
    implicit = evaluate_gradient("softplus", x).dx
    explicit = evaluate_gradient("softplus", x, np.ones_like(x)).dx
    assert np.array_equal(implicit, explicit)
    # softplus' = sigmoid: the gradient of one is the value of the other.
    assert np.array_equal(implicit, evaluate("sigmoid", x).y)


@pytest.mark.parametrize(
    ("name", "x_shape", "dy_shape", "params"),
    [
        ("relu", (2, 3), (), {}),
        ("relu", (2, 3), (3,), {}),
        ("softmax", (2, 3), (2, 1), {}),
        ("glu", (2, 4), (2, 2), {}),
        ("glu", (4, 3), (2, 3), {"axis": 0}),
    ],
)
def test_dy_broadcasts_to_the_result(
    name: str, x_shape: tuple[int, ...], dy_shape: tuple[int, ...], params: dict[str, Any]
) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=x_shape).astype(np.float32)
    dy = rng.normal(size=dy_shape).astype(np.float32)
    y_shape = evaluate(name, x, params).y.shape
    dx = evaluate_gradient(name, x, dy, params).dx
    full = evaluate_gradient(name, x, np.broadcast_to(dy, y_shape).copy(), params).dx
    assert dx.shape == x_shape and dx.dtype == np.float32
    assert np.array_equal(dx, full)


@pytest.mark.parametrize(
    ("name", "x_shape", "dy_shape"),
    [("relu", (2, 3), (3, 2)), ("relu", (2, 3), (2, 3, 1)), ("glu", (2, 4), (2, 4)), ("softmax", (2, 3), (4,))],
)
def test_dy_of_the_wrong_shape_is_refused(name: str, x_shape: tuple[int, ...], dy_shape: tuple[int, ...]) -> None:
    with pytest.raises(InvalidTensor) as info:
        evaluate_gradient(name, np.zeros(x_shape), np.zeros(dy_shape))
    assert info.value.errors[0].loc == ("dy",)
    assert str(list(dy_shape)) in info.value.detail


def test_dy_is_rounded_to_the_dtype() -> None:
    dx = evaluate_gradient("linear", np.zeros(1), np.asarray([0.1]), dtype="float16").dx
    assert dx.dtype == np.float16 and dx[0] == np.float16(0.1)


@pytest.mark.parametrize(
    ("name", "x", "params", "error"),
    [
        ("nope", [[1.0]], {}, UnknownActivation),
        ("softmax", [1.0, 2.0], {}, InvalidTensor),
        ("softmax", [[1.0, 2.0]], {"axis": 2}, InvalidParameter),
        ("glu", [[1.0, 2.0, 3.0]], {}, InvalidTensor),
        ("PReLU", [[1.0, 2.0, 3.0]], {"alpha": [1.0, 2.0]}, InvalidParameter),
        ("relu", [1.0], {"alpha": "x"}, InvalidParameter),
    ],
)
def test_same_checks_as_evaluate(name: str, x: list[Any], params: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        evaluate(name, np.asarray(x), params)
    with pytest.raises(error):
        evaluate_gradient(name, np.asarray(x), None, params)


def test_alias_resolves_and_params_echo() -> None:
    result = evaluate_gradient("silu", np.asarray([1.0]))
    assert result.spec.name == "swish" and result.params == {}
    relu = evaluate_gradient("relu", np.asarray([-1.0]), None, {"negative_slope": 0.25})
    assert relu.params == {"alpha": 0.25, "max_value": None, "threshold": 0.0}
    assert relu.dx.tolist() == [0.25]


def test_dy_multiplies_as_ieee_does() -> None:
    """A NaN or infinite dy gives NaN where the slope is 0 (TensorFlow's selects would give 0), inf where it is not."""
    x = np.asarray([-1.0, 2.0, -1.0, 2.0])
    dy = np.asarray([math.nan, math.nan, math.inf, math.inf])
    dx = evaluate_gradient("relu", x, dy, dtype="float64").dx
    assert math.isnan(dx[0]) and math.isnan(dx[1]) and math.isnan(dx[2]) and dx[3] == math.inf


@pytest.mark.parametrize(
    "dy",
    [
        np.asarray([3, -2], dtype=np.int64),
        np.asarray([0.1, -2.5], dtype=ml_dtypes.bfloat16),
        np.asarray([0.1, -2.5], dtype=np.float16),
        np.asarray([0.1, -2.5], dtype=np.float64),
    ],
    ids=lambda dy: dy.dtype.name,
)
@pytest.mark.parametrize("dtype", list(NP_DTYPES))
def test_dy_of_any_numeric_dtype_is_rounded_to_the_result_dtype(dy: np.ndarray, dtype: str) -> None:
    """KServe v2 sends dy in its own datatype: integers and every float dtype, bfloat16 included."""
    dx = evaluate_gradient("linear", np.zeros(2), dy, dtype=dtype).dx
    assert dx.dtype == NP_DTYPES[dtype]
    assert dx.tobytes() == dy.astype(np.float64).astype(NP_DTYPES[dtype]).tobytes()


def test_boolean_dy_is_refused() -> None:
    with pytest.raises(InvalidTensor, match="dy must hold numbers, got bool") as info:
        evaluate_gradient("relu", np.zeros(2), np.asarray([True, False]))
    assert info.value.errors[0].loc == ("dy",)
