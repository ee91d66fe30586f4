"""Builds the ASGI application; `app.main:app` is what the server runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
from fastapi import FastAPI
from starlette.types import ASGIApp

from app import __version__
from app.api.compression import COMPRESS_LEVEL, MIN_COMPRESS_BYTES, GZipWhenAccepted
from app.api.docs import install_docs
from app.api.hot_path import HotPathFront
from app.api.instrumentation import Instrumented
from app.api.main import install_routes
from app.api.openapi import install_openapi, operation_id
from app.api.problems import install_problem_handlers
from app.codecs.json_tensor import encode_json_tensor
from app.core.config import Settings
from app.numerics.dtypes import DTYPES
from app.observability.metrics import RequestMetrics


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Build the shortest-float tables of the 16-bit dtypes now rather than on a client's request.
    for dtype in DTYPES.values():
        encode_json_tensor(np.zeros(1, dtype=dtype))
    yield


def create_app(settings: Settings | None = None) -> ASGIApp:
    """The application for `settings` (default: from the environment).

    Responses are gzip-compressed at level 1 for clients that accept it: level 9 would cost more
    time than it saves on large float payloads.
    """
    api = create_api(settings)
    compressed = GZipWhenAccepted(HotPathFront(api), minimum_size=MIN_COMPRESS_BYTES, compresslevel=COMPRESS_LEVEL)
    metrics = RequestMetrics() if api.state.settings.metrics else None
    return Instrumented(compressed, metrics, api.state.settings.instance_name)


def create_api(settings: Settings | None = None) -> FastAPI:
    """The FastAPI application (every route, the OpenAPI document) without the ASGI front."""
    settings = settings or Settings()
    app = FastAPI(
        title="Activation service",
        version=__version__,
        description="Keras-exact activation functions over HTTP.",
        lifespan=lifespan,
        # /activate/relu/ is a 404 problem like any unknown route, not a redirect.
        redirect_slashes=False,
        # FastAPI's built-in OpenTelemetry hooks ask the global providers on every request, which
        # costs a small request a tenth of its time; the service's metrics are Prometheus (SPEC 5).
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # /docs and /redoc with assets served by the service itself (app.api.docs), no CDN.
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    install_problem_handlers(app)
    install_routes(app)
    install_docs(app)
    install_openapi(app)
    return app


app = create_app()
