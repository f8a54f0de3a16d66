"""Messages: the append transaction and the history read.

An append is one TransactWriteItems: one Put per message and one Update of the session
whose condition carries every rule — the expected
`message_count`, a writable status, not expired, and the quotas — so a refused batch writes
nothing. The quotas are compared against attributes the session keeps ready for this
(`cap_messages`, `tokens_left`, `tool_calls_left`, `rate_*`), so no read is needed first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from agent_sessions import clock
from agent_sessions.models.items import MessageItem, SessionItem
from agent_sessions.store import keys
from agent_sessions.store.codec import Item, to_attr
from agent_sessions.store.dynamo import cancellation_reasons, error_code, store_errors
from agent_sessions.store.idempotency import IdempotencyRecord, idempotency_put, raise_if_key_taken
from agent_sessions.store.shards import PlacedWrite, Touches, counts_for, transact_following_heat
from agent_sessions.store.table import TableStore

# How the append treats the per-minute rate counter, decided before the call.
RATE_NONE = "none"  # the session has no rate quota
RATE_SAME_WINDOW = "same"  # the counter already belongs to this minute
RATE_NEW_WINDOW = "new"  # this append opens the minute's counter


@dataclass(frozen=True)
class AppendPlan:
    namespace_id: str
    session_id: str
    messages: list[MessageItem]
    expected_count: int
    tokens: int
    tool_calls: int
    latency_sum: float
    latency_samples: int
    generated_name: str | None  # from this batch's first user message
    first_user_seq: int | None
    now_ms: int
    rate_mode: str
    idempotency: IdempotencyRecord | None
    # The stored status this append expects (the condition checks it): "active", or "idle"
    # when the expiry job wrote idle. Unknown (If-Match, no read) is taken as "active".
    expected_status: str
    # The expiry job's next deadline after this append (its idle time, or the session's end
    # when that comes first). Written only when the append wakes an idle session: an active
    # session's due entry can only be early (an append moves the idle time later), and the
    # job reschedules an early entry when it meets it, so appends leave the due index alone.
    due_ms: int


class AppendRefused(Exception):
    """The session's condition failed; `current` is the session as it was (None: gone)."""

    def __init__(self, current: SessionItem | None) -> None:
        super().__init__("append refused")
        self.current = current


class AppendConflict(Exception):
    """A concurrent transaction touched the session: retry."""


@dataclass
class HistoryRead:
    session: SessionItem | None
    messages: list[MessageItem]
    last_key: Item | None


