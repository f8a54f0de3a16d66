"""The OpenAI Agents SDK: the adapter behaves as the SDK's own `SQLiteSession` does.

Every test runs with the same assertions on `SQLiteSession` (the reference, on a file) and on
this store. They are the SDK's published session tests (`tests/memory/test_session.py` and
`test_session_limit.py`: settings, limits, messages that hold no item, every runner method)
ported to this harness. One client serves every event loop a test makes: `Runner.run_sync`
runs in another thread with a loop of its own, and each step of a test is an `asyncio.run`.
Where the store must differ (a message another client appended is never removed by
`pop_item`), the test says so and asserts both behaviours."""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("agents")

from agents import Agent, RunConfig, Runner, SQLiteSession, set_tracing_disabled
from agents.memory import SessionSettings
from agents.testing import ScriptedModel
from openai.types.responses import ResponseOutputMessage, ResponseOutputText

from agent_sessions_client import AgentSessionsClient, AsyncAgentSessionsClient
from agent_sessions_client.integrations.openai_agents import AgentSessionsSession

pytestmark = [pytest.mark.integration]
set_tracing_disabled(True)

RUNNER_METHODS = ["run", "run_sync", "run_streamed"]


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def text_message(content: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        id="1",
        type="message",
        role="assistant",
        content=[ResponseOutputText(text=content, type="output_text", annotations=[], logprobs=[])],
        status="completed",
    )


async def run_agent(runner_method: str, agent: Agent[Any], input_data: Any, **kwargs: Any) -> Any:
    """The SDK's own helper: `run_sync` runs in a thread with its own event loop."""
    if runner_method == "run":
        return await Runner.run(agent, input_data, **kwargs)
    if runner_method == "run_sync":
        return await asyncio.to_thread(Runner.run_sync, agent, input_data, **kwargs)
    result = Runner.run_streamed(agent, input_data, **kwargs)
    async for _ in result.stream_events():
        pass
    return result


class Backend:
    """Sessions of one backend, and a way to put into one a message that holds no item."""

    def __init__(self, kind: str, live_api: Any, tmp_path: Path) -> None:
        self.kind = kind
        self.db_path = tmp_path / "sessions.db"
        self.api = live_api
        self.client = AsyncAgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace)

    def session(self, session_settings: Any = None, session_id: str | None = None) -> Any:
        session_id = session_id or f"conv-{uuid.uuid4().hex[:12]}"
        if self.kind == "sqlite":
            return SQLiteSession(session_id, self.db_path, session_settings=session_settings)
        return AgentSessionsSession(session_id, client=self.client, session_settings=session_settings)

    def append_foreign(self, session: Any, text: str) -> None:
        """A message that is not an item's JSON: in SQLite a row it cannot decode (as the SDK's
        tests write it), in the store a message another client appended."""
        if self.kind == "sqlite":
            with session._locked_connection() as connection:
                connection.execute(
                    f"INSERT INTO {session.messages_table} (session_id, message_data) VALUES (?, ?)",
                    (session.session_id, text),
                )
                connection.commit()
            return
        with AgentSessionsClient(self.api.base_url, self.api.key, self.api.namespace) as client:
            client.append_message(session.session_id, text, role="assistant")


@pytest.fixture(params=["sqlite", "agent_sessions"])
def backend(request: pytest.FixtureRequest, live_api: Any, tmp_path: Path) -> Backend:
    return Backend(request.param, live_api, tmp_path)


# --- settings ------------------------------------------------------------------------------------


def test_session_settings_default(backend: Backend) -> None:
    session = backend.session()
    assert isinstance(session.session_settings, SessionSettings)
    assert session.session_settings.limit is None


def test_session_settings_constructor(backend: Backend) -> None:
    assert backend.session(SessionSettings(limit=5)).session_settings.limit == 5


def test_session_settings_constructor_normalizes_dictionary(backend: Backend) -> None:
    session = backend.session({"limit": 0})
    assert isinstance(session.session_settings, SessionSettings)
    assert session.session_settings.limit == 0
    assert session.session_settings.resolve({"limit": 4}).limit == 4


