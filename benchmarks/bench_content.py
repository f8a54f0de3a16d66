"""Content of any size (DESIGN §11): one message of 1 KiB, 256 KiB and 4 MiB of text, and one
with a 20 MiB file, appended and read back, beside the LangChain DynamoDB history peer.

Runs the real handlers on Amazon's DynamoDB Local and the local runtime's S3 (moto's server).
Per case, the median of a few samples of:
- append: the handler (and, for the file, the upload ticket and the presigned PUT first);
- read: a history page holding that message (and, for the file, the presigned GET);
and what each recorded: DynamoDB's consumed capacity (`ReturnConsumedCapacity=TOTAL` added to
every call by a botocore hook; DynamoDB Local reports capacity units), the S3 requests the
functions made (a botocore hook on their S3 client) and the presigned transfers the caller made.
The cost per operation prices those at us-east-1 on-demand rates. Left out: the stream
consumer's settle of each new object (one DeleteObjectTagging, a PUT-class request, per object),
S3 storage and data transfer, and Lambda time. Latency on one machine with no network round
trip: compare the sizes with each other, not with AWS.

Prints a table; writes benchmarks/results.json ("content").
"""

from __future__ import annotations

# isort: off
from bench_setup import ROOT, call, write_results

# isort: on

import hashlib
import json
import logging
import os
import statistics
import subprocess
import time
import uuid
from collections import Counter
from typing import Any

import boto3
import requests

from agent_sessions import runtime
from agent_sessions.store.client import dynamodb
from agent_sessions.store.objects import s3
from local_runtime.s3 import LocalS3
from support import create_buckets, create_tables, dynamodb_local

KIB = 1024
MIB = 1024 * KIB
CASES = [("1 KiB text", KIB, "text", 15), ("256 KiB text", 256 * KIB, "text", 10)]
CASES += [("4 MiB text", 4 * MIB, "text", 5), ("20 MiB file", 20 * MIB, "file", 3)]
# us-east-1, on demand (docs/capacity.md)
PRICE = {"wru": 0.625e-6, "rru": 0.125e-6, "s3_put": 5e-6, "s3_get": 0.4e-6}
S3_PUT_CLASS = {"PutObject", "CopyObject", "PutObjectTagging", "DeleteObjectTagging", "ListObjectsV2"}
S3_GET_CLASS = {"GetObject", "HeadObject", "GetObjectTagging"}


