"""Custom activations (SPEC section 1): the expression language, its values and gradients, its refusals.

1. Grammar: a table of expressions against the same formula written here with Python's math module
   (float64, within 1 ulp of float32).
2. Expressions equal to catalogue entries agree with them bit for bit, values and gradients alike;
   every elementwise entry, by each of its names, is callable with its keyword parameters.
3. Gradients: against central differences of the same formula in mpmath (float64 results), and
   against the catalogue's gradient where the expression is a catalogue function written out.
4. Hostile input: every entry of a table is refused with an InvalidExpression that names the column,
   before anything is evaluated, with eval and exec unavailable; a bounded time guards against hangs.
"""

from __future__ import annotations

import builtins
import math
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import InvalidExpression, InvalidParameter, InvalidTensor
from app.numerics import DTYPES, REGISTRY, evaluate, evaluate_gradient, expressions
from app.numerics.expressions import (
    CATALOGUE_FUNCTIONS,
    GRAMMAR,
    MAX_DEPTH,
    MAX_LENGTH,
    evaluate_expression,
    evaluate_expression_gradient,
    parse_expression,
)

from .mp_reference import MP, Real
from .test_gradients import derivative

GRID = np.concatenate([np.linspace(-6, 6, 97), [-30.0, -0.001, 1e-7, 0.25, 30.0]])

# --------------------------------------------------------------------------------------------------
# 1. Grammar.
# --------------------------------------------------------------------------------------------------

GRAMMAR_TABLE: list[tuple[str, Callable[[float], float]]] = [
    ("x", lambda x: x),
    ("x + 1", lambda x: x + 1),
    ("2 * x - 3", lambda x: 2 * x - 3),
    ("x / 4", lambda x: x / 4),
    ("x ** 2", lambda x: x**2),
    ("2 ** -x", lambda x: 2.0**-x),
    ("-x", lambda x: -x),
    ("+x", lambda x: x),
    ("-(x - 1) * (x + 1)", lambda x: -(x - 1) * (x + 1)),
    ("1_0.5 * x + 0x10", lambda x: 10.5 * x + 16),
    ("1e-3 * x + .5", lambda x: 1e-3 * x + 0.5),
    ("where(x > 0, x, 0.25 * x)", lambda x: x if x > 0 else 0.25 * x),
    ("where(x <= 1, 1, x)", lambda x: 1.0 if x <= 1 else x),
    ("where(x == 0, 7, where(x != 1, x, 8))", lambda x: 7.0 if x == 0 else (x if x != 1 else 8.0)),
    ("where(x >= -1, x, -1) + where(x < 2, 0, 1)", lambda x: max(x, -1) + (0 if x < 2 else 1)),
    ("exp(x)", math.exp),
    ("log(abs(x) + 1)", lambda x: math.log(abs(x) + 1)),
    ("log1p(abs(x))", lambda x: math.log1p(abs(x))),
    ("expm1(x)", math.expm1),
    ("sqrt(abs(x))", lambda x: math.sqrt(abs(x))),
    ("sin(x) + cos(x)", lambda x: math.sin(x) + math.cos(x)),
    ("tanh(x)", math.tanh),
    ("erf(x)", math.erf),
    ("minimum(x, 1)", lambda x: min(x, 1.0)),
    ("maximum(x, -1)", lambda x: max(x, -1.0)),
    ("clip(x, -1, 2)", lambda x: min(max(x, -1.0), 2.0)),
    ("relu(x, alpha=0.1)", lambda x: x if x > 0 else 0.1 * x),
    ("relu(x, negative_slope=0.25, max_value=4, threshold=1)", lambda x: min(x, 4.0) if x > 1 else 0.25 * (x - 1)),
    # 0.5 x (1 + tanh(u)) written as x sigmoid(2u), which does not cancel for negative x.
    (
        "gelu(x, approximate=true)",
        lambda x: x / (1 + math.exp(min(700.0, -2 * math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))),
    ),
    ("silu(2 * x) / 2", lambda x: x / (1 + math.exp(-2 * x))),
    ("PReLU(x, alpha=-0.5)", lambda x: x if x >= 0 else -0.5 * x),
    ("threshold(x, threshold=1, default_value=-2)", lambda x: x if x > 1 else -2.0),
    ("x * sigmoid(1.702 * x)", lambda x: x / (1 + math.exp(-1.702 * x))),
]


