"""What every function builds once per cold start: settings, store, service."""

from __future__ import annotations

from functools import lru_cache

from agent_sessions.service.messages import MessageService
from agent_sessions.service.sessions import SessionService
from agent_sessions.settings import get_settings
from agent_sessions.store.messages import MessageStore
from agent_sessions.store.sessions import SessionStore


@lru_cache(maxsize=1)
def session_service() -> SessionService:
    settings = get_settings()
    return SessionService(SessionStore(settings), settings)


def reset() -> None:
    """Forget cached settings, clients and services (tests that change the environment)."""
    from agent_sessions.settings import get_settings as settings_cache
    from agent_sessions.store.client import reset as reset_client

    session_service.cache_clear()
    message_service.cache_clear()
    settings_cache.cache_clear()
    reset_client()


@lru_cache(maxsize=1)
def message_service() -> MessageService:
    settings = get_settings()
    return MessageService(session_service(), MessageStore(settings), settings)
