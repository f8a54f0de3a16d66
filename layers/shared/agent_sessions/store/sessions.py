"""The session store: every DynamoDB request of the sessions resource, with its condition.

Each public method is one logical operation; its docstring says how many round trips it
costs, because that number is a performance target (DESIGN §4).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from agent_sessions import clock
from agent_sessions.models.items import LookupEntry, SessionItem
from agent_sessions.store import keys
from agent_sessions.store.codec import Item, to_attr
from agent_sessions.store.dynamo import cancellation_reasons, error_code, store_errors
from agent_sessions.store.idempotency import IdempotencyRecord, idempotency_put, raise_if_key_taken
from agent_sessions.store.table import TableStore

BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25


class TransactionConflict(Exception):
    """A concurrent transaction touched the same items: the caller retries."""


class StaleVersion(Exception):
    """The session changed (or vanished) since it was read."""


@dataclass
class IndexPage:
    items: list[Item]
    last_key: Item | None


class SessionStore(TableStore):
    # --- reads -------------------------------------------------------------------------------

    def get_session(self, namespace_id: str, session_id: str) -> SessionItem | None:
        """1 round trip (strongly consistent: a write is visible to the next read)."""
        item = self.get_raw(keys.session_pk(namespace_id, session_id), keys.SESSION_SK)
        return SessionItem.from_item(item) if item else None

    def query_index(
        self,
        index: str,
        partition: str,
        *,
        forward: bool,
        limit: int,
        start_key: Item | None,
        sort_between: tuple[str, str] | None,
    ) -> IndexPage:
        """1 round trip: one page of an index partition, in sort-key order."""
        pk_name, sk_name = keys.INDEX_KEYS[index]
        condition = "#pk = :pk"
        names = {"#pk": pk_name}
        values: dict[str, Any] = {":pk": {"S": partition}}
        if sort_between is not None:
            condition += " AND #sk BETWEEN :low AND :high"
            names["#sk"] = sk_name
            values[":low"] = {"S": sort_between[0]}
            values[":high"] = {"S": sort_between[1]}
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": forward,
            "Limit": limit,
        }
        if start_key:
            request["ExclusiveStartKey"] = start_key
        with store_errors():
            response = self.client.query(**request)
        return IndexPage(items=list(response.get("Items", [])), last_key=response.get("LastEvaluatedKey"))

    def batch_get(self, item_keys: list[Item]) -> dict[tuple[str, str], Item]:
        """⌈n/100⌉ round trips (more only when DynamoDB leaves keys unprocessed)."""
        found: dict[tuple[str, str], Item] = {}
        pending = list(item_keys)
        while pending:
            chunk, pending = pending[:BATCH_GET_MAX], pending[BATCH_GET_MAX:]
            request: dict[str, Any] = {self.table: {"Keys": chunk}}
            while request:
                with store_errors():
                    response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    found[(item["PK"]["S"], item["SK"]["S"])] = item
                request = dict(response.get("UnprocessedKeys") or {})
        return found

    def get_counter(self, listing_partition: str) -> int:
        with store_errors():
            response = self.client.get_item(
                TableName=self.table,
                Key=counter_key(listing_partition),
                ProjectionExpression="n",
            )
        item = response.get("Item")
        return int(item["n"]["N"]) if item and "n" in item else 0

    # --- writes ------------------------------------------------------------------------------

    def create_session(self, session: SessionItem, idempotency: IdempotencyRecord | None, now_ms: int) -> None:
        """1 round trip: the session, its lookup items, the listing counters and the
        idempotency record, all or nothing."""
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": session.to_item(
                        self.settings.terminated_retention_seconds, self.settings.idle_after_seconds
                    ),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
        ]
        for entry in session.lookups():
            actions.append({"Put": {"TableName": self.table, "Item": self._lookup_item(session, entry)}})
        actions.extend(self._counter_updates(session, session.lookups(), +1, include_namespace=True))
        if idempotency is not None:
            actions.append(idempotency_put(self.table, idempotency, now_ms))
        try:
            with store_errors():
                self.client.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            reasons = cancellation_reasons(error)
            if idempotency is not None:
                raise_if_key_taken(self, reasons, len(actions), idempotency, error)
            codes = [reason.get("Code") for reason in reasons]
            # A claim that failed on a record gone by the time it was read: retry the claim.
            if "TransactionConflict" in codes or (idempotency is not None and codes[-1:] == ["ConditionalCheckFailed"]):
                raise TransactionConflict() from error
            raise

    def replace_session(self, old: SessionItem, new: SessionItem, now_ms: int) -> None:
        """1 round trip: the new session (if its version is still the one read and it is
        still visible) and the lookup items and counters that changed with it."""
        retention = self.settings.terminated_retention_seconds
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": new.to_item(retention, self.settings.idle_after_seconds),
                    "ConditionExpression": "version = :version AND visible_until_ms > :now",
                    "ExpressionAttributeValues": {":version": to_attr(old.version), ":now": to_attr(now_ms)},
                }
            }
        ]
        old_lookups = {entry.partition(old.namespace_id): entry for entry in old.lookups()}
        new_lookups = {entry.partition(new.namespace_id): entry for entry in new.lookups()}
        removed = [entry for partition, entry in old_lookups.items() if partition not in new_lookups]
        added = [entry for partition, entry in new_lookups.items() if partition not in old_lookups]
        for entry in removed:
            actions.append({"Delete": {"TableName": self.table, "Key": self._lookup_key(old, entry)}})
        for entry in added:
            actions.append({"Put": {"TableName": self.table, "Item": self._lookup_item(new, entry)}})
        actions.extend(self._counter_updates(old, removed, -1, include_namespace=False))
        actions.extend(self._counter_updates(new, added, +1, include_namespace=False))
        self._transact(actions)

    def terminate_session(self, namespace_id: str, session_id: str, now_ms: int) -> tuple[SessionItem | None, bool]:
        """1 round trip usually (2 when the session expires before its retention would end).

        Returns the session after the call and whether this call terminated it (False: it
        already was). None when it does not exist or is no longer visible."""
        retention_end = now_ms + self.settings.terminated_retention_seconds * 1000
        key = {"PK": {"S": keys.session_pk(namespace_id, session_id)}, "SK": {"S": keys.SESSION_SK}}
        base_condition = "attribute_exists(PK) AND visible_until_ms > :now AND #status <> :terminated"
        values: dict[str, Any] = {
            ":now": to_attr(now_ms),
            ":terminated": to_attr("terminated"),
            ":one": to_attr(1),
        }
        update = "SET #status = :terminated, terminated_ms = :now, updated_ms = :now, version = version + :one"
        # The expiry job's next deadline for a terminated session is its disappearance.
        retention_due = keys.due_sk(retention_end, namespace_id, session_id)
        # Retention shortens visibility only when it ends before the session's expiry.
        attempts = [
            (
                base_condition + " AND expires_ms > :retention_end",
                update + ", visible_until_ms = :retention_end, #ttl = :retention_ttl, DUESK = :due",
                {
                    ":retention_end": to_attr(retention_end),
                    ":retention_ttl": to_attr(-(-retention_end // 1000)),
                    ":due": to_attr(retention_due),
                },
            ),
            # Its due entry (idle time or expiry) stays: the expiry job reschedules what is early.
            (base_condition + " AND expires_ms <= :retention_end", update, {":retention_end": to_attr(retention_end)}),
        ]
        for condition, expression, extra in attempts:
            try:
                with store_errors():
                    response = self.client.update_item(
                        TableName=self.table,
                        Key=key,
                        ConditionExpression=condition,
                        UpdateExpression=expression,
                        ExpressionAttributeNames={"#status": "status", "#ttl": "ttl"}
                        if "#ttl" in expression
                        else {"#status": "status"},
                        ExpressionAttributeValues={**values, **extra},
                        ReturnValues="ALL_NEW",
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
                response_fields: dict[str, Any] = dict(error.response)
                old_item = response_fields.get("Item")
                if old_item is None:
                    old_session = self.get_session(namespace_id, session_id)
                else:
                    old_session = SessionItem.from_item(old_item)
                if (
                    old_session is None
                    or old_session.visible_until_ms(self.settings.terminated_retention_seconds) <= now_ms
                ):
                    return None, False
                if old_session.status == "terminated":
                    return old_session, False
                continue  # the other retention case applies
            return SessionItem.from_item(response["Attributes"]), True
        raise TransactionConflict()

    def purge_session(self, session: SessionItem) -> int:
        """1 transaction (the session, its lookups and counters, conditional on the version
        read), then the remaining items of the session in batches: 1 query and ⌈n/25⌉
        batch writes per 1 MB of items."""
        actions: list[dict[str, Any]] = [
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": session.key(),
                    "ConditionExpression": "version = :version",
                    "ExpressionAttributeValues": {":version": to_attr(session.version)},
                }
            }
        ]
        for entry in session.lookups():
            actions.append({"Delete": {"TableName": self.table, "Key": self._lookup_key(session, entry)}})
        actions.extend(self._counter_updates(session, session.lookups(), -1, include_namespace=True))
        self._transact(actions)
        return self.delete_partition(keys.session_pk(session.namespace_id, session.session_id))

    # --- the expiry job and the stream consumer ------------------------------------------------

    def query_due(self, shard: int, now_ms: int, start_key: Item | None = None, limit: int = 100) -> IndexPage:
        """One page of a due shard: the sessions whose next deadline has passed, oldest first
        (1 Query on the sparse DueIndex; reads only what is due)."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": keys.DUE_INDEX,
            "KeyConditionExpression": "DUEPK = :shard AND DUESK <= :now",
            "ExpressionAttributeValues": {
                ":shard": {"S": keys.due_pk(shard)},
                ":now": {"S": keys.due_sk(now_ms, "~", "~")},
            },
            "Limit": limit,
        }
        if start_key:
            request["ExclusiveStartKey"] = start_key
        with store_errors():
            response = self.client.query(**request)
        return IndexPage(items=response.get("Items", []), last_key=response.get("LastEvaluatedKey"))

    def mark_idle(self, namespace_id: str, session_id: str, seen: Item, due_ms: int) -> bool:
        """Write `idle` if the session is as the job saw it (same version, still active, no
        newer activity). Does not bump the version: readers already saw it idle."""
        return self._update_if(
            namespace_id,
            session_id,
            condition="version = :version AND #status = :active AND last_activity_ms = :seen",
            update="SET #status = :idle, DUESK = :due",
            values={
                ":version": seen["version"],
                ":seen": seen["last_activity_ms"],
                ":active": {"S": "active"},
                ":idle": {"S": "idle"},
                ":due": {"S": keys.due_sk(due_ms, namespace_id, session_id)},
            },
        )

    def reschedule(self, namespace_id: str, session_id: str, seen: Item, due_ms: int) -> bool:
        """Move a due entry that came early (its deadline moved) to the real deadline."""
        return self._update_if(
            namespace_id,
            session_id,
            condition="version = :version AND DUESK = :old",
            update="SET DUESK = :due",
            values={
                ":version": seen["version"],
                ":old": seen["DUESK"],
                ":due": {"S": keys.due_sk(due_ms, namespace_id, session_id)},
            },
        )

    def _update_if(
        self, namespace_id: str, session_id: str, *, condition: str, update: str, values: dict[str, Any]
    ) -> bool:
        """1 conditional UpdateItem of a session item; False when its condition did not hold."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "Key": {"PK": {"S": keys.session_pk(namespace_id, session_id)}, "SK": {"S": keys.SESSION_SK}},
            "ConditionExpression": condition,
            "UpdateExpression": update,
            "ExpressionAttributeValues": values,
        }
        if "#status" in condition + update:
            request["ExpressionAttributeNames"] = {"#status": "status"}
        try:
            with store_errors():
                self.client.update_item(**request)
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def settle_removed(self, removed: SessionItem, ended_ttl_ms: int) -> bool:
        """After DynamoDB's TTL removed a session item: take it out of its counters and delete
        its lookups, in one transaction guarded by an "ended" marker, so a redelivered stream
        record changes nothing. False when it was already settled."""
        marker = {
            "PK": {"S": keys.ended_pk(removed.namespace_id, removed.session_id)},
            "SK": {"S": keys.ENDED_SK},
            "kind": {"S": "ended"},
            "ttl": to_attr(ended_ttl_ms // 1000),
        }
        actions: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table, "Item": marker, "ConditionExpression": "attribute_not_exists(PK)"}}
        ]
        for entry in removed.lookups():
            actions.append({"Delete": {"TableName": self.table, "Key": self._lookup_key(removed, entry)}})
        actions.extend(self._counter_updates(removed, removed.lookups(), -1, include_namespace=True))
        try:
            self._transact(actions)
        except StaleVersion:  # the first action's condition: the marker exists
            return False
        return True

    def delete_partition(self, partition: str) -> int:
        """Delete every item left under one session's partition key; idempotent."""
        deleted = 0
        start_key: Item | None = None
        while True:
            request: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "PK = :pk",
                "ExpressionAttributeValues": {":pk": {"S": partition}},
                "ProjectionExpression": "PK, SK",
                "ConsistentRead": True,
            }
            if start_key:
                request["ExclusiveStartKey"] = start_key
            with store_errors():
                response = self.client.query(**request)
            item_keys = [{"PK": item["PK"], "SK": item["SK"]} for item in response.get("Items", [])]
            self._batch_delete(item_keys)
            deleted += len(item_keys)
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                return deleted

    # --- helpers -----------------------------------------------------------------------------

    def _transact(self, actions: list[dict[str, Any]]) -> None:
        try:
            with store_errors():
                self.client.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            codes = [reason.get("Code") for reason in cancellation_reasons(error)]
            if codes and codes[0] == "ConditionalCheckFailed":
                raise StaleVersion() from error
            if "TransactionConflict" in codes:
                raise TransactionConflict() from error
            raise

    def _batch_delete(self, item_keys: list[Item]) -> None:
        for start in range(0, len(item_keys), BATCH_WRITE_MAX):
            requests: list[dict[str, Any]] = [
                {"DeleteRequest": {"Key": key}} for key in item_keys[start : start + BATCH_WRITE_MAX]
            ]
            pending: dict[str, Any] = {self.table: requests}
            while pending:
                with store_errors():
                    response = self.client.batch_write_item(RequestItems=pending)
                pending = dict(response.get("UnprocessedItems") or {})

    def _lookup_key(self, session: SessionItem, entry: LookupEntry) -> Item:
        return {
            "PK": {"S": keys.session_pk(session.namespace_id, session.session_id)},
            "SK": {"S": keys.lookup_sk(entry.partition(session.namespace_id))},
        }

    def _lookup_item(self, session: SessionItem, entry: LookupEntry) -> Item:
        partition = entry.partition(session.namespace_id)
        item: Item = {
            **self._lookup_key(session, entry),
            "kind": {"S": "lookup"},
            "session_id": {"S": session.session_id},
            "field": {"S": entry.field},
            "GSI1PK": {"S": partition},
            "GSI1SK": {"S": keys.time_sort_key(clock.to_iso(session.created_ms), session.session_id)},
        }
        if entry.key is not None:
            item["metadata_key"] = {"S": entry.key}
        return item

    def _counter_updates(
        self, session: SessionItem, entries: Iterable[LookupEntry], delta: int, *, include_namespace: bool
    ) -> list[dict[str, Any]]:
        # (listing partition, the activity index's partition attribute that lists it too)
        partitions: list[tuple[str, str | None]] = []
        if include_namespace:
            partitions.append((keys.namespace_partition(session.namespace_id), "GSI2PK"))
        for entry in entries:
            partitions.append((entry.partition(session.namespace_id), "GSI3PK" if entry.field == "user_id" else None))
        updates = []
        for partition, activity_index_pk in partitions:
            expression = "ADD n :delta SET kind = :kind, GSI1PK = :partition, GSI1SK = :counter_sk"
            if activity_index_pk:
                expression += f", {activity_index_pk} = :partition, GSI2SK = :counter_sk"
            updates.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": counter_key(partition),
                        "UpdateExpression": expression,
                        "ExpressionAttributeValues": {
                            ":delta": to_attr(delta),
                            ":kind": to_attr("counter"),
                            ":partition": to_attr(partition),
                            ":counter_sk": to_attr(keys.COUNTER_SORT_KEY),
                        },
                    }
                }
            )
        return updates


def counter_key(listing_partition: str) -> Item:
    return {"PK": {"S": keys.counter_pk(listing_partition)}, "SK": {"S": keys.COUNTER_SK}}
