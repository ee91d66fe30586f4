"""The ASGI front: `POST /activate/{name}` straight to its endpoint, everything else to FastAPI.

On a small request FastAPI's middleware stack and router cost more than decoding, computing and
encoding the tensor (SPEC section 6), so the hot path skips them. It answers exactly as the
FastAPI route would: the same endpoint work, errors mapped to problem details by the same
functions. Other methods on the same path (405) and every other route go through FastAPI.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.body import RequestHead
from app.api.problems import internal_error_response, service_error_response
from app.api.routes.activate import activate_tensor
from app.core.config import Settings
from app.errors import ServiceError

_PREFIX = "/activate/"


class HotPathFront:
    """An ASGI app that serves the activate endpoint itself and delegates the rest to `api`."""

    def __init__(self, api: FastAPI) -> None:
        self.api = api
        self.settings: Settings = api.state.settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and path.startswith(_PREFIX)
            and len(path) > len(_PREFIX)
            and "/" not in path[len(_PREFIX) :]
        ):
            response: ASGIApp
            try:
                response = await activate_tensor(
                    path[len(_PREFIX) :], RequestHead.of(scope), receive, scope["query_string"], self.settings
                )
            except ServiceError as exc:
                response = service_error_response(exc)
            except ClientDisconnect:
                return  # nobody to answer
            except Exception:
                response = internal_error_response(Request(scope))
            await response(scope, receive, send)
            return
        await self.api(scope, receive, send)
