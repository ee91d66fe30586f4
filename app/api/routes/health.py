"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter

from app import __version__
from app.numerics import REGISTRY

router = APIRouter(tags=["health"])


@router.api_route("/healthz", methods=["GET", "HEAD"])
def read_health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok", "version": __version__}


@router.api_route("/readyz", methods=["GET", "HEAD"])
def read_readiness() -> dict[str, object]:
    """Readiness: the catalogue is loaded and requests can be served."""
    return {"status": "ready", "activations": len(REGISTRY)}
