"""Starting a real `python -m app` (uvicorn) process for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ServerProcess:
    """A running server: its base URL, its process (the supervisor with several workers) and its log."""

    base: str
    process: subprocess.Popen[bytes]
    log_path: Path


def wait_until_healthy(
    base: str, logs: Callable[[], str], seconds: float, exited: Callable[[], bool] = lambda: False
) -> None:
    """Poll `base`/healthz until it answers 200; fail with the server's `logs` if it exits or times out."""
    deadline = time.monotonic() + seconds
    while True:
        if exited():
            raise RuntimeError(f"server exited: {logs()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no healthy answer from {base} within {seconds:g} s:\n{logs()}")
        time.sleep(0.1)


@contextmanager
def server_process(log_dir: Path, **settings: str) -> Iterator[ServerProcess]:
    """A server on a free loopback port with ACTIVATIONS_<NAME> settings, ready to answer /healthz."""
    port = free_port()
    env = {**os.environ, "ACTIVATIONS_PORT": str(port), "ACTIVATIONS_HOST": "127.0.0.1"}
    env.update({f"ACTIVATIONS_{name.upper()}": value for name, value in settings.items()})
    log_path = log_dir / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, log_path.read_text, seconds=30, exited=lambda: process.poll() is not None)
        yield ServerProcess(base, process, log_path)
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_server(log_dir: Path, **settings: str) -> Iterator[str]:
    """A server on a free loopback port with ACTIVATIONS_<NAME> settings; yields its base URL."""
    with server_process(log_dir, **settings) as server:
        yield server.base


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def worker_pids(supervisor: int) -> set[int]:
    """The uvicorn worker processes (multiprocessing spawn children) of a supervisor, from /proc."""
    workers = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        # The command may contain spaces and parentheses: the fields after the last ')' are fixed.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == supervisor and b"spawn_main" in cmdline and fields[0] != "Z":
            workers.add(int(entry.name))
    return workers
