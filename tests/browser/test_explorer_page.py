"""The explorer page in a real browser against a real server: controls, plotted points, snippets.

Every check is what a person at the page would notice: the controls the registry declares are
there and labelled, the drawn curves are the API's values at the page's points, the copied request
reproduces them, errors are shown beside the curve, the page fits a phone, the keyboard reaches
everything, and nothing is fetched from anywhere but the service.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from app.numerics import REGISTRY
from tests.browser.conftest import save_screenshot

pytestmark = pytest.mark.e2e
TIMEOUT_MS = 10_000


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Any]:
    """A desktop-size page on the explorer; requests to anywhere but the service are refused and recorded."""
    yield from _open(browser, live_server, {"width": 1280, "height": 900})


def _open(browser: Any, base: str, viewport: dict[str, int], path: str = "/") -> Iterator[Any]:
    context = browser.new_context(viewport=viewport)
    foreign: list[str] = []

    def only_the_service(route: Any) -> None:
        if route.request.url.startswith(base + "/"):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_service)
    new_page = context.new_page()
    errors: list[str] = []
    new_page.on("pageerror", lambda error: errors.append(str(error)))
    new_page.goto(base + path)
    settle(new_page)
    yield new_page
    context.close()
    assert foreign == [], "the page must work offline: it fetched from elsewhere"
    assert errors == [], "the page's script raised"


def settle(page: Any) -> None:
    """Wait until the plot shows the controls' current state."""
    # A selector, not wait_for_function: the page's Content-Security-Policy forbids eval, and stays on.
    page.wait_for_selector("body[data-state='ready']", state="attached", timeout=TIMEOUT_MS)


def card(page: Any, index: int) -> Any:
    return page.locator("li.curve").nth(index)


def plotted(page: Any) -> dict[str, Any]:
    """The drawn series (values from data attributes, pixels from the polylines) and the plot's frame."""
    return page.evaluate(
        """() => {
          const svg = document.getElementById("plot");
          const series = [...svg.querySelectorAll("g.series")].map((g) => ({
            name: g.dataset.name, kind: g.dataset.kind, curve: g.dataset.curve,
            params: JSON.parse(g.dataset.params), x: JSON.parse(g.dataset.x), y: JSON.parse(g.dataset.y),
            pixels: [...g.querySelectorAll("polyline")].flatMap((line) =>
              line.getAttribute("points").split(" ").map((pair) => pair.split(",").map(Number))),
          }));
          return { frame: { ...svg.dataset }, series };
        }"""
    )


def api_values(base: str, series: dict[str, Any], dtype: str) -> list[Any]:
    """What the API answers for a series: y from /activate, dy/dx from /gradient, first column if axis-wise."""
    name = series["name"]
    axiswise = name != "custom" and not REGISTRY.get(name).elementwise
    x = [[value, 0] for value in series["x"]] if axiswise else series["x"]
    body = {"x": x, **series["params"], "dtype": dtype}
    response = httpx.post(f"{base}/activate/{name}", json=body, timeout=10)
    assert response.status_code == 200, response.text
    y = response.json()["y"]
    if series["kind"] == "y":
        return [row[0] for row in y] if axiswise else y
    if axiswise:
        body["dy"] = [[1] + [0] * (len(row) - 1) for row in y]
    response = httpx.post(f"{base}/gradient/{name}", json=body, timeout=10)
    assert response.status_code == 200, response.text
    dx = response.json()["dx"]
    return [row[0] for row in dx] if axiswise else dx


def check_pixels(frame: dict[str, str], series: dict[str, Any]) -> None:
    """The polylines pass through the values: pixels map back to (x, y) within the 0.01 px they are rounded to."""
    left, top = float(frame["left"]), float(frame["top"])
    width, height = float(frame["plotWidth"]), float(frame["plotHeight"])
    x0, x1, y0, y1 = (float(frame[key]) for key in ("xMin", "xMax", "yMin", "yMax"))
    points = [(x, float(y)) for x, y in zip(series["x"], series["y"], strict=True) if math.isfinite(float(y))]
    assert len(series["pixels"]) == len(points)
    for (px, py), (x, y) in zip(series["pixels"], points, strict=True):
        assert px == pytest.approx(left + (x - x0) / (x1 - x0) * width, abs=0.006)
        assert py == pytest.approx(top + height - (y - y0) / (y1 - y0) * height, abs=0.006)


