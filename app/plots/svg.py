"""Line plots as standalone SVG 1.1 documents: axes, grid, ticks, labels, legend, one polyline per run.

`render_svg` draws curves given as float arrays; it knows nothing about activations. Non-finite
values break a curve (a gap, never a line to infinity); points far outside the view are clamped to
a band a thousand times the plot's size, which keeps every renderer's coordinates finite while the
visible part of a segment keeps its slope to well under a pixel. The output depends only on the
arguments (no timestamps, no random ids), so committed plots are reproducible byte for byte.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Okabe and Ito's palette for colour-blind readers (its yellow left out: too pale on white).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_BOTTOM = 56, 16, 40
_TITLE_Y, _LEGEND_ROW = 18, 18  # the title's baseline; the height of a legend row under it
_MAX_EXTENT = 1e300  # the automatic y range stays within +-this
_CLAMP = 1000.0  # in plot sizes: how far off the view a point may be drawn before it is clamped


@dataclass(frozen=True)
class Series:
    """One curve: its points, its legend label, and whether it is drawn dashed (a derivative)."""

    label: str
    x: FloatArray
    y: FloatArray
    dashed: bool = False
    color: str = PALETTE[0]


def nice_ticks(low: float, high: float, target: int = 6) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) covering [low, high]."""
    span = high - low
    raw = span / target
    if not (math.isfinite(span) and raw > 1e-300):  # nothing to divide (a flat or subnormal range)
        return [low]
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    # Multiplying integers by the step (rather than adding steps) keeps 0.30000000000000004 away.
    return [(k * step) + 0.0 for k in range(first, last + 1)]


def format_tick(value: float, step: float) -> str:
    """A tick label with the digits the step needs: fixed from 1e-4 to 1e5, scientific beyond."""
    if value == 0:
        return "0"
    extra = 1 if round(step / 10.0 ** math.floor(math.log10(step) + 1e-9), 6) == 2.5 else 0  # 2.5, 0.25
    decimals = max(0, -math.floor(math.log10(step) + 1e-9) + extra)
    if 1e-4 <= abs(value) < 1e5:
        return f"{value:.{decimals}f}"
    digits = max(1, math.floor(math.log10(abs(value))) - math.floor(math.log10(step) + 1e-9) + 1 + extra)
    return f"{value:.{digits}g}"


def y_extent(series: Sequence[Series]) -> tuple[float, float]:
    """The range of the finite values of every series, padded by 5 %, never empty."""
    # Beyond 1e300 values leave the view: the padded extent and its span stay finite doubles.
    finite = [np.clip(s.y[np.isfinite(s.y)], -_MAX_EXTENT, _MAX_EXTENT) for s in series]
    values = np.concatenate(finite) if finite else np.empty(0)
    if values.size == 0:
        return -1.0, 1.0
    low, high = float(values.min()), float(values.max())
    if high - low <= 1e-12 * max(abs(low), abs(high), 1e-280):  # flat, to the precision of a float64
        pad = max(abs(low) * 0.1, 1.0)
        return low - pad, high + pad
    pad = (high - low) * 0.05
    return low - pad, high + pad


def _y_bounds(series: Sequence[Series], y_range: tuple[float | None, float | None] | None) -> tuple[float, float]:
    low, high = y_range if y_range is not None else (None, None)
    if low is not None and high is not None:
        return low, high
    data_low, data_high = y_extent(series)
    if low is not None:
        return low, data_high if data_high > low else low + max(abs(low) * 0.1, 1.0)
    if high is not None:
        return (data_low if data_low < high else high - max(abs(high) * 0.1, 1.0)), high
    return data_low, data_high


