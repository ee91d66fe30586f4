"""`GET /metrics`: the Prometheus text exposition (all workers' values in multiprocess mode)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from app.observability.metrics import CONTENT_TYPE, collect

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
def read_metrics() -> Response:
    """Prometheus metrics: requests, latency histogram, elements computed, requests in flight."""
    return Response(collect(), media_type=CONTENT_TYPE)
