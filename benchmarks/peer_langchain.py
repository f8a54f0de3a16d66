"""The peer: LangChain's DynamoDBChatMessageHistory on the same DynamoDB Local, run in the
benchmark's own environment (.venv-bench). Prints one JSON document: per history length,
the median latency of one append (`add_message`) and of reading the history (`messages`),
or where it stopped working. Its design keeps a session's whole history in one item, so
every append rewrites the item and DynamoDB's 400 KB item limit ends the session.

Usage: peer_langchain.py <dynamodb endpoint> <sizes...>
       peer_langchain.py --content <dynamodb endpoint> <bytes...>

With `--content`: per size, a new session, one message of that many bytes added and the history
read back (median latency, consumed capacity as DynamoDB Local reports it), or the error.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid

import boto3
from langchain_community.chat_message_histories import DynamoDBChatMessageHistory
from langchain_core.messages import AIMessage, HumanMessage

SAMPLES = 15
CONTENT = "x" * 200  # the same message body as this project's benchmark


def content_sizes(endpoint: str, sizes: list[int]) -> None:
    client = boto3.client("dynamodb", endpoint_url=endpoint)
    table = f"langchain-content-{uuid.uuid4().hex[:6]}"
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "SessionId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "SessionId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    units = {"read": 0.0, "write": 0.0}

    def ask(params: dict, model: object, **_: object) -> None:
        params["ReturnConsumedCapacity"] = "TOTAL"

    def count(parsed: dict, model: object, **_: object) -> None:
        consumed = parsed.get("ConsumedCapacity") or {}
        kind = "read" if getattr(model, "name", "") in ("GetItem", "Query") else "write"
        units[kind] += float(consumed.get("CapacityUnits") or 0)

    results: dict[str, object] = {}
    for size in sizes:
        samples = 5 if size <= 1024 * 1024 else 2
        appends, reads, read_units, write_units = [], [], [], []
        failure = None
        for n in range(samples):
            history = DynamoDBChatMessageHistory(
                table_name=table, session_id=f"content-{size}-{n}", endpoint_url=endpoint
            )
            history.table.meta.client.meta.events.register("before-parameter-build.dynamodb", ask)
            history.table.meta.client.meta.events.register("after-call.dynamodb", count)
            units.update(read=0.0, write=0.0)
            begin = time.perf_counter()
            try:
                history.add_message(HumanMessage(content="x" * size))
            except Exception as error:  # the peer's own failure is the figure
                failure = f"{type(error).__name__}: {str(error)[:160]}"
                break
            appends.append((time.perf_counter() - begin) * 1000)
            write_units.append(units["write"])
            read_units.append(units["read"])
            units.update(read=0.0, write=0.0)
            begin = time.perf_counter()
            assert len(history.messages[0].content) == size
            reads.append((time.perf_counter() - begin) * 1000)
            read_units[-1] = (read_units[-1], units["read"])  # (during the append, during the read)
        if failure is not None:
            results[str(size)] = {"error": failure}
        else:
            results[str(size)] = {
                "append_ms": statistics.median(appends),
                "read_ms": statistics.median(reads),
                "append_wru": statistics.median(write_units),
                "append_rru": statistics.median(r[0] for r in read_units),
                "read_rru": statistics.median(r[1] for r in read_units),
            }
        print(f"peer: {size} bytes: {results[str(size)]}", file=sys.stderr)
    print(json.dumps(results))


def main() -> None:
    if sys.argv[1] == "--content":
        content_sizes(sys.argv[2], [int(size) for size in sys.argv[3:]])
        return
    endpoint, sizes = sys.argv[1], [int(size) for size in sys.argv[2:]]
    client = boto3.client("dynamodb", endpoint_url=endpoint)
    table = f"langchain-{uuid.uuid4().hex[:6]}"
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "SessionId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "SessionId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    results: dict[str, object] = {}
    # One session grows through the sizes, as a conversation does.
    history = DynamoDBChatMessageHistory(table_name=table, session_id="bench", endpoint_url=endpoint)
    stored = 0
    failure = None
    for size in sizes:
        started = time.perf_counter()
        while stored < size and failure is None:
            message = HumanMessage(content=f"{stored} {CONTENT}") if stored % 2 else AIMessage(content=CONTENT)
            try:
                history.add_message(message)
                stored += 1
            except Exception as error:  # the peer's own failure is the figure
                failure = f"{type(error).__name__}: {str(error)[:160]}"
        if failure is not None:
            results[str(size)] = {"failed_at_messages": stored, "error": failure}
            print(f"peer: {size} messages: failed after {stored}: {failure}", file=sys.stderr)
            continue
        fill_seconds = time.perf_counter() - started
        reads = []
        for _ in range(SAMPLES):
            begin = time.perf_counter()
            assert len(history.messages) >= size
            reads.append((time.perf_counter() - begin) * 1000)
        appends = []
        for n in range(SAMPLES):
            begin = time.perf_counter()
            try:
                history.add_message(HumanMessage(content=f"bench {n} {CONTENT}"))
            except Exception as error:
                failure = f"{type(error).__name__}: {str(error)[:160]}"
                break
            stored += 1
            appends.append((time.perf_counter() - begin) * 1000)
        results[str(size)] = {
            "append_ms": statistics.median(appends) if appends else None,
            "history_ms": statistics.median(reads),
            "fill_seconds": round(fill_seconds, 1),
        }
        print(f"peer: {size} messages: {results[str(size)]}", file=sys.stderr)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
