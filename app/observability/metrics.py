"""Prometheus metrics of the service, correct with one worker or several.

With several workers the console command points `PROMETHEUS_MULTIPROC_DIR` at a fresh directory
before any worker imports prometheus_client, so every worker writes its values there and
`/metrics`, whichever worker answers it, adds them up (`collect`). Label values are bounded: the
activation is a canonical catalogue name or `unknown`, the endpoint one of a fixed set.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from bisect import bisect_left
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
FLUSH_INTERVAL_S = 1.0

_LABELS = ("endpoint", "activation", "status")
REQUESTS = Counter("activation_requests_total", "HTTP requests answered, by endpoint, activation and status.", _LABELS)
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_UPPER_BOUNDS = (*_BUCKETS, float("inf"))
LATENCY = Histogram(
    "activation_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by endpoint, activation and status.",
    _LABELS,
    buckets=_BUCKETS,
)
ELEMENTS = Counter(
    "activation_elements_total", "Tensor elements computed (result elements), by endpoint and activation.", _LABELS[:2]
)
IN_FLIGHT = Gauge(
    "activation_requests_in_flight", "Requests being served (summed over live workers).", multiprocess_mode="livesum"
)


class RequestMetrics:
    """Records answered requests: counted in plain Python, handed to prometheus_client in batches.

    A request costs a few dict and list operations instead of prometheus_client's six locked
    increments (a tenth of a small request's time). The batch goes to the metrics at every
    `/metrics` this worker answers (`collect` flushes first, so its own counts are exact) and
    at most `FLUSH_INTERVAL_S` after a request, so with several workers a scrape sees the other
    workers' requests at most that much later. `in_flight` (requests being served) goes to its
    gauge at the same moments.
    """

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram, Counter]] = {}
        # (endpoint, activation, status) -> [requests, seconds, elements, per-bucket counts]
        self._pending: dict[tuple[str, str, int], list[Any]] = {}
        self._flush_due = False
        self.in_flight = 0
        _RECORDERS.add(self)

    def record(self, endpoint: str, activation: str, status: int, seconds: float, elements: int) -> None:
        key = (endpoint, activation, status)
        entry = self._pending.get(key)
        if entry is None:
            entry = self._pending[key] = [0, 0.0, 0, [0] * len(_UPPER_BOUNDS)]
        entry[0] += 1
        entry[1] += seconds
        entry[2] += elements
        entry[3][bisect_left(_UPPER_BOUNDS, seconds)] += 1  # the bucket Histogram.observe would count
        if not self._flush_due:
            try:
                asyncio.get_running_loop().call_later(FLUSH_INTERVAL_S, self.flush)
            except RuntimeError:  # no event loop (a direct call): no batch to wait for
                self.flush()
                return
            self._flush_due = True

    def flush(self) -> None:
        """Hand the pending counts to prometheus_client."""
        pending, self._pending, self._flush_due = self._pending, {}, False
        IN_FLIGHT.set(sum(recorder.in_flight for recorder in list(_RECORDERS)))  # one app per process, but tests
        for key, (count, seconds, elements, buckets) in pending.items():
            requests, latency, computed = self._labelled(key)
            requests.inc(count)
            # Histogram.observe, summed: the sum, then each bucket its count (prometheus_client
            # keeps per-bucket counts and makes them cumulative when it exposes them).
            latency._sum.inc(seconds)
            for bucket, n in zip(latency._buckets, buckets, strict=True):
                if n:
                    bucket.inc(n)
            if elements:
                computed.inc(elements)

    def _labelled(self, key: tuple[str, str, int]) -> tuple[Counter, Histogram, Counter]:
        children = self._children.get(key)
        if children is None:
            endpoint, activation, status = key
            labels = (endpoint, activation, str(status))
            children = (REQUESTS.labels(*labels), LATENCY.labels(*labels), ELEMENTS.labels(endpoint, activation))
            self._children[key] = children
        return children


_RECORDERS: weakref.WeakSet[RequestMetrics] = weakref.WeakSet()


def collect() -> bytes:
    """The text exposition of every metric, summed over workers in multiprocess mode."""
    for recorder in list(_RECORDERS):
        recorder.flush()
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()
