"""GET /activations and /activations/{name}: the registry as users read it."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from app.numerics import REGISTRY

FIELDS = {"name", "aliases", "summary", "formula", "elementwise", "params", "keras_reference", "tf_differences"}
PARAM_FIELDS = {"name", "type", "default", "required", "constraints", "description", "aliases"}


def test_listing_has_every_canonical_entry(client: TestClient) -> None:
    response = client.get("/activations")
    assert response.status_code == 200
    entries = response.json()["activations"]
    assert [entry["name"] for entry in entries] == [*(spec.name for spec in REGISTRY), "custom"]
    for entry in entries:
        assert set(entry) == FIELDS
        assert entry["summary"] and entry["formula"] and entry["keras_reference"]
        for param in entry["params"]:
            assert set(param) == PARAM_FIELDS


@pytest.mark.parametrize(("alias", "canonical"), [("silu", "swish"), ("hard_swish", "hard_silu"), ("relu", "relu")])
def test_alias_resolves_to_canonical_entry(client: TestClient, alias: str, canonical: str) -> None:
    response = client.get(f"/activations/{alias}")
    assert response.status_code == 200
    assert response.json()["name"] == canonical


def test_parameters_are_documented(client: TestClient) -> None:
    relu = client.get("/activations/relu").json()
    params = {param["name"]: param for param in relu["params"]}
    assert params["alpha"]["default"] == 0.0 and params["alpha"]["aliases"] == ["negative_slope"]
    assert params["max_value"]["default"] is None
    threshold = {param["name"]: param for param in client.get("/activations/threshold").json()["params"]}
    assert threshold["threshold"]["required"] and threshold["default_value"]["required"]


def test_tf_differences_are_listed(client: TestClient) -> None:
    elu = client.get("/activations/elu").json()
    assert any("expm1" in sentence for sentence in elu["tf_differences"])


def test_health_and_readiness(client: TestClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok" and health.json()["version"]
    assert client.get("/readyz").json()["status"] == "ready"


def test_custom_is_listed_with_its_grammar(client: TestClient) -> None:
    custom = client.get("/activations/custom")
    assert custom.status_code == 200
    entry = custom.json()
    assert "where(condition, expression, expression)" in entry["formula"]
    assert [(param["name"], param["required"]) for param in entry["params"]] == [("expression", True)]
