"""The `activations-serve` console command: start the server with the settings.

Logging is the service's own (JSON or text lines with the request id, `app.observability.logs`)
and its access log replaces uvicorn's. With several workers, Prometheus multiprocess mode needs a
directory shared by the workers and empty at start: the one in `PROMETHEUS_MULTIPROC_DIR` if set
(its old values are removed), else a fresh temporary one.

Timeouts: idle keep-alive connections close after `ACTIVATIONS_KEEP_ALIVE_TIMEOUT_S`; on SIGTERM
the server stops accepting and in-flight requests get `ACTIVATIONS_GRACEFUL_SHUTDOWN_S` to finish.
(The body timeout and the compute deadline are the application's: uvicorn has neither.) With
several workers uvicorn's supervisor replaces a worker that dies or stops answering its health
pings; a worker computing a large tensor may hold the GIL for seconds, so it gets 30 s to answer.
The `Server` header is left out: it would only tell an attacker what to look for.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from app.core.config import Settings
from app.observability.logs import logging_config
from app.observability.metrics import MULTIPROC_ENV

# Seconds a worker has to answer the supervisor's ping before it is killed and replaced.
WORKER_HEALTHCHECK_S = 30


def prepare_multiprocess_metrics() -> Path:
    """The metrics directory for several workers, emptied of a previous run's values."""
    configured = os.environ.get(MULTIPROC_ENV)
    directory = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="activations-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory


def main(argv: Sequence[str] | None = None) -> None:
    settings = Settings()
    parser = argparse.ArgumentParser(prog="activations-serve", description="Serve Keras-exact activations over HTTP.")
    parser.add_argument("--host", default=settings.host, help="interface (ACTIVATIONS_HOST, default %(default)s)")
    parser.add_argument("--port", type=int, default=settings.port, help="port (ACTIVATIONS_PORT, default %(default)s)")
    parser.add_argument(
        "--workers",
        type=int,
        default=settings.workers,
        help="worker processes (ACTIVATIONS_WORKERS, default %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.workers > 1 and settings.metrics:
        prepare_multiprocess_metrics()
    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level,
        log_config=logging_config(settings.log_level, settings.log_format),
        access_log=False,
        timeout_keep_alive=settings.keep_alive_timeout_s,
        timeout_graceful_shutdown=settings.graceful_shutdown_s,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
        server_header=False,
    )


if __name__ == "__main__":
    main()
