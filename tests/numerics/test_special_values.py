"""Special values (SPEC section 2): NaN, infinities, signed zero, empty tensors and scalars.

NaN in gives NaN out for every activation, also where Keras returns 0 or a default; +-inf give
the limits of the documented formula, where TensorFlow meets inf*0 or inf/inf and returns NaN;
-0.0 keeps its sign through the functions that are odd at 0; and every result has the input's
dtype and shape (glu halves its axis), empty tensors and scalars included.
"""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest

from app.numerics import DTYPES, REGISTRY, ActivationSpec, evaluate

from . import mp_reference as ref
from .test_accuracy import ELEMENTWISE_CASES, Case

INF, NAN = math.inf, math.nan
AXISWISE = [spec.name for spec in REGISTRY if not spec.elementwise]
# The parameters an activation cannot run without.
REQUIRED: dict[str, dict[str, object]] = {"threshold": {"threshold": 0.5, "default_value": 2.0}}


def run(name: str, x: object, params: dict[str, object] | None = None, dtype: str = "float32") -> np.ndarray:
    """evaluate's result as float64, after checking its dtype."""
    y = evaluate(name, np.asarray(x, dtype=np.float64), params or REQUIRED.get(name, {}), dtype).y
    assert y.dtype == DTYPES[dtype]
    return y.astype(np.float64)


def case_input(case: Case, values: list[float]) -> np.ndarray:
    """`values` as x for `case`: one row per value, one column per entry of a list parameter."""
    x = np.asarray(values, dtype=np.float64)
    for value in case.params.values():
        if isinstance(value, list):
            x = np.repeat(x[:, None], len(value), axis=1)
    return x


def _rounded(values: list[float], dtype: str) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).astype(DTYPES[dtype]).astype(np.float64)


# --- NaN ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ELEMENTWISE_CASES, ids=[case.id for case in ELEMENTWISE_CASES])
def test_nan_gives_nan_elementwise(case: Case, dtype: str) -> None:
    y = run(case.name, case_input(case, [NAN, 0.75, -0.75, 3.0]), case.params, dtype)
    assert np.isnan(y[0]).all()
    assert not np.isnan(y[1:]).any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "Softmax", "sparsemax"])
def test_slice_with_nan_is_nan_throughout(name: str, dtype: str) -> None:
    x = [[1.0, NAN, 2.0, -INF], [1.0, 2.0, 3.0, 4.0], [INF, NAN, 0.0, 0.0]]
    y = run(name, x, dtype=dtype)
    assert np.isnan(y[0]).all() and np.isnan(y[2]).all()
    assert not np.isnan(y[1]).any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_nan_is_still_nan(dtype: str) -> None:
    y = run("Softmax", [[1.0, NAN, 2.0]], {"mask": [[1, 0, 1]]}, dtype)
    assert np.isnan(y).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_glu_nan_in_either_half(dtype: str) -> None:
    y = run("glu", [[NAN, 1.0, 0.5, 0.5], [1.0, 1.0, NAN, 0.5], [1.0, 2.0, 3.0, 4.0]], dtype=dtype)
    assert np.isnan(y[0, 0]) and np.isnan(y[1, 0])
    assert not np.isnan(y[0, 1]) and not np.isnan(y[1, 1]) and not np.isnan(y[2]).any()


# --- infinities ---------------------------------------------------------------------------------

SELU_LIMIT = float(-ref.SELU_SCALE * ref.SELU_ALPHA)

