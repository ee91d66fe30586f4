"""Property-based fuzzing of every documented endpoint: schemathesis on the committed document, a live server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def test_schemathesis_finds_nothing(live_server: str, tmp_path: Path) -> None:
    command = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [
            command,
            "--config-file",
            str(HERE / "schemathesis.toml"),
            "run",
            str(ROOT / "openapi" / "openapi.json"),
            "--url",
            live_server,
            "--no-color",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    assert "API Operations:" in output and "Tested: " in output, output[-5000:]
    # Every operation of the document was exercised, not just selected.
    selected = output.split("Selected: ", 1)[1].split("\n", 1)[0].split("/")
    assert selected[0] == selected[1], output[-5000:]
