"""Which scope each route needs: read by the authorizer (to build its policy) and by every
handler (to check the context it was handed), so the two can never disagree."""

from __future__ import annotations

from typing import NamedTuple

from agent_sessions.identity.api_keys import READ_SCOPE, WRITE_SCOPE


class RouteScope(NamedTuple):
    method: str
    resource: str  # API Gateway's resource path, `{session_id}` style
    scope: str

    @property
    def policy_path(self) -> str:
        """The resource as an execute-api ARN path: path parameters become wildcards."""
        parts = ["*" if part.startswith("{") else part for part in self.resource.split("/")]
        return "/".join(parts)


ROUTE_SCOPES: tuple[RouteScope, ...] = (
    RouteScope("POST", "/v1/agents/sessions", WRITE_SCOPE),
    RouteScope("GET", "/v1/agents/sessions", READ_SCOPE),
    RouteScope("POST", "/v1/agents/sessions/list", READ_SCOPE),
    RouteScope("GET", "/v1/agents/sessions/{session_id}", READ_SCOPE),
    RouteScope("PATCH", "/v1/agents/sessions/{session_id}", WRITE_SCOPE),
    RouteScope("PUT", "/v1/agents/sessions/{session_id}", WRITE_SCOPE),
    RouteScope("DELETE", "/v1/agents/sessions/{session_id}", WRITE_SCOPE),
    RouteScope("POST", "/v1/agents/sessions/{session_id}/messages", WRITE_SCOPE),
    RouteScope("GET", "/v1/agents/sessions/{session_id}/history", READ_SCOPE),
    RouteScope("DELETE", "/v1/agents/sessions/{session_id}/messages", WRITE_SCOPE),
    RouteScope("GET", "/v1/agents/sessions/{session_id}/context", READ_SCOPE),
    RouteScope("POST", "/v1/agents/sessions/{session_id}/fork", WRITE_SCOPE),
    RouteScope("POST", "/v1/agents/sessions/{session_id}/feedback", WRITE_SCOPE),
    RouteScope("PATCH", "/v1/agents/sessions/{session_id}/messages/{seq}", WRITE_SCOPE),
    RouteScope("DELETE", "/v1/agents/sessions", WRITE_SCOPE),
    RouteScope("POST", "/v1/agents/sessions/{session_id}/attachments", WRITE_SCOPE),
    RouteScope("GET", "/v1/agents/sessions/{session_id}/attachments/{attachment_id}", READ_SCOPE),
    RouteScope("GET", "/v1/agents/sessions/{session_id}/export", READ_SCOPE),
    RouteScope("GET", "/v1/agents/sessions/export", READ_SCOPE),
    RouteScope("POST", "/v1/agents/sessions/import", WRITE_SCOPE),
    RouteScope("POST", "/v1/agents/sessions/import/uploads", WRITE_SCOPE),
)

_BY_ROUTE = {(route.method, route.resource): route.scope for route in ROUTE_SCOPES}


def required_scope(method: str, resource: str) -> str | None:
    """The scope a route needs; None for a route this table does not know (public routes)."""
    return _BY_ROUTE.get((method.upper(), resource))