@pytest.mark.parametrize(("source", "formula"), GRAMMAR_TABLE, ids=[s for s, _ in GRAMMAR_TABLE])
def test_grammar(source: str, formula: Callable[[float], float]) -> None:
    y = evaluate_expression(source, GRID, "float32").values
    assert y.dtype == np.float32 and y.shape == GRID.shape
    x32 = GRID.astype(np.float32).astype(np.float64)
    for xi, yi in zip(x32, y.astype(np.float64), strict=True):
        expected = formula(float(xi))
        assert abs(yi - expected) <= np.spacing(np.float32(abs(expected))), f"{source} at x={xi!r}: {yi!r}"


def test_every_dtype_and_shape() -> None:
    x = np.asarray([[[-1.5, 0.0], [2.0, 3.0]]])
    for dtype in DTYPES:
        y = evaluate_expression("x * x", x, dtype).values
        assert y.dtype == DTYPES[dtype] and y.shape == x.shape
        dx = evaluate_expression_gradient("x * x", x, None, dtype).values
        assert dx.dtype == DTYPES[dtype] and dx.tolist() == (2 * x).tolist()


def test_constant_expression_has_the_shape_of_x() -> None:
    assert evaluate_expression("2 ** 3", np.zeros((2, 3))).values.tolist() == [[8.0] * 3] * 2
    assert evaluate_expression_gradient("2 ** 3", np.zeros((2, 3))).values.tolist() == [[0.0] * 3] * 2


def test_constants_are_read_at_the_working_precision() -> None:
    """0.1 * x at x = 3 in float64 is 0.3: 0.1 is read in the wide dtype, so the product rounds once.

    With 0.1 first rounded to float64 it would be 0.30000000000000004.
    """
    assert evaluate_expression("0.1 * x", np.asarray([3.0]), "float64").values[0] == 0.3


def test_special_values() -> None:
    x = np.asarray([math.nan, math.inf, -math.inf, 0.0])
    y = evaluate_expression("relu(x) + exp(-x)", x).values
    assert math.isnan(y[0]) and y[1] == math.inf and y[2] == math.inf and y[3] == 1.0
    # Inside an expression a catalogue function keeps its limits; the formula around it is IEEE.
    assert evaluate_expression("swish(x)", x).values[2] == 0
    assert math.isnan(evaluate_expression("x * sigmoid(x)", x).values[2])


def test_huge_exponents_overflow_in_the_dtype_quickly() -> None:
    start = time.perf_counter()
    y = evaluate_expression("9 ** 9 ** 9 ** 9 + x * 10 ** 400 + 9" + "9" * 1900, np.asarray([1.0, -1.0])).values
    assert y[0] == math.inf and math.isnan(y[1])
    assert time.perf_counter() - start < 10  # a hang guard: a Python integer tower would never end


