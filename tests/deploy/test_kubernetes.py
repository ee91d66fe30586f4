"""The Kubernetes manifests in deploy/kubernetes/: valid against the API schemas, and consistent.

Every document is validated, unknown fields included (strict), with kubernetes-validate against the
oldest and the newest Kubernetes versions it knows. The tests then check what the schemas cannot:
the probes hit the service's health routes, the selectors find the pods, the pods run unprivileged on
a read-only root, and the memory limit covers the admission-control arithmetic written beside it
(measured figures, bench/memory_per_byte.py), while small concurrent requests are not refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from app import __version__
from app.core.config import Settings

MANIFESTS = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
KUSTOMIZATION = MANIFESTS / "kustomization.yaml"
RESOURCE_FILES = sorted(path for path in MANIFESTS.glob("*.yaml") if path != KUSTOMIZATION)
VERSIONS = sorted({all_versions()[0], all_versions()[-1]})

# Peak RSS above idle of one request, measured on a real server by bench/memory_per_byte.py (the
# figures are in deployment.yaml's comment): the worst memory per charged body byte, and for the
# worst cases per element, (body bytes per element, peak bytes per element).
PEAK_PER_BODY_BYTE = 85  # JSON of `0,` as float64, gzipped or not
WORST_PER_ELEMENT = {
    "json 0, float64": (2, 166),
    "gradient json 0, + dy float64": (4, 196),
    "npy float64": (8, 163),
}
IDLE_WORKER_BYTES = 128 * 2**20
HEADROOM = 1.1


def documents() -> list[dict[str, Any]]:
    return [doc for path in RESOURCE_FILES for doc in yaml.safe_load_all(path.read_text()) if doc]


def the(kind: str) -> dict[str, Any]:
    (found,) = (doc for doc in documents() if doc["kind"] == kind)
    return found


def quantity_bytes(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([KMGT]i)?", quantity).groups()  # type: ignore[union-attr]
    return int(number) * {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}[unit]


def container() -> dict[str, Any]:
    (only,) = the("Deployment")["spec"]["template"]["spec"]["containers"]
    return only  # type: ignore[no-any-return]


def env() -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container()["env"]}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", RESOURCE_FILES, ids=lambda path: path.name)
def test_every_manifest_is_valid_for_kubernetes(path: Path, version: str) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validation_would_catch_a_typo() -> None:
    deployment = the("Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {"path": "/readyz"}
    with pytest.raises(kubernetes_validate.ValidationError, match="httpGett"):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


def test_the_kustomization_applies_every_manifest() -> None:
    listed = yaml.safe_load(KUSTOMIZATION.read_text())["resources"]
    assert sorted(listed) == [path.name for path in RESOURCE_FILES]


def test_the_kinds_to_scale_out_are_all_there() -> None:
    kinds = sorted(doc["kind"] for doc in documents())
    assert kinds == ["Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"]


def test_service_pdb_and_autoscaler_find_the_deployment() -> None:
    deployment = the("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert the("Service")["spec"]["selector"].items() <= pod_labels.items()
    assert the("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    target = the("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])


def test_the_service_reaches_the_port_the_server_listens_on() -> None:
    ports = {port["name"]: port["containerPort"] for port in container()["ports"]}
    (service_port,) = the("Service")["spec"]["ports"]
    assert ports[service_port["targetPort"]] == int(env()["ACTIVATIONS_PORT"])
    assert env()["ACTIVATIONS_HOST"] == "0.0.0.0"


@pytest.mark.parametrize(
    ("probe", "path"), [("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")]
)
def test_probes_ask_the_health_routes(probe: str, path: str) -> None:
    assert container()[probe]["httpGet"] == {"path": path, "port": "http"}


def test_a_pdb_can_be_honoured_by_the_smallest_scale() -> None:
    # minAvailable equal to the replicas would block every node drain.
    assert the("PodDisruptionBudget")["spec"]["minAvailable"] < the("HorizontalPodAutoscaler")["spec"]["minReplicas"]


def test_pods_run_unprivileged_on_a_read_only_root_with_a_writable_tmp() -> None:
    pod = the("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    security = container()["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    (mount,) = container()["volumeMounts"]
    assert mount["mountPath"] == "/tmp"
    (volume,) = (v for v in pod["volumes"] if v["name"] == mount["name"])
    assert "emptyDir" in volume


def test_requests_and_limits_are_set_and_consistent() -> None:
    resources = container()["resources"]
    for kind in ("cpu", "memory"):
        assert kind in resources["requests"] and kind in resources["limits"]
    assert quantity_bytes(resources["requests"]["memory"]) <= quantity_bytes(resources["limits"]["memory"])


def test_the_memory_limit_covers_the_worst_case_admission_control_lets_in() -> None:
    """Per worker: idle + the larger of the worst single request and the byte budget's worth, + headroom.

    A request alone is always admitted, so the worst single request within the body and element
    limits must fit; beyond it the byte budget is what lets requests in together.
    """
    settings = Settings()
    variables = env()
    workers = int(variables["ACTIVATIONS_WORKERS"])
    assert "ACTIVATIONS_MAX_IN_FLIGHT_BYTES" in variables, "the limit is sized from it: set it explicitly"
    budget = int(variables["ACTIVATIONS_MAX_IN_FLIGHT_BYTES"])
    elements = int(variables.get("ACTIVATIONS_MAX_ELEMENTS", settings.max_elements))
    body_bytes = int(variables.get("ACTIVATIONS_MAX_BODY_BYTES", settings.max_body_bytes))
    single = max(peak * min(elements, body_bytes // size) for size, peak in WORST_PER_ELEMENT.values())
    together = PEAK_PER_BODY_BYTE * budget
    needed = workers * (IDLE_WORKER_BYTES + max(single, together)) * HEADROOM
    limit = quantity_bytes(container()["resources"]["limits"]["memory"])
    assert needed <= limit <= 1.05 * needed, f"limit {limit / 2**20:.0f} MiB, worst case {needed / 2**20:.0f} MiB"
    # The budget is not wasted: it lets in requests up to (nearly) the memory the limit holds anyway.
    assert together >= 0.9 * single, f"budget worth {together / 2**20:.0f} MiB, one request {single / 2**20:.0f} MiB"


def test_small_requests_at_once_are_not_refused() -> None:
    """Memory is bounded by the byte budget, not by refusing the third small request of a burst."""
    variables = env()
    assert int(variables.get("ACTIVATIONS_MAX_IN_FLIGHT", Settings().max_in_flight)) >= 32
    # A thousand 64 KiB JSON requests fit the budget at once.
    assert int(variables["ACTIVATIONS_MAX_IN_FLIGHT_BYTES"]) >= 1000 * 64 * 2**10


def test_the_image_is_the_release() -> None:
    assert container()["image"] == f"activation-service:{__version__}"


def test_each_pod_names_itself_after_the_pod() -> None:
    assert env()["ACTIVATIONS_INSTANCE_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_the_grace_period_outlasts_the_preStop_pause_and_the_drain() -> None:
    pod = the("Deployment")["spec"]["template"]["spec"]
    pause = int(container()["lifecycle"]["preStop"]["exec"]["command"][-1])
    drain = int(env().get("ACTIVATIONS_GRACEFUL_SHUTDOWN_S", getattr(Settings(), "graceful_shutdown_s", 30)))
    assert pod["terminationGracePeriodSeconds"] > pause + drain
