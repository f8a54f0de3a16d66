"""API Gateway's REST API behaviour in front of Lambda proxy integrations, from the template:
route matching, the REQUEST authorizer with its identity sources, cache and IAM-policy
evaluation, the proxy event, the proxy response, and API Gateway's own responses
(`GatewayResponses`). Pure request → response: the HTTP server and the tests both drive it."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local_runtime.template import ACCOUNT_ID, REGION, ApiRoute, Stack

API_ID = "local"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit

Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]

# API Gateway's status and message for each response type it generates itself.
DEFAULT_RESPONSES: dict[str, tuple[int, str]] = {
    "UNAUTHORIZED": (401, "Unauthorized"),
    "ACCESS_DENIED": (403, "User is not authorized to access this resource"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "AUTHORIZER_FAILURE": (500, "Internal server error"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, "Internal server error"),
    "INTEGRATION_FAILURE": (502, "Internal server error"),
    "INTEGRATION_TIMEOUT": (504, "Endpoint request timed out"),
}


@dataclass
class HttpRequest:
    method: str
    target: str  # path and query string, as sent
    headers: list[tuple[str, str]]
    body: bytes = b""
    source_ip: str = "127.0.0.1"


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    request_id: str = ""
    function: str | None = None

    def header(self, name: str) -> str | None:
        return next((v for k, v in reversed(self.headers) if k.lower() == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Decision:
    policy: dict[str, Any]
    principal_id: str
    context: dict[str, Any]
    expires: float


@dataclass
class _CompiledRoute:
    route: ApiRoute
    pattern: re.Pattern[str]
    names: list[str] = field(default_factory=list)


def _compile(route: ApiRoute) -> _CompiledRoute:
    names: list[str] = []

    def parameter(match: re.Match[str]) -> str:
        names.append(match.group(1))
        greedy = match.group(2) is not None  # {proxy+}: one or more whole segments
        return "(.+)" if greedy else "([^/]+)"

    # re.escape has turned "{name}" into "\{name\}" and "{name+}" into "\{name\+\}"
    regex = re.sub(r"\\\{([A-Za-z0-9_]+)(\\\+)?\\\}", parameter, re.escape(route.resource))
    return _CompiledRoute(route, re.compile(f"^{regex}$"), names)


def _specificity(compiled: _CompiledRoute) -> list[int]:
    return [
        2 if segment.endswith("+}") else 1 if segment.startswith("{") else 0
        for segment in compiled.route.resource.strip("/").split("/")
    ]


def _arn_pattern(resource: str) -> re.Pattern[str]:
    """An execute-api ARN pattern of a policy: `*` matches any characters, `/` included."""
    return re.compile("^" + ".*".join(re.escape(part) for part in resource.split("*")) + "$")


def policy_allows(policy: dict[str, Any], method_arn: str) -> tuple[bool, bool]:
    """(allowed, explicitly denied) for a method ARN, as IAM evaluates an authorizer's policy."""
    allowed = denied = False
    for statement in policy.get("Statement") or []:
        actions = statement.get("Action")
        actions = [actions] if isinstance(actions, str) else list(actions or [])
        if not any(action in ("execute-api:Invoke", "execute-api:*", "*") for action in actions):
            continue
        resources = statement.get("Resource")
        resources = [resources] if isinstance(resources, str) else list(resources or [])
        if any(_arn_pattern(resource).match(method_arn) for resource in resources):
            if statement.get("Effect") == "Deny":
                denied = True
            elif statement.get("Effect") == "Allow":
                allowed = True
    return allowed and not denied, denied