# (name, params, y(+inf), y(-inf)): the limits of the documented formula.
INFINITY_LIMITS: list[tuple[str, dict[str, object], float, float]] = [
    ("relu", {}, INF, 0.0),
    ("relu", {"alpha": 0.1}, INF, -INF),
    ("relu", {"alpha": 0.1, "threshold": 1.0}, INF, -INF),
    ("relu", {"threshold": 1.0}, INF, 0.0),  # TF: x * (x > t) = NaN at -inf
    ("relu", {"max_value": 6.0}, 6.0, 0.0),
    ("relu", {"max_value": 2.0, "alpha": -0.5, "threshold": -1.0}, 2.0, INF),
    ("sigmoid", {}, 1.0, 0.0),
    ("softplus", {}, INF, 0.0),
    ("softsign", {}, 1.0, -1.0),
    ("tanh", {}, 1.0, -1.0),
    ("selu", {}, INF, SELU_LIMIT),
    ("elu", {}, INF, -1.0),
    ("elu", {"alpha": 0.3}, INF, -0.3),
    ("exponential", {}, INF, 0.0),
    ("linear", {}, INF, -INF),
    ("gelu", {}, INF, 0.0),
    ("gelu", {"approximate": True}, INF, 0.0),
    ("swish", {}, INF, 0.0),
    ("hard_sigmoid", {}, 1.0, 0.0),
    ("mish", {}, INF, 0.0),
    ("relu6", {}, 6.0, 0.0),
    ("leaky_relu", {}, INF, -INF),
    ("leaky_relu", {"alpha": 0.0}, INF, 0.0),
    ("leaky_relu", {"negative_slope": -0.5}, INF, INF),
    ("hard_silu", {}, INF, 0.0),
    ("celu", {}, INF, -1.0),
    ("celu", {"alpha": -1.5}, INF, -INF),
    ("hard_tanh", {}, 1.0, -1.0),
    ("log_sigmoid", {}, 0.0, -INF),
    ("soft_shrink", {}, INF, -INF),
    ("hard_shrink", {}, INF, -INF),
    ("tanh_shrink", {}, INF, -INF),
    ("squareplus", {}, INF, 0.0),
    ("squareplus", {"b": 0.0}, INF, 0.0),
    ("sparse_plus", {}, INF, 0.0),
    ("sparse_sigmoid", {}, 1.0, 0.0),
    ("threshold", {"threshold": 0.5, "default_value": 2.0}, INF, 2.0),
    ("LeakyReLU", {}, INF, -INF),
    ("ReLU", {}, INF, 0.0),
    ("ReLU", {"negative_slope": 0.1, "threshold": 1.0}, INF, -INF),
    ("ReLU", {"max_value": 6.0}, 6.0, 0.0),
    ("ELU", {"alpha": 0.5}, INF, -0.5),
    ("ThresholdedReLU", {}, INF, 0.0),
    ("PReLU", {}, INF, 0.0),  # alpha 0: TF's 0 * -inf is NaN
    ("PReLU", {"alpha": 0.25}, INF, -INF),
]


