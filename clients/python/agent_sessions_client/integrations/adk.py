"""Google ADK's `BaseSessionService` on Agent Sessions (`pip install "./clients/python[adk]"`).

    from google.adk.runners import Runner
    from agent_sessions_client import AsyncAgentSessionsClient
    from agent_sessions_client.integrations.adk import AgentSessionsService

    service = AgentSessionsService(client=AsyncAgentSessionsClient())
    runner = Runner(agent=agent, app_name="support", session_service=service)

How ADK maps onto the store:
- an ADK session is a store session whose id is derived from (app_name, user_id, session id)
  (`adk-<digest>`: any ADK id fits the store's id rules, and two apps may reuse an id), with
  `agent_id` = app_name, `user_id` = user_id and metadata `{"adk_session_id": <the ADK id>}`;
- each event is one message, its JSON (every field of the Event) as the content, so events
  come back exactly as appended; role `user` for the user's events, `assistant` otherwise;
- session state is the creation state plus every event's `state_delta`, folded when the
  session is read (the events are the truth); a copy is kept in the store session's
  `user_memory` for listings;
- `app:` state lives in one store session per app (`adk-app-<digest>`), `user:` state in one
  per (app, user) (`adk-user-<digest>`), each in `user_memory`, updated by merge patch;
  `temp:` state is never stored (ADK's own rule, applied by its base class);
- a concurrent writer is detected: an append carries If-Match with the number of events the
  caller's copy of the session was read with; if another writer appended first the store
  answers 412 and this raises ADK's `StaleSessionError` instead of overwriting.
Not atomic: an event's `app:`/`user:` delta is written after the event (two requests), so a
crash between them loses that delta for the shared state (the event itself keeps it).
"""

from __future__ import annotations

import hashlib
from typing import Any

from google.adk.errors._stale_session_error import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.events.event import Event
from google.adk.sessions import _session_util
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig, ListSessionsResponse
from google.adk.sessions.session import Session

from agent_sessions_client.client import AsyncAgentSessionsClient
from agent_sessions_client.errors import ConflictError, NotFoundError, PreconditionFailedError

ADK_MARK = {"adk": "session"}


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:40]


def store_session_id(app_name: str, user_id: str, session_id: str) -> str:
    return f"adk-{_digest(app_name, user_id, session_id)}"


def app_state_id(app_name: str) -> str:
    return f"adk-app-{_digest(app_name)}"


def user_state_id(app_name: str, user_id: str) -> str:
    return f"adk-user-{_digest(app_name, user_id)}"


