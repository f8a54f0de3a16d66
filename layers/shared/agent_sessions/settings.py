"""Configuration, read once per cold start from the environment."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table_name: str = Field(default="agent-sessions", min_length=3, max_length=255)
    # Organizations, namespaces and API keys: read by the authorizer, written by the admin command.
    identities_table_name: str = Field(default="agent-sessions-identities", min_length=3, max_length=255)
    idle_after_seconds: int = Field(default=1800, ge=1)
    default_ttl_seconds: int = Field(default=30 * 86400, ge=1)
    max_ttl_seconds: int = Field(default=365 * 86400, ge=1)
    terminated_retention_seconds: int = Field(default=7 * 86400, ge=0)
    idempotency_ttl_seconds: int = Field(default=86400, ge=60)
    # Signs pagination cursors. In AWS it comes from a generated secret (see template.yaml);
    # the default only serves tests and local runs.
    cursor_signing_key: str = Field(default="local-development-cursor-key", min_length=16)
    # Bound on how many matches a list may sort in memory (filters no index orders).
    list_sort_bound: int = Field(default=1000, ge=1)
    max_list_offset: int = Field(default=10_000, ge=0, le=10_000)  # the document states 10,000
    # Where state changes are published (EventBridge); empty: not published.
    event_bus_name: str = Field(default="", max_length=256)
    # The expiry job stops this long before its timeout and resumes on its next run.
    expiry_safety_ms: int = Field(default=5_000, ge=0)
    # Attachments and large contents (DESIGN §11). `AWS_ENDPOINT_URL_S3`, honoured by botocore
    # itself, points the functions at any S3 (the local one of `make run`).
    attachments_bucket: str = Field(default="agent-sessions-attachments", min_length=3, max_length=63)
    # How long a presigned URL (download or upload) stays valid: at most 15 minutes.
    object_url_seconds: int = Field(default=900, ge=60, le=900)
    # Content longer than this (UTF-8 bytes) is kept in S3, the message item keeps a reference
    # (the measured crossover: docs/capacity.md, "Where content is kept").
    content_inline_bytes: int = Field(default=16 * 1024, ge=1024, le=200 * 1024)
    # botocore's own variables, read here for the console's Content-Security-Policy (where a
    # presigned URL points): the S3 endpoint when one is set, else the Lambda's region.
    aws_endpoint_url_s3: str = Field(default="", max_length=2048)
    aws_region: str = Field(default="us-east-1", max_length=64)

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        return cls.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environ()
