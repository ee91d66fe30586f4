"""Domain errors shared by the numeric core, the codecs and the API.

Pure Python: the API maps each class to an RFC 9457 problem (status, type slug, title) in one
place, so the core and the codecs raise these without knowing about HTTP frameworks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class ErrorItem:
    """One offending place in the request: `loc` is its full path, `msg` what is wrong there."""

    loc: Loc
    msg: str


class ServiceError(Exception):
    """A client-caused error; subclasses fix the HTTP status and the problem type slug."""

    status: int = 400
    kind: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, errors: Sequence[ErrorItem] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = tuple(errors)


class MalformedBody(ServiceError):
    status, kind, title = 400, "malformed-body", "Malformed request body"


class Unauthorized(ServiceError):
    status, kind, title = 401, "unauthorized", "Missing or wrong API key"


class UnknownActivation(ServiceError):
    status, kind, title = 404, "unknown-activation", "Unknown activation"


class NotFound(ServiceError):
    status, kind, title = 404, "not-found", "Not found"


class MethodNotAllowed(ServiceError):
    status, kind, title = 405, "method-not-allowed", "Method not allowed"


class NotAcceptable(ServiceError):
    status, kind, title = 406, "not-acceptable", "Not acceptable"


class PayloadTooLarge(ServiceError):
    status, kind, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(ServiceError):
    status, kind, title = 415, "unsupported-media-type", "Unsupported media type"


class InvalidTensor(ServiceError):
    status, kind, title = 422, "invalid-tensor", "Invalid tensor"


class InvalidParameter(ServiceError):
    status, kind, title = 422, "invalid-parameter", "Invalid parameter"


class InvalidBody(ServiceError):
    status, kind, title = 422, "invalid-body", "Invalid request body"


class InvalidExpression(InvalidParameter):
    """A custom activation's expression that the language refuses; `column` is 1-based."""

    def __init__(self, detail: str, column: int) -> None:
        super().__init__(detail, [ErrorItem(("expression",), detail)])
        self.column = column
