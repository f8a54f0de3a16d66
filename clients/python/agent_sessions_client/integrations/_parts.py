"""Binary parts of a framework's records kept as attachments (DESIGN §11), for every adapter.

A record (an OpenAI Agents item, an ADK event, a Strands message) is JSON, and its binary parts
are base64 inside it: an `input_image`'s data URL, an ADK `inline_data` (URL-safe base64), a
Strands image's or document's bytes. Kept in the JSON, a photo makes a message too large for the
store. `split` takes each of them out as an attachment and leaves a placeholder in its place:

    {"$attachment": <index in the message's attachments>, "prefix": "data:image/png;base64,"}

(`prefix` when the text was a data URL, `"alphabet": "url"` when it was URL-safe base64).
`join` puts the exact text back. Only text that re-encodes to itself is taken (canonical base64,
padded, no line breaks), so the record comes back character for character; other text stays
where it was. A dict of the record that has a `$attachment` or `$escaped` key of its own is
kept as `{"$escaped": {…}}`, so no record can be mistaken for a placeholder.

A message whose content holds placeholders carries the metadata mark `MARK`; messages without
it (written before, or by another client) are read as plain JSON.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent_sessions_client.models import Attachment, Message

if TYPE_CHECKING:
    from agent_sessions_client.client import AgentSessionsClient, AsyncAgentSessionsClient

PLACEHOLDER = "$attachment"
ESCAPED = "$escaped"
MARK_KEY = "binary_parts"
MARK = {MARK_KEY: "attachments"}
# Shorter base64 stays in the text: an object's requests cost more than its bytes would.
MIN_CHARS = 1024
# A request's messages and inline files, well within API Gateway's and Lambda's 6 MB payload
# (the client uploads files itself past its own inline allowance).
BATCH_BYTES = 4 * 1024 * 1024
BATCH_COUNT = 98  # one append carries at most 99 messages, 98 with its Idempotency-Key

_MIME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")
_FORMATS = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "pdf": "application/pdf",
    "csv": "text/csv",
    "html": "text/html",
    "txt": "text/plain",
    "md": "text/markdown",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "mkv": "video/x-matroska",
    "webm": "video/webm",
}
_MIME_KEYS = ("mime_type", "mimeType", "media_type", "mediaType")
_NAME_KEYS = ("filename", "display_name", "displayName", "name")


@dataclass
class Part:
    data: bytes
    mime_type: str
    name: str
    sha256: str


@dataclass
class Split:
    value: Any  # the record, its binary parts replaced by placeholders
    parts: list[Part] = field(default_factory=list)


def _decoded(text: str) -> tuple[bytes, str] | None:
    """The bytes of canonical base64 text (standard or URL-safe alphabet), or None."""
    if len(text) % 4 or not text:
        return None
    url = "-" in text or "_" in text
    if url and ("+" in text or "/" in text):
        return None
    try:
        data = binascii.a2b_base64(text.translate(_TO_STANDARD) if url else text, strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    again = base64.urlsafe_b64encode(data) if url else base64.b64encode(data)
    if again.decode("ascii") != text:
        return None
    return data, "url" if url else "std"


_TO_STANDARD = str.maketrans("-_", "+/")


def _mime_hint(record: dict[str, Any], inherited: str | None) -> str | None:
    for key in _MIME_KEYS:
        value = record.get(key)
        if isinstance(value, str) and _MIME.match(value):
            return value
    found = record.get("format")
    if isinstance(found, str) and found.lower() in _FORMATS:
        return _FORMATS[found.lower()]
    return inherited


def _name_hint(record: dict[str, Any], inherited: str | None) -> str | None:
    for key in _NAME_KEYS:
        value = record.get(key)
        if isinstance(value, str) and 0 < len(value) <= 255 and value.isprintable():
            return value
    return inherited


def split(value: Any, accept: Callable[[Part], bool] | None = None, *, min_chars: int = MIN_CHARS) -> Split:
    """The record with its binary parts taken out (the same bytes twice: one part). `accept`
    may leave a part in place (it then stays base64 in the text)."""
    result = Split(value=None)
    index_of: dict[str, int] = {}

    def text(value: str, mime: str | None, name: str | None) -> Any:
        if len(value) < min_chars:
            return value
        prefix = ""
        payload = value
        if value.startswith("data:"):
            marker = value.find(";base64,", 0, 512)
            if marker < 0:
                return value
            prefix, payload = value[: marker + 8], value[marker + 8 :]
            declared = prefix[5:marker].split(";")[0]
            mime = declared if _MIME.match(declared) else mime
        decoded = _decoded(payload)
        if decoded is None:
            return value
        data, alphabet = decoded
        digest = hashlib.sha256(data).hexdigest()
        if digest not in index_of:
            part = Part(
                data=data,
                mime_type=mime or "application/octet-stream",
                name=name or f"part-{len(result.parts) + 1}",
                sha256=digest,
            )
            if accept is not None and not accept(part):
                return value
            index_of[digest] = len(result.parts)
            result.parts.append(part)
        placeholder: dict[str, Any] = {PLACEHOLDER: index_of[digest]}
        if prefix:
            placeholder["prefix"] = prefix
        if alphabet == "url":
            placeholder["alphabet"] = "url"
        return placeholder

    def walk(value: Any, mime: str | None, name: str | None) -> Any:
        if isinstance(value, str):
            return text(value, mime, name)
        if isinstance(value, list):
            return [walk(item, mime, name) for item in value]
        if isinstance(value, dict):
            mime, name = _mime_hint(value, mime), _name_hint(value, name)
            walked = {key: walk(item, mime, name) for key, item in value.items()}
            return {ESCAPED: walked} if PLACEHOLDER in value or ESCAPED in value else walked
        return value

    result.value = walk(value, None, None)
    return result


def join(value: Any, blobs: list[bytes]) -> Any:
    """The record `split` took apart, given its parts' bytes in order."""

    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, dict):
            if PLACEHOLDER in value:
                data = blobs[value[PLACEHOLDER]]
                encoded = base64.urlsafe_b64encode(data) if value.get("alphabet") == "url" else base64.b64encode(data)
                return str(value.get("prefix", "")) + encoded.decode("ascii")
            if ESCAPED in value and len(value) == 1:
                return {key: walk(item) for key, item in value[ESCAPED].items()}
            return {key: walk(item) for key, item in value.items()}
        return value

    return walk(value)


