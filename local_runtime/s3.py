"""The local S3 of `make run`: moto's S3 server (the same engine as the fast tests, maintained,
spoken to by botocore unchanged, presigned URLs included), made durable: every object a
request writes, copies, tags or deletes is mirrored to `<state>/s3/` (its bytes, and a JSON
sidecar with its type, metadata and tags), and loaded back on start, so attachments survive a
restart. The template's lifecycle rules are applied here too (`sweep`): pending objects older
than their rule's days are deleted, as S3 would.

Why moto: MinIO, Versity, S3Mock and the like are not installable from the registries this
project builds from (PyPI, npm, Debian); s3rver (npm) keeps files on disk but is unmaintained
since 2021; moto is maintained and already a dependency. It keeps objects in memory, which
is what this module adds to.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

ACCOUNT_ID = "123456789012"
_MUTATING = {"PUT", "POST", "DELETE"}


class LocalS3:
    def __init__(self, state_dir: Path | None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = state_dir / "s3" if state_dir is not None else None
        self.host = host
        self.port = port
        self._server: Any = None
        self._lock = threading.Lock()

    # --- serving -------------------------------------------------------------------------------

    def start(self) -> str:
        from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        app = create_backend_app("s3")  # S3 only, whatever the request's host
        self._server = make_server(
            self.host, self.port, self._mirroring(app), threaded=True, request_handler=MotoRequestHandler
        )
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True, name="local-s3").start()
        self._load()
        return self.endpoint

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )

    def _mirroring(self, app: Any) -> Any:
        def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
            result = app(environ, start_response)
            if self.root is not None and environ.get("REQUEST_METHOD") in _MUTATING:
                # the response is complete (moto answers whole bodies): mirror what it changed
                path = unquote(environ.get("PATH_INFO", "")).lstrip("/")
                bucket, _, key = path.partition("/")
                bulk_delete = environ.get("REQUEST_METHOD") == "POST" and "delete" in environ.get("QUERY_STRING", "")
                if bucket:
                    with self._lock:
                        if key:
                            self._mirror(bucket, key)
                        elif bulk_delete:
                            self._mirror_bucket(bucket)
            return result

        return wsgi

    # --- the files -----------------------------------------------------------------------------

    def _backend(self) -> Any:
        from moto.s3.models import s3_backends

        return s3_backends[ACCOUNT_ID]["aws"]

    def _paths(self, bucket: str, key: str) -> tuple[Path, Path]:
        assert self.root is not None
        safe = base64.urlsafe_b64encode(key.encode()).decode()  # any key, one flat file name
        folder = self.root / bucket
        return folder / f"{safe}.data", folder / f"{safe}.json"

    def _mirror(self, bucket: str, key: str) -> None:
        backend = self._backend()
        data_path, meta_path = self._paths(bucket, key)
        found = backend.buckets.get(bucket)
        stored = found.keys.get(key) if found is not None else None
        if stored is None:
            data_path.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
            return
        data_path.parent.mkdir(parents=True, exist_ok=True)
        tags = backend.get_object_tagging(stored).get("Tags", [])
        meta = {
            "key": key,
            "content_type": stored.metadata.get("Content-Type"),
            "metadata": {name: value for name, value in stored.metadata.items() if name.startswith("x-amz-meta-")},
            "tags": {tag["Key"]: tag["Value"] for tag in tags},
            "last_modified": stored.last_modified.timestamp(),
        }
        data_path.write_bytes(stored.value)
        meta_path.write_text(json.dumps(meta))

    def _mirror_bucket(self, bucket: str) -> None:
        """After a bulk request (DeleteObjects): the files of deleted keys go."""
        assert self.root is not None
        backend = self._backend()
        found = backend.buckets.get(bucket)
        folder = self.root / bucket
        if found is None:
            return
        folder.mkdir(parents=True, exist_ok=True)
        on_disk = {json.loads(p.read_text())["key"]: p for p in folder.glob("*.json")}
        for key in on_disk.keys() - set(found.keys.keys()):
            self._mirror(bucket, key)

    def _load(self) -> None:
        """Buckets and objects from the files, as they were."""
        if self.root is None or not self.root.exists():
            return
        client = self.client()
        backend = self._backend()
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if folder.name not in backend.buckets:
                client.create_bucket(Bucket=folder.name)
            for meta_path in folder.glob("*.json"):
                meta = json.loads(meta_path.read_text())
                data_path = meta_path.with_suffix(".data")
                if not data_path.exists():
                    continue
                client.put_object(
                    Bucket=folder.name,
                    Key=meta["key"],
                    Body=data_path.read_bytes(),
                    ContentType=meta["content_type"] or "application/octet-stream",
                    Metadata={name.removeprefix("x-amz-meta-"): value for name, value in meta["metadata"].items()},
                    Tagging="&".join(f"{k}={v}" for k, v in meta["tags"].items()),
                )
                stored = backend.buckets[folder.name].keys[meta["key"]]
                stored.last_modified = datetime.fromtimestamp(meta["last_modified"], tz=UTC)
                self._mirror(folder.name, meta["key"])

    # --- lifecycle -----------------------------------------------------------------------------

    def sweep(self, now: float | None = None) -> int:
        """Applies each bucket's lifecycle expiration rules (by tag or prefix) as S3 does:
        objects older than the rule's days are deleted. Returns how many."""
        now = time.time() if now is None else now
        client = self.client()
        deleted = 0
        for bucket in client.list_buckets().get("Buckets", []):
            name = bucket["Name"]
            try:
                rules = client.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
            except client.exceptions.ClientError:
                continue
            for rule in rules:
                days = (rule.get("Expiration") or {}).get("Days")
                if rule.get("Status") != "Enabled" or not days:
                    continue
                wanted = (rule.get("Filter") or {}).get("Tag")
                prefix = (rule.get("Filter") or {}).get("Prefix", "")
                for page in client.get_paginator("list_objects_v2").paginate(Bucket=name, Prefix=prefix):
                    for entry in page.get("Contents", []):
                        if now - entry["LastModified"].timestamp() < days * 86400:
                            continue
                        if wanted is not None:
                            tags = client.get_object_tagging(Bucket=name, Key=entry["Key"])["TagSet"]
                            if {"Key": wanted["Key"], "Value": wanted["Value"]} not in tags:
                                continue
                        client.delete_object(Bucket=name, Key=entry["Key"])
                        deleted += 1
        return deleted
