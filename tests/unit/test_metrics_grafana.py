"""The Grafana dashboard shipped in the chart queries only metrics the worker really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.fakes import MODERATION_LABELS, SENTIMENT_LABELS
from workers.metrics import WorkerMetrics
from workers.settings import REPO_ROOT

DASHBOARD = REPO_ROOT / "helm" / "modstream" / "dashboards" / "modstream.json"
METRIC_NAME = re.compile(r"\bmodstream_[a-z_]+\b")


def exported_sample_names() -> set[str]:
    metrics = WorkerMetrics(
        input_topics=("in",),
        output_topics=("out",),
        categories=MODERATION_LABELS,
        sentiment_labels=SENTIMENT_LABELS,
    )
    text = generate_latest(metrics.registry).decode()
    families = list(text_string_to_metric_families(text))
    # A labelled gauge has no sample before its first value (consumer lag before partitions are assigned).
    return {family.name for family in families} | {
        sample.name for family in families for sample in family.samples
    }


def dashboard() -> dict:
    return json.loads(Path(DASHBOARD).read_text())


def expressions() -> list[str]:
    return [target["expr"] for panel in dashboard()["panels"] for target in panel.get("targets", [])]


def test_every_metric_the_dashboard_queries_is_exported() -> None:
    exported = exported_sample_names()
    queried = {name for expr in expressions() for name in METRIC_NAME.findall(expr)}
    assert queried, "the dashboard queries no modstream metric"
    assert queried - exported == set()


def test_template_variables_query_an_exported_metric() -> None:
    exported = exported_sample_names()
    for variable in dashboard()["templating"]["list"]:
        for name in METRIC_NAME.findall(variable.get("definition", "")):
            assert name in exported


@pytest.mark.parametrize(
    "needed",
    [
        "modstream_messages_in_total",  # throughput
        "modstream_event_age_seconds_bucket",  # event age p50/p99
        "modstream_consumer_lag",  # lag
        "modstream_inference_batch_size",  # batch size
        "modstream_decisions_total",  # decisions
        "modstream_labels_total",  # label rates
        "modstream_messages_dead_lettered_total",  # errors
    ],
)
def test_the_dashboard_shows_each_figure_operators_need(needed: str) -> None:
    assert any(needed in expr for expr in expressions())


def test_panel_ids_are_unique() -> None:
    ids = [panel["id"] for panel in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
