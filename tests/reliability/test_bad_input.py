"""A corpus of bad requests, sent over HTTP to the local runtime: each gets a 4xx in the
contract's error envelope, and the stored data is byte-for-byte what it was."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reliability.conftest import LiveApi

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

S = "{sid}"  # replaced by a real session id of the tenant
SESSION = f"/v1/agents/sessions/{S}"
MESSAGES = f"{SESSION}/messages"


def nested(depth: int) -> str:
    return '{"metadata": ' + '{"a": ' * depth + "1" + "}" * depth + "}"


# (name, method, path, raw body or None, extra headers, expected statuses)
CORPUS: list[tuple[str, str, str, bytes | None, dict[str, str], set[int]]] = [
    ("truncated JSON", "POST", "/v1/agents/sessions", b'{"user_id": ', {}, {400}),
    ("JSON with trailing garbage", "POST", "/v1/agents/sessions", b'{"user_id": "u"} x', {}, {400}),
    ("JSON array body", "POST", "/v1/agents/sessions", b'["user_id"]', {}, {400, 422}),
    ("JSON string body", "POST", MESSAGES, b'"hello"', {}, {400, 422}),
    (
        "form-encoded body",
        "POST",
        "/v1/agents/sessions",
        b"user_id=u1",
        {"Content-Type": "application/x-www-form-urlencoded"},
        {400},
    ),
    ("XML body", "POST", MESSAGES, b"<message>hi</message>", {"Content-Type": "application/xml"}, {400}),
    ("non-UTF-8 bytes", "POST", "/v1/agents/sessions", b'{"user_id": "\xff\xfe\xfa"}', {}, {400, 422}),
    ("UTF-16 body", "POST", "/v1/agents/sessions", '{"user_id": "u"}'.encode("utf-16"), {}, {400, 422}),
    ("lone surrogate escape", "POST", MESSAGES, b'{"content": "\\ud800"}', {}, {400, 422}),
    ("NUL in an id field", "POST", "/v1/agents/sessions", b'{"user_id": "a\\u0000b"}', {}, {422}),
    ("NUL in a metadata key", "PATCH", SESSION, b'{"metadata": {"a\\u0000": "b"}}', {}, {422}),
    ("deep nesting", "POST", "/v1/agents/sessions", nested(5000).encode(), {}, {400, 413, 422}),
    ("moderately deep nesting", "PATCH", SESSION, nested(64).encode(), {}, {400, 413, 422}),
    ("huge body", "POST", MESSAGES, json.dumps({"content": "x" * 11_000_000}).encode(), {}, {413}),
    ("huge content field", "POST", MESSAGES, json.dumps({"content": "x" * 4_300_000}).encode(), {}, {413, 422}),
    ("huge session name", "PATCH", SESSION, json.dumps({"session_name": "n" * 100_000}).encode(), {}, {413, 422}),
    (
        "many metadata keys",
        "POST",
        "/v1/agents/sessions",
        json.dumps({"metadata": {f"k{i}": "v" for i in range(5000)}}).encode(),
        {},
        {413, 422},
    ),
    ("batch over 99", "POST", MESSAGES, json.dumps({"messages": [{"content": "m"}] * 100}).encode(), {}, {413, 422}),
    ("negative ttl", "POST", "/v1/agents/sessions", b'{"ttl_seconds": -1}', {}, {422}),
    ("huge ttl", "POST", "/v1/agents/sessions", b'{"ttl_seconds": 100000000000000000000000000000}', {}, {422}),
    ("float ttl", "PATCH", SESSION, b'{"ttl_seconds": 1e400}', {}, {400, 422}),
    ("NaN token count", "POST", MESSAGES, b'{"content": "c", "token_count": NaN}', {}, {400, 422}),
    ("negative token count", "POST", MESSAGES, b'{"content": "c", "token_count": -5}', {}, {422}),
    ("huge latency", "POST", MESSAGES, b'{"content": "c", "latency_ms": 1e308}', {}, {422}),
    ("wrong type for content", "POST", MESSAGES, b'{"content": {"a": 1}}', {}, {422}),
    ("unknown role", "POST", MESSAGES, b'{"content": "c", "role": "root"}', {}, {422}),
    ("unknown field", "POST", "/v1/agents/sessions", b'{"user_id": "u", "admin": true}', {}, {422}),
    ("status terminated via PATCH", "PATCH", SESSION, b'{"status": "terminated"}', {}, {409, 422}),
    ("negative limit", "GET", "/v1/agents/sessions?limit=-5", None, {}, {400, 422}),
    ("huge limit", "GET", f"{SESSION}/history?limit=99999999999999999999999", None, {}, {400, 422}),
    ("non-numeric offset", "GET", f"{SESSION}/history?offset=abc", None, {}, {400, 422}),
    ("forged cursor", "GET", f"{SESSION}/history?cursor=eyJzIjogMH0", None, {}, {400}),
    ("path traversal id", "GET", "/v1/agents/sessions/..%2F..%2Fetc%2Fpasswd", None, {}, {404}),
    ("dot-dot id", "DELETE", "/v1/agents/sessions/..", None, {}, {404}),
    ("another namespace's key shape", "GET", "/v1/agents/sessions/NS%23ns_x%23SES%23ses_y", None, {}, {404}),
    ("NUL in path id", "GET", "/v1/agents/sessions/ses_%00abc", None, {}, {404}),
    ("overlong id", "PATCH", "/v1/agents/sessions/ses_" + "a" * 5000, b'{"session_name": "n"}', {}, {404, 414}),
    ("stale If-Match", "PATCH", SESSION, b'{"session_name": "n"}', {"If-Match": '"999"'}, {412}),
    ("garbage If-Match", "POST", MESSAGES, b'{"content": "c"}', {"If-Match": "not-a-version"}, {412}),
    (
        "bad Idempotency-Key",
        "POST",
        "/v1/agents/sessions",
        b"{}",
        {"Idempotency-Key": "k\u00e9y".encode().decode("latin-1")},
        {400},
    ),
    ("unknown route", "POST", "/v1/agents/sessions/list/../../admin", b"{}", {}, {404}),
    ("wrong method", "POST", SESSION, b"{}", {}, {403, 404, 405}),  # PUT is a route now
]


@pytest.fixture
def seeded(live_api: LiveApi) -> tuple[LiveApi, str]:
    reply = live_api.create({"user_id": "u1", "metadata": {"k": "v"}})
    session_id = reply.body["session_id"]
    appended = live_api.request("POST", f"/v1/agents/sessions/{session_id}/messages", {"content": "kept"})
    assert appended.status == 200
    return live_api, session_id


def _canonical(items: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(item, sort_keys=True) for item in items)


@pytest.mark.parametrize(("name", "method", "path", "raw", "headers", "expected"), CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_input_gets_an_envelope_and_changes_nothing(
    seeded: tuple[LiveApi, str],
    name: str,
    method: str,
    path: str,
    raw: bytes | None,
    headers: dict[str, str],
    expected: set[int],
) -> None:
    api, session_id = seeded
    before = _canonical(api.scan())
    reply = api.request(method, path.replace(S, session_id), raw=raw, headers=headers)
    assert reply.status in expected, (name, reply.status, reply.raw[:300])
    assert reply.headers.get("content-type", "").startswith("application/json"), reply.headers
    assert isinstance(reply.body, dict), reply.raw[:300]
    assert reply.body["success"] is False and reply.body["status"] == reply.status
    error = reply.body["error"]
    assert error["type"] and error["message"] and error["code"], error
    assert _canonical(api.scan()) == before
