"""GET /v1/agents/sessions/export?user_id=U — a user's sessions and messages as NDJSON, a
page at a time (a data-access request)."""

from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.http import Query, Response
from agent_sessions.models.limits import MAX_ID_CHARS, NO_CONTROL_CHARACTERS
from agent_sessions.models.transfer import EXPORT_MEDIA_TYPE
from agent_sessions.runtime import transfer_service

app = http.make_resolver()


@app.get(
    "/v1/agents/sessions/export",
    summary="Export a user's sessions",
    description="NDJSON: up to 20 of the user's sessions, oldest first, each as `GET …/{session_id}/export` "
    'gives it (the session, then its messages), then one `"type": "page"` line with `has_more` and '
    "`next_cursor`: repeat with `cursor` while `has_more`. Larger than one response: 303 to a presigned URL.",
    tags=["sessions"],
    responses={
        200: {
            "description": "The page of the user's data",
            "content": {EXPORT_MEDIA_TYPE: {"schema": {"description": "sessions and messages, then a page line"}}},
        },
        303: {"description": "The file is at the Location (a presigned URL)"},
    },
)
def export_user(
    user_id: Annotated[str, Query(min_length=1, max_length=MAX_ID_CHARS, pattern=NO_CONTROL_CHARACTERS)],
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
    attachments: Annotated[Literal["reference", "inline"], Query()] = "reference",
) -> Response[Any]:
    export = transfer_service().export_user(
        http.tenant(app), user_id, cursor=cursor or None, inline=attachments == "inline"
    )
    if export.url is not None:
        return Response(status_code=303, headers={"Location": export.url}, content_type=http.JSON, body="")
    return Response(status_code=200, content_type=EXPORT_MEDIA_TYPE, body=export.body)


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context, direct=("GET", "/v1/agents/sessions/export"))
