"""Cold start of every function: a fresh interpreter imports the handler module (Lambda's
INIT phase) and then builds what its first request needs (the service and its DynamoDB
client, which this project creates lazily). Each figure is the median of RUNS fresh
processes, as a ratio to the floor (`import boto3` plus a DynamoDB client) and to an
idiomatic Powertools handler (benchmarks/powertools_baseline.py: Logger, Metrics, Tracer,
a validated resolver, a table resource at module scope), all in the same environment.

Targets are measured in one run and compared as ratios: a busy machine moves every figure.
"""

from __future__ import annotations

# isort: off
from bench_setup import ROOT, write_results

# isort: on

import json
import os
import statistics
import subprocess
import sys

from local_runtime.template import read_stack

RUNS = int(os.environ.get("BENCH_COLDSTART_RUNS", "21"))

# What each function builds on its first request (the runtime factory it calls).
FIRST_USE = {
    "create_session": "session_service",
    "get_session": "session_service",
    "list_sessions": "session_service",
    "update_session": "session_service",
    "terminate_session": "session_service",
    "append_messages": "message_service",
    "get_history": "message_service",
    "rewind_messages": "conversation_service",
    "get_context": "conversation_service",
    "fork_session": "conversation_service",
    "record_feedback": "conversation_service",
    "update_message": "conversation_service",
    "erase_user": "conversation_service",
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


def probe(code: str, pythonpath: list[str], env: dict[str, str]) -> dict[str, float]:
    environment = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(pythonpath)}
    output = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def targets() -> dict[str, tuple[str, list[str], dict[str, str]]]:
    stack = read_stack(
        table_names={"SessionsTable": "bench-sessions", "IdentitiesTable": "bench-identities"},
        secrets={"CursorSigningSecret": "bench-cursor-signing-key-0123456789"},
    )
    layer = str(ROOT / "layers" / "shared")
    found: dict[str, tuple[str, list[str], dict[str, str]]] = {}
    for spec in stack.functions.values():
        name = spec.code_uri.name
        factory = FIRST_USE.get(name)
        first_use = (
            f"from agent_sessions.runtime import {factory}; {factory}()\n"
            "from agent_sessions.store.client import dynamodb; dynamodb()"
            if factory
            else ("from agent_sessions.store.client import dynamodb; dynamodb()" if name == "authorizer" else "")
        )
        module = spec.handler.rsplit(".", 1)[0]
        code = PROBE.format(import_line=f"import {module}", first_use=first_use)
        found[name] = (code, [str(spec.code_uri), layer], spec.environment)
    found["(floor) boto3 + client"] = (
        PROBE.format(import_line="import boto3; boto3.client('dynamodb')", first_use=""),
        [],
        {},
    )
    found["(baseline) Powertools"] = (
        PROBE.format(import_line="import powertools_baseline", first_use=""),
        [str(ROOT / "benchmarks")],
        {"POWERTOOLS_SERVICE_NAME": "baseline"},
    )
    return found


def main() -> None:
    runs: dict[str, list[dict[str, float]]] = {}
    plan = targets()
    # Round-robin, so a slow spell of the machine touches every target alike.
    for _ in range(RUNS):
        for name, (code, path, env) in plan.items():
            runs.setdefault(name, []).append(probe(code, path, env))
    medians = {
        name: {key: statistics.median(sample[key] for sample in samples) for key in ("init_ms", "ready_ms")}
        for name, samples in runs.items()
    }
    floor = medians["(floor) boto3 + client"]["ready_ms"]
    baseline = medians["(baseline) Powertools"]["ready_ms"]
    print(f"\nCold start (median of {RUNS} fresh processes, ms)")
    print(f"{'function':24} {'init':>7} {'/floor':>7} {'/base':>7} {'ready':>7} {'/floor':>7} {'/base':>7}")
    table = {}
    for name, figures in sorted(medians.items(), key=lambda item: -item[1]["init_ms"]):
        init, ready = figures["init_ms"], figures["ready_ms"]
        table[name] = {
            "init_ms": round(init, 1),
            "init_vs_floor": round(init / floor, 2),
            "init_vs_baseline": round(init / baseline, 2),
            "ready_ms": round(ready, 1),
            "ready_vs_floor": round(ready / floor, 2),
            "ready_vs_baseline": round(ready / baseline, 2),
        }
        print(
            f"{name:24} {init:7.1f} {init / floor:7.2f} {init / baseline:7.2f} "
            f"{ready:7.1f} {ready / floor:7.2f} {ready / baseline:7.2f}"
        )
    functions = {name: row for name, row in table.items() if not name.startswith("(")}
    heaviest = max(functions, key=lambda name: functions[name]["init_ms"])
    print(
        f"\nheaviest INIT: {heaviest} {functions[heaviest]['init_vs_baseline']:.2f}x the Powertools baseline "
        f"(goal <= 0.6); ready for its first DynamoDB call: "
        f"{max(row['ready_vs_baseline'] for row in functions.values()):.2f}x"
    )
    write_results("cold_start", {"runs": RUNS, "functions": table, "heaviest_init": heaviest})


if __name__ == "__main__":
    main()
