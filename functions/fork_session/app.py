"""POST /v1/agents/sessions/{session_id}/fork — a new session from this one's configuration
and messages (Idempotency-Key honoured)."""

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.http import Body, Response
from agent_sessions.models.requests import ForkRequest
from agent_sessions.models.responses import Session
from agent_sessions.runtime import conversation_service

app = http.make_resolver(body_model=ForkRequest)


@app.post(
    "/v1/agents/sessions/<session_id>/fork",
    summary="Fork a session at a turn",
    description="Copies the parent's configuration, user, agent and metadata (merge-patched by `metadata`) "
    "and its messages 0..through_seq (default: all; at most 10,000) into a new session, complete or not at all.",
    tags=["sessions"],
)
def fork_session(session_id: str, request: Annotated[ForkRequest, Body()]) -> Response[Session]:
    session, replayed = conversation_service().fork(http.tenant(app), session_id, request, http.idempotency_key(app))
    headers = {"ETag": http.etag(session.version)}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return http.json_response(session, headers=headers)


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context, direct=("POST", "/v1/agents/sessions/{session_id}/fork"))
