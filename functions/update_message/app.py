"""PATCH /v1/agents/sessions/{session_id}/messages/{seq} — redact or correct one message."""

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.http import Body, Response
from agent_sessions.models.requests import MessagePatch
from agent_sessions.models.responses import Message
from agent_sessions.runtime import conversation_service

app = http.make_resolver(body_model=MessagePatch)


@app.patch(
    "/v1/agents/sessions/<session_id>/messages/<seq>",
    summary="Redact or correct a message",
    description="A JSON merge patch over content, metadata, tool_inputs, tool_outputs and token_count; "
    "the session's token totals follow.",
    tags=["messages"],
)
def update_message(session_id: str, seq: int, request: Annotated[MessagePatch, Body()]) -> Response[Message]:
    return http.json_response(conversation_service().update_message(http.tenant(app), session_id, seq, request))


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context, direct=("PATCH", "/v1/agents/sessions/{session_id}/messages/{seq}"))
