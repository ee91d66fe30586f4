"""Accuracy of every activation against mpmath, in ulps of each dtype (SPEC section 2).

For every registry entry, a table of parameter sets that takes each branch, and every dtype, the
result of `evaluate` is compared with the exact value of the formula (`mp_reference`), computed
from x as rounded to the dtype and the parameters as float64. The error of a result y is
|y - exact| / ulp(exact), the spacing of the dtype at the exact value, subnormal spacing
included: 0.5 is a correctly rounded result, 1 a faithful one. Elementwise results must stay
within 1 ulp (float16, bfloat16, float32) or 4 ulp (float64), the softmax family within 4.

The inputs are a dense grid per dtype: near 0 (down to the smallest subnormal), moderate values,
the ranges where exp-like results become subnormal or overflow, the Gaussian tail of gelu, large
magnitudes up to the dtype's maximum, and a few representable neighbours of every branch point.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import ml_dtypes
import numpy as np
import pytest

from app.numerics import DTYPES, REGISTRY, evaluate

from . import mp_reference as ref
from .mp_reference import MP, Real

ELEMENTWISE_TOLERANCE = {"float16": 1.0, "bfloat16": 1.0, "float32": 1.0, "float64": 4.0}
SOFTMAX_FAMILY_TOLERANCE = 4.0


@dataclass(frozen=True)
class Format:
    """The floating-point format of a dtype, for rounding and ulp arithmetic."""

    name: str
    dtype: np.dtype
    mant_bits: int  # explicit fraction bits: 10, 7, 23, 52
    min_exp: int  # exponent of the smallest normal number
    max_exp: int  # 2**max_exp is the first power of two beyond the largest finite number
    max: float
    smallest_normal: float
    smallest_subnormal: float

    @classmethod
    def of(cls, name: str) -> Format:
        dtype = DTYPES[name]
        info = ml_dtypes.finfo(dtype)  # numpy's finfo does not know bfloat16
        return cls(
            name=name,
            dtype=dtype,
            mant_bits=int(info.nmant),
            min_exp=int(info.minexp),
            max_exp=int(info.maxexp),
            max=float(info.max),
            smallest_normal=float(info.smallest_normal),
            smallest_subnormal=float(info.smallest_subnormal),
        )

    def ulp(self, value: Real) -> Real:
        """Spacing of the format at `value`: 2^(exponent - mant_bits), constant below the normal range."""
        if value == 0:
            return MP.ldexp(1, self.min_exp - self.mant_bits)
        exponent = MP.frexp(value)[1] - 1  # floor(log2 |value|)
        return MP.ldexp(1, max(exponent, self.min_exp) - self.mant_bits)

    def rounds_to_infinity(self, value: Real) -> bool:
        """True when round-to-nearest takes `value` beyond the largest finite number."""
        return bool(abs(value) >= MP.mpf(self.max) + MP.ldexp(1, self.max_exp - 2 - self.mant_bits))

    def round(self, values: object) -> np.ndarray:
        """Values rounded to the format, as the float64 numbers they are."""
        with np.errstate(over="ignore"):
            return np.asarray(values, dtype=np.float64).astype(self.dtype).astype(np.float64)


FORMATS = {name: Format.of(name) for name in DTYPES}


def ulp_error(y: float, exact: Real, fmt: Format) -> float:
    """|y - exact| in ulps of `fmt` at `exact`; inf for a NaN or an infinity the value does not round to."""
    if math.isnan(y) or MP.isnan(exact):
        return math.inf
    if fmt.rounds_to_infinity(exact) and math.isinf(y) and (y > 0) == (exact > 0):
        return 0.0
    if math.isinf(y) or MP.isinf(exact):
        return math.inf
    return float(abs(MP.mpf(y) - exact) / fmt.ulp(exact))


@dataclass(frozen=True)
class Worst:
    """The largest error of one case, with the point that produced it."""

    error: float
    where: str

    def __str__(self) -> str:
        return f"{self.error:.3g} ulp at {self.where}"


def worst_error(y: np.ndarray, exact: Sequence[Real], fmt: Format, points: Sequence[str]) -> Worst:
    errors = [ulp_error(float(v), e, fmt) for v, e in zip(y.ravel().astype(np.float64), exact, strict=True)]
    i = int(np.argmax(errors)) if errors else 0
    if not errors:
        return Worst(0.0, "no points")
    got = float(y.ravel()[i])
    return Worst(errors[i], f"{points[i]}: got {got!r}, exact {MP.nstr(exact[i], 20)}")


# --- inputs -------------------------------------------------------------------------------------

_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _ordinal(value: float, fmt: Format) -> int:
    """Position of `value` among the format's numbers, so that neighbours differ by 1."""
    bits = int(np.asarray(value).astype(fmt.dtype).view(_UINT[fmt.dtype.itemsize]))
    sign = 1 << (8 * fmt.dtype.itemsize - 1)
    return -(bits & ~sign) if bits & sign else bits


