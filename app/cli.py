"""The `activations-serve` console command: start the server with the settings."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn

from app.core.config import Settings


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
    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level,
        timeout_graceful_shutdown=30,
    )


if __name__ == "__main__":
    main()
