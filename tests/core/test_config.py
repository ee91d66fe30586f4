"""Settings come from ACTIVATIONS_* environment variables, with the documented defaults."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from app.core.config import Settings
from app.main import create_app


def test_defaults_match_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOST", "PORT", "WORKERS", "MAX_BODY_BYTES", "MAX_ELEMENTS", "MAX_RANK"):
        monkeypatch.delenv(f"ACTIVATIONS_{name}", raising=False)
    settings = Settings()
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)
    assert settings.max_body_bytes == 256 * 1024 * 1024
    assert settings.max_elements == 2**26
    assert settings.max_rank == 32


def test_environment_overrides_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTIVATIONS_MAX_ELEMENTS", "3")
    monkeypatch.setenv("ACTIVATIONS_LOG_LEVEL", "WARNING")
    with TestClient(create_app()) as client:
        assert client.post("/activate/relu", content=orjson.dumps({"x": [1, 2, 3]})).status_code == 200
        assert client.post("/activate/relu", content=orjson.dumps({"x": [1, 2, 3, 4]})).status_code == 413
    assert Settings().log_level == "warning"


def test_the_readme_lists_every_setting_with_its_default() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = dict(re.findall(r"^\| `ACTIVATIONS_(\w+)` \| `([^`]*)`", readme, re.MULTILINE))
    for name, field in Settings.model_fields.items():
        assert name.upper() in rows, f"ACTIVATIONS_{name.upper()} is missing from the README's settings table"
        default = field.default
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        assert rows[name.upper()] == shown, f"ACTIVATIONS_{name.upper()}: README says {rows[name.upper()]!r}"
