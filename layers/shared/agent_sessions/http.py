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

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from agent_sessions.errors import (
    AppError,
    BadRequestError,
    ForbiddenError,
    InternalError,
    NotFoundError,
    PreconditionFailedError,
    validation_failure,
)
from agent_sessions.log import logger
from agent_sessions.scopes import required_scope
from agent_sessions.tenancy import Tenant, tenant_from_authorizer

JSON = "application/json"
PUBLIC_PATHS = frozenset({"/v1/health", "/v1/openapi.json"})
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")

__all__ = ["logger"]


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


def make_resolver(body_model: type[BaseModel] | None = None) -> APIGatewayRestResolver:
    """A resolver with request validation (and so OpenAPI) on, and the one error map."""
    app = APIGatewayRestResolver(enable_validation=True)
    accepted_keys = _accepted_keys_for(body_model)

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


def etag(version: int) -> str:
    return f'"{version}"'


def handle(app: APIGatewayRestResolver, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The Lambda entry every function shares."""
    request_context = event.get("requestContext") or {}
    request_id = str(request_context.get("requestId") or getattr(context, "aws_request_id", "") or "")
    logger.append_keys(request_id=request_id)
    path = str(event.get("path") or "")
    event = _bodies_are_json(event)
    if path in PUBLIC_PATHS:
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
    if response.get("multiValueHeaders"):
        response["multiValueHeaders"]["X-Request-Id"] = [request_id]
    else:
        response.setdefault("headers", {})["X-Request-Id"] = request_id
    return response


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
