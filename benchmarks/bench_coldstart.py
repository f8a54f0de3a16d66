"""Cold start of every function: a fresh interpreter imports the handler module (Lambda's
INIT phase) and then serves its first request: an API function handles a real API Gateway
event end to end, its DynamoDB calls answered at once with an empty table's answer (so
whatever it builds lazily — validators, the service, the DynamoDB client — is counted, and
the network is not); the other functions build their service and DynamoDB client. Each
figure is the median of RUNS fresh processes, as a ratio to the floor (`import boto3` plus a DynamoDB client) and to an
idiomatic Powertools handler (benchmarks/powertools_baseline.py: Logger, Metrics, Tracer,
a validated resolver, a table resource at module scope; it serves its first request too),
all in the same environment. Every target runs from a copy of its code byte-compiled as `make
build` compiles the deployment (local_runtime.bytecode): Lambda loads the bytecode shipped,
so compiling the project's own modules from source is not a cold start's cost.

Targets are measured in one run and compared as ratios: a busy machine moves every figure.
"""

from __future__ import annotations

# isort: off
from bench_setup import ROOT, write_results

# isort: on

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from local_runtime.bytecode import compile_tree
from local_runtime.template import read_stack

RUNS = int(os.environ.get("BENCH_COLDSTART_RUNS", "21"))

# What each function builds on its first request (the runtime factory it calls).
FIRST_USE = {
    "create_session": "session_service",
    "get_session": "session_service",
    "list_sessions": "session_service",
    "update_session": "session_service",
    "put_session": "session_service",
    "terminate_session": "session_service",
    "append_messages": "message_service",
    "get_history": "message_service",
    "rewind_messages": "conversation_service",
    "get_context": "conversation_service",
    "fork_session": "conversation_service",
    "record_feedback": "conversation_service",
    "update_message": "conversation_service",
    "erase_user": "conversation_service",
    "create_upload": "object_service",
    "get_attachment": "object_service",
    "expire_sessions": "expiry_job",
    "on_session_change": "session_changes",
}

PROBE = """
import time, json
start = time.perf_counter()
{import_line}
init = time.perf_counter()
{first_use}
ready = time.perf_counter()
print(json.dumps({{"init_ms": (init - start) * 1000, "ready_ms": (ready - start) * 1000}}))
"""

# An API function's first request, end to end through its handler: routing, validation, the
# service, the DynamoDB client's creation and its first call (answered at once, the answer an
# empty table gives: the network is not the function's), the response's model and envelope.
# Whatever a function builds lazily (validators, the client) is in this figure.
FIRST_REQUEST = """
from botocore.awsrequest import AWSResponse
from agent_sessions.store.client import dynamodb

EMPTY = {{
    "Query": b'{{"Items":[],"Count":0,"ScannedCount":0}}',
    "Scan": b'{{"Items":[],"Count":0,"ScannedCount":0}}',
    "BatchGetItem": b'{{"Responses":{{}},"UnprocessedKeys":{{}}}}',
    "BatchWriteItem": b'{{"UnprocessedItems":{{}}}}',
}}


class Body:
    def __init__(self, data):
        self.data = data

    def stream(self, **_):
        yield self.data


# A conditional update of an item that does not exist (terminate's) fails its condition.
CONDITION_FAILED = b'{{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"failed"}}'


# A table made by this version holds its layout marker (store/layout.py): a batch get that asks
# for it (a list page's first check of a family's shard count) finds it.
MARKER = {{"PK": {{"S": "LAYOUT"}}, "SK": {{"S": "LAYOUT"}}, "version": {{"N": "3"}}, "state": {{"S": "done"}}}}


def batch_get_answer(body):
    import json

    found = {{
        table: [MARKER]
        for table, request in json.loads(body)["RequestItems"].items()
        if {{"PK": {{"S": "LAYOUT"}}, "SK": {{"S": "LAYOUT"}}}} in request["Keys"]
    }}
    return json.dumps({{"Responses": found, "UnprocessedKeys": {{}}}}).encode()


def answer(request, **_):
    operation = request.headers["X-Amz-Target"].decode().split(".")[-1]
    status, data = (400, CONDITION_FAILED) if operation == "UpdateItem" else (200, EMPTY.get(operation, b"{{}}"))
    if operation == "BatchGetItem":
        data = batch_get_answer(request.body)
    return AWSResponse(request.url, status, {{"Content-Type": "application/x-amz-json-1.0"}}, Body(data))


dynamodb().meta.events.register_first("before-send.dynamodb", answer)


class Context:
    function_name = "bench"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"


response = {module}.lambda_handler({event!r}, Context())
assert response["statusCode"] < 500, response
"""

