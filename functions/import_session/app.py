"""POST /v1/agents/sessions/import — a session back from its export file (NDJSON), all or
nothing (Idempotency-Key honoured)."""

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.errors import ValidationError
from agent_sessions.http import Query, Response
from agent_sessions.models.responses import Session
from agent_sessions.models.transfer import EXPORT_MEDIA_TYPE
from agent_sessions.runtime import transfer_service

app = http.make_resolver()


@app.post(
    "/v1/agents/sessions/import",
    summary="Import a session",
    description="The body is an export file (`GET …/export?attachments=inline`), or empty with `upload_id` "
    "for one uploaded before (`POST …/import/uploads`, up to 100 MiB): the session is recreated "
    "exactly — fields, times, version, status, messages with their seq, ids, timestamps and feedback, "
    "attachments — under its exported id (409 `session_exists` when taken) or, with `new_id=true`, a fresh "
    "one with fresh message ids. At most 10,000 messages; all or nothing.",
    tags=["sessions"],
    openapi_extensions={
        "requestBody": {"required": True, "content": {EXPORT_MEDIA_TYPE: {"schema": {"type": "string"}}}}
    },
    responses={201: {"description": "Imported", "content": {"application/json": {"model": Session}}}},
)
def import_session(
    new_id: Annotated[bool, Query()] = False,
    upload_id: Annotated[
        str | None, Query(max_length=64, description="a file uploaded before (import/uploads)")
    ] = None,
) -> Response[Session]:
    text = app.current_event.decoded_body or ""
    service, tenant, key = transfer_service(), http.tenant(app), http.idempotency_key(app)
    if upload_id is not None:
        if text.strip():
            raise ValidationError(
                "Give the file in the body or as upload_id, not both",
                code="validation_error",
                details={
                    "errors": [{"loc": ["query", "upload_id"], "msg": "the body is not empty", "type": "value_error"}]
                },
            )
        session, replayed = service.import_upload(tenant, upload_id, new_id=new_id, idempotency_key=key)
    else:
        session, replayed = service.import_session(tenant, text, new_id=new_id, idempotency_key=key)
    headers = {"ETag": http.etag(session.version), "Location": http.session_location(session.session_id)}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return http.json_response(session, status=201, headers=headers)


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context, direct=("POST", "/v1/agents/sessions/import"))
