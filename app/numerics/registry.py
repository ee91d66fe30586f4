"""The activation registry: the single source of truth for names, parameters and documentation.

Each `ActivationSpec` names one kernel and carries everything the rest of the service derives
from it: aliases, parameters, summary, formula, Keras reference, and the documented differences
from TensorFlow. `evaluate` is the one entry point the transports use: resolve the name, bind
the parameters, check the tensor against the activation, compute wide, round once.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from app.errors import ErrorItem, InvalidParameter, InvalidTensor, UnknownActivation
from app.numerics import axiswise, elementwise
from app.numerics.dtypes import DTYPES, wide_dtype
from app.numerics.params import BoundParams, ParamSpec, bind_params

Kernel = Callable[..., np.ndarray]

NAN_LIMIT_NOTE = (
    "TensorFlow returns NaN where its formula meets inf*0 or inf/inf at +-inf inputs; "
    "the service returns the limit of the formula there."
)


@dataclass(frozen=True)
class ActivationSpec:
    """One catalogue entry."""

    name: str
    kernel: Kernel
    summary: str
    formula: str
    keras_reference: str
    params: tuple[ParamSpec, ...] = ()
    aliases: tuple[str, ...] = ()
    elementwise: bool = True
    min_rank: int = 0
    tf_differences: tuple[str, ...] = ()
    wants_dtype: bool = False
    # Checks that need the tensor beyond rank, axes and broadcasting; raise a ServiceError.
    precondition: Callable[[np.ndarray, dict[str, object]], None] | None = None
    # True (for these parameters) when the kernel only compares, selects and clips against
    # values exact in every dtype: its result is then exact computed in the dtype itself, which
    # saves the widening copy on the most common requests (relu with its defaults).
    exact_in_dtype: Callable[[dict[str, object]], bool] | None = None

    def bind(self, raw: Mapping[str, object]) -> BoundParams:
        """The effective parameters for `raw` (shared, so read-only, when nothing was sent)."""
        if not raw and self._defaults is not None:
            return self._defaults
        return bind_params(self.params, raw, self.name)

    @functools.cached_property
    def _defaults(self) -> BoundParams | None:
        if any(param.required for param in self.params):
            return None
        return bind_params(self.params, {}, self.name)


class Result(NamedTuple):
    """What `evaluate` returns: the canonical spec, the echoed parameters and the result."""

    spec: ActivationSpec
    params: dict[str, object]
    y: np.ndarray


def _number(name: str, default: float | None, description: str, **kw: object) -> ParamSpec:
    kind = "optional_number" if default is None and not kw.get("required") else "number"
    return ParamSpec(name=name, kind=kind, default=default, description=description, **kw)  # type: ignore[arg-type]


def _axes(description: str = "Axis or list of axes to normalise over.") -> ParamSpec:
    return ParamSpec(name="axis", kind="axes", default=-1, description=description)


def _axis(description: str) -> ParamSpec:
    return ParamSpec(name="axis", kind="axis", default=-1, description=description)


_ALPHA_LEAK = "Slope for x <= 0."
_RELU_PARAMS = (
    _number("alpha", 0.0, "Slope below the threshold.", aliases=("negative_slope",)),
    _number("max_value", None, "Upper clip (null: no clip); a negative value clips everything to 0."),
    _number("threshold", 0.0, "Values at or below it are not kept (strict >)."),
)


def _even_glu_axis(x: np.ndarray, values: dict[str, object]) -> None:
    axis = values["axis"]
    assert isinstance(axis, int)
    if x.shape[axis] % 2:
        msg = f"glu splits x in two halves along axis {axis}, whose length {x.shape[axis]} is odd"
        raise InvalidTensor(msg, [ErrorItem(("x",), msg)])


def _always(values: dict[str, object]) -> bool:
    return True


def _plain_relu(values: dict[str, object]) -> bool:
    """relu without leak or threshold, clipped (if at all) at 6: max(x, 0) and min(., 6) are exact."""
    slope = values.get("alpha", values.get("negative_slope"))
    return slope == 0 and values["threshold"] == 0 and values["max_value"] in (None, 6.0)


_CATALOGUE: tuple[ActivationSpec, ...] = (
    ActivationSpec(
        "relu",
        elementwise.relu,
        "Rectified linear unit with optional leak, clip and threshold.",
        "y = clip(x if x > threshold else 0, 0, max_value) - alpha * relu(threshold - x)",
        "tf.keras.activations.relu (tf.keras 2.x backend.relu)",
        params=_RELU_PARAMS,
        exact_in_dtype=_plain_relu,
        tf_differences=(
            NAN_LIMIT_NOTE + " relu(-inf, threshold=t != 0) is 0 (-inf with alpha > 0), where TF "
            "computes x * (x > t) = NaN.",
        ),
    ),
    ActivationSpec(
        "sigmoid",
        elementwise.sigmoid,
        "Logistic sigmoid.",
        "y = 1 / (1 + exp(-x))",
        "tf.keras.activations.sigmoid",
    ),
    ActivationSpec(
        "softmax",
        axiswise.softmax,
        "Normalised exponential over one or more axes.",
        "y = exp(x - max(x)) / sum(exp(x - max(x)))",
        "tf.keras.activations.softmax",
        params=(_axes(),),
        elementwise=False,
        min_rank=2,
        tf_differences=(
            "A slice with k entries at +inf gives 1/k at each of them (one-hot for one), where "
            "TensorFlow returns NaN; a slice entirely -inf is uniform.",
            "An axis list is accepted as in Keras 3.",
        ),
    ),
    ActivationSpec(
        "softplus",
        elementwise.softplus,
        "Smooth approximation of relu.",
        "y = log(exp(x) + 1)",
        "tf.keras.activations.softplus",
    ),
    ActivationSpec(
        "softsign",
        elementwise.softsign,
        "x over one plus its magnitude.",
        "y = x / (|x| + 1)",
        "tf.keras.activations.softsign",
        tf_differences=(NAN_LIMIT_NOTE + " softsign(+-inf) = +-1.",),
    ),
    ActivationSpec("tanh", elementwise.tanh, "Hyperbolic tangent.", "y = tanh(x)", "tf.keras.activations.tanh"),
    ActivationSpec(
        "selu",
        elementwise.selu,
        "Scaled exponential linear unit (self-normalising).",
        "y = scale * (x if x > 0 else alpha * (exp(x) - 1)), alpha = 1.67326324..., scale = 1.05070098...",
        "tf.keras.activations.selu",
        tf_differences=("exp(x) - 1 is computed with expm1, exact near 0 where TensorFlow loses precision.",),
    ),
    ActivationSpec(
        "elu",
        elementwise.elu,
        "Exponential linear unit.",
        "y = x if x > 0 else alpha * (exp(x) - 1)",
        "tf.keras.activations.elu",
        params=(_number("alpha", 1.0, "Scale of the negative part."),),
        tf_differences=("exp(x) - 1 is computed with expm1: TensorFlow's elu loses thousands of ulp near 0.",),
    ),
    ActivationSpec(
        "exponential", elementwise.exponential, "Exponential.", "y = exp(x)", "tf.keras.activations.exponential"
    ),
    ActivationSpec(
        "linear", elementwise.linear, "Identity.", "y = x", "tf.keras.activations.linear", exact_in_dtype=_always
    ),
    ActivationSpec(
        "gelu",
        elementwise.gelu,
        "Gaussian error linear unit, exact or with the tanh approximation.",
        "exact: y = 0.5 x (1 + erf(x / sqrt 2)); approximate: y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
        "tf.keras.activations.gelu",
        params=(ParamSpec("approximate", "boolean", "Use the tanh approximation.", default=False),),
        tf_differences=(NAN_LIMIT_NOTE + " gelu(-inf) = 0.",),
    ),
    ActivationSpec(
        "swish",
        elementwise.swish,
        "Swish / SiLU: x times its sigmoid.",
        "y = x * sigmoid(x)",
        "tf.keras.activations.swish",
        aliases=("silu",),
        tf_differences=(NAN_LIMIT_NOTE + " swish(-inf) = 0.",),
    ),
    ActivationSpec(
        "hard_sigmoid",
        elementwise.hard_sigmoid,
        "Piecewise-linear sigmoid (the tf.keras 2.x form).",
        "y = clip(0.2 x + 0.5, 0, 1)",
        "tf.keras.activations.hard_sigmoid (tf.keras 2.x; Keras 3 uses x / 6 + 0.5)",
        tf_differences=("0.2 is exact: near x = -2.5 the result keeps full relative precision.",),
    ),
    ActivationSpec(
        "mish",
        elementwise.mish,
        "Self-regularised non-monotonic activation.",
        "y = x * tanh(softplus(x))",
        "tf.keras.activations.mish",
        tf_differences=(NAN_LIMIT_NOTE + " mish(-inf) = 0.",),
    ),
    ActivationSpec(
        "relu6",
        elementwise.relu6,
        "relu capped at 6.",
        "y = min(max(x, 0), 6)",
        "tf.keras.activations.relu6",
        exact_in_dtype=_always,
    ),
    ActivationSpec(
        "leaky_relu",
        elementwise.leaky_relu,
        "Leaky relu with a slope for negative inputs.",
        "y = x if x > 0 else alpha * x",
        "keras.activations.leaky_relu (Keras 3; tf.nn.leaky_relu)",
        params=(_number("alpha", 0.2, _ALPHA_LEAK, aliases=("negative_slope",)),),
        tf_differences=(NAN_LIMIT_NOTE + " leaky_relu(-inf, alpha=0) = 0.",),
    ),
    ActivationSpec(
        "log_softmax",
        axiswise.log_softmax,
        "Logarithm of softmax, computed without forming the softmax.",
        "y = x - max(x) - log(sum(exp(x - max(x))))",
        "keras.activations.log_softmax",
        params=(_axes(),),
        elementwise=False,
        tf_differences=(
            "A slice with k entries at +inf gives -log(k) there and -inf elsewhere; a slice "
            "entirely -inf gives -log(n).",
        ),
    ),
    ActivationSpec(
        "hard_silu",
        elementwise.hard_silu,
        "Hard SiLU / hard swish.",
        "y = x * relu6(x + 3) / 6",
        "keras.activations.hard_silu (Keras 3)",
        aliases=("hard_swish",),
        tf_differences=(NAN_LIMIT_NOTE + " hard_silu(-inf) = 0.",),
    ),
    ActivationSpec(
        "celu",
        elementwise.celu,
        "Continuously differentiable exponential linear unit.",
        "y = max(x, 0) + min(0, alpha * (exp(x / alpha) - 1))",
        "keras.activations.celu (Keras 3)",
        params=(_number("alpha", 1.0, "Scale of the negative part; non-zero.", nonzero=True),),
    ),
    ActivationSpec(
        "glu",
        axiswise.glu,
        "Gated linear unit: first half times the sigmoid of the second half.",
        "a, b = split(x, 2, axis); y = a * sigmoid(b)",
        "keras.activations.glu (Keras 3)",
        params=(_axis("Axis to split in two halves; its length must be even."),),
        elementwise=False,
        precondition=_even_glu_axis,
    ),
    ActivationSpec(
        "hard_tanh",
        elementwise.hard_tanh,
        "tanh clipped linearly.",
        "y = clip(x, -1, 1)",
        "keras.activations.hard_tanh (Keras 3)",
        exact_in_dtype=_always,
    ),
    ActivationSpec(
        "log_sigmoid",
        elementwise.log_sigmoid,
        "Logarithm of the sigmoid.",
        "y = -softplus(-x)",
        "keras.activations.log_sigmoid (Keras 3)",
    ),
    ActivationSpec(
        "soft_shrink",
        elementwise.soft_shrink,
        "Soft shrinkage towards 0.",
        "y = x - threshold if x > threshold; x + threshold if x < -threshold; else 0",
        "keras.activations.soft_shrink (Keras 3)",
        params=(_number("threshold", 0.5, "Half-width of the zero band."),),
        tf_differences=("NaN gives NaN, where Keras returns 0.",),
    ),
    ActivationSpec(
        "hard_shrink",
        elementwise.hard_shrink,
        "Hard shrinkage: zero inside the band.",
        "y = x if |x| > threshold else 0",
        "keras.activations.hard_shrink (Keras 3)",
        params=(_number("threshold", 0.5, "Half-width of the zero band."),),
        tf_differences=("NaN gives NaN, where Keras returns 0.",),
    ),
    ActivationSpec(
        "tanh_shrink",
        elementwise.tanh_shrink,
        "x minus its tanh.",
        "y = x - tanh(x)",
        "keras.activations.tanh_shrink (Keras 3)",
        tf_differences=("Near 0 the difference is summed as a series, exact where x - tanh(x) cancels.",),
    ),
    ActivationSpec(
        "squareplus",
        elementwise.squareplus,
        "Smooth relu from a square root.",
        "y = (x + sqrt(x^2 + b)) / 2",
        "keras.activations.squareplus (Keras 3)",
        params=(_number("b", 4.0, "Smoothness; b >= 0.", ge=0.0),),
        tf_differences=("For negative x it is computed without cancellation (b / (2 (sqrt(x^2 + b) - x))).",),
    ),
    ActivationSpec(
        "sparse_plus",
        elementwise.sparse_plus,
        "Piecewise-quadratic softplus.",
        "y = 0 if x <= -1; x if x >= 1; (x + 1)^2 / 4 otherwise",
        "keras.activations.sparse_plus (Keras 3)",
    ),
    ActivationSpec(
        "sparsemax",
        axiswise.sparsemax,
        "Euclidean projection onto the probability simplex (sparse softmax).",
        "y = max(x - tau, 0) with tau such that sum(y) = 1 (Martins and Astudillo, 2016)",
        "keras.activations.sparsemax (Keras 3)",
        params=(_axis("Axis to normalise over."),),
        elementwise=False,
        tf_differences=(
            "The published algorithm: Keras 3.15 sums every running total and is wrong whenever "
            "two entries are non-zero.",
        ),
    ),
    ActivationSpec(
        "sparse_sigmoid",
        elementwise.sparse_sigmoid,
        "Piecewise-linear sigmoid on [-1, 1].",
        "y = 0 if x <= -1; 1 if x >= 1; (x + 1) / 2 otherwise",
        "keras.activations.sparse_sigmoid (Keras 3)",
    ),
    ActivationSpec(
        "threshold",
        elementwise.threshold,
        "Keep values above a threshold, replace the rest.",
        "y = x if x > threshold else default_value",
        "keras.activations.threshold (Keras 3)",
        params=(
            _number("threshold", None, "Values at or below it are replaced.", required=True),
            _number("default_value", None, "The replacement value.", required=True),
        ),
        tf_differences=("NaN gives NaN, where Keras returns default_value.",),
    ),
    ActivationSpec(
        "LeakyReLU",
        elementwise.leaky_relu,
        "The tf.keras LeakyReLU layer.",
        "y = x if x > 0 else alpha * x",
        "tf.keras.layers.LeakyReLU",
        params=(_number("alpha", 0.3, _ALPHA_LEAK),),
        tf_differences=("alpha is used as the float64 nearest the value sent; the layer rounds it to float32.",),
    ),
    ActivationSpec(
        "ReLU",
        elementwise.relu_layer,
        "The tf.keras ReLU layer.",
        "y = clip(x if x > threshold else 0, 0, max_value) - negative_slope * relu(threshold - x)",
        "tf.keras.layers.ReLU",
        params=(
            _number("max_value", None, "Upper clip (null: no clip); >= 0.", ge=0.0),
            _number("negative_slope", 0.0, "Slope below the threshold; >= 0.", ge=0.0),
            _number("threshold", 0.0, "Values at or below it are not kept; >= 0.", ge=0.0),
        ),
        exact_in_dtype=_plain_relu,
        tf_differences=("Parameters are used as float64, where the layer rounds them to float32.",),
    ),
    ActivationSpec(
        "ELU",
        elementwise.elu,
        "The tf.keras ELU layer.",
        "y = x if x > 0 else alpha * (exp(x) - 1)",
        "tf.keras.layers.ELU",
        params=(_number("alpha", 1.0, "Scale of the negative part."),),
        tf_differences=("exp(x) - 1 is computed with expm1, exact near 0.",),
    ),
    ActivationSpec(
        "ThresholdedReLU",
        elementwise.thresholded_relu,
        "The tf.keras ThresholdedReLU layer.",
        "y = x if x > theta else 0",
        "tf.keras.layers.ThresholdedReLU",
        params=(_number("theta", 1.0, "Threshold; >= 0.", ge=0.0),),
        tf_differences=(NAN_LIMIT_NOTE + " ThresholdedReLU(-inf) = 0.",),
    ),
    ActivationSpec(
        "PReLU",
        elementwise.prelu,
        "The tf.keras PReLU layer with its learned alpha passed in.",
        "y = x if x >= 0 else alpha * x",
        "tf.keras.layers.PReLU",
        params=(
            ParamSpec("alpha", "tensor", "Slope(s) for x < 0: a number or an array broadcastable to x.", default=0.0),
        ),
        tf_differences=(NAN_LIMIT_NOTE + " PReLU(-inf) with alpha 0 is 0.",),
    ),
    ActivationSpec(
        "Softmax",
        axiswise.softmax_layer,
        "The tf.keras Softmax layer, with an optional mask.",
        "y = softmax(x + (1 - mask) * -1e9) (float16: -32752)",
        "tf.keras.layers.Softmax",
        params=(
            _axes(),
            ParamSpec("mask", "mask", "0/1 or booleans broadcastable to x; 0 masks a position.", default=None),
        ),
        elementwise=False,
        min_rank=2,
        wants_dtype=True,
        tf_differences=(
            "The mask offset is added exactly: a fully masked slice gives the plain softmax of the "
            "slice, where TensorFlow's float32 gives a uniform one.",
        ),
    ),
)


class Registry:
    """Catalogue lookup by canonical name or alias."""

    def __init__(self, specs: tuple[ActivationSpec, ...]) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._lookup = dict(self._specs)
        for spec in specs:
            self._lookup.update({alias: spec for alias in spec.aliases})

    def __iter__(self) -> Iterator[ActivationSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    @property
    def names(self) -> list[str]:
        """Every name a request may use: canonical names and aliases."""
        return list(self._lookup)

    def find(self, name: str) -> ActivationSpec | None:
        """The spec for a canonical name or alias, None if there is none."""
        return self._lookup.get(name)

    def get(self, name: str) -> ActivationSpec:
        """The spec for a canonical name or alias; UnknownActivation suggests the closest name."""
        spec = self._lookup.get(name)
        if spec is None:
            raise UnknownActivation(_unknown_detail(name, self.names))
        return spec


def _unknown_detail(name: str, names: list[str]) -> str:
    """Names are case-sensitive, so the same name in another case is the first suggestion."""
    close = [known for known in names if known.lower() == name.lower()]
    close = close or difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(known) for known in close)}?" if close else ""
    return f"Unknown activation {name[:100]!r}.{hint} Known activations: {', '.join(names)}."


REGISTRY = Registry(_CATALOGUE)


def evaluate(name: str, x: np.ndarray, params: Mapping[str, object] | None = None, dtype: str = "float32") -> Result:
    """Compute activation `name` on `x` (rounded to `dtype` first) with the raw `params`."""
    spec = REGISTRY.get(name)
    bound = spec.bind(params or {})
    out_dtype = DTYPES[dtype]
    x = np.asarray(x)
    if x.dtype != out_dtype:
        with np.errstate(over="ignore"):  # rounding to the dtype may overflow to +-inf: that is the value
            x = x.astype(out_dtype)
    values = _check_against_tensor(spec, bound.values, x)
    if spec.wants_dtype:
        values["out_dtype"] = out_dtype
    if spec.exact_in_dtype is not None and spec.exact_in_dtype(values):
        # Selections and clips in the dtype itself: exact, and nothing can overflow or raise a
        # floating-point warning, so neither the wide copy nor errstate (a tenth of a small request).
        wide = x
        y = np.asarray(spec.kernel(x, **values)).astype(out_dtype, copy=False)
    else:
        wide = x.astype(wide_dtype(out_dtype))
        with np.errstate(all="ignore"):
            y = np.asarray(spec.kernel(wide, **values)).astype(out_dtype, copy=False)
    if spec.elementwise:
        nan = np.isnan(wide)
        if nan.any():
            y = np.where(nan, wide, y).astype(out_dtype, copy=False)
    return Result(spec=spec, params=bound.echo, y=y)


def _check_against_tensor(spec: ActivationSpec, values: dict[str, object], x: np.ndarray) -> dict[str, object]:
    """Checks that need x: rank, axes in range, even glu halves, broadcastable tensor parameters."""
    values = dict(values)
    if x.ndim < spec.min_rank:
        raise InvalidTensor(
            f"Cannot apply {spec.name} to a tensor that is {'1D' if x.ndim == 1 else 'a scalar (0D)'}: "
            f"it normalises over an axis of a batch. Add a batch dimension, e.g. send [[...]] "
            f"instead of [...] (shape {list(x.shape)} -> {[1, *x.shape]}).",
            [ErrorItem(("x",), f"rank {x.ndim} < {spec.min_rank}")],
        )
    for param in spec.params:
        value = values.get(param.name)
        if param.kind == "axes":
            values[param.name] = _normalise_axes(value, x.ndim)  # type: ignore[arg-type]
        elif param.kind == "axis":
            values[param.name] = _normalise_axes(value, x.ndim)[0]  # type: ignore[arg-type]
        elif param.kind in ("tensor", "mask") and isinstance(value, np.ndarray):
            try:
                shape = np.broadcast_shapes(value.shape, x.shape)
            except ValueError:
                shape = None
            if shape != x.shape:
                msg = f"'{param.name}' of shape {list(value.shape)} does not broadcast to x of shape {list(x.shape)}"
                raise InvalidParameter(msg, [ErrorItem((param.name,), msg)])
    if spec.precondition is not None:
        spec.precondition(x, values)
    return values


def _normalise_axes(axes: int | tuple[int, ...], ndim: int) -> tuple[int, ...]:
    as_tuple = (axes,) if isinstance(axes, int) else axes
    out = []
    for i, axis in enumerate(as_tuple):
        if not -ndim <= axis < ndim:
            loc = ("axis",) if isinstance(axes, int) else ("axis", i)
            msg = f"axis {axis} is out of range for a tensor of rank {ndim} (valid: {-ndim} to {ndim - 1})"
            raise InvalidParameter(msg, [ErrorItem(loc, msg)])
        out.append(axis % ndim)
    if len(set(out)) != len(out):
        msg = f"axes {list(as_tuple)} repeat an axis of a tensor of rank {ndim}"
        raise InvalidParameter(msg, [ErrorItem(("axis",), msg)])
    return tuple(out)
