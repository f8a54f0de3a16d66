"""`AgentSessionsClient` and `AsyncAgentSessionsClient`: every route of the API, the same
arguments and answers, one built on `httpx.Client`, the other on `httpx.AsyncClient`."""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from agent_sessions_client import _objects as objects
from agent_sessions_client import _requests as ops
from agent_sessions_client import models
from agent_sessions_client._requests import Request, RetryPolicy
from agent_sessions_client.errors import AgentSessionsError, TransportError


def _message(content: str | dict[str, Any], role: str | None) -> dict[str, Any]:
    message = {"content": content} if isinstance(content, str) else dict(content)
    if role is not None:
        message.setdefault("role", role)
    return message


class _Base:
    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        namespace: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.base_url, api_key, self.namespace = ops.settings_from_environment(base_url, api_key, namespace)
        self.retry = retry or RetryPolicy()
        self._headers = {"Authorization": f"Bearer {api_key}", "X-Namespace": self.namespace}
        self._timeout = timeout

    def _build(self, request: Request) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "method": request.method,
            "url": request.path,
            "params": request.params or None,
            "headers": request.headers,
        }
        if request.body is not None:
            kwargs["json"] = request.body
        if request.content is not None:
            kwargs["content"] = request.content
        return kwargs


class AgentSessionsClient(_Base):
    """The synchronous client. `AGENT_SESSIONS_URL`, `AGENT_SESSIONS_API_KEY` and
    `AGENT_SESSIONS_NAMESPACE` stand in for arguments not given. One client may be shared by
    many threads: httpx's `Client` is documented thread-safe (its connection pool is guarded
    by locks) and this class keeps no other state that a request changes."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        namespace: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, namespace, timeout=timeout, retry=retry)
        self._http = httpx.Client(base_url=self.base_url, headers=self._headers, timeout=timeout, transport=transport)
        # Presigned S3 URLs: their own pool, never the API key's headers.
        self._objects = httpx.Client(timeout=max(timeout, 120.0))

    def close(self) -> None:
        self._http.close()
        self._objects.close()

    def __enter__(self) -> AgentSessionsClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self, request: Request) -> Any:
        for attempt in range(self.retry.max_attempts):
            try:
                try:
                    response = self._http.request(**self._build(request))
                except httpx.TransportError as error:
                    raise TransportError(f"no answer: {error!r}") from error
                result = ops.parse(request, response.status_code, response.text, dict(response.headers))
            except AgentSessionsError as error:
                if attempt + 1 >= self.retry.max_attempts or not ops.should_retry(request, error):
                    raise
                time.sleep(self.retry.delay(attempt, error.headers.get("retry-after")))
                continue
            for message in objects.unresolved(result):
                objects.fill(message, self._object("GET", message.content_url or ""))
            return result
        raise AssertionError("unreachable")

    def _object(self, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> bytes:
        """A presigned S3 request, retried (a PUT of the same bytes to the same key is safe)."""
        for attempt in range(self.retry.max_attempts):
            try:
                response = self._objects.request(method, url, content=body, headers=headers)
            except httpx.TransportError as error:
                if attempt + 1 >= self.retry.max_attempts:
                    raise TransportError(f"no answer from S3: {error!r}") from error
            else:
                if response.status_code < 300:
                    return response.content
                if response.status_code < 500 or attempt + 1 >= self.retry.max_attempts:
                    raise AgentSessionsError(f"S3 answered {response.status_code}: {response.text[:200]}")
            time.sleep(self.retry.delay(attempt, None))
        raise AssertionError("unreachable")

    # --- attachments ---------------------------------------------------------------------------

    def upload_attachment(self, session_id: str, data: bytes, *, name: str, mime_type: str) -> str:
        """Uploads a file (up to 100 MiB) to the session; returns its attachment_id, for an
        append's `attachments: [{"attachment_id": …}]`."""
        ticket = self._run(ops.create_upload(session_id, name, mime_type, len(data), objects.sha256(data)))
        self._object("PUT", ticket.upload_url, data, ticket.upload_headers)
        return str(ticket.attachment_id)

    def get_attachment(self, session_id: str, attachment_id: str) -> models.Attachment:
        return self._run(ops.get_attachment(session_id, attachment_id))  # type: ignore[no-any-return]

    def download_attachment(self, session_id: str, attachment: models.Attachment | str) -> bytes:
        """The file's bytes, checked against its sha256 (a fresh URL when the one given is gone)."""
        if isinstance(attachment, str) or not attachment.url:
            attachment = self.get_attachment(
                session_id, attachment if isinstance(attachment, str) else attachment.attachment_id
            )
        try:
            return objects.checked(attachment, self._object("GET", attachment.url or ""))
        except AgentSessionsError:
            fresh = self.get_attachment(session_id, attachment.attachment_id)  # the URL expired
            return objects.checked(fresh, self._object("GET", fresh.url or ""))

    def _with_uploads(self, session_id: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        uploaded = {
            (index, position): self.upload_attachment(
                session_id, bytes(file["data"]), name=file["name"], mime_type=file["mime_type"]
            )
            for index, position, file in objects.files_to_upload(messages)
        }
        return objects.wire_messages(messages, uploaded)

    # --- sessions ------------------------------------------------------------------------------

    def create_session(self, *, idempotency_key: str | None = None, **fields: Any) -> models.Session:
        return self._run(ops.create_session(fields, idempotency_key))  # type: ignore[no-any-return]

    def put_session(
        self,
        session_id: str,
        *,
        if_match: int | None = None,
        create_only: bool = False,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> models.Session:
        """Create the session with this id, or replace it (fields left out take their defaults).
        `create_only` sends If-None-Match: * (412 when it exists); `if_match` a version."""
        request = ops.put_session(session_id, fields, if_match, create_only, idempotency_key)
        return self._run(request)  # type: ignore[no-any-return]

    def get_session(self, session_id: str) -> models.Session:
        return self._run(ops.get_session(session_id))  # type: ignore[no-any-return]

    def list_sessions(
        self, *, limit: int = 50, cursor: str | None = None, include_total: bool = True, **filters: Any
    ) -> models.SessionPage:
        return self._run(ops.list_sessions(filters, limit, cursor, include_total))  # type: ignore[no-any-return]

    def iter_sessions(self, *, page_size: int = 100, **filters: Any) -> Iterator[models.Session]:
        """Every matching session, page by page (the cursor followed to the end)."""
        cursor = None
        while True:
            page = self.list_sessions(limit=page_size, cursor=cursor, include_total=False, **filters)
            yield from page.results
            cursor = page.pagination.next_cursor
            if not cursor:
                return

    def update_session(self, session_id: str, patch: dict[str, Any], *, if_match: int | None = None) -> models.Session:
        return self._run(ops.update_session(session_id, patch, if_match))  # type: ignore[no-any-return]

    def terminate_session(self, session_id: str) -> models.TerminatedSession:
        return self._run(ops.terminate_session(session_id))  # type: ignore[no-any-return]

    def purge_session(self, session_id: str) -> models.PurgedSession:
        return self._run(ops.purge_session(session_id))  # type: ignore[no-any-return]

    def erase_user(self, user_id: str) -> int:
        """Every session of the user purged (calls repeated while the API says `has_more`)."""
        purged = 0
        while True:
            result: models.ErasedUser = self._run(ops.erase_user(user_id))
            purged += result.purged
            if not result.has_more:
                return purged

    # --- messages ------------------------------------------------------------------------------

    def append_messages(
        self,
        session_id: str,
        messages: list[dict[str, Any]],
        *,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> models.AppendResult:
        """Attachments may give `data` as bytes: sent inline while the request stays small,
        uploaded first otherwise."""
        messages = self._with_uploads(session_id, messages)
        return self._run(ops.append_messages(session_id, messages, if_match, idempotency_key))  # type: ignore[no-any-return]

    def append_message(
        self,
        session_id: str,
        content: str | dict[str, Any],
        *,
        role: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> models.AppendResult:
        return self.append_messages(
            session_id, [_message(content, role)], if_match=if_match, idempotency_key=idempotency_key
        )

    def get_history(
        self,
        session_id: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        order: str = "asc",
        offset: int | None = None,
    ) -> models.HistoryPage:
        """One page; `offset` starts at that seq (oldest first) or that many from the newest."""
        return self._run(ops.get_history(session_id, limit, cursor, order, offset))  # type: ignore[no-any-return]

    def iter_history(self, session_id: str, *, page_size: int = 200, order: str = "asc") -> Iterator[models.Message]:
        cursor = None
        while True:
            page = self.get_history(session_id, limit=page_size, cursor=cursor, order=order)
            yield from page.messages
            cursor = page.next_cursor
            if not page.has_more or not cursor:
                return

    def rewind(
        self, session_id: str, *, from_seq: int | None = None, last: int | None = None, if_match: int | None = None
    ) -> models.RewindResult:
        return self._run(ops.rewind(session_id, from_seq, last, if_match))  # type: ignore[no-any-return]

    def get_context(
        self, session_id: str, *, max_tokens: int | None = None, max_messages: int | None = None
    ) -> models.ContextWindow:
        return self._run(ops.get_context(session_id, max_tokens, max_messages))  # type: ignore[no-any-return]

    def fork_session(
        self, session_id: str, *, child_session_id: str | None = None, idempotency_key: str | None = None, **fields: Any
    ) -> models.Session:
        """A new session from this one (`through_seq`, `session_name`, `metadata`); the child's
        id is `child_session_id` when given."""
        body = {**fields, **({"session_id": child_session_id} if child_session_id else {})}
        return self._run(ops.fork_session(session_id, body, idempotency_key))  # type: ignore[no-any-return]

    def export_session(self, session_id: str, *, inline_attachments: bool = True) -> str:
        """The session's export file (NDJSON: the session, then every message); with
        `inline_attachments` the files' bytes are in it, so `import_session` takes it back."""
        answer: ops.RawAnswer = self._run(ops.export_session(session_id, inline_attachments))
        if answer.location is not None:  # too large for one response: a presigned URL of it
            return self._object("GET", answer.location).decode("utf-8")
        return answer.text

    def import_session(
        self, export: str, *, new_id: bool = False, idempotency_key: str | None = None
    ) -> models.Session:
        """The session an export file describes, recreated (all or nothing); `new_id` gives it
        a fresh id. One Idempotency-Key per call, sent with every retry."""
        data = export.encode("utf-8")
        key = idempotency_key or ops.new_key()
        if len(data) <= ops.IMPORT_INLINE_BYTES:
            return self._run(ops.import_session(data, new_id, key))  # type: ignore[no-any-return]
        ticket = self._run(ops.create_import_upload(data))  # too large for a request: uploaded first
        self._object("PUT", ticket["upload_url"], data, ticket["upload_headers"])
        return self._run(ops.import_session(data, new_id, key, ticket["upload_id"]))  # type: ignore[no-any-return]

    def record_feedback(
        self, session_id: str, message_id: str, rating: str, feedback_text: str | None = None
    ) -> models.FeedbackResult:
        return self._run(ops.record_feedback(session_id, message_id, rating, feedback_text))  # type: ignore[no-any-return]

    def update_message(self, session_id: str, seq: int, patch: dict[str, Any]) -> models.Message:
        return self._run(ops.update_message(session_id, seq, patch))  # type: ignore[no-any-return]


class AsyncAgentSessionsClient(_Base):
    """The asynchronous client: the same methods as AgentSessionsClient, awaited.

    Usable from any event loop and any thread: httpx's async connections belong to the loop
    that opened them, so the client keeps one connection pool per running loop, made on that
    loop's first request. A framework that starts a new loop per call (Google ADK's
    `Runner.run`, `asyncio.run` twice, the OpenAI Agents SDK's `Runner.run_sync` from a
    thread) therefore never meets a connection of a closed loop. A pool whose loop is gone is
    dropped with it (its sockets close when it is collected); `aclose` closes the current
    loop's pool now and the others' on their own loops."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        namespace: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, namespace, timeout=timeout, retry=retry)
        self._transport = transport
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self._pools_lock = threading.Lock()  # loops in several threads may make their pools at once

    @property
    def _http(self) -> httpx.AsyncClient:
        """The running loop's connection pool (made on its first use)."""
        loop = asyncio.get_running_loop()
        with self._pools_lock:
            pool = self._pools.get(loop)
            if pool is None:
                for other in [other for other in self._pools if other.is_closed()]:
                    del self._pools[other]  # a closed loop's connections can never be used again
                pool = httpx.AsyncClient(
                    base_url=self.base_url, headers=self._headers, timeout=self._timeout, transport=self._transport
                )
                self._pools[loop] = pool
            return pool

    async def aclose(self) -> None:
        """Close every connection pool: the running loop's now, another live loop's on that
        loop (it owns its connections), a closed loop's by dropping it."""
        current = asyncio.get_running_loop()
        with self._pools_lock:
            pools = list(self._pools.items())
            self._pools.clear()
        for loop, pool in pools:
            if loop is current:
                await pool.aclose()
            elif not loop.is_closed() and loop.is_running():
                asyncio.run_coroutine_threadsafe(pool.aclose(), loop)

    async def __aenter__(self) -> AsyncAgentSessionsClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def _run(self, request: Request) -> Any:
        for attempt in range(self.retry.max_attempts):
            try:
                try:
                    response = await self._http.request(**self._build(request))
                except httpx.TransportError as error:
                    raise TransportError(f"no answer: {error!r}") from error
                result = ops.parse(request, response.status_code, response.text, dict(response.headers))
            except AgentSessionsError as error:
                if attempt + 1 >= self.retry.max_attempts or not ops.should_retry(request, error):
                    raise
                await asyncio.sleep(self.retry.delay(attempt, error.headers.get("retry-after")))
                continue
            pending = objects.unresolved(result)
            bodies = await asyncio.gather(*(self._object("GET", message.content_url or "") for message in pending))
            for message, body in zip(pending, bodies, strict=True):
                objects.fill(message, body)
            return result
        raise AssertionError("unreachable")

    async def _object(
        self, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> bytes:
        """A presigned S3 request (no API key), retried."""
        for attempt in range(self.retry.max_attempts):
            try:
                async with httpx.AsyncClient(timeout=max(self._timeout, 120.0)) as plain:
                    response = await plain.request(method, url, content=body, headers=headers)
            except httpx.TransportError as error:
                if attempt + 1 >= self.retry.max_attempts:
                    raise TransportError(f"no answer from S3: {error!r}") from error
            else:
                if response.status_code < 300:
                    return response.content
                if response.status_code < 500 or attempt + 1 >= self.retry.max_attempts:
                    raise AgentSessionsError(f"S3 answered {response.status_code}: {response.text[:200]}")
            await asyncio.sleep(self.retry.delay(attempt, None))
        raise AssertionError("unreachable")

    async def upload_attachment(self, session_id: str, data: bytes, *, name: str, mime_type: str) -> str:
        ticket = await self._run(ops.create_upload(session_id, name, mime_type, len(data), objects.sha256(data)))
        await self._object("PUT", ticket.upload_url, data, ticket.upload_headers)
        return str(ticket.attachment_id)

    async def get_attachment(self, session_id: str, attachment_id: str) -> models.Attachment:
        return await self._run(ops.get_attachment(session_id, attachment_id))  # type: ignore[no-any-return]

    async def download_attachment(self, session_id: str, attachment: models.Attachment | str) -> bytes:
        if isinstance(attachment, str) or not attachment.url:
            attachment = await self.get_attachment(
                session_id, attachment if isinstance(attachment, str) else attachment.attachment_id
            )
        try:
            return objects.checked(attachment, await self._object("GET", attachment.url or ""))
        except AgentSessionsError:
            fresh = await self.get_attachment(session_id, attachment.attachment_id)
            return objects.checked(fresh, await self._object("GET", fresh.url or ""))

    async def _with_uploads(self, session_id: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        entries = objects.files_to_upload(messages)
        ids = await asyncio.gather(
            *(
                self.upload_attachment(session_id, bytes(file["data"]), name=file["name"], mime_type=file["mime_type"])
                for _, _, file in entries
            )
        )
        uploaded = {
            (index, position): attachment_id for (index, position, _), attachment_id in zip(entries, ids, strict=True)
        }
        return objects.wire_messages(messages, uploaded)

    async def create_session(self, *, idempotency_key: str | None = None, **fields: Any) -> models.Session:
        return await self._run(ops.create_session(fields, idempotency_key))  # type: ignore[no-any-return]

    async def put_session(
        self,
        session_id: str,
        *,
        if_match: int | None = None,
        create_only: bool = False,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> models.Session:
        request = ops.put_session(session_id, fields, if_match, create_only, idempotency_key)
        return await self._run(request)  # type: ignore[no-any-return]

    async def get_session(self, session_id: str) -> models.Session:
        return await self._run(ops.get_session(session_id))  # type: ignore[no-any-return]

    async def list_sessions(
        self, *, limit: int = 50, cursor: str | None = None, include_total: bool = True, **filters: Any
    ) -> models.SessionPage:
        return await self._run(ops.list_sessions(filters, limit, cursor, include_total))  # type: ignore[no-any-return]

    async def iter_sessions(self, *, page_size: int = 100, **filters: Any) -> AsyncIterator[models.Session]:
        cursor = None
        while True:
            page = await self.list_sessions(limit=page_size, cursor=cursor, include_total=False, **filters)
            for session in page.results:
                yield session
            cursor = page.pagination.next_cursor
            if not cursor:
                return

    async def update_session(
        self, session_id: str, patch: dict[str, Any], *, if_match: int | None = None
    ) -> models.Session:
        return await self._run(ops.update_session(session_id, patch, if_match))  # type: ignore[no-any-return]

    async def terminate_session(self, session_id: str) -> models.TerminatedSession:
        return await self._run(ops.terminate_session(session_id))  # type: ignore[no-any-return]

    async def purge_session(self, session_id: str) -> models.PurgedSession:
        return await self._run(ops.purge_session(session_id))  # type: ignore[no-any-return]

    async def erase_user(self, user_id: str) -> int:
        purged = 0
        while True:
            result: models.ErasedUser = await self._run(ops.erase_user(user_id))
            purged += result.purged
            if not result.has_more:
                return purged

    async def append_messages(
        self,
        session_id: str,
        messages: list[dict[str, Any]],
        *,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> models.AppendResult:
        messages = await self._with_uploads(session_id, messages)
        return await self._run(ops.append_messages(session_id, messages, if_match, idempotency_key))  # type: ignore[no-any-return]

    async def append_message(
        self,
        session_id: str,
        content: str | dict[str, Any],
        *,
        role: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> models.AppendResult:
        return await self.append_messages(
            session_id, [_message(content, role)], if_match=if_match, idempotency_key=idempotency_key
        )

    async def get_history(
        self,
        session_id: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        order: str = "asc",
        offset: int | None = None,
    ) -> models.HistoryPage:
        return await self._run(ops.get_history(session_id, limit, cursor, order, offset))  # type: ignore[no-any-return]

    async def iter_history(
        self, session_id: str, *, page_size: int = 200, order: str = "asc"
    ) -> AsyncIterator[models.Message]:
        cursor = None
        while True:
            page = await self.get_history(session_id, limit=page_size, cursor=cursor, order=order)
            for message in page.messages:
                yield message
            cursor = page.next_cursor
            if not page.has_more or not cursor:
                return

    async def rewind(
        self, session_id: str, *, from_seq: int | None = None, last: int | None = None, if_match: int | None = None
    ) -> models.RewindResult:
        return await self._run(ops.rewind(session_id, from_seq, last, if_match))  # type: ignore[no-any-return]

    async def get_context(
        self, session_id: str, *, max_tokens: int | None = None, max_messages: int | None = None
    ) -> models.ContextWindow:
        return await self._run(ops.get_context(session_id, max_tokens, max_messages))  # type: ignore[no-any-return]

    async def fork_session(
        self, session_id: str, *, child_session_id: str | None = None, idempotency_key: str | None = None, **fields: Any
    ) -> models.Session:
        body = {**fields, **({"session_id": child_session_id} if child_session_id else {})}
        return await self._run(ops.fork_session(session_id, body, idempotency_key))  # type: ignore[no-any-return]

    async def export_session(self, session_id: str, *, inline_attachments: bool = True) -> str:
        answer: ops.RawAnswer = await self._run(ops.export_session(session_id, inline_attachments))
        if answer.location is not None:
            return (await self._object("GET", answer.location)).decode("utf-8")
        return answer.text

    async def import_session(
        self, export: str, *, new_id: bool = False, idempotency_key: str | None = None
    ) -> models.Session:
        data = export.encode("utf-8")
        key = idempotency_key or ops.new_key()
        if len(data) <= ops.IMPORT_INLINE_BYTES:
            return await self._run(ops.import_session(data, new_id, key))  # type: ignore[no-any-return]
        ticket = await self._run(ops.create_import_upload(data))
        await self._object("PUT", ticket["upload_url"], data, ticket["upload_headers"])
        return await self._run(ops.import_session(data, new_id, key, ticket["upload_id"]))  # type: ignore[no-any-return]

    async def record_feedback(
        self, session_id: str, message_id: str, rating: str, feedback_text: str | None = None
    ) -> models.FeedbackResult:
        return await self._run(ops.record_feedback(session_id, message_id, rating, feedback_text))  # type: ignore[no-any-return]

    async def update_message(self, session_id: str, seq: int, patch: dict[str, Any]) -> models.Message:
        return await self._run(ops.update_message(session_id, seq, patch))  # type: ignore[no-any-return]
