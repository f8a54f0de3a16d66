"""LangGraph and LangChain on the store, beside the frameworks' own savers.

1. The checkpointer over threads of 50, 100, 150 and 200 super-steps of a chat graph (every
   step appends one 300-character AI message to `messages`, the state LangGraph agents keep):
   per `put`, the HTTP round trips and the DynamoDB write units; reading the latest checkpoint
   (`get_tuple`): round trips and read units; and the bytes each saver stores, beside
   LangGraph's `SqliteSaver` (a file) and `InMemorySaver`. Stored bytes should grow with the
   steps (linear), not with steps × state (quadratic). What each figure counts: our bytes are
   the stored messages' `content` (the records, base64 values included; DynamoDB's per-item
   overhead and the indexes are in the write units instead); SQLite's are the blobs in its
   two tables (not the file's pages); InMemorySaver's are its serialized values.
2. LangChain's chat history: writing and reading 10, 1,000 and 10,000 messages (round trips,
   time), beside LangChain's `DynamoDBChatMessageHistory` on DynamoDB Local (the messages
   benchmark's peer run, same sizes: it keeps the history in one item and stops at 400 KB).

Runs the real functions behind the local gateway on DynamoDB Local, over HTTP, in this process
(so botocore's hooks see every DynamoDB call). Prints tables; writes benchmarks/results.json
("langgraph"). Asserts nothing about time.
"""

from __future__ import annotations

# isort: off
from bench_setup import write_results  # first: puts the layer and the runtime on the import path

# isort: on

import itertools
import logging
import os
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

import boto3
import httpx
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from agent_sessions.store.client import dynamodb
from agent_sessions_client import AgentSessionsClient
from agent_sessions_client.integrations.langchain import AgentSessionsChatMessageHistory
from agent_sessions_client.integrations.langgraph import AgentSessionsSaver, session_id_for
from bench_operations import Meter
from local_runtime.apigateway import Gateway
from local_runtime.lambdas import Functions
from local_runtime.s3 import LocalS3
from local_runtime.server import LocalServer
from local_runtime.template import create_buckets, create_tables, read_stack
from support import dynamodb_local

TABLES = {"SessionsTable": "bench-sessions", "IdentitiesTable": "bench-identities"}
STEPS = (50, 100, 150, 200)
HISTORY_SIZES = (10, 1_000, 10_000)


class ChatState(TypedDict):
    messages: Annotated[list[Any], add_messages]
    steps: int


