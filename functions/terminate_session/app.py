"""DELETE /v1/agents/sessions/{session_id} — terminate; `?purge=true` erases it now."""

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.http import Query, Response
from agent_sessions.models.responses import PurgedSession, TerminatedSession
from agent_sessions.runtime import session_service

app = http.make_resolver()


@app.delete("/v1/agents/sessions/<session_id>", summary="Terminate or purge a session", tags=["sessions"])
def terminate_session(
    session_id: str, purge: Annotated[bool, Query(description="erase the session and all its items now")] = False
) -> Response[TerminatedSession | PurgedSession]:
    service = session_service()
    if purge:
        return http.json_response(service.purge(http.tenant(app), session_id))
    return http.json_response(service.terminate(http.tenant(app), session_id))


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context, direct=("DELETE", "/v1/agents/sessions/{session_id}"))
