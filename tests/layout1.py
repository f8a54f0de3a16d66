"""What the previous version (key layout 1) wrote for a session, reproduced item by item from
its store, so the migration is tested on a table such as that version left behind:

- one session item holding everything (body fields as JSON text, namespace_id and session_id
  repeated), unsharded index keys: GSI1PK = GSI2PK = `NS#<ns>`, GSI3PK = the user's lookup
  partition, DUEPK one of 8 shards, no `layout` attribute;
- one lookup item per user_id, agent_id and metadata pair: GSI1PK = the lookup partition,
  with `session_id` and `field`;
- one counter item per listing partition (`<partition>#COUNT` / `COUNTER`), projected into
  the index partitions it counts with the sort key `~COUNT`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from agent_sessions import clock
from agent_sessions.models.items import SessionItem
from agent_sessions.store import keys
from agent_sessions.store.codec import to_attr

COUNTER_SORT_KEY = "~COUNT"


def session_item(session: SessionItem) -> dict[str, Any]:
    item = session.to_item(604800, 1800)
    namespace = keys.namespace_partition(session.namespace_id)
    item.update(session.body_item())
    item["SK"] = {"S": keys.SESSION_SK}
    item["kind"] = {"S": "session"}
    item["namespace_id"] = {"S": session.namespace_id}
    item["session_id"] = {"S": session.session_id}
    item["GSI1PK"] = {"S": namespace}
    item["GSI2PK"] = {"S": namespace}
    if session.user_id:
        item["GSI3PK"] = {"S": keys.lookup_partition(session.namespace_id, "user_id", session.user_id)}
    shard = int(hashlib.sha256(session.session_id.encode()).hexdigest()[:8], 16) % 8
    item["DUEPK"] = {"S": f"DUE#{shard}"}
    del item["layout"]
    return item


def lookup_items(session: SessionItem) -> list[dict[str, Any]]:
    items = []
    for entry in session.lookups():
        partition = entry.partition(session.namespace_id)
        item = {
            "PK": {"S": keys.session_pk(session.namespace_id, session.session_id)},
            "SK": {"S": keys.lookup_sk(partition)},
            "kind": {"S": "lookup"},
            "session_id": {"S": session.session_id},
            "field": {"S": entry.field},
            "GSI1PK": {"S": partition},
            "GSI1SK": {"S": keys.time_sort_key(clock.to_iso(session.created_ms), session.session_id)},
        }
        if entry.key is not None:
            item["metadata_key"] = {"S": entry.key}
        items.append(item)
    return items


def counter_updates(table: str, session: SessionItem) -> list[dict[str, Any]]:
    partitions = [(keys.namespace_partition(session.namespace_id), "GSI2PK")]
    for entry in session.lookups():
        partitions.append((entry.partition(session.namespace_id), "GSI3PK" if entry.field == "user_id" else None))
    updates = []
    for partition, activity_pk in partitions:
        expression = "ADD n :one SET kind = :kind, GSI1PK = :partition, GSI1SK = :counter_sk"
        if activity_pk:
            expression += f", {activity_pk} = :partition, GSI2SK = :counter_sk"
        updates.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": {"PK": {"S": keys.legacy_counter_pk(partition)}, "SK": {"S": keys.COUNTER_SK}},
                    "UpdateExpression": expression,
                    "ExpressionAttributeValues": {
                        ":one": to_attr(1),
                        ":kind": to_attr("counter"),
                        ":partition": to_attr(partition),
                        ":counter_sk": to_attr(COUNTER_SORT_KEY),
                    },
                }
            }
        )
    return updates


def create(client: Any, table: str, session: SessionItem) -> None:
    """Layout 1's create transaction: the session, its lookups and its counters."""
    actions: list[dict[str, Any]] = [{"Put": {"TableName": table, "Item": session_item(session)}}]
    actions += [{"Put": {"TableName": table, "Item": item}} for item in lookup_items(session)]
    actions += counter_updates(table, session)
    client.transact_write_items(TransactItems=actions)
