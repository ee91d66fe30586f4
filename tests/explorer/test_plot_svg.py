"""`GET /activations/{name}/plot.svg`: every catalogue entry plots, the curve is the API's values,
bad settings are 422 problems naming the parameter, and the image is cacheable."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from app.numerics import REGISTRY

SVG = "{http://www.w3.org/2000/svg}"
REQUIRED_AT_ZERO = {spec.name: {p.name: 0 for p in spec.params if p.required} for spec in REGISTRY}


def _plot(client: TestClient, name: str, **query: Any) -> Any:
    return client.get(f"/activations/{name}/plot.svg", params={k: str(v) for k, v in query.items()})


def _curve_points(svg: str, dashed: bool = False) -> np.ndarray:
    """The (x, y) data values of the solid (or dashed) polylines, read back through the frame."""
    root = ET.fromstring(svg)
    frame = next(r for r in root.iter(f"{SVG}rect") if r.attrib.get("stroke") == "#444")
    left, top, width, height = (float(frame.attrib[k]) for k in ("x", "y", "width", "height"))
    lines = [line for line in root.iter(f"{SVG}polyline") if ("stroke-dasharray" in line.attrib) == dashed]
    pixels = np.array([pair.split(",") for line in lines for pair in line.attrib["points"].split()], dtype=float)
    return np.column_stack([(pixels[:, 0] - left) / width, (top + height - pixels[:, 1]) / height])


@pytest.mark.parametrize("spec", list(REGISTRY), ids=lambda spec: spec.name)
def test_every_catalogue_entry_plots_with_its_derivative(client: TestClient, spec: Any) -> None:
    response = _plot(client, spec.name, derivative="true", **REQUIRED_AT_ZERO[spec.name])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/svg+xml"
    root = ET.fromstring(response.text)
    assert root.find(f"{SVG}title").text.startswith(spec.name)  # type: ignore[union-attr]
    assert len(_curve_points(response.text)) >= 150  # the curve, not an empty frame
    assert len(_curve_points(response.text, dashed=True)) >= 100


@pytest.mark.parametrize(
    ("name", "params", "rows"),
    [
        ("relu", {"alpha": 0.1, "threshold": 0.5}, False),
        ("gelu", {"approximate": True}, False),
        ("softmax", {}, True),
        ("glu", {}, True),
        ("Softmax", {"mask": [1, 0]}, True),
        ("custom", {"expression": "x * tanh(x)"}, False),
    ],
)
def test_the_drawn_curve_is_what_the_api_answers(
    client: TestClient, name: str, params: dict[str, Any], rows: bool
) -> None:
    query = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in params.items()}
    svg = _plot(client, name, x_min=-4, x_max=4, points=81, y_min=-2, y_max=5, derivative="true", **query).text
    x = -4 + 8 * np.arange(81) / 80
    body = {"x": [[v, 0] for v in x] if rows else x.tolist(), **params}
    answer = np.array(client.post(f"/activate/{name}", json=body).json()["y"], dtype=float)
    y = answer[:, 0] if rows else answer
    drawn = _curve_points(svg)
    # Pixels are written to 0.01 px: in data units (x over 8, y over 7), well under 1e-3.
    np.testing.assert_allclose(drawn[:, 0] * 8 - 4, x, atol=1e-3)
    np.testing.assert_allclose(drawn[:, 1] * 7 - 2, y, atol=1e-3)
    if rows:  # the derivative along the row: dy one-hot on the plotted element
        body["dy"] = np.eye(1, answer.shape[1])[[0] * len(x)].tolist()
    dx = np.array(client.post(f"/gradient/{name}", json=body).json()["dx"], dtype=float)
    dx = dx[:, 0] if rows else dx
    np.testing.assert_allclose(_curve_points(svg, dashed=True)[:, 1] * 7 - 2, dx, atol=1e-3)


@pytest.mark.parametrize(
    ("bound", "expected"),
    [
        ({"y_min": -1}, (-1.0, 4.2)),  # relu over [-4, 4]: the data reach 4, padded by 5 %
        ({"y_max": 2}, (-0.2, 2.0)),
        ({"y_min": 10}, (10.0, 11.0)),  # every value below the bound: one step above it
        ({"y_max": -10}, (-11.0, -10.0)),
    ],
)
def test_one_y_bound_alone_takes_the_other_from_the_data(
    client: TestClient, bound: dict[str, float], expected: tuple[float, float]
) -> None:
    svg = _plot(client, "relu", x_min=-4, x_max=4, points=81, **bound).text
    low, high = expected
    x = -4 + 8 * np.arange(81) / 80
    inside = (np.maximum(x, 0) >= low) & (np.maximum(x, 0) <= high)
    drawn = _curve_points(svg)[:, 1] * (high - low) + low
    np.testing.assert_allclose(drawn[inside], np.maximum(x, 0)[inside], atol=1e-3)


def test_aliases_and_the_default_range(client: TestClient) -> None:
    response = _plot(client, "silu")
    assert response.status_code == 200
    assert ET.fromstring(response.text).find(f"{SVG}title").text == "swish"  # type: ignore[union-attr]
    assert "x from -5 to 5" in response.text


def test_unquoted_and_quoted_expressions(client: TestClient) -> None:
    bare = _plot(client, "custom", expression="x*sigmoid(x)")
    quoted = _plot(client, "custom", expression='"x*sigmoid(x)"')
    assert bare.status_code == quoted.status_code == 200
    assert bare.text == quoted.text


@pytest.mark.parametrize(
    ("name", "query", "loc"),
    [
        ("relu", {"x_min": 3, "x_max": 1}, "x_max"),
        ("relu", {"x_min": 0, "x_max": 5e-324}, "x_max"),
        ("relu", {"y_min": 0, "y_max": 5e-324}, "y_max"),
        ("relu", {"x_min": "nan"}, "x_min"),
        ("relu", {"x_max": "inf"}, "x_max"),
        ("relu", {"x_max": 1e7}, "x_max"),
        ("relu", {"points": 1}, "points"),
        ("relu", {"points": 100_000}, "points"),
        ("relu", {"points": "many"}, "points"),
        ("relu", {"y_min": 2, "y_max": 1}, "y_max"),
        ("relu", {"width": 10}, "width"),
        ("relu", {"dtype": "float8"}, "dtype"),
        ("relu", {"derivative": "perhaps"}, "derivative"),
        ("relu", {"alpha": "abc"}, "alpha"),
        ("relu", {"alpha": "NaN"}, "alpha"),
        ("relu", {"zeta": 1}, "zeta"),
        ("threshold", {}, "threshold"),
        ("softmax", {"axis": 0}, "axis"),
        ("Softmax", {"mask": "[1,0,1]"}, "mask"),
        ("ReLU", {"negative_slope": -1}, "negative_slope"),
        ("custom", {}, "expression"),
        ("custom", {"expression": "x +"}, "expression"),
    ],
)
def test_bad_settings_are_422_problems_naming_the_parameter(
    client: TestClient, name: str, query: dict[str, Any], loc: str
) -> None:
    response = _plot(client, name, **query)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert any(error["loc"][:2] == ["query", loc] for error in problem["errors"]), problem


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("linear", {"x_min": 0, "x_max": 1e-9}),
        ("linear", {"x_min": 999999.999999999, "x_max": 1e6, "points": 2001}),
        ("relu", {"x_min": -1e6, "x_max": -999999}),  # a flat curve: y all 0
        ("custom", {"expression": "1e-320 * x"}),  # subnormal values: a flat range to float64 precision
        ("exponential", {"x_min": 700, "x_max": 800, "dtype": "float64"}),  # overflows to inf: a gap
        ("custom", {"expression": "-exp(x)", "x_min": 700, "x_max": 709.78, "dtype": "float64"}),  # near -max
        (
            "custom",
            {
                "expression": "where(x > 0, exp(x), -exp(-x))",
                "x_min": -709.78,
                "x_max": 709.78,
                "dtype": "float64",
                "derivative": "true",
            },
        ),
        ("ThresholdedReLU", {"theta": 1e6}),
    ],
)
def test_extreme_but_valid_ranges_still_plot(client: TestClient, name: str, query: dict[str, Any]) -> None:
    response = _plot(client, name, **query)
    assert response.status_code == 200, response.text
    ET.fromstring(response.text)
    assert "nan" not in response.text.lower() and "inf" not in response.text.lower()


def test_unknown_activation_is_a_404_problem(client: TestClient) -> None:
    response = _plot(client, "relux")
    assert response.status_code == 404
    assert "did you mean 'relu'" in response.json()["detail"].lower()


def test_cacheable_with_an_etag(client: TestClient) -> None:
    first = _plot(client, "elu", alpha=0.5)
    assert first.headers["cache-control"] == "public, max-age=86400"
    assert first.headers["x-content-type-options"] == "nosniff"
    etag = first.headers["etag"]
    again = client.get("/activations/elu/plot.svg?alpha=0.5", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = client.get("/activations/elu/plot.svg?alpha=0.6", headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag
    head = client.head("/activations/elu/plot.svg?alpha=0.5")
    assert head.status_code == 200 and head.content == b""


_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from(["", "true", "[1,0]", "null", "1e-320", "5e-324", "-0", "abc"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(["relu", "softmax", "glu", "Softmax", "PReLU", "threshold", "exponential", "custom", "nope"]),
    query=st.dictionaries(
        st.sampled_from(
            [
                "x_min",
                "x_max",
                "y_min",
                "y_max",
                "points",
                "width",
                "height",
                "derivative",
                "dtype",
                "alpha",
                "axis",
                "mask",
                "threshold",
                "default_value",
                "expression",
            ]
        ),
        _NUMBERS,
        max_size=6,
    ),
)
def test_no_query_gives_a_server_error(client: TestClient, name: str, query: dict[str, Any]) -> None:
    response = _plot(client, name, **query)
    assert response.status_code in (200, 404, 422), response.text
    if response.status_code == 200:
        ET.fromstring(response.text)
    else:
        assert response.headers["content-type"] == "application/problem+json"
