"""HTTP glue: the one resolver factory, the error map's HTTP side, and the Lambda entry.

Every function builds its resolver with `make_resolver`, declares its routes, and hands its
events to `handle`, so every response — success, validation failure, store outage, bug —
carries the contract's envelope, `Content-Type: application/json` and `X-Request-Id`.
"""

from __future__ import annotations

import json
import re
import types
import typing
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from agent_sessions.errors import (
    AppError,
    BadRequestError,
    ForbiddenError,
    InternalError,
    NotFoundError,
    PreconditionFailedError,
    ValidationError,
    error_from_envelope,
    validation_failure,
)
from agent_sessions.identity.api_keys import SCOPES
from agent_sessions.ids import NAMESPACE_ID_PATTERN
from agent_sessions.log import logger
from agent_sessions.scopes import required_scope
from agent_sessions.tenancy import Tenant, tenant_from_authorizer

JSON = "application/json"
PUBLIC_PATHS = frozenset({"/v1/health", "/v1/openapi.json"})
# The console's page and assets: public (the page calls the API with the operator's key).
CONSOLE_PATH = "/console"


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path == CONSOLE_PATH or path.startswith(CONSOLE_PATH + "/")


IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")

# The functions import Powertools' names from here, so that the layer's package (and its lean
# import of the event handler, agent_sessions/__init__.py) loads first.
__all__ = ["Body", "Path", "Query", "Response", "logger"]

# Query parameters of which a request gives exactly one: the document's builder
# (local_runtime.openapi) turns the parameters marked with the same group into one
# form-exploded object parameter whose schema is a oneOf, which JSON Schema can state and
# separate parameters cannot. The service refuses both and neither with 422.
EXACTLY_ONE_OF = "x-exactly-one-of"
EXACTLY_ONE_OF_REWIND = {EXACTLY_ONE_OF: "rewind_point"}


def json_response(model: BaseModel, *, status: int = 200, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(status_code=status, content_type=JSON, body=model, headers=dict(headers or {}))


def error_response(error: AppError) -> Response[Any]:
    return Response(
        status_code=error.status,
        content_type=JSON,
        body=json.dumps(error.envelope(), ensure_ascii=False),
        headers=dict(error.headers),
    )


def _accepted_keys_for(body_model: type[BaseModel] | None) -> Any:
    def accepted(loc: list[str | int]) -> list[str]:
        model: Any = body_model
        for part in loc[1:-1]:  # walk from the body down to the object holding the unknown key
            if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
                return []
            model = _model_in(model.model_fields[str(part)].annotation)
        if isinstance(model, type) and issubclass(model, BaseModel):
            return sorted(model.model_fields)
        return []

    return accepted


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None


def make_resolver(
    body_model: type[BaseModel] | None = None, *, query_prefixes: tuple[str, ...] = ()
) -> APIGatewayRestResolver:
    """A resolver with request validation (and so OpenAPI) on, and the one error map.
    `query_prefixes`: families of query parameters a route takes besides the ones it declares
    (`metadata.KEY=VALUE`)."""
    app = APIGatewayRestResolver(enable_validation=True)
    accepted_keys = _accepted_keys_for(body_model)

    def _known_query_parameters(app: APIGatewayRestResolver, next_middleware: Any) -> Any:
        # As a body refuses unknown keys, a query string refuses unknown parameters: a
        # misspelt `limt=5` is a 422 naming what is accepted, not a silently ignored filter.
        sent = app.current_event.query_string_parameters or {}
        route = app.context["_route"]
        # Powertools runs middlewares for an unmatched path too (a stand-in route): that is a 404.
        if sent and (route in app._static_routes or route in app._dynamic_routes):
            declared = sorted(param.alias for param in route.dependant.query_params)
            unknown = [name for name in sent if name not in declared and not name.startswith(query_prefixes)]
            if unknown:
                accepted = [*declared, *(f"{prefix}KEY" for prefix in query_prefixes)]
                raise ValidationError(
                    f"Unknown query parameter(s): {', '.join(map(repr, unknown))}. "
                    f"Accepted: {', '.join(accepted) or 'none'}",
                    code="unknown_query_parameter",
                    details={
                        "errors": [
                            {"loc": ["query", name], "msg": "Unknown query parameter", "type": "extra_forbidden"}
                            for name in unknown
                        ],
                        "accepted_parameters": accepted,
                    },
                )
        return next_middleware(app)

    app.use(middlewares=[_known_query_parameters])

    @app.exception_handler(AppError)
    def _app_error(error: AppError) -> Response[Any]:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response[Any]:
        errors = list(error.errors())
        if any(item.get("type") == "json_invalid" for item in errors):
            return error_response(
                BadRequestError(
                    "The request body is not valid JSON", code="invalid_json", details={"errors": _plain(errors)}
                )
            )
        return error_response(validation_failure(errors, accepted_keys=accepted_keys))

    @app.exception_handler(RecursionError)
    def _too_deep(_: RecursionError) -> Response[Any]:
        return error_response(BadRequestError("The request body is nested too deeply", code="body_too_deep"))

    @app.exception_handler(Exception)
    def _bug(error: Exception) -> Response[Any]:
        # A botocore failure that escaped the store's translation is still the store's
        # throttle or outage (429/503 with Retry-After), not a bug; imported here so the
        # functions without a store (api_docs) never import botocore.
        from agent_sessions.store.dynamo import store_failure

        failure = store_failure(error)
        if failure is not None:
            logger.warning("Store failure outside the store's translation", exc_info=error)
            return error_response(failure)
        logger.exception("Unhandled error")
        return error_response(InternalError("Internal error; it has been logged"))

    @app.not_found
    def _no_route(_: Exception) -> Response[Any]:
        return error_response(NotFoundError("No such route", code="route_not_found"))

    return app


def _plain(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))} for e in errors
    ]


