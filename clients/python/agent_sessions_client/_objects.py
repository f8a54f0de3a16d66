"""Attachments and contents kept in S3 (DESIGN §11), without I/O: what an append sends for
files given as bytes, which messages of an answer hold a `content_url` to resolve, and the
checks of what comes back. The clients do the requests (presigned URLs: never the API key)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from pydantic import BaseModel

from agent_sessions_client import models
from agent_sessions_client.errors import AgentSessionsError

# Files sent inline while one append's request stays well within API Gateway's and Lambda's
# payload limits (6 MB, base64 adds a third); larger ones are uploaded first.
INLINE_BYTES = 3 * 1024 * 1024


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_to_upload(messages: list[dict[str, Any]]) -> list[tuple[int, int, dict[str, Any]]]:
    """(message, attachment, file) of the files given as bytes that go by upload: the largest
    first until the rest fit inline beside the messages' contents."""
    files = [
        (index, position, attachment)
        for index, message in enumerate(messages)
        for position, attachment in enumerate(message.get("attachments") or [])
        if isinstance(attachment.get("data"), bytes | bytearray)
    ]
    text = sum(len(content) for message in messages if isinstance(content := message.get("content"), str))
    allowance = max(INLINE_BYTES - text, 0)
    inline = sum(len(file["data"]) for _, _, file in files)
    chosen = []
    for entry in sorted(files, key=lambda entry: -len(entry[2]["data"])):
        if inline <= allowance:
            break
        chosen.append(entry)
        inline -= len(entry[2]["data"])
    return chosen


def wire_messages(messages: list[dict[str, Any]], uploaded: dict[tuple[int, int], str]) -> list[dict[str, Any]]:
    """The messages as sent: uploaded files named by id, the others' bytes in base64."""
    out = []
    for index, message in enumerate(messages):
        attachments = message.get("attachments")
        if not attachments:
            out.append(message)
            continue
        sent = []
        for position, attachment in enumerate(attachments):
            if (index, position) in uploaded:
                sent.append({"attachment_id": uploaded[(index, position)]})
            elif isinstance(attachment.get("data"), bytes | bytearray):
                sent.append({**attachment, "data": base64.b64encode(attachment["data"]).decode()})
            else:
                sent.append(attachment)
        out.append({**message, "attachments": sent})
    return out


def unresolved(result: Any) -> list[models.Message]:
    """The messages of an answer whose content was handed over by URL."""
    if isinstance(result, models.Message):
        candidates = [result]
    elif isinstance(result, BaseModel):
        candidates = [m for m in (getattr(result, "messages", None) or []) if isinstance(m, models.Message)]
    else:
        candidates = []
    return [message for message in candidates if message.content_url]


def fill(message: models.Message, body: bytes) -> None:
    if message.content_sha256 and sha256(body) != message.content_sha256:
        raise AgentSessionsError(f"content of message {message.seq} does not match its sha256")
    message.content = body.decode("utf-8", "surrogatepass")
    message.content_url = None


def checked(attachment: models.Attachment, body: bytes) -> bytes:
    if sha256(body) != attachment.sha256:
        raise AgentSessionsError(f"attachment {attachment.attachment_id} does not match its sha256")
    return body
