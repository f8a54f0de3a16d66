"""POST /v1/agents/sessions/{session_id}/messages — append one message or a batch."""

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.http import Body, Response
from agent_sessions.models.requests import AppendMessagesRequest
from agent_sessions.models.responses import AppendResult
from agent_sessions.runtime import message_service

app = http.make_resolver(body_model=AppendMessagesRequest)


@app.post("/v1/agents/sessions/<session_id>/messages", summary="Append messages", tags=["messages"])
def append_messages(session_id: str, request: Annotated[AppendMessagesRequest, Body()]) -> Response[AppendResult]:
    result, replayed = message_service().append(
        http.tenant(app), session_id, request, http.if_match_version(app), http.idempotency_key(app)
    )
    headers = {"ETag": http.etag(result.message_count)}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return http.json_response(result, headers=headers)


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context, direct=("POST", "/v1/agents/sessions/{session_id}/messages"))
