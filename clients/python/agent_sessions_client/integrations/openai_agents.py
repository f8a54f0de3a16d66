"""The OpenAI Agents SDK's `Session` protocol on Agent Sessions (`pip install
"./clients/python[openai-agents]"`).

    from agents import Agent, Runner
    from agent_sessions_client import AsyncAgentSessionsClient
    from agent_sessions_client.integrations.openai_agents import AgentSessionsSession

    session = AgentSessionsSession("conversation-42", client=AsyncAgentSessionsClient())
    await Runner.run(agent, "Hello", session=session)

Each item the runner stores is one message of the store's session (created, with this id, on
first use): its JSON text is the message's content, so an item comes back exactly as it was
given; the message's role follows the item's (`user`, `assistant`, `system`; `tool` for tool
calls' outputs). A message whose content is not an item's JSON (a JSON object) — one another
client appended to the same session — is skipped by `get_items`, as the SDK's own backends
skip rows they cannot decode, and is never removed by `pop_item`. `session_settings` is
normalised as the SDK's sessions do it (a dict becomes a `SessionSettings`, unknown keys are a
`TypeError`, the default is `SessionSettings()`). `pop_item` removes exactly the message it
returns: it reads the tail and rewinds it with `If-Match`, so however many callers pop or
append at once, each item is popped once. Every method also takes the SDK's `wrapper` keyword
(its run context); this adapter does not need it. The session works from any event loop or
thread (the async client keeps a connection pool per loop), so `Runner.run_sync` and repeated
`asyncio.run` share one session safely.

Images, files and audio in an item (`input_image` and `input_file` data URLs, a computer
call's screenshot, `input_audio` base64, a generated image) are stored as the message's
attachments, up to 100 MiB each, and put back exactly when the item is read (`_parts`); the
bytes read are kept in a bounded cache by checksum, so the history the runner reads at every
turn does not download the same image again.
"""

from __future__ import annotations

from typing import Any

from agents.memory.session_settings import SessionSettings, coerce_session_settings, resolve_session_limit

from agent_sessions_client.client import AsyncAgentSessionsClient
from agent_sessions_client.errors import ConflictError, NotFoundError, PreconditionFailedError
from agent_sessions_client.integrations import _parts
from agent_sessions_client.models import Message

PAGE = 200
ROLES = ("user", "assistant", "system")


def _role_of(item: dict[str, Any]) -> str:
    role = item.get("role")
    if role in ROLES:
        return str(role)
    if role == "developer":
        return "system"
    return "tool" if str(item.get("type", "")).endswith("_output") else "assistant"


def _is_item(value: Any) -> bool:
    return isinstance(value, dict)


class AgentSessionsSession:
    """A conversation of the OpenAI Agents SDK kept in Agent Sessions. It implements the SDK's
    `Session` protocol structurally (the SDK asks third-party sessions not to subclass its
    internal base class)."""

    session_settings: SessionSettings | None

    def __init__(
        self,
        session_id: str,
        client: AsyncAgentSessionsClient,
        *,
        session_settings: SessionSettings | dict[str, Any] | None = None,
        create_fields: dict[str, Any] | None = None,
    ) -> None:
        self.session_id = session_id
        self.session_settings = (
            coerce_session_settings(session_settings) if session_settings is not None else SessionSettings()
        )
        self._client = client
        self._create_fields = create_fields or {}
        self._created = False
        self._parts = _parts.PartCache()

    async def _ensure_created(self) -> None:
        if self._created:
            return
        try:
            await self._client.create_session(session_id=self.session_id, **self._create_fields)
        except ConflictError as error:
            if error.code != "session_exists":
                raise
        self._created = True

    async def get_items(self, limit: int | None = None, wrapper: Any = None) -> list[Any]:
        """The latest `limit` items (all when None; `session_settings.limit` when not given),
        oldest first. Messages that hold no item are skipped and do not count."""
        limit = resolve_session_limit(limit, self.session_settings)
        if limit is not None and limit <= 0:
            return []
        messages: list[Message] = []
        try:
            if limit is None:
                messages = [m async for m in self._client.iter_history(self.session_id, page_size=PAGE)]
                return await self._items(messages)
            items: list[Any] = []  # newest first
            async for message in self._client.iter_history(self.session_id, page_size=min(limit, PAGE), order="desc"):
                messages.append(message)
                if len(messages) >= limit - len(items):  # enough, unless some hold no item
                    items += await self._items(messages)
                    messages = []
                    if len(items) >= limit:
                        break
            items += await self._items(messages)
        except NotFoundError:
            return []
        items = items[:limit]
        items.reverse()
        return items

    async def _items(self, messages: list[Message]) -> list[Any]:
        """The items the messages hold, their files downloaded in parallel; messages that hold
        no item are left out."""
        read = await _parts.aread_all(self._client, self.session_id, messages, self._parts)
        return [item for item in read if _is_item(item)]

    async def add_items(self, items: list[Any], wrapper: Any = None) -> None:
        if not items:
            return
        await self._ensure_created()
        for batch in _parts.batches([_parts.message(item, _role_of(item)) for item in items]):
            await self._client.append_messages(self.session_id, batch)

    async def pop_item(self, wrapper: Any = None) -> Any | None:
        """Remove and return the most recent item; None when the session is empty or its most
        recent message holds no item (another client's message is never removed). The tail is
        read, then rewound with If-Match on the count read, so only that message goes; a
        concurrent change (412) reads the tail again."""
        while True:
            try:
                page = await self._client.get_history(self.session_id, limit=1, order="desc")
            except NotFoundError:
                return None
            if not page.messages:
                return None
            try:
                item = await _parts.aread(self._client, self.session_id, page.messages[0], self._parts)
            except ValueError:
                return None
            if not _is_item(item):
                return None
            try:
                await self._client.rewind(self.session_id, last=1, if_match=page.messages[0].seq + 1)
            except PreconditionFailedError:
                continue
            except NotFoundError:
                return None
            return item

    async def clear_session(self, wrapper: Any = None) -> None:
        try:
            await self._client.rewind(self.session_id, from_seq=0)
        except NotFoundError:
            return
