"""PUT on DynamoDB Local: concurrent PUTs of one new id create it once and replace it the rest
of the times, and the stream announces one `session.created`."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from conftest import Api, scan_all
from local_runtime.apigateway import Gateway
from local_runtime.events import LocalEventBus, StreamFeeder
from local_runtime.server import LocalServer
from local_runtime.template import read_stack
from support import body_of

pytestmark = pytest.mark.integration


def test_sixteen_concurrent_puts_of_a_new_id_create_it_once(
    local_table: Any, local_functions: Any, dynamodb_local_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent_sessions import runtime

    stack = read_stack(table_names={"SessionsTable": os.environ["TABLE_NAME"], "IdentitiesTable": "unused"})
    bus = LocalEventBus()
    server = LocalServer(("127.0.0.1", 0), Gateway(stack, local_functions.invoke), local_functions, event_bus=bus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", server.base_url)
    monkeypatch.setenv("EVENT_BUS_NAME", "agent-sessions-local")
    runtime.reset()
    feeder = StreamFeeder(stack, local_functions.invoke, endpoint=dynamodb_local_endpoint)
    try:
        api = Api()

        def put(n: int) -> dict[str, Any]:
            return api.call("put", session_id="thread:race", body={"user_id": f"u{n % 2}", "metadata": {"n": n}})

        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(put, range(16)))
        statuses = sorted(r["statusCode"] for r in responses)
        assert statuses == [200] * 15 + [201], [r["body"] for r in responses if r["statusCode"] not in (200, 201)]
        stored = body_of(api.call("get", session_id="thread:race"))
        assert stored["version"] == 16  # one creation, then fifteen replacements, none lost
        assert sorted(body_of(r)["version"] for r in responses) == list(range(1, 17))
        heads = [i for i in scan_all(local_table) if i["SK"]["S"] == "SESSION"]
        assert len(heads) == 1
        assert body_of(api.call("list", body={}))["total"] == 1
        last = stored["metadata"]["n"]
        assert body_of(api.call("list", body={"filters": {"metadata": {"n": last}}}))["total"] == 1
        assert body_of(api.call("list", body={"filters": {"user_id": stored["user_id"]}}))["total"] == 1
        other_user = "u1" if stored["user_id"] == "u0" else "u0"
        assert body_of(api.call("list", body={"filters": {"user_id": other_user}}))["total"] == 0

        feeder.drain()
        assert feeder.failed_batches == []
        created = [e for e in bus.events if e["detail-type"] == "session.created"]
        assert [e["detail"]["session_id"] for e in created] == ["thread:race"]
    finally:
        server.shutdown()
        server.server_close()
