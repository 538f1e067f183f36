"""The faust app: one batched agent per input topic, results/review/dead-letter producers, health pages.

Offsets: faust acks the events of a ``take_events`` batch only when the loop body for that batch has finished,
and the body awaits the broker's acknowledgement of every output first — so offsets are committed only after
the outputs are durable (at-least-once; a redelivered event yields an identical, deduplicable result).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import faust
import structlog
from faust.types import EventT, StreamT

from pipelines.processor import ModerationPipeline, Outcome, RawRecord
from workers.settings import Settings

log = structlog.get_logger("modstream.worker")


@dataclass(slots=True)
class WorkerState:
    """What /readyz and the counters report."""

    model_ready: bool = False
    partitions_assigned: bool = False
    counts: Counter[str] = field(default_factory=Counter)


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
    settings: Settings, pipeline: ModerationPipeline, state: WorkerState | None = None
) -> faust.App:
    state = state or WorkerState(model_ready=True)
    app = faust.App(settings.kafka.group_id, **faust_settings(settings))
    names = settings.topics
    raw = {"value_serializer": "raw", "key_serializer": "raw"}
    results_topic = app.topic(names.results, **raw)
    review_topic = app.topic(names.review, **raw)
    dlq_topic = app.topic(names.dlq, **raw)

    async def publish(outcomes: Sequence[Outcome]) -> None:
        pending = []
        for outcome in outcomes:
            if outcome.result is not None:
                result = outcome.result
                key, value = result.event_id.encode(), result.model_dump_json().encode()
                pending.append(await results_topic.send(key=key, value=value))
                if result.decision != "allow":
                    pending.append(await review_topic.send(key=key, value=value))
                state.counts[f"decision.{result.decision}"] += 1
            elif outcome.dead_letter is not None:
                letter = outcome.dead_letter
                with structlog.contextvars.bound_contextvars(
                    topic=outcome.record.topic,
                    partition=outcome.record.partition,
                    offset=outcome.record.offset,
                    event_id=letter.event_id,
                ):
                    log.warning("dead_lettered", reason=letter.reason.value, detail=letter.detail)
                key = letter.event_id.encode() if letter.event_id else outcome.record.key
                pending.append(await dlq_topic.send(key=key, value=letter.model_dump_json().encode()))
                state.counts[f"dead_letter.{letter.reason.value}"] += 1
        await asyncio.gather(*pending)

    async def handle(stream: StreamT[bytes]) -> None:
        batching = settings.batching
        async for events in stream.take_events(batching.consume_batch_size, within=batching.max_wait_s):
            records = [_record(event) for event in events]
            outcomes = await pipeline.process(records)
            await publish(outcomes)
            state.counts["messages_in"] += len(records)
            log.debug("batch_done", size=len(records), topic=records[0].topic)

    for name, topic_name in (("posts", names.posts), ("transcripts", names.transcripts)):
        app.agent(app.topic(topic_name, **raw), name=f"modstream.{name}")(handle)

    @app.on_partitions_assigned.connect
    async def _assigned(sender: Any, assigned: Any, **_: Any) -> None:
        state.partitions_assigned = True

    @app.on_before_shutdown.connect
    async def _drain(sender: Any, **_: Any) -> None:
        await pipeline.stop()
        log.info("pipeline_stopped", **dict(state.counts))

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        ready = state.model_ready and state.partitions_assigned
        body = {
            "ready": ready,
            "model_ready": state.model_ready,
            "partitions_assigned": state.partitions_assigned,
            "model": pipeline.model.model_dump(),
        }
        return web.json(body, status=200 if ready else 503)

    @app.page("/stats")
    async def stats(web: Any, request: Any) -> Any:
        return web.json(dict(state.counts))

    return app


def _record(event: EventT) -> RawRecord:
    message = event.message
    return RawRecord(
        topic=message.topic,
        value=message.value,
        key=message.key,
        partition=message.partition,
        offset=message.offset,
    )
