"""The ASGI front: which paths it serves itself, and clients that leave mid-request."""

from __future__ import annotations

import asyncio
import logging

import pytest
from starlette.types import Message

from app.api.hot_path import infer_path_params
from app.core.config import Settings
from app.main import create_app


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v2/models/relu/infer", {"name": "relu"}),
        ("/v2/models/LeakyReLU/versions/1/infer", {"name": "LeakyReLU", "version": "1"}),
        ("/v2/models/relu/versions/7/infer", {"name": "relu", "version": "7"}),
        ("/v2/models//infer", None),
        ("/v2/models/relu/versions//infer", None),
        ("/v2/models/relu/version/1/infer", None),
        ("/v2/models/relu/infer/", None),
        ("/v2/models/relu", None),
        ("/v2/models/a/b/infer", None),
        ("/activate/relu", None),
    ],
)
def test_infer_paths_are_recognised_exactly(path: str, params: dict[str, str] | None) -> None:
    assert infer_path_params(path) == params


@pytest.mark.parametrize("path", ["/activate/relu", "/v2/models/relu/infer"])
def test_a_client_that_leaves_mid_body_gets_nothing_and_logs_no_error(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(Settings())
    messages: list[Message] = [
        {"type": "http.request", "body": b'{"x": [1.0, ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    with caplog.at_level(logging.ERROR):
        asyncio.run(app(scope, receive, send))
    assert sent == []
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
