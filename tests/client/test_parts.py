"""Binary parts taken out of a framework's record and put back (integrations/_parts.py): the
record must come back character for character, whatever it holds."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent_sessions_client.integrations import _parts

PNG = bytes(range(256)) * 8  # 2 KiB of every byte value


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def test_a_data_url_becomes_an_attachment_and_comes_back_exactly() -> None:
    item = {"role": "user", "content": [{"type": "input_image", "image_url": data_url(PNG), "detail": "auto"}]}
    taken = _parts.split(item)
    assert [(p.data, p.mime_type, p.sha256) for p in taken.parts] == [
        (PNG, "image/png", hashlib.sha256(PNG).hexdigest())
    ]
    assert taken.value["content"][0]["image_url"] == {"$attachment": 0, "prefix": "data:image/png;base64,"}
    assert _parts.join(json.loads(json.dumps(taken.value)), [PNG]) == item


def test_url_safe_base64_with_a_sibling_mime_type_and_name() -> None:
    text = base64.urlsafe_b64encode(PNG).decode()
    assert "-" in text or "_" in text
    record = {"inline_data": {"mime_type": "audio/wav", "display_name": "call.wav", "data": text}}
    taken = _parts.split(record)
    assert (taken.parts[0].mime_type, taken.parts[0].name) == ("audio/wav", "call.wav")
    assert taken.value["inline_data"]["data"] == {"$attachment": 0, "alphabet": "url"}
    assert _parts.join(taken.value, [PNG]) == record


def test_a_strands_format_names_the_type() -> None:
    encoded = {"__bytes_encoded__": True, "data": base64.b64encode(PNG).decode()}
    record = {"content": [{"document": {"format": "pdf", "name": "report", "source": {"bytes": encoded}}}]}
    part = _parts.split(record).parts[0]
    assert (part.mime_type, part.name) == ("application/pdf", "report")


def test_text_that_is_not_canonical_base64_stays_where_it_is() -> None:
    canonical = base64.b64encode(PNG).decode()
    kept = [
        "x" * 2000 + " words",  # not base64
        canonical[:-2] + "==" if not canonical.endswith("==") else canonical[:-3] + "A==",  # bits after the end
        base64.encodebytes(PNG).decode(),  # with line breaks
        canonical.rstrip("="),  # unpadded
        canonical[:500],  # short
        "data:text/plain," + "y" * 3000,  # a data URL that is not base64
    ]
    for text in kept:
        taken = _parts.split({"v": text})
        assert taken.parts == [] and taken.value == {"v": text}, text[:40]


def test_the_same_bytes_twice_are_one_attachment() -> None:
    record = {"a": data_url(PNG), "b": [base64.b64encode(PNG).decode()]}
    taken = _parts.split(record)
    assert len(taken.parts) == 1
    assert _parts.join(taken.value, [PNG]) == record


def test_a_record_with_placeholder_keys_of_its_own_is_never_mistaken() -> None:
    record = {
        "$attachment": 0,
        "nested": {"$escaped": {"$attachment": 1}, "prefix": "x"},
        "image": data_url(PNG),
    }
    taken = _parts.split(record)
    assert len(taken.parts) == 1
    assert _parts.join(json.loads(json.dumps(taken.value)), [PNG]) == record


def test_accept_leaves_a_part_in_the_text() -> None:
    other = bytes(reversed(PNG))
    record = {"a": data_url(PNG), "b": data_url(other)}
    taken = _parts.split(record, accept=lambda part: part.data == other)
    assert [p.data for p in taken.parts] == [other]
    assert taken.value["a"] == record["a"]
    assert _parts.join(taken.value, [other]) == record


def test_the_message_of_a_record_and_its_batches() -> None:
    plain = _parts.message({"text": "hi"}, "user")
    assert plain == {"role": "user", "content": '{"text": "hi"}'}
    with_image = _parts.message({"image": data_url(PNG)}, "user", metadata={"k": "v"})
    assert with_image["metadata"] == {"k": "v", "binary_parts": "attachments"}
    assert with_image["attachments"] == [{"name": "part-1", "mime_type": "image/png", "data": PNG}]
    big = {"role": "user", "content": "x", "attachments": [{"data": b"\0" * 3_500_000}]}
    small = {"role": "user", "content": "y"}
    assert [len(b) for b in _parts.batches([small] * 3 + [big, big, small])] == [3, 1, 1, 1]
    assert [len(b) for b in _parts.batches([small] * 200)] == [98, 98, 4]


def test_the_cache_keeps_the_most_recent_within_its_bound() -> None:
    cache = _parts.PartCache(max_bytes=10)
    cache.put("a", b"12345")
    cache.put("b", b"67890")
    assert cache.get("a") == b"12345"  # now the most recent
    cache.put("c", b"abc")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"12345", None, b"abc")
    cache.put("huge", b"x" * 11)
    assert cache.get("huge") is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["$attachment", "$escaped", "prefix", "alphabet", "data", "k"]), children, max_size=4
        )
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(record=json_values, blobs=st.lists(st.binary(min_size=800, max_size=1200), max_size=3), urlsafe=st.booleans())
def test_any_record_comes_back_exactly(record: Any, blobs: list[bytes], urlsafe: bool) -> None:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    whole = {"record": record, "files": [encode(blob).decode() for blob in blobs], "urls": [data_url(b) for b in blobs]}
    taken = _parts.split(whole)
    stored = json.loads(json.dumps(taken.value))
    assert _parts.join(stored, [part.data for part in taken.parts]) == whole
