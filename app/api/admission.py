"""Admission control: how much work one worker takes on, and how long each request may take.

- At most `max_in_flight` requests are in work per worker, and at most `max_in_flight_bytes` bytes
  of request bodies (charged as soon as Content-Length tells, and as a chunked or compressed body
  grows, up to its decompressed size). Beyond either a request is answered 503 with `Retry-After`
  at once, before (the rest of) its body is read. A request alone is always admitted (the body
  limits still apply), so the byte budget never refuses what the service could serve.
- The budget bounds memory because a request's peak is at most a measured factor of its
  (decompressed) body: 85 bytes per body byte at worst, JSON of `0,` as float64; npy 20, JSON of
  typical floats 5 to 8 (`bench/memory_per_byte.py`). Charging body bytes costs one comparison and
  two additions per request; the factor lives in the budget (default 144 MiB: 85 x 144 MiB is
  what the largest single request within the limits takes anyway), not in a per-request estimate.
- Health probes and `/metrics` are never counted nor refused: an orchestrator must see a busy
  worker as alive.
- The body of a request must arrive within `body_timeout_s` (408, connection closed): uvicorn has
  no body timeout, and a client that trickles its body would otherwise hold a slot for ever. A
  watchdog task per worker checks the bodies being read about four times per timeout, so a
  request pays two dict operations for it, not a timer.
- Work sent to a thread (`run_off_loop`: large bodies) must finish within `compute_deadline_s`,
  else the request is answered 503. A thread cannot be stopped: it runs to its end, and the
  request keeps counting against both budgets until it does, so abandoned work cannot pile up.
  Small requests are computed on the event loop in well under a millisecond; no deadline there.

The state is per worker process (one event loop); the counters are touched only on the loop.
"""

from __future__ import annotations

import asyncio
import threading
from asyncio import current_task
from collections.abc import Callable
from contextlib import suppress
from contextvars import Context, ContextVar
from time import monotonic
from typing import TypeVar

import orjson
from anyio import move_on_after, to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.problems import PROBLEM_JSON, PROBLEM_TYPES, RETRY_AFTER_S, is_v2_path
from app.api.responses import BytesResponse
from app.api.security import PROBE_PATHS, PROBE_PREFIXES
from app.errors import ServiceError

T = TypeVar("T")


class Overloaded(ServiceError):
    status, kind, title = 503, "overloaded", "Too much work in flight"


class DeadlineExceeded(ServiceError):
    status, kind, title = 503, "deadline-exceeded", "Compute deadline exceeded"


class RequestTimeout(ServiceError):
    status, kind, title = 408, "request-timeout", "Request body too slow"


class Ticket:
    """One admitted request: the body bytes charged to it, and who still holds it (the request, a thread)."""

    __slots__ = ("admission", "bytes", "holders")

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self.bytes = 0
        self.holders = 1

    def release(self) -> None:
        """One holder is done; the last one gives the slot and the bytes back."""
        self.holders -= 1
        if self.holders == 0:
            self.admission.requests -= 1
            self.admission.bytes -= self.bytes


CURRENT_TICKET: ContextVar[Ticket | None] = ContextVar("activations_ticket", default=None)


