"""The presigned upload of an export file too large for an import request (DESIGN §13).

Apart from service/transfer.py so that the function issuing the ticket imports only the
object store: the transfer service pulls in the conversation and message services, ~80 ms of
a cold start this function never uses.
"""

from __future__ import annotations

from agent_sessions import clock
from agent_sessions.ids import new_content_id
from agent_sessions.models.transfer import ImportUploadRequest, ImportUploadTicket
from agent_sessions.service.attachments import ObjectService
from agent_sessions.store import keys
from agent_sessions.tenancy import Tenant

EXPORT_MIME_TYPE = "application/x-ndjson"


def import_upload_key(tenant: Tenant, upload_id: str) -> str:
    """Under the namespace's `import` word, which no session id may take."""
    return keys.object_key(tenant.namespace_id, "import", upload_id)


def create_import_upload(objects: ObjectService, tenant: Tenant, request: ImportUploadRequest) -> ImportUploadTicket:
    """A presigned PUT for an export file, pending: deleted within a day unless an import
    reads it first (and deletes it)."""
    upload_id = "imp_" + new_content_id()[4:]
    url, headers, expires_ms = objects.store.upload_url(
        import_upload_key(tenant, upload_id),
        size=request.size,
        sha256=request.sha256,
        mime_type=EXPORT_MIME_TYPE,
        name=f"{upload_id}.ndjson",
    )
    return ImportUploadTicket(
        upload_id=upload_id,
        upload_url=url,
        upload_method="PUT",
        upload_headers=headers,
        expires_at=clock.to_iso(expires_ms),
    )
