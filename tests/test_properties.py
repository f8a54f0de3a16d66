"""Property tests: the merge patch, the cursor, the stored-item round trip and times as text."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_sessions import clock
from agent_sessions.errors import BadRequestError
from agent_sessions.models.common import Quotas
from agent_sessions.models.items import SessionItem
from agent_sessions.models.limits import metadata_text
from agent_sessions.service.merge_patch import merge_patch
from agent_sessions.store.cursor import decode_cursor, encode_cursor

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=5), json_values, max_size=5)


def assert_patch_applied(result, patch):
    """Every member the patch names is removed (null), merged (object) or replaced (else)."""
    for key, value in patch.items():
        if value is None:
            assert key not in result
        elif isinstance(value, dict):
            assert isinstance(result[key], dict)
            assert_patch_applied(result[key], value)
        else:
            assert result[key] == value


@given(json_objects, json_objects)
def test_merge_patch_is_idempotent(target, patch):
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once


@given(json_objects, json_objects)
def test_merge_patch_follows_rfc_7396(target, patch):
    result = merge_patch(target, patch)
    assert_patch_applied(result, patch)
    for key, value in target.items():
        if key not in patch:
            assert result[key] == value


@given(json_objects, json_objects)
def test_merge_patch_does_not_modify_its_arguments(target, patch):
    import copy

    target_copy, patch_copy = copy.deepcopy(target), copy.deepcopy(patch)
    merge_patch(target, patch)
    assert target == target_copy and patch == patch_copy


@given(json_objects)
def test_empty_patch_is_identity_and_non_object_patch_replaces(target):
    assert merge_patch(target, {}) == target
    assert merge_patch(target, [1]) == [1]


positions = st.dictionaries(
    st.sampled_from(["PK", "SK", "GSI1PK", "GSI1SK", "o", "t"]), st.text(max_size=40) | st.integers(), min_size=1
)


@given(positions, st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_cursor_round_trips_only_for_its_namespace_and_filter(position, namespace, fingerprint):
    cursor = encode_cursor("k" * 32, namespace, fingerprint, position)
    assert decode_cursor("k" * 32, namespace, fingerprint, cursor) == position
    with pytest.raises(BadRequestError):
        decode_cursor("k" * 32, namespace + "x", fingerprint, cursor)
    with pytest.raises(BadRequestError):
        decode_cursor("k" * 32, namespace, fingerprint + "x", cursor)
    with pytest.raises(BadRequestError):
        decode_cursor("other-key" * 4, namespace, fingerprint, cursor)


@given(
    positions,
    st.integers(min_value=0),
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
)
def test_any_altered_character_is_refused(position, index, replacement):
    cursor = encode_cursor("k" * 32, "ns_a", "f", position)
    index %= len(cursor)
    if cursor[index] in (replacement, "."):
        return
    tampered = cursor[:index] + replacement + cursor[index + 1 :]
    try:
        decoded = decode_cursor("k" * 32, "ns_a", "f", tampered)
    except BadRequestError:
        return
    # base64 may map two texts to the same bytes (unused trailing bits): then nothing changed
    assert decoded == position


@given(st.text(max_size=200))
def test_garbage_cursors_are_refused(text):
    with pytest.raises(BadRequestError):
        decode_cursor("k" * 32, "ns_a", "f", text)


metadata = st.dictionaries(
    st.text(min_size=1, max_size=64),
    st.text(max_size=50) | st.integers() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False),
    max_size=32,
)


@settings(max_examples=75)
@given(
    user_id=st.none() | st.text(min_size=1, max_size=256),
    agent_config=json_objects,
    user_memory=st.none() | json_objects,
    metadata=metadata,
    status=st.sampled_from(["active", "idle", "archived", "terminated"]),
    created=st.integers(min_value=0, max_value=4_000_000_000_000),
    counts=st.tuples(st.integers(0, 10**6), st.integers(0, 10**9), st.integers(0, 10**6)),
    latency=st.floats(min_value=0, max_value=1e9, allow_nan=False),
    terminated=st.booleans(),
)
def test_stored_item_round_trips(
    user_id, agent_config, user_memory, metadata, status, created, counts, latency, terminated
):
    item = SessionItem(
        namespace_id="ns_x",
        session_id="ses_" + "a" * 22,
        internal_id="int_x",
        user_id=user_id,
        agent_config=agent_config,
        user_memory=user_memory,
        metadata=metadata,
        quotas=Quotas(max_messages=3),
        status=status,
        message_count=counts[0],
        total_tokens=counts[1],
        total_tool_calls=counts[2],
        latency_sum_ms=latency,
        latency_samples=1,
        created_ms=created,
        updated_ms=created,
        last_activity_ms=created,
        expires_ms=created + 1000,
        terminated_ms=created if terminated else None,
        # where a stored head's index entries are (its shards in its families: read from its keys)
        created_shard=3,
        activity_shard=17,
        user_shard=1 if user_id is not None else None,
        due_shard=9,
    )
    # the head and the body together are the session; the head alone is everything but the body
    assert SessionItem.from_item(item.to_item(604800, 1800), item.body_item()) == item
    head_only = SessionItem.from_item(item.to_item(604800, 1800))
    assert head_only == item.model_copy(update={"agent_config": {}, "user_memory": None, "metadata": {}})
    session = item.to_session(created, 1800)
    assert session.metadata == metadata
    assert session.stats.total_messages == counts[0]


@given(st.integers() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False))
def test_metadata_text_is_the_json_text_of_a_scalar(value):
    """A number or boolean matches the query-string text a client would write for it."""
    text = metadata_text(value)
    assert json.loads(text) == value
    assert metadata_text(text) == text  # and a string with that text matches it


@given(st.text(max_size=20))
def test_metadata_text_of_a_string_is_the_string(value):
    assert metadata_text(value) == value


instants = st.integers(min_value=clock.MIN_MS, max_value=clock.MAX_MS)
RFC_3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@given(instants, instants)
def test_times_as_text_round_trip_and_sort_as_the_times_they_name(first: int, second: int) -> None:
    """Sort keys hold times as text: every instant from year 1 to 9999 keeps a four-digit year,
    reads back to the same millisecond, and compares as text the way it does as a number."""
    a, b = clock.to_iso(first), clock.to_iso(second)
    assert RFC_3339_UTC.match(a) and RFC_3339_UTC.match(b)
    assert (clock.from_iso(a), clock.from_iso(b)) == (first, second)
    assert (a < b) == (first < second)
