"""API keys: `sk_` + 32 random bytes, url-safe. Only their SHA-256 is ever stored."""

from __future__ import annotations

import hashlib
import re
import secrets

KEY_PATTERN = re.compile(r"^sk_[A-Za-z0-9_-]{43,256}$")
KEY_BYTES = 32
DISPLAY_PREFIX_LENGTH = 11  # "sk_" + 8 characters: enough to tell keys apart in a list

READ_SCOPE = "sessions:read"
WRITE_SCOPE = "sessions:write"
SCOPES = (READ_SCOPE, WRITE_SCOPE)


def new_api_key() -> str:
    return "sk_" + secrets.token_urlsafe(KEY_BYTES)  # 43 characters after the prefix


def is_api_key(value: str) -> bool:
    return len(value) <= 259 and bool(KEY_PATTERN.match(value))


def key_digest(key: str) -> str:
    """The only form of a key that is stored or compared."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def display_prefix(key: str) -> str:
    return key[:DISPLAY_PREFIX_LENGTH]


def bearer_key(authorization: str | None) -> str | None:
    """The key of an `Authorization: Bearer sk_…` header, or None when the header is absent,
    uses another scheme, or holds anything but a well-formed key."""
    if not authorization or len(authorization) > 512:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    key = credentials.strip()
    return key if key.isascii() and is_api_key(key) else None
