"""Black-box conformance of `POST /activate/{name}` (SPEC sections 1 to 3).

Every name a client may use (canonical names, aliases, layer names) x every dtype x the shapes (),
(0,), (2, 0), 1-D, 2-D and 3-D, in JSON and in .npy, with special values (NaN, +-inf, -0.0, the
dtype's smallest subnormal and largest finite value) mixed into ordinary ones; then a table of
parameter sets that takes every branch of every activation. Each answer is checked as a client sees
it: status, `activation` (canonical), `params` (effective, canonical names, defaults filled, numbers
as floats, axes and tensors as sent), `dtype`, `shape`, the X-Shape and X-Dtype headers, strict JSON
whose floats are the shortest decimals that read back, JSON values bit-identical to the .npy answer
to the same request, and every value within the ulp bounds of SPEC section 2 of the independent
mpmath reference (`tests/numerics/mp_reference.py`): 1 ulp for float16, bfloat16 and float32
elementwise, 4 ulp for float64 and for the softmax family.

Names, defaults and echoes are written here from the SPEC text, not read from the registry; the
registry only drives the parametrisation, and `test_catalogue_is_the_spec_table` checks both agree.

Special values follow the limit of the formula (SPEC section 2):

- elementwise at +-inf: the reference evaluated at +-2^1100, beyond every dtype's range. Each function
  is within far less than an ulp of its limit there (the slowest, softsign, is 2^-1100 from it), so
  rounding that value is rounding the limit. A limit that rounds to 0 or to +-inf must be met exactly,
  not merely within an ulp.
- glu, a function of two inputs: mpmath's own infinities, so a * sigmoid(b) is NaN for a = +-inf with
  b = -inf (inf * 0 has no limit) and +-inf for b > -inf.
- softmax family: a slice holding NaN is NaN throughout; k entries at +inf share the mass (1/k each,
  log_softmax -log k) and the others get 0 (-inf); a slice that is -inf throughout is uniform (the
  service's documented choice, `tf_differences`); -inf entries among finite ones get 0 (-inf).
"""

from __future__ import annotations

import functools
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ml_dtypes
import numpy as np
import orjson
import pytest
from starlette.testclient import TestClient

from app.numerics import REGISTRY
from tests.numerics import mp_reference as ref

NPY = "application/x-npy"
JSON = "application/json"

# --- the catalogue, from SPEC section 1 ----------------------------------------------------------

ALIASES = {"silu": "swish", "hard_swish": "hard_silu"}
# Effective parameters with their defaults, as the response echoes them when nothing is sent.
SPEC_DEFAULTS: dict[str, dict[str, object]] = {
    "relu": {"alpha": 0.0, "max_value": None, "threshold": 0.0},
    "sigmoid": {},
    "softmax": {"axis": -1},
    "softplus": {},
    "softsign": {},
    "tanh": {},
    "selu": {},
    "elu": {"alpha": 1.0},
    "exponential": {},
    "linear": {},
    "gelu": {"approximate": False},
    "swish": {},
    "hard_sigmoid": {},
    "mish": {},
    "relu6": {},
    "leaky_relu": {"alpha": 0.2},
    "log_softmax": {"axis": -1},
    "hard_silu": {},
    "celu": {"alpha": 1.0},
    "glu": {"axis": -1},
    "hard_tanh": {},
    "log_sigmoid": {},
    "soft_shrink": {"threshold": 0.5},
    "hard_shrink": {"threshold": 0.5},
    "tanh_shrink": {},
    "squareplus": {"b": 4.0},
    "sparse_plus": {},
    "sparsemax": {"axis": -1},
    "sparse_sigmoid": {},
    "threshold": {},  # threshold and default_value are required
    "LeakyReLU": {"alpha": 0.3},
    "ReLU": {"max_value": None, "negative_slope": 0.0, "threshold": 0.0},
    "ELU": {"alpha": 1.0},
    "ThresholdedReLU": {"theta": 1.0},
    "PReLU": {"alpha": 0.0},
    "Softmax": {"axis": -1, "mask": None},
}
REQUIRED: dict[str, dict[str, object]] = {"threshold": {"threshold": 0.5, "default_value": -1.0}}
PARAM_ALIASES: dict[str, dict[str, str]] = {
    "relu": {"negative_slope": "alpha"},
    "leaky_relu": {"negative_slope": "alpha"},
}
# Parameters echoed as sent (axes, booleans, tensors); every other one is a number, echoed as a float.
AS_SENT = {"axis", "approximate", "mask"}
TENSOR_PARAMS = {("PReLU", "alpha"), ("Softmax", "mask")}
SOFTMAX_FAMILY = {"softmax", "log_softmax", "Softmax", "sparsemax"}
AXISWISE = SOFTMAX_FAMILY | {"glu"}
MIN_RANK_2 = {"softmax", "Softmax"}

