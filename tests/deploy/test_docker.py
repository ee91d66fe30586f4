"""The image and the compose setup, for real, on a Docker engine.

Runs when an engine answers (`docker info`, e.g. with DOCKER_HOST set to the docker-sandbox one);
skipped without one, except under CI=true, where a missing engine fails the run. Everything is
bounded: every docker command has a timeout, every container and compose project is removed.
The image is built once per session (layers cached: dependencies before the code) under a tag of
this session's own, so parallel runs do not use each other's images.
"""

from __future__ import annotations

import json
import math
import os
import select
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from app import __version__
from tests.servers import free_port, wait_until_healthy

ROOT = Path(__file__).resolve().parents[2]
SESSION = uuid.uuid4().hex[:10]
CACHE_TAG = "activation-service:tests"  # keeps the layers cached between runs
IMAGE = f"activation-service:tests-{SESSION}"
REPLICAS = 3
HEADER_TIMEOUT_S = 2  # nginx client_header_timeout for the compose test (the default is 10 s)
MAX_ELEMENTS = 1000
MAX_BODY_BYTES = 1024 * 1024
# A generous bound that still catches a build that ships its toolchain or caches.
MAX_IMAGE_BYTES = 500 * 10**6


def docker(*args: str, timeout: float = 60, check: bool = True, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout.strip()


def engine_problem() -> str | None:
    """Why no Docker engine can be used here, or None when one answers."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    try:
        result = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "docker info did not answer within 20 s"
    if result.returncode != 0:
        host = os.environ.get("DOCKER_HOST")
        return f"no Docker engine answers (DOCKER_HOST={host!r}): {result.stderr.decode()[-300:]}"
    return None


@pytest.fixture(scope="module", autouse=True)
def engine() -> None:
    problem = engine_problem()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true requires a Docker engine: {problem}")
    pytest.skip(problem)


@pytest.fixture(scope="module")
def image(engine: None) -> Iterator[str]:
    previous = docker("image", "inspect", "--format", "{{.Id}}", CACHE_TAG, check=False)
    # --network host: the sandbox engine has no default bridge, and RUN steps need PyPI.
    docker("build", "--network", "host", "-t", CACHE_TAG, "-t", IMAGE, str(ROOT), timeout=900)
    if previous.startswith("sha256:") and previous != docker("image", "inspect", "--format", "{{.Id}}", IMAGE):
        # The last run's image, now untagged: removed unless something still uses it (no --force).
        docker("rmi", previous, check=False)
    yield IMAGE
    docker("rmi", IMAGE, timeout=60, check=False)


RELU_BODY = b'{"x": [[-1.5, 0.0, 2.0]], "alpha": 0.1}'


def relu(client: httpx.Client, url: str) -> httpx.Response:
    return client.post(url, content=RELU_BODY, headers={"content-type": "application/json"})


def test_the_image_is_small(image: str) -> None:
    size = int(docker("image", "inspect", "--format", "{{.Size}}", image))
    assert size < MAX_IMAGE_BYTES, f"image is {size / 1e6:.0f} MB"


def test_the_image_serves_unprivileged_on_a_read_only_root(image: str) -> None:
    """As Kubernetes runs it: read-only root, a tmpfs /tmp, several workers (metrics in /tmp)."""
    port = free_port()
    name = f"activations-test-{SESSION}"
    docker(
        "run", "--detach", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
        "--env", f"ACTIVATIONS_PORT={port}", "--env", "ACTIVATIONS_WORKERS=2",
        "--env", "ACTIVATIONS_INSTANCE_NAME=solo",
        image,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, lambda: docker("logs", name, check=False), seconds=60)
        with httpx.Client(base_url=base, timeout=10) as client:
            health = client.get("/healthz")
            assert health.status_code == 200
            assert health.json()["version"] == __version__
            response = relu(client, "/activate/relu")
            assert response.status_code == 200
            assert response.json()["y"] == [[-0.15, 0.0, 2.0]]
            assert response.headers["x-served-by"] == "solo"
            # The numeric libraries work in the slimmed venv: SciPy's erfc (float64 gelu), ml-dtypes.
            gelu = client.post("/activate/gelu", json={"x": [1.0], "dtype": "float64"})
            assert gelu.status_code == 200
            assert gelu.json()["y"] == [pytest.approx(0.5 * (1 + math.erf(1 / math.sqrt(2))), rel=1e-15)]
            bf16 = client.post("/activate/softplus", json={"x": [0.0], "dtype": "bfloat16"})
            assert bf16.status_code == 200
            assert bf16.json()["y"] == [0.69]  # log 2 in bfloat16 (0.69140625), written shortest
            assert client.get("/metrics").status_code == 200
        assert docker("exec", name, "id", "-u") == "10001"
        # The image's own HEALTHCHECK command, on the port the settings chose.
        health_test = json.loads(docker("inspect", "--format", "{{json .Config.Healthcheck.Test}}", name))
        assert health_test[0] == "CMD"
        docker("exec", name, *health_test[1:], timeout=20)
        # SIGTERM reaches the server (PID 1, exec form), which drains and exits cleanly, not killed.
        docker("stop", "--time", "20", name, timeout=40)
        assert docker("inspect", "--format", "{{.State.ExitCode}}", name) == "0"
    finally:
        docker("rm", "--force", name, check=False)


@dataclass
class ComposeProject:
    base: str
    replicas: set[str]
    command: list[str]

    def logs(self) -> str:
        result = subprocess.run([*self.command, "logs", "--tail", "40"], capture_output=True, text=True, timeout=60)
        return result.stdout


@contextmanager
def compose_up() -> Iterator[ComposeProject]:
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith(("ACTIVATIONS_", "NGINX_"))}
    env.update(
        ACTIVATIONS_IMAGE=IMAGE,
        ACTIVATIONS_LB_PORT=str(port),
        ACTIVATIONS_REPLICAS=str(REPLICAS),
        ACTIVATIONS_MAX_ELEMENTS=str(MAX_ELEMENTS),
        ACTIVATIONS_MAX_BODY_BYTES=str(MAX_BODY_BYTES),
        NGINX_CLIENT_HEADER_TIMEOUT=f"{HEADER_TIMEOUT_S}s",
    )
    command = ["docker", "compose", "--file", str(ROOT / "docker-compose.yml"), "--project-name", f"acttest{SESSION}"]

    def run(*args: str, timeout: float) -> str:
        result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout, env=env)
        if result.returncode != 0:
            raise AssertionError(f"docker compose {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout.strip()

    try:
        run("up", "--detach", "--wait", "--no-build", timeout=240)
        ids = run("ps", "--quiet", "app", timeout=30).split()
        hostnames = {docker("inspect", "--format", "{{.Config.Hostname}}", cid) for cid in ids}
        project = ComposeProject(f"http://127.0.0.1:{port}", hostnames, [*command])
        wait_until_healthy(project.base, project.logs, seconds=30)
        yield project
    finally:
        run("down", "--volumes", "--remove-orphans", "--timeout", "10", timeout=180)


@pytest.fixture(scope="module")
def scaled(image: str) -> Iterator[ComposeProject]:
    with compose_up() as project:
        yield project


def test_compose_brings_up_the_replicas(scaled: ComposeProject) -> None:
    assert len(scaled.replicas) == REPLICAS


def test_every_replica_answers_through_nginx(scaled: ComposeProject) -> None:
    seen: dict[str, int] = {}
    with httpx.Client(base_url=scaled.base, timeout=10) as client:
        for _ in range(300):
            response = relu(client, "/activate/relu")
            assert response.status_code == 200
            assert response.json()["y"] == [[-0.15, 0.0, 2.0]]
            seen[response.headers["x-served-by"]] = seen.get(response.headers["x-served-by"], 0) + 1
            if set(seen) == scaled.replicas:
                break
    assert set(seen) == scaled.replicas, f"answers by replica: {seen}\n{scaled.logs()}"


def test_settings_reach_the_replicas_through_the_environment(scaled: ComposeProject) -> None:
    with httpx.Client(base_url=scaled.base, timeout=10) as client:
        body = orjson.dumps({"x": [0.0] * (MAX_ELEMENTS + 1)})
        response = client.post("/activate/relu", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["x-served-by"] in scaled.replicas


@pytest.mark.parametrize(
    ("path", "content_type", "error_field"),
    [("/activate/relu", "application/problem+json", "detail"), ("/v2/models/relu/infer", "application/json", "error")],
)
def test_nginx_refuses_an_oversized_body_in_the_service_format(
    scaled: ComposeProject, path: str, content_type: str, error_field: str
) -> None:
    with httpx.Client(base_url=scaled.base, timeout=10) as client:
        response = client.post(path, content=b"0" * (MAX_BODY_BYTES + 1), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == content_type
    assert str(MAX_BODY_BYTES) in response.json()[error_field]
    assert "x-served-by" not in response.headers  # nginx answered; no replica read the body


def test_a_client_sending_headers_slowly_is_cut_off_while_others_are_served(scaled: ComposeProject) -> None:
    host, port = scaled.base.removeprefix("http://").split(":")
    outcome: list[str] = []

    def trickle() -> None:
        """One header line every 0.2 s, for up to 5x the timeout, as a slowloris client sends them."""
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            try:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: lb\r\n")
                for line in range(25 * HEADER_TIMEOUT_S):
                    sock.sendall(b"X-Slow-%d: 1\r\n" % line)
                    readable, _, _ = select.select([sock], [], [], 0.2)
                    if readable:
                        outcome.append("answered" if sock.recv(4096) else "closed")
                        return
            except (BrokenPipeError, ConnectionResetError):
                outcome.append("closed")
                return
            outcome.append("still open")

    slow = threading.Thread(target=trickle, daemon=True)
    slow.start()
    served = 0
    with httpx.Client(base_url=scaled.base, timeout=10) as client:
        while slow.is_alive() and served < 1000:
            assert relu(client, "/activate/relu").status_code == 200
            served += 1
            time.sleep(0.02)
    slow.join(timeout=30)
    assert outcome == ["closed"], f"the slow client was not cut off: {outcome}"
    assert served > 0
