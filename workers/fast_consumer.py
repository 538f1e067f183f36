"""The batched hot path: aiokafka ``getmany`` -> ``ModerationPipeline.process`` -> produce -> commit.

faust keeps the app, its lifecycle and web pages; this service replaces faust's per-event stream machinery on
the hot path (measured in ``bench/pass_through.py``). Records are fetched in batches of up to
``batching.consume_batch_size``; up to ``pipeline_depth`` batches are in flight at once, so the next batch is
fetched, decoded and converted while the current one is in inference. Offsets are committed in fetch order,
only after every output of the batch (and of all earlier batches) is acknowledged by the broker:
at-least-once, and results are deterministic, so a redelivery yields an identical record.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from pipelines.processor import ModerationPipeline, Outcome, RawRecord
from workers.settings import Settings
from workers.topics import admin_options

log = structlog.get_logger("modstream.fast_consumer")

StepHook = Callable[[str, Sequence[Outcome], float, Counter[str]], None]
Publisher = Callable[[Sequence[Outcome]], Awaitable[Counter[str]]]
Offsets = dict[TopicPartition, int]


@dataclass(frozen=True, slots=True)
class HotPathOptions:
    pipeline_depth: int = 2  # batches in flight: one in inference, one being fetched/converted
    linger_ms: int = 5
    max_batch_bytes: int = 512 * 1024


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, hot_path: BatchedHotPath) -> None:
        self._hot_path = hot_path

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._hot_path.drain()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("hot_path_partitions_assigned", partitions=len(assigned))


class BatchedHotPath:
    """Consume the input topics in batches, run the pipeline, produce, commit. ``run()`` until ``stop()``."""

    def __init__(
        self,
        settings: Settings,
        pipeline: ModerationPipeline,
        *,
        on_step: StepHook | None = None,
        publish: Publisher | None = None,
        options: HotPathOptions | None = None,
    ) -> None:
        """``publish`` replaces the built-in output step (it may send through ``self.send``); ``on_step`` gets
        (input topic, outcomes, perf_counter at start, records produced per topic) after each batch."""
        self._settings = settings
        self._pipeline = pipeline
        self._on_step = on_step
        self._publish_outcomes = publish or self._publish
        self._options = options or HotPathOptions()
        self._in_flight: deque[asyncio.Task[Offsets]] = deque()
        self._stopping = asyncio.Event()
        self._finished = asyncio.Event()
        self._started = False
        self._committed: dict[tuple[str, int], int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self.records_done = 0

    def _clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaProducer]:
        kafka, batching = self._settings.kafka, self._settings.batching
        common = {"bootstrap_servers": kafka.bootstrap_servers, **admin_options(kafka)}
        consumer = AIOKafkaConsumer(
            group_id=kafka.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=batching.consume_batch_size,
            fetch_max_bytes=max(kafka.max_message_bytes * 2, 4_194_304),
            max_partition_fetch_bytes=max(kafka.max_message_bytes * 2, 1_048_576),
            session_timeout_ms=int(kafka.session_timeout_s * 1000),
            heartbeat_interval_ms=int(kafka.heartbeat_interval_s * 1000),
            rebalance_timeout_ms=int(kafka.rebalance_timeout_s * 1000),
            **common,
        )
        producer = AIOKafkaProducer(
            acks="all",
            enable_idempotence=kafka.enable_idempotence,
            linger_ms=self._options.linger_ms,
            max_batch_size=self._options.max_batch_bytes,
            max_request_size=max(kafka.max_message_bytes * 2, 1_048_576),
            **common,
        )
        return consumer, producer

    async def run(self) -> None:
        self._started = True
        try:
            await self._run()
        finally:
            self._finished.set()

    async def _run(self) -> None:
        consumer, producer = self._clients()
        self._consumer, self._producer = consumer, producer
        await producer.start()
        await consumer.start()
        consumer.subscribe(list(self._settings.topics.inputs()), listener=_CommitOnRevoke(self))
        wait_ms = max(1, int(self._settings.batching.max_wait_s * 1000))
        size = self._settings.batching.consume_batch_size
        try:
            await self._pipeline.start()
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=wait_ms, max_records=size)
                records = [
                    RawRecord(m.topic, m.value, m.key, m.partition, m.offset)
                    for messages in batches.values()
                    for m in messages
                ]
                if records:
                    self._in_flight.append(asyncio.create_task(self._step(records)))
                while self._in_flight and (
                    len(self._in_flight) >= self._options.pipeline_depth or self._in_flight[0].done()
                ):
                    await self._commit_next()
            await self.drain()
        finally:
            await consumer.stop()
            await producer.stop()

    async def stop(self) -> None:
        """Stop fetching, finish and commit the batches in flight, close the clients; returns when done."""
        self._stopping.set()
        if self._started:
            await self._finished.wait()

    @property
    def consumer(self) -> AIOKafkaConsumer | None:
        """The aiokafka consumer while running (for offset checks); None before ``run()``."""
        return self._consumer

    def assigned(self) -> set[tuple[str, int]]:
        """(topic, partition) pairs this consumer owns now (for readiness)."""
        if self._consumer is None:
            return set()
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def lag(self) -> dict[tuple[str, int], int]:
        """Per assigned partition: fetch high-water mark minus the committed offset (never ListOffsets)."""
        lag: dict[tuple[str, int], int] = {}
        if self._consumer is None:
            return lag
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            done = self._committed.get((tp.topic, tp.partition))
            if high is not None and done is not None:
                lag[(tp.topic, tp.partition)] = max(0, int(high) - done)
        return lag

    async def drain(self) -> None:
        """Finish every batch in flight and commit its offsets (on stop and before a rebalance)."""
        while self._in_flight:
            await self._commit_next()

    async def _commit_next(self) -> None:
        offsets = await self._in_flight.popleft()
        if offsets and self._consumer is not None:
            await self._consumer.commit(offsets)
            self._committed.update({(tp.topic, tp.partition): offset for tp, offset in offsets.items()})

    async def _step(self, records: list[RawRecord]) -> Offsets:
        started = time.perf_counter()
        outcomes = await self._pipeline.process(records)
        produced = await self._publish_outcomes(outcomes)
        self.records_done += len(records)
        if self._on_step is not None:
            try:
                self._on_step(records[0].topic, outcomes, started, produced)
            except Exception:  # telemetry never fails a batch whose outputs are durable
                log.exception("hot_path_telemetry_failed", size=len(records))
        offsets: Offsets = {}
        for record in records:
            if record.partition is not None and record.offset is not None:
                tp = TopicPartition(record.topic, record.partition)
                offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
        return offsets

    async def send(self, topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
        """Queue one output record on the hot path's producer; await the result for the broker's ack."""
        if self._producer is None:
            raise RuntimeError("BatchedHotPath.send() called before run() started the producer")
        return await self._producer.send(topic, value=value, key=key)

    async def _publish(self, outcomes: Sequence[Outcome]) -> Counter[str]:
        assert self._producer is not None
        topics = self._settings.topics
        send = self._producer.send
        pending: list[Awaitable[Any]] = []
        produced: Counter[str] = Counter()
        for outcome in outcomes:
            result = outcome.result
            if result is not None:
                key, value = result.event_id.encode(), result.model_dump_json().encode()
                pending.append(await send(topics.results, value=value, key=key))
                produced[topics.results] += 1
                if result.decision != "allow":
                    pending.append(await send(topics.review, value=value, key=key))
                    produced[topics.review] += 1
            elif outcome.dead_letter is not None:
                letter = outcome.dead_letter
                key = letter.event_id.encode() if letter.event_id else outcome.record.key
                log.warning("dead_lettered", reason=letter.reason.value, detail=letter.detail)
                pending.append(await send(topics.dlq, value=letter.model_dump_json().encode(), key=key))
                produced[topics.dlq] += 1
        await asyncio.gather(*pending)
        return produced
