"""Time in one place, so tests can move it and every rule sees the same instant."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    """Milliseconds since the epoch; the only clock the service reads."""
    return time.time_ns() // 1_000_000


def to_iso(epoch_ms: int) -> str:
    """RFC 3339 UTC with millisecond precision and a `Z`."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def from_iso(value: str) -> int:
    """Parse an RFC 3339 timestamp (any offset) to epoch milliseconds."""
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("timestamp needs a time zone (use Z for UTC)")
    return int(moment.timestamp() * 1000)
