"""What callers send. Every model refuses unknown keys (422 naming the accepted ones)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from agent_sessions.models.limits import (
    DEFAULT_LIST_LIMIT,
    MAX_LIST_LIMIT,
    AgentConfig,
    CallerSessionId,
    ExternalId,
    Metadata,
    MetadataPatch,
    ObjectPatch,
    SessionName,
    Situation,
    Summary,
    TtlSeconds,
    UserMemory,
)

SessionStatus = Literal["active", "idle", "archived", "terminated"]
SettableStatus = Literal["active", "archived"]
SortField = Literal["created_at", "last_activity_at"]
SortDirection = Literal["asc", "desc"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Quotas(StrictModel):
    max_messages: int | None = Field(default=None, ge=1)
    max_tokens_total: int | None = Field(default=None, ge=1)
    max_tool_calls: int | None = Field(default=None, ge=1)
    max_session_duration_minutes: int | None = Field(default=None, ge=1)
    rate_limit_messages_per_minute: int | None = Field(default=None, ge=1)


class _Expiry(StrictModel):
    ttl_seconds: TtlSeconds | None = None
    expires_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _one_expiry(self) -> _Expiry:
        if self.ttl_seconds is not None and self.expires_at is not None:
            raise ValueError("give ttl_seconds or expires_at, not both")
        return self


class CreateSessionRequest(_Expiry):
    session_id: CallerSessionId | None = None  # absent: a new `ses_…` id
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


class UpdateSessionRequest(_Expiry):
    """A JSON merge patch (RFC 7396): a key that is absent is left alone, `null` removes or
    clears, objects (`user_memory`, `metadata`, `agent_config`) merge key by key."""

    user_memory: ObjectPatch | None = None
    metadata: MetadataPatch | None = None
    session_name: SessionName | None = None
    situation: Situation | None = None
    summary: Summary | None = None
    # The last seq the summary covers (a compaction checkpoint): given with `summary`.
    summary_through_seq: int | None = Field(default=None, ge=0, le=10**9)
    agent_config: ObjectPatch | None = None
    status: SettableStatus | None = None

    @model_validator(mode="after")
    def _status_not_null(self) -> UpdateSessionRequest:
        if "status" in self.model_fields_set and self.status is None:
            raise ValueError("status cannot be null; use active or archived")
        if self.summary_through_seq is not None and (self.summary is None or "summary" not in self.model_fields_set):
            raise ValueError("summary_through_seq is given together with the summary it checkpoints")
        return self


class ListFilters(StrictModel):
    user_id: ExternalId | None = None
    agent_id: ExternalId | None = None
    metadata: Metadata | None = None
    created_after: AwareDatetime | None = None
    created_before: AwareDatetime | None = None


class ListSort(StrictModel):
    field: SortField = "created_at"
    direction: SortDirection = "desc"


class ListSessionsRequest(StrictModel):
    """The body of POST /v1/agents/sessions/list. Pagination may also come as query parameters."""

    status: SessionStatus | None = None
    filters: ListFilters | None = None
    sort: ListSort | None = None
    limit: int | None = Field(default=None, ge=1, le=MAX_LIST_LIMIT)
    cursor: str | None = Field(default=None, max_length=4096)
    include_total: bool | None = None
    offset: int | None = Field(default=None, ge=0)


class ListQuery(BaseModel):
    """One list request, however it arrived (JSON body or query parameters)."""

    status: SessionStatus | None = None
    user_id: str | None = None
    agent_id: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)  # matched by text, see metadata_text
    created_after_ms: int | None = None
    created_before_ms: int | None = None
    sort_field: SortField = "created_at"
    direction: SortDirection = "desc"
    limit: int = DEFAULT_LIST_LIMIT
    cursor: str | None = None
    include_total: bool = True
    offset: int = 0


class Paging(BaseModel):
    """Pagination, from the body or the query string (query string wins)."""

    limit: int | None = None
    cursor: str | None = None
    include_total: bool | None = None
    offset: int | None = None
    page: int | None = None


def _as_ms(value: AwareDatetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def build_list_query(
    *,
    status: SessionStatus | None,
    filters: ListFilters | None,
    sort: ListSort | None,
    paging: Paging,
) -> ListQuery:
    from agent_sessions.models.limits import metadata_text

    filters = filters or ListFilters()
    sort = sort or ListSort()
    limit = paging.limit or DEFAULT_LIST_LIMIT
    offset = paging.offset or 0
    if paging.page is not None and paging.offset is None:
        offset = (paging.page - 1) * limit
    return ListQuery(
        status=status,
        user_id=filters.user_id,
        agent_id=filters.agent_id,
        metadata={key: metadata_text(value) for key, value in (filters.metadata or {}).items()},
        created_after_ms=_as_ms(filters.created_after),
        created_before_ms=_as_ms(filters.created_before),
        sort_field=sort.field,
        direction=sort.direction,
        limit=limit,
        cursor=paging.cursor,
        include_total=True if paging.include_total is None else paging.include_total,
        offset=offset,
    )


MessageRole = Literal["user", "assistant", "system", "tool"]
ContentType = Literal["text", "tool_call", "tool_result"]


class MessageIn(StrictModel):
    role: MessageRole = "user"
    content: str
    content_type: ContentType = "text"
    tool_name: str | None = Field(default=None, max_length=256)
    tool_inputs: str | None = None
    tool_outputs: str | None = None
    tool_status: str | None = Field(default=None, max_length=64)
    token_count: int | None = Field(default=None, ge=0, le=10**9)
    latency_ms: float | None = Field(default=None, ge=0, le=10**9, allow_inf_nan=False)
    metadata: Metadata = Field(default_factory=dict)


class AppendMessagesRequest(StrictModel):
    """One message (its fields at the top level) or a batch (`messages`, 1-99).
    `stream` is accepted for compatibility with other session APIs and ignored."""

    messages: list[MessageIn] | None = Field(default=None, min_length=1)
    role: MessageRole | None = None
    content: str | None = None
    content_type: ContentType | None = None
    tool_name: str | None = Field(default=None, max_length=256)
    tool_inputs: str | None = None
    tool_outputs: str | None = None
    tool_status: str | None = Field(default=None, max_length=64)
    token_count: int | None = Field(default=None, ge=0, le=10**9)
    latency_ms: float | None = Field(default=None, ge=0, le=10**9, allow_inf_nan=False)
    metadata: Metadata | None = None
    stream: bool | None = None

    @model_validator(mode="after")
    def _one_or_many(self) -> AppendMessagesRequest:
        single = self.model_fields_set - {"messages", "stream"}
        if self.messages is not None and single:
            raise ValueError(f"give either `messages` or one message's fields, not both (found {sorted(single)})")
        if self.messages is None and self.content is None:
            raise ValueError("`content` is required (or `messages` for a batch)")
        return self

    def as_batch(self) -> list[MessageIn]:
        if self.messages is not None:
            return self.messages
        fields = self.model_dump(exclude={"messages", "stream"}, exclude_none=True)
        return [MessageIn.model_validate(fields)]


# --- conversation operations (DESIGN §2b) -------------------------------------------------------

MAX_CONTEXT_MESSAGES = 1000
DEFAULT_CONTEXT_MESSAGES = 100
FeedbackRating = Literal["positive", "negative"]


class FeedbackRequest(StrictModel):
    message_id: str = Field(min_length=1, max_length=128, pattern=r"^msg_[A-Za-z0-9_.-]{1,124}$")
    rating: FeedbackRating
    feedback_text: str | None = Field(default=None, max_length=4096)


class MessagePatch(StrictModel):
    """A JSON merge patch over one stored message: absent leaves a field alone, `null`
    clears it (`metadata` merges key by key; `content` cannot be cleared)."""

    content: str | None = None
    metadata: MetadataPatch | None = None
    tool_inputs: str | None = None
    tool_outputs: str | None = None
    token_count: int | None = Field(default=None, ge=0, le=10**9)

    @model_validator(mode="after")
    def _content_kept(self) -> MessagePatch:
        if "content" in self.model_fields_set and self.content is None:
            raise ValueError("content cannot be null; send the corrected text (an empty string redacts it)")
        if not self.model_fields_set:
            raise ValueError("give at least one of content, metadata, tool_inputs, tool_outputs, token_count")
        return self


class ForkRequest(StrictModel):
    """A new session from this one's configuration and its messages 0..through_seq."""

    through_seq: int | None = Field(default=None, ge=0, le=10**9)  # default: every message
    session_id: CallerSessionId | None = None  # the child's id; absent: a new `ses_…` id
    session_name: SessionName | None = None
    metadata: MetadataPatch | None = None  # merged over the parent's
