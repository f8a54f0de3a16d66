"""DELETE /v1/agents/sessions/{session_id}/messages — rewind: remove messages from a seq on,
or the last K (If-Match: "<message_count>" makes it exactly-once)."""

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.http import Query, Response
from agent_sessions.models.responses import RewindResult
from agent_sessions.runtime import conversation_service

app = http.make_resolver()


@app.delete(
    "/v1/agents/sessions/<session_id>/messages",
    summary="Rewind: remove the messages from a seq on, or the last K",
    description='Give exactly one of `from_seq` and `last`. `If-Match: "<message_count>"` (the append\'s '
    "ETag) refuses a stale rewind with 412. The next append takes the freed positions, with new message ids.",
    tags=["messages"],
)
def rewind_messages(
    session_id: str,
    from_seq: Annotated[
        int | None,
        Query(
            ge=0,
            le=10**9,
            description="remove every message with seq >= from_seq",
            json_schema_extra=http.EXACTLY_ONE_OF_REWIND,
        ),
    ] = None,
    last: Annotated[
        int | None,
        Query(ge=1, le=10**9, description="remove the last K messages", json_schema_extra=http.EXACTLY_ONE_OF_REWIND),
    ] = None,
) -> Response[RewindResult]:
    result = conversation_service().rewind(
        http.tenant(app), session_id, from_seq=from_seq, last=last, if_match=http.if_match_version(app)
    )
    return http.json_response(result, headers={"ETag": http.etag(result.message_count)})


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context, direct=("DELETE", "/v1/agents/sessions/{session_id}/messages"))