class MessageStore(TableStore):
    def append(self, plan: AppendPlan) -> None:
        """1 round trip."""
        session_pk = keys.session_pk(plan.namespace_id, plan.session_id)
        count = len(plan.messages)
        minute = plan.now_ms // 60_000
        values: dict[str, Any] = {
            ":n": count,
            ":expected": plan.expected_count,
            ":new_count": plan.expected_count + count,
            ":active": "active",
            ":expected_status": plan.expected_status,
            ":now": plan.now_ms,
            ":one": 1,
            ":tokens": plan.tokens,
            ":tools": plan.tool_calls,
            ":latency": plan.latency_sum,
            ":latency_n": plan.latency_samples,
            ":activity_sk": keys.time_sort_key(clock.to_iso(plan.now_ms), plan.session_id),
        }
        update = [
            "message_count = message_count + :n",
            "last_activity_ms = :now",
            "updated_ms = :now",
            "version = version + :one",
            "#status = :active",
            "GSI2SK = :activity_sk",
            "total_tokens = total_tokens + :tokens",
            "total_tool_calls = total_tool_calls + :tools",
            "tokens_left = tokens_left - :tokens",
            "tool_calls_left = tool_calls_left - :tools",
            "latency_sum_ms = latency_sum_ms + :latency",
            "latency_samples = latency_samples + :latency_n",
        ]
        condition = [
            "attribute_exists(PK)",
            "message_count = :expected",
            "#status = :expected_status",
            "visible_until_ms > :now",
            "cap_messages >= :new_count",
            "tokens_left >= :tokens",
            "tool_calls_left >= :tools",
        ]
        if plan.expected_status != "active":
            update.append("DUESK = :due")
            values[":due"] = keys.due_sk(plan.due_ms, plan.namespace_id, plan.session_id)
        if plan.generated_name is not None and plan.first_user_seq is not None:
            update.append("session_name = if_not_exists(session_name, :name)")
            update.append("first_user_seq = if_not_exists(first_user_seq, :first_user_seq)")
            values[":name"] = plan.generated_name
            values[":first_user_seq"] = plan.first_user_seq
        values[":minute"] = minute
        if plan.rate_mode == RATE_NONE:
            condition.append("attribute_not_exists(rate_cap)")
            del values[":minute"]
        elif plan.rate_mode == RATE_SAME_WINDOW:
            condition.append("rate_window = :minute AND rate_left >= :n")
            update.append("rate_left = rate_left - :n")
        else:
            condition.append("(attribute_not_exists(rate_window) OR rate_window <> :minute) AND rate_cap >= :n")
            update.append("rate_window = :minute")
            update.append("rate_left = rate_cap - :n")
        namespace = keys.namespace_partition(plan.namespace_id)

        def build() -> PlacedWrite:
            # The append moves the session in the activity index anyway (a new GSI2SK: a delete
            # and a put there), so it may move it to another shard of the namespace's activity
            # family at no cost: to the one this container's count gives, once that is above 1.
            # That is how sessions created before their namespace grew spread out.
            count = counts_for(self.table).for_write(namespace)
            head_update = list(update)
            head_values = dict(values)
            if count > 1:
                head_update.append("GSI2PK = :activity_pk")
                head_values[":activity_pk"] = keys.sharded(namespace, keys.shard_of(plan.session_id, count))
            actions: list[dict[str, Any]] = [
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": {"PK": {"S": session_pk}, "SK": {"S": keys.SESSION_SK}},
                        "UpdateExpression": "SET " + ", ".join(head_update),
                        "ConditionExpression": " AND ".join(condition),
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": {name: to_attr(value) for name, value in head_values.items()},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            ]
            # No condition on the messages: the head's (message_count = expected) already says
            # the positions are free. An item found there is one a rewind made invisible and has
            # not yet deleted (store/conversation.py): the new message replaces it.
            for message in plan.messages:
                actions.append({"Put": {"TableName": self.table, "Item": message.to_item()}})
            if plan.idempotency is not None:
                actions.append(idempotency_put(self.table, plan.idempotency, plan.now_ms))
            touches: list[Touches] = [{"GSI2": [namespace]}] + [{} for _ in actions[1:]]
            return PlacedWrite(actions, touches, {namespace: count})

        def run(actions: list[dict[str, Any]]) -> None:
            try:
                with store_errors():
                    self.client.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
            except ClientError as error:
                if error_code(error) != "TransactionCanceledException":
                    raise
                reasons = cancellation_reasons(error)
                codes = [reason.get("Code") for reason in reasons]
                if plan.idempotency is not None:
                    raise_if_key_taken(self, reasons, len(actions), plan.idempotency, error)
                if codes and codes[0] == "ConditionalCheckFailed":
                    old_item = reasons[0].get("Item") or self.get_raw(session_pk, keys.SESSION_SK)
                    raise AppendRefused(SessionItem.from_item(old_item) if old_item else None) from error
                if "TransactionConflict" in codes:
                    raise AppendConflict() from error
                raise

        transact_following_heat(self, build, run)

    def read_history(
        self,
        namespace_id: str,
        session_id: str,
        *,
        descending: bool,
        from_seq: int | None,
        limit: int,
    ) -> HistoryRead:
        """1 query. The session item sorts after every message (`SESSION` > `MSG#…`), so a
        newest-first page starts with it, and an oldest-first page ends with it when the page
        reaches the end of the history; only an oldest-first page that stops short needs the
        session read separately (see MessageService.history)."""
        session_pk = keys.session_pk(namespace_id, session_id)
        if descending:
            high = keys.message_sk(from_seq) if from_seq is not None else keys.SESSION_SK
            low = keys.message_sk(0)
            include_session = from_seq is None
        else:
            low = keys.message_sk(from_seq or 0)
            high = keys.SESSION_SK
            include_session = True
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :low AND :high",
            "ExpressionAttributeValues": {":pk": {"S": session_pk}, ":low": {"S": low}, ":high": {"S": high}},
            "ScanIndexForward": not descending,
            "Limit": limit + 1 + (1 if include_session else 0),
            "ConsistentRead": True,
        }
        with store_errors():
            response = self.client.query(**request)
        session = None
        messages = []
        for item in response.get("Items", []):
            if item["SK"]["S"] == keys.SESSION_SK:
                session = SessionItem.from_item(item)
            elif item["SK"]["S"].startswith(keys.MESSAGE_SK_PREFIX):
                messages.append(MessageItem.from_item(item))
        return HistoryRead(session=session, messages=messages, last_key=response.get("LastEvaluatedKey"))
