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
  ADK allows an empty user id, the store does not: such a session has no store `user_id` and
  the metadata mark `adk_empty_user_id`, and reads give back `""`;
- each event is one message, its JSON (every field of the Event) as the content, so events
  come back exactly as appended; role `user` for the user's events, `assistant` otherwise;
- session state is the creation state plus every event's `state_delta`, folded when the
  session is read (the events are the truth); a copy is kept in the store session's
  `user_memory` for listings, written with the same replace semantics, so a listing shows
  what `get_session` gives;
- `app:` state lives in one store session per app (`adk-app-<digest>`), `user:` state in one
  per (app, user) (`adk-user-<digest>`); `temp:` state is never stored (ADK's own rule,
  applied by its base class). Shared state has ADK's semantics: a key's new value replaces
  the old one whole (a dict is not merged into the stored dict) and `None` is stored as a
  value, not a deletion. Each value is kept as its JSON text under `user_memory.state_json`,
  so one JSON merge patch of the changed keys replaces exactly those keys: two writers of
  different keys never lose each other's, and no read comes before the write;
- an event is appended with an Idempotency-Key made from its id, so an equal event delivered
  again is not stored twice (as ADK's in-memory service ignores it);
- a concurrent writer is detected: an append carries If-Match with the number of events the
  caller's copy of the session was read with; if another writer appended first the store
  answers 412 and this raises ADK's `StaleSessionError` instead of overwriting; an append to a
  session that does not exist raises ADK's `SessionNotFoundError`.
Not atomic: an event's `app:`/`user:` delta is written after the event (two requests), so a
crash between them loses that delta for the shared state (the event itself keeps it).
An event's binary parts (`inline_data` of images, audio, files; up to 100 MiB each) are stored
as the message's attachments and put back exactly when the event is read (`_parts`); the bytes
read are kept in a bounded cache by checksum, so a session read at every turn does not download
the same image again.
The service works from any event loop (the async client keeps a connection pool per loop), so
ADK's synchronous `Runner.run`, which starts a loop per call, can be called again and again.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from google.adk.errors._stale_session_error import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.sessions import _session_util
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig, ListSessionsResponse
from google.adk.sessions.session import Session

from agent_sessions_client.client import AsyncAgentSessionsClient
from agent_sessions_client.errors import ConflictError, NotFoundError, PreconditionFailedError
from agent_sessions_client.integrations import _parts
from agent_sessions_client.models import AppendResult
from agent_sessions_client.models import Session as StoredSession

ADK_MARK = {"adk": "session"}
EMPTY_USER_MARK = "adk_empty_user_id"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:40]


def store_session_id(app_name: str, user_id: str, session_id: str) -> str:
    return f"adk-{_digest(app_name, user_id, session_id)}"


def app_state_id(app_name: str) -> str:
    return f"adk-app-{_digest(app_name)}"


def user_state_id(app_name: str, user_id: str) -> str:
    return f"adk-user-{_digest(app_name, user_id)}"


def _user_fields(user_id: str) -> dict[str, Any]:
    """The store session's user_id, or, for ADK's empty user id (which the store refuses),
    none and a mark that reads give back as ``""``."""
    return {"user_id": user_id} if user_id else {}


def _encoded(delta: dict[str, Any]) -> dict[str, str]:
    """Each value as its JSON text: in a JSON merge patch a text replaces the stored value whole
    (a dict would be merged into it, a null would delete the key)."""
    return {key: json.dumps(value, ensure_ascii=False) for key, value in delta.items()}


def _stored_state(user_memory: dict[str, Any] | None) -> dict[str, Any]:
    """A state kept by this adapter: values written by older releases as plain JSON under
    `state`, overridden by the JSON texts under `state_json`."""
    memory = user_memory or {}
    state = dict(memory.get("state") or {})
    for key, text in (memory.get("state_json") or {}).items():
        state[key] = json.loads(text)
    return state