class AgentSessionsService(BaseSessionService):
    """ADK sessions, events and app/user/session state kept in Agent Sessions."""

    def __init__(self, client: AsyncAgentSessionsClient) -> None:
        self._client = client

    # --- shared state --------------------------------------------------------------------------

    async def _scoped_state(self, store_id: str) -> dict[str, Any]:
        try:
            session = await self._client.get_session(store_id)
        except NotFoundError:
            return {}
        return dict((session.user_memory or {}).get("state") or {})

    async def _merge_scoped(self, store_id: str, delta: dict[str, Any], **fields: Any) -> None:
        if not delta:
            return
        patch = {"user_memory": {"state": delta}}
        try:
            await self._client.update_session(store_id, patch)
        except NotFoundError:
            try:
                await self._client.create_session(session_id=store_id, user_memory={"state": delta}, **fields)
            except ConflictError:  # created by a concurrent writer meanwhile: merge into it
                await self._client.update_session(store_id, patch)

    async def _write_scoped(self, app_name: str, user_id: str, deltas: dict[str, dict[str, Any]]) -> None:
        await self._merge_scoped(app_state_id(app_name), deltas["app"], agent_id=app_name, metadata={"adk": "app"})
        await self._merge_scoped(
            user_state_id(app_name, user_id),
            deltas["user"],
            agent_id=app_name,
            user_id=user_id,
            metadata={"adk": "user"},
        )

    async def _with_scoped_state(self, session: Session) -> Session:
        for key, value in (await self._scoped_state(app_state_id(session.app_name))).items():
            session.state["app:" + key] = value
        for key, value in (await self._scoped_state(user_state_id(session.app_name, session.user_id))).items():
            session.state["user:" + key] = value
        return session

    # --- BaseSessionService ----------------------------------------------------------------------

    async def create_session(
        self,
        *,
        app_name: str,
        user_id: str,
        state: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> Session:
        import uuid

        session_id = session_id.strip() if session_id else str(uuid.uuid4())
        deltas = _session_util.extract_state_delta(state or {})
        try:
            created = await self._client.create_session(
                session_id=store_session_id(app_name, user_id, session_id),
                agent_id=app_name,
                user_id=user_id,
                metadata={**ADK_MARK, "adk_session_id": session_id},
                user_memory={"initial_state": deltas["session"], "state": deltas["session"]},
            )
        except ConflictError as error:
            if error.code == "session_exists":
                raise AlreadyExistsError(f"Session with id {session_id} already exists.") from None
            raise
        await self._write_scoped(app_name, user_id, deltas)
        session = Session(
            id=session_id,
            app_name=app_name,
            user_id=user_id,
            state=dict(deltas["session"]),
            last_update_time=_seconds(created.created_at),
        )
        session._storage_update_marker = "0"
        return await self._with_scoped_state(session)

    async def get_session(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        config: GetSessionConfig | None = None,
    ) -> Session | None:
        store_id = store_session_id(app_name, user_id, session_id.strip())
        try:
            stored = await self._client.get_session(store_id)
            messages = [m async for m in self._client.iter_history(store_id)]
        except NotFoundError:
            return None
        events = [Event.model_validate_json(message.content) for message in messages]
        state = dict((stored.user_memory or {}).get("initial_state") or {})
        for event in events:  # the events are the truth of the session's state
            if event.actions and event.actions.state_delta:
                state.update(_session_util.extract_state_delta(event.actions.state_delta)["session"])
        returned = events
        if config is not None:
            if config.num_recent_events is not None:
                if config.num_recent_events < 0:
                    raise ValueError("num_recent_events must not be negative")
                returned = returned[-config.num_recent_events :] if config.num_recent_events else []
            if config.after_timestamp is not None:
                returned = [event for event in returned if event.timestamp >= config.after_timestamp]
        session = Session(
            id=session_id.strip(),
            app_name=app_name,
            user_id=user_id,
            state=state,
            events=returned,
            last_update_time=events[-1].timestamp if events else _seconds(stored.created_at),
        )
        session._storage_update_marker = str(len(events))
        return await self._with_scoped_state(session)

    async def list_sessions(self, *, app_name: str, user_id: str | None = None) -> ListSessionsResponse:
        filters: dict[str, Any] = {"agent_id": app_name, "metadata": ADK_MARK}
        if user_id is not None:
            filters["user_id"] = user_id
        sessions = []
        async for stored in self._client.iter_sessions(sort="last_activity_at", order="asc", **filters):
            session = Session(
                id=str(stored.metadata.get("adk_session_id")),
                app_name=app_name,
                user_id=str(stored.user_id),
                state=dict((stored.user_memory or {}).get("state") or {}),
                last_update_time=_seconds(stored.last_activity_at),
            )
            sessions.append(await self._with_scoped_state(session))
        sessions.sort(key=lambda s: (s.last_update_time, s.user_id, s.id))
        return ListSessionsResponse(sessions=sessions)

    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        try:
            await self._client.purge_session(store_session_id(app_name, user_id, session_id.strip()))
        except NotFoundError:
            return

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        return await self._scoped_state(user_state_id(app_name, user_id))

    async def append_event(self, session: Session, event: Event) -> Event:
        if event.partial:
            return event
        self._apply_temp_state(session, event)  # temp: lives in memory only, for this invocation
        event = self._trim_temp_delta_state(event)
        store_id = store_session_id(session.app_name, session.user_id, session.id)
        expected = int(session._storage_update_marker or 0)
        message = {"role": "user" if event.author == "user" else "assistant", "content": event.model_dump_json()}
        try:
            result = await self._client.append_messages(store_id, [message], if_match=expected)
        except PreconditionFailedError as error:
            raise StaleSessionError(
                f"Session {session.id} was changed by another writer (it has "
                f"{error.details.get('message_count')} events, this copy was read with {expected})"
            ) from None
        if event.actions and event.actions.state_delta:
            deltas = _session_util.extract_state_delta(event.actions.state_delta)
            await self._write_scoped(session.app_name, session.user_id, deltas)
            if deltas["session"]:  # the listing's copy; the events stay the truth
                await self._client.update_session(store_id, {"user_memory": {"state": deltas["session"]}})
        self._commit_event_to_session(session, event)
        session.last_update_time = event.timestamp
        session._storage_update_marker = str(result.message_count)
        return event


def _seconds(timestamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