def message(record: Any, role: str, **fields: Any) -> dict[str, Any]:
    """The append of one record: its JSON as the content, its binary parts as attachments."""
    taken = split(record)
    if not taken.parts:
        return {"role": role, "content": json.dumps(record, ensure_ascii=False), **fields}
    return {
        "role": role,
        "content": json.dumps(taken.value, ensure_ascii=False),
        "attachments": [{"name": p.name, "mime_type": p.mime_type, "data": p.data} for p in taken.parts],
        "metadata": {**fields.pop("metadata", {}), **MARK},
        **fields,
    }


def batches(messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The messages in appends that each stay within a request's size (a record larger than
    that goes alone: its files are uploaded, its content offloaded by the store)."""
    out: list[list[dict[str, Any]]] = []
    size = 0
    for entry in messages:
        weight = len(entry["content"]) * 2 + sum(len(a["data"]) * 4 // 3 for a in entry.get("attachments") or [])
        if not out or len(out[-1]) >= BATCH_COUNT or size + weight > BATCH_BYTES:
            out.append([])
            size = 0
        out[-1].append(entry)
        size += weight
    return out


def marked(stored: Message) -> bool:
    return stored.metadata.get(MARK_KEY) == MARK[MARK_KEY]


class PartCache:
    """Downloaded parts by sha256 (checked on download, so a hit is exact), the most recent
    first, up to `max_bytes`: a session's history is read at every turn of an agent, and its
    images need not be fetched again each time."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._parts: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0

    def get(self, digest: str) -> bytes | None:
        data = self._parts.get(digest)
        if data is not None:
            self._parts.move_to_end(digest)
        return data

    def put(self, digest: str, data: bytes) -> None:
        if digest in self._parts or len(data) > self.max_bytes:
            return
        self._parts[digest] = data
        self._size += len(data)
        while self._size > self.max_bytes:
            _, dropped = self._parts.popitem(last=False)
            self._size -= len(dropped)


def _parsed(stored: Message) -> Any:
    return json.loads(stored.content)


def read(client: AgentSessionsClient, session_id: str, stored: Message, cache: PartCache) -> Any:
    """The record a message holds, its parts downloaded (raises ValueError when the content is
    not JSON)."""
    value = _parsed(stored)
    if not marked(stored):
        return value
    blobs = []
    for attachment in stored.attachments:
        data = cache.get(attachment.sha256)
        if data is None:
            data = client.download_attachment(session_id, attachment)
            cache.put(attachment.sha256, data)
        blobs.append(data)
    return join(value, blobs)


async def aread(client: AsyncAgentSessionsClient, session_id: str, stored: Message, cache: PartCache) -> Any:
    value = _parsed(stored)
    if not marked(stored):
        return value

    async def fetch(attachment: Attachment) -> bytes:
        data = cache.get(attachment.sha256)
        if data is None:
            data = await client.download_attachment(session_id, attachment)
            cache.put(attachment.sha256, data)
        return data

    blobs = await asyncio.gather(*(fetch(attachment) for attachment in stored.attachments))
    return join(value, list(blobs))


async def aread_all(
    client: AsyncAgentSessionsClient, session_id: str, stored: list[Message], cache: PartCache
) -> list[Any]:
    """The records of many messages, their parts downloaded in parallel; None for a message
    whose content is not JSON."""

    async def one(message: Message) -> Any:
        try:
            return await aread(client, session_id, message, cache)
        except ValueError:
            return None

    return list(await asyncio.gather(*(one(message) for message in stored)))
