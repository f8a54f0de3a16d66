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
from agent_sessions.models.items import LookupEntry, SessionItem, body_values
from agent_sessions.store import keys
from agent_sessions.store.codec import Item, to_attr
from agent_sessions.store.dynamo import cancellation_reasons, error_code, store_errors
from agent_sessions.store.idempotency import IdempotencyRecord, idempotency_put, raise_if_key_taken
from agent_sessions.store.shards import PlacedWrite, Touches, counts_for, transact_following_heat
from agent_sessions.store.table import TableStore

BATCH_GET_MAX = 100
TRANSACTION_MAX = 100  # DynamoDB's limit of actions in one TransactWriteItems
BATCH_WRITE_MAX = 25
TRANSACT_GET_MAX = 100
# Shard queries and batch-get chunks run side by side: one round trip of latency for many calls.
# A first list page with an exact total reads the due shards beside its listing shards.
PARALLEL_CALLS = 2 * keys.MAX_SHARDS
_pool: Any = None  # a ThreadPoolExecutor, made on first use


def parallel_pool() -> Any:
    """One pool per environment, made on first use (boto3 clients are thread-safe).
    concurrent.futures is imported here, not at module import: ~15 ms the functions that never
    fan out (get, append, history) do not pay."""
    global _pool
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(max_workers=PARALLEL_CALLS, thread_name_prefix="dynamodb")
    return _pool


class TransactionConflict(Exception):
    """A concurrent transaction touched the same items: the caller retries."""


class StaleVersion(Exception):
    """The session changed (or vanished) since it was read."""


class TooManyListedChanges(Exception):
    """A replace that would move more listed values (user, agent, metadata pairs: a lookup item
    and a counter each, removed or added) than one transaction holds."""

    def __init__(self, changed: int, limit: int) -> None:
        super().__init__(f"{changed} listed values change; one write moves at most {limit}")
        self.changed = changed
        self.limit = limit


class SessionExists(Exception):
    """A create named a session id that is taken in this namespace."""


@dataclass
class IndexPage:
    items: list[Item]
    last_key: Item | None


