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


def _along_last(x: Array, axes: tuple[int, ...], kernel: Callable[..., Array], *extra: Array) -> Array:
    """Apply `kernel` to slices laid out along one trailing axis made of `axes`.

    An empty tensor is returned as it is: reshape(*lead, -1) cannot infer -1 when a leading axis
    is 0, and the kernels' maximum has no identity over an empty slice.
    """
    if x.size == 0:
        return x.copy()
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
    with np.errstate(invalid="ignore"):
        if adder is None:
            return np.asarray(z - np.max(z, axis=-1, keepdims=True))
        k = np.argmax(z + adder, axis=-1)[..., None]
        return np.asarray((z - np.take_along_axis(z, k, -1)) + (adder - np.take_along_axis(adder, k, -1)))


def _softmax_slices(z: Array, adder: Array | None = None) -> Array:
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.exp(_shift(z, adder))
        y = e / np.sum(e, axis=-1, keepdims=True)
    eff = z if adder is None else z + adder
    return _softmax_limits(eff, y, log=False)


def _log_softmax_slices(z: Array) -> Array:
    """shifted - log(1 + sum of the others' exp), with log1p.

    The maximum contributes exp(0) = 1 to the sum; log(1 + s) formed as log of the rounded sum
    loses s entirely once it is below the wide epsilon (x = [0, -50] in float64 gave 0 for the
    largest entry instead of -2e-22), so the other terms are summed apart and passed to log1p.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        shifted = _shift(z, None)
        e = np.exp(shifted)
        np.put_along_axis(e, np.argmax(shifted, axis=-1)[..., None], 0, axis=-1)
        y = shifted - np.log1p(np.sum(e, axis=-1, keepdims=True))
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


def _two_sum(a: Array, b: Array | int) -> tuple[Array, Array]:
    """s, e with s + e = a + b exactly (Knuth's TwoSum: any binary format, round to nearest)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _split(a: Array) -> tuple[Array, Array]:
    """Veltkamp's split of a into two halves of at most ceil(p/2) significant bits each."""
    factor = a.dtype.type(2 ** ((np.finfo(a.dtype).nmant + 2) // 2) + 1)
    c = factor * a
    hi = c - (c - a)
    return hi, a - hi


def _two_product(a: Array, b: Array) -> tuple[Array, Array]:
    """p, e with p + e = a * b exactly (Dekker's product; numpy has no fused multiply-add)."""
    p = a * b
    a1, a2 = _split(a)
    b1, b2 = _split(b)
    return p, ((a1 * b1 - p) + a1 * b2 + a2 * b1) + a2 * b2


def _finite_or_zero(a: Array) -> Array:
    return np.where(np.isfinite(a), a, 0)


def _difference(a_hi: Array, a_lo: Array, b_hi: Array, b_lo: Array) -> Array:
    """(a_hi + a_lo) - (b_hi + b_lo); a_hi - b_hi is exact (Sterbenz) exactly where it cancels."""
    return np.asarray(((a_hi - b_hi) + a_lo) - b_lo)


def _sparsemax_slices(z: Array) -> Array:
    """Martins and Astudillo (2016): y = max(z - tau, 0), tau = (sum of the k largest - 1) / k.

    z_i - tau cancels for every entry close to the threshold: with tau rounded once in the wide
    dtype the result kept only eps_wide * |tau| / y_i relative precision (x = [1, 1 - 2^-52, 0.5,
    0.25, 0.125, 0.0625, -1, 0.1] in float64 gave 7.3997e-17 for 7.4015e-17 at 0.5). So the shift
    by the maximum, the running sums and tau are carried as unevaluated sums hi + lo (error-free
    transformations), accurate to about eps_wide^2 |tau|; the support is decided on them too.
    """
    n = z.shape[-1]
    with np.errstate(invalid="ignore", over="ignore"):
        top = np.max(z, axis=-1, keepdims=True)
        s_hi, s_lo = _two_sum(-np.sort(-z, axis=-1), -top)
        s_lo = _finite_or_zero(s_lo)
        # Running sums of the sorted, shifted entries, with the rounding error of each step of the
        # cumsum recovered by TwoSum (step == total when cumsum adds sequentially, as numpy's does).
        total = np.cumsum(s_hi, axis=-1)
        before = np.concatenate((np.zeros_like(total[..., :1]), total[..., :-1]), axis=-1)
        step, step_err = _two_sum(before, s_hi)
        total_lo = np.cumsum(_finite_or_zero(step_err + (step - total) + s_lo), axis=-1)
        # tau_k = (S_k - 1) / k for every k, the division's remainder taken exactly.
        ranks = np.arange(1, n + 1, dtype=z.dtype)
        t_hi, t_err = _two_sum(total, -1)
        q_hi = t_hi / ranks
        p, p_err = _two_product(q_hi, ranks)
        q_lo = (((t_hi - p) - p_err) + (t_err + total_lo)) / ranks
        # The support size k is the largest k whose k-th largest entry lies above tau_k.
        above = _difference(s_hi, s_lo, q_hi, q_lo) > 0
        support = n - np.argmax(above[..., ::-1], axis=-1)[..., None]
        tau_hi = np.take_along_axis(q_hi, support - 1, -1)
        tau_lo = np.take_along_axis(q_lo, support - 1, -1)
        z_hi, z_lo = _two_sum(z, -top)
        y = np.maximum(_difference(z_hi, _finite_or_zero(z_lo), tau_hi, tau_lo), 0)
    return _softmax_limits(z, y, log=False)


def sparsemax(x: Array, *, axis: int) -> Array:
    return _along_last(x, (axis,), _sparsemax_slices)


def glu(x: Array, *, axis: int) -> Array:
    """a * sigmoid(b), where a and b are the two halves of x along `axis`.

    sigmoid(b) > 0 for every b > -inf, so an infinite a gives a itself: a / (1 + exp(-b)) would be
    inf / inf = NaN once exp(-b) overflows (a = inf, b = -1000). sigmoid(-inf) is 0, and inf * 0
    stays NaN.
    """
    a, b = np.split(x, 2, axis=axis)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(np.isinf(a) & (b > -np.inf), a, a / (1 + np.exp(-b)))
