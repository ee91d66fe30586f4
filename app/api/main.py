"""Collects the routes of the native API and of KServe v2."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.routing import Route

from app.api.routes import catalogue, explorer, health, metrics, plot, problems, v2
from app.api.routes.activate import activate
from app.api.routes.gradient import compute_gradient

api_router = APIRouter()
api_router.include_router(catalogue.router)
api_router.include_router(plot.router)
api_router.include_router(explorer.router)
api_router.include_router(health.router)
api_router.include_router(problems.router)
api_router.include_router(v2.router)


def install_routes(app: FastAPI) -> None:
    # POST /activate/{name} is answered by the ASGI front (app/api/hot_path.py) before FastAPI;
    # the route stays here, first, so that other methods on it get a 405 with `Allow`.
    app.router.routes.insert(0, Route("/activate/{name}", activate, methods=["POST"], include_in_schema=False))
    app.router.routes.insert(1, Route("/gradient/{name}", compute_gradient, methods=["POST"], include_in_schema=False))
    # KServe v2 inference: plain Starlette endpoints too, ready to be served from the ASGI front.
    for path in ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"):
        app.router.routes.append(Route(path, v2.infer, methods=["POST"], include_in_schema=False))
    app.include_router(api_router)
    if app.state.settings.metrics:
        app.include_router(metrics.router)
