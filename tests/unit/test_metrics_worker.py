"""WorkerMetrics and the per-step tally: what one agent step turns into on /metrics.

Outcomes come from the real pipeline with the tiny test model (tests/unit/fakes.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pipelines.policy import PolicyEngine
from pipelines.processor import ModerationPipeline, Outcome, PipelineConfig, RawRecord
from schemas.errors import Reason
from tests.unit.fakes import CRASH_MARKER, MODERATION_LABELS, SENTIMENT_LABELS, FakeClassifier
from workers.metrics import (
    DECISIONS,
    ESCALATION_OUTCOMES,
    POLICY_RELOAD_OUTCOMES,
    InstrumentedClassifier,
    StepFigures,
    WorkerMetrics,
    collect_step_figures,
)

POSTS, TRANSCRIPTS = "in.posts", "in.transcripts"
OUTPUTS = ("out.results", "out.review", "out.dlq")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def post(event_id: str, text: str, created_at: datetime = NOW - timedelta(seconds=2)) -> bytes:
    event = {"schema_version": 1, "kind": "post", "id": event_id, "platform": "x", "author_id": "u1"}
    return json.dumps(event | {"text": text, "created_at": created_at.isoformat()}).encode()


def make_metrics() -> WorkerMetrics:
    return WorkerMetrics(
        input_topics=(POSTS, TRANSCRIPTS),
        output_topics=OUTPUTS,
        categories=MODERATION_LABELS,
        sentiment_labels=SENTIMENT_LABELS,
    )


def value(metrics: WorkerMetrics, sample_name: str, /, **labels: str) -> float:
    text = generate_latest(metrics.registry).decode()
    matching = [
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert matching, f"no sample {sample_name} {labels}"
    return sum(matching)


def all_label_values(metrics: WorkerMetrics) -> set[str]:
    text = generate_latest(metrics.registry).decode()
    return {
        v
        for family in text_string_to_metric_families(text)
        for s in family.samples
        for k, v in s.labels.items()
        if k not in ("le", "name", "version")
    }


async def outcomes_for(
    values: Sequence[bytes | None], classifier: FakeClassifier | None = None
) -> list[Outcome]:
    classifier = classifier or FakeClassifier()
    records = [RawRecord(POSTS, v, partition=0, offset=n) for n, v in enumerate(values)]
    policy = PolicyEngine(classifier.thresholds)
    async with ModerationPipeline(classifier, policy, PipelineConfig()) as pipeline:
        return await pipeline.process(records)


def figures_for(outcomes: Sequence[Outcome]) -> StepFigures:
    return collect_step_figures(POSTS, outcomes, MODERATION_LABELS, produced_at=NOW.timestamp(), seconds=0.25)


def test_every_fixed_series_exists_at_zero_before_any_event() -> None:
    metrics = make_metrics()
    assert value(metrics, "modstream_messages_in_total", topic=POSTS) == 0
    assert (
        value(metrics, "modstream_messages_dead_lettered_total", topic=TRANSCRIPTS, reason="invalid_json")
        == 0
    )
    for action in DECISIONS:
        assert value(metrics, "modstream_decisions_total", action=action) == 0
    assert value(metrics, "modstream_labels_total", category="threat") == 0
    assert value(metrics, "modstream_moderation_score_count", category="spam") == 0


def test_escalation_series_exist_at_zero_for_every_escalated_category_of_the_policy() -> None:
    metrics = make_metrics()
    metrics.set_policy("abc123", [*MODERATION_LABELS, "scam"], escalated=["threat", "scam"])
    for outcome in ("decided", "skipped_budget", "skipped_queue", "failed"):
        assert (
            value(metrics, "modstream_escalations_total", engine="llm", category="scam", outcome=outcome) == 0
        )


def test_escalations_are_counted_by_category_and_outcome() -> None:
    metrics = make_metrics()
    figures = StepFigures(topic=POSTS)
    figures.escalations.update({("threat", "decided"): 3, ("threat", "skipped_budget"): 2})
    metrics.record_step(figures, {})
    assert value(metrics, "modstream_escalations_total", category="threat", outcome="decided") == 3
    assert value(metrics, "modstream_escalations_total", category="threat", outcome="skipped_budget") == 2


def test_the_policy_version_in_force_is_an_info_metric() -> None:
    metrics = make_metrics()
    metrics.set_policy("abc123", MODERATION_LABELS, escalated=[])
    assert value(metrics, "modstream_policy_info", version="abc123") == 1


def test_a_custom_category_of_the_policy_gets_label_and_score_series() -> None:
    metrics = make_metrics()
    metrics.set_policy(None, [*MODERATION_LABELS, "scam"], escalated=[])
    assert value(metrics, "modstream_labels_total", category="scam") == 0
    assert value(metrics, "modstream_moderation_score_count", category="scam") == 0


def test_model_name_and_version_are_an_info_metric() -> None:
    metrics = make_metrics()
    metrics.set_model("m", "1.2")
    assert value(metrics, "modstream_model_info", name="m", version="1.2") == 1


def test_process_memory_is_exported_in_bytes() -> None:
    assert value(make_metrics(), "modstream_process_resident_memory_bytes") > 0


async def test_a_step_counts_messages_decisions_labels_and_dead_letters() -> None:
    outcomes = await outcomes_for(
        [post("a", "i will kill you"), post("b", "love this, thanks"), b"{not json"]
    )
    metrics = make_metrics()
    metrics.record_step(figures_for(outcomes), {"out.results": 2, "out.review": 1, "out.dlq": 1})
    assert value(metrics, "modstream_messages_in_total", topic=POSTS) == 3
    assert value(metrics, "modstream_messages_out_total", topic="out.review") == 1
    assert value(metrics, "modstream_messages_dead_lettered_total", topic=POSTS, reason="invalid_json") == 1
    assert value(metrics, "modstream_decisions_total", action="allow") == 1
    assert value(metrics, "modstream_decisions_total", action="block") == 1
    assert value(metrics, "modstream_labels_total", category="threat") == 1
    assert value(metrics, "modstream_moderation_score_count", category="threat") == 2
    assert value(metrics, "modstream_step_duration_seconds_sum", topic=POSTS) == 0.25


async def test_no_event_id_or_text_ever_becomes_a_label_value() -> None:
    outcomes = await outcomes_for([post("event-id-123", "some secret words here"), b"[]"])
    metrics = make_metrics()
    metrics.record_step(figures_for(outcomes), {"out.results": 1})
    labels = all_label_values(metrics)
    fixed = {POSTS, TRANSCRIPTS, *OUTPUTS, *DECISIONS, *MODERATION_LABELS, *SENTIMENT_LABELS, "llm"}
    fixed |= {reason.value for reason in Reason} | {"post", "transcript"}
    fixed |= set(POLICY_RELOAD_OUTCOMES) | set(ESCALATION_OUTCOMES)
    assert labels <= fixed


async def test_event_age_is_produced_time_minus_created_at() -> None:
    outcomes = await outcomes_for([post("a", "hello", created_at=NOW - timedelta(seconds=3))])
    assert figures_for(outcomes).event_ages_s["post"].tolist() == [pytest.approx(3.0)]


async def test_an_event_from_the_future_has_age_zero() -> None:
    outcomes = await outcomes_for([post("a", "hello", created_at=NOW + timedelta(minutes=5))])
    assert figures_for(outcomes).event_ages_s["post"].tolist() == [0.0]


async def test_event_ages_land_in_the_histogram_by_kind() -> None:
    outcomes = await outcomes_for([post("a", "hi"), post("b", "hello")])
    metrics = make_metrics()
    metrics.record_step(figures_for(outcomes), {})
    assert value(metrics, "modstream_event_age_seconds_count", kind="post") == 2
    assert value(metrics, "modstream_event_age_seconds_sum", kind="post") == pytest.approx(4.0)


async def test_score_rows_follow_the_category_order() -> None:
    outcomes = await outcomes_for([post("a", "you idiot")])
    figures = figures_for(outcomes)
    assert figures.scores is not None
    insult = MODERATION_LABELS.index("insult")
    assert int(np.argmax(figures.scores[0])) == insult


def test_lag_gauges_are_set_per_partition_and_removed_when_revoked() -> None:
    metrics = make_metrics()
    metrics.set_lag({(POSTS, 0): 5, (POSTS, 1): 7})
    assert value(metrics, "modstream_consumer_lag", topic=POSTS, partition="1") == 7
    metrics.set_lag({(POSTS, 0): 2}, revoked=[(POSTS, 1)])
    text = generate_latest(metrics.registry).decode()
    assert 'modstream_consumer_lag{partition="1"' not in text
    assert value(metrics, "modstream_consumer_lag", topic=POSTS, partition="0") == 2


def test_instrumented_classifier_observes_one_batch_per_model_call() -> None:
    metrics = make_metrics()
    classifier = InstrumentedClassifier(FakeClassifier(), metrics)
    classifier.infer(classifier.encode(["one text", "and another one"]))
    assert value(metrics, "modstream_inference_batch_size_count") == 1
    assert value(metrics, "modstream_inference_batch_size_sum") == 2
    assert value(metrics, "modstream_inference_batch_duration_seconds_count") == 1


def test_instrumented_classifier_counts_a_failing_model_call_and_reraises() -> None:
    metrics = make_metrics()
    classifier = InstrumentedClassifier(FakeClassifier(), metrics)
    with pytest.raises(RuntimeError, match="crash marker"):
        classifier.infer(classifier.encode([f"text with {CRASH_MARKER}"]))
    assert value(metrics, "modstream_inference_batch_failures_total") == 1
    assert value(metrics, "modstream_inference_batch_size_count") == 0


def test_instrumented_classifier_passes_the_model_contract_through() -> None:
    inner = FakeClassifier()
    classifier = InstrumentedClassifier(inner, make_metrics())
    assert (classifier.name, classifier.version, classifier.max_length) == (
        inner.name,
        inner.version,
        inner.max_length,
    )
    assert classifier.moderation_labels == inner.moderation_labels
    assert classifier.thresholds == inner.thresholds
