"""Plots of the catalogue: curves sampled from the numeric core and drawn as standalone SVG.

Pure Python and NumPy like the core: nothing here imports the web framework.
"""

from app.plots.curves import SampledCurve, plot_title, sample_curve, sample_x
from app.plots.figures import activation_svg
from app.plots.svg import Series, render_svg

__all__ = ["SampledCurve", "Series", "activation_svg", "plot_title", "render_svg", "sample_curve", "sample_x"]
