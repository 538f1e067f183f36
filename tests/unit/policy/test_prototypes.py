"""Example-defined categories: prototypes on the encoder's pooled vector, fitted at load time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.onnx_classifier import OnnxClassifier, load_default_classifier
from models.prototypes import PrototypeScorer, fit_logistic_1d, fit_prototype
from pipelines.policy_file import load_policy_file
from workers.runtime import example_embedder

EXAMPLE_POLICY = Path(__file__).resolve().parents[3] / "examples" / "policy.yaml"
# Held out: written for this test, not in examples/policy.yaml.
HELD_OUT_SCAM = [
    "URGENT: your streaming subscription failed, update your payment details here to avoid suspension",
    "Invest $250 today and our AI trading bot guarantees 300% returns in a week",
    "You have been selected for a free phone, just pay shipping at this link",
    "This is the tax office, you owe a fee, pay with gift cards today or face arrest",
    "Send me the code we texted you and I will unlock double rewards on your account",
    "Limited offer: recover your lost crypto, send a small deposit to our recovery wallet",
]
HELD_OUT_NOT_SCAM = [
    "My grandma almost fell for a phone scam, so we set up call blocking",
    "The new phone is overpriced but the camera is great",
    "Paid my taxes early this year for once",
    "Got my refund from the store after returning the jacket",
    "Lovely dinner with the family tonight",
    "The bus was late again this morning",
]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_a_text_near_the_positive_examples_scores_above_one_near_the_negatives() -> None:
    rng = np.random.default_rng(1)
    pos_center, neg_center = _unit(rng.normal(size=16)), _unit(rng.normal(size=16))
    positives = _unit(pos_center + 0.3 * rng.normal(size=(6, 16)))
    negatives = _unit(neg_center + 0.3 * rng.normal(size=(6, 16)))
    scorer = PrototypeScorer([fit_prototype("c", positives, negatives)])
    near_pos, near_neg = scorer.score(np.stack([pos_center, neg_center]))[:, 0]
    assert near_pos > 0.5 > near_neg


def test_the_margin_to_probability_map_never_decreases() -> None:
    slope, _ = fit_logistic_1d(np.array([-0.3, -0.1, 0.1, 0.2]), np.array([0.0, 0.0, 1.0, 1.0]))
    assert slope >= 0


def test_fewer_than_two_examples_per_side_is_refused() -> None:
    with pytest.raises(ValueError, match="at least two"):
        fit_prototype("c", np.ones((1, 4)), np.ones((3, 4)))


def test_no_categories_score_to_an_empty_column_set() -> None:
    assert PrototypeScorer([]).score(np.ones((3, 4))).shape == (3, 0)


@pytest.fixture(scope="module")
def classifier() -> OnnxClassifier:
    return load_default_classifier()


def test_scam_defined_by_the_example_policy_separates_held_out_scams(classifier: OnnxClassifier) -> None:
    embed = example_embedder(classifier)
    assert embed is not None
    examples = load_policy_file(EXAMPLE_POLICY).categories["scam"].examples
    assert examples is not None
    scam = fit_prototype("scam", embed(examples.positive), embed(examples.negative))
    scorer = PrototypeScorer([scam])
    scam_scores = scorer.score(embed(HELD_OUT_SCAM))[:, 0]
    other_scores = scorer.score(embed(HELD_OUT_NOT_SCAM))[:, 0]
    pairs_in_order = (scam_scores[:, None] > other_scores[None, :]).mean()  # the held-out AUC
    assert pairs_in_order >= 0.8, (scam_scores.round(3), other_scores.round(3))
    assert np.median(scam_scores) > 0.5 > np.median(other_scores)
