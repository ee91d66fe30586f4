"""Reading request bodies within the limits, and content negotiation.

The body limit applies to the decompressed size: a Content-Length over it is refused before a
byte is read, a chunked or compressed body is cut off as soon as it passes it, so neither an
endless stream nor a gzip bomb is ever buffered whole. Under the admission layer
(`app.api.admission`) the body is charged to the worker's byte budget (503 beyond it, before
reading when Content-Length tells) and must arrive within the body timeout (408).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Literal

from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive, Scope

from app.api.admission import CURRENT_TICKET, RequestTimeout
from app.errors import MalformedBody, NotAcceptable, PayloadTooLarge, UnsupportedMediaType

BodyFormat = Literal["json", "npy"]

JSON_TYPE = "application/json"
NPY_TYPE = "application/x-npy"
_FORM = "application/x-www-form-urlencoded"

_DECOMPRESSORS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes (ACTIVATIONS_MAX_BODY_BYTES).")


@dataclass(slots=True)
class RequestHead:
    """The request headers that body reading and content negotiation need, in one pass over the scope."""

    content_type: str | None = None
    content_length: str | None = None
    content_encoding: str | None = None
    accept: str | None = None
    accept_encoding: str | None = None
    inference_header_length: str | None = None  # KServe v2's Inference-Header-Content-Length

    @classmethod
    def of(cls, scope: Scope) -> RequestHead:
        head = cls()
        for name, value in scope["headers"]:
            if name == b"content-type":
                head.content_type = value.decode("latin-1")
            elif name == b"content-length":
                head.content_length = value.decode("latin-1")
            elif name == b"content-encoding":
                head.content_encoding = value.decode("latin-1")
            elif name == b"accept":
                head.accept = value.decode("latin-1")
            elif name == b"accept-encoding":
                head.accept_encoding = value.decode("latin-1")
            elif name == b"inference-header-content-length":
                head.inference_header_length = value.decode("latin-1")
        return head


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The (decompressed) body of a Starlette request, refused with 413 once it exceeds `max_bytes`."""
    return await receive_body(request.receive, RequestHead.of(request.scope), max_bytes)


async def receive_body(receive: Receive, head: RequestHead, max_bytes: int) -> bytes:
    """The (decompressed) request body, refused with 413 as soon as it exceeds `max_bytes`.

    Raises ClientDisconnect when the client goes away before the body is complete.
    """
    declared = head.content_length
    size = int(declared) if declared is not None and declared.isdigit() else 0
    if size > max_bytes:
        raise _too_large(max_bytes)
    ticket = CURRENT_TICKET.get()
    if ticket is None:
        return await _receive_body(receive, head, max_bytes)
    admission = ticket.admission
    if size:
        admission.charge(ticket, size)
    task = admission.watch_body()
    try:
        # Chunked and compressed bodies are charged as they grow, not once whole: otherwise every
        # slot could buffer up to the body limit before the byte budget sees any of it.
        body = await _receive_body(receive, head, max_bytes, lambda size: admission.charge(ticket, size))
    except asyncio.CancelledError:
        if admission.unwatch_body(task):
            seconds = admission.body_timeout_s
            raise RequestTimeout(
                f"The request body did not arrive within {seconds:g} s (ACTIVATIONS_BODY_TIMEOUT_S)."
            ) from None
        raise
    except BaseException:
        admission.unwatch_body(task)
        raise
    admission.unwatch_body(task)
    if len(body) > size:  # chunked, compressed, or longer than declared
        admission.charge(ticket, len(body))
    return body


def _no_charge(size: int) -> None:
    """Outside admission control (no ticket) nothing is charged."""


async def _receive_body(
    receive: Receive, head: RequestHead, max_bytes: int, charge: Callable[[int], None] = _no_charge
) -> bytes:
    """The body; `charge(bytes so far)` is called as a body in several parts grows (503 past the budget)."""
    encoding = (head.content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        message = await receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            body: bytes = message.get("body", b"")  # the whole body in one message: the common case
            if len(body) > max_bytes:
                raise _too_large(max_bytes)
            return body
        chunks, size = [], 0
        async for chunk in _chunks(receive, message):
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(max_bytes)
            charge(size)
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)  # one copy of a large body
    if encoding not in _DECOMPRESSORS:
        raise UnsupportedMediaType(f"Content-Encoding '{encoding[:40]}' is not supported; use gzip or deflate.")
    return await _read_compressed(_chunks(receive, await receive()), encoding, max_bytes, charge)