def proxy_event(
    *,
    method: str,
    resource: str,
    path: str,
    path_parameters: dict[str, str] | None,
    multi_query: dict[str, list[str]] | None,
    multi_headers: dict[str, list[str]],
    body: bytes | None,
    stage: str,
    request_id: str,
    source_ip: str = "127.0.0.1",
    authorizer: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A REST API (v1) Lambda proxy event, field for field as API Gateway sends it."""
    now = now or datetime.now(UTC)
    text: str | None = None
    is_base64 = False
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(body).decode("ascii"), True
    headers = {name: values[-1] for name, values in multi_headers.items()} if multi_headers else None
    user_agent = next((values[-1] for name, values in multi_headers.items() if name.lower() == "user-agent"), None)
    request_context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
        "domainPrefix": API_ID,
        "extendedRequestId": request_id[:16],
        "httpMethod": method,
        "identity": {
            "accessKey": None,
            "accountId": None,
            "caller": None,
            "cognitoIdentityId": None,
            "cognitoIdentityPoolId": None,
            "principalOrgId": None,
            "sourceIp": source_ip,
            "user": None,
            "userAgent": user_agent,
            "userArn": None,
        },
        "path": f"/{stage}{path}",
        "protocol": "HTTP/1.1",
        "requestId": request_id,
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "resourceId": "local",
        "resourcePath": resource,
        "stage": stage,
    }
    if authorizer is not None:
        request_context["authorizer"] = authorizer
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} if multi_query else None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": request_context,
        "body": text,
        "isBase64Encoded": is_base64,
    }


class Gateway:
    """One REST API stage: every request goes through `handle`. Thread-safe."""

    def __init__(self, stack: Stack, invoke: Invoke, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.stack = stack
        self.invoke = invoke
        self.monotonic = monotonic
        # API Gateway takes the most specific resource: a literal segment before a {param}
        # at the same place, a {param} before a {proxy+} (`/sessions/export` is not
        # `/sessions/{session_id}` with the id "export").
        self.routes = sorted((_compile(route) for route in stack.routes), key=_specificity)
        self._cache: dict[tuple[str, ...], _Decision] = {}
        self._lock = threading.Lock()

    def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        if len(request.body) > MAX_BODY_BYTES:
            return self.gateway_response("REQUEST_TOO_LARGE", request_id)
        split = urlsplit(request.target)
        path = unquote(split.path) or "/"
        route, path_parameters = self._match(request.method.upper(), path)
        if route is None:
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN", request_id)
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.headers:
            multi_headers.setdefault(name, []).append(value)
        multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(split.query, keep_blank_values=True):
            multi_query.setdefault(name, []).append(value)
        event = proxy_event(
            method=request.method.upper(),
            resource=route.resource,
            path=path,
            path_parameters=path_parameters,
            multi_query=multi_query,
            multi_headers=multi_headers,
            body=request.body,
            stage=self.stack.stage,
            request_id=request_id,
            source_ip=request.source_ip,
        )
        if route.authorized and self.stack.authorizer is not None:
            denied = self._authorize(event, request_id)
            if denied is not None:
                return denied
        try:
            result = self.invoke(route.function, event)
            response = self._proxy_response(result)
        except Exception as error:  # a failed invocation is API Gateway's 502
            failure = self.gateway_response(
                "DEFAULT_5XX", request_id, status=502, message=f"Internal server error ({type(error).__name__})"
            )
            failure.function = route.function
            return failure
        response.headers.append(("x-amzn-RequestId", request_id))
        response.request_id = request_id
        response.function = route.function
        return response

    def method_arn(self, method: str, path: str) -> str:
        return f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/{self.stack.stage}/{method}{path}"

    def _match(self, method: str, path: str) -> tuple[ApiRoute | None, dict[str, str]]:
        for compiled in self.routes:
            match = compiled.pattern.match(path)
            if match and compiled.route.method in (method, "ANY"):
                return compiled.route, dict(zip(compiled.names, match.groups(), strict=True))
        return None, {}

    # --- the authorizer -----------------------------------------------------------------------

    def _authorize(self, event: dict[str, Any], request_id: str) -> HttpResponse | None:
        """None when allowed (the event then carries the authorizer's context); else the
        gateway response API Gateway would send."""
        config = self.stack.authorizer
        assert config is not None
        headers = {name.lower(): value for name, value in (event["headers"] or {}).items()}
        identity = tuple(headers.get(name.lower(), "") for name in config.identity_headers)
        if not all(value.strip() for value in identity):
            return self.gateway_response("UNAUTHORIZED", request_id)
        method_arn = self.method_arn(event["httpMethod"], event["path"])
        decision = self._cached(identity)
        if decision is None:
            authorizer_event = {
                "type": "REQUEST",
                "methodArn": method_arn,
                **{key: event[key] for key in ("resource", "path", "httpMethod", "headers", "multiValueHeaders")},
                "queryStringParameters": event["queryStringParameters"] or {},
                "multiValueQueryStringParameters": event["multiValueQueryStringParameters"] or {},
                "pathParameters": event["pathParameters"] or {},
                "stageVariables": event["stageVariables"] or {},
                "requestContext": event["requestContext"],
            }
            started = self.monotonic()
            try:
                result = self.invoke(config.function, authorizer_event)
            except Exception as error:  # API Gateway maps the authorizer's failure
                if str(error) == "Unauthorized":
                    return self.gateway_response("UNAUTHORIZED", request_id)
                return self.gateway_response("AUTHORIZER_FAILURE", request_id)
            if not isinstance(result, dict) or not isinstance(result.get("policyDocument"), dict):
                return self.gateway_response("AUTHORIZER_CONFIGURATION_ERROR", request_id)
            context = dict(result.get("context") or {})
            decision = _Decision(
                policy=result["policyDocument"],
                principal_id=str(result.get("principalId", "")),
                context=context,
                expires=self.monotonic() + config.cache_seconds,
            )
            if config.cache_seconds > 0:
                with self._lock:
                    self._cache[identity] = decision
            latency = int((self.monotonic() - started) * 1000)
        else:
            latency = 0
        allowed, explicitly_denied = policy_allows(decision.policy, method_arn)
        if not allowed:
            message = "User is not authorized to access this resource" + (
                " with an explicit deny" if explicitly_denied else ""
            )
            return self.gateway_response("ACCESS_DENIED", request_id, message=message, authorizer=decision.context)
        # API Gateway hands the context's values to the integration as strings.
        event["requestContext"]["authorizer"] = {
            **{key: _as_context_string(value) for key, value in decision.context.items()},
            "principalId": decision.principal_id,
            "integrationLatency": latency,
        }
        return None

    def _cached(self, identity: tuple[str, ...]) -> _Decision | None:
        with self._lock:
            decision = self._cache.get(identity)
            if decision is not None and decision.expires <= self.monotonic():
                del self._cache[identity]
                return None
            return decision

    def flush_authorizer_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    # --- responses ----------------------------------------------------------------------------

    def _proxy_response(self, result: Any) -> HttpResponse:
        if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
            raise TypeError("malformed Lambda proxy response")
        headers: list[tuple[str, str]] = []
        multi = result.get("multiValueHeaders") or {}
        for name, value in (result.get("headers") or {}).items():
            if name not in multi:
                headers.append((name, str(value)))
        for name, values in multi.items():
            headers.extend((name, str(value)) for value in values)
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("Content-Type", "application/json"))
        return HttpResponse(int(result["statusCode"]), headers, data)

    def gateway_response(
        self,
        response_type: str,
        request_id: str,
        *,
        status: int | None = None,
        message: str | None = None,
        authorizer: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """API Gateway's own response of a type, customised by the template's GatewayResponses
        (falling back to DEFAULT_4XX / DEFAULT_5XX, then to API Gateway's defaults)."""
        default_status, default_message = DEFAULT_RESPONSES.get(response_type, (status or 500, "Internal server error"))
        status = status or default_status
        message = message or default_message
        spec = self.stack.gateway_responses.get(response_type)
        if spec is None:
            spec = self.stack.gateway_responses.get("DEFAULT_4XX" if status < 500 else "DEFAULT_5XX") or {}
        status = int(spec.get("StatusCode", status))
        variables = {
            "requestId": request_id,
            "error.messageString": json.dumps(message),
            "error.message": message,
            "error.responseType": response_type,
            **{f"authorizer.{key}": str(value) for key, value in (authorizer or {}).items()},
        }
        template = (spec.get("ResponseTemplates") or {}).get("application/json")
        if template is None:
            body = json.dumps({"message": message})
        else:
            body = re.sub(r"\$context\.([A-Za-z0-9_.]+)", lambda m: variables.get(m.group(1), ""), template)
        headers = [("Content-Type", "application/json")]
        for name, value in ((spec.get("ResponseParameters") or {}).get("Headers") or {}).items():
            mapped = _mapped_header(str(value), variables)
            if mapped is not None:
                headers.append((name, mapped))
        headers.append(("x-amzn-RequestId", request_id))
        headers.append(("x-amzn-ErrorType", _error_type(response_type)))
        return HttpResponse(status, headers, body.encode("utf-8"), request_id=request_id)


def _mapped_header(expression: str, variables: dict[str, str]) -> str | None:
    """A gateway response header's value, as API Gateway maps it: a static value in single
    quotes, or a context variable (`context.requestId`). Request parameters
    (`method.request.*`) are not used by the template and are left out here."""
    if len(expression) >= 2 and expression[0] == expression[-1] == "'":
        return expression[1:-1]
    if expression.startswith("context."):
        return variables.get(expression.removeprefix("context."), "")
    return None


def _as_context_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _error_type(response_type: str) -> str:
    return {
        "UNAUTHORIZED": "UnauthorizedException",
        "ACCESS_DENIED": "AccessDeniedException",
        "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
        "REQUEST_TOO_LARGE": "RequestTooLargeException",
    }.get(response_type, "InternalServerErrorException")
