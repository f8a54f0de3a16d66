"""DELETE /v1/agents/sessions?user_id=U — erase a user: purge up to 100 of their sessions."""

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions import http
from agent_sessions.http import Query, Response
from agent_sessions.models.limits import MAX_ID_CHARS, NO_CONTROL_CHARACTERS
from agent_sessions.models.responses import ErasedUser
from agent_sessions.runtime import conversation_service

app = http.make_resolver()


@app.delete(
    "/v1/agents/sessions",
    summary="Erase a user's sessions",
    description="Purges up to 100 of the user's sessions (every item of each) per call; repeat while `has_more`.",
    tags=["sessions"],
)
def erase_user(
    user_id: Annotated[str, Query(min_length=1, max_length=MAX_ID_CHARS, pattern=NO_CONTROL_CHARACTERS)],
) -> Response[ErasedUser]:
    return http.json_response(conversation_service().erase_user(http.tenant(app), user_id))


@http.logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return http.handle(app, event, context, direct=("DELETE", "/v1/agents/sessions"))