def test_session_settings_rejects_unknown_dictionary_fields(backend: Backend) -> None:
    with pytest.raises(TypeError, match="Unknown session settings: limitt"):
        backend.session({"limitt": 1})


def test_get_items_uses_session_settings_limit(backend: Backend) -> None:
    for settings in (SessionSettings(limit=3), {"limit": 3}):
        session = backend.session(settings)
        run(session.add_items([{"role": "user", "content": f"Message {i}"} for i in range(5)]))
        assert [item["content"] for item in run(session.get_items())] == ["Message 2", "Message 3", "Message 4"]


def test_get_items_explicit_limit_overrides_session_settings(backend: Backend) -> None:
    session = backend.session(SessionSettings(limit=5))
    run(session.add_items([{"role": "user", "content": f"Message {i}"} for i in range(10)]))
    assert [item["content"] for item in run(session.get_items(limit=2))] == ["Message 8", "Message 9"]


def test_get_items_with_limit(backend: Backend) -> None:
    session = backend.session()
    items = [
        {"role": r, "content": f"{w} {n}"}
        for n in (1, 2, 3)
        for r, w in (("user", "Message"), ("assistant", "Response"))
    ]
    run(session.add_items(items))
    assert run(session.get_items()) == items
    assert [run(session.get_items(limit=n)) for n in (2, 4, 10, 0)] == [items[-2:], items[-4:], items, []]


# --- messages that hold no item ------------------------------------------------------------------


def test_get_items_skips_a_message_that_holds_no_item_and_limit_counts_items(backend: Backend) -> None:
    session = backend.session()
    run(session.add_items([{"role": "user", "content": f"valid {n}"} for n in range(3)]))
    backend.append_foreign(session, "not valid json {{{")
    assert [item["content"] for item in run(session.get_items(limit=2))] == ["valid 1", "valid 2"]
    assert [item["content"] for item in run(session.get_items())] == ["valid 0", "valid 1", "valid 2"]
    limited = backend.session(SessionSettings(limit=2), session_id=session.session_id)
    assert [item["content"] for item in run(limited.get_items())] == ["valid 1", "valid 2"]


def test_pop_item_when_the_newest_message_holds_no_item(backend: Backend) -> None:
    """A documented difference. SQLite treats a row it cannot decode as corrupt: pop_item drops
    it and pops the item below. In the store such a message is another client's (the session is
    shared), so pop_item removes nothing it cannot return: it answers None and leaves the
    message and the items below it in place. Neither raises."""
    session = backend.session()
    run(session.add_items([{"role": "user", "content": "valid"}]))
    backend.append_foreign(session, "a note another client appended")
    popped = run(session.pop_item())
    if backend.kind == "sqlite":
        assert popped == {"role": "user", "content": "valid"}
        assert run(session.get_items()) == []
    else:
        assert popped is None
        assert run(session.get_items()) == [{"role": "user", "content": "valid"}]
        history = backend.api.request("GET", f"/v1/agents/sessions/{session.session_id}/history").body
        assert [m["content"] for m in history["messages"]][-1] == "a note another client appended"


# --- the runner: every method, settings from the session and from RunConfig ---------------------


@pytest.mark.parametrize("runner_method", RUNNER_METHODS)
def test_session_memory_basic_functionality(backend: Backend, runner_method: str) -> None:
    session = backend.session()
    model = ScriptedModel()
    agent = Agent(name="test", model=model)

    async def scenario() -> Any:
        model.enqueue([text_message("San Francisco")])
        first = await run_agent(runner_method, agent, "What city is the Golden Gate Bridge in?", session=session)
        model.enqueue([text_message("California")])
        second = await run_agent(runner_method, agent, "What state is it in?", session=session)
        return first.final_output, second.final_output, model.calls[-1].input, await session.get_items()

    first, second, last_input, stored = run(scenario())
    assert (first, second) == ("San Francisco", "California")
    assert [item.get("content") for item in last_input][0::2] == [
        "What city is the Golden Gate Bridge in?",
        "What state is it in?",
    ]
    assert len(stored) == 4


