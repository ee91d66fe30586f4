"""Faults of the process itself (SPEC section 7): a killed worker is replaced, SIGTERM drains.

- With two workers under load, one is killed with SIGKILL: uvicorn's supervisor starts another
  in its place, at most the requests the dead worker had in flight fail (the client's
  concurrency bounds them), and every request after the replacement is answered.
- SIGTERM (to the only worker, or to the supervisor of two) stops the server from taking new
  connections but lets a request already in flight finish with its answer; then it shuts down
  cleanly (exit status 0, or the re-raised SIGTERM of a single-process uvicorn).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from tests.servers import server_process, worker_pids

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

CONCURRENCY = 4
TIMEOUT_S = 10.0  # a hang guard, not a speed requirement
BODY = orjson.dumps({"x": [[-1.0, 0.5, 2.0]] * 64})


def _wait_for(predicate: object, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


async def _load(base: str, seconds: float, kill_at: float, victim: int) -> tuple[list[float], list[tuple[float, str]]]:
    """Closed-loop load for `seconds`; SIGKILL `victim` at `kill_at`. Times of answers and of failures."""
    answered: list[float] = []
    failed: list[tuple[float, str]] = []
    started = time.monotonic()

    async def worker(client: httpx.AsyncClient) -> None:
        while (now := time.monotonic() - started) < seconds:
            try:
                response = await client.post("/activate/relu", content=BODY)
            except httpx.HTTPError as exc:
                failed.append((now, type(exc).__name__))
                continue
            if response.status_code == 200 and response.headers["x-shape"] == "64,3":
                answered.append(time.monotonic() - started)
            else:
                failed.append((now, f"{response.status_code}"))

    async def killer() -> None:
        await asyncio.sleep(kill_at)
        os.kill(victim, signal.SIGKILL)

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=TIMEOUT_S) as client:
        await asyncio.gather(killer(), *(worker(client) for _ in range(CONCURRENCY)))
    return answered, failed


def test_a_worker_killed_under_load_is_replaced(tmp_path: Path) -> None:
    with server_process(tmp_path, workers="2") as server:
        supervisor = server.process.pid
        assert _wait_for(lambda: len(worker_pids(supervisor)) == 2, TIMEOUT_S)
        before = worker_pids(supervisor)
        victim = min(before)
        answered, failed = asyncio.run(_load(server.base, seconds=8.0, kill_at=2.0, victim=victim))
        after = worker_pids(supervisor)
        assert server.process.poll() is None, "the supervisor died"
        assert victim not in after and len(after) == 2, (before, after)
        with httpx.Client(base_url=server.base, timeout=TIMEOUT_S) as http:
            assert all(http.post("/activate/relu", content=BODY).status_code == 200 for _ in range(20))
        log = server.log_path.read_text()
    assert f"Child process [{victim}] died" in log
    assert len(failed) <= CONCURRENCY, f"more failures than requests in flight: {failed}"
    assert all(kind != "500" for _, kind in failed), failed
    # The service kept answering: before the kill, and in the last seconds after it.
    assert any(t < 2.0 for t in answered) and any(t > 6.0 for t in answered)
    assert not [t for t, _ in failed if t > 5.0], failed
    print(f"\nfaults: worker {victim} killed under load: {len(answered)} answered, {len(failed)} failed ({failed})")


def _address(base: str) -> tuple[str, int]:
    parts = urlsplit(base)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path, workers: str) -> None:
    with server_process(tmp_path, workers=workers) as server:
        if workers == "2":
            assert _wait_for(lambda: len(worker_pids(server.process.pid)) == 2, TIMEOUT_S)
        with socket.create_connection(_address(server.base), timeout=TIMEOUT_S) as sock:
            # A request in flight: headers and half of the body sent.
            head = (
                f"POST /activate/relu HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(BODY)}\r\n\r\n"
            ).encode()
            sock.sendall(head + BODY[: len(BODY) // 2])
            time.sleep(0.3)
            server.process.send_signal(signal.SIGTERM)
            time.sleep(1.0)
            # New connections are no longer taken while the request in flight is still served.
            with pytest.raises(httpx.TransportError):
                httpx.get(f"{server.base}/healthz", timeout=2)
            sock.sendall(BODY[len(BODY) // 2 :])
            data = b""
            while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        status_line, _, rest = data.partition(b"\r\n")
        assert status_line.startswith(b"HTTP/1.1 200 "), data[:300]
        assert orjson.loads(rest.partition(b"\r\n\r\n")[2])["shape"] == [64, 3]
        try:
            code = server.process.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail("the server did not exit after SIGTERM and its last request")
        # uvicorn re-raises the signal once it has shut down, as a process killed by SIGTERM would end.
        assert code in (0, -signal.SIGTERM), server.log_path.read_text()[-2000:]
        # The drained request is in the access log: buffered lines are written before the exit.
        assert "POST /activate/relu 200" in server.log_path.read_text()
