"""The local runtime's cost: GET session through the gateway (routing, cached authorizer
decision, proxy event, response) against calling the handler directly, and requests per
second with p50/p99 over HTTP with concurrent clients. On DynamoDB Local; prints figures,
asserts nothing about time (compare ratios of one run)."""

from __future__ import annotations

# isort: off
from bench_setup import ROOT  # first: puts the layer and the runtime on the import path

# isort: on

import json
import os
import statistics
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import boto3

from local_runtime.apigateway import Gateway, HttpRequest
from local_runtime.lambdas import Functions
from local_runtime.server import LocalServer
from local_runtime.template import create_tables, read_stack
from support import LambdaContext, api_event, dynamodb_local

TABLES = {"SessionsTable": "bench-sessions", "IdentitiesTable": "bench-identities"}
SAMPLES = 400
CLIENTS = 8
HTTP_REQUESTS = 800


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    with dynamodb_local() as endpoint:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
        create_tables(boto3.client("dynamodb", endpoint_url=endpoint), TABLES)
        stack = read_stack(table_names=TABLES, parameters={"LogLevel": "ERROR"})
        functions = Functions(stack)
        from agent_sessions.identity.store import IdentityStore
        from agent_sessions.settings import Settings

        store = IdentityStore(Settings.from_environ())
        org = store.create_organization("bench").internal_id
        namespace = store.create_namespace(org, "bench").namespace_id
        key = store.create_key(org, namespaces=None, scopes=["sessions:read", "sessions:write"]).key
        gateway = Gateway(stack, functions.invoke)
        headers = [("Authorization", f"Bearer {key}"), ("X-Namespace", "bench"), ("Content-Type", "application/json")]
        created = gateway.handle(HttpRequest("POST", "/v1/agents/sessions", headers, b'{"user_id": "b"}')).json()
        path = f"/v1/agents/sessions/{created['session_id']}"
        tenant = {"internal_id": org, "namespace_id": namespace, "key_id": "k", "scopes": "sessions:read"}
        module = functions.module("GetSessionFunction")

        def direct() -> None:
            event = api_event(
                "GET",
                "/v1/agents/sessions/{session_id}",
                path_parameters={"session_id": created["session_id"]},
                authorizer=tenant,
            )
            assert module.lambda_handler(event, LambdaContext("GetSessionFunction"))["statusCode"] == 200

        def through_gateway() -> None:
            assert gateway.handle(HttpRequest("GET", path, headers)).status == 200

        timings: dict[str, list[float]] = {"handler": [], "gateway": []}
        for _ in range(20):
            direct()
            through_gateway()
        for _ in range(SAMPLES):  # interleaved, so both see the same machine
            for name, run in (("handler", direct), ("gateway", through_gateway)):
                started = time.perf_counter()
                run()
                timings[name].append((time.perf_counter() - started) * 1000)

        server = LocalServer(("127.0.0.1", 0), gateway, functions, access_log=open(os.devnull, "w"))  # noqa: SIM115
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = server.base_url + path
        plain_headers = dict(headers)

        def over_http(_: int) -> float:
            started = time.perf_counter()
            request = urllib.request.Request(url, headers=plain_headers)
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
            return (time.perf_counter() - started) * 1000

        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(over_http, range(50)))
            started = time.perf_counter()
            http_timings = list(pool.map(over_http, range(HTTP_REQUESTS)))
            elapsed = time.perf_counter() - started
        server.shutdown()

        handler_p50 = statistics.median(timings["handler"])
        gateway_p50 = statistics.median(timings["gateway"])
        results = {
            "handler_p50_ms": round(handler_p50, 3),
            "handler_p99_ms": round(percentile(timings["handler"], 0.99), 3),
            "gateway_p50_ms": round(gateway_p50, 3),
            "gateway_p99_ms": round(percentile(timings["gateway"], 0.99), 3),
            "gateway_overhead_ratio_p50": round(gateway_p50 / handler_p50, 3),
            "http_clients": CLIENTS,
            "http_requests_per_second": round(HTTP_REQUESTS / elapsed, 1),
            "http_p50_ms": round(statistics.median(http_timings), 3),
            "http_p99_ms": round(percentile(http_timings, 0.99), 3),
        }
        print("GET session, DynamoDB Local, one run")
        for name, value in results.items():
            print(f"  {name:30} {value}")
        out = ROOT / "benchmarks" / "results.json"
        existing = json.loads(out.read_text()) if out.exists() else {}
        existing["gateway"] = results
        out.write_text(json.dumps(existing, indent=2) + "\n")


if __name__ == "__main__":
    main()
