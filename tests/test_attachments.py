"""Attachments and large contents (DESIGN §11) on moto's S3 and DynamoDB: both ways in, reads,
bad input, every lifecycle path through the stream consumer, the crash points between S3 and
the table, and tenancy.

The stream records fed to the consumer are derived from the table itself: a snapshot before
and after an operation gives each changed item's old and new image, as DynamoDB's stream
(NEW_AND_OLD_IMAGES) would carry them, and only records the template's filters pass reach the
consumer."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

import pytest
import requests

from agent_sessions.store import keys
from agent_sessions.store.objects import PENDING_TAG_KEY, s3
from conftest import scan_all
from local_runtime.events import matches
from support import OTHER_TENANT, LambdaContext, body_of, header_of, load_function, load_template, stored_content

BUCKET = os.environ["ATTACHMENTS_BUCKET"]
MIB = 1024 * 1024


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def image(size: int, seed: int = 7) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def objects(prefix: str = "") -> dict[str, bytes]:
    found = {}
    for page in s3().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for entry in page.get("Contents", []):
            found[entry["Key"]] = s3().get_object(Bucket=BUCKET, Key=entry["Key"])["Body"].read()
    return found


def pending(key: str) -> bool:
    tags = s3().get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
    return any(tag["Key"] == PENDING_TAG_KEY for tag in tags)


def download(url: str) -> bytes:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return response.content


# --- the stream, derived from the table ----------------------------------------------------------

STREAM_FILTERS = [
    json.loads(f["Pattern"])
    for f in load_template()["Resources"]["OnSessionChangeFunction"]["Properties"]["Events"]["SessionChanges"][
        "Properties"
    ]["FilterCriteria"]["Filters"]
]


class Stream:
    def __init__(self, table: Any) -> None:
        self.table = table
        self.seen = self._snapshot()
        self.sequence = 0

    def _snapshot(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(item["PK"]["S"], item["SK"]["S"]): item for item in scan_all(self.table)}

    def records(self) -> list[dict[str, Any]]:
        """The changes since the last call, as stream records the template's filters pass."""
        now = self._snapshot()
        out = []
        for key in sorted(set(self.seen) | set(now)):
            old, new = self.seen.get(key), now.get(key)
            if old == new:
                continue
            self.sequence += 1
            data: dict[str, Any] = {
                "Keys": {"PK": {"S": key[0]}, "SK": {"S": key[1]}},
                "ApproximateCreationDateTime": 1,
            }
            if old is not None:
                data["OldImage"] = old
            if new is not None:
                data["NewImage"] = new
            name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
            record = {
                "eventID": f"evt-{self.sequence}",
                "eventName": name,
                "eventSource": "aws:dynamodb",
                "dynamodb": data,
            }
            if any(matches(pattern, record) for pattern in STREAM_FILTERS):
                out.append(record)
        self.seen = now
        return out

    def deliver(self) -> dict[str, Any]:
        """Delivers the changes until the consumer's own removals settle (a cascade's deletes
        are changes too); returns the last batch's response."""
        response: dict[str, Any] = {"batchItemFailures": []}
        for _ in range(5):
            batch = self.records()
            if not batch:
                break
            response = load_function("on_session_change").lambda_handler(
                {"Records": batch}, LambdaContext("on_session_change")
            )
        return response


@pytest.fixture
def stream(table: Any, monkeypatch: pytest.MonkeyPatch) -> Stream:
    from agent_sessions import runtime

    monkeypatch.setenv("EVENT_BUS_NAME", "")  # events are another test's subject
    runtime.reset()
    return Stream(table)


def history(api: Any, sid: str, **query: str) -> dict[str, Any]:
    response = api.call("history", session_id=sid, query=query or None)
    assert response["statusCode"] == 200, response["body"]
    assert len(json.dumps(response)) < 6_291_456  # within Lambda's response limit
    return body_of(response)


