"""The transfer command (agent_sessions_client.transfer) against the live API: a namespace
exported to files and imported into another, identical; an import killed halfway and run
again ends with exact counts and no duplicate; the OpenAI Agents SDK's own SQLite store moved
in, after which the adapter returns what the SDK returned."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("agents")

from agents import SQLiteSession

from agent_sessions_client import AgentSessionsClient, AsyncAgentSessionsClient
from agent_sessions_client import transfer as command
from agent_sessions_client.integrations.openai_agents import AgentSessionsSession

pytestmark = [pytest.mark.integration]


def history(client: AgentSessionsClient, session_id: str) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in m.model_dump().items() if k not in ("attachments",)}
        | {"files": [(a.name, a.sha256) for a in m.attachments]}
        for m in client.iter_history(session_id)
    ]


def test_a_namespace_out_and_into_another_then_a_killed_import_resumes(
    live_api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = AgentSessionsClient(live_api.base_url, live_api.key, live_api.new_namespace("transfer-from"))
    made = []
    for index in range(5):
        session = source.create_session(user_id=f"u{index % 2}", session_name=f"conversation {index}")
        source.append_messages(
            session.session_id,
            [
                {"role": "user", "content": f"question {index}", "token_count": 3},
                {
                    "role": "assistant",
                    "content": "answer",
                    "attachments": [
                        {"name": "a.bin", "mime_type": "application/octet-stream", "data": bytes([index]) * 5000}
                    ],
                },
            ],
        )
        made.append(session.session_id)
    out = tmp_path / "export"
    counts = command.export_namespace(source, out)
    assert (counts.done, counts.already, counts.messages) == (5, 0, 10)
    assert sorted(p.name for p in out.glob("*.ndjson")) == sorted(command.file_name(s) for s in made)
    again = command.export_namespace(source, out)  # run again: nothing to do
    assert (again.done, again.already) == (0, 5)

    target = AgentSessionsClient(live_api.base_url, live_api.key, live_api.new_namespace("transfer-to"))
    real_import = AgentSessionsClient.import_session
    calls = {"n": 0}

    def dies_on_the_third(self: AgentSessionsClient, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the process killed mid-run
        return real_import(self, *args, **kwargs)

    monkeypatch.setattr(AgentSessionsClient, "import_session", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        command.import_directory(target, out)
    monkeypatch.setattr(AgentSessionsClient, "import_session", real_import)
    resumed = command.import_directory(target, out)
    assert (resumed.done + resumed.already, resumed.messages, resumed.failed) == (5, 10, [])
    assert resumed.already == 2  # the two imported before the kill: replayed, not doubled
    assert sorted(s.session_id for s in target.iter_sessions()) == sorted(made)
    for session_id in made:
        assert history(target, session_id) == history(source, session_id)
        mine, theirs = target.get_session(session_id), source.get_session(session_id)
        assert (mine.session_name, mine.user_id, mine.stats, mine.version) == (
            theirs.session_name,
            theirs.user_id,
            theirs.stats,
            theirs.version,
        )
    # one user's data only
    only = command.export_namespace(source, tmp_path / "u1", user_id="u1")
    assert only.done == 2


def test_the_openai_sdks_sqlite_store_moves_in(live_api: Any, tmp_path: Path) -> None:
    db = tmp_path / "conversations.db"
    photo = "data:image/png;base64," + base64.b64encode(bytes(range(256)) * 2000).decode()
    first = [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "what is this?"},
                {"type": "input_image", "image_url": photo, "detail": "auto"},
            ],
        },
        {"type": "function_call", "call_id": "c1", "name": "vision", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "a test card"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "A test card.", "annotations": []}]},
    ]
    second = [{"role": "user", "content": "hello ünïcode 🌦"}]

    async def build() -> None:
        await SQLiteSession("thread-a", db).add_items(first)
        await SQLiteSession("thread-b", db).add_items(second)

    asyncio.run(build())
    assert command.openai_sqlite_sessions(db) == ["thread-a", "thread-b"]

    env = {"url": live_api.base_url, "api_key": live_api.key, "namespace": live_api.new_namespace("from-openai")}

    async def move(ids: list[str] | None = None) -> command.Counts:
        async with AsyncAgentSessionsClient(env["url"], env["api_key"], env["namespace"]) as client:
            return await command.import_openai_sqlite(client, db, ids)

    partly = asyncio.run(move(["thread-a"]))
    assert (partly.done, partly.messages) == (1, 4)
    whole = asyncio.run(move())  # again, all: thread-a is there already
    assert (whole.done, whole.already, whole.messages, whole.failed) == (1, 1, 5, [])

    async def read(session_id: str) -> tuple[Any, Any]:
        async with AsyncAgentSessionsClient(env["url"], env["api_key"], env["namespace"]) as client:
            ours = await AgentSessionsSession(session_id, client=client).get_items()
        return ours, await SQLiteSession(session_id, db).get_items()

    for session_id in ("thread-a", "thread-b"):
        ours, theirs = asyncio.run(read(session_id))
        assert ours == theirs
    # the command line, as a person runs it
    printed = command.run(
        [
            "--url",
            env["url"],
            "--api-key",
            env["api_key"],
            "--namespace",
            env["namespace"],
            "import-from",
            "openai-sqlite",
            "--db",
            str(db),
        ]
    )
    assert (printed["done"], printed["already"], printed["failed"]) == (0, 2, [])
    assert json.dumps(printed)


def test_a_langchain_dynamodb_table_moves_in(live_api: Any, dynamodb_local_endpoint: str) -> None:
    import warnings

    import boto3
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

    from agent_sessions_client.integrations.langchain import AgentSessionsChatMessageHistory

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.chat_message_histories import DynamoDBChatMessageHistory

    table = f"langchain-source-{live_api.namespace[-6:]}"
    boto3.client("dynamodb", endpoint_url=dynamodb_local_endpoint).create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "SessionId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "SessionId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    conversations = {
        "chat-1": [
            SystemMessage(content="Be brief."),
            HumanMessage(content="Weather in Paris?", id="h1"),
            AIMessage(content="", tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "t1"}]),
            ToolMessage(content="18°C", tool_call_id="t1"),
            AIMessage(content="18°C and clear.", response_metadata={"model": "m"}),
        ],
        "chat-2": [HumanMessage(content="ünïcode 🌦")],
    }
    for session_id, messages in conversations.items():
        DynamoDBChatMessageHistory(
            table_name=table, session_id=session_id, endpoint_url=dynamodb_local_endpoint
        ).add_messages(messages)
    client = AgentSessionsClient(live_api.base_url, live_api.key, live_api.new_namespace("from-langchain"))
    counts = command.import_langchain_dynamodb(client, table, endpoint_url=dynamodb_local_endpoint)
    assert (counts.done, counts.already, counts.messages, counts.failed) == (2, 0, 6, [])
    for session_id in conversations:
        theirs = DynamoDBChatMessageHistory(
            table_name=table, session_id=session_id, endpoint_url=dynamodb_local_endpoint
        ).messages
        assert AgentSessionsChatMessageHistory(session_id, client=client).messages == theirs
    again = command.import_langchain_dynamodb(client, table, endpoint_url=dynamodb_local_endpoint)
    assert (again.done, again.already) == (0, 2)


def test_an_adk_database_moves_in(live_api: Any, tmp_path: Path) -> None:
    pytest.importorskip("sqlalchemy")
    from google.adk.events.event import Event
    from google.adk.events.event_actions import EventActions
    from google.adk.sessions.database_session_service import DatabaseSessionService
    from google.genai import types

    from agent_sessions_client.integrations.adk import AgentSessionsService

    url = f"sqlite+aiosqlite:///{tmp_path / 'adk.db'}"

    def event(author: str, text: str, delta: dict[str, Any] | None = None, image: bytes | None = None) -> Event:
        parts = [types.Part(text=text)]
        if image is not None:
            parts.append(types.Part(inline_data=types.Blob(mime_type="image/png", data=image)))
        return Event(
            invocation_id="inv-1",
            author=author,
            content=types.Content(role="user" if author == "user" else "model", parts=parts),
            actions=EventActions(state_delta=delta or {}),
        )

    async def build() -> list[tuple[str, str, str]]:
        source = DatabaseSessionService(url)
        made = []
        for user, count in (("ada", 2), ("bob", 1)):
            for index in range(count):
                session = await source.create_session(
                    app_name="support", user_id=user, state={"topic": "refund", "user:lang": "fr"}
                )
                await source.append_event(
                    session, event("user", "hello", {"step": 1, "app:version": index}, b"\x89PNG" * 300)
                )
                await source.append_event(session, event("helper", "hi", {"step": 2}))
                made.append(("support", user, session.id))
        await source.close()
        return made

    made = asyncio.run(build())
    namespace = live_api.new_namespace("from-adk")

    async def move() -> command.Counts:
        async with AsyncAgentSessionsClient(live_api.base_url, live_api.key, namespace) as client:
            return await command.import_adk_database(client, url)

    counts = asyncio.run(move())
    assert (counts.done, counts.messages, counts.failed) == (3, 6, [])

    async def compare() -> None:
        source = DatabaseSessionService(url)
        async with AsyncAgentSessionsClient(live_api.base_url, live_api.key, namespace) as client:
            target = AgentSessionsService(client)
            for app_name, user_id, session_id in made:
                theirs = await source.get_session(app_name=app_name, user_id=user_id, session_id=session_id)
                ours = await target.get_session(app_name=app_name, user_id=user_id, session_id=session_id)
                assert ours is not None and theirs is not None
                assert ours.events == theirs.events
                assert ours.state == theirs.state
            listed_ours = await target.list_sessions(app_name="support", user_id="ada")
            listed_theirs = await source.list_sessions(app_name="support", user_id="ada")
            assert sorted(s.id for s in listed_ours.sessions) == sorted(s.id for s in listed_theirs.sessions)
        await source.close()

    asyncio.run(compare())
    again = asyncio.run(move())
    assert (again.done, again.already) == (0, 3)
