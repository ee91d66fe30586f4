"""Response compression.

`GZipWhenAccepted`: Starlette's GZipMiddleware, entered only by clients that accept gzip.
Starlette wraps every response (an identity responder when the client does not accept gzip);
on a small request that wrapper costs more than computing the activation. Clients that do not
ask for gzip get the response straight from the app.

KServe v2 routes (`/v2...`) are left alone: as Triton does, only a successful inference
response is compressed, in gzip or deflate, by its endpoint (`compress_body`). tritonclient's
async client sends aiohttp's default `Accept-Encoding: gzip, deflate` but does not inflate
metadata or error bodies, so those must stay plain.
"""

from __future__ import annotations

import zlib

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import Receive, Scope, Send

from app.api.problems import is_v2_path

# Level 1: level 9 costs more time than it saves on float payloads.
COMPRESS_LEVEL = 1
# Smaller bodies are sent as they are: compressing them saves less than it costs.
MIN_COMPRESS_BYTES = 1024


class GZipWhenAccepted(GZipMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            is_v2_path(scope.get("path", ""))
            or not any(name == b"accept-encoding" and b"gzip" in value.lower() for name, value in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def accepted_encoding(accept_encoding: str | None) -> str | None:
    """ "gzip" or "deflate" (gzip first when both are equally welcome), or None for identity."""
    if not accept_encoding:
        return None
    qualities: dict[str, float] = {}
    for part in accept_encoding.split(","):
        coding, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        qualities[coding.lower()] = quality
    star = qualities.get("*", 0.0)
    best = max(("gzip", "deflate"), key=lambda coding: qualities.get(coding, star))
    return best if qualities.get(best, star) > 0 else None


def compress_body(body: bytes, encoding: str) -> bytes:
    """`body` as a gzip member or a zlib stream (HTTP's "deflate", RFC 9110 section 8.4.1.2)."""
    if encoding == "gzip":
        compressor = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    else:
        compressor = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS)
    return compressor.compress(body) + compressor.flush()
