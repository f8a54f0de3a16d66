"""Cost per operation and one hot session, from what the real service reads and writes.

Reads (on moto, in-process): each DynamoDB call of an operation is recorded with botocore's
event hooks, the items it returns sized with DynamoDB's rules and priced as DynamoDB bills
them (a strongly consistent read 1 RRU per 4 KB, eventually consistent half, a Query by the
total size it reads). Writes: the WRU billed per operation come from the partition model
(benchmarks/partitions.py, run first by `make bench`), which charges every table and index
write DynamoDB Local's stream recorded; the table-only figure this ledger computes from the
request parameters is printed beside it, to show what leaving index writes out would miss.
Then a small simulation of one hot session against the 1,000 WCU/s a partition accepts.

Prints tables; writes benchmarks/results.json ("capacity"). docs/capacity.md explains it.
"""

from __future__ import annotations

# isort: off
from bench_setup import call, write_results

# isort: on

import math
import os
import random
import uuid
from collections import defaultdict
from typing import Any

import boto3
from moto import mock_aws

from agent_sessions import runtime
from agent_sessions.store.client import dynamodb
from agent_sessions.store.sizing import item_size
from support import create_tables

# us-east-1 on-demand list prices (USD).
PRICE = {
    "api_gateway_rest_per_million": 3.50,
    "lambda_requests_per_million": 0.20,
    "lambda_arm64_gb_second": 0.0000133334,
    "dynamodb_write_request_unit_per_million": 0.625,
    "dynamodb_read_request_unit_per_million": 0.125,
}
MEMORY_GB = 1.0  # template.yaml Globals MemorySize 1024
BILLED_MS = 10  # a warm request's billed duration (bench_operations: 2-7 ms handler + DynamoDB round trips)
PARTITION_WCU = 1000
PARTITION_RCU = 3000


