"""Images and files through every adapter (DESIGN §9, §11), on the live API with its S3: an
OpenAI Agents item, an ADK event and a Strands message holding a 300 KiB, a 5 MiB and a 20 MiB
image come back equal to what was stored, built from the frameworks' own types; the store keeps
the bytes as attachments (its messages stay small); a runner whose user sends a photo keeps
going, the model seeing the same photo at the next turn."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid
from typing import Any

import pytest

pytest.importorskip("agents")
pytest.importorskip("google.adk")
pytest.importorskip("strands")

from agents import Agent, Runner, set_tracing_disabled
from google.adk.events.event import Event
from google.adk.sessions import InMemorySessionService
from google.genai import types
from openai.types.responses import EasyInputMessageParam, ResponseInputFileParam, ResponseInputImageParam
from strands.types.session import Session, SessionAgent, SessionMessage, SessionType

from agent_sessions_client import AgentSessionsClient, AsyncAgentSessionsClient
from agent_sessions_client.integrations import adk as adk_adapter
from agent_sessions_client.integrations.adk import AgentSessionsService
from agent_sessions_client.integrations.openai_agents import AgentSessionsSession
from agent_sessions_client.integrations.strands import AgentSessionsRepository, agent_store_id
from client.test_openai_agents_session import ScriptedModel

pytestmark = [pytest.mark.integration]
set_tracing_disabled(True)

KIB = 1024
MIB = 1024 * KIB
SIZES = [300 * KIB, 5 * MIB, 20 * MIB]


def photo(size: int, seed: int = 1) -> bytes:
    """Bytes that do not compress, like a photo's."""
    out = bytearray()
    block = hashlib.sha256(f"{seed}".encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:size])


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def small_messages_with_files(client: AgentSessionsClient, store_id: str, sizes: list[int]) -> None:
    """What the store keeps: small messages whose attachments hold the bytes."""
    page = client.get_history(store_id, limit=200)
    files = sorted(a.size for m in page.messages for a in m.attachments)
    assert files == sorted(sizes)
    assert all(len(m.content) < 4 * KIB for m in page.messages)


@pytest.mark.parametrize("size", SIZES, ids=["300KiB", "5MiB", "20MiB"])
def test_openai_items_with_an_image_and_a_file_come_back_equal(live_api: Any, size: int) -> None:
    image, pdf = photo(size), photo(50 * KIB, seed=2)
    items = [
        EasyInputMessageParam(
            role="user",
            content=[
                {"type": "input_text", "text": "What is in this photo?"},
                ResponseInputImageParam(type="input_image", image_url=data_url(image, "image/jpeg"), detail="auto"),
                ResponseInputFileParam(type="input_file", file_data=data_url(pdf, "application/pdf"), filename="r.pdf"),
            ],
        ),
        {"role": "assistant", "content": [{"type": "output_text", "text": "A cat.", "annotations": []}]},
    ]
    session_id = f"files-{uuid.uuid4().hex[:10]}"

    async def scenario() -> Any:
        client = AsyncAgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace)
        session = AgentSessionsSession(session_id, client=client)
        await session.add_items(items)
        again = AgentSessionsSession(session_id, client=client)  # no cache: every byte from the store
        read = await again.get_items(), await again.get_items(limit=1)
        popped = await again.pop_item()
        return read, popped, await again.get_items()

    (whole, last), popped, after = asyncio.run(scenario())
    assert whole == items and last == items[1:]
    assert popped == items[1] and after == items[:1]
    sync = AgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace)
    small_messages_with_files(sync, session_id, [size, 50 * KIB])


def test_an_openai_runner_whose_user_sends_a_photo_keeps_going(live_api: Any) -> None:
    image = photo(300 * KIB, seed=3)
    turn = [
        EasyInputMessageParam(
            role="user",
            content=[
                {"type": "input_text", "text": "Describe it."},
                ResponseInputImageParam(type="input_image", image_url=data_url(image, "image/png"), detail="high"),
            ],
        )
    ]
    model = ScriptedModel(["A bridge at dusk.", "It was a bridge."])
    agent = Agent(name="eyes", model=model)

    async def scenario() -> Any:
        client = AsyncAgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace)
        session = AgentSessionsSession(f"photo-{uuid.uuid4().hex[:10]}", client=client)
        first = await Runner.run(agent, turn, session=session)
        second = await Runner.run(agent, "What was in my photo?", session=session)
        return first.final_output, second.final_output

    assert asyncio.run(scenario()) == ("A bridge at dusk.", "It was a bridge.")
    seen_again = [
        part
        for item in model.inputs[1]
        if isinstance(item.get("content"), list)
        for part in item["content"]
        if part.get("type") == "input_image"
    ]
    assert [part["image_url"] for part in seen_again] == [data_url(image, "image/png")]


