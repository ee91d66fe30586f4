"""Shared fixtures: an in-process client, and a real uvicorn process for end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from tests.servers import running_server


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


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `python -m app` (uvicorn) process on a free loopback port; yields its base URL."""
    with running_server(tmp_path_factory.mktemp("server")) as base:
        yield base
