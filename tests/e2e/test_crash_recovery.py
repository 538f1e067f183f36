"""Crash: kill -9 the worker at random moments while events stream in, restart it each time; afterwards every
event has a result, and every duplicate is an event whose result was out but whose offset was not yet
committed when the worker died (the in-flight window of at-least-once delivery).

Every other kill waits until a batch is inside the worker (taken from Kafka, outputs not yet produced).
Right after each kill the test reads the group's committed offsets and the results produced so far: the
events with a result at or past their partition's committed offset are that kill's window. Short posts
(one model window each, see tests/e2e/traffic.py) keep thousands of events affordable on 2 CPU cores.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import SettingsFactory
from tests.e2e.fleet import Fleet, running_fleet
from tests.e2e.ledger import Ledger, TopicTail, wait_until_accounted
from tests.e2e.traffic import Position, Traffic, short_posts
from tests.integration.worker_process import committed_offsets
from workers.settings import Settings


@dataclass(frozen=True)
class CrashScale:
    name: str
    events: int
    kills: int
    seed: int
    restart_s: float = 15.0  # rough cost of one kill + restart (group rejoin), to spread the stream over

    @property
    def rate_per_s(self) -> float:
        return self.events / (self.kills * self.restart_s)


SCALES = (
    pytest.param(CrashScale("crash", events=5_000, kills=5, seed=20261123), id="5000-events-5-kills"),
    pytest.param(
        CrashScale("crash soak", events=12_000, kills=10, seed=424242),
        id="12000-events-10-kills",
        marks=pytest.mark.soak,
    ),
)


@dataclass(frozen=True)
class CrashRun:
    scale: CrashScale
    settings: Settings
    ledger: Ledger
    windows: list[set[str]]  # per kill: events whose result was out but whose offset was not committed
    kills: int
    kills_mid_batch: int
    final_exit_code: int


async def _uncommitted_with_result(
    settings: Settings, tail: TopicTail, positions: dict[str, Position]
) -> set[str]:
    """Events that have a result but lie at or past their partition's committed offset."""
    committed = await committed_offsets(settings, settings.topics.posts)
    await tail.catch_up(quiet_s=0.5)
    ledger = Ledger.of(positions, tail.records, settings.topics.dlq)
    return {
        event_id
        for event_id, (_, partition, offset) in positions.items()
        if ledger.results[event_id] and offset >= (committed.get(partition) or 0)
    }


async def _scenario(
    fleet: Fleet, settings: Settings, scale: CrashScale
) -> tuple[Ledger, list[set[str]], int]:
    rng = random.Random(scale.seed)
    topics = settings.topics
    events = short_posts(topics.posts, "crash", scale.events, seed=scale.seed)
    windows: list[set[str]] = []
    mid_batch: list[bool] = []
    async with (
        Traffic(settings.kafka.bootstrap_servers) as traffic,
        TopicTail(settings.kafka.bootstrap_servers, (topics.results, topics.dlq)) as tail,
    ):
        worker = await asyncio.to_thread(fleet.start, "w0")
        producing = asyncio.create_task(traffic.stream(events, scale.rate_per_s))
        for kill in range(1, scale.kills + 1):
            await asyncio.sleep(rng.uniform(1.0, 6.0))
            if kill % 2 == 0:  # every other kill waits until a batch is inside the worker
                mid_batch.append(await asyncio.to_thread(worker.wait_busy, 10.0))
            fleet.kill(worker)
            windows.append(await _uncommitted_with_result(settings, tail, traffic.positions))
            worker = await asyncio.to_thread(fleet.start, f"w{kill}")
        await producing
        assert not traffic.failures, traffic.failures[:5]
        ledger = await wait_until_accounted(tail, traffic.positions, topics.dlq, timeout_s=600)
        exit_code = await asyncio.to_thread(fleet.stop, worker)
    return ledger, windows, sum(mid_batch), exit_code


@pytest.fixture(scope="module", params=SCALES)
def crash_run(
    request: pytest.FixtureRequest,
    scenario_settings: SettingsFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> CrashRun:
    scale: CrashScale = request.param
    settings = scenario_settings("crash")
    started = time.monotonic()
    with running_fleet(settings, Path(tmp_path_factory.mktemp("crash"))) as fleet:
        ledger, windows, mid_batch_kills, exit_code = asyncio.run(_scenario(fleet, settings, scale))
        kills = sum(1 for i in fleet.incarnations if i.ended == "killed")
    ledger.figures(
        scale.name,
        time.monotonic() - started,
        kills=kills,
        kills_mid_batch=mid_batch_kills,
        in_flight_at_kills=[len(w) for w in windows],
    ).publish()
    return CrashRun(scale, settings, ledger, windows, kills, mid_batch_kills, exit_code)


def test_the_worker_was_killed_as_planned(crash_run: CrashRun) -> None:
    assert crash_run.kills == crash_run.scale.kills


def test_some_kills_came_while_a_batch_was_inside_the_worker(crash_run: CrashRun) -> None:
    assert crash_run.kills_mid_batch >= 1


def test_every_event_has_a_result(crash_run: CrashRun) -> None:
    ledger = crash_run.ledger
    assert (ledger.lost, sum(ledger.dead_letters.values())) == (set(), 0)


def test_duplicates_are_only_events_in_flight_at_a_kill(crash_run: CrashRun) -> None:
    in_flight = set().union(*crash_run.windows)
    assert crash_run.ledger.duplicated_events <= in_flight


def test_each_kill_found_at_most_the_records_one_worker_holds_uncommitted(crash_run: CrashRun) -> None:
    """Offsets are committed right after each step's outputs: a worker that never committed would leave every
    result so far uncommitted, and the in-flight sets above would prove nothing."""
    batching = crash_run.settings.batching
    in_flight_limit = batching.pipeline_depth * batching.consume_batch_size
    assert in_flight_limit < crash_run.scale.events / crash_run.scale.kills
    assert max(len(window) for window in crash_run.windows) <= in_flight_limit


def test_duplicates_are_at_most_what_was_in_flight(crash_run: CrashRun) -> None:
    assert crash_run.ledger.duplicates <= sum(len(window) for window in crash_run.windows)


def test_the_last_worker_drains_and_exits_cleanly(crash_run: CrashRun) -> None:
    assert crash_run.final_exit_code == 0
