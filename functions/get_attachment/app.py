"""GET /v1/agents/sessions/{session_id}/attachments/{attachment_id} — an attachment and a fresh URL."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.http import Response
from agent_sessions.models.responses import Attachment
from agent_sessions.runtime import object_service, session_service

app = http.make_resolver()


@app.get(
    "/v1/agents/sessions/<session_id>/attachments/<attachment_id>",
    summary="Get an attachment",
    description="Its name, type, size and SHA-256, and a presigned GET valid 15 minutes.",
    tags=["attachments"],
)
def get_attachment(session_id: str, attachment_id: str) -> Response[Attachment]:
    attachment = object_service().get_attachment(session_service(), http.tenant(app), session_id, attachment_id)
    return http.json_response(attachment)


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(
        app, event, context, direct=("GET", "/v1/agents/sessions/{session_id}/attachments/{attachment_id}")
    )
