"""Listing sessions: choose the one index partition that answers the filter, read it in
order, and filter the rest in memory.

Costs (DESIGN §4), for a page that the index answers without residual filtering:
- namespace, newest first: 1 query; the partition's counter sorts first, so `total` comes
  in the same call. Oldest first: 1 query and 1 counter read.
- one lookup (user_id, agent_id or one metadata pair): 1 query on the lookup partition and
  1 batch get of the sessions (the counter rides in that batch get); limits above 99 need
  one more batch get per 100 sessions.
- any other filter (status, created range, several lookups together): the exact `total`
  costs reading every match of the chosen partition once, on the first page only; later
  pages carry the total in their cursor. `include_total=false` skips it.
- sort by last_activity_at is served by the activity index for the namespace and for a
  user; with agent or metadata filters it sorts up to `LIST_SORT_BOUND` matches in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent_sessions import clock
from agent_sessions.errors import BadRequestError
from agent_sessions.models.items import LookupEntry, SessionItem
from agent_sessions.models.limits import metadata_text
from agent_sessions.models.requests import ListQuery
from agent_sessions.models.responses import Pagination, SessionPage
from agent_sessions.settings import Settings
from agent_sessions.store import keys
from agent_sessions.store.codec import Item
from agent_sessions.store.cursor import decode_cursor, encode_cursor, filter_fingerprint
from agent_sessions.store.sessions import SessionStore, counter_key
from agent_sessions.tenancy import Tenant

# A query reads this many index items per call when most of them may be filtered out.
FILTERED_BATCH = 200
MAX_BATCH = 1000


@dataclass(frozen=True)
class ListPlan:
    index: str  # "GSI1" by created_at; "GSI2" (namespace) or "GSI3" (user) by last_activity_at
    partition: str
    via_lookup: bool  # the partition holds lookup items: the sessions need a batch get
    forward: bool
    sort_between: tuple[str, str] | None
    counter_partition: str | None  # set when the partition's counter is the exact total
    residual: bool  # some filter is applied in memory
    sort_in_memory: bool


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
        index = "GSI3" if base is not None else "GSI2"  # the session items themselves, no lookup
    partition = base.partition(namespace_id) if base else keys.namespace_partition(namespace_id)
    via_lookup = base is not None and index == "GSI1"
    sort_between = None
    if created_range and index == "GSI1":
        low = clock.to_iso(query.created_after_ms + 1) if query.created_after_ms is not None else "0"
        high = clock.to_iso(query.created_before_ms) if query.created_before_ms is not None else keys.SORT_KEY_CEILING
        sort_between = (low, high)
    residual = query.status is not None or len(lookups) > 1 or (created_range and sort_between is None)
    exact_by_counter = not residual and not created_range
    return ListPlan(
        index=index,
        partition=partition,
        via_lookup=via_lookup,
        forward=forward,
        sort_between=sort_between,
        counter_partition=partition if exact_by_counter else None,
        residual=residual or created_range,
        sort_in_memory=sort_in_memory,
    )


class SessionLister:
    def __init__(self, store: SessionStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def page(self, tenant: Tenant, query: ListQuery) -> SessionPage:
        now = clock.now_ms()
        fingerprint = filter_fingerprint(
            query.model_dump(exclude={"limit", "cursor", "include_total", "offset"}) | {"index": 1}
        )
        position: dict[str, Any] | None = None
        if query.cursor:
            if query.offset:
                raise BadRequestError("Give cursor or offset, not both", code="cursor_and_offset")
            position = decode_cursor(self.settings.cursor_signing_key, tenant.namespace_id, fingerprint, query.cursor)
        if query.offset > self.settings.max_list_offset:
            raise BadRequestError(
                f"offset is accepted up to {self.settings.max_list_offset}; use the cursor to page further",
                code="offset_too_large",
                details={"max_offset": self.settings.max_list_offset},
            )
        plan = make_plan(tenant.namespace_id, query)

        def matches(session: SessionItem) -> bool:
            return _matches(session, query, now, self.settings)

        if plan.sort_in_memory:
            return self._sorted_in_memory(tenant, query, plan, position, fingerprint, matches, now)

        known_total = position.get("t") if position else None
        start_key = _item_key(position.get("k")) if position else None
        to_skip = 0 if position else query.offset
        count_rest = query.include_total and known_total is None and plan.counter_partition is None
        want_counter = query.include_total and known_total is None and plan.counter_partition is not None
        # Newest first, the partition's counter is the first item of the first page; every
        # other read keeps it out with a key condition below it.
        counter_in_query = want_counter and not plan.forward and plan.sort_between is None
        sort_between = plan.sort_between or (None if counter_in_query else ("0", keys.SORT_KEY_CEILING))
        counter_value: int | None = None

        page: list[SessionItem] = []
        last_key: Item | None = None
        skipped = matched_beyond = 0
        has_more = False
        while True:
            remaining = query.limit - len(page)
            batch = remaining + 1 + to_skip + (1 if counter_in_query and counter_value is None else 0)
            if plan.residual:
                batch = max(batch, FILTERED_BATCH)
            if count_rest:
                batch = MAX_BATCH
            result = self.store.query_index(
                plan.index,
                plan.partition,
                forward=plan.forward,
                limit=min(batch, MAX_BATCH),
                start_key=start_key,
                sort_between=sort_between,
            )
            index_items = [item for item in result.items if item.get("kind", {}).get("S") != "counter"]
            for item in result.items:
                if item.get("kind", {}).get("S") == "counter":
                    counter_value = int(item.get("n", {}).get("N", "0"))
            extra_keys = []
            if want_counter and counter_value is None and plan.via_lookup:
                extra_keys.append(counter_key(plan.partition))
            pairs, counter_from_batch = self._sessions_for(index_items, plan, extra_keys)
            if counter_from_batch is not None:
                counter_value = counter_from_batch
            stop = False
            for index_item, session in pairs:
                if session is None or not matches(session):
                    continue
                if to_skip:
                    to_skip -= 1
                    skipped += 1
                    continue
                if len(page) < query.limit:
                    page.append(session)
                    last_key = index_item
                    continue
                has_more = True
                matched_beyond += 1
                if not count_rest:
                    stop = True
                    break
            if stop or not result.last_key:
                break
            start_key = result.last_key

        if not query.include_total:
            total = -1
        elif known_total is not None:
            total = int(known_total)
        elif plan.counter_partition is not None:
            if counter_value is None:
                counter_value = self.store.get_counter(plan.counter_partition)
            total = max(counter_value, 0)
        else:
            total = skipped + len(page) + matched_beyond
        next_cursor = None
        if has_more and last_key is not None:
            key_names = ("PK", "SK", *keys.INDEX_KEYS[plan.index])
            cursor_position: dict[str, Any] = {"k": {name: last_key[name]["S"] for name in key_names}}
            if query.include_total:
                cursor_position["t"] = total
            next_cursor = encode_cursor(
                self.settings.cursor_signing_key, tenant.namespace_id, fingerprint, cursor_position
            )
        return SessionPage(
            results=[session.to_session(now, self.settings.idle_after_seconds) for session in page],
            total=total,
            pagination=Pagination(limit=query.limit, next_cursor=next_cursor, has_more=has_more),
        )

    def _sessions_for(
        self, index_items: list[Item], plan: ListPlan, extra_keys: list[Item]
    ) -> tuple[list[tuple[Item, SessionItem | None]], int | None]:
        """The sessions behind one page of index items, in index order; and the counter when
        it was asked for in the same batch get."""
        if not plan.via_lookup:
            return [(item, SessionItem.from_item(item)) for item in index_items], None
        session_keys = [{"PK": item["PK"], "SK": {"S": keys.SESSION_SK}} for item in index_items]
        if not session_keys and not extra_keys:
            return [], None
        found = self.store.batch_get(session_keys + extra_keys)
        counter = None
        for extra in extra_keys:
            counter_item = found.get((extra["PK"]["S"], extra["SK"]["S"]))
            counter = int(counter_item["n"]["N"]) if counter_item and "n" in counter_item else 0
        pairs: list[tuple[Item, SessionItem | None]] = []
        for item in index_items:
            session_item = found.get((item["PK"]["S"], keys.SESSION_SK))
            # A lookup whose session is gone (purged or removed by TTL, cascade pending) is skipped.
            pairs.append((item, SessionItem.from_item(session_item) if session_item else None))
        return pairs, counter

    def _sorted_in_memory(
        self,
        tenant: Tenant,
        query: ListQuery,
        plan: ListPlan,
        position: dict[str, Any] | None,
        fingerprint: str,
        matches: Any,
        now: int,
    ) -> SessionPage:
        bound = self.settings.list_sort_bound
        found: list[SessionItem] = []
        start_key: Item | None = None
        while True:
            result = self.store.query_index(
                plan.index,
                plan.partition,
                forward=True,
                limit=MAX_BATCH,
                start_key=start_key,
                sort_between=plan.sort_between or ("0", keys.SORT_KEY_CEILING),
            )
            index_items = [item for item in result.items if item.get("kind", {}).get("S") != "counter"]
            pairs, _ = self._sessions_for(index_items, plan, [])
            found.extend(session for _, session in pairs if session is not None and matches(session))
            if len(found) > bound:
                raise BadRequestError(
                    f"Sorting these filters by last_activity_at is limited to {bound} matching sessions; "
                    "filter by user_id or sort by created_at",
                    code="sort_bound_exceeded",
                    details={"bound": bound},
                )
            if not result.last_key:
                break
            start_key = result.last_key
        found.sort(key=lambda s: (s.last_activity_ms, s.session_id), reverse=not plan.forward)
        offset = int(position.get("o", 0)) if position else query.offset
        page = found[offset : offset + query.limit]
        has_more = offset + query.limit < len(found)
        next_cursor = (
            encode_cursor(
                self.settings.cursor_signing_key, tenant.namespace_id, fingerprint, {"o": offset + query.limit}
            )
            if has_more
            else None
        )
        return SessionPage(
            results=[session.to_session(now, self.settings.idle_after_seconds) for session in page],
            total=len(found) if query.include_total else -1,
            pagination=Pagination(limit=query.limit, next_cursor=next_cursor, has_more=has_more),
        )


def _item_key(raw: Any) -> Item | None:
    if not isinstance(raw, dict):
        raise BadRequestError("The cursor is invalid or belongs to another query", code="invalid_cursor")
    return {name: {"S": str(value)} for name, value in raw.items()}


def _matches(session: SessionItem, query: ListQuery, now: int, settings: Settings) -> bool:
    if session.visible_until_ms(settings.terminated_retention_seconds) <= now:
        return False
    if query.status is not None and session.effective_status(now, settings.idle_after_seconds) != query.status:
        return False
    if query.user_id is not None and session.user_id != query.user_id:
        return False
    if query.agent_id is not None and session.agent_id != query.agent_id:
        return False
    for key, value in query.metadata.items():
        if key not in session.metadata or metadata_text(session.metadata[key]) != value:
            return False
    if query.created_after_ms is not None and session.created_ms <= query.created_after_ms:
        return False
    return not (query.created_before_ms is not None and session.created_ms >= query.created_before_ms)
