"""What callers send. Every model refuses unknown keys (422 naming the accepted ones)."""

# No `from __future__ import annotations` in the model modules: pydantic would then read
# every field's annotation back from text (a compile and an eval per field) at import.

import base64
import binascii
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PrivateAttr, model_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from agent_sessions.models.common import (
    NOT_BOTH_EXPIRIES,
    Instant,
    Quotas,
    SessionStatus,
    SettableStatus,
    SortDirection,
    SortField,
    StrictModel,
    cross_field_rules,
    present,
)
from agent_sessions.models.limits import (
    DEFAULT_LIST_LIMIT,
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS,
    MAX_LIST_LIMIT,
    NO_CONTROL_CHARACTERS,
    AgentConfig,
    CallerSessionId,
    ExternalId,
    LatencyMs,
    MessageContent,
    Metadata,
    MetadataPatch,
    ObjectPatch,
    SessionName,
    Situation,
    Summary,
    TtlSeconds,
    UserMemory,
)


def _one_expiry(ttl_seconds: int | None, expires_at: Any) -> None:
    if ttl_seconds is not None and expires_at is not None:
        raise ValueError("give ttl_seconds or expires_at, not both")


class SessionFields(StrictModel):
    """A whole session as a caller gives it: what a create sends and what a PUT replaces."""

    model_config = ConfigDict(json_schema_extra=cross_field_rules(NOT_BOTH_EXPIRIES))

    ttl_seconds: TtlSeconds | None = None
    expires_at: Instant | None = Field(default=None, description="in the future")
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

    @model_validator(mode="after")
    def _rules(self) -> Self:
        _one_expiry(self.ttl_seconds, self.expires_at)
        return self


class CreateSessionRequest(SessionFields):
    session_id: CallerSessionId | None = None  # absent: a new `ses_…` id


class PutSessionRequest(SessionFields):
    """PUT /v1/agents/sessions/{session_id}: the whole session; its id is the path's. Fields
    left out take their defaults, as a create gives them."""


class UpdateSessionRequest(StrictModel):
    """A JSON merge patch (RFC 7396): a key that is absent is left alone, `null` removes or
    clears, objects (`user_memory`, `metadata`, `agent_config`) merge key by key. `status`,
    `ttl_seconds` and `expires_at` cannot be null (there is nothing to remove them to)."""

    model_config = ConfigDict(
        json_schema_extra=cross_field_rules(
            NOT_BOTH_EXPIRIES,
            # summary_through_seq checkpoints the summary given with it
            {"anyOf": [{"not": present("summary_through_seq", "integer")}, present("summary", "string")]},
        )
    )

    # SkipJsonSchema: absent is allowed, null is not (the validator below names the field).
    ttl_seconds: TtlSeconds | SkipJsonSchema[None] = None
    expires_at: Instant | SkipJsonSchema[None] = Field(default=None, description="in the future")
    user_memory: ObjectPatch | None = None
    metadata: MetadataPatch | None = None
    session_name: SessionName | None = None
    situation: Situation | None = None
    summary: Summary | None = None
    # The last seq the summary covers (a compaction checkpoint): given with `summary`.
    summary_through_seq: int | None = Field(default=None, ge=0, le=10**9)
    agent_config: ObjectPatch | None = None
    status: SettableStatus | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if "status" in self.model_fields_set and self.status is None:
            raise ValueError("status cannot be null; use active or archived")
        for name in ("ttl_seconds", "expires_at"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null: a session's expiry cannot be removed; give a new one")
        _one_expiry(self.ttl_seconds, self.expires_at)
        if self.summary_through_seq is not None and (self.summary is None or "summary" not in self.model_fields_set):
            raise ValueError("summary_through_seq is given together with the summary it checkpoints")
        return self


MAX_LIST_OFFSET = 10_000
CURSOR_NOTE = "a page's next_cursor, as the server issued it; empty: the first page"
OFFSET_NOTE = "skip this many matches (after the cursor's position when both are given)"


class ListFilters(StrictModel):
    user_id: ExternalId | None = None
    agent_id: ExternalId | None = None
    metadata: Metadata | None = None
    created_after: Instant | None = None
    created_before: Instant | None = None


class ListSort(StrictModel):
    field: SortField = "created_at"
    direction: SortDirection = "desc"


class ListSessionsRequest(StrictModel):
    """The body of POST /v1/agents/sessions/list. Pagination may also come as query parameters."""

    status: SessionStatus | None = None
    filters: ListFilters | None = None
    sort: ListSort | None = None
    limit: int | None = Field(default=None, ge=1, le=MAX_LIST_LIMIT)
    cursor: str | None = Field(default=None, max_length=4096, description=CURSOR_NOTE)
    include_total: bool | None = None
    offset: int | None = Field(default=None, ge=0, le=MAX_LIST_OFFSET, description=OFFSET_NOTE)


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
    from agent_sessions import clock

    return clock.ms_of(value) if value is not None else None


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


# A MIME type as RFC 6838 spells one (type/subtype, optional parameters).
MimeType = Annotated[
    str,
    Field(
        min_length=3,
        max_length=255,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}( *;[ -~]*)?$",
    ),
]
AttachmentName = Annotated[str, Field(min_length=1, max_length=255, pattern=NO_CONTROL_CHARACTERS)]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="lowercase hex SHA-256 of the bytes")]
AttachmentId = Annotated[str, Field(pattern=r"^att_[A-Za-z0-9_-]{22}$")]


