"""What every function builds once per cold start: settings, store, service.

Each factory imports its service when first called, so a function imports only the
services it uses (the expiry job's and the stream consumer's code stays out of the API
functions' cold start).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from agent_sessions.settings import get_settings
from agent_sessions.snapstart import prepare_snapshot

if TYPE_CHECKING:
    from agent_sessions.service.attachments import ObjectService
    from agent_sessions.service.changes import SessionChanges
    from agent_sessions.service.conversation import ConversationService
    from agent_sessions.service.expiry import ExpiryJob
    from agent_sessions.service.messages import MessageService
    from agent_sessions.service.sessions import SessionService
    from agent_sessions.service.transfer import TransferService


prepare_snapshot()


@lru_cache(maxsize=1)
def session_service() -> SessionService:
    from agent_sessions.service.sessions import SessionService
    from agent_sessions.store.sessions import SessionStore

    settings = get_settings()
    return SessionService(SessionStore(settings), settings)


def reset() -> None:
    """Forget cached settings, clients and services (tests that change the environment)."""
    from agent_sessions.publisher import events_client
    from agent_sessions.settings import get_settings as settings_cache
    from agent_sessions.store.client import reset as reset_client
    from agent_sessions.store.objects import reset as reset_objects
    from agent_sessions.store.shards import forget as forget_shard_counts

    session_service.cache_clear()
    message_service.cache_clear()
    conversation_service.cache_clear()
    expiry_job.cache_clear()
    session_changes.cache_clear()
    events_client.cache_clear()
    settings_cache.cache_clear()
    object_service.cache_clear()
    transfer_service.cache_clear()
    reset_client()
    reset_objects()
    forget_shard_counts()


@lru_cache(maxsize=1)
def message_service() -> MessageService:
    from agent_sessions.service.messages import MessageService
    from agent_sessions.store.messages import MessageStore

    settings = get_settings()
    return MessageService(session_service(), MessageStore(settings), settings, object_service())


@lru_cache(maxsize=1)
def expiry_job() -> ExpiryJob:
    from agent_sessions.service.expiry import ExpiryJob

    return ExpiryJob(session_service().store, get_settings())


@lru_cache(maxsize=1)
def session_changes() -> SessionChanges:
    from agent_sessions.service.changes import SessionChanges

    return SessionChanges(session_service().store, get_settings())


@lru_cache(maxsize=1)
def conversation_service() -> ConversationService:
    from agent_sessions.service.conversation import ConversationService
    from agent_sessions.store.conversation import ConversationStore

    settings = get_settings()
    return ConversationService(session_service(), ConversationStore(settings), settings, object_service())


@lru_cache(maxsize=1)
def transfer_service() -> TransferService:
    from agent_sessions.service.transfer import TransferService

    return TransferService(conversation_service())


@lru_cache(maxsize=1)
def object_service() -> ObjectService:
    from agent_sessions.service.attachments import ObjectService

    return ObjectService(get_settings())
