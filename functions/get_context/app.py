"""GET /v1/agents/sessions/{session_id}/context — the model's context window."""

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.http import Query, Response
from agent_sessions.models.limits import DEFAULT_CONTEXT_MESSAGES, MAX_CONTEXT_MESSAGES
from agent_sessions.models.responses import ContextWindow
from agent_sessions.runtime import conversation_service

app = http.make_resolver()


@app.get(
    "/v1/agents/sessions/<session_id>/context",
    summary="The context window: situation, summary, and the newest messages that fit",
    description="Messages after `summary_through_seq`, newest that fit `max_tokens` and `max_messages`, "
    "returned oldest first; a tool result is never returned without its call. A message weighs its "
    "`token_count`, else ceil(characters / 4); the budget covers the situation and the summary too. "
    "`truncated` is true when messages after the summary were left out.",
    tags=["messages"],
)
def get_context(
    session_id: str,
    max_tokens: Annotated[int | None, Query(ge=0, le=10**9)] = None,
    max_messages: Annotated[int, Query(ge=0, le=MAX_CONTEXT_MESSAGES)] = DEFAULT_CONTEXT_MESSAGES,
) -> Response[ContextWindow]:
    window = conversation_service().context(
        http.tenant(app), session_id, max_tokens=max_tokens, max_messages=max_messages
    )
    return http.json_response(window, headers={"ETag": http.etag(window.message_count)})


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context, direct=("GET", "/v1/agents/sessions/{session_id}/context"))
