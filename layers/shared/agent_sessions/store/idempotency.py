"""Idempotency records: claimed in the same transaction as the write they protect, so a
retried request either replays the first response or finds nothing was written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent_sessions.store import keys
from agent_sessions.store.codec import Item, from_item, to_attr
from agent_sessions.store.table import TableStore


@dataclass
class IdempotencyRecord:
    namespace_id: str
    key: str
    operation: str
    request_hash: str
    response_body: str
    expires_ms: int

    def to_item(self) -> Item:
        return {
            "PK": {"S": keys.idempotency_pk(self.namespace_id, self.key)},
            "SK": {"S": keys.IDEMPOTENCY_SK},
            "kind": {"S": "idempotency"},
            "operation": {"S": self.operation},
            "request_hash": {"S": self.request_hash},
            "response_body": {"S": self.response_body},
            "expires_ms": to_attr(self.expires_ms),
            "ttl": to_attr(-(-self.expires_ms // 1000)),
        }

    @classmethod
    def from_item(cls, namespace_id: str, key: str, item: Item) -> IdempotencyRecord:
        values = from_item(item)
        return cls(
            namespace_id=namespace_id,
            key=key,
            operation=values["operation"],
            request_hash=values["request_hash"],
            response_body=values["response_body"],
            expires_ms=values["expires_ms"],
        )


class IdempotencyKeyTaken(Exception):
    """The idempotency key already has a live record: replay it or refuse."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__(record.key)
        self.record = record


def idempotency_put(table: str, record: IdempotencyRecord, now_ms: int) -> dict[str, Any]:
    """The transaction action that claims an idempotency key (or finds it taken and live)."""
    return {
        "Put": {
            "TableName": table,
            "Item": record.to_item(),
            "ConditionExpression": "attribute_not_exists(PK) OR expires_ms < :now",
            "ExpressionAttributeValues": {":now": to_attr(now_ms)},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def raise_if_key_taken(
    store: TableStore, reasons: list[dict[str, Any]], action_count: int, record: IdempotencyRecord, error: Exception
) -> None:
    """After a cancelled transaction whose last action claimed `record`'s key: raise
    IdempotencyKeyTaken with the live record when that claim is what failed."""
    if len(reasons) != action_count or reasons[-1].get("Code") != "ConditionalCheckFailed":
        return
    old = reasons[-1].get("Item") or store.get_raw(
        keys.idempotency_pk(record.namespace_id, record.key), keys.IDEMPOTENCY_SK
    )
    if old is not None:
        raise IdempotencyKeyTaken(IdempotencyRecord.from_item(record.namespace_id, record.key, old)) from error
