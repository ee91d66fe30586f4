"""Activations that reduce along axes: the softmax family, sparsemax and glu.

Kernels take `x` in the wide dtype (see `elementwise`) and axes already normalised to
non-negative, distinct integers. A slice holding NaN is NaN throughout. Limits at infinity: a
slice with k entries at +inf puts 1/k on each of them (one-hot for k = 1), and a slice that is
-inf throughout is uniform, the limit of equal values tending to -inf.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Array = np.ndarray

# Masked positions of the Softmax layer get this added (tf_keras' large negative per dtype).
MASK_ADDER = {np.dtype(np.float16): -32752.0}
DEFAULT_MASK_ADDER = -1e9


def _along_last(x: Array, axes: tuple[int, ...], kernel: Callable[[Array], Array], *extra: Array) -> Array:
    """Apply `kernel` to slices laid out along one trailing axis made of `axes`."""
    rest = [i for i in range(x.ndim) if i not in axes]
    order = rest + list(axes)
    moved = np.transpose(x, order)
    lead = moved.shape[: len(rest)]
    flat = moved.reshape(*lead, -1)
    flat_extra = [np.transpose(e, order).reshape(*lead, -1) for e in extra]
    out = kernel(flat, *flat_extra).reshape(moved.shape)
    return np.transpose(out, np.argsort(order))


def _shift(z: Array, adder: Array | None) -> Array:
    """z (+ adder) minus its slice maximum; with an adder, differences are taken term by term.

    (x_i - x_k) + (a_i - a_k) keeps the precision of x where x + a would round x to the
    magnitude of the adder (1e9): the Softmax layer's mask is computed exactly this way.
    """
    if adder is None:
        with np.errstate(invalid="ignore"):
            return z - np.max(z, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        k = np.argmax(z + adder, axis=-1)[..., None]
        return (z - np.take_along_axis(z, k, -1)) + (adder - np.take_along_axis(adder, k, -1))


def _softmax_slices(z: Array, adder: Array | None = None) -> Array:
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.exp(_shift(z, adder))
        y = e / np.sum(e, axis=-1, keepdims=True)
    eff = z if adder is None else z + adder
    return _softmax_limits(eff, y, log=False)


def _log_softmax_slices(z: Array) -> Array:
    with np.errstate(invalid="ignore", divide="ignore"):
        shifted = _shift(z, None)
        y = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    return _softmax_limits(z, y, log=True)


def _softmax_limits(z: Array, y: Array, *, log: bool) -> Array:
    """Slices with k entries at +inf: 1/k there, 0 elsewhere; slices all -inf: uniform; NaN: NaN."""
    n = z.shape[-1]
    pos = np.isposinf(z)
    k = pos.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        share = -np.log(k.astype(z.dtype)) if log else 1 / k.astype(z.dtype)
        off = -np.inf if log else 0
        y = np.where(k > 0, np.where(pos, share, off), y)
        if n:
            uniform = -np.log(z.dtype.type(n)) if log else 1 / z.dtype.type(n)
            y = np.where(np.isneginf(z).all(axis=-1, keepdims=True), uniform, y)
    return np.where(np.isnan(z).any(axis=-1, keepdims=True), np.nan, y)


def softmax(x: Array, *, axis: tuple[int, ...]) -> Array:
    """exp(x - max) / sum(exp(x - max)) over `axis`."""
    return _along_last(x, axis, _softmax_slices)


def log_softmax(x: Array, *, axis: tuple[int, ...]) -> Array:
    """x - max - log(sum(exp(x - max))) over `axis`."""
    return _along_last(x, axis, _log_softmax_slices)


def softmax_layer(x: Array, *, axis: tuple[int, ...], mask: Array | None, out_dtype: np.dtype) -> Array:
    """The Softmax layer: masked positions (mask 0/False) get a large negative added first."""
    if mask is None:
        return softmax(x, axis=axis)
    big = MASK_ADDER.get(out_dtype, DEFAULT_MASK_ADDER)
    adder = np.where(np.broadcast_to(mask, x.shape), 0, big).astype(x.dtype)
    return _along_last(x, axis, _softmax_slices, adder)


def _sparsemax_slices(z: Array) -> Array:
    """Martins and Astudillo (2016): project onto the simplex with threshold tau."""
    n = z.shape[-1]
    if n == 0:
        return z.copy()
    with np.errstate(invalid="ignore"):
        shifted = z - np.max(z, axis=-1, keepdims=True)
        ordered = -np.sort(-shifted, axis=-1)
        cumulative = np.cumsum(ordered, axis=-1)
        ranks = np.arange(1, n + 1, dtype=z.dtype)
        support = (1 + ranks * ordered > cumulative).sum(axis=-1, keepdims=True)
        support = np.maximum(support, 1)
        tau = (np.take_along_axis(cumulative, support - 1, -1) - 1) / support.astype(z.dtype)
        y = np.maximum(shifted - tau, 0)
    return _softmax_limits(z, y, log=False)


def sparsemax(x: Array, *, axis: int) -> Array:
    return _along_last(x, (axis,), _sparsemax_slices)


def glu(x: Array, *, axis: int) -> Array:
    """a * sigmoid(b), where a and b are the two halves of x along `axis`."""
    a, b = np.split(x, 2, axis=axis)
    with np.errstate(over="ignore", invalid="ignore"):
        return a / (1 + np.exp(-b))  # type: ignore[no-any-return]
