"""What the table stores, and how a stored session becomes the wire resource."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from agent_sessions import clock
from agent_sessions.models.common import Quotas
from agent_sessions.models.limits import canonical_json, metadata_text
from agent_sessions.models.responses import Attachment, Feedback, ForkedFrom, Message, Session, SessionStats
from agent_sessions.store import keys
from agent_sessions.store.codec import Item, from_item, to_item

WRITABLE_STATUSES = ("active", "idle")
# Stands for "no quota" in the numeric attributes that appends check in their condition, so
# an append needs no read to know whether a quota applies.
UNLIMITED = 10**15


class LookupEntry(BaseModel):
    model_config = ConfigDict(defer_build=True)  # built on first use (see StrictModel)

    """One (field, value) pair a session can be found by, through GSI1."""

    field: str
    value: str
    key: str | None = None  # the metadata key, for field "metadata"

    def partition(self, namespace_id: str) -> str:
        return keys.lookup_partition(namespace_id, self.field, self.value, self.key)


# What only create and PATCH write: the session's cold part, kept in its own item so that an
# append rewrites a head of a few hundred bytes whatever the session's configuration holds.
BODY_FIELDS = ("situation", "summary", "summary_through_seq", "agent_config", "user_memory", "metadata")
_JSON_FIELDS = ("agent_config", "metadata", "user_memory", "quotas")


class SessionItem(BaseModel):
    model_config = ConfigDict(defer_build=True)  # built on first use (see StrictModel)

    """The stored session, kept as two items of its partition: the head (`SESSION`: identity,
    status, counters, times, quotas and every index key; what appends update) and the body
    (`SESSION#BODY`: BODY_FIELDS). Free-form objects are kept as canonical JSON text: exact
    numbers, no Decimal conversions and no nesting limit of DynamoDB maps."""

    namespace_id: str
    session_id: str
    internal_id: str
    user_id: str | None = None
    agent_id: str | None = None
    session_name: str | None = None
    situation: str | None = None
    summary: str | None = None
    summary_through_seq: int | None = None  # the last seq the summary covers (compaction)
    agent_config: dict[str, Any] = {}
    user_memory: dict[str, Any] | None = None
    metadata: dict[str, Any] = {}
    quotas: Quotas | None = None
    enable_memory: bool = True
    status: str = "active"
    message_count: int = 0
    total_tokens: int = 0
    total_tool_calls: int = 0
    latency_sum_ms: float = 0
    latency_samples: int = 0
    created_ms: int
    updated_ms: int
    last_activity_ms: int
    expires_ms: int
    terminated_ms: int | None = None
    version: int = 1
    first_user_seq: int | None = None  # seq of the first user message: names the session
    rate_window: int | None = None  # the minute (epoch // 60) the rate counter belongs to
    rate_left: int | None = None  # messages still allowed in that minute
    # 2: head and body items, sharded index keys; 1: one item (before migrate-layout).
    layout: int = keys.LAYOUT_VERSION
    forked_from: str | None = None  # parent session id (a fork)
    forked_through: int | None = None  # the parent's last seq copied
    # Where the head's index entries are: the shard of the namespace's created_at listing
    # (GSI1PK), of its activity listing (GSI2PK) and of the user's activity (GSI3PK). Read
    # from the keys; the store sets them on create from the families' counts and keeps them
    # (an entry that moved shard without moving in sort order could be skipped by a reader
    # paging through); None is shard 0, in every count.
    created_shard: int | None = None
    activity_shard: int | None = None
    user_shard: int | None = None
    due_shard: int | None = None  # of the table-wide due index (DUEPK)

    # --- derived rules -------------------------------------------------------------------

    def visible_until_ms(self, terminated_retention_seconds: int) -> int:
        """The instant the session disappears for every reader: its expiry, or for a
        terminated session the end of its retention, whichever comes first."""
        if self.terminated_ms is None:
            return self.expires_ms
        return min(self.expires_ms, self.terminated_ms + terminated_retention_seconds * 1000)

    def next_due_ms(self, idle_after_seconds: int, terminated_retention_seconds: int) -> int:
        """The next lifecycle deadline the expiry job acts on: going idle (an active session
        whose idle time comes before it disappears), else disappearing."""
        visible_until = self.visible_until_ms(terminated_retention_seconds)
        if self.status == "active":
            return min(self.last_activity_ms + idle_after_seconds * 1000, visible_until)
        return visible_until

    def effective_status(self, now_ms: int, idle_after_seconds: int) -> str:
        """`idle` is derived on read, so no reader sees a status the expiry job has not yet written."""
        if self.status in WRITABLE_STATUSES:
            return "idle" if now_ms - self.last_activity_ms >= idle_after_seconds * 1000 else "active"
        return self.status

    def lookups(self) -> list[LookupEntry]:
        entries: list[LookupEntry] = []
        if self.user_id is not None:
            entries.append(LookupEntry(field="user_id", value=self.user_id))
        if self.agent_id is not None:
            entries.append(LookupEntry(field="agent_id", value=self.agent_id))
        for key, value in sorted(self.metadata.items()):
            entries.append(LookupEntry(field="metadata", key=key, value=metadata_text(value)))
        return entries

    # --- wire form -------------------------------------------------------------------------

    def to_session(self, now_ms: int, idle_after_seconds: int) -> Session:
        return Session(
            session_id=self.session_id,
            namespace_id=self.namespace_id,
            internal_id=self.internal_id,
            user_id=self.user_id,
            agent_id=self.agent_id,
            session_name=self.session_name,
            situation=self.situation,
            summary=self.summary,
            agent_config=self.agent_config,
            user_memory=self.user_memory,
            metadata=self.metadata,
            quotas=self.quotas,
            enable_memory=self.enable_memory,
            status=self.effective_status(now_ms, idle_after_seconds),  # type: ignore[arg-type]
            message_count=self.message_count,
            stats=SessionStats(
                total_messages=self.message_count,
                total_tokens=self.total_tokens,
                total_tool_calls=self.total_tool_calls,
                avg_latency_ms=round(self.latency_sum_ms / self.latency_samples, 3) if self.latency_samples else None,
            ),
            created_at=clock.to_iso(self.created_ms),
            updated_at=clock.to_iso(self.updated_ms),
            last_activity_at=clock.to_iso(self.last_activity_ms),
            expires_at=clock.to_iso(self.expires_ms),
            terminated_at=clock.to_iso(self.terminated_ms) if self.terminated_ms is not None else None,
            version=self.version,
            summary_through_seq=self.summary_through_seq,
            forked_from=ForkedFrom(session_id=self.forked_from, through_seq=self.forked_through)
            if self.forked_from is not None and self.forked_through is not None
            else None,
        )

    # --- stored form -----------------------------------------------------------------------

    def key(self) -> Item:
        return {"PK": {"S": keys.session_pk(self.namespace_id, self.session_id)}, "SK": {"S": keys.SESSION_SK}}

    def body_key(self) -> Item:
        return {"PK": {"S": keys.session_pk(self.namespace_id, self.session_id)}, "SK": {"S": keys.BODY_SK}}

    def to_item(self, terminated_retention_seconds: int, idle_after_seconds: int) -> Item:
        """The head item: everything but BODY_FIELDS, with every index key."""
        visible_until = self.visible_until_ms(terminated_retention_seconds)
        due = self.next_due_ms(idle_after_seconds, terminated_retention_seconds)
        namespace = keys.namespace_partition(self.namespace_id)
        user_partition = (
            keys.sharded(keys.lookup_partition(self.namespace_id, "user_id", self.user_id), self.user_shard or 0)
            if self.user_id
            else None
        )
        values: dict[str, Any] = {
            "PK": keys.session_pk(self.namespace_id, self.session_id),
            "SK": keys.SESSION_SK,
            "kind": "session",
            "GSI1PK": keys.sharded(namespace, self.created_shard or 0),
            "GSI1SK": keys.time_sort_key(clock.to_iso(self.created_ms), self.session_id),
            "GSI2PK": keys.sharded(namespace, self.activity_shard or 0),
            "GSI2SK": keys.time_sort_key(clock.to_iso(self.last_activity_ms), self.session_id),
            "GSI3PK": user_partition,
            "DUEPK": keys.due_pk(self.due_shard or 0),
            "DUESK": keys.due_sk(due, self.namespace_id, self.session_id),
            "visible_until_ms": visible_until,
            # DynamoDB's TTL works in whole seconds and deletes later; readers use visible_until_ms.
            "ttl": -(-visible_until // 1000),
        }
        # namespace_id and session_id are in PK: not repeated, so the head stays under 1 KB.
        placement = {"created_shard", "activity_shard", "user_shard", "due_shard"}  # in the keys above
        for name, value in self.model_dump(
            exclude={*BODY_FIELDS, *placement, "quotas", "namespace_id", "session_id"}
        ).items():
            values[name] = value
        values["layout"] = keys.LAYOUT_VERSION
        values["quotas"] = self.quotas.model_dump_json(exclude_none=True) if self.quotas is not None else None
        quotas = self.quotas or Quotas()
        # What an append's condition compares against (see store/messages.py).
        values["cap_messages"] = quotas.max_messages or UNLIMITED
        values["tokens_left"] = (
            quotas.max_tokens_total - self.total_tokens if quotas.max_tokens_total is not None else UNLIMITED
        )
        values["tool_calls_left"] = (
            quotas.max_tool_calls - self.total_tool_calls if quotas.max_tool_calls is not None else UNLIMITED
        )
        values["rate_cap"] = quotas.rate_limit_messages_per_minute
        item = to_item(values)
        if self.session_name is None and self.first_user_seq is not None:
            # Present but null: an append's if_not_exists must not name it again.
            item["session_name"] = {"NULL": True}
        return item

    def body_item(self) -> Item:
        """The body item: BODY_FIELDS only. It has no TTL of its own: the removal of the head
        (TTL, purge, the expiry job) cascades to it as to the messages."""
        values: dict[str, Any] = {
            "PK": keys.session_pk(self.namespace_id, self.session_id),
            "SK": keys.BODY_SK,
            "kind": "body",
            "situation": self.situation,
            "summary": self.summary,
            "summary_through_seq": self.summary_through_seq,
            "agent_config": canonical_json(self.agent_config),
            "metadata": canonical_json(self.metadata),
            "user_memory": canonical_json(self.user_memory) if self.user_memory is not None else None,
        }
        return to_item(values)

    def body_differs(self, other: SessionItem) -> bool:
        return any(getattr(self, name) != getattr(other, name) for name in BODY_FIELDS)

    @classmethod
    def from_item(cls, item: Item, body: Item | None = None) -> SessionItem:
        """The session from its head and, when read, its body. A layout-1 item holds both
        parts; a head alone (a stream image, the expiry job) leaves BODY_FIELDS at defaults."""
        values = from_item(item)
        if "session_id" not in values:
            values["namespace_id"], values["session_id"] = keys.parse_session_pk(values["PK"])
        for name in _JSON_FIELDS:
            if isinstance(values.get(name), str):
                values[name] = json.loads(values[name])
        if body is not None:
            values.update(body_values(body))
        values.setdefault("layout", 1)
        if values["layout"] != 1:  # layout 1's keys are not sharded
            values["created_shard"] = keys.shard_in(values.get("GSI1PK"))
            values["activity_shard"] = keys.shard_in(values.get("GSI2PK"))
            values["user_shard"] = keys.shard_in(values.get("GSI3PK"))
            due = values.get("DUEPK")
            values["due_shard"] = int(due[4:]) if isinstance(due, str) and due[4:].isdigit() else None
        known = cls.model_fields
        return cls.model_validate({name: value for name, value in values.items() if name in known})


def body_values(body: Item) -> dict[str, Any]:
    """BODY_FIELDS of a body item, decoded."""
    values = {name: value for name, value in from_item(body).items() if name in BODY_FIELDS}
    for name in _JSON_FIELDS:
        if isinstance(values.get(name), str):
            values[name] = json.loads(values[name])
    return values


class MessageItem(BaseModel):
    model_config = ConfigDict(defer_build=True)  # built on first use (see StrictModel)

    """One stored message; its sort key is its zero-padded seq, so history is a key-range read."""

    namespace_id: str
    session_id: str
    message_id: str
    seq: int
    role: str
    content: str
    content_type: str = "text"
    tool_name: str | None = None
    tool_inputs: str | None = None
    tool_outputs: str | None = None
    tool_status: str | None = None
    token_count: int | None = None
    latency_ms: float | None = None
    metadata: dict[str, Any] = {}
    timestamp_ms: int
    feedback: dict[str, Any] | None = None  # {rating, feedback_text, recorded_ms}
    revision: int = 0  # bumped by every correction (PATCH …/messages/{seq}, feedback)
    # Files in the attachments bucket (DESIGN §11): {attachment_id, name, mime_type, size, sha256}.
    attachments: list[dict[str, Any]] = []
    # A content kept in S3 (`cnt_…`): the item's `content` is then "" until a reader loads it.
    content_object: str | None = None
    content_size: int | None = None
    content_sha256: str | None = None

    def object_ids(self) -> list[str]:
        """Every object of the bucket this message names."""
        ids = [attachment["attachment_id"] for attachment in self.attachments]
        return ids + ([self.content_object] if self.content_object else [])

    def content_loaded(self) -> bool:
        return self.content_object is None or bool(self.content)

    def to_item(self) -> Item:
        exclude = {"metadata", "feedback", "namespace_id", "session_id", "attachments"}
        if self.content_object is None:
            exclude |= {"content_object", "content_size", "content_sha256"}
        values: dict[str, Any] = self.model_dump(exclude=exclude)
        values["metadata"] = canonical_json(self.metadata)
        values["feedback"] = canonical_json(self.feedback) if self.feedback is not None else None
        if self.content_object is not None:
            values["content"] = ""  # the text is the object's
        if self.attachments:
            values["attachments"] = canonical_json(self.attachments)
        if objects := self.object_ids():
            # One string attribute naming the objects: the stream's filter lets a message's
            # change through to the consumer only when it has one (old or new image), and the
            # consumer compares the two images' lists (service/changes.py).
            values["objects"] = " ".join(objects)
        values["PK"] = keys.session_pk(self.namespace_id, self.session_id)
        values["SK"] = keys.message_sk(self.seq)
        values["kind"] = "message"
        return to_item(values)

    @classmethod
    def from_item(cls, item: Item) -> MessageItem:
        values = from_item(item)
        if "session_id" not in values:
            values["namespace_id"], values["session_id"] = keys.parse_session_pk(values["PK"])
        values["metadata"] = json.loads(values.get("metadata") or "{}")
        if isinstance(values.get("feedback"), str):
            values["feedback"] = json.loads(values["feedback"])
        if isinstance(values.get("attachments"), str):
            values["attachments"] = json.loads(values["attachments"])
        known = cls.model_fields
        return cls.model_validate({name: value for name, value in values.items() if name in known})

    def to_message(self) -> Message:
        loaded = self.content_loaded()
        return Message(
            message_id=self.message_id,
            seq=self.seq,
            role=self.role,
            content=self.content if loaded else None,
            content_type=self.content_type,
            tool_name=self.tool_name,
            tool_inputs=self.tool_inputs,
            tool_outputs=self.tool_outputs,
            tool_status=self.tool_status,
            token_count=self.token_count,
            latency_ms=self.latency_ms,
            metadata=self.metadata,
            timestamp=clock.to_iso(self.timestamp_ms),
            feedback=Feedback(
                rating=self.feedback["rating"],
                feedback_text=self.feedback.get("feedback_text"),
                recorded_at=clock.to_iso(self.feedback["recorded_ms"]),
            )
            if self.feedback
            else None,
            attachments=[Attachment(**attachment) for attachment in self.attachments],
            # a content kept in S3 and not loaded: the reader adds its content_url
            content_size=None if loaded else self.content_size,
            content_sha256=None if loaded else self.content_sha256,
        )
