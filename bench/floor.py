"""The floor of SPEC section 6: a bare Starlette app that does only the work itself.

JSON: orjson parse, numpy conversion, the kernel, orjson write. npy: np.load, the kernel, np.save.
No validation, no limits, no middleware: whatever the service spends beyond this is its overhead.
`bench/run.py` serves it with the service's uvicorn settings (one worker, uvloop, httptools, access
log at level info): `uvicorn --app-dir bench floor:app --host 127.0.0.1 --port 8001 --log-level info`.
"""

from __future__ import annotations

import io

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def relu_json(request: Request) -> Response:
    """`{"x": nested array}` in, `{"y": nested array}` out, float32."""
    x = np.array(orjson.loads(await request.body())["x"], dtype=np.float32)
    y = np.maximum(x, 0)
    return Response(orjson.dumps({"y": y}, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")


async def relu_npy(request: Request) -> Response:
    """A .npy file in, a .npy file out, the dtype kept."""
    x = np.load(io.BytesIO(await request.body()), allow_pickle=False)
    y = np.maximum(x, 0)
    out = io.BytesIO()
    np.save(out, y, allow_pickle=False)
    return Response(out.getbuffer(), media_type="application/x-npy")


async def ready(request: Request) -> Response:
    return Response(b"ok")


app = Starlette(
    routes=[
        Route("/relu/json", relu_json, methods=["POST"]),
        Route("/relu/npy", relu_npy, methods=["POST"]),
        Route("/ready", ready),
    ]
)