def _from_ordinal(ordinal: int, fmt: Format) -> float:
    sign = 1 << (8 * fmt.dtype.itemsize - 1)
    bits = (-ordinal) | sign if ordinal < 0 else ordinal
    return float(np.asarray(bits, dtype=_UINT[fmt.dtype.itemsize]).view(fmt.dtype).astype(np.float64))


def neighbours(points: Sequence[float], fmt: Format, steps: int = 3) -> list[float]:
    """Each point rounded to the format and its `steps` representable neighbours on either side."""
    out = []
    largest = _ordinal(fmt.max, fmt)
    for point in points:
        centre = _ordinal(point, fmt)
        out += [_from_ordinal(centre + k, fmt) for k in range(-steps, steps + 1) if abs(centre + k) <= largest]
    return out


@functools.cache
def base_grid(fmt: Format) -> tuple[float, ...]:
    """The grid every elementwise case is checked on, for one format (finite values only)."""
    ln_sub = math.log(fmt.smallest_subnormal)  # exp(x) is the smallest subnormal here
    ln_tiny = math.log(fmt.smallest_normal)  # ... and leaves the normal range here
    ln_max = math.log(fmt.max)  # ... and overflows here
    # x Phi(x) ~ exp(-x^2 / 2): the exact gelu becomes subnormal between these magnitudes...
    gauss = (math.sqrt(-2 * ln_tiny), math.sqrt(-2 * ln_sub))
    # ... and the approximate one, x sigmoid(2 sqrt(2/pi) 0.044715 x^3), between these.
    cubic = (2 * math.sqrt(2 / math.pi) * 0.044715) ** (-1 / 3)
    cube = (cubic * (-ln_tiny) ** (1 / 3), cubic * (-ln_sub) ** (1 / 3))
    rng = np.random.default_rng(20240601)
    magnitudes = np.geomspace(fmt.smallest_subnormal, fmt.max / 2, 121)  # the max itself: below
    parts = [
        np.linspace(-8, 8, 257),
        np.linspace(1.02 * ln_sub, -1.02 * ln_sub, 161),
        np.linspace(ln_sub - 1, ln_tiny + 1, 81),
        np.linspace(ln_max - 1, ln_max + 1, 21),
        -np.linspace(gauss[0] - 1, gauss[1] + 1, 61),
        -np.linspace(cube[0] - 0.5, cube[1] + 0.5, 41),
        magnitudes,
        -magnitudes,
        rng.uniform(-40, 40, 100),
        np.asarray(neighbours([0.0, fmt.smallest_normal, -fmt.smallest_normal, fmt.max, -fmt.max], fmt)),
        np.asarray([1e-8, -1e-8, 1e-4, -1e-4, 1.0, -1.0]),
    ]
    grid = fmt.round(np.concatenate(parts))
    return tuple(float(v) for v in np.unique(grid[np.isfinite(grid)]))


# --- elementwise cases --------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One activation with the parameters a client sends, and the x values its branches turn at."""

    name: str
    params: dict[str, object] = field(default_factory=dict)
    branch_points: tuple[float, ...] = (0.0,)

    @property
    def id(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.name}({args})"


def _relu_points(threshold: float = 0.0, max_value: float | None = None) -> tuple[float, ...]:
    return (0.0, threshold) + ((max_value,) if max_value is not None else ())


