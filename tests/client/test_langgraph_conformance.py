"""LangGraph's own conformance suite (`langgraph-checkpoint-conformance`, from PyPI) on the
saver, against the local runtime: the base capabilities and every extended one.

As the suite's README asks, each capability gets a fresh checkpointer that sees an empty store:
here a new namespace of the same organization per capability (`list(None)` and
`delete_for_runs` span a whole namespace). The suite calls the async methods; the same suite
runs a second time through the sync methods (each async method made to call its sync twin in a
worker thread), so both halves of the saver meet the same contract."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

pytest.importorskip("langgraph.checkpoint.conformance")

from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import ALL_CAPABILITIES

from agent_sessions_client import AgentSessionsClient, AsyncAgentSessionsClient
from agent_sessions_client.integrations.langgraph import AgentSessionsSaver

pytestmark = [pytest.mark.integration]


class SyncDrivenSaver(AgentSessionsSaver):
    """The suite's async calls served by the sync methods."""

    async def aget_tuple(self, config: Any) -> Any:
        return await asyncio.to_thread(self.get_tuple, config)

    async def alist(self, config: Any, **kwargs: Any) -> AsyncIterator[Any]:  # type: ignore[override]
        for found in await asyncio.to_thread(lambda: list(self.list(config, **kwargs))):
            yield found

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        return await asyncio.to_thread(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        await asyncio.to_thread(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await asyncio.to_thread(self.delete_thread, thread_id)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await asyncio.to_thread(self.copy_thread, source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await asyncio.to_thread(lambda: self.prune(thread_ids, strategy=strategy))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await asyncio.to_thread(self.delete_for_runs, run_ids)


def run_suite(live_api: Any, kind: str) -> Any:
    counter = itertools.count()

    @checkpointer_test(name=f"AgentSessionsSaver-{kind}")
    async def fresh_saver() -> AsyncIterator[AgentSessionsSaver]:
        namespace = live_api.new_namespace(f"lg-{kind}-{next(counter)}")
        async_client = AsyncAgentSessionsClient(live_api.base_url, live_api.key, namespace)
        client = AgentSessionsClient(live_api.base_url, live_api.key, namespace)
        saver_class = SyncDrivenSaver if kind == "sync" else AgentSessionsSaver
        try:
            yield saver_class(client, async_client)
        finally:
            await async_client.aclose()
            client.close()

    return asyncio.run(validate(fresh_saver))


def assert_all_passed(report: Any) -> None:
    results = report.results
    assert {str(capability.value) for capability in ALL_CAPABILITIES} == set(results)
    failures = {name: result.failures for name, result in results.items() if not result.passed}
    assert not failures, failures
    for name, result in results.items():
        assert result.detected, f"{name} was not detected as implemented"
        assert result.tests_passed > 0 and result.tests_failed == 0, name


def test_the_async_saver_passes_every_capability(live_api: Any) -> None:
    assert_all_passed(run_suite(live_api, "async"))


def test_the_sync_saver_passes_every_capability(live_api: Any) -> None:
    assert_all_passed(run_suite(live_api, "sync"))
