"""Prometheus metrics of the worker: prefix ``modstream_``, base units, ``_total`` counters.

Label values only ever come from fixed sets (configured topic names, reason codes, decisions, the model's
categories, partition numbers); never event ids or text. The hot path records once per agent step: the
app gathers a ``StepFigures`` per batch and ``WorkerMetrics.record_step`` turns it into a handful of
counter increments and whole-array histogram observations (``BatchHistogram``: one ``np.bincount`` per
batch instead of one ``observe`` call per message).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from prometheus_client import CollectorRegistry, Gauge, Info, ProcessCollector
from prometheus_client import Counter as PromCounter
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from models.base import ClassifierWrapper, Encoded, Predictions, TextClassifier
from pipelines.processor import Outcome
from schemas.errors import Reason

NAMESPACE = "modstream"
DECISIONS: tuple[str, ...] = ("allow", "review", "block")
KINDS: tuple[str, ...] = ("post", "transcript")
ESCALATION_ENGINES: tuple[str, ...] = ("llm",)
ESCALATION_OUTCOMES: tuple[str, ...] = ("decided", "skipped_budget", "skipped_queue", "failed")
POLICY_RELOAD_OUTCOMES: tuple[str, ...] = ("reloaded", "rejected")
EVENT_AGE_BUCKETS_S: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 21600, 86400,
)  # fmt: skip
SCORE_BUCKETS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 21))
BATCH_SIZE_BUCKETS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
BATCH_TOKENS_BUCKETS: tuple[float, ...] = (64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
BATCH_SECONDS_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
)  # fmt: skip


class _HistogramSeries:
    """Bucket counts and sum of one labelled histogram series; thread-safe."""

    def __init__(self, bounds: np.ndarray) -> None:
        self._bounds = bounds
        self._counts = np.zeros(len(bounds) + 1, dtype=np.int64)  # last slot: above every bound (+Inf)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        self.observe_many(np.array([value], dtype=np.float64))

    def observe_many(self, values: np.ndarray | Sequence[float]) -> None:
        array = np.asarray(values, dtype=np.float64).ravel()
        array = array[~np.isnan(array)]
        if array.size == 0:
            return
        # side="left": a value equal to a bound lands in that bound's bucket (Prometheus buckets are le).
        counts = np.bincount(np.searchsorted(self._bounds, array, side="left"), minlength=len(self._counts))
        total = float(array.sum())
        with self._lock:
            self._counts += counts
            self._sum += total

    def cumulative(self) -> tuple[list[int], float]:
        with self._lock:
            return np.cumsum(self._counts).tolist(), self._sum


class BatchHistogram(Collector):
    """A Prometheus histogram fed whole arrays at once; exposes the standard ``_bucket/_count/_sum``."""

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        labelnames: Sequence[str] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        bounds = np.asarray(sorted(float(b) for b in buckets), dtype=np.float64)
        if bounds.size == 0 or not np.isfinite(bounds).all() or np.unique(bounds).size != bounds.size:
            raise ValueError(f"{name}: buckets must be distinct finite numbers, got {list(buckets)}")
        self._name = name
        self._documentation = documentation
        self._bounds = bounds
        self._labelnames = tuple(labelnames)
        self._series: dict[tuple[str, ...], _HistogramSeries] = {}
        self._lock = threading.Lock()
        if not self._labelnames:
            self._series[()] = _HistogramSeries(bounds)
        if registry is not None:
            registry.register(self)

    def labels(self, *values: str) -> _HistogramSeries:
        if len(values) != len(self._labelnames):
            raise ValueError(f"{self._name} takes labels {self._labelnames}, got {values}")
        key = tuple(str(v) for v in values)
        series = self._series.get(key)
        if series is None:
            with self._lock:
                series = self._series.setdefault(key, _HistogramSeries(self._bounds))
        return series

    def observe_many(self, values: np.ndarray | Sequence[float]) -> None:
        self.labels().observe_many(values)

    def describe(self) -> Iterable[HistogramMetricFamily]:
        return [HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)]

    def collect(self) -> Iterable[HistogramMetricFamily]:
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)
        edges = [*(_bound_text(b) for b in self._bounds), "+Inf"]
        for key, series in sorted(self._series.items()):
            counts, total = series.cumulative()
            family.add_metric(list(key), list(zip(edges, counts, strict=True)), total)
        return [family]


def _bound_text(bound: float) -> str:
    return repr(float(bound))


@dataclass(slots=True)
class StepFigures:
    """What one agent step (one batch taken from an input topic) consumed and produced."""

    topic: str
    consumed: int = 0
    results: int = 0
    reviews: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    flagged: Counter[str] = field(default_factory=Counter)
    sentiments: Counter[str] = field(default_factory=Counter)
    event_ages_s: dict[str, np.ndarray] = field(default_factory=dict)
    escalations: Counter[tuple[str, str]] = field(default_factory=Counter)  # (category, outcome)
    scores: np.ndarray | None = None  # float [results, categories], columns in WorkerMetrics' category order
    seconds: float = 0.0
    produced_at: float = 0.0


def collect_step_figures(
    topic: str, outcomes: Sequence[Outcome], categories: Sequence[str], *, produced_at: float, seconds: float
) -> StepFigures:
    """Tally one step's outcomes (one pass, plain appends); the arrays are observed batch-wise later."""
    figures = StepFigures(topic=topic, consumed=len(outcomes), seconds=seconds, produced_at=produced_at)
    created: dict[str, list[float]] = {}
    rows: list[list[float]] = []
    for outcome in outcomes:
        result = outcome.result
        if result is None:
            if outcome.dead_letter is not None:
                figures.dead_letters[outcome.dead_letter.reason.value] += 1
            continue
        figures.decisions[result.decision] += 1
        figures.sentiments[result.sentiment.label] += 1
        figures.flagged.update(result.moderation.flagged)
        figures.escalations.update((e.category, e.outcome) for e in result.escalations)
        scores = result.moderation.scores
        rows.append([scores.get(category, 0.0) for category in categories])
        if result.created_at is not None:
            created.setdefault(result.kind, []).append(_epoch_seconds(result.created_at))
    figures.results = len(rows)
    figures.reviews = figures.decisions["review"] + figures.decisions["block"]
    figures.scores = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(categories))
    figures.event_ages_s = {
        kind: np.maximum(produced_at - np.asarray(stamps, dtype=np.float64), 0.0)
        for kind, stamps in created.items()
    }
    return figures