ELEMENTWISE_CASES: tuple[Case, ...] = (
    Case("relu"),
    Case("relu", {"alpha": 0.1}),  # tf.keras takes the leaky_relu path here
    Case("relu", {"negative_slope": -0.5}),  # the alias, and a negative slope
    Case("relu", {"max_value": 6.0}, _relu_points(0.0, 6.0)),  # the relu6 path
    Case("relu", {"max_value": 2.5, "alpha": 0.3}, _relu_points(0.0, 2.5)),
    Case("relu", {"max_value": -1.0}, _relu_points(0.0, -1.0)),  # clips everything to 0
    Case("relu", {"threshold": 1.0, "alpha": 0.1}, _relu_points(1.0)),
    Case("relu", {"threshold": -1.5}, _relu_points(-1.5)),  # keeps negative x above the threshold
    Case("relu", {"threshold": 0.5, "max_value": 3.0, "alpha": 2.0}, _relu_points(0.5, 3.0)),
    Case("sigmoid"),
    Case("softplus"),
    Case("softsign"),
    Case("tanh"),
    Case("selu"),
    Case("elu"),
    Case("elu", {"alpha": 0.3}),
    Case("elu", {"alpha": -2.0}),
    Case("exponential"),
    Case("linear"),
    # x = -26 sqrt 2: where the float64 kernel's erfc switches to its asymptotic series.
    Case("gelu", branch_points=(0.0, -36.76955262170047)),
    Case("gelu", {"approximate": True}),
    Case("swish"),
    Case("hard_sigmoid", branch_points=(-2.5, 2.5)),
    Case("mish"),
    Case("relu6", branch_points=(0.0, 6.0)),
    Case("leaky_relu"),
    Case("leaky_relu", {"alpha": 0.01}),
    Case("leaky_relu", {"negative_slope": -1.5}),
    Case("hard_silu", branch_points=(-3.0, 0.0, 3.0)),
    Case("celu"),
    Case("celu", {"alpha": 0.25}),
    Case("celu", {"alpha": -1.5}),
    Case("hard_tanh", branch_points=(-1.0, 1.0)),
    Case("log_sigmoid"),
    Case("soft_shrink", branch_points=(-0.5, 0.5)),
    Case("soft_shrink", {"threshold": 0.0}),
    Case("soft_shrink", {"threshold": 2.0}, (-2.0, 2.0)),
    Case("soft_shrink", {"threshold": -0.75}, (-0.75, 0.75)),
    Case("hard_shrink", branch_points=(-0.5, 0.5)),
    Case("hard_shrink", {"threshold": 0.0}),
    Case("hard_shrink", {"threshold": 3.0}, (-3.0, 3.0)),
    # |x| = 0.125: where the kernel switches from the Taylor series to x - tanh(x).
    Case("tanh_shrink", branch_points=(-0.125, 0.0, 0.125)),
    Case("squareplus"),
    Case("squareplus", {"b": 0.0}),
    Case("squareplus", {"b": 1e-6}),
    Case("squareplus", {"b": 250.0}),
    Case("sparse_plus", branch_points=(-1.0, 1.0)),
    Case("sparse_sigmoid", branch_points=(-1.0, 1.0)),
    Case("threshold", {"threshold": 0.5, "default_value": -1.0}, (0.5,)),
    Case("threshold", {"threshold": -2.0, "default_value": 0.1}, (-2.0,)),
    Case("LeakyReLU"),
    Case("LeakyReLU", {"alpha": 0.01}),
    Case("ReLU"),
    Case("ReLU", {"max_value": 6.0, "negative_slope": 0.1, "threshold": 0.5}, _relu_points(0.5, 6.0)),
    Case("ReLU", {"max_value": 0.0}),
    Case("ELU"),
    Case("ELU", {"alpha": 0.5}),
    Case("ThresholdedReLU", branch_points=(1.0,)),
    Case("ThresholdedReLU", {"theta": 0.0}),
    Case("ThresholdedReLU", {"theta": 2.5}, (2.5,)),
    Case("PReLU"),
    Case("PReLU", {"alpha": 0.25}),
    Case("PReLU", {"alpha": [0.25, -0.5, 3.0]}),  # one slope per column, broadcast over rows
)

