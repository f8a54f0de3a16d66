"""Errors raised by the client: one class per `type` of the API's error envelope."""

from __future__ import annotations

from typing import Any


class AgentSessionsError(Exception):
    """An error answer of the API (or, with status 0, no answer at all)."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str = "",
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = details or {}
        self.headers = headers or {}


class BadRequestError(AgentSessionsError): ...


class UnauthorizedError(AgentSessionsError): ...


class ForbiddenError(AgentSessionsError): ...


class NotFoundError(AgentSessionsError): ...


class ConflictError(AgentSessionsError): ...


class PreconditionFailedError(AgentSessionsError): ...


class PayloadTooLargeError(AgentSessionsError): ...


class ValidationError(AgentSessionsError): ...


class TooManyRequestsError(AgentSessionsError): ...


class ServiceUnavailableError(AgentSessionsError): ...


class InternalError(AgentSessionsError): ...


class TransportError(AgentSessionsError):
    """No answer came back (connection refused or reset, timeout) after every retry."""


_BY_TYPE: dict[str, type[AgentSessionsError]] = {
    cls.__name__: cls
    for cls in (
        BadRequestError,
        UnauthorizedError,
        ForbiddenError,
        NotFoundError,
        ConflictError,
        PreconditionFailedError,
        PayloadTooLargeError,
        ValidationError,
        TooManyRequestsError,
        ServiceUnavailableError,
        InternalError,
    )
}
_BY_STATUS: dict[int, type[AgentSessionsError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    412: PreconditionFailedError,
    413: PayloadTooLargeError,
    422: ValidationError,
    429: TooManyRequestsError,
    503: ServiceUnavailableError,
}


def error_from_response(status: int, body: Any, headers: dict[str, str]) -> AgentSessionsError:
    """The error an answer's envelope names (by `type`; by status when the body is not one)."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        cls = _BY_TYPE.get(str(error.get("type")), _BY_STATUS.get(status, AgentSessionsError))
        return cls(
            str(error.get("message") or f"HTTP {status}"),
            status=status,
            code=str(error.get("code") or ""),
            details=error.get("details") if isinstance(error.get("details"), dict) else {},
            headers=headers,
        )
    cls = _BY_STATUS.get(status, InternalError if status >= 500 else AgentSessionsError)
    return cls(f"HTTP {status}", status=status, headers=headers)
