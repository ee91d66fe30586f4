"""Admission control, body timeout and compute deadline (SPEC sections 3 and 7), at the ASGI level.

Requests are driven by hand so that several are in flight at once and their bodies arrive when
the test says: a request past `max_in_flight` or the byte budget is a 503 with `Retry-After`
(problem+json natively, `{"error"}` under /v2) while probes still answer; a body that does not
arrive in time is a 408 that closes the connection; work past the compute deadline is a 503,
and it keeps its slot until its thread really ends.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from app.api.admission import Admission
from app.core.config import Settings
from app.main import create_app

BODY = orjson.dumps({"x": [[-1.0, 2.0]]})
V2_BODY = orjson.dumps({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [-1, 2]}]})


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    header_names: list[str] = field(default_factory=list)  # every header line, repeats included

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Upload:
    """A request body sent in parts; `gate` holds back everything after the first part."""

    parts: list[bytes]
    gate: asyncio.Event = field(default_factory=asyncio.Event)


async def call(
    app: Callable[..., Awaitable[None]],
    path: str,
    body: bytes | Upload = b"",
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> Answer:
    upload = body if isinstance(body, Upload) else Upload([body])
    parts = list(upload.parts)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not parts:
            await asyncio.Event().wait()  # nothing more: as a client that went quiet
        if len(parts) < len(upload.parts):
            await upload.gate.wait()
        chunk = parts.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(parts)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body_bytes = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers_sent = start["headers"]
    return Answer(
        start["status"],
        {k.decode(): v.decode() for k, v in headers_sent},
        body_bytes,
        [k.decode() for k, _ in headers_sent],
    )


def admission_of(app: Any) -> Admission:
    while not isinstance(app, Admission):
        app = app.app
    return app


def stalled(body: bytes = BODY, *, declare: bool = True) -> tuple[Upload, dict[str, str]]:
    """A body whose second half waits for the gate, with or without its Content-Length."""
    half = len(body) // 2
    return Upload([body[:half], body[half:]]), {"content-length": str(len(body))} if declare else {}


def assert_overloaded(answer: Answer, v2: bool = False) -> None:
    assert answer.status == 503, answer.body
    assert answer.headers["retry-after"] == "1"
    if v2:
        assert "retry in 1 s" in answer.json()["error"]
    else:
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == "/problems/overloaded"


def test_requests_beyond_the_cap_are_refused_and_probes_still_answer() -> None:
    async def scenario() -> None:
        app = create_app(Settings(max_in_flight=2))
        admission = admission_of(app)
        uploads = [stalled() for _ in range(2)]
        pending = [asyncio.create_task(call(app, "/activate/relu", up, hdrs)) for up, hdrs in uploads]
        await asyncio.sleep(0.05)
        assert admission.requests == 2
        refused = await call(app, "/activate/relu", BODY)
        assert_overloaded(refused)
        assert refused.headers["connection"] == "close"
        assert_overloaded(await call(app, "/v2/models/relu/infer", V2_BODY), v2=True)
        assert_overloaded(await call(app, "/activations", method="GET"))
        for probe in ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/metrics"):
            assert (await call(app, probe, method="GET")).status == 200, probe
        for up, _ in uploads:
            up.gate.set()
        answers = await asyncio.gather(*pending)
        assert [a.status for a in answers] == [200, 200]
        assert admission.requests == 0 and admission.bytes == 0
        assert (await call(app, "/activate/relu", BODY)).json()["y"] == [[0.0, 2.0]]

    asyncio.run(scenario())


def test_body_bytes_beyond_the_budget_are_refused_before_the_body_is_read() -> None:
    budget = 1000
    big = b'{"x": [1, -2]' + b" " * (800 - 14) + b"}"
    medium = b'{"x": [3]' + b" " * (300 - 10) + b"}"

    async def scenario() -> None:
        app = create_app(Settings(max_in_flight_bytes=budget))
        admission = admission_of(app)
        upload, headers = stalled(big)
        first = asyncio.create_task(call(app, "/activate/relu", upload, headers))
        await asyncio.sleep(0.05)
        assert admission.bytes == 800
        # Declared: refused before a byte is read.
        assert_overloaded(await call(app, "/activate/relu", medium, {"content-length": "300"}))
        # Undeclared (chunked): charged once read, refused all the same.
        assert_overloaded(await call(app, "/activate/relu", medium))
        assert_overloaded(await call(app, "/v2/models/relu/infer", V2_BODY + b" " * 300), v2=True)
        # What fits is served meanwhile.
        assert (await call(app, "/activate/relu", BODY, {"content-length": str(len(BODY))})).status == 200
        upload.gate.set()
        assert (await first).json()["y"] == [1.0, 0.0]
        assert admission.bytes == 0
        # A request alone is never refused by the budget, only by the body limit.
        alone = b'{"x": [5]' + b" " * (5000 - 10) + b"}"
        assert (await call(app, "/activate/relu", alone, {"content-length": "5000"})).json()["y"] == [5.0]

    asyncio.run(scenario())


@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_an_undeclared_body_is_charged_as_it_grows_not_once_whole(encoding: str | None) -> None:
    """A chunked (or compressed) body passing the budget is refused while its rest has not arrived."""
    big = b'{"x": [1, -2]' + b" " * (800 - 14) + b"}"
    plain = b'{"x": [3]' + b" " * (600 - 10) + b"}"
    # Stored (level 0) gzip inflates as it arrives: its first half is already ~300 bytes.
    body = gzip.compress(plain, 0) if encoding else plain
    headers = {"content-encoding": encoding} if encoding else {}

    async def scenario() -> None:
        app = create_app(Settings(max_in_flight_bytes=1000))
        admission = admission_of(app)
        upload, first_headers = stalled(big)
        first = asyncio.create_task(call(app, "/activate/relu", upload, first_headers))
        await asyncio.sleep(0.05)
        growing, _ = stalled(body, declare=False)  # its second half never comes
        assert_overloaded(await asyncio.wait_for(call(app, "/activate/relu", growing, headers), 5))
        assert admission.bytes == 800
        upload.gate.set()
        assert (await first).json()["y"] == [1.0, 0.0]
        assert admission.requests == 0 and admission.bytes == 0

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("path", "v2"), [("/activate/relu", False), ("/gradient/relu", False), ("/v2/models/relu/infer", True)]
)
def test_a_body_that_does_not_arrive_in_time_is_a_408(path: str, v2: bool) -> None:
    async def scenario() -> None:
        app = create_app(Settings(body_timeout_s=0.3))
        admission = admission_of(app)
        upload, headers = stalled(V2_BODY if v2 else BODY)
        started = time.monotonic()
        answer = await asyncio.wait_for(call(app, path, upload, headers), timeout=10)
        assert 0.3 <= time.monotonic() - started < 10  # a hang guard, not a speed test
        assert answer.status == 408, answer.body
        assert answer.headers["connection"] == "close"
        if v2:
            assert "ACTIVATIONS_BODY_TIMEOUT_S" in answer.json()["error"]
        else:
            assert answer.json()["type"] == "/problems/request-timeout"
        assert admission.requests == 0 and not admission.reading and not admission.expired
        # The worker goes on serving, and a body that arrives is not cut off.
        assert (await call(app, path, V2_BODY if v2 else BODY)).status == 200

    asyncio.run(scenario())


def test_work_past_the_compute_deadline_is_a_503_and_keeps_its_slot_until_it_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import app.api.routes.activate as activate

    release = threading.Event()
    real = activate.compute_response

    def slow(*args: Any) -> Any:
        release.wait(10)
        return real(*args)

    monkeypatch.setattr(activate, "compute_response", slow)
    large = b'{"x": [1, -2]' + b" " * (300 * 1024) + b"}"  # large enough to be computed in a thread

    async def scenario() -> None:
        app = create_app(Settings(compute_deadline_s=0.2, max_in_flight=1))
        admission = admission_of(app)
        answer = await asyncio.wait_for(call(app, "/activate/relu", large), timeout=10)
        assert answer.status == 503, answer.body
        assert answer.headers["retry-after"] == "1"
        assert answer.json()["type"] == "/problems/deadline-exceeded"
        assert "ACTIVATIONS_COMPUTE_DEADLINE_S" in answer.json()["detail"]
        # The thread still runs: its request still counts.
        assert admission.requests == 1 and admission.bytes == len(large)
        assert_overloaded(await call(app, "/activate/relu", BODY))
        release.set()
        for _ in range(200):
            if admission.requests == 0:
                break
            await asyncio.sleep(0.05)
        assert admission.requests == 0 and admission.bytes == 0
        assert (await call(app, "/activate/relu", BODY)).status == 200

    asyncio.run(scenario())


def test_threaded_work_within_the_deadline_is_answered() -> None:
    large = orjson.dumps({"x": [[-1.0, 2.0]] * 40_000})
    assert len(large) > 256 * 1024

    async def scenario() -> None:
        app = create_app(Settings())
        answer = await call(app, "/activate/relu", large)
        assert answer.status == 200 and answer.headers["x-shape"] == "40000,2"
        assert admission_of(app).requests == 0

    asyncio.run(scenario())


def test_every_refusal_carries_its_own_headers_once() -> None:
    """The 503 is precomputed: answering it again must not pile up earlier answers' headers."""

    async def scenario() -> None:
        app = create_app(Settings(max_in_flight=1))
        upload, headers = stalled()
        pending = asyncio.create_task(call(app, "/activate/relu", upload, headers))
        await asyncio.sleep(0.05)
        refusals = [
            await call(app, path, body)
            for path, body in [("/activate/relu", BODY)] * 3 + [("/v2/models/relu/infer", V2_BODY)] * 3
        ]
        ids = {refused.headers["x-request-id"] for refused in refusals}
        assert len(ids) == len(refusals)
        for refused in refusals:
            assert_overloaded(refused, v2="error" in refused.json())
            assert sorted(refused.header_names) == sorted(set(refused.header_names)), refused.header_names
        upload.gate.set()
        assert (await pending).status == 200

    asyncio.run(scenario())