def test_page_plots_the_apis_values_for_picked_activations_and_parameters(page: Any, live_server: str) -> None:
    # The default page: relu and gelu, with the controls their metadata declares.
    assert page.locator("li.curve").count() == 2
    relu = card(page, 0)
    for name in ("alpha", "max_value", "threshold"):
        assert relu.get_by_label(name, exact=True).is_visible()
    assert card(page, 1).get_by_label("approximate", exact=True).get_attribute("type") == "checkbox"

    # Pick elu with alpha 0.5, add softmax and a custom expression, show the derivatives.
    relu.get_by_label("Activation").select_option("elu")
    settle(page)
    card(page, 0).get_by_label("alpha", exact=True).fill("0.5")
    settle(page)
    page.get_by_label("derivative (dashed)").check()
    settle(page)
    for name in ("softmax", "custom"):
        page.get_by_role("button", name="Add an activation to compare").click()
        page.locator("li.curve").last.get_by_label("Activation").select_option(name)
        settle(page)
    page.locator("li.curve").last.get_by_label("expression (required)").fill("x * tanh(x)")
    settle(page)

    drawn = plotted(page)
    assert [(s["name"], s["kind"]) for s in drawn["series"]] == [
        (name, kind) for name in ("elu", "gelu", "softmax", "custom") for kind in ("y", "dydx")
    ]
    assert drawn["series"][0]["params"] == {"alpha": 0.5}
    assert drawn["series"][6]["params"] == {"expression": "x * tanh(x)"}
    for series in drawn["series"]:
        assert len(series["x"]) == 201
        assert series["y"] == api_values(live_server, series, drawn["frame"]["dtype"]), series["name"]
        check_pixels(drawn["frame"], series)
    # elu(-5, alpha=0.5) and the softmax of [5, 0], as a person would check them by hand.
    assert float(drawn["series"][0]["y"][0]) == pytest.approx(0.5 * math.expm1(-5), rel=1e-6)
    assert float(drawn["series"][4]["y"][-1]) == pytest.approx(1 / (1 + math.exp(-5)), rel=1e-6)
    formula = card(page, 0).locator("details.about")
    formula.locator("summary").click()
    assert "expm1" in formula.inner_text()  # elu's documented difference from TensorFlow
    print("desktop screenshot:", save_screenshot(page, "explorer-desktop"))


def test_copied_requests_reproduce_the_plot(page: Any, live_server: str) -> None:
    page.get_by_label("alpha", exact=True).fill("0.25")
    settle(page)
    relu = plotted(page)["series"][0]
    request = card(page, 0).locator("details.request")
    request.locator("summary").click()
    code = request.locator("pre code")
    expect(code).to_contain_text("curl -sS")
    curl = code.inner_text()
    assert f"{live_server}/activate/relu" in curl
    body = json.loads(curl.split(" -d '", 1)[1].rsplit("'", 1)[0])
    assert body["x"] == relu["x"]
    assert body["alpha"] == 0.25

    request.get_by_label("Python (httpx)").check()
    expect(code).to_contain_text("import httpx")
    namespace: dict[str, Any] = {}
    exec(code.inner_text(), namespace)  # the snippet as a user would paste it
    assert namespace["y"] == relu["y"]

    request.get_by_label("tritonclient (KServe v2)").check()
    expect(code).to_contain_text("import tritonclient.http")
    namespace = {}
    exec(code.inner_text(), namespace)
    np.testing.assert_array_equal(namespace["y"], np.array([float(v) for v in relu["y"]], dtype=np.float32))


def test_axiswise_snippets_give_the_plotted_curve_and_derivative(browser: Any, live_server: str) -> None:
    for page in _open(browser, live_server, {"width": 1280, "height": 900}, "/#softmax"):
        page.get_by_label("derivative (dashed)").check()
        settle(page)
        y, dydx = plotted(page)["series"]
        assert (y["name"], dydx["kind"]) == ("softmax", "dydx")
        request = card(page, 0).locator("details.request")
        request.locator("summary").click()
        code = request.locator("pre code")
        expect(code).to_contain_text("/gradient/softmax")
        bodies = [json.loads(line.split(" -d '", 1)[1][:-1]) for line in code.inner_text().splitlines() if line]
        answers = [
            httpx.post(f"{live_server}/{kind}/softmax", json=body, timeout=10).json()
            for kind, body in zip(("activate", "gradient"), bodies, strict=True)
        ]
        assert [row[0] for row in answers[0]["y"]] == y["y"]
        assert [row[0] for row in answers[1]["dx"]] == dydx["y"]
        request.get_by_label("Python (httpx)").check()
        expect(code).to_contain_text("import httpx")
        namespace: dict[str, Any] = {}
        exec(code.inner_text(), namespace)
        assert (namespace["y"], namespace["dydx"]) == (y["y"], dydx["y"])
        # The values table and the address follow the plot.
        page.get_by_text("The plotted values as a table").click()
        assert page.locator("#values tbody tr").count() == 21
        assert page.evaluate("location.hash") == "#softmax"


