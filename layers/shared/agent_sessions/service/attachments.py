"""Attachments and large contents (DESIGN §11): what goes to S3 before an append, what a read
loads back or hands over as a presigned URL, and the upload and download routes.

Ordering with the table (store/objects.py): objects are written pending before the
transaction that names them; a write that fails deletes what it wrote at once, and the
bucket's lifecycle rule deletes what a crash left; the stream consumer settles the objects of
committed messages and deletes those of removed ones.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent_sessions import clock
from agent_sessions.errors import ConflictError, NotFoundError, ValidationError, session_not_found
from agent_sessions.ids import is_attachment_id, is_session_id, new_attachment_id, new_content_id
from agent_sessions.models.items import MessageItem
from agent_sessions.models.responses import Attachment, Message, UploadTicket
from agent_sessions.service.response_size import RESPONSE_BODY_BUDGET, messages_that_fit, sent_size
from agent_sessions.settings import Settings
from agent_sessions.store import keys
from agent_sessions.store import objects as object_store
from agent_sessions.store.objects import ObjectStore, sha256_base64

if TYPE_CHECKING:
    from agent_sessions.models.requests import AttachmentIn, CreateUploadRequest, MessageIn
    from agent_sessions.service.sessions import SessionService
    from agent_sessions.tenancy import Tenant

CONTENT_MIME_TYPE = "text/plain; charset=utf-8"


@dataclass
class StoredParts:
    """What one message keeps in S3: its attachments' descriptions and its content object."""

    attachments: list[dict[str, Any]] = field(default_factory=list)
    content_object: str | None = None
    content_size: int | None = None
    content_sha256: str | None = None


@dataclass
class Prepared:
    parts: list[StoredParts]
    written: list[str]  # keys this request wrote: deleted again if its write fails
    # Uploads already on a message: refused (409 attachment_in_use) unless this request is the
    # replay of the one that put them there (its Idempotency-Key decides; MessageService).
    in_use: list[str] = field(default_factory=list)


def utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def attachment_not_uploaded(attachment_id: str) -> ConflictError:
    return ConflictError(
        f"Attachment {attachment_id} has not been uploaded to this session (or its upload expired)",
        code="attachment_not_uploaded",
        details={"attachment_id": attachment_id},
    )


def attachment_in_use(attachment_id: str) -> ConflictError:
    return ConflictError(
        f"Attachment {attachment_id} is already on a message",
        code="attachment_in_use",
        details={"attachment_id": attachment_id},
    )


def attachment_not_found(session_id: str, attachment_id: str) -> NotFoundError:
    return NotFoundError(
        f"Attachment {attachment_id[:80]} is not in session {session_id}",
        code="attachment_not_found",
        details={"session_id": session_id, "attachment_id": attachment_id[:80]},
    )


