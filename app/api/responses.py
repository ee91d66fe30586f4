"""A response that is only bytes and headers, for the endpoints that carry tensors.

Starlette's `Response` builds and checks its header list for every instance, which on a small
request costs as much as computing the activation; the tensor endpoints know their headers, so
they send the two ASGI messages themselves.
"""

from __future__ import annotations

import numpy as np
from starlette.types import Receive, Scope, Send


class BytesResponse:
    """An ASGI response with a complete body; `headers` as ASGI has them (lower-case names, bytes)."""

    __slots__ = ("body", "headers", "status_code")

    def __init__(
        self, body: bytes, media_type: bytes, headers: list[tuple[bytes, bytes]], status_code: int = 200
    ) -> None:
        self.body = body
        self.status_code = status_code
        self.headers = [(b"content-type", media_type), (b"content-length", b"%d" % len(body)), *headers]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def tensor_headers(y: np.ndarray, dtype: str) -> list[tuple[bytes, bytes]]:
    """`X-Shape` (e.g. `2,3`; empty for a scalar) and `X-Dtype` of a result tensor."""
    return [(b"x-shape", ",".join(map(str, y.shape)).encode()), (b"x-dtype", dtype.encode())]