# The baseline's first request, answered the same way: its append's UpdateItem returns the
# new count at once.
BASELINE_FIRST_REQUEST = """
from botocore.awsrequest import AWSResponse
import powertools_baseline


class Body:
    def __init__(self, data):
        self.data = data

    def stream(self, **_):
        yield self.data


def answer(request, **_):
    data = b'{"Attributes":{"message_count":{"N":"1"}}}'
    return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, Body(data))


powertools_baseline.table.meta.client.meta.events.register_first("before-send.dynamodb", answer)


class Context:
    function_name = "baseline"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:baseline"
    aws_request_id = "baseline"


event = {
    "httpMethod": "POST",
    "path": "/v1/agents/sessions/s1/messages",
    "resource": "/v1/agents/sessions/{session_id}/messages",
    "pathParameters": {"session_id": "s1"},
    "headers": {"Content-Type": "application/json"},
    "body": '{"role": "user", "content": "hi"}',
    "isBase64Encoded": False,
    "requestContext": {"requestId": "baseline"},
}
response = powertools_baseline.lambda_handler(event, Context())
assert response["statusCode"] == 200, response
"""

SESSION_ID = "ses_AAAAAAAAAAAAAAAAAAAAAA"
BODIES = {
    "create_session": {"user_id": "u1"},
    "update_session": {"session_name": "n"},
    "put_session": {"user_id": "u1"},
    "append_messages": {"content": "hi"},
    "list_sessions": {},
    "fork_session": {},
    "record_feedback": {"message_id": "msg_AAAAAAAAAAAAAAAA.0", "rating": "positive"},
    "update_message": {"content": "c"},
    "create_upload": {"name": "a.pdf", "mime_type": "application/pdf", "size": 1024, "sha256": "a" * 64},
    "create_import_upload": {"size": 1024, "sha256": "a" * 64},
}
QUERIES = {"rewind_messages": {"last": "1"}, "erase_user": {"user_id": "u1"}, "export_user": {"user_id": "u1"}}


def api_event(function: str, method: str, path: str) -> dict[str, Any]:
    values = (("session_id", SESSION_ID), ("seq", "0"), ("attachment_id", "att_" + "A" * 22))
    concrete = path
    for name, value in values:
        concrete = concrete.replace("{" + name + "}", value)
    parameters = {name: value for name, value in values if "{" + name + "}" in path}
    body = BODIES.get(function)
    return {
        "httpMethod": method,
        "path": concrete,
        "resource": path,
        "pathParameters": parameters or None,
        "queryStringParameters": QUERIES.get(function),
        "multiValueQueryStringParameters": {k: [v] for k, v in QUERIES[function].items()}
        if function in QUERIES
        else None,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
        "requestContext": {
            "requestId": "bench",
            "authorizer": {
                "namespace_id": "ns_AAAAAAAAAAAAAAAA",
                "internal_id": "int_AAAAAAAAAAAAAAAA",
                "scopes": "sessions:read sessions:write",
                "key_id": "key_bench",
            },
        },
    }


def probe(code: str, pythonpath: list[str], env: dict[str, str]) -> dict[str, float]:
    environment = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(pythonpath)}
    output = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def deployed_copy(source: Path, build: Path) -> str:
    """source copied under build, without any bytecode it had (compiled later, all at once)."""
    target = build / source.relative_to(ROOT)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return str(target)