# --- dtypes and ulps ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fmt:
    """A floating-point format, for rounding and ulp arithmetic."""

    name: str
    dtype: np.dtype[Any]
    nmant: int
    minexp: int
    maxexp: int
    max: float
    smallest_subnormal: float

    def ulp(self, value: Any) -> Any:
        """Spacing of the format at `value` (an mpf), subnormal spacing below the normal range."""
        if value == 0:
            return ref.MP.ldexp(1, self.minexp - self.nmant)
        exponent = ref.MP.frexp(value)[1] - 1
        return ref.MP.ldexp(1, max(exponent, self.minexp) - self.nmant)

    def rounds_to_infinity(self, value: Any) -> bool:
        return bool(abs(value) >= ref.MP.mpf(self.max) + ref.MP.ldexp(1, self.maxexp - 2 - self.nmant))

    def rounds_to_zero(self, value: Any) -> bool:
        return bool(abs(value) <= ref.MP.mpf(self.smallest_subnormal) / 2)

    def round(self, values: Any) -> np.ndarray:
        """float64 values rounded once to the format, as the float64 numbers they then are."""
        with np.errstate(over="ignore"):
            return np.asarray(values, dtype=np.float64).astype(self.dtype).astype(np.float64)


def _fmt(name: str, dtype: Any) -> Fmt:
    info = ml_dtypes.finfo(dtype)
    return Fmt(
        name,
        np.dtype(dtype),
        int(info.nmant),
        int(info.minexp),
        int(info.maxexp),
        float(info.max),
        float(info.smallest_subnormal),
    )


FORMATS = {
    "float16": _fmt("float16", np.float16),
    "bfloat16": _fmt("bfloat16", ml_dtypes.bfloat16),
    "float32": _fmt("float32", np.float32),
    "float64": _fmt("float64", np.float64),
}
DTYPE_NAMES = list(FORMATS)
NPY_DTYPES = ("float16", "float32", "float64")
_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def tolerance(canonical: str, fmt: Fmt) -> float:
    if canonical in SOFTMAX_FAMILY or fmt.name == "float64":
        return 4.0
    return 1.0


# --- inputs ---------------------------------------------------------------------------------------

FAR = ref.MP.ldexp(1, 1100)  # beyond every dtype's range: where the elementwise limits are taken


def _symbol(value: object, fmt: Fmt) -> float:
    table = {
        "nan": math.nan,
        "inf": math.inf,
        "-inf": -math.inf,
        "-0": -0.0,
        "sub": fmt.smallest_subnormal,
        "-sub": -fmt.smallest_subnormal,
        "max": fmt.max,
        "-max": -fmt.max,
    }
    return table[value] if isinstance(value, str) else float(value)  # type: ignore[arg-type]


def build(layout: object, fmt: Fmt) -> np.ndarray:
    """A nested layout of numbers and symbols as float64 values representable in `fmt`."""
    cells = np.array(layout, dtype=object)
    values = np.array([_symbol(v, fmt) for v in cells.reshape(-1)], dtype=np.float64).reshape(cells.shape)
    return fmt.round(values)


# 2-D and 3-D: slices that are ordinary, mixed with -0/subnormal/max, with one or two +inf, with
# NaN, and entirely -inf, so the softmax family sees every limit rule in some slice.
LAYOUTS: dict[str, object] = {
    "scalar": -1.5,
    "empty": [],
    "empty-2d": [[], []],
    "1d": [-2.5, "nan", 0.5, "inf", -1.0, "-inf", "-0", "sub", "max", "-max"],
    "2d": [
        [-2.5, 0.5, -1.0, 3.0, 0.125, -0.75],
        [1.5, "-0", "sub", "-max", 2.0, -6.0],
        ["inf", -1.0, "-inf", 0.25, "inf", 7.25],
        ["nan", 1.0, "-inf", "max", 0.5, -0.3],
    ],
    "3d": [
        [[-2.5, 0.5, -1.0, 10.0], ["-inf", "-inf", "-inf", "-inf"], ["max", "-0", 1.0, "-max"]],
        [["inf", "-inf", 1.0, 2.0], ["sub", "-sub", 0.0, "-0"], ["nan", 1.0, 2.0, "inf"]],
    ],
    # Every branch point of the catalogue (0, +-0.5, +-1, -2.5, +-3, 6, thresholds) among specials.
    "branch": [
        ["-inf", -100.0, -10.0, -6.0, -3.0, -2.5, -1.5, -1.0, -0.75],
        [-0.5, -0.25, -0.125, -1e-3, "-sub", "-0", 0.0, "sub", 1e-3],
        [0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0],
        [5.9, 6.0, 6.5, 10.0, 100.0, "max", "-max", "inf", "nan"],
    ],
}
SHAPES = {key: np.array(LAYOUTS[key], dtype=object).shape for key in LAYOUTS}
SHAPES["empty-2d"] = (2, 0)
GRID_SHAPES = ("scalar", "empty", "empty-2d", "1d", "2d", "3d")


def grid_input(key: str, fmt: Fmt) -> np.ndarray:
    x = build(LAYOUTS[key], fmt)
    return x.reshape(SHAPES[key])


