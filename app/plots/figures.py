"""One call from an activation and a range to a finished SVG: what plot.svg serves and the docs commit."""

from __future__ import annotations

from collections.abc import Mapping

from app.plots.curves import plot_title, sample_curve, sample_x
from app.plots.svg import PALETTE, Series, render_svg


def activation_svg(
    name: str,
    params: Mapping[str, object],
    *,
    x_range: tuple[float, float] = (-5.0, 5.0),
    points: int = 201,
    dtype: str = "float32",
    derivative: bool = False,
    y_range: tuple[float | None, float | None] | None = None,
    width: int = 640,
    height: int = 400,
) -> str:
    """The plot of activation `name` with `params` (and its dashed derivative) as an SVG document."""
    curve = sample_curve(name, params, sample_x(x_range[0], x_range[1], points), dtype, derivative)
    series = [Series(curve.name, curve.x, curve.y)]
    if curve.dydx is not None:
        series.append(Series(f"d/dx {curve.name}", curve.x, curve.dydx, dashed=True, color=PALETTE[1]))
    return render_svg(series, title=plot_title(curve), x_range=x_range, y_range=y_range, width=width, height=height)