class Meter:
    def __init__(self) -> None:
        self.rru = 0.0
        self.wru = 0.0
        self.s3: Counter[str] = Counter()

    def ask_capacity(self, params: dict[str, Any], **_: Any) -> None:
        params["ReturnConsumedCapacity"] = "TOTAL"

    def dynamodb_call(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            total = float(entry.get("CapacityUnits") or 0)
            if model.name in ("GetItem", "Query", "BatchGetItem", "TransactGetItems", "Scan"):
                self.rru += total
            else:
                self.wru += total

    def s3_call(self, model: Any, **_: Any) -> None:
        self.s3[model.name] += 1

    def take(self) -> dict[str, Any]:
        figures = {"wru": self.wru, "rru": self.rru, "s3": dict(self.s3)}
        self.__init__()  # type: ignore[misc]
        return figures


def cost(figures: dict[str, Any]) -> float:
    requests_by_class = Counter()
    for name, count in figures["s3"].items():
        requests_by_class["s3_put" if name in S3_PUT_CLASS or name == "presigned PUT" else "s3_get"] += count
    return (
        figures["wru"] * PRICE["wru"]
        + figures["rru"] * PRICE["rru"]
        + requests_by_class["s3_put"] * PRICE["s3_put"]
        + requests_by_class["s3_get"] * PRICE["s3_get"]
    )


def run_case(meter: Meter, size: int, kind: str, samples: int) -> dict[str, Any]:
    session_id = call("create_session", "POST", "/v1/agents/sessions", body={"user_id": "bench"})["session_id"]
    data = os.urandom(size) if kind == "file" else None
    digest = hashlib.sha256(data).hexdigest() if data is not None else None
    appends: list[tuple[float, dict[str, Any]]] = []
    reads: list[tuple[float, dict[str, Any]]] = []
    meter.take()
    for n in range(samples):
        began = time.perf_counter()
        if data is None:
            body: dict[str, Any] = {"content": f"{n:08d}" + "x" * (size - 8)}
        else:
            ticket = call(
                "create_upload",
                "POST",
                "/v1/agents/sessions/{session_id}/attachments",
                session_id,
                body={"name": "scan.pdf", "mime_type": "application/pdf", "size": size, "sha256": digest},
            )
            sent = requests.put(ticket["upload_url"], data=data, headers=ticket["upload_headers"], timeout=300)
            assert sent.status_code == 200, sent.text
            meter.s3["presigned PUT"] += 1
            body = {"content": "the scan", "attachments": [{"attachment_id": ticket["attachment_id"]}]}
        call("append_messages", "POST", "/v1/agents/sessions/{session_id}/messages", session_id, body=body)
        appends.append(((time.perf_counter() - began) * 1000, meter.take()))

        began = time.perf_counter()
        page = call(
            "get_history",
            "GET",
            "/v1/agents/sessions/{session_id}/history",
            session_id,
            query={"order": "desc", "limit": "1"},
        )
        message = page["messages"][0]
        if data is None:
            assert len(message["content"]) == size, (size, message.get("content_url"))
        else:
            got = requests.get(message["attachments"][0]["url"], timeout=300)
            assert got.content == data
            meter.s3["presigned GET"] += 1
        reads.append(((time.perf_counter() - began) * 1000, meter.take()))

    def summary(rows: list[tuple[float, dict[str, Any]]]) -> dict[str, Any]:
        last = rows[-1][1]  # every sample makes the same requests; the last is representative
        return {
            "ms": round(statistics.median(ms for ms, _ in rows), 2),
            "wru": last["wru"],
            "rru": last["rru"],
            "s3_requests": last["s3"],
            "usd_per_million": round(cost(last) * 1e6, 2),
        }

    return {"append": summary(appends), "read": summary(reads)}


def run_peer(endpoint: str) -> dict[str, Any] | None:
    python = ROOT / ".venv-bench" / "bin" / "python"
    if not python.exists():
        print("\n(.venv-bench missing: `make bench` installs the peer; skipped)")
        return None
    sizes = [size for _, size, _, _ in CASES]
    output = subprocess.run(
        [str(python), str(ROOT / "benchmarks" / "peer_langchain.py"), "--content", endpoint, *map(str, sizes)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "AWS_ENDPOINT_URL_DYNAMODB": endpoint},
    )
    return dict(json.loads(output.stdout.strip().splitlines()[-1]))


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the local S3's request lines
    objects = LocalS3(None)
    meter = Meter()
    results: dict[str, Any] = {}
    with dynamodb_local() as endpoint:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
        os.environ["AWS_ENDPOINT_URL_S3"] = objects.start()
        os.environ["TABLE_NAME"] = f"content-{uuid.uuid4().hex[:6]}"
        os.environ["ATTACHMENTS_BUCKET"] = "content-attachments"
        runtime.reset()
        create_tables(boto3.client("dynamodb", endpoint_url=endpoint), {"SessionsTable": os.environ["TABLE_NAME"]})
        create_buckets(objects.client(), {"AttachmentsBucket": os.environ["ATTACHMENTS_BUCKET"]})
        events = dynamodb().meta.events
        events.register("before-parameter-build.dynamodb", meter.ask_capacity)
        events.register("after-call.dynamodb", meter.dynamodb_call)
        s3().meta.events.register("before-call.s3", meter.s3_call)
        try:
            for name, size, kind, samples in CASES:
                results[name] = run_case(meter, size, kind, samples)
            peer = run_peer(endpoint)
        finally:
            objects.stop()

    print("\nContent of any size: one message appended, then read (median ms; units and requests per operation)")
    print(f"{'case':14} {'op':6} {'ms':>9} {'WRU':>6} {'RRU':>6} {'$/million':>10}  S3 requests")
    for name, figures in results.items():
        for op in ("append", "read"):
            row = figures[op]
            print(
                f"{name:14} {op:6} {row['ms']:>9.2f} {row['wru']:>6.1f} {row['rru']:>6.1f} "
                f"{row['usd_per_million']:>10.2f}  {row['s3_requests'] or '-'}"
            )
    if peer:
        print("\nThe peer: LangChain DynamoDBChatMessageHistory on the same DynamoDB Local (one message, new session)")
        print(f"{'case':14} {'append ms':>10} {'WRU':>6} {'read ms':>9} {'RRU':>6}  note")
        for name, size, _, _ in CASES:
            row = peer.get(str(size)) or {}
            if "error" in row:
                print(f"{name:14} {'-':>10} {'-':>6} {'-':>9} {'-':>6}  fails: {row['error'][:80]}")
                continue
            print(
                f"{name:14} {row['append_ms']:>10.2f} {row['append_wru']:>6.1f} {row['read_ms']:>9.2f} "
                f"{row['read_rru']:>6.1f}"
            )
    write_results("content", {"cases": results, "peer_langchain": peer, "prices_usd": PRICE})


if __name__ == "__main__":
    main()
