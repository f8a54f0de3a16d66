"""POST /v1/agents/sessions/{session_id}/feedback — a rating on one message of the session."""

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.http import Body, Response
from agent_sessions.models.requests import FeedbackRequest
from agent_sessions.models.responses import FeedbackResult
from agent_sessions.runtime import conversation_service

app = http.make_resolver(body_model=FeedbackRequest)


@app.post(
    "/v1/agents/sessions/<session_id>/feedback",
    summary="Record feedback on a message",
    description="Feedback again on the same message replaces the earlier one.",
    tags=["messages"],
)
def record_feedback(session_id: str, request: Annotated[FeedbackRequest, Body()]) -> Response[FeedbackResult]:
    return http.json_response(conversation_service().feedback(http.tenant(app), session_id, request))


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context, direct=("POST", "/v1/agents/sessions/{session_id}/feedback"))