class Ledger:
    """Request units per call, from the items each call writes or reads."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.units: dict[str, float] = defaultdict(float)
        self.calls: list[str] = []

    def before_call(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        """`before-parameter-build`: the API parameters, before serialisation."""
        context["api_params"] = params
        self.calls.append(model.name)
        if model.name == "TransactWriteItems":
            for action in params["TransactItems"]:
                ((kind, body),) = action.items()
                if kind == "Put":
                    size = item_size(body["Item"])
                elif kind in ("Update", "Delete", "ConditionCheck"):
                    found = self.table.get_item(TableName=body["TableName"], Key=body["Key"]).get("Item")
                    size = max(item_size(found) if found else 0, 1)
                self.units["WRU"] += 2 * math.ceil(size / 1024)

    def after_call(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        params = context.get("api_params") or {}
        if model.name == "GetItem" and parsed.get("Item"):
            self.units["RRU"] += math.ceil(item_size(parsed["Item"]) / 4096) * (
                1 if params.get("ConsistentRead") else 0.5
            )
        elif model.name == "GetItem":
            self.units["RRU"] += 1 if params.get("ConsistentRead") else 0.5
        elif model.name == "Query":
            size = sum(item_size(item) for item in parsed.get("Items", []))
            self.units["RRU"] += max(1, math.ceil(size / 4096)) * (1 if params.get("ConsistentRead") else 0.5)
        elif model.name == "BatchGetItem":
            for items in parsed.get("Responses", {}).values():
                self.units["RRU"] += sum(math.ceil(item_size(item) / 4096) * 0.5 for item in items)
        elif model.name in ("UpdateItem", "PutItem", "DeleteItem"):
            key = params.get("Key") or {k: params["Item"][k] for k in ("PK", "SK")}
            found = self.table.get_item(TableName=params["TableName"], Key=key).get("Item")
            self.units["WRU"] += math.ceil(max(item_size(found) if found else 1, 1) / 1024)

    def take(self) -> dict[str, Any]:
        figures = {"calls": len(self.calls), "RRU": self.units["RRU"], "WRU": self.units["WRU"]}
        self.units = defaultdict(float)
        self.calls = []
        return figures


def measure() -> dict[str, dict[str, Any]]:
    with mock_aws():
        os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
        os.environ["TABLE_NAME"] = f"capacity-{uuid.uuid4().hex[:6]}"
        runtime.reset()
        raw = boto3.client("dynamodb")
        create_tables(raw, {"SessionsTable": os.environ["TABLE_NAME"]})
        ledger = Ledger(raw)
        events = dynamodb().meta.events
        events.register("before-parameter-build.dynamodb", ledger.before_call)
        events.register("after-call.dynamodb", ledger.after_call)

        body = {"user_id": "user-1", "agent_id": "agent-1", "metadata": {"team": "core", "channel": "web"}}
        sid = call("create_session", "POST", "/v1/agents/sessions", body=body)["session_id"]
        for n in range(25):
            call("create_session", "POST", "/v1/agents/sessions", body={"user_id": f"u{n}"})
        message = {"role": "user", "content": "x" * 500}
        count = call(
            "append_messages",
            "POST",
            "/v1/agents/sessions/{session_id}/messages",
            sid,
            body={"messages": [message] * 50},
        )["message_count"]
        ledger.take()
        ops = {
            "create (user, agent, 2 metadata pairs)": lambda: call(
                "create_session", "POST", "/v1/agents/sessions", body=body
            ),
            "get": lambda: call("get_session", "GET", "/v1/agents/sessions/{session_id}", sid),
            "update (PATCH metadata)": lambda: call(
                "update_session", "PATCH", "/v1/agents/sessions/{session_id}", sid, body={"summary": "s"}
            ),
            "append 1 message (500 chars), If-Match": lambda: call(
                "append_messages",
                "POST",
                "/v1/agents/sessions/{session_id}/messages",
                sid,
                body=message,
                headers={"If-Match": f'"{count}"'},
            ),
            "append 1 message, no If-Match": lambda: call(
                "append_messages", "POST", "/v1/agents/sessions/{session_id}/messages", sid, body=message
            ),
            "history, 50 newest": lambda: call(
                "get_history",
                "GET",
                "/v1/agents/sessions/{session_id}/history",
                sid,
                query={"order": "desc", "limit": "50"},
            ),
            "list namespace, 20": lambda: call("list_sessions", "GET", "/v1/agents/sessions", query={"limit": "20"}),
            "list by user_id": lambda: call("list_sessions", "GET", "/v1/agents/sessions", query={"user_id": "user-1"}),
            "terminate": lambda: call("terminate_session", "DELETE", "/v1/agents/sessions/{session_id}", sid),
        }
        figures = {}
        for name, action in ops.items():
            action()
            figures[name] = ledger.take()
        runtime.reset()
        return figures


def priced(units: dict[str, Any]) -> float:
    dynamo = (
        units["WRU"] * PRICE["dynamodb_write_request_unit_per_million"]
        + units["RRU"] * PRICE["dynamodb_read_request_unit_per_million"]
    )
    lam = (
        PRICE["lambda_requests_per_million"]
        + 1_000_000 * MEMORY_GB * BILLED_MS / 1000 * PRICE["lambda_arm64_gb_second"]
    )
    return round(PRICE["api_gateway_rest_per_million"] + lam + dynamo, 2)


def simulate_hot_session(append_wru: float, seconds: int = 60, seed: int = 1) -> dict[str, Any]:
    """Appends arriving at a Poisson rate on one session: the partition accepts PARTITION_WCU
    write units per second; past it DynamoDB throttles (the API's 429 with Retry-After)."""
    rng = random.Random(seed)
    capacity_rate = PARTITION_WCU / append_wru
    rows = []
    for offered in (50, 100, 200, 250, 300, 400):
        accepted = throttled = 0
        for _ in range(seconds):
            arrivals = sum(1 for _ in range(offered * 4) if rng.random() < 0.25)  # ~Poisson(offered)
            ok = min(arrivals, int(capacity_rate))
            accepted += ok
            throttled += arrivals - ok
        rows.append(
            {
                "offered_per_s": offered,
                "accepted_per_s": round(accepted / seconds, 1),
                "throttled_share": round(throttled / max(1, accepted + throttled), 3),
            }
        )
    return {"max_appends_per_s": round(capacity_rate, 1), "rows": rows}


# Which operation of the partition model bills the writes of each measured operation.
PARTITION_MODEL_OPERATION = {
    "create (user, agent, 2 metadata pairs)": "create",
    "update (PATCH metadata)": "patch",
    "append 1 message (500 chars), If-Match": "append",
    "append 1 message, no If-Match": "append",
    "terminate": "terminate",
}


def billed_writes() -> dict[str, Any]:
    """The small session's figures of the partition model (results.json "partitions")."""
    import json

    from bench_setup import ROOT

    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    if "partitions" not in results:
        raise SystemExit("run benchmarks/partitions.py first (make bench does)")
    return dict(results["partitions"]["results"]["small"])


def main() -> None:
    figures = measure()
    model = billed_writes()
    print("\nPer operation (reads from the items read; writes billed as the partition model charges them)")
    print(f"{'operation':42} {'calls':>5} {'RRU':>5} {'WRU':>5} {'table only':>10} {'$/million requests':>19}")
    for name, units in figures.items():
        units["table_only_WRU"] = units["WRU"]
        operation = PARTITION_MODEL_OPERATION.get(name)
        if operation is not None:
            units["WRU"] = model[operation]["wru_billed_per_operation"]
        units["usd_per_million_requests"] = priced(units)
        print(
            f"{name:42} {units['calls']:>5} {units['RRU']:>5.1f} {units['WRU']:>5.1f} {units['table_only_WRU']:>10.0f} "
            f"{units['usd_per_million_requests']:>19.2f}"
        )
    own_partition_wcu = model["append"]["own_session_partition_wcu_per_operation"]
    create_wru = model["create"]["wru_billed_per_operation"]
    hot = simulate_hot_session(own_partition_wcu)
    print(
        f"\nOne session's partition: {PARTITION_WCU} WCU/s / {own_partition_wcu:.0f} WCU per append on it = "
        f"{hot['max_appends_per_s']} appends/s at most"
    )
    for row in hot["rows"]:
        print(
            f"  offered {row['offered_per_s']:>4}/s  accepted {row['accepted_per_s']:>6}/s  "
            f"throttled {row['throttled_share']:.1%}"
        )
    ceilings = {  # the file appends are too few to charge a shard: their row gives WRU only
        operation: model[operation]["namespace_ceiling_per_second"]
        for operation in model
        if operation != "append_20mib_file"
    }
    print(f"\nOne namespace (partition model, hottest shared partition): {ceilings} operations/s")
    write_results(
        "capacity",
        {
            "operations": figures,
            "prices_usd": PRICE,
            "billed_ms": BILLED_MS,
            "hot_session": hot,
            "namespace_ceilings_per_s": ceilings,
            "create_wru": create_wru,
        },
    )


if __name__ == "__main__":
    main()
