"""The client's retries and errors, against a scripted transport: 429 with Retry-After, 503 and
lost connections are retried with the same Idempotency-Key (so a retry never doubles a
write), what is not safe to repeat is not repeated, and every envelope type is raised as its
own exception."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from agent_sessions_client import AgentSessionsClient, AsyncAgentSessionsClient, RetryPolicy, errors

SESSION = {
    "session_id": "ses_1", "namespace_id": "ns_1", "internal_id": "int_1", "status": "active", "message_count": 0,
    "stats": {"total_messages": 0, "total_tokens": 0, "total_tool_calls": 0, "avg_latency_ms": None},
    "created_at": "t", "updated_at": "t", "last_activity_at": "t", "expires_at": "t", "version": 1,
}  # fmt: skip
FAST = RetryPolicy(max_attempts=5, base_seconds=0.001, max_seconds=0.01)


def envelope(status: int, error_type: str, code: str = "x") -> dict[str, Any]:
    return {
        "success": False,
        "status": status,
        "error": {"type": error_type, "message": "m", "code": code, "details": {}},
    }


class Script:
    """Answers requests in turn; records what was sent."""

    def __init__(self, *answers: Callable[[httpx.Request], httpx.Response] | httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.sent: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


def client(script: Script, **kwargs: Any) -> AgentSessionsClient:
    return AgentSessionsClient(
        "http://api", "sk_test", "ns_1", retry=FAST, transport=httpx.MockTransport(script), **kwargs
    )


def test_a_create_retried_through_429_503_and_a_reset_keeps_one_idempotency_key() -> None:
    script = Script(
        httpx.Response(429, json=envelope(429, "TooManyRequestsError"), headers={"Retry-After": "0"}),
        httpx.Response(503, json=envelope(503, "ServiceUnavailableError"), headers={"Retry-After": "0"}),
        httpx.ConnectError("connection reset by peer"),
        httpx.Response(200, json=SESSION),
    )
    session = client(script).create_session(user_id="u1")
    assert session.session_id == "ses_1"
    keys = {request.headers["Idempotency-Key"] for request in script.sent}
    assert len(script.sent) == 4 and len(keys) == 1  # the same key every time: the server applies it once
    assert all(json.loads(request.content) == {"user_id": "u1"} for request in script.sent)
    assert (
        script.sent[0].headers["Authorization"] == "Bearer sk_test" and script.sent[0].headers["X-Namespace"] == "ns_1"
    )


def test_retry_after_is_honoured_and_backoff_is_capped() -> None:
    policy = RetryPolicy(max_attempts=2)
    assert policy.delay(0, "3") == 3.0  # the server's Retry-After, in seconds
    assert policy.delay(0, "999") == policy.max_seconds  # capped
    assert all(0 <= policy.delay(3, None) <= policy.base_seconds * 8 for _ in range(50))  # full jitter
    assert all(0 <= policy.delay(0, "garbage") <= policy.base_seconds for _ in range(50))


def test_retries_are_bounded() -> None:
    answer = httpx.Response(503, json=envelope(503, "ServiceUnavailableError"), headers={"Retry-After": "0"})
    script = Script(*[answer] * 5)
    with pytest.raises(errors.ServiceUnavailableError):
        client(script).get_session("ses_1")
    assert len(script.sent) == 5


def test_a_rewind_without_if_match_is_not_repeated_after_a_503_or_a_lost_connection() -> None:
    for failure in (
        httpx.Response(503, json=envelope(503, "ServiceUnavailableError"), headers={"Retry-After": "0"}),
        httpx.ReadError("reset"),
    ):
        script = Script(failure)
        with pytest.raises((errors.ServiceUnavailableError, errors.TransportError)):
            client(script).rewind("ses_1", last=1)
        assert len(script.sent) == 1  # it may have popped a message: popping again would pop two
    removed = {"session_id": "ses_1", "message_count": 3, "removed_count": 1, "removed": []}
    script = Script(httpx.ReadError("reset"), httpx.Response(200, json=removed))
    assert client(script).rewind("ses_1", last=1, if_match=4).message_count == 3  # If-Match: exactly once
    assert [r.headers["If-Match"] for r in script.sent] == ['"4"', '"4"']


@pytest.mark.parametrize(
    ("status", "error_type", "exception"),
    [
        (400, "BadRequestError", errors.BadRequestError),
        (401, "UnauthorizedError", errors.UnauthorizedError),
        (403, "ForbiddenError", errors.ForbiddenError),
        (404, "NotFoundError", errors.NotFoundError),
        (409, "ConflictError", errors.ConflictError),
        (412, "PreconditionFailedError", errors.PreconditionFailedError),
        (413, "PayloadTooLargeError", errors.PayloadTooLargeError),
        (422, "ValidationError", errors.ValidationError),
        (500, "InternalError", errors.InternalError),
    ],
)
def test_every_error_type_is_raised_as_its_class(status: int, error_type: str, exception: type) -> None:
    script = Script(httpx.Response(status, json=envelope(status, error_type, code="the_code")))
    with pytest.raises(exception) as raised:
        client(script).get_session("ses_1")
    assert raised.value.status == status and raised.value.code == "the_code"
    assert isinstance(raised.value, errors.AgentSessionsError)


def test_the_async_client_retries_the_same_way() -> None:
    async def run() -> tuple[str, list[httpx.Request]]:
        script = Script(
            httpx.Response(429, json=envelope(429, "TooManyRequestsError"), headers={"Retry-After": "0"}),
            httpx.ConnectError("refused"),
            httpx.Response(200, json={"session_id": "ses_1", "messages": [], "message_count": 1, "session_name": None}),
        )
        async with AsyncAgentSessionsClient(
            "http://api", "sk_test", "ns_1", retry=FAST, transport=httpx.MockTransport(script)
        ) as async_client:
            result = await async_client.append_message("ses_1", "hi")
        return str(result.message_count), script.sent

    count, sent = asyncio.run(run())
    assert count == "1" and len({r.headers["Idempotency-Key"] for r in sent}) == 1 and len(sent) == 3


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_SESSIONS_URL", "http://from-env:9/")
    monkeypatch.setenv("AGENT_SESSIONS_API_KEY", "sk_env")
    monkeypatch.setenv("AGENT_SESSIONS_NAMESPACE", "env-ns")
    from_env = AgentSessionsClient()
    assert (from_env.base_url, from_env.namespace) == ("http://from-env:9", "env-ns")
    monkeypatch.delenv("AGENT_SESSIONS_API_KEY")
    with pytest.raises(ValueError, match="api_key"):
        AgentSessionsClient()
