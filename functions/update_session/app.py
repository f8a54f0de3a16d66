"""PATCH /v1/agents/sessions/{session_id} — JSON merge patch; If-Match → 412 when stale."""

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.http import Body, Response
from agent_sessions.models.requests import UpdateSessionRequest
from agent_sessions.models.responses import Session
from agent_sessions.runtime import session_service

app = http.make_resolver(body_model=UpdateSessionRequest)


@app.patch("/v1/agents/sessions/<session_id>", summary="Update a session (JSON merge patch)", tags=["sessions"])
def update_session(session_id: str, patch: Annotated[UpdateSessionRequest, Body()]) -> Response[Session]:
    session = session_service().update(http.tenant(app), session_id, patch, http.if_match_version(app))
    return http.json_response(session, headers={"ETag": http.etag(session.version)})


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context, direct=("PATCH", "/v1/agents/sessions/{session_id}"))