class AgentSessionsService(BaseSessionService):
    """ADK sessions, events and app/user/session state kept in Agent Sessions."""

    def __init__(self, client: AsyncAgentSessionsClient) -> None:
        self._client = client
        self._parts = _parts.PartCache()

    # --- shared state --------------------------------------------------------------------------

    async def _scoped_state(self, store_id: str) -> dict[str, Any]:
        try:
            session = await self._client.get_session(store_id)
        except NotFoundError:
            return {}
        return _stored_state(session.user_memory)

    async def _replace_keys(self, store_id: str, delta: dict[str, Any], **fields: Any) -> None:
        """The delta's keys replaced in the store session's state (created on first write)."""
        if not delta:
            return
        patch = {"user_memory": {"state_json": _encoded(delta)}}
        try:
            await self._client.update_session(store_id, patch)
        except NotFoundError:
            try:
                await self._client.create_session(session_id=store_id, user_memory=patch["user_memory"], **fields)
            except ConflictError as error:  # created by a concurrent writer meanwhile: write into it
                if error.code != "session_exists":
                    raise
                await self._client.update_session(store_id, patch)

    async def _write_scoped(self, app_name: str, user_id: str, deltas: dict[str, dict[str, Any]]) -> None:
        await self._replace_keys(app_state_id(app_name), deltas["app"], agent_id=app_name, metadata={"adk": "app"})
        await self._replace_keys(
            user_state_id(app_name, user_id),
            deltas["user"],
            agent_id=app_name,
            metadata={"adk": "user", **({} if user_id else {EMPTY_USER_MARK: True})},
            **_user_fields(user_id),
        )

    async def _with_scoped_state(self, session: Session, known: dict[str, dict[str, Any]] | None = None) -> Session:
        """The session with its app's and its user's state; `known` caches them for a listing."""
        known = {} if known is None else known
        for store_id, prefix in (
            (app_state_id(session.app_name), "app:"),
            (user_state_id(session.app_name, session.user_id), "user:"),
        ):
            if store_id not in known:
                known[store_id] = await self._scoped_state(store_id)
            for key, value in known[store_id].items():
                session.state[prefix + key] = json.loads(json.dumps(value))  # a copy per session
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
        session_id = session_id.strip() if session_id else str(uuid.uuid4())
        deltas = _session_util.extract_json_safe_state_delta(state or {})
        try:
            created = await self._client.create_session(
                session_id=store_session_id(app_name, user_id, session_id),
                agent_id=app_name,
                metadata={**ADK_MARK, "adk_session_id": session_id, **({} if user_id else {EMPTY_USER_MARK: True})},
                user_memory={"initial_state": deltas["session"], "state_json": _encoded(deltas["session"])},
                **_user_fields(user_id),
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
        records = await _parts.aread_all(self._client, store_id, messages, self._parts)
        events = [Event.model_validate_json(json.dumps(record)) for record in records]
        state = dict((stored.user_memory or {}).get("initial_state") or {})
        for event in events:  # the events are the truth of the session's state
            if event.actions and event.actions.state_delta:
                state.update(_session_util.extract_state_delta(event.actions.state_delta)["session"])
        session = Session(
            id=session_id.strip(),
            app_name=app_name,
            user_id=user_id,
            state=state,
            events=_selected(events, config),
            last_update_time=events[-1].timestamp if events else _seconds(stored.created_at),
        )
        session._storage_update_marker = str(len(events))
        return await self._with_scoped_state(session)

    async def list_sessions(self, *, app_name: str, user_id: str | None = None) -> ListSessionsResponse:
        filters: dict[str, Any] = {"agent_id": app_name, "metadata": ADK_MARK}
        if user_id:
            filters["user_id"] = user_id
        elif user_id == "":
            filters["metadata"] = {**ADK_MARK, EMPTY_USER_MARK: True}
        sessions = []
        known: dict[str, dict[str, Any]] = {}  # app and user states, read once per listing
        async for stored in self._client.iter_sessions(sort="last_activity_at", order="asc", **filters):
            session = Session(
                id=str(stored.metadata.get("adk_session_id")),
                app_name=app_name,
                user_id=_adk_user_id(stored),
                state=_stored_state(stored.user_memory),
                last_update_time=_seconds(stored.last_activity_at),
            )
            sessions.append(await self._with_scoped_state(session, known))
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
        message = _parts.message(json.loads(event.model_dump_json()), "user" if event.author == "user" else "assistant")
        try:
            result = await self._append(store_id, message, expected, event.id)
        except PreconditionFailedError as error:
            raise StaleSessionError(
                f"Session {session.id} was changed by another writer (it has "
                f"{error.details.get('message_count')} events, this copy was read with {expected})"
            ) from None
        except NotFoundError:
            raise SessionNotFoundError(f"Session {session.id} not found.") from None
        if result.messages[0].seq != expected:  # a replay: this very event is stored already
            return event
        if event.actions and event.actions.state_delta:
            deltas = _session_util.extract_json_safe_state_delta(event.actions.state_delta)
            await self._write_scoped(session.app_name, session.user_id, deltas)
            if deltas["session"]:  # the listing's copy; the events stay the truth
                copy = {"user_memory": {"state_json": _encoded(deltas["session"])}}
                await self._client.update_session(store_id, copy)
        self._commit_event_to_session(session, event)
        session.last_update_time = event.timestamp
        session._storage_update_marker = str(result.message_count)
        return event

    async def _append(self, store_id: str, message: dict[str, Any], expected: int, event_id: str) -> AppendResult:
        """One event appended at `expected`, keyed by its id: an equal event delivered again
        (while the store keeps idempotency records) is the first append's replay, not a second
        copy, as ADK's in-memory service ignores it. A different event that carries a stored
        event's id is appended as the in-memory service keeps it."""
        if not event_id:
            return await self._client.append_messages(store_id, [message], if_match=expected)
        key = f"adk-event-{_digest(store_id, event_id)}"
        try:
            return await self._client.append_messages(store_id, [message], if_match=expected, idempotency_key=key)
        except ConflictError as error:
            if error.code != "idempotency_key_reused":
                raise
            return await self._client.append_messages(store_id, [message], if_match=expected)


def _selected(events: list[Event], config: GetSessionConfig | None) -> list[Event]:
    """The events `config` asks for, as ADK's reference service selects them: the most recent
    `num_recent_events`, then those after the last event older than `after_timestamp`."""
    if config is None:
        return events
    if config.num_recent_events is not None:
        if config.num_recent_events < 0:
            raise ValueError("num_recent_events must not be negative")
        events = events[-config.num_recent_events :] if config.num_recent_events else []
    if config.after_timestamp is not None:
        index = len(events) - 1
        while index >= 0 and events[index].timestamp >= config.after_timestamp:
            index -= 1
        events = events[index + 1 :]
    return events


def _adk_user_id(stored: StoredSession) -> str:
    return "" if stored.metadata.get(EMPTY_USER_MARK) else str(stored.user_id)


def _seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
