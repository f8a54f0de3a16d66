"""Listing sessions: choose the one logical index partition that answers the filter, read
its shards (as many as its family has: store/shards.py) in parallel and merge them in sort
order, read the sessions behind the index entries (the indexes are KEYS_ONLY) and filter the
rest in memory.

Costs (DESIGN §4), for a page that the index answers without residual filtering, in a family
of C shards (1 unless it needed more):
- 2 round trips: the shard queries (C Query calls, in parallel; a shard that runs dry before
  the page is complete is read again) and one batch get of the page's heads and bodies plus
  the C counter shards whose sum is the exact `total` — shard 0 also holds the count, which
  checks the C the queries used (⌈(2·(limit+1)+C)/100⌉ BatchGetItem calls, in parallel). A
  count found raised since this container cached it costs the page's reads once more. A first
  page that does not reach the partition's end also reads the 16 due-index shards beside its
  own reads: sessions that ended but that the expiry job has not settled yet come off the
  counter's total (a page that does reach the end counts what it saw).
- any other filter (status, created range on the activity index, several lookups together):
  the heads are read first and the bodies of the page's sessions after (3 round trips); the
  exact `total` costs reading every match of the chosen partition's heads once, on the first
  page only; later pages carry the total in their cursor. `include_total=false` skips it.
- sort by last_activity_at is served by the activity index for the namespace and for a
  user; with agent or metadata filters it sorts up to `LIST_SORT_BOUND` matches in memory.

The cursor holds the sort key of the page's last session and the shards already read to
their end: every shard resumes after that key, so a page is exact however the shards split.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from agent_sessions import clock
from agent_sessions.errors import BadRequestError
from agent_sessions.models.items import LookupEntry, SessionItem, body_values
from agent_sessions.models.requests import ListQuery
from agent_sessions.models.responses import Pagination, Session, SessionPage
from agent_sessions.service.response_size import how_many_fit, utf8_size
from agent_sessions.settings import Settings
from agent_sessions.store import keys
from agent_sessions.store.codec import Item
from agent_sessions.store.cursor import decode_cursor, encode_cursor, filter_fingerprint
from agent_sessions.store.sessions import TRANSACT_GET_MAX, SessionStore, counter_keys, counter_total
from agent_sessions.store.shards import ShardCounts, counts_for
from agent_sessions.tenancy import Tenant

# A query reads this many index items per call when most of them may be filtered out.
FILTERED_BATCH = 200
MAX_BATCH = 1000


@dataclass(frozen=True)
class ListPlan:
    index: str  # "GSI1" by created_at; "GSI2" (namespace) or "GSI3" (user) by last_activity_at
    partition: str  # the logical partition; its shards are keys.sharded(partition, n)
    forward: bool
    sort_between: tuple[str, str]
    counter_partition: str | None  # set when the partition's counter is the exact total
    residual: bool  # some filter is applied in memory
    sort_in_memory: bool


def _sort_bound(epoch_ms: int) -> str:
    return clock.to_iso(min(max(epoch_ms, clock.MIN_MS), clock.MAX_MS))


def make_plan(namespace_id: str, query: ListQuery) -> ListPlan:
    lookups: list[LookupEntry] = []
    if query.user_id is not None:
        lookups.append(LookupEntry(field="user_id", value=query.user_id))
    if query.agent_id is not None:
        lookups.append(LookupEntry(field="agent_id", value=query.agent_id))
    for key, value in sorted(query.metadata.items()):
        lookups.append(LookupEntry(field="metadata", key=key, value=value))
    created_range = query.created_after_ms is not None or query.created_before_ms is not None
    forward = query.direction == "asc"
    by_activity = query.sort_field == "last_activity_at"

    base = lookups[0] if lookups else None  # user_id first: usually the most selective
    sort_in_memory = by_activity and base is not None and base.field != "user_id"
    index = "GSI1"
    if by_activity and not sort_in_memory:
        index = "GSI3" if base is not None else "GSI2"  # the session heads themselves, no lookup
    partition = base.partition(namespace_id) if base else keys.namespace_partition(namespace_id)
    sort_between: tuple[str, str] | None = None
    if created_range and index == "GSI1":
        # Bounds outside what a time can name are clamped (no session is created there); a
        # range whose bounds cross (after >= before) is empty, and ShardMerge reads nothing.
        low = _sort_bound(query.created_after_ms + 1) if query.created_after_ms is not None else "0"
        high = _sort_bound(query.created_before_ms) if query.created_before_ms is not None else keys.SORT_KEY_CEILING
        sort_between = (low, high)
    residual = query.status is not None or len(lookups) > 1 or (created_range and sort_between is None)
    exact_by_counter = not residual and not created_range
    return ListPlan(
        index=index,
        partition=partition,
        forward=forward,
        sort_between=sort_between or ("0", keys.SORT_KEY_CEILING),
        counter_partition=partition if exact_by_counter else None,
        residual=residual or created_range,
        sort_in_memory=sort_in_memory,
    )


class ShardMerge:
    """The index entries of a sharded listing partition in one global sort order: each shard
    is read page by page (the shards that need reading at the same time, in parallel) and the
    next entry is always the first of the shards' heads, so an entry is handed out only once
    every shard that could hold an earlier one has been read that far."""

    def __init__(
        self,
        store: SessionStore,
        plan: ListPlan,
        shards: int,
        boundary: str | None,
        exhausted: set[int],
        first_batch: int,
    ) -> None:
        self.store = store
        self.plan = plan
        self.shards = shards
        self.sort_name = keys.INDEX_KEYS[plan.index][1]
        low, high = plan.sort_between
        if boundary is not None:  # resume after the previous page's last entry (it is dropped below)
            low, high = (boundary, high) if plan.forward else (low, boundary)
        self.sort_between = (low, high)
        self.boundary = boundary
        self.buffers: dict[int, deque[Item]] = {shard: deque() for shard in range(shards) if shard not in exhausted}
        self.start_keys: dict[int, Item | None] = dict.fromkeys(self.buffers)
        # Bounds that cross name no sort key (and DynamoDB refuses such a BETWEEN): every
        # shard counts as read to its end, so none is queried.
        self.done: set[int] = set(self.buffers) if low > high else set()
        self.batch = first_batch
        self.taken = 0
        self.last_taken: dict[int, int] = {}  # shard -> ordinal of the last entry taken from it

    def sort_key(self, item: Item) -> str:
        return str(item[self.sort_name]["S"])

    def _fill(self, shards: list[int], batch: int) -> None:
        pages = self.store.query_shards(
            self.plan.index,
            self.plan.partition,
            shards,
            forward=self.plan.forward,
            limit=min(batch, MAX_BATCH),
            start_keys=self.start_keys,
            sort_between=self.sort_between,
        )
        for shard, page in pages.items():
            self.buffers[shard].extend(item for item in page.items if self.sort_key(item) != self.boundary)
            self.start_keys[shard] = page.last_key
            if not page.last_key:
                self.done.add(shard)

    def take(self, count: int) -> list[Item]:
        """The next `count` entries (fewer at the end), in order."""
        taken: list[Item] = []
        while len(taken) < count:
            starving = [shard for shard, buffer in self.buffers.items() if not buffer and shard not in self.done]
            if starving:
                # First round: a share of the page per shard (hashing spreads sessions evenly);
                # a shard that runs dry is read again for what is still wanted.
                self._fill(starving, self.batch)
                self.batch = count - len(taken) + 1
                continue
            ready = [shard for shard, buffer in self.buffers.items() if buffer]
            if not ready:
                break
            pick = (min if self.plan.forward else max)(ready, key=lambda shard: self.sort_key(self.buffers[shard][0]))
            taken.append(self.buffers[pick].popleft())
            self.last_taken[pick] = self.taken
            self.taken += 1
        return taken

    def exhausted_through(self, ordinal: int) -> list[int]:
        """Shards with nothing after the entry of this ordinal: the next page skips them."""
        return sorted(
            shard
            for shard, buffer in self.buffers.items()
            if shard in self.done and not buffer and self.last_taken.get(shard, -1) <= ordinal
        ) + sorted(set(range(self.shards)) - set(self.buffers))


class SessionLister:
    def __init__(self, store: SessionStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def page(self, tenant: Tenant, query: ListQuery) -> SessionPage:
        now = clock.now_ms()
        fingerprint = filter_fingerprint(
            query.model_dump(exclude={"limit", "cursor", "include_total", "offset"}) | {"index": 2}
        )
        position: dict[str, Any] | None = None
        if query.cursor:  # an empty cursor is the first page
            # With an offset too, the offset skips from the cursor's position on.
            position = decode_cursor(self.settings.cursor_signing_key, tenant.namespace_id, fingerprint, query.cursor)
        if query.offset > self.settings.max_list_offset:
            raise BadRequestError(
                f"offset is accepted up to {self.settings.max_list_offset}; use the cursor to page further",
                code="offset_too_large",
                details={"max_offset": self.settings.max_list_offset},
            )
        plan = make_plan(tenant.namespace_id, query)

        probes = metadata_probes(tenant.namespace_id, query)

        def matches(session: SessionItem, found: dict[tuple[str, str], Item]) -> bool:
            return _matches(session, query, now, self.settings) and all(
                (session_pk, probe) in found for session_pk in [session.key()["PK"]["S"]] for probe in probes
            )

        counts = counts_for(self.store.table)
        shards = counts.for_read(plan.partition)
        if plan.sort_in_memory:
            page = self._sorted_in_memory(tenant, query, plan, shards, counts, position, fingerprint, matches, now)
        else:
            page = self._page(tenant, query, plan, shards, counts, position, fingerprint, matches, now)
        if page is None:  # the family has more shards than this container knew: read them all
            return self.page(tenant, query)
        return page

    def _page(
        self,
        tenant: Tenant,
        query: ListQuery,
        plan: ListPlan,
        shards: int,
        counts: ShardCounts,
        position: dict[str, Any] | None,
        fingerprint: str,
        matches: Any,
        now: int,
    ) -> SessionPage | None:
        """One page read with `shards` shards; None when the page's own batch get shows the
        family has more (the caller reads again, with the count now known)."""
        probes = metadata_probes(tenant.namespace_id, query)

        known_total = position.get("t") if position else None
        boundary, exhausted = _resume_point(position)
        to_skip = query.offset
        count_rest = query.include_total and known_total is None and plan.counter_partition is None
        want_counter = query.include_total and known_total is None and plan.counter_partition is not None
        # Without residual filters every entry read is (barring a session removed a moment
        # ago) a result: read heads and bodies together. Otherwise read heads first and only
        # the page's bodies.
        with_bodies = not plan.residual
        wanted = query.limit + 1 + to_skip
        # A shard holds 1/16 of the page on average; reading three times that plus 4 makes a
        # shard that runs dry first (one more round trip) rare: with sessions spread by the
        # hash, under 4 in 100,000 pages of 20 (binomial tail, every shard), fewer for larger
        # pages; each entry read is a key of ~150 bytes.
        # A page after a cursor reads its boundary entry again (and drops it): one more.
        first_batch = wanted if plan.residual or count_rest else min(wanted + 1, -(-3 * wanted // shards) + 4)
        # The counter still counts sessions that ended (expired, or terminated past their
        # retention) but that the expiry job has not settled yet. A listing read to its end
        # has seen every match (the ended ones are filtered out): its total is what it saw.
        # Otherwise the ended ones are read from the due index, started as soon as the first
        # batch shows the partition holds more than this page (beside the page's own reads),
        # and taken off the counter's total.
        ended_reads: list[Any] | None = None
        # The due index's shards (a table-wide family), checked like the listing's.
        due_shards = counts.for_read(keys.DUE_FAMILY)
        merge = ShardMerge(self.store, plan, shards, boundary, exhausted, min(first_batch, MAX_BATCH))
        counter_value: int | None = None
        checked = False

        page: list[SessionItem] = []
        positions: list[tuple[int, str]] = []  # each page entry's ordinal in the merge and sort key
        skipped = matched_beyond = 0
        has_more = False
        while True:
            batch = query.limit - len(page) + 1 + to_skip
            if plan.residual:
                batch = max(batch, FILTERED_BATCH)
            if count_rest:
                batch = MAX_BATCH
            ordinal = merge.taken
            index_items = merge.take(batch)
            if want_counter and ended_reads is None and len(index_items) >= batch:
                ended_reads = self.store.start_reading_ended(now, range(due_shards))
            extra_keys = counter_keys(plan.partition, shards) if want_counter and counter_value is None else []
            if not checked:
                check = counts.check_keys(plan.partition)
                if want_counter:
                    check += counts.check_keys(keys.DUE_FAMILY)
                extra_keys += [key for index, key in enumerate(check) if key not in extra_keys + check[:index]]
            if not index_items and not extra_keys:
                break
            found = self.store.batch_get(_session_keys(index_items, with_bodies, probes) + extra_keys)
            if not checked:
                checked = True
                if counts.learn(plan.partition, found) > shards:
                    return None
                if want_counter:
                    stored_due = counts.learn(keys.DUE_FAMILY, found)
                    if ended_reads is not None and stored_due > due_shards:  # read the others too
                        ended_reads += self.store.start_reading_ended(now, range(due_shards, stored_due))
                    due_shards = max(due_shards, stored_due)
            if want_counter and counter_value is None:
                counter_value = counter_total(found, plan.partition, shards)
            stop = False
            for offset_in_batch, index_item in enumerate(index_items):
                session = _session_from(found, index_item)
                if session is None or not matches(session, found):
                    continue
                if to_skip:
                    to_skip -= 1
                    skipped += 1
                    continue
                if len(page) < query.limit:
                    page.append(session)
                    positions.append((ordinal + offset_in_batch, merge.sort_key(index_item)))
                    continue
                has_more = True
                matched_beyond += 1
                if not count_rest:
                    stop = True
                    break
            if stop or len(index_items) < batch:
                break

        if not with_bodies and page:
            found = self.store.batch_get([_body_key(session) for session in page])
            page = [_with_body(found, session) for session in page]
        if not query.include_total:
            total = -1
        elif known_total is not None:
            total = int(known_total)
        elif plan.counter_partition is not None and not has_more:
            total = skipped + len(page)  # read to its end: every visible match was seen
        elif plan.counter_partition is not None:
            total = (
                counter_value if counter_value is not None else self.store.get_counter(plan.counter_partition, shards)
            )
            if ended_reads is None:
                ended_reads = self.store.start_reading_ended(now, range(due_shards))
            total = self._total_through_expiry(tenant, query, plan.partition, shards, total, ended_reads, now)
        else:
            total = skipped + len(page) + matched_beyond
        results = [session.to_session(now, self.settings.idle_after_seconds) for session in page]
        fitting = sessions_that_fit(results)
        if fitting < len(results):  # the rest would pass Lambda's response limit: the next page's
            results, positions, has_more = results[:fitting], positions[:fitting], True
        next_cursor = None
        if has_more and positions:
            last_ordinal, last_sort_key = positions[-1]
            cursor_position: dict[str, Any] = {"b": last_sort_key, "x": merge.exhausted_through(last_ordinal)}
            if query.include_total:
                cursor_position["t"] = total
            next_cursor = encode_cursor(
                self.settings.cursor_signing_key, tenant.namespace_id, fingerprint, cursor_position
            )
        return SessionPage(
            results=results,
            total=total,
            pagination=Pagination(limit=query.limit, next_cursor=next_cursor, has_more=has_more),
        )

    def _total_through_expiry(
        self, tenant: Tenant, query: ListQuery, partition: str, shards: int, counted: int, reads: list[Any], now: int
    ) -> int:
        """The counter's total less the sessions it counts that can no longer be seen: the due
        entries of this namespace whose visibility has passed, checked against their heads and
        the filter. The heads are read with the counter's shards in one TransactGetItems, so
        both are of one instant (a session the job settles meanwhile is either still counted
        and still there, or neither); past 100 items, heads and counter are read apart. Costs
        the due shards' queries (read side by side with the page's) and, when there are such
        sessions, that one read: in proportion to the sessions due but not yet settled."""
        prefix = f"#{tenant.namespace_id}#"
        ended = [item for read in reads for item in read.result() if prefix in item.get("DUESK", {}).get("S", "")]
        if not ended:
            return counted
        probes = metadata_probes(tenant.namespace_id, query)
        item_keys = _session_keys(ended, False, probes)
        counters = counter_keys(partition, shards)
        if len(item_keys) + len(counters) <= TRANSACT_GET_MAX:
            found = self.store.read_together(counters + item_keys)
            counted = counter_total(found, partition, shards)
        else:
            found = self.store.batch_get(item_keys)
        ended_and_counted = 0
        for item in ended:
            session = _session_from(found, item)
            if session is None or session.visible_until_ms(self.settings.terminated_retention_seconds) > now:
                continue  # settled (the counter no longer counts it), or visible again
            if session.layout == 1:
                continue  # ended before the layout migration, which counted only live sessions
            if query.user_id is not None and session.user_id != query.user_id:
                continue
            if query.agent_id is not None and session.agent_id != query.agent_id:
                continue
            if all((item["PK"]["S"], probe) in found for probe in probes):
                ended_and_counted += 1
        return max(counted - ended_and_counted, 0)

    def _sorted_in_memory(
        self,
        tenant: Tenant,
        query: ListQuery,
        plan: ListPlan,
        shards: int,
        counts: ShardCounts,
        position: dict[str, Any] | None,
        fingerprint: str,
        matches: Any,
        now: int,
    ) -> SessionPage | None:
        bound = self.settings.list_sort_bound
        probes = metadata_probes(tenant.namespace_id, query)
        found: list[SessionItem] = []
        merge = ShardMerge(self.store, plan, shards, None, set(), MAX_BATCH)
        checked = False
        while True:
            index_items = merge.take(MAX_BATCH)
            if index_items or not checked:
                check = [] if checked else counts.check_keys(plan.partition)
                heads = self.store.batch_get(_session_keys(index_items, False, probes) + check)
                if not checked:
                    checked = True
                    if counts.learn(plan.partition, heads) > shards:
                        return None
                candidates = (_session_from(heads, item) for item in index_items)
                found.extend(session for session in candidates if session is not None and matches(session, heads))
            if len(found) > bound:
                raise BadRequestError(
                    f"Sorting these filters by last_activity_at is limited to {bound} matching sessions; "
                    "filter by user_id or sort by created_at",
                    code="sort_bound_exceeded",
                    details={"bound": bound},
                )
            if len(index_items) < MAX_BATCH:
                break
        found.sort(key=lambda s: (s.last_activity_ms, s.session_id), reverse=not plan.forward)
        offset = (int(position.get("o", 0)) if position else 0) + query.offset
        page = found[offset : offset + query.limit]
        if page:
            bodies = self.store.batch_get([_body_key(session) for session in page])
            page = [_with_body(bodies, session) for session in page]
        results = [session.to_session(now, self.settings.idle_after_seconds) for session in page]
        results = results[: sessions_that_fit(results)]  # the rest would pass the response limit
        has_more = offset + len(results) < len(found)
        next_cursor = (
            encode_cursor(
                self.settings.cursor_signing_key, tenant.namespace_id, fingerprint, {"o": offset + len(results)}
            )
            if has_more
            else None
        )
        return SessionPage(
            results=results,
            total=len(found) if query.include_total else -1,
            pagination=Pagination(limit=query.limit, next_cursor=next_cursor, has_more=has_more),
        )


def _resume_point(position: dict[str, Any] | None) -> tuple[str | None, set[int]]:
    """The previous page's last sort key and the shards it had read to their end."""
    if position is None:
        return None, set()
    boundary = position.get("b")
    exhausted = position.get("x", [])
    if (
        not isinstance(boundary, str)
        or not isinstance(exhausted, list)
        or not all(isinstance(shard, int) and 0 <= shard < keys.MAX_SHARDS for shard in exhausted)
    ):
        raise BadRequestError("The cursor is invalid or belongs to another query", code="invalid_cursor")
    return boundary, set(exhausted)