def test_a_service_with_an_api_key_gets_it_from_the_page(browser: Any, live_server: str) -> None:
    """With ACTIVATIONS_API_KEY set the API answers 401 until the key comes: the page asks for it,
    sends it as X-API-Key, and puts it in the copied requests. The 401s are played by the browser's
    router here, as the service answers them, so the test does not depend on the server's settings."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    keys: list[str | None] = []

    def require_key(route: Any) -> None:
        request = route.request
        if not request.url.startswith(live_server + "/"):
            route.abort()
            return
        path = urlsplit(request.url).path
        if path == "/activations" or path.startswith(("/activate/", "/gradient/")):
            keys.append(request.headers.get("x-api-key"))
            if keys[-1] != "s3cret":
                problem = {"type": "/problems/unauthorized", "title": "Missing or wrong API key", "status": 401}
                route.fulfill(status=401, content_type="application/problem+json", body=json.dumps(problem))
                return
        route.continue_()

    context.route("**/*", require_key)
    page = context.new_page()
    try:
        page.goto(live_server + "/")
        page.wait_for_selector("body[data-state='key']", state="attached", timeout=TIMEOUT_MS)
        assert "requires an API key" in page.locator("#status").inner_text()
        assert page.evaluate("document.activeElement.id") == "api-key"
        page.keyboard.type("s3cret")
        page.keyboard.press("Enter")
        settle(page)
        assert [s["name"] for s in plotted(page)["series"]] == ["relu", "gelu"]
        assert keys[0] is None and set(keys[1:]) == {"s3cret"}
        request = card(page, 0).locator("details.request")
        request.locator("summary").click()
        expect(request.locator("pre code")).to_contain_text("-H 'X-API-Key: s3cret'")
    finally:
        context.close()


def test_bad_parameters_and_ranges_are_explained_beside_them(page: Any) -> None:
    card(page, 0).get_by_label("Activation").select_option("ReLU")
    settle(page)
    card(page, 0).get_by_label("negative_slope", exact=True).fill("-1")
    settle(page)
    error = card(page, 0).get_by_role("alert")
    assert "422" in error.inner_text() and "negative_slope" in error.inner_text()
    assert [s["name"] for s in plotted(page)["series"]] == ["gelu"]  # the other curve still shows

    page.get_by_label("x from").fill("7")
    page.wait_for_selector("body[data-state='invalid']", state="attached", timeout=TIMEOUT_MS)
    assert "less than" in page.locator("#range-error").inner_text()


def test_keyboard_alone_reaches_and_changes_everything(page: Any) -> None:
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    # Tab forward to the first activation picker, change it with the arrow keys.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "c1-name":
            break
    else:
        pytest.fail("Tab never reached the first activation picker")
    page.keyboard.press("ArrowDown")  # relu -> sigmoid, the next catalogue entry
    settle(page)
    assert plotted(page)["series"][0]["name"] == "sigmoid"
    # To the add button, Enter: a new curve whose picker has the focus.
    add = page.get_by_role("button", name="Add an activation to compare")
    for _ in range(60):
        page.keyboard.press("Tab")
        if add.evaluate("node => node === document.activeElement"):
            break
    page.keyboard.press("Enter")
    settle(page)
    assert page.evaluate("document.activeElement.classList.contains('name')")
    assert len(plotted(page)["series"]) == 3


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}])
def test_axe_finds_no_accessibility_violation(browser: Any, live_server: str, viewport: dict[str, int]) -> None:
    """axe-core's WCAG rules on the page with every panel open: labels, names, contrast, landmarks, ARIA."""
    for page in _open(browser, live_server, viewport, "/#relu,Softmax,custom"):
        page.get_by_label("derivative (dashed)").check()
        settle(page)
        for summary in page.locator("summary").all():
            summary.click()
        settle(page)
        results = Axe().run(page)
        assert results.violations_count == 0, results.generate_report()


def test_page_fits_a_phone(browser: Any, live_server: str) -> None:
    for phone in _open(browser, live_server, {"width": 390, "height": 844}):
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, "the page scrolls sideways on a phone"
        box = phone.locator("#plot").bounding_box()
        assert box["width"] <= 390 and box["height"] > 150
        print("phone screenshot:", save_screenshot(phone, "explorer-phone"))