def targets(build: Path) -> dict[str, tuple[str, list[str], dict[str, str]]]:
    stack = read_stack(
        table_names={"SessionsTable": "bench-sessions", "IdentitiesTable": "bench-identities"},
        secrets={"CursorSigningSecret": "bench-cursor-signing-key-0123456789"},
    )
    layer = deployed_copy(ROOT / "layers" / "shared", build)
    found: dict[str, tuple[str, list[str], dict[str, str]]] = {}
    for spec in stack.functions.values():
        name = spec.code_uri.name
        code_dir = deployed_copy(spec.code_uri, build)
        factory = FIRST_USE.get(name)
        first_use = (
            f"from agent_sessions.runtime import {factory}; {factory}()\n"
            "from agent_sessions.store.client import dynamodb; dynamodb()"
            if factory
            else ("from agent_sessions.store.client import dynamodb; dynamodb()" if name == "authorizer" else "")
        )
        module = spec.handler.rsplit(".", 1)[0]
        routes = spec.events_of("Api")
        if routes and name != "api_docs":
            route = routes[0]
            event = api_event(name, route["Method"].upper(), route["Path"])
            first_use = FIRST_REQUEST.format(module=module, event=event)
        code = PROBE.format(import_line=f"import {module}", first_use=first_use)
        found[name] = (code, [code_dir, layer], spec.environment)
    found["(floor) boto3 + client"] = (
        PROBE.format(import_line="import boto3; boto3.client('dynamodb')", first_use=""),
        [],
        {},
    )
    baseline = build / "baseline"
    baseline.mkdir()
    shutil.copy(ROOT / "benchmarks" / "powertools_baseline.py", baseline)
    found["(baseline) Powertools"] = (
        PROBE.format(import_line="import powertools_baseline", first_use=BASELINE_FIRST_REQUEST),
        [str(baseline)],
        {"POWERTOOLS_SERVICE_NAME": "baseline"},
    )
    compile_tree(build)
    return found


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as build:
        measure(targets(Path(build)))


def measure(plan: dict[str, tuple[str, list[str], dict[str, str]]]) -> None:
    runs: dict[str, list[dict[str, float]]] = {}
    # Round-robin, so a slow spell of the machine touches every target alike.
    for _ in range(RUNS):
        for name, (code, path, env) in plan.items():
            runs.setdefault(name, []).append(probe(code, path, env))
    medians = {
        name: {key: statistics.median(sample[key] for sample in samples) for key in ("init_ms", "ready_ms")}
        for name, samples in runs.items()
    }
    floor = medians["(floor) boto3 + client"]["ready_ms"]
    baseline = medians["(baseline) Powertools"]
    print(f"\nCold start (median of {RUNS} fresh processes, ms; /base: to the baseline's init, its ready)")
    print(f"{'function':24} {'init':>7} {'/floor':>7} {'/base':>7} {'ready':>7} {'/floor':>7} {'/base':>7}")
    table = {}
    for name, figures in sorted(medians.items(), key=lambda item: -item[1]["ready_ms"]):
        init, ready = figures["init_ms"], figures["ready_ms"]
        table[name] = {
            "init_ms": round(init, 1),
            "init_vs_floor": round(init / floor, 2),
            "init_vs_baseline": round(init / baseline["init_ms"], 2),
            "ready_ms": round(ready, 1),
            "ready_vs_floor": round(ready / floor, 2),
            "ready_vs_baseline": round(ready / baseline["ready_ms"], 2),
            # the stricter reading: a function's whole first request against the baseline's
            # import alone
            "ready_vs_baseline_init": round(ready / baseline["init_ms"], 2),
        }
        print(
            f"{name:24} {init:7.1f} {init / floor:7.2f} {init / baseline['init_ms']:7.2f} "
            f"{ready:7.1f} {ready / floor:7.2f} {ready / baseline['ready_ms']:7.2f}"
        )
    functions = {name: row for name, row in table.items() if not name.startswith("(")}
    slowest = max(functions, key=lambda name: functions[name]["ready_ms"])
    print(
        f"\nslowest first request: {slowest}, ready {functions[slowest]['ready_vs_baseline']:.2f}x the Powertools "
        f"baseline's (goal <= 0.6; {functions[slowest]['ready_vs_baseline_init']:.2f}x its import alone); "
        f"heaviest INIT {max(row['init_vs_baseline'] for row in functions.values()):.2f}x"
    )
    write_results("cold_start", {"runs": RUNS, "functions": table, "slowest_first_request": slowest})


if __name__ == "__main__":
    main()
