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
calls' outputs). `pop_item` is the store's rewind of the last message — exactly one, however
many callers pop or append at once. Every method also takes the SDK's `wrapper` keyword (its
run context); this adapter does not need it.
"""

from __future__ import annotations

import json
from typing import Any

from agent_sessions_client.client import AsyncAgentSessionsClient
from agent_sessions_client.errors import ConflictError, NotFoundError

BATCH = 98  # one append carries at most 99 messages, 98 with its Idempotency-Key
ROLES = ("user", "assistant", "system")


def _role_of(item: dict[str, Any]) -> str:
    role = item.get("role")
    if role in ROLES:
        return str(role)
    if role == "developer":
        return "system"
    return "tool" if str(item.get("type", "")).endswith("_output") else "assistant"


class AgentSessionsSession:
    """A conversation of the OpenAI Agents SDK kept in Agent Sessions. It implements the SDK's
    `Session` protocol structurally (the SDK asks third-party sessions not to subclass its
    internal base class), so importing this module does not import the SDK."""

    def __init__(
        self,
        session_id: str,
        client: AsyncAgentSessionsClient,
        *,
        session_settings: Any = None,
        create_fields: dict[str, Any] | None = None,
    ) -> None:
        self.session_id = session_id
        self.session_settings = session_settings
        self._client = client
        self._create_fields = create_fields or {}
        self._created = False

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
        """The latest `limit` items (all when None), oldest first."""
        if limit is None and self.session_settings is not None:
            limit = getattr(self.session_settings, "limit", None)
        if limit is not None and limit <= 0:
            return []
        try:
            if limit is None:
                messages = [m async for m in self._client.iter_history(self.session_id)]
            else:
                messages = []
                async for message in self._client.iter_history(self.session_id, order="desc"):
                    messages.append(message)
                    if len(messages) >= limit:
                        break
                messages.reverse()
        except NotFoundError:
            return []
        return [json.loads(message.content) for message in messages]

    async def add_items(self, items: list[Any], wrapper: Any = None) -> None:
        if not items:
            return
        await self._ensure_created()
        for start in range(0, len(items), BATCH):
            batch = [
                {"role": _role_of(item), "content": json.dumps(item, ensure_ascii=False)}
                for item in items[start : start + BATCH]
            ]
            await self._client.append_messages(self.session_id, batch)

    async def pop_item(self, wrapper: Any = None) -> Any | None:
        try:
            result = await self._client.rewind(self.session_id, last=1)
        except NotFoundError:
            return None
        if not result.removed:
            return None
        return json.loads(result.removed[0].content)

    async def clear_session(self, wrapper: Any = None) -> None:
        try:
            await self._client.rewind(self.session_id, from_seq=0)
        except NotFoundError:
            return
