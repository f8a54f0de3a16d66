"""POST /v1/agents/sessions/import/uploads — a presigned upload of an export file too large
for an import request (up to 100 MiB)."""

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.http import Body, Response
from agent_sessions.models.transfer import ImportUploadRequest, ImportUploadTicket
from agent_sessions.runtime import object_service
from agent_sessions.service.import_uploads import create_import_upload as issue_ticket

app = http.make_resolver(body_model=ImportUploadRequest)


@app.post(
    "/v1/agents/sessions/import/uploads",
    summary="Upload an export file to import",
    description="A presigned PUT bound to the file's size and SHA-256 (valid 15 minutes). Send the bytes with "
    "exactly the headers returned, then `POST /v1/agents/sessions/import?upload_id=…`. An upload never imported "
    "is deleted within a day.",
    tags=["sessions"],
    responses={
        201: {"description": "Upload ticket issued", "content": {"application/json": {"model": ImportUploadTicket}}}
    },
)
def create_import_upload(request: Annotated[ImportUploadRequest, Body()]) -> Response[ImportUploadTicket]:
    ticket = issue_ticket(object_service(), http.tenant(app), request)
    return http.json_response(ticket, status=201)


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context, direct=("POST", "/v1/agents/sessions/import/uploads"))