def chat_graph(checkpointer: Any, steps: int) -> Any:
    def reply(state: ChatState) -> dict[str, Any]:
        done = state.get("steps", 0) + 1
        return {"messages": [AIMessage(f"Step {done}: " + "x" * 300, id=f"step-{done}")], "steps": done}

    def again(state: ChatState) -> str:
        return "reply" if state["steps"] < steps else END

    builder = StateGraph(ChatState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    builder.add_conditional_edges("reply", again)
    return builder.compile(checkpointer=checkpointer)


class CountingTransport(httpx.BaseTransport):
    """The client's HTTP requests, counted (each is one round trip to the API)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return self.inner.handle_request(request)


def stored_content_bytes(client: AgentSessionsClient, thread: str) -> int:
    return sum(len(m.content.encode()) for m in client.iter_history(session_id_for(thread)))


def sqlite_bytes(path: str) -> int:
    with sqlite3.connect(path) as db:
        checkpoints = db.execute("SELECT coalesce(sum(length(checkpoint) + length(metadata)), 0) FROM checkpoints")
        writes = db.execute("SELECT coalesce(sum(length(value)), 0) FROM writes")
        return int(checkpoints.fetchone()[0]) + int(writes.fetchone()[0])


def memory_bytes(saver: InMemorySaver) -> int:
    total = 0
    for namespaces in saver.storage.values():
        for checkpoints in namespaces.values():
            for checkpoint, metadata, _parent in checkpoints.values():
                total += len(checkpoint[1]) + len(metadata[1])
    total += sum(len(blob[1]) for blob in saver.blobs.values())
    total += sum(len(write[3][1]) for writes in saver.writes.values() for write in writes.values())
    return total


def run_steps(checkpointer: Any, steps: int) -> str:
    thread = f"bench-{steps}-{uuid.uuid4().hex[:6]}"
    config = {"configurable": {"thread_id": thread}, "recursion_limit": steps + 10}
    chat_graph(checkpointer, steps).invoke({"messages": [HumanMessage("Go", id="go")]}, config)
    return thread


def checkpointer_figures(client: AgentSessionsClient, transport: CountingTransport, meter: Meter) -> dict[str, Any]:
    saver = AgentSessionsSaver(client)
    rows: dict[str, Any] = {}
    for steps in STEPS:
        transport.requests, _ = 0, meter.reset()
        started = time.perf_counter()
        thread = run_steps(saver, steps)
        elapsed = time.perf_counter() - started
        puts = steps + 2  # the input, the first loop step and one per step
        run_requests, run_wru = transport.requests, meter.write_units
        transport.requests, _ = 0, meter.reset()
        latest = AgentSessionsSaver(client).get_tuple({"configurable": {"thread_id": thread}})  # a cold reader
        assert latest is not None and len(latest.checkpoint["channel_values"]["messages"]) == steps + 1
        read_requests, read_rru = transport.requests, meter.read_units

        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "checkpoints.sqlite")
            with SqliteSaver.from_conn_string(path) as sqlite_saver:
                run_steps(sqlite_saver, steps)
            sqlite_stored = sqlite_bytes(path)
        memory = InMemorySaver()
        run_steps(memory, steps)
        rows[str(steps)] = {
            "puts": puts,
            "http_requests_per_step": round(run_requests / puts, 2),
            "wru_per_step": round(run_wru / puts, 2),
            "run_seconds": round(elapsed, 2),
            "get_tuple_http_requests": read_requests,
            "get_tuple_rru": round(read_rru, 1),
            "stored_bytes": stored_content_bytes(client, thread),
            "sqlite_stored_bytes": sqlite_stored,
            "in_memory_stored_bytes": memory_bytes(memory),
        }
    return rows


def history_figures(client: AgentSessionsClient, transport: CountingTransport) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for size in HISTORY_SIZES:
        history = AgentSessionsChatMessageHistory(f"history-{size}-{uuid.uuid4().hex[:6]}", client)
        messages = [
            (HumanMessage if n % 2 == 0 else AIMessage)(f"message {n} " + "x" * 200, id=f"m{n}") for n in range(size)
        ]
        transport.requests = 0
        started = time.perf_counter()
        history.add_messages(messages)
        write_seconds, write_requests = time.perf_counter() - started, transport.requests
        reads, read_requests = [], 0
        for _ in range(5):
            transport.requests = 0
            started = time.perf_counter()
            assert len(history.messages) == size
            reads.append((time.perf_counter() - started) * 1000)
            read_requests = transport.requests
        rows[str(size)] = {
            "add_messages_requests": write_requests,
            "add_messages_ms": round(write_seconds * 1000, 1),
            "read_requests": read_requests,
            "read_ms_median": round(statistics.median(reads), 1),
        }
    return rows


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the local S3's request lines
    objects = LocalS3(None)  # the saver's records over 16 KiB are kept in S3 (DESIGN §11)
    with dynamodb_local() as endpoint:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
        os.environ["AWS_ENDPOINT_URL_S3"] = objects.start()
        buckets = {"AttachmentsBucket": "langgraph-bench-attachments"}
        create_tables(boto3.client("dynamodb", endpoint_url=endpoint), TABLES)
        create_buckets(objects.client(), buckets)
        stack = read_stack(table_names=TABLES, parameters={"LogLevel": "ERROR"}, bucket_names=buckets)
        functions = Functions(stack)
        from agent_sessions.identity.store import IdentityStore
        from agent_sessions.settings import Settings

        identities = IdentityStore(Settings.from_environ())
        organization = identities.create_organization("bench").internal_id
        identities.create_namespace(organization, "bench")
        key = identities.create_key(organization, namespaces=None, scopes=["sessions:read", "sessions:write"]).key
        quiet = open(os.devnull, "w")  # noqa: SIM115  # the server's access log, open for the whole run
        server = LocalServer(("127.0.0.1", 0), Gateway(stack, functions.invoke), functions, access_log=quiet)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        transport = CountingTransport()
        client = AgentSessionsClient(server.base_url, key, "bench", transport=transport)
        meter = Meter()
        events = dynamodb().meta.events
        events.register("before-parameter-build.dynamodb", meter.add_capacity_request)
        events.register("after-call.dynamodb", meter.after_call)

        checkpoints = checkpointer_figures(client, transport, meter)
        print("\nLangGraph checkpointer: a chat thread of N super-steps (one AI message of 300 chars each)")
        header = ("steps", "req/put", "WRU/put", "get: req", "get: RRU", "ours bytes", "SQLite bytes", "InMemory bytes")
        print("{:>6} {:>8} {:>8} {:>9} {:>9} {:>11} {:>13} {:>15}".format(*header))
        for steps, row in checkpoints.items():
            print(
                f"{steps:>6} {row['http_requests_per_step']:>8} {row['wru_per_step']:>8} "
                f"{row['get_tuple_http_requests']:>9} {row['get_tuple_rru']:>9} {row['stored_bytes']:>11} "
                f"{row['sqlite_stored_bytes']:>13} {row['in_memory_stored_bytes']:>15}"
            )
        growth = _growth(checkpoints)
        print("bytes added per 50 steps:", growth)

        histories = history_figures(client, transport)
        print("\nLangChain chat history: write all, then read all (median of 5)")
        print(f"{'messages':>9} {'write req':>10} {'write ms':>9} {'read req':>9} {'read ms':>8}")
        for size, row in histories.items():
            print(
                f"{size:>9} {row['add_messages_requests']:>10} {row['add_messages_ms']:>9} "
                f"{row['read_requests']:>9} {row['read_ms_median']:>8}"
            )
        peer = _peer(endpoint)
        if peer:
            print("The peer, DynamoDBChatMessageHistory on the same DynamoDB Local:")
            for size, row in peer.items():
                print(f"{size:>9}  {row}")
        server.shutdown()
        write_results(
            "langgraph",
            {"checkpointer": checkpoints, "bytes_added_per_50_steps": growth, "chat_history": histories, "peer": peer},
        )


def _growth(rows: dict[str, Any]) -> dict[str, list[int]]:
    """Bytes each saver adds per 50 steps: flat for linear growth, rising for quadratic."""
    names = {"ours": "stored_bytes", "sqlite": "sqlite_stored_bytes", "in_memory": "in_memory_stored_bytes"}
    found: dict[str, list[int]] = {}
    for name, field in names.items():
        sizes = [rows[str(steps)][field] for steps in STEPS]
        found[name] = [sizes[0]] + [later - earlier for earlier, later in itertools.pairwise(sizes)]
    return found


def _peer(endpoint: str) -> dict[str, Any] | None:
    """The peer's figures from the messages benchmark's run (make bench runs it first; the same
    sizes), else a run of it now."""
    import json

    from bench_setup import ROOT

    results = ROOT / "benchmarks" / "results.json"
    if results.exists():
        found = json.loads(results.read_text()).get("messages", {}).get("peer_langchain")
        if found:
            return dict(found)
    from bench_messages import run_peer

    peer: Callable[[str], dict[str, Any] | None] = run_peer
    return peer(endpoint)


if __name__ == "__main__":
    main()
