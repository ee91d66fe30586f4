"""Response compression: Starlette's GZipMiddleware, entered only by clients that accept gzip.

Starlette wraps every response (an identity responder when the client does not accept gzip);
on a small request that wrapper costs more than computing the activation. Clients that do not
ask for gzip get the response straight from the app.
"""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import Receive, Scope, Send


class GZipWhenAccepted(GZipMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not any(
            name == b"accept-encoding" and b"gzip" in value.lower() for name, value in scope["headers"]
        ):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