class Admission:
    """ASGI middleware: counts the requests and body bytes in work and refuses those beyond the caps."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_in_flight: int,
        max_in_flight_bytes: int,
        compute_deadline_s: float,
        body_timeout_s: float,
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.max_in_flight_bytes = max_in_flight_bytes
        self.compute_deadline_s = compute_deadline_s
        self.body_timeout_s = body_timeout_s
        self.requests = 0
        self.bytes = 0
        # Tasks reading a body -> when they must have finished; tasks the watchdog cancelled.
        self.reading: dict[asyncio.Task[object], float] = {}
        self.expired: set[asyncio.Task[object]] = set()
        self._watchdog: asyncio.Task[None] | None = None
        native = orjson.dumps(
            {
                "type": "/problems/overloaded",
                "title": PROBLEM_TYPES["overloaded"][1],
                "status": 503,
                "detail": f"The worker has too much work in flight; retry in {RETRY_AFTER_S} s.",
            }
        )
        v2 = orjson.dumps({"error": f"The worker has too much work in flight; retry in {RETRY_AFTER_S} s."})
        self._refusals = {False: _precomputed(native, PROBLEM_JSON), True: _precomputed(v2, "application/json")}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBE_PATHS or scope["path"].startswith(PROBE_PREFIXES):
            await self.app(scope, receive, send)
            return
        if self.requests >= self.max_in_flight:
            await self._refusals[is_v2_path(scope["path"])](scope, receive, send)
            return
        self.requests += 1
        ticket = Ticket(self)
        token = CURRENT_TICKET.set(ticket)
        try:
            await self.app(scope, receive, send)
        finally:
            CURRENT_TICKET.reset(token)
            ticket.release()

    def charge(self, ticket: Ticket, size: int) -> None:
        """Charge `ticket` up to `size` body bytes; 503 when others hold bytes and this passes the budget."""
        extra = size - ticket.bytes
        if extra <= 0:
            return
        if self.bytes > ticket.bytes and self.bytes + extra > self.max_in_flight_bytes:
            raise Overloaded(
                f"The worker has too many request bytes in work (ACTIVATIONS_MAX_IN_FLIGHT_BYTES); "
                f"retry in {RETRY_AFTER_S} s."
            )
        ticket.bytes += extra
        self.bytes += extra

    # --- body timeout ------------------------------------------------------------------------

    def watch_body(self) -> asyncio.Task[object] | None:
        """Start the body clock of the current task; the watchdog cancels it when time is up."""
        task = current_task()
        if task is None:
            return None
        self.reading[task] = monotonic() + self.body_timeout_s
        if self._watchdog is None:
            # A context of its own: the watchdog outlives the request that happens to start it.
            self._watchdog = asyncio.get_running_loop().create_task(self._watch(), context=Context())
        return task

    def unwatch_body(self, task: asyncio.Task[object] | None) -> bool:
        """Stop the clock of `task`; True when the watchdog had cancelled it (the body was too slow)."""
        if task is None:
            return False
        self.reading.pop(task, None)
        if self.expired and task in self.expired:
            self.expired.discard(task)
            task.uncancel()
            return True
        return False

    async def _watch(self) -> None:
        """Cancel the tasks whose body is late, about four times per timeout, while bodies are being read."""
        interval = min(1.0, self.body_timeout_s / 4)
        try:
            while self.reading:
                await asyncio.sleep(interval)
                now = monotonic()
                for task, deadline in list(self.reading.items()):
                    if deadline <= now and task not in self.expired:
                        self.expired.add(task)
                        task.cancel()
        finally:
            self._watchdog = None


def _precomputed(body: bytes, media_type: str) -> BytesResponse:
    # The body was not read: closing spares the client sending it for nothing.
    headers = [(b"retry-after", str(RETRY_AFTER_S).encode()), (b"connection", b"close")]
    return BytesResponse(body, media_type.encode(), headers, status_code=503)


async def run_off_loop(func: Callable[..., T], *args: object) -> T:
    """`func(*args)` in a worker thread, answered 503 past the compute deadline.

    The request holds its admission ticket until the thread ends, even when it has been answered:
    a thread cannot be stopped, and its memory and CPU are still in use.
    """
    ticket = CURRENT_TICKET.get()
    if ticket is None:
        return await to_thread.run_sync(func, *args)
    loop = asyncio.get_running_loop()
    lock = threading.Lock()
    state = {"started": False, "abandoned": False}
    ticket.holders += 1

    def work() -> T:
        with lock:
            if state["abandoned"]:
                raise DeadlineExceeded("abandoned before it started")
            state["started"] = True
        try:
            return func(*args)
        finally:
            with suppress(RuntimeError):  # the loop is closed: the worker is exiting
                loop.call_soon_threadsafe(ticket.release)

    with move_on_after(ticket.admission.compute_deadline_s):
        return await to_thread.run_sync(work, abandon_on_cancel=True)
    with lock:
        if not state["started"]:
            state["abandoned"] = True
            ticket.release()
    seconds = ticket.admission.compute_deadline_s
    raise DeadlineExceeded(
        f"The request took more than its compute deadline of {seconds:g} s (ACTIVATIONS_COMPUTE_DEADLINE_S); "
        "send a smaller tensor or split it."
    )
