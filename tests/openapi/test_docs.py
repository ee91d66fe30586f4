"""/docs and /redoc work offline: every asset they reference is served by the service itself."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from app.api.docs import ASSET_FILES, assets_directory
from tests.servers import free_port

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


def test_assets_are_in_the_installed_package() -> None:
    assert all((assets_directory() / name).is_file() for name in ASSET_FILES)


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


@pytest.mark.e2e
def test_a_plain_install_serves_the_docs(tmp_path: Path) -> None:
    """`pip install .` (a wheel, not editable) alone serves /docs, /redoc and their assets."""
    wheels, site, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "cwd"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(ROOT)], check=True, timeout=300)
    (wheel,) = wheels.glob("activation_service-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(archive.read(n).decode() for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    # The assets come with a runtime dependency, which `pip install .` installs.
    assert any(line.startswith("Requires-Dist: fastapi-offline") for line in metadata.splitlines())
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=300)
    # The installed copy, not the source tree, is what runs (PYTHONPATH precedes the editable finder).
    env = {**os.environ, "PYTHONPATH": str(site), "ACTIVATIONS_LOG_LEVEL": "warning"}
    where = subprocess.run(
        [sys.executable, "-c", "import app; print(app.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.stdout.strip().startswith(str(site)), where.stdout + where.stderr
    port = free_port()
    env["ACTIVATIONS_PORT"] = str(port)
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        server = subprocess.Popen([sys.executable, "-m", "app"], cwd=elsewhere, env=env, stdout=sink, stderr=sink)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the installed server did not start within 30 s"
                time.sleep(0.2)
        for page in ("/docs", "/redoc"):
            html = httpx.get(base + page, timeout=10)
            assert html.status_code == 200
            assert not EXTERNAL.findall(html.text)
            for url in [a or b for a, b in REFERENCE.findall(html.text)]:
                assert httpx.get(base + url, timeout=10).status_code == 200, url
    finally:
        server.terminate()
        server.wait(timeout=10)