def render_svg(
    series: Sequence[Series],
    *,
    title: str,
    x_range: tuple[float, float],
    y_range: tuple[float | None, float | None] | None = None,
    width: int = 640,
    height: int = 400,
    x_label: str = "x",
) -> str:
    """An SVG document plotting `series` over `x_range` (y: `y_range` or the data's extent).

    A bound of `y_range` left None comes from the data's extent, or lies one step (a tenth of the
    other bound's magnitude, at least 1) beyond the other bound when the data lie wholly past it.
    """
    x_low, x_high = x_range
    y_low, y_high = _y_bounds(series, y_range)
    legend, legend_rows = _legend(series, width)
    # The legend sits above the frame, under the title, where it never hides a curve.
    left, top = _MARGIN_LEFT, _TITLE_Y + 10 + _LEGEND_ROW * legend_rows
    plot_w, plot_h = width - _MARGIN_LEFT - _MARGIN_RIGHT, height - top - _MARGIN_BOTTOM
    bottom = top + plot_h

    def px(x: FloatArray) -> FloatArray:
        with np.errstate(all="ignore"):  # inf and huge values are clamped; NaN is never drawn
            return np.clip(left + (x - x_low) / (x_high - x_low) * plot_w, -_CLAMP * plot_w, _CLAMP * plot_w)

    def py(y: FloatArray) -> FloatArray:
        with np.errstate(all="ignore"):
            return np.clip(bottom - (y - y_low) / (y_high - y_low) * plot_h, -_CLAMP * plot_h, _CLAMP * plot_h)

    description = "; ".join(s.label for s in series) or "no curve"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="plot-title plot-desc" '
        f'font-family="{escape(FONT)}" font-size="12">',
        f'<title id="plot-title">{escape(title)}</title>',
        f'<desc id="plot-desc">Plot over x from {x_low:g} to {x_high:g}: {escape(description)}.</desc>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<defs><clipPath id="plot-area"><rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}"/>'
        "</clipPath></defs>",
    ]
    out.extend(_axes(x_range, (y_low, y_high), left, top, plot_w, plot_h))
    out.append('<g clip-path="url(#plot-area)" fill="none" stroke-width="2" stroke-linejoin="round">')
    for s in series:
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        xs, ys = px(np.asarray(s.x, dtype=np.float64)), py(np.asarray(s.y, dtype=np.float64))
        for run in _finite_runs(np.asarray(s.y, dtype=np.float64)):
            points = " ".join(f"{xs[i]:.2f},{ys[i]:.2f}" for i in run)
            out.append(f'<polyline stroke="{s.color}"{dash} points="{points}"/>')
    out.append("</g>")
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/>')
    out.append(f'<text x="8" y="{_TITLE_Y}" font-size="14" font-weight="600">{escape(title)}</text>')
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">{escape(x_label)}</text>')
    out.extend(legend)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _axes(
    x_range: tuple[float, float], y_range: tuple[float, float], left: int, top: int, plot_w: int, plot_h: int
) -> list[str]:
    """Grid lines and tick labels on both axes, and the lines x = 0 and y = 0 when in view."""
    (x_low, x_high), (y_low, y_high) = x_range, y_range
    right, bottom = left + plot_w, top + plot_h
    out = ['<g stroke="#e3e3e3" stroke-width="1">']
    labels = ['<g fill="#333">']
    x_ticks, y_ticks = nice_ticks(x_low, x_high), nice_ticks(y_low, y_high)
    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0
    y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 1.0
    for tick in x_ticks:
        x = left + (tick - x_low) / (x_high - x_low) * plot_w
        out.append(f'<line x1="{x:.2f}" y1="{top}" x2="{x:.2f}" y2="{bottom}"/>')
        labels.append(f'<text x="{x:.2f}" y="{bottom + 16}" text-anchor="middle">{format_tick(tick, x_step)}</text>')
    for tick in y_ticks:
        y = bottom - (tick - y_low) / (y_high - y_low) * plot_h
        out.append(f'<line x1="{left}" y1="{y:.2f}" x2="{right}" y2="{y:.2f}"/>')
        labels.append(f'<text x="{left - 6}" y="{y + 4:.2f}" text-anchor="end">{format_tick(tick, y_step)}</text>')
    out.append("</g>")
    labels.append("</g>")
    zero = ['<g stroke="#888" stroke-width="1">']
    if x_low < 0 < x_high:
        x = left - x_low / (x_high - x_low) * plot_w
        zero.append(f'<line x1="{x:.2f}" y1="{top}" x2="{x:.2f}" y2="{bottom}"/>')
    if y_low < 0 < y_high:
        y = bottom + y_low / (y_high - y_low) * plot_h
        zero.append(f'<line x1="{left}" y1="{y:.2f}" x2="{right}" y2="{y:.2f}"/>')
    zero.append("</g>")
    return out + zero + labels


def _legend(series: Sequence[Series], width: int) -> tuple[list[str], int]:
    """A line sample and the label of each series, left to right, wrapping; and the rows it takes."""
    out, row, x = [], 0, 8.0
    for s in series:
        entry_w = 36 + 7 * len(s.label) + 16  # the label's width estimated at 7 px a character
        if x > 8 and x + entry_w > width - 8:
            row, x = row + 1, 8.0
        y = _TITLE_Y + 4 + _LEGEND_ROW * (row + 1)
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        sample = f'x1="{x:.0f}" y1="{y - 4}" x2="{x + 26:.0f}" y2="{y - 4}"'
        out.append(f'<line {sample} stroke="{s.color}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{x + 32:.0f}" y="{y}">{escape(s.label)}</text>')
        x += entry_w
    return out, row + 1 if series else 0


def _finite_runs(y: FloatArray) -> list[range]:
    """Index ranges of the consecutive finite values of y (a run of one point is left out)."""
    finite = np.isfinite(y)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], finite.astype(np.int8), [0]))))
    return [
        range(int(start), int(stop)) for start, stop in zip(edges[::2], edges[1::2], strict=True) if stop - start > 1
    ]