def test_every_elementwise_activation_has_infinity_limits() -> None:
    assert {name for name, *_ in INFINITY_LIMITS} == {spec.name for spec in REGISTRY if spec.elementwise}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("name", "params", "at_inf", "at_minus_inf"),
    INFINITY_LIMITS,
    ids=[f"{name}{params or ''}" for name, params, *_ in INFINITY_LIMITS],
)
def test_infinities_give_the_limits(
    name: str, params: dict[str, object], at_inf: float, at_minus_inf: float, dtype: str
) -> None:
    y = run(name, [INF, -INF], params, dtype)
    np.testing.assert_array_equal(y, _rounded([at_inf, at_minus_inf], dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_prelu_per_channel_alpha_at_minus_infinity(dtype: str) -> None:
    y = run("PReLU", [[-INF, -INF, -INF], [INF, INF, INF]], {"alpha": [0.0, 0.5, -2.0]}, dtype)
    np.testing.assert_array_equal(y, [[0.0, -INF, INF], [INF, INF, INF]])


# (x slice, softmax, log_softmax, sparsemax): k entries at +inf share 1 (one-hot for one); a
# slice entirely -inf is uniform, the limit of equal values tending to -inf.
LOG2, LOG4 = math.log(2), math.log(4)
INFINITE_SLICES: list[tuple[list[float], list[float], list[float], list[float]]] = [
    ([1.0, INF, 2.0, 0.0], [0, 1, 0, 0], [-INF, 0, -INF, -INF], [0, 1, 0, 0]),
    ([INF, 0.0, INF, -INF], [0.5, 0, 0.5, 0], [-LOG2, -INF, -LOG2, -INF], [0.5, 0, 0.5, 0]),
    ([-INF] * 4, [0.25] * 4, [-LOG4] * 4, [0.25] * 4),
    ([-INF, 0.0, 0.0, -INF], [0, 0.5, 0.5, 0], [-INF, -LOG2, -LOG2, -INF], [0, 0.5, 0.5, 0]),
    (
        [INF, -INF, INF, INF],
        [1 / 3, 0, 1 / 3, 1 / 3],
        [-math.log(3), -INF, -math.log(3), -math.log(3)],
        [1 / 3, 0, 1 / 3, 1 / 3],
    ),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("x", "softmax", "log_softmax", "sparsemax"), INFINITE_SLICES)
def test_softmax_family_limits(
    x: list[float], softmax: list[float], log_softmax: list[float], sparsemax: list[float], dtype: str
) -> None:
    for name, expected in (
        ("softmax", softmax),
        ("Softmax", softmax),
        ("log_softmax", log_softmax),
        ("sparsemax", sparsemax),
    ):
        y = run(name, [x, [0.0, 0.0, 0.0, 0.0]], dtype=dtype)
        np.testing.assert_array_equal(y[0], _rounded(expected, dtype), err_msg=name)
        np.testing.assert_array_equal(
            y[1], _rounded([0.25] * 4, dtype) if name != "log_softmax" else _rounded([-LOG4] * 4, dtype)
        )


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_softmax_limits(dtype: str) -> None:
    # An infinite entry stays infinite after the mask's finite offset: still one-hot.
    y = run("Softmax", [[INF, 1.0, 2.0], [-INF, -INF, 0.0]], {"mask": [[0, 1, 1], [1, 1, 0]]}, dtype)
    np.testing.assert_array_equal(y, [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_fully_masked_slice_is_the_plain_softmax_of_the_slice(dtype: str) -> None:
    # TF's float32 adds -1e9 and rounds every entry to it, giving a uniform slice; the exact sum
    # cancels the common offset.
    x = [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]
    y = run("Softmax", x, {"mask": [[0, 0, 0], [1, 1, 1]]}, dtype)
    expected = _rounded([float(v) for v in ref.softmax([1.0, 2.0, 3.0])], dtype)
    np.testing.assert_array_equal(y[0], y[1])
    np.testing.assert_allclose(y[0], expected, rtol=4 * float(ml_dtypes.finfo(DTYPES[dtype]).eps))


@pytest.mark.parametrize("dtype", DTYPES)
def test_glu_limits(dtype: str) -> None:
    # sigmoid(b) > 0 for any b > -inf: an infinite a survives even where sigmoid(b) underflows.
    x = [[INF, 2.0, 1.0, -INF], [-INF, 3.0, INF, INF], [INF, -INF, -1e4, -1e4]]
    y = run("glu", x, dtype=dtype)
    np.testing.assert_array_equal(y, [[INF, 0.0], [-INF, 3.0], [INF, -INF]])


# --- signed zero --------------------------------------------------------------------------------

# Odd at 0, so -0.0 is the limit from below: linear, the tanh and sigmoid-weighted family, the
# exponential linear units (alpha * expm1(-0.0) = -0.0), and the slopes of the leaky relus.
ODD_AT_ZERO = [
    ("linear", {}),
    ("tanh", {}),
    ("softsign", {}),
    ("hard_tanh", {}),
    ("leaky_relu", {}),
    ("LeakyReLU", {}),
    ("elu", {}),
    ("ELU", {}),
    ("selu", {}),
    ("celu", {}),
    ("celu", {"alpha": -1.5}),
    ("gelu", {}),
    ("gelu", {"approximate": True}),
    ("swish", {}),
    ("mish", {}),
    ("hard_silu", {}),
    ("tanh_shrink", {}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "params"), ODD_AT_ZERO, ids=[f"{n}{p or ''}" for n, p in ODD_AT_ZERO])
def test_negative_zero_keeps_its_sign(name: str, params: dict[str, object], dtype: str) -> None:
    y = run(name, [-0.0, 0.0], params, dtype)
    assert y[0] == 0 and np.signbit(y[0]), f"{name}(-0.0) = {y[0]!r}"
    assert y[1] == 0 and not np.signbit(y[1]), f"{name}(0.0) = {y[1]!r}"


# Zero from the left (x <= threshold gives 0): -0.0 gives +0.0 in every dtype, whatever zero
# numpy's maximum keeps on its SIMD path.
ZERO_ON_THE_LEFT = [
    ("relu", {}),
    ("relu", {"alpha": 0.1}),
    ("relu", {"max_value": 3.0}),
    ("ReLU", {}),
    ("relu6", {}),
    ("ThresholdedReLU", {"theta": 0.0}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "params"), ZERO_ON_THE_LEFT, ids=[f"{n}{p or ''}" for n, p in ZERO_ON_THE_LEFT])
@pytest.mark.parametrize("size", [1, 40])  # scalar and SIMD loops
def test_negative_zero_gives_positive_zero(name: str, params: dict[str, object], dtype: str, size: int) -> None:
    y = run(name, [-0.0] * size, params, dtype)
    assert not np.signbit(y).any(), f"{name}(-0.0) = {y[:3]!r}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ELEMENTWISE_CASES, ids=[case.id for case in ELEMENTWISE_CASES])
def test_both_zeros_give_the_same_value(case: Case, dtype: str) -> None:
    y = run(case.name, case_input(case, [-0.0, 0.0]), case.params, dtype)
    np.testing.assert_array_equal(y[0], y[1])


# --- dtype and shape ----------------------------------------------------------------------------


def _expected_shape(name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    return (*shape[:-1], shape[-1] // 2) if name == "glu" else shape


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", [spec.name for spec in REGISTRY])
def test_result_has_the_input_dtype_and_shape(name: str, dtype: str) -> None:
    x = np.random.default_rng(0).uniform(-4, 4, (2, 3, 4)).astype(DTYPES[dtype])
    y = evaluate(name, x, REQUIRED.get(name, {}), dtype).y
    assert y.dtype == DTYPES[dtype]
    assert y.shape == _expected_shape(name, x.shape)


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_softmax_and_prelu_tensor_keep_dtype_and_shape(dtype: str) -> None:
    x = np.ones((2, 3, 4))
    assert run("Softmax", x, {"mask": [[1, 0, 1, 1]]}, dtype).shape == (2, 3, 4)
    assert run("PReLU", x, {"alpha": [[0.1], [0.2], [0.3]]}, dtype).shape == (2, 3, 4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", [spec.name for spec in REGISTRY if spec.elementwise])
def test_scalar_in_scalar_out(name: str, dtype: str) -> None:
    y = evaluate(name, np.float64(0.75), REQUIRED.get(name, {}), dtype).y
    assert y.shape == () and y.dtype == DTYPES[dtype]
    np.testing.assert_array_equal(y, evaluate(name, np.asarray([0.75]), REQUIRED.get(name, {}), dtype).y[0])


EMPTY_SHAPES = [(0,), (3, 0), (0, 4), (2, 0, 4), (2, 4, 0)]
# Ranks below an activation's minimum are a 422 (test_params), not an empty result.
EMPTY_CASES = [(spec.name, shape) for spec in REGISTRY for shape in EMPTY_SHAPES if len(shape) >= spec.min_rank]


@pytest.mark.parametrize(("name", "shape"), EMPTY_CASES, ids=[f"{n}-{s}" for n, s in EMPTY_CASES])
def test_empty_tensors_keep_their_shape(name: str, shape: tuple[int, ...]) -> None:
    y = evaluate(name, np.zeros(shape), REQUIRED.get(name, {}), "float32").y
    assert y.dtype == np.float32
    assert y.shape == _expected_shape(name, shape)


@pytest.mark.parametrize("name", ["log_softmax", "sparsemax", "glu"])
def test_rank_one_is_accepted_where_keras_3_accepts_it(name: str) -> None:
    y = run(name, [1.0, 2.0, 3.0, 4.0])
    assert y.shape == ((2,) if name == "glu" else (4,))


# --- axes ---------------------------------------------------------------------------------------


def _manual_softmax(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    e = np.exp(x - x.max(axis=axes, keepdims=True))
    return e / e.sum(axis=axes, keepdims=True)


AXIS_LISTS = [-1, 0, [0, 2], [2, 0], [1, -1], [-3, -2], [0, 1, 2]]


@pytest.mark.parametrize("axis", AXIS_LISTS, ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "Softmax"])
def test_axis_lists_on_3d_equal_a_manual_computation(name: str, axis: int | list[int]) -> None:
    x = np.random.default_rng(1).normal(0, 3, (2, 3, 4))
    axes = tuple(a % 3 for a in ([axis] if isinstance(axis, int) else axis))
    expected = _manual_softmax(x, axes)
    if name == "log_softmax":
        expected = np.log(expected)
    np.testing.assert_allclose(run(name, x, {"axis": axis}, "float64"), expected, rtol=1e-13)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_glu_splits_the_given_axis(axis: int) -> None:
    x = np.random.default_rng(2).normal(0, 2, (4, 6, 2))
    a, b = np.split(x, 2, axis=axis)
    np.testing.assert_allclose(run("glu", x, {"axis": axis}, "float64"), a / (1 + np.exp(-b)), rtol=1e-14)


@pytest.mark.parametrize("axis", [0, 1])
def test_sparsemax_normalises_the_given_axis(axis: int) -> None:
    x = np.random.default_rng(3).normal(0, 1, (5, 7))
    y = run("sparsemax", x, {"axis": axis}, "float64")
    np.testing.assert_allclose(y.sum(axis=axis), 1.0, rtol=1e-14)
    moved = np.moveaxis(x, axis, -1)
    expected = np.asarray([[float(v) for v in ref.sparsemax(list(row))] for row in moved])
    np.testing.assert_allclose(np.moveaxis(y, axis, -1), expected, rtol=1e-15, atol=0)


# --- aliases ------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [spec for spec in REGISTRY if spec.aliases], ids=lambda spec: spec.name)
def test_aliases_compute_the_canonical_activation(spec: ActivationSpec) -> None:
    x = np.linspace(-8, 8, 101)
    canonical = evaluate(spec.name, x, {}, "float64")
    for alias in spec.aliases:
        result = evaluate(alias, x, {}, "float64")
        assert result.spec.name == spec.name
        np.testing.assert_array_equal(result.y, canonical.y)
