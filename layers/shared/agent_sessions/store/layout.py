"""The sessions table's key layout version, and the migration from layout 1 to layout 2.

Layout 1 (before the scale work) kept a session in one item whose keys put every session of
a namespace into the same index partitions (`NS#<ns>`), and one counter item per listing
partition. Layout 2 (store/keys.py) splits the session into head and body items, shards the
listing partitions and counters 16 ways, and projects only keys into the listing indexes.

The table records its layout in one item (`LAYOUT`/`LAYOUT`): `version`, `state`
(`running` while a migration goes on, with the scan position it reached; `done` after), and
what the last run did. The migration:

- reads the table once with a paginated Scan, saving its position after every page, so a run
  that stops (Ctrl-C, a crash, a timeout) resumes where it was;
- rewrites each layout-1 session through SessionStore.replace_session, one transaction per
  session conditional on the version read and on the item still being layout 1: the head,
  the body, every lookup with its sharded key and the sharded counters. A session is moved
  exactly once, however often the migration runs, and a concurrent change of the session
  (the service keeps running) makes the transaction fail and the session be read again;
- deletes layout 1's single counter items (layout 2 never reads them);
- leaves sessions that have already ended alone (no reader sees them; TTL or the expiry job
  removes them).

The code of layout 2 reads layout-1 items correctly (a head holding the body's fields), so the
service keeps answering during the migration; only listings and totals miss the sessions not
yet moved.

Table version 3 (shards follow heat, store/shards.py): items keep their shape, but a family
with no count of its own now has 1 shard, where version 2 gave every family 16. The same scan
writes a count of 16 for every family that has a counter shard (every family that ever held a
session: a counter is added to in the transaction that writes an entry), so existing
namespaces, users, agents and metadata pairs keep their 16 shards and nothing moves. Until the
marker says version 3 done, readers take a family without a count for 16 shards, so no session
is missed while it runs; writers place entries with 1 (shard 0 is in every count).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from agent_sessions import clock
from agent_sessions.store import keys
from agent_sessions.store.codec import Item, from_item, to_attr
from agent_sessions.store.dynamo import error_code, store_errors
from agent_sessions.store.sessions import SessionStore, StaleVersion, TransactionConflict
from agent_sessions.store.shards import count_key

SCAN_PAGE = 500
MAX_SESSION_ATTEMPTS = 8


@dataclass
class LayoutState:
    version: int  # 1: layout 1 (or not yet known to be 2); 2: this code's layout
    state: str  # "done", "running", or "absent" (no marker yet)
    resume_key: Item | None = None
    report: dict[str, Any] = field(default_factory=dict)


@dataclass
class MigrationReport:
    sessions_migrated: int = 0
    sessions_already_migrated: int = 0
    sessions_ended_skipped: int = 0
    legacy_counters_deleted: int = 0
    families_kept_at_16: int = 0
    items_scanned: int = 0
    pages: int = 0
    resumed: bool = False
    complete: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LayoutStore:
    def __init__(self, store: SessionStore) -> None:
        self.store = store
        self.client = store.client
        self.table = store.table

    def state(self) -> LayoutState:
        item = self.store.get_raw(keys.LAYOUT_PK, keys.LAYOUT_SK)
        if item is None:
            return LayoutState(version=1, state="absent")
        values = from_item(item)
        resume = json.loads(values["resume_key"]) if values.get("resume_key") else None
        return LayoutState(
            version=int(values["version"]),
            state=str(values["state"]),
            resume_key=resume,
            report=json.loads(values.get("report") or "{}"),
        )

    def needs_migration(self) -> bool:
        """True unless the table is marked layout 2 or holds no data of layout 1 (a new or
        empty table is marked layout 2 on the spot)."""
        state = self.state()
        if state.version >= keys.TABLE_LAYOUT_VERSION and state.state == "done":
            return False
        if state.state == "absent" and not self._has_data():
            self._write_marker(keys.TABLE_LAYOUT_VERSION, "done", None, MigrationReport(complete=True))
            return False
        return True

    def migrate(self, log: Callable[[str], None] = lambda _: None, max_pages: int | None = None) -> MigrationReport:
        """Run (or resume) the migration; `max_pages` stops early (tests of a half-finished run)."""
        state = self.state()
        report = MigrationReport()
        if state.version >= keys.TABLE_LAYOUT_VERSION and state.state == "done":
            report.complete = True
            return report
        self._kept: set[str] = set()
        start_key = state.resume_key if state.state == "running" else None
        report.resumed = start_key is not None
        if report.resumed:
            report = MigrationReport(**{**state.report, "resumed": True, "complete": False})
        seen = report.sessions_migrated + report.sessions_already_migrated + report.sessions_ended_skipped
        self._saw_sessions = seen > 0
        self._write_marker(1, "running", start_key, report)
        while True:
            if max_pages is not None and report.pages >= max_pages:
                return report
            request: dict[str, Any] = {"TableName": self.table, "Limit": SCAN_PAGE, "ConsistentRead": True}
            if start_key:
                request["ExclusiveStartKey"] = start_key
            with store_errors():
                page = self.client.scan(**request)
            for item in page.get("Items", []):
                report.items_scanned += 1
                self._migrate_item(item, report)
            report.pages += 1
            start_key = page.get("LastEvaluatedKey")
            log(
                f"layout migration: page {report.pages}, {report.items_scanned} items read, "
                f"{report.sessions_migrated} sessions moved"
            )
            if not start_key:
                break
            self._write_marker(1, "running", start_key, report)
        if self._saw_sessions and keys.DUE_FAMILY not in self._kept:
            # The due index is a family too (table-wide): its entries are in hash % 16.
            self._kept.add(keys.DUE_FAMILY)
            self._keep_legacy_count(keys.DUE_FAMILY)
            report.families_kept_at_16 += 1
        report.complete = True
        self._write_marker(keys.TABLE_LAYOUT_VERSION, "done", None, report)
        return report

    # --- one item ------------------------------------------------------------------------------

    def _migrate_item(self, item: Item, report: MigrationReport) -> None:
        sk = item["SK"]["S"]
        pk = item["PK"]["S"]
        if sk == keys.SESSION_SK and "#SES#" in pk:
            self._saw_sessions = True
            if "layout" in item:
                report.sessions_already_migrated += 1
                return
            self._migrate_session(pk, report)
        elif sk == keys.COUNTER_SK and pk.endswith("#COUNT"):
            with store_errors():
                self.client.delete_item(TableName=self.table, Key={"PK": item["PK"], "SK": item["SK"]})
            report.legacy_counters_deleted += 1
        elif sk == keys.COUNTER_SK and "#COUNT#S" in pk:
            family = pk.rsplit("#COUNT#S", 1)[0]
            if family not in self._kept:
                self._kept.add(family)
                self._keep_legacy_count(family)
                report.families_kept_at_16 += 1

    def _keep_legacy_count(self, family: str) -> None:
        """Write 16 as the family's count unless it has one already (never lowers a count)."""
        try:
            with store_errors():
                self.client.update_item(
                    TableName=self.table,
                    Key=count_key(family),
                    UpdateExpression="SET shards = :legacy, kind = :kind",
                    ConditionExpression="attribute_not_exists(shards)",
                    ExpressionAttributeValues={":legacy": to_attr(keys.LEGACY_SHARDS), ":kind": to_attr("counter")},
                )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise

    def _migrate_session(self, pk: str, report: MigrationReport) -> None:
        namespace_id, session_id = keys.parse_session_pk(pk)
        retention = self.store.settings.terminated_retention_seconds
        for _ in range(MAX_SESSION_ATTEMPTS):
            old = self.store.get_session(namespace_id, session_id)
            now = clock.now_ms()
            if old is None or old.visible_until_ms(retention) <= now:
                report.sessions_ended_skipped += 1
                return
            if old.layout == keys.LAYOUT_VERSION:
                report.sessions_already_migrated += 1
                return
            try:
                self.store.replace_session(old, old.model_copy(update={"layout": keys.LAYOUT_VERSION}), now)
            except (StaleVersion, TransactionConflict):
                continue  # changed meanwhile, or moved by another run: read it again
            report.sessions_migrated += 1
            return
        raise RuntimeError(f"session {session_id} kept changing; run migrate-layout again to resume")

    # --- the marker ----------------------------------------------------------------------------

    def _write_marker(self, version: int, state: str, resume_key: Item | None, report: MigrationReport) -> None:
        item: Item = {
            "PK": {"S": keys.LAYOUT_PK},
            "SK": {"S": keys.LAYOUT_SK},
            "kind": {"S": "layout"},
            "version": to_attr(version),
            "state": to_attr(state),
            "updated_ms": to_attr(clock.now_ms()),
            "report": to_attr(json.dumps(report.as_dict())),
        }
        if resume_key:
            item["resume_key"] = to_attr(json.dumps(resume_key))
        with store_errors():
            self.client.put_item(TableName=self.table, Item=item)

    def _has_data(self) -> bool:
        """Whether any session head or counter exists (a Scan that stops at the first one; a
        new table answers at once)."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "SK = :session OR SK = :counter",
            "ExpressionAttributeValues": {":session": {"S": keys.SESSION_SK}, ":counter": {"S": keys.COUNTER_SK}},
            "ProjectionExpression": "PK",
        }
        while True:
            with store_errors():
                page = self.client.scan(**request)
            for found in page.get("Items", []):
                pk = found["PK"]["S"]
                if "#SES#" in pk or "#COUNT" in pk:
                    return True
            if not page.get("LastEvaluatedKey"):
                return False
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
