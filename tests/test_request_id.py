"""Every response carries `X-Request-Id`: each route's answers (the handler sets it) and every
response API Gateway makes itself (the template's GatewayResponses map it from
`context.requestId`, and the local gateway applies that mapping). The id is the request's
own: the one in `x-amzn-RequestId` and, in an error envelope, in `details.request_id`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import ROUTES, Tenants
from local_runtime.apigateway import MAX_BODY_BYTES, Gateway, HttpRequest
from test_auth import auth, call
from test_template import load_template


def header(response: Any, name: str) -> str | None:
    found = [value for key, value in response.headers if key.lower() == name.lower()]
    assert len(found) <= 1, f"{name} sent {len(found)} times"
    return found[0] if found else None


def assert_request_id(response: Any, *, made_by_the_gateway: bool = False) -> None:
    request_id = header(response, "X-Request-Id")
    assert request_id, (response.status, response.headers)
    assert header(response, "x-amzn-RequestId") == request_id
    if made_by_the_gateway:  # its envelope names the id too (a handler's names it in the header)
        assert response.json()["error"]["details"]["request_id"] == request_id


def test_every_gateway_response_of_the_template_maps_the_request_id() -> None:
    responses = load_template()["Resources"]["SessionsApi"]["Properties"]["GatewayResponses"]
    assert {"DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)  # the types not listed fall back to these
    for response_type, spec in responses.items():
        assert spec["ResponseParameters"]["Headers"]["X-Request-Id"] == "context.requestId", response_type


@pytest.mark.parametrize("operation", sorted(ROUTES))
def test_every_route_answers_with_its_request_id(gateway: Any, tenants: Tenants, operation: str) -> None:
    created = call(gateway, "create", auth(tenants.a_full, "prod"))
    session_id = created.json()["session_id"]
    response = call(gateway, operation, auth(tenants.a_full, "prod"), session_id)
    assert response.status < 500, response.body
    assert_request_id(response)
    other = call(gateway, operation, auth(tenants.a_full, "prod"), session_id)
    assert header(other, "X-Request-Id") != header(response, "X-Request-Id")  # one per request


def test_the_open_routes_answer_with_a_request_id(gateway: Any) -> None:
    for path in ("/v1/health", "/v1/openapi.json"):
        response = gateway.handle(HttpRequest("GET", path, []))
        assert response.status == 200
        assert_request_id(response)


def test_every_response_the_gateway_makes_itself_carries_the_request_id(
    gateway: Gateway, tenants: Tenants, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = {
        "UNAUTHORIZED": call(gateway, "get", {"X-Namespace": "prod"}),
        "ACCESS_DENIED": call(gateway, "create", auth(tenants.a_read, "prod")),
        "MISSING_AUTHENTICATION_TOKEN": gateway.handle(HttpRequest("GET", "/v1/no/such/route", [])),
        "REQUEST_TOO_LARGE": gateway.handle(
            HttpRequest(
                "POST", "/v1/agents/sessions", [("Content-Type", "application/json")], b"x" * (MAX_BODY_BYTES + 1)
            )
        ),
    }
    invoke = gateway.invoke

    def failing_authorizer(function: str, event: dict[str, Any]) -> Any:
        if function == gateway.stack.authorizer.function:
            raise RuntimeError("the authorizer crashed")
        return invoke(function, event)

    monkeypatch.setattr(gateway, "invoke", failing_authorizer)
    made["AUTHORIZER_FAILURE"] = call(gateway, "get", auth(tenants.b_full, "prod"))

    def misconfigured_authorizer(function: str, event: dict[str, Any]) -> Any:
        return {"not": "a policy"} if function == gateway.stack.authorizer.function else invoke(function, event)

    monkeypatch.setattr(gateway, "invoke", misconfigured_authorizer)
    made["AUTHORIZER_CONFIGURATION_ERROR"] = call(gateway, "get", auth(tenants.a_staging_only, "staging"))

    statuses = {name: response.status for name, response in made.items()}
    assert statuses == {
        "UNAUTHORIZED": 401,
        "ACCESS_DENIED": 403,
        "MISSING_AUTHENTICATION_TOKEN": 404,
        "REQUEST_TOO_LARGE": 413,
        "AUTHORIZER_FAILURE": 503,
        "AUTHORIZER_CONFIGURATION_ERROR": 502,  # DEFAULT_5XX
    }
    for name, response in made.items():
        assert_request_id(response, made_by_the_gateway=True)
        assert json.loads(response.body)["success"] is False, name
