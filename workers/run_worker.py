"""`modstream run`: wait for the broker, create topics, load the model, run the faust worker until stopped."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import faust
import structlog

from workers.app import Telemetry, WorkerState, create_app
from workers.fault_injection import with_fault_injection
from workers.logging_setup import configure_logging
from workers.metrics import InstrumentedClassifier
from workers.runtime import build_pipeline, load_classifier, policy_reloader
from workers.settings import Settings
from workers.topics import admin_options, ensure_topics, wait_for_broker

log = structlog.get_logger("modstream.run")

DRAIN_TIMEOUT_EXIT_CODE = 70  # EX_SOFTWARE: the drain did not finish; uncommitted records are redelivered


async def prepare_broker(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Fail fast with a clear message when the broker is down; create any missing topic."""
    security = admin_options(settings.kafka)  # SASL/TLS: the admin client talks to the same cluster
    await wait_for_broker(settings.kafka.bootstrap_servers, timeout_s=timeout_s, client_options=security)
    return await ensure_topics(
        settings.kafka.bootstrap_servers,
        settings.topics.all(),
        partitions=settings.topics.partitions,
        replication_factor=settings.topics.replication_factor,
        client_options=security,
    )


def pending_task_stacks(loop: asyncio.AbstractEventLoop) -> list[str]:
    """Where every unfinished task of ``loop`` waits, as ``a:12 -> b:34`` (a awaits b): what a stuck
    shutdown waits on."""
    return [" -> ".join(_await_chain(task.get_coro())) for task in asyncio.all_tasks(loop)]


def _await_chain(coro: Any) -> list[str]:
    """``Owner.function:line`` for each coroutine down the ``await`` chain, the task's own first."""
    chain = []
    while coro is not None and (frame := getattr(coro, "cr_frame", None)) is not None:
        owner = frame.f_locals.get("self")
        where = f"{frame.f_code.co_name}:{frame.f_lineno}"
        chain.append(f"{type(owner).__name__}.{where}" if owner is not None else where)
        coro = getattr(coro, "cr_await", None)
    return chain


class DrainingWorker(faust.Worker):
    """A faust worker whose SIGTERM/SIGINT first marks the worker as draining (readiness turns false),
    logs what is in flight, and arms a deadline; faust then pauses the partitions, finishes and produces
    the started records, commits, and stops. Past the deadline the process exits with code 70."""

    def __init__(self, app: faust.App, *, state: WorkerState, drain_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._state = state
        self._drain_timeout_s = drain_timeout_s

    def _on_sigterm(self) -> None:
        self._begin_drain("SIGTERM")
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self._begin_drain("SIGINT")
        super()._on_sigint()

    def _begin_drain(self, signal_name: str) -> None:
        if self._state.draining:
            return
        self._state.draining = True
        log.info(
            "shutdown_started",
            signal=signal_name,
            drain_timeout_s=self._drain_timeout_s,
            in_flight=self._state.in_flight_ranges(),
        )
        self.loop.call_later(self._drain_timeout_s, self._drain_timed_out)

    def _drain_timed_out(self) -> None:
        log.error(
            "shutdown_drain_timed_out",
            drain_timeout_s=self._drain_timeout_s,
            in_flight=self._state.in_flight_ranges(),
            hint="records not committed are redelivered to the next consumer; raise "
            "MODSTREAM_SHUTDOWN__DRAIN_TIMEOUT_S or lower MODSTREAM_BATCHING__CONSUME_BATCH_SIZE",
            pending_tasks=pending_task_stacks(self.loop),
        )
        os._exit(DRAIN_TIMEOUT_EXIT_CODE)


def run_worker(settings: Settings) -> None:
    logging_config = configure_logging(
        settings.logging.level, settings.logging.json_logs, log_message_text=settings.logging.log_message_text
    )
    created = asyncio.run(prepare_broker(settings))
    log.info("topics_ready", created=created, bootstrap=settings.kafka.bootstrap_servers)
    classifier = load_classifier(settings)
    reloader = policy_reloader(settings, classifier)  # an invalid policy file stops the start here
    policy = reloader.current
    telemetry = Telemetry.for_model(settings, policy.labels, classifier.sentiment_labels)
    if settings.fault_injection.inference_failure_marker is not None:
        log.warning("fault_injection_enabled", hint="test-only MODSTREAM_FAULT_INJECTION__* settings are on")
    model = with_fault_injection(classifier, settings.fault_injection)
    instrumented = InstrumentedClassifier(model, telemetry.metrics)  # type: ignore[arg-type]
    pipeline = build_pipeline(settings, instrumented, reloader)  # type: ignore[arg-type]
    log.info(
        "model_loaded",
        name=pipeline.model.name,
        version=pipeline.model.version,
        policy_version=policy.version,
        categories=list(policy.labels),
        escalated=sorted(policy.escalations) if policy.escalates else [],
    )
    state = WorkerState(model_ready=True)
    app = create_app(settings, pipeline, telemetry, state)
    worker = DrainingWorker(
        app,
        state=state,
        drain_timeout_s=settings.shutdown.drain_timeout_s,
        loglevel=settings.logging.level.lower(),
        logging_config=logging_config,
        quiet=True,
        redirect_stdouts=False,
    )
    worker.execute_from_commandline()
