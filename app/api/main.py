"""Collects the routes of the native API."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.routing import Route

from app.api.routes import catalogue, health, problems
from app.api.routes.activate import activate

api_router = APIRouter()
api_router.include_router(catalogue.router)
api_router.include_router(health.router)
api_router.include_router(problems.router)


def install_routes(app: FastAPI) -> None:
    # The hot path is a bare Starlette route, matched first: FastAPI's per-route machinery costs
    # more than the work of a small request. Its OpenAPI entries come from the registry.
    app.router.routes.insert(0, Route("/activate/{name}", activate, methods=["POST"], include_in_schema=False))
    app.include_router(api_router)
