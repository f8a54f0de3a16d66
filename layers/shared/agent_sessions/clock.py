"""Time in one place, so tests can move it and every rule sees the same instant."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)
# The instants an RFC 3339 time can name in UTC (years 1 to 9999), in epoch milliseconds.
MIN_MS = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // ONE_MS
MAX_MS = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - EPOCH) // ONE_MS


def now_ms() -> int:
    """Milliseconds since the epoch; the only clock the service reads."""
    return time.time_ns() // 1_000_000


def to_iso(epoch_ms: int) -> str:
    """RFC 3339 UTC with millisecond precision and a `Z`; the year always has four digits
    (strftime's %Y does not pad years before 1000 on glibc), so the text sorts as the time."""
    moment = EPOCH + epoch_ms * ONE_MS  # exact: no float on the way
    # Fields, not strftime: a list page formats 80 times, and strftime is 3x slower.
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
        f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def ms_of(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime, exactly (sub-millisecond digits dropped)."""
    return (moment - EPOCH) // ONE_MS


def from_iso(value: str) -> int:
    """Parse an RFC 3339 timestamp (any offset) to epoch milliseconds."""
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("timestamp needs a time zone (use Z for UTC)")
    return ms_of(moment)
