"""BatchHistogram: whole arrays in, the same exposition as prometheus_client's own Histogram out."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from workers.metrics import BatchHistogram

BUCKETS = (0.1, 0.5, 1.0, 5.0)


def samples(registry: CollectorRegistry, name: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith(name) and not s.name.endswith("_created")
    }


@given(st.lists(st.floats(min_value=0, max_value=20, allow_nan=False), max_size=50))
def test_exposition_equals_prometheus_histogram_fed_one_value_at_a_time(values: list[float]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    batch = BatchHistogram("x_seconds", "doc", BUCKETS, registry=ours)
    single = Histogram("x_seconds", "doc", buckets=BUCKETS, registry=theirs)
    batch.observe_many(np.array(values))
    for value in values:
        single.observe(value)
    mine, reference = samples(ours, "x_seconds"), samples(theirs, "x_seconds")
    assert mine.keys() == reference.keys()
    for key, value in reference.items():
        assert mine[key] == pytest.approx(value)


def test_a_value_equal_to_a_bound_counts_in_that_bucket() -> None:
    registry = CollectorRegistry()
    BatchHistogram("x", "doc", BUCKETS, registry=registry).observe_many([0.5])
    assert samples(registry, "x")[("x_bucket", (("le", "0.5"),))] == 1
    assert samples(registry, "x")[("x_bucket", (("le", "0.1"),))] == 0


def test_nan_values_are_ignored() -> None:
    registry = CollectorRegistry()
    BatchHistogram("x", "doc", BUCKETS, registry=registry).observe_many([float("nan"), 2.0])
    assert samples(registry, "x")[("x_count", ())] == 1
    assert samples(registry, "x")[("x_sum", ())] == 2.0


def test_labelled_series_are_kept_apart() -> None:
    registry = CollectorRegistry()
    histogram = BatchHistogram("x", "doc", BUCKETS, ["kind"], registry=registry)
    histogram.labels("post").observe_many([0.2, 0.3])
    histogram.labels("transcript").observe(7.0)
    found = samples(registry, "x")
    assert found[("x_count", (("kind", "post"),))] == 2
    assert found[("x_count", (("kind", "transcript"),))] == 1


def test_a_labelled_series_exists_at_zero_once_named() -> None:
    registry = CollectorRegistry()
    BatchHistogram("x", "doc", BUCKETS, ["kind"], registry=registry).labels("post")
    assert samples(registry, "x")[("x_count", (("kind", "post"),))] == 0


def test_wrong_number_of_label_values_is_refused() -> None:
    histogram = BatchHistogram("x", "doc", BUCKETS, ["kind"])
    with pytest.raises(ValueError, match="takes labels"):
        histogram.labels("post", "extra")


@pytest.mark.parametrize("buckets", [(), (1.0, 1.0), (1.0, float("inf"))])
def test_buckets_must_be_distinct_finite_numbers(buckets: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="buckets"):
        BatchHistogram("x", "doc", buckets)
