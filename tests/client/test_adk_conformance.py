"""Google ADK: the adapter behaves as ADK's own session services do.

Every test runs with the same assertions on ADK's `InMemorySessionService` and its
`SqliteSessionService` (the references) and on this store, so a difference is a failing test.
The first part is ADK's own published session-service tests (`tests/unittests/sessions/
test_session_service.py`), ported to this harness; the second is the behaviour the adapter got
wrong before (replace semantics of state deltas, `None` as a value, empty user ids, listings
that show what a read shows, ADK's exception types); the last runs ADK's synchronous
`Runner.run`, which starts a new event loop per call, again and again on one service."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("google.adk")

from google.adk.agents import LlmAgent
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService
from google.adk.sessions.base_session_service import GetSessionConfig
from google.adk.sessions.session import Session
from google.adk.sessions.sqlite_session_service import SqliteSessionService
from google.genai import types

from agent_sessions_client import AsyncAgentSessionsClient
from agent_sessions_client.integrations.adk import AgentSessionsService
from client.test_adk_service import ScriptedLlm, app, event

pytestmark = [pytest.mark.integration]

BACKENDS = ["in_memory", "sqlite", "agent_sessions"]


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, live_api: Any, tmp_path: Path) -> Callable[[], Any]:
    """A factory of services of one backend, all seeing the same stored data."""
    if request.param == "in_memory":
        shared = InMemorySessionService()
        return lambda: shared
    if request.param == "sqlite":
        path = str(tmp_path / "sessions.db")
        return lambda: SqliteSessionService(path)
    client = AsyncAgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace)
    return lambda: AgentSessionsService(client)  # one client, used from a new event loop per test step


# --- ADK's own session-service tests -----------------------------------------------------------


def test_get_empty_session(backend: Callable[[], Any]) -> None:
    assert run(backend().get_session(app_name=app(), user_id="test_user", session_id="123")) is None


def test_create_get_session(backend: Callable[[], Any]) -> None:
    name, service = app(), backend()
    state = {"key": "value"}
    session = run(service.create_session(app_name=name, user_id="test_user", state=state))
    assert (session.app_name, session.user_id, session.state) == (name, "test_user", state)
    assert session.id
    assert run(service.get_session(app_name=name, user_id="test_user", session_id=session.id)) == session
    run(service.delete_session(app_name=name, user_id="test_user", session_id=session.id))
    assert run(service.get_session(app_name=name, user_id="test_user", session_id=session.id)) is None


def test_create_and_list_sessions(backend: Callable[[], Any]) -> None:
    name, service = app(), backend()
    session_ids = [f"session{i}" for i in range(5)]
    for session_id in session_ids:
        run(service.create_session(app_name=name, user_id="test_user", session_id=session_id))
    listed = run(service.list_sessions(app_name=name, user_id="test_user")).sessions
    assert [s.id for s in listed] == session_ids
    assert all(s.events == [] for s in listed)


def test_session_state(backend: Callable[[], Any]) -> None:
    name, service = app(), backend()

    async def scenario() -> Any:
        session_11 = await service.create_session(
            app_name=name, user_id="user1", state={"key11": "value11"}, session_id="session11"
        )
        await service.create_session(app_name=name, user_id="user1", state={"key12": "value12"}, session_id="session12")
        await service.create_session(app_name=name, user_id="user2", session_id="session2")
        assert session_11.state.get("key11") == "value11"
        delta = {"app:key": "value", "user:key1": "value1", "temp:key": "temp", "key11": "value11_new"}
        await service.append_event(session_11, event("user", "text", delta))
        in_memory = dict(session_11.state)
        return (
            in_memory,
            await service.get_session(app_name=name, user_id="user1", session_id="session12"),
            await service.get_session(app_name=name, user_id="user2", session_id="session2"),
            await service.get_session(app_name=name, user_id="user1", session_id="session11"),
        )

    in_memory, session_12, session_2, session_11 = run(scenario())
    assert (in_memory["app:key"], in_memory["key11"], in_memory["user:key1"]) == ("value", "value11_new", "value1")
    assert session_12.state == {"key12": "value12", "app:key": "value", "user:key1": "value1"}
    assert session_2.state == {"app:key": "value"}  # user1's state is not user2's; app state is shared
    assert session_11.state == {"key11": "value11_new", "app:key": "value", "user:key1": "value1"}


def test_create_new_session_will_merge_states(backend: Callable[[], Any]) -> None:
    name, service = app(), backend()

    async def scenario() -> Any:
        session_1 = await service.create_session(
            app_name=name, user_id="user", state={"key1": "value1"}, session_id="session1"
        )
        await service.append_event(
            session_1, event("user", "text", {"app:key": "value", "user:key1": "value1", "temp:key": "temp"})
        )
        return await service.create_session(app_name=name, user_id="user", state={}, session_id="session2")

    assert run(scenario()).state == {"app:key": "value", "user:key1": "value1"}


def test_append_event_bytes(backend: Callable[[], Any]) -> None:
    name, service = app(), backend()
    content = types.Content(role="user", parts=[types.Part.from_bytes(data=b"test_image_data", mime_type="image/png")])
    grounding = types.GroundingMetadata(search_entry_point=types.SearchEntryPoint(sdk_blob=b"test_sdk_blob"))

    async def scenario() -> Any:
        session = await service.create_session(app_name=name, user_id="user")
        await service.append_event(
            session, Event(invocation_id="invocation", author="user", content=content, grounding_metadata=grounding)
        )
        return await service.get_session(app_name=name, user_id="user", session_id=session.id)

    got = run(scenario())
    assert len(got.events) == 1
    assert (got.events[0].content, got.events[0].grounding_metadata) == (content, grounding)


def test_append_event_complete(backend: Callable[[], Any]) -> None:
    name, service = app(), backend()

    async def scenario() -> Any:
        session = await service.create_session(app_name=name, user_id="user")
        complete = Event(
            invocation_id="invocation",
            author="user",
            content=types.Content(role="user", parts=[types.Part(text="test_text")]),
            turn_complete=True,
            partial=False,
            actions=EventActions(artifact_delta={"file": 0}, transfer_to_agent="agent", escalate=True),
            long_running_tool_ids={"tool1"},
            error_code="error_code",
            error_message="error_message",
            interrupted=True,
        )
        await service.append_event(session, complete)
        return session, await service.get_session(app_name=name, user_id="user", session_id=session.id)

    appended, got = run(scenario())
    assert got.events == appended.events
    assert got.state == appended.state


def test_get_session_with_config(backend: Callable[[], Any]) -> None:
    name, service = app(), backend()

    async def scenario() -> Any:
        session = await service.create_session(app_name=name, user_id="user")
        for i in range(1, 6):
            await service.append_event(session, Event(author="user", timestamp=i))

        async def timestamps(config: GetSessionConfig | None) -> list[float]:
            got = await service.get_session(app_name=name, user_id="user", session_id=session.id, config=config)
            return [e.timestamp for e in got.events]

        return [
            await timestamps(None),
            await timestamps(GetSessionConfig(num_recent_events=3)),
            await timestamps(GetSessionConfig(after_timestamp=4.0)),
            await timestamps(GetSessionConfig(after_timestamp=50)),
            await timestamps(GetSessionConfig(after_timestamp=4.0, num_recent_events=3)),
        ]

    assert run(scenario()) == [[1, 2, 3, 4, 5], [3, 4, 5], [4, 5], [], [4, 5]]


# --- what the adapter got wrong before ---------------------------------------------------------


def test_a_state_delta_replaces_values_and_stores_none(backend: Callable[[], Any]) -> None:
    """ADK's state is a dict updated key by key: a dict value replaces the stored dict (no deep
    merge), and None is a value, not a deletion, in session, user: and app: state alike; a
    listing shows what a read shows."""
    name, service = app(), backend()
    profile = {"name": "ann", "role": "admin"}
    initial = {"profile": profile, "flag": True, "user:profile": profile, "user:flag": 1, "app:profile": profile}
    delta = {"profile": {"name": "bob"}, "flag": None, "user:profile": {"name": "bob"}, "user:flag": None}
    delta |= {"app:profile": {"tags": []}, "app:new": None}

    async def scenario() -> Any:
        session = await service.create_session(app_name=name, user_id="u1", session_id="s", state=initial)
        await service.append_event(session, event("user", "change", delta))
        got = await service.get_session(app_name=name, user_id="u1", session_id="s")
        listed = (await service.list_sessions(app_name=name, user_id="u1")).sessions
        everyone = (await service.list_sessions(app_name=name)).sessions
        user_state = await service.get_user_state(app_name=name, user_id="u1")
        return session.state, got.state, [s.state for s in listed], [s.state for s in everyone], user_state

    in_memory, got, listed, everyone, user_state = run(scenario())
    expected = {
        "profile": {"name": "bob"},
        "flag": None,
        "user:profile": {"name": "bob"},
        "user:flag": None,
        "app:profile": {"tags": []},
        "app:new": None,
    }
    assert in_memory == got == expected
    assert listed == everyone == [expected]
    assert user_state == {"profile": {"name": "bob"}, "flag": None}


def test_an_empty_user_id_round_trips(backend: Callable[[], Any]) -> None:
    name, service = app(), backend()

    async def scenario() -> Any:
        created = await service.create_session(app_name=name, user_id="", session_id="s", state={"user:lang": "fr"})
        await service.create_session(app_name=name, user_id="u1", session_id="t")
        await service.append_event(created, event("user", "hello", {"user:seen": True, "k": 1}))
        got = await service.get_session(app_name=name, user_id="", session_id="s")
        other = await service.get_session(app_name=name, user_id="u1", session_id="s")
        return (
            created.user_id,
            got,
            other,
            (await service.list_sessions(app_name=name, user_id="")).sessions,
            (await service.list_sessions(app_name=name)).sessions,
            await service.get_user_state(app_name=name, user_id=""),
        )

    created_user, got, other, empty_user, everyone, user_state = run(scenario())
    assert created_user == ""
    assert (got.user_id, got.state, [e.content.parts[0].text for e in got.events]) == (
        "",
        {"k": 1, "user:lang": "fr", "user:seen": True},
        ["hello"],
    )
    assert other is None  # the empty user's session is not another user's
    assert [(s.user_id, s.id, s.state) for s in empty_user] == [
        ("", "s", {"k": 1, "user:lang": "fr", "user:seen": True})
    ]
    assert sorted((s.user_id, s.id) for s in everyone) == [("", "s"), ("u1", "t")]
    assert user_state == {"lang": "fr", "seen": True}


def test_appending_to_a_session_that_does_not_exist_raises_session_not_found(backend: Callable[[], Any]) -> None:
    name, service = app(), backend()

    async def scenario() -> Any:
        created = await service.create_session(app_name=name, user_id="u1", session_id="gone")
        await service.delete_session(app_name=name, user_id="u1", session_id="gone")
        never = Session(id="never", app_name=name, user_id="u1")
        for session in (created, never):
            with pytest.raises(SessionNotFoundError):
                await service.append_event(session, event("user", "hello"))
        return await service.get_session(app_name=name, user_id="u1", session_id="gone")

    assert run(scenario()) is None  # nothing was written


def test_an_equal_event_appended_twice(backend: Callable[[], Any], request: pytest.FixtureRequest) -> None:
    """ADK's own services differ here: the in-memory service ignores an equal re-delivery of an
    event, its SQLite service raises (the event id is unique). The store ignores it as the
    in-memory service does (the append is keyed by the event's id); a different event that
    carries the same id is kept, as the in-memory service keeps it."""
    name, service = app(), backend()
    kind = request.node.callspec.params["backend"]

    async def scenario() -> Any:
        session = await service.create_session(app_name=name, user_id="u1", session_id="s")
        repeated = event("user", "once", {"k": 1})
        await service.append_event(session, repeated)
        if kind == "sqlite":
            with pytest.raises(sqlite3.IntegrityError):
                await service.append_event(session, repeated)
        else:
            await service.append_event(session, repeated)
            assert [e.content.parts[0].text for e in session.events] == ["once"]
        await service.append_event(session, event("agent", "other", id=repeated.id))
        return session, await service.get_session(app_name=name, user_id="u1", session_id="s")

    if kind == "sqlite":
        with pytest.raises(sqlite3.IntegrityError):
            run(scenario())
        return
    in_memory, got = run(scenario())
    assert [e.content.parts[0].text for e in got.events] == ["once", "other"]
    assert got.events == in_memory.events
    assert got.state == {"k": 1}


# --- ADK's synchronous runner: a new event loop per call ---------------------------------------


def test_the_synchronous_runner_runs_again_and_again_on_one_service(backend: Callable[[], Any]) -> None:
    """`Runner.run` runs each call on a new event loop in a thread of its own; a service whose
    connections belonged to the first loop failed on the second call."""
    name, service = app(), backend()
    model = ScriptedLlm(replies=["one", "two", "three"], seen=[])
    runner = Runner(agent=LlmAgent(name="helper", model=model), app_name=name, session_service=service)
    run(service.create_session(app_name=name, user_id="u1", session_id="conv"))
    threads = set()
    for text in ("a", "b", "c"):
        message = types.Content(role="user", parts=[types.Part(text=text)])
        for _ in runner.run(user_id="u1", session_id="conv", new_message=message):
            threads.add(threading.get_ident())
    stored = run(service.get_session(app_name=name, user_id="u1", session_id="conv"))
    assert model.seen[-1] == ["a", "one", "b", "two", "c"]
    assert [e.content.parts[0].text for e in stored.events] == ["a", "one", "b", "two", "c", "three"]


def test_one_service_serves_two_asyncio_runs_and_a_thread(live_api: Any) -> None:
    client = AsyncAgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace)
    service, name = AgentSessionsService(client), app()
    session = run(service.create_session(app_name=name, user_id="u1", session_id=f"s-{uuid.uuid4().hex[:6]}"))
    run(service.append_event(session, event("user", "first loop")))
    run(service.append_event(session, event("user", "second loop")))
    outcome: list[Any] = []
    worker = threading.Thread(
        target=lambda: outcome.append(run(service.append_event(session, event("user", "thread"))))
    )
    worker.start()
    worker.join()
    got = run(service.get_session(app_name=name, user_id="u1", session_id=session.id))
    assert [e.content.parts[0].text for e in got.events] == ["first loop", "second loop", "thread"]
