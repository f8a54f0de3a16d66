"""What callers get back: the wire contract's field names and types."""

# No `from __future__ import annotations` in the model modules: pydantic would then read
# every field's annotation back from text (a compile and an eval per field) at import.

from typing import Any

from pydantic import BaseModel, ConfigDict

from agent_sessions.models.common import Quotas, SessionStatus


class ResponseModel(BaseModel):
    # Built on first use: a function builds only the responses it sends (see StrictModel).
    model_config = ConfigDict(defer_build=True)


class SessionStats(ResponseModel):
    total_messages: int
    total_tokens: int
    total_tool_calls: int
    avg_latency_ms: float | None


class ForkedFrom(ResponseModel):
    session_id: str
    through_seq: int


class Session(ResponseModel):
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


class TerminatedSession(ResponseModel):
    session_id: str
    status: SessionStatus
    terminated_at: str


class PurgedSession(ResponseModel):
    session_id: str
    deleted: bool


class Pagination(ResponseModel):
    limit: int
    next_cursor: str | None
    has_more: bool


class SessionPage(ResponseModel):
    results: list[Session]
    total: int
    pagination: Pagination


class Health(ResponseModel):
    status: str
    service: str


class Feedback(ResponseModel):
    rating: str
    feedback_text: str | None
    recorded_at: str


class Attachment(ResponseModel):
    attachment_id: str
    name: str
    mime_type: str
    size: int
    sha256: str
    url: str | None = None  # presigned GET, valid until url_expires_at (at most 15 minutes)
    url_expires_at: str | None = None


class UploadTicket(ResponseModel):
    """Where to PUT an attachment's bytes: the URL and headers are signed for that size and
    checksum; then append a message naming `attachment_id`."""

    attachment_id: str
    upload_url: str
    upload_method: str
    upload_headers: dict[str, str]
    expires_at: str


class Message(ResponseModel):
    message_id: str
    seq: int
    role: str
    content: str | None
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
    attachments: list[Attachment] = []
    # A content kept in S3 that this response could not carry (Lambda's 6 MB): `content` is
    # null and these say where it is (a presigned GET) and what it is.
    content_url: str | None = None
    content_size: int | None = None
    content_sha256: str | None = None


class AppendResult(ResponseModel):
    session_id: str
    messages: list[Message]
    message_count: int
    session_name: str | None


class HistoryPage(ResponseModel):
    session_id: str
    messages: list[Message]
    total_messages: int
    returned_messages: int
    has_more: bool
    next_cursor: str | None


class RewindResult(ResponseModel):
    session_id: str
    message_count: int
    removed_count: int
    removed: list[Message] | None  # oldest first; null when more than 200 were removed


class ContextWindow(ResponseModel):
    session_id: str
    situation: str | None
    summary: str | None
    summary_through_seq: int | None
    messages: list[Message]
    token_estimate: int
    truncated: bool
    message_count: int


class FeedbackResult(ResponseModel):
    session_id: str
    message_id: str
    rating: str
    stored: bool
    recorded_at: str


class ErasedUser(ResponseModel):
    purged: int
    has_more: bool
