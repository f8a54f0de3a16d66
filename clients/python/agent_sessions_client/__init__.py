"""Python client for the Agent Sessions API.

from agent_sessions_client import AgentSessionsClient

client = AgentSessionsClient(base_url="http://127.0.0.1:3000", api_key="sk_…", namespace="dev")
session = client.create_session(user_id="user-42")
client.append_message(session.session_id, "Hello!")
"""

from agent_sessions_client import errors, models
from agent_sessions_client._requests import RetryPolicy
from agent_sessions_client.client import AgentSessionsClient, AsyncAgentSessionsClient
from agent_sessions_client.errors import AgentSessionsError

__all__ = ["AgentSessionsClient", "AgentSessionsError", "AsyncAgentSessionsClient", "RetryPolicy", "errors", "models"]
