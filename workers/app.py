"""The faust app: one batched agent per input topic, results/review/dead-letter producers, health pages.

Offsets: faust acks the events of a ``take_events`` batch only when the loop body for that batch has finished,
and the body awaits the broker's acknowledgement of every output first, sending failed ones again until they
are acknowledged (``workers.delivery``) — so offsets are committed only after the outputs are durable
(at-least-once; a redelivered event yields an identical, deduplicable result). Input partitions left beyond
the end of their log (a recreated topic, a broker that lost its log) are rewound (``workers.offset_guard``).

Shutdown (SIGTERM): readiness turns false, faust pauses the partitions and stops fetching, the batch in
flight (and the few records already buffered, at most ``shutdown.max_buffered_records`` per topic) run to
the end and are produced, faust waits until every started record is acked and commits, then the batcher
stops and the process exits 0. ``run_worker.DrainingWorker`` bounds this with ``shutdown.drain_timeout_s``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import faust
import structlog
from faust.types import EventT, StreamT

from pipelines.processor import ModerationPipeline, Outcome, RawRecord
from schemas.dead_letter import DeadLetter
from workers.dashboard import DashboardAggregator, flagged_items
from workers.delivery import OutputRecord, deliver
from workers.metrics import StepFigures, WorkerMetrics, collect_step_figures
from workers.offset_guard import CHECK_INTERVAL_S as OFFSET_GUARD_INTERVAL_S
from workers.offset_guard import OffsetGuard
from workers.settings import Settings
from workers.web import register_pages

log = structlog.get_logger("modstream.worker")

WARM_UP_TEXT = "warm-up text for the first batch"
HEARTBEAT_INTERVAL_S = 1.0
PAYLOAD_PREVIEW_CHARS = 200  # of a dead letter's payload, logged only when logging.log_message_text is on
PartitionKey = tuple[str, int]
OffsetRanges = dict[PartitionKey, tuple[int, int]]  # (topic, partition) -> (first, last) offset


@dataclass(slots=True)
class WorkerState:
    """What /healthz, /readyz, the lag sampler and the shutdown log report."""

    model_ready: bool = False
    warmed_up: bool = False
    draining: bool = False
    assigned: set[PartitionKey] = field(default_factory=set)
    last_heartbeat: float = field(default_factory=time.monotonic)
    loop_lag_s: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    # Next offset after the last record whose outputs are produced (what the next commit will cover).
    done_offsets: dict[PartitionKey, int] = field(default_factory=dict)
    in_flight: dict[int, OffsetRanges] = field(default_factory=dict)

    @property
    def partitions_assigned(self) -> bool:
        return bool(self.assigned)

    @property
    def ready(self) -> bool:
        return self.model_ready and self.warmed_up and self.partitions_assigned and not self.draining

    def in_flight_ranges(self) -> list[dict[str, Any]]:
        return [
            {"topic": topic, "partition": partition, "first": first, "last": last}
            for ranges in self.in_flight.values()
            for (topic, partition), (first, last) in sorted(ranges.items())
        ]


@dataclass(frozen=True, slots=True)
class Telemetry:
    """Where the agents report: Prometheus metrics and the dashboard's rolling window."""

    metrics: WorkerMetrics
    dashboard: DashboardAggregator

    @classmethod
    def for_model(
        cls, settings: Settings, moderation_labels: Sequence[str], sentiment_labels: Sequence[str]
    ) -> Telemetry:
        topics = settings.topics
        metrics = WorkerMetrics(
            input_topics=topics.inputs(),
            output_topics=(topics.results, topics.review, topics.dlq),
            categories=moderation_labels,
            sentiment_labels=sentiment_labels,
        )
        dashboard = DashboardAggregator(
            moderation_labels,
            window_s=settings.web.dashboard_window_s,
            recent_items=settings.web.recent_items,
            show_text=settings.web.show_text,
        )
        return cls(metrics, dashboard)


