"""The committed OpenAPI document: current, valid, complete, and its examples what the service answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate
from starlette.testclient import TestClient

from app.api.problems import PROBLEM_TYPES
from app.main import create_api
from app.numerics import REGISTRY, ActivationSpec
from app.numerics.expressions import CUSTOM
from tools.export_openapi import DEFAULT_PATH, render

DOCUMENT: dict[str, Any] = json.loads(Path(DEFAULT_PATH).read_text(encoding="utf-8"))
PATHS: dict[str, Any] = DOCUMENT["paths"]
KINDS = ("activate", "gradient")
TENSOR_ERRORS = ("400", "401", "406", "413", "415", "422", "503")


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = DOCUMENT
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A validator for a schema of the document, its references resolved within the document."""
    return jsonschema.Draft202012Validator({**schema, "components": DOCUMENT["components"]})


def test_committed_document_is_the_apps() -> None:
    assert DEFAULT_PATH.read_text(encoding="utf-8") == render(), "run: python tools/export_openapi.py"


def test_document_is_valid_openapi() -> None:
    validate(DOCUMENT)


def test_served_document_is_the_committed_one(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == DOCUMENT


def test_every_route_is_documented() -> None:
    """Every FastAPI route in the schema and every hot-path route, one path per catalogue entry."""
    api = create_api()
    documented = set(PATHS)
    expected = {f"/{kind}/{spec.name}" for kind in KINDS for spec in REGISTRY}
    expected |= {f"/{kind}/{CUSTOM}" for kind in KINDS}
    expected |= {"/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"}
    expected |= {path for path in api.openapi()["paths"]}
    assert expected <= documented
    assert {"/activations", "/activations/{name}", "/healthz", "/readyz", "/v2", "/problems/{kind}"} <= documented


def test_operation_ids_are_unique_and_named_after_handlers() -> None:
    ids = [op["operationId"] for item in PATHS.values() for op in item.values()]
    # Unique even once a client generator has changed their case and underscores (softmax, Softmax).
    assert len({op_id.lower().replace("_", "") for op_id in ids}) == len(ids)
    schemas = list(DOCUMENT["components"]["schemas"])
    assert len({name.lower().replace("_", "") for name in schemas}) == len(schemas)
    assert PATHS["/activations"]["get"]["operationId"] == "read_activations"
    assert PATHS["/activate/relu"]["post"]["operationId"] == "activate_relu"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("spec", list(REGISTRY), ids=lambda spec: spec.name)
def test_request_schema_lists_exactly_the_parameters(kind: str, spec: ActivationSpec) -> None:
    operation = PATHS[f"/{kind}/{spec.name}"]["post"]
    body = resolve(operation["requestBody"]["content"]["application/json"]["schema"])
    names = {param.name for param in spec.params} | {alias for param in spec.params for alias in param.aliases}
    fixed = {"x", "dtype", "dy"} if kind == "gradient" else {"x", "dtype"}
    assert set(body["properties"]) == names | fixed
    assert body["additionalProperties"] is False
    assert set(body["required"]) == {"x"} | {param.name for param in spec.params if param.required}
    for param in spec.params:
        schema = body["properties"][param.name]
        assert param.description in schema["description"]
        if not param.required:
            assert schema["default"] == param.default
        if param.ge is not None:
            assert schema["minimum"] == param.ge
    # The npy variant: the same parameters in the query string, the body a .npy file.
    query = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert {param.name for param in spec.params} | {"dtype"} <= query
    assert operation["requestBody"]["content"]["application/x-npy"]["schema"]["format"] == "binary"


@pytest.mark.parametrize("path", [p for p in PATHS if p.startswith(("/activate/", "/gradient/"))])
def test_tensor_operations_document_formats_headers_and_errors(path: str) -> None:
    operation = PATHS[path]["post"]
    ok = operation["responses"]["200"]
    assert set(ok["content"]) == {"application/json", "application/x-npy"}
    assert {"X-Shape", "X-Dtype", "X-Request-ID"} <= set(ok["headers"])
    for status in TENSOR_ERRORS:
        response = resolve(operation["responses"][status])
        assert "application/problem+json" in response["content"], status
        assert response["description"]
    assert "Retry-After" in resolve(operation["responses"]["503"])["headers"]
    assert "WWW-Authenticate" in resolve(operation["responses"]["401"])["headers"]


def test_every_problem_kind_is_documented() -> None:
    described = json.dumps(DOCUMENT["components"]["responses"])
    for kind in PROBLEM_TYPES:
        assert f"/problems/{kind}" in described


def test_aliases_are_documented_in_their_canonical_entry() -> None:
    for spec in REGISTRY:
        for alias in spec.aliases:
            assert f"/activate/{alias}" not in PATHS
            assert f"`{alias}`" in PATHS[f"/activate/{spec.name}"]["post"]["description"]


def test_path_parameters_come_from_the_registry() -> None:
    name = PATHS["/activations/{name}"]["get"]["parameters"][0]["schema"]
    assert set(name["enum"]) == {*REGISTRY.names, CUSTOM}
    infer = PATHS["/v2/models/{name}/infer"]["post"]["parameters"][0]["schema"]
    assert set(infer["enum"]) == set(REGISTRY.names)


def tensor_examples() -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    out = []
    for path, item in PATHS.items():
        if not path.startswith(("/activate/", "/gradient/")):
            continue
        media = item["post"]["requestBody"]["content"]["application/json"]
        answers = item["post"]["responses"]["200"]["content"]["application/json"]["examples"]
        for key, example in media["examples"].items():
            out.append((path, key, example["value"], answers[key]["value"]))
    return out


@pytest.mark.parametrize(("path", "key", "request_body", "answer"), tensor_examples(), ids=lambda v: str(v)[:30])
def test_examples_are_valid_and_are_what_the_service_answers(
    client: TestClient, path: str, key: str, request_body: dict[str, Any], answer: dict[str, Any]
) -> None:
    operation = PATHS[path]["post"]
    validator(operation["requestBody"]["content"]["application/json"]["schema"]).validate(request_body)
    validator(operation["responses"]["200"]["content"]["application/json"]["schema"]).validate(answer)
    response = client.post(path, json=request_body)
    assert response.status_code == 200, response.text
    assert response.json() == answer


def test_v2_infer_example_is_what_the_service_answers(client: TestClient) -> None:
    operation = PATHS["/v2/models/{name}/infer"]["post"]
    request_body = operation["requestBody"]["content"]["application/json"]["example"]
    answer = operation["responses"]["200"]["content"]["application/json"]["example"]
    response = client.post(f"/v2/models/{answer['model_name']}/infer", json=request_body)
    assert response.status_code == 200, response.text
    assert response.json() == answer


def problem_examples() -> list[tuple[str, dict[str, Any]]]:
    found = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            problem = node.get("application/problem+json")
            if isinstance(problem, dict) and "example" in problem:
                found.append((where, problem["example"]))
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(DOCUMENT, "")
    return found


@pytest.mark.parametrize(("where", "example"), problem_examples(), ids=lambda v: str(v)[-60:])
def test_problem_examples_are_problems_of_a_known_kind(where: str, example: dict[str, Any]) -> None:
    validator(DOCUMENT["components"]["schemas"]["Problem"]).validate(example)
    kind = example["type"].removeprefix("/problems/")
    if kind in PROBLEM_TYPES:  # 503's kind comes with admission control
        assert PROBLEM_TYPES[kind][:2] == (example["status"], example["title"])
