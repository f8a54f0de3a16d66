"""LangChain's chat message history on Agent Sessions: `AgentSessionsChatMessageHistory`.

One history is one store session (its id is the history's `session_id`); each LangChain message
is one store message, in order. Its `content` is the message as LangChain serializes it
(`message_to_dict`), so every type and field round-trips exactly (tool calls,
`additional_kwargs`, `response_metadata`, `usage_metadata`, ids); the store's `role` follows the
message type (human → user, ai → assistant, system, tool), and an AI message's output tokens
go to `token_count`, so the session's stats count them. A message larger than one store message
is split into consecutive parts of the same append. Messages another client appended to the
session (plain text) read back as the LangChain type of their role.

`clear()` is the store's rewind: every message removed, the session kept (its settings,
expiry and id stay). Unlike `DynamoDBChatMessageHistory`, which keeps a conversation in one
item and fails past DynamoDB's 400 KB, a history here grows without limit and is read in pages.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    message_to_dict,
    messages_from_dict,
)

from agent_sessions_client import models
from agent_sessions_client.client import AgentSessionsClient, AsyncAgentSessionsClient
from agent_sessions_client.errors import ConflictError, NotFoundError

__all__ = ["AgentSessionsChatMessageHistory"]

PAGE = 200
PART_CHARS = 200_000  # a store message holds 256 KiB; the JSON is ASCII, so chars are bytes
BATCH_MESSAGES = 90  # an append takes 98 messages with an Idempotency-Key
BATCH_CHARS = 3_500_000  # and stores at most 4 MB (one DynamoDB transaction)
ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}
PLAIN = {"user": HumanMessage, "assistant": AIMessage, "system": SystemMessage}


def _stored(message: BaseMessage) -> list[dict[str, Any]]:
    """A LangChain message as the store messages that hold it (one, or parts)."""
    text = json.dumps(message_to_dict(message), separators=(",", ":"), ensure_ascii=True)
    role = ROLES.get(message.type, "user" if getattr(message, "role", "") == "user" else "assistant")
    usage = getattr(message, "usage_metadata", None) or {}
    tokens = usage.get("output_tokens")
    if len(text) <= PART_CHARS:
        fields: dict[str, Any] = {"role": role, "content": text, "metadata": {"langchain": message.type}}
        if tokens is not None:
            fields["token_count"] = tokens
        return [fields]
    chunks = [text[start : start + PART_CHARS] for start in range(0, len(text), PART_CHARS)]
    return [
        {
            "role": role,
            "content": chunk,
            "metadata": {"langchain": "part", "part": index, "parts": len(chunks)},
            **({"token_count": tokens if index == 0 else 0} if tokens is not None else {}),
        }
        for index, chunk in enumerate(chunks)
    ]


class _Reader:
    """Store messages in, LangChain messages out (parts joined)."""

    def __init__(self) -> None:
        self.messages: list[BaseMessage] = []
        self._parts: list[str] = []

    def add(self, stored: models.Message) -> None:
        kind = (stored.metadata or {}).get("langchain")
        if kind == "part":
            if stored.metadata.get("part") == 0:
                self._parts = []
            self._parts.append(stored.content)
            if len(self._parts) == stored.metadata.get("parts"):
                self.messages.extend(messages_from_dict([json.loads("".join(self._parts))]))
                self._parts = []
        elif kind is not None:
            self.messages.extend(messages_from_dict([json.loads(stored.content)]))
        elif stored.role == "tool":
            self.messages.append(
                ToolMessage(stored.content, tool_call_id=stored.tool_name or "", name=stored.tool_name)
            )
        else:
            self.messages.append(PLAIN.get(stored.role, HumanMessage)(stored.content))


def _batches(messages: Sequence[BaseMessage]) -> list[list[dict[str, Any]]]:
    """The appends that store `messages`: each within an append's count and bytes, and a
    message's parts always in one append."""
    batches: list[list[dict[str, Any]]] = []
    batch: list[dict[str, Any]] = []
    size = 0
    for message in messages:
        stored = _stored(message)
        stored_size = sum(len(item["content"]) for item in stored)
        if batch and (len(batch) + len(stored) > BATCH_MESSAGES or size + stored_size > BATCH_CHARS):
            batches.append(batch)
            batch, size = [], 0
        batch += stored
        size += stored_size
    if batch:
        batches.append(batch)
    return batches


class AgentSessionsChatMessageHistory(BaseChatMessageHistory):
    """LangChain's `BaseChatMessageHistory` on an Agent Sessions session.

    `client` serves the sync methods, `async_client` the async ones; either left out is built
    from the environment (`AGENT_SESSIONS_URL`, `AGENT_SESSIONS_API_KEY`,
    `AGENT_SESSIONS_NAMESPACE`) on first use. The session is created on the first message, with
    `session_defaults` (`ttl_seconds`, `user_id`, `metadata`, …). Each append carries the
    client's Idempotency-Key, so a retried call never stores a message twice."""

    def __init__(
        self,
        session_id: str,
        client: AgentSessionsClient | None = None,
        async_client: AsyncAgentSessionsClient | None = None,
        *,
        session_defaults: dict[str, Any] | None = None,
    ) -> None:
        self.session_id = session_id
        self._client = client
        self._async_client = async_client
        self._session_defaults = dict(session_defaults or {})

    @property
    def client(self) -> AgentSessionsClient:
        if self._client is None:
            self._client = AgentSessionsClient()
        return self._client

    @property
    def async_client(self) -> AsyncAgentSessionsClient:
        if self._async_client is None:
            self._async_client = AsyncAgentSessionsClient()
        return self._async_client

    # --- reading -------------------------------------------------------------------------------

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        reader = _Reader()
        try:
            for stored in self.client.iter_history(self.session_id, page_size=PAGE):
                reader.add(stored)
        except NotFoundError:
            return []
        return reader.messages

    async def aget_messages(self) -> list[BaseMessage]:
        reader = _Reader()
        try:
            async for stored in self.async_client.iter_history(self.session_id, page_size=PAGE):
                reader.add(stored)
        except NotFoundError:
            return []
        return reader.messages

    # --- writing -------------------------------------------------------------------------------

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        for batch in _batches(messages):
            try:
                self.client.append_messages(self.session_id, batch)
            except NotFoundError:
                with contextlib.suppress(ConflictError):  # made meanwhile by another writer
                    self.client.create_session(session_id=self.session_id, **self._session_defaults)
                self.client.append_messages(self.session_id, batch)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        for batch in _batches(messages):
            try:
                await self.async_client.append_messages(self.session_id, batch)
            except NotFoundError:
                with contextlib.suppress(ConflictError):  # made meanwhile by another writer
                    await self.async_client.create_session(session_id=self.session_id, **self._session_defaults)
                await self.async_client.append_messages(self.session_id, batch)

    def clear(self) -> None:
        with contextlib.suppress(NotFoundError):
            self.client.rewind(self.session_id, from_seq=0)

    async def aclear(self) -> None:
        with contextlib.suppress(NotFoundError):
            await self.async_client.rewind(self.session_id, from_seq=0)
