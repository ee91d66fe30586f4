"""One real uvicorn process for the whole KServe v2 package, and the clients that talk to it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import tritonclient.http as triton

from tests.kserve.clients import MAX_BODY_BYTES, MAX_ELEMENTS
from tests.servers import running_server


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of a server with small limits, so that going over them is cheap."""
    settings = {"max_body_bytes": str(MAX_BODY_BYTES), "max_elements": str(MAX_ELEMENTS)}
    with running_server(tmp_path_factory.mktemp("kserve"), **settings) as base:
        yield base.removeprefix("http://")


@pytest.fixture(scope="package")
def client(server: str) -> Iterator[triton.InferenceServerClient]:
    """tritonclient's sync client."""
    with triton.InferenceServerClient(server, network_timeout=30) as sync_client:
        yield sync_client


@pytest.fixture(scope="package")
def http(server: str) -> Iterator[httpx.Client]:
    """A plain HTTP client, for the native API and hand-made v2 requests."""
    with httpx.Client(base_url=f"http://{server}", timeout=30) as plain:
        yield plain
