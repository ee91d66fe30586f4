"""Collects the routes of the native API."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from app.api.routes import catalogue, health, problems
from app.api.routes.activate import activate

api_router = APIRouter()
api_router.include_router(catalogue.router)
api_router.include_router(health.router)
api_router.include_router(problems.router)


def install_routes(app: FastAPI) -> None:
    app.include_router(api_router)
    # The hot path is a bare Starlette route; its OpenAPI entries come from the registry.
    app.add_route("/activate/{name}", activate, methods=["POST"], include_in_schema=False)
