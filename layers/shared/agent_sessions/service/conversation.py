"""The conversation operations for agent runtimes (DESIGN §2b): rewind, the context window,
feedback, message corrections, fork and erasing a user. Compaction (PATCH `summary` +
`summary_through_seq`) and caller-chosen session ids live with the sessions' rules."""

from __future__ import annotations

import contextlib
import hashlib
import math
from typing import TYPE_CHECKING, Any

from agent_sessions import clock
from agent_sessions.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
    ServiceUnavailableError,
    TooManyRequestsError,
    session_not_found,
    validation_failure,
)
from agent_sessions.ids import is_session_id, new_content_id, new_message_id, new_session_id, seq_of_message_id
from agent_sessions.models.items import MessageItem, SessionItem
from agent_sessions.models.limits import MAX_MESSAGE_BYTES, canonical_json
from agent_sessions.models.responses import (
    ContextWindow,
    ErasedUser,
    FeedbackResult,
    Message,
    RewindResult,
    Session,
)
from agent_sessions.service.attachments import CONTENT_MIME_TYPE, ObjectService, Prepared
from agent_sessions.service.merge_patch import merge_patch
from agent_sessions.service.response_size import text_sent_size
from agent_sessions.service.sessions import (
    MAX_ATTEMPTS,
    SessionService,
    backoff,
    refuse_route_word,
    replay,
    request_hash,
    seq_beyond_conversation,
    validate_merged,
)
from agent_sessions.settings import Settings
from agent_sessions.store import keys
from agent_sessions.store.conversation import (
    ConversationStore,
    HeadRefused,
    MessageChanged,
    RewindPlan,
)
from agent_sessions.store.idempotency import IdempotencyKeyTaken, IdempotencyRecord
from agent_sessions.store.sessions import SessionExists, StaleVersion, TransactionConflict, parallel_pool
from agent_sessions.store.shards import ShardCountStore
from agent_sessions.tenancy import Tenant

if TYPE_CHECKING:
    from agent_sessions.models.requests import FeedbackRequest, ForkRequest, MessagePatch

RETURNED_REMOVED_MAX = 200  # a rewind lists what it removed up to this many
MAX_FORK_MESSAGES = 10_000
ERASE_BATCH = 100
FORK_PENDING_TTL_SECONDS = 3600  # an unfinished fork's invisible head (and copies) go after this
CONTEXT_PAGE = 200


def token_estimate(message: MessageItem) -> int:
    """What a message weighs in a token budget: its `token_count`, else ceil(characters / 4)."""
    if message.token_count is not None:
        return message.token_count
    if not message.content_loaded():  # kept in S3, not read: its size in bytes bounds it
        return math.ceil((message.content_size or 0) / 4)
    return math.ceil(len(message.content) / 4)


def text_tokens(text: str | None) -> int:
    return math.ceil(len(text) / 4) if text else 0


