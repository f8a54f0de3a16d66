"""A namespace out and in (DESIGN §13): 1,000 sessions of 20 messages each, exported one file
per session through the export handler and imported into another namespace through the import
handler, on Amazon's DynamoDB Local (and the local S3, which these files do not touch).

Per direction: wall time, DynamoDB requests by operation (a botocore hook) and the capacity
DynamoDB Local reports for them (`ReturnConsumedCapacity=TOTAL` added by a hook). Then the
copy is checked: as many sessions and messages as the source. Not counted: the stream
consumer's work after the import (it settles no objects here: the messages have no files) and
the listing the transfer command does first (one list page per 100 sessions).

Prints a table; writes benchmarks/results.json ("transfer").
"""

from __future__ import annotations

# isort: off
from bench_setup import call, write_results

# isort: on

import json
import logging
import os
import time
import uuid
from collections import Counter
from typing import Any

import boto3

from agent_sessions import runtime
from agent_sessions.store.client import dynamodb
from local_runtime.s3 import LocalS3
from support import LambdaContext, api_event, create_buckets, create_tables, dynamodb_local, load_function

SESSIONS = 1_000
MESSAGES = 20
OTHER = {
    "internal_id": "int_testorg",
    "namespace_id": "ns_copy",
    "key_id": "key_test",
    "scopes": "sessions:read sessions:write",
}


class Meter:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.rru = 0.0
        self.wru = 0.0

    def ask(self, params: dict[str, Any], **_: Any) -> None:
        params["ReturnConsumedCapacity"] = "TOTAL"

    def after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls[model.name] += 1
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            units = float(entry.get("CapacityUnits") or 0)
            if model.name in ("GetItem", "Query", "BatchGetItem", "Scan"):
                self.rru += units
            else:
                self.wru += units

    def take(self) -> dict[str, Any]:
        figures = {"requests": dict(self.calls), "rru": round(self.rru, 1), "wru": round(self.wru, 1)}
        self.__init__()  # type: ignore[misc]
        return figures


def raw(function: str, method: str, resource: str, tenant: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    event = api_event(method, resource, authorizer=tenant, **kwargs)
    response = load_function(function).lambda_handler(event, LambdaContext(function))
    assert response["statusCode"] < 300, response["body"][:300]
    return response


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    objects = LocalS3(None)
    meter = Meter()
    with dynamodb_local() as endpoint:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
        os.environ["AWS_ENDPOINT_URL_S3"] = objects.start()
        os.environ["TABLE_NAME"] = f"transfer-{uuid.uuid4().hex[:6]}"
        os.environ["ATTACHMENTS_BUCKET"] = "transfer-attachments"
        runtime.reset()
        create_tables(boto3.client("dynamodb", endpoint_url=endpoint), {"SessionsTable": os.environ["TABLE_NAME"]})
        create_buckets(objects.client(), {"AttachmentsBucket": os.environ["ATTACHMENTS_BUCKET"]})
        try:
            ids = []
            for index in range(SESSIONS):
                sid = call("create_session", "POST", "/v1/agents/sessions", body={"user_id": f"user-{index % 50}"})[
                    "session_id"
                ]
                messages = [
                    {
                        "role": "user" if n % 2 == 0 else "assistant",
                        "content": f"turn {n} " + "x" * 200,
                        "token_count": 60,
                    }
                    for n in range(MESSAGES)
                ]
                call(
                    "append_messages",
                    "POST",
                    "/v1/agents/sessions/{session_id}/messages",
                    sid,
                    body={"messages": messages},
                )
                ids.append(sid)
            events = dynamodb().meta.events
            events.register("before-parameter-build.dynamodb", meter.ask)
            events.register("after-call.dynamodb", meter.after)

            files = []
            began = time.perf_counter()
            for sid in ids:
                response = raw(
                    "export_session",
                    "GET",
                    "/v1/agents/sessions/{session_id}/export",
                    {
                        "internal_id": "int_testorg",
                        "namespace_id": "ns_test",
                        "key_id": "key_test",
                        "scopes": "sessions:read",
                    },
                    path_parameters={"session_id": sid},
                    query={"attachments": "inline"},
                )
                files.append(response["body"])
            exported = {"seconds": round(time.perf_counter() - began, 2), **meter.take()}

            began = time.perf_counter()
            for text in files:
                raw(
                    "import_session",
                    "POST",
                    "/v1/agents/sessions/import",
                    OTHER,
                    raw_body=text,
                    headers={"Content-Type": "application/x-ndjson"},
                )
            imported = {"seconds": round(time.perf_counter() - began, 2), **meter.take()}
            listed = raw(
                "list_sessions", "POST", "/v1/agents/sessions/list", OTHER, body={"limit": 1, "include_total": True}
            )
            copied = json.loads(listed["body"])["total"]
            assert copied == SESSIONS, copied
        finally:
            objects.stop()
    bytes_total = sum(len(text.encode()) for text in files)
    print(f"\nA namespace of {SESSIONS} sessions x {MESSAGES} messages ({bytes_total / 1e6:.1f} MB of NDJSON)")
    print(f"{'direction':10} {'seconds':>8} {'per session ms':>15} {'RRU':>9} {'WRU':>9}  requests")
    for name, row in (("export", exported), ("import", imported)):
        print(
            f"{name:10} {row['seconds']:>8} {row['seconds'] * 1000 / SESSIONS:>15.1f} {row['rru']:>9} {row['wru']:>9}  "
            f"{row['requests']}"
        )
    print(f"sessions in the copy: {copied}")
    write_results(
        "transfer",
        {
            "sessions": SESSIONS,
            "messages_per_session": MESSAGES,
            "bytes": bytes_total,
            "export": exported,
            "import": imported,
        },
    )


if __name__ == "__main__":
    main()
