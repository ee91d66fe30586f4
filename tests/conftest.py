"""Shared fixtures: an in-process client, and a real uvicorn process for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from app.core.config import Settings
from app.main import create_app

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def client() -> Iterator[TestClient]:
    """The app with default settings, in process."""
    with TestClient(create_app(Settings()), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def make_client() -> Iterator[object]:
    """Build an in-process client with custom settings: make_client(max_elements=10)."""
    clients: list[TestClient] = []

    def build(**overrides: object) -> TestClient:
        test_client = TestClient(create_app(Settings(**overrides)), raise_server_exceptions=False)  # type: ignore[arg-type]
        clients.append(test_client.__enter__())
        return test_client

    yield build
    for test_client in clients:
        test_client.__exit__(None, None, None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `python -m app` (uvicorn) process on a free loopback port; yields its base URL."""
    port = _free_port()
    env = {**os.environ, "ACTIVATIONS_PORT": str(port), "ACTIVATIONS_HOST": "127.0.0.1"}
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {log_path.read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start within 30 s: {log_path.read_text()}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
