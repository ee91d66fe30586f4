"""The benchmark of SPEC section 6: the service against its floor and its peers, in one run.

    .venv/bin/python bench/run.py --out bench/results.json          # peers must be installed
    .venv/bin/python bench/run.py --setup --out bench/results.json  # installs wrk and the peers first

Every server under test runs one worker pinned to core 0 (`taskset -c 0`); this process and the load
generators run on core 1. The service (its console command, default settings) and the floor
(`bench/floor.py`, the same uvicorn settings) run side by side, idle but for the request in flight,
and are measured turn about, so drifting noise on a shared machine hits both alike. The peers (KServe's
model server, MLServer) run one at a time afterwards, each from its own venv under --venvs, on the
v2 protocol. Peak memory is measured on a freshly started server for each request. Only 127.0.0.1 is
ever contacted; every loop is bounded in count and in time.

Prints a table of medians and ratios and writes every sample to --out (JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import http.client
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SERVER_CORE = 0
LOAD_CORE = 1
TENSOR_BYTES_1000 = 1000 * 1000 * 4

# Peers: install command (the uvloop pin works around SeldonIO/MLServer#2286: MLServer 1.7.1's
# parallel workers crash at start-up with uvloop >= 0.22) and the module whose version is reported.
PEER_INSTALL = {
    "kserve": ["kserve"],
    "mlserver": ["mlserver", "uvloop<0.22"],
}


# --------------------------------------------------------------------------------------------------
# Servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    # The service must run on its defaults: drop any ACTIVATIONS_* setting of the caller's shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACTIVATIONS_", "MLSERVER_"))}
    env.update(extra or {})
    return env


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (MLServer runs inference in child processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, stack = [], [pid]
    while stack:
        current = stack.pop()
        tree.append(current)
        stack.extend(children.get(current, []))
    return tree


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


@dataclass
class Server:
    """One server process, pinned to the server core, in its own session so its whole tree can be stopped."""

    name: str
    command: list[str]
    port: int
    ready_path: str
    log_path: Path
    cwd: Path = REPO
    env: dict[str, str] = field(default_factory=server_env)
    process: subprocess.Popen[bytes] | None = None
    start_seconds: float = 0.0

    def start(self, timeout: float = 90.0) -> None:
        pin = ["taskset", "-c", str(SERVER_CORE)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
        log = self.log_path.open("ab")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            pin + self.command, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode} at start-up: {self.log_tail()}")
            try:
                status, _, _ = request("127.0.0.1", self.port, "GET", self.ready_path, None, {}, timeout=2)
                if status == 200:
                    self.start_seconds = time.perf_counter() - started
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=15)
        # Whatever is left of the session (MLServer's workers may linger): kill it, by its group id.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def last_error(self) -> str:
        """The server log's last exception line (`SomethingError: ...`), if any."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        found = [line for line in text if re.match(r"^\w+(Error|Exception): ", line)]
        return found[-1][:300] if found else "(no exception logged)"

    def log_tail(self, lines: int = 12) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(text[-lines:])


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------------------------------
# HTTP client (large bodies): http.client on a persistent connection, no gzip (Accept-Encoding: identity)


def request(
    host: str,
    port: int,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    timeout: float = 120.0,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, dict[str, str], bytes]:
    own = conn is None
    conn = conn or http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Accept-Encoding": "identity", **headers})
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        if own:
            conn.close()


@dataclass(frozen=True)
class Call:
    """One workload on one server: where to send what, and how to read the answer back as an array."""

    port: int
    path: str
    body: bytes
    headers: dict[str, str]
    decode: Callable[[dict[str, str], bytes], np.ndarray]


def check(call: Call, expected: np.ndarray, label: str) -> None:
    status, headers, data = request("127.0.0.1", call.port, "POST", call.path, call.body, call.headers)
    if status != 200:
        raise RuntimeError(f"{label}: HTTP {status}: {data[:300]!r}")
    got = call.decode(headers, data)
    if got.shape != expected.shape or not np.array_equal(got.astype(np.float32), expected):
        raise RuntimeError(f"{label}: wrong result (shape {got.shape}, expected {expected.shape})")


