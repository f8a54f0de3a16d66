"""The conversation operations' DynamoDB requests: rewind, the context window's read,
feedback, message corrections, and the copy a fork makes.

The invariant every reader relies on: a message is part of the conversation exactly when its
seq is below the head's `message_count`. A rewind is therefore one conditional update of the
head (with the deletes of the removed messages in the same transaction, up to DynamoDB's 100
items); messages it could not delete in that transaction are invisible from that instant and
are deleted right after, each conditional on its message id, so a message appended at the
freed position meanwhile is never touched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from agent_sessions.models.items import MessageItem, SessionItem
from agent_sessions.store import keys
from agent_sessions.store.codec import Item, to_attr
from agent_sessions.store.dynamo import cancellation_reasons, error_code, store_errors
from agent_sessions.store.sessions import BATCH_WRITE_MAX, SessionStore, TransactionConflict, parallel_pool

TRANSACTION_MAX = 100
# The head's condition for a write to one message: still part of the conversation, the
# session writable and visible.
MESSAGE_IN_OPEN_SESSION = "message_count > :seq AND #status IN (:active, :idle) AND visible_until_ms > :now"


class HeadRefused(Exception):
    """The head's condition failed; `current` is the head as it is (None: gone)."""

    def __init__(self, current: SessionItem | None) -> None:
        super().__init__("head condition failed")
        self.current = current


class MessageChanged(Exception):
    """The message is not (any more) the one that was read: another id at its seq, or gone."""


@dataclass
class SessionTail:
    head: SessionItem | None  # with its body when asked for
    messages: list[MessageItem]  # ascending seq


@dataclass(frozen=True)
class RewindPlan:
    session: SessionItem  # as read
    expected_count: int
    new_count: int
    removed: list[MessageItem]
    now_ms: int


