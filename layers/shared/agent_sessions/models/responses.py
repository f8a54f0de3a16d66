"""What callers get back: the wire contract's field names and types."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agent_sessions.models.requests import Quotas, SessionStatus


class SessionStats(BaseModel):
    total_messages: int
    total_tokens: int
    total_tool_calls: int
    avg_latency_ms: float | None


class ForkedFrom(BaseModel):
    session_id: str
    through_seq: int


class Session(BaseModel):
    session_id: str
    namespace_id: str
    internal_id: str
    user_id: str | None
    agent_id: str | None
    session_name: str | None
    situation: str | None
    summary: str | None
    agent_config: dict[str, Any]
    user_memory: dict[str, Any] | None
    metadata: dict[str, Any]
    quotas: Quotas | None
    enable_memory: bool
    status: SessionStatus
    message_count: int
    stats: SessionStats
    created_at: str
    updated_at: str
    last_activity_at: str
    expires_at: str
    terminated_at: str | None
    version: int
    summary_through_seq: int | None = None
    forked_from: ForkedFrom | None = None


class TerminatedSession(BaseModel):
    session_id: str
    status: SessionStatus
    terminated_at: str


class PurgedSession(BaseModel):
    session_id: str
    deleted: bool


class Pagination(BaseModel):
    limit: int
    next_cursor: str | None
    has_more: bool


class SessionPage(BaseModel):
    results: list[Session]
    total: int
    pagination: Pagination


class Health(BaseModel):
    status: str
    service: str


class Feedback(BaseModel):
    rating: str
    feedback_text: str | None
    recorded_at: str


class Message(BaseModel):
    message_id: str
    seq: int
    role: str
    content: str
    content_type: str
    tool_name: str | None
    tool_inputs: str | None
    tool_outputs: str | None
    tool_status: str | None
    token_count: int | None
    latency_ms: float | None
    metadata: dict[str, Any]
    timestamp: str
    feedback: Feedback | None = None


class AppendResult(BaseModel):
    session_id: str
    messages: list[Message]
    message_count: int
    session_name: str | None


class HistoryPage(BaseModel):
    session_id: str
    messages: list[Message]
    total_messages: int
    returned_messages: int
    has_more: bool
    next_cursor: str | None


class RewindResult(BaseModel):
    session_id: str
    message_count: int
    removed_count: int
    removed: list[Message] | None  # oldest first; null when more than 200 were removed


class ContextWindow(BaseModel):
    session_id: str
    situation: str | None
    summary: str | None
    summary_through_seq: int | None
    messages: list[Message]
    token_estimate: int
    truncated: bool
    message_count: int


class FeedbackResult(BaseModel):
    session_id: str
    message_id: str
    rating: str
    stored: bool
    recorded_at: str


class ErasedUser(BaseModel):
    purged: int
    has_more: bool