def adk_event(size: int) -> Event:
    return Event(
        invocation_id=f"inv-{uuid.uuid4().hex[:6]}",
        author="user",
        content=types.Content(
            role="user",
            parts=[
                types.Part(text="Look at this."),
                types.Part(
                    inline_data=types.Blob(mime_type="image/png", data=photo(size, seed=4), display_name="x.png")
                ),
            ],
        ),
    )


@pytest.mark.parametrize("size", SIZES, ids=["300KiB", "5MiB", "20MiB"])
def test_adk_events_with_inline_data_come_back_equal(live_api: Any, size: int) -> None:
    event = adk_event(size)
    reply = Event(
        invocation_id=event.invocation_id,
        author="helper",
        content=types.Content(role="model", parts=[types.Part(text="A chart.")]),
    )
    user = f"u-{uuid.uuid4().hex[:6]}"

    async def scenario(service: Any) -> Any:
        session = await service.create_session(app_name="vision", user_id=user)
        await service.append_event(session, event)
        await service.append_event(session, reply)
        read = await service.get_session(app_name="vision", user_id=user, session_id=session.id)
        return session.id, read.events

    reference = asyncio.run(scenario(InMemorySessionService()))[1]
    client = AsyncAgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace)
    session_id, events = asyncio.run(scenario(AgentSessionsService(client)))
    assert events == reference == [event, reply]
    assert events[0].content.parts[1].inline_data.data == photo(size, seed=4)
    sync = AgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace)
    small_messages_with_files(sync, adk_adapter.store_session_id("vision", user, session_id), [size])


@pytest.mark.parametrize("size", SIZES, ids=["300KiB", "5MiB", "20MiB"])
def test_strands_messages_with_image_and_document_bytes_come_back_equal(live_api: Any, size: int) -> None:
    client = AgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace)
    repository = AgentSessionsRepository(client)
    session_id = f"s-{uuid.uuid4().hex[:10]}"
    repository.create_session(Session(session_id=session_id, session_type=SessionType.AGENT))
    repository.create_agent(session_id, SessionAgent(agent_id="a1", state={}, conversation_manager_state={}))
    image, document = photo(size, seed=5), photo(80 * KIB, seed=6)
    message = SessionMessage(
        message={
            "role": "user",
            "content": [
                {"text": "Compare these."},
                {"image": {"format": "png", "source": {"bytes": image}}},
                {"document": {"format": "pdf", "name": "report", "source": {"bytes": document}}},
            ],
        },
        message_id=0,
    )
    repository.create_message(session_id, "a1", message)
    fresh = AgentSessionsRepository(client)
    read = fresh.read_message(session_id, "a1", 0)
    assert read is not None and read.to_dict() == message.to_dict()
    assert read.message["content"][1]["image"]["source"]["bytes"] == image
    assert [m.to_dict() for m in fresh.list_messages(session_id, "a1")] == [message.to_dict()]
    store_id = agent_store_id(session_id, "a1")
    small_messages_with_files(client, store_id, [size, 80 * KIB])
    # a guardrail's redaction drops the image: its attachment goes, the document's stays
    redacted = SessionMessage(
        message={"role": "user", "content": [{"text": "[image removed]"}, message.message["content"][2]]},
        message_id=0,
    )
    fresh.update_message(session_id, "a1", redacted)
    again = AgentSessionsRepository(client).read_message(session_id, "a1", 0)
    assert again is not None and again.message == redacted.message
    small_messages_with_files(client, store_id, [80 * KIB])


def test_an_adk_event_with_a_large_image_delivered_again_is_stored_once(live_api: Any) -> None:
    """The 5 MiB image is uploaded anew on the second delivery (another attachment_id); the
    append is still the same request (the store compares files by their bytes), so it replays."""
    event = adk_event(5 * MIB)
    user = f"u-{uuid.uuid4().hex[:6]}"
    client = AsyncAgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace)
    service = AgentSessionsService(client)

    async def scenario() -> Any:
        session = await service.create_session(app_name="vision", user_id=user)
        await service.append_event(session, event)
        await service.append_event(session, event)
        return session, await service.get_session(app_name="vision", user_id=user, session_id=session.id)

    session, read = asyncio.run(scenario())
    assert session.events == read.events == [event]
    sync = AgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace)
    small_messages_with_files(sync, adk_adapter.store_session_id("vision", user, session.id), [5 * MIB])
