"""The sessions resource's rules: create, read, update (merge patch), terminate, purge."""

from __future__ import annotations

import hashlib
import random
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from agent_sessions import clock
from agent_sessions.errors import (
    ConflictError,
    PreconditionFailedError,
    ServiceUnavailableError,
    ValidationError,
    session_not_found,
    validation_failure,
)
from agent_sessions.ids import is_session_id, new_session_id
from agent_sessions.models.items import SessionItem
from agent_sessions.models.limits import AgentConfig, Metadata, UserMemory, canonical_json
from agent_sessions.models.responses import PurgedSession, Session, SessionPage, TerminatedSession
from agent_sessions.service.merge_patch import merge_patch
from agent_sessions.settings import Settings
from agent_sessions.store.idempotency import IdempotencyKeyTaken, IdempotencyRecord
from agent_sessions.store.sessions import (
    SessionExists,
    SessionStore,
    StaleVersion,
    TooManyListedChanges,
    TransactionConflict,
)
from agent_sessions.tenancy import Tenant

if TYPE_CHECKING:
    from agent_sessions.models.common import Quotas
    from agent_sessions.models.requests import (
        CreateSessionRequest,
        ListQuery,
        PutSessionRequest,
        SessionFields,
        UpdateSessionRequest,
    )
    from agent_sessions.service.listing import SessionLister

MAX_ATTEMPTS = 12
# A PUT that meets a crowd of PUTs of the same id retries on their versions: each round lets
# one through, so it may wait for every writer ahead of it.
MAX_PUT_ATTEMPTS = 40
# Route words: ids that would read as the API's own routes under /v1/agents/sessions/.
ROUTE_WORDS = frozenset({"list", "import", "export", "search"})
# What a PUT cannot change once the session holds messages: the conversation was held with
# that user and agent (erasing a user must find it) under those quotas.
FIXED_ONCE_MESSAGES = ("user_id", "agent_id", "quotas")
_MERGED_FIELDS: dict[str, TypeAdapter[Any]] = {
    "user_memory": TypeAdapter(UserMemory),
    "metadata": TypeAdapter(Metadata),
    "agent_config": TypeAdapter(AgentConfig),
}


def backoff(attempt: int) -> None:
    """Full jitter, capped: conflicts on one session clear as soon as one writer wins."""
    time.sleep(random.uniform(0, min(0.4, 0.01 * 2**attempt)))  # jitter, not a secret


def request_hash(operation: str, body: Any) -> str:
    return hashlib.sha256(f"{operation}\n{canonical_json(body)}".encode("utf-8", "surrogatepass")).hexdigest()


def seq_beyond_conversation(field: str, seq: int, session_id: str, message_count: int) -> ConflictError:
    """A seq the request may name but the conversation does not reach (yet): the session's state
    refuses it, so 409 (the request alone is valid; JSON Schema cannot know message_count)."""
    return ConflictError(
        f"{field} {seq} is beyond the conversation: session {session_id} holds {message_count} messages "
        f"(seq 0 to {message_count - 1})",
        code="seq_beyond_conversation",
        details={"field": field, "seq": seq, "message_count": message_count},
    )


def validation_error(loc: list[str | int], message: str, error_type: str = "value_error") -> ValidationError:
    return ValidationError(
        message,
        code="validation_error",
        details={"errors": [{"loc": ["body", *loc], "msg": message, "type": error_type}]},
    )


