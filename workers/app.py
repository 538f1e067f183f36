"""The faust app: lifecycle, timers and web pages; the input topics are consumed by the batched hot path.

Consumption (``workers.fast_consumer.BatchedHotPath``): aiokafka ``getmany`` batches, each one step here
(``pipeline.process``, then every output produced and acknowledged, re-sent until it is: ``workers.delivery``),
offsets committed in order only after their step's outputs are durable (at-least-once; a redelivered event
yields an identical, deduplicable result). faust's own consumer only reads the (empty) control topic in a
group of its own: faust needs one subscription to run, and its per-event streams measured ~3x slower than
batches on this path (``bench/pass_through.py``).

Shutdown (SIGTERM): readiness turns false, faust stops its own consumer, then ``on_before_shutdown`` stops
the hot path: no more fetches, the steps in flight run to the end and are produced and committed, the group
is left, then the batcher stops and the process exits 0. ``run_worker.DrainingWorker`` bounds this with
``shutdown.drain_timeout_s``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import faust
import structlog
from faust.types import StreamT

from pipelines.processor import ModerationPipeline, Outcome, RawRecord
from schemas.dead_letter import DeadLetter
from workers.dashboard import DashboardAggregator, flagged_items
from workers.delivery import OutputRecord, deliver
from workers.fast_consumer import BatchedHotPath, HotPathOptions
from workers.metrics import StepFigures, WorkerMetrics, collect_step_figures
from workers.settings import Settings, TopicSettings
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
    in_flight: Callable[[], list[dict[str, Any]]] = list  # the hot path's steps not yet committed

    @property
    def partitions_assigned(self) -> bool:
        return bool(self.assigned)

    @property
    def ready(self) -> bool:
        return self.model_ready and self.warmed_up and self.partitions_assigned and not self.draining

    def in_flight_ranges(self) -> list[dict[str, Any]]:
        return self.in_flight()


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
    # faust creates its data dir (state_dir/faust) without parents: a new MODSTREAM_STATE_DIR would stop the start
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    metrics, dashboard = telemetry.metrics, telemetry.dashboard
    metrics.set_model(pipeline.model.name, pipeline.model.version)
    app = faust.App(host_app_id(settings.kafka.group_id), **faust_settings(settings))
    names = settings.topics

    def on_assignment(assigned: set[PartitionKey]) -> None:
        for key in set(state.done_offsets) - assigned:
            state.done_offsets.pop(key, None)
        state.assigned = assigned

    async def step(records: list[RawRecord]) -> None:
        started = time.perf_counter()
        metrics.queue_depth.inc(len(records))
        try:
            outcomes = await pipeline.process(records)
            await publish(outcomes)
        finally:
            metrics.queue_depth.dec(len(records))
        state.done_offsets.update({key: last + 1 for key, (_, last) in _offset_ranges(records).items()})
        state.counts["messages_in"] += len(records)
        try:
            for topic, (topic_outcomes, topic_produced) in _by_input_topic(outcomes, names).items():
                metrics.record_step(report(topic, topic_outcomes, started), topic_produced)
        except Exception:  # telemetry must never fail a batch whose outputs are already produced
            log.exception("telemetry_failed", size=len(records))
        log.debug("batch_done", size=len(records))

    options = HotPathOptions(pipeline_depth=settings.batching.pipeline_depth)
    hot_path = BatchedHotPath(settings, step, on_assignment=on_assignment, options=options)
    state.in_flight = hot_path.in_flight_ranges

    async def publish(outcomes: Sequence[Outcome]) -> list[OutputRecord]:
        """Send every output, wait for the broker's acknowledgements; returns the records produced."""
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
        retries = await deliver(records, hot_path.send_many)
        if retries:
            log.info("outputs_delivered_after_retries", records=len(records), retries=retries)
        return records

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

    # faust runs only with a subscription: its consumer reads the control topic in a group of this process
    # alone, so workers joining and leaving never rebalance it (faust's shutdown can hang in a rebalance).
    @app.agent(app.topic(names.control, value_serializer="raw"), name="modstream.control")
    async def control(stream: StreamT[bytes]) -> None:
        async for _ in stream:  # nothing is sent there; the hot path owns the input topics
            pass

    @app.task
    async def consume() -> None:
        """The hot path; if it ever fails, the worker crashes (restarted by its supervisor) instead of idling."""
        await pipeline.start()
        try:
            await hot_path.run()
        except Exception as error:
            log.exception("hot_path_failed")
            await app.crash(error)

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
        lag = await hot_path.lag()
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

    @app.on_before_shutdown.connect
    async def _drain(sender: Any, **_: Any) -> None:
        in_flight = hot_path.in_flight_records
        await hot_path.stop()  # finishes, produces and commits the steps in flight, leaves the group
        await pipeline.stop()
        log.info(
            "pipeline_stopped",
            in_flight_records_at_stop=in_flight,
            done_offsets={f"{t}[{p}]": o for (t, p), o in sorted(state.done_offsets.items())},
            **dict(state.counts),
        )

    register_pages(
        app, state=state, metrics=metrics, dashboard=dashboard, model=pipeline.model, settings=settings.web
    )
    return app


def host_app_id(group_id: str) -> str:
    """faust's app id (and its consumer group): unique per worker process."""
    return f"{group_id}-host-{socket.gethostname()}-{os.getpid()}"


def _by_input_topic(
    outcomes: Sequence[Outcome], names: TopicSettings
) -> dict[str, tuple[list[Outcome], Counter[str]]]:
    """A step's outcomes and the records they produced, per input topic (a batch may hold both inputs)."""
    split: dict[str, tuple[list[Outcome], Counter[str]]] = {}
    for outcome in outcomes:
        topic_outcomes, produced = split.setdefault(outcome.record.topic, ([], Counter()))
        topic_outcomes.append(outcome)
        if outcome.result is not None:
            produced[names.results] += 1
            if outcome.result.decision != "allow":
                produced[names.review] += 1
        elif outcome.dead_letter is not None:
            produced[names.dlq] += 1
    return split


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
