"""A session's export file (DESIGN §13), line by line: NDJSON whose first line is the session
(`"type": "session"`, every field a read gives) and whose next lines are its messages in seq
order (`"type": "message"`, every field, `content` whole; attachments with their bytes in
`data` when exported with `?attachments=inline`). What an import accepts is this file, checked
with the same rules as a create and an append."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, model_validator

from agent_sessions.models.common import Instant, Quotas, StrictModel
from agent_sessions.models.limits import (
    MAX_ATTACHMENTS,
    AgentConfig,
    CallerSessionId,
    ExternalId,
    LatencyMs,
    MessageContent,
    Metadata,
    SessionName,
    Situation,
    Summary,
    UserMemory,
)
from agent_sessions.models.requests import (
    AttachmentId,
    AttachmentName,
    Base64Data,
    ContentType,
    MessageRole,
    MimeType,
    Sha256Hex,
)
from agent_sessions.models.responses import ResponseModel

FORMAT_VERSION = 1
EXPORT_MEDIA_TYPE = "application/x-ndjson"
MAX_IMPORT_FILE_BYTES = 100 * 1024 * 1024


class ImportUploadRequest(StrictModel):
    """An export file to upload before importing it (a presigned PUT bound to this size and
    checksum): for files larger than a request can carry."""

    size: int = Field(ge=1, le=MAX_IMPORT_FILE_BYTES)
    sha256: Sha256Hex


class ImportUploadTicket(ResponseModel):
    """PUT the file there with exactly these headers, then `POST /v1/agents/sessions/import?upload_id=…`."""

    upload_id: str
    upload_url: str
    upload_method: str
    upload_headers: dict[str, str]
    expires_at: str


class ForkedFromRecord(StrictModel):
    session_id: str = Field(min_length=1, max_length=128)
    through_seq: int = Field(ge=0, le=10**9)


class StatsRecord(StrictModel):
    """What the export says; an import derives the stats from the messages themselves."""

    total_messages: int
    total_tokens: int
    total_tool_calls: int
    avg_latency_ms: float | None = None


class SessionRecord(StrictModel):
    type: Literal["session"]
    format_version: Literal[1]
    session_id: CallerSessionId
    namespace_id: str | None = None  # the exporting namespace's: an import takes its own
    internal_id: str | None = None
    user_id: ExternalId | None = None
    agent_id: ExternalId | None = None
    session_name: SessionName | None = None
    situation: Situation | None = None
    summary: Summary | None = None
    agent_config: AgentConfig = Field(default_factory=dict)
    user_memory: UserMemory | None = None
    metadata: Metadata = Field(default_factory=dict)
    quotas: Quotas | None = None
    enable_memory: bool = True
    status: Literal["active", "idle", "archived", "terminated"]
    message_count: int = Field(ge=0, le=10**9)
    stats: StatsRecord | None = None
    created_at: Instant
    updated_at: Instant
    last_activity_at: Instant
    expires_at: Instant
    terminated_at: Instant | None = None
    version: int = Field(ge=1, le=10**12)
    summary_through_seq: int | None = Field(default=None, ge=0, le=10**9)
    forked_from: ForkedFromRecord | None = None

    @model_validator(mode="after")
    def _terminated(self) -> Self:
        if (self.status == "terminated") != (self.terminated_at is not None):
            raise ValueError("terminated_at is given exactly when status is terminated")
        return self


class FeedbackRecord(StrictModel):
    rating: Literal["positive", "negative"]
    feedback_text: str | None = Field(default=None, max_length=4096)
    recorded_at: Instant


class AttachmentRecord(StrictModel):
    attachment_id: AttachmentId
    name: AttachmentName
    mime_type: MimeType
    size: int = Field(ge=0, le=100 * 1024 * 1024)
    sha256: Sha256Hex
    # An import needs the bytes: an export made with ?attachments=inline carries them.
    data: Base64Data | None = None
    url: str | None = None  # an export's presigned URL (not followed by an import)
    url_expires_at: str | None = None


class MessageRecord(StrictModel):
    type: Literal["message"]
    message_id: str = Field(pattern=r"^msg_[A-Za-z0-9_.-]{1,124}$")
    seq: int = Field(ge=0, le=10**9)
    role: MessageRole
    content: MessageContent
    content_type: ContentType = "text"
    tool_name: str | None = Field(default=None, max_length=256)
    tool_inputs: str | None = None
    tool_outputs: str | None = None
    tool_status: str | None = Field(default=None, max_length=64)
    token_count: int | None = Field(default=None, ge=0, le=10**9)
    latency_ms: LatencyMs | None = None
    metadata: Metadata = Field(default_factory=dict)
    timestamp: Instant
    feedback: FeedbackRecord | None = None
    attachments: list[AttachmentRecord] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    # An export carries every content whole: these are null in it.
    content_url: None = None
    content_size: None = None
    content_sha256: None = None

    def wire_fields(self) -> dict[str, Any]:
        return self.model_dump(
            exclude={"type", "feedback", "attachments", "content_url", "content_size", "content_sha256"}
        )
