"""A generated corpus of bad (and odd) input for every operation, sent over HTTP to the local
runtime: no request body or query string is answered with a 5xx, and every refusal is the
contract's envelope.

Each body starts from a valid request of its operation and mutates one to three of its
fields (at the top level and inside nested objects, messages and filters) with values from
the families hand-written corpora miss: deep nesting, huge and tiny numbers, very long keys,
many keys, unusual Unicode, wrong types, nulls; a share of the bodies is then re-serialized
with duplicate keys or out-of-range number literals that Python's json never writes. Query
strings are mutated the same way, parameter by parameter. Seeded, so a failure names a body
that can be sent again (`BODIES_PER_ROUTE` sets the size: `make test` sends 400 per route,
`make test-reliability` 3,000).
"""

from __future__ import annotations

import copy
import json
import os
import random
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from reliability.conftest import LiveApi, scale

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

BODIES_PER_ROUTE = int(os.environ.get("BODIES_PER_ROUTE", scale(400, 3000)))


def nested(levels: int, leaf: Any = 1, *, arrays: bool = False) -> Any:
    value = leaf
    for level in range(levels):
        value = [value] if arrays and level % 2 else {"a": value}
    return value


UNICODE = [
    "\u202eevil\u202c",  # right-to-left override
    "\u200b\u200c\u200d\ufeff",  # zero-width characters and a BOM
    "e\u0301\u0301\u0301\u0301",  # stacked combining marks
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # a ZWJ emoji sequence
    "\ufffe\uffff\U0010ffff",  # non-characters
    "\ue000\U000f0000",  # private use
    "\x00\x01\x1f\x7f",  # control characters
    "\u2028\u2029",  # line and paragraph separators
    "ｆｕｌｌｗｉｄｔｈ",
    "İıẞß",  # case-mapping oddities
    "\U0001d573\U0001d58a\U0001d590",  # mathematical alphanumerics
    "a" * 300,
    "",
    " ",
]
NUMBERS: list[Any] = [
    0,
    -1,
    -0.0,
    1.5,
    5e-324,
    -5e-324,
    1e308,
    -1e308,
    2**53 + 1,
    -(2**63),
    10**40,
    -(10**40),
    10**400,
    1e-300,
]
SHAPES: list[Any] = [
    None,
    True,
    False,
    [],
    {},
    [1, "a", None],
    {"a": 1},
    nested(31),
    nested(33),
    nested(40, arrays=True),
    nested(200),
    {"k" * 10_000: 1},
    {"": ""},
    {f"k{i}": i for i in range(3000)},
    list(range(5000)),
    "x" * 70_000,
]
# Times at the edges: the first and last instants RFC 3339 names (and past them once an offset
# applies), years before 1000, and a created range whose bounds cross (the bodies below carry
# both bounds).
TIMES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "0021-01-01T00:00:00.001Z",
    "0999-12-31T23:59:59Z",
    "9999-12-31T23:59:59.999Z",
    "9999-12-31T23:59:59-01:00",
    "1969-12-31T23:59:59.999Z",
    "2000-01-01T00:00:00.123456789Z",
]
VALUES: list[Any] = [*UNICODE, *NUMBERS, *SHAPES, *TIMES]


