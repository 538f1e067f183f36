"""The worker's hot path: aiokafka ``getmany`` batches -> one step (pipeline, produce) -> commit, pipelined.

faust keeps the app, its lifecycle, timers and web pages; consumption of the input topics is this class
(measured against faust's per-event streams in ``bench/pass_through.py``; see the README's design notes).
Records are fetched in batches of up to ``batching.consume_batch_size``; up to ``pipeline_depth`` steps are in
flight at once, so the next batch is fetched, decoded and converted while the current one is in inference.
Offsets are committed in fetch order, only after every output of the step (and of all earlier steps) is
acknowledged by the broker: at-least-once, and results are deterministic, so a redelivery yields an
identical record. Before partitions are revoked (rebalance, shutdown) the steps in flight finish and commit.

A stop never waits for the group to settle: while a rebalance is in progress aiokafka's ``getmany`` waits for
the new assignment whatever its timeout, and leaving the group waits for a pending JoinGroup (up to the
broker's rebalance timeout; the local broker kept one pending past the 45 s drain deadline). ``stop()``
abandons such a fetch (records fetched but not processed are not committed, so the next owner reads them),
and leaving the group is given ``kafka.session_timeout_s``: past it the broker drops a silent member anyway.

A commit refused because the group moved on (the partitions now belong to another member) is logged and
dropped: that member gets the records again. A commit that fails because the broker is unreachable is
retried with a growing pause until it goes through, the group moves on, or the worker stops.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.partitioner import DefaultPartitioner

from pipelines.processor import RawRecord
from workers.delivery import OutputRecord
from workers.settings import Settings
from workers.topics import admin_options

log = structlog.get_logger("modstream.hot_path")

Step = Callable[[list[RawRecord]], Awaitable[None]]  # process + produce one batch (raises only on bugs)
AssignmentHook = Callable[[set[tuple[str, int]]], None]
Offsets = dict[TopicPartition, int]
FIRST_COMMIT_RETRY_S = 0.5
MAX_COMMIT_RETRY_S = 5.0
_GROUP_MOVED_ON = (CommitFailedError, IllegalStateError)


@dataclass(frozen=True, slots=True)
class HotPathOptions:
    pipeline_depth: int = 2  # steps in flight: one in inference, one being fetched/converted
    linger_ms: int = 5
    max_batch_bytes: int = 512 * 1024


class _DrainOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, hot_path: BatchedHotPath) -> None:
        self._hot_path = hot_path

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._hot_path.drain()
        self._hot_path.report_assignment()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("partitions_assigned", partitions=len(assigned))
        self._hot_path.report_assignment()


@dataclass(slots=True)
class _InFlight:
    task: asyncio.Task[None]
    offsets: Offsets  # next offset to commit per partition once the step is done
    ranges: dict[tuple[str, int], tuple[int, int]]  # first and last offset per partition


class BatchedHotPath:
    """Consume the input topics in batches and run ``step`` on each; ``run()`` until ``stop()``."""

    def __init__(
        self,
        settings: Settings,
        step: Step,
        *,
        on_assignment: AssignmentHook | None = None,
        options: HotPathOptions | None = None,
    ) -> None:
        self._settings = settings
        self._handle = step
        self._on_assignment = on_assignment
        self._options = options or HotPathOptions()
        self._in_flight: deque[_InFlight] = deque()
        self._commit_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._finished = asyncio.Event()
        self._started = False
        self._committed: dict[tuple[str, int], int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._fetching: asyncio.Future[dict[TopicPartition, list[Any]]] | None = None
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = DefaultPartitioner()
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
        try:
            await consumer.start()
            consumer.subscribe(list(self._settings.topics.inputs()), listener=_DrainOnRevoke(self))
            wait_ms = max(1, int(self._settings.batching.max_wait_s * 1000))
            size = self._settings.batching.consume_batch_size
            while not self._stopping.is_set():
                batches = await self._fetch(consumer, wait_ms, size)
                records = [
                    RawRecord(m.topic, m.value, m.key, m.partition, m.offset)
                    for messages in batches.values()
                    for m in messages
                ]
                if records:
                    self._in_flight.append(self._start_step(records))
                while self._in_flight and (
                    len(self._in_flight) >= self._options.pipeline_depth or self._in_flight[0].task.done()
                ):
                    await self._commit_next()
            log.info("hot_path_draining", steps_in_flight=len(self._in_flight))
            await self.drain()
        finally:
            log.info("hot_path_leaving_group")
            await self._leave_group(consumer)
            await producer.stop()
            self.report_assignment()
            log.info("hot_path_stopped", records_done=self.records_done)

    async def _fetch(
        self, consumer: AIOKafkaConsumer, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[Any]]:
        """One ``getmany``; an empty batch when ``stop()`` abandoned it (see the module notes)."""
        fetch = asyncio.ensure_future(consumer.getmany(timeout_ms=timeout_ms, max_records=max_records))
        self._fetching = fetch
        try:
            return await fetch
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if fetch.cancelled() and not (current is not None and current.cancelling()):
                return {}  # stop() abandoned the fetch, nobody cancelled this task
            raise
        finally:
            self._fetching = None

    async def _leave_group(self, consumer: AIOKafkaConsumer) -> None:
        """``consumer.stop()`` (commit nothing more, send LeaveGroup), bounded by the session timeout."""
        budget_s = self._settings.kafka.session_timeout_s
        closing = asyncio.ensure_future(consumer.stop())
        await asyncio.wait({closing}, timeout=budget_s)
        if closing.done():
            closing.result()
            return
        closing.cancel()
        await asyncio.wait({closing}, timeout=1.0)
        log.warning(
            "hot_path_left_without_leave_group",
            waited_s=budget_s,
            hint="a group rebalance was in progress; the broker drops this member after the session "
            "timeout and gives its partitions to the others",
        )

    def _start_step(self, records: list[RawRecord]) -> _InFlight:
        offsets: Offsets = {}
        ranges: dict[tuple[str, int], tuple[int, int]] = {}
        for record in records:
            if record.partition is None or record.offset is None:
                continue
            key = (record.topic, record.partition)
            ranges[key] = (ranges[key][0] if key in ranges else record.offset, record.offset)
            offsets[TopicPartition(record.topic, record.partition)] = record.offset + 1
        return _InFlight(asyncio.create_task(self._run_step(records)), offsets, ranges)

    async def stop(self) -> None:
        """Stop fetching, finish and commit the steps in flight, close the clients; returns when done."""
        self._stopping.set()
        if self._fetching is not None:
            self._fetching.cancel()  # a fetch waiting for a rebalance to end would hold the stop up
        if self._started:
            await self._finished.wait()

    @property
    def consumer(self) -> AIOKafkaConsumer | None:
        """The aiokafka consumer while running; None before ``run()``."""
        return self._consumer

    def assigned(self) -> set[tuple[str, int]]:
        """(topic, partition) pairs this consumer owns now (for readiness)."""
        if self._consumer is None or self._finished.is_set():
            return set()
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def report_assignment(self) -> None:
        if self._on_assignment is not None:
            self._on_assignment(self.assigned())

    def in_flight_ranges(self) -> list[dict[str, Any]]:
        """First and last offset per partition of every step not yet committed (for the shutdown log)."""
        return [
            {"topic": topic, "partition": partition, "first": first, "last": last}
            for step in self._in_flight
            for (topic, partition), (first, last) in sorted(step.ranges.items())
        ]

    @property
    def in_flight_records(self) -> int:
        return sum(last - first + 1 for s in self._in_flight for first, last in s.ranges.values())

    async def lag(self) -> dict[tuple[str, int], int]:
        """Per assigned partition: fetch high-water mark minus the next offset to commit (never ListOffsets,
        which the local broker answers wrongly); the fetch position stands in before the first commit."""
        lag: dict[tuple[str, int], int] = {}
        consumer = self._consumer
        if consumer is None or self._finished.is_set():
            return lag
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            done = self._committed.get((tp.topic, tp.partition))
            if done is None:
                try:
                    done = await asyncio.wait_for(consumer.position(tp), 0.5)
                except Exception:  # not fetched yet, or a rebalance in progress
                    continue
            if high is not None and done is not None:
                lag[(tp.topic, tp.partition)] = max(0, int(high) - int(done))
        return lag

    async def drain(self) -> None:
        """Finish every step in flight and commit its offsets (on stop and before a rebalance)."""
        while self._in_flight:
            await self._commit_next()

    async def _commit_next(self) -> None:
        async with self._commit_lock:
            if not self._in_flight:
                return
            step = self._in_flight[0]
            await step.task  # a step raises only on a bug: let it crash the hot path (and the worker)
            self._in_flight.popleft()
            if step.offsets:
                await self._commit(step.offsets)

    async def _commit(self, offsets: Offsets) -> None:
        assert self._consumer is not None
        pause = FIRST_COMMIT_RETRY_S
        while True:
            try:
                await self._consumer.commit(offsets)
            except _GROUP_MOVED_ON as error:
                log.warning(
                    "commit_dropped_after_rebalance",
                    partitions=len(offsets),
                    error=repr(error),
                    hint="the partitions belong to another member now, which processes these records again",
                )
                return
            except KafkaError as error:
                if self._stopping.is_set() and self._consumer.assignment() == set():
                    log.warning("commit_abandoned_on_stop", partitions=len(offsets), error=repr(error))
                    return
                log.warning("commit_failed_retrying", retry_in_s=pause, error=repr(error))
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_COMMIT_RETRY_S)
                continue
            self._committed.update({(tp.topic, tp.partition): o for tp, o in offsets.items()})
            return

    async def _run_step(self, records: list[RawRecord]) -> None:
        await self._handle(records)
        self.records_done += len(records)

    async def send(self, topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
        """Queue one output record on the hot path's producer; await the result for the broker's ack."""
        (ack,) = await self.send_many([OutputRecord(topic, key, value)])
        return ack

    async def send_many(self, records: Sequence[OutputRecord]) -> list[Awaitable[Any]]:
        """Queue records as one producer batch per topic partition (the producer's default partitioner on
        the key, as ``send`` would pick); returns each record's acknowledgement future (shared per batch)."""
        producer = self._producer
        if producer is None:
            raise RuntimeError("BatchedHotPath.send_many() called before run() started the producer")
        partitions: dict[str, list[int]] = {}
        groups: dict[tuple[str, int], list[int]] = {}
        for index, record in enumerate(records):
            if record.topic not in partitions:
                partitions[record.topic] = sorted(await producer.partitions_for(record.topic))
            known = partitions[record.topic]
            partition = self._partitioner(record.key, known, known)
            groups.setdefault((record.topic, partition), []).append(index)
        acks: list[Awaitable[Any]] = [None] * len(records)  # type: ignore[list-item]
        for (topic, partition), indices in groups.items():
            batch, members = producer.create_batch(), []
            for index in indices:
                record = records[index]
                if batch.append(key=record.key, value=record.value, timestamp=None) is not None:
                    members.append(index)
                    continue
                if members:  # the batch is full: send it, start the next one with this record
                    future = await producer.send_batch(batch, topic, partition=partition)
                    for member in members:
                        acks[member] = future
                    batch, members = producer.create_batch(), []
                    if batch.append(key=record.key, value=record.value, timestamp=None) is not None:
                        members.append(index)
                        continue
                # larger than a whole batch (up to max_request_size): the producer sends it on its own
                acks[index] = await producer.send(
                    topic, value=record.value, key=record.key, partition=partition
                )
            if members:
                future = await producer.send_batch(batch, topic, partition=partition)
                for member in members:
                    acks[member] = future
        return acks
