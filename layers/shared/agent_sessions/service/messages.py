"""Conversation history: appending messages (exact under concurrency) and reading them."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any

from agent_sessions import clock
from agent_sessions.errors import (
    ConflictError,
    PayloadTooLargeError,
    PreconditionFailedError,
    ServiceUnavailableError,
    TooManyRequestsError,
    session_not_found,
    validation_failure,
)
from agent_sessions.ids import is_session_id, new_message_id
from agent_sessions.models.items import MessageItem, SessionItem
from agent_sessions.models.limits import (
    GENERATED_NAME_CHARS,
    MAX_BATCH_MESSAGES,
    MAX_MESSAGE_BYTES,
    MAX_TRANSACTION_BYTES,
    canonical_json,
)
from agent_sessions.models.responses import AppendResult, HistoryPage
from agent_sessions.service.attachments import ObjectService, Prepared, StoredParts, attachment_in_use
from agent_sessions.service.sessions import MAX_ATTEMPTS, SessionService, backoff, replay, request_hash
from agent_sessions.settings import Settings
from agent_sessions.store import keys
from agent_sessions.store.cursor import decode_cursor, encode_cursor
from agent_sessions.store.idempotency import IdempotencyKeyTaken, IdempotencyRecord
from agent_sessions.store.messages import (
    RATE_NEW_WINDOW,
    RATE_NONE,
    RATE_SAME_WINDOW,
    AppendConflict,
    AppendPlan,
    AppendRefused,
    MessageStore,
)
from agent_sessions.tenancy import Tenant

if TYPE_CHECKING:
    from agent_sessions.models.requests import AppendMessagesRequest, MessageIn

_SPACES = re.compile(r"\s+")
# Appends to one session serialize on its message_count; a crowd of writers needs more tries.
APPEND_ATTEMPTS = 3 * MAX_ATTEMPTS


def session_name_from(content: str) -> str | None:
    """The first user message, on one line, cut at a word boundary to at most 80 characters."""
    text = _SPACES.sub(" ", content).strip()
    if not text:
        return None
    if len(text) <= GENERATED_NAME_CHARS:
        return text
    cut = text[: GENERATED_NAME_CHARS + 1]
    boundary = cut.rfind(" ")
    name = cut[:boundary] if boundary > 0 else text[:GENERATED_NAME_CHARS]
    return name.rstrip(" ,.;:-") or text[:GENERATED_NAME_CHARS]


# What a message's item keeps of each attachment (ids, name, type, size, digest), at most.
ATTACHMENT_ITEM_BYTES = 600


def message_bytes(message: MessageIn, content_offloaded: bool = False) -> int:
    """The bytes the message takes in its item: its fields, its content unless kept in S3,
    and each attachment's description."""
    fields = message.model_dump(mode="json", exclude={"attachments", *(("content",) if content_offloaded else ())})
    return len(canonical_json(fields).encode("utf-8", "surrogatepass")) + ATTACHMENT_ITEM_BYTES * len(
        message.attachments
    )