def tenant(app: APIGatewayRestResolver) -> Tenant:
    value = app.context.get("tenant")
    if not isinstance(value, Tenant):  # handle() sets it for every non-public route
        return tenant_from_authorizer((app.current_event.raw_event.get("requestContext") or {}).get("authorizer"))
    return value


def header(app: APIGatewayRestResolver, name: str) -> str | None:
    value = app.current_event.headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in (app.current_event.headers or {}).items() if k.lower() == lowered), None)
    return value


def idempotency_key(app: APIGatewayRestResolver) -> str | None:
    value = header(app, "Idempotency-Key")
    if value is None:
        return None
    if not IDEMPOTENCY_KEY_PATTERN.match(value):
        raise BadRequestError(
            "Idempotency-Key must be 1 to 255 printable ASCII characters", code="invalid_idempotency_key"
        )
    return value


def if_match_version(app: APIGatewayRestResolver) -> int | None:
    """`If-Match: "<n>"` → n; `*` or absent → None. Anything else can never match: 412."""
    value = header(app, "If-Match")
    if value is None or value.strip() == "*":
        return None
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit():
        raise PreconditionFailedError('If-Match must be an ETag of this API, like "3"', code="invalid_if_match")
    return int(text)


def if_none_match_any(app: APIGatewayRestResolver) -> bool:
    """`If-None-Match: *` (create only) → True; absent → False. A PUT takes no other value: an
    ETag list there would ask to replace unless it matches, which If-Match says plainly."""
    value = header(app, "If-None-Match")
    if value is None:
        return False
    if value.strip() != "*":
        raise BadRequestError(
            'If-None-Match takes only "*" here (create, never replace); use If-Match to replace a version',
            code="invalid_if_none_match",
        )
    return True


def etag(version: int) -> str:
    return f'"{version}"'


def session_location(session_id: str) -> str:
    return f"/v1/agents/sessions/{quote(session_id, safe='')}"


def handle(
    app: APIGatewayRestResolver,
    event: dict[str, Any],
    context: LambdaContext,
    *,
    direct: tuple[str, str] | None = None,
) -> Any:
    """The Lambda entry every function shares. `direct` is the route a direct invocation
    (DESIGN §6: `{"namespace_id", ...}` from another AWS service) stands for."""
    if direct is not None and is_direct_invocation(event):
        return invoke_direct(app, event, context, direct)
    request_context = event.get("requestContext") or {}
    request_id = str(request_context.get("requestId") or getattr(context, "aws_request_id", "") or "")
    logger.append_keys(request_id=request_id)
    path = str(event.get("path") or "")
    unreadable = _unreadable_body(event)
    if unreadable is not None:
        return _with_request_id(_envelope_dict(unreadable), request_id)
    event = _bodies_are_json(event)
    if is_public(path):
        response = app.resolve(event, context)
    else:
        try:
            caller = tenant_from_authorizer(request_context.get("authorizer"))
            _check_scope(caller, str(event.get("httpMethod") or ""), str(event.get("resource") or ""))
        except AppError as error:
            response = _envelope_dict(error)
        else:
            logger.append_keys(namespace_id=caller.namespace_id)
            app.append_context(tenant=caller)
            response = app.resolve(event, context)
    return _with_request_id(response, request_id)


def _with_request_id(response: dict[str, Any], request_id: str) -> dict[str, Any]:
    if response.get("multiValueHeaders"):
        response["multiValueHeaders"]["X-Request-Id"] = [request_id]
    else:
        response.setdefault("headers", {})["X-Request-Id"] = request_id
    return response


