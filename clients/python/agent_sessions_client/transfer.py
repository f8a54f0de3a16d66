"""Moving data in and out of a namespace (DESIGN §13), through the public API with one key:

    python -m agent_sessions_client.transfer export --out DIR [--user U] [--by-reference]
    python -m agent_sessions_client.transfer import --in DIR [--new-ids]
    python -m agent_sessions_client.transfer import-from openai-sqlite --db FILE [--session ID ...]
    python -m agent_sessions_client.transfer import-from langchain-dynamodb --table T [--key-name K] [--endpoint-url U]
    python -m agent_sessions_client.transfer import-from adk-database --url sqlite+aiosqlite:///sessions.db

The namespace, URL and key are the client's (`AGENT_SESSIONS_NAMESPACE`, `AGENT_SESSIONS_URL`,
`AGENT_SESSIONS_API_KEY`, or `--namespace`, `--url`, `--api-key`). It goes through the API, not
the table, so scopes and tenancy hold as for any client and every import is the API's
all-or-nothing import. Every command can be run again after a crash and carries on where it
stopped, ending with exact counts:
- `export` writes one `<session id>.ndjson` per session (written whole, then renamed into
  place); a file already there and complete is kept;
- `import` counts a session already there with as many messages as its file as imported by
  an earlier run, and sends each other file with an Idempotency-Key made from its bytes (a
  retry replays; with `--new-ids`, where ids cannot be matched, within a day);
- `import-from` reads another store with its own framework — the OpenAI Agents SDK's
  `SQLiteSession`, LangChain's `DynamoDBChatMessageHistory`, Google ADK's
  `DatabaseSessionService` — and writes each session through this package's adapter for that
  framework, so the adapter then returns what the framework returned; a session already
  partly copied gets what it lacks.
A progress bar is drawn on a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from agent_sessions_client.client import AgentSessionsClient, AsyncAgentSessionsClient
from agent_sessions_client.errors import ConflictError, NotFoundError


@dataclass
class Counts:
    done: int = 0  # written by this run
    already: int = 0  # found done by an earlier run
    messages: int = 0
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"done": self.done, "already": self.already, "messages": self.messages, "failed": self.failed}


class Progress:
    """A bar on a terminal, nothing otherwise."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total, self.label, self.count = total, label, 0
        self.stream = stream or sys.stderr
        self.shown = self.stream.isatty()

    def step(self) -> None:
        self.count += 1
        if self.shown:
            width = 30
            filled = width * self.count // max(self.total, 1)
            self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.count}/{self.total}")
            if self.count >= self.total:
                self.stream.write("\n")
            self.stream.flush()


def file_name(session_id: str) -> str:
    return quote(session_id, safe="") + ".ndjson"