class MessageService:
    def __init__(
        self, sessions: SessionService, store: MessageStore, settings: Settings, objects: ObjectService | None = None
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.settings = settings
        self.objects = objects or ObjectService(settings)

    # --- append ------------------------------------------------------------------------------

    def append(
        self,
        tenant: Tenant,
        session_id: str,
        request: AppendMessagesRequest,
        if_match_seq: int | None,
        idempotency_key: str | None,
    ) -> tuple[AppendResult, bool]:
        if not is_session_id(session_id):
            raise session_not_found(session_id[:80])
        batch = request.as_batch()
        self._check_batch(batch, idempotency_key is not None)
        # Attachments and large contents go to S3 first (pending); a write that fails below
        # deletes them again (service/attachments.py).
        prepared = self.objects.prepare(tenant, session_id, batch) if self.objects.needed(batch) else None
        body_hash = append_hash(session_id, request, prepared)
        try:
            if prepared is not None and prepared.in_use:
                # The first request of a retry may have put these uploads on its message:
                # replay it (the key's record decides), else they are another message's.
                replayed_result = self._replay(tenant, idempotency_key, body_hash, batch)
                if replayed_result is None:
                    raise attachment_in_use(prepared.in_use[0])
                result, replayed = replayed_result, True
            else:
                result, replayed = self._append(
                    tenant, session_id, batch, body_hash, if_match_seq, idempotency_key, prepared
                )
        except BaseException:
            self.objects.discard(prepared)
            raise
        if replayed:
            self.objects.discard(prepared)  # the first request's objects are the ones named
        if any(message.attachments for message in result.messages):
            result.messages = [
                message.model_copy(
                    update={
                        "attachments": [
                            self.objects.signed(tenant.namespace_id, session_id, attachment)
                            for attachment in message.attachments
                        ]
                    }
                )
                for message in result.messages
            ]
        return result, replayed

    def _replay(
        self, tenant: Tenant, idempotency_key: str | None, body_hash: str, batch: list[MessageIn]
    ) -> AppendResult | None:
        """The stored answer of the live request with this key (409 if it was another
        request), or None when there is none."""
        if idempotency_key is None:
            return None
        item = self.store.get_raw(keys.idempotency_pk(tenant.namespace_id, idempotency_key), keys.IDEMPOTENCY_SK)
        if item is None:
            return None
        record = IdempotencyRecord.from_item(tenant.namespace_id, idempotency_key, item)
        if record.expires_ms < clock.now_ms():
            return None
        stored = AppendResult.model_validate_json(replay(record, "append_messages", body_hash))
        return with_repeated_fields(stored, batch)

    def _append(
        self,
        tenant: Tenant,
        session_id: str,
        batch: list[MessageIn],
        body_hash: str,
        if_match_seq: int | None,
        idempotency_key: str | None,
        prepared: Prepared | None,
    ) -> tuple[AppendResult, bool]:
        # A message id carries its seq; a retry at another seq (a concurrent append won the
        # first) gets ids for its own positions, made once per position.
        message_ids_by_seq: dict[int, str] = {}
        current: SessionItem | None = None
        for attempt in range(APPEND_ATTEMPTS):
            now = clock.now_ms()
            if if_match_seq is None and current is None:
                current = self.sessions.load_visible(tenant, session_id, now, with_body=False)
            if current is not None:
                self._refuse_if_not_writable(current, len(batch), batch, now, if_match_seq)
                expected = current.message_count
                rate_mode = rate_mode_for(current, now)
            else:
                assert if_match_seq is not None
                expected = if_match_seq
                rate_mode = RATE_NONE  # the common case; a rate-limited session answers with its state
            message_ids = [
                message_ids_by_seq.setdefault(expected + index, new_message_id(expected + index))
                for index in range(len(batch))
            ]
            plan = self._plan(
                tenant,
                session_id,
                batch,
                message_ids,
                expected,
                now,
                rate_mode,
                idempotency_key,
                body_hash,
                current,
                prepared,
            )
            try:
                self.store.append(plan)
            except IdempotencyKeyTaken as taken:
                stored = AppendResult.model_validate_json(replay(taken.record, "append_messages", body_hash))
                return with_repeated_fields(stored, batch), True
            except AppendRefused as refused:
                if refused.current is None:
                    raise session_not_found(session_id) from None
                # The refusal returned the session as it is now: raise when the refusal is
                # final; otherwise retry at once from that state (no re-read).
                current = refused.current
                self._refuse_if_not_writable(current, len(batch), batch, clock.now_ms(), if_match_seq)
                if if_match_seq is None:
                    backoff(attempt)  # another writer won this seq: let the crowd spread out
                continue
            except AppendConflict:
                if if_match_seq is None:
                    current = None
                backoff(attempt)
                continue
            return self._result(plan, current, batch), False
        raise ServiceUnavailableError(
            "Too many concurrent appends; retry shortly", code="write_conflict", headers={"Retry-After": "1"}
        )

    def _check_batch(self, batch: list[MessageIn], with_idempotency_key: bool) -> None:
        limit = MAX_BATCH_MESSAGES - (1 if with_idempotency_key else 0)
        if len(batch) > limit:
            raise validation_failure(
                [
                    {
                        "loc": ("body", "messages"),
                        "msg": f"a batch holds at most {limit} messages"
                        + (" with an Idempotency-Key" if with_idempotency_key else ""),
                        "type": "too_long",
                    }
                ]
            )
        total = 0
        for index, message in enumerate(batch):
            size = message_bytes(message, self.objects.offloads(message.content))
            if size > MAX_MESSAGE_BYTES:
                raise PayloadTooLargeError(
                    f"Message {index} is {size} bytes; a message holds at most {MAX_MESSAGE_BYTES} bytes",
                    code="message_too_large",
                    details={"index": index, "size": size, "limit": MAX_MESSAGE_BYTES},
                )
            total += size
        if total > MAX_TRANSACTION_BYTES:
            raise PayloadTooLargeError(
                f"The batch is {total} bytes; one append stores at most {MAX_TRANSACTION_BYTES} bytes "
                "(DynamoDB's 4 MB transaction limit); split it",
                code="transaction_too_large",
                details={"size": total, "limit": MAX_TRANSACTION_BYTES},
            )

    def _refuse_if_not_writable(
        self, current: SessionItem, count: int, batch: list[MessageIn], now: int, if_match_seq: int | None
    ) -> None:
        """The append's rules, checked against a known session state: raise the final error."""
        if current.visible_until_ms(self.settings.terminated_retention_seconds) <= now:
            raise session_not_found(current.session_id)
        if current.status == "terminated":
            raise ConflictError(f"Session {current.session_id} is terminated and read-only", code="session_terminated")
        if current.status == "archived":
            raise ConflictError(
                f"Session {current.session_id} is archived and read-only; set status to active first",
                code="session_archived",
            )
        if if_match_seq is not None and current.message_count != if_match_seq:
            raise PreconditionFailedError(
                f"The next seq of session {current.session_id} is {current.message_count}, not {if_match_seq}",
                code="seq_mismatch",
                details={"message_count": current.message_count, "expected_seq": if_match_seq},
                headers={"ETag": f'"{current.message_count}"'},
            )
        quotas = current.quotas
        if quotas is None:
            return
        tokens = sum(message.token_count or 0 for message in batch)
        tool_calls = sum(1 for message in batch if message.content_type == "tool_call")
        checks: list[tuple[int | None, int, str]] = [
            (quotas.max_messages, current.message_count + count, "max_messages"),
            (quotas.max_tokens_total, current.total_tokens + tokens, "max_tokens_total"),
            (quotas.max_tool_calls, current.total_tool_calls + tool_calls, "max_tool_calls"),
        ]
        for limit, would_be, name in checks:
            if limit is not None and would_be > limit:
                raise TooManyRequestsError(
                    f"This append would pass the session's {name} quota ({limit})",
                    code=f"quota_{name}",
                    details={"quota": name, "limit": limit, "would_be": would_be},
                )
        rate = quotas.rate_limit_messages_per_minute
        if rate is not None:
            minute = now // 60_000
            used = (rate - (current.rate_left or 0)) if current.rate_window == minute else 0
            if used + count > rate:
                retry_after = max(1, 60 - (now // 1000) % 60)
                raise TooManyRequestsError(
                    f"The session allows {rate} messages per minute",
                    code="quota_rate_limit_messages_per_minute",
                    details={"quota": "rate_limit_messages_per_minute", "limit": rate},
                    headers={"Retry-After": str(retry_after)},
                )

    def _due_after_append(self, now: int, current: SessionItem | None) -> int:
        idle_at = now + self.settings.idle_after_seconds * 1000
        if current is None:
            return idle_at
        return min(idle_at, current.visible_until_ms(self.settings.terminated_retention_seconds))

    def _plan(
        self,
        tenant: Tenant,
        session_id: str,
        batch: list[MessageIn],
        message_ids: list[str],
        expected: int,
        now: int,
        rate_mode: str,
        idempotency_key: str | None,
        body_hash: str,
        current: SessionItem | None,
        prepared: Prepared | None,
    ) -> AppendPlan:
        parts = prepared.parts if prepared is not None else [StoredParts() for _ in batch]
        messages = [
            MessageItem(
                namespace_id=tenant.namespace_id,
                session_id=session_id,
                message_id=message_id,
                seq=expected + index,
                timestamp_ms=now,
                **message.model_dump(exclude={"attachments"}),
                attachments=part.attachments,
                content_object=part.content_object,
                content_size=part.content_size,
                content_sha256=part.content_sha256,
            )
            for index, (message, message_id, part) in enumerate(zip(batch, message_ids, parts, strict=True))
        ]
        first_user = next((m for m in messages if m.role == "user" and session_name_from(m.content)), None)
        latencies = [m.latency_ms for m in messages if m.latency_ms is not None]
        plan_without_record = AppendPlan(
            namespace_id=tenant.namespace_id,
            session_id=session_id,
            messages=messages,
            expected_count=expected,
            tokens=sum(m.token_count or 0 for m in messages),
            tool_calls=sum(1 for m in messages if m.content_type == "tool_call"),
            latency_sum=float(sum(latencies)),
            latency_samples=len(latencies),
            generated_name=session_name_from(first_user.content) if first_user else None,
            first_user_seq=first_user.seq if first_user else None,
            now_ms=now,
            rate_mode=rate_mode,
            idempotency=None,
            expected_status=current.status if current is not None else "active",
            due_ms=self._due_after_append(now, current),
        )
        if idempotency_key is None:
            return plan_without_record
        result = without_repeated_fields(self._result(plan_without_record, current, batch))
        record = self.sessions.idempotency_record(tenant, idempotency_key, "append_messages", body_hash, result, now)
        return dataclasses.replace(plan_without_record, idempotency=record)

    @staticmethod
    def _result(plan: AppendPlan, known: SessionItem | None, batch: list[MessageIn]) -> AppendResult:
        """The append's response. Without a read (If-Match) the session's name is known only
        when this append gives it one; otherwise it is reported as null."""
        session_name = None
        if known is not None:
            session_name = known.session_name
            if session_name is None and known.first_user_seq is None:
                session_name = plan.generated_name
        elif plan.expected_count == 0:
            session_name = plan.generated_name
        return AppendResult(
            session_id=plan.session_id,
            # each message as given (a content kept in S3 too)
            messages=[
                message.to_message().model_copy(
                    update={"content": given.content, "content_size": None, "content_sha256": None}
                )
                for message, given in zip(plan.messages, batch, strict=True)
            ],
            message_count=plan.expected_count + len(plan.messages),
            session_name=session_name,
        )

    # --- history -----------------------------------------------------------------------------

    def history(
        self,
        tenant: Tenant,
        session_id: str,
        *,
        limit: int,
        offset: int | None,
        cursor: str | None,
        descending: bool,
    ) -> HistoryPage:
        if not is_session_id(session_id):
            raise session_not_found(session_id[:80])
        now = clock.now_ms()
        fingerprint = f"history:{session_id}:{'desc' if descending else 'asc'}"
        session: SessionItem | None = None
        from_seq: int | None = None
        if cursor:
            position = decode_cursor(self.settings.cursor_signing_key, tenant.namespace_id, fingerprint, cursor)
            from_seq = int(position.get("s", 0))
        elif offset:
            if descending:
                session = self.sessions.load_visible(tenant, session_id, now, with_body=False)
                from_seq = session.message_count - 1 - offset
                if from_seq < 0:
                    return self._page(session, [], False, None, tenant, fingerprint)
            else:
                from_seq = offset
        read = self.store.read_history(
            tenant.namespace_id, session_id, descending=descending, from_seq=from_seq, limit=limit
        )
        session = session or read.session
        if session is None:
            session = self.sessions.load_visible(tenant, session_id, now, with_body=False)  # the page stopped short
        if session.visible_until_ms(self.settings.terminated_retention_seconds) <= now:
            raise session_not_found(session_id)
        messages = [m for m in read.messages if m.seq < session.message_count][:limit]
        # the rest would pass Lambda's response limit: it is the next page's (contents kept in
        # S3 are loaded for the messages that fit)
        messages = self.objects.page(messages) if messages else messages
        # Seqs are gapless, so more exist exactly when the last one returned is not the end.
        # (A page may hold fewer than `limit`: DynamoDB returns at most 1 MB per query, and a
        # response at most 6 MB; counting what came back would end the history there.)
        has_more = bool(messages) and (
            messages[-1].seq > 0 if descending else messages[-1].seq < session.message_count - 1
        )
        next_seq = None
        if has_more:
            next_seq = messages[-1].seq - 1 if descending else messages[-1].seq + 1
        return self._page(session, messages, has_more, next_seq, tenant, fingerprint)

    def _page(
        self,
        session: SessionItem,
        messages: list[MessageItem],
        has_more: bool,
        next_seq: int | None,
        tenant: Tenant,
        fingerprint: str,
    ) -> HistoryPage:
        next_cursor = None
        if has_more and next_seq is not None:
            next_cursor = encode_cursor(
                self.settings.cursor_signing_key, tenant.namespace_id, fingerprint, {"s": next_seq}
            )
        return HistoryPage(
            session_id=session.session_id,
            messages=self.objects.present(messages),
            total_messages=session.message_count,
            returned_messages=len(messages),
            has_more=has_more,
            next_cursor=next_cursor,
        )


def rate_mode_for(session: SessionItem, now_ms: int) -> str:
    if session.quotas is None or session.quotas.rate_limit_messages_per_minute is None:
        return RATE_NONE
    return RATE_SAME_WINDOW if session.rate_window == now_ms // 60_000 else RATE_NEW_WINDOW


# A replay is served only for the same body (the same hash), so an append's idempotency record
# leaves out what the request repeats, each message's content, tool inputs and outputs and
# metadata, and the replay fills them back in from the request. Kept whole, the record of a
# batch of large messages passed DynamoDB's 400 KB item limit (and doubled the transaction's
# bytes), which failed the append with a 500.
def without_repeated_fields(result: AppendResult) -> AppendResult:
    blank: dict[str, Any] = {"content": "", "tool_inputs": None, "tool_outputs": None, "metadata": {}}
    return result.model_copy(update={"messages": [m.model_copy(update=blank) for m in result.messages]})


def append_hash(session_id: str, request: AppendMessagesRequest, prepared: Prepared | None) -> str:
    """What makes two appends the same request (an Idempotency-Key's check): the body, with
    each attachment stood for by its bytes (name, type, size, sha256), so the same file sent
    inline or uploaded again (a new attachment_id) is the same request."""
    body = request.model_dump(mode="json", exclude_unset=True)
    if prepared is not None and any(part.attachments for part in prepared.parts):
        described = [
            [{k: description[k] for k in ("name", "mime_type", "size", "sha256")} for description in part.attachments]
            for part in prepared.parts
        ]
        if body.get("messages") is not None:  # a batch (`"messages": null` is the single form)
            body["messages"] = [
                {**message, "attachments": files} if files else message
                for message, files in zip(body["messages"], described, strict=True)
            ]
        elif described[0]:
            body["attachments"] = described[0]
    return request_hash("append_messages", {"session_id": session_id, **body})


def with_repeated_fields(stored: AppendResult, batch: list[MessageIn]) -> AppendResult:
    messages = [
        message.model_copy(
            update={
                "content": given.content,
                "tool_inputs": given.tool_inputs,
                "tool_outputs": given.tool_outputs,
                "metadata": given.metadata,
            }
        )
        for message, given in zip(stored.messages, batch, strict=True)
    ]
    return stored.model_copy(update={"messages": messages})
