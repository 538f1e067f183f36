"""SIGTERM while a batch is in flight: the batch's results are produced, its offsets committed, the worker
exits 0, and a restarted worker (same consumer group) finishes the stream without reprocessing anything.

Real broker, real model, `modstream run` as a process. Small consume batches and one step in flight
(MODSTREAM_BATCHING__CONSUME_BATCH_SIZE / MODSTREAM_BATCHING__PIPELINE_DEPTH) leave work for the
restarted worker; long posts (several model windows each) keep every batch busy for a while.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests.integration.worker_process import WorkerProcess, committed_offsets, isolated_settings, read_topic
from workers.run_worker import prepare_broker
from workers.settings import Settings

pytestmark = pytest.mark.timeout(420)

EVENTS = 480
WORDS = [
    "the",
    "match",
    "last",
    "night",
    "was",
    "a",
    "long",
    "one",
    "and",
    "the",
    "crowd",
    "kept",
    "singing",
    "while",
    "the",
    "rain",
    "came",
    "down",
    "on",
    "the",
    "old",
    "stadium",
    "roof,",
    "people",
    "argued",
    "about",
    "the",
    "referee,",
    "the",
    "coach,",
    "the",
    "transfer",
    "window",
    "and",
    "the",
    "price",
    "of",
    "tickets",
]
SMALL_BATCHES = {
    "MODSTREAM_BATCHING__CONSUME_BATCH_SIZE": "32",
    "MODSTREAM_BATCHING__PIPELINE_DEPTH": "1",
}


@dataclass(frozen=True)
class Drained:
    """What the first worker did before and during its shutdown."""

    settings: Settings
    state_dir: Path
    exit_code: int
    in_flight: list[dict]
    positions: dict[str, tuple[int, int]]  # event id -> (partition, offset) on the posts topic
    results_before_restart: list[str]  # event ids, one per result record
    committed: dict[int, int | None]


def _post(index: int) -> bytes:
    words = [WORDS[(index * 7 + i * 3) % len(WORDS)] for i in range(260)]  # ~1,500 characters
    event = {
        "schema_version": 1,
        "kind": "post",
        "id": f"drain-{index:04d}",
        "platform": "forum",
        "author_id": f"u{index % 17}",
        "text": f"post {index}: " + " ".join(words),
        "created_at": datetime.now(UTC).isoformat(),
    }
    return orjson.dumps(event)


async def _produce_posts(settings: Settings, count: int) -> dict[str, tuple[int, int]]:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = {}
        for index in range(count):
            event_id = f"drain-{index:04d}"
            futures[event_id] = await producer.send(
                settings.topics.posts, key=event_id.encode(), value=_post(index)
            )
        return {event_id: ((m := await future).partition, m.offset) for event_id, future in futures.items()}
    finally:
        await producer.stop()


def _result_ids(settings: Settings, expected: int | None = None, timeout_s: float = 10.0) -> list[str]:
    records = asyncio.run(
        read_topic(settings, settings.topics.results, expected=expected, timeout_s=timeout_s)
    )
    return [orjson.loads(value)["event_id"] for _, _, _, value in records]


def _wait_for_a_batch_in_flight(worker: WorkerProcess, timeout_s: float = 120.0) -> None:
    """Until some results are out and more records are inside the worker (taken, not yet produced)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        produced = worker.metric("modstream_messages_out_total", topic=worker.settings.topics.results)
        if produced > 0 and worker.metric("modstream_queue_depth") > 0:
            return
        time.sleep(0.02)
    raise AssertionError(f"no batch in flight within {timeout_s}s\n{worker.log_tail()}")


@pytest.fixture(scope="module")
def drained(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Drained:
    state = tmp_path_factory.mktemp("drain")
    settings = isolated_settings(broker, f"drain-{uuid4().hex[:8]}", state)
    asyncio.run(prepare_broker(settings))
    worker = WorkerProcess(settings, state / "worker-1.log", extra_env=SMALL_BATCHES)
    worker.start()
    try:
        worker.wait_ready(timeout_s=90)
        positions = asyncio.run(_produce_posts(settings, EVENTS))
        _wait_for_a_batch_in_flight(worker)
    finally:
        exit_code = worker.stop(timeout_s=60)
    started = worker.log_events("shutdown_started")
    assert started, worker.log_tail()
    in_flight = started[0]["in_flight"]
    assert isinstance(in_flight, list)
    return Drained(
        settings=settings,
        state_dir=state,
        exit_code=exit_code,
        in_flight=in_flight,
        positions=positions,
        results_before_restart=_result_ids(settings),
        committed=asyncio.run(committed_offsets(settings, settings.topics.posts)),
    )


@pytest.fixture(scope="module")
def results_after_restart(drained: Drained) -> list[str]:
    """Result event ids (one per record) once a second worker in the same group has finished the stream."""
    worker = WorkerProcess(drained.settings, drained.state_dir / "worker-2.log", extra_env=SMALL_BATCHES)
    worker.start()
    try:
        worker.wait_ready(timeout_s=90)
        deadline = time.monotonic() + 180
        while len(set(_result_ids(drained.settings))) < EVENTS and time.monotonic() < deadline:
            time.sleep(2)
        time.sleep(2)  # a reprocessed duplicate could still be on its way
        results = _result_ids(drained.settings)
    finally:
        exit_code = worker.stop(timeout_s=60)
    assert exit_code == 0, worker.log_tail()
    return results


def test_sigterm_arrives_while_a_batch_is_in_flight(drained: Drained) -> None:
    assert drained.in_flight, "the shutdown log names no batch in flight: the test did not test a drain"


def test_worker_exits_zero_after_draining(drained: Drained) -> None:
    assert drained.exit_code == 0


def test_every_record_of_the_in_flight_batch_has_its_result(drained: Drained) -> None:
    produced = set(drained.results_before_restart)
    at = {position: event_id for event_id, position in drained.positions.items()}
    for batch in drained.in_flight:
        for offset in range(batch["first"], batch["last"] + 1):
            assert at[(batch["partition"], offset)] in produced


def test_offsets_are_committed_past_the_in_flight_batch(drained: Drained) -> None:
    for batch in drained.in_flight:
        committed = drained.committed[batch["partition"]]
        assert committed is not None and committed > batch["last"]


def test_everything_below_the_committed_offsets_has_a_result(drained: Drained) -> None:
    produced = set(drained.results_before_restart)
    for event_id, (partition, offset) in drained.positions.items():
        committed = drained.committed[partition]
        if committed is not None and offset < committed:
            assert event_id in produced


def test_restarted_worker_completes_the_stream(results_after_restart: list[str]) -> None:
    assert set(results_after_restart) == {f"drain-{i:04d}" for i in range(EVENTS)}


def test_restarted_worker_reprocesses_nothing_that_was_committed(results_after_restart: list[str]) -> None:
    duplicates = {event_id: n for event_id, n in Counter(results_after_restart).items() if n > 1}
    assert duplicates == {}