def append(api: Any, sid: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return api.call("append", session_id=sid, body=body, **kwargs)


def upload(api: Any, sid: str, data: bytes, *, name: str = "report.pdf", mime: str = "application/pdf") -> str:
    response = api.call(
        "upload", session_id=sid, body={"name": name, "mime_type": mime, "size": len(data), "sha256": sha(data)}
    )
    assert response["statusCode"] == 201, response["body"]
    ticket = body_of(response)
    assert ticket["attachment_id"].startswith("att_") and ticket["upload_method"] == "PUT"
    put = requests.put(ticket["upload_url"], data=data, headers=ticket["upload_headers"], timeout=60)
    assert put.status_code == 200, put.text
    return str(ticket["attachment_id"])


def message_items(table: Any, sid: str) -> list[dict[str, Any]]:
    return sorted(
        (i for i in scan_all(table) if i["PK"]["S"].endswith(f"#SES#{sid}") and i["SK"]["S"].startswith("MSG#")),
        key=lambda i: int(i["seq"]["N"]),
    )


# --- both ways in, and reads ---------------------------------------------------------------------


def test_an_inline_image_round_trips_byte_exact(api: Any, table: Any, stream: Stream) -> None:
    sid = api.created({})["session_id"]
    data = image(2 * MIB)
    response = append(
        api,
        sid,
        {
            "content": "what is this?",
            "attachments": [{"name": "photo.png", "mime_type": "image/png", "data": b64(data)}],
        },
    )
    assert response["statusCode"] == 200, response["body"]
    sent = body_of(response)["messages"][0]["attachments"][0]
    assert {k: sent[k] for k in ("name", "mime_type", "size", "sha256")} == {
        "name": "photo.png",
        "mime_type": "image/png",
        "size": len(data),
        "sha256": sha(data),
    }
    read = history(api, sid)["messages"][0]
    assert read["content"] == "what is this?"
    attachment = read["attachments"][0]
    assert attachment["attachment_id"] == sent["attachment_id"]
    assert download(attachment["url"]) == data
    assert attachment["url_expires_at"] > read["timestamp"]
    # the item keeps the description only; the object sits under the namespace and the session
    (item,) = message_items(table, sid)
    assert item["objects"]["S"] == sent["attachment_id"] and len(json.dumps(item)) < 2_000
    key = keys.object_key("ns_test", sid, sent["attachment_id"])
    assert objects(f"ns_test/{sid}/") == {key: data}
    # pending until the stream's consumer sees the committed message, then kept
    assert pending(key)
    assert stream.deliver() == {"batchItemFailures": []}
    assert not pending(key)
    got = body_of(api.call("attachment", session_id=sid, attachment_id=sent["attachment_id"]))
    assert {k: got[k] for k in ("name", "mime_type", "size", "sha256")} == {
        k: sent[k] for k in ("name", "mime_type", "size", "sha256")
    }
    assert download(got["url"]) == data


def test_an_uploaded_file_round_trips_and_its_upload_is_checked(api: Any, table: Any, stream: Stream) -> None:
    sid = api.created({})["session_id"]
    data = image(30 * MIB, seed=3)
    attachment_id = upload(api, sid, data)
    response = append(api, sid, {"content": "the report", "attachments": [{"attachment_id": attachment_id}]})
    assert response["statusCode"] == 200, response["body"]
    read = history(api, sid)["messages"][0]["attachments"][0]
    assert (read["attachment_id"], read["name"], read["mime_type"], read["size"], read["sha256"]) == (
        attachment_id,
        "report.pdf",
        "application/pdf",
        len(data),
        sha(data),
    )
    assert download(read["url"]) == data
    stream.deliver()
    assert not pending(keys.object_key("ns_test", sid, attachment_id))
    # named again by another message: refused, nothing stored
    again = append(api, sid, {"content": "again", "attachments": [{"attachment_id": attachment_id}]})
    assert again["statusCode"] == 409 and body_of(again)["error"]["code"] == "attachment_in_use"
    assert len(message_items(table, sid)) == 1


def test_a_retry_after_the_upload_was_settled_replays_the_first_append(api: Any, table: Any, stream: Stream) -> None:
    """A client whose first append's answer was lost retries with the same Idempotency-Key;
    meanwhile the stream's consumer has settled the upload. The retry is the same request: it
    replays, it does not find the upload "in use"."""
    sid = api.created({})["session_id"]
    data = image(40_000, seed=11)
    attachment_id = upload(api, sid, data)
    body = {"content": "the scan", "attachments": [{"attachment_id": attachment_id}]}
    first = append(api, sid, body, headers={"Idempotency-Key": "k-settled"})
    assert first["statusCode"] == 200, first["body"]
    stream.deliver()
    assert not pending(keys.object_key("ns_test", sid, attachment_id))
    again = append(api, sid, body, headers={"Idempotency-Key": "k-settled"})
    assert again["statusCode"] == 200, again["body"]
    assert header_of(again, "Idempotent-Replayed") == "true"
    assert body_of(again)["messages"][0]["message_id"] == body_of(first)["messages"][0]["message_id"]
    # the same bytes uploaded anew (another attachment_id) are the same request too
    fresh = upload(api, sid, data)
    third = append(
        api, sid, {**body, "attachments": [{"attachment_id": fresh}]}, headers={"Idempotency-Key": "k-settled"}
    )
    assert third["statusCode"] == 200 and header_of(third, "Idempotent-Replayed") == "true", third["body"]
    assert len(message_items(table, sid)) == 1
    assert pending(keys.object_key("ns_test", sid, fresh))  # unnamed: the lifecycle rule's
    # the key with another request, or no key at all: the upload is another message's
    other = append(
        api,
        sid,
        {"content": "other", "attachments": [{"attachment_id": attachment_id}]},
        headers={"Idempotency-Key": "k-settled"},
    )
    assert other["statusCode"] == 409 and body_of(other)["error"]["code"] == "idempotency_key_reused"
    unkeyed = append(api, sid, body)
    assert unkeyed["statusCode"] == 409 and body_of(unkeyed)["error"]["code"] == "attachment_in_use"
    assert len(message_items(table, sid)) == 1


def test_an_upload_named_twice_in_one_append_is_refused_and_kept_pending(api: Any, table: Any) -> None:
    sid = api.created({})["session_id"]
    attachment_id = upload(api, sid, image(2000, seed=5))
    twice = append(
        api,
        sid,
        {
            "messages": [
                {"role": "user", "content": "a", "attachments": [{"attachment_id": attachment_id}]},
                {"role": "user", "content": "b", "attachments": [{"attachment_id": attachment_id}]},
            ]
        },
    )
    assert twice["statusCode"] == 409, twice["body"]
    error = body_of(twice)["error"]
    assert error["code"] == "attachment_in_use"
    assert error["details"] == {"attachment_id": attachment_id, "message": 1, "attachment": 0}
    assert message_items(table, sid) == []
    # the upload is untouched: still pending, still usable by one message
    assert pending(keys.object_key("ns_test", sid, attachment_id))
    once = append(api, sid, {"content": "a", "attachments": [{"attachment_id": attachment_id}]})
    assert once["statusCode"] == 200, once["body"]


def test_a_mismatched_or_missing_upload_stores_nothing(api: Any, table: Any) -> None:
    sid = api.created({})["session_id"]
    declared = image(1000)
    ticket = body_of(
        api.call(
            "upload",
            session_id=sid,
            body={"name": "a.bin", "mime_type": "application/octet-stream", "size": 1000, "sha256": sha(declared)},
        )
    )
    other = image(1000, seed=9)  # the same size, other bytes
    requests.put(ticket["upload_url"], data=other, headers=ticket["upload_headers"], timeout=30)
    mismatch = append(api, sid, {"content": "x", "attachments": [{"attachment_id": ticket["attachment_id"]}]})
    assert mismatch["statusCode"] == 422, mismatch["body"]
    error = body_of(mismatch)["error"]
    assert error["code"] == "attachment_mismatch" and error["details"]["attachment_id"] == ticket["attachment_id"]
    missing = append(api, sid, {"content": "x", "attachments": [{"attachment_id": "att_" + "B" * 22}]})
    assert missing["statusCode"] == 409 and body_of(missing)["error"]["code"] == "attachment_not_uploaded"
    # an upload to another session is not this session's
    elsewhere = api.created({})["session_id"]
    theirs = upload(api, elsewhere, b"theirs")
    borrowed = append(api, sid, {"content": "x", "attachments": [{"attachment_id": theirs}]})
    assert borrowed["statusCode"] == 409 and body_of(borrowed)["error"]["code"] == "attachment_not_uploaded"
    assert message_items(table, sid) == []
    assert (
        api.call("get", session_id=sid)["body"].count('"message_count": 0')
        or body_of(api.call("get", session_id=sid))["message_count"] == 0
    )
    assert objects(f"ns_test/{sid}/") == {}  # the mismatched bytes are deleted too


def test_large_contents_round_trip_within_one_response(api: Any, table: Any, stream: Stream) -> None:
    sid = api.created({})["session_id"]
    outputs = [(chr(ord("a") + i) + "\u00e9\x01") * (768 * 1024 + i) for i in range(4)]  # 3 MiB each; escapes grow
    for output in outputs:
        response = append(api, sid, {"role": "tool", "content": output, "content_type": "tool_result"})
        assert response["statusCode"] == 200, response["body"][:300]
        assert body_of(response)["messages"][0]["content"] == output
    items = message_items(table, sid)
    assert all("content_object" in i and i["content"]["S"] == "" for i in items)
    assert [stored_content(i) for i in items] == outputs
    # pages stop before 6 MB; a message alone past it is handed over by URL; nothing is lost
    got: list[str] = []
    cursor = None
    while True:
        page = history(api, sid, **({"cursor": cursor} if cursor else {}))
        for message in page["messages"]:
            if message["content"] is None:
                assert message["content_size"] == len(outputs[message["seq"]].encode())
                assert message["content_sha256"] == sha(outputs[message["seq"]].encode())
                got.append(download(message["content_url"]).decode())
            else:
                got.append(message["content"])
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert got == outputs
    # small content stays in the item
    append(api, sid, {"content": "short"})
    assert "content_object" not in message_items(table, sid)[-1]
    stream.deliver()
    assert all(not pending(key) for key in objects(f"ns_test/{sid}/"))


def test_a_context_window_loads_contents_kept_in_s3(api: Any) -> None:
    sid = api.created({})["session_id"]
    big = "y" * 100_000
    append(api, sid, {"messages": [{"content": "hello"}, {"role": "assistant", "content": big}]})
    window = body_of(api.call("context", session_id=sid))
    assert [m["content"] for m in window["messages"]] == ["hello", big]


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attachment", "status", "field"),
    [
        ({"name": "a", "mime_type": "image/png", "data": "not base64!"}, 422, "data"),
        ({"name": "a", "mime_type": "image/png", "data": ""}, 422, "data"),
        ({"name": "a", "mime_type": "", "data": "YQ=="}, 422, "mime_type"),
        ({"name": "a", "mime_type": "image", "data": "YQ=="}, 422, "mime_type"),
        ({"name": "", "mime_type": "image/png", "data": "YQ=="}, 422, "name"),
        ({"mime_type": "image/png", "data": "YQ=="}, 422, None),
        ({"attachment_id": "att_x"}, 422, "attachment_id"),
        ({"attachment_id": "att_" + "A" * 22, "data": "YQ=="}, 422, None),
    ],
)
def test_bad_attachments_are_refused_naming_the_field(
    api: Any, table: Any, attachment: dict, status: int, field: str | None
) -> None:
    sid = api.created({})["session_id"]
    response = append(api, sid, {"content": "x", "attachments": [attachment]})
    assert response["statusCode"] == status, response["body"]
    if field is not None:
        locations = [error["loc"] for error in body_of(response)["error"]["details"]["errors"]]
        assert any(field in loc for loc in locations), locations
    assert message_items(table, sid) == [] and objects(f"ns_test/{sid}/") == {}


