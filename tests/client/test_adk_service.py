"""The Google ADK adapter.

A conformance suite from ADK's documented `BaseSessionService` behaviour, run against ADK's
own InMemorySessionService as the reference and against this store: they must agree. Then
what only a persistent store must do (a concurrent writer is detected), and ADK's Runner with
a scripted model holding a conversation that a second process resumes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import Field

pytest.importorskip("google.adk")

from google.adk.agents import LlmAgent
from google.adk.errors._stale_session_error import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService
from google.adk.sessions.base_session_service import GetSessionConfig
from google.genai import types

from agent_sessions_client import AsyncAgentSessionsClient
from agent_sessions_client.integrations.adk import AgentSessionsService

pytestmark = [pytest.mark.integration]


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


@pytest.fixture(params=["reference", "agent_sessions"])
def service_factory(request: pytest.FixtureRequest, live_api: Any) -> Callable[[], Any]:
    shared = InMemorySessionService()

    def make() -> Any:
        if request.param == "reference":
            return shared  # the in-memory service keeps its state in the object
        return AgentSessionsService(AsyncAgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace))

    return make


def event(author: str, text: str, delta: dict[str, Any] | None = None, **fields: Any) -> Event:
    return Event(
        invocation_id=f"inv-{uuid.uuid4().hex[:6]}",
        author=author,
        content=types.Content(role="user" if author == "user" else "model", parts=[types.Part(text=text)]),
        actions=EventActions(state_delta=delta or {}),
        **fields,
    )


def app() -> str:
    return f"app-{uuid.uuid4().hex[:8]}"


def test_create_get_and_duplicate(service_factory: Callable[[], Any]) -> None:
    name = app()

    async def scenario() -> Any:
        service = service_factory()
        created = await service.create_session(
            app_name=name,
            user_id="u1",
            session_id="s1",
            state={"k": 1, "app:theme": "dark", "user:lang": "fr", "temp:x": 9},
        )
        got = await service.get_session(app_name=name, user_id="u1", session_id="s1")
        missing = await service.get_session(app_name=name, user_id="u1", session_id="nope")
        with pytest.raises(AlreadyExistsError):
            await service.create_session(app_name=name, user_id="u1", session_id="s1")
        return created, got, missing

    created, got, missing = run(scenario())
    expected_state = {"k": 1, "app:theme": "dark", "user:lang": "fr"}  # temp: is never stored
    assert (created.id, created.app_name, created.user_id, created.state) == ("s1", name, "u1", expected_state)
    assert (got.id, got.state, got.events) == ("s1", expected_state, [])
    assert missing is None


def test_events_round_trip_and_state_deltas_are_scoped(service_factory: Callable[[], Any]) -> None:
    name = app()

    async def scenario() -> Any:
        service = service_factory()
        one = await service.create_session(app_name=name, user_id="u1", session_id="a")
        two = await service.create_session(app_name=name, user_id="u1", session_id="b")
        other_user = await service.create_session(app_name=name, user_id="u2", session_id="c")
        sent = [
            event("user", "hello", {"count": 1, "user:name": "Ada", "app:version": 2, "temp:scratch": "x"}),
            event("agent", "hi Ada", {"count": 2}, branch="root", custom_metadata={"trace": [1, 2]}),
        ]
        for item in sent:
            await service.append_event(one, item)
        in_memory = dict(one.state)
        return (
            sent,
            in_memory,
            await service.get_session(app_name=name, user_id="u1", session_id="a"),
            await service.get_session(app_name=name, user_id="u1", session_id=two.id),
            await service.get_session(app_name=name, user_id="u2", session_id=other_user.id),
        )

    sent, in_memory, got_one, got_two, got_other = run(scenario())
    assert in_memory["temp:scratch"] == "x"  # visible for the invocation ...
    assert "temp:scratch" not in got_one.state  # ... never stored
    assert got_one.state == {"count": 2, "user:name": "Ada", "app:version": 2}
    assert [e.model_dump() for e in got_one.events] == [
        e.model_copy(
            update={
                "actions": e.actions.model_copy(
                    update={
                        "state_delta": {k: v for k, v in e.actions.state_delta.items() if not k.startswith("temp:")}
                    }
                )
            }
        ).model_dump()
        for e in sent
    ]  # every field round-trips (temp: trimmed from the stored delta, as ADK does)
    assert got_two.state == {"user:name": "Ada", "app:version": 2}  # user: and app: shared by the user's sessions
    assert got_other.state == {"app:version": 2}  # app: shared by every user of the app


def test_get_session_config_filters_events(service_factory: Callable[[], Any]) -> None:
    name = app()

    async def scenario() -> Any:
        service = service_factory()
        session = await service.create_session(app_name=name, user_id="u1", session_id="s")
        events = [event("user", f"m{n}", timestamp=1000.0 + n) for n in range(5)]
        for item in events:
            await service.append_event(session, item)

        async def texts(config: GetSessionConfig) -> list[str]:
            got = await service.get_session(app_name=name, user_id="u1", session_id="s", config=config)
            return [e.content.parts[0].text for e in got.events]

        return (
            await texts(GetSessionConfig(num_recent_events=2)),
            await texts(GetSessionConfig(num_recent_events=0)),
            await texts(GetSessionConfig(after_timestamp=1003.0)),
            await texts(GetSessionConfig(num_recent_events=3, after_timestamp=1003.0)),
        )

    assert run(scenario()) == (["m3", "m4"], [], ["m3", "m4"], ["m3", "m4"])


def test_list_and_delete(service_factory: Callable[[], Any]) -> None:
    name = app()

    async def scenario() -> Any:
        service = service_factory()
        for user, sid in (("u1", "x"), ("u1", "y"), ("u2", "z")):
            await service.create_session(app_name=name, user_id=user, session_id=sid, state={"who": user})
        mine = await service.list_sessions(app_name=name, user_id="u1")
        everyone = await service.list_sessions(app_name=name)
        await service.delete_session(app_name=name, user_id="u1", session_id="x")
        await service.delete_session(app_name=name, user_id="u1", session_id="x")  # again: nothing to do
        after = await service.list_sessions(app_name=name, user_id="u1")
        gone = await service.get_session(app_name=name, user_id="u1", session_id="x")
        return mine, everyone, after, gone

    mine, everyone, after, gone = run(scenario())
    assert sorted(s.id for s in mine.sessions) == ["x", "y"] and all(not s.events for s in mine.sessions)
    assert sorted((s.user_id, s.id) for s in everyone.sessions) == [("u1", "x"), ("u1", "y"), ("u2", "z")]
    assert {s.id: s.state for s in everyone.sessions}["z"] == {"who": "u2"}
    assert [s.id for s in after.sessions] == ["y"] and gone is None


def test_a_concurrent_writer_is_detected_not_overwritten(live_api: Any) -> None:
    async def scenario() -> Any:
        service = AgentSessionsService(AsyncAgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace))
        name = app()
        await service.create_session(app_name=name, user_id="u1", session_id="s")
        first = await service.get_session(app_name=name, user_id="u1", session_id="s")
        second = await service.get_session(app_name=name, user_id="u1", session_id="s")
        await service.append_event(first, event("user", "from the first writer"))
        with pytest.raises(StaleSessionError):
            await service.append_event(second, event("user", "from a stale copy"))
        got = await service.get_session(app_name=name, user_id="u1", session_id="s")
        return [e.content.parts[0].text for e in got.events]

    assert run(scenario()) == ["from the first writer"]


# --- ADK's runner ------------------------------------------------------------------------------


class ScriptedLlm(BaseLlm):
    """Answers from a script; records the conversation ADK sent (history included)."""

    model: str = "scripted"
    replies: list[str] = Field(default_factory=list)
    seen: list[list[str]] = Field(default_factory=list)

    async def generate_content_async(self, llm_request: Any, stream: bool = False) -> Any:
        self.seen.append([part.text for content in llm_request.contents for part in content.parts if part.text])
        yield LlmResponse(content=types.Content(role="model", parts=[types.Part(text=self.replies.pop(0))]))


RESUME = """
import asyncio, json, os, sys
sys.path[:0] = [os.environ["CLIENT_PATH"], os.environ["TESTS_PATH"]]
from google.adk.agents import LlmAgent
from google.adk.runners import Runner
from google.genai import types
from agent_sessions_client import AsyncAgentSessionsClient
from agent_sessions_client.integrations.adk import AgentSessionsService
from client.test_adk_service import ScriptedLlm

