"""State changes, published to the EventBridge bus named by EVENT_BUS_NAME.

`detail` (documented in README): event_id (the stream record's id: at-least-once delivery,
deduplicate on it), session_id, namespace_id, internal_id, user_id, agent_id, status,
message_count, created_at, updated_at, last_activity_at, expires_at, terminated_at,
occurred_at. Never message content, user_memory, agent_config or metadata.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from agent_sessions import clock
from agent_sessions.models.items import SessionItem

SOURCE = "agent-sessions"
CREATED = "session.created"
TERMINATED = "session.terminated"
EXPIRED = "session.expired"
PURGED = "session.purged"


class PublishFailed(Exception):
    """EventBridge refused the entry; the stream record is retried."""


@lru_cache(maxsize=1)
def events_client() -> Any:
    # botocore's session, like the DynamoDB client's (store/client.py): the layer ships
    # botocore, not boto3, so every client is made by the botocore the tests ran.
    from botocore.config import Config
    from botocore.session import get_session

    return get_session().create_client("events", config=Config(retries={"mode": "standard", "max_attempts": 3}))


def event_detail(session: SessionItem, event_id: str, occurred_ms: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "session_id": session.session_id,
        "namespace_id": session.namespace_id,
        "internal_id": session.internal_id,
        "user_id": session.user_id,
        "agent_id": session.agent_id,
        "status": session.status,
        "message_count": session.message_count,
        "created_at": clock.to_iso(session.created_ms),
        "updated_at": clock.to_iso(session.updated_ms),
        "last_activity_at": clock.to_iso(session.last_activity_ms),
        "expires_at": clock.to_iso(session.expires_ms),
        "terminated_at": clock.to_iso(session.terminated_ms) if session.terminated_ms is not None else None,
        "occurred_at": clock.to_iso(occurred_ms),
    }


def publish(bus_name: str, detail_type: str, detail: dict[str, Any]) -> None:
    if not bus_name:
        return
    response = events_client().put_events(
        Entries=[
            {
                "Source": SOURCE,
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
                "EventBusName": bus_name,
                "Resources": [],
            }
        ]
    )
    if response.get("FailedEntryCount"):
        raise PublishFailed(json.dumps(response.get("Entries", []))[:500])