def test_upload_declarations_are_checked(api: Any) -> None:
    sid = api.created({})["session_id"]
    good = {"name": "a.pdf", "mime_type": "application/pdf", "size": 10, "sha256": "a" * 64}
    assert api.call("upload", session_id=sid, body=good)["statusCode"] == 201
    too_big = api.call("upload", session_id=sid, body=good | {"size": 100 * MIB + 1})
    assert too_big["statusCode"] == 413 and body_of(too_big)["error"]["details"]["errors"][0]["loc"][-1] == "size"
    for wrong in ({"sha256": "A" * 64}, {"sha256": "abc"}, {"mime_type": "pdf"}, {"size": 0}, {"name": "a\nb"}):
        response = api.call("upload", session_id=sid, body=good | wrong)
        assert response["statusCode"] == 422, (wrong, response["body"])
        assert body_of(response)["error"]["details"]["errors"][0]["loc"][-1] == next(iter(wrong))
    many = [{"name": "a", "mime_type": "text/plain", "data": "YQ=="}] * 33
    assert append(api, sid, {"content": "x", "attachments": many})["statusCode"] == 422
    assert api.call("upload", session_id="ses_" + "Z" * 22, body=good)["statusCode"] == 404


# --- lifecycle: rewind, redaction, purge, expiry, fork ---------------------------------------------


