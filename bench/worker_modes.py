"""The worker processes the broker benchmarks start: ``python -m bench.worker_modes MODE``.

Settings come from MODSTREAM_* variables as for ``modstream run``. Modes:
- ``app``: modstream's worker app (``workers.app.create_app``: faust for lifecycle and web, the batched
  aiokafka hot path ``workers.fast_consumer``) with the real model.
- ``app-noop``: the same app with ``NoOpScorer`` instead of the model (pass-through benchmark only).
- ``naive-noop``: what a user would write instead: one faust agent, one message at a time (decode, convert,
  score, assemble, send), with the same ``NoOpScorer``.
The benchmark stops the process with SIGTERM once it has counted every result on the results topic.
"""

from __future__ import annotations

import sys
from typing import Any

import faust

from bench.noop_scorer import NoOpScorer
from converters import to_document
from pipelines.assemble import WindowScores, assemble_result
from pipelines.decode import decode_event
from pipelines.policy import PolicyEngine
from schemas.results import Engine, ModelRef
from workers.app import Telemetry, WorkerState, create_app, faust_settings
from workers.logging_setup import configure_logging
from workers.runtime import build_pipeline, load_classifier
from workers.settings import Settings

MODES = ("app", "app-noop", "naive-noop")


def modstream_app(settings: Settings, *, noop: bool) -> faust.App:
    classifier: Any = NoOpScorer() if noop else load_classifier(settings)
    telemetry = Telemetry.for_model(settings, classifier.moderation_labels, classifier.sentiment_labels)
    pipeline = build_pipeline(settings, classifier)
    return create_app(settings, pipeline, telemetry, WorkerState(model_ready=True))


def naive_app(settings: Settings) -> faust.App:
    """One message at a time: the per-event faust loop a user writes first."""
    scorer = NoOpScorer()
    policy = PolicyEngine.with_overrides(scorer.thresholds, {}, {})
    model = ModelRef(name=scorer.name, version=scorer.version)
    engines: dict[str, Engine] = dict.fromkeys(scorer.moderation_labels, "encoder")
    pipeline = build_pipeline(settings, scorer)  # only for its chunking rules
    app = faust.App(settings.kafka.group_id, **faust_settings(settings))
    raw = {"value_serializer": "raw", "key_serializer": "raw"}
    results = app.topic(settings.topics.results, **raw)

    @app.agent(app.topic(settings.topics.posts, **raw), name="naive.posts")
    async def naive(stream: Any) -> None:
        async for value in stream:
            prepared = pipeline.prepare_document(to_document(decode_event(value, max_bytes=1_000_000)))
            texts = [chunk.text for chunk in prepared.chunks]
            predictions = scorer.infer(scorer.encode(texts))
            result = assemble_result(
                prepared.document,
                prepared.chunks,
                WindowScores(predictions.sentiment, predictions.moderation),
                sentiment_labels=scorer.sentiment_labels,
                moderation_labels=scorer.moderation_labels,
                engines=engines,
                policy=policy,
                model=model,
            )
            await results.send(key=result.event_id.encode(), value=result.model_dump_json().encode())

    return app


def main(mode: str) -> None:
    if mode not in MODES:
        raise SystemExit(f"unknown mode {mode!r}; choose one of {MODES}")
    settings = Settings()
    logging_config = configure_logging("WARNING")  # the worker's own logging setup, as `modstream run` does
    app = naive_app(settings) if mode == "naive-noop" else modstream_app(settings, noop=mode == "app-noop")
    worker = faust.Worker(
        app, loglevel="warning", logging_config=logging_config, quiet=True, redirect_stdouts=False
    )
    worker.execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
