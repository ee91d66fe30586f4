"""Prometheus metrics of the service, correct with one worker or several.

With several workers the console command points `PROMETHEUS_MULTIPROC_DIR` at a fresh directory
before any worker imports prometheus_client, so every worker writes its values there and
`/metrics`, whichever worker answers it, adds them up (`collect`). Label values are bounded: the
activation is a canonical catalogue name or `unknown`, the endpoint one of a fixed set.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

_LABELS = ("endpoint", "activation", "status")
REQUESTS = Counter("activation_requests_total", "HTTP requests answered, by endpoint, activation and status.", _LABELS)
LATENCY = Histogram(
    "activation_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by endpoint, activation and status.",
    _LABELS,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
ELEMENTS = Counter(
    "activation_elements_total", "Tensor elements computed (result elements), by endpoint and activation.", _LABELS[:2]
)
IN_FLIGHT = Gauge(
    "activation_requests_in_flight", "Requests being served (summed over live workers).", multiprocess_mode="livesum"
)


class RequestMetrics:
    """Records one answered request; the labelled children are looked up once per label set."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram, Counter]] = {}

    def record(self, endpoint: str, activation: str, status: int, seconds: float, elements: int) -> None:
        key = (endpoint, activation, status)
        children = self._children.get(key)
        if children is None:
            labels = (endpoint, activation, str(status))
            children = (REQUESTS.labels(*labels), LATENCY.labels(*labels), ELEMENTS.labels(endpoint, activation))
            self._children[key] = children
        requests, latency, computed = children
        requests.inc()
        latency.observe(seconds)
        if elements:
            computed.inc(elements)


def collect() -> bytes:
    """The text exposition of every metric, summed over workers in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()
