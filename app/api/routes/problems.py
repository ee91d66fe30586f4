"""`GET /problems/{kind}`: the documentation behind each problem `type` URI."""

from __future__ import annotations

import html

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from app.api.problems import PROBLEM_TYPES
from app.errors import NotFound

router = APIRouter(tags=["problems"])


@router.api_route("/problems/{kind}", methods=["GET", "HEAD"], response_class=HTMLResponse)
def read_problem_type(kind: str) -> HTMLResponse:
    """Explain one kind of error answered as problem+json."""
    if kind not in PROBLEM_TYPES:
        raise NotFound(f"No problem type '{kind[:60]}'; known: {', '.join(PROBLEM_TYPES)}.")
    status, title, text = PROBLEM_TYPES[kind]
    page = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<h1>{status} {html.escape(title)}</h1><p>{html.escape(text)}</p>"
        f"<p>Responses of this kind carry <code>type: /problems/{html.escape(kind)}</code>.</p></html>"
    )
    return HTMLResponse(page)
