"""The one error map: every failure the API reports, as the contract's envelope.

Each class's name is the envelope's `type`, so a direct (non-HTTP) invocation can raise it
and a Step Functions `Catch` can match on it.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}
        self.headers = headers or {}

    @property
    def type(self) -> str:
        return type(self).__name__

    def envelope(self) -> dict[str, Any]:
        return {
            "success": False,
            "status": self.status,
            "error": {"type": self.type, "message": self.message, "code": self.code, "details": self.details},
        }


class BadRequestError(AppError):
    status = 400
    code = "bad_request"


class UnauthorizedError(AppError):
    status = 401
    code = "unauthorized"


class ForbiddenError(AppError):
    status = 403
    code = "forbidden"


class NotFoundError(AppError):
    status = 404
    code = "not_found"


class ConflictError(AppError):
    status = 409
    code = "conflict"


class PreconditionFailedError(AppError):
    status = 412
    code = "precondition_failed"


class PayloadTooLargeError(AppError):
    status = 413
    code = "payload_too_large"


class ValidationError(AppError):
    status = 422
    code = "validation_error"


class TooManyRequestsError(AppError):
    status = 429
    code = "rate_limited"


class ServiceUnavailableError(AppError):
    status = 503
    code = "store_unavailable"


class InternalError(AppError):
    status = 500
    code = "internal_error"


def session_not_found(session_id: str) -> NotFoundError:
    return NotFoundError(
        f"Session {session_id} not found", code="session_not_found", details={"session_id": session_id}
    )


def _clean(value: Any) -> Any:
    """Error contexts may hold exceptions or bytes; keep what JSON can carry."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _clean(item) for key, item in value.items()}
    return str(value)


def validation_failure(
    errors: Any,
    *,
    prefix: list[str | int] | None = None,
    accepted_keys: Any = None,
) -> AppError:
    """Pydantic (or Powertools) validation errors as the contract's 422, or 413 when a size
    limit is what failed. `accepted_keys(loc)` names the keys accepted where an unknown key
    was found."""
    listed: list[dict[str, Any]] = []
    unknown: list[str] = []
    accepted: list[str] = []
    too_large = False
    for error in errors:
        loc = [*(prefix or []), *error.get("loc", ())]
        error_type = str(error.get("type", "value_error"))
        message = str(error.get("msg") or _default_message(error_type))
        entry: dict[str, Any] = {"loc": loc, "msg": message, "type": error_type}
        if error.get("ctx"):
            entry["ctx"] = _clean(error["ctx"])
        if error_type == "extra_forbidden":
            unknown.append(".".join(str(part) for part in loc[1:]) or str(loc[-1]))
            if accepted_keys is not None:
                accepted = accepted_keys(loc)
                entry["msg"] = f"Unknown field; accepted fields: {', '.join(accepted)}"
        if error_type == "too_large":
            too_large = True
        listed.append(entry)
    if too_large:
        first = next(entry for entry in listed if entry["type"] == "too_large")
        return PayloadTooLargeError(
            f"{'.'.join(str(part) for part in first['loc'][1:])}: {first['msg']}",
            code="field_too_large",
            details={"errors": listed},
        )
    if unknown:
        message = f"Unknown field(s): {', '.join(unknown)}"
        if accepted:
            message += f". Accepted fields: {', '.join(accepted)}"
        return ValidationError(message, code="unknown_field", details={"errors": listed, "accepted_fields": accepted})
    first_loc = ".".join(str(part) for part in listed[0]["loc"]) if listed else "body"
    message = f"Invalid request: {first_loc}: {listed[0]['msg']}" if listed else "Invalid request"
    return ValidationError(message, code="validation_error", details={"errors": listed})


def _default_message(error_type: str) -> str:
    return {
        "missing": "Field required",
        "json_invalid": "Invalid JSON",
        "extra_forbidden": "Extra inputs are not permitted",
    }.get(error_type, error_type.replace("_", " ").capitalize())


def error_from_envelope(envelope: Any) -> AppError:
    """The error an envelope describes, as its own class (`type` names it), for callers that
    raise rather than answer (direct invocation)."""
    error = envelope.get("error") if isinstance(envelope, dict) else None
    if not isinstance(error, dict):
        return InternalError("The operation failed without an error envelope")
    classes = {cls.__name__: cls for cls in _subclasses(AppError)}
    cls = classes.get(str(error.get("type")), AppError)
    raised = cls(str(error.get("message", "")), code=error.get("code"), details=error.get("details") or {})
    if cls is AppError and isinstance(envelope.get("status"), int):
        raised.status = envelope["status"]
    return raised


def _subclasses(cls: type[AppError]) -> list[type[AppError]]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found
