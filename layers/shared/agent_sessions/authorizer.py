"""The REQUEST authorizer's decision: who is calling, in which namespace, on which routes.

API Gateway caches the decision per (Authorization, X-Namespace) for the authorizer's TTL and
applies it to every route, so the policy names every route: allowed where the key holds the
route's scope, explicitly denied elsewhere. Outcomes:
- no key, a malformed, unknown or revoked key → `Unauthorized` (API Gateway answers 401);
- a namespace that is not the key's organization's, or not one the key may use → a policy
  denying every route (403, `namespace_forbidden`);
- otherwise the context handlers trust: internal_id, namespace_id, key_id, scopes.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
    parse_api_gateway_arn,
)

from agent_sessions.identity.api_keys import bearer_key
from agent_sessions.identity.store import IdentityStore
from agent_sessions.log import logger
from agent_sessions.scopes import ROUTE_SCOPES
from agent_sessions.settings import get_settings

MAX_NAMESPACE_REFERENCE = 128


class UnauthorizedSignal(Exception):
    """Raised with the exact message `Unauthorized`: the only way a Lambda authorizer makes
    API Gateway answer 401 (any other failure becomes a 500)."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


@lru_cache(maxsize=1)
def identity_store() -> IdentityStore:
    return IdentityStore(get_settings())


def authorize(raw_event: dict[str, Any], store: IdentityStore | None = None) -> dict[str, Any]:
    event = APIGatewayAuthorizerRequestEvent({**raw_event, "headers": raw_event.get("headers") or {}})
    store = store or identity_store()
    key = bearer_key(event.headers.get("Authorization"))  # the headers mapping is case-insensitive
    if key is None:
        logger.info("Denied: no well-formed bearer key", extra={"decision": "unauthorized"})
        raise UnauthorizedSignal
    record = store.key_by_secret(key)
    if record is None or record.revoked_at:
        logger.info(
            "Denied: unknown or revoked key",
            extra={"decision": "unauthorized", "key_id": record.key_id if record else None},
        )
        raise UnauthorizedSignal

    arn = parse_api_gateway_arn(event.method_arn)
    policy = APIGatewayAuthorizerResponse(
        principal_id=record.key_id,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
    )
    reference = (event.headers.get("X-Namespace") or "").strip()
    namespace = None
    if reference and len(reference) <= MAX_NAMESPACE_REFERENCE and reference.isascii():
        namespace = store.namespace(record.internal_id, reference)
    if namespace is None or not record.allows_namespace(namespace.namespace_id):
        logger.info("Denied: namespace not allowed", extra={"decision": "forbidden", "key_id": record.key_id})
        policy.context = {
            "deny_code": "namespace_forbidden",
            "deny_message": "This key may not use the namespace named in X-Namespace",
        }
        policy.deny_all_routes()
        return policy.asdict()

    scopes = " ".join(record.scopes)
    policy.context = {
        "internal_id": record.internal_id,
        "namespace_id": namespace.namespace_id,
        "key_id": record.key_id,
        "scopes": scopes,
        # Read by the ACCESS_DENIED gateway response when a route needs a scope the key lacks.
        "deny_code": "missing_scope",
        "deny_message": f"This key's scopes ({scopes}) do not allow this route",
    }
    for route in ROUTE_SCOPES:
        if route.scope in record.scopes:
            policy.allow_route(route.method, route.policy_path)
        else:
            policy.deny_route(route.method, route.policy_path)
    logger.info(
        "Allowed",
        extra={"decision": "allow", "key_id": record.key_id, "namespace_id": namespace.namespace_id, "scopes": scopes},
    )
    return policy.asdict()