def _base64(value: str) -> str:
    try:
        decoded_size = len(binascii.a2b_base64(value, strict_mode=True))
    except (binascii.Error, ValueError):
        raise PydanticCustomError("base64", "data is not valid base64 (RFC 4648, padded)") from None
    if decoded_size == 0:
        raise PydanticCustomError("empty", "data holds no bytes")
    return value


# The document states what _base64 checks (without validating the pattern twice).
Base64Data = Annotated[
    str,
    Field(
        description="the bytes, base64 (RFC 4648, padded)",
        json_schema_extra={
            "minLength": 4,
            "pattern": "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)$",
        },
    ),
    AfterValidator(_base64),
]


def _size_within(value: int) -> int:
    if value > MAX_ATTACHMENT_BYTES:
        raise PydanticCustomError(
            "too_large",
            "the attachment is {size} bytes; the limit is {limit} bytes",
            {"size": value, "limit": MAX_ATTACHMENT_BYTES},
        )
    return value


AttachmentSize = Annotated[
    int,
    Field(ge=1, json_schema_extra={"maximum": MAX_ATTACHMENT_BYTES}, description="bytes, at most 100 MiB"),
    AfterValidator(_size_within),
]


class AttachmentIn(StrictModel):
    """A file on a message: inline (`name`, `mime_type`, `data` in base64) or uploaded before
    (`attachment_id` of an upload to this session)."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["name", "mime_type", "data"], "not": {"required": ["attachment_id"]}},
                {
                    "required": ["attachment_id"],
                    "not": {"anyOf": [{"required": [n]} for n in ("data", "name", "mime_type")]},
                },
            ]
        }
    )

    # SkipJsonSchema: absent is allowed, null is not (the document says so too)
    attachment_id: AttachmentId | SkipJsonSchema[None] = None
    name: AttachmentName | SkipJsonSchema[None] = None
    mime_type: MimeType | SkipJsonSchema[None] = None
    data: Base64Data | SkipJsonSchema[None] = None
    _bytes: bytes | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_way_in(self) -> Self:
        if self.attachment_id is not None:
            if self.data is not None or self.name is not None or self.mime_type is not None:
                raise ValueError("an uploaded attachment is named by attachment_id alone")
        elif self.data is None or self.name is None or self.mime_type is None:
            raise ValueError("an attachment gives name, mime_type and data (base64), or the attachment_id of an upload")
        return self

    @property
    def payload(self) -> bytes:
        """The decoded bytes of an inline attachment (decoded once, when first asked)."""
        if self._bytes is None:
            self._bytes = base64.b64decode(self.data or "", validate=True)
        return self._bytes


class AttachmentRef(StrictModel):
    attachment_id: AttachmentId


class CreateUploadRequest(StrictModel):
    """An attachment to upload (a presigned PUT bound to this size and checksum)."""

    name: AttachmentName
    mime_type: MimeType
    size: AttachmentSize
    sha256: Sha256Hex


class MessageIn(StrictModel):
    role: MessageRole = "user"
    content: MessageContent
    content_type: ContentType = "text"
    tool_name: str | None = Field(default=None, max_length=256)
    tool_inputs: str | None = None
    tool_outputs: str | None = None
    tool_status: str | None = Field(default=None, max_length=64)
    token_count: int | None = Field(default=None, ge=0, le=10**9)
    latency_ms: LatencyMs | None = None
    metadata: Metadata = Field(default_factory=dict)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


SINGLE_MESSAGE_FIELDS = (
    "role",
    "content",
    "content_type",
    "tool_name",
    "tool_inputs",
    "tool_outputs",
    "tool_status",
    "token_count",
    "latency_ms",
    "metadata",
    "attachments",
)


class AppendMessagesRequest(StrictModel):
    """One message (its fields at the top level, `content` required) or a batch (`messages`,
    1-99, and none of the single message's fields). `stream` is accepted for compatibility
    with other session APIs and ignored."""

    model_config = ConfigDict(
        json_schema_extra=cross_field_rules(
            {
                "anyOf": [
                    {
                        "allOf": [present("messages", "array")],
                        "not": {"anyOf": [{"required": [name]} for name in SINGLE_MESSAGE_FIELDS]},
                    },
                    {
                        "allOf": [present("content", "string")],
                        "not": present("messages", "array"),
                    },
                ]
            }
        )
    )

    messages: list[MessageIn] | None = Field(default=None, min_length=1)
    role: MessageRole | None = None
    content: MessageContent | None = None
    content_type: ContentType | None = None
    tool_name: str | None = Field(default=None, max_length=256)
    tool_inputs: str | None = None
    tool_outputs: str | None = None
    tool_status: str | None = Field(default=None, max_length=64)
    token_count: int | None = Field(default=None, ge=0, le=10**9)
    latency_ms: LatencyMs | None = None
    metadata: Metadata | None = None
    attachments: list[AttachmentIn] | None = Field(default=None, max_length=MAX_ATTACHMENTS)
    stream: bool | None = None

    @model_validator(mode="after")
    def _one_or_many(self) -> Self:
        single = self.model_fields_set & set(SINGLE_MESSAGE_FIELDS)
        if self.messages is not None and single:
            raise ValueError(f"give either `messages` or one message's fields, not both (found {sorted(single)})")
        if self.messages is None and self.content is None:
            raise ValueError("`content` is required (or `messages` for a batch)")
        return self

    def as_batch(self) -> list[MessageIn]:
        if self.messages is not None:
            return self.messages
        fields = self.model_dump(exclude={"messages", "stream", "attachments"}, exclude_none=True)
        message = MessageIn.model_validate(fields)
        message.attachments = list(self.attachments or [])  # validated (and decoded) once, above
        return [message]


# --- conversation operations (DESIGN §2b) -------------------------------------------------------

FeedbackRating = Literal["positive", "negative"]


class FeedbackRequest(StrictModel):
    message_id: str = Field(min_length=1, max_length=128, pattern=r"^msg_[A-Za-z0-9_.-]{1,124}$")
    rating: FeedbackRating
    feedback_text: str | None = Field(default=None, max_length=4096)


class MessagePatch(StrictModel):
    """A JSON merge patch over one stored message: absent leaves a field alone, `null`
    clears it (`metadata` merges key by key; `content` cannot be cleared)."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    content: MessageContent | SkipJsonSchema[None] = None
    metadata: MetadataPatch | None = None
    tool_inputs: str | None = None
    tool_outputs: str | None = None
    token_count: int | None = Field(default=None, ge=0, le=10**9)
    # The attachments kept (redaction): those left out are deleted; `[]` or null removes all.
    attachments: list[AttachmentRef] | None = Field(default=None, max_length=MAX_ATTACHMENTS)

    @model_validator(mode="after")
    def _content_kept(self) -> Self:
        if "content" in self.model_fields_set and self.content is None:
            raise ValueError("content cannot be null; send the corrected text (an empty string redacts it)")
        if not self.model_fields_set:
            raise ValueError(
                "give at least one of content, metadata, tool_inputs, tool_outputs, token_count, attachments"
            )
        return self


class ForkRequest(StrictModel):
    """A new session from this one's configuration and its messages 0..through_seq."""

    through_seq: int | None = Field(default=None, ge=0, le=10**9)  # default: every message
    session_id: CallerSessionId | None = None  # the child's id; absent: a new `ses_…` id
    session_name: SessionName | None = None
    metadata: MetadataPatch | None = None  # merged over the parent's
