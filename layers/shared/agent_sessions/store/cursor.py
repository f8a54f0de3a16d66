"""Opaque pagination cursors: signed (HMAC-SHA256), bound to the namespace and the filter.

A cursor from another namespace or another filter, or one that was altered, is refused,
never followed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from agent_sessions.errors import BadRequestError

_SIGNATURE_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def filter_fingerprint(filter_values: dict[str, Any]) -> str:
    text = json.dumps(filter_values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def encode_cursor(secret: str, namespace_id: str, fingerprint: str, position: dict[str, Any]) -> str:
    payload = json.dumps({"ns": namespace_id, "f": fingerprint, "p": position}, separators=(",", ":")).encode()
    signature = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
    return _b64(payload) + "." + _b64(signature)


def decode_cursor(secret: str, namespace_id: str, fingerprint: str, cursor: str) -> dict[str, Any]:
    invalid = BadRequestError("The cursor is invalid or belongs to another query", code="invalid_cursor")
    try:
        payload_text, signature_text = cursor.split(".", 1)
        payload = _unb64(payload_text)
        signature = _unb64(signature_text)
    except (ValueError, UnicodeEncodeError):
        raise invalid from None
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
    if not hmac.compare_digest(signature, expected):
        raise invalid
    try:
        decoded = json.loads(payload)
    except ValueError:
        raise invalid from None
    if not isinstance(decoded, dict) or decoded.get("ns") != namespace_id or decoded.get("f") != fingerprint:
        raise invalid
    position = decoded.get("p")
    if not isinstance(position, dict):
        raise invalid
    return position
