"""LangGraph's checkpointer on Agent Sessions: `AgentSessionsSaver`, sync and async.

A thread is one store session (`lg-<thread_id>`), so a thread lists, expires, forks and shows
in the console like any other session. What LangGraph stores becomes that session's messages:

- every `put` appends one *checkpoint record*, every `put_writes` one *writes record*: a JSON
  object in a message's `content` (role `system`, metadata `{"langgraph": "checkpoint" |
  "writes"}`); a record larger than one message is split into consecutive messages appended in
  the same request (metadata `{"langgraph": "part", "part": i, "parts": n}`), so it is stored
  whole or not at all;
- a checkpoint record carries the values of the channels that changed (LangGraph's
  `new_versions`), never the whole state: an unchanged channel is found through the record's
  `loc` (for each channel, the seq of the record that holds its current value). A list channel
  (a conversation's `messages`) that grew by appending is stored as the appended elements
  only, against the parent's list; it is written whole again when the bytes appended since it
  was last written whole reach its whole size (so all of a growing list's writes add up to at
  most about three times its final size: stored bytes grow with what the run adds, not with
  steps × state), or after `REFRESH_STEPS` steps of its lineage (which bounds how far back a
  read reaches, at the price of one whole copy per 500 steps);
- reading the latest checkpoint takes the newest page of messages (40, newest first: the
  checkpoint and its pending writes; further back, 200 at a time, when it is not there),
  then, side by side, the spans the values come from (for each channel, from where it was
  last written whole to where its version is): a constant number of request waves, and
  bytes in proportion to the state, whatever the thread's length. An older checkpoint is
  searched for back from the newest page;
- writes are exactly-once under retries: the client's `Idempotency-Key` makes a retried append
  the first one's replay, and what a caller repeats is harmless: the newest record of a
  checkpoint is the one read, and pending writes are deduplicated by (task_id, idx) on read,
  as LangGraph's own savers do;
- `delete_thread` purges the session; `copy_thread` is the store's fork (one request, a
  server-side copy); `prune` and `delete_for_runs` re-append what stays (delta-encoded again)
  and then blank the rest (each blanked message keeps its seq and holds `{}`).
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import contextlib
import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from agent_sessions_client import models
from agent_sessions_client.client import AgentSessionsClient, AsyncAgentSessionsClient
from agent_sessions_client.errors import (
    AgentSessionsError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
    ValidationError,
)

__all__ = ["AgentSessionsSaver"]

PAGE = 200  # the history route's largest page
FIRST_PAGE = 40  # a read's first page: the latest checkpoint and its pending writes, usually
PART_CHARS = 200_000  # a message holds 256 KiB; a record's JSON is ASCII, so chars are bytes
BATCH_MESSAGES = 90  # an append takes 99 messages (98 with an Idempotency-Key)
BATCH_CHARS = 4_000_000  # and its request must fit Lambda's 6 MB payload
REFRESH_STEPS = 500  # and at least every 500 steps of its lineage (bounds what a read reaches back)
PATCH_PARALLELISM = 16
PARALLEL_READS = 8  # requests of one step in flight at once
REWRITE_ATTEMPTS = 5
SESSION_PREFIX = "lg-"
HASHED_PREFIX = "lgh-"
THREAD_MARK = {"framework": "langgraph"}
_PLAIN_ID = re.compile(r"[A-Za-z0-9_.:-]{1,125}")
_EMPTY = object()  # a channel that exists in the versions but holds no value


def session_id_for(thread_id: str) -> str:
    """The store session of a thread: `lg-<thread_id>`, or a digest when the thread id is not a
    valid session id."""
    thread_id = str(thread_id)
    if _PLAIN_ID.fullmatch(thread_id):
        return SESSION_PREFIX + thread_id
    return HASHED_PREFIX + hashlib.sha256(thread_id.encode()).hexdigest()[:48]


# --- calls: each operation is written once, as a generator of the client calls it makes -------


@dataclass(frozen=True)
class _Call:
    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


# A step yields one call (answered with its result, or its error thrown in) or a list of calls
# the async driver makes concurrently (answered with a list of results or errors).
_Flow = Generator["_Call | list[_Call]", Any, Any]


def _run_sync(client: AgentSessionsClient, flow: _Flow) -> Any:
    answer: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(answer)
        except StopIteration as stop:
            return stop.value
        answer, error = None, None
        if isinstance(step, list):
            # httpx's Client is thread-safe: the reads of one step go side by side, as in async
            answer = (
                list(_pool().map(lambda call: _attempt_sync(client, call), step))
                if len(step) > 1
                else [_attempt_sync(client, call) for call in step]
            )
        else:
            try:
                answer = getattr(client, step.method)(*step.args, **step.kwargs)
            except AgentSessionsError as failure:
                error = failure


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=PARALLEL_READS, thread_name_prefix="agent-sessions-langgraph")
        return _POOL


def _attempt_sync(client: AgentSessionsClient, call: _Call) -> Any:
    try:
        return getattr(client, call.method)(*call.args, **call.kwargs)
    except AgentSessionsError as failure:
        return failure


async def _run_async(client: AsyncAgentSessionsClient, flow: _Flow) -> Any:
    answer: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(answer)
        except StopIteration as stop:
            return stop.value
        answer, error = None, None
        if isinstance(step, list):
            lanes = asyncio.Semaphore(PARALLEL_READS)  # as many at once as the sync pool makes
            answer = await asyncio.gather(*(_attempt_async(client, call, lanes) for call in step))
        else:
            try:
                answer = await getattr(client, step.method)(*step.args, **step.kwargs)
            except AgentSessionsError as failure:
                error = failure


async def _attempt_async(client: AsyncAgentSessionsClient, call: _Call, lanes: asyncio.Semaphore) -> Any:
    async with lanes:
        try:
            return await getattr(client, call.method)(*call.args, **call.kwargs)
        except AgentSessionsError as failure:
            return failure


def _raise_first(answers: list[Any]) -> None:
    for answer in answers:
        if isinstance(answer, AgentSessionsError):
            raise answer


# --- what a thread holds, as read -------------------------------------------------------------


class _Thread:
    """What was read of a thread's session: its newest messages, contiguous from `low` to its
    last seq, plus older spans read for the records a checkpoint's values come from; and the
    records they hold."""

    def __init__(self, total: int, messages: list[models.Message]) -> None:
        self.total = total
        self.messages: dict[int, models.Message] = {}
        self.low = total
        self._records: dict[int, dict[str, Any]] = {}
        self._unparsed: set[int] = set()
        self._writes: dict[tuple[str, str], list[int]] | None = None
        self.add(messages)

    def add(self, messages: list[models.Message]) -> None:
        for message in messages:
            if message.seq < self.total and message.seq not in self.messages:
                self.messages[message.seq] = message
                self._unparsed.add(message.seq)
        while self.low > 0 and self.low - 1 in self.messages:
            self.low -= 1

    def missing(self, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The parts of [start, stop) spans not read yet, as spans."""
        wanted = sorted({seq for start, stop in spans for seq in range(max(0, start), min(stop, self.total))})
        gaps: list[tuple[int, int]] = []
        for seq in wanted:
            if seq in self.messages:
                continue
            if gaps and gaps[-1][1] == seq:
                gaps[-1] = (gaps[-1][0], seq + 1)
            else:
                gaps.append((seq, seq + 1))
        return gaps

    def records(self) -> dict[int, dict[str, Any]]:
        """Every whole record read, by the seq of its first message."""
        if self._unparsed:
            for seq in sorted(self._unparsed):
                record = self._parse(seq)
                if record is not None:
                    self._records[seq] = record
                    self._writes = None
            # a record's later parts may arrive after its first: keep trying first parts
            self._unparsed = {seq for seq in self._unparsed if self._waiting(seq)}
        return self._records

    def parts_missing(self) -> list[tuple[int, int]]:
        """The spans of records whose first part was read but not all the others."""
        spans = []
        for seq in self._unparsed:
            message = self.messages[seq]
            spans.append((seq, seq + int(message.metadata.get("parts", 1))))
        return spans

    def _waiting(self, seq: int) -> bool:
        message = self.messages[seq]
        metadata = message.metadata or {}
        if metadata.get("langgraph") != "part" or metadata.get("part") != 0:
            return False
        return any(seq + index not in self.messages for index in range(int(metadata.get("parts", 0))))

    def _parse(self, seq: int) -> dict[str, Any] | None:
        message = self.messages[seq]
        kind = (message.metadata or {}).get("langgraph")
        if kind in ("checkpoint", "writes"):
            text = message.content
        elif kind == "part" and message.metadata.get("part") == 0:
            parts = int(message.metadata.get("parts", 0))
            chunks = []
            for index in range(parts):
                piece = self.messages.get(seq + index)
                if piece is None or (piece.metadata or {}).get("part") != index:
                    return None
                chunks.append(piece.content)
            text = "".join(chunks)
        else:
            return None  # a blanked record, a later part, or another client's message
        try:
            record = json.loads(text)
        except ValueError:
            return None
        return record if isinstance(record, dict) and record.get("k") in ("cp", "w") else None

    def writes(self) -> dict[tuple[str, str], list[int]]:
        """(ns, checkpoint id) → the seqs of its writes records, oldest first."""
        records = self.records()
        if self._writes is None:
            self._writes = {}
            for seq, record in sorted(records.items()):
                if record["k"] == "w":
                    self._writes.setdefault((record["ns"], record["id"]), []).append(seq)
        return self._writes

    def checkpoints(self, ns: str | None, newest_only: bool = False) -> dict[tuple[str, str], int]:
        """(ns, checkpoint id) → the seq of its newest record (a re-put record replaces); with
        `newest_only`, among the contiguous newest messages only (where a search looks)."""
        found: dict[tuple[str, str], int] = {}
        for seq, record in sorted(self.records().items()):
            if newest_only and seq < self.low:
                continue
            if record["k"] == "cp" and (ns is None or record["ns"] == ns):
                found[(record["ns"], record["id"])] = seq
        return found


