"""ReLU as a KServe model: a `kserve.Model` served by `kserve.ModelServer` (v2 REST at /v2/models/relu/infer).

Run inside the KServe venv: `python kserve_relu.py --http_port 8080 --enable_grpc false` (one uvicorn
worker by default). The output honours `binary_data_output` and per-output `binary_data`, so the binary
tensor extension works both ways. KServe hard-codes host 0.0.0.0 for its REST server; the benchmark
only talks to 127.0.0.1, so the server is bound there too (uvicorn.Config is wrapped below), and the
unused gRPC server, which would listen on [::], is switched off by the benchmark's command line.
"""

from __future__ import annotations

import uuid

import kserve
import numpy as np
import uvicorn
from kserve import InferOutput, InferRequest, InferResponse


class ReLU(kserve.Model):
    """max(x, 0) on the first input, returned as output `y` with the input's dtype."""

    def __init__(self, name: str = "relu") -> None:
        super().__init__(name)
        self.ready = True

    async def predict(
        self,
        payload: InferRequest,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> InferResponse:
        x = payload.inputs[0].as_numpy()
        y = np.maximum(x, 0)
        output = InferOutput(name="y", shape=list(y.shape), datatype=payload.inputs[0].datatype, data=y)
        return InferResponse(
            response_id=payload.id or str(uuid.uuid4()),  # the REST response model requires an id
            model_name=self.name,
            infer_outputs=[output],
            use_binary_outputs=payload.use_binary_outputs,
            requested_outputs=payload.request_outputs,
        )


def _loopback_config(*args: object, **kwargs: object) -> uvicorn.Config:
    kwargs["host"] = "127.0.0.1"
    return _UVICORN_CONFIG(*args, **kwargs)  # type: ignore[arg-type]


_UVICORN_CONFIG = uvicorn.Config

if __name__ == "__main__":
    uvicorn.Config = _loopback_config  # type: ignore[misc,assignment]
    kserve.ModelServer().start([ReLU()])
