"""ReLU as an MLServer custom runtime (v2 REST at /v2/models/relu/infer).

`mlserver start bench/peers/mlserver` loads it through `relu/model-settings.json`; the benchmark
passes the ports as MLSERVER_HTTP_PORT, MLSERVER_GRPC_PORT and MLSERVER_METRICS_PORT.
"""

from __future__ import annotations

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class ReLURuntime(MLModel):
    """max(x, 0) on the first input, returned as output `y` with the input's dtype."""

    async def load(self) -> bool:
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0])
        y = np.maximum(x, 0)
        return InferenceResponse(model_name=self.name, id=payload.id, outputs=[NumpyCodec.encode_output("y", y)])
