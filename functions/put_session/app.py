"""PUT /v1/agents/sessions/{session_id} — create the session with this id (201) or replace it
(200); If-Match, If-None-Match: * and Idempotency-Key honoured."""

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.http import Body, Path, Response
from agent_sessions.ids import SESSION_ID_PATTERN
from agent_sessions.models.requests import PutSessionRequest
from agent_sessions.models.responses import Session
from agent_sessions.runtime import session_service

app = http.make_resolver(body_model=PutSessionRequest)


@app.put(
    "/v1/agents/sessions/<session_id>",
    summary="Create or replace a session by its id",
    tags=["sessions"],
    responses={
        200: {"description": "Replaced", "content": {"application/json": {"model": Session}}},
        201: {"description": "Created", "content": {"application/json": {"model": Session}}},
    },
)
def put_session(
    session_id: Annotated[str, Path(min_length=1, max_length=128, pattern=SESSION_ID_PATTERN.pattern)],
    request: Annotated[PutSessionRequest, Body()],
) -> Response[Session]:
    session, created, replayed = session_service().put(
        http.tenant(app),
        session_id,
        request,
        if_match=http.if_match_version(app),
        create_only=http.if_none_match_any(app),
        idempotency_key=http.idempotency_key(app),
    )
    headers = {"ETag": http.etag(session.version)}
    if created:
        headers["Location"] = http.session_location(session.session_id)
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return http.json_response(session, status=201 if created else 200, headers=headers)


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context, direct=("PUT", "/v1/agents/sessions/{session_id}"))
