"""Latency as a user in AWS would see it: every DynamoDB request made to pay a network round
trip, and the operations timed through the local gateway (authorizer decision cached, routing,
proxy event, handler, response) with and without it.

DynamoDB Local answers in microseconds, so the other benchmarks' times are the code's own. Here
a delay proxy sits between the functions and DynamoDB Local, and another between the functions
and the local S3, each holding every request for `BENCH_RTT_MS` (default 3 ms: what a
same-region call to DynamoDB or S3 costs, give or take) before forwarding it, on its own
connection per client connection, so calls made side by side (a list page's shard queries)
overlap their delays as they would in AWS. Lists are timed in a namespace that never needed
more than one shard and in one grown to 16 (`set-shards`); contents over 16 KiB go to S3. The
table prints p50/p99 per operation at 0 ms and at the simulated round trip, and how many round
trips the difference amounts to. One run; asserts nothing about time.

What it leaves out: API Gateway's and Lambda's own latency in AWS (a few ms each way, the same
for every operation), TLS, and DynamoDB's own service time beyond the round trip.
"""

from __future__ import annotations

# isort: off
from bench_setup import write_results  # first: puts the layer and the runtime on the import path

# isort: on

import http.client
import json
import logging
import os
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import boto3

from agent_sessions import runtime
from agent_sessions.admin import run as admin
from local_runtime.apigateway import Gateway, HttpRequest
from local_runtime.lambdas import Functions
from local_runtime.s3 import LocalS3
from local_runtime.template import create_tables, read_stack
from support import create_buckets, dynamodb_local

TABLES = {"SessionsTable": "bench-sessions", "IdentitiesTable": "bench-identities"}
RTT_MS = float(os.environ.get("BENCH_RTT_MS", "3"))
SAMPLES = int(os.environ.get("BENCH_LATENCY_SAMPLES", "100"))


