"""The OpenAI Agents SDK adapter.

A conformance suite written from the SDK's documented `Session` protocol (what a backend must
do), run against the SDK's own SQLite session as the reference and against this store: they
must agree. Then the SDK's runner, with a scripted model and no network, holds a multi-turn
conversation whose session lives in the store, and a second process resumes it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

pytest.importorskip("agents")

from agents import Agent, Runner, SQLiteSession, set_tracing_disabled
from agents.items import ModelResponse
from agents.models.interface import Model
from agents.usage import Usage
from openai.types.responses import ResponseOutputMessage, ResponseOutputText

from agent_sessions_client import AsyncAgentSessionsClient
from agent_sessions_client.integrations.openai_agents import AgentSessionsSession

pytestmark = [pytest.mark.integration]
set_tracing_disabled(True)

ITEMS = [
    {"role": "user", "content": "What is the weather in Paris?"},
    {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": '{"city": "Paris"}'},
    {"type": "function_call_output", "call_id": "c1", "output": "18°C, clear"},
    {"role": "assistant", "content": [{"type": "output_text", "text": "18°C and clear.", "annotations": []}]},
    {"role": "user", "content": 'Thanks — and ünïcode, emoji 🌦, "quotes"\n'},
]


def run(coroutine: Awaitable[Any]) -> Any:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


@pytest.fixture(params=["reference", "agent_sessions"])
def make_session(request: pytest.FixtureRequest, live_api: Any) -> Callable[[], Any]:
    """A factory of fresh sessions of the backend under test (a new client per event loop)."""

    def make() -> Any:
        session_id = f"conv-{uuid.uuid4().hex[:12]}"
        if request.param == "reference":
            return SQLiteSession(session_id)
        client = AsyncAgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace)
        return AgentSessionsSession(session_id, client=client)

    return make


def test_a_new_session_is_empty(make_session: Callable[[], Any]) -> None:
    session = make_session()

    async def scenario() -> Any:
        return await session.get_items(), await session.get_items(limit=3), await session.pop_item()

    assert run(scenario()) == ([], [], None)


def test_items_come_back_exactly_as_given_in_order(make_session: Callable[[], Any]) -> None:
    session = make_session()

    async def scenario() -> Any:
        await session.add_items(ITEMS[:2])
        await session.add_items([])
        await session.add_items(ITEMS[2:])
        return await session.get_items()

    assert run(scenario()) == ITEMS


def test_limit_gives_the_latest_items_oldest_first(make_session: Callable[[], Any]) -> None:
    session = make_session()

    async def scenario() -> Any:
        await session.add_items(ITEMS)
        return [await session.get_items(limit=n) for n in (1, 2, 5, 50, 0)]

    assert run(scenario()) == [ITEMS[-1:], ITEMS[-2:], ITEMS, ITEMS, []]


def test_pop_item_removes_and_returns_the_most_recent(make_session: Callable[[], Any]) -> None:
    session = make_session()

    async def scenario() -> Any:
        await session.add_items(ITEMS[:3])
        popped = [await session.pop_item(), await session.pop_item()]
        remaining = await session.get_items()
        await session.add_items([ITEMS[4]])
        return popped, remaining, await session.get_items()

    popped, remaining, after = run(scenario())
    assert popped == [ITEMS[2], ITEMS[1]]
    assert remaining == ITEMS[:1]
    assert after == [ITEMS[0], ITEMS[4]]


def test_clear_session_removes_everything(make_session: Callable[[], Any]) -> None:
    session = make_session()

    async def scenario() -> Any:
        await session.add_items(ITEMS)
        await session.clear_session()
        empty = await session.get_items()
        await session.add_items(ITEMS[:1])
        return empty, await session.get_items(), await session.pop_item(), await session.pop_item()

    assert run(scenario()) == ([], ITEMS[:1], ITEMS[0], None)


def test_concurrent_pops_remove_exactly_one_item_each(live_api: Any) -> None:
    """The store's rewind pops exactly one message per call, however many run at once."""

    async def scenario() -> Any:
        async with AsyncAgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace) as client:
            session = AgentSessionsSession(f"conv-{uuid.uuid4().hex[:12]}", client=client)
            items = [{"role": "user", "content": f"m{n}"} for n in range(12)]
            await session.add_items(items)
            popped = await asyncio.gather(*(session.pop_item() for _ in range(8)))
            return items, popped, await session.get_items()

    items, popped, remaining = run(scenario())
    assert {item["content"] for item in popped} == {f"m{n}" for n in range(4, 12)}  # each a different one
    assert remaining == items[:4]


