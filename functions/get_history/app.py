"""GET /v1/agents/sessions/{session_id}/history — messages by seq, one query per page."""

from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.http import Query, Response
from agent_sessions.models.limits import DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT
from agent_sessions.models.responses import HistoryPage
from agent_sessions.runtime import message_service

app = http.make_resolver()


@app.get("/v1/agents/sessions/<session_id>/history", summary="Read the conversation history", tags=["messages"])
def get_history(
    session_id: str,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_LIMIT)] = DEFAULT_HISTORY_LIMIT,
    offset: Annotated[
        int | None, Query(ge=0, le=10**9, description="start at this position (a seek, not a skip)")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
    order: Annotated[Literal["asc", "desc"], Query()] = "asc",
) -> Response[HistoryPage]:
    page = message_service().history(
        http.tenant(app), session_id, limit=limit, offset=offset, cursor=cursor, descending=order == "desc"
    )
    return http.json_response(page)


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context, direct=("GET", "/v1/agents/sessions/{session_id}/history"))