def time_calls(calls: dict[str, Call], count: int, warmup: int, budget_s: float) -> dict[str, list[float]]:
    """Round trips in seconds, the targets taken turn about; at most `count` each and about `budget_s` in all."""
    conns = {name: http.client.HTTPConnection("127.0.0.1", call.port, timeout=120) for name, call in calls.items()}
    samples: dict[str, list[float]] = {name: [] for name in calls}
    try:
        for _ in range(warmup):
            for name, call in calls.items():
                request("127.0.0.1", call.port, "POST", call.path, call.body, call.headers, conn=conns[name])
        deadline = time.monotonic() + budget_s
        for _ in range(count):
            for name, call in calls.items():
                started = time.perf_counter()
                status, _, data = request(
                    "127.0.0.1", call.port, "POST", call.path, call.body, call.headers, conn=conns[name]
                )
                elapsed = time.perf_counter() - started
                if status != 200:
                    raise RuntimeError(f"{name}: HTTP {status}: {data[:200]!r}")
                samples[name].append(elapsed)
            if time.monotonic() > deadline and all(len(s) >= 3 for s in samples.values()):
                break
    finally:
        for conn in conns.values():
            conn.close()
    return samples


def peak_rss_above_idle(server: Server, warm: Call, call: Call) -> dict[str, float]:
    """Peak RSS (VmHWM) of the server's process tree during `call`, above its idle RSS, in bytes.

    The server is fresh; one tiny request of the same kind first loads whatever is imported lazily,
    then each process's high-water mark is reset to its current RSS (clear_refs 5, Linux >= 4.0).
    For a tree (MLServer) the per-process peaks are summed: an upper bound of the tree's peak.
    """
    request("127.0.0.1", warm.port, "POST", warm.path, warm.body, warm.headers)
    time.sleep(0.3)
    pids = process_tree(server.pid)
    idle = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            idle[pid] = status_kib(pid, "VmRSS")
    status, _, data = request("127.0.0.1", call.port, "POST", call.path, call.body, call.headers)
    if status != 200:
        raise RuntimeError(f"{server.name}: HTTP {status}: {data[:200]!r}")
    above = 0
    for pid, rss in idle.items():
        with contextlib.suppress(OSError, KeyError):
            above += max(0, status_kib(pid, "VmHWM") - rss)
    return {"idle_bytes": 1024.0 * sum(idle.values()), "peak_above_idle_bytes": 1024.0 * above, "processes": len(idle)}


# --------------------------------------------------------------------------------------------------
# Load generator for small requests: wrk (Debian's), or an asyncio httpx fallback


@dataclass(frozen=True)
class Load:
    tool: str
    connections: int
    duration_s: float
    warmup_s: float
    rounds: int


def run_wrk(call: Call, load: Load, duration_s: float, workdir: Path) -> dict[str, float]:
    body_file = workdir / f"body-{call.port}-{abs(hash(call.body))}.bin"
    body_file.write_bytes(call.body)
    env = {
        **os.environ,
        "BENCH_BODY_FILE": str(body_file),
        "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in call.headers.items()),
    }
    command = [
        "wrk", "-t1", f"-c{load.connections}", f"-d{max(1, round(duration_s))}s", "--timeout", "10s",
        "-s", str(BENCH / "wrk_post.lua"), f"http://127.0.0.1:{call.port}{call.path}",
    ]  # fmt: skip
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=duration_s + 60, check=False)
    line = next((text for text in out.stdout.splitlines() if text.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}")
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    errors = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    return {
        "requests_per_s": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "requests": raw["requests"],
        "errors": errors,
    }


def run_httpx(call: Call, load: Load, duration_s: float, workdir: Path) -> dict[str, float]:
    import asyncio

    import httpx

    async def main() -> dict[str, float]:
        latencies: list[float] = []
        errors = 0
        deadline = time.perf_counter() + duration_s
        limits = httpx.Limits(max_connections=load.connections, max_keepalive_connections=load.connections)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{call.port}", limits=limits, timeout=10) as client:

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    response = await client.post(call.path, content=call.body, headers=call.headers)
                    if response.status_code != 200:
                        errors += 1
                    latencies.append(time.perf_counter() - started)

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(load.connections)))
            elapsed = time.perf_counter() - started
        quantiles = np.quantile(np.array(latencies) * 1000, [0.5, 0.9, 0.99, 1.0])
        return {
            "requests_per_s": len(latencies) / elapsed,
            "p50_ms": float(quantiles[0]), "p90_ms": float(quantiles[1]), "p99_ms": float(quantiles[2]),
            "max_ms": float(quantiles[3]), "requests": len(latencies), "errors": errors,
        }  # fmt: skip

    return asyncio.run(main())