async def _chunks(receive: Receive, message: Message) -> AsyncIterator[bytes]:
    """The body chunks, starting from the `message` already received."""
    while True:
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        if message["type"] == "http.request":
            body = message.get("body", b"")
            if body:
                yield body
            if not message.get("more_body", False):
                return
        message = await receive()


async def _read_compressed(
    chunks: AsyncIterator[bytes], encoding: str, max_bytes: int, charge: Callable[[int], None] = _no_charge
) -> bytes:
    """Inflate while reading, never more than `max_bytes` + 1 bytes at a time (no gzip bomb).

    A gzip body may hold several members (RFC 1952); anything else after the end of the stream
    is a corrupt body, not something to drop silently.
    """
    decompressor = zlib.decompressobj(_DECOMPRESSORS[encoding])
    out = bytearray()
    raw_deflate_tried = False
    async for chunk in chunks:
        data = chunk
        while data:
            if decompressor.eof:
                if not data.startswith(b"\x1f\x8b"[: len(data)]) or encoding == "deflate":
                    raise MalformedBody(f"The {encoding} request body has data after its end.")
                decompressor = zlib.decompressobj(_DECOMPRESSORS[encoding])
            try:
                out += decompressor.decompress(data, max_bytes + 1 - len(out))
            except zlib.error:
                # "deflate" is zlib-wrapped by the RFC, but some clients send raw deflate.
                if encoding == "deflate" and not raw_deflate_tried and not out:
                    raw_deflate_tried = True
                    decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise MalformedBody(f"The {encoding} request body is corrupt.") from None
            if len(out) > max_bytes:
                raise _too_large(max_bytes)
            charge(len(out))
            data = decompressor.unconsumed_tail or decompressor.unused_data
    if not decompressor.eof:
        raise MalformedBody(f"The {encoding} request body is truncated.")
    return bytes(out)


def request_format(content_type: str | None) -> BodyFormat:
    """JSON (also when Content-Type is missing) or npy; anything else is a 415."""
    if not content_type:
        return "json"
    media = content_type.split(";", 1)[0].strip().lower()
    if media == JSON_TYPE or (media.startswith("application/") and media.endswith("+json")):
        return "json"
    if media == NPY_TYPE:
        return "npy"
    hint = " (curl -d sends this type: add -H 'content-type: application/json')" if media == _FORM else ""
    raise UnsupportedMediaType(f"Content-Type '{media[:60]}' is not supported{hint}; send {JSON_TYPE} or {NPY_TYPE}.")


def response_format(accept: str | None, *, npy: bool = True) -> BodyFormat:
    """The best of JSON and npy for an Accept header (JSON when absent or tied); 406 if neither.

    As RFC 9110 says, each type takes the quality of the most specific range that covers it.
    `npy=False` leaves npy out (bfloat16 results, which npy cannot carry).
    """
    if not accept or not accept.strip():
        return "json"
    ranges = []
    for part in accept.split(","):
        fields = part.split(";")
        quality = 1.0
        for param in fields[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges.append((fields[0].strip().lower(), quality))
    scores: dict[BodyFormat, float] = {}
    for candidate, full in (("json", JSON_TYPE), ("npy", NPY_TYPE)):
        matching = [(specificity, q) for media, q in ranges if (specificity := _matches(media, full)) >= 0]
        if matching:
            scores[candidate] = max(matching)[1]  # type: ignore[index]
    if not npy and scores.pop("npy", 0.0) > 0 and scores.get("json", 0.0) <= 0:
        raise NotAcceptable("npy has no bfloat16: accept application/json, or use KServe v2 binary.")
    best = max(scores.values(), default=0.0)
    if best <= 0:
        raise NotAcceptable(f"Cannot produce any of '{accept[:100]}'; available: {JSON_TYPE}, {NPY_TYPE}.")
    return "json" if scores.get("json", 0.0) == best else "npy"


def _matches(media_range: str, media_type: str) -> int:
    """-1 if the range does not cover the type, else its specificity (0 */*, 1 type/*, 2 exact)."""
    if media_range == "*/*":
        return 0
    if media_range == media_type:
        return 2
    kind, _, sub = media_range.partition("/")
    if sub == "*" and media_type.startswith(kind + "/"):
        return 1
    if media_range == "application/problem+json" and media_type == JSON_TYPE:
        return 1
    return -1
