"""`GET /`: the activation explorer page, and `GET /explorer/{asset}`: its script and stylesheet.

The assets are package data (`app/static/explorer/`), read once, so `pip install .` alone serves the
page, with no network: no CDN, no web font, no build step (plain JavaScript). The page builds its
controls from `GET /activations` and plots what `POST /activate` and `POST /gradient` answer.
Responses carry an ETag and `Cache-Control: no-cache` (revalidate: a new version shows at once)
and a Content-Security-Policy that allows only the service's own origin.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from typing import NamedTuple

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from app.errors import NotFound

router = APIRouter(tags=["explorer"])

_MEDIA_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "explorer.js": "text/javascript; charset=utf-8",
    "explorer.css": "text/css; charset=utf-8",
}
PAGE_ASSETS = tuple(name for name in _MEDIA_TYPES if name != "index.html")
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class Asset(NamedTuple):
    body: bytes
    media_type: str
    etag: str


@functools.cache
def load_asset(name: str) -> Asset:
    """One file of the page, read from the package once."""
    body = resources.files("app").joinpath("static", "explorer", name).read_bytes()
    return Asset(body, _MEDIA_TYPES[name], f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def _serve(request: Request, name: str) -> Response:
    asset = load_asset(name)
    headers = {"ETag": asset.etag, "Cache-Control": "no-cache"}  # nosniff: app.api.security, on every response
    if name == "index.html":
        headers["Content-Security-Policy"] = _CSP
    tags = [tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")]
    if asset.etag in tags:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.api_route(
    "/",
    methods=["GET", "HEAD"],
    response_class=Response,
    responses={200: {"content": {"text/html": {}}, "description": "The explorer page."}},
)
def read_explorer(request: Request) -> Response:
    """The activation explorer: plot any activation, its derivative and its parameters, in the browser."""
    return _serve(request, "index.html")


@router.api_route(
    "/explorer/{asset}",
    methods=["GET", "HEAD"],
    response_class=Response,
    responses={
        200: {"content": {"text/javascript": {}, "text/css": {}}, "description": "A file of the page."},
        404: {"content": {"application/problem+json": {}}, "description": "No such file."},
    },
)
def read_explorer_asset(request: Request, asset: str) -> Response:
    """A script or stylesheet of the explorer page."""
    if asset not in PAGE_ASSETS:
        raise NotFound(f"The explorer has no file '{asset[:60]}'; it has {', '.join(PAGE_ASSETS)}.")
    return _serve(request, asset)
