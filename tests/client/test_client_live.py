"""The client against the real API (the local runtime on DynamoDB Local): every route, typed
answers, auto-paging, If-Match, and errors raised by type."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from agent_sessions_client import AgentSessionsClient, AsyncAgentSessionsClient, errors

pytestmark = [pytest.mark.integration]


@pytest.fixture
def client(live_api: Any) -> Any:
    with AgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace) as api:
        yield api


def test_every_route(client: AgentSessionsClient, live_api: Any) -> None:
    session = client.create_session(session_id="chat:1", user_id="u1", metadata={"team": "a"})
    assert (session.session_id, session.user_id, session.version) == ("chat:1", "u1", 1)
    assert client.get_session("chat:1").metadata == {"team": "a"}
    appended = client.append_messages(
        "chat:1", [{"content": "hi"}, {"role": "assistant", "content": "hello", "token_count": 3}]
    )
    assert appended.message_count == 2 and [m.seq for m in appended.messages] == [0, 1]
    client.append_message("chat:1", "more", if_match=2)
    with pytest.raises(errors.PreconditionFailedError):
        client.append_message("chat:1", "stale", if_match=2)
    assert [m.content for m in client.iter_history("chat:1", page_size=2)] == ["hi", "hello", "more"]
    window = client.get_context("chat:1", max_tokens=3)  # "more" weighs 1, "hello" 3
    assert [m.content for m in window.messages] == ["more"] and window.truncated
    feedback = client.record_feedback("chat:1", appended.messages[1].message_id, "positive", "nice")
    assert feedback.stored is True
    corrected = client.update_message("chat:1", 0, {"content": "[redacted]"})
    assert corrected.content == "[redacted]"
    child = client.fork_session("chat:1", through_seq=1, child_session_id="chat:1-branch")
    assert child.forked_from is not None and child.forked_from.through_seq == 1 and child.message_count == 2
    popped = client.rewind("chat:1", last=1, if_match=3)
    assert popped.message_count == 2 and popped.removed is not None and popped.removed[0].content == "more"
    version = client.get_session("chat:1").version
    patched = client.update_session("chat:1", {"summary": "greeting", "summary_through_seq": 1}, if_match=version)
    assert patched.summary_through_seq == 1
    page = client.list_sessions(user_id="u1", limit=1)
    assert page.total == 2 and page.pagination.has_more
    assert {s.session_id for s in client.iter_sessions(page_size=1, user_id="u1")} == {"chat:1", "chat:1-branch"}
    assert client.terminate_session("chat:1").status == "terminated"
    with pytest.raises(errors.ConflictError) as conflict:
        client.append_message("chat:1", "after the end")
    assert conflict.value.code == "session_terminated"
    assert client.purge_session("chat:1").deleted is True
    with pytest.raises(errors.NotFoundError):
        client.get_session("chat:1")
    assert client.erase_user("u1") == 1
    assert client.list_sessions(user_id="u1").total == 0


def test_a_create_repeated_with_its_key_is_one_session(client: AgentSessionsClient, live_api: Any) -> None:
    first = client.create_session(user_id="twice", idempotency_key="k-1")
    again = client.create_session(user_id="twice", idempotency_key="k-1")
    assert first.session_id == again.session_id
    assert client.list_sessions(user_id="twice").total == 1
    with pytest.raises(errors.ConflictError):
        client.create_session(user_id="other", idempotency_key="k-1")


def test_the_async_client(live_api: Any) -> None:
    async def run() -> list[str]:
        async with AsyncAgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace) as client:
            session = await client.create_session(user_id="async")
            for n in range(5):
                await client.append_message(session.session_id, f"m{n}")
            await client.rewind(session.session_id, last=1)
            return [m.content async for m in client.iter_history(session.session_id, page_size=2)]

    assert asyncio.run(run()) == ["m0", "m1", "m2", "m3"]


def test_bad_credentials_raise_unauthorized(live_api: Any) -> None:
    with (
        AgentSessionsClient(live_api.base_url, "sk_" + "x" * 43, live_api.namespace) as client,
        pytest.raises(errors.UnauthorizedError),
    ):
        client.list_sessions()


def test_put_session_creates_then_replaces(client: AgentSessionsClient, live_api: Any) -> None:
    created = client.put_session("ticket:7", user_id="u7", situation="first", create_only=True)
    assert (created.session_id, created.version, created.situation) == ("ticket:7", 1, "first")
    with pytest.raises(errors.PreconditionFailedError):
        client.put_session("ticket:7", user_id="u7", create_only=True)
    replaced = client.put_session("ticket:7", user_id="u7", metadata={"k": "v"}, if_match=1)
    assert (replaced.version, replaced.situation, replaced.metadata) == (2, None, {"k": "v"})
    with pytest.raises(errors.PreconditionFailedError):
        client.put_session("ticket:7", user_id="u7", if_match=1)
    same = client.put_session("ticket:7", user_id="u7", metadata={"k": "v"}, idempotency_key="put-7")
    again = client.put_session("ticket:7", user_id="u7", metadata={"k": "v"}, idempotency_key="put-7")
    assert same == again and client.get_session("ticket:7").version == 3


def test_files_and_large_contents_through_the_client(client: AgentSessionsClient, live_api: Any) -> None:
    # bytes in, bytes out: a small file inline, a large one uploaded by the client itself,
    # contents past one response resolved from their content_url
    small, large = b"\x89PNG" + bytes(range(256)) * 1000, bytes(range(256)) * (24 * 4096)  # 256 KB, 24 MiB
    session = client.create_session()
    sent = client.append_messages(
        session.session_id,
        [
            {
                "content": "two files",
                "attachments": [
                    {"name": "small.png", "mime_type": "image/png", "data": small},
                    {"name": "large.bin", "mime_type": "application/octet-stream", "data": large},
                ],
            }
        ],
    )
    assert [(a.name, a.size) for a in sent.messages[0].attachments] == [
        ("small.png", len(small)),
        ("large.bin", len(large)),
    ]
    outputs = ['"' * (1536 * 1024)] * 3  # each past 6 MB once escaped twice: handed over by URL
    for output in outputs:
        client.append_message(session.session_id, {"role": "tool", "content": output})
    messages = list(client.iter_history(session.session_id))
    assert [m.content for m in messages[1:]] == outputs
    files = [client.download_attachment(session.session_id, a) for a in messages[0].attachments]
    assert files == [small, large]

    async def read_async() -> list[str]:
        async with AsyncAgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace) as api:
            page = await api.get_history(session.session_id, limit=10)
            got = [m.content for m in page.messages]
            while page.has_more:
                page = await api.get_history(session.session_id, limit=10, cursor=page.next_cursor)
                got += [m.content for m in page.messages]
            return got

    assert asyncio.run(read_async())[1:] == outputs


def test_export_and_import_through_the_client(client: AgentSessionsClient, live_api: Any) -> None:
    """A session with a 5 MiB file: its inline export is past one response, so the server
    answers 303 and the client fetches the file from S3; the import recreates the session."""
    photo = bytes(range(256)) * (5 * 4096)  # 5 MiB
    sid = client.create_session(user_id="exporter", session_name="with a photo").session_id
    client.append_messages(
        sid,
        [
            {
                "role": "user",
                "content": "look",
                "attachments": [{"name": "p.png", "mime_type": "image/png", "data": photo}],
            },
            {"role": "assistant", "content": "a photo", "token_count": 3},
        ],
    )
    text = client.export_session(sid)
    assert len(text) > 6_000_000  # it came by the presigned URL
    head = json.loads(text.splitlines()[0])
    assert head["session_id"] == sid and head["message_count"] == 2
    from agent_sessions_client import _requests

    uploads = []
    real = _requests.create_import_upload

    def counted(data: bytes) -> Any:
        uploads.append(len(data))
        return real(data)

    _requests.create_import_upload = counted  # type: ignore[assignment]
    try:
        copy = client.import_session(text, new_id=True)  # past a request's size: uploaded first
    finally:
        _requests.create_import_upload = real  # type: ignore[assignment]
    assert uploads == [len(text.encode())]
    assert copy.session_id != sid and copy.session_name == "with a photo" and copy.stats.total_tokens == 3
    messages = list(client.iter_history(copy.session_id))
    assert [m.content for m in messages] == ["look", "a photo"]
    assert client.download_attachment(copy.session_id, messages[0].attachments[0]) == photo
    by_reference = client.export_session(sid, inline_attachments=False)
    assert "data" not in json.loads(by_reference.splitlines()[1])["attachments"][0]
    with pytest.raises(errors.ConflictError):
        client.import_session(text)  # its own id is taken
