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