def _complete(path: Path) -> bool:
    """Whether an export file holds the session's line and as many message lines as it says."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        return bool(lines) and json.loads(lines[0]).get("message_count") == len(lines) - 1
    except (OSError, ValueError):
        return False


def export_namespace(
    client: AgentSessionsClient, out: Path, *, user_id: str | None = None, inline: bool = True
) -> Counts:
    out.mkdir(parents=True, exist_ok=True)
    filters: dict[str, Any] = {"user_id": user_id} if user_id else {}
    sessions = list(client.iter_sessions(sort="created_at", order="asc", **filters))
    counts = Counts()
    progress = Progress(len(sessions), "export")
    for session in sessions:
        target = out / file_name(session.session_id)
        if _complete(target):
            counts.already += 1
        else:
            try:
                text = client.export_session(session.session_id, inline_attachments=inline)
            except NotFoundError:  # deleted since the listing
                progress.step()
                continue
            partial = target.with_suffix(".partial")
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, target)  # whole, or not there
            counts.done += 1
        counts.messages += session.message_count
        progress.step()
    return counts


def import_directory(client: AgentSessionsClient, directory: Path, *, new_ids: bool = False) -> Counts:
    files = sorted(directory.glob("*.ndjson"))
    counts = Counts()
    progress = Progress(len(files), "import")
    for path in files:
        text = path.read_text(encoding="utf-8")
        head = json.loads(text.splitlines()[0])
        key = "transfer-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:48] + ("-new" if new_ids else "")
        if not new_ids and _there(client, head):  # imported by an earlier run
            counts.already += 1
            counts.messages += int(head["message_count"])
            progress.step()
            continue
        try:
            client.import_session(text, new_id=new_ids, idempotency_key=key)
            counts.done += 1
        except ConflictError as error:
            if error.code != "session_exists":
                counts.failed.append(f"{path.name}: {error.message}")
                progress.step()
                continue
            # imported by an earlier run whose key has expired, or by another way: the same
            # session if it holds as many messages as the file
            there = client.get_session(head["session_id"])
            if there.message_count != head["message_count"]:
                counts.failed.append(f"{path.name}: session {head['session_id']} exists and differs")
                progress.step()
                continue
            counts.already += 1
        counts.messages += int(head["message_count"])
        progress.step()
    return counts


def _there(client: AgentSessionsClient, head: dict[str, Any]) -> bool:
    try:
        return bool(client.get_session(head["session_id"]).message_count == head["message_count"])
    except NotFoundError:
        return False


def openai_sqlite_sessions(db: Path, sessions_table: str = "agent_sessions") -> list[str]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute(f"SELECT session_id FROM {sessions_table} ORDER BY created_at, session_id")  # noqa: S608
        return [str(row[0]) for row in rows]


async def import_openai_sqlite(
    client: AsyncAgentSessionsClient, db: Path, session_ids: Sequence[str] | None = None
) -> Counts:
    """Each SDK session read by the SDK, written by the adapter; one already partly copied
    gets the items it lacks (each item is one message of the store session)."""
    from agents import SQLiteSession

    from agent_sessions_client.integrations.openai_agents import AgentSessionsSession

    wanted = list(session_ids) if session_ids else openai_sqlite_sessions(db)
    counts = Counts()
    progress = Progress(len(wanted), "import-from openai-sqlite")
    for session_id in wanted:
        items = await SQLiteSession(session_id, db).get_items()
        try:
            have = (await client.get_session(session_id)).message_count
        except NotFoundError:
            have = 0
        if have > len(items):
            counts.failed.append(f"{session_id}: the store holds more messages ({have}) than the source ({len(items)})")
        elif have == len(items) and have:
            counts.already += 1
        else:
            await AgentSessionsSession(session_id, client=client).add_items(items[have:])
            counts.done += 1
        counts.messages += len(items)
        progress.step()
    return counts


def import_langchain_dynamodb(
    client: AgentSessionsClient,
    table: str,
    *,
    key_name: str = "SessionId",
    endpoint_url: str | None = None,
    session_ids: Sequence[str] | None = None,
) -> Counts:
    """Each history of a `DynamoDBChatMessageHistory` table read by LangChain, written by
    this package's `AgentSessionsChatMessageHistory` (a history id is a store session id); one
    already partly copied gets the messages it lacks."""
    import warnings

    import boto3

    with warnings.catch_warnings():  # langchain-community warns of its own sunset on import
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.chat_message_histories import DynamoDBChatMessageHistory

    from agent_sessions_client.integrations.langchain import AgentSessionsChatMessageHistory

    if session_ids:
        wanted = list(session_ids)
    else:
        wanted = []
        scan: dict[str, Any] = {
            "TableName": table,
            "ProjectionExpression": "#k",
            "ExpressionAttributeNames": {"#k": key_name},
        }
        dynamodb = boto3.client("dynamodb", endpoint_url=endpoint_url)
        while True:
            page = dynamodb.scan(**scan)
            wanted += [str(item[key_name]["S"]) for item in page["Items"] if "S" in item.get(key_name, {})]
            if "LastEvaluatedKey" not in page:
                break
            scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        wanted.sort()
    counts = Counts()
    progress = Progress(len(wanted), "import-from langchain-dynamodb")
    for session_id in wanted:
        source = DynamoDBChatMessageHistory(
            table_name=table, session_id=session_id, endpoint_url=endpoint_url, primary_key_name=key_name
        )
        messages = source.messages
        target = AgentSessionsChatMessageHistory(session_id, client=client)
        have = len(target.messages)
        if have > len(messages):
            counts.failed.append(
                f"{session_id}: the store holds more messages ({have}) than the source ({len(messages)})"
            )
        elif have == len(messages) and have:
            counts.already += 1
        else:
            target.add_messages(messages[have:])
            counts.done += 1
        counts.messages += len(messages)
        progress.step()
    return counts


async def import_adk_database(client: AsyncAgentSessionsClient, db_url: str) -> Counts:
    """Every session of an ADK `DatabaseSessionService` database, read by ADK, written by this
    package's `AgentSessionsService`: the session with its initial state (its state less what
    its events set), then each event it lacks (their deltas rebuild the state), then each app's
    and user's shared state as the source holds it last."""
    from google.adk.sessions.database_session_service import DatabaseSessionService
    from sqlalchemy import text

    from agent_sessions_client.integrations.adk import AgentSessionsService

    source = DatabaseSessionService(db_url)
    target = AgentSessionsService(client)
    async with source.db_engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT DISTINCT app_name, user_id FROM sessions ORDER BY app_name, user_id")
        )
        pairs = [(str(app), str(user)) for app, user in rows]
    listed = []
    for app_name, user_id in pairs:
        found = await source.list_sessions(app_name=app_name, user_id=user_id)
        listed += [(app_name, user_id, session.id) for session in found.sessions]
    counts = Counts()
    progress = Progress(len(listed), "import-from adk-database")
    shared: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for app_name, user_id, session_id in listed:
        whole = await source.get_session(app_name=app_name, user_id=user_id, session_id=session_id)
        assert whole is not None
        set_by_events = {
            key
            for event in whole.events
            if event.actions and event.actions.state_delta
            for key in event.actions.state_delta
        }
        mine = await target.get_session(app_name=app_name, user_id=user_id, session_id=session_id)
        if mine is None:
            initial = {
                k: v
                for k, v in whole.state.items()
                if not k.startswith(("app:", "user:", "temp:")) and k not in set_by_events
            }
            mine = await target.create_session(app_name=app_name, user_id=user_id, state=initial, session_id=session_id)
        have = len(mine.events)
        if have > len(whole.events):
            counts.failed.append(f"{app_name}/{user_id}/{session_id}: the store holds more events than the source")
        elif have == len(whole.events) and have:
            counts.already += 1
        else:
            for event in whole.events[have:]:
                await target.append_event(mine, event)
            counts.done += 1
        counts.messages += len(whole.events)
        scoped = shared.setdefault((app_name, user_id), {"app": {}, "user": {}, "session": {}})
        for key, value in whole.state.items():
            if key.startswith("app:"):
                scoped["app"][key[4:]] = value
            elif key.startswith("user:"):
                scoped["user"][key[5:]] = value
        progress.step()
    for (app_name, user_id), deltas in shared.items():  # the shared state as the source has it now
        await target._write_scoped(app_name, user_id, deltas)
    await source.close()
    return counts


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agent_sessions_client.transfer", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--url", help="default: $AGENT_SESSIONS_URL")
    parser.add_argument("--api-key", help="default: $AGENT_SESSIONS_API_KEY")
    parser.add_argument("--namespace", help="default: $AGENT_SESSIONS_NAMESPACE")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="every session of the namespace (or of one user) to files")
    export.add_argument("--out", required=True, type=Path)
    export.add_argument("--user", help="only this user's sessions")
    export.add_argument("--by-reference", action="store_true", help="attachments as URLs, not bytes")
    imported = commands.add_parser("import", help="a directory of export files into the namespace")
    imported.add_argument("--in", dest="directory", required=True, type=Path)
    imported.add_argument("--new-ids", action="store_true", help="fresh session ids")
    source = commands.add_parser("import-from", help="another store's sessions")
    kinds = source.add_subparsers(dest="source", required=True)
    openai = kinds.add_parser("openai-sqlite", help="the OpenAI Agents SDK's SQLiteSession database")
    openai.add_argument("--db", required=True, type=Path)
    openai.add_argument("--session", action="append", help="a session id (default: all)")
    langchain = kinds.add_parser("langchain-dynamodb", help="a LangChain DynamoDBChatMessageHistory table")
    langchain.add_argument("--table", required=True)
    langchain.add_argument("--key-name", default="SessionId", help="the table's partition key (default SessionId)")
    langchain.add_argument("--endpoint-url", help="a DynamoDB endpoint (default: AWS)")
    langchain.add_argument("--session", action="append", help="a history's session id (default: all)")
    adk = kinds.add_parser("adk-database", help="a Google ADK DatabaseSessionService database")
    adk.add_argument(
        "--url", dest="db_url", required=True, help="its SQLAlchemy URL, e.g. sqlite+aiosqlite:///sessions.db"
    )
    return parser


