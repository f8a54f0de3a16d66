"""History at scale: DynamoDB calls per append and per history page, and latency at 10,
1,000 and 10,000 messages in one session, as a ratio to the 10-message case.

Runs the real handlers against Amazon's DynamoDB Local. Prints a table; asserts nothing
about time (timings on a shared machine are noisy: compare the ratios of one run).
"""

from __future__ import annotations

# isort: off
from bench_setup import ROOT, call, write_results  # first: puts the layer and the runtime on the import path

# isort: on

import json
import os
import statistics
import subprocess
import time
import uuid
from collections import Counter

import boto3

from agent_sessions import runtime
from agent_sessions.store.client import dynamodb
from support import create_tables, dynamodb_local

SIZES = (10, 1_000, 10_000)
SAMPLES = 30


def create() -> str:
    return call("create_session", "POST", "/v1/agents/sessions", body={"user_id": "bench"})["session_id"]


def append(session_id: str, body: dict, headers: dict | None = None) -> dict:
    return call(
        "append_messages", "POST", "/v1/agents/sessions/{session_id}/messages", session_id, body=body, headers=headers
    )


def history(session_id: str, query: dict) -> dict:
    return call("get_history", "GET", "/v1/agents/sessions/{session_id}/history", session_id, query=query)


def fill(session_id: str, count: int) -> None:
    done = 0
    while done < count:
        batch = min(99, count - done)
        append(session_id, {"messages": [{"content": f"message {done + i} " + "x" * 200} for i in range(batch)]})
        done += batch


def median_ms(action) -> float:
    times = []
    for _ in range(SAMPLES):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    with dynamodb_local() as endpoint:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
        os.environ["TABLE_NAME"] = f"bench-{uuid.uuid4().hex[:6]}"
        runtime.reset()
        create_tables(boto3.client("dynamodb", endpoint_url=endpoint), {"SessionsTable": os.environ["TABLE_NAME"]})
        calls: Counter[str] = Counter()
        dynamodb().meta.events.register(
            "before-call.dynamodb", lambda event_name, **_: calls.update([event_name.split(".")[-1]])
        )

        sessions = {}
        for size in SIZES:
            sessions[size] = create()
            fill(sessions[size], size)

        def counted(action) -> dict[str, int]:
            calls.clear()
            action()
            return dict(calls)

        sid = sessions[10]
        count = history(sid, {"order": "desc", "limit": "1"})["total_messages"]
        rows_calls = [
            ("append, If-Match", counted(lambda: append(sid, {"content": "hi"}, {"If-Match": f'"{count}"'}))),
            ("append, no If-Match", counted(lambda: append(sid, {"content": "hi"}))),
            ("history, newest first", counted(lambda: history(sid, {"order": "desc", "limit": "50"}))),
            ("history, oldest first (whole)", counted(lambda: history(sid, {"limit": "50"}))),
            (
                "history, oldest first, offset",
                counted(lambda: history(sessions[1_000], {"limit": "50", "offset": "500"})),
            ),
        ]
        print("\nDynamoDB calls per operation")
        print(f"{'operation':34} {'calls':>5}  detail")
        for name, detail in rows_calls:
            print(f"{name:34} {sum(detail.values()):>5}  {detail}")

        print(f"\nLatency (median of {SAMPLES}, ms) by history length, and ratio to 10 messages")
        header = ("messages", "append", "ratio", "hist desc", "ratio", "hist offset", "ratio")
        print("{:>9} {:>9} {:>6} {:>10} {:>6} {:>12} {:>6}".format(*header))
        base = None
        results = {}
        for size in SIZES:  # warm-up: the first timed size must not pay for the code paths' first use
            for _ in range(SAMPLES):
                history(sessions[size], {"order": "desc", "limit": "50"})
                history(sessions[size], {"limit": "50", "offset": str(size // 2)})
        for size in SIZES:
            sid = sessions[size]
            state = {"n": history(sid, {"order": "desc", "limit": "1"})["total_messages"]}

            def one_append(sid=sid, state=state):
                append(sid, {"content": "bench"}, {"If-Match": f'"{state["n"]}"'})
                state["n"] += 1

            a = median_ms(one_append)
            h = median_ms(lambda sid=sid: history(sid, {"order": "desc", "limit": "50"}))
            o = median_ms(lambda sid=sid, size=size: history(sid, {"limit": "50", "offset": str(size // 2)}))
            base = base or (a, h, o)
            results[size] = {"append_ms": a, "history_desc_ms": h, "history_offset_ms": o}
            print(
                f"{size:>9} {a:>9.2f} {a / base[0]:>6.2f} {h:>10.2f} {h / base[1]:>6.2f} {o:>12.2f} {o / base[2]:>6.2f}"
            )
        peer = run_peer(endpoint)
        if peer:
            print("\nThe peer: LangChain DynamoDBChatMessageHistory, same DynamoDB Local (median ms)")
            print(f"{'messages':>9} {'append':>9} {'ratio':>6} {'history':>9} {'ratio':>6}  note")
            first = peer.get(str(SIZES[0])) or {}
            for size in SIZES:
                row = peer.get(str(size)) or {}
                if row.get("append_ms") is None:
                    print(
                        f"{size:>9} {'-':>9} {'':>6} {'-':>9} {'':>6}  fails after {row.get('failed_at_messages')} "
                        f"messages: {row.get('error', '')[:70]}"
                    )
                    continue
                print(
                    f"{size:>9} {row['append_ms']:>9.2f} {row['append_ms'] / first['append_ms']:>6.2f} "
                    f"{row['history_ms']:>9.2f} {row['history_ms'] / first['history_ms']:>6.2f}"
                )
        write_results("messages", {"calls": dict(rows_calls), "latency": results, "peer_langchain": peer})


def run_peer(endpoint: str) -> dict | None:
    """The peer runs in the benchmark's own environment (make bench installs it)."""
    python = ROOT / ".venv-bench" / "bin" / "python"
    if not python.exists():
        print("\n(.venv-bench missing: `make bench` installs the peer; skipped)")
        return None
    output = subprocess.run(
        [str(python), str(ROOT / "benchmarks" / "peer_langchain.py"), endpoint, *map(str, SIZES)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "AWS_ENDPOINT_URL_DYNAMODB": endpoint},
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