def test_rewind_and_redaction_delete_the_objects_they_drop(api: Any, table: Any, stream: Stream) -> None:
    sid = api.created({})["session_id"]
    a, b = image(5000, 1), image(6000, 2)
    first = body_of(
        append(
            api,
            sid,
            {
                "content": "x" * 50_000,
                "attachments": [
                    {"name": "a.png", "mime_type": "image/png", "data": b64(a)},
                    {"name": "b.png", "mime_type": "image/png", "data": b64(b)},
                ],
            },
        )
    )["messages"][0]
    second = body_of(
        append(
            api, sid, {"content": "two", "attachments": [{"name": "c.png", "mime_type": "image/png", "data": b64(a)}]}
        )
    )["messages"][0]
    stream.deliver()
    prefix = f"ns_test/{sid}/"
    assert len(objects(prefix)) == 4  # three attachments and one content
    # redaction: keep a, drop b; replace the content with a short one
    kept = first["attachments"][0]["attachment_id"]
    patched = api.call(
        "update_message",
        session_id=sid,
        seq=0,
        body={"attachments": [{"attachment_id": kept}], "content": "[redacted]"},
    )
    assert patched["statusCode"] == 200, patched["body"]
    assert [x["attachment_id"] for x in body_of(patched)["attachments"]] == [kept]
    stream.deliver()
    assert set(objects(prefix)) == {
        keys.object_key("ns_test", sid, kept),
        keys.object_key("ns_test", sid, second["attachments"][0]["attachment_id"]),
    }
    # rewind: the second message's object goes; a new message at the freed seq keeps its own
    assert api.call("rewind", session_id=sid, query={"last": "1"})["statusCode"] == 200
    third = body_of(
        append(
            api, sid, {"content": "three", "attachments": [{"name": "d.png", "mime_type": "image/png", "data": b64(b)}]}
        )
    )["messages"][0]
    assert third["seq"] == 1
    stream.deliver()
    assert set(objects(prefix)) == {
        keys.object_key("ns_test", sid, kept),
        keys.object_key("ns_test", sid, third["attachments"][0]["attachment_id"]),
    }
    assert download(history(api, sid)["messages"][1]["attachments"][0]["url"]) == b
    # an unknown attachment in a redaction is refused
    refused = api.call("update_message", session_id=sid, seq=1, body={"attachments": [{"attachment_id": kept}]})
    assert refused["statusCode"] == 422


