"""Broker outage: the broker stops for 30 s while the worker has work in flight, then starts again; the
worker reconnects by itself, on the same process, and processes what arrives after the outage.

The local broker keeps everything in memory, so the restarted broker has no topics, no messages and no
committed offsets: the test recreates the topics (as an operator's tooling would after losing a cluster) and
accounts for the events produced before each outage and after the last one. Events the broker itself lost
(produced before the outage, not yet processed) cannot be accounted for and are reported separately.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import SettingsFactory
from tests.e2e.fleet import Fleet, Incarnation, running_fleet
from tests.e2e.ledger import Ledger, TopicTail, wait_until_accounted
from tests.e2e.traffic import Position, Traffic, short_posts
from workers.broker import LocalBroker, tcp_accepts
from workers.run_worker import prepare_broker
from workers.settings import Settings

OUTAGE_S = 30.0
BATCH = 500  # events produced and accounted for before each outage and after the last one
IN_FLIGHT = 1_500  # events produced right before each outage, so that the worker is busy when it comes


@dataclass(frozen=True)
class OutageScale:
    name: str
    outages: int


SCALES = (
    pytest.param(OutageScale("broker outage", outages=1), id="1-outage"),
    pytest.param(OutageScale("broker outage soak", outages=3), id="3-outages", marks=pytest.mark.soak),
)


@dataclass(frozen=True)
class OutageRun:
    scale: OutageScale
    ledger: Ledger  # the events produced while the broker was up and could keep them
    busy_at_outage: list[bool]
    alive_during_outage: list[bool]
    healthz_during_outage: list[int]
    pid_before: int
    pid_after: int
    ready_after: bool
    rewinds: int
    exit_code: int


def _healthz(worker: Incarnation) -> int:
    try:
        with urllib.request.urlopen(f"{worker.worker.base_url}/healthz", timeout=2) as response:
            return response.status
    except OSError:
        return 0


async def _produce_and_account(settings: Settings, prefix: str, count: int) -> Ledger:
    topics = settings.topics
    async with Traffic(settings.kafka.bootstrap_servers) as traffic:
        await traffic.send(short_posts(topics.posts, prefix, count))
        assert not traffic.failures, traffic.failures[:5]
    async with TopicTail(settings.kafka.bootstrap_servers, (topics.results, topics.dlq)) as tail:
        return await wait_until_accounted(tail, traffic.positions, topics.dlq, timeout_s=240)


async def _produce(settings: Settings, prefix: str, count: int) -> dict[str, Position]:
    async with Traffic(settings.kafka.bootstrap_servers) as traffic:
        await traffic.send(short_posts(settings.topics.posts, prefix, count))
    return traffic.positions


def _merge(ledgers: list[Ledger]) -> Ledger:
    merged = Ledger({event: position for ledger in ledgers for event, position in ledger.sent.items()})
    for ledger in ledgers:
        merged.results.update(ledger.results)
        merged.dead_letters.update(ledger.dead_letters)
    return merged


def _scenario(
    fleet: Fleet, broker: LocalBroker, settings: Settings, scale: OutageScale, allow: Callable[[int], None]
) -> OutageRun:
    worker = fleet.start("w1")
    ledgers: list[Ledger] = []
    busy, alive, healthz = [], [], []
    for outage in range(scale.outages):
        ledgers.append(asyncio.run(_produce_and_account(settings, f"before-{outage}", BATCH)))
        asyncio.run(_produce(settings, f"in-flight-{outage}", IN_FLIGHT))
        busy.append(worker.wait_busy())
        broker.stop()
        time.sleep(OUTAGE_S)
        alive.append(worker.alive)
        healthz.append(_healthz(worker))
        assert not tcp_accepts(broker.host, broker.port)
        allow(broker.start())
        asyncio.run(prepare_broker(settings))  # memory storage: the topics are gone
    ledgers.append(asyncio.run(_produce_and_account(settings, "after", BATCH)))
    ready_after = bool((worker.worker.readiness() or {}).get("ready"))
    pid_after = worker.pid if worker.alive else -1
    exit_code = fleet.stop(worker)
    return OutageRun(
        scale=scale,
        ledger=_merge(ledgers),
        busy_at_outage=busy,
        alive_during_outage=alive,
        healthz_during_outage=healthz,
        pid_before=worker.pid,
        pid_after=pid_after,
        ready_after=ready_after,
        rewinds=len(fleet.log_events("partition_rewound")),
        exit_code=exit_code,
    )


@pytest.fixture(scope="module", params=SCALES)
def outage_run(
    request: pytest.FixtureRequest,
    module_broker: LocalBroker,
    scenario_settings: SettingsFactory,
    tmp_path_factory: pytest.TempPathFactory,
    allow_long_lived_process: Callable[[int], None],
) -> OutageRun:
    scale: OutageScale = request.param
    settings = scenario_settings("outage")
    started = time.monotonic()
    with running_fleet(settings, Path(tmp_path_factory.mktemp("outage"))) as fleet:
        run = _scenario(fleet, module_broker, settings, scale, allow_long_lived_process)
    run.ledger.figures(
        scale.name,
        time.monotonic() - started,
        outages=scale.outages,
        outage_s=OUTAGE_S,
        lost_with_the_broker_memory=scale.outages * IN_FLIGHT,
        partitions_rewound=run.rewinds,
    ).publish()
    return run


def test_the_outage_came_while_the_worker_was_busy(outage_run: OutageRun) -> None:
    assert all(outage_run.busy_at_outage)


def test_the_worker_stays_alive_and_live_while_the_broker_is_down(outage_run: OutageRun) -> None:
    assert all(outage_run.alive_during_outage) and set(outage_run.healthz_during_outage) == {200}


def test_the_worker_resumes_on_the_same_process(outage_run: OutageRun) -> None:
    assert (outage_run.pid_after, outage_run.ready_after) == (outage_run.pid_before, True)


def test_every_event_the_broker_kept_has_a_result(outage_run: OutageRun) -> None:
    assert outage_run.ledger.lost == set()


def test_the_worker_drains_and_exits_cleanly_afterwards(outage_run: OutageRun) -> None:
    assert outage_run.exit_code == 0
