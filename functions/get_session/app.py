"""GET /v1/agents/sessions/{session_id} — one session, with its ETag."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.http import Response
from agent_sessions.models.responses import Session
from agent_sessions.runtime import session_service

app = http.make_resolver()


@app.get("/v1/agents/sessions/<session_id>", summary="Get a session", tags=["sessions"])
def get_session(session_id: str) -> Response[Session]:
    session = session_service().get(http.tenant(app), session_id)
    return http.json_response(session, headers={"ETag": http.etag(session.version)})


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context, direct=("GET", "/v1/agents/sessions/{session_id}"))
