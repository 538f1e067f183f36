"""The policy in force: threshold precedence, custom categories, escalation rules."""

from __future__ import annotations

import numpy as np
import pytest

from models.base import CategoryThresholds
from pipelines.active_policy import build_active_policy
from pipelines.policy_file import parse_policy
from schemas.errors import ConfigError

BUILTIN = ("toxicity", "threat")
MODEL = {"toxicity": CategoryThresholds(0.5, 0.8), "threat": CategoryThresholds(0.3, 0.7)}
POLICY = parse_policy(
    """
categories:
  threat:
    thresholds: {review: 0.2, block: 0.6}
    escalate: [0.1, 0.5]
    description: threatens harm
    examples: {positive: [i will hurt you, watch your back], negative: [nice day, killing it at work]}
  scam:
    thresholds: {review: 0.5, block: 0.9}
    action: review
    examples: {positive: [send money now, claim your prize], negative: [hello there, see you soon]}
"""
)


def fake_embed(texts: list[str]) -> np.ndarray:
    """Deterministic unit vectors: one dimension per first letter (enough to fit a prototype)."""
    vectors = np.zeros((len(texts), 26))
    for row, text in enumerate(texts):
        vectors[row, (ord(text[0].lower()) - 97) % 26] = 1.0
        vectors[row, len(text) % 26] += 0.5
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def build(**overrides: object):  # type: ignore[no-untyped-def]
    options = {"builtin": BUILTIN, "model_thresholds": MODEL, "embed": fake_embed} | overrides
    return build_active_policy(POLICY, **options)  # type: ignore[arg-type]


def test_the_policy_file_overrides_the_model_thresholds() -> None:
    assert build().engine.thresholds["threat"] == CategoryThresholds(0.2, 0.6)


def test_a_category_the_file_does_not_set_keeps_the_model_thresholds() -> None:
    assert build().engine.thresholds["toxicity"] == MODEL["toxicity"]


def test_environment_overrides_win_over_the_file() -> None:
    policy = build(review_overrides={"threat": 0.25})
    assert policy.engine.thresholds["threat"].review == 0.25


def test_custom_categories_are_scored_after_the_model_categories() -> None:
    assert build().labels == ("toxicity", "threat", "scam")


def test_each_category_names_its_engine() -> None:
    policy = build()
    assert (policy.engine_of("threat"), policy.engine_of("scam")) == ("encoder", "examples")


def test_escalation_rules_come_from_the_bands() -> None:
    rule = build().escalations["threat"]
    assert (rule.covers(0.3), rule.covers(0.55)) == (True, False)


def test_the_llm_is_off_unless_the_file_enables_it() -> None:
    assert not build().escalates


def test_custom_categories_need_a_model_with_an_embedding() -> None:
    with pytest.raises(ConfigError, match="gives no embedding"):
        build(embed=None)


def test_no_policy_file_is_the_model_thresholds_alone() -> None:
    policy = build_active_policy(None, builtin=BUILTIN, model_thresholds=MODEL)
    assert (policy.labels, dict(policy.engine.thresholds)) == (BUILTIN, MODEL)
