"""GET /v1/health and GET /v1/openapi.json: public, no authorizer, no DynamoDB."""

from functools import cache
from importlib import resources
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.http import Response

app = http.make_resolver()
# Generated from every function's routes and models, shipped in the layer, checked fresh by CI.
DOCUMENT = resources.files("agent_sessions").joinpath("openapi.json")


@cache
def _document() -> str:
    return DOCUMENT.read_text(encoding="utf-8")


@app.get("/v1/health", summary="Liveness", tags=["meta"], include_in_schema=True)
def health() -> Response[Any]:
    return Response(status_code=200, content_type=http.JSON, body='{"status":"ok"}')


@app.get("/v1/openapi.json", summary="This document", tags=["meta"])
def openapi() -> Response[Any]:
    return Response(status_code=200, content_type=http.JSON, body=_document())


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context)