def faust_settings(settings: Settings) -> dict[str, Any]:
    kafka = settings.kafka
    options: dict[str, Any] = {
        "broker": f"kafka://{kafka.bootstrap_servers.replace(',', ';kafka://')}",
        "store": "memory://",
        "datadir": str(settings.state_dir / "faust"),
        "broker_session_timeout": kafka.session_timeout_s,
        "broker_heartbeat_interval": kafka.heartbeat_interval_s,
        "broker_rebalance_timeout": kafka.rebalance_timeout_s,
        "broker_commit_every": settings.batching.consume_batch_size,
        "broker_commit_interval": 1.0,
        "producer_max_request_size": max(kafka.max_message_bytes * 2, 1_048_576),
        "consumer_max_fetch_size": max(kafka.max_message_bytes * 2, 4_194_304),
        "topic_partitions": settings.topics.partitions,
        "topic_allow_declare": False,
        "topic_disable_leader": True,
        "web_enabled": settings.web.enabled,
        "web_bind": settings.web.host,
        "web_port": settings.web.port,
        "producer_acks": -1,
        # Shutdown drains what was fetched: bound it, and wait for every started record before committing.
        "stream_buffer_maxsize": settings.shutdown.max_buffered_records,
        "stream_wait_empty": True,
        "broker_credentials": _credentials(settings),
    }
    return options


def _credentials(settings: Settings) -> Any:
    kafka = settings.kafka
    if kafka.security_protocol == "PLAINTEXT":
        return None
    ssl_context = None
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        import ssl

        ssl_context = ssl.create_default_context(cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None)
    if kafka.security_protocol == "SSL":
        return faust.SSLCredentials(ssl_context)
    password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
    return faust.SASLCredentials(
        username=kafka.sasl_username or "",
        password=password,
        mechanism=kafka.sasl_mechanism or "PLAIN",
        ssl_context=ssl_context,
    )


