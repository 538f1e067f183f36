"""The drain-timeout log names where each unfinished task waits (workers.run_worker.pending_task_stacks)."""

from __future__ import annotations

import asyncio

from workers.run_worker import pending_task_stacks


class _Service:
    async def stop(self, gate: asyncio.Event) -> None:
        await self._wait_for(gate)

    async def _wait_for(self, gate: asyncio.Event) -> None:
        await gate.wait()


async def test_a_stuck_task_is_reported_down_its_await_chain() -> None:
    gate = asyncio.Event()
    stuck = asyncio.create_task(_Service().stop(gate))
    await asyncio.sleep(0)
    try:
        chains = pending_task_stacks(asyncio.get_running_loop())
    finally:
        gate.set()
        await stuck
    assert any(chain.startswith("_Service.stop:") and " -> _Service._wait_for:" in chain for chain in chains)