# Non-finite spellings a client may send (SPEC section 3), a different one per dtype; float64
# requests use the bare tokens of Python and Triton clients.
SPELLINGS = {
    "float32": (b'"NaN"', b'"Infinity"', b'"-Infinity"'),
    "float16": (b'"nan"', b'"inf"', b'"-inf"'),
    "bfloat16": (b'"NAN"', b'"INFINITY"', b'"-INF"'),
    "float64": (b"NaN", b"Infinity", b"-Infinity"),
}


def encode_x(x: np.ndarray, spelling: Sequence[bytes]) -> bytes:
    if x.ndim == 0:
        v = float(x)
        if math.isnan(v):
            return spelling[0]
        if math.isinf(v):
            return spelling[1] if v > 0 else spelling[2]
        return orjson.dumps(v)
    return b"[" + b",".join(encode_x(row, spelling) for row in x) + b"]"


def json_body(x: np.ndarray, dtype: str, params: dict[str, object]) -> bytes:
    head = b'{"x":' + encode_x(x, SPELLINGS[dtype]) + b',"dtype":"' + dtype.encode() + b'"'
    rest = orjson.dumps(params)[1:-1]
    return head + (b"," + rest if rest else b"") + b"}"


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def query_items(params: dict[str, object]) -> list[tuple[str, str]]:
    """Parameters in the query string (SPEC section 3): JSON syntax, lists of axes as repeated keys."""
    items: list[tuple[str, str]] = []
    for key, value in params.items():
        if key == "axis" and isinstance(value, list):
            items += [(key, str(axis)) for axis in value]
        else:
            items.append((key, orjson.dumps(value).decode()))
    return items


# --- expected metadata ----------------------------------------------------------------------------


def canonical_param(canonical: str, key: str) -> str:
    return PARAM_ALIASES.get(canonical, {}).get(key, key)


def expected_echo(canonical: str, sent: dict[str, object]) -> dict[str, object]:
    echo = dict(SPEC_DEFAULTS[canonical])
    for key, value in sent.items():
        name = canonical_param(canonical, key)
        as_sent = name in AS_SENT or (canonical, name) in TENSOR_PARAMS or value is None
        echo[name] = value if as_sent else float(value)  # type: ignore[arg-type]
    return echo


def expected_query_echo(canonical: str, sent: dict[str, object]) -> dict[str, object]:
    """A list of one axis goes into the query as one key, which reads back as an int."""
    echo = expected_echo(canonical, sent)
    if isinstance(echo.get("axis"), list) and len(echo["axis"]) == 1:  # type: ignore[arg-type]
        echo["axis"] = echo["axis"][0]  # type: ignore[index]
    return echo


