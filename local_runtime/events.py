"""The triggers other than HTTP, from the template: EventBridge schedules, DynamoDB stream
event source mappings, and a local EventBridge that keeps what the functions publish.

The stream feeder gives the consumer what AWS's event source mapping gives it: batches of
up to `BatchSize` records in Lambda's record shape, filtered by `FilterCriteria`, retried
on error (halved with `BisectBatchOnFunctionError`) up to `MaximumRetryAttempts`, partial
failures honoured with `ReportBatchItemFailures` (resume at the first failed record), and
what keeps failing written to the on-failure destination (a file here). DynamoDB Local
reports a TTL deletion with eventName "UNKNOWN_TO_SDK_VERSION", an OldImage only and no
userIdentity; AWS sends REMOVE with the DynamoDB service as userIdentity, so the feeder
hands the consumer AWS's shape.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local_runtime.template import ACCOUNT_ID, REGION, Stack

Invoke = Callable[[str, Any], Any]
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


# --- schedules ----------------------------------------------------------------------------------


def rate_seconds(expression: str) -> float | None:
    """`rate(5 minutes)` → 300; a cron expression is not emulated (None)."""
    match = re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not match:
        return None
    unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
    return int(match.group(1)) * unit


def scheduled_event(rule: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{rule}"],
        "detail": {},
    }


class Scheduler(threading.Thread):
    """Invokes each scheduled function at its rate (or every `override_seconds`)."""

    def __init__(self, stack: Stack, invoke: Invoke, *, override_seconds: float | None = None, log: Any = None) -> None:
        super().__init__(daemon=True, name="scheduler")
        self.jobs: list[tuple[str, str, float]] = []
        for name, spec in stack.functions.items():
            for event_name, event in spec.events.items():
                if event.get("Type") not in ("Schedule", "ScheduleV2"):
                    continue
                props = event.get("Properties") or {}
                expression = str(stack.resolve(props.get("Schedule") or props.get("ScheduleExpression") or ""))
                seconds = override_seconds or rate_seconds(expression)
                if seconds:
                    self.jobs.append((name, f"{name}-{event_name}", seconds))
        self.invoke = invoke
        self.log = log or (lambda message: None)
        self._stop = threading.Event()

    def run(self) -> None:
        due = {rule: time.monotonic() + seconds for _, rule, seconds in self.jobs}
        while not self._stop.wait(0.5):
            for name, rule, seconds in self.jobs:
                if time.monotonic() >= due[rule]:
                    due[rule] = time.monotonic() + seconds
                    try:
                        result = self.invoke(name, scheduled_event(rule))
                        self.log(f"SCHEDULE {name} ok {json.dumps(result, default=str)[:200]}")
                    except Exception as error:  # a failed run is retried at the next tick, as EventBridge would
                        self.log(f"SCHEDULE {name} failed: {type(error).__name__}: {error}")

    def stop(self) -> None:
        self._stop.set()


# --- event filtering (the subset of EventBridge patterns Lambda filters use) ---------------------


def matches(pattern: Any, value: Any) -> bool:
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        return all(_matches_field(sub, value.get(key), key in value) for key, sub in pattern.items())
    return False


def _matches_field(pattern: Any, value: Any, present: bool) -> bool:
    if isinstance(pattern, dict):
        return present and matches(pattern, value)
    if isinstance(pattern, list):
        return any(_matches_value(rule, value, present) for rule in pattern)
    return False


def _matches_value(rule: Any, value: Any, present: bool) -> bool:
    if isinstance(rule, dict):
        if "exists" in rule:
            return bool(rule["exists"]) == present
        if "prefix" in rule:
            return present and isinstance(value, str) and value.startswith(rule["prefix"])
        if "anything-but" in rule:
            excluded = rule["anything-but"]
            excluded = excluded if isinstance(excluded, list) else [excluded]
            return present and value not in excluded
        return False
    return present and value == rule


# --- the DynamoDB stream event source mapping ----------------------------------------------------


class StreamFeeder(threading.Thread):
    def __init__(
        self,
        stack: Stack,
        invoke: Invoke,
        *,
        endpoint: str,
        state_dir: Path | None = None,
        poll_seconds: float = 0.5,
        log: Any = None,
    ) -> None:
        import boto3

        super().__init__(daemon=True, name="stream-feeder")
        self.invoke = invoke
        self.log = log or (lambda message: None)
        self.poll_seconds = poll_seconds
        self.state_dir = state_dir
        self.dynamodb = boto3.client("dynamodb", endpoint_url=endpoint)
        self.streams = boto3.client("dynamodbstreams", endpoint_url=endpoint)
        self.mappings: list[dict[str, Any]] = []
        for name, spec in stack.functions.items():
            for props in spec.events_of("DynamoDB"):
                stream = props["Stream"]
                logical_table = stream["Fn::GetAtt"][0] if isinstance(stream, dict) else str(stream)
                filters = [json.loads(f["Pattern"]) for f in (props.get("FilterCriteria") or {}).get("Filters", [])]
                self.mappings.append(
                    {
                        "function": name,
                        "table": stack.table_names[logical_table],
                        "batch_size": int(props.get("BatchSize", 100)),
                        "filters": filters,
                        "report_failures": "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                        "bisect": bool(props.get("BisectBatchOnFunctionError", False)),
                        "max_retries": int(props.get("MaximumRetryAttempts", 3)),
                        "start": str(props.get("StartingPosition", "TRIM_HORIZON")),
                    }
                )
        self._stop = threading.Event()
        self._positions: dict[str, str] = self._load_positions()
        self.failed_batches: list[dict[str, Any]] = []
        self.delivered = 0

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        iterators: dict[tuple[int, str], str | None] = {}
        while not self._stop.is_set():
            try:
                busy = self._poll_all(iterators)
            except Exception as error:  # the store went away or restarted: try again shortly
                self.log(f"STREAM poll failed: {type(error).__name__}: {error}")
                iterators.clear()
                self._stop.wait(2)
                continue
            if not busy:
                self._stop.wait(self.poll_seconds)

    def drain(self, timeout: float = 30.0) -> None:
        """Poll until no records are pending (tests)."""
        iterators: dict[tuple[int, str], str | None] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._poll_all(iterators):
            pass

    def _poll_all(self, iterators: dict[tuple[int, str], str | None]) -> bool:
        """One pass over every mapping's shards; True when any records came."""
        busy = False
        for index, mapping in enumerate(self.mappings):
            busy |= self._poll(index, mapping, iterators)
        return busy

    def _poll(self, index: int, mapping: dict[str, Any], iterators: dict[tuple[int, str], str | None]) -> bool:
        stream_arn = self.dynamodb.describe_table(TableName=mapping["table"])["Table"].get("LatestStreamArn")
        if not stream_arn:
            return False
        shards = self.streams.describe_stream(StreamArn=stream_arn)["StreamDescription"].get("Shards", [])
        busy = False
        for shard in shards:
            shard_id = shard["ShardId"]
            key = (index, shard_id)
            if key not in iterators:
                position = self._positions.get(f"{mapping['function']}:{shard_id}")
                kwargs: dict[str, Any] = {"StreamArn": stream_arn, "ShardId": shard_id}
                if position:
                    kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=position)
                else:
                    kwargs.update(ShardIteratorType=mapping["start"])
                iterators[key] = self.streams.get_shard_iterator(**kwargs)["ShardIterator"]
            iterator = iterators[key]
            if iterator is None:
                continue
            page = self.streams.get_records(ShardIterator=iterator, Limit=mapping["batch_size"])
            iterators[key] = page.get("NextShardIterator")
            records = [self._lambda_record(record, stream_arn) for record in page.get("Records", [])]
            if not records:
                continue
            busy = True
            selected = [r for r in records if not mapping["filters"] or any(matches(f, r) for f in mapping["filters"])]
            if selected:
                self._deliver(mapping, selected)
            self._positions[f"{mapping['function']}:{shard_id}"] = records[-1]["dynamodb"]["SequenceNumber"]
            self._save_positions()
        return busy

    def _deliver(self, mapping: dict[str, Any], records: list[dict[str, Any]]) -> None:
        """One batch, with Lambda's retry semantics; never raises."""
        pending = [records]
        attempts: dict[int, int] = {}
        while pending:
            batch = pending.pop(0)
            try:
                result = self.invoke(mapping["function"], {"Records": batch})
            except Exception as error:
                attempts[id(batch)] = attempts.get(id(batch), 0) + 1
                if mapping["bisect"] and len(batch) > 1:
                    middle = len(batch) // 2
                    pending[:0] = [batch[:middle], batch[middle:]]
                    continue
                if attempts[id(batch)] <= mapping["max_retries"]:
                    pending.insert(0, batch)
                    continue
                self._failed(mapping, batch, f"{type(error).__name__}: {error}")
                continue
            failures = (result or {}).get("batchItemFailures") if mapping["report_failures"] else None
            if failures:
                failed_ids = {str(f.get("itemIdentifier")) for f in failures}
                first = next(i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in failed_ids)
                retry = batch[first:]
                attempts[id(retry)] = attempts.get(id(batch), 0) + 1
                if attempts[id(retry)] <= mapping["max_retries"]:
                    pending.insert(0, retry)
                else:
                    self._failed(mapping, retry, "batchItemFailures")
                continue
            self.delivered += len(batch)

    def _failed(self, mapping: dict[str, Any], batch: list[dict[str, Any]], reason: str) -> None:
        entry = {"function": mapping["function"], "reason": reason, "records": batch}
        self.failed_batches.append(entry)
        self.log(f"STREAM {mapping['function']} gave up on {len(batch)} record(s): {reason}")
        if self.state_dir is not None:
            destination = self.state_dir / "stream-failures.jsonl"
            with destination.open("a") as handle:
                handle.write(json.dumps(entry, default=str) + "\n")

    @staticmethod
    def _lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
        data = dict(record["dynamodb"])
        created = data.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            data["ApproximateCreationDateTime"] = int(created.timestamp())
        out = {
            "eventID": record.get("eventID"),
            "eventName": record.get("eventName"),
            "eventVersion": record.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": REGION,
            "dynamodb": data,
            "eventSourceARN": stream_arn,
        }
        if record.get("userIdentity"):
            out["userIdentity"] = record["userIdentity"]
        if out["eventName"] not in ("INSERT", "MODIFY", "REMOVE"):
            # DynamoDB Local's TTL deletion: AWS's shape is a REMOVE by the DynamoDB service.
            out["eventName"] = "REMOVE"
            out["userIdentity"] = dict(TTL_IDENTITY)
        return out

    def _load_positions(self) -> dict[str, str]:
        if self.state_dir is None:
            return {}
        path = self.state_dir / "stream-positions.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _save_positions(self) -> None:
        if self.state_dir is not None:
            (self.state_dir / "stream-positions.json").write_text(json.dumps(self._positions))


# --- a local EventBridge --------------------------------------------------------------------------


class LocalEventBus:
    """EventBridge's PutEvents, kept in memory and appended to a file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def put_events(self, request: dict[str, Any]) -> dict[str, Any]:
        results = []
        with self._lock:
            for entry in request.get("Entries", []):
                event_id = str(uuid.uuid4())
                event = {
                    "id": event_id,
                    "source": entry.get("Source"),
                    "detail-type": entry.get("DetailType"),
                    "bus": entry.get("EventBusName", "default"),
                    "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "detail": json.loads(entry.get("Detail") or "{}"),
                }
                self.events.append(event)
                if self.path is not None:
                    with self.path.open("a") as handle:
                        handle.write(json.dumps(event) + "\n")
                results.append({"EventId": event_id})
        return {"FailedEntryCount": 0, "Entries": results}
