"""Stopping the hot path never waits for a consumer-group rebalance to settle.

While a rebalance is in progress aiokafka's ``getmany`` waits for the new assignment whatever its timeout,
and ``consumer.stop()`` waits for a pending JoinGroup; on the local broker one stayed pending past the
worker's 45 s drain deadline (the rebalance e2e scenario). The consumer here is a stand-in stuck in exactly
that state; the behaviour against the real broker is covered by ``tests/e2e/test_rebalance.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import structlog

from pipelines.processor import RawRecord
from workers.fast_consumer import BatchedHotPath
from workers.settings import KafkaSettings, Settings

SESSION_TIMEOUT_S = 0.3
HANG_GUARD_S = 10.0  # far beyond what a working stop takes: reaching it means the stop hung


class _MemberStuckInRebalance:
    """Fetches and leaving the group both wait for a rebalance that never ends."""

    def __init__(self) -> None:
        self.fetching = asyncio.Event()
        self.fetch_cancelled = False
        self.stop_called = False
        self._never = asyncio.Event()

    async def start(self) -> None:
        pass

    def subscribe(self, topics: list[str], listener: Any = None) -> None:
        pass

    def assignment(self) -> set[Any]:
        return set()

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Any]]:
        self.fetching.set()
        try:
            await self._never.wait()
        except asyncio.CancelledError:
            self.fetch_cancelled = True
            raise
        return {}

    async def stop(self) -> None:
        self.stop_called = True
        await self._never.wait()


class _Producer:
    def __init__(self) -> None:
        self.stopped = False

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.stopped = True


class _HotPathOnStuckMember(BatchedHotPath):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, self._no_step)
        self.member = _MemberStuckInRebalance()
        self.producer = _Producer()

    @staticmethod
    async def _no_step(records: list[RawRecord]) -> None:
        raise AssertionError("nothing was fetched, so no step should run")

    def _clients(self) -> tuple[Any, Any]:
        return self.member, self.producer


async def _run_then_stop(tmp_path: Path) -> tuple[_HotPathOnStuckMember, list[dict[str, Any]]]:
    settings = Settings(state_dir=tmp_path, kafka=KafkaSettings(session_timeout_s=SESSION_TIMEOUT_S))
    hot_path = _HotPathOnStuckMember(settings)
    running = asyncio.create_task(hot_path.run())
    await asyncio.wait_for(hot_path.member.fetching.wait(), HANG_GUARD_S)
    with structlog.testing.capture_logs() as logs:
        await asyncio.wait_for(hot_path.stop(), HANG_GUARD_S)
    await asyncio.wait_for(running, HANG_GUARD_S)
    return hot_path, logs


async def test_stop_abandons_a_fetch_that_waits_for_a_rebalance(tmp_path: Path) -> None:
    hot_path, _ = await _run_then_stop(tmp_path)
    assert hot_path.member.fetch_cancelled


async def test_stop_gives_up_leaving_the_group_after_the_session_timeout(tmp_path: Path) -> None:
    hot_path, logs = await _run_then_stop(tmp_path)
    assert hot_path.member.stop_called
    assert [entry["waited_s"] for entry in logs if entry["event"] == "hot_path_left_without_leave_group"] == [
        SESSION_TIMEOUT_S
    ]


async def test_stop_still_closes_the_producer_when_leaving_the_group_hangs(tmp_path: Path) -> None:
    hot_path, _ = await _run_then_stop(tmp_path)
    assert hot_path.producer.stopped