def _epoch_seconds(moment: datetime) -> float:
    """A naive created_at is taken as UTC (producers are asked for ISO 8601 with a time zone)."""
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()


class WorkerMetrics:
    """Every metric the worker exports, registered on its own registry."""

    def __init__(
        self,
        *,
        input_topics: Sequence[str],
        output_topics: Sequence[str],
        categories: Sequence[str],
        sentiment_labels: Sequence[str],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.categories = tuple(categories)
        r, ns = self.registry, NAMESPACE
        self.messages_in = PromCounter(
            "messages_in", "Records taken from an input topic.", ["topic"], namespace=ns, registry=r
        )
        self.messages_out = PromCounter(
            "messages_out", "Records produced, by output topic.", ["topic"], namespace=ns, registry=r
        )
        self.dead_lettered = PromCounter(
            "messages_dead_lettered",
            "Input records sent to the dead-letter topic, by source topic and reason code.",
            ["topic", "reason"],
            namespace=ns,
            registry=r,
        )
        self.decisions = PromCounter(
            "decisions", "Policy decisions, by action.", ["action"], namespace=ns, registry=r
        )
        self.labels = PromCounter(
            "labels",
            "Results flagged with a moderation category (at or above its review threshold).",
            ["category"],
            namespace=ns,
            registry=r,
        )
        self.sentiment = PromCounter(
            "sentiment", "Results by sentiment label.", ["label"], namespace=ns, registry=r
        )
        self.escalations = PromCounter(
            "escalations",
            "Item categories whose encoder score fell in the policy's uncertain band, by engine escalated "
            "to and outcome (decided, skipped_budget, skipped_queue, failed).",
            ["engine", "category", "outcome"],
            namespace=ns,
            registry=r,
        )
        self.policy_reloads = PromCounter(
            "policy_reloads",
            "Changes of the policy file seen, by outcome (reloaded, or rejected: the old policy stays).",
            ["outcome"],
            namespace=ns,
            registry=r,
        )
        self.policy_info = Info("policy", "The policy file version in force.", namespace=ns, registry=r)
        self.queue_depth = Gauge(
            "queue_depth",
            "Records taken from Kafka whose outputs are not produced yet (decode, inference, produce).",
            namespace=ns,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "consumer_lag",
            "Messages behind the fetch high-water mark, per assigned input partition.",
            ["topic", "partition"],
            namespace=ns,
            registry=r,
        )
        self.event_loop_lag = Gauge(
            "event_loop_lag_seconds", "Delay of the last event-loop heartbeat.", namespace=ns, registry=r
        )
        self.ready = Gauge("ready", "1 when /readyz reports ready.", namespace=ns, registry=r)
        self.model_info = Info("model", "The model that labels events.", namespace=ns, registry=r)
        self.event_age = BatchHistogram(
            f"{ns}_event_age_seconds",
            "Result produced time minus the event's created_at (negative ages count as 0).",
            EVENT_AGE_BUCKETS_S,
            ["kind"],
            registry=r,
        )
        self.step_seconds = BatchHistogram(
            f"{ns}_step_duration_seconds",
            "Time to process one batch taken from Kafka, until its outputs are acknowledged.",
            BATCH_SECONDS_BUCKETS,
            ["topic"],
            registry=r,
        )
        self.batch_size = BatchHistogram(
            f"{ns}_inference_batch_size", "Texts per model call.", BATCH_SIZE_BUCKETS, registry=r
        )
        self.batch_tokens = BatchHistogram(
            f"{ns}_inference_batch_tokens",
            "Padded tokens per model call (texts x longest).",
            BATCH_TOKENS_BUCKETS,
            registry=r,
        )
        self.batch_seconds = BatchHistogram(
            f"{ns}_inference_batch_duration_seconds",
            "Model call latency per batch.",
            BATCH_SECONDS_BUCKETS,
            registry=r,
        )
        self.score = BatchHistogram(
            f"{ns}_moderation_score",
            "Document moderation scores per category (for drift).",
            SCORE_BUCKETS,
            ["category"],
            registry=r,
        )
        self.batch_failures = PromCounter(
            "inference_batch_failures", "Model calls that raised.", namespace=ns, registry=r
        )
        ProcessCollector(namespace=ns, registry=r)
        self._initialise_series(input_topics, output_topics, sentiment_labels)

    def _initialise_series(
        self, input_topics: Sequence[str], output_topics: Sequence[str], sentiment_labels: Sequence[str]
    ) -> None:
        """Create every fixed series at 0, so dashboards and rate() see them before the first event."""
        for topic in input_topics:
            self.messages_in.labels(topic)
            self.step_seconds.labels(topic)
            for reason in Reason:
                self.dead_lettered.labels(topic, reason.value)
        for topic in output_topics:
            self.messages_out.labels(topic)
        for action in DECISIONS:
            self.decisions.labels(action)
        for category in self.categories:
            self.labels.labels(category)
            self.score.labels(category)
        for label in sentiment_labels:
            self.sentiment.labels(label)
        for category in self.categories:  # any category may be escalated by a policy
            for outcome in ESCALATION_OUTCOMES:
                self.escalations.labels(ESCALATION_ENGINES[0], category, outcome)
        for outcome in POLICY_RELOAD_OUTCOMES:
            self.policy_reloads.labels(outcome)
        for kind in KINDS:
            self.event_age.labels(kind)

    def set_model(self, name: str, version: str) -> None:
        self.model_info.info({"name": name, "version": version})

    def set_policy(self, version: str | None, categories: Sequence[str], escalated: Sequence[str]) -> None:
        """The policy in force (at start and after each reload): its version and the categories scored."""
        self.policy_info.info({"version": version or "model-defaults"})
        self.categories = tuple(dict.fromkeys([*self.categories, *categories]))
        for category in (*categories, *escalated):
            self.labels.labels(category)
            self.score.labels(category)
            for outcome in ESCALATION_OUTCOMES:
                self.escalations.labels(ESCALATION_ENGINES[0], category, outcome)

    def record_step(self, figures: StepFigures, outputs: Mapping[str, int]) -> None:
        """One call per agent step; ``outputs`` is records produced per output topic."""
        self.messages_in.labels(figures.topic).inc(figures.consumed)
        for topic, count in outputs.items():
            if count:
                self.messages_out.labels(topic).inc(count)
        for reason, count in figures.dead_letters.items():
            self.dead_lettered.labels(figures.topic, reason).inc(count)
        for action, count in figures.decisions.items():
            self.decisions.labels(action).inc(count)
        for category, count in figures.flagged.items():
            self.labels.labels(category).inc(count)
        for label, count in figures.sentiments.items():
            self.sentiment.labels(label).inc(count)
        for (category, outcome), count in figures.escalations.items():
            self.escalations.labels(ESCALATION_ENGINES[0], category, outcome).inc(count)
        for kind, ages in figures.event_ages_s.items():
            self.event_age.labels(kind).observe_many(ages)
        if figures.scores is not None and figures.scores.size:
            for column, category in enumerate(self.categories):
                self.score.labels(category).observe_many(figures.scores[:, column])
        self.step_seconds.labels(figures.topic).observe(figures.seconds)

    def set_lag(self, lag: Mapping[tuple[str, int], int], revoked: Iterable[tuple[str, int]] = ()) -> None:
        for topic, partition in revoked:
            with contextlib.suppress(KeyError):  # never set: nothing to remove
                self.consumer_lag.remove(topic, str(partition))
        for (topic, partition), value in lag.items():
            self.consumer_lag.labels(topic, str(partition)).set(value)


class InstrumentedClassifier(ClassifierWrapper):
    """A TextClassifier that times every model call into the inference histograms (batch-level only)."""

    def __init__(self, inner: TextClassifier, metrics: WorkerMetrics) -> None:
        super().__init__(inner)
        self._metrics = metrics

    def infer(self, batch: Encoded) -> Predictions:
        start = time.perf_counter()
        try:
            predictions = self._inner.infer(batch)
        except Exception:
            self._metrics.batch_failures.inc()
            raise
        self._metrics.batch_seconds.observe_many([time.perf_counter() - start])
        self._metrics.batch_size.observe_many([batch.size])
        self._metrics.batch_tokens.observe_many([batch.input_ids.size])
        return predictions