class SessionService:
    def __init__(self, store: SessionStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._lister: SessionLister | None = None

    # --- reads -------------------------------------------------------------------------------

    def load_visible(self, tenant: Tenant, session_id: str, now_ms: int, *, with_body: bool = True) -> SessionItem:
        """The session if it exists in this namespace and is still visible; else 404 (an
        unknown, other-tenant and expired session look the same). `with_body=False` reads the
        head alone (what appends and history need), whatever size the body has."""
        if not is_session_id(session_id):
            raise session_not_found(session_id[:80])
        if with_body:
            item = self.store.get_session(tenant.namespace_id, session_id)
        else:
            item = self.store.get_head(tenant.namespace_id, session_id)
        if item is None or item.visible_until_ms(self.settings.terminated_retention_seconds) <= now_ms:
            raise session_not_found(session_id)
        return item

    def get(self, tenant: Tenant, session_id: str) -> Session:
        now = clock.now_ms()
        return self.load_visible(tenant, session_id, now).to_session(now, self.settings.idle_after_seconds)

    def list_sessions(self, tenant: Tenant, query: ListQuery) -> SessionPage:
        if self._lister is None:
            # Imported here: only the list function pages (the other functions' cold start
            # does not load the listing planner).
            from agent_sessions.service.listing import SessionLister

            self._lister = SessionLister(self.store, self.settings)
        return self._lister.page(tenant, query)

    # --- create ------------------------------------------------------------------------------

    def create(
        self, tenant: Tenant, request: CreateSessionRequest, idempotency_key: str | None
    ) -> tuple[Session, bool]:
        """Returns the session and whether it is a replay of an earlier identical request."""
        if request.session_id is not None:
            refuse_route_word(request.session_id)
        now = clock.now_ms()
        item = self._new_item(tenant, request.session_id or new_session_id(), request, now)
        session = item.to_session(now, self.settings.idle_after_seconds)
        record = None
        body_hash = request_hash("create_session", request.model_dump(mode="json", exclude_unset=True))
        if idempotency_key is not None:
            record = self.idempotency_record(tenant, idempotency_key, "create_session", body_hash, session, now)
        for attempt in range(MAX_ATTEMPTS):
            try:
                self.store.create_session(item, record, now)
                return session, False
            except IdempotencyKeyTaken as taken:
                return Session.model_validate_json(replay(taken.record, "create_session", body_hash)), True
            except SessionExists:
                raise ConflictError(
                    f"Session {item.session_id} already exists in this namespace",
                    code="session_exists",
                    details={"session_id": item.session_id},
                ) from None
            except TransactionConflict:
                backoff(attempt)
        raise ServiceUnavailableError(
            "Too many concurrent writes; retry shortly", code="write_conflict", headers={"Retry-After": "1"}
        )

    def idempotency_record(
        self, tenant: Tenant, key: str, operation: str, body_hash: str, response: BaseModel, now: int
    ) -> IdempotencyRecord:
        """What a replay of this request returns, claimed in the same transaction as the write."""
        return IdempotencyRecord(
            namespace_id=tenant.namespace_id,
            key=key,
            operation=operation,
            request_hash=body_hash,
            response_body=response.model_dump_json(),
            expires_ms=now + self.settings.idempotency_ttl_seconds * 1000,
        )

    def expiry_for_new(self, now: int, quotas: Quotas | None) -> int:
        """The expiry of a session made now with no ttl_seconds or expires_at (a fork)."""
        return self._expiry(now, now, None, None, quotas)

    def _expiry(
        self,
        now: int,
        created: int,
        ttl_seconds: int | None,
        expires_at: Any,
        quotas: Quotas | None,
    ) -> int:
        if ttl_seconds is not None:
            expires = now + ttl_seconds * 1000
        elif expires_at is not None:
            expires = clock.ms_of(expires_at)
            if expires <= now:
                raise validation_error(["expires_at"], "expires_at must be in the future")
        else:
            expires = created + self.settings.default_ttl_seconds * 1000
        cap = created + self.settings.max_ttl_seconds * 1000
        if quotas is not None and quotas.max_session_duration_minutes is not None:
            cap = min(cap, created + quotas.max_session_duration_minutes * 60_000)
        expires = min(expires, cap)
        if expires <= now:
            # The session's state, not the request, is what refuses: 409, not 422.
            raise ConflictError(
                "The session's maximum duration has passed; its expiry cannot be moved",
                code="session_duration_exceeded",
                details={"max_expires_at": clock.to_iso(cap)},
            )
        return expires

    # --- create or replace by id (PUT) --------------------------------------------------------

    def put(
        self,
        tenant: Tenant,
        session_id: str,
        request: PutSessionRequest,
        *,
        if_match: int | None,
        create_only: bool,
        idempotency_key: str | None,
    ) -> tuple[Session, bool, bool]:
        """Create the session with this id, or replace the one there (every field the body can
        hold; those left out take their defaults). One conditional write either way: a create
        conditional on the id being free, or a replace conditional on the version read; a
        concurrent writer makes it read again. Returns the session, whether it was created,
        and whether this is the replay of an earlier request with the same key."""
        if not is_session_id(session_id):
            raise ValidationError(
                "session_id must be 1 to 128 of A-Z a-z 0-9 _ . : -",
                code="validation_error",
                details={
                    "errors": [{"loc": ["path", "session_id"], "msg": "invalid session id", "type": "value_error"}]
                },
            )
        refuse_route_word(session_id)
        body_hash = request_hash(
            "put_session", {"session_id": session_id, **request.model_dump(mode="json", exclude_unset=True)}
        )
        for attempt in range(MAX_PUT_ATTEMPTS):
            now = clock.now_ms()
            old = None if create_only else self.store.get_session(tenant.namespace_id, session_id)
            if old is None:
                if if_match is not None:
                    raise PreconditionFailedError(
                        f"Session {session_id} does not exist",
                        code="version_mismatch",
                        details={"current_version": None},
                    )
                item = self._new_item(tenant, session_id, request, now)
                session = item.to_session(now, self.settings.idle_after_seconds)
                record = self._put_record(tenant, idempotency_key, body_hash, session, True, now)
                try:
                    self.store.create_session(item, record, now)
                    return session, True, False
                except IdempotencyKeyTaken as taken:
                    return (*replay_put(taken.record, body_hash), True)
                except SessionExists:
                    if create_only:
                        raise PreconditionFailedError(
                            f"Session {session_id} exists (If-None-Match: *)", code="session_exists"
                        ) from None
                except TransactionConflict:
                    backoff(attempt)
                continue
            if old.visible_until_ms(self.settings.terminated_retention_seconds) <= now:
                raise ConflictError(
                    f"Session {session_id} has ended and its id is not reused",
                    code="session_exists",
                    details={"session_id": session_id},
                )
            if if_match is not None and old.version != if_match:
                raise stale(old)
            new = self._replaced(old, request, now)
            session = new.to_session(now, self.settings.idle_after_seconds)
            record = self._put_record(tenant, idempotency_key, body_hash, session, False, now)
            try:
                self.store.replace_session(old, new, now, record)
                return session, False, False
            except TooManyListedChanges as too_many:
                raise too_many_listed_changes(too_many) from None
            except IdempotencyKeyTaken as taken:
                return (*replay_put(taken.record, body_hash), True)
            except StaleVersion:
                if if_match is not None:
                    current = self.store.get_session(tenant.namespace_id, session_id)
                    if current is None:
                        raise session_not_found(session_id) from None
                    raise stale(current) from None
            except TransactionConflict:
                pass
            backoff(attempt)
        raise ServiceUnavailableError(
            "Too many concurrent writes; retry shortly", code="write_conflict", headers={"Retry-After": "1"}
        )

    def _new_item(self, tenant: Tenant, session_id: str, fields: SessionFields, now: int) -> SessionItem:
        return SessionItem(
            namespace_id=tenant.namespace_id,
            session_id=session_id,
            internal_id=tenant.internal_id,
            user_id=fields.user_id,
            agent_id=fields.agent_id,
            session_name=fields.session_name,
            situation=fields.situation,
            summary=fields.summary,
            agent_config=fields.agent_config,
            user_memory=fields.user_memory,
            metadata=fields.metadata,
            quotas=fields.quotas,
            enable_memory=fields.enable_memory,
            created_ms=now,
            updated_ms=now,
            last_activity_ms=now,
            expires_ms=self._expiry(now, now, fields.ttl_seconds, fields.expires_at, fields.quotas),
        )

    def _replaced(self, old: SessionItem, request: PutSessionRequest, now: int) -> SessionItem:
        """The session with every field the body can hold replaced; what stays is its identity,
        its conversation (messages, stats, counters), its status and its times."""
        if old.status == "terminated":
            raise ConflictError(f"Session {old.session_id} is terminated and read-only", code="session_terminated")
        if old.status == "archived":
            raise ConflictError(
                f"Session {old.session_id} is archived and read-only; set status to active to change it",
                code="session_archived",
            )
        if old.message_count:
            for name in FIXED_ONCE_MESSAGES:
                if getattr(request, name) != getattr(old, name):
                    raise ConflictError(
                        f"{name} cannot change once the session holds messages ({old.message_count})",
                        code="field_fixed",
                        details={"field": name, "message_count": old.message_count},
                    )
        new = old.model_copy(deep=True)
        for name in ("user_id", "agent_id", "session_name", "situation", "agent_config", "user_memory", "metadata"):
            setattr(new, name, getattr(request, name))
        new.quotas = request.quotas
        new.enable_memory = request.enable_memory
        if request.summary != old.summary:
            new.summary, new.summary_through_seq = request.summary, None  # a new summary checkpoints nothing yet
        new.expires_ms = self._expiry(now, old.created_ms, request.ttl_seconds, request.expires_at, request.quotas)
        new.updated_ms = now
        new.version = old.version + 1
        return new

    def _put_record(
        self, tenant: Tenant, key: str | None, body_hash: str, session: Session, created: bool, now: int
    ) -> IdempotencyRecord | None:
        """The replay of a PUT must answer as the first did, 201 or 200: the operation says which."""
        if key is None:
            return None
        operation = "put_session.created" if created else "put_session.replaced"
        return self.idempotency_record(tenant, key, operation, body_hash, session, now)

    # --- update ------------------------------------------------------------------------------

    def update(self, tenant: Tenant, session_id: str, patch: UpdateSessionRequest, if_match: int | None) -> Session:
        for attempt in range(MAX_ATTEMPTS):
            now = clock.now_ms()
            old = self.load_visible(tenant, session_id, now)
            if if_match is not None and old.version != if_match:
                raise stale(old)
            new = self._apply_patch(old, patch, now)
            if new == old:
                return old.to_session(now, self.settings.idle_after_seconds)
            new.updated_ms = now
            new.version = old.version + 1
            try:
                self.store.replace_session(old, new, now)
                return new.to_session(now, self.settings.idle_after_seconds)
            except TooManyListedChanges as too_many:
                raise too_many_listed_changes(too_many) from None
            except StaleVersion:
                if if_match is not None:
                    current = self.load_visible(tenant, session_id, clock.now_ms())
                    raise stale(current) from None
            except TransactionConflict:
                pass
            backoff(attempt)
        raise ServiceUnavailableError(
            "Too many concurrent writes; retry shortly", code="write_conflict", headers={"Retry-After": "1"}
        )

    def _apply_patch(self, old: SessionItem, patch: UpdateSessionRequest, now: int) -> SessionItem:
        fields = patch.model_fields_set
        if old.status == "terminated":
            raise ConflictError(f"Session {old.session_id} is terminated and read-only", code="session_terminated")
        reactivating = patch.status == "active" and old.status == "archived"
        if old.status == "archived" and (fields - {"status"}) and not reactivating:
            raise ConflictError(
                f"Session {old.session_id} is archived and read-only; set status to active to change it",
                code="session_archived",
            )
        new = old.model_copy(deep=True)
        for name in ("user_memory", "metadata", "agent_config"):
            if name not in fields:
                continue
            value = getattr(patch, name)
            if value is None:
                merged: Any = None if name == "user_memory" else {}
            else:
                merged = merge_patch(getattr(old, name) or {}, value)
            if merged is not None:
                merged = validate_merged(name, merged)
            setattr(new, name, merged)
        for name in ("session_name", "situation", "summary"):
            if name in fields:
                setattr(new, name, getattr(patch, name))
        if "summary" in fields:
            # A compaction checkpoint: the summary covers messages 0..summary_through_seq
            # (the write is conditional on the version read, so message_count cannot move).
            through = patch.summary_through_seq
            if through is not None and through >= old.message_count:
                raise seq_beyond_conversation("summary_through_seq", through, old.session_id, old.message_count)
            new.summary_through_seq = through
        if "ttl_seconds" in fields or "expires_at" in fields:
            if patch.ttl_seconds is None and patch.expires_at is None:
                raise validation_error(["expires_at"], "expires_at cannot be removed; give a new time or ttl_seconds")
            new.expires_ms = self._expiry(now, old.created_ms, patch.ttl_seconds, patch.expires_at, old.quotas)
        if "status" in fields and patch.status is not None:
            new.status = patch.status
            if reactivating:
                new.last_activity_ms = now  # coming back from the archive is activity
        return new

    # --- terminate and purge -----------------------------------------------------------------

    def terminate(self, tenant: Tenant, session_id: str) -> TerminatedSession:
        if not is_session_id(session_id):
            raise session_not_found(session_id[:80])
        item, _ = self.store.terminate_session(tenant.namespace_id, session_id, clock.now_ms())
        if item is None or item.terminated_ms is None:
            raise session_not_found(session_id)
        return TerminatedSession(
            session_id=session_id, status="terminated", terminated_at=clock.to_iso(item.terminated_ms)
        )

    def purge(self, tenant: Tenant, session_id: str) -> PurgedSession:
        for attempt in range(MAX_ATTEMPTS):
            item = self.load_visible(tenant, session_id, clock.now_ms())
            try:
                self.store.purge_session(item)
                return PurgedSession(session_id=session_id, deleted=True)
            except (StaleVersion, TransactionConflict):
                backoff(attempt)
        raise ServiceUnavailableError(
            "Too many concurrent writes; retry shortly", code="write_conflict", headers={"Retry-After": "1"}
        )


def refuse_route_word(session_id: str) -> None:
    """A valid id that the API's own routes reserve (`/v1/agents/sessions/import`, …): a
    conflict with the API, not a malformed request."""
    if session_id in ROUTE_WORDS:
        raise ConflictError(
            f"session_id {session_id!r} is reserved: it names one of the API's routes "
            f"({', '.join(sorted(ROUTE_WORDS))})",
            code="session_id_reserved",
            details={"session_id": session_id},
        )


def replay(record: IdempotencyRecord, operation: str, body_hash: str) -> str:
    """The stored response of the first request with this key, if this one is the same."""
    if record.operation != operation or record.request_hash != body_hash:
        raise ConflictError(
            "This Idempotency-Key was already used with a different request",
            code="idempotency_key_reused",
            details={"idempotency_key": record.key[:255]},
        )
    return record.response_body


def replay_put(record: IdempotencyRecord, body_hash: str) -> tuple[Session, bool]:
    """A PUT's stored answer and whether it created the session."""
    if not record.operation.startswith("put_session.") or record.request_hash != body_hash:
        replay(record, "put_session", body_hash)  # raises: the key was used for another request
    return Session.model_validate_json(record.response_body), record.operation == "put_session.created"


def too_many_listed_changes(error: TooManyListedChanges) -> ConflictError:
    """What one write cannot do atomically (DynamoDB holds 100 actions in a transaction) is
    refused whole, never split: the change goes in two requests."""
    return ConflictError(
        f"This change moves {error.changed} listed values (user_id, agent_id and metadata pairs, "
        f"old and new); one write moves at most {error.limit}. Send it as two changes.",
        code="too_many_listed_changes",
        details={"changed": error.changed, "limit": error.limit},
    )


def stale(current: SessionItem) -> PreconditionFailedError:
    return PreconditionFailedError(
        f"Session {current.session_id} has changed: its version is {current.version}",
        code="version_mismatch",
        details={"current_version": current.version, "message_count": current.message_count},
        headers={"ETag": f'"{current.version}"'},
    )


def validate_merged(name: str, value: Any) -> Any:
    """Re-check a merged object against the field's limits; errors point into the patch."""
    try:
        return _MERGED_FIELDS[name].validate_python(value)
    except PydanticValidationError as error:
        raise from_pydantic(error, prefix=["body", name]) from None


def from_pydantic(error: PydanticValidationError, prefix: list[str | int]) -> Exception:
    return validation_failure(error.errors(include_url=False), prefix=prefix)
