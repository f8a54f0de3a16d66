"""Identifiers: a prefix and url-safe randomness, generated per request (never at import)."""

from __future__ import annotations

import re
import secrets

SESSION_ID_PATTERN = re.compile(r"^ses_[A-Za-z0-9_-]{20,64}$")
NAMESPACE_ID_PATTERN = re.compile(r"^ns_[A-Za-z0-9_-]{1,64}$")
ORGANIZATION_ID_PATTERN = re.compile(r"^int_[A-Za-z0-9_-]{1,64}$")
KEY_ID_PATTERN = re.compile(r"^key_[A-Za-z0-9_-]{1,64}$")


def new_session_id() -> str:
    return "ses_" + secrets.token_urlsafe(16)  # 22 characters, 128 bits


def new_message_id() -> str:
    return "msg_" + secrets.token_urlsafe(16)


def is_session_id(value: str) -> bool:
    return bool(SESSION_ID_PATTERN.match(value))


def new_namespace_id() -> str:
    return "ns_" + secrets.token_urlsafe(12)


def new_organization_id() -> str:
    return "int_" + secrets.token_urlsafe(12)


def new_key_id() -> str:
    return "key_" + secrets.token_urlsafe(12)
