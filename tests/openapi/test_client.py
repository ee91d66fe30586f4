"""A Python client generated from the committed document by openapi-python-client calls the live service."""

from __future__ import annotations

import importlib
import io
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from tools.export_openapi import DEFAULT_PATH

pytestmark = pytest.mark.e2e

CONFIG = DEFAULT_PATH.parent / "client-config.yaml"
PACKAGE = "activation_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The client package, generated into a temporary directory and importable from it."""
    root = tmp_path_factory.mktemp("client")
    command = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent)) or "openapi-python-client"
    subprocess.run(
        [
            command,
            "generate",
            "--path",
            str(DEFAULT_PATH),
            "--config",
            str(CONFIG),
            "--meta",
            "none",
            "--output-path",
            str(root / PACKAGE),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


@pytest.fixture(scope="module")
def api(generated: Path, live_server: str) -> Any:
    client_module = module("client")
    # Operations that may need the API key take an AuthenticatedClient; the server has no key configured.
    token = "no-key-configured"
    with client_module.AuthenticatedClient(
        base_url=live_server, token=token, raise_on_unexpected_status=True
    ) as client:
        yield client


def test_activate_json(api: Any) -> None:
    request_model = module("models.activate_request_relu").ActivateRequestRelu
    activate_relu = module("api.activate.activate_relu")
    answer = activate_relu.sync(client=api, body=request_model(x=[[-1.5, 0.0, 2.0]], alpha=0.1))
    assert answer.activation == "relu"
    assert answer.shape == [1, 3]
    assert answer.y == [[-0.15, 0.0, 2.0]]
    assert answer.params.alpha == 0.1


def test_activate_npy_with_query_parameters(api: Any) -> None:
    types = module("types")
    activate_softmax = module("api.activate.activate_softmax")
    buffer = io.BytesIO()
    np.save(buffer, np.array([[1.0, 2.0], [3.0, 5.0]], dtype=np.float64))
    buffer.seek(0)
    detailed = activate_softmax.sync_detailed(client=api, body=types.File(payload=buffer), axis=0)
    assert detailed.status_code == 200
    assert detailed.headers["x-shape"] == "2,2"
    assert detailed.headers["x-dtype"] == "float64"
    assert detailed.parsed.params.axis == 0
    np.testing.assert_allclose(
        detailed.parsed.y,
        [[0.11920292202211755, 0.04742587317756678], [0.8807970779778823, 0.9525741268224334]],
        rtol=1e-15,
    )


def test_error_is_a_parsed_problem(api: Any) -> None:
    request_model = module("models.activate_request_softmax").ActivateRequestSoftmax
    activate_softmax = module("api.activate.activate_softmax")
    detailed = activate_softmax.sync_detailed(client=api, body=request_model(x=[[1.0, 2.0]], axis=5))
    assert detailed.status_code == 422
    assert detailed.parsed.type_ == "/problems/invalid-parameter"
    assert "out of range" in detailed.parsed.detail


def test_gradient_of_a_custom_expression(api: Any) -> None:
    request_model = module("models.gradient_request_custom").GradientRequestCustom
    gradient_custom = module("api.gradient.gradient_custom")
    answer = gradient_custom.sync(client=api, body=request_model(x=[1.0, 2.0], expression="x * x", dtype="float64"))
    assert answer.activation == "custom"
    assert answer.dx == [2.0, 4.0]


def test_catalogue_and_kserve_v2(api: Any) -> None:
    catalogue = module("api.catalogue.read_activations").sync(client=api)
    assert "relu" in [entry.name for entry in catalogue.activations]
    models = module("models")
    request = models.V2InferRequest(
        inputs=[models.V2InputTensor(name="x", shape=[1, 2], datatype="FP32", data=[-1.0, 2.0])], id="7"
    )
    answer = module("api.kserve_v2.v2_infer").sync("silu", client=api, body=request)
    assert answer.model_name == "swish"
    assert answer.id == "7"
    assert answer.outputs[0].shape == [1, 2]
    np.testing.assert_allclose(answer.outputs[0].data, [-0.2689414213699951, 1.7615941559557646], rtol=1e-6)


def test_a_layer_and_its_function_are_separate_operations(api: Any) -> None:
    """softmax and the Softmax layer (with a mask) differ only in case: the client keeps both."""
    request_model = module("models.activate_request_softmax_layer").ActivateRequestSoftmaxLayer
    activate_layer = module("api.activate.activate_softmax_layer")
    answer = activate_layer.sync(client=api, body=request_model(x=[[1.0, 1.0, 5.0]], mask=[[1, 1, 0]]))
    assert answer.activation == "Softmax"
    assert answer.y == [[0.5, 0.5, 0.0]]
    function = module("api.activate.activate_softmax").sync(
        client=api, body=module("models.activate_request_softmax").ActivateRequestSoftmax(x=[[0.0, 0.0]])
    )
    assert function.activation == "softmax"
    assert function.y == [[0.5, 0.5]]
