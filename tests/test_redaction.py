"""Keys never reach a log: not the authorizer's, not a handler's, not Powertools' event log."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from agent_sessions.log import logger
from agent_sessions.redaction import redact
from conftest import Tenants
from local_runtime.apigateway import Gateway, HttpRequest
from local_runtime.lambdas import Functions

KEY = "sk_" + "A1b2C3d4" * 6


@pytest.mark.parametrize(
    "line",
    [
        json.dumps({"headers": {"Authorization": f"Bearer {KEY}"}}),
        json.dumps({"multiValueHeaders": {"authorization": [f"Bearer {KEY}", "Basic Zm9vOmJhcg=="]}}),
        json.dumps({"headers": {"AUTHORIZATION": "Basic dXNlcjpzZWNyZXQ="}}),
        json.dumps({"message": f"the key was {KEY}."}),
        json.dumps({"nested": json.dumps({"Authorization": f"Bearer {KEY}"})}),
    ],
)
def test_redact_removes_credentials_in_every_shape(line: str) -> None:
    cleaned = redact(line)
    assert KEY not in cleaned
    assert KEY[3:] not in cleaned
    assert "dXNlcjpzZWNyZXQ=" not in cleaned
    assert "Zm9vOmJhcg==" not in cleaned
    assert "[REDACTED]" in cleaned
    json.loads(cleaned)  # still one valid JSON line


def test_event_logging_through_the_gateway_never_shows_the_key(
    local_functions: Any, tenants: Tenants, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Powertools reads POWERTOOLS_LOGGER_LOG_EVENT when a handler is decorated (at import), so
    # these are fresh imports of every function, as a deployment with the variable set has.
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    functions = Functions(local_functions.stack)
    gateway = Gateway(functions.stack, functions.invoke)
    previous = logger.log_level
    logger.setLevel(logging.DEBUG)
    buffer = io.StringIO()
    stream = logger.registered_handler.setStream(buffer)  # type: ignore[attr-defined]
    try:
        headers = [("Authorization", f"Bearer {tenants.a_full}"), ("X-Namespace", "prod")]
        for key in (tenants.a_full, tenants.a_revoked):
            headers[0] = ("Authorization", f"Bearer {key}")
            gateway.flush_authorizer_cache()
            gateway.handle(
                HttpRequest("POST", "/v1/agents/sessions", [*headers, ("Content-Type", "application/json")], b"{}")
            )
            gateway.handle(HttpRequest("GET", "/v1/agents/sessions?limit=1", headers))
        output = buffer.getvalue()
    finally:
        logger.registered_handler.setStream(stream)  # type: ignore[attr-defined]
        logger.setLevel(previous)
    assert "Authorization" in output or "authorization" in output  # the events were logged ...
    assert "[REDACTED]" in output
    for key in (tenants.a_full, tenants.a_revoked):
        assert key not in output  # ... without their keys
        assert key[3:] not in output