def test_a_fork_copies_the_objects_and_outlives_its_purged_parent(api: Any, table: Any, stream: Stream) -> None:
    parent = api.created({})["session_id"]
    data = image(300_000)
    append(
        api,
        parent,
        {"content": "z" * 40_000, "attachments": [{"name": "p.png", "mime_type": "image/png", "data": b64(data)}]},
    )
    stray = upload(api, parent, b"never attached")  # an upload no message names
    stream.deliver()
    fork = api.call("fork", session_id=parent, body={})
    assert fork["statusCode"] == 200, fork["body"]
    child = body_of(fork)["session_id"]
    stream.deliver()
    assert len(objects(f"ns_test/{child}/")) == 2
    assert all(not pending(key) for key in objects(f"ns_test/{child}/"))
    assert api.call("terminate", session_id=parent, query={"purge": "true"})["statusCode"] == 200
    stream.deliver()
    assert objects(f"ns_test/{parent}/") == {}  # the stray upload too
    read = history(api, child)["messages"][0]
    assert read["content"] == "z" * 40_000
    assert download(read["attachments"][0]["url"]) == data
    assert stray


def test_expiry_removes_the_objects(api: Any, table: Any, stream: Stream) -> None:
    from agent_sessions.runtime import session_changes

    sid = api.created({})["session_id"]
    append(api, sid, {"content": "q", "attachments": [{"name": "a", "mime_type": "image/png", "data": "YQ=="}]})
    stream.deliver()
    head = next(i for i in scan_all(table) if i["PK"]["S"].endswith(f"#SES#{sid}") and i["SK"]["S"] == "SESSION")
    # DynamoDB's TTL deletes the head: the REMOVE record carries its image and TTL's identity
    table.delete_item(TableName=os.environ["TABLE_NAME"], Key={"PK": head["PK"], "SK": head["SK"]})
    stream.seen[(head["PK"]["S"], head["SK"]["S"])] = head
    records = [r for r in stream.records() if r["eventName"] == "REMOVE"]
    for record in records:
        record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
        session_changes().handle(record)
    stream.deliver()
    assert objects(f"ns_test/{sid}/") == {}


# --- crash points --------------------------------------------------------------------------------


