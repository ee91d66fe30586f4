"""The README's plots are what tools/render_plots.py draws from the current catalogue."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_committed_plots_and_readme_grid_are_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, "tools/render_plots.py", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_readme_shows_every_plot() -> None:
    readme = (ROOT / "README.md").read_text()
    for path in sorted((ROOT / "docs" / "plots").rglob("*.svg")):
        assert f'src="{path.relative_to(ROOT).as_posix()}"' in readme
