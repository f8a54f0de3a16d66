"""The one logger: structured JSON through the redacting formatter."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from agent_sessions.redaction import RedactingFormatter

logger = Logger(service="agent-sessions", logger_formatter=RedactingFormatter())
# Records stop at this logger's redacting handler: a handler added to the root logger later
# (a library's, a runtime's) never sees an unredacted record.
logger._logger.propagate = False  # Powertools exposes no setting for it