def create_app(
    settings: Settings,
    pipeline: ModerationPipeline,
    telemetry: Telemetry,
    state: WorkerState | None = None,
) -> faust.App:
    state = state or WorkerState(model_ready=True)
    metrics, dashboard = telemetry.metrics, telemetry.dashboard
    metrics.set_model(pipeline.model.name, pipeline.model.version)
    app = faust.App(settings.kafka.group_id, **faust_settings(settings))
    names = settings.topics
    inputs = set(names.inputs())
    raw = {"value_serializer": "raw", "key_serializer": "raw"}
    results_topic = app.topic(names.results, **raw)
    review_topic = app.topic(names.review, **raw)
    dlq_topic = app.topic(names.dlq, **raw)
    step_ids = itertools.count()
    output_topics = {topic.get_topic_name(): topic for topic in (results_topic, review_topic, dlq_topic)}

    async def send(record: OutputRecord) -> Any:
        return await output_topics[record.topic].send(key=record.key, value=record.value)

    async def publish(outcomes: Sequence[Outcome]) -> Counter[str]:
        """Send every output, wait for the broker's acknowledgements; returns records per output topic."""
        records: list[OutputRecord] = []
        for outcome in outcomes:
            if outcome.result is not None:
                result = outcome.result
                key, value = result.event_id.encode(), result.model_dump_json().encode()
                records.append(OutputRecord(names.results, key, value))
                if result.decision != "allow":
                    records.append(OutputRecord(names.review, key, value))
                state.counts[f"decision.{result.decision}"] += 1
            elif outcome.dead_letter is not None:
                letter = outcome.dead_letter
                with structlog.contextvars.bound_contextvars(
                    topic=outcome.record.topic,
                    partition=outcome.record.partition,
                    offset=outcome.record.offset,
                    event_id=letter.event_id,
                ):
                    log.warning(
                        "dead_lettered",
                        reason=letter.reason.value,
                        detail=letter.detail,
                        **_payload_preview(letter, settings.logging.log_message_text),
                    )
                key = _dead_letter_key(letter, outcome.record.key)
                records.append(OutputRecord(names.dlq, key, letter.model_dump_json().encode()))
                state.counts[f"dead_letter.{letter.reason.value}"] += 1
        retries = await deliver(records, send)
        if retries:
            log.info("outputs_delivered_after_retries", records=len(records), retries=retries)
        return Counter(record.topic for record in records)

    def report(topic: str, outcomes: Sequence[Outcome], started: float) -> StepFigures:
        produced_at = time.time()
        figures = collect_step_figures(
            topic,
            outcomes,
            metrics.categories,
            produced_at=produced_at,
            seconds=time.perf_counter() - started,
        )
        recent = flagged_items(outcomes, seen_at=produced_at, show_text=settings.web.show_text)
        dashboard.record_step(figures, recent)
        return figures

    async def handle(stream: StreamT[bytes]) -> None:
        batching = settings.batching
        async for events in stream.take_events(batching.consume_batch_size, within=batching.max_wait_s):
            started = time.perf_counter()
            records = [_record(event) for event in events]
            ranges = _offset_ranges(records)
            step = next(step_ids)
            state.in_flight[step] = ranges
            metrics.queue_depth.inc(len(records))
            try:
                outcomes = await pipeline.process(records)
                produced = await publish(outcomes)
            finally:
                metrics.queue_depth.dec(len(records))
                del state.in_flight[step]
            state.done_offsets.update({key: last + 1 for key, (_, last) in ranges.items()})
            state.counts["messages_in"] += len(records)
            try:
                metrics.record_step(report(records[0].topic, outcomes, started), produced)
            except Exception:  # telemetry must never fail a batch whose outputs are already produced
                log.exception("telemetry_failed", topic=records[0].topic, size=len(records))
            log.debug("batch_done", size=len(records), topic=records[0].topic)

    for name, topic_name in (("posts", names.posts), ("transcripts", names.transcripts)):
        app.agent(app.topic(topic_name, **raw), name=f"modstream.{name}")(handle)

    @app.task
    async def warm_up() -> None:
        """One text through the whole batcher path (tokenizer thread, model thread) before /readyz is ok."""
        started = time.perf_counter()
        await pipeline.start()
        await pipeline.score(pipeline.prepare_text("modstream-warm-up", WARM_UP_TEXT))
        state.warmed_up = True
        log.info("warm_up_done", seconds=round(time.perf_counter() - started, 3))

    @app.task
    async def heartbeat() -> None:
        """Liveness: a beat per second; a late beat is event-loop lag (something blocked the loop)."""
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)
            state.loop_lag_s = max(0.0, loop.time() - before - HEARTBEAT_INTERVAL_S)
            state.last_heartbeat = time.monotonic()
            metrics.event_loop_lag.set(state.loop_lag_s)

    lag_series: set[PartitionKey] = set()  # partitions that currently have a lag gauge

    @app.timer(interval=settings.web.lag_interval_s)
    async def sample_lag() -> None:
        lag = await consumer_lag(app, state)
        metrics.set_lag(lag, revoked=lag_series - set(lag))
        lag_series.clear()
        lag_series.update(lag)
        dashboard.record_lag(lag)

    def report_policy() -> None:
        policy = pipeline.policy
        escalated = sorted(policy.escalations) if policy.escalates else []
        metrics.set_policy(policy.version, policy.labels, escalated)  # the dashboard keeps its start columns

    report_policy()

    @app.timer(interval=settings.policy.reload_interval_s)
    async def reload_policy() -> None:
        """Hot reload: a changed, valid policy file takes effect from the next batch; an invalid one is
        rejected (logged, counted) and the policy in force stays."""
        status = await pipeline.reload_policy()
        if status is None or status.outcome == "unchanged":
            return
        metrics.policy_reloads.labels(status.outcome).inc()
        if status.outcome == "reloaded":
            report_policy()
            log.info(
                "policy_reloaded", policy_version=status.version, categories=list(pipeline.policy.labels)
            )
        else:
            log.error("policy_rejected", policy_version=status.version, error=status.error)

    offset_guard = OffsetGuard(inputs)

    @app.timer(interval=OFFSET_GUARD_INTERVAL_S)
    async def guard_offsets() -> None:
        """Rewind input partitions left beyond the end of their log (see workers.offset_guard)."""
        if app.rebalancing or not state.assigned:
            return
        try:
            await offset_guard.check(app.consumer)
        except Exception as error:  # a rebalance started meanwhile: the next tick looks again
            log.debug("offset_guard_skipped", error=repr(error))

    @app.on_partitions_assigned.connect
    async def _assigned(sender: Any, assigned: Any, **_: Any) -> None:
        state.assigned = {(tp.topic, tp.partition) for tp in assigned if tp.topic in inputs}
        log.info("partitions_assigned", partitions=len(state.assigned))

    @app.on_partitions_revoked.connect
    async def _revoked(sender: Any, revoked: Any, **_: Any) -> None:
        for tp in revoked:
            state.assigned.discard((tp.topic, tp.partition))
            state.done_offsets.pop((tp.topic, tp.partition), None)

    @app.on_before_shutdown.connect
    async def _drain(sender: Any, **_: Any) -> None:
        # faust has already paused the partitions, finished every started record and committed.
        await pipeline.stop()
        log.info(
            "pipeline_stopped",
            in_flight_records=sum(
                last - first + 1 for r in state.in_flight.values() for first, last in r.values()
            ),
            done_offsets={f"{t}[{p}]": o for (t, p), o in sorted(state.done_offsets.items())},
            **dict(state.counts),
        )

    register_pages(
        app, state=state, metrics=metrics, dashboard=dashboard, model=pipeline.model, settings=settings.web
    )
    return app


