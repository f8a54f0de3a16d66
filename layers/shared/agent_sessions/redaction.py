"""Secrets never reach a log: every line the service writes passes through this formatter,
including Powertools' own event logging (`POWERTOOLS_LOGGER_LOG_EVENT`)."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

REDACTED = "[REDACTED]"
# An API key anywhere in a line, whatever field or text carries it.
_API_KEY = re.compile(r"sk_[A-Za-z0-9_-]{8,}")
# The value of any JSON field named Authorization (any case), as a string or a list of strings
# (API Gateway's `multiValueHeaders`): whatever the scheme, the credentials are secret.
_AUTHORIZATION_FIELD = re.compile(r'("authorization"\s*:\s*\[?\s*")((?:[^"\\]|\\.)*)(")', re.IGNORECASE)
_AUTHORIZATION_LIST_REST = re.compile(r'("authorization"\s*:\s*\[[^\]]*\])', re.IGNORECASE)


def redact(text: str) -> str:
    text = _AUTHORIZATION_LIST_REST.sub(lambda match: _redact_list(match.group(1)), text)
    text = _AUTHORIZATION_FIELD.sub(lambda match: match.group(1) + REDACTED + match.group(3), text)
    return _API_KEY.sub("sk_" + REDACTED, text)


def _redact_list(fragment: str) -> str:
    name, _, _ = fragment.partition(":")
    return f'{name}: ["{REDACTED}"]'


class RedactingFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: Any) -> str:
        return redact(super().serialize(log))
