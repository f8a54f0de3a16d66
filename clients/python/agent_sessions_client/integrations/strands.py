"""Strands Agents' `SessionRepository` on Agent Sessions (`pip install
"./clients/python[strands]"`).

    from strands import Agent
    from strands.session.repository_session_manager import RepositorySessionManager
    from agent_sessions_client import AgentSessionsClient
    from agent_sessions_client.integrations.strands import AgentSessionsRepository

    repository = AgentSessionsRepository(client=AgentSessionsClient())
    agent = Agent(session_manager=RepositorySessionManager(session_id="chat-1", session_repository=repository))

How Strands maps onto the store: the Strands session is one store session (`strands-<digest>`)
holding the Session record; each of its agents is a store session of its own
(`strands-<digest of session and agent>`) holding the SessionAgent record (as JSON text in
`user_memory`, replaced whole on update) and the agent's messages, a Strands message index
being the store's `seq`. A message is created with If-Match on its index, so it lands exactly
at that position once; `update_message` (a guardrail's redaction) is the store's message
correction; `list_messages(limit, offset)` reads history pages from `offset`.

A multi-agent orchestrator's state (a Swarm's or a Graph's `serialize_state()`) is a store
session of its own (`strands-ma-<digest of session and orchestrator>`) whose one message holds
the state's JSON: `create_multi_agent` writes it (replacing one already there, as Strands' file
and S3 repositories do), `read_multi_agent` gives it back or None, `update_multi_agent`
replaces it and raises `SessionException` when there is none. The state goes in a message, not
in `user_memory`, so it may be as large as a message's content.

A message's image, document and video bytes (up to 100 MiB each) are stored as the store
message's attachments and put back exactly when it is read (`_parts`). A redaction
(`update_message`) keeps the attachments whose bytes the new message still holds and deletes
the others; bytes it adds stay in the message's text (the store's correction cannot add files).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from strands.session.session_repository import SessionRepository
from strands.types.exceptions import SessionException
from strands.types.session import Session, SessionAgent, SessionMessage

from agent_sessions_client.client import AgentSessionsClient
from agent_sessions_client.errors import (
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
    ValidationError,
)
from agent_sessions_client.integrations import _parts
from agent_sessions_client.models import Message

if TYPE_CHECKING:
    from strands.multiagent import MultiAgentBase

PAGE = 200


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:40]


def session_store_id(session_id: str) -> str:
    return f"strands-{_digest(session_id)}"


def agent_store_id(session_id: str, agent_id: str) -> str:
    return f"strands-{_digest(session_id, agent_id)}"


def multi_agent_store_id(session_id: str, multi_agent_id: str) -> str:
    return f"strands-ma-{_digest(session_id, multi_agent_id)}"


@contextmanager
def _refusals_as_session_exceptions(what: str) -> Iterator[None]:
    """A record the store refuses (too large for it, or invalid) raises Strands' own
    SessionException, which Strands' callers handle, naming the store's reason."""
    try:
        yield
    except (PayloadTooLargeError, ValidationError) as error:
        raise SessionException(f"{what} cannot be stored: {error.message}") from error


class AgentSessionsRepository(SessionRepository):
    """Strands sessions, agents and messages kept in Agent Sessions."""

    def __init__(self, client: AgentSessionsClient) -> None:
        self._client = client
        self._parts = _parts.PartCache()

    def _record(self, store_id: str, key: str) -> dict[str, Any] | None:
        try:
            stored = self._client.get_session(store_id)
        except NotFoundError:
            return None
        text = (stored.user_memory or {}).get(key)
        return json.loads(text) if isinstance(text, str) else None

    # --- sessions and agents ---------------------------------------------------------------------

    @_refusals_as_session_exceptions("A Strands record")
    def create_session(self, session: Session, **kwargs: Any) -> Session:
        try:
            self._client.create_session(
                session_id=session_store_id(session.session_id),
                user_memory={"session": json.dumps(session.to_dict())},
                metadata={"strands": "session"},
            )
        except ConflictError as error:
            if error.code == "session_exists":
                raise SessionException(f"Session {session.session_id} already exists") from None
            raise
        return session

    def read_session(self, session_id: str, **kwargs: Any) -> Session | None:
        record = self._record(session_store_id(session_id), "session")
        return Session.from_dict(record) if record is not None else None

    @_refusals_as_session_exceptions("A Strands record")
    def create_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        try:
            self._client.create_session(
                session_id=agent_store_id(session_id, session_agent.agent_id),
                agent_id=session_agent.agent_id,
                user_memory={"agent": json.dumps(session_agent.to_dict())},
                metadata={"strands": "agent", "strands_session": _digest(session_id)},
            )
        except ConflictError as error:
            if error.code == "session_exists":
                raise SessionException(f"Agent {session_agent.agent_id} already exists") from None
            raise

    def read_agent(self, session_id: str, agent_id: str, **kwargs: Any) -> SessionAgent | None:
        record = self._record(agent_store_id(session_id, agent_id), "agent")
        return SessionAgent.from_dict(record) if record is not None else None

    @_refusals_as_session_exceptions("A Strands record")
    def update_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        previous = self.read_agent(session_id, session_agent.agent_id)
        if previous is None:
            raise SessionException(f"Agent {session_agent.agent_id} in session {session_id} does not exist")
        session_agent.created_at = previous.created_at
        self._client.update_session(
            agent_store_id(session_id, session_agent.agent_id),
            {"user_memory": {"agent": json.dumps(session_agent.to_dict())}},  # the JSON text: replaced whole
        )

    # --- messages --------------------------------------------------------------------------------

    @_refusals_as_session_exceptions("A Strands record")
    def create_message(self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any) -> None:
        store_id = agent_store_id(session_id, agent_id)
        role = str(session_message.message.get("role", "user"))
        try:
            self._client.append_message(
                store_id,
                _parts.message(session_message.to_dict(), role if role in ("user", "assistant") else "assistant"),
                if_match=session_message.message_id,  # lands exactly at its index, once
            )
        except PreconditionFailedError:
            existing = self.read_message(session_id, agent_id, session_message.message_id)
            if existing is None or existing.to_dict()["message"] != session_message.to_dict()["message"]:
                raise SessionException(
                    f"Message {session_message.message_id} of agent {agent_id} cannot be created at its index"
                ) from None
        except NotFoundError:
            raise SessionException(f"Agent {agent_id} in session {session_id} does not exist") from None

    def _stored(self, store_id: str, message_id: int) -> Message | None:
        try:
            page = self._client.get_history(store_id, limit=1, offset=message_id)
        except NotFoundError:
            return None
        found = [m for m in page.messages if m.seq == message_id]
        return found[0] if found else None

    def _session_message(self, store_id: str, stored: Message) -> SessionMessage:
        return SessionMessage.from_dict(_parts.read(self._client, store_id, stored, self._parts))

    def read_message(self, session_id: str, agent_id: str, message_id: int, **kwargs: Any) -> SessionMessage | None:
        store_id = agent_store_id(session_id, agent_id)
        stored = self._stored(store_id, message_id)
        return self._session_message(store_id, stored) if stored is not None else None

    @_refusals_as_session_exceptions("A Strands record")
    def update_message(self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any) -> None:
        store_id = agent_store_id(session_id, agent_id)
        stored = self._stored(store_id, session_message.message_id)
        if stored is None:
            raise SessionException(f"Message {session_message.message_id} does not exist")
        session_message.created_at = self._session_message(store_id, stored).created_at
        record = session_message.to_dict()
        if not _parts.marked(stored):
            self._client.update_message(store_id, session_message.message_id, {"content": json.dumps(record)})
            return
        # Kept: the attachments whose bytes the new message still holds; the rest are deleted.
        have = {attachment.sha256: attachment.attachment_id for attachment in stored.attachments}
        taken = _parts.split(record, accept=lambda part: part.sha256 in have)
        self._client.update_message(
            store_id,
            session_message.message_id,
            {
                "content": json.dumps(taken.value, ensure_ascii=False),
                "attachments": [{"attachment_id": have[part.sha256]} for part in taken.parts],
            },
        )

    def list_messages(
        self, session_id: str, agent_id: str, limit: int | None = None, offset: int = 0, **kwargs: Any
    ) -> list[SessionMessage]:
        store_id = agent_store_id(session_id, agent_id)
        messages: list[SessionMessage] = []
        position = offset
        try:
            while limit is None or len(messages) < limit:
                want = PAGE if limit is None else min(PAGE, limit - len(messages))
                page = self._client.get_history(store_id, limit=want, offset=position)
                messages += [self._session_message(store_id, m) for m in page.messages]
                if not page.has_more or not page.messages:
                    break
                position = page.messages[-1].seq + 1
        except NotFoundError:
            raise SessionException(f"Agent {agent_id} in session {session_id} does not exist") from None
        return messages

    # --- multi-agent orchestrators -----------------------------------------------------------------

    @_refusals_as_session_exceptions("A Strands record")
    def create_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        store_id = multi_agent_store_id(session_id, multi_agent.id)
        try:
            self._client.create_session(
                session_id=store_id,
                agent_id=multi_agent.id,
                metadata={"strands": "multi_agent", "strands_session": _digest(session_id)},
            )
        except ConflictError as error:
            if error.code != "session_exists":
                raise
        content = json.dumps(multi_agent.serialize_state())
        try:  # the state is the session's message 0: appended once, replaced afterwards
            self._client.append_message(store_id, {"role": "system", "content": content}, if_match=0)
        except PreconditionFailedError:
            self._client.update_message(store_id, 0, {"content": content})

    def read_multi_agent(self, session_id: str, multi_agent_id: str, **kwargs: Any) -> dict[str, Any] | None:
        try:
            page = self._client.get_history(multi_agent_store_id(session_id, multi_agent_id), limit=1)
        except NotFoundError:
            return None
        if not page.messages:  # created, its state not yet written
            return None
        state: dict[str, Any] = json.loads(page.messages[0].content)
        return state

    @_refusals_as_session_exceptions("A Strands record")
    def update_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        content = json.dumps(multi_agent.serialize_state())
        try:
            self._client.update_message(multi_agent_store_id(session_id, multi_agent.id), 0, {"content": content})
        except NotFoundError:
            raise SessionException(
                f"MultiAgent state {multi_agent.id} in session {session_id} does not exist"
            ) from None