async def consumer_lag(app: faust.App, state: WorkerState) -> dict[PartitionKey, int]:
    """Lag per assigned input partition: fetch high-water mark minus the next offset to be committed.

    The high-water mark comes with every fetch response (``consumer.highwater``), never from ListOffsets
    (Tansu answers ListOffsets "latest" wrongly). Before a partition's first batch is done, the fetch
    position stands in for the committed offset.
    """
    lag: dict[PartitionKey, int] = {}
    try:
        consumer = app.consumer
        for tp in consumer.assignment():
            key = (tp.topic, tp.partition)
            if key not in state.assigned:
                continue
            high = consumer.highwater(tp)
            done = state.done_offsets.get(key)
            if done is None:
                done = await consumer.position(tp)
            if high is not None and done is not None:
                lag[key] = max(0, int(high) - int(done))
    except Exception as error:  # not started yet, or a rebalance in progress: report what we have
        log.debug("lag_sample_skipped", error=repr(error))
    return lag


def _offset_ranges(records: Sequence[RawRecord]) -> OffsetRanges:
    """First and last offset per partition of one batch (records arrive in offset order per partition)."""
    ranges: OffsetRanges = {}
    for record in records:
        if record.partition is None or record.offset is None:
            continue
        key = (record.topic, record.partition)
        first = ranges[key][0] if key in ranges else record.offset
        ranges[key] = (first, record.offset)
    return ranges


def _record(event: EventT) -> RawRecord:
    message = event.message
    return RawRecord(
        topic=message.topic,
        value=message.value,
        key=message.key,
        partition=message.partition,
        offset=message.offset,
    )


def _payload_preview(letter: DeadLetter, allowed: bool) -> dict[str, str]:
    """The start of a dead letter's payload (message text) for its log line, only when the setting allows it."""
    if not allowed or letter.payload is None:
        return {}
    return {"payload_preview": letter.payload[:PAYLOAD_PREVIEW_CHARS]}


def _dead_letter_key(letter: DeadLetter, record_key: bytes | None) -> bytes | None:
    """The event id when known, else the input's key unless the dead letter had to leave it out (too large)."""
    if letter.event_id:
        return letter.event_id.encode()
    return record_key if letter.key is not None else None
