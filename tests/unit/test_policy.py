"""Scores -> allow / review / block, with the reasons that decided it."""

from __future__ import annotations

import math

import pytest

from models.base import CategoryThresholds
from pipelines.policy import PolicyEngine
from schemas.errors import ConfigError, ModstreamError

BASE = {
    "threat": CategoryThresholds(review=0.5, block=0.8),
    "insult": CategoryThresholds(review=0.6, block=0.9),
    "spam": CategoryThresholds(review=0.7, block=0.95),
}


@pytest.fixture
def policy() -> PolicyEngine:
    return PolicyEngine(BASE)


def test_scores_below_every_review_threshold_allow(policy: PolicyEngine) -> None:
    outcome = policy.decide({"threat": 0.49, "insult": 0.1, "spam": 0.0})

    assert outcome.decision == "allow"
    assert outcome.reasons == ()
    assert outcome.flagged == ()


def test_a_score_at_the_review_threshold_sends_to_review(policy: PolicyEngine) -> None:
    outcome = policy.decide({"threat": 0.5})

    assert outcome.decision == "review"
    assert [(r.category, r.action, r.threshold) for r in outcome.reasons] == [("threat", "review", 0.5)]


def test_a_score_at_the_block_threshold_blocks(policy: PolicyEngine) -> None:
    outcome = policy.decide({"threat": 0.8})

    assert outcome.decision == "block"
    assert outcome.reasons[0].threshold == 0.8


def test_block_beats_review(policy: PolicyEngine) -> None:
    outcome = policy.decide({"insult": 0.89, "threat": 0.81})

    assert outcome.decision == "block"
    assert {r.category: r.action for r in outcome.reasons} == {"threat": "block", "insult": "review"}


def test_reasons_list_blocks_first_then_higher_scores_then_category_name(policy: PolicyEngine) -> None:
    outcome = policy.decide({"spam": 0.75, "insult": 0.75, "threat": 0.85})

    assert [(r.category, r.action) for r in outcome.reasons] == [
        ("threat", "block"),
        ("insult", "review"),
        ("spam", "review"),
    ]


def test_reasons_do_not_depend_on_the_order_of_the_scores(policy: PolicyEngine) -> None:
    scores = {"spam": 0.96, "insult": 0.7, "threat": 0.9}

    forward = policy.decide(scores)
    backward = policy.decide(dict(reversed(scores.items())))

    assert forward == backward


def test_flagged_lists_the_categories_of_the_reasons_in_the_same_order(policy: PolicyEngine) -> None:
    outcome = policy.decide({"spam": 0.8, "threat": 0.99, "insult": 0.0})

    assert outcome.flagged == ("threat", "spam")


def test_scores_of_categories_without_thresholds_are_ignored(policy: PolicyEngine) -> None:
    assert policy.decide({"sexual": 1.0}).decision == "allow"


def test_is_flagged_means_at_or_above_the_review_threshold(policy: PolicyEngine) -> None:
    assert policy.is_flagged("threat", 0.5)
    assert not policy.is_flagged("threat", 0.4999)
    assert not policy.is_flagged("unknown", 1.0)


def test_overrides_replace_only_the_thresholds_they_name() -> None:
    policy = PolicyEngine.with_overrides(BASE, review={"threat": 0.3}, block={"spam": 0.99})

    assert policy.thresholds["threat"] == CategoryThresholds(review=0.3, block=0.8)
    assert policy.thresholds["spam"] == CategoryThresholds(review=0.7, block=0.99)
    assert policy.thresholds["insult"] == BASE["insult"]


@pytest.mark.parametrize(
    "review,block", [({"sexual": 0.5}, {}), ({}, {"Threat": 0.9})], ids=["review", "block-wrong-case"]
)
def test_overrides_of_unknown_categories_raise_config_error(
    review: dict[str, float], block: dict[str, float]
) -> None:
    with pytest.raises(ConfigError, match="unknown categories"):
        PolicyEngine.with_overrides(BASE, review=review, block=block)


def test_an_override_that_puts_review_above_block_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="threat"):
        PolicyEngine.with_overrides(BASE, review={"threat": 0.9}, block={})


@pytest.mark.parametrize(
    "review,block",
    [(-0.1, 0.5), (0.5, 1.1), (0.9, 0.8), (math.nan, 0.8), (0.5, math.nan)],
    ids=["negative", "above-one", "review-above-block", "nan-review", "nan-block"],
)
def test_invalid_thresholds_raise_config_error(review: float, block: float) -> None:
    with pytest.raises(ConfigError, match="0 <= review <= block <= 1"):
        PolicyEngine({"threat": CategoryThresholds(review=review, block=block)})


def test_config_error_is_a_modstream_error() -> None:
    assert issubclass(ConfigError, ModstreamError)


def test_equal_review_and_block_thresholds_block_directly() -> None:
    policy = PolicyEngine({"threat": CategoryThresholds(review=0.7, block=0.7)})

    assert policy.decide({"threat": 0.7}).decision == "block"
