"""The ASGI front: `POST /activate/{name}` straight to its endpoint, everything else to FastAPI.

On a small request FastAPI's middleware stack and router cost more than decoding, computing and
encoding the tensor (SPEC section 6), so the hot path skips them. It answers exactly as the
FastAPI route would: the same endpoint, errors mapped to problem details by the same functions.
Other methods on the same path (405) and every other route go through FastAPI.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from app.api.problems import internal_error_response, service_error_response
from app.api.routes.activate import activate
from app.errors import ServiceError

_PREFIX = "/activate/"


class HotPathFront:
    """An ASGI app that serves the activate endpoint itself and delegates the rest to `api`."""

    def __init__(self, api: FastAPI) -> None:
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and path.startswith(_PREFIX)
            and len(path) > len(_PREFIX)
            and "/" not in path[len(_PREFIX) :]
        ):
            scope["app"] = self.api
            scope["path_params"] = {"name": path[len(_PREFIX) :]}
            request = Request(scope, receive)
            try:
                response = await activate(request)
            except ServiceError as exc:
                response = service_error_response(exc)
            except Exception:
                response = internal_error_response(request)
            await response(scope, receive, send)
            return
        await self.api(scope, receive, send)
