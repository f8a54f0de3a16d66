"""GET /v1/agents/sessions/{session_id}/export — the session and every message as NDJSON
(attachments by reference, or inline with ?attachments=inline)."""

from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.http import Query, Response
from agent_sessions.models.transfer import EXPORT_MEDIA_TYPE
from agent_sessions.runtime import transfer_service

app = http.make_resolver()


@app.get(
    "/v1/agents/sessions/<session_id>/export",
    summary="Export a session",
    description="NDJSON: the session (every field) on the first line, then every message in seq order with its "
    "content whole and its feedback. Attachments carry fresh URLs, or their bytes in base64 `data` with "
    "`attachments=inline` (the file then stands alone and `POST /v1/agents/sessions/import` takes it back). "
    "An export larger than one response is answered with 303 and a presigned URL of the file (15 minutes).",
    tags=["sessions"],
    responses={
        200: {
            "description": "The file",
            # NDJSON lines (JSON Schema cannot state a line-by-line format): no type constraint
            "content": {EXPORT_MEDIA_TYPE: {"schema": {"description": "the session, then each message, one per line"}}},
        },
        303: {"description": "The file is at the Location (a presigned URL)"},
    },
)
def export_session(
    session_id: str, attachments: Annotated[Literal["reference", "inline"], Query()] = "reference"
) -> Response[Any]:
    export = transfer_service().export_session(http.tenant(app), session_id, inline=attachments == "inline")
    if export.url is not None:
        return Response(status_code=303, headers={"Location": export.url}, content_type=http.JSON, body="")
    return Response(
        status_code=200,
        content_type=EXPORT_MEDIA_TYPE,
        body=export.body,
        headers={"Content-Disposition": f'attachment; filename="{session_id}.ndjson"'},
    )


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context, direct=("GET", "/v1/agents/sessions/{session_id}/export"))
