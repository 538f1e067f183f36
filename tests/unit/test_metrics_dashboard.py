"""The dashboard's rolling window: per-second rings, quantiles from buckets, the JSON snapshot, recent items."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from pipelines.policy import PolicyEngine
from pipelines.processor import ModerationPipeline, Outcome, PipelineConfig, RawRecord
from tests.unit.fakes import MODERATION_LABELS, FakeClassifier
from workers.dashboard import DashboardAggregator, DashboardSnapshot, flagged_items
from workers.dashboard.window import SecondRing, bin_rows, bucket_quantiles
from workers.metrics import StepFigures

T0 = 1_800_000_000.0
MODEL = {"name": "m", "version": "1"}


def step(
    at: float,
    consumed: int = 10,
    results: int = 10,
    decisions: dict[str, int] | None = None,
    flagged: dict[str, int] | None = None,
    ages: list[float] | None = None,
) -> StepFigures:
    return StepFigures(
        topic="in.posts",
        consumed=consumed,
        results=results,
        decisions=Counter(decisions or {"allow": results}),
        flagged=Counter(flagged or {}),
        event_ages_s={"post": np.array(ages if ages is not None else [0.5] * results)},
        produced_at=at,
    )


def snapshot(aggregator: DashboardAggregator, now: float, window_s: int | None = None) -> DashboardSnapshot:
    return aggregator.snapshot(model=MODEL, ready=True, draining=False, now=now, window_s=window_s)


# --- rings and quantiles ---------------------------------------------------------------------------------


def test_a_ring_forgets_seconds_older_than_its_size() -> None:
    ring = SecondRing(seconds=5, columns=1)
    ring.add(T0, [3.0])
    _, rows, valid = ring.last(T0 + 10, 5)
    assert rows.sum() == 0 and not valid.any()


def test_a_ring_sums_adds_within_a_second_and_put_overwrites() -> None:
    ring = SecondRing(seconds=5, columns=1)
    ring.add(T0 + 0.1, [1.0])
    ring.add(T0 + 0.9, [2.0])
    ring.put(T0 + 1.5, [7.0])
    ring.put(T0 + 1.6, [4.0])
    _, rows, _ = ring.last(T0 + 1, 2)
    assert rows[:, 0].tolist() == [3.0, 4.0]


def test_bin_rows_sums_groups_of_rows() -> None:
    assert bin_rows(np.arange(6.0)[:, None], 3)[:, 0].tolist() == [0 + 1 + 2, 3 + 4 + 5]


def test_bin_rows_drops_the_oldest_rows_that_do_not_fill_a_bin() -> None:
    assert bin_rows(np.arange(7.0)[:, None], 3)[:, 0].tolist() == [1 + 2 + 3, 4 + 5 + 6]


def test_quantiles_interpolate_inside_the_bucket() -> None:
    bounds = np.array([1.0, 2.0, 4.0])
    counts = np.array([0, 10, 0, 0])  # ten values in (1, 2]
    p50, p90 = bucket_quantiles(counts, bounds, (0.5, 0.9))
    assert p50 == pytest.approx(1.5) and p90 == pytest.approx(1.9)


def test_quantiles_of_no_values_are_nan() -> None:
    assert np.isnan(bucket_quantiles(np.zeros(4), np.array([1.0, 2.0, 4.0]), (0.5,))).all()


def test_values_above_the_last_bound_report_the_last_bound() -> None:
    assert bucket_quantiles(np.array([0, 0, 0, 5]), np.array([1.0, 2.0, 4.0]), (0.99,))[0] == 4.0


def test_quantiles_work_row_by_row() -> None:
    counts = np.array([[4, 0, 0, 0], [0, 0, 4, 0]])
    result = bucket_quantiles(counts, np.array([1.0, 2.0, 4.0]), (1.0,))
    assert result[:, 0].tolist() == [1.0, 4.0]


# --- aggregator --------------------------------------------------------------------------------------


def test_throughput_is_the_rate_over_the_last_whole_seconds() -> None:
    aggregator = DashboardAggregator(MODERATION_LABELS)
    for second in range(10):
        aggregator.record_step(step(T0 + second, consumed=20, results=20))
    throughput = snapshot(aggregator, now=T0 + 10).throughput
    assert throughput.consumed_per_s == 20.0 and throughput.results_per_s == 20.0


def test_figures_outside_the_window_no_longer_count() -> None:
    aggregator = DashboardAggregator(MODERATION_LABELS, window_s=60)
    aggregator.record_step(step(T0, decisions={"block": 10}))
    later = snapshot(aggregator, now=T0 + 120)
    assert later.decisions["block"] == 0 and later.event_age.samples == 0
    assert later.totals["consumed"] == 10  # totals are since start


def test_event_age_percentiles_come_from_the_window() -> None:
    aggregator = DashboardAggregator(MODERATION_LABELS)
    aggregator.record_step(step(T0, results=100, ages=[0.2] * 90 + [30.0] * 10))
    age = snapshot(aggregator, now=T0 + 1).event_age
    assert age.samples == 100
    assert age.p50_s == pytest.approx(0.2, rel=0.3)
    assert age.p99_s == pytest.approx(30.0, rel=0.3)


def test_label_share_is_flagged_results_over_all_results() -> None:
    aggregator = DashboardAggregator(MODERATION_LABELS)
    aggregator.record_step(step(T0, results=20, decisions={"allow": 15, "block": 5}, flagged={"threat": 5}))
    labels = {rate.category: rate for rate in snapshot(aggregator, now=T0 + 1).labels}
    assert labels["threat"].share == 0.25 and labels["threat"].count == 5
    assert labels["spam"].share == 0.0


def test_lag_shows_the_latest_sample_per_partition_and_its_total() -> None:
    aggregator = DashboardAggregator(MODERATION_LABELS)
    aggregator.record_lag({("in.posts", 0): 4, ("in.posts", 1): 6}, now=T0)
    aggregator.record_lag({("in.posts", 0): 1}, now=T0 + 5)
    lag = snapshot(aggregator, now=T0 + 6).lag
    assert lag.total == 1 and [p.partition for p in lag.partitions] == [0]


def test_no_lag_sample_yet_means_unknown_not_zero() -> None:
    assert snapshot(DashboardAggregator(MODERATION_LABELS), now=T0).lag.total is None


def test_series_have_one_point_per_bin() -> None:
    aggregator = DashboardAggregator(MODERATION_LABELS, window_s=600)
    series = snapshot(aggregator, now=T0, window_s=600).series
    assert len(series.t) == len(series.consumed_per_s) == len(series.lag) == 120


def test_the_snapshot_is_plain_json() -> None:
    aggregator = DashboardAggregator(MODERATION_LABELS)
    aggregator.record_step(step(T0))
    document = json.loads(json.dumps(snapshot(aggregator, now=T0 + 1).model_dump(mode="json")))
    assert document["totals"]["results"] == 10 and document["series"]["age_p50_s"][-1] is not None


def test_a_requested_window_is_capped_at_the_kept_history() -> None:
    aggregator = DashboardAggregator(MODERATION_LABELS, window_s=300)
    assert snapshot(aggregator, now=T0, window_s=3600).window_s == 300


# --- recent items and their text -----------------------------------------------------------------------


def post(event_id: str, text: str) -> bytes:
    event = {"schema_version": 1, "kind": "post", "id": event_id, "platform": "x", "author_id": "u1"}
    return json.dumps(event | {"text": text, "created_at": "2026-11-23T10:00:00Z"}).encode()


async def outcomes_for(*values: bytes) -> list[Outcome]:
    classifier = FakeClassifier()
    records = [RawRecord("in.posts", v, partition=1, offset=n) for n, v in enumerate(values)]
    async with ModerationPipeline(
        classifier, PolicyEngine(classifier.thresholds), PipelineConfig()
    ) as pipeline:
        return await pipeline.process(records)


async def test_only_review_and_block_items_are_listed() -> None:
    outcomes = await outcomes_for(post("bad", "i will kill you"), post("fine", "love it"))
    items = flagged_items(outcomes, seen_at=T0, show_text=False)
    assert [(i.event_id, i.decision) for i in items] == [("bad", "block")]
    assert items[0].top_scores[0][0] == "threat"


async def test_text_is_not_read_when_show_text_is_off() -> None:
    outcomes = await outcomes_for(post("bad", "i will kill you"))
    assert flagged_items(outcomes, seen_at=T0, show_text=False)[0].text is None


async def test_text_and_its_flagged_window_are_kept_when_show_text_is_on() -> None:
    outcomes = await outcomes_for(post("bad", "i will kill you"))
    item = flagged_items(outcomes, seen_at=T0, show_text=True)[0]
    assert item.text == "i will kill you"
    assert item.marks == ((0, len("i will kill you")),)


async def test_recent_items_are_newest_first_and_bounded() -> None:
    aggregator = DashboardAggregator(MODERATION_LABELS, recent_items=2)
    for n in range(3):
        outcomes = await outcomes_for(post(f"bad{n}", "i will kill you"))
        aggregator.record_step(step(T0 + n), flagged_items(outcomes, seen_at=T0 + n, show_text=False))
    assert [item.event_id for item in snapshot(aggregator, now=T0 + 3).recent] == ["bad2", "bad1"]