def same_json(got: object, want: object) -> bool:
    """Equal values of equal JSON types: 1 is not 1.0 and true is not 1."""
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(same_json(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return (
            isinstance(got, list)
            and len(got) == len(want)
            and all(same_json(g, w) for g, w in zip(got, want, strict=True))
        )
    return type(got) is type(want) and got == want


def normalised_axes(axis: object, ndim: int) -> tuple[int, ...]:
    axes = axis if isinstance(axis, list) else [axis]
    return tuple(int(a) % ndim for a in axes)  # type: ignore[call-overload]


def output_shape(canonical: str, shape: tuple[int, ...], sent: dict[str, object]) -> tuple[int, ...]:
    if canonical != "glu":
        return shape
    (axis,) = normalised_axes(sent.get("axis", -1), len(shape))
    return tuple(n // 2 if i == axis else n for i, n in enumerate(shape))


def refusal(canonical: str, ndim: int) -> tuple[str, str] | None:
    """(problem type, detail fragment) when SPEC refuses this rank, else None."""
    if canonical in MIN_RANK_2 and ndim <= 1:
        return "/problems/invalid-tensor", "1D" if ndim == 1 else "batch dimension"
    if canonical in AXISWISE and ndim == 0:
        return "/problems/invalid-parameter", "axis"
    return None


# --- reading answers ------------------------------------------------------------------------------

_TOKEN = re.compile(rb'"[^"]*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?')
_NONFINITE_TEXT = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _float_of(value: object) -> object:
    if isinstance(value, list):
        return [_float_of(v) for v in value]
    if isinstance(value, str):
        assert value in _NONFINITE_TEXT, f"unexpected string {value!r} in y"
        return _NONFINITE_TEXT[value]
    assert type(value) in (int, float), f"unexpected {value!r} in y"
    return float(value)  # type: ignore[arg-type]


def significant_digits(token: bytes) -> int:
    mantissa = token.lstrip(b"-").lower().split(b"e")[0].replace(b".", b"").strip(b"0")
    return max(len(mantissa), 1)


def _reads_back(text: str, value: float, fmt: Fmt) -> bool:
    with np.errstate(over="ignore"):
        return bool(np.float64(float(text)).astype(fmt.dtype) == np.float64(value).astype(fmt.dtype))


@functools.cache
def shortest_digits(value: float, fmt: Fmt) -> int:
    """The fewest significant digits of a decimal that reads back (through float64) to `value`."""
    if value == 0:
        return 1
    for digits in range(1, 18):
        nearest = f"{value:.{digits - 1}e}"
        mantissa, exponent = nearest.split("e")
        sign = "-" if mantissa.startswith("-") else ""
        units = int(mantissa.lstrip("-").replace(".", ""))
        scale = int(exponent) - digits + 1
        candidates = [nearest] + [f"{sign}{units + step}e{scale}" for step in (-1, 1) if units + step > 0]
        if any(_reads_back(text, value, fmt) for text in candidates):
            return digits
    return 17


def read_json_answer(
    response: Any,
    *,
    canonical: str,
    fmt: Fmt,
    shape: tuple[int, ...],
    echo: dict[str, object],
) -> np.ndarray:
    """Check a JSON answer's status, metadata, strictness and shortest floats; return y in its dtype."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON
    assert response.headers["x-shape"] == ",".join(map(str, shape))
    assert response.headers["x-dtype"] == fmt.name
    document = orjson.loads(response.content)  # strict RFC 8259: a bare NaN token fails here
    assert set(document) == {"activation", "params", "dtype", "shape", "y"}
    assert document["activation"] == canonical
    assert same_json(document["params"], echo), (document["params"], echo)
    assert document["dtype"] == fmt.name
    assert same_json(document["shape"], list(shape))
    wide = np.array(_float_of(document["y"]), dtype=np.float64)
    assert wide.shape == shape, (wide.shape, shape)
    with np.errstate(over="ignore"):
        y = wide.astype(fmt.dtype)
    y_text = response.content[response.content.rindex(b'"y":') + 4 : -1]
    tokens = _TOKEN.findall(y_text)
    assert len(tokens) == y.size
    for token, value in zip(tokens, wide.reshape(-1).tolist(), strict=True):
        if token.startswith(b'"'):
            continue
        shortest = shortest_digits(float(np.float64(value).astype(fmt.dtype)), fmt)
        assert significant_digits(token) == shortest, f"{token!r} is not the shortest form ({shortest} digits)"
    return y


def read_npy_answer(response: Any, *, fmt: Fmt, shape: tuple[int, ...]) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == NPY
    assert response.headers["x-shape"] == ",".join(map(str, shape))
    assert response.headers["x-dtype"] == fmt.name
    y = np.load(io.BytesIO(response.content), allow_pickle=False)
    assert y.dtype == fmt.dtype and y.shape == shape
    return y


def assert_bit_identical(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    with np.errstate(invalid="ignore"):
        nan_a, nan_b = np.isnan(a.astype(np.float64)), np.isnan(b.astype(np.float64))
    np.testing.assert_array_equal(nan_a, nan_b)
    bits_a = np.ascontiguousarray(a).view(_UINT[a.dtype.itemsize])
    bits_b = np.ascontiguousarray(b).view(_UINT[b.dtype.itemsize])
    np.testing.assert_array_equal(bits_a[~nan_a], bits_b[~nan_b])


# --- the reference --------------------------------------------------------------------------------

NAN = object()  # the expected value is NaN
_cache: dict[tuple[object, ...], object] = {}


@dataclass(frozen=True)
class Expected:
    """What one element must be: NaN, or within tolerance of `value` (exactly it if `exact_limit`)."""

    value: object
    exact_limit: bool = False


def _cached(key: tuple[object, ...], compute: Callable[[], object]) -> object:
    if key not in _cache:
        _cache[key] = compute()
    return _cache[key]


def _elementwise(canonical: str, v: float, params: dict[str, object]) -> Expected:
    if math.isnan(v):
        return Expected(NAN)
    function = ref.ELEMENTWISE[canonical]
    point = (FAR if v > 0 else -FAR) if math.isinf(v) else v
    key = (canonical, tuple(sorted(params.items())), v)
    value = _cached(key, lambda: function(point, **params))
    return Expected(value, exact_limit=math.isinf(v))


def _slice_reference(canonical: str, values: list[float], adders: list[float] | None) -> list[Expected]:
    """One slice of the softmax family, with the limit rules of the module docstring."""
    effective = values if adders is None else [v + a for v, a in zip(values, adders, strict=True)]
    n = len(values)
    log = canonical == "log_softmax"
    if any(math.isnan(v) for v in effective):
        return [Expected(NAN)] * n
    top = [math.isinf(v) and v > 0 for v in effective]
    if any(top):
        k = sum(top)
        share = -ref.MP.log(k) if log else ref.MP.mpf(1) / k
        off = ref.MP.mpf("-inf") if log else ref.MP.zero
        return [Expected(share if t else off, exact_limit=True) for t in top]
    if all(math.isinf(v) for v in effective):
        return [Expected(-ref.MP.log(n) if log else ref.MP.mpf(1) / n, exact_limit=True)] * n
    key = (canonical, tuple(values), None if adders is None else tuple(adders))
    if canonical == "sparsemax":
        finite = [i for i, v in enumerate(values) if not math.isinf(v)]
        computed = _cached(key, lambda: ref.sparsemax([values[i] for i in finite]))
        out = [Expected(ref.MP.zero, exact_limit=True)] * n
        for i, value in zip(finite, computed, strict=True):  # type: ignore[call-overload]
            out[i] = Expected(value)
        return out
    if log:
        computed = _cached(key, lambda: ref.log_softmax(values))
    else:
        computed = _cached(key, lambda: ref.softmax(values, adders))
    return [Expected(v) for v in computed]  # type: ignore[attr-defined]


def _along_axes(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """x as rows of slices along `axes`, and the map from such rows back to x's layout."""
    rest = [i for i in range(x.ndim) if i not in axes]
    order = rest + list(axes)
    moved = np.transpose(x, order)
    rows = moved.reshape(-1, math.prod(x.shape[a] for a in axes))

    def back(values: np.ndarray) -> np.ndarray:
        return np.transpose(values.reshape(moved.shape), np.argsort(order))

    return rows, back


def reference(canonical: str, x: np.ndarray, sent: dict[str, object], fmt: Fmt) -> np.ndarray:
    """An object array of `Expected`, shaped like the result."""
    if x.size == 0:
        return np.empty(output_shape(canonical, x.shape, sent), dtype=object)
    params = ref.effective_params(canonical, sent) if canonical not in AXISWISE else {}
    if canonical == "glu":
        (axis,) = normalised_axes(sent.get("axis", -1), x.ndim)
        a, b = np.split(x, 2, axis=axis)
        out = np.empty(a.shape, dtype=object)
        for index in np.ndindex(a.shape):
            pa, pb = float(a[index]), float(b[index])
            value = _cached(("glu", pa, pb), functools.partial(ref.glu, pa, pb))
            limit = math.isinf(pa) or math.isinf(pb)
            out[index] = Expected(NAN if ref.MP.isnan(value) else value, exact_limit=limit)  # type: ignore[arg-type]
        return out
    if canonical in SOFTMAX_FAMILY:
        axes = normalised_axes(sent.get("axis", -1), x.ndim)
        adders = None
        if sent.get("mask") is not None:
            keep = np.broadcast_to(np.asarray(sent["mask"]) != 0, x.shape)
            big = -32752.0 if fmt.name == "float16" else -1e9
            adders = np.where(keep, 0.0, big)
        rows, back = _along_axes(x, axes)
        adder_rows = None if adders is None else _along_axes(adders, axes)[0]
        out_rows = np.empty(rows.shape, dtype=object)
        for i, row in enumerate(rows):
            row_adders = None if adder_rows is None else [float(a) for a in adder_rows[i]]
            out_rows[i] = _slice_reference(canonical, [float(v) for v in row], row_adders)
        return back(out_rows)
    out = np.empty(x.shape, dtype=object)
    tensor = params.get("alpha") if canonical == "PReLU" else None
    per_element = np.broadcast_to(np.asarray(tensor, dtype=np.float64), x.shape) if tensor is not None else None
    for index in np.ndindex(x.shape):
        element_params = dict(params)
        if per_element is not None:
            element_params["alpha"] = float(per_element[index])
        out[index] = _elementwise(canonical, float(x[index]), element_params)
    return out


def ulp_error(y: float, exact: Any, fmt: Fmt) -> float:
    if math.isnan(y) or ref.MP.isnan(exact):
        return math.inf
    if fmt.rounds_to_infinity(exact):
        return 0.0 if math.isinf(y) and (y > 0) == (exact > 0) else math.inf
    if math.isinf(y) or ref.MP.isinf(exact):
        return math.inf
    return float(abs(ref.MP.mpf(y) - exact) / fmt.ulp(exact))


def assert_within_bounds(canonical: str, x: np.ndarray, y: np.ndarray, sent: dict[str, object], fmt: Fmt) -> None:
    expected = reference(canonical, x, sent, fmt)
    assert expected.shape == y.shape
    bound = tolerance(canonical, fmt)
    problems = []
    inputs = x if expected.shape == x.shape else None
    for index in np.ndindex(y.shape):
        got = float(np.asarray(y[index]).astype(np.float64))
        want: Expected = expected[index]
        where = f"{canonical}{sent} {fmt.name} at {index}" + ("" if inputs is None else f" x={float(inputs[index])!r}")
        if want.value is NAN:
            if not math.isnan(got):
                problems.append(f"{where}: got {got!r}, expected NaN")
            continue
        error = ulp_error(got, want.value, fmt)
        zero_limit = want.exact_limit and fmt.rounds_to_zero(want.value) and not fmt.rounds_to_infinity(want.value)
        if error > bound or (zero_limit and got != 0):
            shown = ref.MP.nstr(want.value, 17)  # type: ignore[arg-type]
            problems.append(f"{where}: got {got!r}, expected {shown} ({error:.3g} ulp, bound {bound:g})")
    assert not problems, f"{len(problems)} values out of bounds:\n" + "\n".join(problems[:8])


# --- requests -------------------------------------------------------------------------------------


def post_json(client: TestClient, name: str, body: bytes, accept: str = JSON) -> Any:
    return client.post(f"/activate/{name}", content=body, headers={"content-type": JSON, "accept": accept})


def post_npy(client: TestClient, name: str, array: np.ndarray, query: list[tuple[str, str]], accept: str) -> Any:
    return client.post(
        f"/activate/{name}", content=npy_bytes(array), params=query, headers={"content-type": NPY, "accept": accept}
    )


def assert_problem(response: Any, status: int, kind: str, fragment: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = orjson.loads(response.content)
    assert problem["type"] == kind and problem["status"] == status
    assert fragment.lower() in problem["detail"].lower()


ALL_LEGS = frozenset({"npy->npy", "npy->json", "json->npy"})


def conform(
    client: TestClient,
    name: str,
    fmt: Fmt,
    x: np.ndarray,
    sent: dict[str, object],
    legs: frozenset[str] = ALL_LEGS,
) -> None:
    """One request in several transports: checked metadata, bit-identical values, values within bounds.

    JSON in, JSON out is checked against the reference; each of `legs` (npy in and out; npy in with
    the parameters in the query string, JSON out; JSON in, npy out) must give the same bits. npy
    cannot carry bfloat16, so its "npy->json" leg sends float64 with `?dtype=bfloat16`.
    """
    canonical = ALIASES.get(name, name)
    refused = refusal(canonical, x.ndim)
    answer = post_json(client, name, json_body(x, fmt.name, sent))
    if refused is not None:
        assert_problem(answer, 422, *refused)
        if fmt.name in NPY_DTYPES:
            npy_answer = post_npy(client, name, x.astype(fmt.dtype), query_items(sent), JSON)
            assert_problem(npy_answer, 422, *refused)
        return
    shape = output_shape(canonical, x.shape, sent)
    y = read_json_answer(answer, canonical=canonical, fmt=fmt, shape=shape, echo=expected_echo(canonical, sent))
    assert_within_bounds(canonical, x, y, sent, fmt)
    query_echo = expected_query_echo(canonical, sent)
    if fmt.name == "bfloat16":
        if "npy->json" in legs:
            query = [*query_items(sent), ("dtype", "bfloat16")]
            via_npy = post_npy(client, name, x, query, JSON)
            y_npy_json = read_json_answer(via_npy, canonical=canonical, fmt=fmt, shape=shape, echo=query_echo)
            assert_bit_identical(y_npy_json, y)
        return
    if "npy->npy" in legs:
        npy_in_npy_out = post_npy(client, name, x.astype(fmt.dtype), query_items(sent), NPY)
        assert_bit_identical(read_npy_answer(npy_in_npy_out, fmt=fmt, shape=shape), y)
    if "json->npy" in legs:
        json_in_npy_out = post_json(client, name, json_body(x, fmt.name, sent), accept=NPY)
        assert_bit_identical(read_npy_answer(json_in_npy_out, fmt=fmt, shape=shape), y)
    if "npy->json" in legs:
        npy_in_json_out = post_npy(client, name, x.astype(fmt.dtype), query_items(sent), JSON)
        y_npy_json = read_json_answer(npy_in_json_out, canonical=canonical, fmt=fmt, shape=shape, echo=query_echo)
        assert_bit_identical(y_npy_json, y)


# --- the catalogue agrees with the SPEC table -----------------------------------------------------


def test_catalogue_is_the_spec_table() -> None:
    assert {spec.name for spec in REGISTRY} == set(SPEC_DEFAULTS)
    assert set(REGISTRY.names) == set(SPEC_DEFAULTS) | set(ALIASES)
    for spec in REGISTRY:
        names = {param.name for param in spec.params}
        assert names == set(SPEC_DEFAULTS[spec.name]) | set(REQUIRED.get(spec.name, {})), spec.name
        aliases = {alias: param.name for param in spec.params for alias in param.aliases}
        assert aliases == PARAM_ALIASES.get(spec.name, {}), spec.name


# --- every name x dtype x shape x transport -------------------------------------------------------


@pytest.mark.parametrize("shape_key", GRID_SHAPES)
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("name", REGISTRY.names)
def test_every_name_dtype_and_shape(client: TestClient, name: str, dtype: str, shape_key: str) -> None:
    fmt = FORMATS[dtype]
    canonical = ALIASES.get(name, name)
    sent = dict(REQUIRED.get(canonical, {}))
    # Every leg for a scalar and the 3-D tensor; the other shapes go npy in and out only.
    legs = ALL_LEGS if shape_key in ("scalar", "3d") else frozenset({"npy->npy"})
    conform(client, name, fmt, grid_input(shape_key, fmt), sent, legs)


@pytest.mark.parametrize("name", REGISTRY.names)
def test_bfloat16_has_no_npy(client: TestClient, name: str) -> None:
    """npy cannot spell bfloat16: asking for it is a 406, sending it (a void |V2 array) a 422."""
    canonical = ALIASES.get(name, name)
    x = np.array([[-1.0, 0.5], [2.0, -0.25]])
    body = json_body(x, "bfloat16", dict(REQUIRED.get(canonical, {})))
    assert_problem(post_json(client, name, body, accept=NPY), 406, "/problems/not-acceptable")
    void = npy_bytes(x.astype(ml_dtypes.bfloat16))  # numpy writes ml_dtypes' bfloat16 as '<V2'
    header = b"{'descr': '|V2', 'fortran_order': False, 'shape': (2, 2), }"
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    pipe_void = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + void[-8:]
    for payload in (void, pipe_void):
        response = client.post(
            f"/activate/{name}",
            content=payload,
            params=query_items(REQUIRED.get(canonical, {})),
            headers={"content-type": NPY},
        )
        assert_problem(response, 422, "/problems/invalid-tensor", "")
        assert "bfloat16" in orjson.loads(response.content)["errors"][0]["msg"]


# --- every parameter branch -----------------------------------------------------------------------


@dataclass(frozen=True)
class Branch:
    name: str
    params: dict[str, object] = field(default_factory=dict)
    layout: str = "branch"
    label: str = ""

    @property
    def id(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.name}({self.label or args})-{self.layout}"


ROW_MASK = [[1, 0, 1, 1, 0, 1]]
FULL_MASK = [[0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1], [1, 0, 1, 1, 0, 1], [0, 1, 0, 1, 1, 0]]  # row 0 fully masked
MASK_3D = [[[1, 0, 1, 1], [0, 0, 0, 0], [1, 1, 0, 1]], [[0, 1, 1, 0], [1, 1, 1, 1], [0, 0, 1, 1]]]
CHANNEL_ALPHA = [0.25, -0.5, 3.0, 0.0, 1.0, 0.1, -2.0, 0.5, 1e-3]

BRANCHES: tuple[Branch, ...] = (
    # relu: every branch of tf.keras 2.x backend.relu, and the negative_slope alias
    Branch("relu"),
    Branch("relu", {"alpha": 0.1}),
    Branch("relu", {"negative_slope": 0.1}),
    Branch("relu", {"negative_slope": -0.5}),
    Branch("relu", {"max_value": 6}),
    Branch("relu", {"max_value": 6.0, "alpha": 0.2}),
    Branch("relu", {"max_value": -1}),  # clip_by_value: a negative max_value clips to 0
    Branch("relu", {"max_value": 0}),
    Branch("relu", {"max_value": None}),
    Branch("relu", {"threshold": 1.0}),
    Branch("relu", {"threshold": 1, "alpha": 0.1}),
    Branch("relu", {"threshold": -1.5}),
    Branch("relu", {"threshold": 0.5, "max_value": 3, "alpha": 2}),
    Branch("relu", {"alpha": 0.1, "max_value": 6, "threshold": 1}),
    Branch("relu", {"threshold": 2, "max_value": 1, "alpha": -0.5}),  # clip below the threshold
    # parameterless functions on the branch points
    *(
        Branch(name)
        for name in (
            "sigmoid",
            "softplus",
            "softsign",
            "tanh",
            "selu",
            "exponential",
            "linear",
            "swish",
            "silu",
            "hard_sigmoid",
            "mish",
            "relu6",
            "hard_silu",
            "hard_swish",
            "hard_tanh",
            "log_sigmoid",
            "tanh_shrink",
            "sparse_plus",
            "sparse_sigmoid",
        )
    ),
    Branch("elu"),
    Branch("elu", {"alpha": 0.5}),
    Branch("elu", {"alpha": -2}),
    Branch("elu", {"alpha": 0}),
    Branch("gelu"),
    Branch("gelu", {"approximate": True}),
    Branch("gelu", {"approximate": False}),
    Branch("leaky_relu"),
    Branch("leaky_relu", {"alpha": 0.01}),
    Branch("leaky_relu", {"negative_slope": 0.3}),
    Branch("leaky_relu", {"alpha": -1.5}),
    Branch("leaky_relu", {"alpha": 0}),
    Branch("leaky_relu", {"alpha": 2}),
    Branch("celu"),
    Branch("celu", {"alpha": 0.25}),
    Branch("celu", {"alpha": -1.5}),
    Branch("celu", {"alpha": 3}),
    Branch("soft_shrink"),
    Branch("soft_shrink", {"threshold": 0}),
    Branch("soft_shrink", {"threshold": 2}),
    Branch("soft_shrink", {"threshold": -0.75}),
    Branch("hard_shrink"),
    Branch("hard_shrink", {"threshold": 0}),
    Branch("hard_shrink", {"threshold": 3}),
    Branch("hard_shrink", {"threshold": -1}),
    Branch("squareplus"),
    Branch("squareplus", {"b": 0}),
    Branch("squareplus", {"b": 1e-6}),
    Branch("squareplus", {"b": 250}),
    Branch("threshold", {"threshold": 0.5, "default_value": -1}),
    Branch("threshold", {"threshold": -2, "default_value": 0.1}),
    Branch("threshold", {"threshold": 0, "default_value": 0}),
    Branch("threshold", {"threshold": 6, "default_value": 100}),
    Branch("LeakyReLU"),
    Branch("LeakyReLU", {"alpha": 0.01}),
    Branch("LeakyReLU", {"alpha": 0}),
    Branch("LeakyReLU", {"alpha": -0.5}),
    Branch("ReLU"),
    Branch("ReLU", {"max_value": 6}),
    Branch("ReLU", {"negative_slope": 0.2}),
    Branch("ReLU", {"threshold": 1}),
    Branch("ReLU", {"max_value": 6, "negative_slope": 0.1, "threshold": 0.5}),
    Branch("ReLU", {"max_value": 0}),
    Branch("ReLU", {"max_value": None}),
    Branch("ELU"),
    Branch("ELU", {"alpha": 0.5}),
    Branch("ELU", {"alpha": -1}),
    Branch("ThresholdedReLU"),
    Branch("ThresholdedReLU", {"theta": 0}),
    Branch("ThresholdedReLU", {"theta": 2.5}),
    Branch("PReLU"),
    Branch("PReLU", {"alpha": 0.25}),
    Branch("PReLU", {"alpha": 1}),
    Branch("PReLU", {"alpha": -1}),
    Branch("PReLU", {"alpha": CHANNEL_ALPHA}, label="per-channel"),
    Branch("PReLU", {"alpha": [[0.5], [-1], [0], [2]]}, label="per-row"),
    Branch("PReLU", {"alpha": [[0.1 * (i - 18) for i in range(j * 9, j * 9 + 9)] for j in range(4)]}, label="full"),
    Branch("PReLU", {"alpha": [[0.5]]}, label="1x1"),
    # the softmax family: axis int, negative, list (Keras 3), every rank
    Branch("softmax", {}, "2d"),
    Branch("softmax", {"axis": -1}, "2d"),
    Branch("softmax", {"axis": 0}, "2d"),
    Branch("softmax", {"axis": 1}, "2d"),
    Branch("softmax", {"axis": -2}, "2d"),
    Branch("softmax", {"axis": [0, 1]}, "2d"),
    Branch("softmax", {}, "3d"),
    Branch("softmax", {"axis": 1}, "3d"),
    Branch("softmax", {"axis": -3}, "3d"),
    Branch("softmax", {"axis": [0, 2]}, "3d"),
    Branch("softmax", {"axis": [1, -1]}, "3d"),
    Branch("softmax", {"axis": [2, 0]}, "3d"),
    Branch("softmax", {"axis": [0, 1, 2]}, "3d"),
    Branch("softmax", {"axis": [-1]}, "3d"),
    Branch("log_softmax", {}, "1d"),
    Branch("log_softmax", {}, "2d"),
    Branch("log_softmax", {"axis": 0}, "2d"),
    Branch("log_softmax", {"axis": -2}, "3d"),
    Branch("log_softmax", {"axis": [0, 2]}, "3d"),
    Branch("log_softmax", {"axis": [-3, -2, -1]}, "3d"),
    Branch("Softmax", {}, "2d"),
    Branch("Softmax", {"axis": 0}, "2d"),
    Branch("Softmax", {"axis": [0, 2]}, "3d"),
    Branch("Softmax", {"mask": None}, "2d", label="mask=null"),
    Branch("Softmax", {"mask": FULL_MASK}, "2d", label="mask-full-row0-masked"),
    Branch("Softmax", {"mask": [[bool(v) for v in row] for row in FULL_MASK]}, "2d", label="mask-bool"),
    Branch("Softmax", {"mask": ROW_MASK}, "2d", label="mask-broadcast-row"),
    Branch("Softmax", {"mask": ROW_MASK[0]}, "2d", label="mask-1d"),
    Branch("Softmax", {"axis": 0, "mask": FULL_MASK}, "2d", label="axis0-mask"),
    Branch("Softmax", {"mask": MASK_3D}, "3d", label="mask-3d"),
    Branch("Softmax", {"axis": [0, 2], "mask": MASK_3D}, "3d", label="axes02-mask-3d"),
    Branch("sparsemax", {}, "1d"),
    Branch("sparsemax", {}, "2d"),
    Branch("sparsemax", {"axis": 0}, "2d"),
    Branch("sparsemax", {"axis": -2}, "3d"),
    Branch("sparsemax", {"axis": 1}, "3d"),
    Branch("glu", {}, "2d"),
    Branch("glu", {"axis": 0}, "2d"),
    Branch("glu", {"axis": -2}, "2d"),
    Branch("glu", {"axis": 1}, "2d"),
    Branch("glu", {"axis": 0}, "3d"),
    Branch("glu", {"axis": 2}, "3d"),
    Branch("glu", {}, "1d"),
)


# Parameters travel in the body and in the query string; JSON in, npy out is the grid's business.
BRANCH_LEGS = frozenset({"npy->npy", "npy->json"})


def test_branch_table_covers_every_parameter() -> None:
    for spec in REGISTRY:
        sent = {
            canonical_param(b.name, k) for b in BRANCHES if ALIASES.get(b.name, b.name) == spec.name for k in b.params
        }
        assert sent >= {param.name for param in spec.params}, spec.name
        for param in spec.params:
            for alias in param.aliases:
                assert any(alias in b.params for b in BRANCHES if b.name == spec.name), (spec.name, alias)


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("branch", BRANCHES, ids=[b.id for b in BRANCHES])
def test_every_parameter_branch(client: TestClient, branch: Branch, dtype: str) -> None:
    fmt = FORMATS[dtype]
    conform(client, branch.name, fmt, grid_input(branch.layout, fmt), dict(branch.params), BRANCH_LEGS)
