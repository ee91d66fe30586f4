"""Service settings, read from `ACTIVATIONS_*` environment variables.

Built by `create_app()` (or passed in by tests), never at import time.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting, its default and its environment variable (the name in upper case)."""

    model_config = SettingsConfigDict(env_prefix="ACTIVATIONS_", extra="ignore")

    host: str = Field("127.0.0.1", description="Interface to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port.")
    workers: int = Field(1, ge=1, description="Worker processes.")
    # Visible ASCII only: the name goes into a response header as it is.
    instance_name: str = Field(
        "",
        max_length=128,
        pattern=r"^[!-~]*$",
        description="This replica's name, sent as X-Served-By on every response (empty: no header).",
    )
    max_body_bytes: int = Field(256 * 1024 * 1024, ge=1, description="Largest request body (after decompression).")
    max_elements: int = Field(2**26, ge=1, description="Most tensor elements in one request.")
    max_rank: int = Field(32, ge=0, le=32, description="Highest tensor rank.")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field("info", description="Log level.")
    log_format: Literal["json", "text"] = Field(
        "json", description="Log lines as JSON objects or as text; both carry the request id."
    )
    metrics: bool = Field(True, description="Prometheus metrics at /metrics.")

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value
