"""Key builders of the single-table layout (DESIGN §4). The namespace is in every key.

Lookup values are hashed, never embedded: a user id or metadata value may hold `#` or be
long enough to pass DynamoDB's key limits, and a digest of the JSON pair [field, value]
cannot collide across fields or values.
"""

from __future__ import annotations

import hashlib
import json

SESSION_SK = "SESSION"
# The session's cold part (situation, agent_config, user_memory, metadata, summary): beside the
# head in the session's partition, so one Query with begins_with(SK, "SESSION") reads both,
# and after every message (`MSG#…` < `SESSION` < `SESSION#BODY`), so history pages that end
# at the head never read it.
BODY_SK = "SESSION#BODY"
SESSION_SK_PREFIX = "SESSION"
COUNTER_SK = "COUNTER"
IDEMPOTENCY_SK = "IDEM"
MESSAGE_SK_PREFIX = "MSG#"
LOOKUP_SK_PREFIX = "IDX#"
SORT_KEY_CEILING = "~"

# The layout version this code writes (see store/layout.py). Version 1 kept the whole session
# in one item, unsharded listing partitions and one counter per listing partition; version 2
# sharded every listing family 16 ways; the table's version 3 gives each family its own shard count.
LAYOUT_VERSION = 2
# The table's marker (store/layout.py) records 3 once every family of a version-2 table has
# its count written: items keep version 2 (their shape did not change).
TABLE_LAYOUT_VERSION = 3
LAYOUT_PK = "LAYOUT"
LAYOUT_SK = "LAYOUT"

# Every listing partition of a namespace (by created_at, by last activity, one lookup value,
# one user's activity) and its exact-total counter is split into shards by a hash of the
# session id: entry and counter of a session in a family with C shards live in shard
# hash % C. Shards follow heat (DESIGN §4, store/shards.py): a family starts with one shard
# and its count only grows, doubling up to MAX_SHARDS, so hash % C for any count a writer
# ever used is below the count readers use (C' = 2^k·C: hash % C' ≡ hash % C mod C).
# At 5,000 appends/s in one namespace 16 activity shards take 5,000/16 × 2 WCU (a key move is
# a delete and a put) = 625 WCU/s each, under one partition's 1,000 WCU/s; 32 leaves room
# for twice that.
MAX_SHARDS = 32
# What every listing family of a table written before shards followed heat had: readers
# assume it for a family with no count of its own until migrate-layout has marked the table.
LEGACY_SHARDS = 16

LOOKUP_FIELDS = ("user_id", "agent_id", "metadata")

# Index name -> (partition key, sort key). GSI3 shares GSI2's sort key (last activity), so an
# append moves a session in both activity indexes by writing one attribute of one item.
INDEX_KEYS = {
    "GSI1": ("GSI1PK", "GSI1SK"),  # namespace and lookups, by created_at
    "GSI2": ("GSI2PK", "GSI2SK"),  # namespace by last activity
    "GSI3": ("GSI3PK", "GSI2SK"),  # one user's sessions by last activity
}

# The sparse due index (DueIndex): each live session's next lifecycle deadline, spread over
# shards by session id so that no index partition takes every write. It is table-wide (every
# namespace's sessions: creates, PATCHes and terminates write to it), one more family whose
# count follows heat (store/shards.py): DUE_FAMILY names it, and a table written before counts
# existed had LEGACY_SHARDS.
DUE_INDEX = "DueIndex"
DUE_FAMILY = "DUE"


def _hash32(session_id: str) -> int:
    return int(hashlib.sha256(session_id.encode()).hexdigest()[:8], 16)


def shard_of(session_id: str, count: int) -> int:
    """The shard a session's entry and counter take in a family of `count` shards."""
    return _hash32(session_id) % count


def sharded(partition: str, shard: int) -> str:
    """One shard of a logical listing partition, as stored in an index key."""
    return f"{partition}#S{shard}"


def shard_in(sharded_key: str | None) -> int | None:
    """The shard number at the end of a sharded index key (None for a missing key)."""
    if not sharded_key or "#S" not in sharded_key:
        return None
    tail = sharded_key.rsplit("#S", 1)[1]
    return int(tail) if tail.isdigit() else None


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
    """The logical listing partition of one (field, value) pair (GSI1 for every field, GSI3
    for user_id), before sharding; `key` is the metadata key for field `metadata`."""
    digest = _digest(field, value) if key is None else _digest(field, key, value)
    return f"NS#{namespace_id}#{field}#{digest}"


def lookup_sk(partition: str) -> str:
    """A lookup item's sort key in its session's partition: the digest part of its logical
    listing partition."""
    _, _, field, digest = partition.split("#", 3)
    return f"{LOOKUP_SK_PREFIX}{field}#{digest}"


def counter_pk(listing_partition: str, shard: int) -> str:
    """One shard of the counter of one listing partition (the namespace, or one lookup pair);
    the exact total is the sum of its shards. Shard 0 also holds the family's shard count."""
    return f"{listing_partition}#COUNT#S{shard}"


def legacy_counter_pk(listing_partition: str) -> str:
    """Layout 1's single counter item of a listing partition (removed by the migration)."""
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


def object_prefix(namespace_id: str, session_id: str) -> str:
    """Where a session's objects live in the attachments bucket: the namespace, then the
    session, so a tenant's or a session's objects are one prefix (listed on purge)."""
    return f"{namespace_id}/{session_id}/"


def object_key(namespace_id: str, session_id: str, object_id: str) -> str:
    return object_prefix(namespace_id, session_id) + object_id