# (name, method, path template, a valid body, query parameters with valid values)
ROUTES: list[tuple[str, str, str, dict[str, Any] | None, dict[str, str]]] = [
    (
        "create",
        "POST",
        "/v1/agents/sessions",
        {
            "user_id": "u1",
            "agent_id": "a1",
            "session_name": "n",
            "situation": "s",
            "summary": "m",
            "agent_config": {"model": "m", "tools": [{"name": "t"}]},
            "user_memory": {"likes": ["tea"]},
            "metadata": {"team": "a", "n": 1},
            "quotas": {"max_messages": 10, "max_tokens_total": 1000},
            "ttl_seconds": 3600,
            "enable_memory": True,
        },
        {},
    ),
    (
        "update",
        "PATCH",
        "/v1/agents/sessions/{sid}",
        {
            "session_name": "n2",
            "situation": "s2",
            "agent_config": {"model": "m2"},
            "user_memory": {"likes": None},
            "metadata": {"team": "b"},
            "expires_at": "2099-01-01T00:00:00Z",
            "status": "active",
        },
        {},
    ),
    (
        "put replace",
        "PUT",
        "/v1/agents/sessions/{sid}",
        {
            "user_id": "u1",  # as the session has it: user, agent and quotas are fixed once it has messages
            "session_name": "n3",
            "situation": "s3",
            "agent_config": {"model": "m3"},
            "user_memory": {"likes": ["coffee"]},
            "metadata": {"team": "c", "n": 2},
            "ttl_seconds": 7200,
            "enable_memory": False,
        },
        {},
    ),
    (
        "put create",
        "PUT",
        "/v1/agents/sessions/put-{n}",
        {
            "user_id": "u2",
            "agent_id": "a1",
            "summary": "m",
            "metadata": {"team": "a"},
            "quotas": {"max_messages": 10},
            "expires_at": "2099-01-01T00:00:00Z",
        },
        {},
    ),
    (
        "append",
        "POST",
        "/v1/agents/sessions/{sid}/messages",
        {
            "role": "assistant",
            "content": "hi",
            "content_type": "tool_call",
            "tool_name": "t",
            "tool_inputs": "{}",
            "tool_outputs": "{}",
            "tool_status": "ok",
            "token_count": 3,
            "latency_ms": 1.5,
            "metadata": {"k": "v"},
        },
        {},
    ),
    (
        "append batch",
        "POST",
        "/v1/agents/sessions/{sid}/messages",
        {"messages": [{"role": "user", "content": "a", "metadata": {"k": 1}}, {"content": "b", "token_count": 1}]},
        {},
    ),
    (
        "list",
        "POST",
        "/v1/agents/sessions/list",
        {
            "status": "active",
            "filters": {
                "user_id": "u1",
                "agent_id": "a1",
                "metadata": {"team": "a"},
                "created_after": "2020-01-01T00:00:00Z",
                "created_before": "2100-01-01T00:00:00Z",
            },
            "sort": {"field": "created_at", "direction": "asc"},
            "limit": 5,
            "include_total": True,
            "offset": 0,
        },
        {"limit": "5"},
    ),
    (
        "list by query",
        "GET",
        "/v1/agents/sessions",
        None,
        {
            "user_id": "u1",
            "agent_id": "a1",
            "status": "active",
            "metadata_filter": '{"team":"a"}',
            "created_after": "2020-01-01T00:00:00Z",
            "created_before": "2100-01-01T00:00:00Z",
            "sort": "last_activity_at",
            "order": "asc",
            "limit": "5",
            "offset": "1",
            "metadata.team": "a",
        },
    ),
    ("history", "GET", "/v1/agents/sessions/{sid}/history", None, {"limit": "5", "offset": "0", "order": "desc"}),
    ("context", "GET", "/v1/agents/sessions/{sid}/context", None, {"max_tokens": "100", "max_messages": "5"}),
    ("get", "GET", "/v1/agents/sessions/{sid}", None, {}),
    (
        "feedback",
        "POST",
        "/v1/agents/sessions/{sid}/feedback",
        {"message_id": "{mid}", "rating": "positive", "feedback_text": "ok"},
        {},
    ),
    (
        "correct",
        "PATCH",
        "/v1/agents/sessions/{sid}/messages/0",
        {"content": "c", "metadata": {"k": None}, "token_count": 2},
        {},
    ),
    (
        "fork",
        "POST",
        "/v1/agents/sessions/{sid}/fork",
        {"through_seq": 0, "session_name": "f", "metadata": {"b": "1"}},
        {},
    ),
    (
        "append with a file",
        "POST",
        "/v1/agents/sessions/{sid}/messages",
        {"content": "see", "attachments": [{"name": "a.png", "mime_type": "image/png", "data": "iVBORw0KGgo="}]},
        {},
    ),
    (
        "upload",
        "POST",
        "/v1/agents/sessions/{sid}/attachments",
        {"name": "r.pdf", "mime_type": "application/pdf", "size": 1024, "sha256": "a" * 64},
        {},
    ),
    ("get attachment", "GET", "/v1/agents/sessions/{sid}/attachments/att_AAAAAAAAAAAAAAAAAAAAAA", None, {}),
    ("rewind", "DELETE", "/v1/agents/sessions/{sid}/messages", None, {"last": "1"}),
    ("terminate", "DELETE", "/v1/agents/sessions/{sid}", None, {}),
    ("erase", "DELETE", "/v1/agents/sessions", None, {"user_id": "nobody-{n}"}),
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a body a mutation can go: each key and each list item, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from _paths(item, (*prefix, index))


def _set(body: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        body = body[step]
    body[path[-1]] = value


def _text_variants(rng: random.Random, text: str) -> str:
    """Serializations Python's json never writes: duplicate keys, out-of-range literals."""
    roll = rng.random()
    if roll < 0.25 and text.startswith("{") and len(text) > 2:
        key = rng.choice(['"content"', '"user_id"', '"metadata"', '"limit"', '"status"', '"ttl_seconds"'])
        return "{" + f"{key}: 1, {key}: " + rng.choice(['"x"', "null", "{}", "[]", "1e999"]) + ", " + text[1:]
    if roll < 0.4:
        literal = rng.choice(["1e99999", "-1e99999", "1e-99999", "123456789" * 50, "NaN", "Infinity", "-0"])
        return text.replace(": 1,", f": {literal},", 1).replace(": 3,", f": {literal},", 1)
    return text


def bodies(rng: random.Random, valid: dict[str, Any], count: int) -> Iterator[bytes]:
    places = list(_paths(valid))
    for _ in range(count):
        body = json.loads(json.dumps(valid))
        for path in rng.sample(places, k=min(len(places), rng.randint(1, 3))):
            try:
                _set(body, path, copy.deepcopy(rng.choice(VALUES)))  # never one object in two places
            except (KeyError, IndexError, TypeError):
                continue  # an earlier mutation replaced the container this path went through
        if rng.random() < 0.1:
            body[rng.choice(["", "\u0000", "k" * 5000, "unknown"])] = copy.deepcopy(rng.choice(VALUES))
        yield _text_variants(rng, json.dumps(body, ensure_ascii=rng.random() < 0.5)).encode("utf-8", "surrogatepass")


QUERY_VALUES = [
    "",
    "-1",
    "0",
    "1.5",
    "1e999",
    "99999999999999999999999999",
    "NaN",
    "true",
    "null",
    "[]",
    "{}",
    '{"a":{"b":1}}',
    '{"k":' + "[" * 100 + "]" * 100 + "}",
    "%ZZ",
    "\u202e\u0000\u00ff",
    "x" * 5000,
    *TIMES,
]


def queries(rng: random.Random, valid: dict[str, str], count: int) -> Iterator[str]:
    names = [*valid] or ["unknown"]
    for _ in range(count):
        query = dict(valid)
        for name in rng.sample(names, k=min(len(names), rng.randint(0, 3))):
            query[name] = rng.choice(QUERY_VALUES)
        if rng.random() < 0.1:
            query[rng.choice(["unknown", "", "cursor", "page", "\u0000"])] = rng.choice(QUERY_VALUES)
        parts = [f"{quote(name, safe='')}={quote(value, safe='%')}" for name, value in query.items()]
        if parts and rng.random() < 0.1:
            parts.append(parts[0])  # a repeated parameter
        yield "&".join(parts)


@pytest.mark.parametrize(("name", "method", "path", "valid", "query"), ROUTES, ids=[route[0] for route in ROUTES])
def test_no_generated_input_is_a_server_error(
    live_api: LiveApi, name: str, method: str, path: str, valid: dict[str, Any] | None, query: dict[str, str]
) -> None:
    rng = random.Random(f"corpus:{name}")
    statuses: dict[int, int] = {}
    session_id = ""
    message_id = ""

    def fresh_session() -> None:
        nonlocal session_id, message_id
        session_id = live_api.create({"user_id": "u1"}).body["session_id"]
        appended = live_api.request("POST", f"/v1/agents/sessions/{session_id}/messages", {"content": "first"})
        message_id = appended.body["messages"][0]["message_id"]

    fresh_session()
    count = BODIES_PER_ROUTE
    requests: Iterator[tuple[str, bytes | None]]
    if valid is not None:
        requests = ((path, body) for body in bodies(rng, valid, count))
    else:
        requests = ((f"{path}?{text}", None) for text in queries(rng, query, count))
    for index, (target, raw) in enumerate(requests):
        if index % 200 == 0 and index:
            fresh_session()  # terminate, rewind and the rest change the session as they go
        url = target.replace("{sid}", session_id).replace("{n}", str(index))
        if raw is not None:
            raw = raw.replace(b"{mid}", message_id.encode())
        reply = live_api.request(method, url, raw=raw if raw is not None else (b"{}" if valid else None))
        statuses[reply.status] = statuses.get(reply.status, 0) + 1
        assert reply.status < 500, (name, url, (raw or b"")[:400], reply.raw[:400])
        assert reply.headers.get("content-type", "").startswith("application/json"), (name, reply.headers)
        if reply.status >= 400:
            assert isinstance(reply.body, dict) and reply.body.get("success") is False, reply.raw[:300]
            error = reply.body["error"]
            assert error["type"] and error["message"] and error["code"], error
            assert "{" not in error["message"].split(":")[0], error  # no unfilled placeholder
    # The corpus exercised both sides: some requests accepted, some refused.
    assert sum(statuses.values()) == count
    if valid or query:  # (get and terminate take no parameter: every query string is refused)
        assert any(status < 300 for status in statuses), statuses
    assert any(status >= 400 for status in statuses), statuses
