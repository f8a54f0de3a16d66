"""Moving data in and out of a namespace (DESIGN §13), through the public API with one key:

    python -m agent_sessions_client.transfer export --out DIR [--user U] [--by-reference]
    python -m agent_sessions_client.transfer import --in DIR [--new-ids]
    python -m agent_sessions_client.transfer import-from openai-sqlite --db FILE [--session ID ...]

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
- `import-from openai-sqlite` reads the OpenAI Agents SDK's own `SQLiteSession` store with the
  SDK itself and writes each session through this package's adapter (`AgentSessionsSession`),
  so the adapter then returns what the SDK returned; a session already partly copied gets the
  items it lacks.
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
    return parser


def run(argv: Sequence[str]) -> dict[str, Any]:
    args = _parser().parse_args(argv)
    if args.command == "import-from":

        async def copy() -> Counts:
            async with AsyncAgentSessionsClient(args.url, args.api_key, args.namespace) as client:
                return await import_openai_sqlite(client, args.db, args.session)

        return {"command": "import-from openai-sqlite", **asyncio.run(copy()).as_dict()}
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