@pytest.mark.parametrize("runner_method", RUNNER_METHODS)
def test_session_limit_parameter(backend: Backend, runner_method: str) -> None:
    session = backend.session()
    model = ScriptedModel()
    agent = Agent(name="test", model=model)

    async def scenario() -> Any:
        for n in (1, 2, 3):
            model.enqueue([text_message(f"Reply {n}")])
            await run_agent(runner_method, agent, f"Message {n}", session=session)
        everything = await session.get_items()
        model.enqueue([text_message("Reply 4")])
        config = RunConfig(session_settings=SessionSettings(limit=2))
        await run_agent(runner_method, agent, "Message 4", session=session, run_config=config)
        return everything, model.calls[-1].input

    everything, last_input = run(scenario())
    assert len(everything) == 6
    assert len(last_input) == 3
    assert last_input[0].get("content") == "Message 3"
    assert last_input[1].get("content")[0]["text"] == "Reply 3"
    assert last_input[2].get("content") == "Message 4"


def test_a_session_with_dictionary_settings_runs(backend: Backend) -> None:
    """Settings given as a dict limit what the runner reads (a dict kept as a dict broke the
    runner with AttributeError)."""
    session = backend.session({"limit": 1})
    model = ScriptedModel()
    agent = Agent(name="test", model=model)

    async def scenario() -> Any:
        for n in (1, 2):
            model.enqueue([text_message(f"Reply {n}")])
            await Runner.run(agent, f"Message {n}", session=session)
        return model.calls[-1].input

    last_input = run(scenario())
    assert [item.get("content") for item in last_input][-1] == "Message 2"
    assert last_input[0].get("content")[0]["text"] == "Reply 1"  # one item of history
    assert len(last_input) == 2


# --- any loop, any thread --------------------------------------------------------------------------


def test_run_sync_from_two_threads_and_two_asyncio_runs_share_one_session(backend: Backend) -> None:
    session = backend.session()
    model = ScriptedModel()
    agent = Agent(name="test", model=model)
    answers: list[str] = []

    def in_a_thread(text: str) -> None:
        model.enqueue([text_message(f"re: {text}")])
        answers.append(Runner.run_sync(agent, text, session=session).final_output)

    for text in ("thread one", "thread two"):
        worker = threading.Thread(target=in_a_thread, args=(text,))
        worker.start()
        worker.join()
    for text in ("loop one", "loop two"):
        model.enqueue([text_message(f"re: {text}")])
        answers.append(run(Runner.run(agent, text, session=session)).final_output)

    assert answers == ["re: thread one", "re: thread two", "re: loop one", "re: loop two"]
    stored = run(session.get_items())
    assert [item.get("content") for item in stored][0::2] == ["thread one", "thread two", "loop one", "loop two"]
    assert len(model.calls[-1].input) == 7  # every earlier turn, then the new input


def test_one_client_serves_two_loops_in_two_threads_at_once(live_api: Any) -> None:
    client = AsyncAgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace)
    conversation = f"conv-{uuid.uuid4().hex[:12]}"
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def writer(name: str) -> None:
        async def scenario() -> None:
            session = AgentSessionsSession(conversation, client=client)
            barrier.wait()
            for n in range(10):
                await session.add_items([{"role": "user", "content": f"{name} {n}"}])

        try:
            run(scenario())
        except BaseException as error:  # reported below, not lost in the thread
            failures.append(error)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    stored = run(AgentSessionsSession(conversation, client=client).get_items())
    contents = [item["content"] for item in stored]
    assert sorted(contents) == sorted(f"{name} {n}" for name in ("a", "b") for n in range(10))
    for name in ("a", "b"):  # each writer's items in its own order
        assert [c for c in contents if c.startswith(name)] == [f"{name} {n}" for n in range(10)]
