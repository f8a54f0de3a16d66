"""botocore failures translated once, into the contract's errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from agent_sessions.errors import AppError, ServiceUnavailableError, TooManyRequestsError

# What a caller can retry later, once botocore's own retries are spent: the store said
# "slow down" (429, the contract's throttle) or failed on its side (503).
_THROTTLED = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
}
_THROTTLED_REASONS = {"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
_UNAVAILABLE = {"InternalServerError", "ServiceUnavailable"}


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def cancellation_reasons(error: ClientError) -> list[dict[str, Any]]:
    """Per-action reasons of a cancelled transaction, in the order the actions were sent."""
    reasons = error.response.get("CancellationReasons")
    if reasons is None:
        # Some emulators only put the codes in the message: "... [None, ConditionalCheckFailed]".
        message = str(error.response.get("Error", {}).get("Message", ""))
        if "[" in message and message.endswith("]"):
            codes = message[message.rindex("[") + 1 : -1].split(",")
            return [{"Code": code.strip()} for code in codes]
        return []
    return [dict(reason) for reason in reasons]


def unavailable(retry_after: int = 1) -> ServiceUnavailableError:
    return ServiceUnavailableError(
        "The session store is unavailable; retry shortly",
        headers={"Retry-After": str(retry_after)},
    )


def throttled(retry_after: int = 1) -> TooManyRequestsError:
    return TooManyRequestsError(
        "The session store is throttling this request; retry shortly",
        code="store_throttled",
        headers={"Retry-After": str(retry_after)},
    )


def store_failure(error: Exception) -> AppError | None:
    """The contract's error for a botocore failure a caller may retry, else None (a bug)."""
    if isinstance(error, BotoCoreError):  # connection refused, timeouts after retries
        return unavailable()
    if not isinstance(error, ClientError):
        return None
    code = error_code(error)
    if code in _THROTTLED:
        return throttled()
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in _UNAVAILABLE or status >= 500:
        return unavailable()
    if code == "TransactionCanceledException":
        reasons = {reason.get("Code") for reason in cancellation_reasons(error)}
        if reasons & _THROTTLED_REASONS:
            return throttled()
    return None


@contextmanager
def store_errors() -> Iterator[None]:
    """Throttling becomes 429, store-side faults and unreachable endpoints 503, both with
    Retry-After; anything else (a condition the caller handles, or a bug) propagates."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        failure = store_failure(error)
        if failure is None:
            raise
        raise failure from error
