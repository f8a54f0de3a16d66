"""The stream consumer's rules: what each change of a session item means.

- INSERT → `session.created` (a fork's: when its invisible `forking` head becomes the real one)
- MODIFY into `terminated` → `session.terminated`
- REMOVE → delete everything left of the session (messages, lookups) in batches; when it was
  DynamoDB's TTL (userIdentity: the dynamodb service), also take the session out of its
  counters (once: see SessionStore.settle_removed); publish `session.expired` for TTL's
  removals and for the expiry job's (the session was past its end), `session.purged` for a
  purge.
- a message's change whose images name objects of the attachments bucket (its `objects`) →
  settle the objects the new image adds (the bucket's lifecycle rule must keep them) and
  delete those the old image names and the new one does not (a rewind, a redaction, a purge's
  cascade, a position a rewind freed and an append took again).
Every step is idempotent: a redelivered record deletes nothing more and decrements nothing
twice (events are at-least-once; `event_id` deduplicates).
"""

from __future__ import annotations

from typing import Any

from agent_sessions import publisher
from agent_sessions.models.items import SessionItem
from agent_sessions.settings import Settings
from agent_sessions.store import keys
from agent_sessions.store.objects import ObjectStore
from agent_sessions.store.sessions import SessionStore

TTL_PRINCIPAL = "dynamodb.amazonaws.com"
FORKING = "forking"  # the invisible head a fork writes before its copies (store/conversation.py)


def _status(image: dict[str, Any]) -> str | None:
    return (image.get("status") or {}).get("S")


ENDED_MARKER_DAYS = 7


def removed_by_ttl(record: dict[str, Any]) -> bool:
    identity = record.get("userIdentity") or {}
    return identity.get("type") == "Service" and identity.get("principalId") == TTL_PRINCIPAL


def _objects(image: dict[str, Any] | None) -> set[str]:
    return set(((image or {}).get("objects") or {}).get("S", "").split())


class SessionChanges:
    def __init__(self, store: SessionStore, settings: Settings, objects: ObjectStore | None = None) -> None:
        self.store = store
        self.settings = settings
        self.objects = objects or ObjectStore(settings)

    def handle(self, record: dict[str, Any]) -> str | None:
        """Act on one stream record; returns the event type published (None: nothing)."""
        change = record.get("dynamodb") or {}
        sort_key = (change.get("Keys") or {}).get("SK", {}).get("S", "")
        if sort_key.startswith(keys.MESSAGE_SK_PREFIX):
            self._message_objects(change)
            return None
        if sort_key != keys.SESSION_SK:
            return None  # the template's filter lets only these through; be safe anyway
        occurred_ms = int(float(change.get("ApproximateCreationDateTime") or 0) * 1000)
        event_id = str(record.get("eventID") or "")
        name = record.get("eventName")
        if name == "INSERT":
            if _status(change["NewImage"]) == FORKING:
                return None  # a fork's invisible head: created when it completes (MODIFY below)
            session = SessionItem.from_item(change["NewImage"])
            return self._publish(publisher.CREATED, session, event_id, occurred_ms)
        if name == "MODIFY":
            if _status(change["OldImage"]) == FORKING:
                return self._publish(
                    publisher.CREATED, SessionItem.from_item(change["NewImage"]), event_id, occurred_ms
                )
            old = SessionItem.from_item(change["OldImage"])
            new = SessionItem.from_item(change["NewImage"])
            if new.status == "terminated" and old.status != "terminated":
                return self._publish(publisher.TERMINATED, new, event_id, occurred_ms)
            return None
        if name == "REMOVE":
            if _status(change["OldImage"]) == FORKING:
                # A fork that never completed: never visible, never counted; remove its copies.
                self.store.delete_partition(change["Keys"]["PK"]["S"])
                self.objects.delete_prefix(keys.object_prefix(*keys.parse_session_pk(change["Keys"]["PK"]["S"])))
                return None
            removed = SessionItem.from_item(change["OldImage"])
            return self._removed(record, removed, event_id, occurred_ms)
        return None

    def _removed(self, record: dict[str, Any], removed: SessionItem, event_id: str, occurred_ms: int) -> str:
        if removed_by_ttl(record):
            # The image is the head's; the lookups of metadata pairs need the body, which has
            # no TTL of its own and is still there until the partition is deleted below.
            complete = self.store.with_body(removed)
            self.store.settle_removed(complete, occurred_ms + ENDED_MARKER_DAYS * 86_400_000)
        self.store.delete_partition(keys.session_pk(removed.namespace_id, removed.session_id))
        # Every object under the session's prefix, those of uploads no message named included
        # (the messages' own removals, just cascaded, find theirs gone).
        self.objects.delete_prefix(keys.object_prefix(removed.namespace_id, removed.session_id))
        end = removed.visible_until_ms(self.settings.terminated_retention_seconds)
        # The record's time has whole seconds: a removal within the second of the end is an end.
        ended = removed_by_ttl(record) or end <= occurred_ms + 1000
        return self._publish(publisher.EXPIRED if ended else publisher.PURGED, removed, event_id, occurred_ms)

    def _message_objects(self, change: dict[str, Any]) -> None:
        old, new = _objects(change.get("OldImage")), _objects(change.get("NewImage"))
        if not old - new and not new - old:
            return
        namespace_id, session_id = keys.parse_session_pk(change["Keys"]["PK"]["S"])
        if old - new:
            self.objects.delete(keys.object_key(namespace_id, session_id, object_id) for object_id in sorted(old - new))
        for object_id in sorted(new - old):
            self.objects.settle(keys.object_key(namespace_id, session_id, object_id))

    def _publish(self, detail_type: str, session: SessionItem, event_id: str, occurred_ms: int) -> str:
        publisher.publish(
            self.settings.event_bus_name, detail_type, publisher.event_detail(session, event_id, occurred_ms)
        )
        return detail_type
