"""The `activations-serve` console command: start the server with the settings.

Logging is the service's own (JSON or text lines with the request id, `app.observability.logs`)
and its access log replaces uvicorn's. With several workers, Prometheus multiprocess mode needs a
directory shared by the workers and empty at start: the one in `PROMETHEUS_MULTIPROC_DIR` if set
(its old values are removed), else a fresh temporary one.
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
        timeout_graceful_shutdown=30,
    )


if __name__ == "__main__":
    main()
