"""Export and import of one session (DESIGN §13).

Export: the session and every message, contents whole, attachments by reference (fresh URLs)
or inline (their bytes in base64). An export larger than a Lambda response can carry is
written to the bucket under the session's prefix (pending: the lifecycle rule deletes it within
a day) and answered with a 303 to a presigned URL of it.

Import: the file recreates the session exactly — fields, times, version, status, messages with
their seq, ids, timestamps and feedback, attachments with their ids — under its own id or, with
`new_id`, a fresh one (and fresh message ids: ids are never shared between sessions). It
follows the fork's invisible-until-complete pattern: an invisible head first, then the objects
and the messages, then the real head, body, lookups, counters and idempotency record in one
transaction. A failure anywhere leaves no visible session; what it wrote is removed at once
(else by the invisible head's TTL and the stream's cascade, and the objects by the bucket's
rule for pending objects)."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from agent_sessions import clock
from agent_sessions.errors import AppError, BadRequestError, ConflictError, PayloadTooLargeError, validation_failure
from agent_sessions.ids import MESSAGE_ID_PATTERN, new_content_id, new_message_id, new_session_id, seq_of_message_id
from agent_sessions.models.items import MessageItem, SessionItem
from agent_sessions.models.limits import MAX_MESSAGE_BYTES, canonical_json
from agent_sessions.models.requests import ListQuery, MessageIn
from agent_sessions.models.responses import Session
from agent_sessions.models.transfer import (
    FORMAT_VERSION,
    MessageRecord,
    SessionRecord,
)
from agent_sessions.service.attachments import CONTENT_MIME_TYPE, run_all, utf8
from agent_sessions.service.conversation import FORK_PENDING_TTL_SECONDS, MAX_FORK_MESSAGES, ConversationService
from agent_sessions.service.import_uploads import EXPORT_MIME_TYPE, import_upload_key
from agent_sessions.service.messages import ATTACHMENT_ITEM_BYTES
from agent_sessions.service.sessions import refuse_route_word, replay, request_hash
from agent_sessions.store import keys
from agent_sessions.store.idempotency import IdempotencyKeyTaken, IdempotencyRecord
from agent_sessions.tenancy import Tenant

MAX_IMPORT_MESSAGES = MAX_FORK_MESSAGES  # 10,000: what one request writes within Lambda's time
# An export answered in the response below this (Lambda's 6 MB, with room for the envelope).
EXPORT_RESPONSE_BYTES = 5 * 1024 * 1024
# Attachments exported inline are held in memory while the file is built.
MAX_INLINE_EXPORT_BYTES = 256 * 1024 * 1024
USER_EXPORT_PAGE = 20  # sessions per page of a user's export
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


@dataclass
class Export:
    body: str | None = None  # the file, when it fits a response
    url: str | None = None  # else a presigned GET of it


UPLOAD_ID_PATTERN = re.compile(r"^imp_[A-Za-z0-9_-]{22}$")


def _upload_error(upload_id: str, kind: str) -> AppError:
    if kind == "mismatch":
        return validation_failure(
            [
                {
                    "loc": ("query", "upload_id"),
                    "msg": "the uploaded bytes are not the size and sha256 declared",
                    "type": "value_error",
                }
            ]
        )
    return ConflictError(
        f"Nothing was uploaded as {upload_id[:80]} in this namespace (or the upload expired)",
        code="import_not_uploaded",
        details={"upload_id": upload_id[:80]},
    )


def _line_error(line: int, message: str, loc: tuple[str | int, ...] = ()) -> AppError:
    return validation_failure([{"loc": ("body", f"line {line}", *loc), "msg": message, "type": "value_error"}])


class TransferService:
    def __init__(self, conversations: ConversationService) -> None:
        self.conversations = conversations
        self.sessions = conversations.sessions
        self.store = conversations.store
        self.objects = conversations.objects
        self.settings = conversations.settings

    # --- export --------------------------------------------------------------------------------

    def export_session(self, tenant: Tenant, session_id: str, *, inline: bool) -> Export:
        now = clock.now_ms()
        session = self.sessions.load_visible(tenant, session_id, now)
        lines = self._lines(tenant, session, now, inline, [MAX_INLINE_EXPORT_BYTES])
        key = keys.object_key(tenant.namespace_id, session_id, "exp_" + new_content_id()[4:])
        return self._answer(lines, key, f"{session_id}.ndjson")

    def export_user(self, tenant: Tenant, user_id: str, *, cursor: str | None, inline: bool) -> Export:
        """A page of a user's sessions (oldest first), each exported as `export_session` does,
        then a `"type": "page"` line: `has_more` and the `next_cursor` of the next page."""
        now = clock.now_ms()
        query = ListQuery(
            user_id=user_id,
            sort_field="created_at",
            direction="asc",
            limit=USER_EXPORT_PAGE,
            cursor=cursor,
            include_total=False,
        )
        page = self.sessions.list_sessions(tenant, query)
        lines: list[str] = []
        budget = [MAX_INLINE_EXPORT_BYTES]  # the page's files together
        for listed in page.results:
            session = self.sessions.load_visible(tenant, listed.session_id, now)
            lines += self._lines(tenant, session, now, inline, budget)
        pagination = page.pagination
        lines.append(
            json.dumps(
                {
                    "type": "page",
                    "user_id": user_id,
                    "sessions": len(page.results),
                    "has_more": pagination.has_more,
                    "next_cursor": pagination.next_cursor,
                },
                ensure_ascii=False,
            )
        )
        # under the namespace, beside no session ("export" is a route word, never a session id)
        key = keys.object_key(tenant.namespace_id, "export", "exp_" + new_content_id()[4:])
        return self._answer(lines, key, "user-export.ndjson")

    def _answer(self, lines: list[str], key: str, name: str) -> Export:
        """The file in the response when it fits; else written to the bucket (pending: the
        lifecycle rule deletes it within a day) and handed over by a presigned URL."""
        body = "\n".join(lines) + "\n"
        data = utf8(body)
        if len(data) <= EXPORT_RESPONSE_BYTES:
            return Export(body=body)
        self.objects.store.put(
            key, data, mime_type=EXPORT_MIME_TYPE, name=name, sha256=hashlib.sha256(data).hexdigest()
        )
        url, _ = self.objects.store.download_url(key, name=name, mime_type=EXPORT_MIME_TYPE)
        return Export(url=url)

    def _lines(self, tenant: Tenant, session: SessionItem, now: int, inline: bool, budget: list[int]) -> list[str]:
        """The session's line and its messages' lines; `budget` (left of the inline bytes
        allowed) is shared by the sessions of one file."""
        session_id = session.session_id
        messages = (
            self.store.read_range(tenant.namespace_id, session_id, 0, session.message_count - 1)
            if session.message_count
            else []
        )
        self.objects.load_contents(messages, sys.maxsize)  # every content whole
        files: dict[str, bytes] = {}
        if inline:
            wanted = [attachment["attachment_id"] for message in messages for attachment in message.attachments]
            total = sum(attachment["size"] for message in messages for attachment in message.attachments)
            if total > budget[0]:
                raise PayloadTooLargeError(
                    f"The files to export are over {MAX_INLINE_EXPORT_BYTES} bytes inline; export them by "
                    "reference (without ?attachments=inline)",
                    code="export_too_large",
                    details={"size": total, "limit": MAX_INLINE_EXPORT_BYTES},
                )
            budget[0] -= total

            def fetch(attachment_id: str) -> None:
                key = keys.object_key(tenant.namespace_id, session_id, attachment_id)
                files[attachment_id] = self.objects.store.get_bytes(key)

            run_all([functools.partial(fetch, attachment_id) for attachment_id in wanted])
        record = session.to_session(now, self.settings.idle_after_seconds).model_dump(mode="json")
        lines = [json.dumps({"type": "session", "format_version": FORMAT_VERSION, **record}, ensure_ascii=False)]
        for message in messages:
            wire = message.to_message()
            if inline:
                attachments = [
                    {
                        **attachment.model_dump(mode="json", exclude={"url", "url_expires_at"}),
                        "data": base64.b64encode(files[attachment.attachment_id]).decode("ascii"),
                    }
                    for attachment in wire.attachments
                ]
            else:
                attachments = [
                    self.objects.signed(tenant.namespace_id, session_id, attachment).model_dump(mode="json")
                    for attachment in wire.attachments
                ]
            fields = wire.model_dump(
                mode="json", exclude={"attachments", "content_url", "content_size", "content_sha256"}
            )
            lines.append(json.dumps({"type": "message", **fields, "attachments": attachments}, ensure_ascii=False))
        return lines

    # --- import --------------------------------------------------------------------------------

    def _upload_key(self, tenant: Tenant, upload_id: str) -> str:
        return import_upload_key(tenant, upload_id)

    def uploaded_file(self, tenant: Tenant, upload_id: str) -> str:
        """The text of an uploaded export file, checked against the size and sha256 its
        upload declared (409 when it is not there, 422 when the bytes differ)."""
        if not UPLOAD_ID_PATTERN.match(upload_id):
            raise _upload_error(upload_id, "not_uploaded")
        key = self._upload_key(tenant, upload_id)
        info = self.objects.store.head(key)
        if info is None:
            raise _upload_error(upload_id, "not_uploaded")
        data = self.objects.store.get_bytes(key)
        if len(data) != info.declared_size or hashlib.sha256(data).hexdigest() != info.sha256:
            raise _upload_error(upload_id, "mismatch")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequestError("The uploaded file is not UTF-8 text", code="invalid_encoding") from None

    def import_upload(
        self, tenant: Tenant, upload_id: str, *, new_id: bool, idempotency_key: str | None
    ) -> tuple[Session, bool]:
        result = self.import_session(
            tenant, self.uploaded_file(tenant, upload_id), new_id=new_id, idempotency_key=idempotency_key
        )
        with contextlib.suppress(Exception):  # read once; the lifecycle rule is the backstop
            self.objects.store.delete([self._upload_key(tenant, upload_id)])
        return result

    def import_session(
        self, tenant: Tenant, text: str, *, new_id: bool, idempotency_key: str | None
    ) -> tuple[Session, bool]:
        body_hash = request_hash("import_session", {"new_id": new_id, "file": hashlib.sha256(utf8(text)).hexdigest()})
        if idempotency_key is not None:
            earlier = self.store.get_raw(keys.idempotency_pk(tenant.namespace_id, idempotency_key), keys.IDEMPOTENCY_SK)
            if earlier is not None:
                found = IdempotencyRecord.from_item(tenant.namespace_id, idempotency_key, earlier)
                if found.expires_ms > clock.now_ms():
                    return Session.model_validate_json(replay(found, "import_session", body_hash)), True
        head_record, message_records = parse_export(text, self.objects.offloads)
        now = clock.now_ms()
        session_id = new_session_id() if new_id else head_record.session_id
        refuse_route_word(session_id)
        head = self._head(tenant, session_id, head_record, message_records, now)
        items = [self._message(tenant, session_id, record, new_id) for record in message_records]
        record: IdempotencyRecord | None = None
        session = head.to_session(now, self.settings.idle_after_seconds)
        if idempotency_key is not None:
            record = self.sessions.idempotency_record(
                tenant, idempotency_key, "import_session", body_hash, session, now
            )
        try:
            self.store.put_pending(head, FORK_PENDING_TTL_SECONDS, now)
        except Exception as error:
            if getattr(error, "response", {}).get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ConflictError(
                    f"Session {session_id} already exists in this namespace",
                    code="session_exists",
                    details={"session_id": session_id},
                ) from None
            raise
        try:
            run_all(self._object_writes(tenant, session_id, message_records, items))
            self.store.copy_messages(items)
            self.conversations._commit(head, record, now)
        except IdempotencyKeyTaken as taken:  # a concurrent import with this key won
            self.conversations._abandon(head)
            return Session.model_validate_json(replay(taken.record, "import_session", body_hash)), True
        except BaseException:
            self.conversations._abandon(head)
            raise
        return session, False

    def _head(
        self, tenant: Tenant, session_id: str, record: SessionRecord, messages: list[MessageRecord], now: int
    ) -> SessionItem:
        expires = _ms(record.expires_at)
        if expires <= now:
            raise _line_error(1, "the session expired already (expires_at is past)", ("expires_at",))
        latencies = [m.latency_ms for m in messages if m.latency_ms is not None]
        first_user = next((m.seq for m in messages if m.role == "user"), None)
        status = "active" if record.status == "idle" else record.status  # idle is derived on read
        return SessionItem(
            namespace_id=tenant.namespace_id,
            session_id=session_id,
            internal_id=tenant.internal_id,
            user_id=record.user_id,
            agent_id=record.agent_id,
            session_name=record.session_name,
            situation=record.situation,
            summary=record.summary,
            summary_through_seq=record.summary_through_seq,
            agent_config=record.agent_config,
            user_memory=record.user_memory,
            metadata=record.metadata,
            quotas=record.quotas,
            enable_memory=record.enable_memory,
            status=status,
            message_count=len(messages),
            total_tokens=sum(m.token_count or 0 for m in messages),
            total_tool_calls=sum(1 for m in messages if m.content_type == "tool_call"),
            latency_sum_ms=float(sum(latencies)),
            latency_samples=len(latencies),
            created_ms=_ms(record.created_at),
            updated_ms=_ms(record.updated_at),
            last_activity_ms=_ms(record.last_activity_at),
            expires_ms=expires,
            terminated_ms=_ms(record.terminated_at) if record.terminated_at is not None else None,
            version=record.version,
            first_user_seq=first_user,
            forked_from=record.forked_from.session_id if record.forked_from else None,
            forked_through=record.forked_from.through_seq if record.forked_from else None,
        )

    def _message(self, tenant: Tenant, session_id: str, record: MessageRecord, new_id: bool) -> MessageItem:
        feedback = (
            {
                "rating": record.feedback.rating,
                "feedback_text": record.feedback.feedback_text,
                "recorded_ms": _ms(record.feedback.recorded_at),
            }
            if record.feedback is not None
            else None
        )
        return MessageItem(
            namespace_id=tenant.namespace_id,
            session_id=session_id,
            message_id=new_message_id(record.seq) if new_id else record.message_id,
            seq=record.seq,
            role=record.role,
            content=record.content,
            content_type=record.content_type,
            tool_name=record.tool_name,
            tool_inputs=record.tool_inputs,
            tool_outputs=record.tool_outputs,
            tool_status=record.tool_status,
            token_count=record.token_count,
            latency_ms=record.latency_ms,
            metadata=record.metadata,
            timestamp_ms=_ms(record.timestamp),
            feedback=feedback,
            attachments=[
                {k: getattr(a, k) for k in ("attachment_id", "name", "mime_type", "size", "sha256")}
                for a in record.attachments
            ],
        )

    def _object_writes(
        self, tenant: Tenant, session_id: str, records: list[MessageRecord], items: list[MessageItem]
    ) -> list[Callable[[], None]]:
        """The files and the large contents, written pending under the new session's prefix
        (the stream's consumer settles them once the messages are committed)."""
        tasks: list[Callable[[], None]] = []
        put = self.objects.store.put
        for record, item in zip(records, items, strict=True):
            for attachment in record.attachments:
                key = keys.object_key(tenant.namespace_id, session_id, attachment.attachment_id)
                data = base64.b64decode(attachment.data or "")
                tasks.append(
                    functools.partial(
                        put, key, data, mime_type=attachment.mime_type, name=attachment.name, sha256=attachment.sha256
                    )
                )
            if self.objects.offloads(item.content):
                body = utf8(item.content)
                item.content_object = new_content_id()
                item.content_size = len(body)
                item.content_sha256 = hashlib.sha256(body).hexdigest()
                key = keys.object_key(tenant.namespace_id, session_id, item.content_object)
                tasks.append(
                    functools.partial(
                        put, key, body, mime_type=CONTENT_MIME_TYPE, name=None, sha256=item.content_sha256
                    )
                )
        return tasks


def parse_export(text: str, offloads: Callable[[str], bool]) -> tuple[SessionRecord, list[MessageRecord]]:
    """The file's records, each checked (400 for a line that is not JSON, 422 naming the line
    and the field for one that breaks a rule, 413 past the limits)."""
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        raise _line_error(1, "the file is empty: its first line is the session")
    if len(lines) - 1 > MAX_IMPORT_MESSAGES:
        raise PayloadTooLargeError(
            f"An import holds at most {MAX_IMPORT_MESSAGES} messages; this file has {len(lines) - 1}",
            code="import_too_large",
            details={"messages": len(lines) - 1, "limit": MAX_IMPORT_MESSAGES},
        )
    records: list[Any] = []
    for number, line in enumerate(lines, start=1):
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise BadRequestError(
                f"Line {number} is not JSON: {error.msg}",
                code="invalid_json",
                details={"line": number, "position": error.pos},
            ) from None
        model: type[SessionRecord] | type[MessageRecord] = SessionRecord if number == 1 else MessageRecord
        try:
            records.append(model.model_validate(value))
        except PydanticValidationError as error:  # 422 naming the line and the field (413 for a size)
            raise validation_failure(error.errors(include_url=False), prefix=["body", f"line {number}"]) from None
    head: SessionRecord = records[0]
    messages: list[MessageRecord] = records[1:]
    if head.message_count != len(messages):
        raise _line_error(
            1, f"the session holds {head.message_count} messages; the file has {len(messages)}", ("message_count",)
        )
    for index, message in enumerate(messages):
        number = index + 2
        if message.seq != index:
            raise _line_error(number, f"seq {message.seq} is out of order: expected {index}", ("seq",))
        if MESSAGE_ID_PATTERN.match(message.message_id) and seq_of_message_id(message.message_id) != message.seq:
            raise _line_error(number, "the message id names another seq", ("message_id",))
        for position, attachment in enumerate(message.attachments):
            if attachment.data is None:
                raise _line_error(
                    number,
                    "an import needs each file's bytes: export with ?attachments=inline",
                    ("attachments", position, "data"),
                )
            data = base64.b64decode(attachment.data)
            if len(data) != attachment.size or hashlib.sha256(data).hexdigest() != attachment.sha256:
                raise _line_error(number, "the file's bytes are not its size and sha256", ("attachments", position))
        # what an append would count for this message (service/messages.py, message_bytes)
        kept = {k: v for k, v in message.wire_fields().items() if k in MessageIn.model_fields and k != "attachments"}
        if offloads(message.content):
            kept.pop("content")
        size = len(utf8(canonical_json(kept))) + ATTACHMENT_ITEM_BYTES * len(message.attachments)
        if size > MAX_MESSAGE_BYTES:
            raise PayloadTooLargeError(
                f"Message {message.seq} is {size} bytes; a message holds at most {MAX_MESSAGE_BYTES} bytes",
                code="message_too_large",
                details={"line": number, "size": size, "limit": MAX_MESSAGE_BYTES},
            )
    if head.summary_through_seq is not None and head.summary_through_seq >= len(messages):
        raise _line_error(1, "summary_through_seq is beyond the messages", ("summary_through_seq",))
    return head, messages