_reference_cache: dict[tuple[str, str, float], Real] = {}


def _reference(case: Case, column_params: dict[str, object], x: float) -> Real:
    key = (case.name, repr(sorted(column_params.items())), x)
    if key not in _reference_cache:
        _reference_cache[key] = ref.ELEMENTWISE[case.name](x, **column_params)
    return _reference_cache[key]


def elementwise_worst(case: Case, fmt: Format) -> Worst:
    """Run `case` on the grid of `fmt` and return its largest ulp error."""
    points = sorted(set(base_grid(fmt)) | set(neighbours(case.branch_points, fmt)))
    x = np.asarray(points, dtype=np.float64)
    params = ref.effective_params(case.name, case.params)
    # A list parameter (PReLU's alpha) is one value per column of x.
    columns = [params]
    for key, value in params.items():
        if isinstance(value, list):
            columns = [{**params, key: v} for v in value]
            x = np.repeat(x[:, None], len(value), axis=1)
    y = evaluate(case.name, x.astype(fmt.dtype), case.params, fmt.name).y
    assert y.dtype == fmt.dtype and y.shape == x.shape
    exact, where = [], []
    for row in x.reshape(len(points), -1):
        for column, value in zip(columns, row, strict=True):
            exact.append(_reference(case, column, float(value)))
            where.append(f"x={float(value)!r}" + ("" if len(columns) == 1 else f" {column}"))
    return worst_error(y, exact, fmt, where)


def test_every_activation_has_accuracy_cases() -> None:
    covered = {case.name for case in ELEMENTWISE_CASES} | {case.name for case in AXISWISE_CASES} | {"glu"}
    assert covered == {spec.name for spec in REGISTRY}
    assert set(ref.ELEMENTWISE) == {spec.name for spec in REGISTRY if spec.elementwise}


@pytest.mark.parametrize("fmt", FORMATS.values(), ids=FORMATS)
@pytest.mark.parametrize("case", ELEMENTWISE_CASES, ids=[case.id for case in ELEMENTWISE_CASES])
def test_elementwise_within_tolerance(case: Case, fmt: Format) -> None:
    worst = elementwise_worst(case, fmt)
    assert worst.error <= ELEMENTWISE_TOLERANCE[fmt.name], str(worst)


# --- axis-wise cases ----------------------------------------------------------------------------

SLICE = 8  # length of every normalised slice


@functools.cache
def slices(fmt: Format) -> np.ndarray:
    """Rows of SLICE values (representable in `fmt`), each one slice to normalise."""
    rng = np.random.default_rng(7)
    ln_sub = math.log(fmt.smallest_subnormal)
    ln_tiny = math.log(fmt.smallest_normal)
    rows = [rng.uniform(-s, s, (6, SLICE)) for s in (0.5, 3.0, 20.0, -ln_sub / 2, -1.1 * ln_sub)]
    # One entry dominates by d: the others' shares are tiny, the winner's log is -log1p(tiny).
    for d in np.geomspace(0.5, -1.05 * ln_sub, 24):
        rows.append(-d * np.concatenate(([0.0], 1 + rng.uniform(0, 0.2, SLICE - 1))))
    # Gaps that make exp(-gap) subnormal in the dtype: subnormal shares, rounded once.
    for gap in np.linspace(-ln_tiny, -ln_sub - 0.5, 10):
        rows.append(np.concatenate(([0.0, 0.0], -gap - rng.uniform(0, 0.5, SLICE - 2))))
    # Nearly equal entries, ties, and all equal.
    rows.append(1 + rng.integers(-3, 4, SLICE) * 2.0**-fmt.mant_bits)
    rows.append(np.asarray([2.0, 2.0, 2.0, 1.0, 1.0, 0.0, 0.0, -1.0]))
    rows.append(np.full(SLICE, 0.3))
    # Large magnitudes and a shift far from 0 (results must not depend on it).
    rows.append(rng.uniform(0.25, 1.0, SLICE) * fmt.max)
    rows.append(-rng.uniform(0.25, 1.0, SLICE) * fmt.max)
    rows.append(fmt.max / 4 + rng.uniform(-48, 48, SLICE) * (fmt.max * 2.0**-fmt.mant_bits))
    # sparsemax: supports of every size, entries close to the threshold, near-ties at the top.
    for width in (0.05, 0.4, 1.0, 1.9, 4.0):
        rows += list(rng.uniform(-width, width, (4, SLICE)))
    rows.append(np.asarray([0.0, -1.0, -1.0 + 2.0**-9, -0.5, -0.5 + 2.0**-fmt.mant_bits, -3.0, -0.99, 0.0]))
    rows.append(np.asarray([1.0, 1.0 - 2.0**-fmt.mant_bits, 0.5, 0.25, 0.125, 0.0625, -1.0, 0.1]))
    matrix = fmt.round(np.vstack(rows))
    return matrix[np.isfinite(matrix).all(axis=1)]


