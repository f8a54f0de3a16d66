"""What the API answers, typed. Unknown fields are kept (a newer server may add some)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class SessionStats(_Model):
    total_messages: int
    total_tokens: int
    total_tool_calls: int
    avg_latency_ms: float | None = None


class ForkedFrom(_Model):
    session_id: str
    through_seq: int


class Session(_Model):
    session_id: str
    namespace_id: str
    internal_id: str
    user_id: str | None = None
    agent_id: str | None = None
    session_name: str | None = None
    situation: str | None = None
    summary: str | None = None
    summary_through_seq: int | None = None
    forked_from: ForkedFrom | None = None
    agent_config: dict[str, Any] = {}
    user_memory: dict[str, Any] | None = None
    metadata: dict[str, Any] = {}
    quotas: dict[str, Any] | None = None
    enable_memory: bool = True
    status: str
    message_count: int
    stats: SessionStats
    created_at: str
    updated_at: str
    last_activity_at: str
    expires_at: str
    terminated_at: str | None = None
    version: int


class Feedback(_Model):
    rating: str
    feedback_text: str | None = None
    recorded_at: str


class Attachment(_Model):
    attachment_id: str
    name: str
    mime_type: str
    size: int
    sha256: str
    url: str | None = None  # presigned GET, valid until url_expires_at
    url_expires_at: str | None = None


class UploadTicket(_Model):
    attachment_id: str
    upload_url: str
    upload_method: str = "PUT"
    upload_headers: dict[str, str] = {}
    expires_at: str


class Message(_Model):
    message_id: str
    seq: int
    role: str
    # The client resolves a content the server handed over by URL: callers always get it whole.
    content: str = ""
    content_type: str = "text"
    tool_name: str | None = None
    tool_inputs: str | None = None
    tool_outputs: str | None = None
    tool_status: str | None = None
    token_count: int | None = None
    latency_ms: float | None = None
    metadata: dict[str, Any] = {}
    timestamp: str
    feedback: Feedback | None = None
    attachments: list[Attachment] = []
    content_url: str | None = None
    content_size: int | None = None
    content_sha256: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _content_by_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("content") is None and "content" in data:
            return {**data, "content": ""}
        return data


class Pagination(_Model):
    limit: int
    next_cursor: str | None = None
    has_more: bool


class SessionPage(_Model):
    results: list[Session]
    total: int
    pagination: Pagination


class HistoryPage(_Model):
    session_id: str
    messages: list[Message]
    total_messages: int
    returned_messages: int
    has_more: bool
    next_cursor: str | None = None


class AppendResult(_Model):
    session_id: str
    messages: list[Message]
    message_count: int
    session_name: str | None = None


class TerminatedSession(_Model):
    session_id: str
    status: str
    terminated_at: str


class PurgedSession(_Model):
    session_id: str
    deleted: bool


class RewindResult(_Model):
    session_id: str
    message_count: int
    removed_count: int
    removed: list[Message] | None = None


class ContextWindow(_Model):
    session_id: str
    situation: str | None = None
    summary: str | None = None
    summary_through_seq: int | None = None
    messages: list[Message]
    token_estimate: int
    truncated: bool
    message_count: int


class FeedbackResult(_Model):
    session_id: str
    message_id: str
    rating: str
    stored: bool
    recorded_at: str


class ErasedUser(_Model):
    purged: int
    has_more: bool
