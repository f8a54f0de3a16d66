"""The attachments bucket: attachments and large contents, one S3 object each (DESIGN §11).

S3 and the table cannot be written in one transaction, so every object is written *pending*
(tagged `agent-sessions-state=pending`) before the table's transaction that names it, and
settled (the tag removed) after, by the stream consumer on the message's INSERT (which
retries until done). The bucket's lifecycle rule deletes pending objects after a day: an
object whose transaction failed, or an upload no message named, never outlives that. A message
is removed before its objects (the stream's cascade deletes them), so a reader never gets a
reference to a missing object.

The client is botocore's (as for DynamoDB, store/client.py), created once and only when a
function first touches an object: a function whose messages hold no attachment and no large
content never builds it. `AWS_ENDPOINT_URL_S3` points it at any S3.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote

from botocore.exceptions import ClientError

from agent_sessions import clock
from agent_sessions.settings import Settings

PENDING_TAG_KEY = "agent-sessions-state"
PENDING_TAG = f"{PENDING_TAG_KEY}=pending"
# DeleteObjects takes at most 1,000 keys per request.
DELETE_BATCH = 1000
READ_CHUNK = 1024 * 1024
_MISSING = ("404", "NoSuchKey", "NotFound")


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    mime_type: str
    name: str | None
    sha256: str | None  # lowercase hex, as the writer declared it
    declared_size: int | None  # as an upload declared it
    checksum_sha256: str | None  # S3's own checksum (base64), when the upload sent one


@lru_cache(maxsize=1)
def s3() -> Any:
    from botocore.config import Config
    from botocore.session import get_session

    # Path-style URLs when an endpoint is given (a local S3 on 127.0.0.1 has no bucket host
    # names); AWS's own virtual-host style otherwise. SigV4 for presigned URLs.
    local = bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=2,
        read_timeout=30,
        signature_version="s3v4",
        s3={"addressing_style": "path" if local else "virtual"},
    )
    return get_session().create_client("s3", config=config)


@lru_cache(maxsize=1)
def object_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=16, thread_name_prefix="s3")


def reset() -> None:
    s3.cache_clear()


def missing(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _MISSING


def sha256_base64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


class ObjectStore:
    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.attachments_bucket
        self.url_seconds = settings.object_url_seconds

    # --- writes ------------------------------------------------------------------------------

    def put(self, key: str, body: bytes, *, mime_type: str, name: str | None, sha256: str) -> None:
        """One PUT, pending. The checksum makes S3 refuse bytes changed on the way."""
        metadata = {"sha256": sha256}
        if name is not None:
            metadata["name"] = quote(name, safe="")
        s3().put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType=mime_type,
            Metadata=metadata,
            ChecksumSHA256=sha256_base64(sha256),
            Tagging=PENDING_TAG,
        )

    def copy(self, source_key: str, key: str) -> None:
        """A server-side copy (a fork's), pending like any new object."""
        s3().copy_object(
            Bucket=self.bucket,
            Key=key,
            CopySource={"Bucket": self.bucket, "Key": source_key},
            MetadataDirective="COPY",
            TaggingDirective="REPLACE",
            Tagging=PENDING_TAG,
        )

    def settle(self, key: str) -> None:
        """The object is named by a committed message: the lifecycle rule must leave it."""
        try:
            s3().delete_object_tagging(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if not missing(error):  # removed since (a rewind, a purge): nothing to keep
                raise

    def delete(self, keys: Iterable[str]) -> None:
        pending = list(keys)
        for start in range(0, len(pending), DELETE_BATCH):
            chunk = pending[start : start + DELETE_BATCH]
            response = s3().delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True}
            )
            errors = [e for e in response.get("Errors", []) if e.get("Code") not in _MISSING]
            if errors:
                raise RuntimeError(f"S3 kept {len(errors)} objects: {errors[0]}")

    def delete_prefix(self, prefix: str) -> int:
        """Every object under `prefix` (a purged session's): a List, then Deletes by 1,000."""
        deleted = 0
        paginator = s3().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys = [entry["Key"] for entry in page.get("Contents", [])]
            if keys:
                self.delete(keys)
                deleted += len(keys)
        return deleted

    # --- reads -------------------------------------------------------------------------------

    def head(self, key: str) -> ObjectInfo | None:
        try:
            response = s3().head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as error:
            if missing(error):
                return None
            raise
        metadata = response.get("Metadata") or {}
        return ObjectInfo(
            size=int(response["ContentLength"]),
            mime_type=str(response.get("ContentType") or "application/octet-stream"),
            name=unquote(metadata["name"]) if "name" in metadata else None,
            sha256=metadata.get("sha256"),
            declared_size=int(metadata["size"]) if str(metadata.get("size", "")).isdigit() else None,
            checksum_sha256=response.get("ChecksumSHA256"),
        )

    def is_pending(self, key: str) -> bool:
        """Whether no committed message names the object yet (its pending tag is still on)."""
        tags = s3().get_object_tagging(Bucket=self.bucket, Key=key).get("TagSet", [])
        return any(tag["Key"] == PENDING_TAG_KEY for tag in tags)

    def digest(self, key: str) -> tuple[int, str] | None:
        """The object's size and SHA-256 (hex), read through: for an S3 that did not record a
        checksum of an upload. None: no such object."""
        try:
            body = s3().get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as error:
            if missing(error):
                return None
            raise
        hasher = hashlib.sha256()
        size = 0
        while chunk := body.read(READ_CHUNK):
            hasher.update(chunk)
            size += len(chunk)
        return size, hasher.hexdigest()

    def get_bytes(self, key: str) -> bytes:
        return bytes(s3().get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def download_url(self, key: str, *, name: str | None, mime_type: str) -> tuple[str, int]:
        """A presigned GET of one object, and when it expires (epoch ms). Signed locally: no
        request."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "ResponseContentType": mime_type}
        if name:
            params["ResponseContentDisposition"] = f"attachment; filename*=UTF-8''{quote(name, safe='')}"
        url = s3().generate_presigned_url("get_object", Params=params, ExpiresIn=self.url_seconds)
        return str(url), clock.now_ms() + self.url_seconds * 1000

    def upload_url(
        self, key: str, *, size: int, sha256: str, mime_type: str, name: str
    ) -> tuple[str, dict[str, str], int]:
        """A presigned PUT bound to this size, checksum, type, name and the pending tag: the
        headers returned are signed and must be sent as given."""
        headers = {
            "Content-Length": str(size),
            "Content-Type": mime_type,
            "x-amz-checksum-sha256": sha256_base64(sha256),
            "x-amz-meta-name": quote(name, safe=""),
            "x-amz-meta-sha256": sha256,
            "x-amz-meta-size": str(size),
            "x-amz-tagging": PENDING_TAG,
        }
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "ContentLength": size,
            "ContentType": mime_type,
            "ChecksumSHA256": headers["x-amz-checksum-sha256"],
            "Metadata": {"name": headers["x-amz-meta-name"], "sha256": sha256, "size": str(size)},
            "Tagging": PENDING_TAG,
        }
        url = s3().generate_presigned_url("put_object", Params=params, ExpiresIn=self.url_seconds)
        return str(url), headers, clock.now_ms() + self.url_seconds * 1000
