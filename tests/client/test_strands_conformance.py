"""Strands Agents: multi-agent orchestrators (Swarm, Graph) persist through this repository as
through Strands' own file repository.

The same assertions run on `FileSessionManager` (the reference) and on this store: the
repository's multi-agent methods as Strands' file and S3 repositories implement them (a missing
state reads as None, updating one raises `SessionException`, creating one again replaces it),
then a real Swarm and a real Graph, with scripted models, whose state a new orchestrator of the
same session restores."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("strands")

from strands import Agent
from strands.multiagent import GraphBuilder, Swarm
from strands.session.file_session_manager import FileSessionManager
from strands.session.repository_session_manager import RepositorySessionManager
from strands.types.exceptions import SessionException
from strands.types.session import Session, SessionType

from agent_sessions_client import AgentSessionsClient
from agent_sessions_client.integrations.strands import AgentSessionsRepository
from client.test_strands_repository import ScriptedModel, message, new_session

pytestmark = [pytest.mark.integration]


class Backend:
    def __init__(self, kind: str, live_api: Any, tmp_path: Path) -> None:
        self.kind, self.tmp_path = kind, tmp_path
        self.client = AgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace)

    def repository(self) -> Any:
        if self.kind == "file":
            return FileSessionManager(session_id="unused", storage_dir=str(self.tmp_path))
        return AgentSessionsRepository(self.client)

    def manager(self, session_id: str) -> Any:
        if self.kind == "file":
            return FileSessionManager(session_id=session_id, storage_dir=str(self.tmp_path))
        return RepositorySessionManager(session_id=session_id, session_repository=AgentSessionsRepository(self.client))


@pytest.fixture(params=["file", "agent_sessions"])
def backend(request: pytest.FixtureRequest, live_api: Any, tmp_path: Path) -> Backend:
    return Backend(request.param, live_api, tmp_path)


class Orchestrator:
    """What the repository needs of a MultiAgentBase: its id and its serialized state."""

    def __init__(self, id: str, state: dict[str, Any]) -> None:
        self.id, self.state = id, state

    def serialize_state(self) -> dict[str, Any]:
        return self.state


def test_multi_agent_state_is_created_read_and_updated(backend: Backend) -> None:
    repository = backend.repository()
    session_id = f"s-{uuid.uuid4().hex[:10]}"
    repository.create_session(Session(session_id=session_id, session_type=SessionType.AGENT))
    assert repository.read_multi_agent(session_id, "swarm") is None
    with pytest.raises(SessionException):
        repository.update_multi_agent(session_id, Orchestrator("swarm", {"status": "executing"}))
    state = {"type": "swarm", "id": "swarm", "status": "executing", "node_history": [], "text": "ünïcode 🌦"}
    repository.create_multi_agent(session_id, Orchestrator("swarm", state))
    assert repository.read_multi_agent(session_id, "swarm") == state
    assert repository.read_multi_agent(session_id, "graph") is None  # each orchestrator its own state
    repository.update_multi_agent(session_id, Orchestrator("swarm", {**state, "status": "completed"}))
    assert repository.read_multi_agent(session_id, "swarm")["status"] == "completed"
    repository.create_multi_agent(session_id, Orchestrator("swarm", {"status": "fresh"}))  # replaces
    assert repository.read_multi_agent(session_id, "swarm") == {"status": "fresh"}
    other = f"s-{uuid.uuid4().hex[:10]}"
    assert repository.read_multi_agent(other, "swarm") is None  # sessions do not share orchestrators


def agents(*names: str) -> list[Agent]:
    return [
        Agent(name=name, model=ScriptedModel([f"{name}: first", f"{name}: second"]), callback_handler=None)
        for name in names
    ]


def test_a_swarm_keeps_its_state_and_a_new_swarm_of_the_session_restores_it(backend: Backend) -> None:
    session_id = f"swarm-{uuid.uuid4().hex[:10]}"
    swarm = Swarm(agents("first", "second"), session_manager=backend.manager(session_id))
    result = swarm("Plan the trip.")
    assert str(result.status) == "Status.COMPLETED"
    stored = backend.repository().read_multi_agent(session_id, swarm.id)
    assert (stored["status"], stored["node_history"], stored["current_task"]) == (
        "completed",
        ["first"],
        "Plan the trip.",
    )
    assert stored["node_results"]["first"]["result"]["message"]["content"] == [{"text": "first: first"}]

    again = Swarm(agents("first", "second"), session_manager=backend.manager(session_id))
    second = again("And the hotel?")
    assert str(second.status) == "Status.COMPLETED"
    restored = backend.repository().read_multi_agent(session_id, again.id)
    assert (restored["status"], restored["current_task"]) == ("completed", "And the hotel?")


def test_a_graph_keeps_its_state(backend: Backend) -> None:
    session_id = f"graph-{uuid.uuid4().hex[:10]}"
    research, write = agents("research", "write")
    builder = GraphBuilder()
    builder.add_node(research, "research")
    builder.add_node(write, "write")
    builder.add_edge("research", "write")
    builder.set_max_node_executions(10)
    builder.set_session_manager(backend.manager(session_id))
    graph = builder.build()
    result = graph("Write about Paris.")
    assert str(result.status) == "Status.COMPLETED"
    stored = backend.repository().read_multi_agent(session_id, graph.id)
    assert stored["status"] == "completed"
    assert sorted(stored["completed_nodes"]) == ["research", "write"]


def test_one_sync_client_shared_by_threads(live_api: Any) -> None:
    """The sync client (what the Strands repository uses) may be shared by threads."""
    client = AgentSessionsClient(live_api.base_url, live_api.key, live_api.namespace)
    session_id = client.create_session().session_id
    failures: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for n in range(10):
                client.append_message(session_id, f"{name} {n}")
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=writer, args=(f"t{k}",)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    contents = [m.content for m in client.iter_history(session_id)]
    assert sorted(contents) == sorted(f"t{k} {n}" for k in range(8) for n in range(10))
    assert client.get_session(session_id).message_count == 80


def test_a_record_larger_than_the_store_holds(backend: Backend) -> None:
    """A documented difference: a file holds an agent record of any size; the store keeps one in
    `user_memory` (64 KiB), beyond which the repository raises Strands' SessionException naming
    the store's reason and stores nothing. A message of 300 KB is stored (content up to 4 MiB,
    kept in S3) and read back whole."""
    repository = backend.repository()
    session_id = new_session(repository)
    agent = repository.read_agent(session_id, "a1")
    agent.state = {"notes": "x" * 100_000}
    big_message = message(0, "user", "y" * 300_000)
    if backend.kind == "file":
        repository.update_agent(session_id, agent)
        repository.create_message(session_id, "a1", big_message)
        assert len(repository.read_agent(session_id, "a1").state["notes"]) == 100_000
        assert len(repository.list_messages(session_id, "a1")) == 1
        return
    with pytest.raises(SessionException, match="cannot be stored"):
        repository.update_agent(session_id, agent)
    assert repository.read_agent(session_id, "a1").state == {"k": 1}  # unchanged
    repository.create_message(session_id, "a1", big_message)
    (stored,) = repository.list_messages(session_id, "a1")
    assert stored.to_dict() == big_message.to_dict()