class DelayProxy(ThreadingHTTPServer):
    """HTTP in, the same request out to `target` after `delay_ms`; one upstream connection per
    client connection (botocore keeps its connections alive)."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, target: str) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.delay_ms = 0.0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: DelayProxy
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.upstream = http.client.HTTPConnection(*self.server.target, timeout=60)

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.server.delay_ms:
            time.sleep(self.server.delay_ms / 1000)  # the request's round trip
        # The Host the client signed stays (S3's presigned URLs name it); nothing checks it here.
        headers = dict(self.headers.items())
        self.upstream.request(self.command, self.path, body=body, headers=headers)
        answer = self.upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_POST = do_GET = do_PUT = do_DELETE = do_HEAD = _forward

    def log_message(self, format: str, *args: Any) -> None:  # the base class's signature
        """Quiet."""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the local S3's request lines
    objects = LocalS3(None)
    s3_endpoint = objects.start()
    with dynamodb_local() as endpoint:
        proxy = DelayProxy(endpoint)
        s3_proxy = DelayProxy(s3_endpoint)
        for server in (proxy, s3_proxy):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = proxy.endpoint
        os.environ["AWS_ENDPOINT_URL_S3"] = s3_proxy.endpoint
        os.environ["ATTACHMENTS_BUCKET"] = "latency-attachments"
        create_buckets(objects.client(), {"AttachmentsBucket": os.environ["ATTACHMENTS_BUCKET"]})
        create_tables(boto3.client("dynamodb", endpoint_url=endpoint), TABLES)
        runtime.reset()
        stack = read_stack(
            table_names=TABLES,
            parameters={"LogLevel": "ERROR"},
            bucket_names={"AttachmentsBucket": os.environ["ATTACHMENTS_BUCKET"]},
        )
        functions = Functions(stack)
        from agent_sessions.identity.store import IdentityStore
        from agent_sessions.settings import Settings

        identities = IdentityStore(Settings.from_environ(), boto3.client("dynamodb", endpoint_url=endpoint))
        organization = identities.create_organization("bench").internal_id
        identities.create_namespace(organization, "bench")
        grown = identities.create_namespace(organization, "grown").namespace_id
        key = identities.create_key(organization, namespaces=None, scopes=["sessions:read", "sessions:write"]).key
        gateway = Gateway(stack, functions.invoke)
        headers = [("Authorization", f"Bearer {key}"), ("X-Namespace", "bench"), ("Content-Type", "application/json")]
        # the namespace grown to 16 shards (what `set-shards --count 16` writes), before its sessions
        admin(["set-shards", "--sessions-table", TABLES["SessionsTable"], "--namespace", grown, "--count", "16"])

        def send(
            method: str,
            path: str,
            body: dict[str, Any] | None = None,
            extra: list[Any] | None = None,
            ns: str = "bench",
        ) -> Any:
            raw = json.dumps(body).encode() if body is not None else b""
            names = [("X-Namespace", ns)] + [pair for pair in headers if pair[0] != "X-Namespace"]
            response = gateway.handle(HttpRequest(method, path, names + (extra or []), raw))
            assert response.status in (200, 201), (path, response.status, response.body[:300])
            return response.json()

        sessions = [send("POST", "/v1/agents/sessions", {"user_id": f"u{i % 4}", "agent_id": "bot"}) for i in range(31)]
        for i in range(31):
            send("POST", "/v1/agents/sessions", {"user_id": f"u{i % 4}", "agent_id": "bot"}, ns="grown")
        sid = sessions[0]["session_id"]
        large = sessions[1]["session_id"]
        send("POST", f"/v1/agents/sessions/{large}/messages", {"content": "y" * 256 * 1024})
        state = {"count": 0}
        for _ in range(60):
            state["count"] = send("POST", f"/v1/agents/sessions/{sid}/messages", {"content": "x" * 200})[
                "message_count"
            ]

        def append_if_match() -> None:
            extra = [("If-Match", f'"{state["count"]}"')]
            state["count"] = send("POST", f"/v1/agents/sessions/{sid}/messages", {"content": "hi"}, extra)[
                "message_count"
            ]

        operations = {
            "create": lambda: send("POST", "/v1/agents/sessions", {"user_id": "u9"}),
            "get": lambda: send("GET", f"/v1/agents/sessions/{sid}"),
            "append, If-Match": append_if_match,
            "append, no If-Match": lambda: send("POST", f"/v1/agents/sessions/{sid}/messages", {"content": "hi"}),
            "history, newest 50": lambda: send("GET", f"/v1/agents/sessions/{sid}/history?order=desc&limit=50"),
            "append 256 KiB content (S3 PUT)": lambda: send(
                "POST", f"/v1/agents/sessions/{large}/messages", {"content": "z" * 256 * 1024}
            ),
            "history, last message 256 KiB (S3 GET)": lambda: send(
                "GET", f"/v1/agents/sessions/{large}/history?order=desc&limit=1"
            ),
            "list namespace at 1 shard, 20 of 31+ (due shards read)": lambda: send(
                "GET", "/v1/agents/sessions?limit=20"
            ),
            "list namespace at 1 shard, no total": lambda: send(
                "GET", "/v1/agents/sessions?limit=20&include_total=false"
            ),
            "list by user_id at 1 shard (one page, to the end)": lambda: send("GET", "/v1/agents/sessions?user_id=u1"),
            "list namespace at 16 shards, 20 of 31 (due shards read)": lambda: send(
                "GET", "/v1/agents/sessions?limit=20", ns="grown"
            ),
            "list namespace at 16 shards, no total": lambda: send(
                "GET", "/v1/agents/sessions?limit=20&include_total=false", ns="grown"
            ),
        }
        figures: dict[str, Any] = {"rtt_ms": RTT_MS, "samples": SAMPLES, "operations": {}}
        for name, run in operations.items():
            row: dict[str, float] = {}
            for delay in (0.0, RTT_MS):
                proxy.delay_ms = s3_proxy.delay_ms = delay
                for _ in range(10):
                    run()  # warm: connections open, decisions cached
                times = []
                for _ in range(SAMPLES):
                    started = time.perf_counter()
                    run()
                    times.append((time.perf_counter() - started) * 1000)
                label = "zero" if delay == 0 else "rtt"
                row[f"{label}_p50_ms"] = round(statistics.median(times), 2)
                row[f"{label}_p99_ms"] = round(percentile(times, 0.99), 2)
            row["added_round_trips"] = round((row["rtt_p50_ms"] - row["zero_p50_ms"]) / RTT_MS, 1) if RTT_MS else 0
            figures["operations"][name] = row
        proxy.shutdown()
        s3_proxy.shutdown()
        objects.stop()

        print(
            f"\nThrough the local gateway, DynamoDB Local and the local S3 behind a {RTT_MS:g} ms round trip "
            f"({SAMPLES} requests)"
        )
        print(f"{'operation':58} {'p50 0ms':>8} {'p99 0ms':>8} {'p50 rtt':>8} {'p99 rtt':>8} {'trips':>6}")
        for name, row in figures["operations"].items():
            print(
                f"{name:58} {row['zero_p50_ms']:>8} {row['zero_p99_ms']:>8} {row['rtt_p50_ms']:>8} "
                f"{row['rtt_p99_ms']:>8} {row['added_round_trips']:>6}"
            )
        write_results("latency_model", figures)


if __name__ == "__main__":
    main()
