"""The partition model: what each operation writes, charged from what DynamoDB recorded.

A workload runs through the real handlers on Amazon's DynamoDB Local, into one namespace:
creates (each with its own user_id, one agent_id every session shares, a metadata pair every
session shares and one of its own), single-message appends spread over those sessions at
random, appends of a message with a 20 MiB file (uploaded to the local S3, then named), PATCHes
and terminates. Then the table's stream is read back (the old and the new
image of every write) and each write is charged, with DynamoDB's rules, to the table
partition it landed on and to every index partition it touched:

- table: 1 WCU per started KB of the item (for an update, of the larger of its old and new
  image; for a delete, of the deleted item), ×2 when the write was part of a transaction;
- each index, from the template's key schema and projection: an item entering the index is a
  put of its projection, leaving it a delete, a key change a delete plus a put, an in-place
  change a put only when a projected attribute changed; 1 WCU per started KB of the
  projection (keys of table and index, projected attributes, plus 100 bytes of overhead).

Per operation: the WRU billed (everything above), the hottest partition (table or index) and
what one operation puts on it on average, and the namespace ceiling: 1,000 WCU/s divided by
that. Shards follow heat (DESIGN §4): the workload runs once in a namespace whose shared
families were grown to 16 shards before it (the namespace, the popular agent and metadata
pairs, the due index; each user keeps 1) — the §10 ceilings — and once in a namespace that never grew
(every family at 1 shard: what an ordinary namespace can take before a throttle raises a
count; measured with the small session, the 32 KiB one being the same there). Two session
shapes: small, and with a 32 KiB `situation`. Not counted: reads, the
idempotency records a request with Idempotency-Key writes (one more put per write request),
the expiry job's and the stream consumer's writes.

Prints tables; writes benchmarks/results.json ("partitions"); docs/capacity.md is written from it.
"""

from __future__ import annotations

# isort: off
from bench_setup import call, write_results

# isort: on

import hashlib
import logging
import os
import random
import uuid
from collections import defaultdict
from typing import Any

import boto3
import requests

from agent_sessions import runtime
from agent_sessions.settings import get_settings
from agent_sessions.store import keys
from agent_sessions.store.sessions import SessionStore
from agent_sessions.store.shards import ShardCountStore
from agent_sessions.store.sizing import item_size, write_units
from local_runtime.s3 import LocalS3
from local_runtime.template import table_definitions
from support import TENANT, create_buckets, create_tables, dynamodb_local

PARTITION_WCU = 1000
INDEX_ENTRY_OVERHEAD = 100
# Many sessions, as a namespace at thousands of appends/s has: the hottest shard's share then
# reflects the hash's spread, not the luck of a few sessions.
CREATES = 960
APPENDS = 1920
PATCHES = 100
TERMINATES = 100
# Appends of one message with a 20 MiB file (uploaded first, then named): the item keeps its
# description only, so the write units are a small message's (DESIGN §11).
FILE_APPENDS = 10
FILE_BYTES = 20 * 1024 * 1024
# Which operations write in one TransactWriteItems (×2): every one but terminate (UpdateItem).
TRANSACTIONAL = {"create": True, "append": True, "append_20mib_file": True, "patch": True, "terminate": False}
GROWN = 16  # the count the popular families are grown to (DESIGN §10's ceilings)
SHAPES = {"small": None, "situation_32k": "You are a careful support agent. " * 993}  # 32.8 KB


