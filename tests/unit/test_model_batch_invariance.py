"""The shipped model's scores do not depend on the rest of the batch (redelivery determinism).

Results carry scores rounded to 4 decimals; a redelivered event lands in a different batch (other texts,
other padding), so a text's probabilities alone and inside any batch must differ by far less than half a
rounding step (5e-5). The graph stores weights as int8; activations are either float32 or int8 with one scale
per token row (models.activation_quantization), which depends on that token only: in both, only float
rounding differs. Every test runs for both.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.onnx_classifier import DEFAULT_MODEL_DIR, OnnxClassifier

MAX_DIFFERENCE = 5e-5
TEXTS = [
    "ok",
    "you are an idiot",
    "Good morning everyone! Coffee in hand, ready for the week",
    "I will find you and hurt you, watch your back",
    "@user thanks for the follow, great to meet you",
    "This is the worst service I have ever had, absolutely disgusting and I want a refund right now",
    "lol",
    "Click here to win a free iPhone!!! limited offer, send your bank details",
    "not sure how I feel about the new update, some parts are nice but the battery drains fast",
    "people like you should not be allowed to vote",
    "Sunset from the pier tonight. Orange sky over the sea with a wooden pier in the foreground.",
    "I can't do this anymore, nobody would even notice if I was gone",
] * 3


@pytest.fixture(scope="module", params=["int8_per_token", "float32"])
def classifier(request: pytest.FixtureRequest) -> OnnxClassifier:
    return OnnxClassifier(DEFAULT_MODEL_DIR, providers=["CPUExecutionProvider"], activations=request.param)


def _alone(classifier: OnnxClassifier, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    scored = [classifier.classify([text]) for text in texts]
    return np.concatenate([s.sentiment for s in scored]), np.concatenate([s.moderation for s in scored])


def test_the_shipped_graph_is_weight_only_int8(classifier: OnnxClassifier) -> None:
    assert classifier.manifest.quantization == "int8_weight_only"


def test_scores_alone_and_in_a_length_sorted_batch_agree_to_half_a_rounding_step(
    classifier: OnnxClassifier,
) -> None:
    texts = sorted(TEXTS, key=len)
    sentiment, moderation = _alone(classifier, texts)

    together = classifier.classify(texts)

    assert np.abs(together.sentiment - sentiment).max() < MAX_DIFFERENCE
    assert np.abs(together.moderation - moderation).max() < MAX_DIFFERENCE


def test_scores_alone_and_in_a_mixed_padded_batch_agree_to_half_a_rounding_step(
    classifier: OnnxClassifier,
) -> None:
    order = np.random.default_rng(0).permutation(len(TEXTS))
    texts = [TEXTS[i] for i in order]
    sentiment, moderation = _alone(classifier, texts)

    for start in (0, 7):  # two different batch compositions
        batch = texts[start : start + 16]
        together = classifier.classify(batch)
        assert np.abs(together.sentiment - sentiment[start : start + 16]).max() < MAX_DIFFERENCE
        assert np.abs(together.moderation - moderation[start : start + 16]).max() < MAX_DIFFERENCE
