"""The ASGI front: the tensor endpoints straight to their handlers, everything else to FastAPI.

On a small request FastAPI's middleware stack and router cost more than decoding, computing and
encoding the tensor (SPEC section 6), so the hot paths skip them: `POST /activate/{name}` and
`POST /v2/models/{name}[/versions/{version}]/infer`. They answer exactly as the FastAPI routes
would: the same handlers, errors mapped by the same functions. Other methods on the same paths
(405) and every other route go through FastAPI.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.body import RequestHead
from app.api.problems import internal_error_response, service_error_response
from app.api.routes import v2
from app.api.routes.activate import activate_tensor
from app.core.config import Settings
from app.errors import ServiceError

_ACTIVATE = "/activate/"
_MODELS, _INFER = "/v2/models/", "/infer"


def infer_path_params(path: str) -> dict[str, str] | None:
    """`name` (and `version`) of a v2 infer path, None for any other path."""
    if not (path.startswith(_MODELS) and path.endswith(_INFER)):
        return None
    parts = path[len(_MODELS) : -len(_INFER)].split("/")
    if len(parts) == 1 and parts[0]:
        return {"name": parts[0]}
    if len(parts) == 3 and parts[0] and parts[1] == "versions" and parts[2]:
        return {"name": parts[0], "version": parts[2]}
    return None


class HotPathFront:
    """An ASGI app that serves the tensor endpoints itself and delegates the rest to `api`."""

    def __init__(self, api: FastAPI) -> None:
        self.api = api
        self.settings: Settings = api.state.settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.api(scope, receive, send)
            return
        path: str = scope["path"]
        response: ASGIApp
        if path.startswith(_ACTIVATE) and len(path) > len(_ACTIVATE) and "/" not in path[len(_ACTIVATE) :]:
            try:
                response = await activate_tensor(
                    path[len(_ACTIVATE) :], RequestHead.of(scope), receive, scope["query_string"], self.settings
                )
            except ServiceError as exc:
                response = service_error_response(exc)
            except ClientDisconnect:
                return  # nobody to answer
            except Exception:
                response = internal_error_response(Request(scope))
        elif (params := infer_path_params(path)) is not None:
            try:
                response = await v2.infer_tensor(params, RequestHead.of(scope), receive, self.settings)
            except ClientDisconnect:
                return
            except Exception:
                response = internal_error_response(Request(scope))
        else:
            await self.api(scope, receive, send)
            return
        await response(scope, receive, send)