def metadata_probes(namespace_id: str, query: ListQuery) -> list[str]:
    """The sort keys of the lookup items a session has exactly when it holds every metadata
    pair of the filter (written in the same transaction as its body): the filter is checked
    by reading these few bytes rather than the sessions' bodies."""
    return [
        keys.lookup_sk(LookupEntry(field="metadata", key=key, value=value).partition(namespace_id))
        for key, value in sorted(query.metadata.items())
    ]


def _session_keys(index_items: list[Item], with_bodies: bool, probes: list[str]) -> list[Item]:
    """The heads (and bodies, and metadata probes) behind index entries; every entry's PK is
    its session's."""
    item_keys = []
    for item in index_items:
        item_keys.append({"PK": item["PK"], "SK": {"S": keys.SESSION_SK}})
        if with_bodies:
            item_keys.append({"PK": item["PK"], "SK": {"S": keys.BODY_SK}})
        item_keys.extend({"PK": item["PK"], "SK": {"S": probe}} for probe in probes)
    return item_keys


def _session_from(found: dict[tuple[str, str], Item], index_item: Item) -> SessionItem | None:
    pk = index_item["PK"]["S"]
    head = found.get((pk, keys.SESSION_SK))
    # An entry whose session is gone (purged or removed by TTL, cascade pending) is skipped.
    return SessionItem.from_item(head, found.get((pk, keys.BODY_SK))) if head else None