async def main():
    model = ScriptedLlm(replies=["You are Ada."], seen=[])
    service = AgentSessionsService(AsyncAgentSessionsClient())
    runner = Runner(agent=LlmAgent(name="helper", model=model), app_name=os.environ["APP"], session_service=service)
    message = types.Content(role="user", parts=[types.Part(text="Who am I?")])
    async for _ in runner.run_async(user_id="u1", session_id="conv", new_message=message):
        pass
    print(json.dumps(model.seen[-1]))

asyncio.run(main())
"""


def test_the_runner_keeps_a_conversation_a_second_process_resumes(live_api: Any) -> None:
    name = app()
    model = ScriptedLlm(replies=["Hello Ada!", "Noted."], seen=[])

    async def first_process() -> Any:
        service = AgentSessionsService(AsyncAgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace))
        runner = Runner(agent=LlmAgent(name="helper", model=model), app_name=name, session_service=service)
        await service.create_session(app_name=name, user_id="u1", session_id="conv")
        for text in ("I am Ada.", "Remember it."):
            message = types.Content(role="user", parts=[types.Part(text=text)])
            async for _ in runner.run_async(user_id="u1", session_id="conv", new_message=message):
                pass
        return await service.get_session(app_name=name, user_id="u1", session_id="conv")

    stored = run(first_process())
    assert model.seen[1] == ["I am Ada.", "Hello Ada!", "Remember it."]
    assert [e.content.parts[0].text for e in stored.events] == ["I am Ada.", "Hello Ada!", "Remember it.", "Noted."]
    from client.conftest import resume_in_another_process  # the resuming process imports this module

    resumed = resume_in_another_process(live_api, RESUME, APP=name)
    assert resumed == [
        "I am Ada.",
        "Hello Ada!",
        "Remember it.",
        "Noted.",
        "Who am I?",
    ]