# A JSON escape of a UTF-16 surrogate; only then can a parsed body hold a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _unreadable_body(event: dict[str, Any]) -> AppError | None:
    """A body that is not UTF-8 text (API Gateway passes such bytes base64-encoded), or
    whose JSON escapes a lone surrogate (text no store or client can hold), is refused
    here, before the resolver would fail on it."""
    body = event.get("body")
    if not body:
        return None
    if event.get("isBase64Encoded"):
        import base64
        import binascii

        try:
            base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return BadRequestError("The request body is not UTF-8 text", code="invalid_encoding")
        return None
    if isinstance(body, str) and _SURROGATE_ESCAPE.search(body):
        try:
            json.dumps(json.loads(body), ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return BadRequestError("The request body holds an unpaired UTF-16 surrogate", code="invalid_encoding")
        except ValueError:
            return None  # not JSON at all: the resolver answers invalid_json
    return None


def _bodies_are_json(event: dict[str, Any]) -> dict[str, Any]:
    """Every body is JSON, whatever Content-Type says: `curl -d '{...}'` sends form encoding,
    and the resolver would otherwise parse JSON text as a form (or refuse other types)."""
    headers = event.get("headers") or {}
    if not any(k.lower() == "content-type" and not str(v).lower().startswith(JSON) for k, v in headers.items()):
        return event
    event = dict(event)
    event["headers"] = {k: (JSON if k.lower() == "content-type" else v) for k, v in headers.items()}
    if event.get("multiValueHeaders"):
        event["multiValueHeaders"] = {
            k: ([JSON] if k.lower() == "content-type" else v) for k, v in event["multiValueHeaders"].items()
        }
    return event


def _check_scope(caller: Tenant, method: str, resource: str) -> None:
    """The authorizer's policy already refused a route the key has no scope for; checking again
    here keeps a handler safe under any caller that hands it a context (tests, local tools)."""
    scope = required_scope(method, resource)
    if scope is not None and scope not in caller.scopes:
        raise ForbiddenError(f"This key's scopes do not allow this route (needs {scope})", code="missing_scope")


def _envelope_dict(error: AppError) -> dict[str, Any]:
    return {
        "statusCode": error.status,
        "headers": {"Content-Type": JSON, **error.headers},
        "body": json.dumps(error.envelope()),
        "isBase64Encoded": False,
    }


# --- direct invocation (no API Gateway) -------------------------------------------------------

DIRECT_KEY_ID = "direct-invocation"


class DirectInvocation(BaseModel):
    """What another AWS service sends instead of an API Gateway event. IAM decides who may
    invoke; the payload names the tenant."""

    model_config = ConfigDict(extra="forbid", defer_build=True)  # only direct invocations build it

    namespace_id: str = Field(pattern=NAMESPACE_ID_PATTERN.pattern)
    internal_id: str = Field(default="int_direct", pattern=r"^int_[A-Za-z0-9_-]{1,64}$")
    session_id: str | None = Field(default=None, min_length=1, max_length=200)
    seq: int | None = Field(default=None, ge=0)  # PATCH …/messages/{seq}
    body: Any = None
    query: dict[str, str | int | bool | list[str]] | None = None
    headers: dict[str, str] | None = None  # Idempotency-Key, If-Match


def is_direct_invocation(event: Any) -> bool:
    return isinstance(event, dict) and "namespace_id" in event and "httpMethod" not in event


def invoke_direct(
    app: APIGatewayRestResolver, payload: dict[str, Any], context: LambdaContext, route: tuple[str, str]
) -> Any:
    """Run the route as HTTP would (same models, same service) and return its JSON body; a
    failure is raised as the error whose class name is the envelope's `type`."""
    try:
        request = DirectInvocation.model_validate(payload)
    except PydanticValidationError as error:
        raise validation_failure(error.errors(include_url=False), prefix=["payload"]) from None
    method, resource = route
    if "{session_id}" in resource and request.session_id is None:
        raise ValidationError(
            "session_id is required",
            code="validation_error",
            details={"errors": [{"loc": ["payload", "session_id"], "msg": "Field required", "type": "missing"}]},
        )
    if "{seq}" in resource and request.seq is None:
        raise ValidationError(
            "seq is required",
            code="validation_error",
            details={"errors": [{"loc": ["payload", "seq"], "msg": "Field required", "type": "missing"}]},
        )
    path = resource.replace("{session_id}", request.session_id or "").replace("{seq}", str(request.seq))
    headers = {"Content-Type": JSON, **(request.headers or {})}
    multi_query = (
        {k: [str(x) for x in v] if isinstance(v, list) else [_query_text(v)] for k, v in request.query.items()}
        if request.query
        else None
    )
    request_id = str(getattr(context, "aws_request_id", "") or "direct")
    event = {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} if multi_query else None,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": _path_parameters(resource, request),
        "stageVariables": None,
        "requestContext": {
            "requestId": request_id,
            "stage": "direct",
            "httpMethod": method,
            "path": path,
            "resourcePath": resource,
            "authorizer": {
                "internal_id": request.internal_id,
                "namespace_id": request.namespace_id,
                "key_id": DIRECT_KEY_ID,
                "scopes": " ".join(SCOPES),
            },
        },
        "body": json.dumps(request.body) if request.body is not None else None,
        "isBase64Encoded": False,
    }
    response = handle(app, event, context)
    result = json.loads(response.get("body") or "null")
    if int(response["statusCode"]) >= 400:
        raise error_from_envelope(result)
    return result


def _path_parameters(resource: str, request: DirectInvocation) -> dict[str, str] | None:
    parameters = {}
    if "{session_id}" in resource:
        parameters["session_id"] = request.session_id or ""
    if "{seq}" in resource:
        parameters["seq"] = str(request.seq)
    return parameters or None


def _query_text(value: str | int | bool) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)
