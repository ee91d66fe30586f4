"""/docs and /redoc work offline: every asset they reference is served by the service itself."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.api.docs import ASSET_FILES, assets_directory

ROOT = Path(__file__).resolve().parents[2]
# Anything that leaves the service: absolute or protocol-relative URLs, in attributes or scripts.
EXTERNAL = re.compile(r"""(?i)(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""")
REFERENCE = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|url:\s*'([^']+)'""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_page_references_no_external_url(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert not EXTERNAL.findall(response.text), EXTERNAL.findall(response.text)
    references = [a or b for a, b in REFERENCE.findall(response.text)]
    assert "/openapi.json" in references
    for url in references:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url


def test_swagger_ui_has_no_online_validator(client: TestClient) -> None:
    assert '"validatorUrl": null' in client.get("/docs").text


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("redoc.standalone.js", "text/javascript"),
        ("favicon.png", "image/png"),
    ],
)
def test_assets_are_served_with_their_types(client: TestClient, name: str, media_type: str) -> None:
    response = client.get(f"/docs/assets/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert response.content == (assets_directory() / name).read_bytes()


def test_missing_asset_is_a_problem(client: TestClient) -> None:
    response = client.get("/docs/assets/nothing.js")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_assets_ship_as_package_data_of_a_runtime_dependency(tmp_path: Path) -> None:
    """A plain `pip install .` brings them: the wheel requires the package that ships them."""
    assert all((assets_directory() / name).is_file() for name in ASSET_FILES)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("activation_service-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(archive.read(name).decode() for name in names if name.endswith(".dist-info/METADATA"))
    assert "app/api/docs.py" in names
    assert any(line.startswith("Requires-Dist: fastapi-offline") for line in metadata.splitlines())
