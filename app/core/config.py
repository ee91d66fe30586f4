"""Service settings, read from `ACTIVATIONS_*` environment variables.

Built by `create_app()` (or passed in by tests), never at import time.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
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
    max_in_flight: int = Field(64, ge=1, description="Requests in work per worker; more are refused with 503.")
    # 144 MiB: at the worst measured 85 bytes of memory per body byte (JSON of `0,` as float64) the
    # requests in work together take no more than the largest single request can (12.25 GiB at the
    # body and element limits), which a worker must hold anyway (README, Limits and security).
    max_in_flight_bytes: int = Field(
        144 * 1024 * 1024, ge=1, description="Request body bytes in work per worker; more are refused with 503."
    )
    compute_deadline_s: float = Field(
        60.0, gt=0, description="Seconds a request may spend decoding and computing before it is answered 503."
    )
    body_timeout_s: float = Field(60.0, gt=0, description="Seconds to receive a whole request body (408 after).")
    keep_alive_timeout_s: int = Field(5, ge=1, description="Seconds an idle keep-alive connection stays open.")
    graceful_shutdown_s: int = Field(30, ge=0, description="Seconds in-flight requests get to finish on SIGTERM.")
    api_key: SecretStr | None = Field(
        None, description="Key every endpoint but health, metrics and docs requires (unset or empty: no key)."
    )
    cors_origins: str | None = Field(
        None, description="Comma-separated origins allowed by CORS ('*': any); unset or empty: CORS off."
    )

    @property
    def cors_origin_list(self) -> list[str]:
        """The configured CORS origins, blanks dropped."""
        return [origin.strip() for origin in (self.cors_origins or "").split(",") if origin.strip()]

    @property
    def api_key_bytes(self) -> bytes | None:
        """The API key as bytes, None when no (non-empty) key is configured."""
        # Stripped as the presented keys are: a secret file's trailing newline must not lock everyone out.
        key = self.api_key.get_secret_value().strip() if self.api_key is not None else ""
        return key.encode() if key else None

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value
