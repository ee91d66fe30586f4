"""The numeric core is pure (STYLE.md): importing it loads no web framework or schema library.

Checked in a fresh interpreter, since this test process may already have imported them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ["fastapi", "starlette", "uvicorn", "pydantic", "pydantic_core", "httpx", "orjson"]


@pytest.mark.parametrize("module", ["app.numerics", "app.numerics.expressions", "app.errors", "app.plots"])
def test_core_imports_no_web_framework(module: str) -> None:
    probe = (
        f"import json, sys, {module}; "
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({FRAMEWORKS!r}))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
