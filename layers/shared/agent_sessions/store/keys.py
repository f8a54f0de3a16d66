"""Key builders of the single-table layout (DESIGN §4). The namespace is in every key.

Lookup values are hashed, never embedded: a user id or metadata value may hold `#` or be
long enough to pass DynamoDB's key limits, and a digest of the JSON pair [field, value]
cannot collide across fields or values.
"""

from __future__ import annotations

import hashlib
import json

SESSION_SK = "SESSION"
COUNTER_SK = "COUNTER"
IDEMPOTENCY_SK = "IDEM"
MESSAGE_SK_PREFIX = "MSG#"
LOOKUP_SK_PREFIX = "IDX#"
# Sorts after every "<timestamp>#<sid>" sort key, so a newest-first query meets the
# partition's counter first and reads the total in the same call.
COUNTER_SORT_KEY = "~COUNT"
SORT_KEY_CEILING = "~"

LOOKUP_FIELDS = ("user_id", "agent_id", "metadata")

# Index name -> (partition key, sort key). GSI3 shares GSI2's sort key (last activity), so an
# append moves a session in both activity indexes by writing one attribute of one item.
INDEX_KEYS = {
    "GSI1": ("GSI1PK", "GSI1SK"),  # namespace and lookups, by created_at
    "GSI2": ("GSI2PK", "GSI2SK"),  # namespace by last activity
    "GSI3": ("GSI3PK", "GSI2SK"),  # one user's sessions by last activity
}

# The sparse due index (DueIndex): each live session's next lifecycle deadline, spread over
# DUE_SHARDS partitions by session id so that no index partition takes every write.
DUE_INDEX = "DueIndex"
DUE_SHARDS = 8


def due_shard(session_id: str) -> int:
    return int(hashlib.sha256(session_id.encode()).hexdigest()[:8], 16) % DUE_SHARDS


def due_pk(shard: int) -> str:
    return f"DUE#{shard}"


def due_sk(due_ms: int, namespace_id: str, session_id: str) -> str:
    """Sorts by time: zero-padded epoch milliseconds, then the session."""
    return f"{due_ms:015d}#{namespace_id}#{session_id}"


def due_ms_of(due_sort_key: str) -> int:
    return int(due_sort_key.split("#", 1)[0])


def _digest(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def session_pk(namespace_id: str, session_id: str) -> str:
    return f"NS#{namespace_id}#SES#{session_id}"


def message_sk(seq: int) -> str:
    return f"{MESSAGE_SK_PREFIX}{seq:010d}"


def namespace_partition(namespace_id: str) -> str:
    return f"NS#{namespace_id}"


def time_sort_key(timestamp_iso: str, session_id: str) -> str:
    return f"{timestamp_iso}#{session_id}"


def lookup_partition(namespace_id: str, field: str, value: str, key: str | None = None) -> str:
    """GSI1 (and for user_id, GSI2) partition of one (field, value) pair; `key` is the
    metadata key for field `metadata`."""
    digest = _digest(field, value) if key is None else _digest(field, key, value)
    return f"NS#{namespace_id}#{field}#{digest}"


def lookup_sk(partition: str) -> str:
    """A lookup item's sort key in its session's partition: the digest part of its GSI1PK."""
    _, _, field, digest = partition.split("#", 3)
    return f"{LOOKUP_SK_PREFIX}{field}#{digest}"


def counter_pk(listing_partition: str) -> str:
    """The counter item of one listing partition (the namespace, or one lookup pair)."""
    return f"{listing_partition}#COUNT"


def idempotency_pk(namespace_id: str, key: str) -> str:
    return f"NS#{namespace_id}#IDEM#{_digest('idempotency', key)}"


ENDED_SK = "ENDED"


def ended_pk(namespace_id: str, session_id: str) -> str:
    """A marker, outside the session's partition, that a removed session's counters were
    settled: the stream consumer's cascade writes it once, so a redelivered record never
    decrements twice."""
    return f"NS#{namespace_id}#ENDED#{session_id}"


def parse_session_pk(pk: str) -> tuple[str, str]:
    """`NS#<ns>#SES#<sid>` → (namespace_id, session_id)."""
    namespace_part, _, session_id = pk.partition("#SES#")
    return namespace_part.removeprefix("NS#"), session_id