class ConversationStore(SessionStore):
    # --- reads ---------------------------------------------------------------------------------

    def read_tail(self, namespace_id: str, session_id: str, from_seq: int, *, with_body: bool) -> SessionTail:
        """The messages from `from_seq` on and the head (and body) in one Query — `MSG#…` sort
        before `SESSION` and `SESSION#BODY` — paging on only when the messages pass 1 MB."""
        pk = keys.session_pk(namespace_id, session_id)
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": {"S": pk},
                ":low": {"S": keys.message_sk(max(from_seq, 0))},
                ":high": {"S": keys.BODY_SK if with_body else keys.SESSION_SK},
            },
            "ConsistentRead": True,
        }
        items: list[Item] = []
        while True:
            with store_errors():
                response = self.client.query(**request)
            items += response.get("Items", [])
            if not response.get("LastEvaluatedKey"):
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        session, messages = _session_and_messages(items)
        if session is not None:
            messages = [message for message in messages if message.seq < session.message_count]
        return SessionTail(session, messages)

    def read_range(self, namespace_id: str, session_id: str, low_seq: int, high_seq: int) -> list[MessageItem]:
        """Messages low_seq..high_seq, oldest first (one Query per MB)."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.session_pk(namespace_id, session_id)},
                ":low": {"S": keys.message_sk(low_seq)},
                ":high": {"S": keys.message_sk(high_seq)},
            },
            "ConsistentRead": True,
        }
        messages: list[MessageItem] = []
        while True:
            with store_errors():
                response = self.client.query(**request)
            messages += [MessageItem.from_item(item) for item in response.get("Items", [])]
            if not response.get("LastEvaluatedKey"):
                return messages
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def read_newest(
        self, namespace_id: str, session_id: str, after_seq: int, page: int
    ) -> tuple[SessionItem | None, list[MessageItem], Item | None]:
        """Newest first: the body, the head, then messages down to `after_seq + 1`, one Query
        page of `page` messages; returns the last key to read further."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.session_pk(namespace_id, session_id)},
                ":low": {"S": keys.message_sk(after_seq + 1)},
                ":high": {"S": keys.BODY_SK},
            },
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": page + 2,
        }
        with store_errors():
            response = self.client.query(**request)
        session, messages = _session_and_messages(response.get("Items", []))
        return session, messages, response.get("LastEvaluatedKey")

    def more_messages(
        self, namespace_id: str, session_id: str, after_seq: int, start: Item, page: int
    ) -> tuple[list[MessageItem], Item | None]:
        """The next newest-first page of messages (after read_newest's)."""
        with store_errors():
            response = self.client.query(
                TableName=self.table,
                KeyConditionExpression="PK = :pk AND SK BETWEEN :low AND :high",
                ExpressionAttributeValues={
                    ":pk": {"S": keys.session_pk(namespace_id, session_id)},
                    ":low": {"S": keys.message_sk(after_seq + 1)},
                    ":high": {"S": keys.BODY_SK},
                },
                ScanIndexForward=False,
                ConsistentRead=True,
                Limit=page,
                ExclusiveStartKey=start,
            )
        items = [MessageItem.from_item(item) for item in response.get("Items", [])]
        return items, response.get("LastEvaluatedKey")

    def get_message(self, namespace_id: str, session_id: str, seq: int) -> MessageItem | None:
        item = self.get_raw(keys.session_pk(namespace_id, session_id), keys.message_sk(seq))
        return MessageItem.from_item(item) if item else None

    def find_message(self, namespace_id: str, session_id: str, message_id: str) -> MessageItem | None:
        """A message by an id that carries no seq (made before ids did): reads the history's
        keys with a filter — proportional to the history, only for such old ids."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :msg)",
            "FilterExpression": "message_id = :id",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.session_pk(namespace_id, session_id)},
                ":msg": {"S": keys.MESSAGE_SK_PREFIX},
                ":id": {"S": message_id},
            },
            "ConsistentRead": True,
        }
        while True:
            with store_errors():
                response = self.client.query(**request)
            for item in response.get("Items", []):
                return MessageItem.from_item(item)
            if not response.get("LastEvaluatedKey"):
                return None
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # --- rewind --------------------------------------------------------------------------------

    def rewind(self, plan: RewindPlan) -> list[MessageItem]:
        """1 transaction: the head (condition: the count read, writable, visible; the stats of
        the removed messages taken off, the quotas' room given back) and the deletes of up to
        99 removed messages (the lowest seqs: the positions the next appends take). Returns
        the removed messages left to delete (`delete_leftovers`)."""
        session = plan.session
        tokens = sum(m.token_count or 0 for m in plan.removed)
        tool_calls = sum(1 for m in plan.removed if m.content_type == "tool_call")
        latencies = [m.latency_ms for m in plan.removed if m.latency_ms is not None]
        values: dict[str, Any] = {
            ":expected": plan.expected_count,
            ":count": plan.new_count,
            ":active": "active",
            ":idle": "idle",
            ":now": plan.now_ms,
            ":one": 1,
            ":tokens": tokens,
            ":tools": tool_calls,
            ":latency": float(sum(latencies)),
            ":latency_n": len(latencies),
        }
        update = [
            "message_count = :count",
            "total_tokens = total_tokens - :tokens",
            "total_tool_calls = total_tool_calls - :tools",
            "tokens_left = tokens_left + :tokens",
            "tool_calls_left = tool_calls_left + :tools",
            "latency_sum_ms = latency_sum_ms - :latency",
            "latency_samples = latency_samples - :latency_n",
            "version = version + :one",
            "updated_ms = :now",
        ]
        head_update: dict[str, Any] = {
            "TableName": self.table,
            "Key": session.key(),
            "UpdateExpression": "SET " + ", ".join(update),
            "ConditionExpression": "message_count = :expected AND #status IN (:active, :idle) "
            "AND visible_until_ms > :now",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {name: to_attr(value) for name, value in values.items()},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        actions: list[dict[str, Any]] = [{"Update": head_update}]
        if session.summary_through_seq is not None and session.summary_through_seq >= plan.new_count:
            # The checkpoint may not point past the conversation: it now covers what remains.
            body_update: dict[str, Any] = {"TableName": self.table, "Key": session.body_key()}
            if plan.new_count == 0:
                body_update["UpdateExpression"] = "REMOVE summary_through_seq"
            else:
                body_update["UpdateExpression"] = "SET summary_through_seq = :through"
                body_update["ExpressionAttributeValues"] = {":through": to_attr(plan.new_count - 1)}
            actions.append({"Update": body_update})
        room = TRANSACTION_MAX - len(actions)
        in_transaction, leftovers = plan.removed[:room], plan.removed[room:]
        actions.extend(self._delete_message(message) for message in in_transaction)
        try:
            with store_errors():
                self.client.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            reasons = cancellation_reasons(error)
            codes = [reason.get("Code") for reason in reasons]
            if codes[:1] == ["ConditionalCheckFailed"]:
                old = reasons[0].get("Item") or self.get_raw(session.key()["PK"]["S"], keys.SESSION_SK)
                raise HeadRefused(SessionItem.from_item(old) if old else None) from error
            if "ConditionalCheckFailed" in codes or "TransactionConflict" in codes:
                raise TransactionConflict() from error  # a removed message changed meanwhile: read again
            raise
        return leftovers

    def delete_leftovers(self, messages: list[MessageItem]) -> int:
        """Delete messages a rewind made invisible, each only if it is still the one removed
        (an append may have taken its seq since): transactions of 100 conditional deletes, in
        parallel; a chunk that meets a new message is retried one delete at a time."""
        chunks = [messages[start : start + TRANSACTION_MAX] for start in range(0, len(messages), TRANSACTION_MAX)]
        return sum(parallel_pool().map(self._delete_chunk, chunks)) if chunks else 0

    def _delete_chunk(self, chunk: list[MessageItem]) -> int:
        try:
            with store_errors():
                self.client.transact_write_items(
                    TransactItems=[self._delete_message(message) for message in chunk]  # type: ignore[misc]
                )
            return len(chunk)
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise
        deleted = 0
        for message in chunk:
            try:
                with store_errors():
                    self.client.delete_item(**self._delete_message(message)["Delete"])
                deleted += 1
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
        return deleted

    def _delete_message(self, message: MessageItem) -> dict[str, Any]:
        return {
            "Delete": {
                "TableName": self.table,
                "Key": {
                    "PK": {"S": keys.session_pk(message.namespace_id, message.session_id)},
                    "SK": {"S": keys.message_sk(message.seq)},
                },
                "ConditionExpression": "message_id = :id",
                "ExpressionAttributeValues": {":id": {"S": message.message_id}},
            }
        }

    # --- one message: feedback and corrections -------------------------------------------------

    def correct_message(
        self, session: SessionItem, old: MessageItem, new: MessageItem, *, token_delta: int, now_ms: int
    ) -> None:
        """1 transaction: the message replaced if it is still the revision read (same id), and
        the head updated — its version bumped, its token totals moved by `token_delta` (within
        the tokens quota) — on the condition that the message is still part of the
        conversation and the session writable and visible."""
        values: dict[str, Any] = {
            ":seq": old.seq,
            ":active": "active",
            ":idle": "idle",
            ":now": now_ms,
            ":one": 1,
            ":delta": token_delta,
            ":minus": -token_delta,
        }
        condition = MESSAGE_IN_OPEN_SESSION + (" AND tokens_left >= :delta" if token_delta > 0 else "")
        head = {
            "Update": {
                "TableName": self.table,
                "Key": session.key(),
                "ConditionExpression": condition,
                "UpdateExpression": "SET version = version + :one, updated_ms = :now, "
                "total_tokens = total_tokens + :delta, tokens_left = tokens_left + :minus",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {name: to_attr(value) for name, value in values.items()},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        put = {
            "Put": {
                "TableName": self.table,
                "Item": new.to_item(),
                "ConditionExpression": "message_id = :id AND (attribute_not_exists(revision) OR revision = :revision)",
                "ExpressionAttributeValues": {":id": {"S": old.message_id}, ":revision": to_attr(old.revision)},
            }
        }
        self._transact_pair([head, put], session)

    def record_feedback(
        self, session: SessionItem, seq: int, message_id: str, feedback: dict[str, Any], now_ms: int
    ) -> None:
        """1 transaction, no read: the message's feedback set (replacing any earlier one) if the
        message at `seq` has this id, and the head checked — the message still part of the
        conversation, the session writable and visible."""
        head = {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": session.key(),
                "ConditionExpression": MESSAGE_IN_OPEN_SESSION,
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":seq": to_attr(seq),
                    ":active": to_attr("active"),
                    ":idle": to_attr("idle"),
                    ":now": to_attr(now_ms),
                },
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        message = {
            "Update": {
                "TableName": self.table,
                "Key": {"PK": session.key()["PK"], "SK": {"S": keys.message_sk(seq)}},
                "UpdateExpression": "SET feedback = :feedback, revision = if_not_exists(revision, :zero) + :one",
                "ConditionExpression": "message_id = :id",
                "ExpressionAttributeValues": {
                    ":feedback": to_attr(json.dumps(feedback, separators=(",", ":"), sort_keys=True)),
                    ":zero": to_attr(0),
                    ":one": to_attr(1),
                    ":id": to_attr(message_id),
                },
            }
        }
        self._transact_pair([head, message], session)

    def _transact_pair(self, actions: list[dict[str, Any]], session: SessionItem) -> None:
        """A head action then a message action, one transaction; the refusal says which failed."""
        try:
            with store_errors():
                self.client.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            reasons = cancellation_reasons(error)
            codes = [reason.get("Code") for reason in reasons]
            if codes[:1] == ["ConditionalCheckFailed"]:
                current = reasons[0].get("Item") or self.get_raw(session.key()["PK"]["S"], keys.SESSION_SK)
                raise HeadRefused(SessionItem.from_item(current) if current else None) from error
            if codes[1:2] == ["ConditionalCheckFailed"]:
                raise MessageChanged() from error
            if "TransactionConflict" in codes:
                raise TransactionConflict() from error
            raise

    # --- fork ----------------------------------------------------------------------------------

    def put_pending(self, child: SessionItem, ttl_seconds: int, now_ms: int) -> None:
        """The child's head in state `forking`: invisible to every reader (visible until 0, no
        index keys), removed by TTL if the fork never completes — and with it, by the stream
        consumer's cascade, every message copied so far."""
        item: Item = {
            **child.key(),
            "kind": {"S": "session"},
            "status": {"S": "forking"},
            "layout": to_attr(keys.LAYOUT_VERSION),
            "internal_id": {"S": child.internal_id},
            "visible_until_ms": to_attr(0),
            "version": to_attr(0),
            "created_ms": to_attr(now_ms),
            "updated_ms": to_attr(now_ms),
            "last_activity_ms": to_attr(now_ms),
            "expires_ms": to_attr(now_ms),
            "ttl": to_attr(now_ms // 1000 + ttl_seconds),
        }
        with store_errors():
            self.client.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(PK)")

    def copy_messages(self, messages: list[MessageItem]) -> None:
        """BatchWriteItem puts of 25, 16 at a time; unprocessed items are sent again."""
        chunks = [messages[start : start + BATCH_WRITE_MAX] for start in range(0, len(messages), BATCH_WRITE_MAX)]
        list(parallel_pool().map(self._put_chunk, chunks))

    def _put_chunk(self, chunk: list[MessageItem]) -> None:
        pending: dict[str, Any] = {self.table: [{"PutRequest": {"Item": message.to_item()}} for message in chunk]}
        while pending:
            with store_errors():
                response = self.client.batch_write_item(RequestItems=pending)
            pending = dict(response.get("UnprocessedItems") or {})


def _session_and_messages(items: list[Item]) -> tuple[SessionItem | None, list[MessageItem]]:
    """A read of a session's partition, sorted out: the session (head and body) and its messages."""
    head: Item | None = None
    body: Item | None = None
    messages: list[MessageItem] = []
    for item in items:
        sk = item["SK"]["S"]
        if sk == keys.SESSION_SK:
            head = item
        elif sk == keys.BODY_SK:
            body = item
        elif sk.startswith(keys.MESSAGE_SK_PREFIX):
            messages.append(MessageItem.from_item(item))
    return (SessionItem.from_item(head, body) if head else None), messages
