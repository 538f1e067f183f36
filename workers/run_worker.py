"""`modstream run`: wait for the broker, create topics, load the model, run the faust worker until stopped."""

from __future__ import annotations

import asyncio

import faust
import structlog

from workers.app import WorkerState, create_app
from workers.logging_setup import configure_logging
from workers.runtime import build_pipeline
from workers.settings import Settings
from workers.topics import ensure_topics, wait_for_broker

log = structlog.get_logger("modstream.run")


async def prepare_broker(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Fail fast with a clear message when the broker is down; create any missing topic."""
    await wait_for_broker(settings.kafka.bootstrap_servers, timeout_s=timeout_s)
    return await ensure_topics(
        settings.kafka.bootstrap_servers,
        settings.topics.all(),
        partitions=settings.topics.partitions,
        replication_factor=settings.topics.replication_factor,
    )


def run_worker(settings: Settings) -> None:
    logging_config = configure_logging(settings.logging.level, settings.logging.json_logs)
    created = asyncio.run(prepare_broker(settings))
    log.info("topics_ready", created=created, bootstrap=settings.kafka.bootstrap_servers)
    pipeline = build_pipeline(settings)
    log.info("model_loaded", name=pipeline.model.name, version=pipeline.model.version)
    app = create_app(settings, pipeline, WorkerState(model_ready=True))
    worker = faust.Worker(
        app,
        loglevel=settings.logging.level.lower(),
        logging_config=logging_config,
        quiet=True,
        redirect_stdouts=False,
    )
    worker.execute_from_commandline()