class StreamReader:
    """Every record of the table's stream after the last one read (DynamoDB Local serves
    `dynamodbstreams` on its own endpoint)."""

    def __init__(self, endpoint: str, table: str) -> None:
        self.client = boto3.client("dynamodbstreams", endpoint_url=endpoint)
        dynamodb = boto3.client("dynamodb", endpoint_url=endpoint)
        self.arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        self.after: dict[str, str] = {}

    def drain(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        shards = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id in self.after:
                iterator = self.client.get_shard_iterator(
                    StreamArn=self.arn,
                    ShardId=shard_id,
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                    SequenceNumber=self.after[shard_id],
                )["ShardIterator"]
            else:
                iterator = self.client.get_shard_iterator(
                    StreamArn=self.arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            while iterator:
                page = self.client.get_records(ShardIterator=iterator, Limit=1000)
                batch = page.get("Records", [])
                records.extend(batch)
                if batch:
                    self.after[shard_id] = batch[-1]["dynamodb"]["SequenceNumber"]
                iterator = page.get("NextShardIterator")
                if not batch:
                    break
        return records


class IndexModel:
    def __init__(self, definition: dict[str, Any]) -> None:
        self.name = definition["IndexName"]
        schema = {key["KeyType"]: key["AttributeName"] for key in definition["KeySchema"]}
        self.pk, self.sk = schema["HASH"], schema.get("RANGE")
        projection = definition["Projection"]
        self.kind = projection["ProjectionType"]
        self.attributes = set(projection.get("NonKeyAttributes") or [])

    def keys_of(self, image: dict[str, Any] | None) -> tuple[str, str] | None:
        if not image or self.pk not in image or (self.sk and self.sk not in image):
            return None
        return (str(image[self.pk]["S"]), str(image[self.sk]["S"]) if self.sk else "")

    def projection(self, image: dict[str, Any]) -> dict[str, Any]:
        names = {"PK", "SK", self.pk, *([self.sk] if self.sk else [])}
        if self.kind == "ALL":
            return dict(image)
        if self.kind == "INCLUDE":
            names |= self.attributes
        return {name: value for name, value in image.items() if name in names}

    def writes(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[tuple[str, int]]:
        """(index partition, WCU) for one table write."""
        before, after = self.keys_of(old), self.keys_of(new)
        charged = []
        if before and (after is None or after != before):
            assert old is not None
            charged.append((before[0], write_units(item_size(self.projection(old)) + INDEX_ENTRY_OVERHEAD)))
        if after:
            assert new is not None
            if after != before or self.projection(old or {}) != self.projection(new):
                charged.append((after[0], write_units(item_size(self.projection(new)) + INDEX_ENTRY_OVERHEAD)))
        return charged


def charge(records: list[dict[str, Any]], transactional: bool, indexes: list[IndexModel]) -> dict[str, Any]:
    """WRU billed and WCU per partition for the writes these stream records show."""
    billed = 0
    table_wru = 0
    index_wcu = 0
    per_partition: dict[str, float] = defaultdict(float)
    for record in records:
        change = record["dynamodb"]
        old, new = change.get("OldImage"), change.get("NewImage")
        size = max(item_size(old) if old else 0, item_size(new) if new else 0)
        units = write_units(size) * (2 if transactional else 1)
        table_wru += units
        per_partition[f"table {change['Keys']['PK']['S']}"] += units
        for index in indexes:
            for partition, wcu in index.writes(old, new):
                index_wcu += wcu
                per_partition[f"{index.name} {partition}"] += wcu
    billed = table_wru + index_wcu
    return {"billed_wru": billed, "table_wru": table_wru, "index_wcu": index_wcu, "per_partition": per_partition}


# The families every session of the workload shares: the namespace, the popular agent, the
# popular metadata pair of the creates and the one every PATCH adds, and the table-wide due
# index. Each user keeps one shard, and so does each session's own `ticket` pair.
GROWN_FAMILIES = (
    keys.namespace_partition(TENANT["namespace_id"]),
    keys.lookup_partition(TENANT["namespace_id"], "agent_id", "support-bot"),
    keys.lookup_partition(TENANT["namespace_id"], "metadata", "prod", "env"),
    keys.lookup_partition(TENANT["namespace_id"], "metadata", "triaged", "stage"),
    keys.DUE_FAMILY,
)


def run_shape(
    endpoint: str, shape: str, situation: str | None, indexes: list[IndexModel], shards: int
) -> dict[str, Any]:
    table = f"partitions-{shape}-{shards}-{uuid.uuid4().hex[:6]}"
    os.environ["TABLE_NAME"] = table
    runtime.reset()
    create_tables(boto3.client("dynamodb", endpoint_url=endpoint), {"SessionsTable": table})
    if shards > 1:  # what `set-shards --count 16` does for each popular family
        grow = ShardCountStore(SessionStore(get_settings()))
        for family in GROWN_FAMILIES:
            grow.set_count(family, shards)
    stream = StreamReader(endpoint, table)
    rng = random.Random(7)
    sessions: list[str] = []
    head_sizes: list[int] = []

    def create(index: int) -> None:
        body: dict[str, Any] = {
            "user_id": f"user-{index:05d}",
            "agent_id": "support-bot",  # every session: the popular agent
            "metadata": {"env": "prod", "ticket": f"T-{index:06d}"},  # one popular pair, one of its own
            "agent_config": {"model": "model-large", "temperature": 0.2, "max_tokens": 1024},
        }
        if situation:
            body["situation"] = situation
        sessions.append(call("create_session", "POST", "/v1/agents/sessions", body=body)["session_id"])

    def append(_: int) -> None:
        message = {"role": rng.choice(["user", "assistant"]), "content": "word " * 80, "token_count": 90}
        call(
            "append_messages",
            "POST",
            "/v1/agents/sessions/{session_id}/messages",
            rng.choice(sessions),
            body=message,
        )

    def patch(index: int) -> None:
        call(
            "update_session",
            "PATCH",
            "/v1/agents/sessions/{session_id}",
            sessions[index],
            body={"summary": f"summary {index}", "metadata": {"stage": "triaged"}},
        )

    upload_body = os.urandom(FILE_BYTES)
    upload_digest = hashlib.sha256(upload_body).hexdigest()

    def append_file(index: int) -> None:
        session_id = sessions[index]
        ticket = call(
            "create_upload",
            "POST",
            "/v1/agents/sessions/{session_id}/attachments",
            session_id,
            body={"name": "scan.pdf", "mime_type": "application/pdf", "size": FILE_BYTES, "sha256": upload_digest},
        )
        sent = requests.put(ticket["upload_url"], data=upload_body, headers=ticket["upload_headers"], timeout=120)
        assert sent.status_code == 200, sent.text
        message = {"content": "the scan", "attachments": [{"attachment_id": ticket["attachment_id"]}]}
        call("append_messages", "POST", "/v1/agents/sessions/{session_id}/messages", session_id, body=message)

    def terminate(index: int) -> None:
        call("terminate_session", "DELETE", "/v1/agents/sessions/{session_id}", sessions[-1 - index])

    phases = {
        "create": (create, CREATES),
        "append": (append, APPENDS),
        "append_20mib_file": (append_file, FILE_APPENDS),
        "patch": (patch, PATCHES),
    }
    phases["terminate"] = (terminate, TERMINATES)
    figures: dict[str, Any] = {}
    stream.drain()
    for operation, (action, count) in phases.items():
        for index in range(count):
            action(index)
        records = stream.drain()
        if operation == "append":
            head_sizes = [
                item_size(r["dynamodb"]["NewImage"])
                for r in records
                if r["dynamodb"]["Keys"]["SK"]["S"] == "SESSION" and "NewImage" in r["dynamodb"]
            ]
        charged = charge(records, TRANSACTIONAL[operation], indexes)
        partitions = charged.pop("per_partition")
        # A session's own partition takes only that session's writes: it bounds one session
        # (reported apart), not the namespace, which adds a partition with every session.
        own = {name: wcu for name, wcu in partitions.items() if "#SES#" in name}
        shared = {name: wcu for name, wcu in partitions.items() if "#SES#" not in name}
        hottest, hottest_wcu = max(shared.items(), key=lambda pair: pair[1])
        per_operation = hottest_wcu / count
        figures[operation] = {
            "operations": count,
            "stream_records": len(records),
            "wru_billed_per_operation": round(charged["billed_wru"] / count, 2),
            "table_wru_per_operation": round(charged["table_wru"] / count, 2),
            "index_wcu_per_operation": round(charged["index_wcu"] / count, 2),
            "hottest_partition": _label(hottest),
            "hottest_partition_wcu_per_operation": round(per_operation, 4),
            "namespace_ceiling_per_second": int(PARTITION_WCU / per_operation),
            "own_session_partition_wcu_per_operation": round(sum(own.values()) / count, 2),
            # the hottest partition of each kind (a popular agent_id or metadata pair included)
            "ceiling_by_partition_kind": _ceilings_by_kind(shared, count),
            "top_shared_partitions": [
                {"partition": _label(name), "wcu_per_operation": round(wcu / count, 4)}
                for name, wcu in sorted(shared.items(), key=lambda pair: -pair[1])[:4]
            ],
        }
    figures["append"]["head_bytes_max"] = max(head_sizes)
    figures["append"]["head_bytes_median"] = sorted(head_sizes)[len(head_sizes) // 2]
    return figures


def _ceilings_by_kind(shared: dict[str, float], count: int) -> dict[str, int]:
    hottest: dict[str, float] = defaultdict(float)
    for name, wcu in shared.items():
        label = _label(name)
        hottest[label] = max(hottest[label], wcu)
    return {label: int(PARTITION_WCU * count / wcu) for label, wcu in sorted(hottest.items(), key=lambda p: -p[1])}


def _label(partition: str) -> str:
    """Readable partition names: ids replaced by their kind."""
    where, _, key = partition.partition(" ")
    parts = key.split("#")
    if "SES" in parts:
        return f"{where} one session's partition"
    shard = parts[-1] if parts[-1].startswith("S") and parts[-1][1:].isdigit() else None
    if key.startswith("DUE#"):
        return f"{where} due shard (table-wide)"
    if "COUNT" in parts:
        return f"{where} counter shard of " + ("the namespace" if len(parts) == 4 else f"one {parts[2]} value")
    if len(parts) == 3 and shard:
        return f"{where} namespace shard"
    if len(parts) >= 4:
        return f"{where} {parts[2]} value" + (" shard" if shard else "")
    return f"{where} {key}"


def main() -> None:
    definition = table_definitions()["SessionsTable"]
    indexes = [IndexModel(index) for index in definition["GlobalSecondaryIndexes"]]
    results: dict[str, Any] = {}
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the local S3's request lines
    objects = LocalS3(None)
    with dynamodb_local() as endpoint:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
        os.environ["AWS_ENDPOINT_URL_S3"] = objects.start()
        os.environ["ATTACHMENTS_BUCKET"] = "partitions-attachments"
        create_buckets(objects.client(), {"AttachmentsBucket": os.environ["ATTACHMENTS_BUCKET"]})
        try:
            for shape, situation in SHAPES.items():
                results[shape] = run_shape(endpoint, shape, situation, indexes, GROWN)
            # At 1 shard the hottest partitions are keys-only index entries and counters, the
            # same for both shapes: the small one is measured (the 32 KiB one takes DynamoDB
            # Local minutes more for the same figures).
            results["small_at_1_shard"] = run_shape(endpoint, "small", None, indexes, 1)
        finally:
            objects.stop()
    print(f"\nPartition model from stream images ({CREATES} creates, {APPENDS} appends, one namespace)")
    print(
        f"{'shape':15} {'operation':17} {'WRU billed':>10} {'own partition':>13}  {'hottest shared partition':42} "
        f"{'WCU/op there':>12} {'ceiling/s':>10} {'at 1 shard':>10}"
    )
    for shape, figures in results.items():
        if shape.endswith("_at_1_shard"):
            continue
        for operation, row in figures.items():
            if operation == "append_20mib_file":  # too few to spread over the shards: WRU only
                print(
                    f"{shape:15} {operation:17} {row['wru_billed_per_operation']:>10} "
                    f"{row['own_session_partition_wcu_per_operation']:>13}  (the hottest partition as for append)"
                )
                continue
            print(
                f"{shape:15} {operation:17} {row['wru_billed_per_operation']:>10} "
                f"{row['own_session_partition_wcu_per_operation']:>13}  {row['hottest_partition']:42} "
                f"{row['hottest_partition_wcu_per_operation']:>12} {row['namespace_ceiling_per_second']:>10} "
                f"{results['small_at_1_shard'][operation]['namespace_ceiling_per_second']:>10}"
            )
        append = figures["append"]
        print(f"{shape:15} head item {append['head_bytes_median']} B median, {append['head_bytes_max']} B max")
    write_results(
        "partitions",
        {
            "workload": {
                "creates": CREATES,
                "appends": APPENDS,
                "patches": PATCHES,
                "terminates": TERMINATES,
                "create": "own user_id, shared agent_id, shared metadata pair env=prod, own pair ticket",
                "append": "one message of 400 characters (item < 1 KB), random session",
                "append_20mib_file": "one message naming a 20 MiB file uploaded before (the local S3)",
                "shards": f"<shape>: the namespace, agent support-bot, metadata env=prod and stage=triaged and the "
                f"due index set to {GROWN} shards before the workload (users at 1); small_at_1_shard: every "
                "family at 1",
            },
            "rules": "1 WCU per started KB; transactional writes x2 on the table; "
            "index entry = keys + projection + 100 B",
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
