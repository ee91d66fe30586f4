"""Builds the ASGI application; `app.main:app` is what the server runs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
from fastapi import FastAPI
from starlette.types import ASGIApp

from app import __version__
from app.api.admission import Admission
from app.api.compression import COMPRESS_LEVEL, MIN_COMPRESS_BYTES, GZipWhenAccepted
from app.api.docs import install_docs
from app.api.hot_path import HotPathFront
from app.api.instrumentation import Instrumented
from app.api.main import install_routes
from app.api.openapi import install_openapi, operation_id
from app.api.problems import install_problem_handlers
from app.api.security import ApiKeyRequired, cors
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
    # After a graceful shutdown uvicorn re-raises SIGTERM, which ends the process without running
    # atexit: write the buffered log lines (the access lines of the requests just drained) now.
    for name in ("app", "uvicorn"):
        for handler in logging.getLogger(name).handlers:
            handler.flush()


def create_app(settings: Settings | None = None) -> ASGIApp:
    """The application for `settings` (default: from the environment).

    From the outside in: instrumentation (request id, metrics, access log, security headers), CORS
    and the API key check when configured (absent otherwise, so they cost nothing), admission
    control, compression, the ASGI front of the tensor endpoints, FastAPI. Responses are
    gzip-compressed at level 1 for clients that accept it: level 9 would cost more time than it
    saves on large float payloads.
    """
    api = create_api(settings)
    settings = api.state.settings
    app: ASGIApp = GZipWhenAccepted(HotPathFront(api), minimum_size=MIN_COMPRESS_BYTES, compresslevel=COMPRESS_LEVEL)
    app = Admission(
        app,
        max_in_flight=settings.max_in_flight,
        max_in_flight_bytes=settings.max_in_flight_bytes,
        compute_deadline_s=settings.compute_deadline_s,
        body_timeout_s=settings.body_timeout_s,
    )
    key = settings.api_key_bytes
    if key is not None:
        app = ApiKeyRequired(app, key)
    if settings.cors_origin_list:
        app = cors(app, settings.cors_origin_list)
    return Instrumented(app, RequestMetrics() if settings.metrics else None, settings.instance_name)


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
