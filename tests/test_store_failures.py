"""DynamoDB failures that outlast botocore's retries: throttling is the contract's 429,
a store-side fault 503, both with Retry-After in the envelope; never a 500."""

from __future__ import annotations

import json
from typing import Any

import botocore.retries.standard
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from agent_sessions import runtime
from agent_sessions.store.client import dynamodb
from support import body_of, header_of


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _failing(status: int, code: str) -> Any:
    def answer(request: Any, **_: Any) -> AWSResponse:
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code}).encode()
        return AWSResponse(request.url, status, {"Content-Type": "application/x-amz-json-1.0"}, _Raw(body))

    return answer


@pytest.mark.parametrize(
    ("status", "code", "expected_status", "expected_code"),
    [
        (400, "ThrottlingException", 429, "store_throttled"),
        (400, "ProvisionedThroughputExceededException", 429, "store_throttled"),
        (500, "InternalServerError", 503, "store_unavailable"),
    ],
)
@pytest.mark.parametrize("operation", ["get", "create"])
def test_every_attempt_failing_is_429_or_503_with_retry_after(
    api: Any,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
    status: int,
    code: str,
    expected_status: int,
    expected_code: str,
) -> None:
    session_id = api.created({"user_id": "u1"})["session_id"]
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
    hook = _failing(status, code)
    dynamodb().meta.events.register_first("before-send.dynamodb", hook)
    try:
        response = (
            api.call("get", session_id=session_id) if operation == "get" else api.call("create", body={"user_id": "u2"})
        )
    finally:
        dynamodb().meta.events.unregister("before-send.dynamodb", hook)
    assert response["statusCode"] == expected_status
    assert header_of(response, "Retry-After") == "1"
    error = body_of(response)["error"]
    assert (body_of(response)["status"], error["code"]) == (expected_status, expected_code)


def test_a_botocore_error_outside_the_store_translation_is_still_429(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    session_id = api.created({"user_id": "u1"})["session_id"]

    def throttled(*_: Any, **__: Any) -> Any:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "GetItem")

    monkeypatch.setattr(type(runtime.session_service()), "get", throttled)
    response = api.call("get", session_id=session_id)
    assert response["statusCode"] == 429
    assert header_of(response, "Retry-After") == "1"
    assert body_of(response)["error"]["code"] == "store_throttled"
