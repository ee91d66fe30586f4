"""A burst of large tensors against the admission budget (SPEC section 7) on a real server.

Sixteen 16 MiB npy requests at once against a worker whose byte budget is 48 MiB: the worker
takes what fits and answers the others 503 with `Retry-After` before reading their bodies, so
its memory stays within a few times the budget instead of growing with the burst; every client
that retries after `Retry-After` is served.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.servers import rss_bytes, server_process

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

BUDGET = 48 * 2**20
BURST = 16
TIMEOUT_S = 30.0  # a hang guard for 16 MiB bodies on a busy machine, not a speed requirement
# A request peaks at about 3x its body for npy (README, Performance); the budget holds three bodies.
MAX_GROWTH = 4 * BUDGET


def _peak_rss(pid: int, stop: threading.Event, peaks: list[int]) -> None:
    while not stop.is_set():
        peaks.append(rss_bytes(pid))
        time.sleep(0.01)


def test_a_burst_of_large_tensors_is_held_to_the_byte_budget(tmp_path: Path) -> None:
    x = np.random.default_rng(3).standard_normal(4 * 2**20).astype(np.float32)  # 16 MiB
    buffer = io.BytesIO()
    np.save(buffer, x)
    body = buffer.getvalue()
    headers = {"content-type": "application/x-npy", "accept": "application/x-npy"}
    with server_process(tmp_path, max_in_flight_bytes=str(BUDGET), log_level="warning") as server:
        pid = server.process.pid
        httpx.post(f"{server.base}/activate/relu", content=body, headers=headers, timeout=TIMEOUT_S)  # warm-up
        idle = rss_bytes(pid)
        stop, peaks = threading.Event(), [idle]
        sampler = threading.Thread(target=_peak_rss, args=(pid, stop, peaks), daemon=True)
        sampler.start()

        async def burst() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=BURST)
            async with httpx.AsyncClient(base_url=server.base, timeout=TIMEOUT_S, limits=limits) as client:
                return await asyncio.gather(
                    *(client.post("/activate/relu", content=body, headers=headers) for _ in range(BURST))
                )

        try:
            answers = asyncio.run(burst())
        finally:
            stop.set()
            sampler.join()
        statuses = Counter(response.status_code for response in answers)
        refused = [response for response in answers if response.status_code == 503]
        retried = []
        for response in refused:
            assert response.headers["retry-after"] == "1"
            assert response.json()["type"] == "/problems/overloaded"
            time.sleep(int(response.headers["retry-after"]) / 10)
            retried.append(httpx.post(f"{server.base}/activate/relu", content=body, headers=headers, timeout=TIMEOUT_S))
        assert server.process.poll() is None
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[200] >= 1 and statuses[503] >= 1, statuses
    for response in [*answers, *retried]:
        if response.status_code == 200:
            y = np.load(io.BytesIO(response.content))
            assert y.shape == x.shape
    assert all(response.status_code == 200 for response in retried)
    growth = max(peaks) - idle
    print(f"\nburst: {dict(statuses)}; peak RSS {growth / 2**20:.0f} MiB above idle (budget {BUDGET / 2**20:.0f} MiB)")
    assert growth <= MAX_GROWTH, f"RSS grew {growth / 2**20:.0f} MiB during the burst"
