"""`GET /` and its assets: served from the package, offline (nothing from elsewhere), cacheable, locked down."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.api.routes.explorer import PAGE_ASSETS

ROOT = Path(__file__).resolve().parents[2]


def test_the_page_is_served_at_the_root(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "<title>Activation explorer</title>" in response.text
    # Every file the page references is served by the service.
    for path in re.findall(r'(?:src|href)="(/explorer/[^"]+)"', response.text):
        asset = client.get(path)
        assert asset.status_code == 200, path
        assert asset.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("asset", ["index.html", *PAGE_ASSETS])
def test_nothing_is_loaded_from_elsewhere(asset: str) -> None:
    text = (ROOT / "app" / "static" / "explorer" / asset).read_text()
    # No CDN, web font or analytics: the only absolute URL allowed is the SVG namespace.
    urls = set(re.findall(r"https?://[^\s\"'`)]+", text)) - {"http://www.w3.org/2000/svg"}
    assert urls == set()


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/explorer/explorer.js", "text/javascript; charset=utf-8"),
        ("/explorer/explorer.css", "text/css; charset=utf-8"),
    ],
)
def test_assets_revalidate_with_their_etag(client: TestClient, path: str, media_type: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["cache-control"] == "no-cache"
    again = client.get(path, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("path", ["/explorer/index.html", "/explorer/../main.py", "/explorer/nope.js"])
def test_other_files_are_404_problems(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_wrong_method_is_405_with_allow(client: TestClient) -> None:
    response = client.post("/")
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}


@pytest.mark.e2e
def test_the_wheel_ships_the_page(tmp_path: Path) -> None:
    """`pip install .` alone serves the page: the built wheel carries every asset."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"app/static/explorer/{name}" for name in ("index.html", *PAGE_ASSETS)} <= names