@dataclass
class _Head:
    """What writing a child of a checkpoint needs to know of it."""

    checkpoint_id: str
    seq: int
    depth: int
    versions: dict[str, Any]
    loc: dict[str, list[int]]  # channel → [holder seq, chain start seq, start depth, size, chain bytes]
    lists: dict[str, list[list[str]]]  # list channel → its elements' encodings


class _Heads:
    """The last checkpoint read or written per (session, namespace), for delta encoding: a
    bounded, thread-safe cache (a miss only means the next put writes values whole)."""

    def __init__(self, size: int = 256) -> None:
        self._heads: OrderedDict[tuple[str, str], _Head] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, sid: str, ns: str, checkpoint_id: str | None) -> _Head | None:
        with self._lock:
            head = self._heads.get((sid, ns))
            return head if head is not None and head.checkpoint_id == checkpoint_id else None

    def set(self, sid: str, ns: str, head: _Head) -> None:
        with self._lock:
            self._heads[(sid, ns)] = head
            self._heads.move_to_end((sid, ns))
            while len(self._heads) > self._size:
                self._heads.popitem(last=False)

    def forget(self, sid: str) -> None:
        with self._lock:
            for key in [key for key in self._heads if key[0] == sid]:
                del self._heads[key]


class AgentSessionsSaver(BaseCheckpointSaver[int]):
    """LangGraph's `BaseCheckpointSaver` on Agent Sessions: every method, sync and async.

    `client` serves the sync methods (`graph.invoke`), `async_client` the async ones
    (`graph.ainvoke`); either left out is built from the environment (`AGENT_SESSIONS_URL`,
    `AGENT_SESSIONS_API_KEY`, `AGENT_SESSIONS_NAMESPACE`) on first use. `session_defaults` are
    fields every new thread session is created with (`ttl_seconds`, `user_id`, `metadata`, …).
    """

    def __init__(
        self,
        client: AgentSessionsClient | None = None,
        async_client: AsyncAgentSessionsClient | None = None,
        *,
        serde: SerializerProtocol | None = None,
        session_defaults: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(serde=serde)
        self._client = client
        self._async_client = async_client
        self._session_defaults = dict(session_defaults or {})
        self._heads = _Heads()
        self._clients_lock = threading.Lock()

    @property
    def client(self) -> AgentSessionsClient:
        with self._clients_lock:
            if self._client is None:
                self._client = AgentSessionsClient()
            return self._client

    @property
    def async_client(self) -> AsyncAgentSessionsClient:
        with self._clients_lock:
            if self._async_client is None:
                self._async_client = AsyncAgentSessionsClient()
            return self._async_client

    # --- the sync methods ------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return cast(CheckpointTuple | None, _run_sync(self.client, self._get_tuple(config)))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        if config is not None:
            yield from _run_sync(self.client, self._list_thread(config, filter, before, limit))
            return
        remaining = limit
        for session in self.client.iter_sessions(metadata=THREAD_MARK):
            if remaining is not None and remaining <= 0:
                return
            found = _run_sync(self.client, self._list_thread(self._config_of(session), filter, before, remaining))
            yield from found
            remaining = None if remaining is None else remaining - len(found)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return cast(RunnableConfig, _run_sync(self.client, self._put(config, checkpoint, metadata, new_versions)))

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        _run_sync(self.client, self._put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        _run_sync(self.client, self._delete_thread(thread_id))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        _run_sync(self.client, self._copy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        for thread_id in thread_ids:
            _run_sync(self.client, self._prune(thread_id, strategy))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        if not run_ids:
            return
        for session in self.client.iter_sessions(metadata=THREAD_MARK):
            _run_sync(self.client, self._delete_runs(session.session_id, set(map(str, run_ids))))

    # --- the async methods -----------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return cast(CheckpointTuple | None, await _run_async(self.async_client, self._get_tuple(config)))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        if config is not None:
            for found in await _run_async(self.async_client, self._list_thread(config, filter, before, limit)):
                yield found
            return
        remaining = limit
        async for session in self.async_client.iter_sessions(metadata=THREAD_MARK):
            if remaining is not None and remaining <= 0:
                return
            flow = self._list_thread(self._config_of(session), filter, before, remaining)
            tuples = await _run_async(self.async_client, flow)
            for found in tuples:
                yield found
            remaining = None if remaining is None else remaining - len(tuples)

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        flow = self._put(config, checkpoint, metadata, new_versions)
        return cast(RunnableConfig, await _run_async(self.async_client, flow))

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        await _run_async(self.async_client, self._put_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        await _run_async(self.async_client, self._delete_thread(thread_id))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await _run_async(self.async_client, self._copy_thread(source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        for thread_id in thread_ids:
            await _run_async(self.async_client, self._prune(thread_id, strategy))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        if not run_ids:
            return
        sessions = [session async for session in self.async_client.iter_sessions(metadata=THREAD_MARK)]
        for session in sessions:
            await _run_async(self.async_client, self._delete_runs(session.session_id, set(map(str, run_ids))))

    # --- encoding --------------------------------------------------------------------------------

    def _encode(self, value: Any) -> builtins.list[str]:
        kind, data = self.serde.dumps_typed(value)
        return [kind, base64.b64encode(data).decode("ascii")]

    def _decode(self, encoded: builtins.list[str]) -> Any:
        return self.serde.loads_typed((encoded[0], base64.b64decode(encoded[1])))

    def _checkpoint_record(
        self,
        ns: str,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        parent_id: str | None,
        changed: set[str],
        parent: _Head | None,
    ) -> tuple[dict[str, Any], _Head]:
        """The record of a checkpoint written as a child of `parent` (None: every value whole),
        and its head with holder seqs of -1 ("this record") until the seq is known."""
        values = checkpoint["channel_values"]
        depth = parent.depth + 1 if parent is not None else 0
        stored: dict[str, Any] = {}
        loc: dict[str, list[int]] = {}
        lists: dict[str, list[builtins.list[str]]] = {}
        for channel in checkpoint["channel_versions"]:
            before = parent.loc.get(channel) if parent is not None else None
            fresh = channel in changed
            if not fresh and before is not None and depth - before[2] < REFRESH_STEPS:
                loc[channel] = before  # unchanged: its value stays where it is
                if parent is not None and channel in parent.lists:
                    lists[channel] = parent.lists[channel]
                continue
            if channel not in values:
                if fresh:
                    stored[channel] = {"x": 1}
                    loc[channel] = [-1, -1, depth, 0, 0]
                elif before is not None:
                    loc[channel] = before
                continue
            value = values[channel]
            if type(value) is list:
                elements = [self._encode(element) for element in value]
                size = sum(len(element[1]) for element in elements)
                base = parent.lists.get(channel) if parent is not None and before is not None else None
                if base is not None and before is not None and elements[: len(base)] == base:
                    added = elements[len(base) :]
                    grown = before[4] + sum(len(element[1]) for element in added)
                    if grown <= before[3] and depth - before[2] < REFRESH_STEPS:
                        stored[channel] = {"a": added, "from": before[0]}
                        loc[channel] = [-1, before[1], before[2], before[3], grown]
                        lists[channel] = elements
                        continue
                stored[channel] = {"l": elements}
                loc[channel] = [-1, -1, depth, size, 0]
                lists[channel] = elements
            else:
                encoded = self._encode(value)
                stored[channel] = {"f": encoded}
                loc[channel] = [-1, -1, depth, len(encoded[1]), 0]
        shape = {key: item for key, item in checkpoint.items() if key != "channel_values"}
        record = {
            "k": "cp",
            "ns": ns,
            "id": checkpoint["id"],
            "p": parent_id,
            "d": depth,
            "c": self._encode(shape),
            "m": self._encode(metadata),
            "v": stored,
            "loc": loc,
        }
        head = _Head(checkpoint["id"], -1, depth, dict(checkpoint["channel_versions"]), loc, lists)
        return record, head

    def _writes_record(
        self, ns: str, checkpoint_id: str, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str
    ) -> dict[str, Any]:
        return {
            "k": "w",
            "ns": ns,
            "id": checkpoint_id,
            "task": task_id,
            "path": task_path,
            "w": [
                [WRITES_IDX_MAP.get(channel, index), channel, self._encode(value)]
                for index, (channel, value) in enumerate(writes)
            ],
        }

    @staticmethod
    def _messages(record: dict[str, Any]) -> builtins.list[dict[str, Any]]:
        """A record as the messages that store it: one, or consecutive parts of one append."""
        text = json.dumps(record, separators=(",", ":"), ensure_ascii=True)
        kind = "checkpoint" if record["k"] == "cp" else "writes"
        if len(text) <= PART_CHARS:
            return [{"role": "system", "content": text, "token_count": 0, "metadata": {"langgraph": kind}}]
        chunks = [text[start : start + PART_CHARS] for start in range(0, len(text), PART_CHARS)]
        return [
            {
                "role": "system",
                "content": chunk,
                "token_count": 0,
                "metadata": {"langgraph": "part", "part": index, "parts": len(chunks), "record": kind},
            }
            for index, chunk in enumerate(chunks)
        ]

    # --- reading ---------------------------------------------------------------------------------

    def _read(self, sid: str, wanted: Any) -> _Flow:
        """The thread's newest page, then whatever spans `wanted(thread)` still names (a list of
        [start, stop) seq spans; empty when done), read side by side; None when the session
        does not exist."""
        try:
            page = yield _Call("get_history", (sid,), {"limit": FIRST_PAGE, "order": "desc"})
        except NotFoundError:
            return None
        thread = _Thread(page.total_messages, page.messages)
        while True:
            thread.records()
            gaps = thread.missing([*wanted(thread), *thread.parts_missing()])
            if not gaps:
                return thread
            calls = [
                _Call("get_history", (sid,), {"limit": min(PAGE, stop - offset), "offset": offset, "order": "asc"})
                for start, stop in gaps
                for offset in range(start, stop, PAGE)
            ]
            before = len(thread.messages)
            pages = yield calls
            _raise_first(pages)
            for older in pages:
                thread.add(older.messages)
            if len(thread.messages) == before:
                raise RuntimeError(f"history of {sid} did not advance while reading {gaps[:3]}")

    @staticmethod
    def _spans(thread: _Thread, seq: int) -> builtins.list[tuple[int, int]]:
        """The spans a checkpoint's values are read from: for each channel, from the record its
        value was last written whole in to the record holding its current version."""
        record = thread.records()[seq]
        spans = []
        for entry in record["loc"].values():
            holder = seq if entry[0] < 0 else entry[0]
            start = seq if entry[1] < 0 else entry[1]
            spans.append((start, holder + 1))
        return spans

    def _value(self, thread: _Thread, channel: str, seq: int) -> tuple[Any, builtins.list[builtins.list[str]] | None]:
        """A channel's value as stored at record `seq` (following append chains back), and the
        encodings of its elements when it is a list."""
        chain: builtins.list[dict[str, Any]] = []
        records = thread.records()
        at = seq
        while True:
            stored = records[at]["v"][channel]
            chain.append(stored)
            if "a" not in stored:
                break
            at = stored["from"]
        first = chain.pop()
        if "x" in first:
            return _EMPTY, None
        if "f" in first:
            return self._decode(first["f"]), None
        elements: builtins.list[list[str]] = list(first["l"])
        for stored in reversed(chain):
            elements.extend(stored["a"])
        return [self._decode(element) for element in elements], elements

    def _tuple(self, thread: _Thread, thread_id: str, seq: int) -> tuple[CheckpointTuple, _Head]:
        records = thread.records()
        record = records[seq]
        checkpoint = cast(Checkpoint, self._decode(record["c"]))
        values: dict[str, Any] = {}
        lists: dict[str, list[builtins.list[str]]] = {}
        loc: dict[str, list[int]] = {}
        for channel, entry in record["loc"].items():
            holder = seq if entry[0] < 0 else entry[0]
            start = seq if entry[1] < 0 else entry[1]
            loc[channel] = [holder, start, entry[2], entry[3], entry[4]]
            value, elements = self._value(thread, channel, holder)
            if value is not _EMPTY:
                values[channel] = value
            if elements is not None:
                lists[channel] = elements
        checkpoint["channel_values"] = values
        ns, checkpoint_id = record["ns"], record["id"]
        writes: dict[tuple[str, int], tuple[str, str, int, str, Any]] = {}
        for later in thread.writes().get((ns, checkpoint_id), []):
            found = records[later]
            for index, channel, encoded in found["w"]:
                key = (found["task"], index)
                if key in writes and index >= 0:
                    continue  # a regular write is kept as first stored; a special one is replaced
                writes[key] = (found.get("path", ""), found["task"], index, channel, encoded)
        pending = [
            (task, channel, self._decode(encoded))
            for path, task, index, channel, encoded in sorted(writes.values(), key=lambda w: (w[0], w[1], w[2]))
        ]
        config: RunnableConfig = {
            "configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}
        }
        parent_config: RunnableConfig | None = None
        if record.get("p"):
            parent_config = {
                "configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": record["p"]}
            }
        metadata = cast(CheckpointMetadata, self._decode(record["m"]))
        head = _Head(checkpoint_id, seq, record["d"], dict(checkpoint["channel_versions"]), loc, lists)
        return CheckpointTuple(config, checkpoint, metadata, parent_config, pending), head

    def _get_tuple(self, config: RunnableConfig) -> _Flow:
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        ns = configurable.get("checkpoint_ns", "")
        checkpoint_id = get_checkpoint_id(config)
        sid = session_id_for(thread_id)

        def target(thread: _Thread) -> int | None:
            found = thread.checkpoints(ns, newest_only=True)
            if checkpoint_id is not None:
                return found.get((ns, checkpoint_id))
            return max(found.values(), default=None)

        def wanted(thread: _Thread) -> builtins.list[tuple[int, int]]:
            seq = target(thread)
            if seq is None:
                return [(thread.low - PAGE, thread.low)]  # not among the newest: read further back
            return self._spans(thread, seq)

        thread = yield from self._read(sid, wanted)
        if thread is None:
            return None
        seq = target(thread)
        if seq is None:
            return None
        found, head = self._tuple(thread, thread_id, seq)
        self._heads.set(sid, ns, head)
        return found

    def _list_thread(
        self,
        config: RunnableConfig,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> _Flow:
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        ns = configurable.get("checkpoint_ns")
        only = get_checkpoint_id(config)
        before_id = get_checkpoint_id(before) if before else None
        thread = yield from self._read(session_id_for(thread_id), lambda thread: [(0, thread.total)])
        if thread is None:
            return []
        found = sorted(thread.checkpoints(ns).items(), key=lambda item: item[0][1], reverse=True)
        tuples: builtins.list[CheckpointTuple] = []
        for (_, checkpoint_id), seq in found:
            if limit is not None and len(tuples) >= limit:
                break
            if (only and checkpoint_id != only) or (before_id and checkpoint_id >= before_id):
                continue
            candidate, _ = self._tuple(thread, thread_id, seq)
            if filter and not all(candidate.metadata.get(key) == value for key, value in filter.items()):
                continue
            tuples.append(candidate)
        return tuples

    @staticmethod
    def _config_of(session: models.Session) -> RunnableConfig:
        thread_id = (session.agent_config or {}).get("langgraph_thread_id")
        if thread_id is None:
            thread_id = session.session_id.removeprefix(SESSION_PREFIX)
        return {"configurable": {"thread_id": thread_id}}

    # --- writing ---------------------------------------------------------------------------------

    def _append(self, sid: str, thread_id: str, messages: builtins.list[dict[str, Any]]) -> _Flow:
        """Append, creating the thread's session on its first write. The client's own
        Idempotency-Key (one per call, repeated by its retries) makes a retried append the first
        one's replay. No key is derived from the record: a thread deleted and written again must
        not replay an append of the deleted session (keys live 24 h per namespace); a record
        stored twice is harmless anyway, as the newest copy of a checkpoint is the one read and
        pending writes are deduplicated by (task_id, idx)."""
        try:
            return (yield _Call("append_messages", (sid, messages)))
        except NotFoundError:
            pass
        fields = dict(self._session_defaults)
        fields["metadata"] = {**fields.get("metadata", {}), **THREAD_MARK}
        fields["agent_config"] = {**fields.get("agent_config", {}), "langgraph_thread_id": thread_id}
        with contextlib.suppress(ConflictError):  # made meanwhile by another writer
            yield _Call("create_session", (), {"session_id": sid, **fields})
        return (yield _Call("append_messages", (sid, messages)))

    def _put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> _Flow:
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        ns = configurable.get("checkpoint_ns", "")
        parent_id = configurable.get("checkpoint_id")
        sid = session_id_for(thread_id)
        parent = self._heads.get(sid, ns, parent_id) if parent_id else None
        record, head = self._checkpoint_record(
            ns, checkpoint, get_checkpoint_metadata(config, metadata), parent_id, set(new_versions), parent
        )
        messages = self._messages(record)
        result = yield from self._append(sid, thread_id, messages)
        head.seq = result.messages[0].seq
        head.loc = {channel: _resolve(entry, head.seq) for channel, entry in head.loc.items()}
        self._heads.set(sid, ns, head)
        return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint["id"]}}

    def _put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str
    ) -> _Flow:
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        ns = configurable.get("checkpoint_ns", "")
        sid = session_id_for(thread_id)
        record = self._writes_record(ns, configurable["checkpoint_id"], writes, task_id, task_path)
        messages = self._messages(record)
        yield from self._append(sid, thread_id, messages)

    def _delete_thread(self, thread_id: str) -> _Flow:
        sid = session_id_for(str(thread_id))
        self._heads.forget(sid)
        with contextlib.suppress(NotFoundError):
            yield _Call("purge_session", (sid,))

    def _copy_thread(self, source: str, target: str) -> _Flow:
        source_sid, target_sid = session_id_for(str(source)), session_id_for(str(target))
        try:
            yield _Call("fork_session", (source_sid,), {"child_session_id": target_sid})
        except NotFoundError:
            return  # nothing to copy
        except (ConflictError, ValidationError, PayloadTooLargeError):
            # The target exists (or the source is past one fork's 10,000 messages): copy record by
            # record, every checkpoint re-encoded against its copied parent.
            thread = yield from self._read(source_sid, lambda thread: [(0, thread.total)])
            if thread is not None:
                keep = sorted(thread.checkpoints(None).values())
                yield from self._append_copies(thread, str(source), target_sid, str(target), keep, None)
            return
        yield _Call("update_session", (target_sid, {"agent_config": {"langgraph_thread_id": str(target)}}))

    def _prune(self, thread_id: str, strategy: str) -> _Flow:
        if strategy == "delete":
            yield from self._delete_thread(thread_id)
            return
        if strategy != "keep_latest":
            raise ValueError(f"unknown prune strategy {strategy!r}: use 'keep_latest' or 'delete'")
        sid = session_id_for(str(thread_id))

        def latest(thread: _Thread) -> builtins.list[int]:
            newest: dict[str, int] = {}
            for (ns, _), seq in thread.checkpoints(None).items():
                newest[ns] = max(seq, newest.get(ns, -1))
            return sorted(newest.values())

        yield from self._rewrite(sid, str(thread_id), latest)

    def _delete_runs(self, sid: str, run_ids: set[str]) -> _Flow:
        def survivors(thread: _Thread) -> builtins.list[int] | None:
            records = thread.records()
            keep, dropped = [], False
            for seq in sorted(thread.checkpoints(None).values()):
                metadata = self._decode(records[seq]["m"])
                if str(metadata.get("run_id")) in run_ids:
                    dropped = True
                else:
                    keep.append(seq)
            return keep if dropped else None

        config = None
        try:
            session = yield _Call("get_session", (sid,))
            config = self._config_of(session)
        except NotFoundError:
            return
        yield from self._rewrite(sid, str(config["configurable"]["thread_id"]), survivors)

    def _rewrite(self, sid: str, thread_id: str, choose: Any) -> _Flow:
        """Keep only the checkpoints `choose(thread)` names (None: change nothing): re-append them
        (re-encoded against each other) and their pending writes after everything read, then
        blank every message before. A crash between the two leaves duplicates of the kept
        records (the newest copy is read), never a missing one; the next call finishes the job."""
        for _ in range(REWRITE_ATTEMPTS):
            thread = yield from self._read(sid, lambda thread: [(0, thread.total)])
            if thread is None:
                return
            keep = choose(thread)
            if keep is None:
                return
            self._heads.forget(sid)
            try:
                yield from self._append_copies(thread, thread_id, sid, thread_id, keep, thread.total)
            except PreconditionFailedError:
                continue  # written meanwhile: read again
            doomed = [seq for seq in range(thread.total) if (thread.messages[seq].metadata or {}).get("langgraph")]
            doomed = [seq for seq in doomed if thread.messages[seq].metadata.get("langgraph") != "deleted"]
            blank = {"content": "{}", "metadata": {"langgraph": "deleted", "part": None, "parts": None}}
            for start in range(0, len(doomed), PATCH_PARALLELISM):
                batch = doomed[start : start + PATCH_PARALLELISM]
                answers = yield [_Call("update_message", (sid, seq, blank)) for seq in batch]
                _raise_first(answers)
            return
        raise RuntimeError(f"thread {thread_id} kept changing while it was rewritten")

    def _append_copies(
        self,
        thread: _Thread,
        source_thread_id: str,
        target_sid: str,
        target_thread_id: str,
        keep: builtins.list[int],
        expected_seq: int | None,
    ) -> _Flow:
        """Append the checkpoints at seqs `keep` (oldest first) and their pending writes to
        `target_sid`, each encoded against the previous kept one of its namespace. With
        `expected_seq`, each append is conditional on the seq it expects (If-Match)."""
        next_seq = expected_seq
        if next_seq is None:
            try:
                session = yield _Call("get_session", (target_sid,))
                next_seq = session.message_count
            except NotFoundError:
                next_seq = 0
        heads: dict[str, _Head] = {}
        batch: builtins.list[dict[str, Any]] = []
        batch_chars = 0
        for seq in keep:
            found, _ = self._tuple(thread, source_thread_id, seq)
            ns = found.config["configurable"]["checkpoint_ns"]
            parent = heads.get(ns)
            if parent is not None and found.parent_config is not None:
                same = parent.checkpoint_id == found.parent_config["configurable"]["checkpoint_id"]
                parent = parent if same else None
            else:
                parent = None
            versions = found.checkpoint["channel_versions"]
            changed = {c for c, v in versions.items() if parent is None or parent.versions.get(c) != v}
            parent_id = found.parent_config["configurable"]["checkpoint_id"] if found.parent_config else None
            record, head = self._checkpoint_record(ns, found.checkpoint, found.metadata, parent_id, changed, parent)
            messages = self._messages(record)
            writes = found.pending_writes or []
            if writes:
                by_task: dict[str, list[tuple[str, Any]]] = {}
                for task, channel, value in writes:
                    by_task.setdefault(task, []).append((channel, value))
                for task, task_writes in by_task.items():
                    messages += self._messages(self._writes_record(ns, found.checkpoint["id"], task_writes, task, ""))
            size = sum(len(message["content"]) for message in messages)
            if batch and (len(batch) + len(messages) > BATCH_MESSAGES or batch_chars + size > BATCH_CHARS):
                yield from self._append_batch(target_sid, target_thread_id, batch, next_seq, expected_seq is not None)
                next_seq += len(batch)
                batch, batch_chars = [], 0
            head.seq = next_seq + len(batch)
            head.loc = {channel: _resolve(entry, head.seq) for channel, entry in head.loc.items()}
            heads[ns] = head
            batch += messages
            batch_chars += size
        if batch:
            yield from self._append_batch(target_sid, target_thread_id, batch, next_seq, expected_seq is not None)

    def _append_batch(
        self, sid: str, thread_id: str, messages: builtins.list[dict[str, Any]], next_seq: int, conditional: bool
    ) -> _Flow:
        if conditional:
            yield _Call("append_messages", (sid, messages), {"if_match": next_seq})
            return
        result = yield from self._append(sid, thread_id, messages)
        if result.messages[0].seq != next_seq:
            raise PreconditionFailedError(f"{sid} was written while it was copied", status=412)


def _resolve(entry: list[int], seq: int) -> list[int]:
    return [seq if entry[0] < 0 else entry[0], seq if entry[1] < 0 else entry[1], *entry[2:]]