class SessionStore(TableStore):
    # --- reads -------------------------------------------------------------------------------

    def get_session(self, namespace_id: str, session_id: str) -> SessionItem | None:
        """1 round trip: one strongly consistent Query for the head and the body (adjacent
        sort keys `SESSION`, `SESSION#BODY`), so a write is visible to the next read."""
        with store_errors():
            response = self.client.query(
                TableName=self.table,
                KeyConditionExpression="PK = :pk AND begins_with(SK, :session)",
                ExpressionAttributeValues={
                    ":pk": {"S": keys.session_pk(namespace_id, session_id)},
                    ":session": {"S": keys.SESSION_SK_PREFIX},
                },
                ConsistentRead=True,
            )
        parts = {item["SK"]["S"]: item for item in response.get("Items", [])}
        head = parts.get(keys.SESSION_SK)
        return SessionItem.from_item(head, parts.get(keys.BODY_SK)) if head else None

    def get_head(self, namespace_id: str, session_id: str) -> SessionItem | None:
        """1 GetItem of the head alone (BODY_FIELDS left at their defaults)."""
        item = self.get_raw(keys.session_pk(namespace_id, session_id), keys.SESSION_SK)
        return SessionItem.from_item(item) if item else None

    def with_body(self, head: SessionItem) -> SessionItem:
        """A session known by its head (a stream image), completed with its body if present."""
        if head.layout == 1:
            return head
        body = self.get_raw(keys.session_pk(head.namespace_id, head.session_id), keys.BODY_SK)
        return head.model_copy(update=body_values(body)) if body else head

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

    def query_shards(
        self,
        index: str,
        partition: str,
        shards: list[int],
        *,
        forward: bool,
        limit: int,
        start_keys: dict[int, Item | None],
        sort_between: tuple[str, str] | None,
    ) -> dict[int, IndexPage]:
        """One page of several shards of a listing partition: the queries run in parallel
        (one round trip of latency, one Query per shard)."""

        def one(shard: int) -> IndexPage:
            return self.query_index(
                index,
                keys.sharded(partition, shard),
                forward=forward,
                limit=limit,
                start_key=start_keys.get(shard),
                sort_between=sort_between,
            )

        if len(shards) == 1:
            return {shards[0]: one(shards[0])}
        return dict(zip(shards, parallel_pool().map(one, shards), strict=True))

    def batch_get(self, item_keys: list[Item]) -> dict[tuple[str, str], Item]:
        """⌈n/100⌉ BatchGetItem calls, in parallel (more only when DynamoDB leaves keys
        unprocessed)."""
        chunks = [item_keys[start : start + BATCH_GET_MAX] for start in range(0, len(item_keys), BATCH_GET_MAX)]
        found: dict[tuple[str, str], Item] = {}
        results = (
            parallel_pool().map(self._batch_get_chunk, chunks)
            if len(chunks) > 1
            else map(self._batch_get_chunk, chunks)
        )
        for part in results:
            found.update(part)
        return found

    def _batch_get_chunk(self, chunk: list[Item]) -> dict[tuple[str, str], Item]:
        found: dict[tuple[str, str], Item] = {}
        request: dict[str, Any] = {self.table: {"Keys": chunk}}
        while request:
            with store_errors():
                response = self.client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self.table, []):
                found[(item["PK"]["S"], item["SK"]["S"])] = item
            request = dict(response.get("UnprocessedKeys") or {})
        return found

    def read_together(self, item_keys: list[Item]) -> dict[tuple[str, str], Item]:
        """Up to 100 items as they all were at one instant (1 TransactGetItems), for reads
        that must agree with each other (a counter and the sessions it counts)."""
        assert len(item_keys) <= TRANSACT_GET_MAX
        with store_errors():
            response = self.client.transact_get_items(
                TransactItems=[{"Get": {"TableName": self.table, "Key": key}} for key in item_keys]
            )
        found: dict[tuple[str, str], Item] = {}
        for answer in response.get("Responses", []):
            item = answer.get("Item")
            if item:
                found[(item["PK"]["S"], item["SK"]["S"])] = item
        return found

    def get_counter(self, listing_partition: str, shards: int) -> int:
        """The exact total of a listing partition: its counter shards summed, read in one
        BatchGetItem."""
        return counter_total(self.batch_get(counter_keys(listing_partition, shards)), listing_partition, shards)

    # --- writes ------------------------------------------------------------------------------

    def create_session(
        self, session: SessionItem, idempotency: IdempotencyRecord | None, now_ms: int, *, pending: bool = False
    ) -> None:
        """1 round trip: the session's head and body, its lookup items, the listing counters'
        shards and the idempotency record, all or nothing. `pending`: the head replaces the
        invisible `forking` head a fork wrote first (and nothing else)."""

        def build() -> PlacedWrite:
            used: dict[str, int] = {}
            placed = self._placed(session, used)
            put_head: dict[str, Any] = {
                "TableName": self.table,
                "Item": placed.to_item(self.settings.terminated_retention_seconds, self.settings.idle_after_seconds),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
            if pending:
                put_head["ConditionExpression"] = "#status = :forking"
                put_head["ExpressionAttributeNames"] = {"#status": "status"}
                put_head["ExpressionAttributeValues"] = {":forking": {"S": "forking"}}
            actions: list[dict[str, Any]] = [
                {"Put": put_head},
                {"Put": {"TableName": self.table, "Item": placed.body_item()}},
            ]
            touches: list[Touches] = [_head_touches(placed), {}]
            for entry in placed.lookups():
                actions.append({"Put": {"TableName": self.table, "Item": self._lookup_item(placed, entry, used)}})
                touches.append({"GSI1": [entry.partition(placed.namespace_id)]})
            counters = self._counter_updates(placed, placed.lookups(), +1, used, include_namespace=True)
            actions.extend(counters)
            touches.extend(_counter_touches(counters))
            if idempotency is not None:
                actions.append(idempotency_put(self.table, idempotency, now_ms))
                touches.append({})
            return PlacedWrite(actions, touches, used)

        def run(actions: list[dict[str, Any]]) -> None:
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
                if codes[:1] == ["ConditionalCheckFailed"]:
                    raise SessionExists() from error
                # A claim that failed on a record gone by the time it was read: retry the claim.
                if "TransactionConflict" in codes or (
                    idempotency is not None and codes[-1:] == ["ConditionalCheckFailed"]
                ):
                    raise TransactionConflict() from error
                raise

        transact_following_heat(self, build, run)

    def replace_session(
        self, old: SessionItem, new: SessionItem, now_ms: int, idempotency: IdempotencyRecord | None = None
    ) -> None:
        """1 round trip: the new head (if its version is still the one read and it is still
        visible), the body when it changed, and the lookup items and counters that changed.

        A layout-1 session (one item, unsharded keys) is rewritten in layout 2 here: its body
        item is written, every lookup re-put with its sharded key and counted in the sharded
        counters (layout 1's single counters are not read any more). The condition that it is
        still layout 1 makes that exactly-once; this is how migrate-layout moves a session."""
        retention = self.settings.terminated_retention_seconds
        condition = "version = :version AND visible_until_ms > :now"
        if old.layout == 1:
            condition += " AND attribute_not_exists(#layout)"
        if new.user_id != old.user_id:
            new = new.model_copy(update={"user_shard": None})  # placed in the new user's family
        old_lookups = {entry.partition(old.namespace_id): entry for entry in old.lookups()}
        new_lookups = {entry.partition(new.namespace_id): entry for entry in new.lookups()}
        removed = [entry for partition, entry in old_lookups.items() if partition not in new_lookups]
        if old.layout == 1:
            added = list(new_lookups.values())
        else:
            added = [entry for partition, entry in new_lookups.items() if partition not in old_lookups]

        def build() -> PlacedWrite:
            used: dict[str, int] = {}
            placed = self._placed(new, used)
            put_head: dict[str, Any] = {
                "TableName": self.table,
                "Item": placed.to_item(retention, self.settings.idle_after_seconds),
                "ConditionExpression": condition,
                "ExpressionAttributeValues": {":version": to_attr(old.version), ":now": to_attr(now_ms)},
            }
            if old.layout == 1:
                put_head["ExpressionAttributeNames"] = {"#layout": "layout"}
            actions: list[dict[str, Any]] = [{"Put": put_head}]
            touches: list[Touches] = [_head_touches(placed)]
            if old.layout == 1 or placed.body_differs(old):
                actions.append({"Put": {"TableName": self.table, "Item": placed.body_item()}})
                touches.append({})
            for entry in removed:
                actions.append({"Delete": {"TableName": self.table, "Key": self._lookup_key(old, entry)}})
                touches.append({"GSI1": [entry.partition(old.namespace_id)]})
            for entry in added:
                actions.append({"Put": {"TableName": self.table, "Item": self._lookup_item(placed, entry, used)}})
                touches.append({"GSI1": [entry.partition(placed.namespace_id)]})
            counters = self._counter_updates(old, removed, -1, used, include_namespace=False)
            counters += self._counter_updates(placed, added, +1, used, include_namespace=old.layout == 1)
            actions.extend(counters)
            touches.extend(_counter_touches(counters))
            if idempotency is not None:
                actions.append(idempotency_put(self.table, idempotency, now_ms))
                touches.append({})
            if len(actions) > TRANSACTION_MAX:
                # Two actions per listed value that moves (its lookup item and its counter).
                fixed = len(actions) - 2 * (len(removed) + len(added))
                raise TooManyListedChanges(len(removed) + len(added), (TRANSACTION_MAX - fixed) // 2)
            return PlacedWrite(actions, touches, used)

        transact_following_heat(self, build, lambda actions: self._transact(actions, idempotency))

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
        """1 transaction (the head, its lookups and counters, conditional on the version
        read: from then on no reader sees the session), then the remaining items of the
        session (body, messages) in batches: 1 query and ⌈n/25⌉ batch writes per 1 MB of
        items."""
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
        actions.extend(self._counter_updates(session, session.lookups(), -1, {}, include_namespace=True))
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

    def start_reading_ended(self, now_ms: int, shards: range) -> list[Any]:
        """Start reading, on the parallel pool, every due entry whose visibility has passed by
        `now_ms` (sessions that ended but that the expiry job has not settled yet, in every
        namespace): one future per due shard, each a list of index items."""
        return [parallel_pool().submit(self._ended_in_shard, shard, now_ms) for shard in shards]

    def _ended_in_shard(self, shard: int, now_ms: int) -> list[Item]:
        found: list[Item] = []
        start: Item | None = None
        while True:
            request: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": keys.DUE_INDEX,
                "KeyConditionExpression": "DUEPK = :shard AND DUESK <= :now",
                # what is due only to go idle is still visible: left out (read, not returned)
                "FilterExpression": "visible_until_ms <= :now_ms",
                "ExpressionAttributeValues": {
                    ":shard": {"S": keys.due_pk(shard)},
                    ":now": {"S": keys.due_sk(now_ms, "~", "~")},
                    ":now_ms": {"N": str(now_ms)},
                },
            }
            if start:
                request["ExclusiveStartKey"] = start
            with store_errors():
                response = self.client.query(**request)
            found.extend(response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start:
                return found

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
        actions.extend(self._counter_updates(removed, removed.lookups(), -1, {}, include_namespace=True))
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

    def _transact(self, actions: list[dict[str, Any]], idempotency: IdempotencyRecord | None = None) -> None:
        """`idempotency`: the last action claims that record's key (IdempotencyKeyTaken when it
        is taken and live)."""
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
            if codes and codes[0] == "ConditionalCheckFailed":
                raise StaleVersion() from error
            # A claim that failed on a record gone by the time it was read: retry the claim.
            if "TransactionConflict" in codes or (idempotency is not None and codes[-1:] == ["ConditionalCheckFailed"]):
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

    def _placed(self, session: SessionItem, used: dict[str, int]) -> SessionItem:
        """The session with its head's entries placed: a shard it already has stays (see
        SessionItem.created_shard); one it has not is taken from its family's count as this
        container knows it (recorded in `used`)."""
        updates: dict[str, int] = {}
        namespace = keys.namespace_partition(session.namespace_id)
        if session.created_shard is None or session.activity_shard is None:
            shard = keys.shard_of(session.session_id, self._count(namespace, used))
            if session.created_shard is None:
                updates["created_shard"] = shard
            if session.activity_shard is None:
                updates["activity_shard"] = shard
        if session.user_id is not None and session.user_shard is None:
            user = keys.lookup_partition(session.namespace_id, "user_id", session.user_id)
            updates["user_shard"] = keys.shard_of(session.session_id, self._count(user, used))
        if session.due_shard is None:
            updates["due_shard"] = keys.shard_of(session.session_id, self._count(keys.DUE_FAMILY, used))
        return session.model_copy(update=updates) if updates else session

    def _count(self, partition: str, used: dict[str, int]) -> int:
        if partition not in used:
            used[partition] = counts_for(self.table).for_write(partition)
        return used[partition]

    def _lookup_item(self, session: SessionItem, entry: LookupEntry, used: dict[str, int]) -> Item:
        """KEYS_ONLY in GSI1: the index gives the session's partition key; the listing reads
        the session with a batch get."""
        partition = entry.partition(session.namespace_id)
        return {
            **self._lookup_key(session, entry),
            "kind": {"S": "lookup"},
            "GSI1PK": {"S": keys.sharded(partition, keys.shard_of(session.session_id, self._count(partition, used)))},
            "GSI1SK": {"S": keys.time_sort_key(clock.to_iso(session.created_ms), session.session_id)},
        }

    def _counter_updates(
        self,
        session: SessionItem,
        entries: Iterable[LookupEntry],
        delta: int,
        used: dict[str, int],
        *,
        include_namespace: bool,
    ) -> list[dict[str, Any]]:
        """ADD to this session's shard of each listing partition's counter (any shard below
        the family's count will do: the total is their sum). A layout-1 session is in no
        sharded counter (migrate-layout counts it when it rewrites it)."""
        if session.layout == 1 and delta < 0:
            return []
        partitions: list[str] = []
        if include_namespace:
            partitions.append(keys.namespace_partition(session.namespace_id))
        partitions.extend(entry.partition(session.namespace_id) for entry in entries)
        return [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": counter_key(partition, keys.shard_of(session.session_id, self._count(partition, used))),
                    "UpdateExpression": "ADD n :delta SET kind = :kind",
                    "ExpressionAttributeValues": {":delta": to_attr(delta), ":kind": to_attr("counter")},
                }
            }
            for partition in partitions
        ]