def measure_load(calls: dict[str, Call], load: Load, workdir: Path) -> dict[str, list[dict[str, float]]]:
    """Closed-loop load at fixed concurrency: a warm-up, then `rounds` runs per target, turn about."""
    runner = run_wrk if load.tool == "wrk" else run_httpx
    for call in calls.values():
        runner(call, load, load.warmup_s, workdir)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in calls}
    for _ in range(load.rounds):
        for name, call in calls.items():
            result = runner(call, load, load.duration_s, workdir)
            if result["errors"]:
                raise RuntimeError(f"{name}: {result['errors']} failed requests under load")
            results[name].append(result)
    return results


def median_of(runs: list[dict[str, float]], key: str) -> float:
    return float(statistics.median(run[key] for run in runs))


# --------------------------------------------------------------------------------------------------
# Payloads: the same values for every server, each in its own protocol


def tensor(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def npy_bytes(x: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, x, allow_pickle=False)
    return buffer.getvalue()


def native_json(port: int, path: str, x: np.ndarray) -> Call:
    body = orjson.dumps({"x": x}, option=orjson.OPT_SERIALIZE_NUMPY)

    def decode(headers: dict[str, str], data: bytes) -> np.ndarray:
        return np.array(orjson.loads(data)["y"], dtype=np.float32)

    return Call(port, path, body, {"Content-Type": "application/json"}, decode)


def native_npy(port: int, path: str, x: np.ndarray) -> Call:
    def decode(headers: dict[str, str], data: bytes) -> np.ndarray:
        return np.asarray(np.load(io.BytesIO(data), allow_pickle=False))

    headers = {"Content-Type": "application/x-npy", "Accept": "application/x-npy"}
    return Call(port, path, npy_bytes(x), headers, decode)


V2_PATH = "/v2/models/relu/infer"


def v2_json(port: int, x: np.ndarray) -> Call:
    # Flat `data`, as tritonclient sends it; KServe reads a body as JSON only with this Content-Type.
    inputs = [{"name": "x", "shape": list(x.shape), "datatype": "FP32", "data": x.reshape(-1)}]
    body = orjson.dumps({"inputs": inputs}, option=orjson.OPT_SERIALIZE_NUMPY)

    def decode(headers: dict[str, str], data: bytes) -> np.ndarray:
        output = orjson.loads(data)["outputs"][0]
        return np.array(output["data"], dtype=np.float32).reshape(output["shape"])

    return Call(port, V2_PATH, body, {"Content-Type": "application/json"}, decode)


def v2_binary(port: int, x: np.ndarray) -> Call:
    """The binary tensor data extension both ways (Inference-Header-Content-Length)."""
    raw = np.ascontiguousarray(x, dtype="<f4").tobytes()
    header = orjson.dumps(
        {
            "inputs": [
                {"name": "x", "shape": list(x.shape), "datatype": "FP32", "parameters": {"binary_data_size": len(raw)}}
            ],
            "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
        }
    )

    def decode(headers: dict[str, str], data: bytes) -> np.ndarray:
        length = int(headers.get("inference-header-content-length", len(data)))
        output = orjson.loads(data[:length])["outputs"][0]
        if "data" in output:  # a server that ignored binary_data: accept, the timing then says so
            return np.array(output["data"], dtype=np.float32).reshape(output["shape"])
        return np.frombuffer(data[length:], dtype="<f4").reshape(output["shape"])

    headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}
    return Call(port, V2_PATH, header + raw, headers, decode)


# --------------------------------------------------------------------------------------------------
# The run


@dataclass
class Settings:
    out: Path
    venvs: Path
    logs: Path
    peers: list[str]
    json_count: int
    npy_count: int
    peer_json_count: int
    load: Load
    quick: bool


def relu(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.maximum(x, 0))


def service_command(port: int) -> list[str]:
    command = Path(sys.executable).parent / "activations-serve"
    return (
        [str(command), "--port", str(port)] if command.exists() else [sys.executable, "-m", "app", "--port", str(port)]
    )


def floor_command(port: int) -> list[str]:
    # The service's uvicorn settings (app/cli.py): one worker, level info, 30 s graceful shutdown.
    return [
        sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH), "floor:app", "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1", "--log-level", "info", "--timeout-graceful-shutdown", "30",
    ]  # fmt: skip


def make_service(settings: Settings, tag: str = "") -> Server:
    port = free_port()
    return Server("service", service_command(port), port, "/healthz", settings.logs / f"service{tag}.log")


def make_floor(settings: Settings, tag: str = "") -> Server:
    port = free_port()
    return Server("floor", floor_command(port), port, "/ready", settings.logs / f"floor{tag}.log")


