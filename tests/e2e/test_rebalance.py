"""Rebalance: three workers in one consumer group are started, stopped (SIGTERM) and restarted under load; no
event is lost, and no event is processed by two workers beyond the in-flight window of a handover.

Each worker process writes its results to a topic of its own (``MODSTREAM_TOPICS__RESULTS`` per process;
the input topics and the group are shared), so every result names the process that made it. An event with
results from two processes was processed twice; a worker finishes and commits the steps in flight before it
gives a partition up, so that should stay within the records one worker can hold (``pipeline_depth`` steps
of ``consume_batch_size`` records) for each membership change.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import SettingsFactory
from tests.e2e.fleet import Fleet, Incarnation, running_fleet
from tests.e2e.ledger import Ledger, TopicTail, wait_until_accounted
from tests.e2e.traffic import Traffic, short_posts
from workers.settings import Settings
from workers.topics import ensure_topics

WORKERS = ("w1", "w2", "w3")
# faust assigns partition numbers (each with all its topics) as a unit: 6 give each of 3 workers a share.
PARTITIONS = 6
# Three model-running processes share 2 cores: one ONNX Runtime thread each. Small consume batches keep the
# handover window (pipeline_depth x consume_batch_size records per membership change) well below the events
# sent, so the bound on events processed by two workers can fail.
FLEET_ENV = {
    "MODSTREAM_MODEL__INTRA_OP_THREADS": "1",
    "MODSTREAM_TOPICS__PARTITIONS": str(PARTITIONS),
    "MODSTREAM_BATCHING__CONSUME_BATCH_SIZE": "32",
}


@dataclass(frozen=True)
class RebalanceScale:
    name: str
    events: int
    rounds: int  # each round stops and restarts every worker once, one after the other
    seed: int
    step_s: float = 12.0  # rough cost of one membership change, to spread the stream over

    @property
    def plan(self) -> list[tuple[str, str]]:
        """("start" | "stop", worker) steps after the three initial starts."""
        steps = []
        for round_ in range(1, self.rounds + 1):
            order = list(WORKERS)
            random.Random(self.seed + round_).shuffle(order)
            for worker in order:
                steps += [("stop", worker), ("start", worker)]
        return steps

    @property
    def rate_per_s(self) -> float:
        return self.events / ((len(self.plan) + len(WORKERS)) * self.step_s)


SCALES = (
    pytest.param(RebalanceScale("rebalance", events=3_000, rounds=1, seed=7), id="3000-events-1-round"),
    pytest.param(
        RebalanceScale("rebalance soak", events=8_000, rounds=3, seed=99),
        id="8000-events-3-rounds",
        marks=pytest.mark.soak,
    ),
)


@dataclass(frozen=True)
class RebalanceRun:
    scale: RebalanceScale
    settings: Settings
    ledger: Ledger
    changes: int  # membership changes after the first worker joined
    exit_codes: list[int]

    @property
    def processed_by_two(self) -> set[str]:
        """Events with results from more than one worker process."""
        seen: dict[str, int] = {}
        for counter in self.ledger.results_by_topic.values():
            for event_id in counter:
                seen[event_id] = seen.get(event_id, 0) + 1
        return {event_id for event_id, processes in seen.items() if processes > 1}

    @property
    def handover_window(self) -> int:
        """Records one worker holds at most: ``pipeline_depth`` steps of ``consume_batch_size`` records."""
        depth = self.settings.batching.pipeline_depth
        return depth * int(FLEET_ENV["MODSTREAM_BATCHING__CONSUME_BATCH_SIZE"])


def _results_topic(settings: Settings, incarnation: str) -> str:
    return f"{settings.topics.results}.{incarnation}"


async def _scenario(fleet: Fleet, settings: Settings, scale: RebalanceScale) -> tuple[Ledger, list[int]]:
    rng = random.Random(scale.seed)
    topics = settings.topics
    generation = dict.fromkeys(WORKERS, 0)
    names = [f"{w}-{n}" for w in WORKERS for n in range(scale.rounds + 1)]
    results_topics = [_results_topic(settings, name) for name in names]
    await ensure_topics(settings.kafka.bootstrap_servers, results_topics, partitions=topics.partitions)

    def start(worker: str) -> Incarnation:
        name = f"{worker}-{generation[worker]}"
        return fleet.start(name, env={"MODSTREAM_TOPICS__RESULTS": _results_topic(settings, name)})

    running: dict[str, Incarnation] = {}
    exit_codes: list[int] = []
    events = short_posts(topics.posts, "rebalance", scale.events, seed=scale.seed)
    async with (
        Traffic(settings.kafka.bootstrap_servers) as traffic,
        TopicTail(settings.kafka.bootstrap_servers, (*results_topics, topics.dlq)) as tail,
    ):
        running["w1"] = await asyncio.to_thread(start, "w1")
        producing = asyncio.create_task(traffic.stream(events, scale.rate_per_s))
        for worker in WORKERS[1:]:
            running[worker] = await asyncio.to_thread(start, worker)
        for action, worker in scale.plan:
            await asyncio.sleep(rng.uniform(1.0, 4.0))
            if action == "stop":
                exit_codes.append(await asyncio.to_thread(fleet.stop, running.pop(worker)))
                generation[worker] += 1
            else:
                running[worker] = await asyncio.to_thread(start, worker)
        await producing
        assert not traffic.failures, traffic.failures[:5]
        ledger = await wait_until_accounted(tail, traffic.positions, topics.dlq, timeout_s=600)
        for incarnation in running.values():
            exit_codes.append(await asyncio.to_thread(fleet.stop, incarnation))
    return ledger, exit_codes


@pytest.fixture(scope="module", params=SCALES)
def rebalance_run(
    request: pytest.FixtureRequest,
    scenario_settings: SettingsFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> RebalanceRun:
    scale: RebalanceScale = request.param
    settings = scenario_settings("rebalance", partitions=PARTITIONS)
    started = time.monotonic()
    with running_fleet(settings, Path(tmp_path_factory.mktemp("rebalance")), FLEET_ENV) as fleet:
        ledger, exit_codes = asyncio.run(_scenario(fleet, settings, scale))
    changes = len(WORKERS) - 1 + len(scale.plan)
    run = RebalanceRun(scale, settings, ledger, changes, exit_codes)
    ledger.figures(
        scale.name,
        time.monotonic() - started,
        processes=len(fleet.incarnations),
        membership_changes=changes,
        processed_by_two_workers=len(run.processed_by_two),
    ).publish()
    return run


def test_no_event_is_lost(rebalance_run: RebalanceRun) -> None:
    assert rebalance_run.ledger.lost == set()


def test_the_work_was_shared_by_several_worker_processes(rebalance_run: RebalanceRun) -> None:
    producing = [topic for topic, counter in rebalance_run.ledger.results_by_topic.items() if counter]
    assert len(producing) >= len(WORKERS)


def test_events_processed_by_two_workers_stay_within_the_handover_window(rebalance_run: RebalanceRun) -> None:
    bound = rebalance_run.changes * rebalance_run.handover_window
    assert bound < rebalance_run.scale.events / 2, "the bound must be able to fail"
    assert len(rebalance_run.processed_by_two) <= bound


def test_every_stopped_worker_drained_and_exited_cleanly(rebalance_run: RebalanceRun) -> None:
    assert set(rebalance_run.exit_codes) == {0}
