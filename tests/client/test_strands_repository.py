"""The Strands Agents adapter.

A conformance suite from Strands' `SessionRepository` contract, run against Strands' own
file-based repository as the reference and against this store: they must agree. Then a
Strands Agent with a scripted model keeps a conversation in the store that a second process
resumes."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("strands")

from strands import Agent
from strands.models.model import Model
from strands.session.file_session_manager import FileSessionManager
from strands.session.repository_session_manager import RepositorySessionManager
from strands.types.exceptions import SessionException
from strands.types.session import Session, SessionAgent, SessionMessage, SessionType

from agent_sessions_client import AgentSessionsClient
from agent_sessions_client.integrations.strands import AgentSessionsRepository

pytestmark = [pytest.mark.integration]


@pytest.fixture(params=["reference", "agent_sessions"])
def repository(request: pytest.FixtureRequest, live_api: Any, tmp_path: Path) -> Any:
    if request.param == "reference":
        return FileSessionManager(session_id="unused", storage_dir=str(tmp_path))
    return AgentSessionsRepository(AgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace))


def message(index: int, role: str, text: str) -> SessionMessage:
    return SessionMessage(message={"role": role, "content": [{"text": text}]}, message_id=index)


def new_session(repository: Any) -> str:
    session_id = f"s-{uuid.uuid4().hex[:10]}"
    repository.create_session(Session(session_id=session_id, session_type=SessionType.AGENT))
    repository.create_agent(session_id, SessionAgent(agent_id="a1", state={"k": 1}, conversation_manager_state={}))
    return session_id


def test_sessions_and_agents(repository: Any) -> None:
    session_id = new_session(repository)
    assert repository.read_session(session_id).session_id == session_id
    assert repository.read_session("no-such-session") is None
    with pytest.raises(SessionException):
        repository.create_session(Session(session_id=session_id, session_type=SessionType.AGENT))
    agent = repository.read_agent(session_id, "a1")
    assert (agent.agent_id, agent.state) == ("a1", {"k": 1})
    assert repository.read_agent(session_id, "nobody") is None
    agent.state = {"k": 2, "new": [1, 2]}
    repository.update_agent(session_id, agent)
    assert repository.read_agent(session_id, "a1").state == {"k": 2, "new": [1, 2]}
    agent.state = {}  # removing keys must remove them (replaced whole)
    repository.update_agent(session_id, agent)
    assert repository.read_agent(session_id, "a1").state == {}


def test_messages_in_order_with_limit_offset_and_redaction(repository: Any) -> None:
    session_id = new_session(repository)
    texts = ["hi", "hello", "my card is 4111 1111", "noted", "bye"]
    for index, text in enumerate(texts):
        repository.create_message(session_id, "a1", message(index, "user" if index % 2 == 0 else "assistant", text))

    def listed(**kwargs: Any) -> list[str]:
        return [m.message["content"][0]["text"] for m in repository.list_messages(session_id, "a1", **kwargs)]

    assert listed() == texts
    assert listed(limit=2) == texts[:2]
    assert listed(offset=3) == texts[3:]
    assert listed(limit=2, offset=1) == texts[1:3]
    assert listed(offset=9) == []
    third = repository.read_message(session_id, "a1", 2)
    assert third.message["content"][0]["text"] == "my card is 4111 1111" and third.message_id == 2
    assert repository.read_message(session_id, "a1", 9) is None
    third.redact_message = {"role": "user", "content": [{"text": "[redacted]"}]}
    repository.update_message(session_id, "a1", third)
    again = repository.read_message(session_id, "a1", 2)
    assert again.redact_message == {"role": "user", "content": [{"text": "[redacted]"}]}
    assert again.created_at == third.created_at
    with pytest.raises(SessionException):
        repository.update_message(session_id, "a1", message(9, "user", "never created"))


class ScriptedModel(Model):
    """Streams scripted answers; records the messages Strands sent (history included)."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.seen: list[list[str]] = []

    def update_config(self, **model_config: Any) -> None:
        return None

    def get_config(self) -> Any:
        return {}

    async def structured_output(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError
        yield

    async def stream(self, messages: list[Any], *args: Any, **kwargs: Any) -> Any:
        self.seen.append([block["text"] for m in messages for block in m["content"] if "text" in block])
        yield {"messageStart": {"role": "assistant"}}
        yield {"contentBlockStart": {"start": {}}}
        yield {"contentBlockDelta": {"delta": {"text": self.replies.pop(0)}}}
        yield {"contentBlockStop": {}}
        yield {"messageStop": {"stopReason": "end_turn"}}


RESUME = """
import json, os, sys
sys.path[:0] = [os.environ["CLIENT_PATH"], os.environ["TESTS_PATH"]]
from strands import Agent
from strands.session.repository_session_manager import RepositorySessionManager
from agent_sessions_client import AgentSessionsClient
from agent_sessions_client.integrations.strands import AgentSessionsRepository
from client.test_strands_repository import ScriptedModel

model = ScriptedModel(["You are Ada."])
repository = AgentSessionsRepository(AgentSessionsClient())
manager = RepositorySessionManager(session_id=os.environ["CONVERSATION"], session_repository=repository)
Agent(agent_id="helper", model=model, session_manager=manager, callback_handler=None)("Who am I?")
print(json.dumps(model.seen[-1]))
"""


def test_an_agent_keeps_a_conversation_a_second_process_resumes(live_api: Any) -> None:
    conversation = f"chat-{uuid.uuid4().hex[:10]}"
    client = AgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace)
    model = ScriptedModel(["Hello Ada!", "Noted."])
    manager = RepositorySessionManager(session_id=conversation, session_repository=AgentSessionsRepository(client))
    agent = Agent(agent_id="helper", model=model, session_manager=manager, callback_handler=None)
    agent("I am Ada.")
    agent("Remember it.")
    assert model.seen[1] == ["I am Ada.", "Hello Ada!", "Remember it."]
    from client.conftest import resume_in_another_process  # the resuming process imports this module

    resumed = resume_in_another_process(live_api, RESUME, CONVERSATION=conversation)
    assert resumed == [
        "I am Ada.",
        "Hello Ada!",
        "Remember it.",
        "Noted.",
        "Who am I?",
    ]
