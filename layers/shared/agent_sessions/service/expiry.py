"""The scheduled expiry job: settles every session whose next deadline has passed, reading
only the due index (never the table), with conditional writes that never overwrite a newer
change. Re-running it is harmless; it stops before its timeout and the next run resumes
(whatever it did not reach is still due)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from agent_sessions.models.items import SessionItem
from agent_sessions.settings import Settings
from agent_sessions.store import keys
from agent_sessions.store.codec import Item, from_attr
from agent_sessions.store.sessions import SessionStore, StaleVersion, TransactionConflict
from agent_sessions.store.shards import ShardCountStore


@dataclass
class ExpiryReport:
    idled: int = 0
    expired: int = 0
    cascaded_items: int = 0
    rescheduled: int = 0
    skipped: int = 0  # changed since the index was read: left to its new deadline
    complete: bool = True  # False: stopped for time; the next run continues

    def as_dict(self) -> dict[str, int | bool]:
        return asdict(self)


class ExpiryJob:
    def __init__(self, store: SessionStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def run(self, now_ms: int, remaining_ms: Callable[[], int]) -> ExpiryReport:
        report = ExpiryReport()
        due_shards = ShardCountStore(self.store).read([keys.DUE_FAMILY])[keys.DUE_FAMILY]
        for shard in range(due_shards):
            start: Item | None = None
            while True:
                if remaining_ms() < self.settings.expiry_safety_ms:
                    report.complete = False
                    return report
                page = self.store.query_due(shard, now_ms, start)
                heads = self._heads_of_live(page.items, now_ms)
                for entry in page.items:
                    if remaining_ms() < self.settings.expiry_safety_ms:
                        report.complete = False
                        return report
                    self._settle(entry, heads, now_ms, report)
                start = page.last_key
                if not start:
                    break
        return report

    def _heads_of_live(self, entries: list[Item], now_ms: int) -> dict[tuple[str, str], Item]:
        """The heads of the due entries that have not ended, in one batch get. The due index
        projects only what appends never change (expiry, termination, visibility), so an
        append writes nothing to it; status, activity and version come from the head."""
        live = [
            {"PK": entry["PK"], "SK": entry["SK"]}
            for entry in entries
            if int(from_attr(entry["visible_until_ms"])) > now_ms
        ]
        return self.store.batch_get(live) if live else {}

    def _settle(self, entry: Item, heads: dict[tuple[str, str], Item], now_ms: int, report: ExpiryReport) -> None:
        namespace_id, session_id = keys.parse_session_pk(entry["PK"]["S"])
        visible_until = int(from_attr(entry["visible_until_ms"]))
        if visible_until <= now_ms:
            self._end(namespace_id, session_id, now_ms, report)
            return
        head = heads.get((entry["PK"]["S"], entry["SK"]["S"]))
        if head is None:
            report.skipped += 1  # removed since the index was read
            return
        status = from_attr(head["status"])
        visible_until = int(from_attr(head["visible_until_ms"]))
        last_activity = int(from_attr(head["last_activity_ms"]))
        idle_at = last_activity + self.settings.idle_after_seconds * 1000
        if visible_until <= now_ms:
            self._end(namespace_id, session_id, now_ms, report)
        elif status == "active" and idle_at <= now_ms:
            if self.store.mark_idle(namespace_id, session_id, head, visible_until):
                report.idled += 1
            else:
                report.skipped += 1
        else:
            due = min(idle_at, visible_until) if status == "active" else visible_until
            if self.store.reschedule(namespace_id, session_id, head, due):
                report.rescheduled += 1
            else:
                report.skipped += 1

    def _end(self, namespace_id: str, session_id: str, now_ms: int, report: ExpiryReport) -> None:
        """Remove a session past its end (readers stopped seeing it at that instant) with its
        lookups and counters in one transaction, then the rest of its items. DynamoDB's TTL
        would remove the item too, but only hours (or days) later."""
        session: SessionItem | None = self.store.get_session(namespace_id, session_id)
        if session is None or session.visible_until_ms(self.settings.terminated_retention_seconds) > now_ms:
            report.skipped += 1  # gone already (TTL), or given a new life since the index was read
            return
        try:
            report.cascaded_items += self.store.purge_session(session)
        except (StaleVersion, TransactionConflict):
            report.skipped += 1
            return
        report.expired += 1