class ObjectService:
    def __init__(self, settings: Settings, store: ObjectStore | None = None) -> None:
        self.settings = settings
        self.store = store or ObjectStore(settings)

    # --- writes ------------------------------------------------------------------------------

    def offloads(self, content: str) -> bool:
        """Whether this content is kept in S3 (a cheap bound first: 4 bytes per character)."""
        limit = self.settings.content_inline_bytes
        return len(content) > limit // 4 and len(utf8(content)) > limit

    def needed(self, batch: list[MessageIn]) -> bool:
        return any(message.attachments or self.offloads(message.content) for message in batch)

    def prepare(self, tenant: Tenant, session_id: str, batch: list[MessageIn]) -> Prepared:
        """Writes the batch's inline attachments and large contents (pending) and checks its
        uploads, in parallel. Raises (having deleted what it wrote) on the first problem."""
        parts = [StoredParts() for _ in batch]
        written: list[str] = []
        tasks: list[Callable[[], None]] = []
        named: set[str] = set()
        in_use: list[str] = []
        for index, message in enumerate(batch):
            for position, attachment in enumerate(message.attachments):
                description: dict[str, Any] = {}
                parts[index].attachments.append(description)
                if attachment.attachment_id is not None:
                    if attachment.attachment_id in named:
                        # An attachment belongs to one message, once: the rule the pending tag
                        # enforces across appends, applied within this one.
                        raise ConflictError(
                            f"Attachment {attachment.attachment_id} is named twice in this append",
                            code="attachment_in_use",
                            details={
                                "attachment_id": attachment.attachment_id,
                                "message": index,
                                "attachment": position,
                            },
                        )
                    named.add(attachment.attachment_id)
                    tasks.append(
                        self._check_upload_task(tenant, session_id, attachment, description, index, position, in_use)
                    )
                else:
                    attachment_id = new_attachment_id()
                    key = keys.object_key(tenant.namespace_id, session_id, attachment_id)
                    written.append(key)
                    tasks.append(self._put_attachment_task(key, attachment_id, attachment, description))
            if self.offloads(message.content):
                body = utf8(message.content)
                content_id = new_content_id()
                digest = hashlib.sha256(body).hexdigest()
                parts[index].content_object = content_id
                parts[index].content_size = len(body)
                parts[index].content_sha256 = digest
                key = keys.object_key(tenant.namespace_id, session_id, content_id)
                written.append(key)
                tasks.append(
                    functools.partial(self.store.put, key, body, mime_type=CONTENT_MIME_TYPE, name=None, sha256=digest)
                )
        prepared = Prepared(parts=parts, written=written, in_use=in_use)
        try:
            run_all(tasks)
        except BaseException:
            self.discard(prepared)
            raise
        return prepared

    def _put_attachment_task(
        self, key: str, attachment_id: str, attachment: AttachmentIn, description: dict[str, Any]
    ) -> Callable[[], None]:
        def put() -> None:
            data = attachment.payload
            digest = hashlib.sha256(data).hexdigest()
            assert attachment.name is not None and attachment.mime_type is not None
            self.store.put(key, data, mime_type=attachment.mime_type, name=attachment.name, sha256=digest)
            description.update(
                attachment_id=attachment_id,
                name=attachment.name,
                mime_type=attachment.mime_type,
                size=len(data),
                sha256=digest,
            )

        return put

    def _check_upload_task(
        self,
        tenant: Tenant,
        session_id: str,
        attachment: AttachmentIn,
        description: dict[str, Any],
        index: int,
        position: int,
        in_use: list[str],
    ) -> Callable[[], None]:
        attachment_id = attachment.attachment_id or ""
        key = keys.object_key(tenant.namespace_id, session_id, attachment_id)

        def check() -> None:
            info = self.store.head(key)
            if info is None:
                raise attachment_not_uploaded(attachment_id)
            declared = info.sha256 or ""
            if info.checksum_sha256 is not None:
                same = info.checksum_sha256 == sha256_base64(declared) if declared else False
            else:  # an S3 that kept no checksum of the upload: read it through
                found = self.store.digest(key)
                if found is None:
                    raise attachment_not_uploaded(attachment_id)
                same = found == (info.size, declared)
            if not same or info.size != info.declared_size:
                self.store.delete([key])  # bytes that are not what was declared are of no use
                raise _mismatch(
                    index, position, attachment_id, "the uploaded bytes are not the size and sha256 declared"
                )
            if not self.store.is_pending(key):
                in_use.append(attachment_id)
            description.update(
                attachment_id=attachment_id,
                name=info.name or attachment_id,
                mime_type=info.mime_type,
                size=info.size,
                sha256=declared,
            )

        return check

    def discard(self, prepared: Prepared | None) -> None:
        """Best effort: what this request wrote, once its write failed (else: the lifecycle rule)."""
        if prepared is not None and prepared.written:
            # the pending tag's lifecycle rule is the backstop when this fails too
            with contextlib.suppress(Exception):
                self.store.delete(prepared.written)

    # --- uploads and downloads ---------------------------------------------------------------

    def create_upload(
        self, sessions: SessionService, tenant: Tenant, session_id: str, request: CreateUploadRequest
    ) -> UploadTicket:
        if not is_session_id(session_id):
            raise session_not_found(session_id[:80])
        session = sessions.load_visible(tenant, session_id, clock.now_ms(), with_body=False)
        if session.status in ("terminated", "archived"):
            raise ConflictError(
                f"Session {session_id} is {session.status} and read-only", code=f"session_{session.status}"
            )
        attachment_id = new_attachment_id()
        key = keys.object_key(tenant.namespace_id, session_id, attachment_id)
        url, headers, expires_ms = self.store.upload_url(
            key, size=request.size, sha256=request.sha256, mime_type=request.mime_type, name=request.name
        )
        return UploadTicket(
            attachment_id=attachment_id,
            upload_url=url,
            upload_method="PUT",
            upload_headers=headers,
            expires_at=clock.to_iso(expires_ms),
        )

    def get_attachment(
        self, sessions: SessionService, tenant: Tenant, session_id: str, attachment_id: str
    ) -> Attachment:
        """The attachment's description and a fresh URL. 1 read of the session (another
        tenant's or an ended session is 404) and 1 HEAD of the object under its prefix."""
        if not is_session_id(session_id):
            raise session_not_found(session_id[:80])
        if not is_attachment_id(attachment_id):
            raise attachment_not_found(session_id, attachment_id)
        sessions.load_visible(tenant, session_id, clock.now_ms(), with_body=False)
        key = keys.object_key(tenant.namespace_id, session_id, attachment_id)
        info = self.store.head(key)
        if info is None:
            raise attachment_not_found(session_id, attachment_id)
        url, expires_ms = self.store.download_url(key, name=info.name, mime_type=info.mime_type)
        return Attachment(
            attachment_id=attachment_id,
            name=info.name or attachment_id,
            mime_type=info.mime_type,
            size=info.size,
            sha256=info.sha256 or "",
            url=url,
            url_expires_at=clock.to_iso(expires_ms),
        )

    # --- reads -------------------------------------------------------------------------------

    def load_contents(self, messages: list[MessageItem], budget: int) -> None:
        """Reads the S3 contents of the messages a response of `budget` bytes may carry, in
        order and in parallel; the rest stay unloaded (their readers get a content_url)."""
        wanted: list[MessageItem] = []
        used = 0
        for message in messages:
            used += (message.content_size or 0) if not message.content_loaded() else len(message.content)
            if used > budget:
                break
            if not message.content_loaded():
                wanted.append(message)

        def load(message: MessageItem) -> None:
            key = keys.object_key(message.namespace_id, message.session_id, message.content_object or "")
            message.content = self.store.get_bytes(key).decode("utf-8", "surrogatepass")

        run_all([functools.partial(load, message) for message in wanted])

    def page(self, messages: list[MessageItem], reserved: int = 0) -> list[MessageItem]:
        """The first messages one response carries, contents loaded where they fit (at least
        one message: a content too large for the response alone is handed over by URL)."""
        budget = RESPONSE_BODY_BUDGET - reserved
        if any(not message.content_loaded() for message in messages):
            self.load_contents(messages, budget)
            # what was left unloaded is past the budget already (the first one excepted)
            unloaded = next((i for i, m in enumerate(messages) if i and not m.content_loaded()), len(messages))
            messages = messages[:unloaded]
        fitting = messages[: messages_that_fit(messages, reserved)]
        first = fitting[0] if fitting else None
        if (
            first is not None
            and first.content_object is not None
            and first.content_loaded()
            and sent_size(first.to_message()) > budget
        ):
            first.content = ""  # alone past the limit: by URL
        return fitting

    def present(self, messages: list[MessageItem]) -> list[Message]:
        """The wire form: presigned URLs for attachments and unloaded contents (signed here,
        no request)."""
        shown = []
        for item in messages:
            message = item.to_message()
            if item.attachments:
                message.attachments = [
                    self.signed(item.namespace_id, item.session_id, attachment) for attachment in message.attachments
                ]
            if not item.content_loaded():
                key = keys.object_key(item.namespace_id, item.session_id, item.content_object or "")
                message.content_url, _ = self.store.download_url(key, name=None, mime_type=CONTENT_MIME_TYPE)
            shown.append(message)
        return shown

    def signed(self, namespace_id: str, session_id: str, attachment: Attachment) -> Attachment:
        key = keys.object_key(namespace_id, session_id, attachment.attachment_id)
        url, expires_ms = self.store.download_url(key, name=attachment.name, mime_type=attachment.mime_type)
        return attachment.model_copy(update={"url": url, "url_expires_at": clock.to_iso(expires_ms)})

    # --- copies (fork) ------------------------------------------------------------------------

    def copy_objects(self, messages: list[MessageItem], namespace_id: str, to_session_id: str) -> None:
        """Server-side copies of the messages' objects under another session (a fork's)."""
        tasks: list[Callable[[], None]] = []
        for message in messages:
            for object_id in message.object_ids():
                source = keys.object_key(namespace_id, message.session_id, object_id)
                target = keys.object_key(namespace_id, to_session_id, object_id)
                tasks.append(functools.partial(self.store.copy, source, target))
        run_all(tasks)


def _mismatch(index: int, position: int, attachment_id: str, why: str) -> ValidationError:
    return ValidationError(
        f"Attachment {attachment_id}: {why}",
        code="attachment_mismatch",
        details={"attachment_id": attachment_id, "message": index, "attachment": position},
    )


def run_all(tasks: list[Callable[[], None]]) -> None:
    """Runs the tasks side by side (one inline); raises the first failure once all are done."""
    if not tasks:
        return
    if len(tasks) == 1:
        tasks[0]()
        return
    futures = [object_store.object_pool().submit(task) for task in tasks]
    errors = [error for future in futures if (error := future.exception()) is not None]
    if errors:
        raise errors[0]