# --- the SDK's runner ------------------------------------------------------------------------


class ScriptedModel(Model):
    """Answers from a script and records the input the runner gave it (history included)."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.inputs: list[Any] = []

    async def get_response(self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any) -> ModelResponse:
        self.inputs.append(input)
        text = self.replies.pop(0)
        message = ResponseOutputMessage(
            id=f"msg_{uuid.uuid4().hex[:8]}",
            type="message",
            role="assistant",
            status="completed",
            content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
        )
        return ModelResponse(output=[message], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


def texts(model_input: Any) -> list[str]:
    """The plain texts of a model input (user strings and assistant output_text parts)."""
    found = []
    for item in model_input if isinstance(model_input, list) else [{"content": model_input}]:
        content = item.get("content")
        if isinstance(content, str):
            found.append(content)
        elif isinstance(content, list):
            found += [part.get("text", "") for part in content if isinstance(part, dict)]
    return found


RESUME = """
import asyncio, json, os, sys
sys.path[:0] = [os.environ["CLIENT_PATH"], os.environ["TESTS_PATH"]]
from agents import Agent, Runner, set_tracing_disabled
from agent_sessions_client import AsyncAgentSessionsClient
from agent_sessions_client.integrations.openai_agents import AgentSessionsSession
from client.test_openai_agents_session import ScriptedModel, texts
set_tracing_disabled(True)

async def main():
    model = ScriptedModel(["You are Ada, and you asked about Paris."])
    async with AsyncAgentSessionsClient() as client:
        session = AgentSessionsSession(os.environ["CONVERSATION"], client=client)
        result = await Runner.run(Agent(name="a", model=model), "Remind me of everything.", session=session)
        print(json.dumps({"seen": texts(model.inputs[0]), "answer": result.final_output}))

asyncio.run(main())
"""


def test_the_runner_keeps_a_conversation_a_second_process_resumes(live_api: Any) -> None:
    conversation = f"conv-{uuid.uuid4().hex[:12]}"
    model = ScriptedModel(["Hello Ada!", "Paris is sunny."])

    async def first_process() -> Any:
        async with AsyncAgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace) as client:
            session = AgentSessionsSession(conversation, client=client)
            agent = Agent(name="a", instructions="Be brief.", model=model)
            await Runner.run(agent, "My name is Ada.", session=session)
            await Runner.run(agent, "Weather in Paris?", session=session)
            return await session.get_items()

    stored = run(first_process())
    assert texts(model.inputs[1]) == ["My name is Ada.", "Hello Ada!", "Weather in Paris?"]
    assert texts(stored) == ["My name is Ada.", "Hello Ada!", "Weather in Paris?", "Paris is sunny."]
    from client.conftest import resume_in_another_process  # the resuming process imports this module

    resumed = resume_in_another_process(live_api, RESUME, CONVERSATION=conversation)
    seen = resumed["seen"]
    assert seen == [
        "My name is Ada.",
        "Hello Ada!",
        "Weather in Paris?",
        "Paris is sunny.",
        "Remind me of everything.",
    ]
    session = live_api.request("GET", f"/v1/agents/sessions/{conversation}").body
    assert session["message_count"] == 6  # three turns, each the input and the answer
