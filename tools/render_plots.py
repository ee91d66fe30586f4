"""Render the catalogue's plots for the README: ``docs/plots/<name>.svg`` and the grid that shows them.

Every catalogue entry (and one custom expression) is drawn over [-5, 5] with its derivative dashed,
by the same code that serves ``GET /activations/{name}/plot.svg`` (``app.plots.activation_svg``),
with the defaults of its parameters; a required parameter without a default takes the value in
``EXAMPLE_PARAMS``, else 0. The README's grid sits between the markers below and is rewritten too.
Run from the repository root after changing the catalogue or the plots, and commit the output::

    python tools/render_plots.py            # write docs/plots/ and the README grid
    python tools/render_plots.py --check    # exit 1, listing the stale files, when they are out of date

The second form is what the test suite runs (tests/explorer/test_render_plots.py).
"""

from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.numerics import REGISTRY  # noqa: E402
from app.numerics.expressions import CUSTOM  # noqa: E402
from app.plots import activation_svg  # noqa: E402

PLOTS = Path("docs/plots")
README = Path("README.md")
START, END = "<!-- explorer-plots:start -->", "<!-- explorer-plots:end -->"
COLUMNS = 3
WIDTH, HEIGHT = 320, 220
# Values for required parameters that have no default, where 0 would make a dull picture.
EXAMPLE_PARAMS: dict[str, dict[str, object]] = {"threshold": {"threshold": 1.0, "default_value": -0.5}}
CUSTOM_EXAMPLE = "x * sigmoid(1.702 * x)"


def plot_params() -> list[tuple[str, dict[str, object]]]:
    """(name, params) of every plot, in catalogue order, the custom example last."""
    out: list[tuple[str, dict[str, object]]] = []
    for spec in REGISTRY:
        params = {param.name: 0.0 for param in spec.params if param.required}
        params.update(EXAMPLE_PARAMS.get(spec.name, {}))
        out.append((spec.name, params))
    out.append((CUSTOM, {"expression": CUSTOM_EXAMPLE}))
    return out


def plot_path(name: str) -> Path:
    """docs/plots/<name>.svg; the layers (ELU, ReLU, Softmax) in layers/, apart from the functions
    (elu, relu, softmax) whose file names would be the same on a case-insensitive file system."""
    return PLOTS / "layers" / f"{name}.svg" if name != name.lower() else PLOTS / f"{name}.svg"


def render() -> dict[Path, str]:
    """Every output file (relative to the repository root) and its content."""
    files: dict[Path, str] = {}
    cells = []
    for name, params in plot_params():
        svg = activation_svg(name, params, derivative=True, width=WIDTH, height=HEIGHT)
        path = plot_path(name)
        files[path] = svg
        alt = f"{name} and its derivative (dashed) over -5 to 5"
        cells.append(f'<td><img src="{path.as_posix()}" alt="{html.escape(alt)}" width="{WIDTH}"></td>')
    rows = ["<tr>" + "".join(cells[i : i + COLUMNS]) + "</tr>" for i in range(0, len(cells), COLUMNS)]
    grid = "\n".join(["<table>", *rows, "</table>"])
    files[README] = replace_grid((ROOT / README).read_text(encoding="utf-8"), grid)
    return files


def replace_grid(readme: str, grid: str) -> str:
    """The README with the text between the markers replaced by `grid`."""
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the markers {START} and {END}")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{grid}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="report stale files instead of writing them")
    args = parser.parse_args(argv)
    files = render()
    expected_plots = {ROOT / path for path in files if path.suffix == ".svg"}
    stale = [path for path, text in files.items() if not (ROOT / path).is_file() or (ROOT / path).read_text() != text]
    extra = sorted(path for path in (ROOT / PLOTS).rglob("*.svg") if path not in expected_plots)
    if args.check:
        for path in stale:
            print(f"out of date: {path}")
        for path in extra:
            print(f"not in the catalogue: {path.relative_to(ROOT)}")
        if stale or extra:
            print("run: python tools/render_plots.py")
            return 1
        return 0
    for path in stale:
        (ROOT / path).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / path).write_text(files[path], encoding="utf-8")
    for path in extra:
        path.unlink()
    print(f"{len(stale)} file(s) written, {len(extra)} removed, {len(files)} up to date in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
