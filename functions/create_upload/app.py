"""POST /v1/agents/sessions/{session_id}/attachments — a presigned upload of one attachment."""

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.http import Body, Response
from agent_sessions.models.requests import CreateUploadRequest
from agent_sessions.models.responses import UploadTicket
from agent_sessions.runtime import object_service, session_service

app = http.make_resolver(body_model=CreateUploadRequest)


@app.post(
    "/v1/agents/sessions/<session_id>/attachments",
    summary="Upload an attachment",
    description="A presigned PUT bound to the size and SHA-256 given (valid 15 minutes). Send the bytes with "
    "exactly the headers returned, then append a message naming the attachment_id. An upload no message names "
    "is deleted within a day.",
    tags=["attachments"],
    responses={201: {"description": "Upload ticket issued", "content": {"application/json": {"model": UploadTicket}}}},
)
def create_upload(session_id: str, request: Annotated[CreateUploadRequest, Body()]) -> Response[UploadTicket]:
    ticket = object_service().create_upload(session_service(), http.tenant(app), session_id, request)
    return http.json_response(ticket, status=201)


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context, direct=("POST", "/v1/agents/sessions/{session_id}/attachments"))
