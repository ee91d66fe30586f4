"""Prometheus metrics: what an operator reads at /metrics after known traffic."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from app.api.instrumentation import route_labels
from app.observability.metrics import FLUSH_INTERVAL_S, RequestMetrics, collect
from tests.servers import running_server


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.parametrize(
    ("path", "labels"),
    [
        ("/activate/relu", ("activate", "relu")),
        ("/activate/silu", ("activate", "swish")),
        ("/activate/nope", ("activate", "unknown")),
        ("/activate/custom", ("activate", "custom")),
        ("/gradient/LeakyReLU", ("gradient", "LeakyReLU")),
        ("/v2/models/hard_swish/infer", ("v2_infer", "hard_silu")),
        ("/v2/models/relu/versions/1/infer", ("v2_infer", "relu")),
        ("/v2/models/relu", ("v2", "relu")),
        ("/v2/health/live", ("v2", "-")),
        ("/healthz", ("health", "-")),
        ("/metrics", ("metrics", "-")),
        ("/activations/relu", ("catalogue", "-")),
        ("/wp-login.php", ("other", "-")),
    ],
)
def test_requests_are_labelled_by_endpoint_and_canonical_activation(path: str, labels: tuple[str, str]) -> None:
    assert route_labels(path) == labels


def test_requests_latency_and_elements_are_counted(client: TestClient) -> None:
    before = client.get("/metrics").text
    for _ in range(3):
        assert client.post("/activate/relu", json={"x": [[1.0, -2.0, 3.0], [4.0, 5.0, 6.0]]}).status_code == 200
    assert client.post("/activate/silu", json={"x": 0.5}).status_code == 200
    assert client.post("/activate/relu", json={"x": [[True]]}).status_code == 422
    assert client.post("/activate/no_such_thing", json={"x": [1.0]}).status_code == 404
    after = client.get("/metrics")
    assert after.status_code == 200
    assert after.headers["content-type"].startswith("text/plain")

    def delta(name: str, **labels: str) -> float:
        return value(after.text, name, **labels) - value(before, name, **labels)

    relu = {"endpoint": "activate", "activation": "relu"}
    assert delta("activation_requests_total", status="200", **relu) == 3
    assert delta("activation_requests_total", status="422", **relu) == 1
    assert delta("activation_requests_total", endpoint="activate", activation="swish", status="200") == 1
    assert delta("activation_requests_total", endpoint="activate", activation="unknown", status="404") == 1
    assert delta("activation_request_duration_seconds_count", status="200", **relu) == 3
    assert delta("activation_request_duration_seconds_bucket", status="200", le="+Inf", **relu) == 3
    assert delta("activation_elements_total", **relu) == 18  # errors compute nothing
    assert delta("activation_elements_total", endpoint="activate", activation="swish") == 1  # a scalar
    # Only this /metrics request is in flight while it is answered.
    assert value(after.text, "activation_requests_in_flight") == 1


def test_v2_inference_counts_elements(client: TestClient) -> None:
    before = client.get("/metrics").text
    body = {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    assert client.post("/v2/models/silu/infer", json=body).status_code == 200
    after = client.get("/metrics").text
    labels = {"endpoint": "v2_infer", "activation": "swish"}
    counted = value(after, "activation_elements_total", **labels) - value(before, "activation_elements_total", **labels)
    assert counted == 4


def test_metrics_can_be_turned_off(make_client: Any) -> None:
    test_client = make_client(metrics=False)
    assert test_client.get("/metrics").status_code == 404
    assert test_client.post("/activate/relu", json={"x": [1.0]}).status_code == 200


@pytest.mark.e2e
def test_several_workers_report_one_sum(tmp_path: Any) -> None:
    """With 2 workers, whichever answers /metrics reports every worker's requests."""
    with running_server(tmp_path, workers="2") as base, httpx.Client(base_url=base, timeout=10) as http:
        requests = 40
        for _ in range(requests):
            # A new connection each time, so that both workers take requests.
            response = httpx.post(f"{base}/activate/relu", json={"x": [1.0, -1.0]}, timeout=10)
            assert response.status_code == 200
        relu = {"endpoint": "activate", "activation": "relu", "status": "200"}
        # A worker hands its counts over at most FLUSH_INTERVAL_S after a request.
        time.sleep(FLUSH_INTERVAL_S + 0.5)
        for _ in range(4):  # ask several times: any worker gives the same totals
            text = http.get("/metrics", headers={"connection": "close"}).text
            assert value(text, "activation_requests_total", **relu) == requests
            assert value(text, "activation_elements_total", endpoint="activate", activation="relu") == 2 * requests


def test_batched_counts_are_what_each_observation_would_give() -> None:
    """The recorder's batches land in the buckets Histogram.observe uses (upper bounds inclusive)."""
    recorder = RequestMetrics()
    durations = [0.0, 0.0005, 0.00050001, 0.001, 0.3, 30.0, 31.0, 1e-9]
    for seconds in durations:
        recorder.record("batch-test", "relu", 200, seconds, 3)
    text = collect().decode()  # flushes first
    labels = {"endpoint": "batch-test", "activation": "relu", "status": "200"}
    assert value(text, "activation_requests_total", **labels) == len(durations)
    assert value(text, "activation_elements_total", endpoint="batch-test", activation="relu") == 3 * len(durations)
    for bound, expected in [("0.0005", 3), ("0.001", 5), ("0.25", 5), ("0.5", 6), ("30.0", 7), ("+Inf", 8)]:
        assert value(text, "activation_request_duration_seconds_bucket", **labels, le=bound) == expected
    assert value(text, "activation_request_duration_seconds_sum", **labels) == pytest.approx(sum(durations))
