"""Each API operation as a request description, shared by the sync and the async client (so
the two cannot drift), and the retry policy both apply."""

from __future__ import annotations

import hashlib
import json
import os
import random
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

from agent_sessions_client import models
from agent_sessions_client.errors import AgentSessionsError, TransportError, error_from_response

RETRY_STATUSES = (429, 503)


@dataclass
class Request:
    method: str
    path: str
    model: type[BaseModel] | None
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # Safe to send again when no answer came back: reads, and writes that cannot apply twice
    # (an Idempotency-Key, an If-Match, or an operation that is idempotent by nature).
    retry_without_answer: bool = True
    content: bytes | None = None  # a body that is not JSON (an export file)
    raw: bool = False  # the answer is text (an export file), not JSON


@dataclass
class RawAnswer:
    text: str
    location: str | None = None  # a 303's: the file is there (a presigned URL)


@dataclass
class RetryPolicy:
    """Bounded retries on 429/503 (honouring Retry-After) and, for requests safe to repeat,
    on a lost connection: exponential backoff with full jitter, capped."""

    max_attempts: int = 5
    base_seconds: float = 0.25
    max_seconds: float = 8.0

    def delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), self.max_seconds)
            except ValueError:
                pass
        return random.uniform(0, min(self.max_seconds, self.base_seconds * 2**attempt))


def settings_from_environment(base_url: str | None, api_key: str | None, namespace: str | None) -> tuple[str, str, str]:
    base_url = base_url or os.environ.get("AGENT_SESSIONS_URL") or "http://127.0.0.1:3000"
    api_key = api_key or os.environ.get("AGENT_SESSIONS_API_KEY")
    namespace = namespace or os.environ.get("AGENT_SESSIONS_NAMESPACE")
    if not api_key or not namespace:
        raise ValueError("api_key and namespace are required (or AGENT_SESSIONS_API_KEY / AGENT_SESSIONS_NAMESPACE)")
    return base_url.rstrip("/"), api_key, namespace


def parse(request: Request, status: int, text: str, headers: dict[str, str]) -> Any:
    if request.raw and status < 400:
        return RawAnswer(text, headers.get("location") if status == 303 else None)
    body: Any = json.loads(text) if text else None
    if status >= 400:
        raise error_from_response(status, body, headers)
    return request.model.model_validate(body) if request.model is not None else body


def should_retry(request: Request, error: AgentSessionsError) -> bool:
    """429 means nothing was written (a quota or a throttle refused it); a 503 or a lost
    connection may follow a write that happened, so only requests safe to repeat retry them."""
    if isinstance(error, TransportError):
        return request.retry_without_answer
    if error.status == 429:
        return True
    return error.status in RETRY_STATUSES and request.retry_without_answer


def _sid(session_id: str) -> str:
    return quote(session_id, safe="")


def _etag(value: int | None) -> dict[str, str]:
    return {"If-Match": f'"{value}"'} if value is not None else {}


def new_key() -> str:
    return uuid.uuid4().hex


