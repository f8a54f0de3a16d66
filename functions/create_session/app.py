"""POST /v1/agents/sessions — create a session (Idempotency-Key honoured)."""

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.http import Body, Response
from agent_sessions.models.requests import CreateSessionRequest
from agent_sessions.models.responses import Session
from agent_sessions.runtime import session_service

app = http.make_resolver(body_model=CreateSessionRequest)


@app.post("/v1/agents/sessions", summary="Create a session", tags=["sessions"])
def create_session(request: Annotated[CreateSessionRequest, Body()]) -> Response[Session]:
    session, replayed = session_service().create(http.tenant(app), request, http.idempotency_key(app))
    headers = {"ETag": http.etag(session.version)}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return http.json_response(session, headers=headers)


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context, direct=("POST", "/v1/agents/sessions"))
