"""PUT on DynamoDB Local: concurrent PUTs of one new id create it once and replace it the rest
of the times, and the stream announces one `session.created`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from conftest import Api, scan_all
from support import body_of

pytestmark = pytest.mark.integration


def test_sixteen_concurrent_puts_of_a_new_id_create_it_once(local_table: Any, stream_harness: Any) -> None:
    api = Api()

    def put(n: int) -> dict[str, Any]:
        return api.call("put", session_id="thread:race", body={"user_id": f"u{n % 2}", "metadata": {"n": n}})

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(put, range(16)))
    statuses = sorted(r["statusCode"] for r in responses)
    assert statuses == [200] * 15 + [201], [r["body"] for r in responses if r["statusCode"] not in (200, 201)]
    stored = body_of(api.call("get", session_id="thread:race"))
    assert stored["version"] == 16  # one creation, then fifteen replacements, none lost
    assert sorted(body_of(r)["version"] for r in responses) == list(range(1, 17))
    heads = [i for i in scan_all(local_table) if i["SK"]["S"] == "SESSION"]
    assert len(heads) == 1
    assert body_of(api.call("list", body={}))["total"] == 1
    last = stored["metadata"]["n"]
    assert body_of(api.call("list", body={"filters": {"metadata": {"n": last}}}))["total"] == 1
    assert body_of(api.call("list", body={"filters": {"user_id": stored["user_id"]}}))["total"] == 1
    other_user = "u1" if stored["user_id"] == "u0" else "u0"
    assert body_of(api.call("list", body={"filters": {"user_id": other_user}}))["total"] == 0

    stream_harness.feeder.drain()
    assert stream_harness.feeder.failed_batches == []
    created = [e for e in stream_harness.bus.events if e["detail-type"] == "session.created"]
    assert [e["detail"]["session_id"] for e in created] == ["thread:race"]
