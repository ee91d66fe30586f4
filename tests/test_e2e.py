"""End to end: a real `python -m app` (uvicorn) process, spoken to over HTTP on loopback."""

from __future__ import annotations

import io
import socket
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.e2e


def test_quick_start_request(live_server: str) -> None:
    response = httpx.post(
        f"{live_server}/activate/relu", json={"x": [-1, 2]}, headers={"content-type": "application/json"}, timeout=10
    )
    assert response.status_code == 200
    assert response.json()["y"] == [0.0, 2.0]
    assert response.headers["x-shape"] == "2"


def test_large_npy_round_trip(live_server: str) -> None:
    x = np.random.default_rng(0).standard_normal((512, 512)).astype(np.float32)
    buffer = io.BytesIO()
    np.save(buffer, x)
    response = httpx.post(
        f"{live_server}/activate/relu",
        content=buffer.getvalue(),
        headers={"content-type": "application/x-npy", "accept": "application/x-npy"},
        timeout=10,
    )
    assert response.status_code == 200
    y = np.load(io.BytesIO(response.content), allow_pickle=False)
    np.testing.assert_array_equal(y, np.maximum(x, 0))


def test_errors_over_the_wire(live_server: str) -> None:
    with httpx.Client(base_url=live_server, timeout=10) as http:
        assert http.post("/activate/relu", content=b"{").status_code == 400
        assert http.get("/activate/relu").headers["allow"] == "POST"
        assert _raw_status(live_server, b"Content-Length: 999999999999\r\n") == 413
        # The server survived all of it.
        assert http.get("/healthz").json()["status"] == "ok"


def test_catalogue_over_the_wire(live_server: str) -> None:
    catalogue = httpx.get(f"{live_server}/activations", timeout=10).json()["activations"]
    names = {entry["name"] for entry in catalogue}
    assert {"relu", "softmax", "LeakyReLU", "Softmax", "sparsemax"} <= names


def _raw_status(base: str, extra_headers: bytes) -> int:
    """Send headers only (no body) and read the status line: proves the answer comes before the body."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            b"POST /activate/relu HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra_headers + b"\r\n"
        )
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])
