"""Free-form objects nest at most 32 levels (DynamoDB's limit for nested attributes): deeper is
a 422 naming the field on create and on PATCH — never a 500, whatever the depth."""

from __future__ import annotations

from typing import Any

import pytest

from agent_sessions.models.limits import MAX_NESTING, nesting_depth
from conftest import scan_all
from support import body_of


def nested(levels: int) -> dict[str, Any]:
    """`levels` objects inside each other: {"a": {"a": … {}}}."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def test_depth_is_counted_in_levels_of_objects_and_arrays() -> None:
    assert [nesting_depth(v) for v in (1, "x", {}, [], {"a": {}}, {"a": [{"b": [1]}]})] == [0, 0, 1, 1, 2, 4]
    assert nesting_depth(nested(5000)) == MAX_NESTING + 1  # stops walking once past the limit


@pytest.mark.parametrize("field", ["agent_config", "user_memory"])
@pytest.mark.parametrize("levels", [MAX_NESTING + 1, 200, 255, 300, 900])
def test_too_deep_is_422_naming_the_field(api: Any, table: Any, field: str, levels: int) -> None:
    before = scan_all(table)
    for response in (
        api.create({field: nested(levels)}, headers={"Idempotency-Key": f"deep-{field}-{levels}"}),
        api.call("update", session_id=api.created({})["session_id"], body={field: nested(levels)}),
    ):
        assert response["statusCode"] == 422, response["body"]
        error = body_of(response)["error"]
        (entry,) = error["details"]["errors"]
        assert entry["loc"][:2] == ["body", field] and entry["type"] == "too_deep"
        assert "32 levels" in entry["msg"]
    after = scan_all(table)
    assert len(after) == len(before) + 3  # the PATCH's own session: head, body, namespace counter
    assert '{"a":' not in str(after)  # nothing of the refused objects was stored


@pytest.mark.parametrize("field", ["agent_config", "user_memory"])
def test_the_limit_itself_is_accepted_and_stored(api: Any, field: str) -> None:
    created = api.created({field: nested(MAX_NESTING)})
    assert nesting_depth(created[field]) == MAX_NESTING
    assert body_of(api.call("get", session_id=created["session_id"]))[field] == nested(MAX_NESTING)


def test_a_merge_that_grows_past_the_limit_is_refused(api: Any) -> None:
    session = api.created({"user_memory": {"a": nested(MAX_NESTING - 1)}})
    grow = {"a": nested(MAX_NESTING - 1)}
    inner: Any = grow["a"]
    while inner:
        inner = inner["a"]
    inner["deeper"] = {"x": 1}  # the patch is within the limit; merged, it is not
    response = api.call("update", session_id=session["session_id"], body={"user_memory": grow})
    assert response["statusCode"] == 422, response["body"]
    assert body_of(response)["error"]["details"]["errors"][0]["loc"][:2] == ["body", "user_memory"]
    assert body_of(api.call("get", session_id=session["session_id"]))["version"] == 1


def test_metadata_refusals_name_the_key_in_a_complete_sentence(api: Any) -> None:
    for metadata, expected in (
        ({"bad\x01key": "v"}, "metadata key 'bad\\x01key' holds a control character"),
        ({"k" * 65: "v"}, "metadata key '" + "k" * 65 + "' must be 1 to 64 characters"),
        ({"big": "v" * 513}, "metadata value of 'big' is over 512 characters"),
        ({"n": 2**53 + 1}, "metadata value of 'n' is outside -2^53 to 2^53"),
    ):
        response = api.create({"metadata": metadata})
        assert response["statusCode"] == 422, response["body"]
        messages = [entry["msg"] for entry in body_of(response)["error"]["details"]["errors"]]
        assert expected in messages, messages
        assert not any("{" in message for message in messages)  # every placeholder filled


def test_body_types_are_the_documents(api: Any, table: Any) -> None:
    """Request bodies are validated strictly against their JSON Schema types: `0` is not a
    boolean and `"5"` not an integer (lax coercion accepted both), while `5.0` is JSON Schema's
    integer 5."""
    before = scan_all(table)
    for body, field in (
        ({"enable_memory": 0}, "enable_memory"),
        ({"ttl_seconds": "5"}, "ttl_seconds"),
        ({"ttl_seconds": True}, "ttl_seconds"),
        ({"ttl_seconds": 5.5}, "ttl_seconds"),
        ({"quotas": {"max_messages": "3"}}, "max_messages"),
        ({"session_name": 7}, "session_name"),
    ):
        response = api.create(body)
        assert response["statusCode"] == 422, (body, response["body"])
        assert body_of(response)["error"]["details"]["errors"][0]["loc"][-1] == field
    assert scan_all(table) == before
    created = body_of(api.create({"ttl_seconds": 3600.0, "quotas": {"max_messages": 3.0}}))
    assert created["quotas"]["max_messages"] == 3 and isinstance(created["quotas"]["max_messages"], int)