class ConversationService:
    def __init__(
        self,
        sessions: SessionService,
        store: ConversationStore,
        settings: Settings,
        objects: ObjectService | None = None,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.settings = settings
        self.objects = objects or ObjectService(settings)

    # --- rewind --------------------------------------------------------------------------------

    def rewind(
        self, tenant: Tenant, session_id: str, *, from_seq: int | None, last: int | None, if_match: int | None
    ) -> RewindResult:
        """Remove every message with seq ≥ N (or the last K). 2 round trips: one Query reads the
        messages to remove with the head and body (the stats to take off), one transaction
        removes them conditional on the count read (or If-Match's). Without If-Match a
        conflict reads again, so `last=1` removes exactly one message however many race."""
        _known_session(session_id)
        if (from_seq is None) == (last is None):
            raise validation_failure(
                [{"loc": ("query", "from_seq"), "msg": "give exactly one of from_seq and last", "type": "value_error"}]
            )
        for attempt in range(3 * MAX_ATTEMPTS):
            now = clock.now_ms()
            session, removed = self._read_removal(tenant, session_id, from_seq, last)
            if session is None or session.visible_until_ms(self.settings.terminated_retention_seconds) <= now:
                raise session_not_found(session_id)
            self._refuse_read_only(session)
            if if_match is not None and session.message_count != if_match:
                raise _stale_count(session)
            if not removed:
                return RewindResult(
                    session_id=session_id, message_count=session.message_count, removed_count=0, removed=[]
                )
            plan = RewindPlan(session, session.message_count, removed[0].seq, removed, now)
            try:
                leftovers = self.store.rewind(plan)
            except HeadRefused as refused:
                current = refused.current
                if current is None or current.visible_until_ms(self.settings.terminated_retention_seconds) <= now:
                    raise session_not_found(session_id) from None
                self._refuse_read_only(current)
                if if_match is not None:
                    raise _stale_count(current) from None
                backoff(attempt)
                continue
            except TransactionConflict:
                backoff(attempt)
                continue
            self.store.delete_leftovers(leftovers)
            return RewindResult(
                session_id=session_id,
                message_count=plan.new_count,
                removed_count=len(removed),
                removed=[m.to_message() for m in removed] if len(removed) <= RETURNED_REMOVED_MAX else None,
            )
        raise _busy()

    def _read_removal(
        self, tenant: Tenant, session_id: str, from_seq: int | None, last: int | None
    ) -> tuple[SessionItem | None, list[MessageItem]]:
        """The session and the messages a rewind removes, oldest first, in one Query: from
        `from_seq` up to the head and body, or newest first the body, the head and the last K."""
        if from_seq is not None:
            tail = self.store.read_tail(tenant.namespace_id, session_id, from_seq, with_body=True)
            return tail.head, [m for m in tail.messages if m.seq >= from_seq]
        assert last is not None
        session, newest, next_key = self.store.read_newest(tenant.namespace_id, session_id, -1, last)
        if session is None:
            return None, []
        start = max(session.message_count - last, 0)
        found = [m for m in newest if start <= m.seq < session.message_count]
        while len(found) < session.message_count - start and next_key is not None:
            # Only when the last K pass 1 MB, or items a rewind left to delete came first.
            more, next_key = self.store.more_messages(tenant.namespace_id, session_id, start - 1, next_key, last)
            found += [m for m in more if start <= m.seq < session.message_count]
        return session, sorted(found, key=lambda m: m.seq)

    # --- context window ------------------------------------------------------------------------

    def context(self, tenant: Tenant, session_id: str, *, max_tokens: int | None, max_messages: int) -> ContextWindow:
        """Newest messages after the summary checkpoint that fit the budget, oldest first.
        1 Query when the budget fits in one page (body and head sort after every message)."""
        _known_session(session_id)
        now = clock.now_ms()
        # Read from the start; the checkpoint, known once the body is read, bounds the walk.
        session, newest, next_key = self.store.read_newest(
            tenant.namespace_id, session_id, -1, min(max_messages, CONTEXT_PAGE) + 1
        )
        if session is None or session.visible_until_ms(self.settings.terminated_retention_seconds) <= now:
            raise session_not_found(session_id)
        after = session.summary_through_seq if session.summary_through_seq is not None else -1
        budget = None if max_tokens is None else max_tokens - text_tokens(session.situation)
        if budget is not None and session.summary:
            budget -= text_tokens(session.summary)
        chosen: list[MessageItem] = []
        used = 0
        truncated = False
        messages = [m for m in newest if after < m.seq < session.message_count]
        while True:
            for message in messages:
                weight = token_estimate(message)
                if len(chosen) >= max_messages or (budget is not None and used + weight > budget):
                    truncated = True
                    break
                chosen.append(message)
                used += weight
            else:
                if next_key is not None and (not newest or newest[-1].seq > after + 1):
                    more, next_key = self.store.more_messages(
                        tenant.namespace_id, session_id, after, next_key, CONTEXT_PAGE
                    )
                    newest = more
                    messages = [m for m in more if after < m.seq < session.message_count]
                    if messages:
                        continue
                break
            break
        # The newest that one response can carry beside the situation and the summary (Lambda's
        # 6 MB): a budget of millions of tokens must not make the answer fail.
        reserved = text_sent_size(session.situation) + text_sent_size(session.summary)
        fitting = len(self.objects.page(chosen, reserved)) if chosen else 0  # loads contents kept in S3
        if fitting < len(chosen):
            chosen, truncated = chosen[:fitting], True
            used = sum(token_estimate(message) for message in chosen)
        chosen.reverse()
        # A tool result is never handed over without the call it answers: drop results whose
        # call fell outside the window (they open the window).
        while chosen and chosen[0].content_type == "tool_result":
            used -= token_estimate(chosen.pop(0))
            truncated = True
        estimate = used + text_tokens(session.situation) + text_tokens(session.summary)
        return ContextWindow(
            session_id=session_id,
            situation=session.situation,
            summary=session.summary,
            summary_through_seq=session.summary_through_seq,
            messages=self.objects.present(chosen),
            token_estimate=estimate,
            truncated=truncated,
            message_count=session.message_count,
        )

    # --- feedback and corrections --------------------------------------------------------------

    def feedback(self, tenant: Tenant, session_id: str, request: FeedbackRequest) -> FeedbackResult:
        """1 round trip: the message id carries its seq, so one transaction sets the feedback
        on the message at that seq if it has this id, with the head checked. Feedback again
        replaces the earlier one. (An id made before ids carried their seq is found first.)"""
        _known_session(session_id)
        seq = seq_of_message_id(request.message_id)
        if seq is None:
            seq = self._message_by_id(tenant, session_id, request.message_id).seq
        for attempt in range(MAX_ATTEMPTS):
            now = clock.now_ms()
            feedback = {"rating": request.rating, "feedback_text": request.feedback_text, "recorded_ms": now}
            try:
                self.store.record_feedback(_head_key_only(tenant, session_id), seq, request.message_id, feedback, now)
            except MessageChanged:
                self._raise_missing_message(tenant, session_id, request.message_id)
            except TransactionConflict:
                backoff(attempt)
                continue
            except HeadRefused as refused:
                self._head_refusal(refused, session_id, request.message_id, seq, now)
            return FeedbackResult(
                session_id=session_id,
                message_id=request.message_id,
                rating=request.rating,
                stored=True,
                recorded_at=clock.to_iso(now),
            )
        raise _busy()

    def update_message(self, tenant: Tenant, session_id: str, seq: int, patch: MessagePatch) -> Message:
        """Redact or correct one message (a merge patch); the session's token totals follow.
        2 round trips: the message, then one transaction (message + head, bumping its
        version)."""
        _known_session(session_id)
        for attempt in range(MAX_ATTEMPTS):
            now = clock.now_ms()
            old = self.store.get_message(tenant.namespace_id, session_id, seq)
            if old is None:
                self._raise_missing_message(tenant, session_id, f"seq {seq}")
            assert old is not None
            new = _patched(old, patch, self.objects)
            if new == old:
                return self.objects.present(self.objects.page([old]))[0]
            new.revision = old.revision + 1
            delta = (new.token_count or 0) - (old.token_count or 0)
            # A new content past the inline size goes to S3 first (pending); the old object, if
            # any, is deleted by the stream's consumer once the correction is committed.
            written = self._store_content(new) if new.content_object == NEW_CONTENT else None
            try:
                self.store.correct_message(_head_key_only(tenant, session_id), old, new, token_delta=delta, now_ms=now)
            except (MessageChanged, TransactionConflict):
                self.objects.discard(written)
                backoff(attempt)
                continue
            except HeadRefused as refused:
                self.objects.discard(written)
                self._head_refusal(refused, session_id, old.message_id, old.seq, now, token_delta=delta)
            except BaseException:
                self.objects.discard(written)
                raise
            return self.objects.present(self.objects.page([new]))[0]
        raise _busy()

    def _store_content(self, message: MessageItem) -> Prepared:
        body = message.content.encode("utf-8", "surrogatepass")
        message.content_object = new_content_id()
        message.content_size = len(body)
        message.content_sha256 = hashlib.sha256(body).hexdigest()
        key = keys.object_key(message.namespace_id, message.session_id, message.content_object)
        self.objects.store.put(key, body, mime_type=CONTENT_MIME_TYPE, name=None, sha256=message.content_sha256)
        return Prepared(parts=[], written=[key])

    def _message_by_id(self, tenant: Tenant, session_id: str, message_id: str) -> MessageItem:
        seq = seq_of_message_id(message_id)
        if seq is not None:
            message = self.store.get_message(tenant.namespace_id, session_id, seq)
        else:
            message = self.store.find_message(tenant.namespace_id, session_id, message_id)
        if message is None or message.message_id != message_id:
            self._raise_missing_message(tenant, session_id, message_id)
        assert message is not None
        return message

    def _raise_missing_message(self, tenant: Tenant, session_id: str, what: str) -> None:
        self.sessions.load_visible(tenant, session_id, clock.now_ms(), with_body=False)  # 404 the session first
        raise NotFoundError(
            f"Message {what} is not in session {session_id}",
            code="message_not_found",
            details={"session_id": session_id, "message": what},
        )

    def _head_refusal(
        self, refused: HeadRefused, session_id: str, message_id: str, seq: int, now: int, token_delta: int = 0
    ) -> None:
        current = refused.current
        if current is None or current.visible_until_ms(self.settings.terminated_retention_seconds) <= now:
            raise session_not_found(session_id)
        self._refuse_read_only(current)
        if current.message_count <= seq:
            raise NotFoundError(
                f"Message {message_id} is not in session {session_id}",
                code="message_not_found",
                details={"session_id": session_id, "message": message_id},
            )
        quota = current.quotas.max_tokens_total if current.quotas else None
        raise TooManyRequestsError(
            f"This correction would pass the session's max_tokens_total quota ({quota})",
            code="quota_max_tokens_total",
            details={"quota": "max_tokens_total", "limit": quota, "would_be": current.total_tokens + token_delta},
        )

    # --- fork ----------------------------------------------------------------------------------

    def fork(
        self, tenant: Tenant, session_id: str, request: ForkRequest, idempotency_key: str | None
    ) -> tuple[Session, bool]:
        """A new session with the parent's configuration and messages 0..through_seq. The
        child's head is written first, invisible (`forking`), then the copies, then the real
        head with its body, lookups and counters in one transaction: readers see the child
        only complete, and a fork that stops halfway is removed with its head's TTL."""
        _known_session(session_id)
        if request.session_id is not None:
            refuse_route_word(request.session_id)
        body_hash = request_hash("fork_session", {"session_id": session_id, **request.model_dump(exclude_unset=True)})
        if idempotency_key is not None:
            earlier = self.store.get_raw(keys.idempotency_pk(tenant.namespace_id, idempotency_key), keys.IDEMPOTENCY_SK)
            if earlier is not None:
                found = IdempotencyRecord.from_item(tenant.namespace_id, idempotency_key, earlier)
                if found.expires_ms > clock.now_ms():
                    return Session.model_validate_json(replay(found, "fork_session", body_hash)), True
        now = clock.now_ms()
        parent = self.sessions.load_visible(tenant, session_id, now)
        through = request.through_seq if request.through_seq is not None else parent.message_count - 1
        if through >= parent.message_count:
            raise seq_beyond_conversation("through_seq", through, parent.session_id, parent.message_count)
        if through + 1 > MAX_FORK_MESSAGES:
            raise PayloadTooLargeError(
                f"A fork copies at most {MAX_FORK_MESSAGES} messages; give a lower through_seq",
                code="fork_too_large",
                details={"messages": through + 1, "limit": MAX_FORK_MESSAGES},
            )
        # Messages 0..through only, one Query per MB, whatever the parent holds after them.
        copies = self.store.read_range(tenant.namespace_id, session_id, 0, through) if through >= 0 else []
        parent_copies = [message for message in copies if message.object_ids()]
        child = self._child(tenant, parent, request, through, copies, now)
        record: IdempotencyRecord | None = None
        if idempotency_key is not None:
            response = child.to_session(now, self.settings.idle_after_seconds)
            record = self.sessions.idempotency_record(tenant, idempotency_key, "fork_session", body_hash, response, now)
        try:
            self.store.put_pending(child, FORK_PENDING_TTL_SECONDS, now)
        except Exception as error:
            if getattr(error, "response", {}).get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ConflictError(
                    f"Session {child.session_id} already exists in this namespace",
                    code="session_exists",
                    details={"session_id": child.session_id},
                ) from None
            raise
        try:
            # the copies' attachments and contents, under the child's prefix (server-side)
            self.objects.copy_objects(parent_copies, tenant.namespace_id, child.session_id)
            self.store.copy_messages(copies)
            self._commit(child, record, now)
        except IdempotencyKeyTaken as taken:  # a concurrent fork with this key won
            self._abandon(child)
            return Session.model_validate_json(replay(taken.record, "fork_session", body_hash)), True
        except BaseException:
            self._abandon(child)
            raise
        return child.to_session(now, self.settings.idle_after_seconds), False

    def _child(
        self,
        tenant: Tenant,
        parent: SessionItem,
        request: ForkRequest,
        through: int,
        copies: list[MessageItem],
        now: int,
    ) -> SessionItem:
        child_id = request.session_id or new_session_id()
        metadata = parent.metadata
        if request.metadata is not None:
            metadata = validate_merged("metadata", merge_patch(parent.metadata, request.metadata))
        copied = [
            m.model_copy(
                update={
                    "session_id": child_id,
                    "message_id": new_message_id(m.seq),  # ids are never shared between sessions
                    "feedback": None,
                    "revision": 0,
                }
            )
            for m in copies
        ]
        copies[:] = copied
        latencies = [m.latency_ms for m in copied if m.latency_ms is not None]
        summary_holds = parent.summary_through_seq is not None and parent.summary_through_seq <= through
        first_user = (
            parent.first_user_seq if parent.first_user_seq is not None and parent.first_user_seq <= through else None
        )
        expires = self.sessions.expiry_for_new(now, parent.quotas)
        return SessionItem(
            namespace_id=tenant.namespace_id,
            session_id=child_id,
            internal_id=tenant.internal_id,
            user_id=parent.user_id,
            agent_id=parent.agent_id,
            session_name=request.session_name if request.session_name is not None else parent.session_name,
            situation=parent.situation,
            summary=parent.summary if summary_holds or parent.summary_through_seq is None else None,
            summary_through_seq=parent.summary_through_seq if summary_holds else None,
            agent_config=parent.agent_config,
            user_memory=parent.user_memory,
            metadata=metadata,
            quotas=parent.quotas,
            enable_memory=parent.enable_memory,
            message_count=len(copied),
            total_tokens=sum(m.token_count or 0 for m in copied),
            total_tool_calls=sum(1 for m in copied if m.content_type == "tool_call"),
            latency_sum_ms=float(sum(latencies)),
            latency_samples=len(latencies),
            created_ms=now,
            updated_ms=now,
            last_activity_ms=now,
            expires_ms=expires,
            first_user_seq=first_user,
            forked_from=parent.session_id,
            forked_through=through,
        )

    def _commit(self, child: SessionItem, record: IdempotencyRecord | None, now: int) -> None:
        for attempt in range(MAX_ATTEMPTS):
            try:
                self.store.create_session(child, record, now, pending=True)
                return
            except TransactionConflict:
                backoff(attempt)
            except SessionExists:
                raise ConflictError("The fork was interrupted; retry it", code="fork_interrupted") from None
        raise _busy()

    def _abandon(self, child: SessionItem) -> None:
        """Best effort: remove what an unfinished fork wrote (its head's TTL does it otherwise)."""
        # If even this fails, the invisible head's TTL and the stream's cascade remove it all
        # (the objects copied are pending: the bucket's lifecycle rule too).
        with contextlib.suppress(Exception):
            self.store.delete_partition(keys.session_pk(child.namespace_id, child.session_id))
        with contextlib.suppress(Exception):
            self.objects.store.delete_prefix(keys.object_prefix(child.namespace_id, child.session_id))

    # --- erase a user --------------------------------------------------------------------------

    def erase_user(self, tenant: Tenant, user_id: str) -> ErasedUser:
        """Purge up to 100 of a user's sessions (every state, ended ones too) through the
        user's lookup partition: per session its head, lookups and counters in one transaction,
        then its other items. `has_more` while sessions remain; repeating is safe."""
        if not user_id:
            raise BadRequestError("user_id is required", code="user_id_required")
        partition = keys.lookup_partition(tenant.namespace_id, "user_id", user_id)
        heat = ShardCountStore(self.store)
        known = heat.counts.for_read(partition)
        # The user's count is read beside the shards it names (one round trip); shards it
        # shows were added since this container cached it are read after.
        stored = parallel_pool().submit(heat.read, [partition])

        def read(shards: range) -> dict[int, Any]:
            return self.store.query_shards(
                "GSI1",
                partition,
                list(shards),
                forward=True,
                limit=ERASE_BATCH + 1,
                start_keys={},
                sort_between=("0", keys.SORT_KEY_CEILING),
            )

        pages = read(range(known))
        count = stored.result()[partition]
        if count > known:
            pages.update(read(range(known, count)))
        session_keys = sorted({item["PK"]["S"] for page in pages.values() for item in page.items})
        has_more = len(session_keys) > ERASE_BATCH or any(page.last_key for page in pages.values())
        batch = session_keys[:ERASE_BATCH]
        purged = sum(parallel_pool().map(self._purge_one, batch)) if batch else 0
        return ErasedUser(purged=purged, has_more=has_more)

    def _purge_one(self, session_pk: str) -> int:
        namespace_id, session_id = keys.parse_session_pk(session_pk)
        for attempt in range(MAX_ATTEMPTS):
            session = self.store.get_session(namespace_id, session_id)
            if session is None:
                self.store.delete_partition(session_pk)  # lookups left by a removal in progress
                return 0
            try:
                self.store.purge_session(session)
                return 1
            except (StaleVersion, TransactionConflict):
                backoff(attempt)
        raise _busy()

    # --- shared ------------------------------------------------------------------------------

    def _refuse_read_only(self, session: SessionItem) -> None:
        if session.status == "terminated":
            raise ConflictError(f"Session {session.session_id} is terminated and read-only", code="session_terminated")
        if session.status == "archived":
            raise ConflictError(
                f"Session {session.session_id} is archived and read-only; set status to active first",
                code="session_archived",
            )


def _known_session(session_id: str) -> None:
    if not is_session_id(session_id):
        raise session_not_found(session_id[:80])


def _head_key_only(tenant: Tenant, session_id: str) -> SessionItem:
    """A session known by its key alone (a write whose condition checks the rest)."""
    return SessionItem(
        namespace_id=tenant.namespace_id,
        session_id=session_id,
        internal_id=tenant.internal_id,
        created_ms=0,
        updated_ms=0,
        last_activity_ms=0,
        expires_ms=0,
    )


NEW_CONTENT = "cnt_new"  # marks a corrected content to be written to S3 before the transaction


def _patched(old: MessageItem, patch: MessagePatch, objects: ObjectService) -> MessageItem:
    fields = patch.model_fields_set
    new = old.model_copy(deep=True)
    if "content" in fields and patch.content is not None:
        new.content = patch.content
        new.content_object = new.content_size = new.content_sha256 = None
        if objects.offloads(patch.content):
            new.content_object = NEW_CONTENT
    if "attachments" in fields:
        # Redaction: the attachments kept, named by id (any left out are deleted once committed).
        kept = [reference.attachment_id for reference in patch.attachments or []]
        current = {attachment["attachment_id"]: attachment for attachment in old.attachments}
        unknown = [attachment_id for attachment_id in kept if attachment_id not in current]
        if unknown:
            raise validation_failure(
                [
                    {
                        "loc": ("body", "attachments"),
                        "msg": f"attachment {unknown[0]} is not on this message; "
                        "a correction can only remove attachments",
                        "type": "value_error",
                    }
                ]
            )
        new.attachments = [current[attachment_id] for attachment_id in dict.fromkeys(kept)]
    if "metadata" in fields:
        merged: Any = {} if patch.metadata is None else merge_patch(old.metadata, patch.metadata)
        new.metadata = validate_merged("metadata", merged)
    for name in ("tool_inputs", "tool_outputs", "token_count"):
        if name in fields:
            setattr(new, name, getattr(patch, name))
    stored = {"tool_inputs", "tool_outputs", "metadata"} | ({"content"} if new.content_object is None else set())
    size = len(canonical_json(new.model_dump(mode="json", include=stored)).encode("utf-8", "surrogatepass"))
    if size > MAX_MESSAGE_BYTES:
        raise PayloadTooLargeError(
            f"The corrected message is {size} bytes; a message holds at most {MAX_MESSAGE_BYTES} bytes",
            code="message_too_large",
            details={"size": size, "limit": MAX_MESSAGE_BYTES},
        )
    return new


def _stale_count(session: SessionItem) -> PreconditionFailedError:
    return PreconditionFailedError(
        f"Session {session.session_id} has {session.message_count} messages, not the count If-Match names",
        code="count_mismatch",
        details={"message_count": session.message_count},
        headers={"ETag": f'"{session.message_count}"'},
    )


def _busy() -> ServiceUnavailableError:
    return ServiceUnavailableError(
        "Too many concurrent writes; retry shortly", code="write_conflict", headers={"Retry-After": "1"}
    )
