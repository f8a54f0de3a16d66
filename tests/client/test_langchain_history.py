"""LangChain's chat message history on the store, against the local runtime: every message
type round-trips exactly, sync and async; `clear` is the store's rewind; a long history and a
large message are read back whole; what other clients appended reads as LangChain messages."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("langchain_core")

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    message_to_dict,
)

from agent_sessions_client import AgentSessionsClient, AsyncAgentSessionsClient
from agent_sessions_client.integrations.langchain import AgentSessionsChatMessageHistory

pytestmark = [pytest.mark.integration]


def every_kind() -> list[BaseMessage]:
    return [
        SystemMessage("You are terse.", id="sys-1", additional_kwargs={"cache": {"type": "ephemeral"}}),
        HumanMessage(
            [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
            id="human-1",
            name="ada",
        ),
        AIMessage(
            "",
            id="ai-1",
            tool_calls=[{"name": "lookup", "args": {"q": "png", "deep": [1, 2, {"x": None}]}, "id": "call-1"}],
            invalid_tool_calls=[{"name": "broken", "args": "{not json", "id": "call-2", "error": "bad json"}],
            usage_metadata={"input_tokens": 40, "output_tokens": 7, "total_tokens": 47},
            response_metadata={"model_name": "m-1", "finish_reason": "tool_calls", "logprobs": None},
            additional_kwargs={"refusal": None},
        ),
        ToolMessage(
            "A tiny PNG.", tool_call_id="call-1", name="lookup", artifact={"bytes": 8}, status="success", id="t-1"
        ),
        ToolMessage("failed", tool_call_id="call-2", status="error", id="t-2"),
        FunctionMessage("42", name="answer", id="f-1"),
        ChatMessage("Looks fine.", role="critic", id="c-1"),
        AIMessage(
            "It is a 1x1 PNG. Ünïcödé ✓ 🚀",
            id="ai-2",
            usage_metadata={"input_tokens": 60, "output_tokens": 12, "total_tokens": 72},
        ),
    ]


def dicts(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    return [message_to_dict(message) for message in messages]


@pytest.fixture
def clients(live_api: Any) -> Iterator[tuple[AgentSessionsClient, AsyncAgentSessionsClient]]:
    client = AgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace)
    yield client, AsyncAgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace)
    client.close()


def test_every_message_type_round_trips_exactly(clients: Any) -> None:
    client, _ = clients
    history = AgentSessionsChatMessageHistory(f"chat-{uuid.uuid4().hex[:8]}", client)
    assert history.messages == []
    given = every_kind()
    history.add_messages(given[:3])
    history.add_message(given[3])
    history.add_messages(given[4:])
    assert dicts(history.messages) == dicts(given)
    assert [type(m) for m in history.messages] == [type(m) for m in given]
    stored = client.get_history(history.session_id, limit=50).messages
    assert [m.role for m in stored] == ["system", "user", "assistant", "tool", "tool", "tool", "assistant", "assistant"]
    assert client.get_session(history.session_id).stats.total_tokens == 7 + 12  # AI output tokens


def test_the_async_forms_and_clear_as_a_rewind(clients: Any) -> None:
    client, async_client = clients
    session_id = f"achat-{uuid.uuid4().hex[:8]}"
    history = AgentSessionsChatMessageHistory(session_id, client, async_client)

    async def scenario() -> tuple[list[BaseMessage], list[BaseMessage]]:
        await history.aadd_messages(every_kind())
        before = await history.aget_messages()
        await history.aclear()
        return before, await history.aget_messages()

    before, after = asyncio.run(scenario())
    assert dicts(before) == dicts(every_kind())
    assert after == []
    kept = client.get_session(session_id)
    assert kept.message_count == 0 and kept.status == "active"  # the session stays; its messages go
    history.add_user_message("again")
    assert dicts(history.messages) == dicts([HumanMessage("again")])
    history.clear()
    AgentSessionsChatMessageHistory(f"never-{uuid.uuid4().hex[:8]}", client).clear()  # no session: nothing to do


def test_a_message_larger_than_a_store_message_round_trips(clients: Any) -> None:
    client, _ = clients
    history = AgentSessionsChatMessageHistory(f"big-{uuid.uuid4().hex[:8]}", client)
    page = "".join(chr(0x20 + (i * 7919) % 90) for i in range(900_000))
    given = [
        HumanMessage("fetch it", id="h"),
        ToolMessage(page, tool_call_id="call-1", id="t"),
        AIMessage("done", id="a"),
    ]
    history.add_messages(given)
    assert dicts(history.messages) == dicts(given)


def test_a_long_history_is_stored_in_order_and_read_in_pages(clients: Any) -> None:
    client, _ = clients
    history = AgentSessionsChatMessageHistory(f"long-{uuid.uuid4().hex[:8]}", client)
    given: list[BaseMessage] = []
    for turn in range(5_000):
        given += [HumanMessage(f"q{turn}", id=f"h{turn}"), AIMessage(f"a{turn}", id=f"a{turn}")]
    history.add_messages(given)
    assert client.get_session(history.session_id).message_count == 10_000
    assert dicts(history.messages) == dicts(given)


def test_what_other_clients_appended_reads_as_messages_of_its_role(clients: Any) -> None:
    client, _ = clients
    session_id = f"mixed-{uuid.uuid4().hex[:8]}"
    client.create_session(session_id=session_id)
    client.append_messages(
        session_id,
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "tool", "content": "{}", "content_type": "tool_result", "tool_name": "search"},
        ],
    )
    history = AgentSessionsChatMessageHistory(session_id, client)
    history.add_ai_message("From LangChain")
    read = history.messages
    assert [type(m).__name__ for m in read] == [
        "SystemMessage",
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
    ]
    assert [m.content for m in read] == ["Be brief.", "Hi", "Hello", "{}", "From LangChain"]


def test_messages_past_one_megabyte_of_history_all_come_back(clients: Any) -> None:
    # DynamoDB reads 1 MB per query: eight messages of 200 KB make the first page come back
    # short, and the history must go on past it (it used to end there)
    client, _ = clients
    history = AgentSessionsChatMessageHistory(f"wide-{uuid.uuid4().hex[:8]}", client)
    given = [HumanMessage(f"{n} " + "w" * 200_000, id=f"w{n}") for n in range(8)]
    history.add_messages(given)
    assert dicts(history.messages) == dicts(given)