def _body_key(session: SessionItem) -> Item:
    return session.body_key()


def _with_body(found: dict[tuple[str, str], Item], session: SessionItem) -> SessionItem:
    key = session.body_key()
    body = found.get((key["PK"]["S"], key["SK"]["S"]))
    if body is None or session.layout == 1:
        return session
    return session.model_copy(update=body_values(body))


def _matches(session: SessionItem, query: ListQuery, now: int, settings: Settings) -> bool:
    if session.visible_until_ms(settings.terminated_retention_seconds) <= now:
        return False
    if query.status is not None and session.effective_status(now, settings.idle_after_seconds) != query.status:
        return False
    if query.user_id is not None and session.user_id != query.user_id:
        return False
    if query.agent_id is not None and session.agent_id != query.agent_id:
        return False
    if query.created_after_ms is not None and session.created_ms <= query.created_after_ms:
        return False
    return not (query.created_before_ms is not None and session.created_ms >= query.created_before_ms)


def sessions_that_fit(sessions: list[Session]) -> int:
    """How many of a page's sessions (in order, at least one) one response can carry: a
    session's configuration, memory, situation and summary may be hundreds of KB."""

    def raw_size(session: Session) -> int:
        texts = (session.situation, session.summary, session.session_name)
        objects = (session.agent_config, session.user_memory, session.metadata)
        sizes = [utf8_size(text) for text in texts]
        sizes += [utf8_size(json.dumps(value, ensure_ascii=False)) for value in objects if value is not None]
        return sum(sizes) + 1024  # ids, times, stats, quotas

    return how_many_fit(sessions, raw_size, lambda session: session)
