"""botocore failures translated once, into the contract's errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from agent_sessions.errors import ServiceUnavailableError

# What a caller can retry later: the store said "slow down" or failed on its side.
_UNAVAILABLE = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
}


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


@contextmanager
def store_errors() -> Iterator[None]:
    """Throttling, store-side faults and unreachable endpoints become 503 with Retry-After;
    anything else (a bug) propagates."""
    try:
        yield
    except ClientError as error:
        code = error_code(error)
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _UNAVAILABLE or status >= 500:
            raise unavailable() from error
        if code == "TransactionCanceledException" and any(
            reason.get("Code") in {"ThrottlingError", "ProvisionedThroughputExceeded"}
            for reason in cancellation_reasons(error)
        ):
            raise unavailable() from error
        raise
    except BotoCoreError as error:  # connection refused, timeouts after retries
        raise unavailable() from error