def _key(idempotency_key: str | None) -> dict[str, str]:
    """One key per call, made here and sent with every retry of that call."""
    return {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# --- the operations --------------------------------------------------------------------------


def create_session(body: dict[str, Any], idempotency_key: str | None) -> Request:
    return Request("POST", "/v1/agents/sessions", models.Session, body=body, headers=_key(idempotency_key))


def put_session(
    session_id: str, body: dict[str, Any], if_match: int | None, create_only: bool, idempotency_key: str | None
) -> Request:
    """Create the session with this id or replace it whole; a replace is as safe to repeat as
    the create (one Idempotency-Key per call)."""
    headers = {**_key(idempotency_key), **_etag(if_match), **({"If-None-Match": "*"} if create_only else {})}
    return Request("PUT", f"/v1/agents/sessions/{_sid(session_id)}", models.Session, body=body, headers=headers)


def get_session(session_id: str) -> Request:
    return Request("GET", f"/v1/agents/sessions/{_sid(session_id)}", models.Session)


def list_sessions(filters: dict[str, Any], limit: int, cursor: str | None, include_total: bool) -> Request:
    """`filters`: user_id, agent_id, metadata, created_after, created_before, and status,
    sort ("created_at" or "last_activity_at"), order ("desc" or "asc")."""
    filters = dict(filters)
    body: dict[str, Any] = {}
    if filters.get("status") is not None:
        body["status"] = filters.pop("status")
    sort, order = filters.pop("sort", None), filters.pop("order", None)
    if sort is not None or order is not None:
        body["sort"] = _drop_none({"field": sort, "direction": order})
    if filters:
        body["filters"] = filters
    params = _drop_none({"limit": limit, "cursor": cursor, "include_total": str(include_total).lower()})
    return Request("POST", "/v1/agents/sessions/list", models.SessionPage, params=params, body=body)


def update_session(session_id: str, patch: dict[str, Any], if_match: int | None) -> Request:
    # A JSON merge patch applied twice gives what applying it once gives.
    return Request(
        "PATCH", f"/v1/agents/sessions/{_sid(session_id)}", models.Session, body=patch, headers=_etag(if_match)
    )


def terminate_session(session_id: str) -> Request:
    return Request("DELETE", f"/v1/agents/sessions/{_sid(session_id)}", models.TerminatedSession)


def purge_session(session_id: str) -> Request:
    return Request("DELETE", f"/v1/agents/sessions/{_sid(session_id)}", models.PurgedSession, params={"purge": "true"})


def append_messages(
    session_id: str, messages: list[dict[str, Any]], if_match: int | None, idempotency_key: str | None
) -> Request:
    return Request(
        "POST",
        f"/v1/agents/sessions/{_sid(session_id)}/messages",
        models.AppendResult,
        body={"messages": messages},
        headers={**_key(idempotency_key), **_etag(if_match)},
    )


def get_history(session_id: str, limit: int, cursor: str | None, order: str, offset: int | None = None) -> Request:
    params = _drop_none({"limit": limit, "cursor": cursor, "order": order, "offset": offset})
    return Request("GET", f"/v1/agents/sessions/{_sid(session_id)}/history", models.HistoryPage, params=params)


def rewind(session_id: str, from_seq: int | None, last: int | None, if_match: int | None) -> Request:
    return Request(
        "DELETE",
        f"/v1/agents/sessions/{_sid(session_id)}/messages",
        models.RewindResult,
        params=_drop_none({"from_seq": from_seq, "last": last}),
        headers=_etag(if_match),
        retry_without_answer=if_match is not None,  # only If-Match makes a rewind exactly-once
    )


def get_context(session_id: str, max_tokens: int | None, max_messages: int | None) -> Request:
    params = _drop_none({"max_tokens": max_tokens, "max_messages": max_messages})
    return Request("GET", f"/v1/agents/sessions/{_sid(session_id)}/context", models.ContextWindow, params=params)


def fork_session(session_id: str, body: dict[str, Any], idempotency_key: str | None) -> Request:
    return Request(
        "POST", f"/v1/agents/sessions/{_sid(session_id)}/fork", models.Session, body=body, headers=_key(idempotency_key)
    )


def export_session(session_id: str, inline: bool) -> Request:
    params = {"attachments": "inline"} if inline else {}
    return Request("GET", f"/v1/agents/sessions/{_sid(session_id)}/export", None, params=params, raw=True)


# An export file sent in the import request up to this size; larger ones are uploaded first
# (Lambda takes at most 6 MB of request).
IMPORT_INLINE_BYTES = 5 * 1024 * 1024


def import_session(data: bytes, new_id: bool, idempotency_key: str | None, upload_id: str | None = None) -> Request:
    params = {"new_id": "true"} if new_id else {}
    if upload_id is not None:
        params["upload_id"] = upload_id
    return Request(
        "POST",
        "/v1/agents/sessions/import",
        models.Session,
        params=params,
        content=data if upload_id is None else None,
        headers={"Content-Type": "application/x-ndjson", **_key(idempotency_key)},
    )


def create_import_upload(data: bytes) -> Request:
    body = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return Request("POST", "/v1/agents/sessions/import/uploads", None, body=body)


def record_feedback(session_id: str, message_id: str, rating: str, feedback_text: str | None) -> Request:
    body = _drop_none({"message_id": message_id, "rating": rating, "feedback_text": feedback_text})
    return Request("POST", f"/v1/agents/sessions/{_sid(session_id)}/feedback", models.FeedbackResult, body=body)


def update_message(session_id: str, seq: int, patch: dict[str, Any]) -> Request:
    return Request("PATCH", f"/v1/agents/sessions/{_sid(session_id)}/messages/{seq}", models.Message, body=patch)


def erase_user(user_id: str) -> Request:
    return Request("DELETE", "/v1/agents/sessions", models.ErasedUser, params={"user_id": user_id})


def create_upload(session_id: str, name: str, mime_type: str, size: int, digest: str) -> Request:
    body = {"name": name, "mime_type": mime_type, "size": size, "sha256": digest}
    return Request("POST", f"/v1/agents/sessions/{_sid(session_id)}/attachments", models.UploadTicket, body=body)


def get_attachment(session_id: str, attachment_id: str) -> Request:
    return Request(
        "GET", f"/v1/agents/sessions/{_sid(session_id)}/attachments/{quote(attachment_id, safe='')}", models.Attachment
    )