def make_peer(name: str, settings: Settings, tag: str = "") -> Server:
    python = settings.venvs / name / "bin" / "python"
    port = free_port()
    log = settings.logs / f"{name}{tag}.log"
    if not python.exists():
        raise FileNotFoundError(f"no venv at {python.parent.parent} (run with --setup)")
    if name == "kserve":
        # gRPC off: KServe binds it on [::] and it plays no part in a REST benchmark.
        command = [
            str(python),
            str(BENCH / "peers" / "kserve_relu.py"),
            "--http_port",
            str(port),
            "--workers",
            "1",
            "--enable_grpc",
            "false",
        ]
        return Server(name, command, port, "/v2/models/relu/ready", log, cwd=BENCH / "peers")
    command = [str(settings.venvs / name / "bin" / "mlserver"), "start", "."]
    # Its scratch folders (.metrics, .envs) default to the working directory: keep them out of the repo.
    scratch = Path(tempfile.mkdtemp(prefix=f"{name}{tag}-", dir=settings.logs))
    env = server_env(
        {
            "MLSERVER_HTTP_PORT": str(port),
            "MLSERVER_GRPC_PORT": str(free_port()),
            "MLSERVER_METRICS_PORT": str(free_port()),
            "MLSERVER_METRICS_DIR": str(scratch / ".metrics"),
            "MLSERVER_ENVIRONMENTS_DIR": str(scratch / ".envs"),
        }
    )
    return Server(name, command, port, "/v2/models/relu/ready", log, cwd=BENCH / "peers" / "mlserver", env=env)


def peer_version(name: str, settings: Settings) -> str | None:
    python = settings.venvs / name / "bin" / "python"
    if not python.exists():
        return None
    out = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({name!r}))"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return out.stdout.strip() or None


def setup(settings: Settings) -> None:
    if shutil.which("wrk") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("setup: apt-get install wrk", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], timeout=300, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], timeout=300, check=False)
    for name in settings.peers:
        venv = settings.venvs / name
        if (venv / "bin" / "python").exists() and peer_version(name, settings):
            continue
        print(f"setup: {venv} <- pip install {' '.join(PEER_INSTALL[name])}", flush=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], timeout=300, check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "--upgrade", "pip"], timeout=600, check=False)
        result = subprocess.run([*pip, *PEER_INSTALL[name]], timeout=1200, check=False)
        if result.returncode != 0:
            print(f"setup: installing {name} failed (exit {result.returncode}); it will show as n/a", flush=True)