def run(argv: Sequence[str]) -> dict[str, Any]:
    args = _parser().parse_args(argv)
    if args.command == "import-from" and args.source == "langchain-dynamodb":
        with AgentSessionsClient(args.url, args.api_key, args.namespace) as sync_client:
            counts = import_langchain_dynamodb(
                sync_client,
                args.table,
                key_name=args.key_name,
                endpoint_url=args.endpoint_url,
                session_ids=args.session,
            )
        return {"command": "import-from langchain-dynamodb", **counts.as_dict()}
    if args.command == "import-from":

        async def copy() -> Counts:
            async with AsyncAgentSessionsClient(args.url, args.api_key, args.namespace) as client:
                if args.source == "adk-database":
                    return await import_adk_database(client, args.db_url)
                return await import_openai_sqlite(client, args.db, args.session)

        return {"command": f"import-from {args.source}", **asyncio.run(copy()).as_dict()}
    with AgentSessionsClient(args.url, args.api_key, args.namespace) as client:
        if args.command == "export":
            counts = export_namespace(client, args.out, user_id=args.user, inline=not args.by_reference)
        else:
            counts = import_directory(client, args.directory, new_ids=args.new_ids)
    return {"command": args.command, **counts.as_dict()}


def main(argv: Sequence[str] | None = None) -> int:
    result = run(sys.argv[1:] if argv is None else argv)
    print(json.dumps(result))
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["export_namespace", "file_name", "import_directory", "import_openai_sqlite", "main"]
