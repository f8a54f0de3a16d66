"""Who is calling: what the authorizer resolved. Handlers trust nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent_sessions.errors import UnauthorizedError
from agent_sessions.ids import NAMESPACE_ID_PATTERN


@dataclass(frozen=True)
class Tenant:
    internal_id: str
    namespace_id: str
    key_id: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)


def tenant_from_authorizer(context: dict[str, Any] | None) -> Tenant:
    """Read `requestContext.authorizer` (values are strings, as API Gateway passes them)."""
    context = context or {}
    internal_id = context.get("internal_id")
    namespace_id = context.get("namespace_id")
    if not isinstance(internal_id, str) or not internal_id.startswith("int_"):
        raise UnauthorizedError("Missing or invalid credentials", code="unauthenticated")
    if not isinstance(namespace_id, str) or not NAMESPACE_ID_PATTERN.match(namespace_id):
        raise UnauthorizedError("Missing or invalid credentials", code="unauthenticated")
    scopes = context.get("scopes") or ""
    scope_set = frozenset(s for s in str(scopes).replace(",", " ").split() if s)
    key_id = context.get("key_id")
    return Tenant(
        internal_id=internal_id, namespace_id=namespace_id, key_id=str(key_id) if key_id else None, scopes=scope_set
    )