def versions(settings: Settings) -> dict[str, str | None]:
    import importlib.metadata as metadata

    found: dict[str, str | None] = {}
    for package in ("activation-service", "numpy", "orjson", "starlette", "fastapi", "uvicorn", "uvloop", "httptools"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    for name in ("kserve", "mlserver"):
        found[name] = peer_version(name, settings)
    wrk = shutil.which("wrk")
    if wrk:
        out = subprocess.run([wrk, "--version"], capture_output=True, text=True, timeout=10, check=False)
        found["wrk"] = (out.stdout + out.stderr).split("[", 1)[0].strip()
    return found


def service_revision() -> dict[str, Any]:
    """The commit the service ran from, and whether app/ had uncommitted changes (they count too)."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30, check=False)
        return out.stdout.strip()

    digest = hashlib.sha256()
    for path in sorted((REPO / "app").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return {
        "commit": git("rev-parse", "HEAD") or None,
        "app_dirty": bool(git("status", "--porcelain", "--", "app")),
        "app_sha256": digest.hexdigest(),
    }


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def run(settings: Settings) -> dict[str, Any]:
    results: dict[str, Any] = {"samples": {}, "load": {}, "memory": {}, "status": {}}
    samples, loads, memory, status = results["samples"], results["load"], results["memory"], results["status"]

    x_big, x_npy, x_small = tensor((1000, 1000), 1), tensor((4096, 4096), 2), tensor((1, 8), 3)
    workdir = Path(tempfile.mkdtemp(prefix="bench-", dir=settings.logs))

    # 1. Service and floor side by side, measured turn about.
    print("service and floor: starting", flush=True)
    service, floor = make_service(settings), make_floor(settings)
    with running(service), running(floor):
        status["service"] = {"ok": True, "start_s": service.start_seconds}
        status["floor"] = {"ok": True, "start_s": floor.start_seconds}
        # The service's own KServe v2 endpoint, if it has one yet: measured beside the peers.
        v2_status, _, _ = request("127.0.0.1", service.port, "GET", "/v2/models/relu/ready", None, {})
        service_v2 = v2_status == 200
        status["service-v2"] = {
            "ok": service_v2,
            "reason": None if service_v2 else f"GET /v2/models/relu/ready: {v2_status}",
        }

        calls = {
            "service": native_json(service.port, "/activate/relu", x_big),
            "floor": native_json(floor.port, "/relu/json", x_big),
        }
        if service_v2:
            calls["service-v2"] = v2_json(service.port, x_big)
        for name, call in calls.items():
            check(call, relu(x_big), f"{name} JSON 1000x1000")
        print("  JSON 1000x1000", flush=True)
        for name, values in time_calls(calls, settings.json_count, 2, 60).items():
            samples.setdefault(name, {})["json_1000"] = values

        calls = {
            "service": native_npy(service.port, "/activate/relu", x_npy),
            "floor": native_npy(floor.port, "/relu/npy", x_npy),
        }
        if service_v2:
            calls["service-v2"] = v2_binary(service.port, x_npy)
        for name, call in calls.items():
            check(call, relu(x_npy), f"{name} npy 4096x4096")
        print("  npy 4096x4096", flush=True)
        for name, values in time_calls(calls, settings.npy_count, 2, 60).items():
            samples[name]["npy_4096"] = values

        calls = {
            "service": native_npy(service.port, "/activate/relu", x_big),
            "floor": native_npy(floor.port, "/relu/npy", x_big),
        }
        if service_v2:
            calls["service-v2"] = v2_binary(service.port, x_big)
        print("  npy 1000x1000", flush=True)
        for name, values in time_calls(calls, settings.json_count, 2, 30).items():
            samples[name]["npy_1000"] = values

        for kind, make in (("small_json", native_json), ("small_npy", native_npy)):
            calls = {
                "service": make(service.port, "/activate/relu", x_small),
                "floor": make(floor.port, "/relu/json" if kind == "small_json" else "/relu/npy", x_small),
            }
            if service_v2:
                calls["service-v2"] = (v2_json if kind == "small_json" else v2_binary)(service.port, x_small)
            for name, call in calls.items():
                check(call, relu(x_small), f"{name} {kind}")
            print(f"  {kind} under load ({settings.load.tool}, {settings.load.connections} connections)", flush=True)
            for name, runs in measure_load(calls, settings.load, workdir).items():
                loads.setdefault(name, {})[kind] = runs

    # 2. Peak memory, a fresh server per request.
    print("memory: a fresh server per request", flush=True)
    x_tiny = tensor((2, 2), 4)
    sizes = [("json", 256), ("json", 1000), ("json", 2000), ("npy", 1000), ("npy", 4096)]
    if settings.quick:
        sizes = [("json", 1000), ("npy", 1000)]
    for name, make_server, json_path, npy_path in (
        ("service", make_service, "/activate/relu", "/activate/relu"),
        ("floor", make_floor, "/relu/json", "/relu/npy"),
    ):
        for kind, n in sizes:
            server = make_server(settings, f"-mem-{kind}-{n}")
            x = x_npy if n == 4096 else tensor((n, n), 5)
            make = native_json if kind == "json" else native_npy
            path = json_path if kind == "json" else npy_path
            with running(server):
                memory.setdefault(name, {})[f"{kind}_{n}"] = peak_rss_above_idle(
                    server, make(server.port, path, x_tiny), make(server.port, path, x)
                )

    # 3. Peers, one at a time, on the v2 protocol.
    for peer in settings.peers:
        print(f"{peer}: starting", flush=True)
        try:
            server = make_peer(peer, settings)
            with running(server):
                status[peer] = {"ok": True, "start_s": server.start_seconds, "binary": None}
                check(v2_json(server.port, x_big), relu(x_big), f"{peer} v2 JSON 1000x1000")
                binary_ok, reason = True, None
                try:
                    check(v2_binary(server.port, x_small), relu(x_small), f"{peer} v2 binary")
                except (RuntimeError, OSError, ValueError, KeyError) as exc:
                    binary_ok, reason = False, f"{str(exc)[:200]}; server log: {server.last_error()}"
                status[peer]["binary"] = {"ok": binary_ok, "reason": reason}
                print(f"  JSON 1000x1000 (binary extension: {'yes' if binary_ok else 'no'})", flush=True)
                peer_samples = samples.setdefault(peer, {})
                budget = 40 if not settings.quick else 15
                peer_samples["json_1000"] = time_calls(
                    {peer: v2_json(server.port, x_big)}, settings.peer_json_count, 1, budget
                )[peer]
                if binary_ok:
                    peer_samples["npy_1000"] = time_calls(
                        {peer: v2_binary(server.port, x_big)}, settings.json_count, 2, 30
                    )[peer]
                    check(v2_binary(server.port, x_npy), relu(x_npy), f"{peer} v2 binary 4096x4096")
                    peer_samples["npy_4096"] = time_calls(
                        {peer: v2_binary(server.port, x_npy)}, settings.npy_count, 1, 40
                    )[peer]
                kinds = {"small_json": v2_json(server.port, x_small)}
                if binary_ok:
                    kinds["small_npy"] = v2_binary(server.port, x_small)
                for kind, call in kinds.items():
                    print(f"  {kind} under load", flush=True)
                    loads.setdefault(peer, {})[kind] = measure_load({peer: call}, settings.load, workdir)[peer]
            for kind, maker in (("json", v2_json), ("npy", v2_binary)):
                if kind == "npy" and not binary_ok:
                    continue
                server = make_peer(peer, settings, f"-mem-{kind}")
                with running(server):
                    memory.setdefault(peer, {})[f"{kind}_1000"] = peak_rss_above_idle(
                        server, maker(server.port, x_tiny), maker(server.port, x_big)
                    )
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            print(f"  {peer}: n/a: {exc}", flush=True)
            status[peer] = {**status.get(peer, {}), "ok": False, "reason": str(exc)[:1000]}
    shutil.rmtree(workdir, ignore_errors=True)
    return results


# --------------------------------------------------------------------------------------------------
# Report


PEER_COLUMNS = ("service-v2", "kserve", "mlserver")


@dataclass(frozen=True)
class Row:
    """One line of the table: how to get a server's median, and the SPEC target on the service, if any."""

    key: str
    workload: str
    unit: str
    peer_protocol: str  # what the v2 columns (the service's own v2 and the peers) send for this workload
    value: Callable[[str], float | None]
    target: str | None = None
    passes: Callable[[float, float], bool] | None = None  # (service, floor) -> within the target


def table_rows(results: dict[str, Any]) -> list[Row]:
    samples, loads, memory = results["samples"], results["load"], results["memory"]

    def timing(key: str) -> Callable[[str], float | None]:
        def get(name: str) -> float | None:
            values = samples.get(name, {}).get(key)
            return 1000 * statistics.median(values) if values else None

        return get

    def under_load(kind: str, field_name: str) -> Callable[[str], float | None]:
        def get(name: str) -> float | None:
            runs = loads.get(name, {}).get(kind)
            return median_of(runs, field_name) if runs else None

        return get

    def peak(key: str, tensor_bytes: int) -> Callable[[str], float | None]:
        def get(name: str) -> float | None:
            entry = memory.get(name, {}).get(key)
            return entry["peak_above_idle_bytes"] / tensor_bytes if entry else None

        return get

    rows = [
        Row("json_1000", "JSON 1000x1000 relu, round trip", "ms", "v2 JSON", timing("json_1000"),
            "<= 1.15x floor", lambda s, f: s <= 1.15 * f),
        Row("small_rps", "small [1,8] JSON, throughput", "req/s", "v2 JSON", under_load("small_json", "requests_per_s"),
            ">= 0.7x floor", lambda s, f: s >= 0.7 * f),
        Row("small_p50", "small [1,8] JSON, p50 latency", "ms", "v2 JSON", under_load("small_json", "p50_ms")),
        Row("small_p99", "small [1,8] JSON, p99 latency", "ms", "v2 JSON", under_load("small_json", "p99_ms"),
            "<= 1.5x floor", lambda s, f: s <= 1.5 * f),
        Row("small_npy_rps", "small [1,8] npy, throughput", "req/s", "v2 binary",
            under_load("small_npy", "requests_per_s")),
        Row("small_npy_p99", "small [1,8] npy, p99 latency", "ms", "v2 binary", under_load("small_npy", "p99_ms")),
        Row("npy_4096", "npy 4096x4096 relu, round trip", "ms", "v2 binary", timing("npy_4096"),
            "<= 1.15x floor", lambda s, f: s <= 1.15 * f),
        Row("npy_1000", "npy 1000x1000 relu, round trip", "ms", "v2 binary", timing("npy_1000")),
    ]  # fmt: skip

    def at_most(limit: float) -> Callable[[float, float], bool]:
        return lambda service, floor: service <= limit

    memory_targets = {("json", 1000): 12.0, ("npy", 1000): 3.0}
    for kind, n in (("json", 256), ("json", 1000), ("json", 2000), ("npy", 1000), ("npy", 4096)):
        limit = memory_targets.get((kind, n))
        rows.append(
            Row(
                f"mem_{kind}_{n}",
                f"peak RSS above idle, {kind} {n}x{n}",
                "x tensor bytes",
                "v2 JSON" if kind == "json" else "v2 binary",
                peak(f"{kind}_{n}", n * n * 4),
                f"<= {limit:g}x tensor" if limit else None,
                at_most(limit) if limit else None,
            )
        )
    return rows


def build_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The table as data: each row's medians, the service/floor ratio, the verdict, the v2 columns."""
    out = []
    for row in table_rows(results):
        service, floor = row.value("service"), row.value("floor")
        verdict = None
        if row.passes is not None and service is not None and floor is not None:
            verdict = "pass" if row.passes(service, floor) else "FAIL"
        peers = {name: row.value(name) for name in PEER_COLUMNS}
        out.append(
            {
                "key": row.key,
                "workload": row.workload,
                "unit": row.unit,
                "service": service,
                "floor": floor,
                "ratio": service / floor if service is not None and floor else None,
                "target": row.target,
                "result": verdict,
                "peer_protocol": row.peer_protocol,
                "peers": peers,
                "peer_ratio_to_floor": {
                    name: value / floor if value is not None and floor else None for name, value in peers.items()
                },
            }
        )
    return out


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "req/s":
        return f"{value:,.0f}"
    if unit == "x tensor bytes":
        return f"{value:.2f}x"
    return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def shown_path(path: str) -> str:
    """A path relative to the repository where it is inside it (`.venv/bin/python`)."""
    absolute = Path(os.path.abspath(path))
    return str(absolute.relative_to(REPO)) if absolute.is_relative_to(REPO) else path


def table(rows: list[dict[str, Any]], status: dict[str, Any]) -> str:
    header = ["workload", "unit", "service", "floor", "ratio", "target", "result"]
    shown_peers = [p for p in PEER_COLUMNS if p in status]
    header += [f"{p} (v2)" if p != "service-v2" else "service (v2)" for p in shown_peers]
    lines = []
    for row in rows:
        if row["service"] is None and row["floor"] is None and all(v is None for v in row["peers"].values()):
            continue
        cells = [
            row["workload"], row["unit"], fmt(row["service"], row["unit"]), fmt(row["floor"], row["unit"]),
            f"{row['ratio']:.2f}" if row["ratio"] is not None else "n/a", row["target"] or "", row["result"] or "",
        ]  # fmt: skip
        for peer in shown_peers:
            value, ratio = row["peers"].get(peer), row["peer_ratio_to_floor"].get(peer)
            if value is None:
                cells.append("n/a")
            elif row["unit"] == "x tensor bytes" or ratio is None:
                cells.append(f"{fmt(value, row['unit'])} {row['peer_protocol']}")
            else:
                cells.append(f"{fmt(value, row['unit'])} ({ratio:.2f}x) {row['peer_protocol']}")
        lines.append(cells)
    widths = [max(len(str(c)) for c in col) for col in zip(header, *lines, strict=False)]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    out += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False)) + " |" for cells in lines]
    notes = []
    for peer in shown_peers:
        entry = status[peer]
        if not entry.get("ok"):
            notes.append(f"- {peer}: n/a: {entry.get('reason')}")
        elif entry.get("binary") and not entry["binary"]["ok"]:
            notes.append(f"- {peer}: binary tensor extension n/a: {entry['binary']['reason']}")
    return "\n".join(out + (["", *notes] if notes else []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=BENCH / "results.json", help="JSON results (default %(default)s)")
    parser.add_argument(
        "--setup", action="store_true", help="install wrk (apt) and the peers (pip, own venvs) if missing"
    )
    parser.add_argument(
        "--venvs",
        type=Path,
        default=Path(os.environ.get("BENCH_VENVS", "/tmp/bench-venvs")),
        help="peer venvs (default %(default)s)",
    )
    parser.add_argument(
        "--peers", default="kserve,mlserver", help="comma-separated peers, '' for none (default %(default)s)"
    )
    parser.add_argument(
        "--connections", type=int, default=16, help="concurrency of the small-request load (default %(default)s)"
    )
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per load round (default %(default)s)")
    parser.add_argument(
        "--rounds", type=int, default=5, help="load rounds per server, median reported (default %(default)s)"
    )
    parser.add_argument(
        "--json-count", type=int, default=15, help="round trips per server, JSON 1000x1000 (default %(default)s)"
    )
    parser.add_argument(
        "--npy-count", type=int, default=9, help="round trips per server, npy 4096x4096 (default %(default)s)"
    )
    parser.add_argument(
        "--peer-json-count", type=int, default=7, help="round trips per peer, JSON 1000x1000 (default %(default)s)"
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (numbers not for the README)")
    parser.add_argument("--show", type=Path, metavar="JSON", help="print the table of an earlier run's JSON and exit")
    args = parser.parse_args(argv)
    if args.show:
        earlier = json.loads(args.show.read_text())
        meta = earlier["meta"]
        commit = (meta.get("service_revision") or {}).get("commit") or "?"
        print(f"{meta['command']}  ({meta['date']}, {meta['runtime_s']:.0f} s, service at {commit[:7]})\n")
        print(table(earlier["rows"], earlier["status"]))
        return 0

    started = time.perf_counter()
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {LOAD_CORE})
    else:
        print("warning: one core only: server and load share it", file=sys.stderr)
    logs = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    quick = args.quick
    settings = Settings(
        out=args.out,
        venvs=args.venvs,
        logs=logs,
        peers=[p for p in args.peers.split(",") if p],
        json_count=3 if quick else args.json_count,
        npy_count=3 if quick else args.npy_count,
        peer_json_count=2 if quick else args.peer_json_count,
        load=Load(
            tool="wrk" if shutil.which("wrk") else "httpx",
            connections=args.connections,
            duration_s=1.0 if quick else args.duration,
            warmup_s=1.0 if quick else 2.0,
            rounds=1 if quick else args.rounds,
        ),
        quick=quick,
    )
    unknown = set(settings.peers) - set(PEER_INSTALL)
    if unknown:
        parser.error(f"unknown peers: {', '.join(sorted(unknown))}")
    if args.setup:
        setup(settings)
        # wrk may have been installed just now.
        settings.load = dataclasses.replace(settings.load, tool="wrk" if shutil.which("wrk") else "httpx")
    if settings.load.tool != "wrk":
        print(
            "warning: wrk not found (apt-get install wrk, or --setup): small requests use httpx, slower",
            file=sys.stderr,
        )

    load_before, revision = loadavg(), service_revision()
    results = run(settings)
    rows = build_rows(results)
    runtime = time.perf_counter() - started
    document = {
        "meta": {
            "command": " ".join([shown_path(sys.executable), *sys.argv]),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "runtime_s": round(runtime, 1),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "service_revision": revision,
            "service_revision_after": service_revision(),
            "loadavg_before": load_before,
            "loadavg_after": loadavg(),
            "versions": versions(settings),
            "pinning": {"server_core": SERVER_CORE, "load_core": LOAD_CORE},
            "load": {**settings.load.__dict__},
            "counts": {
                "json_1000": settings.json_count,
                "npy_4096": settings.npy_count,
                "peer_json_1000": settings.peer_json_count,
            },
            "logs": str(logs),
            "quick": quick,
        },
        "status": results["status"],
        "rows": rows,
        "samples_s": results["samples"],
        "load_runs": results["load"],
        "memory": results["memory"],
    }
    settings.out.parent.mkdir(parents=True, exist_ok=True)
    settings.out.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    print()
    print(table(rows, results["status"]))
    print()
    v, load = document["meta"]["versions"], settings.load
    print(
        f"load: {load.tool}, {load.connections} connections, {load.rounds} rounds of {load.duration_s:g} s per server"
    )
    print(f"kserve {v.get('kserve') or 'n/a'}, mlserver {v.get('mlserver') or 'n/a'}")
    print(f"loadavg before {load_before}, after {document['meta']['loadavg_after']}")
    if revision["app_sha256"] != document["meta"]["service_revision_after"]["app_sha256"]:
        print("warning: app/ changed during the run, so the servers ran different code: rerun", file=sys.stderr)
    elif revision["app_dirty"]:
        print("note: app/ has uncommitted changes; they were measured", file=sys.stderr)
    print(f"wrote {settings.out} in {runtime:.0f} s (server logs: {logs})")
    failed = [row["key"] for row in rows if row["result"] == "FAIL"]
    if failed:
        print(f"targets failed: {', '.join(failed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
