"""Parameter and tensor validation through `evaluate` (SPEC section 1): every 422 the catalogue defines.

Each row is one request a client could send; the test asserts the typed error (the API maps its
class to the problem type), the location of the offending parameter, and a fragment of the
message that tells the client what to fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from app.errors import InvalidParameter, InvalidTensor, ServiceError, UnknownActivation
from app.numerics import REGISTRY, evaluate


@dataclass(frozen=True)
class Invalid:
    """A request that must be refused."""

    why: str
    name: str
    params: dict[str, object]
    error: type[ServiceError]
    loc: tuple[str | int, ...]
    says: str  # a fragment of the message, lower case
    shape: tuple[int, ...] = (2, 4)


INVALID: list[Invalid] = [
    # names
    Invalid("unknown parameter", "relu", {"beta": 1.0}, InvalidParameter, ("beta",), "no parameter 'beta'"),
    Invalid("parameter of a parameterless activation", "sigmoid", {"alpha": 1.0}, InvalidParameter, ("alpha",), "none"),
    Invalid(
        "layer name of a parameter",
        "LeakyReLU",
        {"negative_slope": 0.1},
        InvalidParameter,
        ("negative_slope",),
        "no parameter",
    ),
    Invalid(
        "alias and name together",
        "relu",
        {"alpha": 0.1, "negative_slope": 0.2},
        InvalidParameter,
        ("negative_slope",),
        "same parameter",
    ),
    Invalid(
        "name and alias together",
        "leaky_relu",
        {"negative_slope": 0.2, "alpha": 0.1},
        InvalidParameter,
        ("alpha",),
        "same parameter",
    ),
    # numbers
    Invalid("boolean for a number", "elu", {"alpha": True}, InvalidParameter, ("alpha",), "finite number"),
    Invalid("string for a number", "elu", {"alpha": "0.5"}, InvalidParameter, ("alpha",), "finite number"),
    Invalid("NaN for a number", "elu", {"alpha": math.nan}, InvalidParameter, ("alpha",), "finite number"),
    Invalid("infinity for a number", "leaky_relu", {"alpha": math.inf}, InvalidParameter, ("alpha",), "finite number"),
    Invalid("integer beyond float64", "leaky_relu", {"alpha": 10**400}, InvalidParameter, ("alpha",), "finite number"),
    Invalid("null for a number", "elu", {"alpha": None}, InvalidParameter, ("alpha",), "finite number"),
    Invalid("string for the ELU layer", "ELU", {"alpha": "1"}, InvalidParameter, ("alpha",), "finite number"),
    Invalid("NaN threshold", "soft_shrink", {"threshold": math.nan}, InvalidParameter, ("threshold",), "finite number"),
    Invalid("boolean threshold", "hard_shrink", {"threshold": True}, InvalidParameter, ("threshold",), "finite number"),
    Invalid("list for a number", "celu", {"alpha": [1.0]}, InvalidParameter, ("alpha",), "finite number"),
    Invalid(
        "boolean for an optional number",
        "relu",
        {"max_value": False},
        InvalidParameter,
        ("max_value",),
        "finite number",
    ),
    Invalid(
        "string for an optional number", "relu", {"max_value": "6"}, InvalidParameter, ("max_value",), "finite number"
    ),
    Invalid("number for a boolean", "gelu", {"approximate": 1}, InvalidParameter, ("approximate",), "true or false"),
    Invalid(
        "string for a boolean", "gelu", {"approximate": "true"}, InvalidParameter, ("approximate",), "true or false"
    ),
    Invalid("null for a boolean", "gelu", {"approximate": None}, InvalidParameter, ("approximate",), "true or false"),
    # axes
    Invalid("float axis", "softmax", {"axis": 1.0}, InvalidParameter, ("axis",), "integer"),
    Invalid("string axis", "softmax", {"axis": "1"}, InvalidParameter, ("axis",), "integer"),
    Invalid("boolean axis", "softmax", {"axis": True}, InvalidParameter, ("axis",), "integer"),
    Invalid("boolean in an axis list", "log_softmax", {"axis": [0, True]}, InvalidParameter, ("axis", 1), "integer"),
    Invalid("float in an axis list", "Softmax", {"axis": [1.0]}, InvalidParameter, ("axis", 0), "integer"),
    Invalid("empty axis list", "softmax", {"axis": []}, InvalidParameter, ("axis",), "empty"),
    Invalid("axis list where one axis", "sparsemax", {"axis": [0]}, InvalidParameter, ("axis",), "integer"),
    Invalid("float glu axis", "glu", {"axis": -1.0}, InvalidParameter, ("axis",), "integer"),
    Invalid("axis beyond the rank", "softmax", {"axis": 2}, InvalidParameter, ("axis",), "out of range"),
    Invalid("axis below minus the rank", "log_softmax", {"axis": -3}, InvalidParameter, ("axis",), "out of range"),
    Invalid("listed axis out of range", "softmax", {"axis": [0, 5]}, InvalidParameter, ("axis", 1), "out of range"),
    Invalid("sparsemax axis out of range", "sparsemax", {"axis": 2}, InvalidParameter, ("axis",), "out of range"),
    Invalid("glu axis out of range", "glu", {"axis": -3}, InvalidParameter, ("axis",), "out of range"),
    Invalid("masked softmax axis out of range", "Softmax", {"axis": 3}, InvalidParameter, ("axis",), "out of range"),
    Invalid("axis given twice", "softmax", {"axis": [1, -1]}, InvalidParameter, ("axis",), "repeat"),
    Invalid("axis given twice to the layer", "Softmax", {"axis": [0, 0]}, InvalidParameter, ("axis",), "repeat"),
    # required parameters
    Invalid(
        "threshold without threshold", "threshold", {"default_value": 0.0}, InvalidParameter, ("threshold",), "requires"
    ),
    Invalid(
        "threshold without default_value",
        "threshold",
        {"threshold": 0.0},
        InvalidParameter,
        ("default_value",),
        "requires",
    ),
    Invalid("threshold without either", "threshold", {}, InvalidParameter, ("threshold",), "requires"),
    # constraints
    Invalid("ReLU negative max_value", "ReLU", {"max_value": -1.0}, InvalidParameter, ("max_value",), ">= 0"),
    Invalid(
        "ReLU negative negative_slope", "ReLU", {"negative_slope": -0.1}, InvalidParameter, ("negative_slope",), ">= 0"
    ),
    Invalid("ReLU negative threshold", "ReLU", {"threshold": -0.5}, InvalidParameter, ("threshold",), ">= 0"),
    Invalid(
        "ThresholdedReLU negative theta", "ThresholdedReLU", {"theta": -1e-300}, InvalidParameter, ("theta",), ">= 0"
    ),
    Invalid("celu alpha 0", "celu", {"alpha": 0}, InvalidParameter, ("alpha",), "non-zero"),
    Invalid("celu alpha -0.0", "celu", {"alpha": -0.0}, InvalidParameter, ("alpha",), "non-zero"),
    Invalid("squareplus negative b", "squareplus", {"b": -1.0}, InvalidParameter, ("b",), ">= 0"),
    # rank
    Invalid("softmax of 1D", "softmax", {}, InvalidTensor, ("x",), "cannot apply softmax to a tensor that is 1d", (5,)),
    Invalid("softmax of a scalar", "softmax", {}, InvalidTensor, ("x",), "cannot apply softmax to a tensor", ()),
    Invalid(
        "Softmax layer of 1D", "Softmax", {}, InvalidTensor, ("x",), "cannot apply softmax to a tensor that is 1d", (3,)
    ),
    Invalid("axis of a scalar", "log_softmax", {}, InvalidParameter, ("axis",), "out of range", ()),
    # glu halves
    Invalid("glu odd last axis", "glu", {}, InvalidTensor, ("x",), "odd", (2, 5)),
    Invalid("glu odd given axis", "glu", {"axis": 0}, InvalidTensor, ("x",), "odd", (3, 4)),
    # tensor parameters
    Invalid(
        "PReLU alpha not broadcastable", "PReLU", {"alpha": [0.1, 0.2, 0.3]}, InvalidParameter, ("alpha",), "broadcast"
    ),
    Invalid(
        "PReLU alpha that would grow x",
        "PReLU",
        {"alpha": [[[0.1]], [[0.2]]]},
        InvalidParameter,
        ("alpha",),
        "broadcast",
    ),
    Invalid("PReLU alpha NaN", "PReLU", {"alpha": [0.1, math.nan, 0.1, 0.1]}, InvalidParameter, ("alpha",), "finite"),
    Invalid("PReLU alpha strings", "PReLU", {"alpha": ["0.1"]}, InvalidParameter, ("alpha",), "numbers"),
    Invalid("PReLU alpha ragged", "PReLU", {"alpha": [[0.1], [0.1, 0.2]]}, InvalidParameter, ("alpha",), "rectangular"),
    Invalid("PReLU alpha boolean", "PReLU", {"alpha": True}, InvalidParameter, ("alpha",), "number or an array"),
    Invalid("mask not broadcastable", "Softmax", {"mask": [[1, 0, 1]]}, InvalidParameter, ("mask",), "broadcast"),
    Invalid("mask of other numbers", "Softmax", {"mask": [1, 0, 2, 1]}, InvalidParameter, ("mask",), "0/1"),
    Invalid("mask of strings", "Softmax", {"mask": ["1", "0", "1", "1"]}, InvalidParameter, ("mask",), "0/1"),
]


@pytest.mark.parametrize("case", INVALID, ids=[case.why for case in INVALID])
def test_invalid_requests_are_refused(case: Invalid) -> None:
    with pytest.raises(case.error) as caught:
        evaluate(case.name, np.zeros(case.shape), case.params)
    error = caught.value
    assert error.status == 422
    assert [item.loc for item in error.errors] == [case.loc]
    # The problem's detail, or the message of its one error item, which the client sees beside it.
    assert case.says in f"{error.detail} {error.errors[0].msg}".lower()


def test_rank_message_says_how_to_fix_it() -> None:
    with pytest.raises(InvalidTensor) as caught:
        evaluate("softmax", np.zeros(3), {})
    assert "batch dimension" in caught.value.detail
    assert "[1, 3]" in caught.value.detail


@pytest.mark.parametrize(
    ("name", "suggestion"), [("sigmoidd", "sigmoid"), ("leaky_rlu", "leaky_relu"), ("tanhshrink", "tanh_shrink")]
)
def test_unknown_activation_suggests_the_closest_name(name: str, suggestion: str) -> None:
    with pytest.raises(UnknownActivation) as caught:
        evaluate(name, np.zeros(2), {})
    assert caught.value.status == 404
    assert f"did you mean '{suggestion}'?" in caught.value.detail.lower()


def test_names_are_case_sensitive() -> None:
    with pytest.raises(UnknownActivation):
        evaluate("RELU", np.zeros(2), {})


# (name, sent, effective parameters as echoed): defaults filled, aliases under the canonical name.
VALID: list[tuple[str, dict[str, object], dict[str, object]]] = [
    ("relu", {}, {"alpha": 0.0, "max_value": None, "threshold": 0.0}),
    ("relu", {"negative_slope": 0.1, "max_value": None}, {"alpha": 0.1, "max_value": None, "threshold": 0.0}),
    ("relu", {"max_value": 6}, {"alpha": 0.0, "max_value": 6.0, "threshold": 0.0}),  # integers are numbers
    ("leaky_relu", {"negative_slope": -2}, {"alpha": -2.0}),
    ("LeakyReLU", {}, {"alpha": 0.3}),
    (
        "ReLU",
        {"max_value": 0.0, "negative_slope": 0.0, "threshold": 0.0},
        {"max_value": 0.0, "negative_slope": 0.0, "threshold": 0.0},
    ),
    ("ThresholdedReLU", {"theta": 0}, {"theta": 0.0}),
    ("squareplus", {"b": 0}, {"b": 0.0}),
    ("celu", {"alpha": -1e-300}, {"alpha": -1e-300}),
    ("softmax", {"axis": [0, -1]}, {"axis": [0, -1]}),  # echoed as sent
    ("Softmax", {}, {"axis": -1, "mask": None}),
    ("threshold", {"threshold": 1, "default_value": -1}, {"threshold": 1.0, "default_value": -1.0}),
    ("PReLU", {"alpha": [[0.5], [0.25]]}, {"alpha": [[0.5], [0.25]]}),
]


@pytest.mark.parametrize(("name", "sent", "effective"), VALID, ids=[f"{n}{s}" for n, s, _ in VALID])
def test_valid_parameters_are_echoed_with_defaults(
    name: str, sent: dict[str, object], effective: dict[str, object]
) -> None:
    result = evaluate(name, np.zeros((2, 4)), sent)
    assert result.params == effective


def test_every_activation_with_parameters_has_a_refusal_case() -> None:
    assert {spec.name for spec in REGISTRY if spec.params} <= {case.name for case in INVALID}
