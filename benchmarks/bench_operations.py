"""Per operation: the DynamoDB calls and the capacity they consume (counted with botocore's
event hooks, `ReturnConsumedCapacity=TOTAL` added to every call), and the round trips they
take (calls made side by side on the store's parallel pool — the shard queries of a list page,
the chunks of a large batch get — are one round trip), against DESIGN §4's minimum;
then the warm handler's own time per request with DynamoDB taken out
(each call answered from a recording of DynamoDB Local's real answer, in the same botocore
client, so serialisation and parsing stay in the figure and the network does not).

Runs the real handlers against Amazon's DynamoDB Local. Prints tables; writes
benchmarks/results.json ("operations").
"""

from __future__ import annotations

# isort: off
from bench_setup import call, write_results

# isort: on

import cProfile
import os
import pstats
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from agent_sessions import runtime
from agent_sessions.store.client import dynamodb
from support import create_tables, dynamodb_local

WARM_SAMPLES = int(os.environ.get("BENCH_WARM_SAMPLES", "500"))
CAPACITY_OPERATIONS = [
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "TransactGetItems",
]

# DESIGN §4: minimum DynamoDB round trips (None: the design states no minimum).
DESIGN_MINIMUM: dict[str, int | None] = {
    "create": 1,
    "create, Idempotency-Key": 1,
    "get": 1,
    "update (PATCH)": None,
    "terminate (DELETE)": None,
    "append, If-Match": 1,
    "append, no If-Match": 2,
    "append batch of 20, If-Match": 1,
    "history, newest 50": 1,
    "list namespace": 2,  # DESIGN §10: a list page may take 2 (index + batch get)
    "list namespace, no total": 2,
    "list by user_id": 2,
    "list by metadata": 2,
    # DESIGN §2b / the conversation operations' issue
    "rewind last=1, If-Match": 1,
    "context, fits one page": 1,
    "feedback": None,
    "correct a message (PATCH)": None,
    "fork 20 messages": None,
}


