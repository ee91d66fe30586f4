"""Log configuration: one line per record, JSON (the default) or text, with the request id.

Every record written while a request is served carries its id (`request_id`), taken from a
context variable that the instrumentation sets, so it reaches worker threads too. The access log
is the service's own (`app.access`, one line per request with method, path, status, duration,
activation and client); uvicorn's access log is off, since it has no request id.

Lines go to stderr through a buffer written at least every 0.2 s (`BufferedStderrHandler`), and
an access line goes straight to that handler as a finished line (`AccessLog`): a LogRecord, a
frame walk and a write system call per request would cost a small request a fifth of its time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

LogFormat = Literal["json", "text"]

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
ACCESS_LOGGER = "app.access"

# The attributes every LogRecord has; anything else on a record came as `extra` and is logged.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message", "taskName"}


class LineFormatter(logging.Formatter):
    """One line per record from (time, level, logger, message, fields); subclasses choose the form."""

    _second = -1
    _second_text = ""

    def format(self, record: logging.LogRecord) -> str:
        fields = {key: value for key, value in vars(record).items() if key not in _STANDARD}
        exc_text = self.formatException(record.exc_info) if record.exc_info else None
        return self.line(record.created, record.levelname, record.name, record.getMessage(), fields, exc_text)

    def line(
        self, created: float, level: str, logger: str, message: str, fields: Mapping[str, Any], exc_text: str | None
    ) -> str:
        raise NotImplementedError

    def timestamp(self, created: float) -> str:
        """ISO 8601 in UTC with milliseconds; the part up to the second is formatted once per second."""
        second = int(created)
        if second != self._second:
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._second_text}.{int((created - second) * 1000):03d}+00:00"


class JsonFormatter(LineFormatter):
    """A JSON object per record: time, level, logger, message, request_id, the `extra` fields, exc_info."""

    def line(
        self, created: float, level: str, logger: str, message: str, fields: Mapping[str, Any], exc_text: str | None
    ) -> str:
        entry: dict[str, Any] = {"time": self.timestamp(created), "level": level.lower(), "logger": logger}
        entry["message"] = message
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        entry.update(fields)
        if exc_text is not None:
            entry["exc_info"] = exc_text
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(LineFormatter):
    """`time level logger [request id] message key=value ...`, then the traceback if any."""

    def line(
        self, created: float, level: str, logger: str, message: str, fields: Mapping[str, Any], exc_text: str | None
    ) -> str:
        parts = [self.timestamp(created), level, logger]
        request_id = REQUEST_ID.get()
        if request_id is not None:
            parts.append(f"[{request_id}]")
        parts.append(message)
        parts.extend(f"{key}={value}" for key, value in fields.items())
        text = " ".join(parts)
        return text if exc_text is None else f"{text}\n{exc_text}"


class BufferedStderrHandler(logging.Handler):
    """Log lines to stderr through a buffer, written when it fills and at least every `interval` seconds.

    As nginx's `access_log ... buffer= flush=` does: logs stay complete and near real time without
    a system call per line. A daemon thread writes what is pending every `interval`; `flush`
    (called at exit by logging's shutdown) writes the rest. A killed process loses at most
    `interval` seconds of lines.
    """

    def __init__(self, interval: float = 0.2, capacity: int = 64 * 1024) -> None:
        super().__init__()
        self.interval = interval
        self.capacity = capacity
        self._pending = bytearray()
        self._flusher: threading.Thread | None = None
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.write_line(line)

    def write_line(self, line: str) -> None:
        data = line.encode("utf-8", "backslashreplace") + b"\n"
        with self._lock:
            self._pending += data
            if len(self._pending) >= self.capacity:
                self._write_pending()
            elif self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_regularly, name="log-flusher", daemon=True)
                self._flusher.start()

    def flush(self) -> None:
        with self._lock:
            self._write_pending()

    def _write_pending(self) -> None:
        view = memoryview(self._pending)
        while view:
            view = view[os.write(2, view) :]
        view.release()
        self._pending.clear()

    def _flush_regularly(self) -> None:
        pause = threading.Event()
        while True:
            pause.wait(self.interval)
            if self._pending:
                self.flush()


class AccessLog:
    """The access log: one line per answered request, at level info on the `app.access` logger."""

    def __init__(self) -> None:
        self.logger = logging.getLogger(ACCESS_LOGGER)

    def write(self, message: str, fields: dict[str, Any]) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        handlers = logger.handlers
        if logger.propagate or not handlers or not all(_takes_lines(handler) for handler in handlers):
            logger.info(message, extra=fields)  # someone else's handlers (a test's, a user's): a regular record
            return
        now = time.time()
        for handler in handlers:
            if handler.level <= logging.INFO:
                line = handler.formatter.line(now, "INFO", ACCESS_LOGGER, message, fields, None)  # type: ignore[union-attr]
                handler.write_line(line)  # type: ignore[attr-defined]


def _takes_lines(handler: logging.Handler) -> bool:
    return isinstance(handler, BufferedStderrHandler) and isinstance(handler.formatter, LineFormatter)


def logging_config(level: str, log_format: LogFormat) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the service and uvicorn (given to uvicorn as log_config)."""
    formatter = f"{__name__}.{'JsonFormatter' if log_format == 'json' else 'TextFormatter'}"
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": formatter}},
        "handlers": {"default": {"()": BufferedStderrHandler, "formatter": "default"}},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": upper, "propagate": False},
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "app": {"handlers": ["default"], "level": upper, "propagate": False},
        },
    }
