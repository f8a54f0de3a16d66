"""Identifiers: a prefix and url-safe randomness, generated per request (never at import)."""

from __future__ import annotations

import re
import secrets

# Generated ids are `ses_` + 22 url-safe characters; callers may choose their own (frameworks
# name their sessions): 1-128 of these characters, none of which is `#` (the keys' separator).
SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
# A message id carries its seq (`msg_<16 random>.<seq>`), so a message is found by its id with
# one read. Ids made before carry none (`msg_<22 random>`, no dot).
MESSAGE_ID_PATTERN = re.compile(r"^msg_[A-Za-z0-9_-]{16}\.(\d{1,10})$")
NAMESPACE_ID_PATTERN = re.compile(r"^ns_[A-Za-z0-9_-]{1,64}$")
ORGANIZATION_ID_PATTERN = re.compile(r"^int_[A-Za-z0-9_-]{1,64}$")
KEY_ID_PATTERN = re.compile(r"^key_[A-Za-z0-9_-]{1,64}$")


def new_session_id() -> str:
    return "ses_" + secrets.token_urlsafe(16)  # 22 characters, 128 bits


def new_message_id(seq: int) -> str:
    return f"msg_{secrets.token_urlsafe(12)}.{seq}"  # 96 random bits, then the position


def seq_of_message_id(message_id: str) -> int | None:
    """The seq a message id carries; None for an id made before ids carried one."""
    match = MESSAGE_ID_PATTERN.match(message_id)
    return int(match.group(1)) if match else None


def is_session_id(value: str) -> bool:
    return bool(SESSION_ID_PATTERN.match(value))


def new_namespace_id() -> str:
    return "ns_" + secrets.token_urlsafe(12)


def new_organization_id() -> str:
    return "int_" + secrets.token_urlsafe(12)


def new_key_id() -> str:
    return "key_" + secrets.token_urlsafe(12)


# Attachments (`att_…`) and large contents kept in S3 (`cnt_…`): one object each.
OBJECT_ID_PATTERN = re.compile(r"^(att|cnt)_[A-Za-z0-9_-]{22}$")


def new_attachment_id() -> str:
    return "att_" + secrets.token_urlsafe(16)


def new_content_id() -> str:
    return "cnt_" + secrets.token_urlsafe(16)


def is_attachment_id(value: str) -> bool:
    return value.startswith("att_") and bool(OBJECT_ID_PATTERN.match(value))
