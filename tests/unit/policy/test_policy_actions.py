"""Action caps: what a category may cause at most."""

from __future__ import annotations

from models.base import CategoryThresholds
from pipelines.policy import PolicyEngine

THRESHOLDS = {"spam": CategoryThresholds(review=0.5, block=0.8), "threat": CategoryThresholds(0.3, 0.7)}


def test_a_category_capped_at_review_never_blocks() -> None:
    outcome = PolicyEngine(THRESHOLDS, {"spam": "review"}).decide({"spam": 0.99, "threat": 0.0})
    assert outcome.decision == "review"


def test_a_category_capped_at_allow_is_scored_but_never_flagged() -> None:
    engine = PolicyEngine(THRESHOLDS, {"spam": "allow"})
    assert engine.decide({"spam": 0.99, "threat": 0.0}).decision == "allow"
    assert not engine.is_flagged("spam", 0.99)


def test_an_uncapped_category_still_blocks() -> None:
    outcome = PolicyEngine(THRESHOLDS, {"spam": "review"}).decide({"spam": 0.0, "threat": 0.9})
    assert outcome.decision == "block"
