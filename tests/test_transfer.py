"""Export and import of a session (DESIGN §13) on moto: a session with tool calls, feedback, a
rewind, a summary checkpoint, a large content and attachments exports and imports back
identical — under a new id, and under its own id after a purge; the same Idempotency-Key
replays; a taken id is 409; a broken file is a 4xx that leaves nothing; tenancy and scopes."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from conftest import scan_all
from support import OTHER_TENANT, body_of, header_of

IMAGE = bytes(range(256)) * 40  # 10 KiB
PDF = b"%PDF-1.4 " + bytes(reversed(range(256))) * 100


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def build(api: Any, **fields: Any) -> str:
    """A session that has been through most of what a session goes through."""
    sid = api.created({"user_id": "ada", "agent_id": "support", "metadata": {"tier": "gold"}, **fields})["session_id"]
    messages = [
        {"role": "user", "content": "My order is late.", "token_count": 5, "metadata": {"lang": "en"}},
        {
            "role": "assistant",
            "content": "Checking.",
            "content_type": "tool_call",
            "tool_name": "order_status",
            "tool_inputs": '{"order": "A-17"}',
            "latency_ms": 812.5,
        },
        {
            "role": "tool",
            "content": "shipped",
            "content_type": "tool_result",
            "tool_name": "order_status",
            "tool_outputs": '{"status": "shipped"}',
        },
        {
            "role": "user",
            "content": "Here is the label and the invoice.",
            "attachments": [
                {"name": "label.png", "mime_type": "image/png", "data": b64(IMAGE)},
                {"name": "invoice.pdf", "mime_type": "application/pdf", "data": b64(PDF)},
            ],
        },
        {"role": "assistant", "content": "Long answer: " + "é" * 20_000, "token_count": 7, "latency_ms": 95.25},
        {"role": "assistant", "content": "this one is rewound"},
    ]
    response = api.call("append", session_id=sid, body={"messages": messages})
    assert response["statusCode"] == 200, response["body"]
    appended = body_of(response)["messages"]
    assert api.call("rewind", session_id=sid, query={"last": "1"})["statusCode"] == 200
    feedback = {"message_id": appended[4]["message_id"], "rating": "negative", "feedback_text": "too long"}
    assert api.call("feedback", session_id=sid, body=feedback)["statusCode"] == 200
    patch = {"summary": "Order A-17 is late.", "summary_through_seq": 2, "session_name": "Late order"}
    assert api.call("update", session_id=sid, body=patch)["statusCode"] == 200
    return str(sid)


def export(api: Any, sid: str, inline: bool = True, tenant: Any = "default") -> dict[str, Any]:
    return api.call("export", session_id=sid, query={"attachments": "inline"} if inline else None, tenant=tenant)


def lines(response: dict[str, Any]) -> list[dict[str, Any]]:
    assert response["statusCode"] == 200, response["body"]
    return [json.loads(line) for line in response["body"].splitlines()]


def import_file(api: Any, text: str, *, new_id: bool = False, key: str | None = None, tenant: Any = "default") -> Any:
    headers = {"Content-Type": "application/x-ndjson", **({"Idempotency-Key": key} if key else {})}
    return api.call(
        "import", raw_body=text, headers=headers, query={"new_id": "true"} if new_id else None, tenant=tenant
    )


def read_back(api: Any, sid: str) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, bytes]]:
    session = body_of(api.call("get", session_id=sid))
    messages = body_of(api.call("history", session_id=sid, query={"limit": "100"}))["messages"]
    files = {}
    for message in messages:
        for attachment in message["attachments"]:
            import requests

            files[attachment["attachment_id"]] = requests.get(attachment["url"], timeout=30).content
    return session, messages, files


VOLATILE_SESSION = {"session_id", "namespace_id", "internal_id", "status"}
VOLATILE_MESSAGE = {"attachments"}


def comparable_messages(messages: list[dict[str, Any]], *, ids: bool = True) -> list[dict[str, Any]]:
    out = []
    for message in messages:
        kept = {k: v for k, v in message.items() if k not in VOLATILE_MESSAGE and (ids or k != "message_id")}
        kept["attachments"] = [
            {k: a[k] for k in ("attachment_id", "name", "mime_type", "size", "sha256")} for a in message["attachments"]
        ]
        out.append(kept)
    return out


def test_a_session_exports_as_ndjson_with_every_field(api: Any) -> None:
    sid = build(api)
    response = export(api, sid, inline=False)
    assert header_of(response, "Content-Type") == "application/x-ndjson"
    records = lines(response)
    head, messages = records[0], records[1:]
    assert head["type"] == "session" and head["format_version"] == 1
    session = body_of(api.call("get", session_id=sid))
    assert {k: v for k, v in head.items() if k not in ("type", "format_version", "status")} == {
        k: v for k, v in session.items() if k != "status"
    }
    assert [m["seq"] for m in messages] == [0, 1, 2, 3, 4]
    assert messages[4]["content"] == "Long answer: " + "é" * 20_000  # kept in S3, exported whole
    assert messages[4]["feedback"]["rating"] == "negative"
    assert all(a["url"] and "data" not in a for a in messages[3]["attachments"])
    inline = lines(export(api, sid))[4]["attachments"]
    assert [base64.b64decode(a["data"]) for a in inline] == [IMAGE, PDF]
    assert all("url" not in a for a in inline)


def test_an_export_imports_back_identical_under_a_new_id(api: Any, table: Any) -> None:
    sid = build(api)
    text = export(api, sid)["body"]
    response = import_file(api, text, new_id=True)
    assert response["statusCode"] == 201, response["body"]
    imported = body_of(response)
    assert imported["session_id"] != sid and header_of(response, "Location").endswith(imported["session_id"])
    original, original_messages, original_files = read_back(api, sid)
    copy, copy_messages, copy_files = read_back(api, imported["session_id"])
    assert {k: v for k, v in copy.items() if k not in VOLATILE_SESSION} == {
        k: v for k, v in original.items() if k not in VOLATILE_SESSION
    }
    assert copy["stats"] == original["stats"] and copy["version"] == original["version"]
    assert comparable_messages(copy_messages, ids=False) == comparable_messages(original_messages, ids=False)
    # fresh message ids (never shared between sessions), the same seq in each
    assert all(a["message_id"] != b["message_id"] for a, b in zip(copy_messages, original_messages, strict=True))
    assert [m["message_id"].rsplit(".", 1)[1] for m in copy_messages] == ["0", "1", "2", "3", "4"]
    assert copy_files == original_files and sorted(copy_files.values()) == sorted([IMAGE, PDF])
    # the imported session lists and counts like any other
    listed = body_of(api.call("list", body={"filters": {"user_id": "ada"}, "include_total": True}))
    assert listed["total"] == 2


def test_under_its_own_id_after_a_purge_with_its_ids(api: Any) -> None:
    sid = build(api)
    text = export(api, sid)["body"]
    original, original_messages, original_files = read_back(api, sid)
    assert api.call("terminate", session_id=sid, query={"purge": "true"})["statusCode"] == 200
    taken_before = import_file(api, text)
    assert taken_before["statusCode"] == 201, taken_before["body"]
    copy, copy_messages, copy_files = read_back(api, sid)
    assert {k: v for k, v in copy.items() if k not in ("internal_id",)} == {
        k: v for k, v in original.items() if k not in ("internal_id",)
    }
    assert comparable_messages(copy_messages) == comparable_messages(original_messages)
    assert copy_files == original_files
    # again: the id is taken
    again = import_file(api, text)
    assert again["statusCode"] == 409 and body_of(again)["error"]["code"] == "session_exists"


def test_the_same_idempotency_key_replays(api: Any, table: Any) -> None:
    sid = build(api)
    text = export(api, sid)["body"]
    first = import_file(api, text, new_id=True, key="import-1")
    assert first["statusCode"] == 201, first["body"]
    second = import_file(api, text, new_id=True, key="import-1")
    assert second["statusCode"] == 201 and header_of(second, "Idempotent-Replayed") == "true"
    assert body_of(second)["session_id"] == body_of(first)["session_id"]
    other = import_file(api, text.replace("Late order", "Other name"), new_id=True, key="import-1")
    assert other["statusCode"] == 409 and body_of(other)["error"]["code"] == "idempotency_key_reused"
    heads = [i for i in scan_all(table) if i["SK"]["S"] == "SESSION"]
    assert len(heads) == 2  # the original and one copy


def _broken(text: str) -> list[tuple[str, str, set[int]]]:
    head, *messages = text.splitlines()
    session = json.loads(head)
    second = json.loads(messages[1])
    return [
        ("empty", "", {422}),
        ("not JSON", head + "\n{not json\n", {400}),
        ("first line not a session", messages[0] + "\n", {422}),
        ("wrong seq", "\n".join([head, messages[1], messages[0], *messages[2:]]), {422}),
        ("count differs", "\n".join([head, *messages[:-1]]), {422}),
        ("unknown field", "\n".join([head, json.dumps({**second, "colour": "red"}), *messages[2:]]), {422}),
        (
            "a file without its bytes",
            "\n".join(
                [
                    head,
                    *messages[:3],
                    json.dumps(
                        {
                            **json.loads(messages[3]),
                            "attachments": [
                                {k: v for k, v in a.items() if k != "data"}
                                for a in json.loads(messages[3])["attachments"]
                            ],
                        }
                    ),
                    messages[4],
                ]
            ),
            {422},
        ),
        (
            "a file with other bytes",
            "\n".join(
                [
                    head,
                    *messages[:3],
                    json.dumps(
                        {
                            **json.loads(messages[3]),
                            "attachments": [
                                {**a, "data": b64(b"other")} for a in json.loads(messages[3])["attachments"]
                            ],
                        }
                    ),
                    messages[4],
                ]
            ),
            {422},
        ),
        (
            "oversized content",
            "\n".join([head, *messages[:4], json.dumps({**json.loads(messages[4]), "content": "x" * 4_300_000})]),
            {413, 422},
        ),
        ("expired", "\n".join([json.dumps({**session, "expires_at": "2020-01-01T00:00:00.000Z"}), *messages]), {422}),
        ("reserved id", "\n".join([json.dumps({**session, "session_id": "import"}), *messages]), {409, 422}),
        ("terminated without a time", "\n".join([json.dumps({**session, "status": "terminated"}), *messages]), {422}),
    ]


def test_a_broken_file_is_refused_and_leaves_nothing(api: Any, table: Any) -> None:
    sid = build(api)
    text = export(api, sid)["body"]
    assert api.call("terminate", session_id=sid, query={"purge": "true"})["statusCode"] == 200
    before = sorted(json.dumps(i, sort_keys=True) for i in scan_all(table))
    for name, broken, expected in _broken(text):
        response = import_file(api, broken)
        assert response["statusCode"] in expected, (name, response["statusCode"], response["body"][:300])
        error = body_of(response)["error"]
        assert error["message"], name
        assert sorted(json.dumps(i, sort_keys=True) for i in scan_all(table)) == before, name


def test_a_failure_halfway_leaves_no_visible_session(api: Any, table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent_sessions.store.conversation import ConversationStore

    sid = build(api)
    text = export(api, sid)["body"]

    def fail(*_: Any, **__: Any) -> None:
        raise RuntimeError("the table went away")

    monkeypatch.setattr(ConversationStore, "copy_messages", fail)
    response = import_file(api, text, new_id=True)
    assert response["statusCode"] == 500
    heads = [i for i in scan_all(table) if i["SK"]["S"] == "SESSION"]
    assert [h["PK"]["S"].rsplit("#", 1)[-1] for h in heads] == [sid]  # the half-written copy is gone


def test_tenancy_and_scopes(api: Any) -> None:
    sid = build(api)
    assert export(api, sid, tenant=OTHER_TENANT)["statusCode"] == 404
    text = export(api, sid)["body"]
    imported = import_file(api, text, tenant=OTHER_TENANT)  # the other tenant's own copy, same id
    assert imported["statusCode"] == 201, imported["body"]
    assert body_of(imported)["namespace_id"] == OTHER_TENANT["namespace_id"]
    read_only = {**OTHER_TENANT, "scopes": "sessions:read"}
    refused = import_file(api, text, new_id=True, tenant=read_only)
    assert refused["statusCode"] == 403
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert digest  # the file itself was not changed by any of this


def test_a_users_export_pages_through_all_of_their_sessions(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent_sessions.service import transfer

    monkeypatch.setattr(transfer, "USER_EXPORT_PAGE", 2)
    mine = []
    for index in range(3):
        sid = api.created({"user_id": "leaving", "session_name": f"s{index}"})["session_id"]
        api.call("append", session_id=sid, body={"content": f"message of s{index}"})
        mine.append(sid)
    api.created({"user_id": "staying"})
    seen: list[dict[str, Any]] = []
    query: dict[str, str] = {"user_id": "leaving"}
    pages = 0
    while True:
        records = lines(api.call("export_user", query=query))
        pages += 1
        page = records[-1]
        assert page["type"] == "page" and page["user_id"] == "leaving"
        seen += records[:-1]
        if not page["has_more"]:
            break
        query = {"user_id": "leaving", "cursor": page["next_cursor"]}
    assert pages == 2
    sessions = [r for r in seen if r["type"] == "session"]
    assert [s["session_id"] for s in sessions] == mine  # every one, oldest first, no other user's
    assert [r["content"] for r in seen if r["type"] == "message"] == ["message of s0", "message of s1", "message of s2"]
    # each session's lines import back on their own
    first = "\n".join(json.dumps(r) for r in seen[:2]) + "\n"
    assert import_file(api, first, new_id=True)["statusCode"] == 201
    assert (
        api.call("export_user", query={"user_id": "leaving"}, tenant=OTHER_TENANT)["body"].count('"type": "session"')
        == 0
    )


def test_a_file_too_large_for_a_request_is_uploaded_first(api: Any, table: Any) -> None:
    import requests

    sid = build(api)
    text = export(api, sid)["body"]
    data = text.encode()
    ticket = body_of(api.call("import_upload", body={"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}))
    assert ticket["upload_id"].startswith("imp_") and "/ns_test/import/" in ticket["upload_url"]
    sent = requests.put(ticket["upload_url"], data=data, headers=ticket["upload_headers"], timeout=30)
    assert sent.status_code == 200, sent.text
    response = api.call("import", query={"upload_id": ticket["upload_id"], "new_id": "true"})
    assert response["statusCode"] == 201, response["body"]
    copy, copy_messages, _ = read_back(api, body_of(response)["session_id"])
    original, original_messages, _ = read_back(api, sid)
    assert copy["stats"] == original["stats"]
    assert comparable_messages(copy_messages, ids=False) == comparable_messages(original_messages, ids=False)
    # read once, then gone; another tenant's or a made-up upload is not there
    again = api.call("import", query={"upload_id": ticket["upload_id"], "new_id": "true"})
    assert again["statusCode"] == 409 and body_of(again)["error"]["code"] == "import_not_uploaded"
    other = body_of(api.call("import_upload", body={"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}))
    requests.put(other["upload_url"], data=data, headers=other["upload_headers"], timeout=30)
    elsewhere = api.call("import", query={"upload_id": other["upload_id"]}, tenant=OTHER_TENANT)
    assert elsewhere["statusCode"] == 409
    taken = import_file(api, text)
    assert taken["statusCode"] == 409  # its own id exists: the body path checks as ever
    mixed = api.call("import", raw_body=text, query={"upload_id": other["upload_id"]})
    assert mixed["statusCode"] == 422
    too_big = api.call("import_upload", body={"size": 101 * 1024 * 1024, "sha256": "0" * 64})
    assert too_big["statusCode"] in (413, 422)
