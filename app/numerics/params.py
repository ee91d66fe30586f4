"""Activation parameters: their declarations and the one validator every transport uses.

A `ParamSpec` declares a parameter (kind, default, constraints, description, aliases). `bind_params`
turns the raw values a client sent (JSON-like: numbers, booleans, lists, or arrays for tensor
parameters) into the effective parameters, or raises `InvalidParameter` naming the parameter.
Error locations are relative to the request (`("alpha",)`); transports prefix them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from app.errors import ErrorItem, InvalidParameter

ParamKind = Literal["number", "optional_number", "boolean", "axis", "axes", "tensor", "mask"]

# numpy's own limit is 64; parameters never need more than the tensor's maximum rank.
MAX_PARAM_RANK = 32


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of an activation, as documented and validated."""

    name: str
    kind: ParamKind
    description: str
    default: object = None
    required: bool = False
    aliases: tuple[str, ...] = ()
    ge: float | None = None
    nonzero: bool = False

    @property
    def constraints(self) -> list[str]:
        """Human-readable constraints, for the listing endpoint and the OpenAPI text."""
        out = []
        if self.kind in ("number", "optional_number"):
            out.append("finite number")
        if self.ge is not None:
            out.append(f">= {self.ge:g}")
        if self.nonzero:
            out.append("!= 0")
        if self.kind == "axes":
            out.append("an integer or a list of distinct integers, negative counts from the end")
        if self.kind == "axis":
            out.append("an integer, negative counts from the end")
        if self.kind == "tensor":
            out.append("a number or an array broadcastable to x")
        if self.kind == "mask":
            out.append("an array of 0/1 or booleans broadcastable to x")
        return out


@dataclass(frozen=True)
class BoundParams:
    """Validated parameters: `echo` is what the response reports, `values` what the kernel gets."""

    echo: dict[str, object]
    values: dict[str, object] = field(default_factory=dict)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# The checks below name the parameter as the client sent it (`key`: the name or an alias).


def _check_number(spec: ParamSpec, key: str, value: object) -> float:
    if not _is_number(value):
        raise _invalid(key, f"'{key}' must be a finite number, got {_describe(value)}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise _invalid(key, f"'{key}' must be a finite number, got {value!r}")
    if spec.ge is not None and not number >= spec.ge:
        raise _invalid(key, f"'{key}' must be >= {spec.ge:g}, got {value!r}")
    if spec.nonzero and number == 0:
        raise _invalid(key, f"'{key}' must be non-zero")
    return number


def _check_axis(key: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid(key, f"'{key}' must be an integer, got {_describe(value)}")
    return value


def _check_axes(key: str, value: object) -> int | tuple[int, ...]:
    if not isinstance(value, list):
        return _check_axis(key, value)
    if not value:
        raise _invalid(key, f"'{key}' must not be an empty list")
    for i, item in enumerate(value):
        if not isinstance(item, int) or isinstance(item, bool):
            msg = f"each axis of '{key}' must be an integer, got {_describe(item)}"
            raise InvalidParameter(msg, [ErrorItem((key, i), msg)])
    return tuple(value)


def _check_tensor(spec: ParamSpec, key: str, value: object) -> np.ndarray:
    """A tensor parameter as an array: numbers for PReLU's alpha, 0/1 or booleans for a mask."""
    if isinstance(value, np.ndarray):
        array = value
    elif _is_number(value) or (spec.kind == "mask" and isinstance(value, bool)):
        array = np.asarray(value)
    elif isinstance(value, list):
        try:
            array = np.asarray(value)
        except (ValueError, OverflowError):
            raise _invalid(key, f"'{key}' must be a rectangular array of numbers") from None
        if spec.kind == "tensor" and array.dtype.kind in "iub" and _holds_bool(array, value):
            # numpy reads [true, 1] as integers; a slope is a number, never a boolean.
            raise _invalid(key, f"'{key}' must hold numbers, not booleans")
    else:
        raise _invalid(key, f"'{key}' must be a number or an array, got {_describe(value)}")
    if array.ndim > MAX_PARAM_RANK:
        raise _invalid(key, f"'{key}' has more than {MAX_PARAM_RANK} dimensions")
    if spec.kind == "mask":
        if array.dtype != np.bool_:
            if array.dtype.kind not in "iuf" or not np.isin(array, (0, 1)).all():
                raise _invalid(key, f"'{key}' must hold only 0/1 or booleans")
            array = array != 0
    elif array.dtype.kind not in "iuf":
        raise _invalid(key, f"'{key}' must hold numbers")
    elif not np.isfinite(array).all():
        raise _invalid(key, f"'{key}' must hold finite numbers")
    return array


def _holds_bool(array: np.ndarray, value: list[object]) -> bool:
    if array.dtype == np.bool_:
        return True
    cells = np.asarray(value, dtype=object).ravel()
    return bool(np.frompyfunc(lambda cell: isinstance(cell, bool), 1, 1)(cells).any())


def bind_params(specs: Sequence[ParamSpec], raw: Mapping[str, object], activation: str) -> BoundParams:
    """Validate `raw` against `specs`: aliases, unknown names, types, constraints, defaults."""
    by_name = _lookup(tuple(specs))
    seen: dict[str, str] = {}
    echo: dict[str, object] = {}
    values: dict[str, object] = {}
    for key, value in raw.items():
        found = by_name.get(key)
        if found is None:
            known = ", ".join(sorted(by_name)) or "none"
            raise _invalid(key, f"'{activation}' has no parameter '{key}' (its parameters: {known})")
        spec = found
        if spec.name in seen:
            raise _invalid(key, f"'{seen[spec.name]}' and '{key}' are the same parameter; send one of them")
        seen[spec.name] = key
        if value is None and spec.kind in ("optional_number", "mask"):
            echo[spec.name] = values[spec.name] = None
        elif spec.kind in ("number", "optional_number"):
            echo[spec.name] = values[spec.name] = _check_number(spec, key, value)
        elif spec.kind == "boolean":
            if not isinstance(value, bool):
                raise _invalid(key, f"'{key}' must be true or false, got {_describe(value)}")
            echo[spec.name] = values[spec.name] = value
        elif spec.kind == "axis":
            echo[spec.name] = values[spec.name] = _check_axis(key, value)
        elif spec.kind == "axes":
            values[spec.name] = _check_axes(key, value)
            echo[spec.name] = value
        else:
            values[spec.name] = _check_tensor(spec, key, value)
            echo[spec.name] = value.tolist() if isinstance(value, np.ndarray) else value
    for spec in specs:
        if spec.name in seen:
            continue
        if spec.required:
            raise _invalid(spec.name, f"'{activation}' requires the parameter '{spec.name}'")
        echo[spec.name] = spec.default
        values[spec.name] = tuple(spec.default) if isinstance(spec.default, list) else spec.default
    # The echo lists parameters in their documented order, whatever order they were sent in.
    return BoundParams(echo={spec.name: echo[spec.name] for spec in specs}, values=values)


@functools.cache
def _lookup(specs: tuple[ParamSpec, ...]) -> dict[str, ParamSpec]:
    """Each parameter by its name and by its aliases (one table per activation, built once)."""
    by_name = {spec.name: spec for spec in specs}
    for spec in specs:
        by_name.update({alias: spec for alias in spec.aliases})
    return by_name


def _invalid(name: str, msg: str) -> InvalidParameter:
    return InvalidParameter(msg, [ErrorItem((name,), msg)])


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, (list, dict)):
        return "an array" if isinstance(value, list) else "an object"
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return type(value).__name__