class CountingPool:
    """The store's parallel pool, counting each fan-out (one round trip however many calls)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.fan_outs = 0

    def map(self, *args: Any, **kwargs: Any) -> Any:
        self.fan_outs += 1
        return list(self.pool.map(*args, **kwargs))

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        # Calls started ahead (a first list page's due-shard reads) run beside the fan-out
        # that follows them: they add no round trip of their own.
        return self.pool.submit(*args, **kwargs)


class Meter:
    """Counts calls and sums consumed capacity of the service's client."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.sequential_calls = 0  # made by the request's own thread, one after another
        self.read_units = 0.0
        self.write_units = 0.0
        self.pool: CountingPool | None = None

    @property
    def round_trips(self) -> int:
        return self.sequential_calls + (self.pool.fan_outs if self.pool else 0)

    def add_capacity_request(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in CAPACITY_OPERATIONS:
            params["ReturnConsumedCapacity"] = "TOTAL"

    def after_call(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        import threading

        self.calls.append(model.name)
        if not threading.current_thread().name.startswith("dynamodb"):
            self.sequential_calls += 1
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            read = entry.get("ReadCapacityUnits")
            write = entry.get("WriteCapacityUnits")
            total = float(entry.get("CapacityUnits") or 0)
            if read is None and write is None:  # DynamoDB Local reports only the total
                if model.name in ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"):
                    read = total
                else:
                    write = total
            self.read_units += float(read or 0)
            self.write_units += float(write or 0)

    def reset(self) -> None:
        pool = self.pool
        self.__init__()  # type: ignore[misc]
        self.pool = pool
        if pool is not None:
            pool.fan_outs = 0


class Recorder:
    """`before-send`: in record mode, remember DynamoDB's answers in order; in replay mode,
    answer from the recording without touching the network."""

    def __init__(self) -> None:
        import threading

        self.recording: list[tuple[int, dict[str, str], bytes]] | None = None
        self.replaying: list[tuple[int, dict[str, str], bytes]] = []
        self.position = 0
        # Parallel calls (a list page's shard queries) answer in any order: a replayed call
        # gets the answer recorded for the same request body, else the next in order.
        self.by_request: dict[bytes, tuple[int, dict[str, str], bytes]] = {}
        self.current = threading.local()
        self.lock = threading.Lock()

    def before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        request_body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        self.current.body = request_body
        if not self.replaying:
            return None
        with self.lock:
            answer = self.by_request.get(request_body)
            if answer is None:
                answer = self.replaying[self.position % len(self.replaying)]
                self.position += 1
        status, headers, body = answer
        return AWSResponse(request.url, status, headers, _Raw(body))

    def after_receive(self, response_dict: dict[str, Any] | None, **_: Any) -> None:
        if self.recording is not None and response_dict is not None:
            body = response_dict["body"]
            answer = (
                response_dict["status_code"],
                dict(response_dict["headers"]),
                body if isinstance(body, bytes) else b"",
            )
            with self.lock:
                self.recording.append(answer)
                self.by_request[getattr(self.current, "body", b"")] = answer


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def main() -> None:
    with dynamodb_local() as endpoint:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
        os.environ["TABLE_NAME"] = f"bench-{uuid.uuid4().hex[:6]}"
        runtime.reset()
        create_tables(boto3.client("dynamodb", endpoint_url=endpoint), {"SessionsTable": os.environ["TABLE_NAME"]})
        meter, recorder = Meter(), Recorder()
        from agent_sessions.store import sessions as session_store

        meter.pool = CountingPool(session_store.parallel_pool())
        session_store._pool = meter.pool  # type: ignore[assignment]  # the store's own pool, counted
        events = dynamodb().meta.events
        events.register("before-parameter-build.dynamodb", meter.add_capacity_request)
        events.register("after-call.dynamodb", meter.after_call)
        events.register_first("before-send.dynamodb", recorder.before_send)
        events.register("response-received.dynamodb", recorder.after_receive)

        def create(body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
            return call(
                "create_session", "POST", "/v1/agents/sessions", body=body or {"user_id": "u1"}, headers=headers
            )

        base = create({"user_id": "bench-user", "agent_id": "a1", "metadata": {"team": "core"}})
        sid = base["session_id"]
        for n in range(30):
            create({"user_id": f"other-{n}", "metadata": {"team": "other"}})
        state: dict[str, Any] = {"count": 0}

        def append_if_match(batch: int = 1) -> dict[str, Any]:
            body: dict[str, Any] = (
                {"messages": [{"content": f"m{i} " + "x" * 200} for i in range(batch)]}
                if batch > 1
                else {"content": "hello " + "x" * 200}
            )
            result = call(
                "append_messages",
                "POST",
                "/v1/agents/sessions/{session_id}/messages",
                sid,
                body=body,
                headers={"If-Match": f'"{state["count"]}"'},
            )
            state["count"] = result["message_count"]
            return result

        def append_plain() -> dict[str, Any]:
            result = call(
                "append_messages", "POST", "/v1/agents/sessions/{session_id}/messages", sid, body={"content": "hi"}
            )
            state["count"] = result["message_count"]
            return result

        def rewind_one() -> dict[str, Any]:
            result = call(
                "rewind_messages",
                "DELETE",
                "/v1/agents/sessions/{session_id}/messages",
                sid,
                query={"last": "1"},
                headers={"If-Match": f'"{state["count"]}"'},
            )
            state["count"] = result["message_count"]
            return result

        patch_value = {"n": 0}

        def update() -> dict[str, Any]:
            patch_value["n"] += 1
            return call(
                "update_session",
                "PATCH",
                "/v1/agents/sessions/{session_id}",
                sid,
                body={"metadata": {"step": str(patch_value["n"])}},
            )

        def terminate() -> dict[str, Any]:
            victim = create()["session_id"]
            meter.reset()
            return call("terminate_session", "DELETE", "/v1/agents/sessions/{session_id}", victim)

        operations: dict[str, Callable[[], Any]] = {
            "create": lambda: create(),
            "create, Idempotency-Key": lambda: create(headers={"Idempotency-Key": uuid.uuid4().hex}),
            "get": lambda: call("get_session", "GET", "/v1/agents/sessions/{session_id}", sid),
            "update (PATCH)": update,
            "terminate (DELETE)": terminate,
            "append, If-Match": append_if_match,
            "append, no If-Match": append_plain,
            "append batch of 20, If-Match": lambda: append_if_match(20),
            "history, newest 50": lambda: call(
                "get_history",
                "GET",
                "/v1/agents/sessions/{session_id}/history",
                sid,
                query={"order": "desc", "limit": "50"},
            ),
            "list namespace": lambda: call("list_sessions", "GET", "/v1/agents/sessions", query={"limit": "20"}),
            "list namespace, no total": lambda: call(
                "list_sessions", "GET", "/v1/agents/sessions", query={"limit": "20", "include_total": "false"}
            ),
            "list by user_id": lambda: call(
                "list_sessions", "GET", "/v1/agents/sessions", query={"user_id": "bench-user", "limit": "20"}
            ),
            "list by metadata": lambda: call(
                "list_sessions", "GET", "/v1/agents/sessions", query={"metadata.team": "core", "limit": "20"}
            ),
            "rewind last=1, If-Match": rewind_one,
            "context, fits one page": lambda: call(
                "get_context",
                "GET",
                "/v1/agents/sessions/{session_id}/context",
                sid,
                query={"max_tokens": "2000", "max_messages": "50"},
            ),
            "feedback": lambda: call(
                "record_feedback",
                "POST",
                "/v1/agents/sessions/{session_id}/feedback",
                sid,
                body={"message_id": state["last_message_id"], "rating": "positive"},
            ),
            "correct a message (PATCH)": lambda: call(
                "update_message",
                "PATCH",
                "/v1/agents/sessions/{session_id}/messages/{seq}",
                sid,
                seq=0,
                body={"content": "[redacted]"},
            ),
            "fork 20 messages": lambda: call(
                "fork_session", "POST", "/v1/agents/sessions/{session_id}/fork", sid, body={"through_seq": 19}
            ),
        }
        state["last_message_id"] = append_if_match(20)["messages"][-1]["message_id"]  # a history to read

        print("\nDynamoDB per operation (DynamoDB Local; capacity as DynamoDB reports it)")
        print(f"{'operation':30} {'calls':>5} {'trips':>5} {'minimum':>7} {'RCU':>6} {'WCU':>6}  detail")
        figures: dict[str, dict[str, Any]] = {}
        for name, action in operations.items():
            meter.reset()
            action()
            minimum = DESIGN_MINIMUM[name]
            detail = {op: meter.calls.count(op) for op in dict.fromkeys(meter.calls)}
            figures[name] = {
                "calls": len(meter.calls),
                "round_trips": meter.round_trips,
                "design_minimum": minimum,
                "at_minimum": None if minimum is None else meter.round_trips <= minimum,
                "read_units": round(meter.read_units, 2),
                "write_units": round(meter.write_units, 2),
                "detail": detail,
            }
            print(
                f"{name:30} {len(meter.calls):>5} {meter.round_trips:>5} {minimum if minimum is not None else '-':>7} "
                f"{meter.read_units:>6.1f} {meter.write_units:>6.1f}  {detail}"
            )

        print(f"\nWarm handler time with DynamoDB answered from a recording (ms, {WARM_SAMPLES} requests)")
        print(f"{'operation':30} {'p50':>7} {'p99':>7}")
        replayable = [
            "get",
            "append, If-Match",
            "history, newest 50",
            "list namespace",
            "list namespace, no total",
            "list by user_id",
            "create",
        ]
        from agent_sessions import clock

        frozen_at = clock.now_ms()
        # Answers are matched to requests by their bodies: a request that names the time (a
        # first list page's due-index reads) must name the same time in the replays.
        clock.now_ms = lambda: frozen_at  # type: ignore[assignment]
        for name in replayable:
            recorder.recording, recorder.by_request = [], {}
            replay_count = state["count"]
            operations[name]()
            assert recorder.recording, name
            recorder.replaying, recorder.recording, recorder.position = recorder.recording, None, 0
            times = []
            profiler = cProfile.Profile() if os.environ.get("BENCH_PROFILE") == name else None
            for _ in range(WARM_SAMPLES):
                started = time.perf_counter()
                if profiler is not None:
                    profiler.enable()
                operations[name]() if name != "append, If-Match" else _replayed_append(sid, replay_count)
                if profiler is not None:
                    profiler.disable()
                times.append((time.perf_counter() - started) * 1000)
            if profiler is not None:  # BENCH_PROFILE="<operation>": where its warm time goes
                pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
            recorder.replaying = []
            times.sort()
            p50, p99 = statistics.median(times), times[int(len(times) * 0.99) - 1]
            figures[name].update({"warm_p50_ms": round(p50, 3), "warm_p99_ms": round(p99, 3)})
            print(f"{name:30} {p50:>7.3f} {p99:>7.3f}")
        write_results("operations", figures)


def _replayed_append(session_id: str, expected: int) -> None:
    """An If-Match append whose transaction is answered from the recording of the one that
    was accepted at `expected`."""
    call(
        "append_messages",
        "POST",
        "/v1/agents/sessions/{session_id}/messages",
        session_id,
        body={"content": "hello " + "x" * 200},
        headers={"If-Match": f'"{expected}"'},
    )


if __name__ == "__main__":
    main()