def test_a_failed_transaction_deletes_the_objects_it_wrote(
    api: Any, table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = api.created({"quotas": {"max_messages": 1}})["session_id"]
    append(api, sid, {"content": "one"})
    refused = append(
        api, sid, {"content": "x" * 100_000, "attachments": [{"name": "a", "mime_type": "image/png", "data": "YQ=="}]}
    )
    assert refused["statusCode"] == 429
    assert len(message_items(table, sid)) == 1 and objects(f"ns_test/{sid}/") == {}


def test_a_crash_before_the_commit_leaves_only_pending_objects_the_lifecycle_rule_deletes(
    api: Any, table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent_sessions.service.attachments import ObjectService

    sid = api.created({})["session_id"]

    class Crash(BaseException):
        """The function is stopped (a timeout): no cleanup runs."""

    monkeypatch.setattr(ObjectService, "discard", lambda self, prepared: None)
    from agent_sessions.store.messages import MessageStore

    def crash(self: Any, plan: Any) -> None:
        raise Crash()

    monkeypatch.setattr(MessageStore, "append", crash)
    with pytest.raises(Crash):
        append(
            api,
            sid,
            {"content": "x" * 100_000, "attachments": [{"name": "a", "mime_type": "image/png", "data": "YQ=="}]},
        )
    left = objects(f"ns_test/{sid}/")
    assert len(left) == 2 and all(pending(key) for key in left)
    assert message_items(table, sid) == []
    # the bucket's rule (from the template) expires exactly the pending objects after a day
    rules = s3().get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    pending_rule = next(rule for rule in rules if rule["ID"] == "DeletePendingObjects")
    assert pending_rule["Filter"] == {"Tag": {"Key": PENDING_TAG_KEY, "Value": "pending"}}
    assert pending_rule["Expiration"] == {"Days": 1} and pending_rule["Status"] == "Enabled"


def test_a_crash_after_the_commit_is_settled_by_the_stream_and_a_failed_delete_is_retried(
    api: Any, table: Any, stream: Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent_sessions.store.objects import ObjectStore

    sid = api.created({})["session_id"]
    append(api, sid, {"content": "q", "attachments": [{"name": "a", "mime_type": "image/png", "data": "YQ=="}]})
    (key,) = objects(f"ns_test/{sid}/")
    assert pending(key)  # committed; nothing settled it in the request
    insert = stream.records()
    handler = load_function("on_session_change").lambda_handler
    # S3 fails the first delivery: the record is reported failed (retried), nothing lost
    real_settle = ObjectStore.settle
    monkeypatch.setattr(ObjectStore, "settle", lambda self, key: (_ for _ in ()).throw(RuntimeError("S3 down")))
    failed = handler({"Records": insert}, LambdaContext("on_session_change"))
    assert failed["batchItemFailures"] == [{"itemIdentifier": insert[0]["eventID"]}] or failed["batchItemFailures"]
    monkeypatch.setattr(ObjectStore, "settle", real_settle)
    assert handler({"Records": insert}, LambdaContext("on_session_change")) == {"batchItemFailures": []}
    assert handler({"Records": insert}, LambdaContext("on_session_change")) == {"batchItemFailures": []}  # again: same
    assert not pending(key)
    # purge committed, the delete fails once: retried until done
    api.call("terminate", session_id=sid, query={"purge": "true"})
    real_delete_prefix = ObjectStore.delete_prefix
    monkeypatch.setattr(
        ObjectStore, "delete_prefix", lambda self, prefix: (_ for _ in ()).throw(RuntimeError("S3 down"))
    )
    batch = stream.records()
    assert handler({"Records": batch}, LambdaContext("on_session_change"))["batchItemFailures"]
    monkeypatch.setattr(ObjectStore, "delete_prefix", real_delete_prefix)
    handler({"Records": batch}, LambdaContext("on_session_change"))
    stream.deliver()
    assert objects(f"ns_test/{sid}/") == {}


# --- tenancy ---------------------------------------------------------------------------------------


def test_another_tenants_or_sessions_attachment_is_404(api: Any) -> None:
    sid = api.created({})["session_id"]
    sent = body_of(
        append(api, sid, {"content": "q", "attachments": [{"name": "a", "mime_type": "image/png", "data": "YQ=="}]})
    )
    attachment_id = sent["messages"][0]["attachments"][0]["attachment_id"]
    assert api.call("attachment", session_id=sid, attachment_id=attachment_id)["statusCode"] == 200
    other_session = api.created({})["session_id"]
    for response in (
        api.call("attachment", session_id=other_session, attachment_id=attachment_id),
        api.call("attachment", session_id=sid, attachment_id=attachment_id, tenant=OTHER_TENANT),
        api.call("attachment", session_id=sid, attachment_id="att_" + "C" * 22),
        api.call("attachment", session_id=sid, attachment_id="../../x"),
    ):
        assert response["statusCode"] == 404, response["body"]
        assert attachment_id not in response["body"] or "not in session" in response["body"]