def _head_touches(session: SessionItem) -> Touches:
    namespace = keys.namespace_partition(session.namespace_id)
    touches: Touches = {"GSI1": [namespace], "GSI2": [namespace], keys.DUE_INDEX: [keys.DUE_FAMILY]}
    if session.user_id is not None:
        touches["GSI3"] = [keys.lookup_partition(session.namespace_id, "user_id", session.user_id)]
    return touches


def _counter_touches(counters: list[dict[str, Any]]) -> list[Touches]:
    return [{"table": [counter["Update"]["Key"]["PK"]["S"].rsplit("#COUNT#S", 1)[0]]} for counter in counters]


def counter_key(listing_partition: str, shard: int) -> Item:
    return {"PK": {"S": keys.counter_pk(listing_partition, shard)}, "SK": {"S": keys.COUNTER_SK}}


def counter_keys(listing_partition: str, shards: int) -> list[Item]:
    return [counter_key(listing_partition, shard) for shard in range(shards)]


def counter_total(found: dict[tuple[str, str], Item], listing_partition: str, shards: int) -> int:
    """The sum of a listing partition's counter shards among batch-get results (absent: 0)."""
    total = 0
    for key in counter_keys(listing_partition, shards):
        item = found.get((key["PK"]["S"], key["SK"]["S"]))
        if item and "n" in item:
            total += int(item["n"]["N"])
    return max(total, 0)
