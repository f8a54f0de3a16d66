"""API Gateway REQUEST authorizer: `Authorization: Bearer sk_…` and `X-Namespace` → a policy and
the context every handler trusts (see agent_sessions.authorizer)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agent_sessions.authorizer import authorize
from agent_sessions.log import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return authorize(event)
