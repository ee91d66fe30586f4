"""Sustained load on a real server (SPEC section 7): every request answered, memory flat.

60 s of closed-loop concurrent load from an async httpx client on one worker with the default
settings: a mix of small and large JSON requests, npy both ways, gzip bodies, gradients, KServe
v2 JSON and binary, and client errors (400, 404, 413, 422). Every request must get the status
its kind expects, with its shape where it has one, and the worker's resident memory at the end
must be within 10% of what it was after the warm-up (largest sample of each window, so one
large request in flight weighs the same in both). Marked slow: `-m "not slow"` deselects it.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest

from tests.servers import rss_bytes, server_process

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

DURATION_S = 60.0
WARM_UP_S = 15.0
WINDOW_S = 10.0  # RSS windows: the last WINDOW_S of the warm-up, the last WINDOW_S of the run
CONCURRENCY = 8
REQUEST_TIMEOUT_S = 10.0  # a hang guard, not a speed requirement
MAX_RSS_GROWTH = 0.10


@dataclass(frozen=True)
class Call:
    kind: str
    path: str
    body: bytes
    headers: dict[str, str]
    status: int
    shape: str | None = None  # expected X-Shape of a 200


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def mixed_calls() -> list[Call]:
    rng = np.random.default_rng(7)
    small = orjson.dumps({"x": rng.standard_normal((1, 8)).tolist()})
    medium = orjson.dumps({"x": rng.standard_normal((64, 64)).tolist(), "axis": -1})
    large = orjson.dumps({"x": rng.standard_normal((400, 400)).astype(np.float32).tolist()})  # threaded path
    npy_body = _npy(rng.standard_normal((256, 256)).astype(np.float32))
    v2_json = orjson.dumps({"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": list(range(8))}]})
    raw = rng.standard_normal((32, 32)).astype("<f4").tobytes()
    v2_header = orjson.dumps(
        {
            "inputs": [
                {"name": "x", "shape": [32, 32], "datatype": "FP32", "parameters": {"binary_data_size": len(raw)}}
            ],
            "parameters": {"binary_data_output": True},
        }
    )
    json_type = {"content-type": "application/json"}
    npy_type = {"content-type": "application/x-npy"}
    gzipped = {"content-encoding": "gzip"}
    calls = [
        Call("small", "/activate/relu", small, json_type, 200, "1,8"),
        Call("small-gelu", "/activate/gelu", small, json_type, 200, "1,8"),
        Call("medium-softmax", "/activate/softmax", medium, json_type, 200, "64,64"),
        Call("large-json", "/activate/swish", large, json_type, 200, "400,400"),
        Call("npy", "/activate/tanh", npy_body, {**npy_type, "accept": "application/x-npy"}, 200, "256,256"),
        Call("gzip", "/activate/log_softmax", gzip.compress(medium), {**json_type, **gzipped}, 200, "64,64"),
        Call("gradient", "/gradient/mish", small, json_type, 200, "1,8"),
        Call("v2-json", "/v2/models/relu/infer", v2_json, {}, 200, "2,4"),
        Call(
            "v2-binary",
            "/v2/models/sigmoid/infer",
            v2_header + raw,
            {"inference-header-content-length": str(len(v2_header))},
            200,
            "32,32",
        ),
        Call("unknown-404", "/activate/rleu", small, json_type, 404),
        Call("ragged-422", "/activate/relu", b'{"x": [[1, 2], [3]]}', json_type, 422),
        Call("malformed-400", "/activate/relu", b'{"x": [1, 2', json_type, 400),
        # The element limit: a small body that claims more elements than allowed.
        Call("npy-413", "/activate/relu", _npy_claiming(2**27), npy_type, 413),
    ]
    # Small requests dominate real traffic.
    return calls + [calls[0]] * 6 + [calls[7]] * 2


def _npy_claiming(elements: int) -> bytes:
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({elements},), }}".encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


async def drive(base: str, pid: int, calls: list[Call]) -> tuple[Counter[str], list[str], list[tuple[float, int]]]:
    answered: Counter[str] = Counter()
    failures: list[str] = []
    samples: list[tuple[float, int]] = []
    started = time.monotonic()
    stop = started + DURATION_S
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)

    async def worker(client: httpx.AsyncClient, offset: int) -> None:
        index = offset
        while time.monotonic() < stop:
            call = calls[index % len(calls)]
            index += 1
            try:
                response = await client.post(call.path, content=call.body, headers=call.headers)
            except httpx.HTTPError as exc:
                failures.append(f"{call.kind}: {type(exc).__name__}")
                continue
            if response.status_code != call.status or (call.shape and response.headers.get("x-shape") != call.shape):
                failures.append(f"{call.kind}: {response.status_code} {response.text[:120]}")
            else:
                answered[call.kind] += 1

    async def sampler() -> None:
        while time.monotonic() < stop:
            samples.append((time.monotonic() - started, rss_bytes(pid)))
            await asyncio.sleep(0.5)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=REQUEST_TIMEOUT_S) as client:
        await asyncio.gather(sampler(), *(worker(client, n * 3) for n in range(CONCURRENCY)))
    return answered, failures, samples


def test_sixty_seconds_of_mixed_load_every_request_answered_and_memory_flat(tmp_path: Path) -> None:
    calls = mixed_calls()
    with server_process(tmp_path) as server:
        answered, failures, samples = asyncio.run(drive(server.base, server.process.pid, calls))
        assert server.process.poll() is None, "the worker died under load"
        assert httpx.get(f"{server.base}/healthz", timeout=REQUEST_TIMEOUT_S).status_code == 200
    assert not failures, f"{len(failures)} failed, first ones: {failures[:10]}"
    assert set(answered) == {call.kind for call in calls}
    total = sum(answered.values())
    warm = max(rss for t, rss in samples if WARM_UP_S - WINDOW_S <= t < WARM_UP_S)
    final = max(rss for t, rss in samples if t >= DURATION_S - WINDOW_S)
    print(
        f"\nload: {total} requests in {DURATION_S:.0f} s ({total / DURATION_S:.0f}/s) at concurrency {CONCURRENCY}, "
        f"0 failed; RSS after warm-up {warm / 2**20:.1f} MiB, at the end {final / 2**20:.1f} MiB "
        f"({(final / warm - 1) * 100:+.1f}%); by kind: {dict(answered)}"
    )
    assert final <= warm * (1 + MAX_RSS_GROWTH), f"RSS grew from {warm} to {final} bytes"