# The largest expression the limits allow is about MAX_NODES terms, within MAX_DEPTH.
LONG_EXPRESSION = "+".join(["x * x * x"] * 42)


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_large_tensors_are_computed_in_chunks_with_the_same_bits(dtype: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 7 (no divisor of the size) give the bits of one pass over the whole tensor."""
    source = "where(x > 0, relu(x, alpha=0.1) * sin(x), x ** 2) / (1 + abs(x)) + gelu(x)"
    x = np.concatenate([GRID, -GRID * 7.3, [0.0, -0.0, math.nan, math.inf]]).astype(DTYPES[dtype]).reshape(-1, 4)
    dy = np.linspace(-2, 2, 4).astype(DTYPES[dtype])
    wide = x.astype(expressions.wide_dtype(x.dtype))
    whole = parse_expression(source)
    values = whole.evaluate(wide).astype(x.dtype)
    gradient = whole.gradient(wide, np.broadcast_to(dy, x.shape).astype(wide.dtype)).astype(x.dtype)
    monkeypatch.setattr(expressions, "WORKING_SET_ELEMENTS", 7)
    monkeypatch.setattr(expressions, "MIN_CHUNK_ELEMENTS", 7)
    assert parse_expression(source).chunk_elements == 7
    assert _bits(evaluate_expression(source, x, dtype).values) == _bits(values)
    assert _bits(evaluate_expression_gradient(source, x, dy, dtype).values) == _bits(gradient)


def test_memory_is_bounded_by_the_working_set_not_the_number_of_terms() -> None:
    """One wide array per term over the whole tensor would take 250 x 8 bytes x 100k = 200 MB here."""
    expression = parse_expression(LONG_EXPRESSION)
    assert len(list(expressions._walk(expression.root))) >= 240
    x = np.linspace(-2, 2, 100_000, dtype=np.float32)
    bound = 2 * expressions.WORKING_SET_ELEMENTS * 8 + 8 * x.nbytes
    for compute in (evaluate_expression, evaluate_expression_gradient):
        tracemalloc.start()
        try:
            result = compute(LONG_EXPRESSION, x)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert result.values.shape == x.shape and np.isfinite(result.values).all()
        assert peak < bound, f"{compute.__name__}: peak {peak >> 20} MiB"


# --------------------------------------------------------------------------------------------------
# 2. Expressions equal to catalogue entries, bit for bit.
# --------------------------------------------------------------------------------------------------

SAME_AS_CATALOGUE: list[tuple[str, str, dict[str, Any]]] = [
    ("relu(x)", "relu", {}),
    ("relu(x, alpha=0.1, max_value=6)", "relu", {"alpha": 0.1, "max_value": 6.0}),
    ("x * sigmoid(x)", "swish", {}),
    ("x / (abs(x) + 1)", "softsign", {}),
    ("x * relu6(x + 3) / 6", "hard_silu", {}),
    ("clip(x, -1, 1)", "hard_tanh", {}),
    ("where(x > 0, x, 0.25 * x)", "leaky_relu", {"alpha": 0.25}),
    ("exp(x)", "exponential", {}),
    ("x", "linear", {}),
    ("elu(x, alpha=0.5)", "ELU", {"alpha": 0.5}),
    ("hard_swish(x)", "hard_silu", {}),
    ("squareplus(x, b=1)", "squareplus", {"b": 1.0}),
]


def _bits(a: np.ndarray) -> list[int]:
    """The bit patterns, zeros of either sign as +0.0.

    The registry's exact-in-dtype relu path takes np.maximum(x, 0) in the dtype itself, whose sign of
    zero at x = -0.0 differs between numpy's loops (-0.0 in float16, +0.0 in float32); the expression
    computes wide. Both are the value 0.
    """
    a = np.where(a == 0, np.zeros_like(a), a)
    return a.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize]).ravel().tolist()


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize(("source", "name", "params"), SAME_AS_CATALOGUE, ids=[s for s, _, _ in SAME_AS_CATALOGUE])
def test_same_as_catalogue_bit_for_bit(source: str, name: str, params: dict[str, Any], dtype: str) -> None:
    x = np.concatenate([GRID, -GRID * 7.3, [0.0, -0.0, 1e-30, -1e-30]]).astype(DTYPES[dtype])
    assert _bits(evaluate_expression(source, x, dtype).values) == _bits(evaluate(name, x, params, dtype).y)


# Parameter values other than the defaults, for the calls below (every elementwise parameter is here).
EXAMPLE_PARAMS: dict[str, object] = {
    "alpha": 0.3,
    "threshold": 0.5,
    "default_value": -2.0,
    "max_value": 4.0,
    "negative_slope": 0.25,
    "theta": 0.75,
    "b": 1.5,
    "approximate": True,
}


def _catalogue_calls() -> list[tuple[str, str, dict[str, object]]]:
    """(source, name, params): every elementwise entry by each of its names, with its required
    parameters only and with all of its parameters set."""
    calls = []
    for spec in REGISTRY:
        if not spec.elementwise:
            continue
        for name in (spec.name, *spec.aliases):
            for every in (False, True):
                params = {p.name: EXAMPLE_PARAMS[p.name] for p in spec.params if p.required or every}
                keywords = "".join(f", {k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in params.items())
                calls.append((f"{name}(x{keywords})", name, params))
    return calls


CATALOGUE_CALLS = _catalogue_calls()


def test_every_elementwise_entry_is_a_function() -> None:
    names = {name for _, name, _ in CATALOGUE_CALLS}
    assert names == {name for spec in REGISTRY if spec.elementwise for name in (spec.name, *spec.aliases)}
    assert names == set(CATALOGUE_FUNCTIONS)


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize(("source", "name", "params"), CATALOGUE_CALLS, ids=[s for s, _, _ in CATALOGUE_CALLS])
def test_catalogue_call_with_keywords_bit_for_bit(source: str, name: str, params: dict[str, Any], dtype: str) -> None:
    """`name(x, p=v)` is the catalogue entry with those parameters: values and gradients, special values too."""
    special = [0.0, -0.0, 1e-30, -1e-30, 0.5, 0.75, math.inf, -math.inf, math.nan]
    with np.errstate(over="ignore"):
        x = np.concatenate([GRID, -GRID * 7.3, special]).astype(DTYPES[dtype])
    dy = np.linspace(-2, 2, x.size).astype(DTYPES[dtype])
    assert _bits(evaluate_expression(source, x, dtype).values) == _bits(evaluate(name, x, params, dtype).y)
    ours = evaluate_expression_gradient(source, x, dy, dtype).values
    assert _bits(ours) == _bits(evaluate_gradient(name, x, dy, params, dtype).dx)


GRADIENT_SAME_AS_CATALOGUE = [
    entry for entry in SAME_AS_CATALOGUE if entry[0].startswith(("relu(", "elu(", "hard_swish(", "squareplus("))
]


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize(
    ("source", "name", "params"), GRADIENT_SAME_AS_CATALOGUE, ids=[s for s, _, _ in GRADIENT_SAME_AS_CATALOGUE]
)
def test_gradient_of_a_catalogue_call_bit_for_bit(source: str, name: str, params: dict[str, Any], dtype: str) -> None:
    x = np.concatenate([GRID, [0.0, -0.0, 6.0, -3.0, 3.0]]).astype(DTYPES[dtype])
    dy = np.linspace(-2, 2, x.size).astype(DTYPES[dtype])
    ours = evaluate_expression_gradient(source, x, dy, dtype).values
    assert _bits(ours) == _bits(evaluate_gradient(name, x, dy, params, dtype).dx)


# --------------------------------------------------------------------------------------------------
# 3. Gradients.
# --------------------------------------------------------------------------------------------------

MP_FORMULAS: list[tuple[str, Callable[[Real], Real]]] = [
    ("x * exp(-x * x)", lambda t: t * MP.exp(-t * t)),
    ("sin(x) / (2 + cos(x))", lambda t: MP.sin(t) / (2 + MP.cos(t))),
    ("sqrt(x * x + 1) - log1p(abs(x) + 1)", lambda t: MP.sqrt(t * t + 1) - MP.log1p(abs(t) + 1)),
    ("(x + 40) ** 1.5 / 10", lambda t: (t + 40) ** MP.mpf(1.5) / 10),
    ("2 ** (x / 3)", lambda t: MP.mpf(2) ** (t / 3)),
    ("erf(x / 2) * expm1(x / 4)", lambda t: MP.erf(t / 2) * MP.expm1(t / 4)),
    ("tanh(x) * sigmoid(x)", lambda t: MP.tanh(t) / (1 + MP.exp(-t))),
    ("softplus(x) - log_sigmoid(-x) / 2", lambda t: MP.log1p(MP.exp(t)) * MP.mpf(1.5)),
    ("x * tanh(softplus(x))", lambda t: t * MP.tanh(MP.log1p(MP.exp(t)))),
    ("where(x > 1, x * x, 2 * x - 1)", lambda t: t * t if t > 1 else 2 * t - 1),
]


@pytest.mark.parametrize(("source", "formula"), MP_FORMULAS, ids=[s for s, _ in MP_FORMULAS])
def test_gradient_against_finite_differences(source: str, formula: Callable[[Real], Real]) -> None:
    """float64 results: within 4 ulp of the largest |dx| over the grid (SPEC's float64 bound)."""
    x = GRID[GRID != 1.0]
    dx = evaluate_expression_gradient(source, x, None, "float64").values
    exact = [derivative(formula, float(v)) for v in x]
    scale = max(abs(e) for e in exact)
    for xi, d, e in zip(x, dx, exact, strict=True):
        error = abs(MP.mpf(float(d)) - e) / MP.mpf(float(np.spacing(np.float64(float(scale)))))
        assert error <= 4, f"{source} at x={xi!r}: {d!r}, exact {MP.nstr(e, 17)} ({float(error):.3g} ulp)"


WRITTEN_OUT: list[tuple[str, str, dict[str, Any]]] = [
    ("x * sigmoid(x)", "swish", {}),
    ("x * tanh(softplus(x))", "mish", {}),
    ("0.5 * x * (1 + erf(x / sqrt(2)))", "gelu", {}),
    ("log(sigmoid(x))", "log_sigmoid", {}),
    ("x - tanh(x)", "tanh_shrink", {}),
    ("where(x > 0, x, exp(x) - 1)", "elu", {}),
    ("maximum(minimum(x, 6), 0)", "relu6", {}),
]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
@pytest.mark.parametrize(("source", "name", "params"), WRITTEN_OUT, ids=[s for s, _, _ in WRITTEN_OUT])
def test_gradient_agrees_with_the_catalogue(source: str, name: str, params: dict[str, Any], dtype: str) -> None:
    """The chain rule through the written-out formula and the catalogue's derivative: 1 ulp of max |dx|.

    Away from the kinks, where the written-out form follows its own operations (maximum and minimum
    pass the gradient on ties, relu6 does not).
    """
    x = GRID[(GRID != 0) & (GRID != 6)].astype(DTYPES[dtype])
    ours = evaluate_expression_gradient(source, x, None, dtype).values.astype(np.float64)
    theirs = evaluate_gradient(name, x, None, params, dtype).dx.astype(np.float64)
    scale = np.float64(np.abs(theirs).max()).astype(DTYPES[dtype])
    spacing = float(np.spacing(scale)) if dtype != "bfloat16" else float(scale) * 2.0**-7
    assert np.all(np.abs(ours - theirs) <= spacing), np.abs(ours - theirs).max()


@pytest.mark.parametrize(
    ("source", "x", "expected"),
    [
        ("relu(x)", 0.0, 0.0),  # the catalogue's convention: relu'(0) = 0
        ("maximum(x, 0)", 0.0, 1.0),  # TensorFlow's Maximum passes a tie to its first argument
        ("maximum(0, x)", 0.0, 0.0),
        ("minimum(x, 0)", 0.0, 1.0),
        ("clip(x, -1, 1)", 1.0, 1.0),  # clip_by_value keeps its bounds
        ("clip(x, -1, 1)", -1.0, 1.0),
        ("clip(x, -1, 1)", 1.5, 0.0),
        ("abs(x)", 0.0, 0.0),  # sign(0)
        ("where(x > 0, x, 0)", 0.0, 0.0),
        ("where(x > 0, log(x), 0)", -1.0, 0.0),  # the branch not taken gets no gradient, not NaN
        ("x ** 2", 0.0, 0.0),
        ("2 ** x", 0.0, math.log(2)),
        ("(-2) ** x", 1.0, 0.0),  # d(a^b)/db is 0 where a <= 0, as TensorFlow's Pow
        ("sqrt(x)", 0.0, math.inf),
    ],
)
def test_gradient_conventions(source: str, x: float, expected: float) -> None:
    dx = evaluate_expression_gradient(source, np.asarray([x]), None, "float64").values[0]
    assert dx == expected or (math.isclose(dx, expected, rel_tol=1e-15))


def test_gradient_dy_broadcasts_and_is_checked() -> None:
    x = np.asarray([[1.0, 2.0], [3.0, 4.0]])
    assert evaluate_expression_gradient("x * x", x, np.asarray([1.0, -1.0])).values.tolist() == [[2, -4], [6, -8]]
    with pytest.raises(InvalidTensor) as info:
        evaluate_expression_gradient("x * x", x, np.ones(3))
    assert info.value.errors[0].loc == ("dy",)


# --------------------------------------------------------------------------------------------------
# 4. Hostile expressions.
# --------------------------------------------------------------------------------------------------

HOSTILE: list[tuple[str, str, int]] = [
    ("dunder attribute", "x.__class__", 3),
    ("dunder chain", "x.__class__.__bases__", 13),
    ("import", "__import__", 1),
    ("builtin call", "eval(x)", 1),
    ("string", "open('/etc/passwd')", 6),
    ("subscript", "x[0]", 2),
    ("lambda", "lambda: x", 7),
    ("comprehension", "sum(x for x in x)", 1),
    ("conditional", "x if x else 1", 1),
    ("number running into a keyword", "x + 1if x else 2", 5),
    ("hexadecimal running into a keyword", "0x1for", 1),
    ("boolean operator", "x > 0 and x < 1", 1),
    ("walrus", "(y := x)", 4),
    ("method call", "x.conjugate()", 3),
    ("starred", "relu(*x)", 1),
    ("keyword splat", "relu(x, **dict())", 9),
    ("unknown name", "y * 2", 1),
    ("unknown function", "softmax(x)", 1),
    ("function without call", "exp + x", 1),
    ("complex number", "1j * x", 1),
    ("boolean constant", "True", 1),
    ("statement", "x; x", 2),
    ("matrix product", "x @ x", 3),
    ("bit operation", "x | 1", 3),
    ("comment", "x # hi", 3),
    ("newline", "x\n+ 1", 2),
    ("non-ASCII", "x \u00d7 2", 3),
    ("null byte", "x\x00", 2),
    ("chained comparison", "where(0 < x < 1, x, 0)", 7),
    ("comparison as the value", "x > 0", 1),
    ("where of a number", "where(x, 1, 0)", 7),
    ("where arity", "where(x > 0, x)", 1),
    ("parameter not a literal", "relu(x, alpha=x)", 15),
    ("parameter not finite", "relu(x, alpha=1e999)", 9),
    ("unknown parameter", "elu(x, beta=1)", 8),
    ("missing required parameter", "threshold(x, threshold=1)", 1),
    ("positional parameter", "relu(x, 0.1)", 1),
    ("syntax error", "x +* 1", 4),
    ("unbalanced", "exp(x", 4),
    ("ends early", "x + ", 3),
    ("ends with a comparison", "where(x ==", 9),
    ("empty", "   ", 1),
    ("too long", "x + " * 600 + "x", MAX_LENGTH + 1),
    ("10k-deep nesting", "(" * 10_000 + "x" + ")" * 10_000, MAX_LENGTH + 1),
    ("nesting past the limit", "(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1), MAX_DEPTH + 1),
    ("deep calls", "exp(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1), 4 * (MAX_DEPTH + 1)),
    ("unary tower", "-" * 1000 + "x", MAX_DEPTH + 1),
    # ** binds right: the 64th power starts at column 190, and its base is the term too deep.
    ("exponent tower", "2" + "**2" * 400, 1 + 3 * (MAX_DEPTH - 1)),
]


def _refused(source: str) -> InvalidExpression:
    with pytest.raises(InvalidExpression) as info:
        parse_expression(source)
    return info.value


@pytest.mark.parametrize(("source", "column"), [(s, c) for _, s, c in HOSTILE], ids=[why for why, _, _ in HOSTILE])
def test_hostile_expressions_are_refused_with_the_column(
    source: str, column: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("user input reached eval or exec")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    start = time.perf_counter()
    error = _refused(source)
    assert time.perf_counter() - start < 5  # a hang guard, not a benchmark
    assert error.column == column, error.detail
    assert f"(column {column})" in error.detail
    assert error.errors[0].loc == ("expression",)
    assert isinstance(error, InvalidParameter)  # a 422 like any invalid parameter


def test_the_language_is_documented() -> None:
    for word in ("where", "clip", "minimum", "**", str(MAX_LENGTH), str(MAX_DEPTH)):
        assert word in GRAMMAR
    assert set(CATALOGUE_FUNCTIONS) >= {"relu", "silu", "LeakyReLU", "hard_swish"}
    assert "softmax" not in CATALOGUE_FUNCTIONS and "glu" not in CATALOGUE_FUNCTIONS


# Fragments of valid and hostile syntax; random concatenations of them probe the parser's whitelist.
FRAGMENTS = [
    "x",
    "1",
    "0.5",
    "1e308",
    "+",
    "-",
    "*",
    "/",
    "**",
    "(",
    ")",
    ",",
    " ",
    "<",
    ">=",
    "==",
    "=",
    "where(",
    "relu(",
    "exp(",
    "clip(",
    "alpha=",
    "threshold=",
    "sigmoid(",
    ".",
    "__class__",
    "[",
    "]",
    "'",
    "lambda",
    ":",
    "os",
    "import",
    "if",
    "else",
    "and",
    "not",
    "9" * 30,
    "j",
    "_",
    "\\",
    "{",
    "}",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=25))
def test_any_text_is_refused_or_evaluates(fragments: list[str]) -> None:
    """Nothing but InvalidExpression comes out of the parser, and what it accepts evaluates and differentiates."""
    source = "".join(fragments)
    try:
        expression = parse_expression(source)
    except InvalidExpression as exc:
        assert 1 <= exc.column <= max(len(source), 1) + 1
        return
    x = np.asarray([-2.0, 0.0, 0.5, 3.0])
    assert evaluate_expression(expression.source, x).values.shape == x.shape
    assert evaluate_expression_gradient(expression.source, x).values.shape == x.shape
