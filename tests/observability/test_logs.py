"""Request ids and log lines: what an operator greps for when a client reports a failure."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from app.observability.logs import REQUEST_ID, BufferedStderrHandler, JsonFormatter, TextFormatter
from tests.servers import running_server

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        ("abc-123", True),
        ("0f8e2c1a-5b7d-4e9f-8a6b-3c2d1e0f9a8b", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("has space", False),
        ("", False),
        ("caf\u00e9", False),
    ],
)
def test_request_id_is_echoed_when_usable_else_generated(client: TestClient, sent: str, echoed: bool) -> None:
    headers = {"x-request-id": sent.encode()}
    response = client.post("/activate/relu", json={"x": [1.0]}, headers=headers)
    assert response.status_code == 200
    if echoed:
        assert response.headers["x-request-id"] == sent
    else:
        assert GENERATED.fullmatch(response.headers["x-request-id"])


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/activate/nope", 404),
        ("GET", "/activate/relu", 405),
        ("GET", "/nowhere", 404),
        ("GET", "/healthz", 200),
        ("GET", "/v2/models/relu", 200),
        ("POST", "/v2/models/relu/infer", 400),
    ],
)
def test_every_answer_carries_a_request_id(client: TestClient, method: str, path: str, status: int) -> None:
    response = client.request(method, path, content=b"{}", headers={"x-request-id": "trace-7"})
    assert response.status_code == status
    assert response.headers["x-request-id"] == "trace-7"


def test_a_compressed_answer_carries_it_too(client: TestClient) -> None:
    response = client.post("/activate/relu", json={"x": [1.0] * 2000}, headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert GENERATED.fullmatch(response.headers["x-request-id"])


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("app.access", logging.INFO, __file__, 1, "POST %s %d", ("/activate/relu", 200), None)
    record.__dict__.update(extra)
    return record


def test_json_lines_hold_the_request_id_and_the_fields() -> None:
    token = REQUEST_ID.set("req-42")
    try:
        line = JsonFormatter().format(_record(status=200, duration_ms=0.25))
    finally:
        REQUEST_ID.reset(token)
    entry = json.loads(line)
    assert entry["message"] == "POST /activate/relu 200"
    assert entry["request_id"] == "req-42"
    assert (entry["level"], entry["logger"], entry["status"], entry["duration_ms"]) == ("info", "app.access", 200, 0.25)
    assert entry["time"].endswith("+00:00")


def test_text_lines_hold_the_request_id() -> None:
    token = REQUEST_ID.set("req-42")
    try:
        line = TextFormatter().format(_record(status=200))
    finally:
        REQUEST_ID.reset(token)
    assert "INFO app.access [req-42] POST /activate/relu 200 status=200" in line


def _log_lines(path: Path, needle: str) -> list[str]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [line for line in path.read_text().splitlines() if needle in line]
        if lines:
            return lines
        time.sleep(0.1)
    raise AssertionError(f"no log line with {needle!r} in {path.read_text()[-2000:]}")


@pytest.mark.e2e
def test_the_server_writes_json_access_lines_with_the_request_id(tmp_path: Path) -> None:
    with running_server(tmp_path) as base:
        response = httpx.post(f"{base}/activate/silu", json={"x": [1.0]}, headers={"x-request-id": "e2e-1"}, timeout=10)
        assert response.headers["x-request-id"] == "e2e-1"
        generated = httpx.get(f"{base}/nowhere", timeout=10).headers["x-request-id"]
        lines = _log_lines(tmp_path / "server.log", '"e2e-1"')
        generated_lines = _log_lines(tmp_path / "server.log", generated)
    entry = json.loads(lines[0])
    assert entry["logger"] == "app.access"
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", "/activate/silu", 200)
    assert (entry["endpoint"], entry["activation"]) == ("activate", "swish")
    assert entry["duration_ms"] > 0
    assert json.loads(generated_lines[0])["status"] == 404
    # Every line the server wrote is JSON, uvicorn's own included; uvicorn's access lines are off.
    for line in (tmp_path / "server.log").read_text().splitlines():
        assert json.loads(line)["logger"] != "uvicorn.access"


@pytest.mark.e2e
def test_the_server_writes_text_lines_when_asked(tmp_path: Path) -> None:
    with running_server(tmp_path, log_format="text") as base:
        httpx.post(f"{base}/activate/relu", json={"x": [1.0]}, headers={"x-request-id": "e2e-2"}, timeout=10)
        lines = _log_lines(tmp_path / "server.log", "[e2e-2]")
    assert "app.access [e2e-2] POST /activate/relu 200" in lines[0]


def test_buffered_lines_reach_stderr_soon_and_all_at_flush(capfd: pytest.CaptureFixture[str]) -> None:
    handler = BufferedStderrHandler(interval=0.05, capacity=1 << 20)
    handler.write_line("first")
    deadline = time.monotonic() + 5
    seen = ""
    while "first" not in seen and time.monotonic() < deadline:
        time.sleep(0.02)
        seen += capfd.readouterr().err
    assert seen == "first\n"
    for index in range(3):
        handler.write_line(f"line {index}")
    handler.flush()  # what logging.shutdown does at exit
    assert capfd.readouterr().err == "line 0\nline 1\nline 2\n"


def test_a_full_buffer_is_written_at_once(capfd: pytest.CaptureFixture[str]) -> None:
    handler = BufferedStderrHandler(interval=60, capacity=10)
    handler.write_line("0123456789")
    assert capfd.readouterr().err == "0123456789\n"


def test_json_lines_carry_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("app.errors", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "error"
    assert "ValueError: boom" in entry["exc_info"]