@dataclass(frozen=True)
class Layout:
    """How the rows of `slices` become x, and how the result maps back to rows."""

    name: str
    to_x: Callable[[np.ndarray], np.ndarray]
    to_rows: Callable[[np.ndarray], np.ndarray]


LAST = Layout("rows", lambda m: m, lambda y: y)
FIRST = Layout("columns", lambda m: m.T, lambda y: y.T)
# (2, rows, 4) normalised over the axes (0, 2): each slice is one row of the matrix.
SPLIT = Layout(
    "axes-0-2",
    lambda m: m.reshape(len(m), 2, SLICE // 2).transpose(1, 0, 2),
    lambda y: y.transpose(1, 0, 2).reshape(-1, SLICE),
)


@dataclass(frozen=True)
class AxisCase:
    name: str
    params: dict[str, object]
    layout: Layout
    reference: Callable[[Sequence[float], Format, Sequence[bool] | None], list[Real]]
    mask: str | None = None  # None, "full" (one 0/1 per element) or "row" (one mask for every slice)

    @property
    def id(self) -> str:
        return f"{self.name}-{self.layout.name}" + (f"-mask-{self.mask}" if self.mask else "")


def _softmax_ref(row: Sequence[float], fmt: Format, mask: Sequence[bool] | None) -> list[Real]:
    if mask is None:
        return ref.softmax(row)
    # tf_keras adds a large negative to masked positions: -1e9, or -32752 for float16.
    big = -32752.0 if fmt.name == "float16" else -1e9
    return ref.softmax(row, [0.0 if keep else big for keep in mask])


def _log_softmax_ref(row: Sequence[float], fmt: Format, mask: Sequence[bool] | None) -> list[Real]:
    return ref.log_softmax(row)


def _sparsemax_ref(row: Sequence[float], fmt: Format, mask: Sequence[bool] | None) -> list[Real]:
    return ref.sparsemax(row)


AXISWISE_CASES: tuple[AxisCase, ...] = (
    AxisCase("softmax", {}, LAST, _softmax_ref),
    AxisCase("softmax", {"axis": 0}, FIRST, _softmax_ref),
    AxisCase("softmax", {"axis": [0, 2]}, SPLIT, _softmax_ref),
    AxisCase("log_softmax", {}, LAST, _log_softmax_ref),
    AxisCase("log_softmax", {"axis": -2}, FIRST, _log_softmax_ref),
    AxisCase("log_softmax", {"axis": [2, 0]}, SPLIT, _log_softmax_ref),
    AxisCase("Softmax", {}, LAST, _softmax_ref),
    AxisCase("Softmax", {}, LAST, _softmax_ref, mask="full"),
    AxisCase("Softmax", {}, LAST, _softmax_ref, mask="row"),
    AxisCase("Softmax", {"axis": 0}, FIRST, _softmax_ref, mask="full"),
    AxisCase("Softmax", {"axis": [0, 2]}, SPLIT, _softmax_ref, mask="full"),
    AxisCase("sparsemax", {}, LAST, _sparsemax_ref),
    AxisCase("sparsemax", {"axis": 0}, FIRST, _sparsemax_ref),
)


def _masks(fmt: Format, rows: int, kind: str) -> np.ndarray:
    """0/1 masks: the first slice fully masked, the second fully kept, the rest random."""
    rng = np.random.default_rng(11)
    if kind == "row":
        return np.asarray([1, 0, 1, 1, 0, 1, 0, 1], dtype=bool)
    mask = rng.integers(0, 2, (rows, SLICE)).astype(bool)
    mask[0], mask[1] = False, True
    return mask


def axiswise_worst(case: AxisCase, fmt: Format) -> Worst:
    matrix = slices(fmt)
    params = dict(case.params)
    masks: np.ndarray | None = None
    if case.mask is not None:
        masks = _masks(fmt, len(matrix), case.mask)
        params["mask"] = case.layout.to_x(masks) if masks.ndim == 2 else masks
    x = case.layout.to_x(matrix).astype(fmt.dtype)
    y = evaluate(case.name, x, params, fmt.name).y
    assert y.dtype == fmt.dtype and y.shape == x.shape
    exact, where = [], []
    for i, row in enumerate(matrix):
        row_mask = None if masks is None else (masks if masks.ndim == 1 else masks[i])
        values = [float(v) for v in row]
        exact += case.reference(values, fmt, None if row_mask is None else [bool(m) for m in row_mask])
        where += [f"slice {values} mask {row_mask}, element {j}" for j in range(SLICE)]
    return worst_error(case.layout.to_rows(y), exact, fmt, where)


@pytest.mark.parametrize("fmt", FORMATS.values(), ids=FORMATS)
@pytest.mark.parametrize("case", AXISWISE_CASES, ids=[case.id for case in AXISWISE_CASES])
def test_softmax_family_within_tolerance(case: AxisCase, fmt: Format) -> None:
    worst = axiswise_worst(case, fmt)
    assert worst.error <= SOFTMAX_FAMILY_TOLERANCE, str(worst)


# --- glu ----------------------------------------------------------------------------------------


def glu_worst(axis: int, fmt: Format) -> Worst:
    """glu on pairs (a, b) from the elementwise grid: a = 1 (a pure sigmoid), a = b, and shuffled."""
    grid = np.asarray(base_grid(fmt))
    shuffled = np.random.default_rng(3).permutation(grid)
    a = np.concatenate((np.ones_like(grid), grid, grid))
    b = np.concatenate((grid, grid, shuffled))
    x = np.stack((a, b), axis=axis)
    y = evaluate("glu", x.astype(fmt.dtype), {"axis": axis}, fmt.name).y
    assert y.dtype == fmt.dtype
    assert y.shape == ((len(a), 1) if axis == -1 else (1, len(a)))
    exact = [ref.glu(float(p), float(q)) for p, q in zip(a, b, strict=True)]
    where = [f"a={float(p)!r}, b={float(q)!r}" for p, q in zip(a, b, strict=True)]
    return worst_error(y, exact, fmt, where)


@pytest.mark.parametrize("fmt", FORMATS.values(), ids=FORMATS)
@pytest.mark.parametrize("axis", [-1, 0])
def test_glu_within_tolerance(axis: int, fmt: Format) -> None:
    worst = glu_worst(axis, fmt)
    assert worst.error <= ELEMENTWISE_TOLERANCE[fmt.name], str(worst)


# --- the final rounding -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32"])
def test_float64_results_round_once_to_the_dtype(name: str) -> None:
    """Narrow results are computed in float64 and cast: the cast must round once, never via float32.

    Each value lies just above the midpoint between two neighbours of the dtype, by less than half
    a float32 ulp, so a cast through float32 would land on the midpoint and round to even (down).
    """
    fmt = FORMATS[name]
    rng = np.random.default_rng(5)
    below = fmt.round(rng.uniform(0.5, 4, 200))
    spacing = 2.0 ** (np.floor(np.log2(below)) - fmt.mant_bits)
    above = (below + spacing / 2) * (1 + 2.0**-40)
    expected = [_from_ordinal(_ordinal(v, fmt) + 1, fmt) for v in below]
    np.testing.assert_array_equal(above.astype(fmt.dtype).astype(np.float64), expected)
    if name == "bfloat16":  # the test can tell: through float32, the even half would round down
        through_float32 = above.astype(np.float32).astype(fmt.dtype).astype(np.float64)
        assert (through_float32 != expected).any()
