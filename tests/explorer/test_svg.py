"""The SVG plot module: ticks a reader can read, gaps at non-finite values, safe text, valid documents."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.plots.svg import Series, format_tick, nice_ticks, render_svg

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        (-5, 5, [-4, -2, 0, 2, 4]),
        (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (-0.05, 1.05, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0, 150, [0, 25, 50, 75, 100, 125, 150]),
        (-1e-3, 1e-3, [-0.001, -0.0005, 0, 0.0005, 0.001]),
        (1e6 - 1, 1e6, [999999.0, 999999.2, 999999.4, 999999.6, 999999.8, 1e6]),
    ],
)
def test_ticks_are_round_numbers_inside_the_range(low: float, high: float, ticks: list[float]) -> None:
    assert nice_ticks(low, high) == pytest.approx(ticks)
    # No 0.30000000000000004 in a label.
    labels = [format_tick(t, ticks[1] - ticks[0]) for t in nice_ticks(low, high)]
    assert all(len(label) <= 9 for label in labels), labels
    assert len(set(labels)) == len(labels), labels  # distinct ticks, distinct labels


@pytest.mark.parametrize(
    ("value", "step", "label"),
    [
        (0.0, 0.2, "0"),
        (0.6000000000000001, 0.2, "0.6"),
        (-4.0, 2.0, "-4"),
        (0.25, 0.25, "0.25"),
        (2e6, 1e6, "2e+06"),
        (999999.2, 0.2, "999999.2"),
        (2.5e-5, 5e-6, "2.5e-05"),
    ],
)
def test_tick_labels(value: float, step: float, label: str) -> None:
    assert format_tick(value, step) == label


def _polylines(svg: str) -> list[list[tuple[float, float]]]:
    root = ET.fromstring(svg)
    return [
        [tuple(map(float, pair.split(","))) for pair in line.attrib["points"].split()]  # type: ignore[misc]
        for line in root.iter(f"{SVG}polyline")
    ]


def test_non_finite_values_break_the_curve_instead_of_drawing_to_infinity() -> None:
    x = np.linspace(-1, 1, 9)
    y = np.array([0, 1, 2, np.nan, 4, 5, np.inf, 7, 8], dtype=np.float64)
    lines = _polylines(render_svg([Series("f", x, y)], title="t", x_range=(-1, 1)))
    # [0, 1, 2] and [4, 5] are drawn; the lone 7 and 8 make a run of two, drawn too.
    assert [len(points) for points in lines] == [3, 2, 2]


def test_far_values_are_clamped_to_finite_coordinates() -> None:
    x = np.linspace(0, 1, 3)
    lines = _polylines(render_svg([Series("f", x, np.array([0, 1e300, 0]))], title="t", x_range=(0, 1), y_range=(0, 1)))
    assert all(np.isfinite(coord) and abs(coord) < 1e7 for point in lines[0] for coord in point)


def test_text_is_escaped_and_nothing_runs() -> None:
    label = '<script>alert("x")</script> & more'
    svg = render_svg([Series(label, np.array([0.0, 1.0]), np.array([0.0, 1.0]))], title=label, x_range=(0, 1))
    root = ET.fromstring(svg)  # well-formed XML
    assert not list(root.iter(f"{SVG}script"))
    assert root.find(f"{SVG}title").text == label  # type: ignore[union-attr]
    assert "<script>" not in svg


def test_every_series_has_a_legend_entry_and_derivatives_are_dashed() -> None:
    x = np.linspace(-1, 1, 5)
    svg = render_svg(
        [Series("f", x, x), Series("d/dx f", x, np.ones(5), dashed=True, color="#D55E00")], title="f", x_range=(-1, 1)
    )
    root = ET.fromstring(svg)
    texts = [node.text for node in root.iter(f"{SVG}text")]
    assert "f" in texts and "d/dx f" in texts
    dashed = [line for line in root.iter(f"{SVG}polyline") if "stroke-dasharray" in line.attrib]
    assert len(dashed) == 1 and dashed[0].attrib["stroke"] == "#D55E00"


def test_same_input_same_bytes() -> None:
    x = np.linspace(-3, 3, 50)
    make = lambda: render_svg([Series("tanh", x, np.tanh(x))], title="tanh", x_range=(-3, 3))  # noqa: E731
    assert make() == make()


@settings(max_examples=200, deadline=None)
@given(
    y=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=2, max_size=30),
    x_low=st.floats(min_value=-1e6, max_value=1e6),
    span=st.floats(min_value=1e-9, max_value=1e6),
)
def test_any_values_give_a_well_formed_finite_document(y: list[float], x_low: float, span: float) -> None:
    x = x_low + span * np.arange(len(y)) / (len(y) - 1)
    svg = render_svg([Series("f", x, np.array(y))], title="f", x_range=(x_low, x_low + span))
    ET.fromstring(svg)
    coordinates = re.findall(r'(?:x|y|x1|x2|y1|y2)="([^"]*)"', svg) + re.findall(r'points="([^"]*)"', svg)
    assert not any(word in text.lower() for text in coordinates for word in ("nan", "inf"))
